//! `[schedule]`: how the learning rate changes over training, with the
//! chosen kind's keys only. Lengths are in epochs.

use serde::{Deserialize, Serialize};
use toml::{Table, Value};

use crate::tagged::{Kinds, keys, table_of};

/// `[schedule]`: the learning rate per batch.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Table", into = "Table")]
pub struct ScheduleSection {
    pub kind: Schedule,
    /// Epochs over which the rate rises linearly from `lr / n` to `lr` (n =
    /// the warm-up's batches) before the schedule starts; 0 is none. Every
    /// kind takes it.
    pub warmup_epochs: usize,
}

/// The shape of the schedule after the warm-up.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Schedule {
    /// The learning rate throughout.
    #[default]
    Constant,
    /// Multiplied by `gamma` every `step_epochs` epochs.
    Step(Step),
    /// Half a cosine from the rate down to `min_lr` at the last batch.
    Cosine(Cosine),
}

/// `kind = "step"`'s keys.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Step {
    pub step_epochs: usize,
    pub gamma: f64,
}

impl Default for Step {
    fn default() -> Self {
        Self {
            step_epochs: 1,
            gamma: 0.1,
        }
    }
}

/// `kind = "cosine"`'s keys.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Cosine {
    pub min_lr: f64,
}

pub(crate) const KINDS: Kinds = Kinds {
    section: "schedule",
    default: "constant",
    keys: &[
        ("constant", &["warmup_epochs"]),
        ("step", &["warmup_epochs", "step_epochs", "gamma"]),
        ("cosine", &["warmup_epochs", "min_lr"]),
    ],
};

impl Schedule {
    /// The `kind` key's value.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Constant => "constant",
            Self::Step(_) => "step",
            Self::Cosine(_) => "cosine",
        }
    }
}

/// What every kind takes besides its own keys.
#[derive(Deserialize, Serialize, Default)]
#[serde(default)]
struct Common {
    warmup_epochs: usize,
}

impl TryFrom<Table> for ScheduleSection {
    type Error = String;

    fn try_from(table: Table) -> Result<Self, String> {
        let (kind, mut table) = KINDS.split(table)?;
        let mut common = Table::new();
        if let Some(warmup) = table.remove("warmup_epochs") {
            common.insert("warmup_epochs".into(), warmup);
        }
        let Common { warmup_epochs } = keys(common)?;
        let kind = match kind {
            "constant" => Schedule::Constant,
            "step" => Schedule::Step(keys(table)?),
            _ => Schedule::Cosine(keys(table)?),
        };
        Ok(Self {
            kind,
            warmup_epochs,
        })
    }
}

impl From<ScheduleSection> for Table {
    fn from(section: ScheduleSection) -> Table {
        let name = section.kind.name();
        let mut table = match &section.kind {
            Schedule::Constant => table_of(name, &Table::new()),
            Schedule::Step(step) => table_of(name, step),
            Schedule::Cosine(cosine) => table_of(name, cosine),
        };
        table.insert(
            "warmup_epochs".into(),
            Value::Integer(section.warmup_epochs as i64),
        );
        table
    }
}
