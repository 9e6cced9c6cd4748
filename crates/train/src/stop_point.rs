//! A stop point: where a run stopped inside an epoch (Ctrl-C, SIGTERM,
//! Slurm's warning), so that `--resume` goes on at the next batch instead of
//! training the epoch's first batches again.
//!
//! ```text
//! <run>/checkpoint/stopped-<e>.<k>-model.bpk      the weights after batch k of epoch e
//! <run>/checkpoint/stopped-<e>.<k>-optim.bpk      the optimizer's state then
//! <run>/checkpoint/stopped-<e>.<k>-scheduler.bpk  the schedule's
//! <run>/checkpoint/stopped.json                    e, k, those k batches' loss and accuracy
//!                                                  sums, each file's size and SHA-256
//! ```
//!
//! Written once training has stopped at a batch boundary: the three files
//! first, then `stopped.json` atomically (the commit point), then the files
//! of any older stop point are removed. A stop point counts only for the
//! epoch after the last committed one (`latest.json`'s); once that epoch is
//! committed it is stale and ignored. The data order and distortions of an
//! epoch are functions of (seed, epoch, index), and dropout masks of (seed,
//! step, layer), so a resumed run skips the first k batches of epoch e's
//! order and trains exactly the batches an uninterrupted run would; the k
//! batches' sums go into the epoch's metrics as one report, so the epoch's
//! loss and accuracy are those of the whole epoch.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use burn::lr_scheduler::LrSchedulerRecord;
use burn::optim::OptimizerRecord;
use burn::store::ModuleRecord;
use burn::train::checkpoint::Checkpoint;
use console::errln;
use model::artifact::FileDigest;
use serde::{Deserialize, Serialize};

use crate::checkpoint::CHECKPOINT_DIR;

/// The commit file of a stop point inside [`CHECKPOINT_DIR`].
pub const STOPPED_FILE: &str = "stopped.json";
/// The three parts of a stop point, as for an epoch's checkpoint.
const PARTS: [&str; 3] = ["model", "optim", "scheduler"];

/// The training batches of a stopped epoch that were already applied.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Trained {
    /// How many (from the epoch's first).
    pub batches: usize,
    /// Their images.
    pub images: usize,
    /// Sum over those images of their cross-entropy (natural log).
    pub loss_sum: f64,
    /// Those images classified correctly.
    pub correct: usize,
}

impl Trained {
    /// Adds a report's figures.
    pub fn add(&mut self, batches: usize, tally: &model::Tally) {
        self.batches += batches;
        self.images += tally.images;
        self.loss_sum += tally.loss_sum;
        self.correct += tally.correct;
    }
}

/// What `stopped.json` holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StopPoint {
    /// The epoch it stopped in (1-based).
    pub epoch: usize,
    /// What of that epoch was trained.
    pub trained: Trained,
    /// The network (`784-64-64-10 relu`).
    pub architecture: String,
    /// Size and SHA-256 of each part's file, by name.
    pub files: BTreeMap<String, FileDigest>,
}

/// `stopped-<e>.<k>-<part>.bpk`.
fn file_name(epoch: usize, batches: usize, part: &str) -> String {
    format!("stopped-{epoch}.{batches}-{part}.bpk")
}

impl StopPoint {
    /// The path of one part's file (`model`, `optim`, `scheduler`).
    pub fn path(&self, run_dir: &Path, part: &str) -> PathBuf {
        run_dir
            .join(CHECKPOINT_DIR)
            .join(file_name(self.epoch, self.trained.batches, part))
    }

    /// The weights it holds.
    pub fn model(&self, run_dir: &Path) -> anyhow::Result<ModuleRecord> {
        let path = self.path(run_dir, PARTS[0]);
        <ModuleRecord as Checkpoint>::load(path.clone())
            .map_err(|error| anyhow::anyhow!("cannot read {}: {error}", path.display()))
    }
}

/// Writes the stop point of a run stopped after `trained` of `epoch`, from
/// the three records (see the module's doc for the order of the writes).
pub fn save(
    run_dir: &Path,
    epoch: usize,
    trained: Trained,
    architecture: String,
    records: (ModuleRecord, OptimizerRecord, LrSchedulerRecord),
) -> anyhow::Result<StopPoint> {
    let dir = run_dir.join(CHECKPOINT_DIR);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let (model, optim, scheduler) = records;
    let bytes = [
        model.checkpoint_into_bytes(),
        optim.checkpoint_into_bytes(),
        scheduler.checkpoint_into_bytes(),
    ];
    let mut files = BTreeMap::new();
    for (part, bytes) in PARTS.iter().zip(bytes) {
        let name = file_name(epoch, trained.batches, part);
        let path = dir.join(&name);
        let bytes = bytes.map_err(|error| anyhow::anyhow!("cannot encode {name}: {error}"))?;
        files::write_atomic(&path, &bytes)
            .with_context(|| format!("cannot write {}", path.display()))?;
        files.insert(name, FileDigest::of(&bytes));
    }
    let point = StopPoint {
        epoch,
        trained,
        architecture,
        files,
    };
    let path = dir.join(STOPPED_FILE);
    let json = serde_json::to_vec_pretty(&point).expect("numbers serialise");
    files::write_atomic(&path, &json)
        .with_context(|| format!("cannot write {}", path.display()))?;
    remove_others(&dir, Some(&point));
    Ok(point)
}

/// Removes the files of every stop point but `keep` (best effort: a file
/// left behind is only space).
fn remove_others(dir: &Path, keep: Option<&StopPoint>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let kept = keep.is_some_and(|point| point.files.contains_key(&name));
        if name.starts_with("stopped-") && name.ends_with(".bpk") && !kept {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// The stop point a run that committed `after_epoch` epochs resumes from,
/// if it has one for the next epoch whose files are intact. A stale one (of
/// an epoch committed since) is removed; a damaged one is reported and
/// ignored (the run then resumes from the epoch's start, as exactly).
pub fn read(run_dir: &Path, after_epoch: usize) -> anyhow::Result<Option<StopPoint>> {
    let dir = run_dir.join(CHECKPOINT_DIR);
    let path = dir.join(STOPPED_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error).with_context(|| format!("cannot read {}", path.display())),
    };
    let point: StopPoint = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not a stop point record", path.display()))?;
    if point.epoch != after_epoch + 1 {
        remove(run_dir);
        return Ok(None);
    }
    for (name, expected) in &point.files {
        let file = dir.join(name);
        let found = std::fs::read(&file).map(|bytes| FileDigest::of(&bytes));
        if found.as_ref().ok() != Some(expected) {
            errln!(
                "warning: {} is not the file {} records: resuming from the start of epoch {} \
                 instead",
                file.display(),
                path.display(),
                point.epoch
            );
            return Ok(None);
        }
    }
    Ok(Some(point))
}

/// Removes a run's stop point, if any.
pub fn remove(run_dir: &Path) {
    let dir = run_dir.join(CHECKPOINT_DIR);
    let _ = std::fs::remove_file(dir.join(STOPPED_FILE));
    remove_others(&dir, None);
}

/// Refuses a stop point of another network than `network`.
pub fn check_architecture(point: &StopPoint, network: &str, run_dir: &Path) -> anyhow::Result<()> {
    if point.architecture != network {
        bail!(
            "{} holds a stop point of the {} network, but its config.toml describes {network}",
            run_dir.join(CHECKPOINT_DIR).join(STOPPED_FILE).display(),
            point.architecture
        );
    }
    Ok(())
}
