//! What the model learns to output for each example, by task head: a class, a set of classes,
//! a number, or a tag per word. Labels are read from their text form here, once per split, with
//! errors that name the file and row.

use std::path::Path;

use super::LabelSet;
use super::load::Examples;
use super::tokenize::{Sequence, TextEncoder};
use crate::config::HeadKind;
use crate::error::{Error, Result};

/// The targets of a split, in example order.
#[derive(Debug, Clone, PartialEq)]
pub enum Targets {
    /// Single-label classification: a class index per example.
    Classes(Vec<u32>),
    /// Multi-label: the class indices of each example (possibly none), out of `classes`.
    Sets { classes: usize, sets: Vec<Vec<u32>> },
    /// Regression: a value per example.
    Values(Vec<f32>),
    /// Token classification: the tags of each example's words.
    Tags(Vec<WordTags>),
}

/// One sentence's tags, and where its words sit among the tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WordTags {
    /// The tag index of each word.
    pub gold: Vec<u32>,
    /// The token that carries each word's tag: its first sub-token (`None` when truncation cut
    /// the word off, or it made no token).
    pub first_token: Vec<Option<usize>>,
}

impl WordTags {
    /// (token, tag index) for each token trained towards a tag: only first sub-tokens have one.
    pub fn tagged_tokens(&self) -> impl Iterator<Item = (usize, u32)> + '_ {
        self.first_token.iter().zip(&self.gold).filter_map(|(t, &tag)| Some(((*t)?, tag)))
    }
}

/// The labels of a multi-label example: a JSON list (`["a", "b"]`), or names separated by
/// `separator` (`a|b`). Blank names are dropped, repeats kept once; an empty text is no label.
pub fn parse_label_set(raw: &str, separator: &str) -> std::result::Result<Vec<String>, String> {
    let raw = raw.trim();
    let mut names: Vec<String> = if raw.starts_with('[') {
        let items: Vec<serde_json::Value> =
            serde_json::from_str(raw).map_err(|e| format!("{raw:?} is not a JSON list: {e}"))?;
        items
            .into_iter()
            .map(|v| match v {
                serde_json::Value::String(s) => Ok(s),
                serde_json::Value::Number(n) => Ok(n.to_string()),
                other => Err(format!("list item {other} is not a label name")),
            })
            .collect::<std::result::Result<_, _>>()?
    } else {
        raw.split(separator).map(str::to_owned).collect()
    };
    names = names.into_iter().map(|n| n.trim().to_owned()).filter(|n| !n.is_empty()).collect();
    let mut seen = std::collections::HashSet::new();
    names.retain(|n| seen.insert(n.clone()));
    Ok(names)
}

/// A regression target: a finite number.
pub fn parse_value(raw: &str) -> Option<f64> {
    raw.trim().parse::<f64>().ok().filter(|v| v.is_finite())
}

/// The label set a head learns, from the training examples.
pub fn label_set(head: HeadKind, train: &Examples, separator: &str) -> Result<LabelSet> {
    let bad = |row: usize, why: String| Error::data(&train.path, format!("row {}: {why}", row + 1));
    Ok(match head {
        HeadKind::SeqCls => LabelSet::from_labels(&train.labels),
        HeadKind::MultiLabel => {
            let mut all = Vec::new();
            for (row, raw) in train.labels.iter().enumerate() {
                all.extend(parse_label_set(raw, separator).map_err(|why| bad(row, why))?);
            }
            LabelSet::from_labels(&all)
        }
        HeadKind::TokenCls => {
            let tags: Vec<String> =
                train.labels.iter().flat_map(|l| l.split_whitespace().map(str::to_owned)).collect();
            LabelSet::from_tags(&tags)
        }
        HeadKind::Regression => {
            let mut values = Vec::with_capacity(train.len());
            for (row, raw) in train.labels.iter().enumerate() {
                values.push(
                    parse_value(raw)
                        .ok_or_else(|| bad(row, format!("the target {raw:?} is not a number")))?,
                );
            }
            if values.windows(2).all(|w| w[0] == w[1]) {
                let v = values.first().copied().unwrap_or_default();
                return Err(Error::data(
                    &train.path,
                    format!("every target is {v}: a regression needs values that vary"),
                ));
            }
            LabelSet::from_names(vec!["value".to_owned()])
        }
    })
}

/// How a split is turned into model inputs and targets.
pub struct Encoding<'a> {
    pub tokenizer: &'a TextEncoder,
    pub labels: &'a LabelSet,
    pub head: HeadKind,
    pub separator: &'a str,
    pub max_len: usize,
}

/// A split tokenized once, with its targets.
pub struct Encoded {
    pub examples: Examples,
    pub seqs: Vec<Sequence>,
    pub targets: Targets,
}

impl Encoded {
    pub fn new(examples: Examples, how: &Encoding) -> Result<Self> {
        let Encoding { tokenizer, labels, head, separator, max_len } = *how;
        let path = examples.path.clone();
        let (seqs, targets) = if head == HeadKind::TokenCls && !examples.words.is_empty() {
            let encoded = tokenizer.encode_words(&examples.words, max_len)?;
            let mut seqs = Vec::with_capacity(encoded.len());
            let mut tags = Vec::with_capacity(encoded.len());
            for (row, ((seq, word_ids), raw)) in encoded.into_iter().zip(&examples.labels).enumerate() {
                let gold = encode_tags(&path, row, raw, labels)?;
                let mut first_token = vec![None; gold.len()];
                for (t, w) in word_ids.iter().enumerate() {
                    if let Some(slot) = w.and_then(|w| first_token.get_mut(w as usize)) {
                        slot.get_or_insert(t);
                    }
                }
                seqs.push(seq);
                tags.push(WordTags { gold, first_token });
            }
            (seqs, Targets::Tags(tags))
        } else {
            let seqs = if examples.pairs.is_empty() {
                tokenizer.encode_texts(&examples.texts, max_len)?
            } else {
                tokenizer.encode_pairs(&examples.texts, &examples.pairs, max_len)?
            };
            (seqs, sequence_targets(&examples, head, labels, separator)?)
        };
        Ok(Self { examples, seqs, targets })
    }

    pub fn len(&self) -> usize {
        self.seqs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seqs.is_empty()
    }
}

fn sequence_targets(
    examples: &Examples,
    head: HeadKind,
    labels: &LabelSet,
    separator: &str,
) -> Result<Targets> {
    let path = &examples.path;
    let bad = |row: usize, why: String| Error::data(path, format!("row {}: {why}", row + 1));
    Ok(match head {
        HeadKind::SeqCls => Targets::Classes(labels.encode(path, &examples.labels)?),
        HeadKind::TokenCls => {
            return Err(Error::data(
                path,
                "token classification needs word-tagged sentences (.iob2, .conll or .jsonl with tokens and tags)",
            ));
        }
        HeadKind::MultiLabel => {
            let mut sets = Vec::with_capacity(examples.len());
            for (row, raw) in examples.labels.iter().enumerate() {
                let names = parse_label_set(raw, separator).map_err(|why| bad(row, why))?;
                let set = names
                    .iter()
                    .map(|n| {
                        labels.index(n).map(|i| i as u32).ok_or_else(|| {
                            bad(
                                row,
                                format!(
                                    "label {n:?} never occurs in the training data (known: {:?})",
                                    labels.names()
                                ),
                            )
                        })
                    })
                    .collect::<Result<Vec<u32>>>()?;
                // In label order, as predictions are: sets compare as written.
                let mut set = set;
                set.sort_unstable();
                sets.push(set);
            }
            Targets::Sets { classes: labels.len(), sets }
        }
        HeadKind::Regression => Targets::Values(
            examples
                .labels
                .iter()
                .enumerate()
                .map(|(row, raw)| {
                    parse_value(raw)
                        .map(|v| v as f32)
                        .ok_or_else(|| bad(row, format!("the target {raw:?} is not a number")))
                })
                .collect::<Result<_>>()?,
        ),
    })
}

fn encode_tags(path: &Path, row: usize, raw: &str, labels: &LabelSet) -> Result<Vec<u32>> {
    raw.split_whitespace()
        .enumerate()
        .map(|(w, tag)| {
            labels.index(tag).map(|i| i as u32).ok_or_else(|| {
                Error::data(
                    path,
                    format!(
                        "sentence {}, word {}: tag {tag:?} never occurs in the training data (known: {:?})",
                        row + 1,
                        w + 1,
                        labels.names()
                    ),
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_sets_read_lists_and_separators() {
        assert_eq!(parse_label_set("a| b |a||", "|").expect("ok"), ["a", "b"]);
        assert_eq!(parse_label_set("[\"x\", 3]", "|").expect("ok"), ["x", "3"]);
        assert!(parse_label_set("  ", "|").expect("ok").is_empty());
        assert_eq!(parse_label_set("a,b", ",").expect("ok"), ["a", "b"]);
        assert!(parse_label_set("[\"x\"", "|").expect_err("bad json").contains("not a JSON list"));
        assert_eq!(parse_value(" 1987 "), Some(1987.0));
        assert_eq!(parse_value("NaN"), None);
    }

    #[test]
    fn unknown_labels_and_bad_numbers_name_their_row() {
        let train = Examples {
            path: "t.csv".into(),
            texts: vec!["a".into(), "b".into()],
            labels: vec!["x|y".into(), String::new()],
            ..Examples::default()
        };
        let set = label_set(HeadKind::MultiLabel, &train, "|").expect("set");
        assert_eq!(set.names(), ["x", "y"]);
        let valid =
            Examples { labels: vec!["y".into(), "x|z".into()], path: "v.csv".into(), ..train.clone() };
        let err = sequence_targets(&valid, HeadKind::MultiLabel, &set, "|").expect_err("z").to_string();
        assert!(err.contains("v.csv") && err.contains("row 2") && err.contains("\"z\""), "{err}");
        let numbers = Examples { labels: vec!["1.5".into(), "high".into()], ..train };
        let err = label_set(HeadKind::Regression, &numbers, "|").expect_err("high").to_string();
        assert!(err.contains("row 2") && err.contains("\"high\" is not a number"), "{err}");
    }

    #[test]
    fn word_tags_mark_first_sub_tokens_only() {
        let tags = WordTags { gold: vec![3, 1, 2], first_token: vec![Some(1), Some(2), None] };
        assert_eq!(tags.tagged_tokens().collect::<Vec<_>>(), [(1, 3), (2, 1)]);
    }
}
