//! The drawing page (`crates/infer/static/`), compiled into the binary: `infer
//! serve` serves these files and `infer export --format web` writes them, so
//! both are the same page. What differs is `page.json` ([`PageConfig`]): where
//! the model can run, the model's description, and (for a static site) the
//! test digits the page shows.

use std::path::Path;

use serde::Serialize;

use crate::loaded::Reader;

/// One file of the page.
pub struct Asset {
    /// Its name in the site's root directory (and its path on the server).
    pub name: &'static str,
    pub content_type: &'static str,
    pub text: &'static str,
}

/// Every file of the page but `page.json`.
pub static ASSETS: [Asset; 5] = [
    Asset {
        name: "index.html",
        content_type: "text/html; charset=utf-8",
        text: include_str!("../static/index.html"),
    },
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        text: include_str!("../static/app.js"),
    },
    Asset {
        name: "preprocess.js",
        content_type: "text/javascript; charset=utf-8",
        text: include_str!("../static/preprocess.js"),
    },
    Asset {
        name: "runtime.js",
        content_type: "text/javascript; charset=utf-8",
        text: include_str!("../static/runtime.js"),
    },
    Asset {
        name: "style.css",
        content_type: "text/css; charset=utf-8",
        text: include_str!("../static/style.css"),
    },
];

/// The name of the model file the page runs in the browser.
pub const MODEL_FILE: &str = "model.onnx";
/// The directory holding onnxruntime-web's files, beside the page.
pub const ORT_DIR: &str = "ort";

/// `page.json`: how the page runs.
#[derive(Debug, Serialize)]
pub struct PageConfig {
    /// A server answers `api/predict` and `api/samples` beside the page.
    pub server: bool,
    /// `model.onnx` and onnxruntime-web's files (`ort/`) are beside the page.
    pub browser: bool,
    /// The model, as `GET /api/model` answers.
    pub model: ModelDescription,
    /// Without a server: the test digits the page draws its samples from.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub samples: Vec<Sample>,
}

/// A test digit for the page's samples.
#[derive(Debug, Serialize)]
pub struct Sample {
    /// Its index in the test set.
    pub index: usize,
    pub label: u8,
    /// 784 grey levels, row-major, ink bright on dark (as MNIST).
    pub pixels: Vec<u8>,
}

/// `GET /api/model`'s answer and `page.json`'s `model`: the loaded model and
/// what it scored.
#[derive(Clone, Debug, Serialize)]
pub struct ModelDescription {
    /// The run directory it was loaded from.
    pub run: String,
    /// e.g. `784-64-64-10 relu`.
    pub architecture: String,
    pub parameters: usize,
    /// Where it runs: `flex`, `wgpu`, ... or onnxruntime-web in the browser.
    pub backend: String,
    /// The test figures `train` saved with the model (`null` when it did not).
    pub test_accuracy: Option<f64>,
    pub test_loss: Option<f64>,
}

impl ModelDescription {
    /// The run (or committee) in `run_dir`, read as `reader`, running on
    /// `backend`; the test figures from its `test.json` when it has one.
    pub fn new(run_dir: &Path, reader: &Reader, backend: &str) -> Self {
        let summary = run::TestSummary::read(run_dir).ok();
        Self {
            run: run_dir.display().to_string(),
            architecture: reader.describe(),
            parameters: reader.num_params(),
            backend: backend.to_string(),
            test_accuracy: summary.as_ref().map(|s| s.test_accuracy),
            test_loss: summary.as_ref().map(|s| s.test_loss),
        }
    }
}
