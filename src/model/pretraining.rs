//! The pretraining heads of Hugging Face's `BertForPreTraining`, with its parameter names: the
//! masked-LM head (`cls.predictions.transform.dense`, `cls.predictions.transform.LayerNorm`,
//! a decoder tied to the word embeddings, `cls.predictions.bias`) and the next-sentence head
//! (`cls.seq_relationship`, on the pooled `[CLS]`). A checkpoint that has them (e.g.
//! `bert-base-uncased`) provides them; otherwise (e.g. `MiniLM`) they start fresh.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};

use super::checkpoint::Classifier;
use super::checkpoint::{Init, fill_parameters, model_tokenizer, save_model_dir};
use super::dropout::Dropout;
use super::encoder::{Encoder, LayerNorm, Linear, Pass};
use super::encoder_config::{Activation, EncoderConfig};
use super::params::{LoadReport, inference_builder, init_seeded, named_tensors, sorted_vars};
use crate::data::tokenize::TextEncoder;
use crate::error::{Error, Result};
use crate::report::ProbeResult;

/// Variables a checkpoint may lack: initialised fresh.
pub const FRESH_OK: &[&str] = &["cls.", "bert.pooler."];

/// A padded pretraining batch.
pub struct PretrainBatch {
    /// `[B, L]` u32, with the selected tokens replaced.
    pub input_ids: Tensor,
    pub type_ids: Tensor,
    pub attention_mask: Tensor,
    /// `[N]` u32 flat positions (`row * L + column`) of the selected tokens.
    pub positions: Tensor,
    /// `[N]` u32 original tokens at those positions.
    pub targets: Tensor,
    /// `[B]` u32 next-sentence labels (`next_sentence_label`).
    pub next_sentence: Option<Tensor>,
}

pub struct PretrainOutput {
    /// `[N, vocab]` scores of the selected positions.
    pub mlm_logits: Tensor,
    /// `[B, 2]`: (B continues A, B is random), as `next_sentence_label` numbers them.
    pub nsp_logits: Option<Tensor>,
}

/// The next-sentence class of a pair as Hugging Face's `BertForPreTraining` numbers them (its
/// `next_sentence_label`): 0 when segment B continues segment A, 1 when B is a random sentence.
/// Checkpoints' `cls.seq_relationship` heads are trained and saved with this meaning.
pub fn next_sentence_label(continues: bool) -> u32 {
    u32::from(!continues)
}

pub struct PretrainingModel {
    pub encoder: Encoder,
    transform: Linear,
    transform_norm: LayerNorm,
    activation: Activation,
    decoder_bias: Tensor,
    next_sentence: Option<Linear>,
}

impl PretrainingModel {
    /// With `nsp`, the next-sentence head exists (and is saved); without it, the model is a
    /// `BertForMaskedLM`.
    pub fn load(vb: VarBuilder, config: &EncoderConfig, nsp: bool) -> Result<Self> {
        let (h, width) = (config.hidden_size, config.embedding_width());
        let cls = vb.pp("cls");
        let next_sentence = if nsp { Some(Linear::load(cls.pp("seq_relationship"), h, 2)?) } else { None };
        let family = config.family();
        Ok(Self {
            encoder: Encoder::load(vb.pp("bert"), config)?,
            // To the embedding width: the decoder is the word embeddings, transposed.
            transform: Linear::load(cls.pp("predictions.transform.dense"), h, width)?,
            transform_norm: LayerNorm::load(
                cls.pp("predictions.transform.LayerNorm"),
                width,
                config.layer_norm_eps,
            )?,
            activation: family.mlm_activation.unwrap_or(config.hidden_act),
            decoder_bias: cls.pp("predictions").get_with_hints(
                config.vocab_size,
                "bias",
                candle_nn::Init::Const(0.0),
            )?,
            next_sentence,
        })
    }

    /// Scores of the vocabulary at the selected positions only: the decoder is the largest
    /// matrix product of a small model, and unselected positions have nothing to learn.
    pub fn forward(&self, batch: &PretrainBatch, dropout: &mut Dropout) -> Result<PretrainOutput> {
        let mut pass = Pass { dropout, frozen_layers: 0, keep_attentions: false };
        let out =
            self.encoder.forward(&batch.input_ids, &batch.type_ids, &batch.attention_mask, &mut pass)?;
        let (b, l, h) = out.hidden.dims3()?;
        let selected = out.hidden.reshape((b * l, h))?.index_select(&batch.positions, 0)?;
        let mlm_logits = self.predict_tokens(&selected)?;
        let nsp_logits = match &self.next_sentence {
            Some(head) => Some(head.forward(&self.encoder.pool(&out.hidden, pass.dropout)?)?),
            None => None,
        };
        Ok(PretrainOutput { mlm_logits, nsp_logits })
    }

    /// `[N, H]` hidden states to `[N, vocab]` token scores.
    pub fn predict_tokens(&self, hidden: &Tensor) -> Result<Tensor> {
        let x = self.transform_norm.forward(&self.transform.forward_activated(hidden, self.activation)?)?;
        Ok(super::ops::matmul(&x, &self.encoder.word_embeddings().t()?)?.broadcast_add(&self.decoder_bias)?)
    }

    /// Masked-LM cross-entropy, plus next-sentence cross-entropy when the batch has pairs.
    pub fn loss(out: &PretrainOutput, batch: &PretrainBatch) -> Result<(Tensor, Tensor, Option<Tensor>)> {
        let mlm = candle_nn::loss::cross_entropy(&out.mlm_logits, &batch.targets)?;
        let nsp = match (&out.nsp_logits, &batch.next_sentence) {
            (Some(logits), Some(labels)) => Some(candle_nn::loss::cross_entropy(logits, labels)?),
            _ => None,
        };
        let total = match &nsp {
            Some(n) => (&mlm + n)?,
            None => mlm.clone(),
        };
        Ok((total, mlm, nsp))
    }
}

/// A pretraining model with its parameters and tokenizer.
pub struct MaskedLm {
    pub model: PretrainingModel,
    pub varmap: VarMap,
    pub config: EncoderConfig,
    pub tokenizer: TextEncoder,
    /// The directory it was loaded from (its tokenizer files are copied on save).
    pub source_dir: PathBuf,
    pub report: LoadReport,
}

impl MaskedLm {
    /// Loads `dir` under the pretraining heads. Heads the checkpoint lacks start fresh (seeded);
    /// with `from_scratch`, everything does.
    pub fn from_dir(
        dir: &Path,
        source: &str,
        nsp: bool,
        seed: u64,
        from_scratch: bool,
        device: &Device,
    ) -> Result<Self> {
        let mut config = EncoderConfig::from_file(&dir.join("config.json"))?;
        if nsp {
            config.family().check_next_sentence(source)?;
        }
        let tokenizer = model_tokenizer(dir, source, &config)?;
        if tokenizer.mask_id().is_none() {
            return Err(Error::model(source, "its tokenizer has no mask token ([MASK] or <mask>)"));
        }
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, device);
        let model = PretrainingModel::load(vb, &config, nsp)?;
        let report =
            fill_parameters(&varmap, &config, dir, source, &Init { seed, from_scratch, fresh_ok: FRESH_OK })?;
        config.set_pretraining(nsp);
        let report = report.in_family_names(config.family(), config.task());
        Ok(Self { model, varmap, config, tokenizer, source_dir: dir.to_path_buf(), report })
    }

    /// A masked-LM head on a classifier's encoder, sharing its parameters: for a masked-LM
    /// stage before fine-tuning. The head comes from the checkpoint when it has one (of the
    /// right shape), else starts fresh (seeded). `release_heads` removes it afterwards.
    pub fn sharing(clf: &Classifier, seed: u64) -> Result<Self> {
        let varmap = clf.varmap.clone();
        let device = clf.model.encoder.word_embeddings().device().clone();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &device);
        let model = PretrainingModel::load(vb, &clf.config, false)?;
        let mut loaded = Vec::new();
        if crate::model::params::has_weights(&clf.source_dir) {
            let source = clf.source_dir.display().to_string();
            let (tensors, _) =
                crate::model::params::checkpoint_tensors(&clf.source_dir, &source, clf.config.family())?;
            for (name, var) in sorted_vars(&varmap).into_iter().filter(|(n, _)| n.starts_with("cls.")) {
                if let Some(t) = tensors.get(&name).filter(|t| t.dims() == var.dims()) {
                    var.set(&t.to_dtype(DType::F32)?.to_device(&device)?)?;
                    loaded.push(name);
                }
            }
        }
        let (range, pad) = (clf.config.initializer_range, clf.config.pad_token_id);
        init_seeded(&varmap, range, pad, seed, |n| n.starts_with("cls.") && !loaded.iter().any(|l| l == n))?;
        Ok(Self {
            model,
            varmap,
            config: clf.config.clone(),
            tokenizer: clf.tokenizer.clone(),
            source_dir: clf.source_dir.clone(),
            report: LoadReport::default(),
        })
    }

    /// Drops the pretraining heads' parameters from the (shared) parameter map, so that the
    /// fine-tuned model is saved without them.
    pub fn release_heads(&self) {
        let mut data = self.varmap.data().lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        data.retain(|name, _| !name.starts_with("cls."));
    }

    /// The same model for evaluation: it shares the parameters but builds no gradient graph.
    pub fn inference_model(&self) -> Result<PretrainingModel> {
        let vb = inference_builder(&self.varmap, self.model.encoder.word_embeddings().device());
        PretrainingModel::load(vb, &self.config, self.model.next_sentence.is_some())
    }

    /// Loads a model directory for filling in masks (no next-sentence head needed).
    pub fn load(dir: &Path, device: &Device) -> Result<Self> {
        Self::from_dir(dir, &dir.display().to_string(), false, 0, false, device)
    }

    /// Writes the model to `dir` atomically, in Hugging Face layout.
    pub fn save(&self, dir: &Path) -> Result<()> {
        save_model_dir(dir, &named_tensors(&self.varmap), &self.config, &self.source_dir, &self.tokenizer)
    }

    /// The `k` likeliest tokens, with probabilities, for each `[MASK]` of `text`.
    pub fn fill_mask(&self, text: &str, k: usize) -> Result<ProbeResult> {
        let ids = self.tokenizer.encode_one(text)?;
        let mask_id = self.tokenizer.mask_id().unwrap_or(u32::MAX);
        let positions: Vec<u32> =
            ids.iter().enumerate().filter(|(_, id)| **id == mask_id).map(|(i, _)| i as u32).collect();
        if positions.is_empty() {
            return Err(Error::Config(format!("{text:?} has no [MASK] (or <mask>) to fill")));
        }
        let device = self.model.encoder.word_embeddings().device().clone();
        let len = ids.len();
        let input = Tensor::from_vec(ids, (1, len), &device)?;
        let model = self.inference_model()?;
        let mut dropout = Dropout::off();
        let mut pass = Pass { dropout: &mut dropout, frozen_layers: 0, keep_attentions: false };
        let out = model.encoder.forward(
            &input,
            &input.zeros_like()?,
            &Tensor::ones((1, len), DType::F32, &device)?,
            &mut pass,
        )?;
        let hidden = out.hidden.squeeze(0)?.index_select(&Tensor::new(positions.as_slice(), &device)?, 0)?;
        let probs = candle_nn::ops::softmax_last_dim(&model.predict_tokens(&hidden)?)?.to_vec2::<f32>()?;
        let guesses = probs
            .iter()
            .map(|row| {
                let mut order: Vec<usize> = (0..row.len()).collect();
                order.sort_by(|&a, &b| row[b].total_cmp(&row[a]));
                order
                    .into_iter()
                    .take(k)
                    .map(|i| {
                        (self.tokenizer.id_to_token(i as u32).unwrap_or_else(|| format!("#{i}")), row[i])
                    })
                    .collect()
            })
            .collect();
        Ok(ProbeResult { text: text.to_owned(), guesses, answer: None })
    }
}
