//! Token attributions by integrated gradients (Sundararajan et al., 2017): how much each token
//! moved the output from what the model says of a baseline input to what it says of this one.
//! The path runs in the space of the word vectors (what the embedding layer looks up), from the
//! baseline's to the input's, and the gradient of the output is averaged along it (midpoint
//! rule, `steps` points). Completeness: the attributions add up to `f(input) − f(baseline)`,
//! up to the error of the rule, which shrinks as `steps` grows.

use candle_core::{D, DType, Tensor, Var};

use crate::config::HeadKind;
use crate::data::batch::Batch;
use crate::error::{Error, Result};
use crate::model::dropout::Dropout;
use crate::model::encoder::Input;
use crate::model::heads::TaskModel;

/// What the path starts from. `[CLS]`, `[SEP]` and other specials keep their own vectors in
/// both: the attributions are the text's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Baseline {
    /// Every text token replaced by `[PAD]` (a sentence that says nothing).
    #[default]
    Pad,
    /// Every text token's word vector set to zero.
    Zero,
}

impl Baseline {
    pub fn describe(self) -> &'static str {
        match self {
            Self::Pad => "[PAD] baseline",
            Self::Zero => "zero baseline",
        }
    }
}

/// The output explained: a class, label or tag (value 0 for regression), at one token for
/// tagging.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Target {
    pub class: usize,
    pub token: Option<usize>,
}

/// One input's attributions.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Attribution {
    pub target: Target,
    pub baseline: Baseline,
    pub steps: usize,
    /// One per token (specials: 0): its share of `at_input − at_baseline`.
    pub per_token: Vec<f64>,
    /// The explained output for the input and for the baseline: a probability (a value in the
    /// targets' units for regression).
    pub at_input: f64,
    pub at_baseline: f64,
}

impl Attribution {
    pub fn total(&self) -> f64 {
        self.per_token.iter().sum()
    }

    /// How far the attributions are from adding up to the change they explain.
    pub fn completeness_gap(&self) -> f64 {
        (self.total() - (self.at_input - self.at_baseline)).abs()
    }
}

/// One tokenized input.
#[derive(Debug, Clone, Copy)]
pub struct Example<'a> {
    pub ids: &'a [u32],
    pub type_ids: &'a [u32],
    /// Tokens that keep their vector in the baseline (the specials).
    pub special: &'a [bool],
}

/// Interpolated inputs per forward pass.
const CHUNK: usize = 16;

/// Integrated gradients of `target`'s output for `example` under `model` (no dropout).
pub fn integrated_gradients(
    model: &TaskModel,
    example: &Example,
    pad_id: u32,
    target: Target,
    baseline: Baseline,
    steps: usize,
) -> Result<Attribution> {
    let len = example.ids.len();
    if steps == 0 || len == 0 || example.type_ids.len() != len || example.special.len() != len {
        return Err(Error::Config(format!("integrated gradients of {len} tokens in {steps} steps")));
    }
    let device = model.encoder.word_embeddings().device().clone();
    let ids = Tensor::new(example.ids, &device)?.unsqueeze(0)?;
    let input = model.encoder.word_vectors(&ids)?.detach();
    let keep: Vec<f32> = example.special.iter().map(|&s| if s { 1.0 } else { 0.0 }).collect();
    let keep = Tensor::from_vec(keep, (1, len, 1), &device)?;
    let start = match baseline {
        Baseline::Pad => {
            let pads = Tensor::new(vec![pad_id; len].as_slice(), &device)?.unsqueeze(0)?;
            let pads = model.encoder.word_vectors(&pads)?.detach();
            (input.broadcast_mul(&keep)? + pads.broadcast_mul(&(1.0 - &keep)?)?)?
        }
        Baseline::Zero => input.broadcast_mul(&keep)?,
    };
    let path = (&input - &start)?;
    let output = |vectors: &Tensor| -> Result<Tensor> {
        let n = vectors.dim(0)?;
        let batch = repeated_batch(example, n, &device)?;
        let scores = model.forward_input(Input::WordVectors(vectors), &batch, &mut Dropout::off(), false)?;
        explained_output(model, &scores.scores, target)
    };
    let mut gradient_sum = Tensor::zeros((len, input.dim(2)?), DType::F32, &device)?;
    for first in (0..steps).step_by(CHUNK) {
        let n = CHUNK.min(steps - first);
        let alphas: Vec<f32> = (first..first + n).map(|k| ((k as f64 + 0.5) / steps as f64) as f32).collect();
        let alphas = Tensor::from_vec(alphas, (n, 1, 1), &device)?;
        let points = Var::from_tensor(&start.broadcast_add(&path.broadcast_mul(&alphas)?)?)?;
        let grads = output(points.as_tensor())?.sum_all()?.backward()?;
        let grad = grads
            .get(points.as_tensor())
            .ok_or_else(|| Error::Config("the model's output does not depend on its word vectors".into()))?;
        gradient_sum = (gradient_sum + grad.sum(0)?)?;
    }
    let per_token: Vec<f32> = (path.squeeze(0)? * (gradient_sum / steps as f64)?)?.sum(1)?.to_vec1()?;
    let ends = output(&Tensor::cat(&[&input, &start], 0)?)?.to_vec1::<f32>()?;
    Ok(Attribution {
        target,
        baseline,
        steps,
        per_token: per_token.into_iter().map(f64::from).collect(),
        at_input: f64::from(ends[0]),
        at_baseline: f64::from(ends[1]),
    })
}

/// `n` copies of the example's segments and attention mask (the ids are not read).
fn repeated_batch(example: &Example, n: usize, device: &candle_core::Device) -> Result<Batch> {
    let len = example.ids.len();
    let types = Tensor::from_vec(example.type_ids.repeat(n), (n, len), device)?;
    Ok(Batch {
        input_ids: types.zeros_like()?,
        type_ids: types,
        attention_mask: Tensor::ones((n, len), DType::F32, device)?,
        labels: Tensor::zeros(n, DType::U32, device)?,
        label_mask: None,
    })
}

/// The output being explained, per row of `scores`: the class's softmax probability, the
/// label's sigmoid, the value in the targets' units, or the tag's probability at the token.
pub fn explained_output(model: &TaskModel, scores: &Tensor, target: Target) -> Result<Tensor> {
    // Composed of candle's differentiable ops: the fused `softmax_last_dim` and `sigmoid` of
    // candle-nn pass no gradient back.
    let class = |t: &Tensor| -> Result<Tensor> { Ok(t.narrow(1, target.class, 1)?.squeeze(1)?) };
    let softmax = |t: &Tensor| -> Result<Tensor> { Ok(candle_nn::ops::softmax(t, D::Minus1)?) };
    Ok(match model.head {
        HeadKind::SeqCls => class(&softmax(scores)?)?,
        HeadKind::MultiLabel => (class(scores)?.neg()?.exp()? + 1.0)?.recip()?,
        HeadKind::Regression => class(scores)?.affine(model.scale.std, model.scale.mean)?,
        HeadKind::TokenCls => {
            let token = target.token.ok_or_else(|| Error::Config("a tag is explained at a token".into()))?;
            class(&softmax(&scores.narrow(1, token, 1)?.squeeze(1)?)?)?
        }
    })
}

#[cfg(test)]
mod tests {
    use candle_core::Device;
    use candle_nn::{VarBuilder, VarMap};

    use super::*;
    use crate::model::EncoderConfig;
    use crate::model::heads::Freeze;
    use crate::model::params::init_seeded;

    /// A small random model whose outputs vary with its input (weights far from BERT's tiny
    /// initial ones, so that the path is curved and the rule's error shows).
    fn model(head: HeadKind, outputs: usize) -> (VarMap, TaskModel) {
        let config = EncoderConfig::tiny(30, 16, 2, 2);
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        let model = TaskModel::load(vb, &config, head, outputs, Freeze::default()).expect("model");
        init_seeded(&varmap, 0.4, 0, 7, |_| true).expect("init");
        (varmap, model)
    }

    fn example() -> (Vec<u32>, Vec<u32>, Vec<bool>) {
        let ids = vec![2, 11, 17, 5, 23, 9, 3];
        let special = ids.iter().map(|&i| i == 2 || i == 3).collect();
        (ids.clone(), vec![0; ids.len()], special)
    }

    fn attribute(model: &TaskModel, target: Target, baseline: Baseline, steps: usize) -> Attribution {
        let (ids, type_ids, special) = example();
        let ex = Example { ids: &ids, type_ids: &type_ids, special: &special };
        // Token 1 plays [PAD] (row 0 is zero, which would make the two baselines one).
        integrated_gradients(model, &ex, 1, target, baseline, steps).expect("attributions")
    }

    #[test]
    fn attributions_add_up_to_the_change_closer_as_the_steps_grow() {
        for (head, outputs, token) in
            [(HeadKind::SeqCls, 3, None), (HeadKind::TokenCls, 4, Some(2)), (HeadKind::Regression, 1, None)]
        {
            let (_vars, model) = model(head, outputs);
            let target = Target { class: 0, token };
            let coarse = attribute(&model, target, Baseline::Pad, 2);
            let fine = attribute(&model, target, Baseline::Pad, 64);
            let change = fine.at_input - fine.at_baseline;
            assert!(change.abs() > 1e-3, "{head:?}: the input must move the output ({change})");
            // Same ends, whatever the steps.
            assert!((coarse.at_input - fine.at_input).abs() < 1e-6);
            assert!(fine.completeness_gap() < 0.02 * change.abs(), "{head:?}: {} vs {change}", fine.total());
            assert!(
                fine.completeness_gap() < coarse.completeness_gap(),
                "{head:?}: {} (64 steps) vs {} (2 steps)",
                fine.completeness_gap(),
                coarse.completeness_gap()
            );
        }
    }

    #[test]
    fn specials_get_nothing_and_the_baselines_differ() {
        let (_vars, model) = model(HeadKind::SeqCls, 2);
        let target = Target { class: 1, token: None };
        let pad = attribute(&model, target, Baseline::Pad, 32);
        let zero = attribute(&model, target, Baseline::Zero, 32);
        assert_eq!(pad.per_token.len(), 7);
        assert_eq!((pad.per_token[0], pad.per_token[6]), (0.0, 0.0));
        assert!(pad.per_token[1..6].iter().any(|a| a.abs() > 1e-6), "{:?}", pad.per_token);
        assert_eq!(pad.at_input, zero.at_input);
        assert_ne!(pad.at_baseline, zero.at_baseline);
    }

    #[test]
    fn zero_steps_are_refused() {
        let (_vars, model) = model(HeadKind::SeqCls, 2);
        let (ids, type_ids, special) = example();
        let ex = Example { ids: &ids, type_ids: &type_ids, special: &special };
        let target = Target { class: 0, token: None };
        assert!(integrated_gradients(&model, &ex, 0, target, Baseline::Pad, 0).is_err());
    }
}
