//! `[validation]` and `[augment]`.

use serde::{Deserialize, Serialize};

/// `[validation]`: what the model is validated on after each epoch, and what
/// that decides.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ValidationSection {
    /// Fraction of the training set held out for validation, drawn with the
    /// seed, in [0, 1). 0: the test set is the validation data, as the
    /// tutorial's `validation_data=(x_test, y_test)`.
    pub split: f64,
    /// The seed the held-out images are drawn with; absent: the run's
    /// `seed`. Runs of different seeds given the same one hold out the
    /// same images, so a committee of them can be judged on those.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Stop when the validation loss has not improved for this many epochs;
    /// 0 is off.
    pub patience: usize,
    /// Keep the weights of the epoch with the lowest validation loss as the
    /// run's model instead of the last epoch's.
    pub keep_best: bool,
}

impl ValidationSection {
    /// The seed the held-out images are drawn with, for a run seeded `run_seed`.
    pub fn holdout_seed(&self, run_seed: u64) -> u64 {
        self.seed.unwrap_or(run_seed)
    }
}

/// `[augment]`: random distortions of the training images, drawn anew for
/// every image in every epoch (`data::Distortion` draws them). All 0, the default, is
/// none: the tutorial.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AugmentSection {
    /// Largest rotation either way, in degrees (0 to 180).
    pub rotation: f32,
    /// Largest relative change of size either way (0 to 0.5): 0.1 scales by
    /// a factor from [0.9, 1.1].
    pub scale: f32,
    /// Largest horizontal shear either way, in degrees (0 to 60).
    pub shear: f32,
    /// Largest shift either way along each axis, in pixels (0 to 14).
    pub translation: f32,
    /// Scale of the elastic displacement field, in pixels (0 is off; Simard's is 34).
    pub elastic_alpha: f32,
    /// Width of the Gaussian smoothing it, in pixels (Simard's is 4); needed
    /// when `elastic_alpha` is set.
    pub elastic_sigma: f32,
}

impl AugmentSection {
    /// Every range 0, as when `[augment]` is absent: then a run's
    /// `config.toml` leaves the section out.
    pub fn is_unset(&self) -> bool {
        *self == Self::default()
    }
}
