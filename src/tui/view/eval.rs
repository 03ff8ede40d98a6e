//! Evaluation: confusion matrix, per-class scores, and the predictions behind them.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table};

use super::{bold, cut, panel, placeholder};
use crate::tui::app::{App, EvalView, PredictionFilter};
use crate::tui::theme::Theme;
use crate::tui::widgets::Heatmap;

pub fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let Some(view) = app.eval.as_ref() else {
        placeholder(
            frame,
            area,
            "No evaluation to show yet.\nIt opens when a run finishes, or pick a run on the Runs screen (4) and press Enter.",
            theme,
        );
        return;
    };
    let Some(report) = view.report() else {
        placeholder(frame, area, "This run has no evaluation.", theme);
        return;
    };
    let k = report.labels.len() as u16;
    let left_width = (area.width * 2 / 5).max(34);
    let [left, right] = Layout::horizontal([Constraint::Length(left_width), Constraint::Min(0)]).areas(area);
    let matrix_height = (k + 3).min(left.height / 2).max(4);
    let [matrix_area, scores_area] =
        Layout::vertical([Constraint::Length(matrix_height), Constraint::Min(0)]).areas(left);
    let mode = if view.normalised { "row %" } else { "counts" };
    let block = panel(format!("Confusion ({}, {mode}) gold↓ predicted→", view.split), theme);
    let inner = block.inner(matrix_area);
    frame.render_widget(block, matrix_area);
    frame.render_widget(
        Heatmap {
            labels: &report.labels,
            matrix: &report.scores.confusion,
            normalised: view.normalised,
            selected: Some(view.cell),
            theme,
        },
        inner,
    );
    draw_scores(frame, scores_area, view, theme);
    draw_predictions(frame, right, view, theme);
}

fn draw_scores(frame: &mut Frame, area: Rect, view: &EvalView, theme: &Theme) {
    let Some(r) = view.report() else { return };
    let s = &r.scores;
    let title = format!("{} · {} examples · step {}", view.data.run_id, r.examples, r.step);
    let block = panel(cut(&title, area.width.saturating_sub(4) as usize), theme);
    let num = |v: f64| Cell::from(format!("{v:.3}"));
    let mut rows: Vec<Row> = s
        .per_class
        .iter()
        .map(|c| {
            Row::new(vec![
                Cell::from(cut(&c.label, 12)),
                num(c.precision),
                num(c.recall),
                num(c.f1),
                Cell::from(c.support.to_string()),
            ])
        })
        .collect();
    let summary = |name: &str, p: Option<f64>, r: Option<f64>, f: f64| {
        let opt = |v: Option<f64>| v.map_or_else(|| Cell::from(""), num);
        Row::new(vec![Cell::from(name.to_owned()), opt(p), opt(r), num(f), Cell::from("")])
            .style(bold(theme.base))
    };
    rows.push(summary("macro", Some(s.macro_precision), Some(s.macro_recall), s.macro_f1));
    rows.push(summary("micro", None, None, s.micro_f1));
    rows.push(summary("weighted", None, None, s.weighted_f1));
    rows.push(
        Row::new(vec![
            Cell::from("accuracy"),
            Cell::from(""),
            Cell::from(""),
            num(s.accuracy),
            Cell::from(""),
        ])
        .style(bold(theme.base.fg(theme.accent))),
    );
    let header = Row::new(["class", "prec", "recall", "F1", "n"]).style(theme.dimmed());
    let widths = [
        Constraint::Min(8),
        Constraint::Length(5),
        Constraint::Length(6),
        Constraint::Length(5),
        Constraint::Length(5),
    ];
    frame.render_widget(Table::new(rows, widths).header(header).block(block).style(theme.base), area);
}

fn draw_predictions(frame: &mut Frame, area: Rect, view: &EvalView, theme: &Theme) {
    let rows = view.rows();
    let filter = match view.filter {
        PredictionFilter::All => "all".to_owned(),
        PredictionFilter::Errors => "errors only".to_owned(),
        PredictionFilter::Cell(g, p) => {
            let labels = view.report().map(|r| r.labels.clone()).unwrap_or_default();
            let name = |i: usize| labels.get(i).cloned().unwrap_or_default();
            format!("gold {} → predicted {}", name(g), name(p))
        }
    };
    let block = panel(format!("Predictions: {filter} ({}) · {}", rows.len(), view.sort.label()), theme);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if rows.is_empty() {
        let text = if view.data.predictions.contains_key(&view.split) {
            "nothing here: press f for another filter"
        } else {
            "no predictions were recorded for this split"
        };
        frame.render_widget(Paragraph::new(Line::styled(text, theme.dimmed())), inner);
        return;
    }
    let label_w = rows
        .iter()
        .flat_map(|p| [p.gold.chars().count(), p.predicted.chars().count()])
        .max()
        .unwrap_or(4)
        .clamp(4, 10);
    let text_w = (inner.width as usize).saturating_sub(2 * label_w + 13);
    let visible = inner.height.saturating_sub(1) as usize;
    let table_rows: Vec<Row> = rows
        .iter()
        .skip(view.scroll)
        .take(visible)
        .map(|p| {
            let ok = p.gold == p.predicted;
            let mark = if ok {
                Span::styled("✓", theme.base.fg(theme.good))
            } else {
                Span::styled("✗", theme.base.fg(theme.bad))
            };
            Row::new(vec![
                Cell::from(mark),
                Cell::from(format!("{:.2}", p.confidence)),
                Cell::from(cut(&p.gold, label_w)),
                Cell::from(Span::styled(
                    cut(&p.predicted, label_w),
                    if ok { theme.base } else { theme.base.fg(theme.bad) },
                )),
                Cell::from(cut(&p.text, text_w)),
            ])
        })
        .collect();
    let header = Row::new(["", "conf", "gold", "predicted", "text"]).style(theme.dimmed());
    let widths = [
        Constraint::Length(1),
        Constraint::Length(4),
        Constraint::Length(label_w as u16),
        Constraint::Length(label_w.max(9) as u16),
        Constraint::Min(0),
    ];
    frame.render_widget(Table::new(table_rows, widths).header(header).style(theme.base), inner);
}
