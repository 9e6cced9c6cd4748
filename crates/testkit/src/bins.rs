//! The binaries of the other packages, built for the tests that run them.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Instant;

/// The binary `name` of any package of the workspace (`infer`, `bench`, ...),
/// up to date. The first call in a test process runs `$CARGO build
/// --workspace --bins` in the profile and target directory this test
/// executable was built in, so that `cargo test -p train` alone works
/// (Cargo builds only the tested package's own binaries) and a binary is
/// never stale; later calls wait for that build or reuse it.
///
/// The whole workspace, not `-p infer`: Cargo then resolves features as
/// for `cargo build --workspace --bins` (scripts/test.sh's first step), so
/// after that step this build is a no-op, and Burn is not built a second
/// time with another set of features. (`cargo test` releases the build
/// directory's lock before it runs the tests, so this does not wait on it.)
/// Under `cargo test -p CRATE` the features differ, and this build links
/// CRATE's own binaries again, in place: the tests take those from here too
/// (not from `CARGO_BIN_EXE_<name>`), so that none starts one meanwhile.
///
/// The test executable is `<target>/<profile>/deps/<test>-<hash>`, the
/// binaries are in `<target>/<profile>`: not for tests built with
/// `--target <triple>` or with a `build.build-dir` of their own.
pub fn workspace_bin(name: &str) -> PathBuf {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let dir = match BUILT.get_or_init(build_workspace_bins) {
        Ok(dir) => dir,
        Err(error) => panic!("{error}"),
    };
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "{} is missing after `cargo build --workspace --bins`",
        path.display()
    );
    path
}

/// Builds every binary of the workspace beside this test executable; returns
/// the directory they are in.
fn build_workspace_bins() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|error| format!("this test executable: {error}"))?;
    let profile_dir = exe
        .parent()
        .filter(|deps| deps.ends_with("deps"))
        .and_then(Path::parent)
        .ok_or_else(|| format!("{} is not in a Cargo `deps` directory", exe.display()))?;
    let (Some(target_dir), Some(profile)) = (
        profile_dir.parent(),
        profile_dir.file_name().and_then(|name| name.to_str()),
    ) else {
        return Err(format!("{} has no profile directory", exe.display()));
    };
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.toml");
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    // Without the variables Cargo set for this test (CARGO_MANIFEST_DIR,
    // CARGO_PKG_NAME, ...): build scripts that watch them (ring's does) would
    // otherwise run again, and everything above them be rebuilt, here and
    // once more by the next `cargo build` or `cargo test`.
    for (key, _) in std::env::vars_os() {
        if key.to_str().is_some_and(set_by_cargo_for_tests) {
            command.env_remove(key);
        }
    }
    command
        .args(["build", "--workspace", "--bins", "--manifest-path"])
        .arg(&manifest)
        .arg("--target-dir")
        .arg(target_dir);
    // The directory of a profile is its name, but the dev profile's is `debug`.
    match profile {
        "debug" => {}
        "release" => {
            command.arg("--release");
        }
        other => {
            command.args(["--profile", other]);
        }
    }
    let started = Instant::now();
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|error| format!("{command:?}: {error}"))?;
    if !output.status.success() {
        return Err(format!(
            "{command:?} failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    eprintln!(
        "built the workspace's binaries in {:.1} s: {command:?}",
        started.elapsed().as_secs_f64()
    );
    Ok(profile_dir.to_path_buf())
}

/// Whether Cargo sets the environment variable `key` for the tests it runs
/// (and for build scripts), as opposed to one that configures Cargo.
fn set_by_cargo_for_tests(key: &str) -> bool {
    matches!(
        key,
        "CARGO"
            | "CARGO_MANIFEST_DIR"
            | "CARGO_MANIFEST_PATH"
            | "CARGO_MANIFEST_LINKS"
            | "CARGO_CRATE_NAME"
            | "CARGO_BIN_NAME"
            | "CARGO_PRIMARY_PACKAGE"
            | "CARGO_TARGET_TMPDIR"
            | "CARGO_RUSTC_CURRENT_DIR"
            | "OUT_DIR"
    ) || key.starts_with("CARGO_PKG_")
        || key.starts_with("CARGO_CFG_")
        || key.starts_with("CARGO_FEATURE_")
        || key.starts_with("CARGO_BIN_EXE_")
}
