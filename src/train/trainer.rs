//! The training loop: load data and model, fine-tune, evaluate, keep the best checkpoint.
//! It reports through an `EventSink` and obeys `Command`s between steps; it never prints.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::{Duration, Instant};

use candle_core::Device;

use super::event::{
    Command, EvalReport, EventSink, Flow, MlmReport, Prediction, RunStarted, RunStatus, RunSummary,
    SplitSummary, StepMetrics, TrainEvent,
};
use super::optim::AdamW;
use super::pretrain::{StageData, adapt};
use super::schedule::LinearSchedule;
use super::step::{StepSettings, optimizer_step};
use crate::config::HeadKind;
use crate::config::RunConfig;
use crate::data::batch::{Batcher, epoch_order, length_grouped_order};
use crate::data::corpus::read_documents;
use crate::data::{Encoded, Encoding, Examples, Splits, Targets};
use crate::error::{Error, Result};
use crate::eval::evaluate;
use crate::eval::multilabel::Threshold;
use crate::model::checkpoint::{Classifier, HeadSpec};
use crate::model::dropout::Dropout;
use crate::model::heads::{Freeze, TargetScale};
use crate::model::params::sorted_vars;
use crate::model::scratch::{Preset, write_scratch_model};
use crate::model::source;

/// Where a run's outputs go.
#[derive(Debug, Clone)]
pub struct RunContext {
    pub run_id: String,
    /// The best checkpoint is written here (`<run>/model`); `None` keeps no checkpoints.
    pub checkpoint_dir: Option<PathBuf>,
}

/// Runs a whole fine-tuning run and returns its summary. Errors and panics inside become a
/// `failed` summary; the `Finished` event is always the last one emitted. The outer `Err` is
/// only for a sink that could not take that final event (e.g. the disk is full).
pub fn run(
    config: &RunConfig,
    ctx: &RunContext,
    sink: &mut dyn EventSink,
    commands: &Receiver<Command>,
) -> Result<RunSummary> {
    conclude(
        sink,
        |sink, progress: &mut Progress| train(config, ctx, sink, commands, progress),
        |progress, status, reason, elapsed| {
            let reason = match status {
                RunStatus::Failed => reason.map(|r| progress.failure_note(&r)),
                _ => reason,
            };
            progress.summary(ctx, status, reason, elapsed)
        },
    )
}

/// Runs a run's `work` on a fresh progress record, turns how it ended (or its error, or its
/// panic) into a status and reason, summarises it and emits the final `Finished` event. Shared
/// by fine-tuning and pretraining.
pub(crate) fn conclude<P: Default>(
    sink: &mut dyn EventSink,
    work: impl FnOnce(&mut dyn EventSink, &mut P) -> Result<Ending>,
    summarise: impl FnOnce(&P, RunStatus, Option<String>, Duration) -> RunSummary,
) -> Result<RunSummary> {
    let started = Instant::now();
    let mut progress = P::default();
    let (status, reason) = match guarded(|| work(&mut *sink, &mut progress)) {
        Ok(Ending::Completed) => (RunStatus::Finished, None),
        Ok(Ending::EarlyStopped(why)) => (RunStatus::Finished, Some(why)),
        Ok(Ending::Cancelled) => (RunStatus::Cancelled, Some("stopped on request".to_owned())),
        Err(message) => (RunStatus::Failed, Some(message)),
    };
    let summary = summarise(&progress, status, reason, started.elapsed());
    sink.emit(&TrainEvent::Finished(summary.clone()))?;
    Ok(summary)
}

/// What obeying a command asks of the loop.
pub(crate) enum Request {
    /// Report this event: a pause or a resume.
    Report(Box<TrainEvent>),
    /// Save a checkpoint now.
    Snapshot,
}

impl Request {
    fn paused(step: usize) -> Self {
        Self::Report(Box::new(TrainEvent::Paused { step }))
    }

    fn resumed(step: usize) -> Self {
        Self::Report(Box::new(TrainEvent::Resumed { step }))
    }
}

/// Handles the commands waiting between two steps; blocks while paused. `false` means stop.
pub(crate) fn obey(
    commands: &Receiver<Command>,
    step: usize,
    mut act: impl FnMut(Request) -> Result<()>,
) -> Result<bool> {
    let mut paused = false;
    loop {
        let command = if paused {
            match commands.recv() {
                Ok(c) => c,
                Err(_) => return Ok(false),
            }
        } else {
            match commands.try_recv() {
                Ok(c) => c,
                // Disconnected: nobody can command us any more, so carry on to the end.
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => return Ok(true),
            }
        };
        match command {
            Command::Stop => return Ok(false),
            Command::Pause if !paused => {
                paused = true;
                act(Request::paused(step))?;
            }
            Command::Resume if paused => {
                act(Request::resumed(step))?;
                return Ok(true);
            }
            Command::SaveCheckpoint => act(Request::Snapshot)?,
            Command::Pause | Command::Resume => {}
        }
    }
}

/// Runs `work`, turning its error or its panic into the message a failed run records.
pub fn guarded<T>(work: impl FnOnce() -> Result<T>) -> std::result::Result<T, String> {
    match catch_unwind(AssertUnwindSafe(work)) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(e.to_string()),
        Err(panic) => {
            let text = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panic".to_owned());
            Err(format!("internal error: {text}"))
        }
    }
}

/// Examples and time spent training and evaluating: the speed figures of a run's summary.
#[derive(Default)]
pub(crate) struct Throughput {
    train_examples: usize,
    train_time: Duration,
    eval_examples: usize,
    eval_time: Duration,
    time_to_first_step: Option<Duration>,
}

impl Throughput {
    /// One optimiser step over `examples`, which took `took`, `since_start` into the run.
    pub(crate) fn stepped(&mut self, examples: usize, took: Duration, since_start: Duration) {
        self.train_examples += examples;
        self.train_time += took;
        self.time_to_first_step.get_or_insert(since_start);
    }

    pub(crate) fn evaluated(&mut self, examples: usize, took: Duration) {
        self.eval_examples += examples;
        self.eval_time += took;
    }

    /// Training examples/s, evaluation examples/s, seconds to the first step.
    pub(crate) fn figures(&self) -> (f64, f64, Option<f64>) {
        let per_sec = |n: usize, t: Duration| if t.is_zero() { 0.0 } else { n as f64 / t.as_secs_f64() };
        (
            per_sec(self.train_examples, self.train_time),
            per_sec(self.eval_examples, self.eval_time),
            self.time_to_first_step.map(|d| d.as_secs_f64()),
        )
    }
}

/// How a run's work ended when it did not fail.
pub(crate) enum Ending {
    Completed,
    EarlyStopped(String),
    Cancelled,
}

/// What the run has achieved so far: enough to summarise it however it ends.
#[derive(Default)]
struct Progress {
    step: usize,
    epoch: f64,
    speed: Throughput,
    /// The validation with the best value of the chosen metric so far.
    best: Option<BestValidation>,
    /// Step and epoch of the checkpoint in `model/`.
    checkpoint: Option<(usize, f64)>,
    final_valid: Option<SplitSummary>,
    test: Option<SplitSummary>,
    /// The last evaluation of the masked-LM stage, when the run had one.
    pretrain: Option<MlmReport>,
}

struct BestValidation {
    value: f64,
    report: EvalReport,
    /// Kept so that, when this checkpoint is the final model, validation needs no second pass.
    rows: Vec<Prediction>,
}

impl Progress {
    fn failure_note(&self, message: &str) -> String {
        match self.checkpoint {
            Some((s, _)) => format!("{message} (the checkpoint of step {s} is kept in model/)"),
            None => message.to_owned(),
        }
    }

    fn summary(
        &self,
        ctx: &RunContext,
        status: RunStatus,
        reason: Option<String>,
        elapsed: Duration,
    ) -> RunSummary {
        let (train_examples_per_sec, eval_examples_per_sec, time_to_first_step_s) = self.speed.figures();
        RunSummary {
            run_id: ctx.run_id.clone(),
            status,
            reason,
            valid: self
                .final_valid
                .clone()
                .or_else(|| self.best.as_ref().map(|b| SplitSummary::from(&b.report))),
            test: self.test.clone(),
            pretrain: self.pretrain.clone(),
            steps: self.step,
            epochs: self.epoch,
            best_step: self.checkpoint.map(|c| c.0),
            train_examples_per_sec,
            eval_examples_per_sec,
            peak_rss_mib: crate::sys::peak_rss_mib(),
            time_to_first_step_s,
            duration_s: elapsed.as_secs_f64(),
        }
    }
}

struct Session<'a> {
    cfg: &'a RunConfig,
    ctx: &'a RunContext,
    sink: &'a mut dyn EventSink,
    commands: &'a Receiver<Command>,
    batcher: Batcher,
    clf: Classifier,
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
    Device::new_cuda(ordinal).map_err(|e| Error::Config(format!("device {name}: {e}")))
}

/// Resolves the model and fingerprints the data files, recording both in `cfg.resolved`, so
/// that the run record says exactly what was used. Bad paths fail here, before a run exists.
pub fn prepare(cfg: &mut RunConfig) -> Result<()> {
    cfg.validate()?;
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
    let mut dataset_sha256 = std::collections::BTreeMap::new();
    let d = &cfg.data;
    for (split, path) in [("train", Some(&d.train)), ("valid", d.valid.as_ref()), ("test", d.test.as_ref())] {
        if let Some(p) = path {
            dataset_sha256.insert(split.to_owned(), crate::data::load::sha256_file(p)?);
        }
    }
    cfg.resolved = Some(crate::config::Resolved {
        bertbench_version: env!("CARGO_PKG_VERSION").to_owned(),
        model_dir,
        model_revision,
        dataset_sha256,
    });
    Ok(())
}

/// Vocabulary size of models built from scratch (capped by what the texts hold).
const SCRATCH_VOCAB: usize = 8000;

/// The directory holding the model's files. A `scratch:` model (its tokenizer trained on `texts`)
/// is written to a temporary directory, returned too so that it lives as long as the run.
/// Shared by fine-tuning and pretraining.
pub(crate) fn model_dir(
    cfg: &RunConfig,
    texts: &[String],
    vocab_size: usize,
) -> Result<(PathBuf, Option<tempfile::TempDir>)> {
    if let Some(preset) = Preset::from_source(&cfg.model.source)? {
        let tmp = tempfile::tempdir().map_err(|e| Error::io(std::env::temp_dir(), e))?;
        write_scratch_model(tmp.path(), preset, texts, vocab_size)?;
        return Ok((tmp.path().to_path_buf(), Some(tmp)));
    }
    let dir = match &cfg.resolved {
        Some(r) => r.model_dir.clone(),
        None => source::resolve(&cfg.model.source, &cfg.model.revision)?.dir,
    };
    Ok((dir, None))
}

fn train(
    cfg: &RunConfig,
    ctx: &RunContext,
    sink: &mut dyn EventSink,
    commands: &Receiver<Command>,
    progress: &mut Progress,
) -> Result<Ending> {
    let t0 = Instant::now();
    cfg.validate()?;
    let device = device_from(&cfg.device)?;
    let t = &cfg.train;
    let splits = Splits::load(&cfg.data, cfg.head, t.seed)?;
    // A scratch model's directory must outlive the run: its tokenizer is copied at each save.
    let (dir, scratch_dir) = model_dir(cfg, &splits.train.texts, SCRATCH_VOCAB)?;
    let freeze = Freeze { encoder: t.freeze_encoder, layers: t.freeze_layers };
    let spec = HeadSpec { head: cfg.head, labels: Some(splits.labels.names().to_vec()), freeze };
    let mut clf = Classifier::from_dir(
        &dir,
        &cfg.model.source,
        spec,
        t.seed,
        cfg.model.from_scratch || scratch_dir.is_some(),
        &device,
    )?;
    let layers = clf.config.num_hidden_layers;
    if t.freeze_layers > layers {
        return Err(Error::Config(format!(
            "freeze-layers {} exceeds the model's {layers} layers",
            t.freeze_layers
        )));
    }
    if t.max_len > clf.config.max_position_embeddings {
        return Err(Error::Config(format!(
            "max-len {} exceeds the model's {} positions",
            t.max_len, clf.config.max_position_embeddings
        )));
    }
    // With a masking ratio, a masked-LM stage on the run's texts (or its corpus) comes first:
    // the encoder adapts to the domain before the head learns the task. Its inputs are built
    // once, here, while the training texts are still at hand.
    let stage = if cfg.mlm.mask_ratio > 0.0 {
        let texts = if cfg.mlm.corpus.is_empty() {
            splits.train.texts.clone()
        } else {
            read_documents(&cfg.mlm.corpus, cfg.mlm.text_column.as_deref())?
        };
        Some(StageData::new(cfg, &clf.tokenizer, &texts)?)
    } else {
        None
    };
    let mlm_steps = stage.as_ref().map_or(0, |d| d.steps(cfg));
    let batcher = Batcher::new(clf.tokenizer.pad_id, &device);
    let encode = |examples: Examples| {
        let how = Encoding {
            tokenizer: &clf.tokenizer,
            labels: &splits.labels,
            head: cfg.head,
            separator: &cfg.data.label_separator,
            max_len: t.max_len,
        };
        Encoded::new(examples, &how)
    };
    let train_set = encode(splits.train)?;
    let valid_set = splits.valid.map(encode).transpose()?;
    let test_set = splits.test.map(encode).transpose()?;
    if let Targets::Values(values) = &train_set.targets {
        clf.model.scale = TargetScale::of(values);
        // Fine-tuning a saved regressor: its head outputs values, the training works on
        // standardised ones.
        if clf.head_in_units {
            clf.unfold_regression_head()?;
        }
    }
    clf.threshold = t.threshold;
    let mut s = Session { cfg, ctx, sink, commands, batcher, clf };

    let trainable: Vec<_> =
        sorted_vars(&s.clf.varmap).into_iter().filter(|(n, _)| freeze.trains(n)).collect();
    let mut opt = AdamW::new(trainable, t.weight_decay)?;
    let group = t.batch_size * t.grad_accum;
    let steps_per_epoch = train_set.seqs.len().div_ceil(group);
    let fine_tune_steps = steps_per_epoch * t.epochs;
    let total_steps = mlm_steps + fine_tune_steps;
    s.emit(&TrainEvent::Started(RunStarted {
        run_id: ctx.run_id.clone(),
        model: cfg.model.source.clone(),
        device: cfg.device.clone(),
        labels: s.clf.labels.clone(),
        train_examples: train_set.seqs.len(),
        valid_examples: valid_set.as_ref().map_or(0, |v| v.seqs.len()),
        test_examples: test_set.as_ref().map_or(0, |v| v.seqs.len()),
        epochs: t.epochs,
        steps_per_epoch,
        total_steps,
        mlm_steps,
        trainable_parameters: opt.parameter_count(),
        initialised: s.clf.report.initialised.clone(),
        unused: s.clf.report.unused.clone(),
    }))?;
    if let Some(data) = stage {
        let stage = adapt(cfg, ctx, &mut *s.sink, commands, &s.clf, data, progress.step, total_steps)?;
        progress.step += stage.steps;
        progress.pretrain = stage.report;
        if !stage.completed {
            return s.finish(Ending::Cancelled, valid_set.as_ref(), test_set.as_ref(), progress);
        }
    }
    let first_step = progress.step;

    let schedule = LinearSchedule::new(t.lr, t.warmup_ratio, fine_tune_steps);
    let train_batcher = s.batcher.clone();
    let settings =
        StepSettings { batcher: &train_batcher, batch_size: t.batch_size, max_grad_norm: t.max_grad_norm };
    let mut dropout = Dropout::seeded(t.seed ^ 0x5EED_D809);
    let mut stale_evals = 0usize;
    let lengths: Vec<usize> = train_set.seqs.iter().map(|s| s.ids.len()).collect();
    let ending = 'epochs: {
        for epoch in 0..t.epochs {
            let order = if t.group_by_length {
                length_grouped_order(&lengths, t.batch_size, t.seed, epoch)
            } else {
                epoch_order(lengths.len(), t.seed, epoch)
            };
            for (i, indices) in order.chunks(group).enumerate() {
                if !s.obey_commands(progress)? {
                    break 'epochs Ending::Cancelled;
                }
                let began = Instant::now();
                let lr = schedule.lr(progress.step - first_step);
                let outcome =
                    optimizer_step(&s.clf.model, &train_set, indices, &settings, &mut opt, &mut dropout, lr)?;
                if outcome.diverged() {
                    let (quantity, value) = if outcome.loss.is_finite() {
                        ("the gradient norm", outcome.grad_norm)
                    } else {
                        ("the loss", outcome.loss)
                    };
                    let (step, epoch) = (progress.step + 1, epoch + 1);
                    return Err(Error::Diverged { quantity, step, epoch, value });
                }
                let (loss, grad_norm) = (outcome.loss, outcome.grad_norm);
                progress.step += 1;
                progress.epoch = epoch as f64 + (i + 1) as f64 / steps_per_epoch as f64;
                let took = began.elapsed();
                progress.speed.stepped(indices.len(), took, t0.elapsed());
                let flow = s.emit(&TrainEvent::Step(StepMetrics {
                    step: progress.step,
                    total_steps,
                    epoch: progress.epoch,
                    loss,
                    lr,
                    grad_norm,
                    examples_per_sec: indices.len() as f64 / took.as_secs_f64().max(1e-9),
                    elapsed_s: t0.elapsed().as_secs_f64(),
                }))?;
                if flow == Flow::Stop {
                    break 'epochs Ending::Cancelled;
                }
                let epoch_end = i + 1 == steps_per_epoch;
                let due = t.eval_every.is_some_and(|n| (progress.step - first_step).is_multiple_of(n));
                if let (Some(valid), true) = (&valid_set, epoch_end || due) {
                    if s.validate(valid, progress)? {
                        stale_evals = 0;
                    } else {
                        stale_evals += 1;
                    }
                    if let Some(p) = t.patience.filter(|&p| stale_evals >= p) {
                        break 'epochs Ending::EarlyStopped(format!(
                            "early stopping: {p} evaluations without a better {}",
                            t.metric.resolve(cfg.head).as_str()
                        ));
                    }
                }
            }
        }
        Ending::Completed
    };
    s.finish(ending, valid_set.as_ref(), test_set.as_ref(), progress)
}

impl Session<'_> {
    fn emit(&mut self, event: &TrainEvent) -> Result<Flow> {
        self.sink.emit(event)
    }

    /// Handles pending commands; blocks while paused. `false` means stop.
    fn obey_commands(&mut self, progress: &mut Progress) -> Result<bool> {
        let commands = self.commands;
        let step = progress.step;
        obey(commands, step, |request| match request {
            Request::Report(event) => self.emit(&event).map(|_| ()),
            Request::Snapshot => self.save_snapshot(progress),
        })
    }

    /// Evaluates on validation; saves a checkpoint when the metric improved (returns whether).
    fn validate(&mut self, valid: &Encoded, progress: &mut Progress) -> Result<bool> {
        let tune = self.cfg.head == HeadKind::MultiLabel && self.cfg.train.tune_threshold;
        let t = self.cfg.train.threshold;
        let (report, rows) = self.evaluate(
            "valid",
            valid,
            progress,
            if tune { Threshold::TuneFrom(t) } else { Threshold::At(t) },
        )?;
        self.emit(&TrainEvent::Evaluated(report.clone()))?;
        let metric = self.cfg.train.metric.resolve(self.cfg.head);
        let value = report.metric(metric).unwrap_or(f64::NAN);
        let improved = progress.best.as_ref().is_none_or(|best| {
            if metric.higher_is_better() { value > best.value } else { value < best.value }
        });
        if improved {
            if let Some(t) = report.scores.multi_label.as_ref().map(|m| m.threshold) {
                // The checkpoint kept is judged with the threshold tuned with it.
                self.clf.threshold = t;
            }
            progress.best = Some(BestValidation { value, report, rows });
            self.save_checkpoint(progress, value)?;
        }
        Ok(improved)
    }

    fn save_checkpoint(&mut self, progress: &mut Progress, metric: f64) -> Result<()> {
        let Some(dir) = self.ctx.checkpoint_dir.clone() else {
            return Ok(());
        };
        self.clf.save(&dir)?;
        progress.checkpoint = Some((progress.step, progress.epoch));
        self.emit(&TrainEvent::CheckpointSaved {
            step: progress.step,
            path: dir.display().to_string(),
            metric,
        })?;
        Ok(())
    }

    /// Saves the current weights on request, beside (never over) the best checkpoint.
    fn save_snapshot(&mut self, progress: &Progress) -> Result<()> {
        let Some(best) = &self.ctx.checkpoint_dir else { return Ok(()) };
        let dir = best.with_file_name(format!("checkpoint-step-{}", progress.step));
        self.clf.save(&dir)?;
        self.emit(&TrainEvent::CheckpointSaved {
            step: progress.step,
            path: dir.display().to_string(),
            metric: f64::NAN,
        })?;
        Ok(())
    }

    /// Evaluates the current model on a split, counting its time as evaluation time.
    fn evaluate(
        &mut self,
        split: &str,
        set: &Encoded,
        progress: &mut Progress,
        threshold: Threshold,
    ) -> Result<(EvalReport, Vec<Prediction>)> {
        let began = Instant::now();
        let (mut report, rows) =
            evaluate(&self.clf, split, set, self.cfg.train.eval_batch_size, &self.batcher, threshold)?;
        progress.speed.evaluated(set.len(), began.elapsed());
        report.step = progress.step;
        report.epoch = progress.epoch;
        Ok((report, rows))
    }

    /// After training: make sure a checkpoint exists, evaluate the best model on the held-out
    /// splits, and publish the predictions.
    fn finish(
        mut self,
        ending: Ending,
        valid: Option<&Encoded>,
        test: Option<&Encoded>,
        progress: &mut Progress,
    ) -> Result<Ending> {
        if matches!(ending, Ending::Cancelled) {
            if progress.checkpoint.is_none() {
                self.save_checkpoint(progress, f64::NAN)?;
            }
            return Ok(ending);
        }
        // The held-out splits are scored with the best checkpoint, as of its own step.
        let restored = match (&self.ctx.checkpoint_dir, progress.checkpoint) {
            (Some(dir), Some((step, epoch))) if step != progress.step => {
                self.clf.restore(dir)?;
                Some((step, epoch))
            }
            (_, None) => {
                self.save_checkpoint(progress, f64::NAN)?;
                None
            }
            _ => None,
        };
        for (split, set) in [("valid", valid), ("test", test)] {
            let Some(set) = set else { continue };
            // With checkpoints, the final model is the best one, already validated.
            let known = (split == "valid" && self.ctx.checkpoint_dir.is_some())
                .then(|| progress.best.take().map(|b| (b.report, b.rows)))
                .flatten();
            let (mut report, rows) = match known {
                Some(best) => best,
                None => self.evaluate(split, set, progress, Threshold::At(self.clf.threshold))?,
            };
            if let Some((step, epoch)) = restored {
                report.step = step;
                report.epoch = epoch;
            }
            let summary = SplitSummary::from(&report);
            if split == "valid" {
                progress.final_valid = Some(summary);
            } else {
                progress.test = Some(summary);
            }
            self.emit(&TrainEvent::Evaluated(report))?;
            self.emit(&TrainEvent::Predictions { split: split.to_owned(), rows })?;
        }
        Ok(ending)
    }
}
