//! Two runs started at the same moment under the same name: each `train`
//! claims a run directory of its own, and each `sweep` a sweep directory whose
//! table holds its own runs and no other's.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Child, Output};

use crate::common::*;

/// Waits for every child, in order.
fn finish(children: Vec<Child>) -> Vec<Output> {
    children
        .into_iter()
        .map(|child| child.wait_with_output().unwrap())
        .collect()
}

/// The directory named after `marker` on a line of `output`.
fn dir_after(output: &Output, marker: &str) -> PathBuf {
    let out = stdout(output);
    out.lines()
        .find_map(|line| line.split_once(marker))
        .map(|(_, dir)| PathBuf::from(dir))
        .unwrap_or_else(|| panic!("no {marker:?} in:\n{out}"))
}

#[test]
fn two_trains_started_together_with_one_name_get_a_directory_each() {
    let data = synthetic_mnist(320, 100);
    let artifacts = tempfile::tempdir().unwrap();
    let seeds = ["3", "4"];
    let children = seeds
        .iter()
        .map(|seed| {
            let mut args = run_args(data.path(), artifacts.path(), "same");
            args.extend(["--epochs", "1", "--seed", seed]);
            start(&train_bin(), &args, artifacts.path())
        })
        .collect();
    let outputs = finish(children);
    let mut dirs = BTreeSet::new();
    for (output, seed) in outputs.iter().zip(seeds) {
        assert_success(output);
        let dir = dir_after(output, "run directory: ");
        // The directory each process named holds its own run, whole.
        assert_eq!(run::read_config(&dir).unwrap().seed.to_string(), seed);
        assert_eq!(test_summary(&dir).test_images, 100);
        dirs.insert(dir);
    }
    let expected: BTreeSet<PathBuf> = ["same", "same-2"]
        .iter()
        .map(|name| artifacts.path().join(name))
        .collect();
    assert_eq!(dirs, expected);
}

#[test]
fn two_sweeps_started_together_into_one_name_keep_their_rows_apart() {
    let data = synthetic_mnist(320, 100);
    let artifacts = tempfile::tempdir().unwrap();
    let grids = ["seed=1,2", "seed=3"];
    let children = grids
        .iter()
        .map(|grid| {
            let args = [
                "--grid",
                grid,
                "--set",
                "epochs=1",
                "--name",
                "same",
                "--data-dir",
                data.path().to_str().unwrap(),
                "--artifacts",
                artifacts.path().to_str().unwrap(),
            ];
            start(&sweep_bin(), &args, artifacts.path())
        })
        .collect();
    let outputs = finish(children);
    let mut dirs = BTreeSet::new();
    for (output, rows) in outputs.iter().zip([
        &["default_seed-1", "default_seed-2"][..],
        &["default_seed-3"],
    ]) {
        assert_success(output);
        let line = stdout(output);
        let dir = dir_after(output, " at a time, into ");
        let names: Vec<String> = train::sweep::read_summary(&dir)
            .unwrap()
            .into_iter()
            .map(|row| row.name)
            .collect();
        assert_eq!(names, rows, "{line}");
        let runs: BTreeSet<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|entry| entry.unwrap())
            .filter(|entry| entry.path().is_dir())
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(runs, rows.iter().map(|r| r.to_string()).collect(), "{line}");
        dirs.insert(dir);
    }
    let expected: BTreeSet<PathBuf> = ["same", "same-2"]
        .iter()
        .map(|name| artifacts.path().join(name))
        .collect();
    assert_eq!(dirs, expected);
}
