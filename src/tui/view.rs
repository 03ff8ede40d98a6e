//! Drawing: a pure function of `&App`. The frame is a header with the screens, the screen's
//! body, a footer with the last notice or the main keys, and an overlay when one is open.

mod compare;
mod eval;
mod experiments;
mod explain;
mod help;
pub use help::GLOSSARY;
mod runs;
mod setup;
mod train;

use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Flex, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Clear, Paragraph, Wrap};

use super::app::{App, EvalFocus, EvalPane, NoticeKind, Overlay, Screen};
use super::theme::Theme;

/// Below this the layouts cannot say anything useful; the screen says so instead.
pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 16;

pub fn draw(frame: &mut Frame, app: &App) {
    let theme = app.theme.theme();
    let area = frame.area();
    frame.render_widget(Block::new().style(theme.base), area);
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        let text = format!(
            "The terminal is {}×{}; bertbench needs at least {MIN_WIDTH}×{MIN_HEIGHT}.\nEnlarge the window, or press q to quit.",
            area.width, area.height
        );
        let y = area.height / 2;
        frame.render_widget(
            Paragraph::new(text).style(theme.base).alignment(Alignment::Center).wrap(Wrap { trim: true }),
            Rect::new(area.x, area.y + y.saturating_sub(1), area.width, 3.min(area.height)),
        );
        return;
    }
    let [header, body, footer] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(0), Constraint::Length(1)]).areas(area);
    draw_header(frame, header, app, &theme);
    match app.screen {
        Screen::Setup => setup::draw(frame, body, app, &theme),
        Screen::Train => train::draw(frame, body, app, &theme),
        Screen::Eval => eval::draw(frame, body, app, &theme),
        Screen::Runs => runs::draw(frame, body, app, &theme),
        Screen::Compare => compare::draw(frame, body, app, &theme),
        Screen::Experiments => experiments::draw(frame, body, app, &theme),
    }
    draw_footer(frame, footer, app, &theme);
    match &app.overlay {
        Some(Overlay::Help) => help::draw(frame, body, app, &theme),
        Some(Overlay::Confirm(c)) => draw_confirm(frame, body, &c.question(app), &theme),
        Some(Overlay::Masking { sample, .. }) => {
            explain::draw_masking(frame, body, sample, app.overlay_scroll, &theme);
        }
        Some(Overlay::Recipes { entries, cursor }) => {
            setup::draw_recipes(frame, body, app, entries, *cursor, &theme);
        }
        None => {}
    }
}

fn draw_header(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    // Below 90 columns the screens and a run's state need the brand's room.
    let mut spans = if area.width >= 90 {
        vec![Span::styled(" bertbench ", theme.title().add_modifier(Modifier::REVERSED)), Span::raw(" ")]
    } else {
        Vec::new()
    };
    // Full titles need about 120 columns with a run training; narrower headers take short ones.
    let wide = area.width >= 120;
    for (i, screen) in Screen::ALL.iter().enumerate() {
        let style = if *screen == app.screen { theme.highlight } else { theme.dimmed() };
        let title = if wide { screen.title() } else { screen.short_title() };
        spans.push(Span::styled(format!(" {} {title} ", i + 1), style));
    }
    let run_state = app.active_run().map(|r| {
        let pct = r.last_step.as_ref().map_or(0.0, |s| s.step as f64 / s.total_steps.max(1) as f64 * 100.0);
        let queued =
            if app.queue.is_empty() { String::new() } else { format!(" +{} queued", app.queue.len()) };
        format!("{} {pct:.0}%{queued} ", r.state.label())
    });
    let used: usize = spans.iter().map(Span::width).sum();
    let state = run_state.unwrap_or_default();
    // "? help" gives way to the run's state where both do not fit (80 columns, a run training).
    let with_help = format!("{state}? help ");
    let right = if used + with_help.chars().count() <= area.width as usize { with_help } else { state };
    let pad = (area.width as usize).saturating_sub(used + right.chars().count());
    spans.push(Span::raw(" ".repeat(pad)));
    spans.push(Span::styled(right, theme.base.fg(theme.accent)));
    frame.render_widget(Line::from(spans).style(theme.base), area);
}

fn draw_footer(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let line = if app.lifecycle.is_quitting() {
        Line::styled(
            " stopping the run after its current step (recorded as cancelled), then quitting · q: quit now",
            theme.base.fg(theme.warn),
        )
    } else if let Some(n) = &app.notice {
        let color = if n.kind == NoticeKind::Error { theme.bad } else { theme.good };
        Line::styled(format!(" {}", n.text), theme.base.fg(color))
    } else {
        Line::styled(format!(" {}", hints(app)), theme.dimmed())
    };
    frame.render_widget(Paragraph::new(line).style(theme.base), area);
}

/// The Evaluation screen's keys for what is on it: the matrix, the predictions, one
/// prediction whole, or the reliability diagram (offered for heads that have one).
fn eval_hints(app: &App) -> &'static str {
    let Some(view) = app.eval.as_ref() else { return "4 runs: pick one and press Enter" };
    let calibrated = view.report().is_some_and(|r| r.scores.calibration.is_some());
    if view.typing {
        return "type a sentence · Enter predict and explain · Esc leave · Ctrl-U clear";
    }
    match (view.pane, view.focus) {
        (EvalPane::Reliability, _) => "c or Esc back · the diagonal is calibrated; below it: overconfident",
        (EvalPane::Detail, _) => "↑↓ another · a attention · g other class · PgDn scroll · x PNG · Esc back",
        (EvalPane::Sentence, _) => "e edit · a attention · g other class · PgDn scroll · x PNG · Esc back",
        (EvalPane::Attention { .. }, _) => "↑↓ layer · ←→ head · a or Esc back · x export PNG",
        (EvalPane::Representations, _) => {
            "r or Esc back · x export PNG · apart: class means' share of variance"
        }
        (EvalPane::Predictions, EvalFocus::Predictions) => {
            "↑↓ prediction · Enter whole · e try a sentence · r vectors · f filter · o sort"
        }
        _ if calibrated => "arrows cell · Enter drill · p list · c calibration · e try · r vectors",
        _ => "arrows cell · Enter drill · p list · f filter · e try a sentence · r vectors",
    }
}

/// The few keys that matter most on each screen.
fn hints(app: &App) -> &'static str {
    match app.screen {
        Screen::Setup if app.setup.editing.is_some() => {
            "type to replace · Tab complete a path · Ctrl-U clear · Enter keep · Esc cancel"
        }
        Screen::Setup => "↑↓ field · ←→ change · Enter edit · s start · o recipe · b vs scratch · L budget",
        Screen::Train => "Space pause · s stop · c checkpoint · ←→ other run · 3 evaluation · q quit",
        Screen::Eval => eval_hints(app),
        Screen::Runs if app.runs.renaming.is_some() => {
            "type the label · Enter keep · Esc cancel · Ctrl-U clear"
        }
        Screen::Runs => "↑↓ move · Enter open · Space mark · c compare · n label · r resume · d delete",
        Screen::Compare if app.compare.predictions_page => {
            "p curves · ←→ run against #1 · ↑↓ scroll · 4 runs"
        }
        Screen::Compare => "m metric · a align · p predictions · ↑↓ scroll diff · x export · 4 runs",
        Screen::Experiments => {
            "↑↓ setting · ←→ sweep · Enter its run · o sort · c compare · s continue · x PNG"
        }
    }
}

fn draw_confirm(frame: &mut Frame, area: Rect, question: &str, theme: &Theme) {
    let width = 60.min(area.width);
    let popup = center(area, width, 6);
    frame.render_widget(Clear, popup);
    let block = Block::bordered()
        .border_type(BorderType::Double)
        .title(Span::styled(" Confirm ", theme.title()))
        .style(theme.base.fg(theme.warn));
    let text = vec![
        Line::styled(question.to_owned(), theme.base),
        Line::raw(""),
        Line::styled("y / Enter: yes     n / Esc: no", theme.title()),
    ];
    frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: true }).block(block), popup);
}

/// A rectangle of the given size in the middle of `area` (clipped to it).
pub fn center(area: Rect, width: u16, height: u16) -> Rect {
    let [row] =
        Layout::vertical([Constraint::Length(height.min(area.height))]).flex(Flex::Center).areas(area);
    let [cell] =
        Layout::horizontal([Constraint::Length(width.min(area.width))]).flex(Flex::Center).areas(row);
    cell
}

/// A titled block for a panel.
pub fn panel<'a>(title: impl Into<String>, theme: &Theme) -> Block<'a> {
    Block::new()
        .borders(Borders::ALL)
        .border_type(BorderType::Rounded)
        .border_style(theme.dimmed())
        .title(Span::styled(format!(" {} ", title.into()), theme.title()))
        .style(theme.base)
}

/// A short placeholder in the middle of an empty screen.
pub fn placeholder(frame: &mut Frame, area: Rect, text: &str, theme: &Theme) {
    let p = Paragraph::new(text.to_owned())
        .alignment(Alignment::Center)
        .wrap(Wrap { trim: true })
        .style(theme.dimmed());
    frame.render_widget(p, center(area, 64, 4));
}

/// Cuts `s` to `width` characters, with an ellipsis when cut.
pub fn cut(s: &str, width: usize) -> String {
    let s = s.replace(['\n', '\r', '\t'], " ");
    if s.chars().count() <= width {
        s
    } else {
        s.chars().take(width.saturating_sub(1)).chain(['…']).collect()
    }
}

/// Seconds as `1h02m`, `3m05s` or `12s`.
pub fn duration(s: f64) -> String {
    let s = s.max(0.0).round() as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// `label  value` pairs as aligned lines.
pub fn kv<'a>(
    rows: impl IntoIterator<Item = (&'a str, String)>,
    theme: &Theme,
    width: usize,
) -> Vec<Line<'a>> {
    rows.into_iter()
        .map(|(k, v)| {
            // A name as long as the column still gets a space before its value.
            let width = width.max(k.chars().count() + 1);
            Line::from(vec![
                Span::styled(format!("{k:<width$}"), theme.dimmed()),
                Span::styled(v, theme.base),
            ])
        })
        .collect()
}

/// `lines` wrapped into `area`, scrolled down by `scroll` lines but no further than the last
/// line at the bottom (the count is of lines as wrapped, estimated by width).
pub fn scrolled_text(frame: &mut Frame, area: Rect, lines: Vec<Line<'_>>, scroll: u16) {
    let width = usize::from(area.width.max(1));
    let total: usize = lines.iter().map(|l| l.width().div_ceil(width).max(1)).sum();
    let scroll = scroll.min(total.saturating_sub(usize::from(area.height)) as u16);
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }).scroll((scroll, 0)), area);
}

pub fn bold(style: Style) -> Style {
    style.add_modifier(Modifier::BOLD)
}
