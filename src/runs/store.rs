//! Reading run records back. A half-written or damaged run is listed with what can be read
//! of it; it never stops the listing.

use std::path::{Path, PathBuf};

use super::safe::{SMALL_FILE, printable, read_record_text};
use crate::config::RunConfig;
use crate::error::{Error, IoContext, Result};
use crate::report::{RunStatus, RunSummary};
use crate::sys::process_alive;

#[derive(Debug, Clone)]
pub struct RunInfo {
    pub id: String,
    /// What people call the run (`runs::label`): given, or made from its settings.
    pub label: String,
    pub dir: PathBuf,
    pub status: RunStatus,
    pub reason: Option<String>,
    pub config: Option<RunConfig>,
    pub summary: Option<RunSummary>,
}

impl RunInfo {
    pub fn model(&self) -> String {
        self.config.as_ref().map_or_else(|| "?".into(), |c| printable(&c.model.source).into_owned())
    }

    /// The training data (or, for a pretraining run, the corpus) by name.
    /// `datasets/<name>/train.csv` is known by its folder's name; other files by their own.
    pub fn dataset(&self) -> String {
        let Some(c) = &self.config else { return "?".into() };
        let file = if c.kind == crate::config::RunKind::Pretrain {
            c.mlm.corpus.first()
        } else {
            Some(&c.data.train)
        };
        let Some(file) = file else { return "?".into() };
        let stem =
            file.file_name().map(|n| n.to_string_lossy().split('.').next().unwrap_or_default().to_owned());
        let named_by_folder = matches!(stem.as_deref(), Some("train" | "corpus"));
        let name = if named_by_folder { file.parent().and_then(|p| p.file_name()) } else { None };
        name.or_else(|| file.file_name())
            .map_or_else(|| "?".into(), |n| printable(&n.to_string_lossy()).into_owned())
    }

    /// The task: the head of a fine-tuning run, `mlm` for a pretraining run.
    pub fn task(&self) -> String {
        match &self.config {
            Some(c) if c.kind == crate::config::RunKind::Pretrain => "mlm".into(),
            Some(c) => c.head.as_str().into(),
            None => "?".into(),
        }
    }
}

/// Reads one run folder, as untrusted data (`safe`): its id and reason are printable.
pub fn load_run(dir: &Path) -> RunInfo {
    let id = dir.file_name().map_or_else(String::new, |n| printable(&n.to_string_lossy()).into_owned());
    let (mut status, mut reason, pid, host) = read_status(dir);
    // A run on another machine (a scheduler's node) is trusted to be running: its process id
    // cannot be checked from here.
    let elsewhere = host.is_some_and(|h| Some(h) != crate::sys::hostname());
    if status == RunStatus::Running && !elsewhere && !pid.is_some_and(process_alive) {
        status = RunStatus::Interrupted;
        reason = Some("the process ended without finishing the run (killed or crashed)".into());
    }
    let reason = reason.map(|r| printable(&r).into_owned());
    let config = read_record_text(dir, "config.toml", SMALL_FILE).ok().and_then(|t| toml::from_str(&t).ok());
    let summary = read_record_text(dir, "summary.json", SMALL_FILE)
        .ok()
        .and_then(|t| serde_json::from_str::<RunSummary>(&t).ok());
    let mut run =
        RunInfo { id, label: String::new(), dir: dir.to_path_buf(), status, reason, config, summary };
    run.label = super::label::read_given(dir).unwrap_or_else(|| match &run.config {
        Some(config) => super::label::automatic(config, &run.dataset()),
        None => run.id.clone(),
    });
    run
}

fn read_status(dir: &Path) -> (RunStatus, Option<String>, Option<u32>, Option<String>) {
    let text = match read_record_text(dir, "status", SMALL_FILE) {
        Ok(text) => text,
        Err(e) if e.is_not_found() => {
            return (
                RunStatus::Interrupted,
                Some("no status file: the run record is incomplete".into()),
                None,
                None,
            );
        }
        Err(e) => return (RunStatus::Interrupted, Some(format!("unreadable status: {e}")), None, None),
    };
    let mut lines = text.lines();
    let status = lines.next().and_then(|l| RunStatus::parse(l.trim()));
    let (mut reason, mut pid, mut host) = (None, None, None);
    for line in lines {
        if let Some(r) = line.strip_prefix("reason: ") {
            reason = Some(r.to_owned());
        } else if let Some(p) = line.strip_prefix("pid: ") {
            pid = p.trim().parse().ok();
        } else if let Some(h) = line.strip_prefix("host: ") {
            host = Some(h.trim().to_owned());
        }
    }
    match status {
        Some(s) => (s, reason, pid, host),
        None => (
            RunStatus::Interrupted,
            Some(format!("unreadable status file: {:?}", text.lines().next().unwrap_or(""))),
            None,
            None,
        ),
    }
}

/// All runs under `runs_dir`, newest first (run ids start with their start time).
pub fn list_runs(runs_dir: &Path) -> Result<Vec<RunInfo>> {
    if !runs_dir.exists() {
        return Ok(Vec::new());
    }
    let mut runs: Vec<RunInfo> = std::fs::read_dir(runs_dir)
        .at(runs_dir)?
        .filter_map(std::result::Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir() && (p.join("config.toml").exists() || p.join("status").exists()))
        .map(|p| load_run(&p))
        .collect();
    runs.sort_by(|a, b| b.id.cmp(&a.id));
    Ok(runs)
}

/// Finds a run by id (or unique id prefix), or takes `name` as a path to a run folder.
pub fn find_run(runs_dir: &Path, name: &str) -> Result<RunInfo> {
    let as_path = Path::new(name);
    if as_path.join("status").is_file() || as_path.join("config.toml").is_file() {
        return Ok(load_run(as_path));
    }
    let mut matches = list_runs(runs_dir)?.into_iter().filter(|r| r.id.starts_with(name));
    match (matches.next(), matches.next()) {
        (Some(run), None) => Ok(run),
        (None, _) => Err(Error::Config(format!("no run {name:?} in {}", runs_dir.display()))),
        (Some(_), Some(_)) => {
            Err(Error::Config(format!("several runs start with {name:?}; give more of the id")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dead_process_here_is_interrupted_one_on_another_machine_is_trusted() {
        let tmp = tempfile::tempdir().expect("tmp");
        // No process has this id: the run here died.
        let gone = "running\npid: 4294967\n";
        let here = crate::sys::hostname().map(|h| format!("host: {h}\n")).unwrap_or_default();
        std::fs::write(tmp.path().join("status"), format!("{gone}{here}")).expect("status");
        assert_eq!(load_run(tmp.path()).status, RunStatus::Interrupted);
        // A scheduler's node wrote it: its process id means nothing here.
        std::fs::write(tmp.path().join("status"), format!("{gone}host: node-17.cluster\n")).expect("status");
        assert_eq!(load_run(tmp.path()).status, RunStatus::Running);
        // Records written before hosts were recorded read as before.
        std::fs::write(tmp.path().join("status"), gone).expect("status");
        assert_eq!(load_run(tmp.path()).status, RunStatus::Interrupted);
    }
}
