//! Calibration: whether a model's probabilities mean what they say — of the predictions made
//! with probability 0.9, are nine in ten right? Probabilities are put in ten equal bins; each
//! bin's mean probability is set against how often its predictions were right (a reliability
//! diagram), and the expected calibration error (ECE) is the gap averaged over bins, each
//! weighted by its share of the predictions (Guo et al., 2017, "On Calibration of Modern Neural
//! Networks"). 0 is perfectly calibrated; a model that says 0.9 and is right half the time has
//! an ECE of 0.4.
//!
//! Single-label classification is judged on its top label (the predicted class's probability
//! against whether it was right); label sets on every label's probability against whether the
//! label is gold.

use serde::{Deserialize, Serialize};

/// Bins of the reliability diagram.
pub const BINS: usize = 10;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// Expected calibration error, in [0, 1] (NaN: nothing to judge).
    #[serde(deserialize_with = "crate::report::nullable_f64")]
    pub ece: f64,
    /// Decisions judged: examples, or (label sets) examples × labels.
    pub decisions: usize,
    /// The bins that hold decisions, lowest probability first.
    pub bins: Vec<Bin>,
}

/// One bin of the reliability diagram.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bin {
    /// Probabilities from `lower` to `upper` (the last bin includes 1).
    pub lower: f64,
    pub upper: f64,
    pub count: usize,
    /// Mean probability of the bin's decisions.
    pub confidence: f64,
    /// Share of them that were right.
    pub accuracy: f64,
}

/// Top-label calibration of single-label predictions: `(probability of the predicted class,
/// whether it was the gold one)` per example.
pub fn of_top_labels(predictions: impl IntoIterator<Item = (f32, bool)>) -> Calibration {
    from_decisions(predictions.into_iter().map(|(p, right)| (f64::from(p), right)))
}

/// Label sets: every label's probability against whether it is among the example's gold ones.
pub fn of_label_sets(probabilities: &[Vec<f32>], gold: &[Vec<u32>]) -> Calibration {
    let decisions = probabilities.iter().zip(gold).flat_map(|(p, g)| {
        p.iter().enumerate().map(move |(label, &v)| (f64::from(v), g.contains(&(label as u32))))
    });
    from_decisions(decisions)
}

fn from_decisions(decisions: impl Iterator<Item = (f64, bool)>) -> Calibration {
    // (count, sum of probabilities, right) per bin; NaN probabilities are not judged.
    let mut sums = [(0usize, 0f64, 0usize); BINS];
    for (p, right) in decisions.filter(|(p, _)| !p.is_nan()) {
        let p = p.clamp(0.0, 1.0);
        let bin = ((p * BINS as f64) as usize).min(BINS - 1);
        let s = &mut sums[bin];
        (s.0, s.1, s.2) = (s.0 + 1, s.1 + p, s.2 + usize::from(right));
    }
    let decisions: usize = sums.iter().map(|s| s.0).sum();
    let bins: Vec<Bin> = sums
        .iter()
        .enumerate()
        .filter(|(_, s)| s.0 > 0)
        .map(|(i, &(count, sum, right))| Bin {
            lower: i as f64 / BINS as f64,
            upper: (i + 1) as f64 / BINS as f64,
            count,
            confidence: sum / count as f64,
            accuracy: right as f64 / count as f64,
        })
        .collect();
    let ece = if decisions == 0 {
        f64::NAN
    } else {
        bins.iter().map(|b| b.count as f64 / decisions as f64 * (b.accuracy - b.confidence).abs()).sum()
    };
    Calibration { ece, decisions, bins }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_model_sure_at_095_and_right_half_the_time_is_off_by_045() {
        let c = of_top_labels((0..10).map(|i| (0.95, i % 2 == 0)));
        assert!((c.ece - 0.45).abs() < 1e-6, "{c:?}");
        assert_eq!((c.decisions, c.bins.len()), (10, 1));
        assert_eq!((c.bins[0].lower, c.bins[0].upper), (0.9, 1.0));
    }

    #[test]
    fn a_calibrated_model_has_no_error_and_bins_weigh_by_their_share() {
        // 0.25 right a quarter of the time, 0.75 three quarters: calibrated.
        let calibrated = (0..8).map(|i| (0.25, i % 4 == 0)).chain((0..8).map(|i| (0.75, i % 4 != 0)));
        assert!(of_top_labels(calibrated).ece.abs() < 1e-9);
        // Three decisions at 1.0 all right, one at 0.55 wrong: |0 − 0.55| weighs a quarter.
        let c = of_top_labels([(1.0, true), (1.0, true), (1.0, true), (0.55, false)]);
        assert!((c.ece - 0.55 / 4.0).abs() < 1e-6, "{c:?}");
        assert_eq!(
            c.bins.iter().map(|b| b.count).collect::<Vec<_>>(),
            vec![1, 3],
            "1.0 goes in the last bin"
        );
    }

    #[test]
    fn label_sets_judge_every_label_against_the_gold_set() {
        // Two examples, two labels: label 0 at 0.8 (gold in one of two), label 1 at 0.1 (never).
        let probabilities = vec![vec![0.8, 0.1], vec![0.8, 0.1]];
        let gold = vec![vec![0], vec![]];
        let c = of_label_sets(&probabilities, &gold);
        assert_eq!(c.decisions, 4);
        // Bin 0.8: accuracy 0.5 against 0.8; bin 0.1: 0 against 0.1; each half the decisions.
        assert!((c.ece - (0.5 * 0.3 + 0.5 * 0.1)).abs() < 1e-6, "{c:?}");
    }

    #[test]
    fn nothing_to_judge_gives_no_figure() {
        let c = of_top_labels([(f32::NAN, true)]);
        assert!(c.ece.is_nan() && c.bins.is_empty() && c.decisions == 0);
    }
}
