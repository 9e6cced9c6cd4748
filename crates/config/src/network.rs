//! `[model]`: the hidden layers, and the limits on a network's size that
//! every description of a network (a config, a run's `model.json`) is
//! checked against.

use serde::{Deserialize, Serialize};

use crate::names::Activation;

/// The most units a layer may have (far above any MLP that trains on one
/// machine; a limit on what a file may ask Burn to allocate).
pub const MAX_LAYER_SIZE: usize = 1 << 20;

/// The most hidden layers a network may have.
pub const MAX_HIDDEN_LAYERS: usize = 64;

/// `[model]`: the hidden layers. Input (784) and output (10) sizes come from
/// the data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelSection {
    /// Units of each hidden layer, input side first.
    pub hidden: Vec<usize>,
    pub activation: Activation,
    /// Dropout rate after each hidden layer while training, in [0, 1); 0 is off.
    pub dropout: f64,
}

impl Default for ModelSection {
    /// The tutorial's: 64 and 64 units, ReLU, no dropout.
    fn default() -> Self {
        Self {
            hidden: vec![64, 64],
            activation: Activation::Relu,
            dropout: 0.0,
        }
    }
}

/// What [`check_layers`] accepts, as the end of a message.
pub fn layers_expected() -> String {
    format!("at most {MAX_HIDDEN_LAYERS} hidden layers of 1 to {MAX_LAYER_SIZE} units")
}

/// Checks a network `inputs -> hidden... -> classes`: at most
/// [`MAX_HIDDEN_LAYERS`] hidden layers, every size from 1 to
/// [`MAX_LAYER_SIZE`]. The message names the field.
pub fn check_layers(inputs: usize, hidden: &[usize], classes: usize) -> Result<(), String> {
    if hidden.len() > MAX_HIDDEN_LAYERS {
        return Err(format!(
            "hidden must list at most {MAX_HIDDEN_LAYERS} layers, got {}",
            hidden.len()
        ));
    }
    let named = [("inputs", inputs), ("classes", classes)];
    let hidden = hidden.iter().map(|&units| ("hidden", units));
    for (name, value) in named.into_iter().chain(hidden) {
        if !(1..=MAX_LAYER_SIZE).contains(&value) {
            return Err(format!(
                "{name} must be from 1 to {MAX_LAYER_SIZE}, got {value}"
            ));
        }
    }
    Ok(())
}

/// Checks a dropout rate is in [0, 1).
pub fn check_dropout(rate: f64) -> Result<(), String> {
    if (0.0..1.0).contains(&rate) {
        Ok(())
    } else {
        Err(format!("dropout must be in [0, 1), got {rate}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_name_the_field_and_come_from_the_constants() {
        assert_eq!(check_layers(784, &[64, 64], 10), Ok(()));
        assert_eq!(
            check_layers(784, &[64, 0], 10).unwrap_err(),
            format!("hidden must be from 1 to {MAX_LAYER_SIZE}, got 0")
        );
        assert_eq!(
            check_layers(784, &vec![8; MAX_HIDDEN_LAYERS + 1], 10).unwrap_err(),
            format!("hidden must list at most {MAX_HIDDEN_LAYERS} layers, got 65")
        );
        assert_eq!(
            check_layers(0, &[], 10).unwrap_err(),
            "inputs must be from 1 to 1048576, got 0"
        );
        assert_eq!(
            check_dropout(1.0).unwrap_err(),
            "dropout must be in [0, 1), got 1"
        );
        assert!(check_dropout(0.5).is_ok());
        assert_eq!(
            layers_expected(),
            "at most 64 hidden layers of 1 to 1048576 units"
        );
    }
}
