//! The softmax cross-entropy head on the GPU as one CubeCL kernel: the
//! batch's mean loss, its correct count and the gradient of the loss with
//! respect to the logits, in one launch.
//!
//! Written with Burn's tensor operations the head was ten launches a step
//! (the row maxima, exponentials, row sums, the targets' logits, the mean,
//! the arg-max, the comparison, the bools turned to floats, their sum, the
//! division), and its gradient two more (-1 scattered at the targets, then
//! the scale). Here one cube of threads walks the rows: per row the
//! maximum and its first index, the sum of exponentials, the row's loss
//! term and whether it is correct, and the row of `(softmax - onehot) / B`;
//! then the threads add their partial sums in shared memory. The
//! arithmetic is [`super::kernels::cross_entropy`]'s: shifted by the row's
//! maximum, the first maximum is the prediction.
//!
//! The kernel runs on Burn's CubeCL backend; on the fusion backend that
//! wgpu is, [`cross_entropy_head`] queues it as a custom operation in the
//! fusion stream ([`data::cube_op`]).

use burn::backend::Cube;
use burn::backend::cubecl::dtype_to_storage_type;
use burn::backend::tensor::{FloatTensor, IntTensor};
use burn::tensor::Shape;
use burn_cubecl::cubecl;
use burn_cubecl::cubecl::prelude::*;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::ops::numeric::empty_device_dtype;
use burn_cubecl::tensor::CubeTensor;
use data::cube_op;

/// Threads in the one cube; each takes every `THREADS`-th row.
const THREADS: u32 = 64;

/// What the head gives the training step.
pub(crate) struct HeadOutputs<T> {
    /// `[1]`: the mean over the batch of `-ln softmax(z)[target]`.
    pub loss: T,
    /// `[1]`: rows whose first largest logit is the target's.
    pub correct: T,
    /// `[B, C]`: `(softmax(z) - onehot(target)) / B`, the gradient of the
    /// mean loss with respect to the logits.
    pub grad: T,
}

/// The head of `logits` (`[B, C]`) against `targets` (`[B]`, class
/// indices), queued in the fusion stream as one operation.
pub(crate) fn cross_entropy_head(
    logits: FloatTensor<Cube>,
    targets: IntTensor<Cube>,
) -> HeadOutputs<FloatTensor<Cube>> {
    let client = logits.client.clone();
    let (dtype, shape) = (logits.dtype, logits.shape.clone());
    let scalar = (Shape::new([1]), dtype);
    let [loss, correct, grad] = cube_op::queue(
        "simple_nn_cross_entropy_head",
        &client,
        vec![logits, targets],
        [scalar.clone(), scalar, (shape, dtype)],
        |inputs| {
            let [logits, targets] = inputs.try_into().expect("the logits and targets");
            let head = launch(logits, targets);
            [head.loss, head.correct, head.grad]
        },
    );
    HeadOutputs {
        loss,
        correct,
        grad,
    }
}

/// Runs the kernel on the CubeCL backend's tensors.
fn launch(logits: CubeTensor, targets: CubeTensor) -> HeadOutputs<CubeTensor> {
    let logits = into_contiguous(logits);
    let targets = into_contiguous(targets);
    let [batch, classes] = logits.meta.shape().dims::<2>();
    let (client, device) = (logits.client.clone(), logits.device.clone());
    let (float, int) = (logits.dtype, targets.dtype);
    let empty = |shape: Shape| empty_device_dtype(client.clone(), device.clone(), shape, float);
    let head = HeadOutputs {
        loss: empty(Shape::new([1])),
        correct: empty(Shape::new([1])),
        grad: empty(Shape::new([batch, classes])),
    };
    cross_entropy_head_kernel::launch(
        &client,
        CubeCount::Static(1, 1, 1),
        CubeDim::new_1d(THREADS),
        logits.into_tensor_arg(),
        targets.into_tensor_arg(),
        head.loss.clone().into_tensor_arg(),
        head.correct.clone().into_tensor_arg(),
        head.grad.clone().into_tensor_arg(),
        THREADS,
        [dtype_to_storage_type(float), dtype_to_storage_type(int)],
    );
    head
}

/// One cube of `threads` threads: thread `t` takes rows `t, t + threads,
/// ...`, writes their gradient rows and keeps its loss and correct sums;
/// thread 0 then adds the partial sums.
#[cube(launch)]
fn cross_entropy_head_kernel<F: Float, I: Int>(
    logits: &Tensor<F>,      // [B, C]
    targets: &Tensor<I>,     // [B]
    loss: &mut Tensor<F>,    // [1]
    correct: &mut Tensor<F>, // [1]
    grad: &mut Tensor<F>,    // [B, C]
    #[comptime] threads: u32,
    #[define(F, I)] _dtypes: [ElemType; 2],
) {
    let rows = logits.shape(0);
    let classes = logits.shape(1);
    let scale = F::new(1.0) / F::cast_from(rows as u32);
    let mut loss_sum = F::new(0.0);
    let mut correct_sum = F::new(0.0);
    let mut row = UNIT_POS_X as usize;
    while row < rows {
        let base = row * classes;
        let target = u32::cast_from(targets[row]) as usize;
        let mut max = logits[base];
        let mut argmax = 0usize;
        for class in 1..classes {
            let value = logits[base + class];
            if value > max {
                max = value;
                argmax = class;
            }
        }
        let mut sum = F::new(0.0);
        for class in 0..classes {
            sum += (logits[base + class] - max).exp();
        }
        loss_sum += sum.ln() - (logits[base + target] - max);
        if argmax == target {
            correct_sum += F::new(1.0);
        }
        for class in 0..classes {
            let mut value = (logits[base + class] - max).exp() / sum;
            if class == target {
                value -= F::new(1.0);
            }
            grad[base + class] = value * scale;
        }
        row += threads as usize;
    }
    let mut partial = Shared::new_slice((2 * threads) as usize);
    partial[UNIT_POS_X as usize] = loss_sum;
    partial[(threads + UNIT_POS_X) as usize] = correct_sum;
    sync_cube();
    if UNIT_POS_X == 0 {
        let mut total_loss = F::new(0.0);
        let mut total_correct = F::new(0.0);
        for thread in 0..threads {
            total_loss += partial[thread as usize];
            total_correct += partial[(threads + thread) as usize];
        }
        loss[0] = total_loss * scale;
        correct[0] = total_correct;
    }
}
