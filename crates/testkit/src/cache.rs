//! The cache directory, and tests that need what is installed there.

use std::path::PathBuf;

/// The programs' cache directory, found as crates/data finds it (its
/// `fetch::default_cache_dir`, with the `dirs` crate): `$XDG_CACHE_HOME/simple-nn`
/// when XDG_CACHE_HOME is set (to an absolute path), else
/// `$HOME/.cache/simple-nn` (on macOS and Windows, the platform's cache
/// folder). The scripts that install the tests' tools put them there too
/// (scripts/export/install.sh, scripts/e2e/install.sh). `None` without a home.
pub fn cache_dir() -> Option<PathBuf> {
    dirs::cache_dir().map(|dir| dir.join("simple-nn"))
}

/// Says why a test cannot run here (`skipped: WHY` on stderr), so that the
/// caller returns; under `CI=true`, where everything must run, fails instead.
pub fn skip(why: &str) {
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{why}");
    eprintln!("skipped: {why}");
}

/// The Python of the export venv (numpy, safetensors, onnxruntime,
/// tensorboard) scripts/export/install.sh makes in the cache, or `None`
/// after [`skip`]: the caller's test is skipped (a failure under CI=true).
pub fn export_python_or_skip() -> Option<PathBuf> {
    let venv = cache_dir().map(|dir| dir.join("export-venv"));
    let python = venv.as_ref().map(|venv| venv.join("bin/python"));
    match python {
        Some(python) if python.exists() => Some(python),
        _ => {
            let at = venv.map_or("no cache directory".into(), |venv| {
                venv.display().to_string()
            });
            skip(&format!(
                "no export venv ({at}): run scripts/export/install.sh"
            ));
            None
        }
    }
}
