"""The speed-run table: wall time until each shipped preset reaches 98%, 99%
and 99.5% test accuracy on this machine (the mean over seeds), and beside it
the same recipe's seconds per epoch in PyTorch (the same network, optimizer,
schedule and batch size, torchvision's RandomAffine and ElasticTransform for
the distortions), measured side by side in one run; printed as Markdown.

Each run is `train --config PRESET --seed S`, followed through its
checkpoint record (checkpoint/latest.json, every finished epoch's figures)
and stopped with SIGINT once it has reached every target or spent its
budget; a preset that validates on the test set (no `[validation] split`)
has a test accuracy per epoch, which is what the table reads. Time to a
target is the sum of the epochs' seconds (training plus evaluation) up to
the first epoch at or above it: process start-up and data loading are not
counted.

Called by `bash scripts/bench.sh speedrun ...`; needs only the standard
library itself.
"""

import argparse
import csv
import json
import math
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import run

DEFAULT_PRESETS = "configs/best.toml,configs/speedrun.toml,configs/distorted.toml"


def time_to(epochs, target):
    """(seconds, epoch) at which `epochs` (dicts with `seconds` and
    `valid_accuracy`, in order) first reach `target`, or None."""
    elapsed = 0.0
    for epoch in epochs:
        elapsed += epoch["seconds"]
        if epoch["valid_accuracy"] >= target:
            return elapsed, epoch["epoch"]
    return None


def committed_epochs(run_dir):
    """The finished epochs' figures: from `metrics.csv` once the run has
    ended, before that from its checkpoint record (none yet: an empty
    list)."""
    try:
        with open(run_dir / "metrics.csv", newline="") as file:
            return [{key: (int(value) if key == "epoch" else float(value)) for key, value in row.items()}
                    for row in csv.DictReader(file)]
    except OSError:
        pass
    try:
        return json.loads((run_dir / "checkpoint" / "latest.json").read_text())["epochs"]
    except (OSError, ValueError, KeyError):
        return []


def race(args, preset, seed, artifacts, targets):
    """Trains `preset` with `seed` until every target is reached, the preset
    ends, or the budget is spent; returns the run's epochs and directory."""
    name = f"{Path(preset).stem}-{seed}"
    run_dir = Path(artifacts) / name
    command = [
        args.bin_dir / "train", "--plain", "--config", preset, "--seed", seed,
        "--artifacts", artifacts, "--run-name", name, "--overwrite", "--data-dir", args.data_dir,
    ]
    started = time.monotonic()
    with tempfile.TemporaryFile(mode="w+") as log:
        process = subprocess.Popen([str(part) for part in command], stdin=subprocess.DEVNULL,
                                   stdout=log, stderr=subprocess.STDOUT, text=True)
        while process.poll() is None:
            epochs = committed_epochs(run_dir)
            done = all(time_to(epochs, target) for target in targets)
            if done or time.monotonic() - started > args.budget_minutes * 60:
                process.send_signal(signal.SIGINT)
                break
            time.sleep(0.5)
        process.wait()
        if process.returncode not in (0, 128 + signal.SIGINT):
            log.seek(0)
            tail = "\n".join(log.read().strip().splitlines()[-5:])
            sys.exit(f"error: train --config {preset} --seed {seed} failed "
                     f"(exit {process.returncode}):\n{tail}")
    return committed_epochs(run_dir), run_dir


def minutes(seconds):
    return f"{int(seconds // 60)} min {seconds % 60:04.1f} s" if seconds >= 60 else f"{seconds:.1f} s"


def reached(races, target):
    """The table's cell for `target` over the seeds' runs: the mean time and
    epoch when every seed reached it, else how far they got."""
    times = [time_to(epochs, target) for epochs in races]
    if all(times):
        seconds = statistics.mean(t[0] for t in times)
        epochs = "/".join(str(t[1]) for t in times)
        return f"{minutes(seconds)} (epoch {epochs})"
    longest = max(sum(e["seconds"] for e in epochs) for epochs in races)
    count = sum(1 for t in times if t)
    if count:
        return f"reached by {count} of {len(races)} seeds only, in {minutes(longest)}"
    return f"not reached in {minutes(longest)}"


def recipe(config):
    """The parts of a resolved `config.toml` a peer needs to train the same
    recipe."""
    optimizer = config.get("optimizer", {})
    schedule = config.get("schedule", {})
    augment = config.get("augment", {})
    model = config.get("model", {})
    return {
        "hidden": model.get("hidden", [64, 64]),
        "activation": model.get("activation", "relu"),
        "dropout": model.get("dropout", 0.0),
        "batch_size": config.get("batch_size", 32),
        "epochs": config.get("epochs", 5),
        "optimizer": optimizer.get("kind", "adam"),
        "learning_rate": optimizer.get("learning_rate", 0.001),
        "weight_decay": optimizer.get("weight_decay", 0.0),
        "schedule": schedule.get("kind", "constant"),
        "warmup_epochs": schedule.get("warmup_epochs", 0),
        "rotation": augment.get("rotation", 0.0),
        "scale": augment.get("scale", 0.0),
        "shear": augment.get("shear", 0.0),
        "elastic_alpha": augment.get("elastic_alpha", 0.0),
        "elastic_sigma": augment.get("elastic_sigma", 4.0),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin-dir", type=Path, required=True, help="holds train")
    parser.add_argument("--python", type=Path, required=True, help="the peers' interpreter")
    parser.add_argument("--data-dir", type=Path, help="MNIST IDX files (default: train's cache)")
    parser.add_argument("--presets", default=DEFAULT_PRESETS, help="comma-separated configs")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--targets", default="0.98,0.99,0.995", help="test accuracies, comma-separated")
    parser.add_argument("--budget-minutes", type=float, default=math.inf,
                        help="stop each run after this long (default: when its preset ends)")
    parser.add_argument("--peers", default="torch", help="torch, or '' for simple-nn alone")
    parser.add_argument("--peer-epochs", type=int, default=3, help="epochs PyTorch is timed for")
    parser.add_argument("--torch-device", default="cpu")
    parser.add_argument("--out", type=Path, help="also write the report here")
    args = parser.parse_args()
    presets = [p for p in args.presets.split(",") if p]
    try:
        targets = [float(t) for t in args.targets.split(",") if t]
    except ValueError:
        sys.exit(f"error: --targets {args.targets}: expected accuracies such as 0.98,0.99")
    if not targets or not all(0 < t <= 1 for t in targets):
        sys.exit(f"error: --targets {args.targets}: expected accuracies in (0, 1]")
    peers = [p for p in args.peers.split(",") if p]
    if any(p != "torch" for p in peers):
        sys.exit(f"error: --peers {args.peers}: the speed run compares with torch only")
    if args.peer_epochs < 2:
        sys.exit("error: --peer-epochs must be at least 2 (epoch 1 is warm-up)")
    for preset in presets:
        try:
            tomllib.loads(Path(preset).read_text())
        except (OSError, tomllib.TOMLDecodeError) as error:
            sys.exit(f"error: --presets: {preset}: {error}")
    log = lambda message: print(message, file=sys.stderr, flush=True)
    if args.data_dir is None:
        args.data_dir = Path(run.last_json(run.run_measured(
            [args.bin_dir / "bench", "profile", "--epochs", 2], "bench profile")[0], "bench")["data_dir"])

    rows = []
    with tempfile.TemporaryDirectory(prefix="simple-nn-speedrun-") as artifacts:
        for preset in presets:
            races = []
            for seed in range(1, args.seeds + 1):
                log(f"racing {preset}, seed {seed}")
                epochs, run_dir = race(args, preset, seed, artifacts, targets)
                races.append(epochs)
            config = tomllib.loads((run_dir / "config.toml").read_text())
            row = {"preset": preset, "races": races, "recipe": recipe(config),
                   "on_test": config.get("validation", {}).get("split", 0.0) == 0.0}
            if peers:
                log(f"timing {preset}'s recipe in PyTorch")
                stdout, _ = run.run_measured(
                    [args.python, Path(__file__).with_name("peers.py"), "recipe", "--data-dir",
                     args.data_dir, "--seed", 1, "--epochs", args.peer_epochs, "--device",
                     args.torch_device, "--recipe", json.dumps(row["recipe"])],
                    "peers.py recipe", run.PEER_ENV)
                row["torch"] = run.steady(run.last_json(stdout, "peers.py recipe")["seconds_per_epoch"])
            rows.append(row)

    today = time.strftime("%Y-%m-%d")
    out = [f"Speed run, measured {today} on {run.machine()} with `bash scripts/bench.sh speedrun`: "
           f"seeds 1-{args.seeds}; time to a test accuracy is the mean over the seeds of the epochs' "
           "seconds up to the first epoch at or above it (epochs that reached it in brackets); "
           "s/epoch is the median of epochs 2 on."]
    out.append("")
    header = ["preset", "recipe", "s/epoch"] + [f"to {t * 100:g}%" for t in targets] + ["best test acc"]
    if peers:
        header += [f"PyTorch s/epoch ({args.torch_device})", "ours faster by"]
    out.append("| " + " | ".join(header) + " |")
    out.append("|" + "---|" * len(header))
    for row in rows:
        r = row["recipe"]
        per_seed = [run.steady([e["seconds"] for e in races]) for races in row["races"] if races]
        seconds = statistics.median(per_seed) if per_seed else math.nan
        distort = r["rotation"] or r["scale"] or r["shear"] or r["elastic_alpha"]
        description = (f"784-{'-'.join(map(str, r['hidden']))}-10, {r['optimizer']} {r['learning_rate']:g}, "
                       f"{r['schedule']}, batch {r['batch_size']}, {r['epochs']} epochs"
                       + (", distorted" if distort else "") + (f", dropout {r['dropout']:g}" if r["dropout"] else ""))
        if row["on_test"]:
            cells = [reached(row["races"], t) for t in targets]
            best = max((e["valid_accuracy"] for races in row["races"] for e in races), default=math.nan)
            best = f"{best * 100:.2f}%"
        else:
            cells = ["n/a (validates on held-out data)"] * len(targets)
            best = "n/a"
        line = [f"`{row['preset']}`", description, f"{seconds:.2f}", *cells, best]
        if peers:
            line += [f"{row['torch']:.2f}", f"{row['torch'] / seconds:.1f}x"]
        out.append("| " + " | ".join(line) + " |")
    run.publish(out, args.out)


if __name__ == "__main__":
    main()
