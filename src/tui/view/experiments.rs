//! Experiments: a sweep's table filling in as its runs finish (one row per setting, mean ± sd
//! over seeds, the best marked), the difference between two settings in words, and the
//! summary chart: the score against the varied setting, one line per value of the others.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Cell, Chart, Dataset, GraphType, Paragraph, Row, Table, TableState, Wrap};

use super::{bold, cut, panel, placeholder};
use crate::experiment::results::Summary;
use crate::tui::app::App;
use crate::tui::theme::Theme;

pub fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let x = &app.experiments;
    let Some(entry) = x.current() else {
        let mut text = "No sweeps yet.\nOn New run (1): b compares pretrained and from scratch, L draws the label-budget \
                        curve, s with seeds per setting above 1 repeats a run; or run `bertbench sweep FILE` \
                        (experiments/recipes/lesson-*.toml)."
            .to_owned();
        for problem in &x.problems {
            text = format!("{text}\n\n{problem}");
        }
        placeholder(frame, area, &text, theme);
        return;
    };
    let r = &entry.results;
    let rows = x.rows();
    let table_height = (rows.len() as u16 + 3).min(area.height / 2).max(5);
    let [table_area, bottom] =
        Layout::vertical([Constraint::Length(table_height), Constraint::Min(0)]).areas(area);
    let which = if x.sweeps.len() > 1 {
        format!(" · sweep {}/{} (←→)", x.selected + 1, x.sweeps.len())
    } else {
        String::new()
    };
    let narrow = area.width < 100;
    let seeds = r.seeds.iter().map(u64::to_string).collect::<Vec<_>>().join(", ");
    let title = if narrow {
        format!("{} · {}/{} finished · by {}{which}", r.name, r.runs_finished, r.runs_total, x.sort.label())
    } else {
        format!(
            "{} · {}/{} runs finished · seeds {seeds} · sorted by {}{which}",
            r.name,
            r.runs_finished,
            r.runs_total,
            x.sort.label()
        )
    };
    let mut progress_width = 4;
    let table_rows: Vec<Row> = rows
        .iter()
        .map(|row| {
            let score = row.score_text();
            let state: Vec<&str> = row.runs.iter().map(|r| r.status.as_str()).collect();
            let busy = state.iter().filter(|s| !matches!(**s, "finished")).count();
            let progress = if busy == 0 {
                format!("{}/{}", row.scored, row.runs.len())
            } else {
                format!("{}/{} ({})", row.scored, row.runs.len(), summarise(&state))
            };
            progress_width = progress_width.max(progress.chars().count() as u16);
            let style = if row.best { bold(theme.base.fg(theme.good)) } else { theme.base };
            let mut cells = vec![
                Cell::from(format!("{}{}", if row.best { "★ " } else { "  " }, row.label)).style(style),
                Cell::from(progress),
                Cell::from(row.train_examples.map_or_else(|| "-".into(), |n| format!("{n:.0}"))),
                Cell::from(score).style(style),
            ];
            if !narrow {
                let each: Vec<String> = row
                    .runs
                    .iter()
                    .map(|r| r.score.map_or_else(|| "-".into(), |s| format!("{s:.3}")))
                    .collect();
                cells.push(Cell::from(each.join(" ")).style(theme.dimmed()));
            }
            Row::new(cells)
        })
        .collect();
    let mut header =
        vec!["setting".to_owned(), "runs".into(), "examples".into(), format!("{} ± sd", r.metric)];
    // The score column fits its header ("validation accuracy ± sd") and "0.7100 ± 0.0180".
    let score_width = (header[3].chars().count() as u16).max(17);
    let mut widths = vec![
        Constraint::Min(20),
        Constraint::Length(progress_width.min(24)),
        Constraint::Length(8),
        Constraint::Length(score_width),
    ];
    if !narrow {
        header.push("each seed".into());
        widths.push(Constraint::Length(6 * r.seeds.len().min(5) as u16));
    }
    let table = Table::new(table_rows, widths)
        .header(Row::new(header).style(theme.dimmed()))
        .block(panel(title, theme))
        .row_highlight_style(theme.highlight)
        .style(theme.base);
    let mut state = TableState::default().with_selected(Some(x.cursor));
    frame.render_stateful_widget(table, table_area, &mut state);

    let [chart_area, notes_area] =
        Layout::horizontal([Constraint::Percentage(if narrow { 55 } else { 62 }), Constraint::Min(0)])
            .areas(bottom);
    match &r.summary {
        Some(summary) if summary.curves.iter().any(|c| !c.points.is_empty()) => {
            draw_summary(frame, chart_area, summary, &r.metric, theme);
        }
        Some(_) => placeholder(frame, chart_area, "The chart fills in as the runs finish.", theme),
        None => draw_bars(frame, chart_area, r, theme),
    }
    draw_notes(frame, notes_area, app, theme);
}

/// `2 pending, 1 cancelled`.
fn summarise(states: &[&str]) -> String {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for s in states.iter().filter(|s| **s != "finished") {
        match counts.iter_mut().find(|(k, _)| k == s) {
            Some((_, n)) => *n += 1,
            None => counts.push((s, 1)),
        }
    }
    counts.iter().map(|(k, n)| format!("{n} {k}")).collect::<Vec<_>>().join(", ")
}

/// The summary curves, means joined by lines and ± sd as vertical bars; a ratio scale (label
/// budgets, learning rates) on log10 of x, its ticks in the values themselves.
fn draw_summary(frame: &mut Frame, area: Rect, summary: &Summary, metric: &str, theme: &Theme) {
    let to_x = |x: f64| if summary.log_x { x.log10() } else { x };
    let lines: Vec<Vec<(f64, f64)>> =
        summary.curves.iter().map(|c| c.points.iter().map(|p| (to_x(p.0), p.1)).collect()).collect();
    let bars: Vec<Vec<(f64, f64)>> = summary
        .curves
        .iter()
        .flat_map(|c| c.points.iter().map(move |p| vec![(to_x(p.0), p.1 - p.2), (to_x(p.0), p.1 + p.2)]))
        .collect();
    let bar_colour: Vec<usize> =
        summary.curves.iter().enumerate().flat_map(|(i, c)| std::iter::repeat_n(i, c.points.len())).collect();
    let all = || summary.curves.iter().flat_map(|c| c.points.iter());
    let (xlo, xhi) =
        all().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| (a.min(to_x(p.0)), b.max(to_x(p.0))));
    let (ylo, yhi) =
        all().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| (a.min(p.1 - p.2), b.max(p.1 + p.2)));
    // The x axis spans the measured values exactly, so that its end labels are two of them.
    let xpad = if xhi > xlo { 0.0 } else { 0.5 };
    let ypad = ((yhi - ylo) * 0.1).max((0.2 - (yhi - ylo)) / 2.0).max(0.02);
    let (xb, yb) = ([xlo - xpad, xhi + xpad], [ylo - ypad, yhi + ypad]);
    let tick = |v: f64| {
        let v = if summary.log_x { 10f64.powf(v) } else { v };
        if v.abs() >= 10.0 {
            format!("{v:.0}")
        } else if v.abs() < 0.01 {
            format!("{v:.0e}")
        } else {
            format!("{v:.2}")
        }
    };
    let mut datasets: Vec<Dataset> = lines
        .iter()
        .zip(&summary.curves)
        .enumerate()
        .map(|(i, (points, c))| {
            Dataset::default()
                .name(c.label.clone())
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(Style::new().fg(theme.series_color(i)))
                .data(points)
        })
        .collect();
    datasets.extend(bars.iter().zip(&bar_colour).map(|(bar, &i)| {
        Dataset::default()
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(Style::new().fg(theme.series_color(i)))
            .data(bar)
    }));
    let title = format!("{metric} against {} (bars: ± sd)", summary.x_label);
    let axis = theme.dimmed();
    let chart = Chart::new(datasets)
        .block(panel(title, theme))
        .style(theme.base)
        .legend_position(Some(ratatui::widgets::LegendPosition::BottomRight))
        .hidden_legend_constraints((Constraint::Percentage(70), Constraint::Percentage(60)))
        .x_axis(
            Axis::default()
                .bounds(xb)
                .labels([tick(xb[0]), tick(f64::midpoint(xb[0], xb[1])), tick(xb[1])])
                .style(axis),
        )
        .y_axis(
            Axis::default()
                .bounds(yb)
                .labels([
                    format!("{:.2}", yb[0]),
                    format!("{:.2}", f64::midpoint(yb[0], yb[1])),
                    format!("{:.2}", yb[1]),
                ])
                .style(axis),
        );
    frame.render_widget(chart, area);
}

/// Each setting's mean as a bar on a 0–1 scale, ± sd in figures: the picture of a sweep that
/// varies no numeric setting (pretrained against from scratch).
fn draw_bars(frame: &mut Frame, area: Rect, r: &crate::experiment::Results, theme: &Theme) {
    let block = panel(format!("{} by setting, 0 to 1 (mean ± sd)", r.metric), theme);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let label_w =
        r.rows.iter().map(|row| row.label.chars().count()).max().unwrap_or(0).min(inner.width as usize / 3);
    let figures_w = 16;
    let bar_w = (inner.width as usize).saturating_sub(label_w + figures_w + 2);
    let mut lines = Vec::new();
    for (i, row) in r.rows.iter().enumerate() {
        let Some(mean) = row.mean else {
            lines.push(Line::styled(
                format!("{:<label_w$}  not finished", cut(&row.label, label_w)),
                theme.dimmed(),
            ));
            continue;
        };
        let filled = (mean.clamp(0.0, 1.0) * bar_w as f64).round() as usize;
        let sd = row.sd.map(|s| format!(" ± {s:.3}")).unwrap_or_default();
        lines.push(Line::from(vec![
            Span::raw(format!("{:<label_w$}  ", cut(&row.label, label_w))),
            Span::styled("█".repeat(filled), theme.base.fg(theme.series_color(i))),
            Span::raw(format!("{} {mean:.3}{sd}", " ".repeat(bar_w - filled))),
        ]));
        lines.push(Line::raw(""));
    }
    frame.render_widget(Paragraph::new(lines).style(theme.base), inner);
}

/// The difference in words, and the selected setting's runs one by one.
fn draw_notes(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let x = &app.experiments;
    let Some(entry) = x.current() else { return };
    let r = &entry.results;
    let mut lines: Vec<Line> = Vec::new();
    let contrast = r.contrast_lines();
    if contrast.is_empty() {
        lines.push(Line::styled(
            "The difference appears when both settings have finished runs at a seed.",
            theme.dimmed(),
        ));
    }
    for line in contrast {
        lines.push(Line::styled(line, theme.base.fg(theme.accent)));
    }
    if let Some(row) = x.rows().get(x.cursor) {
        lines.push(Line::raw(""));
        lines.push(Line::styled(row.label.clone(), theme.title()));
        for run in &row.runs {
            let score = run.score.map_or_else(String::new, |s| format!(" {s:.4}"));
            let why = run
                .reason
                .as_deref()
                .filter(|_| run.status != "finished")
                .map(|w| format!(" ({w})"))
                .unwrap_or_default();
            lines.push(Line::from(vec![
                Span::styled(format!("seed {}: ", run.seed), theme.dimmed()),
                Span::raw(format!("{}{score}{why}", run.status)),
            ]));
        }
    }
    for problem in &x.problems {
        lines.push(Line::styled(cut(problem, 200), theme.base.fg(theme.bad)));
    }
    let block = panel("The difference", theme);
    frame.render_widget(Paragraph::new(lines).block(block).wrap(Wrap { trim: true }).style(theme.base), area);
}
