//! Dropout keep factors on the GPU as one CubeCL kernel: each thread hashes
//! its element's number as [`crate::dropout`]'s host loop does (MurmurHash3's
//! finaliser, twice, under the draw's two keys) and writes 0 or `1 / (1 - p)`.
//! The same factors as flex's to the bit, in one launch per hidden layer.
//!
//! Written with Burn's integer tensor operations the same draw was about
//! 25 launches a layer (Burn 0.22.1's fusion leaves bitwise operations and
//! `arange`'s cumulative sum unfused): 49 of a 784-512-512-10 step's 79
//! (`bench profile --backend wgpu --hidden 512 --batch-size 128 --dropout
//! 0.2`, Mesa's lavapipe). Like [`super::cube_head`], the kernel is queued in
//! the fusion stream as a custom operation ([`data::cube_op`]).

use burn::backend::cubecl::dtype_to_storage_type;
use burn::backend::{Cube, DispatchDevice};
use burn::tensor::{DType, Device, Shape};
use burn_cubecl::cubecl::calculate_cube_count_elemwise;
use burn_cubecl::cubecl::prelude::*;
use burn_cubecl::ops::numeric::empty_device_dtype;
use burn_cubecl::tensor::CubeTensor;
use burn_cubecl::{CubeDevice, cubecl};
use data::cube_op;

/// Threads per cube; a thread per element.
const THREADS: u32 = 256;

/// What a mask is drawn from, as [`crate::dropout`] derives it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct KeepDraw {
    /// The hash's two keys, from (seed, step, layer).
    pub key: [u32; 2],
    /// An element is dropped when its hash is below this.
    pub threshold: u32,
    /// The factor of a kept element, `1 / (1 - p)`.
    pub keep: f32,
}

/// The `[rows, units]` keep factors of `draw` (element `i` of the row-major
/// layout hashed as number `i`) on `device`, a CubeCL device with or
/// without autodiff; the factors are constants, outside any graph.
///
/// # Panics
/// If `device` is not a CubeCL device.
pub(crate) fn keep_factors(
    draw: KeepDraw,
    rows: usize,
    units: usize,
    device: &Device,
) -> burn::tensor::Tensor<2> {
    let DispatchDevice::Cube(cube) = device.as_dispatch().clone().inner() else {
        panic!("keep factors on the GPU need a CubeCL device, got {device:?}");
    };
    let shape = Shape::new([rows, units]);
    let [factors] = cube_op::queue(
        "simple_nn_dropout_keep_factors",
        &cube_op::client(&cube),
        Vec::new(),
        [(shape.clone(), DType::F32)],
        move |_| [launch(draw, &cube, shape.clone())],
    );
    let factors = burn::tensor::Tensor::<2>::from_primitive::<Cube>(factors);
    match device.is_autodiff() {
        true => factors.autodiff(),
        false => factors,
    }
}

/// Runs the kernel on `device`, into a new `f32` tensor of `shape`.
fn launch(draw: KeepDraw, device: &CubeDevice, shape: Shape) -> CubeTensor {
    let count = shape.num_elements();
    let factors = empty_device_dtype(device.client(), device.clone(), shape, DType::F32);
    // Spread over two dimensions past 65,535 cubes (wgpu's limit for one).
    let cubes = calculate_cube_count_elemwise(&factors.client, count, CubeDim::new_1d(THREADS));
    keep_factors_kernel::launch(
        &factors.client,
        cubes,
        CubeDim::new_1d(THREADS),
        factors.clone().into_tensor_arg(),
        draw.key[0],
        draw.key[1],
        draw.threshold,
        draw.keep,
        dtype_to_storage_type(DType::F32),
    );
    factors
}

/// `out[i]` = `keep` if the hash of `i` is at least `threshold`, else 0.
#[cube(launch)]
fn keep_factors_kernel<F: Float>(
    out: &mut Tensor<F>, // [count], any shape, contiguous
    key0: u32,
    key1: u32,
    threshold: u32,
    keep: f32,
    #[define(F)] _dtype: ElemType,
) {
    let element = ABSOLUTE_POS;
    if element < out.len() {
        let hash = finalize(finalize(u32::cast_from(element) ^ key0) ^ key1);
        out[element] = if hash >= threshold {
            F::cast_from(keep)
        } else {
            F::new(0.0)
        };
    }
}

/// MurmurHash3's 32-bit finaliser, as [`crate::dropout`]'s host version:
/// `u32` products wrap.
#[cube]
fn finalize(h: u32) -> u32 {
    let h = h ^ (h >> 16);
    let h = h * 0x85eb_ca6b;
    let h = h ^ (h >> 13);
    let h = h * 0xc2b2_ae35;
    h ^ (h >> 16)
}
