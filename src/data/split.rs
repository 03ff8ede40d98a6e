//! Seeded, stratified splitting of one file into train / valid / test.

use std::collections::BTreeMap;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

/// Row indices of each split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    pub train: Vec<usize>,
    pub valid: Vec<usize>,
    pub test: Vec<usize>,
}

/// Splits rows by label so that each split keeps the class proportions. Every class keeps at
/// least one training example. The result depends only on the labels, ratios and seed.
pub fn stratified_split(labels: &[String], valid_ratio: f64, test_ratio: f64, seed: u64) -> Split {
    let mut by_label: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, l) in labels.iter().enumerate() {
        by_label.entry(l.as_str()).or_default().push(i);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut split = Split { train: Vec::new(), valid: Vec::new(), test: Vec::new() };
    for rows in by_label.values_mut() {
        rows.shuffle(&mut rng);
        let n = rows.len();
        let n_valid = share(n, valid_ratio);
        let n_test = share(n, test_ratio).min(n - n_valid);
        let (n_valid, n_test) =
            if n_valid + n_test >= n { (n_valid.min(n - 1), 0) } else { (n_valid, n_test) };
        split.valid.extend_from_slice(&rows[..n_valid]);
        split.test.extend_from_slice(&rows[n_valid..n_valid + n_test]);
        split.train.extend_from_slice(&rows[n_valid + n_test..]);
    }
    // Interleave classes again: keep file order inside each split.
    split.train.sort_unstable();
    split.valid.sort_unstable();
    split.test.sort_unstable();
    split
}

/// Rows of a label budget: `share` of each class (rounded up, so every class keeps one),
/// in file order. Each class's rows are ranked once by the seed and the budget takes the
/// first ones, so at one seed a smaller share is a subset of a larger one: a label-budget
/// curve adds examples instead of drawing new ones.
pub fn nested_share(labels: &[String], share: f64, seed: u64) -> Vec<usize> {
    let mut by_label: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, l) in labels.iter().enumerate() {
        by_label.entry(l.as_str()).or_default().push(i);
    }
    // A stream of its own: the budget does not shift with the valid/test split's draws.
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x6c61_6265_6c73);
    let mut rows: Vec<usize> = by_label
        .into_values()
        .flat_map(|mut rows| {
            rows.shuffle(&mut rng);
            let keep = ((rows.len() as f64) * share).ceil().clamp(1.0, rows.len() as f64) as usize;
            rows.truncate(keep);
            rows
        })
        .collect();
    rows.sort_unstable();
    rows
}

fn share(n: usize, ratio: f64) -> usize {
    ((n as f64) * ratio).round() as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(counts: &[(&str, usize)]) -> Vec<String> {
        counts.iter().flat_map(|(l, n)| std::iter::repeat_n((*l).to_owned(), *n)).collect()
    }

    #[test]
    fn keeps_proportions_and_covers_every_row_once() {
        let ls = labels(&[("a", 800), ("b", 200)]);
        let s = stratified_split(&ls, 0.1, 0.2, 7);
        assert_eq!(s.valid.len(), 100);
        assert_eq!(s.test.len(), 200);
        assert_eq!(s.valid.iter().filter(|&&i| ls[i] == "b").count(), 20);
        assert_eq!(s.test.iter().filter(|&&i| ls[i] == "b").count(), 40);
        let mut all: Vec<usize> = s.train.iter().chain(&s.valid).chain(&s.test).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..1000).collect::<Vec<_>>());
    }

    #[test]
    fn seed_decides_the_split() {
        let ls = labels(&[("a", 50), ("b", 50)]);
        assert_eq!(stratified_split(&ls, 0.2, 0.0, 1), stratified_split(&ls, 0.2, 0.0, 1));
        assert_ne!(stratified_split(&ls, 0.2, 0.0, 1), stratified_split(&ls, 0.2, 0.0, 2));
    }

    #[test]
    fn label_budgets_are_stratified_and_nested() {
        let ls = labels(&[("a", 80), ("b", 20)]);
        let small = nested_share(&ls, 0.1, 5);
        let large = nested_share(&ls, 0.5, 5);
        assert_eq!(small.len(), 10);
        assert_eq!(small.iter().filter(|&&i| ls[i] == "b").count(), 2);
        assert_eq!(large.len(), 50);
        assert!(small.iter().all(|i| large.contains(i)), "{small:?} not within {large:?}");
        assert_ne!(nested_share(&ls, 0.1, 6), small, "another seed draws other examples");
        assert_eq!(nested_share(&ls, 1.0, 5), (0..100).collect::<Vec<_>>());
        // A class too small for the share keeps one example.
        let rare = labels(&[("a", 50), ("rare", 2)]);
        assert!(nested_share(&rare, 0.1, 1).iter().any(|&i| rare[i] == "rare"));
    }

    #[test]
    fn rare_class_keeps_a_training_example() {
        let ls = labels(&[("a", 30), ("rare", 1)]);
        let s = stratified_split(&ls, 0.5, 0.4, 3);
        assert!(s.train.iter().any(|&i| ls[i] == "rare"));
    }
}
