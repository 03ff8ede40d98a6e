//! Compare: the marked runs' curves overlaid, their headline numbers (best per column
//! highlighted) and the settings in which they differ.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table};

use super::{bold, cut, panel, placeholder};
use crate::runs::compare::Align;
use crate::tui::app::App;
use crate::tui::theme::Theme;
use crate::tui::widgets::{Curve, render_chart};

pub fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let c = &app.compare;
    if c.runs.is_empty() {
        placeholder(
            frame,
            area,
            "Nothing to compare yet.\nOn the Runs screen (4), mark runs with Space, then press c.",
            theme,
        );
        return;
    }
    let [chart_area, bottom] = Layout::vertical([Constraint::Percentage(55), Constraint::Min(0)]).areas(area);
    let curves: Vec<Curve> = c
        .runs
        .iter()
        .zip(&c.curves)
        .enumerate()
        .map(|(i, (_, points))| Curve {
            name: format!("#{} {}", i + 1, cut(c.labels.get(i).map_or("", String::as_str), 28)),
            points,
            color: theme.series_color(i),
        })
        .collect();
    let x = if c.align == Align::Step { "step" } else { "epoch" };
    let title = format!("{} by {x}", c.metric.label());
    let range = c.metric.unit_range().then_some([0.0, 1.0]);
    render_chart(chart_area, frame.buffer_mut(), panel(title, theme), &curves, x, range, theme);
    let [table_area, diff_area] = Layout::horizontal([
        Constraint::Percentage(if area.width < 100 { 64 } else { 58 }),
        Constraint::Min(0),
    ])
    .areas(bottom);
    draw_metrics(frame, table_area, app, theme);
    draw_diff(frame, diff_area, app, theme);
}

/// Headline numbers; the best value of each column is bold and coloured.
fn draw_metrics(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let runs = &app.compare.runs;
    // (header, value per run, higher is better)
    let col = |f: &dyn Fn(&crate::report::RunSummary) -> Option<f64>| -> Vec<Option<f64>> {
        runs.iter().map(|r| r.summary.as_ref().and_then(f)).collect()
    };
    let test = col(&|s| s.test.as_ref().map(|v| v.headline().1));
    // The difference from run #1, in points (hundredths) of the test score.
    let base = test.first().copied().flatten();
    let delta: Vec<Option<f64>> = test.iter().map(|t| Some((t.as_ref()? - base?) * 100.0)).collect();
    let mut columns: Vec<(&str, Vec<Option<f64>>, bool)> = vec![
        // The head's own main figure (accuracy, micro-F1, entity F1, Pearson).
        ("test", test, true),
        ("Δ #1", delta, true),
        ("val", col(&|s| s.valid.as_ref().map(|v| v.headline().1)), true),
        ("val loss", col(&|s| s.valid.as_ref().map(|v| v.loss)), false),
        ("ex/s", col(&|s| Some(s.train_examples_per_sec)), true),
        // Calibration of the kept model on test (lower is better; classes and label sets).
        ("ECE", col(&|s| s.test.as_ref().and_then(|v| v.extra.get("ece").copied())), false),
    ];
    // Narrow: the label keeps room; validation loss and ECE are on the wide layout.
    if area.width < 60 {
        columns.retain(|c| !matches!(c.0, "val loss" | "ECE"));
    }
    let best: Vec<Option<f64>> = columns
        .iter()
        .map(|(_, vals, higher)| {
            vals.iter().flatten().copied().reduce(|a, b| if (b > a) == *higher { b } else { a })
        })
        .collect();
    let rows: Vec<Row> = runs
        .iter()
        .enumerate()
        .map(|(i, _)| {
            let label = app.compare.labels.get(i).map_or("", String::as_str);
            let mut cells = vec![Cell::from(Span::styled(
                format!("#{} {label}", i + 1),
                bold(theme.base.fg(theme.series_color(i))),
            ))];
            for (j, (_, vals, _)) in columns.iter().enumerate() {
                let text = vals[i].map_or_else(
                    || "-".into(),
                    |v| match columns[j].0 {
                        "Δ #1" if i == 0 => "base".into(),
                        "Δ #1" => format!("{v:+.1}"),
                        "ex/s" => format!("{v:.0}"),
                        "ECE" => format!("{v:.3}"),
                        _ => format!("{v:.4}"),
                    },
                );
                let is_best =
                    columns[j].0 != "Δ #1" && vals[i].is_some() && vals[i] == best[j] && runs.len() > 1;
                let style = if is_best { bold(theme.base.fg(theme.good)) } else { theme.base };
                cells.push(Cell::from(Span::styled(text, style)));
            }
            Row::new(cells)
        })
        .collect();
    let mut header = vec!["run"];
    header.extend(columns.iter().map(|c| c.0));
    let widths: Vec<Constraint> = std::iter::once(Constraint::Min(12))
        .chain(columns.iter().map(|(name, _, _)| {
            Constraint::Length(match *name {
                "Δ #1" | "ex/s" | "ECE" => 5,
                "val loss" => 8,
                _ => 6,
            })
        }))
        .collect();
    let table = Table::new(rows, widths)
        .header(Row::new(header).style(theme.dimmed()))
        .block(panel("Scores (accuracy, F1 or Pearson; best in green; Δ: test points against #1)", theme));
    frame.render_widget(table.style(theme.base), area);
}

fn draw_diff(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let c = &app.compare;
    let diff = &c.diff;
    let block = panel(format!("Settings that differ ({})", diff.len()), theme);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let lines: Vec<Line> = if diff.is_empty() {
        vec![Line::styled(
            if c.runs.len() < 2 {
                "mark two or more runs to see their differences"
            } else {
                "the runs share every setting"
            },
            theme.dimmed(),
        )]
    } else {
        // Every value whole: a setting per line, wrapped, each run's value in its colour.
        diff.iter()
            .skip(c.scroll.min(diff.len().saturating_sub(1)))
            .map(|(key, values)| {
                let mut spans = vec![Span::styled(format!("{key}: "), theme.dimmed())];
                for (i, v) in values.iter().enumerate() {
                    let style: Style = theme.base.fg(theme.series_color(i));
                    spans.push(Span::styled(format!("#{} {v}  ", i + 1), style));
                }
                Line::from(spans)
            })
            .collect()
    };
    frame.render_widget(Paragraph::new(lines).wrap(ratatui::widgets::Wrap { trim: false }), inner);
}
