//! Carries out `Effect`s: threads for runs, reads and writes of files. Quick jobs answer at
//! once with messages; a run's thread sends its events over the UI's channel.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Sender};

use super::app::{EvalData, RecordView, RunKey, SweepEntry};
use super::form::{DatasetChoice, DatasetPreview, ModelChoice};
use super::update::{Effect, Msg, PreviewColumns};
use crate::config::{DataConfig, HeadKind, RunConfig};
use crate::data::conll::is_column_file;
use crate::data::load::{Inspection, inspect};
use crate::data::stats::label_counts;
use crate::data::{Columns, Examples, read_split};
use crate::error::Result;
use crate::explain::predict::DEFAULT_STEPS;
use crate::explain::representations::MAX_EXAMPLES;
use crate::explain::{Explainer, Explanation, Target};
use crate::model::scratch::Preset;
use crate::model::source::cached_hub_models;
use crate::runs::store::load_run;
use crate::runs::{Start, read_history, read_predictions};
use crate::train::{Command, EventSink, Flow, TrainEvent};

/// What the effects need to know: where things are, and the UI's inbox.
pub struct Effects {
    pub inbox: Sender<Msg>,
    pub runs_dir: PathBuf,
    pub recipes_dir: PathBuf,
    pub datasets_dir: PathBuf,
    trainers: HashMap<RunKey, Sender<Command>>,
    /// The explanation worker's inbox (started on first use).
    explainer: Option<Sender<ExplainRequest>>,
}

impl Effects {
    pub fn new(inbox: Sender<Msg>, runs_dir: PathBuf, recipes_dir: PathBuf, datasets_dir: PathBuf) -> Self {
        Self { inbox, runs_dir, recipes_dir, datasets_dir, trainers: HashMap::new(), explainer: None }
    }

    /// The messages the workbench starts from: shipped datasets and usable models.
    pub fn startup(&self) -> Vec<Msg> {
        vec![
            Msg::ModelsFound(model_choices()),
            Msg::DatasetsFound(
                [
                    shipped_datasets(&self.datasets_dir, &self.recipes_dir),
                    hub_datasets(&hf_hub::Cache::from_env()),
                ]
                .concat(),
            ),
        ]
    }

    /// Carries out an effect; returns the messages it produced right away.
    pub fn run(&mut self, effect: Effect) -> Vec<Msg> {
        match effect {
            Effect::StartRun(key, start) => {
                let (tx, rx) = mpsc::channel();
                if let Err(e) = spawn_run(key, start, rx, self.inbox.clone()) {
                    return vec![Msg::TrainerExited { run: key, error: Some(e.to_string()) }];
                }
                self.trainers.insert(key, tx);
                Vec::new()
            }
            Effect::Send(key, command) => {
                // A trainer that has gone away needs no command.
                if let Some(tx) = self.trainers.get(&key) {
                    let _ = tx.send(command);
                }
                Vec::new()
            }
            Effect::Preview { id, path, columns, head } => self.background(move || {
                let (columns, result) = read_preview(&path, &columns, head, &hf_hub::Cache::from_env());
                Msg::Preview { id, columns, result }
            }),
            Effect::ListRuns => {
                let runs_dir = self.runs_dir.clone();
                self.background(move || {
                    Msg::RunsListed(crate::runs::listing::rows(&runs_dir).map_err(|e| e.to_string()))
                })
            }
            Effect::ListRecipes => {
                let (recipes, runs_dir) = (self.recipes_dir.clone(), self.runs_dir.clone());
                self.background(move || Msg::RecipesListed(list_recipes(&recipes, &runs_dir)))
            }
            Effect::LoadSweeps => {
                let runs_dir = self.runs_dir.clone();
                self.background(move || load_sweeps(&runs_dir))
            }
            Effect::RunSweep(sweep) => self.background(move || match sweep_work(&sweep) {
                Ok(runs) => Msg::SweepWork { id: sweep.id.clone(), runs },
                Err(e) => Msg::Done(Err(format!("sweep {}: {e}", sweep.id))),
            }),
            Effect::ExportSweep(results) => {
                let out = self.runs_dir.join("plots");
                self.background(move || {
                    Msg::Done(
                        crate::plot::sweep::export_sweep(&results, crate::plot::Format::Png, &out)
                            .map(|p| format!("wrote {}", p.display()))
                            .map_err(|e| e.to_string()),
                    )
                })
            }
            Effect::Rename { dir, label } => {
                let said = if label.is_empty() {
                    "back to its automatic label".to_owned()
                } else {
                    format!("labelled {label:?}")
                };
                vec![Msg::Done(
                    crate::runs::label::rename(&dir, &label)
                        .map(|()| {
                            format!(
                                "{}: {said}",
                                dir.file_name().map(|n| n.to_string_lossy()).unwrap_or_default()
                            )
                        })
                        .map_err(|e| e.to_string()),
                )]
            }
            Effect::LoadEval(dir) => self.background(move || Msg::EvalLoaded(load_eval(&dir))),
            Effect::LoadCompare(dirs) => {
                self.background(move || Msg::CompareLoaded(Ok(dirs.iter().map(|d| load_record(d)).collect())))
            }
            Effect::Delete(dir) => vec![Msg::Done(delete_run(&self.runs_dir, &dir))],
            Effect::SaveRecipe(config) => {
                vec![Msg::Done(save_recipe(&self.recipes_dir, &config).map_err(|e| e.to_string()))]
            }
            Effect::Export(dirs) => {
                let out = self.runs_dir.join("plots");
                self.background(move || Msg::Done(export(&dirs, &out)))
            }
            Effect::Explain { run, text, target } => {
                let mut request = ExplainRequest { run, text, target };
                if let Some(tx) = &self.explainer {
                    match tx.send(request) {
                        Ok(()) => return Vec::new(),
                        Err(mpsc::SendError(back)) => request = back,
                    }
                }
                // No worker yet (or it ended): one is started with this request.
                match start_explainer(self.inbox.clone()) {
                    Ok(tx) => {
                        let _ = tx.send(request);
                        self.explainer = Some(tx);
                        Vec::new()
                    }
                    Err(e) => vec![Msg::Done(Err(format!("cannot start a worker thread: {e}")))],
                }
            }
            Effect::Represent(dir) => self.background(move || {
                let run_id = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                let result = crate::explain::representations::representations(&dir, MAX_EXAMPLES)
                    .map(Box::new)
                    .map_err(|e| e.to_string());
                Msg::Represented { run_id, result }
            }),
            Effect::InspectMasking { id, config } => self.background(move || {
                let result = crate::explain::masking::inspect_masking(&config)
                    .map(Box::new)
                    .map_err(|e| e.to_string());
                Msg::MaskingInspected { id, result }
            }),
            Effect::ExportView { run_id, view } => {
                let out = self.runs_dir.join("plots");
                self.background(move || {
                    Msg::Done(
                        crate::plot::explain::export_view(&view, &run_id, &out)
                            .map(|path| format!("wrote {}", path.display()))
                            .map_err(|e| e.to_string()),
                    )
                })
            }
        }
    }

    /// Runs a job that reads or writes files on a worker thread, so the UI never waits for
    /// it; its answer arrives as a message. Nothing comes back at once.
    fn background(&self, job: impl FnOnce() -> Msg + Send + 'static) -> Vec<Msg> {
        let inbox = self.inbox.clone();
        let spawned = std::thread::Builder::new().name("worker".into()).spawn(move || {
            let _ = inbox.send(job());
        });
        match spawned {
            Ok(_) => Vec::new(),
            Err(e) => vec![Msg::Done(Err(format!("cannot start a worker thread: {e}")))],
        }
    }
}

/// A text to explain with the model of a run.
pub struct ExplainRequest {
    run: PathBuf,
    text: String,
    target: Option<Target>,
}

/// The explanation worker: one thread, so that explanations never pile up on the cores a run
/// trains on. Requests that queued while it worked are skipped for the latest (the selection
/// has moved on); the model of the run last explained stays loaded for the next text.
fn start_explainer(inbox: Sender<Msg>) -> std::io::Result<Sender<ExplainRequest>> {
    let (tx, rx) = mpsc::channel::<ExplainRequest>();
    std::thread::Builder::new().name("explainer".into()).spawn(move || {
        let mut loaded: Option<Explainer> = None;
        while let Ok(mut request) = rx.recv() {
            while let Ok(newer) = rx.try_recv() {
                request = newer;
            }
            let ExplainRequest { run, text, target } = request;
            let work = std::panic::AssertUnwindSafe(|| explain(&mut loaded, &run, &text, target));
            let result = if let Ok(result) = std::panic::catch_unwind(work) {
                result.map(Box::new).map_err(|e| e.to_string())
            } else {
                loaded = None;
                Err("the explanation failed (a bug: please report it)".into())
            };
            if inbox.send(Msg::Explained { run, text, target, result }).is_err() {
                break;
            }
        }
    })?;
    Ok(tx)
}

/// Explains `text` with the model of `run`, loading it unless it is the one held.
fn explain(
    loaded: &mut Option<Explainer>,
    run: &Path,
    text: &str,
    target: Option<Target>,
) -> Result<Explanation> {
    let explainer = match loaded {
        Some(e) if e.run_dir == run => e,
        _ => loaded.insert(Explainer::open(run)?),
    };
    explainer.explain(text, target, DEFAULT_STEPS)
}

/// Forwards a run's events to the UI; a closed UI stops the run.
struct Forward {
    key: RunKey,
    inbox: Sender<Msg>,
}

impl EventSink for Forward {
    fn emit(&mut self, event: &TrainEvent) -> Result<Flow> {
        let sent = self.inbox.send(Msg::Train { run: self.key, event: Box::new(event.clone()) });
        Ok(if sent.is_ok() { Flow::Continue } else { Flow::Stop })
    }
}

/// Launches the run on a thread of its own. The run record is written on that thread, so it
/// is complete whatever the UI does; a panic ends the run, never the UI.
fn spawn_run(key: RunKey, start: Start, commands: mpsc::Receiver<Command>, inbox: Sender<Msg>) -> Result<()> {
    let forward = Forward { key, inbox: inbox.clone() };
    crate::runs::launch::spawn(start, forward, commands, move |launched| {
        let error = launched.err().map(|e| e.to_string());
        let _ = inbox.send(Msg::TrainerExited { run: key, error });
    })?;
    Ok(())
}

/// The shipped datasets as the form offers them.
/// The shipped datasets, each with its recipe (`<recipes>/<name>.toml`) when one reads.
pub fn shipped_datasets(root: &Path, recipes: &Path) -> Vec<DatasetChoice> {
    crate::datasets::shipped(root)
        .into_iter()
        .map(|d| {
            let recipe =
                RunConfig::from_toml_file(&recipes.join(format!("{}.toml", d.name))).ok().map(Box::new);
            DatasetChoice { name: d.name, train: d.train, valid: d.valid, test: d.test, head: d.head, recipe }
        })
        .collect()
}

/// The datasets in the Hugging Face hub cache that can be read without naming a config, after
/// the shipped ones. Each is chosen by its name (`hub:owner/name`), which the run resolves, so
/// that its record says where its files came from.
fn hub_datasets(cache: &hf_hub::Cache) -> Vec<DatasetChoice> {
    crate::data::hub::cached(cache)
        .into_iter()
        .map(|(id, _)| {
            let name = format!("{}{id}", crate::data::hub::PREFIX);
            let train = PathBuf::from(&name);
            DatasetChoice { name, train, valid: None, test: None, head: HeadKind::SeqCls, recipe: None }
        })
        .collect()
}

/// Reads a data file for the data panel as `head` reads it: the file's columns (for the column
/// pickers, known even when no text or label column could be found) and its preview. A hub
/// dataset is previewed from its train file in `cache`.
fn read_preview(
    path: &Path,
    wanted: &PreviewColumns,
    head: HeadKind,
    cache: &hf_hub::Cache,
) -> (Vec<String>, Result<DatasetPreview, String>) {
    let hub_train;
    let path = match crate::data::hub::HubDataset::parse(&path.to_string_lossy()) {
        None => path,
        // (Its first shard, when the split has several: the run joins them.)
        Some(dataset) => match dataset.and_then(|d| d.locate(cache, true)) {
            Ok(located) => {
                hub_train = located.files[0][0].clone();
                &hub_train
            }
            Err(e) => return (Vec::new(), Err(e.to_string())),
        },
    };
    if head == HeadKind::TokenCls || is_column_file(path) {
        let cfg = DataConfig {
            text_column: wanted.text.clone(),
            label_column: wanted.label.clone(),
            ..DataConfig::default()
        };
        let result = read_split(path, &cfg, HeadKind::TokenCls)
            .map(|e| preview(path, &e, ("words".into(), "tags".into()), HeadKind::TokenCls))
            .map_err(|e| e.to_string());
        return (Vec::new(), result);
    }
    let columns = Columns {
        text: wanted.text.as_deref(),
        label: wanted.label.as_deref(),
        pair: wanted.pair.as_deref(),
        label_sets: head == HeadKind::MultiLabel,
    };
    match inspect(path, &columns) {
        Ok(Inspection { columns, examples }) => {
            let result =
                examples.map(|(e, picked)| preview(path, &e, picked, head)).map_err(|e| e.to_string());
            (columns, result)
        }
        Err(e) => (Vec::new(), Err(e.to_string())),
    }
}

/// The embedded model, fresh models, the HF cache and bertbench's own cache.
fn model_choices() -> Vec<ModelChoice> {
    let mut models = vec![ModelChoice {
        label: "embedded (pretrained)".into(),
        source: crate::model::embedded::SOURCE.into(),
        unavailable: None,
    }];
    for preset in Preset::ALL {
        models.push(ModelChoice {
            label: format!("{} (new model: {})", preset.source(), preset.describe()),
            source: preset.source(),
            unavailable: None,
        });
    }
    let cache = hf_hub::Cache::from_env();
    for id in cached_hub_models(&cache) {
        // The name without the organisation fits the form; the help line gives the full id.
        let name = id.rsplit('/').next().unwrap_or(&id).to_owned();
        // Its family, from its config: one bertbench cannot fine-tune is shown, with why.
        // (The reason without the cache's paths, which the help line could not show.)
        let config = cache.model(id.clone()).get("config.json").and_then(|p| std::fs::read_to_string(p).ok());
        let (label, unavailable) = match config.map(|text| crate::model::EncoderConfig::from_json(&text)) {
            Some(Ok(c)) => (format!("{name} (hub, {})", c.family().name), None),
            Some(Err(why)) => (format!("{name} (hub)"), Some(format!("config.json: {why}"))),
            None => (format!("{name} (hub)"), None),
        };
        models.push(ModelChoice { label, source: id, unavailable });
    }
    if let Ok(entries) = std::fs::read_dir(crate::model::embedded::cache_root()) {
        let mut dirs: Vec<PathBuf> = entries
            .filter_map(std::result::Result::ok)
            .map(|e| e.path())
            // The embedded model's own copy is already the first choice.
            .filter(|p| !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("embedded-")))
            .filter(|p| p.join("config.json").is_file())
            .collect();
        dirs.sort();
        for dir in dirs {
            let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            models.push(ModelChoice {
                label: format!("{name} (local)"),
                source: dir.display().to_string(),
                unavailable: None,
            });
        }
    }
    models
}

/// The data panel's view of a file whose examples were read from these columns (the file's
/// columns travel beside it, in the answer to the preview request).
fn preview(
    path: &Path,
    examples: &Examples,
    (text, label): (String, String),
    head: HeadKind,
) -> DatasetPreview {
    let label_counts = label_counts(head, examples, "|");
    let shown = if head == HeadKind::SeqCls {
        examples_per_label(&examples.labels, &examples.texts, 4)
    } else {
        // Label sets, entities and values: the first few examples.
        let label = |i: usize| {
            if head != HeadKind::TokenCls {
                let label = examples.labels[i].trim();
                return if label.is_empty() { "(no label)".to_owned() } else { label.to_owned() };
            }
            let tags: Vec<&str> = examples.labels[i].split_whitespace().collect();
            let kinds: Vec<String> =
                crate::eval::entities::spans(&tags).into_iter().map(|s| s.kind).collect();
            if kinds.is_empty() { "no entity".to_owned() } else { kinds.join(", ") }
        };
        (0..examples.len().min(4)).map(|i| (label(i), examples.display_text(i))).collect()
    };
    let words: usize = examples.texts.iter().map(|t| t.split_whitespace().count()).sum();
    DatasetPreview {
        text_column: text,
        label_column: label,
        rows: examples.len(),
        mean_words: words as f64 / examples.len().max(1) as f64,
        examples: shown,
        label_counts,
        card: path
            .parent()
            .and_then(|d| std::fs::read_to_string(d.join("CARD.md")).ok())
            .and_then(|c| crate::datasets::card_summary(&c)),
    }
}

/// Up to `n` (label, text) examples, taking the labels in turn so that each class shows.
fn examples_per_label(labels: &[String], texts: &[String], n: usize) -> Vec<(String, String)> {
    let mut distinct: Vec<&String> = labels.iter().collect();
    distinct.sort();
    distinct.dedup();
    let mut queues: Vec<_> = distinct
        .iter()
        .map(|l| labels.iter().zip(texts).filter(move |(x, _)| x == l).map(|(l, t)| (l.clone(), t.clone())))
        .collect();
    let mut out = Vec::new();
    while out.len() < n {
        let before = out.len();
        for q in &mut queues {
            if out.len() < n
                && let Some(e) = q.next()
            {
                out.push(e);
            }
        }
        if out.len() == before {
            break;
        }
    }
    out
}

fn load_eval(dir: &Path) -> std::result::Result<EvalData, String> {
    let id = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let history = read_history(dir).map_err(|e| e.to_string())?;
    let predictions = read_predictions(dir).map_err(|e| e.to_string())?;
    let reports: std::collections::BTreeMap<_, _> = ["valid", "test"]
        .into_iter()
        .filter_map(|s| history.final_eval(s).map(|r| (s.to_owned(), r.clone())))
        .collect();
    if reports.is_empty() {
        let pretraining = load_run(dir).config.is_some_and(|c| c.kind == crate::config::RunKind::Pretrain);
        return Err(if pretraining {
            format!("{id} is a pretraining run: no classification to evaluate; press c to see its curves")
        } else {
            format!("run {id} has no evaluation yet")
        });
    }
    Ok(EvalData { run_id: id, reports, predictions })
}

/// The recipes in `dir`, by file name: each read as a run, or as a sweep when it has a
/// `[sweep]` table (its runs go to `runs_dir`, as the workbench's do).
fn list_recipes(dir: &Path, runs_dir: &Path) -> Vec<super::app::RecipeEntry> {
    use super::app::{Recipe, RecipeEntry};
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(std::result::Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml") && p.is_file())
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let about = text
                .lines()
                .find_map(|l| l.strip_prefix('#'))
                .map(|l| crate::runs::safe::printable(l.trim()).into_owned())
                .unwrap_or_default();
            let is_sweep = text.parse::<toml::Table>().is_ok_and(|t| t.contains_key("sweep"));
            let recipe = if is_sweep {
                crate::experiment::Sweep::from_file(&path, Some(runs_dir)).map(|s| Recipe::Sweep(Box::new(s)))
            } else {
                RunConfig::from_toml_file(&path).map(|mut c| {
                    runs_dir.clone_into(&mut c.runs_dir);
                    Recipe::Run(Box::new(c))
                })
            };
            RecipeEntry { path, about, recipe: recipe.map_err(|e| e.to_string()) }
        })
        .collect()
}

/// The sweeps of the runs folder, each with its results as its runs' records say.
fn load_sweeps(runs_dir: &Path) -> Msg {
    let (sweeps, mut problems) = crate::experiment::Sweep::list(runs_dir);
    let runs = match crate::runs::list_runs(runs_dir) {
        Ok(runs) => runs,
        Err(e) => {
            problems.push(e.to_string());
            Vec::new()
        }
    };
    let sweeps = sweeps
        .into_iter()
        .map(|sweep| {
            let results = crate::experiment::Results::gather(&sweep, &runs, |r| {
                crate::experiment::results::train_examples(&r.dir)
            });
            SweepEntry { sweep, results }
        })
        .collect();
    Msg::SweepsLoaded { sweeps, problems }
}

/// Writes the sweep's record and lists what it still has to run: each run without a record
/// (its config), each stopped part-way (its record, to resume).
fn sweep_work(sweep: &crate::experiment::Sweep) -> Result<Vec<(RunConfig, Option<PathBuf>)>> {
    use crate::experiment::Next;
    sweep.save()?;
    Ok(sweep
        .work()?
        .into_iter()
        .filter_map(|(planned, next)| match next {
            Next::Start => Some((planned.config, None)),
            Next::Resume(dir) => Some((planned.config, Some(dir))),
            Next::Running | Next::Finished | Next::Failed(_) => None,
        })
        .collect())
}

/// A run as the compare screen needs it; what cannot be read stays empty.
fn load_record(dir: &Path) -> RecordView {
    let info = load_run(dir);
    let mut predictions = read_predictions(dir).unwrap_or_default();
    let split = if predictions.contains_key("test") { "test" } else { "valid" };
    RecordView {
        history: read_history(dir).unwrap_or_default(),
        predictions: predictions.remove(split).unwrap_or_default(),
        predicted_split: split.to_owned(),
        label: info.label,
        id: info.id,
        status: info.status,
        config: info.config,
        summary: info.summary,
    }
}

/// Deletes a run folder, but only one inside the runs folder that looks like a run record.
fn delete_run(runs_dir: &Path, dir: &Path) -> std::result::Result<String, String> {
    let inside = dir.parent().is_some_and(|p| p == runs_dir);
    if !inside || !(dir.join("status").is_file() || dir.join("config.toml").is_file()) {
        return Err(format!("{} is not a run record in {}: not deleted", dir.display(), runs_dir.display()));
    }
    std::fs::remove_dir_all(dir).map_err(|e| format!("cannot delete {}: {e}", dir.display()))?;
    Ok(format!("deleted {}", dir.display()))
}

/// Writes the config as `<recipes>/<name>.toml` (never over an existing recipe).
fn save_recipe(recipes_dir: &Path, config: &RunConfig) -> Result<String> {
    let base = config
        .name
        .clone()
        .or_else(|| config.data.train.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "recipe".into());
    std::fs::create_dir_all(recipes_dir).map_err(|e| crate::Error::io(recipes_dir, e))?;
    let path = crate::runs::free_path(recipes_dir, &base, "toml");
    let text = format!(
        "# Saved from the bertbench workbench. Run it headless with:\n#   bertbench train {}\n{}",
        path.display(),
        config.to_toml()?
    );
    crate::runs::write_atomic(&path, text.as_bytes())?;
    Ok(format!("recipe written to {}", path.display()))
}

fn export(dirs: &[PathBuf], out: &Path) -> std::result::Result<String, String> {
    let runs: Vec<&Path> = dirs.iter().map(PathBuf::as_path).collect();
    let files = crate::plot::export_runs(&runs, crate::plot::Format::Png, out).map_err(|e| e.to_string())?;
    Ok(format!("wrote {} plot(s) to {}", files.len(), out.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use polars::prelude::*;

    #[test]
    fn cached_hub_datasets_are_offered_by_name_and_previewed_from_the_cache() {
        let tmp = tempfile::tempdir().expect("tmp");
        let repo = tmp.path().join("datasets--org--reviews");
        let data = repo.join("snapshots/abc/data");
        std::fs::create_dir_all(&data).expect("mkdir");
        std::fs::create_dir_all(repo.join("refs")).expect("refs");
        std::fs::write(repo.join("refs/main"), "abc").expect("ref");
        let mut frame = df!("sentence" => ["a fine film", "dull"], "label" => ["pos", "neg"]).expect("df");
        let file = std::fs::File::create(data.join("train-00000-of-00001.parquet")).expect("create");
        ParquetWriter::new(file).finish(&mut frame).expect("write");
        let cache = hf_hub::Cache::new(tmp.path().to_path_buf());
        let offered = hub_datasets(&cache);
        assert_eq!(offered.len(), 1);
        // Chosen by name, so that the run resolves it and records where its files came from.
        assert_eq!(
            (offered[0].name.as_str(), offered[0].train.as_path()),
            ("hub:org/reviews", Path::new("hub:org/reviews"))
        );
        let (columns, preview) =
            read_preview(&offered[0].train, &PreviewColumns::default(), HeadKind::SeqCls, &cache);
        assert_eq!(columns, ["sentence", "label"]);
        assert!(preview.is_ok(), "{preview:?}");
        let (_, missing) =
            read_preview(Path::new("hub:org/absent"), &PreviewColumns::default(), HeadKind::SeqCls, &cache);
        assert!(missing.expect_err("not cached").contains("not in the hub cache"));
    }
}
