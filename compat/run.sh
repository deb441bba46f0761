#!/usr/bin/env bash
# compat/run.sh — runs every compat scenario against each broker in $COMPAT_BROKERS (default
# "strata kafka": the Strata broker and reference Apache Kafka 4.1, started per scenario by lib.sh's
# start_broker), writes compat/RESULTS.md (scenario x broker: passed, failed, time, clients) and
# ends with one summary line, "compat: N passed, N failed", the totals over all brokers. A failure
# on either broker fails the run.
#
# Scenarios: compat/kcat.sh (Debian's kcat), compat/python.sh (confluent-kafka and kafka-python in
# compat/.venv), compat/kafka-tools.sh (Kafka's own command-line tools). To add one (e.g. a Node
# client in compat/node/), write compat/<name>.sh that sources lib.sh, uses start_broker/check/
# finish, and add it to SCENARIOS below.
# Environment: COMPAT_BROKERS="strata" (or "kafka") runs against one broker only;
# COMPAT_SKIP="python" skips scenarios by name; COMPAT_RESULTS=<file> writes the table elsewhere
# (COMPAT_RESULTS=- writes none); COMPAT_FAILURES=<file> collects each failed check with the
# last lines of its output (tests/run-all.sh prints it after its summary, where CI's tail shows it). Needs target/debug/strata (or $STRATA_BIN); kafka needs Java 17
# and Maven (compat/reference-kafka.sh fetches the jars once into ~/.cache/strata).
set -euo pipefail
cd "$(dirname "$0")"

SCENARIOS=(kcat python kafka-tools go logship java exactly-once)
read -r -a BROKERS <<< "${COMPAT_BROKERS:-strata kafka}"
RESULTS="${COMPAT_RESULTS:-$PWD/RESULTS.md}"
for broker in "${BROKERS[@]}"; do
  case "$broker" in
    strata|kafka) ;;
    *) echo "compat: COMPAT_BROKERS may name strata and kafka, not '$broker'" >&2; exit 2 ;;
  esac
done

passed=0
failed=0
rows=()
run_start=$SECONDS
for scenario in "${SCENARIOS[@]}"; do
  if [[ " ${COMPAT_SKIP:-} " == *" $scenario "* ]]; then
    echo "== compat/$scenario.sh skipped (COMPAT_SKIP)"
    rows+=("| \`$scenario.sh\` | - | skipped | | | |")
    continue
  fi
  for broker in "${BROKERS[@]}"; do
    echo "== compat/$scenario.sh against $broker"
    log="$(mktemp)"
    start=$SECONDS
    if COMPAT_BROKER="$broker" bash "./$scenario.sh" 2>&1 | tee "$log"; then :; fi
    seconds=$((SECONDS - start))
    # Each scenario ends with "<name>: N passed, N failed"; a scenario that died early counts as one failure.
    summary="$(grep -E "^$scenario: [0-9]+ passed, [0-9]+ failed$" "$log" | tail -n 1 || true)"
    if [[ -n "$summary" ]]; then
      p="$(sed -E 's/.*: ([0-9]+) passed.*/\1/' <<< "$summary")"
      f="$(sed -E 's/.* ([0-9]+) failed$/\1/' <<< "$summary")"
    else
      p=0; f=1
      echo "   compat/$scenario.sh stopped before its summary"
    fi
    # A scenario names its clients on a line "<name> clients: <clients> against <bootstrap>"
    # (a marker no tool's own output starts with, as "go: downloading ..." does).
    clients="$(grep -E "^$scenario clients: " "$log" | head -n 1 \
      | sed -E "s/^$scenario clients: //; s/ against [0-9.:]+$//; s/\|/\\\\|/g" || true)"
    echo "   compat/$scenario.sh against $broker: $p passed, $f failed in ${seconds} s"
    rows+=("| \`$scenario.sh\` | $broker | $p | $f | ${seconds} s | $clients |")
    passed=$((passed + p))
    failed=$((failed + f))
    if [[ -n "${COMPAT_FAILURES:-}" && "$f" -gt 0 ]]; then
      {
        echo "compat/$scenario.sh against $broker:"
        # A failed check's line and the indented output check() prints under it.
        awk '/^  FAILED  /{keep=1; n=0; print; next} keep && /^          /{if (n++ < 12) print; next} {keep=0}' "$log"
        [[ -n "$summary" ]] || tail -n 12 "$log" | sed 's/^/    /'
      } >> "$COMPAT_FAILURES"
    fi
    rm -f "$log"
  done
done
total_seconds=$((SECONDS - run_start))

if [[ "$RESULTS" != - ]]; then
  kafka_version="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' reference-kafka/pom.xml)"
  commit="$(git rev-parse --short HEAD 2> /dev/null || echo unknown)"
  {
    echo "# compat results"
    echo
    echo "Written by \`compat/run.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC') at commit \`$commit\`"
    echo "(brokers: ${BROKERS[*]}; \`kafka\` is reference Apache Kafka $kafka_version, one KRaft node)."
    echo
    echo "| scenario | broker | passed | failed | time | clients |"
    echo "|---|---|---:|---:|---:|---|"
    printf '%s\n' "${rows[@]}"
    echo
    echo "Total: $passed passed, $failed failed in $total_seconds s."
  } > "$RESULTS"
fi
echo "compat: $passed passed, $failed failed"
[[ "$failed" -eq 0 ]]
