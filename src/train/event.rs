//! What the trainer tells the world (`TrainEvent`, facts) and what it obeys (`Command`).
//! Nothing here knows about terminals: the TUI, the console and the run writer are all sinks.
//!
//! Every run ends with exactly one `Finished` event whose summary says how it ended (finished,
//! cancelled or failed, with the reason), so consumers handle the end of a run in one place.

use std::sync::mpsc::Sender;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::report::{EvalReport, MlmReport, Prediction, ProbeResult, RunSummary, nullable_f64};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum TrainEvent {
    Started(RunStarted),
    Step(StepMetrics),
    Evaluated(EvalReport),
    /// Masked-LM loss and accuracy on held-out text.
    MlmEvaluated(MlmReport),
    /// The model's guesses for the `[MASK]`s of the probe sentences, at an evaluation.
    MaskProbe {
        step: usize,
        probes: Vec<ProbeResult>,
    },
    /// Per-example predictions of a final evaluation. Large: the run writer stores them as
    /// Parquet/CSV rather than in `events.jsonl`.
    Predictions {
        split: String,
        rows: Vec<Prediction>,
    },
    CheckpointSaved {
        step: usize,
        path: String,
        /// The validation metric of the checkpoint; NaN for a snapshot saved on request.
        #[serde(deserialize_with = "nullable_f64")]
        metric: f64,
    },
    Paused {
        step: usize,
    },
    /// Training goes on after a pause.
    Unpaused {
        step: usize,
    },
    /// The resumable state was saved (`<run>/state.safetensors`), taking `seconds`.
    StateSaved {
        step: usize,
        bytes: u64,
        seconds: f64,
    },
    /// The run goes on from its state saved at `step` after it was stopped or killed
    /// (`--resume`); the events before this one are its history up to that step. `step` 0:
    /// it had saved no state yet, and starts over.
    #[serde(rename = "resumed")]
    RunResumed {
        step: usize,
    },
    Finished(RunSummary),
}

impl TrainEvent {
    /// Events worth a line in the append-only log (everything but bulk predictions).
    pub fn is_logged(&self) -> bool {
        !matches!(self, Self::Predictions { .. })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunStarted {
    pub run_id: String,
    pub model: String,
    pub device: String,
    /// What the matrix products compute in: `bf16` (f32 sums) or `f32`.
    #[serde(default)]
    pub precision: String,
    pub labels: Vec<String>,
    pub train_examples: usize,
    pub valid_examples: usize,
    pub test_examples: usize,
    pub epochs: usize,
    pub steps_per_epoch: usize,
    pub total_steps: usize,
    /// The first `mlm_steps` steps are masked-LM steps (a pretraining run, or the masked-LM
    /// stage before fine-tuning); their `epoch` counts masked-LM epochs.
    #[serde(default)]
    pub mlm_steps: usize,
    pub trainable_parameters: usize,
    /// Parameters the checkpoint did not have (e.g. a new classifier), initialised fresh.
    pub initialised: Vec<String>,
    /// Checkpoint tensors the model does not use (e.g. a pretraining head).
    pub unused: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepMetrics {
    pub step: usize,
    pub total_steps: usize,
    /// Fractional epoch, e.g. 1.5 halfway through the second epoch.
    pub epoch: f64,
    #[serde(deserialize_with = "nullable_f64")]
    pub loss: f64,
    #[serde(deserialize_with = "nullable_f64")]
    pub lr: f64,
    /// Global gradient norm before clipping.
    #[serde(deserialize_with = "nullable_f64")]
    pub grad_norm: f64,
    pub examples_per_sec: f64,
    pub elapsed_s: f64,
    /// The GPU's memory after the step, on a GPU (absent on the CPU).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_memory: Option<GpuMemory>,
}

/// A GPU's memory in use (by every process on it, as `nvidia-smi` counts) and in all, in MiB.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GpuMemory {
    pub used_mib: f64,
    pub total_mib: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    Pause,
    Resume,
    Stop,
    SaveCheckpoint,
}

/// Whether the trainer should go on after an event was delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// Nobody listens any more (the UI went away): stop as if asked to.
    Stop,
}

pub trait EventSink {
    fn emit(&mut self, event: &TrainEvent) -> Result<Flow>;
}

/// Sends events over a channel; a closed channel means stop.
pub struct ChannelSink(pub Sender<TrainEvent>);

impl EventSink for ChannelSink {
    fn emit(&mut self, event: &TrainEvent) -> Result<Flow> {
        Ok(if self.0.send(event.clone()).is_ok() { Flow::Continue } else { Flow::Stop })
    }
}

/// Delivers each event to every sink in order, even after one failed (so that a run record
/// that cannot take the end of a run does not keep it from the screen); stops when any sink
/// asks to, and returns the first error.
pub struct Tee<'a>(pub Vec<&'a mut dyn EventSink>);

impl EventSink for Tee<'_> {
    fn emit(&mut self, event: &TrainEvent) -> Result<Flow> {
        let mut flow = Ok(Flow::Continue);
        for sink in &mut self.0 {
            match sink.emit(event) {
                Ok(Flow::Stop) if flow.is_ok() => flow = Ok(Flow::Stop),
                Err(e) if flow.is_ok() => flow = Err(e),
                _ => {}
            }
        }
        flow
    }
}

/// Collects events in memory: for tests and for callers that want the whole stream.
#[derive(Default)]
pub struct Collect(pub Vec<TrainEvent>);

impl EventSink for Collect {
    fn emit(&mut self, event: &TrainEvent) -> Result<Flow> {
        self.0.push(event.clone());
        Ok(Flow::Continue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nan_values_survive_a_trip_through_json() {
        let event = TrainEvent::CheckpointSaved { step: 3, path: "p".into(), metric: f64::NAN };
        let line = serde_json::to_string(&event).expect("serialise");
        assert!(line.contains("null"), "{line}");
        let TrainEvent::CheckpointSaved { metric, .. } = serde_json::from_str(&line).expect("parse") else {
            panic!("wrong event")
        };
        assert!(metric.is_nan());
    }
}
