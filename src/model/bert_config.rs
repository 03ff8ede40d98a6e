//! `config.json` of a Hugging Face BERT model. Unknown keys are kept so that a saved model
//! carries everything its source had.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::config::HeadKind;
use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BertConfig {
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classifier_dropout: Option<f64>,
    #[serde(default = "default_position_type")]
    pub position_embedding_type: String,
    /// Everything else in the file (`model_type`, id2label, architectures, …).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

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

impl BertConfig {
    pub fn from_file(path: &Path) -> Result<Self> {
        let model = path.parent().unwrap_or(path).display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::model(&model, format!("cannot read {}: {e}", path.display())))?;
        let config: Self = serde_json::from_str(&text)
            .map_err(|e| Error::model(&model, format!("{}: {e}", path.display())))?;
        config.check().map_err(|m| Error::model(&model, format!("{}: {m}", path.display())))?;
        Ok(config)
    }

    fn check(&self) -> std::result::Result<(), String> {
        if let Some(t) = self.extra.get("model_type").and_then(Value::as_str)
            && !matches!(t, "bert")
        {
            return Err(format!("model_type {t:?} is not BERT; bertbench fine-tunes BERT encoders"));
        }
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
        Ok(())
    }

    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }

    /// The dropout before the classifier: `classifier_dropout`, else the hidden dropout.
    pub fn classifier_dropout(&self) -> f64 {
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

    /// The architecture `config.json` names when it is a BERT head bertbench cannot evaluate
    /// (question answering, multiple choice, a pretraining head): none for ours or for none.
    pub fn unknown_architecture(&self) -> Option<String> {
        let names = self.extra.get("architectures").and_then(Value::as_array)?;
        let ours = ["BertForSequenceClassification", "BertForTokenClassification"];
        let names: Vec<&str> = names.iter().filter_map(Value::as_str).collect();
        (!names.is_empty() && !names.iter().any(|n| ours.contains(n))).then(|| names.join(", "))
    }

    /// The head a saved fine-tuned model has, from `architectures` and `problem_type`.
    pub fn head_kind(&self) -> HeadKind {
        let token = self
            .extra
            .get("architectures")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|v| v.as_str() == Some("BertForTokenClassification")));
        match self.extra.get("problem_type").and_then(Value::as_str) {
            _ if token => HeadKind::TokenCls,
            Some("multi_label_classification") => HeadKind::MultiLabel,
            Some("regression") => HeadKind::Regression,
            // As transformers reads it: one output and no problem type is a regressor.
            None if self.labels().is_some_and(|l| l.len() == 1) => HeadKind::Regression,
            _ => HeadKind::SeqCls,
        }
    }

    /// Records a task head so that `transformers` rebuilds it: `BertForTokenClassification`,
    /// or `BertForSequenceClassification` with the matching `problem_type`.
    pub fn set_task(&mut self, head: HeadKind, labels: &[String]) {
        let (arch, problem) = match head {
            HeadKind::SeqCls => ("BertForSequenceClassification", Some("single_label_classification")),
            HeadKind::MultiLabel => ("BertForSequenceClassification", Some("multi_label_classification")),
            HeadKind::Regression => ("BertForSequenceClassification", Some("regression")),
            HeadKind::TokenCls => ("BertForTokenClassification", None),
        };
        self.set_classification(labels);
        self.extra.insert("architectures".into(), Value::from(vec![arch]));
        match problem {
            Some(p) => self.extra.insert("problem_type".into(), p.into()),
            None => self.extra.remove("problem_type"),
        };
    }

    /// Labels of a classification head (`id2label`, `label2id`).
    fn set_classification(&mut self, labels: &[String]) {
        let id2label: Map<String, Value> =
            labels.iter().enumerate().map(|(i, l)| (i.to_string(), Value::from(l.as_str()))).collect();
        let label2id: Map<String, Value> =
            labels.iter().enumerate().map(|(i, l)| (l.clone(), Value::from(i))).collect();
        self.extra.insert("model_type".into(), "bert".into());
        self.extra.insert("architectures".into(), Value::from(vec!["BertForSequenceClassification"]));
        self.extra.insert("id2label".into(), Value::Object(id2label));
        self.extra.insert("label2id".into(), Value::Object(label2id));
        self.extra.insert("problem_type".into(), "single_label_classification".into());
    }

    /// Marks the model as a pretraining model (`BertForPreTraining` with the next-sentence
    /// head, else `BertForMaskedLM`), without classification labels.
    pub fn set_pretraining(&mut self, nsp: bool) {
        let arch = if nsp { "BertForPreTraining" } else { "BertForMaskedLM" };
        self.extra.insert("model_type".into(), "bert".into());
        self.extra.insert("architectures".into(), Value::from(vec![arch]));
        for key in ["id2label", "label2id", "problem_type"] {
            self.extra.remove(key);
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
            extra: Map::from_iter([("model_type".to_owned(), Value::from("bert"))]),
        }
    }
}
