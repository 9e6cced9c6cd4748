#!/usr/bin/env bash
# Regenerates the README's table of runtimes: the same test images through
# `infer` on each backend, the SafeTensors file in NumPy, the ONNX file in
# tract, onnxruntime and onnxruntime-web (headless Chromium), each against
# `infer` on flex (scripts/export/compare.py). Builds what it runs and makes
# the environments it needs (scripts/export/install.sh, scripts/e2e/install.sh).
#
#   bash scripts/export/compare.sh [--run artifacts/tutorial] [--count 1000] [--backends flex,ndarray,wgpu] [--out FILE]
#   bash scripts/export/compare.sh --train --count 100    # the small form scripts/test.sh runs: one epoch first
set -euo pipefail
cd "$(dirname "$0")/../.."

bash scripts/export/install.sh
bash scripts/e2e/install.sh
# Vulkan loaders complain without a runtime directory; give them a private one.
if [ -z "${XDG_RUNTIME_DIR:-}" ]; then
  XDG_RUNTIME_DIR=$(mktemp -d)
  export XDG_RUNTIME_DIR
fi
cargo build --release --bins -p train -p infer
cargo build --release -p infer --example tract_probabilities
exec "$HOME/.cache/simple-nn/export-venv/bin/python" scripts/export/compare.py "$@"
