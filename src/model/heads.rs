//! Task heads on top of the encoder, as Hugging Face builds them: `…ForSequenceClassification`
//! (the first token's state through the family's pooler → dropout → linear) for single-label,
//! multi-label and regression heads; `…ForTokenClassification` (each token's hidden state →
//! dropout → linear) for tagging. Each head has its own loss. Parameter names are BERT's;
//! `family.rs` gives each family's.

use candle_core::{D, Tensor};
use candle_nn::VarBuilder;

use super::dropout::Dropout;
use super::encoder::{Encoder, Input, Linear, Pass};
use super::encoder_config::EncoderConfig;
use crate::config::HeadKind;
use crate::data::batch::Batch;
use crate::error::Result;

/// Which parameters stay fixed while training.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Freeze {
    /// The whole encoder (only the head trains).
    pub encoder: bool,
    /// The embeddings and the bottom N layers.
    pub layers: usize,
}

impl Freeze {
    /// Whether the variable `name` is trained under this policy.
    pub fn trains(&self, name: &str) -> bool {
        let Some(rest) = name.strip_prefix("bert.") else {
            return true;
        };
        if self.encoder {
            return false;
        }
        if self.layers == 0 {
            return true;
        }
        // The embeddings, and ELECTRA's projection of them (`embeddings_project`).
        if rest.starts_with("embeddings") {
            return false;
        }
        rest.strip_prefix("encoder.layer.")
            .and_then(|r| r.split('.').next())
            .and_then(|i| i.parse::<usize>().ok())
            .is_none_or(|i| i >= self.layers)
    }
}

/// Regression targets are standardised for training (a head that starts near 0 cannot learn
/// to output years with small steps); the model's outputs are mapped back with these.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TargetScale {
    pub mean: f64,
    pub std: f64,
}

impl Default for TargetScale {
    fn default() -> Self {
        Self { mean: 0.0, std: 1.0 }
    }
}

impl TargetScale {
    /// How the regression head's parameter `name` maps between standardised outputs and the
    /// targets' units, as `x ↦ mul·x + add`: `value = mean + std·(w·h + b)` is the head
    /// `(std·w)·h + (std·b + mean)` (`to_units`), and back. `None` for other parameters.
    pub fn classifier_map(self, name: &str, to_units: bool) -> Option<(f64, f64)> {
        let (mean, std) = (self.mean, self.std);
        match (name, to_units) {
            ("classifier.weight", true) => Some((std, 0.0)),
            ("classifier.bias", true) => Some((std, mean)),
            ("classifier.weight", false) => Some((1.0 / std, 0.0)),
            ("classifier.bias", false) => Some((1.0 / std, -mean / std)),
            _ => None,
        }
    }

    /// Mean and standard deviation of `values` (a standard deviation of 1 when they are all equal).
    pub fn of(values: &[f32]) -> Self {
        let n = values.len().max(1) as f64;
        let mean = values.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        let var = values.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / n;
        let std = var.sqrt();
        Self { mean, std: if std > 1e-12 { std } else { 1.0 } }
    }
}

/// A head's raw scores (see `TaskModel::forward`) and, when asked for, the encoder's attention
/// probabilities: one `[B, heads, L, L]` tensor per layer.
pub struct Scored {
    pub scores: Tensor,
    pub attentions: Vec<Tensor>,
}

/// An encoder with a task head.
pub struct TaskModel {
    pub encoder: Encoder,
    classifier: Linear,
    dropout: f64,
    pub head: HeadKind,
    /// Outputs per example (classes, labels, 1 value) or per token (tags).
    pub num_outputs: usize,
    pub freeze: Freeze,
    /// Regression only: outputs are `scale.mean + scale.std × raw`.
    pub scale: TargetScale,
}

/// Variables a pretrained encoder may lack: they are initialised fresh.
pub const FRESH_OK: &[&str] = &["classifier.", "bert.pooler."];

impl TaskModel {
    pub fn load(
        vb: VarBuilder,
        config: &EncoderConfig,
        head: HeadKind,
        num_outputs: usize,
        freeze: Freeze,
    ) -> Result<Self> {
        Ok(Self {
            encoder: Encoder::load(vb.pp("bert"), config)?,
            classifier: Linear::load(vb.pp("classifier"), config.hidden_size, num_outputs)?,
            dropout: config.classifier_dropout(head),
            head,
            num_outputs,
            freeze,
            scale: TargetScale::default(),
        })
    }

    /// Raw scores: `[B, K]` logits, `[B, 1]` standardised values, or `[B, L, K]` per token.
    pub fn forward(&self, batch: &Batch, dropout: &mut Dropout) -> Result<Tensor> {
        Ok(self.forward_input(Input::Ids(&batch.input_ids), batch, dropout, false)?.scores)
    }

    /// `forward` from ids or word vectors (`batch.input_ids` is then unused); with
    /// `keep_attentions`, the attention probabilities too.
    pub fn forward_input(
        &self,
        input: Input,
        batch: &Batch,
        dropout: &mut Dropout,
        keep_attentions: bool,
    ) -> Result<Scored> {
        let mut pass = Pass { dropout, frozen_layers: self.freeze.layers, keep_attentions };
        let out = self.encoder.forward_input(input, &batch.type_ids, &batch.attention_mask, &mut pass)?;
        let mut features = if self.head == HeadKind::TokenCls {
            out.hidden
        } else {
            self.encoder.pool(&out.hidden, pass.dropout)?
        };
        if self.freeze.encoder {
            features = features.detach();
        }
        let features = pass.dropout.apply(&features, self.dropout)?;
        Ok(Scored { scores: self.classifier.forward(&features)?, attentions: out.attentions })
    }

    /// The head's mean loss: cross-entropy (classes; tags, over the tagged tokens), binary
    /// cross-entropy per label (label sets), squared error of standardised values (regression).
    pub fn loss(&self, scores: &Tensor, batch: &Batch) -> Result<Tensor> {
        let labels = &batch.labels;
        Ok(match self.head {
            HeadKind::SeqCls => candle_nn::loss::cross_entropy(scores, labels)?,
            HeadKind::MultiLabel => binary_cross_entropy_with_logits(scores, labels)?,
            HeadKind::Regression => {
                let target = ((labels - self.scale.mean)? / self.scale.std)?;
                candle_nn::loss::mse(&scores.squeeze(1)?, &target)?
            }
            HeadKind::TokenCls => {
                let k = scores.dim(D::Minus1)?;
                let log_probs = candle_nn::ops::log_softmax(&scores.reshape(((), k))?, D::Minus1)?;
                let picked = log_probs.gather(&labels.flatten_all()?.unsqueeze(1)?, 1)?.squeeze(1)?;
                let mask = match &batch.label_mask {
                    Some(m) => m.flatten_all()?,
                    None => picked.ones_like()?,
                };
                // Divided on the device: no copy back to the host on the training path.
                let count = mask.sum_all()?.clamp(1f32, f32::MAX)?;
                (picked * mask)?.sum_all()?.neg()?.div(&count)?
            }
        })
    }

    /// Regression outputs in the targets' own units.
    pub fn values(&self, scores: &Tensor) -> Result<Vec<f32>> {
        let raw = scores.squeeze(1)?.to_vec1::<f32>()?;
        Ok(raw.into_iter().map(|z| (self.scale.mean + self.scale.std * f64::from(z)) as f32).collect())
    }
}

/// Mean over all elements of `-[y log σ(x) + (1 − y) log(1 − σ(x))]`, computed stably as
/// `max(x, 0) − x·y + log(1 + e^(−|x|))`.
fn binary_cross_entropy_with_logits(logits: &Tensor, targets: &Tensor) -> candle_core::Result<Tensor> {
    let softplus = (logits.abs()?.neg()?.exp()? + 1.0)?.log()?;
    (logits.relu()? - (logits * targets)?)?.add(&softplus)?.mean_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_cross_entropy_matches_its_definition() {
        let x = Tensor::new(&[[2.0f32, -1.0], [0.0, 30.0]], &candle_core::Device::Cpu).expect("x");
        let y = Tensor::new(&[[1.0f32, 0.0], [1.0, 0.0]], &candle_core::Device::Cpu).expect("y");
        let got = binary_cross_entropy_with_logits(&x, &y).expect("bce").to_scalar::<f32>().expect("f32");
        let sig = |v: f64| 1.0 / (1.0 + (-v).exp());
        let want = (-(sig(2.0).ln()) - (1.0 - sig(-1.0)).ln() - sig(0.0).ln() + 30.0) / 4.0;
        assert!((f64::from(got) - want).abs() < 1e-4, "{got} vs {want}");
    }

    #[test]
    fn folding_the_scale_into_the_head_is_undone_exactly() {
        let s = TargetScale { mean: 1900.0, std: 30.0 };
        for name in ["classifier.weight", "classifier.bias"] {
            let (m1, a1) = s.classifier_map(name, true).expect("head");
            let (m2, a2) = s.classifier_map(name, false).expect("head");
            let x = 0.37;
            assert!((m2 * (m1 * x + a1) + a2 - x).abs() < 1e-9, "{name}");
        }
        // A head folded into units outputs what the standardised head's output means in units:
        // mean + std·(w·h + b).
        let (w, b, h) = (0.8, -0.3, 1.7);
        let (mw, aw) = s.classifier_map("classifier.weight", true).expect("weight");
        let (mb, ab) = s.classifier_map("classifier.bias", true).expect("bias");
        let folded = (mw * w + aw) * h + (mb * b + ab);
        assert!((folded - (1900.0 + 30.0 * (w * h + b))).abs() < 1e-9, "{folded}");
        assert!(s.classifier_map("bert.pooler.dense.weight", true).is_none());
    }

    #[test]
    fn token_loss_averages_over_the_tagged_tokens_only() {
        use candle_core::{DType, Device};
        let config = EncoderConfig::tiny(10, 8, 1, 2);
        let varmap = candle_nn::VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        let model = TaskModel::load(vb, &config, HeadKind::TokenCls, 2, Freeze::default()).expect("model");
        let scores = Tensor::new(&[[[2.0f32, 0.0], [5.0, -5.0], [0.0, 1.0]]], &Device::Cpu).expect("scores");
        let ids = Tensor::zeros((1, 3), DType::U32, &Device::Cpu).expect("ids");
        let batch = Batch {
            input_ids: ids.clone(),
            type_ids: ids,
            attention_mask: Tensor::ones((1, 3), DType::F32, &Device::Cpu).expect("mask"),
            labels: Tensor::new(&[[1u32, 1, 1]], &Device::Cpu).expect("labels"),
            label_mask: Some(Tensor::new(&[[1f32, 0.0, 1.0]], &Device::Cpu).expect("weights")),
        };
        let got = model.loss(&scores, &batch).expect("loss").to_scalar::<f32>().expect("f32");
        // Tokens 0 and 2, label 1: their negative log-softmax averaged; token 1 (weight 0) is left out.
        let nll = |a: f64, b: f64| -(b - (a.exp() + b.exp()).ln());
        let want = f64::midpoint(nll(2.0, 0.0), nll(0.0, 1.0));
        assert!((f64::from(got) - want).abs() < 1e-5, "{got} vs {want}");
    }

    #[test]
    fn target_scale_standardises() {
        let s = TargetScale::of(&[1.0, 3.0]);
        assert!((s.mean - 2.0).abs() < 1e-12 && (s.std - 1.0).abs() < 1e-12);
        assert!((TargetScale::of(&[5.0, 5.0]).std - 1.0).abs() < 1e-12);
    }

    #[test]
    fn freeze_policy_selects_the_right_variables() {
        let none = Freeze::default();
        assert!(none.trains("bert.embeddings.word_embeddings.weight"));
        let bottom = Freeze { encoder: false, layers: 2 };
        assert!(!bottom.trains("bert.embeddings.word_embeddings.weight"));
        assert!(!bottom.trains("bert.encoder.layer.1.output.dense.weight"));
        assert!(bottom.trains("bert.encoder.layer.2.output.dense.weight"));
        assert!(bottom.trains("bert.encoder.layer.11.output.dense.weight"));
        assert!(bottom.trains("bert.pooler.dense.weight"));
        assert!(bottom.trains("classifier.weight"));
        let all = Freeze { encoder: true, layers: 0 };
        assert!(!all.trains("bert.pooler.dense.weight"));
        assert!(all.trains("classifier.bias"));
    }
}
