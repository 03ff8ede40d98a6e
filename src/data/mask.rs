//! The masked-language-modelling collator: which tokens the model must guess, and what it sees
//! in their place. A share `ratio` of the ordinary tokens (never `[CLS]`, `[SEP]`, `[PAD]` or
//! other specials) is selected; of those, by default 80 % become `[MASK]`, 10 % a random
//! ordinary token and 10 % stay as they are (BERT's recipe: the model cannot tell which tokens
//! to distrust). With whole-word masking, the sub-tokens of a word are selected together.

use rand::Rng;

use crate::error::{Error, Result};

/// How selected tokens are replaced; the rest of the share stays unchanged.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MaskSplit {
    pub mask: f64,
    pub random: f64,
}

impl Default for MaskSplit {
    fn default() -> Self {
        Self { mask: 0.8, random: 0.1 }
    }
}

#[derive(Debug, Clone)]
pub struct MaskingPolicy {
    /// Share of ordinary tokens selected, in (0, 0.5].
    pub ratio: f64,
    pub split: MaskSplit,
    pub whole_word: bool,
    pub mask_id: u32,
    pub vocab_size: u32,
    /// Token ids that are never selected nor drawn as random replacements.
    pub special_ids: Vec<u32>,
}

/// One sequence to mask: its tokens and, for whole-word masking, the word of each.
#[derive(Debug, Clone, Copy)]
pub struct MaskInput<'a> {
    pub ids: &'a [u32],
    pub words: Option<&'a [Option<u32>]>,
}

/// One sequence after masking: what the model reads, and what it must recover where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaskedSequence {
    pub ids: Vec<u32>,
    /// Positions (into `ids`) of the selected tokens, ascending.
    pub positions: Vec<usize>,
    /// The original token at each selected position.
    pub targets: Vec<u32>,
}

impl MaskingPolicy {
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        if !(self.ratio > 0.0 && self.ratio <= 0.5) {
            return bad(format!("mask-ratio must be in (0, 0.5], got {}", self.ratio));
        }
        let MaskSplit { mask, random } = self.split;
        if !(mask >= 0.0 && random >= 0.0 && mask + random <= 1.0 + 1e-9) {
            return bad(format!(
                "mask split {mask}/{random} must be non-negative shares summing to at most 1"
            ));
        }
        if self.special_ids.len() >= self.vocab_size as usize {
            return bad("the vocabulary has no ordinary tokens to mask".into());
        }
        Ok(())
    }

    fn is_special(&self, id: u32) -> bool {
        self.special_ids.contains(&id)
    }

    /// A uniformly drawn ordinary token.
    fn random_token(&self, rng: &mut impl Rng) -> u32 {
        loop {
            let id = rng.random_range(0..self.vocab_size);
            if !self.is_special(id) {
                return id;
            }
        }
    }

    /// Masks one sequence. `word_ids` (one per token, `None` for specials) enables whole-word
    /// masking; without it, or with `whole_word` off, tokens are selected one by one.
    pub fn mask(&self, ids: &[u32], word_ids: Option<&[Option<u32>]>, rng: &mut impl Rng) -> MaskedSequence {
        let eligible = |i: usize| !self.is_special(ids[i]);
        let mut selected = vec![false; ids.len()];
        match word_ids.filter(|_| self.whole_word) {
            Some(words) => {
                // One draw per word; every sub-token of a drawn word goes with it.
                let mut current: Option<(u32, bool)> = None;
                for i in (0..ids.len()).filter(|&i| eligible(i)) {
                    let Some(word) = words.get(i).copied().flatten() else {
                        selected[i] = rng.random_bool(self.ratio);
                        continue;
                    };
                    let take = match current {
                        Some((w, take)) if w == word => take,
                        _ => rng.random_bool(self.ratio),
                    };
                    current = Some((word, take));
                    selected[i] = take;
                }
            }
            None => {
                for i in (0..ids.len()).filter(|&i| eligible(i)) {
                    selected[i] = rng.random_bool(self.ratio);
                }
            }
        }
        self.replace(ids, &selected, rng)
    }

    fn replace(&self, ids: &[u32], selected: &[bool], rng: &mut impl Rng) -> MaskedSequence {
        let mut out = MaskedSequence { ids: ids.to_vec(), positions: Vec::new(), targets: Vec::new() };
        for (i, _) in selected.iter().enumerate().filter(|(_, s)| **s) {
            out.positions.push(i);
            out.targets.push(ids[i]);
            let u: f64 = rng.random();
            if u < self.split.mask {
                out.ids[i] = self.mask_id;
            } else if u < self.split.mask + self.split.random {
                out.ids[i] = self.random_token(rng);
            }
        }
        out
    }

    /// Masks a batch; if nothing at all was selected (possible for short sequences), one
    /// ordinary token is, so that every batch has something to learn from.
    pub fn mask_batch(&self, batch: &[MaskInput<'_>], rng: &mut impl Rng) -> Vec<MaskedSequence> {
        let mut out: Vec<MaskedSequence> = batch.iter().map(|m| self.mask(m.ids, m.words, rng)).collect();
        if out.iter().all(|m| m.positions.is_empty()) {
            let candidates: Vec<(usize, usize)> = batch
                .iter()
                .enumerate()
                .flat_map(|(s, m)| {
                    m.ids
                        .iter()
                        .enumerate()
                        .filter(|(_, id)| !self.is_special(**id))
                        .map(move |(i, _)| (s, i))
                })
                .collect();
            if !candidates.is_empty() {
                let (s, i) = candidates[rng.random_range(0..candidates.len())];
                let mut selected = vec![false; batch[s].ids.len()];
                selected[i] = true;
                out[s] = self.replace(batch[s].ids, &selected, rng);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    const CLS: u32 = 2;
    const SEP: u32 = 3;
    const MASK: u32 = 4;

    fn policy(ratio: f64, whole_word: bool) -> MaskingPolicy {
        MaskingPolicy {
            ratio,
            split: MaskSplit::default(),
            whole_word,
            mask_id: MASK,
            vocab_size: 1000,
            special_ids: vec![0, 1, CLS, SEP, MASK],
        }
    }

    /// `[CLS] t t … [SEP]` with ordinary tokens 10..990.
    fn sequence(rng: &mut ChaCha8Rng, len: usize) -> Vec<u32> {
        let mut ids = vec![CLS];
        ids.extend((0..len).map(|_| rng.random_range(10..990)));
        ids.push(SEP);
        ids
    }

    #[test]
    fn selection_rate_and_replacement_split_match_the_policy() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for ratio in [0.15, 0.4] {
            let p = policy(ratio, false);
            let (mut tokens, mut selected, mut masked, mut random, mut kept) = (0, 0, 0, 0, 0);
            while tokens < 100_000 {
                let ids = sequence(&mut rng, 62);
                let m = p.mask(&ids, None, &mut rng);
                tokens += 62;
                selected += m.positions.len();
                assert!(!m.positions.contains(&0) && !m.positions.contains(&(ids.len() - 1)), "specials");
                for (&pos, &target) in m.positions.iter().zip(&m.targets) {
                    assert_eq!(target, ids[pos]);
                    match m.ids[pos] {
                        MASK => masked += 1,
                        id if id == target => kept += 1,
                        id => {
                            assert!(!p.special_ids.contains(&id), "random replacements are ordinary tokens");
                            random += 1;
                        }
                    }
                }
                // Unselected tokens are untouched.
                for i in (0..ids.len()).filter(|i| !m.positions.contains(i)) {
                    assert_eq!(m.ids[i], ids[i]);
                }
            }
            let rate = selected as f64 / tokens as f64;
            assert!((rate - ratio).abs() < 0.01, "ratio {ratio}: selected {rate}");
            let share = |n: usize| n as f64 / selected as f64;
            // A random draw can hit the original token (1 in ~980): counted as kept.
            assert!((share(masked) - 0.8).abs() < 0.02, "mask {}", share(masked));
            assert!((share(random) - 0.1).abs() < 0.02, "random {}", share(random));
            assert!((share(kept) - 0.1).abs() < 0.02, "kept {}", share(kept));
        }
    }

    #[test]
    fn whole_words_are_masked_together_and_the_rate_holds() {
        let p = policy(0.15, true);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let (mut tokens, mut selected) = (0usize, 0usize);
        while tokens < 100_000 {
            // Words of 1 to 3 sub-tokens.
            let mut ids = vec![CLS];
            let mut words = vec![None];
            for w in 0..30u32 {
                for _ in 0..rng.random_range(1..=3) {
                    ids.push(rng.random_range(10..990));
                    words.push(Some(w));
                }
            }
            ids.push(SEP);
            words.push(None);
            let m = p.mask(&ids, Some(&words), &mut rng);
            tokens += ids.len() - 2;
            selected += m.positions.len();
            for w in 0..30u32 {
                let members: Vec<usize> = (0..ids.len()).filter(|&i| words[i] == Some(w)).collect();
                let chosen = members.iter().filter(|i| m.positions.contains(i)).count();
                assert!(chosen == 0 || chosen == members.len(), "word {w} split: {chosen}/{}", members.len());
            }
        }
        let rate = selected as f64 / tokens as f64;
        assert!((rate - 0.15).abs() < 0.01, "{rate}");
    }

    #[test]
    fn masking_is_seeded_and_a_batch_never_comes_out_empty() {
        let p = policy(0.15, false);
        let ids = [CLS, 11, 12, 13, SEP];
        let a = p.mask(&ids, None, &mut ChaCha8Rng::seed_from_u64(1));
        let b = p.mask(&ids, None, &mut ChaCha8Rng::seed_from_u64(1));
        assert_eq!(a, b);
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        for _ in 0..200 {
            let batch =
                [MaskInput { ids: &ids, words: None }, MaskInput { ids: &[CLS, 20, SEP], words: None }];
            let out = p.mask_batch(&batch, &mut rng);
            assert!(out.iter().map(|m| m.positions.len()).sum::<usize>() >= 1);
        }
        assert!(policy(0.6, false).validate().is_err());
        assert!(policy(0.0, false).validate().is_err());
        assert!(policy(0.15, false).validate().is_ok());
    }
}
