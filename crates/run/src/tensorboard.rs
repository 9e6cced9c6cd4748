//! TensorBoard event files: every run also writes its curves where
//! `tensorboard --logdir <run>/tensorboard` (or `--logdir artifacts/<sweep>`,
//! for every run of a sweep side by side) shows them.
//!
//! Two directories, as Keras's TensorBoard callback makes them, so that
//! TensorBoard draws training and validation on the same charts:
//!
//! ```text
//! <run>/tensorboard/train/events.out.tfevents.*        epoch_loss, epoch_accuracy,
//!     epoch_learning_rate, epoch_grad_norm/layer_<i> (step = epoch, from 1);
//!     batch_loss (step = training batch, from 1, across epochs)
//! <run>/tensorboard/validation/events.out.tfevents.*   epoch_loss, epoch_accuracy
//! ```
//!
//! Accuracies are fractions in [0, 1], losses mean cross-entropy (natural
//! log), the learning rate the one of the epoch's last batch, grad norms the
//! epoch's mean L2 norm of each layer's weight gradient (with `grad_norms =
//! true`). `batch_loss` is the mean loss of the last [`BATCH_LOSS_EVERY`]
//! batches of an epoch, and of what is left at its end.
//!
//! The format is TensorFlow's: `Event` protocol buffers (the few fields used
//! here, encoded by prost), each framed as a TFRecord: length (u64 LE), masked
//! CRC-32C of the length, data, masked CRC-32C of the data. An event file is
//! an append-only log: a run stopped mid-write leaves a last record cut short,
//! which TensorBoard's reader skips. A resumed run writes a new file that
//! begins with TensorBoard's restart marker (`SessionLog.START` at the first
//! step it redoes), so what the interrupted run logged after its last
//! checkpoint is dropped on reading.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use prost::Message;

use crate::EpochMetrics;

/// The directory under the run that holds the event files.
pub const TENSORBOARD_DIR: &str = "tensorboard";
/// Training batches averaged into one `batch_loss` point.
pub const BATCH_LOSS_EVERY: usize = 100;

/// `tensorflow.Event`: one record of an event file.
#[derive(Clone, PartialEq, Message)]
struct Event {
    /// Seconds since the Unix epoch.
    #[prost(double, tag = "1")]
    wall_time: f64,
    #[prost(int64, tag = "2")]
    step: i64,
    #[prost(oneof = "What", tags = "3, 5, 6")]
    what: Option<What>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
enum What {
    /// "brain.Event:2", the first record of every file.
    #[prost(string, tag = "3")]
    FileVersion(String),
    #[prost(message, tag = "5")]
    Summary(Summary),
    #[prost(message, tag = "6")]
    SessionLog(SessionLog),
}

/// `tensorflow.Summary`: named values at one step.
#[derive(Clone, PartialEq, Message)]
struct Summary {
    #[prost(message, repeated, tag = "1")]
    value: Vec<SummaryValue>,
}

/// `tensorflow.Summary.Value` holding a scalar.
#[derive(Clone, PartialEq, Message)]
struct SummaryValue {
    #[prost(string, tag = "1")]
    tag: String,
    /// Optional so that 0.0 is written too (the field is one of a oneof).
    #[prost(float, optional, tag = "2")]
    simple_value: Option<f32>,
}

/// `tensorflow.SessionLog`; only its status is written.
#[derive(Clone, PartialEq, Message)]
struct SessionLog {
    /// 1: START, the restart marker.
    #[prost(int32, tag = "1")]
    status: i32,
}

const SESSION_START: i32 = 1;

/// One event file, appended to record by record.
struct EventFile {
    path: PathBuf,
    out: BufWriter<File>,
}

impl EventFile {
    /// Creates `dir` and a new event file in it, holding its version record.
    fn create(dir: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let now = now();
        let path = dir.join(format!(
            "events.out.tfevents.{}.simple-nn.{}",
            now as u64,
            std::process::id()
        ));
        let out = BufWriter::new(File::create_new(&path)?);
        let mut file = Self { path, out };
        file.write(0, What::FileVersion("brain.Event:2".into()))?;
        Ok(file)
    }

    fn write(&mut self, step: usize, what: What) -> io::Result<()> {
        let event = Event {
            wall_time: now(),
            step: step as i64,
            what: Some(what),
        };
        self.out.write_all(&tfrecord(&event.encode_to_vec()))
    }

    fn scalar(&mut self, tag: &str, step: usize, value: f64) -> io::Result<()> {
        let value = SummaryValue {
            tag: tag.into(),
            simple_value: Some(value as f32),
        };
        self.write(step, What::Summary(Summary { value: vec![value] }))
    }
}

/// `data` framed as a TFRecord.
fn tfrecord(data: &[u8]) -> Vec<u8> {
    let length = (data.len() as u64).to_le_bytes();
    let mut record = Vec::with_capacity(data.len() + 16);
    record.extend_from_slice(&length);
    record.extend_from_slice(&masked_crc(&length).to_le_bytes());
    record.extend_from_slice(data);
    record.extend_from_slice(&masked_crc(data).to_le_bytes());
    record
}

/// TFRecord's masked CRC-32C (Castagnoli).
fn masked_crc(bytes: &[u8]) -> u32 {
    let crc = crc32c::crc32c(bytes);
    crc.rotate_right(15).wrapping_add(0xa282_ead8)
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |elapsed| elapsed.as_secs_f64())
}

/// The run's two event files, shared by the training loop (batch losses) and
/// the renderer (each finished epoch). Clones write to the same files.
#[derive(Clone)]
pub struct TensorBoard(Arc<Mutex<Writer>>);

struct Writer {
    train: EventFile,
    validation: EventFile,
    batches_per_epoch: usize,
    /// Loss sum and count of the batches not yet in a `batch_loss` point.
    window: (f64, usize),
    /// The global step of the last training batch seen.
    last_step: usize,
    /// The learning rate of the last training batch seen.
    learning_rate: Option<f64>,
    /// The first write that failed: the files stop there.
    error: Option<String>,
}

impl TensorBoard {
    /// New event files under `<run>/tensorboard/`, for epochs of
    /// `batches_per_epoch` training batches, continuing after
    /// `finished_epochs` and `finished_batches` batches of the next epoch
    /// (0 and 0 for a new run).
    pub fn create(
        run: &Path,
        batches_per_epoch: usize,
        finished_epochs: usize,
        finished_batches: usize,
    ) -> anyhow::Result<Self> {
        let root = run.join(TENSORBOARD_DIR);
        let open = |name: &str| {
            let dir = root.join(name);
            EventFile::create(&dir).map_err(|error| {
                anyhow::anyhow!(
                    "cannot write the TensorBoard files in {}: {error}",
                    dir.display()
                )
            })
        };
        let mut writer = Writer {
            train: open("train")?,
            validation: open("validation")?,
            batches_per_epoch,
            window: (0.0, 0),
            last_step: finished_epochs * batches_per_epoch + finished_batches,
            learning_rate: None,
            error: None,
        };
        if writer.last_step > 0 {
            let (batch, epoch) = (writer.last_step + 1, finished_epochs + 1);
            writer.record(|w| {
                w.train.write(
                    batch,
                    What::SessionLog(SessionLog {
                        status: SESSION_START,
                    }),
                )?;
                w.validation.write(
                    epoch,
                    What::SessionLog(SessionLog {
                        status: SESSION_START,
                    }),
                )
            });
        }
        Ok(Self(Arc::new(Mutex::new(writer))))
    }

    /// The mean losses of training batches `first_batch`, `first_batch + 1`,
    /// ... (1-based within `epoch`), the last of them run at `learning_rate`.
    pub fn batches(
        &self,
        epoch: usize,
        first_batch: usize,
        losses: &[f64],
        learning_rate: Option<f64>,
    ) {
        let mut writer = self.0.lock().expect("tensorboard lock");
        let first_step = (epoch - 1) * writer.batches_per_epoch + first_batch;
        for (offset, loss) in losses.iter().enumerate() {
            writer.window.0 += loss;
            writer.window.1 += 1;
            writer.last_step = first_step + offset;
            if (first_batch + offset).is_multiple_of(BATCH_LOSS_EVERY) {
                writer.batch_point();
            }
        }
        writer.learning_rate = learning_rate.or(writer.learning_rate);
    }

    /// A finished epoch: its figures, and the batches since the last point.
    pub fn epoch(&self, metrics: &EpochMetrics) {
        let mut writer = self.0.lock().expect("tensorboard lock");
        writer.batch_point();
        let step = metrics.epoch;
        let learning_rate = writer.learning_rate;
        writer.record(|w| {
            w.train.scalar("epoch_loss", step, metrics.train_loss)?;
            w.train
                .scalar("epoch_accuracy", step, metrics.train_accuracy)?;
            if let Some(rate) = learning_rate {
                w.train.scalar("epoch_learning_rate", step, rate)?;
            }
            for (layer, norm) in metrics.grad_norms.iter().enumerate() {
                w.train
                    .scalar(&format!("epoch_grad_norm/layer_{layer}"), step, *norm)?;
            }
            w.validation
                .scalar("epoch_loss", step, metrics.valid_loss)?;
            w.validation
                .scalar("epoch_accuracy", step, metrics.valid_accuracy)?;
            w.train.out.flush()?;
            w.validation.out.flush()
        });
    }

    /// Why the files are incomplete, if a write failed.
    pub fn error(&self) -> Option<String> {
        self.0.lock().expect("tensorboard lock").error.clone()
    }
}

impl Writer {
    /// The mean of the batches since the last point, at the last one's step.
    fn batch_point(&mut self) {
        let (sum, count) = std::mem::take(&mut self.window);
        if count > 0 {
            let step = self.last_step;
            self.record(|w| {
                w.train.scalar("batch_loss", step, sum / count as f64)?;
                w.train.out.flush()
            });
        }
    }

    /// Runs `write` unless a write failed before; keeps its error.
    fn record(&mut self, write: impl FnOnce(&mut Self) -> io::Result<()>) {
        if self.error.is_none()
            && let Err(error) = write(self)
        {
            self.error = Some(format!(
                "cannot write {} or {}: {error}",
                self.train.path.display(),
                self.validation.path.display()
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Length, masked CRC-32C of the length, data, masked CRC-32C of the
    /// data; the masked CRCs computed by hand with a bitwise CRC-32C
    /// (polynomial 0x82F63B78; "123456789" checks as 0xe3069283).
    #[test]
    fn records_are_framed_as_tfrecords() {
        assert_eq!(masked_crc(b"123456789"), 0xc78a_b0e5);
        let record = tfrecord(b"hello");
        assert_eq!(record.len(), 21);
        assert_eq!(&record[..8], &5u64.to_le_bytes());
        assert_eq!(&record[8..12], &0x3e04_b2eau32.to_le_bytes());
        assert_eq!(&record[12..17], b"hello");
        assert_eq!(&record[17..], &0x191c_1fbbu32.to_le_bytes());
    }

    #[test]
    fn a_zero_is_written_as_a_value() {
        let value = SummaryValue {
            tag: "t".into(),
            simple_value: Some(0.0),
        };
        // tag 1 "t", then field 2 (fixed32) holding 0.0.
        assert_eq!(value.encode_to_vec(), [0x0a, 1, b't', 0x15, 0, 0, 0, 0]);
    }

    /// Decodes the records of the event file in `dir`.
    fn events(dir: &Path) -> Vec<Event> {
        let path = std::fs::read_dir(dir)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let bytes = std::fs::read(path).unwrap();
        let mut events = Vec::new();
        let mut rest = bytes.as_slice();
        while !rest.is_empty() {
            let length = u64::from_le_bytes(rest[..8].try_into().unwrap()) as usize;
            events.push(Event::decode(&rest[12..12 + length]).unwrap());
            rest = &rest[16 + length..];
        }
        events
    }

    fn scalars(events: &[Event], wanted: &str) -> Vec<(i64, f32)> {
        events
            .iter()
            .filter_map(|event| match &event.what {
                Some(What::Summary(summary)) if summary.value[0].tag == wanted => {
                    Some((event.step, summary.value[0].simple_value.unwrap()))
                }
                _ => None,
            })
            .collect()
    }

    /// Epochs of 150 batches: points after batches 100 and 150 of each
    /// epoch, each the mean of its window; the epoch's figures at its number.
    #[test]
    fn batch_points_average_windows_within_each_epoch() {
        let run = tempfile::tempdir().unwrap();
        let log = TensorBoard::create(run.path(), 150, 0, 0).unwrap();
        for epoch in 1..=2 {
            // Batch b of epoch e has loss e + b / 1000, sent 40 at a time.
            let losses: Vec<f64> = (1..=150)
                .map(|b| epoch as f64 + b as f64 / 1000.0)
                .collect();
            for (chunk, part) in losses.chunks(40).enumerate() {
                log.batches(epoch, chunk * 40 + 1, part, Some(0.5 / epoch as f64));
            }
            log.epoch(&EpochMetrics {
                epoch,
                seconds: 1.0,
                train_loss: 0.25,
                train_accuracy: 0.5,
                valid_loss: 0.125,
                valid_accuracy: 0.75,
                grad_norms: vec![3.0, 0.0],
            });
        }
        assert_eq!(log.error(), None);
        let train = events(&run.path().join("tensorboard/train"));
        assert_eq!(
            train[0].what,
            Some(What::FileVersion("brain.Event:2".into()))
        );
        // Means of b/1000 over 1..=100 and 101..=150: 0.0505 and 0.1255.
        let points = scalars(&train, "batch_loss");
        let want = [(100, 1.0505), (150, 1.1255), (250, 2.0505), (300, 2.1255)];
        assert_eq!(points.len(), 4);
        for ((step, value), (want_step, want_value)) in points.iter().zip(want) {
            assert_eq!(*step, want_step);
            assert!((f64::from(*value) - want_value).abs() < 1e-6, "{points:?}");
        }
        assert_eq!(
            scalars(&train, "epoch_learning_rate"),
            [(1, 0.5), (2, 0.25)]
        );
        assert_eq!(
            scalars(&train, "epoch_grad_norm/layer_1"),
            [(1, 0.0), (2, 0.0)]
        );
        let validation = events(&run.path().join("tensorboard/validation"));
        assert_eq!(
            scalars(&validation, "epoch_accuracy"),
            [(1, 0.75), (2, 0.75)]
        );
    }

    #[test]
    fn a_resumed_run_starts_with_the_restart_marker_at_the_first_redone_step() {
        let run = tempfile::tempdir().unwrap();
        TensorBoard::create(run.path(), 150, 2, 0).unwrap();
        let start = |dir: &str| events(&run.path().join("tensorboard").join(dir))[1].clone();
        assert_eq!(start("train").step, 301);
        assert_eq!(start("validation").step, 3);
        assert_eq!(
            start("train").what,
            Some(What::SessionLog(SessionLog {
                status: SESSION_START
            }))
        );
    }

    #[test]
    fn an_unwritable_run_directory_is_one_line_naming_it() {
        let run = tempfile::tempdir().unwrap();
        std::fs::write(run.path().join(TENSORBOARD_DIR), "a file").unwrap();
        let error = TensorBoard::create(run.path(), 1, 0, 0)
            .err()
            .unwrap()
            .to_string();
        assert!(
            error.starts_with(&format!(
                "cannot write the TensorBoard files in {}: ",
                run.path().join("tensorboard/train").display()
            )),
            "{error}"
        );
    }
}
