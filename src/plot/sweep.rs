//! A sweep's summary plot: the score against the varied setting (or the number of labelled
//! examples), one line per value of the other settings, each point the mean over seeds with
//! an error bar of ± one standard deviation; the contrast of two settings written beneath.

use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;

use super::Format;
use super::canvas::{Chart, FONT, PALETTE, render};
use crate::error::{Error, Result};
use crate::experiment::Results;

const SIZE: (u32, u32) = (1200, 760);

/// Writes the summary plot of `results` as `<out>/<sweep id>-summary.<format>` (a number
/// added when taken) and returns its path.
pub fn export_sweep(results: &Results, format: Format, out: &Path) -> Result<PathBuf> {
    let summary = results.summary.as_ref().ok_or_else(|| {
        Error::Config(format!(
            "sweep {} varies no numeric setting: its table and contrast say it all, there is no curve to plot",
            results.sweep
        ))
    })?;
    if summary.curves.iter().all(|c| c.points.is_empty()) {
        return Err(Error::Config(format!(
            "sweep {}: no run has finished yet, nothing to plot",
            results.sweep
        )));
    }
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let path = crate::runs::free_path(out, &format!("{}-summary", results.sweep), format.extension());
    render(&path, &SweepChart { results })?;
    Ok(path)
}

struct SweepChart<'a> {
    results: &'a Results,
}

impl Chart for SweepChart<'_> {
    fn size(&self) -> (u32, u32) {
        SIZE
    }

    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        root.fill(&WHITE)?;
        let r = self.results;
        let Some(summary) = &r.summary else { return Ok(()) };
        let notes = r.contrast_lines();
        let notes_height = 30 * notes.len().min(4) as u32 + 10;
        let (plot, below) = root.split_vertically(SIZE.1 - notes_height);
        // A ratio scale is drawn on log10 of x; the ticks say the values themselves.
        let to_x = |x: f64| if summary.log_x { x.log10() } else { x };
        let points = || summary.curves.iter().flat_map(|c| c.points.iter().copied());
        let xs: Vec<f64> = points().map(|p| to_x(p.0)).collect();
        let (lo, hi) = xs.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| (a.min(x), b.max(x)));
        let pad = ((hi - lo) * 0.06).max(0.05);
        let (ylo, yhi) = points()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| (a.min(p.1 - p.2), b.max(p.1 + p.2)));
        // At least 0.2 of the score's scale: differences smaller than the seeds' spread must
        // not look like a cliff.
        let ypad = ((yhi - ylo) * 0.1).max((0.2 - (yhi - ylo)) / 2.0).max(0.02);
        let seeds = r.seeds.len();
        let title = format!(
            "{}: {} (mean ± sd over {seeds} seed{})",
            r.name,
            r.metric,
            if seeds == 1 { "" } else { "s" }
        );
        let mut chart = ChartBuilder::on(&plot)
            .caption(title, (FONT, 28))
            .margin(24)
            .x_label_area_size(64)
            .y_label_area_size(90)
            .build_cartesian_2d(lo - pad..hi + pad, (ylo - ypad)..(yhi + ypad))?;
        chart
            .configure_mesh()
            .x_desc(summary.x_label.as_str())
            .y_desc(r.metric.as_str())
            .axis_desc_style((FONT, 22))
            .label_style((FONT, 18))
            .bold_line_style(RGBColor(220, 220, 220))
            .light_line_style(RGBColor(246, 246, 246))
            // The ticks are the measured x values themselves (below): 16, 32, 92, 300 labelled
            // examples read better than a log axis's 25, 40, 63.
            .x_labels(0)
            .y_label_formatter(&|v| format!("{v:.2}"))
            .draw()?;
        let mut ticks: Vec<f64> = points().map(|p| p.0).collect();
        ticks.sort_by(f64::total_cmp);
        ticks.dedup_by(|a, b| (*a - *b).abs() <= 1e-9 * b.abs().max(1.0));
        let bottom = ylo - ypad;
        let tick_font = (FONT, 18).into_font().color(&BLACK);
        chart.draw_series(ticks.iter().map(|&x| {
            let text = crate::runs::label::tick(x);
            let half = i32::try_from(text.chars().count() * 5).unwrap_or(0);
            EmptyElement::at((to_x(x), bottom))
                + PathElement::new(vec![(0, 0), (0, 6)], BLACK.stroke_width(1))
                + Text::new(text, (-half, 10), tick_font.clone())
        }))?;
        for (i, curve) in summary.curves.iter().enumerate() {
            let colour = PALETTE[i % PALETTE.len()];
            let line: Vec<(f64, f64)> = curve.points.iter().map(|p| (to_x(p.0), p.1)).collect();
            chart
                .draw_series(LineSeries::new(line.clone(), colour.stroke_width(3)))?
                .label(curve.label.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], colour.stroke_width(3)));
            // ± one standard deviation: a vertical bar with caps (plotters' `ErrorBar` needs a
            // feature of its own for these few lines).
            chart.draw_series(curve.points.iter().map(|p| {
                let x = to_x(p.0);
                PathElement::new(vec![(x, p.1 - p.2), (x, p.1 + p.2)], colour.stroke_width(2))
            }))?;
            for cap in [-1.0, 1.0] {
                chart.draw_series(curve.points.iter().map(|p| {
                    EmptyElement::at((to_x(p.0), p.1 + cap * p.2))
                        + PathElement::new(vec![(-7, 0), (7, 0)], colour.stroke_width(2))
                }))?;
            }
            chart.draw_series(line.iter().map(|&p| Circle::new(p, 6, colour.filled())))?;
        }
        if summary.curves.len() < 2 {
            // One line needs no legend: the title says what it is.
        } else {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::LowerRight)
                .margin(16)
                .label_font((FONT, 20))
                .background_style(WHITE.filled())
                .border_style(RGBColor(160, 160, 160))
                .draw()?;
        }
        for (k, note) in notes.iter().take(4).enumerate() {
            below.draw(&Text::new(
                note.clone(),
                (40, 30 * i32::try_from(k).unwrap_or(0)),
                (FONT, 20).into_font().color(&BLACK),
            ))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiment::results::{Curve, Summary};
    use crate::plot::canvas::{png_size, svg_texts};

    fn results(curves: Vec<Curve>) -> Results {
        Results {
            sweep: "budget-12345678".into(),
            name: "budget".into(),
            metric: "test accuracy".into(),
            seeds: vec![1, 2, 3],
            rows: Vec::new(),
            runs_total: 6,
            runs_finished: 6,
            contrast: None,
            summary: Some(Summary { x_label: "labelled training examples".into(), log_x: true, curves }),
        }
    }

    #[test]
    fn the_summary_plot_names_its_axes_curves_and_seeds() {
        let tmp = tempfile::tempdir().expect("tmp");
        let r = results(vec![
            Curve { label: "pretrained".into(), points: vec![(15.0, 0.4, 0.05), (300.0, 0.71, 0.02)] },
            Curve { label: "from scratch".into(), points: vec![(15.0, 0.27, 0.02), (300.0, 0.54, 0.01)] },
        ]);
        let svg = export_sweep(&r, Format::Svg, tmp.path()).expect("svg");
        let texts = svg_texts(&std::fs::read_to_string(&svg).expect("read"));
        for text in [
            "budget: test accuracy (mean ± sd over 3 seeds)",
            "labelled training examples",
            "pretrained",
            "from scratch",
        ] {
            assert!(texts.iter().any(|t| t == text), "missing {text:?} in {texts:?}");
        }
        let png = export_sweep(&r, Format::Png, tmp.path()).expect("png");
        assert_eq!(png_size(&png), SIZE);
        let again = export_sweep(&r, Format::Png, tmp.path()).expect("again");
        assert_ne!(again, png, "an export never replaces an earlier one");
    }

    #[test]
    fn nothing_to_plot_is_said() {
        let tmp = tempfile::tempdir().expect("tmp");
        let err = export_sweep(&results(vec![]), Format::Png, tmp.path()).expect_err("empty");
        assert!(err.to_string().contains("no run has finished"), "{err}");
        let mut none = results(vec![]);
        none.summary = None;
        let err = export_sweep(&none, Format::Png, tmp.path()).expect_err("no curve");
        assert!(err.to_string().contains("varies no numeric setting"), "{err}");
    }
}
