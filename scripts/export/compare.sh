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

# Without its venv nothing can be compared; without Chromium the browser's
# row is left out. Either fails the script under CI=true, as the tests do.
if ! bash scripts/export/install.sh; then
  [ "${CI:-}" = true ] && exit 1
  echo "warning: the runtimes cannot be compared here (see above); skipped" >&2
  exit 0
fi
browser=()
if ! bash scripts/e2e/install.sh; then
  [ "${CI:-}" = true ] && exit 1
  echo "warning: no headless Chromium here: onnxruntime-web is left out" >&2
  browser=(--skip-browser)
fi
# Vulkan loaders complain without a runtime directory; give them a private one.
if [ -z "${XDG_RUNTIME_DIR:-}" ]; then
  XDG_RUNTIME_DIR=$(mktemp -d)
  export XDG_RUNTIME_DIR
fi
# The whole workspace, as scripts/test.sh builds it: building single packages
# would resolve features differently and recompile the crates below them.
cargo build --release --workspace --bins --examples
exec "${XDG_CACHE_HOME:-$HOME/.cache}/simple-nn/export-venv/bin/python" scripts/export/compare.py "${browser[@]}" "$@"
