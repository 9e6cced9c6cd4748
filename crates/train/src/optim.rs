//! The optimizer and the learning-rate schedule a config asks for, as the
//! Burn objects training takes.

use burn::optim::decay::WeightDecayConfig;
use burn::optim::lr_scheduler::LrSchedulerConfig;
use burn::optim::lr_scheduler::cosine::CosineAnnealingLrSchedulerConfig;
use burn::optim::lr_scheduler::linear::LinearLrSchedulerConfig;
use burn::optim::lr_scheduler::module_lr_scheduler::{ModuleLrScheduler, ModuleLrSchedulerConfig};
use burn::optim::lr_scheduler::sequential::SequentialLrSchedulerConfig;
use burn::optim::lr_scheduler::step::StepLrSchedulerConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamWConfig, ModuleOptimizer, OptimizerRecord, SgdConfig};
use burn::tensor::Bytes;
use config::{OptimizerSection, Schedule, TrainConfig};
use model::{Backend, FusedAdam, HostAdam, StepOptimizer};

/// The optimizer of `[optimizer]`. Adam is fused on flex and Burn's own on
/// ndarray and wgpu; AdamW and SGD are Burn's.
pub fn optimizer(config: &TrainConfig) -> ModuleOptimizer {
    match &config.optimizer {
        OptimizerSection::Adam(adam) => {
            FusedAdam::new(config.backend, adam.beta1, adam.beta2, adam.epsilon).init()
        }
        OptimizerSection::Adamw(adamw) => AdamWConfig::new()
            .with_beta_1(adamw.beta1)
            .with_beta_2(adamw.beta2)
            .with_epsilon(adamw.epsilon)
            .with_weight_decay(adamw.weight_decay as f32)
            .init(),
        OptimizerSection::Sgd(sgd) => SgdConfig::new()
            // Plain momentum as PyTorch and Keras define it (no dampening).
            .with_momentum((sgd.momentum > 0.0).then(|| {
                MomentumConfig::new()
                    .with_momentum(sgd.momentum)
                    .with_dampening(0.0)
            }))
            .with_weight_decay(
                (sgd.weight_decay > 0.0).then(|| WeightDecayConfig::new(sgd.weight_decay as f32)),
            )
            .init(),
    }
}

/// What the training loop steps for `config`: on flex, Adam and AdamW in
/// place without Burn's per-parameter bookkeeping ([`HostAdam`]); otherwise
/// the `ModuleOptimizer` of [`optimizer`].
pub fn step_optimizer(config: &TrainConfig) -> StepOptimizer {
    match host_adam(config) {
        Some(adam) => StepOptimizer::Host(adam),
        None => StepOptimizer::Burn(optimizer(config)),
    }
}

/// [`step_optimizer`] with the state of Burn's optimizer record `bytes`
/// (`optim-<epoch>.bpk`); `Err` says what in it is wrong.
pub fn restored_step_optimizer(
    config: &TrainConfig,
    bytes: &[u8],
) -> Result<StepOptimizer, String> {
    match host_adam(config) {
        Some(adam) => adam.from_record(bytes).map(StepOptimizer::Host),
        None => OptimizerRecord::from_bytes(Bytes::from_bytes_vec(bytes.to_vec()))
            .map(|record| StepOptimizer::Burn(optimizer(config).load_record(record)))
            .map_err(|error| error.to_string()),
    }
}

/// The [`HostAdam`] of `config`, when it runs `config`'s optimizer: Adam or
/// AdamW on flex.
fn host_adam(config: &TrainConfig) -> Option<HostAdam> {
    if config.backend != Backend::Flex {
        return None;
    }
    let fused = |beta1, beta2, epsilon| FusedAdam::new(config.backend, beta1, beta2, epsilon);
    match &config.optimizer {
        OptimizerSection::Adam(adam) => {
            Some(HostAdam::new(fused(adam.beta1, adam.beta2, adam.epsilon)))
        }
        OptimizerSection::Adamw(adamw) => Some(
            HostAdam::new(fused(adamw.beta1, adamw.beta2, adamw.epsilon))
                .with_weight_decay(adamw.weight_decay),
        ),
        OptimizerSection::Sgd(_) => None,
    }
}

/// The learning rate of every batch for `batches_per_epoch` batches an
/// epoch: the warm-up, then the `[schedule]` kind, stepped once per batch.
pub fn lr_scheduler(
    config: &TrainConfig,
    batches_per_epoch: usize,
) -> Result<ModuleLrScheduler, String> {
    let lr = config.optimizer.learning_rate();
    let schedule = &config.schedule;
    let warmup = schedule.warmup_epochs * batches_per_epoch;
    let total = config.epochs * batches_per_epoch;
    let main: LrSchedulerConfig = match &schedule.kind {
        Schedule::Constant => lr.into(),
        Schedule::Step(step) => {
            StepLrSchedulerConfig::new(lr, step.step_epochs * batches_per_epoch)
                .with_gamma(step.gamma)
                .into()
        }
        Schedule::Cosine(cosine) => CosineAnnealingLrSchedulerConfig::new(lr, total - warmup)
            .with_min_lr(cosine.min_lr)
            .into(),
    };
    let config = if warmup > 1 {
        // Batch k (1-based) of the warm-up gets lr * k / warmup.
        let rise = LinearLrSchedulerConfig::new(lr / warmup as f64, lr, warmup - 1);
        SequentialLrSchedulerConfig::new(vec![rise.into(), main], vec![warmup]).into()
    } else {
        main
    };
    ModuleLrSchedulerConfig::new(config).init()
}
#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::ParamId;
    use config::{Cosine, ScheduleSection, Step};

    /// The rate of the first `steps` batches.
    fn rates(config: &TrainConfig, batches_per_epoch: usize, steps: usize) -> Vec<f64> {
        let mut scheduler = lr_scheduler(config, batches_per_epoch).unwrap();
        let id = ParamId::new();
        (0..steps)
            .map(|_| scheduler.step().lr_from_param(id, None))
            .collect()
    }

    fn config(epochs: usize, schedule: ScheduleSection) -> TrainConfig {
        let mut config = TrainConfig {
            epochs,
            schedule,
            ..TrainConfig::default()
        };
        config.optimizer.set_learning_rate(0.1);
        config
    }

    fn assert_close(actual: &[f64], expected: &[f64]) {
        assert_eq!(actual.len(), expected.len());
        for (a, e) in actual.iter().zip(expected) {
            assert!((a - e).abs() < 1e-12, "{actual:?} vs {expected:?}");
        }
    }

    #[test]
    fn constant_is_the_learning_rate_at_every_step() {
        assert_close(
            &rates(&config(2, ScheduleSection::default()), 3, 6),
            &[0.1; 6],
        );
    }

    #[test]
    fn step_multiplies_by_gamma_every_step_epochs() {
        let schedule = ScheduleSection {
            kind: Schedule::Step(Step {
                step_epochs: 2,
                gamma: 0.5,
            }),
            warmup_epochs: 0,
        };
        // 2 batches an epoch: the rate halves every 4 batches.
        assert_close(
            &rates(&config(6, schedule), 2, 10),
            &[0.1, 0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.05, 0.025, 0.025],
        );
    }

    #[test]
    fn cosine_falls_from_the_rate_to_min_lr_over_training() {
        let schedule = ScheduleSection {
            kind: Schedule::Cosine(Cosine { min_lr: 0.0 }),
            warmup_epochs: 0,
        };
        // 4 epochs of 1 batch: lr * (1 + cos(pi * t / 4)) / 2 for t = 0..4.
        let expected: Vec<f64> = (0..5)
            .map(|t| 0.05 * (1.0 + (std::f64::consts::PI * t as f64 / 4.0).cos()))
            .collect();
        assert_close(&rates(&config(4, schedule), 1, 5), &expected);
    }

    #[test]
    fn warm_up_rises_linearly_then_hands_over() {
        let schedule = ScheduleSection {
            kind: Schedule::Constant,
            warmup_epochs: 1,
        };
        // One epoch of 4 batches: 0.1 * 1/4, 2/4, 3/4, 4/4, then 0.1.
        assert_close(
            &rates(&config(3, schedule), 4, 6),
            &[0.025, 0.05, 0.075, 0.1, 0.1, 0.1],
        );
    }
}
