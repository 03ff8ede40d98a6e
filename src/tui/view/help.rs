//! The help overlay: every key of the current screen (from the key table) and what the numbers
//! on screen mean, for people learning what fine-tuning does.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

use super::{bold, center, panel};
use crate::tui::app::App;
use crate::tui::keymap::help_for;
use crate::tui::theme::Theme;

/// One line per idea a screen shows.
pub const GLOSSARY: &[(&str, &str)] = &[
    ("loss", "how wrong the model is on average; lower is better"),
    ("accuracy", "share of examples given their gold label"),
    ("precision", "of those predicted as a class, the share truly in it"),
    ("recall", "of a class's examples, the share the model found"),
    ("F1", "balance of precision and recall (harmonic mean)"),
    ("macro-F1", "F1 averaged over classes, rare ones counting fully"),
    ("micro-F1", "F1 of all decisions pooled (every label of every text)"),
    ("confusion", "rows: gold class, columns: predicted; diagonal = right"),
    ("entity F1", "tagging: an entity counts only with its exact words and type"),
    ("subset acc.", "label sets: share of texts given exactly their gold labels"),
    ("Hamming loss", "label sets: share of label decisions that are wrong"),
    ("threshold", "label sets: a label is predicted at this probability or above"),
    ("Pearson", "regression: do predictions follow gold (1 = on a line)"),
    ("Spearman", "regression: the same on ranks: is the order right"),
    ("MAE / MSE", "regression: mean absolute / squared error, in target units"),
    ("learning rate", "size of each update; warms up, then decays to 0"),
    ("grad norm", "size of the gradient; spikes mean unstable training"),
    ("examples/s", "training speed: examples per second in the latest step"),
    ("ETA", "time left at the speed so far"),
    ("@ step 57", "when a figure was measured: after that many updates"),
    ("best: … @ N", "best validation so far and its step: the model kept"),
    ("test @ step N", "at the end: the kept (best) model on the test split"),
    ("confidence", "probability of the predicted class (tagging: least sure word)"),
    ("ECE", "calibration: how far probabilities are from how often right"),
    ("masking ratio", "share of tokens hidden in masked-LM pretraining"),
    ("share", "a token's part of the output's change from the baseline (IG)"),
    ("IG", "integrated gradients: shares sum to f(text) − f(baseline)"),
    ("attention", "a row: how one token splits its attention (the row sums to 1)"),
    ("rollout", "attention through the layers: how much [CLS] owes each token"),
    ("apart", "vectors: share of their variance lying between class means"),
    ("PCA axes", "the two directions of largest spread; % = variance shown"),
    ("valid / test", "held out: valid picks the checkpoint, test is final"),
];

pub fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let popup = center(area, 80.min(area.width.saturating_sub(2)), area.height.saturating_sub(1));
    frame.render_widget(Clear, popup);
    let mut lines = vec![Line::styled("Keys", bold(theme.base.fg(theme.accent)))];
    for (keys, what) in help_for(app.screen) {
        lines.push(Line::from(vec![
            Span::styled(format!("{keys:>13}  "), bold(theme.base)),
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
    // Lines are short enough not to wrap, so their count is the height of the text.
    let visible = popup.height.saturating_sub(2);
    let total = lines.len() as u16;
    let scroll = app.overlay_scroll.min(total.saturating_sub(visible));
    let more = if total > visible { " · ↑↓ scroll" } else { "" };
    let block = panel(format!("Help: {} (Esc closes{more})", app.screen.title()), theme);
    frame.render_widget(Paragraph::new(lines).scroll((scroll, 0)).block(block), popup);
}
