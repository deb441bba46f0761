#!/usr/bin/env bash
# compat/go.sh — Go clients against the broker: franz-go (+kadm), IBM/sarama and segmentio/kafka-go,
# at their current versions, plus sarama at old protocol levels (0.10.2 and 2.1) that Kafka 4
# turned away. The programs are one Go module, compat/go (go.mod/go.sum pin the versions;
# modules come from the Go module proxy into the default cache, ~/go/pkg/mod); `go build` puts
# them in compat/go/bin (gitignored). Each group of checks runs against its own broker.
#
#   bash compat/go.sh                        against Strata
#   COMPAT_BROKER=kafka bash compat/go.sh    against reference Apache Kafka
source "$(dirname "$0")/lib.sh"

GO_DIR="$COMPAT_DIR/go"
BIN="$GO_DIR/bin"
if ! command -v go > /dev/null; then
  # Debian's Go is older than go.mod's; GOTOOLCHAIN=auto (the default) fetches the right one
  # through the module proxy on first build.
  echo "== installing golang-go"
  sudo_cmd=()
  [[ "$(id -u)" -eq 0 ]] || sudo_cmd=(sudo)
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends golang-go \
    || { "${sudo_cmd[@]}" apt-get update -q && DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends golang-go; }
fi
(cd "$GO_DIR" && GOFLAGS=-mod=readonly go build -o "$BIN/" ./cmd/...)

run() { timeout "$1" "$BIN/$2" -bootstrap "$BOOTSTRAP" "${@:3}"; }
module_version() { sed -n "s|^[[:space:]]*$1 \(v[^ ]*\).*|\1|p" "$GO_DIR/go.mod" | head -n 1; }
clients="franz-go $(module_version github.com/twmb/franz-go) (kadm $(module_version github.com/twmb/franz-go/pkg/kadm)), IBM/sarama $(module_version github.com/IBM/sarama), segmentio/kafka-go $(module_version github.com/segmentio/kafka-go), $(go env GOVERSION)"

# franz-go + kadm: the admin tour, then 10,000 records under each codec.
start_broker
echo "go clients: $clients against $BOOTSTRAP"
check "go franz-go kadm admin" run 150 franz-admin -timeout 120s
check "go franz-go produce/consume 10,000 x 5 codecs (idempotent, acks=all)" run 330 franz-produce -timeout 300s
stop_broker

# franz-go consumer group: 3 members split 4 partitions, a new member resumes at the commits.
start_broker
check "go franz-go consumer group (split, commit, resume)" run 150 franz-group -timeout 120s
stop_broker

# sarama at a modern protocol level: ClusterAdmin, idempotent SyncProducer, ConsumerGroup.
start_broker num.partitions=3
check "go sarama 3.6 ClusterAdmin" run 90 sarama -version 3.6.0 -step admin -timeout 60s
check "go sarama 3.6 idempotent SyncProducer 5,000 + read back" run 150 sarama -version 3.6.0 -step produce -timeout 120s
check "go sarama 3.6 idempotent SyncProducer lz4 5,000 + read back" run 150 sarama -version 3.6.0 -step produce -codec lz4 -timeout 120s
check "go sarama 3.6 ConsumerGroup reads 5,000, commits, resumes" run 150 sarama -version 3.6.0 -step group -timeout 120s
stop_broker

# segmentio/kafka-go: Client/Conn create-topics, Writer with a codec, group Reader with commits.
start_broker
check "go kafka-go Writer snappy + group Reader" run 150 kafkago -codec snappy -timeout 120s
check "go kafka-go Writer zstd + group Reader" run 150 kafkago -codec zstd -timeout 120s
stop_broker

# sarama at old protocol levels. 0.10.2 is refused by reference Kafka 4 (KIP-896): it writes with
# Produce v2 (message format v1) and creates topics with CreateTopics v1, reads with Fetch v3 and
# ListOffsets v1 and runs its group with JoinGroup v1, OffsetCommit v2, OffsetFetch v2. Its read
# and group checks take records written at 3.6, so they do not depend on Produce v2. At 0.8.2 an
# OffsetManager commits with OffsetCommit v1 (refused by Kafka 4); at 0.10.2 with v2 (served).
# 0.11 (Produce v3, first record batches, idempotent) and 2.1 (the KIP-896 baseline) are still
# served by Kafka 4 and are ordinary checks.
start_broker num.partitions=2
v=0.10.2.0
check_refused_by_kafka "go sarama $v ClusterAdmin (CreateTopics v1)" run 60 sarama -version $v -step admin -timeout 40s
check_refused_by_kafka "go sarama $v produce (Produce v2) + read back" run 90 sarama -version $v -step produce -messages 2000 -timeout 60s
check_refused_by_kafka "go sarama $v produce gzip (Produce v2) + read back" run 90 sarama -version $v -step produce -codec gzip -messages 2000 -timeout 60s
check_refused_by_kafka "go sarama $v read back (Fetch v3, ListOffsets v1) of records written at 3.6" run 90 sarama -version $v -produce-version 3.6.0 -step produce -messages 2000 -timeout 60s
check_refused_by_kafka "go sarama $v consumer group with offset commit, records written at 3.6" run 120 sarama -version $v -produce-version 3.6.0 -step group -messages 2000 -timeout 90s
check "go sarama $v OffsetManager commit/fetch (OffsetCommit v2, OffsetFetch v2)" run 60 sarama -version $v -step commit -timeout 40s
check_refused_by_kafka "go sarama 0.8.2.0 OffsetManager commit/fetch (OffsetCommit v1, OffsetFetch v1)" run 60 sarama -version 0.8.2.0 -step commit -timeout 40s
v=0.11.0.0
check_refused_by_kafka "go sarama $v ClusterAdmin (DescribeConfigs v0)" run 60 sarama -version $v -step admin -timeout 40s
check "go sarama $v idempotent produce + read back" run 90 sarama -version $v -step produce -messages 2000 -timeout 60s
check "go sarama $v consumer group with offset commit" run 120 sarama -version $v -step group -messages 2000 -timeout 90s
v=2.1.0
check "go sarama $v ClusterAdmin" run 60 sarama -version $v -step admin -timeout 40s
check "go sarama $v idempotent produce + read back" run 90 sarama -version $v -step produce -messages 2000 -timeout 60s
check "go sarama $v idempotent produce gzip + read back" run 90 sarama -version $v -step produce -codec gzip -messages 2000 -timeout 60s
check "go sarama $v consumer group with offset commit" run 120 sarama -version $v -step group -messages 2000 -timeout 90s
stop_broker

finish go
