//! The `train` command as a library function, one named step after the
//! other: open the data, claim the run directory, say what will run, launch
//! training, then write what the run produced (the model, `metrics.csv`,
//! `grad_norms.csv`, `test.json`, the pictures). The config was resolved
//! before ([`crate::resolve`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::bail;
use burn::train::Interrupter;
use config::TrainConfig;
use console::{errln, outln};
use data::{Located, Mnist, MnistSplit};
use model::{BackendDevice, MlpConfig};
use run::{EpochMetrics, GradNorms, RunDir, TestSummary, plots};

use crate::checkpoint::{self, Latest};
use crate::guard::Chance;
use crate::resolve::{Resolved, Resumed, TrainOptions};
use crate::signals::{self, SignalWatch};
use crate::stop_point::{self, StopPoint};
use crate::training::{self, Ending, Evaluated, Fit, Outcome};

/// How a run that did not fail ended.
#[derive(Debug)]
pub enum Finished {
    /// Trained, evaluated and saved into `run`.
    Trained { run: PathBuf, summary: TestSummary },
    /// Stopped by this signal (its number); the checkpoints are kept.
    Interrupted { signal: i32 },
}

/// Trains the run `resolved` describes (see [`crate::resolve`]), with the
/// dashboard and `--overwrite` of `options`.
pub fn train(resolved: Resolved, options: &TrainOptions) -> anyhow::Result<Finished> {
    let Resolved {
        config,
        network,
        resumed,
    } = resolved;
    // The device first: a missing GPU should fail before any download.
    let device = config.backend.device()?;
    let (mnist, located) = data::load_mnist(config.data_dir.as_deref())?;
    check_fits(&config, &network, mnist.train.len())?;
    let Resumed {
        mut run,
        latest,
        stopped,
    } = claim_run(resumed, &config, options.overwrite)?;
    announce(&config, &network, &mnist, &located, &run)?;
    announce_resume(&config, latest.as_ref(), stopped.as_ref());

    let hint = resume_hint(run.path());
    let interrupter = Interrupter::new();
    let watch = SignalWatch::start(interrupter.clone(), hint.clone())?;
    let test = Arc::new(mnist.test);
    let Outcome {
        epochs,
        ending,
        chance,
    } = training::fit(Fit {
        config: &config,
        network: &network,
        train: Arc::new(mnist.train),
        test: Arc::clone(&test),
        device: &device,
        run: &run,
        dashboard: options.dashboard,
        resume: latest.as_ref(),
        stopped: stopped.as_ref(),
        interrupter,
        watch: &watch,
    })?;
    if options.dashboard {
        // The dashboard's screen is gone; leave the epochs in the scrollback.
        for epoch in &epochs {
            outln!("{}", epoch.line(config.epochs));
        }
    }
    let evaluated = match ending {
        Ending::Finished(evaluated) => evaluated,
        Ending::Interrupted { signal } => {
            errln!(
                "training interrupted by {} during epoch {} of {}. {}",
                signals::name(signal),
                epochs.len() + 1,
                config.epochs,
                kept(run.path(), &hint)
            );
            return Ok(Finished::Interrupted { signal });
        }
        Ending::Diverged(divergence) => bail!(
            "training diverged: {divergence} (learning rate {:e}); lower \
             optimizer.learning_rate. {}",
            config.optimizer.learning_rate(),
            kept(run.path(), &hint)
        ),
    };
    let saved = write_outputs(&config, &network, &mut run, &epochs, &evaluated, &test)?;
    report(&config, &run, &epochs, &chance, &evaluated, &saved.pictures);
    Ok(Finished::Trained {
        run: run.path().to_path_buf(),
        summary: saved.summary,
    })
}

/// The run directory: the resumed run's, or a new one (numbered, or
/// replacing an earlier run of the name with `overwrite`) holding the
/// resolved config.
fn claim_run(
    resumed: Option<Resumed>,
    config: &TrainConfig,
    overwrite: bool,
) -> anyhow::Result<Resumed> {
    if let Some(resumed) = resumed {
        return Ok(resumed);
    }
    let run = RunDir::create(&config.artifacts, &config.run_name, overwrite)?;
    run.write_config(config)?;
    Ok(Resumed {
        run,
        latest: None,
        stopped: None,
    })
}

/// Says what will train on what data, where it goes, and, for a distorted
/// run, draws what the network will see.
fn announce(
    config: &TrainConfig,
    network: &MlpConfig,
    mnist: &Mnist,
    located: &Located,
    run: &RunDir,
) -> anyhow::Result<()> {
    outln!(
        "network {} ({} parameters), {}, {} epochs of batch {}, backend {}, seed {}",
        network.describe(),
        network.num_params(),
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
    Ok(())
}

/// Where a resumed run picks up.
fn announce_resume(config: &TrainConfig, latest: Option<&Latest>, stopped: Option<&StopPoint>) {
    if let Some(point) = stopped {
        outln!(
            "resuming in epoch {} of {} after batch {}",
            point.epoch,
            config.epochs,
            point.trained.batches
        );
    } else if let Some(latest) = latest.filter(|latest| latest.epoch < config.epochs) {
        outln!("resuming after epoch {} of {}", latest.epoch, config.epochs);
    }
}

/// What [`write_outputs`] wrote.
struct Saved {
    summary: TestSummary,
    /// The pictures' file names in the run's plots directory.
    pictures: Vec<String>,
}

/// Writes the run's results: the model, `metrics.csv`, `grad_norms.csv`
/// (when recorded), `test.json` and the pictures, then completes the run
/// directory (a run built to replace an earlier one takes its place now).
fn write_outputs(
    config: &TrainConfig,
    network: &MlpConfig,
    run: &mut RunDir,
    epochs: &[EpochMetrics],
    evaluated: &Evaluated,
    test_split: &MnistSplit,
) -> anyhow::Result<Saved> {
    model::save_model(run.path(), network, &evaluated.model)?;
    EpochMetrics::write_csv(run, epochs)?;
    if config.grad_norms {
        GradNorms::write(run, epochs)?;
    }
    let test = &evaluated.test;
    let summary = TestSummary {
        backend: config.backend.to_string(),
        best_epoch: evaluated.best_epoch,
        best_valid_accuracy: epochs.iter().map(|e| e.valid_accuracy).reduce(f64::max),
        correct: test.correct,
        epochs_completed: epochs.len(),
        parameters: network.num_params(),
        seconds_per_epoch: epochs.iter().map(|e| e.seconds).collect(),
        stopped_early: evaluated.stopped_early.as_ref().map(ToString::to_string),
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
    summary.write(run)?;
    let pictures = plots::write_run_plots(run.path(), test, test_split)?
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    run.finish()?;
    Ok(Saved { summary, pictures })
}

/// Says how training ended, which weights were kept, the test result, where
/// everything went, and warns when the network learned nothing.
fn report(
    config: &TrainConfig,
    run: &RunDir,
    epochs: &[EpochMetrics],
    chance: &Chance,
    evaluated: &Evaluated,
    pictures: &[String],
) {
    if let Some(reason) = &evaluated.stopped_early {
        outln!(
            "training stopped after epoch {} of {} ({reason})",
            epochs.len(),
            config.epochs
        );
    }
    let best_epoch = evaluated.best_epoch;
    if let Some(best) = epochs.iter().find(|e| Some(e.epoch) == best_epoch) {
        outln!(
            "kept the weights of epoch {}, the lowest validation loss ({:.4})",
            best.epoch,
            best.valid_loss
        );
    }
    let test = &evaluated.test;
    outln!(
        "test loss: {:.4} - test accuracy: {:.4} ({} of {} test images)",
        test.loss,
        test.accuracy(),
        test.correct,
        test.count
    );
    outln!(
        "plots: {}/{{{}}}",
        run.path().join(plots::PLOTS_DIR).display(),
        pictures.join(",")
    );
    outln!(
        "saved {}; read it with: cargo run --release -p infer -- --run {}",
        run.path().display(),
        run.path().display()
    );
    // The kept model's validation accuracy: the best epoch's or the last's.
    let kept_epoch = epochs
        .iter()
        .rev()
        .find(|e| best_epoch.is_none_or(|best| e.epoch == best));
    if let Some(epoch) = kept_epoch.filter(|e| !chance.beaten_by(e.valid_accuracy)) {
        errln!(
            "warning: the model is no better than chance: validation accuracy {:.2}% against \
             {:.2}% for always answering the most common digit. The network learned nothing; \
             try a lower optimizer.learning_rate (this run: {:e}) or check the data.",
            100.0 * epoch.valid_accuracy,
            100.0 * chance.accuracy,
            config.optimizer.learning_rate()
        );
    }
}

/// Refuses, before anything is allocated or created, a batch larger than the
/// training set and a network whose training state would not fit in the
/// memory this machine has available ([`MlpConfig::training_bytes`]
/// against `MemAvailable`; not checked where the system does not say).
fn check_fits(
    config: &TrainConfig,
    network: &MlpConfig,
    train_images: usize,
) -> anyhow::Result<()> {
    if config.batch_size > train_images {
        bail!(
            "batch_size = {}: larger than the {train_images} training images",
            config.batch_size
        );
    }
    let needed = network.training_bytes(config.batch_size);
    if let Some(available) = available_memory()
        && needed > available
    {
        bail!(
            "the network {} ({} parameters) at batch {} needs about {:.1} GiB to train, more \
             than the {:.1} GiB of memory available; shrink model.hidden or batch_size",
            network.describe(),
            network.num_params(),
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
