//! Runs the trainer on its own named thread: events come back over a channel, commands go in.

use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;

use super::event::{ChannelSink, Command, EventSink, RunSummary, Tee, TrainEvent};
use super::trainer::{RunContext, run};
use crate::config::RunConfig;
use crate::error::{Error, Result};
use crate::runs::RunWriter;

pub struct TrainerHandle {
    pub run_id: String,
    pub commands: Sender<Command>,
    pub events: Receiver<TrainEvent>,
    thread: JoinHandle<Result<RunSummary>>,
}

impl TrainerHandle {
    /// Waits for the run to end.
    pub fn join(self) -> Result<RunSummary> {
        self.thread
            .join()
            .map_err(|_| Error::Config(format!("the trainer thread of run {} panicked", self.run_id)))?
    }
}

/// Starts a run on a thread named after it. With a writer, the run record is written on that
/// thread too, so it is complete even if nobody reads the events.
pub fn spawn(config: RunConfig, ctx: RunContext, writer: Option<RunWriter>) -> Result<TrainerHandle> {
    let (command_tx, command_rx) = mpsc::channel();
    let (event_tx, event_rx) = mpsc::channel();
    let run_id = ctx.run_id.clone();
    let thread = std::thread::Builder::new()
        .name(format!("trainer {run_id}"))
        .spawn(move || {
            let mut channel = ChannelSink(event_tx);
            let mut writer = writer;
            let mut sinks: Vec<&mut dyn EventSink> = Vec::new();
            if let Some(w) = writer.as_mut() {
                sinks.push(w);
            }
            sinks.push(&mut channel);
            let summary = run(&config, &ctx, &mut Tee(sinks), &command_rx);
            crate::sys::release_free_memory();
            summary
        })
        .map_err(|e| Error::Config(format!("cannot start the trainer thread: {e}")))?;
    Ok(TrainerHandle { run_id, commands: command_tx, events: event_rx, thread })
}
