//! `infer serve`: the model behind an HTTP server on 127.0.0.1, with a page to
//! draw a digit on (everything it needs is compiled into the binary) and a JSON
//! API:
//!
//! ```text
//! GET  /                 the drawing page (/app.js, /style.css, ...; /page.json)
//! GET  /model.onnx, /ort/*   the model and onnxruntime-web, to run it in the browser
//! POST /api/predict      {"pixels": [784 x 0-255]}, an image body, or multipart
//! GET  /api/samples?count=8   random test digits with the model's answers
//! GET  /api/model        the loaded model and its test accuracy
//! GET  /healthz          {"status": "ok"}
//! ```
//!
//! Slow or idle clients cannot exhaust it: see [`connections`] for the
//! header timeout and the cap on connections, and [`api::router`] for the cap
//! on predictions in flight and the request timeout.

mod api;
mod connections;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use console::{errln, outln};

use crate::loaded::ModelOptions;
use crate::ort_web::OrtWeb;
use api::{AppState, RequestLimits};
use connections::ConnectionLimits;

/// The model to serve, where, and the server's limits.
#[derive(Args, Clone, Debug)]
pub struct ServeOptions {
    #[command(flatten)]
    pub model: ModelOptions,
    /// Address to listen on; 0.0.0.0 opens the server to the network.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub host: IpAddr,
    /// Port to listen on; 0 picks a free one (printed at start).
    #[arg(long, default_value_t = 8000)]
    pub port: u16,
    /// Seconds a request may take, reading its body included, before it is
    /// answered 408.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: u64,
    /// Seconds a client has to send a request's headers, from the opening of
    /// its connection or the previous answer on it; a connection idle that
    /// long is closed.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    pub header_timeout: u64,
    /// Connections served at once; the next one is answered 503 and closed.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_connections: u64,
    /// Predictions (POST /api/predict, GET /api/samples) handled at once,
    /// reading their bodies included; the next one is answered 503 at once.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..=65_536))]
    pub max_in_flight: u64,
}

/// Loads the model (and the test set for the sample digits, when it can be
/// found), then serves until Ctrl-C or SIGTERM.
pub fn serve(args: &ServeOptions) -> anyhow::Result<()> {
    let loaded = args.model.load()?;
    // The page's sample digits need the test set; the rest of the server does not.
    let test = match args.model.test_split() {
        Ok(test) => Some(Arc::new(test)),
        Err(error) => {
            errln!("warning: no test set, so /api/samples answers 503: {error:#}");
            None
        }
    };
    let state = Arc::new(AppState::new(loaded, args.model.backend, test)?);
    // The page can also run the model in the browser once onnxruntime-web's
    // files are found: the cache, else npm (seconds online, as long as npm
    // retries offline), so not in the way of the start.
    let finder = Arc::clone(&state);
    std::thread::spawn(move || match OrtWeb::default().locate() {
        Ok(dir) => finder.offer_browser_mode(dir),
        Err(error) => errln!("warning: the page runs the model on the server only: {error}"),
    });
    let connection_limits = ConnectionLimits {
        header_timeout: Duration::from_secs(args.header_timeout),
        max_connections: connections::connections_that_fit(args.max_connections as usize),
    };
    let request_limits = RequestLimits {
        timeout: Duration::from_secs(args.timeout),
        max_in_flight: args.max_in_flight as usize,
    };

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the server's threads")?;
    runtime.block_on(async {
        let address = SocketAddr::new(args.host, args.port);
        let listener =
            connections::listen(address).with_context(|| format!("cannot listen on {address}"))?;
        let bound = listener.local_addr()?;
        let stop = stop_signal().context("cannot watch for Ctrl-C and SIGTERM")?;
        outln!(
            "serving {} at http://{bound}/ (Ctrl-C stops)",
            state.describe()
        );
        let app = api::router(state, request_limits);
        connections::serve(listener, app, connection_limits, stop).await;
        anyhow::Ok(())
    })?;
    errln!("stopped");
    Ok(())
}

/// A future that resolves on Ctrl-C or SIGTERM. The handlers are installed
/// here, before the start-up line is printed, so a signal sent right after it
/// is not lost to the default action.
#[cfg(unix)]
fn stop_signal() -> std::io::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    })
}

#[cfg(not(unix))]
fn stop_signal() -> std::io::Result<impl Future<Output = ()>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}
