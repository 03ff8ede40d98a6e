//! A run's resumable state: everything it needs to go on exactly where it stopped, as if it had
//! never stopped — the weights, the optimiser's moments and step count, the generator streams
//! of dropout and masking, how far the loop has come in which phase, and what the run has
//! achieved so far (its best validation, its early-stopping counter).
//!
//! One file, `<run>/state.safetensors`: the tensors as safetensors (so that any tool can read
//! them), the rest as JSON in its metadata. It is written to a temporary file, synced and
//! renamed into place, so the file there is always a whole one: a save cut short (a kill, a
//! full disk) leaves the previous state. A file that does not parse, lacks a tensor, has one
//! of another shape or was saved under other settings is refused with the reason, before
//! anything is loaded.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::{CpuStorage, DType, Tensor, Var};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use safetensors::{Dtype, SafeTensors, View};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::epochs::Progress;
use super::optim::AdamW;
use crate::error::{Error, IoContext, Result};

/// The state file's name in a run record.
pub const STATE_FILE: &str = "state.safetensors";
/// Bumped when the layout changes: a state of another format is refused, not misread.
const FORMAT: u32 = 1;
/// The metadata entry holding `StateMeta` as JSON.
const META_KEY: &str = "bertbench_state";

/// Where a run keeps its resumable state, and the fingerprint of the settings it is valid for.
#[derive(Debug, Clone)]
pub struct StateFile {
    pub path: PathBuf,
    /// SHA-256 of the run's config as recorded (`config.toml`).
    pub fingerprint: String,
}

impl StateFile {
    pub fn in_record(dir: &Path, config_toml: &str) -> Self {
        Self { path: dir.join(STATE_FILE), fingerprint: hex(&Sha256::digest(config_toml.as_bytes())) }
    }
}

/// Which loop a state was saved in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// The masked-LM stage before fine-tuning.
    MaskedLmStage,
    FineTune,
    Pretrain,
}

impl Phase {
    fn as_str(self) -> &'static str {
        match self {
            Self::MaskedLmStage => "the masked-LM stage",
            Self::FineTune => "fine-tuning",
            Self::Pretrain => "pretraining",
        }
    }
}

/// A generator's position: seed, stream and word position (`ChaCha` is seekable).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct GeneratorState {
    seed: String,
    stream: u64,
    /// A u128, as text: JSON numbers do not hold it.
    word_pos: String,
}

impl GeneratorState {
    fn of(rng: &ChaCha8Rng) -> Self {
        Self {
            seed: hex(&rng.get_seed()),
            stream: rng.get_stream(),
            word_pos: rng.get_word_pos().to_string(),
        }
    }

    fn generator(&self) -> Option<ChaCha8Rng> {
        let bytes = unhex(&self.seed)?;
        let mut rng = ChaCha8Rng::from_seed(bytes.try_into().ok()?);
        rng.set_stream(self.stream);
        rng.set_word_pos(self.word_pos.parse().ok()?);
        Some(rng)
    }
}

/// Everything but the tensors.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StateMeta {
    format: u32,
    fingerprint: String,
    pub phase: Phase,
    /// How far the run had come (loop position included) and what it had achieved.
    pub progress: Progress,
    /// Seconds the run had been going.
    elapsed_s: f64,
    optimizer_steps: i32,
    streams: BTreeMap<String, GeneratorState>,
    /// The task's own memory (e.g. its best validation so far).
    memory: serde_json::Value,
}

/// What a task saves: its phase, its model's variables, its optimiser, its generators by
/// name, and its memory.
pub(crate) struct Parts<'a> {
    pub phase: Phase,
    pub vars: Vec<(String, Var)>,
    pub optimizer: &'a AdamW,
    pub streams: Vec<(&'static str, &'a ChaCha8Rng)>,
    pub memory: serde_json::Value,
}

/// What a task restores into: the same, mutable.
pub(crate) struct RestoreInto<'a> {
    pub phase: Phase,
    pub vars: Vec<(String, Var)>,
    pub optimizer: &'a mut AdamW,
    pub streams: Vec<(&'static str, &'a mut ChaCha8Rng)>,
}

/// A tensor to write: a parameter, or one of a host-side optimiser moment.
enum Entry<'a> {
    Tensor(Tensor),
    Values(&'a [f32], Vec<usize>),
}

impl View for Entry<'_> {
    fn dtype(&self) -> Dtype {
        match self {
            Self::Tensor(t) => t.dtype().into(),
            Self::Values(..) => Dtype::F32,
        }
    }

    fn shape(&self) -> &[usize] {
        match self {
            Self::Tensor(t) => t.dims(),
            Self::Values(_, shape) => shape,
        }
    }

    fn data(&self) -> Cow<'_, [u8]> {
        match self {
            Self::Tensor(t) => Cow::Owned(tensor_bytes(t)),
            // Moments are written straight from the optimiser's memory.
            Self::Values(values, _) => Cow::Borrowed(bytemuck::cast_slice(values)),
        }
    }

    fn data_len(&self) -> usize {
        match self {
            Self::Tensor(t) => View::data_len(t),
            Self::Values(values, _) => values.len() * 4,
        }
    }
}

/// A tensor's bytes (little-endian, as safetensors stores them): one copy of a contiguous f32
/// tensor on the CPU; through candle's conversion otherwise.
fn tensor_bytes(t: &Tensor) -> Vec<u8> {
    if t.is_contiguous() && t.dtype() == DType::F32 {
        let (storage, layout) = t.storage_and_layout();
        if let (candle_core::Storage::Cpu(CpuStorage::F32(values)), Some((from, to))) =
            (&*storage, layout.contiguous_offsets())
        {
            return bytemuck::cast_slice(&values[from..to]).to_vec();
        }
    }
    View::data(t).into_owned()
}

fn param_key(name: &str) -> String {
    format!("param/{name}")
}

fn moment_key(which: &str, name: &str) -> String {
    format!("adamw.{which}/{name}")
}

/// Writes the state of `parts` as of `progress` to `file`, atomically and durably; returns its
/// size in bytes.
pub(crate) fn save(file: &StateFile, progress: &Progress, parts: Parts) -> Result<u64> {
    let meta = StateMeta {
        format: FORMAT,
        fingerprint: file.fingerprint.clone(),
        phase: parts.phase,
        progress: progress.clone(),
        elapsed_s: progress.started.elapsed().as_secs_f64(),
        optimizer_steps: parts.optimizer.steps(),
        streams: parts
            .streams
            .iter()
            .map(|(name, rng)| ((*name).to_owned(), GeneratorState::of(rng)))
            .collect(),
        memory: parts.memory,
    };
    let meta_json = serde_json::to_string(&meta).map_err(|e| Error::Run(format!("resumable state: {e}")))?;
    let mut entries: Vec<(String, Entry)> = Vec::new();
    for (name, var) in &parts.vars {
        entries.push((param_key(name), Entry::Tensor(var.as_tensor().clone())));
    }
    for (name, [m, v]) in parts.optimizer.moments() {
        for (which, moment) in [("m", m), ("v", v)] {
            let entry = match moment {
                super::optim::Moment::Host(values, shape) => Entry::Values(values, shape),
                super::optim::Moment::Device(t) => Entry::Tensor(t.clone()),
            };
            entries.push((moment_key(which, name), entry));
        }
    }
    let tmp = file.path.with_extension("safetensors.tmp");
    let written = (|| {
        safetensors::serialize_to_file(
            entries,
            Some(HashMap::from([(META_KEY.to_owned(), meta_json)])),
            &tmp,
        )
        .map_err(|e| match e {
            safetensors::SafeTensorError::IoError(io) => Error::io(&tmp, io),
            other => Error::Run(format!("cannot write {}: {other}", tmp.display())),
        })?;
        // Synced before the rename, so that after a crash or a power cut the name holds a
        // whole file, the new one or the old.
        std::fs::File::open(&tmp).and_then(|f| f.sync_all()).at(&tmp)?;
        std::fs::rename(&tmp, &file.path).at(&file.path)?;
        std::fs::metadata(&file.path).map(|m| m.len()).at(&file.path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// A state file read whole and checked against the run's settings.
pub struct Saved {
    pub meta: StateMeta,
    bytes: Vec<u8>,
    path: PathBuf,
}

impl std::fmt::Debug for Saved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Saved({}, {} at step {})",
            self.path.display(),
            self.meta.phase.as_str(),
            self.meta.progress.step
        )
    }
}

impl Saved {
    /// Reads `file`; `None` when there is none. A file that is not a whole state saved under
    /// these settings is an error that says why.
    pub fn read(file: &StateFile) -> Result<Option<Self>> {
        let bytes = match std::fs::read(&file.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(&file.path, e)),
        };
        let refuse = |why: String| Error::Run(format!("{}: {why}; it is not used", file.path.display()));
        let (_, header) = SafeTensors::read_metadata(&bytes)
            .map_err(|e| refuse(format!("not a whole state file ({e})")))?;
        let json = header
            .metadata()
            .as_ref()
            .and_then(|m| m.get(META_KEY))
            .ok_or_else(|| refuse("not a bertbench state (no metadata)".into()))?;
        let meta: StateMeta =
            serde_json::from_str(json).map_err(|e| refuse(format!("unreadable metadata ({e})")))?;
        if meta.format != FORMAT {
            return Err(refuse(format!("format {} (this bertbench reads format {FORMAT})", meta.format)));
        }
        if meta.fingerprint != file.fingerprint {
            return Err(refuse("it was saved under other settings than the run's config.toml".into()));
        }
        Ok(Some(Self { meta, bytes, path: file.path.clone() }))
    }

    /// The run's progress as saved, its clock going on from the time it had run.
    pub fn progress(&self) -> Progress {
        let mut progress = self.meta.progress.clone();
        let elapsed = std::time::Duration::from_secs_f64(self.meta.elapsed_s.max(0.0));
        progress.started = Instant::now().checked_sub(elapsed).unwrap_or_else(Instant::now);
        progress
    }

    /// Loads the saved tensors and generators into `targets` and returns the task's memory.
    /// Everything is checked first (phase, every tensor's presence, type and shape, every
    /// generator), so that a state that does not fit loads nothing.
    pub(crate) fn restore(&self, targets: RestoreInto) -> Result<serde_json::Value> {
        let refuse = |why: String| Error::Run(format!("{}: {why}; it is not used", self.path.display()));
        if self.meta.phase != targets.phase {
            return Err(refuse(format!(
                "saved in {}, but the run resumes in {}",
                self.meta.phase.as_str(),
                targets.phase.as_str()
            )));
        }
        let st = SafeTensors::deserialize(&self.bytes)
            .map_err(|e| refuse(format!("not a whole state file ({e})")))?;
        let mut expected: Vec<(String, Vec<usize>)> =
            targets.vars.iter().map(|(n, v)| (param_key(n), v.dims().to_vec())).collect();
        for (name, shape) in targets.optimizer.shapes() {
            expected.push((moment_key("m", &name), shape.clone()));
            expected.push((moment_key("v", &name), shape));
        }
        for (key, shape) in &expected {
            let view = st.tensor(key).map_err(|_| refuse(format!("it has no tensor {key}")))?;
            if view.dtype() != Dtype::F32 || view.shape() != shape.as_slice() {
                return Err(refuse(format!(
                    "{key} is {:?} {:?}, the model's is F32 {shape:?}",
                    view.dtype(),
                    view.shape()
                )));
            }
        }
        if st.len() != expected.len() {
            return Err(refuse(format!("it holds {} tensors, the run has {}", st.len(), expected.len())));
        }
        let mut generators = Vec::new();
        for (name, _) in &targets.streams {
            let rng = self.meta.streams.get(*name).and_then(GeneratorState::generator);
            generators
                .push(rng.ok_or_else(|| refuse(format!("its {name} generator is missing or unreadable")))?);
        }
        let values = |key: &str| -> Result<Vec<f32>> {
            let view = st.tensor(key).map_err(|_| refuse(format!("it has no tensor {key}")))?;
            Ok(bytemuck::pod_collect_to_vec(view.data()))
        };
        for (name, var) in &targets.vars {
            let restored = Tensor::from_vec(values(&param_key(name))?, var.dims(), var.device())?;
            var.set(&restored.to_dtype(DType::F32)?)?;
        }
        targets
            .optimizer
            .restore(self.meta.optimizer_steps, |name, which| values(&moment_key(which, name)))?;
        for ((_, rng), restored) in targets.streams.into_iter().zip(generators) {
            *rng = restored;
        }
        Ok(self.meta.memory.clone())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    (0..text.len())
        .step_by(2)
        .map(|i| text.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect()
}

#[cfg(test)]
mod tests {
    use candle_core::Device;

    use super::*;
    use crate::train::optim::Gradients;

    fn vars(shape: (usize, usize), start: f32) -> Vec<(String, Var)> {
        let n = shape.0 * shape.1;
        let values: Vec<f32> = (0..n).map(|i| start + i as f32 * 0.25).collect();
        vec![
            ("layer.weight".to_owned(), Var::from_vec(values, shape, &Device::Cpu).expect("w")),
            ("layer.bias".to_owned(), Var::from_vec(vec![start; shape.1], shape.1, &Device::Cpu).expect("b")),
        ]
    }

    /// An optimiser over `vars` that has taken two steps (its moments are not zero).
    fn trained(vars: &[(String, Var)]) -> AdamW {
        let mut opt = AdamW::new(vars.to_vec(), 0.01).expect("opt");
        for k in 0..2 {
            let grads: Gradients = vars
                .iter()
                .map(|(n, v)| {
                    (n.clone(), (v.as_tensor().ones_like().expect("g") * (0.5 + k as f64)).expect("g"))
                })
                .collect();
            opt.step(&grads, 1e-2, 1.0).expect("step");
        }
        opt
    }

    fn values(vars: &[(String, Var)]) -> Vec<Vec<f32>> {
        vars.iter().map(|(_, v)| v.flatten_all().expect("flat").to_vec1::<f32>().expect("values")).collect()
    }

    /// Restores `saved` into `vars` (with a fresh optimiser and generator) as `phase`.
    fn restore_into(
        saved: &Saved,
        phase: Phase,
        vars: &[(String, Var)],
    ) -> Result<(serde_json::Value, AdamW, ChaCha8Rng)> {
        let mut opt = AdamW::new(vars.to_vec(), 0.01)?;
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let memory = saved.restore(RestoreInto {
            phase,
            vars: vars.to_vec(),
            optimizer: &mut opt,
            streams: vec![("dropout", &mut rng)],
        })?;
        Ok((memory, opt, rng))
    }

    fn saved_in(dir: &Path) -> (StateFile, Vec<(String, Var)>, AdamW, ChaCha8Rng) {
        let file = StateFile::in_record(dir, "seed = 1\n");
        let params = vars((3, 4), 1.0);
        let opt = trained(&params);
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let _: u64 = rand::Rng::random(&mut rng);
        let progress = Progress { step: 7, stale_evals: 1, ..Progress::new() };
        let parts = Parts {
            phase: Phase::FineTune,
            vars: params.clone(),
            optimizer: &opt,
            streams: vec![("dropout", &rng)],
            memory: serde_json::json!({ "best": 0.75 }),
        };
        save(&file, &progress, parts).expect("save");
        (file, params, opt, rng)
    }

    #[test]
    fn a_saved_state_restores_weights_moments_steps_generators_and_progress() {
        let tmp = tempfile::tempdir().expect("tmp");
        let (file, params, opt, mut rng) = saved_in(tmp.path());
        let fresh = vars((3, 4), -5.0);
        let saved = Saved::read(&file).expect("read").expect("a state");
        let (memory, mut fresh_opt, mut fresh_rng) =
            restore_into(&saved, Phase::FineTune, &fresh).expect("restore");
        assert_eq!(memory, serde_json::json!({ "best": 0.75 }));
        assert_eq!(values(&fresh), values(&params));
        assert_eq!(fresh_opt.steps(), 2);
        // Both optimisers take the same next step.
        let mut opt = opt;
        let grads: Gradients =
            params.iter().map(|(n, v)| (n.clone(), v.as_tensor().ones_like().expect("g"))).collect();
        let fresh_grads: Gradients =
            fresh.iter().map(|(n, v)| (n.clone(), v.as_tensor().ones_like().expect("g"))).collect();
        opt.step(&grads, 1e-2, 1.0).expect("step");
        fresh_opt.step(&fresh_grads, 1e-2, 1.0).expect("step");
        assert_eq!(values(&fresh), values(&params), "the moments were restored");
        assert_eq!(rand::Rng::random::<u64>(&mut fresh_rng), rand::Rng::random::<u64>(&mut rng));
        let progress = saved.progress();
        assert_eq!((progress.step, progress.stale_evals), (7, 1));
    }

    #[test]
    fn a_state_that_does_not_fit_is_refused_with_the_reason_and_loads_nothing() {
        let tmp = tempfile::tempdir().expect("tmp");
        let (file, _, _, _) = saved_in(tmp.path());
        let saved = Saved::read(&file).expect("read").expect("a state");
        let other = vars((3, 5), -5.0);
        let before = values(&other);
        let error = restore_into(&saved, Phase::FineTune, &other).map(|_| ()).expect_err("another shape");
        assert!(
            error.to_string().contains("param/layer.weight is F32 [3, 4], the model's is F32 [3, 5]"),
            "{error}"
        );
        assert_eq!(values(&other), before, "nothing was loaded");
        let error =
            restore_into(&saved, Phase::MaskedLmStage, &other).map(|_| ()).expect_err("another phase");
        assert!(
            error.to_string().contains("saved in fine-tuning, but the run resumes in the masked-LM stage")
        );

        let elsewhere = StateFile { fingerprint: "0".repeat(64), ..file.clone() };
        let error = Saved::read(&elsewhere).expect_err("other settings");
        assert!(error.to_string().contains("saved under other settings"), "{error}");

        let bytes = std::fs::read(&file.path).expect("bytes");
        std::fs::write(&file.path, &bytes[..bytes.len() - 10]).expect("truncate");
        let error = Saved::read(&file).expect_err("truncated");
        assert!(error.to_string().contains("not a whole state file"), "{error}");
    }

    #[test]
    fn a_save_cut_short_leaves_the_previous_state_whole() {
        let tmp = tempfile::tempdir().expect("tmp");
        let (file, ..) = saved_in(tmp.path());
        // As after a kill during the next save: a partial temporary file beside the state.
        std::fs::write(file.path.with_extension("safetensors.tmp"), b"\x10\x00\x00").expect("partial");
        let saved = Saved::read(&file).expect("read").expect("the previous state");
        assert_eq!(saved.meta.progress.step, 7);
        // A save that cannot be written leaves no temporary file and the previous state.
        let blocked = StateFile { path: tmp.path().join("missing/state.safetensors"), ..file.clone() };
        let params = vars((3, 4), 1.0);
        let opt = trained(&params);
        let rng = ChaCha8Rng::seed_from_u64(9);
        let parts = Parts {
            phase: Phase::FineTune,
            vars: params,
            optimizer: &opt,
            streams: vec![("dropout", &rng)],
            memory: serde_json::Value::Null,
        };
        assert!(save(&blocked, &Progress::new(), parts).is_err());
        assert!(!tmp.path().join("missing").exists());
        assert!(Saved::read(&StateFile::in_record(tmp.path(), "other")).is_err(), "the state is still there");
    }
}
