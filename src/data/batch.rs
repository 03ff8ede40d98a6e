//! Batching with dynamic padding: each batch is padded to its own longest sequence.

use candle_core::{Device, Tensor};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::target::Targets;
use super::tokenize::Sequence;
use crate::error::Result;

/// One padded batch, ready for the encoder.
pub struct Batch {
    /// `[B, L]` u32 token ids.
    pub input_ids: Tensor,
    /// `[B, L]` u32 segment ids.
    pub type_ids: Tensor,
    /// `[B, L]` f32: 1 for real tokens, 0 for padding.
    pub attention_mask: Tensor,
    /// The targets: `[B]` u32 classes, `[B, K]` f32 multi-hot label sets, `[B]` f32 values,
    /// or `[B, L]` u32 tags per token.
    pub labels: Tensor,
    /// Tags only: `[B, L]` f32, 1 where a token carries a tag (a word's first sub-token).
    pub label_mask: Option<Tensor>,
}

/// Turns tokenized examples into padded batches on a device.
#[derive(Debug, Clone)]
pub struct Batcher {
    pub pad_id: u32,
    /// Pad every batch to this length instead of its longest sequence (for comparisons).
    pub pad_to: Option<usize>,
    pub device: Device,
}

impl Batcher {
    /// Dynamic padding: each batch is padded to its own longest sequence.
    pub fn new(pad_id: u32, device: &Device) -> Self {
        Self { pad_id, pad_to: None, device: device.clone() }
    }

    /// Pads the sequences at `indices` to the longest of them (or to `pad_to`).
    pub fn make(&self, seqs: &[Sequence], targets: &Targets, indices: &[usize]) -> Result<Batch> {
        let b = indices.len();
        let longest = indices.iter().map(|&i| seqs[i].ids.len()).max().unwrap_or(0);
        let len = longest.max(self.pad_to.unwrap_or(0));
        let mut ids = vec![self.pad_id; b * len];
        let mut types = vec![0u32; b * len];
        let mut mask = vec![0f32; b * len];
        for (row, &i) in indices.iter().enumerate() {
            let s = &seqs[i];
            let start = row * len;
            ids[start..start + s.ids.len()].copy_from_slice(&s.ids);
            types[start..start + s.type_ids.len()].copy_from_slice(&s.type_ids);
            mask[start..start + s.ids.len()].fill(1.0);
        }
        let device = &self.device;
        let mut label_mask = None;
        let labels = match targets {
            Targets::Classes(classes) => {
                Tensor::from_vec(indices.iter().map(|&i| classes[i]).collect::<Vec<u32>>(), b, device)?
            }
            Targets::Sets { classes, sets } => {
                let mut hot = vec![0f32; b * classes];
                for (row, &i) in indices.iter().enumerate() {
                    for &c in &sets[i] {
                        hot[row * classes + c as usize] = 1.0;
                    }
                }
                Tensor::from_vec(hot, (b, *classes), device)?
            }
            Targets::Values(values) => {
                Tensor::from_vec(indices.iter().map(|&i| values[i]).collect::<Vec<f32>>(), b, device)?
            }
            Targets::Tags(tags) => {
                let mut ys = vec![0u32; b * len];
                let mut weights = vec![0f32; b * len];
                for (row, &i) in indices.iter().enumerate() {
                    for (t, tag) in tags[i].tagged_tokens() {
                        ys[row * len + t] = tag;
                        weights[row * len + t] = 1.0;
                    }
                }
                label_mask = Some(Tensor::from_vec(weights, (b, len), device)?);
                Tensor::from_vec(ys, (b, len), device)?
            }
        };
        Ok(Batch {
            input_ids: Tensor::from_vec(ids, (b, len), device)?,
            type_ids: Tensor::from_vec(types, (b, len), device)?,
            attention_mask: Tensor::from_vec(mask, (b, len), device)?,
            labels,
            label_mask,
        })
    }
}

/// The order of training examples in `epoch`: a seeded shuffle, different each epoch.
pub fn epoch_order(n: usize, seed: u64, epoch: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    // One stream per epoch: (seed, epoch) pairs never share an order.
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(epoch as u64);
    order.shuffle(&mut rng);
    order
}

/// Batches per "mega-batch" when grouping by length (as Hugging Face's `LengthGroupedSampler`).
const MEGA_BATCH: usize = 50;

/// A seeded shuffle in which neighbours have similar lengths: the shuffled order is cut into
/// mega-batches of `MEGA_BATCH` batches, each sorted by length (longest first). Batches then
/// carry little padding, and their contents still change every epoch.
pub fn length_grouped_order(lengths: &[usize], batch_size: usize, seed: u64, epoch: usize) -> Vec<usize> {
    let mut order = epoch_order(lengths.len(), seed, epoch);
    for mega in order.chunks_mut(batch_size.max(1) * MEGA_BATCH) {
        mega.sort_by_key(|&i| std::cmp::Reverse(lengths[i]));
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_to_the_longest_sequence_in_the_batch() {
        let seqs = vec![
            Sequence { ids: vec![2, 7, 3], type_ids: vec![0, 0, 0] },
            Sequence { ids: vec![2, 8, 9, 10, 3], type_ids: vec![0, 0, 0, 1, 1] },
            Sequence { ids: vec![2, 3], type_ids: vec![0, 0] },
        ];
        let batcher = Batcher::new(0, &Device::Cpu);
        let classes = Targets::Classes(vec![1, 0, 1]);
        let b = batcher.make(&seqs, &classes, &[2, 0]).expect("batch");
        assert_eq!(b.input_ids.dims(), [2, 3]);
        assert_eq!(b.input_ids.to_vec2::<u32>().expect("ids"), [[2, 3, 0], [2, 7, 3]]);
        assert_eq!(b.attention_mask.to_vec2::<f32>().expect("mask"), [[1., 1., 0.], [1., 1., 1.]]);
        assert_eq!(b.labels.to_vec1::<u32>().expect("labels"), [1, 1]);
        let b = batcher.make(&seqs, &classes, &[1]).expect("batch");
        assert_eq!(b.type_ids.to_vec2::<u32>().expect("types"), [[0, 0, 0, 1, 1]]);
        let fixed = Batcher { pad_to: Some(8), ..batcher };
        assert_eq!(fixed.make(&seqs, &classes, &[2]).expect("batch").input_ids.dims(), [1, 8]);
    }

    #[test]
    fn other_targets_become_multi_hot_values_and_masked_tags() {
        use crate::data::target::WordTags;
        let seqs = vec![
            Sequence { ids: vec![2, 7, 8, 3], type_ids: vec![0; 4] },
            Sequence { ids: vec![2, 9, 3], type_ids: vec![0; 3] },
        ];
        let batcher = Batcher::new(0, &Device::Cpu);
        let sets = Targets::Sets { classes: 3, sets: vec![vec![0, 2], vec![]] };
        let b = batcher.make(&seqs, &sets, &[0, 1]).expect("sets");
        assert_eq!(b.labels.to_vec2::<f32>().expect("hot"), [[1., 0., 1.], [0., 0., 0.]]);
        let values = Targets::Values(vec![1.5, -2.0]);
        assert_eq!(
            batcher.make(&seqs, &values, &[1, 0]).expect("values").labels.to_vec1::<f32>().expect("v"),
            [-2.0, 1.5]
        );
        let tags = Targets::Tags(vec![
            WordTags { gold: vec![4], first_token: vec![Some(1)] },
            WordTags { gold: vec![2], first_token: vec![Some(1)] },
        ]);
        let b = batcher.make(&seqs, &tags, &[1, 0]).expect("tags");
        assert_eq!(b.labels.to_vec2::<u32>().expect("tags"), [[0, 2, 0, 0], [0, 4, 0, 0]]);
        let mask = b.label_mask.expect("mask").to_vec2::<f32>().expect("mask");
        assert_eq!(mask, [[0., 1., 0., 0.], [0., 1., 0., 0.]]);
    }

    #[test]
    fn length_grouping_cuts_padding_and_keeps_a_permutation() {
        let lengths: Vec<usize> = (0..2000).map(|i| 5 + (i * 7919) % 60).collect();
        let padded = |order: &[usize]| -> usize {
            order.chunks(16).map(|c| c.iter().map(|&i| lengths[i]).max().unwrap_or(0) * c.len()).sum()
        };
        let grouped = length_grouped_order(&lengths, 16, 1, 0);
        let plain = epoch_order(2000, 1, 0);
        assert!(padded(&grouped) * 10 < padded(&plain) * 7, "{} vs {}", padded(&grouped), padded(&plain));
        let mut sorted = grouped.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..2000).collect::<Vec<_>>());
        assert_ne!(grouped, length_grouped_order(&lengths, 16, 1, 1));
    }

    #[test]
    fn epoch_order_is_a_seeded_permutation() {
        let a = epoch_order(100, 42, 0);
        assert_eq!(a, epoch_order(100, 42, 0));
        assert_ne!(a, epoch_order(100, 42, 1));
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>());
    }
}
