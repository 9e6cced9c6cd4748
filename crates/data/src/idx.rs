//! The IDX file format of MNIST: reader (raw or gzip-compressed) and writer.
//!
//! An IDX file is a big-endian header followed by the data: the magic number
//! `00 00 08 NN` (0x08: unsigned bytes, `NN`: the number of dimensions), `NN`
//! dimension sizes as `u32`, then the product of the sizes in bytes. MNIST uses
//! 3 dimensions for images (count, rows, cols) and 1 for labels (count).
//!
//! The reader trusts nothing: the magic number, the dimension count and the
//! exact byte count are checked, size arithmetic cannot overflow, decompression
//! stops at what the header describes (and at 256 MiB in all), and no
//! input makes it panic.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use flate2::read::MultiGzDecoder;

use crate::error::DataError;

/// Magic number of an IDX file of unsigned bytes in 3 dimensions (images).
const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX file of unsigned bytes in 1 dimension (labels).
const LABELS_MAGIC: u32 = 0x0000_0801;
/// The first two bytes of every gzip stream.
pub(crate) const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
/// Largest IDX file (header plus data, decompressed) the reader accepts, in bytes.
/// 256 MiB holds any 28x28 ten-class set in common use (EMNIST Digits' 240,000
/// training images are 179 MiB) while a gzip bomb or a lying header cannot
/// exhaust memory.
pub(crate) const MAX_IDX_BYTES: u64 = 256 << 20;
/// Deflate never expands more than about 1032:1, so a gzip file of `n` bytes
/// decompresses to at most `n * 1032` bytes: a bound for pre-allocation.
const MAX_DEFLATE_RATIO: u64 = 1032;

/// An IDX images file: `count` images of `rows` x `cols` `u8` pixels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxImages {
    /// Number of images.
    pub count: usize,
    /// Pixel rows per image.
    pub rows: usize,
    /// Pixel columns per image.
    pub cols: usize,
    /// `count * rows * cols` pixels, image after image, each row-major.
    pub pixels: Vec<u8>,
}

/// Words for the two kinds of IDX file MNIST uses, in error messages.
const IMAGES: &str = "images";
const LABELS: &str = "labels";

/// A validated header of an `N`-dimensional file.
struct Header<const N: usize> {
    /// The dimension sizes, outermost first.
    dims: [u32; N],
    /// Bytes of data after the header (the product of `dims`), at most [`MAX_IDX_BYTES`].
    data_len: u64,
}

/// An open IDX byte stream, decompressed if the file was gzipped.
struct Source<'a> {
    reader: Box<dyn Read + 'a>,
    gzipped: bool,
    /// Upper bound on the bytes `reader` can produce, to size allocations by.
    available: u64,
}

/// Reads an IDX images file, raw or gzip-compressed (detected by its first bytes,
/// whatever the file name).
pub fn read_images(path: &Path) -> Result<IdxImages, DataError> {
    let mut source = open(path)?;
    read_images_from(&mut source, path)
}

/// Reads an IDX labels file, raw or gzip-compressed: one `u8` per example.
pub fn read_labels(path: &Path) -> Result<Vec<u8>, DataError> {
    let mut source = open(path)?;
    read_labels_from(&mut source, path)
}

/// Parses the bytes of an IDX images file, raw or gzip-compressed; `path` only
/// names the file in error messages.
pub fn parse_images(bytes: &[u8], path: &Path) -> Result<IdxImages, DataError> {
    read_images_from(&mut slice_source(bytes), path)
}

/// Parses the bytes of an IDX labels file, raw or gzip-compressed; `path` only
/// names the file in error messages.
pub fn parse_labels(bytes: &[u8], path: &Path) -> Result<Vec<u8>, DataError> {
    read_labels_from(&mut slice_source(bytes), path)
}

/// Reads only the header of an IDX images file: `(count, rows, cols)`. Cheap even
/// for gzipped files, which are decompressed only as far as the header.
pub(crate) fn read_images_shape(path: &Path) -> Result<(usize, usize, usize), DataError> {
    let [count, rows, cols] = read_header::<3>(&mut open(path)?, path, IMAGES)?.dims;
    Ok((count as usize, rows as usize, cols as usize))
}

/// Reads only the header of an IDX labels file: the number of labels.
pub(crate) fn read_labels_count(path: &Path) -> Result<usize, DataError> {
    let [count] = read_header::<1>(&mut open(path)?, path, LABELS)?.dims;
    Ok(count as usize)
}

/// Encodes images as IDX bytes (uncompressed). Dimensions above `u32::MAX` are
/// written as `u32::MAX` and `pixels` as given, so inconsistent input yields a
/// file the reader rejects: useful for test fixtures.
pub fn encode_images(images: &IdxImages) -> Vec<u8> {
    encode(
        IMAGES_MAGIC,
        &[images.count, images.rows, images.cols],
        &images.pixels,
    )
}

/// Encodes labels as IDX bytes (uncompressed).
pub fn encode_labels(labels: &[u8]) -> Vec<u8> {
    encode(LABELS_MAGIC, &[labels.len()], labels)
}

fn encode(magic: u32, dims: &[usize], data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + 4 * dims.len() + data.len());
    out.extend_from_slice(&magic.to_be_bytes());
    for &dim in dims {
        let dim = u32::try_from(dim).unwrap_or(u32::MAX);
        out.extend_from_slice(&dim.to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

/// Opens `path` and, when it starts with the gzip magic bytes, decompresses it.
fn open(path: &Path) -> Result<Source<'static>, DataError> {
    let io_error = |action| {
        move |error| DataError::Io {
            path: path.to_path_buf(),
            action,
            error,
        }
    };
    let file = File::open(path).map_err(io_error("open the file"))?;
    let len = file
        .metadata()
        .map_err(io_error("read the file's metadata"))?
        .len();
    let mut reader = BufReader::new(file);
    let gzipped = reader
        .fill_buf()
        .map_err(io_error("read the file"))?
        .starts_with(&GZIP_MAGIC);
    Ok(if gzipped {
        Source {
            reader: Box::new(MultiGzDecoder::new(reader)),
            gzipped,
            available: len.saturating_mul(MAX_DEFLATE_RATIO),
        }
    } else {
        Source {
            reader: Box::new(reader),
            gzipped,
            available: len,
        }
    })
}

/// [`open`] for bytes in memory.
fn slice_source(bytes: &[u8]) -> Source<'_> {
    let len = bytes.len() as u64;
    if bytes.starts_with(&GZIP_MAGIC) {
        Source {
            reader: Box::new(MultiGzDecoder::new(bytes)),
            gzipped: true,
            available: len.saturating_mul(MAX_DEFLATE_RATIO),
        }
    } else {
        Source {
            reader: Box::new(bytes),
            gzipped: false,
            available: len,
        }
    }
}

fn read_images_from(source: &mut Source, path: &Path) -> Result<IdxImages, DataError> {
    let Header { dims, data_len } = read_header::<3>(source, path, IMAGES)?;
    let pixels = read_data(source, path, IMAGES, data_len)?;
    let [count, rows, cols] = dims.map(|dim| dim as usize);
    Ok(IdxImages {
        count,
        rows,
        cols,
        pixels,
    })
}

fn read_labels_from(source: &mut Source, path: &Path) -> Result<Vec<u8>, DataError> {
    let header = read_header::<1>(source, path, LABELS)?;
    read_data(source, path, LABELS, header.data_len)
}

/// Reads and validates the magic number (`00 00 08 N`: unsigned bytes, `N`
/// dimensions) and the `N` dimension sizes of a file of `kind` ("images"/"labels").
fn read_header<const N: usize>(
    source: &mut Source,
    path: &Path,
    kind: &'static str,
) -> Result<Header<N>, DataError> {
    let expected_magic = 0x0000_0800 | N as u32;
    let header_len = 4 + 4 * N;
    let truncated = |actual: usize| DataError::Truncated {
        path: path.to_path_buf(),
        kind,
        part: "header",
        expected: header_len as u64,
        actual: actual as u64,
    };

    let mut magic = [0u8; 4];
    let got = fill(source, &mut magic, path)?;
    if got < magic.len() {
        return Err(truncated(got));
    }
    let found = u32::from_be_bytes(magic);
    if found != expected_magic {
        return Err(DataError::BadMagic {
            path: path.to_path_buf(),
            kind,
            found,
            expected: expected_magic,
        });
    }

    let mut dims = [0u32; N];
    for (i, dim) in dims.iter_mut().enumerate() {
        let mut bytes = [0u8; 4];
        let got = fill(source, &mut bytes, path)?;
        if got < bytes.len() {
            return Err(truncated(4 + 4 * i + got));
        }
        *dim = u32::from_be_bytes(bytes);
    }

    // Three u32 factors can exceed u64; checked arithmetic turns that into an error.
    let too_large = |size: String| DataError::TooLarge {
        path: path.to_path_buf(),
        kind,
        size,
        limit: MAX_IDX_BYTES,
    };
    let data_len = dims
        .iter()
        .try_fold(1u64, |acc, &dim| acc.checked_mul(u64::from(dim)))
        .ok_or_else(|| too_large("more than 2^64".to_string()))?;
    let total = data_len.saturating_add(header_len as u64);
    if total > MAX_IDX_BYTES {
        return Err(too_large(total.to_string()));
    }
    Ok(Header { dims, data_len })
}

/// Reads exactly `data_len` bytes of data and checks that nothing follows them.
fn read_data(
    source: &mut Source,
    path: &Path,
    kind: &'static str,
    data_len: u64,
) -> Result<Vec<u8>, DataError> {
    // Reserve what the header promises, but never more than the input can hold,
    // so a lying header costs no memory. Both bounds are below MAX_IDX_BYTES.
    let reserve = data_len.min(source.available);
    let mut data = Vec::with_capacity(usize::try_from(reserve).unwrap_or(0));
    // One byte more than promised reveals trailing data without reading all of it.
    let limit = data_len.saturating_add(1);
    let gzipped = source.gzipped;
    (&mut source.reader)
        .take(limit)
        .read_to_end(&mut data)
        .map_err(|error| read_error(path, gzipped, error))?;
    let actual = data.len() as u64;
    if actual < data_len {
        return Err(DataError::Truncated {
            path: path.to_path_buf(),
            kind,
            part: "data",
            expected: data_len,
            actual,
        });
    }
    if actual > data_len {
        return Err(DataError::TrailingData {
            path: path.to_path_buf(),
            kind,
            expected: data_len,
        });
    }
    Ok(data)
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
fn fill(source: &mut Source, buf: &mut [u8], path: &Path) -> Result<usize, DataError> {
    let mut filled = 0;
    while filled < buf.len() {
        match source.reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(read_error(path, source.gzipped, error)),
        }
    }
    Ok(filled)
}

/// A read failure: in a gzipped file it almost always means corrupt compressed data.
fn read_error(path: &Path, gzipped: bool, error: io::Error) -> DataError {
    if gzipped {
        DataError::Gzip {
            path: path.to_path_buf(),
            reason: error.to_string(),
        }
    } else {
        DataError::Io {
            path: path.to_path_buf(),
            action: "read the file",
            error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mnist::fixtures::{gzip, images, labels};

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    fn images_error(bytes: &[u8]) -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "some-images", bytes);
        let text = read_images(&path).unwrap_err().to_string();
        assert!(text.contains(&path.display().to_string()), "{text}");
        // Parsing the same bytes from memory gives the same error.
        if !bytes.starts_with(&GZIP_MAGIC) {
            assert_eq!(parse_images(bytes, &path).unwrap_err().to_string(), text);
        }
        assert!(!text.contains('\n'), "{text}");
        text
    }

    #[test]
    fn round_trip_raw() {
        let dir = tempfile::tempdir().unwrap();
        let original = images(5, 28, 28);
        let path = write(dir.path(), "imgs", &encode_images(&original));
        assert_eq!(read_images(&path).unwrap(), original);
        assert_eq!(read_images_shape(&path).unwrap(), (5, 28, 28));
        assert_eq!(
            parse_images(&encode_images(&original), &path).unwrap(),
            original
        );

        let odd = images(3, 4, 7);
        assert_eq!(parse_images(&encode_images(&odd), &path).unwrap(), odd);

        let original_labels = labels(13);
        let path = write(dir.path(), "lbls", &encode_labels(&original_labels));
        assert_eq!(read_labels(&path).unwrap(), original_labels);
        assert_eq!(read_labels_count(&path).unwrap(), 13);
        assert_eq!(
            parse_labels(&encode_labels(&original_labels), &path).unwrap(),
            original_labels
        );

        let empty = images(0, 28, 28);
        assert_eq!(parse_images(&encode_images(&empty), &path).unwrap(), empty);
        assert!(parse_labels(&encode_labels(&[]), &path).unwrap().is_empty());
    }

    #[test]
    fn bytes_in_memory_may_be_gzipped_too() {
        let path = Path::new("mem");
        let original = images(3, 28, 28);
        let zipped = gzip(&encode_images(&original));
        assert_eq!(parse_images(&zipped, path).unwrap(), original);
        assert_eq!(
            parse_labels(&gzip(&encode_labels(&labels(3))), path).unwrap(),
            labels(3)
        );
        let error = parse_images(&zipped[..zipped.len() / 2], path)
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("mem: "), "{error}");
    }

    #[test]
    fn round_trip_gzip_detected_by_content_not_name() {
        let dir = tempfile::tempdir().unwrap();
        let original = images(5, 28, 28);
        let original_labels = labels(5);
        for suffix in [".gz", ""] {
            let path = write(
                dir.path(),
                &format!("imgs{suffix}"),
                &gzip(&encode_images(&original)),
            );
            assert_eq!(read_images(&path).unwrap(), original);
            assert_eq!(read_images_shape(&path).unwrap(), (5, 28, 28));
            let path = write(
                dir.path(),
                &format!("lbls{suffix}"),
                &gzip(&encode_labels(&original_labels)),
            );
            assert_eq!(read_labels(&path).unwrap(), original_labels);
            assert_eq!(read_labels_count(&path).unwrap(), 5);
        }
        // Concatenated gzip members form one stream, as gunzip reads them.
        let bytes = encode_images(&original);
        let (head, tail) = bytes.split_at(100);
        let path = write(
            dir.path(),
            "two-members",
            &[gzip(head), gzip(tail)].concat(),
        );
        assert_eq!(read_images(&path).unwrap(), original);
    }

    #[test]
    fn bad_magic() {
        let text = images_error(&encode_labels(&labels(3)));
        assert!(
            text.contains(
                "not an IDX images file: magic number is 0x00000801, expected 0x00000803"
            ),
            "{text}"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "lbls", &encode_images(&images(1, 2, 2)));
        let text = read_labels(&path).unwrap_err().to_string();
        assert!(text.contains(&path.display().to_string()), "{text}");
        assert!(
            text.contains(
                "not an IDX labels file: magic number is 0x00000803, expected 0x00000801"
            ),
            "{text}"
        );
        // A different element type (0x0d: f32) with the right dimension count.
        let text = images_error(&[0, 0, 0x0d, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert!(text.contains("magic number is 0x00000d03"), "{text}");
    }

    #[test]
    fn truncated_header() {
        let bytes = encode_images(&images(2, 28, 28));
        let text = images_error(&bytes[..10]);
        assert!(
            text.contains(
                "truncated IDX images file: the header needs 16 bytes but only 10 are present"
            ),
            "{text}"
        );
        let text = images_error(&[]);
        assert!(text.contains("header needs 16 bytes but only 0"), "{text}");
        let text = images_error(&bytes[..2]);
        assert!(text.contains("header needs 16 bytes but only 2"), "{text}");
    }

    #[test]
    fn truncated_data() {
        let bytes = encode_images(&images(2, 28, 28));
        let text = images_error(&bytes[..bytes.len() - 1]);
        assert!(
            text.contains(
                "truncated IDX images file: the data needs 1568 bytes but only 1567 are present"
            ),
            "{text}"
        );
        // The same inside a valid gzip stream.
        let text = images_error(&gzip(&bytes[..100]));
        assert!(
            text.contains("the data needs 1568 bytes but only 84"),
            "{text}"
        );
    }

    #[test]
    fn trailing_data() {
        let mut bytes = encode_images(&images(2, 28, 28));
        bytes.push(0);
        let text = images_error(&bytes);
        assert!(
            text.contains("trailing data in IDX images file: the header describes 1568 data bytes"),
            "{text}"
        );
        let text = images_error(&gzip(&bytes));
        assert!(text.contains("trailing data"), "{text}");

        let mut label_bytes = encode_labels(&labels(4));
        label_bytes.extend_from_slice(b"junk");
        let text = parse_labels(&label_bytes, Path::new("/x/lbls"))
            .unwrap_err()
            .to_string();
        assert!(
            text.starts_with("/x/lbls: trailing data in IDX labels file"),
            "{text}"
        );
    }

    #[test]
    fn gzip_garbage_and_truncated_gzip() {
        let text = images_error(b"\x1f\x8b\x08\x00garbage that is not deflate data at all");
        assert!(text.contains("corrupt or truncated gzip data"), "{text}");
        let compressed = gzip(&encode_images(&images(50, 28, 28)));
        let text = images_error(&compressed[..compressed.len() / 2]);
        assert!(text.contains("corrupt or truncated gzip data"), "{text}");
        let text = images_error(&[0x1f, 0x8b]);
        assert!(text.contains("gzip"), "{text}");
        // A valid member followed by garbage.
        let text = images_error(&[compressed, b"garbage".to_vec()].concat());
        assert!(text.contains("corrupt or truncated gzip data"), "{text}");
    }

    #[test]
    fn sizes_beyond_the_limit_are_refused_before_reading() {
        let header = |count: u32, rows: u32, cols: u32| {
            [IMAGES_MAGIC, count, rows, cols]
                .iter()
                .flat_map(|v| v.to_be_bytes())
                .collect::<Vec<u8>>()
        };
        let text = images_error(&header(u32::MAX, u32::MAX, u32::MAX));
        assert!(text.contains("too large: more than 2^64 bytes"), "{text}");
        let text = images_error(&header(400_000, 28, 28));
        assert!(
            text.contains("too large: 313600016 bytes, the limit is 268435456 bytes"),
            "{text}"
        );
        // Zero images of absurd size are simply empty.
        let empty = parse_images(&header(0, u32::MAX, u32::MAX), Path::new("e")).unwrap();
        assert_eq!((empty.count, empty.pixels.len()), (0, 0));
    }

    #[test]
    fn a_gzip_bomb_is_cut_off_at_what_the_header_describes() {
        // 2 images of 28x28 followed by 64 MiB of zeros compressing to ~64 KiB.
        let mut bytes = encode_images(&images(2, 28, 28));
        bytes.resize(bytes.len() + (64 << 20), 0);
        let text = images_error(&gzip(&bytes));
        assert!(text.contains("trailing data"), "{text}");
    }

    #[test]
    fn a_missing_file_is_an_io_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("absent");
        let text = read_labels(&path).unwrap_err().to_string();
        assert!(text.contains(&path.display().to_string()), "{text}");
        assert!(text.contains("could not open the file"), "{text}");
    }

    #[test]
    fn no_input_panics() {
        // Every prefix, and many pseudo-random corruptions, of small valid files.
        let image_bytes = encode_images(&images(3, 5, 4));
        let label_bytes = encode_labels(&labels(7));
        let path = Path::new("fuzz");
        for bytes in [&image_bytes, &label_bytes] {
            for end in 0..=bytes.len() {
                let _ = parse_images(&bytes[..end], path);
                let _ = parse_labels(&bytes[..end], path);
            }
        }
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let mut bytes = if next() % 2 == 0 {
                image_bytes.clone()
            } else {
                label_bytes.clone()
            };
            for _ in 0..(next() % 4 + 1) {
                let at = (next() % bytes.len() as u64) as usize;
                bytes[at] = next() as u8;
            }
            let _ = parse_images(&bytes, path);
            let _ = parse_labels(&bytes, path);
        }
    }
}
