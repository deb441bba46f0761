#!/usr/bin/env bash
# tests/run-all.sh — the one command that runs every Strata test on a fresh Debian machine.
#
# 1. Installs what the tests need and is missing (as root, with apt-get): kcat for compat/,
#    a C toolchain, make, perl, pkg-config and zlib headers for librdkafka (built from source
#    by rdkafka-sys), python3-venv for the Python compat clients, iproute2 for the network
#    namespaces of the replication fault test. Nothing is installed twice.
# 2. Builds the broker (`cargo build -p strata-broker`; the e2e tests run target/debug/strata).
# 3. Checks formatting (`cargo fmt --check`, rustfmt.toml), lints (`cargo clippy --workspace
#    --all-targets -- -D warnings`) and the tidy test (`strata-tidy`); any failing fails the run.
# 4. Runs `cargo test --workspace` (unit, property and end-to-end tests; no benchmarks).
# 5. Runs fuzz/run.sh: every fuzz target under libFuzzer for FUZZ_SECONDS (20) each; the
#    committed corpus was already replayed on stable by `cargo test --workspace`.
# 6. Runs compat/run.sh (kcat, confluent-kafka, kafka-python against a real broker).
# 7. Runs the benchmark harness in its smoke mode (seconds, tiny sizes).
# 8. Prints a summary; exits non-zero if any step failed.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS

# --- 1. system packages ---------------------------------------------------------------------------
missing=()
command -v kcat > /dev/null || missing+=(kcat)
command -v cc > /dev/null || missing+=(gcc libc6-dev)
command -v make > /dev/null || missing+=(make)
command -v g++ > /dev/null || missing+=(g++)
command -v perl > /dev/null || missing+=(perl)
command -v ip > /dev/null || missing+=(iproute2)
command -v pkg-config > /dev/null || missing+=(pkg-config)
[[ -f /usr/include/zlib.h ]] || missing+=(zlib1g-dev)
command -v python3 > /dev/null || missing+=(python3)
if command -v python3 > /dev/null && ! python3 -c 'import venv, ensurepip' 2> /dev/null; then
  missing+=(python3-venv)
fi
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "== installing: ${missing[*]}"
  sudo_cmd=()
  [[ "$(id -u)" -eq 0 ]] || sudo_cmd=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -q
  "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "== system packages already installed"
fi

# --- 2..4. build and test ---------------------------------------------------------------------------
status_build=0
status_lint=0
status_cargo=0
status_compat=0
status_fuzz=0
status_bench=0

echo "== cargo build -p strata-broker"
cargo build -p strata-broker || status_build=$?

if [[ $status_build -eq 0 ]]; then
  echo "== cargo fmt --check, cargo clippy -D warnings, tidy"
  cargo fmt --all --check || status_lint=$?
  [[ $status_lint -ne 0 ]] || cargo clippy --workspace --all-targets -q -- -D warnings || status_lint=$?
  [[ $status_lint -ne 0 ]] || cargo test -q -p strata-tidy || status_lint=$?
  echo "== cargo test --workspace"
  cargo test --workspace --no-fail-fast || status_cargo=$?
  echo "== fuzz/run.sh (each fuzz target for ${FUZZ_SECONDS:-20} s)"
  bash fuzz/run.sh || status_fuzz=$?
  echo "== compat/run.sh"
  compat_failures="$(mktemp)"
  COMPAT_FAILURES="$compat_failures" bash compat/run.sh || status_compat=$?
  # A few seconds of every benchmark workload at tiny sizes, so the harness cannot rot; the
  # real runs (benches/README.md) stay out of CI.
  echo "== benchmark smoke run"
  cargo run -q -p strata-benches --bin bench -- --smoke || status_bench=$?
fi

# --- 5. summary ------------------------------------------------------------------------------------
verdict() { if [[ "$1" -eq 0 ]]; then echo "ok"; else echo "FAILED (exit $1)"; fi; }
echo
echo "== summary ($((SECONDS - started)) s)"
echo "   build:            $(verdict $status_build)"
if [[ $status_build -eq 0 ]]; then
  echo "   fmt, clippy, tidy: $(verdict $status_lint)"
  echo "   cargo test:       $(verdict $status_cargo)"
  echo "   fuzzing:          $(verdict $status_fuzz)"
  echo "   compat scenarios: $(verdict $status_compat)"
  echo "   benchmark smoke:  $(verdict $status_bench)"
fi
if [[ -n "${compat_failures:-}" && -s "$compat_failures" ]]; then
  echo
  echo "== compat checks that failed"
  cat "$compat_failures"
fi
rm -f "${compat_failures:-}"
[[ $status_build -eq 0 && $status_lint -eq 0 && $status_cargo -eq 0 && $status_fuzz -eq 0 && $status_compat -eq 0 && $status_bench -eq 0 ]]
