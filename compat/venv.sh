#!/usr/bin/env bash
# compat/venv.sh — sourced by the Python scenarios (python.sh, exactly-once.sh) after lib.sh: makes
# compat/.venv on first use and installs compat/python/requirements.txt into it (again only when
# the file changes); sets VENV.
VENV="$COMPAT_DIR/.venv"
REQUIREMENTS="$COMPAT_DIR/python/requirements.txt"
if [[ ! -x "$VENV/bin/python" ]]; then
  python3 -m venv "$VENV"
fi
if ! cmp -s "$REQUIREMENTS" "$VENV/.installed-requirements"; then
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQUIREMENTS"
  cp "$REQUIREMENTS" "$VENV/.installed-requirements"
fi
