#!/usr/bin/env python3
"""Checks that every cargo command of the README and the tests builds the
crates Burn stands on with the same features, so that they share one build
of Burn.

Cargo unifies features per build: the packages selected and, for `cargo
test`, their dev-dependencies. A crate that one build gives more features
than another is compiled again in it, with Burn above it (about 25 minutes
on 2 cores): tract-onnx, the tests' dev-dependency, asks for more of
`half`, `ndarray`, ...; `infer`'s server for more of `serde_json`, ... than
`cargo run -p train` alone needs. `crates/workspace-hack` pins the union.
This script takes the workspace's dependency tree (`cargo tree --workspace
-e normal`, what `cargo build --workspace` builds) as the reference and
compares with it the tree with dev-dependencies (`cargo test --workspace`)
and the tree of each package with a binary alone (`cargo run -p train`,
...); for each crate of the reference (same name and version) built with
other features, it prints the features to pin in
`crates/workspace-hack/Cargo.toml`, and exits with 1 when there is one.

Usage: python3 scripts/check_feature_pins.py
"""

import json
import re
import subprocess
import sys

LINE = re.compile(r"^(?P<name>\S+) (?P<version>v\S+)(?: \((?P<source>[^)]*)\))? \[(?P<features>[^\]]*)\]$")


def parse(tree: str) -> dict[tuple[str, str], set[frozenset[str]]]:
    """`cargo tree -f '{p} [{f}]' --prefix none` lines as (name, version) ->
    the feature sets it is built with (two when host and target differ).
    The workspace's own crates (a path source) are left out: they build in
    seconds whatever their features."""
    crates: dict[tuple[str, str], set[frozenset[str]]] = {}
    for line in tree.splitlines():
        line = line.removesuffix(" (*)").strip()
        if not line:
            continue
        match = LINE.match(line)
        if match is None:
            raise ValueError(f"cargo tree printed a line this script cannot read: {line!r}")
        if match["source"] and match["source"].startswith("/"):
            continue
        features = frozenset(f for f in match["features"].split(",") if f)
        crates.setdefault((match["name"], match["version"]), set()).add(features)
    return crates


def differences(reference, other, build: str) -> list[str]:
    """For each crate of `reference` that `other` builds with other features:
    `name version: <build> adds <features>` (or `drops` when `other` has
    fewer)."""
    found = []
    for key in sorted(reference):
        if key in other and other[key] != reference[key]:
            name, version = key
            ours, theirs = set().union(*reference[key]), set().union(*other[key])
            if theirs - ours:
                change = f"adds {', '.join(sorted(theirs - ours))}"
            elif ours - theirs:
                change = f"drops {', '.join(sorted(ours - theirs))}"
            else:
                change = "splits its features otherwise"
            found.append(f"{name} {version}: {build} {change}")
    return found


def tree(*selection: str) -> str:
    """`cargo tree` of `selection` (`--workspace -e normal`, ...), one crate
    and its features a line; exits with cargo's error."""
    command = ["cargo", "tree", *selection, "-f", "{p} [{f}]", "--prefix", "none"]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"error: `{' '.join(command)}` failed: {done.stderr.strip()}")
    return done.stdout


def binary_packages() -> list[str]:
    """The workspace's packages that have a binary (`train`, `infer`, ...)."""
    command = ["cargo", "metadata", "--no-deps", "--format-version", "1"]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"error: `{' '.join(command)}` failed: {done.stderr.strip()}")
    packages = json.loads(done.stdout)["packages"]
    return sorted(p["name"] for p in packages if any("bin" in t["kind"] for t in p["targets"]))


def main() -> int:
    try:
        reference = parse(tree("--workspace", "-e", "normal"))
        found = differences(reference, parse(tree("--workspace", "-e", "normal,dev")), "cargo test")
        packages = binary_packages()
        for package in packages:
            found += differences(reference, parse(tree("-p", package, "-e", "normal")), f"cargo run -p {package}")
    except ValueError as error:
        sys.exit(f"error: {error}")
    for line in found:
        print(f"feature pins: {line} (pin them in crates/workspace-hack/Cargo.toml)")
    if found:
        return 1
    print(
        "cargo build --workspace, cargo test --workspace and cargo run -p "
        + "/".join(packages)
        + " build every shared crate with the same features"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
