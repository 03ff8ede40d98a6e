//! Multi-label metrics: per-label precision, recall and F1 with their micro, macro and
//! support-weighted averages, example-based ("samples") F1, subset accuracy and Hamming loss,
//! at a decision threshold on each label's probability.

use serde::{Deserialize, Serialize};

use super::metrics::{Scores, averages, class_metrics, f1, ratio};

/// What only multi-label evaluation has.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelSetScores {
    /// Mean over examples of the F1 between the gold and predicted sets (an example with no
    /// gold label and none predicted scores 1).
    pub samples_f1: f64,
    /// Share of label decisions that are wrong.
    pub hamming_loss: f64,
    /// A label is predicted when its probability reaches this.
    pub threshold: f64,
    /// Per label: `[true positives, false positives, false negatives, true negatives]`.
    pub label_confusion: Vec<[usize; 4]>,
}

/// How multi-label decisions are made at an evaluation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Threshold {
    /// A label is predicted when its probability reaches this.
    At(f64),
    /// The threshold with the best micro-F1 on the evaluated split (validation), starting from
    /// this one.
    TuneFrom(f64),
}

/// The labels whose probability reaches `threshold`.
pub fn predicted_set(probabilities: &[f32], threshold: f64) -> Vec<u32> {
    (0..probabilities.len()).filter(|&c| f64::from(probabilities[c]) >= threshold).map(|c| c as u32).collect()
}

/// Scores predicted label sets (`probabilities` at `threshold`) against gold sets.
pub fn score_label_sets(
    gold: &[Vec<u32>],
    probabilities: &[Vec<f32>],
    threshold: f64,
    labels: &[String],
) -> Scores {
    let k = labels.len();
    let mut counts = vec![[0usize; 4]; k];
    let (mut exact, mut samples_f1, mut wrong) = (0usize, 0f64, 0usize);
    for (g, p) in gold.iter().zip(probabilities) {
        let predicted = predicted_set(p, threshold);
        let hits = predicted.iter().filter(|c| g.contains(c)).count();
        for (c, count) in counts.iter_mut().enumerate() {
            let (is_gold, is_predicted) = (g.contains(&(c as u32)), predicted.contains(&(c as u32)));
            let slot = match (is_gold, is_predicted) {
                (true, true) => 0,
                (false, true) => 1,
                (true, false) => 2,
                (false, false) => 3,
            };
            count[slot] += 1;
            wrong += usize::from(is_gold != is_predicted);
        }
        exact += usize::from(hits == g.len() && hits == predicted.len());
        samples_f1 += if g.is_empty() && predicted.is_empty() {
            1.0
        } else {
            f1(ratio(hits, predicted.len()), ratio(hits, g.len()))
        };
    }
    let n = gold.len();
    let per_class: Vec<_> =
        counts.iter().zip(labels).map(|(c, l)| class_metrics(l, c[0], c[1], c[2])).collect();
    let (macro_precision, macro_recall, macro_f1, weighted_f1) = averages(&per_class);
    let (tp, fp, fn_) = counts.iter().fold((0, 0, 0), |a, c| (a.0 + c[0], a.1 + c[1], a.2 + c[2]));
    Scores {
        accuracy: ratio(exact, n),
        macro_precision,
        macro_recall,
        macro_f1,
        micro_f1: f1(ratio(tp, tp + fp), ratio(tp, tp + fn_)),
        weighted_f1,
        per_class,
        multi_label: Some(LabelSetScores {
            samples_f1: if n == 0 { 0.0 } else { samples_f1 / n as f64 },
            hamming_loss: ratio(wrong, n * k),
            threshold,
            label_confusion: counts,
        }),
        ..Scores::empty()
    }
}

/// The threshold (0.05 … 0.95 in steps of 0.05) with the best micro-F1. It moves away from
/// `start` only for a strictly better score (the lowest of equals): a flat curve, as before the
/// model has learnt anything, keeps the configured threshold.
pub fn tune_threshold(gold: &[Vec<u32>], probabilities: &[Vec<f32>], labels: &[String], start: f64) -> f64 {
    let mut best = (start, score_label_sets(gold, probabilities, start, labels).micro_f1);
    for step in 1..20 {
        let t = f64::from(step) * 0.05;
        let f = score_label_sets(gold, probabilities, t, labels).micro_f1;
        if f > best.1 + 1e-12 {
            best = (t, f);
        }
    }
    best.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        vec!["a".into(), "b".into(), "c".into()]
    }

    #[test]
    fn matches_hand_computed_values() {
        // gold {a,b}, {c}, {}, {a}; predicted (at 0.5) {a}, {b,c}, {}, {a,c}
        let gold = vec![vec![0, 1], vec![2], vec![], vec![0]];
        let probs = vec![vec![0.9, 0.2, 0.1], vec![0.1, 0.6, 0.5], vec![0.4, 0.4, 0.4], vec![0.7, 0.0, 0.8]];
        let s = score_label_sets(&gold, &probs, 0.5, &names());
        let ml = s.multi_label.as_ref().expect("section");
        // a: tp 2; b: fn 1, fp 1; c: tp 1, fp 1
        assert_eq!(ml.label_confusion, [[2, 0, 0, 2], [0, 1, 1, 2], [1, 1, 0, 2]]);
        assert!((s.accuracy - 0.25).abs() < 1e-12, "only the empty example is exact");
        // micro: tp 3, fp 2, fn 1 -> p 3/5, r 3/4, f1 = 2/3
        assert!((s.micro_f1 - 2.0 / 3.0).abs() < 1e-12);
        // per label F1: a 1, b 0, c 2/3
        assert!((s.macro_f1 - (1.0 + 0.0 + 2.0 / 3.0) / 3.0).abs() < 1e-12);
        // samples: {a,b}/{a}: 2/3; {c}/{b,c}: 2/3; {}/{}: 1; {a}/{a,c}: 2/3
        assert!((ml.samples_f1 - (2.0 / 3.0 * 3.0 + 1.0) / 4.0).abs() < 1e-12);
        // wrong decisions: b in ex1, b in ex2, c in ex4 -> 3 of 12
        assert!((ml.hamming_loss - 0.25).abs() < 1e-12);
    }

    #[test]
    fn tuning_finds_the_threshold_that_separates() {
        let gold = vec![vec![0], vec![], vec![0], vec![]];
        let probs = vec![vec![0.3f32], vec![0.1], vec![0.35], vec![0.2]];
        let names = vec!["x".to_owned()];
        assert!(score_label_sets(&gold, &probs, 0.5, &names).micro_f1 < 1e-12);
        let t = tune_threshold(&gold, &probs, &names, 0.5);
        assert!(
            (tune_threshold(&gold, &[vec![0.0], vec![0.0], vec![0.0], vec![0.0]], &names, 0.5) - 0.5).abs()
                < 1e-12,
            "nothing to gain: the configured threshold stays"
        );
        assert!(t > 0.2 && t <= 0.3, "{t}");
        assert!((score_label_sets(&gold, &probs, t, &names).micro_f1 - 1.0).abs() < 1e-12);
    }
}
