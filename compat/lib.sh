#!/usr/bin/env bash
# compat/lib.sh — shared helpers for the compat scenarios (sourced, not run).
#
# The broker is the one $COMPAT_BROKER names: `strata` (the default) or `kafka` (reference Apache
# Kafka 4.1, a one-node KRaft broker started by compat/reference-kafka.sh). BROKER_KIND is exported
# as strata|kafka for scenarios that must tell them apart.
#
# start_broker [key=value ...]      starts that broker on a free loopback port with a fresh data
#                                   dir and sets BOOTSTRAP=127.0.0.1:<port>; key=value are Kafka
#                                   broker settings, given to either broker. strata is $STRATA_BIN,
#                                   else target/debug/strata, else target/release/strata, and is
#                                   ready at its "listening on" line; kafka when it serves. The
#                                   broker is stopped on exit or by stop_broker.
# check NAME CMD...                  runs one check, prints "ok"/"FAILED" and counts it.
# check_refused_by_kafka NAME CMD... a check of something reference Kafka 4 refuses on purpose
#                                   (e.g. a pre-4.0 protocol version): on kafka the command must
#                                   FAIL, which counts as passed; on strata it is a normal check.
# finish NAME                        prints "NAME: N passed, N failed" and sets the exit code.

set -euo pipefail

COMPAT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$COMPAT_DIR/.." && pwd)"
TARGET_DIR="${CARGO_TARGET_DIR:-$REPO_DIR/target}"
WORK_DIR="$(mktemp -d "${TMPDIR:-/tmp}/strata-compat.XXXXXX")"
COMPAT_BROKER="${COMPAT_BROKER:-strata}"
case "$COMPAT_BROKER" in
  strata|kafka) ;;
  *) echo "compat: COMPAT_BROKER must be strata or kafka, not '$COMPAT_BROKER'" >&2; exit 2 ;;
esac
BROKER_KIND="$COMPAT_BROKER"
export BROKER_KIND
BROKER_PID=""
BROKER_DIR=""
BROKER_STARTS=0
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
  if [[ -n "$BROKER_DIR" ]]; then
    bash "$COMPAT_DIR/reference-kafka.sh" stop "$BROKER_DIR" || true
    BROKER_DIR=""
    return 0
  fi
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
  local kafka_log="$BROKER_DIR/server.log"
  stop_broker
  if [[ "$FAILED" -gt 0 && -f "$WORK_DIR/broker.stderr" ]]; then
    echo "--- broker stderr (last 40 lines) ---" >&2
    tail -n 40 "$WORK_DIR/broker.stderr" >&2 || true
  fi
  if [[ "$FAILED" -gt 0 && "$kafka_log" != /server.log && -f "$kafka_log" ]]; then
    echo "--- kafka server.log (last 40 warnings and errors) ---" >&2
    grep -E '^\[[^]]*\] (WARN|ERROR)' "$kafka_log" | tail -n 40 >&2 || true
  fi
  rm -rf "$WORK_DIR"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

start_kafka() {
  local port attempt
  for attempt in 1 2 3; do
    BROKER_STARTS=$((BROKER_STARTS + 1))
    BROKER_DIR="$WORK_DIR/kafka.$BROKER_STARTS"
    port="$(free_port)"
    if bash "$COMPAT_DIR/reference-kafka.sh" start "$port" "$BROKER_DIR" "$@"; then
      BOOTSTRAP="127.0.0.1:$port"
      return 0
    fi
    # The free port may have been taken between the probe and Kafka's bind: try another.
    echo "compat: reference Kafka did not start (attempt $attempt)" >&2
    BROKER_DIR=""
  done
  return 1
}

start_broker() {
  if [[ "$COMPAT_BROKER" == kafka ]]; then
    start_kafka "$@"
    return
  fi
  local bin overrides=()
  bin="$(strata_bin)"
  for kv in "$@"; do overrides+=(--override "$kv"); done
  # A fresh data directory for every start, as the header promises (and as reference Kafka gets).
  STRATA_STARTS=$((${STRATA_STARTS:-0} + 1))
  local data="$WORK_DIR/data.$STRATA_STARTS"
  mkdir -p "$data"
  : > "$WORK_DIR/broker.stdout"
  NO_COLOR=1 "$bin" --listen 127.0.0.1:0 --data-dir "$data" ${overrides[@]+"${overrides[@]}"} \
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

check_refused_by_kafka() {
  if [[ "$COMPAT_BROKER" != kafka ]]; then
    check "$@"
    return
  fi
  local name="$1"; shift
  local log="$WORK_DIR/check.log"
  if "$@" > "$log" 2>&1; then
    FAILED=$((FAILED + 1))
    echo "  FAILED  $name (expected reference Kafka 4 to refuse it, but it succeeded)"
    sed 's/^/          /' "$log" | tail -n 30
  else
    PASSED=$((PASSED + 1))
    echo "  ok      $name (refused by Kafka 4 as expected)"
  fi
}

finish() {
  local scenario="$1"
  echo "$scenario: $PASSED passed, $FAILED failed"
  [[ "$FAILED" -eq 0 ]]
}
