//! The shipped datasets: `datasets/<name>/` folders with a `train.*` file (and maybe `valid.*`,
//! `test.*`) and a `CARD.md` that says what they are. The card's table may name the head with a
//! `| head | … |` row (`multi-label`, `token-cls`, `regression`; single-label classification
//! otherwise); the first paragraph after the title is the description.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::config::{DataConfig, HeadKind};
use crate::data::stats::{Lengths, label_counts};
use crate::data::tokenize::TextEncoder;
use crate::data::{Examples, read_split};
use crate::error::{Error, Result};

/// File types a shipped split may have, in the order they are looked for.
const EXTENSIONS: &[&str] = &["csv", "tsv", "jsonl", "parquet", "iob2", "conll", "bio"];

#[derive(Debug, Clone, PartialEq)]
pub struct Shipped {
    pub name: String,
    pub train: PathBuf,
    pub valid: Option<PathBuf>,
    pub test: Option<PathBuf>,
    pub head: HeadKind,
    /// The card's first paragraph.
    pub summary: Option<String>,
}

impl Shipped {
    /// The data settings that read this dataset.
    pub fn data_config(&self) -> DataConfig {
        DataConfig {
            train: self.train.clone(),
            valid: self.valid.clone(),
            test: self.test.clone(),
            ..DataConfig::default()
        }
    }
}

/// Every dataset folder under `root` with a training file, by name.
pub fn shipped(root: &Path) -> Vec<Shipped> {
    let Ok(entries) = std::fs::read_dir(root) else { return Vec::new() };
    let find = |dir: &Path, stem: &str| {
        EXTENSIONS.iter().map(|ext| dir.join(format!("{stem}.{ext}"))).find(|p| p.is_file())
    };
    let mut found: Vec<Shipped> = entries
        .filter_map(std::result::Result::ok)
        .map(|e| e.path())
        .filter_map(|dir| {
            let card = std::fs::read_to_string(dir.join("CARD.md")).unwrap_or_default();
            Some(Shipped {
                name: dir.file_name()?.to_string_lossy().into_owned(),
                train: find(&dir, "train")?,
                valid: find(&dir, "valid"),
                test: find(&dir, "test"),
                head: card_head(&card),
                summary: card_summary(&card),
            })
        })
        .collect();
    found.sort_by(|a, b| a.name.cmp(&b.name));
    found
}

/// The head named in a card's `| head | … |` row.
fn card_head(card: &str) -> HeadKind {
    card.lines()
        .find_map(|l| {
            let row = l.trim().strip_prefix('|')?.trim_start().strip_prefix("head")?;
            HeadKind::ALL.into_iter().find(|h| row.contains(h.as_str()))
        })
        .unwrap_or_default()
}

/// The first paragraph of a card, without the title.
pub fn card_summary(card: &str) -> Option<String> {
    let para: Vec<&str> = card
        .lines()
        .skip_while(|l| l.starts_with('#') || l.trim().is_empty())
        .take_while(|l| !l.trim().is_empty())
        .collect();
    (!para.is_empty()).then(|| para.join(" "))
}

/// Figures of one split of a dataset.
#[derive(Debug, Clone, Serialize)]
pub struct SplitStats {
    pub split: String,
    pub file: PathBuf,
    pub examples: usize,
    /// Label (class, label of a set, entity type, or value range) and count.
    pub labels: Vec<(String, usize)>,
    pub words: Option<Lengths>,
    /// Tokens per example, with `[CLS]` and `[SEP]`, by the given tokenizer.
    pub tokens: Option<Lengths>,
}

/// Reads every split of `dataset` and measures it; tokens are counted with `tokenizer`.
pub fn split_stats(dataset: &Shipped, tokenizer: Option<&TextEncoder>) -> Result<Vec<SplitStats>> {
    let cfg = dataset.data_config();
    let files =
        [("train", Some(&dataset.train)), ("valid", dataset.valid.as_ref()), ("test", dataset.test.as_ref())];
    let mut out = Vec::new();
    for (split, file) in files {
        let Some(file) = file else { continue };
        let examples = read_split(file, &cfg, dataset.head)?;
        out.push(SplitStats {
            split: split.to_owned(),
            file: file.clone(),
            examples: examples.len(),
            labels: label_counts(dataset.head, &examples, &cfg.label_separator),
            words: Lengths::of(
                &examples.texts.iter().map(|t| t.split_whitespace().count()).collect::<Vec<_>>(),
            ),
            tokens: tokenizer.map(|t| token_lengths(t, &examples)).transpose()?.flatten(),
        });
    }
    Ok(out)
}

fn token_lengths(tokenizer: &TextEncoder, examples: &Examples) -> Result<Option<Lengths>> {
    // No truncation: the point is to see how long examples really are.
    let unlimited = usize::MAX / 2;
    let seqs = if examples.words.is_empty() {
        tokenizer.encode_texts(&examples.texts, unlimited)?
    } else {
        tokenizer.encode_words(&examples.words, unlimited)?.into_iter().map(|(s, _)| s).collect()
    };
    Ok(Lengths::of(&seqs.iter().map(|s| s.ids.len()).collect::<Vec<_>>()))
}

/// The shipped dataset called `name`, or an error listing those there are.
pub fn find(root: &Path, name: &str) -> Result<Shipped> {
    let all = shipped(root);
    all.iter().find(|d| d.name == name).cloned().ok_or_else(|| {
        let names: Vec<&str> = all.iter().map(|d| d.name.as_str()).collect();
        Error::Config(format!("no dataset {name:?} in {}; there are: {}", root.display(), names.join(", ")))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cards_name_the_head_and_the_summary() {
        let card =
            "# x\n\nFirst line\nsecond line.\n\n| | |\n|---|---|\n| task | tags |\n| head | `token-cls` |\n";
        assert_eq!(card_head(card), HeadKind::TokenCls);
        assert_eq!(card_summary(card).as_deref(), Some("First line second line."));
        assert_eq!(card_head("| task | regression |"), HeadKind::SeqCls, "only the head row counts");
    }

    #[test]
    fn finds_datasets_and_measures_them() {
        let root = tempfile::tempdir().expect("tmp");
        let dir = root.path().join("tags");
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join("CARD.md"), "# tags\n\nTagged.\n\n| head | token-cls |\n").expect("card");
        std::fs::write(dir.join("train.iob2"), "Ada\tB-PER\nsings\tO\n\nBo\tB-PER\nand\tO\nCy\tB-PER\n")
            .expect("train");
        std::fs::create_dir_all(root.path().join("empty")).expect("not a dataset");
        let all = shipped(root.path());
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].head, HeadKind::TokenCls);
        let stats = split_stats(&all[0], None).expect("stats");
        assert_eq!(stats[0].examples, 2);
        assert_eq!(stats[0].labels, [("PER".to_owned(), 3)]);
        assert_eq!(stats[0].words.expect("words").max, 3);
        let err = find(root.path(), "nope").expect_err("unknown").to_string();
        assert!(err.contains("\"nope\"") && err.contains("tags"), "{err}");
    }
}
