//! The names a config uses for choices that the model and the backends act
//! on: which backend runs the network, and which activation it uses.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Where the network runs, chosen at run time: one binary serves every
/// backend (`model::BackendDevice` opens its device).
///
/// - `flex`: Burn's pure-Rust CPU backend, the default: the fastest CPU
///   backend for this network.
/// - `ndarray`: the CPU backend the design card names; Burn 0.22 deprecates
///   it in favour of flex.
/// - `wgpu`: the GPU through wgpu (Vulkan, Metal, DX12); without a GPU, a
///   software Vulkan driver such as Mesa's lavapipe, slowly.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    #[default]
    Flex,
    Ndarray,
    Wgpu,
}

impl Backend {
    pub const ALL: [Backend; 3] = [Backend::Flex, Backend::Ndarray, Backend::Wgpu];
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Flex => "flex",
            Backend::Ndarray => "ndarray",
            Backend::Wgpu => "wgpu",
        })
    }
}

impl FromStr for Backend {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Backend::ALL
            .into_iter()
            .find(|backend| backend.to_string() == name)
            .ok_or_else(|| format!("unknown backend `{name}`, expected one of flex, ndarray, wgpu"))
    }
}

/// The non-linearity after each hidden layer. ReLU is the tutorial's choice;
/// sigmoid and tanh are there to see why (their gradients vanish); GELU and
/// leaky ReLU (slope [`LEAKY_RELU_SLOPE`] below zero) for comparison.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    #[default]
    Relu,
    Sigmoid,
    Tanh,
    Gelu,
    LeakyRelu,
}

/// Leaky ReLU's slope below zero: Keras's and PyTorch's usual one.
pub const LEAKY_RELU_SLOPE: f32 = 0.01;

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Relu => "relu",
            Self::Sigmoid => "sigmoid",
            Self::Tanh => "tanh",
            Self::Gelu => "gelu",
            Self::LeakyRelu => "leaky_relu",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_names_round_trip() {
        for backend in Backend::ALL {
            assert_eq!(backend.to_string().parse::<Backend>().unwrap(), backend);
        }
        assert_eq!(Backend::default(), Backend::Flex);
        assert_eq!(
            "cuda".parse::<Backend>().unwrap_err(),
            "unknown backend `cuda`, expected one of flex, ndarray, wgpu"
        );
    }
}
