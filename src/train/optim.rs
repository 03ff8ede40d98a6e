//! `AdamW` with decoupled weight decay (as `torch.optim.AdamW`), weight decay off for biases and
//! `LayerNorm` parameters, global-norm gradient clipping, and gradient accumulation.
//!
//! On the CPU each parameter is updated in place by one fused parallel pass (moments kept as
//! plain vectors); composed of tensor ops, the same update allocated and walked ~15 tensors the
//! size of every parameter (the word embeddings: 12M values) at every step. Other devices use
//! the composed ops (same maths).

use std::cell::RefCell;
use std::collections::BTreeMap;

use candle_core::backprop::GradStore;
use candle_core::{CpuStorage, InplaceOp2, Layout, Tensor, Var, bail};
use rayon::prelude::*;

use crate::error::Result;
use crate::model::ops::sum_of_squares;

/// First and second moment estimates of one parameter.
enum Moments {
    /// CPU parameters: updated by `FusedUpdate`.
    Host {
        m: Vec<f32>,
        v: Vec<f32>,
    },
    Device {
        m: Tensor,
        v: Tensor,
    },
}

struct Slot {
    var: Var,
    moments: Moments,
    decay: bool,
}

/// One moment of one parameter, as saved: host values with their shape, or a device tensor.
pub enum Moment<'a> {
    Host(&'a [f32], Vec<usize>),
    Device(&'a Tensor),
}

/// Gradients keyed by parameter name, in name order: every sum over them (the global norm)
/// adds in the same order in every run.
pub type Gradients = BTreeMap<String, Tensor>;

pub struct AdamW {
    slots: Vec<(String, Slot)>,
    beta1: f64,
    beta2: f64,
    eps: f64,
    weight_decay: f64,
    steps: i32,
}

/// Biases and `LayerNorm` parameters are not decayed (the usual BERT recipe).
pub fn decays(name: &str) -> bool {
    !(name.ends_with("bias") || name.contains("LayerNorm"))
}

/// The scalars of one update of one parameter.
#[derive(Clone, Copy)]
struct Update {
    lr: f32,
    beta1: f32,
    beta2: f32,
    /// Bias corrections `1 - βᵗ`.
    correction1: f32,
    correction2: f32,
    eps: f32,
    /// `1 - lr · weight_decay`, or 1 where the parameter is not decayed.
    keep: f32,
    /// Multiplies the gradient (clipping).
    grad_scale: f32,
}

impl Update {
    fn apply(&self, p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32]) {
        for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
            let g = g * self.grad_scale;
            *m = self.beta1 * *m + (1.0 - self.beta1) * g;
            *v = self.beta2 * *v + (1.0 - self.beta2) * g * g;
            let step = (*m / self.correction1) / ((*v / self.correction2).sqrt() + self.eps);
            *p = *p * self.keep - self.lr * step;
        }
    }
}

/// Values per parallel task of the fused update.
const UPDATE_CHUNK: usize = 1 << 14;

/// The in-place update of a contiguous f32 CPU parameter from its gradient.
struct FusedUpdate<'a> {
    update: Update,
    m: RefCell<&'a mut [f32]>,
    v: RefCell<&'a mut [f32]>,
}

impl InplaceOp2 for FusedUpdate<'_> {
    fn name(&self) -> &'static str {
        "bertbench-adamw"
    }

    fn cpu_fwd(
        &self,
        s1: &mut CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<()> {
        let (CpuStorage::F32(p), CpuStorage::F32(g)) = (s1, s2) else {
            bail!("adamw updates f32 parameters")
        };
        let (Some((p0, p1)), Some((g0, g1))) = (l1.contiguous_offsets(), l2.contiguous_offsets()) else {
            bail!("adamw updates contiguous parameters")
        };
        let (p, g) = (&mut p[p0..p1], &g[g0..g1]);
        let (mut m, mut v) = (self.m.borrow_mut(), self.v.borrow_mut());
        if p.len() != g.len() || p.len() != m.len() || p.len() != v.len() {
            bail!("adamw: parameter, gradient and moments differ in size");
        }
        let update = self.update;
        p.par_chunks_mut(UPDATE_CHUNK)
            .zip(g.par_chunks(UPDATE_CHUNK))
            .zip(m.par_chunks_mut(UPDATE_CHUNK).zip(v.par_chunks_mut(UPDATE_CHUNK)))
            .for_each(|((p, g), (m, v))| update.apply(p, g, m, v));
        Ok(())
    }
}

impl AdamW {
    /// `params`: the trainable variables with their names.
    pub fn new(params: Vec<(String, Var)>, weight_decay: f64) -> Result<Self> {
        Self::with_fusion(params, weight_decay, true)
    }

    /// `fuse`: update f32 CPU parameters with the fused kernel (the composed ops otherwise).
    fn with_fusion(params: Vec<(String, Var)>, weight_decay: f64, fuse: bool) -> Result<Self> {
        let slots = params
            .into_iter()
            .map(|(name, var)| {
                let fused = fuse && var.device().is_cpu() && var.dtype() == candle_core::DType::F32;
                let moments = if fused {
                    Moments::Host { m: vec![0.0; var.elem_count()], v: vec![0.0; var.elem_count()] }
                } else {
                    Moments::Device { m: var.zeros_like()?, v: var.zeros_like()? }
                };
                Ok((name.clone(), Slot { moments, decay: decays(&name), var }))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { slots, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay, steps: 0 })
    }

    /// Updates applied so far (the bias corrections depend on it).
    pub fn steps(&self) -> i32 {
        self.steps
    }

    /// Each trainable parameter's moments (first, second), by name, for saving.
    pub fn moments(&self) -> Vec<(&str, [Moment<'_>; 2])> {
        self.slots
            .iter()
            .map(|(name, slot)| {
                let moments = match &slot.moments {
                    Moments::Host { m, v } => {
                        let shape = slot.var.dims().to_vec();
                        [Moment::Host(m, shape.clone()), Moment::Host(v, shape)]
                    }
                    Moments::Device { m, v } => [Moment::Device(m), Moment::Device(v)],
                };
                (name.as_str(), moments)
            })
            .collect()
    }

    /// Each trainable parameter's shape, by name.
    pub fn shapes(&self) -> Vec<(String, Vec<usize>)> {
        self.slots.iter().map(|(name, slot)| (name.clone(), slot.var.dims().to_vec())).collect()
    }

    /// Puts back a saved state: the step count, and each moment from `saved(name, "m" | "v")`.
    pub fn restore(
        &mut self,
        steps: i32,
        mut saved: impl FnMut(&str, &str) -> Result<Vec<f32>>,
    ) -> Result<()> {
        for (name, slot) in &mut self.slots {
            let (m, v) = (saved(name, "m")?, saved(name, "v")?);
            match &mut slot.moments {
                Moments::Host { m: host_m, v: host_v } => (*host_m, *host_v) = (m, v),
                Moments::Device { m: device_m, v: device_v } => {
                    let (shape, device) = (slot.var.dims().to_vec(), slot.var.device().clone());
                    *device_m = Tensor::from_vec(m, shape.as_slice(), &device)?;
                    *device_v = Tensor::from_vec(v, shape.as_slice(), &device)?;
                }
            }
        }
        self.steps = steps;
        Ok(())
    }

    pub fn parameter_count(&self) -> usize {
        self.slots.iter().map(|(_, s)| s.var.elem_count()).sum()
    }

    /// Gradients of the trainable variables, keyed by name (missing ones are skipped).
    pub fn gradients(&self, grads: &GradStore) -> Gradients {
        self.slots
            .iter()
            .filter_map(|(name, s)| grads.get(s.var.as_tensor()).map(|g| (name.clone(), g.clone())))
            .collect()
    }

    /// Applies one update with learning rate `lr` to gradients multiplied by `grad_scale`
    /// (the clipping factor, see `clip_factor`).
    pub fn step(&mut self, grads: &Gradients, lr: f64, grad_scale: f64) -> Result<()> {
        self.steps += 1;
        let (b1, b2) = (self.beta1, self.beta2);
        let correction1 = 1.0 - b1.powi(self.steps);
        let correction2 = 1.0 - b2.powi(self.steps);
        for (name, slot) in &mut self.slots {
            let Some(g) = grads.get(name) else { continue };
            let keep = if slot.decay { 1.0 - lr * self.weight_decay } else { 1.0 };
            match &mut slot.moments {
                Moments::Host { m, v } => {
                    let update = Update {
                        lr: lr as f32,
                        beta1: b1 as f32,
                        beta2: b2 as f32,
                        correction1: correction1 as f32,
                        correction2: correction2 as f32,
                        eps: self.eps as f32,
                        keep: keep as f32,
                        grad_scale: grad_scale as f32,
                    };
                    let op = FusedUpdate { update, m: RefCell::new(m), v: RefCell::new(v) };
                    slot.var.as_tensor().inplace_op2(&g.contiguous()?, &op)?;
                }
                Moments::Device { m, v } => {
                    let g = (g * grad_scale)?;
                    *m = ((&*m * b1)? + (&g * (1.0 - b1))?)?;
                    *v = ((&*v * b2)? + (g.sqr()? * (1.0 - b2))?)?;
                    let update = ((&*m / correction1)? / ((&*v / correction2)?.sqrt()? + self.eps)?)?;
                    let decayed = (slot.var.as_tensor() * keep)?;
                    slot.var.set(&(decayed - (update * lr)?)?)?;
                }
            }
        }
        Ok(())
    }
}

/// The global L2 norm of `grads`, summed in name order (so that it is the same number in every
/// process: a hash map's order changes from one process to the next).
pub fn global_norm(grads: &Gradients) -> Result<f64> {
    let mut total = 0f64;
    for g in grads.values() {
        total += f64::from(sum_of_squares(g)?);
    }
    Ok(total.sqrt())
}

/// The factor that brings gradients of global norm `norm` down to `max_norm` when above it
/// (`max_norm` 0: no clipping).
pub fn clip_factor(norm: f64, max_norm: f64) -> f64 {
    if max_norm > 0.0 && norm > max_norm { max_norm / (norm + 1e-6) } else { 1.0 }
}

/// Adds `more` into `sum` (gradient accumulation over micro-batches).
pub fn accumulate(sum: &mut Gradients, more: Gradients) -> Result<()> {
    for (name, g) in more {
        let merged = match sum.remove(&name) {
            Some(s) => (s + g)?,
            None => g,
        };
        sum.insert(name, merged);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn first_step_moves_each_weight_by_lr_against_the_gradient_sign() {
        let w = Var::from_vec(vec![1.0f32, -2.0], 2, &Device::Cpu).expect("var");
        let b = Var::from_vec(vec![0.5f32], 1, &Device::Cpu).expect("var");
        let mut opt =
            AdamW::new(vec![("w".into(), w.clone()), ("x.bias".into(), b.clone())], 0.1).expect("opt");
        let grads = Gradients::from([
            ("w".to_owned(), Tensor::new(&[0.3f32, -4.0], &Device::Cpu).expect("g")),
            ("x.bias".to_owned(), Tensor::new(&[1.0f32], &Device::Cpu).expect("g")),
        ]);
        opt.step(&grads, 0.01, 1.0).expect("step");
        // Adam's first step is lr * sign(g); decay multiplies w by (1 - lr * wd) first.
        let w_new = w.to_vec1::<f32>().expect("w");
        assert!((w_new[0] - (1.0 * 0.999 - 0.01)).abs() < 1e-6, "{w_new:?}");
        assert!((w_new[1] - (-2.0 * 0.999 + 0.01)).abs() < 1e-6, "{w_new:?}");
        // Biases are not decayed.
        assert!((b.to_vec1::<f32>().expect("b")[0] - 0.49).abs() < 1e-6);
    }

    #[test]
    fn clipping_scales_to_the_max_norm() {
        let grads = Gradients::from([
            ("a".to_owned(), Tensor::new(&[3.0f32], &Device::Cpu).expect("g")),
            ("b".to_owned(), Tensor::new(&[[4.0f32]], &Device::Cpu).expect("g")),
        ]);
        let norm = global_norm(&grads).expect("norm");
        assert!((norm - 5.0).abs() < 1e-6);
        assert!((clip_factor(norm, 1.0) - 0.2).abs() < 1e-6);
        assert_eq!(clip_factor(norm, 10.0), 1.0);
        assert_eq!(clip_factor(norm, 0.0), 1.0, "0 turns clipping off");
    }

    #[test]
    fn the_fused_update_follows_the_composed_ops_over_several_steps() {
        let dev = Device::Cpu;
        let values = |n: usize, s: usize| {
            (0..n).map(|i| (((i + s) * 7919) % 113) as f32 / 56.0 - 1.0).collect::<Vec<f32>>()
        };
        let params = || {
            vec![
                ("layer.weight".to_owned(), Var::from_vec(values(40_000, 1), (200, 200), &dev).expect("w")),
                ("layer.bias".to_owned(), Var::from_vec(values(200, 2), 200, &dev).expect("b")),
            ]
        };
        let (fused_params, composed_params) = (params(), params());
        let mut fused = AdamW::with_fusion(fused_params.clone(), 0.01, true).expect("fused");
        let mut composed = AdamW::with_fusion(composed_params.clone(), 0.01, false).expect("composed");
        assert!(matches!(fused.slots[0].1.moments, Moments::Host { .. }));
        assert!(matches!(composed.slots[0].1.moments, Moments::Device { .. }));
        for step in 0..4 {
            let grads = Gradients::from([
                (
                    "layer.weight".to_owned(),
                    Tensor::from_vec(values(40_000, step + 3), (200, 200), &dev).expect("g"),
                ),
                ("layer.bias".to_owned(), Tensor::from_vec(values(200, step + 5), 200, &dev).expect("g")),
            ]);
            let scale = 0.5 + step as f64 * 0.25;
            fused.step(&grads, 1e-2, scale).expect("fused step");
            composed.step(&grads, 1e-2, scale).expect("composed step");
        }
        for ((name, a), (_, b)) in fused_params.iter().zip(&composed_params) {
            let (a, b) = (
                a.flatten_all().expect("a").to_vec1::<f32>().expect("a"),
                b.flatten_all().expect("b").to_vec1::<f32>().expect("b"),
            );
            let worst = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
            assert!(worst < 1e-5, "{name}: differs by {worst}");
            let start = values(a.len(), if name.ends_with("bias") { 2 } else { 1 });
            let moved = a.iter().zip(&start).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
            assert!(moved > 1e-2, "{name}: did not move ({moved})");
        }
    }
}
