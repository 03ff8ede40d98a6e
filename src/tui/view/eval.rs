//! Evaluation: confusion matrix (entity types for tagging, a 2×2 per label for label sets, a
//! scatter of predicted against gold values for regression), per-class scores, the predictions
//! behind them, and any one prediction whole (its text wrapped, every class's probability).

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table, Wrap};

use super::explain::{draw_attention, draw_representations, draw_sentence, explanation_lines, sentence_box};
use super::{bold, cut, panel, placeholder, scrolled_text};
use crate::config::HeadKind;
use crate::eval::entities::spans;
use crate::report::Prediction;
use crate::tui::app::{App, EvalFocus, EvalPane, EvalView, PredictionFilter, PredictionSort};
use crate::tui::theme::Theme;
use crate::tui::widgets::{Curve, Heatmap, render_reliability, render_scatter};

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
    match view.pane {
        EvalPane::Attention { .. } => return draw_attention(frame, area, view, theme),
        EvalPane::Representations => return draw_representations(frame, area, view, theme),
        _ => {}
    }
    let head = report.head();
    let k = report.labels.len() as u16;
    let left_width = (area.width * 2 / 5).max(34);
    let [left, right] = Layout::horizontal([Constraint::Length(left_width), Constraint::Min(0)]).areas(area);
    let top_height = match head {
        HeadKind::Regression => left.height / 2,
        _ => (k + 3).min(left.height / 2).max(4),
    };
    let [matrix_area, scores_area] =
        Layout::vertical([Constraint::Length(top_height), Constraint::Min(0)]).areas(left);
    match head {
        HeadKind::SeqCls | HeadKind::TokenCls => {
            let mode = if view.normalised { "row %" } else { "counts" };
            let what = if head == HeadKind::TokenCls { "Entities" } else { "Confusion" };
            let block = panel(format!("{what} ({}, {mode}) gold↓ predicted→", view.split), theme);
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
        }
        HeadKind::MultiLabel => draw_label_confusion(frame, matrix_area, view, theme),
        HeadKind::Regression => draw_scatter(frame, matrix_area, view, theme),
    }
    draw_scores(frame, scores_area, view, theme);
    // Filtered and sorted once a frame, for whichever pane shows them.
    let rows = view.rows();
    // The box for a sentence being typed sits over the list until Enter.
    let right = if view.typing && view.pane != EvalPane::Sentence {
        let [typing, rest] = Layout::vertical([Constraint::Length(3), Constraint::Min(0)]).areas(right);
        let block = panel("Try a sentence", theme);
        let inner = block.inner(typing);
        frame.render_widget(block, typing);
        frame.render_widget(Paragraph::new(sentence_box(view, theme)), inner);
        rest
    } else {
        right
    };
    match (view.pane, rows.get(view.selected)) {
        (EvalPane::Detail, Some(p)) => draw_detail(frame, right, view, (p, rows.len()), theme),
        (EvalPane::Sentence, _) => draw_sentence(frame, right, view, theme),
        (EvalPane::Reliability, _) => draw_reliability(frame, right, view, theme),
        _ => draw_predictions(frame, right, view, &rows, theme),
    }
}

/// Calibration: each bin's mean probability against how often its predictions were right, the
/// diagonal where a calibrated model sits, the ECE, and the bins as a table.
fn draw_reliability(frame: &mut Frame, area: Rect, view: &EvalView, theme: &Theme) {
    let Some(c) = view.report().and_then(|r| r.scores.calibration.as_ref()) else {
        let block = panel("Calibration · c back", theme);
        let inner = block.inner(area);
        frame.render_widget(block, area);
        let why = match view.report().map(crate::report::EvalReport::head) {
            Some(HeadKind::SeqCls | HeadKind::MultiLabel) => {
                "This run was recorded before bertbench measured calibration: run it again to see it."
            }
            Some(HeadKind::TokenCls) => {
                "Calibration is measured for classes and label sets, not yet for tagging."
            }
            _ => "Regression predicts values, not probabilities: there is no calibration to judge.",
        };
        frame.render_widget(
            Paragraph::new(Line::styled(why, theme.dimmed())).wrap(Wrap { trim: true }),
            inner,
        );
        return;
    };
    // Every bin's row, as long as the diagram keeps 8 rows.
    let table_height = (c.bins.len() as u16 + 3).min(area.height.saturating_sub(8));
    let [chart, table] = Layout::vertical([Constraint::Min(0), Constraint::Length(table_height)]).areas(area);
    let title = format!("Reliability ({}): share right ↑ by probability said →", view.split);
    let diagonal = [(0.0, 0.0), (1.0, 1.0)];
    let points: Vec<(f64, f64)> = c.bins.iter().map(|b| (b.confidence, b.accuracy)).collect();
    let curves = [
        Curve { name: "calibrated".into(), points: &diagonal, color: theme.dim },
        Curve { name: "bins: said → right".into(), points: &points, color: theme.accent },
    ];
    render_reliability(chart, frame.buffer_mut(), panel(title, theme), &curves, theme);
    let rows: Vec<Row> = c
        .bins
        .iter()
        .map(|b| {
            let gap = b.accuracy - b.confidence;
            let style = if gap.abs() > 0.1 { theme.base.fg(theme.bad) } else { theme.base };
            Row::new(vec![
                Cell::from(format!("{:.1}–{:.1}", b.lower, b.upper)),
                Cell::from(b.count.to_string()),
                Cell::from(format!("{:.3}", b.confidence)),
                Cell::from(format!("{:.3}", b.accuracy)),
                Cell::from(format!("{gap:+.3}")),
            ])
            .style(style)
        })
        .collect();
    let header = Row::new(["probability", "n", "said", "right", "gap"]).style(theme.dimmed());
    let widths = [
        Constraint::Length(11),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(7),
    ];
    let block = panel(format!("ECE {:.3} over {} decisions · gap = right − said", c.ece, c.decisions), theme);
    frame.render_widget(Table::new(rows, widths).header(header).block(block).style(theme.base), table);
}

/// The first row to show of `n` so that the selected one is visible in `visible` rows.
fn first_visible(view: &EvalView, visible: usize) -> usize {
    let selected = view.selected;
    if selected < view.scroll {
        selected
    } else if selected >= view.scroll + visible.max(1) {
        selected + 1 - visible.max(1)
    } else {
        view.scroll
    }
}

/// Whether row `i` of the predictions is the selected one (shown only while the predictions
/// have the focus).
fn is_selected(view: &EvalView, i: usize) -> bool {
    view.focus == EvalFocus::Predictions && i == view.selected
}

fn draw_scores(frame: &mut Frame, area: Rect, view: &EvalView, theme: &Theme) {
    let Some(r) = view.report() else { return };
    let s = &r.scores;
    let title = format!("{} · {} examples · step {}", view.data.run_id, r.examples, r.step);
    let block = panel(cut(&title, area.width.saturating_sub(4) as usize), theme);
    let num = |v: f64| Cell::from(format!("{v:.3}"));
    if let Some(g) = &s.regression {
        let rows: Vec<Row> = [
            ("MSE", g.mse),
            ("RMSE", g.mse.sqrt()),
            ("MAE", g.mae),
            ("Pearson", g.pearson),
            ("Spearman", g.spearman),
            ("R²", g.r2),
            ("loss (standardised)", r.loss),
        ]
        .into_iter()
        .map(|(name, v)| Row::new(vec![Cell::from(name), Cell::from(format!("{v:.4}"))]))
        .collect();
        let widths = [Constraint::Min(10), Constraint::Length(12)];
        frame.render_widget(Table::new(rows, widths).block(block).style(theme.base), area);
        return;
    }
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
    let headline = |name: &str, v: f64| {
        Row::new(vec![Cell::from(name.to_owned()), Cell::from(""), Cell::from(""), num(v), Cell::from("")])
            .style(bold(theme.base.fg(theme.accent)))
    };
    rows.push(summary("macro", Some(s.macro_precision), Some(s.macro_recall), s.macro_f1));
    if let Some(e) = &s.entities {
        rows.push(
            summary("entities", Some(e.precision), Some(e.recall), e.f1)
                .style(bold(theme.base.fg(theme.accent))),
        );
        rows.push(headline("token accuracy", e.token_accuracy));
    } else {
        rows.push(summary("micro", None, None, s.micro_f1));
        rows.push(summary("weighted", None, None, s.weighted_f1));
    }
    if let Some(m) = &s.multi_label {
        rows.push(summary("samples", None, None, m.samples_f1));
        rows.push(headline("subset accuracy", s.accuracy));
        rows.push(headline("Hamming loss", m.hamming_loss));
        rows.push(headline("threshold", m.threshold));
    } else if s.entities.is_none() {
        rows.push(headline("accuracy", s.accuracy));
    }
    if let Some(c) = &s.calibration {
        rows.push(headline("ECE (c)", c.ece));
    }
    let first = match r.head() {
        HeadKind::TokenCls => "type",
        HeadKind::MultiLabel => "label",
        _ => "class",
    };
    let header = Row::new([first, "prec", "recall", "F1", "n"]).style(theme.dimmed());
    let widths = [
        Constraint::Min(8),
        Constraint::Length(5),
        Constraint::Length(6),
        Constraint::Length(5),
        Constraint::Length(5),
    ];
    frame.render_widget(Table::new(rows, widths).header(header).block(block).style(theme.base), area);
}

fn draw_predictions(frame: &mut Frame, area: Rect, view: &EvalView, rows: &[&Prediction], theme: &Theme) {
    let head = view.report().map_or(HeadKind::SeqCls, crate::report::EvalReport::head);
    let labels = view.report().map(|r| r.labels.clone()).unwrap_or_default();
    let name = |i: usize| labels.get(i).cloned().unwrap_or_default();
    let filter = match (view.filter, head) {
        (PredictionFilter::All, _) | (PredictionFilter::Cell(..), HeadKind::Regression) => "all".to_owned(),
        (PredictionFilter::Errors, HeadKind::Regression) => "errors above MAE".to_owned(),
        (PredictionFilter::Errors, _) => "errors only".to_owned(),
        (PredictionFilter::Cell(g, _), HeadKind::MultiLabel) => format!("{} decided wrongly", name(g)),
        (PredictionFilter::Cell(g, p), _) => format!("gold {} → predicted {}", name(g), name(p)),
    };
    let sort = match (view.sort, head) {
        (PredictionSort::Confidence, HeadKind::Regression) => "largest error first",
        (PredictionSort::Uncertain, HeadKind::Regression) => "smallest error first",
        (sort, _) => sort.label(),
    };
    let block = panel(format!("Predictions: {filter} ({}) · {sort}", rows.len()), theme);
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
    match head {
        HeadKind::TokenCls => return draw_tagged(frame, inner, view, rows, theme),
        HeadKind::Regression => return draw_values(frame, inner, view, rows, theme),
        _ => {}
    }
    let label_w = rows
        .iter()
        .flat_map(|p| [p.gold.chars().count(), p.predicted.chars().count()])
        .max()
        .unwrap_or(4)
        // Long label sets give way before the text does (it keeps 14 columns).
        .clamp(4, 16)
        .min((inner.width as usize).saturating_sub(27) / 2)
        .max(4);
    let text_w = (inner.width as usize).saturating_sub(2 * label_w + 13);
    let visible = inner.height.saturating_sub(1) as usize;
    let top = first_visible(view, visible);
    let table_rows: Vec<Row> = rows
        .iter()
        .enumerate()
        .skip(top)
        .take(visible)
        .map(|(i, p)| {
            let ok = p.gold == p.predicted;
            let mark = if ok {
                Span::styled("✓", theme.base.fg(theme.good))
            } else {
                Span::styled("✗", theme.base.fg(theme.bad))
            };
            let row = Row::new(vec![
                Cell::from(mark),
                Cell::from(format!("{:.2}", p.confidence)),
                Cell::from(cut(none_if_empty(&p.gold), label_w)),
                Cell::from(Span::styled(
                    cut(none_if_empty(&p.predicted), label_w),
                    if ok { theme.base } else { theme.base.fg(theme.bad) },
                )),
                Cell::from(cut(&p.text, text_w)),
            ]);
            if is_selected(view, i) { row.style(theme.highlight) } else { row }
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

/// An empty label set reads as a dash.
fn none_if_empty(labels: &str) -> &str {
    if labels.is_empty() { "—" } else { labels }
}

/// Multi-label: each label's 2×2 confusion (true/false positives and negatives).
fn draw_label_confusion(frame: &mut Frame, area: Rect, view: &EvalView, theme: &Theme) {
    let Some(r) = view.report() else { return };
    let Some(m) = &r.scores.multi_label else { return };
    let block =
        panel(format!("Per label ({}, at {:.2}) · Enter: its mistakes", view.split, m.threshold), theme);
    let rows: Vec<Row> = r
        .labels
        .iter()
        .zip(&m.label_confusion)
        .enumerate()
        .map(|(i, (label, [tp, fp, fn_, tn]))| {
            let row = Row::new(vec![
                Cell::from(cut(label, 14)),
                Cell::from(tp.to_string()),
                Cell::from(Span::styled(fp.to_string(), theme.base.fg(theme.bad))),
                Cell::from(Span::styled(fn_.to_string(), theme.base.fg(theme.bad))),
                Cell::from(tn.to_string()),
            ]);
            if i == view.cell.0 { row.style(theme.highlight) } else { row }
        })
        .collect();
    let header = Row::new(["label", "TP", "FP", "FN", "TN"]).style(theme.dimmed());
    let widths = [
        Constraint::Min(8),
        Constraint::Length(5),
        Constraint::Length(5),
        Constraint::Length(5),
        Constraint::Length(5),
    ];
    frame.render_widget(Table::new(rows, widths).header(header).block(block).style(theme.base), area);
}

/// Regression: predicted against gold values, with the diagonal a perfect model would sit on.
fn draw_scatter(frame: &mut Frame, area: Rect, view: &EvalView, theme: &Theme) {
    let points: Vec<(f64, f64)> =
        view.data.predictions.get(&view.split).into_iter().flatten().filter_map(Prediction::values).collect();
    let diagonal = crate::plot::identity_line(&points);
    let block = panel(format!("Predicted ↑ against gold → ({})", view.split), theme);
    let curves = [
        Curve { name: "perfect".into(), points: &diagonal, color: theme.dim },
        Curve { name: "examples".into(), points: &points, color: theme.accent },
    ];
    render_scatter(area, frame.buffer_mut(), block, &curves, theme);
}

/// Token classification: each sentence twice, gold entities then predicted ones, each entity
/// in brackets with its type, green when the other side has it exactly, red when not; the
/// sentence's confidence (its least sure word's) before it.
fn draw_tagged(frame: &mut Frame, area: Rect, view: &EvalView, rows: &[&Prediction], theme: &Theme) {
    let width = (area.width as usize).saturating_sub(12);
    let mut lines: Vec<Line> = Vec::new();
    let top = first_visible(view, (area.height / 2) as usize);
    for (i, p) in rows.iter().enumerate().skip(top) {
        if lines.len() + 2 > area.height as usize {
            break;
        }
        let words: Vec<&str> = p.text.split(' ').collect();
        let gold: Vec<&str> = p.gold.split_whitespace().collect();
        let predicted: Vec<&str> = p.predicted.split_whitespace().collect();
        let mark = if p.gold == p.predicted {
            Span::styled("✓ ", theme.base.fg(theme.good))
        } else {
            Span::styled("✗ ", theme.base.fg(theme.bad))
        };
        let label = if is_selected(view, i) { theme.highlight } else { theme.dimmed() };
        let mut first = vec![mark, Span::styled(format!("{:.2} ", p.confidence), label)];
        first.push(Span::styled("gold ", label));
        first.extend(entity_spans(&words, &gold, &predicted, theme, width));
        lines.push(Line::from(first));
        let mut second = vec![Span::raw("       "), Span::styled("pred ", label)];
        second.extend(entity_spans(&words, &predicted, &gold, theme, width));
        lines.push(Line::from(second));
    }
    frame.render_widget(Paragraph::new(lines), area);
}

/// One prediction whole: its text wrapped, gold and predicted, and every class's probability
/// as a bar (classification); the tagged sentence with gold and predicted entities and each
/// word's tags and confidence (token classification); the values and residual (regression).
/// `(p, n)`: the prediction and how many the list holds.
fn draw_detail(frame: &mut Frame, area: Rect, view: &EvalView, (p, n): (&Prediction, usize), theme: &Theme) {
    let title = format!("Prediction {} of {n} ({}) · ↑↓ another · Esc back", view.selected + 1, view.split);
    let block = panel(title, theme);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let Some(report) = view.report() else { return };
    let head = report.head();
    let ok = p.gold == p.predicted;
    let verdict = if ok {
        Span::styled("✓ right", bold(theme.base.fg(theme.good)))
    } else {
        Span::styled("✗ wrong", bold(theme.base.fg(theme.bad)))
    };
    let confidence = match head {
        HeadKind::Regression | HeadKind::TokenCls => String::new(),
        HeadKind::MultiLabel => format!("   (its least sure label decided at {:.2})", p.confidence),
        HeadKind::SeqCls => format!("   with probability {:.3}", p.confidence),
    };
    // A value is never exactly right: regression shows its residual instead of a verdict.
    let mut lines = if head == HeadKind::Regression { Vec::new() } else { vec![Line::from(verdict)] };
    if head == HeadKind::TokenCls {
        lines[0]
            .spans
            .push(Span::styled(format!("   its least sure word at {:.2}", p.confidence), theme.dimmed()));
    }
    if head != HeadKind::TokenCls {
        // A sentence's tags are read below, as entities and word by word.
        lines.push(Line::from(vec![
            Span::styled("gold       ", theme.dimmed()),
            Span::styled(none_if_empty(&p.gold).to_owned(), bold(theme.base)),
        ]));
        lines.push(Line::from(vec![
            Span::styled("predicted  ", theme.dimmed()),
            Span::styled(
                match (head, p.values()) {
                    // As precise as the gold value: a year reads 1916.6, not 1916.6343.
                    (HeadKind::Regression, Some((gold, v))) if gold.fract() == 0.0 => format!("{v:.1}"),
                    _ => none_if_empty(&p.predicted).to_owned(),
                },
                match (head, ok) {
                    (HeadKind::Regression, _) => bold(theme.base),
                    (_, true) => bold(theme.base.fg(theme.good)),
                    (_, false) => bold(theme.base.fg(theme.bad)),
                },
            ),
            Span::styled(confidence, theme.dimmed()),
        ]));
    }
    match head {
        HeadKind::Regression => {
            let residual = p.residual().map_or_else(|| "?".to_owned(), |r| format!("{r:+.3}"));
            lines.push(Line::styled(format!("residual (predicted − gold) {residual}"), theme.base));
            lines.push(Line::raw(""));
            lines.push(Line::styled(p.text.clone(), theme.base));
        }
        HeadKind::TokenCls => {
            let words: Vec<&str> = p.text.split(' ').collect();
            let gold: Vec<&str> = p.gold.split_whitespace().collect();
            let predicted: Vec<&str> = p.predicted.split_whitespace().collect();
            lines.push(Line::raw(""));
            let mut g = vec![Span::styled("gold  ", theme.dimmed())];
            g.extend(entity_spans(&words, &gold, &predicted, theme, usize::MAX));
            lines.push(Line::from(g));
            let mut q = vec![Span::styled("pred  ", theme.dimmed())];
            q.extend(entity_spans(&words, &predicted, &gold, theme, usize::MAX));
            lines.push(Line::from(q));
            lines.push(Line::raw(""));
            // Per-word confidences come with a live run; the record keeps only the sentence's.
            let per_word = p.probabilities.len() == words.len();
            let header = if per_word {
                "word            gold      predicted  confidence"
            } else {
                "word            gold      predicted"
            };
            lines.push(Line::styled(header, theme.dimmed()));
            for (i, word) in words.iter().enumerate() {
                let (gt, pt) =
                    (gold.get(i).copied().unwrap_or("?"), predicted.get(i).copied().unwrap_or("?"));
                let conf = p.probabilities.get(i).map_or_else(String::new, |c| format!("{c:.2}"));
                let style = if gt == pt { theme.base } else { theme.base.fg(theme.bad) };
                lines.push(Line::styled(format!("{:<15} {gt:<9} {pt:<10} {conf}", cut(word, 15)), style));
            }
        }
        HeadKind::SeqCls | HeadKind::MultiLabel => {
            lines.push(Line::raw(""));
            lines.push(Line::styled(p.text.clone(), theme.base));
            lines.push(Line::raw(""));
            lines.extend(probability_bars(report, p, inner.width, theme));
        }
    }
    lines.extend(explanation_lines(
        view.explanation.as_ref().filter(|e| e.text == p.text),
        inner.width,
        theme,
    ));
    scrolled_text(frame, inner, lines, view.detail_scroll);
}

/// Every class's probability, highest first, as a bar: the predicted classes bold, the gold
/// ones marked. Multi-label: each label's own probability, with the threshold that decides it.
fn probability_bars<'a>(
    report: &crate::report::EvalReport,
    p: &Prediction,
    width: u16,
    theme: &Theme,
) -> Vec<Line<'a>> {
    let gold: Vec<&str> = p.gold.split('|').collect();
    let predicted: Vec<&str> = p.predicted.split('|').collect();
    let mut classes: Vec<(&String, f32)> =
        report.labels.iter().zip(p.probabilities.iter().copied()).collect();
    classes.sort_by(|a, b| b.1.total_cmp(&a.1));
    let name_w = classes
        .iter()
        .map(|(l, _)| l.chars().count())
        .max()
        .unwrap_or(4)
        .clamp(4, (width / 2).max(4) as usize);
    let bar_w = (width as usize).saturating_sub(name_w + 16).max(4);
    let what = match &report.scores.multi_label {
        Some(m) => format!("probability of each label (predicted at {:.2} or more)", m.threshold),
        None => "probability of each class".to_owned(),
    };
    let mut lines = vec![Line::styled(what, theme.dimmed())];
    for (label, prob) in classes {
        let filled = f64::from(prob.clamp(0.0, 1.0)) * bar_w as f64;
        let style =
            if predicted.contains(&label.as_str()) { bold(theme.base.fg(theme.accent)) } else { theme.base };
        let mark = if gold.contains(&label.as_str()) { " ← gold" } else { "" };
        let drawn = bar(filled);
        // Padded by the cells the bar takes as drawn (it is rounded to eighths of a cell).
        let pad = bar_w.saturating_sub(drawn.chars().count());
        lines.push(Line::from(vec![
            Span::styled(format!("{:<name_w$} ", cut(label, name_w)), style),
            Span::styled(drawn, style),
            Span::styled(format!("{:>pad$} {prob:.3}{mark}", ""), style),
        ]));
    }
    lines
}

/// A horizontal bar `length` cells long, in eighths of a cell.
fn bar(length: f64) -> String {
    const PARTS: [char; 8] = [' ', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];
    let eighths = (length * 8.0).round() as usize;
    let mut s = "█".repeat(eighths / 8);
    if !eighths.is_multiple_of(8) {
        s.push(PARTS[eighths % 8]);
    }
    s
}

/// A sentence's words with the entities of `tags` in brackets, green when `other` has the same
/// entity and red when not; cut at about `width` characters.
fn entity_spans<'a>(
    words: &[&'a str],
    tags: &[&str],
    other: &[&str],
    theme: &Theme,
    width: usize,
) -> Vec<Span<'a>> {
    let (found, theirs) = (spans(tags), spans(other));
    let mut out = Vec::new();
    let (mut used, mut i) = (0, 0);
    while i < words.len() && used < width {
        if let Some(e) = found.iter().find(|e| e.start == i) {
            let end = e.end.min(words.len() - 1);
            let text = format!("[{}]{} ", words[e.start..=end].join(" "), e.kind);
            let colour = if theirs.contains(e) { theme.good } else { theme.bad };
            used += text.chars().count();
            out.push(Span::styled(text, bold(theme.base.fg(colour))));
            i = end + 1;
        } else {
            used += words[i].chars().count() + 1;
            out.push(Span::styled(format!("{} ", words[i]), theme.base));
            i += 1;
        }
    }
    out
}

/// Regression: gold and predicted values, the residual, and the text.
fn draw_values(frame: &mut Frame, area: Rect, view: &EvalView, rows: &[&Prediction], theme: &Theme) {
    let visible = area.height.saturating_sub(1) as usize;
    let text_w = (area.width as usize).saturating_sub(32);
    let top = first_visible(view, visible);
    // Predictions as precise as the gold values are: whole years read as 1943.8, not 1943.7770.
    let whole = rows.iter().all(|p| p.gold.parse::<f64>().is_ok_and(|g| g.fract() == 0.0));
    let shown = |text: &str| match text.parse::<f64>() {
        Ok(v) if whole => format!("{v:.1}"),
        _ => text.to_owned(),
    };
    let table_rows: Vec<Row> = rows
        .iter()
        .enumerate()
        .skip(top)
        .take(visible)
        .map(|(i, p)| {
            let row = Row::new(vec![
                Cell::from(cut(&p.gold, 9)),
                Cell::from(cut(&shown(&p.predicted), 10)),
                Cell::from(p.residual().map_or_else(|| "?".to_owned(), |r| format!("{r:+.2}"))),
                Cell::from(cut(&p.text, text_w)),
            ]);
            if is_selected(view, i) { row.style(theme.highlight) } else { row }
        })
        .collect();
    let header = Row::new(["gold", "predicted", "residual", "text"]).style(theme.dimmed());
    let widths = [Constraint::Length(9), Constraint::Length(10), Constraint::Length(9), Constraint::Min(0)];
    frame.render_widget(Table::new(table_rows, widths).header(header).style(theme.base), area);
}
