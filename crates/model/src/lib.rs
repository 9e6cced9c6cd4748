//! The tutorial network (784 -> 64 ReLU -> 64 ReLU -> 10 softmax) as a Burn
//! [`Module`](burn::module::Module), the training and evaluation steps Burn's
//! `Learner` calls, the backends it runs on, and its saved form on disk.

pub mod artifact;
pub mod backend;
pub mod classifier;
pub mod committee;
pub mod committee_choice;
pub mod committee_file;
pub mod denormals;
pub mod dropout;
pub mod evaluate;
pub mod export;
pub mod fused;
pub mod grad_norms;
pub mod host_adam;
pub mod mlp;
pub mod onnx;
pub mod optimizer;
pub mod outputs;
pub mod step;

pub use artifact::{ModelError, load_mnist_model, load_model, save_model};
pub use backend::{Backend, BackendDevice, BackendError};
pub use classifier::Classifier;
pub use committee::{Combine, Committee};
pub use committee_choice::HeldOutReadings;
pub use committee_file::{CommitteeError, CommitteeFile, load_committee};
pub use denormals::flush_denormals_to_zero;
pub use dropout::DropoutStream;
pub use evaluate::{EVAL_BATCH_SIZE, Evaluation, Mistake, evaluate};
pub use export::{ExportError, export_committee_safetensors, export_safetensors};
pub use grad_norms::GradNormLog;
pub use host_adam::{HostAdam, StepOptimizer};
pub use mlp::{Activation, Mlp, MlpConfig};
pub use onnx::{OnnxError, committee_onnx_bytes, onnx_bytes};
pub use optimizer::FusedAdam;
pub use outputs::{BatchLoss, StepOutput, Tally};
