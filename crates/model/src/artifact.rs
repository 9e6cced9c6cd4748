//! The trained network on disk: `model.json` (the [`MlpConfig`], so a loader rebuilds
//! exactly the architecture that was trained, and the size and SHA-256 of the
//! weights saved with it) next to `model.bpk` (the weights as a Burn burnpack
//! record). Both are written atomically, the weights first: `model.json` is the
//! commit point, and every reader checks the weights against it, so a
//! truncated, corrupted, swapped or appended-to `model.bpk` is refused with
//! one line instead of being read (a flipped data bit used to give 92% and a
//! test loss of inf, silently).

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::store::ModuleRecord;
use burn::tensor::{Bytes, Device};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

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
        "{path} is not the file {config} records ({expected}; found {found}): it changed or is \
         corrupt"
    )]
    Changed {
        path: PathBuf,
        config: PathBuf,
        expected: FileDigest,
        found: FileDigest,
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

/// A file's size and SHA-256, as `model.json` (and a checkpoint's
/// `latest.json`) record them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileDigest {
    pub bytes: u64,
    /// Lowercase hex.
    pub sha256: String,
}

impl FileDigest {
    pub fn of(contents: &[u8]) -> Self {
        Self {
            bytes: contents.len() as u64,
            sha256: format!("{:x}", Sha256::digest(contents)),
        }
    }
}

impl std::fmt::Display for FileDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} bytes, SHA-256 {}", self.bytes, self.sha256)
    }
}

/// What `model.json` holds: the [`MlpConfig`]'s fields and the weights' digest.
#[derive(Serialize, Deserialize)]
struct ModelFile {
    #[serde(flatten)]
    config: MlpConfig,
    /// `model.bpk`'s; absent in runs saved before it was recorded, whose
    /// weights are then read unchecked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    weights: Option<FileDigest>,
}

/// Writes `model.bpk`, then `model.json` with the weights' digest, into
/// `dir`, which must exist.
pub fn save_model(dir: &Path, config: &MlpConfig, model: &Mlp) -> Result<(), ModelError> {
    let record_path = dir.join(MODEL_RECORD_FILE);
    let bytes = model
        .clone()
        .into_record()
        .into_bytes()
        .map_err(|error| ModelError::Record {
            path: record_path.clone(),
            reason: error.to_string(),
        })?;
    write(&record_path, &bytes)?;

    let file = ModelFile {
        config: config.clone(),
        weights: Some(FileDigest::of(&bytes)),
    };
    let json = serde_json::to_vec_pretty(&file).expect("a config of numbers and names serialises");
    write(&dir.join(MODEL_CONFIG_FILE), &json)
}

/// Checks that `dir` holds a whole saved model: `model.json` readable and
/// valid, and `model.bpk` the file it records. Reads both files but builds
/// no network.
pub fn check_saved(dir: &Path) -> Result<MlpConfig, ModelError> {
    saved_weights(dir).map(|(config, _)| config)
}

/// [`check_saved`], with the size and SHA-256 of the weights (computed, so
/// also for runs saved before `model.json` recorded them).
pub fn saved_weights(dir: &Path) -> Result<(MlpConfig, FileDigest), ModelError> {
    let (json, record) = read_saved(dir)?;
    let file = parse(&json, dir)?;
    check_digest(&file, &record, dir)?;
    Ok((file.config, FileDigest::of(&record)))
}

/// The contents of `dir`'s `model.json` and `model.bpk`, unchecked (see
/// [`model_from_bytes`]).
pub fn read_saved(dir: &Path) -> Result<(Vec<u8>, Vec<u8>), ModelError> {
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read(&path).map_err(|error| ModelError::Read { path, error })
    };
    Ok((read(MODEL_CONFIG_FILE)?, read(MODEL_RECORD_FILE)?))
}

/// `model.json`'s contents, checked.
fn parse(json: &[u8], dir: &Path) -> Result<ModelFile, ModelError> {
    let config_path = dir.join(MODEL_CONFIG_FILE);
    let file: ModelFile = serde_json::from_slice(json).map_err(|error| ModelError::Config {
        path: config_path.clone(),
        reason: error.to_string(),
    })?;
    file.config
        .validate()
        .map_err(|reason| ModelError::Config {
            path: config_path,
            reason,
        })?;
    Ok(file)
}

/// `record` against the digest `file` records, if it records one.
fn check_digest(file: &ModelFile, record: &[u8], dir: &Path) -> Result<(), ModelError> {
    let Some(expected) = &file.weights else {
        return Ok(());
    };
    let found = FileDigest::of(record);
    if found != *expected {
        return Err(ModelError::Changed {
            path: dir.join(MODEL_RECORD_FILE),
            config: dir.join(MODEL_CONFIG_FILE),
            expected: expected.clone(),
            found,
        });
    }
    Ok(())
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), ModelError> {
    files::write_atomic(path, bytes).map_err(|error| ModelError::Write {
        path: path.to_path_buf(),
        error,
    })
}

/// Reads the model saved in `dir` onto `device`: the architecture from `model.json`,
/// then the weights from `model.bpk`, which must match it tensor for tensor.
pub fn load_model(dir: &Path, device: &Device) -> Result<(Mlp, MlpConfig), ModelError> {
    let (json, record) = read_saved(dir)?;
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
    let file = parse(json, dir)?;
    check_digest(&file, &record, dir)?;
    let config = file.config;
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

/// `json` (a `model.json`) recording `record`'s digest in place of its own,
/// so that damage to `record` reaches the record reader behind a matching
/// checksum: the `record` fuzz target and its replay in the tests try both.
/// `None` when `json` is not a JSON object.
pub fn with_digest_of(json: &[u8], record: &[u8]) -> Option<Vec<u8>> {
    let mut file: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(json).ok()?;
    let digest = serde_json::to_value(FileDigest::of(record)).expect("a digest serialises");
    file.insert("weights".into(), digest);
    serde_json::to_vec(&file).ok()
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

    /// Any change to the weights after the save is refused with the file
    /// and both digests: truncated, emptied, one bit flipped, 100 KB
    /// appended, another run's weights.
    #[test]
    fn changed_weights_are_refused_against_model_json() {
        let dir = tempfile::tempdir().unwrap();
        let config = MlpConfig::new();
        save_model(dir.path(), &config, &config.init(&device())).unwrap();
        let path = dir.path().join(MODEL_RECORD_FILE);
        let saved = std::fs::read(&path).unwrap();
        let other = tempfile::tempdir().unwrap();
        save_model(other.path(), &config, &config.init(&device())).unwrap();
        let mut flipped = saved.clone();
        let middle = flipped.len() / 2;
        flipped[middle] ^= 0x40;
        let mut appended = saved.clone();
        appended.extend(vec![0u8; 100_000]);
        for bytes in [
            saved[..saved.len() / 2].to_vec(),
            Vec::new(),
            flipped,
            appended,
            std::fs::read(other.path().join(MODEL_RECORD_FILE)).unwrap(),
        ] {
            std::fs::write(&path, &bytes).unwrap();
            for error in [
                load_model(dir.path(), &device()).unwrap_err().to_string(),
                check_saved(dir.path()).unwrap_err().to_string(),
            ] {
                assert!(
                    error.contains("model.bpk is not the file")
                        && error.contains("model.json records")
                        && error.contains(&format!("found {} bytes, SHA-256 ", bytes.len()))
                        && error.ends_with("it changed or is corrupt"),
                    "{error}"
                );
            }
        }
        std::fs::write(&path, &saved).unwrap();
        assert_eq!(check_saved(dir.path()).unwrap(), config);
    }

    /// A run saved before digests were recorded (model.json holds the
    /// config alone) is read unchecked, and a corrupt record is still an
    /// error from Burn's reader.
    #[test]
    fn a_run_without_a_digest_loads_and_a_corrupt_record_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let config = MlpConfig::new();
        save_model(dir.path(), &config, &config.init(&device())).unwrap();
        std::fs::write(
            dir.path().join(MODEL_CONFIG_FILE),
            serde_json::to_vec(&config).unwrap(),
        )
        .unwrap();
        assert!(load_model(dir.path(), &device()).is_ok());
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
