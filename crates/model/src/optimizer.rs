//! Adam as one pass over each parameter's memory on flex: a Burn [`Optimizer`]
//! plugged into Burn's `ModuleOptimizer`, so the `Learner` drives it like any
//! other.
//!
//! Burn's own [`Adam`] runs about a dozen tensor operations per parameter per
//! step (scale, add, square, sqrt, divide...), each allocating and filling a new
//! buffer; for this network that was a third of the epoch on flex. Flex keeps
//! tensors in host memory, so this reads them back without copying, updates
//! weights and both moments in place in a single loop with the same arithmetic
//! in the same order as Burn's `Adam` (so the results are identical), and hands
//! the buffers back. On ndarray and wgpu it is Burn's `Adam`.
//! The state is Burn's [`AdamState`], so records and checkpoints are unchanged.

use burn::optim::{Adam, AdamConfig, AdamState, AdaptiveMomentumState, ModuleOptimizer, Optimizer};
use burn::tensor::{DType, Device, Tensor, TensorData};

use crate::Backend;

/// Adam with the tutorial's hyper-parameters unless changed (Keras's: beta1
/// 0.9, beta2 0.999, epsilon 1e-7).
#[derive(Clone)]
pub struct FusedAdam {
    beta_1: f32,
    beta_2: f32,
    epsilon: f32,
    /// Whether to take the fused path: on flex. ndarray also keeps its tensors
    /// in host memory, but there the fused path measured slower inside the
    /// Learner (4.2 against 1.9 s per epoch), so it keeps Burn's Adam.
    fused: bool,
    /// Burn's Adam with the same settings, for ndarray, wgpu and non-f32 tensors.
    reference: Adam,
}

impl FusedAdam {
    pub fn new(backend: Backend, beta_1: f32, beta_2: f32, epsilon: f32) -> Self {
        Self {
            beta_1,
            beta_2,
            epsilon,
            fused: backend == Backend::Flex,
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

impl Optimizer for FusedAdam {
    type State<const D: usize> = AdamState<D>;

    fn step<const D: usize>(
        &self,
        lr: f64,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<AdamState<D>>,
    ) -> (Tensor<D>, Option<AdamState<D>>) {
        if !self.fused || tensor.dtype() != DType::F32 || grad.dtype() != DType::F32 {
            return self.reference.step(lr, tensor, grad, state);
        }
        let device = tensor.device();
        let mut weights = host_data(tensor);
        let grad = host_data(grad);
        let (time, mut moment_1, mut moment_2) = match state {
            Some(state) => (
                state.momentum.time + 1,
                Some(host_data(state.momentum.moment_1)),
                Some(host_data(state.momentum.moment_2)),
            ),
            None => (1, None, None),
        };
        let first = moment_1.is_none();
        let shape = grad.shape().clone();
        let zeros = || TensorData::new(vec![0.0f32; shape.num_elements()], shape.clone());
        let mut m = moment_1.take().unwrap_or_else(zeros);
        let mut v = moment_2.take().unwrap_or_else(zeros);
        self.update(
            lr,
            time,
            first,
            slice_mut(&mut weights),
            grad.as_slice::<f32>().expect("checked f32 above"),
            slice_mut(&mut m),
            slice_mut(&mut v),
        );
        let momentum = AdaptiveMomentumState::new(
            time,
            Tensor::from_data(m, &device),
            Tensor::from_data(v, &device),
        );
        (
            Tensor::from_data(weights, &device),
            Some(AdamState::new(momentum)),
        )
    }

    fn to_device<const D: usize>(mut state: AdamState<D>, device: &Device) -> AdamState<D> {
        state.momentum = state.momentum.to_device(device);
        state
    }
}

impl FusedAdam {
    /// Step `time` (from 1) of Adam on one parameter, in place. With `first`,
    /// the moments start as `(1 - beta) * g`, as Burn's `Adam` starts them.
    #[allow(clippy::too_many_arguments)]
    fn update(
        &self,
        lr: f64,
        time: usize,
        first: bool,
        weights: &mut [f32],
        grad: &[f32],
        m: &mut [f32],
        v: &mut [f32],
    ) {
        let (beta_1, beta_2) = (self.beta_1, self.beta_2);
        let (factor_1, factor_2) = (1.0 - beta_1, 1.0 - beta_2);
        let time = time as i32;
        let bias_correction_2 = (1.0 - beta_2.powi(time)).sqrt();
        let combined = bias_correction_2 / (1.0 - beta_1.powi(time));
        let epsilon = self.epsilon * bias_correction_2;
        let lr = lr as f32;
        let rows = weights
            .iter_mut()
            .zip(grad)
            .zip(m.iter_mut().zip(v.iter_mut()));
        for ((w, &g), (m, v)) in rows {
            if first {
                *m = g * factor_1;
                *v = (g * g) * factor_2;
            } else {
                *m = *m * beta_1 + g * factor_1;
                *v = *v * beta_2 + (g * g) * factor_2;
            }
            *w -= (*m * combined) / (v.sqrt() + epsilon) * lr;
        }
    }
}

/// The tensor's values in host memory; moved, not copied, when the tensor is
/// not shared.
fn host_data<const D: usize>(tensor: Tensor<D>) -> TensorData {
    tensor.try_into_data().expect("flex reads its own memory")
}

fn slice_mut(data: &mut TensorData) -> &mut [f32] {
    data.as_mut_slice::<f32>().expect("checked f32 above")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MlpConfig;
    use burn::optim::GradientsParams;
    use burn::tensor::Distribution;

    /// Trains `steps` Adam steps on a fixed batch with `optimizer`; returns the
    /// trained network's logits for that batch, which every weight feeds.
    fn train(mut optimizer: ModuleOptimizer, steps: usize) -> Vec<f32> {
        let device = Device::flex().autodiff();
        device.seed(7);
        let mut model = MlpConfig::new().with_hidden(vec![16, 8]).init(&device);
        let images = Tensor::<2>::random([4, 784], Distribution::Default, &device);
        for _ in 0..steps {
            let loss = model.forward(images.clone()).powi_scalar(2).mean();
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optimizer.step(0.01, model, grads);
        }
        let logits = model.forward(images).into_data(); // [4, 10]
        logits.try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn matches_burns_adam_on_the_cpu() {
        let burn = train(AdamConfig::new().with_epsilon(1e-7).init(), 5);
        let fused = train(FusedAdam::new(Backend::Flex, 0.9, 0.999, 1e-7).init(), 5);
        let untrained = train(FusedAdam::new(Backend::Flex, 0.9, 0.999, 1e-7).init(), 0);
        assert_eq!(fused.len(), 40);
        // The same arithmetic in the same order: the same logits.
        assert_eq!(fused, burn);
        // And training moved them: five steps at lr 0.01 change every logit.
        for (trained, start) in fused.iter().zip(&untrained) {
            assert!((trained - start).abs() > 1e-3, "{trained} vs {start}");
        }
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
}
