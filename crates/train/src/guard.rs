//! The divergence guard: training stops at the first batch whose loss is not
//! a finite number, or once the training loss has stayed far above where it
//! started for a sustained stretch (a learning rate that blows the network up
//! without ever reaching NaN), and the run says where. It also keeps the error
//! when the losses cannot be read back at all. [`Chance`] judges the end: a
//! run whose model is no better than guessing says so.

use std::fmt;
use std::sync::{Arc, Mutex};

use burn::train::Interrupter;
use data::{MnistSplit, NUM_CLASSES};

/// How many times an untrained network's loss the training loss may reach
/// before a stretch of such batches counts as an explosion.
pub const EXPLOSION_FACTOR: f64 = 100.0;
/// An untrained network's loss is measured as the lowest of the first this
/// many training batches: the first runs before any update, so a run that
/// explodes at once still has it. It is taken as at least the loss of a
/// uniform guess, ln(classes): a resumed run starts near zero, and its noise
/// must not count as an explosion.
pub const START_BATCHES: usize = 10;
/// Consecutive training batches above [`EXPLOSION_FACTOR`] times the start that
/// stop training. A momentary spike passes; a network that has blown up does
/// not come back within this many steps.
pub const EXPLOSION_BATCHES: usize = 20;

/// Which pass a batch belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Split {
    Train,
    Valid,
}

/// What went wrong with the loss.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Cause {
    /// The loss became NaN or infinite.
    NotFinite,
    /// The training loss stayed above [`EXPLOSION_FACTOR`] times `untrained`
    /// (an untrained network's mean cross-entropy, see [`START_BATCHES`]) for
    /// [`EXPLOSION_BATCHES`] batches in a row.
    Exploded { untrained: f64 },
}

/// A loss that diverged: where, and how.
#[derive(Clone, Debug, PartialEq)]
pub struct Divergence {
    /// 1-based.
    pub epoch: usize,
    /// 1-based batch of that epoch's split.
    pub batch: usize,
    pub split: Split,
    /// The batch's mean loss: NaN or infinite, or the last of the stretch
    /// above the limit.
    pub loss: f64,
    pub cause: Cause,
}

impl fmt::Display for Divergence {
    /// `the training loss became NaN at epoch 1, batch 2`, or `the training loss
    /// stayed above 100 times an untrained network's (2.345) for 20 batches in
    /// a row, reaching 5.972e3 at epoch 1, batch 21`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let split = match self.split {
            Split::Train => "training",
            Split::Valid => "evaluation",
        };
        match self.cause {
            Cause::NotFinite => write!(f, "the {split} loss became {}", self.loss)?,
            Cause::Exploded { untrained } => write!(
                f,
                "the {split} loss stayed above {EXPLOSION_FACTOR} times an untrained network's \
                 ({untrained:.3}) for {EXPLOSION_BATCHES} batches in a row, reaching {:.3e}",
                self.loss
            )?,
        }
        write!(f, " at epoch {}, batch {}", self.epoch, self.batch)
    }
}

/// What a network that learned nothing scores on a validation set: always
/// answering its most common label.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Chance {
    /// The share of the most common label, a fraction in [0, 1].
    pub accuracy: f64,
    /// The validation set's number of images.
    pub images: usize,
}

impl Chance {
    pub fn of(split: &MnistSplit) -> Self {
        Self {
            accuracy: split.chance_accuracy(),
            images: split.len(),
        }
    }

    /// Whether `accuracy` (a fraction, measured on this validation set) beats
    /// chance by more than two standard errors of such a measurement, so that
    /// luck alone does not pass.
    pub fn beaten_by(&self, accuracy: f64) -> bool {
        let p = self.accuracy;
        let standard_error = (p * (1.0 - p) / self.images.max(1) as f64).sqrt();
        accuracy > p + 2.0 * standard_error
    }
}

/// The training losses seen so far: an untrained network's, and the current
/// run of batches above the limit.
#[derive(Default)]
struct Trend {
    /// Training batches seen (up to [`START_BATCHES`] is all that matters).
    seen: usize,
    /// The lowest loss of the first [`START_BATCHES`] batches.
    start: f64,
    /// Consecutive batches above the limit, up to the latest.
    above: usize,
}

impl Trend {
    /// An untrained network's loss: see [`START_BATCHES`].
    fn untrained(&self) -> f64 {
        self.start.max((NUM_CLASSES as f64).ln())
    }

    /// Takes one training batch's (finite) loss; true when it ends a stretch
    /// of [`EXPLOSION_BATCHES`] above the limit.
    fn exploded(&mut self, loss: f64) -> bool {
        if self.seen < START_BATCHES {
            self.start = if self.seen == 0 {
                loss
            } else {
                self.start.min(loss)
            };
            self.seen += 1;
        }
        if loss > EXPLOSION_FACTOR * self.untrained() {
            self.above += 1;
        } else {
            self.above = 0;
        }
        self.above >= EXPLOSION_BATCHES
    }
}

/// Checks every batch's loss as the training loop reads them back; the first
/// divergence is kept and training is asked to stop.
#[derive(Clone)]
pub struct LossGuard {
    interrupter: Interrupter,
    trend: Arc<Mutex<Trend>>,
    divergence: Arc<Mutex<Option<Divergence>>>,
    failure: Arc<Mutex<Option<String>>>,
}

impl LossGuard {
    pub fn new(interrupter: Interrupter) -> Self {
        Self {
            interrupter,
            trend: Arc::default(),
            divergence: Arc::default(),
            failure: Arc::default(),
        }
    }

    /// `losses` are the mean losses of batches `first_batch, first_batch + 1,
    /// ...` (1-based) of `split` in `epoch`, in the order they ran. Returns
    /// false, having asked training to stop, if one of them is not finite or
    /// ends an explosion of the training loss.
    pub fn check(&self, epoch: usize, split: Split, first_batch: usize, losses: &[f64]) -> bool {
        let mut trend = self.trend.lock().expect("trend lock");
        let found = losses.iter().enumerate().find_map(|(offset, &loss)| {
            let cause = if !loss.is_finite() {
                Cause::NotFinite
            } else if split == Split::Train && trend.exploded(loss) {
                Cause::Exploded {
                    untrained: trend.untrained(),
                }
            } else {
                return None;
            };
            Some(Divergence {
                epoch,
                batch: first_batch + offset,
                split,
                loss,
                cause,
            })
        });
        let Some(found) = found else {
            return true;
        };
        let mut divergence = self.divergence.lock().expect("divergence lock");
        if divergence.is_none() {
            let reason = match found.cause {
                Cause::NotFinite => "the loss is not a finite number",
                Cause::Exploded { .. } => "the training loss exploded",
            };
            *divergence = Some(found);
            self.interrupter.stop(Some(reason));
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
            cause: Cause::NotFinite,
        };
        assert_eq!(guard.divergence(), Some(seen.clone()));
        assert_eq!(
            seen.to_string(),
            "the training loss became inf at epoch 2, batch 43"
        );
        // Later ones do not replace the first.
        assert!(!guard.check(2, Split::Valid, 1, &[f64::NAN]));
        assert_eq!(guard.divergence(), Some(seen));
        assert_eq!(
            interrupter.get_message().as_deref(),
            Some("the loss is not a finite number")
        );
    }

    /// MNIST's test set: 1,135 of its 10,000 digits are ones, and two standard
    /// errors of an accuracy near 11.35% over 10,000 images are 0.63%.
    #[test]
    fn chance_is_beaten_only_beyond_two_standard_errors() {
        let mnist_test = Chance {
            accuracy: 0.1135,
            images: 10_000,
        };
        assert!(!mnist_test.beaten_by(0.0958));
        assert!(!mnist_test.beaten_by(0.1190));
        assert!(mnist_test.beaten_by(0.1205));
        assert!(mnist_test.beaten_by(0.9664));
        let split = MnistSplit::new(vec![0; 4 * data::IMAGE_PIXELS], vec![1, 2, 2, 2]).unwrap();
        assert_eq!(
            Chance::of(&split),
            Chance {
                accuracy: 0.75,
                images: 4
            }
        );
    }

    #[test]
    fn a_loss_that_stays_far_above_an_untrained_networks_stops_training() {
        let interrupter = Interrupter::new();
        let guard = LossGuard::new(interrupter.clone());
        // The untrained network's loss is the lowest of the first 10 batches,
        // 2.5, even though batch 3 already jumped (a run that explodes at once).
        let mut losses = vec![2.8, 2.5, 900.0, 2.6, 2.7, 2.7, 2.6, 2.5, 2.5, 2.6];
        assert!(guard.check(1, Split::Train, 1, &losses));
        // A spike of 19 batches above 100 x 2.5 = 250 passes...
        losses = vec![1e6; EXPLOSION_BATCHES - 1];
        losses.push(249.0);
        assert!(guard.check(1, Split::Train, 11, &losses));
        // ...and evaluation losses never count towards the stretch.
        assert!(guard.check(1, Split::Valid, 1, &[1e9; 30]));
        assert!(!interrupter.should_stop());
        // 20 in a row stop it at the 20th: batches 31 to 50.
        losses = vec![251.0; EXPLOSION_BATCHES + 5];
        losses[EXPLOSION_BATCHES - 1] = 8.6e10;
        assert!(!guard.check(2, Split::Train, 31, &losses));
        assert!(interrupter.should_stop());
        let divergence = guard.divergence().unwrap();
        assert_eq!(
            divergence,
            Divergence {
                epoch: 2,
                batch: 50,
                split: Split::Train,
                loss: 8.6e10,
                cause: Cause::Exploded { untrained: 2.5 },
            }
        );
        assert_eq!(
            divergence.to_string(),
            "the training loss stayed above 100 times an untrained network's (2.500) for 20 \
             batches in a row, reaching 8.600e10 at epoch 2, batch 50"
        );
        assert_eq!(
            interrupter.get_message().as_deref(),
            Some("the training loss exploded")
        );
    }

    /// A resumed run starts from a trained network, its loss near zero: the
    /// limit stays 100 times a uniform guess's, 100 ln 10 = 230.3.
    #[test]
    fn a_resumed_run_near_zero_is_not_an_explosion() {
        let interrupter = Interrupter::new();
        let guard = LossGuard::new(interrupter.clone());
        assert!(guard.check(150, Split::Train, 1, &[1e-6; 10]));
        assert!(guard.check(150, Split::Train, 11, &[0.5; 100]));
        assert!(guard.check(150, Split::Train, 111, &[230.0; 100]));
        assert!(!guard.check(150, Split::Train, 211, &[231.0; 20]));
        let Some(Divergence {
            cause: Cause::Exploded { untrained },
            ..
        }) = guard.divergence()
        else {
            panic!("no explosion: {:?}", guard.divergence());
        };
        assert_eq!(untrained, 10f64.ln());
    }
}
