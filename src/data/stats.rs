//! What a dataset holds, in figures: how its labels are distributed (classes, labels of a set,
//! entity types, or value ranges, by head) and how long its examples are.

use super::load::Examples;
use super::target::{parse_label_set, parse_value};
use crate::config::HeadKind;
use crate::eval::entities::spans;

/// How often each label occurs, most frequent first (value ranges in order, for regression).
pub fn label_counts(head: HeadKind, examples: &Examples, separator: &str) -> Vec<(String, usize)> {
    let mut counts: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    match head {
        HeadKind::SeqCls => {
            for l in &examples.labels {
                *counts.entry(l.clone()).or_default() += 1;
            }
        }
        HeadKind::MultiLabel => {
            for l in &examples.labels {
                let set = parse_label_set(l, separator).unwrap_or_default();
                if set.is_empty() {
                    *counts.entry("(no label)".into()).or_default() += 1;
                }
                for name in set {
                    *counts.entry(name).or_default() += 1;
                }
            }
        }
        HeadKind::TokenCls => {
            for l in &examples.labels {
                let tags: Vec<&str> = l.split_whitespace().collect();
                for s in spans(&tags) {
                    *counts.entry(s.kind).or_default() += 1;
                }
            }
        }
        HeadKind::Regression => return value_bins(examples, 6),
    }
    let mut out: Vec<(String, usize)> = counts.into_iter().collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    out
}

/// The targets in `bins` equal-width ranges, lowest first.
fn value_bins(examples: &Examples, bins: usize) -> Vec<(String, usize)> {
    let values: Vec<f64> = examples.labels.iter().filter_map(|l| parse_value(l)).collect();
    let (lo, hi) = values.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
    if values.is_empty() {
        return Vec::new();
    }
    let width = ((hi - lo) / bins as f64).max(f64::MIN_POSITIVE);
    let mut counts = vec![0usize; bins];
    for v in &values {
        counts[(((v - lo) / width) as usize).min(bins - 1)] += 1;
    }
    let fmt =
        |v: f64| if v.fract() == 0.0 || v.abs() >= 100.0 { format!("{v:.0}") } else { format!("{v:.2}") };
    counts
        .into_iter()
        .enumerate()
        .map(|(i, n)| (format!("{}–{}", fmt(lo + width * i as f64), fmt(lo + width * (i + 1) as f64)), n))
        .collect()
}

/// Summary of a list of lengths.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Lengths {
    pub min: usize,
    pub mean: f64,
    pub median: usize,
    pub p90: usize,
    pub p95: usize,
    pub max: usize,
}

impl Lengths {
    pub fn of(lengths: &[usize]) -> Option<Self> {
        let mut sorted = lengths.to_vec();
        sorted.sort_unstable();
        let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize];
        Some(Self {
            min: *sorted.first()?,
            mean: sorted.iter().sum::<usize>() as f64 / sorted.len() as f64,
            median: at(0.5),
            p90: at(0.9),
            p95: at(0.95),
            max: *sorted.last()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn examples(labels: &[&str]) -> Examples {
        Examples {
            texts: labels.iter().map(|_| "x".to_owned()).collect(),
            labels: labels.iter().map(|l| (*l).to_owned()).collect(),
            ..Examples::default()
        }
    }

    #[test]
    fn counts_follow_the_head() {
        let e = examples(&["a|b", "b", ""]);
        assert_eq!(
            label_counts(HeadKind::MultiLabel, &e, "|"),
            [("b".into(), 2), ("(no label)".into(), 1), ("a".into(), 1)]
        );
        let e = examples(&["B-PER I-PER O B-LOC", "B-LOC"]);
        assert_eq!(label_counts(HeadKind::TokenCls, &e, "|"), [("LOC".into(), 2), ("PER".into(), 1)]);
        let e = examples(&["1800", "1900", "2000", "1990"]);
        let bins = label_counts(HeadKind::Regression, &e, "|");
        assert_eq!(bins.len(), 6);
        assert_eq!(bins[0], ("1800–1833".into(), 1));
        assert_eq!(bins[5].1, 2, "the top bin holds the maximum");
    }

    #[test]
    fn length_summary() {
        let l = Lengths::of(&[5, 1, 3, 9, 7]).expect("some");
        assert_eq!((l.min, l.median, l.max), (1, 5, 9));
        assert!((l.mean - 5.0).abs() < 1e-12);
        assert!(Lengths::of(&[]).is_none());
    }
}
