//! Dropout with a seeded generator. candle's CPU random numbers cannot be seeded, so the masks
//! are drawn here: the same seed gives the same masks, and so the same loss curve.

use candle_core::Tensor;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::error::Result;

/// Mask elements drawn by one task.
const MASK_CHUNK: usize = 16 * 1024;

/// Training mode carries a generator; evaluation mode (`Dropout::off()`) leaves inputs alone.
pub struct Dropout {
    rng: Option<ChaCha8Rng>,
}

impl Dropout {
    pub fn off() -> Self {
        Self { rng: None }
    }

    pub fn seeded(seed: u64) -> Self {
        Self { rng: Some(ChaCha8Rng::seed_from_u64(seed)) }
    }

    /// The seed of the next dropout mask with drop probability `p`; `None` when nothing is
    /// dropped (evaluation mode, or `p` = 0).
    pub fn draw(&mut self, p: f64) -> Option<MaskSeed> {
        let rng = self.rng.as_mut().filter(|_| p > 0.0)?;
        Some(MaskSeed { seed: rng.random(), keep: 1.0 - p as f32 })
    }

    /// Zeroes each element with probability `p` and scales the rest by `1 / (1 - p)`.
    pub fn apply(&mut self, x: &Tensor, p: f64) -> Result<Tensor> {
        match self.draw(p) {
            Some(seed) => Ok(seed.apply(x)?),
            None => Ok(x.clone()),
        }
    }
}

/// What a dropout mask is drawn from: a seed, and the probability of keeping an element.
#[derive(Debug, Clone, Copy)]
pub struct MaskSeed {
    seed: u64,
    keep: f32,
}

impl MaskSeed {
    /// `x` times this seed's mask, element by element.
    pub fn apply(self, x: &Tensor) -> candle_core::Result<Tensor> {
        let mut mask = vec![0f32; x.elem_count()];
        self.fill_chunks(&mut mask);
        x.mul(&Tensor::from_vec(mask, x.shape(), x.device())?.to_dtype(x.dtype())?)
    }

    /// Multiplies `values` by this seed's mask in place (what `apply` does to a tensor).
    pub fn apply_in_place(self, values: &mut [f32]) {
        values.par_chunks_mut(MASK_CHUNK).enumerate().for_each(|(i, chunk)| {
            let mut mask = vec![0f32; chunk.len()];
            self.fill(i as u64, &mut mask);
            chunk.iter_mut().zip(&mask).for_each(|(v, m)| *v *= m);
        });
    }

    /// A whole mask: chunks draw from their own stream of the seed, so masks are drawn in
    /// parallel and still depend only on the seed, not on the number of threads.
    fn fill_chunks(self, mask: &mut [f32]) {
        mask.par_chunks_mut(MASK_CHUNK).enumerate().for_each(|(i, chunk)| self.fill(i as u64, chunk));
    }

    /// Fills `mask` from `ChaCha8` stream `stream` of the seed: `1 / keep` for a kept element, 0
    /// for a dropped one. The same stream always gives the same mask, so a fused op can draw
    /// its mask again in the backward pass instead of keeping it.
    pub fn fill(self, stream: u64, mask: &mut [f32]) {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        rng.set_stream(stream);
        let scale = 1.0 / self.keep;
        for m in mask {
            *m = if rng.random::<f32>() < self.keep { scale } else { 0.0 };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn drops_the_expected_share_and_keeps_the_mean() {
        let x = Tensor::ones(100_000, candle_core::DType::F32, &Device::Cpu).expect("ones");
        let mut d = Dropout::seeded(1);
        let y = d.apply(&x, 0.2).expect("dropout").to_vec1::<f32>().expect("vec");
        let zeros = y.iter().filter(|&&v| v == 0.0).count() as f64 / y.len() as f64;
        assert!((zeros - 0.2).abs() < 0.01, "{zeros}");
        let mean = y.iter().sum::<f32>() / y.len() as f32;
        assert!((mean - 1.0).abs() < 0.02, "{mean}");
        let again = Dropout::seeded(1).apply(&x, 0.2).expect("dropout").to_vec1::<f32>().expect("v");
        assert_eq!(y, again);
        let off = Dropout::off().apply(&x, 0.2).expect("off").to_vec1::<f32>().expect("v");
        assert!(off.iter().all(|&v| v == 1.0));
    }
}
