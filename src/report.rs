//! What a run reports: evaluations, predictions, masked-LM figures, summaries and the run's
//! status. A leaf: the model, evaluation, data, run-record and plotting code read these types,
//! and none of them needs the training loop that produces them.

use serde::{Deserialize, Serialize};

use crate::config::{HeadKind, Metric};
use crate::eval::Scores;
use crate::eval::metrics::ClassMetrics;
use crate::eval::metrics::{is_nan, nan};

/// JSON has no NaN: `serde_json` writes a NaN (a diverged loss, a snapshot without a metric) as
/// `null`. Reading it back, `null` is NaN again, so such a record stays readable.
pub(crate) fn nullable_f64<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// `nullable_f64` for an `f32`.
fn nullable_f32<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<f32, D::Error> {
    Ok(Option::<f32>::deserialize(d)?.unwrap_or(f32::NAN))
}

/// `nullable_f64` for each of a list of `f32`s.
fn nullable_f32s<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Vec<f32>, D::Error> {
    Ok(Vec::<Option<f32>>::deserialize(d)?.into_iter().map(|v| v.unwrap_or(f32::NAN)).collect())
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// `valid` or `test`.
    pub split: String,
    pub step: usize,
    pub epoch: f64,
    #[serde(deserialize_with = "nullable_f64")]
    pub loss: f64,
    pub examples: usize,
    pub examples_per_sec: f64,
    pub labels: Vec<String>,
    #[serde(flatten)]
    pub scores: Scores,
}

impl EvalReport {
    /// The value of `metric` in this report; `None` when it does not apply (or is `Auto`).
    pub fn metric(&self, metric: Metric) -> Option<f64> {
        let s = &self.scores;
        let value = match metric {
            Metric::Auto => return None,
            Metric::Loss => self.loss,
            Metric::Accuracy => s.accuracy,
            Metric::MacroF1 => s.macro_f1,
            Metric::MicroF1 => s.micro_f1,
            Metric::EntityF1 => s.entities.as_ref()?.f1,
            Metric::Pearson => s.regression.as_ref()?.pearson,
            Metric::Spearman => s.regression.as_ref()?.spearman,
        };
        (!value.is_nan()).then_some(value)
    }

    /// The head that produced this report, from the sections its scores have.
    pub fn head(&self) -> HeadKind {
        let s = &self.scores;
        if s.regression.is_some() {
            HeadKind::Regression
        } else if s.entities.is_some() {
            HeadKind::TokenCls
        } else if s.multi_label.is_some() {
            HeadKind::MultiLabel
        } else {
            HeadKind::SeqCls
        }
    }

    /// The figures that sum this report up, named for people, by what the head measures.
    pub fn headline(&self) -> Vec<(&'static str, f64)> {
        let s = &self.scores;
        // The first two are the head's charted figures, named as `HeadKind::headline_names`.
        let [first, second] = self.head().headline_names();
        if let Some(g) = &s.regression {
            vec![(first, g.pearson), (second, g.spearman), ("MSE", g.mse), ("MAE", g.mae)]
        } else if let Some(e) = &s.entities {
            vec![
                (first, e.f1),
                (second, e.precision),
                ("recall", e.recall),
                ("token accuracy", e.token_accuracy),
            ]
        } else if s.multi_label.is_some() {
            vec![(first, s.micro_f1), (second, s.macro_f1), ("subset accuracy", s.accuracy)]
        } else {
            vec![(first, s.accuracy), (second, s.macro_f1)]
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MlmReport {
    pub step: usize,
    pub epoch: f64,
    /// Mean cross-entropy over the masked tokens.
    #[serde(deserialize_with = "nullable_f64")]
    pub loss: f64,
    /// Share of masked tokens whose original is the top guess.
    pub accuracy: f64,
    /// `exp(loss)`: how many tokens the model is as unsure as choosing between.
    #[serde(deserialize_with = "nullable_f64")]
    pub perplexity: f64,
    /// Next-sentence accuracy, when the run predicts it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nsp_accuracy: Option<f64>,
    pub masked_tokens: usize,
    pub examples: usize,
}

/// One probe sentence and, for each `[MASK]` in it, the top guesses with probabilities.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeResult {
    pub text: String,
    pub guesses: Vec<Vec<(String, f32)>>,
    /// The word the `[MASK]` hides, for a probe cut from held-out text (none for probes the
    /// run was given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    pub text: String,
    pub gold: String,
    pub predicted: String,
    /// Probability of the predicted class (NaN for regression).
    #[serde(deserialize_with = "nullable_f32")]
    pub confidence: f32,
    /// Probability of each class, in label order (a word cut off by `max-len`: NaN).
    #[serde(deserialize_with = "nullable_f32s")]
    pub probabilities: Vec<f32>,
}

impl Prediction {
    /// Regression: the (gold, predicted) values (`None` when either is not a number).
    pub fn values(&self) -> Option<(f64, f64)> {
        Some((self.gold.parse().ok()?, self.predicted.parse().ok()?))
    }

    /// Regression: predicted minus gold value (`None` when either is not a number).
    pub fn residual(&self) -> Option<f64> {
        self.values().map(|(gold, predicted)| predicted - gold)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    Finished,
    Cancelled,
    Failed,
    /// The process died while the run was `running` (found when listing runs).
    Interrupted,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Finished => "finished",
            Self::Cancelled => "cancelled",
            Self::Failed => "failed",
            Self::Interrupted => "interrupted",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Running, Self::Finished, Self::Cancelled, Self::Failed, Self::Interrupted]
            .into_iter()
            .find(|st| st.as_str() == s)
    }
}

/// The headline figures of one evaluated split, flat (scripts read them by name), and the
/// figures of each class. Figures a head does not have are left out: `accuracy` and the F1s for heads with classes, `entity_*`
/// and `token_accuracy` for token classification, `samples_f1`, `hamming_loss` and `threshold`
/// for multi-label, `mse`, `mae`, `pearson`, `spearman`, `r2` for regression.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitSummary {
    #[serde(deserialize_with = "nullable_f64")]
    pub loss: f64,
    #[serde(default = "nan", skip_serializing_if = "is_nan")]
    pub accuracy: f64,
    #[serde(default = "nan", skip_serializing_if = "is_nan")]
    pub macro_f1: f64,
    #[serde(default = "nan", skip_serializing_if = "is_nan")]
    pub micro_f1: f64,
    #[serde(default = "nan", skip_serializing_if = "is_nan")]
    pub weighted_f1: f64,
    #[serde(flatten)]
    pub extra: std::collections::BTreeMap<String, f64>,
    /// Precision, recall, F1 and support of each class (each label for multi-label, each
    /// entity type for token classification); none for regression.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub per_class: Vec<ClassMetrics>,
    pub examples: usize,
    pub step: usize,
}

impl SplitSummary {
    /// The split's main figure and its short name: entity F1, Pearson, micro-F1 (label sets)
    /// or accuracy.
    pub fn headline(&self) -> (&'static str, f64) {
        let get = |k: &str| self.extra.get(k).copied();
        if let Some(v) = get("entity_f1") {
            ("ent F1", v)
        } else if let Some(v) = get("pearson") {
            ("Pearson", v)
        } else if get("samples_f1").is_some() {
            ("micro-F1", self.micro_f1)
        } else {
            ("acc", self.accuracy)
        }
    }
}

impl From<&EvalReport> for SplitSummary {
    fn from(r: &EvalReport) -> Self {
        let s = &r.scores;
        let mut extra = std::collections::BTreeMap::new();
        if let Some(e) = &s.entities {
            extra.extend([
                ("entity_f1", e.f1),
                ("entity_precision", e.precision),
                ("entity_recall", e.recall),
                ("token_accuracy", e.token_accuracy),
            ]);
        }
        if let Some(m) = &s.multi_label {
            extra.extend([
                ("samples_f1", m.samples_f1),
                ("subset_accuracy", s.accuracy),
                ("hamming_loss", m.hamming_loss),
                ("threshold", m.threshold),
            ]);
        }
        if let Some(c) = &s.calibration {
            // A NaN (nothing judged) would be written as null, which `extra` cannot read back.
            if c.ece.is_finite() {
                extra.insert("ece", c.ece);
            }
        }
        if let Some(g) = &s.regression {
            extra.extend([
                ("mse", g.mse),
                ("mae", g.mae),
                ("pearson", g.pearson),
                ("spearman", g.spearman),
                ("r2", g.r2),
            ]);
        }
        Self {
            loss: r.loss,
            accuracy: s.accuracy,
            macro_f1: s.macro_f1,
            micro_f1: s.micro_f1,
            weighted_f1: s.weighted_f1,
            extra: extra.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
            per_class: s.per_class.clone(),
            examples: r.examples,
            step: r.step,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    pub run_id: String,
    pub status: RunStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid: Option<SplitSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test: Option<SplitSummary>,
    /// The masked-LM evaluation the run reports: a pretraining run's best (the model kept), a
    /// masked-LM stage's last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pretrain: Option<MlmReport>,
    pub steps: usize,
    pub epochs: f64,
    /// Step of the checkpoint kept in `model/`: the best on validation (or held-out text), or
    /// the last one saved where there was nothing to judge by.
    pub best_step: Option<usize>,
    pub train_examples_per_sec: f64,
    pub eval_examples_per_sec: f64,
    pub peak_rss_mib: f64,
    pub time_to_first_step_s: Option<f64>,
    pub duration_s: f64,
}

#[cfg(test)]
mod tests {
    use super::Prediction;

    #[test]
    fn a_prediction_with_nan_figures_reads_back() {
        // Regression rows have no confidence, and a word cut off by max-len no probability:
        // JSON writes both as null, and a resumed run reads its best validation back from it.
        let row = Prediction {
            text: "a b".into(),
            gold: "1.5".into(),
            predicted: "1.25".into(),
            confidence: f32::NAN,
            probabilities: vec![0.5, f32::NAN],
        };
        let json = serde_json::to_string(&row).expect("json");
        let back: Prediction = serde_json::from_str(&json).expect("reads back");
        assert!(back.confidence.is_nan());
        assert_eq!(back.probabilities[0], 0.5);
        assert!(back.probabilities[1].is_nan());
    }
}
