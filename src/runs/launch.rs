//! The one way to start a run, or to go on with one: the headless CLI, the workbench and the
//! tests all come through `launch`. For a new run it resolves the config and creates the run
//! record; to resume one it checks the record (its status, its data, its saved state) and
//! reopens it, replaying its history to the caller. Then it tees the record with the caller's
//! sink, runs fine-tuning or pretraining (by the config's `kind`) guarded against panics, makes
//! sure the record ends with a final status, and hands the memory the run freed back to the
//! system, so that an idle workbench does not keep a finished run's high-water mark.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;

use super::RunWriter;
use super::safe::{SMALL_FILE, read_record_text};
use super::store::load_run;
use super::writer::write_status;
use crate::config::{RunConfig, RunKind};
use crate::error::{Error, IoContext, Result};
use crate::report::{RunStatus, RunSummary};
use crate::train::event::{ChannelSink, Tee};
use crate::train::lifecycle::guarded;
use crate::train::state::{Saved, StateFile};
use crate::train::{Command, EventSink, TrainEvent, prepare};

/// What to launch.
#[derive(Debug, Clone, PartialEq)]
pub enum Start {
    /// A new run of this config.
    New(Box<RunConfig>),
    /// Go on with the run recorded in this folder, from its saved state.
    Resume(PathBuf),
}

impl Start {
    /// A short name for the run's thread.
    fn name(&self) -> String {
        match self {
            Self::New(config) => config.name.clone().unwrap_or_else(|| "run".into()),
            Self::Resume(dir) => {
                dir.file_name().map_or_else(|| "run".into(), |n| n.to_string_lossy().into_owned())
            }
        }
    }
}

/// A run that reached its end, however it ended (its summary says how).
#[derive(Debug, Clone)]
pub struct Launched {
    /// The run record.
    pub dir: PathBuf,
    pub summary: RunSummary,
}

/// Runs `start` on this thread: its events go to the run record and to `sink`, commands come
/// from `commands`. `on_record` learns the record's folder as soon as it exists (a Ctrl-C
/// handler needs it). An error means the run never started (bad settings, missing files, a
/// record that cannot be resumed: no record was touched) or its record could not be completed
/// (then its status says `failed`, where anything can still be written).
pub fn launch(
    start: Start,
    sink: &mut dyn EventSink,
    commands: &Receiver<Command>,
    on_record: impl FnOnce(&Path),
) -> Result<Launched> {
    let launched = (|| {
        let (config, mut writer, resume, _lock) = match start {
            Start::New(config) => {
                let mut config = *config;
                prepare(&mut config)?;
                let writer = RunWriter::create(&config)?;
                let lock = lock_record(&writer.dir)?;
                (config, writer, None, lock)
            }
            Start::Resume(dir) => reopen(&dir, sink)?,
        };
        let dir = writer.dir.clone();
        on_record(&dir);
        let ctx = writer.context();
        let run = match config.kind {
            RunKind::FineTune => crate::train::run,
            RunKind::Pretrain => crate::train::pretrain::run_pretraining,
        };
        match guarded(|| run(&config, &ctx, &mut Tee(vec![&mut writer, sink]), commands, resume)) {
            Ok(summary) => Ok(Launched { dir, summary }),
            Err(message) => {
                if let Some(summary) = writer.ended().cloned() {
                    // The record has the run's end; what failed came after it (the console).
                    return Ok(Launched { dir, summary });
                }
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

/// Checks that the run recorded in `dir` can go on — not running, not finished, its data
/// unchanged, its saved state whole and made for its settings — then reopens its record and
/// replays its history to `sink`. Nothing in the record changes when a check fails.
fn reopen(dir: &Path, sink: &mut dyn EventSink) -> Result<(RunConfig, RunWriter, Option<Saved>, File)> {
    let refuse = |why: String| Error::Config(format!("cannot resume {}: {why}", dir.display()));
    let lock = lock_record(dir)?;
    let info = load_run(dir);
    match info.status {
        RunStatus::Running => return Err(refuse("it is running".into())),
        RunStatus::Finished => return Err(refuse("it finished; there is nothing left to do".into())),
        RunStatus::Cancelled | RunStatus::Failed | RunStatus::Interrupted => {}
    }
    let toml = read_record_text(dir, "config.toml", SMALL_FILE)?;
    let config: RunConfig =
        toml::from_str(&toml).map_err(|e| refuse(format!("its config.toml does not read: {e}")))?;
    let resolved =
        config.resolved.as_ref().ok_or_else(|| refuse("its config.toml has no [resolved] table".into()))?;
    let files = crate::train::lifecycle::data_files(&config)?;
    let now = crate::train::lifecycle::data_fingerprints(&files)?;
    // Every file the record fingerprinted must be unchanged. A role the record lacks is not
    // compared: records made before corpus files were fingerprinted have none for them.
    let recorded = &resolved.dataset_sha256;
    let changed: Vec<String> = recorded
        .keys()
        .filter(|role| now.get(*role) != recorded.get(*role))
        .map(|role| {
            let path = files.iter().find(|(r, _)| r == role).map(|(_, p)| p.display().to_string());
            path.unwrap_or_else(|| format!("the {role} file"))
        })
        .collect();
    if !changed.is_empty() {
        return Err(refuse(format!("{} changed since the run started (SHA-256)", changed.join(", "))));
    }
    let saved = Saved::read(&StateFile::in_record(dir, &toml)).map_err(|e| refuse(e.to_string()))?;
    let (writer, history) =
        RunWriter::reopen(dir, &config, &toml, saved.as_ref().map(|s| s.meta.progress.step))?;
    for event in &history {
        sink.emit(event)?;
    }
    Ok((config, writer, saved, lock))
}

/// Takes the run record's lock (`<run>/.lock`), held while the run goes on, so that no second
/// process resumes a run that is running or being resumed.
fn lock_record(dir: &Path) -> Result<File> {
    let path = dir.join(".lock");
    let file = File::options().create(true).truncate(false).write(true).open(&path).at(&path)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::Config(format!(
            "cannot resume {}: another bertbench process is running it",
            dir.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => Err(Error::io(&path, e)),
    }
}

/// `launch` on a thread of its own; `then` receives how it went, on that thread.
pub fn spawn<T: Send + 'static>(
    start: Start,
    mut sink: impl EventSink + Send + 'static,
    commands: Receiver<Command>,
    then: impl FnOnce(Result<Launched>) -> T + Send + 'static,
) -> Result<JoinHandle<T>> {
    std::thread::Builder::new()
        .name(format!("trainer {}", start.name()))
        .spawn(move || then(launch(start, &mut sink, &commands, |_| {})))
        .map_err(|e| Error::Run(format!("cannot start the trainer thread: {e}")))
}

/// A run on its own thread, driven through channels: events come out, commands go in.
pub struct RunThread {
    pub commands: Sender<Command>,
    pub events: Receiver<TrainEvent>,
    thread: JoinHandle<Result<Launched>>,
}

impl RunThread {
    pub fn start(start: Start) -> Result<Self> {
        let (commands, inbox) = mpsc::channel();
        let (outbox, events) = mpsc::channel();
        let thread = spawn(start, ChannelSink(outbox), inbox, |launched| launched)?;
        Ok(Self { commands, events, thread })
    }

    /// Waits for the run to end.
    pub fn join(self) -> Result<Launched> {
        self.thread.join().map_err(|_| Error::Run("the trainer thread panicked".into()))?
    }
}
