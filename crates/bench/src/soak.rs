//! `bench load --soak SECONDS`: mixed good and bad traffic against a running
//! `infer serve` for a while, to show that it keeps answering as it should and
//! that its memory does not creep.
//!
//! `--connections` keep-alive connections each send, over and over, test
//! digits as JSON pixels and as PNG drawings (which must get 200 and 10
//! probabilities), 783 pixels (400), a body that is not an image (422) and,
//! on a connection of its own, a body declared at 9 MB (413). One more
//! connection at a time plays the slow client: a body that stops halfway
//! (408 once the server's `--timeout` passes) and headers that stop halfway
//! (closed without an answer once its `--header-timeout` passes). Any other
//! answer is unexpected; with `--server-pid`, the server's resident memory is
//! read before, every second during, and after.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use data::MnistSplit;
use serde::Serialize;

use crate::load::{Body, Failure, percentile, predict_once, request_body};

/// What a soak request carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A test digit as `{"pixels": [...]}`.
    Pixels,
    /// A test digit as a 280x280 PNG drawing.
    Png,
    /// 783 pixels.
    BadPixels,
    /// `image/png` bytes that are no image.
    NotAnImage,
    /// `Content-Length` over the 8 MiB limit, no body sent.
    Oversized,
    /// Half the body, then nothing.
    SlowBody,
    /// Half the headers, then nothing.
    HalfHead,
}

impl Kind {
    /// The answer the server owes: a status, or `None` for closing the
    /// connection without one.
    fn expected(self) -> Option<u16> {
        match self {
            Kind::Pixels | Kind::Png => Some(200),
            Kind::BadPixels => Some(400),
            Kind::NotAnImage => Some(422),
            Kind::Oversized => Some(413),
            Kind::SlowBody => Some(408),
            Kind::HalfHead => None,
        }
    }

    fn good(self) -> bool {
        matches!(self, Kind::Pixels | Kind::Png)
    }
}

/// The order each fast connection sends its requests in, over and over.
const FAST_CYCLE: [Kind; 8] = [
    Kind::Pixels,
    Kind::Png,
    Kind::Pixels,
    Kind::BadPixels,
    Kind::Pixels,
    Kind::NotAnImage,
    Kind::Png,
    Kind::Oversized,
];

/// The slow client's requests, one after the other.
const SLOW_CYCLE: [Kind; 2] = [Kind::SlowBody, Kind::HalfHead];

/// How long the slow client waits for an answer: longer than any sane
/// `--timeout` or `--header-timeout`.
const SLOW_WAIT: Duration = Duration::from_secs(120);

pub struct SoakSettings {
    /// The server's base URL, `http://127.0.0.1:8000`.
    pub url: String,
    /// Fast keep-alive connections (the slow client is one more).
    pub connections: usize,
    pub seconds: u64,
    /// The server's process id, to read its memory (Linux `/proc`).
    pub server_pid: Option<u32>,
}

/// Requests of one kind.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct KindCount {
    pub sent: usize,
    pub unexpected: usize,
}

/// The server's resident memory, in KiB.
#[derive(Debug, Serialize)]
pub struct Rss {
    /// After a warm-up, before the soak.
    pub before_kib: u64,
    /// The largest of the readings taken every second.
    pub max_kib: u64,
    pub after_kib: u64,
    /// `after_kib - before_kib` (negative when memory was given back).
    pub growth_kib: i64,
}

/// Latencies in milliseconds, over the good requests that succeeded.
#[derive(Debug, Serialize)]
pub struct SoakReport {
    pub seconds: f64,
    pub connections: usize,
    pub requests: usize,
    pub kinds: BTreeMap<Kind, KindCount>,
    /// Answers other than the one owed (a status, a body without `error`, a
    /// transport error where an answer was owed).
    pub unexpected: usize,
    pub first_unexpected: Option<String>,
    /// Good requests that failed in transport.
    pub good_errors: usize,
    pub first_good_error: Option<String>,
    pub good_p50_ms: f64,
    pub good_p99_ms: f64,
    pub good_max_ms: f64,
    pub rss: Option<Rss>,
}

/// One request's fate.
enum Verdict {
    Expected,
    Unexpected(String),
    GoodError(String),
}

/// What each worker thread brings back.
#[derive(Default)]
struct Tally {
    kinds: BTreeMap<Kind, KindCount>,
    unexpected: Vec<String>,
    good_errors: Vec<String>,
    good_latencies: Vec<Duration>,
}

impl Tally {
    fn add(&mut self, kind: Kind, verdict: Verdict, latency: Duration) {
        let count = self.kinds.entry(kind).or_default();
        count.sent += 1;
        match verdict {
            Verdict::Expected if kind.good() => self.good_latencies.push(latency),
            Verdict::Expected => {}
            Verdict::Unexpected(why) => {
                count.unexpected += 1;
                self.unexpected.push(format!("{kind:?}: {why}"));
            }
            Verdict::GoodError(why) => self.good_errors.push(format!("{kind:?}: {why}")),
        }
    }

    fn merge(&mut self, other: Tally) {
        for (kind, count) in other.kinds {
            let mine = self.kinds.entry(kind).or_default();
            mine.sent += count.sent;
            mine.unexpected += count.unexpected;
        }
        self.unexpected.extend(other.unexpected);
        self.good_errors.extend(other.good_errors);
        self.good_latencies.extend(other.good_latencies);
    }
}

/// Runs the soak for `settings.seconds` with bodies made from `test`'s digits.
pub fn run_soak(settings: &SoakSettings, test: &MnistSplit) -> anyhow::Result<SoakReport> {
    let address = socket_address(&settings.url)?;
    let digits = test.len().min(100);
    let bodies = Arc::new(Bodies {
        pixels: (0..digits)
            .map(|i| request_body(test.image(i), Body::Pixels))
            .collect(),
        png: (0..digits)
            .map(|i| request_body(test.image(i), Body::Png))
            .collect(),
    });
    let url = format!("{}/api/predict", settings.url.trim_end_matches('/'));
    let rss =
        |pid| rss_kib(pid).with_context(|| format!("cannot read the memory of process {pid}"));
    // A warm-up, so that the first reading is the server at work.
    let agent = agent();
    for body in bodies.pixels.iter().take(10) {
        predict_once(&agent, &url, "application/json", body)
            .map_err(|failure| anyhow::anyhow!("the warm-up failed: {failure}"))?;
    }
    let before = settings.server_pid.map(rss).transpose()?;

    let started = Instant::now();
    let deadline = started + Duration::from_secs(settings.seconds);
    let fast: Vec<_> = (0..settings.connections.max(1))
        .map(|worker| {
            let (bodies, url) = (Arc::clone(&bodies), url.clone());
            std::thread::spawn(move || fast_client(worker, &bodies, &url, address, deadline))
        })
        .collect();
    let slow = std::thread::spawn(move || slow_client(address, deadline));
    let mut max = before.unwrap_or(0);
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_secs(1).min(deadline - Instant::now()));
        if let Some(pid) = settings.server_pid {
            max = max.max(rss(pid)?);
        }
    }
    let mut tally = Tally::default();
    for worker in fast.into_iter().chain([slow]) {
        tally.merge(worker.join().expect("a soak thread does not panic"));
    }
    let seconds = started.elapsed().as_secs_f64();
    let rss = match (before, settings.server_pid) {
        (Some(before), Some(pid)) => {
            let after = rss(pid)?;
            Some(Rss {
                before_kib: before,
                max_kib: max.max(after),
                after_kib: after,
                growth_kib: after as i64 - before as i64,
            })
        }
        _ => None,
    };
    let mut ms: Vec<f64> = tally
        .good_latencies
        .iter()
        .map(|d| d.as_secs_f64() * 1e3)
        .collect();
    ms.sort_by(f64::total_cmp);
    Ok(SoakReport {
        seconds,
        connections: settings.connections.max(1) + 1,
        requests: tally.kinds.values().map(|count| count.sent).sum(),
        kinds: tally.kinds,
        unexpected: tally.unexpected.len(),
        first_unexpected: tally.unexpected.into_iter().next(),
        good_errors: tally.good_errors.len(),
        first_good_error: tally.good_errors.into_iter().next(),
        good_p50_ms: percentile(&ms, 0.50),
        good_p99_ms: percentile(&ms, 0.99),
        good_max_ms: ms.last().copied().unwrap_or(0.0),
        rss,
    })
}

/// The request bodies of the good kinds, one per test digit.
struct Bodies {
    pixels: Vec<Vec<u8>>,
    png: Vec<Vec<u8>>,
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// One keep-alive connection's worth of [`FAST_CYCLE`] until `deadline`.
fn fast_client(
    worker: usize,
    bodies: &Bodies,
    url: &str,
    address: SocketAddr,
    deadline: Instant,
) -> Tally {
    let agent = agent();
    let mut tally = Tally::default();
    for i in 0.. {
        if Instant::now() >= deadline {
            break;
        }
        let kind = FAST_CYCLE[i % FAST_CYCLE.len()];
        let digit = (worker + i * 7) % bodies.pixels.len();
        let sent = Instant::now();
        let verdict = match kind {
            Kind::Pixels => good(predict_once(
                &agent,
                url,
                "application/json",
                &bodies.pixels[digit],
            )),
            Kind::Png => good(predict_once(&agent, url, "image/png", &bodies.png[digit])),
            Kind::BadPixels => {
                let body = serde_json::json!({ "pixels": vec![0; 783] }).to_string();
                refused(kind, post(&agent, url, "application/json", body.as_bytes()))
            }
            Kind::NotAnImage => refused(kind, post(&agent, url, "image/png", b"not an image")),
            _ => refused(kind, raw(address, kind)),
        };
        tally.add(kind, verdict, sent.elapsed());
    }
    tally
}

/// [`SLOW_CYCLE`] on one connection at a time until `deadline`.
fn slow_client(address: SocketAddr, deadline: Instant) -> Tally {
    let mut tally = Tally::default();
    for kind in SLOW_CYCLE.iter().cycle() {
        if Instant::now() >= deadline {
            break;
        }
        let sent = Instant::now();
        tally.add(*kind, refused(*kind, raw(address, *kind)), sent.elapsed());
    }
    tally
}

fn good(result: Result<(), Failure>) -> Verdict {
    match result {
        Ok(()) => Verdict::Expected,
        Err(Failure::Answer(why)) => Verdict::Unexpected(why),
        Err(Failure::Transport(why)) => Verdict::GoodError(why),
    }
}

/// A status (or `None`: closed without one) and the body, for a bad request.
type Answer = Result<(Option<u16>, String), String>;

/// Whether a bad request got the answer it is owed: its status with a JSON
/// `{"error": ...}` body, or a close without an answer.
fn refused(kind: Kind, answer: Answer) -> Verdict {
    let (status, body) = match answer {
        Ok(answer) => answer,
        Err(why) => return Verdict::Unexpected(why),
    };
    if status != kind.expected() {
        return Verdict::Unexpected(format!("status {status:?}: {body}"));
    }
    let error = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|json| json["error"].as_str().map(str::to_string));
    match (status, error) {
        (None, _) | (Some(_), Some(_)) => Verdict::Expected,
        (Some(status), None) => Verdict::Unexpected(format!("{status} without an error: {body}")),
    }
}

fn post(agent: &ureq::Agent, url: &str, content_type: &str, body: &[u8]) -> Answer {
    let mut response = agent
        .post(url)
        .header("Content-Type", content_type)
        .send(body)
        .map_err(|error| format!("POST {url}: {error}"))?;
    let text = response
        .body_mut()
        .read_to_string()
        .map_err(|error| format!("POST {url}: reading the answer: {error}"))?;
    Ok((Some(response.status().as_u16()), text))
}

/// A request ureq would not send (a false length, a stall) on a connection
/// of its own, read until the server closes it.
fn raw(address: SocketAddr, kind: Kind) -> Answer {
    let pixels = serde_json::json!({ "pixels": vec![0; 784] }).to_string();
    let head = |length: usize| {
        format!(
            "POST /api/predict HTTP/1.1\r\nHost: soak\r\nContent-Type: application/json\r\n\
             Content-Length: {length}\r\nConnection: close\r\n\r\n"
        )
    };
    let sent = match kind {
        Kind::Oversized => head(9_000_000),
        Kind::SlowBody => head(pixels.len()) + &pixels[..pixels.len() / 2],
        Kind::HalfHead => "POST /api/predict HTTP/1.1\r\nHost: soak\r\n".to_string(),
        _ => unreachable!("{kind:?} goes through ureq"),
    };
    let fail = |error: std::io::Error| format!("{kind:?} to {address}: {error}");
    let mut stream = TcpStream::connect(address).map_err(fail)?;
    stream.set_read_timeout(Some(SLOW_WAIT)).map_err(fail)?;
    stream.write_all(sent.as_bytes()).map_err(fail)?;
    let mut response = Vec::new();
    match stream.read_to_end(&mut response) {
        Ok(_) => {}
        // A close with unread bytes is a reset; what came before still counts.
        Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(error) => return Err(fail(error)),
    }
    let text = String::from_utf8_lossy(&response);
    if text.is_empty() {
        return Ok((None, String::new()));
    }
    let status = text.get(9..12).and_then(|code| code.parse().ok());
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default();
    Ok((status, body.to_string()))
}

/// `http://host:port[/...]` as a socket address.
fn socket_address(url: &str) -> anyhow::Result<SocketAddr> {
    let authority = url
        .strip_prefix("http://")
        .and_then(|rest| rest.split('/').next())
        .with_context(|| format!("--url {url}: expected http://HOST:PORT"))?;
    let with_port = if authority.contains(':') {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    with_port
        .to_socket_addrs()
        .with_context(|| format!("--url {url}: cannot resolve {with_port}"))?
        .next()
        .with_context(|| format!("--url {url}: {with_port} has no address"))
}

/// The resident memory of process `pid`, in KiB (`VmRSS` in Linux's
/// `/proc/<pid>/status`).
fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("{path} has no VmRSS line"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_requests_must_get_their_status_and_an_error() {
        let answer = |status: Option<u16>, body: &str| Ok((status, body.to_string()));
        let expected = |verdict: Verdict| matches!(verdict, Verdict::Expected);
        assert!(expected(refused(
            Kind::BadPixels,
            answer(Some(400), r#"{"error":"x"}"#)
        )));
        assert!(!expected(refused(Kind::BadPixels, answer(Some(400), ""))));
        assert!(!expected(refused(
            Kind::BadPixels,
            answer(Some(422), r#"{"error":"x"}"#)
        )));
        assert!(expected(refused(Kind::HalfHead, answer(None, ""))));
        assert!(!expected(refused(Kind::HalfHead, answer(Some(408), ""))));
        assert!(!expected(refused(Kind::Oversized, Err("reset".into()))));
        // A good request answered with another status is unexpected; one
        // that failed in transport is an error.
        let answer = Failure::Answer("POST u: status 503: {}".into());
        assert!(matches!(good(Err(answer)), Verdict::Unexpected(_)));
        let transport = Failure::Transport("POST u: timed out".into());
        assert!(matches!(good(Err(transport)), Verdict::GoodError(_)));
    }

    #[test]
    fn urls_become_socket_addresses() {
        let address = socket_address("http://127.0.0.1:8000/").unwrap();
        assert_eq!(address, "127.0.0.1:8000".parse().unwrap());
        assert_eq!(socket_address("http://127.0.0.1").unwrap().port(), 80);
        assert!(socket_address("ftp://x").is_err());
    }

    #[test]
    fn tallies_count_by_kind() {
        let mut tally = Tally::default();
        tally.add(Kind::Pixels, Verdict::Expected, Duration::from_millis(2));
        tally.add(Kind::BadPixels, Verdict::Expected, Duration::from_millis(1));
        let mut other = Tally::default();
        other.add(Kind::Pixels, Verdict::GoodError("x".into()), Duration::ZERO);
        other.add(
            Kind::NotAnImage,
            Verdict::Unexpected("y".into()),
            Duration::ZERO,
        );
        tally.merge(other);
        assert_eq!(tally.kinds[&Kind::Pixels].sent, 2);
        assert_eq!(tally.kinds[&Kind::NotAnImage].unexpected, 1);
        assert_eq!(tally.good_latencies, [Duration::from_millis(2)]);
        assert_eq!(tally.unexpected, ["NotAnImage: y"]);
        assert_eq!(tally.good_errors, ["Pixels: x"]);
    }
}
