//! Classification metrics: accuracy; precision, recall and F1 per class; their macro, micro and
//! support-weighted averages; the confusion matrix. A class never predicted and never present
//! scores 0 (as scikit-learn's `zero_division=0`), and counts in the macro average.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    pub label: String,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub support: usize,
}

/// The scores of one evaluation. The classification figures are shared by every head with
/// classes (for multi-label: subset accuracy and label-wise F1; for token classification: token
/// accuracy, entity F1 and per entity type); each head adds its own section. A figure that does
/// not apply is NaN and left out of JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    #[serde(default = "nan", skip_serializing_if = "is_nan")]
    pub accuracy: f64,
    #[serde(default = "nan", skip_serializing_if = "is_nan")]
    pub macro_precision: f64,
    #[serde(default = "nan", skip_serializing_if = "is_nan")]
    pub macro_recall: f64,
    #[serde(default = "nan", skip_serializing_if = "is_nan")]
    pub macro_f1: f64,
    #[serde(default = "nan", skip_serializing_if = "is_nan")]
    pub micro_f1: f64,
    #[serde(default = "nan", skip_serializing_if = "is_nan")]
    pub weighted_f1: f64,
    #[serde(default)]
    pub per_class: Vec<ClassMetrics>,
    /// `confusion[gold][predicted]` counts, over the report's labels.
    #[serde(default)]
    pub confusion: Vec<Vec<usize>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multi_label: Option<super::multilabel::LabelSetScores>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entities: Option<super::entities::EntityScores>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regression: Option<super::regression::RegressionScores>,
    /// How far the probabilities are from how often they are right (classes and label sets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<super::calibration::Calibration>,
}

pub(crate) fn nan() -> f64 {
    f64::NAN
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
pub(crate) fn is_nan(v: &f64) -> bool {
    v.is_nan()
}

impl Scores {
    /// Scores with no classification figures (regression fills in its own section).
    pub fn empty() -> Self {
        Self {
            accuracy: f64::NAN,
            macro_precision: f64::NAN,
            macro_recall: f64::NAN,
            macro_f1: f64::NAN,
            micro_f1: f64::NAN,
            weighted_f1: f64::NAN,
            per_class: Vec::new(),
            confusion: Vec::new(),
            multi_label: None,
            entities: None,
            regression: None,
            calibration: None,
        }
    }
}

pub(crate) fn ratio(num: usize, den: usize) -> f64 {
    if den == 0 { 0.0 } else { num as f64 / den as f64 }
}

pub(crate) fn f1(p: f64, r: f64) -> f64 {
    if p + r == 0.0 { 0.0 } else { 2.0 * p * r / (p + r) }
}

/// Scores predictions against gold labels; both are class indices into `labels`.
pub fn score(gold: &[u32], predicted: &[u32], labels: &[String]) -> Scores {
    let k = labels.len();
    let mut confusion = vec![vec![0usize; k]; k];
    for (&g, &p) in gold.iter().zip(predicted) {
        confusion[g as usize][p as usize] += 1;
    }
    let total = gold.len();
    let correct: usize = (0..k).map(|c| confusion[c][c]).sum();
    let per_class: Vec<ClassMetrics> = (0..k)
        .map(|c| {
            let tp = confusion[c][c];
            let support: usize = confusion[c].iter().sum();
            let predicted_c: usize = confusion.iter().map(|row| row[c]).sum();
            class_metrics(&labels[c], tp, predicted_c - tp, support - tp)
        })
        .collect();
    let (macro_precision, macro_recall, macro_f1, weighted_f1) = averages(&per_class);
    Scores {
        accuracy: ratio(correct, total),
        macro_precision,
        macro_recall,
        macro_f1,
        // With one label per example, micro precision = micro recall = accuracy.
        micro_f1: ratio(correct, total),
        weighted_f1,
        per_class,
        confusion,
        multi_label: None,
        entities: None,
        regression: None,
        calibration: None,
    }
}

/// Precision, recall and F1 of one class from its counts.
pub(crate) fn class_metrics(label: &str, tp: usize, fp: usize, fn_: usize) -> ClassMetrics {
    let precision = ratio(tp, tp + fp);
    let recall = ratio(tp, tp + fn_);
    ClassMetrics { label: label.to_owned(), precision, recall, f1: f1(precision, recall), support: tp + fn_ }
}

/// Macro precision, recall, F1 and the support-weighted F1 of per-class metrics.
pub(crate) fn averages(per_class: &[ClassMetrics]) -> (f64, f64, f64, f64) {
    let k = per_class.len();
    let mean = |f: fn(&ClassMetrics) -> f64| {
        if k == 0 { 0.0 } else { per_class.iter().map(f).sum::<f64>() / k as f64 }
    };
    let support: usize = per_class.iter().map(|c| c.support).sum();
    let weighted = if support == 0 {
        0.0
    } else {
        per_class.iter().map(|c| c.f1 * c.support as f64).sum::<f64>() / support as f64
    };
    (mean(|c| c.precision), mean(|c| c.recall), mean(|c| c.f1), weighted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("c{i}")).collect()
    }

    #[test]
    fn matches_hand_computed_values() {
        // gold:  0 0 0 1 1 2
        // pred:  0 0 1 1 2 2
        let s = score(&[0, 0, 0, 1, 1, 2], &[0, 0, 1, 1, 2, 2], &names(3));
        assert!((s.accuracy - 4.0 / 6.0).abs() < 1e-12);
        assert_eq!(s.confusion, [[2, 1, 0], [0, 1, 1], [0, 0, 1]]);
        let c0 = &s.per_class[0];
        assert!((c0.precision - 1.0).abs() < 1e-12 && (c0.recall - 2.0 / 3.0).abs() < 1e-12);
        assert!((c0.f1 - 0.8).abs() < 1e-12);
        // class 1: p = 1/2, r = 1/2, f1 = 1/2; class 2: p = 1/2, r = 1, f1 = 2/3
        assert!((s.macro_f1 - (0.8 + 0.5 + 2.0 / 3.0) / 3.0).abs() < 1e-12);
        assert!((s.weighted_f1 - (0.8 * 3.0 + 0.5 * 2.0 + 2.0 / 3.0) / 6.0).abs() < 1e-12);
        assert!((s.micro_f1 - s.accuracy).abs() < 1e-12);
    }

    #[test]
    fn absent_class_scores_zero_without_dividing_by_zero() {
        let s = score(&[0, 0], &[0, 0], &names(2));
        assert_eq!(s.per_class[1].f1, 0.0);
        assert!((s.macro_f1 - 0.5).abs() < 1e-12);
        let empty = score(&[], &[], &names(2));
        assert_eq!(empty.accuracy, 0.0);
    }
}
