//! Sweep chart: the validation accuracy per epoch of several runs, one line
//! per run, to compare the runs of a hyper-parameter sweep.

use plotters::prelude::*;

use crate::canvas::{
    AXIS_DESC_SIZE, GRID, LABEL_SIZE, Y_LABELS, check_fraction, draw_legend, draw_line_series,
    epoch_axis, padded_range, render_png, text, tick_label, titled,
};
use crate::error::PlotError;

/// Width of the picture [`sweep_chart`] draws, in pixels.
pub const SWEEP_CHART_WIDTH: u32 = 1000;
/// Height of the picture [`sweep_chart`] draws, in pixels.
pub const SWEEP_CHART_HEIGHT: u32 = 600;

/// One run of a sweep: its name (the legend entry) and its validation
/// accuracy after each epoch, as fractions in [0, 1]; `values[0]` is epoch 1.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The run's name, shown in the legend.
    pub name: String,
    /// Validation accuracy after epoch `i + 1`, a fraction in [0, 1].
    pub values: Vec<f64>,
}

/// One line per run (colours repeat after ten runs, then dashed): validation accuracy in
/// percent (y, "validation accuracy (%)") per epoch (x, "epoch", 1-based,
/// integer ticks), legend = run names, as a [`SWEEP_CHART_WIDTH`] x
/// [`SWEEP_CHART_HEIGHT`] PNG. Runs may have different lengths (early
/// stopping); runs of at most 40 epochs also get a marker per epoch.
///
/// Errors: no runs, a run without values, a value that is not a fraction in
/// [0, 1] (each error names the run and the epoch).
pub fn sweep_chart(title: &str, runs: &[Series]) -> Result<Vec<u8>, PlotError> {
    validate(runs)?;
    let epochs = runs.iter().map(|r| r.values.len()).max().unwrap_or(1);
    let (min, max) = runs
        .iter()
        .flat_map(|r| &r.values)
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(100.0 * v), hi.max(100.0 * v))
        });
    let y_range = padded_range(min, max, 2.0, 0.0, 100.0);
    let y_span = y_range.end - y_range.start;
    render_png(SWEEP_CHART_WIDTH, SWEEP_CHART_HEIGHT, |root| {
        let body = titled(root, title)?;
        let mut chart = ChartBuilder::on(&body)
            .margin(15)
            .margin_right(30)
            .x_label_area_size(55)
            .y_label_area_size(85)
            .build_cartesian_2d(epoch_axis(1, epochs), y_range)?;
        chart
            .configure_mesh()
            .x_desc("epoch")
            .y_desc("validation accuracy (%)")
            .axis_desc_style(text(AXIS_DESC_SIZE))
            .label_style(text(LABEL_SIZE))
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| tick_label(*y, y_span))
            .y_labels(Y_LABELS)
            .bold_line_style(GRID)
            .light_line_style(WHITE)
            .draw()?;
        for (i, run) in runs.iter().enumerate() {
            let points: Vec<(f64, f64)> = run
                .values
                .iter()
                .enumerate()
                .map(|(e, v)| ((e + 1) as f64, 100.0 * v))
                .collect();
            draw_line_series(&mut chart, &points, i, &run.name)?;
        }
        draw_legend(&mut chart, SeriesLabelPosition::LowerRight)
    })
}

fn validate(runs: &[Series]) -> Result<(), PlotError> {
    if runs.is_empty() {
        return Err(PlotError::NoRuns);
    }
    for run in runs {
        if run.values.is_empty() {
            return Err(PlotError::invalid(format!(
                "run {:?} has no epochs",
                run.name
            )));
        }
        for (e, &value) in run.values.iter().enumerate() {
            check_fraction(
                value,
                &format!("run {:?}, epoch {}: validation accuracy", run.name, e + 1),
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canvas::testing::{decode, differing, non_white};

    fn run(name: &str, epochs: usize, ceiling: f64) -> Series {
        Series {
            name: name.to_string(),
            values: (1..=epochs).map(|e| ceiling - 0.1 / e as f64).collect(),
        }
    }

    fn sweep() -> Vec<Series> {
        vec![
            run("lr 1e-3", 20, 0.98),
            run("lr 1e-2", 12, 0.96),
            run("lr 1e-4", 20, 0.95),
        ]
    }

    #[test]
    fn draws_a_picture_of_the_documented_size() {
        let image = decode(&sweep_chart("sweep", &sweep()).unwrap());
        assert_eq!(image.dimensions(), (SWEEP_CHART_WIDTH, SWEEP_CHART_HEIGHT));
        assert!(
            non_white(&image) > 15_000,
            "{} ink pixels",
            non_white(&image)
        );
    }

    #[test]
    fn a_changed_run_changes_the_picture() {
        let a = decode(&sweep_chart("sweep", &sweep()).unwrap());
        let mut changed = sweep();
        changed[1].values.truncate(6);
        let b = decode(&sweep_chart("sweep", &changed).unwrap());
        assert!(
            differing(&a, &b) > 100,
            "{} pixels differ",
            differing(&a, &b)
        );
    }

    #[test]
    fn single_epoch_runs_draw() {
        let image = decode(&sweep_chart("one", &[run("a", 1, 0.9)]).unwrap());
        let more = decode(&sweep_chart("one", &[run("a", 1, 0.9), run("b", 1, 0.8)]).unwrap());
        assert!(differing(&image, &more) > 50);
    }

    #[test]
    fn bad_inputs_are_errors_that_name_the_problem() {
        let error = |runs: &[Series]| sweep_chart("t", runs).unwrap_err().to_string();
        assert_eq!(error(&[]), "no runs to plot");
        assert_eq!(
            error(&[run("a", 2, 0.9), run("empty\nname", 0, 0.9)]),
            "run \"empty\\nname\" has no epochs"
        );
        let mut nan = sweep();
        nan[2].values[4] = f64::NAN;
        assert_eq!(
            error(&nan),
            "run \"lr 1e-4\", epoch 5: validation accuracy is NaN, not a finite number"
        );
        let mut percent = sweep();
        percent[0].values[0] = 91.0;
        assert_eq!(
            error(&percent),
            "run \"lr 1e-3\", epoch 1: validation accuracy is 91, outside [0, 1] (a fraction, not a percentage)"
        );
    }
}
