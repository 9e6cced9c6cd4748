//! `infer serve` over real HTTP on 127.0.0.1: every route, every kind of bad
//! request with its status, `code` and `error`, and the server still
//! answering after them. (An internal error cannot be caused from outside:
//! its answer and its log line are tested in `src/api_error.rs`.)

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use burn::tensor::Device;
use data::IMAGE_PIXELS;
use serde_json::Value;
use tract_onnx::prelude::Framework;

use crate::common::{self, Server, TestRun};

/// A synthetic digit: a bright vertical bar, 28x28 bytes.
fn bar_digit() -> Vec<u8> {
    (0..IMAGE_PIXELS)
        .map(|i| {
            if (12..16).contains(&(i % 28)) && (4..24).contains(&(i / 28)) {
                255
            } else {
                0
            }
        })
        .collect()
}

fn pixels_body(pixels: &[u8]) -> String {
    serde_json::json!({ "pixels": pixels }).to_string()
}

/// The probabilities the model itself gives for `pixels`, for comparison.
fn direct_probabilities(run: &TestRun, pixels: &[u8]) -> Vec<f32> {
    let device = Device::flex();
    let (model, _) = model::load_mnist_model(&run.dir(), &device).unwrap();
    let images = data::images_tensor(pixels, &device);
    model
        .probabilities(images)
        .into_data()
        .try_to_vec::<f32>()
        .unwrap()
}

fn floats(value: &Value) -> Vec<f32> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap() as f32)
        .collect()
}

#[test]
fn the_page_and_its_assets_are_served_from_the_binary() {
    let run = TestRun::new();
    let server = Server::start(&run, &[]);
    let (status, content_type, page) = server.get_text("/");
    assert_eq!(status, 200);
    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert!(
        page.contains("id=\"pad\""),
        "the page has the drawing canvas"
    );
    for (path, kind) in [("/app.js", "text/javascript"), ("/style.css", "text/css")] {
        let (status, content_type, text) = server.get_text(path);
        assert_eq!(status, 200, "{path}");
        assert!(content_type.starts_with(kind), "{path}: {content_type}");
        assert!(!text.is_empty());
    }
    // Nothing is fetched from elsewhere.
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "{page}"
    );

    let (status, health) = server.get_json("/healthz");
    assert_eq!(
        (status, health),
        (200, serde_json::json!({ "status": "ok" }))
    );
}

#[test]
fn the_model_route_describes_the_run() {
    let run = TestRun::new();
    let server = Server::start(&run, &[]);
    let (status, model) = server.get_json("/api/model");
    assert_eq!(status, 200);
    assert_eq!(model["architecture"], "784-64-64-10 relu");
    assert_eq!(
        model["parameters"],
        784 * 64 + 64 + 64 * 64 + 64 + 64 * 10 + 10
    );
    assert_eq!(model["backend"], "flex");
    assert_eq!(model["test_accuracy"], 0.625);
    assert_eq!(model["run"], run.dir().display().to_string());
}

#[test]
fn pixels_images_and_uploads_get_the_models_own_probabilities() {
    let run = TestRun::new();
    let server = Server::start(&run, &[]);
    let digit = bar_digit();

    let (status, answer) = server.post(
        "/api/predict",
        "application/json",
        pixels_body(&digit).as_bytes(),
    );
    assert_eq!(status, 200, "{answer}");
    let probabilities = floats(&answer["probabilities"]);
    assert_eq!(probabilities, direct_probabilities(&run, &digit));
    let prediction = answer["prediction"].as_u64().unwrap() as usize;
    assert!(
        probabilities
            .iter()
            .all(|&p| p <= probabilities[prediction])
    );
    assert_eq!(
        answer["probability"].as_f64().unwrap() as f32,
        probabilities[prediction]
    );
    assert_eq!(
        answer["preprocessed"].as_array().unwrap().len(),
        IMAGE_PIXELS
    );
    assert_eq!(answer["preprocessed"][12 + 28 * 10], 255);

    // A drawing at another size, dark on light: preprocessed as MNIST was made.
    let page = image::GrayImage::from_fn(200, 150, |x, y| {
        image::Luma([if (90..110).contains(&x) && (20..130).contains(&y) {
            0
        } else {
            255
        }])
    });
    let png = common::png(&page);
    let expected = data::decode_digit(&png, std::path::Path::new("x")).unwrap();
    let (status, answer) = server.post("/api/predict", "image/png", &png);
    assert_eq!(status, 200, "{answer}");
    let seen: Vec<u8> = answer["preprocessed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as u8)
        .collect();
    assert_eq!(seen, expected.to_vec());
    assert_eq!(
        floats(&answer["probabilities"]),
        direct_probabilities(&run, &expected)
    );

    // The same file uploaded from a form.
    let boundary = "XyZ123";
    let mut form = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"seven.png\"\r\n\
         Content-Type: image/png\r\n\r\n"
    )
    .into_bytes();
    form.extend_from_slice(&png);
    form.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let (status, uploaded) = server.post(
        "/api/predict",
        &format!("multipart/form-data; boundary={boundary}"),
        &form,
    );
    assert_eq!(status, 200, "{uploaded}");
    assert_eq!(uploaded["probabilities"], answer["probabilities"]);
}

#[test]
fn samples_are_test_digits_with_answers() {
    let run = TestRun::new();
    let server = Server::start(&run, &[]);
    let (status, answer) = server.get_json("/api/samples?count=5");
    assert_eq!(status, 200, "{answer}");
    let samples = answer["samples"].as_array().unwrap();
    assert_eq!(samples.len(), 5);
    let test = data::load_dir(&run.data_dir()).unwrap().test;
    for sample in samples {
        let index = sample["index"].as_u64().unwrap() as usize;
        assert_eq!(sample["label"], test.label(index));
        let pixels: Vec<u8> = serde_json::from_value(sample["pixels"].clone()).unwrap();
        assert_eq!(pixels, test.image(index));
        let probability = sample["probability"].as_f64().unwrap();
        assert!(probability > 0.0 && probability <= 1.0);
    }
    let (status, answer) = server.get_json("/api/samples");
    assert_eq!(status, 200);
    assert_eq!(answer["samples"].as_array().unwrap().len(), 8);
}

/// Why the test set is missing (its paths on the server) is logged at start,
/// not sent.
#[test]
fn without_a_test_set_samples_are_unavailable_and_the_rest_works() {
    let run = TestRun::new();
    let empty = tempfile::tempdir().unwrap();
    let empty = empty.path().to_str().unwrap();
    let server = Server::start(&run, &["--data-dir", empty]);
    let (status, answer) = server.get_json("/api/samples");
    assert_eq!(
        (status, answer),
        (
            503,
            serde_json::json!({ "error": "the server has no test set", "code": "no_test_set" })
        )
    );
    let (status, _) = server.post(
        "/api/predict",
        "application/json",
        pixels_body(&bar_digit()).as_bytes(),
    );
    assert_eq!(status, 200);
    let (_, stderr) = server.terminate();
    assert!(
        stderr.lines().any(|line| {
            line.starts_with("warning: no test set, so /api/samples answers 503: ")
                && line.contains(empty)
        }),
        "{stderr}"
    );
}

/// The `code` of an error answer, checked to be its only other field.
fn code(answer: &Value) -> &str {
    let mut fields: Vec<&str> = answer
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    fields.sort_unstable();
    assert_eq!(fields, ["code", "error"], "{answer}");
    answer["code"].as_str().unwrap()
}

#[test]
fn bad_requests_get_a_4xx_json_error_and_the_server_keeps_serving() {
    let run = TestRun::new();
    let server = Server::start(&run, &[]);
    let mut letters = vec![serde_json::json!(0); IMAGE_PIXELS];
    letters[7] = serde_json::json!("seven");
    let letters = serde_json::json!({ "pixels": letters }).to_string();
    // What, its Content-Type and body, the status, the code, the error's start.
    type Case<'a> = (&'a str, &'a str, Vec<u8>, u16, &'a str, &'a str);
    let cases: Vec<Case> = vec![
        (
            "short",
            "application/json",
            pixels_body(&[0; 783]).into_bytes(),
            400,
            "bad_request",
            "pixels has 783 values, expected 784",
        ),
        (
            "not numbers",
            "application/json",
            letters.into_bytes(),
            400,
            "bad_request",
            "pixels[7] is \"seven\", expected a number from 0 to 255",
        ),
        (
            "broken json",
            "application/json",
            b"{\"pixels\": [1,".to_vec(),
            400,
            "bad_request",
            "the body is not {\"pixels\": [784 numbers]}",
        ),
        (
            "not an image",
            "image/png",
            b"hello".to_vec(),
            422,
            "bad_image",
            "the image in the body: not an image",
        ),
        (
            "blank",
            "image/png",
            data::png_bytes(&[0; IMAGE_PIXELS]),
            422,
            "bad_image",
            "the image in the body: blank",
        ),
        (
            "wrong type",
            "text/plain",
            b"7".to_vec(),
            415,
            "unsupported_media_type",
            "Content-Type \"text/plain\": send application/json",
        ),
        (
            "no file",
            "multipart/form-data; boundary=b",
            b"--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n--b--\r\n".to_vec(),
            400,
            "bad_request",
            "the multipart body has no file field",
        ),
        (
            "bad multipart",
            "multipart/form-data; boundary=b",
            b"garbage".to_vec(),
            400,
            "bad_request",
            "bad multipart body",
        ),
    ];
    for (what, content_type, body, expected_status, expected_code, expected_error) in cases {
        let (status, answer) = server.post("/api/predict", content_type, &body);
        assert_eq!(status, expected_status, "{what}: {answer}");
        assert_eq!(code(&answer), expected_code, "{what}: {answer}");
        let error = answer["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{what}: {answer}"));
        assert!(error.starts_with(expected_error), "{what}: {error}");
        assert!(!error.contains('\n'), "{what}: one line: {error}");
    }
    let (status, answer) = server.raw(
        "POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Length: 2",
        b"{}",
    );
    assert_eq!(status, 415, "{answer}");
    assert_eq!(code(&answer), "unsupported_media_type");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .starts_with("no Content-Type: send")
    );

    // A body declared larger than the limit is refused before it is sent.
    let (status, answer) = server.raw(
        "POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n\
         Content-Length: 9000000\r\nExpect: 100-continue",
        b"",
    );
    assert_eq!(status, 413, "{answer}");
    assert_eq!(code(&answer), "payload_too_large");
    assert_eq!(
        answer["error"],
        "the body is 9000000 bytes, over the 8388608-byte limit"
    );
    // A streamed (chunked) body over the limit is cut off at the limit.
    let chunk = vec![b'7'; 1024 * 1024];
    let mut chunked = Vec::new();
    for _ in 0..8 {
        chunked.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        chunked.extend_from_slice(&chunk);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"1\r\n7\r\n0\r\n\r\n");
    let (status, answer) = server.raw(
        "POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nTransfer-Encoding: chunked",
        &chunked,
    );
    assert_eq!(status, 413, "{answer}");
    assert_eq!(code(&answer), "payload_too_large");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .starts_with("cannot read the body (at most 8388608 bytes)"),
        "{answer}"
    );

    for (path, expected_status, expected_code, expected_error) in [
        (
            "/api/samples?count=0",
            400,
            "bad_request",
            "count is 0, expected 1 to 32",
        ),
        (
            "/api/samples?count=33",
            400,
            "bad_request",
            "count is 33, expected 1 to 32",
        ),
        (
            "/api/samples?count=many",
            400,
            "bad_request",
            "count must be a whole number from 1 to 32",
        ),
        ("/nowhere", 404, "not_found", "no such path: /nowhere"),
        (
            "/api/predict",
            405,
            "method_not_allowed",
            "GET is not allowed on /api/predict",
        ),
    ] {
        let (status, answer) = server.get_json(path);
        assert_eq!(status, expected_status, "{path}: {answer}");
        assert_eq!(code(&answer), expected_code, "{path}: {answer}");
        assert!(
            answer["error"]
                .as_str()
                .unwrap()
                .starts_with(expected_error),
            "{path}: {answer}"
        );
    }
    let (status, _) = server.post(
        "/api/predict",
        "application/json",
        pixels_body(&bar_digit()).as_bytes(),
    );
    assert_eq!(status, 200, "still serving");
    // A client's mistakes are answered, not logged.
    let (_, stderr) = server.terminate();
    assert!(
        !stderr.lines().any(|line| line.starts_with("error:")),
        "{stderr}"
    );
}

#[test]
fn a_body_that_never_arrives_times_out_with_408() {
    let run = TestRun::new();
    let server = Server::start(&run, &["--timeout", "1"]);
    let mut stream = TcpStream::connect(server.address()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    write!(
        stream,
        "POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: 1000\r\n\r\n{{\"pixels\": ["
    )
    .unwrap();
    let started = Instant::now();
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    assert!(
        response.contains("{\"error\":\"the request took longer than 1 s\",\"code\":\"timeout\"}"),
        "{response}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn sigterm_stops_the_server_cleanly() {
    let run = TestRun::new();
    let server = Server::start(&run, &[]);
    let (code, stderr) = server.terminate();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.trim_end().ends_with("stopped"), "{stderr}");
}

#[test]
fn a_port_in_use_is_a_one_line_error() {
    let run = TestRun::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_infer"))
        .args([
            "serve",
            "--run",
            run.dir().to_str().unwrap(),
            "--port",
            &port,
        ])
        .args(["--data-dir", run.data_dir().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.starts_with(&format!("error: cannot listen on 127.0.0.1:{port}: ")),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

/// The page's in-browser mode: `page.json` says so once onnxruntime-web's
/// files are found (looked for in the background at start: the cache, else
/// npm), and the server then serves the model as ONNX and those files.
#[test]
fn the_page_can_run_the_model_in_the_browser() {
    let run = TestRun::new();
    let server = Server::start(&run, &[]);
    for path in ["/preprocess.js", "/runtime.js"] {
        let (status, content_type, text) = server.get_text(path);
        assert_eq!(status, 200, "{path}");
        assert!(
            content_type.starts_with("text/javascript"),
            "{content_type}"
        );
        assert!(text.contains("export "), "{path} is a module");
    }
    let page = server.page_with_browser_mode();
    assert_eq!(
        (&page["server"], &page["browser"]),
        (&true.into(), &true.into()),
        "{page}"
    );
    assert_eq!(page["model"]["architecture"], "784-64-64-10 relu");
    assert_eq!(page["model"]["test_accuracy"], 0.625);
    assert!(
        page.get("samples").is_none(),
        "the server gives samples itself"
    );

    let agent = ureq::Agent::new_with_defaults();
    let mut response = agent.get(server.url("/model.onnx")).call().unwrap();
    let onnx = response.body_mut().read_to_vec().unwrap();
    let proto = tract_onnx::onnx()
        .proto_model_for_read(&mut onnx.as_slice())
        .unwrap();
    let graph = proto.graph.unwrap();
    assert_eq!(
        (graph.input[0].name.as_str(), graph.output[0].name.as_str()),
        ("x", "probabilities")
    );

    let (status, content_type, script) = server.get_text("/ort/ort.wasm.min.mjs");
    assert_eq!(status, 200);
    assert!(
        content_type.starts_with("text/javascript"),
        "{content_type}"
    );
    assert!(script.contains("ONNX Runtime Web"));
    let response = agent
        .get(server.url("/ort/ort-wasm-simd-threaded.wasm"))
        .call()
        .unwrap();
    assert_eq!(response.headers()["content-type"], "application/wasm");
    let length: u64 = response.headers()["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(length > 1_000_000, "{length}");
    // Only the package's own files: no path out of the cache.
    for path in ["/ort/evil.js", "/ort/..%2Fmnist%2Ft10k-images-idx3-ubyte"] {
        let (status, error) = server.get_json(path);
        assert_eq!(status, 404, "{path}: {error}");
        assert_eq!(code(&error), "not_found", "{path}: {error}");
    }
}

/// An upload between axum's default limit (2 MiB) and the server's (8 MiB)
/// is read whole as multipart too, not only as a plain image body.
#[test]
fn a_3_mb_upload_is_accepted_as_multipart_as_it_is_as_an_image_body() {
    let run = TestRun::new();
    let server = Server::start(&run, &[]);
    // Noise does not compress: 1800 x 1800 gray levels make a 3.2 MB PNG.
    let mut state = 12345u32;
    let noise = image::GrayImage::from_fn(1800, 1800, |_, _| {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
        image::Luma([(state >> 24) as u8])
    });
    let png = common::png(&noise);
    assert!(png.len() > 3_000_000, "{} bytes", png.len());
    let (status, plain) = server.post("/api/predict", "image/png", &png);
    assert_eq!(status, 200, "{plain}");
    let boundary = "XyZ123";
    let mut form = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"noise.png\"\r\n\
         Content-Type: image/png\r\n\r\n"
    )
    .into_bytes();
    form.extend_from_slice(&png);
    form.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let (status, uploaded) = server.post(
        "/api/predict",
        &format!("multipart/form-data; boundary={boundary}"),
        &form,
    );
    assert_eq!(status, 200, "{uploaded}");
    assert_eq!(uploaded["probabilities"], plain["probabilities"]);
}
