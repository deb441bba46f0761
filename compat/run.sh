#!/usr/bin/env bash
# compat/run.sh — runs every compat scenario (real third-party clients against a real strata
# broker that each scenario starts itself) and prints one summary line.
#
# Scenarios: compat/kcat.sh (Debian's kcat), compat/python.sh (confluent-kafka and kafka-python
# in compat/.venv). To add one (e.g. a Node client in compat/node/), write compat/<name>.sh that
# sources lib.sh, uses start_broker/check/finish, and add it to SCENARIOS below.
# Needs target/debug/strata (or $STRATA_BIN). COMPAT_SKIP="python" skips scenarios by name.
set -euo pipefail
cd "$(dirname "$0")"

SCENARIOS=(kcat python)
passed=0
failed=0
for scenario in "${SCENARIOS[@]}"; do
  if [[ " ${COMPAT_SKIP:-} " == *" $scenario "* ]]; then
    echo "== compat/$scenario.sh skipped (COMPAT_SKIP)"
    continue
  fi
  echo "== compat/$scenario.sh"
  log="$(mktemp)"
  if bash "./$scenario.sh" 2>&1 | tee "$log"; then :; fi
  # Each scenario ends with "<name>: N passed, N failed"; a scenario that died early counts as one failure.
  summary="$(grep -E "^$scenario: [0-9]+ passed, [0-9]+ failed$" "$log" | tail -n 1 || true)"
  if [[ -n "$summary" ]]; then
    p="$(sed -E 's/.*: ([0-9]+) passed.*/\1/' <<< "$summary")"
    f="$(sed -E 's/.* ([0-9]+) failed$/\1/' <<< "$summary")"
  else
    p=0; f=1
    echo "   compat/$scenario.sh stopped before its summary"
  fi
  passed=$((passed + p))
  failed=$((failed + f))
  rm -f "$log"
done
echo "compat: $passed passed, $failed failed"
[[ "$failed" -eq 0 ]]
