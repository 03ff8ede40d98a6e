//! Datasets: reading files (polars, `CoNLL`), label sets, stratified splits, tokenization,
//! targets and batching.

pub mod batch;
pub mod conll;
pub mod corpus;
pub mod hub;
pub mod labels;
pub mod load;
pub mod mask;
pub mod split;
pub mod stats;
pub mod target;
pub mod tokenize;

use std::path::Path;

pub use labels::LabelSet;
pub use load::{Columns, Examples, load_examples};
pub use target::{Encoded, Encoding, Targets};

use crate::config::{DataConfig, HeadKind};
use crate::error::{Error, Result};

/// The three splits of a run and the label set taken from training.
#[derive(Debug, Clone)]
pub struct Splits {
    pub train: Examples,
    pub valid: Option<Examples>,
    pub test: Option<Examples>,
    pub labels: LabelSet,
}

/// Reads one data file as the head needs it: word-tagged sentences for token classification,
/// otherwise a table with text (and pair) and label columns.
pub fn read_split(path: &Path, cfg: &DataConfig, head: HeadKind) -> Result<Examples> {
    if head == HeadKind::TokenCls {
        return conll::read_tagged(
            path,
            (cfg.token_column, cfg.tag_column),
            (cfg.text_column.as_deref(), cfg.label_column.as_deref()),
        );
    }
    if conll::is_column_file(path) {
        return Err(Error::data(path, "is a word-tagged (CoNLL/IOB2) file: use it with --head token-cls"));
    }
    let columns = Columns {
        text: cfg.text_column.as_deref(),
        label: cfg.label_column.as_deref(),
        pair: cfg.text_pair_column.as_deref(),
        label_sets: head == HeadKind::MultiLabel,
    };
    load_examples(path, &columns)
}

impl Splits {
    /// Reads the files of `cfg`. A missing validation file is replaced by a seeded share of the
    /// training file (`valid-ratio`, 0 = none; stratified by class for single-label
    /// classification); a test split is carved out the same way only when the training file is
    /// the only file.
    pub fn load(cfg: &DataConfig, head: HeadKind, seed: u64) -> Result<Self> {
        let read = |p: &Path| read_split(p, cfg, head);
        let all = read(&cfg.train)?;
        let valid_file = cfg.valid.as_deref().map(read).transpose()?;
        let test_file = cfg.test.as_deref().map(read).transpose()?;
        let valid_ratio = if valid_file.is_some() { 0.0 } else { cfg.valid_ratio };
        let test_ratio = if valid_file.is_some() || test_file.is_some() { 0.0 } else { cfg.test_ratio };
        // Only single labels make strata; other targets are split at random.
        let strata: Vec<String> =
            if head == HeadKind::SeqCls { all.labels.clone() } else { vec![String::new(); all.len()] };
        let s = split::stratified_split(&strata, valid_ratio, test_ratio, seed);
        let part = |rows: &[usize]| (!rows.is_empty()).then(|| all.select(rows));
        let (mut train, valid, test) = (
            all.select(&s.train),
            valid_file.or_else(|| part(&s.valid)),
            test_file.or_else(|| part(&s.test)),
        );
        if let Some(share) = cfg.train_share {
            let strata: Vec<String> = if head == HeadKind::SeqCls {
                train.labels.clone()
            } else {
                vec![String::new(); train.len()]
            };
            train = train.select(&split::nested_share(&strata, share, seed));
        }
        if let Some(n) = cfg.max_train {
            train.truncate(n);
        }
        let labels = target::label_set(head, &train, &cfg.label_separator)?;
        let needed = if head == HeadKind::Regression { 1 } else { 2 };
        if labels.len() < needed {
            return Err(Error::data(
                &cfg.train,
                format!(
                    "training data has a single label {:?}: a {} head needs two or more",
                    labels.names(),
                    head.as_str()
                ),
            ));
        }
        Ok(Self { train, valid, test, labels })
    }
}
