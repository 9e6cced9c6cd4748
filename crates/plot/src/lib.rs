//! PNG charts of a training run, drawn with plotters.
//!
//! Every function is pure: numbers in, PNG bytes out (`Result<Vec<u8>,
//! PlotError>`); callers write the files. The pictures have a white
//! background, a title, axis descriptions and legends, and use the embedded
//! DejaVu Sans font, so they look the same on every machine.
//!
//! - [`training_curves`]: loss and accuracy per epoch, training vs validation;
//! - [`confusion_matrix`]: labelled heatmap of true vs predicted digit;
//! - [`misclassified_grid`]: the misclassified images with their captions;
//! - [`sweep_chart`]: validation accuracy per epoch of several runs;
//! - [`grad_norms`]: gradient norm of each layer per epoch, log scale;
//! - [`augmentation_grid`]: training digits next to their distorted versions.

mod augmentation_grid;
mod canvas;
mod confusion_matrix;
mod error;
mod grad_norms;
mod misclassified_grid;
mod sweep_chart;
mod training_curves;

pub use augmentation_grid::{AugmentedDigit, augmentation_grid, augmentation_grid_size};
pub use canvas::IMAGE_SIDE;
pub use confusion_matrix::{MAX_CLASSES, confusion_matrix};
pub use error::PlotError;
pub use grad_norms::{GRAD_NORMS_HEIGHT, GRAD_NORMS_WIDTH, grad_norms};
pub use misclassified_grid::{
    MAX_MISTAKES_SHOWN, MISCLASSIFIED_GRID_WIDTH, MISTAKES_PER_ROW, Mistake, misclassified_grid,
    misclassified_grid_height,
};
pub use sweep_chart::{SWEEP_CHART_HEIGHT, SWEEP_CHART_WIDTH, Series, sweep_chart};
pub use training_curves::{
    EpochPoint, TRAINING_CURVES_HEIGHT, TRAINING_CURVES_WIDTH, training_curves,
};
