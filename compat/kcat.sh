#!/usr/bin/env bash
# compat/kcat.sh — Debian's kcat (librdkafka 2.0.x, which misreads default-valued tagged fields)
# against the broker (Strata, or reference Kafka with COMPAT_BROKER=kafka): metadata listing, 10,000 lines produced and consumed back byte for byte, plain
# and gzip/snappy/lz4/zstd-compressed, and keyed messages with headers.
source "$(dirname "$0")/lib.sh"

command -v kcat > /dev/null || { echo "kcat is not installed (apt-get install kcat)"; exit 1; }
start_broker num.partitions=1 auto.create.topics.enable=true
echo "kcat clients: $(kcat -V 2>&1 | sed -n 's/^Version \([^ ]*\) .*librdkafka \([^ ]*\) .*/kcat \1, librdkafka \2/p' | head -n 1 || true) against $BOOTSTRAP"

LINES="$WORK_DIR/lines.txt"
seq -f "line %06g: the quick brown fox jumps over the lazy dog" 1 10000 > "$LINES"

produce_lines() { # topic [extra kcat args]
  local topic="$1"; shift
  timeout 60 kcat -b "$BOOTSTRAP" -P -t "$topic" -p 0 -X request.required.acks=-1 -X message.timeout.ms=30000 "$@" < "$LINES"
}

consume_and_compare() { # topic
  local out="$WORK_DIR/$1.out"
  timeout 60 kcat -b "$BOOTSTRAP" -C -t "$1" -o beginning -e -q > "$out"
  cmp "$LINES" "$out"
}

metadata_lists() { # topic
  local listing
  listing="$(timeout 30 kcat -b "$BOOTSTRAP" -L -t "$1")"
  echo "$listing"
  grep -q "topic \"$1\" with 1 partitions" <<< "$listing"
  grep -q " 1 brokers:" <<< "$listing"
}

check "metadata listing of all topics answers" timeout 30 kcat -b "$BOOTSTRAP" -L
check "produce 10,000 lines" produce_lines kcat-lines
check "metadata listing shows the topic" metadata_lists kcat-lines
check "consume 10,000 lines back, byte for byte" consume_and_compare kcat-lines
for codec in gzip snappy lz4 zstd; do
  check "produce 10,000 lines with $codec" produce_lines "kcat-$codec" -z "$codec"
  check "consume the $codec lines back, byte for byte" consume_and_compare "kcat-$codec"
done

keyed() {
  local out="$WORK_DIR/keyed.out"
  for i in $(seq 1 50); do echo "key-$i:value-$i"; done \
    | timeout 60 kcat -b "$BOOTSTRAP" -P -t kcat-keyed -K: -H origin=kcat -H "n=$RANDOM"
  timeout 60 kcat -b "$BOOTSTRAP" -C -t kcat-keyed -o beginning -e -q -f '%k=%s %h\n' > "$out"
  [[ "$(wc -l < "$out")" -eq 50 ]]
  grep -qx 'key-1=value-1 origin=kcat,n=[0-9]*' "$out"
  grep -qx 'key-50=value-50 origin=kcat,n=[0-9]*' "$out"
}
check "keyed messages with headers round-trip" keyed

offsets() {
  # -o -3 with -e: exactly the last three lines.
  local out
  out="$(timeout 30 kcat -b "$BOOTSTRAP" -C -t kcat-lines -o -3 -e -q)"
  [[ "$out" == "$(tail -n 3 "$LINES")" ]]
}
check "consume from a relative offset (ListOffsets latest)" offsets

finish kcat
