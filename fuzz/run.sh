#!/usr/bin/env bash
# fuzz/run.sh — runs every fuzz target under libFuzzer for a short time box (the test command's
# fuzzing step). The committed corpus is replayed on stable by `cargo test -p strata-fuzz-targets`
# (part of `cargo test --workspace`); this adds coverage-guided fuzzing from that corpus.
#
#   FUZZ_SECONDS   seconds per target (default 20; e.g. 3600 for a long run)
#   FUZZ_TARGETS   space-separated targets (default: all in fuzz_targets/)
#
# Installs cargo-fuzz from crates.io if missing. Uses the nightly toolchain when it is installed,
# otherwise stable with RUSTC_BOOTSTRAP=1 and no sanitizer. New corpus entries found stay in
# fuzz/corpus (commit the useful ones after `cargo fuzz cmin`); a crash fails the run and leaves
# its input in fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${FUZZ_SECONDS:-20}"
targets="${FUZZ_TARGETS:-$(basename -s .rs fuzz_targets/*.rs | tr '\n' ' ')}"

command -v cargo-fuzz > /dev/null || cargo install --locked --quiet cargo-fuzz
if rustup toolchain list 2> /dev/null | grep -q '^nightly'; then
  fuzz=(cargo +nightly fuzz)
  sanitizer=()
else
  fuzz=(env RUSTC_BOOTSTRAP=1 cargo fuzz)
  sanitizer=(-s none)
fi

"${fuzz[@]}" build -O "${sanitizer[@]}"
failed=0
for target in $targets; do
  mkdir -p "corpus/$target"
  # A single allocation over 64 MiB, 2 GiB resident or 10 s on one input counts as a failure.
  if "${fuzz[@]}" run -O "${sanitizer[@]}" "$target" "corpus/$target" -- \
    -max_total_time="$seconds" -timeout=10 -malloc_limit_mb=64 -rss_limit_mb=2048 -max_len=65536 \
    > "/tmp/strata-fuzz-$target.log" 2>&1; then
    echo "  ok      fuzz $target: $(grep -Eo 'Done [0-9]+ runs' "/tmp/strata-fuzz-$target.log" | tail -n 1) in ${seconds} s"
  else
    failed=$((failed + 1))
    tail -n 30 "/tmp/strata-fuzz-$target.log" | sed 's/^/          /'
    echo "  FAILED  fuzz $target (input in fuzz/artifacts/$target/)"
  fi
done
echo "fuzz: $failed failed"
[[ $failed -eq 0 ]]
