//! The server's connections, on hyper's HTTP/1 connection builder.
//! `axum::serve` accepts every connection and gives hyper no timer, so a
//! client that sent half a request's headers, or nothing, held its connection
//! (a file descriptor) for as long as it liked. Here:
//!
//! - a request's headers must arrive within `header_timeout` of the
//!   connection opening or of the previous answer on it (hyper's
//!   `header_read_timeout`, which hyper also starts when a keep-alive
//!   connection falls idle: an idle connection is closed after it too);
//! - at most `max_connections` are served at once. The next one is answered a
//!   503 with the usual JSON error and closed; past [`REFUSING_AT_ONCE`] such
//!   refusals in progress, a connection is closed without an answer, so that
//!   no flood can run the process out of file descriptors;
//! - on Ctrl-C or SIGTERM no connection is accepted any more and those open
//!   finish the requests in flight (hyper-util's `GracefulShutdown`).

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::api_error::ApiError;
use axum::Router;
use axum::response::IntoResponse;
use console::errln;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::Semaphore;

/// Connections being refused (read, answered 503, closed) at once, beyond
/// `max_connections`.
pub const REFUSING_AT_ONCE: usize = 64;

/// Files the process keeps open besides its connections: stdio, the
/// listener, the runtime's event and wake-up descriptors, a model or data
/// file while it loads.
const OTHER_FILES: u64 = 64;

/// How long the accept loop waits after an error that is not one client's
/// (no file descriptor left), so that closing connections can give theirs back.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// Connections the kernel completes and queues while the accept loop is busy.
/// Beyond them a client's SYN is dropped and sent again a second later; the
/// 128 that std and tokio ask for filled up on a busy 2-core machine when a
/// few hundred clients connected at once.
const ACCEPT_QUEUE: u32 = 1024;

/// A listening socket on `address` with room for [`ACCEPT_QUEUE`] pending
/// connections. Call within the runtime.
pub fn listen(address: SocketAddr) -> io::Result<TcpListener> {
    let socket = match address {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    // As tokio's `TcpListener::bind`: a restarted server can take its port
    // back at once (a port another server listens on stays refused).
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(ACCEPT_QUEUE)
}

/// How many connections are served, and how long a request's headers may take.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    /// From a connection's opening, or its previous answer, to the end of the
    /// next request's headers.
    pub header_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
}

/// Serves `app` on the connections `listener` accepts until `stop` resolves,
/// then waits for the requests in flight.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    stop: impl Future<Output = ()>,
) {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let mut refusing = http.clone();
    refusing.keep_alive(false);
    let refusal = format!(
        "the server is at its limit of {} open connections (--max-connections); try again \
         shortly",
        limits.max_connections
    );
    let open = Arc::new(Semaphore::new(limits.max_connections));
    let refusals = Arc::new(Semaphore::new(REFUSING_AT_ONCE));
    let graceful = GracefulShutdown::new();
    let mut stop = std::pin::pin!(stop);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    pause_after(&error).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let io = TokioIo::new(stream);
        if let Ok(permit) = Arc::clone(&open).try_acquire_owned() {
            let service = TowerToHyperService::new(app.clone());
            let connection = graceful.watch(http.serve_connection(io, service));
            tokio::spawn(async move {
                // A client that vanishes or times out ends its connection; nothing to report.
                let _ = connection.await;
                drop(permit);
            });
        } else if let Ok(permit) = Arc::clone(&refusals).try_acquire_owned() {
            let message = refusal.clone();
            let service = service_fn(move |_request| {
                let answer = ApiError::Busy(message.clone());
                async move { Ok::<_, Infallible>(answer.into_response()) }
            });
            let connection = graceful.watch(refusing.serve_connection(io, service));
            tokio::spawn(async move {
                let _ = connection.await;
                drop(permit);
            });
        }
        // Otherwise `io` is dropped here: the connection is closed at once.
    }
    drop(listener);
    graceful.shutdown().await;
}

/// After a failed accept: nothing when one client gave up before it was
/// accepted, a pause when the process is out of file descriptors.
async fn pause_after(error: &io::Error) {
    let one_client = matches!(
        error.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
    );
    if !one_client {
        errln!("warning: cannot accept a connection: {error}");
        tokio::time::sleep(ACCEPT_PAUSE).await;
    }
}

/// `wanted` connections, or fewer if the process may not open that many files
/// besides the others it needs. The soft limit on open files is first raised
/// to the hard limit (many systems start programs at 1,024).
pub fn connections_that_fit(wanted: usize) -> usize {
    let Some(files) = crate::open_files::raise_to_hard_limit() else {
        return wanted;
    };
    let fit = files.saturating_sub(OTHER_FILES + REFUSING_AT_ONCE as u64);
    let fit = usize::try_from(fit).unwrap_or(usize::MAX).max(1);
    if fit < wanted {
        errln!(
            "warning: --max-connections {wanted} lowered to {fit}: this process may open {files} \
             files (ulimit -n), some of which it needs for other things"
        );
    }
    wanted.min(fit)
}
