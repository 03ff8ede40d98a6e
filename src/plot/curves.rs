//! Line charts: one or more curves over a shared x axis (loss or scores against steps).

use std::ops::Range;
use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::Curve;
use super::canvas::{Chart, FONT, PALETTE, render};
use crate::error::Result;

const SIZE: (u32, u32) = (1200, 700);
/// Curves with at most this many points are evaluations, not per-step values: each point is a
/// measurement worth seeing, so it gets a marker.
const MARKER_MAX_POINTS: usize = 60;

/// Draws `curves` as lines into `path` (PNG or SVG by extension). NaN and infinite points are
/// left out; curves with an empty label or no finite points get no legend entry.
pub fn plot_curves(path: &Path, title: &str, x_label: &str, y_label: &str, curves: &[Curve]) -> Result<()> {
    let curves = curves
        .iter()
        .map(|c| Curve {
            label: c.label.clone(),
            points: c.points.iter().copied().filter(|(x, y)| x.is_finite() && y.is_finite()).collect(),
        })
        .collect();
    render(path, &Lines { title, x_label, y_label, curves, points_from: usize::MAX })
}

/// Predicted (y) against gold (x) values as points, with the diagonal a perfect model would
/// sit on.
pub fn plot_scatter(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    points: Vec<(f64, f64)>,
) -> Result<()> {
    let points: Vec<(f64, f64)> =
        points.into_iter().filter(|(x, y)| x.is_finite() && y.is_finite()).collect();
    let curves =
        vec![Curve::new("perfect prediction", super::identity_line(&points)), Curve::new("examples", points)];
    render(path, &Lines { title, x_label, y_label, curves, points_from: 1 })
}

struct Lines<'a> {
    title: &'a str,
    x_label: &'a str,
    y_label: &'a str,
    /// Finite points only.
    curves: Vec<Curve>,
    /// Curves from this index on are drawn as points only (a scatter).
    points_from: usize,
}

impl Chart for Lines<'_> {
    fn size(&self) -> (u32, u32) {
        SIZE
    }

    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        root.fill(&WHITE)?;
        let points = || self.curves.iter().flat_map(|c| c.points.iter().copied());
        let x_range = padded_range(points().map(|p| p.0), 0.02);
        let y_range = padded_range(points().map(|p| p.1), 0.08);
        let (x_span, y_span) = (x_range.end - x_range.start, y_range.end - y_range.start);
        let legend_at = legend_corner(&self.curves, &x_range, &y_range);

        let mut chart = ChartBuilder::on(root)
            .caption(self.title, (FONT, 30))
            .margin(24)
            .x_label_area_size(64)
            .y_label_area_size(100)
            .build_cartesian_2d(x_range, y_range)?;
        chart
            .configure_mesh()
            .x_desc(self.x_label)
            .y_desc(self.y_label)
            .axis_desc_style((FONT, 22))
            .label_style((FONT, 18))
            .bold_line_style(RGBColor(220, 220, 220))
            .light_line_style(RGBColor(246, 246, 246))
            .x_label_formatter(&|v| tick_label(*v, x_span))
            .y_label_formatter(&|v| tick_label(*v, y_span))
            .draw()?;

        for (i, curve) in self.curves.iter().enumerate() {
            let colour = PALETTE[i % PALETTE.len()];
            let scatter = i >= self.points_from;
            if scatter {
                let dot = colour.mix(0.6).filled();
                let series = chart.draw_series(curve.points.iter().map(|&p| Circle::new(p, 4, dot)))?;
                if has_legend(curve) {
                    series.label(curve.label.as_str()).legend(move |(x, y)| Circle::new((x + 12, y), 5, dot));
                }
                continue;
            }
            let markers = curve.points.len() <= MARKER_MAX_POINTS;
            // Per-step values zigzag between neighbouring pixels; plotters draws wide lines as
            // polygons whose joints spike at such sharp turns, so dense curves get a thin line.
            let width = if markers { 3 } else { 1 };
            let series = chart
                .draw_series(LineSeries::new(curve.points.iter().copied(), colour.stroke_width(width)))?;
            if has_legend(curve) {
                series.label(curve.label.as_str()).legend(move |(x, y)| {
                    let line = PathElement::new(vec![(-14, 0), (14, 0)], colour.stroke_width(3));
                    EmptyElement::at((x + 12, y)) + line + marker(markers.then_some(i), colour)
                });
            }
            if markers {
                chart.draw_series(
                    curve.points.iter().map(|&p| EmptyElement::at(p) + marker(Some(i), colour)),
                )?;
            }
        }
        if self.curves.iter().any(has_legend) {
            chart
                .configure_series_labels()
                .position(legend_at)
                .margin(16)
                .label_font((FONT, 20))
                .background_style(WHITE.filled())
                .border_style(RGBColor(160, 160, 160))
                .draw()?;
        }
        Ok(())
    }
}

/// The marker of the `index`th curve, centred on (0, 0). The shape changes along with the
/// colour, so curves lying on top of each other (accuracy and macro-F1 often do) and readers
/// who cannot tell the colours apart still see each one. `None`: no marker. Every shape is a
/// polygon so that one element type serves them all.
fn marker(index: Option<usize>, colour: RGBColor) -> Polygon<(i32, i32)> {
    let outline = match index.map(|i| i % 4) {
        None => vec![],
        Some(0) => (0..16)
            .map(|k| {
                let angle = f64::from(k) * std::f64::consts::TAU / 16.0;
                ((5.5 * angle.cos()).round() as i32, (5.5 * angle.sin()).round() as i32)
            })
            .collect(),
        Some(1) => vec![(0, -7), (7, 5), (-7, 5)],
        Some(2) => vec![(-5, -5), (5, -5), (5, 5), (-5, 5)],
        Some(_) => vec![(0, -7), (7, 0), (0, 7), (-7, 0)],
    };
    Polygon::new(outline, colour.filled())
}

/// A curve with no points to draw keeps its colour (so runs keep theirs across charts) but gets
/// no legend entry, which would point at nothing.
fn has_legend(curve: &Curve) -> bool {
    !curve.label.is_empty() && !curve.points.is_empty()
}

/// The range spanned by `values`, widened by `pad` of its span on both sides. Never empty: a
/// single value (or none) still gets an axis to sit on.
fn padded_range(values: impl Iterator<Item = f64>, pad: f64) -> Range<f64> {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if lo > hi {
        return 0.0..1.0;
    }
    let span = hi - lo;
    if span > 0.0 {
        return lo - span * pad..hi + span * pad;
    }
    let half = if lo == 0.0 { 0.5 } else { lo.abs() * 0.05 };
    lo - half..hi + half
}

/// A tick label with as many decimals as ticks about a tenth of `span` apart need, so step
/// counts read as integers and small losses keep their digits.
fn tick_label(v: f64, span: f64) -> String {
    let decimals = (1.0 - span.log10().floor()).max(0.0) as usize;
    // `+ 0.0` turns -0.0 into 0.0, which would otherwise print as "-0".
    format!("{:.*}", decimals, v + 0.0)
}

/// The corner of the plot where the legend covers the fewest points of the curves. Lines between
/// points count too (sampled), since a legend over a line hides it as much as over a point.
fn legend_corner(curves: &[Curve], x: &Range<f64>, y: &Range<f64>) -> SeriesLabelPosition {
    // The legend's share of the plotting area (about 1050 × 560 px): 30 px per entry, ~11 px a
    // character plus the sample line.
    let longest = curves.iter().map(|c| c.label.chars().count()).max().unwrap_or(0);
    let width = ((longest * 11 + 90) as f64 / 1050.0).min(1.0);
    let height = ((curves.len() * 30 + 40) as f64 / 560.0).min(1.0);
    let to_unit =
        |(px, py): (f64, f64)| ((px - x.start) / (x.end - x.start), (py - y.start) / (y.end - y.start));
    let samples: Vec<(f64, f64)> = curves
        .iter()
        .flat_map(|c| {
            c.points
                .windows(2)
                .flat_map(|w| (0..8).map(move |k| lerp(w[0], w[1], f64::from(k) / 8.0)))
                .chain(c.points.last().copied())
        })
        .map(to_unit)
        .collect();
    let covered = |right: bool, top: bool| {
        samples
            .iter()
            .filter(|&&(ux, uy)| {
                let in_x = if right { ux >= 1.0 - width } else { ux <= width };
                let in_y = if top { uy >= 1.0 - height } else { uy <= height };
                in_x && in_y
            })
            .count()
    };
    [
        (SeriesLabelPosition::UpperRight, covered(true, true)),
        (SeriesLabelPosition::UpperLeft, covered(false, true)),
        (SeriesLabelPosition::LowerRight, covered(true, false)),
        (SeriesLabelPosition::LowerLeft, covered(false, false)),
    ]
    .into_iter()
    .min_by_key(|&(_, n)| n)
    .map_or(SeriesLabelPosition::UpperRight, |(pos, _)| pos)
}

fn lerp(a: (f64, f64), b: (f64, f64), t: f64) -> (f64, f64) {
    (a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plot::canvas::{has_colour, png_size, render_rgb, svg_texts};

    fn falling(n: usize) -> Vec<(f64, f64)> {
        (0..n).map(|i| (i as f64 * 10.0, 2.0 / (1.0 + i as f64 * 0.1))).collect()
    }

    fn sample() -> Vec<Curve> {
        vec![
            Curve::new("train", falling(200)),
            Curve::new("valid", vec![(500.0, 0.9), (1000.0, 0.6), (1990.0, 0.5)]),
        ]
    }

    #[test]
    fn png_has_the_chart_size_and_both_curves_in_their_colours() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("loss.png");
        plot_curves(&path, "run: loss", "step", "loss", &sample()).expect("plot");
        assert_eq!(png_size(&path), SIZE);
        assert!(std::fs::metadata(&path).expect("stat").len() > 10_000);
        let chart =
            Lines { title: "t", x_label: "step", y_label: "loss", curves: sample(), points_from: usize::MAX };
        let rgb = render_rgb(&chart);
        assert!(has_colour(&rgb, PALETTE[0]) && has_colour(&rgb, PALETTE[1]));
        assert!(!has_colour(&rgb, PALETTE[2]), "only two curves were drawn");
    }

    #[test]
    fn svg_labels_axes_title_and_legend() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("loss.svg");
        plot_curves(&path, "run-7: loss", "step", "loss", &sample()).expect("plot");
        let texts = svg_texts(&std::fs::read_to_string(&path).expect("read"));
        for text in ["run-7: loss", "step", "loss", "train", "valid"] {
            assert!(texts.iter().any(|t| t == text), "missing {text} in {texts:?}");
        }
        // Step ticks read as integers, not "1000.0".
        assert!(texts.iter().any(|t| t == "1000"), "integer x ticks in {texts:?}");
    }

    #[test]
    fn non_finite_points_are_skipped_and_a_single_point_still_shows() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("odd.svg");
        let curves = [
            Curve::new("noisy", vec![(0.0, 1.0), (1.0, f64::NAN), (2.0, f64::INFINITY), (3.0, 0.5)]),
            Curve::new("gone", vec![(0.0, f64::NAN)]),
        ];
        plot_curves(&path, "odd", "step", "loss", &curves).expect("plot");
        let svg = std::fs::read_to_string(&path).expect("read");
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
        let texts = svg_texts(&svg);
        assert!(texts.iter().any(|t| t == "noisy"), "{texts:?}");
        assert!(!texts.iter().any(|t| t == "gone"), "no legend entry for a curve with no points");

        let single = Lines {
            title: "one",
            x_label: "step",
            y_label: "loss",
            curves: vec![Curve::new("one", vec![(5.0, 0.3)])],
            points_from: usize::MAX,
        };
        assert!(has_colour(&render_rgb(&single), PALETTE[0]), "a lone point is drawn as a marker");
        assert!(padded_range([5.0].into_iter(), 0.1).contains(&5.0));
        assert_eq!(padded_range([0.0, 0.0].into_iter(), 0.1), -0.5..0.5);
        assert_eq!(padded_range(std::iter::empty(), 0.1), 0.0..1.0);
    }

    #[test]
    fn a_scatter_draws_one_dot_per_finite_point_and_the_diagonal() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("s.svg");
        let points = vec![(1.0, 1.5), (2.0, 1.0), (3.0, 3.5), (f64::NAN, 2.0)];
        plot_scatter(&path, "values", "gold", "predicted", points).expect("plot");
        let svg = std::fs::read_to_string(&path).expect("svg");
        // Three dots and the legend's dot; the NaN point is left out.
        assert_eq!(svg.matches("<circle").count(), 4, "{svg}");
        assert!(svg.contains("perfect prediction") && svg.contains("predicted"));
    }

    #[test]
    fn tick_labels_carry_the_decimals_the_span_needs() {
        assert_eq!(tick_label(1500.0, 2000.0), "1500");
        assert_eq!(tick_label(0.5, 2.0), "0.5");
        assert_eq!(tick_label(0.012, 0.05), "0.012");
        assert_eq!(tick_label(-0.0, 1.0), "0.0");
    }

    #[test]
    fn legend_goes_to_the_emptiest_corner() {
        let (unit_x, unit_y) = (0.0..1.0, 0.0..1.0);
        let down = [Curve::new("loss", vec![(0.0, 1.0), (1.0, 0.0)])];
        assert!(matches!(legend_corner(&down, &unit_x, &unit_y), SeriesLabelPosition::UpperRight));
        let up = [Curve::new("accuracy", vec![(0.0, 0.0), (1.0, 1.0)])];
        assert!(matches!(legend_corner(&up, &unit_x, &unit_y), SeriesLabelPosition::UpperLeft));
        let high = [Curve::new("flat", vec![(0.0, 0.95), (1.0, 0.95)])];
        assert!(matches!(legend_corner(&high, &unit_x, &unit_y), SeriesLabelPosition::LowerRight));
    }
}
