//! One training run through Burn's `Learner`: data loaders, Adam, accuracy and
//! loss on the training and evaluation splits, the dashboard, then the final
//! evaluation on every test image.

use std::sync::Arc;

use anyhow::{Context, bail};
use burn::data::dataloader::DataLoaderBuilder;
use burn::tensor::Device;
use burn::train::metric::{AccuracyMetric, LossMetric};
use burn::train::renderer::MetricsRenderer;
use burn::train::renderer::tui::TuiMetricsRendererWrapper;
use burn::train::{Learner, SupervisedTraining};
use data::{IMAGE_PIXELS, MnistBatcher, MnistDataset, MnistSplit, NUM_CLASSES};
use model::{EVAL_BATCH_SIZE, Evaluation, Mlp, MlpConfig, evaluate};

use crate::config::TrainConfig;
use crate::renderer::{EpochMetrics, EpochRenderer, History};
use crate::run_dir::RunDir;

/// What a finished run produced.
pub struct Outcome {
    pub model: Mlp,
    pub model_config: MlpConfig,
    pub epochs: Vec<EpochMetrics>,
    /// Over every test image, after the last epoch.
    pub test: Evaluation,
    /// Why training ended before its last epoch, if it did (the dashboard's stop key).
    pub stopped_early: Option<String>,
}

/// Trains a fresh network on `train`, evaluating on `test` after each epoch.
/// With `dashboard`, Burn's terminal dashboard shows progress; otherwise one
/// line per epoch is printed.
pub fn fit(
    config: &TrainConfig,
    train: Arc<MnistSplit>,
    test: Arc<MnistSplit>,
    device: &Device,
    run: &RunDir,
    dashboard: bool,
) -> anyhow::Result<Outcome> {
    // The Learner trains on the autodiff view of the device; the model must be
    // created there so its parameters are tracked.
    let train_device = device.clone().autodiff();
    train_device.seed(config.seed);
    let model_config = config.model_config(IMAGE_PIXELS, NUM_CLASSES);
    let model = model_config.init(&train_device);

    let loader_train = DataLoaderBuilder::new(MnistBatcher)
        .batch_size(config.batch_size)
        .shuffle(config.seed)
        .set_device(device.clone())
        .build(MnistDataset::new(train));
    let loader_test = DataLoaderBuilder::new(MnistBatcher)
        .batch_size(EVAL_BATCH_SIZE)
        .set_device(device.clone())
        .build(MnistDataset::new(Arc::clone(&test)));

    let history = History::default();
    let training = SupervisedTraining::new(run.learner_dir(), loader_train, loader_test)
        .metrics((AccuracyMetric::new(), LossMetric::new()))
        .num_epochs(config.epochs);
    let dashboard = dashboard.then(|| {
        Box::new(TuiMetricsRendererWrapper::new(training.interrupter(), None))
            as Box<dyn MetricsRenderer>
    });
    let training = training.renderer(Box::new(EpochRenderer::new(dashboard, history.clone())));

    let learner = Learner::new(model, config.adam().init(), config.optimizer.learning_rate);
    let result = training.launch(learner);
    // Dropping the renderer closes the dashboard and gives the terminal back
    // before anything else is printed.
    drop(result.renderer);
    if let Some(error) = result.error {
        bail!("training failed: {error}");
    }
    let epochs = history.lock().expect("history lock").clone();
    // Burn's dashboard clears the stop request when training ends, so
    // `interrupted` can be empty after a stop: the epoch count tells as well.
    let stopped_early = result
        .interrupted
        .map(|stop| stop.reason.unwrap_or_default())
        .or_else(|| (epochs.len() < config.epochs).then(String::new))
        .map(|reason| match reason.as_str() {
            "" => "stopped from the dashboard".to_string(),
            _ => reason,
        });

    let test = evaluate(&result.model, test, NUM_CLASSES, EVAL_BATCH_SIZE, device)
        .context("cannot read the test results back from the device")?;
    Ok(Outcome {
        model: result.model,
        model_config,
        epochs,
        test,
        stopped_early,
    })
}
