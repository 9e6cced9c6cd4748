//! This crate's helpers: a run directory with a (freshly initialised) model
//! and a small synthetic MNIST, and an `infer serve` process on a free port
//! of 127.0.0.1. Running programs, raw HTTP and the cache directory are
//! testkit's, shared with the other crates' tests.

pub mod tract;

use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ChildStderr, Command, Stdio};
use std::time::Duration;

use burn::tensor::Device;
use model::MlpConfig;
use serde_json::Value;
use tempfile::TempDir;
use testkit::ChildServer;

pub use testkit::assert_success;

/// `<tmp>/run` holds model.json, model.bpk and a test.json claiming 62.5%
/// accuracy; `<tmp>/mnist` holds 200 training and (by default) 100 test images.
pub struct TestRun {
    root: TempDir,
}

impl TestRun {
    pub fn new() -> Self {
        Self::with_test_images(100)
    }

    /// [`TestRun::new`] with `test` test images.
    pub fn with_test_images(test: usize) -> Self {
        let root = tempfile::tempdir().unwrap();
        let run = root.path().join("run");
        std::fs::create_dir(&run).unwrap();
        let config = MlpConfig::new();
        model::save_model(&run, &config, &config.init(&Device::flex())).unwrap();
        let summary = run::TestSummary {
            backend: "flex".into(),
            best_epoch: None,
            best_valid_accuracy: Some(0.625),
            correct: 5,
            epochs_completed: 1,
            parameters: config.num_params(),
            seconds_per_epoch: vec![1.0],
            stopped_early: None,
            test_accuracy: 0.625,
            test_images: 8,
            test_loss: 1.5,
            validation: "test set".into(),
        };
        summary.write(&run::RunDir::open(&run).unwrap()).unwrap();
        let mnist = root.path().join("mnist");
        std::fs::create_dir(&mnist).unwrap();
        data::synthetic::write_learnable(&mnist, 200, test).unwrap();
        Self { root }
    }

    pub fn dir(&self) -> std::path::PathBuf {
        self.root.path().join("run")
    }

    pub fn data_dir(&self) -> std::path::PathBuf {
        self.root.path().join("mnist")
    }

    /// `<tmp>/committee`: a committee (`infer committee`) of the run and two
    /// more networks (784-32-10 and 784-16-16-10, saved in `<tmp>/members`).
    pub fn committee(&self) -> PathBuf {
        let mut runs = vec![self.dir()];
        for (name, hidden) in [("a", vec![32]), ("b", vec![16, 16])] {
            let dir = self.root.path().join("members").join(name);
            std::fs::create_dir_all(&dir).unwrap();
            let config = MlpConfig::new().with_hidden(hidden);
            model::save_model(&dir, &config, &config.init(&Device::flex())).unwrap();
            runs.push(dir);
        }
        let committee = self.root.path().join("committee");
        let output = Command::new(env!("CARGO_BIN_EXE_infer"))
            .arg("committee")
            .arg("--runs")
            .args(&runs)
            .arg("--out")
            .arg(&committee)
            .arg("--data-dir")
            .arg(self.data_dir())
            .output()
            .unwrap();
        assert_success(&output);
        committee
    }
}

/// `infer serve --port 0` on the run, killed when dropped.
pub struct Server {
    process: ChildServer,
    address: SocketAddr,
    stderr: Option<ChildStderr>,
    agent: ureq::Agent,
}

impl Server {
    /// Starts the server with `extra` arguments (the run's MNIST unless they
    /// name a `--data-dir`) and waits for the line naming its address.
    pub fn start(run: &TestRun, extra: &[&str]) -> Self {
        Self::start_on(&run.dir(), &run.data_dir(), extra)
    }

    /// [`Server::start`] on the run (or committee) in `run_dir`, with
    /// `data_dir`'s MNIST unless `extra` names a `--data-dir`.
    pub fn start_on(run_dir: &Path, data_dir: &Path, extra: &[&str]) -> Self {
        let default_data = ["--data-dir", data_dir.to_str().unwrap()];
        let mut process = ChildServer::spawn(
            Command::new(env!("CARGO_BIN_EXE_infer"))
                .args(["serve", "--port", "0", "--run", run_dir.to_str().unwrap()])
                .args(if extra.contains(&"--data-dir") {
                    &[][..]
                } else {
                    &default_data[..]
                })
                .args(extra)
                .stderr(Stdio::piped()),
        );
        let address = process.address();
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        let stderr = process.child.stderr.take();
        Self {
            process,
            address,
            stderr,
            agent,
        }
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The server's resident memory, in KiB (`VmRSS` of `/proc/<pid>/status`).
    pub fn rss_kib(&self) -> u64 {
        self.status_kib("VmRSS:")
    }

    /// The most resident memory the server has had, in KiB (`VmHWM`).
    pub fn peak_rss_kib(&self) -> u64 {
        self.status_kib("VmHWM:")
    }

    fn status_kib(&self, field: &str) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.process.child.id())).unwrap();
        status
            .lines()
            .find_map(|line| line.strip_prefix(field))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no {field} in {status}"))
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// `page.json` once it offers the in-browser mode: onnxruntime-web's
    /// files are looked for in the background at start (the cache, else npm).
    /// Gives up after two minutes and returns it as it is.
    pub fn page_with_browser_mode(&self) -> Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        loop {
            let (status, page) = self.get_json("/page.json");
            assert_eq!(status, 200, "{page}");
            if page["browser"] == true || std::time::Instant::now() > deadline {
                return page;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Status, Content-Type and body of `GET path`.
    pub fn get_text(&self, path: &str) -> (u16, String, String) {
        let mut response = self.agent.get(self.url(path)).call().unwrap();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|value| value.to_str().unwrap().to_string())
            .unwrap_or_default();
        let body = response.body_mut().read_to_string().unwrap();
        (response.status().as_u16(), content_type, body)
    }

    /// Status and JSON body of `GET path`.
    pub fn get_json(&self, path: &str) -> (u16, Value) {
        let (status, content_type, body) = self.get_text(path);
        assert!(
            content_type.starts_with("application/json"),
            "{path}: {content_type}"
        );
        (status, serde_json::from_str(&body).unwrap())
    }

    /// Status and JSON body of `POST path` with `body` as `content_type`.
    pub fn post(&self, path: &str, content_type: &str, body: &[u8]) -> (u16, Value) {
        let mut response = self
            .agent
            .post(self.url(path))
            .header("Content-Type", content_type)
            .send(body)
            .unwrap();
        let body = response.body_mut().read_to_string().unwrap();
        (
            response.status().as_u16(),
            serde_json::from_str(&body).unwrap(),
        )
    }

    /// Sends `head` (request line and headers, without the blank line), then
    /// `body`, on a fresh connection and returns the status and the JSON body of
    /// the response, read until the server closes.
    pub fn raw(&self, head: &str, body: &[u8]) -> (u16, Value) {
        let response = testkit::raw_request(self.address, head, body, Duration::from_secs(30))
            .unwrap_or_else(|error| panic!("{head:?}: {error}"));
        let json = serde_json::from_str(response.body()).unwrap_or(Value::Null);
        (response.status, json)
    }

    /// Sends SIGTERM and returns the exit code and everything on stderr.
    pub fn terminate(mut self) -> (Option<i32>, String) {
        testkit::signal(&self.process.child, "-TERM");
        let status = self.process.child.wait().unwrap();
        let mut stderr = String::new();
        self.stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        (status.code(), stderr)
    }
}

/// The bytes of `image` as a PNG file.
pub fn png(image: &image::GrayImage) -> Vec<u8> {
    let mut bytes = std::io::Cursor::new(Vec::new());
    image.write_to(&mut bytes, image::ImageFormat::Png).unwrap();
    bytes.into_inner()
}

/// `scripts/e2e/<name>`.
pub fn e2e_script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scripts/e2e")
        .join(name)
}

/// Why the browser tests cannot run here (no node, Chromium or
/// playwright-core: scripts/e2e/install.sh installs them), if they cannot.
fn missing_browser_tools() -> Option<String> {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let node = Command::new("node").arg("--version").output();
    let playwright =
        testkit::cache_dir().map(|cache| cache.join("e2e/node_modules/playwright-core"));
    if node.is_err() {
        Some("node is not installed".into())
    } else if !Path::new(&chromium).exists() {
        Some(format!("no Chromium at {chromium}"))
    } else if !playwright.is_some_and(|path| path.exists()) {
        Some("playwright-core is not installed".into())
    } else {
        None
    }
}

/// Whether the browser tests can run here; if not, says why and the caller
/// returns (a failure under CI=true, see [`testkit::skip`]).
pub fn browser_tools_or_skip() -> bool {
    match missing_browser_tools() {
        None => true,
        Some(reason) => {
            testkit::skip(&format!("{reason}: run scripts/e2e/install.sh"));
            false
        }
    }
}

/// The 10 numbers of a JSON array.
pub fn probabilities(value: &Value) -> Vec<f32> {
    serde_json::from_value(value.clone()).unwrap_or_else(|_| panic!("not 10 numbers: {value}"))
}

/// Asserts `a` and `b` have the same largest entry and differ by at most `tolerance`.
pub fn assert_close(a: &[f32], b: &[f32], tolerance: f32) {
    assert_eq!(a.len(), b.len(), "{a:?} vs {b:?}");
    let argmax = |v: &[f32]| (0..v.len()).fold(0, |m, i| if v[i] > v[m] { i } else { m });
    assert_eq!(argmax(a), argmax(b), "{a:?} vs {b:?}");
    let worst = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max);
    assert!(worst <= tolerance, "{worst} > {tolerance}: {a:?} vs {b:?}");
}

/// `infer --image png --json`'s probabilities with the model (or committee)
/// in `run_dir`.
pub fn image_probabilities(run_dir: &Path, png: &Path) -> Vec<f32> {
    let output = Command::new(env!("CARGO_BIN_EXE_infer"))
        .args(["--run", run_dir.to_str().unwrap(), "--json", "--image"])
        .arg(png)
        .output()
        .unwrap();
    let line: Value = serde_json::from_str(&assert_success(&output)).unwrap();
    probabilities(&line["probabilities"])
}

/// `scripts/export/check.py MODEL IMAGES_IDX INFER_JSONL` in the export
/// venv (scripts/export/install.sh): its report, once it has passed (every
/// probability within 1e-5 of `infer`'s, see the script), or `None`
/// (skipped, but a failure under CI=true) without the venv.
pub fn export_check(model: &Path, images_idx: &Path, infer_jsonl: &Path) -> Option<Value> {
    let python = testkit::export_python_or_skip()?;
    let check = Command::new(python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/export/check.py"))
        .args([model, images_idx, infer_jsonl])
        .output()
        .unwrap();
    let report = assert_success(&check);
    Some(serde_json::from_str(report.trim()).unwrap())
}
