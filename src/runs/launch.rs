//! The one way to start a run: the headless CLI, the workbench and the tests all come through
//! `launch`. It resolves the config, creates the run record, tees the record with the caller's
//! sink, runs fine-tuning or pretraining (by the config's `kind`) guarded against panics, makes
//! sure the record ends with a final status, and hands the memory the run freed back to the
//! system, so that an idle workbench does not keep a finished run's high-water mark.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;

use super::RunWriter;
use super::writer::write_status;
use crate::config::{RunConfig, RunKind};
use crate::error::{Error, Result};
use crate::report::{RunStatus, RunSummary};
use crate::train::event::{ChannelSink, Tee};
use crate::train::lifecycle::guarded;
use crate::train::{Command, EventSink, TrainEvent, prepare};

/// A run that reached its end, however it ended (its summary says how).
#[derive(Debug, Clone)]
pub struct Launched {
    /// The run record.
    pub dir: PathBuf,
    pub summary: RunSummary,
}

/// Runs `config` on this thread: its events go to the run record and to `sink`, commands come
/// from `commands`. `on_record` learns the record's folder as soon as it exists (a Ctrl-C
/// handler needs it). An error means the run never started (bad settings, missing files: no
/// record exists) or its record could not be completed (then its status says `failed`, where
/// anything can still be written).
pub fn launch(
    mut config: RunConfig,
    sink: &mut dyn EventSink,
    commands: &Receiver<Command>,
    on_record: impl FnOnce(&Path),
) -> Result<Launched> {
    let launched = (|| {
        prepare(&mut config)?;
        let mut writer = RunWriter::create(&config)?;
        let dir = writer.dir.clone();
        on_record(&dir);
        let ctx = writer.context();
        let run = match config.kind {
            RunKind::FineTune => crate::train::run,
            RunKind::Pretrain => crate::train::pretrain::run_pretraining,
        };
        match guarded(|| run(&config, &ctx, &mut Tee(vec![&mut writer, sink]), commands)) {
            Ok(summary) => Ok(Launched { dir, summary }),
            Err(message) => {
                // The record could not take the end of the run: say so in what can still be
                // written.
                let _ = write_status(&dir, RunStatus::Failed, Some(&message));
                Err(Error::Run(message))
            }
        }
    })();
    crate::sys::release_free_memory();
    launched
}

/// `launch` on a thread of its own named `name`; `then` receives how it went, on that thread.
pub fn spawn<T: Send + 'static>(
    config: RunConfig,
    mut sink: impl EventSink + Send + 'static,
    commands: Receiver<Command>,
    name: String,
    then: impl FnOnce(Result<Launched>) -> T + Send + 'static,
) -> Result<JoinHandle<T>> {
    std::thread::Builder::new()
        .name(name)
        .spawn(move || then(launch(config, &mut sink, &commands, |_| {})))
        .map_err(|e| Error::Run(format!("cannot start the trainer thread: {e}")))
}

/// A run on its own thread, driven through channels: events come out, commands go in.
pub struct RunThread {
    pub commands: Sender<Command>,
    pub events: Receiver<TrainEvent>,
    thread: JoinHandle<Result<Launched>>,
}

impl RunThread {
    pub fn start(config: RunConfig) -> Result<Self> {
        let (commands, inbox) = mpsc::channel();
        let (outbox, events) = mpsc::channel();
        let name = format!("trainer {}", config.name.as_deref().unwrap_or("run"));
        let thread = spawn(config, ChannelSink(outbox), inbox, name, |launched| launched)?;
        Ok(Self { commands, events, thread })
    }

    /// Waits for the run to end.
    pub fn join(self) -> Result<Launched> {
        self.thread.join().map_err(|_| Error::Run("the trainer thread panicked".into()))?
    }
}
