//! The console sink for `bertbench train`: a progress bar on a terminal, JSON lines with
//! `--json`, plain lines otherwise.

use std::fmt::Write as _;
use std::io::{IsTerminal, Write};

use indicatif::{ProgressBar, ProgressStyle};

use crate::error::Result;
use crate::report::{EvalReport, MlmReport};
use crate::train::{EventSink, Flow, TrainEvent};

/// `eprintln!` that never panics: after a dropped SSH session (SIGHUP) stderr is gone, and a
/// message nobody can read must not end the run or spoil its record.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

pub struct ConsoleSink {
    json: bool,
    bar: Option<ProgressBar>,
    /// The latest training step seen: an evaluation of an earlier step is of the best checkpoint.
    latest_step: usize,
}

impl ConsoleSink {
    pub fn new(json: bool) -> Self {
        Self { json, bar: None, latest_step: 0 }
    }

    fn line(&self, text: &str) {
        if let Some(bar) = &self.bar {
            bar.println(text);
        } else {
            say!("{text}");
        }
    }
}

pub fn describe_eval(r: &EvalReport) -> String {
    let figures = r.headline().iter().fold(String::new(), |mut s, (name, v)| {
        let _ = write!(s, "  {name} {v:.4}");
        s
    });
    let ece = r.scores.calibration.as_ref().filter(|c| c.ece.is_finite());
    let ece = ece.map(|c| format!("  ECE {:.3}", c.ece)).unwrap_or_default();
    format!(
        "{} @ step {} (epoch {:.2}): loss {:.4}{figures}{ece}  ({} examples, {:.0}/s)",
        r.split, r.step, r.epoch, r.loss, r.examples, r.examples_per_sec
    )
}

pub fn describe_mlm(r: &MlmReport) -> String {
    let nsp = r.nsp_accuracy.map(|a| format!("  next-sentence accuracy {a:.4}")).unwrap_or_default();
    format!(
        "masked LM @ step {} (epoch {:.2}): loss {:.4}  accuracy {:.4}  perplexity {:.1}{nsp}  ({} masked tokens)",
        r.step, r.epoch, r.loss, r.accuracy, r.perplexity, r.masked_tokens
    )
}

impl EventSink for ConsoleSink {
    fn emit(&mut self, event: &TrainEvent) -> Result<Flow> {
        if self.json {
            if event.is_logged() {
                let mut out = std::io::stdout().lock();
                // A closed stdout (e.g. `| head`) must not end the run.
                let _ = serde_json::to_writer(&mut out, event).map(|()| writeln!(out));
            }
            return Ok(Flow::Continue);
        }
        if let TrainEvent::Step(m) = event {
            self.latest_step = m.step;
        }
        match event {
            TrainEvent::Started(s) => {
                say!(
                    "run {}: {} on {} train / {} valid / {} test examples, {} labels, {} steps",
                    s.run_id,
                    s.model,
                    s.train_examples,
                    s.valid_examples,
                    s.test_examples,
                    s.labels.len(),
                    s.total_steps
                );
                if !s.initialised.is_empty() {
                    say!("newly initialised: {}", s.initialised.join(", "));
                }
                if !s.unused.is_empty() {
                    say!("not used from the checkpoint: {}", s.unused.join(", "));
                }
                if std::io::stderr().is_terminal() {
                    let bar = ProgressBar::new(s.total_steps as u64);
                    let style = ProgressStyle::with_template("{bar:30} {pos}/{len} steps  {msg}  ETA {eta}")
                        .unwrap_or_else(|_| ProgressStyle::default_bar());
                    bar.set_style(style);
                    self.bar = Some(bar);
                }
            }
            TrainEvent::Step(m) => match &self.bar {
                Some(bar) => {
                    bar.set_position(m.step as u64);
                    bar.set_message(format!("loss {:.4}  {:.1} ex/s", m.loss, m.examples_per_sec));
                }
                None if m.step % 50 == 0 || m.step == m.total_steps => {
                    say!(
                        "step {}/{}  loss {:.4}  lr {:.2e}  {:.1} ex/s",
                        m.step,
                        m.total_steps,
                        m.loss,
                        m.lr,
                        m.examples_per_sec
                    );
                }
                None => {}
            },
            TrainEvent::Evaluated(r) if r.step < self.latest_step => {
                self.line(&format!("best checkpoint: {}", describe_eval(r)));
            }
            TrainEvent::Evaluated(r) => self.line(&describe_eval(r)),
            TrainEvent::CheckpointSaved { step, path, .. } => {
                self.line(&format!("checkpoint of step {step} saved to {path}"));
            }
            TrainEvent::Paused { step } => self.line(&format!("paused at step {step}")),
            TrainEvent::Unpaused { step } => self.line(&format!("going on after the pause at step {step}")),
            TrainEvent::RunResumed { step } => {
                self.line(&format!("resumed: going on from the state saved at step {step}"));
            }
            TrainEvent::Finished(s) => {
                if let Some(bar) = self.bar.take() {
                    bar.finish_and_clear();
                }
                let reason = s.reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default();
                say!("run {} {}{reason}", s.run_id, s.status.as_str());
            }
            TrainEvent::MlmEvaluated(r) => self.line(&describe_mlm(r)),
            TrainEvent::MaskProbe { probes, .. } => {
                for p in probes {
                    let best: Vec<String> = p
                        .guesses
                        .iter()
                        .filter_map(|g| g.first())
                        .map(|(t, prob)| format!("{t} ({prob:.2})"))
                        .collect();
                    let was = p.answer.as_ref().map(|a| format!("   (the word: {a})")).unwrap_or_default();
                    self.line(&format!("  {} → {}{was}", p.text, best.join(", ")));
                }
            }
            TrainEvent::Predictions { .. } | TrainEvent::StateSaved { .. } => {}
        }
        Ok(Flow::Continue)
    }
}
