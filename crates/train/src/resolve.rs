//! The first step of `train`: what to train, from the flags. A new run's
//! config is its file (or the tutorial's) with the flags applied; a resumed
//! run's is the one it was started with, read back with its last checkpoint
//! and stop point, and refused early when there is nothing to resume.

use std::path::{Path, PathBuf};

use anyhow::bail;
use config::{Overrides, TrainConfig};
use console::outln;
use model::MlpConfig;
use run::{RunDir, TestSummary};

use crate::checkpoint::{self, Latest};
use crate::stop_point::{self, StopPoint};

/// What to train, as the `train` command's flags say it.
#[derive(Clone, Debug, Default)]
pub struct TrainOptions {
    /// A TOML config; without it, the tutorial's values (configs/default.toml).
    pub config: Option<PathBuf>,
    /// The flags that override config keys (`--epochs`, `--set KEY=VALUE`...).
    pub overrides: Overrides,
    /// Replace an earlier run of the same name instead of numbering a new one.
    pub overwrite: bool,
    /// Continue this interrupted run from its last checkpoint, with the config
    /// it was started with (`overrides` may give only the data directory).
    pub resume: Option<PathBuf>,
    /// Burn's terminal dashboard; otherwise one line per epoch.
    pub dashboard: bool,
}

/// A run ready to train: its config and network, and, when it resumes, the
/// run directory (locked) with what it resumes from.
pub struct Resolved {
    pub config: TrainConfig,
    /// The network `config` describes, for MNIST's 784 inputs and 10 classes.
    pub network: MlpConfig,
    pub resumed: Option<Resumed>,
}

/// What a resumed run continues from.
pub struct Resumed {
    pub run: RunDir,
    /// The last committed epoch, if one finished.
    pub latest: Option<Latest>,
    /// Where a signal stopped it inside the next epoch, if it did.
    pub stopped: Option<StopPoint>,
}

/// Reads the config (and, with `--resume`, the run's checkpoints) that
/// `options` name. Starts no thread and touches no device: `main` sets the
/// environment from the result before anything else runs.
pub fn resolve(options: &TrainOptions) -> anyhow::Result<Resolved> {
    let Some(run_dir) = &options.resume else {
        let mut config = match &options.config {
            Some(path) => TrainConfig::load(path)?,
            None => TrainConfig::default(),
        };
        config.apply(&options.overrides)?;
        let network = network_of(&config);
        return Ok(Resolved {
            config,
            network,
            resumed: None,
        });
    };
    // Locked first: a second process resuming the run is turned away before
    // it reads (or tidies) the checkpoint the first is writing.
    let run = RunDir::open(run_dir)?;
    let mut config = run::read_config(run_dir)?;
    config.apply(&options.overrides)?;
    let network = network_of(&config);
    let (latest, stopped) = read_resume_point(run_dir, &network)?;
    if let Some(latest) = latest.as_ref().filter(|l| l.epoch >= config.epochs) {
        check_unfinished(run_dir, &config, latest)?;
    }
    Ok(Resolved {
        config,
        network,
        resumed: Some(Resumed {
            run,
            latest,
            stopped,
        }),
    })
}

/// The network `config` describes, for MNIST's inputs and classes.
fn network_of(config: &TrainConfig) -> MlpConfig {
    MlpConfig::from_section(&config.model, data::IMAGE_PIXELS, data::NUM_CLASSES)
}

/// The last committed epoch and, inside the next one, a stop point (a run
/// stopped in its first epoch has only the latter), each checked to hold
/// `network`; an error saying what to do when there is neither.
fn read_resume_point(
    run_dir: &Path,
    network: &MlpConfig,
) -> anyhow::Result<(Option<Latest>, Option<StopPoint>)> {
    let has_latest = run_dir
        .join(checkpoint::CHECKPOINT_DIR)
        .join(checkpoint::LATEST_FILE)
        .exists();
    let latest = match has_latest {
        true => Some(checkpoint::read_latest(run_dir)?),
        false => None,
    };
    let stopped = stop_point::read(run_dir, latest.as_ref().map_or(0, |l| l.epoch))?;
    if latest.is_none() && stopped.is_none() {
        // Says that no epoch finished and what to do.
        checkpoint::read_latest(run_dir)?;
    }
    if let Some(latest) = &latest {
        latest.check_architecture(&network.describe(), run_dir)?;
    }
    if let Some(point) = &stopped {
        stop_point::check_architecture(point, &network.describe(), run_dir)?;
    }
    Ok((latest, stopped))
}

/// A run whose every epoch is trained is done, unless its final save did not
/// finish (a full disk, a kill): the resume then redoes that from the last
/// checkpoint without training.
fn check_unfinished(run_dir: &Path, config: &TrainConfig, latest: &Latest) -> anyhow::Result<()> {
    let saved = model::artifact::check_saved(run_dir)
        .map_err(anyhow::Error::from)
        .and_then(|_| TestSummary::read(run_dir));
    match saved {
        Ok(_) => bail!(
            "{} finished all {} epochs already: nothing to resume",
            run_dir.display(),
            config.epochs
        ),
        Err(error) => outln!(
            "the final save of {} is incomplete ({error:#}): saving it again from the \
             checkpoint of epoch {}",
            run_dir.display(),
            latest.epoch
        ),
    }
    Ok(())
}
