//! Going through a sweep's runs: each run that has no record is started, each that stopped
//! part-way is resumed, finished and failed ones are left as they are. Runs go one at a time
//! in this process (`drive`, so that each gets every core and their speeds compare), or each
//! through a shell command, several at once (`drive_commands`: a scheduler such as Slurm).

use std::path::Path;
use std::process::{Child, Command};

use super::spec::{Next, PlannedRun, Sweep};
use crate::error::{Error, IoContext, Result};
use crate::report::RunStatus;
use crate::runs::{Launched, Start};

/// What the driver reports as it goes.
#[derive(Debug)]
pub enum Progress<'a> {
    /// Run `n` of `total` starts (or, `resume`, goes on).
    Starting { n: usize, total: usize, run: &'a PlannedRun, resume: bool },
    /// Run `n` is not started: finished, failed (with its reason) or running elsewhere.
    Skipped { n: usize, run: &'a PlannedRun, why: String },
    /// Run `n` ended; `dir` is its record (none: its command left no record).
    Ended { n: usize, run: &'a PlannedRun, dir: Option<&'a Path>, status: RunStatus },
}

/// How the sweep's pass ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    /// Every run was tried.
    Complete,
    /// A run was stopped (Ctrl-C, the workbench): the sweep stops with it.
    Stopped,
}

/// Runs the sweep's runs that still need running, in order, with `launch` (on this thread).
/// A run that could not start (its error) is reported as failed and the sweep goes on.
pub fn drive(
    sweep: &Sweep,
    mut launch: impl FnMut(Start) -> Result<Launched>,
    mut progress: impl FnMut(Progress<'_>),
) -> Result<Pass> {
    let planned = sweep.work()?;
    let total = planned.len();
    for (i, (run, what)) in planned.iter().enumerate() {
        let n = i + 1;
        let start = match what {
            Next::Start => Start::New(Box::new(run.config.clone())),
            Next::Resume(dir) => Start::Resume(dir.clone()),
            other => {
                progress(Progress::Skipped { n, run, why: why_skipped(other) });
                continue;
            }
        };
        progress(Progress::Starting { n, total, run, resume: matches!(what, Next::Resume(_)) });
        match launch(start) {
            Ok(launched) => {
                let status = launched.summary.status;
                progress(Progress::Ended { n, run, dir: Some(&launched.dir), status });
                if status == RunStatus::Cancelled {
                    return Ok(Pass::Stopped);
                }
            }
            Err(e) => progress(Progress::Skipped { n, run, why: format!("did not start: {e}") }),
        }
    }
    Ok(Pass::Complete)
}

/// Runs the sweep's runs with `template`, `parallel` at a time: `{bertbench}` becomes this
/// program, `{args}` the run's arguments — its config (written to the sweep's `runs/` folder)
/// or `--resume RUN`. Each command is expected to write its run's record into the sweep's runs
/// folder and to return when the run ends (`srun …`, `sbatch --wait …`). A command that fails
/// is reported as its run's end (failed, with or without a record) and the others go on.
pub fn drive_commands(
    sweep: &Sweep,
    template: &str,
    parallel: usize,
    mut progress: impl FnMut(Progress<'_>),
) -> Result<Pass> {
    let exe = std::env::current_exe().map_err(|e| Error::Run(format!("cannot find this program: {e}")))?;
    let planned = sweep.work()?;
    let total = planned.len();
    let configs = sweep.dir().join("runs");
    std::fs::create_dir_all(&configs).at(&configs)?;
    let mut running: Vec<(usize, Child)> = Vec::new();
    for (i, (run, what)) in planned.iter().enumerate() {
        let n = i + 1;
        let args = match what {
            Next::Start => {
                let path = configs.join(format!("{}-seed{}.toml", run.setting, run.seed));
                crate::runs::write_atomic(&path, run.config.to_toml()?.as_bytes())?;
                quote(&path)
            }
            Next::Resume(dir) => format!("--resume {}", quote(dir)),
            other => {
                progress(Progress::Skipped { n, run, why: why_skipped(other) });
                continue;
            }
        };
        while running.len() >= parallel {
            wait_one(&mut running, &planned, &mut progress)?;
        }
        let line = template.replace("{bertbench}", &quote(&exe)).replace("{args}", &args);
        progress(Progress::Starting { n, total, run, resume: matches!(what, Next::Resume(_)) });
        let child = Command::new("sh")
            .arg("-c")
            .arg(&line)
            .spawn()
            .map_err(|e| Error::Run(format!("cannot run `{line}`: {e}")))?;
        running.push((i, child));
    }
    while !running.is_empty() {
        wait_one(&mut running, &planned, &mut progress)?;
    }
    Ok(Pass::Complete)
}

/// Waits for the first of `running` to end (polling: std has no wait-for-any).
fn wait_one(
    running: &mut Vec<(usize, Child)>,
    planned: &[(PlannedRun, Next)],
    progress: &mut impl FnMut(Progress<'_>),
) -> Result<()> {
    loop {
        for k in 0..running.len() {
            let (i, child) = &mut running[k];
            let Some(exit) = child.try_wait().map_err(|e| Error::Run(format!("waiting for a run: {e}")))?
            else {
                continue;
            };
            let i = *i;
            running.swap_remove(k);
            let run = &planned[i].0;
            // Its record, as the command left it; a command that failed did not finish it.
            let runs = crate::runs::list_runs(&run.config.runs_dir)?;
            let record = run.config.sweep.as_ref().and_then(|cell| super::spec::record_of(&runs, cell));
            let status = match record.map(|r| r.status) {
                Some(RunStatus::Finished) if exit.success() => RunStatus::Finished,
                Some(s) if s != RunStatus::Running => s,
                _ => RunStatus::Failed,
            };
            let dir = record.map(|r| r.dir.clone());
            progress(Progress::Ended { n: i + 1, run, dir: dir.as_deref(), status });
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

fn why_skipped(next: &Next) -> String {
    match next {
        Next::Finished => "finished".into(),
        Next::Running => "running in another process".into(),
        Next::Failed(Some(reason)) => format!("failed: {reason}"),
        Next::Failed(None) => "failed".into(),
        Next::Start | Next::Resume(_) => String::new(),
    }
}

/// `path` quoted for `sh`.
fn quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}
