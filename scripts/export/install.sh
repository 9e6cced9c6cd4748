#!/usr/bin/env bash
# Makes the Python environment in which programs we did not write read back
# what ours write: a venv in ${XDG_CACHE_HOME:-~/.cache}/simple-nn/export-venv
# (the cache the programs use, where the tests look for it) with numpy and
# safetensors (check.py: the SafeTensors export), onnxruntime (check.py: the
# ONNX export) and tensorboard (tensorboard_check.py: a run's event files),
# pinned. Idempotent;
# prints one line when it installs and, when it cannot, one line on stderr and
# exits non-zero.
set -euo pipefail

VENV="${XDG_CACHE_HOME:-$HOME/.cache}/simple-nn/export-venv"
PACKAGES=(numpy==2.4.6 safetensors==0.8.0 onnxruntime==1.32.0 tensorboard==2.21.0)

fail() { echo "export check install: $*" >&2; exit 1; }

if ! "$VENV/bin/python" -c 'import numpy, safetensors, onnxruntime, tensorboard' 2>/dev/null; then
  echo "installing ${PACKAGES[*]} in $VENV"
  python3 -m venv "$VENV" 2>/dev/null || fail "python3 -m venv failed (on Debian: apt-get install python3-venv)"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${PACKAGES[@]}" \
    || fail "pip could not install ${PACKAGES[*]}"
fi
