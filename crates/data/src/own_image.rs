//! A photo, scan or drawing of one digit turned into the 28x28 image the
//! network expects, the way MNIST itself was made: grayscale; dark ink on light
//! paper inverted to light ink on dark; cropped to the ink; the longer side
//! scaled to 20 pixels keeping the aspect ratio; pasted into 28x28 with the
//! ink's centre of mass at the centre.

use std::io::{BufRead, Cursor, Seek};
use std::path::{Path, PathBuf};

use image::imageops::{self, FilterType};
use image::{GrayImage, ImageReader, Limits};

use crate::mnist::{IMAGE_PIXELS, IMAGE_SIDE};

/// Largest image accepted, in pixels (width x height): 40 megapixels, well
/// above a phone photo, well below what would exhaust memory.
pub const MAX_IMAGE_PIXELS: u64 = 40_000_000;
/// Side of the box the ink is scaled into, as in MNIST.
const INK_BOX: u32 = 20;
/// Ink below this (of 255) after inversion counts as paper: a page whose
/// darkest mark is this faint is blank.
const MIN_INK: u8 = 40;

/// Why an image file could not be turned into a digit. Each names the file.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("{path}: cannot read: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path}: not an image this program reads (PNG or JPEG): {reason}")]
    Decode { path: PathBuf, reason: String },
    #[error("{path}: {width}x{height} pixels is larger than the {MAX_IMAGE_PIXELS}-pixel limit")]
    TooLarge {
        path: PathBuf,
        width: u32,
        height: u32,
    },
    #[error("{path}: blank: no ink darker or brighter than the paper was found")]
    Blank { path: PathBuf },
}

/// Reads the image at `path` and returns its MNIST-style 28x28 pixels
/// (row-major, 0 = background, 255 = ink).
pub fn read_digit(path: &Path) -> Result<[u8; IMAGE_PIXELS], ImageError> {
    let gray = decode_gray(path, || {
        ImageReader::open(path).map_err(|error| ImageError::Read {
            path: path.to_path_buf(),
            error,
        })
    })?;
    mnist_style(&gray).ok_or_else(|| ImageError::Blank {
        path: path.to_path_buf(),
    })
}

/// [`read_digit`] for an image already in memory (an upload): `bytes` are the
/// file's contents, `name` says in errors where they came from.
pub fn decode_digit(bytes: &[u8], name: &Path) -> Result<[u8; IMAGE_PIXELS], ImageError> {
    let gray = decode_gray(name, || Ok(ImageReader::new(Cursor::new(bytes))))?;
    mnist_style(&gray).ok_or_else(|| ImageError::Blank {
        path: name.to_path_buf(),
    })
}

/// `digit` (28x28, row-major) as the bytes of a grayscale PNG file.
pub fn png_bytes(digit: &[u8; IMAGE_PIXELS]) -> Vec<u8> {
    let side = IMAGE_SIDE as u32;
    let image = GrayImage::from_raw(side, side, digit.to_vec()).expect("784 pixels make 28x28");
    let mut bytes = std::io::Cursor::new(Vec::new());
    image
        .write_to(&mut bytes, image::ImageFormat::Png)
        .expect("a PNG encodes into memory");
    bytes.into_inner()
}

/// Decodes the image `open` gives (twice: once for the header) to 8-bit
/// grayscale, refusing images over [`MAX_IMAGE_PIXELS`] from their header,
/// before decoding them. `path` names the image in errors.
fn decode_gray<R: BufRead + Seek>(
    path: &Path,
    open: impl Fn() -> Result<ImageReader<R>, ImageError>,
) -> Result<GrayImage, ImageError> {
    let decode = |error: image::ImageError| ImageError::Decode {
        path: path.to_path_buf(),
        // Some decoders end their messages with a newline: keep errors one line.
        reason: error
            .to_string()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" "),
    };
    let guess = || {
        open()?
            .with_guessed_format()
            .map_err(|error| ImageError::Read {
                path: path.to_path_buf(),
                error,
            })
    };
    let (width, height) = guess()?.into_dimensions().map_err(decode)?;
    if u64::from(width) * u64::from(height) > MAX_IMAGE_PIXELS {
        return Err(ImageError::TooLarge {
            path: path.to_path_buf(),
            width,
            height,
        });
    }
    let mut reader = guess()?;
    let mut limits = Limits::default();
    limits.max_alloc = Some(MAX_IMAGE_PIXELS * 16);
    reader.limits(limits);
    Ok(reader.decode().map_err(decode)?.to_luma8())
}

/// The 28x28 MNIST-style version of `gray`, or `None` when it holds no ink.
pub fn mnist_style(gray: &GrayImage) -> Option<[u8; IMAGE_PIXELS]> {
    let ink = ink_levels(gray)?;
    let (left, top, right, bottom) = ink_box(&ink)?;
    let cropped =
        imageops::crop_imm(&ink, left, top, right - left + 1, bottom - top + 1).to_image();
    let (width, height) = cropped.dimensions();
    let scale = INK_BOX as f64 / width.max(height) as f64;
    let new_width = ((width as f64 * scale).round() as u32).clamp(1, INK_BOX);
    let new_height = ((height as f64 * scale).round() as u32).clamp(1, INK_BOX);
    let scaled = imageops::resize(&cropped, new_width, new_height, FilterType::Triangle);

    // Where the centre of mass must go: pixel (14, 14), as in MNIST, keeping
    // the whole box inside the 28x28.
    let (com_x, com_y) = centre_of_mass(&scaled)?;
    let side = IMAGE_SIDE as i64;
    let place = |com: f64, size: u32| {
        let offset = ((side / 2) as f64 - com).round() as i64;
        offset.clamp(0, side - i64::from(size))
    };
    let (dx, dy) = (place(com_x, new_width), place(com_y, new_height));
    let mut out = [0u8; IMAGE_PIXELS];
    for (x, y, pixel) in scaled.enumerate_pixels() {
        let (tx, ty) = (i64::from(x) + dx, i64::from(y) + dy);
        out[(ty * side + tx) as usize] = pixel.0[0];
    }
    Some(out)
}

/// Ink per pixel, 0 (paper) to 255 (the strongest ink): inverted when the
/// paper (the image's border) is lighter than the middle of the image, then
/// stretched so the paper's level becomes 0 and the strongest ink 255.
/// `None` when nothing stands out from the paper.
fn ink_levels(gray: &GrayImage) -> Option<GrayImage> {
    let (width, height) = gray.dimensions();
    let border: Vec<u8> = gray
        .enumerate_pixels()
        .filter(|(x, y, _)| *x == 0 || *y == 0 || *x + 1 == width || *y + 1 == height)
        .map(|(_, _, p)| p.0[0])
        .collect();
    let paper = median(border);
    let light_paper = paper >= 128;
    let ink = |value: u8| if light_paper { 255 - value } else { value };
    let paper_ink = ink(paper);
    let strongest = gray.pixels().map(|p| ink(p.0[0])).max()?;
    if strongest.saturating_sub(paper_ink) < MIN_INK {
        return None;
    }
    let span = f32::from(strongest - paper_ink);
    Some(GrayImage::from_fn(width, height, |x, y| {
        let above = ink(gray.get_pixel(x, y).0[0]).saturating_sub(paper_ink);
        image::Luma([(f32::from(above) * 255.0 / span).round().min(255.0) as u8])
    }))
}

/// The smallest box (left, top, right, bottom; inclusive) holding every pixel
/// with at least a quarter of the strongest ink.
fn ink_box(ink: &GrayImage) -> Option<(u32, u32, u32, u32)> {
    let threshold = 64;
    let mut found: Option<(u32, u32, u32, u32)> = None;
    for (x, y, pixel) in ink.enumerate_pixels() {
        if pixel.0[0] >= threshold {
            found = Some(match found {
                None => (x, y, x, y),
                Some((l, t, r, b)) => (l.min(x), t.min(y), r.max(x), b.max(y)),
            });
        }
    }
    found
}

/// Ink-weighted mean pixel index (x, y), the convention MNIST centred on
/// (index 14 of 0..28); `None` for no ink.
fn centre_of_mass(ink: &GrayImage) -> Option<(f64, f64)> {
    let (mut total, mut sum_x, mut sum_y) = (0.0, 0.0, 0.0);
    for (x, y, pixel) in ink.enumerate_pixels() {
        let weight = f64::from(pixel.0[0]);
        total += weight;
        sum_x += weight * f64::from(x);
        sum_y += weight * f64::from(y);
    }
    (total > 0.0).then(|| (sum_x / total, sum_y / total))
}

fn median(mut values: Vec<u8>) -> u8 {
    values.sort_unstable();
    values[values.len() / 2]
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Luma;

    /// A `width` x `height` page of `paper` with an upright bar of `ink`,
    /// `bar_w` x `bar_h` pixels, its top-left corner at (`x`, `y`), plus a
    /// short foot so the shape is not symmetric.
    #[allow(clippy::too_many_arguments)]
    fn page(
        width: u32,
        height: u32,
        paper: u8,
        ink: u8,
        x: u32,
        y: u32,
        bar_w: u32,
        bar_h: u32,
    ) -> GrayImage {
        GrayImage::from_fn(width, height, |px, py| {
            let in_bar = px >= x && px < x + bar_w && py >= y && py < y + bar_h;
            let in_foot =
                px >= x && px < x + bar_w * 3 && py >= y + bar_h - bar_w && py < y + bar_h;
            Luma([if in_bar || in_foot { ink } else { paper }])
        })
    }

    /// (left, top, right, bottom) of the non-zero pixels of a 28x28 image.
    fn extent(pixels: &[u8; IMAGE_PIXELS]) -> (usize, usize, usize, usize) {
        let lit: Vec<(usize, usize)> = (0..IMAGE_PIXELS)
            .filter(|&i| pixels[i] > 0)
            .map(|i| (i % IMAGE_SIDE, i / IMAGE_SIDE))
            .collect();
        let xs = lit.iter().map(|p| p.0);
        let ys = lit.iter().map(|p| p.1);
        (
            xs.clone().min().unwrap(),
            ys.clone().min().unwrap(),
            xs.max().unwrap(),
            ys.max().unwrap(),
        )
    }

    fn mean_difference(a: &[u8; IMAGE_PIXELS], b: &[u8; IMAGE_PIXELS]) -> f64 {
        a.iter()
            .zip(b)
            .map(|(&x, &y)| (f64::from(x) - f64::from(y)).abs())
            .sum::<f64>()
            / IMAGE_PIXELS as f64
    }

    #[test]
    fn ink_fills_twenty_pixels_on_its_long_side_around_the_centre_of_mass() {
        let digit = mnist_style(&page(200, 200, 0, 255, 90, 40, 10, 120)).unwrap();
        let (left, top, right, bottom) = extent(&digit);
        assert_eq!(bottom - top + 1, 20, "{:?}", extent(&digit));
        assert!(right - left < 20);
        let image = GrayImage::from_raw(28, 28, digit.to_vec()).unwrap();
        let (x, y) = centre_of_mass(&image).unwrap();
        assert!(
            (x - 14.0).abs() <= 1.0 && (y - 14.0).abs() <= 1.0,
            "({x}, {y})"
        );
    }

    #[test]
    fn position_and_size_on_the_page_do_not_matter() {
        let small = mnist_style(&page(200, 200, 0, 255, 90, 40, 10, 120)).unwrap();
        let shifted_and_doubled = mnist_style(&page(600, 500, 0, 255, 30, 200, 20, 240)).unwrap();
        assert!(mean_difference(&small, &shifted_and_doubled) < 2.0);
    }

    #[test]
    fn dark_ink_on_light_paper_is_inverted() {
        let light_on_dark = mnist_style(&page(120, 120, 0, 255, 50, 20, 8, 80)).unwrap();
        let dark_on_light = mnist_style(&page(120, 120, 255, 0, 50, 20, 8, 80)).unwrap();
        assert_eq!(light_on_dark, dark_on_light);
        // Grey pencil on off-white paper reads the same after stretching.
        let pencil = mnist_style(&page(120, 120, 230, 90, 50, 20, 8, 80)).unwrap();
        assert!(mean_difference(&light_on_dark, &pencil) < 1.0);
        // The background stays background.
        assert_eq!(dark_on_light[0], 0);
    }

    #[test]
    fn blank_and_near_blank_pages_have_no_digit() {
        assert!(mnist_style(&GrayImage::from_pixel(50, 50, Luma([255]))).is_none());
        assert!(mnist_style(&GrayImage::from_pixel(50, 50, Luma([0]))).is_none());
        let faint = GrayImage::from_fn(50, 50, |x, y| Luma([255 - ((x * 7 + y * 3) % 20) as u8]));
        assert!(mnist_style(&faint).is_none());
    }

    #[test]
    fn file_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.png");
        let error = read_digit(&missing).unwrap_err().to_string();
        assert!(
            error.starts_with(&format!("{}: cannot read", missing.display())),
            "{error}"
        );

        let text = dir.path().join("notes.png");
        std::fs::write(&text, "not an image").unwrap();
        let error = read_digit(&text).unwrap_err().to_string();
        assert!(error.contains("notes.png: not an image"), "{error}");

        let blank = dir.path().join("blank.png");
        GrayImage::from_pixel(40, 40, Luma([250]))
            .save(&blank)
            .unwrap();
        let error = read_digit(&blank).unwrap_err().to_string();
        assert!(error.contains("blank.png: blank"), "{error}");

        let huge = dir.path().join("huge.png");
        GrayImage::new(8000, 6000).save(&huge).unwrap();
        let error = read_digit(&huge).unwrap_err().to_string();
        assert!(
            error.contains("huge.png: 8000x6000 pixels is larger than"),
            "{error}"
        );

        // What png_bytes writes reads back as the same 28x28.
        let saved = dir.path().join("saved.png");
        let digit = mnist_style(&page(90, 90, 255, 0, 40, 10, 6, 60)).unwrap();
        std::fs::write(&saved, png_bytes(&digit)).unwrap();
        let decoded = decode_gray(&saved, || {
            Ok(ImageReader::new(Cursor::new(png_bytes(&digit))))
        });
        assert_eq!(decoded.unwrap().into_raw(), digit.to_vec());

        let drawn = dir.path().join("drawn.png");
        page(90, 90, 255, 0, 40, 10, 6, 60).save(&drawn).unwrap();
        let digit = read_digit(&drawn).unwrap();
        assert!(digit.iter().filter(|&&p| p > 0).count() > 20);
    }

    #[test]
    fn bytes_in_memory_read_like_the_file_and_errors_carry_the_given_name() {
        let dir = tempfile::tempdir().unwrap();
        let drawn = dir.path().join("drawn.png");
        page(90, 90, 255, 0, 40, 10, 6, 60).save(&drawn).unwrap();
        let upload = Path::new("the upload");
        let bytes = std::fs::read(&drawn).unwrap();
        assert_eq!(
            decode_digit(&bytes, upload).unwrap(),
            read_digit(&drawn).unwrap()
        );

        let error = decode_digit(b"GIF89a nonsense", upload)
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("the upload: not an image"), "{error}");
        let blank = png_bytes(&[0; IMAGE_PIXELS]);
        let error = decode_digit(&blank, upload).unwrap_err().to_string();
        assert_eq!(
            error,
            "the upload: blank: no ink darker or brighter than the paper was found"
        );
    }
}
