//! `train`: trains the MNIST tutorial network with Burn's `Learner` and writes a
//! run directory (model, resolved config, per-epoch metrics, test metrics).
//!
//! ```text
//! cargo run --release -p train -- --config configs/default.toml [--epochs 1] [--backend wgpu] ...
//! cargo run --release -p train -- --resume artifacts/tutorial
//! ```

mod checkpoint;
mod guard;
mod metrics;
mod renderer;
mod run_dir;
mod signals;
mod strategy;
mod training;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::bail;
use burn::train::Interrupter;
use clap::Parser;
use data::{Fetcher, errln, outln};

use renderer::EpochMetrics;
use run_dir::RunDir;
use signals::SignalWatch;
use train::config::{Overrides, TrainConfig};
use train::plots;
use training::Ending;

/// Train the MNIST tutorial network (784-64-64-10, Adam, cross-entropy) with Burn.
#[derive(Parser, Debug)]
#[command(version, allow_negative_numbers = true)]
struct Cli {
    /// TOML config; without it, the tutorial's values (as in configs/default.toml).
    #[arg(long)]
    config: Option<PathBuf>,
    #[command(flatten)]
    overrides: Overrides,
    /// Replace an earlier run of the same name instead of numbering a new one.
    #[arg(long)]
    overwrite: bool,
    /// Continue an interrupted run from its last checkpoint, with the config it
    /// was started with (only --data-dir and --plain may be given besides).
    #[arg(long, value_name = "RUN_DIR", conflicts_with_all = [
        "config", "overwrite", "epochs", "batch_size", "lr", "seed", "backend", "artifacts", "run_name",
    ])]
    resume: Option<PathBuf>,
    /// One line per epoch even when stdout is a terminal (no dashboard).
    #[arg(long)]
    plain: bool,
}

fn main() -> ExitCode {
    model::flush_denormals_to_zero();
    let cli = Cli::parse();
    match run(&cli) {
        Ok(code) => code,
        Err(error) => {
            errln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> anyhow::Result<ExitCode> {
    let (config, resume) = match &cli.resume {
        Some(run_dir) => {
            let mut config = TrainConfig::load(&run_dir.join("config.toml"))?;
            config.apply(&cli.overrides)?;
            let latest = checkpoint::read_latest(run_dir)?;
            if latest.epoch >= config.epochs {
                bail!(
                    "{} finished all {} epochs already: nothing to resume",
                    run_dir.display(),
                    config.epochs
                );
            }
            (config, Some((run_dir.clone(), latest)))
        }
        None => {
            let mut config = match &cli.config {
                Some(path) => TrainConfig::load(path)?,
                None => TrainConfig::default(),
            };
            config.apply(&cli.overrides)?;
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
    let located = Fetcher::default().locate(config.data_dir.as_deref())?;
    let mnist = data::load_dir(&located.dir)?;
    let run = match &resume {
        Some((run_dir, _)) => RunDir::open(run_dir)?,
        None => {
            let run = RunDir::create(&config.artifacts, &config.run_name, cli.overwrite)?;
            run.write("config.toml", config.to_toml().as_bytes())?;
            run
        }
    };
    let resume = resume.map(|(_, latest)| latest);

    let model_config = config.model_config(data::IMAGE_PIXELS, data::NUM_CLASSES);
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
    if !config.augment.is_off() {
        let picture = plots::write_augmentation_plot(
            run.path(),
            &mnist.train,
            &config.augment.distortion(),
            config.seed,
        )?;
        outln!(
            "augmentation: {} shows what the network sees",
            picture.display()
        );
    }
    if let Some(latest) = &resume {
        outln!("resuming after epoch {} of {}", latest.epoch, config.epochs);
    }

    let dashboard = !cli.plain && std::io::stdout().is_terminal();
    let resume_hint = resume_hint(run.path());
    let interrupter = Interrupter::new();
    let watch = SignalWatch::start(interrupter.clone(), resume_hint.clone())?;
    let test_split = Arc::new(mnist.test);
    let outcome = training::fit(
        &config,
        Arc::new(mnist.train),
        Arc::clone(&test_split),
        &device,
        &run,
        dashboard,
        resume.as_ref(),
        (interrupter, &watch),
    )?;

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
            return Ok(ExitCode::from(128 + signal as u8));
        }
        Ending::Diverged(divergence) => {
            bail!(
                "training diverged: {divergence} (learning rate {:e}); lower \
                 optimizer.learning_rate. {}",
                config.optimizer.learning_rate,
                kept(run.path(), &resume_hint)
            );
        }
    };
    model::save_model(run.path(), &outcome.model_config, &model)?;
    let mut csv = String::from(EpochMetrics::CSV_HEADER);
    for epoch in &outcome.epochs {
        csv.push('\n');
        csv.push_str(&epoch.csv_row());
    }
    csv.push('\n');
    run.write(plots::METRICS_FILE, csv.as_bytes())?;
    if config.grad_norms {
        let rows: Vec<(usize, &[f64])> = outcome
            .epochs
            .iter()
            .map(|e| (e.epoch, e.grad_norms.as_slice()))
            .collect();
        run.write(
            plots::GRAD_NORMS_FILE,
            plots::grad_norms_csv(&rows).as_bytes(),
        )?;
    }
    let test = &test;
    let best_valid_accuracy = outcome
        .epochs
        .iter()
        .map(|e| e.valid_accuracy)
        .fold(f64::NAN, f64::max);
    let summary = serde_json::json!({
        "test_loss": test.loss,
        "test_accuracy": test.accuracy(),
        "test_images": test.count,
        "correct": test.correct,
        "epochs_completed": outcome.epochs.len(),
        "seconds_per_epoch": outcome.epochs.iter().map(|e| e.seconds).collect::<Vec<_>>(),
        "backend": config.backend.to_string(),
        "stopped_early": stopped_early,
        "best_epoch": best_epoch,
        "best_valid_accuracy": best_valid_accuracy,
        "validation": if config.validation.split > 0.0 { "held-out part of the training set" } else { "test set" },
        "parameters": outcome.model_config.num_params(),
    });
    run.write("test.json", format!("{summary:#}\n").as_bytes())?;

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
            config.optimizer.learning_rate
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `resume with: cargo run --release -p train -- --resume <run>`
fn resume_hint(run: &Path) -> String {
    format!(
        "Resume with: cargo run --release -p train -- --resume {}",
        run.display()
    )
}

/// What is left of the run after an early end: its last complete checkpoint,
/// if an epoch finished (every write has ended once training has returned).
fn kept(run: &Path, hint: &str) -> String {
    match checkpoint::read_latest(run) {
        Ok(latest) => format!(
            "The checkpoint of epoch {} is in {}. {hint}",
            latest.epoch,
            run.join(checkpoint::CHECKPOINT_DIR).display()
        ),
        Err(_) => "No epoch finished, so there is no checkpoint: start the run again.".into(),
    }
}
