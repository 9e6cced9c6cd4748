//! What Burn reports while the network trains, split by job: [`recorder`]
//! keeps each epoch's figures, [`display`] shows progress (Burn's dashboard
//! or one line per epoch), [`ended`] remembers why training stopped early;
//! [`ProgressRenderer`] is the one [`MetricsRenderer`] Burn is given, and
//! hands every event to them.

pub mod display;
pub mod ended;
pub mod recorder;

use burn::train::LearnerSummary;
use burn::train::logger::{EvaluationProgressLogger, TrainingProgressLogger};
use burn::train::metric::MetricDefinition;
use burn::train::renderer::{
    EvaluationName, MetricState, MetricsRenderer, MetricsRendererEvaluation,
    MetricsRendererTraining,
};

use crate::guard::Split;
use display::Display;
use ended::EndWatch;
use recorder::EpochRecorder;

/// Records every epoch, notes how training ended, and displays progress.
pub struct ProgressRenderer {
    recorder: EpochRecorder,
    ended: EndWatch,
    display: Display,
}

impl ProgressRenderer {
    pub fn new(recorder: EpochRecorder, ended: EndWatch, display: Display) -> Self {
        Self {
            recorder,
            ended,
            display,
        }
    }

    /// Records `state`, then shows it unless it is not finite (a non-finite
    /// value would break the dashboard's plots).
    fn update(&mut self, split: Split, state: MetricState) {
        if self.recorder.record(split, &state) {
            self.display.update(split, state);
        }
    }
}

impl MetricsRendererTraining for ProgressRenderer {
    fn update_train(&mut self, state: MetricState) {
        self.update(Split::Train, state);
    }

    fn update_valid(&mut self, state: MetricState) {
        self.update(Split::Valid, state);
    }

    fn on_train_end(
        &mut self,
        summary: Option<LearnerSummary>,
    ) -> Result<(), Box<dyn std::error::Error>> {
        // Before the dashboard clears the stop request.
        self.ended.note();
        self.display.on_train_end(summary)
    }
}

impl TrainingProgressLogger for ProgressRenderer {
    fn start(
        &mut self,
        total_epochs: usize,
        starting_epoch: usize,
        total_items: Option<usize>,
        label: Option<&str>,
    ) {
        self.display
            .start(total_epochs, starting_epoch, total_items, label);
    }

    fn update_epoch(&mut self, epoch: usize) {
        let metrics = self.recorder.finish_epoch(epoch);
        self.display.epoch_finished(&metrics);
        self.display.forward(|d| d.update_epoch(epoch));
    }

    fn start_split(&mut self, name: &str, total_items: usize) {
        let split = if name == "train" {
            self.recorder.start_epoch();
            Split::Train
        } else {
            Split::Valid
        };
        self.display.start_split(split, name, total_items);
    }

    fn update_split(&mut self, items_processed: usize) {
        self.display.update_split(items_processed);
    }

    fn end_split(&mut self) {
        self.display.forward(|d| d.end_split());
    }

    fn end(&mut self) {
        self.display.forward(|d| d.end());
    }

    fn log_event_training(&mut self, event: String) {
        self.display.log_event_training(event);
    }
}

impl EvaluationProgressLogger for ProgressRenderer {
    fn start_global_progress(&mut self, total_tests: usize) {
        self.display
            .forward(|d| d.start_global_progress(total_tests));
    }

    fn start_test(&mut self, name: &str, total_items: usize) {
        self.display.forward(|d| d.start_test(name, total_items));
    }

    fn update_test_progress(&mut self, items_processed: usize) {
        self.display
            .forward(|d| d.update_test_progress(items_processed));
    }

    fn end_test(&mut self) {
        self.display.forward(|d| d.end_test());
    }

    fn end_global_progress(&mut self) {
        self.display.forward(|d| d.end_global_progress());
    }

    fn log_event_evaluation(&mut self, event: String) {
        self.display.forward(|d| d.log_event_evaluation(event));
    }
}

impl MetricsRendererEvaluation for ProgressRenderer {
    fn update_test(&mut self, name: EvaluationName, state: MetricState) {
        self.display.forward(|d| d.update_test(name, state));
    }
}

impl MetricsRenderer for ProgressRenderer {
    fn manual_close(&mut self) {
        self.display.forward(|d| d.manual_close());
    }

    fn register_metric(&mut self, definition: MetricDefinition) {
        self.recorder.register(&definition);
        self.display.forward(|d| d.register_metric(definition));
    }
}
