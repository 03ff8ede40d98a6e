//! Masked-language-model training as a task of the one loop (`epochs`): pretraining runs
//! (continued pretraining of a model, or pretraining from scratch with a `scratch:` preset whose
//! WordPiece vocabulary is trained on the corpus), and the masked-LM stage that adapts a
//! fine-tuning run's encoder before its head trains. A pretraining run reports like
//! fine-tuning (`Started`, `Step`, evaluations, `Finished`) and keeps the model with the lowest
//! held-out masked-LM loss in `model/`.

use std::sync::mpsc::Receiver;
use std::time::Instant;

use candle_core::{Device, Tensor};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::epochs::{Ending, Plan, Progress, Task, Throughput, Verdict, train_epochs};
use super::event::{Command, EventSink, RunStarted, TrainEvent};
use super::lifecycle::{
    DROPOUT_STREAM, RunContext, announce, check_max_len, conclude, device_from, keep_checkpoint, model_dir,
    save_snapshot, save_state, started,
};
use super::optim::AdamW;
use super::schedule::LinearSchedule;
use super::state::{Parts, Phase, RestoreInto, Saved};
use super::step::{Accumulation, StepOutcome, accumulated_step};
use super::trainer::training_generator;
use crate::config::{RunConfig, RunKind};
use crate::data::batch::epoch_order;
use crate::data::corpus::{PretrainExample, build_examples, read_documents};
use crate::data::mask::{MaskInput, MaskSplit, MaskedSequence, MaskingPolicy};
use crate::data::tokenize::TextEncoder;
use crate::error::{Error, Result};
use crate::model::EncoderConfig;
use crate::model::checkpoint::Classifier;
use crate::model::dropout::Dropout;
use crate::model::params::sorted_vars;
use crate::model::pretraining::{MaskedLm, PretrainBatch, PretrainingModel, next_sentence_label};
use crate::report::{MlmReport, RunSummary};

/// Probe sentences used when a run names none.
const DEFAULT_PROBES: &str = include_str!("../../assets/probes.txt");
/// Held-out inputs scored at each evaluation, at most.
const MAX_HELD_OUT: usize = 2000;
/// Guesses shown per `[MASK]` of a probe.
const PROBE_TOP_K: usize = 5;

/// Runs a whole pretraining run, or goes on with one from its saved state (`resume`), and
/// returns its summary; errors and panics inside become a `failed` summary and the
/// `Finished` event is always the last one emitted.
pub fn run_pretraining(
    config: &RunConfig,
    ctx: &RunContext,
    sink: &mut dyn EventSink,
    commands: &Receiver<Command>,
    resume: Option<Saved>,
) -> Result<RunSummary> {
    let progress = resume.as_ref().map_or_else(Progress::new, Saved::progress);
    conclude(ctx, sink, progress, |sink, progress| pretrain(config, ctx, sink, commands, progress, resume))
}

/// The masking policy of a run, for a model's tokenizer and vocabulary size.
pub fn masking_policy(cfg: &RunConfig, tokenizer: &TextEncoder, vocab_size: usize) -> Result<MaskingPolicy> {
    let m = &cfg.mlm;
    let policy = MaskingPolicy {
        ratio: m.mask_ratio,
        split: MaskSplit { mask: m.mask_token_share, random: m.random_token_share },
        whole_word: m.whole_word,
        mask_id: tokenizer.mask_id().unwrap_or_default(),
        vocab_size: vocab_size as u32,
        special_ids: tokenizer.special_ids(),
    };
    policy.validate()?;
    Ok(policy)
}

/// Seeds the generator that picks the tokens to mask (xored with the run's seed).
const MASKING_STREAM: u64 = 0x0000_4D4C_4D00;

/// The first micro-batch a masked-LM run (or the masked-LM stage of a fine-tuning run) trains
/// on, masked exactly as its first step masks it: what the masking inspector shows.
pub struct FirstBatch {
    pub tokenizer: TextEncoder,
    pub policy: MaskingPolicy,
    pub examples: Vec<PretrainExample>,
    pub masked: Vec<MaskedSequence>,
}

/// Builds the run's masked-LM inputs as the run does (same corpus, tokenizer, held-out share
/// and order) and masks the first batch with the run's generator.
pub fn first_masked_batch(cfg: &RunConfig) -> Result<FirstBatch> {
    cfg.validate()?;
    let (t, m) = (&cfg.train, &cfg.mlm);
    if cfg.kind == RunKind::FineTune && m.mask_ratio <= 0.0 {
        return Err(Error::Config(
            "this run has no masked-LM stage (masking ratio 0): nothing is masked".into(),
        ));
    }
    // A scratch model's directory (its trained vocabulary) lives while the inputs are built.
    let (dir, _scratch, texts) = if cfg.kind == RunKind::Pretrain {
        let docs = read_documents(&m.corpus, m.text_column.as_deref())?;
        let (dir, scratch) = model_dir(cfg, &docs)?;
        (dir, scratch, docs)
    } else {
        let splits = crate::data::Splits::load(&cfg.data, cfg.head, t.seed)?;
        let (dir, scratch) = model_dir(cfg, &splits.train.texts)?;
        (dir, scratch, stage_texts(cfg, &splits.train.texts)?)
    };
    let tokenizer = TextEncoder::from_model_dir(&dir)?;
    let config = EncoderConfig::from_file(&dir.join("config.json"))?;
    check_max_len(t.max_len, config.max_tokens())?;
    let vocab_size = config.vocab_size;
    let examples = if cfg.kind == RunKind::Pretrain {
        pretraining_examples(cfg, &texts, &tokenizer)?.0
    } else {
        StageData::new(cfg, &tokenizer, &texts)?.examples
    };
    let policy = masking_policy(cfg, &tokenizer, vocab_size)?;
    let order = epoch_order(examples.len(), t.seed, 0);
    let first: Vec<&PretrainExample> = order.iter().take(t.batch_size).map(|&i| &examples[i]).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(t.seed ^ MASKING_STREAM);
    let masked = mask_examples(&policy, &first, &mut rng);
    let examples = first.into_iter().cloned().collect();
    Ok(FirstBatch { tokenizer, policy, examples, masked })
}

/// A pretraining run's inputs: the corpus cut into examples, less the held-out share, and
/// that share.
fn pretraining_examples(
    cfg: &RunConfig,
    docs: &[String],
    tokenizer: &TextEncoder,
) -> Result<(Vec<PretrainExample>, Vec<PretrainExample>)> {
    let (t, m) = (&cfg.train, &cfg.mlm);
    let mut examples = build_examples(docs, tokenizer, t.max_len, m.nsp, t.seed)?;
    let held = hold_out(&mut examples, m.held_out, t.seed);
    if examples.is_empty() {
        return Err(Error::Config("the corpus is too small: nothing is left to train on".into()));
    }
    Ok((examples, held))
}

/// What a fine-tuning run's masked-LM stage reads: its corpus, or else the training texts.
pub(crate) fn stage_texts(cfg: &RunConfig, train_texts: &[String]) -> Result<Vec<String>> {
    if cfg.mlm.corpus.is_empty() {
        Ok(train_texts.to_vec())
    } else {
        read_documents(&cfg.mlm.corpus, cfg.mlm.text_column.as_deref())
    }
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
        let labels: Vec<u32> =
            examples.iter().map(|e| next_sentence_label(e.is_next == Some(true))).collect();
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
    resume: Option<Saved>,
) -> Result<Ending> {
    cfg.validate()?;
    let device = device_from(&cfg.device)?;
    // `auto` made concrete (a run from an older record may carry it; a resumed bf16 record on
    // a CPU without the kernel is refused), then this thread's products, training and
    // evaluation, run in it.
    let cfg = &RunConfig { precision: cfg.precision.on(&device)?, ..cfg.clone() };
    let _precision = crate::model::precision::scoped(cfg.precision);
    let (t, m) = (&cfg.train, &cfg.mlm);
    let docs = read_documents(&m.corpus, m.text_column.as_deref())?;
    let (dir, scratch) = model_dir(cfg, &docs)?;
    let lm = MaskedLm::from_dir(
        &dir,
        &cfg.model.source,
        m.nsp,
        t.seed,
        cfg.model.from_scratch || scratch.is_some(),
        &device,
    )?;
    check_max_len(t.max_len, lm.config.max_tokens())?;
    let (examples, held) = pretraining_examples(cfg, &docs, &lm.tokenizer)?;
    let opt = AdamW::new(sorted_vars(&lm.varmap), t.weight_decay)?;
    let examples_per_step = t.examples_per_step();
    let steps_per_epoch = examples.len().div_ceil(examples_per_step);
    let total_steps = steps_per_epoch * m.epochs;
    let announced = RunStarted {
        labels: Vec::new(),
        train_examples: examples.len(),
        valid_examples: held.len(),
        test_examples: 0,
        epochs: m.epochs,
        steps_per_epoch,
        total_steps,
        mlm_steps: total_steps,
        trainable_parameters: opt.parameter_count(),
        ..started(cfg, ctx, &lm.report)
    };
    announce(sink, announced, resume.as_ref())?;
    let mut task = MaskedLmTask::new(cfg, ctx, &lm, (&examples, &held), opt, Keeps::BestModel)?;
    if let Some(saved) = resume {
        task.resume(&saved)?;
    }
    let plan = Plan {
        epochs: m.epochs,
        examples_per_step,
        schedule: LinearSchedule::new(m.lr.unwrap_or(t.lr), t.warmup_ratio, total_steps),
        eval_every: t.eval_every,
        patience: t.patience.map(|p| (p, "held-out masked-LM loss")),
        save_every: t.save_every,
        total_steps,
    };
    let ending = train_epochs(&mut task, &plan, progress, sink, commands)?;
    // A run that ends before its first evaluation still leaves a model.
    if progress.checkpoint.is_none() {
        task.save(progress, sink, f64::NAN)?;
    }
    drop(scratch);
    Ok(ending)
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

/// A fill-mask probe, with the hidden word when it is known.
struct Probe {
    text: String,
    answer: Option<String>,
}

/// Probes cut from the held-out text when the run names none: what a probe asks then follows
/// the corpus (a State of the Union corpus is not probed about movies).
const CORPUS_PROBES: usize = 4;

/// The run's probes; without any, probes cut from `held` (falling back to
/// `assets/probes.txt` when the held-out text has no word to hide).
fn probe_sentences(cfg: &RunConfig, held: &[PretrainExample], tokenizer: &TextEncoder) -> Vec<Probe> {
    let given = |texts: Vec<String>| texts.into_iter().map(|text| Probe { text, answer: None }).collect();
    if !cfg.mlm.probes.is_empty() {
        return given(cfg.mlm.probes.clone());
    }
    let cut = corpus_probes(held, tokenizer, CORPUS_PROBES);
    if !cut.is_empty() {
        return cut;
    }
    given(
        DEFAULT_PROBES
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_owned)
            .collect(),
    )
}

/// Words this common are not hidden: a probe should ask for a content word, not "the".
const COMMON_WORDS: usize = 100;
/// Words of context before and after the hidden one.
const CONTEXT: (usize, usize) = (10, 4);

/// Up to `n` probes from held-out examples spread over them: in each, the word nearest the
/// middle that is one token of at least four letters and not among the `COMMON_WORDS` most
/// frequent tokens of the held-out text, hidden in a window of its context.
fn corpus_probes(held: &[PretrainExample], tokenizer: &TextEncoder, n: usize) -> Vec<Probe> {
    let specials = tokenizer.special_ids();
    let mut counts: std::collections::HashMap<u32, usize> = std::collections::HashMap::new();
    for id in held.iter().flat_map(|e| &e.ids) {
        *counts.entry(*id).or_default() += 1;
    }
    let mut by_count: Vec<(u32, usize)> = counts.into_iter().collect();
    by_count.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    // A small vocabulary keeps its top quarter out (a toy corpus has no hundred words).
    let common: Vec<u32> =
        by_count.iter().take(COMMON_WORDS.min(by_count.len() / 4)).map(|(id, _)| *id).collect();
    let token = |id: u32| tokenizer.id_to_token(id).unwrap_or_default();
    let mut probes = Vec::new();
    for k in 0..n.min(held.len()) {
        let e = &held[k * held.len() / n.min(held.len())];
        let whole = |i: usize| {
            let w = e.word_ids[i];
            w.is_some() && (i == 0 || e.word_ids[i - 1] != w) && e.word_ids.get(i + 1).is_none_or(|n| *n != w)
        };
        let content = |i: usize| {
            let t = token(e.ids[i]);
            whole(i)
                && !specials.contains(&e.ids[i])
                && !common.contains(&e.ids[i])
                && t.chars().count() >= 4
                && t.chars().all(char::is_alphabetic)
        };
        let middle = e.ids.len() / 2;
        let Some(at) = (0..e.ids.len()).filter(|&i| content(i)).min_by_key(|&i| i.abs_diff(middle)) else {
            continue;
        };
        // The window starts and ends at word boundaries, inside the specials.
        let word_start = |mut i: usize| {
            while i > 1 && e.word_ids[i].is_some() && e.word_ids[i - 1] == e.word_ids[i] {
                i -= 1;
            }
            i
        };
        // Within the hidden word's segment: a pair's other half may be another document.
        let is_special = |i: usize| specials.contains(&e.ids[i]);
        let first = (0..at).rev().find(|&i| is_special(i)).map_or(0, |i| i + 1);
        let last = (at + 1..e.ids.len()).find(|&i| is_special(i)).unwrap_or(e.ids.len());
        let words_before: Vec<usize> = (first..at).filter(|&i| word_start(i) == i).collect();
        let start = words_before.len().checked_sub(CONTEXT.0).map_or(first, |s| words_before[s]);
        let words_after: Vec<usize> = (at + 1..last).filter(|&i| word_start(i) == i).collect();
        let end = words_after.get(CONTEXT.1).copied().unwrap_or(last).max(at + 1);
        let text = |range: std::ops::Range<usize>| {
            join_pieces(e.ids[range].iter().filter(|id| !specials.contains(id)).map(|&id| token(id)))
        };
        let answer = token(e.ids[at]);
        let sentence = format!("{} [MASK] {}", text(start..at), text(at + 1..end));
        probes.push(Probe { text: sentence.trim().to_owned(), answer: Some(answer) });
    }
    probes
}

/// WordPiece tokens back into words: a `##` piece joins the one before it.
fn join_pieces(tokens: impl Iterator<Item = String>) -> String {
    let mut out = String::new();
    for t in tokens {
        if let Some(rest) = t.strip_prefix("##") {
            out.push_str(rest);
        } else {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(&t);
        }
    }
    out
}

/// The inputs of a masked-LM stage inside a fine-tuning run, built once.
pub(crate) struct StageData {
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
        self.examples.len().div_ceil(cfg.train.examples_per_step().max(1)) * cfg.mlm.epochs
    }
}

/// The masked-LM stage of a fine-tuning run (domain adaptation): `epochs` of masked-LM on the
/// stage's data with the classifier's encoder, before the classification head trains. It
/// shares the encoder's parameters; the masked-LM head lives only for the stage. Its steps go
/// on from `progress` and count towards the run's `total_steps`; a resumed run's stage goes on
/// from its saved state (`resume`).
#[allow(clippy::too_many_arguments)]
pub(crate) fn adapt(
    cfg: &RunConfig,
    ctx: &RunContext,
    sink: &mut dyn EventSink,
    commands: &Receiver<Command>,
    clf: &Classifier,
    data: StageData,
    progress: &mut Progress,
    total_steps: usize,
    resume: Option<Saved>,
) -> Result<Ending> {
    let lm = MaskedLm::sharing(clf, cfg.train.seed)?;
    let encoder_and_head = sorted_vars(&lm.varmap).into_iter().filter(|(n, _)| !n.starts_with("classifier."));
    let opt = AdamW::new(encoder_and_head.collect(), cfg.train.weight_decay)?;
    let t = &cfg.train;
    let examples_per_step = t.examples_per_step();
    let stage_steps = data.steps(cfg);
    let plan = Plan {
        epochs: cfg.mlm.epochs,
        examples_per_step,
        schedule: LinearSchedule::new(cfg.mlm.lr.unwrap_or(t.lr), t.warmup_ratio, stage_steps),
        eval_every: t.eval_every,
        // Early stopping is about the task the run fine-tunes for, not this stage.
        patience: None,
        save_every: t.save_every,
        total_steps,
    };
    let mut task = MaskedLmTask::new(cfg, ctx, &lm, (&data.examples, &data.held), opt, Keeps::Stage(clf))?;
    if let Some(saved) = resume {
        task.resume(&saved)?;
    }
    let ending = train_epochs(&mut task, &plan, progress, sink, commands);
    // The run's speed figures and epochs are fine-tuning's, which starts after the stage: the
    // stage's steps and held-out scoring stay out of them (its steps still count towards the
    // run's). Nothing comes before the stage, so fine-tuning starts from nothing.
    (progress.speed, progress.epoch) = (Throughput::default(), 0.0);
    drop(task);
    lm.release_heads();
    ending
}

/// What a masked-LM task keeps in the run's `model/`.
enum Keeps<'a> {
    /// A pretraining run: the model with the lowest held-out loss.
    BestModel,
    /// Nothing: a stage before fine-tuning, whose `model/` is the classifier's (saved by
    /// fine-tuning); snapshots on request save this classifier, its encoder as adapted so far.
    Stage(&'a Classifier),
}

/// Masked-LM training as the loop's task.
struct MaskedLmTask<'a> {
    cfg: &'a RunConfig,
    ctx: &'a RunContext,
    lm: &'a MaskedLm,
    policy: MaskingPolicy,
    examples: &'a [PretrainExample],
    held: &'a [PretrainExample],
    probes: Vec<Probe>,
    opt: AdamW,
    dropout: Dropout,
    /// Draws the tokens to mask at each step.
    rng: ChaCha8Rng,
    device: Device,
    keeps: Keeps<'a>,
    /// The held-out evaluation of the model kept in `model/` (lowest loss), and the last one.
    best: Option<MlmReport>,
    last: Option<MlmReport>,
}

impl<'a> MaskedLmTask<'a> {
    fn new(
        cfg: &'a RunConfig,
        ctx: &'a RunContext,
        lm: &'a MaskedLm,
        (examples, held): (&'a [PretrainExample], &'a [PretrainExample]),
        opt: AdamW,
        keeps: Keeps<'a>,
    ) -> Result<Self> {
        let seed = cfg.train.seed;
        Ok(Self {
            cfg,
            ctx,
            lm,
            policy: masking_policy(cfg, &lm.tokenizer, lm.config.vocab_size)?,
            examples,
            held,
            probes: probe_sentences(cfg, held, &lm.tokenizer),
            opt,
            dropout: Dropout::seeded(seed ^ DROPOUT_STREAM),
            rng: ChaCha8Rng::seed_from_u64(seed ^ MASKING_STREAM),
            device: lm.model.encoder.word_embeddings().device().clone(),
            keeps,
            best: None,
            last: None,
        })
    }

    /// Scores the held-out text (masked the same way at every evaluation, so that the numbers
    /// compare).
    fn score(&self, progress: &Progress) -> Result<Option<MlmReport>> {
        if self.held.is_empty() {
            return Ok(None);
        }
        let mut rng = ChaCha8Rng::seed_from_u64(self.cfg.train.seed ^ 0x0E7A_1000);
        let model = self.lm.inference_model()?;
        let mut dropout = Dropout::off();
        let (mut loss_sum, mut correct, mut tokens) = (0f64, 0usize, 0usize);
        let (mut nsp_right, mut nsp_seen) = (0usize, 0usize);
        for chunk in self.held.chunks(self.cfg.train.eval_batch_size.max(1)) {
            let examples: Vec<&PretrainExample> = chunk.iter().collect();
            let masked = mask_examples(&self.policy, &examples, &mut rng);
            let batch = collate(&examples, &masked, self.lm.tokenizer.pad_id, &self.device)?;
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

    fn phase(&self) -> Phase {
        match self.keeps {
            Keeps::BestModel => Phase::Pretrain,
            Keeps::Stage(_) => Phase::MaskedLmStage,
        }
    }

    /// Goes on from a state saved in this task.
    fn resume(&mut self, saved: &Saved) -> Result<()> {
        let memory = saved.restore(RestoreInto {
            phase: self.phase(),
            vars: sorted_vars(&self.lm.varmap),
            optimizer: &mut self.opt,
            streams: vec![("dropout", training_generator(&mut self.dropout)?), ("masking", &mut self.rng)],
        })?;
        let memory: Memory = serde_json::from_value(memory)
            .map_err(|e| Error::Run(format!("the saved state's masked-LM memory is unreadable: {e}")))?;
        (self.best, self.last) = (memory.best, memory.last);
        Ok(())
    }

    /// Saves the model as the run's `model/` (a pretraining run only).
    fn save(&self, progress: &mut Progress, sink: &mut dyn EventSink, metric: f64) -> Result<()> {
        match self.keeps {
            Keeps::BestModel => keep_checkpoint(self.ctx, progress, sink, metric, |dir| self.lm.save(dir)),
            Keeps::Stage(_) => Ok(()),
        }
    }
}

impl Task for MaskedLmTask<'_> {
    fn order(&self, epoch: usize) -> Vec<usize> {
        epoch_order(self.examples.len(), self.cfg.train.seed, epoch)
    }

    fn step(&mut self, indices: &[usize], lr: f64) -> Result<StepOutcome> {
        let t = &self.cfg.train;
        let accumulation = Accumulation { batch_size: t.batch_size, max_grad_norm: t.max_grad_norm };
        let (examples, policy, lm, device) = (self.examples, &self.policy, self.lm, &self.device);
        let (rng, dropout) = (&mut self.rng, &mut self.dropout);
        accumulated_step(indices, accumulation, &mut self.opt, lr, |micro| {
            let batch_examples: Vec<&PretrainExample> = micro.iter().map(|&i| &examples[i]).collect();
            let masked = mask_examples(policy, &batch_examples, rng);
            let batch = collate(&batch_examples, &masked, lm.tokenizer.pad_id, device)?;
            let out = lm.model.forward(&batch, dropout)?;
            Ok(PretrainingModel::loss(&out, &batch)?.0)
        })
    }

    /// Scores the held-out text, fills the probes, and keeps the model when its loss is the
    /// lowest yet.
    fn evaluate(&mut self, progress: &mut Progress, sink: &mut dyn EventSink) -> Result<Verdict> {
        let began = Instant::now();
        let report = self.score(progress)?;
        progress.speed.evaluated(self.held.len(), began.elapsed());
        let verdict = if let Some(report) = report {
            sink.emit(&TrainEvent::MlmEvaluated(report.clone()))?;
            let verdict = match self.keeps {
                Keeps::Stage(_) => Verdict::Unjudged,
                Keeps::BestModel if self.best.as_ref().is_none_or(|b| report.loss < b.loss) => {
                    self.save(progress, sink, report.loss)?;
                    self.best = Some(report.clone());
                    Verdict::Better
                }
                Keeps::BestModel => Verdict::NoBetter,
            };
            self.last = Some(report);
            verdict
        } else {
            // Nothing held out to judge by: the latest model is the one kept.
            self.save(progress, sink, f64::NAN)?;
            Verdict::Unjudged
        };
        progress.pretrain = self.best.clone().or_else(|| self.last.clone());
        let probes = self
            .probes
            .iter()
            .filter_map(|p| {
                let filled = self.lm.fill_mask(&p.text, PROBE_TOP_K).ok()?;
                Some(crate::report::ProbeResult { answer: p.answer.clone(), ..filled })
            })
            .collect::<Vec<_>>();
        if !probes.is_empty() {
            sink.emit(&TrainEvent::MaskProbe { step: progress.step, probes })?;
        }
        Ok(verdict)
    }

    fn snapshot(&mut self, progress: &Progress, sink: &mut dyn EventSink) -> Result<()> {
        save_snapshot(self.ctx, progress, sink, |dir| match self.keeps {
            Keeps::BestModel => self.lm.save(dir),
            Keeps::Stage(clf) => clf.save(dir),
        })
    }

    fn save_state(&mut self, progress: &Progress, sink: &mut dyn EventSink) -> Result<()> {
        let phase = self.phase();
        save_state(self.ctx, progress, sink, || {
            Ok(Parts {
                phase,
                vars: sorted_vars(&self.lm.varmap),
                optimizer: &self.opt,
                streams: vec![("dropout", training_generator(&mut self.dropout)?), ("masking", &self.rng)],
                memory: serde_json::json!({ "best": self.best, "last": self.last }),
            })
        })
    }
}

/// What a masked-LM task remembers in its resumable state besides tensors and generators.
#[derive(serde::Deserialize)]
struct Memory {
    best: Option<MlmReport>,
    last: Option<MlmReport>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The masking inspector shows what the run trains on: the first step's loss, recomputed
    /// from `first_masked_batch` with the run's initial model and dropout, is the run's own.
    #[test]
    fn the_inspected_batch_is_the_first_step_of_the_run() {
        let tmp = tempfile::tempdir().expect("tmp");
        let corpus = tmp.path().join("corpus.txt");
        let docs: Vec<String> = (0..40)
            .map(|d| format!("the cat number {d} sat on the mat . the dog slept in the barn by the river ."))
            .collect();
        std::fs::write(&corpus, docs.join("\n\n")).expect("corpus");
        let mut cfg = RunConfig { kind: RunKind::Pretrain, ..RunConfig::default() };
        // A scratch: preset trains its vocabulary anew for the run and for the inspector: the
        // ids must come out the same.
        cfg.model.source = "scratch:tiny".into();
        cfg.mlm.corpus = vec![corpus];
        (cfg.mlm.mask_ratio, cfg.mlm.epochs, cfg.mlm.vocab_size, cfg.mlm.held_out) = (0.3, 1, 120, 0.1);
        (cfg.train.batch_size, cfg.train.max_len) = (4, 16);
        cfg.runs_dir = tmp.path().join("runs");
        let (_commands, inbox) = std::sync::mpsc::channel();
        let mut events = crate::train::event::Collect::default();
        crate::runs::launch(crate::runs::Start::New(Box::new(cfg.clone())), &mut events, &inbox, |_| {})
            .expect("run");
        let first_loss = events
            .0
            .iter()
            .find_map(|e| if let TrainEvent::Step(s) = e { Some(s.loss) } else { None })
            .expect("a step");

        let inspected = first_masked_batch(&cfg).expect("first batch");
        assert!(inspected.masked.iter().any(|m| !m.positions.is_empty()), "something is masked");
        let (model, _scratch) = model_dir(&cfg, &docs).expect("model");
        let lm = MaskedLm::from_dir(&model, &cfg.model.source, false, cfg.train.seed, true, &Device::Cpu)
            .expect("the run's initial model");
        let examples: Vec<&PretrainExample> = inspected.examples.iter().collect();
        let batch =
            collate(&examples, &inspected.masked, inspected.tokenizer.pad_id, &Device::Cpu).expect("batch");
        let mut dropout = Dropout::seeded(cfg.train.seed ^ DROPOUT_STREAM);
        // In the precision the run computed in.
        let _precision = crate::model::precision::scoped(cfg.precision.resolve(&Device::Cpu));
        let out = lm.model.forward(&batch, &mut dropout).expect("forward");
        let loss = PretrainingModel::loss(&out, &batch).expect("loss").0.to_scalar::<f32>().expect("f32");
        assert!(
            (f64::from(loss) - first_loss).abs() < 1e-6 * first_loss.abs().max(1.0),
            "inspected batch's loss {loss} vs the run's first step {first_loss}"
        );
    }
}
