//! Choosing a committee's members on held-out images: greedy forward
//! selection without replacement (Caruana et al. 2004, "Ensemble selection
//! from libraries of models"). Start from the candidate that scores best
//! alone; add, one at a time, the candidate whose joining scores best; stop
//! when no candidate lowers the committee's loss (mean cross-entropy) on
//! the held-out images. The loss, not the count of errors, decides: on a
//! few thousand images a strong committee makes a few dozen errors, so
//! counts tie often and move by chance, while the loss moves with every
//! probability (a member that fixes no digit may still join by making the
//! committee surer of its right answers).
//!
//! Candidates are given as their log-probabilities on the same held-out
//! images (`[N, classes]`, row-major), read once; every trial committee is
//! combined from those on the host in `f64`, as [`Combine`] says:
//!
//! ```text
//! mean       ln p_c = logsumexp_i(l_ic) - ln M
//! geometric  ln p_c = g_c - logsumexp_c(g_c),  g_c = (1/M) sum_i l_ic
//! ```

use std::sync::Arc;

use burn::data::dataloader::DataLoaderBuilder;
use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, TensorReadError};
use data::{MnistBatcher, MnistDataset, MnistSplit};

use crate::{Classifier, Combine, EVAL_BATCH_SIZE};

/// What a committee scored on the held-out images.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Score {
    /// Images whose most probable class is not the label.
    pub errors: usize,
    /// Images scored.
    pub count: usize,
    /// Mean cross-entropy per image (natural log).
    pub loss: f64,
}

impl Score {
    /// Fraction of images read right, in [0, 1].
    pub fn accuracy(&self) -> f64 {
        (self.count - self.errors) as f64 / self.count as f64
    }

    /// A lower loss.
    pub fn is_better_than(&self, other: &Score) -> bool {
        self.loss < other.loss
    }
}

/// One step of the selection: the candidate that joined and the
/// committee's score with it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Step {
    /// Index into the candidates.
    pub candidate: usize,
    pub score: Score,
}

/// Held-out images' labels and the candidates' log-probabilities on them.
#[derive(Clone, Debug)]
pub struct HeldOutReadings {
    labels: Vec<usize>,
    classes: usize,
    /// One `[N, classes]` row-major block per candidate.
    candidates: Vec<Vec<f32>>,
}

impl HeldOutReadings {
    /// `labels` (`N`, each below `classes`) and one block of `N * classes`
    /// log-probabilities per candidate.
    ///
    /// # Panics
    /// When a block is not `N * classes` long or a label is out of range:
    /// the callers read both from the same split.
    pub fn new(labels: Vec<usize>, classes: usize, candidates: Vec<Vec<f32>>) -> Self {
        assert!(labels.iter().all(|&label| label < classes));
        for block in &candidates {
            assert_eq!(block.len(), labels.len() * classes, "one row per image");
        }
        Self {
            labels,
            classes,
            candidates,
        }
    }

    /// Candidates read.
    pub fn len(&self) -> usize {
        self.candidates.len()
    }

    pub fn is_empty(&self) -> bool {
        self.candidates.is_empty()
    }

    /// The committee of `members` (indices into the candidates, at least
    /// one) combined as `combine`, scored on the held-out images.
    pub fn score(&self, members: &[usize], combine: Combine) -> Score {
        assert!(!members.is_empty(), "a committee has members");
        let classes = self.classes;
        let m = members.len() as f64;
        let mut combined = vec![0f64; classes];
        let (mut errors, mut loss_sum) = (0, 0.0);
        for (row, &label) in self.labels.iter().enumerate() {
            let logs = |class: usize| {
                members
                    .iter()
                    .map(move |&member| f64::from(self.candidates[member][row * classes + class]))
            };
            for (class, value) in combined.iter_mut().enumerate() {
                *value = match combine {
                    Combine::Mean => log_sum_exp(logs(class)) - m.ln(),
                    Combine::Geometric => logs(class).sum::<f64>() / m,
                };
            }
            if combine == Combine::Geometric {
                let norm = log_sum_exp(combined.iter().copied());
                combined.iter_mut().for_each(|value| *value -= norm);
            }
            // The first most probable class, as `argmax` picks it.
            let predicted = (0..classes).fold(0, |best, class| {
                if combined[class] > combined[best] {
                    class
                } else {
                    best
                }
            });
            errors += usize::from(predicted != label);
            loss_sum -= combined[label];
        }
        Score {
            errors,
            count: self.labels.len(),
            loss: loss_sum / self.labels.len() as f64,
        }
    }

    /// Greedy forward selection (see the module's comment): the steps in
    /// the order the candidates joined, the first being the best alone.
    /// Each later step strictly improves on the one before.
    pub fn choose(&self, combine: Combine) -> Vec<Step> {
        let mut steps: Vec<Step> = Vec::new();
        let mut chosen: Vec<usize> = Vec::new();
        loop {
            let best = (0..self.len())
                .filter(|candidate| !chosen.contains(candidate))
                .map(|candidate| {
                    let mut trial = chosen.clone();
                    trial.push(candidate);
                    Step {
                        candidate,
                        score: self.score(&trial, combine),
                    }
                })
                .reduce(|best, step| {
                    if step.score.is_better_than(&best.score) {
                        step
                    } else {
                        best
                    }
                });
            match (best, steps.last()) {
                (Some(step), Some(last)) if !step.score.is_better_than(&last.score) => break,
                (Some(step), _) => {
                    chosen.push(step.candidate);
                    steps.push(step);
                }
                (None, _) => break,
            }
        }
        steps
    }
}

/// `ln sum_i exp(x_i)` without overflow; `-inf` for no terms.
fn log_sum_exp(values: impl Iterator<Item = f64> + Clone) -> f64 {
    let top = values.clone().fold(f64::NEG_INFINITY, f64::max);
    if top == f64::NEG_INFINITY {
        return top;
    }
    top + values.map(|value| (value - top).exp()).sum::<f64>().ln()
}

/// The natural-log class probabilities `model` gives every image of
/// `split`: `[N, classes]` row-major, in split order.
pub fn log_probabilities(
    model: &impl Classifier,
    split: Arc<MnistSplit>,
    device: &Device,
) -> Result<Vec<f32>, TensorReadError> {
    let loader = DataLoaderBuilder::new(MnistBatcher)
        .batch_size(EVAL_BATCH_SIZE)
        .set_device(device.clone())
        .build(MnistDataset::new(split));
    let mut rows = Vec::new();
    // Items are cheap handles into the split, so fetching one cannot fail.
    for batch in loader.iter().flatten() {
        let logs = log_softmax(model.logits(batch.images), 1).try_into_data()?;
        rows.extend(
            logs.convert::<f32>()
                .as_slice::<f32>()
                .expect("converted to f32"),
        );
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Log-probabilities from probability rows.
    fn logs(rows: &[[f64; 2]]) -> Vec<f32> {
        rows.iter().flatten().map(|p| p.ln() as f32).collect()
    }

    /// Three images of classes 0, 0, 1. Candidate 0 reads images 0 and 1
    /// right, 2 wrong; candidate 1 reads 0 and 2 right, 1 wrong (fewer
    /// right alone, but it mends what 0 gets wrong); candidate 2 repeats
    /// candidate 0 a little less surely; candidate 3 is wrong everywhere.
    fn readings() -> HeldOutReadings {
        HeldOutReadings::new(
            vec![0, 0, 1],
            2,
            vec![
                logs(&[[0.9, 0.1], [0.8, 0.2], [0.6, 0.4]]),
                logs(&[[0.7, 0.3], [0.45, 0.55], [0.1, 0.9]]),
                logs(&[[0.8, 0.2], [0.7, 0.3], [0.55, 0.45]]),
                logs(&[[0.1, 0.9], [0.2, 0.8], [0.9, 0.1]]),
            ],
        )
    }

    fn close(got: f64, want: f64) {
        assert!((got - want).abs() < 1e-6, "{got} vs {want}");
    }

    #[test]
    fn a_committee_of_one_scores_as_its_member() {
        let score = readings().score(&[0], Combine::Mean);
        assert_eq!((score.errors, score.count), (1, 3));
        close(score.loss, -(0.9f64.ln() + 0.8f64.ln() + 0.4f64.ln()) / 3.0);
        close(score.accuracy(), 2.0 / 3.0);
    }

    #[test]
    fn the_mean_and_the_geometric_mean_score_by_hand() {
        // Mean of 0 and 1: [0.8, 0.2], [0.625, 0.375], [0.35, 0.65]: all right.
        let mean = readings().score(&[0, 1], Combine::Mean);
        assert_eq!(mean.errors, 0);
        close(
            mean.loss,
            -(0.8f64.ln() + 0.625f64.ln() + 0.65f64.ln()) / 3.0,
        );
        // Geometric: sqrt(0.6 * 0.1) : sqrt(0.4 * 0.9) for image 2.
        let geometric = readings().score(&[0, 1], Combine::Geometric);
        let right = (0.4f64 * 0.9).sqrt() / ((0.4f64 * 0.9).sqrt() + (0.6f64 * 0.1).sqrt());
        let first = (0.9f64 * 0.7).sqrt() / ((0.9f64 * 0.7).sqrt() + (0.1f64 * 0.3).sqrt());
        let second = (0.8f64 * 0.45).sqrt() / ((0.8f64 * 0.45).sqrt() + (0.2f64 * 0.55).sqrt());
        assert_eq!(geometric.errors, 0);
        close(
            geometric.loss,
            -(first.ln() + second.ln() + right.ln()) / 3.0,
        );
    }

    #[test]
    fn greedy_selection_takes_the_best_alone_then_what_mends_it() {
        let steps = readings().choose(Combine::Mean);
        let chosen: Vec<usize> = steps.iter().map(|step| step.candidate).collect();
        // Alone, losses: 0 0.4149, 1 0.4202, 2 0.4594, 3 1.8. With 0: 1
        // mends image 2 (0 errors, loss 0.3746), 2 gives 0.4353, 3 0.924.
        // With 0 and 1: 2 raises the loss to 0.3976, 3 to 0.686, so the
        // selection stops.
        assert_eq!(chosen, [0, 1]);
        assert_eq!(steps[1].score.errors, 0);
        assert!(steps[1].score.is_better_than(&steps[0].score));
    }

    #[test]
    fn selection_stops_when_nothing_improves() {
        // Two identical candidates: the second adds nothing.
        let one = logs(&[[0.9, 0.1], [0.3, 0.7]]);
        let readings = HeldOutReadings::new(vec![0, 0], 2, vec![one.clone(), one]);
        let steps = readings.choose(Combine::Mean);
        assert_eq!(steps.len(), 1);
        assert_eq!(steps[0].score.errors, 1);
    }
}
