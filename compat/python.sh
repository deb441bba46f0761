#!/usr/bin/env bash
# compat/python.sh — Python clients against Strata. Makes compat/.venv on first use and installs
# compat/python/requirements.txt into it (again only when the file changes), then runs every
# compat/python/*.py scenario against its own broker.
source "$(dirname "$0")/lib.sh"

VENV="$COMPAT_DIR/.venv"
REQUIREMENTS="$COMPAT_DIR/python/requirements.txt"
if [[ ! -x "$VENV/bin/python" ]]; then
  python3 -m venv "$VENV"
fi
if ! cmp -s "$REQUIREMENTS" "$VENV/.installed-requirements"; then
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQUIREMENTS"
  cp "$REQUIREMENTS" "$VENV/.installed-requirements"
fi

for scenario in "$COMPAT_DIR"/python/*.py; do
  name="$(basename "$scenario" .py)"
  start_broker num.partitions=1
  check "python $name" timeout 300 "$VENV/bin/python" "$scenario" "$BOOTSTRAP"
  stop_broker
done

finish python
