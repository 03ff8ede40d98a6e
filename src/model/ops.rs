//! Fused CPU kernels with their own backward passes, for the element-wise parts of BERT that
//! dominate training time after the matrix products: layer normalisation, softmax and GELU.
//! Composed of candle's generic ops, each of these takes many passes over memory forward and
//! more backward; fused, each is one parallel pass per direction. Other devices use the
//! composed versions (same maths).

use candle_core::{CpuStorage, CustomOp1, CustomOp2, CustomOp3, D, Layout, Shape, Tensor, bail};
use rayon::prelude::*;

/// The f32 values of a contiguous CPU tensor.
fn slice<'a>(storage: &'a CpuStorage, layout: &Layout) -> candle_core::Result<&'a [f32]> {
    let CpuStorage::F32(values) = storage else { bail!("fused ops take f32 tensors") };
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&values[start..end]),
        None => bail!("fused ops take contiguous tensors"),
    }
}

fn last_dim(layout: &Layout) -> candle_core::Result<usize> {
    match layout.dims().last() {
        Some(&d) if d > 0 => Ok(d),
        _ => bail!("fused ops need a non-empty last dimension"),
    }
}

/// Rows of `width` values: mean and reciprocal standard deviation.
fn moments(row: &[f32], eps: f32) -> (f32, f32) {
    let n = row.len() as f32;
    let mean = row.iter().sum::<f32>() / n;
    let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
    (mean, 1.0 / (var + eps).sqrt())
}

/// `(x - mean) / sqrt(var + eps)` over the last dimension.
struct Normalize {
    eps: f32,
}

impl CustomOp1 for Normalize {
    fn name(&self) -> &'static str {
        "bertbench-normalize"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = slice(storage, layout)?;
        let width = last_dim(layout)?;
        let mut out = vec![0f32; x.len()];
        out.par_chunks_mut(width).zip(x.par_chunks(width)).for_each(|(o, row)| {
            let (mean, rstd) = moments(row, self.eps);
            for (o, v) in o.iter_mut().zip(row) {
                *o = (v - mean) * rstd;
            }
        });
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, normed: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let grad = grad.contiguous()?;
        Ok(Some(x.apply_op3_no_bwd(normed, &grad, &NormalizeGrad { eps: self.eps })?))
    }
}

/// `dx = rstd * (g - mean(g) - x̂ * mean(g * x̂))`, row by row.
struct NormalizeGrad {
    eps: f32,
}

impl CustomOp3 for NormalizeGrad {
    fn name(&self) -> &'static str {
        "bertbench-normalize-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (x, normed, grad) = (slice(s1, l1)?, slice(s2, l2)?, slice(s3, l3)?);
        let width = last_dim(l1)?;
        let mut out = vec![0f32; x.len()];
        out.par_chunks_mut(width)
            .zip(x.par_chunks(width))
            .zip(normed.par_chunks(width).zip(grad.par_chunks(width)))
            .for_each(|((o, xr), (nr, gr))| {
                let (_, rstd) = moments(xr, self.eps);
                let n = width as f32;
                let mean_g = gr.iter().sum::<f32>() / n;
                let mean_gn = gr.iter().zip(nr).map(|(g, v)| g * v).sum::<f32>() / n;
                for ((o, g), v) in o.iter_mut().zip(gr).zip(nr) {
                    *o = rstd * (g - mean_g - v * mean_gn);
                }
            });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

/// Softmax over the last dimension.
struct Softmax;

impl CustomOp1 for Softmax {
    fn name(&self) -> &'static str {
        "bertbench-softmax"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = slice(storage, layout)?;
        let width = last_dim(layout)?;
        let mut out = vec![0f32; x.len()];
        out.par_chunks_mut(width).zip(x.par_chunks(width)).for_each(|(o, row)| {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let mut sum = 0f32;
            for (o, v) in o.iter_mut().zip(row) {
                *o = (v - max).exp();
                sum += *o;
            }
            let inv = 1.0 / sum;
            for v in o.iter_mut() {
                *v *= inv;
            }
        });
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }

    fn bwd(&self, _x: &Tensor, probs: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let grad = grad.contiguous()?;
        Ok(Some(probs.apply_op2_no_bwd(&grad, &SoftmaxGrad)?))
    }
}

/// `dx = y * (g - sum(g * y))`, row by row.
struct SoftmaxGrad;

impl CustomOp2 for SoftmaxGrad {
    fn name(&self) -> &'static str {
        "bertbench-softmax-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (probs, grad) = (slice(s1, l1)?, slice(s2, l2)?);
        let width = last_dim(l1)?;
        let mut out = vec![0f32; probs.len()];
        out.par_chunks_mut(width).zip(probs.par_chunks(width).zip(grad.par_chunks(width))).for_each(
            |(o, (y, g))| {
                let dot: f32 = y.iter().zip(g).map(|(a, b)| a * b).sum();
                for ((o, y), g) in o.iter_mut().zip(y).zip(g) {
                    *o = y * (g - dot);
                }
            },
        );
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

const SQRT_HALF: f32 = std::f32::consts::FRAC_1_SQRT_2;
/// 1 / sqrt(2π)
const INV_SQRT_2PI: f32 = 0.398_942_3;

/// Exact (erf) GELU: `x * Φ(x)`.
struct Gelu;

impl CustomOp1 for Gelu {
    fn name(&self) -> &'static str {
        "bertbench-gelu"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = slice(storage, layout)?;
        let mut out = vec![0f32; x.len()];
        out.par_chunks_mut(4096).zip(x.par_chunks(4096)).for_each(|(o, xs)| {
            for (o, &v) in o.iter_mut().zip(xs) {
                *o = 0.5 * v * (1.0 + libm::erff(v * SQRT_HALF));
            }
        });
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, _res: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let grad = grad.contiguous()?;
        Ok(Some(x.apply_op2_no_bwd(&grad, &GeluGrad)?))
    }
}

/// `dx = g * (Φ(x) + x φ(x))`.
struct GeluGrad;

impl CustomOp2 for GeluGrad {
    fn name(&self) -> &'static str {
        "bertbench-gelu-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (x, grad) = (slice(s1, l1)?, slice(s2, l2)?);
        let mut out = vec![0f32; x.len()];
        out.par_chunks_mut(4096).zip(x.par_chunks(4096).zip(grad.par_chunks(4096))).for_each(
            |(o, (xs, gs))| {
                for ((o, &v), &g) in o.iter_mut().zip(xs).zip(gs) {
                    let cdf = 0.5 * (1.0 + libm::erff(v * SQRT_HALF));
                    let pdf = INV_SQRT_2PI * (-0.5 * v * v).exp();
                    *o = g * (cdf + v * pdf);
                }
            },
        );
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

/// Fused kernels apply to contiguous f32 tensors on the CPU.
fn fusable(x: &Tensor) -> bool {
    x.device().is_cpu() && x.dtype() == candle_core::DType::F32
}

/// Normalises over the last dimension to zero mean and unit variance.
pub fn normalize(x: &Tensor, eps: f64) -> candle_core::Result<Tensor> {
    if fusable(x) {
        return x.contiguous()?.apply_op1(Normalize { eps: eps as f32 });
    }
    let centred = x.broadcast_sub(&x.mean_keepdim(D::Minus1)?)?;
    let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
    centred.broadcast_div(&(var + eps)?.sqrt()?)
}

/// Softmax over the last dimension.
pub fn softmax(x: &Tensor) -> candle_core::Result<Tensor> {
    if fusable(x) {
        return x.contiguous()?.apply_op1(Softmax);
    }
    candle_nn::ops::softmax(x, D::Minus1)
}

/// Exact GELU.
pub fn gelu(x: &Tensor) -> candle_core::Result<Tensor> {
    if fusable(x) {
        return x.contiguous()?.apply_op1(Gelu);
    }
    x.gelu_erf()
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    /// Values and gradients of `fused` and `composed` on the same input agree.
    fn agree(fused: impl Fn(&Tensor) -> Tensor, composed: impl Fn(&Tensor) -> Tensor) {
        let data: Vec<f32> = (0..6 * 37).map(|i| ((i * 7919) % 113) as f32 / 17.0 - 3.0).collect();
        let x = Var::from_vec(data, (6, 37), &Device::Cpu).expect("var");
        let weights = Tensor::arange(0f32, 37.0, &Device::Cpu).expect("w").sin().expect("sin");
        let run = |f: &dyn Fn(&Tensor) -> Tensor| {
            let y = f(x.as_tensor());
            let loss = y.broadcast_mul(&weights).expect("mul").sum_all().expect("sum");
            let grads = loss.backward().expect("backward");
            (y.to_vec2::<f32>().expect("y"), grads.get(&x).expect("grad").to_vec2::<f32>().expect("g"))
        };
        let (y1, g1) = run(&fused);
        let (y2, g2) = run(&composed);
        let max_diff = |a: &[Vec<f32>], b: &[Vec<f32>]| {
            a.iter().flatten().zip(b.iter().flatten()).map(|(p, q)| (p - q).abs()).fold(0f32, f32::max)
        };
        assert!(max_diff(&y1, &y2) < 1e-5, "values differ by {}", max_diff(&y1, &y2));
        assert!(max_diff(&g1, &g2) < 1e-4, "gradients differ by {}", max_diff(&g1, &g2));
        assert!(g1.iter().flatten().any(|v| v.abs() > 1e-3), "gradient must not vanish");
    }

    #[test]
    fn fused_normalize_matches_composed_ops() {
        agree(
            |x| normalize(x, 1e-12).expect("fused"),
            |x| {
                let c = x.broadcast_sub(&x.mean_keepdim(D::Minus1).expect("m")).expect("c");
                let v = c.sqr().expect("s").mean_keepdim(D::Minus1).expect("v");
                c.broadcast_div(&(v + 1e-12).expect("e").sqrt().expect("r")).expect("d")
            },
        );
    }

    #[test]
    fn fused_softmax_matches_composed_ops() {
        agree(|x| softmax(x).expect("fused"), |x| candle_nn::ops::softmax(x, D::Minus1).expect("composed"));
    }

    #[test]
    fn fused_gelu_matches_composed_ops() {
        agree(|x| gelu(x).expect("fused"), |x| x.gelu_erf().expect("composed"));
    }
}
