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
                    read_eagerly();
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

/// Makes every read of a GPU tensor (`into_data`) copy the values off the
/// device at once.
///
/// Burn 0.22.1 reads CubeCL tensors lazily on a "sync" runtime, its default:
/// the bytes `into_data` returns are copied from the device memory when they
/// are first looked at, and by then the device may have overwritten that
/// memory in place (fusion reuses a tensor's buffer once no other tensor
/// holds it). Burn's checkpointer looks at an epoch's optimizer and model
/// records on a thread of its own while the next epoch trains, so
/// `optim-<epoch>.bpk` held a later step's moments, or weights in place of
/// moments, in about half of the wgpu runs. Declaring the runtime
/// asynchronous is the one switch Burn has for eager reads; it changes
/// nothing else (Burn reads the kind in this one place only).
fn read_eagerly() {
    burn_std::set_runtime_kind(burn_std::RuntimeKind::Async);
}

/// The wgpu device for a test, or `None` (the test skips, saying why)
/// without a Vulkan adapter; under `CI=true` a missing adapter fails.
#[cfg(test)]
pub(crate) fn wgpu_for_tests() -> Option<Device> {
    match Backend::Wgpu.device() {
        Ok(device) => Some(device),
        Err(error) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("CI=true needs a Vulkan adapter (mesa-vulkan-drivers): {error}")
        }
        Err(error) => {
            eprintln!("skipping the wgpu check: {error}");
            None
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

    /// What a read of a wgpu tensor returns holds the values the tensor had
    /// when it was read, also when the device later overwrites the tensor's
    /// memory in place (Adam's next step does, while Burn's checkpointer
    /// writes the state of the step before on a thread of its own).
    #[test]
    fn a_wgpu_read_keeps_the_values_it_read() {
        let Some(device) = wgpu_for_tests() else {
            return;
        };
        let mut x = burn::tensor::Tensor::<1>::from_floats([1.0, 2.0, 3.0, 4.0], &device);
        x = x * 1.0;
        let read = x.clone().into_data();
        for _ in 0..3 {
            x = x * 2.0 + 1.0;
        }
        let later = x.into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(later, [15.0, 23.0, 31.0, 39.0]);
        assert_eq!(read.try_to_vec::<f32>().unwrap(), [1.0, 2.0, 3.0, 4.0]);
    }
}
