//! The encoder families bertbench loads — BERT, RoBERTa, DistilBERT, ELECTRA — and all that
//! differs between them, as data: `config.json` keys, parameter names, the sentence head, the
//! masked-LM head's names. They share one encoder (`encoder.rs`): a post-norm transformer whose
//! embeddings may have segment types, positions after the padding index (RoBERTa) or a width of
//! their own projected to the hidden size (ELECTRA).
//!
//! Inside bertbench every parameter has its BERT name (`bert.encoder.layer.0.…`, `classifier.…`,
//! `cls.predictions.…`): freezing, the regression head's scale and the optimiser read those.
//! A family's own names exist only at the checkpoint boundary: `ours` reads them, `theirs`
//! writes them, so a saved model is the family's `transformers` layout.

use super::encoder_config::Activation;

/// What a saved model is: the names a parameter takes depend on it (a token classifier has no
/// pooler; RoBERTa's sequence head calls our pooler `classifier.dense`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    Sequence,
    Token,
    MaskedLm,
    /// BERT's masked-LM and next-sentence heads (`BertForPreTraining`).
    PreTraining,
}

/// The head between the first token's final hidden state and the classifier of a sequence
/// task: `[dropout] → dense → activation → dropout → classifier`. BERT's is its pooler (part
/// of the base model, trained in pretraining); the others' belong to the task model.
#[derive(Debug)]
pub struct SentenceHead {
    /// Our `bert.pooler.dense` in a saved sequence classifier.
    dense: &'static str,
    /// Our `classifier` in a saved sequence classifier.
    out: &'static str,
    pub activation: Activation,
    /// Dropout on the first token's state before the dense layer (RoBERTa, ELECTRA).
    pub dropout_before: bool,
    /// The dense layer is the base model's pooler (BERT): kept in pretraining saves.
    in_base: bool,
}

/// The masked-LM head's parameters, theirs for our `cls.predictions.transform.dense`,
/// `cls.predictions.transform.LayerNorm` and `cls.predictions.bias` (the decoder is tied to the
/// word embeddings in every family).
#[derive(Debug)]
struct MlmNames {
    dense: &'static str,
    norm: &'static str,
    bias: &'static str,
    /// Their tied decoder's weight (in some checkpoints; never read, never written).
    decoder: &'static str,
}

/// One family's differences from BERT. The flags are independent facts of an architecture, not
/// states of one thing (which an enum would name).
#[derive(Debug)]
#[allow(clippy::struct_excessive_bools)]
pub struct Family {
    /// `model_type` in `config.json`.
    pub model_type: &'static str,
    /// What people call it.
    pub name: &'static str,
    /// Prefix of `transformers`' classes: `{class}ForSequenceClassification`.
    pub class: &'static str,
    /// The base model's attribute in the task models (`roberta.encoder.…`).
    root: &'static str,
    /// Where the layers are, below the root.
    layers: &'static str,
    /// Parameter names inside a layer that are not BERT's: (ours, theirs).
    layer_parts: &'static [(&'static str, &'static str)],
    pub sentence: SentenceHead,
    mlm: MlmNames,
    /// The masked-LM head's activation, where it is fixed rather than the config's `hidden_act`.
    pub mlm_activation: Option<Activation>,
    /// Position ids start after the padding index (RoBERTa: `padding_idx + 1`).
    pub positions_after_padding: bool,
    /// Dropout after the attention block's output projection (DistilBERT has none).
    pub attention_output_dropout: bool,
    /// The token head's dropout is the hidden dropout, not the sequence head's (DistilBERT's
    /// `seq_classif_dropout` is for sequences only).
    pub token_head_hidden_dropout: bool,
    /// `config.json` keys that are not BERT's: (ours, theirs).
    config_keys: &'static [(&'static str, &'static str)],
    /// Our config keys the family does not have: left out of its `config.json`.
    absent_keys: &'static [&'static str],
    /// The family has a next-sentence head (`BertForPreTraining`).
    pub next_sentence: bool,
}

pub const BERT: Family = Family {
    model_type: "bert",
    name: "BERT",
    class: "Bert",
    root: "bert",
    layers: "encoder.layer",
    layer_parts: &[],
    sentence: SentenceHead {
        dense: "bert.pooler.dense",
        out: "classifier",
        activation: Activation::Tanh,
        dropout_before: false,
        in_base: true,
    },
    mlm: MlmNames {
        dense: "cls.predictions.transform.dense",
        norm: "cls.predictions.transform.LayerNorm",
        bias: "cls.predictions.bias",
        decoder: "cls.predictions.decoder",
    },
    mlm_activation: None,
    positions_after_padding: false,
    attention_output_dropout: true,
    token_head_hidden_dropout: false,
    config_keys: &[],
    absent_keys: &[],
    next_sentence: true,
};

pub const ROBERTA: Family = Family {
    model_type: "roberta",
    name: "RoBERTa",
    class: "Roberta",
    root: "roberta",
    sentence: SentenceHead {
        dense: "classifier.dense",
        out: "classifier.out_proj",
        activation: Activation::Tanh,
        dropout_before: true,
        in_base: false,
    },
    mlm: MlmNames {
        dense: "lm_head.dense",
        norm: "lm_head.layer_norm",
        bias: "lm_head.bias",
        decoder: "lm_head.decoder",
    },
    mlm_activation: Some(Activation::Gelu),
    positions_after_padding: true,
    next_sentence: false,
    ..BERT
};

pub const DISTILBERT: Family = Family {
    model_type: "distilbert",
    name: "DistilBERT",
    class: "DistilBert",
    root: "distilbert",
    layers: "transformer.layer",
    layer_parts: &[
        ("attention.self.query", "attention.q_lin"),
        ("attention.self.key", "attention.k_lin"),
        ("attention.self.value", "attention.v_lin"),
        ("attention.output.dense", "attention.out_lin"),
        ("attention.output.LayerNorm", "sa_layer_norm"),
        ("intermediate.dense", "ffn.lin1"),
        ("output.dense", "ffn.lin2"),
        ("output.LayerNorm", "output_layer_norm"),
    ],
    sentence: SentenceHead {
        dense: "pre_classifier",
        out: "classifier",
        activation: Activation::Relu,
        dropout_before: false,
        in_base: false,
    },
    mlm: MlmNames {
        dense: "vocab_transform",
        norm: "vocab_layer_norm",
        bias: "vocab_projector.bias",
        decoder: "vocab_projector.weight",
    },
    attention_output_dropout: false,
    token_head_hidden_dropout: true,
    config_keys: &[
        ("hidden_size", "dim"),
        ("num_hidden_layers", "n_layers"),
        ("num_attention_heads", "n_heads"),
        ("intermediate_size", "hidden_dim"),
        ("hidden_act", "activation"),
        ("hidden_dropout_prob", "dropout"),
        ("attention_probs_dropout_prob", "attention_dropout"),
        ("classifier_dropout", "seq_classif_dropout"),
    ],
    // No segments, a fixed layer-norm epsilon (1e-12), absolute positions only.
    absent_keys: &["type_vocab_size", "layer_norm_eps", "position_embedding_type"],
    next_sentence: false,
    ..BERT
};

pub const ELECTRA: Family = Family {
    model_type: "electra",
    name: "ELECTRA",
    class: "Electra",
    root: "electra",
    sentence: SentenceHead {
        dense: "classifier.dense",
        out: "classifier.out_proj",
        activation: Activation::Gelu,
        dropout_before: true,
        in_base: false,
    },
    // `ElectraForMaskedLM` (a generator's head; discriminator checkpoints have none).
    mlm: MlmNames {
        dense: "generator_predictions.dense",
        norm: "generator_predictions.LayerNorm",
        bias: "generator_lm_head.bias",
        decoder: "generator_lm_head.weight",
    },
    mlm_activation: Some(Activation::Gelu),
    next_sentence: false,
    ..BERT
};

pub const FAMILIES: [&Family; 4] = [&BERT, &ROBERTA, &DISTILBERT, &ELECTRA];

/// Our names of the masked-LM head's parts.
const OUR_MLM_DENSE: &str = "cls.predictions.transform.dense";
const OUR_MLM_NORM: &str = "cls.predictions.transform.LayerNorm";
const OUR_MLM_BIAS: &str = "cls.predictions.bias";
/// Our name for a masked-LM decoder's weight, which is the word embeddings (tied): read from no
/// checkpoint, written to none.
pub const OUR_MLM_DECODER: &str = "cls.predictions.decoder";
const OUR_POOLER: &str = "bert.pooler.dense";
const OUR_LAYERS: &str = "bert.encoder.layer.";
/// What a base model's parameters start with when it was saved without its root (`BertModel`,
/// `RobertaModel`, … saved on their own).
const BASE_PARTS: &[&str] = &["embeddings.", "embeddings_project.", "encoder.", "transformer.", "pooler."];

impl Family {
    /// The family `model_type` names (`None`, absent from the file, is BERT).
    pub fn of(model_type: Option<&str>) -> Option<&'static Self> {
        match model_type {
            None => Some(&BERT),
            Some(t) => FAMILIES.into_iter().find(|f| f.model_type == t),
        }
    }

    /// The supported `model_type`s, for messages.
    pub fn supported() -> String {
        FAMILIES.iter().map(|f| format!("{} ({:?})", f.name, f.model_type)).collect::<Vec<_>>().join(", ")
    }

    /// Refuses next-sentence prediction for a family without its head (all but BERT).
    pub fn check_next_sentence(&self, model: &str) -> crate::error::Result<()> {
        if self.next_sentence {
            return Ok(());
        }
        Err(crate::error::Error::model(
            model,
            format!("is a {} model, which has no next-sentence head: pretrain it without --nsp", self.name),
        ))
    }

    /// `transformers`' class for a task model of this family.
    pub fn architecture(&self, task: Task) -> String {
        let suffix = match task {
            Task::Sequence => "ForSequenceClassification",
            Task::Token => "ForTokenClassification",
            Task::MaskedLm => "ForMaskedLM",
            Task::PreTraining => "ForPreTraining",
        };
        format!("{}{suffix}", self.class)
    }

    /// Our name for a checkpoint's tensor `name` (theirs, from any of the family's task models
    /// or its base model saved alone). A name with no counterpart (RoBERTa's unused pooler, an
    /// ELECTRA discriminator's head) comes back as it is, and so stays unused.
    pub fn ours(&self, name: &str) -> String {
        let name =
            name.replace("LayerNorm.gamma", "LayerNorm.weight").replace("LayerNorm.beta", "LayerNorm.bias");
        let root = format!("{}.", self.root);
        let base = name
            .strip_prefix(&root)
            .or_else(|| BASE_PARTS.iter().any(|p| name.starts_with(p)).then_some(name.as_str()));
        if let Some(rest) = base {
            return self.base_ours(rest).unwrap_or(name);
        }
        let s = &self.sentence;
        let heads = [
            (s.dense, OUR_POOLER),
            (s.out, "classifier"),
            (self.mlm.dense, OUR_MLM_DENSE),
            (self.mlm.norm, OUR_MLM_NORM),
            (self.mlm.bias, OUR_MLM_BIAS),
            (self.mlm.decoder, OUR_MLM_DECODER),
        ];
        // Longest first: RoBERTa's `classifier.out_proj` before a token head's `classifier`.
        rename_prefix(&name, heads.iter().map(|&(theirs, ours)| (theirs, ours))).unwrap_or(name)
    }

    /// A base-model name below the root (`encoder.layer.3.…`) in ours; `None` for what has no
    /// counterpart (a pooler other than BERT's).
    fn base_ours(&self, rest: &str) -> Option<String> {
        if let Some(pooler) = rest.strip_prefix("pooler.dense") {
            return self.sentence.in_base.then(|| format!("{OUR_POOLER}{pooler}"));
        }
        if let Some(layer) = rest.strip_prefix(self.layers).and_then(|r| r.strip_prefix('.')) {
            let (index, inner) = layer.split_once('.')?;
            let inner = rename_prefix(inner, self.layer_parts.iter().map(|&(ours, theirs)| (theirs, ours)))
                .unwrap_or_else(|| inner.to_owned());
            return Some(format!("{OUR_LAYERS}{index}.{inner}"));
        }
        Some(format!("bert.{rest}"))
    }

    /// Their name for our parameter `name` in a saved `task` model; `None` when the task model
    /// has no such parameter (a token classifier's pooler), so it is not saved.
    pub fn theirs(&self, name: &str, task: Task) -> Option<String> {
        if let Some(rest) = name.strip_prefix(OUR_POOLER) {
            // As transformers builds them: a token classifier and a masked LM have no pooler;
            // BERT's pretraining model has its own (the next-sentence head reads it).
            let kept = match task {
                Task::Sequence => true,
                Task::Token | Task::MaskedLm => false,
                Task::PreTraining => self.sentence.in_base,
            };
            return kept.then(|| format!("{}{rest}", self.sentence.dense));
        }
        if let Some(layer) = name.strip_prefix(OUR_LAYERS) {
            let (index, inner) = layer.split_once('.')?;
            let inner =
                rename_prefix(inner, self.layer_parts.iter().copied()).unwrap_or_else(|| inner.to_owned());
            return Some(format!("{}.{}.{index}.{inner}", self.root, self.layers));
        }
        if let Some(rest) = name.strip_prefix("bert.") {
            return Some(format!("{}.{rest}", self.root));
        }
        if let Some(rest) = name.strip_prefix("classifier") {
            let out = if task == Task::Sequence { self.sentence.out } else { "classifier" };
            return Some(format!("{out}{rest}"));
        }
        let heads =
            [(OUR_MLM_DENSE, self.mlm.dense), (OUR_MLM_NORM, self.mlm.norm), (OUR_MLM_BIAS, self.mlm.bias)];
        Some(rename_prefix(name, heads.iter().copied()).unwrap_or_else(|| name.to_owned()))
    }

    /// `config.json` in our keys: the family's keys renamed (DistilBERT's `dim` is our
    /// `hidden_size`), and what it lacks given the value it means (no segment types).
    pub fn config_in_ours(&self, json: &mut serde_json::Map<String, serde_json::Value>) {
        for (ours, theirs) in self.config_keys {
            if let Some(v) = json.remove(*theirs) {
                json.insert((*ours).to_owned(), v);
            }
        }
        if self.absent_keys.contains(&"type_vocab_size") {
            json.insert("type_vocab_size".into(), 0.into());
        }
    }

    /// Our `config.json` keys in the family's (what `config_in_ours` undoes).
    pub fn config_in_theirs(&self, json: &mut serde_json::Map<String, serde_json::Value>) {
        for key in self.absent_keys {
            json.remove(*key);
        }
        for (ours, theirs) in self.config_keys {
            if let Some(v) = json.remove(*ours) {
                json.insert((*theirs).to_owned(), v);
            }
        }
    }
}

/// `name` with the first matching prefix replaced, trying the longest prefix first; a prefix
/// matches a whole dotted part (`classifier` matches `classifier.weight`, not `classifiers`).
fn rename_prefix<'a>(name: &str, pairs: impl Iterator<Item = (&'a str, &'a str)>) -> Option<String> {
    let mut pairs: Vec<(&str, &str)> = pairs.collect();
    pairs.sort_by_key(|(from, _)| std::cmp::Reverse(from.len()));
    pairs.into_iter().find_map(|(from, to)| {
        let rest = name.strip_prefix(from)?;
        (rest.is_empty() || rest.starts_with('.')).then(|| format!("{to}{rest}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every name of a task model, theirs → ours → theirs, comes back as it was.
    fn round_trips(family: &Family, task: Task, names: &[&str]) {
        for theirs in names {
            let ours = family.ours(theirs);
            assert_eq!(
                family.theirs(&ours, task).as_deref(),
                Some(*theirs),
                "{} {theirs} -> {ours}",
                family.name
            );
        }
    }

    #[test]
    fn bert_names_are_ours_and_bare_checkpoints_get_the_root() {
        assert_eq!(BERT.ours("embeddings.LayerNorm.gamma"), "bert.embeddings.LayerNorm.weight");
        assert_eq!(BERT.ours("bert.pooler.dense.bias"), "bert.pooler.dense.bias");
        assert_eq!(
            BERT.ours("encoder.layer.0.output.LayerNorm.beta"),
            "bert.encoder.layer.0.output.LayerNorm.bias"
        );
        assert_eq!(BERT.ours("classifier.weight"), "classifier.weight");
        assert_eq!(BERT.theirs("bert.pooler.dense.weight", Task::Token), None);
        assert_eq!(BERT.theirs("bert.pooler.dense.weight", Task::MaskedLm), None);
        assert_eq!(
            BERT.theirs("bert.pooler.dense.weight", Task::PreTraining).as_deref(),
            Some("bert.pooler.dense.weight")
        );
    }

    #[test]
    fn distilbert_layers_and_heads_map_both_ways() {
        assert_eq!(
            DISTILBERT.ours("distilbert.transformer.layer.1.attention.q_lin.weight"),
            "bert.encoder.layer.1.attention.self.query.weight"
        );
        assert_eq!(DISTILBERT.ours("pre_classifier.bias"), "bert.pooler.dense.bias");
        assert_eq!(DISTILBERT.ours("vocab_projector.bias"), "cls.predictions.bias");
        round_trips(
            &DISTILBERT,
            Task::Sequence,
            &[
                "distilbert.embeddings.word_embeddings.weight",
                "distilbert.transformer.layer.0.sa_layer_norm.weight",
                "distilbert.transformer.layer.0.ffn.lin1.bias",
                "distilbert.transformer.layer.5.output_layer_norm.bias",
                "pre_classifier.weight",
                "classifier.bias",
            ],
        );
        round_trips(
            &DISTILBERT,
            Task::MaskedLm,
            &["vocab_transform.weight", "vocab_layer_norm.bias", "vocab_projector.bias"],
        );
    }

    #[test]
    fn roberta_sequence_and_token_heads_take_different_names() {
        assert_eq!(ROBERTA.ours("classifier.out_proj.weight"), "classifier.weight");
        assert_eq!(ROBERTA.ours("classifier.dense.weight"), "bert.pooler.dense.weight");
        assert_eq!(ROBERTA.ours("classifier.weight"), "classifier.weight");
        // The base model's pooler is not what the sequence head uses: it stays unused.
        assert_eq!(ROBERTA.ours("roberta.pooler.dense.weight"), "roberta.pooler.dense.weight");
        round_trips(&ROBERTA, Task::Sequence, &["classifier.dense.bias", "classifier.out_proj.weight"]);
        round_trips(
            &ROBERTA,
            Task::Token,
            &["classifier.weight", "roberta.encoder.layer.0.attention.self.key.bias"],
        );
        round_trips(
            &ROBERTA,
            Task::MaskedLm,
            &["lm_head.dense.weight", "lm_head.layer_norm.weight", "lm_head.bias"],
        );
        assert_eq!(ROBERTA.theirs("bert.pooler.dense.weight", Task::MaskedLm), None);
    }

    #[test]
    fn electra_keeps_its_projection_below_the_root() {
        assert_eq!(ELECTRA.ours("electra.embeddings_project.weight"), "bert.embeddings_project.weight");
        round_trips(
            &ELECTRA,
            Task::Sequence,
            &[
                "electra.embeddings_project.bias",
                "electra.embeddings.token_type_embeddings.weight",
                "classifier.dense.weight",
            ],
        );
        round_trips(
            &ELECTRA,
            Task::MaskedLm,
            &["generator_predictions.LayerNorm.weight", "generator_lm_head.bias"],
        );
    }

    #[test]
    fn distilbert_config_keys_round_trip() {
        let text = r#"{"dim": 32, "n_layers": 2, "n_heads": 4, "hidden_dim": 64, "activation": "gelu",
            "dropout": 0.1, "attention_dropout": 0.1, "seq_classif_dropout": 0.2, "vocab_size": 9}"#;
        let original: serde_json::Map<String, serde_json::Value> = serde_json::from_str(text).expect("json");
        let mut json = original.clone();
        DISTILBERT.config_in_ours(&mut json);
        assert_eq!(json["hidden_size"], 32);
        assert_eq!(json["classifier_dropout"], 0.2);
        assert_eq!(json["type_vocab_size"], 0);
        DISTILBERT.config_in_theirs(&mut json);
        assert_eq!(json, original);
    }

    #[test]
    fn prefixes_match_whole_parts() {
        assert_eq!(rename_prefix("classifiers.x", [("classifier", "c")].into_iter()), None);
        assert_eq!(rename_prefix("classifier.x", [("classifier", "c")].into_iter()).as_deref(), Some("c.x"));
    }
}
