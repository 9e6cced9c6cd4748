//! A hand-written CubeCL kernel as one operation of Burn's fusion stream on
//! wgpu: what `#[backend_extension(Fusion)]` generates for a custom
//! operation, written out because Burn's `fusion` feature (which the macro
//! needs) is not switched on here. The stream runs the kernel in order with
//! the operations around it, and nothing is read back to the host.
//!
//! The distortions' kernels ([`crate::device_augment`]) and the model's
//! (its loss head and dropout masks) go through [`queue`].

use burn::backend::Cube;
use burn::backend::tensor::FloatTensor;
use burn::tensor::{DType, Shape};
use burn_cubecl::CubeBackend;
use burn_cubecl::fusion::FusionCubeRuntime;
use burn_cubecl::tensor::CubeTensor;
use burn_fusion::custom::{
    CustomOpIr, HandleContainer, OperationFn, OperationIr, StreamId, TensorIr,
};
use burn_fusion::{Client, FusionRuntime};

pub use burn_cubecl::CubeDevice;

/// The fusion stream's client on `device`.
pub fn client(device: &CubeDevice) -> Client<FusionCubeRuntime> {
    burn_fusion::get_client::<CubeBackend>(device)
}

/// Queues `kernel` on `client`'s device as one operation called `name`:
/// when the stream reaches it, `kernel` gets `inputs` as CubeCL tensors (of
/// any kind: float, int) and returns its `N` outputs, which must have the
/// shapes and dtypes of `outputs`. Returns the outputs as the fusion
/// backend's tensors.
pub fn queue<const N: usize>(
    name: &str,
    client: &Client<FusionCubeRuntime>,
    inputs: Vec<FloatTensor<Cube>>,
    outputs: [(Shape, DType); N],
    kernel: impl Fn(Vec<CubeTensor>) -> [CubeTensor; N] + Send + Sync + 'static,
) -> [FloatTensor<Cube>; N] {
    let inputs: Vec<TensorIr> = inputs.into_iter().map(|input| input.into_ir()).collect();
    let outputs: Vec<TensorIr> = outputs
        .into_iter()
        .map(|(shape, dtype)| TensorIr::uninit(client.create_empty_handle(), shape, dtype))
        .collect();
    let ids: Vec<_> = outputs.iter().map(|output| output.id).collect();
    let description = CustomOpIr {
        id: name.into(),
        inputs: inputs.clone(),
        outputs,
        scalars: Vec::new(),
    };
    type Handles = HandleContainer<<FusionCubeRuntime as FusionRuntime>::FusionHandle>;
    let operation = OperationFn(move |handles: &mut Handles| {
        // On the CubeCL backend every kind of tensor is a `CubeTensor`,
        // built from its handle alike.
        let tensors = inputs
            .iter()
            .map(|input| handles.get_float_tensor::<CubeBackend>(input))
            .collect();
        for (id, output) in ids.iter().zip(kernel(tensors)) {
            handles.register_float_tensor::<CubeBackend>(id, output);
        }
        Ok(())
    });
    let outputs = client.register(
        StreamId::current(),
        OperationIr::Custom(description),
        operation,
    );
    outputs
        .try_into()
        .unwrap_or_else(|outputs: Vec<_>| panic!("{name}: {} outputs, not {N}", outputs.len()))
}
