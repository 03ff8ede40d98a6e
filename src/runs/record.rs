//! Reading the contents of a run record back: the event log (curves, evaluations) and the
//! predictions table. Used by the TUI (evaluation and compare screens) and the plot export.

use std::collections::BTreeMap;
use std::path::Path;

use polars::prelude::*;

use super::safe::{EVENT_LOG, open_record_file, read_record_text};
use crate::error::{Error, Result};
use crate::report::{EvalReport, MlmReport, Prediction, RunSummary};
use crate::train::TrainEvent;
use crate::train::event::{RunStarted, StepMetrics};

/// What `events.jsonl` says about a run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunHistory {
    pub started: Option<RunStarted>,
    pub steps: Vec<StepMetrics>,
    pub evals: Vec<EvalReport>,
    /// Masked-LM evaluations (pretraining runs and masked-LM stages).
    pub mlm: Vec<MlmReport>,
    pub finished: Option<RunSummary>,
}

impl RunHistory {
    /// Adds one event; events that carry no curve data are ignored.
    pub fn push(&mut self, event: &TrainEvent) {
        match event {
            TrainEvent::Started(s) => self.started = Some(s.clone()),
            TrainEvent::Step(s) => self.steps.push(s.clone()),
            TrainEvent::Evaluated(r) => self.evals.push(r.clone()),
            TrainEvent::MlmEvaluated(r) => self.mlm.push(r.clone()),
            TrainEvent::Finished(s) => self.finished = Some(s.clone()),
            _ => {}
        }
    }

    /// The validations in the order they were made, each step once: the final report of the
    /// best checkpoint repeats an earlier step and is left out (drawn, it would send a curve
    /// back in time).
    pub fn validations(&self) -> Vec<&EvalReport> {
        let mut seen = std::collections::BTreeSet::new();
        self.evals.iter().filter(|r| r.split == "valid" && seen.insert(r.step)).collect()
    }

    /// The training steps of each stage: the masked-LM stage's (steps up to the start event's
    /// `mlm_steps`) and fine-tuning's. Drawn as one curve, the stage's high loss would flatten
    /// fine-tuning under a cliff at the boundary. A pretraining run is all masked-LM.
    pub fn stage_steps(&self) -> (&[StepMetrics], &[StepMetrics]) {
        let mlm = self.started.as_ref().map_or(0, |s| s.mlm_steps);
        let split = self.steps.partition_point(|s| s.step <= mlm);
        self.steps.split_at(split)
    }

    /// The evaluation to show for a finished run: the last of `split`.
    pub fn final_eval(&self, split: &str) -> Option<&EvalReport> {
        self.evals.iter().rev().find(|r| r.split == split)
    }
}

/// Reads `<dir>/events.jsonl`. A torn last line (the process was killed mid-write) is skipped;
/// a bad line anywhere else is an error naming the line.
pub fn read_history(dir: &Path) -> Result<RunHistory> {
    let path = dir.join("events.jsonl");
    let text = read_record_text(dir, "events.jsonl", EVENT_LOG)?;
    let lines: Vec<&str> = text.lines().collect();
    let mut history = RunHistory::default();
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<TrainEvent>(line) {
            Ok(event) => history.push(&event),
            Err(_) if i + 1 == lines.len() && !text.ends_with('\n') => {}
            Err(e) => return Err(Error::data(&path, format!("line {}: {e}", i + 1))),
        }
    }
    Ok(history)
}

/// Reads `<dir>/predictions.parquet` back into predictions per split (empty when the run
/// wrote none). Probabilities come from the `p_<label>` columns, in label order.
pub fn read_predictions(dir: &Path) -> Result<BTreeMap<String, Vec<Prediction>>> {
    let path = dir.join("predictions.parquet");
    let file = match open_record_file(dir, "predictions.parquet") {
        Err(e) if e.is_not_found() => return Ok(BTreeMap::new()),
        opened => opened?,
    };
    let frame = crate::data::load::read_parquet(&path, file)?;
    predictions_from_frame(&frame).map_err(|e| Error::data(&path, e.to_string()))
}

fn predictions_from_frame(frame: &DataFrame) -> PolarsResult<BTreeMap<String, Vec<Prediction>>> {
    let strings = |name: &str| -> PolarsResult<Vec<String>> {
        Ok(frame.column(name)?.str()?.iter().map(|v| v.unwrap_or_default().to_owned()).collect())
    };
    let floats = |name: &str| -> PolarsResult<Vec<f32>> {
        let col = frame.column(name)?.cast(&DataType::Float32)?;
        Ok(col.f32()?.iter().map(|v| v.unwrap_or(f32::NAN)).collect())
    };
    let (split, text, gold, predicted) =
        (strings("split")?, strings("text")?, strings("gold")?, strings("predicted")?);
    // Regression rows have no confidence: their predicted value stands in for a probability.
    let has_confidence = frame.get_column_names().iter().any(|n| n.as_str() == "confidence");
    let confidence = if has_confidence { floats("confidence")? } else { vec![f32::NAN; frame.height()] };
    let prob_columns: Vec<Vec<f32>> = frame
        .get_column_names()
        .into_iter()
        .filter(|n| n.starts_with("p_"))
        .map(|n| floats(n.as_str()))
        .collect::<PolarsResult<_>>()?;
    let mut by_split: BTreeMap<String, Vec<Prediction>> = BTreeMap::new();
    for i in 0..frame.height() {
        by_split.entry(split[i].clone()).or_default().push(Prediction {
            text: text[i].clone(),
            gold: gold[i].clone(),
            predicted: predicted[i].clone(),
            confidence: confidence[i],
            probabilities: if has_confidence {
                prob_columns.iter().map(|c| c[i]).collect()
            } else {
                predicted[i].parse().map(|v| vec![v]).unwrap_or_default()
            },
        });
    }
    Ok(by_split)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runs::writer::write_predictions;

    #[test]
    fn predictions_round_trip_through_parquet() {
        let dir = tempfile::tempdir().expect("tempdir");
        let labels = vec!["neg".to_owned(), "pos".to_owned()];
        let row = |text: &str, gold: &str, p: f32| Prediction {
            text: text.into(),
            gold: gold.into(),
            predicted: if p >= 0.5 { "pos".into() } else { "neg".into() },
            confidence: p.max(1.0 - p),
            probabilities: vec![1.0 - p, p],
        };
        let written = BTreeMap::from([
            ("test".to_owned(), vec![row("good", "pos", 0.9)]),
            ("valid".to_owned(), vec![row("bad", "neg", 0.2), row("meh", "pos", 0.4)]),
        ]);
        write_predictions(dir.path(), &written, &labels, crate::config::HeadKind::SeqCls).expect("write");
        assert_eq!(read_predictions(dir.path()).expect("read"), written);
    }

    #[test]
    fn torn_last_line_is_skipped_but_a_bad_middle_line_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let step = r#"{"event":"step","step":1,"total_steps":4,"epoch":0.25,"loss":0.7,"lr":0.001,"grad_norm":1.0,"examples_per_sec":10.0,"elapsed_s":0.1}"#;
        std::fs::write(dir.path().join("events.jsonl"), format!("{step}\n{step}\n{{\"event\":\"st"))
            .expect("write");
        let history = read_history(dir.path()).expect("torn tail is fine");
        assert_eq!(history.steps.len(), 2);
        std::fs::write(dir.path().join("events.jsonl"), format!("{step}\nnot json\n{step}\n"))
            .expect("write");
        let err = read_history(dir.path()).expect_err("bad line").to_string();
        assert!(err.contains("events.jsonl") && err.contains("line 2"), "{err}");
    }
}
