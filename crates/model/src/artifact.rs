//! The trained network on disk: `model.json` (the [`MlpConfig`], so a loader rebuilds
//! exactly the architecture that was trained) next to `model.bpk` (the weights as a
//! Burn burnpack record). Both are written atomically.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::store::ModuleRecord;
use burn::tensor::{Bytes, Device};

use crate::mlp::{Mlp, MlpConfig};

/// The architecture, as JSON.
pub const MODEL_CONFIG_FILE: &str = "model.json";
/// The weights, as a Burn burnpack record.
pub const MODEL_RECORD_FILE: &str = "model.bpk";

/// Why a model could not be saved or loaded. Each message names the file.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    // `error` is shown in the message, so it is deliberately not a `#[source]`:
    // `{:#}` would print it a second time.
    #[error("cannot write {path}: {error}")]
    Write {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("cannot read {path}: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path} is not a valid model config: {reason}")]
    Config { path: PathBuf, reason: String },
    #[error("{path} is not a readable Burn record: {reason}")]
    Record { path: PathBuf, reason: String },
    #[error("{dir} holds a {network} network; MNIST needs {inputs} inputs and {classes} classes")]
    NotMnist {
        dir: PathBuf,
        network: String,
        inputs: usize,
        classes: usize,
    },
    #[error(
        "{path} does not hold the weights of the {network} network that {config} describes: {reason}"
    )]
    Mismatch {
        path: PathBuf,
        config: PathBuf,
        network: String,
        reason: String,
    },
}

/// Writes `model.json` and `model.bpk` into `dir`, which must exist.
pub fn save_model(dir: &Path, config: &MlpConfig, model: &Mlp) -> Result<(), ModelError> {
    let config_path = dir.join(MODEL_CONFIG_FILE);
    let json = serde_json::to_vec_pretty(config).expect("a config of numbers and names serialises");
    write(&config_path, &json)?;

    let record_path = dir.join(MODEL_RECORD_FILE);
    let bytes = model
        .clone()
        .into_record()
        .into_bytes()
        .map_err(|error| ModelError::Record {
            path: record_path.clone(),
            reason: error.to_string(),
        })?;
    write(&record_path, &bytes)
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), ModelError> {
    data::write_atomic(path, bytes).map_err(|error| ModelError::Write {
        path: path.to_path_buf(),
        error,
    })
}

/// Reads the model saved in `dir` onto `device`: the architecture from `model.json`,
/// then the weights from `model.bpk`, which must match it tensor for tensor.
pub fn load_model(dir: &Path, device: &Device) -> Result<(Mlp, MlpConfig), ModelError> {
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read(&path).map_err(|error| ModelError::Read { path, error })
    };
    let json = read(MODEL_CONFIG_FILE)?;
    let record = read(MODEL_RECORD_FILE)?;
    model_from_bytes(&json, record, dir, device)
}

/// [`load_model`] from the two files' contents: `json` (`model.json`) and
/// `record` (`model.bpk`); `dir` only names them in errors.
pub fn model_from_bytes(
    json: &[u8],
    record: Vec<u8>,
    dir: &Path,
    device: &Device,
) -> Result<(Mlp, MlpConfig), ModelError> {
    let config_path = dir.join(MODEL_CONFIG_FILE);
    let record_path = dir.join(MODEL_RECORD_FILE);
    let config: MlpConfig = serde_json::from_slice(json).map_err(|error| ModelError::Config {
        path: config_path.clone(),
        reason: error.to_string(),
    })?;
    config.validate().map_err(|reason| ModelError::Config {
        path: config_path.clone(),
        reason,
    })?;
    let mismatch = |reason: String| ModelError::Mismatch {
        path: record_path.clone(),
        config: config_path.clone(),
        network: config.describe(),
        reason,
    };
    let record_bytes = record.len();
    let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(record)).map_err(|error| {
        ModelError::Record {
            path: record_path.clone(),
            reason: error.to_string(),
        }
    })?;
    // Checked before the network is built, so that a model.json asking for a
    // huge network fails instead of allocating it.
    let needed = config.num_params() * std::mem::size_of::<f32>();
    if record_bytes < needed {
        return Err(mismatch(format!(
            "it holds {record_bytes} bytes, fewer than the {needed} bytes of that network's weights"
        )));
    }
    let model = config
        .init(device)
        .try_load_record(record)
        .map_err(|error| mismatch(error.to_string()))?;
    Ok((model, config))
}

/// [`load_model`], then checks that the network reads MNIST: 784 inputs, 10 classes.
pub fn load_mnist_model(dir: &Path, device: &Device) -> Result<(Mlp, MlpConfig), ModelError> {
    let (model, config) = load_model(dir, device)?;
    if config.inputs != data::IMAGE_PIXELS || config.classes != data::NUM_CLASSES {
        return Err(ModelError::NotMnist {
            dir: dir.to_path_buf(),
            network: config.describe(),
            inputs: data::IMAGE_PIXELS,
            classes: data::NUM_CLASSES,
        });
    }
    Ok((model, config))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Distribution, Tensor};

    fn device() -> Device {
        Device::flex()
    }

    #[test]
    fn save_then_load_gives_identical_predictions() {
        let dir = tempfile::tempdir().unwrap();
        let config = MlpConfig::new();
        let model = config.init(&device());
        save_model(dir.path(), &config, &model).unwrap();

        let (loaded, loaded_config) = load_model(dir.path(), &device()).unwrap();
        assert_eq!(loaded_config, config);
        let x = Tensor::<2>::random([4, 784], Distribution::Uniform(-0.5, 0.5), &device());
        let before = model.probabilities(x.clone()).into_data();
        let after = loaded.probabilities(x).into_data();
        assert_eq!(before, after);
    }

    #[test]
    fn a_missing_run_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let error = load_model(dir.path(), &device()).unwrap_err().to_string();
        assert!(error.starts_with("cannot read "), "{error}");
        assert!(error.contains("model.json"), "{error}");
    }

    #[test]
    fn a_corrupt_record_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let config = MlpConfig::new();
        save_model(dir.path(), &config, &config.init(&device())).unwrap();
        let path = dir.path().join(MODEL_RECORD_FILE);
        for bytes in [
            b"not a record at all".to_vec(),
            std::fs::read(&path).unwrap()[..100].to_vec(),
        ] {
            std::fs::write(&path, bytes).unwrap();
            let error = load_model(dir.path(), &device()).unwrap_err().to_string();
            assert!(
                error.contains("model.bpk is not a readable Burn record"),
                "{error}"
            );
        }
    }

    #[test]
    fn weights_of_another_shape_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let wide = MlpConfig::new().with_hidden(vec![128, 64]);
        save_model(dir.path(), &wide, &wide.init(&device())).unwrap();
        // The config now claims the tutorial shape; the weights are 784x128.
        let config = MlpConfig::new();
        std::fs::write(
            dir.path().join(MODEL_CONFIG_FILE),
            serde_json::to_vec(&config).unwrap(),
        )
        .unwrap();
        let error = load_model(dir.path(), &device()).unwrap_err().to_string();
        assert!(
            error.contains("does not hold the weights of the 784-64-64-10 relu network"),
            "{error}"
        );
    }

    #[test]
    fn an_invalid_config_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let zero = serde_json::to_vec(&MlpConfig::new().with_hidden(vec![0, 64])).unwrap();
        std::fs::write(dir.path().join(MODEL_CONFIG_FILE), zero).unwrap();
        std::fs::write(dir.path().join(MODEL_RECORD_FILE), b"").unwrap();
        let error = load_model(dir.path(), &device()).unwrap_err().to_string();
        assert!(
            error.contains("model.json is not a valid model config"),
            "{error}"
        );
        assert!(error.contains("hidden must be from 1"), "{error}");
    }

    #[test]
    fn a_config_asking_for_a_huge_network_is_refused_before_it_is_built() {
        let dir = tempfile::tempdir().unwrap();
        let config = MlpConfig::new();
        save_model(dir.path(), &config, &config.init(&device())).unwrap();
        let huge = MlpConfig::new().with_hidden(vec![1 << 20, 1 << 20]);
        std::fs::write(
            dir.path().join(MODEL_CONFIG_FILE),
            serde_json::to_vec(&huge).unwrap(),
        )
        .unwrap();
        let error = load_model(dir.path(), &device()).unwrap_err().to_string();
        assert!(
            error.contains("fewer than the 4401385177128 bytes of that network's weights"),
            "{error}"
        );
        let beyond =
            serde_json::to_vec(&MlpConfig::new().with_hidden(vec![64, usize::MAX])).unwrap();
        std::fs::write(dir.path().join(MODEL_CONFIG_FILE), beyond).unwrap();
        let error = load_model(dir.path(), &device()).unwrap_err().to_string();
        assert!(
            error.contains("hidden must be from 1 to 1048576, got 18446744073709551615"),
            "{error}"
        );
    }
}
