//! `infer export`: the weights in a format other tools read, the
//! architecture in the file's metadata.

use std::path::PathBuf;

use burn::tensor::Device;
use clap::Args;
use data::outln;

use crate::loaded::RunChoice;

/// What to export, how and where.
#[derive(Args, Clone, Debug)]
pub struct ExportOptions {
    #[command(flatten)]
    pub run: RunChoice,
    /// The file format (SafeTensors: tensors in PyTorch's nn.Linear layout).
    #[arg(long, value_enum, default_value = "safetensors")]
    pub format: ExportFormat,
    /// The file to write (replaced whole, never left half-written).
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum ExportFormat {
    Safetensors,
}

/// Writes the run's model to `options.out`; says what it wrote.
pub fn export(options: &ExportOptions) -> anyhow::Result<()> {
    let run_dir = options.run.dir()?;
    let (model, config) = model::load_mnist_model(&run_dir, &Device::flex())?;
    match options.format {
        ExportFormat::Safetensors => model::export_safetensors(&model, &config, &options.out)?,
    }
    outln!(
        "wrote {} ({}, {} parameters) from run {}",
        options.out.display(),
        config.describe(),
        config.num_params(),
        run_dir.display()
    );
    Ok(())
}
