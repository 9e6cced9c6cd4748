//! The routes: the page's files (with, when onnxruntime-web is at hand, the
//! model as ONNX and onnxruntime-web's files, so the page can also run the
//! model in the browser) and the JSON API. Every error, including
//! unknown paths, wrong methods, oversized bodies and timeouts, is an
//! [`ApiError`], answered with `{"error": "...", "code": "..."}` and a 4xx
//! (or 5xx) status; an internal one is logged by [`log_internal_errors`].

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::rejection::QueryRejection;
use axum::extract::{DefaultBodyLimit, Extension, FromRequest, Path, Query, Request, State};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use burn::tensor::Device;
use data::MnistSplit;
use model::Backend;
use rand::Rng;
use serde::{Deserialize, Serialize};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::api_error::{ApiError, log_internal_errors};
use crate::loaded::{LoadedModel, Reader};
use crate::ort_web;
use crate::page::{ASSETS, MODEL_FILE, ModelDescription, ORT_DIR, PageConfig};
use crate::predict::predict_images;
use crate::prediction::Prediction;
use crate::request::{BodyKind, first_file, parse_image, parse_pixels};

/// Largest request body accepted, in bytes: a phone photo fits, a flood does not.
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// Most sample digits one `/api/samples` request may ask for.
const MAX_SAMPLES: usize = 32;

/// What every request handler shares: the model and, when found, the test set.
pub struct AppState {
    /// A run's network, or a committee's networks.
    model: Reader,
    device: Device,
    /// `GET /api/model`'s answer, fixed at start.
    description: ModelDescription,
    /// The test set, when it could be loaded (why not is logged at start).
    test: Option<Arc<MnistSplit>>,
    /// The model as ONNX, which the page runs in the browser.
    onnx: Bytes,
    /// onnxruntime-web's files (see [`ort_web`]), once found: until then the
    /// page offers the server mode only.
    ort_dir: OnceLock<PathBuf>,
}

impl AppState {
    /// The server of `loaded`: a run's network or a committee, on the
    /// server and (as one ONNX graph) in the browser alike.
    pub fn new(
        loaded: LoadedModel,
        backend: Backend,
        test: Option<Arc<MnistSplit>>,
    ) -> anyhow::Result<Self> {
        let onnx = crate::export::onnx_bytes(&loaded.model, &loaded.run_dir)?;
        Ok(Self {
            description: ModelDescription::new(
                &loaded.run_dir,
                &loaded.model,
                &backend.to_string(),
            ),
            model: loaded.model,
            device: loaded.device,
            test,
            onnx: onnx.into(),
            ort_dir: OnceLock::new(),
        })
    }

    /// From now on the page may run the model in the browser, with
    /// onnxruntime-web's files from `ort_dir`.
    pub fn offer_browser_mode(&self, ort_dir: PathBuf) {
        let _ = self.ort_dir.set(ort_dir);
    }

    /// `run artifacts/x (784-64-64-10 relu)`, for the start-up line.
    pub fn describe(&self) -> String {
        format!(
            "run {} ({})",
            self.description.run, self.description.architecture
        )
    }

    /// The model's answers for 28x28 images (`u8`, 784 per image), one each.
    fn predict(&self, images: &[u8]) -> Result<Vec<Prediction>, ApiError> {
        Ok(predict_images(&self.model, images, &self.device)?)
    }

    /// The test set; 503 when the server started without one.
    fn test(&self) -> Result<Arc<MnistSplit>, ApiError> {
        self.test.clone().ok_or(ApiError::NoTestSet)
    }
}

/// A body that cannot be read: 413 when it runs past the limit, else 400
/// (cut off, or not valid chunked encoding).
impl From<BytesRejection> for ApiError {
    fn from(rejection: BytesRejection) -> Self {
        let message = format!(
            "cannot read the body (at most {MAX_BODY_BYTES} bytes): {}",
            rejection.body_text()
        );
        match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge(message),
            _ => ApiError::BadRequest(message),
        }
    }
}

/// How long a request may take, and how many predictions run at once.
#[derive(Clone, Copy, Debug)]
pub struct RequestLimits {
    /// A request running past it, reading its body included, is answered 408.
    pub timeout: Duration,
    /// Requests to the routes that run the network (`/api/predict`,
    /// `/api/samples`) handled at once, from their first body byte to their
    /// answer; the next one is answered 503 at once.
    pub max_in_flight: usize,
}

/// The slots for predictions in flight. A request takes one before it reads
/// its body and holds it until its work has ended: the slot moves into the
/// blocking task that decodes the image and runs the network, so a client
/// that hangs up mid-way does not free its slot while that work goes on
/// (with tower's concurrency limit it did: the limit's permit was dropped
/// with the request's future, and 12 such uploads ran at once under a
/// limit of 1).
#[derive(Clone)]
struct Slots {
    semaphore: Arc<Semaphore>,
    max: usize,
}

impl Slots {
    fn new(max: usize) -> Self {
        Self {
            semaphore: Arc::new(Semaphore::new(max)),
            max,
        }
    }

    /// A free slot, or 503 at once when every slot is taken: a burst is
    /// refused rather than queued behind the CPUs with its bodies.
    fn take(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        Arc::clone(&self.semaphore)
            .try_acquire_owned()
            .map_err(|_| {
                ApiError::Busy(format!(
                    "the server is at its limit of {} predictions in flight (--max-in-flight); \
                     try again shortly",
                    self.max
                ))
            })
    }
}

/// The server's routes.
pub fn router(state: Arc<AppState>, limits: RequestLimits) -> Router {
    let mut router = Router::new();
    for asset in &ASSETS {
        let path = match asset.name {
            "index.html" => "/".to_string(),
            name => format!("/{name}"),
        };
        router = router.route(
            &path,
            get(move || async move { ([(header::CONTENT_TYPE, asset.content_type)], asset.text) }),
        );
    }
    router
        .route("/page.json", get(page_config))
        .route(&format!("/{MODEL_FILE}"), get(onnx_model))
        .route(&format!("/{ORT_DIR}/{{file}}"), get(ort_file))
        .route("/healthz", get(health))
        .route("/api/model", get(describe_model))
        .route("/api/samples", get(samples))
        .route("/api/predict", post(predict))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(Extension(Slots::new(limits.max_in_flight)))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(limits.timeout, time_limit))
        .layer(middleware::from_fn(log_internal_errors))
        .with_state(state)
}

/// `GET /page.json`: how the page runs ([`PageConfig`]).
async fn page_config(State(state): State<Arc<AppState>>) -> Json<PageConfig> {
    Json(PageConfig {
        server: true,
        browser: state.ort_dir.get().is_some(),
        model: state.description.clone(),
        samples: Vec::new(),
    })
}

/// `GET /model.onnx`: the model the page runs in the browser.
async fn onnx_model(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    in_browser(&state)?;
    let kind = "application/octet-stream";
    Ok(([(header::CONTENT_TYPE, kind)], state.onnx.clone()).into_response())
}

/// `GET /ort/<file>`: one of onnxruntime-web's files ([`ort_web::FILES`]).
async fn ort_file(
    State(state): State<Arc<AppState>>,
    Path(file): Path<String>,
) -> Result<Response, ApiError> {
    let ort_dir = in_browser(&state)?;
    if !ort_web::FILES.iter().any(|(name, _)| *name == file) {
        return Err(ApiError::NotFound(format!(
            "no such path: /{ORT_DIR}/{file}"
        )));
    }
    let path = ort_dir.join(&file);
    let read = {
        let path = path.clone();
        tokio::task::spawn_blocking(move || std::fs::read(path)).await?
    };
    let bytes = read
        .map_err(|error| ApiError::Internal(format!("cannot read {}: {error}", path.display())))?;
    // WebAssembly compiles while it streams in only when served as such.
    let kind = if file.ends_with(".wasm") {
        "application/wasm"
    } else {
        "text/javascript; charset=utf-8"
    };
    Ok(([(header::CONTENT_TYPE, kind)], bytes).into_response())
}

/// Where onnxruntime-web's files are; 404 while the page runs the model on
/// the server only.
fn in_browser(state: &AppState) -> Result<&PathBuf, ApiError> {
    state.ort_dir.get().ok_or_else(|| {
        ApiError::NotFound(
            "this server runs the model itself only: onnxruntime-web was not found".into(),
        )
    })
}

async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

async fn describe_model(State(state): State<Arc<AppState>>) -> Json<ModelDescription> {
    Json(state.description.clone())
}

async fn not_found(request: Request) -> ApiError {
    ApiError::NotFound(format!("no such path: {}", request.uri().path()))
}

async fn method_not_allowed(request: Request) -> ApiError {
    ApiError::MethodNotAllowed(format!(
        "{} is not allowed on {}",
        request.method(),
        request.uri().path()
    ))
}

/// Answers 408 when a request, reading its body included, runs past `timeout`.
async fn time_limit(State(timeout): State<Duration>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::Timeout(format!(
            "the request took longer than {} s",
            timeout.as_secs()
        ))
        .into_response(),
    }
}

/// `POST /api/predict`'s answer: the [`Prediction`]'s fields and the image.
#[derive(Serialize)]
struct PredictAnswer {
    #[serde(flatten)]
    answer: Prediction,
    /// The 28x28 the model saw (row-major, 0-255, ink bright).
    preprocessed: Vec<u8>,
}

async fn predict(
    State(state): State<Arc<AppState>>,
    Extension(slots): Extension<Slots>,
    request: Request,
) -> Result<Json<PredictAnswer>, ApiError> {
    let slot = slots.take()?;
    // The headers are checked before the body is read: a client that waits
    // for `100 Continue` is refused without sending its body.
    let headers = request.headers();
    let content_type = headers
        .get(CONTENT_TYPE)
        .map(|value| value.to_str().unwrap_or("?").to_string());
    let kind = BodyKind::of(content_type.as_deref())?;
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
    if let Some(length) = declared.filter(|&length| length > MAX_BODY_BYTES as u64) {
        return Err(ApiError::PayloadTooLarge(format!(
            "the body is {length} bytes, over the {MAX_BODY_BYTES}-byte limit"
        )));
    }
    let body = Bytes::from_request(request, &()).await?;
    let (bytes, name) = match kind {
        BodyKind::Multipart => {
            let (bytes, name) =
                first_file(content_type.as_deref().unwrap_or_default(), body).await?;
            (bytes, Some(name))
        }
        _ => (body, None),
    };
    // Decoding an image and running the network are CPU work: off the I/O
    // threads, holding the slot until done.
    tokio::task::spawn_blocking(move || {
        let _slot = slot;
        let pixels = match name {
            Some(name) => parse_image(&bytes, &name)?,
            None if kind == BodyKind::Image => parse_image(&bytes, "the image in the body")?,
            None => parse_pixels(&bytes)?,
        };
        Ok(Json(PredictAnswer {
            answer: state.predict(&pixels)?.remove(0),
            preprocessed: pixels.to_vec(),
        }))
    })
    .await?
}

#[derive(Deserialize)]
struct SamplesQuery {
    count: Option<usize>,
}

/// One test digit with the model's answer (the [`Prediction`]'s fields).
#[derive(Serialize)]
struct Sample {
    index: usize,
    label: u8,
    #[serde(flatten)]
    answer: Prediction,
    /// The 28x28 (row-major, 0-255, ink bright).
    pixels: Vec<u8>,
}

/// `GET /api/samples`'s answer.
#[derive(Serialize)]
struct Samples {
    samples: Vec<Sample>,
}

/// `GET /api/samples?count=N`: N (default 8, at most [`MAX_SAMPLES`]) random
/// test digits with the model's answers.
async fn samples(
    State(state): State<Arc<AppState>>,
    Extension(slots): Extension<Slots>,
    query: Result<Query<SamplesQuery>, QueryRejection>,
) -> Result<Json<Samples>, ApiError> {
    let slot = slots.take()?;
    let Query(query) = query.map_err(|rejection| {
        ApiError::BadRequest(format!(
            "count must be a whole number from 1 to {MAX_SAMPLES}: {}",
            rejection.body_text()
        ))
    })?;
    let count = query.count.unwrap_or(8);
    if !(1..=MAX_SAMPLES).contains(&count) {
        return Err(ApiError::BadRequest(format!(
            "count is {count}, expected 1 to {MAX_SAMPLES}"
        )));
    }
    let test = state.test()?;
    let samples = tokio::task::spawn_blocking(move || {
        let _slot = slot;
        let mut rng = rand::rng();
        let indices: Vec<usize> = (0..count)
            .map(|_| rng.random_range(0..test.len()))
            .collect();
        let images: Vec<u8> = indices
            .iter()
            .flat_map(|&i| test.image(i))
            .copied()
            .collect();
        let answers = state.predict(&images)?;
        Ok::<_, ApiError>(
            indices
                .iter()
                .zip(answers)
                .map(|(&index, answer)| Sample {
                    index,
                    label: test.label(index),
                    answer,
                    pixels: test.image(index).to_vec(),
                })
                .collect(),
        )
    })
    .await??;
    Ok(Json(Samples { samples }))
}
