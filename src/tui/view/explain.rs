//! The explanation views of the Evaluation screen: a prediction's token attributions (with
//! attention rollout), its attention maps, the typed sentence, and the sentence vectors before
//! and after fine-tuning; and the masking inspector of the New run screen.

use std::fmt::Write as _;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::canvas::{Canvas, Points};
use ratatui::widgets::{Clear, Paragraph};

use super::{bold, cut, panel, placeholder, scrolled_text};
use crate::explain::masking::{Fate, MaskingSample};
use crate::explain::representations::{Representations, Scatter};
use crate::explain::{Explanation, Outputs};
use crate::tui::app::{Asked, EvalView, ExplainState};
use crate::tui::theme::Theme;

/// The explanation of the open prediction, as lines under it: the text with each token
/// coloured by its attribution, then a row per token (its share as a bar, its rollout).
pub fn explanation_lines(state: Option<&ExplainState>, width: u16, theme: &Theme) -> Vec<Line<'static>> {
    let mut lines = vec![Line::raw("")];
    match state.and_then(|s| s.result.as_ref()) {
        None => lines.push(Line::styled("explaining… (integrated gradients, attention)", theme.dimmed())),
        Some(Err(why)) => {
            lines.push(Line::styled(format!("cannot explain it: {why}"), theme.base.fg(theme.bad)));
        }
        Some(Ok(e)) => lines.extend(attribution_lines(e, width, theme)),
    }
    lines
}

fn attribution_lines(e: &Explanation, width: u16, theme: &Theme) -> Vec<Line<'static>> {
    let a = &e.attribution;
    let target = e.target_name();
    let largest = a.per_token.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-12);
    let colour = |share: f64| if share >= 0.0 { theme.good } else { theme.bad };
    let mut lines = vec![
        Line::from(vec![
            Span::styled(format!("Why \"{target}\""), bold(theme.base.fg(theme.accent))),
            Span::styled(
                format!(
                    " · integrated gradients, {} steps, {} · g: another class",
                    a.steps,
                    a.baseline.describe()
                ),
                theme.dimmed(),
            ),
        ]),
        Line::styled(
            format!(
                "the tokens' shares add up to {:+.3} = f(text) {:.3} − f(baseline) {:.3} (gap {:.4})",
                a.total(),
                a.at_input,
                a.at_baseline,
                a.completeness_gap()
            ),
            theme.dimmed(),
        ),
    ];
    // The text as the model read it: green tokens raise the explained output, red ones lower it.
    let mut sentence = Vec::new();
    for (token, share) in e.tokens.iter().zip(&a.per_token) {
        let strong = share.abs() >= 0.5 * largest;
        let style = if share.abs() < 0.1 * largest { theme.base } else { theme.base.fg(colour(*share)) };
        sentence.push(Span::styled(token.clone(), if strong { bold(style) } else { style }));
        sentence.push(Span::raw(" "));
    }
    lines.push(Line::from(sentence));
    lines.push(Line::raw(""));
    let from = a.target.token.unwrap_or(0);
    let flows: Vec<f64> =
        (0..e.tokens.len()).map(|k| e.rollout_row().get(k).copied().unwrap_or(0.0)).collect();
    let biggest_flow = flows.iter().copied().fold(0.0f64, f64::max).max(1e-12);
    let name_w = 12usize;
    // Enough decimals for the largest share to show three significant digits.
    let decimals = if largest >= 0.01 {
        3
    } else if largest >= 0.001 {
        4
    } else {
        5
    };
    // token, share, its bar, the rollout and its bar: one line each at any width.
    let room = usize::from(width).saturating_sub(name_w + 1 + 8 + 2 + 2 + 4 + 1);
    let bar_w = (room * 2 / 3).clamp(2, 30);
    let flow_w = room.saturating_sub(bar_w).clamp(1, 10);
    lines.push(Line::styled(
        format!(
            "share: the token's part of the change; rollout: how much of {}'s final vector flows from it",
            e.tokens.get(from).map_or("[CLS]", String::as_str)
        ),
        theme.dimmed(),
    ));
    lines.push(Line::styled(
        format!("{:<name_w$} {:>8}  {:<bar_w$}  rollout", "token", "share", ""),
        theme.dimmed(),
    ));
    for (i, token) in e.tokens.iter().enumerate() {
        let share = a.per_token.get(i).copied().unwrap_or(0.0);
        let flow = flows[i];
        let filled = (share.abs() / largest * bar_w as f64).round() as usize;
        let flow_bar = (flow / biggest_flow * flow_w as f64).round() as usize;
        lines.push(Line::from(vec![
            Span::styled(format!("{:<name_w$} {share:>+8.decimals$}  ", cut(token, name_w)), theme.base),
            Span::styled(format!("{:<bar_w$}", "█".repeat(filled)), theme.base.fg(colour(share))),
            Span::styled(
                format!("  {flow:.2} {}", "▪".repeat(flow_bar.max(usize::from(flow > 0.0)))),
                theme.dimmed(),
            ),
        ]));
    }
    lines.push(Line::raw(""));
    lines.push(Line::styled("a: attention maps · x: export this view as a PNG", theme.dimmed()));
    lines
}

/// The typed sentence: the box, and once explained its prediction and explanation.
pub fn draw_sentence(frame: &mut Frame, area: Rect, view: &EvalView, theme: &Theme) {
    let block = panel("Try a sentence · e edit · a attention · Esc back", theme);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let mut lines = vec![sentence_box(view, theme), Line::raw("")];
    if let Some(e) = view.explanation.as_ref().and_then(ExplainState::ready) {
        lines.push(Line::from(vec![
            Span::styled("predicted  ", theme.dimmed()),
            Span::styled(e.prediction_line(), bold(theme.base.fg(theme.accent))),
        ]));
        lines.extend(output_bars(e, inner.width, theme));
    }
    lines.extend(explanation_lines(view.explanation.as_ref(), inner.width, theme));
    scrolled_text(frame, inner, lines, view.detail_scroll);
}

/// The sentence being typed (with a cursor), or the one last typed.
pub fn sentence_box(view: &EvalView, theme: &Theme) -> Line<'static> {
    let mut spans = vec![
        Span::styled("sentence ▸ ", theme.dimmed()),
        Span::styled(view.sentence.clone(), bold(theme.base)),
    ];
    if view.typing {
        spans.push(Span::styled("▏", theme.base.fg(theme.accent)));
        spans.push(Span::styled("   Enter predict · Esc leave · Ctrl-U clear", theme.dimmed()));
    }
    Line::from(spans)
}

/// Each class's (label's) probability of a typed sentence, highest first.
fn output_bars(e: &Explanation, width: u16, theme: &Theme) -> Vec<Line<'static>> {
    let probabilities = match &e.outputs {
        Outputs::Classes(p) | Outputs::Labels { probabilities: p, .. } => p,
        Outputs::Value(_) | Outputs::Tags(_) => return Vec::new(),
    };
    let mut classes: Vec<(&String, f32)> = e.labels.iter().zip(probabilities.iter().copied()).collect();
    classes.sort_by(|a, b| b.1.total_cmp(&a.1));
    let name_w = classes.iter().map(|(l, _)| l.chars().count()).max().unwrap_or(4).clamp(4, 16);
    let bar_w = usize::from(width).saturating_sub(name_w + 10).clamp(4, 40);
    classes
        .into_iter()
        .take(8)
        .map(|(label, p)| {
            let filled = (f64::from(p.clamp(0.0, 1.0)) * bar_w as f64).round() as usize;
            Line::from(vec![
                Span::styled(format!("{:<name_w$} ", cut(label, name_w)), theme.base),
                Span::styled(format!("{:<bar_w$}", "█".repeat(filled)), theme.base.fg(theme.accent)),
                Span::styled(format!(" {p:.3}"), theme.base),
            ])
        })
        .collect()
}

/// The attention maps: every layer × head small (the picked one marked), the picked one large
/// with its tokens, and the rollout to `[CLS]` (or the explained token) as a bar per token.
pub fn draw_attention(frame: &mut Frame, area: Rect, view: &EvalView, theme: &Theme) {
    let Some(e) = view.explanation.as_ref().and_then(ExplainState::ready) else {
        let block = panel("Attention", theme);
        let inner = block.inner(area);
        frame.render_widget(block, area);
        placeholder(frame, inner, "The attention maps come with the explanation: still computing…", theme);
        return;
    };
    let a = &e.attention;
    let (layer, head) = (
        view.attention_pick.0.min(a.layers.saturating_sub(1)),
        view.attention_pick.1.min(a.heads.saturating_sub(1)),
    );
    let title = format!(
        "Attention · layer {} of {}, head {} of {} · ↑↓ layer ←→ head · Esc back",
        layer + 1,
        a.layers,
        head + 1,
        a.heads
    );
    let block = panel(title, theme);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let mini = 6u16;
    let grid_w = (a.heads as u16 * (mini + 1) + 4).min(inner.width / 3);
    let [grid, big, flow] =
        Layout::horizontal([Constraint::Length(grid_w), Constraint::Min(20), Constraint::Length(24)])
            .areas(inner);
    // The grid: one small map per layer (rows) and head (columns).
    let buf = frame.buffer_mut();
    let cells = usize::from(mini);
    let rows = usize::from(mini / 2);
    for h in 0..a.heads {
        let x = grid.x + 3 + h as u16 * (mini + 1);
        if x + mini <= grid.right() {
            buf.set_string(x, grid.y, format!("H{}", h + 1), theme.dimmed());
        }
    }
    for l in 0..a.layers {
        let y = grid.y + 1 + l as u16 * (mini / 2 + 1);
        if y + mini / 2 > grid.bottom() {
            break;
        }
        buf.set_string(grid.x, y, format!("L{}", l + 1), theme.dimmed());
        for h in 0..a.heads {
            let x = grid.x + 3 + h as u16 * (mini + 1);
            if x + mini > grid.right() {
                break;
            }
            let m = a.map(l, h);
            let top = f64::from(m.iter().copied().fold(0.0f32, f32::max)).max(1e-12);
            let picked = l == layer && h == head;
            for r in 0..rows {
                for c in 0..cells {
                    let (bg, _) = theme.heat_cell(block_mean(m, a.len, (r, rows), (c, cells)) / top);
                    // The picked map is framed above and below.
                    let symbol = if picked && r == 0 {
                        "▔"
                    } else if picked && r + 1 == rows {
                        "▁"
                    } else {
                        " "
                    };
                    buf.set_string(x + c as u16, y + r as u16, symbol, Style::new().bg(bg).fg(theme.accent));
                }
            }
        }
    }
    // The large map: rows are query tokens, columns the tokens they attend to.
    let label_w = 10u16;
    let fits =
        usize::from(big.width.saturating_sub(label_w + 1) / 2).min(usize::from(big.height.saturating_sub(2)));
    let n = a.len.min(fits);
    // Every fifth column is numbered (each column is two cells wide).
    let header = (0..n).step_by(5).fold(String::new(), |mut h, k| {
        let _ = write!(h, "{k:<10}");
        h
    });
    buf.set_string(big.x + label_w + 1, big.y, header, theme.dimmed());
    let map = a.map(layer, head);
    // Shaded against the map's largest probability (rows sum to 1 over many tokens).
    let top = f64::from(map.iter().copied().fold(0.0f32, f32::max)).max(1e-12);
    for q in 0..n {
        let y = big.y + 1 + q as u16;
        let token = e.tokens.get(q).map_or("", String::as_str);
        buf.set_string(big.x, y, format!("{:>2} {:<7}", q, cut(token, 7)), theme.base);
        for k in 0..n {
            let (bg, _) = theme.heat_cell(f64::from(map[q * a.len + k]) / top);
            buf.set_string(big.x + label_w + 1 + 2 * k as u16, y, "  ", Style::new().bg(bg));
        }
    }
    if n < a.len {
        let note = format!("first {n} of {} tokens: a larger terminal shows more", a.len);
        buf.set_string(big.x, big.y + 1 + n as u16, cut(&note, usize::from(big.width)), theme.dimmed());
    }
    // Rollout: how much of the explained token's final vector flows from each input token.
    let from = e.attribution.target.token.unwrap_or(0);
    let row = e.rollout_row();
    let top = row.iter().copied().fold(0.0f64, f64::max).max(1e-12);
    let mut lines = vec![Line::styled(
        format!("rollout to {}", cut(e.tokens.get(from).map_or("?", String::as_str), 10)),
        theme.dimmed(),
    )];
    for (k, share) in row.iter().enumerate() {
        let bar = (share / top * 8.0).round() as usize;
        lines.push(Line::from(vec![
            Span::styled(format!("{:<9} ", cut(e.tokens.get(k).map_or("", String::as_str), 9)), theme.base),
            Span::styled(format!("{:<8}", "█".repeat(bar)), theme.base.fg(theme.accent)),
            Span::styled(format!(" {share:.2}"), theme.dimmed()),
        ]));
    }
    frame.render_widget(Paragraph::new(lines), flow);
}

/// The mean of a block of a `len × len` map shown in a `rows × cols` grid.
fn block_mean(map: &[f32], len: usize, (r, rows): (usize, usize), (c, cols): (usize, usize)) -> f64 {
    let (q0, q1) = (r * len / rows, ((r + 1) * len / rows).max(r * len / rows + 1).min(len));
    let (k0, k1) = (c * len / cols, ((c + 1) * len / cols).max(c * len / cols + 1).min(len));
    let mut sum = 0.0;
    let mut n = 0usize;
    for q in q0..q1 {
        for k in k0..k1 {
            sum += f64::from(map[q * len + k]);
            n += 1;
        }
    }
    if n == 0 { 0.0 } else { sum / n as f64 }
}

/// The sentence vectors before and after fine-tuning, side by side, as braille scatters.
pub fn draw_representations(frame: &mut Frame, area: Rect, view: &EvalView, theme: &Theme) {
    let block = panel(
        "Representations · [CLS] vectors before and after fine-tuning (PCA) · r back · x export",
        theme,
    );
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let r = match &view.representations {
        None | Some(Asked::Pending) => {
            return placeholder(
                frame,
                inner,
                "Computing the vectors of the validation set with both encoders…",
                theme,
            );
        }
        Some(Asked::Done(Err(why))) => {
            return placeholder(frame, inner, &format!("cannot show the representations: {why}"), theme);
        }
        Some(Asked::Done(Ok(r))) => r,
    };
    let [plots, legend] = Layout::vertical([Constraint::Min(6), Constraint::Length(2)]).areas(inner);
    let [left, right] = Layout::horizontal([Constraint::Ratio(1, 2), Constraint::Ratio(1, 2)]).areas(plots);
    scatter(frame, left, &r.before, &format!("before: {}", r.before_name), r, theme);
    scatter(frame, right, &r.after, "after fine-tuning", r, theme);
    let mut spans =
        vec![Span::styled(format!("{} examples ({}) · ", r.group_of.len(), r.split), theme.dimmed())];
    for (g, name) in r.groups.iter().enumerate() {
        spans.push(Span::styled("● ", Style::new().fg(theme.series_color(g))));
        spans.push(Span::styled(format!("{}  ", cut(name, 14)), theme.base));
    }
    let note = Line::styled(
        "apart: share of the variance between the classes' means (all dimensions)",
        theme.dimmed(),
    );
    frame.render_widget(Paragraph::new(vec![Line::from(spans), note]), legend);
}

fn scatter(frame: &mut Frame, area: Rect, s: &Scatter, name: &str, r: &Representations, theme: &Theme) {
    let title = format!(
        "{} · apart {:.0} %",
        cut(name, usize::from(area.width).saturating_sub(16)),
        100.0 * s.separation
    );
    let block = panel(title, theme);
    let bounds = |axis: usize| {
        let (lo, hi) = s
            .points
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| (lo.min(p[axis]), hi.max(p[axis])));
        if lo.is_finite() && hi > lo { [lo, hi] } else { [-1.0, 1.0] }
    };
    let groups: Vec<Vec<(f64, f64)>> = (0..r.groups.len())
        .map(|g| {
            s.points.iter().zip(&r.group_of).filter(|(_, x)| **x == g).map(|(p, _)| (p[0], p[1])).collect()
        })
        .collect();
    let canvas = Canvas::default()
        .block(block)
        .background_color(theme.base.bg.unwrap_or(Color::Reset))
        .marker(Marker::Braille)
        .x_bounds(bounds(0))
        .y_bounds(bounds(1))
        .paint(|ctx| {
            for (g, points) in groups.iter().enumerate() {
                ctx.draw(&Points { coords: points, color: theme.series_color(g) });
            }
        });
    frame.render_widget(canvas, area);
}

/// The masking inspector over the New run screen.
pub fn draw_masking(
    frame: &mut Frame,
    area: Rect,
    sample: &Asked<MaskingSample>,
    scroll: u16,
    theme: &Theme,
) {
    frame.render_widget(Clear, area);
    let block =
        panel("Masking inspector · the first masked-LM batch · ↑↓ scroll · x export · Esc close", theme);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let m = match sample {
        Asked::Pending => {
            return placeholder(frame, inner, "Tokenizing the data and masking the first batch…", theme);
        }
        Asked::Done(Err(why)) => {
            return placeholder(frame, inner, &format!("cannot inspect the masking: {why}"), theme);
        }
        Asked::Done(Ok(m)) => m,
    };
    let c = m.counts;
    let pct = |n: usize, of: usize| if of == 0 { 0.0 } else { 100.0 * n as f64 / of as f64 };
    let mut lines = vec![
        Line::from(vec![
            Span::styled("selected ", theme.dimmed()),
            Span::styled(
                format!(
                    "{} of {} ordinary tokens = {:.1} %",
                    c.selected(),
                    c.eligible,
                    pct(c.selected(), c.eligible)
                ),
                bold(theme.base),
            ),
            Span::styled(
                format!(
                    "  (configured {:.1} %{})",
                    100.0 * m.ratio,
                    if m.whole_word { ", whole words" } else { "" }
                ),
                theme.dimmed(),
            ),
        ]),
        Line::from(vec![
            Span::styled("[MASK] ", theme.base.fg(theme.warn)),
            Span::styled(format!("{} = {:.0} %  ", c.masked, pct(c.masked, c.selected())), theme.base),
            Span::styled("random ", theme.base.fg(theme.bad)),
            Span::styled(format!("{} = {:.0} %  ", c.random, pct(c.random, c.selected())), theme.base),
            Span::styled("kept ", theme.base.fg(theme.good)),
            Span::styled(format!("{} = {:.0} %", c.kept, pct(c.kept, c.selected())), theme.base),
            Span::styled(
                format!(
                    "  (configured {:.0}/{:.0}/{:.0})",
                    100.0 * m.split.mask,
                    100.0 * m.split.random,
                    100.0 * (1.0 - m.split.mask - m.split.random)
                ),
                theme.dimmed(),
            ),
        ]),
        Line::styled(
            "Each selected token is one the model must guess: X←word means it reads X in place of word ([MASK], or a random token); underlined: kept as it is.",
            theme.dimmed(),
        ),
        Line::raw(""),
    ];
    for (i, seq) in m.sequences.iter().enumerate() {
        let mut spans = vec![Span::styled(format!("{:>2}  ", i + 1), theme.dimmed())];
        for t in seq {
            let (text, style) = match &t.fate {
                Fate::Unselected => (t.token.clone(), theme.base),
                Fate::Special => (t.token.clone(), theme.dimmed()),
                Fate::Masked => (format!("[MASK]←{}", t.token), bold(theme.base.fg(theme.warn))),
                Fate::Random(shown) => (format!("{shown}←{}", t.token), bold(theme.base.fg(theme.bad))),
                Fate::Kept => (
                    t.token.clone(),
                    bold(theme.base.fg(theme.good)).add_modifier(ratatui::style::Modifier::UNDERLINED),
                ),
            };
            spans.push(Span::styled(text, style));
            spans.push(Span::raw(" "));
        }
        lines.push(Line::from(spans));
    }
    scrolled_text(frame, inner, lines, scroll);
}
