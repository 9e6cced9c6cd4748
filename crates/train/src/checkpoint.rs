//! Per-epoch checkpoints, so that a run survives Ctrl-C, a crash or a kill.
//!
//! ```text
//! <run>/checkpoint/model-<e>.bpk      the weights after epoch e      (Burn's FileCheckpointer,
//! <run>/checkpoint/optim-<e>.bpk      Adam's moments and step count   each file written to a
//! <run>/checkpoint/scheduler-<e>.bpk  the learning-rate schedule      scratch file and renamed)
//! <run>/checkpoint/latest.json        the newest epoch whose three files are all on disk,
//!                                     with the metrics of every epoch up to it, the size
//!                                     and SHA-256 of each file and the architecture
//! <run>/checkpoint/best-model.bpk     with `keep_best`: the weights of the committed epoch
//!                                     with the lowest validation loss
//! ```
//!
//! Burn saves the three parts on three threads; [`EpochCommitter`] learns when all
//! three of an epoch are written and only then replaces `latest.json`
//! (atomically): that is the commit point. The last two epochs are kept, so
//! the one `latest.json` names is never deleted while the next is written.
//! A resume checks every file against its record before Burn reads it, so a
//! truncated, corrupted or swapped checkpoint is one line naming the file
//! (it used to be a panic in Burn's loader, or a silent resume from another
//! network's optimizer state).
//! The data order needs no state: the shuffle of epoch e is a function of the
//! seed and e ([`ResumedLoader`]).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{Context, bail};
use burn::data::dataloader::{DataLoader, DataLoaderIterator};
use burn::lr_scheduler::LrSchedulerRecord;
use burn::store::burn_pack;
use burn::tensor::{Bytes, Device};
use burn::train::checkpoint::{Checkpoint, Checkpointer, CheckpointerError, FileCheckpointer};
use serde::{Deserialize, Serialize};

use config::TrainConfig;
use model::StepOptimizer;
use model::artifact::FileDigest;
use run::EpochMetrics;

use crate::progress::recorder::History;

/// The checkpoint directory inside a run directory.
pub const CHECKPOINT_DIR: &str = "checkpoint";
/// The commit file inside [`CHECKPOINT_DIR`].
pub const LATEST_FILE: &str = "latest.json";
/// With `keep_best`, the copy of the best epoch's weights inside [`CHECKPOINT_DIR`].
pub const BEST_MODEL_FILE: &str = "best-model.bpk";
/// The three files Burn writes per epoch, `<part>-<epoch>.bpk`.
const PARTS: [&str; 3] = ["model", "optim", "scheduler"];

/// What `latest.json` holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Latest {
    /// The newest epoch (1-based) whose model, optimizer and scheduler files
    /// are complete.
    pub epoch: usize,
    /// Metrics of epochs 1 to `epoch`.
    pub epochs: Vec<EpochMetrics>,
    /// Size and SHA-256 of each file of the checkpoint, by name. Empty in
    /// checkpoints written before they were recorded (then unchecked).
    #[serde(default)]
    pub files: BTreeMap<String, FileDigest>,
    /// The network the checkpoint holds (`784-64-64-10 relu`), when recorded.
    #[serde(default)]
    pub architecture: Option<String>,
}

impl Latest {
    /// Refuses a checkpoint of another network than `network` (`describe()`).
    pub fn check_architecture(&self, network: &str, run_dir: &Path) -> anyhow::Result<()> {
        match &self.architecture {
            Some(recorded) if recorded != network => bail!(
                "{} holds a checkpoint of the {recorded} network, but its config.toml describes \
                 {network}",
                run_dir.join(CHECKPOINT_DIR).join(LATEST_FILE).display()
            ),
            _ => Ok(()),
        }
    }
}

/// Records which parts of each epoch are saved and commits an epoch when all
/// of them are.
pub struct EpochCommitter {
    dir: PathBuf,
    history: History,
    saved: Mutex<HashMap<usize, Vec<&'static str>>>,
    keep_best: bool,
    /// The network being trained, `describe()`d.
    architecture: String,
}

impl EpochCommitter {
    /// With `keep_best`, each committed epoch with a lower validation loss
    /// than every epoch before it also becomes [`BEST_MODEL_FILE`].
    /// `architecture` is recorded with each commit.
    pub fn new(
        run_dir: &Path,
        history: History,
        keep_best: bool,
        architecture: String,
    ) -> Arc<Self> {
        Arc::new(Self {
            dir: run_dir.join(CHECKPOINT_DIR),
            history,
            saved: Mutex::new(HashMap::new()),
            keep_best,
            architecture,
        })
    }

    /// Burn's three checkpointers for this run, each reporting to the committer.
    pub fn checkpointers(
        self: &Arc<Self>,
    ) -> (
        CommittingCheckpointer,
        CommittingCheckpointer,
        CommittingCheckpointer,
    ) {
        let part = |name: &'static str| CommittingCheckpointer {
            inner: FileCheckpointer::new(&self.dir, name),
            part: name,
            committer: Arc::clone(self),
        };
        (part(PARTS[0]), part(PARTS[1]), part(PARTS[2]))
    }

    fn part_saved(&self, epoch: usize, part: &'static str) -> Result<(), CheckpointerError> {
        let complete = {
            let mut saved = self.saved.lock().expect("committer lock");
            let parts = saved.entry(epoch).or_default();
            parts.push(part);
            let complete = parts.len() == PARTS.len();
            if complete {
                saved.remove(&epoch);
            }
            complete
        };
        if complete {
            self.commit(epoch).map_err(|error| {
                CheckpointerError::IOError(std::io::Error::other(format!("{error:#}")))
            })?;
        }
        Ok(())
    }

    fn commit(&self, epoch: usize) -> anyhow::Result<()> {
        let epochs: Vec<EpochMetrics> = self
            .history
            .lock()
            .expect("history lock")
            .iter()
            .filter(|metrics| metrics.epoch <= epoch)
            .cloned()
            .collect();
        if self.keep_best && best_epoch(&epochs) == Some(epoch) {
            let model = self.dir.join(format!("{}-{epoch}.bpk", PARTS[0]));
            let best = self.dir.join(BEST_MODEL_FILE);
            std::fs::read(&model)
                .and_then(|bytes| files::write_atomic(&best, &bytes))
                .with_context(|| {
                    format!("cannot copy {} to {}", model.display(), best.display())
                })?;
        }
        let mut names: Vec<String> = PARTS
            .iter()
            .map(|part| format!("{part}-{epoch}.bpk"))
            .collect();
        if self.dir.join(BEST_MODEL_FILE).is_file() {
            names.push(BEST_MODEL_FILE.into());
        }
        let mut files = BTreeMap::new();
        for name in names {
            let path = self.dir.join(&name);
            let bytes =
                std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
            files.insert(name, FileDigest::of(&bytes));
        }
        let latest = Latest {
            epoch,
            epochs,
            files,
            architecture: Some(self.architecture.clone()),
        };
        let path = self.dir.join(LATEST_FILE);
        let json = serde_json::to_vec_pretty(&latest).expect("numbers serialise");
        files::write_atomic(&path, &json)
            .with_context(|| format!("cannot write {}", path.display()))
    }
}

/// The epoch with the lowest validation loss (the first of equals), if any.
pub fn best_epoch(epochs: &[EpochMetrics]) -> Option<usize> {
    epochs
        .iter()
        .fold(None::<&EpochMetrics>, |best, metrics| match best {
            Some(best) if best.valid_loss <= metrics.valid_loss => Some(best),
            _ => Some(metrics),
        })
        .map(|metrics| metrics.epoch)
}

/// Burn's [`FileCheckpointer`] for one part, telling the [`EpochCommitter`] when a
/// save is complete.
pub struct CommittingCheckpointer {
    inner: FileCheckpointer,
    part: &'static str,
    committer: Arc<EpochCommitter>,
}

impl<R: Checkpoint> Checkpointer<R> for CommittingCheckpointer {
    fn save(&self, epoch: usize, record: R) -> Result<(), CheckpointerError> {
        self.inner.save(epoch, record)?;
        self.committer.part_saved(epoch, self.part)
    }

    fn delete(&self, epoch: usize) -> Result<(), CheckpointerError> {
        Checkpointer::<R>::delete(&self.inner, epoch)
    }

    fn restore(&self, epoch: usize) -> Result<R, CheckpointerError> {
        self.inner.restore(epoch)
    }
}

/// The loop's optimizer (as `config` asks for it) with the state after
/// `epoch`, and the schedule's state, as Burn's checkpointer wrote them,
/// after [`check_optimizer_record`].
pub fn restore_optimizer(
    run_dir: &Path,
    epoch: usize,
    config: &TrainConfig,
) -> anyhow::Result<(StepOptimizer, LrSchedulerRecord)> {
    let dir = run_dir.join(CHECKPOINT_DIR);
    restore_optimizer_from(
        &dir.join(format!("{}-{epoch}.bpk", PARTS[1])),
        &dir.join(format!("{}-{epoch}.bpk", PARTS[2])),
        config,
    )
}

/// The loop's optimizer from the record in `optimizer_path`, after
/// [`check_optimizer_record`], and the schedule's state from
/// `scheduler_path`.
pub fn restore_optimizer_from(
    optimizer_path: &Path,
    scheduler_path: &Path,
    config: &TrainConfig,
) -> anyhow::Result<(StepOptimizer, LrSchedulerRecord)> {
    let bytes = std::fs::read(optimizer_path)
        .with_context(|| format!("cannot read {}", optimizer_path.display()))?;
    check_optimizer_record(&bytes).map_err(|reason| {
        anyhow::anyhow!(
            "{} holds no optimizer state a run can resume from ({reason}); start the run \
             again (see docs/bad-input.md)",
            optimizer_path.display()
        )
    })?;
    let optimizer = crate::optim::restored_step_optimizer(config, &bytes)
        .map_err(|reason| anyhow::anyhow!("cannot read {}: {reason}", optimizer_path.display()))?;
    let schedule = <LrSchedulerRecord as Checkpoint>::load(scheduler_path.to_path_buf())
        .map_err(|error| anyhow::anyhow!("cannot read {}: {error}", scheduler_path.display()))?;
    Ok((optimizer, schedule))
}

/// Checks what Burn's optimizer records satisfy before Burn reads one (its
/// reader panics on some damage, and trusts the values): every tensor names
/// its parameter, and each Adam second moment (a decaying mean of squared
/// gradients) is finite and not negative. A checkpoint written on wgpu by
/// Burn 0.22.1 can break the latter: the moments read back from the GPU at
/// the end of an epoch hold other tensors' values (a weight matrix in place
/// of a second moment), with Burn's Adam as with this project's, while the
/// training itself goes on correctly; resumed, such a state made the first
/// step's loss NaN. `Err` names the first tensor at fault.
pub fn check_optimizer_record(record: &[u8]) -> Result<(), String> {
    let reader = burn_pack::Reader::from_bytes(Bytes::from_bytes_vec(record.to_vec()))
        .map_err(|error| error.to_string())?;
    for tensor in reader.into_tensors().map_err(|error| error.to_string())? {
        let (name, dtype, _, param_id, bytes) =
            tensor.into_parts().map_err(|error| error.to_string())?;
        if param_id.is_none() {
            return Err(format!("tensor {name} names no parameter"));
        }
        if !name.ends_with(".moment_2") || dtype != burn_pack::DType::F32 {
            continue;
        }
        let bad = bytes
            .chunks_exact(4)
            .map(|word| f32::from_le_bytes([word[0], word[1], word[2], word[3]]))
            .filter(|value| !(value.is_finite() && *value >= 0.0))
            .count();
        if bad > 0 {
            return Err(format!(
                "{bad} of the second moments in {name} are negative or not finite"
            ));
        }
    }
    Ok(())
}

/// Reads `<run>/checkpoint/latest.json` and checks the files it names are
/// there, so that a resume fails with a clear error rather than inside Burn.
/// Also removes scratch files a kill may have left behind.
pub fn read_latest(run_dir: &Path) -> anyhow::Result<Latest> {
    let dir = run_dir.join(CHECKPOINT_DIR);
    let path = dir.join(LATEST_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => bail!(
            "{} has no complete checkpoint ({} is missing): no epoch finished; start the run again",
            run_dir.display(),
            path.display()
        ),
        Err(error) => {
            return Err(error).with_context(|| format!("cannot read {}", path.display()));
        }
    };
    let latest: Latest = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not a checkpoint record", path.display()))?;
    for part in PARTS {
        let file = dir.join(format!("{part}-{}.bpk", latest.epoch));
        if !file.is_file() {
            bail!(
                "{} names epoch {}, but {} is missing",
                path.display(),
                latest.epoch,
                file.display()
            );
        }
    }
    for (name, expected) in &latest.files {
        let file = dir.join(name);
        let bytes =
            std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
        let found = FileDigest::of(&bytes);
        if found != *expected {
            bail!(
                "{} is not the file {} records ({expected}; found {found}): it changed or is \
                 corrupt, so the run cannot resume from it",
                file.display(),
                path.display()
            );
        }
    }
    remove_scratch_files(&dir)?;
    Ok(latest)
}

/// Deletes the `*.tmp` files an interrupted write leaves in `dir`.
fn remove_scratch_files(dir: &Path) -> anyhow::Result<()> {
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|extension| extension == "tmp") {
            std::fs::remove_file(&path)
                .with_context(|| format!("cannot remove the scratch file {}", path.display()))?;
        }
    }
    Ok(())
}

/// The training loader of a resumed run: the data order of epoch e is the one
/// an uninterrupted run has at epoch e.
///
/// Burn's shuffling loader forks its random generator once when the Learner
/// moves it to the device and once per epoch (each `iter`). On resume after
/// `finished_epochs`, the moved loader is advanced by that many epochs
/// (creating an iterator shuffles indices only; no data is loaded).
pub struct ResumedLoader<O> {
    inner: Arc<dyn DataLoader<O>>,
    finished_epochs: usize,
}

impl<O> ResumedLoader<O> {
    pub fn new(inner: Arc<dyn DataLoader<O>>, finished_epochs: usize) -> Self {
        Self {
            inner,
            finished_epochs,
        }
    }
}

impl<O: Send + 'static> DataLoader<O> for ResumedLoader<O> {
    fn iter<'a>(&'a self) -> Box<dyn DataLoaderIterator<O> + 'a> {
        self.inner.iter()
    }

    fn num_items(&self) -> usize {
        self.inner.num_items()
    }

    fn to_device(&self, device: &Device) -> Arc<dyn DataLoader<O>> {
        let moved = self.inner.to_device(device);
        for _ in 0..self.finished_epochs {
            drop(moved.iter());
        }
        moved
    }

    fn slice(&self, start: usize, end: usize) -> Arc<dyn DataLoader<O>> {
        self.inner.slice(start, end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::data::dataloader::DataLoaderBuilder;
    use data::{MnistBatcher, MnistDataset, MnistSplit};

    fn metrics(epoch: usize) -> EpochMetrics {
        EpochMetrics {
            epoch,
            seconds: 0.5,
            train_loss: 1.0 / epoch as f64,
            train_accuracy: 0.5,
            valid_loss: 0.25,
            valid_accuracy: 0.75,
            grad_norms: vec![],
        }
    }

    /// A tiny network and its Adam after two steps on flex.
    fn trained_adam() -> (model::Mlp, burn::optim::ModuleOptimizer) {
        use burn::optim::GradientsParams;
        use burn::tensor::{Distribution, Tensor};

        let device = Device::flex().autodiff();
        let mut model = model::MlpConfig::new().with_hidden(vec![4]).init(&device);
        let mut adam = model::FusedAdam::new(model::Backend::Flex, 0.9, 0.999, 1e-7).init();
        for _ in 0..2 {
            let images = Tensor::<2>::random([3, 784], Distribution::Default, &device);
            let loss = model.forward(images).powi_scalar(2).mean();
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = adam.step(0.01, model, grads);
        }
        (model, adam)
    }

    /// A real Adam record (flex, two steps) passes; the same layout with one
    /// negative or NaN second moment is named.
    /// A real Adam record (flex, two steps) passes; hand-made ones with a
    /// negative or NaN second moment, or a tensor of no parameter (on which
    /// Burn's `load_record` panics), are named.
    #[test]
    fn records_burn_would_trust_or_panic_on_are_named() {
        let (_, adam) = trained_adam();
        let record = adam.to_record().into_bytes().unwrap();
        assert_eq!(check_optimizer_record(&record), Ok(()));

        let pack = |values: Vec<f32>, param_id: Option<u64>| {
            let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            let tensor = burn_pack::Tensor::new(
                "7.momentum.moment_2".into(),
                burn_pack::DType::F32,
                vec![values.len()],
                param_id,
                Bytes::from_bytes_vec(bytes),
            );
            burn_pack::Writer::new(vec![tensor]).into_bytes().unwrap()
        };
        assert_eq!(
            check_optimizer_record(&pack(vec![0.0, 1e-9, 2.0], Some(7))),
            Ok(())
        );
        assert_eq!(
            check_optimizer_record(&pack(vec![0.5, -0.25, f32::NAN], Some(7))),
            Err("2 of the second moments in 7.momentum.moment_2 are negative or not finite".into())
        );
        assert_eq!(
            check_optimizer_record(&pack(vec![1.0], None)),
            Err("tensor 7.momentum.moment_2 names no parameter".into())
        );
        assert!(check_optimizer_record(b"not a record").is_err());
    }

    /// The checkpoint reader under damage, as a fuzzer would try it but
    /// deterministically, on every `cargo test`: a real checkpoint (flex,
    /// Adam) whose optimizer file is cut or has a byte changed, each variant
    /// committed again so that its checksum matches and the damage reaches
    /// Burn's reader; and `latest.json` itself cut or changed. Each variant
    /// resumes or is refused in one line naming a file; none panics.
    #[test]
    fn damaged_checkpoints_are_refused_in_one_line_behind_valid_checksums() {
        use burn::module::Module;
        use std::panic::{AssertUnwindSafe, catch_unwind};

        let run = tempfile::tempdir().unwrap();
        let dir = run.path().join(CHECKPOINT_DIR);
        std::fs::create_dir_all(&dir).unwrap();
        let (model, adam) = trained_adam();
        let config = config::TrainConfig::default();
        let scheduler = crate::optim::lr_scheduler(&config, 10).unwrap();
        let write = |name: &str, bytes: &[u8]| std::fs::write(dir.join(name), bytes).unwrap();
        write("model-1.bpk", &model.into_record().into_bytes().unwrap());
        write(
            "scheduler-1.bpk",
            &scheduler.to_record().into_bytes().unwrap(),
        );
        let optim = adam.to_record().into_bytes().unwrap().to_vec();
        let history = History::default();
        history.lock().unwrap().push(metrics(1));
        let committer = EpochCommitter::new(run.path(), history, false, "784-4-10 relu".into());
        let commit = |optim: &[u8]| {
            write("optim-1.bpk", optim);
            for part in PARTS {
                committer.part_saved(1, part).unwrap();
            }
        };
        // What `train --resume` does with the files, up to the training.
        let resume = || -> anyhow::Result<()> {
            let latest = read_latest(run.path())?;
            let (_, schedule) = restore_optimizer(run.path(), latest.epoch, &config)?;
            let _ = scheduler.clone().load_record(schedule);
            Ok(())
        };
        // `Ok(None)` when the variant resumed, `Ok(Some(error))` when it was
        // refused in one line naming a file, else `Err` saying what went wrong.
        let attempt = |what: &str| match catch_unwind(AssertUnwindSafe(&resume)) {
            Ok(Ok(())) => Ok(None),
            Ok(Err(error)) => {
                let message = error.to_string();
                if message.contains('\n') || !message.contains(CHECKPOINT_DIR) {
                    Err(format!("{what}: {message:?}"))
                } else {
                    Ok(Some(message))
                }
            }
            Err(_) => Err(format!("{what}: panicked")),
        };

        commit(&optim);
        assert_eq!(attempt("the checkpoint as written"), Ok(None));
        let latest = std::fs::read(dir.join(LATEST_FILE)).unwrap();
        let mut failures = Vec::new();
        let mut refused = 0;
        for (name, original) in [("optim-1.bpk", optim.clone()), (LATEST_FILE, latest)] {
            for (how, variant) in damaged(&original) {
                let what = format!("{name} {how}");
                if name == LATEST_FILE {
                    write(name, &variant);
                } else {
                    commit(&variant);
                }
                match attempt(&what) {
                    Ok(None) => {}
                    // Committed again, a damaged optimizer file passes its
                    // checksum and reaches the reader.
                    Ok(Some(error)) if name != LATEST_FILE && error.contains("is not the file") => {
                        failures.push(format!("{what}: stopped at the checksum: {error}"))
                    }
                    Ok(Some(_)) => refused += 1,
                    Err(failure) => failures.push(failure),
                }
            }
            commit(&optim);
        }
        assert!(
            failures.is_empty(),
            "{} failures: {failures:#?}",
            failures.len()
        );
        assert!(refused > 100, "only {refused} variants were refused");
    }

    /// Variants of `bytes`: cut at 48 places, and a byte at 48 places set
    /// to 0, to 0xff or increased by one; each with what was done.
    fn damaged(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
        let step = (bytes.len() / 48).max(1);
        let mut variants = Vec::new();
        for at in (0..bytes.len()).step_by(step) {
            variants.push((format!("cut to {at} bytes"), bytes[..at].to_vec()));
            for (how, change) in [
                ("set to 0", (|_| 0) as fn(u8) -> u8),
                ("set to 0xff", |_| 0xff),
                ("plus one", |byte: u8| byte.wrapping_add(1)),
            ] {
                let mut variant = bytes.to_vec();
                variant[at] = change(variant[at]);
                variants.push((format!("byte {at} {how}"), variant));
            }
        }
        variants
    }

    #[test]
    fn an_epoch_is_committed_only_when_its_three_parts_are_saved() {
        let run = tempfile::tempdir().unwrap();
        let history = History::default();
        history.lock().unwrap().extend([metrics(1), metrics(2)]);
        let committer = EpochCommitter::new(run.path(), history, false, "784-8-10 relu".into());
        let dir = run.path().join(CHECKPOINT_DIR);
        std::fs::create_dir_all(&dir).unwrap();
        for part in PARTS {
            std::fs::write(dir.join(format!("{part}-1.bpk")), part.as_bytes()).unwrap();
        }
        committer.part_saved(1, "model").unwrap();
        committer.part_saved(1, "optim").unwrap();
        assert!(
            read_latest(run.path())
                .unwrap_err()
                .to_string()
                .contains("no complete checkpoint")
        );
        committer.part_saved(1, "scheduler").unwrap();
        let scratch = dir.join("model-2.bpk.77-0.tmp");
        std::fs::write(&scratch, b"half").unwrap();
        let latest = read_latest(run.path()).unwrap();
        // Epoch 2 is in the history but not committed: only epoch 1's metrics.
        assert_eq!(latest.epoch, 1);
        assert_eq!(latest.epochs, vec![metrics(1)]);
        assert_eq!(latest.files["optim-1.bpk"], FileDigest::of(b"optim"));
        assert_eq!(latest.architecture.as_deref(), Some("784-8-10 relu"));
        assert!(!scratch.exists(), "scratch files are removed");
        latest
            .check_architecture("784-8-10 relu", run.path())
            .unwrap();
        let error = latest
            .check_architecture("784-32-10 relu", run.path())
            .unwrap_err()
            .to_string();
        assert!(
            error.contains(
                "holds a checkpoint of the 784-8-10 relu network, but its config.toml \
                            describes 784-32-10 relu"
            ),
            "{error}"
        );

        // A file swapped for another, or changed, is refused by name.
        std::fs::copy(dir.join("model-1.bpk"), dir.join("optim-1.bpk")).unwrap();
        let error = read_latest(run.path()).unwrap_err().to_string();
        assert!(
            error.contains("optim-1.bpk is not the file")
                && error.contains("found 5 bytes, SHA-256 ")
                && error.ends_with("it changed or is corrupt, so the run cannot resume from it"),
            "{error}"
        );
        // A file that is gone is named too.
        std::fs::remove_file(dir.join("model-1.bpk")).unwrap();
        let error = read_latest(run.path()).unwrap_err().to_string();
        assert!(
            error.contains("names epoch 1, but") && error.contains("model-1.bpk is missing"),
            "{error}"
        );
    }

    #[test]
    fn a_broken_record_is_a_one_line_error() {
        let run = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(run.path().join(CHECKPOINT_DIR)).unwrap();
        std::fs::write(
            run.path().join(CHECKPOINT_DIR).join(LATEST_FILE),
            b"{\"epoch\": ",
        )
        .unwrap();
        let error = format!("{:#}", read_latest(run.path()).unwrap_err());
        assert!(
            error.contains("latest.json is not a checkpoint record: "),
            "{error}"
        );
    }

    /// The labels of each epoch's batches, as a loader gives them after the
    /// Learner's `to_device`.
    fn epoch_orders(loader: &dyn DataLoader<data::MnistBatch>, epochs: usize) -> Vec<Vec<i32>> {
        let moved = loader.to_device(&Device::flex());
        (0..epochs)
            .map(|_| {
                moved
                    .iter()
                    .flat_map(|batch| {
                        batch
                            .unwrap()
                            .targets
                            .into_data()
                            .try_to_vec::<i32>()
                            .unwrap()
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn a_resumed_loader_continues_the_uninterrupted_data_order() {
        let labels: Vec<u8> = (0..40).map(|i| (i % 10) as u8).collect();
        let images = (0..40 * data::IMAGE_PIXELS)
            .map(|p| (p / data::IMAGE_PIXELS) as u8)
            .collect();
        let split = Arc::new(MnistSplit::new(images, labels).unwrap());
        let loader = || {
            DataLoaderBuilder::new(MnistBatcher)
                .batch_size(8)
                .shuffle(42)
                .build(MnistDataset::new(split.clone()))
        };
        let uninterrupted = epoch_orders(loader().as_ref(), 4);
        assert_ne!(
            uninterrupted[0], uninterrupted[1],
            "epochs are shuffled differently"
        );
        let resumed = epoch_orders(&ResumedLoader::new(loader(), 2), 2);
        assert_eq!(resumed, uninterrupted[2..]);
    }
}
