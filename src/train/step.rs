//! One optimiser step: forward and backward over micro-batches, gradient accumulation,
//! clipping, and the AdamW update. Every task's step (fine-tuning, masked-LM) and the
//! benchmark go through `accumulated_step`.

use candle_core::Tensor;

use super::event::GpuMemory;
use super::lifecycle::gpu_memory;
use super::optim::{AdamW, Gradients, accumulate, clip_factor, global_norm};
use crate::data::Encoded;
use crate::data::batch::Batcher;
use crate::error::Result;
use crate::model::dropout::Dropout;
use crate::model::heads::TaskModel;

/// What one step did.
#[derive(Debug, Clone, Copy)]
pub struct StepOutcome {
    /// Mean training loss over the step's examples.
    pub loss: f64,
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
    /// The GPU's memory after the step, when it ran on one.
    pub gpu_memory: Option<GpuMemory>,
}

impl StepOutcome {
    /// A NaN or infinite loss or gradient: the update was not applied.
    pub fn diverged(&self) -> bool {
        !(self.loss.is_finite() && self.grad_norm.is_finite())
    }
}

/// How a step splits and clips: settings that do not change during a run.
#[derive(Debug, Clone, Copy)]
pub struct Accumulation {
    /// Examples per micro-batch; a step covers all the `indices` it is given.
    pub batch_size: usize,
    /// Clip the global gradient norm to this (0 = no clipping).
    pub max_grad_norm: f64,
}

/// A fine-tuning step's settings: the batcher that pads its micro-batches, and how it
/// accumulates.
pub struct StepSettings<'a> {
    pub batcher: &'a Batcher,
    pub accumulation: Accumulation,
}

/// One optimiser step over the examples at `indices`, in micro-batches of `batch_size` whose
/// gradients are summed, each weighted by its share of the examples (as the Hugging Face
/// Trainer does). `loss_of(micro)` is the mean loss of the micro-batch of those examples; for a
/// masked LM that is a mean over its masked tokens, so micro-batches with more of them weigh
/// no more than others. A diverged step leaves the parameters untouched.
pub fn accumulated_step(
    indices: &[usize],
    settings: Accumulation,
    opt: &mut AdamW,
    lr: f64,
    mut loss_of: impl FnMut(&[usize]) -> Result<Tensor>,
) -> Result<StepOutcome> {
    let mut grads = Gradients::new();
    let mut loss = 0f64;
    let mut device = None;
    for micro in indices.chunks(settings.batch_size.max(1)) {
        let micro_loss = loss_of(micro)?;
        device.get_or_insert_with(|| micro_loss.device().clone());
        let value = f64::from(micro_loss.to_scalar::<f32>()?);
        let weight = micro.len() as f64 / indices.len() as f64;
        loss += value * weight;
        if !value.is_finite() {
            return Ok(StepOutcome { loss: value, grad_norm: f64::NAN, gpu_memory: None });
        }
        accumulate(&mut grads, opt.gradients(&(micro_loss * weight)?.backward()?))?;
    }
    let grad_norm = global_norm(&grads)?;
    let mut outcome = StepOutcome { loss, grad_norm, gpu_memory: None };
    if !outcome.diverged() {
        opt.step(&grads, lr, clip_factor(grad_norm, settings.max_grad_norm))?;
    }
    outcome.gpu_memory = device.as_ref().and_then(gpu_memory);
    Ok(outcome)
}

/// A fine-tuning step of `model` over the examples of `set` at `indices`.
pub fn optimizer_step(
    model: &TaskModel,
    set: &Encoded,
    indices: &[usize],
    settings: &StepSettings,
    opt: &mut AdamW,
    dropout: &mut Dropout,
    lr: f64,
) -> Result<StepOutcome> {
    accumulated_step(indices, settings.accumulation, opt, lr, |micro| {
        let batch = settings.batcher.make(&set.seqs, &set.targets, micro)?;
        let scores = model.forward(&batch, dropout)?;
        model.loss(&scores, &batch)
    })
}
