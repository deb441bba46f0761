#!/usr/bin/env bash
# compat/kafka-tools.sh — Apache Kafka 4.1's own command-line tools (the classes behind
# bin/kafka-topics.sh, kafka-console-producer.sh, kafka-console-consumer.sh,
# kafka-consumer-groups.sh, kafka-configs.sh, kafka-get-offsets.sh, kafka-log-dirs.sh,
# kafka-producer-perf-test.sh and kafka-consumer-perf-test.sh), run from the jars compat/reference-kafka.sh caches, against the
# broker start_broker starts. Outputs are compared exactly where Kafka's output is deterministic.
source "$(dirname "$0")/lib.sh"

command -v java > /dev/null || { echo "java is not installed (Kafka's tools need Java 17+)"; exit 1; }
KAFKA_LIB="$(bash "$COMPAT_DIR/reference-kafka.sh" lib)"
start_broker num.partitions=1
TOOLS_VERSION="$(basename "$(ls "$KAFKA_LIB"/kafka-tools-[0-9]*.jar)" .jar)"
echo "kafka-tools clients: Apache Kafka ${TOOLS_VERSION#kafka-tools-} command-line tools against $BOOTSTRAP"

kt() { # CLASS ARGS... — one tool run, at most 2 minutes
  timeout 120 bash "$COMPAT_DIR/reference-kafka.sh" tool "$@"
}
topics() { kt org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOTSTRAP" "$@"; }
configs() { kt kafka.admin.ConfigCommand --bootstrap-server "$BOOTSTRAP" "$@"; }
groups() { kt org.apache.kafka.tools.consumer.group.ConsumerGroupCommand --bootstrap-server "$BOOTSTRAP" "$@"; }
get_offsets() { kt org.apache.kafka.tools.GetOffsetShell --bootstrap-server "$BOOTSTRAP" "$@"; }
console_producer() { kt org.apache.kafka.tools.ConsoleProducer --bootstrap-server "$BOOTSTRAP" "$@"; }
console_consumer() { kt org.apache.kafka.tools.consumer.ConsoleConsumer --bootstrap-server "$BOOTSTRAP" "$@"; }

expect() { # EXPECTED ACTUAL — equal, else a diff
  if [[ "$1" == "$2" ]]; then return 0; fi
  echo "expected:"; echo "$1"; echo "got:"; echo "$2"
  diff <(echo "$1") <(echo "$2") || true
  return 1
}

# --- kafka-topics ---------------------------------------------------------------------------------
topics_create() {
  expect "Created topic tools-a." "$(topics --create --topic tools-a --partitions 3 --config retention.ms=86400000 --config cleanup.policy=delete)"
  expect "Created topic tools-lines." "$(topics --create --topic tools-lines --partitions 3)"
  expect "Created topic tools-perf." "$(topics --create --topic tools-perf --partitions 3)"
}
check "kafka-topics --create with partitions and configs" topics_create

check "kafka-topics --list" eval 'expect "$(printf "tools-a\ntools-lines\ntools-perf")" "$(topics --list --exclude-internal)"'

describe_partitions() { # topic — "Partition: N Leader: L Replicas: R Isr: I" lines of --describe
  topics --describe --topic "$1" | awk -F'\t' 'NR > 1 { print $3, $4, $5, $6 }' | sort -t: -k2n
}

topics_describe() {
  local out head configs
  out="$(topics --describe --topic tools-a)"
  echo "$out"
  head="$(head -n 1 <<< "$out")"
  [[ "$head" == "Topic: tools-a"$'\t'"TopicId: "* ]]
  grep -q $'\tPartitionCount: 3\tReplicationFactor: 1\tConfigs: ' <<< "$head"
  configs="$(sed 's/.*Configs: //' <<< "$head" | tr , '\n')"
  grep -qx "cleanup.policy=delete" <<< "$configs"
  grep -qx "retention.ms=86400000" <<< "$configs"
  expect "$(for p in 0 1 2; do echo "Partition: $p Leader: 1 Replicas: 1 Isr: 1"; done)" "$(describe_partitions tools-a)"
}
check "kafka-topics --describe: partitions, leader, replicas, configs" topics_describe

topics_alter() {
  expect "" "$(topics --alter --topic tools-a --partitions 5)"
  grep -q $'\tPartitionCount: 5\t' <<< "$(topics --describe --topic tools-a | head -n 1)"
  expect "$(for p in 0 1 2 3 4; do echo "Partition: $p Leader: 1 Replicas: 1 Isr: 1"; done)" "$(describe_partitions tools-a)"
}
check "kafka-topics --alter --partitions 5" topics_alter

# --- kafka-configs --------------------------------------------------------------------------------
dynamic_configs() { # topic — "key=value" of --describe
  configs --entity-type topics --entity-name "$1" --describe | sed -n 's/^  \([^ ]*\) sensitive=.*/\1/p'
}
check "kafka-configs --describe shows the topic's configs" \
  eval 'expect "$(printf "cleanup.policy=delete\nretention.ms=86400000")" "$(dynamic_configs tools-a)"'

configs_alter() {
  expect "Completed updating config for topic tools-a." \
    "$(configs --entity-type topics --entity-name tools-a --alter --add-config max.message.bytes=2000000)"
  local out
  out="$(configs --entity-type topics --entity-name tools-a --describe)"
  expect "Dynamic configs for topic tools-a are:" "$(head -n 1 <<< "$out")"
  expect "$(printf "cleanup.policy=delete\nmax.message.bytes=2000000\nretention.ms=86400000")" \
    "$(sed -n 's/^  \([^ ]*\) sensitive=.*/\1/p' <<< "$out")"
  # The synonyms name the topic setting and the broker default it overrides (message.max.bytes).
  expect "  max.message.bytes=2000000 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:max.message.bytes=2000000, DEFAULT_CONFIG:message.max.bytes=1048588}" \
    "$(grep '^  max.message.bytes=' <<< "$out")"
}
check "kafka-configs --alter --add-config, then --describe shows it" configs_alter

topics_delete() {
  expect "" "$(topics --delete --topic tools-a)"
  local listing
  for _ in $(seq 1 20); do
    listing="$(topics --list --exclude-internal)"
    if [[ "$listing" == "$(printf "tools-lines\ntools-perf")" ]]; then return 0; fi
    sleep 0.5
  done
  expect "$(printf "tools-lines\ntools-perf")" "$listing"
}
check "kafka-topics --delete, then --list no longer shows it" topics_delete

# --- kafka-console-producer / kafka-console-consumer -------------------------------------------------
# 1,000 keyed lines over 3 partitions; the producer's default partitioner (murmur2 of the key) puts
# 325, 335 and 340 of them on partitions 0, 1 and 2, whichever broker it talks to.
LINES="$WORK_DIR/lines.txt"
MORE="$WORK_DIR/more.txt"
for i in $(seq 1 1000); do echo "key-$i:value-$i"; done > "$LINES"
for i in $(seq 1001 1100); do echo "key-$i:value-$i"; done > "$MORE"

produce_keyed() { # file
  console_producer --topic tools-lines --property parse.key=true --property key.separator=: \
    --producer-property acks=all < "$1"
}
check "kafka-console-producer: 1,000 keyed lines" produce_keyed "$LINES"

consume_group() { # count out — from the beginning (or the group's offsets) with --group tools-group
  console_consumer --topic tools-lines --group tools-group --from-beginning --max-messages "$1" \
    --property print.key=true --property key.separator=: --property print.partition=true > "$2"
}

in_partition_order() { # out — each partition's lines come in the order they were produced
  awk -F: '{ n = substr($3, 5) + 0; if (n <= last[$2]) { print "out of order: " $0; bad = 1 } last[$2] = n }
           END { exit bad }' "$1"
}

console_round_trip() {
  local out="$WORK_DIR/consumed.txt"
  consume_group 1000 "$out"
  expect 1000 "$(wc -l < "$out")"
  # Keys and values exactly as produced (each line once), per-partition counts, per-partition order.
  expect "$(sort "$LINES")" "$(sed 's/^Partition:[0-9]*://' "$out" | sort)"
  expect "$(printf "325 Partition:0\n335 Partition:1\n340 Partition:2")" "$(cut -d: -f1,2 "$out" | sort | uniq -c | sed 's/^ *//')"
  in_partition_order "$out"
}
check "kafka-console-consumer --from-beginning --group: the 1,000 lines back exactly" console_round_trip

console_max_messages() {
  local out
  out="$(console_consumer --topic tools-lines --partition 1 --offset 0 --max-messages 10 --property print.key=true --property key.separator=:)"
  expect 10 "$(wc -l <<< "$out")"
  expect "$(grep '^Partition:1:' "$WORK_DIR/consumed.txt" | head -n 10 | sed 's/^Partition:1://')" "$out"
}
check "kafka-console-consumer --partition 1 --offset 0 --max-messages 10" console_max_messages

# --- kafka-get-offsets ----------------------------------------------------------------------------
check "kafka-get-offsets --time -2 (earliest): 0 on each partition" \
  eval 'expect "$(printf "tools-lines:0:0\ntools-lines:1:0\ntools-lines:2:0")" "$(get_offsets --topic tools-lines --time -2)"'
check "kafka-get-offsets --time -1 (latest): 325, 335, 340" \
  eval 'expect "$(printf "tools-lines:0:325\ntools-lines:1:335\ntools-lines:2:340")" "$(get_offsets --topic tools-lines --time -1)"'

# --- kafka-log-dirs -------------------------------------------------------------------------------
log_dirs() { # the JSON line of kafka-log-dirs --describe for tools-lines, checked by Python
  local json
  json="$(kt org.apache.kafka.tools.LogDirsCommand --bootstrap-server "$BOOTSTRAP" --describe --topic-list tools-lines | grep '^{')"
  echo "$json"
  python3 - "$json" <<'PY'
import json, sys
report = json.loads(sys.argv[1])
[broker] = report["brokers"]
[log_dir] = broker["logDirs"]
assert log_dir["error"] is None and log_dir["logDir"].startswith("/"), log_dir
sizes = {p["partition"]: (p["size"], p["offsetLag"], p["isFuture"]) for p in log_dir["partitions"]}
assert sorted(sizes) == ["tools-lines-0", "tools-lines-1", "tools-lines-2"], sizes
assert all(size > 0 and lag == 0 and not future for size, lag, future in sizes.values()), sizes
PY
}
check "kafka-log-dirs --describe: the log directory, each partition's size, no lag" log_dirs

# --- kafka-consumer-groups ------------------------------------------------------------------------
group_rows() { # "TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG" of --describe, by partition
  groups --describe --group tools-group 2> /dev/null | awk '$1 == "tools-group" { print $2, $3, $4, $5, $6 }' | sort -k2n
}

check "kafka-consumer-groups --list" eval 'grep -qx tools-group <<< "$(groups --list)"'
check "kafka-consumer-groups --describe: committed offsets, no lag" \
  eval 'expect "$(printf "tools-lines 0 325 325 0\ntools-lines 1 335 335 0\ntools-lines 2 340 340 0")" "$(group_rows)"'

group_lag() {
  produce_keyed "$MORE"
  local latest expected=""
  latest="$(get_offsets --topic tools-lines --time -1)"
  echo "$latest"
  # 100 more lines: the lag of each partition is what was added to it, and adds up to 100.
  expect 1100 "$(cut -d: -f3 <<< "$latest" | paste -sd+ | bc)"
  local p committed end
  for p in 0 1 2; do
    committed="$(sed -n "$((p + 1))p" <<< "$(printf "325\n335\n340")")"
    end="$(grep "^tools-lines:$p:" <<< "$latest" | cut -d: -f3)"
    expected+="tools-lines $p $committed $end $((end - committed))"$'\n'
  done
  expect "${expected%$'\n'}" "$(group_rows)"
}
check "kafka-consumer-groups --describe: lag after 100 more lines" group_lag

group_reset() {
  local out
  out="$(groups --reset-offsets --group tools-group --topic tools-lines --to-earliest --execute)"
  echo "$out"
  expect "$(printf "tools-lines 0 0\ntools-lines 1 0\ntools-lines 2 0")" \
    "$(awk '$1 == "tools-group" { print $2, $3, $4 }' <<< "$out" | sort -k2n)"
  local latest
  latest="$(get_offsets --topic tools-lines --time -1 | awk -F: '{ print $1, $2, 0, $3, $3 }')"
  expect "$latest" "$(group_rows)"
}
check "kafka-consumer-groups --reset-offsets --to-earliest --execute" group_reset

consume_again() {
  local out="$WORK_DIR/consumed-again.txt"
  consume_group 1100 "$out"
  expect "$(sort "$LINES" "$MORE")" "$(sed 's/^Partition:[0-9]*://' "$out" | sort)"
  in_partition_order "$out"
  local latest
  latest="$(get_offsets --topic tools-lines --time -1 | awk -F: '{ print $1, $2, $3, $3, 0 }')"
  expect "$latest" "$(group_rows)"
}
check "after the reset the group consumes all 1,100 lines again, lag 0" consume_again

# --- kafka-producer-perf-test / kafka-consumer-perf-test ----------------------------------------------
producer_perf() {
  local out
  out="$(kt org.apache.kafka.tools.ProducerPerformance --topic tools-perf --num-records 50000 --record-size 100 \
    --throughput -1 --producer-props bootstrap.servers="$BOOTSTRAP" acks=all)"
  echo "$out"
  grep -q '^50000 records sent, ' <<< "$(tail -n 1 <<< "$out")"
  expect 50000 "$(get_offsets --topic tools-perf --time -1 | cut -d: -f3 | paste -sd+ | bc)"
}
check "kafka-producer-perf-test: 50,000 records of 100 bytes, all acknowledged" producer_perf

consumer_perf() {
  local out
  out="$(kt org.apache.kafka.tools.ConsumerPerformance --bootstrap-server "$BOOTSTRAP" --topic tools-perf \
    --messages 50000 --timeout 60000)"
  echo "$out"
  # data.consumed.in.MB, data.consumed.in.nMsg: 50,000 records of 100 bytes.
  expect "4.7684 50000" "$(tail -n 1 <<< "$out" | awk -F', ' '{ print $3, $5 }')"
}
check "kafka-consumer-perf-test: all 50,000 records consumed" consumer_perf

finish kafka-tools
