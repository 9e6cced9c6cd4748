//! What the user sees while the network trains, and the per-epoch record of it.
//!
//! Burn reports metrics to a [`MetricsRenderer`]. [`EpochRenderer`] keeps the
//! final value of each metric for every epoch (written to `metrics.csv` later)
//! and then either forwards everything to Burn's terminal dashboard or, when
//! stdout is not a terminal, prints one plain line per epoch like Keras's
//! `verbose=2`. (Burn's own fallback prints a debug line per batch: about 2,000
//! lines an epoch.)

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use burn::train::logger::{EvaluationProgressLogger, TrainingProgressLogger};
use burn::train::metric::{MetricDefinition, MetricId, MetricName, NumericEntry};
use burn::train::renderer::{
    EvaluationName, MetricState, MetricsRenderer, MetricsRendererEvaluation,
    MetricsRendererTraining,
};
use burn::train::{Interrupter, LearnerSummary};
use model::GradNormLog;

use crate::guard::Split;

/// One finished epoch. Accuracies are fractions in [0, 1], losses mean cross-entropy.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EpochMetrics {
    /// 1-based.
    pub epoch: usize,
    /// Wall time of the epoch: training plus its evaluation pass, in seconds.
    pub seconds: f64,
    pub train_loss: f64,
    pub train_accuracy: f64,
    pub valid_loss: f64,
    pub valid_accuracy: f64,
    /// With `grad_norms = true`: the mean L2 norm of each layer's weight
    /// gradient over the epoch's batches, input side first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grad_norms: Vec<f64>,
}

impl EpochMetrics {
    /// The header of `metrics.csv`.
    pub const CSV_HEADER: &str =
        "epoch,seconds,train_loss,train_accuracy,valid_loss,valid_accuracy";

    pub fn csv_row(&self) -> String {
        format!(
            "{},{:.3},{:.6},{:.6},{:.6},{:.6}",
            self.epoch,
            self.seconds,
            self.train_loss,
            self.train_accuracy,
            self.valid_loss,
            self.valid_accuracy
        )
    }

    /// The Keras-like line printed without a dashboard.
    pub fn line(&self, total_epochs: usize) -> String {
        format!(
            "Epoch {}/{} - {:.2}s - loss: {:.4} - accuracy: {:.4} - val_loss: {:.4} - val_accuracy: {:.4}",
            self.epoch,
            total_epochs,
            self.seconds,
            self.train_loss,
            self.train_accuracy,
            self.valid_loss,
            self.valid_accuracy
        )
    }
}

/// Finished epochs, shared between the renderer (which Burn owns while training)
/// and the code that writes the run directory.
pub type History = Arc<Mutex<Vec<EpochMetrics>>>;

/// Why training stopped early, as seen while it ran. Burn's dashboard clears
/// the stop request when training ends, so the renderer keeps it here.
#[derive(Clone, Debug, Default)]
pub struct Stops {
    /// The stop request's reason, `Some("")` when it gave none.
    pub interruption: Option<String>,
    /// The error training failed on (a checkpoint that could not be written).
    pub error: Option<String>,
}

/// Records every epoch, then shows it on the dashboard or as a plain line.
pub struct EpochRenderer {
    dashboard: Option<Box<dyn MetricsRenderer>>,
    history: History,
    interrupter: Interrupter,
    stops: Arc<Mutex<Stops>>,
    names: HashMap<MetricId, MetricName>,
    finals: HashMap<(Split, String), f64>,
    total_epochs: usize,
    epoch_started: Instant,
    grad_log: Option<GradNormLog>,
    /// Images per batch in the training and the evaluation pass.
    batch_sizes: (usize, usize),
    /// The pass in progress, and the images of it reported so far.
    split: Split,
    items_seen: usize,
    /// Batches covered by the latest report.
    batches_reported: usize,
}

impl EpochRenderer {
    /// With `dashboard`, every event is forwarded to it; without, one line per epoch
    /// goes to stdout. How training stopped is recorded in `stops`.
    /// `batch_sizes` are the training and the evaluation batch sizes.
    pub fn new(
        dashboard: Option<Box<dyn MetricsRenderer>>,
        history: History,
        interrupter: Interrupter,
        stops: Arc<Mutex<Stops>>,
        batch_sizes: (usize, usize),
    ) -> Self {
        Self {
            dashboard,
            history,
            interrupter,
            stops,
            names: HashMap::new(),
            finals: HashMap::new(),
            total_epochs: 0,
            epoch_started: Instant::now(),
            grad_log: None,
            batch_sizes,
            split: Split::Train,
            items_seen: 0,
            batches_reported: 0,
        }
    }

    /// Takes each epoch's mean gradient norms from `log` into its metrics.
    pub fn with_grad_log(mut self, log: Option<GradNormLog>) -> Self {
        self.grad_log = log;
        self
    }

    /// Keeps the epoch's final values. Returns whether the state should reach
    /// the dashboard (a non-finite value would break its plots).
    fn record(&mut self, split: Split, state: &MetricState) -> bool {
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

    fn finish_epoch(&mut self, epoch: usize) {
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
        if self.dashboard.is_none() {
            // A closed stdout (`| head`) must not stop training.
            data::outln!("{}", metrics.line(self.total_epochs));
        }
        self.history.lock().expect("history lock").push(metrics);
    }

    fn forward(&mut self, call: impl FnOnce(&mut dyn MetricsRenderer)) {
        if let Some(dashboard) = self.dashboard.as_deref_mut() {
            call(dashboard);
        }
    }
}

impl MetricsRendererTraining for EpochRenderer {
    fn update_train(&mut self, state: MetricState) {
        if self.record(Split::Train, &state) {
            self.forward(|d| d.update_train(state));
        }
    }

    fn update_valid(&mut self, state: MetricState) {
        if self.record(Split::Valid, &state) {
            self.forward(|d| d.update_valid(state));
        }
    }

    fn on_train_end(
        &mut self,
        summary: Option<LearnerSummary>,
    ) -> Result<(), Box<dyn std::error::Error>> {
        // Before the dashboard clears it.
        {
            let mut stops = self.stops.lock().expect("stops lock");
            if let Some(interruption) = self.interrupter.interruption() {
                stops.interruption = Some(interruption.reason.unwrap_or_default());
            }
            if let Some(error) = self.interrupter.error() {
                stops.error = Some(error.to_string());
            }
        }
        // Plain mode prints its own summary (the test metrics) afterwards.
        match self.dashboard.as_deref_mut() {
            Some(dashboard) => dashboard.on_train_end(summary),
            None => Ok(()),
        }
    }
}

impl TrainingProgressLogger for EpochRenderer {
    fn start(
        &mut self,
        total_epochs: usize,
        starting_epoch: usize,
        total_items: Option<usize>,
        label: Option<&str>,
    ) {
        self.total_epochs = total_epochs;
        self.forward(|d| d.start(total_epochs, starting_epoch, total_items, label));
    }

    fn update_epoch(&mut self, epoch: usize) {
        self.finish_epoch(epoch);
        self.forward(|d| d.update_epoch(epoch));
    }

    fn start_split(&mut self, split: &str, total_items: usize) {
        self.split = if split == "train" {
            self.epoch_started = Instant::now();
            Split::Train
        } else {
            Split::Valid
        };
        self.items_seen = 0;
        self.forward(|d| d.start_split(split, total_items));
    }

    fn update_split(&mut self, items_processed: usize) {
        let batch_size = match self.split {
            Split::Train => self.batch_sizes.0,
            Split::Valid => self.batch_sizes.1,
        };
        let items = items_processed.saturating_sub(self.items_seen);
        self.batches_reported = items.div_ceil(batch_size.max(1));
        self.items_seen = items_processed;
        self.forward(|d| d.update_split(items_processed));
    }

    fn end_split(&mut self) {
        self.forward(|d| d.end_split());
    }

    fn end(&mut self) {
        self.forward(|d| d.end());
    }

    fn log_event_training(&mut self, event: String) {
        // Burn counts one "Iteration" per item it is sent; the training loop
        // sends one item for every batch since its last report, so the
        // dashboard's counter gets one event per batch.
        let repeats = match event.as_str() {
            "Iteration" => self.batches_reported.max(1),
            _ => 1,
        };
        for _ in 0..repeats {
            self.forward(|d| d.log_event_training(event.clone()));
        }
    }
}

impl EvaluationProgressLogger for EpochRenderer {
    fn start_global_progress(&mut self, total_tests: usize) {
        self.forward(|d| d.start_global_progress(total_tests));
    }

    fn start_test(&mut self, name: &str, total_items: usize) {
        self.forward(|d| d.start_test(name, total_items));
    }

    fn update_test_progress(&mut self, items_processed: usize) {
        self.forward(|d| d.update_test_progress(items_processed));
    }

    fn end_test(&mut self) {
        self.forward(|d| d.end_test());
    }

    fn end_global_progress(&mut self) {
        self.forward(|d| d.end_global_progress());
    }

    fn log_event_evaluation(&mut self, event: String) {
        self.forward(|d| d.log_event_evaluation(event));
    }
}

impl MetricsRendererEvaluation for EpochRenderer {
    fn update_test(&mut self, name: EvaluationName, state: MetricState) {
        self.forward(|d| d.update_test(name, state));
    }
}

impl MetricsRenderer for EpochRenderer {
    fn manual_close(&mut self) {
        self.forward(|d| d.manual_close());
    }

    fn register_metric(&mut self, definition: MetricDefinition) {
        self.names
            .insert(definition.metric_id.clone(), definition.name.clone());
        self.forward(|d| d.register_metric(definition));
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

    /// A plain renderer with the loss and accuracy registered.
    fn renderer() -> (
        EpochRenderer,
        History,
        Interrupter,
        Arc<Mutex<Stops>>,
        MetricId,
        MetricId,
    ) {
        let history = History::default();
        let interrupter = Interrupter::new();
        let stops = Arc::new(Mutex::new(Stops::default()));
        let mut renderer = EpochRenderer::new(
            None,
            history.clone(),
            interrupter.clone(),
            stops.clone(),
            (32, 1000),
        );
        let loss = MetricId::new(Arc::new("Loss".to_string()));
        let accuracy = MetricId::new(Arc::new("Accuracy".to_string()));
        renderer.register_metric(MetricDefinition::new(loss.clone(), &LossMetric::new()));
        renderer.register_metric(MetricDefinition::new(
            accuracy.clone(),
            &AccuracyMetric::new(),
        ));
        (renderer, history, interrupter, stops, loss, accuracy)
    }

    #[test]
    fn keeps_the_final_value_of_each_split_per_epoch() {
        let (mut renderer, history, _, _, loss, accuracy) = renderer();
        renderer.start(2, 1, None, None);
        renderer.start_split("train", 100);
        // Running values are ignored; the split's Final value is kept.
        renderer.update_train(numeric(&loss, NumericEntry::Value(9.0)));
        renderer.update_train(numeric(&loss, NumericEntry::Final(0.25)));
        renderer.update_train(numeric(&accuracy, NumericEntry::Final(92.5)));
        renderer.start_split("valid", 10);
        renderer.update_valid(numeric(&loss, NumericEntry::Final(0.125)));
        renderer.update_valid(numeric(&accuracy, NumericEntry::Final(96.0)));
        renderer.update_epoch(1);

        let epochs = history.lock().unwrap().clone();
        assert_eq!(epochs.len(), 1);
        let epoch = &epochs[0];
        assert_eq!(epoch.epoch, 1);
        assert_eq!((epoch.train_loss, epoch.train_accuracy), (0.25, 0.925));
        assert_eq!((epoch.valid_loss, epoch.valid_accuracy), (0.125, 0.96));
        assert!(epoch.seconds >= 0.0);
        assert!(epoch.line(2).starts_with("Epoch 1/2 - "));
        assert!(epoch.line(2).ends_with(
            "s - loss: 0.2500 - accuracy: 0.9250 - val_loss: 0.1250 - val_accuracy: 0.9600"
        ));
        assert_eq!(
            epoch.csv_row().split(',').count(),
            EpochMetrics::CSV_HEADER.split(',').count()
        );
    }
}
