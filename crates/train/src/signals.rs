//! Ctrl-C and SIGTERM while training: the first asks the Learner to stop after
//! the current batch (the last finished epoch's checkpoint is already on
//! disk); a second one exits at once, after giving the terminal back.
//!
//! Burn's dashboard puts the terminal in raw mode, where Ctrl-C is a key press
//! rather than a signal (and the dashboard ignores it). [`keep_ctrl_c_as_signal`]
//! turns the terminal's signal keys back on once the dashboard has started.

use std::io::Write;
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use burn::train::Interrupter;
use console::errln;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// The terminal's settings before the dashboard changed them, with the
/// terminal's file descriptor: restored on a hard exit.
static COOKED_TERMINAL: OnceLock<(libc::c_int, libc::termios)> = OnceLock::new();

/// The first signal received, if any.
#[derive(Clone)]
pub struct SignalWatch {
    received: Arc<AtomicI32>,
}

impl SignalWatch {
    /// Starts watching SIGINT and SIGTERM. The first asks `interrupter` to stop;
    /// a second restores the terminal, prints `hint` on stderr and exits with
    /// status 128 + the signal.
    pub fn start(interrupter: Interrupter, hint: String) -> anyhow::Result<Self> {
        let mut signals =
            Signals::new([SIGINT, SIGTERM]).context("cannot watch for Ctrl-C and SIGTERM")?;
        let received = Arc::new(AtomicI32::new(0));
        let count = AtomicUsize::new(0);
        let first = Arc::clone(&received);
        std::thread::Builder::new()
            .name("signals".into())
            .spawn(move || {
                for signal in signals.forever() {
                    if count.fetch_add(1, Ordering::SeqCst) == 0 {
                        first.store(signal, Ordering::SeqCst);
                        interrupter.stop(Some(&format!("interrupted by {}", name(signal))));
                    } else {
                        restore_terminal();
                        errln!(
                            "\na second stop signal, {}: stopped at once. {hint}",
                            name(signal)
                        );
                        std::process::exit(128 + signal);
                    }
                }
            })
            .context("cannot start the signal thread")?;
        Ok(Self { received })
    }

    /// The first signal received, as its number.
    pub fn received(&self) -> Option<i32> {
        match self.received.load(Ordering::SeqCst) {
            0 => None,
            signal => Some(signal),
        }
    }
}

/// `SIGINT` or `SIGTERM`.
pub fn name(signal: i32) -> &'static str {
    match signal {
        SIGINT => "SIGINT (Ctrl-C)",
        SIGTERM => "SIGTERM",
        _ => "a signal",
    }
}

/// Call just before Burn's dashboard starts: remembers the terminal's settings
/// and, once the dashboard has switched to raw mode (within 5 s), turns the
/// signal keys back on so that Ctrl-C raises SIGINT. Does nothing without a
/// terminal.
pub fn keep_ctrl_c_as_signal() {
    // SAFETY: plain libc calls on a descriptor this function opens and owns
    // for the life of the process; `termios` is plain data.
    unsafe {
        let fd = libc::open(c"/dev/tty".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC);
        if fd < 0 {
            return;
        }
        let mut cooked: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(fd, &mut cooked) != 0 {
            libc::close(fd);
            return;
        }
        let _ = COOKED_TERMINAL.set((fd, cooked));
        std::thread::spawn(move || {
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(5) {
                let mut now: libc::termios = std::mem::zeroed();
                if libc::tcgetattr(fd, &mut now) != 0 {
                    return;
                }
                if now.c_lflag & libc::ICANON == 0 {
                    now.c_lflag |= libc::ISIG;
                    libc::tcsetattr(fd, libc::TCSANOW, &now);
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        });
    }
}

/// Gives the terminal back as it was before the dashboard: its settings,
/// mouse reporting off, the main screen, the cursor shown.
fn restore_terminal() {
    if let Some((fd, cooked)) = COOKED_TERMINAL.get() {
        // SAFETY: restores settings read from the same descriptor.
        unsafe {
            libc::tcsetattr(*fd, libc::TCSANOW, cooked);
        }
        let _ = write!(
            console::stderr(),
            "\x1b[?1006l\x1b[?1015l\x1b[?1003l\x1b[?1002l\x1b[?1000l\x1b[?1049l\x1b[?25h"
        );
    }
}
