"""Reads a run's TensorBoard event files back with TensorBoard's own reader
(tensorboard.backend.event_processing.event_accumulator) and compares every
epoch value with the run's metrics.csv (and grad_norms.csv, when the run
recorded gradient norms).

    python tensorboard_check.py RUN_DIR [--tolerance 1e-6]
    python tensorboard_check.py --runs DIR

With --runs: the runs TensorBoard finds under DIR (as `tensorboard --logdir
DIR` would list them, e.g. every run of a sweep), each with its scalar tags,
as one JSON line.

Prints one JSON line: the epochs and values compared, the largest absolute
difference, and the learning rates and batch_loss points as read (for the
caller to check); exits 1 when a value is missing or differs by more than the
tolerance (metrics.csv holds 6 decimals, the event files float32).
"""

import argparse
import csv
import json
import sys
from pathlib import Path

from tensorboard.backend.event_processing import event_accumulator, event_multiplexer


def scalars(directory):
    """{tag: [(step, value), ...]} of every scalar in the event files of `directory`."""
    accumulator = event_accumulator.EventAccumulator(str(directory), size_guidance={event_accumulator.SCALARS: 0})
    accumulator.Reload()
    return {tag: [(e.step, e.value) for e in accumulator.Scalars(tag)] for tag in accumulator.Tags()["scalars"]}


def runs(directory):
    """{run: [scalar tags]} of every run TensorBoard finds under `directory`."""
    multiplexer = event_multiplexer.EventMultiplexer()
    multiplexer.AddRunsFromDirectory(str(directory))
    multiplexer.Reload()
    return {run: sorted(tags["scalars"]) for run, tags in sorted(multiplexer.Runs().items())}


def rows(path):
    with open(path, newline="") as handle:
        return [{key: float(value) for key, value in row.items()} for row in csv.DictReader(handle)]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("run", nargs="?")
    parser.add_argument("--tolerance", type=float, default=1e-6)
    parser.add_argument("--runs", help="list the runs under this directory instead")
    args = parser.parse_args()
    if args.runs:
        print(json.dumps(runs(args.runs)))
        return
    if not args.run:
        parser.error("give a run directory, or --runs DIR")
    run = Path(args.run)
    train = scalars(run / "tensorboard" / "train")
    validation = scalars(run / "tensorboard" / "validation")

    # (tensorboard values, tag, metrics.csv column)
    expected = []
    metrics = rows(run / "metrics.csv")
    for name, column in [("epoch_loss", "train_loss"), ("epoch_accuracy", "train_accuracy")]:
        expected.append((train, name, {int(r["epoch"]): r[column] for r in metrics}))
    for name, column in [("epoch_loss", "valid_loss"), ("epoch_accuracy", "valid_accuracy")]:
        expected.append((validation, "validation/" + name, {int(r["epoch"]): r[column] for r in metrics}))
    grad_norms = run / "grad_norms.csv"
    if grad_norms.exists():
        norms = rows(grad_norms)
        for layer in range(len(norms[0]) - 1):
            column = f"layer{layer + 1}"
            expected.append((train, f"epoch_grad_norm/layer_{layer}", {int(r["epoch"]): r[column] for r in norms}))

    problems, compared, worst = [], 0, 0.0
    for values, tag, want in expected:
        got = dict(values.get(tag.removeprefix("validation/"), []))
        if sorted(got) != sorted(want):
            problems.append(f"{tag}: steps {sorted(got)} in the event files, epochs {sorted(want)} in the CSV")
            continue
        for epoch, value in want.items():
            difference = abs(got[epoch] - value)
            worst = max(worst, difference)
            compared += 1
            if difference > args.tolerance * max(1.0, abs(value)):
                problems.append(f"{tag} at epoch {epoch}: {got[epoch]} in the event files, {value} in the CSV")

    print(json.dumps({
        "epochs": len(metrics),
        "compared": compared,
        "max_abs_difference": worst,
        "learning_rate": train.get("epoch_learning_rate", []),
        "batch_loss": train.get("batch_loss", []),
        "tags": {"train": sorted(train), "validation": sorted(validation)},
    }))
    for problem in problems:
        print(problem, file=sys.stderr)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
