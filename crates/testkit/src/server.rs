//! A child process that serves HTTP and says where on its first line.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

/// A server started as a child process (`infer serve`, Python's
/// `http.server`) with the URL its first line of stdout names; killed when
/// dropped.
pub struct ChildServer {
    /// The process; its stdout is closed once the first line is read, its
    /// stderr is as the command set it.
    pub child: Child,
    /// The first `http://` URL of the first line, as printed (e.g.
    /// `http://127.0.0.1:40123/`).
    pub url: String,
}

impl ChildServer {
    /// Spawns `command` with its stdout piped and reads its first line, which
    /// must name the URL the server listens at.
    pub fn spawn(command: &mut Command) -> Self {
        let mut child = command
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|error| panic!("{command:?}: {error}"));
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let Some(url) = first_url(&line) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("no http:// URL in the first line of {command:?}: {line:?}");
        };
        Self { child, url }
    }

    /// The address (host and port) of [`ChildServer::url`].
    pub fn address(&self) -> SocketAddr {
        let authority = self.url["http://".len()..].split('/').next().unwrap();
        authority
            .parse()
            .unwrap_or_else(|_| panic!("no IP address and port in {}", self.url))
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The first `http://` URL in `line`: up to a space or a closing bracket.
fn first_url(line: &str) -> Option<String> {
    let start = line.find("http://")?;
    let url = line[start..]
        .split(|c: char| c.is_whitespace() || matches!(c, ')' | ']' | '>' | '"' | '\''))
        .next()?;
    (url.len() > "http://".len()).then(|| url.to_string())
}
