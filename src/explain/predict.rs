//! One text through a finished run's model: its prediction, the attention maps and the token
//! attributions, computed on the CPU (one sentence needs no GPU, and the workbench's run may
//! hold it).

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};

use super::attention::AttentionMaps;
use super::attributions::{Attribution, Baseline, Example, Target, integrated_gradients};
use crate::config::HeadKind;
use crate::data::batch::Batch;
use crate::data::tokenize::Sequence;
use crate::error::{Error, Result};
use crate::model::checkpoint::Classifier;
use crate::model::dropout::Dropout;
use crate::model::encoder::Input;
use crate::model::heads::TaskModel;

/// Points on the integrated-gradients path by default. Measured on the embedded model
/// fine-tuned on sotu-era, two sentences: the completeness gap (in probability) is 1.6 / 0.31
/// at 8 points, 0.013 / 0.011 at 32, 0.0009 / 0.00003 at 64 and 0.00004 / 0.000002 at 128.
pub const DEFAULT_STEPS: usize = 64;

/// A finished run's model, loaded once for any number of texts.
pub struct Explainer {
    pub run_dir: PathBuf,
    clf: Classifier,
    model: TaskModel,
    max_len: usize,
}

/// What the model does with one text.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Explanation {
    pub text: String,
    pub head: HeadKind,
    /// Class, label or tag names (`value` for regression).
    pub labels: Vec<String>,
    /// The model's tokens, `[CLS]` and `[SEP]` included.
    pub tokens: Vec<String>,
    /// Tagging: the word of each token (`None` for specials).
    pub words: Vec<Option<u32>>,
    pub outputs: Outputs,
    /// As the run's predictions write it: a class, labels joined by `|`, a value, or a tag per
    /// word.
    pub predicted: String,
    pub attention: AttentionMaps,
    /// `attention.rollout()`, worked out once (`len × len`, row-major).
    pub rollout: Vec<f64>,
    pub attribution: Attribution,
}

impl Explanation {
    /// The rollout to the explained token (`[CLS]`, or the tagged one): how much of its final
    /// vector flows from each input token.
    pub fn rollout_row(&self) -> &[f64] {
        let n = self.attention.len;
        let from = self.attribution.target.token.unwrap_or(0);
        self.rollout.get(from * n..(from + 1) * n).unwrap_or(&[])
    }

    /// The output the attributions explain, by name.
    pub fn target_name(&self) -> String {
        let t = self.attribution.target;
        let class = self.labels.get(t.class).cloned().unwrap_or_default();
        match (&self.outputs, t.token) {
            (Outputs::Value(_), _) => "the value".to_owned(),
            (Outputs::Tags(_), Some(token)) => {
                format!("{class} at {}", self.tokens.get(token).map_or("?", String::as_str))
            }
            _ => class,
        }
    }

    /// The prediction in a few words.
    pub fn prediction_line(&self) -> String {
        match &self.outputs {
            Outputs::Classes(p) => {
                let best = p.iter().copied().fold(0.0f32, f32::max);
                format!("{} (probability {best:.3})", self.predicted)
            }
            Outputs::Labels { threshold, .. } => {
                let set = if self.predicted.is_empty() { "no label" } else { &self.predicted };
                format!("{set} (labels at {threshold:.2} or more)")
            }
            Outputs::Value(v) => format!("{v:.3}"),
            Outputs::Tags(_) => self.predicted.clone(),
        }
    }
}

/// The head's outputs for the text.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outputs {
    /// Single-label: each class's probability (softmax).
    Classes(Vec<f32>),
    /// Label sets: each label's probability (sigmoid), and the decision threshold.
    Labels { probabilities: Vec<f32>, threshold: f64 },
    /// Regression: the value in the targets' units.
    Value(f64),
    /// Tagging: each token's tag probabilities.
    Tags(Vec<Vec<f32>>),
}

impl Explainer {
    /// Loads the model of the finished run in `run_dir` (its `model/`).
    pub fn open(run_dir: &Path) -> Result<Self> {
        let model_dir = run_dir.join("model");
        if !model_dir.join("config.json").is_file() {
            return Err(Error::model(run_dir.display().to_string(), "has no saved model to explain"));
        }
        let config = crate::runs::store::load_run(run_dir).config;
        if config.as_ref().is_some_and(|c| c.kind == crate::config::RunKind::Pretrain) {
            return Err(Error::model(
                run_dir.display().to_string(),
                "is a pretraining run: its model fills in [MASK]s (bertbench fill-mask), it has no task head",
            ));
        }
        let clf = Classifier::load_fine_tuned(&model_dir, &Device::Cpu)?;
        let model = clf.inference_model()?;
        let max_len = config.map_or(128, |c| c.train.max_len);
        Ok(Self { run_dir: run_dir.to_path_buf(), clf, model, max_len })
    }

    /// Predicts and explains `text` (as the run's predictions show it: a pair as `a [SEP] b`,
    /// tagging input as words separated by spaces). `target`: what the attributions explain;
    /// by default the prediction (for tagging, the first word tagged as an entity).
    pub fn explain(&self, text: &str, target: Option<Target>, steps: usize) -> Result<Explanation> {
        let (seq, words) = self.tokenize(text)?;
        let len = seq.ids.len();
        let batch = one(&seq)?;
        let scored =
            self.model.forward_input(Input::Ids(&batch.input_ids), &batch, &mut Dropout::off(), true)?;
        let attention = AttentionMaps::from_tensors(&scored.attentions)?;
        let scores = scored.scores.squeeze(0)?;
        let labels = self.clf.labels.clone();
        let (outputs, predicted, default_target) = match self.model.head {
            HeadKind::SeqCls => {
                let p = candle_nn::ops::softmax_last_dim(&scores)?.to_vec1::<f32>()?;
                let best = argmax(&p);
                (Outputs::Classes(p), labels[best].clone(), Target { class: best, token: None })
            }
            HeadKind::MultiLabel => {
                let p = candle_nn::ops::sigmoid(&scores)?.to_vec1::<f32>()?;
                let threshold = self.clf.threshold;
                let chosen: Vec<&str> = labels
                    .iter()
                    .zip(&p)
                    .filter(|(_, p)| f64::from(**p) >= threshold)
                    .map(|(l, _)| l.as_str())
                    .collect();
                let target = Target { class: argmax(&p), token: None };
                (Outputs::Labels { probabilities: p, threshold }, chosen.join("|"), target)
            }
            HeadKind::Regression => {
                let value = f64::from(self.model.values(&scores.unsqueeze(0)?)?[0]);
                (Outputs::Value(value), format!("{value:.4}"), Target { class: 0, token: None })
            }
            HeadKind::TokenCls => {
                let p = candle_nn::ops::softmax_last_dim(&scores)?.to_vec2::<f32>()?;
                let firsts = first_tokens(&words);
                let tags: Vec<usize> = firsts.iter().map(|&t| argmax(&p[t])).collect();
                let predicted = tags.iter().map(|&t| labels[t].as_str()).collect::<Vec<_>>().join(" ");
                let entity = tags.iter().position(|&t| labels[t] != "O").unwrap_or(0);
                let token = firsts.get(entity).copied().unwrap_or(0);
                let target = Target { class: argmax(&p[token]), token: Some(token) };
                (Outputs::Tags(p), predicted, target)
            }
        };
        let target = target.unwrap_or(default_target);
        self.check_target(target, len)?;
        let specials = self.clf.tokenizer.special_ids();
        let special: Vec<bool> = seq.ids.iter().map(|id| specials.contains(id)).collect();
        let example = Example { ids: &seq.ids, type_ids: &seq.type_ids, special: &special };
        let pad = self.clf.tokenizer.pad_id;
        let attribution = integrated_gradients(&self.model, &example, pad, target, Baseline::Pad, steps)?;
        let tokens = seq
            .ids
            .iter()
            .map(|&id| self.clf.tokenizer.id_to_token(id).unwrap_or_else(|| format!("#{id}")))
            .collect();
        Ok(Explanation {
            text: text.to_owned(),
            head: self.model.head,
            labels,
            tokens,
            words,
            outputs,
            predicted,
            rollout: attention.rollout(),
            attention,
            attribution,
        })
    }

    fn check_target(&self, target: Target, len: usize) -> Result<()> {
        let outputs = self.model.num_outputs;
        if target.class >= outputs || target.token.is_some_and(|t| t >= len) {
            return Err(Error::Config(format!(
                "nothing to explain at class {} of {outputs}, token {:?} of {len}",
                target.class, target.token
            )));
        }
        Ok(())
    }

    fn tokenize(&self, text: &str) -> Result<(Sequence, Vec<Option<u32>>)> {
        let tok = &self.clf.tokenizer;
        if text.trim().is_empty() {
            return Err(Error::Config("there is no text to predict".into()));
        }
        if self.model.head == HeadKind::TokenCls {
            let words: Vec<String> = text.split_whitespace().map(str::to_owned).collect();
            let mut encoded = tok.encode_words(&[words], self.max_len)?;
            let (seq, word_ids) =
                encoded.pop().ok_or_else(|| Error::Config("nothing was tokenized".into()))?;
            return Ok((seq, word_ids));
        }
        let mut seqs = match text.split_once(" [SEP] ") {
            Some((a, b)) => tok.encode_pairs(&[a.to_owned()], &[b.to_owned()], self.max_len)?,
            None => tok.encode_texts(&[text.to_owned()], self.max_len)?,
        };
        let seq = seqs.pop().ok_or_else(|| Error::Config("nothing was tokenized".into()))?;
        let words = vec![None; seq.ids.len()];
        Ok((seq, words))
    }
}

/// A batch of one sequence.
fn one(seq: &Sequence) -> Result<Batch> {
    let device = Device::Cpu;
    let len = seq.ids.len();
    Ok(Batch {
        input_ids: Tensor::new(seq.ids.as_slice(), &device)?.unsqueeze(0)?,
        type_ids: Tensor::new(seq.type_ids.as_slice(), &device)?.unsqueeze(0)?,
        attention_mask: Tensor::ones((1, len), DType::F32, &device)?,
        labels: Tensor::zeros(1, DType::U32, &device)?,
        label_mask: None,
    })
}

fn argmax(values: &[f32]) -> usize {
    values.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map_or(0, |(i, _)| i)
}

/// The first token of each word, in word order.
pub fn first_tokens(words: &[Option<u32>]) -> Vec<usize> {
    let mut firsts: Vec<(u32, usize)> = Vec::new();
    for (t, w) in words.iter().enumerate() {
        if let Some(w) = *w
            && !firsts.iter().any(|(seen, _)| *seen == w)
        {
            firsts.push((w, t));
        }
    }
    firsts.sort_unstable();
    firsts.into_iter().map(|(_, t)| t).collect()
}
