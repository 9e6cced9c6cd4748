//! Each epoch's figures as Burn reports them, kept for `metrics.csv`, the
//! checkpoints and the summary.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use burn::train::metric::{MetricDefinition, MetricId, MetricName, NumericEntry};
use burn::train::renderer::MetricState;
use model::GradNormLog;
use run::{EpochMetrics, TensorBoard};

use crate::guard::Split;

/// Finished epochs, shared between the recorder (which Burn owns while
/// training), the checkpoints and the code that writes the run directory.
pub type History = Arc<Mutex<Vec<EpochMetrics>>>;

/// Keeps the final value of each metric per split, and at the end of an
/// epoch adds its [`EpochMetrics`] to the [`History`].
pub struct EpochRecorder {
    history: History,
    names: HashMap<MetricId, MetricName>,
    finals: HashMap<(Split, String), f64>,
    epoch_started: Instant,
    /// With `grad_norms = true`: where the step leaves each batch's norms.
    grad_log: Option<GradNormLog>,
    /// Where each finished epoch is logged for TensorBoard too.
    tensorboard: Option<TensorBoard>,
}

impl EpochRecorder {
    /// Adds to `history`; with `grad_log`, each epoch's mean gradient norms too.
    pub fn new(history: History, grad_log: Option<GradNormLog>) -> Self {
        Self {
            history,
            names: HashMap::new(),
            finals: HashMap::new(),
            epoch_started: Instant::now(),
            grad_log,
            tensorboard: None,
        }
    }

    /// Writes every finished epoch to `tensorboard` too.
    pub fn with_tensorboard(mut self, tensorboard: TensorBoard) -> Self {
        self.tensorboard = Some(tensorboard);
        self
    }

    /// Learns a metric's name ("Loss", "Accuracy").
    pub fn register(&mut self, definition: &MetricDefinition) {
        self.names
            .insert(definition.metric_id.clone(), definition.name.clone());
    }

    /// The epoch's clock starts (with its training split).
    pub fn start_epoch(&mut self) {
        self.epoch_started = Instant::now();
    }

    /// Keeps the split's final values. Returns whether `state` is finite
    /// (or not numeric).
    pub fn record(&mut self, split: Split, state: &MetricState) -> bool {
        let MetricState::Numeric(entry, Some(value)) = state else {
            return true;
        };
        // Burn sends a running value per report and, at the end of each split,
        // a `Final` value computed over the whole epoch: keep that one.
        if let NumericEntry::Final(value) = value
            && let Some(name) = self.names.get(&entry.metric_id)
        {
            self.finals.insert((split, name.to_string()), *value);
        }
        value.current().is_finite()
    }

    fn final_value(&self, split: Split, name: &str) -> f64 {
        self.finals
            .get(&(split, name.to_string()))
            .copied()
            .unwrap_or(f64::NAN)
    }

    /// Epoch `epoch` (1-based) has ended: its figures, also added to the history.
    pub fn finish_epoch(&mut self, epoch: usize) -> EpochMetrics {
        let percent = |value: f64| value / 100.0; // Burn's accuracy is in percent
        let metrics = EpochMetrics {
            epoch,
            seconds: self.epoch_started.elapsed().as_secs_f64(),
            train_loss: self.final_value(Split::Train, "Loss"),
            train_accuracy: percent(self.final_value(Split::Train, "Accuracy")),
            valid_loss: self.final_value(Split::Valid, "Loss"),
            valid_accuracy: percent(self.final_value(Split::Valid, "Accuracy")),
            grad_norms: self
                .grad_log
                .as_ref()
                .map_or_else(Vec::new, GradNormLog::take_epoch),
        };
        self.finals.clear();
        if let Some(tensorboard) = &self.tensorboard {
            tensorboard.epoch(&metrics);
        }
        self.history
            .lock()
            .expect("history lock")
            .push(metrics.clone());
        metrics
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::train::metric::{AccuracyMetric, LossMetric, MetricEntry, SerializedEntry};

    fn numeric(id: &MetricId, value: NumericEntry) -> MetricState {
        let entry = MetricEntry::new(
            id.clone(),
            SerializedEntry::new(String::new(), String::new()),
        );
        MetricState::Numeric(entry, Some(value))
    }

    #[test]
    fn keeps_the_final_value_of_each_split_per_epoch() {
        let history = History::default();
        let mut recorder = EpochRecorder::new(history.clone(), None);
        let loss = MetricId::new(Arc::new("Loss".to_string()));
        let accuracy = MetricId::new(Arc::new("Accuracy".to_string()));
        recorder.register(&MetricDefinition::new(loss.clone(), &LossMetric::new()));
        recorder.register(&MetricDefinition::new(
            accuracy.clone(),
            &AccuracyMetric::new(),
        ));
        recorder.start_epoch();
        // Running values are ignored; the split's Final value is kept.
        assert!(recorder.record(Split::Train, &numeric(&loss, NumericEntry::Value(9.0))));
        recorder.record(Split::Train, &numeric(&loss, NumericEntry::Final(0.25)));
        recorder.record(Split::Train, &numeric(&accuracy, NumericEntry::Final(92.5)));
        recorder.record(Split::Valid, &numeric(&loss, NumericEntry::Final(0.125)));
        recorder.record(Split::Valid, &numeric(&accuracy, NumericEntry::Final(96.0)));
        let epoch = recorder.finish_epoch(1);

        assert_eq!(*history.lock().unwrap(), vec![epoch.clone()]);
        assert_eq!(epoch.epoch, 1);
        assert_eq!((epoch.train_loss, epoch.train_accuracy), (0.25, 0.925));
        assert_eq!((epoch.valid_loss, epoch.valid_accuracy), (0.125, 0.96));
        assert!(epoch.seconds >= 0.0);
        // A non-finite value is recorded but reported as such.
        assert!(!recorder.record(Split::Train, &numeric(&loss, NumericEntry::Value(f64::NAN))));
        // The next epoch starts from nothing.
        assert!(recorder.finish_epoch(2).train_loss.is_nan());
    }
}
