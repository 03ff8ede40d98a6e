//! The core of self-attention, `softmax(q·kᵀ/√d + mask) · v` with dropout on the
//! probabilities, for all heads at once, as one graph node with its own backward pass.
//!
//! Composed of candle's ops this was seventeen nodes per layer (splitting the heads: reshape,
//! transpose and copy of q, k and v; the scores' product, scale and mask; softmax; dropout; the
//! context product; merging the heads), and every node costs a zeroed gradient buffer and an
//! addition in the backward pass. Here each (example, head) pair is one task: its two products
//! read q, k and v where they are (head `h` is a column block of `[batch, len, hidden]`), and
//! only its probabilities are kept for the backward pass; the dropout mask is drawn again from
//! its seed instead of being stored.

// `#[inline(always)]` on purpose: element-wise kernels must be compiled into the body that
// `Isa::vectorised` compiles for the CPU's vector instructions.
#![allow(clippy::inline_always)]

use std::sync::{Mutex, PoisonError};

use candle_core::{CpuStorage, CustomOp3, Layout, Shape, Storage, Tensor, bail};
use rayon::prelude::*;

use super::dropout::MaskSeed;
use super::fastmath::{softmax_grad_in_place, softmax_in_place};
use super::gemm::{self, Kernel, Start, View};
use super::ops::{fusable, rows_of, slice};
use super::par::{par_runs, zeros};
use super::precision;
use super::simd::{VectorKernel, vectorised};

/// How the heads split the hidden dimension.
#[derive(Debug, Clone, Copy)]
struct Geometry {
    batch: usize,
    len: usize,
    heads: usize,
    head_dim: usize,
}

impl Geometry {
    fn hidden(self) -> usize {
        self.heads * self.head_dim
    }

    fn tasks(self) -> usize {
        self.batch * self.heads
    }

    /// Head `task % heads` of example `task / heads` in a `[batch, len, hidden]` tensor.
    fn head(self, data: &[f32], task: usize) -> View<'_> {
        let (example, head) = (task / self.heads, task % self.heads);
        View {
            data,
            offset: example * self.len * self.hidden() + head * self.head_dim,
            rows: self.len,
            cols: self.head_dim,
            row_stride: self.hidden(),
            col_stride: 1,
        }
    }

    /// Per-task `[len, head_dim]` blocks back into `[batch, len, hidden]`: task `t`'s block
    /// starts at `t * stride + offset` of `per_task`.
    fn merge(self, per_task: &[f32], stride: usize, offset: usize) -> Vec<f32> {
        let (len, d, hidden) = (self.len, self.head_dim, self.hidden());
        par_runs(self.batch * len * hidden, len * hidden, |example, out| {
            for head in 0..self.heads {
                let block = &per_task[(example * self.heads + head) * stride + offset..][..len * d];
                for (row, values) in block.chunks_exact(d).enumerate() {
                    out[row * hidden + head * d..][..d].copy_from_slice(values);
                }
            }
        })
    }
}

struct Attention {
    kernel: Kernel,
    heads: usize,
    scale: f32,
    /// Added to the scores, `[batch, len]` per key: 0 for tokens, very negative for padding.
    mask: Vec<f32>,
    dropout: Option<MaskSeed>,
    /// The forward pass's probabilities (before dropout), `[batch, heads, len, len]`.
    probs: Mutex<Vec<f32>>,
}

impl Attention {
    fn geometry(&self, layout: &Layout) -> candle_core::Result<Geometry> {
        let (batch, len, hidden) = layout.shape().dims3()?;
        if self.heads == 0 || hidden % self.heads != 0 || self.mask.len() != batch * len {
            bail!("attention: {hidden} hidden values, {} heads, mask of {}", self.heads, self.mask.len());
        }
        Ok(Geometry { batch, len, heads: self.heads, head_dim: hidden / self.heads })
    }

    /// The dropout mask of one task's probabilities, if any: the same on both passes.
    fn dropout_mask(&self, task: usize, len: usize) -> Option<Vec<f32>> {
        self.dropout.map(|seed| {
            let mut mask = vec![0f32; len * len];
            seed.fill(task as u64, &mut mask);
            mask
        })
    }
}

/// Each row of `scores` (rows of `len`) to `softmax(row · scale + mask)`, in place.
struct MaskedSoftmax;

impl VectorKernel for MaskedSoftmax {
    type Args<'a> = (&'a mut [f32], usize, f32, &'a [f32]);

    #[inline(always)]
    fn run((scores, len, scale, mask): Self::Args<'_>) {
        for row in scores.chunks_exact_mut(len) {
            for (s, m) in row.iter_mut().zip(mask) {
                *s = *s * scale + m;
            }
            softmax_in_place(row);
        }
    }
}

fn times(values: &[f32], mask: &[f32]) -> Vec<f32> {
    values.iter().zip(mask).map(|(v, m)| v * m).collect()
}

impl CustomOp3 for Attention {
    fn name(&self) -> &'static str {
        "bertbench-attention"
    }

    fn cpu_fwd(
        &self,
        sq: &CpuStorage,
        lq: &Layout,
        sk: &CpuStorage,
        lk: &Layout,
        sv: &CpuStorage,
        lv: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let g = self.geometry(lq)?;
        if lk.dims() != lq.dims() || lv.dims() != lq.dims() {
            bail!("attention: q {:?}, k {:?}, v {:?} differ", lq.dims(), lk.dims(), lv.dims());
        }
        let (q, k, v) = (slice(sq, lq)?, slice(sk, lk)?, slice(sv, lv)?);
        let (len, d) = (g.len, g.head_dim);
        let mut probs = zeros(g.tasks() * len * len);
        let mut per_head = zeros(g.tasks() * len * d);
        probs.par_chunks_mut(len * len).zip(per_head.par_chunks_mut(len * d)).enumerate().for_each(
            |(task, (p, out))| {
                gemm::gemm(
                    self.kernel,
                    &g.head(q, task),
                    &g.head(k, task).transposed(),
                    p,
                    false,
                    Start::Zero,
                );
                let mask = &self.mask[task / g.heads * len..][..len];
                vectorised::<MaskedSoftmax>((p, len, self.scale, mask));
                let dropped = self.dropout_mask(task, len).map(|m| times(p, &m));
                let used = dropped.as_deref().unwrap_or(p);
                gemm::gemm(self.kernel, &rows_of(used, len), &g.head(v, task), out, false, Start::Zero);
            },
        );
        *self.probs.lock().unwrap_or_else(PoisonError::into_inner) = probs;
        Ok((CpuStorage::F32(g.merge(&per_head, len * d, 0)), lq.shape().clone()))
    }

    fn bwd(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        _: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let grad = grad.contiguous()?;
        let g = self.geometry(q.layout())?;
        let (len, d) = (g.len, g.head_dim);
        let (sq, lq) = q.storage_and_layout();
        let (sk, lk) = k.storage_and_layout();
        let (sv, lv) = v.storage_and_layout();
        let (sg, lg) = grad.storage_and_layout();
        let (Storage::Cpu(sq), Storage::Cpu(sk), Storage::Cpu(sv), Storage::Cpu(sg)) =
            (&*sq, &*sk, &*sv, &*sg)
        else {
            bail!("attention: the fused backward pass runs on the CPU");
        };
        let (q, k, v, dc) = (slice(sq, lq)?, slice(sk, lk)?, slice(sv, lv)?, slice(sg, lg)?);
        let probs = self.probs.lock().unwrap_or_else(PoisonError::into_inner);
        // Per task: dq, dk and dv of its head, one after the other.
        let mut grads = zeros(g.tasks() * 3 * len * d);
        grads.par_chunks_mut(3 * len * d).enumerate().for_each(|(task, out)| {
            let (dq, rest) = out.split_at_mut(len * d);
            let (dk, dv) = rest.split_at_mut(len * d);
            let p = &probs[task * len * len..][..len * len];
            let dc = g.head(dc, task);
            let mask = self.dropout_mask(task, len);
            let dropped = mask.as_deref().map(|m| times(p, m));
            // dv = dropped probabilitiesᵀ · dc
            let used = rows_of(dropped.as_deref().unwrap_or(p), len);
            gemm::gemm(self.kernel, &used.transposed(), &dc, dv, false, Start::Zero);
            // d(probabilities) = dc · vᵀ, through the dropout mask, then through the softmax and
            // the scale: ds = p ⊙ (dp - rowsum(dp ⊙ p)) · scale.
            let mut ds = gemm::product(self.kernel, &dc, &g.head(v, task).transposed(), false, None);
            if let Some(m) = &mask {
                ds.iter_mut().zip(m).for_each(|(x, m)| *x *= m);
            }
            for (ds, p) in ds.chunks_exact_mut(len).zip(p.chunks_exact(len)) {
                softmax_grad_in_place(ds, p);
                for x in ds.iter_mut() {
                    *x *= self.scale;
                }
            }
            // dq = ds · k, dk = dsᵀ · q
            gemm::gemm(self.kernel, &rows_of(&ds, len), &g.head(k, task), dq, false, Start::Zero);
            gemm::gemm(
                self.kernel,
                &rows_of(&ds, len).transposed(),
                &g.head(q, task),
                dk,
                false,
                Start::Zero,
            );
        });
        let shape = (g.batch, len, g.hidden());
        let tensor =
            |i: usize| Tensor::from_vec(g.merge(&grads, 3 * len * d, i * len * d), shape, grad.device());
        Ok((Some(tensor(0)?), Some(tensor(1)?), Some(tensor(2)?)))
    }
}

/// `softmax(q·kᵀ/√d + mask) · v` over `heads` heads, with dropout on the probabilities, fused;
/// `q`, `k`, `v`: `[batch, len, hidden]`, `mask`: additive, `[batch, 1, 1, len]`. Returns the
/// heads' outputs side by side, `[batch, len, hidden]`; `None` where the fused op does not
/// apply (other devices, other CPUs), for the caller's composed version.
pub fn fused(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: &Tensor,
    heads: usize,
    dropout: Option<MaskSeed>,
) -> candle_core::Result<Option<Tensor>> {
    let Some(kernel) = precision::kernel() else { return Ok(None) };
    if ![q, k, v, mask].into_iter().all(fusable) {
        return Ok(None);
    }
    let head_dim = q.dim(2)? / heads.max(1);
    let len = q.dim(1)?;
    let op = Attention {
        // One head's products; with short texts, too small for bf16 to pay.
        kernel: kernel.for_product(len, head_dim, len),
        heads,
        scale: 1.0 / (head_dim as f32).sqrt(),
        mask: mask.flatten_all()?.to_vec1::<f32>()?,
        dropout,
        probs: Mutex::new(Vec::new()),
    };
    Ok(Some(q.contiguous()?.apply_op3(&k.contiguous()?, &v.contiguous()?, op)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::dropout::Dropout;
    use crate::model::ops::testing::{assert_agree, output_and_gradients, values};
    use candle_core::{D, Device, Var};

    /// Candle's ops, with the dropout mask drawn per (example, head) as the fused op draws it.
    fn composed(
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        mask: &Tensor,
        heads: usize,
        seed: Option<MaskSeed>,
    ) -> Tensor {
        let (b, l, h) = q.dims3().expect("dims");
        let d = h / heads;
        let split = |t: &Tensor| {
            t.reshape((b, l, heads, d)).expect("r").transpose(1, 2).expect("t").contiguous().expect("c")
        };
        let (q, k, v) = (split(q), split(k), split(v));
        let scores = (q.matmul(&k.t().expect("t")).expect("mm") / (d as f64).sqrt()).expect("scale");
        let probs =
            candle_nn::ops::softmax(&scores.broadcast_add(mask).expect("mask"), D::Minus1).expect("softmax");
        let probs = match seed {
            Some(seed) => {
                let mut drop = vec![0f32; b * heads * l * l];
                drop.chunks_exact_mut(l * l).enumerate().for_each(|(task, m)| seed.fill(task as u64, m));
                let drop = Tensor::from_vec(drop, (b, heads, l, l), q.device()).expect("drop");
                (probs * drop).expect("dropped")
            }
            None => probs,
        };
        probs.matmul(&v).expect("mm").transpose(1, 2).expect("t").reshape((b, l, h)).expect("merge")
    }

    #[test]
    fn fused_attention_matches_candle_in_values_and_gradients_with_padding_and_dropout() {
        let dev = Device::Cpu;
        let (b, l, heads, d) = (3, 13, 4, 6);
        let var =
            |salt| Var::from_vec(values(b * l * heads * d, salt), (b, l, heads * d), &dev).expect("var");
        let (q, k, v) = (var(1), var(2), var(3));
        // Example 1 has 4 padding positions, example 2 has 9.
        let keep: Vec<f32> = (0..b * l)
            .map(|i| if (i / l == 1 && i % l >= 9) || (i / l == 2 && i % l >= 4) { 0.0 } else { 1.0 })
            .collect();
        let mask = Tensor::from_vec(
            keep.iter().map(|&m| (1.0 - m) * f32::MIN).collect::<Vec<_>>(),
            (b, 1, 1, l),
            &dev,
        )
        .expect("mask");
        let upstream = Tensor::from_vec(values(b * l * heads * d, 4), (b, l, heads * d), &dev).expect("u");
        if super::super::simd::Isa::detect().is_none() {
            // Without our kernels the fused op steps aside: the encoder composes candle's ops,
            // as `composed` does here.
            assert!(fused(&q, &k, &v, &mask, heads, None).expect("fused").is_none());
            return;
        }
        for seed in [None, Dropout::seeded(7).draw(0.3)] {
            let run = |f: &dyn Fn() -> Tensor| output_and_gradients(&f(), &upstream, &[&q, &k, &v]);
            let ours = run(&|| fused(&q, &k, &v, &mask, heads, seed).expect("fused").expect("applies"));
            let theirs = run(&|| composed(&q, &k, &v, &mask, heads, seed));
            let context = format!("(dropout: {})", seed.is_some());
            assert_agree(&["context", "dq", "dk", "dv"], &ours, &theirs, 1e-4, &context);
        }
    }

    #[test]
    fn the_same_seed_drops_the_same_probabilities_on_both_passes() {
        let seed = Dropout::seeded(3).draw(0.25).expect("seed");
        let (mut a, mut b) = (vec![0f32; 1000], vec![0f32; 1000]);
        seed.fill(5, &mut a);
        seed.fill(5, &mut b);
        assert_eq!(a, b);
        let dropped = a.iter().filter(|&&m| m == 0.0).count();
        assert!((200..300).contains(&dropped), "{dropped} of 1000 dropped at p = 0.25");
        seed.fill(6, &mut b);
        assert_ne!(a, b, "another task draws another mask");
    }
}
