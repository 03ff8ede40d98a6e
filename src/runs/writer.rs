//! `RunWriter`: an `EventSink` that keeps a run record in `<runs-dir>/<run-id>/`:
//! `config.toml`, `events.jsonl` (append-only, flushed per line), `status`, `summary.json`,
//! `confusion.json`, `predictions.parquet` / `.csv`; the trainer writes `model/`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use polars::prelude::*;

use super::safe::{EVENT_LOG, read_record_text};
use super::{write_atomic, write_atomic_with};
use crate::config::{HeadKind, RunConfig};
use crate::error::{Error, IoContext, Result};
use crate::report::{EvalReport, Prediction, RunStatus};
use crate::train::state::StateFile;
use crate::train::{EventSink, Flow, RunContext, TrainEvent};

pub struct RunWriter {
    pub run_id: String,
    pub dir: PathBuf,
    /// The resumable state's file, valid for the recorded config.
    state: StateFile,
    events: File,
    confusion: BTreeMap<String, serde_json::Value>,
    predictions: BTreeMap<String, Vec<Prediction>>,
    labels: Vec<String>,
    head: HeadKind,
    /// The summary of how the run ended, once recorded.
    ended: Option<crate::report::RunSummary>,
}

impl RunWriter {
    /// Creates a new run folder under `config.runs_dir` and records the resolved config.
    pub fn create(config: &RunConfig) -> Result<Self> {
        let base = config
            .name
            .clone()
            .or_else(|| config.data.train.file_stem().map(|s| s.to_string_lossy().into_owned()))
            .or_else(|| {
                config
                    .mlm
                    .corpus
                    .first()
                    .and_then(|c| c.file_stem())
                    .map(|s| s.to_string_lossy().into_owned())
            })
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "run".into());
        let stem = format!("{}-{}", chrono::Local::now().format("%Y%m%d-%H%M%S"), sanitize(&base));
        std::fs::create_dir_all(&config.runs_dir).at(&config.runs_dir)?;
        let (run_id, dir) = create_unique_dir(&config.runs_dir, &stem)?;
        let toml = config.to_toml()?;
        let opened = (|| {
            write_atomic(&dir.join("config.toml"), toml.as_bytes())?;
            write_status(&dir, RunStatus::Running, None)?;
            let path = dir.join("events.jsonl");
            File::options().create(true).append(true).open(&path).at(&path)
        })();
        let events = match opened {
            Ok(events) => events,
            Err(e) => {
                // Never left `running` with a live process id: the run did not start.
                let _ = write_status(
                    &dir,
                    RunStatus::Failed,
                    Some(&format!("the run record could not be created: {e}")),
                );
                return Err(e);
            }
        };
        Ok(Self {
            run_id,
            state: StateFile::in_record(&dir, &toml),
            dir,
            events,
            confusion: BTreeMap::new(),
            predictions: BTreeMap::new(),
            labels: Vec::new(),
            head: config.head,
            ended: None,
        })
    }

    /// Reopens the record in `dir` (recorded with `config`, whose text is `toml`) to go on
    /// from its state saved at `step` (`None`: it saved none, and starts over; refused when its
    /// log says it did save one). The event log
    /// is cut back to the run's history up to that step — what comes after it is redone — and
    /// that history is returned; the status says `running` again.
    pub fn reopen(
        dir: &Path,
        config: &RunConfig,
        toml: &str,
        step: Option<usize>,
    ) -> Result<(Self, Vec<TrainEvent>)> {
        let path = dir.join("events.jsonl");
        let text = match read_record_text(dir, "events.jsonl", EVENT_LOG) {
            Ok(text) => text,
            Err(e) if e.is_not_found() => String::new(),
            Err(e) => return Err(e),
        };
        let saved_once =
            || text.lines().any(|l| matches!(serde_json::from_str(l), Ok(TrainEvent::StateSaved { .. })));
        if step.is_none() && saved_once() {
            // Starting over is right for a run killed before its first save, not for one whose
            // saved state went missing. Refused before anything in the record changes.
            return Err(Error::Config(format!(
                "cannot resume {}: its state file {} is gone, though the run saved one; start a new run",
                dir.display(),
                crate::train::state::STATE_FILE
            )));
        }
        let (kept, history) = step.map_or((0, Vec::new()), |s| history_until(&text, s));
        let events = File::options().create(true).append(true).open(&path).at(&path)?;
        events.set_len(kept as u64).at(&path)?;
        // The summary of how it ended before no longer holds.
        match std::fs::remove_file(dir.join("summary.json")) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(Error::io(dir.join("summary.json"), e));
            }
            _ => {}
        }
        write_status(dir, RunStatus::Running, None)?;
        let labels = history
            .iter()
            .find_map(|e| if let TrainEvent::Started(s) = e { Some(s.labels.clone()) } else { None })
            .unwrap_or_default();
        let run_id = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let writer = Self {
            run_id,
            dir: dir.to_path_buf(),
            state: StateFile::in_record(dir, toml),
            events,
            confusion: BTreeMap::new(),
            predictions: BTreeMap::new(),
            labels,
            head: config.head,
            ended: None,
        };
        Ok((writer, history))
    }

    /// How the run ended, once its end is recorded.
    pub fn ended(&self) -> Option<&crate::report::RunSummary> {
        self.ended.as_ref()
    }

    /// Where the trainer reports this run, keeps its best checkpoint (`model/`) and its
    /// resumable state.
    pub fn context(&self) -> RunContext {
        RunContext {
            run_id: self.run_id.clone(),
            checkpoint_dir: Some(self.dir.join("model")),
            state: Some(self.state.clone()),
        }
    }

    /// Appends one line with a single write, so a killed process leaves only whole lines.
    fn log(&mut self, event: &TrainEvent) -> Result<()> {
        let mut line = serde_json::to_string(event).map_err(|e| Error::Config(e.to_string()))?;
        line.push('\n');
        self.events.write_all(line.as_bytes()).at(self.dir.join("events.jsonl"))
    }

    fn record_confusion(&mut self, report: &EvalReport) -> Result<()> {
        self.confusion.insert(
            report.split.clone(),
            serde_json::json!({ "labels": report.labels, "matrix": report.scores.confusion, "step": report.step }),
        );
        let text = serde_json::to_string_pretty(&self.confusion).map_err(|e| Error::Config(e.to_string()))?;
        write_atomic(&self.dir.join("confusion.json"), text.as_bytes())
    }

    fn record_predictions(&mut self, split: &str, rows: &[Prediction]) -> Result<()> {
        self.predictions.insert(split.to_owned(), rows.to_vec());
        write_predictions(&self.dir, &self.predictions, &self.labels, self.head)
    }
}

/// Writes `predictions.parquet` and `predictions.csv` into `dir`, one row per example.
pub fn write_predictions(
    dir: &Path,
    by_split: &BTreeMap<String, Vec<Prediction>>,
    labels: &[String],
    head: HeadKind,
) -> Result<()> {
    let mut frame = predictions_frame(by_split, labels, head)
        .map_err(|e| Error::data(dir, format!("predictions: {e}")))?;
    let pq = dir.join("predictions.parquet");
    write_with(&pq, |f| ParquetWriter::new(f).finish(&mut frame).map(|_| ()))?;
    let csv = dir.join("predictions.csv");
    write_with(&csv, |f| CsvWriter::new(f).include_header(true).finish(&mut frame))
}

/// Writes a polars table atomically (`write_atomic_with`); a failed write keeps its I/O cause,
/// so that a full disk says so.
fn write_with(path: &Path, write: impl FnOnce(&mut File) -> PolarsResult<()>) -> Result<()> {
    write_atomic_with(path, |file, tmp| {
        write(file).map_err(|e| match crate::error::io_cause(&e) {
            Some(io) => Error::io_copy(tmp, io),
            None => Error::data(path, e.to_string()),
        })
    })
}

/// One row per example: split, text, gold, predicted, then by head: `correct` (the label,
/// the label set, every tag), `confidence` and a `p_<label>` column per class or label; for
/// regression the `residual` (predicted − gold) instead. Tags are joined by spaces, label sets
/// by `|`.
fn predictions_frame(
    by_split: &BTreeMap<String, Vec<Prediction>>,
    labels: &[String],
    head: HeadKind,
) -> PolarsResult<DataFrame> {
    let rows: Vec<(&String, &Prediction)> =
        by_split.iter().flat_map(|(s, rs)| rs.iter().map(move |r| (s, r))).collect();
    let mut columns = vec![
        Column::new("split".into(), rows.iter().map(|(s, _)| s.as_str()).collect::<Vec<_>>()),
        Column::new("text".into(), rows.iter().map(|(_, r)| r.text.as_str()).collect::<Vec<_>>()),
        Column::new("gold".into(), rows.iter().map(|(_, r)| r.gold.as_str()).collect::<Vec<_>>()),
        Column::new("predicted".into(), rows.iter().map(|(_, r)| r.predicted.as_str()).collect::<Vec<_>>()),
    ];
    if head == HeadKind::Regression {
        columns
            .push(Column::new("residual".into(), rows.iter().map(|(_, r)| r.residual()).collect::<Vec<_>>()));
        return DataFrame::new_infer_height(columns);
    }
    columns.push(Column::new(
        "correct".into(),
        rows.iter().map(|(_, r)| r.gold == r.predicted).collect::<Vec<_>>(),
    ));
    columns
        .push(Column::new("confidence".into(), rows.iter().map(|(_, r)| r.confidence).collect::<Vec<_>>()));
    if head == HeadKind::TokenCls {
        // Probabilities there are per word, not per tag.
        return DataFrame::new_infer_height(columns);
    }
    for (i, label) in labels.iter().enumerate() {
        let probs: Vec<f32> =
            rows.iter().map(|(_, r)| r.probabilities.get(i).copied().unwrap_or(f32::NAN)).collect();
        columns.push(Column::new(format!("p_{label}").into(), probs));
    }
    DataFrame::new_infer_height(columns)
}

impl EventSink for RunWriter {
    fn emit(&mut self, event: &TrainEvent) -> Result<Flow> {
        if event.is_logged() {
            self.log(event)?;
        }
        match event {
            TrainEvent::Started(s) => self.labels.clone_from(&s.labels),
            TrainEvent::Evaluated(report) => self.record_confusion(report)?,
            TrainEvent::Predictions { split, rows } => self.record_predictions(split, rows)?,
            TrainEvent::Finished(summary) => {
                // The status first: it is small, and says how the run ended even when the disk
                // has no room left for the summary.
                write_status(&self.dir, summary.status, summary.reason.as_deref())?;
                let text = serde_json::to_string_pretty(summary).map_err(|e| Error::Config(e.to_string()))?;
                write_atomic(&self.dir.join("summary.json"), text.as_bytes())?;
                if summary.status == RunStatus::Finished {
                    // Nothing is left to resume; the state is as large as the model and its
                    // optimiser together.
                    let _ = std::fs::remove_file(&self.state.path);
                }
                self.ended = Some(summary.clone());
            }
            _ => {}
        }
        Ok(Flow::Continue)
    }
}

/// `status`: the state on the first line; a running run adds its process id (so that a
/// killed run is recognised), an ended one the reason.
pub fn write_status(dir: &Path, status: RunStatus, reason: Option<&str>) -> Result<()> {
    let mut text = format!("{}\n", status.as_str());
    if status == RunStatus::Running {
        let _ = writeln!(text, "pid: {}", std::process::id());
        if let Some(host) = crate::sys::hostname() {
            let _ = writeln!(text, "host: {host}");
        }
    }
    if let Some(r) = reason {
        let _ = writeln!(text, "reason: {}", r.replace('\n', " "));
    }
    let path = dir.join("status");
    write_atomic(&path, text.as_bytes()).or_else(|atomic| {
        // A full disk has no room for a second copy; the file's own space still takes the
        // new status (a few bytes, one write), which beats a status left saying `running`.
        std::fs::write(&path, text.as_bytes()).map_err(|_| {
            // Not even that: no status beats an empty or torn one (the run is then listed as
            // incomplete).
            let _ = std::fs::remove_file(&path);
            atomic
        })
    })
}

/// The events of the log `text` up to the run's state at `step`, and the length of their lines:
/// everything up to the `state_saved` line of that step — what came after it (evaluations, a
/// snapshot, the end of the run) is redone. Without that line (killed between writing the state
/// and logging it), everything before the first step past `step`, the end of the run or a torn
/// line.
fn history_until(text: &str, step: usize) -> (usize, Vec<TrainEvent>) {
    let mut history = Vec::new();
    let (mut kept, mut at_state) = (0, None);
    for line in text.split_inclusive('\n') {
        let event = match serde_json::from_str::<TrainEvent>(line) {
            Ok(event) if line.ends_with('\n') => event,
            _ => break,
        };
        match &event {
            TrainEvent::Step(s) if s.step > step => break,
            TrainEvent::Finished(_) => break,
            _ => {}
        }
        kept += line.len();
        let saved_here = matches!(event, TrainEvent::StateSaved { step: s, .. } if s == step);
        history.push(event);
        if saved_here {
            at_state = Some((kept, history.len()));
        }
    }
    if let Some((bytes, events)) = at_state {
        history.truncate(events);
        return (bytes, history);
    }
    (kept, history)
}

/// Creates `<root>/<stem>`, or `<stem>-2`, `-3`, … when taken (runs started in the same second).
fn create_unique_dir(root: &Path, stem: &str) -> Result<(String, PathBuf)> {
    for n in 1..1000 {
        let id = if n == 1 { stem.to_owned() } else { format!("{stem}-{n}") };
        let dir = root.join(&id);
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok((id, dir)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(Error::io(&dir, e)),
        }
    }
    Err(Error::Config(format!("{} holds 999 runs named {stem}", root.display())))
}

fn sanitize(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' })
        .collect();
    s.trim_matches('-').chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_that_cannot_be_written_atomically_is_written_in_place() {
        let tmp = tempfile::tempdir().expect("tmp");
        write_status(tmp.path(), RunStatus::Running, None).expect("running");
        // The temporary copy cannot be made (as on a full disk): the status is still updated.
        std::fs::create_dir(tmp.path().join("status.tmp")).expect("a folder in the way");
        write_status(tmp.path(), RunStatus::Failed, Some("disk full: x")).expect("in place");
        let text = std::fs::read_to_string(tmp.path().join("status")).expect("status");
        assert_eq!(text, "failed\nreason: disk full: x\n");
    }

    #[test]
    fn the_history_kept_for_a_resume_ends_before_the_first_step_past_the_saved_one() {
        let step = |n: usize| {
            serde_json::to_string(&TrainEvent::Step(crate::train::event::StepMetrics {
                step: n,
                total_steps: 9,
                epoch: 0.0,
                loss: 1.0,
                lr: 0.1,
                grad_norm: 1.0,
                examples_per_sec: 1.0,
                elapsed_s: 0.0,
                gpu_memory: None,
            }))
            .expect("json")
        };
        let saved = serde_json::to_string(&TrainEvent::StateSaved { step: 2, bytes: 10, seconds: 0.1 })
            .expect("json");
        let paused = serde_json::to_string(&TrainEvent::Paused { step: 2 }).expect("json");
        let log = format!("{}\n{}\n{saved}\n{paused}\n{}\n{}\n", step(1), step(2), step(3), step(4));
        let (kept, history) = history_until(&log, 2);
        assert_eq!(&log[..kept], format!("{}\n{}\n{saved}\n", step(1), step(2)), "cut at the state's line");
        assert_eq!(history.len(), 3);
        // Without its line (killed between saving and logging): before the next step.
        let log = format!("{}\n{}\n{paused}\n{}\n", step(1), step(2), step(3));
        assert_eq!(history_until(&log, 2).1.len(), 3);
        // A torn last line ends the history too.
        let torn = format!("{}\n{}", step(1), &step(2)[..20]);
        assert_eq!(history_until(&torn, 5).0, step(1).len() + 1);
        // A record whose log says a state was saved does not start over without that state;
        // one killed before its first save does.
        let tmp = tempfile::tempdir().expect("tmp");
        let config = RunConfig::default();
        std::fs::write(tmp.path().join("events.jsonl"), format!("{}\n{saved}\n", step(1))).expect("log");
        let refused = RunWriter::reopen(tmp.path(), &config, "", None).err().expect("refused").to_string();
        assert!(refused.contains("is gone, though the run saved one"), "{refused}");
        std::fs::write(tmp.path().join("events.jsonl"), format!("{}\n", step(1))).expect("log");
        assert!(RunWriter::reopen(tmp.path(), &config, "", None).is_ok());
    }
}
