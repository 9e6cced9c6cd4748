//! The optimizer and the learning-rate schedule a config asks for, as the
//! Burn objects the `Learner` takes.

use burn::optim::decay::WeightDecayConfig;
use burn::optim::lr_scheduler::LrSchedulerConfig;
use burn::optim::lr_scheduler::cosine::CosineAnnealingLrSchedulerConfig;
use burn::optim::lr_scheduler::linear::LinearLrSchedulerConfig;
use burn::optim::lr_scheduler::module_lr_scheduler::{ModuleLrScheduler, ModuleLrSchedulerConfig};
use burn::optim::lr_scheduler::sequential::SequentialLrSchedulerConfig;
use burn::optim::lr_scheduler::step::StepLrSchedulerConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamWConfig, ModuleOptimizer, SgdConfig};
use model::FusedAdam;

use crate::config::{OptimizerKind, ScheduleKind, TrainConfig};

/// AdamW's weight decay when the config gives none (PyTorch's default).
pub const ADAMW_WEIGHT_DECAY: f64 = 0.01;

impl TrainConfig {
    /// The optimizer of `[optimizer]`. Adam is fused on flex and Burn's own on
    /// ndarray and wgpu; AdamW and SGD are Burn's.
    pub fn optimizer(&self) -> ModuleOptimizer {
        let o = &self.optimizer;
        match o.kind {
            OptimizerKind::Adam => FusedAdam::new(self.backend, o.beta1, o.beta2, o.epsilon).init(),
            OptimizerKind::Adamw => AdamWConfig::new()
                .with_beta_1(o.beta1)
                .with_beta_2(o.beta2)
                .with_epsilon(o.epsilon)
                .with_weight_decay(o.weight_decay.unwrap_or(ADAMW_WEIGHT_DECAY) as f32)
                .init(),
            OptimizerKind::Sgd => SgdConfig::new()
                // Plain momentum as PyTorch and Keras define it (no dampening).
                .with_momentum(o.momentum.filter(|m| *m > 0.0).map(|momentum| {
                    MomentumConfig::new()
                        .with_momentum(momentum)
                        .with_dampening(0.0)
                }))
                .with_weight_decay(
                    o.weight_decay
                        .filter(|d| *d > 0.0)
                        .map(|penalty| WeightDecayConfig::new(penalty as f32)),
                )
                .init(),
        }
    }

    /// The optimizer, schedule and validation as text, for the first line a
    /// run prints: `Adam lr 0.001, validation on the test set`.
    pub fn describe_training(&self) -> String {
        let o = &self.optimizer;
        let mut text = match o.kind {
            OptimizerKind::Adam => format!("Adam lr {}", o.learning_rate),
            OptimizerKind::Adamw => format!(
                "AdamW lr {} weight decay {}",
                o.learning_rate,
                o.weight_decay.unwrap_or(ADAMW_WEIGHT_DECAY)
            ),
            OptimizerKind::Sgd => format!(
                "SGD lr {} momentum {}",
                o.learning_rate,
                o.momentum.unwrap_or(0.0)
            ),
        };
        let schedule = &self.schedule;
        match schedule.kind {
            ScheduleKind::Constant => {}
            ScheduleKind::Step => {
                text += &format!(
                    ", x{} every {} epochs",
                    schedule.gamma.unwrap_or(0.1),
                    schedule.step_epochs.unwrap_or(1)
                )
            }
            ScheduleKind::Cosine => text += ", cosine schedule",
        }
        if schedule.warmup_epochs > 0 {
            text += &format!(", {}-epoch warm-up", schedule.warmup_epochs);
        }
        let v = &self.validation;
        if v.split > 0.0 {
            text += &format!(", validation on {}% of the training set", v.split * 100.0);
        } else {
            text += ", validation on the test set";
        }
        if v.patience > 0 {
            text += &format!(
                ", early stopping after {} epochs without progress",
                v.patience
            );
        }
        if v.keep_best {
            text += ", keeping the best epoch";
        }
        text
    }

    /// The learning rate of every batch for `batches_per_epoch` batches an
    /// epoch: the warm-up, then the `[schedule]` kind, stepped once per batch.
    pub fn lr_scheduler(&self, batches_per_epoch: usize) -> Result<ModuleLrScheduler, String> {
        let lr = self.optimizer.learning_rate;
        let schedule = &self.schedule;
        let warmup = schedule.warmup_epochs * batches_per_epoch;
        let total = self.epochs * batches_per_epoch;
        let main: LrSchedulerConfig = match schedule.kind {
            ScheduleKind::Constant => lr.into(),
            ScheduleKind::Step => StepLrSchedulerConfig::new(
                lr,
                schedule.step_epochs.unwrap_or(1) * batches_per_epoch,
            )
            .with_gamma(schedule.gamma.unwrap_or(0.1))
            .into(),
            ScheduleKind::Cosine => CosineAnnealingLrSchedulerConfig::new(lr, total - warmup)
                .with_min_lr(schedule.min_lr.unwrap_or(0.0))
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ScheduleSection;
    use burn::module::ParamId;

    /// The rate of the first `steps` batches.
    fn rates(config: &TrainConfig, batches_per_epoch: usize, steps: usize) -> Vec<f64> {
        let mut scheduler = config.lr_scheduler(batches_per_epoch).unwrap();
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
        config.optimizer.learning_rate = 0.1;
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
            kind: ScheduleKind::Step,
            step_epochs: Some(2),
            gamma: Some(0.5),
            ..ScheduleSection::default()
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
            kind: ScheduleKind::Cosine,
            min_lr: Some(0.0),
            ..ScheduleSection::default()
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
            kind: ScheduleKind::Constant,
            warmup_epochs: 1,
            ..ScheduleSection::default()
        };
        // One epoch of 4 batches: 0.1 * 1/4, 2/4, 3/4, 4/4, then 0.1.
        assert_close(
            &rates(&config(3, schedule), 4, 6),
            &[0.025, 0.05, 0.075, 0.1, 0.1, 0.1],
        );
    }
}
