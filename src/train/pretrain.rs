//! Masked-language-model pretraining: continued pretraining of a model, or pretraining from
//! scratch (a `scratch:` preset whose WordPiece vocabulary is trained on the corpus). It reports
//! like fine-tuning (`Started`, `Step`, evaluations, `Finished`), keeps the model with the lowest
//! held-out masked-LM loss in `model/`, and obeys the same commands between steps.

use std::sync::mpsc::Receiver;
use std::time::Instant;

use candle_core::{Device, Tensor};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::event::{Command, EventSink, Flow, MlmReport, RunStarted, RunSummary, StepMetrics, TrainEvent};
use super::optim::{AdamW, clip_factor, global_norm};
use super::schedule::LinearSchedule;
use super::trainer::{Ending, Request, RunContext, Throughput, conclude, device_from, model_dir, obey};
use crate::config::RunConfig;
use crate::data::batch::epoch_order;
use crate::data::corpus::{PretrainExample, build_examples, read_documents};
use crate::data::mask::{MaskInput, MaskSplit, MaskedSequence, MaskingPolicy};
use crate::data::tokenize::TextEncoder;
use crate::error::{Error, Result};
use crate::model::dropout::Dropout;
use crate::model::params::sorted_vars;
use crate::model::pretraining::{MaskedLm, PretrainBatch, PretrainingModel};

/// Probe sentences used when a run names none.
const DEFAULT_PROBES: &str = include_str!("../../assets/probes.txt");
/// Held-out inputs scored at each evaluation, at most.
const MAX_HELD_OUT: usize = 2000;
/// Guesses shown per `[MASK]` of a probe.
const PROBE_TOP_K: usize = 5;

/// Runs a whole pretraining run and returns its summary; errors and panics inside become a
/// `failed` summary and the `Finished` event is always the last one emitted.
pub fn run_pretraining(
    config: &RunConfig,
    ctx: &RunContext,
    sink: &mut dyn EventSink,
    commands: &Receiver<Command>,
) -> Result<RunSummary> {
    let work = |sink: &mut dyn EventSink, progress: &mut Progress| {
        let completed = pretrain(config, ctx, sink, commands, progress)?;
        Ok(if completed { Ending::Completed } else { Ending::Cancelled })
    };
    conclude(sink, work, |progress, status, reason, elapsed| {
        let (train_examples_per_sec, eval_examples_per_sec, time_to_first_step_s) = progress.speed.figures();
        RunSummary {
            run_id: ctx.run_id.clone(),
            status,
            reason,
            valid: None,
            test: None,
            pretrain: progress.best.clone().or(progress.last.clone()),
            steps: progress.step,
            epochs: progress.epoch,
            best_step: progress.best.as_ref().map(|b| b.step),
            train_examples_per_sec,
            eval_examples_per_sec,
            peak_rss_mib: crate::sys::peak_rss_mib(),
            time_to_first_step_s,
            duration_s: elapsed.as_secs_f64(),
        }
    })
}

#[derive(Default)]
struct Progress {
    step: usize,
    epoch: f64,
    speed: Throughput,
    /// The evaluation of the checkpoint kept in `model/` (lowest held-out loss).
    best: Option<MlmReport>,
    last: Option<MlmReport>,
}

/// The masking policy of a run, for a model's tokenizer.
pub fn masking_policy(cfg: &RunConfig, lm: &MaskedLm) -> Result<MaskingPolicy> {
    let m = &cfg.mlm;
    let policy = MaskingPolicy {
        ratio: m.mask_ratio,
        split: MaskSplit { mask: m.mask_token_share, random: m.random_token_share },
        whole_word: m.whole_word,
        mask_id: lm.tokenizer.token_to_id("[MASK]").unwrap_or_default(),
        vocab_size: lm.config.vocab_size as u32,
        special_ids: lm.tokenizer.special_ids(),
    };
    policy.validate()?;
    Ok(policy)
}

/// Pads masked inputs into a batch. Positions are flattened to `row * L + column`.
pub fn collate(
    examples: &[&PretrainExample],
    masked: &[MaskedSequence],
    pad_id: u32,
    device: &Device,
) -> Result<PretrainBatch> {
    let b = examples.len();
    let l = examples.iter().map(|e| e.ids.len()).max().unwrap_or(1);
    let mut ids = vec![pad_id; b * l];
    let mut types = vec![0u32; b * l];
    let mut mask = vec![0f32; b * l];
    let (mut positions, mut targets): (Vec<u32>, Vec<u32>) = (Vec::new(), Vec::new());
    for (row, (ex, m)) in examples.iter().zip(masked).enumerate() {
        let at = row * l;
        ids[at..at + m.ids.len()].copy_from_slice(&m.ids);
        types[at..at + ex.type_ids.len()].copy_from_slice(&ex.type_ids);
        mask[at..at + ex.ids.len()].fill(1.0);
        positions.extend(m.positions.iter().map(|&p| (at + p) as u32));
        targets.extend(&m.targets);
    }
    let next_sentence = if examples.iter().all(|e| e.is_next.is_some()) {
        let labels: Vec<u32> = examples.iter().map(|e| u32::from(e.is_next == Some(true))).collect();
        Some(Tensor::from_vec(labels, b, device)?)
    } else {
        None
    };
    Ok(PretrainBatch {
        input_ids: Tensor::from_vec(ids, (b, l), device)?,
        type_ids: Tensor::from_vec(types, (b, l), device)?,
        attention_mask: Tensor::from_vec(mask, (b, l), device)?,
        positions: Tensor::from_vec(positions.clone(), positions.len(), device)?,
        targets: Tensor::from_vec(targets.clone(), targets.len(), device)?,
        next_sentence,
    })
}

fn mask_examples(
    policy: &MaskingPolicy,
    examples: &[&PretrainExample],
    rng: &mut ChaCha8Rng,
) -> Vec<MaskedSequence> {
    let batch: Vec<MaskInput<'_>> =
        examples.iter().map(|e| MaskInput { ids: &e.ids, words: Some(&e.word_ids) }).collect();
    policy.mask_batch(&batch, rng)
}

fn pretrain(
    cfg: &RunConfig,
    ctx: &RunContext,
    sink: &mut dyn EventSink,
    commands: &Receiver<Command>,
    progress: &mut Progress,
) -> Result<bool> {
    let t0 = Instant::now();
    cfg.validate()?;
    let device = device_from(&cfg.device)?;
    let (t, m) = (&cfg.train, &cfg.mlm);
    let docs = read_documents(&m.corpus, m.text_column.as_deref())?;
    let (dir, scratch) = model_dir(cfg, &docs, cfg.mlm.vocab_size)?;
    let lm = MaskedLm::from_dir(
        &dir,
        &cfg.model.source,
        m.nsp,
        t.seed,
        cfg.model.from_scratch || scratch.is_some(),
        &device,
    )?;
    if t.max_len > lm.config.max_position_embeddings {
        return Err(Error::Config(format!(
            "max-len {} exceeds the model's {} positions",
            t.max_len, lm.config.max_position_embeddings
        )));
    }
    let policy = masking_policy(cfg, &lm)?;
    let mut examples = build_examples(&docs, &lm.tokenizer, t.max_len, m.nsp, t.seed)?;
    let held = hold_out(&mut examples, m.held_out, t.seed);
    if examples.is_empty() {
        return Err(Error::Config("the corpus is too small: nothing is left to train on".into()));
    }
    let probes = probe_sentences(cfg);

    let mut opt = AdamW::new(sorted_vars(&lm.varmap), t.weight_decay)?;
    let steps_per_epoch = examples.len().div_ceil(t.batch_size);
    let total_steps = steps_per_epoch * m.epochs;
    sink.emit(&TrainEvent::Started(RunStarted {
        run_id: ctx.run_id.clone(),
        model: cfg.model.source.clone(),
        device: cfg.device.clone(),
        labels: Vec::new(),
        train_examples: examples.len(),
        valid_examples: held.len(),
        test_examples: 0,
        epochs: m.epochs,
        steps_per_epoch,
        total_steps,
        mlm_steps: total_steps,
        trainable_parameters: opt.parameter_count(),
        initialised: lm.report.initialised.clone(),
        unused: lm.report.unused.clone(),
    }))?;
    let mut s =
        Stage { cfg, ctx, sink, lm: &lm, policy: &policy, held: &held, probes: &probes, keep_best: true };
    let completed = s.train(&examples, &mut opt, commands, progress, total_steps, t0)?;
    s.keep_some_checkpoint(progress)?;
    drop(scratch);
    Ok(completed)
}

/// The held-out share of `examples` (seeded), removed from them.
fn hold_out(examples: &mut Vec<PretrainExample>, share: f64, seed: u64) -> Vec<PretrainExample> {
    let order = epoch_order(examples.len(), seed ^ 0x00AB_CDEF, 0);
    let n = ((examples.len() as f64 * share).round() as usize).min(MAX_HELD_OUT);
    let n = if share > 0.0 && examples.len() >= 2 { n.max(1) } else { 0 };
    let held: Vec<PretrainExample> = order[..n].iter().map(|&i| examples[i].clone()).collect();
    let mut keep = vec![true; examples.len()];
    for &i in &order[..n] {
        keep[i] = false;
    }
    let mut k = keep.into_iter();
    examples.retain(|_| k.next().unwrap_or(true));
    held
}

fn probe_sentences(cfg: &RunConfig) -> Vec<String> {
    if cfg.mlm.probes.is_empty() {
        DEFAULT_PROBES
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_owned)
            .collect()
    } else {
        cfg.mlm.probes.clone()
    }
}

/// The inputs of a masked-LM stage inside a fine-tuning run, built once.
pub struct StageData {
    examples: Vec<PretrainExample>,
    held: Vec<PretrainExample>,
}

impl StageData {
    pub fn new(cfg: &RunConfig, tokenizer: &TextEncoder, texts: &[String]) -> Result<Self> {
        let mut examples = build_examples(texts, tokenizer, cfg.train.max_len, false, cfg.train.seed)?;
        let held = hold_out(&mut examples, cfg.mlm.held_out, cfg.train.seed);
        Ok(Self { examples, held })
    }

    /// Optimiser steps of the stage (to announce the run's length).
    pub fn steps(&self, cfg: &RunConfig) -> usize {
        self.examples.len().div_ceil(cfg.train.batch_size.max(1)) * cfg.mlm.epochs
    }
}

/// How a masked-LM stage inside a fine-tuning run ended.
#[derive(Debug, Clone)]
pub struct StageOutcome {
    /// `false` when it was stopped.
    pub completed: bool,
    pub steps: usize,
    /// Its last held-out evaluation.
    pub report: Option<MlmReport>,
}

/// The masked-LM stage of a fine-tuning run (domain adaptation): `epochs` of masked-LM on
/// the stage's data with the classifier's encoder, before the classification head trains. It
/// shares the encoder's parameters; the masked-LM head lives only for the stage. Steps are
/// numbered from `first_step`.
#[allow(clippy::too_many_arguments)]
pub fn adapt(
    cfg: &RunConfig,
    ctx: &RunContext,
    sink: &mut dyn EventSink,
    commands: &Receiver<Command>,
    clf: &crate::model::checkpoint::Classifier,
    data: StageData,
    first_step: usize,
    total_steps: usize,
) -> Result<StageOutcome> {
    let t0 = Instant::now();
    let lm = MaskedLm::sharing(clf, cfg.train.seed)?;
    let policy = masking_policy(cfg, &lm)?;
    let probes = probe_sentences(cfg);
    let encoder_and_head = sorted_vars(&lm.varmap).into_iter().filter(|(n, _)| !n.starts_with("classifier."));
    let mut opt = AdamW::new(encoder_and_head.collect(), cfg.train.weight_decay)?;
    let mut progress = Progress { step: first_step, ..Progress::default() };
    let mut s = Stage {
        cfg,
        ctx,
        sink,
        lm: &lm,
        policy: &policy,
        held: &data.held,
        probes: &probes,
        keep_best: false,
    };
    let completed = s.train(&data.examples, &mut opt, commands, &mut progress, total_steps, t0)?;
    drop(opt);
    lm.release_heads();
    Ok(StageOutcome { completed, steps: progress.step - first_step, report: progress.last })
}

/// What an evaluation needs, borrowed for the run.
struct Stage<'a> {
    cfg: &'a RunConfig,
    ctx: &'a RunContext,
    sink: &'a mut dyn EventSink,
    lm: &'a MaskedLm,
    policy: &'a MaskingPolicy,
    held: &'a [PretrainExample],
    probes: &'a [String],
    /// Keep the best model in the run's `model/` (a pretraining run; not a stage before
    /// fine-tuning, whose `model/` is the classifier).
    keep_best: bool,
}

impl Stage<'_> {
    /// The masked-LM epochs; `false` when stopped.
    fn train(
        &mut self,
        examples: &[PretrainExample],
        opt: &mut AdamW,
        commands: &Receiver<Command>,
        progress: &mut Progress,
        total_steps: usize,
        t0: Instant,
    ) -> Result<bool> {
        let (t, m) = (&self.cfg.train, &self.cfg.mlm);
        let device = self.lm.model.encoder.word_embeddings().device().clone();
        let steps_per_epoch = examples.len().div_ceil(t.batch_size);
        let stage_steps = steps_per_epoch * m.epochs;
        let schedule = LinearSchedule::new(m.lr.unwrap_or(t.lr), t.warmup_ratio, stage_steps);
        let mut dropout = Dropout::seeded(t.seed ^ 0x5EED_D809);
        let mut rng = ChaCha8Rng::seed_from_u64(t.seed ^ 0x0000_4D4C_4D00);
        let first_step = progress.step;
        for epoch in 0..m.epochs {
            let order = epoch_order(examples.len(), t.seed, epoch);
            for (i, indices) in order.chunks(t.batch_size).enumerate() {
                let go = obey(commands, progress.step, |request| match request {
                    Request::Report(event) => self.sink.emit(&event).map(|_| ()),
                    Request::Snapshot => self.snapshot(progress.step),
                })?;
                if !go {
                    return Ok(false);
                }
                let began = Instant::now();
                let lr = schedule.lr(progress.step - first_step);
                let batch_examples: Vec<&PretrainExample> = indices.iter().map(|&i| &examples[i]).collect();
                let masked = mask_examples(self.policy, &batch_examples, &mut rng);
                let batch = collate(&batch_examples, &masked, self.lm.tokenizer.pad_id, &device)?;
                let out = self.lm.model.forward(&batch, &mut dropout)?;
                let (loss, _, _) = PretrainingModel::loss(&out, &batch)?;
                let value = f64::from(loss.to_scalar::<f32>()?);
                let grads = opt.gradients(&loss.backward()?);
                let grad_norm = global_norm(&grads)?;
                if !(value.is_finite() && grad_norm.is_finite()) {
                    let (quantity, v) = if value.is_finite() {
                        ("the gradient norm", grad_norm)
                    } else {
                        ("the loss", value)
                    };
                    return Err(Error::Diverged {
                        quantity,
                        step: progress.step + 1,
                        epoch: epoch + 1,
                        value: v,
                    });
                }
                opt.step(&grads, lr, clip_factor(grad_norm, t.max_grad_norm))?;
                progress.step += 1;
                progress.epoch = epoch as f64 + (i + 1) as f64 / steps_per_epoch as f64;
                let took = began.elapsed();
                progress.speed.stepped(indices.len(), took, t0.elapsed());
                let flow = self.sink.emit(&TrainEvent::Step(StepMetrics {
                    step: progress.step,
                    total_steps,
                    epoch: progress.epoch,
                    loss: value,
                    lr,
                    grad_norm,
                    examples_per_sec: indices.len() as f64 / took.as_secs_f64().max(1e-9),
                    elapsed_s: t0.elapsed().as_secs_f64(),
                }))?;
                if flow == Flow::Stop {
                    return Ok(false);
                }
                let epoch_end = i + 1 == steps_per_epoch;
                let due = t.eval_every.is_some_and(|n| progress.step.is_multiple_of(n));
                if epoch_end || due {
                    self.evaluate(progress)?;
                }
            }
        }
        Ok(true)
    }

    /// Scores the held-out text (masked the same way at every evaluation, so that the numbers
    /// compare), fills the probes, and keeps the model when its loss is the lowest yet.
    fn evaluate(&mut self, progress: &mut Progress) -> Result<()> {
        let began = Instant::now();
        let report = self.score(progress)?;
        progress.speed.evaluated(self.held.len(), began.elapsed());
        if let Some(report) = report {
            self.sink.emit(&TrainEvent::MlmEvaluated(report.clone()))?;
            if self.keep_best && progress.best.as_ref().is_none_or(|b| report.loss < b.loss) {
                self.save(progress.step, report.loss)?;
                progress.best = Some(report.clone());
            }
            progress.last = Some(report);
        } else if self.keep_best && progress.best.is_none() {
            self.save(progress.step, f64::NAN)?;
        }
        let probes =
            self.probes.iter().filter_map(|p| self.lm.fill_mask(p, PROBE_TOP_K).ok()).collect::<Vec<_>>();
        if !probes.is_empty() {
            self.sink.emit(&TrainEvent::MaskProbe { step: progress.step, probes })?;
        }
        Ok(())
    }

    fn score(&self, progress: &Progress) -> Result<Option<MlmReport>> {
        if self.held.is_empty() {
            return Ok(None);
        }
        let device = self.lm.model.encoder.word_embeddings().device().clone();
        let mut rng = ChaCha8Rng::seed_from_u64(self.cfg.train.seed ^ 0x0E7A_1000);
        let model = self.lm.inference_model()?;
        let mut dropout = Dropout::off();
        let (mut loss_sum, mut correct, mut tokens) = (0f64, 0usize, 0usize);
        let (mut nsp_right, mut nsp_seen) = (0usize, 0usize);
        for chunk in self.held.chunks(self.cfg.train.eval_batch_size.max(1)) {
            let examples: Vec<&PretrainExample> = chunk.iter().collect();
            let masked = mask_examples(self.policy, &examples, &mut rng);
            let batch = collate(&examples, &masked, self.lm.tokenizer.pad_id, &device)?;
            let out = model.forward(&batch, &mut dropout)?;
            let n = batch.targets.dim(0)?;
            let (_, mlm, _) = PretrainingModel::loss(&out, &batch)?;
            loss_sum += f64::from(mlm.to_scalar::<f32>()?) * n as f64;
            let guessed = out.mlm_logits.argmax(1)?.to_vec1::<u32>()?;
            let targets = batch.targets.to_vec1::<u32>()?;
            correct += guessed.iter().zip(&targets).filter(|(a, b)| a == b).count();
            tokens += n;
            if let (Some(logits), Some(labels)) = (&out.nsp_logits, &batch.next_sentence) {
                let guessed = logits.argmax(1)?.to_vec1::<u32>()?;
                let labels = labels.to_vec1::<u32>()?;
                nsp_right += guessed.iter().zip(&labels).filter(|(a, b)| a == b).count();
                nsp_seen += labels.len();
            }
        }
        let loss = loss_sum / tokens.max(1) as f64;
        Ok(Some(MlmReport {
            step: progress.step,
            epoch: progress.epoch,
            loss,
            accuracy: correct as f64 / tokens.max(1) as f64,
            perplexity: loss.exp(),
            nsp_accuracy: (nsp_seen > 0).then(|| nsp_right as f64 / nsp_seen as f64),
            masked_tokens: tokens,
            examples: self.held.len(),
        }))
    }

    fn save(&mut self, step: usize, metric: f64) -> Result<()> {
        let Some(dir) = &self.ctx.checkpoint_dir else { return Ok(()) };
        self.lm.save(dir)?;
        self.sink.emit(&TrainEvent::CheckpointSaved { step, path: dir.display().to_string(), metric })?;
        Ok(())
    }

    /// Saves the current weights beside (never over) the best model, on request.
    fn snapshot(&mut self, step: usize) -> Result<()> {
        let Some(best) = &self.ctx.checkpoint_dir.as_ref().filter(|_| self.keep_best) else { return Ok(()) };
        let dir = best.with_file_name(format!("checkpoint-step-{step}"));
        self.lm.save(&dir)?;
        self.sink.emit(&TrainEvent::CheckpointSaved {
            step,
            path: dir.display().to_string(),
            metric: f64::NAN,
        })?;
        Ok(())
    }

    /// A run that ends before its first evaluation still leaves a model.
    fn keep_some_checkpoint(&mut self, progress: &Progress) -> Result<()> {
        if self.keep_best
            && progress.best.is_none()
            && self.ctx.checkpoint_dir.as_ref().is_some_and(|d| !d.exists())
        {
            self.save(progress.step, f64::NAN)?;
        }
        Ok(())
    }
}
