//! The gradient norm of each layer's weight matrix during training, to see
//! the vanishing gradients the tutorial warns about with sigmoid and tanh.
//!
//! The training step adds `||dL/dW_l||_2` of every layer `l` for each batch;
//! at the end of each epoch the renderer takes the mean per layer. Recording
//! reads one number per layer per batch back from the device, so it is opt-in.

use std::sync::{Arc, Mutex};

/// Shared by the model (which records) and the renderer (which takes one
/// value per layer per epoch). Clones share the same sums.
#[derive(Clone, Debug, Default)]
pub struct GradNormLog(Arc<Mutex<Sums>>);

#[derive(Debug, Default)]
struct Sums {
    /// Per layer, input side first: the sum of the batches' norms.
    norms: Vec<f64>,
    batches: usize,
}

impl GradNormLog {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one batch's norms, one per layer, input side first.
    pub fn record(&self, norms: &[f64]) {
        let mut sums = self.0.lock().expect("grad norm lock");
        if sums.norms.len() != norms.len() {
            sums.norms = vec![0.0; norms.len()];
            sums.batches = 0;
        }
        sums.norms
            .iter_mut()
            .zip(norms)
            .for_each(|(sum, n)| *sum += n);
        sums.batches += 1;
    }

    /// The mean norm per layer over the batches recorded since the last call
    /// (empty when none were), and starts the next epoch.
    pub fn take_epoch(&self) -> Vec<f64> {
        let mut sums = self.0.lock().expect("grad norm lock");
        let batches = std::mem::take(&mut sums.batches) as f64;
        std::mem::take(&mut sums.norms)
            .into_iter()
            .map(|sum| sum / batches)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_the_mean_per_layer_and_starts_over() {
        let log = GradNormLog::new();
        log.record(&[1.0, 4.0]);
        log.clone().record(&[3.0, 8.0]);
        assert_eq!(log.take_epoch(), vec![2.0, 6.0]);
        assert_eq!(log.take_epoch(), Vec::<f64>::new());
        log.record(&[5.0, 1.0]);
        assert_eq!(log.take_epoch(), vec![5.0, 1.0]);
    }
}
