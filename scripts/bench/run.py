"""Runs the whole benchmark and prints one Markdown report: simple-nn's `train`
on each backend against Keras, PyTorch, NumPy and scikit-learn on the same MNIST
files with the same config, the machine's matmul peak, the time split of an
epoch, the 784-512-512-10 scaling run, the wide networks' matrix products
against the same products alone, inference times, and the issue's goals.

Called by scripts/bench.sh, which builds the binaries and the peers' virtual
environment; needs only the standard library itself.
"""

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

PEERS = ["keras", "torch", "numpy", "sklearn"]
PEER_NAMES = {
    "keras": "Keras (TensorFlow)",
    "torch": "PyTorch, eager loop",
    "numpy": "NumPy, hand-written",
    "sklearn": "scikit-learn MLPClassifier",
}


# Some machines set these for old OpenBLAS builds that miscompute on their
# processor; they slow a current NumPy down. The peers run without them (our
# binaries do not read them).
PEER_ENV = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}


def run_measured(command, what, env=None):
    """Runs command and returns (stdout, peak RSS in bytes), read from wait4.
    stderr goes to a file, so a chatty child cannot fill a pipe and stall."""
    with tempfile.TemporaryFile(mode="w+") as stderr:
        process = subprocess.Popen(
            [str(part) for part in command], stdout=subprocess.PIPE, stderr=stderr,
            stdin=subprocess.DEVNULL, text=True, env=env,
        )
        stdout = process.stdout.read()
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            stderr.seek(0)
            tail = "\n".join(stderr.read().strip().splitlines()[-5:])
            sys.exit(f"error: {what} failed (exit {process.returncode}):\n{tail}")
    return stdout, usage.ru_maxrss * 1024


def last_json(stdout, what):
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    if not lines:
        sys.exit(f"error: {what} printed no JSON result")
    return json.loads(lines[-1])


def steady(seconds_per_epoch):
    """Median of epochs 2..N (epoch 1 pays for warm-up); epoch 1 if it is the only one."""
    return statistics.median(seconds_per_epoch[1:] or seconds_per_epoch)


def train_flops(hidden1, hidden2, train_images, test_images):
    """Floating-point operations of one epoch: forward, backward (no input
    gradient for the first layer) and the test evaluation's forward."""
    layers = [(784, hidden1), (hidden1, hidden2), (hidden2, 10)]
    forward = sum(2 * a * b for a, b in layers)
    backward = 2 * forward - 2 * 784 * hidden1
    return train_images * (forward + backward) + test_images * forward


def ours(args, backend, seed, artifacts, epochs, run_name, flags=()):
    """Trains with `train`'s own flags (so a renamed config key fails here,
    not silently), plus `flags`."""
    command = [
        args.bin_dir / "train", "--plain", "--backend", backend, "--seed", seed,
        "--epochs", epochs, "--artifacts", artifacts, "--run-name", run_name,
        "--overwrite", "--data-dir", args.data_dir, *flags,
    ]
    _, peak = run_measured(command, f"train --backend {backend} --seed {seed}")
    run_dir = Path(artifacts) / run_name
    result = json.loads((run_dir / "test.json").read_text())
    return {
        "seconds": steady(result["seconds_per_epoch"]),
        "accuracy": result["test_accuracy"],
        "peak": peak,
        "run_dir": run_dir,
    }


def peer(args, system, seed):
    command = [
        args.python, Path(__file__).with_name("peers.py"), system, "--data-dir", args.data_dir,
        "--seed", seed, "--epochs", args.epochs, "--device", args.torch_device,
    ]
    stdout, peak = run_measured(command, f"peers.py {system} --seed {seed}", PEER_ENV)
    result = last_json(stdout, f"peers.py {system}")
    return {
        "seconds": steady(result["seconds_per_epoch"]),
        "accuracy": result["test_accuracy"],
        "peak": peak,
        "all_seconds": result["all_seconds"],
        "single_seconds": result["single_seconds"],
    }


def summarise(name, runs, inference):
    return {
        "name": name,
        "seconds": statistics.median(r["seconds"] for r in runs),
        "accuracy": statistics.mean(r["accuracy"] for r in runs),
        "peak": max(r["peak"] for r in runs),
        "all_seconds": inference["all_seconds"],
        "single_seconds": inference["single_seconds"],
    }


def machine():
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    description = f"{cpu}, {os.cpu_count()} logical cores, {platform.system()} {platform.machine()}"
    try:
        gpus = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                              capture_output=True, text=True, timeout=30).stdout.split("\n")
        description += "".join(f", {gpu.strip()}" for gpu in gpus if gpu.strip())
    except (OSError, subprocess.SubprocessError):
        pass
    return description


def publish(lines, out):
    """Prints the report's `lines` and, given `out`, writes them there too
    (through a scratch file, so a reader never sees half a report)."""
    report = "\n".join(lines) + "\n"
    print(report, end="")
    if out:
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_text(report)
        tmp.replace(out)


def fmt_ms(seconds):
    return f"{seconds * 1e3:.2f} ms" if seconds >= 1e-3 else f"{seconds * 1e6:.0f} µs"


def wide_row(profile):
    """One row of the wide networks' table from `bench profile`'s JSON: the
    forward and backward phases, the matrix products inside them and the same
    products alone (the gemm's own speed at those shapes), what the two phases
    spend besides the products, and the optimizer."""
    s = profile["seconds"]
    p = s["products"]
    passes = s["forward"] + s["backward"]
    return (f"| {profile['network']} | {passes:.2f} | {p['inside']:.2f} ({p['gflop'] / p['inside']:.0f}) | "
            f"{p['alone']:.2f} ({p['gflop'] / p['alone']:.0f}) | {p['alone'] / p['inside'] * 100:.0f}% | "
            f"{passes - p['inside']:.2f} | {s['optimizer']:.2f} | {profile['total_seconds']:.2f} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin-dir", type=Path, required=True, help="holds train and bench")
    parser.add_argument("--python", type=Path, required=True, help="the peers' interpreter")
    parser.add_argument("--data-dir", type=Path, help="MNIST IDX files (default: train's cache)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--backends", default="flex,ndarray")
    parser.add_argument("--peers", default=",".join(PEERS))
    parser.add_argument("--torch-device", default="cpu", help="PyTorch's device: cpu or cuda")
    parser.add_argument("--widths", default="512,800,1200",
                        help="hidden widths of the wide networks' table (784-W-W-10, batch 128)")
    parser.add_argument("--out", type=Path, help="also write the report here")
    args = parser.parse_args()
    widths = [int(w) for w in args.widths.split(",") if w]
    backends = [b for b in args.backends.split(",") if b]
    peers = [p for p in args.peers.split(",") if p]
    unknown = [p for p in peers if p not in PEERS]
    if unknown:
        sys.exit(f"error: --peers: unknown {', '.join(unknown)}; expected some of {', '.join(PEERS)}")
    if args.epochs < 2:
        sys.exit("error: --epochs must be at least 2 (epoch 1 is warm-up)")
    seeds = range(1, args.seeds + 1)
    bench = args.bin_dir / "bench"
    log = lambda message: print(message, file=sys.stderr, flush=True)

    # The profile first: it also finds (and caches) the data for everything else.
    profiles = {}
    for backend in backends:
        log(f"profiling one epoch on {backend}")
        command = [bench, "profile", "--backend", backend, "--epochs", 2]
        if args.data_dir:
            command += ["--data-dir", args.data_dir]
        profiles[backend] = last_json(run_measured(command, f"bench profile {backend}")[0], "bench")
    if args.data_dir is None:
        args.data_dir = Path(profiles[backends[0]]["data_dir"])

    wides = []
    for width in widths:
        log(f"profiling 784-{width}-{width}-10 at batch 128 on {backends[0]}")
        command = [bench, "profile", "--backend", backends[0], "--epochs", 2, "--batch-size", 128,
                   "--hidden", width, "--data-dir", args.data_dir]
        wides.append(last_json(run_measured(command, f"bench profile --hidden {width}")[0], "bench"))

    log("measuring the matmul peak")
    main_backend = backends[0]
    ours_matmul = last_json(run_measured(
        [bench, "matmul", "--backend", main_backend, "--size", 2048], "bench matmul")[0], "bench")
    peer_matmul = {}
    if peers:
        stdout, _ = run_measured([args.python, Path(__file__).with_name("peers.py"), "matmul",
                                  "--device", args.torch_device], "peers.py matmul", PEER_ENV)
        peer_matmul = last_json(stdout, "peers.py matmul")
    matmuls = {f"burn-{main_backend}": ours_matmul["gflops"]}
    matmuls.update({k.removesuffix("_gflops"): v for k, v in peer_matmul.items() if k.endswith("_gflops")})
    blas = peer_matmul.get("blas", [])
    peak_gflops = max(matmuls.values())

    rows = []
    with tempfile.TemporaryDirectory(prefix="simple-nn-bench-") as artifacts:
        for backend in backends:
            runs = []
            for seed in seeds:
                log(f"training simple-nn on {backend}, seed {seed}")
                runs.append(ours(args, backend, seed, artifacts, args.epochs, f"{backend}-{seed}"))
            stdout, _ = run_measured(
                [bench, "infer", "--backend", backend, "--run", runs[0]["run_dir"], "--data-dir", args.data_dir],
                f"bench infer {backend}",
            )
            row = summarise(f"simple-nn, Burn {backend}", runs, last_json(stdout, "bench infer"))
            row["backend"] = backend
            rows.append(row)

        log(f"training 784-512-512-10 at batch 128 on {main_backend}")
        wide = ours(args, main_backend, 1, artifacts, 2, "wide",
                    ["--batch-size", "128", "--set", "model.hidden=[512, 512]"])
    wide_gflops = train_flops(512, 512, 60000, 10000) / wide["seconds"] / 1e9

    for system in peers:
        runs = []
        for seed in seeds:
            log(f"training {system}, seed {seed}")
            runs.append(peer(args, system, seed))
        name = PEER_NAMES[system] + (f" ({args.torch_device})" if system == "torch" else "")
        rows.append(summarise(name, runs, runs[0]) | {"system": system})

    reference = rows[0]
    flops = train_flops(64, 64, 60000, 10000)
    today = datetime.date.today().isoformat()
    out = []
    emit = out.append
    emit(f"Measured {today} on {machine()} with `bash scripts/bench.sh`.")
    emit(f"Tutorial config: 784-64-64-10 ReLU, Adam lr 0.001, batch 32, {args.epochs} epochs, "
         f"seeds 1-{args.seeds}. Seconds per epoch: median of epochs 2..{args.epochs} over the seeds, "
         "each epoch a training pass plus a test evaluation. Accuracy: mean over the seeds. "
         "Memory: the largest peak resident set of a whole run (process start to exit). "
         "Inference: median time from u8 pixels in memory to probabilities on the host.")
    emit("")
    emit(f"| system | s/epoch | time / ours | test accuracy | peak memory | 10,000 images | 1 image |")
    emit("|---|---|---|---|---|---|---|")
    for row in rows:
        ratio = row["seconds"] / reference["seconds"]
        emit(f"| {row['name']} | {row['seconds']:.3f} | {ratio:.2f}x | {row['accuracy'] * 100:.2f}% | "
             f"{row['peak'] / 1e6:.0f} MB | {fmt_ms(row['all_seconds'])} | {fmt_ms(row['single_seconds'])} |")
    emit("")
    floor = flops / (peak_gflops * 1e9)
    emit(f"f32 matmul peak (2048x2048, median): " + ", ".join(f"{k} {v:.0f}" for k, v in matmuls.items())
         + f" GFLOP/s. One epoch is {flops / 1e9:.1f} GFLOP, so the arithmetic floor is {fmt_ms(floor)} "
         f"at {peak_gflops:.0f} GFLOP/s; simple-nn's epoch is {reference['seconds'] / floor:.1f}x that."
         + (f" NumPy's BLAS: {'; '.join(blas)}." if blas else ""))
    emit("")
    emit(f"Scaling: 784-512-512-10 at batch 128 on {main_backend}: {wide['seconds']:.2f} s/epoch, "
         f"{wide_gflops:.0f} GFLOP/s = {wide_gflops / peak_gflops * 100:.0f}% of the matmul peak.")
    emit("")
    if any(w["seconds"]["products"] for w in wides):
        emit(f"Wide networks at batch 128 on {main_backend} (`bench profile --batch-size 128 --hidden W`, "
             "epoch 2): seconds per epoch, GFLOP/s in brackets; the products alone are the same shapes "
             "and operand layouts run one at a time on buffers kept between runs, each the median of 21.")
        emit("")
        emit("| network | forward + backward | products inside | same products alone | inside vs alone "
             "| rest of forward + backward | optimizer | hand total |")
        emit("|---|---|---|---|---|---|---|---|")
        for wide_profile in wides:
            if wide_profile["seconds"]["products"]:
                emit(wide_row(wide_profile))
        emit("")
    emit("Where an epoch goes (`bench profile`: the same work as `train`'s epoch, by hand, "
         "epoch 2, on the training thread; the loop's share is `train`'s epoch minus the hand-written "
         "one: its bookkeeping, less what it saves by building batches on another thread):")
    emit("")
    emit("| backend | data | forward | backward | optimizer | metrics | evaluation | hand total | loop's share | train epoch |")
    emit("|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        if "backend" not in row:
            continue
        p = profiles[row["backend"]]
        s = p["seconds"]
        learner = row["seconds"] - p["total_seconds"]
        emit(f"| {row['backend']} | " + " | ".join(f"{s[k]:.3f}" for k in
             ["data", "forward", "backward", "optimizer", "metrics", "evaluation"])
             + f" | {p['total_seconds']:.3f} | {learner:.3f} | {row['seconds']:.3f} |")
    emit("")
    goals = []
    by_system = {row.get("system"): row for row in rows}
    for system, factor in [("keras", 9), ("torch", 5), ("numpy", 2.5)]:
        if system in by_system:
            speedup = by_system[system]["seconds"] / reference["seconds"]
            goals.append((f"at least {factor}x faster than {PEER_NAMES[system]}", f"{speedup:.1f}x", speedup >= factor))
    goals.append(("at most 0.25 s per epoch", f"{reference['seconds']:.3f} s", reference["seconds"] <= 0.25))
    above_floor = reference["seconds"] / floor
    goals.append(("within 5x of the arithmetic floor", f"{above_floor:.1f}x", above_floor <= 5))
    if "keras" in by_system:
        keras = by_system["keras"]["accuracy"]
        goals.append(("test accuracy no worse than Keras's", f"{reference['accuracy'] * 100:.2f}% vs {keras * 100:.2f}%",
                      reference["accuracy"] >= keras))
    goals.append(("peak memory at most 100 MB", f"{reference['peak'] / 1e6:.0f} MB", reference["peak"] <= 100e6))
    goals.append(("784-512-512-10 at batch 128: at least 50% of the matmul peak",
                  f"{wide_gflops / peak_gflops * 100:.0f}%", wide_gflops >= 0.5 * peak_gflops))
    if "torch" in by_system:
        torch = by_system["torch"]["all_seconds"]
        goals.append(("10,000 images faster than PyTorch", f"{fmt_ms(reference['all_seconds'])} vs {fmt_ms(torch)}",
                      reference["all_seconds"] < torch))
    goals.append(("one image under 1 ms", fmt_ms(reference["single_seconds"]), reference["single_seconds"] < 1e-3))
    emit("| goal | measured | met |")
    emit("|---|---|---|")
    for goal, measured, met in goals:
        emit(f"| {goal} | {measured} | {'yes' if met else 'no'} |")
    publish(out, args.out)


if __name__ == "__main__":
    main()
