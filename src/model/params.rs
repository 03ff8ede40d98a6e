//! Parameters live in a `VarMap` (so every one is trainable). This module gives them seeded
//! initial values and overwrites them with a checkpoint's tensors, checking every shape.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

use super::family::Family;
use crate::error::{Error, Result};

/// Every variable's current value by name (what a checkpoint stores).
pub fn named_tensors(varmap: &VarMap) -> std::collections::HashMap<String, Tensor> {
    sorted_vars(varmap).into_iter().map(|(k, v)| (k, v.as_tensor().clone())).collect()
}

/// A builder over detached handles of `varmap`'s parameters: the same memory (no copy; updates
/// in place show through), but a model built from it records no gradient graph, so a forward
/// pass frees each activation as soon as the next op has used it. For evaluation: with the
/// graph, every layer's activations of a batch stayed alive until its scores were read.
pub fn inference_builder(varmap: &VarMap, device: &Device) -> VarBuilder<'static> {
    let tensors =
        sorted_vars(varmap).into_iter().map(|(name, var)| (name, var.as_tensor().detach())).collect();
    VarBuilder::from_tensors(tensors, DType::F32, device)
}

/// Names (and shapes) of every variable, sorted: a stable order for init and optimiser state.
pub fn sorted_vars(varmap: &VarMap) -> Vec<(String, candle_core::Var)> {
    let data = varmap.data().lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut vars: Vec<(String, candle_core::Var)> =
        data.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    vars
}

/// BERT's initialisation, seeded, of the variables `selected` picks: weights ~ N(0, range),
/// biases 0, `LayerNorm` weights 1, embedding rows for the padding token 0.
pub fn init_seeded(
    varmap: &VarMap,
    init_range: f64,
    pad_id: u32,
    seed: u64,
    selected: impl Fn(&str) -> bool,
) -> Result<()> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let normal = Normal::new(0.0f32, init_range as f32)
        .map_err(|e| Error::Config(format!("initializer_range {init_range}: {e}")))?;
    for (name, var) in sorted_vars(varmap).into_iter().filter(|(n, _)| selected(n)) {
        let shape = var.shape().clone();
        let device = var.device().clone();
        let value = if name.ends_with("bias") {
            Tensor::zeros(&shape, DType::F32, &device)?
        } else if name.ends_with("LayerNorm.weight") {
            Tensor::ones(&shape, DType::F32, &device)?
        } else {
            let mut values: Vec<f32> = (0..shape.elem_count()).map(|_| normal.sample(&mut rng)).collect();
            if name.ends_with("word_embeddings.weight") {
                let width = shape.dims()[1];
                let row = pad_id as usize * width;
                if row + width <= values.len() {
                    values[row..row + width].fill(0.0);
                }
            }
            Tensor::from_vec(values, &shape, &device)?
        };
        var.set(&value)?;
    }
    Ok(())
}

/// Outcome of loading a checkpoint into a `VarMap`.
#[derive(Debug, Default)]
pub struct LoadReport {
    /// Variables that kept their fresh initial values (e.g. a new classifier).
    pub initialised: Vec<String>,
    /// Checkpoint tensors nothing uses (e.g. an MLM head when fine-tuning).
    pub unused: Vec<String>,
}

impl LoadReport {
    /// The report in the names the model's family gives its parameters in a `task` model, as
    /// the user's checkpoint and transformers' messages spell them (RoBERTa's new sequence head
    /// is `classifier.dense`, `classifier.out_proj`, not our `bert.pooler`, `classifier`).
    /// What the task model does not have (a token classifier's pooler) is not reported fresh.
    pub fn in_family_names(self, family: &Family, task: super::family::Task) -> Self {
        Self {
            initialised: self.initialised.iter().filter_map(|n| family.theirs(n, task)).collect(),
            unused: self.unused.into_iter().map(|n| family.theirs(&n, task).unwrap_or(n)).collect(),
        }
    }
}

/// The weights file of a model directory, and the index of a sharded checkpoint (large models
/// on the hub: `model-00001-of-00003.safetensors`, … listed in the index's `weight_map`).
pub const WEIGHTS: &str = "model.safetensors";
pub const SHARD_INDEX: &str = "model.safetensors.index.json";

/// Whether `dir` holds weights: one file, or a sharded checkpoint's index.
pub fn has_weights(dir: &Path) -> bool {
    dir.join(WEIGHTS).is_file() || dir.join(SHARD_INDEX).is_file()
}

/// A sharded checkpoint's index: each tensor's name and the shard file (beside the index)
/// that holds it.
fn read_index(index: &Path, model: &str) -> Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string(index).map_err(|e| Error::io(index, e))?;
    let json: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| Error::model(model, format!("{} does not read as JSON: {e}", index.display())))?;
    let map = json.get("weight_map").and_then(serde_json::Value::as_object).ok_or_else(|| {
        Error::model(model, format!("{} has no weight_map (tensor name -> shard file)", index.display()))
    })?;
    map.iter()
        .map(|(name, file)| {
            let file = file.as_str().filter(|f| !f.contains(['/', '\\']) && *f != "..").ok_or_else(|| {
                Error::model(
                    model,
                    format!("{}: the shard of {name} is not a file beside it", index.display()),
                )
            })?;
            Ok((name.clone(), file.to_owned()))
        })
        .collect()
}

/// The shard files a sharded checkpoint's index names, in order, each once.
pub fn shard_files(index: &Path, model: &str) -> Result<Vec<String>> {
    Ok(distinct_shards(&read_index(index, model)?))
}

fn distinct_shards(entries: &[(String, String)]) -> Vec<String> {
    let mut files: Vec<String> = Vec::new();
    for (_, file) in entries {
        if !files.contains(file) {
            files.push(file.clone());
        }
    }
    files
}

/// Every tensor of the checkpoint in `dir` by our name for it (`Family::ours`), and what to
/// call its file in messages: `model.safetensors`, or the shards of
/// `model.safetensors.index.json` (each one read, a tensor the index names but its shard lacks
/// refused by name).
pub fn checkpoint_tensors(
    dir: &Path,
    model: &str,
    family: &Family,
) -> Result<(HashMap<String, Tensor>, String)> {
    let read = |file: &Path| {
        candle_core::safetensors::load(file, &Device::Cpu)
            .map_err(|e| Error::model(model, format!("cannot read {}: {e}", file.display())))
    };
    let single = dir.join(WEIGHTS);
    if single.is_file() {
        let tensors = read(&single)?.into_iter().map(|(k, v)| (family.ours(&k), v)).collect();
        return Ok((tensors, WEIGHTS.to_owned()));
    }
    let index = dir.join(SHARD_INDEX);
    if !index.is_file() {
        return Err(Error::model(
            model,
            format!("{} has no {WEIGHTS} (nor a sharded {SHARD_INDEX})", dir.display()),
        ));
    }
    let entries = read_index(&index, model)?;
    let mut tensors = HashMap::new();
    for shard in distinct_shards(&entries) {
        let path = dir.join(&shard);
        if !path.is_file() {
            return Err(Error::model(
                model,
                format!("{SHARD_INDEX} names {shard}, which {} lacks", dir.display()),
            ));
        }
        tensors.extend(read(&path)?.into_iter().map(|(k, v)| (family.ours(&k), v)));
    }
    if let Some((name, shard)) = entries.iter().find(|(name, _)| !tensors.contains_key(&family.ours(name))) {
        return Err(Error::model(model, format!("{SHARD_INDEX} puts {name} in {shard}, which lacks it")));
    }
    Ok((tensors, format!("the shards of {SHARD_INDEX}")))
}

/// Overwrites variables with the tensors of the checkpoint in `dir` (one file or shards). A
/// variable whose name starts with one of `optional` (a head, the pooler) keeps its initial
/// value when the checkpoint lacks it or has another shape; any other missing or misshapen
/// tensor is an error that names it.
pub fn load_checkpoint(
    varmap: &VarMap,
    dir: &Path,
    model: &str,
    family: &Family,
    optional: &[&str],
) -> Result<LoadReport> {
    let (mut by_name, file_name) = checkpoint_tensors(dir, model, family)?;
    let mut report = LoadReport::default();
    for (name, var) in sorted_vars(varmap) {
        let is_optional = optional.iter().any(|p| name.starts_with(p));
        match by_name.remove(&name) {
            Some(t) if t.dims() == var.dims() => {
                var.set(&t.to_dtype(DType::F32)?.to_device(var.device())?)?;
            }
            Some(_) | None if is_optional => report.initialised.push(name),
            Some(t) => {
                return Err(Error::model(
                    model,
                    format!(
                        "tensor {name} in {file_name} has shape {:?}, but config.json implies {:?}",
                        t.dims(),
                        var.dims()
                    ),
                ));
            }
            None => {
                return Err(Error::model(model, format!("{file_name} lacks tensor {name}")));
            }
        }
    }
    // Buffers some checkpoints carry (`embeddings.position_ids`, `….token_type_ids`) are not
    // parameters, and a masked-LM decoder's weight is the word embeddings (tied).
    let unreported = |k: &str| {
        k.ends_with("position_ids")
            || k.ends_with("token_type_ids")
            || k.starts_with(super::family::OUR_MLM_DECODER)
    };
    report.unused = by_name.into_keys().filter(|k| !unreported(k)).collect();
    report.unused.sort();
    Ok(report)
}
