//! The `train` command as a library function: resolve the config (or the
//! run to resume), load MNIST, claim the run directory, train, and write
//! what the run produced (the model, `metrics.csv`, `grad_norms.csv`,
//! `test.json`, the pictures), saying on stdout what it does.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::bail;
use burn::train::Interrupter;
use config::{Overrides, TrainConfig};
use console::{errln, outln};
use model::BackendDevice;
use run::{EpochMetrics, GradNorms, RunDir, TestSummary, plots};

use crate::checkpoint;
use crate::signals::{self, SignalWatch};
use crate::stop_point;
use crate::training::{self, Ending, Fit};

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

/// How a run that did not fail ended.
#[derive(Debug)]
pub enum Finished {
    /// Trained, evaluated and saved into `run`.
    Trained { run: PathBuf, summary: TestSummary },
    /// Stopped by this signal (its number); the checkpoints are kept.
    Interrupted { signal: i32 },
}

/// Trains as `options` say. Sets `BURN_DEVICE` to the run's backend when
/// unset: call it before the program starts threads that read the
/// environment.
pub fn train(options: &TrainOptions) -> anyhow::Result<Finished> {
    let (config, resume) = match &options.resume {
        Some(run_dir) => {
            // Locked first: a second process resuming the run is turned away
            // before it reads (or tidies) the checkpoint the first is writing.
            let run = RunDir::open(run_dir)?;
            let mut config = run::read_config(run_dir)?;
            config.apply(&options.overrides)?;
            // The last committed epoch and, inside the next one, a stop
            // point; a run stopped in its first epoch has only the latter.
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
            let network = model::MlpConfig::from_section(
                &config.model,
                data::IMAGE_PIXELS,
                data::NUM_CLASSES,
            );
            if let Some(latest) = &latest {
                latest.check_architecture(&network.describe(), run_dir)?;
            }
            if let Some(point) = &stopped {
                stop_point::check_architecture(point, &network.describe(), run_dir)?;
            }
            if let Some(latest) = latest.as_ref().filter(|l| l.epoch >= config.epochs) {
                // Every epoch trained: done, unless the final save did not
                // finish (a full disk, a kill), which the resume then redoes
                // from the last checkpoint without training.
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
                        "the final save of {} is incomplete ({error:#}): saving it again from \
                         the checkpoint of epoch {}",
                        run_dir.display(),
                        latest.epoch
                    ),
                }
            }
            (config, Some((run, latest, stopped)))
        }
        None => {
            let mut config = match &options.config {
                Some(path) => TrainConfig::load(path)?,
                None => TrainConfig::default(),
            };
            config.apply(&options.overrides)?;
            (config, None)
        }
    };
    // Burn builds a resumed optimizer state on its default device first: make
    // that the run's backend rather than the first one compiled in (wgpu).
    // SAFETY: no other thread runs yet.
    if std::env::var_os("BURN_DEVICE").is_none() {
        unsafe { std::env::set_var("BURN_DEVICE", config.backend.to_string()) };
    }
    // The device first: a missing GPU should fail before any download.
    let device = config.backend.device()?;
    let (mnist, located) = data::load_mnist(config.data_dir.as_deref())?;
    let model_config =
        model::MlpConfig::from_section(&config.model, data::IMAGE_PIXELS, data::NUM_CLASSES);
    check_fits(&config, &model_config, mnist.train.len())?;
    let (mut run, resume, stopped) = match resume {
        Some((run, latest, stopped)) => (run, latest, stopped),
        None => {
            let run = RunDir::create(&config.artifacts, &config.run_name, options.overwrite)?;
            run.write_config(&config)?;
            (run, None, None)
        }
    };

    outln!(
        "network {} ({} parameters), {}, {} epochs of batch {}, backend {}, seed {}",
        model_config.describe(),
        model_config.num_params(),
        config.describe_training(),
        config.epochs,
        config.batch_size,
        config.backend,
        config.seed
    );
    outln!(
        "data: {} train and {} test images from {} ({})",
        mnist.train.len(),
        mnist.test.len(),
        located.dir.display(),
        located.source
    );
    outln!("run directory: {}", run.path().display());
    let distortion = data::Distortion::from(&config.augment);
    if !distortion.is_identity() {
        let picture =
            plots::write_augmentation_plot(run.path(), &mnist.train, &distortion, config.seed)?;
        outln!(
            "augmentation: {} shows what the network sees",
            picture.display()
        );
    }
    if let Some(point) = &stopped {
        outln!(
            "resuming in epoch {} of {} after batch {}",
            point.epoch,
            config.epochs,
            point.trained.batches
        );
    } else if let Some(latest) = resume
        .as_ref()
        .filter(|latest| latest.epoch < config.epochs)
    {
        outln!("resuming after epoch {} of {}", latest.epoch, config.epochs);
    }

    let dashboard = options.dashboard;
    let resume_hint = resume_hint(run.path());
    let interrupter = Interrupter::new();
    let watch = SignalWatch::start(interrupter.clone(), resume_hint.clone())?;
    let test_split = Arc::new(mnist.test);
    let outcome = training::fit(Fit {
        config: &config,
        train: Arc::new(mnist.train),
        test: Arc::clone(&test_split),
        device: &device,
        run: &run,
        dashboard,
        resume: resume.as_ref(),
        stopped: stopped.as_ref(),
        interrupter,
        watch: &watch,
    })?;

    if dashboard {
        // The dashboard's screen is gone; leave the epochs in the scrollback.
        for epoch in &outcome.epochs {
            outln!("{}", epoch.line(config.epochs));
        }
    }
    let (model, test, stopped_early, best_epoch) = match outcome.ending {
        Ending::Finished {
            model,
            test,
            stopped_early,
            best_epoch,
        } => (model, test, stopped_early, best_epoch),
        Ending::Interrupted { signal } => {
            errln!(
                "training interrupted by {} during epoch {} of {}. {}",
                signals::name(signal),
                outcome.epochs.len() + 1,
                config.epochs,
                kept(run.path(), &resume_hint)
            );
            return Ok(Finished::Interrupted { signal });
        }
        Ending::Diverged(divergence) => {
            bail!(
                "training diverged: {divergence} (learning rate {:e}); lower \
                 optimizer.learning_rate. {}",
                config.optimizer.learning_rate(),
                kept(run.path(), &resume_hint)
            );
        }
    };
    model::save_model(run.path(), &outcome.model_config, &model)?;
    EpochMetrics::write_csv(&run, &outcome.epochs)?;
    if config.grad_norms {
        GradNorms::write(&run, &outcome.epochs)?;
    }
    let test = &test;
    let summary = TestSummary {
        backend: config.backend.to_string(),
        best_epoch,
        best_valid_accuracy: outcome
            .epochs
            .iter()
            .map(|e| e.valid_accuracy)
            .reduce(f64::max),
        correct: test.correct,
        epochs_completed: outcome.epochs.len(),
        parameters: outcome.model_config.num_params(),
        seconds_per_epoch: outcome.epochs.iter().map(|e| e.seconds).collect(),
        stopped_early: stopped_early.clone(),
        test_accuracy: test.accuracy(),
        test_images: test.count,
        test_loss: test.loss,
        validation: if config.validation.split > 0.0 {
            "held-out part of the training set"
        } else {
            "test set"
        }
        .into(),
    };
    summary.write(&run)?;

    if let Some(reason) = &stopped_early {
        outln!(
            "training stopped after epoch {} of {} ({reason})",
            outcome.epochs.len(),
            config.epochs
        );
    }
    if let Some(best) = outcome.epochs.iter().find(|e| Some(e.epoch) == best_epoch) {
        outln!(
            "kept the weights of epoch {}, the lowest validation loss ({:.4})",
            best.epoch,
            best.valid_loss
        );
    }
    outln!(
        "test loss: {:.4} - test accuracy: {:.4} ({} of {} test images)",
        test.loss,
        test.accuracy(),
        test.correct,
        test.count
    );
    let pictures = plots::write_run_plots(run.path(), test, &test_split)?;
    let names: Vec<String> = pictures
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    // Complete: a run built to replace an earlier one (--overwrite) takes its place now.
    run.finish()?;
    outln!(
        "plots: {}/{{{}}}",
        run.path().join(plots::PLOTS_DIR).display(),
        names.join(",")
    );
    outln!(
        "saved {}; read it with: cargo run --release -p infer -- --run {}",
        run.path().display(),
        run.path().display()
    );
    // The kept model's validation accuracy: the best epoch's or the last's.
    let kept_epoch = outcome
        .epochs
        .iter()
        .rev()
        .find(|e| best_epoch.is_none_or(|best| e.epoch == best));
    if let Some(epoch) = kept_epoch.filter(|e| !outcome.chance.beaten_by(e.valid_accuracy)) {
        errln!(
            "warning: the model is no better than chance: validation accuracy {:.2}% against \
             {:.2}% for always answering the most common digit. The network learned nothing; \
             try a lower optimizer.learning_rate (this run: {:e}) or check the data.",
            100.0 * epoch.valid_accuracy,
            100.0 * outcome.chance.accuracy,
            config.optimizer.learning_rate()
        );
    }
    Ok(Finished::Trained {
        run: run.path().to_path_buf(),
        summary,
    })
}

/// Refuses, before anything is allocated or created, a batch larger than the
/// training set and a network whose training state would not fit in the
/// memory this machine has available ([`model::MlpConfig::training_bytes`]
/// against `MemAvailable`; not checked where the system does not say).
fn check_fits(
    config: &TrainConfig,
    model_config: &model::MlpConfig,
    train_images: usize,
) -> anyhow::Result<()> {
    if config.batch_size > train_images {
        bail!(
            "batch_size = {}: larger than the {train_images} training images",
            config.batch_size
        );
    }
    let needed = model_config.training_bytes(config.batch_size);
    if let Some(available) = available_memory()
        && needed > available
    {
        bail!(
            "the network {} ({} parameters) at batch {} needs about {:.1} GiB to train, more \
             than the {:.1} GiB of memory available; shrink model.hidden or batch_size",
            model_config.describe(),
            model_config.num_params(),
            config.batch_size,
            needed as f64 / GIB,
            available as f64 / GIB
        );
    }
    Ok(())
}

const GIB: f64 = (1u64 << 30) as f64;

/// `MemAvailable` of `/proc/meminfo`, in bytes (Linux).
fn available_memory() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kib: u64 = meminfo
        .lines()
        .find_map(|line| line.strip_prefix("MemAvailable:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// `resume with: cargo run --release -p train -- --resume <run>`
fn resume_hint(run: &Path) -> String {
    format!(
        "Resume with: cargo run --release -p train -- --resume {}",
        run.display()
    )
}

/// What is left of the run after an early end: where it stopped inside an
/// epoch, else its last complete checkpoint, if an epoch finished (every
/// write has ended once training has returned).
fn kept(run: &Path, hint: &str) -> String {
    let latest = checkpoint::read_latest(run).ok();
    let dir = run.join(checkpoint::CHECKPOINT_DIR);
    if let Ok(Some(point)) = stop_point::read(run, latest.as_ref().map_or(0, |l| l.epoch)) {
        return format!(
            "It stopped after batch {} of epoch {}, kept in {}. {hint}",
            point.trained.batches,
            point.epoch,
            dir.display()
        );
    }
    match latest {
        Some(latest) => format!(
            "The checkpoint of epoch {} is in {}. {hint}",
            latest.epoch,
            dir.display()
        ),
        None => "No epoch finished, so there is no checkpoint: start the run again.".into(),
    }
}
