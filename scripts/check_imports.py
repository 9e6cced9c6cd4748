#!/usr/bin/env python3
"""Finds loops of imports between the files of each crate of the workspace.

A file's imports are the modules of its own crate that its code names:
`use crate::a::b`, `crate::a::f()`, `super::x`, and a name the crate root
re-exports (`crate::Name`, resolved to the file `pub use` takes it from).
Re-exports (`pub use`), `mod` declarations and test code (from a
`#[cfg(test)]` module to the end of the file, and files named `tests.rs`)
are not imports. A loop is a cycle in the graph of files; each is printed as
`crate: a.rs -> b.rs -> a.rs`, and the exit status is 1 when there is one.

Usage: python3 scripts/check_imports.py [CRATES_DIR]   (default: crates)
"""

import re
import sys
from pathlib import Path

NAME = r"[A-Za-z_][A-Za-z0-9_]*"


def module_path(src: Path, file: Path) -> tuple[str, ...]:
    """`src/a/b.rs` and `src/a/b/mod.rs` are `("a", "b")`; `lib.rs` is `()`."""
    parts = list(file.relative_to(src).with_suffix("").parts)
    if parts[-1] == "mod" or (len(parts) == 1 and parts[0] in ("lib", "main")):
        parts = parts[:-1]
    return tuple(parts)


def code_of(text: str) -> str:
    """The file without comments, test modules and re-export lines."""
    cut = re.search(r"^\s*#\[cfg\(test\)\]\s*\n\s*(pub(\(crate\))? )?mod %s\s*\{" % NAME, text, re.M)
    if cut:
        text = text[: cut.start()]
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r"^\s*pub(\([^)]*\))? use [^;]*;", "", text, flags=re.M | re.S)
    return text


def expand(path: str) -> list[list[str]]:
    """`a::{b, c::d}` as `[[a, b], [a, c, d]]` (one level of braces is enough
    for the first module named)."""
    match = re.match(r"((?:%s::)*)\{(.*)\}$" % NAME, path, re.S)
    if not match:
        return [[p for p in path.split("::") if p]]
    prefix = [p for p in match.group(1).split("::") if p]
    out = []
    depth, start, inner = 0, 0, match.group(2)
    pieces = []
    for i, c in enumerate(inner):
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
        elif c == "," and depth == 0:
            pieces.append(inner[start:i])
            start = i + 1
    pieces.append(inner[start:])
    for piece in pieces:
        piece = piece.strip()
        if piece:
            out.extend(prefix + rest for rest in expand(piece))
    return out


def references(code: str) -> list[tuple[str, list[str]]]:
    """Every `crate::...` or `super::...` path in `code`, braces expanded."""
    found = []
    pattern = re.compile(r"\b(crate|super)((?:::(?:%s|\{[^;]*?\}))+)" % NAME, re.S)
    for match in pattern.finditer(code):
        tail = match.group(2)[2:]
        for parts in expand(tail):
            found.append((match.group(1), parts))
    return found


def crate_graph(src: Path) -> dict[Path, set[Path]]:
    files = [f for f in src.rglob("*.rs") if f.name != "tests.rs" and "bin" not in f.relative_to(src).parts]
    modules = {module_path(src, f): f for f in files}
    root = src / "lib.rs" if (src / "lib.rs").exists() else src / "main.rs"
    reexports: dict[str, tuple[str, ...]] = {}
    if root.exists():
        for use in re.findall(r"^\s*pub use ([^;]*);", root.read_text(), re.M | re.S):
            for parts in expand(re.sub(r"\s+", "", use)):
                if parts[0] in ("crate", "self"):
                    parts = parts[1:]
                if len(parts) >= 2 and parts[-1] != "*":
                    reexports[parts[-1]] = tuple(parts[:-1])
    graph: dict[Path, set[Path]] = {f: set() for f in files}
    for file in files:
        here = module_path(src, file)
        text = file.read_text()
        code = code_of(text)
        found = references(code)
        # Child modules named without `self::` (`use child::Item`).
        for child in re.findall(r"^\s*(?:pub(?:\([^)]*\))? )?mod (%s);" % NAME, text, re.M):
            for match in re.finditer(r"(?<![\w:])(?:self::)?%s::" % child, code):
                found.append(("crate", list(here) + [child]))
        for anchor, parts in found:
            if anchor == "super":
                base = list(here[:-1])
                while parts and parts[0] == "super":
                    base, parts = base[:-1], parts[1:]
                parts = base + parts
            if parts and parts[0] in reexports and tuple(parts[:1]) not in modules:
                parts = list(reexports[parts[0]]) + parts
            target = None
            for n in range(len(parts), 0, -1):
                if tuple(parts[:n]) in modules:
                    target = modules[tuple(parts[:n])]
                    break
            if target is not None and target != file:
                graph[file].add(target)
    return graph


def cycles(graph: dict[Path, set[Path]]) -> list[tuple[list[Path], list[Path]]]:
    """One cycle per strongly connected component of more than one file, with
    the component's files."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append((path_through(graph, set(component)), sorted(component)))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def path_through(graph, component):
    """A cycle inside `component`, found by walking from its first file."""
    start = min(component)
    seen, path = {start: 0}, [start]
    while True:
        nxt = min(w for w in graph[path[-1]] if w in component)
        if nxt in seen:
            return path[seen[nxt]:] + [nxt]
        seen[nxt] = len(path)
        path.append(nxt)


def main(argv):
    crates = Path(argv[1] if len(argv) > 1 else "crates")
    problems = 0
    count = 0
    for src in sorted(crates.glob("*/src")):
        count += 1
        for loop, component in cycles(crate_graph(src)):
            problems += 1
            names = " -> ".join(str(f.relative_to(src)) for f in loop)
            others = [str(f.relative_to(src)) for f in component if f not in loop]
            also = f" (and through {', '.join(others)})" if others else ""
            print(f"{src.parent.name}: import loop: {names}{also}")
    if problems:
        return 1
    print(f"no import loops between the files of {count} crates")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
