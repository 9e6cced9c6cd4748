#!/usr/bin/env bash
# The benchmark: simple-nn against Keras, PyTorch, NumPy and scikit-learn on this
# machine, in one run, printed as one Markdown report (docs/performance.md's
# CPU and GPU sections are its output).
#
#   bash scripts/bench.sh [--seeds 3] [--epochs 5] [--backends flex,ndarray] [--peers keras,torch,numpy,sklearn] [--out FILE]
#   bash scripts/bench.sh speedrun [--presets configs/best.toml,configs/speedrun.toml,configs/distorted.toml] [--seeds 2]
#       [--targets 0.98,0.99,0.995] [--budget-minutes M] [--peers torch] [--peer-epochs 3] [--out FILE]
#
# The second form is the speed-run table (scripts/bench/speedrun.py): wall time
# until each preset reaches each test accuracy, beside its recipe's seconds per
# epoch in PyTorch.
#
# With `--peers ''` it measures simple-nn alone and installs nothing (scripts/test.sh
# runs it that way, small, so the driver cannot break unseen).
#
# The peers go into a throwaway virtual environment under the cache
# (${XDG_CACHE_HOME:-~/.cache}/simple-nn/bench-venv, about 7 GB with PyTorch's
# CUDA libraries); they are never dependencies of the project. Add wgpu to
# --backends on a machine with a real GPU.
set -euo pipefail
cd "$(dirname "$0")/.."

driver=scripts/bench/run.py
if [ "${1:-}" = speedrun ]; then
    driver=scripts/bench/speedrun.py
    shift
fi

cache="${XDG_CACHE_HOME:-$HOME/.cache}/simple-nn"
venv="$cache/bench-venv"
peers="numpy==2.4.6 scikit-learn==1.9.1 tensorflow-cpu==2.21.0 torch==2.15.0 torchvision==0.29.2"
# The peers' interpreter, unless no peer is asked for.
python="$venv/bin/python"
previous=""
for arg in "$@"; do
    if [ "$previous" = "--peers" ] && [ -z "$arg" ] || [ "$arg" = "--peers=" ]; then
        python=python3
    fi
    previous="$arg"
done
if [ "$python" != python3 ] && ! "$python" -c "import numpy, sklearn, keras, torch, torchvision" 2>/dev/null; then
    echo "installing the peers into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet $peers
fi

cargo build --release --bin train --bin bench
target="${CARGO_TARGET_DIR:-target}/release"
exec python3 "$driver" --bin-dir "$target" --python "$python" "$@"
