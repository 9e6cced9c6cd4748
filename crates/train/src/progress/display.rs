//! What the user sees while the network trains: Burn's terminal dashboard,
//! or, when stdout is not a terminal (or with `--plain`), one line per epoch
//! like Keras's `verbose=2`. (Burn's own fallback prints a debug line per
//! batch: about 2,000 lines an epoch.)

use burn::train::LearnerSummary;
use burn::train::renderer::{MetricState, MetricsRenderer};
use run::EpochMetrics;

use crate::guard::Split;

/// The dashboard or the plain lines.
pub enum Display {
    Dashboard(Dashboard),
    /// One line per epoch on stdout.
    Plain {
        total_epochs: usize,
    },
}

/// Burn's dashboard, told one "Iteration" per batch.
pub struct Dashboard {
    tui: Box<dyn MetricsRenderer>,
    /// Images per batch in the training and the evaluation pass.
    batch_sizes: (usize, usize),
    /// The pass in progress, and the images of it reported so far.
    split: Split,
    items_seen: usize,
    /// Batches covered by the latest report.
    batches_reported: usize,
}

impl Display {
    /// Burn's dashboard `tui`, for training batches of `batch_sizes.0` images
    /// and evaluation batches of `batch_sizes.1`.
    pub fn dashboard(tui: Box<dyn MetricsRenderer>, batch_sizes: (usize, usize)) -> Self {
        Self::Dashboard(Dashboard {
            tui,
            batch_sizes,
            split: Split::Train,
            items_seen: 0,
            batches_reported: 0,
        })
    }

    /// Plain lines.
    pub fn plain() -> Self {
        Self::Plain { total_epochs: 0 }
    }

    /// Hands the event to the dashboard, if there is one.
    pub fn forward(&mut self, call: impl FnOnce(&mut dyn MetricsRenderer)) {
        if let Self::Dashboard(dashboard) = self {
            call(dashboard.tui.as_mut());
        }
    }

    pub fn start(
        &mut self,
        total_epochs: usize,
        starting_epoch: usize,
        total_items: Option<usize>,
        label: Option<&str>,
    ) {
        match self {
            Self::Dashboard(d) => d
                .tui
                .start(total_epochs, starting_epoch, total_items, label),
            Self::Plain {
                total_epochs: total,
            } => *total = total_epochs,
        }
    }

    /// A metric's value for `split`, during or at the end of it.
    pub fn update(&mut self, split: Split, state: MetricState) {
        self.forward(|d| match split {
            Split::Train => d.update_train(state),
            Split::Valid => d.update_valid(state),
        });
    }

    /// An epoch ended with `metrics`: plain mode prints its line.
    pub fn epoch_finished(&mut self, metrics: &EpochMetrics) {
        if let Self::Plain { total_epochs } = self {
            // A closed stdout (`| head`) must not stop training.
            console::outln!("{}", metrics.line(*total_epochs));
        }
    }

    /// Burn starts the split it calls `name`.
    pub fn start_split(&mut self, split: Split, name: &str, total_items: usize) {
        if let Self::Dashboard(d) = self {
            d.split = split;
            d.items_seen = 0;
            d.tui.start_split(name, total_items);
        }
    }

    pub fn update_split(&mut self, items_processed: usize) {
        if let Self::Dashboard(d) = self {
            let batch_size = match d.split {
                Split::Train => d.batch_sizes.0,
                Split::Valid => d.batch_sizes.1,
            };
            let items = items_processed.saturating_sub(d.items_seen);
            d.batches_reported = items.div_ceil(batch_size.max(1));
            d.items_seen = items_processed;
            d.tui.update_split(items_processed);
        }
    }

    pub fn log_event_training(&mut self, event: String) {
        if let Self::Dashboard(d) = self {
            // Burn counts one "Iteration" per item it is sent; the training
            // loop sends one item for every batch since its last report, so
            // the dashboard's counter gets one event per batch.
            let repeats = match event.as_str() {
                "Iteration" => d.batches_reported.max(1),
                _ => 1,
            };
            for _ in 0..repeats {
                d.tui.log_event_training(event.clone());
            }
        }
    }

    pub fn on_train_end(
        &mut self,
        summary: Option<LearnerSummary>,
    ) -> Result<(), Box<dyn std::error::Error>> {
        match self {
            Self::Dashboard(d) => d.tui.on_train_end(summary),
            // Plain mode prints its own summary (the test metrics) afterwards.
            Self::Plain { .. } => Ok(()),
        }
    }
}
