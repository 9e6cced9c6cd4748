//! `train`: trains the MNIST tutorial network with Burn's `Learner` and writes a
//! run directory (model, resolved config, per-epoch metrics, test metrics).
//!
//! ```text
//! cargo run --release -p train -- --config configs/default.toml [--epochs 1] [--backend wgpu] ...
//! ```

mod config;
mod renderer;
mod run_dir;
mod training;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use data::Fetcher;

use config::{Overrides, TrainConfig};
use renderer::EpochMetrics;
use run_dir::RunDir;

/// Train the MNIST tutorial network (784-64-64-10, Adam, cross-entropy) with Burn.
#[derive(Parser, Debug)]
#[command(version)]
struct Cli {
    /// TOML config; without it, the tutorial's values (as in configs/default.toml).
    #[arg(long)]
    config: Option<PathBuf>,
    #[command(flatten)]
    overrides: Overrides,
    /// Replace an earlier run of the same name instead of numbering a new one.
    #[arg(long)]
    overwrite: bool,
    /// One line per epoch even when stdout is a terminal (no dashboard).
    #[arg(long)]
    plain: bool,
}

fn main() -> ExitCode {
    model::flush_denormals_to_zero();
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> anyhow::Result<()> {
    let mut config = match &cli.config {
        Some(path) => TrainConfig::load(path)?,
        None => TrainConfig::default(),
    };
    config.apply(&cli.overrides)?;
    // The device first: a missing GPU should fail before any download.
    let device = config.backend.device()?;
    let located = Fetcher::default().locate(config.data_dir.as_deref())?;
    let mnist = data::load_dir(&located.dir)?;
    let run = RunDir::create(&config.artifacts, &config.run_name, cli.overwrite)?;
    run.write("config.toml", config.to_toml().as_bytes())?;

    let model_config = config.model_config(data::IMAGE_PIXELS, data::NUM_CLASSES);
    println!(
        "network {} ({} parameters), Adam lr {}, {} epochs of batch {}, backend {}, seed {}",
        model_config.describe(),
        model_config.num_params(),
        config.optimizer.learning_rate,
        config.epochs,
        config.batch_size,
        config.backend,
        config.seed
    );
    println!(
        "data: {} train and {} test images from {} ({})",
        mnist.train.len(),
        mnist.test.len(),
        located.dir.display(),
        located.source
    );
    println!("run directory: {}", run.path().display());

    let dashboard = !cli.plain && std::io::stdout().is_terminal();
    let outcome = training::fit(
        &config,
        Arc::new(mnist.train),
        Arc::new(mnist.test),
        &device,
        &run,
        dashboard,
    )?;

    if dashboard {
        // The dashboard's screen is gone; leave the epochs in the scrollback.
        for epoch in &outcome.epochs {
            println!("{}", epoch.line(config.epochs));
        }
    }
    model::save_model(run.path(), &outcome.model_config, &outcome.model)?;
    let mut csv = String::from(EpochMetrics::CSV_HEADER);
    for epoch in &outcome.epochs {
        csv.push('\n');
        csv.push_str(&epoch.csv_row());
    }
    csv.push('\n');
    run.write("metrics.csv", csv.as_bytes())?;
    let test = &outcome.test;
    let summary = serde_json::json!({
        "test_loss": test.loss,
        "test_accuracy": test.accuracy(),
        "test_images": test.count,
        "correct": test.correct,
        "epochs_completed": outcome.epochs.len(),
        "seconds_per_epoch": outcome.epochs.iter().map(|e| e.seconds).collect::<Vec<_>>(),
        "backend": config.backend.to_string(),
        "stopped_early": outcome.stopped_early,
    });
    run.write("test.json", format!("{summary:#}\n").as_bytes())?;

    if let Some(reason) = &outcome.stopped_early {
        println!(
            "training stopped during epoch {} of {} ({reason}); the model holds the weights \
             reached so far",
            outcome.epochs.len() + 1,
            config.epochs
        );
    }
    println!(
        "test loss: {:.4} - test accuracy: {:.4} ({} of {} test images)",
        test.loss,
        test.accuracy(),
        test.correct,
        test.count
    );
    println!(
        "saved {}; read it with: cargo run --release -p infer -- --run {}",
        run.path().display(),
        run.path().display()
    );
    Ok(())
}
