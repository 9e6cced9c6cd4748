//! `infer`: loads a trained run and reads MNIST test digits with it, like the
//! tutorial's last step: 10 probabilities per image, the argmax as the digit;
//! or reads your own image files of handwritten digits. The work is in the
//! `infer` library; this file reads the flags.
//!
//! ```text
//! cargo run --release -p infer -- [--run artifacts/tutorial] [--index 0 --count 5] [--all] [--json]
//! cargo run --release -p infer -- --image a.png b.jpg [--save-preprocessed DIR] [--json]
//! cargo run --release -p infer -- serve [--run artifacts/tutorial] [--port 8000]
//! cargo run --release -p infer -- export [--run artifacts/tutorial] --out model.safetensors
//! cargo run --release -p infer -- export --format onnx --out model.onnx [--overwrite]
//! cargo run --release -p infer -- export --format web --out site/ [--overwrite]
//! cargo run --release -p infer -- plot [--run artifacts/tutorial]
//! cargo run --release -p infer -- committee (--runs RUN... | --from SWEEP) --out DIR [--combine mean|geometric]
//! ```

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use console::errln;
use infer::committee::CommitteeOptions;
use infer::digits::DigitsOptions;
use infer::export::ExportOptions;
use infer::loaded::ModelOptions;
use infer::serve::ServeOptions;

/// Read MNIST test digits, or your own images of digits, with a trained run's
/// model; or serve it over HTTP with a page to draw digits on.
#[derive(Parser, Debug)]
#[command(version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    digits: DigitsOptions,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve a page to draw a digit on and a JSON API for predictions, over HTTP.
    Serve(ServeOptions),
    /// Write the model in a form other tools read: its weights (SafeTensors),
    /// the whole network (ONNX), or a static site that runs it in the browser.
    Export(ExportOptions),
    /// Draw a run's pictures again into <run>/plots/: training curves, the
    /// test set's confusion matrix and misclassified digits, gradient norms.
    Plot(ModelOptions),
    /// Build a committee of trained runs: a directory whose model averages
    /// theirs, read by `infer --run` like a run; prints each member's test
    /// accuracy beside the committee's.
    Committee(CommitteeOptions),
}

fn main() -> ExitCode {
    model::flush_denormals_to_zero();
    let cli = Cli::parse();
    let result = match &cli.command {
        Some(Command::Serve(options)) => infer::serve::serve(options),
        Some(Command::Export(options)) => infer::export::export(options),
        Some(Command::Plot(options)) => infer::digits::draw_plots(options),
        Some(Command::Committee(options)) => infer::committee::build_committee(options),
        None => infer::digits::read_digits(&cli.digits),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            errln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
