//! Regression metrics: mean squared and absolute error, Pearson and Spearman correlation, R².

use serde::{Deserialize, Serialize};

use super::metrics::Scores;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegressionScores {
    pub mse: f64,
    pub mae: f64,
    /// Linear correlation of predictions and targets (0 when either is constant).
    pub pearson: f64,
    /// Correlation of their ranks (ties share their mean rank).
    pub spearman: f64,
    /// Share of the targets' variance the predictions explain.
    pub r2: f64,
}

pub fn score_values(gold: &[f32], predicted: &[f32]) -> Scores {
    let g: Vec<f64> = gold.iter().map(|&v| f64::from(v)).collect();
    let p: Vec<f64> = predicted.iter().map(|&v| f64::from(v)).collect();
    let n = g.len().max(1) as f64;
    let mse = g.iter().zip(&p).map(|(a, b)| (a - b).powi(2)).sum::<f64>() / n;
    let mae = g.iter().zip(&p).map(|(a, b)| (a - b).abs()).sum::<f64>() / n;
    let mean = g.iter().sum::<f64>() / n;
    let variance = g.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / n;
    Scores {
        regression: Some(RegressionScores {
            mse,
            mae,
            pearson: pearson(&g, &p),
            spearman: pearson(&ranks(&g), &ranks(&p)),
            r2: if variance > 0.0 { 1.0 - mse / variance } else { 0.0 },
        }),
        ..Scores::empty()
    }
}

fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().max(1) as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
    if va <= 0.0 || vb <= 0.0 { 0.0 } else { cov / (va * vb).sqrt() }
}

/// 1-based ranks; tied values get the mean of the ranks they span.
fn ranks(v: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..v.len()).collect();
    order.sort_by(|&i, &j| v[i].total_cmp(&v[j]));
    let mut out = vec![0.0; v.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && v[order[j + 1]] == v[order[i]] {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            out[k] = rank;
        }
        i = j + 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_hand_computed_values() {
        let s = score_values(&[1.0, 2.0, 3.0, 4.0], &[1.0, 3.0, 2.0, 6.0]);
        let r = s.regression.expect("section");
        assert!((r.mse - (0.0 + 1.0 + 1.0 + 4.0) / 4.0).abs() < 1e-9);
        assert!((r.mae - 1.0).abs() < 1e-9);
        // ranks of predictions: 1 3 2 4 -> spearman 1 - 6·2 / (4·15) = 0.8
        assert!((r.spearman - 0.8).abs() < 1e-9, "{}", r.spearman);
        // deviations: gold -1.5 -.5 .5 1.5, predicted -2 0 -1 3: covariance sum 7, variances 5, 14
        let want = 7.0 / (5.0f64 * 14.0).sqrt();
        assert!((r.pearson - want).abs() < 1e-9, "{} vs {want}", r.pearson);
        assert!((r.r2 - (1.0 - 1.5 / 1.25)).abs() < 1e-9);
        assert!(s.accuracy.is_nan());
    }

    #[test]
    fn ties_share_ranks_and_constants_do_not_divide_by_zero() {
        assert_eq!(ranks(&[5.0, 1.0, 5.0, 2.0]), [3.5, 1.0, 3.5, 2.0]);
        let r = score_values(&[1.0, 2.0], &[3.0, 3.0]).regression.expect("section");
        assert_eq!(r.pearson, 0.0);
    }
}
