//! `bench load`: a bounded load test of `infer serve`. A few keep-alive
//! connections, each on its own thread, send single-image predictions
//! (`POST /api/predict`) back to back; every answer must be a 200 holding 10
//! probabilities. Reports requests per second and latency percentiles.

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use data::{IMAGE_SIDE, MnistSplit};
use serde::Serialize;

/// What each request carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Body {
    /// `{"pixels": [784 numbers]}`: a test digit as it is stored.
    Pixels,
    /// A 280x280 PNG, dark ink on white, like the drawing page sends.
    Png,
}

pub struct LoadSettings {
    /// The server's base URL, `http://127.0.0.1:8000`.
    pub url: String,
    pub connections: usize,
    /// Timed requests, over all connections.
    pub requests: usize,
    pub body: Body,
}

/// Latencies in milliseconds, over the requests that succeeded.
#[derive(Debug, Serialize)]
pub struct LoadReport {
    pub requests: usize,
    /// Requests that failed: a transport error, a status other than 200, or an
    /// answer without 10 probabilities.
    pub errors: usize,
    /// The first failure's text.
    pub first_error: Option<String>,
    pub seconds: f64,
    pub requests_per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// Sends `settings.requests` predictions of test digits (after 10 untimed ones
/// per connection) and reports throughput, latency and failures.
pub fn run_load(settings: &LoadSettings, test: &MnistSplit) -> LoadReport {
    let bodies: Arc<Vec<Vec<u8>>> = Arc::new(
        (0..test.len().min(100))
            .map(|index| request_body(test.image(index), settings.body))
            .collect(),
    );
    let content_type = match settings.body {
        Body::Pixels => "application/json",
        Body::Png => "image/png",
    };
    let url = format!("{}/api/predict", settings.url.trim_end_matches('/'));
    let connections = settings.connections.max(1);
    // The clock starts once every connection has sent its warm-up requests,
    // which are not counted.
    let warm = Arc::new(Barrier::new(connections + 1));
    let workers: Vec<_> = (0..connections)
        .map(|worker| {
            let (url, bodies, warm) = (url.clone(), bodies.clone(), warm.clone());
            let share = settings.requests / connections
                + usize::from(worker < settings.requests % connections);
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .timeout_global(Some(Duration::from_secs(30)))
                    .build()
                    .into();
                let send = |i: usize| -> Result<Duration, String> {
                    let body = &bodies[(worker + i * connections) % bodies.len()];
                    let sent = Instant::now();
                    predict_once(&agent, &url, content_type, body)
                        .map_err(|failure| failure.to_string())?;
                    Ok(sent.elapsed())
                };
                let warm_up: Vec<_> = (0..10).map(send).collect();
                warm.wait();
                let timed: Vec<_> = (10..10 + share).map(send).collect();
                (warm_up, timed)
            })
        })
        .collect();
    warm.wait();
    let started = Instant::now();
    let mut latencies = Vec::with_capacity(settings.requests);
    let mut failures = Vec::new();
    for worker in workers {
        let (warm_up, timed) = worker.join().expect("a load thread does not panic");
        failures.extend(warm_up.into_iter().filter_map(Result::err));
        for result in timed {
            match result {
                Ok(latency) => latencies.push(latency),
                Err(error) => failures.push(error),
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    report(&latencies, seconds, failures)
}

/// Why a prediction failed.
#[derive(Debug, PartialEq)]
pub enum Failure {
    /// No answer came: the connection failed or timed out.
    Transport(String),
    /// An answer other than a 200 with 10 probabilities.
    Answer(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Transport(text) | Failure::Answer(text) => f.write_str(text),
        }
    }
}

/// One prediction; a failure unless the answer is a 200 with 10 probabilities.
pub fn predict_once(
    agent: &ureq::Agent,
    url: &str,
    content_type: &str,
    body: &[u8],
) -> Result<(), Failure> {
    let mut response = agent
        .post(url)
        .header("Content-Type", content_type)
        .send(body)
        .map_err(|error| Failure::Transport(format!("POST {url}: {error}")))?;
    let status = response.status().as_u16();
    let text = response
        .body_mut()
        .read_to_string()
        .map_err(|error| Failure::Transport(format!("POST {url}: reading the answer: {error}")))?;
    let answer: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    let classes = answer["probabilities"].as_array().map_or(0, Vec::len);
    if status != 200 || classes != 10 {
        return Err(Failure::Answer(format!(
            "POST {url}: status {status}: {text}"
        )));
    }
    Ok(())
}

/// The request body for one 28x28 test digit.
pub fn request_body(pixels: &[u8], body: Body) -> Vec<u8> {
    match body {
        Body::Pixels => serde_json::json!({ "pixels": pixels })
            .to_string()
            .into_bytes(),
        Body::Png => {
            let side = IMAGE_SIDE as u32;
            let digit = image::GrayImage::from_fn(side, side, |x, y| {
                image::Luma([255 - pixels[(y * side + x) as usize]])
            });
            let drawing =
                image::imageops::resize(&digit, side * 10, side * 10, image::imageops::Nearest);
            let mut bytes = std::io::Cursor::new(Vec::new());
            drawing
                .write_to(&mut bytes, image::ImageFormat::Png)
                .expect("a PNG encodes into memory");
            bytes.into_inner()
        }
    }
}

/// Throughput and percentiles of `latencies` measured over `seconds`, and the
/// failures.
fn report(latencies: &[Duration], seconds: f64, failures: Vec<String>) -> LoadReport {
    let mut ms: Vec<f64> = latencies.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    ms.sort_by(f64::total_cmp);
    LoadReport {
        requests: ms.len(),
        errors: failures.len(),
        first_error: failures.into_iter().next(),
        seconds,
        requests_per_second: ms.len() as f64 / seconds,
        p50_ms: percentile(&ms, 0.50),
        p99_ms: percentile(&ms, 0.99),
        max_ms: ms.last().copied().unwrap_or(0.0),
    }
}

/// The value at fraction `q` of `sorted` (nearest rank); 0 for none.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;
    use data::IMAGE_PIXELS;

    #[test]
    fn percentiles_by_nearest_rank() {
        let sorted: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&sorted, 0.50), 50.0);
        assert_eq!(percentile(&sorted, 0.99), 99.0);
        assert_eq!(percentile(&sorted, 1.0), 100.0);
        assert_eq!(percentile(&[7.0], 0.99), 7.0);
        assert_eq!(percentile(&[], 0.99), 0.0);
    }

    #[test]
    fn the_report_counts_and_rates() {
        let latencies = vec![Duration::from_millis(2), Duration::from_millis(4)];
        let report = report(&latencies, 0.5, vec!["a".into(), "b".into()]);
        assert_eq!(report.requests, 2);
        assert_eq!(report.errors, 2);
        assert_eq!(report.first_error.as_deref(), Some("a"));
        assert_eq!(report.requests_per_second, 4.0);
        assert_eq!(report.max_ms, 4.0);
    }

    #[test]
    fn png_bodies_are_dark_on_white_drawings() {
        let mut pixels = [0u8; IMAGE_PIXELS];
        pixels[14 * 28 + 14] = 255;
        let png = request_body(&pixels, Body::Png);
        let image = image::load_from_memory(&png).unwrap().to_luma8();
        assert_eq!(image.dimensions(), (280, 280));
        assert_eq!(image.get_pixel(0, 0).0[0], 255);
        assert_eq!(image.get_pixel(145, 145).0[0], 0);
    }
}
