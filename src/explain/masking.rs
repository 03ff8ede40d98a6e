//! The masking inspector: the first batch of a masked-LM run or stage, token by token, with
//! what became of each selected token, and the counts against the configured ratio and split.

use crate::config::RunConfig;
use crate::data::mask::MaskSplit;
use crate::error::Result;
use crate::train::pretrain::{FirstBatch, first_masked_batch};

/// What the model reads in place of one token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fate {
    /// Not selected: read as it is, nothing to guess.
    Unselected,
    /// `[CLS]`, `[SEP]` and other specials: never selected.
    Special,
    /// Selected and shown as `[MASK]`.
    Masked,
    /// Selected and replaced by this random token.
    Random(String),
    /// Selected but shown unchanged (the model must still guess it).
    Kept,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InspectedToken {
    /// The original token.
    pub token: String,
    pub fate: Fate,
}

/// Counts of one batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    /// Ordinary tokens (the ones that may be selected).
    pub eligible: usize,
    pub masked: usize,
    pub random: usize,
    pub kept: usize,
}

impl Counts {
    pub fn selected(&self) -> usize {
        self.masked + self.random + self.kept
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct MaskingSample {
    pub sequences: Vec<Vec<InspectedToken>>,
    pub counts: Counts,
    pub ratio: f64,
    pub split: MaskSplit,
    pub whole_word: bool,
}

/// The first batch `cfg`'s masked-LM training sees, as it sees it.
pub fn inspect_masking(cfg: &RunConfig) -> Result<MaskingSample> {
    Ok(sample(&first_masked_batch(cfg)?))
}

fn sample(batch: &FirstBatch) -> MaskingSample {
    let specials = batch.tokenizer.special_ids();
    let name = |id: u32| batch.tokenizer.id_to_token(id).unwrap_or_else(|| format!("#{id}"));
    let mut counts = Counts::default();
    let sequences = batch
        .examples
        .iter()
        .zip(&batch.masked)
        .map(|(example, masked)| {
            example
                .ids
                .iter()
                .enumerate()
                .map(|(i, &id)| {
                    let fate = if specials.contains(&id) {
                        Fate::Special
                    } else if masked.positions.binary_search(&i).is_err() {
                        counts.eligible += 1;
                        Fate::Unselected
                    } else {
                        counts.eligible += 1;
                        let shown = masked.ids[i];
                        if shown == batch.policy.mask_id {
                            counts.masked += 1;
                            Fate::Masked
                        } else if shown == id {
                            counts.kept += 1;
                            Fate::Kept
                        } else {
                            counts.random += 1;
                            Fate::Random(name(shown))
                        }
                    };
                    InspectedToken { token: name(id), fate }
                })
                .collect()
        })
        .collect();
    MaskingSample {
        sequences,
        counts,
        ratio: batch.policy.ratio,
        split: batch.policy.split,
        whole_word: batch.policy.whole_word,
    }
}
