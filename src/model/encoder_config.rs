//! `config.json` of a Hugging Face encoder (BERT, RoBERTa, DistilBERT, ELECTRA), in BERT's
//! keys: a family's own keys are renamed on reading and back on writing (`family.rs`). Unknown
//! keys are kept so that a saved model carries everything its source had.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::family::{BERT, Family, Task};
use crate::config::HeadKind;
use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EncoderConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    #[serde(default)]
    pub hidden_act: Activation,
    #[serde(default = "default_dropout")]
    pub hidden_dropout_prob: f64,
    #[serde(default = "default_dropout")]
    pub attention_probs_dropout_prob: f64,
    #[serde(default = "default_max_positions")]
    pub max_position_embeddings: usize,
    #[serde(default = "default_type_vocab")]
    pub type_vocab_size: usize,
    #[serde(default = "default_init_range")]
    pub initializer_range: f64,
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    #[serde(default)]
    pub pad_token_id: u32,
    #[serde(default)]
    pub classifier_dropout: Option<f64>,
    #[serde(default = "default_position_type")]
    pub position_embedding_type: String,
    /// ELECTRA's embedding width, projected to `hidden_size` (`embeddings_project`) when it differs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding_size: Option<usize>,
    /// Everything else in the file (`model_type`, id2label, architectures, …).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
    /// Keys above that the file lacked (their defaults were taken): a save leaves them out
    /// too, so that it has the keys its source had.
    #[serde(skip)]
    defaulted: Vec<String>,
}

/// The keys with a default when `config.json` lacks them.
const DEFAULTED: &[&str] = &[
    "hidden_act",
    "hidden_dropout_prob",
    "attention_probs_dropout_prob",
    "max_position_embeddings",
    "type_vocab_size",
    "initializer_range",
    "layer_norm_eps",
    "pad_token_id",
    "classifier_dropout",
    "position_embedding_type",
    "embedding_size",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// Exact GELU (erf), what Hugging Face calls "gelu".
    #[default]
    Gelu,
    /// tanh approximation.
    GeluNew,
    #[serde(rename = "gelu_pytorch_tanh")]
    GeluPytorchTanh,
    Relu,
    Tanh,
}

fn default_dropout() -> f64 {
    0.1
}
fn default_max_positions() -> usize {
    512
}
fn default_type_vocab() -> usize {
    2
}
fn default_init_range() -> f64 {
    0.02
}
fn default_eps() -> f64 {
    1e-12
}
fn default_position_type() -> String {
    "absolute".into()
}

impl EncoderConfig {
    pub fn from_file(path: &Path) -> Result<Self> {
        let model = path.parent().unwrap_or(path).display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::model(&model, format!("cannot read {}: {e}", path.display())))?;
        Self::from_json(&text).map_err(|m| Error::model(&model, format!("{}: {m}", path.display())))
    }

    /// Reads `config.json`'s text, in the keys of the family its `model_type` names.
    pub fn from_json(text: &str) -> std::result::Result<Self, String> {
        let mut json: Map<String, Value> = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let model_type = json.get("model_type").and_then(Value::as_str);
        let family = Family::of(model_type).ok_or_else(|| {
            format!(
                "model_type {:?} is not a family bertbench has; it fine-tunes {}",
                model_type.unwrap_or_default(),
                Family::supported()
            )
        })?;
        if json.get("sinusoidal_pos_embds").and_then(Value::as_bool) == Some(true) {
            return Err("sinusoidal_pos_embds is true: only learned position embeddings are supported".into());
        }
        family.config_in_ours(&mut json);
        let defaulted =
            DEFAULTED.iter().filter(|k| !json.contains_key(**k)).map(|k| (*k).to_owned()).collect();
        let mut config: Self = serde_json::from_value(Value::Object(json)).map_err(|e| e.to_string())?;
        config.defaulted = defaulted;
        config.check()?;
        Ok(config)
    }

    /// `config.json`'s text in the family's own keys, as `transformers` reads it.
    pub fn to_json(&self) -> Result<String> {
        let Value::Object(mut json) = serde_json::to_value(self).map_err(|e| Error::Config(e.to_string()))?
        else {
            return Err(Error::Config("a model config serialises to an object".into()));
        };
        for key in &self.defaulted {
            json.remove(key);
        }
        self.family().config_in_theirs(&mut json);
        serde_json::to_string_pretty(&json).map_err(|e| Error::Config(e.to_string()))
    }

    /// The model's family, from `model_type` (checked when the config was read).
    pub fn family(&self) -> &'static Family {
        Family::of(self.extra.get("model_type").and_then(Value::as_str)).unwrap_or(&BERT)
    }

    fn check(&self) -> std::result::Result<(), String> {
        if self.position_embedding_type != "absolute" {
            return Err(format!(
                "position_embedding_type {:?} is not supported (only \"absolute\")",
                self.position_embedding_type
            ));
        }
        if self.num_attention_heads == 0 || !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return Err(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            ));
        }
        if self.max_tokens() == 0 {
            return Err(format!(
                "max_position_embeddings {} leaves no position after the padding index {}",
                self.max_position_embeddings, self.pad_token_id
            ));
        }
        Ok(())
    }

    /// The width of the embeddings (ELECTRA's may be narrower than the hidden states).
    pub fn embedding_width(&self) -> usize {
        self.embedding_size.unwrap_or(self.hidden_size)
    }

    /// The first position id: RoBERTa's positions start after the padding index.
    pub fn first_position(&self) -> usize {
        if self.family().positions_after_padding { self.pad_token_id as usize + 1 } else { 0 }
    }

    /// The longest sequence the position embeddings cover.
    pub fn max_tokens(&self) -> usize {
        self.max_position_embeddings.saturating_sub(self.first_position())
    }

    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }

    /// The dropout before the classifier: `classifier_dropout`, else the hidden dropout
    /// (DistilBERT's token head always has the hidden dropout).
    pub fn classifier_dropout(&self, head: HeadKind) -> f64 {
        if head == HeadKind::TokenCls && self.family().token_head_hidden_dropout {
            return self.hidden_dropout_prob;
        }
        self.classifier_dropout.unwrap_or(self.hidden_dropout_prob)
    }

    /// Label names from `id2label`, in index order, when the model has them.
    pub fn labels(&self) -> Option<Vec<String>> {
        let map = self.extra.get("id2label")?.as_object()?;
        let mut pairs: Vec<(usize, String)> =
            map.iter().filter_map(|(k, v)| Some((k.parse().ok()?, v.as_str()?.to_owned()))).collect();
        pairs.sort();
        (pairs.len() == map.len()).then(|| pairs.into_iter().map(|(_, v)| v).collect())
    }

    /// The architecture `config.json` names when it is a head bertbench cannot evaluate
    /// (question answering, multiple choice, a pretraining head): none for ours or for none.
    pub fn unknown_architecture(&self) -> Option<String> {
        let names = self.extra.get("architectures").and_then(Value::as_array)?;
        let family = self.family();
        let ours = [family.architecture(Task::Sequence), family.architecture(Task::Token)];
        let names: Vec<&str> = names.iter().filter_map(Value::as_str).collect();
        (!names.is_empty() && !names.iter().any(|n| ours.iter().any(|o| o == n))).then(|| names.join(", "))
    }

    /// The head a saved fine-tuned model has, from `architectures` and `problem_type`.
    pub fn head_kind(&self) -> HeadKind {
        match self.extra.get("problem_type").and_then(Value::as_str) {
            _ if self.task() == Task::Token => HeadKind::TokenCls,
            Some("multi_label_classification") => HeadKind::MultiLabel,
            Some("regression") => HeadKind::Regression,
            // As transformers reads it: one output and no problem type is a regressor.
            None if self.labels().is_some_and(|l| l.len() == 1) => HeadKind::Regression,
            _ => HeadKind::SeqCls,
        }
    }

    /// Records a task head so that `transformers` rebuilds it: the family's
    /// `…ForTokenClassification`, or `…ForSequenceClassification` with the matching
    /// `problem_type`, with the labels (`id2label`, `label2id`).
    pub fn set_task(&mut self, head: HeadKind, labels: &[String]) {
        let (task, problem) = match head {
            HeadKind::SeqCls => (Task::Sequence, Some("single_label_classification")),
            HeadKind::MultiLabel => (Task::Sequence, Some("multi_label_classification")),
            HeadKind::Regression => (Task::Sequence, Some("regression")),
            HeadKind::TokenCls => (Task::Token, None),
        };
        let id2label: Map<String, Value> =
            labels.iter().enumerate().map(|(i, l)| (i.to_string(), Value::from(l.as_str()))).collect();
        let label2id: Map<String, Value> =
            labels.iter().enumerate().map(|(i, l)| (l.clone(), Value::from(i))).collect();
        self.mark(task);
        self.extra.insert("id2label".into(), Value::Object(id2label));
        self.extra.insert("label2id".into(), Value::Object(label2id));
        match problem {
            Some(p) => self.extra.insert("problem_type".into(), p.into()),
            None => self.extra.remove("problem_type"),
        };
    }

    /// Marks the model as a pretraining model (`BertForPreTraining` with the next-sentence
    /// head, else the family's `…ForMaskedLM`), without classification labels.
    pub fn set_pretraining(&mut self, nsp: bool) {
        self.mark(if nsp { Task::PreTraining } else { Task::MaskedLm });
        for key in ["id2label", "label2id", "problem_type"] {
            self.extra.remove(key);
        }
    }

    /// What the saved model is: its family's `model_type` and the task's architecture.
    fn mark(&mut self, task: Task) {
        let family = self.family();
        self.extra.insert("model_type".into(), family.model_type.into());
        self.extra.insert("architectures".into(), Value::from(vec![family.architecture(task)]));
    }

    /// The task a saved model of this config is, as its names are written.
    pub fn task(&self) -> Task {
        let arch = self.extra.get("architectures").and_then(Value::as_array);
        let names: Vec<&str> = arch.into_iter().flatten().filter_map(Value::as_str).collect();
        if names.iter().any(|n| n.ends_with("ForPreTraining")) {
            Task::PreTraining
        } else if names.iter().any(|n| n.ends_with("ForMaskedLM")) {
            Task::MaskedLm
        } else if names.iter().any(|n| n.ends_with("ForTokenClassification")) {
            Task::Token
        } else {
            Task::Sequence
        }
    }

    /// A small configuration for models built from scratch and for tests.
    pub fn tiny(vocab_size: usize, hidden: usize, layers: usize, heads: usize) -> Self {
        Self {
            vocab_size,
            hidden_size: hidden,
            num_hidden_layers: layers,
            num_attention_heads: heads,
            intermediate_size: hidden * 4,
            hidden_act: Activation::Gelu,
            hidden_dropout_prob: 0.1,
            attention_probs_dropout_prob: 0.1,
            max_position_embeddings: 512,
            type_vocab_size: 2,
            initializer_range: 0.02,
            layer_norm_eps: 1e-12,
            pad_token_id: 0,
            classifier_dropout: None,
            position_embedding_type: default_position_type(),
            embedding_size: None,
            defaulted: Vec::new(),
            extra: Map::from_iter([("model_type".to_owned(), Value::from("bert"))]),
        }
    }
}
