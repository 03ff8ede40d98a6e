//! Building a fine-tunable model (an encoder with a task head) from a model directory, and
//! saving one in Hugging Face layout (`config.json`, `model.safetensors`, tokenizer files) that
//! `transformers` loads. Saves are atomic: a complete new directory replaces the old one, so a
//! crash leaves one or the other.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};

use super::encoder_config::EncoderConfig;
use super::family::Task;
use super::heads::{FRESH_OK, Freeze, TaskModel};
use super::params::{
    LoadReport, inference_builder, init_seeded, load_checkpoint, named_tensors, sorted_vars,
};
use crate::config::HeadKind;
use crate::data::tokenize::TextEncoder;
use crate::error::{Error, IoContext, Result};

/// The head to put on an encoder.
#[derive(Debug, Clone)]
pub struct HeadSpec {
    pub head: HeadKind,
    /// Class, label or tag names (`["value"]` for regression); the checkpoint's when `None`.
    pub labels: Option<Vec<String>>,
    pub freeze: Freeze,
}

/// A model with a task head, its parameters, label names and tokenizer.
pub struct Classifier {
    pub model: TaskModel,
    pub varmap: VarMap,
    pub config: EncoderConfig,
    pub labels: Vec<String>,
    pub tokenizer: TextEncoder,
    /// Multi-label decision threshold, saved with the model (as `bertbench_threshold` in
    /// `config.json`) so that a later evaluation decides as the run did.
    pub threshold: f64,
    /// The regression head came from a saved regressor, whose outputs are in its targets'
    /// units: training must first map it to standardised outputs.
    pub head_in_units: bool,
    /// The directory it was loaded from (its tokenizer files are copied on save).
    pub source_dir: PathBuf,
    pub report: LoadReport,
}

impl Classifier {
    /// Loads the encoder of `dir` (any BERT checkpoint) under the head of `spec`. The head is
    /// reused when the checkpoint has one of the right size, otherwise initialised from `seed`.
    pub fn from_dir(
        dir: &Path,
        source: &str,
        spec: HeadSpec,
        seed: u64,
        from_scratch: bool,
        device: &Device,
    ) -> Result<Self> {
        let mut config = EncoderConfig::from_file(&dir.join("config.json"))?;
        let head = spec.head;
        let labels = spec.labels.or_else(|| config.labels());
        let labels = match (head, labels) {
            (HeadKind::Regression, l) => {
                l.filter(|l| l.len() == 1).unwrap_or_else(|| vec!["value".to_owned()])
            }
            (_, Some(l)) if l.len() >= 2 => l,
            _ => {
                return Err(Error::model(
                    source,
                    format!("needs at least two labels for a {} head", head.as_str()),
                ));
            }
        };
        let tokenizer = model_tokenizer(dir, source, &config)?;
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, device);
        let model = TaskModel::load(vb, &config, head, labels.len(), spec.freeze)?;
        let init = Init { seed, from_scratch, fresh_ok: FRESH_OK };
        let report = fill_parameters(&varmap, &config, dir, source, &init)?;
        let head_reused = !from_scratch && !report.initialised.iter().any(|n| n.starts_with("classifier."));
        if let Some(theirs) = config.labels().filter(|_| head_reused) {
            answer_in_our_order(&varmap, &theirs, &labels)?;
        }
        let threshold = config.extra.get(THRESHOLD_KEY).and_then(serde_json::Value::as_f64).unwrap_or(0.5);
        let head_in_units = head == HeadKind::Regression
            && config.head_kind() == HeadKind::Regression
            && !from_scratch
            && !report.initialised.iter().any(|n| n.starts_with("classifier."));
        config.set_task(head, &labels);
        let report = report.in_family_names(config.family(), config.task());
        Ok(Self {
            model,
            varmap,
            config,
            labels,
            tokenizer,
            threshold,
            head_in_units,
            source_dir: dir.to_path_buf(),
            report,
        })
    }

    /// Loads a fine-tuned model (a run's `model/`, or any directory whose `config.json` names
    /// its head and labels) as it is, for evaluation.
    pub fn load_fine_tuned(dir: &Path, device: &Device) -> Result<Self> {
        let config = EncoderConfig::from_file(&dir.join("config.json"))?;
        if let Some(other) = config.unknown_architecture() {
            let family = config.family();
            return Err(Error::model(
                dir.display().to_string(),
                format!(
                    "its config.json names {other}, a head bertbench does not have (it evaluates {} and {}); \
                     its encoder can be fine-tuned with a head of ours: bertbench train --model {}",
                    family.architecture(Task::Sequence),
                    family.architecture(Task::Token),
                    dir.display()
                ),
            ));
        }
        let spec = HeadSpec { head: config.head_kind(), labels: None, freeze: Freeze::default() };
        Self::from_dir(dir, &dir.display().to_string(), spec, 0, false, device)
    }

    /// The same model for evaluation: it shares the parameters but builds no gradient graph.
    pub fn inference_model(&self) -> Result<TaskModel> {
        let m = &self.model;
        let vb = inference_builder(&self.varmap, m.encoder.word_embeddings().device());
        let mut model = TaskModel::load(vb, &self.config, m.head, m.num_outputs, m.freeze)?;
        model.scale = m.scale;
        Ok(model)
    }

    /// Writes the model to `dir` atomically, as `transformers` expects it: a token classifier
    /// has no pooler, a regressor outputs values in the targets' units.
    pub fn save(&self, dir: &Path) -> Result<()> {
        let mut config = self.config.clone();
        if self.model.head == HeadKind::MultiLabel {
            config.extra.insert(THRESHOLD_KEY.into(), self.threshold.into());
        }
        let mut tensors = named_tensors(&self.varmap);
        if self.model.head == HeadKind::Regression {
            for (name, t) in &mut tensors {
                if let Some((mul, add)) = self.model.scale.classifier_map(name, true) {
                    *t = t.affine(mul, add)?;
                }
            }
        }
        save_model_dir(dir, &tensors, &config, &self.source_dir, &self.tokenizer)
    }

    /// Puts back the parameters saved in `dir` (e.g. the best checkpoint). A token classifier's
    /// save has no pooler; everything else must be there.
    pub fn restore(&self, dir: &Path) -> Result<()> {
        let optional: &[&str] = if self.model.head == HeadKind::TokenCls { &["bert.pooler."] } else { &[] };
        load_checkpoint(&self.varmap, dir, &dir.display().to_string(), self.config.family(), optional)?;
        self.unfold_regression_head()
    }

    /// A regressor's head was saved in the targets' units: maps its weights back to standardised
    /// outputs under the current target scale (no-op for other heads).
    pub fn unfold_regression_head(&self) -> Result<()> {
        if self.model.head != HeadKind::Regression {
            return Ok(());
        }
        for (name, var) in sorted_vars(&self.varmap) {
            if let Some((mul, add)) = self.model.scale.classifier_map(&name, false) {
                var.set(&var.as_tensor().affine(mul, add)?)?;
            }
        }
        Ok(())
    }
}

const THRESHOLD_KEY: &str = "bertbench_threshold";

/// The tokenizer of a model directory, checked against its config.
pub fn model_tokenizer(dir: &Path, source: &str, config: &EncoderConfig) -> Result<TextEncoder> {
    let tokenizer = TextEncoder::from_model_dir(dir)?;
    if tokenizer.vocab_size() > config.vocab_size {
        return Err(Error::model(
            source,
            format!(
                "tokenizer has {} tokens but config.json says vocab_size {}",
                tokenizer.vocab_size(),
                config.vocab_size
            ),
        ));
    }
    Ok(tokenizer)
}

/// Where a model's initial parameters come from.
pub struct Init<'a> {
    pub seed: u64,
    /// Random weights for everything (keeps the architecture and tokenizer).
    pub from_scratch: bool,
    /// Parameter-name prefixes the checkpoint may lack (heads): those start fresh.
    pub fresh_ok: &'a [&'a str],
}

/// Gives every variable of `varmap` its value: the checkpoint in `dir` where it has one, a
/// seeded fresh value where it may lack one (or for everything, from scratch).
pub fn fill_parameters(
    varmap: &VarMap,
    config: &EncoderConfig,
    dir: &Path,
    source: &str,
    init: &Init,
) -> Result<LoadReport> {
    let (range, pad) = (config.initializer_range, config.pad_token_id);
    if init.from_scratch {
        init_seeded(varmap, range, pad, init.seed, |_| true)?;
        return Ok(LoadReport {
            initialised: vec!["all parameters (from scratch)".into()],
            unused: Vec::new(),
        });
    }
    // Only what the checkpoint lacks (a new head) gets fresh values.
    let report = load_checkpoint(varmap, dir, source, config.family(), init.fresh_ok)?;
    init_seeded(varmap, range, pad, init.seed, |name| report.initialised.iter().any(|n| n == name))?;
    Ok(report)
}

/// A head reused from a checkpoint scores its labels in the checkpoint's order (`theirs`, from
/// its `id2label`): when ours are the same names in another order (a dataset that sorts them
/// differently), its rows are put in our order, so that class `i` means `ours[i]` in both.
/// Other names (a base model's `LABEL_0`, …) leave it as it is.
fn answer_in_our_order(varmap: &VarMap, theirs: &[String], ours: &[String]) -> Result<()> {
    let mut sorted = (theirs.to_vec(), ours.to_vec());
    sorted.0.sort();
    sorted.1.sort();
    if theirs == ours || sorted.0 != sorted.1 {
        return Ok(());
    }
    let rows: Vec<u32> =
        ours.iter().filter_map(|l| theirs.iter().position(|t| t == l)).map(|i| i as u32).collect();
    let data = varmap.data().lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    for name in ["classifier.weight", "classifier.bias"] {
        if let Some(var) = data.get(name) {
            let picked = Tensor::new(rows.as_slice(), var.device())?;
            var.set(&var.as_tensor().index_select(&picked, 0)?)?;
        }
    }
    Ok(())
}

const TOKENIZER_FILES: &[&str] =
    &["tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json"];

/// Writes a model directory: `config.json` and the weights in the family's own keys and names
/// for the task `config` names (`EncoderConfig::task`), and the tokenizer's files.
pub fn save_model_dir(
    dir: &Path,
    tensors: &HashMap<String, Tensor>,
    config: &EncoderConfig,
    tokenizer_dir: &Path,
    tokenizer: &TextEncoder,
) -> Result<()> {
    let tmp = sibling(dir, "tmp");
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).at(&tmp)?;
    }
    let saved = (|| {
        std::fs::create_dir_all(&tmp).at(&tmp)?;
        std::fs::write(tmp.join("config.json"), config.to_json()?).at(tmp.join("config.json"))?;
        let (family, task) = (config.family(), config.task());
        // Tensors are shared handles: renaming copies no data.
        let theirs: HashMap<String, Tensor> =
            tensors.iter().filter_map(|(name, t)| Some((family.theirs(name, task)?, t.clone()))).collect();
        let weights = tmp.join("model.safetensors");
        candle_core::safetensors::save(&theirs, &weights).map_err(
            |e| match crate::error::candle_io_cause(&e) {
                // Kept an I/O error, so that a full disk says so.
                Some(io) => Error::io_copy(&weights, io),
                None => Error::model(
                    dir.display().to_string(),
                    format!("cannot write {}: {e}", weights.display()),
                ),
            },
        )?;
        for file in TOKENIZER_FILES {
            let from = tokenizer_dir.join(file);
            if from.is_file() && from != tmp.join(file) {
                std::fs::copy(&from, tmp.join(file)).at(&from)?;
            }
        }
        if !tmp.join("tokenizer.json").is_file() {
            tokenizer.save_json(&tmp)?;
        }
        replace_dir(&tmp, dir)
    })();
    if saved.is_err() {
        // A failed save (a full disk) leaves no half-written folder holding the space.
        let _ = std::fs::remove_dir_all(&tmp);
    }
    saved
}

/// `path` with `.suffix` appended to its last component.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().map(std::ffi::OsString::from).unwrap_or_default();
    name.push(".");
    name.push(suffix);
    path.with_file_name(name)
}

/// Moves the finished `new` directory to `dir`, replacing what was there.
fn replace_dir(new: &Path, dir: &Path) -> Result<()> {
    let old = sibling(dir, "old");
    if old.exists() {
        std::fs::remove_dir_all(&old).at(&old)?;
    }
    if dir.exists() {
        std::fs::rename(dir, &old).at(dir)?;
    }
    std::fs::rename(new, dir).at(new)?;
    if old.exists() {
        std::fs::remove_dir_all(&old).at(&old)?;
    }
    Ok(())
}
