//! The whole network's arithmetic on host memory, with no Burn in it: the
//! forward pass of every layer (matrix product with the bias folded in, the
//! activation and dropout applied in place), the softmax cross-entropy with
//! its gradient, and the backward pass that yields every weight and bias
//! gradient. [`super`] wraps these into one Burn operation on flex.
//!
//! Shape letters: `B` images in the batch, `I` a layer's inputs, `O` its
//! outputs, `C` the classes. Matrices are row-major; a weight matrix is
//! `[I, O]`, the layout of Burn's `Linear`.
//!
//! Why by hand: the tutorial network's step is about 40 small tensor
//! operations through Burn, each allocating its result and recording an
//! autodiff node; here it is three matrix products forward, five backward and
//! a few passes over `[B, 64]` buffers.

use multiversion::multiversion;

use super::products::{Operand, gemm_into};
use config::{Activation, LEAKY_RELU_SLOPE};

/// One `Linear` layer's parameters, borrowed from its tensors.
#[derive(Clone, Copy, Debug)]
pub struct LayerView<'a> {
    /// `[I, O]`.
    pub weight: &'a [f32],
    /// `[O]`.
    pub bias: &'a [f32],
    pub inputs: usize,
    pub outputs: usize,
}

/// What the backward pass needs from the forward pass, per hidden layer `l`
/// (input side first): its output `a_l` (the next layer's input, after
/// dropout) and `s_l = act'(z_l) * keep_l`, the factor that turns the gradient
/// of `a_l` into the gradient of the pre-activation `z_l`. Both `[B, O_l]`.
#[derive(Clone, Debug, Default)]
pub struct Tape {
    pub outputs: Vec<Vec<f32>>,
    pub slopes: Vec<Vec<f32>>,
}

/// Every parameter's gradient, input side first: `[I, O]` and `[O]` per layer.
#[derive(Debug)]
pub struct ParamGrads {
    pub weights: Vec<Vec<f32>>,
    pub biases: Vec<Vec<f32>>,
}

/// The loss head's result for a batch.
#[derive(Clone, Debug, PartialEq)]
pub struct CrossEntropy {
    /// Mean over the batch of `-ln softmax(z)[target]` (natural log).
    pub loss: f32,
    /// Rows whose largest logit (the first, on ties) is the target.
    pub correct: usize,
    /// `softmax(z)`, `[B, C]`: the backward pass needs it.
    pub probabilities: Vec<f32>,
}

/// `lhs · rhs`, `[m, n]` row-major, in a new buffer that the product fills
/// (it is never zeroed first: a 784 x 512 gradient is 1.6 MB).
fn product((m, n, k): (usize, usize, usize), lhs: Operand<'_>, rhs: Operand<'_>) -> Vec<f32> {
    let mut dst = Vec::with_capacity(m * n);
    if k == 0 {
        dst.resize(m * n, 0.0);
        return dst;
    }
    // SAFETY: gemm writes all m * n elements (it does not read the
    // destination), within the capacity reserved above; then they are
    // initialised and the length can cover them.
    unsafe {
        gemm_into(dst.as_mut_ptr(), (m, n, k), lhs, rhs, false);
        dst.set_len(m * n);
    }
    dst
}

/// `dst += lhs · rhs`, `dst` being `[m, n]` row-major.
fn add_product(
    dst: &mut [f32],
    (m, n, k): (usize, usize, usize),
    lhs: Operand<'_>,
    rhs: Operand<'_>,
) {
    assert!(
        dst.len() >= m * n,
        "matmul: dst holds {} < {m}x{n}",
        dst.len()
    );
    if k == 0 {
        return;
    }
    // SAFETY: `dst` holds m * n initialised elements; it does not alias the
    // operands (it is borrowed mutably).
    unsafe { gemm_into(dst.as_mut_ptr(), (m, n, k), lhs, rhs, true) }
}

/// A `Vec` of `len` values that the caller overwrites completely.
fn buffer(len: usize) -> Vec<f32> {
    vec![0.0; len]
}

/// `act(z)` and `act'(z)` as Burn's flex backend computes them, so the fused
/// path and Burn's layer-by-layer path agree to rounding.
#[inline]
fn activate(activation: Activation, z: f32) -> (f32, f32) {
    match activation {
        // Burn's relu keeps NaN and its backward passes the gradient for
        // positive (or NaN) outputs.
        Activation::Relu => {
            if z.is_nan() || z > 0.0 {
                (z, 1.0)
            } else {
                (0.0, 0.0)
            }
        }
        Activation::LeakyRelu => {
            if z >= 0.0 {
                (z, 1.0)
            } else {
                (LEAKY_RELU_SLOPE * z, LEAKY_RELU_SLOPE)
            }
        }
        Activation::Sigmoid => {
            let s = sigmoid(z);
            (s, s * (1.0 - s))
        }
        Activation::Tanh => {
            let t = z.tanh();
            (t, 1.0 - t * t)
        }
        // The exact GELU, x * Phi(x), and its derivative Phi(x) + x * phi(x).
        Activation::Gelu => {
            let cdf = 0.5 * (1.0 + libm::erff(z / std::f32::consts::SQRT_2));
            let pdf = INV_SQRT_2PI * (-0.5 * z * z).exp();
            (z * cdf, cdf + z * pdf)
        }
    }
}

const INV_SQRT_2PI: f32 = 0.398_942_3;

/// [`activate`] over a layer's pre-activations, in place, writing the
/// derivatives to `slopes` when given. ReLU and leaky ReLU are branch-free
/// selects that vectorise; the others call `exp`, `tanh` or `erf` per value.
/// Compiled for AVX-512 and AVX2 as well as the baseline, chosen at run time.
#[multiversion(targets("x86_64+avx512f+avx512bw+avx512dq+avx512vl", "x86_64+avx2+fma",))]
fn activate_in_place(activation: Activation, z: &mut [f32], slopes: Option<&mut [f32]>) {
    match (activation, slopes) {
        (Activation::Relu, None) => {
            for z in z.iter_mut() {
                *z = if z.is_nan() || *z > 0.0 { *z } else { 0.0 };
            }
        }
        (Activation::Relu, Some(slopes)) => {
            for (z, slope) in z.iter_mut().zip(slopes) {
                let on = z.is_nan() || *z > 0.0;
                *slope = if on { 1.0 } else { 0.0 };
                *z = if on { *z } else { 0.0 };
            }
        }
        (Activation::LeakyRelu, None) => {
            for z in z.iter_mut() {
                *z = if *z >= 0.0 { *z } else { LEAKY_RELU_SLOPE * *z };
            }
        }
        (Activation::LeakyRelu, Some(slopes)) => {
            for (z, slope) in z.iter_mut().zip(slopes) {
                let on = *z >= 0.0;
                *slope = if on { 1.0 } else { LEAKY_RELU_SLOPE };
                *z = if on { *z } else { LEAKY_RELU_SLOPE * *z };
            }
        }
        (other, None) => {
            for z in z.iter_mut() {
                *z = activate(other, *z).0;
            }
        }
        (other, Some(slopes)) => {
            for (z, slope) in z.iter_mut().zip(slopes) {
                (*z, *slope) = activate(other, *z);
            }
        }
    }
}

/// `values[i] *= factors[i]`, vectorised.
#[multiversion(targets("x86_64+avx512f+avx512bw+avx512dq+avx512vl", "x86_64+avx2+fma",))]
fn multiply(values: &mut [f32], factors: &[f32]) {
    assert_eq!(values.len(), factors.len(), "multiply: lengths");
    for (value, factor) in values.iter_mut().zip(factors) {
        *value *= factor;
    }
}

/// The column sums of `rows` (`[R, C]`): a bias gradient.
#[multiversion(targets("x86_64+avx512f+avx512bw+avx512dq+avx512vl", "x86_64+avx2+fma",))]
fn column_sums(rows: &[f32], columns: usize) -> Vec<f32> {
    let mut sums = vec![0.0f32; columns];
    for row in rows.chunks_exact(columns) {
        for (sum, value) in sums.iter_mut().zip(row) {
            *sum += value;
        }
    }
    sums
}

/// The logistic function, computed without overflow for either sign.
#[inline]
fn sigmoid(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// The forward pass of `x` (`[B, I_0]`) through `layers`: the activation
/// after every layer but the last, then dropout where `keep` gives a
/// `[B, O_l]` factor per hidden layer (0 for a dropped unit, `1 / (1 - p)` for
/// a kept one). Returns the logits `[B, C]` and, with `record`, the [`Tape`].
///
/// # Panics
/// If a slice does not match the shapes.
pub fn forward(
    x: &[f32],
    batch: usize,
    layers: &[LayerView<'_>],
    activation: Activation,
    keep: &[&[f32]],
    record: bool,
) -> (Vec<f32>, Option<Tape>) {
    let hidden = layers.len().saturating_sub(1);
    assert!(
        keep.is_empty() || keep.len() == hidden,
        "one dropout factor per hidden layer"
    );
    let mut tape = record.then(Tape::default);
    // Without a tape, the previous layer's output lives here.
    let mut scratch: Vec<f32> = Vec::new();
    for (index, layer) in layers.iter().enumerate() {
        let (inputs, outputs) = (layer.inputs, layer.outputs);
        let previous: &[f32] = match (&tape, index) {
            (_, 0) => x,
            (Some(tape), _) => tape.outputs.last().expect("one output per hidden layer"),
            (None, _) => &scratch,
        };
        assert_eq!(previous.len(), batch * inputs, "layer {index}: input shape");
        assert_eq!(
            layer.weight.len(),
            inputs * outputs,
            "layer {index}: weight shape"
        );
        assert_eq!(layer.bias.len(), outputs, "layer {index}: bias shape");
        // z = a · W + b: the bias fills the rows, then the product adds onto it.
        let mut z = Vec::with_capacity(batch * outputs);
        for _ in 0..batch {
            z.extend_from_slice(layer.bias);
        }
        add_product(
            &mut z,
            (batch, outputs, inputs),
            Operand::rows(previous, inputs),
            Operand::rows(layer.weight, outputs),
        );
        if index == hidden {
            return (z, tape);
        }
        let mut slopes = tape.is_some().then(|| buffer(z.len()));
        activate_in_place(activation, &mut z, slopes.as_deref_mut());
        if let Some(keep) = keep.get(index) {
            // As Burn's Dropout: (h * mask) * scale, with mask * scale folded.
            multiply(&mut z, keep);
            if let Some(slopes) = slopes.as_mut() {
                multiply(slopes, keep);
            }
        }
        match (tape.as_mut(), slopes) {
            (Some(tape), Some(slopes)) => {
                tape.outputs.push(z);
                tape.slopes.push(slopes);
            }
            _ => scratch = z,
        }
    }
    unreachable!("a network has at least its output layer")
}

/// Softmax cross-entropy of `logits` (`[B, C]`) against `targets` (each in
/// `0..C`), as Burn's `CrossEntropyLoss` (log-softmax, then the mean of the
/// targets' negative log-probabilities).
///
/// # Panics
/// If a target is not a class.
pub fn cross_entropy(logits: &[f32], classes: usize, targets: &[usize]) -> CrossEntropy {
    assert_eq!(logits.len(), targets.len() * classes, "logits shape");
    let mut probabilities = buffer(logits.len());
    let mut loss_sum = 0.0f64;
    let mut correct = 0;
    for ((row, out), &target) in logits
        .chunks_exact(classes)
        .zip(probabilities.chunks_exact_mut(classes))
        .zip(targets)
    {
        assert!(
            target < classes,
            "target {target} is not one of {classes} classes"
        );
        let (argmax, max) =
            row.iter()
                .copied()
                .enumerate()
                .fold((0, f32::NEG_INFINITY), |best, (i, v)| {
                    if v > best.1 { (i, v) } else { best }
                });
        correct += usize::from(argmax == target);
        let mut sum = 0.0f32;
        for (p, &z) in out.iter_mut().zip(row) {
            *p = (z - max).exp();
            sum += *p;
        }
        for p in out.iter_mut() {
            *p /= sum;
        }
        // -ln softmax(z)[t] = ln(sum exp(z - max)) - (z_t - max)
        loss_sum += f64::from(sum.ln() - (row[target] - max));
    }
    let batch = targets.len().max(1);
    CrossEntropy {
        loss: (loss_sum / batch as f64) as f32,
        correct,
        probabilities,
    }
}

/// The gradient of `scale * mean cross-entropy` with respect to the logits:
/// `(softmax(z) - onehot(target)) * scale / B`, in place on the probabilities.
pub fn cross_entropy_grad(
    mut probabilities: Vec<f32>,
    classes: usize,
    targets: &[usize],
    scale: f32,
) -> Vec<f32> {
    let factor = scale / targets.len().max(1) as f32;
    for (row, &target) in probabilities.chunks_exact_mut(classes).zip(targets) {
        row[target] -= 1.0;
        for p in row.iter_mut() {
            *p *= factor;
        }
    }
    probabilities
}

/// The backward pass: from `grad` (`[B, C]`, the gradient of the loss with
/// respect to the logits) to every parameter's gradient and, with
/// `input_grad`, the gradient with respect to `x` (`[B, I_0]`).
pub fn backward(
    grad: Vec<f32>,
    x: &[f32],
    batch: usize,
    layers: &[LayerView<'_>],
    tape: &Tape,
    input_grad: bool,
) -> (ParamGrads, Option<Vec<f32>>) {
    let count = layers.len();
    let mut weights = Vec::with_capacity(count);
    let mut biases = Vec::with_capacity(count);
    let mut grad = grad; // dL/dz of the current layer, [B, O]
    let mut input_gradient = None;
    for (index, layer) in layers.iter().enumerate().rev() {
        let (inputs, outputs) = (layer.inputs, layer.outputs);
        assert_eq!(grad.len(), batch * outputs, "layer {index}: gradient shape");
        let input: &[f32] = if index == 0 {
            x
        } else {
            &tape.outputs[index - 1]
        };
        // dW = a^T · g: [I, B] · [B, O]
        let weight_grad = product(
            (inputs, outputs, batch),
            Operand::transposed(input, inputs),
            Operand::rows(&grad, outputs),
        );
        let bias_grad = column_sums(&grad, outputs); // db = the column sums of g
        weights.push(weight_grad);
        biases.push(bias_grad);
        if index == 0 && !input_grad {
            break;
        }
        // da = g · W^T: [B, O] · [O, I]
        let mut previous = product(
            (batch, inputs, outputs),
            Operand::rows(&grad, outputs),
            Operand::transposed(layer.weight, outputs),
        );
        if index == 0 {
            input_gradient = Some(previous);
            break;
        }
        multiply(&mut previous, &tape.slopes[index - 1]);
        grad = previous;
    }
    weights.reverse();
    biases.reverse();
    (ParamGrads { weights, biases }, input_gradient)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The network of `mlp.rs`'s hand-checked case: x = [1, -2], identity,
    /// then [[2, 0], [0, 1]] + [0, 1], then identity + [0, -1] -> logits [2, 0].
    fn hand_network() -> (Vec<f32>, Vec<Vec<f32>>, Vec<Vec<f32>>) {
        let x = vec![1.0, -2.0];
        let weights = vec![
            vec![1.0, 0.0, 0.0, 1.0],
            vec![2.0, 0.0, 0.0, 1.0],
            vec![1.0, 0.0, 0.0, 1.0],
        ];
        let biases = vec![vec![0.0, 0.0], vec![0.0, 1.0], vec![0.0, -1.0]];
        (x, weights, biases)
    }

    fn views<'a>(weights: &'a [Vec<f32>], biases: &'a [Vec<f32>]) -> Vec<LayerView<'a>> {
        weights
            .iter()
            .zip(biases)
            .map(|(w, b)| LayerView {
                weight: w,
                bias: b,
                inputs: w.len() / b.len(),
                outputs: b.len(),
            })
            .collect()
    }

    #[test]
    fn forward_matches_the_hand_computed_case() {
        let (x, weights, biases) = hand_network();
        let (logits, tape) = forward(
            &x,
            1,
            &views(&weights, &biases),
            Activation::Relu,
            &[],
            true,
        );
        assert_eq!(logits, vec![2.0, 0.0]);
        let tape = tape.unwrap();
        // relu([1, -2]) = [1, 0] with slopes [1, 0]; relu([2, 1]) = [2, 1].
        assert_eq!(tape.outputs, vec![vec![1.0, 0.0], vec![2.0, 1.0]]);
        assert_eq!(tape.slopes, vec![vec![1.0, 0.0], vec![1.0, 1.0]]);
    }

    /// softmax([2, 0]) = [0.880797, 0.119203]; target 1: loss = -ln 0.119203 = 2.126928.
    /// The gradient is (p - onehot) / B: [0.880797, -0.880797].
    #[test]
    fn cross_entropy_and_its_gradient_by_hand() {
        let head = cross_entropy(&[2.0, 0.0], 2, &[1]);
        assert!((head.loss - 2.126_928).abs() < 1e-6, "{}", head.loss);
        assert_eq!(head.correct, 0);
        let grad = cross_entropy_grad(head.probabilities, 2, &[1], 1.0);
        assert!(
            (grad[0] - 0.880_797).abs() < 1e-6 && (grad[1] + 0.880_797).abs() < 1e-6,
            "{grad:?}"
        );
        // Two rows average: the same row twice gives the same loss and half the gradient each.
        let head = cross_entropy(&[2.0, 0.0, 2.0, 0.0], 2, &[0, 0]);
        assert!((head.loss - 0.126_928).abs() < 1e-6 && head.correct == 2);
    }

    /// Backward through the hand network with dL/dlogits = [1, 0] (the first logit):
    /// layer 3 (identity): dW3 = a2^T g = [[2, 0], [1, 0]], db3 = [1, 0], da2 = g W3^T = [1, 0];
    /// relu slopes [1, 1] -> g2 = [1, 0]; dW2 = a1^T g2 = [[1, 0], [0, 0]], db2 = [1, 0];
    /// da1 = g2 W2^T = [2, 0]; slopes [1, 0] -> g1 = [2, 0]; dW1 = x^T g1 = [[2, 0], [-4, 0]],
    /// db1 = [2, 0]; dx = g1 W1^T = [2, 0].
    #[test]
    fn backward_matches_the_hand_computed_case() {
        let (x, weights, biases) = hand_network();
        let layers = views(&weights, &biases);
        let (_, tape) = forward(&x, 1, &layers, Activation::Relu, &[], true);
        let (grads, dx) = backward(vec![1.0, 0.0], &x, 1, &layers, &tape.unwrap(), true);
        assert_eq!(grads.weights[2], vec![2.0, 0.0, 1.0, 0.0]);
        assert_eq!(grads.biases[2], vec![1.0, 0.0]);
        assert_eq!(grads.weights[1], vec![1.0, 0.0, 0.0, 0.0]);
        assert_eq!(grads.biases[1], vec![1.0, 0.0]);
        assert_eq!(grads.weights[0], vec![2.0, 0.0, -4.0, 0.0]);
        assert_eq!(grads.biases[0], vec![2.0, 0.0]);
        assert_eq!(dx, Some(vec![2.0, 0.0]));
    }

    /// Dropout factors multiply each hidden output and its slope; a dropped
    /// unit passes no gradient.
    #[test]
    fn dropout_factors_scale_outputs_and_slopes() {
        let (x, weights, biases) = hand_network();
        let layers = views(&weights, &biases);
        let keep_1 = [2.0, 2.0];
        let keep_2 = [0.0, 2.0];
        let (logits, tape) = forward(&x, 1, &layers, Activation::Relu, &[&keep_1, &keep_2], true);
        // a1 = [2, 0]; z2 = [4, 1] -> a2 = [0, 2]; logits = [0, 2 - 1] = [0, 1].
        assert_eq!(logits, vec![0.0, 1.0]);
        let tape = tape.unwrap();
        assert_eq!(tape.slopes[1], vec![0.0, 2.0]);
    }

    #[test]
    fn activations_and_their_derivatives() {
        let close = |(a, d): (f32, f32), (ea, ed): (f32, f32)| {
            assert!(
                (a - ea).abs() < 1e-6 && (d - ed).abs() < 1e-6,
                "({a}, {d}) vs ({ea}, {ed})"
            );
        };
        close(activate(Activation::Relu, -1.0), (0.0, 0.0));
        close(activate(Activation::Relu, 0.0), (0.0, 0.0));
        close(activate(Activation::LeakyRelu, -2.0), (-0.02, 0.01));
        close(activate(Activation::LeakyRelu, 0.0), (0.0, 1.0));
        // sigmoid(0) = 1/2, slope 1/4; tanh(0.5) = 0.462117, slope 1 - 0.213552.
        close(activate(Activation::Sigmoid, 0.0), (0.5, 0.25));
        close(activate(Activation::Tanh, 0.5), (0.462_117_2, 0.786_448));
        // GELU(1) = Phi(1) = 0.841345; slope Phi(1) + phi(1) = 0.841345 + 0.241971.
        close(activate(Activation::Gelu, 1.0), (0.841_344_7, 1.083_315_8));
    }
}
