//! Dropout with a seeded generator. candle's CPU random numbers cannot be seeded, so the masks
//! are drawn here: the same seed gives the same masks, and so the same loss curve.

// `#[inline(always)]` on purpose: the mask's element function must be compiled into the body
// that `Isa::vectorised` compiles for the CPU's vector instructions.
#![allow(clippy::inline_always)]

use candle_core::Tensor;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::par::par_runs;
use super::simd::{VectorKernel, vectorised};
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

    /// The generator masks are drawn from (`None` in evaluation mode): saved and restored
    /// with a run's resumable state.
    pub fn generator(&mut self) -> Option<&mut ChaCha8Rng> {
        self.rng.as_mut()
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
        let mask = par_runs(x.elem_count(), MASK_CHUNK, |i, chunk| self.fill(i as u64, chunk));
        x.mul(&Tensor::from_vec(mask, x.shape(), x.device())?.to_dtype(x.dtype())?)
    }

    /// Multiplies `values` by this seed's mask in place (what `apply` does to a tensor).
    pub fn apply_in_place(self, values: &mut [f32]) {
        values.par_chunks_mut(MASK_CHUNK).enumerate().for_each(|(i, chunk)| {
            vectorised::<Masking<true>>((chunk, self.stream(i as u64)));
        });
    }

    /// Fills `mask` from stream `stream` of the seed: `1 / keep` for a kept element, 0 for a
    /// dropped one. A whole mask is drawn in chunks of `MASK_CHUNK`, chunk `i` from stream `i`,
    /// so chunks are drawn in parallel and the mask depends only on the seed, not on the number
    /// of threads; and the same stream always gives the same mask, so a fused op can draw its
    /// mask again in the backward pass instead of keeping it.
    pub fn fill(self, stream: u64, mask: &mut [f32]) {
        vectorised::<Masking<false>>((mask, self.stream(stream)));
    }

    fn stream(self, stream: u64) -> Stream {
        let key = splitmix64(self.seed ^ splitmix64(stream));
        Stream {
            key: [key as u32, (key >> 32) as u32],
            // Kept where the top 24 bits of an element's hash are below this.
            threshold: (f64::from(self.keep) * f64::from(1u32 << 24)) as u32,
            scale: 1.0 / self.keep,
        }
    }
}

/// One stream of a mask: element `i` is kept when `hash(i, key)` falls below the threshold.
/// A counter-based generator (a keyed integer hash of the element's index, as Philox is in
/// other frameworks) rather than a sequential one: every element is drawn independently, so
/// the loop compiles to vector instructions (`ChaCha8` element by element was ~4 % of training).
#[derive(Clone, Copy)]
struct Stream {
    key: [u32; 2],
    threshold: u32,
    scale: f32,
}

impl Stream {
    #[inline(always)]
    fn factor(self, index: u32) -> f32 {
        let hash = mix32(mix32(index ^ self.key[0]) ^ self.key[1]);
        if hash >> 8 < self.threshold { self.scale } else { 0.0 }
    }
}

/// A bijective 32-bit mixer with good avalanche (C. Wellons' `lowbias32` constants).
#[inline(always)]
fn mix32(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^ (x >> 16)
}

/// `SplitMix64`'s output function: spreads a seed and a stream number over a key.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Writes a stream's mask (`IN_PLACE = false`) or multiplies values by it (`true`).
struct Masking<const IN_PLACE: bool>;

impl<const IN_PLACE: bool> VectorKernel for Masking<IN_PLACE> {
    type Args<'a> = (&'a mut [f32], Stream);

    #[inline(always)]
    #[allow(clippy::cast_possible_truncation)] // a stream is `MASK_CHUNK` long
    fn run((values, stream): Self::Args<'_>) {
        for (i, v) in values.iter_mut().enumerate() {
            // (A `u32` range would carry an overflow check that keeps the loop scalar.)
            let factor = stream.factor(i as u32);
            *v = if IN_PLACE { *v * factor } else { factor };
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

    /// The share of positions where both masks drop.
    fn both_dropped(a: &[f32], b: &[f32]) -> f64 {
        a.iter().zip(b).filter(|&(x, y)| *x == 0.0 && *y == 0.0).count() as f64 / a.len() as f64
    }

    #[test]
    fn streams_seeds_and_neighbours_draw_independently() {
        let n = 1 << 16;
        let seed = MaskSeed { seed: 7, keep: 0.5 };
        let draw = |seed: MaskSeed, stream| {
            let mut mask = vec![f32::NAN; n];
            seed.fill(stream, &mut mask);
            mask
        };
        let (first, second) = (draw(seed, 0), draw(seed, 1));
        let other_seed = draw(MaskSeed { seed: 8, keep: 0.5 }, 0);
        assert!(first.iter().all(|&m| m == 0.0 || m == 2.0));
        // Independent halves overlap in a quarter of the positions; identical ones in half.
        for (name, other) in [("another stream", &second), ("another seed", &other_seed)] {
            let both = both_dropped(&first, other);
            assert!((both - 0.25).abs() < 0.01, "{name}: {both}");
        }
        let neighbours = both_dropped(&first[..n - 1], &first[1..]);
        assert!((neighbours - 0.25).abs() < 0.01, "neighbours: {neighbours}");
        // The compiled-for-the-CPU loop draws what the plain one does, and in place multiplies.
        let mut plain = vec![0f32; n];
        Masking::<false>::run((&mut plain, seed.stream(0)));
        assert_eq!(plain, first);
        let mut values = vec![3f32; MASK_CHUNK];
        seed.apply_in_place(&mut values);
        assert!(values.iter().zip(&first).all(|(v, m)| *v == 3.0 * m));
    }
}
