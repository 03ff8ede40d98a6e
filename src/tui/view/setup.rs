//! New run: the form on the left, what the chosen data looks like on the right.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::{bold, cut, panel};
use crate::tui::app::App;
use crate::tui::form::{Entry, Field, SetupForm};
use crate::tui::theme::Theme;

const LABEL_WIDTH: usize = 22;

pub fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let [form_area, data_area] =
        Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(area);
    draw_form(frame, form_area, &app.setup, theme);
    draw_data(frame, data_area, &app.setup, theme);
}

fn draw_form(frame: &mut Frame, area: Rect, form: &SetupForm, theme: &Theme) {
    let block = panel("New run", theme);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [list, help] = Layout::vertical([Constraint::Min(0), Constraint::Length(3)]).areas(inner);
    let fields = form.fields();
    let current = form.current();
    let value_width = (list.width as usize).saturating_sub(LABEL_WIDTH + 1);
    let lines: Vec<Line> = fields
        .iter()
        .map(|&f| {
            let selected = f == current;
            let refused = form.error.as_ref().is_some_and(|(ef, _)| *ef == f);
            let value = match &form.editing {
                Some(e) if e.field == f => format!("{}▏", e.buffer),
                _ => form.value(f),
            };
            let choice = f.spec().entry == Entry::Picked && selected && form.editing.is_none();
            let value = if choice {
                format!("‹ {} ›", cut(&value, value_width.saturating_sub(4)))
            } else {
                cut(&value, value_width)
            };
            let unavailable = value.contains("unavailable") || value.contains("not available");
            let value_style = if refused {
                theme.base.fg(theme.bad)
            } else if selected {
                theme.highlight
            } else if unavailable {
                theme.dimmed()
            } else {
                theme.base
            };
            let label_style = if selected { bold(theme.base.fg(theme.accent)) } else { theme.dimmed() };
            Line::from(vec![
                Span::styled(format!("{:<LABEL_WIDTH$} ", f.spec().label), label_style),
                Span::styled(value, value_style),
            ])
        })
        .collect();
    // Keep the selected field visible on short terminals.
    let at = fields.iter().position(|f| *f == current).unwrap_or(0);
    let scroll = at.saturating_sub(list.height.saturating_sub(1) as usize);
    frame.render_widget(Paragraph::new(lines).scroll((scroll as u16, 0)), list);
    let help_line = match &form.error {
        Some((f, why)) if *f == current => Line::styled(format!("✗ {why}"), bold(theme.base.fg(theme.bad))),
        _ if current == Field::Model && form.model_unavailable().is_some() => Line::styled(
            format!("unavailable: {}", form.model_unavailable().unwrap_or_default()),
            theme.base.fg(theme.warn),
        ),
        _ if current == Field::Model && form.model < form.models.len() => Line::styled(
            format!("{} ({})", current.spec().help, form.models[form.model].source),
            theme.dimmed(),
        ),
        _ => Line::styled(current.spec().help, theme.dimmed()),
    };
    frame.render_widget(Paragraph::new(help_line).wrap(Wrap { trim: true }), help);
}

fn draw_data(frame: &mut Frame, area: Rect, form: &SetupForm, theme: &Theme) {
    let name = form.value(Field::Dataset);
    let block = panel(format!("Data: {name}"), theme);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let width = inner.width as usize;
    let mut lines: Vec<Line> = Vec::new();
    match &form.preview {
        None => lines.push(Line::styled("choose a dataset, or enter the path of your file", theme.dimmed())),
        Some(Err(e)) => {
            lines.push(Line::styled("This file cannot be used:", bold(theme.base.fg(theme.bad))));
            lines.push(Line::styled(e.clone(), theme.base.fg(theme.bad)));
        }
        Some(Ok(p)) => {
            if let Some(card) = &p.card {
                lines.push(Line::styled(card.clone(), theme.base));
                lines.push(Line::raw(""));
            }
            lines.push(Line::from(vec![
                Span::styled(format!("{} examples", p.rows), bold(theme.base)),
                Span::styled(
                    format!(" · {} labels · {:.1} words/text", p.label_counts.len(), p.mean_words),
                    theme.base,
                ),
            ]));
            lines.push(Line::styled(
                format!(
                    "text: {} · label: {} · columns: {}",
                    p.text_column,
                    p.label_column,
                    form.columns.join(", ")
                ),
                theme.dimmed(),
            ));
            lines.push(Line::raw(""));
            let label_w = p.label_counts.iter().map(|(l, _)| l.chars().count()).max().unwrap_or(0).min(14);
            let most = p.label_counts.first().map_or(1, |c| c.1).max(1);
            let bar_room = width.saturating_sub(label_w + 8).max(1);
            for (i, (label, n)) in p.label_counts.iter().take(8).enumerate() {
                let bar = "█".repeat((n * bar_room).div_ceil(most).min(bar_room));
                lines.push(Line::from(vec![
                    Span::styled(format!("{:<label_w$} ", cut(label, label_w)), theme.base),
                    Span::styled(bar, theme.base.fg(theme.series_color(i))),
                    Span::styled(format!(" {n}"), theme.dimmed()),
                ]));
            }
            if p.label_counts.len() > 8 {
                lines.push(Line::styled(
                    format!("… {} more labels", p.label_counts.len() - 8),
                    theme.dimmed(),
                ));
            }
            lines.push(Line::raw(""));
            for (label, text) in &p.examples {
                lines.push(Line::from(vec![
                    Span::styled(format!("{label}: "), theme.base.fg(theme.accent)),
                    Span::styled(cut(text, width.saturating_sub(label.chars().count() + 2)), theme.base),
                ]));
            }
        }
    }
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
}

/// The recipe list over the form: each recipe's file, what it is for, and for a sweep how many
/// runs it holds; the chosen one highlighted.
pub fn draw_recipes(
    frame: &mut Frame,
    area: Rect,
    app: &App,
    entries: &crate::tui::app::Asked<Vec<crate::tui::app::RecipeEntry>>,
    cursor: usize,
    theme: &Theme,
) {
    use crate::tui::app::{Asked, Recipe};
    let popup = super::center(area, area.width.saturating_sub(6).min(96), area.height.saturating_sub(2));
    frame.render_widget(ratatui::widgets::Clear, popup);
    let title = format!(
        "Recipes in {} · ↑↓ choose · Enter load (a sweep: start it) · Esc close",
        app.settings.recipes_dir.display()
    );
    let block = panel(title, theme);
    let inner = block.inner(popup);
    frame.render_widget(block, popup);
    let list = match entries {
        Asked::Pending => return super::placeholder(frame, inner, "Reading the recipes…", theme),
        Asked::Done(Err(why)) => return super::placeholder(frame, inner, why, theme),
        Asked::Done(Ok(list)) if list.is_empty() => {
            let text = format!("No recipes in {} yet: w writes one.", app.settings.recipes_dir.display());
            return super::placeholder(frame, inner, &text, theme);
        }
        Asked::Done(Ok(list)) => list,
    };
    let width = inner.width as usize;
    // Two lines per recipe; the list scrolls to keep the chosen one in view.
    let per_page = (inner.height as usize / 2).max(1);
    let first = cursor.saturating_sub(per_page - 1);
    let mut lines = Vec::new();
    for (i, entry) in list.iter().enumerate().skip(first).take(per_page) {
        let name = entry.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let kind = match &entry.recipe {
            Ok(Recipe::Run(_)) => "run".to_owned(),
            Ok(Recipe::Sweep(s)) => format!("sweep: {} runs", s.settings.len() * s.seeds.len()),
            Err(_) => "does not read".to_owned(),
        };
        let style = if i == cursor { theme.highlight } else { theme.base };
        lines.push(Line::from(vec![
            Span::styled(format!("{} {name}", if i == cursor { "›" } else { " " }), bold(style)),
            Span::styled(format!("  ({kind})"), theme.dimmed()),
        ]));
        let about = match &entry.recipe {
            Err(why) => Span::styled(cut(why, width.saturating_sub(4)), theme.base.fg(theme.bad)),
            Ok(_) => Span::styled(cut(&entry.about, width.saturating_sub(4)), theme.dimmed()),
        };
        lines.push(Line::from(vec![Span::raw("    "), about]));
    }
    frame.render_widget(Paragraph::new(lines).style(theme.base), inner);
}
