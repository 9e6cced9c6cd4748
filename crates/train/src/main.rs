//! `train`: trains the MNIST tutorial network with Burn's `Learner` and writes a
//! run directory (model, resolved config, per-epoch metrics, test metrics).
//! The work is [`train::train`]; this file reads the flags.
//!
//! ```text
//! cargo run --release -p train -- --config configs/default.toml [--epochs 1] [--backend wgpu] ...
//! cargo run --release -p train -- --resume artifacts/tutorial
//! ```

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use config::Overrides;
use console::errln;
use train::{Finished, TrainOptions};

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
        "set",
    ])]
    resume: Option<PathBuf>,
    /// One line per epoch even when stdout is a terminal (no dashboard).
    #[arg(long)]
    plain: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let options = TrainOptions {
        dashboard: !cli.plain && std::io::stdout().is_terminal(),
        config: cli.config,
        overrides: cli.overrides,
        overwrite: cli.overwrite,
        resume: cli.resume,
    };
    let resolved = match train::resolve(&options) {
        Ok(resolved) => resolved,
        Err(error) => {
            errln!("error: {error:#}");
            return ExitCode::FAILURE;
        }
    };
    // Burn builds a resumed optimizer state on its default device first: make
    // that the run's backend rather than the first one compiled in (wgpu).
    if std::env::var_os("BURN_DEVICE").is_none() {
        // SAFETY: no other thread runs yet; the first (Rayon's pool) starts below.
        unsafe { std::env::set_var("BURN_DEVICE", resolved.config.backend.to_string()) };
    }
    model::flush_denormals_to_zero();
    match train::train(resolved, &options) {
        Ok(Finished::Trained { .. }) => ExitCode::SUCCESS,
        Ok(Finished::Interrupted { signal }) => ExitCode::from(128 + signal as u8),
        Err(error) => {
            errln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
