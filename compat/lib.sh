#!/usr/bin/env bash
# compat/lib.sh — shared helpers for the compat scenarios (sourced, not run).
#
# start_broker [key=value ...]      starts the strata binary ($STRATA_BIN, else target/debug/strata,
#                                   else target/release/strata) on a free loopback port with a
#                                   fresh data dir, waits for its "listening on" line and sets
#                                   BOOTSTRAP=127.0.0.1:<port>. The broker is stopped on exit.
# check NAME CMD...                  runs one check, prints "ok"/"FAILED" and counts it.
# finish                             prints "<scenario>: N passed, N failed" and sets the exit code.

set -euo pipefail

COMPAT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$COMPAT_DIR/.." && pwd)"
TARGET_DIR="${CARGO_TARGET_DIR:-$REPO_DIR/target}"
WORK_DIR="$(mktemp -d "${TMPDIR:-/tmp}/strata-compat.XXXXXX")"
BROKER_PID=""
BOOTSTRAP=""
PASSED=0
FAILED=0

strata_bin() {
  if [[ -n "${STRATA_BIN:-}" ]]; then echo "$STRATA_BIN"; return; fi
  for candidate in "$TARGET_DIR/debug/strata" "$TARGET_DIR/release/strata"; do
    if [[ -x "$candidate" ]]; then echo "$candidate"; return; fi
  done
  echo "compat: no strata binary in $TARGET_DIR/{debug,release}: run 'cargo build -p strata-broker' or set STRATA_BIN" >&2
  return 1
}

stop_broker() {
  if [[ -n "$BROKER_PID" ]] && kill -0 "$BROKER_PID" 2>/dev/null; then
    kill -TERM "$BROKER_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do
      kill -0 "$BROKER_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$BROKER_PID" 2>/dev/null || true
    wait "$BROKER_PID" 2>/dev/null || true
  fi
  BROKER_PID=""
}

cleanup() {
  stop_broker
  if [[ "$FAILED" -gt 0 && -f "$WORK_DIR/broker.stderr" ]]; then
    echo "--- broker stderr (last 40 lines) ---" >&2
    tail -n 40 "$WORK_DIR/broker.stderr" >&2 || true
  fi
  rm -rf "$WORK_DIR"
}
trap cleanup EXIT

start_broker() {
  local bin overrides=()
  bin="$(strata_bin)"
  for kv in "$@"; do overrides+=(--override "$kv"); done
  mkdir -p "$WORK_DIR/data"
  : > "$WORK_DIR/broker.stdout"
  NO_COLOR=1 "$bin" --listen 127.0.0.1:0 --data-dir "$WORK_DIR/data" ${overrides[@]+"${overrides[@]}"} \
    > "$WORK_DIR/broker.stdout" 2> "$WORK_DIR/broker.stderr" < /dev/null &
  BROKER_PID=$!
  for _ in $(seq 1 200); do
    if BOOTSTRAP="$(sed -n 's/^strata listening on //p' "$WORK_DIR/broker.stdout" | head -n 1)" && [[ -n "$BOOTSTRAP" ]]; then
      return 0
    fi
    if ! kill -0 "$BROKER_PID" 2>/dev/null; then
      echo "compat: broker exited during start-up" >&2
      tail -n 40 "$WORK_DIR/broker.stderr" >&2 || true
      return 1
    fi
    sleep 0.1
  done
  echo "compat: broker printed no 'strata listening on' line within 20 s" >&2
  return 1
}

check() {
  local name="$1"; shift
  local log="$WORK_DIR/check.log"
  if "$@" > "$log" 2>&1; then
    PASSED=$((PASSED + 1))
    echo "  ok      $name"
  else
    FAILED=$((FAILED + 1))
    echo "  FAILED  $name"
    sed 's/^/          /' "$log" | tail -n 30
  fi
}

finish() {
  local scenario="$1"
  echo "$scenario: $PASSED passed, $FAILED failed"
  [[ "$FAILED" -eq 0 ]]
}
