//! The label set: the classes seen in training, in a stable order.

use std::collections::BTreeSet;
use std::path::Path;

use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LabelSet {
    names: Vec<String>,
}

impl LabelSet {
    /// Labels found in `labels`, sorted numerically when every label is an integer (so "2" comes
    /// before "10"), otherwise lexicographically. The order is the class index.
    pub fn from_labels<'a>(labels: impl IntoIterator<Item = &'a String>) -> Self {
        let unique: BTreeSet<&String> = labels.into_iter().collect();
        let mut names: Vec<String> = unique.into_iter().cloned().collect();
        if names.iter().all(|n| n.parse::<i64>().is_ok()) {
            names.sort_by_key(|n| n.parse::<i64>().unwrap_or_default());
        }
        Self { names }
    }

    /// IOB2 tags of the entity types in `tags`: `O`, and `B-`/`I-` of every type seen (an `I-X`
    /// absent from training may still occur in test data), by type, `B-` before `I-`.
    pub fn from_tags<'a>(tags: impl IntoIterator<Item = &'a String>) -> Self {
        let mut unique: BTreeSet<String> = BTreeSet::from(["O".to_owned()]);
        for t in tags {
            if let Some((_, kind)) = t.split_once('-') {
                unique.extend([format!("B-{kind}"), format!("I-{kind}")]);
            }
        }
        let mut names: Vec<String> = unique.into_iter().collect();
        names.sort_by(|a, b| {
            let key = |t: &str| {
                let (prefix, kind) = t.split_once('-').unwrap_or(("", t));
                (t != "O", kind.to_owned(), prefix.to_owned())
            };
            key(a).cmp(&key(b))
        });
        Self { names }
    }

    pub fn from_names(names: Vec<String>) -> Self {
        Self { names }
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    pub fn index(&self, label: &str) -> Option<usize> {
        self.names.iter().position(|n| n == label)
    }

    /// Class indices for `labels`; a label unknown to the set is an error naming the row.
    pub fn encode(&self, path: &Path, labels: &[String]) -> Result<Vec<u32>> {
        labels
            .iter()
            .enumerate()
            .map(|(row, l)| {
                self.index(l).map(|i| i as u32).ok_or_else(|| {
                    Error::data(
                        path,
                        format!(
                            "row {}: label {l:?} never occurs in the training data (known: {:?})",
                            row + 1,
                            self.names
                        ),
                    )
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn order_is_stable_and_numeric_aware() {
        let set = LabelSet::from_labels(&strings(&["10", "2", "2", "1"]));
        assert_eq!(set.names(), ["1", "2", "10"]);
        let set = LabelSet::from_labels(&strings(&["pos", "neg", "neutral", "neg"]));
        assert_eq!(set.names(), ["neg", "neutral", "pos"]);
    }

    #[test]
    fn tags_come_o_first_then_by_type() {
        let set = LabelSet::from_tags(&strings(&["I-PER", "O", "B-LOC", "B-PER", "O", "B-MISC"]));
        assert_eq!(set.names(), ["O", "B-LOC", "I-LOC", "B-MISC", "I-MISC", "B-PER", "I-PER"]);
        assert_eq!(LabelSet::from_tags(&strings(&["B-X"])).names(), ["O", "B-X", "I-X"], "O is always there");
    }

    #[test]
    fn unknown_label_is_named_with_its_row() {
        let set = LabelSet::from_labels(&strings(&["a", "b"]));
        assert_eq!(set.encode(Path::new("v.csv"), &strings(&["b", "a"])).expect("ok"), [1, 0]);
        let err = set.encode(Path::new("v.csv"), &strings(&["a", "c"])).expect_err("c");
        let m = err.to_string();
        assert!(m.contains("v.csv") && m.contains("row 2") && m.contains("\"c\""), "{m}");
    }
}
