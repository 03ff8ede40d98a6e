//! `update(&mut App, Msg) -> Vec<Effect>`: every change of state happens here, in response to a
//! key, a trainer event or the result of an effect. Effects are requests to the outside world
//! (start a thread, read a folder); `effects.rs` carries them out and answers with messages.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind};

use super::app::{
    Align, App, Asked, Confirm, EvalData, EvalFocus, EvalPane, EvalView, ExplainState, Explaining, Leaving,
    Lifecycle, LiveRun, LiveState, NoticeKind, Overlay, PredictionFilter, PreviewId, RecordView, RunKey,
    RunRow, Screen, SweepEntry,
};
use super::form::{Changed, DatasetChoice, DatasetPreview, ModelChoice};
use super::keymap::{Action, lookup};
use crate::config::{HeadKind, RunConfig};
use crate::explain::masking::MaskingSample;
use crate::explain::representations::Representations;
use crate::explain::{Explanation, Outputs, Target};
use crate::plot::explain::ExplainView;
use crate::report::RunStatus;
use crate::runs::Start;
use crate::train::{Command, TrainEvent};

/// Signals closer together than this are one event delivered twice.
const SIGNAL_ECHO: Duration = Duration::from_secs(1);

#[derive(Debug)]
pub enum Msg {
    Key(KeyEvent),
    /// The terminal changed size: nothing to update, but the next frame is drawn anew.
    Resize,
    /// An event of a run (boxed: a run's summary is large next to the other messages).
    Train {
        run: RunKey,
        event: Box<TrainEvent>,
    },
    /// The run's thread ended; `error` when it ended without a `Finished` event (the run could
    /// not start, or the thread panicked outside the trainer).
    TrainerExited {
        run: RunKey,
        error: Option<String>,
    },
    DatasetsFound(Vec<DatasetChoice>),
    ModelsFound(Vec<ModelChoice>),
    /// The answer to preview request `id`: the data file's columns (when it could be read at
    /// all) and what it holds.
    Preview {
        id: PreviewId,
        columns: Vec<String>,
        result: Result<DatasetPreview, String>,
    },
    RunsListed(Result<Vec<RunRow>, String>),
    /// The recipes of the recipes folder.
    RecipesListed(Vec<super::app::RecipeEntry>),
    /// The sweeps of the runs folder with their results, and the records that did not read.
    SweepsLoaded {
        sweeps: Vec<SweepEntry>,
        problems: Vec<String>,
    },
    /// What a sweep still has to run: new runs' configs, and the records to resume.
    SweepWork {
        id: String,
        runs: Vec<(RunConfig, Option<PathBuf>)>,
    },
    EvalLoaded(Result<EvalData, String>),
    CompareLoaded(Result<Vec<RecordView>, String>),
    /// The explanation of `text` for `target` (`None`: the prediction).
    Explained {
        run: PathBuf,
        text: String,
        target: Option<Target>,
        result: Result<Box<Explanation>, String>,
    },
    /// Run `run_id`'s sentence vectors before and after fine-tuning.
    Represented {
        run_id: String,
        result: Result<Box<Representations>, String>,
    },
    /// The masking inspector's batch.
    MaskingInspected {
        id: u64,
        result: Result<Box<MaskingSample>, String>,
    },
    /// The outcome of an action (saved, exported, deleted), for the footer.
    Done(Result<String, String>),
    /// SIGTERM, SIGHUP (the SSH connection dropped) or SIGINT from outside, and when it
    /// arrived: stop runs, leave. Another one a while later leaves at once; one right after is
    /// the same event delivered twice (a hangup reaches us from the terminal and from the shell).
    Signal {
        why: String,
        at: Instant,
    },
    /// Drawing failed: the terminal is gone. Stop runs cleanly and leave; nobody can answer.
    TerminalLost,
}

/// The columns a preview reads (`None`: guessed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PreviewColumns {
    pub text: Option<String>,
    pub label: Option<String>,
    pub pair: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    StartRun(RunKey, Start),
    Send(RunKey, Command),
    Preview {
        id: PreviewId,
        path: PathBuf,
        columns: PreviewColumns,
        head: HeadKind,
    },
    ListRuns,
    /// The sweeps of the runs folder and their results.
    LoadSweeps,
    /// The recipes of the recipes folder.
    ListRecipes,
    /// Writes the sweep's record, then finds what it still has to run (`Msg::SweepWork`).
    RunSweep(Box<crate::experiment::Sweep>),
    /// The sweep's summary plot as a PNG.
    ExportSweep(Box<crate::experiment::Results>),
    /// Gives the run in `dir` a label (empty: back to the automatic one).
    Rename {
        dir: PathBuf,
        label: String,
    },
    LoadEval(PathBuf),
    LoadCompare(Vec<PathBuf>),
    Delete(PathBuf),
    SaveRecipe(Box<RunConfig>),
    Export(Vec<PathBuf>),
    /// Predict and explain `text` with the model of the run in `run`.
    Explain {
        run: PathBuf,
        text: String,
        target: Option<Target>,
    },
    /// The sentence vectors of the run in `run`, before and after fine-tuning.
    Represent(PathBuf),
    /// The first masked-LM batch of these settings.
    InspectMasking {
        id: u64,
        config: Box<RunConfig>,
    },
    /// One explanation view as a PNG, named after the run.
    ExportView {
        run_id: String,
        view: Box<ExplainView>,
    },
}

const PAGE: usize = 10;
/// The help overlay is short; the view clamps what it cannot show.
const HELP_SCROLL_MAX: u16 = 40;
/// A batch of 64 long sequences wraps to a few hundred lines at most.
const MASKING_SCROLL_MAX: u16 = 600;

pub fn update(app: &mut App, msg: Msg) -> Vec<Effect> {
    // The loop ends with this batch of messages: what is still queued behind the exit (a key,
    // a run's end) must not start anything.
    if let Lifecycle::Exited { .. } = app.lifecycle {
        return Vec::new();
    }
    match msg {
        Msg::Key(key) if key.kind != KeyEventKind::Release => on_key(app, key),
        Msg::Key(_) | Msg::Resize => Vec::new(),
        Msg::Train { run, event } => on_train_event(app, run, *event),
        Msg::TrainerExited { run, error } => on_trainer_exit(app, run, error),
        Msg::DatasetsFound(d) => {
            app.setup.set_datasets(d);
            preview(app)
        }
        Msg::ModelsFound(m) => {
            app.setup.set_models(m);
            Vec::new()
        }
        Msg::Preview { id, columns, result } => {
            // Previews load on workers and may answer out of order: only the latest is current.
            if id == app.preview_request {
                app.setup.columns = columns;
                app.setup.preview = Some(result);
            }
            Vec::new()
        }
        Msg::RunsListed(Ok(rows)) => {
            app.runs.marked.retain(|id| rows.iter().any(|r| &r.id == id));
            app.runs.cursor = app.runs.cursor.min(rows.len().saturating_sub(1));
            app.runs.rows = rows;
            Vec::new()
        }
        Msg::SweepsLoaded { sweeps, problems } => {
            app.experiments.set(sweeps, problems);
            announce_finished_sweeps(app);
            Vec::new()
        }
        Msg::SweepWork { id, runs } => queue_sweep(app, &id, runs),
        Msg::RecipesListed(entries) => {
            if let Some(Overlay::Recipes { entries: shown, .. }) = app.overlay.as_mut() {
                *shown = Asked::Done(Ok(Box::new(entries)));
            }
            Vec::new()
        }
        Msg::EvalLoaded(Ok(data)) => {
            app.eval = Some(EvalView::new(data));
            app.screen = Screen::Eval;
            Vec::new()
        }
        Msg::CompareLoaded(Ok(runs)) => {
            app.compare.set_runs(runs);
            app.screen = Screen::Compare;
            Vec::new()
        }
        Msg::Explained { run, text, target, result } => {
            // Only the answer to what is open now: the selection (or the run) may have moved on.
            let open = app.eval.as_mut().and_then(|v| v.explanation.as_mut());
            if let Some(state) = open.filter(|e| e.run == run && e.text == text && e.target == target) {
                state.result = Some(result);
            }
            Vec::new()
        }
        Msg::Represented { run_id, result } => {
            if let Some(view) = app.eval.as_mut().filter(|v| v.data.run_id == run_id) {
                view.representations = Some(Asked::Done(result));
            }
            Vec::new()
        }
        Msg::MaskingInspected { id, result } => {
            if let Some(Overlay::Masking { id: shown, sample }) = app.overlay.as_mut()
                && *shown == id
            {
                *sample = Asked::Done(result);
            }
            Vec::new()
        }
        Msg::Done(Ok(text)) => {
            app.info(text);
            Vec::new()
        }
        Msg::RunsListed(Err(e))
        | Msg::EvalLoaded(Err(e))
        | Msg::CompareLoaded(Err(e))
        | Msg::Done(Err(e)) => {
            app.error(e);
            Vec::new()
        }
        Msg::TerminalLost if app.lifecycle.is_quitting() => Vec::new(),
        Msg::TerminalLost => {
            app.overlay = None;
            begin_quit(app, Leaving::TerminalLost)
        }
        Msg::Signal { why, at } => on_signal(app, &why, at),
    }
}

fn on_key(app: &mut App, key: KeyEvent) -> Vec<Effect> {
    if app.lifecycle.is_quitting() {
        // Only one thing left to decide: stop waiting for the run.
        let force = lookup(app.screen, &key) == Some(Action::Quit);
        return if force { exit(app, true) } else { Vec::new() };
    }
    match &app.overlay {
        Some(Overlay::Confirm(confirm)) => {
            let confirm = confirm.clone();
            return match key.code {
                KeyCode::Char('y' | 'Y') | KeyCode::Enter => {
                    app.overlay = None;
                    confirmed(app, confirm)
                }
                KeyCode::Char('n' | 'N' | 'q') | KeyCode::Esc => {
                    app.overlay = None;
                    Vec::new()
                }
                _ => Vec::new(),
            };
        }
        Some(Overlay::Masking { sample, .. }) => {
            let export = match (key.code, sample) {
                (KeyCode::Char('x'), Asked::Done(Ok(sample))) => Some(Effect::ExportView {
                    run_id: String::new(),
                    view: Box::new(ExplainView::Masking((**sample).clone())),
                }),
                _ => None,
            };
            if !scroll_overlay(app, key.code, MASKING_SCROLL_MAX)
                && matches!(key.code, KeyCode::Esc | KeyCode::Char('i' | 'q') | KeyCode::Enter)
            {
                app.overlay = None;
            }
            return export.into_iter().collect();
        }
        Some(Overlay::Recipes { .. }) => return recipes_key(app, key.code),
        Some(Overlay::Help) => {
            if !scroll_overlay(app, key.code, HELP_SCROLL_MAX)
                && matches!(
                    key.code,
                    KeyCode::Esc | KeyCode::Char('?' | 'q') | KeyCode::Enter | KeyCode::F(1)
                )
            {
                app.overlay = None;
            }
            return Vec::new();
        }
        None => {}
    }
    if app.screen == Screen::Setup && app.setup.editing.is_some() {
        return edit_key(app, key);
    }
    if app.screen == Screen::Eval && app.eval.as_ref().is_some_and(|v| v.typing) {
        return sentence_key(app, key);
    }
    if app.screen == Screen::Runs && app.runs.renaming.is_some() {
        return rename_key(app, key);
    }
    if key.code == KeyCode::Esc {
        // Esc dismisses the message, and closes what it closes on the screen.
        app.notice = None;
    }
    match lookup(app.screen, &key) {
        Some(action) => on_action(app, action),
        None => Vec::new(),
    }
}

/// The arrows (and j/k) and PgUp/PgDn scroll an overlay, up to `max` lines down; whether the
/// key was one of them.
fn scroll_overlay(app: &mut App, code: KeyCode, max: u16) -> bool {
    let scroll = app.overlay_scroll;
    app.overlay_scroll = match code {
        KeyCode::Up | KeyCode::Char('k') => scroll.saturating_sub(1),
        KeyCode::Down | KeyCode::Char('j') => (scroll + 1).min(max),
        KeyCode::PageUp => scroll.saturating_sub(PAGE as u16),
        KeyCode::PageDown => (scroll + PAGE as u16).min(max),
        _ => return false,
    };
    true
}

/// Keys while a text field is being edited: they type, except Enter, Esc, Backspace and Ctrl-U
/// (clear).
fn edit_key(app: &mut App, key: KeyEvent) -> Vec<Effect> {
    let control = key.modifiers.contains(crossterm::event::KeyModifiers::CONTROL);
    match key.code {
        KeyCode::Enter if app.setup.commit() == Changed::Data => return preview(app),
        KeyCode::Esc => app.setup.editing = None,
        KeyCode::Backspace => {
            if let Some(e) = app.setup.editing.as_mut() {
                e.backspace();
            }
        }
        KeyCode::Tab => {
            let candidates =
                app.setup.editing.as_mut().map(super::form::Editing::complete_path).unwrap_or_default();
            if !candidates.is_empty() {
                app.info(format!("{} fit: {}", candidates.len(), candidates.join("  ")));
            }
        }
        KeyCode::Char('u') if control => {
            if let Some(e) = app.setup.editing.as_mut() {
                e.buffer.clear();
            }
        }
        KeyCode::Char(c) if !control => {
            if let Some(e) = app.setup.editing.as_mut() {
                e.type_char(c);
            }
        }
        // Ctrl-C (and Ctrl-Q) quit while typing too, as everywhere: the key table says which.
        _ if control && lookup(app.screen, &key) == Some(Action::Quit) => {
            return on_action(app, Action::Quit);
        }
        _ => {}
    }
    Vec::new()
}

/// What a key does to a line being typed (a sentence, a label).
enum Typing {
    /// Enter.
    Submit,
    /// Esc.
    Cancel,
    /// Ctrl-C (or Ctrl-Q): quit while typing too, as everywhere.
    Quit,
    /// A character, Backspace, Ctrl-U, or nothing.
    Edited,
}

fn type_into(buffer: &mut String, key: &KeyEvent, screen: Screen) -> Typing {
    let control = key.modifiers.contains(crossterm::event::KeyModifiers::CONTROL);
    match key.code {
        KeyCode::Enter => return Typing::Submit,
        KeyCode::Esc => return Typing::Cancel,
        KeyCode::Backspace => {
            buffer.pop();
        }
        KeyCode::Char('u') if control => buffer.clear(),
        KeyCode::Char(c) if !control => buffer.push(c),
        _ if control && lookup(screen, key) == Some(Action::Quit) => return Typing::Quit,
        _ => {}
    }
    Typing::Edited
}

/// Keys while a sentence is typed on the Evaluation screen: Enter predicts it, Esc leaves it.
fn sentence_key(app: &mut App, key: KeyEvent) -> Vec<Effect> {
    let runs_dir = app.settings.runs_dir.clone();
    let screen = app.screen;
    let Some(view) = app.eval.as_mut() else { return Vec::new() };
    match type_into(&mut view.sentence, &key, screen) {
        Typing::Submit if view.sentence.trim().is_empty() => view.typing = false,
        Typing::Submit => {
            view.typing = false;
            view.pane = EvalPane::Sentence;
            view.detail_scroll = 0;
            let text = view.sentence.trim().to_owned();
            return ask_explanation(view, &runs_dir, text, None);
        }
        Typing::Cancel => view.typing = false,
        Typing::Quit => return on_action(app, Action::Quit),
        Typing::Edited => {}
    }
    Vec::new()
}

/// Keys while a run's label is typed on the Runs screen: Enter keeps it, Esc leaves it as it was.
fn rename_key(app: &mut App, key: KeyEvent) -> Vec<Effect> {
    let screen = app.screen;
    let Some((dir, buffer)) = app.runs.renaming.as_mut() else { return Vec::new() };
    match type_into(buffer, &key, screen) {
        Typing::Submit => {
            let (dir, label) = (dir.clone(), buffer.trim().to_owned());
            app.runs.renaming = None;
            return vec![Effect::Rename { dir, label }, Effect::ListRuns];
        }
        Typing::Cancel => app.runs.renaming = None,
        Typing::Quit => return on_action(app, Action::Quit),
        Typing::Edited => {}
    }
    Vec::new()
}

/// Asks for the explanation of `text` unless it is the one open (or on its way).
fn ask_explanation(
    view: &mut EvalView,
    runs_dir: &std::path::Path,
    text: String,
    target: Option<Target>,
) -> Vec<Effect> {
    let run = runs_dir.join(&view.data.run_id);
    // The one open (or on its way) is not asked for again; a failed one is.
    let held = view.explanation.as_ref().filter(|e| !matches!(e.result, Some(Err(_))));
    if held.is_some_and(|e| e.run == run && e.text == text && e.target == target) {
        return Vec::new();
    }
    view.explanation = Some(ExplainState { run: run.clone(), text: text.clone(), target, result: None });
    vec![Effect::Explain { run, text, target }]
}

/// The open prediction's explanation, asked for when it is not the one held.
fn explain_open_prediction(view: &mut EvalView, runs_dir: &std::path::Path) -> Vec<Effect> {
    match view.open_prediction().map(|p| p.text.clone()) {
        Some(text) => ask_explanation(view, runs_dir, text, None),
        None => Vec::new(),
    }
}

/// The next output to attribute: the next class (label, tag), and for tagging after the last
/// tag the next word; none for a regression's one value.
fn next_target(explanation: &Explanation) -> Option<Target> {
    let current = explanation.attribution.target;
    let classes = explanation.labels.len().max(1);
    Some(match (&explanation.outputs, current.token) {
        (Outputs::Value(_), _) => return None,
        (Outputs::Tags(_), Some(token)) => {
            let firsts = crate::explain::predict::first_tokens(&explanation.words);
            let at = firsts.iter().position(|&t| t == token).unwrap_or(0);
            if current.class + 1 < classes {
                Target { class: current.class + 1, token: Some(token) }
            } else {
                Target {
                    class: 0,
                    token: firsts.get((at + 1) % firsts.len().max(1)).copied().or(Some(token)),
                }
            }
        }
        _ => Target { class: (current.class + 1) % classes, token: None },
    })
}

fn on_action(app: &mut App, action: Action) -> Vec<Effect> {
    match action {
        Action::Quit => {
            if app.live.iter().any(|r| r.state.is_active() || r.state == LiveState::Queued) {
                app.overlay = Some(Overlay::Confirm(Confirm::Quit));
                Vec::new()
            } else {
                exit(app, false)
            }
        }
        Action::Help => {
            app.overlay = Some(Overlay::Help);
            app.overlay_scroll = 0;
            Vec::new()
        }
        Action::CycleTheme => {
            app.theme = app.theme.next();
            app.info(format!("theme: {}", app.theme.name()));
            Vec::new()
        }
        Action::NextScreen | Action::PrevScreen => {
            let i = Screen::ALL.iter().position(|s| *s == app.screen).unwrap_or(0);
            let step = if action == Action::NextScreen { 1 } else { Screen::ALL.len() - 1 };
            goto(app, Screen::ALL[(i + step) % Screen::ALL.len()])
        }
        Action::Goto(screen) => goto(app, screen),
        _ => match app.screen {
            Screen::Setup => setup_action(app, action),
            Screen::Train => train_action(app, action),
            Screen::Eval => eval_action(app, action),
            Screen::Runs => runs_action(app, action),
            Screen::Compare => compare_action(app, action),
            Screen::Experiments => experiments_action(app, action),
        },
    }
}

fn goto(app: &mut App, screen: Screen) -> Vec<Effect> {
    if app.screen != screen {
        app.notice = None;
    }
    app.screen = screen;
    match screen {
        Screen::Runs => vec![Effect::ListRuns],
        Screen::Experiments => vec![Effect::LoadSweeps],
        Screen::Eval if app.eval.is_none() => {
            if let Some(run) = app.shown().filter(|r| !r.results.is_empty()) {
                app.eval = Some(EvalView::new(run.results.clone()));
            }
            Vec::new()
        }
        _ => Vec::new(),
    }
}

/// Asks for a preview of the form's data as it is now. Answers to earlier requests are stale
/// from here on, also when there is no file to read yet.
fn preview(app: &mut App) -> Vec<Effect> {
    app.preview_request += 1;
    app.setup
        .data_file()
        .map(|path| Effect::Preview {
            id: app.preview_request,
            path,
            columns: PreviewColumns {
                text: app.setup.text_column.clone(),
                label: app.setup.label_column.clone(),
                pair: app.setup.pair_column.clone().filter(|_| app.setup.head().pair),
            },
            head: app.setup.draft.head,
        })
        .into_iter()
        .collect()
}

fn setup_action(app: &mut App, action: Action) -> Vec<Effect> {
    let form = &mut app.setup;
    let changed = match action {
        Action::Up => {
            form.move_cursor(-1);
            Changed::Nothing
        }
        Action::Down => {
            form.move_cursor(1);
            Changed::Nothing
        }
        Action::Left => form.cycle(-1),
        Action::Right => form.cycle(1),
        Action::Activate => form.activate(),
        Action::StartRun => return start_run(app),
        Action::SaveRecipe => {
            return match form.to_config(&app.settings.runs_dir) {
                Ok(config) => vec![Effect::SaveRecipe(Box::new(config))],
                Err(why) => {
                    app.error(format!("cannot save a recipe: {why}"));
                    Vec::new()
                }
            };
        }
        Action::InspectMasking => return inspect_masking(app),
        Action::OpenRecipe => {
            app.overlay = Some(Overlay::Recipes { entries: Asked::Pending, cursor: 0 });
            return vec![Effect::ListRecipes];
        }
        Action::StartComparison => return start_form_sweep(app, false),
        Action::StartLabelBudget => return start_form_sweep(app, true),
        _ => Changed::Nothing,
    };
    // An error about the settings is stale once they change.
    if changed != Changed::Nothing && app.notice.as_ref().is_some_and(|n| n.kind == NoticeKind::Error) {
        app.notice = None;
    }
    if changed == Changed::Data { preview(app) } else { Vec::new() }
}

/// The masking inspector for the form's settings: what their first masked-LM step hides.
fn inspect_masking(app: &mut App) -> Vec<Effect> {
    match app.setup.to_config(&app.settings.runs_dir) {
        Ok(config) if config.mlm.mask_ratio <= 0.0 => {
            app.info("set a masking ratio above 0 first: with 0 there is no masked-LM stage to inspect");
            Vec::new()
        }
        Ok(config) => {
            app.notice = None;
            app.masking_request += 1;
            app.overlay = Some(Overlay::Masking { id: app.masking_request, sample: Asked::Pending });
            app.overlay_scroll = 0;
            vec![Effect::InspectMasking { id: app.masking_request, config: Box::new(config) }]
        }
        Err(why) => {
            app.error(format!("cannot inspect the masking: {why}"));
            Vec::new()
        }
    }
}

/// Starts the form's run, or queues it behind the active one (one run trains at a time, so
/// each gets every core and speeds stay comparable).
fn start_run(app: &mut App) -> Vec<Effect> {
    let config = match app.setup.to_config(&app.settings.runs_dir) {
        Ok(c) => c,
        Err(why) => {
            app.error(format!("cannot start: {why}"));
            return Vec::new();
        }
    };
    if app.setup.seeds > 1 {
        // Several seeds: a sweep of the seeds alone, so their mean ± sd is on screen 6.
        return form_sweep(app, config, crate::experiment::SweepSpec::default(), "seeds");
    }
    launch_run(app, config, None)
}

/// The form's settings as a sweep: pretrained against from scratch, and (`budget`) at 5, 10,
/// 30 and 100 % of the labels; each at the form's seeds.
fn start_form_sweep(app: &mut App, budget: bool) -> Vec<Effect> {
    let config = match app.setup.to_config(&app.settings.runs_dir) {
        Ok(c) => c,
        Err(why) => {
            app.error(format!("cannot start: {why}"));
            return Vec::new();
        }
    };
    let mut spec = crate::experiment::SweepSpec::default();
    spec.grid.insert("model.from-scratch".into(), vec![false.into(), true.into()]);
    if budget {
        spec.grid.insert("data.train-share".into(), [0.05, 0.1, 0.3, 1.0].map(toml::Value::Float).to_vec());
    }
    form_sweep(app, config, spec, if budget { "label-budget" } else { "pretrained-vs-scratch" })
}

/// Starts `spec` over the form's `config` at the form's seeds (the seed field's, then the
/// next ones): its record is written and its runs queued.
fn form_sweep(
    app: &mut App,
    config: RunConfig,
    mut spec: crate::experiment::SweepSpec,
    what: &str,
) -> Vec<Effect> {
    spec.parallel = 1;
    let Some(seeds) =
        (0..app.setup.seeds as u64).map(|k| config.train.seed.checked_add(k)).collect::<Option<Vec<u64>>>()
    else {
        app.error(format!(
            "cannot start: seed {} leaves no room for {} seeds after it",
            config.train.seed, app.setup.seeds
        ));
        return Vec::new();
    };
    spec.seeds = seeds;
    let name = format!("{}-{what}", config.name.clone().unwrap_or_else(|| "run".into()));
    match crate::experiment::Sweep::new(name, config, spec) {
        Ok(sweep) => {
            app.info(format!(
                "sweep {}: {} runs to queue",
                sweep.id,
                sweep.settings.len() * sweep.seeds.len()
            ));
            vec![Effect::RunSweep(Box::new(sweep))]
        }
        Err(e) => {
            app.error(format!("cannot start: {e}"));
            Vec::new()
        }
    }
}

/// Queues a sweep's runs (those not already queued or training in this session) and shows
/// the first; screen 6 follows the sweep.
fn queue_sweep(app: &mut App, id: &str, runs: Vec<(RunConfig, Option<PathBuf>)>) -> Vec<Effect> {
    let taken = |app: &App, config: &RunConfig| {
        config.sweep.as_ref().is_some_and(|cell| waiting_in_sweep(app, |c| c == cell))
    };
    // Screen 6 shows this sweep once it is listed.
    app.experiments.follow = Some(id.to_owned());
    let mut effects = Vec::new();
    let mut queued = 0;
    let first = app.live.len();
    for (config, resumes) in runs {
        if !taken(app, &config) {
            effects.extend(launch_run(app, config, resumes));
            queued += 1;
        }
    }
    if queued == 0 {
        app.info(format!("sweep {id}: nothing left to run (finished, failed or already queued)"));
        app.screen = Screen::Experiments;
        return vec![Effect::LoadSweeps];
    }
    app.shown_live = first.min(app.live.len() - 1);
    app.experiments.watching.insert(id.to_owned());
    app.info(format!(
        "sweep {id}: {queued} run(s) queued, one at a time; screen 6 shows the table as they finish"
    ));
    effects.push(Effect::LoadSweeps);
    effects
}

/// Keys in the recipe list: ↑↓ choose, Enter loads the recipe into the form (starts a
/// sweep's), Esc closes.
fn recipes_key(app: &mut App, code: KeyCode) -> Vec<Effect> {
    use super::app::Recipe;
    let Some(Overlay::Recipes { entries, cursor }) = app.overlay.as_mut() else { return Vec::new() };
    let n = match entries {
        Asked::Done(Ok(e)) => e.len(),
        _ => 0,
    };
    match code {
        KeyCode::Up | KeyCode::Char('k') => *cursor = cursor.saturating_sub(1),
        KeyCode::Down | KeyCode::Char('j') => *cursor = (*cursor + 1).min(n.saturating_sub(1)),
        KeyCode::Esc | KeyCode::Char('o' | 'q') => app.overlay = None,
        KeyCode::Enter => {
            let Asked::Done(Ok(list)) = entries else { return Vec::new() };
            let Some(entry) = list.get(*cursor).cloned() else { return Vec::new() };
            let name = entry.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            match entry.recipe {
                Ok(Recipe::Run(config)) => {
                    app.overlay = None;
                    app.setup.load_recipe(&config);
                    app.info(format!("{name} loaded: s starts it"));
                    return preview(app);
                }
                Ok(Recipe::Sweep(sweep)) => {
                    app.overlay = None;
                    app.info(format!(
                        "{name}: starting its sweep ({} runs)",
                        sweep.settings.len() * sweep.seeds.len()
                    ));
                    return vec![Effect::RunSweep(sweep)];
                }
                Err(why) => app.error(format!("{name}: {why}")),
            }
        }
        _ => {}
    }
    Vec::new()
}

/// Whether a run of this session that is training or queued is a sweep cell `is`.
fn waiting_in_sweep(app: &App, is: impl Fn(&crate::config::SweepCell) -> bool) -> bool {
    app.live.iter().any(|r| {
        (r.state.is_active() || r.state == LiveState::Queued) && r.config.sweep.as_ref().is_some_and(&is)
    })
}

/// Says so when a sweep started in this session has no run left to go.
fn announce_finished_sweeps(app: &mut App) {
    let live_left = |app: &App, id: &str| waiting_in_sweep(app, |c| c.id == id);
    let watching: Vec<String> = app.experiments.watching.iter().cloned().collect();
    for id in watching {
        let Some(entry) = app.experiments.sweeps.iter().find(|e| e.sweep.id == id) else { continue };
        let open = entry
            .results
            .rows
            .iter()
            .flat_map(|r| &r.runs)
            .any(|r| matches!(r.status.as_str(), "pending" | "running"));
        if open || live_left(app, &id) {
            continue;
        }
        let r = &entry.results;
        let told = r.contrast_lines().into_iter().next().or_else(|| {
            let best = r.rows.iter().find(|row| row.best)?;
            Some(format!("best: {} ({} {:.4})", best.label, r.metric, best.mean?))
        });
        let finished = if r.runs_finished == r.runs_total {
            String::new()
        } else {
            format!(" ({}/{} finished)", r.runs_finished, r.runs_total)
        };
        // What it found first: 80 columns cut the end of the line, and the name is on screen 6.
        let message = match told {
            Some(t) => format!("{t} · {} done{finished}", r.name),
            None => format!("{} done{finished}", r.name),
        };
        app.experiments.watching.remove(&id);
        app.info(message);
    }
}

fn experiments_action(app: &mut App, action: Action) -> Vec<Effect> {
    let x = &mut app.experiments;
    let rows = x.rows().len();
    let sweeps = x.sweeps.len();
    match action {
        Action::Up => x.cursor = x.cursor.saturating_sub(1),
        Action::Down => x.cursor = (x.cursor + 1).min(rows.saturating_sub(1)),
        Action::Left | Action::Right if sweeps > 0 => {
            let step = if action == Action::Left { sweeps - 1 } else { 1 };
            x.selected = (x.selected + step) % sweeps;
            x.cursor = 0;
        }
        Action::CycleSort => {
            x.sort = x.sort.next();
            let sort = x.sort.label();
            app.info(format!("sorted by {sort}"));
        }
        Action::Refresh => return vec![Effect::LoadSweeps],
        Action::Activate => {
            let run = x.rows().get(x.cursor).and_then(|row| {
                row.runs
                    .iter()
                    .find(|r| r.status == "finished")
                    .or_else(|| row.runs.iter().find(|r| r.dir.is_some()))
            });
            match run.and_then(|r| r.dir.clone()) {
                Some(dir) => return vec![Effect::LoadEval(dir)],
                None => app.info("no run of this setting has a record yet"),
            }
        }
        Action::CompareMarked => {
            let dirs: Vec<PathBuf> = x
                .current()
                .map(|e| {
                    e.results
                        .rows
                        .iter()
                        .flat_map(|r| &r.runs)
                        .filter(|r| r.status == "finished")
                        .filter_map(|r| r.dir.clone())
                        .collect()
                })
                .unwrap_or_default();
            if dirs.len() < 2 {
                app.info("fewer than two finished runs in this sweep: nothing to compare yet");
            } else {
                return vec![Effect::LoadCompare(dirs)];
            }
        }
        Action::StartRun => match x.current() {
            Some(entry) => {
                let sweep = entry.sweep.clone();
                return vec![Effect::RunSweep(Box::new(sweep))];
            }
            None => app.info("no sweep yet: `b` or `L` on New run starts one, or `bertbench sweep FILE`"),
        },
        Action::Export => match x.current() {
            Some(entry) => return vec![Effect::ExportSweep(Box::new(entry.results.clone()))],
            None => app.info("no sweep to export"),
        },
        _ => {}
    }
    Vec::new()
}

/// Starts a run (`resumes`: going on with that record), or queues it behind the active one,
/// and shows it.
fn launch_run(app: &mut App, config: RunConfig, resumes: Option<PathBuf>) -> Vec<Effect> {
    let key = app.next_key;
    app.next_key += 1;
    let mut run = LiveRun::new(key, config);
    run.resumes = resumes;
    let busy = app.active_run().map(LiveRun::name);
    let effects = if let Some(ahead) = busy {
        app.queue.push_back(key);
        app.info(format!("queued: starts when {ahead} ends ({} waiting)", app.queue.len()));
        Vec::new()
    } else {
        run.state = LiveState::Preparing;
        app.info(if run.resumes.is_some() {
            "resuming: checking the record and reading its saved state"
        } else {
            "starting: resolving the model and reading the data"
        });
        vec![Effect::StartRun(key, run.start())]
    };
    app.live.push(run);
    app.shown_live = app.live.len() - 1;
    app.screen = Screen::Train;
    effects
}

fn train_action(app: &mut App, action: Action) -> Vec<Effect> {
    let Some(run) = app.shown() else {
        app.info("no run yet: set one up on the New run screen (1)");
        return Vec::new();
    };
    let (key, state, name) = (run.key, run.state, run.name());
    match action {
        Action::Left | Action::Right => {
            let n = app.live.len();
            let step = if action == Action::Left { n - 1 } else { 1 };
            app.shown_live = (app.shown_live + step) % n;
            Vec::new()
        }
        Action::PauseResume => match state {
            LiveState::Training => vec![Effect::Send(key, Command::Pause)],
            LiveState::Paused => vec![Effect::Send(key, Command::Resume)],
            _ => Vec::new(),
        },
        Action::StopRun if state.is_active() || state == LiveState::Queued => {
            app.overlay = Some(Overlay::Confirm(Confirm::StopRun(key)));
            Vec::new()
        }
        Action::SaveCheckpoint if matches!(state, LiveState::Training | LiveState::Paused) => {
            app.info("saving a checkpoint after the current step");
            vec![Effect::Send(key, Command::SaveCheckpoint)]
        }
        Action::StopRun if matches!(state, LiveState::Ended(_)) => {
            app.info(format!("{name} has ended: there is nothing to stop"));
            Vec::new()
        }
        _ => Vec::new(),
    }
}

fn eval_action(app: &mut App, action: Action) -> Vec<Effect> {
    let runs_dir = app.settings.runs_dir.clone();
    let Some(view) = app.eval.as_mut() else { return Vec::new() };
    let k = view.report().map_or(0, |r| r.labels.len());
    let (g, p) = view.cell;
    let last = k.saturating_sub(1);
    let n = view.rows().len();
    let on_predictions = view.focus == EvalFocus::Predictions;
    let explained = view.explanation.as_ref().and_then(ExplainState::ready);
    // What the keys below need of it (the whole explanation is copied only to export it).
    let maps = explained.map(|e| (e.attention.layers.max(1), e.attention.heads.max(1)));
    let next = explained.and_then(next_target);
    match (action, view.pane) {
        // The attention maps: the arrows pick the map shown large; paging does not apply.
        (Action::Up | Action::Down | Action::Left | Action::Right, EvalPane::Attention { .. }) => {
            let Some((layers, heads)) = maps else { return Vec::new() };
            let (layer, head) = view.attention_pick;
            view.attention_pick = match action {
                Action::Up => ((layer + layers - 1) % layers, head),
                Action::Down => ((layer + 1) % layers, head),
                Action::Left => (layer, (head + heads - 1) % heads),
                _ => (layer, (head + 1) % heads),
            };
        }
        (Action::ShowAttention, EvalPane::Detail | EvalPane::Sentence) => {
            let from =
                if view.pane == EvalPane::Sentence { Explaining::Sentence } else { Explaining::Prediction };
            view.pane = EvalPane::Attention { from };
        }
        (Action::ShowAttention | Action::Close, EvalPane::Attention { from }) => {
            view.pane = if from == Explaining::Sentence { EvalPane::Sentence } else { EvalPane::Detail };
        }
        (Action::PageUp | Action::PageDown, EvalPane::Attention { .. }) => {}
        (Action::NextTarget, EvalPane::Detail | EvalPane::Sentence) => {
            match (next, view.explanation.as_ref()) {
                (Some(target), Some(state)) => {
                    let text = state.text.clone();
                    return ask_explanation(view, &runs_dir, text, Some(target));
                }
                (None, Some(_)) if maps.is_some() => {
                    app.info("a regression has one output: there is no other class to explain");
                }
                _ => {}
            }
        }
        (Action::TrySentence, pane) => {
            view.typing = true;
            // The box is drawn over the predictions' half: panes that take the screen close.
            if matches!(pane, EvalPane::Attention { .. } | EvalPane::Representations) {
                view.pane = EvalPane::Predictions;
            }
        }
        (Action::ShowRepresentations, pane) if pane != EvalPane::Representations => {
            view.pane = EvalPane::Representations;
            // Asked once per run; again after a failure, never while on its way.
            if matches!(view.representations, None | Some(Asked::Done(Err(_)))) {
                view.representations = Some(Asked::Pending);
                return vec![Effect::Represent(runs_dir.join(&view.data.run_id))];
            }
        }
        // An open prediction scrolls; another one starts at its top.
        (Action::PageDown, EvalPane::Detail | EvalPane::Sentence) => {
            view.detail_scroll = view.detail_scroll.saturating_add(PAGE as u16);
        }
        (Action::PageUp, EvalPane::Detail | EvalPane::Sentence) => {
            view.detail_scroll = view.detail_scroll.saturating_sub(PAGE as u16);
        }
        (Action::Up, _) if on_predictions => {
            view.selected = view.selected.saturating_sub(1);
            view.detail_scroll = 0;
            return explain_open_prediction(view, &runs_dir);
        }
        (Action::Down, _) if on_predictions => {
            view.selected = (view.selected + 1).min(n.saturating_sub(1));
            view.detail_scroll = 0;
            return explain_open_prediction(view, &runs_dir);
        }
        (Action::Up, _) => view.cell = (g.saturating_sub(1), p),
        (Action::Down, _) => view.cell = ((g + 1).min(last), p),
        (Action::Left, _) => view.cell = (g, p.saturating_sub(1)),
        (Action::Right, _) => view.cell = (g, (p + 1).min(last)),
        (Action::ToggleFocus, _) => {
            view.focus = if on_predictions { EvalFocus::Matrix } else { EvalFocus::Predictions };
            // What the focus moves to is on screen: the list, not a view in its place.
            view.pane = EvalPane::Predictions;
        }
        (Action::Activate, EvalPane::Detail) if on_predictions => view.pane = EvalPane::Predictions,
        (Action::Activate, _) if on_predictions && n > 0 => {
            view.pane = EvalPane::Detail;
            view.detail_scroll = 0;
            return explain_open_prediction(view, &runs_dir);
        }
        (Action::Activate, _) if on_predictions => {}
        (Action::Activate, _) => {
            view.filter = PredictionFilter::Cell(g, p);
            view.reset_selection();
            view.pane = EvalPane::Predictions;
        }
        (Action::Close, _)
        | (Action::ToggleReliability, EvalPane::Reliability)
        | (Action::ShowRepresentations, EvalPane::Representations) => view.pane = EvalPane::Predictions,
        (Action::ToggleReliability, _) => view.pane = EvalPane::Reliability,
        (Action::CycleFilter, _) => {
            view.filter = match view.filter {
                PredictionFilter::Errors => PredictionFilter::All,
                PredictionFilter::All => PredictionFilter::Cell(g, p),
                PredictionFilter::Cell(..) => PredictionFilter::Errors,
            };
            view.reset_selection();
        }
        (Action::CycleSort, _) => {
            view.sort = view.sort.next();
            view.reset_selection();
        }
        (Action::ToggleNormalised, _) => view.normalised = !view.normalised,
        (Action::ToggleSplit, _) => {
            let splits: Vec<&String> = view.data.reports.keys().collect();
            if let Some(i) = splits.iter().position(|s| **s == view.split) {
                view.split = splits[(i + 1) % splits.len()].clone();
                view.reset_selection();
                view.cell = (0, 0);
            }
        }
        (Action::PageDown, _) => {
            // The last page stays full: the window stops where the last row is at its bottom.
            view.scroll = (view.scroll + PAGE).min(n.saturating_sub(PAGE));
            view.selected = (view.selected + PAGE).min(n.saturating_sub(1));
        }
        (Action::PageUp, _) => {
            view.scroll = view.scroll.saturating_sub(PAGE);
            view.selected = view.selected.saturating_sub(PAGE);
        }
        (Action::Export, pane) => {
            let run_id = view.data.run_id.clone();
            let shown = match (pane, explained.cloned()) {
                (EvalPane::Detail | EvalPane::Sentence, Some(e)) => Some(ExplainView::Attributions(e)),
                (EvalPane::Attention { .. }, Some(e)) => {
                    let (layer, head) = view.attention_pick;
                    Some(ExplainView::Attention { explanation: e, layer, head })
                }
                (EvalPane::Representations, _) => match &view.representations {
                    Some(Asked::Done(Ok(r))) => Some(ExplainView::Representations((**r).clone())),
                    _ => None,
                },
                _ => None,
            };
            return vec![match shown {
                Some(view) => Effect::ExportView { run_id, view: Box::new(view) },
                None => Effect::Export(vec![runs_dir.join(run_id)]),
            }];
        }
        _ => {}
    }
    Vec::new()
}

fn runs_action(app: &mut App, action: Action) -> Vec<Effect> {
    let runs = &mut app.runs;
    let n = runs.rows.len();
    match action {
        Action::Up => runs.cursor = runs.cursor.saturating_sub(1),
        Action::Down => runs.cursor = (runs.cursor + 1).min(n.saturating_sub(1)),
        Action::Refresh => return vec![Effect::ListRuns],
        Action::Rename => {
            if let Some(row) = runs.current() {
                runs.renaming = Some((row.dir.clone(), row.label.clone()));
            }
        }
        Action::Activate => {
            if let Some(row) = runs.current() {
                return vec![Effect::LoadEval(row.dir.clone())];
            }
        }
        Action::Mark => {
            if let Some(id) = runs.current().map(|r| r.id.clone()) {
                // The cursor stays: Space, ↓, Space marks two rows next to each other.
                if !runs.marked.remove(&id) {
                    runs.marked.insert(id);
                }
            }
        }
        Action::CompareMarked | Action::Export => {
            let dirs = chosen_dirs(app);
            if dirs.is_empty() {
                app.info("no runs to use: mark runs with Space");
                return Vec::new();
            }
            return vec![if action == Action::Export {
                Effect::Export(dirs)
            } else {
                Effect::LoadCompare(dirs)
            }];
        }
        Action::ResumeRun => {
            let Some(row) = runs.current() else { return Vec::new() };
            let (id, dir, status) = (row.id.clone(), row.dir.clone(), row.status);
            if !matches!(status, RunStatus::Interrupted | RunStatus::Cancelled | RunStatus::Failed) {
                app.info(format!(
                    "{id} is {}: only an interrupted, cancelled or failed run resumes",
                    status.as_str()
                ));
            } else if let Some(config) = row.config.clone() {
                return launch_run(app, config, Some(dir));
            } else {
                app.error(format!("{id}: its config.toml does not read, so it cannot be resumed"));
            }
        }
        Action::Delete => {
            if let Some(row) = runs.current() {
                if row.status == RunStatus::Running {
                    let id = row.id.clone();
                    app.error(format!("{id} is running: stop it before deleting it"));
                } else {
                    app.overlay = Some(Overlay::Confirm(Confirm::DeleteRun {
                        id: row.id.clone(),
                        dir: row.dir.clone(),
                    }));
                }
            }
        }
        _ => {}
    }
    Vec::new()
}

/// The marked runs (oldest first, so curves keep their colours), or the current one.
fn chosen_dirs(app: &App) -> Vec<PathBuf> {
    let runs = &app.runs;
    if runs.marked.is_empty() {
        return runs.current().map(|r| r.dir.clone()).into_iter().collect();
    }
    let mut dirs: Vec<PathBuf> =
        runs.rows.iter().filter(|r| runs.marked.contains(&r.id)).map(|r| r.dir.clone()).collect();
    dirs.reverse();
    dirs
}

fn compare_action(app: &mut App, action: Action) -> Vec<Effect> {
    let c = &mut app.compare;
    match action {
        Action::CycleMetric => {
            c.metric = c.metric.next();
            c.refresh_curves();
        }
        Action::ToggleAlign => {
            c.align = if c.align == Align::Step { Align::Epoch } else { Align::Step };
            c.refresh_curves();
        }
        Action::CycleBaseline if !c.runs.is_empty() => c.baseline = (c.baseline + 1) % c.runs.len(),
        Action::ToggleFocus => {
            c.predictions_page = !c.predictions_page;
            if c.runs.len() < 2 {
                app.info("mark two or more runs to set their predictions side by side");
            }
        }
        Action::Left | Action::Right if c.predictions_page && c.runs.len() > 2 => {
            // Another run against #1: 1, 2, …, n-1, round again.
            let others = c.runs.len() - 1;
            let step = if action == Action::Left { others - 1 } else { 1 };
            c.set_other(1 + (c.other - 1 + step) % others);
        }
        Action::Down if c.predictions_page => {
            let shown = c.disagreements.as_ref().map_or(0, |d| d.rows.len());
            c.disagreement_scroll = (c.disagreement_scroll + 1).min(shown.saturating_sub(1));
        }
        Action::Up if c.predictions_page => c.disagreement_scroll = c.disagreement_scroll.saturating_sub(1),
        Action::Down => c.scroll = (c.scroll + 1).min(c.diff.len().saturating_sub(1)),
        Action::Up => c.scroll = c.scroll.saturating_sub(1),
        Action::Export if !c.runs.is_empty() => {
            let dirs = c.runs.iter().map(|r| app.settings.runs_dir.join(&r.id)).collect();
            return vec![Effect::Export(dirs)];
        }
        _ => {}
    }
    Vec::new()
}

fn confirmed(app: &mut App, confirm: Confirm) -> Vec<Effect> {
    match confirm {
        Confirm::Quit => begin_quit(app, Leaving::Asked),
        Confirm::StopRun(key) => stop(app, key),
        Confirm::DeleteRun { id, dir } => {
            app.runs.marked.remove(&id);
            vec![Effect::Delete(dir), Effect::ListRuns]
        }
    }
}

/// Stops a run: a queued one is dropped, an active one told to stop after its current step.
fn stop(app: &mut App, key: RunKey) -> Vec<Effect> {
    if let Some(i) = app.queue.iter().position(|k| *k == key) {
        app.queue.remove(i);
        if let Some(run) = app.live_run_mut(key) {
            run.state = LiveState::Ended(RunStatus::Cancelled);
        }
        return Vec::new();
    }
    match app.live_run_mut(key) {
        Some(run) if run.state.is_active() => {
            run.state = LiveState::Stopping;
            vec![Effect::Send(key, Command::Stop)]
        }
        _ => Vec::new(),
    }
}

/// The first signal stops runs cleanly and leaves (or lets a quit already under way finish, now
/// as an interruption: a hangup also loses the terminal, which may be noticed first); another
/// one a while later leaves at once. One right after the first is the same event delivered twice.
fn on_signal(app: &mut App, why: &str, at: Instant) -> Vec<Effect> {
    match app.lifecycle {
        Lifecycle::Quitting(Leaving::Signalled(first)) => {
            if at.saturating_duration_since(first) >= SIGNAL_ECHO { exit(app, true) } else { Vec::new() }
        }
        Lifecycle::Quitting(_) => {
            app.lifecycle = Lifecycle::Quitting(Leaving::Signalled(at));
            Vec::new()
        }
        Lifecycle::Working => {
            app.overlay = None;
            app.info(format!("{why}: stopping and quitting"));
            begin_quit(app, Leaving::Signalled(at))
        }
        Lifecycle::Exited { .. } => Vec::new(),
    }
}

/// Ends the workbench now (the event loop reads `App::lifecycle` after this batch of
/// messages); how it ended follows from why it was leaving. `forced`: without waiting for a
/// run to stop (asked a second time), whose record is then found `interrupted`, which is what
/// happened to it.
fn exit(app: &mut App, forced: bool) -> Vec<Effect> {
    app.lifecycle = Lifecycle::Exited { interrupted: forced || app.lifecycle.is_interrupted() };
    Vec::new()
}

/// Quits once every active run has stopped cleanly (their records say cancelled).
fn begin_quit(app: &mut App, why: Leaving) -> Vec<Effect> {
    app.lifecycle = Lifecycle::Quitting(why);
    for key in std::mem::take(&mut app.queue) {
        if let Some(run) = app.live_run_mut(key) {
            run.state = LiveState::Ended(RunStatus::Cancelled);
        }
    }
    let active: Vec<RunKey> = app.live.iter().filter(|r| r.state.is_active()).map(|r| r.key).collect();
    if active.is_empty() {
        return exit(app, false);
    }
    active.into_iter().flat_map(|key| stop(app, key)).collect()
}

fn on_train_event(app: &mut App, key: RunKey, event: TrainEvent) -> Vec<Effect> {
    let shown = app.shown().map(|r| r.key);
    let Some(run) = app.live_run_mut(key) else { return Vec::new() };
    match event {
        TrainEvent::Started(s) => {
            run.results.run_id.clone_from(&s.run_id);
            run.started = Some(s);
            if run.state == LiveState::Preparing {
                run.state = LiveState::Training;
            }
            app.notice = None;
        }
        TrainEvent::Step(s) => {
            run.train_loss.push(s.step as f64, s.loss);
            run.last_step = Some(s);
        }
        TrainEvent::Evaluated(r) => {
            let step = r.step as f64;
            // Final evaluations of the best checkpoint repeat an earlier step: no new point.
            if r.split == "valid" && !run.valid_loss.iter().any(|p| p.0 == step) {
                run.valid_loss.push((step, r.loss));
                for (i, (_, value)) in r.headline().into_iter().take(2).enumerate() {
                    run.valid_scores[i].push((step, value));
                }
            }
            run.results.reports.insert(r.split.clone(), r.clone());
            run.latest_eval = Some(r);
        }
        TrainEvent::Predictions { split, rows } => {
            run.results.predictions.insert(split, rows);
        }
        TrainEvent::CheckpointSaved { step, metric, .. } => {
            if metric.is_finite() {
                run.best_checkpoint = Some((step, metric));
            }
        }
        // A pause or resume that arrives after Stop was sent does not undo the stop.
        TrainEvent::Paused { .. } | TrainEvent::Unpaused { .. } if run.state == LiveState::Stopping => {}
        TrainEvent::Paused { .. } => run.state = LiveState::Paused,
        TrainEvent::Unpaused { .. } => run.state = LiveState::Training,
        TrainEvent::MlmEvaluated(r) => {
            run.mlm_loss.push((r.step as f64, r.loss));
            run.mlm_accuracy.push((r.step as f64, r.accuracy));
            run.latest_mlm = Some(r);
        }
        TrainEvent::MaskProbe { step, probes } => run.probes = Some((step, probes)),
        TrainEvent::StateSaved { .. } => {}
        TrainEvent::RunResumed { step } => {
            // Its history (from `Started` on) came first, replayed from its record.
            if run.state == LiveState::Preparing {
                run.state = LiveState::Training;
            }
            let name = run.name();
            app.info(format!("{name} goes on from its state saved at step {step}"));
        }
        TrainEvent::Finished(summary) => {
            run.state = LiveState::Ended(summary.status);
            if summary.status == RunStatus::Failed {
                run.failure.clone_from(&summary.reason);
            }
            let ended = format!("{} {}", run.name(), summary.status.as_str());
            let failed = summary.status == RunStatus::Failed;
            let results = run.results.clone();
            run.summary = Some(summary);
            // Open its evaluation, unless the user is looking at another one right now.
            let busy = app.screen == Screen::Eval
                && app.eval.as_ref().is_some_and(|e| e.data.run_id != results.run_id);
            if shown == Some(key) && !results.is_empty() && !busy {
                app.eval = Some(EvalView::new(results));
                app.info(format!("{ended}: press 3 for the evaluation"));
            } else if failed {
                app.error(ended);
            } else {
                app.info(ended);
            }
        }
    }
    Vec::new()
}

fn on_trainer_exit(app: &mut App, key: RunKey, error: Option<String>) -> Vec<Effect> {
    if let Some(run) = app.live_run_mut(key)
        && !matches!(run.state, LiveState::Ended(_))
    {
        run.state = LiveState::Ended(RunStatus::Failed);
        run.failure = Some(error.unwrap_or_else(|| "the trainer ended without a result".into()));
        let name = run.name();
        app.error(format!("{name} failed: see the training screen"));
    }
    let mut effects = vec![Effect::ListRuns];
    if app.live_run(key).is_some_and(|r| r.config.sweep.is_some()) {
        effects.push(Effect::LoadSweeps);
    }
    if app.lifecycle.is_quitting() {
        if app.active_run().is_none() {
            effects.extend(exit(app, false));
        }
        return effects;
    }
    if app.active_run().is_none()
        && let Some(next) = app.queue.pop_front()
        && let Some(run) = app.live_run_mut(next)
    {
        run.state = LiveState::Preparing;
        effects.push(Effect::StartRun(next, run.start()));
    }
    effects
}
