#!/usr/bin/env bash
# Runs every coverage-guided fuzz target in fuzz/ (cargo-fuzz, libFuzzer) for
# SECONDS each (default 30) and fails on the first crash, printing the input
# that caused it (saved under fuzz/artifacts/<target>/).
#
#   bash scripts/fuzz.sh [SECONDS] [TARGET...]
#
# Targets: idx (IDX reader, raw and gzip), image (image preprocessing), config
# (train's TOML config), record (model.json + model.bpk), request (infer
# serve's predict requests). Each starts from its seeds in fuzz/seeds/<target>
# plus the corpus grown by earlier runs in the cache,
# ${XDG_CACHE_HOME:-~/.cache}/simple-nn/fuzz-corpus.
# Only `record` needs Burn, built a second time with the fuzzer's
# instrumentation (about 25 minutes on 2 cores the first time); the other
# four build without it in a minute or two. scripts/test.sh runs those four,
# and replays record's inputs through the same code in `cargo test`.
# Installs cargo-fuzz when missing. Builds on the stable toolchain without a
# sanitizer (-s none): Rust's own checks (bounds, overflow with debug
# assertions, allocation limits) are what catch a bug.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-30}
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(idx image config record request)

CARGO_FUZZ_VERSION=0.13.2
if ! cargo fuzz --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
  echo "installing cargo-fuzz $CARGO_FUZZ_VERSION"
  cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked --quiet
fi

cache="${XDG_CACHE_HOME:-$HOME/.cache}/simple-nn"
export CARGO_TARGET_DIR="$cache/fuzz-target"
cd fuzz
# Only the targets asked for are built; `record` brings Burn in.
features=()
for target in "${targets[@]}"; do
  [ "$target" = record ] && features=(--features record)
done
for target in "${targets[@]}"; do
  # Quiet when it builds; the whole output when it does not.
  cargo fuzz build -s none --release "${features[@]}" "$target" >/dev/null 2>&1 \
    || cargo fuzz build -s none --release "${features[@]}" "$target"
done

status=0
for target in "${targets[@]}"; do
  corpus="$cache/fuzz-corpus/$target"
  mkdir -p "$corpus" "artifacts/$target"
  log=$(mktemp)
  if cargo fuzz run -s none --release "${features[@]}" "$target" "$corpus" "seeds/$target" -- \
      -max_total_time="$seconds" -timeout=20 -rss_limit_mb=4096 -print_final_stats=1 \
      >"$log" 2>&1; then
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    echo "fuzz $target: ${runs:-?} runs in ${seconds} s, no crash (corpus $(ls "$corpus" | wc -l) inputs)"
  else
    echo "fuzz $target: CRASH" >&2
    grep -E "panicked|ERROR|SUMMARY|Test unit written|Base64" "$log" | head -20 >&2
    status=1
  fi
  rm -f "$log"
done
exit $status
