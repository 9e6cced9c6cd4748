//! The matrix products of the fused network: each `dst (+)= lhs · rhs` the
//! kernels ([`super::kernels`]) run goes through [`gemm_into`] and the `gemm`
//! crate. For `bench profile` they can also be recorded as they ran: how long
//! the products took inside the training step, and how long the same products
//! take alone (the gemm's own speed at those shapes, operands and threads), so
//! that the rest of the step (element-wise passes, allocations) and what the
//! step does to the products (caches, the thread pool) can be told apart.
//!
//! Recording is off by default: then each product pays one relaxed atomic load.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

static RECORDING: AtomicBool = AtomicBool::new(false);
static LOG: Mutex<Vec<Product>> = Mutex::new(Vec::new());

/// A matrix operand: its elements and their strides `(row, column)`.
#[derive(Clone, Copy)]
pub(super) struct Operand<'a> {
    values: &'a [f32],
    strides: (usize, usize),
}

impl<'a> Operand<'a> {
    pub(super) fn with_strides(values: &'a [f32], strides: (usize, usize)) -> Self {
        Self { values, strides }
    }

    /// A row-major `[_, columns]` matrix.
    pub(super) fn rows(values: &'a [f32], columns: usize) -> Self {
        Self {
            values,
            strides: (columns, 1),
        }
    }

    /// The transpose of a row-major `[_, columns]` matrix.
    pub(super) fn transposed(values: &'a [f32], columns: usize) -> Self {
        Self {
            values,
            strides: (1, columns),
        }
    }

    /// Panics unless a `[rows, cols]` matrix with these strides fits.
    fn check(&self, rows: usize, cols: usize, what: &str) {
        let last = if rows == 0 || cols == 0 {
            0
        } else {
            (rows - 1) * self.strides.0 + (cols - 1) * self.strides.1 + 1
        };
        assert!(self.values.len() >= last, "matmul: {what} too short");
    }
}

/// `dst (+)= lhs · rhs` through the `gemm` crate, split across threads when
/// large, and timed when recording.
///
/// # Safety
/// `dst` must be valid for writes of `m * n` elements (and reads too with
/// `accumulate`), and must not overlap the operands.
pub(super) unsafe fn gemm_into(
    dst: *mut f32,
    (m, n, k): (usize, usize, usize),
    lhs: Operand<'_>,
    rhs: Operand<'_>,
    accumulate: bool,
) {
    lhs.check(m, k, "lhs");
    rhs.check(k, n, "rhs");
    if m == 0 || n == 0 {
        return;
    }
    let shape = || Shape {
        mnk: (m, n, k),
        lhs_strides: lhs.strides,
        rhs_strides: rhs.strides,
        accumulate,
    };
    timed(shape, || {
        // SAFETY: the checks above keep every element the operands' strides
        // reach inside their slices; the caller vouches for `dst`.
        unsafe {
            gemm::gemm(
                m,
                n,
                k,
                dst,
                1,
                n as isize,
                accumulate,
                lhs.values.as_ptr(),
                lhs.strides.1 as isize,
                lhs.strides.0 as isize,
                rhs.values.as_ptr(),
                rhs.strides.1 as isize,
                rhs.strides.0 as isize,
                1.0,
                1.0,
                false,
                false,
                false,
                parallelism(m, n, k),
            );
        }
    });
}

/// Products of at least this many multiply-adds (`m * n * k`) are split
/// across threads: burn-flex's threshold, about 7 million. The tutorial's
/// largest, 32 x 784 x 64 (1.6 million), stays on one thread, where starting
/// threads would cost more than they save; a 784-512-512-10 network at batch
/// 128 (51 million) uses every core.
const PARALLEL_THRESHOLD: usize = 192 * 192 * 192;

fn parallelism(m: usize, n: usize, k: usize) -> gemm::Parallelism {
    if m.saturating_mul(n).saturating_mul(k) >= PARALLEL_THRESHOLD {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    }
}

/// One `dst (+)= lhs · rhs` as the kernels called it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Shape {
    /// `(m, n, k)`: `dst` is `[m, n]`, the sum runs over `k`.
    pub mnk: (usize, usize, usize),
    /// `(row, column)` strides of `lhs` (`[m, k]`) and `rhs` (`[k, n]`), in
    /// elements: `(k, 1)` is row-major, `(1, m)` a transposed row-major matrix.
    pub lhs_strides: (usize, usize),
    pub rhs_strides: (usize, usize),
    /// Added onto `dst` (the forward pass adds onto the bias) or written.
    pub accumulate: bool,
}

impl Shape {
    /// Floating-point operations, a multiply-add counting two.
    pub fn flop(&self) -> f64 {
        let (m, n, k) = self.mnk;
        2.0 * m as f64 * n as f64 * k as f64
    }
}

/// A product and the seconds it took.
#[derive(Clone, Copy, Debug)]
pub struct Product {
    pub shape: Shape,
    pub seconds: f64,
}

/// Starts (or stops) recording every product the kernels run, on any
/// thread. Starting clears what was recorded before.
pub fn record(on: bool) {
    if on {
        lock().clear();
    }
    RECORDING.store(on, Ordering::Relaxed);
}

/// The products recorded since [`record`]`(true)`, in the order they ran;
/// the log is left empty.
pub fn take() -> Vec<Product> {
    std::mem::take(&mut *lock())
}

fn lock() -> std::sync::MutexGuard<'static, Vec<Product>> {
    // A panic while holding the lock leaves a log of plain values: still valid.
    LOG.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Whether [`timed`] should clock the product about to run.
pub(super) fn recording() -> bool {
    RECORDING.load(Ordering::Relaxed)
}

/// Runs `product` (the gemm call of `shape`), logging its time if recording.
pub(super) fn timed(shape: impl FnOnce() -> Shape, product: impl FnOnce()) {
    if !recording() {
        return product();
    }
    let clock = Instant::now();
    product();
    let seconds = clock.elapsed().as_secs_f64();
    lock().push(Product {
        shape: shape(),
        seconds,
    });
}

/// The seconds `products` take when each runs alone: every distinct shape
/// timed once per round on its own operands, over `rounds` rounds (after one
/// warm-up round), its median times how often it occurs. Rounds interleave
/// the shapes so that a moment of interference on a shared machine touches
/// one sample of each, not all samples of one. The operands hold arbitrary
/// finite values (a gemm's speed does not depend on them) and stay allocated
/// across rounds, as a training loop's buffers would be at best.
pub fn alone_seconds(products: &[Product], rounds: usize) -> f64 {
    let mut counts: BTreeMap<Shape, usize> = BTreeMap::new();
    for product in products {
        *counts.entry(product.shape).or_default() += 1;
    }
    let mut operands: Vec<Operands> = counts.keys().map(|&shape| Operands::new(shape)).collect();
    for operands in &mut operands {
        operands.run();
    }
    let mut times = vec![Vec::with_capacity(rounds); operands.len()];
    for _ in 0..rounds.max(1) {
        for (operands, times) in operands.iter_mut().zip(&mut times) {
            times.push(operands.run());
        }
    }
    times
        .iter_mut()
        .zip(counts.values())
        .map(|(times, &count)| {
            times.sort_by(f64::total_cmp);
            times[times.len() / 2] * count as f64
        })
        .sum()
}

/// A product's operands and destination, allocated once.
struct Operands {
    shape: Shape,
    lhs: Vec<f32>,
    rhs: Vec<f32>,
    dst: Vec<f32>,
}

impl Operands {
    fn new(shape: Shape) -> Self {
        let (m, n, k) = shape.mnk;
        let extent = |rows: usize, cols: usize, (row, col): (usize, usize)| {
            if rows == 0 || cols == 0 {
                0
            } else {
                (rows - 1) * row + (cols - 1) * col + 1
            }
        };
        Self {
            shape,
            lhs: vec![0.5; extent(m, k, shape.lhs_strides)],
            rhs: vec![0.25; extent(k, n, shape.rhs_strides)],
            dst: vec![0.0; m * n],
        }
    }

    /// Runs the product once; returns its seconds.
    fn run(&mut self) -> f64 {
        let clock = Instant::now();
        // SAFETY: `dst` holds m * n initialised elements and is its own
        // vector, so it overlaps neither operand; the operands' extents cover
        // every element their strides reach (`gemm_into` checks).
        unsafe {
            gemm_into(
                self.dst.as_mut_ptr(),
                self.shape.mnk,
                Operand::with_strides(&self.lhs, self.shape.lhs_strides),
                Operand::with_strides(&self.rhs, self.shape.rhs_strides),
                self.shape.accumulate,
            )
        };
        clock.elapsed().as_secs_f64()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fused::kernels::{self, LayerView};
    use config::Activation;

    /// A 2-layer network's step runs 2 products forward and 3 backward (no
    /// input gradient), with the shapes and layouts the kernels document.
    #[test]
    fn a_step_logs_its_products_and_they_replay() {
        let (batch, inputs, hidden, classes) = (4, 6, 5, 3);
        let w1 = vec![0.1; inputs * hidden];
        let w2 = vec![0.2; hidden * classes];
        let (b1, b2) = (vec![0.0; hidden], vec![0.0; classes]);
        let layers = [
            LayerView {
                weight: &w1,
                bias: &b1,
                inputs,
                outputs: hidden,
            },
            LayerView {
                weight: &w2,
                bias: &b2,
                inputs: hidden,
                outputs: classes,
            },
        ];
        let x = vec![1.0; batch * inputs];
        record(true);
        let (logits, tape) = kernels::forward(&x, batch, &layers, Activation::Relu, &[], true);
        let grad = kernels::cross_entropy_grad(logits, classes, &[0, 1, 2, 0], 1.0);
        kernels::backward(grad, &x, batch, &layers, &tape.unwrap(), false);
        record(false);
        // Other tests run products on other threads meanwhile: keep this
        // network's shapes only (none of theirs is 4 x 5 x 6 ...).
        let ours = [
            (batch, hidden, inputs),
            (batch, classes, hidden),
            (hidden, classes, batch),
            (batch, hidden, classes),
            (inputs, hidden, batch),
        ];
        let shapes: Vec<Shape> = take()
            .into_iter()
            .map(|product| product.shape)
            .filter(|shape| ours.contains(&shape.mnk))
            .collect();
        let expected = [
            ((batch, hidden, inputs), (inputs, 1), (hidden, 1), true),
            ((batch, classes, hidden), (hidden, 1), (classes, 1), true),
            ((hidden, classes, batch), (1, hidden), (classes, 1), false),
            ((batch, hidden, classes), (classes, 1), (1, classes), false),
            ((inputs, hidden, batch), (1, inputs), (hidden, 1), false),
        ]
        .map(|(mnk, lhs_strides, rhs_strides, accumulate)| Shape {
            mnk,
            lhs_strides,
            rhs_strides,
            accumulate,
        });
        assert_eq!(shapes, expected);
        assert_eq!(expected[0].flop(), 2.0 * 4.0 * 5.0 * 6.0);
        let products: Vec<Product> = shapes
            .iter()
            .map(|&shape| Product {
                shape,
                seconds: 0.0,
            })
            .collect();
        let alone = alone_seconds(&products, 3);
        assert!(alone > 0.0 && alone.is_finite(), "{alone}");
    }
}
