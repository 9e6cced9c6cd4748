#!/usr/bin/env python3
"""A stand-in for `infer serve`, for working on the page without building Rust.

Serves crates/infer/static and the same JSON API with a fake model: a
nearest-class-mean classifier over MNIST training images when the IDX files are
in ${XDG_CACHE_HOME:-~/.cache}/simple-nn/mnist, where `train` caches them
(random numbers otherwise). Standard library only.

    python3 scripts/e2e/mock_server.py [--port 8765] [--no-samples]
    node scripts/e2e/page.mjs http://127.0.0.1:8765/ /tmp/page.png
"""

import argparse
import json
import math
import os
import random
import struct
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

STATIC = Path(__file__).resolve().parents[2] / "crates" / "infer" / "static"
MNIST = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "simple-nn" / "mnist"
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
         ".css": "text/css; charset=utf-8"}


def idx(path):
    data = path.read_bytes()
    dims = data[3]
    shape = struct.unpack(">" + "I" * dims, data[4:4 + 4 * dims])
    return shape, data[4 + 4 * dims:]


class Model:
    def __init__(self):
        self.test = None
        self.means = None
        try:
            (n, _, _), images = idx(MNIST / "t10k-images-idx3-ubyte")
            _, labels = idx(MNIST / "t10k-labels-idx1-ubyte")
            self.test = (n, images, labels)
            (_, _, _), train = idx(MNIST / "train-images-idx3-ubyte")
            _, train_labels = idx(MNIST / "train-labels-idx1-ubyte")
            sums, counts = [[0.0] * 784 for _ in range(10)], [0] * 10
            for i in range(3000):
                label, row = train_labels[i], sums[train_labels[i]]
                counts[label] += 1
                for j, v in enumerate(train[784 * i:784 * (i + 1)]):
                    row[j] += v
            self.means = [[v / counts[d] for v in sums[d]] for d in range(10)]
        except OSError:
            pass

    def probabilities(self, pixels):
        if self.means is None:
            logits = [random.gauss(0, 2) for _ in range(10)]
        else:
            logits = [-math.dist(pixels, m) / 150 for m in self.means]
        top = max(logits)
        exps = [math.exp(v - top) for v in logits]
        return [e / sum(exps) for e in exps]


def decode_png(data):
    """Grey levels (0-255) of an 8-bit PNG, as rows of lists."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("the body is not a PNG image")
    pos, idat = 8, b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", body[:10])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    channels = {0: 1, 2: 3, 4: 2, 6: 4}.get(color)
    if depth != 8 or channels is None:
        raise ValueError("only 8-bit grey, RGB or RGBA PNGs are supported here")
    raw, stride, prev, rows = zlib.decompress(idat), width * channels, [0] * width * channels, []
    for y in range(height):
        f, line = raw[y * (stride + 1)], list(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b, c = prev[i], prev[i - channels] if i >= channels else 0
            if f == 1: line[i] = (line[i] + a) & 255
            elif f == 2: line[i] = (line[i] + b) & 255
            elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        prev = line
        rows.append([line[x * channels] if channels < 3 else
                     (line[x * channels] + line[x * channels + 1] + line[x * channels + 2]) // 3
                     for x in range(width)])
    return rows


def preprocess(rows):
    """Crop to the ink, scale to 20 px (box average), centre in 28x28."""
    ys = [y for y, r in enumerate(rows) if max(r) > 32]
    xs = [x for x in range(len(rows[0])) if max(r[x] for r in rows) > 32]
    if not ys:
        raise LookupError("the image is blank: draw a digit")
    top, left = ys[0], xs[0]
    size = max(ys[-1] - top, xs[-1] - left) + 1
    out = [0] * 784
    for y in range(20):
        for x in range(20):
            y0, x0 = top + y * size // 20, left + x * size // 20
            y1, x1 = max(y0 + 1, top + (y + 1) * size // 20), max(x0 + 1, left + (x + 1) * size // 20)
            cells = [rows[j][i] for j in range(y0, min(y1, len(rows))) for i in range(x0, min(x1, len(rows[0])))]
            out[(y + 4) * 28 + x + 4] = sum(cells) // max(1, len(cells))
    return out


class Handler(BaseHTTPRequestHandler):
    def reply(self, status, body, kind="application/json"):
        if not isinstance(body, bytes):
            body = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        url = urlparse(self.path)
        name = "index.html" if url.path == "/" else url.path.lstrip("/")
        if "/" not in name and (STATIC / name).is_file():
            path = STATIC / name
            return self.reply(200, path.read_bytes(), TYPES[path.suffix])
        if url.path == "/healthz":
            return self.reply(200, {"status": "ok"})
        if url.path in ("/api/model", "/page.json"):
            model = {"run": "artifacts/mock", "architecture": "784-64-64-10 relu",
                     "parameters": 55050, "backend": "mock", "test_accuracy": 0.9614, "test_loss": 0.13}
            # No model.onnx here: the page runs the mock on the "server" only.
            page = {"server": True, "browser": False, "model": model}
            return self.reply(200, model if url.path == "/api/model" else page)
        if url.path == "/api/samples":
            try:
                count = int(parse_qs(url.query).get("count", ["8"])[0])
                assert 1 <= count <= 32
            except (ValueError, AssertionError):
                return self.reply(400, {"error": "count must be a whole number from 1 to 32"})
            if MODEL.test is None or self.server.no_samples:
                return self.reply(503, {"error": "this server has no MNIST test set"})
            n, images, labels = MODEL.test
            samples = []
            for i in random.sample(range(n), count):
                pixels = list(images[784 * i:784 * (i + 1)])
                probs = MODEL.probabilities(pixels)
                best = max(range(10), key=probs.__getitem__)
                samples.append({"index": i, "label": labels[i], "prediction": best,
                                "probability": probs[best], "pixels": pixels})
            return self.reply(200, {"samples": samples})
        self.reply(404, {"error": f"no such page: {url.path}"})

    def do_POST(self):
        if urlparse(self.path).path != "/api/predict":
            return self.reply(404, {"error": f"no such endpoint: {self.path}"})
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        try:
            pixels = preprocess(decode_png(body))
        except LookupError as e:
            return self.reply(422, {"error": str(e)})
        except (ValueError, KeyError, struct.error, zlib.error, UnboundLocalError) as e:
            return self.reply(400, {"error": f"cannot read the image: {e}"})
        probs = MODEL.probabilities(pixels)
        best = max(range(10), key=probs.__getitem__)
        self.reply(200, {"prediction": best, "probability": probs[best], "probabilities": probs, "preprocessed": pixels})

    def log_message(self, fmt, *args):
        if self.server.verbose:
            super().log_message(fmt, *args)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--no-samples", action="store_true", help="answer /api/samples with 503")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args()
    MODEL = Model()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.no_samples, server.verbose = args.no_samples, args.verbose
    print(f"mock infer serve on http://127.0.0.1:{args.port}/", flush=True)
    server.serve_forever()
