//! Gradient norms: the mean L2 norm of each layer's weight gradient per
//! epoch, one line per layer, on a log scale.

use plotters::prelude::*;

use crate::canvas::{
    AXIS_DESC_SIZE, GRID, LABEL_SIZE, check_finite, draw_legend, draw_line_series, epoch_axis,
    render_png, text, titled,
};
use crate::error::PlotError;

/// Width of the picture [`grad_norms`] draws, in pixels.
pub const GRAD_NORMS_WIDTH: u32 = 1000;
/// Height of the picture [`grad_norms`] draws, in pixels.
pub const GRAD_NORMS_HEIGHT: u32 = 600;

/// Gradient norm of each layer's weight matrix per epoch as a
/// [`GRAD_NORMS_WIDTH`] x [`GRAD_NORMS_HEIGHT`] PNG: `per_epoch[e][l]` is the
/// mean gradient L2 norm of layer `l + 1` during epoch `e + 1` (every row as
/// long: one value per layer). One line per layer, named "layer 1 (input
/// side)", "layer 2", ... "layer N (output)"; x axis "epoch", log-scale y
/// axis "mean gradient L2 norm".
///
/// `y_range` = `Some((low, high))` fixes the y axis (0 < low < high), e.g. to
/// compare two such charts side by side; `None` fits it to the data.
///
/// Errors: no epochs, an epoch without layers or with another number of
/// layers than the first, a value that is not finite or not > 0 (naming the
/// epoch and layer), an invalid `y_range` or a value outside it.
pub fn grad_norms(
    title: &str,
    per_epoch: &[Vec<f64>],
    y_range: Option<(f64, f64)>,
) -> Result<Vec<u8>, PlotError> {
    let layers = validate(per_epoch)?;
    let (low, high) = match y_range {
        Some(range) => check_range(range, per_epoch)?,
        None => fit_range(per_epoch),
    };
    let ticks = log_ticks(low, high);
    render_png(GRAD_NORMS_WIDTH, GRAD_NORMS_HEIGHT, |root| {
        let body = titled(root, title)?;
        let mut chart = ChartBuilder::on(&body)
            .margin(15)
            .margin_right(30)
            .x_label_area_size(55)
            .y_label_area_size(95)
            .build_cartesian_2d(
                epoch_axis(1, per_epoch.len()),
                (low..high).log_scale().with_key_points(ticks),
            )?;
        chart
            .configure_mesh()
            .x_desc("epoch")
            .y_desc("mean gradient L2 norm")
            .axis_desc_style(text(AXIS_DESC_SIZE))
            .label_style(text(LABEL_SIZE))
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| log_tick_label(*y))
            .bold_line_style(GRID)
            .light_line_style(WHITE)
            .draw()?;
        for layer in 0..layers {
            let points: Vec<(f64, f64)> = per_epoch
                .iter()
                .enumerate()
                .map(|(e, row)| ((e + 1) as f64, row[layer]))
                .collect();
            draw_line_series(&mut chart, &points, layer, &layer_name(layer, layers))?;
        }
        draw_legend(&mut chart, SeriesLabelPosition::UpperRight)
    })
}

/// "layer 1 (input side)", "layer 2", ..., "layer N (output)".
fn layer_name(layer: usize, layers: usize) -> String {
    let number = layer + 1;
    match (layer == 0, number == layers) {
        (true, true) => format!("layer {number} (input side, output)"),
        (true, false) => format!("layer {number} (input side)"),
        (false, true) => format!("layer {number} (output)"),
        (false, false) => format!("layer {number}"),
    }
}

/// A range around all values, padded by a factor of 1.5 (2 when they are
/// all equal) on each side.
fn fit_range(per_epoch: &[Vec<f64>]) -> (f64, f64) {
    let (min, max) = per_epoch
        .iter()
        .flatten()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    let pad = if max / min < 1.5 { 2.0 } else { 1.5 };
    (
        (min / pad).max(f64::MIN_POSITIVE),
        (max * pad).min(f64::MAX),
    )
}

/// Ticks of a log axis from `low` to `high`: 1, 2 and 5 times the powers of
/// ten in between, thinned to powers of ten when there are too many, or
/// filled in with 1..9 times them when there are too few.
fn log_ticks(low: f64, high: f64) -> Vec<f64> {
    let first = low.log10().floor() as i32;
    let last = high.log10().ceil() as i32;
    let ticks = |multiples: &[f64], every: i32| -> Vec<f64> {
        (first..=last)
            .filter(|k| k.rem_euclid(every) == 0)
            .flat_map(|k| multiples.iter().map(move |m| m * 10f64.powi(k)))
            .filter(|t| (low..=high).contains(t))
            .collect()
    };
    let nice = ticks(&[1.0, 2.0, 5.0], 1);
    if nice.len() > 12 {
        let decades = ticks(&[1.0], 1);
        let every = (decades.len() as i32).div_euclid(10) + 1;
        ticks(&[1.0], every)
    } else if nice.len() < 3 {
        ticks(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0], 1)
    } else {
        nice
    }
}

/// A log-axis tick label: "0.002", "0.5", "20" between 0.001 and 10000,
/// "2e-5", "1e6" outside.
fn log_tick_label(value: f64) -> String {
    let exponent = value.log10().floor() as i32;
    let mantissa = (value / 10f64.powi(exponent) * 10.0).round() / 10.0;
    if (-3..4).contains(&exponent) {
        let decimals = (-exponent + i32::from(mantissa.fract() != 0.0)).max(0) as usize;
        format!("{value:.decimals$}")
    } else {
        format!("{mantissa}e{exponent}")
    }
}

/// The number of layers, or what is wrong with the values.
fn validate(per_epoch: &[Vec<f64>]) -> Result<usize, PlotError> {
    let Some(first) = per_epoch.first() else {
        return Err(PlotError::NoEpochs);
    };
    let layers = first.len();
    if layers == 0 {
        return Err(PlotError::invalid("epoch 1 has no layers"));
    }
    for (e, row) in per_epoch.iter().enumerate() {
        if row.len() != layers {
            return Err(PlotError::invalid(format!(
                "epoch {} has {} layers but epoch 1 has {layers}",
                e + 1,
                row.len()
            )));
        }
        for (l, &value) in row.iter().enumerate() {
            let what = format!("epoch {}, layer {}: gradient norm", e + 1, l + 1);
            check_finite(value, &what)?;
            if value <= 0.0 {
                return Err(PlotError::invalid(format!(
                    "{what} is {value}, but a log scale needs values > 0"
                )));
            }
        }
    }
    Ok(layers)
}

/// `range` if it is a valid log range that holds every value.
fn check_range(range: (f64, f64), per_epoch: &[Vec<f64>]) -> Result<(f64, f64), PlotError> {
    let (low, high) = range;
    if !(low.is_finite() && high.is_finite() && 0.0 < low && low < high) {
        return Err(PlotError::invalid(format!(
            "y range ({low}, {high}) must have 0 < low < high"
        )));
    }
    for (e, row) in per_epoch.iter().enumerate() {
        for (l, &value) in row.iter().enumerate() {
            if !(low..=high).contains(&value) {
                return Err(PlotError::invalid(format!(
                    "epoch {}, layer {}: gradient norm {value} is outside the y range ({low}, {high})",
                    e + 1,
                    l + 1
                )));
            }
        }
    }
    Ok(range)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canvas::testing::{decode, differing, non_white};

    /// Three layers whose norms shrink over `epochs` epochs, the input side
    /// largest.
    fn norms(epochs: usize) -> Vec<Vec<f64>> {
        (1..=epochs)
            .map(|e| {
                let decay = 1.0 / (e as f64).sqrt();
                vec![0.08 * decay, 0.03 * decay, 0.01 * decay]
            })
            .collect()
    }

    #[test]
    fn draws_a_picture_of_the_documented_size() {
        let image = decode(&grad_norms("gradients", &norms(10), None).unwrap());
        assert_eq!(image.dimensions(), (GRAD_NORMS_WIDTH, GRAD_NORMS_HEIGHT));
        assert!(
            non_white(&image) > 15_000,
            "{} ink pixels",
            non_white(&image)
        );
    }

    #[test]
    fn a_changed_norm_or_range_changes_the_picture() {
        let a = decode(&grad_norms("g", &norms(10), None).unwrap());
        let mut changed = norms(10);
        changed[5][1] = 0.002;
        let b = decode(&grad_norms("g", &changed, None).unwrap());
        assert!(
            differing(&a, &b) > 100,
            "{} pixels differ",
            differing(&a, &b)
        );
        let shared = decode(&grad_norms("g", &norms(10), Some((1e-4, 1.0))).unwrap());
        assert!(differing(&a, &shared) > 100);
    }

    #[test]
    fn ticks_and_labels() {
        assert_eq!(log_ticks(0.001, 1.0).len(), 10);
        let filled = log_ticks(0.02, 0.08);
        let expected = [0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08];
        assert_eq!(filled.len(), expected.len(), "{filled:?}");
        assert!(
            filled
                .iter()
                .zip(expected)
                .all(|(t, e)| (t - e).abs() < 1e-12)
        );
        assert!(log_ticks(1e-12, 1e6).len() <= 12);
        assert_eq!(log_tick_label(0.002), "0.002");
        assert_eq!(log_tick_label(0.05), "0.05");
        assert_eq!(log_tick_label(20.0), "20");
        assert_eq!(log_tick_label(2e-5), "2e-5");
        assert_eq!(log_tick_label(1e6), "1e6");
        assert_eq!(layer_name(0, 3), "layer 1 (input side)");
        assert_eq!(layer_name(1, 3), "layer 2");
        assert_eq!(layer_name(2, 3), "layer 3 (output)");
    }

    #[test]
    fn extreme_values_still_draw() {
        for values in [
            vec![vec![1e-300, 1e300]],
            vec![vec![f64::MIN_POSITIVE, f64::MAX]],
            vec![vec![1.0]],
        ] {
            let image = decode(&grad_norms("extreme", &values, None).unwrap());
            assert_eq!(image.dimensions(), (GRAD_NORMS_WIDTH, GRAD_NORMS_HEIGHT));
        }
        let image = decode(&grad_norms("extreme", &[vec![0.5]], Some((1e-300, 1e300))).unwrap());
        assert!(non_white(&image) > 5_000);
    }

    #[test]
    fn bad_inputs_are_errors_that_name_the_problem() {
        let error = |v: &[Vec<f64>], r| grad_norms("t", v, r).unwrap_err().to_string();
        assert_eq!(error(&[], None), "no epochs to plot");
        assert_eq!(error(&[vec![]], None), "epoch 1 has no layers");
        let mut ragged = norms(3);
        ragged[2].pop();
        assert_eq!(
            error(&ragged, None),
            "epoch 3 has 2 layers but epoch 1 has 3"
        );
        let mut zero = norms(3);
        zero[1][2] = 0.0;
        assert_eq!(
            error(&zero, None),
            "epoch 2, layer 3: gradient norm is 0, but a log scale needs values > 0"
        );
        let mut nan = norms(3);
        nan[0][1] = f64::NAN;
        assert_eq!(
            error(&nan, None),
            "epoch 1, layer 2: gradient norm is NaN, not a finite number"
        );
        assert_eq!(
            error(&norms(2), Some((0.0, 1.0))),
            "y range (0, 1) must have 0 < low < high"
        );
        assert_eq!(
            error(&[vec![0.5, 0.005]], Some((0.01, 1.0))),
            "epoch 1, layer 2: gradient norm 0.005 is outside the y range (0.01, 1)"
        );
    }
}
