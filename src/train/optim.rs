//! `AdamW` with decoupled weight decay (as `torch.optim.AdamW`), weight decay off for biases and
//! `LayerNorm` parameters, global-norm gradient clipping, and gradient accumulation.

use std::collections::HashMap;

use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};

use crate::error::Result;

struct Slot {
    var: Var,
    m: Tensor,
    v: Tensor,
    decay: bool,
}

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

impl AdamW {
    /// `params`: the trainable variables with their names.
    pub fn new(params: Vec<(String, Var)>, weight_decay: f64) -> Result<Self> {
        let slots = params
            .into_iter()
            .map(|(name, var)| {
                let slot = Slot { m: var.zeros_like()?, v: var.zeros_like()?, decay: decays(&name), var };
                Ok((name, slot))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { slots, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay, steps: 0 })
    }

    pub fn parameter_count(&self) -> usize {
        self.slots.iter().map(|(_, s)| s.var.elem_count()).sum()
    }

    /// Gradients of the trainable variables, keyed by name (missing ones are skipped).
    pub fn gradients(&self, grads: &GradStore) -> HashMap<String, Tensor> {
        self.slots
            .iter()
            .filter_map(|(name, s)| grads.get(s.var.as_tensor()).map(|g| (name.clone(), g.clone())))
            .collect()
    }

    /// Applies one update with learning rate `lr`.
    pub fn step(&mut self, grads: &HashMap<String, Tensor>, lr: f64) -> Result<()> {
        self.steps += 1;
        let (b1, b2) = (self.beta1, self.beta2);
        let correction1 = 1.0 - b1.powi(self.steps);
        let correction2 = 1.0 - b2.powi(self.steps);
        for (name, slot) in &mut self.slots {
            let Some(g) = grads.get(name) else { continue };
            slot.m = ((&slot.m * b1)? + (g * (1.0 - b1))?)?;
            slot.v = ((&slot.v * b2)? + (g.sqr()? * (1.0 - b2))?)?;
            let m_hat = (&slot.m / correction1)?;
            let v_hat = (&slot.v / correction2)?;
            let update = (m_hat / (v_hat.sqrt()? + self.eps)?)?;
            let decayed = if slot.decay && self.weight_decay > 0.0 {
                (slot.var.as_tensor() * (1.0 - lr * self.weight_decay))?
            } else {
                slot.var.as_tensor().clone()
            };
            slot.var.set(&(decayed - (update * lr)?)?)?;
        }
        Ok(())
    }
}

/// The global L2 norm of `grads`; when above `max_norm` (> 0) they are scaled down to it.
/// Returns the norm before clipping.
pub fn clip_grad_norm(grads: &mut HashMap<String, Tensor>, max_norm: f64) -> Result<f64> {
    let mut total = 0f64;
    for g in grads.values() {
        total += f64::from(g.sqr()?.sum_all()?.to_scalar::<f32>()?);
    }
    let norm = total.sqrt();
    if max_norm > 0.0 && norm > max_norm {
        let scale = max_norm / (norm + 1e-6);
        for g in grads.values_mut() {
            *g = (&*g * scale)?;
        }
    }
    Ok(norm)
}

/// Adds `more` into `sum` (gradient accumulation over micro-batches).
pub fn accumulate(sum: &mut HashMap<String, Tensor>, more: HashMap<String, Tensor>) -> Result<()> {
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
        let grads = HashMap::from([
            ("w".to_owned(), Tensor::new(&[0.3f32, -4.0], &Device::Cpu).expect("g")),
            ("x.bias".to_owned(), Tensor::new(&[1.0f32], &Device::Cpu).expect("g")),
        ]);
        opt.step(&grads, 0.01).expect("step");
        // Adam's first step is lr * sign(g); decay multiplies w by (1 - lr * wd) first.
        let w_new = w.to_vec1::<f32>().expect("w");
        assert!((w_new[0] - (1.0 * 0.999 - 0.01)).abs() < 1e-6, "{w_new:?}");
        assert!((w_new[1] - (-2.0 * 0.999 + 0.01)).abs() < 1e-6, "{w_new:?}");
        // Biases are not decayed.
        assert!((b.to_vec1::<f32>().expect("b")[0] - 0.49).abs() < 1e-6);
    }

    #[test]
    fn clipping_scales_to_the_max_norm() {
        let mut grads = HashMap::from([
            ("a".to_owned(), Tensor::new(&[3.0f32], &Device::Cpu).expect("g")),
            ("b".to_owned(), Tensor::new(&[4.0f32], &Device::Cpu).expect("g")),
        ]);
        let norm = clip_grad_norm(&mut grads, 1.0).expect("clip");
        assert!((norm - 5.0).abs() < 1e-6);
        let a = grads["a"].to_vec1::<f32>().expect("a")[0];
        assert!((a - 0.6).abs() < 1e-5, "{a}");
        let norm_after = clip_grad_norm(&mut grads, 0.0).expect("no clip");
        assert!((norm_after - 1.0).abs() < 1e-5);
    }
}
