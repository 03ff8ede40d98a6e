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
        return history
            .steps
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
            out.retain(|k, _| !k.starts_with("resolved."));
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
