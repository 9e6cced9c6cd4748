"""The same test images through every runtime the model reaches, against `infer`
on flex: Burn's other backends, the SafeTensors file in NumPy, the ONNX file in
tract, onnxruntime and onnxruntime-web (headless Chromium, the static site of
`infer export --format web`). Prints the README's table (Markdown); exits 1
when a runtime fails, or differs from flex by more than --tolerance or on a
predicted digit.

Run it through scripts/export/compare.sh, which builds the programs and makes
the environments this needs (the export venv, Chromium and playwright-core).

    python compare.py [--run DIR | --train] [--count 1000] [--backends flex,ndarray,wgpu]
                      [--data-dir DIR] [--out FILE] [--skip-browser]
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts" / "export"))
import check  # noqa: E402  (the SafeTensors and ONNX readers)

# Where cargo put the binaries (CI builds outside the clone).
RELEASE = Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target") / "release"


def run(command, **kwargs):
    """stdout of `command`; raises with its stderr when it fails."""
    done = subprocess.run([str(c) for c in command], capture_output=True, text=True, **kwargs)
    if done.returncode != 0:
        raise RuntimeError(f"{Path(str(command[0])).name} failed ({done.returncode}): {done.stderr.strip()[-600:]}")
    return done.stdout


def jsonl_probabilities(text):
    return np.array([json.loads(line)["probabilities"] for line in text.splitlines() if line.strip()], dtype=np.float64)


def lock_version(name):
    text = (ROOT / "Cargo.lock").read_text()
    match = re.search(rf'name = "{re.escape(name)}"\nversion = "([^"]+)"', text)
    return match.group(1) if match else "?"


def mnist_dir(data_dir):
    if data_dir:
        return Path(data_dir)
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "simple-nn" / "mnist"


def ort_web(site, images):
    """onnxruntime-web's probabilities for `images` [n, 784] in headless
    Chromium, from the static site `site` served by Python's http.server."""
    server = subprocess.Popen([sys.executable, "-u", "-m", "http.server", "--bind", "127.0.0.1", "0",
                               "--directory", str(site)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        url = re.search(r"\((http://[^)]+)\)", server.stdout.readline()).group(1)
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
            json.dump(images.tolist(), handle)
        try:
            out = run(["node", ROOT / "scripts" / "e2e" / "site_model.mjs", url, "pixels", handle.name])
        finally:
            os.unlink(handle.name)
        return np.array(json.loads(out), dtype=np.float64)
    finally:
        server.kill()
        server.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--run", help="the run to compare (default: artifacts/tutorial)")
    source.add_argument("--train", action="store_true", help="train one epoch first (the small form CI runs)")
    parser.add_argument("--count", type=int, default=1000, help="test images, from the first")
    parser.add_argument("--backends", default="flex,ndarray,wgpu")
    parser.add_argument("--data-dir", help="a directory of MNIST-shaped IDX files (default: the cache)")
    parser.add_argument("--tolerance", type=float, default=1e-4)
    parser.add_argument("--out", help="also write the table to this file")
    parser.add_argument("--skip-browser", action="store_true",
                        help="leave out onnxruntime-web (no headless Chromium here)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="simple-nn-compare-") as work:
        compare(args, Path(work))


def compare(args, work):
    data = ["--data-dir", args.data_dir] if args.data_dir else []
    if args.train:
        run([RELEASE / "train", "--plain", "--epochs", "1", "--artifacts", work, "--run-name", "compare", *data])
        run_dir = work / "compare"
    else:
        run_dir = Path(args.run or ROOT / "artifacts" / "tutorial")

    def infer(*extra, command=()):
        return run([RELEASE / "infer", *command, "--run", run_dir, *data, *extra])

    count = args.count
    rows = []  # (system, probabilities or error)
    skipped = []  # runtimes that cannot run here, and why

    def attempt(system, produce):
        try:
            rows.append((system, produce()))
        except Exception as error:  # every failure becomes its row, and the exit status
            rows.append((system, f"failed: {error}"))

    burn = lock_version("burn")
    for backend in args.backends.split(","):
        attempt(f"`infer` on Burn {backend} ({burn})",
                lambda: jsonl_probabilities(infer("--backend", backend, "--index", "0", "--count", str(count), "--json")))
    images = check.read_idx_images(mnist_dir(args.data_dir) / "t10k-images-idx3-ubyte")[:count]

    safetensors, onnx, site = work / "model.safetensors", work / "model.onnx", work / "site"
    for format_, out in [("safetensors", safetensors), ("onnx", onnx), ("web", site)]:
        infer("--format", format_, "--out", out, command=["export"])
    numpy_version = check.numpy_probabilities(str(safetensors), images[:1])[2]
    attempt(f"SafeTensors file in {numpy_version.replace('numpy', 'NumPy')} (float64)",
            lambda: check.numpy_probabilities(str(safetensors), images)[0])
    attempt(f"ONNX file in tract {lock_version('tract-onnx')}",
            lambda: jsonl_probabilities(run([RELEASE / "examples" / "tract_probabilities", onnx,
                                              mnist_dir(args.data_dir) / "t10k-images-idx3-ubyte", count])))
    attempt(f"ONNX file in {check.onnxruntime_probabilities(str(onnx), images[:1])[2]} (Python, CPU)",
            lambda: check.onnxruntime_probabilities(str(onnx), images)[0])
    header = (site / "ort" / "ort.wasm.min.mjs").read_text()[:200]
    ort_version = re.search(r"ONNX Runtime Web v(\S+)", header).group(1)
    if args.skip_browser:
        skipped.append(f"ONNX file in onnxruntime-web {ort_version}: no headless Chromium here")
    else:
        chromium = run([os.environ.get("CHROMIUM", "/usr/bin/chromium"), "--version"]).split()[1]
        attempt(f"ONNX file in onnxruntime-web {ort_version} (WebAssembly, Chromium {chromium})",
                lambda: ort_web(site, images))

    reference = rows[0][1]
    if isinstance(reference, str):
        raise SystemExit(f"infer on flex: {reference}")
    digits = reference.argmax(axis=1)
    lines = [f"{count:,} MNIST test images (the first), run {run_dir.name} "
             f"({json.loads((run_dir / 'model.json').read_text())['hidden']} hidden, "
             f"{json.loads((run_dir / 'model.json').read_text())['activation']}):",
             "",
             "| runtime | largest probability difference to `infer` on flex | same predicted digit |",
             "|---|---|---|"]
    failed = False
    for system, result in rows:
        if isinstance(result, str):
            lines.append(f"| {system} | {result} | |")
            failed = True
            continue
        difference = float(np.abs(result - reference).max())
        same = int((result.argmax(axis=1) == digits).sum())
        shown = "0 (the reference)" if result is reference else f"{difference:.1e}"
        lines.append(f"| {system} | {shown} | {same:,} of {count:,} |")
        failed |= difference > args.tolerance or same != count
    lines += [f"\nskipped: {reason}" for reason in skipped]
    table = "\n".join(lines)
    print(table)
    if args.out:
        Path(args.out).write_text(table + "\n")
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
