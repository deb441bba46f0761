#!/usr/bin/env bash
# compat/python.sh — Python clients against the broker (Strata, or reference Kafka with
# COMPAT_BROKER=kafka). Makes compat/.venv on first use (venv.sh) and installs
# compat/python/requirements.txt into it (again only when the file changes), then runs each
# produce/consume and group scenario in compat/python/ against its own broker.
source "$(dirname "$0")/lib.sh"

source "$COMPAT_DIR/venv.sh"

echo "python clients: $("$VENV/bin/python" -c 'import importlib.metadata as m, confluent_kafka as c; print("confluent-kafka %s (librdkafka %s), kafka-python %s" % (m.version("confluent-kafka"), c.libversion()[0], m.version("kafka-python")))')"

for scenario in "$COMPAT_DIR"/python/*_produce_consume.py "$COMPAT_DIR"/python/groups_*.py; do
  name="$(basename "$scenario" .py)"
  start_broker num.partitions=1
  check "python $name" timeout 300 "$VENV/bin/python" "$scenario" "$BOOTSTRAP"
  stop_broker
done

# librdkafka's share consumer (a preview) only against Strata: see the scenario's header.
if [[ "$COMPAT_BROKER" == strata ]]; then
  start_broker num.partitions=1
  check "python share_confluent" timeout 300 "$VENV/bin/python" "$COMPAT_DIR/python/share_confluent.py" "$BOOTSTRAP"
  stop_broker
fi

finish python
