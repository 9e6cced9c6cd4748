//! `sweep`: trains several configs, or one config over a grid of overrides,
//! N runs at a time, and compares them.
//!
//! ```text
//! cargo run --release -p train --bin sweep -- configs/lr-0.005.toml configs/deeper.toml --jobs 2
//! cargo run --release -p train --bin sweep -- --grid optimizer.learning_rate=0.001,0.005 --grid batch_size=32,128
//! target/release/sweep --slurm --grid seed=1,2,3,4 --jobs 2 --time 01:00:00 --name seeds
//! target/release/sweep status artifacts/seeds
//! target/release/sweep resume artifacts/seeds
//! ```
//!
//! Each run is an ordinary `train` run in `<artifacts>/<name>/<run>/` with its
//! log in `<run>.log`; the sweep directory also gets `summary.md`,
//! `summary.csv` and `val_accuracy.png` (validation accuracy per epoch), and
//! for runs with `grad_norms = true`, `grad_norms-<run>.png` on one shared axis.
//! With `--slurm` the runs are one Slurm job array instead (see
//! [`train::sweep::submit`]). The work is in [`train::sweep`]; this file
//! reads the flags.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use console::errln;
use train::sweep::{SlurmOptions, SlurmSubmit, SweepOptions, Swept};

/// Train several configs (or a grid of overrides) and compare them in a table and a chart.
#[derive(Parser, Debug)]
#[command(
    version,
    allow_negative_numbers = true,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Later>,
    /// TOML configs to run; without any, the tutorial's (configs/default.toml).
    configs: Vec<PathBuf>,
    /// KEY=V1,V2,...: run every config with each value (several --grid: every
    /// combination). Keys as in the config: optimizer.learning_rate, batch_size, model.hidden...
    #[arg(long = "grid", value_name = "KEY=V1,V2,...")]
    grid: Vec<String>,
    /// KEY=VALUE set in every run (e.g. epochs=5).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Runs trained at the same time, each with its share of the cores as
    /// threads unless RAYON_NUM_THREADS is set (with --slurm: array tasks
    /// running at once).
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
    #[command(flatten)]
    slurm: SlurmArgs,
}

/// Submitting the sweep to Slurm as one job array (one task per run, at
/// most --jobs at once); the others apply only with --slurm.
#[derive(Args, Debug)]
struct SlurmArgs {
    /// Submit the runs as one Slurm job array (sbatch) instead of training here.
    #[arg(long)]
    slurm: bool,
    /// Slurm partition of every task (sbatch --partition).
    #[arg(long, requires = "slurm")]
    partition: Option<String>,
    /// Time limit of every task (sbatch --time: MM, HH:MM:SS, D-HH:MM).
    #[arg(long, requires = "slurm")]
    time: Option<String>,
    /// CPUs of every task (sbatch --cpus-per-task); the run uses as many threads.
    #[arg(long, requires = "slurm", value_parser = clap::value_parser!(u32).range(1..))]
    cpus_per_task: Option<u32>,
    /// Memory of every task (sbatch --mem: 4G, 500M).
    #[arg(long, requires = "slurm")]
    mem: Option<String>,
    /// GPUs of every task (sbatch --gpus-per-task: 1, a100:1).
    #[arg(long, requires = "slurm")]
    gpus_per_task: Option<String>,
    /// Seconds before the time limit at which Slurm warns a task, which then
    /// stops at a checkpoint and requeues itself (sbatch --signal=B:USR1@N).
    #[arg(long, requires = "slurm", default_value_t = 90,
          value_parser = clap::value_parser!(u32).range(1..=65535))]
    warning_seconds: u32,
    /// Another sbatch option for every task, as one #SBATCH line (repeat it).
    #[arg(
        long = "sbatch-arg",
        value_name = "OPTION",
        requires = "slurm",
        allow_hyphen_values = true
    )]
    sbatch_args: Vec<String>,
    /// Print the job script; write and submit nothing.
    #[arg(long, requires = "slurm")]
    dry_run: bool,
    /// Return once submitted instead of following the job (ask later with `sweep status`).
    #[arg(long, requires = "slurm")]
    no_wait: bool,
    /// Replace an existing sweep directory of the same name.
    #[arg(long, requires = "slurm")]
    overwrite: bool,
}

/// Later commands on a sweep submitted with --slurm.
#[derive(Subcommand, Debug)]
enum Later {
    /// Report a Slurm sweep's tasks; once all have ended, write its summary.
    Status {
        /// The sweep directory (<artifacts>/<name>).
        dir: PathBuf,
    },
    /// Submit again the runs of a Slurm sweep that did not finish (after scancel, a time limit,
    /// a failure); each resumes from its checkpoint.
    Resume {
        /// The sweep directory (<artifacts>/<name>).
        dir: PathBuf,
        /// Return once submitted instead of following the job.
        #[arg(long)]
        no_wait: bool,
    },
    /// One array task (what the job script runs).
    #[command(hide = true)]
    Task { dir: PathBuf, index: usize },
}

/// The exit status of a sweep's outcome: failure when a run failed.
fn exit(swept: Option<Swept>) -> ExitCode {
    match swept {
        Some(Swept { failed, runs }) if failed > 0 => {
            errln!("error: {failed} of {runs} runs failed");
            ExitCode::FAILURE
        }
        _ => ExitCode::SUCCESS,
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Some(Later::Status { dir }) => train::sweep::status(&dir).map(exit),
        Some(Later::Resume { dir, no_wait }) => train::sweep::resume(&dir, !no_wait).map(exit),
        Some(Later::Task { dir, index }) => train::sweep::task(&dir, index).map(ExitCode::from),
        None => {
            let options = SweepOptions {
                configs: cli.configs,
                grid: cli.grid,
                set: cli.set,
                jobs: cli.jobs,
                name: cli.name,
                artifacts: cli.artifacts,
                data_dir: cli.data_dir,
            };
            let slurm = cli.slurm;
            if slurm.slurm {
                let options_slurm = SlurmOptions {
                    partition: slurm.partition,
                    time: slurm.time,
                    cpus_per_task: slurm.cpus_per_task,
                    mem: slurm.mem,
                    gpus_per_task: slurm.gpus_per_task,
                    warning_seconds: slurm.warning_seconds,
                    sbatch_args: slurm.sbatch_args,
                };
                let how = SlurmSubmit {
                    dry_run: slurm.dry_run,
                    overwrite: slurm.overwrite,
                    wait: !slurm.no_wait,
                };
                train::sweep::submit(&options, &options_slurm, how).map(exit)
            } else {
                train::sweep::sweep(&options).map(|swept| exit(Some(swept)))
            }
        }
    };
    outcome.unwrap_or_else(|error| {
        errln!("error: {}", console::one_line(&format!("{error:#}")));
        ExitCode::FAILURE
    })
}
