//! Laying runs side by side: one curve per run on a common axis, and the settings that differ.

use std::collections::BTreeMap;

use super::RunHistory;
use crate::config::RunConfig;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CurveMetric {
    TrainLoss,
    ValidLoss,
    /// The head's main score: accuracy, micro-F1 (label sets), entity F1, Pearson.
    Accuracy,
    MacroF1,
    /// Held-out masked-LM loss (pretraining runs, masked-LM stages).
    MaskedLmLoss,
}

impl CurveMetric {
    pub fn next(self) -> Self {
        match self {
            Self::TrainLoss => Self::ValidLoss,
            Self::ValidLoss => Self::Accuracy,
            Self::Accuracy => Self::MacroF1,
            Self::MacroF1 => Self::MaskedLmLoss,
            Self::MaskedLmLoss => Self::TrainLoss,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::TrainLoss => "training loss",
            Self::ValidLoss => "validation loss",
            Self::Accuracy => "validation score (accuracy, micro-F1, entity F1 or Pearson)",
            Self::MacroF1 => "validation macro-F1",
            Self::MaskedLmLoss => "held-out masked-LM loss",
        }
    }

    /// Scores live in [0, 1]; losses have no fixed range.
    pub fn unit_range(self) -> bool {
        matches!(self, Self::Accuracy | Self::MacroF1)
    }
}

/// The x axis runs are aligned on: optimiser steps, or epochs (fair across batch sizes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Step,
    Epoch,
}

/// One run's curve of `metric`. Validation curves take each validation once (the final report
/// of the best checkpoint repeats an earlier step and is skipped).
pub fn curve(history: &RunHistory, metric: CurveMetric, align: Align) -> Vec<(f64, f64)> {
    if metric == CurveMetric::MaskedLmLoss {
        return history
            .mlm
            .iter()
            .map(|r| (if align == Align::Step { r.step as f64 } else { r.epoch }, r.loss))
            .collect();
    }
    if metric == CurveMetric::TrainLoss {
        // Fine-tuning's steps; a masked-LM stage's loss is its own curve (`MaskedLmLoss`).
        let (mlm, fine_tuning) = history.stage_steps();
        let steps = if fine_tuning.is_empty() { mlm } else { fine_tuning };
        return steps
            .iter()
            .map(|s| (if align == Align::Step { s.step as f64 } else { s.epoch }, s.loss))
            .collect();
    }
    let mut points: Vec<(f64, f64)> = Vec::new();
    for r in history.validations() {
        let y = match metric {
            CurveMetric::ValidLoss => r.loss,
            CurveMetric::Accuracy => r.headline().first().map_or(f64::NAN, |h| h.1),
            _ => r.scores.macro_f1,
        };
        // A figure the head does not have (macro-F1 of a regression) leaves no point.
        if y.is_finite() {
            points.push((if align == Align::Step { r.step as f64 } else { r.epoch }, y));
        }
    }
    points
}

/// Where two runs' predictions on the same examples differ.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Disagreements {
    /// Indices of the examples whose predictions differ, in the data's order.
    pub rows: Vec<usize>,
    /// Of those: the first run right and the second wrong, the other way round, both wrong.
    pub first_right: usize,
    pub second_right: usize,
    pub both_wrong: usize,
    /// Examples both runs predicted.
    pub examples: usize,
}

/// The examples two runs predict differently. Their predictions must be of the same examples
/// in the same order (the same test file): otherwise it says which example differs first.
pub fn disagreements(
    first: &[crate::report::Prediction],
    second: &[crate::report::Prediction],
) -> Result<Disagreements, String> {
    if first.len() != second.len() {
        return Err(format!(
            "the runs predicted different examples ({} and {}): they were tested on different data",
            first.len(),
            second.len()
        ));
    }
    if let Some(i) = first.iter().zip(second).position(|(a, b)| a.text != b.text || a.gold != b.gold) {
        return Err(format!("the runs were tested on different data: example {} differs", i + 1));
    }
    let mut d = Disagreements { examples: first.len(), ..Disagreements::default() };
    for (i, (a, b)) in first.iter().zip(second).enumerate() {
        if a.predicted == b.predicted {
            continue;
        }
        d.rows.push(i);
        match (a.predicted == a.gold, b.predicted == b.gold) {
            (true, _) => d.first_right += 1,
            (false, true) => d.second_right += 1,
            (false, false) => d.both_wrong += 1,
        }
    }
    Ok(d)
}

/// One run of a comparison: its figure and the difference from the baseline (the first run).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Compared {
    pub id: String,
    pub label: String,
    pub status: String,
    /// `test acc`, `val ent F1`; none before the run is scored.
    pub metric: Option<String>,
    pub score: Option<f64>,
    /// `score` minus the baseline's, when both have the same metric.
    pub delta: Option<f64>,
    pub valid_loss: Option<f64>,
    pub train_examples_per_sec: Option<f64>,
}

/// Runs side by side, as `bertbench runs compare` prints them.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Comparison {
    pub runs: Vec<Compared>,
    /// Each setting that differs, with every run's value.
    pub settings: BTreeMap<String, Vec<String>>,
}

impl Comparison {
    /// `runs[0]` is the baseline of the Δ column. Equal labels are told apart (`label::distinct`).
    pub fn of(runs: &[super::RunInfo]) -> Self {
        use super::listing::Figure;
        let figures: Vec<Option<Figure>> =
            runs.iter().map(|r| r.summary.as_ref().and_then(Figure::of)).collect();
        let name = Figure::long_name;
        let labels: Vec<String> = runs.iter().map(|r| r.label.clone()).collect();
        let ids: Vec<String> = runs.iter().map(|r| r.id.clone()).collect();
        let labels = super::label::distinct(&labels, &ids);
        let base = figures.first().cloned().flatten();
        let compared = runs
            .iter()
            .zip(&figures)
            .zip(labels)
            .map(|((r, f), label)| Compared {
                id: r.id.clone(),
                label,
                status: r.status.as_str().to_owned(),
                metric: f.as_ref().map(name),
                score: f.as_ref().map(|f| f.value),
                delta: match (f, &base) {
                    (Some(f), Some(b)) if name(f) == name(b) => Some(f.value - b.value),
                    _ => None,
                },
                valid_loss: r.summary.as_ref().and_then(|s| s.valid.as_ref()).map(|v| v.loss),
                train_examples_per_sec: r.summary.as_ref().map(|s| s.train_examples_per_sec),
            })
            .collect();
        let configs: Vec<Option<&RunConfig>> = runs.iter().map(|r| r.config.as_ref()).collect();
        Self { runs: compared, settings: config_diff(&configs).into_iter().collect() }
    }

    /// The comparison as text: a row per run (label, figure, Δ), then the settings that differ
    /// under the runs' labels, every value whole.
    pub fn table(&self) -> String {
        let mut cells =
            vec![["LABEL", "RUN", "STATUS", "RESULT", "Δ vs first", "VAL LOSS", "EX/S"].map(str::to_owned)];
        for r in &self.runs {
            let result = match (&r.metric, r.score) {
                (Some(m), Some(v)) => format!("{m} {v:.4}"),
                _ => "-".into(),
            };
            let delta = r.delta.map_or_else(|| "-".into(), |d| format!("{:+.1} points", d * 100.0));
            cells.push([
                r.label.clone(),
                r.id.clone(),
                r.status.clone(),
                result,
                delta,
                r.valid_loss.map_or_else(|| "-".into(), |l| format!("{l:.4}")),
                r.train_examples_per_sec.map_or_else(|| "-".into(), |v| format!("{v:.1}")),
            ]);
        }
        let mut out = super::text_table(&cells);
        if self.settings.is_empty() {
            out += "\nthe runs share every setting\n";
            return out;
        }
        let mut rows = vec![
            std::iter::once("SETTING".to_owned())
                .chain(self.runs.iter().map(|r| r.label.clone()))
                .collect::<Vec<_>>(),
        ];
        rows.extend(
            self.settings.iter().map(|(k, v)| std::iter::once(k.clone()).chain(v.iter().cloned()).collect()),
        );
        out += "\nsettings that differ:\n";
        out += &super::text_table(&rows);
        out
    }
}

/// Settings (as `section.key`) whose values differ between the configs, with each run's value
/// (`-` where a run lacks the setting, `?` where its config is unreadable). Where the runs came
/// from (`resolved`) is left out.
pub fn config_diff(configs: &[Option<&RunConfig>]) -> Vec<(String, Vec<String>)> {
    // `None`: the run's config could not be read; it shows `?` and does not count as differing.
    let flat: Vec<Option<BTreeMap<String, String>>> = configs
        .iter()
        .map(|c| {
            let value = toml::Value::try_from((*c)?).ok()?;
            let mut out = BTreeMap::new();
            flatten("", &value, &mut out);
            // Where the runs came from, what they are called and their sweep are not settings.
            out.retain(|k, _| !k.starts_with("resolved.") && !k.starts_with("sweep-cell.") && k != "label");
            Some(out)
        })
        .collect();
    let mut keys: Vec<&String> = flat.iter().flatten().flat_map(BTreeMap::keys).collect();
    keys.sort();
    keys.dedup();
    let value = |f: &BTreeMap<String, String>, k: &str| f.get(k).cloned().unwrap_or_else(|| "-".into());
    keys.into_iter()
        .filter_map(|k| {
            let known: Vec<String> = flat.iter().flatten().map(|f| value(f, k)).collect();
            if known.iter().all(|v| *v == known[0]) {
                return None;
            }
            let values =
                flat.iter().map(|f| f.as_ref().map_or_else(|| "?".into(), |f| value(f, k))).collect();
            Some((k.clone(), values))
        })
        .collect()
}

fn flatten(prefix: &str, value: &toml::Value, out: &mut BTreeMap<String, String>) {
    match value {
        toml::Value::Table(t) => {
            for (k, v) in t {
                let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                flatten(&key, v, out);
            }
        }
        toml::Value::String(s) => {
            out.insert(prefix.to_owned(), s.clone());
        }
        // Learning rates read better as 5e-5 than as 0.00005.
        toml::Value::Float(f) if *f != 0.0 && f.abs() < 1e-3 => {
            out.insert(prefix.to_owned(), format!("{f:e}"));
        }
        other => {
            out.insert(prefix.to_owned(), other.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::metrics::score;
    use crate::report::EvalReport;
    use crate::train::event::StepMetrics;

    #[test]
    fn disagreements_count_who_was_right_and_refuse_other_data() {
        let p = |text: &str, gold: &str, predicted: &str| crate::report::Prediction {
            text: text.into(),
            gold: gold.into(),
            predicted: predicted.into(),
            confidence: 0.9,
            probabilities: Vec::new(),
        };
        let a = [p("x", "pos", "pos"), p("y", "neg", "pos"), p("z", "neg", "neg"), p("w", "neg", "mid")];
        let b = [p("x", "pos", "neg"), p("y", "neg", "neg"), p("z", "neg", "neg"), p("w", "neg", "pos")];
        let d = disagreements(&a, &b).expect("same examples");
        assert_eq!(d.rows, [0, 1, 3]);
        assert_eq!((d.first_right, d.second_right, d.both_wrong, d.examples), (1, 1, 1, 4));
        let other = [p("x", "pos", "pos"), p("v", "neg", "neg"), p("z", "neg", "neg"), p("w", "neg", "neg")];
        assert!(disagreements(&a, &other).expect_err("other data").contains("example 2"));
        assert!(disagreements(&a, &b[..2]).expect_err("other sizes").contains("4 and 2"));
    }

    #[test]
    fn diff_lists_only_what_differs() {
        let mut a = RunConfig::default();
        a.data.train = "x.csv".into();
        let mut b = a.clone();
        b.train.lr = 1e-3;
        b.model.from_scratch = true;
        b.train.eval_every = Some(10);
        let diff = config_diff(&[Some(&a), Some(&b), None]);
        let keys: Vec<&str> = diff.iter().map(|(k, _)| k.as_str()).collect();
        assert!(keys.contains(&"train.lr") && keys.contains(&"model.from-scratch"), "{keys:?}");
        assert!(!keys.contains(&"data.train"), "same in the two readable runs: {keys:?}");
        let eval_every = diff.iter().find(|(k, _)| k == "train.eval-every").expect("eval-every differs");
        assert_eq!(eval_every.1, vec!["-".to_owned(), "10".into(), "?".into()]);
        assert!(config_diff(&[Some(&a), Some(&a)]).is_empty());
    }

    #[test]
    fn curves_take_each_validation_once_and_align_by_epoch() {
        let labels = vec!["a".to_owned(), "b".to_owned()];
        let eval = |step: usize, epoch: f64, acc_right: bool| EvalReport {
            split: "valid".into(),
            step,
            epoch,
            loss: 0.5,
            examples: 2,
            examples_per_sec: 1.0,
            labels: labels.clone(),
            scores: score(&[0, 1], &[0, u32::from(acc_right)], &labels),
        };
        let step = |n: usize| StepMetrics {
            step: n,
            total_steps: 4,
            epoch: n as f64 / 2.0,
            loss: 1.0 / n as f64,
            lr: 1e-3,
            grad_norm: 1.0,
            examples_per_sec: 1.0,
            elapsed_s: 1.0,
            gpu_memory: None,
        };
        let history = RunHistory {
            steps: (1..=4).map(step).collect(),
            evals: vec![eval(2, 1.0, false), eval(4, 2.0, true), eval(4, 2.0, true)],
            ..RunHistory::default()
        };
        assert_eq!(curve(&history, CurveMetric::Accuracy, Align::Step), vec![(2.0, 0.5), (4.0, 1.0)]);
        assert_eq!(curve(&history, CurveMetric::TrainLoss, Align::Epoch)[1], (1.0, 0.5));
        // The best checkpoint was the earlier one: its final report (step 2 again, after step 4)
        // is no point going back in time, here nor in the exported plots.
        let back = RunHistory {
            evals: vec![eval(2, 1.0, true), eval(4, 2.0, false), eval(2, 1.0, true)],
            ..history.clone()
        };
        let steps: Vec<usize> = back.validations().iter().map(|r| r.step).collect();
        assert_eq!(steps, [2, 4]);
        assert_eq!(curve(&back, CurveMetric::Accuracy, Align::Step), vec![(2.0, 1.0), (4.0, 0.5)]);
        let mlm = |step: usize, loss: f64| crate::report::MlmReport {
            step,
            epoch: step as f64 / 4.0,
            loss,
            accuracy: 0.1,
            perplexity: loss.exp(),
            nsp_accuracy: None,
            masked_tokens: 10,
            examples: 2,
        };
        let pretraining = RunHistory { mlm: vec![mlm(2, 6.0), mlm(4, 5.5)], ..RunHistory::default() };
        assert_eq!(curve(&pretraining, CurveMetric::MaskedLmLoss, Align::Step), vec![(2.0, 6.0), (4.0, 5.5)]);
        assert!(curve(&pretraining, CurveMetric::Accuracy, Align::Step).is_empty());
    }
}
