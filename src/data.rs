//! Datasets: reading files (polars), label sets, stratified splits, tokenization and batching.

pub mod batch;
pub mod corpus;
pub mod labels;
pub mod load;
pub mod mask;
pub mod split;
pub mod tokenize;

pub use labels::LabelSet;
pub use load::{Examples, load_examples};

use crate::config::DataConfig;
use crate::error::{Error, Result};

/// The three splits of a run and the label set taken from training.
#[derive(Debug, Clone)]
pub struct Splits {
    pub train: Examples,
    pub valid: Option<Examples>,
    pub test: Option<Examples>,
    pub labels: LabelSet,
}

impl Splits {
    /// Reads the files of `cfg`. A missing validation file is replaced by a stratified, seeded
    /// share of the training file (`valid-ratio`, 0 = none); a test split is carved out the same
    /// way only when the training file is the only file.
    pub fn load(cfg: &DataConfig, seed: u64) -> Result<Self> {
        let read =
            |p: &std::path::Path| load_examples(p, cfg.text_column.as_deref(), cfg.label_column.as_deref());
        let all = read(&cfg.train)?;
        let valid_file = cfg.valid.as_deref().map(read).transpose()?;
        let test_file = cfg.test.as_deref().map(read).transpose()?;
        let valid_ratio = if valid_file.is_some() { 0.0 } else { cfg.valid_ratio };
        let test_ratio = if valid_file.is_some() || test_file.is_some() { 0.0 } else { cfg.test_ratio };
        let s = split::stratified_split(&all.labels, valid_ratio, test_ratio, seed);
        let part = |rows: &[usize]| (!rows.is_empty()).then(|| all.select(rows));
        let (mut train, valid, test) = (
            all.select(&s.train),
            valid_file.or_else(|| part(&s.valid)),
            test_file.or_else(|| part(&s.test)),
        );
        if let Some(n) = cfg.max_train {
            train.texts.truncate(n);
            train.labels.truncate(n);
        }
        let labels = LabelSet::from_labels(&train.labels);
        if labels.len() < 2 {
            return Err(Error::data(
                &cfg.train,
                format!(
                    "training data has a single label {:?}: classification needs two or more",
                    labels.names()
                ),
            ));
        }
        for split in [&valid, &test].into_iter().flatten() {
            labels.encode(&split.path, &split.labels)?;
        }
        Ok(Self { train, valid, test, labels })
    }
}
