//! `infer committee`: builds a committee from trained runs (a directory of
//! its own holding `committee.json`, see `model::committee_file`), reads the
//! test set with each member and with the committee, prints each member's
//! accuracy beside the committee's, and keeps the committee's `test.json`
//! and pictures. When the runs all held out the same training images
//! (`crate::held_out`), every line also says how each read those, and
//! `--choose` picks the members among the runs on them alone. The
//! directory appears whole or not at all: it is written beside its place
//! under a scratch name and renamed into it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use burn::tensor::Device;
use clap::Args;
use data::MnistSplit;
use data::NUM_CLASSES;
use model::committee_choice::Score;
use model::{
    Backend, BackendDevice, Classifier, Combine, CommitteeFile, EVAL_BATCH_SIZE, Evaluation,
};
use run::{RunDir, TestSummary, sweep_summary};

use crate::held_out::{self, HeldOut};
use crate::loaded::Reader;
use crate::staging::Staging;

/// Which runs, combined how, and where the committee goes.
#[derive(Args, Clone, Debug)]
pub struct CommitteeOptions {
    /// The member runs (directories holding a trained model).
    #[arg(long, num_args = 1.., required_unless_present = "from", conflicts_with = "from")]
    pub runs: Vec<PathBuf>,
    /// Finished sweeps (e.g. `sweep configs/speedrun.toml --grid
    /// seed=1,2,3`) whose every run becomes a member (or a candidate, with
    /// `--choose`), in their tables' order; refused when any of their runs
    /// failed.
    #[arg(long, value_name = "SWEEP", num_args = 1..)]
    pub from: Vec<PathBuf>,
    /// The committee's directory (must not exist yet).
    #[arg(long)]
    pub out: PathBuf,
    /// Choose the members among the runs on the training images they all
    /// held out (`[validation] split`, the same seed): greedily, the lowest
    /// held-out loss alone first, then whichever lowers the committee's
    /// loss most, until none does.
    #[arg(long)]
    pub choose: bool,
    /// How the members' probabilities are combined: their mean, or their
    /// normalised geometric mean.
    #[arg(long, value_enum, default_value = "mean")]
    pub combine: CombineArg,
    /// flex, ndarray or wgpu.
    #[arg(long, default_value = "flex")]
    pub backend: Backend,
    /// A directory of MNIST-shaped IDX files (default: cache, npm, mirrors).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

/// `--combine`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum CombineArg {
    Mean,
    Geometric,
}

impl From<CombineArg> for Combine {
    fn from(arg: CombineArg) -> Self {
        match arg {
            CombineArg::Mean => Self::Mean,
            CombineArg::Geometric => Self::Geometric,
        }
    }
}

/// Builds, evaluates and keeps the committee `options` describe; prints a
/// line per member and one for the committee.
pub fn build_committee(options: &CommitteeOptions) -> anyhow::Result<()> {
    let out = &options.out;
    if out.symlink_metadata().is_ok() {
        bail!("{} already exists; name a new directory", out.display());
    }
    let mut candidates = options.runs.clone();
    for sweep in &options.from {
        candidates.extend(sweep_runs(sweep)?);
    }
    let combine = options.combine.into();
    // Every candidate checked before anything is read or written.
    CommitteeFile::of_runs(&candidates, combine, out)?;
    let device = options.backend.device()?;
    let mnist = data::load_mnist(options.data_dir.as_deref())?.0;
    let held_out = match HeldOut::shared(&candidates, &mnist.train) {
        Ok(held_out) => Some(held_out),
        Err(reason) if options.choose => {
            bail!("--choose needs runs that held out the same training images: {reason}")
        }
        Err(_) => None,
    };
    let readings = match &held_out {
        Some(held_out) => Some(held_out.read(&candidates, &device)?),
        None => None,
    };
    let mut stdout = console::stdout();
    // Indices into `candidates` of the members, in order.
    let chosen: Vec<usize> = match &readings {
        Some(readings) if options.choose => {
            held_out::choose(&candidates, readings, combine, &mut stdout)?
        }
        _ => (0..candidates.len()).collect(),
    };
    let runs: Vec<PathBuf> = chosen
        .iter()
        .map(|&index| candidates[index].clone())
        .collect();
    let file = CommitteeFile::of_runs(&runs, combine, out)?;
    if let Some(parent) = out.parent().filter(|parent| !parent.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    // A sibling of `out` (the members' relative paths hold from it too);
    // what a killed `infer committee` left there is removed.
    let staging = Staging::beside(out, "committee", &[])
        .with_context(|| format!("cannot create a scratch directory beside {}", out.display()))?;
    file.write(staging.path())?;

    let reader = Reader::load(staging.path(), &device)?;
    let test = Arc::new(mnist.test);
    let Reader::Committee { committee, .. } = &reader else {
        bail!("{} holds no committee", staging.path().display());
    };
    // The held-out score of `members` (indices into `chosen`), when there is one.
    let held_out_score = |members: &[usize]| {
        readings.as_ref().map(|readings| {
            let members: Vec<usize> = members.iter().map(|&member| chosen[member]).collect();
            readings.score(&members, combine)
        })
    };
    let members = runs.iter().zip(&committee.members).zip(&file.members);
    for (index, ((run, network), member)) in members.enumerate() {
        let evaluation = evaluate(network, &test, &device)?;
        let network = member.architecture.describe();
        let line = result_line("member", run, &network, &evaluation);
        writeln!(stdout, "{line}{}", held_out_text(held_out_score(&[index])))?;
    }
    let evaluation = evaluate(&reader, &test, &device)?;
    let committee_held_out = held_out_score(&(0..runs.len()).collect::<Vec<_>>());
    let summary = TestSummary {
        backend: options.backend.to_string(),
        best_epoch: None,
        best_valid_accuracy: committee_held_out.map(|score| score.accuracy()),
        correct: evaluation.correct,
        epochs_completed: 0,
        parameters: reader.num_params(),
        seconds_per_epoch: Vec::new(),
        stopped_early: None,
        test_accuracy: evaluation.accuracy(),
        test_images: evaluation.count,
        test_loss: evaluation.loss,
        validation: match &held_out {
            Some(held_out) => held_out.describe(),
            None => "none: a committee of trained runs".into(),
        },
    };
    summary.write(&RunDir::open(staging.path())?)?;
    run::plots::write_evaluation_plots(staging.path(), &evaluation, &test)?;
    std::fs::rename(staging.path(), out)
        .with_context(|| format!("cannot move the committee into {}", out.display()))?;
    // The directory lives on as `out`.
    let _ = staging.keep();
    let line = result_line("committee", out, &reader.describe(), &evaluation);
    writeln!(stdout, "{line}{}", held_out_text(committee_held_out))?;
    Ok(())
}

/// The runs of the finished sweep in `sweep`, in its table's order; a sweep
/// still running, with a failed run or with none is refused in one line.
fn sweep_runs(sweep: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if !sweep.join("summary.csv").is_file() {
        bail!(
            "{} is not a finished sweep: it holds no summary.csv (a sweep writes it once \
             every run has ended)",
            sweep.display()
        );
    }
    let failed = sweep_summary::read_failed(sweep)?;
    if !failed.is_empty() {
        bail!(
            "sweep {}: {} of its runs failed ({}; see its summary.md); name the runs to \
             read together with --runs",
            sweep.display(),
            failed.len(),
            failed.join(", ")
        );
    }
    let rows = sweep_summary::read_summary(sweep)?;
    if rows.is_empty() {
        bail!("sweep {} has no finished runs", sweep.display());
    }
    Ok(rows.iter().map(|row| sweep.join(&row.name)).collect())
}

/// `model` (a member or the committee) on `test`.
fn evaluate(
    model: &impl Classifier,
    test: &Arc<MnistSplit>,
    device: &Device,
) -> anyhow::Result<Evaluation> {
    model::evaluate(
        model,
        Arc::clone(test),
        NUM_CLASSES,
        EVAL_BATCH_SIZE,
        device,
    )
    .context("cannot read the evaluation back from the device")
}

/// `; held out 99.40% (5964 of 6000), loss 0.0201` after a result line,
/// when the runs held out the same images.
fn held_out_text(score: Option<Score>) -> String {
    score.map_or_else(String::new, |score| {
        format!("; {}", held_out::score_text(&score))
    })
}

/// `member runs/s1: 784-800-800-10 relu - test accuracy 99.38% (9938 of
/// 10000), loss 0.0172`.
fn result_line(what: &str, dir: &Path, network: &str, evaluation: &Evaluation) -> String {
    format!(
        "{what} {}: {network} - test accuracy {:.2}% ({} of {}), loss {:.4}",
        dir.display(),
        100.0 * evaluation.accuracy(),
        evaluation.correct,
        evaluation.count,
        evaluation.loss
    )
}
