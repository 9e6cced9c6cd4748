"""Unit tests of check_feature_pins.py (standard library only):
python3 -m unittest discover -s scripts -p 'check_*_test.py'"""

import unittest

from check_feature_pins import differences, parse

NORMAL = """\
half v2.7.1 [alloc,bytemuck,std]
burn-std v0.22.1 [default,std]
serde v1.0.229 [default,derive,std]
serde v1.0.229 [std]
model v0.1.0 (/work/crates/model) []
"""


class ParseTest(unittest.TestCase):
    def test_reads_name_version_and_features_of_registry_crates(self):
        crates = parse(NORMAL + "half v2.7.1 [alloc,bytemuck,std] (*)\n\n")
        self.assertEqual(crates[("half", "v2.7.1")], {frozenset({"alloc", "bytemuck", "std"})})
        self.assertNotIn(("model", "v0.1.0"), crates, "the workspace's own crates are left out")

    def test_keeps_host_and_target_feature_sets_apart(self):
        crates = parse(NORMAL)
        self.assertEqual(
            crates[("serde", "v1.0.229")],
            {frozenset({"default", "derive", "std"}), frozenset({"std"})},
        )

    def test_a_line_it_cannot_read_is_an_error_naming_it(self):
        with self.assertRaisesRegex(ValueError, "cannot read.*'warning: oops'"):
            parse("warning: oops\n")


class DifferencesTest(unittest.TestCase):
    def test_same_features_with_and_without_dev_dependencies_is_clean(self):
        with_dev = NORMAL + "tract-core v0.23.9 [default]\n"
        self.assertEqual(differences(parse(NORMAL), parse(with_dev), "cargo test"), [])

    def test_names_the_features_the_tests_add(self):
        with_dev = NORMAL.replace("half v2.7.1 [alloc,bytemuck,std]", "half v2.7.1 [alloc,bytemuck,default,std]")
        self.assertEqual(
            differences(parse(NORMAL), parse(with_dev), "cargo test"),
            ["half v2.7.1: cargo test adds default"],
        )

    def test_names_the_features_a_package_alone_leaves_off(self):
        alone = NORMAL.replace("half v2.7.1 [alloc,bytemuck,std]", "half v2.7.1 [alloc]")
        self.assertEqual(
            differences(parse(NORMAL), parse(alone), "cargo run -p train"),
            ["half v2.7.1: cargo run -p train drops bytemuck, std"],
        )

    def test_another_version_of_a_crate_is_not_a_difference(self):
        with_dev = NORMAL + "half v1.8.3 [default,std]\n"
        self.assertEqual(differences(parse(NORMAL), parse(with_dev), "cargo test"), [])


if __name__ == "__main__":
    unittest.main()
