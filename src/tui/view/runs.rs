//! Runs: every record in the runs folder, to open, mark for comparison, or delete.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Cell, Paragraph, Row, Table, TableState};

use super::{cut, duration, panel, placeholder};
use crate::report::RunStatus;
use crate::tui::app::App;
use crate::tui::theme::Theme;

pub fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let runs = &app.runs;
    if runs.rows.is_empty() {
        let text = format!(
            "No runs in {} yet.\nStart one on the New run screen (1); finished runs appear here.",
            app.settings.runs_dir.display()
        );
        placeholder(frame, area, &text, theme);
        return;
    }
    let [table_area, detail] = Layout::vertical([Constraint::Min(0), Constraint::Length(2)]).areas(area);
    let status_color = |s: RunStatus| match s {
        RunStatus::Finished => theme.good,
        RunStatus::Running => theme.accent,
        RunStatus::Cancelled => theme.warn,
        RunStatus::Failed | RunStatus::Interrupted => theme.bad,
    };
    let narrow = area.width < 100;
    let rows: Vec<Row> = runs
        .rows
        .iter()
        .map(|r| {
            let mark = if runs.marked.contains(&r.id) { "●" } else { " " };
            let best = r.best.as_ref().map_or_else(
                || "-".into(),
                |b| if narrow { format!("{:.4}", b.value) } else { b.to_string() },
            );
            let mut cells =
                vec![Cell::from(mark).style(theme.base.fg(theme.accent)), Cell::from(r.label.clone())];
            if !narrow {
                cells.push(Cell::from(started(&r.id)));
            }
            cells.extend([
                Cell::from(r.status.as_str()).style(theme.base.fg(status_color(r.status))),
                Cell::from(r.dataset.clone()),
                Cell::from(crate::runs::short_model_name(&r.model)),
            ]);
            if !narrow {
                cells.push(Cell::from(r.task.clone()));
            }
            cells.push(Cell::from(best));
            cells.push(Cell::from(r.duration_s.map_or_else(|| "-".into(), duration)));
            Row::new(cells)
        })
        .collect();
    let mut header = vec!["", "label"];
    let mut widths = vec![Constraint::Length(1), Constraint::Min(16)];
    if !narrow {
        header.push("started");
        widths.push(Constraint::Length(11));
    }
    header.extend(["status", "dataset", "model"]);
    widths.extend([
        Constraint::Length(11),
        Constraint::Length(if narrow { 10 } else { 12 }),
        Constraint::Length(if narrow { 10 } else { 12 }),
    ]);
    if !narrow {
        header.push("head");
        widths.push(Constraint::Length(11));
    }
    // The figure as `bertbench runs list` writes it (`val` when it is validation's).
    header.extend(["result", "time"]);
    widths.extend([Constraint::Length(if narrow { 7 } else { 16 }), Constraint::Length(6)]);
    let title = format!(
        "Runs in {} ({}, {} marked)",
        app.settings.runs_dir.display(),
        runs.rows.len(),
        runs.marked.len()
    );
    let table = Table::new(rows, widths)
        .header(Row::new(header).style(theme.dimmed()))
        .block(panel(title, theme))
        .row_highlight_style(theme.highlight)
        .style(theme.base);
    let mut state = TableState::default().with_selected(Some(runs.cursor));
    frame.render_stateful_widget(table, table_area, &mut state);
    if let Some((_, typed)) = &runs.renaming {
        let line = Line::from(vec![
            ratatui::text::Span::styled("label: ", theme.title()),
            ratatui::text::Span::styled(format!("{typed}▏"), theme.highlight),
            ratatui::text::Span::styled(
                "  Enter keep · Esc cancel · empty: the automatic label",
                theme.dimmed(),
            ),
        ]);
        frame.render_widget(Paragraph::new(line), detail);
    } else if let Some(r) = runs.current() {
        let text = match &r.reason {
            Some(reason) => format!("{} · {} {}: {reason}", r.label, r.id, r.status.as_str()),
            None => format!("{} · {}  ({})", r.label, r.id, r.dir.display()),
        };
        let style = if r.reason.is_some() { theme.base.fg(status_color(r.status)) } else { theme.dimmed() };
        frame.render_widget(
            Paragraph::new(Line::styled(cut(&text, detail.width as usize * 2), style))
                .wrap(ratatui::widgets::Wrap { trim: true }),
            detail,
        );
    }
}

/// `12-02 03:48` from a run id that starts `YYYYMMDD-HHMMSS`.
fn started(id: &str) -> String {
    crate::runs::label::started_at(id)
        .map_or_else(|| "-".into(), |(day, time)| format!("{day} {}", &time[..5]))
}
