//! What every chart shares: the embedded font, the white RGB canvas that is
//! encoded to PNG, the colours, text styles, axis ticks and input checks.

use std::ops::Range;
use std::sync::OnceLock;

use image::ImageEncoder;
use image::codecs::png::PngEncoder;
use plotters::coord::Shift;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::error::PlotError;
use console::one_line;

/// The font family name under which the embedded DejaVu Sans is registered.
/// It is plotters' default family too, so no text can fall back to a system font.
pub(crate) const FONT: &str = "sans-serif";

/// DejaVu Sans (licence: `fonts/LICENSE-DejaVu.txt`).
static DEJAVU_SANS: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");

/// Chart titles, in pixels.
pub(crate) const TITLE_SIZE: u32 = 26;
/// Panel captions and axis descriptions.
pub(crate) const AXIS_DESC_SIZE: u32 = 20;
/// Tick labels, legends and captions: the smallest text of a chart.
pub(crate) const LABEL_SIZE: u32 = 17;
/// Width of data lines, in pixels.
pub(crate) const LINE_WIDTH: u32 = 3;
/// Series with at most this many points also get a marker at every point.
pub(crate) const MAX_POINTS_WITH_MARKERS: usize = 40;

/// Text and frame colour: a dark grey, softer than pure black.
pub(crate) const INK: RGBColor = RGBColor(33, 33, 33);
/// Major grid lines.
pub(crate) const GRID: RGBColor = RGBColor(215, 215, 215);
/// Tableau 10: distinct colours for up to ten series (then they repeat).
pub(crate) const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

pub(crate) type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

/// Registers the embedded font once per process.
fn ensure_font() -> Result<(), PlotError> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        plotters::style::register_font(FONT, FontStyle::Normal, DEJAVU_SANS).is_ok()
    });
    if ok { Ok(()) } else { Err(PlotError::Font) }
}

/// Draws on a white `width` x `height` RGB canvas and returns it as PNG bytes.
pub(crate) fn render_png(
    width: u32,
    height: u32,
    draw: impl FnOnce(&Area) -> Result<(), PlotError>,
) -> Result<Vec<u8>, PlotError> {
    ensure_font()?;
    let mut pixels = vec![255u8; width as usize * height as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, (width, height)).into_drawing_area();
        root.fill(&WHITE)?;
        draw(&root)?;
        root.present()?;
    }
    let mut png = Vec::new();
    PngEncoder::new(&mut png)
        .write_image(&pixels, width, height, image::ExtendedColorType::Rgb8)
        .map_err(|e| PlotError::Encode(one_line(&e.to_string())))?;
    Ok(png)
}

/// The embedded font at `size` pixels, in [`INK`].
pub(crate) fn text(size: u32) -> TextStyle<'static> {
    (FONT, size).into_font().color(&INK)
}

/// `style` anchored at its centre.
pub(crate) fn centred(style: TextStyle<'_>) -> TextStyle<'_> {
    style.pos(Pos::new(HPos::Center, VPos::Center))
}

/// Text as it will be drawn: control characters (newlines...) escaped.
pub(crate) fn label(text: &str) -> String {
    one_line(text)
}

/// Side of an MNIST image, in pixels.
pub const IMAGE_SIDE: usize = 28;
/// Each image pixel of a drawn digit becomes `DIGIT_SCALE` x `DIGIT_SCALE`
/// pixels: 28 -> 112.
pub(crate) const DIGIT_SCALE: u32 = 4;
/// Side of a drawn digit, in pixels.
pub(crate) const DIGIT: u32 = IMAGE_SIDE as u32 * DIGIT_SCALE;
const DIGIT_FRAME: RGBColor = RGBColor(190, 190, 190);

/// Draws a 28x28 image (784 grey levels, 0 = paper, 255 = ink) scaled up to
/// [`DIGIT`] pixels, dark ink on white, in a light frame, with its top left
/// corner at `(left, top)`.
pub(crate) fn draw_digit(
    root: &Area,
    pixels: &[u8],
    (left, top): (i32, i32),
) -> Result<(), PlotError> {
    let scale = DIGIT_SCALE as i32;
    for (i, &ink) in pixels.iter().enumerate() {
        if ink == 0 {
            continue;
        }
        let x = left + (i % IMAGE_SIDE) as i32 * scale;
        let y = top + (i / IMAGE_SIDE) as i32 * scale;
        let grey = 255 - ink;
        root.draw(&Rectangle::new(
            [(x, y), (x + scale, y + scale)],
            RGBColor(grey, grey, grey).filled(),
        ))?;
    }
    let side = DIGIT as i32;
    root.draw(&Rectangle::new(
        [(left - 1, top - 1), (left + side, top + side)],
        DIGIT_FRAME.stroke_width(1),
    ))?;
    Ok(())
}

/// Checks `pixels` is a 28x28 image; `what` names it in the error.
pub(crate) fn check_digit(pixels: &[u8], what: &str) -> Result<(), PlotError> {
    let expected = IMAGE_SIDE * IMAGE_SIDE;
    if pixels.len() != expected {
        return Err(PlotError::invalid(format!(
            "{what} has {} pixels, expected {expected} (28x28)",
            pixels.len()
        )));
    }
    Ok(())
}

/// The smallest size a title is shrunk to before it is cut.
const MIN_TITLE_SIZE: u32 = 22;

/// Draws `title` centred on top of `area` and returns the area below it. A
/// title too wide for the area is drawn smaller (down to 22 px), then cut
/// short with "…".
pub(crate) fn titled<'a>(area: &Area<'a>, title: &str) -> Result<Area<'a>, PlotError> {
    // No title of more characters fits in a chart this crate draws.
    let mut title: String = label(title).chars().take(300).collect();
    let room = i64::from(area.dim_in_pixel().0) - 20;
    let fits = |title: &str, size: u32| -> Result<bool, PlotError> {
        let (width, _) = area.estimate_text_size(title, &text(size))?;
        Ok(i64::from(width) <= room)
    };
    let mut size = TITLE_SIZE;
    while size > MIN_TITLE_SIZE && !fits(&title, size)? {
        size -= 1;
    }
    while !fits(&title, size)? && title.chars().count() > 1 {
        title.pop();
        title.pop();
        title.push('…');
    }
    Ok(area.margin(10, 0, 0, 0).titled(&title, text(size))?)
}

/// Integer tick positions from `lo` to `hi` (inclusive) with a 1-2-5 step
/// chosen so that there are at most about a dozen.
pub(crate) fn integer_ticks(lo: usize, hi: usize) -> Vec<f64> {
    let span = hi.saturating_sub(lo);
    let step = (0..)
        .flat_map(|power| [1usize, 2, 5].map(|m| m.saturating_mul(10usize.saturating_pow(power))))
        .find(|&step| span / step <= 12)
        .unwrap_or(1);
    (lo.div_ceil(step).saturating_mul(step)..=hi)
        .step_by(step)
        .map(|t| t as f64)
        .collect()
}

/// A linear f64 axis whose ticks (and grid lines) are exactly `ticks`.
pub(crate) struct TickedAxis {
    range: Range<f64>,
    ticks: Vec<f64>,
}

impl Ranged for TickedAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, (from, to): (i32, i32)) -> i32 {
        let span = self.range.end - self.range.start;
        let fraction = if span > 0.0 {
            (value - self.range.start) / span
        } else {
            0.5
        };
        let pixel = f64::from(from) + f64::from(to - from) * fraction;
        pixel
            .round()
            .clamp(f64::from(i32::MIN), f64::from(i32::MAX)) as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.range.clone()
    }
}

/// The x axis of epochs `first` to `last` (both inclusive): integer ticks,
/// padded so that markers at the ends are not cut.
pub(crate) fn epoch_axis(first: usize, last: usize) -> TickedAxis {
    let span = last.saturating_sub(first) as f64;
    let pad = (span * 0.03).max(0.4);
    TickedAxis {
        range: first as f64 - pad..last as f64 + pad,
        ticks: integer_ticks(first, last),
    }
}

/// A linear axis range around `[min, max]`, padded by 6% of the span (at
/// least `min_span` wide) and clamped to `[floor, ceiling]`.
pub(crate) fn padded_range(
    min: f64,
    max: f64,
    min_span: f64,
    floor: f64,
    ceiling: f64,
) -> Range<f64> {
    let span = (max - min).max(min_span);
    let mid = (min + max) / 2.0;
    let lo = (mid - span * 0.56).max(floor);
    let hi = (mid + span * 0.56).min(ceiling);
    lo..hi
}

/// How many tick labels a linear y axis asks plotters for.
pub(crate) const Y_LABELS: usize = 8;

/// A tick label for a value on a linear axis spanning `span` with at most
/// [`Y_LABELS`] ticks: as many decimals as the smallest possible tick step
/// needs, the same for every tick.
pub(crate) fn tick_label(value: f64, span: f64) -> String {
    let step = span / Y_LABELS as f64;
    let decimals = if step > 0.0 && step.is_finite() {
        (-step.log10().floor()).clamp(0.0, 6.0) as usize
    } else {
        2
    };
    format!("{value:.decimals$}")
}

/// Error unless `value` is a finite number; `what` names it ("epoch 3: training loss").
pub(crate) fn check_finite(value: f64, what: &str) -> Result<(), PlotError> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(PlotError::invalid(format!(
            "{what} is {value}, not a finite number"
        )))
    }
}

/// Error unless `value` is a finite fraction in [0, 1]; a value that looks
/// like a percentage gets a hint.
pub(crate) fn check_fraction(value: f64, what: &str) -> Result<(), PlotError> {
    check_finite(value, what)?;
    if (0.0..=1.0).contains(&value) {
        return Ok(());
    }
    let hint = if value > 1.0 && value <= 100.0 {
        " (a fraction, not a percentage)"
    } else {
        ""
    };
    Err(PlotError::invalid(format!(
        "{what} is {value}, outside [0, 1]{hint}"
    )))
}

/// Draws series number `index` (0-based) of a chart: a line through
/// `points` in colour `PALETTE[index % 10]`, dashed for the second ten, the
/// fourth ten..., so that series whose colours repeat still differ; a filled
/// circle at every point when there are few of them (so a single point still
/// shows); `name` in the legend.
pub(crate) fn draw_line_series<'a, X, Y>(
    chart: &mut ChartContext<'a, BitMapBackend<'a>, Cartesian2d<X, Y>>,
    points: &[(f64, f64)],
    index: usize,
    name: &str,
) -> Result<(), PlotError>
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    let colour = PALETTE[index % PALETTE.len()];
    let style = colour.stroke_width(LINE_WIDTH);
    let points = points.iter().copied();
    if (index / PALETTE.len()).is_multiple_of(2) {
        chart
            .draw_series(LineSeries::new(points.clone(), style))?
            .label(label(name))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], style));
    } else {
        chart
            .draw_series(DashedLineSeries::new(points.clone(), 10, 6, style))?
            .label(label(name))
            .legend(move |(x, y)| {
                EmptyElement::at((x, y))
                    + PathElement::new(vec![(0, 0), (9, 0)], style)
                    + PathElement::new(vec![(15, 0), (24, 0)], style)
            });
    }
    if points.len() <= MAX_POINTS_WITH_MARKERS {
        chart.draw_series(points.map(|p| Circle::new(p, LINE_WIDTH + 2, colour.filled())))?;
    }
    Ok(())
}

/// Draws the legend of `chart` in a framed white box at `position`.
pub(crate) fn draw_legend<'a, X: Ranged, Y: Ranged>(
    chart: &mut ChartContext<'a, BitMapBackend<'a>, Cartesian2d<X, Y>>,
    position: SeriesLabelPosition,
) -> Result<(), PlotError> {
    chart
        .configure_series_labels()
        .position(position)
        .label_font(text(LABEL_SIZE))
        .background_style(WHITE.mix(0.9))
        .border_style(GRID.stroke_width(1))
        .margin(12)
        .draw()?;
    Ok(())
}

#[cfg(test)]
pub(crate) mod testing {
    //! Helpers for the charts' tests: decode a PNG and compare pixels.

    /// The decoded picture; panics (fails the test) when `png` is not a PNG.
    pub fn decode(png: &[u8]) -> image::RgbImage {
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG signature");
        image::load_from_memory(png)
            .expect("decodes as an image")
            .to_rgb8()
    }

    /// How many pixels are not pure white.
    pub fn non_white(image: &image::RgbImage) -> usize {
        image.pixels().filter(|p| p.0 != [255, 255, 255]).count()
    }

    /// How many pixels differ between two pictures of the same size.
    pub fn differing(a: &image::RgbImage, b: &image::RgbImage) -> usize {
        assert_eq!(a.dimensions(), b.dimensions());
        a.pixels().zip(b.pixels()).filter(|(p, q)| p != q).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_ticks_are_few_and_round() {
        assert_eq!(integer_ticks(1, 1), vec![1.0]);
        assert_eq!(integer_ticks(1, 5), vec![1.0, 2.0, 3.0, 4.0, 5.0]);
        let ticks = integer_ticks(1, 100);
        assert!(ticks.len() <= 13, "{ticks:?}");
        assert!(
            ticks
                .iter()
                .all(|t| t.fract() == 0.0 && (1.0..=100.0).contains(t))
        );
    }

    #[test]
    fn render_png_gives_the_requested_size() {
        let png = render_png(40, 30, |_| Ok(())).unwrap();
        let image = testing::decode(&png);
        assert_eq!(image.dimensions(), (40, 30));
        assert_eq!(testing::non_white(&image), 0);
    }

    #[test]
    fn long_titles_are_cut_to_fit() {
        let long = "a run name that goes on and on ".repeat(10);
        let png = render_png(600, 100, |root| {
            let below = titled(root, &long)?;
            assert!(below.dim_in_pixel().1 < 100);
            Ok(())
        })
        .unwrap();
        let image = testing::decode(&png);
        // The title stays inside the picture: the outer columns stay white.
        for y in 0..100 {
            assert_eq!(image.get_pixel(0, y).0, [255, 255, 255]);
            assert_eq!(image.get_pixel(599, y).0, [255, 255, 255]);
        }
        assert!(testing::non_white(&image) > 500);
    }

    #[test]
    fn fraction_checks_name_the_value() {
        assert_eq!(
            check_fraction(96.5, "epoch 2: validation accuracy")
                .unwrap_err()
                .to_string(),
            "epoch 2: validation accuracy is 96.5, outside [0, 1] (a fraction, not a percentage)"
        );
        assert_eq!(
            check_fraction(-0.5, "mistake #3: probability")
                .unwrap_err()
                .to_string(),
            "mistake #3: probability is -0.5, outside [0, 1]"
        );
        assert_eq!(
            check_finite(f64::NAN, "epoch 1: training loss")
                .unwrap_err()
                .to_string(),
            "epoch 1: training loss is NaN, not a finite number"
        );
    }
}
