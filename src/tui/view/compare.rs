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
    if c.predictions_page {
        draw_predictions(frame, area, app, theme);
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
    // The difference from the baseline run in points (hundredths) of the figure each run is
    // judged by (test, else validation; as `runs compare`), where the two share that figure.
    let baseline = app.compare.baseline.min(runs.len().saturating_sub(1));
    let figures: Vec<Option<crate::runs::listing::Figure>> =
        runs.iter().map(|r| r.summary.as_ref().and_then(crate::runs::listing::Figure::of)).collect();
    let base = figures.get(baseline).cloned().flatten();
    let delta: Vec<Option<f64>> = figures
        .iter()
        .map(|f| {
            let (f, b) = (f.as_ref()?, base.as_ref()?);
            (f.label() == b.label()).then_some((f.value - b.value) * 100.0)
        })
        .collect();
    let mut columns: Vec<(&str, Vec<Option<f64>>, bool)> = vec![
        // The head's own main figure (accuracy, micro-F1, entity F1, Pearson).
        ("test", test, true),
        ("Δ", delta, true),
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
                        "Δ" if i == baseline => "base".into(),
                        "Δ" => format!("{v:+.1}"),
                        "ex/s" => format!("{v:.0}"),
                        "ECE" => format!("{v:.3}"),
                        _ => format!("{v:.4}"),
                    },
                );
                let is_best =
                    columns[j].0 != "Δ" && vals[i].is_some() && vals[i] == best[j] && runs.len() > 1;
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
                "Δ" | "ex/s" | "ECE" => 5,
                "val loss" => 8,
                _ => 6,
            })
        }))
        .collect();
    let table = Table::new(rows, widths)
        .header(Row::new(header).style(theme.dimmed()))
        .block(panel(format!("Scores (best in green) · Δ: points vs #{} (b)", baseline + 1), theme));
    frame.render_widget(table.style(theme.base), area);
}

/// Run #1 against another: their confusion matrices side by side, and the examples they
/// predict differently, with who was right.
fn draw_predictions(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let c = &app.compare;
    let (Some(first), Some(second)) = (c.runs.first(), c.runs.get(c.other)) else {
        placeholder(
            frame,
            area,
            "Mark two or more runs on the Runs screen (4) to set their predictions side by side.",
            theme,
        );
        return;
    };
    let label = |i: usize| c.labels.get(i).map_or("", String::as_str);
    let [matrices, list_area] =
        Layout::vertical([Constraint::Percentage(45), Constraint::Min(0)]).areas(area);
    let halves = Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).split(matrices);
    for (k, (run, i)) in [(first, 0), (second, c.other)].into_iter().enumerate() {
        let report = run.history.final_eval(&run.predicted_split);
        let title = match report {
            Some(r) => format!("#{} {} · {} accuracy {:.4}", i + 1, label(i), r.split, r.scores.accuracy),
            None => format!("#{} {}", i + 1, label(i)),
        };
        let block = panel(title, theme).border_style(theme.base.fg(theme.series_color(i)));
        let inner = block.inner(halves[k]);
        frame.render_widget(block, halves[k]);
        match report.filter(|r| !r.scores.confusion.is_empty()) {
            Some(r) => frame.render_widget(
                crate::tui::widgets::Heatmap {
                    labels: &r.labels,
                    matrix: &r.scores.confusion,
                    normalised: false,
                    selected: None,
                    theme,
                },
                inner,
            ),
            None => frame.render_widget(
                Paragraph::new("no confusion matrix: the run has no classes (or no final evaluation)")
                    .style(theme.dimmed()),
                inner,
            ),
        }
    }
    let d = &c.disagreements;
    let title = match d {
        Ok(d) => format!(
            "{} of {} {} examples predicted differently: #1 right {}, #{} right {}, both wrong {}{}",
            d.rows.len(),
            d.examples,
            first.predicted_split,
            d.first_right,
            c.other + 1,
            d.second_right,
            d.both_wrong,
            if c.runs.len() > 2 { " · ←→ another run" } else { "" }
        ),
        Err(_) => "Where the runs disagree".to_owned(),
    };
    let block = panel(title, theme);
    let inner = block.inner(list_area);
    frame.render_widget(block, list_area);
    let d = match d {
        Ok(d) if d.rows.is_empty() => {
            return placeholder(frame, inner, "The two runs predict every example alike.", theme);
        }
        Ok(d) => d,
        Err(why) => return placeholder(frame, inner, why, theme),
    };
    let width = inner.width as usize;
    let verdict_w = 40.min(width / 2);
    let text_w = width.saturating_sub(verdict_w + 1);
    let first_shown = c.disagreement_scroll.min(d.rows.len().saturating_sub(1));
    let lines: Vec<Line> = d
        .rows
        .iter()
        .skip(first_shown)
        .take(inner.height as usize)
        .map(|&i| {
            let (a, b) = (&first.predictions[i], &second.predictions[i]);
            let mark =
                |p: &crate::report::Prediction| if p.predicted == p.gold { theme.good } else { theme.bad };
            Line::from(vec![
                Span::raw(format!("{:<text_w$} ", cut(&a.text, text_w))),
                Span::styled(format!("gold {} ", cut(&a.gold, 10)), theme.dimmed()),
                Span::styled(format!("#1 {} ", cut(&a.predicted, 10)), theme.base.fg(mark(a))),
                Span::styled(format!("#{} {}", c.other + 1, cut(&b.predicted, 10)), theme.base.fg(mark(b))),
            ])
        })
        .collect();
    frame.render_widget(Paragraph::new(lines).style(theme.base), inner);
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
