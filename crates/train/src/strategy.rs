//! The training loop: a Burn `SupervisedLearningStrategy` (plugged in with
//! `TrainingStrategy::Custom`) whose training thread does not wait on its
//! bookkeeping.
//!
//! Burn's own loop sends every batch's output to the metrics thread through a
//! channel that holds one event, so the training thread stops whenever that
//! thread is behind; there, each metric reads the batch back from the device.
//! This loop keeps each batch's loss and correct count (which the step
//! computes anyway) on the device, and about ten times a second (and at the
//! end of each split) reads back everything since its last report in one
//! transfer ([`Tally::read`]), checks each batch's loss ([`LossGuard`]), and
//! sends Burn's event processor a single item with the sums. The metrics
//! still count every image exactly once; the dashboard moves ten times a
//! second; the metrics thread is idle almost all the time.
//!
//! The loop also owns the model, the optimizer and the learning-rate schedule
//! outright instead of going through `Learner::optimizer_step`, which passes
//! the optimizer a clone of the model while the `Learner` keeps the original:
//! every parameter is then shared and flex copies it before updating it. Here
//! nothing else holds the parameters, so the fused Adam updates them in place.
//! A `Learner` is assembled from the three only for Burn's checkpointer.
//!
//! Everything else is Burn's single-device loop as it is: learning-rate steps,
//! validation after each epoch, checkpoints, early stopping and the
//! interrupter. When a signal stops it inside an epoch, the loop leaves a
//! [stop point](crate::stop_point) and a resumed run starts from one.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use burn::data::dataloader::{DataLoaderIterator, Progress};
use burn::lr_scheduler::module_lr_scheduler::{ModuleLearningRate, ModuleLrScheduler};
use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::store::ModuleRecord;
use burn::tensor::Device;
use burn::train::{
    EventProcessorTraining, InferenceStep, Interrupter, Learner, LearnerEvent,
    SupervisedLearningStrategy, SupervisedTrainingEventProcessor, TrainLoader, TrainStep,
    TrainingComponents, TrainingItem, ValidLoader,
};
use data::MnistBatch;
use model::{Mlp, StepOptimizer, StepOutput, Tally};

use crate::guard::{LossGuard, Split};
use crate::signals::SignalWatch;
use crate::stop_point::{self, StopPoint, Trained};
use run::TensorBoard;

/// How often the loop reports progress and metrics (the dashboard's frame rate).
pub const REPORT_INTERVAL: Duration = Duration::from_millis(100);

/// The training loop for [`Mlp`] on one device.
pub struct FreeRunning {
    /// The autodiff device training runs on.
    device: Device,
    guard: LossGuard,
    /// The optimizer and schedule to train with (restored, when resuming);
    /// taken when training starts.
    parts: Mutex<Option<(StepOptimizer, ModuleLrScheduler)>>,
    /// An unstepped optimizer of the same kind, in which Burn's checkpointer
    /// is given the loop's state.
    template: ModuleOptimizer,
    /// Where each training batch's loss goes too.
    tensorboard: TensorBoard,
    stopping: Mutex<Stopping>,
}

/// Stop points: the one a run resumes from, and where the loop leaves one.
pub struct Stopping {
    /// The run directory the stop point goes into.
    pub run_dir: PathBuf,
    /// The network, `describe()`d, recorded with the stop point.
    pub architecture: String,
    /// Says whether a signal stopped training (a stop for another reason,
    /// such as divergence, leaves no stop point).
    pub watch: SignalWatch,
    /// The stop point this run resumes from, with its weights.
    pub resume: Option<(StopPoint, ModuleRecord)>,
}

impl FreeRunning {
    pub fn new(
        device: Device,
        guard: LossGuard,
        optimizer: StepOptimizer,
        template: ModuleOptimizer,
        scheduler: ModuleLrScheduler,
        tensorboard: TensorBoard,
        stopping: Stopping,
    ) -> Self {
        Self {
            device,
            guard,
            parts: Mutex::new(Some((optimizer, scheduler))),
            template,
            tensorboard,
            stopping: Mutex::new(stopping),
        }
    }

    /// Writes the stop point of a run a signal stopped after `trained` of
    /// `epoch`; the error, if any, fails the run as other training errors do.
    fn leave_stop_point(&self, epoch: usize, trained: Trained, trainee: &Trainee) {
        let stopping = self.stopping.lock().expect("stopping lock");
        let failed = self.guard.failure().is_some() || self.guard.divergence().is_some();
        if stopping.watch.received().is_none() || failed {
            return;
        }
        let records = (
            trainee.model.clone().into_record(),
            trainee
                .optimizer
                .to_module_optimizer(&self.template)
                .to_record(),
            trainee.scheduler.to_record(),
        );
        if let Err(error) = stop_point::save(
            &stopping.run_dir,
            epoch,
            trained,
            stopping.architecture.clone(),
            records,
        ) {
            self.guard
                .fail(format!("cannot write the stop point: {error:#}"));
        }
    }
}

/// What the loop trains: the model, and what moves it.
struct Trainee {
    model: Mlp,
    optimizer: StepOptimizer,
    scheduler: ModuleLrScheduler,
}

/// The batches run since the last report.
struct Pending {
    split: Split,
    epoch: usize,
    outputs: Vec<StepOutput>,
    /// Batches of this split reported before these (0-based count).
    reported: usize,
    /// What the reported batches add up to.
    trained: Trained,
    since: Instant,
}

impl Pending {
    fn new(split: Split, epoch: usize) -> Self {
        Self {
            split,
            epoch,
            outputs: Vec::new(),
            reported: 0,
            trained: Trained::default(),
            since: Instant::now(),
        }
    }

    fn due(&self) -> bool {
        self.since.elapsed() >= REPORT_INTERVAL
    }

    /// Reads the pending outputs back, checks their losses and returns their
    /// sums as one item; `None` when there is nothing to report or training
    /// must stop. Training batches' losses also go to `tensorboard`, with the
    /// learning rate of the last of them.
    fn take(
        &mut self,
        guard: &LossGuard,
        device: &Device,
        tensorboard: Option<(&TensorBoard, Option<f64>)>,
    ) -> Option<StepOutput> {
        if self.outputs.is_empty() {
            return None;
        }
        let outputs = std::mem::take(&mut self.outputs);
        let first_batch = self.reported + 1;
        self.reported += outputs.len();
        self.since = Instant::now();
        let tally = match Tally::read(&outputs) {
            Ok(tally) => tally,
            Err(error) => {
                guard.fail(format!(
                    "cannot read the losses back from the device: {error}"
                ));
                return None;
            }
        };
        self.trained.add(outputs.len(), &tally);
        if let Some((tensorboard, learning_rate)) = tensorboard {
            tensorboard.batches(self.epoch, first_batch, &tally.losses, learning_rate);
        }
        guard
            .check(self.epoch, self.split, first_batch, &tally.losses)
            .then(|| tally.output(device))
    }
}

impl SupervisedLearningStrategy<Mlp> for FreeRunning {
    fn fit(
        &self,
        components: TrainingComponents<Mlp>,
        mut learner: Learner<Mlp>,
        loader_train: TrainLoader<Mlp>,
        loader_valid: ValidLoader<Mlp>,
        starting_epoch: usize,
    ) -> (Mlp, SupervisedTrainingEventProcessor<Mlp>) {
        let loader_train = loader_train.to_device(&self.device);
        let loader_valid = loader_valid.to_device(&self.device.clone().inner());
        learner.fork(&self.device);
        let (optimizer, scheduler) = self
            .parts
            .lock()
            .expect("parts lock")
            .take()
            .expect("a training loop runs once");
        // The Learner (with the checkpoint Burn restored into it) gives up its
        // model, so the loop's copy is the only one.
        let mut trainee = Trainee {
            model: learner.model(),
            optimizer,
            scheduler,
        };
        drop(learner);
        // Resuming inside an epoch: the stop point's weights, and what of
        // that epoch was trained.
        let mut resumed = Trained::default();
        if let Some((point, record)) = self.stopping.lock().expect("stopping lock").resume.take() {
            debug_assert_eq!(point.epoch, starting_epoch);
            trainee.model = trainee.model.load_record(record);
            resumed = point.trained;
        }
        let mut processor = components.event_processor;
        let mut checkpointer = components.checkpointer;
        let mut early_stopping = components.early_stopping;
        let interrupter = components.interrupter;
        let host = self.device.clone().inner();

        // The loop runs on a thread of the pool the matrix products split
        // their work over, so that thread takes a share of every product
        // itself instead of sleeping until the pool's threads are done and
        // being woken again, five times a step. On 2 cores a 784-512-512-10
        // network at batch 128 went from 0.91 to 0.77 s an epoch; products
        // too small to split (the tutorial's) are not affected.
        let pool = rayon::ThreadPoolBuilder::new()
            .thread_name(|index| format!("train-{index}"))
            .build()
            .expect("cannot start the training threads");
        let trainee = pool.install(|| {
            for epoch in starting_epoch..=components.num_epochs {
                interrupter.fail_on_error(processor.process_train(LearnerEvent::StartSplit {
                    epoch_number: epoch,
                    total_items: loader_train.num_items(),
                }));
                let trained;
                (trainee, trained) = self.train_epoch(
                    epoch,
                    trainee,
                    std::mem::take(&mut resumed),
                    &loader_train,
                    &mut processor,
                    &interrupter,
                    &host,
                );
                interrupter.fail_on_error(processor.process_train(LearnerEvent::EndSplit(epoch)));
                if interrupter.should_stop() {
                    self.leave_stop_point(epoch, trained, &trainee);
                    break;
                }

                interrupter.fail_on_error(processor.process_valid(LearnerEvent::StartSplit {
                    epoch_number: epoch,
                    total_items: loader_valid.num_items(),
                }));
                self.valid_epoch(
                    epoch,
                    &trainee.model,
                    &loader_valid,
                    &mut processor,
                    &interrupter,
                    &host,
                );
                interrupter.fail_on_error(processor.process_valid(LearnerEvent::EndSplit(epoch)));
                interrupter.fail_on_error(processor.process_train(LearnerEvent::EndEpoch(epoch)));
                // The epoch's values must be in the event store before the
                // checkpoint and early stopping read them.
                interrupter.fail_on_error(processor.flush());
                if interrupter.should_stop() {
                    // Trained but not validated: a stop point at its end.
                    self.leave_stop_point(epoch, trained, &trainee);
                    break;
                }
                if let Some(checkpointer) = &mut checkpointer {
                    let learner = Learner::new(
                        trainee.model.clone(),
                        trainee.optimizer.to_module_optimizer(&self.template),
                        trainee.scheduler.clone(),
                    );
                    checkpointer.checkpoint(&learner, epoch, &components.event_store);
                }
                if let Some(early_stopping) = &mut early_stopping
                    && early_stopping.should_stop(epoch, &components.event_store)
                {
                    break;
                }
            }
            trainee
        });
        (trainee.model, processor)
    }
}

impl FreeRunning {
    /// Trains one epoch, from its first batch or, resuming from a stop
    /// point, after the `resumed` batches already trained; returns what of
    /// the epoch was trained (all of it unless interrupted).
    #[allow(clippy::too_many_arguments)]
    fn train_epoch(
        &self,
        epoch: usize,
        trainee: Trainee,
        resumed: Trained,
        loader: &TrainLoader<Mlp>,
        processor: &mut SupervisedTrainingEventProcessor<Mlp>,
        interrupter: &Interrupter,
        host: &Device,
    ) -> (Trainee, Trained) {
        let mut batches = loader.iter();
        let mut pending = Pending::new(Split::Train, epoch);
        let mut iteration = 0;
        if resumed.batches > 0 {
            // The epoch's order is a function of (seed, epoch): its first
            // batches are the ones trained before the stop.
            for _ in 0..resumed.batches {
                if batches.next().is_none() {
                    self.guard.fail(format!(
                        "the stop point of epoch {epoch} is after batch {}, but the epoch is \
                         shorter",
                        resumed.batches
                    ));
                    break;
                }
            }
            let tally = Tally {
                losses: Vec::new(),
                images: resumed.images,
                loss_sum: resumed.loss_sum,
                correct: resumed.correct,
            };
            let item = TrainingItem::new(
                tally.output(host),
                batches.progress(),
                Some(resumed.batches),
                None,
            );
            interrupter.fail_on_error(processor.process_train(LearnerEvent::ProcessedItem(item)));
            pending.reported = resumed.batches;
            pending.trained = resumed;
            iteration = resumed.batches;
        }
        let step = |(mut trainee, _): (Trainee, Option<ModuleLearningRate>), batch| {
            let rate = trainee.scheduler.step();
            let output = TrainStep::step(&trainee.model, batch);
            // Moved into the optimizer: its parameters have no other owner.
            trainee.model = trainee
                .optimizer
                .step(trainee.model, rate.clone(), output.grads);
            ((trainee, Some(rate)), output.item)
        };
        let report = |(_, lr): &(Trainee, Option<ModuleLearningRate>),
                      pending: &mut Pending,
                      progress: Progress,
                      iteration: usize| {
            let base = lr.as_ref().map(ModuleLearningRate::base);
            if let Some(item) = pending.take(&self.guard, host, Some((&self.tensorboard, base))) {
                let item = TrainingItem::new(item, progress, Some(iteration), lr.clone());
                interrupter
                    .fail_on_error(processor.process_train(LearnerEvent::ProcessedItem(item)));
            }
        };
        let (trainee, _) = run_batches(
            (trainee, None),
            &mut *batches,
            &mut pending,
            iteration,
            interrupter,
            step,
            report,
        );
        (trainee, pending.trained)
    }

    fn valid_epoch(
        &self,
        epoch: usize,
        model: &Mlp,
        loader: &ValidLoader<Mlp>,
        processor: &mut SupervisedTrainingEventProcessor<Mlp>,
        interrupter: &Interrupter,
        host: &Device,
    ) {
        let model = model.valid();
        let mut pending = Pending::new(Split::Valid, epoch);
        let step = |(), batch| ((), InferenceStep::step(&model, batch));
        let report = |(): &(), pending: &mut Pending, progress: Progress, iteration: usize| {
            if let Some(item) = pending.take(&self.guard, host, None) {
                let item = TrainingItem::new(item, progress, Some(iteration), None);
                interrupter
                    .fail_on_error(processor.process_valid(LearnerEvent::ProcessedItem(item)));
            }
        };
        run_batches(
            (),
            &mut *loader.iter(),
            &mut pending,
            0,
            interrupter,
            step,
            report,
        );
    }
}

/// One split's pass over its batches, the same for training and validation:
/// each batch goes through `step`, which takes the pass's `state` (the
/// trainee, while training) and gives it back with the batch's output; the
/// outputs pending are handed to `report` about ten times a second
/// ([`REPORT_INTERVAL`]) and once at the end. A loader error fails the run
/// and ends the pass, as does the interrupter. `iteration` counts the
/// batches run before this pass (a resumed epoch's).
fn run_batches<S>(
    mut state: S,
    batches: &mut (dyn DataLoaderIterator<MnistBatch> + '_),
    pending: &mut Pending,
    mut iteration: usize,
    interrupter: &Interrupter,
    mut step: impl FnMut(S, MnistBatch) -> (S, StepOutput),
    mut report: impl FnMut(&S, &mut Pending, Progress, usize),
) -> S {
    while let Some(batch) = batches.next() {
        let batch = match batch {
            Ok(batch) => batch,
            Err(error) => {
                interrupter.fail(error);
                break;
            }
        };
        iteration += 1;
        let output;
        (state, output) = step(state, batch);
        pending.outputs.push(output);
        if pending.due() {
            report(&state, pending, batches.progress(), iteration);
        }
        if interrupter.should_stop() {
            break;
        }
    }
    report(&state, pending, batches.progress(), iteration);
    state
}
