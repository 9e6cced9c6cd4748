"""Checks a file written by `infer export` without Burn, and compares its
probabilities on MNIST-shaped test images with the ones `infer --json` printed
for the same images:

- MODEL.safetensors: the network (or a committee's networks and their
  combination) rebuilt in NumPy from the file alone (weights and metadata);
- MODEL.onnx: the ONNX model run by onnxruntime (CPU), fed
  x = pixel / 255 - 0.5 as float32 [N, 784].

    python check.py MODEL.safetensors|MODEL.onnx IMAGES_IDX INFER_JSONL [--tolerance 1e-5]

IMAGES_IDX is an IDX image file (raw or gzip); INFER_JSONL holds one
`{"index": i, "probabilities": [...]}` per line. Prints one JSON line with the
runtime, the largest absolute difference and how many predicted digits agree;
exits 1 when the difference exceeds the tolerance.
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


def numpy_logits(tensors, prefix, architecture, x):
    """One network's logits [n, classes] for x [n, 784] (float64), its layers
    `<prefix>layers.<i>.weight|bias` in PyTorch's layout."""
    activation = ACTIVATIONS[architecture["activation"]]
    count = len(architecture["hidden"]) + 1
    for index in range(count):
        weight = tensors[f"{prefix}layers.{index}.weight"].astype(np.float64)  # [out, in]
        bias = tensors[f"{prefix}layers.{index}.bias"].astype(np.float64)
        x = x @ weight.T + bias
        if index < count - 1:
            x = activation(x)
    return x


def softmax(x):
    x = x - x.max(axis=1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=1, keepdims=True)


def numpy_probabilities(model_path, images):
    """Softmax output of the exported network for uint8 images [n, 784], and
    its architecture, in NumPy from a SafeTensors file. A committee's file
    (architecture {"combine", "members"}) holds member i under `members.<i>.`:
    the mean of their softmax, or the softmax of their mean logits."""
    with safe_open(model_path, framework="numpy") as handle:
        metadata = handle.metadata()
        architecture = json.loads(metadata["architecture"])
        tensors = {name: handle.get_tensor(name) for name in handle.keys()}
    x = images.astype(np.float64) / 255.0 - 0.5
    runtime = f"numpy {np.__version__}"
    if "members" not in architecture:
        return softmax(numpy_logits(tensors, "", architecture, x)), architecture, runtime
    logits = [
        numpy_logits(tensors, f"members.{index}.", member, x)
        for index, member in enumerate(architecture["members"])
    ]
    if architecture["combine"] == "geometric":
        return softmax(np.mean(logits, axis=0)), architecture, runtime
    return np.mean([softmax(z) for z in logits], axis=0), architecture, runtime


def onnxruntime_probabilities(model_path, images):
    """The ONNX model's output for uint8 images [n, 784] in onnxruntime, and
    the architecture its metadata holds."""
    import onnxruntime

    session = onnxruntime.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    metadata = session.get_modelmeta().custom_metadata_map
    (name,) = [i.name for i in session.get_inputs()]
    x = (images.astype(np.float32) / np.float32(255.0) - np.float32(0.5)).astype(np.float32)
    (probabilities,) = session.run(None, {name: x})
    runtime = f"onnxruntime {onnxruntime.__version__}"
    return probabilities.astype(np.float64), json.loads(metadata["architecture"]), runtime


def probabilities(model_path, images):
    if model_path.endswith(".onnx"):
        return onnxruntime_probabilities(model_path, images)
    return numpy_probabilities(model_path, images)


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
    theirs, architecture, runtime = probabilities(args.model, read_idx_images(args.images)[indices])
    difference = float(np.abs(ours - theirs).max())
    agree = int((ours.argmax(axis=1) == theirs.argmax(axis=1)).sum())
    print(json.dumps({
        "runtime": runtime,
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
