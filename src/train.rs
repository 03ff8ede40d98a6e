//! Training: the event protocol, the optimiser and schedule, the trainer loop and its thread.

pub mod event;
pub mod handle;
pub mod optim;
pub mod pretrain;
pub mod schedule;
pub mod step;
pub mod trainer;

pub use event::{Command, EventSink, Flow, RunStatus, RunSummary, TrainEvent};
pub use trainer::{RunContext, run};
