//! Where a training epoch's time goes. Runs the same work as one epoch of
//! `train` (data loader, forward with cross-entropy, backward, Adam, the
//! loss and correct counts kept and read back, then the evaluation pass) as a
//! hand-written loop on one thread with a clock around each phase, syncing the
//! device at each boundary so a GPU's queued work is charged to the phase
//! that queued it.
//!
//! What `train`'s loop adds on top of these phases (Burn's event processor,
//! metric loggers, renderer, checkpoints), less what it saves by building
//! batches on another thread, is the difference between `train`'s epoch time
//! and [`Split::total`]; `scripts/bench/run.py` prints it.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use burn::data::dataloader::DataLoaderBuilder;
use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::Device;
use data::{MnistBatcher, MnistDataset, MnistSplit, NUM_CLASSES};
use model::{Backend, EVAL_BATCH_SIZE, FusedAdam, MlpConfig, Tally, evaluate};
use serde::Serialize;

/// What to train: the tutorial's settings unless changed.
#[derive(Clone, Debug)]
pub struct ProfileSettings {
    pub model: MlpConfig,
    /// Picks the optimizer `train` uses on it.
    pub backend: Backend,
    pub batch_size: usize,
    /// Adam step size.
    pub learning_rate: f64,
    pub seed: u64,
}

/// Seconds spent in each phase over one epoch of the training split plus one
/// evaluation pass over the test split.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Split {
    /// Training batches run (the last one may be short).
    pub steps: usize,
    /// Loader: shuffling, batching and uploading the batch.
    pub data: f64,
    /// Forward pass and the loss.
    pub forward: f64,
    /// Backward pass: the gradients of every parameter.
    pub backward: f64,
    /// Gradients gathered per parameter and Adam's update.
    pub optimizer: f64,
    /// Keeping each batch's loss and correct count, and reading them all back
    /// (`train` reads them about ten times a second; here once, at the end).
    pub metrics: f64,
    /// The evaluation pass over the test split, as `train` runs it after each epoch.
    pub evaluation: f64,
}

impl Split {
    /// Every phase together, in seconds.
    pub fn total(&self) -> f64 {
        self.data + self.forward + self.backward + self.optimizer + self.metrics + self.evaluation
    }
}

/// Trains a fresh network for `epochs` epochs on `train`, evaluating on `test`
/// after each, and returns the time split of every epoch. The first epoch pays
/// for warm-up (page faults, thread start); later ones are the steady state.
pub fn profile_epochs(
    settings: &ProfileSettings,
    epochs: usize,
    train: Arc<MnistSplit>,
    test: Arc<MnistSplit>,
    device: &Device,
) -> anyhow::Result<Vec<Split>> {
    let train_device = device.clone().autodiff();
    train_device.seed(settings.seed);
    let mut model = settings.model.init(&train_device);
    // The tutorial's Adam (configs/default.toml), as `train` builds it.
    let adam = config::Adam::default();
    let mut optimizer =
        FusedAdam::new(settings.backend, adam.beta1, adam.beta2, adam.epsilon).init();
    let loader = DataLoaderBuilder::new(MnistBatcher)
        .batch_size(settings.batch_size)
        .shuffle(settings.seed)
        .set_device(device.clone())
        .build(MnistDataset::new(train));
    let sync = || device.sync().context("the device failed while profiling");

    let mut splits = Vec::with_capacity(epochs);
    for _ in 0..epochs {
        let mut split = Split::default();
        let mut outputs = Vec::new();
        let mut clock = Instant::now();
        for batch in loader.iter() {
            let batch = batch.context("the training loader failed")?;
            sync()?;
            split.data += lap(&mut clock);

            let forward = model.forward_loss(batch);
            sync()?;
            split.forward += lap(&mut clock);

            let output = forward.output();
            let gradients = forward.loss.backward();
            sync()?;
            split.backward += lap(&mut clock);

            let gradients = GradientsParams::from_grads(gradients, &model);
            model = optimizer.step(settings.learning_rate, model, gradients);
            sync()?;
            split.optimizer += lap(&mut clock);

            outputs.push(output);
            split.metrics += lap(&mut clock);
            split.steps += 1;
        }
        Tally::read(&outputs).context("cannot read the losses back from the device")?;
        split.metrics += lap(&mut clock);
        evaluate(
            &model.valid(),
            Arc::clone(&test),
            NUM_CLASSES,
            EVAL_BATCH_SIZE,
            device,
        )
        .context("cannot read the evaluation back from the device")?;
        split.evaluation = lap(&mut clock);
        splits.push(split);
    }
    Ok(splits)
}

/// Seconds since `clock`, restarting it.
fn lap(clock: &mut Instant) -> f64 {
    let now = Instant::now();
    let seconds = (now - *clock).as_secs_f64();
    *clock = now;
    seconds
}
