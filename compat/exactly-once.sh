#!/usr/bin/env bash
# compat/exactly-once.sh — an exactly-once consume-transform-produce loop with confluent-kafka
# (transactions: init_transactions, begin/abort/commit_transaction, send_offsets_to_transaction)
# and read_committed consumers checking the outcome; see python/eos_confluent.py. Uses the same
# compat/.venv as python.sh (made on first use).
#
# Not in run.sh's SCENARIOS yet: it needs the transaction coordinator (branch txncoord) and the
# group coordinator's transactional offsets (branch txngroups) on main. Run it by name:
# `bash compat/exactly-once.sh` (Strata) or `COMPAT_BROKER=kafka bash compat/exactly-once.sh`
# (reference Kafka).
source "$(dirname "$0")/lib.sh"

source "$COMPAT_DIR/venv.sh"

start_broker num.partitions=1
echo "exactly-once clients: $("$VENV/bin/python" -c 'import importlib.metadata as m, confluent_kafka as c; print("confluent-kafka %s (librdkafka %s)" % (m.version("confluent-kafka"), c.libversion()[0]))') against $BOOTSTRAP"
check "confluent-kafka exactly-once loop with an aborted transaction" \
  timeout 300 "$VENV/bin/python" "$COMPAT_DIR/python/eos_confluent.py" "$BOOTSTRAP"
stop_broker

finish exactly-once
