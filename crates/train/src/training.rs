//! One training run through Burn's `Learner`: data loaders, Adam, accuracy and
//! loss on the training and evaluation splits, the dashboard, a checkpoint
//! after every epoch, then the final evaluation on every test image.

use std::sync::{Arc, Mutex};

use anyhow::{Context, bail};
use burn::data::dataloader::{DataLoader, DataLoaderBuilder};
use burn::tensor::Device;
use burn::train::checkpoint::KeepLastNCheckpoints;
use burn::train::metric::{AccuracyMetric, LossMetric};
use burn::train::renderer::MetricsRenderer;
use burn::train::renderer::tui::TuiMetricsRendererWrapper;
use burn::train::{Interrupter, Learner, SupervisedTraining};
use data::{IMAGE_PIXELS, MnistBatch, MnistBatcher, MnistDataset, MnistSplit, NUM_CLASSES};
use model::{EVAL_BATCH_SIZE, Evaluation, Mlp, MlpConfig, evaluate};

use crate::checkpoint::{Journal, Latest, ResumedLoader};
use crate::renderer::{Divergence, EpochMetrics, EpochRenderer, History, Stops};
use crate::run_dir::RunDir;
use crate::signals::{self, SignalWatch};
use train::config::TrainConfig;

/// How training ended.
pub enum Ending {
    /// Every epoch ran, or the dashboard's stop key ended it early (the
    /// reason): the model is evaluated and saved.
    Finished {
        model: Box<Mlp>,
        test: Evaluation,
        stopped_early: Option<String>,
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
}

/// Trains the network on `train`, evaluating on `test` after each epoch and
/// checkpointing into `run`; with `resume`, continues from that checkpoint.
/// With `dashboard`, Burn's terminal dashboard shows progress; otherwise one
/// line per epoch is printed. `interrupter` is the one `watch` stops.
#[allow(clippy::too_many_arguments)]
pub fn fit(
    config: &TrainConfig,
    train: Arc<MnistSplit>,
    test: Arc<MnistSplit>,
    device: &Device,
    run: &RunDir,
    dashboard: bool,
    resume: Option<&Latest>,
    (interrupter, watch): (Interrupter, &SignalWatch),
) -> anyhow::Result<Outcome> {
    // The Learner trains on the autodiff view of the device; the model must be
    // created there so its parameters are tracked.
    let train_device = device.clone().autodiff();
    train_device.seed(config.seed);
    let model_config = config.model_config(IMAGE_PIXELS, NUM_CLASSES);
    let model = model_config.init(&train_device);

    let finished_epochs = resume.map_or(0, |latest| latest.epoch);
    let loader_train: Arc<dyn DataLoader<MnistBatch>> = Arc::new(ResumedLoader::new(
        DataLoaderBuilder::new(MnistBatcher)
            .batch_size(config.batch_size)
            .shuffle(config.seed)
            .set_device(device.clone())
            .build(MnistDataset::new(train)),
        finished_epochs,
    ));
    let loader_test = DataLoaderBuilder::new(MnistBatcher)
        .batch_size(EVAL_BATCH_SIZE)
        .set_device(device.clone())
        .build(MnistDataset::new(Arc::clone(&test)));

    let history = History::new(Mutex::new(
        resume
            .map(|latest| latest.epochs.clone())
            .unwrap_or_default(),
    ));
    let (model_checkpoints, optimizer_checkpoints, scheduler_checkpoints) =
        Journal::new(run.path(), history.clone()).checkpointers();
    let mut training = SupervisedTraining::new(run.learner_dir(), loader_train, loader_test)
        .metrics((AccuracyMetric::new(), LossMetric::new()))
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
    let dashboard = dashboard.then(|| {
        signals::keep_ctrl_c_as_signal();
        Box::new(TuiMetricsRendererWrapper::new(
            interrupter.clone(),
            resume.map(|latest| latest.epoch),
        )) as Box<dyn MetricsRenderer>
    });
    let stops = Arc::new(Mutex::new(Stops::default()));
    let training = training.renderer(Box::new(EpochRenderer::new(
        dashboard,
        history.clone(),
        interrupter,
        stops.clone(),
    )));

    let learner = Learner::new(model, config.adam().init(), config.optimizer.learning_rate);
    let result = training.launch(learner);
    // Dropping the renderer closes the dashboard and gives the terminal back
    // before anything else is printed.
    drop(result.renderer);
    let stops = stops.lock().expect("stops lock").clone();
    if let Some(error) = result.error.map(|error| error.to_string()).or(stops.error) {
        bail!("training failed: {error}");
    }
    let epochs = history.lock().expect("history lock").clone();
    let ending = if let Some(divergence) = stops.divergence {
        Ending::Diverged(divergence)
    } else if let Some(signal) = watch.received().filter(|_| epochs.len() < config.epochs) {
        Ending::Interrupted { signal }
    } else {
        // Only the dashboard's stop key is left to end training early.
        let stopped_early = stops
            .interruption
            .filter(|_| epochs.len() < config.epochs)
            .map(|reason| match reason.as_str() {
                "" | "Stopping training from user input." => "stopped from the dashboard".into(),
                _ => reason,
            });
        let test = evaluate(&result.model, test, NUM_CLASSES, EVAL_BATCH_SIZE, device)
            .context("cannot read the test results back from the device")?;
        Ending::Finished {
            model: Box::new(result.model),
            test,
            stopped_early,
        }
    };
    Ok(Outcome {
        model_config,
        epochs,
        ending,
    })
}
