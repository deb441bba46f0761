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

# franz-go + kadm: the admin tour, then 10,000 records under each codec.
start_broker
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

# sarama at old protocol levels, which reference Kafka 4 refuses (KIP-896): 0.10.2 speaks
# Produce v2 (message format v1), Fetch v3-, ListOffsets v1, Metadata v2, CreateTopics v1,
# JoinGroup v1, OffsetCommit v2, OffsetFetch v1.
start_broker num.partitions=2
for version in 0.10.2.0 2.1.0; do
  check_refused_by_kafka "go sarama $version ClusterAdmin" run 60 sarama -version "$version" -step admin -timeout 40s
  check_refused_by_kafka "go sarama $version produce + read back" run 90 sarama -version "$version" -step produce -idempotent=false -messages 2000 -timeout 60s
  check_refused_by_kafka "go sarama $version produce gzip + read back" run 90 sarama -version "$version" -step produce -idempotent=false -codec gzip -messages 2000 -timeout 60s
  check_refused_by_kafka "go sarama $version consumer group with offset commit" run 120 sarama -version "$version" -step group -idempotent=false -messages 2000 -timeout 90s
done
stop_broker

finish go
