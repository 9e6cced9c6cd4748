//! Running a program and judging what it printed.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

/// Runs `program` with `args` in `cwd`, stdin closed, stdout and stderr captured.
pub fn run(program: &Path, args: &[&str], cwd: &Path) -> Output {
    Command::new(program)
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|error| panic!("{}: {error}", program.display()))
}

/// Starts `program` with `args` in `cwd` without waiting for it: stdin
/// closed, stdout and stderr piped.
pub fn start(program: &Path, args: &[&str], cwd: &Path) -> Child {
    Command::new(program)
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("{}: {error}", program.display()))
}

/// Sends the signal `name` (`-TERM`, `-INT`, ...) to `child` with `kill`.
pub fn signal(child: &Child, name: &str) {
    let pid = child.id().to_string();
    let sent = Command::new("kill").args([name, &pid]).status();
    assert!(
        sent.as_ref().is_ok_and(|status| status.success()),
        "kill {name} {pid}: {sent:?}"
    );
}

/// What the program printed on stdout.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// What the program printed on stderr.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts the program exited 0, showing its exit status and both outputs
/// if not; returns its stdout.
pub fn assert_success(output: &Output) -> String {
    assert!(
        output.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        stdout(output),
        stderr(output)
    );
    stdout(output)
}

/// Asserts the program failed with exit status 1 and exactly one line on
/// stderr, `error: ...`, and no panic; returns that line.
pub fn assert_one_line_error(output: &Output) -> String {
    let err = stderr(output);
    assert_eq!(output.status.code(), Some(1), "stderr: {err}");
    assert!(!err.contains("panicked"), "{err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "expected one line, got:\n{err}");
    assert!(lines[0].starts_with("error: "), "{err}");
    // A cause is said once, not again by the error chain.
    assert!(lines[0].matches("(os error").count() <= 1, "{err}");
    lines[0].to_string()
}
