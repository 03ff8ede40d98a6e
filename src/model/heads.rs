//! Task heads on top of the encoder. The sequence classifier mirrors Hugging Face's
//! `BertForSequenceClassification`: pooled `[CLS]` → dropout → linear.

use candle_core::Tensor;
use candle_nn::VarBuilder;

use super::bert_config::BertConfig;
use super::dropout::Dropout;
use super::encoder::{Encoder, Linear, Pass};
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
        if rest.starts_with("embeddings.") {
            return false;
        }
        rest.strip_prefix("encoder.layer.")
            .and_then(|r| r.split('.').next())
            .and_then(|i| i.parse::<usize>().ok())
            .is_none_or(|i| i >= self.layers)
    }
}

pub struct SequenceClassifier {
    pub encoder: Encoder,
    classifier: Linear,
    dropout: f64,
    pub num_labels: usize,
    pub freeze: Freeze,
}

/// Variables a pretrained encoder may lack: they are initialised fresh.
pub const FRESH_OK: &[&str] = &["classifier.", "bert.pooler."];

impl SequenceClassifier {
    pub fn load(vb: VarBuilder, config: &BertConfig, num_labels: usize, freeze: Freeze) -> Result<Self> {
        Ok(Self {
            encoder: Encoder::load(vb.pp("bert"), config)?,
            classifier: Linear::load(vb.pp("classifier"), config.hidden_size, num_labels)?,
            dropout: config.classifier_dropout(),
            num_labels,
            freeze,
        })
    }

    /// `[B, num_labels]` logits.
    pub fn forward(&self, batch: &Batch, dropout: &mut Dropout) -> Result<Tensor> {
        let mut pass = Pass { dropout, frozen_layers: self.freeze.layers, keep_attentions: false };
        let out =
            self.encoder.forward(&batch.input_ids, &batch.type_ids, &batch.attention_mask, &mut pass)?;
        let mut pooled = self.encoder.pool(&out.hidden)?;
        if self.freeze.encoder {
            pooled = pooled.detach();
        }
        let pooled = pass.dropout.apply(&pooled, self.dropout)?;
        self.classifier.forward(&pooled)
    }

    /// Mean cross-entropy of `logits` against `labels` (`[B]` u32).
    pub fn loss(logits: &Tensor, labels: &Tensor) -> Result<Tensor> {
        Ok(candle_nn::loss::cross_entropy(logits, labels)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
