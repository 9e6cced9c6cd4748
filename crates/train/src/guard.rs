//! The divergence guard: training stops at the first batch whose loss is not
//! a finite number, and the run says where. It also keeps the error when the
//! losses cannot be read back at all.

use std::sync::{Arc, Mutex};

use burn::train::Interrupter;

/// Which pass a batch belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Split {
    Train,
    Valid,
}

/// A loss that stopped being a finite number: where it happened.
#[derive(Clone, Debug, PartialEq)]
pub struct Divergence {
    /// 1-based.
    pub epoch: usize,
    /// 1-based batch of that epoch's split.
    pub batch: usize,
    pub split: Split,
    /// The batch's mean loss (NaN or infinite).
    pub loss: f64,
}

/// Checks every batch's loss as the training loop reads them back; the first
/// non-finite one is kept and training is asked to stop.
#[derive(Clone)]
pub struct LossGuard {
    interrupter: Interrupter,
    divergence: Arc<Mutex<Option<Divergence>>>,
    failure: Arc<Mutex<Option<String>>>,
}

impl LossGuard {
    pub fn new(interrupter: Interrupter) -> Self {
        Self {
            interrupter,
            divergence: Arc::default(),
            failure: Arc::default(),
        }
    }

    /// `losses` are the mean losses of batches `first_batch, first_batch + 1,
    /// ...` (1-based) of `split` in `epoch`. Returns false, having asked
    /// training to stop, if one of them is not finite.
    pub fn check(&self, epoch: usize, split: Split, first_batch: usize, losses: &[f64]) -> bool {
        let Some(offset) = losses.iter().position(|loss| !loss.is_finite()) else {
            return true;
        };
        let mut divergence = self.divergence.lock().expect("divergence lock");
        if divergence.is_none() {
            *divergence = Some(Divergence {
                epoch,
                batch: first_batch + offset,
                split,
                loss: losses[offset],
            });
            self.interrupter
                .stop(Some("the loss is not a finite number"));
        }
        false
    }

    /// The losses could not be read: training stops with `message`.
    pub fn fail(&self, message: String) {
        self.interrupter.stop(Some(&message));
        self.failure
            .lock()
            .expect("failure lock")
            .get_or_insert(message);
    }

    /// The first failure to read the losses, if any.
    pub fn failure(&self) -> Option<String> {
        self.failure.lock().expect("failure lock").clone()
    }

    /// The first divergence seen, if any.
    pub fn divergence(&self) -> Option<Divergence> {
        self.divergence.lock().expect("divergence lock").clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_non_finite_loss_stops_training_and_says_where() {
        let interrupter = Interrupter::new();
        let guard = LossGuard::new(interrupter.clone());
        assert!(guard.check(1, Split::Train, 1, &[2.0, 1.5, 1.0]));
        assert!(!interrupter.should_stop() && guard.divergence().is_none());

        assert!(!guard.check(2, Split::Train, 41, &[3.0, 4.0, f64::INFINITY, f64::NAN]));
        assert!(interrupter.should_stop());
        let seen = Divergence {
            epoch: 2,
            batch: 43,
            split: Split::Train,
            loss: f64::INFINITY,
        };
        assert_eq!(guard.divergence(), Some(seen.clone()));
        // Later ones do not replace the first.
        assert!(!guard.check(2, Split::Valid, 1, &[f64::NAN]));
        assert_eq!(guard.divergence(), Some(seen));
        assert_eq!(
            interrupter.get_message().as_deref(),
            Some("the loss is not a finite number")
        );
    }
}
