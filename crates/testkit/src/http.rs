//! HTTP/1.1 by hand, over a plain TCP connection: for the requests a client
//! library would not send (bad heads, half bodies) and for the answer as it
//! came over the wire.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// An answer as it came, read until the server closed the connection.
pub struct RawResponse {
    /// The status code of the status line.
    pub status: u16,
    /// The whole answer: status line, headers and body.
    pub text: String,
}

impl RawResponse {
    /// The status line (`HTTP/1.1 200 OK`).
    pub fn status_line(&self) -> &str {
        self.text.lines().next().unwrap_or_default()
    }

    /// What follows the headers.
    pub fn body(&self) -> &str {
        self.text
            .split_once("\r\n\r\n")
            .map_or("", |(_, body)| body)
    }
}

/// Sends `head` (the request line and headers, without the blank line) with
/// `Connection: close`, then `body`, on a new connection to `address`, and
/// reads the answer until the server closes, each read waiting at most
/// `timeout`. An error when the connection fails or the answer is not HTTP.
pub fn raw_request(
    address: impl ToSocketAddrs,
    head: &str,
    body: &[u8],
    timeout: Duration,
) -> std::io::Result<RawResponse> {
    let mut stream = TcpStream::connect(address)?;
    stream.set_read_timeout(Some(timeout))?;
    write!(stream, "{head}\r\nConnection: close\r\n\r\n")?;
    stream.write_all(body)?;
    let mut text = String::new();
    stream.read_to_string(&mut text)?;
    let status = text
        .strip_prefix("HTTP/1.")
        .and_then(|rest| rest.get(2..5))
        .and_then(|code| code.parse().ok());
    match status {
        Some(status) => Ok(RawResponse { status, text }),
        None => Err(std::io::Error::other(format!(
            "not an HTTP answer: {text:?}"
        ))),
    }
}
