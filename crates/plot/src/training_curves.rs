//! Training curves of one run: loss (left panel) and accuracy (right panel)
//! per epoch, the training series against the validation series.

use plotters::prelude::*;

use crate::canvas::{
    AXIS_DESC_SIZE, Area, GRID, LABEL_SIZE, Y_LABELS, check_finite, check_fraction, draw_legend,
    draw_line_series, epoch_axis, padded_range, render_png, text, tick_label, titled,
};
use crate::error::PlotError;

/// Width of the picture [`training_curves`] draws, in pixels.
pub const TRAINING_CURVES_WIDTH: u32 = 1200;
/// Height of the picture [`training_curves`] draws, in pixels.
pub const TRAINING_CURVES_HEIGHT: u32 = 600;

/// Series numbers, which pick the colours: blue and orange.
const TRAINING: usize = 0;
const VALIDATION: usize = 1;

/// One finished epoch. Accuracies are fractions in [0, 1]; losses mean cross-entropy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpochPoint {
    /// The epoch's number (usually 1-based); epochs must increase along a history.
    pub epoch: usize,
    /// Mean cross-entropy over the training split (≥ 0).
    pub train_loss: f64,
    /// Fraction of the training split classified right, in [0, 1].
    pub train_accuracy: f64,
    /// Mean cross-entropy over the validation split (≥ 0).
    pub valid_loss: f64,
    /// Fraction of the validation split classified right, in [0, 1].
    pub valid_accuracy: f64,
}

/// Loss and accuracy per epoch, training against validation, as a
/// [`TRAINING_CURVES_WIDTH`] x [`TRAINING_CURVES_HEIGHT`] PNG: two panels side
/// by side (loss left, accuracy right in percent), each with its "training"
/// and "validation" series on shared axes, x axis "epoch" with integer ticks.
/// `title` (e.g. the run name) goes on top. Every point also gets a marker
/// when there are at most 40 epochs, so a single epoch still shows.
///
/// Errors: no epochs, epochs that do not increase, a loss that is negative or
/// not finite, an accuracy outside [0, 1].
pub fn training_curves(title: &str, epochs: &[EpochPoint]) -> Result<Vec<u8>, PlotError> {
    validate(epochs)?;
    render_png(TRAINING_CURVES_WIDTH, TRAINING_CURVES_HEIGHT, |root| {
        let body = titled(root, title)?;
        let (left, right) = body.split_horizontally(TRAINING_CURVES_WIDTH / 2);

        let loss = |f: fn(&EpochPoint) -> f64| -> Vec<(f64, f64)> {
            epochs.iter().map(|e| (e.epoch as f64, f(e))).collect()
        };
        let max_loss = epochs
            .iter()
            .map(|e| e.train_loss.max(e.valid_loss))
            .fold(0.0, f64::max);
        let loss_range = 0.0..if max_loss > 0.0 {
            (max_loss * 1.08).min(f64::MAX)
        } else {
            1.0
        };
        panel(
            &left,
            epochs,
            Panel {
                caption: "loss",
                y_desc: "loss (cross-entropy)",
                y_range: loss_range,
                train: loss(|e| e.train_loss),
                valid: loss(|e| e.valid_loss),
                legend: SeriesLabelPosition::UpperRight,
            },
        )?;

        let percent = |f: fn(&EpochPoint) -> f64| -> Vec<(f64, f64)> {
            epochs
                .iter()
                .map(|e| (e.epoch as f64, 100.0 * f(e)))
                .collect()
        };
        let train = percent(|e| e.train_accuracy);
        let valid = percent(|e| e.valid_accuracy);
        let (min, max) = train
            .iter()
            .chain(&valid)
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &(_, y)| {
                (lo.min(y), hi.max(y))
            });
        panel(
            &right,
            epochs,
            Panel {
                caption: "accuracy",
                y_desc: "accuracy (%)",
                y_range: padded_range(min, max, 2.0, 0.0, 100.0),
                train,
                valid,
                legend: SeriesLabelPosition::LowerRight,
            },
        )
    })
}

/// What one of the two panels shows.
struct Panel {
    caption: &'static str,
    y_desc: &'static str,
    y_range: std::ops::Range<f64>,
    train: Vec<(f64, f64)>,
    valid: Vec<(f64, f64)>,
    legend: SeriesLabelPosition,
}

fn panel(area: &Area, epochs: &[EpochPoint], panel: Panel) -> Result<(), PlotError> {
    let first = epochs[0].epoch;
    let last = epochs[epochs.len() - 1].epoch;
    let y_span = panel.y_range.end - panel.y_range.start;
    let mut chart = ChartBuilder::on(area)
        .caption(panel.caption, text(AXIS_DESC_SIZE))
        .margin(15)
        .margin_right(25)
        .x_label_area_size(55)
        .y_label_area_size(85)
        .build_cartesian_2d(epoch_axis(first, last), panel.y_range)?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc(panel.y_desc)
        .axis_desc_style(text(AXIS_DESC_SIZE))
        .label_style(text(LABEL_SIZE))
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| tick_label(*y, y_span))
        .y_labels(Y_LABELS)
        .bold_line_style(GRID)
        .light_line_style(WHITE)
        .draw()?;
    draw_line_series(&mut chart, &panel.train, TRAINING, "training")?;
    draw_line_series(&mut chart, &panel.valid, VALIDATION, "validation")?;
    draw_legend(&mut chart, panel.legend)
}

fn validate(epochs: &[EpochPoint]) -> Result<(), PlotError> {
    if epochs.is_empty() {
        return Err(PlotError::NoEpochs);
    }
    for pair in epochs.windows(2) {
        if pair[1].epoch <= pair[0].epoch {
            return Err(PlotError::invalid(format!(
                "epochs must increase, but epoch {} follows epoch {}",
                pair[1].epoch, pair[0].epoch
            )));
        }
    }
    for e in epochs {
        for (loss, name) in [(e.train_loss, "training"), (e.valid_loss, "validation")] {
            let what = format!("epoch {}: {name} loss", e.epoch);
            check_finite(loss, &what)?;
            if loss < 0.0 {
                return Err(PlotError::invalid(format!(
                    "{what} is {loss}, but cross-entropy is never negative"
                )));
            }
        }
        for (accuracy, name) in [
            (e.train_accuracy, "training"),
            (e.valid_accuracy, "validation"),
        ] {
            check_fraction(accuracy, &format!("epoch {}: {name} accuracy", e.epoch))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canvas::testing::{decode, differing, non_white};

    /// A plausible history: loss falls, accuracy rises towards 98%.
    fn history(epochs: usize) -> Vec<EpochPoint> {
        (1..=epochs)
            .map(|epoch| {
                let t = epoch as f64;
                EpochPoint {
                    epoch,
                    train_loss: 0.6 / t,
                    train_accuracy: 0.99 - 0.1 / t,
                    valid_loss: 0.5 / t + 0.02,
                    valid_accuracy: 0.98 - 0.08 / t,
                }
            })
            .collect()
    }

    #[test]
    fn draws_a_picture_of_the_documented_size() {
        let image = decode(&training_curves("run 1", &history(10)).unwrap());
        assert_eq!(
            image.dimensions(),
            (TRAINING_CURVES_WIDTH, TRAINING_CURVES_HEIGHT)
        );
        assert!(
            non_white(&image) > 20_000,
            "{} ink pixels",
            non_white(&image)
        );
    }

    #[test]
    fn a_single_epoch_still_draws_its_points() {
        let axes_only = decode(&training_curves("run", &history(1)).unwrap());
        let mut moved = history(1);
        moved[0].valid_accuracy = 0.5;
        let other = decode(&training_curves("run", &moved).unwrap());
        assert!(differing(&axes_only, &other) > 50);
    }

    #[test]
    fn different_histories_give_different_pictures() {
        let a = decode(&training_curves("run", &history(8)).unwrap());
        let mut changed = history(8);
        changed[4].valid_loss = 0.4;
        let b = decode(&training_curves("run", &changed).unwrap());
        assert!(
            differing(&a, &b) > 100,
            "{} pixels differ",
            differing(&a, &b)
        );
    }

    #[test]
    fn extreme_values_still_draw() {
        let mut extreme = history(2);
        extreme[0].train_loss = f64::MAX;
        extreme[1].epoch = usize::MAX;
        extreme[1].valid_loss = 0.0;
        let image = decode(&training_curves("extreme", &extreme).unwrap());
        assert_eq!(
            image.dimensions(),
            (TRAINING_CURVES_WIDTH, TRAINING_CURVES_HEIGHT)
        );
    }

    #[test]
    fn bad_inputs_are_errors_that_name_the_problem() {
        let error = |epochs: &[EpochPoint]| training_curves("t", epochs).unwrap_err().to_string();
        assert_eq!(error(&[]), "no epochs to plot");

        let mut nan = history(3);
        nan[1].valid_loss = f64::NAN;
        assert_eq!(
            error(&nan),
            "epoch 2: validation loss is NaN, not a finite number"
        );

        let mut percent = history(3);
        percent[2].train_accuracy = 97.0;
        assert_eq!(
            error(&percent),
            "epoch 3: training accuracy is 97, outside [0, 1] (a fraction, not a percentage)"
        );

        let mut negative = history(2);
        negative[0].train_loss = -0.1;
        assert_eq!(
            error(&negative),
            "epoch 1: training loss is -0.1, but cross-entropy is never negative"
        );

        let mut unordered = history(3);
        unordered[2].epoch = 1;
        assert_eq!(
            error(&unordered),
            "epochs must increase, but epoch 1 follows epoch 2"
        );
    }
}
