//! Small timing helpers: medians of repeated measurements, in seconds.

use std::time::Instant;

/// Median of `values` (the mean of the middle two for an even count); 0 for none.
pub fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[middle]
    } else {
        (sorted[middle - 1] + sorted[middle]) / 2.0
    }
}

/// Runs `work` once to warm up, then `reps` times, and returns the median wall
/// time of one run in seconds. An error from `work` ends the measurement.
pub fn median_seconds<E>(reps: usize, mut work: impl FnMut() -> Result<(), E>) -> Result<f64, E> {
    work()?;
    let mut times = Vec::with_capacity(reps);
    for _ in 0..reps {
        let started = Instant::now();
        work()?;
        times.push(started.elapsed().as_secs_f64());
    }
    Ok(median(&times))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_even_and_empty_lists() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(&[]), 0.0);
    }

    #[test]
    fn median_seconds_runs_the_warm_up_plus_every_rep() {
        let mut calls = 0;
        let seconds = median_seconds::<()>(5, || {
            calls += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(calls, 6);
        assert!(seconds >= 0.0);
    }

    #[test]
    fn median_seconds_stops_at_the_first_error() {
        let mut calls = 0;
        let result = median_seconds(5, || {
            calls += 1;
            if calls == 2 { Err("boom") } else { Ok(()) }
        });
        assert_eq!(result, Err("boom"));
        assert_eq!(calls, 2);
    }
}
