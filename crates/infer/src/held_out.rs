//! The training images a committee's runs all held out (`[validation]
//! split`, drawn with `validation.seed` or the run's seed): the images
//! `infer committee` judges its members and the committee on, and chooses
//! members on (`--choose`), so no choice looks at the test set.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use burn::tensor::Device;
use data::{MnistSplit, NUM_CLASSES};
use model::committee_choice::{Score, log_probabilities};
use model::{Combine, HeldOutReadings};

use crate::loaded::Reader;

/// The held-out images every run shares.
pub struct HeldOut {
    /// The fraction of the training set held out, in (0, 1).
    split: f64,
    /// The seed it was drawn with.
    seed: u64,
    images: Arc<MnistSplit>,
}

impl HeldOut {
    /// The images every one of `runs` held out of `train`, or a line saying
    /// why they share none: a run without a readable `config.toml`, one that
    /// held out nothing, or one that held out other images than the first.
    pub fn shared(runs: &[PathBuf], train: &MnistSplit) -> Result<Self, String> {
        let mut first: Option<(&Path, f64, u64)> = None;
        for run in runs {
            let config = run::read_config(run).map_err(|error| format!("{error:#}"))?;
            let split = config.validation.split;
            let seed = config.validation.holdout_seed(config.seed);
            if split <= 0.0 {
                return Err(format!(
                    "{} held nothing out of the training set (validation.split = 0)",
                    run.display()
                ));
            }
            match first {
                None => first = Some((run, split, seed)),
                Some((first, first_split, first_seed))
                    if (split, seed) != (first_split, first_seed) =>
                {
                    return Err(format!(
                        "{} held out validation.split = {} of the training set drawn with seed \
                         {seed}, {} {} drawn with seed {first_seed} (give runs of different seeds \
                         the same validation.seed)",
                        run.display(),
                        split,
                        first.display(),
                        first_split
                    ));
                }
                Some(_) => {}
            }
        }
        let (_, split, seed) = first.ok_or("no runs")?;
        let (_, images) = train.hold_out(split, seed);
        Ok(Self {
            split,
            seed,
            images: Arc::new(images),
        })
    }

    /// For `test.json`: `the part of the training set every member held out
    /// (validation.split = 0.1: 6000 images drawn with seed 42)`.
    pub fn describe(&self) -> String {
        format!(
            "the part of the training set every member held out (validation.split = {}: {} \
             images drawn with seed {})",
            self.split,
            self.images.len(),
            self.seed
        )
    }

    /// Each of `runs` (loaded onto `device` one at a time) read on the
    /// held-out images.
    pub fn read(&self, runs: &[PathBuf], device: &Device) -> anyhow::Result<HeldOutReadings> {
        let mut candidates = Vec::with_capacity(runs.len());
        for run in runs {
            let reader = Reader::load(run, device)?;
            let logs = log_probabilities(&reader, Arc::clone(&self.images), device)
                .context("cannot read the held-out probabilities back from the device")?;
            candidates.push(logs);
        }
        let labels = (0..self.images.len())
            .map(|index| usize::from(self.images.label(index)))
            .collect();
        Ok(HeldOutReadings::new(labels, NUM_CLASSES, candidates))
    }
}

/// `held out 99.40% (5964 of 6000), loss 0.0201`.
pub fn score_text(score: &Score) -> String {
    format!(
        "held out {:.2}% ({} of {}), loss {:.4}",
        100.0 * score.accuracy(),
        score.count - score.errors,
        score.count,
        score.loss
    )
}

/// Greedy selection among `candidates` on the held-out `readings`, printed
/// as it goes (`candidate` lines, each alone, then a `chose` line per
/// step); the chosen runs in the order they joined.
pub fn choose(
    candidates: &[PathBuf],
    readings: &HeldOutReadings,
    combine: Combine,
    out: &mut impl std::io::Write,
) -> anyhow::Result<Vec<usize>> {
    for (index, run) in candidates.iter().enumerate() {
        let alone = readings.score(&[index], combine);
        writeln!(out, "candidate {}: {}", run.display(), score_text(&alone))?;
    }
    let steps = readings.choose(combine);
    for (count, step) in steps.iter().enumerate() {
        writeln!(
            out,
            "chose {}: a committee of {} - {}",
            candidates[step.candidate].display(),
            count + 1,
            score_text(&step.score)
        )?;
    }
    Ok(steps.iter().map(|step| step.candidate).collect())
}
