//! The new-run form: which fields exist, what each accepts, and the `RunConfig` it builds.
//! A value is checked when it is entered, by the rules a run is checked by
//! (`RunConfig::validate`); a bad one is refused in place with the reason and the previous
//! value stays.

use std::path::PathBuf;

use crate::config::{HeadKind, Metric, RunConfig};
use crate::model::precision::Precision;

/// A dataset shipped in `datasets/<name>/`.
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetChoice {
    pub name: String,
    pub train: PathBuf,
    pub valid: Option<PathBuf>,
    pub test: Option<PathBuf>,
    /// The head its card names: chosen with the dataset.
    pub head: HeadKind,
    /// Its recipe (`<recipes>/<name>.toml`), whose training and masked-LM settings come with
    /// the dataset: one epoch at the form's default learning rate tags every word of sotu-ner
    /// O, its recipe's 1e-3 finds the entities.
    pub recipe: Option<Box<RunConfig>>,
}

/// A model the form offers; `unavailable` says why it cannot be picked yet.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelChoice {
    pub label: String,
    pub source: String,
    pub unavailable: Option<String>,
}

/// What the data panel shows about the chosen dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetPreview {
    pub text_column: String,
    pub label_column: String,
    pub rows: usize,
    /// Label and count, most frequent first.
    pub label_counts: Vec<(String, usize)>,
    /// A few (label, text) examples.
    pub examples: Vec<(String, String)>,
    pub mean_words: f64,
    /// The first paragraph of the dataset card, when it has one.
    pub card: Option<String>,
}

/// A task head the form offers.
pub struct HeadChoice {
    pub name: &'static str,
    pub kind: HeadKind,
    /// Sentence pairs: a second text column, `[CLS] a [SEP] b [SEP]`.
    pub pair: bool,
}

/// The task heads of the recipe.
pub const HEADS: &[HeadChoice] = &[
    HeadChoice { name: "classification (softmax)", kind: HeadKind::SeqCls, pair: false },
    HeadChoice { name: "multi-label (sigmoid)", kind: HeadKind::MultiLabel, pair: false },
    HeadChoice { name: "token classification (NER)", kind: HeadKind::TokenCls, pair: false },
    HeadChoice { name: "regression", kind: HeadKind::Regression, pair: false },
    HeadChoice { name: "sentence pair", kind: HeadKind::SeqCls, pair: true },
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Dataset,
    File,
    TextColumn,
    PairColumn,
    LabelColumn,
    Model,
    ModelPath,
    FromScratch,
    Head,
    MaskRatio,
    MlmEpochs,
    Epochs,
    LearningRate,
    BatchSize,
    MaxLen,
    Warmup,
    Seed,
    Seeds,
    FreezeEncoder,
    TuneThreshold,
    FreezeLayers,
    Metric,
    EvalEvery,
    Device,
    Precision,
    Name,
}

/// How a field takes its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    /// Typed in: Enter opens an editor on it.
    Typed,
    /// Picked: ←/→ (and Enter) step through the choices or flip the switch.
    Picked,
}

/// What the form shows and does for a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldSpec {
    pub label: &'static str,
    /// A line explaining the field, shown under the form.
    pub help: &'static str,
    pub entry: Entry,
}

const fn typed(label: &'static str, help: &'static str) -> FieldSpec {
    FieldSpec { label, help, entry: Entry::Typed }
}

const fn picked(label: &'static str, help: &'static str) -> FieldSpec {
    FieldSpec { label, help, entry: Entry::Picked }
}

impl Field {
    /// The field's row in the form's one table: the label, help and kind of entry are written
    /// together, so a new field cannot get one and miss another.
    pub const fn spec(self) -> FieldSpec {
        const COLUMN: &str = "which column holds it (auto: guessed from the names)";
        match self {
            Self::Dataset => picked(
                "dataset",
                "labelled texts: a shipped dataset (with its recipe's settings), or your own CSV/TSV/JSONL/Parquet file",
            ),
            Self::File => typed("  file", "path to your data file; a validation split is carved from it"),
            Self::TextColumn => picked("  text column", COLUMN),
            Self::PairColumn => picked("  second text", "the column with the second text of each pair"),
            Self::LabelColumn => picked("  label column", COLUMN),
            Self::Model => picked(
                "model",
                "the pretrained encoder to start from (scratch: a fresh model, no pretraining)",
            ),
            Self::ModelPath => typed(
                "  directory or hub id",
                "a local model folder (config.json + model.safetensors) or a hub id",
            ),
            Self::FromScratch => picked(
                "  from scratch",
                "keep the architecture, throw the pretrained weights away: the baseline",
            ),
            Self::Head => picked("task head", "what the model predicts on top of the encoder"),
            Self::MaskRatio => typed(
                "masking ratio",
                "share of tokens hidden in a masked-LM stage on the training texts before fine-tuning (0 = none)",
            ),
            Self::MlmEpochs => {
                typed("  masked-LM epochs", "passes of the masked-LM stage over the training texts")
            }
            Self::Epochs => typed("epochs", "passes over the training data"),
            Self::LearningRate => typed(
                "learning rate",
                "step size of AdamW; 2e-5..5e-5 for pretrained encoders, 1e-4..1e-3 from scratch",
            ),
            Self::BatchSize => typed("batch size", "examples per optimiser step"),
            Self::MaxLen => typed("max length", "longer texts are cut to this many tokens"),
            Self::Warmup => {
                typed("warmup ratio", "fraction of steps over which the learning rate ramps up from 0")
            }
            Self::Seed => typed("seed", "same seed, same data order, same curve"),
            Self::Seeds => typed(
                "  seeds per setting",
                "above 1: each run at this many seeds (seed, seed+1, …), shown as mean ± sd on screen 6",
            ),
            Self::FreezeEncoder => {
                picked("freeze encoder", "train only the head: fast, shows how good the features already are")
            }
            Self::TuneThreshold => picked(
                "tune threshold",
                "label sets: pick the probability cut-off with the best micro-F1 on validation (else 0.5)",
            ),
            Self::FreezeLayers => {
                typed("freeze bottom layers", "freeze the embeddings and this many bottom layers (0 = none)")
            }
            Self::Metric => picked("best checkpoint by", "validation metric that picks the checkpoint kept"),
            Self::EvalEvery => {
                typed("evaluate every", "steps between validations (empty: at the end of each epoch)")
            }
            Self::Device => picked(
                "device",
                "where the run computes: cpu, or cuda:N in a build with the cuda feature on a machine with a GPU",
            ),
            Self::Precision => picked(
                "precision",
                "matrix products in bf16 with f32 sums (inputs keep ~3 significant digits) or f32; auto: bf16 where it is faster here (AMX)",
            ),
            Self::Name => typed("run name", "part of the run id (empty: the dataset name)"),
        }
    }
}

/// A text field being edited.
#[derive(Debug, Clone, PartialEq)]
pub struct Editing {
    pub field: Field,
    pub buffer: String,
    /// Nothing typed yet: the first character replaces the value (as in a selected field);
    /// Backspace edits it instead.
    pub fresh: bool,
}

impl Editing {
    /// A typed character.
    pub fn type_char(&mut self, c: char) {
        if std::mem::take(&mut self.fresh) {
            self.buffer.clear();
        }
        self.buffer.push(c);
    }

    pub fn backspace(&mut self) {
        self.fresh = false;
        self.buffer.pop();
    }

    /// Tab in a path field: completes the path as far as it is unambiguous (a folder gets its
    /// `/`). Returns the names it could still be when more than one fits (none: nothing to say).
    pub fn complete_path(&mut self) -> Vec<String> {
        if !matches!(self.field, Field::File | Field::ModelPath) {
            return Vec::new();
        }
        self.fresh = false;
        let (completed, candidates) = complete_path(&self.buffer);
        self.buffer = completed;
        candidates
    }
}

/// The completion of `typed` among the entries of its folder: the longest common start of the
/// names that fit, and those names when more than one does (sorted; hidden files only when
/// asked for with a leading dot).
pub fn complete_path(typed: &str) -> (String, Vec<String>) {
    let (dir, prefix) = match typed.rfind('/') {
        Some(at) => (&typed[..=at], &typed[at + 1..]),
        None => ("", typed),
    };
    let folder = if dir.is_empty() { std::path::Path::new(".") } else { std::path::Path::new(dir) };
    let Ok(entries) = std::fs::read_dir(folder) else { return (typed.to_owned(), Vec::new()) };
    let mut names: Vec<(String, bool)> = entries
        .filter_map(std::result::Result::ok)
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let shown = name.starts_with(prefix) && (prefix.starts_with('.') || !name.starts_with('.'));
            shown.then(|| (name, e.path().is_dir()))
        })
        .collect();
    names.sort();
    match names.as_slice() {
        [] => (typed.to_owned(), Vec::new()),
        [(name, is_dir)] => (format!("{dir}{name}{}", if *is_dir { "/" } else { "" }), Vec::new()),
        many => {
            let first = &many[0].0;
            let common = many.iter().fold(first.len(), |n, (name, _)| {
                first
                    .char_indices()
                    .zip(name.chars())
                    .take_while(|((_, a), b)| a == b)
                    .last()
                    .map_or(0, |((i, a), _)| i + a.len_utf8())
                    .min(n)
            });
            let shown = many.iter().map(|(n, d)| if *d { format!("{n}/") } else { n.clone() }).collect();
            (format!("{dir}{}", &first[..common]), shown)
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SetupForm {
    pub datasets: Vec<DatasetChoice>,
    /// Index into `datasets`; `datasets.len()` means "your own file".
    pub dataset: usize,
    pub file: String,
    /// `None`: guess from the column names.
    pub text_column: Option<String>,
    pub label_column: Option<String>,
    /// Sentence pairs: the second text's column.
    pub pair_column: Option<String>,
    pub preview: Option<Result<DatasetPreview, String>>,
    /// The data file's columns, for the column pickers (known even when the preview failed,
    /// e.g. because no column name could be guessed).
    pub columns: Vec<String>,
    pub models: Vec<ModelChoice>,
    /// Index into `models`; `models.len()` means "typed in".
    pub model: usize,
    pub model_path: String,
    /// Index into `HEADS` (two entries share a kind: sentence pairs); changed only by
    /// `set_head`, which keeps `draft.head` its kind.
    head: usize,
    /// Hyperparameters, model and data paths land here as they are entered.
    pub draft: RunConfig,
    pub cursor: usize,
    pub editing: Option<Editing>,
    /// Whether the learning rate was typed in (then model changes leave it alone).
    pub lr_set_by_user: bool,
    /// The last refused value: which field and why.
    pub error: Option<(Field, String)>,
    /// Seeds each setting runs at (`s` with more than one, `b`, `L`).
    pub seeds: usize,
}

impl Default for SetupForm {
    fn default() -> Self {
        let mut draft = RunConfig::default();
        // Short runs suit a workbench; the engine's defaults follow the HF Trainer.
        draft.train.epochs = 3;
        Self {
            datasets: Vec::new(),
            dataset: 0,
            file: String::new(),
            text_column: None,
            label_column: None,
            pair_column: None,
            preview: None,
            columns: Vec::new(),
            models: Vec::new(),
            model: 0,
            model_path: String::new(),
            head: 0,
            draft,
            cursor: 0,
            editing: None,
            lr_set_by_user: false,
            error: None,
            seeds: 1,
        }
    }
}

/// Whether a change needs the data panel reloaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Changed {
    Nothing,
    Value,
    Data,
}

impl SetupForm {
    /// The fields shown, in order (file and model path only when they apply).
    pub fn fields(&self) -> Vec<Field> {
        use Field as F;
        let mut f = vec![F::Dataset];
        if self.custom_file() {
            f.push(F::File);
        }
        f.push(F::TextColumn);
        if self.head().pair {
            f.push(F::PairColumn);
        }
        f.extend([F::LabelColumn, F::Model]);
        if self.typed_model() {
            f.push(F::ModelPath);
        }
        f.extend([F::FromScratch, F::Head, F::MaskRatio]);
        if self.draft.mlm.mask_ratio > 0.0 {
            f.push(F::MlmEpochs);
        }
        f.extend([
            F::Epochs,
            F::LearningRate,
            F::BatchSize,
            F::MaxLen,
            F::Warmup,
            F::Seed,
            F::Seeds,
            F::FreezeEncoder,
            F::FreezeLayers,
            F::Metric,
        ]);
        if self.draft.head == HeadKind::MultiLabel {
            f.push(F::TuneThreshold);
        }
        f.extend([F::EvalEvery, F::Device, F::Precision, F::Name]);
        f
    }

    pub fn current(&self) -> Field {
        let fields = self.fields();
        fields[self.cursor.min(fields.len() - 1)]
    }

    fn custom_file(&self) -> bool {
        self.dataset >= self.datasets.len()
    }

    fn typed_model(&self) -> bool {
        self.model >= self.models.len()
    }

    /// Fills the form from a recipe: its data (a shipped dataset when it names one's files, else
    /// its file), model, head, name and every training and masked-LM setting. Settings the form
    /// has no field for (weight decay, patience, a corpus) come along too: the run is the
    /// recipe's.
    pub fn load_recipe(&mut self, recipe: &RunConfig) {
        self.error = None;
        self.editing = None;
        let shipped = self.datasets.iter().position(|d| d.train == recipe.data.train);
        self.dataset = shipped.unwrap_or(self.datasets.len());
        if shipped.is_none() {
            self.file = recipe.data.train.display().to_string();
        }
        self.text_column.clone_from(&recipe.data.text_column);
        self.label_column.clone_from(&recipe.data.label_column);
        self.pair_column.clone_from(&recipe.data.text_pair_column);
        let pair = recipe.data.text_pair_column.is_some();
        self.set_head(HEADS.iter().position(|h| h.kind == recipe.head && h.pair == pair).unwrap_or(0));
        if let Some(i) = self.models.iter().position(|m| m.source == recipe.model.source) {
            self.model = i;
        } else {
            self.model = self.models.len();
            self.model_path.clone_from(&recipe.model.source);
        }
        let mut draft = recipe.clone();
        draft.resolved = None;
        draft.sweep = None;
        // Where and how this machine computes stays as chosen: a recipe is about the experiment.
        draft.device = std::mem::take(&mut self.draft.device);
        draft.precision = self.draft.precision;
        self.draft = draft;
        // The recipe's learning rate is the one it was written with.
        self.lr_set_by_user = true;
    }

    /// Sets the shipped datasets; the first becomes the choice.
    pub fn set_datasets(&mut self, datasets: Vec<DatasetChoice>) {
        self.datasets = datasets;
        self.dataset = 0;
        self.follow_dataset_head();
    }

    /// A shipped dataset says which head it is for: that head is chosen with it, and its
    /// recipe's training and masked-LM settings (the rest of the form stays as it is).
    fn follow_dataset_head(&mut self) {
        let Some(d) = self.datasets.get(self.dataset) else { return };
        let recipe = d.recipe.clone();
        self.set_head(HEADS.iter().position(|h| h.kind == d.head && !h.pair).unwrap_or(0));
        if let Some(recipe) = recipe {
            self.draft.train = recipe.train.clone();
            self.draft.mlm = recipe.mlm.clone();
            // Its learning rate is for its model; another model choice suggests its own.
            self.lr_set_by_user = false;
        }
    }

    /// The chosen entry of `HEADS`.
    pub fn head(&self) -> &'static HeadChoice {
        &HEADS[self.head]
    }

    fn set_head(&mut self, at: usize) {
        self.head = at;
        self.draft.head = HEADS[at].kind;
        // Each head has its own metrics; auto follows the head.
        self.draft.train.metric = Metric::Auto;
        // A tuned cut-off suits label sets better than 0.5 (rare labels rarely reach it).
        self.draft.train.tune_threshold = self.draft.head == HeadKind::MultiLabel;
    }

    /// Sets the model choices; the first available one becomes the choice.
    pub fn set_models(&mut self, models: Vec<ModelChoice>) {
        self.model = models.iter().position(|m| m.unavailable.is_none()).unwrap_or(models.len());
        self.models = models;
        self.suggest_lr();
    }

    /// Until the user sets a learning rate, follow the model: a fresh model learns with a
    /// larger step (5e-4) than a pretrained one, which large steps would wreck (5e-5 for
    /// base-sized models, 3e-4 for the tiny embedded one).
    fn suggest_lr(&mut self) {
        if self.lr_set_by_user {
            return;
        }
        let source = self.models.get(self.model).map_or("", |m| m.source.as_str());
        self.draft.train.lr = if source.starts_with(crate::model::scratch::PREFIX) {
            5e-4
        } else if source == crate::model::embedded::SOURCE {
            // A tiny pretrained model takes larger steps than a base-sized one.
            3e-4
        } else {
            5e-5
        };
    }

    /// Why the chosen model cannot be used, if it cannot.
    pub fn model_unavailable(&self) -> Option<&str> {
        self.models.get(self.model).and_then(|m| m.unavailable.as_deref())
    }

    /// The training file the data panel should show, with the chosen columns.
    pub fn data_file(&self) -> Option<PathBuf> {
        match self.datasets.get(self.dataset) {
            Some(d) => Some(d.train.clone()),
            None if !self.file.trim().is_empty() => Some(PathBuf::from(self.file.trim())),
            None => None,
        }
    }

    pub fn move_cursor(&mut self, delta: isize) {
        self.cursor = wrap(self.cursor, delta, self.fields().len());
        self.error = None;
    }

    /// ←/→ on a choice or a switch.
    pub fn cycle(&mut self, delta: isize) -> Changed {
        self.error = None;
        let step = |i: usize, n: usize| wrap(i, delta, n);
        let columns = self.columns.clone();
        // Column choices: auto, then each column of the file.
        let cycle_column = |current: &Option<String>| {
            let at = current.as_ref().and_then(|c| columns.iter().position(|x| x == c)).map_or(0, |i| i + 1);
            let next = step(at, columns.len() + 1);
            (next > 0).then(|| columns[next - 1].clone())
        };
        match self.current() {
            Field::Dataset => {
                self.dataset = step(self.dataset, self.datasets.len() + 1);
                self.text_column = None;
                self.label_column = None;
                self.follow_dataset_head();
                Changed::Data
            }
            Field::TextColumn => {
                self.text_column = cycle_column(&self.text_column);
                Changed::Data
            }
            Field::LabelColumn => {
                self.label_column = cycle_column(&self.label_column);
                Changed::Data
            }
            Field::PairColumn => {
                self.pair_column = cycle_column(&self.pair_column);
                Changed::Data
            }
            Field::Model => {
                self.model = step(self.model, self.models.len() + 1);
                self.suggest_lr();
                Changed::Value
            }
            Field::FromScratch => {
                self.draft.model.from_scratch = !self.draft.model.from_scratch;
                Changed::Value
            }
            Field::FreezeEncoder => {
                self.draft.train.freeze_encoder = !self.draft.train.freeze_encoder;
                Changed::Value
            }
            Field::TuneThreshold => {
                self.draft.train.tune_threshold = !self.draft.train.tune_threshold;
                Changed::Value
            }
            Field::Head => {
                self.set_head(step(self.head, HEADS.len()));
                Changed::Data
            }
            Field::Device => {
                self.draft.device = next_of(crate::train::lifecycle::devices(), &self.draft.device, delta);
                Changed::Value
            }
            Field::Precision => {
                let all = [Precision::Auto, Precision::Bf16, Precision::F32];
                self.draft.precision = next_of(&all, &self.draft.precision, delta);
                Changed::Value
            }
            Field::Metric => {
                let all: Vec<Metric> =
                    std::iter::once(Metric::Auto).chain(self.draft.head.metrics().iter().copied()).collect();
                self.draft.train.metric = next_of(&all, &self.draft.train.metric, delta);
                Changed::Value
            }
            _ => Changed::Nothing,
        }
    }

    /// Enter: opens the editor on a text field, or moves a choice on.
    pub fn activate(&mut self) -> Changed {
        let field = self.current();
        if field.spec().entry == Entry::Typed {
            self.editing = Some(Editing { field, buffer: self.raw_value(field), fresh: true });
            self.error = None;
            Changed::Nothing
        } else {
            self.cycle(1)
        }
    }

    /// Ends editing, keeping the value if it is valid; a bad value is refused with the reason.
    pub fn commit(&mut self) -> Changed {
        let Some(Editing { field, buffer, .. }) = self.editing.take() else { return Changed::Nothing };
        match self.apply(field, buffer.trim()) {
            Ok(changed) => changed,
            Err(reason) => {
                self.error = Some((field, reason));
                Changed::Nothing
            }
        }
    }

    /// Puts a typed value into the draft if the run would accept it.
    fn apply(&mut self, field: Field, text: &str) -> Result<Changed, String> {
        let mut draft = self.draft.clone();
        let t = &mut draft.train;
        match field {
            Field::File => {
                text.clone_into(&mut self.file);
                self.text_column = None;
                self.label_column = None;
                // A word-tagged file can only be for token classification.
                if crate::data::conll::is_column_file(std::path::Path::new(text)) {
                    self.set_head(HEADS.iter().position(|h| h.kind == HeadKind::TokenCls).unwrap_or(0));
                }
                return Ok(Changed::Data);
            }
            Field::ModelPath => {
                text.clone_into(&mut self.model_path);
                return Ok(Changed::Value);
            }
            Field::MaskRatio => draft.mlm.mask_ratio = number(text)?,
            Field::MlmEpochs => draft.mlm.epochs = number(text)?,
            Field::Epochs => t.epochs = number(text)?,
            Field::LearningRate => t.lr = number(text)?,
            Field::BatchSize => t.batch_size = number(text)?,
            Field::MaxLen => t.max_len = number(text)?,
            Field::Warmup => t.warmup_ratio = number(text)?,
            Field::Seed => t.seed = number(text)?,
            Field::Seeds => {
                let n: usize = number(text)?;
                if !(1..=20).contains(&n) {
                    return Err(format!("seeds per setting must be 1 to 20, got {n}"));
                }
                self.seeds = n;
                return Ok(Changed::Value);
            }
            Field::FreezeLayers => t.freeze_layers = number(text)?,
            Field::EvalEvery => t.eval_every = if text.is_empty() { None } else { Some(number(text)?) },
            Field::Name => draft.name = (!text.is_empty()).then(|| text.to_owned()),
            _ => return Ok(Changed::Nothing),
        }
        draft.validate_settings().map_err(|e| e.to_string())?;
        self.draft = draft;
        self.lr_set_by_user |= field == Field::LearningRate;
        Ok(Changed::Value)
    }

    /// The value of a field as shown (and as the editor starts).
    pub fn value(&self, field: Field) -> String {
        let t = &self.draft.train;
        let auto = |c: &Option<String>, guessed: Option<&String>| match (c, guessed) {
            (Some(c), _) => c.clone(),
            (None, Some(g)) => format!("auto ({g})"),
            (None, None) => "auto".into(),
        };
        let preview = match &self.preview {
            Some(Ok(p)) => Some(p),
            _ => None,
        };
        let yes_no = |b: bool| if b { "yes" } else { "no" }.to_owned();
        match field {
            Field::Dataset => {
                self.datasets.get(self.dataset).map_or_else(|| "your own file…".into(), |d| d.name.clone())
            }
            Field::File => self.file.clone(),
            Field::TextColumn => auto(&self.text_column, preview.map(|p| &p.text_column)),
            Field::PairColumn => self.pair_column.clone().unwrap_or_else(|| "choose a column".into()),
            Field::LabelColumn => auto(&self.label_column, preview.map(|p| &p.label_column)),
            Field::Model => self.models.get(self.model).map_or_else(
                || "a directory or hub id…".into(),
                |m| {
                    if m.unavailable.is_some() {
                        format!("{} (unavailable)", m.label)
                    } else {
                        m.label.clone()
                    }
                },
            ),
            Field::ModelPath => self.model_path.clone(),
            Field::FromScratch => yes_no(self.draft.model.from_scratch),
            Field::Head => self.head().name.to_owned(),
            Field::MaskRatio => {
                if self.draft.mlm.mask_ratio == 0.0 {
                    "0 (no masked-LM stage)".into()
                } else {
                    format!("{}", self.draft.mlm.mask_ratio)
                }
            }
            Field::Epochs => t.epochs.to_string(),
            Field::MlmEpochs => self.draft.mlm.epochs.to_string(),
            Field::LearningRate => format!("{:e}", t.lr),
            Field::BatchSize => t.batch_size.to_string(),
            Field::MaxLen => t.max_len.to_string(),
            Field::Warmup => t.warmup_ratio.to_string(),
            Field::Seed => t.seed.to_string(),
            Field::Seeds => self.seeds.to_string(),
            Field::FreezeEncoder => yes_no(t.freeze_encoder),
            Field::TuneThreshold => yes_no(t.tune_threshold),
            Field::FreezeLayers => t.freeze_layers.to_string(),
            Field::Metric if t.metric == Metric::Auto => {
                format!("auto ({})", t.metric.resolve(self.draft.head).as_str())
            }
            Field::Metric => t.metric.as_str().to_owned(),
            Field::EvalEvery => t.eval_every.map_or_else(String::new, |n| n.to_string()),
            Field::Device => self.draft.device.clone(),
            Field::Precision => self.draft.precision.as_str().to_owned(),
            Field::Name => self.draft.name.clone().unwrap_or_default(),
        }
    }

    /// A typed field's value as the editor starts from: the number alone, without the words
    /// `value` adds for reading.
    fn raw_value(&self, field: Field) -> String {
        match field {
            Field::MaskRatio => self.draft.mlm.mask_ratio.to_string(),
            _ => self.value(field),
        }
    }

    /// The run this form describes, or why it cannot start.
    pub fn to_config(&self, runs_dir: &std::path::Path) -> Result<RunConfig, String> {
        let mut c = self.draft.clone();
        c.runs_dir = runs_dir.to_path_buf();
        match self.datasets.get(self.dataset) {
            Some(d) => {
                c.name = c.name.or_else(|| Some(d.name.clone()));
                c.data.train.clone_from(&d.train);
                c.data.valid.clone_from(&d.valid);
                c.data.test.clone_from(&d.test);
            }
            None if self.file.trim().is_empty() => {
                return Err("no data file: enter the path of your file".into());
            }
            None => c.data.train = PathBuf::from(self.file.trim()),
        }
        if let Some(Err(e)) = &self.preview {
            return Err(format!("the dataset cannot be used: {e}"));
        }
        c.data.text_column.clone_from(&self.text_column);
        c.data.label_column.clone_from(&self.label_column);
        let head = self.head();
        c.head = head.kind;
        if head.pair {
            let Some(pair) = &self.pair_column else {
                return Err("sentence pairs: choose the column of the second text".into());
            };
            c.data.text_pair_column = Some(pair.clone());
        }
        c.model.source = match self.models.get(self.model) {
            Some(ModelChoice { unavailable: Some(why), label, .. }) => return Err(format!("{label}: {why}")),
            Some(m) => m.source.clone(),
            None if self.model_path.trim().is_empty() => {
                return Err("no model: enter a model directory or hub id".into());
            }
            None => self.model_path.trim().to_owned(),
        };
        c.validate().map_err(|e| e.to_string())?;
        Ok(c)
    }
}

/// `i` moved by `delta` places around a ring of `n`.
/// The choice `delta` steps from `current` in `all` (from the first when `current` is not one).
fn next_of<T: PartialEq + Clone>(all: &[T], current: &T, delta: isize) -> T {
    let at = all.iter().position(|x| x == current).unwrap_or(0);
    all[wrap(at, delta, all.len())].clone()
}

fn wrap(i: usize, delta: isize, n: usize) -> usize {
    let d = delta.unsigned_abs() % n.max(1);
    if delta >= 0 { (i + d) % n.max(1) } else { (i + n - d) % n.max(1) }
}

/// Checks the draft as a run is checked, and says what the run would say. The data is chosen
/// on the form's own fields and checked when the run starts: a stand-in training file keeps
/// its absence from being blamed on the value just typed.
fn number<T: std::str::FromStr>(text: &str) -> Result<T, String> {
    text.parse().map_err(|_| format!("{text:?} is not a valid number here"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tab_completes_a_path_as_far_as_it_is_unambiguous() {
        let tmp = tempfile::tempdir().expect("tmp");
        for f in ["train.csv", "test.csv", ".hidden"] {
            std::fs::write(tmp.path().join(f), "").expect("file");
        }
        std::fs::create_dir(tmp.path().join("sub")).expect("dir");
        let at = |rest: &str| format!("{}/{rest}", tmp.path().display());
        assert_eq!(complete_path(&at("tr")), (at("train.csv"), Vec::new()));
        assert_eq!(complete_path(&at("s")), (at("sub/"), Vec::new()), "a folder gets its /");
        let (common, fits) = complete_path(&at("t"));
        assert_eq!((common, fits), (at("t"), vec!["test.csv".to_owned(), "train.csv".to_owned()]));
        let (all, fits) = complete_path(&at(""));
        assert_eq!(all, at(""));
        assert_eq!(fits, ["sub/", "test.csv", "train.csv"], "hidden files only when asked for");
        assert_eq!(complete_path(&at(".h")).0, at(".hidden"));
        assert_eq!(complete_path(&at("nothing")), (at("nothing"), Vec::new()));
        // Only the path fields complete.
        let mut e = Editing { field: Field::Epochs, buffer: at("tr"), fresh: true };
        assert!(e.complete_path().is_empty());
        assert_eq!(e.buffer, at("tr"));
        let mut e = Editing { field: Field::File, buffer: at("tr"), fresh: true };
        assert!(e.complete_path().is_empty());
        assert_eq!(e.buffer, at("train.csv"));
    }

    fn form() -> SetupForm {
        let mut f = SetupForm::default();
        f.set_datasets(vec![DatasetChoice {
            name: "toy".into(),
            train: "toy/train.csv".into(),
            valid: Some("toy/valid.csv".into()),
            test: None,
            head: HeadKind::SeqCls,
            recipe: None,
        }]);
        f.set_models(vec![
            ModelChoice {
                label: "embedded".into(),
                source: String::new(),
                unavailable: Some("not shipped".into()),
            },
            ModelChoice { label: "scratch:tiny".into(), source: "scratch:tiny".into(), unavailable: None },
        ]);
        f
    }

    fn edit(f: &mut SetupForm, field: Field, text: &str) -> Changed {
        f.cursor = f.fields().iter().position(|x| *x == field).expect("field shown");
        f.activate();
        f.editing.as_mut().expect("editing").buffer = text.into();
        f.commit()
    }

    #[test]
    fn bad_values_are_refused_in_place_and_the_old_value_stays() {
        let mut f = form();
        assert_eq!(edit(&mut f, Field::Epochs, "0"), Changed::Nothing);
        let (field, why) = f.error.clone().expect("refused");
        assert_eq!(field, Field::Epochs);
        assert!(why.contains("at least 1"), "{why}");
        assert_eq!(f.draft.train.epochs, 3);
        edit(&mut f, Field::LearningRate, "abc");
        assert!(f.error.as_ref().is_some_and(|(_, w)| w.contains("\"abc\"")));
        edit(&mut f, Field::Warmup, "1.0");
        assert!(f.error.as_ref().is_some_and(|(_, w)| w.contains("[0, 1)")));
        assert_eq!(edit(&mut f, Field::LearningRate, "3e-4"), Changed::Value);
        assert!(f.error.is_none());
        assert!((f.draft.train.lr - 3e-4).abs() < 1e-12);
    }

    #[test]
    fn values_are_checked_by_the_config_rules_with_the_config_message() {
        let mut f = form();
        // The config takes any positive finite rate; the form used to refuse anything above 1.
        assert_eq!(edit(&mut f, Field::LearningRate, "2"), Changed::Value);
        assert!(f.error.is_none(), "{:?}", f.error);
        assert!((f.draft.train.lr - 2.0).abs() < 1e-12);
        // A refused value says what `RunConfig::validate` says of it.
        let said = |change: fn(&mut RunConfig)| {
            let mut c = RunConfig::default();
            c.data.train = "train.csv".into();
            change(&mut c);
            c.validate().expect_err("refused").to_string()
        };
        for (field, text, expected) in [
            (Field::LearningRate, "0", said(|c| c.train.lr = 0.0)),
            (Field::MaxLen, "2", said(|c| c.train.max_len = 2)),
            (Field::EvalEvery, "0", said(|c| c.train.eval_every = Some(0))),
            (Field::MaskRatio, "0.6", said(|c| c.mlm.mask_ratio = 0.6)),
        ] {
            assert_eq!(edit(&mut f, field, text), Changed::Nothing, "{field:?} {text}");
            assert_eq!(f.error.as_ref().map(|(_, why)| why), Some(&expected), "{field:?} {text}");
        }
        assert!((f.draft.train.lr - 2.0).abs() < 1e-12, "the accepted rate stays");
        assert_eq!(edit(&mut f, Field::Warmup, "NaN"), Changed::Nothing, "not a finite number");
    }

    #[test]
    fn the_form_builds_a_valid_config_or_says_why_not() {
        let mut f = form();
        assert_eq!(f.model, 1, "the first available model is chosen");
        edit(&mut f, Field::Epochs, "2");
        let c = f.to_config("runs".as_ref()).expect("config");
        assert_eq!(c.model.source, "scratch:tiny");
        assert_eq!(c.data.valid.as_deref(), Some("toy/valid.csv".as_ref()));
        assert_eq!(c.train.epochs, 2);
        f.model = 0;
        assert!(f.to_config("runs".as_ref()).expect_err("unavailable").contains("not shipped"));
        f.model = 1;
        f.cursor = f.fields().iter().position(|x| *x == Field::Head).expect("head field");
        for _ in 0..4 {
            f.cycle(1);
        }
        assert!(f.head().pair && f.fields().contains(&Field::PairColumn));
        assert!(f.to_config("runs".as_ref()).expect_err("pair").contains("second text"));
        f.pair_column = Some("text_pair".into());
        let c = f.to_config("runs".as_ref()).expect("pairs");
        assert_eq!(c.data.text_pair_column.as_deref(), Some("text_pair"));
        f.set_head(3);
        assert_eq!(f.value(Field::Metric), "auto (pearson)");
        assert_eq!(f.to_config("runs".as_ref()).expect("regression").head, HeadKind::Regression);
        f.set_head(0);
        edit(&mut f, Field::MaskRatio, "0.15");
        assert!(f.fields().contains(&Field::MlmEpochs), "the stage's epochs appear with a ratio");
        edit(&mut f, Field::MlmEpochs, "2");
        let c = f.to_config("runs".as_ref()).expect("a masked-LM stage");
        assert!((c.mlm.mask_ratio - 0.15).abs() < 1e-12 && c.mlm.epochs == 2);
        edit(&mut f, Field::MaskRatio, "0.9");
        assert!(f.error.is_some(), "a ratio above 0.5 is refused");
    }

    #[test]
    fn the_learning_rate_follows_the_model_until_it_is_typed_in() {
        let mut f = form();
        assert!((f.draft.train.lr - 5e-4).abs() < 1e-12, "scratch:tiny is chosen: a fresh model's rate");
        f.cursor = f.fields().iter().position(|x| *x == Field::Model).expect("model field");
        f.cycle(1);
        assert!((f.draft.train.lr - 5e-5).abs() < 1e-12, "a typed-in model may be pretrained");
        edit(&mut f, Field::LearningRate, "1e-4");
        f.cursor = f.fields().iter().position(|x| *x == Field::Model).expect("model field");
        f.cycle(-1);
        assert!((f.draft.train.lr - 1e-4).abs() < 1e-12, "the user's rate stays");
    }

    #[test]
    fn device_and_precision_step_through_their_choices_and_survive_a_recipe() {
        let mut f = form();
        f.cursor = f.fields().iter().position(|x| *x == Field::Precision).expect("precision field");
        assert_eq!(f.value(Field::Precision), "auto");
        assert_eq!(f.cycle(1), Changed::Value);
        assert_eq!(f.draft.precision, Precision::Bf16);
        f.cycle(1);
        assert_eq!(f.draft.precision, Precision::F32);
        f.cycle(1);
        assert_eq!(f.draft.precision, Precision::Auto, "the choices wrap around");
        f.cycle(-1);
        assert_eq!(f.to_config("r".as_ref()).expect("config").precision, Precision::F32);
        f.cursor = f.fields().iter().position(|x| *x == Field::Device).expect("device field");
        f.cycle(1);
        assert_eq!(
            f.draft.device,
            crate::train::lifecycle::devices()[1 % crate::train::lifecycle::devices().len()]
        );
        f.draft.device = "cuda:1".into();
        let recipe = RunConfig { device: "cpu".into(), precision: Precision::Bf16, ..f.draft.clone() };
        f.load_recipe(&recipe);
        assert_eq!(
            (f.draft.device.as_str(), f.draft.precision),
            ("cuda:1", Precision::F32),
            "the machine's own"
        );
    }

    #[test]
    fn own_file_and_typed_model_fields_appear_when_chosen() {
        let mut f = form();
        assert!(!f.fields().contains(&Field::File));
        f.cursor = 0;
        assert_eq!(f.cycle(1), Changed::Data);
        assert!(f.fields().contains(&Field::File));
        assert_eq!(f.data_file(), None, "no path typed yet");
        assert!(f.to_config("r".as_ref()).expect_err("no file").contains("no data file"));
        edit(&mut f, Field::File, "ner/train.iob2");
        assert_eq!(f.draft.head, HeadKind::TokenCls, "a tagged file selects token classification");
        f.model = f.models.len();
        assert!(f.fields().contains(&Field::ModelPath));
    }
}
