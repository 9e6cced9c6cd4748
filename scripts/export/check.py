"""Checks a SafeTensors file written by `infer export` without Burn: rebuilds
the network in NumPy from the file alone (weights and metadata), runs it on
MNIST-shaped test images, and compares its probabilities with the ones `infer
--json` printed for the same images.

    python check.py MODEL.safetensors IMAGES_IDX INFER_JSONL [--tolerance 1e-5]

IMAGES_IDX is an IDX image file (raw or gzip); INFER_JSONL holds one
`{"index": i, "probabilities": [...]}` per line. Prints one JSON line with the
largest absolute difference; exits 1 when it exceeds the tolerance.
"""

import argparse
import gzip
import json
import math
import sys

import numpy as np
from safetensors import safe_open


def read_idx_images(path):
    """[count, rows * cols] uint8 from an IDX3 file (raw or gzip)."""
    with open(path, "rb") as handle:
        raw = handle.read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    magic, count, rows, cols = np.frombuffer(raw[:16], dtype=">u4")
    if magic != 2051:
        raise SystemExit(f"{path}: not an IDX image file (magic {magic})")
    pixels = np.frombuffer(raw[16:], dtype=np.uint8)
    return pixels.reshape(count, rows * cols)


ACTIVATIONS = {
    "relu": lambda x: np.maximum(x, 0.0),
    "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
    "tanh": np.tanh,
    "gelu": lambda x: 0.5 * x * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0))),
    "leaky_relu": lambda x: np.where(x > 0, x, 0.01 * x),
}


def probabilities(model_path, images):
    """Softmax output of the exported network for uint8 images [n, 784]."""
    with safe_open(model_path, framework="numpy") as handle:
        metadata = handle.metadata()
        architecture = json.loads(metadata["architecture"])
        tensors = {name: handle.get_tensor(name) for name in handle.keys()}
    activation = ACTIVATIONS[architecture["activation"]]
    x = images.astype(np.float64) / 255.0 - 0.5
    count = len(architecture["hidden"]) + 1
    for index in range(count):
        weight = tensors[f"layers.{index}.weight"].astype(np.float64)  # [out, in]
        bias = tensors[f"layers.{index}.bias"].astype(np.float64)
        x = x @ weight.T + bias
        if index < count - 1:
            x = activation(x)
    x = x - x.max(axis=1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=1, keepdims=True), architecture


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("images")
    parser.add_argument("infer_jsonl")
    parser.add_argument("--tolerance", type=float, default=1e-5)
    args = parser.parse_args()

    rows = [json.loads(line) for line in open(args.infer_jsonl) if line.strip()]
    indices = np.array([row["index"] for row in rows])
    ours = np.array([row["probabilities"] for row in rows], dtype=np.float64)
    theirs, architecture = probabilities(args.model, read_idx_images(args.images)[indices])
    difference = float(np.abs(ours - theirs).max())
    agree = int((ours.argmax(axis=1) == theirs.argmax(axis=1)).sum())
    print(json.dumps({
        "images": len(rows),
        "max_abs_difference": difference,
        "same_prediction": agree,
        "architecture": architecture,
    }))
    if difference > args.tolerance:
        print(f"the exported network differs by {difference:.3g} > {args.tolerance:g}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
