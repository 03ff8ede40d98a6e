//! A sweep: a base config and the settings to try. Read from a recipe with a `[sweep]` table:
//!
//! ```toml
//! name = "lesson-label-budget"
//! [data]  …                     # the base run, as in any recipe
//! [sweep]
//! seeds = [42, 1, 2]            # each setting at each seed: mean ± sd
//! [sweep.grid]
//! "model.from-scratch" = [false, true]
//! "data.train-share" = [0.05, 0.1, 0.3, 1.0]
//! ```
//!
//! Every setting of the grid (or a seeded `sample` of them) runs at every seed. The sweep's id
//! is its name and a digest of its settings: the same file started again is the same sweep
//! (finished runs are not redone), an edited one is a new sweep.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand::seq::index;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::{RunConfig, SweepCell};
use crate::error::{Error, IoContext, Result};
use crate::report::RunStatus;
use crate::runs::RunInfo;
use crate::runs::label::describe;

/// The folder, under the runs folder, that holds one folder per sweep.
pub const SWEEPS_DIR: &str = "sweeps";
/// A sweep's own record: its base config and its `[sweep]` table, as it was started.
pub const SWEEP_FILE: &str = "sweep.toml";

/// The `[sweep]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct SweepSpec {
    /// Config keys as a recipe spells them (`train.lr`, `model.from-scratch`) and the values
    /// each takes; every combination is a setting.
    #[serde(default)]
    pub grid: BTreeMap<String, Vec<toml::Value>>,
    /// Seeds each setting runs at; empty: the base config's seed alone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seeds: Vec<u64>,
    /// Run only this many settings of the grid, drawn at random (seeded by `sample-seed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample: Option<usize>,
    #[serde(default)]
    pub sample_seed: u64,
    /// Launch each run with this shell command instead of in this process: `{bertbench}` is
    /// this program, `{args}` the run's arguments (its config file, or `--resume RUN`). For a
    /// scheduler, e.g. `srun {bertbench} train {args}` (Slurm).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// How many `command`s run at once (runs in this process go one at a time).
    #[serde(default = "one")]
    pub parallel: usize,
}

fn one() -> usize {
    1
}

/// One point of the grid: the keys it sets and what it is called.
#[derive(Debug, Clone, PartialEq)]
pub struct Setting {
    pub values: Vec<(String, toml::Value)>,
    /// `from scratch · 10% of labels`.
    pub label: String,
}

/// One run of a sweep: a setting at a seed, with its whole config.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedRun {
    pub setting: usize,
    pub seed: u64,
    pub config: RunConfig,
}

/// What a sweep does next for one of its runs, from the runs folder.
#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    /// No record yet: start it.
    Start,
    /// Stopped, killed or crashed part-way: go on with its record.
    Resume(PathBuf),
    /// Running now (in this process or another).
    Running,
    Finished,
    /// It failed; it is not redone (the same settings would fail again), its reason is shown.
    Failed(Option<String>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Sweep {
    /// `<name>-<8 hex digits of the settings' digest>`.
    pub id: String,
    pub name: String,
    pub base: RunConfig,
    pub spec: SweepSpec,
    pub settings: Vec<Setting>,
    pub seeds: Vec<u64>,
}

impl Sweep {
    /// Reads a sweep recipe; `runs_dir` (the command line's) replaces the recipe's.
    pub fn from_file(path: &Path, runs_dir: Option<&Path>) -> Result<Self> {
        let text = std::fs::read_to_string(path).at(path)?;
        let at = |e: String| Error::Config(format!("{}: {e}", path.display()));
        let mut table: toml::Table = toml::from_str(&text).map_err(|e| at(e.to_string()))?;
        let spec = table.remove("sweep").ok_or_else(|| {
            at(format!("has no [sweep] table: it is one run, `bertbench train {}`", path.display()))
        })?;
        let spec: SweepSpec = spec.try_into().map_err(|e| at(format!("[sweep]: {e}")))?;
        let mut base = RunConfig::from_table(table).map_err(|e| at(e.to_string()))?;
        if let Some(dir) = runs_dir {
            base.runs_dir = dir.to_path_buf();
        }
        let name = base.name.clone().unwrap_or_else(|| {
            path.file_stem().map_or_else(|| "sweep".into(), |s| s.to_string_lossy().into_owned())
        });
        Self::new(name, base, spec).map_err(|e| within(&path.display().to_string(), e))
    }

    /// A sweep of `base` over `spec`: every setting is checked now (its keys exist, its
    /// values have the right types and pass `validate`), so that none fails half-way through.
    pub fn new(name: String, mut base: RunConfig, spec: SweepSpec) -> Result<Self> {
        base.sweep = None;
        base.label = None;
        base.resolved = None;
        base.name = Some(name.clone());
        let bad = |msg: String| Err(Error::Config(msg));
        for (key, values) in &spec.grid {
            if matches!(key.as_str(), "name" | "label" | "sweep" | "runs-dir" | "resolved" | "train.seed") {
                let why = if key == "train.seed" { ": list seeds in `seeds`" } else { "" };
                return bad(format!("[sweep.grid] cannot vary {key}{why}"));
            }
            if values.is_empty() {
                return bad(format!("[sweep.grid] {key} has no values"));
            }
            if let Some((i, v)) = values.iter().enumerate().find(|(i, v)| values[..*i].contains(v)) {
                return bad(format!("[sweep.grid] {key} lists {v} twice (values {} and {})", i, i + 1));
            }
        }
        if spec.parallel == 0 {
            return bad("[sweep] parallel must be at least 1".into());
        }
        match &spec.command {
            Some(c) if !c.contains("{args}") => {
                return bad(format!(
                    "[sweep] command {c:?} has no {{args}}: every run would run the same line (e.g. \"{{bertbench}} train {{args}}\")"
                ));
            }
            None if spec.parallel > 1 => {
                return bad(format!(
                    "[sweep] parallel = {} needs a command: runs in this process go one at a time",
                    spec.parallel
                ));
            }
            _ => {}
        }
        let mut settings = grid(&spec.grid);
        if let Some(n) = spec.sample {
            if n == 0 {
                return bad("[sweep] sample must be at least 1".into());
            }
            if n >= settings.len() {
                return bad(format!(
                    "[sweep] sample = {n} is not fewer than the grid's {} settings: leave sample out to run them all",
                    settings.len()
                ));
            }
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(spec.sample_seed);
            let mut keep = index::sample(&mut rng, settings.len(), n).into_vec();
            keep.sort_unstable();
            settings = keep.into_iter().map(|i| settings[i].clone()).collect();
        }
        let seeds = if spec.seeds.is_empty() { vec![base.train.seed] } else { spec.seeds.clone() };
        let mut unique = seeds.clone();
        unique.sort_unstable();
        unique.dedup();
        if unique.len() != seeds.len() {
            return bad(format!("[sweep] seeds repeat a seed: {seeds:?}"));
        }
        let id = format!("{}-{}", sanitize(&name), digest(&base, &spec)?);
        let sweep = Self { id, name, base, spec, settings, seeds };
        // Every run's config is built (and validated) now.
        for (i, setting) in sweep.settings.iter().enumerate() {
            let config = sweep.config(i, sweep.seeds[0])?;
            config
                .validate()
                .map_err(|e| within(&format!("[sweep.grid] {}", keys_of(&setting.values)), e))?;
        }
        if sweep.settings.len() == 1 && sweep.seeds.len() == 1 {
            return bad(
                "[sweep] varies nothing: give [sweep.grid] keys with several values, or several seeds".into(),
            );
        }
        Ok(sweep)
    }

    /// The folder of the sweep's own record.
    pub fn dir(&self) -> PathBuf {
        self.base.runs_dir.join(SWEEPS_DIR).join(&self.id)
    }

    /// The keys whose values differ between settings.
    pub fn varied(&self) -> Vec<&str> {
        self.spec.grid.iter().filter(|(_, v)| v.len() > 1).map(|(k, _)| k.as_str()).collect()
    }

    /// Every run of the sweep: setting by setting, each at every seed.
    pub fn runs(&self) -> Result<Vec<PlannedRun>> {
        let mut runs = Vec::new();
        for setting in 0..self.settings.len() {
            for &seed in &self.seeds {
                runs.push(PlannedRun { setting, seed, config: self.config(setting, seed)? });
            }
        }
        Ok(runs)
    }

    /// The config of one run: the base with the setting's values and the seed, named and
    /// labelled after them, and marked as this sweep's.
    fn config(&self, setting: usize, seed: u64) -> Result<RunConfig> {
        let s = &self.settings[setting];
        let mut value = toml::Value::try_from(&self.base).map_err(|e| Error::Config(e.to_string()))?;
        for (key, v) in &s.values {
            set_key(&mut value, key, v.clone())?;
        }
        let mut config: RunConfig = value
            .try_into()
            .map_err(|e| Error::Config(format!("[sweep.grid] {}: {e}", keys_of(&s.values))))?;
        config.train.seed = seed;
        let mut label = s.label.clone();
        if self.seeds.len() > 1 {
            label = if label.is_empty() { format!("seed {seed}") } else { format!("{label} · seed {seed}") };
        }
        // The run's id says which run of the sweep it is, for a reader of the runs folder.
        config.name = Some(if label.is_empty() {
            self.name.clone()
        } else {
            format!("{}-{}", self.name, slug(&label))
        });
        config.label = Some(if label.is_empty() { self.name.clone() } else { label });
        config.sweep = Some(SweepCell { id: self.id.clone(), setting, seed });
        Ok(config)
    }

    /// Writes the sweep's record (`<runs>/sweeps/<id>/sweep.toml`) if it is not there yet.
    pub fn save(&self) -> Result<()> {
        #[derive(Serialize)]
        struct Wrapper<'a> {
            sweep: &'a SweepSpec,
        }
        let dir = self.dir();
        std::fs::create_dir_all(&dir).at(&dir)?;
        let path = dir.join(SWEEP_FILE);
        if path.exists() {
            return Ok(());
        }
        let mut text = self.base.to_toml()?;
        text.push('\n');
        text += &toml::to_string_pretty(&Wrapper { sweep: &self.spec })
            .map_err(|e| Error::Config(e.to_string()))?;
        crate::runs::write_atomic(&path, text.as_bytes())
    }

    /// The sweeps recorded under `runs_dir`, newest first; one that does not read is skipped
    /// with its reason.
    pub fn list(runs_dir: &Path) -> (Vec<Self>, Vec<String>) {
        let root = runs_dir.join(SWEEPS_DIR);
        let Ok(entries) = std::fs::read_dir(&root) else { return (Vec::new(), Vec::new()) };
        let mut dirs: Vec<(std::time::SystemTime, PathBuf)> = entries
            .filter_map(std::result::Result::ok)
            .map(|e| e.path())
            .filter(|p| p.join(SWEEP_FILE).is_file())
            .map(|p| {
                (
                    std::fs::metadata(p.join(SWEEP_FILE))
                        .and_then(|m| m.modified())
                        .unwrap_or(std::time::UNIX_EPOCH),
                    p,
                )
            })
            .collect();
        dirs.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        let (mut sweeps, mut problems) = (Vec::new(), Vec::new());
        for (_, dir) in dirs {
            match Self::from_file(&dir.join(SWEEP_FILE), Some(runs_dir)) {
                Ok(s) => sweeps.push(s),
                Err(e) => problems.push(e.to_string()),
            }
        }
        (sweeps, problems)
    }

    /// Each run's record in `runs` (the runs folder's listing), if it has one: the finished
    /// one first, then the newest.
    pub fn records<'a>(&self, runs: &'a [RunInfo]) -> Vec<(PlannedRun, Option<&'a RunInfo>)> {
        let planned = self.runs().unwrap_or_default();
        planned
            .into_iter()
            .map(|p| {
                let record = p.config.sweep.as_ref().and_then(|cell| record_of(runs, cell));
                (p, record)
            })
            .collect()
    }

    /// Every run of the sweep with what it needs next, from the runs folder as it is now:
    /// what `bertbench sweep` and the workbench go through.
    pub fn work(&self) -> Result<Vec<(PlannedRun, Next)>> {
        let runs = crate::runs::list_runs(&self.base.runs_dir)?;
        Ok(self.records(&runs).into_iter().map(|(p, record)| (p, next(record))).collect())
    }
}

/// The record of sweep cell `cell` in `runs`: the finished one, else the newest.
pub fn record_of<'a>(runs: &'a [RunInfo], cell: &SweepCell) -> Option<&'a RunInfo> {
    let mine = runs.iter().filter(|r| r.config.as_ref().and_then(|c| c.sweep.as_ref()) == Some(cell));
    mine.min_by_key(|r| (r.status != RunStatus::Finished, std::cmp::Reverse(r.id.clone())))
}

/// What to do next with a run whose record (if any) is `record`.
pub fn next(record: Option<&RunInfo>) -> Next {
    match record {
        None => Next::Start,
        Some(r) => match r.status {
            RunStatus::Finished => Next::Finished,
            RunStatus::Running => Next::Running,
            RunStatus::Cancelled | RunStatus::Interrupted => Next::Resume(r.dir.clone()),
            RunStatus::Failed => Next::Failed(r.reason.clone()),
        },
    }
}

/// Every combination of the grid's values, the last key varying fastest. A key with a single
/// value sets it without naming it in the labels.
fn grid(grid: &BTreeMap<String, Vec<toml::Value>>) -> Vec<Setting> {
    let mut settings = vec![Vec::<(String, toml::Value)>::new()];
    for (key, values) in grid {
        settings = settings
            .into_iter()
            .flat_map(|done| {
                values.iter().map(move |v| {
                    let mut next = done.clone();
                    next.push((key.clone(), v.clone()));
                    next
                })
            })
            .collect();
    }
    settings
        .into_iter()
        .map(|values| {
            let named: Vec<String> = values
                .iter()
                .filter(|(k, _)| grid.get(k).is_some_and(|v| v.len() > 1))
                .map(|(k, v)| describe(k, v))
                .collect();
            Setting { label: named.join(" · "), values }
        })
        .collect()
}

/// Sets `a.b.c` in a config's TOML, creating the leaf (options are left out when unset); a
/// table that does not exist is refused, naming the key.
fn set_key(root: &mut toml::Value, key: &str, value: toml::Value) -> Result<()> {
    let mut parts: Vec<&str> = key.split('.').collect();
    let leaf = parts
        .pop()
        .filter(|l| !l.is_empty())
        .ok_or_else(|| Error::Config(format!("[sweep.grid] empty key {key:?}")))?;
    let mut table =
        root.as_table_mut().ok_or_else(|| Error::Config("the base config is not a table".into()))?;
    for part in parts {
        table = table
            .get_mut(part)
            .and_then(toml::Value::as_table_mut)
            .ok_or_else(|| Error::Config(format!("[sweep.grid] {key}: the config has no [{part}] table")))?;
    }
    table.insert(leaf.to_owned(), value);
    Ok(())
}

/// `e` with `place` in front, without a second `config:`.
fn within(place: &str, e: Error) -> Error {
    match e {
        Error::Config(message) => Error::Config(format!("{place}: {message}")),
        other => Error::Config(format!("{place}: {other}")),
    }
}

fn keys_of(values: &[(String, toml::Value)]) -> String {
    values.iter().map(|(k, v)| format!("{k} = {v}")).collect::<Vec<_>>().join(", ")
}

/// Eight hex digits of the settings that define the sweep (not where its records go).
fn digest(base: &RunConfig, spec: &SweepSpec) -> Result<String> {
    let mut base = base.clone();
    base.runs_dir = PathBuf::new();
    base.name = None;
    let mut hash = Sha256::new();
    hash.update(base.to_toml()?.as_bytes());
    hash.update(toml::to_string(spec).map_err(|e| Error::Config(e.to_string()))?.as_bytes());
    Ok(hash.finalize().iter().take(4).fold(String::new(), |mut s, b| {
        use std::fmt::Write as _;
        let _ = write!(s, "{b:02x}");
        s
    }))
}

/// `from scratch · 10% of labels · seed 2` → `from-scratch-10-of-labels-seed-2`.
fn slug(label: &str) -> String {
    let words: Vec<String> = label
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '.'))
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
        .collect();
    words.join("-")
}

fn sanitize(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, text: &str) -> PathBuf {
        let path = dir.join("sweep.toml");
        std::fs::write(&path, text).expect("write");
        path
    }

    const BASE: &str = "name = \"toy\"\n[data]\ntrain = \"t.csv\"\n";

    #[test]
    fn a_grid_runs_every_setting_at_every_seed_with_labels() {
        let tmp = tempfile::tempdir().expect("tmp");
        let text = format!(
            "{BASE}[sweep]\nseeds = [1, 2]\n[sweep.grid]\n\"model.from-scratch\" = [false, true]\n\"train.lr\" = [1e-4, 3e-4]\n\"train.epochs\" = [2]\n"
        );
        let sweep = Sweep::from_file(&write(tmp.path(), &text), Some(tmp.path())).expect("sweep");
        assert_eq!(sweep.settings.len(), 4);
        assert_eq!(sweep.varied(), ["model.from-scratch", "train.lr"]);
        let runs = sweep.runs().expect("runs");
        assert_eq!(runs.len(), 8);
        let last = &runs[7].config;
        assert!(last.model.from_scratch);
        assert!((last.train.lr - 3e-4).abs() < 1e-12);
        assert_eq!((last.train.epochs, last.train.seed), (2, 2));
        assert_eq!(last.label.as_deref(), Some("from scratch · lr 3e-4 · seed 2"));
        assert_eq!(last.name.as_deref(), Some("toy-from-scratch-lr-3e-4-seed-2"));
        assert_eq!(last.sweep, Some(SweepCell { id: sweep.id.clone(), setting: 3, seed: 2 }));
        assert!(sweep.id.starts_with("toy-") && sweep.id.len() == "toy-".len() + 8, "{}", sweep.id);
        // The same file is the same sweep; another grid is another.
        let again = Sweep::from_file(&write(tmp.path(), &text), Some(tmp.path())).expect("again");
        assert_eq!(again.id, sweep.id);
        let edited = text.replace("3e-4", "1e-3");
        let other = Sweep::from_file(&write(tmp.path(), &edited), Some(tmp.path())).expect("edited");
        assert_ne!(other.id, sweep.id);
    }

    #[test]
    fn a_sample_is_seeded_and_keeps_grid_order() {
        let base: RunConfig = toml::from_str(BASE).expect("base");
        let mut spec = SweepSpec { parallel: 1, sample: Some(3), ..SweepSpec::default() };
        let lrs = [1e-5, 3e-5, 1e-4, 3e-4, 1e-3].map(toml::Value::Float).to_vec();
        spec.grid.insert("train.lr".into(), lrs);
        let a = Sweep::new("s".into(), base.clone(), spec.clone()).expect("a");
        let b = Sweep::new("s".into(), base.clone(), spec.clone()).expect("b");
        assert_eq!(a.settings, b.settings);
        assert_eq!(a.settings.len(), 3);
        let lr = |s: &Setting| s.values[0].1.as_float().unwrap_or(f64::NAN);
        assert!(a.settings.windows(2).all(|w| lr(&w[0]) < lr(&w[1])));
        spec.sample_seed = 9;
        let c = Sweep::new("s".into(), base, spec).expect("c");
        assert_ne!(c.settings, a.settings, "another sample seed draws other settings");
    }

    #[test]
    fn bad_keys_values_and_tables_are_named() {
        let tmp = tempfile::tempdir().expect("tmp");
        let err = |grid: &str| {
            let text = format!("{BASE}[sweep]\n[sweep.grid]\n{grid}\n");
            Sweep::from_file(&write(tmp.path(), &text), None).expect_err(grid).to_string()
        };
        let typo = err("\"train.lrr\" = [1e-4]");
        assert!(typo.contains("lrr"), "{typo}");
        let wrong_type = err("\"train.epochs\" = [\"three\"]");
        assert!(wrong_type.contains("train.epochs"), "{wrong_type}");
        let no_table = err("\"optim.lr\" = [1e-4]");
        assert!(no_table.contains("no [optim] table"), "{no_table}");
        let invalid = err("\"train.lr\" = [-1.0]");
        assert!(invalid.contains("train.lr = -1.0: lr must be"), "{invalid}");
        assert_eq!(invalid.matches("config:").count(), 1, "{invalid}");
        let seed = err("\"train.seed\" = [1, 2]");
        assert!(seed.contains("seeds"), "{seed}");
        let twice = err("\"train.lr\" = [1e-4, 3e-4, 1e-4]");
        assert!(twice.contains("lists 0.0001 twice"), "{twice}");
        let nothing = err("\"train.lr\" = [1e-4]");
        assert!(nothing.contains("varies nothing"), "{nothing}");
        let sweep = |table: &str| {
            let text = format!("{BASE}[sweep]\n{table}\n[sweep.grid]\n\"train.lr\" = [1e-4, 3e-4]\n");
            Sweep::from_file(&write(tmp.path(), &text), None).expect_err(table).to_string()
        };
        assert!(sweep("sample = 2").contains("not fewer than the grid's 2 settings"));
        assert!(sweep("parallel = 4").contains("needs a command"));
        assert!(sweep("command = \"srun bertbench train\"").contains("has no {args}"));
        let one_run = Sweep::from_file(&write(tmp.path(), BASE), None).expect_err("no [sweep]").to_string();
        assert!(one_run.contains("bertbench train"), "{one_run}");
        let as_run =
            RunConfig::from_toml_file(&write(tmp.path(), &format!("{BASE}[sweep]\n"))).expect_err("a sweep");
        assert!(as_run.to_string().contains("bertbench sweep"), "{as_run}");
    }

    #[test]
    fn the_record_reads_back_as_the_same_sweep() {
        let tmp = tempfile::tempdir().expect("tmp");
        let text =
            format!("{BASE}[sweep]\nseeds = [3, 4]\n[sweep.grid]\n\"data.train-share\" = [0.1, 1.0]\n");
        let sweep =
            Sweep::from_file(&write(tmp.path(), &text), Some(&tmp.path().join("runs"))).expect("sweep");
        sweep.save().expect("save");
        let (listed, problems) = Sweep::list(&tmp.path().join("runs"));
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(listed, vec![sweep]);
    }
}
