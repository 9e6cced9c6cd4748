//! The distortions of [`super::DeviceDistortion`] on a CubeCL device (wgpu)
//! as kernels of their own: the elastic noise read from the run's table, and
//! the warp (every output pixel's source point, the image's affine map plus
//! its elastic displacement, read bilinearly in a border of paper), one
//! thread per value. The smoothing between them stays two batched matrix
//! products (Burn's).
//!
//! As Burn tensor programs the noise (Burn 0.22.1's fusion leaves integer
//! arithmetic unfused) and the warp (the map's arithmetic, the padding,
//! the floors, the cast, and four index additions and gathers) took 20
//! launches a batch, the two kernels 2: `bench profile --backend wgpu --augment
//! configs/distorted.toml`, Mesa's lavapipe. Each kernel is one operation
//! of the fusion stream ([`crate::cube_op`]). On the CPU backends the
//! tensor programs run, and the tests hold the kernels to them.

use burn::backend::Cube;
use burn::backend::cubecl::dtype_to_storage_type;
use burn::backend::tensor::FloatTensor;
use burn::tensor::{Int as BurnInt, Shape, Tensor as BurnTensor};
use burn_cubecl::cubecl;
use burn_cubecl::cubecl::calculate_cube_count_elemwise;
use burn_cubecl::cubecl::prelude::*;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::ops::numeric::empty_device_dtype;
use burn_cubecl::tensor::CubeTensor;

use crate::augment::{BORDER, CENTRE, PADDED};
use crate::cube_op;
use crate::mnist::{IMAGE_PIXELS, IMAGE_SIDE};

/// Threads per cube; a thread per value written.
const THREADS: u32 = 256;

/// Numbers of an image's affine map in `maps`: the shift (x, y), then the
/// inverse matrix `[a, b, c, d]`.
pub(super) const MAP_NUMBERS: usize = 6;

/// The noise of `keys`' images (`[B, 2]`: each image's table offset and odd
/// stride) read from `table` (`[2^20]`): `[2B, 28, 28]`, image `b`'s `dx`
/// field then its `dy`, value `p` of the two at `(offset + p * stride) mod
/// 2^20`, as [`super::DeviceDistortion`]'s tensor program reads it.
pub(super) fn noise(table: BurnTensor<1>, keys: BurnTensor<2, BurnInt>) -> BurnTensor<3> {
    let batch = keys.dims()[0];
    let keys = keys
        .inner()
        .try_into_primitive::<Cube>()
        .expect("the noise kernel runs on a CubeCL device");
    let (table, autodiff) = primitive(table);
    let client = table.client.clone();
    let shape = Shape::new([2 * batch, IMAGE_SIDE, IMAGE_SIDE]);
    let dtype = table.dtype;
    let [noise] = cube_op::queue(
        "simple_nn_elastic_noise",
        &client,
        vec![table, keys],
        [(shape.clone(), dtype)],
        move |inputs| {
            let [table, keys] = contiguous(inputs);
            let out = empty_device_dtype(
                table.client.clone(),
                table.device.clone(),
                shape.clone(),
                dtype,
            );
            noise_kernel::launch(
                &out.client,
                cube_count(&out),
                CubeDim::new_1d(THREADS),
                table.clone().into_tensor_arg(),
                keys.clone().into_tensor_arg(),
                out.clone().into_tensor_arg(),
                [
                    dtype_to_storage_type(table.dtype),
                    dtype_to_storage_type(keys.dtype),
                ],
            );
            [out]
        },
    );
    tensor(noise, autodiff)
}

/// `images` (`[B, 784]`) warped by `maps` (`[B, 6]`, see [`MAP_NUMBERS`])
/// and, when given, the displacements `fields` (`[B, 1568]`: each image's
/// `dx` then `dy`, in pixels): `[B, 784]`, queued as one operation, on the
/// images' device (with or without autodiff).
pub(super) fn warp(
    images: BurnTensor<2>,
    maps: BurnTensor<2>,
    fields: Option<BurnTensor<2>>,
) -> BurnTensor<2> {
    let (images, autodiff) = primitive(images);
    let elastic = fields.is_some();
    let mut inputs = vec![images.clone(), primitive(maps).0];
    inputs.extend(fields.map(|fields| primitive(fields).0));
    let (shape, dtype) = (images.shape.clone(), images.dtype);
    let [warped] = cube_op::queue(
        "simple_nn_warp",
        &images.client,
        inputs,
        [(shape.clone(), dtype)],
        move |inputs| {
            let mut inputs = inputs.into_iter().map(into_contiguous);
            let mut next = || inputs.next().expect("the images and maps");
            let (images, maps) = (next(), next());
            // Without a field the kernel never reads it: the maps stand in.
            let fields = if elastic { next() } else { maps.clone() };
            let out = empty_device_dtype(
                images.client.clone(),
                images.device.clone(),
                shape.clone(),
                dtype,
            );
            warp_kernel::launch(
                &out.client,
                cube_count(&out),
                CubeDim::new_1d(THREADS),
                images.into_tensor_arg(),
                maps.into_tensor_arg(),
                fields.into_tensor_arg(),
                out.clone().into_tensor_arg(),
                elastic,
                dtype_to_storage_type(dtype),
            );
            [out]
        },
    );
    tensor(warped, autodiff)
}

/// `tensor`'s fusion primitive, outside any graph, and whether it was on
/// the autodiff device (a training loader's batch is).
fn primitive<const D: usize>(tensor: BurnTensor<D>) -> (FloatTensor<Cube>, bool) {
    let autodiff = tensor.is_autodiff();
    let primitive = tensor
        .inner()
        .try_into_primitive::<Cube>()
        .expect("the distortion kernels run on a CubeCL device");
    (primitive, autodiff)
}

/// `primitive` as a tensor, on the autodiff device when asked.
fn tensor<const D: usize>(primitive: FloatTensor<Cube>, autodiff: bool) -> BurnTensor<D> {
    let tensor = BurnTensor::from_primitive::<Cube>(primitive);
    match autodiff {
        true => tensor.autodiff(),
        false => tensor,
    }
}

/// The kernel's `N` inputs, contiguous.
fn contiguous<const N: usize>(inputs: Vec<CubeTensor>) -> [CubeTensor; N] {
    let inputs: Vec<CubeTensor> = inputs.into_iter().map(into_contiguous).collect();
    inputs.try_into().expect("as many inputs as queued")
}

/// Cubes of [`THREADS`] for a thread per value of `out`: spread over two
/// dimensions past a dimension's limit (65,535 cubes on wgpu); threads past
/// the end do nothing.
fn cube_count(out: &CubeTensor) -> CubeCount {
    let values = out.meta.shape().num_elements();
    calculate_cube_count_elemwise(&out.client, values, CubeDim::new_1d(THREADS))
}

/// Thread `t` writes value `t % 1568` of image `t / 1568`'s two fields.
#[cube(launch)]
fn noise_kernel<F: Float, I: Int>(
    table: &Tensor<F>,   // [2^20]
    keys: &Tensor<I>,    // [B, 2]: offset, stride
    out: &mut Tensor<F>, // [2B, 28, 28]
    #[define(F, I)] _dtypes: [ElemType; 2],
) {
    let position = ABSOLUTE_POS;
    if position < out.len() {
        let values = 2 * IMAGE_PIXELS;
        let image = position / values;
        let offset = u32::cast_from(keys[2 * image]);
        let stride = u32::cast_from(keys[2 * image + 1]);
        // Below 1568 x 2^20 < 2^31: exact in 32 bits.
        let at = (u32::cast_from(position % values) * stride + offset) & (table.len() as u32 - 1);
        out[position] = table[at as usize];
    }
}

/// Thread `t` writes pixel `t % 784` of image `t / 784`: its source point
/// as [`crate::augment::Warp::apply`] computes it (output offsets from the
/// centre, less the shift, through the inverse matrix, back to image
/// coordinates, plus the displacement), read bilinearly from the image in
/// a border of paper, clamped to the padded frame.
#[cube(launch)]
fn warp_kernel<F: Float>(
    images: &Tensor<F>,  // [B, 784]
    maps: &Tensor<F>,    // [B, 6]
    fields: &Tensor<F>,  // [B, 1568], read only when `elastic`
    out: &mut Tensor<F>, // [B, 784]
    #[comptime] elastic: bool,
    #[define(F)] _dtype: ElemType,
) {
    let position = ABSOLUTE_POS;
    if position < out.len() {
        let pixels = IMAGE_PIXELS;
        let side = IMAGE_SIDE;
        let image = position / pixels;
        let pixel = position % pixels;
        let map = image * MAP_NUMBERS;
        let centre = F::new(CENTRE);
        let u = F::cast_from(pixel % side) - maps[map] - centre;
        let v = F::cast_from(pixel / side) - maps[map + 1] - centre;
        let mut sx = maps[map + 2] * u + maps[map + 3] * v + centre;
        let mut sy = maps[map + 4] * u + maps[map + 5] * v + centre;
        if elastic {
            let field = image * 2 * pixels;
            sx += fields[field + pixel];
            sy += fields[field + pixels + pixel];
        }
        let border = F::new(BORDER as f32);
        let limit = F::new((PADDED - 2) as f32);
        let x = clamped::<F>(sx + border, F::new(0.0), limit);
        let y = clamped::<F>(sy + border, F::new(0.0), limit);
        let (x0, y0) = (x.floor(), y.floor());
        let (fx, fy) = (x - x0, y - y0);
        // The top-left corner in image coordinates (-2 to 28 each).
        let left = i32::cast_from(x0) - BORDER as i32;
        let top = i32::cast_from(y0) - BORDER as i32;
        let base = image * pixels;
        let top_left = read::<F>(images, base, left, top);
        let top_right = read::<F>(images, base, left + 1, top);
        let bottom_left = read::<F>(images, base, left, top + 1);
        let bottom_right = read::<F>(images, base, left + 1, top + 1);
        let upper = top_left + (top_right - top_left) * fx;
        let lower = bottom_left + (bottom_right - bottom_left) * fx;
        out[position] = upper + (lower - upper) * fy;
    }
}

/// Pixel `(x, y)` of the image at `base`, or paper (0) outside the frame.
#[cube]
fn read<F: Float>(images: &Tensor<F>, base: usize, x: i32, y: i32) -> F {
    let side = IMAGE_SIDE as i32;
    let mut value = F::new(0.0);
    if x >= 0 && x < side && y >= 0 && y < side {
        value = images[base + (y * side + x) as usize];
    }
    value
}

/// `lower <= value <= upper`, the nearer bound outside.
#[cube]
fn clamped<F: Float>(value: F, lower: F, upper: F) -> F {
    F::min(F::max(value, lower), upper)
}
