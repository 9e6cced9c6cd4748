"""Unit tests of the documentation check (standard library only):
python3 -m unittest discover -s scripts -p check_docs_test.py"""

import contextlib
import io
import tempfile
import textwrap
import unittest
from pathlib import Path

import check_docs

CARGO_TOML = """\
[workspace]
resolver = "2"
members = ["crates/alpha", "crates/beta"]
"""

WORKSPACE_PAGE = """\
# The workspace

| crate | holds | depends on (workspace crates) |
|---|---|---|
| `alpha` | the first | none |
| `beta` | the second | `alpha` |
"""


class Repository:
    """A small repository in a temporary directory: a README, docs/ and a
    workspace manifest whose crate table matches."""

    def __init__(self, test):
        directory = tempfile.TemporaryDirectory()
        test.addCleanup(directory.cleanup)
        self.root = Path(directory.name)
        self.write("Cargo.toml", CARGO_TOML)
        self.write("docs/workspace.md", WORKSPACE_PAGE)
        self.write("README.md", "# Project\n\nSee [the workspace](docs/workspace.md).\n")

    def write(self, path, text):
        file = self.root / path
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(textwrap.dedent(text), encoding="utf-8")

    def problems(self):
        return check_docs.check(self.root)[0]


class Links(unittest.TestCase):
    def test_a_repository_whose_links_resolve_has_no_problem(self):
        repo = Repository(self)
        repo.write("docs/guide.md", """\
            # Guide

            ## Training

            Back to the [README](../README.md), on to [training](#training),
            [the crates](workspace.md#the-workspace), ![a chart](img/chart.png),
            <img src="img/chart.png" width="49%">, [the web](https://example.org/x#y)
            and [mail](mailto:someone@example.org).
            """)
        repo.write("docs/img/chart.png", "")
        self.assertEqual(repo.problems(), [])

    def test_a_link_to_a_missing_file_is_reported_with_its_line(self):
        repo = Repository(self)
        repo.write("docs/guide.md", "# Guide\n\nFirst line.\nSee [serving](serving.md).\n")
        self.assertEqual(repo.problems(), ["docs/guide.md:4: serving.md: serving.md does not exist"])

    def test_an_image_path_is_relative_to_the_page(self):
        repo = Repository(self)
        repo.write("docs/experiments/chart.png", "")
        repo.write("docs/guide.md", "# Guide\n\n![chart](docs/experiments/chart.png)\n")
        self.assertEqual(repo.problems(), [
            "docs/guide.md:3: docs/experiments/chart.png: docs/experiments/chart.png does not exist"])

    def test_an_anchor_no_heading_has_is_reported(self):
        repo = Repository(self)
        repo.write("docs/guide.md", "# Guide\n\n## `infer serve`: draw a digit\n")
        repo.write("README.md", textwrap.dedent("""\
            # Project

            [serve](docs/guide.md#infer-serve-draw-a-digit) and
            [export](docs/guide.md#infer-export) and [here](#project) and [there](#nowhere)
            [the crates](docs/workspace.md)
            """))
        self.assertEqual(repo.problems(), [
            "README.md:4: docs/guide.md#infer-export: no heading in docs/guide.md has the anchor #infer-export",
            "README.md:4: #nowhere: no heading in this file has the anchor #nowhere",
        ])

    def test_a_repeated_heading_takes_a_numbered_anchor(self):
        repo = Repository(self)
        repo.write("docs/guide.md", """\
            # Guide

            ## Results

            ## Results

            [first](#results), [second](#results-1), [third](#results-2)
            """)
        self.assertEqual(repo.problems(), [
            "docs/guide.md:7: #results-2: no heading in this file has the anchor #results-2"])

    def test_links_inside_code_are_ignored(self):
        repo = Repository(self)
        repo.write("docs/guide.md", """\
            # Guide

            ```sh
            echo "[not a link](missing.md)"
            ```

            ~~~~
            [nor this](missing.md#anchor)
            ```
            [still code: the fence above is not this one's end](missing.md)
            ~~~~

            Nor `[this](missing.md)` in a code span.
            """)
        self.assertEqual(repo.problems(), [])

    def test_a_heading_inside_code_gives_no_anchor(self):
        repo = Repository(self)
        repo.write("docs/guide.md", "# Guide\n\n```sh\n# comment\n```\n\n[comment](#comment)\n")
        self.assertEqual(repo.problems(), [
            "docs/guide.md:7: #comment: no heading in this file has the anchor #comment"])


class Anchors(unittest.TestCase):
    def test_github_anchor_rules(self):
        # Each expected anchor as GitHub writes it for that heading.
        self.assertEqual(check_docs.slug("`infer serve`: draw a digit in the browser"),
                         "infer-serve-draw-a-digit-in-the-browser")
        self.assertEqual(check_docs.slug("GPU: the fused path, 2026-12-04 (counted on Mesa's lavapipe; no GPU lent)"),
                         "gpu-the-fused-path-2026-12-04-counted-on-mesas-lavapipe-no-gpu-lent")
        self.assertEqual(check_docs.slug("What each crate's files hold"), "what-each-crates-files-hold")
        self.assertEqual(check_docs.slug("snake_case and  two spaces"), "snake_case-and--two-spaces")
        self.assertEqual(check_docs.slug("A [linked](x.md) word"), "a-linked-word")


class CrateTable(unittest.TestCase):
    def test_a_crate_missing_from_the_table_is_reported(self):
        repo = Repository(self)
        repo.write("Cargo.toml", CARGO_TOML.replace('"crates/beta"]', '"crates/beta", "crates/gamma"]'))
        self.assertEqual(repo.problems(), [
            "docs/workspace.md:3: crate `gamma` is a workspace member in Cargo.toml but not in the crate table"])

    def test_a_crate_the_workspace_does_not_have_is_reported(self):
        repo = Repository(self)
        repo.write("Cargo.toml", CARGO_TOML.replace(', "crates/beta"', ""))
        self.assertEqual(repo.problems(), [
            "docs/workspace.md:6: crate `beta` is in the crate table but not a workspace member in Cargo.toml"])

    def test_the_depends_column_must_name_the_members_a_crate_depends_on(self):
        repo = Repository(self)
        beta = '[package]\nname = "beta"\n\n[dependencies]\nalpha = {{ path = "../alpha" }}\n{}'
        repo.write("crates/beta/Cargo.toml", beta.format(""))
        self.assertEqual(repo.problems(), [])
        # A dev-dependency is not a dependency; a missing one is reported.
        repo.write("crates/beta/Cargo.toml", beta.format("\n[dev-dependencies]\ngamma = \"1\"\n"))
        self.assertEqual(repo.problems(), [])
        repo.write("crates/beta/Cargo.toml", '[package]\nname = "beta"\n')
        self.assertEqual(repo.problems(), [
            "docs/workspace.md:6: crate `beta` depends on none in its Cargo.toml, the table says `alpha`"])

    def test_the_package_name_comes_from_the_members_manifest(self):
        repo = Repository(self)
        repo.write("crates/beta/Cargo.toml", '[package]\nname = "beta-core"\n')
        self.assertEqual(repo.problems(), [
            "docs/workspace.md:3: crate `beta-core` is a workspace member in Cargo.toml but not in the crate table",
            "docs/workspace.md:6: crate `beta` is in the crate table but not a workspace member in Cargo.toml",
        ])

    def test_a_page_without_a_crate_table_is_reported(self):
        repo = Repository(self)
        repo.write("docs/workspace.md", "# The workspace\n\n| path | holds |\n|---|---|\n| `x` | y |\n")
        self.assertEqual(repo.problems(), [
            "docs/workspace.md:1: no crate table (a table whose first column is headed `crate`)"])


class ReadmeLength(unittest.TestCase):
    def test_a_readme_over_360_lines_is_reported(self):
        repo = Repository(self)
        repo.write("README.md", "[the crates](docs/workspace.md)\n" + "line\n" * 360)
        self.assertEqual(repo.problems(), [
            "README.md:361: README.md has 361 lines; at most 360 (the detail belongs in docs/)"])

    def test_360_lines_pass(self):
        repo = Repository(self)
        repo.write("README.md", "[the crates](docs/workspace.md)\n" + "line\n" * 359)
        self.assertEqual(repo.problems(), [])


class Main(unittest.TestCase):
    def test_exit_status_and_output(self):
        repo = Repository(self)
        output = io.StringIO()
        with contextlib.redirect_stdout(output):
            self.assertEqual(check_docs.main(["--root", str(repo.root)]), 0)
        self.assertTrue(output.getvalue().startswith("docs: 2 Markdown files"), output.getvalue())
        repo.write("README.md", "[gone](docs/gone.md)\n")
        output = io.StringIO()
        with contextlib.redirect_stdout(output):
            self.assertEqual(check_docs.main(["--root", str(repo.root)]), 1)
        self.assertEqual(output.getvalue(), "README.md:1: docs/gone.md: docs/gone.md does not exist\n")


if __name__ == "__main__":
    unittest.main()
