//! Confusion matrix as a labelled heatmap: one row per true digit, one column
//! per predicted digit, each cell's count written on it and coloured by its
//! share of the row, with the overall accuracy in the title.

use plotters::prelude::*;
use plotters::style::FontTransform;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::canvas::{AXIS_DESC_SIZE, Area, INK, LABEL_SIZE, centred, render_png, text, titled};
use crate::error::PlotError;

/// The largest number of classes a matrix may have (cells are then 6 px).
pub const MAX_CLASSES: usize = 100;

/// Side of the square grid of cells, in pixels (cells are whole pixels, so
/// the grid can be a few pixels smaller).
const GRID: u32 = 640;
const LEFT: u32 = 110;
const TOP: u32 = 80;
const RIGHT: u32 = 180;
const BOTTOM: u32 = 95;
/// Colour bar: gap to the grid and width.
const BAR_GAP: u32 = 30;
const BAR_WIDTH: u32 = 24;

/// Cells with at least this colour intensity get white text.
const WHITE_TEXT_FROM: f64 = 0.55;
/// Counts of zero are written in this light grey so the errors stand out.
const ZERO_TEXT: RGBColor = RGBColor(175, 175, 175);

/// The confusion matrix `confusion[label][prediction]` (counts; square,
/// n x n for n classes, usually 10) as a labelled heatmap PNG: rows "true
/// digit", columns "predicted digit", each cell with its count written in a
/// colour readable on the cell. Cells are coloured by their share of the row
/// (so rare classes still show), on a square-root scale so that errors of
/// 1% are visible next to the 98% of the diagonal; a colour bar explains it.
/// The title reads "`<title>` — accuracy 96.64% (9,664 of 10,000)", computed
/// from the matrix (trace over total).
///
/// The picture is `110 + n·c + 180` wide and `80 + n·c + 95` high with cells
/// of `c = 640 / n` pixels: 930 x 815 for 10 classes.
///
/// Errors: an empty or non-square matrix, more than [`MAX_CLASSES`] classes,
/// or a matrix whose counts are all zero.
pub fn confusion_matrix(title: &str, confusion: &[Vec<usize>]) -> Result<Vec<u8>, PlotError> {
    let n = validate(confusion)?;
    let total: u128 = confusion.iter().flatten().map(|&c| c as u128).sum();
    let correct: u128 = (0..n).map(|i| confusion[i][i] as u128).sum();
    if total == 0 {
        return Err(PlotError::invalid(
            "confusion matrix has no samples: every count is 0",
        ));
    }
    let accuracy = 100.0 * correct as f64 / total as f64;
    let title = format!(
        "{title} — accuracy {accuracy:.2}% ({} of {})",
        thousands(correct),
        thousands(total)
    );
    let (width, height, cell) = layout(n);
    render_png(width, height, |root| {
        titled(root, &title)?;
        draw_cells(root, confusion, cell)?;
        draw_axis_labels(root, n, cell)?;
        draw_colour_bar(root, n as u32 * cell)
    })
}

/// Picture width, height and cell side for `n` classes.
fn layout(n: usize) -> (u32, u32, u32) {
    let cell = GRID / n as u32;
    let grid = cell * n as u32;
    (LEFT + grid + RIGHT, TOP + grid + BOTTOM, cell)
}

fn draw_cells(root: &Area, confusion: &[Vec<usize>], cell: u32) -> Result<(), PlotError> {
    let cell = cell as i32;
    for (row, counts) in confusion.iter().enumerate() {
        let row_total: u128 = counts.iter().map(|&c| c as u128).sum();
        for (col, &count) in counts.iter().enumerate() {
            let fraction = if row_total == 0 {
                0.0
            } else {
                count as f64 / row_total as f64
            };
            let intensity = fraction.sqrt();
            let x = LEFT as i32 + col as i32 * cell;
            let y = TOP as i32 + row as i32 * cell;
            // One pixel of white between cells (when they are big enough).
            let gap = i32::from(cell >= 12);
            root.draw(&Rectangle::new(
                [(x, y), (x + cell - gap, y + cell - gap)],
                heat(intensity).filled(),
            ))?;
            let colour = if count == 0 {
                ZERO_TEXT
            } else if intensity >= WHITE_TEXT_FROM {
                WHITE
            } else {
                INK
            };
            draw_count(root, count, (x + cell / 2, y + cell / 2), cell, colour)?;
        }
    }
    Ok(())
}

/// Writes `count` centred at `centre`, as big as fits in the cell (at most
/// 18 px); nothing when even 8 px does not fit.
fn draw_count(
    root: &Area,
    count: usize,
    centre: (i32, i32),
    cell: i32,
    colour: RGBColor,
) -> Result<(), PlotError> {
    let digits = count.to_string();
    let mut size = 18;
    while size >= 8 {
        let style = text(size);
        let (w, h) = root.estimate_text_size(&digits, &style)?;
        if (w as i32) <= cell - 6 && (h as i32) <= cell - 4 {
            root.draw_text(&digits, &centred(style.color(&colour)), centre)?;
            break;
        }
        size -= 1;
    }
    Ok(())
}

/// Class numbers along both sides (every k-th when cells are small) and the
/// axis descriptions "true digit" (left) and "predicted digit" (bottom).
fn draw_axis_labels(root: &Area, n: usize, cell: u32) -> Result<(), PlotError> {
    let every = 24u32.div_ceil(cell) as usize;
    let cell = cell as i32;
    let grid = cell * n as i32;
    let right_aligned = text(LABEL_SIZE).pos(Pos::new(HPos::Right, VPos::Center));
    let top_aligned = text(LABEL_SIZE).pos(Pos::new(HPos::Center, VPos::Top));
    for class in (0..n).step_by(every) {
        let middle = class as i32 * cell + cell / 2;
        let name = class.to_string();
        root.draw_text(
            &name,
            &right_aligned,
            (LEFT as i32 - 10, TOP as i32 + middle),
        )?;
        root.draw_text(
            &name,
            &top_aligned,
            (LEFT as i32 + middle, TOP as i32 + grid + 10),
        )?;
    }
    let desc = centred(text(AXIS_DESC_SIZE));
    root.draw_text(
        "predicted digit",
        &desc,
        (LEFT as i32 + grid / 2, TOP as i32 + grid + 60),
    )?;
    root.draw_text(
        "true digit",
        &desc.transform(FontTransform::Rotate270),
        (40, TOP as i32 + grid / 2),
    )?;
    Ok(())
}

/// The colour scale right of the grid, `grid` pixels high: share of the row
/// from 0% (bottom) to 100% (top) on the same square-root scale as the cells.
fn draw_colour_bar(root: &Area, grid: u32) -> Result<(), PlotError> {
    let x0 = (LEFT + grid + BAR_GAP) as i32;
    let x1 = x0 + BAR_WIDTH as i32;
    let top = TOP as i32;
    let bottom = top + grid as i32;
    for y in top..bottom {
        let intensity = f64::from(bottom - 1 - y) / f64::from(grid.max(2) - 1);
        root.draw(&Rectangle::new(
            [(x0, y), (x1, y + 1)],
            heat(intensity).filled(),
        ))?;
    }
    root.draw(&Rectangle::new(
        [(x0, top), (x1, bottom)],
        INK.stroke_width(1),
    ))?;
    let tick_label = text(LABEL_SIZE).pos(Pos::new(HPos::Left, VPos::Center));
    for (share, name) in [
        (0.0, "0%"),
        (0.01, "1%"),
        (0.05, "5%"),
        (0.25, "25%"),
        (0.5, "50%"),
        (1.0, "100%"),
    ] {
        let y = bottom - (f64::sqrt(share) * f64::from(grid)).round() as i32;
        root.draw(&PathElement::new(
            vec![(x1, y), (x1 + 5, y)],
            INK.stroke_width(1),
        ))?;
        root.draw_text(name, &tick_label, (x1 + 9, y))?;
    }
    root.draw_text(
        "share of the true digit's row",
        &centred(text(LABEL_SIZE)).transform(FontTransform::Rotate270),
        (x1 + 75, (top + bottom) / 2),
    )?;
    Ok(())
}

/// Cell colour for an intensity in [0, 1]: from near-white through light
/// blue to dark blue (the "Blues" colour map of matplotlib).
fn heat(intensity: f64) -> RGBColor {
    const STOPS: [(f64, [f64; 3]); 5] = [
        (0.0, [247.0, 251.0, 255.0]),
        (0.2, [198.0, 219.0, 239.0]),
        (0.4, [107.0, 174.0, 214.0]),
        (0.7, [33.0, 113.0, 181.0]),
        (1.0, [8.0, 48.0, 107.0]),
    ];
    let t = intensity.clamp(0.0, 1.0);
    let upper = STOPS
        .iter()
        .position(|s| t <= s.0)
        .unwrap_or(STOPS.len() - 1)
        .max(1);
    let (lo, hi) = (STOPS[upper - 1], STOPS[upper]);
    let f = (t - lo.0) / (hi.0 - lo.0);
    let mix = |i: usize| (lo.1[i] + (hi.1[i] - lo.1[i]) * f).round() as u8;
    RGBColor(mix(0), mix(1), mix(2))
}

/// `n` with a comma between groups of three digits: 10000 → "10,000".
fn thousands(n: u128) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

/// The number of classes, or why the matrix cannot be drawn.
fn validate(confusion: &[Vec<usize>]) -> Result<usize, PlotError> {
    let n = confusion.len();
    if n == 0 {
        return Err(PlotError::EmptyConfusion);
    }
    if let Some(row) = confusion.iter().find(|row| row.len() != n) {
        return Err(PlotError::NotSquare {
            rows: n,
            cols: row.len(),
        });
    }
    if n > MAX_CLASSES {
        return Err(PlotError::invalid(format!(
            "confusion matrix has {n} classes, at most {MAX_CLASSES} can be drawn"
        )));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canvas::testing::{decode, differing, non_white};

    /// A 10-class matrix like a good MNIST model's: ~97% on the diagonal,
    /// a few confusions off it.
    fn mnist_like() -> Vec<Vec<usize>> {
        let totals = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009];
        (0..10)
            .map(|label| {
                let mut row = vec![0; 10];
                let wrong = [(label + 3) % 10, (label + 7) % 10];
                row[wrong[0]] = 12 + label;
                row[wrong[1]] = 5;
                row[label] = totals[label] - row[wrong[0]] - row[wrong[1]];
                row
            })
            .collect()
    }

    #[test]
    fn draws_a_picture_of_the_documented_size() {
        let image = decode(&confusion_matrix("test set", &mnist_like()).unwrap());
        assert_eq!(image.dimensions(), (930, 815));
        assert!(
            non_white(&image) > 300_000,
            "{} ink pixels",
            non_white(&image)
        );
    }

    #[test]
    fn other_sizes_draw_too() {
        let image = decode(&confusion_matrix("two", &[vec![5, 1], vec![0, 3]]).unwrap());
        assert_eq!(image.dimensions(), (930, 815));
        let (width, height, cell) = layout(30);
        assert_eq!((width, height, cell), (110 + 630 + 180, 80 + 630 + 95, 21));
        let thirty: Vec<Vec<usize>> = (0..30)
            .map(|i| (0..30).map(|j| usize::from(i == j) * 7 + 1).collect())
            .collect();
        let image = decode(&confusion_matrix("thirty", &thirty).unwrap());
        assert_eq!(image.dimensions(), (width, height));
    }

    #[test]
    fn a_different_count_changes_the_picture() {
        let a = decode(&confusion_matrix("t", &mnist_like()).unwrap());
        let mut changed = mnist_like();
        changed[4][9] += 1;
        let b = decode(&confusion_matrix("t", &changed).unwrap());
        assert!(
            differing(&a, &b) > 20,
            "{} pixels differ",
            differing(&a, &b)
        );
    }

    #[test]
    fn accuracy_and_thousands() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(10_000), "10,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn bad_matrices_are_errors_that_name_the_problem() {
        let error = |m: &[Vec<usize>]| confusion_matrix("t", m).unwrap_err().to_string();
        assert_eq!(error(&[]), "confusion matrix is empty");
        let mut ragged = mnist_like();
        ragged[3].pop();
        assert_eq!(error(&ragged), "confusion matrix must be square, got 10x9");
        assert_eq!(
            error(&[vec![0, 0], vec![0, 0]]),
            "confusion matrix has no samples: every count is 0"
        );
        let huge = vec![vec![1; 101]; 101];
        assert_eq!(
            error(&huge),
            "confusion matrix has 101 classes, at most 100 can be drawn"
        );
    }
}
