#!/usr/bin/env python3
"""Checks that `cargo test` builds the crates `cargo build` builds with the
same features, so that the two share one build of Burn.

Cargo unifies features per build: a dev-dependency (tract-onnx, which the
tests run the exported ONNX graphs in) that asks a crate Burn also builds on
for more features makes `cargo test` compile that crate, and Burn above it,
a second time (about 25 minutes on 2 cores). `crates/workspace-hack` pins
those features for every build. This script compares the workspace's
dependency tree without and with dev-dependencies (`cargo tree -e normal`
and `-e normal,dev`, target side) and prints, for each crate of the first
tree (same name and version) whose features differ in the second, the
features to add to `crates/workspace-hack/Cargo.toml`; the exit status is 1
when there is one.

Usage: python3 scripts/check_feature_pins.py
"""

import re
import subprocess
import sys

LINE = re.compile(r"^(?P<name>\S+) (?P<version>v\S+)(?: \([^)]*\))? \[(?P<features>[^\]]*)\]$")


def parse(tree: str) -> dict[tuple[str, str], set[frozenset[str]]]:
    """`cargo tree -f '{p} [{f}]' --prefix none` lines as (name, version) ->
    the feature sets it is built with (two when host and target differ)."""
    crates: dict[tuple[str, str], set[frozenset[str]]] = {}
    for line in tree.splitlines():
        line = line.removesuffix(" (*)").strip()
        if not line:
            continue
        match = LINE.match(line)
        if match is None:
            raise ValueError(f"cargo tree printed a line this script cannot read: {line!r}")
        features = frozenset(f for f in match["features"].split(",") if f)
        crates.setdefault((match["name"], match["version"]), set()).add(features)
    return crates


def differences(normal, with_dev) -> list[str]:
    """For each crate of `normal` built with other features in `with_dev`:
    `name version: features the tests add`."""
    found = []
    for key in sorted(normal):
        if key in with_dev and with_dev[key] != normal[key]:
            added = set().union(*with_dev[key]) - set().union(*normal[key])
            name, version = key
            what = ", ".join(sorted(added)) if added else "other feature sets"
            found.append(f"{name} {version}: the tests add {what}")
    return found


def tree(edges: str) -> str:
    """`cargo tree` of the workspace over `edges`; exits with cargo's error."""
    command = ["cargo", "tree", "--workspace", "-e", edges, "-f", "{p} [{f}]", "--prefix", "none"]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"error: `{' '.join(command)}` failed: {done.stderr.strip()}")
    return done.stdout


def main() -> int:
    try:
        found = differences(parse(tree("normal")), parse(tree("normal,dev")))
    except ValueError as error:
        sys.exit(f"error: {error}")
    for line in found:
        print(f"feature pins: {line} (pin them in crates/workspace-hack/Cargo.toml)")
    if found:
        return 1
    print("cargo build and cargo test build every shared crate with the same features")
    return 0


if __name__ == "__main__":
    sys.exit(main())
