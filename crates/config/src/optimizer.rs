//! `[optimizer]`: which optimizer trains the network, with that optimizer's
//! keys only (`kind = "sgd"` takes `momentum`, `kind = "adam"` does not).

use serde::{Deserialize, Serialize};
use toml::Table;

use crate::tagged::{Kinds, keys, table_of};

/// `[optimizer]`: Adam with Keras's settings unless `kind` says otherwise.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Table", into = "Table")]
pub enum OptimizerSection {
    Adam(Adam),
    /// Adam with decoupled weight decay.
    Adamw(AdamW),
    /// Stochastic gradient descent, with momentum if asked.
    Sgd(Sgd),
}

/// Writes an `f32` as the shortest decimal that reads back as it (`0.9`,
/// not `0.8999999761581421`, which the TOML writer's widening to f64 gives).
fn shortest<S: serde::Serializer>(value: &f32, serializer: S) -> Result<S::Ok, S::Error> {
    let decimal: f64 = value
        .to_string()
        .parse()
        .map_err(serde::ser::Error::custom)?;
    serializer.serialize_f64(decimal)
}

/// Adam. The defaults are Keras's (epsilon 1e-7; Burn's own is 1e-5).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Adam {
    /// The base learning rate; `[schedule]` may change it during training.
    pub learning_rate: f64,
    #[serde(serialize_with = "shortest")]
    pub beta1: f32,
    #[serde(serialize_with = "shortest")]
    pub beta2: f32,
    #[serde(serialize_with = "shortest")]
    pub epsilon: f32,
}

/// AdamW: Adam's keys and a decoupled weight decay (PyTorch's 0.01 by default).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdamW {
    pub learning_rate: f64,
    #[serde(serialize_with = "shortest")]
    pub beta1: f32,
    #[serde(serialize_with = "shortest")]
    pub beta2: f32,
    #[serde(serialize_with = "shortest")]
    pub epsilon: f32,
    pub weight_decay: f64,
}

/// SGD: plain momentum as PyTorch and Keras define it (no dampening; 0 is
/// plain SGD) and an L2 penalty (0 is none).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Sgd {
    pub learning_rate: f64,
    pub momentum: f64,
    pub weight_decay: f64,
}

/// The tutorial's learning rate.
const LEARNING_RATE: f64 = 1e-3;

impl Default for Adam {
    fn default() -> Self {
        Self {
            learning_rate: LEARNING_RATE,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-7,
        }
    }
}

impl Default for AdamW {
    fn default() -> Self {
        let adam = Adam::default();
        Self {
            learning_rate: adam.learning_rate,
            beta1: adam.beta1,
            beta2: adam.beta2,
            epsilon: adam.epsilon,
            weight_decay: 0.01,
        }
    }
}

impl Default for Sgd {
    fn default() -> Self {
        Self {
            learning_rate: LEARNING_RATE,
            momentum: 0.0,
            weight_decay: 0.0,
        }
    }
}

impl Default for OptimizerSection {
    fn default() -> Self {
        Self::Adam(Adam::default())
    }
}

pub(crate) const KINDS: Kinds = Kinds {
    section: "optimizer",
    default: "adam",
    keys: &[
        ("adam", &["learning_rate", "beta1", "beta2", "epsilon"]),
        (
            "adamw",
            &["learning_rate", "beta1", "beta2", "epsilon", "weight_decay"],
        ),
        ("sgd", &["learning_rate", "momentum", "weight_decay"]),
    ],
};

impl OptimizerSection {
    /// The base learning rate, whatever the kind.
    pub fn learning_rate(&self) -> f64 {
        match self {
            Self::Adam(adam) => adam.learning_rate,
            Self::Adamw(adamw) => adamw.learning_rate,
            Self::Sgd(sgd) => sgd.learning_rate,
        }
    }

    pub fn set_learning_rate(&mut self, rate: f64) {
        match self {
            Self::Adam(adam) => adam.learning_rate = rate,
            Self::Adamw(adamw) => adamw.learning_rate = rate,
            Self::Sgd(sgd) => sgd.learning_rate = rate,
        }
    }

    /// The `kind` key's value.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Adam(_) => "adam",
            Self::Adamw(_) => "adamw",
            Self::Sgd(_) => "sgd",
        }
    }
}

impl TryFrom<Table> for OptimizerSection {
    type Error = String;

    fn try_from(table: Table) -> Result<Self, String> {
        let (kind, table) = KINDS.split(table)?;
        Ok(match kind {
            "adam" => Self::Adam(keys(table)?),
            "adamw" => Self::Adamw(keys(table)?),
            _ => Self::Sgd(keys(table)?),
        })
    }
}

impl From<OptimizerSection> for Table {
    fn from(section: OptimizerSection) -> Table {
        match &section {
            OptimizerSection::Adam(adam) => table_of(section.kind(), adam),
            OptimizerSection::Adamw(adamw) => table_of(section.kind(), adamw),
            OptimizerSection::Sgd(sgd) => table_of(section.kind(), sgd),
        }
    }
}
