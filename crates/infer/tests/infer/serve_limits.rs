//! `infer serve` against slow, idle and greedy clients over loopback: held
//! connections neither delay a real request nor stay open past the header
//! timeout; beyond the caps on connections and on predictions in flight
//! comes a fast 503, and the server recovers at once; its memory stays
//! bounded. Figures are printed (`cargo test ... -- --nocapture`).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use data::IMAGE_PIXELS;
use serde_json::Value;

use crate::common::{Server, TestRun};

/// The first lines of a request whose headers never end.
const HALF_HEAD: &[u8] = b"POST /api/predict HTTP/1.1\r\nHost: x\r\n";

fn pixels_body() -> String {
    let pixels: Vec<u8> = (0..IMAGE_PIXELS).map(|i| (i % 256) as u8).collect();
    serde_json::json!({ "pixels": pixels }).to_string()
}

/// Sends a whole request (`Connection: close`) on a fresh connection; returns
/// the status, the JSON body and how long the answer took.
fn request(address: SocketAddr, head: &str, body: &[u8]) -> (u16, Value, Duration) {
    let started = Instant::now();
    let response = testkit::raw_request(address, head, body, Duration::from_secs(30))
        .unwrap_or_else(|error| panic!("{head:?}: {error}"));
    let elapsed = started.elapsed();
    let json = serde_json::from_str(response.body()).unwrap_or(Value::Null);
    (response.status, json, elapsed)
}

fn predict(address: SocketAddr, body: &str) -> (u16, Value, Duration) {
    let head = format!(
        "POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: {}",
        body.len()
    );
    request(address, &head, body.as_bytes())
}

fn health(address: SocketAddr) -> (u16, Duration) {
    let (status, _, elapsed) = request(address, "GET /healthz HTTP/1.1\r\nHost: x", b"");
    (status, elapsed)
}

/// The median and the largest of `times`, in milliseconds.
fn median_and_max(mut times: Vec<Duration>) -> (f64, f64) {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    (ms(times[times.len() / 2]), ms(times[times.len() - 1]))
}

/// Whether the server has neither answered nor closed `stream` yet.
fn still_waiting(stream: &TcpStream) -> bool {
    stream.set_nonblocking(true).unwrap();
    let mut byte = [0u8; 1];
    let waiting = matches!(
        stream.peek(&mut byte),
        Err(error) if error.kind() == std::io::ErrorKind::WouldBlock
    );
    stream.set_nonblocking(false).unwrap();
    waiting
}

/// How long until the server closes `stream` (a read gives end of file or a
/// reset), waiting at most `limit`; `None` if it is still open then.
fn closed_within(stream: &mut TcpStream, limit: Duration, since: Instant) -> Option<Duration> {
    let left = limit.checked_sub(since.elapsed())?;
    stream
        .set_read_timeout(Some(left.max(Duration::from_millis(1))))
        .unwrap();
    let mut byte = [0u8; 1];
    match stream.read(&mut byte) {
        Ok(0) => Some(since.elapsed()),
        Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => Some(since.elapsed()),
        Ok(_) => panic!("the server answered a request it never fully received"),
        Err(_) => None,
    }
}

#[test]
fn thousands_of_idle_and_half_sent_connections_neither_delay_a_request_nor_stay_open() {
    // Each held connection costs this process a descriptor: as many as fit.
    let files = infer::open_files::raise_to_hard_limit().unwrap();
    let each = 1500.min(files.saturating_sub(100) / 2) as usize;
    assert!(
        each >= 400,
        "only {files} open files allowed: too few for this test"
    );
    let run = TestRun::new();
    let server = Server::start(
        &run,
        &["--header-timeout", "2", "--max-connections", "4000"],
    );
    let address = server.address();
    let body = pixels_body();
    let quiet: Vec<Duration> = (0..30).map(|_| predict(address, &body).2).collect();
    let rss_before = server.rss_kib();

    let opened = Instant::now();
    let mut idle: Vec<TcpStream> = (0..each)
        .map(|_| TcpStream::connect(address).unwrap())
        .collect();
    let mut half_sent: Vec<TcpStream> = (0..each)
        .map(|_| {
            let mut stream = TcpStream::connect(address).unwrap();
            stream.write_all(HALF_HEAD).unwrap();
            stream
        })
        .collect();
    let all_open = opened.elapsed();
    let loaded: Vec<Duration> = (0..30)
        .map(|_| {
            let (status, answer, elapsed) = predict(address, &body);
            assert_eq!(status, 200, "{answer}");
            elapsed
        })
        .collect();
    let rss_held = server.rss_kib();

    // Every held connection is closed by the header timeout (2 s, counted
    // from each one's opening), none much later.
    let limit = Duration::from_secs(2) + all_open + Duration::from_millis(1500);
    let first = closed_within(&mut half_sent[0], limit, opened).expect("still open");
    let mut last = first;
    for stream in half_sent.iter_mut().chain(idle.iter_mut()) {
        let closed = closed_within(stream, limit, opened)
            .unwrap_or_else(|| panic!("a connection was still open {limit:?} after it opened"));
        last = last.max(closed);
    }
    assert!(
        first >= Duration::from_millis(1900),
        "closed early: {first:?}"
    );
    drop((idle, half_sent));
    let (status, after) = health(address);
    assert_eq!(status, 200);
    let rss_after = server.rss_kib();

    let (quiet_median, quiet_max) = median_and_max(quiet);
    let (loaded_median, loaded_max) = median_and_max(loaded);
    println!(
        "{each} idle + {each} half-sent connections opened in {:.0} ms; a prediction took \
         {quiet_median:.2} ms median ({quiet_max:.2} max) before, {loaded_median:.2} ms median \
         ({loaded_max:.2} max) with them held; the first half-sent one was closed after {:.2} s, \
         all {} by {:.2} s; /healthz after: {:.2} ms; server RSS {} KiB before, {} KiB held, {} \
         KiB after",
        all_open.as_secs_f64() * 1e3,
        first.as_secs_f64(),
        2 * each,
        last.as_secs_f64(),
        after.as_secs_f64() * 1e3,
        rss_before,
        rss_held,
        rss_after
    );
    // A few milliseconds, on a shared 2-core machine with client and server on it.
    assert!(loaded_median < 20.0, "{loaded_median} ms");
    // Under 20 KiB a held connection (about 13 measured), and no more once
    // they are gone (the allocator keeps the pages for the next ones).
    let bound = rss_before + 20 * 2 * each as u64;
    assert!(rss_held < bound, "{rss_before} -> {rss_held} KiB");
    assert!(rss_after < bound, "{rss_before} -> {rss_after} KiB");
}

/// `count` requests sent at the same moment, each on its own connection.
fn burst(address: SocketAddr, body: &str, count: usize) -> Vec<(u16, Value, Duration)> {
    let start = Arc::new(Barrier::new(count));
    let threads: Vec<_> = (0..count)
        .map(|_| {
            let (start, body) = (Arc::clone(&start), body.to_string());
            std::thread::spawn(move || {
                start.wait();
                predict(address, &body)
            })
        })
        .collect();
    threads.into_iter().map(|t| t.join().unwrap()).collect()
}

#[test]
fn a_burst_above_the_in_flight_cap_gets_fast_503s_and_the_server_recovers_at_once() {
    let run = TestRun::new();
    let server = Server::start(&run, &["--max-in-flight", "2"]);
    let address = server.address();
    let body = pixels_body();
    let rss_before = server.rss_kib();

    // A real burst: 64 at once against 2 slots. How many are shed depends on
    // the scheduler; every answer is a 200 or the 503.
    let answers = burst(address, &body, 64);
    let shed = answers.iter().filter(|(status, ..)| *status == 503).count();
    assert!(
        answers
            .iter()
            .all(|(status, ..)| [200, 503].contains(status)),
        "{:?}",
        answers.iter().map(|a| a.0).collect::<Vec<_>>()
    );

    // The two slots held by requests whose bodies are slow to arrive: every
    // prediction of the next burst is shed, at once.
    let head = format!(
        "POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let (first_half, second_half) = body.split_at(body.len() / 2);
    let open_slow = || {
        let mut stream = TcpStream::connect(address).unwrap();
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(first_half.as_bytes()).unwrap();
        stream
    };
    let mut slow: Vec<TcpStream> = (0..2).map(|_| open_slow()).collect();
    // Until the server has read both heads, a probe may still get in, and a
    // slow request that arrives while a probe holds a slot is itself shed:
    // that one is opened again.
    let waited = Instant::now();
    while predict(address, &body).0 != 503 {
        assert!(waited.elapsed() < Duration::from_secs(10), "never shed");
        slow.retain(still_waiting);
        slow.resize_with(2, open_slow);
    }
    let answers = burst(address, &body, 32);
    for (status, answer, _) in &answers {
        assert_eq!(*status, 503, "{answer}");
        assert_eq!(answer["code"], "busy", "{answer}");
        assert_eq!(
            answer["error"],
            "the server is at its limit of 2 predictions in flight (--max-in-flight); try again \
             shortly"
        );
    }
    let (shed_median, shed_max) = median_and_max(answers.iter().map(|a| a.2).collect());
    assert!(shed_median < 50.0, "{shed_median} ms");
    // Outside the cap the server answers as usual.
    assert_eq!(health(address).0, 200);

    // The slow bodies end: their answers come, and the next prediction is served.
    for stream in &mut slow {
        stream.write_all(second_half.as_bytes()).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    }
    let (status, answer, recovered) = predict(address, &body);
    assert_eq!(status, 200, "{answer}");
    let rss_after = server.rss_kib();
    println!(
        "burst of 64 against --max-in-flight 2: {shed} shed with 503; with both slots held, 32 \
         of 32 shed in {shed_median:.2} ms median ({shed_max:.2} max); the next prediction \
         after they finished: 200 in {:.2} ms; server RSS {rss_before} -> {rss_after} KiB",
        recovered.as_secs_f64() * 1e3
    );
    assert!(
        rss_after < rss_before + 32 * 1024,
        "{rss_before} -> {rss_after} KiB"
    );
}

#[test]
fn beyond_the_connection_cap_a_fast_503_then_a_close_and_service_once_a_slot_frees() {
    let run = TestRun::new();
    let server = Server::start(&run, &["--max-connections", "8", "--header-timeout", "1"]);
    let address = server.address();
    let held: Vec<TcpStream> = (0..8)
        .map(|_| TcpStream::connect(address).unwrap())
        .collect();
    let (status, answer, refused) = predict(address, &pixels_body());
    assert_eq!(status, 503, "{answer}");
    assert_eq!(answer["code"], "busy", "{answer}");
    assert_eq!(
        answer["error"],
        "the server is at its limit of 8 open connections (--max-connections); try again \
         shortly"
    );
    assert!(refused < Duration::from_millis(500), "{refused:?}");

    // 64 refusals in progress (their heads never end) fill the room for
    // answering: the next connection is closed without a word.
    let mut refusing: Vec<TcpStream> = (0..64)
        .map(|_| {
            let mut stream = TcpStream::connect(address).unwrap();
            stream.write_all(HALF_HEAD).unwrap();
            stream
        })
        .collect();
    // (The server takes connections in order, so the last of these has been
    // seen once a reader notices anything at all on a newer one.)
    let mut dropped = TcpStream::connect(address).unwrap();
    // (A refusal would wait for its headers until the 1 s header timeout.)
    let closed = closed_within(&mut dropped, Duration::from_millis(300), Instant::now());
    assert!(closed.is_some(), "a connection beyond both limits was kept");
    drop(held);
    for stream in &mut refusing {
        assert!(closed_within(stream, Duration::from_secs(10), Instant::now()).is_some());
    }

    // The held connections are gone: the next request is served.
    let started = Instant::now();
    let status = loop {
        let (status, _) = health(address);
        if status == 200 || started.elapsed() > Duration::from_secs(1) {
            break status;
        }
    };
    assert_eq!(status, 200);
    println!(
        "beyond --max-connections 8: 503 in {:.2} ms; served again {:.2} ms after the held \
         connections closed",
        refused.as_secs_f64() * 1e3,
        started.elapsed().as_secs_f64() * 1e3
    );
}

/// A PNG of `side` x `side` 16-bit gray pixels that compresses to little:
/// cheap to send, costly to decode (6000 x 6000 is 36 megapixels: about
/// 106 MiB at the peak of decoding and shrinking it here).
fn costly_png(side: u32) -> Vec<u8> {
    let image = image::ImageBuffer::<image::Luma<u16>, Vec<u16>>::from_fn(side, side, |x, y| {
        image::Luma([if (x / 64 + y / 64) % 2 == 0 { 0 } else { 65535 }])
    });
    let mut bytes = std::io::Cursor::new(Vec::new());
    image.write_to(&mut bytes, image::ImageFormat::Png).unwrap();
    bytes.into_inner()
}

/// Clients that send a costly image and hang up before the answer do not
/// free their slot while its work goes on: with one slot, a prediction sent
/// while the first upload is still decoding is answered 503, the uploads
/// that follow are refused before their bodies are read, and the server's
/// memory holds one decode at a time, not one per departed client.
#[test]
fn clients_that_hang_up_keep_their_slot_until_the_work_is_done() {
    let run = TestRun::new();
    let server = Server::start(&run, &["--max-in-flight", "1", "--timeout", "30"]);
    let address = server.address();
    let png = costly_png(6000);
    let head = format!(
        "POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        png.len()
    );
    let rss_before = server.rss_kib();
    // Each client sends the whole upload, waits 50 ms and leaves.
    let hang_up = || {
        let mut stream = TcpStream::connect(address).unwrap();
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(&png).unwrap();
        std::thread::sleep(Duration::from_millis(50));
    };
    hang_up();
    let (status, answer, _) = predict(address, &pixels_body());
    assert_eq!(
        status, 503,
        "the departed client's work freed its slot: {answer}"
    );
    for _ in 0..11 {
        hang_up();
    }
    // Once the work is done, the slot is free again.
    let started = Instant::now();
    let status = loop {
        let (status, _, _) = predict(address, &pixels_body());
        if status != 503 || started.elapsed() > Duration::from_secs(20) {
            break status;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status, 200);
    let rss_peak = server.peak_rss_kib();
    println!(
        "12 costly uploads ({} KB each, 6000x6000 16-bit) whose clients left after 50 ms, \
         --max-in-flight 1: the slot stayed taken; RSS {rss_before} -> {rss_peak} KiB peak; \
         served again {:.2} s after the last",
        png.len() / 1000,
        started.elapsed().as_secs_f64()
    );
    // One decode at a time (about 106 MiB), not twelve (1.3 GB).
    assert!(
        rss_peak < rss_before + 700 * 1024,
        "{rss_before} -> {rss_peak} KiB"
    );
}

/// Eight bodies of 8 MiB of JSON pixels at once cost the server about their
/// own size, not 15 times it: the array is counted, not kept (it was 116-129
/// MiB a request).
#[test]
fn huge_json_bodies_cost_about_their_size() {
    let run = TestRun::new();
    let server = Server::start(&run, &["--max-in-flight", "8"]);
    let address = server.address();
    let zeros = "0,".repeat((super_limit() - 40) / 2);
    let body = format!("{{\"pixels\": [{}0]}}", zeros);
    assert!(body.len() <= super_limit(), "{}", body.len());
    let rss_before = server.rss_kib();
    let answers = burst(address, &body, 8);
    for (status, answer, _) in &answers {
        assert_eq!(*status, 400, "{answer}");
        assert!(
            answer["error"]
                .as_str()
                .unwrap()
                .starts_with("pixels has 4194"),
            "{answer}"
        );
    }
    let rss_peak = server.peak_rss_kib();
    println!("8 x 8 MiB JSON bodies at once: RSS {rss_before} KiB, peak {rss_peak} KiB");
    assert!(
        rss_peak < rss_before + 8 * 24 * 1024,
        "{rss_before} -> {rss_peak} KiB"
    );
}

/// The server's body limit, 8 MiB.
fn super_limit() -> usize {
    8 * 1024 * 1024
}
