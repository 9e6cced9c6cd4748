"""The tutorial network in the peer frameworks, for scripts/bench.py.

Each system trains 784-64-64-10 (ReLU, softmax, Glorot-uniform weights, zero
biases) with Adam (lr 0.001, beta 0.9/0.999, epsilon 1e-7) and cross-entropy,
batch 32, shuffled every epoch, on pixels scaled to x / 255 - 0.5, exactly as
simple-nn's `train` does. An epoch is the training pass plus a test evaluation,
as in `train`. Then it times inference: all 10,000 test images in one batch and
a single image, from u8 pixels in memory to probabilities on the host.

`recipe` trains a preset's recipe instead (scripts/bench/speedrun.py passes
it as JSON): its hidden layers, dropout, batch size, Adam, AdamW or SGD with
its learning rate and weight decay, warm-up and cosine or step schedule over
the preset's epochs, and its distortions drawn afresh for every image of every
epoch with torchvision's RandomAffine and ElasticTransform in a DataLoader
worker, timed for --epochs epochs.

Usage: python peers.py SYSTEM --data-dir DIR [--epochs 5] [--seed 1] [--hidden 64] [--batch-size 32] [--device cpu]
       python peers.py recipe --data-dir DIR --recipe JSON [--epochs 3] [--device cpu]
       python peers.py matmul [--device cpu]
Prints one JSON object on stdout.
"""

import argparse
import gzip
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path

FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def read_idx(path):
    """An IDX file (plain or gzip) as a numpy uint8 array of its declared shape."""
    import numpy as np

    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if raw[:2] != b"\x00\x00" or raw[2] != 0x08:
        sys.exit(f"error: {path}: not an IDX file of unsigned bytes")
    dims = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims)]
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims)
    return data.reshape(shape)


def load(data_dir):
    """(train images [60000, 784] u8, train labels, test images, test labels)."""
    arrays = {}
    for key, name in FILES.items():
        candidates = [data_dir / name, data_dir / (name + ".gz")]
        path = next((p for p in candidates if p.exists()), None)
        if path is None:
            sys.exit(f"error: {data_dir}: no {name} (or {name}.gz)")
        arrays[key] = read_idx(path)
    flat = lambda images: images.reshape(len(images), -1)
    return (
        flat(arrays["train_images"]),
        arrays["train_labels"],
        flat(arrays["test_images"]),
        arrays["test_labels"],
    )


def scale(images):
    import numpy as np

    return images.astype(np.float32) / np.float32(255.0) - np.float32(0.5)


def median_seconds(reps, work):
    work()
    times = []
    for _ in range(reps):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def inference_times(predict, test_images):
    """predict(u8 images) -> probabilities as a numpy array."""
    return {
        "all_seconds": median_seconds(10, lambda: predict(test_images)),
        "single_seconds": median_seconds(1000, lambda: predict(test_images[:1])),
    }


def run_keras(args, data):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import numpy as np

    keras.utils.set_random_seed(args.seed)
    x, y, xt, yt = data
    x, xt = scale(x), scale(xt)
    model = keras.Sequential(
        [
            keras.Input(shape=(784,)),
            keras.layers.Dense(args.hidden, activation="relu"),
            keras.layers.Dense(args.hidden, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=args.lr, epsilon=1e-7),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    seconds = []

    class Clock(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            seconds.append(time.perf_counter() - self.started)

    history = model.fit(
        x, y, epochs=args.epochs, batch_size=args.batch_size, shuffle=True,
        validation_data=(xt, yt), callbacks=[Clock()], verbose=0,
    )
    accuracy = history.history["val_accuracy"][-1]
    predict = lambda images: np.asarray(model(scale(images), training=False))
    return seconds, accuracy, inference_times(predict, data[2])


def run_torch(args, data):
    import torch

    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    x, y, xt, yt = data
    x, xt = torch.from_numpy(scale(x)).to(device), torch.from_numpy(scale(xt)).to(device)
    y = torch.from_numpy(y.astype("int64")).to(device)
    yt = torch.from_numpy(yt.astype("int64")).to(device)
    model = torch.nn.Sequential(
        torch.nn.Linear(784, args.hidden), torch.nn.ReLU(),
        torch.nn.Linear(args.hidden, args.hidden), torch.nn.ReLU(),
        torch.nn.Linear(args.hidden, 10),
    ).to(device)
    for layer in model:
        if isinstance(layer, torch.nn.Linear):
            torch.nn.init.xavier_uniform_(layer.weight)
            torch.nn.init.zeros_(layer.bias)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr, eps=1e-7)
    loss_fn = torch.nn.CrossEntropyLoss()
    seconds = []
    for _ in range(args.epochs):
        started = time.perf_counter()
        order = torch.randperm(len(x), device=device)
        for start in range(0, len(x), args.batch_size):
            batch = order[start : start + args.batch_size]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x[batch]), y[batch])
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            accuracy = (model(xt).argmax(1) == yt).float().mean().item()
        seconds.append(time.perf_counter() - started)

    def predict(images):
        with torch.no_grad():
            images = torch.from_numpy(scale(images)).to(device)
            return torch.softmax(model(images), 1).cpu().numpy()

    return seconds, accuracy, inference_times(predict, data[2])


def run_recipe(args, data):
    """A preset's recipe (see the module's doc) in PyTorch."""
    import numpy as np
    import torch
    import torchvision.transforms.v2 as transforms

    recipe = json.loads(args.recipe)
    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    x, y, xt, yt = data
    sizes = [784, *recipe["hidden"], 10]
    activation = {"relu": torch.nn.ReLU, "sigmoid": torch.nn.Sigmoid, "tanh": torch.nn.Tanh,
                  "gelu": torch.nn.GELU}[recipe["activation"]]
    layers = []
    for index, (a, b) in enumerate(zip(sizes, sizes[1:])):
        linear = torch.nn.Linear(a, b)
        torch.nn.init.xavier_uniform_(linear.weight)
        torch.nn.init.zeros_(linear.bias)
        layers.append(linear)
        if index < len(sizes) - 2:
            layers.append(activation())
            if recipe["dropout"] > 0:
                layers.append(torch.nn.Dropout(recipe["dropout"]))
    model = torch.nn.Sequential(*layers).to(device)
    lr, decay = recipe["learning_rate"], recipe["weight_decay"]
    optimizer = {
        "adam": lambda: torch.optim.Adam(model.parameters(), lr=lr, eps=1e-7, weight_decay=decay),
        "adamw": lambda: torch.optim.AdamW(model.parameters(), lr=lr, eps=1e-7, weight_decay=decay),
        "sgd": lambda: torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=decay),
    }[recipe["optimizer"]]()
    steps = -(-len(x) // recipe["batch_size"])
    warmup, total = recipe["warmup_epochs"] * steps, recipe["epochs"] * steps

    def rate(step):
        if step < warmup:
            return (step + 1) / warmup
        if recipe["schedule"] == "cosine":
            return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))
        return 1.0

    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, rate)
    distortions = []
    if recipe["rotation"] or recipe["scale"] or recipe["shear"]:
        distortions.append(transforms.RandomAffine(
            degrees=recipe["rotation"], scale=(1 - recipe["scale"], 1 + recipe["scale"]),
            shear=recipe["shear"]))
    if recipe["elastic_alpha"]:
        distortions.append(transforms.ElasticTransform(
            alpha=float(recipe["elastic_alpha"]), sigma=float(recipe["elastic_sigma"])))
    distort = transforms.Compose(distortions) if distortions else None

    class Digits(torch.utils.data.Dataset):
        def __len__(self):
            return len(x)

        def __getitem__(self, index):
            image = torch.tensor(x[index]).reshape(1, 28, 28)
            if distort is not None:
                image = distort(image)
            return image.reshape(784).float() / 255.0 - 0.5, int(y[index])

    loader = torch.utils.data.DataLoader(
        Digits(), batch_size=recipe["batch_size"], shuffle=True,
        num_workers=1 if distort is not None else 0, persistent_workers=distort is not None)
    test_x = torch.from_numpy(scale(xt)).to(device)
    test_y = torch.from_numpy(yt.astype(np.int64)).to(device)
    loss_fn = torch.nn.CrossEntropyLoss()
    seconds = []
    for _ in range(args.epochs):
        started = time.perf_counter()
        model.train()
        for images, labels in loader:
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(images.to(device)), labels.to(device))
            loss.backward()
            optimizer.step()
            schedule.step()
        model.eval()
        with torch.no_grad():
            accuracy = (model(test_x).argmax(1) == test_y).float().mean().item()
        seconds.append(time.perf_counter() - started)

    def predict(images):
        with torch.no_grad():
            return torch.softmax(model(torch.from_numpy(scale(images)).to(device)), 1).cpu().numpy()

    return seconds, accuracy, inference_times(predict, data[2])


def run_numpy(args, data):
    import numpy as np

    rng = np.random.default_rng(args.seed)
    x, y, xt, yt = data
    x, xt = scale(x), scale(xt)
    sizes = [784, args.hidden, args.hidden, 10]
    params = []
    for fan_in, fan_out in zip(sizes, sizes[1:]):
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        params += [rng.uniform(-limit, limit, (fan_in, fan_out)).astype(np.float32),
                   np.zeros(fan_out, np.float32)]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    b1, b2, eps, lr = 0.9, 0.999, 1e-7, args.lr

    def forward(images):
        activations = [images]
        for i in range(0, len(params), 2):
            z = activations[-1] @ params[i] + params[i + 1]
            activations.append(np.maximum(z, 0) if i < len(params) - 2 else z)
        return activations

    step = 0
    seconds = []
    for _ in range(args.epochs):
        started = time.perf_counter()
        order = rng.permutation(len(x))
        for start in range(0, len(x), args.batch_size):
            batch = order[start : start + args.batch_size]
            acts = forward(x[batch])
            logits = acts[-1]
            probs = np.exp(logits - logits.max(1, keepdims=True))
            probs /= probs.sum(1, keepdims=True)
            grad = probs
            grad[np.arange(len(batch)), y[batch]] -= 1
            grad /= len(batch)
            grads = [None] * len(params)
            for layer in reversed(range(len(params) // 2)):
                grads[2 * layer] = acts[layer].T @ grad
                grads[2 * layer + 1] = grad.sum(0)
                if layer:
                    grad = (grad @ params[2 * layer].T) * (acts[layer] > 0)
            step += 1
            lr_t = lr * np.sqrt(1 - b2**step) / (1 - b1**step)
            for p, g, m_i, v_i in zip(params, grads, m, v):
                m_i *= b1
                m_i += (1 - b1) * g
                v_i *= b2
                v_i += (1 - b2) * g * g
                p -= lr_t * m_i / (np.sqrt(v_i) + eps)
        accuracy = float((forward(xt)[-1].argmax(1) == yt).mean())
        seconds.append(time.perf_counter() - started)

    def predict(images):
        logits = forward(scale(images))[-1]
        probs = np.exp(logits - logits.max(1, keepdims=True))
        return probs / probs.sum(1, keepdims=True)

    return seconds, accuracy, inference_times(predict, data[2])


def run_sklearn(args, data):
    import numpy as np
    from sklearn.neural_network import MLPClassifier

    x, y, xt, yt = data
    x, xt = scale(x), scale(xt)
    model = MLPClassifier(
        hidden_layer_sizes=(args.hidden, args.hidden), activation="relu", solver="adam",
        alpha=0.0, batch_size=args.batch_size, learning_rate_init=args.lr,
        epsilon=1e-7, shuffle=True, random_state=args.seed,
    )
    classes = np.arange(10)
    seconds = []
    for _ in range(args.epochs):
        started = time.perf_counter()
        model.partial_fit(x, y, classes=classes)
        accuracy = float(model.score(xt, yt))
        seconds.append(time.perf_counter() - started)
    predict = lambda images: model.predict_proba(scale(images))
    return seconds, accuracy, inference_times(predict, data[2])


def run_matmul(device, size=2048, reps=10):
    """Median GFLOP/s of square float32 products in NumPy (its BLAS) and in
    PyTorch on `device` (full f32: TF32 stays off, PyTorch's default)."""
    import numpy as np
    import torch

    rng = np.random.default_rng(0)
    a = rng.uniform(-1, 1, (size, size)).astype(np.float32)
    b = rng.uniform(-1, 1, (size, size)).astype(np.float32)
    ta, tb = torch.from_numpy(a).to(device), torch.from_numpy(b).to(device)

    def torch_product():
        ta @ tb
        if device != "cpu":
            torch.cuda.synchronize()

    flops = 2.0 * size**3
    try:
        from threadpoolctl import threadpool_info

        blas = [f"{pool.get('internal_api')} {pool.get('version')} ({pool.get('architecture')}, "
                f"{pool.get('num_threads')} threads)" for pool in threadpool_info()
                if pool.get("user_api") == "blas"]
    except ImportError:
        blas = []
    return {
        "size": size,
        "blas": blas,
        "numpy_gflops": flops / median_seconds(reps, lambda: a @ b) / 1e9,
        f"torch-{device}_gflops": flops / median_seconds(reps, torch_product) / 1e9,
    }


SYSTEMS = {"keras": run_keras, "torch": run_torch, "numpy": run_numpy, "sklearn": run_sklearn,
           "recipe": run_recipe}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("system", choices=[*SYSTEMS, "matmul"])
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.001)
    parser.add_argument("--device", default="cpu", help="PyTorch's device: cpu or cuda")
    parser.add_argument("--recipe", help="recipe: the preset as JSON (see speedrun.py)")
    args = parser.parse_args()
    if args.system == "recipe" and not args.recipe:
        sys.exit("error: recipe needs --recipe JSON")
    if args.system == "matmul":
        print(json.dumps(run_matmul(args.device)))
        return
    if args.data_dir is None:
        sys.exit("error: --data-dir is needed to train")
    seconds, accuracy, inference = SYSTEMS[args.system](args, load(args.data_dir))
    print(json.dumps({
        "system": args.system, "seed": args.seed, "seconds_per_epoch": seconds,
        "test_accuracy": accuracy, **inference,
    }))


if __name__ == "__main__":
    main()
