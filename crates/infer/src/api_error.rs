//! The one error type of `infer serve`'s HTTP API, and the one place that
//! turns it into an answer: a status and `{"error": message, "code": code}`,
//! where `code` is a stable name a program can match on and `error` is one
//! line for a person.
//!
//! A client's mistake (a bad body, an unknown path, a server at its limit) is
//! answered with a message that says what was wrong. A failure inside the
//! server ([`ApiError::Internal`]: a tensor that cannot be read back, a
//! panic in a prediction, a file that cannot be read) is answered with the
//! fixed `internal error`: what went wrong is logged on the server's stderr
//! by [`log_internal_errors`], with the request's method and path, and never
//! sent. No Burn, so that the fuzz targets build it.

use axum::Json;
use axum::extract::Request;
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use console::{errln, one_line};
use serde::Serialize;
use tokio::task::JoinError;

/// Every way an API request can fail. Each variant but [`ApiError::Internal`]
/// holds the message the client gets; [`ApiError::answer`] gives its status
/// and code.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum ApiError {
    /// The body, a field or a query parameter is wrong; the message names it
    /// and what was expected.
    #[error("{0}")]
    BadRequest(String),
    /// The `Content-Type` is missing or not one the route reads.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The body is not an image, or holds no digit (a blank page).
    #[error("{0}")]
    BadImage(String),
    /// The body, or the image in it, is over the server's limit.
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    /// The request, its body included, took longer than `--timeout`.
    #[error("{0}")]
    Timeout(String),
    /// The server is at one of its limits (`--max-in-flight`,
    /// `--max-connections`); the same request may succeed shortly.
    #[error("{0}")]
    Busy(String),
    /// The server started without the test set, so it has no sample digits.
    /// Why is logged once at start.
    #[error("the server has no test set")]
    NoTestSet,
    /// A failure inside the server. The text is for the server's log only;
    /// the client gets [`INTERNAL_MESSAGE`].
    #[error("{0}")]
    Internal(String),
}

/// What the client reads for every [`ApiError::Internal`].
pub const INTERNAL_MESSAGE: &str = "internal error";

impl ApiError {
    /// The status and the stable `code` of the answer: the one mapping from
    /// failures to answers.
    pub fn answer(&self) -> (StatusCode, &'static str) {
        match self {
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            Self::UnsupportedMediaType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            Self::BadImage(_) => (StatusCode::UNPROCESSABLE_ENTITY, "bad_image"),
            Self::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Self::MethodNotAllowed(_) => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            Self::Timeout(_) => (StatusCode::REQUEST_TIMEOUT, "timeout"),
            Self::Busy(_) => (StatusCode::SERVICE_UNAVAILABLE, "busy"),
            Self::NoTestSet => (StatusCode::SERVICE_UNAVAILABLE, "no_test_set"),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }

    pub fn status(&self) -> StatusCode {
        self.answer().0
    }

    pub fn code(&self) -> &'static str {
        self.answer().1
    }

    /// The one line the client reads. Control characters (a JSON key from
    /// the request can hold a newline) are escaped.
    pub fn message(&self) -> String {
        match self {
            Self::Internal(_) => INTERNAL_MESSAGE.to_string(),
            other => one_line(&other.to_string()),
        }
    }
}

/// An error answer's body.
#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    code: &'a str,
}

/// An internal error's text, carried on its answer from the handler to
/// [`log_internal_errors`], which takes it off.
#[derive(Clone)]
struct InternalDetail(String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.answer();
        let message = self.message();
        let mut response = (
            status,
            Json(ErrorBody {
                error: &message,
                code,
            }),
        )
            .into_response();
        if let Self::Internal(detail) = self {
            response.extensions_mut().insert(InternalDetail(detail));
        }
        response
    }
}

/// Middleware: logs the detail of an internal error answered to this request,
/// as one line on stderr ([`internal_error_line`]). Client errors are not
/// logged.
pub async fn log_internal_errors(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let mut response = next.run(request).await;
    if let Some(InternalDetail(detail)) = response.extensions_mut().remove() {
        errln!("{}", internal_error_line(&method, &path, &detail));
    }
    response
}

/// The server's log line for an internal error answered to `method` `path`:
/// `error: POST /api/predict: 500: a blocking task failed: task 7 panicked ...`.
pub fn internal_error_line(method: &Method, path: &str, detail: &str) -> String {
    one_line(&format!("error: {method} {path}: 500: {detail}"))
}

/// Work moved off the I/O threads that panicked or was cancelled.
impl From<JoinError> for ApiError {
    fn from(error: JoinError) -> Self {
        Self::Internal(format!("a blocking task failed: {error}"))
    }
}

/// A tensor that cannot be read back from the device.
#[cfg(feature = "model")]
impl From<burn::tensor::TensorReadError> for ApiError {
    fn from(error: burn::tensor::TensorReadError) -> Self {
        Self::Internal(format!(
            "cannot read the prediction back from the device: {error}"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The status, the JSON body and the logged detail of `error`'s answer.
    fn answered(error: ApiError) -> (u16, serde_json::Value, Option<String>) {
        let mut response = error.into_response();
        let detail = response
            .extensions_mut()
            .remove::<InternalDetail>()
            .map(|InternalDetail(detail)| detail);
        let status = response.status().as_u16();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let bytes = runtime
            .block_on(axum::body::to_bytes(response.into_body(), usize::MAX))
            .unwrap();
        (status, serde_json::from_slice(&bytes).unwrap(), detail)
    }

    #[test]
    fn every_kind_has_its_status_and_code() {
        let message = || "what was wrong".to_string();
        // The statuses the README's table of error answers gives.
        for (error, status, code) in [
            (ApiError::BadRequest(message()), 400, "bad_request"),
            (
                ApiError::UnsupportedMediaType(message()),
                415,
                "unsupported_media_type",
            ),
            (ApiError::BadImage(message()), 422, "bad_image"),
            (
                ApiError::PayloadTooLarge(message()),
                413,
                "payload_too_large",
            ),
            (ApiError::NotFound(message()), 404, "not_found"),
            (
                ApiError::MethodNotAllowed(message()),
                405,
                "method_not_allowed",
            ),
            (ApiError::Timeout(message()), 408, "timeout"),
            (ApiError::Busy(message()), 503, "busy"),
        ] {
            assert_eq!(
                answered(error),
                (
                    status,
                    serde_json::json!({ "error": "what was wrong", "code": code }),
                    None
                )
            );
        }
        assert_eq!(
            answered(ApiError::NoTestSet),
            (
                503,
                serde_json::json!({ "error": "the server has no test set", "code": "no_test_set" }),
                None
            )
        );
    }

    #[test]
    fn client_messages_stay_one_line() {
        let error = ApiError::BadRequest("unknown field `a\nb`\n".into());
        assert_eq!(error.message(), "unknown field `a\\nb`");
        assert_eq!(answered(error).1["error"], "unknown field `a\\nb`");
    }

    #[test]
    fn an_internal_error_is_answered_without_its_detail_and_kept_for_the_log() {
        let detail = "cannot read /home/me/.cache/ort/ort.wasm: Permission denied (os error 13)";
        let (status, body, logged) = answered(ApiError::Internal(detail.into()));
        assert_eq!(status, 500);
        assert_eq!(
            body,
            serde_json::json!({ "error": "internal error", "code": "internal" })
        );
        assert!(!body.to_string().contains("/home/me"), "{body}");
        assert_eq!(logged.as_deref(), Some(detail));
    }

    #[test]
    fn a_panic_in_a_blocking_task_is_internal() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        // (The panic's message is printed by the default hook, as in the server.)
        let task = runtime.spawn_blocking(|| panic!("secret state in a worker"));
        let joined = runtime.block_on(task);
        let error = ApiError::from(joined.unwrap_err());
        assert_eq!(error.code(), "internal");
        assert_eq!(error.message(), "internal error");
        let ApiError::Internal(detail) = &error else {
            panic!("{error:?}");
        };
        assert!(detail.contains("secret state in a worker"), "{detail}");
        let (_, body, logged) = answered(error);
        assert!(!body.to_string().contains("secret"), "{body}");
        assert!(logged.unwrap().contains("panicked"));
    }

    #[test]
    fn the_log_line_names_the_request_and_the_detail_on_one_line() {
        assert_eq!(
            internal_error_line(
                &Method::POST,
                "/api/predict",
                "cannot read the prediction back from the device: lost\ndevice"
            ),
            "error: POST /api/predict: 500: cannot read the prediction back from the device: \
             lost\\ndevice"
        );
    }
}
