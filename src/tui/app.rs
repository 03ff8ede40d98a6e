//! The workbench's state: plain data, no clock, no files, no threads. Time and data arrive as
//! messages (`update.rs`); the views draw `&App` (`view.rs`).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use super::form::SetupForm;
use super::series::Series;
use super::theme::ThemeKind;
use crate::config::{HeadKind, RunConfig};
use crate::eval::entities::{confusion_cells, spans};
use crate::explain::masking::MaskingSample;
use crate::explain::representations::Representations;
use crate::explain::{Explanation, Target};
use crate::report::{EvalReport, MlmReport, Prediction, ProbeResult, RunStatus, RunSummary};
use crate::runs::RunHistory;
pub use crate::runs::compare::{Align, CurveMetric};
use crate::runs::compare::{config_diff, curve};
use crate::train::event::{RunStarted, StepMetrics};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Screen {
    Setup,
    Train,
    Eval,
    Runs,
    Compare,
    Experiments,
}

impl Screen {
    pub const ALL: [Self; 6] =
        [Self::Setup, Self::Train, Self::Eval, Self::Runs, Self::Compare, Self::Experiments];

    pub fn title(self) -> &'static str {
        match self {
            Self::Setup => "New run",
            Self::Train => "Training",
            Self::Eval => "Evaluation",
            Self::Runs => "Runs",
            Self::Compare => "Compare",
            Self::Experiments => "Experiments",
        }
    }

    /// The title where the header is narrow (80 columns).
    pub fn short_title(self) -> &'static str {
        match self {
            Self::Setup => "New",
            Self::Train => "Train",
            Self::Eval => "Eval",
            Self::Runs => "Runs",
            Self::Compare => "Compare",
            Self::Experiments => "Experiments",
        }
    }
}

/// Identifies a run the workbench started, before its run id exists.
pub type RunKey = u64;

/// Identifies a request for a data preview. Previews load on workers and may answer out of
/// order; only the answer to the latest request is shown.
pub type PreviewId = u64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiveState {
    /// Waiting for the run ahead of it (one run trains at a time).
    Queued,
    /// Resolving the model and reading the data.
    Preparing,
    Training,
    Paused,
    /// Stop was sent; the trainer ends after the current step.
    Stopping,
    Ended(RunStatus),
}

impl LiveState {
    pub fn is_active(self) -> bool {
        matches!(self, Self::Preparing | Self::Training | Self::Paused | Self::Stopping)
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Preparing => "preparing",
            Self::Training => "training",
            Self::Paused => "paused",
            Self::Stopping => "stopping",
            Self::Ended(s) => s.as_str(),
        }
    }
}

/// A run started from this workbench, as its events arrive.
#[derive(Debug, Clone)]
pub struct LiveRun {
    pub key: RunKey,
    pub config: RunConfig,
    /// The record it goes on with (`r` on the Runs screen); `None`: a new run.
    pub resumes: Option<PathBuf>,
    pub state: LiveState,
    pub started: Option<RunStarted>,
    pub last_step: Option<StepMetrics>,
    pub train_loss: Series,
    /// One point per validation: (step, value).
    pub valid_loss: Vec<(f64, f64)>,
    /// The head's two headline scores per validation (accuracy and macro-F1, entity F1 and
    /// precision, …: `HeadKind::headline_names` of the run's head).
    pub valid_scores: [Vec<(f64, f64)>; 2],
    pub latest_eval: Option<EvalReport>,
    /// Final evaluations (of the best checkpoint) and their predictions, by split.
    pub results: EvalData,
    pub summary: Option<RunSummary>,
    /// Why the run failed (trainer error or panic), shown on the failure panel.
    pub failure: Option<String>,
    pub best_checkpoint: Option<(usize, f64)>,
    /// Masked-LM evaluations: (step, held-out loss) and (step, accuracy), and the latest.
    pub mlm_loss: Vec<(f64, f64)>,
    pub mlm_accuracy: Vec<(f64, f64)>,
    pub latest_mlm: Option<MlmReport>,
    /// The latest fill-mask guesses for the probe sentences, with their step.
    pub probes: Option<(usize, Vec<ProbeResult>)>,
}

impl LiveRun {
    /// What launching it starts: its config anew, or the record it resumes.
    pub fn start(&self) -> crate::runs::Start {
        match &self.resumes {
            Some(dir) => crate::runs::Start::Resume(dir.clone()),
            None => crate::runs::Start::New(Box::new(self.config.clone())),
        }
    }

    pub fn new(key: RunKey, config: RunConfig) -> Self {
        Self {
            key,
            config,
            resumes: None,
            state: LiveState::Queued,
            started: None,
            last_step: None,
            train_loss: Series::default(),
            valid_loss: Vec::new(),
            valid_scores: [Vec::new(), Vec::new()],
            latest_eval: None,
            results: EvalData::default(),
            summary: None,
            failure: None,
            best_checkpoint: None,
            mlm_loss: Vec::new(),
            mlm_accuracy: Vec::new(),
            latest_mlm: None,
            probes: None,
        }
    }

    pub fn run_id(&self) -> Option<&str> {
        self.started.as_ref().map(|s| s.run_id.as_str())
    }

    /// What the screens call it: its label (a sweep's run), else its run id once it has one.
    pub fn name(&self) -> String {
        if let Some(label) = &self.config.label {
            return label.clone();
        }
        self.run_id().map_or_else(
            || self.config.name.clone().unwrap_or_else(|| format!("run #{}", self.key)),
            str::to_owned,
        )
    }
}

/// Evaluations and predictions of one run, by split (`valid`, `test`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EvalData {
    pub run_id: String,
    pub reports: BTreeMap<String, EvalReport>,
    pub predictions: BTreeMap<String, Vec<Prediction>>,
}

impl EvalData {
    pub fn is_empty(&self) -> bool {
        self.reports.is_empty()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PredictionFilter {
    All,
    Errors,
    /// Gold class, predicted class: one cell of the confusion matrix.
    Cell(usize, usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PredictionSort {
    /// Most confident first: confident mistakes lead the errors view.
    Confidence,
    /// Least confident first: where the model hesitates.
    Uncertain,
    /// As in the data.
    Original,
}

impl PredictionSort {
    pub fn next(self) -> Self {
        match self {
            Self::Confidence => Self::Uncertain,
            Self::Uncertain => Self::Original,
            Self::Original => Self::Confidence,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Confidence => "most confident first",
            Self::Uncertain => "least confident first",
            Self::Original => "data order",
        }
    }
}

/// The evaluation screen: one run's results and how they are being looked at.
#[derive(Debug, Clone)]
pub struct EvalView {
    pub data: EvalData,
    pub split: String,
    pub normalised: bool,
    /// Selected cell of the confusion matrix (gold, predicted).
    pub cell: (usize, usize),
    pub filter: PredictionFilter,
    pub sort: PredictionSort,
    /// First visible row of the predictions table (at most: it follows the selection).
    pub scroll: usize,
    /// What the arrows and Enter work on.
    pub focus: EvalFocus,
    /// The selected prediction, as an index into `rows()`.
    pub selected: usize,
    /// What the right half shows.
    pub pane: EvalPane,
    /// Lines scrolled in the open prediction (a long text on a small terminal).
    pub detail_scroll: u16,
    /// The explanation of the open prediction (or the typed sentence), once asked for.
    pub explanation: Option<ExplainState>,
    /// The attention map shown large: (layer, head).
    pub attention_pick: (usize, usize),
    /// "Try a sentence": the text typed, and whether it is being typed now.
    pub sentence: String,
    pub typing: bool,
    /// The sentence vectors before and after fine-tuning, once asked for (`Pending` while
    /// they are computed).
    pub representations: Option<Asked<Representations>>,
}

/// What the right half of the Evaluation screen shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvalPane {
    /// The predictions table.
    Predictions,
    /// The selected prediction whole, with its explanation.
    Detail,
    /// The typed sentence's prediction and explanation.
    Sentence,
    /// The attention maps of what `Detail` or `Sentence` shows (`from`: which, for Esc).
    Attention { from: Explaining },
    /// The reliability diagram.
    Reliability,
    /// The sentence vectors before and after fine-tuning.
    Representations,
}

/// Work asked of a worker: on its way, or its answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Asked<T> {
    Pending,
    Done(Result<Box<T>, String>),
}

/// Whose explanation is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Explaining {
    Prediction,
    Sentence,
}

/// An explanation asked for, and its answer when it has come.
#[derive(Debug, Clone, PartialEq)]
pub struct ExplainState {
    /// The run whose model explains (two runs on one dataset have the same texts).
    pub run: PathBuf,
    pub text: String,
    /// `None`: the prediction.
    pub target: Option<Target>,
    pub result: Option<Result<Box<Explanation>, String>>,
}

impl ExplainState {
    pub fn ready(&self) -> Option<&Explanation> {
        match &self.result {
            Some(Ok(e)) => Some(e),
            _ => None,
        }
    }
}

/// The part of the Evaluation screen the arrows move in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvalFocus {
    Matrix,
    Predictions,
}

impl EvalView {
    /// Opens on the test split when there is one (the honest number), else validation.
    pub fn new(data: EvalData) -> Self {
        let split = if data.reports.contains_key("test") { "test" } else { "valid" }.to_owned();
        Self {
            data,
            split,
            normalised: false,
            cell: (0, 0),
            filter: PredictionFilter::Errors,
            sort: PredictionSort::Confidence,
            scroll: 0,
            focus: EvalFocus::Matrix,
            selected: 0,
            pane: EvalPane::Predictions,
            detail_scroll: 0,
            explanation: None,
            attention_pick: (0, 0),
            sentence: String::new(),
            typing: false,
            representations: None,
        }
    }

    /// Starts the predictions list over (a new filter, split or sort): an open prediction
    /// (or its attention maps) closes, as it is no longer the selected one.
    pub fn reset_selection(&mut self) {
        (self.scroll, self.selected, self.detail_scroll) = (0, 0, 0);
        if matches!(self.pane, EvalPane::Detail | EvalPane::Attention { from: Explaining::Prediction }) {
            self.pane = EvalPane::Predictions;
        }
    }

    /// The open prediction, when one is open (itself or its attention maps).
    pub fn open_prediction(&self) -> Option<&Prediction> {
        let open =
            matches!(self.pane, EvalPane::Detail | EvalPane::Attention { from: Explaining::Prediction });
        if open { self.rows().get(self.selected).copied() } else { None }
    }

    pub fn report(&self) -> Option<&EvalReport> {
        self.data.reports.get(&self.split)
    }

    /// The predictions the filter and sort select, in display order. What "an error" and "a
    /// cell" mean follows the head: a wrong class, label set or tag; a label decided wrongly
    /// (multi-label); entities of one type found as another (tokens); a residual above the mean
    /// absolute error (regression, sorted by the size of the error).
    pub fn rows(&self) -> Vec<&Prediction> {
        let Some(report) = self.report() else { return Vec::new() };
        let head = report.head();
        let index = |name: &str| report.labels.iter().position(|l| l == name);
        let mae = report.scores.regression.as_ref().map_or(0.0, |r| r.mae);
        let in_cell = |p: &Prediction, g: usize, q: usize| match head {
            HeadKind::SeqCls => index(&p.gold) == Some(g) && index(&p.predicted) == Some(q),
            HeadKind::MultiLabel => {
                let has =
                    |set: &str| set.split('|').any(|l| Some(l) == report.labels.get(g).map(String::as_str));
                has(&p.gold) != has(&p.predicted)
            }
            HeadKind::TokenCls => entity_cell(p, &report.labels, g, q),
            HeadKind::Regression => true,
        };
        let rows: Vec<&Prediction> = self
            .data
            .predictions
            .get(&self.split)
            .map(|p| p.iter())
            .into_iter()
            .flatten()
            .filter(|p| match self.filter {
                PredictionFilter::All => true,
                PredictionFilter::Errors if head == HeadKind::Regression => {
                    p.residual().unwrap_or(0.0).abs() > mae
                }
                PredictionFilter::Errors => p.gold != p.predicted,
                PredictionFilter::Cell(g, q) => in_cell(p, g, q),
            })
            .collect();
        // For regression, "confident" reads as "far off": the biggest errors come first. Keys are
        // worked out once per row (a residual parses two numbers), not at every comparison.
        let key = |p: &Prediction| {
            if head == HeadKind::Regression { p.residual().unwrap_or(0.0).abs() as f32 } else { p.confidence }
        };
        let mut keyed: Vec<(f32, &Prediction)> = rows.into_iter().map(|p| (key(p), p)).collect();
        match self.sort {
            PredictionSort::Confidence => keyed.sort_by(|a, b| b.0.total_cmp(&a.0)),
            PredictionSort::Uncertain => keyed.sort_by(|a, b| a.0.total_cmp(&b.0)),
            PredictionSort::Original => {}
        }
        keyed.into_iter().map(|(_, p)| p).collect()
    }
}

/// Whether a tagged sentence counts in the entity confusion cell (gold type `g`, predicted type
/// `q`; the last label is "no entity").
fn entity_cell(p: &Prediction, labels: &[String], g: usize, q: usize) -> bool {
    let (gold, predicted) = (split_tags(&p.gold), split_tags(&p.predicted));
    let (gs, ps) = (spans(&gold), spans(&predicted));
    let none = labels.len().saturating_sub(1);
    // Label `i` is the type `kind`, or `(none)` for no type.
    let is = |i: usize, kind: Option<&str>| {
        if i == none { kind.is_none() } else { kind == labels.get(i).map(String::as_str) }
    };
    confusion_cells(&gs, &ps).any(|(gold_kind, predicted_kind)| is(g, gold_kind) && is(q, predicted_kind))
}

fn split_tags(tags: &str) -> Vec<&str> {
    tags.split_whitespace().collect()
}

/// The runs screen lists runs as `bertbench runs list` does.
pub use crate::runs::listing::RunRow;

#[derive(Debug, Clone, Default)]
pub struct RunsView {
    pub rows: Vec<RunRow>,
    pub cursor: usize,
    /// Run ids selected for comparison.
    pub marked: BTreeSet<String>,
    /// The run being labelled and the label typed so far.
    pub renaming: Option<(PathBuf, String)>,
}

impl RunsView {
    pub fn current(&self) -> Option<&RunRow> {
        self.rows.get(self.cursor)
    }
}

/// A loaded run record (for the compare screen).
#[derive(Debug, Clone)]
pub struct RecordView {
    pub id: String,
    pub label: String,
    /// The final predictions of its test split (else validation's), and that split's name.
    pub predictions: Vec<Prediction>,
    pub predicted_split: String,
    pub status: RunStatus,
    pub config: Option<RunConfig>,
    pub history: RunHistory,
    pub summary: Option<RunSummary>,
}

#[derive(Debug, Clone)]
pub struct CompareView {
    pub runs: Vec<RecordView>,
    pub metric: CurveMetric,
    pub align: Align,
    /// First visible row of the config diff.
    pub scroll: usize,
    /// Each run's curve of `metric` by `align`, bounded for drawing (computed when the runs or
    /// the choice change, not at every frame).
    pub curves: Vec<Vec<(f64, f64)>>,
    /// Settings that differ between the runs.
    pub diff: Vec<(String, Vec<String>)>,
    /// The runs' labels, told apart where two are equal.
    pub labels: Vec<String>,
    /// The second page: confusion matrices side by side and the examples where run #1 and
    /// run `other` disagree.
    pub predictions_page: bool,
    /// The run set against #1 on the second page (an index from 1).
    pub other: usize,
    /// First visible disagreement.
    pub disagreement_scroll: usize,
    /// Where run #1 and run `other` disagree (computed when either changes, not per frame).
    pub disagreements: Result<crate::runs::compare::Disagreements, String>,
    /// The run the Δ column is measured against.
    pub baseline: usize,
}

impl Default for CompareView {
    fn default() -> Self {
        Self {
            runs: Vec::new(),
            metric: CurveMetric::ValidLoss,
            align: Align::Step,
            scroll: 0,
            curves: Vec::new(),
            diff: Vec::new(),
            labels: Vec::new(),
            predictions_page: false,
            other: 1,
            disagreement_scroll: 0,
            disagreements: Ok(crate::runs::compare::Disagreements::default()),
            baseline: 0,
        }
    }
}

impl CompareView {
    /// Recomputes the curves (after a change of runs, metric or alignment).
    pub fn refresh_curves(&mut self) {
        self.curves = self
            .runs
            .iter()
            .map(|r| {
                let mut series = Series::default();
                for (x, y) in curve(&r.history, self.metric, self.align) {
                    series.push(x, y);
                }
                series.points()
            })
            .collect();
    }

    /// Sets run `other` against #1 and finds where the two disagree.
    pub fn set_other(&mut self, other: usize) {
        self.other = other;
        self.disagreement_scroll = 0;
        self.disagreements = match (self.runs.first(), self.runs.get(other)) {
            (Some(a), Some(b)) => crate::runs::compare::disagreements(&a.predictions, &b.predictions),
            _ => Ok(crate::runs::compare::Disagreements::default()),
        };
    }

    pub fn set_runs(&mut self, runs: Vec<RecordView>) {
        let configs: Vec<Option<&RunConfig>> = runs.iter().map(|r| r.config.as_ref()).collect();
        self.diff = config_diff(&configs);
        let labels: Vec<String> = runs.iter().map(|r| r.label.clone()).collect();
        let ids: Vec<String> = runs.iter().map(|r| r.id.clone()).collect();
        self.labels = crate::runs::label::distinct(&labels, &ids);
        self.runs = runs;
        self.baseline = 0;
        self.set_other(1);
        self.scroll = 0;
        self.refresh_curves();
    }
}

/// One sweep of the runs folder with its results as they stand.
#[derive(Debug, Clone)]
pub struct SweepEntry {
    pub sweep: crate::experiment::Sweep,
    pub results: crate::experiment::Results,
}

/// The order of the Experiments table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SweepSort {
    /// As the grid lists the settings.
    Grid,
    /// Best mean first.
    Score,
    /// Most labelled examples first.
    Examples,
    /// By the settings' names.
    Setting,
}

impl SweepSort {
    pub fn next(self) -> Self {
        match self {
            Self::Grid => Self::Score,
            Self::Score => Self::Examples,
            Self::Examples => Self::Setting,
            Self::Setting => Self::Grid,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Grid => "grid order",
            Self::Score => "score",
            Self::Examples => "examples",
            Self::Setting => "setting",
        }
    }
}

#[derive(Debug, Clone)]
pub struct ExperimentsView {
    pub sweeps: Vec<SweepEntry>,
    /// Sweep records that did not read, with why.
    pub problems: Vec<String>,
    /// The sweep shown.
    pub selected: usize,
    /// The row selected, in the shown order.
    pub cursor: usize,
    pub sort: SweepSort,
    /// Sweeps started in this session whose end is still to be announced.
    pub watching: BTreeSet<String>,
    /// The sweep just started: shown as soon as it is listed.
    pub follow: Option<String>,
}

impl Default for ExperimentsView {
    fn default() -> Self {
        Self {
            sweeps: Vec::new(),
            problems: Vec::new(),
            selected: 0,
            cursor: 0,
            sort: SweepSort::Grid,
            watching: BTreeSet::new(),
            follow: None,
        }
    }
}

impl ExperimentsView {
    pub fn current(&self) -> Option<&SweepEntry> {
        self.sweeps.get(self.selected)
    }

    /// The shown sweep's rows in the chosen order (a row without a score sorts last).
    pub fn rows(&self) -> Vec<&crate::experiment::Row> {
        let Some(entry) = self.current() else { return Vec::new() };
        let mut rows: Vec<&crate::experiment::Row> = entry.results.rows.iter().collect();
        let desc = |a: Option<f64>, b: Option<f64>| {
            b.unwrap_or(f64::NEG_INFINITY).total_cmp(&a.unwrap_or(f64::NEG_INFINITY))
        };
        match self.sort {
            SweepSort::Grid => {}
            SweepSort::Score => rows.sort_by(|a, b| desc(a.mean, b.mean)),
            SweepSort::Examples => rows.sort_by(|a, b| desc(a.train_examples, b.train_examples)),
            SweepSort::Setting => rows.sort_by(|a, b| a.label.cmp(&b.label)),
        }
        rows
    }

    /// Replaces the sweeps, keeping the one shown (by id) where it still exists.
    /// Replaces the sweeps, showing the one just started once it is there, else keeping the
    /// one shown (by id) where it still exists.
    pub fn set(&mut self, sweeps: Vec<SweepEntry>, problems: Vec<String>) {
        let followed = self.follow.as_ref().and_then(|id| sweeps.iter().position(|e| &e.sweep.id == id));
        let shown = self.current().map(|e| e.sweep.id.clone());
        let kept = shown.and_then(|id| sweeps.iter().position(|e| e.sweep.id == id));
        if followed.is_some() {
            self.follow = None;
            self.cursor = 0;
        }
        self.selected = followed.or(kept).unwrap_or(0);
        self.sweeps = sweeps;
        self.problems = problems;
        self.cursor = self.cursor.min(self.rows().len().saturating_sub(1));
    }
}

/// What a confirmation dialog does on "yes".
#[derive(Debug, Clone, PartialEq)]
pub enum Confirm {
    Quit,
    StopRun(RunKey),
    DeleteRun { id: String, dir: PathBuf },
}

impl Confirm {
    pub fn question(&self, app: &App) -> String {
        match self {
            Self::Quit => {
                let active = app.live.iter().filter(|r| r.state.is_active()).count();
                let queued = app.live.iter().filter(|r| r.state == LiveState::Queued).count();
                let mut q = String::new();
                if active > 0 {
                    q.push_str("A run is training: it stops after its current step, recorded as cancelled. ");
                }
                if queued > 0 {
                    let _ = write!(q, "{queued} queued run(s) will not start. ");
                }
                q + "Quit?"
            }
            Self::StopRun(key) => match app.live.iter().find(|r| r.key == *key) {
                Some(run) if run.state == LiveState::Queued => {
                    format!("Drop {} from the queue? It has not started.", run.name())
                }
                Some(run) => {
                    format!(
                        "Stop {}? It is recorded as cancelled; the best checkpoint so far is kept.",
                        run.name()
                    )
                }
                None => "Stop the run?".into(),
            },
            Self::DeleteRun { id, .. } => {
                format!("Delete run {id} and all its files? This cannot be undone.")
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Overlay {
    Help,
    Confirm(Confirm),
    /// The masking inspector: the first masked-LM batch of the form's settings, for request
    /// `id` (only its answer is shown: the settings may have changed since an earlier one).
    Masking {
        id: u64,
        sample: Asked<MaskingSample>,
    },
    /// The recipes of the recipes folder, to load into the form (a sweep's: to start).
    Recipes {
        entries: Asked<Vec<RecipeEntry>>,
        cursor: usize,
    },
}

/// A recipe file as the New run screen offers it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecipeEntry {
    pub path: PathBuf,
    /// Its first comment line: what it is for.
    pub about: String,
    pub recipe: Result<Recipe, String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Recipe {
    Run(Box<RunConfig>),
    Sweep(Box<crate::experiment::Sweep>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeKind {
    Info,
    Error,
}

/// A one-line message in the footer (the result of the last action).
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    pub kind: NoticeKind,
    pub text: String,
}

/// Where the workbench keeps things; fixed for a session.
#[derive(Debug, Clone)]
pub struct Settings {
    pub runs_dir: PathBuf,
    pub recipes_dir: PathBuf,
    pub device: String,
}

/// Where the workbench is in its life. One value, so that no mix of half-states (an exit
/// that is not quitting, a signal without an interruption) can be written down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    /// Screens answer keys.
    Working,
    /// Leaving once every active run has stopped cleanly; only a forced quit is heard now.
    Quitting(Leaving),
    /// The event loop ends. `interrupted` when it was not the user's plain quit (a signal, a
    /// lost terminal, or a quit forced while a run was still stopping): the exit code says so.
    Exited { interrupted: bool },
}

impl Lifecycle {
    pub fn is_quitting(self) -> bool {
        matches!(self, Self::Quitting(_))
    }

    /// Whether the workbench ends (or is ending) without the user's plain quit.
    pub fn is_interrupted(self) -> bool {
        match self {
            Self::Working | Self::Quitting(Leaving::Asked) => false,
            Self::Quitting(Leaving::TerminalLost | Leaving::Signalled(_)) => true,
            Self::Exited { interrupted } => interrupted,
        }
    }
}

/// Why the workbench is leaving.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leaving {
    /// The user confirmed a quit.
    Asked,
    /// Drawing failed: nobody is left to answer.
    TerminalLost,
    /// A signal arrived at this instant. An echo of it right after is the same signal; one a
    /// while later forces the quit.
    Signalled(Instant),
}

pub struct App {
    pub settings: Settings,
    pub screen: Screen,
    pub overlay: Option<Overlay>,
    pub theme: ThemeKind,
    pub setup: SetupForm,
    /// The latest preview asked for (each change of the form's data asks anew).
    pub preview_request: PreviewId,
    /// Runs started in this session, oldest first; at most one is active at a time.
    pub live: Vec<LiveRun>,
    /// The live run the training screen shows.
    pub shown_live: usize,
    pub queue: VecDeque<RunKey>,
    pub next_key: RunKey,
    pub runs: RunsView,
    pub eval: Option<EvalView>,
    pub compare: CompareView,
    pub experiments: ExperimentsView,
    pub notice: Option<Notice>,
    pub lifecycle: Lifecycle,
    /// The latest masking-inspector request.
    pub masking_request: u64,
    /// First visible line of the help overlay or the masking inspector.
    pub overlay_scroll: u16,
}

impl App {
    pub fn new(settings: Settings, theme: ThemeKind) -> Self {
        let mut setup = SetupForm::default();
        setup.draft.device.clone_from(&settings.device);
        Self {
            settings,
            screen: Screen::Setup,
            overlay: None,
            theme,
            setup,
            preview_request: 0,
            live: Vec::new(),
            shown_live: 0,
            queue: VecDeque::new(),
            next_key: 1,
            runs: RunsView::default(),
            eval: None,
            compare: CompareView::default(),
            experiments: ExperimentsView::default(),
            notice: None,
            lifecycle: Lifecycle::Working,
            masking_request: 0,
            overlay_scroll: 0,
        }
    }

    pub fn live_run(&self, key: RunKey) -> Option<&LiveRun> {
        self.live.iter().find(|r| r.key == key)
    }

    pub fn live_run_mut(&mut self, key: RunKey) -> Option<&mut LiveRun> {
        self.live.iter_mut().find(|r| r.key == key)
    }

    pub fn shown(&self) -> Option<&LiveRun> {
        self.live.get(self.shown_live)
    }

    pub fn active_run(&self) -> Option<&LiveRun> {
        self.live.iter().find(|r| r.state.is_active())
    }

    pub fn info(&mut self, text: impl Into<String>) {
        self.notice = Some(Notice { kind: NoticeKind::Info, text: text.into() });
    }

    pub fn error(&mut self, text: impl Into<String>) {
        self.notice = Some(Notice { kind: NoticeKind::Error, text: text.into() });
    }
}
