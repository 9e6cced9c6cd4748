//! Where the network runs, chosen at run time: one binary serves every backend.
//!
//! - `flex`: Burn's pure-Rust CPU backend, the default because it is the fastest
//!   CPU backend for this network (about 2.5x burn-ndarray here).
//! - `ndarray`: the CPU backend the design card names; Burn 0.22 deprecates it in
//!   favour of flex.
//! - `wgpu`: the GPU through wgpu (Vulkan, Metal, DX12). On a machine without a
//!   GPU it runs on a software Vulkan driver such as Mesa's lavapipe, slowly.

use std::sync::OnceLock;

use burn::tensor::Device;

pub use config::Backend;

/// The backend could not start.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error(
        "backend wgpu: no usable GPU adapter ({0}); install a Vulkan driver (on Debian: \
         apt-get install mesa-vulkan-drivers) or use --backend flex"
    )]
    NoAdapter(String),
}

/// Opens a [`Backend`]'s device.
pub trait BackendDevice {
    /// The device to create tensors on. For wgpu this acquires the adapter
    /// once per process and reports a missing one as an error instead of
    /// Burn's panic.
    fn device(self) -> Result<Device, BackendError>;
}

impl BackendDevice for Backend {
    fn device(self) -> Result<Device, BackendError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_backends_start() {
        for backend in [Backend::Flex, Backend::Ndarray] {
            let device = backend.device().unwrap();
            let x = burn::tensor::Tensor::<1>::from_floats([1.0, 2.0], &device);
            assert_eq!(x.sum().into_scalar::<f32>(), 3.0);
        }
    }
}
