//! The network's answer for one image, the same type wherever it is given:
//! `infer`'s lines and JSON for test digits and image files, and the HTTP
//! API's predictions and samples (each folds it into its own answer).

use serde::Serialize;

/// The most probable digit, its probability and the whole softmax output.
/// Serialises to `"prediction"`, `"probability"` and `"probabilities"`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Prediction {
    /// The most probable digit: the first of equals, as `argmax` does.
    pub prediction: usize,
    /// Its probability, in [0, 1].
    pub probability: f32,
    /// Softmax output, one per digit 0 to 9, summing to 1.
    pub probabilities: Vec<f32>,
}

impl Prediction {
    /// The answer a row of class probabilities gives.
    ///
    /// # Panics
    /// If `probabilities` is empty.
    pub fn new(probabilities: Vec<f32>) -> Self {
        let prediction = probabilities.iter().enumerate().fold(0, |best, (i, &p)| {
            if p > probabilities[best] { i } else { best }
        });
        Self {
            prediction,
            probability: probabilities[prediction],
            probabilities,
        }
    }

    /// The `n` most likely digits, most likely first (the lower digit first
    /// among equals), as `(digit, probability)`.
    pub fn top(&self, n: usize) -> Vec<(usize, f32)> {
        let mut ranked: Vec<(usize, f32)> =
            self.probabilities.iter().copied().enumerate().collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        ranked.truncate(n);
        ranked
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prediction_is_the_first_most_probable_digit() {
        let p = Prediction::new(vec![0.1, 0.7, 0.2]);
        assert_eq!((p.prediction, p.probability), (1, 0.7));
        assert_eq!(Prediction::new(vec![0.5, 0.5]).prediction, 0);
    }

    #[test]
    fn the_top_digits_are_the_most_likely_in_order() {
        let p = Prediction::new(vec![0.05, 0.1, 0.0, 0.6, 0.0, 0.2, 0.0, 0.05, 0.0, 0.0]);
        assert_eq!(p.top(3), vec![(3, 0.6), (5, 0.2), (1, 0.1)]);
        // Equal probabilities: the lower digit first.
        assert_eq!(p.top(5)[3..], [(0, 0.05), (7, 0.05)]);
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["prediction"], 3);
        assert_eq!(json["probabilities"].as_array().unwrap().len(), 10);
    }
}
