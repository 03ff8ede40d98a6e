//! Fine-tuning: load the data and the model, optionally adapt the encoder with a masked-LM
//! stage, train the task head (and encoder) in the one loop (`epochs`), evaluate, and keep the
//! best checkpoint. It reports through an `EventSink` and obeys `Command`s between steps; it
//! never prints.

use std::sync::mpsc::Receiver;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::epochs::{Ending, Plan, Progress, Task, Verdict, train_epochs};
use super::event::{Command, EventSink, RunStarted, TrainEvent};
use super::lifecycle::{
    DROPOUT_STREAM, RunContext, announce, check_max_len, conclude, device_from, keep_checkpoint, model_dir,
    save_snapshot, save_state, started,
};
use super::optim::AdamW;
use super::pretrain::{StageData, adapt, stage_texts};
use super::schedule::LinearSchedule;
use super::state::{Parts, Phase, RestoreInto, Saved};
use super::step::{Accumulation, StepOutcome, StepSettings, optimizer_step};
use crate::config::HeadKind;
use crate::config::RunConfig;
use crate::data::batch::{Batcher, epoch_order, length_grouped_order};
use crate::data::{Encoded, Encoding, Examples, Splits, Targets};
use crate::error::{Error, Result};
use crate::eval::evaluate;
use crate::eval::multilabel::Threshold;
use crate::model::checkpoint::{Classifier, HeadSpec};
use crate::model::dropout::Dropout;
use crate::model::heads::{Freeze, TargetScale};
use crate::model::params::sorted_vars;
use crate::report::{EvalReport, Prediction, RunSummary, SplitSummary};

/// Runs a whole fine-tuning run, or goes on with one from its saved state (`resume`), and
/// returns its summary. Errors and panics inside become a `failed` summary; the `Finished`
/// event is always the last one emitted. The outer `Err` is only for a sink that could not
/// take that final event (e.g. the disk is full).
pub fn run(
    config: &RunConfig,
    ctx: &RunContext,
    sink: &mut dyn EventSink,
    commands: &Receiver<Command>,
    resume: Option<Saved>,
) -> Result<RunSummary> {
    let progress = resume.as_ref().map_or_else(Progress::new, Saved::progress);
    conclude(ctx, sink, progress, |sink, progress| fine_tune(config, ctx, sink, commands, progress, resume))
}

/// The validation with the best value of the chosen metric so far.
#[derive(Serialize, Deserialize)]
struct BestValidation {
    #[serde(deserialize_with = "crate::report::nullable_f64")]
    value: f64,
    report: EvalReport,
    /// Kept so that, when this checkpoint is the final model, validation needs no second pass.
    rows: Vec<Prediction>,
}

/// Fine-tuning as the loop's task: the classifier, its optimiser and data, and the best
/// validation so far.
struct FineTune<'a> {
    cfg: &'a RunConfig,
    ctx: &'a RunContext,
    clf: Classifier,
    opt: AdamW,
    dropout: Dropout,
    batcher: Batcher,
    train_set: &'a Encoded,
    valid_set: Option<&'a Encoded>,
    /// Token counts of the training examples (for length-grouped batches).
    lengths: Vec<usize>,
    best: Option<BestValidation>,
}

/// What fine-tuning remembers in its resumable state besides tensors and generators.
#[derive(Deserialize)]
struct Memory {
    best: Option<BestValidation>,
    threshold: f64,
}

fn fine_tune(
    cfg: &RunConfig,
    ctx: &RunContext,
    sink: &mut dyn EventSink,
    commands: &Receiver<Command>,
    progress: &mut Progress,
    mut resume: Option<Saved>,
) -> Result<Ending> {
    cfg.validate()?;
    let device = device_from(&cfg.device)?;
    // `auto` made concrete (a run from an older record may carry it; a resumed bf16 record on
    // a CPU without the kernel is refused), then this thread's products, training and
    // evaluation, run in it.
    let cfg = &RunConfig { precision: cfg.precision.on(&device)?, ..cfg.clone() };
    let _precision = crate::model::precision::scoped(cfg.precision);
    let t = &cfg.train;
    let splits = Splits::load(&cfg.data, cfg.head, t.seed)?;
    // A scratch model's directory must outlive the run: its tokenizer is copied at each save.
    let (dir, scratch_dir) = model_dir(cfg, &splits.train.texts)?;
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
    check_max_len(t.max_len, clf.config.max_tokens())?;
    // With a masking ratio, a masked-LM stage on the run's texts (or its corpus) comes first:
    // the encoder adapts to the domain before the head learns the task. Its inputs are built
    // once, here, while the training texts are still at hand.
    let stage = if cfg.mlm.mask_ratio > 0.0 {
        let texts = stage_texts(cfg, &splits.train.texts)?;
        Some(StageData::new(cfg, &clf.tokenizer, &texts)?)
    } else {
        None
    };
    let mlm_steps = stage.as_ref().map_or(0, |d| d.steps(cfg));
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

    let trainable: Vec<_> = sorted_vars(&clf.varmap).into_iter().filter(|(n, _)| freeze.trains(n)).collect();
    let opt = AdamW::new(trainable, t.weight_decay)?;
    let examples_per_step = t.examples_per_step();
    let steps_per_epoch = train_set.seqs.len().div_ceil(examples_per_step);
    let fine_tune_steps = steps_per_epoch * t.epochs;
    let total_steps = mlm_steps + fine_tune_steps;
    let announced = RunStarted {
        labels: clf.labels.clone(),
        train_examples: train_set.seqs.len(),
        valid_examples: valid_set.as_ref().map_or(0, |v| v.seqs.len()),
        test_examples: test_set.as_ref().map_or(0, |v| v.seqs.len()),
        epochs: t.epochs,
        steps_per_epoch,
        total_steps,
        mlm_steps,
        trainable_parameters: opt.parameter_count(),
        ..started(cfg, ctx, &clf.report)
    };
    announce(sink, announced, resume.as_ref())?;
    let mut task = FineTune {
        cfg,
        ctx,
        batcher: Batcher::new(clf.tokenizer.pad_id, &device),
        clf,
        opt,
        dropout: Dropout::seeded(t.seed ^ DROPOUT_STREAM),
        train_set: &train_set,
        valid_set: valid_set.as_ref(),
        lengths: train_set.seqs.iter().map(|s| s.ids.len()).collect(),
        best: None,
    };
    // A state saved while fine-tuning has the masked-LM stage behind it.
    let stage = stage.filter(|_| resume.as_ref().is_none_or(|s| s.meta.phase != Phase::FineTune));
    if let Some(data) = stage {
        let ending = adapt(cfg, ctx, sink, commands, &task.clf, data, progress, total_steps, resume.take())?;
        if matches!(ending, Ending::Cancelled) {
            return task.finish(ending, test_set.as_ref(), progress, sink);
        }
    }
    if let Some(saved) = resume.take() {
        task.resume(&saved)?;
    }
    let metric = t.metric.resolve(cfg.head);
    let plan = Plan {
        epochs: t.epochs,
        examples_per_step,
        schedule: LinearSchedule::new(t.lr, t.warmup_ratio, fine_tune_steps),
        // Patience counts evaluations: a run that sets it keeps the cadence it asked for.
        eval_every: evaluation_interval(
            t.eval_every,
            steps_per_epoch,
            t.epochs,
            valid_set.is_some() && t.patience.is_none(),
        ),
        patience: t.patience.map(|p| (p, metric.as_str())),
        save_every: t.save_every,
        total_steps,
    };
    let ending = train_epochs(&mut task, &plan, progress, sink, commands)?;
    let ending = task.finish(ending, test_set.as_ref(), progress, sink);
    drop(scratch_dir);
    ending
}

/// Evaluations a fine-tuning run gets at least when no `eval-every` is set.
const MIN_EVALUATIONS: usize = 8;

/// How often the validation split is evaluated: every `eval-every` steps as set; unset, a run
/// of fewer than `MIN_EVALUATIONS` epochs is also evaluated within its epochs, about that many
/// times in all (so that a one-epoch run's validation curve is a curve, not a dot); longer
/// runs at each epoch's end. `automatic`: whether the extra evaluations may be added (there is
/// a validation split, and no early stopping whose patience counts evaluations).
fn evaluation_interval(
    eval_every: Option<usize>,
    steps_per_epoch: usize,
    epochs: usize,
    automatic: bool,
) -> Option<usize> {
    eval_every.or_else(|| {
        let short = automatic && epochs < MIN_EVALUATIONS && steps_per_epoch > 1;
        short.then(|| (steps_per_epoch * epochs).div_ceil(MIN_EVALUATIONS).max(1))
    })
}

impl Task for FineTune<'_> {
    fn order(&self, epoch: usize) -> Vec<usize> {
        let t = &self.cfg.train;
        if t.group_by_length {
            length_grouped_order(&self.lengths, t.batch_size, t.seed, epoch)
        } else {
            epoch_order(self.lengths.len(), t.seed, epoch)
        }
    }

    fn step(&mut self, indices: &[usize], lr: f64) -> Result<StepOutcome> {
        let t = &self.cfg.train;
        let settings = StepSettings {
            batcher: &self.batcher,
            accumulation: Accumulation { batch_size: t.batch_size, max_grad_norm: t.max_grad_norm },
        };
        optimizer_step(
            &self.clf.model,
            self.train_set,
            indices,
            &settings,
            &mut self.opt,
            &mut self.dropout,
            lr,
        )
    }

    /// Evaluates on validation; saves a checkpoint when the metric improved.
    fn evaluate(&mut self, progress: &mut Progress, sink: &mut dyn EventSink) -> Result<Verdict> {
        let Some(valid) = self.valid_set else { return Ok(Verdict::Unjudged) };
        let tune = self.cfg.head == HeadKind::MultiLabel && self.cfg.train.tune_threshold;
        let t = self.cfg.train.threshold;
        let threshold = if tune { Threshold::TuneFrom(t) } else { Threshold::At(t) };
        let (report, rows) = self.score("valid", valid, progress, threshold)?;
        sink.emit(&TrainEvent::Evaluated(report.clone()))?;
        let metric = self.cfg.train.metric.resolve(self.cfg.head);
        let value = report.metric(metric).unwrap_or(f64::NAN);
        let improved = self.best.as_ref().is_none_or(|best| {
            if metric.higher_is_better() { value > best.value } else { value < best.value }
        });
        if !improved {
            return Ok(Verdict::NoBetter);
        }
        if let Some(t) = report.scores.multi_label.as_ref().map(|m| m.threshold) {
            // The checkpoint kept is judged with the threshold tuned with it.
            self.clf.threshold = t;
        }
        progress.valid = Some(SplitSummary::from(&report));
        self.best = Some(BestValidation { value, report, rows });
        self.save_checkpoint(progress, sink, value)?;
        Ok(Verdict::Better)
    }

    fn snapshot(&mut self, progress: &Progress, sink: &mut dyn EventSink) -> Result<()> {
        save_snapshot(self.ctx, progress, sink, |dir| self.clf.save(dir))
    }

    fn save_state(&mut self, progress: &Progress, sink: &mut dyn EventSink) -> Result<()> {
        save_state(self.ctx, progress, sink, || {
            Ok(Parts {
                phase: Phase::FineTune,
                vars: sorted_vars(&self.clf.varmap),
                optimizer: &self.opt,
                streams: vec![("dropout", training_generator(&mut self.dropout)?)],
                memory: serde_json::json!({ "best": self.best, "threshold": self.clf.threshold }),
            })
        })
    }
}

/// The generator of training-mode dropout (saved with the state).
pub(crate) fn training_generator(dropout: &mut Dropout) -> Result<&mut rand_chacha::ChaCha8Rng> {
    dropout.generator().ok_or_else(|| Error::Run("dropout is off while training".into()))
}

impl FineTune<'_> {
    /// Goes on from a state saved while fine-tuning.
    fn resume(&mut self, saved: &Saved) -> Result<()> {
        let memory = saved.restore(RestoreInto {
            phase: Phase::FineTune,
            vars: sorted_vars(&self.clf.varmap),
            optimizer: &mut self.opt,
            streams: vec![("dropout", training_generator(&mut self.dropout)?)],
        })?;
        let memory: Memory = serde_json::from_value(memory)
            .map_err(|e| Error::Run(format!("the saved state's fine-tuning memory is unreadable: {e}")))?;
        self.best = memory.best;
        self.clf.threshold = memory.threshold;
        Ok(())
    }

    fn save_checkpoint(&self, progress: &mut Progress, sink: &mut dyn EventSink, metric: f64) -> Result<()> {
        keep_checkpoint(self.ctx, progress, sink, metric, |dir| self.clf.save(dir))
    }

    /// Evaluates the current model on a split, counting its time as evaluation time.
    fn score(
        &self,
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
        test: Option<&Encoded>,
        progress: &mut Progress,
        sink: &mut dyn EventSink,
    ) -> Result<Ending> {
        if matches!(ending, Ending::Cancelled) {
            if progress.checkpoint.is_none() {
                self.save_checkpoint(progress, sink, f64::NAN)?;
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
                self.save_checkpoint(progress, sink, f64::NAN)?;
                None
            }
            _ => None,
        };
        for (split, set) in [("valid", self.valid_set), ("test", test)] {
            let Some(set) = set else { continue };
            // With checkpoints, the final model is the best one, already validated.
            let known = (split == "valid" && self.ctx.checkpoint_dir.is_some())
                .then(|| self.best.take().map(|b| (b.report, b.rows)))
                .flatten();
            let (mut report, rows) = match known {
                Some(best) => best,
                None => self.score(split, set, progress, Threshold::At(self.clf.threshold))?,
            };
            if let Some((step, epoch)) = restored {
                report.step = step;
                report.epoch = epoch;
            }
            let summary = Some(SplitSummary::from(&report));
            if split == "valid" {
                progress.valid = summary;
            } else {
                progress.test = summary;
            }
            sink.emit(&TrainEvent::Evaluated(report))?;
            sink.emit(&TrainEvent::Predictions { split: split.to_owned(), rows })?;
        }
        Ok(ending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_runs_are_evaluated_within_their_epochs() {
        // One epoch of 40 steps: 8 evaluations, every 5 steps.
        assert_eq!(evaluation_interval(None, 40, 1, true), Some(5));
        // Three epochs of 15 steps: every 6 steps (and at each epoch's end).
        assert_eq!(evaluation_interval(None, 15, 3, true), Some(6));
        // Eight epochs or more: at each epoch's end is enough.
        assert_eq!(evaluation_interval(None, 15, 8, true), None);
        // Nothing to evaluate on (or early stopping), or a step per epoch: no interval.
        assert_eq!(evaluation_interval(None, 40, 1, false), None);
        assert_eq!(evaluation_interval(None, 1, 3, true), None);
        // A setting is kept as it is.
        assert_eq!(evaluation_interval(Some(7), 40, 1, true), Some(7));
    }
}
