//! Printing that a closed pipe cannot turn into a panic.
//!
//! Rust programs ignore SIGPIPE, so once the reader of stdout or stderr has
//! gone (`train | head`), every write fails with `BrokenPipe` and `println!`
//! panics. The binaries print through [`outln!`](crate::outln) and
//! [`errln!`](crate::errln) instead, and write longer output through
//! [`Console`]: with nobody reading, the output is dropped and the program runs
//! on to the exit status it would have had.

use std::io::{self, Write};

/// A writer that treats a reader that has gone as a sink: writes after
/// `BrokenPipe` succeed and go nowhere. Other errors (a full disk under
/// `> file`) are returned.
pub struct Console<W> {
    inner: W,
    closed: bool,
}

impl<W: Write> Console<W> {
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            closed: false,
        }
    }

    fn guard(&mut self, result: io::Result<()>) -> io::Result<()> {
        match result {
            Err(error) if error.kind() == io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(())
            }
            other => other,
        }
    }
}

impl<W: Write> Write for Console<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.closed {
            return Ok(buf.len());
        }
        let result = self.inner.write_all(buf);
        self.guard(result).map(|()| buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.closed {
            return Ok(());
        }
        let result = self.inner.flush();
        self.guard(result)
    }
}

/// Stdout, locked, for a run of lines; see [`Console`].
pub fn stdout() -> Console<io::StdoutLock<'static>> {
    Console::new(io::stdout().lock())
}

/// Stderr, locked; see [`Console`].
pub fn stderr() -> Console<io::StderrLock<'static>> {
    Console::new(io::stderr().lock())
}

/// `println!` that never panics: a line for stdout, dropped when it cannot be
/// written.
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {{
        use ::std::io::Write as _;
        let _ = writeln!($crate::stdout(), $($arg)*);
    }};
}

/// `eprintln!` that never panics: a line for stderr, dropped when it cannot be
/// written.
#[macro_export]
macro_rules! errln {
    ($($arg:tt)*) => {{
        use ::std::io::Write as _;
        let _ = writeln!($crate::stderr(), $($arg)*);
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Accepts `room` bytes, then fails every write with `error`.
    struct Pipe {
        written: Vec<u8>,
        room: usize,
        error: io::ErrorKind,
    }

    impl Write for Pipe {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.written.len() >= self.room {
                return Err(self.error.into());
            }
            let n = buf.len().min(self.room - self.written.len());
            self.written.extend_from_slice(&buf[..n]);
            Ok(n)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_closed_pipe_swallows_the_rest() {
        let pipe = Pipe {
            written: Vec::new(),
            room: 7,
            error: io::ErrorKind::BrokenPipe,
        };
        let mut console = Console::new(pipe);
        writeln!(console, "first").unwrap();
        writeln!(console, "second").unwrap();
        writeln!(console, "third").unwrap();
        console.flush().unwrap();
        assert_eq!(console.inner.written, b"first\ns");
    }

    #[test]
    fn other_errors_are_returned() {
        let pipe = Pipe {
            written: Vec::new(),
            room: 0,
            error: io::ErrorKind::StorageFull,
        };
        let error = writeln!(Console::new(pipe), "line").unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::StorageFull);
    }
}
