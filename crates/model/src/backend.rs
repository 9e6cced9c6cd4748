//! Where the network runs, chosen at run time: one binary serves every backend.
//!
//! - `flex`: Burn's pure-Rust CPU backend, the default because it is the fastest
//!   CPU backend for this network (about 2.5x burn-ndarray here).
//! - `ndarray`: the CPU backend the design card names; Burn 0.22 deprecates it in
//!   favour of flex.
//! - `wgpu`: the GPU through wgpu (Vulkan, Metal, DX12). On a machine without a
//!   GPU it runs on a software Vulkan driver such as Mesa's lavapipe, slowly.

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    #[default]
    Flex,
    Ndarray,
    Wgpu,
}

/// The backend could not start.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error(
        "backend wgpu: no usable GPU adapter ({0}); install a Vulkan driver (on Debian: \
         apt-get install mesa-vulkan-drivers) or use --backend flex"
    )]
    NoAdapter(String),
}

impl Backend {
    pub const ALL: [Backend; 3] = [Backend::Flex, Backend::Ndarray, Backend::Wgpu];

    /// The device to create tensors on. For wgpu this acquires the adapter once per
    /// process and reports a missing one as an error instead of Burn's panic.
    pub fn device(self) -> Result<Device, BackendError> {
        match self {
            Backend::Flex => Ok(Device::flex()),
            #[allow(deprecated)] // kept on purpose: the design card names burn-ndarray
            Backend::Ndarray => Ok(Device::ndarray()),
            Backend::Wgpu => {
                static WGPU: OnceLock<Result<Device, String>> = OnceLock::new();
                WGPU.get_or_init(|| {
                    Device::wgpu_options()
                        .init()
                        .map_err(|error| error.to_string())
                })
                .clone()
                .map_err(BackendError::NoAdapter)
            }
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for backend in Backend::ALL {
            assert_eq!(backend.to_string().parse::<Backend>().unwrap(), backend);
        }
        assert_eq!(Backend::default(), Backend::Flex);
        assert_eq!(
            "cuda".parse::<Backend>().unwrap_err(),
            "unknown backend `cuda`, expected one of flex, ndarray, wgpu"
        );
    }

    #[test]
    fn cpu_backends_start() {
        for backend in [Backend::Flex, Backend::Ndarray] {
            let device = backend.device().unwrap();
            let x = burn::tensor::Tensor::<1>::from_floats([1.0, 2.0], &device);
            assert_eq!(x.sum().into_scalar::<f32>(), 3.0);
        }
    }
}
