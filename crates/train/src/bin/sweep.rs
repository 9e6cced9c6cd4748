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

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::Mutex;

use anyhow::{Context, bail};
use clap::Parser;
use data::{errln, outln};
use train::plots;
use train::sweep::{self, Job, Row};

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
    match run(&cli) {
        Ok(code) => code,
        Err(error) => {
            errln!("error: {}", data::one_line(&format!("{error:#}")));
            ExitCode::FAILURE
        }
    }
}

/// `<artifacts>/<name>`, or `<name>-2`, `-3`... if taken; created empty.
fn sweep_dir(artifacts: &Path, name: &str) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(artifacts)
        .with_context(|| format!("cannot create {}", artifacts.display()))?;
    for n in 1.. {
        let dir = match n {
            1 => artifacts.join(name),
            _ => artifacts.join(format!("{name}-{n}")),
        };
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(error) => bail!("cannot create {}: {error}", dir.display()),
        }
    }
    unreachable!("some numbered name is free")
}

/// Trains `job` into `dir` with the `train` binary next to this one; its
/// output goes to `<dir>/<name>.log`. Returns why it failed, if it did.
fn train(job: &Job, dir: &Path, cli: &Cli) -> anyhow::Result<Option<String>> {
    let exe = std::env::current_exe().context("cannot find the sweep binary")?;
    let train = exe.with_file_name(format!("train{}", std::env::consts::EXE_SUFFIX));
    let log_path = dir.join(format!("{}.log", job.name));
    let log = std::fs::File::create(&log_path)
        .with_context(|| format!("cannot create {}", log_path.display()))?;
    let mut command = Command::new(&train);
    command
        .args(["--plain", "--artifacts"])
        .arg(dir)
        .args(["--run-name", &job.name])
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    if let Some(config) = &job.config {
        command.arg("--config").arg(config);
    }
    if let Some(data) = &cli.data_dir {
        command.arg("--data-dir").arg(data);
    }
    for assignment in cli.set.iter().chain(&job.set) {
        command.args(["--set", assignment]);
    }
    let status = command
        .status()
        .with_context(|| format!("cannot start {}", train.display()))?;
    if status.success() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&log_path).unwrap_or_default();
    let last = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    Ok(Some(format!("{status}: {}", data::one_line(last))))
}

/// For the runs that recorded gradient norms: one chart each,
/// `grad_norms-<run>.png`, all on the same log axis so they compare.
fn write_grad_norm_charts(
    dir: &Path,
    jobs: &[Job],
    failed: &[(String, String)],
) -> anyhow::Result<()> {
    let mut recorded = Vec::new();
    for job in jobs
        .iter()
        .filter(|job| failed.iter().all(|(name, _)| *name != job.name))
    {
        if let Some(norms) = plots::read_grad_norms(&dir.join(&job.name))? {
            recorded.push((job, norms));
        }
    }
    let all = recorded
        .iter()
        .flat_map(|(_, norms)| norms.iter().flatten());
    let (low, high) = all
        .filter(|n| n.is_finite() && **n > 0.0)
        .fold((f64::INFINITY, 0.0f64), |(low, high), &n| {
            (low.min(n), high.max(n))
        });
    for (job, norms) in &recorded {
        let path = dir.join(format!("grad_norms-{}.png", job.name));
        let title = format!("{}: weight-gradient norm per layer", job.name);
        // A margin of a factor 1.5 each way keeps the lines off the frame.
        let png = plot::grad_norms(&title, norms, Some((low / 1.5, high * 1.5)))
            .with_context(|| format!("cannot draw {}", path.display()))?;
        data::write_atomic(&path, &png)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

fn run(cli: &Cli) -> anyhow::Result<ExitCode> {
    let grid = cli
        .grid
        .iter()
        .map(|axis| sweep::parse_grid(axis))
        .collect::<Result<Vec<_>, _>>()
        .map_err(anyhow::Error::msg)?;
    for config in &cli.configs {
        train::config::TrainConfig::load(config)?;
    }
    let jobs = sweep::jobs(&cli.configs, &grid);
    let mut names: Vec<&str> = jobs.iter().map(|j| j.name.as_str()).collect();
    names.sort_unstable();
    if let Some(pair) = names.windows(2).find(|pair| pair[0] == pair[1]) {
        bail!(
            "two runs would both be named {}: give the configs different file names",
            pair[0]
        );
    }
    let dir = sweep_dir(&cli.artifacts, &cli.name)?;
    let total = jobs.len();
    outln!(
        "sweep of {total} runs, {} at a time, into {}",
        cli.jobs,
        dir.display()
    );
    let queue = Mutex::new(jobs.iter().enumerate().collect::<VecDeque<_>>());
    // Per job, in the jobs' order: its row, or why it failed.
    let outcomes = Mutex::new(vec![None::<Result<Row, String>>; total]);
    let done = Mutex::new(0usize);
    std::thread::scope(|scope| {
        for _ in 0..cli.jobs.min(total as u32) {
            scope.spawn(|| {
                while let Some((index, job)) = queue.lock().expect("queue lock").pop_front() {
                    let outcome = train(job, &dir, cli)
                        .and_then(|failure| match failure {
                            Some(why) => Ok(Err(why)),
                            None => Row::read(&dir.join(&job.name), &job.name).map(Ok),
                        })
                        .unwrap_or_else(|error| Err(format!("{error:#}")));
                    let mut done = done.lock().expect("done lock");
                    *done += 1;
                    match &outcome {
                        Ok(row) => outln!(
                            "[{done}/{total}] {}: test accuracy {:.4}, best validation accuracy {:.4}, {} epochs, {:.2} s/epoch",
                            row.name, row.test_accuracy, row.best_valid_accuracy, row.epochs, row.seconds_per_epoch
                        ),
                        Err(why) => outln!(
                            "[{done}/{total}] {} failed: {why} (log: {}.log)",
                            job.name,
                            dir.join(&job.name).display()
                        ),
                    }
                    outcomes.lock().expect("outcomes lock")[index] = Some(outcome);
                }
            });
        }
    });
    let (mut rows, mut failed) = (Vec::new(), Vec::new());
    for (job, outcome) in jobs
        .iter()
        .zip(outcomes.into_inner().expect("outcomes lock"))
    {
        match outcome.expect("every job ran") {
            Ok(row) => rows.push(row),
            Err(why) => failed.push((job.name.clone(), why)),
        }
    }
    let mut series = Vec::new();
    for row in &rows {
        series.push(plot::Series {
            name: row.name.clone(),
            values: plots::read_metrics(&dir.join(&row.name))?
                .iter()
                .map(|e| e.valid_accuracy)
                .collect(),
        });
    }
    write_grad_norm_charts(&dir, &jobs, &failed)?;
    let table = sweep::markdown(&rows, &failed);
    for (file, text) in [("summary.md", &table), ("summary.csv", &sweep::csv(&rows))] {
        let path = dir.join(file);
        data::write_atomic(&path, text.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if !series.is_empty() {
        let path = dir.join("val_accuracy.png");
        let title = format!("{}: validation accuracy per epoch", cli.name);
        let png = plot::sweep_chart(&title, &series)
            .with_context(|| format!("cannot draw {}", path.display()))?;
        data::write_atomic(&path, &png)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    outln!("\n{table}");
    outln!(
        "table: {0}/summary.md, {0}/summary.csv; chart: {0}/val_accuracy.png",
        dir.display()
    );
    Ok(if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        errln!("error: {} of {total} runs failed", failed.len());
        ExitCode::FAILURE
    })
}
