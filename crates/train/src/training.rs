//! One training run through Burn's `Learner`: data loaders (with a held-out
//! validation set if asked), the optimizer and its learning-rate schedule,
//! accuracy and loss on the training and validation splits, early stopping,
//! the dashboard, a checkpoint after every epoch, then the final evaluation on
//! every test image.

use std::sync::{Arc, Mutex};

use anyhow::{Context, bail};
use burn::data::dataloader::batcher::Batcher;
use burn::data::dataloader::{DataLoader, DataLoaderBuilder};
use burn::lr_scheduler::module_lr_scheduler::ModuleLrScheduler;
use burn::module::Module;
use burn::store::ModuleRecord;
use burn::tensor::Device;
use burn::train::checkpoint::KeepLastNCheckpoints;
use burn::train::metric::store::{Aggregate, Direction, Split};
use burn::train::renderer::tui::TuiMetricsRendererWrapper;
use burn::train::{Interrupter, Learner, SupervisedTraining, TrainingStrategy};
use burn::train::{MetricEarlyStoppingStrategy, StoppingCondition};
use config::TrainConfig;
use console::errln;
use data::{
    DistortingBatcher, Epoch, EpochCount, MnistBatch, MnistBatcher, MnistDataset, MnistItem,
    MnistSplit, NUM_CLASSES, Prefetch, ResidentBatcher,
};
use model::{
    Backend, DropoutStream, EVAL_BATCH_SIZE, Evaluation, GradNormLog, Mlp, MlpConfig,
    StepOptimizer, evaluate,
};

use crate::checkpoint::{
    BEST_MODEL_FILE, CHECKPOINT_DIR, EpochCommitter, Latest, ResumedLoader, best_epoch,
    restore_optimizer, restore_optimizer_from,
};
use crate::guard::{Chance, Divergence, LossGuard};
use crate::metrics::EpochMetric;
use crate::progress::ProgressRenderer;
use crate::progress::display::Display;
use crate::progress::ended::{EarlyStop, EndReasons, EndWatch};
use crate::progress::recorder::{EpochRecorder, History};
use crate::signals::{self, SignalWatch};
use crate::stop_point::StopPoint;
use crate::strategy::{FreeRunning, Stopping};
use run::{EpochMetrics, RunDir, TensorBoard};

/// How training ended.
pub enum Ending {
    /// Every epoch ran, or early stopping or the dashboard's stop key ended
    /// it early: the model is evaluated and saved.
    Finished(Evaluated),
    /// Ctrl-C or SIGTERM (the signal's number): the checkpoints are what is kept.
    Interrupted { signal: i32 },
    /// The loss stopped being finite: the checkpoints are what is kept.
    Diverged(Divergence),
}

/// A network trained to the end of its run, and its test result.
pub struct Evaluated {
    pub model: Box<Mlp>,
    pub test: Evaluation,
    /// Why it ended before its last epoch, if it did.
    pub stopped_early: Option<EarlyStop>,
    /// With `keep_best`: the epoch whose weights `model` holds.
    pub best_epoch: Option<usize>,
}

/// What a run produced.
pub struct Outcome {
    /// Every finished epoch, those before a resume included.
    pub epochs: Vec<EpochMetrics>,
    pub ending: Ending,
    /// What guessing scores on the validation set.
    pub chance: Chance,
}

/// Everything one training run needs.
pub struct Fit<'a> {
    pub config: &'a TrainConfig,
    /// The network `config` describes.
    pub network: &'a MlpConfig,
    /// The training split; `[validation] split` holds a part of it out.
    pub train: Arc<MnistSplit>,
    /// The test split: evaluated at the end, and after each epoch unless a
    /// part of `train` is held out for that.
    pub test: Arc<MnistSplit>,
    /// Where it trains (the autodiff view is taken here).
    pub device: &'a Device,
    /// Where the checkpoints go.
    pub run: &'a RunDir,
    /// Burn's terminal dashboard; otherwise one line per epoch.
    pub dashboard: bool,
    /// The checkpoint to continue from.
    pub resume: Option<&'a Latest>,
    /// The stop point inside the next epoch to continue from, if any.
    pub stopped: Option<&'a StopPoint>,
    /// The interrupter `watch` stops on Ctrl-C or SIGTERM.
    pub interrupter: Interrupter,
    pub watch: &'a SignalWatch,
}

/// Where in the run training starts: after the epochs and the batches of
/// the next epoch already trained (a resumed run), else at the beginning.
#[derive(Clone, Copy)]
struct Start {
    epochs: usize,
    batches: usize,
    /// Training steps already taken: dropout masks on flex come from (seed,
    /// step, layer), so a resumed run counts its steps on from there.
    step: u64,
}

impl Start {
    fn of(fit: &Fit<'_>, batches_per_epoch: usize) -> Self {
        let epochs = fit.resume.map_or(0, |latest| latest.epoch);
        let batches = fit.stopped.map_or(0, |point| point.trained.batches);
        Self {
            epochs,
            batches,
            step: (epochs * batches_per_epoch + batches) as u64,
        }
    }
}

/// Trains the network as `fit` describes, checkpointing after each epoch,
/// then evaluates it on the test split.
pub fn fit(fit: Fit<'_>) -> anyhow::Result<Outcome> {
    let config = fit.config;
    let (train, valid) = split_validation(config, &fit.train, &fit.test)?;
    let chance = Chance::of(&valid);
    let batches_per_epoch = train.len().div_ceil(config.batch_size);
    let scheduler = crate::optim::lr_scheduler(config, batches_per_epoch)
        .map_err(|error| anyhow::anyhow!("invalid learning-rate schedule: {error}"))?;
    let start = Start::of(&fit, batches_per_epoch);
    // The Learner trains on the autodiff view of the device; the model must be
    // created there so its parameters are tracked.
    let train_device = fit.device.clone().autodiff();
    train_device.seed(config.seed);
    let grad_log = config.grad_norms.then(GradNormLog::new);
    let model = build_network(&fit, &train_device, grad_log.clone(), start);
    let (loader_train, loader_valid) = loaders(config, fit.device, train, valid, start);
    let history = History::new(Mutex::new(
        fit.resume
            .map(|latest| latest.epochs.clone())
            .unwrap_or_default(),
    ));
    let optimizer = crate::optim::optimizer(config);
    let (loop_optimizer, loop_scheduler, stopping) = loop_state(&fit, scheduler.clone())?;
    let tensorboard = TensorBoard::create(
        fit.run.path(),
        batches_per_epoch,
        start.epochs,
        start.batches,
    )?;
    let guard = LossGuard::new(fit.interrupter.clone());
    let strategy = FreeRunning::new(
        train_device,
        guard.clone(),
        loop_optimizer,
        optimizer.clone(),
        loop_scheduler,
        tensorboard.clone(),
        stopping,
    );
    let training = SupervisedTraining::new(fit.run.learner_dir(), loader_train, loader_valid)
        .metrics((EpochMetric::accuracy(), EpochMetric::loss()))
        .with_training_strategy(TrainingStrategy::Custom(Arc::new(strategy)));
    let training = with_checkpoints_and_stopping(training, &fit, &history, start);
    let (renderer, end_reasons) = renderer(&fit, history.clone(), grad_log, &tensorboard);
    let result = training
        .renderer(renderer)
        .launch(Learner::new(model, optimizer, scheduler));
    // Dropping the renderer closes the dashboard and gives the terminal back
    // before anything else is printed.
    drop(result.renderer);
    let end_reasons = end_reasons.lock().expect("end reasons lock").clone();
    if let Some(error) = result
        .error
        .map(|error| error.to_string())
        .or(end_reasons.error)
        .or(guard.failure())
    {
        bail!("training failed: {error}");
    }
    if let Some(error) = tensorboard.error() {
        errln!("warning: the TensorBoard files are incomplete: {error}");
    }
    let epochs = history.lock().expect("history lock").clone();
    let ending = if let Some(divergence) = guard.divergence() {
        Ending::Diverged(divergence)
    } else if let Some(signal) = fit
        .watch
        .received()
        .filter(|_| epochs.len() < config.epochs)
    {
        Ending::Interrupted { signal }
    } else {
        let stopped_early = (epochs.len() < config.epochs).then(|| {
            end_reasons
                .interruption
                .unwrap_or(EarlyStop::NoImprovement {
                    patience: config.validation.patience,
                })
        });
        Ending::Finished(evaluate_kept(&fit, result.model, &epochs, stopped_early)?)
    };
    Ok(Outcome {
        epochs,
        ending,
        chance,
    })
}

/// The training and validation splits: with `[validation] split`, a part of
/// `train` held out (the same part for every run with the held-out seed),
/// else all of `train`, validated on `test`.
fn split_validation(
    config: &TrainConfig,
    train: &Arc<MnistSplit>,
    test: &Arc<MnistSplit>,
) -> anyhow::Result<(Arc<MnistSplit>, Arc<MnistSplit>)> {
    if config.validation.split <= 0.0 {
        return Ok((Arc::clone(train), Arc::clone(test)));
    }
    let (train, valid) = train.hold_out(
        config.validation.split,
        config.validation.holdout_seed(config.seed),
    );
    if train.is_empty() || valid.is_empty() {
        bail!(
            "validation.split = {} leaves {} training and {} validation images; both need at least one",
            config.validation.split,
            train.len(),
            valid.len()
        );
    }
    Ok((Arc::new(train), Arc::new(valid)))
}

/// The network, initialised on `train_device` from the config's seed, with
/// its gradient-norm log when asked and its dropout stream at `start`.
fn build_network(
    fit: &Fit<'_>,
    train_device: &Device,
    grad_log: Option<GradNormLog>,
    start: Start,
) -> Mlp {
    let mut model = fit.network.init(train_device);
    if let Some(log) = grad_log {
        model = model.with_grad_log(log);
    }
    model.with_dropout_stream(DropoutStream::new(fit.config.seed, start.step))
}

/// The loaders of both splits: the training batches shuffled (and distorted,
/// when asked) anew each epoch from the seed, resumed after `start.epochs`;
/// the validation batches in order, [`EVAL_BATCH_SIZE`] at a time.
fn loaders(
    config: &TrainConfig,
    device: &Device,
    train: Arc<MnistSplit>,
    valid: Arc<MnistSplit>,
    start: Start,
) -> (
    Arc<dyn DataLoader<MnistBatch>>,
    Arc<dyn DataLoader<MnistBatch>>,
) {
    let distortion = data::Distortion::from(&config.augment);
    // On the GPU the splits live on the device, uploaded once, and each
    // batch is gathered there (data::resident), distorted there too if the
    // run asks for it (data::device_augment); on the CPU distorted batches
    // are drawn on the host.
    let resident = config.backend == Backend::Wgpu;
    let seed = Some(config.seed);
    let shuffled: Arc<dyn DataLoader<MnistBatch>> = if !distortion.is_identity() {
        // Each image distorted as drawn for (seed, epoch, index): the epoch
        // comes from counting the shuffling loader's epochs.
        let epoch = Epoch::default();
        let loader = if resident {
            let batcher = ResidentBatcher::distorting(
                Arc::clone(&train),
                distortion,
                config.seed,
                epoch.clone(),
            );
            loader(batcher, config.batch_size, seed, device, train)
        } else {
            let batcher = DistortingBatcher::new(distortion, config.seed, epoch.clone());
            loader(batcher, config.batch_size, seed, device, train)
        };
        Arc::new(EpochCount::new(loader, epoch))
    } else if resident {
        let batcher = ResidentBatcher::new(Arc::clone(&train));
        loader(batcher, config.batch_size, seed, device, train)
    } else {
        loader(MnistBatcher, config.batch_size, seed, device, train)
    };
    let loader_train: Arc<dyn DataLoader<MnistBatch>> =
        Arc::new(ResumedLoader::new(shuffled, start.epochs));
    let loader_valid = if resident {
        let batcher = ResidentBatcher::new(Arc::clone(&valid));
        loader(batcher, EVAL_BATCH_SIZE, None, device, valid)
    } else {
        loader(MnistBatcher, EVAL_BATCH_SIZE, None, device, valid)
    };
    // On the CPU backends the training batches are built on a thread of
    // their own and handed over 8 at a time: 0.01 s of a 0.17 s epoch here,
    // for about 10 MB more resident memory (16 at a time, and prefetching the
    // 3 MB evaluation batches too, cost 27 MB for no further gain). On wgpu
    // they stay on the training thread: a second thread submitting work to
    // the device was seen to deadlock CubeCL's autotuner once (on Mesa's
    // OpenGL driver), and there the upload is not what an epoch waits for.
    let loader_train: Arc<dyn DataLoader<MnistBatch>> = match config.backend {
        Backend::Wgpu => loader_train,
        Backend::Flex | Backend::Ndarray => Arc::new(Prefetch::new(loader_train, 8)),
    };
    (loader_train, loader_valid)
}

/// The training loop's optimizer and schedule ([`FreeRunning`] keeps its
/// own; Burn restores a checkpoint into the `Learner`, which gives the loop
/// its model): fresh, or restored from the stop point or checkpoint the run
/// resumes from; and its stop points, with the one it resumes from.
fn loop_state(
    fit: &Fit<'_>,
    scheduler: ModuleLrScheduler,
) -> anyhow::Result<(StepOptimizer, ModuleLrScheduler, Stopping)> {
    let (config, run) = (fit.config, fit.run);
    let restored = match (fit.stopped, fit.resume) {
        (Some(point), _) => Some(restore_optimizer_from(
            &point.path(run.path(), "optim"),
            &point.path(run.path(), "scheduler"),
            config,
        )?),
        (None, Some(latest)) => Some(restore_optimizer(run.path(), latest.epoch, config)?),
        (None, None) => None,
    };
    let (optimizer, scheduler) = match restored {
        Some((optim, schedule)) => (optim, scheduler.load_record(schedule)),
        None => (crate::optim::step_optimizer(config), scheduler),
    };
    let stopping = Stopping {
        run_dir: run.path().to_path_buf(),
        architecture: fit.network.describe(),
        watch: fit.watch.clone(),
        resume: match fit.stopped {
            Some(point) => Some((point.clone(), point.model(run.path())?)),
            None => None,
        },
    };
    Ok((optimizer, scheduler, stopping))
}

/// Burn's training with the run's checkpoints (each epoch committed with
/// its metrics into `history`; resumed after `start.epochs`), the epoch
/// count, the interrupter and, with `[validation] patience`, early stopping
/// on the validation loss.
fn with_checkpoints_and_stopping(
    training: SupervisedTraining<Mlp>,
    fit: &Fit<'_>,
    history: &History,
    start: Start,
) -> SupervisedTraining<Mlp> {
    let config = fit.config;
    let (model_checkpoints, optimizer_checkpoints, scheduler_checkpoints) = EpochCommitter::new(
        fit.run.path(),
        history.clone(),
        config.validation.keep_best,
        fit.network.describe(),
    )
    .checkpointers();
    let mut training = training
        .num_epochs(config.epochs)
        .with_interrupter(fit.interrupter.clone())
        .with_custom_checkpointers(
            model_checkpoints,
            optimizer_checkpoints,
            scheduler_checkpoints,
        )
        // Two, so the epoch latest.json names survives while the next is written.
        .with_checkpointing_strategy(KeepLastNCheckpoints::new(2));
    if start.epochs > 0 {
        training = training.checkpoint(start.epochs);
    }
    let patience = config.validation.patience;
    if patience > 0 {
        training = training.early_stopping(MetricEarlyStoppingStrategy::new(
            &EpochMetric::loss(),
            Aggregate::Mean,
            Direction::Lowest,
            Split::Valid,
            StoppingCondition::NoImprovementSince { n_epochs: patience },
        ));
    }
    training
}

/// What shows the run's progress (Burn's dashboard, or a line per epoch)
/// and records each epoch's figures into `history` and TensorBoard; with
/// the reasons training ended early, filled in as it ends.
fn renderer(
    fit: &Fit<'_>,
    history: History,
    grad_log: Option<GradNormLog>,
    tensorboard: &TensorBoard,
) -> (Box<ProgressRenderer>, Arc<Mutex<EndReasons>>) {
    let display = if fit.dashboard {
        signals::keep_ctrl_c_as_signal();
        let tui = TuiMetricsRendererWrapper::new(
            fit.interrupter.clone(),
            fit.resume.map(|latest| latest.epoch),
        );
        Display::dashboard(Box::new(tui), (fit.config.batch_size, EVAL_BATCH_SIZE))
    } else {
        Display::plain()
    };
    let (end_watch, end_reasons) = EndWatch::new(fit.interrupter.clone());
    let recorder = EpochRecorder::new(history, grad_log).with_tensorboard(tensorboard.clone());
    let renderer = Box::new(ProgressRenderer::new(recorder, end_watch, display));
    (renderer, end_reasons)
}

/// The model training ended with, or with `keep_best` the best epoch's
/// weights, evaluated on every test image.
fn evaluate_kept(
    fit: &Fit<'_>,
    mut model: Mlp,
    epochs: &[EpochMetrics],
    stopped_early: Option<EarlyStop>,
) -> anyhow::Result<Evaluated> {
    let best_epoch = fit
        .config
        .validation
        .keep_best
        .then(|| best_epoch(epochs))
        .flatten();
    if best_epoch.is_some_and(|best| best < epochs.len()) {
        let path = fit.run.path().join(CHECKPOINT_DIR).join(BEST_MODEL_FILE);
        let record = ModuleRecord::load(path.clone())
            .with_context(|| format!("cannot read the best epoch's weights {}", path.display()))?;
        model = model.load_record(record);
    }
    let test = evaluate(
        &model,
        Arc::clone(&fit.test),
        NUM_CLASSES,
        EVAL_BATCH_SIZE,
        fit.device,
    )
    .context("cannot read the test results back from the device")?;
    Ok(Evaluated {
        model: Box::new(model),
        test,
        stopped_early,
        best_epoch,
    })
}

/// Burn's loader of `split` in batches of `batch_size` built by `batcher`,
/// shuffled anew each epoch from `shuffle`'s seed when given.
fn loader<B>(
    batcher: B,
    batch_size: usize,
    shuffle: Option<u64>,
    device: &Device,
    split: Arc<MnistSplit>,
) -> Arc<dyn DataLoader<MnistBatch>>
where
    B: Batcher<MnistItem, MnistBatch> + 'static,
{
    let builder = DataLoaderBuilder::new(batcher)
        .batch_size(batch_size)
        .set_device(device.clone());
    let builder = match shuffle {
        Some(seed) => builder.shuffle(seed),
        None => builder,
    };
    builder.build(MnistDataset::new(split))
}
