//! Grid of misclassified digits: each image scaled up, dark ink on white,
//! captioned with its index, true label, prediction and the probability the
//! model gave that prediction.

use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::canvas::{
    AXIS_DESC_SIZE, Area, DIGIT, LABEL_SIZE, centred, check_digit, check_fraction, draw_digit,
    render_png, text, titled,
};
use crate::error::PlotError;
/// At most this many mistakes are drawn (the first ones given).
pub const MAX_MISTAKES_SHOWN: usize = 36;
/// Images per row of the grid.
pub const MISTAKES_PER_ROW: usize = 6;
/// Width of the picture [`misclassified_grid`] draws, in pixels.
pub const MISCLASSIFIED_GRID_WIDTH: u32 = MARGIN * 2 + CELL_WIDTH * MISTAKES_PER_ROW as u32;

const CELL_WIDTH: u32 = 185;
const CELL_HEIGHT: u32 = DIGIT + 50;
const MARGIN: u32 = 25;
const TOP: u32 = 75;

/// One wrongly classified image.
#[derive(Debug, Clone, PartialEq)]
pub struct Mistake {
    /// Its index in the split (shown as "#index").
    pub index: usize,
    /// 28x28 = 784 grey levels, row-major, 0 = background, 255 = full ink;
    /// drawn inverted, so the digit is dark on white.
    pub pixels: Vec<u8>,
    /// The true digit.
    pub label: u8,
    /// The digit the model predicted.
    pub predicted: u8,
    /// The probability the model gave its prediction, in [0, 1].
    pub probability: f64,
}

/// The height of the picture [`misclassified_grid`] draws for `mistakes`
/// images: one row of [`MISTAKES_PER_ROW`] per started six (at least one row, which
/// holds the "no misclassified images" note when there are none).
pub fn misclassified_grid_height(mistakes: usize) -> u32 {
    let rows = mistakes
        .min(MAX_MISTAKES_SHOWN)
        .div_ceil(MISTAKES_PER_ROW)
        .max(1) as u32;
    TOP + rows * CELL_HEIGHT + 10
}

/// A grid PNG of misclassified digits: the first [`MAX_MISTAKES_SHOWN`] of `mistakes`,
/// [`MISTAKES_PER_ROW`] per row, each scaled up 4x (112 px) with a caption such as
/// "#123: 7 → 2 (93%)" (index: true → predicted, the probability given to
/// the prediction). The title reads "`<title>` — 36 of 212 misclassified",
/// `total_wrong` being how many images the model got wrong in all. With no
/// mistakes it still draws a picture that says "no misclassified images".
///
/// The picture is [`MISCLASSIFIED_GRID_WIDTH`] wide and
/// [`misclassified_grid_height`] high.
///
/// Errors: an image without exactly 784 pixels, a probability outside
/// [0, 1], `total_wrong` smaller than the number of mistakes given.
pub fn misclassified_grid(
    title: &str,
    mistakes: &[Mistake],
    total_wrong: usize,
) -> Result<Vec<u8>, PlotError> {
    validate(mistakes, total_wrong)?;
    let shown = &mistakes[..mistakes.len().min(MAX_MISTAKES_SHOWN)];
    let title = format!("{title} — {} of {total_wrong} misclassified", shown.len());
    let height = misclassified_grid_height(shown.len());
    render_png(MISCLASSIFIED_GRID_WIDTH, height, |root| {
        titled(root, &title)?;
        if shown.is_empty() {
            root.draw_text(
                "no misclassified images",
                &centred(text(AXIS_DESC_SIZE)),
                (
                    MISCLASSIFIED_GRID_WIDTH as i32 / 2,
                    (TOP + CELL_HEIGHT / 2) as i32,
                ),
            )?;
        }
        for (i, mistake) in shown.iter().enumerate() {
            let x = MARGIN + (i % MISTAKES_PER_ROW) as u32 * CELL_WIDTH;
            let y = TOP + (i / MISTAKES_PER_ROW) as u32 * CELL_HEIGHT;
            draw_mistake(root, mistake, (x as i32, y as i32))?;
        }
        Ok(())
    })
}

/// Draws one scaled-up image and its caption in the cell whose top left
/// corner is `corner`.
fn draw_mistake(root: &Area, mistake: &Mistake, corner: (i32, i32)) -> Result<(), PlotError> {
    let left = corner.0 + (CELL_WIDTH - DIGIT) as i32 / 2;
    let top = corner.1;
    draw_digit(root, &mistake.pixels, (left, top))?;
    let side = DIGIT as i32;

    let caption = format!(
        "#{}: {} → {} ({:.0}%)",
        mistake.index,
        mistake.label,
        mistake.predicted,
        mistake.probability * 100.0
    );
    let centre_x = corner.0 + CELL_WIDTH as i32 / 2;
    let mut size = LABEL_SIZE + 1;
    while size > 16 && root.estimate_text_size(&caption, &text(size))?.0 > CELL_WIDTH - 8 {
        size -= 1;
    }
    let style = text(size).pos(Pos::new(HPos::Center, VPos::Top));
    root.draw_text(&caption, &style, (centre_x, top + side + 10))?;
    Ok(())
}

fn validate(mistakes: &[Mistake], total_wrong: usize) -> Result<(), PlotError> {
    if total_wrong < mistakes.len() {
        return Err(PlotError::invalid(format!(
            "total_wrong is {total_wrong}, fewer than the {} mistakes given",
            mistakes.len()
        )));
    }
    for mistake in mistakes {
        check_digit(&mistake.pixels, &format!("mistake #{}", mistake.index))?;
        check_fraction(
            mistake.probability,
            &format!("mistake #{}: probability", mistake.index),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canvas::testing::{decode, differing, non_white};
    use crate::canvas::{DIGIT_SCALE as SCALE, IMAGE_SIDE};

    /// A 28x28 image of a vertical bar in column `column`.
    fn bar(column: usize) -> Vec<u8> {
        (0..IMAGE_SIDE * IMAGE_SIDE)
            .map(|i| {
                if (i % IMAGE_SIDE).abs_diff(column) <= 1 && i / IMAGE_SIDE > 3 {
                    255
                } else {
                    0
                }
            })
            .collect()
    }

    fn mistake(index: usize) -> Mistake {
        Mistake {
            index,
            pixels: bar(8 + index % 12),
            label: (index % 10) as u8,
            predicted: ((index + 3) % 10) as u8,
            probability: 0.5 + (index % 5) as f64 / 10.0,
        }
    }

    #[test]
    fn draws_a_picture_of_the_documented_size() {
        let mistakes: Vec<Mistake> = (0..40).map(mistake).collect();
        let image = decode(&misclassified_grid("test set", &mistakes, 312).unwrap());
        assert_eq!(
            image.dimensions(),
            (MISCLASSIFIED_GRID_WIDTH, misclassified_grid_height(36))
        );
        assert_eq!(misclassified_grid_height(36), 75 + 6 * 162 + 10);
        assert_eq!(misclassified_grid_height(7), 75 + 2 * 162 + 10);
        // 36 bars of 3x24 image pixels, 16 picture pixels each, at least.
        assert!(
            non_white(&image) > 36 * 3 * 24 * 16,
            "{} ink pixels",
            non_white(&image)
        );
    }

    #[test]
    fn the_digit_is_dark_on_white() {
        let one = [mistake(0)];
        let image = decode(&misclassified_grid("t", &one, 1).unwrap());
        // Centre of the bar (image column 8, row 14) and of the background
        // (image column 20, row 14) in the first cell.
        let left = MARGIN + (CELL_WIDTH - DIGIT) / 2;
        let at = |col: u32, row: u32| {
            image
                .get_pixel(left + col * SCALE + 1, TOP + row * SCALE + 1)
                .0
        };
        assert_eq!(at(8, 14), [0, 0, 0]);
        assert_eq!(at(20, 14), [255, 255, 255]);
        // Each image pixel is exactly SCALE x SCALE: the bar (columns 7..=9)
        // ends at the last picture pixel of column 9.
        let row = TOP + 14 * SCALE;
        assert_eq!(image.get_pixel(left + 10 * SCALE - 1, row).0, [0, 0, 0]);
        assert_eq!(image.get_pixel(left + 10 * SCALE, row).0, [255, 255, 255]);
        assert_eq!(image.get_pixel(left + 7 * SCALE, row).0, [0, 0, 0]);
        assert_eq!(
            image.get_pixel(left + 7 * SCALE - 1, row).0,
            [255, 255, 255]
        );
    }

    #[test]
    fn different_mistakes_give_different_pictures() {
        let a: Vec<Mistake> = (0..6).map(mistake).collect();
        let mut b = a.clone();
        b[2].pixels = bar(20);
        let (a, b) = (
            decode(&misclassified_grid("t", &a, 6).unwrap()),
            decode(&misclassified_grid("t", &b, 6).unwrap()),
        );
        assert!(
            differing(&a, &b) > 1000,
            "{} pixels differ",
            differing(&a, &b)
        );
    }

    #[test]
    fn no_mistakes_still_draws_a_note() {
        let image = decode(&misclassified_grid("perfect", &[], 0).unwrap());
        assert_eq!(
            image.dimensions(),
            (MISCLASSIFIED_GRID_WIDTH, misclassified_grid_height(0))
        );
        assert!(non_white(&image) > 1000, "{} ink pixels", non_white(&image));
    }

    #[test]
    fn bad_inputs_are_errors_that_name_the_problem() {
        let error =
            |m: &[Mistake], total| misclassified_grid("t", m, total).unwrap_err().to_string();
        let mut short = mistake(123);
        short.pixels.truncate(700);
        assert_eq!(
            error(&[short], 1),
            "mistake #123 has 700 pixels, expected 784 (28x28)"
        );
        let mut sure = mistake(5);
        sure.probability = 93.0;
        assert_eq!(
            error(&[sure], 1),
            "mistake #5: probability is 93, outside [0, 1] (a fraction, not a percentage)"
        );
        assert_eq!(
            error(&[mistake(1), mistake(2)], 1),
            "total_wrong is 1, fewer than the 2 mistakes given"
        );
    }
}
