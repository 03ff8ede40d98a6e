//! The help overlay: every key of the current screen (from the key table) and what the numbers
//! on screen mean, for people learning what fine-tuning does.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};

use super::{bold, center, panel};
use crate::tui::app::App;
use crate::tui::keymap::help_for;
use crate::tui::theme::Theme;

/// One line per idea a screen shows.
pub const GLOSSARY: &[(&str, &str)] = &[
    ("loss", "how wrong the model is on average (cross-entropy); lower is better, and it should fall"),
    ("accuracy", "share of examples whose predicted label is the gold one"),
    ("macro-F1", "F1 (balance of precision and recall) averaged over classes, each class counting equally"),
    ("precision", "of the examples predicted as a class, the share that truly are"),
    ("recall", "of the examples of a class, the share the model found"),
    ("confusion", "rows: the gold class; columns: the predicted one; the diagonal is what went right"),
    ("learning rate", "size of each update; it warms up, then decays linearly to 0"),
    ("grad norm", "size of the gradient; spikes mean unstable training (it is clipped at 1)"),
    ("masking ratio", "share of tokens hidden in masked-LM pretraining: the model learns by filling them in"),
    ("valid / test", "held-out data: valid picks the best checkpoint, test is the final honest score"),
];

pub fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let popup = center(area, 96.min(area.width.saturating_sub(2)), area.height.saturating_sub(1));
    frame.render_widget(Clear, popup);
    let block = panel(format!("Help: {} (Esc closes)", app.screen.title()), theme);
    let mut lines = vec![Line::styled("Keys", bold(theme.base.fg(theme.accent)))];
    for (keys, what) in help_for(app.screen) {
        lines.push(Line::from(vec![
            Span::styled(format!("{keys:>10}  "), bold(theme.base)),
            Span::styled(what, theme.base),
        ]));
    }
    lines.push(Line::raw(""));
    lines.push(Line::styled("What the numbers mean", bold(theme.base.fg(theme.accent))));
    for (term, meaning) in GLOSSARY {
        lines.push(Line::from(vec![
            Span::styled(format!("{term:>13}  "), bold(theme.base)),
            Span::styled(*meaning, theme.base),
        ]));
    }
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }).block(block), popup);
}
