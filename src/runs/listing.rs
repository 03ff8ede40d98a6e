//! The list of runs as people read it, for `bertbench runs list` and the workbench's Runs
//! screen alike: one row per run record, with the figure its own head is judged by (accuracy,
//! micro-F1, entity F1, Pearson, masked-LM accuracy) rather than columns that mean nothing for
//! most heads.

use std::fmt;
use std::path::PathBuf;

use super::store::RunInfo;
use crate::report::{RunStatus, RunSummary};

/// Where a run's figure was measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    Test,
    /// No test split: the validation figure, which also picked the checkpoint (so it flatters).
    Valid,
    /// No validation or test split, only masked-LM figures (a pretraining run, or a stage of
    /// a run that ended before fine-tuning was scored): the text held out of the corpus.
    HeldOut,
}

/// The figure that sums a run up.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// Short name: `acc`, `micro-F1`, `ent F1`, `Pearson`, `MLM acc`.
    pub name: &'static str,
    pub value: f64,
    pub split: Split,
}

impl Figure {
    /// The test split's headline when there is one, else validation's; for a pretraining run,
    /// its held-out masked-token accuracy.
    pub fn of(summary: &RunSummary) -> Option<Self> {
        let (split, figures) = match (&summary.test, &summary.valid) {
            (Some(test), _) => (Split::Test, test),
            (None, Some(valid)) => (Split::Valid, valid),
            (None, None) => {
                let mlm = summary.pretrain.as_ref()?;
                return Some(Self { name: "MLM acc", value: mlm.accuracy, split: Split::HeldOut });
            }
        };
        let (name, value) = figures.headline();
        Some(Self { name, value, split })
    }

    /// The name in words with its split, for tables and plots read by people new to the short
    /// names: `test accuracy`, `validation entity F1`.
    pub fn long_name(&self) -> String {
        let name = match self.name {
            "acc" => "accuracy",
            "ent F1" => "entity F1",
            "MLM acc" => "masked-token accuracy",
            other => other,
        };
        let split = match self.split {
            Split::Test => "test",
            Split::Valid => "validation",
            Split::HeldOut => "held-out",
        };
        format!("{split} {name}")
    }

    /// The name as lists show it: a validation figure says so (`val acc`).
    pub fn label(&self) -> String {
        match self.split {
            Split::Valid => format!("val {}", self.name),
            Split::Test | Split::HeldOut => self.name.to_owned(),
        }
    }
}

/// `acc 0.8612`, `val Pearson 0.7710`.
impl fmt::Display for Figure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:.4}", self.label(), self.value)
    }
}

/// One run in the list.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRow {
    pub id: String,
    pub label: String,
    pub dir: PathBuf,
    pub status: RunStatus,
    /// Why it failed or was interrupted, when the record says.
    pub reason: Option<String>,
    pub dataset: String,
    pub model: String,
    /// The head of a fine-tuning run, `mlm` for a pretraining run.
    pub task: String,
    pub best: Option<Figure>,
    pub duration_s: Option<f64>,
    /// The recorded settings (to resume the run), when they read.
    pub config: Option<crate::config::RunConfig>,
}

impl From<RunInfo> for RunRow {
    fn from(run: RunInfo) -> Self {
        Self {
            dataset: run.dataset(),
            model: run.model(),
            task: run.task(),
            best: run.summary.as_ref().and_then(Figure::of),
            duration_s: run.summary.as_ref().map(|s| s.duration_s),
            id: run.id,
            label: run.label,
            dir: run.dir,
            status: run.status,
            reason: run.reason,
            config: run.config,
        }
    }
}

/// The runs under `runs_dir` as rows, newest first.
pub fn rows(runs_dir: &std::path::Path) -> crate::error::Result<Vec<RunRow>> {
    Ok(super::list_runs(runs_dir)?.into_iter().map(RunRow::from).collect())
}

/// The rows as `bertbench runs list` prints them: a header, then a line per run, each column
/// as wide as its widest cell (model ids and dataset names vary from 5 to 50 characters).
pub fn table(rows: &[RunRow]) -> String {
    let header = ["RUN", "LABEL", "STATUS", "DATASET", "MODEL", "TASK", "RESULT"].map(String::from);
    let cells: Vec<[String; 7]> = std::iter::once(header)
        .chain(rows.iter().map(|r| {
            let result = r.best.as_ref().map_or_else(|| "-".to_owned(), Figure::to_string);
            [
                r.id.clone(),
                r.label.clone(),
                r.status.as_str().to_owned(),
                r.dataset.clone(),
                r.model.clone(),
                r.task.clone(),
                result,
            ]
        }))
        .collect();
    super::text_table(&cells)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::config::{HeadKind, RunConfig, RunKind};
    use crate::report::{MlmReport, SplitSummary};

    /// A split with only `figures` (and the loss) recorded: what the summary of a head that has
    /// no accuracy or F1 looks like.
    fn split(accuracy: f64, figures: &[(&str, f64)]) -> SplitSummary {
        SplitSummary {
            loss: 0.4,
            accuracy,
            macro_f1: f64::NAN,
            micro_f1: f64::NAN,
            weighted_f1: f64::NAN,
            extra: figures.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect::<BTreeMap<_, _>>(),
            per_class: Vec::new(),
            examples: 100,
            step: 40,
        }
    }

    fn run(id: &str, head: HeadKind, valid: Option<SplitSummary>, test: Option<SplitSummary>) -> RunInfo {
        let mut config = RunConfig { head, ..RunConfig::default() };
        config.model.source = "org/minilm".into();
        config.data.train = "datasets/stsb/train.csv".into();
        let summary = RunSummary {
            run_id: id.into(),
            status: RunStatus::Finished,
            reason: None,
            valid,
            test,
            pretrain: None,
            steps: 60,
            epochs: 3.0,
            best_step: Some(40),
            train_examples_per_sec: 200.0,
            eval_examples_per_sec: 900.0,
            peak_rss_mib: 300.0,
            time_to_first_step_s: Some(0.4),
            duration_s: 95.0,
        };
        RunInfo {
            id: id.into(),
            label: "stsb".into(),
            dir: PathBuf::from("runs").join(id),
            status: RunStatus::Finished,
            reason: None,
            config: Some(config),
            summary: Some(summary),
        }
    }

    #[test]
    fn each_run_shows_the_figure_of_its_own_head() {
        let regression = run(
            "20261128-100000-stsb",
            HeadKind::Regression,
            None,
            Some(split(f64::NAN, &[("pearson", 0.771), ("spearman", 0.76)])),
        );
        let row = RunRow::from(regression.clone());
        assert_eq!(row.best, Some(Figure { name: "Pearson", value: 0.771, split: Split::Test }));
        assert_eq!((row.task.as_str(), row.dataset.as_str()), ("regression", "stsb"));
        let ner = run(
            "20261128-110000-ner",
            HeadKind::TokenCls,
            Some(split(0.93, &[("entity_f1", 0.427), ("token_accuracy", 0.93)])),
            None,
        );
        let classes = run("20261128-120000-sst2", HeadKind::SeqCls, None, Some(split(0.8612, &[])));
        let mut pretrain = run("20261128-130000-corpus", HeadKind::SeqCls, None, None);
        if let (Some(c), Some(s)) = (pretrain.config.as_mut(), pretrain.summary.as_mut()) {
            c.kind = RunKind::Pretrain;
            c.mlm.corpus = vec!["datasets/wiki/corpus.txt.gz".into()];
            s.pretrain = Some(MlmReport {
                step: 60,
                epoch: 1.0,
                loss: 4.2,
                accuracy: 0.31,
                perplexity: 4.2f64.exp(),
                nsp_accuracy: None,
                masked_tokens: 4096,
                examples: 200,
            });
        }
        let mut unfinished = run("20261128-140000-sst2", HeadKind::SeqCls, None, None);
        unfinished.summary = None;
        let rows: Vec<RunRow> =
            [regression, ner, classes, pretrain, unfinished].into_iter().map(RunRow::from).collect();
        let text = table(&rows);
        let lines: Vec<&str> = text.lines().collect();
        let header: Vec<&str> = lines[0].split_whitespace().collect();
        assert_eq!(header, ["RUN", "LABEL", "STATUS", "DATASET", "MODEL", "TASK", "RESULT"], "{text}");
        // Every row's result starts where the header's does: the columns line up.
        let at = lines[0].find("RESULT").expect("a result column");
        let results: Vec<&str> = lines[1..].iter().map(|l| l[at..].trim_end()).collect();
        assert_eq!(results, ["Pearson 0.7710", "val ent F1 0.4270", "acc 0.8612", "MLM acc 0.3100", "-"]);
        assert!(!text.contains("NaN"), "no figure a head does not have: {text}");
        assert!(lines[4].contains(" wiki ") && lines[4].contains(" mlm "), "{text}");
    }
}
