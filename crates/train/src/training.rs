//! One training run through Burn's `Learner`: data loaders (with a held-out
//! validation set if asked), the optimizer and its learning-rate schedule,
//! accuracy and loss on the training and validation splits, early stopping,
//! the dashboard, a checkpoint after every epoch, then the final evaluation on
//! every test image.

use std::sync::{Arc, Mutex};

use anyhow::{Context, bail};
use burn::data::dataloader::batcher::Batcher;
use burn::data::dataloader::{DataLoader, DataLoaderBuilder};
use burn::module::Module;
use burn::store::ModuleRecord;
use burn::tensor::Device;
use burn::train::checkpoint::KeepLastNCheckpoints;
use burn::train::metric::store::{Aggregate, Direction, Split};
use burn::train::renderer::tui::TuiMetricsRendererWrapper;
use burn::train::{Interrupter, Learner, SupervisedTraining, TrainingStrategy};
use burn::train::{MetricEarlyStoppingStrategy, StoppingCondition};
use console::errln;
use data::{
    DistortingBatcher, Epoch, EpochCount, IMAGE_PIXELS, MnistBatch, MnistBatcher, MnistDataset,
    MnistItem, MnistSplit, NUM_CLASSES, Prefetch, ResidentBatcher,
};
use model::{
    Backend, DropoutStream, EVAL_BATCH_SIZE, Evaluation, GradNormLog, Mlp, MlpConfig, evaluate,
};

use crate::checkpoint::{
    BEST_MODEL_FILE, CHECKPOINT_DIR, EpochCommitter, Latest, ResumedLoader, best_epoch,
    restore_optimizer, restore_optimizer_from,
};
use crate::guard::{Chance, Divergence, LossGuard};
use crate::metrics::EpochMetric;
use crate::progress::ProgressRenderer;
use crate::progress::display::Display;
use crate::progress::ended::EndWatch;
use crate::progress::recorder::{EpochRecorder, History};
use crate::signals::{self, SignalWatch};
use crate::stop_point::StopPoint;
use crate::strategy::{FreeRunning, Stopping};
use config::TrainConfig;
use run::{EpochMetrics, RunDir, TensorBoard};

/// How training ended.
pub enum Ending {
    /// Every epoch ran, or early stopping or the dashboard's stop key ended
    /// it early (the reason): the model is evaluated and saved.
    Finished {
        model: Box<Mlp>,
        test: Evaluation,
        stopped_early: Option<String>,
        /// With `keep_best`: the epoch whose weights `model` holds.
        best_epoch: Option<usize>,
    },
    /// Ctrl-C or SIGTERM (the signal's number): the checkpoints are what is kept.
    Interrupted { signal: i32 },
    /// The loss stopped being finite: the checkpoints are what is kept.
    Diverged(Divergence),
}

/// What a run produced.
pub struct Outcome {
    pub model_config: MlpConfig,
    /// Every finished epoch, those before a resume included.
    pub epochs: Vec<EpochMetrics>,
    pub ending: Ending,
    /// What guessing scores on the validation set.
    pub chance: Chance,
}

/// Everything one training run needs.
pub struct Fit<'a> {
    pub config: &'a TrainConfig,
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

/// Trains the network as `fit` describes, checkpointing after each epoch,
/// then evaluates it on the test split.
pub fn fit(fit: Fit<'_>) -> anyhow::Result<Outcome> {
    let Fit {
        config,
        train,
        test,
        device,
        run,
        dashboard,
        resume,
        stopped,
        interrupter,
        watch,
    } = fit;
    // The Learner trains on the autodiff view of the device; the model must be
    // created there so its parameters are tracked.
    let train_device = device.clone().autodiff();
    train_device.seed(config.seed);
    let model_config = MlpConfig::from_section(&config.model, IMAGE_PIXELS, NUM_CLASSES);
    let grad_log = config.grad_norms.then(GradNormLog::new);
    let mut model = model_config.init(&train_device);
    if let Some(log) = &grad_log {
        model = model.with_grad_log(log.clone());
    }
    let (train, valid) = if config.validation.split > 0.0 {
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
        (Arc::new(train), Arc::new(valid))
    } else {
        (train, Arc::clone(&test))
    };
    let chance = Chance::of(&valid);
    let batches_per_epoch = train.len().div_ceil(config.batch_size);
    let scheduler = crate::optim::lr_scheduler(config, batches_per_epoch)
        .map_err(|error| anyhow::anyhow!("invalid learning-rate schedule: {error}"))?;

    let finished_epochs = resume.map_or(0, |latest| latest.epoch);
    // Batches of the next epoch trained before a stop point.
    let finished_batches = stopped.map_or(0, |point| point.trained.batches);
    // Dropout masks on flex come from (seed, step, layer): a resumed run
    // counts its steps on from those already trained.
    let first_step = (finished_epochs * batches_per_epoch + finished_batches) as u64;
    model = model.with_dropout_stream(DropoutStream::new(config.seed, first_step));
    let distortion = data::Distortion::from(&config.augment);
    // On the GPU the splits live on the device, uploaded once, and each
    // batch is gathered there (data::resident), distorted there too if the
    // run asks for it (data::device_augment); on the CPU distorted batches
    // are drawn on the host.
    let resident = config.backend == Backend::Wgpu;
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
            loader(batcher, config.batch_size, Some(config.seed), device, train)
        } else {
            let batcher = DistortingBatcher::new(distortion, config.seed, epoch.clone());
            loader(batcher, config.batch_size, Some(config.seed), device, train)
        };
        Arc::new(EpochCount::new(loader, epoch))
    } else if resident {
        let batcher = ResidentBatcher::new(Arc::clone(&train));
        loader(batcher, config.batch_size, Some(config.seed), device, train)
    } else {
        loader(
            MnistBatcher,
            config.batch_size,
            Some(config.seed),
            device,
            train,
        )
    };
    let loader_train: Arc<dyn DataLoader<MnistBatch>> =
        Arc::new(ResumedLoader::new(shuffled, finished_epochs));
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

    let history = History::new(Mutex::new(
        resume
            .map(|latest| latest.epochs.clone())
            .unwrap_or_default(),
    ));
    let (model_checkpoints, optimizer_checkpoints, scheduler_checkpoints) = EpochCommitter::new(
        run.path(),
        history.clone(),
        config.validation.keep_best,
        model_config.describe(),
    )
    .checkpointers();
    let optimizer = crate::optim::optimizer(config);
    // Burn restores a checkpoint into the Learner, which gives the loop its
    // model; the loop keeps its own optimizer and schedule, restored here.
    let restored = match (stopped, resume) {
        (Some(point), _) => Some(restore_optimizer_from(
            &point.path(run.path(), "optim"),
            &point.path(run.path(), "scheduler"),
            config,
        )?),
        (None, Some(latest)) => Some(restore_optimizer(run.path(), latest.epoch, config)?),
        (None, None) => None,
    };
    let (loop_optimizer, loop_scheduler) = match restored {
        Some((optim, schedule)) => (optim, scheduler.clone().load_record(schedule)),
        None => (crate::optim::step_optimizer(config), scheduler.clone()),
    };
    let stopping = Stopping {
        run_dir: run.path().to_path_buf(),
        architecture: model_config.describe(),
        watch: watch.clone(),
        resume: match stopped {
            Some(point) => Some((point.clone(), point.model(run.path())?)),
            None => None,
        },
    };
    let tensorboard = TensorBoard::create(
        run.path(),
        batches_per_epoch,
        finished_epochs,
        finished_batches,
    )?;
    let guard = LossGuard::new(interrupter.clone());
    let mut training = SupervisedTraining::new(run.learner_dir(), loader_train, loader_valid)
        .metrics((EpochMetric::accuracy(), EpochMetric::loss()))
        .with_training_strategy(TrainingStrategy::Custom(Arc::new(FreeRunning::new(
            train_device.clone(),
            guard.clone(),
            loop_optimizer,
            optimizer.clone(),
            loop_scheduler,
            tensorboard.clone(),
            stopping,
        ))))
        .num_epochs(config.epochs)
        .with_interrupter(interrupter.clone())
        .with_custom_checkpointers(
            model_checkpoints,
            optimizer_checkpoints,
            scheduler_checkpoints,
        )
        // Two, so the epoch latest.json names survives while the next is written.
        .with_checkpointing_strategy(KeepLastNCheckpoints::new(2));
    if finished_epochs > 0 {
        training = training.checkpoint(finished_epochs);
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
    let display = if dashboard {
        signals::keep_ctrl_c_as_signal();
        let tui =
            TuiMetricsRendererWrapper::new(interrupter.clone(), resume.map(|latest| latest.epoch));
        Display::dashboard(Box::new(tui), (config.batch_size, EVAL_BATCH_SIZE))
    } else {
        Display::plain()
    };
    let (end_watch, end_reasons) = EndWatch::new(interrupter);
    let recorder =
        EpochRecorder::new(history.clone(), grad_log).with_tensorboard(tensorboard.clone());
    let training = training.renderer(Box::new(ProgressRenderer::new(
        recorder, end_watch, display,
    )));

    let learner = Learner::new(model, optimizer, scheduler);
    let result = training.launch(learner);
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
    } else if let Some(signal) = watch.received().filter(|_| epochs.len() < config.epochs) {
        Ending::Interrupted { signal }
    } else {
        // The dashboard's stop key or early stopping ended training early.
        let stopped_early =
            (epochs.len() < config.epochs).then(|| match end_reasons.interruption {
                Some(reason) => match reason.as_str() {
                    "" | "Stopping training from user input." => {
                        "stopped from the dashboard".into()
                    }
                    _ => reason,
                },
                None => format!(
                    "early stopping: the validation loss has not improved for {patience} epochs"
                ),
            });
        let mut model = result.model;
        let best_epoch = config
            .validation
            .keep_best
            .then(|| best_epoch(&epochs))
            .flatten();
        if best_epoch.is_some_and(|best| best < epochs.len()) {
            let path = run.path().join(CHECKPOINT_DIR).join(BEST_MODEL_FILE);
            let record = ModuleRecord::load(path.clone()).with_context(|| {
                format!("cannot read the best epoch's weights {}", path.display())
            })?;
            model = model.load_record(record);
        }
        let test = evaluate(&model, test, NUM_CLASSES, EVAL_BATCH_SIZE, device)
            .context("cannot read the test results back from the device")?;
        Ending::Finished {
            model: Box::new(model),
            test,
            stopped_early,
            best_epoch,
        }
    };
    Ok(Outcome {
        model_config,
        epochs,
        ending,
        chance,
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
