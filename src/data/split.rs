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
    fn rare_class_keeps_a_training_example() {
        let ls = labels(&[("a", 30), ("rare", 1)]);
        let s = stratified_split(&ls, 0.5, 0.4, 3);
        assert!(s.train.iter().any(|&i| ls[i] == "rare"));
    }
}
