//! `sweep`: trains several configs, or one config over a grid of overrides,
//! N runs at a time, and compares them.
//!
//! ```text
//! cargo run --release -p train --bin sweep -- configs/lr-0.005.toml configs/deeper.toml --jobs 2
//! cargo run --release -p train --bin sweep -- --grid optimizer.learning_rate=0.001,0.005 --grid batch_size=32,128
//! ```
//!
//! Each run is an ordinary `train` run in `<artifacts>/<name>/<run>/` with its
//! log in `<run>.log`; the sweep directory also gets `summary.md`,
//! `summary.csv` and `val_accuracy.png` (validation accuracy per epoch), and
//! for runs with `grad_norms = true`, `grad_norms-<run>.png` on one shared axis.
//! The work is [`train::sweep::sweep`]; this file reads the flags.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use data::errln;
use train::sweep::{SweepOptions, Swept};

/// Train several configs (or a grid of overrides) and compare them in a table and a chart.
#[derive(Parser, Debug)]
#[command(version, allow_negative_numbers = true)]
struct Cli {
    /// TOML configs to run; without any, the tutorial's (configs/default.toml).
    configs: Vec<PathBuf>,
    /// KEY=V1,V2,...: run every config with each value (several --grid: every
    /// combination). Keys as in the config: optimizer.learning_rate, batch_size, model.hidden...
    #[arg(long = "grid", value_name = "KEY=V1,V2,...")]
    grid: Vec<String>,
    /// KEY=VALUE set in every run (e.g. epochs=5).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Runs trained at the same time.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    jobs: u32,
    /// The sweep's directory name under --artifacts (numbered if taken).
    #[arg(long, default_value = "sweep")]
    name: String,
    /// Directory holding the sweep's directory.
    #[arg(long, default_value = "artifacts")]
    artifacts: PathBuf,
    /// Passed to every run: a directory of MNIST-shaped IDX files.
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let options = SweepOptions {
        configs: cli.configs,
        grid: cli.grid,
        set: cli.set,
        jobs: cli.jobs,
        name: cli.name,
        artifacts: cli.artifacts,
        data_dir: cli.data_dir,
    };
    match train::sweep::sweep(&options) {
        Ok(Swept { failed: 0, .. }) => ExitCode::SUCCESS,
        Ok(Swept { runs, failed }) => {
            errln!("error: {failed} of {runs} runs failed");
            ExitCode::FAILURE
        }
        Err(error) => {
            errln!("error: {}", data::one_line(&format!("{error:#}")));
            ExitCode::FAILURE
        }
    }
}
