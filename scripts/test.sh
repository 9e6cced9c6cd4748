#!/usr/bin/env bash
# Runs every test of the workspace: unit tests, the binaries end to end on real
# MNIST, the wgpu path on a software Vulkan driver when no GPU is present, the
# HTTP server over loopback and its page in headless Chromium (served, and as a
# static site), the exports read back by NumPy, tract, onnxruntime and
# onnxruntime-web, the TensorBoard files by TensorBoard's reader, the fuzz
# targets briefly; then the benchmark driver's unit tests, the documentation's
# links and crate table, and small forms of the benchmark, of its speed-run
# table, of the README's table of runtimes and of the committee recipe.
#
# Installs Mesa's software Vulkan driver (lavapipe), Chromium and playwright-core
# when they are missing and this user can install Debian packages; starts a
# single-node Slurm cluster for the Slurm sweep tests (as root; they skip
# otherwise). Under CI=true a missing Vulkan adapter makes
# the wgpu tests fail instead of skip.
set -euo pipefail
cd "$(dirname "$0")/.."

have_lavapipe() { compgen -G '/usr/share/vulkan/icd.d/lvp_icd*.json' >/dev/null; }
if ! have_lavapipe && command -v apt-get >/dev/null; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null && sudo="sudo -n"
  echo "installing mesa-vulkan-drivers (software Vulkan for the wgpu tests)"
  $sudo apt-get update -qq >/dev/null || true
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq mesa-vulkan-drivers >/dev/null \
    || echo "warning: could not install mesa-vulkan-drivers; the wgpu tests need a Vulkan adapter"
fi

# The drawing page's browser test: Debian's chromium and playwright-core.
bash scripts/e2e/install.sh \
  || echo "warning: the browser test cannot run here (see above); under CI=true it fails"

# The export and TensorBoard checks' Python environment: numpy, safetensors,
# onnxruntime and tensorboard in a venv.
bash scripts/export/install.sh \
  || echo "warning: the export check cannot run here (see above); under CI=true it fails"

# The Slurm sweep tests' single-node cluster (installs slurm-wlm and munge
# when missing; needs root). Stopped when this script exits.
if slurm_dir=$(bash scripts/slurm/start.sh); then
  export SLURM_CONF="$slurm_dir/slurm.conf"
  trap 'bash scripts/slurm/stop.sh "$slurm_dir"' EXIT
elif [ "${CI:-}" = true ] && [ "$(id -u)" -eq 0 ]; then
  echo "error: the local Slurm cluster did not start" >&2
  exit 1
else
  echo "warning: no local Slurm cluster (see above); the Slurm sweep tests skip"
fi

# Vulkan loaders complain without a runtime directory; give them a private one.
if [ -z "${XDG_RUNTIME_DIR:-}" ]; then
  XDG_RUNTIME_DIR=$(mktemp -d)
  export XDG_RUNTIME_DIR
fi

# First the quick checks. The documentation: every link and anchor in README.md and docs/ resolves,
# the crate table of docs/workspace.md lists the workspace's members, the
# README stays short; then the check's own tests (standard library only).
python3 scripts/check_docs.py
# No loop of imports between the files of a crate.
python3 scripts/check_imports.py
# `cargo test`, `cargo build` and `cargo run -p train` build the crates Burn
# stands on with the same features (crates/workspace-hack pins them), so Burn
# is built once.
python3 scripts/check_feature_pins.py
python3 -m unittest discover -s scripts -p 'check_*_test.py'

# Release profile: the tests and the binaries share one optimised build of Burn
# with `cargo run --release`, and the end-to-end training runs at full speed.
# Build every binary first, as the steps below use them; train's and bench's
# tests, which run `infer` too, run this same command once more
# (testkit::workspace_bin), a no-op after this one.
cargo build --release --workspace --bins
cargo test --release --workspace "$@"
# Every parser of outside input that builds without Burn under the
# coverage-guided fuzzer for a short while (FUZZ_SECONDS each, default 20);
# fails on a crash. (The `record` target's inputs are replayed by
# crates/model/tests/model/record_corpus.rs above.)
bash scripts/fuzz.sh "${FUZZ_SECONDS:-20}" idx image config request
# The benchmark driver's arithmetic (standard library only; the peers it
# compares against are not installed here).
python3 -m unittest discover -s scripts/bench
# The benchmark end to end in a small form (our binaries only, one seed, two
# epochs, one wide network, no peers), so a renamed flag or key cannot break
# it unseen.
bash scripts/bench.sh --peers '' --seeds 1 --epochs 2 --backends flex --widths 512
# The speed-run table in a small form: the tutorial raced to 90% (its first
# epoch), one seed, no peer.
bash scripts/bench.sh speedrun --peers '' --seeds 1 --presets configs/default.toml --targets 0.9 \
    --budget-minutes 2
# The README's table of runtimes in a small form: a one-epoch run, 100 test
# images through every backend, NumPy, tract, onnxruntime and onnxruntime-web.
bash scripts/export/compare.sh --train --count 100
# docs/experiments.md's committee recipe in a small form: its candidate configs, two
# seeds each, two epochs of a small network, then the committee chosen on the
# training images they all held out.
# (The binaries built above: `cargo run -p train` would build Burn again with
# the features of that package alone.)
committee_dir=$(mktemp -d)
bin="${CARGO_TARGET_DIR:-target}/release"
"$bin/sweep" configs/committee/*.toml --grid seed=1,2 --set epochs=2 --set 'model.hidden=[32]' \
    --jobs 2 --name candidates --artifacts "$committee_dir"
"$bin/infer" committee --from "$committee_dir/candidates" --choose --out "$committee_dir/chosen"
rm -rf "$committee_dir"
