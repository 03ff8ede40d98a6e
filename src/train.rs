//! Training: the event protocol, the optimiser and schedule, the one step loop (`epochs`) and
//! the tasks it drives (fine-tuning in `trainer`, masked-LM in `pretrain`), and what every run
//! shares (`lifecycle`).

pub mod epochs;
pub mod event;
pub mod lifecycle;
pub mod optim;
pub mod pretrain;
pub mod schedule;
pub mod state;
pub mod step;
pub mod trainer;

pub use event::{Command, EventSink, Flow, TrainEvent};
pub use lifecycle::{RunContext, device_from, prepare};
pub use trainer::run;
