//! A few training digits as MNIST has them, each next to the distorted
//! versions the network is shown in successive epochs: a quick look at
//! whether the `[augment]` settings are sensible before a long run.

use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::canvas::{DIGIT, LABEL_SIZE, check_digit, draw_digit, render_png, text, titled};
use crate::error::PlotError;

const CELL: u32 = DIGIT + 24;
const MARGIN: u32 = 20;
const TOP: u32 = 95;

/// One training digit and its distorted versions, 784 grey levels each
/// (0 = paper, 255 = ink).
#[derive(Debug, Clone, PartialEq)]
pub struct AugmentedDigit {
    /// Its index in the training split.
    pub index: usize,
    pub original: Vec<u8>,
    /// The digit as epochs 1, 2, ... distort it.
    pub versions: Vec<Vec<u8>>,
}

/// Width and height of the picture [`augmentation_grid`] draws for `rows`
/// digits with `versions` distorted versions each.
pub fn augmentation_grid_size(rows: usize, versions: usize) -> (u32, u32) {
    let columns = 1 + versions as u32;
    (
        (2 * MARGIN + columns * CELL).max(480),
        TOP + rows.max(1) as u32 * CELL + 10,
    )
}

/// A grid PNG: one row per digit, the original first ("as in MNIST"), then
/// its versions captioned "epoch 1", "epoch 2", ... Every row must have as
/// many versions as the first.
///
/// Errors: no digits, an image without 784 pixels, rows with different
/// numbers of versions.
pub fn augmentation_grid(title: &str, digits: &[AugmentedDigit]) -> Result<Vec<u8>, PlotError> {
    let versions = digits
        .first()
        .map(|digit| digit.versions.len())
        .ok_or_else(|| PlotError::invalid("no digits to draw"))?;
    for digit in digits {
        check_digit(&digit.original, &format!("digit #{}", digit.index))?;
        if digit.versions.len() != versions {
            return Err(PlotError::invalid(format!(
                "digit #{} has {} versions, the first has {versions}",
                digit.index,
                digit.versions.len()
            )));
        }
        for (epoch, version) in digit.versions.iter().enumerate() {
            check_digit(
                version,
                &format!("digit #{}, epoch {}", digit.index, epoch + 1),
            )?;
        }
    }
    let (width, height) = augmentation_grid_size(digits.len(), versions);
    render_png(width, height, |root| {
        titled(root, title)?;
        let captions = std::iter::once("as in MNIST".to_string())
            .chain((1..=versions).map(|epoch| format!("epoch {epoch}")));
        let style = text(LABEL_SIZE).pos(Pos::new(HPos::Center, VPos::Bottom));
        for (column, caption) in captions.enumerate() {
            let centre = (MARGIN + column as u32 * CELL + CELL / 2) as i32;
            root.draw_text(&caption, &style, (centre, TOP as i32 - 8))?;
        }
        for (row, digit) in digits.iter().enumerate() {
            let top = (TOP + row as u32 * CELL) as i32;
            let images = std::iter::once(&digit.original).chain(&digit.versions);
            for (column, pixels) in images.enumerate() {
                let left = (MARGIN + column as u32 * CELL + (CELL - DIGIT) / 2) as i32;
                draw_digit(root, pixels, (left, top))?;
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canvas::IMAGE_SIDE;
    use crate::canvas::testing::{decode, differing, non_white};

    fn bar(column: usize) -> Vec<u8> {
        (0..IMAGE_SIDE * IMAGE_SIDE)
            .map(|i| {
                if (i % IMAGE_SIDE).abs_diff(column) <= 1 {
                    255
                } else {
                    0
                }
            })
            .collect()
    }

    fn digits(shift: usize) -> Vec<AugmentedDigit> {
        (0..3)
            .map(|index| AugmentedDigit {
                index,
                original: bar(10),
                versions: (0..4).map(|v| bar(8 + v + shift)).collect(),
            })
            .collect()
    }

    #[test]
    fn draws_a_picture_of_the_documented_size_that_shows_the_versions() {
        let png = augmentation_grid("augmentation", &digits(0)).unwrap();
        let image = decode(&png);
        assert_eq!(image.dimensions(), augmentation_grid_size(3, 4));
        assert!(
            non_white(&image) > 3 * 5 * 28 * 3 * 16,
            "the digits are drawn"
        );
        let other = decode(&augmentation_grid("augmentation", &digits(2)).unwrap());
        assert!(
            differing(&image, &other) > 1000,
            "other versions, another picture"
        );
    }

    #[test]
    fn bad_input_is_a_one_line_error() {
        let error =
            |digits: &[AugmentedDigit]| augmentation_grid("t", digits).unwrap_err().to_string();
        assert!(error(&[]).contains("no digits to draw"));
        let mut uneven = digits(0);
        uneven[2].versions.pop();
        assert!(
            error(&uneven).contains("digit #2 has 3 versions, the first has 4"),
            "{}",
            error(&uneven)
        );
        let mut short = digits(0);
        short[1].versions[1] = vec![0; 10];
        assert!(
            error(&short).contains("digit #1, epoch 2 has 10 pixels, expected 784"),
            "{}",
            error(&short)
        );
    }
}
