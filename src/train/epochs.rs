//! The one training loop. A task — fine-tuning, the masked-LM stage of a fine-tuning run, or
//! pretraining — supplies the order of its examples, its optimiser step and its evaluation; the
//! loop owns everything around them: the commands waiting between steps, the learning-rate
//! schedule, the divergence check, progress and `Step` events, evaluation when due and early
//! stopping. `Progress` is the one place that knows how far a run has come and what it has
//! achieved, whichever task it is in.

use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::event::{Command, EventSink, Flow, StepMetrics, TrainEvent};
use super::schedule::LinearSchedule;
use super::step::StepOutcome;
use crate::error::{Error, Result};
use crate::report::{MlmReport, RunStatus, RunSummary, SplitSummary};

/// What the loop drives.
pub(crate) trait Task {
    /// The order in which epoch `epoch` visits the task's examples (indices into them).
    fn order(&self, epoch: usize) -> Vec<usize>;

    /// One optimiser step over the examples at `indices` with learning rate `lr`.
    fn step(&mut self, indices: &[usize], lr: f64) -> Result<StepOutcome>;

    /// Evaluates the model as of `progress` (recording what it achieved there), and says
    /// whether it is the best so far.
    fn evaluate(&mut self, progress: &mut Progress, sink: &mut dyn EventSink) -> Result<Verdict>;

    /// Saves the current weights on request, beside (never over) the run's best model.
    fn snapshot(&mut self, progress: &Progress, sink: &mut dyn EventSink) -> Result<()>;

    /// Saves the resumable state as of `progress` (when the run keeps one): all it takes to
    /// go on from here exactly as if the run had never stopped.
    fn save_state(&mut self, progress: &Progress, sink: &mut dyn EventSink) -> Result<()>;
}

/// How an evaluation compares with the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Better,
    NoBetter,
    /// Nothing was judged: no held-out data, or a stage that keeps no best model.
    Unjudged,
}

/// The shape of one run of the loop.
pub(crate) struct Plan<'a> {
    pub epochs: usize,
    /// Examples per optimiser step (batch size × gradient accumulation).
    pub examples_per_step: usize,
    /// Learning rate by step, counted from the loop's first step.
    pub schedule: LinearSchedule,
    /// Evaluate every this many of the loop's steps, besides at the end of each epoch.
    pub eval_every: Option<usize>,
    /// Stop after this many evaluations without a better one, and what "better" is about.
    pub patience: Option<(usize, &'a str)>,
    /// Save the resumable state every this many of the loop's steps (besides at every
    /// evaluation and when stopped); `None`: every `SAVE_INTERVAL` of training.
    pub save_every: Option<usize>,
    /// Steps of the whole run (stages included), for progress.
    pub total_steps: usize,
}

/// How a run's work ended when it did not fail.
#[derive(Debug)]
pub(crate) enum Ending {
    Completed,
    EarlyStopped(String),
    Cancelled,
}

/// The resumable state is saved at least this often when no `save-every` is set.
pub(crate) const SAVE_INTERVAL: Duration = Duration::from_mins(5);

/// Where the loop is: the epoch, the steps taken in it, and the loop's steps in all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub epoch: usize,
    pub batch: usize,
    pub steps: usize,
}

/// How far a run has come and what it has achieved: enough to summarise it however it ends,
/// and (saved with the resumable state) to go on from where it is. Steps count across all of
/// a run's loops (a masked-LM stage, then fine-tuning).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Progress {
    #[serde(skip, default = "Instant::now")]
    pub started: Instant,
    pub step: usize,
    /// Fractional epoch of the current loop.
    pub epoch: f64,
    /// Where the current loop is; a loop starts from here (a resumed run mid-loop).
    pub position: Position,
    pub speed: Throughput,
    /// Evaluations in a row without a better one (early stopping).
    pub stale_evals: usize,
    /// Step and epoch of the model kept in `model/`.
    pub checkpoint: Option<(usize, f64)>,
    pub valid: Option<SplitSummary>,
    pub test: Option<SplitSummary>,
    /// The masked-LM evaluation the run reports (the best, or the last of a stage).
    pub pretrain: Option<MlmReport>,
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

impl Progress {
    pub fn new() -> Self {
        Self {
            started: Instant::now(),
            step: 0,
            epoch: 0.0,
            position: Position::default(),
            speed: Throughput::default(),
            stale_evals: 0,
            checkpoint: None,
            valid: None,
            test: None,
            pretrain: None,
        }
    }

    /// The run's summary, as it ends with `status` (and `reason`).
    pub fn summary(&self, run_id: &str, status: RunStatus, reason: Option<String>) -> RunSummary {
        let reason = match (status, self.checkpoint) {
            (RunStatus::Failed, Some((s, _))) => {
                reason.map(|r| format!("{r} (the checkpoint of step {s} is kept in model/)"))
            }
            _ => reason,
        };
        let (train_examples_per_sec, eval_examples_per_sec, time_to_first_step_s) = self.speed.figures();
        RunSummary {
            run_id: run_id.to_owned(),
            status,
            reason,
            valid: self.valid.clone(),
            test: self.test.clone(),
            pretrain: self.pretrain.clone(),
            steps: self.step,
            epochs: self.epoch,
            best_step: self.checkpoint.map(|c| c.0),
            train_examples_per_sec,
            eval_examples_per_sec,
            peak_rss_mib: crate::sys::peak_rss_mib(),
            time_to_first_step_s,
            duration_s: self.started.elapsed().as_secs_f64(),
        }
    }
}

/// Examples and time spent training and evaluating: the speed figures of a run's summary.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Throughput {
    train_examples: usize,
    train_time: Duration,
    eval_examples: usize,
    eval_time: Duration,
    time_to_first_step: Option<Duration>,
}

impl Throughput {
    /// One optimiser step over `examples`, which took `took`, `since_start` into the run.
    fn stepped(&mut self, examples: usize, took: Duration, since_start: Duration) {
        self.train_examples += examples;
        self.train_time += took;
        self.time_to_first_step.get_or_insert(since_start);
    }

    pub fn evaluated(&mut self, examples: usize, took: Duration) {
        self.eval_examples += examples;
        self.eval_time += took;
    }

    /// Training examples/s, evaluation examples/s, seconds to the first step.
    fn figures(&self) -> (f64, f64, Option<f64>) {
        let per_sec = |n: usize, t: Duration| if t.is_zero() { 0.0 } else { n as f64 / t.as_secs_f64() };
        (
            per_sec(self.train_examples, self.train_time),
            per_sec(self.eval_examples, self.eval_time),
            self.time_to_first_step.map(|d| d.as_secs_f64()),
        )
    }
}

/// Trains `task` for `plan.epochs`, from `progress` on (from its `position` in the loop: a
/// resumed run goes on mid-epoch); returns how the loop ended. A diverged step is an error
/// that names the step, the epoch and the value. The resumable state is saved after every
/// evaluation, as often as `plan.save_every` asks, and when the run is stopped.
pub(crate) fn train_epochs(
    task: &mut dyn Task,
    plan: &Plan,
    progress: &mut Progress,
    sink: &mut dyn EventSink,
    commands: &Receiver<Command>,
) -> Result<Ending> {
    let start = progress.position;
    let first_step = progress.step - start.steps;
    // A state saved at the evaluation that ran out of patience resumes into the same ending.
    if let Some(ending) = out_of_patience(plan, progress) {
        return Ok(loop_ended(progress, ending));
    }
    let per_step = plan.examples_per_step.max(1);
    let mut last_save = Instant::now();
    for epoch in start.epoch..plan.epochs {
        let order = task.order(epoch);
        let steps_per_epoch = order.len().div_ceil(per_step);
        let skip = if epoch == start.epoch { start.batch } else { 0 };
        for (i, indices) in order.chunks(per_step).enumerate().skip(skip) {
            let go = obey(commands, progress.step, |request| match request {
                Request::Report(event) => sink.emit(&event).map(|_| ()),
                Request::Snapshot => task.snapshot(progress, sink),
            })?;
            if !go {
                task.save_state(progress, sink)?;
                return Ok(Ending::Cancelled);
            }
            let began = Instant::now();
            let lr = plan.schedule.lr(progress.step - first_step);
            let outcome = task.step(indices, lr)?;
            if outcome.diverged() {
                let (quantity, value) = if outcome.loss.is_finite() {
                    ("the gradient norm", outcome.grad_norm)
                } else {
                    ("the loss", outcome.loss)
                };
                return Err(Error::Diverged { quantity, step: progress.step + 1, epoch: epoch + 1, value });
            }
            progress.step += 1;
            progress.epoch = epoch as f64 + (i + 1) as f64 / steps_per_epoch as f64;
            let epoch_end = i + 1 == steps_per_epoch;
            let steps = progress.step - first_step;
            progress.position = if epoch_end {
                Position { epoch: epoch + 1, batch: 0, steps }
            } else {
                Position { epoch, batch: i + 1, steps }
            };
            let took = began.elapsed();
            progress.speed.stepped(indices.len(), took, progress.started.elapsed());
            let flow = sink.emit(&TrainEvent::Step(StepMetrics {
                step: progress.step,
                total_steps: plan.total_steps,
                epoch: progress.epoch,
                loss: outcome.loss,
                lr,
                grad_norm: outcome.grad_norm,
                examples_per_sec: indices.len() as f64 / took.as_secs_f64().max(1e-9),
                elapsed_s: progress.started.elapsed().as_secs_f64(),
                gpu_memory: outcome.gpu_memory,
            }))?;
            // An evaluation due at this step comes first even when nobody listens any more:
            // the state saved after it must not skip it.
            let evaluate = epoch_end || plan.eval_every.is_some_and(|n| steps.is_multiple_of(n));
            if evaluate {
                match task.evaluate(progress, sink)? {
                    Verdict::Better => progress.stale_evals = 0,
                    Verdict::NoBetter => progress.stale_evals += 1,
                    Verdict::Unjudged => {}
                }
            }
            if flow == Flow::Stop {
                task.save_state(progress, sink)?;
                return Ok(Ending::Cancelled);
            }
            let save_due = match plan.save_every {
                Some(n) => steps.is_multiple_of(n),
                None => last_save.elapsed() >= SAVE_INTERVAL,
            };
            if evaluate || save_due {
                task.save_state(progress, sink)?;
                last_save = Instant::now();
            }
            if let Some(ending) = out_of_patience(plan, progress) {
                return Ok(loop_ended(progress, ending));
            }
        }
    }
    Ok(loop_ended(progress, Ending::Completed))
}

/// A loop that ran to its end leaves the next one (fine-tuning after a masked-LM stage) to
/// start at its beginning; a stopped one keeps its position, saved with its state.
fn loop_ended(progress: &mut Progress, ending: Ending) -> Ending {
    progress.position = Position::default();
    ending
}

/// Early stopping: the ending once `plan.patience` evaluations in a row were no better.
fn out_of_patience(plan: &Plan, progress: &Progress) -> Option<Ending> {
    let (patience, what) = plan.patience.filter(|&(p, _)| progress.stale_evals >= p)?;
    Some(Ending::EarlyStopped(format!("early stopping: {patience} evaluations without a better {what}")))
}

/// What obeying a command asks of the loop.
enum Request {
    /// Report this event: a pause or a resume.
    Report(Box<TrainEvent>),
    /// Save a snapshot now.
    Snapshot,
}

/// Handles the commands waiting between two steps; blocks while paused. `false` means stop.
fn obey(
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
                act(Request::Report(Box::new(TrainEvent::Paused { step })))?;
            }
            Command::Resume if paused => {
                act(Request::Report(Box::new(TrainEvent::Unpaused { step })))?;
                return Ok(true);
            }
            Command::SaveCheckpoint => act(Request::Snapshot)?,
            Command::Pause | Command::Resume => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;
    use crate::train::event::Collect;

    /// A task without a model: steps report a scripted loss, evaluations a scripted verdict.
    struct Scripted {
        examples: usize,
        /// The loss of each step, by the loop's step number from 1 (default 1.0).
        losses: Vec<(usize, f64)>,
        verdicts: Vec<Verdict>,
        steps: usize,
        evaluated_at: Vec<usize>,
        snapshots: Vec<usize>,
        /// The step and loop position of each saved state.
        saved_at: Vec<(usize, Position)>,
        /// The examples and learning rate of each step.
        stepped: Vec<(Vec<usize>, f64)>,
    }

    impl Scripted {
        fn new(examples: usize) -> Self {
            Self {
                examples,
                losses: Vec::new(),
                verdicts: Vec::new(),
                steps: 0,
                evaluated_at: Vec::new(),
                snapshots: Vec::new(),
                saved_at: Vec::new(),
                stepped: Vec::new(),
            }
        }
    }

    impl Task for Scripted {
        fn order(&self, epoch: usize) -> Vec<usize> {
            (0..self.examples).map(|i| (i + 7 * epoch) % self.examples).collect()
        }

        fn step(&mut self, indices: &[usize], lr: f64) -> Result<StepOutcome> {
            self.steps += 1;
            self.stepped.push((indices.to_vec(), lr));
            let loss = self.losses.iter().find(|(s, _)| *s == self.steps).map_or(1.0, |(_, l)| *l);
            Ok(StepOutcome { loss, grad_norm: 0.5, gpu_memory: None })
        }

        fn evaluate(&mut self, progress: &mut Progress, _sink: &mut dyn EventSink) -> Result<Verdict> {
            self.evaluated_at.push(progress.step);
            Ok(self.verdicts.get(self.evaluated_at.len() - 1).copied().unwrap_or(Verdict::Unjudged))
        }

        fn snapshot(&mut self, progress: &Progress, _sink: &mut dyn EventSink) -> Result<()> {
            self.snapshots.push(progress.step);
            Ok(())
        }

        fn save_state(&mut self, progress: &Progress, _sink: &mut dyn EventSink) -> Result<()> {
            self.saved_at.push((progress.step, progress.position));
            Ok(())
        }
    }

    fn plan(epochs: usize, steps: usize) -> Plan<'static> {
        Plan {
            epochs,
            examples_per_step: 4,
            schedule: LinearSchedule::new(1e-3, 0.0, steps),
            eval_every: None,
            patience: None,
            save_every: None,
            total_steps: steps,
        }
    }

    #[test]
    fn evaluations_fall_due_from_the_loops_own_first_step_and_at_each_epoch_end() {
        let mut task = Scripted::new(40);
        let plan = Plan { eval_every: Some(3), ..plan(1, 10) };
        // As after a masked-LM stage of 5 steps: the step count goes on, the schedule restarts.
        let mut progress = Progress { step: 5, ..Progress::new() };
        let (_tx, rx) = mpsc::channel();
        let mut events = Collect::default();
        let ending = train_epochs(&mut task, &plan, &mut progress, &mut events, &rx).expect("loop");
        assert!(matches!(ending, Ending::Completed));
        assert_eq!(task.evaluated_at, vec![8, 11, 14, 15]);
        let steps: Vec<(usize, f64)> = events
            .0
            .iter()
            .filter_map(|e| if let TrainEvent::Step(s) = e { Some((s.step, s.lr)) } else { None })
            .collect();
        assert_eq!(steps.first().map(|s| s.0), Some(6));
        assert_eq!(steps.first().map(|s| s.1), Some(1e-3), "the schedule starts at the loop's first step");
        assert_eq!(progress.step, 15);
        assert!((progress.epoch - 1.0).abs() < 1e-12);
    }

    #[test]
    fn patience_ends_the_loop_after_that_many_evaluations_without_a_better_one() {
        let mut task = Scripted::new(40);
        task.verdicts =
            vec![Verdict::Better, Verdict::NoBetter, Verdict::Better, Verdict::NoBetter, Verdict::NoBetter];
        let plan = Plan { eval_every: Some(1), patience: Some((2, "accuracy")), ..plan(3, 30) };
        let (_tx, rx) = mpsc::channel();
        let mut progress = Progress::new();
        let ending =
            train_epochs(&mut task, &plan, &mut progress, &mut Collect::default(), &rx).expect("loop");
        let Ending::EarlyStopped(why) = ending else { panic!("not stopped early: {ending:?}") };
        assert_eq!(why, "early stopping: 2 evaluations without a better accuracy");
        assert_eq!(progress.step, 5, "stopped at the fifth evaluation");
    }

    #[test]
    fn a_nan_loss_is_an_error_naming_the_step_and_epoch() {
        let mut task = Scripted::new(12);
        task.losses = vec![(5, f64::NAN)];
        let (_tx, rx) = mpsc::channel();
        let error = train_epochs(&mut task, &plan(2, 6), &mut Progress::new(), &mut Collect::default(), &rx)
            .expect_err("diverged");
        assert_eq!(error.to_string(), "the loss became NaN at step 5 (epoch 2); lower the learning rate");
    }

    #[test]
    fn commands_between_steps_pause_snapshot_and_stop() {
        let mut task = Scripted::new(40);
        let (tx, rx) = mpsc::channel();
        for command in [Command::Pause, Command::SaveCheckpoint, Command::Resume, Command::Stop] {
            tx.send(command).expect("send");
        }
        let mut events = Collect::default();
        let ending =
            train_epochs(&mut task, &plan(1, 10), &mut Progress::new(), &mut events, &rx).expect("loop");
        assert!(matches!(ending, Ending::Cancelled));
        // Resuming lets one step through; the stop waiting behind it ends the loop before the next.
        assert_eq!(task.steps, 1);
        assert_eq!(task.snapshots, vec![0], "the snapshot is taken while paused");
        assert_eq!(
            task.saved_at,
            vec![(1, Position { epoch: 0, batch: 1, steps: 1 })],
            "stopping saves the state"
        );
        assert_eq!(&events.0[..2], &[TrainEvent::Paused { step: 0 }, TrainEvent::Unpaused { step: 0 }]);
        assert!(matches!(&events.0[2..], [TrainEvent::Step(s)] if s.step == 1), "{:?}", events.0);
    }

    #[test]
    fn a_loop_resumed_from_any_saved_state_takes_the_steps_of_one_never_stopped() {
        // 40 examples in steps of 4: 10 steps an epoch; after a 5-step stage (steps go on from 5).
        let plan = Plan { eval_every: Some(3), save_every: Some(4), ..plan(3, 30) };
        let (_tx, rx) = mpsc::channel();
        let mut whole = Scripted::new(40);
        let mut progress = Progress { step: 5, ..Progress::new() };
        train_epochs(&mut whole, &plan, &mut progress, &mut Collect::default(), &rx).expect("loop");
        assert_eq!(whole.stepped.len(), 30);
        assert_eq!(
            progress.position,
            Position::default(),
            "a finished loop leaves the next one at its start"
        );
        // Saved after every evaluation (every 3 steps and at epoch ends) and every 4 steps.
        let saved: Vec<usize> = whole.saved_at.iter().map(|s| s.0 - 5).collect();
        assert_eq!(saved, vec![3, 4, 6, 8, 9, 10, 12, 15, 16, 18, 20, 21, 24, 27, 28, 30]);
        assert_eq!(whole.saved_at[5].1, Position { epoch: 1, batch: 0, steps: 10 }, "an epoch end");
        assert_eq!(whole.saved_at[6].1, Position { epoch: 1, batch: 2, steps: 12 });
        for &(step, position) in &whole.saved_at {
            let mut resumed = Scripted::new(40);
            let mut progress = Progress { step, position, ..Progress::new() };
            train_epochs(&mut resumed, &plan, &mut progress, &mut Collect::default(), &rx).expect("resumed");
            let done = step - 5;
            assert_eq!(resumed.stepped, whole.stepped[done..], "resumed after loop step {done}");
            let later = |at: &[usize]| at.iter().copied().filter(|&s| s > step).collect::<Vec<_>>();
            assert_eq!(resumed.evaluated_at, later(&whole.evaluated_at), "evaluations after {done}");
            assert_eq!(progress.step, 35);
        }
    }

    #[test]
    fn a_state_saved_by_the_evaluation_that_ran_out_of_patience_resumes_into_that_ending() {
        let mut task = Scripted::new(40);
        let plan = Plan { patience: Some((2, "accuracy")), ..plan(3, 30) };
        let mut progress = Progress { step: 12, stale_evals: 2, ..Progress::new() };
        let (_tx, rx) = mpsc::channel();
        let ending =
            train_epochs(&mut task, &plan, &mut progress, &mut Collect::default(), &rx).expect("loop");
        assert!(matches!(ending, Ending::EarlyStopped(_)), "{ending:?}");
        assert!(task.stepped.is_empty(), "no step after the early stop");
    }
}
