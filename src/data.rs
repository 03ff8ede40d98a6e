//! Datasets: reading files (polars), label sets, stratified splits, tokenization and batching.

pub mod batch;
pub mod labels;
pub mod load;
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
    /// Reads the files of `cfg`. With a training file alone, validation and test splits are
    /// carved out of it (stratified, seeded); with any other file given, files are used as is.
    pub fn load(cfg: &DataConfig, seed: u64) -> Result<Self> {
        let read =
            |p: &std::path::Path| load_examples(p, cfg.text_column.as_deref(), cfg.label_column.as_deref());
        let all = read(&cfg.train)?;
        let (mut train, valid, test) = if cfg.valid.is_none() && cfg.test.is_none() {
            let s = split::stratified_split(&all.labels, cfg.valid_ratio, cfg.test_ratio, seed);
            let part = |rows: &[usize]| (!rows.is_empty()).then(|| all.select(rows));
            (all.select(&s.train), part(&s.valid), part(&s.test))
        } else {
            let valid = cfg.valid.as_deref().map(read).transpose()?;
            let test = cfg.test.as_deref().map(read).transpose()?;
            (all, valid, test)
        };
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
