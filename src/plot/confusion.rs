//! Confusion matrix heatmap: gold classes down, predicted classes across. Cells are shaded by
//! their share of the gold row, so a class with few examples is as readable as a large one.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::canvas::{Chart, FONT, render, text_size};
use crate::error::{Error, Result};

const PAD: i32 = 24;
const TITLE_FONT: f64 = 28.0;
const AXIS_FONT: f64 = 22.0;
const TICK_FONT: f64 = 18.0;
const BAR_WIDTH: i32 = 18;
/// More classes than this would make an image too large to hold in memory and too dense to read.
pub(super) const MAX_CLASSES: usize = 60;
/// Class names longer than this are cut (with an ellipsis). Room for names such as
/// "1933-1980 new deal and cold war" whole: the predicted axis turns its names upright when
/// they are wider than a cell, so only truly long names are cut.
const MAX_NAME_CHARS: usize = 32;
const GRID_LINE: RGBColor = RGBColor(210, 210, 210);
const FRAME: RGBColor = RGBColor(90, 90, 90);
const ZERO_INK: RGBColor = RGBColor(150, 150, 150);
/// From the colour bar's right edge to its tick labels.
const TICK_GAP: i32 = 10;

/// Draws `matrix` (`matrix[gold][predicted]` counts, one row and column per label) into `path`
/// (PNG or SVG by extension). Each cell shows its count, and with `normalised` also its share
/// of the gold row.
pub fn plot_confusion(
    path: &Path,
    title: &str,
    labels: &[String],
    matrix: &[Vec<usize>],
    normalised: bool,
) -> Result<()> {
    let n = labels.len();
    if n == 0 || n > MAX_CLASSES {
        return Err(Error::data(
            path,
            format!("cannot draw a confusion matrix of {n} classes (1 to {MAX_CLASSES})"),
        ));
    }
    if matrix.len() != n || matrix.iter().any(|row| row.len() != n) {
        return Err(Error::data(
            path,
            format!("confusion matrix must be {n} × {n}, one row and column per label"),
        ));
    }
    let names = short_names(labels);
    render(path, &Heatmap { title, names, matrix, normalised })
}

/// Class names short enough for a tick label. A long name keeps the part where the names start
/// to differ: classes often share a prefix (`intent_3_request`, `intent_12_request`), and a
/// plain cut at the end would make them all alike.
fn short_names(labels: &[String]) -> Vec<String> {
    let names: Vec<Vec<char>> = labels.iter().map(|l| l.chars().collect()).collect();
    let shared = match names.split_first() {
        Some((first, rest)) if !rest.is_empty() => {
            (0..first.len()).take_while(|&i| rest.iter().all(|n| n.get(i) == Some(&first[i]))).count()
        }
        _ => 0,
    };
    names.iter().map(|name| shorten(name, shared)).collect()
}

/// `name` cut to `MAX_NAME_CHARS` (ellipses included), showing from a little before `from`.
fn shorten(name: &[char], from: usize) -> String {
    let text = |chars: &[char]| chars.iter().collect::<String>();
    if name.len() <= MAX_NAME_CHARS {
        return text(name);
    }
    let start = from.saturating_sub(3);
    if start == 0 {
        format!("{}…", text(&name[..MAX_NAME_CHARS - 1]))
    } else if name.len() - start < MAX_NAME_CHARS {
        format!("…{}", text(&name[name.len() - (MAX_NAME_CHARS - 1)..]))
    } else {
        format!("…{}…", text(&name[start..start + MAX_NAME_CHARS - 2]))
    }
}

struct Heatmap<'a> {
    title: &'a str,
    names: Vec<String>,
    matrix: &'a [Vec<usize>],
    normalised: bool,
}

/// Pixel positions, worked out from the number of classes and the measured text.
struct Layout {
    /// Side of one cell, and of the whole grid.
    cell: i32,
    grid: i32,
    /// Top-left corner of the grid.
    left: i32,
    top: i32,
    /// Predicted-class names are written vertically when they are wider than a cell.
    rotate_x: bool,
    x_ticks_height: i32,
    count_font: f64,
    width: i32,
    height: i32,
}

impl Heatmap<'_> {
    fn layout(&self) -> Layout {
        // At most MAX_CLASSES, checked by `plot_confusion`.
        let n = i32::try_from(self.names.len()).unwrap_or(i32::MAX);
        let cell = (640 / n).clamp(44, 160);
        let grid = n * cell;
        let name_width = self.names.iter().map(|s| text_size(s, TICK_FONT).0).max().unwrap_or(0);
        let axis_height = text_size("Ag", AXIS_FONT).1;
        let rotate_x = name_width > cell - 8;
        let x_ticks_height = if rotate_x { name_width } else { text_size("Ag", TICK_FONT).1 };
        let left = PAD + axis_height + 12 + name_width + 10;
        let top = PAD + text_size(self.title, TITLE_FONT).1 + 24;
        let colour_bar = 28 + BAR_WIDTH + TICK_GAP + text_size("100%", TICK_FONT).0 + 12 + axis_height + PAD;
        let width = (left + grid + colour_bar).max(text_size(self.title, TITLE_FONT).0 + 2 * PAD);
        let height = top + grid + 10 + x_ticks_height + 14 + axis_height + PAD;
        // The largest count must fit in a cell; shrink the font rather than overflow.
        let widest = self.matrix.iter().flatten().max().copied().unwrap_or(0).to_string();
        let base = (f64::from(cell) * 0.3).clamp(12.0, 26.0);
        let fits = f64::from(cell) * 0.85 / f64::from(text_size(&widest, base).0.max(1));
        let count_font = (base * fits.min(1.0)).max(10.0);
        Layout { cell, grid, left, top, rotate_x, x_ticks_height, count_font, width, height }
    }
}

impl Chart for Heatmap<'_> {
    fn size(&self) -> (u32, u32) {
        let layout = self.layout();
        (layout.width.unsigned_abs(), layout.height.unsigned_abs())
    }

    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        let Layout { cell, grid, left, top, rotate_x, x_ticks_height, count_font, width, .. } = self.layout();
        root.fill(&WHITE)?;
        root.draw_text(self.title, &text(TITLE_FONT, BLACK, HPos::Center, VPos::Top), (width / 2, PAD))?;

        for (g, row) in (0..).zip(self.matrix) {
            let total: usize = row.iter().sum();
            for (p, &count) in (0..).zip(row) {
                let (x, y) = (left + p * cell, top + g * cell);
                let share = if total == 0 { 0.0 } else { count as f64 / total as f64 };
                let fill = blues(share);
                root.draw(&Rectangle::new([(x, y), (x + cell, y + cell)], fill.filled()))?;
                root.draw(&Rectangle::new([(x, y), (x + cell, y + cell)], GRID_LINE))?;
                // Zeros in grey, without a share: they are the background the errors stand out on.
                let ink = if count == 0 {
                    ZERO_INK
                } else if luminance(fill) < 0.45 {
                    WHITE
                } else {
                    BLACK
                };
                let centre = (x + cell / 2, y + cell / 2);
                if self.normalised && count > 0 {
                    let count_style = text(count_font, ink, HPos::Center, VPos::Bottom);
                    root.draw_text(&count.to_string(), &count_style, (centre.0, centre.1 + 1))?;
                    let share_style = text((count_font * 0.8).max(10.0), ink, HPos::Center, VPos::Top);
                    root.draw_text(&percent(share), &share_style, (centre.0, centre.1 + 3))?;
                } else {
                    root.draw_text(
                        &count.to_string(),
                        &text(count_font, ink, HPos::Center, VPos::Center),
                        centre,
                    )?;
                }
            }
        }
        root.draw(&Rectangle::new([(left, top), (left + grid, top + grid)], FRAME))?;

        let tick = text(TICK_FONT, BLACK, HPos::Right, VPos::Center);
        let x_tick = if rotate_x {
            tick.transform(FontTransform::Rotate270)
        } else {
            text(TICK_FONT, BLACK, HPos::Center, VPos::Top)
        };
        for (i, name) in (0..).zip(&self.names) {
            let middle = i * cell + cell / 2;
            root.draw_text(name, &tick, (left - 10, top + middle))?;
            root.draw_text(name, &x_tick, (left + middle, top + grid + 10))?;
        }
        let axis = text(AXIS_FONT, BLACK, HPos::Center, VPos::Top);
        root.draw_text("predicted", &axis, (left + grid / 2, top + grid + 10 + x_ticks_height + 14))?;
        root.draw_text("gold", &axis.transform(FontTransform::Rotate270), (PAD, top + grid / 2))?;

        draw_colour_bar(root, left + grid + 28, top, grid)
    }
}

/// The key to the shading: a vertical gradient from 0% (bottom) to 100% (top).
fn draw_colour_bar<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    x: i32,
    top: i32,
    height: i32,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    const BANDS: i32 = 64;
    for band in 0..BANDS {
        let (y0, y1) = (top + height * band / BANDS, top + height * (band + 1) / BANDS);
        let share = 1.0 - (f64::from(band) + 0.5) / f64::from(BANDS);
        root.draw(&Rectangle::new([(x, y0), (x + BAR_WIDTH, y1)], blues(share).filled()))?;
    }
    root.draw(&Rectangle::new([(x, top), (x + BAR_WIDTH, top + height)], FRAME))?;
    let label = text(TICK_FONT, BLACK, HPos::Left, VPos::Center);
    for (share, y) in [(1.0, top), (0.5, top + height / 2), (0.0, top + height)] {
        root.draw(&PathElement::new(vec![(x + BAR_WIDTH, y), (x + BAR_WIDTH + 4, y)], FRAME))?;
        root.draw_text(&percent(share), &label, (x + BAR_WIDTH + TICK_GAP, y))?;
    }
    let title_x = x + BAR_WIDTH + TICK_GAP + text_size("100%", TICK_FONT).0 + 12;
    let title = text(AXIS_FONT * 0.8, BLACK, HPos::Center, VPos::Top).transform(FontTransform::Rotate270);
    root.draw_text("share of gold row", &title, (title_x, top + height / 2))
}

pub(super) fn text(size: f64, colour: RGBColor, h: HPos, v: VPos) -> TextStyle<'static> {
    (FONT, size).into_font().color(&colour).pos(Pos::new(h, v))
}

/// A share as a whole percentage; a non-zero share never rounds down to a misleading "0%".
fn percent(share: f64) -> String {
    if share > 0.0 && share < 0.005 { "<1%".to_owned() } else { format!("{:.0}%", share * 100.0) }
}

/// `ColorBrewer`'s "Blues": a single-hue ramp, ordered by lightness for every kind of colour vision.
pub(super) fn blues(share: f64) -> RGBColor {
    const STOPS: [(u8, u8, u8); 9] = [
        (247, 251, 255),
        (222, 235, 247),
        (198, 219, 239),
        (158, 202, 225),
        (107, 174, 214),
        (66, 146, 198),
        (33, 113, 181),
        (8, 81, 156),
        (8, 48, 107),
    ];
    let at = share.clamp(0.0, 1.0) * (STOPS.len() - 1) as f64;
    let i = (at.floor() as usize).min(STOPS.len() - 2);
    let t = at - i as f64;
    let mix = |a: u8, b: u8| (f64::from(a) + (f64::from(b) - f64::from(a)) * t).round() as u8;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// Perceived brightness in 0..=1 (Rec. 709 weights), to pick black or white text on a cell.
pub(super) fn luminance(c: RGBColor) -> f64 {
    (0.2126 * f64::from(c.0) + 0.7152 * f64::from(c.1) + 0.0722 * f64::from(c.2)) / 255.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plot::canvas::{has_colour, png_size, render_rgb, svg_texts};

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn png_is_square_ish_grows_with_the_classes_and_shades_by_row_share() {
        let dir = tempfile::tempdir().expect("tempdir");
        let small = dir.path().join("small.png");
        let three = vec![vec![40, 0, 0], vec![3, 12, 5], vec![0, 1, 0]];
        plot_confusion(&small, "confusion", &names(&["neg", "neu", "pos"]), &three, true).expect("plot");
        let (w, h) = png_size(&small);
        assert!((0.7..1.5).contains(&(f64::from(w) / f64::from(h))), "{w}×{h} is not square-ish");

        let labels: Vec<String> = (0..20).map(|i| format!("c{i}")).collect();
        let identity: Vec<Vec<usize>> =
            (0..20).map(|g| (0..20).map(|p| usize::from(g == p)).collect()).collect();
        let big = dir.path().join("big.png");
        plot_confusion(&big, "confusion", &labels, &identity, false).expect("plot");
        let (bw, bh) = png_size(&big);
        assert!(bw > w && bh > h, "20 classes ({bw}×{bh}) need more room than 3 ({w}×{h})");

        // Row "neg" is all on the diagonal: that cell is the darkest shade, whatever its count;
        // a row of one example ("pos" predicted "neu") is just as dark.
        let heatmap =
            Heatmap { title: "t", names: names(&["neg", "neu", "pos"]), matrix: &three, normalised: true };
        let rgb = render_rgb(&heatmap);
        assert!(has_colour(&rgb, blues(1.0)) && has_colour(&rgb, blues(0.6)) && has_colour(&rgb, blues(0.0)));
        assert!(!has_colour(&rgb, blues(0.4)), "no cell has a 40% share");
    }

    #[test]
    fn svg_shows_counts_row_percentages_class_names_and_axis_titles() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("confusion.svg");
        let matrix = vec![vec![12, 3], vec![1, 0]];
        plot_confusion(&path, "run: confusion", &names(&["negative", "positive"]), &matrix, true)
            .expect("plot");
        let texts = svg_texts(&std::fs::read_to_string(&path).expect("read"));
        for text in
            ["run: confusion", "negative", "positive", "predicted", "gold", "12", "3", "80%", "20%", "100%"]
        {
            assert!(texts.iter().any(|t| t == text), "missing {text} in {texts:?}");
        }

        plot_confusion(&path, "counts", &names(&["a", "b"]), &matrix, false).expect("plot");
        let texts = svg_texts(&std::fs::read_to_string(&path).expect("read"));
        assert!(texts.iter().any(|t| t == "12") && !texts.iter().any(|t| t == "80%"), "{texts:?}");
    }

    #[test]
    fn long_class_names_are_cut_where_they_differ() {
        let short = |list: &[&str]| short_names(&names(list));
        let era = "1933-1980 new deal and cold war";
        assert_eq!(short(&["1790-1860 founding", era]), ["1790-1860 founding", era], "kept whole");
        assert_eq!(
            short(&["short", "a-very-long-class-name-that-goes-on-and-on"]),
            ["short", "a-very-long-class-name-that-goe…"]
        );
        let intents = short(&[
            "customer_intent_number_2_request_a",
            "customer_intent_number_12_request_a",
            "customer_intent_number_27_request_a",
        ]);
        assert_eq!(
            intents,
            [
                "…tomer_intent_number_2_request_a",
                "…omer_intent_number_12_request_a",
                "…omer_intent_number_27_request_a"
            ]
        );
        let middle = short(&[
            "shared-prefix-of-some-length-alpha-and-then-a-really-long-tail",
            "shared-prefix-of-some-length-beta-and-then-a-really-long-tail",
        ]);
        assert_eq!(middle, ["…th-alpha-and-then-a-really-lon…", "…th-beta-and-then-a-really-long…"]);
        assert!(middle.iter().chain(&intents).all(|n| n.chars().count() == MAX_NAME_CHARS));

        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("long.svg");
        let labels = names(&["a-long-category-name-of-number-3", "a-long-category-name-of-number-4x"]);
        plot_confusion(&path, "c", &labels, &[vec![1, 0], vec![0, 1]], true).expect("plot");
        let texts = svg_texts(&std::fs::read_to_string(&path).expect("read"));
        assert!(
            texts.iter().any(|t| t == "a-long-category-name-of-number-3")
                && texts.iter().any(|t| t == "…long-category-name-of-number-4x"),
            "{texts:?}"
        );
    }

    #[test]
    fn text_is_white_on_dark_cells_and_black_on_light_ones() {
        assert!(luminance(blues(1.0)) < 0.45 && luminance(blues(0.8)) < 0.45);
        assert!(luminance(blues(0.0)) > 0.45 && luminance(blues(0.3)) > 0.45);
        assert_eq!(percent(0.001), "<1%");
        assert_eq!(percent(0.0), "0%");
    }

    #[test]
    fn a_matrix_that_does_not_fit_the_labels_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("bad.png");
        let err = plot_confusion(&path, "c", &names(&["a", "b"]), &[vec![1, 0]], true).expect_err("1 row");
        assert!(err.to_string().contains("bad.png") && err.to_string().contains("2 × 2"), "{err}");
        assert!(plot_confusion(&path, "c", &[], &[], true).is_err());
        let many: Vec<String> = (0..=MAX_CLASSES).map(|i| i.to_string()).collect();
        let err = plot_confusion(&path, "c", &many, &vec![vec![0; many.len()]; many.len()], true)
            .expect_err("too many")
            .to_string();
        assert!(err.contains("61 classes"), "{err}");
        assert!(!path.exists());
    }
}
