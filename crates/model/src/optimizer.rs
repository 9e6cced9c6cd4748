//! Adam as one pass over each parameter's memory: a Burn [`Optimizer`]
//! plugged into Burn's `ModuleOptimizer`, so the `Learner` drives it like any
//! other.
//!
//! Burn's own [`Adam`] runs about a dozen tensor operations per parameter per
//! step (scale, add, square, sqrt, divide...), each allocating and filling a new
//! buffer; for this network that was a third of the epoch on flex. Flex keeps
//! tensors in host memory, so this reads them back without copying, updates
//! weights and both moments in place in a single loop with the same arithmetic
//! in the same order as Burn's `Adam` (so the results are identical), and hands
//! the buffers back. On wgpu the same arithmetic is written as one chain of
//! element-wise tensor operations on the device, which Burn's fusion compiles
//! into one kernel per parameter (weights and both moments written by it). On
//! ndarray it is Burn's `Adam`.
//! The state is Burn's [`AdamState`], so records and checkpoints are unchanged.

use burn::backend::{Flex, TensorMetadata};
use burn::optim::{Adam, AdamConfig, AdamState, AdaptiveMomentumState, ModuleOptimizer, Optimizer};
use burn::tensor::{DType, Device, Tensor};
use burn_flex::FlexTensor;
use multiversion::multiversion;
use rayon::prelude::*;

use crate::Backend;
use crate::fused::flex::{slice, values_mut};

/// Adam with the tutorial's hyper-parameters unless changed (Keras's: beta1
/// 0.9, beta2 0.999, epsilon 1e-7).
#[derive(Clone)]
pub struct FusedAdam {
    beta_1: f32,
    beta_2: f32,
    epsilon: f32,
    /// Where the update runs.
    path: Path,
    /// Burn's Adam with the same settings, for ndarray, wgpu and non-f32 tensors.
    reference: Adam,
}

impl FusedAdam {
    pub fn new(backend: Backend, beta_1: f32, beta_2: f32, epsilon: f32) -> Self {
        Self {
            beta_1,
            beta_2,
            epsilon,
            path: match backend {
                Backend::Flex => Path::Host,
                Backend::Wgpu => Path::Device,
                Backend::Ndarray => Path::Burn,
            },
            reference: AdamConfig::new()
                .with_beta_1(beta_1)
                .with_beta_2(beta_2)
                .with_epsilon(epsilon)
                .build(),
        }
    }

    /// The optimizer the `Learner` takes.
    pub fn init(self) -> ModuleOptimizer {
        ModuleOptimizer::from(self)
    }
}

/// How a [`FusedAdam`] updates a parameter.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Path {
    /// In place on flex's host memory, one loop over the values.
    Host,
    /// As one fused chain of element-wise operations on the GPU.
    Device,
    /// Burn's `Adam`: ndarray also keeps its tensors in host memory, but there
    /// the host path measured slower inside the Learner (4.2 against 1.9 s per
    /// epoch).
    Burn,
}

impl Optimizer for FusedAdam {
    type State<const D: usize> = AdamState<D>;

    fn step<const D: usize>(
        &self,
        lr: f64,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<AdamState<D>>,
    ) -> (Tensor<D>, Option<AdamState<D>>) {
        let f32s = tensor.dtype() == DType::F32 && grad.dtype() == DType::F32;
        match self.path {
            Path::Host if f32s && tensor.device() == Device::flex() => {}
            Path::Device if f32s => return self.device_step(lr, tensor, grad, state),
            _ => return self.reference.step(lr, tensor, grad, state),
        }
        let flex = |tensor: Tensor<D>| {
            tensor
                .try_into_primitive::<Flex>()
                .expect("the fused path runs on flex")
        };
        let mut weights = flex(tensor);
        let grad = flex(grad);
        let (time, moments) = match state {
            Some(state) => (
                state.momentum.time + 1,
                Some((flex(state.momentum.moment_1), flex(state.momentum.moment_2))),
            ),
            None => (1, None),
        };
        let first = moments.is_none();
        let (mut m, mut v) = moments.unwrap_or_else(|| {
            let zeros = || FlexTensor::zeros(grad.shape(), DType::F32);
            (zeros(), zeros())
        });
        self.update(
            lr,
            None,
            time,
            first,
            values_mut(&mut weights),
            &slice(&grad),
            values_mut(&mut m),
            values_mut(&mut v),
        );
        let momentum = AdaptiveMomentumState::new(
            time,
            Tensor::from_primitive::<Flex>(m),
            Tensor::from_primitive::<Flex>(v),
        );
        (
            Tensor::from_primitive::<Flex>(weights),
            Some(AdamState::new(momentum)),
        )
    }

    fn to_device<const D: usize>(mut state: AdamState<D>, device: &Device) -> AdamState<D> {
        state.momentum = state.momentum.to_device(device);
        state
    }
}

impl FusedAdam {
    /// Step `time + 1` of Adam on one parameter held on the GPU, with the
    /// arithmetic of [`update_weights`] as tensor operations: nothing is read
    /// back, and fusion makes one kernel of the chain.
    fn device_step<const D: usize>(
        &self,
        lr: f64,
        weights: Tensor<D>,
        grad: Tensor<D>,
        state: Option<AdamState<D>>,
    ) -> (Tensor<D>, Option<AdamState<D>>) {
        let (factor_1, factor_2) = (1.0 - self.beta_1, 1.0 - self.beta_2);
        let square = grad.clone() * grad.clone();
        let (time, m, v) = match state {
            Some(state) => {
                // A state restored from a checkpoint is read onto Burn's
                // default device: bring it to the parameter's.
                let momentum = state.momentum.to_device(&weights.device());
                (
                    momentum.time + 1,
                    momentum.moment_1 * self.beta_1 + grad * factor_1,
                    momentum.moment_2 * self.beta_2 + square * factor_2,
                )
            }
            None => (1, grad * factor_1, square * factor_2),
        };
        let step = self.constants(lr, time);
        let weights =
            weights - (m.clone() * step.combined) / (v.clone().sqrt() + step.epsilon) * step.lr;
        let momentum = AdaptiveMomentumState::new(time, m, v);
        (weights, Some(AdamState::new(momentum)))
    }

    /// AdamW's constants of step `time` (from 1), rounded as Burn rounds them.
    fn adamw_constants(&self, lr: f64, weight_decay: f64, time: usize) -> AdamWStep {
        let time = time as i32;
        let decay_rate = lr * weight_decay;
        AdamWStep {
            beta_1: self.beta_1,
            beta_2: self.beta_2,
            correction_1: 1.0 - self.beta_1.powi(time),
            correction_2: 1.0 - self.beta_2.powi(time),
            epsilon: self.epsilon,
            keep: (decay_rate != 0.0).then_some((1.0 - decay_rate) as f32),
            lr: lr as f32,
        }
    }

    /// The constants of step `time` (from 1).
    fn constants(&self, lr: f64, time: usize) -> AdamStep {
        let time = time as i32;
        let bias_correction_2 = (1.0 - self.beta_2.powi(time)).sqrt();
        AdamStep {
            beta_1: self.beta_1,
            beta_2: self.beta_2,
            combined: bias_correction_2 / (1.0 - self.beta_1.powi(time)),
            epsilon: self.epsilon * bias_correction_2,
            lr: lr as f32,
        }
    }

    /// Step `time` (from 1) of Adam on one parameter, in place; with
    /// `weight_decay`, of Burn's AdamW instead (decoupled decay, no amsgrad:
    /// the moments as Adam's, each corrected by its own bias term, the
    /// weights decayed by `1 - lr * weight_decay`, skipped at 0, and moved by
    /// `lr` times the corrected step). With `first`, the moments start as
    /// `(1 - beta) * g`, as Burn starts them.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn update(
        &self,
        lr: f64,
        weight_decay: Option<f64>,
        time: usize,
        first: bool,
        weights: &mut [f32],
        grad: &[f32],
        m: &mut [f32],
        v: &mut [f32],
    ) {
        let step = match weight_decay {
            None => Rule::Adam(self.constants(lr, time)),
            Some(weight_decay) => Rule::AdamW(self.adamw_constants(lr, weight_decay, time)),
        };
        if weights.len() < PARALLEL_UPDATE {
            return update_weights(step, first, weights, grad, m, v);
        }
        // A large parameter (784 x 512 is 401,408 weights) is split across
        // the cores; the tutorial's largest (50,176) stays on one.
        let chunk = PARALLEL_UPDATE / 2;
        weights
            .par_chunks_mut(chunk)
            .zip(grad.par_chunks(chunk))
            .zip(m.par_chunks_mut(chunk).zip(v.par_chunks_mut(chunk)))
            .for_each(|((weights, grad), (m, v))| update_weights(step, first, weights, grad, m, v));
    }
}

/// One AdamW step's constants, as Burn rounds them to `f32`.
#[derive(Clone, Copy)]
struct AdamWStep {
    beta_1: f32,
    beta_2: f32,
    /// `1 - beta_1^t` and `1 - beta_2^t`.
    correction_1: f32,
    correction_2: f32,
    epsilon: f32,
    /// `1 - lr * weight_decay`, unless the decay is 0.
    keep: Option<f32>,
    lr: f32,
}

/// Parameters with at least this many values are updated on several threads.
const PARALLEL_UPDATE: usize = 1 << 17;

/// One step's constants.
#[derive(Clone, Copy)]
struct AdamStep {
    beta_1: f32,
    beta_2: f32,
    /// `sqrt(1 - beta_2^t) / (1 - beta_1^t)`.
    combined: f32,
    /// `epsilon * sqrt(1 - beta_2^t)`.
    epsilon: f32,
    lr: f32,
}

/// How a step moves each weight, with its constants.
#[derive(Clone, Copy)]
enum Rule {
    Adam(AdamStep),
    AdamW(AdamWStep),
}

/// The update of every weight under `rule`, in Burn's order of operations;
/// compiled for AVX-512 and AVX2 too (the square root and division then run
/// 16 or 8 at a time), chosen at run time.
#[multiversion(targets("x86_64+avx512f+avx512bw+avx512dq+avx512vl", "x86_64+avx2+fma",))]
fn update_weights(
    rule: Rule,
    first: bool,
    weights: &mut [f32],
    grad: &[f32],
    m: &mut [f32],
    v: &mut [f32],
) {
    match rule {
        Rule::Adam(step) => {
            let moments = (step.beta_1, step.beta_2, first);
            each_weight(moments, weights, grad, m, v, |w, m, v| {
                *w -= (m * step.combined) / (v.sqrt() + step.epsilon) * step.lr;
            });
        }
        Rule::AdamW(step) => {
            let moments = (step.beta_1, step.beta_2, first);
            each_weight(moments, weights, grad, m, v, |w, m, v| {
                let delta =
                    (m / step.correction_1) / ((v / step.correction_2).sqrt() + step.epsilon);
                let decayed = match step.keep {
                    Some(keep) => *w * keep,
                    None => *w,
                };
                *w = decayed - delta * step.lr;
            });
        }
    }
}

/// Updates both moments of every weight from its gradient as Burn's Adam
/// and AdamW do (at the `first` step they start as `(1 - beta) * g`), then
/// `apply`s the weight's update to it with the new moments. Inlined into
/// each caller's compiled variants.
#[inline(always)]
fn each_weight(
    (beta_1, beta_2, first): (f32, f32, bool),
    weights: &mut [f32],
    grad: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    apply: impl Fn(&mut f32, f32, f32),
) {
    let (factor_1, factor_2) = (1.0 - beta_1, 1.0 - beta_2);
    let rows = weights
        .iter_mut()
        .zip(grad)
        .zip(m.iter_mut().zip(v.iter_mut()));
    if first {
        for ((w, &g), (m, v)) in rows {
            *m = g * factor_1;
            *v = (g * g) * factor_2;
            apply(w, *m, *v);
        }
    } else {
        for ((w, &g), (m, v)) in rows {
            *m = *m * beta_1 + g * factor_1;
            *v = *v * beta_2 + (g * g) * factor_2;
            apply(w, *m, *v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Mlp, MlpConfig};
    use burn::optim::GradientsParams;
    use burn::tensor::Distribution;

    /// Trains `model` for `steps` Adam steps on `images` with `optimizer`;
    /// returns the trained network's logits for them, which every weight feeds.
    fn train(
        mut optimizer: ModuleOptimizer,
        mut model: Mlp,
        images: &Tensor<2>,
        steps: usize,
    ) -> Vec<f32> {
        for _ in 0..steps {
            let loss = model.forward(images.clone()).powi_scalar(2).mean();
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optimizer.step(0.01, model, grads);
        }
        let logits = model.forward(images.clone()).into_data(); // [4, 10]
        logits.try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn matches_burns_adam_on_the_cpu() {
        let device = Device::flex().autodiff();
        let model = MlpConfig::new().with_hidden(vec![16, 8]).init(&device);
        let images = Tensor::<2>::random([4, 784], Distribution::Default, &device);
        let fused_adam = || FusedAdam::new(Backend::Flex, 0.9, 0.999, 1e-7).init();
        let untrained = train(fused_adam(), model.clone(), &images, 0);
        // The clones share their parameters' memory with `model`: the fused
        // update must copy them rather than write into `model`.
        let burn = train(
            AdamConfig::new().with_epsilon(1e-7).init(),
            model.clone(),
            &images,
            5,
        );
        let fused = train(fused_adam(), model.clone(), &images, 5);
        assert_eq!(fused.len(), 40);
        // The same arithmetic in the same order: the same logits.
        assert_eq!(fused, burn);
        // And training moved them. Not every logit need move (a bias whose
        // gradient changes sign can come back), and lr 0.01 on 784 inputs can
        // overshoot, so the test is that the logits as a whole moved.
        let moved: f32 = fused
            .iter()
            .zip(&untrained)
            .map(|(a, b)| (a - b).abs())
            .sum();
        assert!(moved > 0.1, "{fused:?} vs {untrained:?}");
        assert_eq!(
            train(fused_adam(), model, &images, 0),
            untrained,
            "the shared model is untouched"
        );
    }

    #[test]
    fn first_step_moves_each_weight_by_the_learning_rate() {
        // At step 1, m_hat = g and v_hat = g^2, so the step is lr * g / (|g| + eps):
        // lr * sign(g) for gradients well above epsilon.
        let adam = FusedAdam::new(Backend::Flex, 0.9, 0.999, 1e-7);
        let mut weights = [1.0f32, 1.0, 1.0];
        let (mut m, mut v) = ([0.0f32; 3], [0.0f32; 3]);
        adam.update(
            0.5,
            None,
            1,
            true,
            &mut weights,
            &[2.0, -0.25, 0.0],
            &mut m,
            &mut v,
        );
        assert!((weights[0] - 0.5).abs() < 1e-6, "{weights:?}");
        assert!((weights[1] - 1.5).abs() < 1e-6, "{weights:?}");
        assert_eq!(weights[2], 1.0);
        // m = 0.1 g and v = 0.001 g^2 (1 - beta in f32 is off by a few 1e-8).
        for (moment, expected) in m.iter().zip([0.2f32, -0.025, 0.0]) {
            assert!((moment - expected).abs() <= 1e-5 * expected.abs(), "{m:?}");
        }
        for (moment, expected) in v.iter().zip([0.004f32, 0.0000625, 0.0]) {
            assert!((moment - expected).abs() <= 1e-4 * expected.abs(), "{v:?}");
        }
    }

    /// Large parameters are updated in parallel chunks: element by element,
    /// the same values as one pass.
    #[test]
    fn a_parallel_update_equals_a_single_pass() {
        let adam = FusedAdam::new(Backend::Flex, 0.9, 0.999, 1e-7);
        let n = 3 * PARALLEL_UPDATE + 123;
        let grad: Vec<f32> = (0..n)
            .map(|i| ((i * 37 % 1001) as f32 - 500.0) / 250.0)
            .collect();
        let start: Vec<f32> = (0..n).map(|i| (i % 17) as f32 / 17.0).collect();
        let (mut weights, mut m, mut v) = (start.clone(), vec![0.0; n], vec![0.0; n]);
        adam.update(0.01, None, 1, true, &mut weights, &grad, &mut m, &mut v);
        adam.update(0.01, None, 2, false, &mut weights, &grad, &mut m, &mut v);
        let step = |time: i32| AdamStep {
            beta_1: 0.9,
            beta_2: 0.999,
            combined: (1.0 - 0.999f32.powi(time)).sqrt() / (1.0 - 0.9f32.powi(time)),
            epsilon: 1e-7 * (1.0 - 0.999f32.powi(time)).sqrt(),
            lr: 0.01,
        };
        let (mut one, mut m1, mut v1) = (start, vec![0.0; n], vec![0.0; n]);
        update_weights(Rule::Adam(step(1)), true, &mut one, &grad, &mut m1, &mut v1);
        update_weights(
            Rule::Adam(step(2)),
            false,
            &mut one,
            &grad,
            &mut m1,
            &mut v1,
        );
        assert_eq!(weights, one);
        assert_eq!((m, v), (m1, v1));
    }
}
