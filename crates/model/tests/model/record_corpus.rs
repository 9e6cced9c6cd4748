//! The `record` fuzz target's inputs, replayed through the same function on
//! every `cargo test`. Its coverage-guided run builds Burn a second time with
//! the fuzzer's instrumentation (about 25 minutes on 2 cores), so
//! `scripts/test.sh` fuzzes only the four Burn-free parsers and replays this
//! one: the seeds in `fuzz/seeds/record`, any crash inputs saved in
//! `fuzz/artifacts/record`, and a few hundred deterministic mutations of each
//! (truncations, flipped bytes, altered JSON). Every input must give a
//! network or a one-line error naming the file, never a panic.
//! `bash scripts/fuzz.sh 600 record` fuzzes it for real.

use std::path::{Path, PathBuf};

use burn::tensor::Device;

/// An input as the fuzz target reads it: model.json, a zero byte, model.bpk;
/// read as it is, then (when model.json is an object) with the weights'
/// digest it records made to match, so that the record reader is reached.
fn load(bytes: &[u8]) -> Result<(), model::ModelError> {
    let split = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    let (json, record) = (&bytes[..split], bytes.get(split + 1..).unwrap_or_default());
    let read = |json: &[u8]| {
        model::artifact::model_from_bytes(json, record.to_vec(), Path::new("run"), &Device::flex())
            .map(drop)
    };
    let as_given = read(json);
    match model::artifact::with_digest_of(json, record) {
        Some(matching) => read(&matching).and(as_given),
        None => as_given,
    }
}

/// `Err` with the message if loading `bytes` gave an error that is not one
/// line naming the run.
fn replay(bytes: &[u8]) -> Result<(), String> {
    match load(bytes) {
        Ok(()) => Ok(()),
        Err(error) => {
            let message = error.to_string();
            if message.contains('\n') || !message.contains("run") {
                Err(message)
            } else {
                Ok(())
            }
        }
    }
}

fn inputs(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.is_file())
        .map(|path| {
            let bytes = std::fs::read(&path).unwrap();
            (path, bytes)
        })
        .collect()
}

/// Deterministic variants of `seed`: every truncation length on a coarse
/// grid, single bytes set to 0, 0xff or +1 across the input, and JSON
/// numbers swapped for huge, zero and negative ones.
fn mutations(seed: &[u8]) -> Vec<Vec<u8>> {
    let mut variants = Vec::new();
    let step = (seed.len() / 64).max(1);
    for cut in (0..seed.len()).step_by(step) {
        variants.push(seed[..cut].to_vec());
    }
    for at in (0..seed.len()).step_by(step) {
        for value in [0u8, 0xff, seed[at].wrapping_add(1)] {
            let mut variant = seed.to_vec();
            variant[at] = value;
            variants.push(variant);
        }
    }
    let text = String::from_utf8_lossy(seed);
    for (from, to) in [
        ("64", "1048577"),
        ("64", "0"),
        ("784", "-1"),
        ("10", "99999999999"),
    ] {
        variants.push(text.replacen(from, to, 1).into_bytes());
    }
    variants
}

#[test]
fn every_seed_and_its_mutations_load_or_fail_in_one_line() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut seeds = inputs(&fuzz.join("seeds/record"));
    seeds.extend(inputs(&fuzz.join("artifacts/record")));
    assert!(!seeds.is_empty(), "no seeds in {}", fuzz.display());
    let mut replayed = 0;
    for (path, seed) in &seeds {
        for input in std::iter::once(seed.clone()).chain(mutations(seed)) {
            if let Err(message) = replay(&input) {
                panic!(
                    "{}: a variant gave a bad error: {message:?}",
                    path.display()
                );
            }
            replayed += 1;
        }
    }
    assert!(replayed > 100, "{replayed} inputs");
    // The seed itself is a whole model.
    let (path, seed) = &seeds[0];
    assert!(load(seed).is_ok(), "the seed {} loads", path.display());
}
