//! A test that needs a process to itself, inside a test binary shared with
//! other tests.

use std::process::{Command, Stdio};

/// Set in the process [`in_own_process`] starts: the name of the test it runs.
const OWN_PROCESS: &str = "TESTKIT_OWN_PROCESS";

/// For a test that changes or relies on state of the whole process (the
/// global thread pool, the floating-point mode of its threads): whether this
/// is the process to run it in.
///
/// `test` is the test's path in its binary (`module::function`). In the test
/// binary as Cargo runs it, the test binary is run again with that test
/// alone (`--exact`); this returns `false` once that run has passed (the
/// caller then returns), and fails the test with its output if it did not.
/// In that second run it returns `true`: the caller goes on with the test,
/// with no other test in the process.
pub fn in_own_process(test: &str) -> bool {
    if std::env::var_os(OWN_PROCESS).is_some_and(|name| name == test) {
        return true;
    }
    let exe = std::env::current_exe().expect("the path of this test executable");
    let output = Command::new(&exe)
        .args([test, "--exact", "--test-threads=1", "--nocapture"])
        .env(OWN_PROCESS, test)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|error| panic!("{}: {error}", exe.display()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{test} in a process of its own: {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
    // A test renamed without its `in_own_process` call would match nothing
    // and pass unseen.
    assert!(
        stdout.contains("test result: ok. 1 passed"),
        "{test} did not run in a process of its own:\n{stdout}"
    );
    false
}
