//! Running a sweep: each job is an ordinary `train` run (the binary next to
//! the running one) in `<artifacts>/<name>/<run>/`, N at a time, with its log
//! in `<run>.log`; then the table, `val_accuracy.png` (validation accuracy
//! per epoch) and, for runs with `grad_norms = true`, `grad_norms-<run>.png`
//! on one shared axis.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

use anyhow::{Context, bail};
use console::outln;

use super::Job;
use run::sweep_summary::{self, Row};

/// What to sweep, as the `sweep` command's flags say it.
#[derive(Clone, Debug, Default)]
pub struct SweepOptions {
    /// TOML configs to run; none: the tutorial's.
    pub configs: Vec<PathBuf>,
    /// `KEY=V1,V2,...` axes: every config runs at every combination.
    pub grid: Vec<String>,
    /// `KEY=VALUE` set in every run.
    pub set: Vec<String>,
    /// Runs trained at the same time (at least 1), each with its share of
    /// the cores as threads unless `RAYON_NUM_THREADS` is set.
    pub jobs: u32,
    /// The sweep's directory name under `artifacts` (numbered if taken).
    pub name: String,
    pub artifacts: PathBuf,
    /// Passed to every run: a directory of MNIST-shaped IDX files.
    pub data_dir: Option<PathBuf>,
}

/// The `train` binary next to the running one (`sweep`).
pub(super) fn train_binary() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot find the sweep binary")?;
    Ok(exe.with_file_name(format!("train{}", std::env::consts::EXE_SUFFIX)))
}

/// The `train` command for `job` in the sweep directory `dir`, with the
/// sweep's own assignments `set` first and its data directory, output to
/// `log`: a new run `<dir>/<name>` or, with `resume`, that run continued.
pub(super) fn train_command(
    train: &Path,
    job: &Job,
    dir: &Path,
    set: &[String],
    data_dir: Option<&Path>,
    resume: bool,
    log: std::fs::File,
) -> anyhow::Result<Command> {
    let mut command = Command::new(train);
    command
        .arg("--plain")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    if resume {
        command.arg("--resume").arg(dir.join(&job.name));
    } else {
        command
            .arg("--artifacts")
            .arg(dir)
            .args(["--run-name", &job.name]);
        if let Some(config) = &job.config {
            command.arg("--config").arg(config);
        }
        for assignment in set.iter().chain(&job.set) {
            command.args(["--set", assignment]);
        }
    }
    if let Some(data) = data_dir {
        command.arg("--data-dir").arg(data);
    }
    Ok(command)
}

/// Why a run failed: its exit status and the last line of its log.
pub(super) fn failure(status: std::process::ExitStatus, log: &str) -> String {
    let last = log
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    format!("{status}: {}", console::one_line(last))
}

/// Trains `job` into `dir` with the `train` binary next to this one; its
/// output goes to `<dir>/<name>.log`. Returns the run directory it trained
/// into, as it said in its log (normally `<dir>/<name>`, but `<name>-2` if
/// another process took that name meanwhile: the sweep reads back its own
/// run, never the other's), or why it failed.
/// With `threads`, the run's thread pool is that wide.
fn train(
    job: &Job,
    dir: &Path,
    options: &SweepOptions,
    threads: Option<usize>,
) -> anyhow::Result<Result<PathBuf, String>> {
    let train = train_binary()?;
    let log_path = dir.join(format!("{}.log", job.name));
    let log = std::fs::File::create(&log_path)
        .with_context(|| format!("cannot create {}", log_path.display()))?;
    let mut command = train_command(
        &train,
        job,
        dir,
        &options.set,
        options.data_dir.as_deref(),
        false,
        log,
    )?;
    if let Some(threads) = threads {
        command.env("RAYON_NUM_THREADS", threads.to_string());
    }
    let status = command
        .status()
        .with_context(|| format!("cannot start {}", train.display()))?;
    let text = std::fs::read_to_string(&log_path).unwrap_or_default();
    if status.success() {
        return Ok(trained_into(&text)
            .ok_or_else(|| format!("its log {} names no run directory", log_path.display())));
    }
    Ok(Err(failure(status, &text)))
}

/// The last part of `path`, as the name of its run.
fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |name| name.to_string_lossy().into_owned(),
    )
}

/// The run directory a `train` log names (`run directory: PATH`, as `train`
/// prints it before training).
fn trained_into(log: &str) -> Option<PathBuf> {
    log.lines()
        .find_map(|line| line.strip_prefix("run directory: "))
        .map(PathBuf::from)
}

/// For the runs that recorded gradient norms: one chart each,
/// `grad_norms-<run>.png`, all on the same log axis so they compare.
fn write_grad_norm_charts(dir: &Path, rows: &[Row]) -> anyhow::Result<()> {
    let mut recorded = Vec::new();
    for row in rows {
        if let Some(norms) = run::GradNorms::read(&dir.join(&row.name))? {
            recorded.push((row, norms));
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
    for (row, norms) in &recorded {
        let path = dir.join(format!("grad_norms-{}.png", row.name));
        let title = format!("{}: weight-gradient norm per layer", row.name);
        // A margin of a factor 1.5 each way keeps the lines off the frame.
        let png = plot::grad_norms(&title, norms, Some((low / 1.5, high * 1.5)))
            .with_context(|| format!("cannot draw {}", path.display()))?;
        files::write_atomic(&path, &png)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// How many runs a sweep had, and how many of them failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Swept {
    pub runs: usize,
    pub failed: usize,
}

/// The runs `options` describe, checked: a valid sweep name, configs that
/// load, grid axes that parse, and no two runs of the same name.
pub(super) fn planned_jobs(options: &SweepOptions) -> anyhow::Result<Vec<Job>> {
    let grid = options
        .grid
        .iter()
        .map(|axis| super::parse_grid(axis))
        .collect::<Result<Vec<_>, _>>()
        .map_err(anyhow::Error::msg)?;
    if !config::is_dir_name(&options.name) {
        bail!(
            "--name {:?}: {}",
            console::one_line(&options.name),
            config::DIR_NAME_EXPECTED
        );
    }
    for config in &options.configs {
        config::TrainConfig::load(config)?;
    }
    let jobs = super::jobs(&options.configs, &grid);
    let mut names: Vec<&str> = jobs.iter().map(|j| j.name.as_str()).collect();
    names.sort_unstable();
    if let Some(pair) = names.windows(2).find(|pair| pair[0] == pair[1]) {
        bail!(
            "two runs would both be named {}: give the configs different file names",
            pair[0]
        );
    }
    Ok(jobs)
}

/// The threads of each of `at_once` runs trained together on `cores`: the
/// cores shared out, at least one each, so that the runs' matrix products
/// do not wait on threads the machine cannot schedule (2 runs on 2 cores:
/// one thread each, as a Slurm task with one CPU gets).
fn threads_per_run(cores: usize, at_once: u32) -> usize {
    (cores / at_once as usize).max(1)
}

/// Says on stdout that run number `done` of `total` ended, with its figures
/// or why it failed (and where its log is).
pub(super) fn report_outcome(
    done: usize,
    total: usize,
    name: &str,
    outcome: &Result<Row, String>,
    dir: &Path,
) {
    match outcome {
        Ok(row) => outln!(
            "[{done}/{total}] {}: test accuracy {:.4}, best validation accuracy {:.4}, {} epochs, {:.2} s/epoch",
            row.name,
            row.test_accuracy,
            row.best_valid_accuracy,
            row.epochs,
            row.seconds_per_epoch
        ),
        Err(why) => outln!(
            "[{done}/{total}] {name} failed: {why} (log: {}.log)",
            dir.join(name).display()
        ),
    }
}

/// Runs the sweep `options` describe. Each run is reported on stdout as it
/// ends; a failed one is counted (and in the table), not an error.
pub fn sweep(options: &SweepOptions) -> anyhow::Result<Swept> {
    let jobs = planned_jobs(options)?;
    let dir = run::create_numbered(&options.artifacts, &options.name, "sweep")?;
    let total = jobs.len();
    outln!(
        "sweep of {total} runs, {} at a time, into {}",
        options.jobs,
        dir.display()
    );
    let at_once = options.jobs.min(total as u32).max(1);
    let threads = (at_once > 1 && std::env::var_os("RAYON_NUM_THREADS").is_none()).then(|| {
        let cores = std::thread::available_parallelism().map_or(1, |cores| cores.get());
        threads_per_run(cores, at_once)
    });
    let queue = Mutex::new(jobs.iter().enumerate().collect::<VecDeque<_>>());
    // Per job, in the jobs' order: its row, or why it failed.
    let outcomes = Mutex::new(vec![None::<Result<Row, String>>; total]);
    let done = Mutex::new(0usize);
    std::thread::scope(|scope| {
        for _ in 0..at_once {
            scope.spawn(|| {
                loop {
                    // Taken in a statement of its own: a guard in the
                    // `while let` head would hold the queue for the whole
                    // run and train the jobs one at a time.
                    let next = queue.lock().expect("queue lock").pop_front();
                    let Some((index, job)) = next else { break };
                    let outcome = train(job, &dir, options, threads)
                        .and_then(|trained| match trained {
                            Err(why) => Ok(Err(why)),
                            Ok(run) => Row::read(&run, &file_name(&run)).map(Ok),
                        })
                        .unwrap_or_else(|error| Err(format!("{error:#}")));
                    let mut done = done.lock().expect("done lock");
                    *done += 1;
                    report_outcome(*done, total, &job.name, &outcome, &dir);
                    outcomes.lock().expect("outcomes lock")[index] = Some(outcome);
                }
            });
        }
    });
    let outcomes = outcomes.into_inner().expect("outcomes lock");
    let outcomes = jobs
        .iter()
        .zip(outcomes)
        .map(|(job, outcome)| (job.name.clone(), outcome.expect("every job ran")));
    summarise(&dir, &options.name, outcomes.collect())
}

/// Writes the sweep's summary into `dir` from each run's outcome, in the
/// jobs' order: `summary.md`, `summary.csv`, `val_accuracy.png` and the
/// gradient-norm charts; prints the table.
pub(super) fn summarise(
    dir: &Path,
    name: &str,
    outcomes: Vec<(String, Result<Row, String>)>,
) -> anyhow::Result<Swept> {
    let total = outcomes.len();
    let (mut rows, mut failed) = (Vec::new(), Vec::new());
    for (job, outcome) in outcomes {
        match outcome {
            Ok(row) => rows.push(row),
            Err(why) => failed.push((job, why)),
        }
    }
    let mut series = Vec::new();
    for row in &rows {
        series.push(plot::Series {
            name: row.name.clone(),
            values: run::EpochMetrics::read_csv(&dir.join(&row.name))?
                .iter()
                .map(|e| e.valid_accuracy)
                .collect(),
        });
    }
    write_grad_norm_charts(dir, &rows)?;
    let table = sweep_summary::write_summary(dir, &rows, &failed)?;
    if !series.is_empty() {
        let path = dir.join("val_accuracy.png");
        let title = format!("{name}: validation accuracy per epoch");
        let png = plot::sweep_chart(&title, &series)
            .with_context(|| format!("cannot draw {}", path.display()))?;
        files::write_atomic(&path, &png)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    outln!("\n{table}");
    outln!(
        "table: {0}/summary.md, {0}/summary.csv; chart: {0}/val_accuracy.png",
        dir.display()
    );
    Ok(Swept {
        runs: total,
        failed: failed.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::threads_per_run;

    #[test]
    fn runs_at_once_share_the_cores_at_least_one_thread_each() {
        assert_eq!(threads_per_run(2, 2), 1);
        assert_eq!(threads_per_run(16, 3), 5);
        assert_eq!(threads_per_run(16, 1), 16);
        assert_eq!(threads_per_run(2, 4), 1);
    }
}
