//! Where a training epoch's time goes. Runs the same work as one epoch of
//! `train` (data loader, forward with cross-entropy, backward, Adam, the
//! loss and correct counts kept and read back, then the evaluation pass) as a
//! hand-written loop on one thread with a clock around each phase, syncing the
//! device at each boundary so a GPU's queued work is charged to the phase
//! that queued it.
//!
//! On a CubeCL device (wgpu) it also counts the kernel launches each phase
//! issues ([`Launches`]), through CubeCL's launch observer: with Burn's fusion
//! the launches happen when the queued work is flushed, which the sync at
//! each boundary does, so they too are charged to the phase that queued them.
//!
//! What `train`'s loop adds on top of these phases (Burn's event processor,
//! metric loggers, renderer, checkpoints), less what it saves by building
//! batches on another thread, is the difference between `train`'s epoch time
//! and [`Split::total`]; `scripts/bench/run.py` prints it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::Context;
use burn::data::dataloader::batcher::Batcher;
use burn::data::dataloader::{DataLoader, DataLoaderBuilder};
use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::Device;
use cubecl_runtime::logging::{LaunchObservation, LaunchObserver};
use data::{
    DistortingBatcher, Distortion, Epoch, EpochCount, MnistBatch, MnistBatcher, MnistDataset,
    MnistItem, MnistSplit, NUM_CLASSES, ResidentBatcher,
};
use model::{
    Backend, EVAL_BATCH_SIZE, FusedAdam, HostAdam, MlpConfig, StepOptimizer, Tally, evaluate, fused,
};
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
    /// Training batches per epoch at most (all of them when `None`).
    pub max_steps: Option<usize>,
    /// Burn's own path instead of this project's: the network layer by
    /// layer, Burn's `Adam`, batches built on the host. To measure what the
    /// fused path saves, in the same binary on the same device.
    pub burn_layers: bool,
    /// Distortions of the training images, drawn as `train` draws them: on
    /// the device on wgpu's fused path, on the host otherwise.
    pub distortion: Distortion,
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
    /// Kernel launches in each phase over the epoch (none on flex and ndarray).
    pub launches: Launches,
    /// The matrix products of the forward and backward phases (flex's fused
    /// network, in the last epoch profiled: `None` elsewhere).
    pub products: Option<Products>,
    /// The mean cross-entropy of the epoch's training images, as read back
    /// (reported beside the seconds, not among them).
    #[serde(skip)]
    pub train_loss: f64,
}

/// The forward and backward phases' matrix products over the epoch.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Products {
    /// How many ran.
    pub count: usize,
    /// Their floating-point operations, 10^9 (a multiply-add counts two).
    pub gflop: f64,
    /// Seconds inside the training step.
    pub inside: f64,
    /// Seconds the same products take alone, each shape the median of
    /// [`ALONE_ROUNDS`] runs: the gemm's own speed at the step's shapes.
    pub alone: f64,
}

/// Runs of each distinct product shape when timed alone.
const ALONE_ROUNDS: usize = 21;

impl Products {
    fn of(products: &[fused::products::Product]) -> Option<Self> {
        (!products.is_empty()).then(|| Self {
            count: products.len(),
            gflop: products.iter().map(|p| p.shape.flop()).sum::<f64>() / 1e9,
            inside: products.iter().map(|p| p.seconds).sum(),
            alone: fused::products::alone_seconds(products, ALONE_ROUNDS),
        })
    }
}

/// Kernel launches issued on a CubeCL device in each phase of a [`Split`].
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Launches {
    pub data: usize,
    pub forward: usize,
    pub backward: usize,
    pub optimizer: usize,
    pub metrics: usize,
    pub evaluation: usize,
}

impl Launches {
    /// Launches of one training step (the evaluation pass apart), averaged.
    pub fn per_step(&self, steps: usize) -> f64 {
        (self.data + self.forward + self.backward + self.optimizer + self.metrics) as f64
            / steps.max(1) as f64
    }
}

/// Counts every kernel launch while installed.
#[derive(Default)]
struct LaunchCounter {
    launched: AtomicUsize,
    /// The count at the last [`lap`](Self::lap).
    lapped: AtomicUsize,
}

impl LaunchObserver for LaunchCounter {
    fn launched(&self, _kernel: &'static str) {
        self.launched.fetch_add(1, Ordering::Relaxed);
    }
}

impl LaunchCounter {
    /// Launches since the last lap.
    fn lap(&self) -> usize {
        let now = self.launched.load(Ordering::Relaxed);
        now - self.lapped.swap(now, Ordering::Relaxed)
    }
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
    let fused = FusedAdam::new(settings.backend, adam.beta1, adam.beta2, adam.epsilon);
    let mut optimizer = if settings.burn_layers {
        StepOptimizer::Burn(
            AdamConfig::new()
                .with_beta_1(adam.beta1)
                .with_beta_2(adam.beta2)
                .with_epsilon(adam.epsilon)
                .init(),
        )
    } else if settings.backend == Backend::Flex {
        StepOptimizer::Host(HostAdam::new(fused))
    } else {
        StepOptimizer::Burn(fused.init())
    };
    // As `train` builds its batches: on the GPU gathered (and distorted)
    // on the device from the split uploaded once, elsewhere normalised (and
    // distorted) on the host; distortions drawn for each epoch.
    let epoch = Epoch::default();
    let distortion = settings.distortion;
    let loader: Arc<dyn DataLoader<MnistBatch>> = match settings.backend {
        Backend::Wgpu if !settings.burn_layers => {
            let batcher = ResidentBatcher::distorting(
                Arc::clone(&train),
                distortion,
                settings.seed,
                epoch.clone(),
            );
            shuffled(batcher, settings, device, &train)
        }
        _ if !distortion.is_identity() => {
            let batcher = DistortingBatcher::new(distortion, settings.seed, epoch.clone());
            shuffled(batcher, settings, device, &train)
        }
        _ => shuffled(MnistBatcher, settings, device, &train),
    };
    // On the autodiff device, as Burn's `Learner` moves a training loader:
    // the fused path applies dropout only to a batch that is part of a graph.
    let loader = EpochCount::new(loader.to_device(&train_device), epoch);
    let sync = || device.sync().context("the device failed while profiling");
    let counter = Arc::new(LaunchCounter::default());
    let _observing = LaunchObservation::new(counter.clone());

    let mut splits = Vec::with_capacity(epochs);
    for epoch in 1..=epochs {
        // The products are logged, and timed alone, in the last epoch only.
        let last = epoch == epochs;
        let mut split = Split::default();
        let mut outputs = Vec::new();
        let launches = &mut split.launches;
        let mut clock = Instant::now();
        counter.lap();
        let steps = settings.max_steps.unwrap_or(usize::MAX);
        fused::products::record(last);
        for batch in loader.iter().take(steps) {
            let batch = batch.context("the training loader failed")?;
            sync()?;
            split.data += lap(&mut clock);
            launches.data += counter.lap();

            let forward = if settings.burn_layers {
                model.forward_loss_layers(batch)
            } else {
                model.forward_loss(batch)
            };
            sync()?;
            split.forward += lap(&mut clock);
            launches.forward += counter.lap();

            let output = forward.output();
            let gradients = forward.loss.backward();
            sync()?;
            split.backward += lap(&mut clock);
            launches.backward += counter.lap();

            let gradients = GradientsParams::from_grads(gradients, &model);
            model = optimizer.step(model, settings.learning_rate, gradients);
            sync()?;
            split.optimizer += lap(&mut clock);
            launches.optimizer += counter.lap();

            outputs.push(output);
            split.metrics += lap(&mut clock);
            split.steps += 1;
        }
        fused::products::record(false);
        let tally = Tally::read(&outputs).context("cannot read the losses back from the device")?;
        split.train_loss = tally.loss_sum / tally.images as f64;
        split.metrics += lap(&mut clock);
        split.launches.metrics += counter.lap();
        evaluate(
            &model.valid(),
            Arc::clone(&test),
            NUM_CLASSES,
            EVAL_BATCH_SIZE,
            device,
        )
        .context("cannot read the evaluation back from the device")?;
        split.evaluation = lap(&mut clock);
        split.launches.evaluation = counter.lap();
        split.products = Products::of(&fused::products::take());
        splits.push(split);
    }
    Ok(splits)
}

/// `batcher`'s batches of `train` in the order of `settings`' seed.
fn shuffled<B>(
    batcher: B,
    settings: &ProfileSettings,
    device: &Device,
    train: &Arc<MnistSplit>,
) -> Arc<dyn DataLoader<MnistBatch>>
where
    B: Batcher<MnistItem, MnistBatch> + 'static,
{
    DataLoaderBuilder::new(batcher)
        .batch_size(settings.batch_size)
        .shuffle(settings.seed)
        .set_device(device.clone())
        .build(MnistDataset::new(Arc::clone(train)))
}

/// Seconds since `clock`, restarting it.
fn lap(clock: &mut Instant) -> f64 {
    let now = Instant::now();
    let seconds = (now - *clock).as_secs_f64();
    *clock = now;
    seconds
}
