//! Live training: where the run is, how fast, and its curves as they are drawn.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Gauge, Paragraph, Wrap};

use super::{bold, duration, kv, panel, placeholder};
use crate::report::ProbeResult;
use crate::report::RunStatus;
use crate::tui::app::{App, LiveRun, LiveState};
use crate::tui::theme::Theme;
use crate::tui::widgets::{Curve, render_chart};

const SIDE_WIDTH: u16 = 34;

pub fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let Some(run) = app.shown() else {
        placeholder(frame, area, "No run yet.\nPress 1 to set one up, then s to start it.", theme);
        return;
    };
    let [side, charts] = Layout::horizontal([Constraint::Length(SIDE_WIDTH), Constraint::Min(0)]).areas(area);
    draw_side(frame, side, app, run, theme);
    let [loss_area, metric_area] =
        Layout::vertical([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(charts);
    // A masked-LM stage and fine-tuning are charted apart: drawn together, the stage's high
    // loss would flatten fine-tuning under a cliff at the boundary.
    let mlm_steps = run.started.as_ref().map_or(0, |s| s.mlm_steps) as f64;
    let all = run.train_loss.points();
    let fine_tuning: Vec<(f64, f64)> = all.iter().copied().filter(|p| p.0 > mlm_steps).collect();
    let in_stage = mlm_steps > 0.0 && fine_tuning.is_empty();
    let mut loss = if in_stage || mlm_steps == 0.0 {
        let name = if in_stage { "masked-LM train" } else { "train" };
        vec![Curve { name: name.into(), points: &all, color: theme.series_color(0) }]
    } else {
        vec![Curve { name: "train".into(), points: &fine_tuning, color: theme.series_color(0) }]
    };
    if !run.valid_loss.is_empty() {
        loss.push(Curve { name: "valid".into(), points: &run.valid_loss, color: theme.series_color(1) });
    }
    if in_stage && !run.mlm_loss.is_empty() {
        loss.push(Curve {
            name: "masked-LM held out".into(),
            points: &run.mlm_loss,
            color: theme.series_color(4),
        });
    }
    let loss_title = if in_stage {
        "Loss: masked-LM stage".to_owned()
    } else if mlm_steps > 0.0 {
        format!("Loss: fine-tuning (the masked-LM stage took steps 1–{mlm_steps})")
    } else {
        "Loss".to_owned()
    };
    let metric_area = match &run.probes {
        Some((step, probes)) => {
            let [chart, probe_area] =
                Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)])
                    .areas(metric_area);
            draw_probes(frame, probe_area, *step, probes, theme);
            chart
        }
        None => metric_area,
    };
    let buf = frame.buffer_mut();
    render_chart(loss_area, buf, panel(loss_title, theme), &loss, "step", None, theme);
    let mlm_only = run.valid_scores[0].is_empty() && !run.mlm_accuracy.is_empty();
    let metrics = if mlm_only {
        vec![Curve {
            name: "masked-token accuracy".into(),
            points: &run.mlm_accuracy,
            color: theme.series_color(2),
        }]
    } else {
        let names = run.config.head.headline_names();
        (0..2)
            .map(|i| Curve {
                name: names[i].into(),
                points: &run.valid_scores[i],
                color: theme.series_color(2 + i),
            })
            .collect()
    };
    let title = if mlm_only {
        "Masked LM (held out)"
    } else if run.valid_scores[0].is_empty() {
        "Validation (after the first evaluation)"
    } else {
        "Validation"
    };
    // Scores live in [0, 1]; correlations and errors (regression) get an axis that fits them.
    let unit = metrics.iter().flat_map(|c| c.points).all(|p| (0.0..=1.0).contains(&p.1));
    render_chart(metric_area, buf, panel(title, theme), &metrics, "step", unit.then_some([0.0, 1.0]), theme);
}

/// The model's top guesses for each `[MASK]` of the probe sentences: they change as it learns.
fn draw_probes(frame: &mut Frame, area: Rect, step: usize, probes: &[ProbeResult], theme: &Theme) {
    let block = panel(format!("Fill-mask @ step {step}"), theme);
    let width = block.inner(area).width as usize;
    let mut lines = Vec::new();
    for p in probes {
        lines.push(Line::styled(super::cut(&p.text, width), theme.dimmed()));
        for guesses in &p.guesses {
            let text: Vec<String> =
                guesses.iter().take(3).map(|(t, prob)| format!("{t} {:.0}%", prob * 100.0)).collect();
            let line = super::cut(&format!(" → {}", text.join("  ")), width);
            lines.push(Line::styled(line, theme.base.fg(theme.accent)));
            // A probe cut from held-out text knows the word it hides.
            if let Some(answer) = &p.answer {
                let found = guesses.iter().take(3).any(|(t, _)| t == answer);
                let said = format!("   the word: {answer}{}", if found { " ✓" } else { "" });
                lines.push(Line::styled(super::cut(&said, width), theme.dimmed()));
            }
        }
    }
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

fn draw_side(frame: &mut Frame, area: Rect, app: &App, run: &LiveRun, theme: &Theme) {
    let of = if app.live.len() > 1 {
        format!(" ({}/{})", app.shown_live + 1, app.live.len())
    } else {
        String::new()
    };
    let block = panel(format!("Run{of}"), theme);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let state_color = match run.state {
        LiveState::Training | LiveState::Ended(RunStatus::Finished) => theme.good,
        LiveState::Ended(RunStatus::Failed | RunStatus::Interrupted) => theme.bad,
        _ => theme.warn,
    };
    let w = inner.width as usize;
    let mut head = vec![
        Line::styled(super::cut(&run.name(), w), bold(theme.base)),
        Line::from(vec![
            Span::styled(run.state.label().to_uppercase(), bold(theme.base.fg(state_color))),
            Span::styled(
                run.started.as_ref().map_or_else(String::new, |s| {
                    let precision =
                        if s.precision.is_empty() { String::new() } else { format!(", {}", s.precision) };
                    format!(" on {}{precision}", s.device)
                }),
                theme.dimmed(),
            ),
        ]),
        Line::styled(super::cut(&run.config.model.source, w), theme.dimmed()),
    ];
    let [head_area, gauges, rest] =
        Layout::vertical([Constraint::Length(3), Constraint::Length(2), Constraint::Min(0)]).areas(inner);
    if let Some(failure) = &run.failure {
        head.truncate(2);
        frame.render_widget(Paragraph::new(head), head_area);
        let text = vec![
            Line::styled("The run failed:", bold(theme.base.fg(theme.bad))),
            Line::styled(failure.clone(), theme.base.fg(theme.bad)),
            Line::raw(""),
            // A run that never announced itself was refused by the checks before its record
            // (launch's `prepare`); one that did has its record, marked failed.
            Line::styled(
                if run.started.is_some() {
                    "Its record is kept; the UI goes on. Press 1 to change the setup."
                } else {
                    "It was refused before it started: nothing was recorded. Press 1 to change the setup."
                },
                theme.dimmed(),
            ),
        ];
        let fail_area = Rect { height: gauges.height + rest.height, ..gauges };
        frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: true }), fail_area);
        return;
    }
    frame.render_widget(Paragraph::new(head), head_area);
    let step = run.last_step.as_ref();
    // During a masked-LM stage, its own epochs are counted.
    let in_mlm =
        run.started.as_ref().is_some_and(|s| s.mlm_steps > 0 && step.map_or(0, |m| m.step) <= s.mlm_steps);
    let (epochs, stage) = if in_mlm {
        (run.config.mlm.epochs, "masked-LM epoch")
    } else {
        (run.started.as_ref().map_or(run.config.train.epochs, |s| s.epochs), "epoch")
    };
    let epoch = step.map_or(0.0, |s| s.epoch);
    let (done, total) = step.map_or((0, 1), |s| (s.step, s.total_steps.max(1)));
    let [g1, g2] = Layout::vertical([Constraint::Length(1), Constraint::Length(1)]).areas(gauges);
    let gauge = |ratio: f64, label: String, color| {
        Gauge::default()
            .ratio(ratio.clamp(0.0, 1.0))
            .label(label)
            .gauge_style(theme.base.fg(color))
            .use_unicode(true)
    };
    frame.render_widget(
        gauge(epoch / epochs.max(1) as f64, format!("{stage} {epoch:.2} / {epochs}"), theme.accent),
        g1,
    );
    frame.render_widget(
        gauge(done as f64 / total as f64, format!("step {done} / {total}"), theme.series_color(1)),
        g2,
    );
    let fmt = |v: Option<f64>, f: &dyn Fn(f64) -> String| v.map_or_else(|| "-".into(), f);
    let eta = step
        .filter(|s| s.step > 0)
        .map(|s| s.elapsed_s / s.step as f64 * s.total_steps.saturating_sub(s.step) as f64);
    let mut lines =
        kv(
            [
                ("train loss", fmt(step.map(|s| s.loss), &|v| format!("{v:.4}"))),
                ("learning rate", fmt(step.map(|s| s.lr), &|v| format!("{v:.2e}"))),
                ("grad norm", fmt(step.map(|s| s.grad_norm), &|v| format!("{v:.3}"))),
                ("examples/s", fmt(step.map(|s| s.examples_per_sec), &|v| format!("{v:.1}"))),
                ("elapsed", fmt(step.map(|s| s.elapsed_s), &duration)),
                ("ETA", fmt(eta.filter(|_| run.state.is_active()), &duration)),
            ]
            .into_iter()
            // On a GPU: its memory in use (by every process on it) against its size.
            .chain(step.and_then(|s| s.gpu_memory).map(|m| {
                ("GPU memory", format!("{:.1} / {:.1} GiB", m.used_mib / 1024.0, m.total_mib / 1024.0))
            })),
            theme,
            15,
        );
    lines.push(Line::raw(""));
    match &run.latest_eval {
        Some(e) => {
            lines.push(Line::styled(
                format!("{} @ step {}", e.split, e.step),
                bold(theme.base.fg(theme.accent)),
            ));
            let figures = std::iter::once(("loss", e.loss)).chain(e.headline());
            lines.extend(kv(figures.map(|(name, v)| (name, format!("{v:.4}"))), theme, 15));
        }
        None => match &run.latest_mlm {
            Some(m) => {
                lines.push(Line::styled(
                    format!("masked LM @ step {}", m.step),
                    bold(theme.base.fg(theme.accent)),
                ));
                let mut rows = vec![
                    ("loss", format!("{:.4}", m.loss)),
                    ("accuracy", format!("{:.4}", m.accuracy)),
                    ("perplexity", format!("{:.1}", m.perplexity)),
                ];
                if let Some(a) = m.nsp_accuracy {
                    rows.push(("next sentence", format!("{a:.4}")));
                }
                lines.extend(kv(rows, theme, 15));
            }
            None => lines.push(Line::styled("no evaluation yet", theme.dimmed())),
        },
    }
    if let Some((step, value)) = run.best_checkpoint {
        lines.push(Line::styled(
            format!(
                "best: {} {value:.4} @ {step}",
                run.config.train.metric.resolve(run.config.head).as_str()
            ),
            theme.base.fg(theme.good),
        ));
    }
    if let Some(s) = &run.summary {
        lines.push(Line::styled(
            format!("done in {}: press 3", duration(s.duration_s)),
            theme.base.fg(theme.good),
        ));
    }
    let queued = app.live.iter().filter(|r| r.state == LiveState::Queued).count();
    if queued > 0 {
        lines.push(Line::styled(format!("{queued} run(s) queued after this one"), theme.dimmed()));
    }
    frame.render_widget(Paragraph::new(lines), rest);
}
