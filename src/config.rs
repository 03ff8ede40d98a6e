//! `RunConfig`: everything that defines a run. Serialised as TOML (kebab-case) into each run
//! record, so a run can be repeated from its own `config.toml`. Layering is CLI > file > defaults:
//! the CLI loads the file (or the defaults) and applies its flags on top.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, IoContext, Result};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct RunConfig {
    /// Human-readable run name; becomes part of the run id.
    pub name: Option<String>,
    /// What legends, titles and lists call the run ("from scratch", "lr 1e-4 · seed 2"); made
    /// from the name and the settings that set the run apart when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// The sweep this run is one cell of (`[sweep-cell]`; a recipe's `[sweep]` table is the
    /// sweep itself, read by `bertbench sweep`).
    #[serde(rename = "sweep-cell", skip_serializing_if = "Option::is_none")]
    pub sweep: Option<SweepCell>,
    /// Fine-tuning (the default) or pretraining only.
    pub kind: RunKind,
    pub model: ModelConfig,
    pub data: DataConfig,
    pub head: HeadKind,
    pub train: TrainConfig,
    /// Masked-language modelling: the whole run (`kind = "pretrain"`), or a stage before
    /// fine-tuning (`mask-ratio` above 0).
    pub mlm: MlmConfig,
    /// Folder that receives run records (`<runs-dir>/<run-id>/`).
    pub runs_dir: PathBuf,
    /// `cpu`, or `cuda:N` when built with the `cuda` feature.
    pub device: String,
    /// Matrix products in bf16 (f32 accumulation) or f32; `auto` is resolved when the run
    /// starts (bf16 where it is faster than f32: AMX), and the record keeps what it became.
    pub precision: crate::model::precision::Precision,
    /// Filled in when a run starts: what the sources resolved to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved: Option<Resolved>,
}

/// A run's place in a sweep: which sweep, which setting of its grid, which seed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct SweepCell {
    pub id: String,
    /// Index of the setting in the sweep's list of settings.
    pub setting: usize,
    pub seed: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum RunKind {
    #[default]
    FineTune,
    Pretrain,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct MlmConfig {
    /// Share of tokens the model must guess; 0 = no masked-LM stage.
    pub mask_ratio: f64,
    /// Of the selected tokens: the share shown as `[MASK]` …
    pub mask_token_share: f64,
    /// … and the share replaced by a random token (the rest stay as they are).
    pub random_token_share: f64,
    /// Select all sub-tokens of a word together.
    pub whole_word: bool,
    /// Next-sentence prediction: inputs are sentence pairs, half of them not consecutive.
    pub nsp: bool,
    /// Passes over the corpus (before fine-tuning, for a fine-tuning run).
    pub epochs: usize,
    /// Text to pretrain on: `.txt` files or folders (blank lines separate documents), or
    /// dataset files (their text column). Empty: the run's training texts.
    pub corpus: Vec<PathBuf>,
    /// The corpus files' text column (inferred when absent).
    pub text_column: Option<String>,
    /// Learning rate of the masked-LM stage; the run's when absent.
    pub lr: Option<f64>,
    /// Vocabulary size of a tokenizer trained for a `scratch:` model.
    pub vocab_size: usize,
    /// Share of the corpus held out to measure masked-LM loss and accuracy.
    pub held_out: f64,
    /// Sentences with `[MASK]` that the model fills at each evaluation.
    pub probes: Vec<String>,
}

impl Default for MlmConfig {
    fn default() -> Self {
        Self {
            mask_ratio: 0.0,
            mask_token_share: 0.8,
            random_token_share: 0.1,
            whole_word: false,
            nsp: false,
            epochs: 1,
            corpus: Vec::new(),
            text_column: None,
            lr: None,
            vocab_size: 8000,
            held_out: 0.05,
            probes: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct ModelConfig {
    /// A local directory in Hugging Face layout, or a hub id such as `bert-base-uncased`.
    pub source: String,
    /// Hub revision (branch, tag or commit); ignored for local directories.
    pub revision: String,
    /// Use only the model's architecture and tokenizer: weights start random (seeded). The
    /// baseline that shows what pretraining is worth.
    pub from_scratch: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct DataConfig {
    pub train: PathBuf,
    pub valid: Option<PathBuf>,
    pub test: Option<PathBuf>,
    /// Column holding the text; inferred from common names when absent.
    pub text_column: Option<String>,
    /// Column holding the label; inferred from common names when absent.
    pub label_column: Option<String>,
    /// Column holding the second text of a sentence pair (paraphrase, entailment): the
    /// pair is encoded as `[CLS] a [SEP] b [SEP]` with segment ids.
    pub text_pair_column: Option<String>,
    /// Multi-label: what separates the labels of one example (a JSON list is read too).
    pub label_separator: String,
    /// Token classification (CoNLL/IOB2 files): the columns holding the word and its tag,
    /// counted from 1 (inferred when absent: a leading index column is skipped, the tag is last).
    pub token_column: Option<usize>,
    pub tag_column: Option<usize>,
    /// Used when only a training file is given: fractions split off (stratified, seeded).
    pub valid_ratio: f64,
    pub test_ratio: f64,
    /// Keep only the first N training examples (after the split): quick experiments.
    pub max_train: Option<usize>,
    /// The label budget: keep this share of the labelled training examples (after the split),
    /// stratified by class and seeded by the run's seed. Shares are nested: at one seed, the
    /// examples of a smaller share are among those of a larger one.
    pub train_share: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum HeadKind {
    /// Single-label sequence classification: softmax over classes, cross-entropy.
    #[default]
    SeqCls,
    /// Any number of labels per text: a sigmoid per label, binary cross-entropy.
    MultiLabel,
    /// A tag per word (named entities in IOB2): softmax per token, cross-entropy on the first
    /// sub-token of each word.
    TokenCls,
    /// One number per text: a single output, mean squared error.
    Regression,
}

impl HeadKind {
    pub const ALL: [Self; 4] = [Self::SeqCls, Self::MultiLabel, Self::TokenCls, Self::Regression];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::SeqCls => "seq-cls",
            Self::MultiLabel => "multi-label",
            Self::TokenCls => "token-cls",
            Self::Regression => "regression",
        }
    }

    /// The validation metrics that mean something for this head; the first is the default
    /// that picks the checkpoint.
    pub fn metrics(self) -> &'static [Metric] {
        match self {
            Self::SeqCls => &[Metric::Accuracy, Metric::MacroF1, Metric::Loss],
            Self::MultiLabel => &[Metric::MicroF1, Metric::MacroF1, Metric::Accuracy, Metric::Loss],
            Self::TokenCls => &[Metric::EntityF1, Metric::Accuracy, Metric::Loss],
            Self::Regression => &[Metric::Pearson, Metric::Spearman, Metric::Loss],
        }
    }

    /// The names of the head's two main validation figures, as reports and charts show them.
    pub fn headline_names(self) -> [&'static str; 2] {
        match self {
            Self::SeqCls => ["accuracy", "macro-F1"],
            Self::MultiLabel => ["micro-F1", "macro-F1"],
            Self::TokenCls => ["entity F1", "precision"],
            Self::Regression => ["Pearson", "Spearman"],
        }
    }
}

/// A multi-label decision threshold must lie strictly between 0 and 1.
pub fn check_threshold(threshold: f64) -> Result<()> {
    if threshold > 0.0 && threshold < 1.0 {
        Ok(())
    } else {
        Err(Error::Config(format!("threshold must be in (0, 1), got {threshold}")))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct TrainConfig {
    pub epochs: usize,
    pub batch_size: usize,
    pub eval_batch_size: usize,
    pub max_len: usize,
    pub lr: f64,
    pub weight_decay: f64,
    /// Fraction of the optimiser steps spent warming the learning rate up linearly.
    pub warmup_ratio: f64,
    /// Clip the global gradient norm to this value; 0 disables clipping.
    pub max_grad_norm: f64,
    /// Micro-batches whose gradients are summed before one optimiser step.
    pub grad_accum: usize,
    /// Put examples of similar length in the same batch (less padding, faster), keeping the
    /// order random at the scale of 50 batches.
    pub group_by_length: bool,
    pub seed: u64,
    /// Evaluate on the validation split every N optimiser steps (and always at each epoch end).
    pub eval_every: Option<usize>,
    /// Save the resumable state every N optimiser steps (besides at every evaluation and when
    /// stopped); unset: every 5 minutes of training.
    pub save_every: Option<usize>,
    /// The validation metric that picks the best checkpoint and drives early stopping.
    pub metric: Metric,
    /// Multi-label: a label is predicted when its probability reaches this.
    pub threshold: f64,
    /// Multi-label: pick the threshold with the best micro-F1 on validation at each evaluation
    /// (recorded in the report; the test split uses the tuned value).
    pub tune_threshold: bool,
    /// Stop after this many evaluations without improvement of `metric`.
    pub patience: Option<usize>,
    /// Train only the head: the encoder stays as loaded.
    pub freeze_encoder: bool,
    /// Freeze the embeddings and the bottom N encoder layers.
    pub freeze_layers: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Metric {
    /// The head's own: accuracy, micro-F1 (multi-label), entity F1 (tokens), Pearson (regression).
    #[default]
    Auto,
    /// Accuracy; subset accuracy for multi-label, token accuracy for token classification.
    Accuracy,
    MacroF1,
    MicroF1,
    /// Entity-level F1 (token classification).
    EntityF1,
    Pearson,
    Spearman,
    Loss,
}

impl Metric {
    pub fn higher_is_better(self) -> bool {
        !matches!(self, Self::Loss)
    }

    /// `Auto` made concrete for a head.
    pub fn resolve(self, head: HeadKind) -> Self {
        if self == Self::Auto { head.metrics()[0] } else { self }
    }

    /// The spelling used in configs and flags.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Accuracy => "accuracy",
            Self::MacroF1 => "macro-f1",
            Self::MicroF1 => "micro-f1",
            Self::EntityF1 => "entity-f1",
            Self::Pearson => "pearson",
            Self::Spearman => "spearman",
            Self::Loss => "loss",
        }
    }
}

/// What a run's sources resolved to, recorded so that a run can be traced and repeated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Resolved {
    pub bertbench_version: String,
    pub model_dir: PathBuf,
    /// Hub commit of the snapshot, when the model came from the hub cache.
    pub model_revision: Option<String>,
    /// SHA-256 of each dataset file, keyed by split.
    pub dataset_sha256: BTreeMap<String, String>,
    /// The hub dataset the data files came from (`hub:owner/name:config@commit`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset_source: Option<String>,
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            name: None,
            label: None,
            sweep: None,
            kind: RunKind::default(),
            model: ModelConfig::default(),
            data: DataConfig::default(),
            head: HeadKind::default(),
            train: TrainConfig::default(),
            mlm: MlmConfig::default(),
            runs_dir: PathBuf::from("experiments"),
            device: "cpu".into(),
            precision: crate::model::precision::Precision::default(),
            resolved: None,
        }
    }
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self { source: String::new(), revision: "main".into(), from_scratch: false }
    }
}

impl Default for DataConfig {
    fn default() -> Self {
        Self {
            train: PathBuf::new(),
            valid: None,
            test: None,
            text_column: None,
            label_column: None,
            text_pair_column: None,
            label_separator: "|".into(),
            token_column: None,
            tag_column: None,
            valid_ratio: 0.1,
            test_ratio: 0.1,
            max_train: None,
            train_share: None,
        }
    }
}

/// Defaults follow the Hugging Face Trainer, so results compare with what people know.
impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: 3,
            batch_size: 16,
            eval_batch_size: 64,
            max_len: 128,
            lr: 5e-5,
            weight_decay: 0.0,
            warmup_ratio: 0.0,
            max_grad_norm: 1.0,
            grad_accum: 1,
            group_by_length: false,
            seed: 42,
            eval_every: None,
            save_every: None,
            metric: Metric::Auto,
            threshold: 0.5,
            tune_threshold: false,
            patience: None,
            freeze_encoder: false,
            freeze_layers: 0,
        }
    }
}

impl TrainConfig {
    /// Examples per optimiser step: micro-batches of `batch-size`, `grad-accum` of them.
    pub fn examples_per_step(&self) -> usize {
        self.batch_size * self.grad_accum
    }
}

impl RunConfig {
    /// Reads a recipe. A sweep's recipe (one with a `[sweep]` table) is refused with the
    /// command that runs it.
    pub fn from_toml_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).at(path)?;
        let table: toml::Table =
            toml::from_str(&text).map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
        if table.contains_key("sweep") {
            return Err(Error::Config(format!(
                "{} is a sweep (it has a [sweep] table): run it with `bertbench sweep {}`",
                path.display(),
                path.display()
            )));
        }
        Self::from_table(table).map_err(|e| Error::Config(format!("{}: {e}", path.display())))
    }

    /// A config from a parsed TOML table (unknown keys refused).
    pub fn from_table(table: toml::Table) -> std::result::Result<Self, toml::de::Error> {
        toml::Value::Table(table).try_into()
    }

    pub fn to_toml(&self) -> Result<String> {
        toml::to_string_pretty(self).map_err(|e| Error::Config(e.to_string()))
    }

    /// Refuses values that cannot work, naming the setting and the value: a run needs its
    /// data (a training file, or a corpus for pretraining) and settings that fit.
    pub fn validate(&self) -> Result<()> {
        if self.kind == RunKind::Pretrain && self.mlm.corpus.is_empty() {
            return Err(Error::Config("no corpus: give --corpus FILE_OR_FOLDER".into()));
        }
        if self.kind == RunKind::FineTune && self.data.train.as_os_str().is_empty() {
            return Err(Error::Config("no training data: give --train FILE".into()));
        }
        self.validate_settings()
    }

    /// `validate` less the check that the data is named: for settings being edited before the
    /// data is chosen (the workbench's form).
    pub fn validate_settings(&self) -> Result<()> {
        let t = &self.train;
        let bad = |msg: String| Err(Error::Config(msg));
        let m = &self.mlm;
        let pretraining = self.kind == RunKind::Pretrain;
        // Any scratch: model trains a tokenizer of this size, with a masked-LM stage or not.
        if m.vocab_size < 100 {
            return bad(format!("vocab-size {} is too small (at least 100)", m.vocab_size));
        }
        if pretraining && t.patience.is_some() && m.held_out == 0.0 {
            return bad("patience needs held-out text to judge by: give held-out above 0".into());
        }
        if m.nsp && !pretraining {
            return bad("nsp (next-sentence prediction) is for pretraining runs (`bertbench pretrain`): a \
                 fine-tuning run's masked-LM stage trains masked-LM alone"
                .into());
        }
        if pretraining || m.mask_ratio > 0.0 {
            if !(m.mask_ratio > 0.0 && m.mask_ratio <= 0.5) {
                return bad(format!("mask-ratio must be in (0, 0.5], got {}", m.mask_ratio));
            }
            let (a, b) = (m.mask_token_share, m.random_token_share);
            if !(a >= 0.0 && b >= 0.0 && a + b <= 1.0) {
                return bad(format!(
                    "mask-token-share {a} and random-token-share {b} must be shares summing to at most 1"
                ));
            }
            if m.epochs == 0 {
                return bad("mlm-epochs must be at least 1".into());
            }
            if !(0.0..0.5).contains(&m.held_out) {
                return bad(format!("held-out must be in [0, 0.5), got {}", m.held_out));
            }
            if m.lr.is_some_and(|lr| !(lr.is_finite() && lr > 0.0)) {
                return bad("the masked-LM learning rate must be a positive number".into());
            }
        } else if m.mask_ratio.is_nan() || m.mask_ratio < 0.0 {
            return bad(format!("mask-ratio must be in (0, 0.5], or 0 for none; got {}", m.mask_ratio));
        }
        if t.epochs == 0 {
            return bad("epochs must be at least 1".into());
        }
        if t.batch_size == 0 || t.eval_batch_size == 0 {
            return bad("batch sizes must be at least 1".into());
        }
        if t.grad_accum == 0 {
            return bad("grad-accum must be at least 1".into());
        }
        if t.max_len < 3 {
            return bad(format!("max-len {} leaves no room for text ([CLS] and [SEP] take 2)", t.max_len));
        }
        if !(t.lr.is_finite() && t.lr > 0.0) {
            return bad(format!("lr must be a positive number, got {}", t.lr));
        }
        if !(0.0..1.0).contains(&t.warmup_ratio) {
            return bad(format!("warmup-ratio must be in [0, 1), got {}", t.warmup_ratio));
        }
        if !(t.weight_decay >= 0.0 && t.max_grad_norm >= 0.0) {
            return bad("weight-decay and max-grad-norm must not be negative".into());
        }
        let metric = t.metric.resolve(self.head);
        if !pretraining && !self.head.metrics().contains(&metric) {
            let fits: Vec<&str> = self.head.metrics().iter().map(|m| m.as_str()).collect();
            return bad(format!(
                "metric {} does not apply to the {} head; use one of {}",
                metric.as_str(),
                self.head.as_str(),
                fits.join(", ")
            ));
        }
        check_threshold(t.threshold)?;
        if self.data.label_separator.is_empty() {
            return bad("label-separator must not be empty".into());
        }
        if self.data.token_column == Some(0) || self.data.tag_column == Some(0) {
            return bad("token-column and tag-column count from 1".into());
        }
        if self.head == HeadKind::TokenCls && self.data.text_pair_column.is_some() {
            return bad("sentence pairs are for sequence heads, not token classification".into());
        }
        if t.eval_every == Some(0) {
            return bad("eval-every must be at least 1 step".into());
        }
        if t.save_every == Some(0) {
            return bad("save-every must be at least 1 step".into());
        }
        if t.patience == Some(0) {
            return bad("patience must be at least 1 evaluation".into());
        }
        let has_valid = self.data.valid.is_some() || self.data.valid_ratio > 0.0;
        if !pretraining && !has_valid && (t.patience.is_some() || t.eval_every.is_some()) {
            return bad(
                "patience and eval-every need a validation split: give --valid or a valid-ratio above 0"
                    .into(),
            );
        }
        let per_step = t.batch_size.checked_mul(t.grad_accum).and_then(|n| n.checked_mul(t.epochs));
        if per_step.is_none() {
            return bad("batch-size x grad-accum x epochs is too large".into());
        }
        let d = &self.data;
        for (name, r) in [("valid-ratio", d.valid_ratio), ("test-ratio", d.test_ratio)] {
            if !(0.0..0.9).contains(&r) {
                return bad(format!("{name} must be in [0, 0.9), got {r}"));
            }
        }
        if d.valid_ratio + d.test_ratio >= 0.9 {
            return bad("valid-ratio + test-ratio leave too little training data".into());
        }
        if d.max_train == Some(0) {
            return bad("max-train must be at least 1".into());
        }
        if let Some(share) = d.train_share
            && !(share > 0.0 && share <= 1.0)
        {
            return bad(format!("train-share must be in (0, 1], got {share}"));
        }
        if self.device != "cpu" && !self.device.starts_with("cuda") {
            return bad(format!("device must be cpu or cuda:N, got {:?}", self.device));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_round_trips_and_rejects_unknown_keys() {
        let mut c = RunConfig::default();
        c.data.train = "a.csv".into();
        c.train.eval_every = Some(10);
        let text = c.to_toml().expect("serialise");
        assert!(text.contains("batch-size = 16"), "{text}");
        let back: RunConfig = toml::from_str(&text).expect("parse");
        assert_eq!(back, c);
        let err = toml::from_str::<RunConfig>("[train]\nbatchsize = 3\n").expect_err("unknown key");
        assert!(err.to_string().contains("batchsize"), "{err}");
    }

    #[test]
    fn partial_file_keeps_defaults() {
        let c: RunConfig = toml::from_str("[train]\nepochs = 1\n").expect("parse");
        assert_eq!(c.train.epochs, 1);
        assert_eq!(c.train.batch_size, 16);
        assert!((c.train.lr - 5e-5).abs() < 1e-12);
    }

    #[test]
    fn validate_names_the_bad_setting() {
        let mut c = RunConfig::default();
        c.data.train = "a.csv".into();
        assert!(c.validate().is_ok());
        c.train.warmup_ratio = 1.5;
        let err = c.validate().expect_err("warmup").to_string();
        assert!(err.contains("warmup-ratio") && err.contains("1.5"), "{err}");
        c.train.warmup_ratio = 0.0;
        c.train.lr = f64::NAN;
        assert!(c.validate().expect_err("lr").to_string().contains("lr"));
        c.train.lr = 1e-4;
        c.train.patience = Some(0);
        assert!(c.validate().expect_err("patience").to_string().contains("patience"));
        c.train.patience = Some(2);
        c.data.valid_ratio = 0.0;
        let err = c.validate().expect_err("no validation split").to_string();
        assert!(err.contains("need a validation split"), "{err}");
    }

    #[test]
    fn next_sentence_prediction_is_refused_for_a_fine_tuning_stage_not_for_pretraining() {
        let mut c = RunConfig::default();
        c.data.train = "a.csv".into();
        c.mlm.mask_ratio = 0.15;
        c.mlm.nsp = true;
        let err = c.validate().expect_err("nsp in a fine-tuning run").to_string();
        assert!(err.contains("nsp") && err.contains("pretrain"), "{err}");
        c.kind = RunKind::Pretrain;
        c.mlm.corpus = vec!["corpus.txt".into()];
        assert!(c.validate().is_ok());
    }

    #[test]
    fn pretraining_patience_needs_held_out_text() {
        let mut c = RunConfig { kind: RunKind::Pretrain, ..RunConfig::default() };
        c.mlm.corpus = vec!["corpus.txt".into()];
        c.mlm.mask_ratio = 0.15;
        c.train.patience = Some(2);
        assert!(c.validate().is_ok());
        c.mlm.held_out = 0.0;
        assert!(c.validate().expect_err("nothing to judge by").to_string().contains("held-out"));
    }

    #[test]
    fn a_masking_ratio_that_is_not_a_number_is_refused() {
        let mut c = RunConfig::default();
        c.data.train = "a.csv".into();
        c.mlm.mask_ratio = f64::NAN;
        assert!(c.validate().expect_err("NaN").to_string().contains("mask-ratio"));
    }
}
