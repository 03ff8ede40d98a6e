//! CPU kernels with their own backward passes: matrix products on our SIMD kernels
//! (`gemm.rs`), and fused versions of the element-wise parts of BERT that dominate training
//! time after the matrix products: layer normalisation, softmax and GELU.
//! Composed of candle's generic ops, each of these takes many passes over memory forward and
//! more backward; fused, each is one parallel pass per direction. Other devices use the
//! composed versions (same maths).

// `#[inline(always)]` on purpose: element-wise kernels must be compiled into the body that
// `simd::vectorised` compiles for the CPU's vector instructions.
#![allow(clippy::inline_always)]

use candle_core::{CpuStorage, CustomOp1, CustomOp2, CustomOp3, D, Layout, Shape, Tensor, bail};
use rayon::prelude::*;

use std::sync::{Mutex, PoisonError};

use super::dropout::MaskSeed;
use super::fastmath::{INV_SQRT_2PI, normal_cdf_and_gauss, softmax_grad_in_place, softmax_in_place};
use super::gemm::{self, Kernel, Start, View};
use super::par::{CHUNK, map_runs, par_runs, zeros};
use super::precision;
use super::simd::{VectorKernel, vectorised};

/// The f32 values of a contiguous CPU tensor.
pub(super) fn slice<'a>(storage: &'a CpuStorage, layout: &Layout) -> candle_core::Result<&'a [f32]> {
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

/// `dims` with the last dimension set to `n` (the shape of a product's or a layer's output).
fn last_dim_set(dims: &[usize], n: usize) -> Shape {
    let mut dims = dims.to_vec();
    if let Some(last) = dims.last_mut() {
        *last = n;
    }
    Shape::from(dims)
}

/// How an op splits its input into independent runs.
#[derive(Clone, Copy)]
enum Runs {
    /// Rows of the last dimension (the op reduces over a row).
    Rows,
    /// Fixed chunks (the op is element-wise).
    Chunks,
}

impl Runs {
    fn width(self, layout: &Layout) -> candle_core::Result<usize> {
        match self {
            Self::Rows => last_dim(layout),
            Self::Chunks => Ok(CHUNK),
        }
    }
}

/// A kernel of two same-shaped inputs, computed run by run: the backward passes below, which
/// need no gradient of their own.
#[derive(Clone, Copy)]
struct RunOp2 {
    name: &'static str,
    runs: Runs,
    f: fn(&mut [f32], [&[f32]; 2]),
}

impl CustomOp2 for RunOp2 {
    fn name(&self) -> &'static str {
        self.name
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        Ok(map_runs(l1.shape(), self.runs.width(l1)?, [slice(s1, l1)?, slice(s2, l2)?], self.f))
    }
}

/// What a backward kernel combines with the incoming gradient.
#[derive(Clone, Copy)]
enum GradOf {
    /// The op's input (GELU).
    Input,
    /// The op's output (softmax).
    Output,
}

/// A kernel of one input, computed run by run, whose gradient is another run-by-run kernel.
#[derive(Clone, Copy)]
struct RunOp1 {
    name: &'static str,
    runs: Runs,
    f: fn(&mut [f32], [&[f32]; 1]),
    grad: RunOp2,
    grad_of: GradOf,
}

impl CustomOp1 for RunOp1 {
    fn name(&self) -> &'static str {
        self.name
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        Ok(map_runs(l.shape(), self.runs.width(l)?, [slice(s, l)?], self.f))
    }

    fn bwd(&self, x: &Tensor, res: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let base = match self.grad_of {
            GradOf::Input => x,
            GradOf::Output => res,
        };
        Ok(Some(base.apply_op2_no_bwd(&grad.contiguous()?, &self.grad)?))
    }
}

/// Mean and reciprocal standard deviation of a row.
fn moments(row: &[f32], eps: f32) -> (f32, f32) {
    let n = row.len() as f32;
    let mean = row.iter().sum::<f32>() / n;
    let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
    (mean, 1.0 / (var + eps).sqrt())
}

/// Layer normalisation over the last dimension with its affine part, `x̂ · w + b` where
/// `x̂ = (x - mean) / sqrt(var + eps)`: one graph node (composed, it was five).
struct LayerNorm {
    eps: f32,
}

impl CustomOp3 for LayerNorm {
    fn name(&self) -> &'static str {
        "bertbench-layer-norm"
    }

    fn cpu_fwd(
        &self,
        sx: &CpuStorage,
        lx: &Layout,
        sw: &CpuStorage,
        lw: &Layout,
        sb: &CpuStorage,
        lb: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (w, b) = (slice(sw, lw)?, slice(sb, lb)?);
        let width = last_dim(lx)?;
        if w.len() != width || b.len() != width {
            bail!(
                "layer norm: input {:?}, weight {:?}, bias {:?} do not fit",
                lx.dims(),
                lw.dims(),
                lb.dims()
            );
        }
        Ok(map_runs(lx.shape(), width, [slice(sx, lx)?], |o, [row]| {
            let (mean, rstd) = moments(row, self.eps);
            for (((o, v), w), b) in o.iter_mut().zip(row).zip(w).zip(b) {
                *o = (v - mean) * rstd * w + b;
            }
        }))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _: &Tensor,
        _: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        // One kernel writes all three gradients into one buffer: dx, then dw, then db.
        let all = x.apply_op3_no_bwd(w, &grad.contiguous()?, &LayerNormGrad { eps: self.eps })?;
        let (n, width) = (x.elem_count(), w.elem_count());
        let grad_x = all.narrow(0, 0, n)?.reshape(x.shape())?;
        Ok((Some(grad_x), Some(all.narrow(0, n, width)?), Some(all.narrow(0, n + width, width)?)))
    }
}

/// Rows per task of the layer-norm gradient.
const LAYER_NORM_ROWS: usize = 32;

/// The layer norm's gradients, row by row: with `gw = g · w`,
/// `dx = rstd · (gw - mean(gw) - x̂ · mean(gw · x̂))`, `dw = Σ g · x̂`, `db = Σ g` (over rows).
/// Output: `dx` flattened, then `dw`, then `db`.
struct LayerNormGrad {
    eps: f32,
}

impl CustomOp3 for LayerNormGrad {
    fn name(&self) -> &'static str {
        "bertbench-layer-norm-grad"
    }

    fn cpu_fwd(
        &self,
        sx: &CpuStorage,
        lx: &Layout,
        sw: &CpuStorage,
        lw: &Layout,
        sg: &CpuStorage,
        lg: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (x, w, g) = (slice(sx, lx)?, slice(sw, lw)?, slice(sg, lg)?);
        let width = w.len();
        let n = x.len();
        let mut out = zeros(n + 2 * width);
        let (dx, rest) = out.split_at_mut(n);
        let sums = dx
            .par_chunks_mut(width * LAYER_NORM_ROWS)
            .enumerate()
            .map(|(block, dx)| {
                let start = block * width * LAYER_NORM_ROWS;
                let mut sums = vec![0f32; 2 * width];
                let (dw, db) = sums.split_at_mut(width);
                let rows = x[start..].chunks_exact(width).zip(g[start..].chunks_exact(width));
                for (dx, (x, g)) in dx.chunks_exact_mut(width).zip(rows) {
                    let (mean, rstd) = moments(x, self.eps);
                    let (mut mean_gw, mut mean_gwn) = (0f32, 0f32);
                    for (((v, g), w), (dw, db)) in
                        x.iter().zip(g).zip(w).zip(dw.iter_mut().zip(db.iter_mut()))
                    {
                        let normed = (v - mean) * rstd;
                        mean_gw += g * w;
                        mean_gwn += g * w * normed;
                        *dw += g * normed;
                        *db += g;
                    }
                    let inv = 1.0 / width as f32;
                    let (mean_gw, mean_gwn) = (mean_gw * inv, mean_gwn * inv);
                    for (((dx, v), g), w) in dx.iter_mut().zip(x).zip(g).zip(w) {
                        *dx = rstd * (g * w - mean_gw - (v - mean) * rstd * mean_gwn);
                    }
                }
                sums
            })
            .collect::<Vec<_>>();
        // The blocks' partial sums are added in block order, never in the order the threads
        // finish: a parallel `reduce` pairs them as work stealing falls, so the same run could
        // round differently from one time to the next.
        for block in &sums {
            rest.iter_mut().zip(block).for_each(|(r, b)| *r += b);
        }
        Ok((CpuStorage::F32(out), Shape::from(n + 2 * width)))
    }
}

/// Softmax over the last dimension.
const SOFTMAX: RunOp1 = RunOp1 {
    name: "bertbench-softmax",
    runs: Runs::Rows,
    f: |o, [row]| {
        o.copy_from_slice(row);
        vectorised::<Softmax>(o);
    },
    grad: SOFTMAX_GRAD,
    grad_of: GradOf::Output,
};

/// `dx = y * (g - sum(g * y))`, row by row.
const SOFTMAX_GRAD: RunOp2 = RunOp2 {
    name: "bertbench-softmax-grad",
    runs: Runs::Rows,
    f: |o, [y, g]| {
        o.copy_from_slice(g);
        softmax_grad_in_place(o, y);
    },
};

/// `o = x Φ(x)`.
struct GeluForward;

impl VectorKernel for GeluForward {
    type Args<'a> = (&'a mut [f32], &'a [f32]);

    #[inline(always)]
    fn run((o, xs): Self::Args<'_>) {
        for (o, &v) in o.iter_mut().zip(xs) {
            *o = v * normal_cdf_and_gauss(v).0;
        }
    }
}

/// `o = g (Φ(x) + x φ(x))`.
struct GeluBackward;

impl VectorKernel for GeluBackward {
    type Args<'a> = (&'a mut [f32], &'a [f32], &'a [f32]);

    #[inline(always)]
    fn run((o, xs, gs): Self::Args<'_>) {
        for ((o, &v), &g) in o.iter_mut().zip(xs).zip(gs) {
            let (cdf, gauss) = normal_cdf_and_gauss(v);
            *o = g * (cdf + v * INV_SQRT_2PI * gauss);
        }
    }
}

/// Softmax of a row, in place.
struct Softmax;

impl VectorKernel for Softmax {
    type Args<'a> = &'a mut [f32];

    #[inline(always)]
    fn run(row: Self::Args<'_>) {
        softmax_in_place(row);
    }
}

/// Exact (erf) GELU: `x * Φ(x)`.
const GELU: RunOp1 = RunOp1 {
    name: "bertbench-gelu",
    runs: Runs::Chunks,
    f: |o, [xs]| vectorised::<GeluForward>((o, xs)),
    grad: GELU_GRAD,
    grad_of: GradOf::Input,
};

/// `dx = g * (Φ(x) + x φ(x))`.
const GELU_GRAD: RunOp2 = RunOp2 {
    name: "bertbench-gelu-grad",
    runs: Runs::Chunks,
    f: |o, [xs, gs]| vectorised::<GeluBackward>((o, xs, gs)),
};

/// Fused kernels apply to contiguous f32 tensors on the CPU.
pub(super) fn fusable(x: &Tensor) -> bool {
    x.device().is_cpu() && x.dtype() == candle_core::DType::F32
}

/// The storage offset of each matrix of a tensor of rank ≥ 2, in row-major order of the
/// leading (batch) dimensions, whatever their strides.
fn matrix_offsets(layout: &Layout) -> Vec<usize> {
    let rank = layout.dims().len();
    let leading = layout.dims()[..rank - 2].iter().zip(&layout.stride()[..rank - 2]);
    leading.fold(vec![layout.start_offset()], |offsets, (&dim, &stride)| {
        offsets.iter().flat_map(|&o| (0..dim).map(move |i| o + i * stride)).collect()
    })
}

/// The matrices of a tensor of rank ≥ 2 as strided views (no copies).
fn matrices<'a>(storage: &'a CpuStorage, layout: &Layout) -> candle_core::Result<Vec<View<'a>>> {
    let CpuStorage::F32(data) = storage else { bail!("matmul takes f32 tensors") };
    let (dims, strides) = (layout.dims(), layout.stride());
    let rank = dims.len();
    Ok(matrix_offsets(layout)
        .into_iter()
        .map(|offset| View {
            data,
            offset,
            rows: dims[rank - 2],
            cols: dims[rank - 1],
            row_stride: strides[rank - 2],
            col_stride: strides[rank - 1],
        })
        .collect())
}

/// `a · b` over the last two dimensions, batched over the leading ones (equal in both).
struct MatMul {
    kernel: Kernel,
}

impl CustomOp2 for MatMul {
    fn name(&self) -> &'static str {
        "bertbench-matmul"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (a, b) = (matrices(s1, l1)?, matrices(s2, l2)?);
        // From the layouts: a batch dimension of 0 leaves no matrices to read them from.
        let (m, n) = (l1.dims()[l1.dims().len() - 2], l2.dims()[l2.dims().len() - 1]);
        let shape = last_dim_set(l1.dims(), n);
        let kernel = self.kernel.for_product(m, last_dim(l1)?, n);
        if let ([a], [b]) = (&a[..], &b[..]) {
            // One product (a layer's gradients): split among the threads, into a fresh output.
            return Ok((CpuStorage::F32(gemm::product(kernel, a, b, true, None)), shape));
        }
        let size = (m * n).max(1);
        // Many small products (attention heads): one per thread. Few large ones: each split.
        let out = if a.len() >= rayon::current_num_threads() {
            par_runs(a.len() * m * n, size, |i, c| gemm::gemm(kernel, &a[i], &b[i], c, false, Start::Zero))
        } else {
            let mut out = zeros(a.len() * m * n);
            out.chunks_mut(size)
                .zip(a.iter().zip(&b))
                .for_each(|(c, (a, b))| gemm::gemm(kernel, a, b, c, true, Start::Zero));
            out
        };
        Ok((CpuStorage::F32(out), shape))
    }

    fn bwd(
        &self,
        a: &Tensor,
        b: &Tensor,
        _: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let grad_a = grad.apply_op2_no_bwd(&b.t()?, self)?;
        let grad_b = a.t()?.apply_op2_no_bwd(grad, self)?;
        Ok((Some(grad_a), Some(grad_b)))
    }
}

/// Matrix product over the last two dimensions: our kernels for f32 CPU tensors of equal
/// batch dimensions on CPUs with AVX2 or AVX-512 (in this thread's precision), candle's
/// otherwise (same maths, f32).
pub fn matmul(a: &Tensor, b: &Tensor) -> candle_core::Result<Tensor> {
    let rank = a.rank();
    let batched_alike = rank >= 2 && b.rank() == rank && a.dims()[..rank - 2] == b.dims()[..rank - 2];
    match precision::kernel() {
        Some(kernel)
            if fusable(a) && fusable(b) && batched_alike && a.dim(rank - 1)? == b.dim(rank - 2)? =>
        {
            a.apply_op2(b, MatMul { kernel })
        }
        _ => a.matmul(b),
    }
}

/// A contiguous matrix (`values` in rows of `width`) as a view.
pub(super) fn rows_of(values: &[f32], width: usize) -> View<'_> {
    View {
        data: values,
        offset: 0,
        rows: values.len() / width,
        cols: width,
        row_stride: width,
        col_stride: 1,
    }
}

/// A dense layer, `x · wᵀ + b` over the last dimension of `x` (any leading dimensions), as one
/// graph node. Composed of candle's ops it was six (reshapes, transpose, product, broadcast,
/// addition), and every node costs a zeroed gradient buffer and an addition in the backward
/// pass. Here the bias is the product's starting value, and the backward pass gives the three
/// gradients at once: `dx = g·w`, `dw = gᵀ·x`, `db` = column sums of `g`.
struct Dense {
    kernel: Kernel,
    epilogue: Epilogue,
    /// GELU only: the output before the activation, `[rows, outputs]`, for the backward pass.
    before_activation: Mutex<Option<Tensor>>,
}

/// What a dense layer does to its output in the same pass (saving a graph node each).
#[derive(Debug, Clone, Copy)]
pub enum Epilogue {
    Nothing,
    /// Exact GELU (the feed-forward block's activation).
    Gelu,
    /// Dropout with this mask (the blocks' outputs).
    Dropout(MaskSeed),
}

impl Epilogue {
    /// Dropout when there is a mask to apply, else nothing.
    pub fn dropout(seed: Option<MaskSeed>) -> Self {
        seed.map_or(Self::Nothing, Self::Dropout)
    }
}

impl CustomOp3 for Dense {
    fn name(&self) -> &'static str {
        "bertbench-dense"
    }

    fn cpu_fwd(
        &self,
        sx: &CpuStorage,
        lx: &Layout,
        sw: &CpuStorage,
        lw: &Layout,
        sb: &CpuStorage,
        lb: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (outputs, inputs) = lw.shape().dims2()?;
        let (x, w, b) = (slice(sx, lx)?, slice(sw, lw)?, slice(sb, lb)?);
        if last_dim(lx)? != inputs || b.len() != outputs {
            bail!("dense: input {:?}, weight {:?}, bias {:?} do not fit", lx.dims(), lw.dims(), lb.dims());
        }
        let rows = x.len() / inputs;
        // `wᵀ` read in place: `w` is `[outputs, inputs]` row-major.
        let wt = View { data: w, offset: 0, rows: inputs, cols: outputs, row_stride: 1, col_stride: inputs };
        let kernel = self.kernel.for_product(rows, inputs, outputs);
        let mut y = gemm::product(kernel, &rows_of(x, inputs), &wt, true, Some(b));
        match self.epilogue {
            Epilogue::Nothing => {}
            Epilogue::Gelu => {
                let before = Shape::from((rows, outputs));
                let (activated, _) = map_runs(&before, CHUNK, [&y], GELU.f);
                let before = Tensor::from_vec(y, before, &candle_core::Device::Cpu)?;
                *self.before_activation.lock().unwrap_or_else(PoisonError::into_inner) = Some(before);
                return Ok((activated, last_dim_set(lx.dims(), outputs)));
            }
            Epilogue::Dropout(seed) => seed.apply_in_place(&mut y),
        }
        Ok((CpuStorage::F32(y), last_dim_set(lx.dims(), outputs)))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _: &Tensor,
        _: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (outputs, inputs) = w.dims2()?;
        let product = MatMul { kernel: self.kernel };
        let g = grad.contiguous()?.reshape(((), outputs))?;
        // Back through the epilogue first.
        let g = match self.epilogue {
            Epilogue::Nothing => g,
            Epilogue::Gelu => {
                let before = self.before_activation.lock().unwrap_or_else(PoisonError::into_inner);
                let Some(before) = before.as_ref() else {
                    bail!("dense: no activation kept for the backward pass")
                };
                before.apply_op2_no_bwd(&g, &GELU_GRAD)?
            }
            Epilogue::Dropout(seed) => seed.apply(&g)?,
        };
        let grad_x = g.apply_op2_no_bwd(w, &product)?.reshape(x.shape())?;
        let grad_w = g.t()?.apply_op2_no_bwd(&x.reshape(((), inputs))?, &product)?;
        let grad_b = g.apply_op1_no_bwd(&ColumnSums)?;
        Ok((Some(grad_x), Some(grad_w), Some(grad_b)))
    }
}

/// The sums of the columns of a contiguous matrix: a `[rows, cols]` tensor to `[cols]`.
struct ColumnSums;

impl CustomOp1 for ColumnSums {
    fn name(&self) -> &'static str {
        "bertbench-column-sums"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let cols = last_dim(l)?;
        let mut sums = vec![0f32; cols];
        for row in slice(s, l)?.chunks_exact(cols) {
            for (sum, v) in sums.iter_mut().zip(row) {
                *sum += v;
            }
        }
        Ok((CpuStorage::F32(sums), Shape::from(cols)))
    }
}

/// A dense layer: `x · wᵀ + b` over the last dimension of `x`, with `w` in `[outputs, inputs]`
/// layout, then the epilogue. One fused op on CPUs our kernels serve, candle's ops otherwise
/// (same maths, same dropout masks).
pub fn dense(x: &Tensor, w: &Tensor, b: &Tensor, epilogue: Epilogue) -> candle_core::Result<Tensor> {
    let (outputs, inputs) = w.dims2()?;
    if let Some(kernel) = precision::kernel().filter(|_| fusable(x) && fusable(w) && fusable(b)) {
        let op = Dense { kernel, epilogue, before_activation: Mutex::new(None) };
        return x.contiguous()?.apply_op3(&w.contiguous()?, &b.contiguous()?, op);
    }
    let y = matmul(&x.reshape(((), inputs))?, &w.t()?)?
        .broadcast_add(b)?
        .reshape(last_dim_set(x.dims(), outputs))?;
    match epilogue {
        Epilogue::Nothing => Ok(y),
        Epilogue::Gelu => gelu(&y),
        Epilogue::Dropout(seed) => seed.apply(&y),
    }
}

/// Rows of an embedding table, `table[ids]`: `[ids' dims…, hidden]`. The backward pass
/// scatters the rows' gradients into a table-sized gradient zeroed by all threads; candle's
/// (`index_select`) zeroes it and then copies it, both on one thread — two passes over the
/// 47 MB word-embedding table every step while the other threads wait.
struct Lookup;

/// The ids of a contiguous `u32` tensor.
fn ids_of<'a>(storage: &'a CpuStorage, layout: &Layout) -> candle_core::Result<&'a [u32]> {
    let CpuStorage::U32(ids) = storage else { bail!("lookup: ids must be u32") };
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&ids[start..end]),
        None => bail!("lookup: ids must be contiguous"),
    }
}

impl CustomOp2 for Lookup {
    fn name(&self) -> &'static str {
        "bertbench-lookup"
    }

    fn cpu_fwd(
        &self,
        st: &CpuStorage,
        lt: &Layout,
        si: &CpuStorage,
        li: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (rows, hidden) = lt.shape().dims2()?;
        let (table, ids) = (slice(st, lt)?, ids_of(si, li)?);
        if let Some(id) = ids.iter().find(|&&id| id as usize >= rows) {
            bail!("lookup: id {id} outside a table of {rows} rows");
        }
        let out = par_runs(ids.len() * hidden, hidden, |i, row| {
            row.copy_from_slice(&table[ids[i] as usize * hidden..][..hidden]);
        });
        let mut dims = li.dims().to_vec();
        dims.push(hidden);
        Ok((CpuStorage::F32(out), Shape::from(dims)))
    }

    fn bwd(
        &self,
        table: &Tensor,
        ids: &Tensor,
        _: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let (rows, hidden) = table.dims2()?;
        let ids = ids.flatten_all()?.to_vec1::<u32>()?;
        let grad = grad.flatten_all()?.to_vec1::<f32>()?;
        let mut table_grad = zeros(rows * hidden);
        for (&id, g) in ids.iter().zip(grad.chunks_exact(hidden)) {
            let row = &mut table_grad[id as usize * hidden..][..hidden];
            row.iter_mut().zip(g).for_each(|(r, g)| *r += g);
        }
        Ok((Some(Tensor::from_vec(table_grad, (rows, hidden), table.device())?), None))
    }
}

/// Rows `ids` of an embedding `table` (`[rows, hidden]`): `[ids' dims…, hidden]`. Our op for
/// f32 tables on the CPU, candle's `index_select` otherwise (same result).
pub fn lookup(table: &Tensor, ids: &Tensor) -> candle_core::Result<Tensor> {
    if fusable(table) && ids.device().is_cpu() && ids.dtype() == candle_core::DType::U32 {
        return table.contiguous()?.apply_op2(&ids.contiguous()?, Lookup);
    }
    let mut dims = ids.dims().to_vec();
    dims.push(table.dim(1)?);
    table.index_select(&ids.flatten_all()?, 0)?.reshape(dims)
}

/// The sum of squares of all elements (an f32 scalar), in one parallel pass.
struct SumOfSquares;

impl CustomOp1 for SumOfSquares {
    fn name(&self) -> &'static str {
        "bertbench-sum-of-squares"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        // Chunks in parallel, their sums added in chunk order (see `LayerNormGrad`).
        let partial: Vec<f64> = slice(s, l)?
            .par_chunks(CHUNK)
            .map(|c| c.iter().map(|&v| f64::from(v * v)).sum::<f64>())
            .collect();
        let total: f64 = partial.iter().sum();
        Ok((CpuStorage::F32(vec![total as f32]), Shape::from(())))
    }
}

/// `Σ x²` over every element, as an f32 scalar.
pub fn sum_of_squares(x: &Tensor) -> candle_core::Result<f32> {
    if fusable(x) {
        return x.contiguous()?.apply_op1_no_bwd(&SumOfSquares)?.to_scalar::<f32>();
    }
    x.sqr()?.sum_all()?.to_scalar::<f32>()
}

/// Layer normalisation over the last dimension: `(x - mean) / sqrt(var + eps) · w + b`.
pub fn layer_norm(x: &Tensor, w: &Tensor, b: &Tensor, eps: f64) -> candle_core::Result<Tensor> {
    if fusable(x) && fusable(w) && fusable(b) {
        return x.contiguous()?.apply_op3(&w.contiguous()?, &b.contiguous()?, LayerNorm { eps: eps as f32 });
    }
    let centred = x.broadcast_sub(&x.mean_keepdim(D::Minus1)?)?;
    let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
    centred.broadcast_div(&(var + eps)?.sqrt()?)?.broadcast_mul(w)?.broadcast_add(b)
}

/// Softmax over the last dimension.
pub fn softmax(x: &Tensor) -> candle_core::Result<Tensor> {
    if fusable(x) {
        return x.contiguous()?.apply_op1(SOFTMAX);
    }
    candle_nn::ops::softmax(x, D::Minus1)
}

/// Exact GELU.
pub fn gelu(x: &Tensor) -> candle_core::Result<Tensor> {
    if fusable(x) {
        return x.contiguous()?.apply_op1(GELU);
    }
    x.gelu_erf()
}

/// What the fused ops' tests share: values, gradients, agreement.
#[cfg(test)]
pub(super) mod testing {
    use candle_core::{Tensor, Var};

    /// Deterministic values in about [-1, 1), different for each `salt`.
    pub fn values(n: usize, salt: usize) -> Vec<f32> {
        (0..n).map(|i| (((i + salt) * 7919) % 113) as f32 / 56.0 - 1.0).collect()
    }

    /// `y`, then the gradients of `vars` for the loss `Σ y ⊙ upstream`, each flattened.
    pub fn output_and_gradients(y: &Tensor, upstream: &Tensor, vars: &[&Var]) -> Vec<Vec<f32>> {
        let grads = (y * upstream).expect("mul").sum_all().expect("sum").backward().expect("backward");
        let flat = |t: &Tensor| t.flatten_all().expect("flat").to_vec1::<f32>().expect("vec");
        let mut all = vec![flat(y)];
        all.extend(vars.iter().map(|v| flat(grads.get(v).expect("every variable has a gradient"))));
        all
    }

    /// Each of `ours` is within `tolerance` of `theirs` (relative to the largest value, when
    /// above 1) and does not vanish.
    pub fn assert_agree(
        names: &[&str],
        ours: &[Vec<f32>],
        theirs: &[Vec<f32>],
        tolerance: f32,
        context: &str,
    ) {
        assert_eq!(ours.len(), theirs.len());
        for (name, (p, q)) in names.iter().zip(ours.iter().zip(theirs)) {
            let worst = p.iter().zip(q).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
            let scale = q.iter().map(|v| v.abs()).fold(1f32, f32::max);
            assert!(worst < tolerance * scale, "{name} differs by {worst} {context}");
            assert!(p.iter().any(|v| v.abs() > 1e-2), "{name} must not vanish {context}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{assert_agree, output_and_gradients, values};
    use super::*;
    use candle_core::{Device, Var};

    #[test]
    fn lookup_matches_index_select_in_rows_and_gradient_with_repeated_ids() {
        let table = Var::from_vec(values(9 * 5, 1), (9, 5), &Device::Cpu).expect("table");
        let ids = Tensor::new(&[[3u32, 0, 3], [8, 3, 1]], &Device::Cpu).expect("ids");
        let upstream = Tensor::from_vec(values(2 * 3 * 5, 2), (2, 3, 5), &Device::Cpu).expect("upstream");
        let ours = output_and_gradients(&lookup(&table, &ids).expect("lookup"), &upstream, &[&table]);
        let rows = table.index_select(&ids.flatten_all().expect("flat"), 0).expect("select");
        let theirs = output_and_gradients(&rows.reshape((2, 3, 5)).expect("shape"), &upstream, &[&table]);
        assert_agree(&["rows", "table gradient"], &ours, &theirs, 1e-6, "lookup");
        let outside = Tensor::new(&[9u32], &Device::Cpu).expect("ids");
        let error = lookup(&table, &outside).expect_err("id 9 of 9 rows").to_string();
        assert!(error.contains("id 9 outside a table of 9 rows"), "{error}");
    }

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
    fn matmul_matches_candle_in_values_and_gradients_on_batched_strided_views() {
        let dev = Device::Cpu;
        let data = |n: usize, s: usize| {
            (0..n).map(|i| (((i + s) * 7919) % 113) as f32 / 56.0 - 1.0).collect::<Vec<_>>()
        };
        // Attention's shapes: [batch, heads, len, dim] times a transposed view of the same.
        let q = Var::from_vec(data(2 * 3 * 11 * 5, 1), (2, 3, 11, 5), &dev).expect("q");
        let k = Var::from_vec(data(2 * 3 * 11 * 5, 2), (2, 3, 11, 5), &dev).expect("k");
        let w = Tensor::new(data(2 * 3 * 11 * 11, 3), &dev).expect("w").reshape((2, 3, 11, 11)).expect("w");
        let run = |f: &dyn Fn(&Tensor, &Tensor) -> Tensor| {
            let y = f(q.as_tensor(), &k.t().expect("t"));
            // The gradient arrives through a transpose, as it does in attention.
            let loss = (y.transpose(1, 2).expect("t") * w.transpose(1, 2).expect("t"))
                .expect("mul")
                .sum_all()
                .expect("sum");
            let grads = loss.backward().expect("backward");
            let flat = |t: &Tensor| t.flatten_all().expect("flat").to_vec1::<f32>().expect("vec");
            [flat(&y), flat(grads.get(&q).expect("dq")), flat(grads.get(&k).expect("dk"))]
        };
        let ours = run(&|a, b| matmul(a, b).expect("ours"));
        let theirs = run(&|a, b| a.matmul(b).expect("candle"));
        for (x, y) in ours.iter().zip(&theirs) {
            let worst = x.iter().zip(y).map(|(p, q)| (p - q).abs()).fold(0f32, f32::max);
            assert!(worst < 1e-4, "differs by {worst}");
            assert!(x.iter().any(|v| v.abs() > 1e-2), "must not vanish");
        }
    }

    #[test]
    fn dense_matches_candle_in_values_and_all_three_gradients_with_each_epilogue() {
        let dev = Device::Cpu;
        // Leading dimensions [2, 7], 37 inputs, 19 outputs: rows and columns off the tile edges.
        let x = Var::from_vec(values(2 * 7 * 37, 1), (2, 7, 37), &dev).expect("x");
        let w = Var::from_vec(values(19 * 37, 2), (19, 37), &dev).expect("w");
        let b = Var::from_vec(values(19, 3), 19, &dev).expect("b");
        let upstream = Tensor::from_vec(values(2 * 7 * 19, 4), (2, 7, 19), &dev).expect("u");
        let run = |f: &dyn Fn() -> Tensor| output_and_gradients(&f(), &upstream, &[&x, &w, &b]);
        let seed = crate::model::dropout::Dropout::seeded(9).draw(0.4).expect("seed");
        for epilogue in [Epilogue::Nothing, Epilogue::Gelu, Epilogue::Dropout(seed)] {
            let ours = run(&|| dense(&x, &w, &b, epilogue).expect("ours"));
            let theirs = run(&|| {
                let y = x.broadcast_matmul(&w.t().expect("t")).expect("mm").broadcast_add(&b).expect("add");
                match epilogue {
                    Epilogue::Nothing => y,
                    Epilogue::Gelu => y.gelu_erf().expect("gelu"),
                    Epilogue::Dropout(seed) => seed.apply(&y).expect("dropout"),
                }
            });
            assert_agree(&["y", "dx", "dw", "db"], &ours, &theirs, 1e-4, &format!("with {epilogue:?}"));
        }
    }

    #[test]
    fn layer_norm_matches_composed_ops_in_values_and_all_three_gradients() {
        let dev = Device::Cpu;
        // 3 × 29 rows: more than one block of rows, and a short last block; rows of spread 3.
        let spread = |v: Vec<f32>| v.into_iter().map(|v| 3.0 * v).collect::<Vec<_>>();
        let x = Var::from_vec(spread(values(3 * 29 * 37, 1)), (3, 29, 37), &dev).expect("x");
        let w = Var::from_vec(spread(values(37, 2)), 37, &dev).expect("w");
        let b = Var::from_vec(spread(values(37, 3)), 37, &dev).expect("b");
        let upstream = Tensor::from_vec(spread(values(3 * 29 * 37, 4)), (3, 29, 37), &dev).expect("u");
        let run = |f: &dyn Fn() -> Tensor| output_and_gradients(&f(), &upstream, &[&x, &w, &b]);
        let ours = run(&|| layer_norm(&x, &w, &b, 1e-12).expect("ours"));
        let theirs = run(&|| {
            let c = x.broadcast_sub(&x.mean_keepdim(D::Minus1).expect("m")).expect("c");
            let v = c.sqr().expect("s").mean_keepdim(D::Minus1).expect("v");
            let normed = c.broadcast_div(&(v + 1e-12).expect("e").sqrt().expect("r")).expect("d");
            normed.broadcast_mul(&w).expect("w").broadcast_add(&b).expect("b")
        });
        assert_agree(&["y", "dx", "dw", "db"], &ours, &theirs, 1e-4, "");
    }

    #[test]
    fn reductions_give_the_same_bits_on_any_number_of_threads() {
        // Many blocks of rows, values of very different sizes: a sum whose order changes
        // rounds differently.
        let dev = Device::Cpu;
        let rows = 64 * LAYER_NORM_ROWS + 5;
        let wide: Vec<f32> =
            values(rows * 37, 7).iter().enumerate().map(|(i, v)| v * (1 + i % 997) as f32).collect();
        let x = Var::from_vec(wide.clone(), (rows, 37), &dev).expect("x");
        let w = Var::from_vec(values(37, 2), 37, &dev).expect("w");
        let b = Var::from_vec(values(37, 3), 37, &dev).expect("b");
        let upstream = Tensor::from_vec(wide, (rows, 37), &dev).expect("u");
        let reduce = || {
            let grads =
                output_and_gradients(&layer_norm(&x, &w, &b, 1e-12).expect("ln"), &upstream, &[&w, &b]);
            let squares = sum_of_squares(&upstream).expect("sum of squares");
            (grads, squares.to_bits())
        };
        let on = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("a thread pool");
            pool.install(reduce)
        };
        let first = on(1);
        for threads in [2, 3, 4, 7] {
            for _ in 0..3 {
                assert!(on(threads) == first, "the reductions differ on {threads} threads");
            }
        }
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
