"""Checks the documentation (standard library only):

- every relative link and image in README.md and docs/**/*.md (`[text](path)`,
  `[text](path#anchor)`, `![alt](image)`, `[label]: path`, and the `src` and
  `href` of HTML tags) points at a file or directory that exists, and an
  `#anchor` into a Markdown file names one of its headings, by GitHub's rules
  (lowercase; punctuation but `-` and `_` dropped; spaces to `-`; a repeated
  heading gets `-1`, `-2`, ...). Links with a scheme (`https:`, `mailto:`) and
  everything inside fenced code blocks or `code spans` are skipped;
- the crate table of docs/workspace.md (the first table whose first column is
  headed `crate`, the names in backticks) lists exactly the `[workspace]
  members` of Cargo.toml, and its `depends on` column, when it has one, names
  exactly the members each crate's `[dependencies]` take;
- README.md has at most 360 lines.

Prints one line per problem, `FILE:LINE: what is wrong`, and exits 1 if there
is any; else one summary line and exit status 0.

    python3 scripts/check_docs.py [--root DIR] [--cargo-toml FILE]
"""

import argparse
import glob
import os
import re
import sys
import tomllib
import unicodedata
from pathlib import Path
from urllib.parse import unquote

README_MAX_LINES = 360

FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
ATX_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
CODE_SPAN = re.compile(r"(`+)(.+?)\1")
# [text](dest) and ![alt](dest); dest either <...> or without spaces, then an
# optional title. One level of brackets inside the text ([`x`] or an image).
INLINE_LINK = re.compile(
    r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*(<[^>]*>|[^)\s]*)(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)"
)
REFERENCE_DEFINITION = re.compile(r"^ {0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)")
HTML_ATTRIBUTE = re.compile(r"<[a-zA-Z][^>]*?\s(?:src|href)\s*=\s*(\"[^\"]*\"|'[^']*')")
HTML_ID = re.compile(r"<[a-zA-Z][^>]*?\s(?:id|name)\s*=\s*(\"[^\"]*\"|'[^']*')")
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def prose_lines(text):
    """(line number, line) of every line outside fenced code blocks."""
    fence = None
    for number, line in enumerate(text.splitlines(), start=1):
        opening = FENCE.match(line)
        if fence is None:
            if opening:
                fence = opening.group(1)
                continue
            yield number, line
        elif opening and opening.group(1)[0] == fence[0] and len(opening.group(1)) >= len(fence) \
                and line.strip() == opening.group(1):
            fence = None


def without_code_spans(line):
    return CODE_SPAN.sub(lambda m: " " * len(m.group(0)), line)


def slug(heading):
    """GitHub's anchor for a heading's text."""
    text = re.sub(r"!?\[((?:[^\[\]]|\[[^\[\]]*\])*)\]\([^)]*\)", r"\1", heading)  # links: their text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML
    text = text.strip().lower()
    kept = []
    for char in text:
        if char in "-_ ":
            kept.append(char)
        elif unicodedata.category(char)[0] in "LNM":
            kept.append(char)
    return "".join(kept).replace(" ", "-")


def anchors(text):
    """Every anchor a Markdown file offers: its headings, numbered as GitHub
    numbers repeats, and the `id`/`name` of its HTML tags."""
    found = set()
    seen = {}
    for _, line in prose_lines(text):
        heading = ATX_HEADING.match(line)
        if heading:
            base = slug(heading.group(2) or "")
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
        for value in HTML_ID.findall(line):
            found.add(value[1:-1])
    return found


def links(text):
    """(line number, destination) of every link and image outside code."""
    for number, line in prose_lines(text):
        prose = without_code_spans(line)
        for dest in INLINE_LINK.findall(prose):
            yield number, dest
        definition = REFERENCE_DEFINITION.match(prose)
        if definition:
            yield number, definition.group(1)
        for value in HTML_ATTRIBUTE.findall(prose):
            yield number, value[1:-1]


def check_links(root, path, anchor_cache):
    problems = []
    text = path.read_text(encoding="utf-8")
    shown = path.relative_to(root)
    for number, dest in links(text):
        if dest.startswith("<") and dest.endswith(">"):
            dest = dest[1:-1]
        if not dest:
            problems.append(f"{shown}:{number}: empty link")
            continue
        if SCHEME.match(dest) or dest.startswith("//"):
            continue
        target, _, anchor = dest.partition("#")
        target = unquote(target)
        if target == "":
            file = path
        elif target.startswith("/"):
            file = root / target.lstrip("/")
        else:
            file = path.parent / target
        if not file.exists():
            problems.append(f"{shown}:{number}: {dest}: {target} does not exist")
            continue
        if anchor and file.is_file() and file.suffix.lower() == ".md":
            key = file.resolve()
            if key not in anchor_cache:
                anchor_cache[key] = anchors(file.read_text(encoding="utf-8"))
            if unquote(anchor) not in anchor_cache[key]:
                where = "this file" if file == path else target
                problems.append(f"{shown}:{number}: {dest}: no heading in {where} has the anchor #{anchor}")
    return problems


def table_rows(lines, start):
    """The cells of the table whose header is lines[start], with line numbers."""
    rows = []
    for index in range(start, len(lines)):
        line = lines[index].strip()
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip("|"))]
        rows.append((index + 1, cells))
    return rows


def workspace_members(cargo_toml):
    return list(member_paths(cargo_toml))


def member_paths(cargo_toml):
    """{package name: its directory} for every `[workspace] members` entry."""
    with open(cargo_toml, "rb") as file:
        manifest = tomllib.load(file)
    members = manifest.get("workspace", {}).get("members", [])
    base = Path(cargo_toml).parent
    found = {}
    for member in members:
        paths = sorted(glob.glob(str(base / member))) if any(c in member for c in "*?[") else [base / member]
        for member_path in paths:
            found[package_name(Path(member_path))] = Path(member_path)
    return found


def member_dependencies(member_path, members):
    """The workspace members among the `[dependencies]` of the member at
    `member_path` (dev-dependencies are not counted); None without a manifest."""
    manifest = member_path / "Cargo.toml"
    if not manifest.is_file():
        return None
    with open(manifest, "rb") as file:
        dependencies = tomllib.load(file).get("dependencies", {})
    names = set()
    for key, spec in dependencies.items():
        name = spec.get("package", key) if isinstance(spec, dict) else key
        if name in members:
            names.add(name)
    return names


def package_name(member_path):
    """The member's package name, from its own Cargo.toml when there is one,
    else its directory's name."""
    manifest = member_path / "Cargo.toml"
    if manifest.is_file():
        with open(manifest, "rb") as file:
            name = tomllib.load(file).get("package", {}).get("name")
        if isinstance(name, str):
            return name
    return member_path.name


def check_crate_table(root, workspace_page, cargo_toml):
    shown = workspace_page.relative_to(root)
    if not workspace_page.is_file():
        return [f"{shown}:1: missing (it holds the workspace's crate table)"]
    lines = workspace_page.read_text(encoding="utf-8").splitlines()
    prose = dict(prose_lines("\n".join(lines)))
    header = None
    for number in sorted(prose):
        cells = [c.strip() for c in prose[number].strip().strip("|").split("|")]
        if prose[number].lstrip().startswith("|") and cells and cells[0].lower() == "crate":
            header = number
            break
    if header is None:
        return [f"{shown}:1: no crate table (a table whose first column is headed `crate`)"]
    header_cells = [c.strip().lower() for c in prose[header].strip().strip("|").split("|")]
    depends_column = next((i for i, c in enumerate(header_cells) if c.startswith("depends on")), None)
    listed = {}
    dependencies = {}
    problems = []
    for number, cells in table_rows(lines, header - 1)[2:]:
        names = re.findall(r"`([^`]+)`", cells[0])
        if len(names) != 1:
            problems.append(f"{shown}:{number}: the crate table's first column should hold one `crate` name")
            continue
        if names[0] in listed:
            problems.append(f"{shown}:{number}: crate `{names[0]}` is listed twice (also line {listed[names[0]]})")
        listed.setdefault(names[0], number)
        if depends_column is not None and depends_column < len(cells):
            dependencies[names[0]] = (number, set(re.findall(r"`([^`]+)`", cells[depends_column])))
    members = workspace_members(cargo_toml)
    cargo_shown = os.path.relpath(cargo_toml, root)
    for name in members:
        if name not in listed:
            problems.append(f"{shown}:{header}: crate `{name}` is a workspace member in {cargo_shown} "
                            "but not in the crate table")
    for name, number in listed.items():
        if name not in members:
            problems.append(f"{shown}:{number}: crate `{name}` is in the crate table but not a workspace "
                            f"member in {cargo_shown}")
    paths = member_paths(cargo_toml)
    for name, (number, shown_deps) in dependencies.items():
        if name not in paths:
            continue
        actual = member_dependencies(paths[name], paths)
        if actual is not None and shown_deps != actual:
            def words(names):
                return ", ".join(f"`{n}`" for n in sorted(names)) or "none"
            problems.append(f"{shown}:{number}: crate `{name}` depends on {words(actual)} in its "
                            f"Cargo.toml, the table says {words(shown_deps)}")
    return problems


def check_readme_length(root, readme):
    count = len(readme.read_text(encoding="utf-8").splitlines())
    if count > README_MAX_LINES:
        return [f"{readme.relative_to(root)}:{README_MAX_LINES + 1}: README.md has {count} lines; "
                f"at most {README_MAX_LINES} (the detail belongs in docs/)"]
    return []


def documents(root):
    found = [root / "README.md"] if (root / "README.md").is_file() else []
    found += sorted((root / "docs").rglob("*.md"))
    return found


def check(root, cargo_toml=None):
    """Every problem found under root, as `FILE:LINE: what is wrong` lines,
    and the number of documents read."""
    root = Path(root).resolve()
    cargo_toml = Path(cargo_toml) if cargo_toml else root / "Cargo.toml"
    problems = []
    anchor_cache = {}
    docs = documents(root)
    for path in docs:
        problems += check_links(root, path, anchor_cache)
    problems += check_crate_table(root, root / "docs" / "workspace.md", cargo_toml)
    if (root / "README.md").is_file():
        problems += check_readme_length(root, root / "README.md")
    else:
        problems.append("README.md:1: missing")
    return problems, len(docs)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=Path(__file__).resolve().parent.parent,
                        help="the repository (default: the one holding this script)")
    parser.add_argument("--cargo-toml", help="the workspace manifest (default: ROOT/Cargo.toml)")
    args = parser.parse_args(argv)
    problems, count = check(args.root, args.cargo_toml)
    for problem in problems:
        print(problem)
    if problems:
        return 1
    print(f"docs: {count} Markdown files, every link and anchor resolves, the crate table matches "
          "Cargo.toml, README.md within its length")
    return 0


if __name__ == "__main__":
    sys.exit(main())
