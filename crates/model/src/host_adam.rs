//! Adam on flex without Burn's per-parameter bookkeeping, and the choice
//! between it and Burn's `ModuleOptimizer` that the training loop steps.
//!
//! Burn's `ModuleOptimizer` keeps each parameter's state boxed behind a
//! trait in a hash map keyed by parameter id, builds the parameter's module
//! path as a string, converts the tensors to and from its bridge type and
//! looks the learning rate up by path, every parameter, every step. For the
//! tutorial's six parameters that cost more than the arithmetic.
//! [`HostAdam`] keeps the moments as plain vectors in the order the network
//! visits its parameters and updates weights and moments in place with
//! [`FusedAdam`]'s loop (the same arithmetic, so the same values).
//!
//! Checkpoints keep Burn's format: [`HostAdam::to_record`] writes the record
//! an Adam `ModuleOptimizer` writes (tensors `<id>.momentum.moment_1` and
//! `moment_2`, scalars `<id>.momentum.time` and `<id>.__rank`), and
//! [`HostAdam::from_record`] reads it, so a run resumes across the change
//! either way.

use burn::backend::{Flex, TensorMetadata};
use burn::lr_scheduler::module_lr_scheduler::ModuleLearningRate;
use burn::module::{Module, ModuleMapper, Param, ParamId};
use burn::optim::{GradientsParams, ModuleOptimizer, OptimizerRecord};
use burn::store::burn_pack;
use burn::tensor::{Bytes, Tensor};

use crate::fused::flex::{slice, values_mut};
use crate::{FusedAdam, Mlp};

/// What the training loop steps: Adam in place on flex, or Burn's
/// `ModuleOptimizer` (ndarray, wgpu, AdamW, SGD).
#[derive(Clone)]
pub enum StepOptimizer {
    Host(HostAdam),
    Burn(ModuleOptimizer),
}

impl StepOptimizer {
    /// One step at the schedule's `rate` with `grads`; returns the updated
    /// network.
    pub fn step(
        &mut self,
        model: Mlp,
        rate: impl Into<ModuleLearningRate>,
        grads: GradientsParams,
    ) -> Mlp {
        let rate = rate.into();
        match self {
            Self::Host(adam) => adam.step(rate.base(), model, grads),
            Self::Burn(optimizer) => optimizer.step(rate, model, grads),
        }
    }

    /// The state as a `ModuleOptimizer`, for Burn's checkpointer;
    /// `template` is an unstepped one of the same kind (its state is dropped).
    pub fn to_module_optimizer(&self, template: &ModuleOptimizer) -> ModuleOptimizer {
        match self {
            Self::Host(adam) => template.clone().load_record(adam.to_record()),
            Self::Burn(optimizer) => optimizer.clone(),
        }
    }
}

/// Adam's (or AdamW's) moments in flat vectors, updated in one pass per
/// parameter.
#[derive(Clone)]
pub struct HostAdam {
    adam: FusedAdam,
    /// AdamW's decoupled weight decay; `None` for Adam.
    weight_decay: Option<f64>,
    /// Per parameter, in the order the network visits them once stepped.
    params: Vec<Moments>,
}

/// One parameter's Adam state.
#[derive(Clone, Debug, PartialEq)]
struct Moments {
    id: ParamId,
    shape: Vec<usize>,
    /// Steps taken (Burn's `momentum.time`); 0 before the first.
    time: usize,
    /// The first and second moments, as many values as the parameter.
    m: Vec<f32>,
    v: Vec<f32>,
}

impl HostAdam {
    /// A fresh Adam state for `adam`'s settings (its path must be the host's).
    pub fn new(adam: FusedAdam) -> Self {
        Self {
            adam,
            weight_decay: None,
            params: Vec::new(),
        }
    }

    /// The same state stepped as Burn's AdamW with `weight_decay` (decoupled,
    /// as PyTorch's), with `adam`'s betas and epsilon.
    pub fn with_weight_decay(self, weight_decay: f64) -> Self {
        Self {
            weight_decay: Some(weight_decay),
            ..self
        }
    }

    /// This optimizer with the state Burn's record `bytes` (an Adam or AdamW
    /// `ModuleOptimizer`'s, as `optim-<epoch>.bpk` holds it) describes; `Err`
    /// says what is wrong.
    pub fn from_record(self, bytes: &[u8]) -> Result<Self, String> {
        let reader = burn_pack::Reader::from_bytes(Bytes::from_bytes_vec(bytes.to_vec()))
            .map_err(|error| error.to_string())?;
        let times = reader.scalars().clone();
        let mut params: Vec<Moments> = Vec::new();
        for tensor in reader.into_tensors().map_err(|error| error.to_string())? {
            let (name, dtype, shape, param_id, bytes) =
                tensor.into_parts().map_err(|error| error.to_string())?;
            let (Some(id), Some(leaf)) = (param_id, name.split_once('.').map(|(_, leaf)| leaf))
            else {
                return Err(format!("tensor {name} names no parameter"));
            };
            if dtype != burn_pack::DType::F32 {
                return Err(format!("tensor {name} is {dtype:?}, not F32"));
            }
            let values: Vec<f32> = bytes
                .chunks_exact(4)
                .map(|word| f32::from_le_bytes([word[0], word[1], word[2], word[3]]))
                .collect();
            let shape = shape.to_vec();
            if values.len() != shape.iter().product::<usize>() {
                return Err(format!(
                    "tensor {name} holds {} values, not {shape:?}",
                    values.len()
                ));
            }
            let id = ParamId::from(id);
            let index = match params.iter().position(|param| param.id == id) {
                Some(index) => index,
                None => {
                    let key = format!("{}.momentum.time", id.val());
                    let time = times
                        .get(&key)
                        .and_then(|time| usize::try_from(*time).ok())
                        .filter(|&time| time > 0)
                        .ok_or_else(|| format!("no step count {key}"))?;
                    params.push(Moments {
                        id,
                        shape: shape.clone(),
                        time,
                        m: Vec::new(),
                        v: Vec::new(),
                    });
                    params.len() - 1
                }
            };
            let param = &mut params[index];
            if param.shape != shape {
                return Err(format!(
                    "tensor {name} is {shape:?}, its moment {:?}",
                    param.shape
                ));
            }
            match leaf {
                "momentum.moment_1" => param.m = values,
                "momentum.moment_2" => param.v = values,
                _ => return Err(format!("tensor {name} is not part of an Adam state")),
            }
        }
        if let Some(param) = params
            .iter()
            .find(|param| param.m.is_empty() || param.v.is_empty())
        {
            return Err(format!("parameter {} lacks a moment", param.id.val()));
        }
        Ok(Self { params, ..self })
    }

    /// The record an Adam (AdamW) `ModuleOptimizer` with this state writes (its
    /// parameters' module paths aside, which only matter to optimizers with
    /// several parameter groups).
    pub fn to_record(&self) -> OptimizerRecord {
        let le_bytes = |values: &[f32]| {
            Bytes::from_bytes_vec(values.iter().flat_map(|v| v.to_le_bytes()).collect())
        };
        let mut tensors = Vec::with_capacity(2 * self.params.len());
        for param in &self.params {
            let id = param.id.val();
            for (leaf, values) in [("moment_1", &param.m), ("moment_2", &param.v)] {
                tensors.push(burn_pack::Tensor::new(
                    format!("{id}.momentum.{leaf}"),
                    burn_pack::DType::F32,
                    param.shape.clone(),
                    Some(id),
                    le_bytes(values),
                ));
            }
        }
        let mut writer = burn_pack::Writer::new(tensors);
        for param in &self.params {
            let id = param.id.val();
            writer = writer
                .with_scalar(
                    &format!("{id}.__rank"),
                    burn_pack::Scalar::from(param.shape.len()),
                )
                .with_scalar(
                    &format!("{id}.momentum.time"),
                    burn_pack::Scalar::from(param.time),
                );
        }
        let bytes = writer.into_bytes().expect("a record of vectors writes");
        OptimizerRecord::from_bytes(bytes).expect("a record just written reads")
    }

    /// One Adam step at learning rate `lr` for every parameter of `model`
    /// that has a gradient in `grads`.
    pub fn step(&mut self, lr: f64, model: Mlp, grads: GradientsParams) -> Mlp {
        model.map(&mut Stepper {
            state: self,
            lr,
            grads,
            next: 0,
        })
    }
}

/// The moments of parameter `id` (`shape`) in `params`, expected at `next`
/// in the order of visits; created fresh (time 0) for a parameter never
/// stepped.
fn moments<'a>(
    params: &'a mut Vec<Moments>,
    next: usize,
    id: ParamId,
    shape: &[usize],
) -> &'a mut Moments {
    if params.get(next).is_some_and(|param| param.id == id) {
        return &mut params[next];
    }
    let index = match params.iter().position(|param| param.id == id) {
        // A restored state comes in the record's order: it is put in the
        // order of visits at the first step.
        Some(index) if next < params.len() => {
            params.swap(index, next);
            next
        }
        Some(index) => index,
        None => {
            let count: usize = shape.iter().product();
            params.push(Moments {
                id,
                shape: shape.to_vec(),
                time: 0,
                m: vec![0.0; count],
                v: vec![0.0; count],
            });
            params.len() - 1
        }
    };
    &mut params[index]
}

/// Visits the network's parameters and steps each in place.
struct Stepper<'a> {
    state: &'a mut HostAdam,
    lr: f64,
    grads: GradientsParams,
    /// Parameters visited so far.
    next: usize,
}

impl ModuleMapper for Stepper<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (id, tensor, mapper) = param.consume();
        let Some(grad) = self.grads.remove::<D>(id) else {
            return Param::from_mapped_value(id, tensor, mapper);
        };
        let require_grad = tensor.is_require_grad();
        let flex = |tensor: Tensor<D>| {
            tensor
                .try_into_primitive::<Flex>()
                .expect("HostAdam runs on flex")
        };
        let mut weights = flex(tensor.inner());
        let grad = flex(grad);
        let shape = weights.shape().to_vec();
        let HostAdam {
            adam,
            weight_decay,
            params,
        } = &mut *self.state;
        let moments = moments(params, self.next, id, &shape);
        self.next += 1;
        moments.time += 1;
        let (time, first) = (moments.time, moments.time == 1);
        let (values, grad) = (values_mut(&mut weights), slice(&grad));
        let (m, v) = (&mut moments.m, &mut moments.v);
        adam.update(self.lr, *weight_decay, time, first, values, &grad, m, v);
        let mut updated = Tensor::from_inner(Tensor::from_primitive::<Flex>(weights));
        if require_grad {
            updated = updated.require_grad();
        }
        Param::from_mapped_value(id, updated, mapper)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Backend, MlpConfig};
    use burn::tensor::{Device, TensorData};

    fn adam() -> FusedAdam {
        FusedAdam::new(Backend::Flex, 0.9, 0.999, 1e-7)
    }

    /// `steps` steps of `optimizer` on `model`, each on its own four images
    /// (fixed values: the same for every optimizer, whatever else runs);
    /// returns the network.
    fn train(optimizer: &mut StepOptimizer, mut model: Mlp, steps: usize) -> Mlp {
        let device = Device::flex().autodiff();
        for step in 0..steps {
            let values: Vec<f32> = (0..4 * 784)
                .map(|i| ((i * 37 + step * 11) % 101) as f32 / 101.0 - 0.5)
                .collect();
            let images = Tensor::<2>::from_data(TensorData::new(values, [4, 784]), &device);
            let loss = model.forward(images).powi_scalar(2).mean();
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optimizer.step(model, 0.01, grads);
        }
        model
    }

    /// Every weight of `model`.
    fn weights(model: &Mlp) -> Vec<f32> {
        model
            .layers()
            .iter()
            .flat_map(|layer| {
                let mut values = layer.weight.val().into_data().try_to_vec::<f32>().unwrap();
                let bias = layer.bias.as_ref().unwrap().val();
                values.extend(bias.into_data().try_to_vec::<f32>().unwrap());
                values
            })
            .collect()
    }

    fn network() -> Mlp {
        MlpConfig::new()
            .with_hidden(vec![16, 8])
            .init(&Device::flex().autodiff())
    }

    #[test]
    fn steps_exactly_as_the_module_optimizer_does() {
        let model = network();
        let mut host = StepOptimizer::Host(HostAdam::new(adam()));
        let mut burn = StepOptimizer::Burn(adam().init());
        let (a, b) = (
            train(&mut host, model.clone(), 5),
            train(&mut burn, model.clone(), 5),
        );
        assert_eq!(weights(&a), weights(&b));
        assert_ne!(weights(&a), weights(&model), "training moved the weights");
        assert_eq!(
            weights(&train(&mut host, model.clone(), 0)),
            weights(&model)
        );
    }

    /// AdamW as Burn's `AdamW` computes it, with and without the decay;
    /// and resumed from Burn's AdamW record.
    #[test]
    fn adamw_steps_and_resumes_exactly_as_burn_s() {
        use burn::optim::AdamWConfig;
        for decay in [0.01, 0.0] {
            let burn_adamw = || {
                AdamWConfig::new()
                    .with_epsilon(1e-7)
                    .with_weight_decay(decay as f32)
                    .init()
            };
            let host_adamw = || HostAdam::new(adam()).with_weight_decay(decay);
            let model = network();
            let mut host = StepOptimizer::Host(host_adamw());
            let mut burn = StepOptimizer::Burn(burn_adamw());
            let (a, b) = (
                train(&mut host, model.clone(), 3),
                train(&mut burn, model.clone(), 3),
            );
            assert_eq!(weights(&a), weights(&b), "weight decay {decay}");
            assert_ne!(weights(&a), weights(&model));
            let record = burn_adamw_record(&burn);
            let mut resumed = StepOptimizer::Host(host_adamw().from_record(&record).unwrap());
            assert_eq!(
                weights(&train(&mut resumed, a.clone(), 2)),
                weights(&train(&mut burn, a, 2)),
                "weight decay {decay}, resumed"
            );
        }
    }

    /// `optimizer`'s record as Burn writes it.
    fn burn_adamw_record(optimizer: &StepOptimizer) -> Vec<u8> {
        let StepOptimizer::Burn(module) = optimizer else {
            panic!("a ModuleOptimizer")
        };
        module.to_record().into_bytes().unwrap().to_vec()
    }

    /// Checkpoints keep Burn's format both ways: HostAdam's record resumes in
    /// a ModuleOptimizer, and a ModuleOptimizer's (an older run's) in
    /// HostAdam, each continuing exactly as the uninterrupted optimizer.
    #[test]
    fn records_resume_exactly_in_either_optimizer() {
        let start = network();
        let mut host = StepOptimizer::Host(HostAdam::new(adam()));
        let mut burn = StepOptimizer::Burn(adam().init());
        let model = train(&mut host, start.clone(), 3);
        assert_eq!(weights(&model), weights(&train(&mut burn, start, 3)));
        let bytes = |optimizer: &StepOptimizer| {
            let module = optimizer.to_module_optimizer(&adam().init());
            module.to_record().into_bytes().unwrap().to_vec()
        };
        let host_record = bytes(&host);
        let burn_record = bytes(&burn);

        let mut from_host = StepOptimizer::Burn(adam().init().load_record(
            OptimizerRecord::from_bytes(Bytes::from_bytes_vec(host_record.clone())).unwrap(),
        ));
        let mut from_burn =
            StepOptimizer::Host(HostAdam::new(adam()).from_record(&burn_record).unwrap());
        let mut round_trip =
            StepOptimizer::Host(HostAdam::new(adam()).from_record(&host_record).unwrap());
        let whole = weights(&train(&mut host, model.clone(), 2));
        assert_eq!(weights(&train(&mut from_host, model.clone(), 2)), whole);
        assert_eq!(weights(&train(&mut from_burn, model.clone(), 2)), whole);
        assert_eq!(weights(&train(&mut round_trip, model, 2)), whole);
    }

    #[test]
    fn records_that_are_not_adam_states_are_refused() {
        assert!(HostAdam::new(adam()).from_record(b"not a record").is_err());
        let tensor = |name: &str| {
            burn_pack::Tensor::new(
                name.into(),
                burn_pack::DType::F32,
                vec![2],
                Some(3),
                Bytes::from_bytes_vec(vec![0; 8]),
            )
        };
        let record = |tensors, time: Option<usize>| {
            let mut writer = burn_pack::Writer::new(tensors);
            if let Some(time) = time {
                writer = writer.with_scalar("3.momentum.time", burn_pack::Scalar::from(time));
            }
            writer.into_bytes().unwrap().to_vec()
        };
        let both = || vec![tensor("3.momentum.moment_1"), tensor("3.momentum.moment_2")];
        assert!(
            HostAdam::new(adam())
                .from_record(&record(both(), Some(4)))
                .is_ok()
        );
        for (tensors, time, error) in [
            (both(), None, "no step count 3.momentum.time"),
            (both(), Some(0), "no step count 3.momentum.time"),
            (
                vec![tensor("3.momentum.moment_1")],
                Some(4),
                "parameter 3 lacks a moment",
            ),
            (
                vec![tensor("3.velocity")],
                Some(4),
                "tensor 3.velocity is not part of an Adam state",
            ),
        ] {
            assert_eq!(
                HostAdam::new(adam())
                    .from_record(&record(tensors, time))
                    .err()
                    .as_deref(),
                Some(error)
            );
        }
    }
}
