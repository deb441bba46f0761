#!/usr/bin/env bash
# compat/exactly-once.sh — exactly-once consume-transform-produce loops, each with an aborted
# transaction in the middle, checked by read_committed consumers and the group's committed
# offsets: confluent-kafka (init_transactions, begin/abort/commit_transaction,
# send_offsets_to_transaction with AddOffsetsToTxn; python/eos_confluent.py, in the compat/.venv
# python.sh makes) and Kafka's Java client 4.1 (transaction version 2: sendOffsetsToTransaction
# without AddOffsetsToTxn, TxnOffsetCommit v5 adds the group's partition; java EosCheck, built by
# java-build.sh).
#
# In run.sh's SCENARIOS; alone: `bash compat/exactly-once.sh` (Strata) or
# `COMPAT_BROKER=kafka bash compat/exactly-once.sh` (reference Kafka).
source "$(dirname "$0")/lib.sh"

source "$COMPAT_DIR/venv.sh"
JAVA_SCENARIO=exactly-once
source "$COMPAT_DIR/java-build.sh"

start_broker num.partitions=1 group.initial.rebalance.delay.ms=0
echo "exactly-once clients: $("$VENV/bin/python" -c 'import importlib.metadata as m, confluent_kafka as c; print("confluent-kafka %s (librdkafka %s)" % (m.version("confluent-kafka"), c.libversion()[0]))'), kafka-clients ${KAFKA_CLIENTS_VERSION:-?} against $BOOTSTRAP"
check "confluent-kafka exactly-once loop with an aborted transaction" \
  timeout 300 "$VENV/bin/python" "$COMPAT_DIR/python/eos_confluent.py" "$BOOTSTRAP"
check "java exactly-once loop (transaction version 2) with an aborted transaction" run_java EosCheck "$BOOTSTRAP"
stop_broker

finish exactly-once
