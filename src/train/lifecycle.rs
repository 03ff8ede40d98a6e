//! What every run shares, fine-tuning or pretraining: where its outputs go, the device, the
//! resolution of its sources, the model's folder, the checks against the model's shape, the
//! `Started` announcement, and `conclude`, which turns however the work ended (done, stopped,
//! an error, a panic) into the one `Finished` event that closes every run.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use candle_core::Device;

use super::epochs::{Ending, Progress};
use super::event::{EventSink, GpuMemory, RunStarted, TrainEvent};
use super::state::{Parts, Saved, StateFile};
use crate::config::{RunConfig, RunKind};
use crate::error::{Error, Result};
use crate::model::params::LoadReport;
use crate::model::scratch::{Preset, write_scratch_model};
use crate::model::source;
use crate::report::{RunStatus, RunSummary};

/// Where a run's outputs go.
#[derive(Debug, Clone)]
pub struct RunContext {
    pub run_id: String,
    /// The best checkpoint is written here (`<run>/model`); `None` keeps no checkpoints.
    pub checkpoint_dir: Option<PathBuf>,
    /// Where the resumable state is kept; `None` keeps none.
    pub state: Option<StateFile>,
}

/// The devices this build can run on here: the CPU, and each CUDA GPU in a `cuda` build
/// (probed once: opening a GPU creates a context, too slow for every key press of the form).
pub fn devices() -> &'static [String] {
    static DEVICES: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    DEVICES.get_or_init(|| {
        let cpu = std::iter::once("cpu".to_owned());
        #[cfg(feature = "cuda")]
        let cpu =
            cpu.chain((0..16).take_while(|&i| Device::new_cuda(i).is_ok()).map(|i| format!("cuda:{i}")));
        cpu.collect()
    })
}

/// The memory of the GPU `device` is on, or `None` on the CPU (or if the driver cannot say).
pub fn gpu_memory(device: &Device) -> Option<GpuMemory> {
    #[cfg(feature = "cuda")]
    if let Device::Cuda(gpu) = device {
        let (free, total) = gpu.cuda_stream().context().mem_get_info().ok()?;
        let mib = |bytes: usize| bytes as f64 / (1024.0 * 1024.0);
        return Some(GpuMemory { used_mib: mib(total - free), total_mib: mib(total) });
    }
    let _ = device;
    None
}

pub fn device_from(name: &str) -> Result<Device> {
    if name == "cpu" {
        return Ok(Device::Cpu);
    }
    let ordinal = name
        .strip_prefix("cuda")
        .map(|r| r.trim_start_matches(':'))
        .map(|r| if r.is_empty() { Ok(0) } else { r.parse::<usize>() })
        .and_then(std::result::Result::ok)
        .ok_or_else(|| Error::Config(format!("unknown device {name:?}: use cpu or cuda:N")))?;
    if !cfg!(feature = "cuda") {
        return Err(Error::Config(format!(
            "device {name}: this bertbench was built without the `cuda` feature (cargo build --features cuda); use --device cpu"
        )));
    }
    Device::new_cuda(ordinal).map_err(|e| Error::Config(format!("device {name}: {e}")))
}

/// Checks the settings, resolves the model and fingerprints the data files, recording both in
/// `cfg.resolved`, so that the run record says exactly what was used. Bad paths fail here,
/// before a run exists.
pub fn prepare(cfg: &mut RunConfig) -> Result<()> {
    cfg.validate()?;
    // A device that cannot be had is refused here, not in a run record left failed; so is a
    // precision it cannot run. `auto` becomes what it means on this machine.
    let device = device_from(&cfg.device)?;
    cfg.precision = cfg.precision.on(&device)?;
    if cfg.model.source.trim().is_empty() {
        // No model given: the embedded one, named so in the record.
        crate::model::embedded::SOURCE.clone_into(&mut cfg.model.source);
    }
    let (model_dir, model_revision) = if Preset::from_source(&cfg.model.source)?.is_some() {
        // Built from the training texts when the run starts.
        (PathBuf::from(&cfg.model.source), None)
    } else {
        let files = source::resolve(&cfg.model.source, &cfg.model.revision)?;
        (files.dir, files.revision)
    };
    // What the model cannot do is refused before a record exists too: sequences longer than
    // its positions, a head its family lacks. (A `scratch:` model is built to fit.)
    if model_dir.join("config.json").is_file() {
        let model = crate::model::EncoderConfig::from_file(&model_dir.join("config.json"))?;
        check_max_len(cfg.train.max_len, model.max_tokens())?;
        if cfg.kind == RunKind::Pretrain && cfg.mlm.nsp {
            model.family().check_next_sentence(&cfg.model.source)?;
        }
    }
    // A hub dataset becomes its split files in the hub cache; the record keeps both.
    let mut dataset_source = None;
    if let Some(hub) = crate::data::hub::HubDataset::parse(&cfg.data.train.to_string_lossy()) {
        // A split in several shards is joined once into bertbench's cache.
        let joined = crate::model::embedded::cache_root().join("hub-datasets");
        let splits = hub?.resolve(&hf_hub::Cache::from_env(), source::offline(), &joined)?;
        cfg.data.train = splits.train;
        cfg.data.valid = cfg.data.valid.take().or(splits.valid);
        cfg.data.test = cfg.data.test.take().or(splits.test);
        dataset_source = Some(splits.source);
    }
    let dataset_sha256 = data_fingerprints(&data_files(cfg)?)?;
    cfg.resolved = Some(crate::config::Resolved {
        bertbench_version: env!("CARGO_PKG_VERSION").to_owned(),
        model_dir,
        model_revision,
        dataset_sha256,
        dataset_source,
    });
    Ok(())
}

/// The data files the run reads, by role: `train`, `valid`, `test`, and `corpus`, `corpus-2`,
/// … for the files of a masked-LM corpus.
pub fn data_files(cfg: &RunConfig) -> Result<Vec<(String, PathBuf)>> {
    let d = &cfg.data;
    // A pretraining run reads its corpus, not the data splits.
    let train = (cfg.kind == RunKind::FineTune).then_some(&d.train);
    let mut files: Vec<(String, PathBuf)> =
        [("train", train), ("valid", d.valid.as_ref()), ("test", d.test.as_ref())]
            .into_iter()
            .filter_map(|(role, path)| Some((role.to_owned(), path?.clone())))
            .collect();
    let reads_corpus = cfg.kind == RunKind::Pretrain || cfg.mlm.mask_ratio > 0.0;
    let corpus = if reads_corpus { crate::data::corpus::corpus_files(&cfg.mlm.corpus)? } else { Vec::new() };
    for (i, file) in corpus.into_iter().enumerate() {
        let role = if i == 0 { "corpus".to_owned() } else { format!("corpus-{}", i + 1) };
        files.push((role, file));
    }
    Ok(files)
}

/// The SHA-256 of each of `files` (`data_files`), by role; a resumed run checks its data
/// against them.
pub fn data_fingerprints(files: &[(String, PathBuf)]) -> Result<std::collections::BTreeMap<String, String>> {
    files.iter().map(|(role, path)| Ok((role.clone(), crate::data::load::sha256_file(path)?))).collect()
}

/// The directory holding the model's files. A `scratch:` model (its tokenizer trained on `texts`,
/// with `[mlm] vocab-size` entries at most) is written to a temporary directory, returned too so
/// that it lives as long as the run.
pub(crate) fn model_dir(cfg: &RunConfig, texts: &[String]) -> Result<(PathBuf, Option<tempfile::TempDir>)> {
    if let Some(preset) = Preset::from_source(&cfg.model.source)? {
        let tmp = tempfile::tempdir().map_err(|e| Error::io(std::env::temp_dir(), e))?;
        write_scratch_model(tmp.path(), preset, texts, cfg.mlm.vocab_size)?;
        return Ok((tmp.path().to_path_buf(), Some(tmp)));
    }
    let dir = match &cfg.resolved {
        Some(r) => r.model_dir.clone(),
        None => source::resolve(&cfg.model.source, &cfg.model.revision)?.dir,
    };
    Ok((dir, None))
}

/// Seeds a run's dropout generator (xored with the run's seed).
pub(crate) const DROPOUT_STREAM: u64 = 0x5EED_D809;

/// Refuses a `max-len` longer than the model has positions for.
pub(crate) fn check_max_len(max_len: usize, positions: usize) -> Result<()> {
    if max_len > positions {
        return Err(Error::Config(format!("max-len {max_len} exceeds the model's {positions} positions")));
    }
    Ok(())
}

/// What every run's `Started` event says of `cfg`, `ctx` and how the model loaded (`loaded`),
/// with the sizes left at 0 for the run to fill in: `RunStarted { train_examples, …,
/// ..started(cfg, ctx, loaded) }`.
pub(crate) fn started(cfg: &RunConfig, ctx: &RunContext, loaded: &LoadReport) -> RunStarted {
    RunStarted {
        run_id: ctx.run_id.clone(),
        model: cfg.model.source.clone(),
        device: cfg.device.clone(),
        precision: cfg.precision.as_str().to_owned(),
        labels: Vec::new(),
        train_examples: 0,
        valid_examples: 0,
        test_examples: 0,
        epochs: 0,
        steps_per_epoch: 0,
        total_steps: 0,
        mlm_steps: 0,
        trainable_parameters: 0,
        initialised: loaded.initialised.clone(),
        unused: loaded.unused.clone(),
    }
}

/// Keeps the model `save` writes as the run's `model/` (when the run keeps checkpoints), as of
/// `progress`, and reports it with the metric it was judged by (NaN: none).
pub(crate) fn keep_checkpoint(
    ctx: &RunContext,
    progress: &mut Progress,
    sink: &mut dyn EventSink,
    metric: f64,
    save: impl FnOnce(&Path) -> Result<()>,
) -> Result<()> {
    let Some(dir) = &ctx.checkpoint_dir else { return Ok(()) };
    save(dir)?;
    progress.checkpoint = Some((progress.step, progress.epoch));
    sink.emit(&TrainEvent::CheckpointSaved { step: progress.step, path: dir.display().to_string(), metric })?;
    Ok(())
}

/// Saves the model `save` writes as a snapshot asked for during training, in
/// `checkpoint-step-N/` beside (never over) the run's `model/`, and reports it.
pub(crate) fn save_snapshot(
    ctx: &RunContext,
    progress: &Progress,
    sink: &mut dyn EventSink,
    save: impl FnOnce(&Path) -> Result<()>,
) -> Result<()> {
    let Some(best) = &ctx.checkpoint_dir else { return Ok(()) };
    let dir = best.with_file_name(format!("checkpoint-step-{}", progress.step));
    save(&dir)?;
    sink.emit(&TrainEvent::CheckpointSaved {
        step: progress.step,
        path: dir.display().to_string(),
        metric: f64::NAN,
    })?;
    Ok(())
}

/// Saves the resumable state of `parts` as of `progress` (when the run keeps one), and reports
/// its size and how long it took.
pub(crate) fn save_state<'a>(
    ctx: &RunContext,
    progress: &Progress,
    sink: &mut dyn EventSink,
    parts: impl FnOnce() -> Result<Parts<'a>>,
) -> Result<()> {
    let Some(file) = &ctx.state else { return Ok(()) };
    let began = std::time::Instant::now();
    let bytes = super::state::save(file, progress, parts()?)?;
    sink.emit(&TrainEvent::StateSaved {
        step: progress.step,
        bytes,
        seconds: began.elapsed().as_secs_f64(),
    })?;
    Ok(())
}

/// The `Started` event of a new run; a resumed one (`saved`) says instead from which step it
/// goes on, its history (with its `Started`) being in its record already.
pub(crate) fn announce(sink: &mut dyn EventSink, started: RunStarted, saved: Option<&Saved>) -> Result<()> {
    let event = match saved {
        Some(s) => TrainEvent::RunResumed { step: s.meta.progress.step },
        None => TrainEvent::Started(started),
    };
    sink.emit(&event).map(|_| ())
}

/// Runs a run's `work` from `progress` (fresh, or as a resumed run saved it), turns how it ended (or its error, or its panic)
/// into a status and reason, and emits the summary as the final `Finished` event. The outer
/// `Err` is only for a sink that could not take that event (e.g. the disk is full).
pub(crate) fn conclude(
    ctx: &RunContext,
    sink: &mut dyn EventSink,
    mut progress: Progress,
    work: impl FnOnce(&mut dyn EventSink, &mut Progress) -> Result<Ending>,
) -> Result<RunSummary> {
    let (status, reason) = match guarded(|| work(&mut *sink, &mut progress)) {
        Ok(Ending::Completed) => (RunStatus::Finished, None),
        Ok(Ending::EarlyStopped(why)) => (RunStatus::Finished, Some(why)),
        Ok(Ending::Cancelled) => (RunStatus::Cancelled, Some("stopped on request".to_owned())),
        Err(message) => (RunStatus::Failed, Some(message)),
    };
    let summary = progress.summary(&ctx.run_id, status, reason);
    sink.emit(&TrainEvent::Finished(summary.clone()))?;
    Ok(summary)
}

/// Runs `work`, turning its error or its panic into the message a failed run records.
pub fn guarded<T>(work: impl FnOnce() -> Result<T>) -> std::result::Result<T, String> {
    match catch_unwind(AssertUnwindSafe(work)) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(e.to_string()),
        Err(panic) => Err(format!("internal error: {}", crate::error::panic_message(&*panic))),
    }
}
