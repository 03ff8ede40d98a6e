//! Command-line interface (clap). Flags override the config file, which overrides defaults.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::{HeadKind, Metric, RunConfig};
use crate::error::Result;

#[derive(Debug, Parser)]
#[command(
    name = "bertbench",
    version,
    about = "A workbench for transfer learning in NLP: fine-tune and evaluate BERT encoders",
    long_about = "A workbench for transfer learning in NLP: fine-tune and evaluate BERT encoders.\n\n\
                  Without a command, opens the interactive workbench (a terminal UI). The commands \
                  below run the same engine headless, for scripts and CI."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub workbench: WorkbenchArgs,
}

/// Options of the interactive workbench (no command).
#[derive(Debug, Clone, Args)]
pub struct WorkbenchArgs {
    /// Folder of run records.
    #[arg(long, default_value = "experiments")]
    pub runs_dir: PathBuf,
    /// Folder of shipped datasets (`<name>/train.csv`, `valid.csv`, `CARD.md`).
    #[arg(long, default_value = "datasets")]
    pub datasets_dir: PathBuf,
    /// Where `w` on the New run screen saves recipes.
    #[arg(long, default_value = "experiments/recipes")]
    pub recipes_dir: PathBuf,
    /// Colours: dark and light follow the terminal's background; contrast is for projectors.
    #[arg(long, value_enum, default_value = "dark")]
    pub theme: crate::tui::theme::ThemeKind,
    /// `cpu`, or `cuda:N` when built with the `cuda` feature.
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Fine-tune a model on a dataset and keep a run record.
    Train(Box<TrainArgs>),
    /// Evaluate a saved model (a run, or a fine-tuned model directory) on a dataset file.
    Eval(EvalArgs),
    /// Pretrain with masked-language modelling (and optionally next-sentence prediction):
    /// continue a model's pretraining on your text, or pretrain a scratch: model from zero.
    Pretrain(Box<PretrainArgs>),
    /// Fill in the [MASK]s of sentences with a model's top guesses.
    FillMask(FillMaskArgs),
    /// Predict texts with a finished run's model and explain each prediction: every token's
    /// share by integrated gradients, and the attention rollout.
    Explain(ExplainArgs),
    /// Run a sweep: a recipe's grid of settings at several seeds, then its results table.
    ///
    /// Every setting of the recipe's `[sweep]` grid runs at every seed, one run at a time (or
    /// through the recipe's `command`, e.g. on Slurm); then the table: mean ± sd over seeds,
    /// the best marked, the difference between two settings spelled out. Started again, it
    /// goes on where it stopped: finished runs are kept, a stopped one is resumed.
    Sweep(SweepArgs),
    /// Measure training and inference throughput (examples/s), peak memory and start-up time.
    Bench(BenchArgs),
    /// The shipped datasets with their cards; `datasets show NAME` gives label distribution and
    /// length statistics (tokens per example: they drive the choice of max length).
    Datasets {
        #[command(subcommand)]
        command: Option<DatasetsCommand>,
        #[arg(long, default_value = "datasets", global = true)]
        datasets_dir: PathBuf,
    },
    /// List and inspect run records.
    Runs {
        #[command(subcommand)]
        command: RunsCommand,
    },
    /// Print the shell completion script (bash, zsh, fish, elvish, powershell).
    ///
    /// For example:
    /// `bertbench completions bash > ~/.local/share/bash-completion/completions/bertbench`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write the man pages, one per command, into a folder.
    ///
    /// `bertbench.1`, `bertbench-train.1`, `bertbench-sweep.1`, …; read one with
    /// `man -l man/bertbench-sweep.1`.
    Man {
        #[arg(long, default_value = "man")]
        out: PathBuf,
    },
}

#[derive(Debug, Clone, Args)]
pub struct SweepArgs {
    /// A recipe with a `[sweep]` table (see `experiments/recipes/lesson-*.toml`).
    pub file: PathBuf,
    /// Folder of run records (the recipe's `runs-dir` otherwise).
    #[arg(long)]
    pub runs_dir: Option<PathBuf>,
    /// Print the sweep's state and results without starting any run.
    #[arg(long)]
    pub status: bool,
    /// Also write the summary plot (the score against the varied setting, ± sd over seeds)
    /// into this folder.
    #[arg(long, value_name = "DIR")]
    pub plot: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "png")]
    pub format: crate::plot::Format,
    /// On stdout, a JSON line per run as it ends and the results as JSON at the end (the
    /// progress stays on stderr).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum DatasetsCommand {
    /// Each split's size, label distribution (classes, labels, entity types or value ranges)
    /// and lengths in words and in tokens.
    Show {
        name: String,
        /// Whose tokenizer counts the tokens (default: the embedded model's).
        #[arg(long, default_value = "")]
        model: String,
        /// Print the figures as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// All runs, newest first.
    List {
        #[arg(long, default_value = "experiments")]
        runs_dir: PathBuf,
    },
    /// One run's status, settings and results, for people (`--json` for scripts: the
    /// record's config and summary whole).
    Show {
        run: String,
        #[arg(long)]
        json: bool,
        #[arg(long, default_value = "experiments")]
        runs_dir: PathBuf,
    },
    /// Runs side by side: their figures (the first run is the baseline of the Δ columns) and
    /// the settings in which they differ.
    Compare {
        /// Run ids (or unique prefixes) or run folders; at least two.
        #[arg(required = true, num_args = 2..)]
        runs: Vec<String>,
        /// Print the comparison as JSON.
        #[arg(long)]
        json: bool,
        #[arg(long, default_value = "experiments")]
        runs_dir: PathBuf,
    },
    /// Plot runs for slides: loss and metric curves, confusion matrix; with several runs, also
    /// their curves overlaid.
    Export {
        /// Run ids (or unique prefixes) or run folders.
        #[arg(required = true)]
        runs: Vec<String>,
        #[arg(long, value_enum, default_value = "png")]
        format: crate::plot::Format,
        /// Folder for the plots (created if missing).
        #[arg(long, default_value = "plots")]
        out: PathBuf,
        #[arg(long, default_value = "experiments")]
        runs_dir: PathBuf,
    },
}

macro_rules! apply {
    ($($flag:expr => $field:expr),* $(,)?) => {
        $(if let Some(v) = $flag.clone() { $field = v.into(); })*
    };
}

/// Which columns of a dataset file hold the text and the label (inferred when not given).
#[derive(Debug, Clone, Args)]
pub struct Columns {
    /// The text column (for token classification in JSON Lines: the list of words).
    #[arg(long)]
    pub text_column: Option<String>,
    /// The label column (for token classification in JSON Lines: the list of tags).
    #[arg(long)]
    pub label_column: Option<String>,
    /// A second text column: sentence pairs, encoded `[CLS] a [SEP] b [SEP]`.
    #[arg(long)]
    pub text_pair_column: Option<String>,
    /// Multi-label: what separates the labels of an example (default `|`; JSON lists work too).
    #[arg(long)]
    pub label_separator: Option<String>,
    /// CoNLL/IOB2 files: the column of the word, from 1 (default: the first, after an index).
    #[arg(long)]
    pub token_column: Option<usize>,
    /// CoNLL/IOB2 files: the column of the tag, from 1 (default: the last).
    #[arg(long)]
    pub tag_column: Option<usize>,
}

impl Columns {
    /// Puts the given column choices into a data config.
    pub fn apply_to(&self, d: &mut crate::config::DataConfig) {
        apply! {
            self.text_column => d.text_column,
            self.label_column => d.label_column,
            self.text_pair_column => d.text_pair_column,
            self.label_separator => d.label_separator,
            self.token_column => d.token_column,
            self.tag_column => d.tag_column,
        }
    }
}

/// The flags `train` and `pretrain` share: the model's revision and weights, the optimisation,
/// and where the run goes.
#[derive(Debug, Clone, Args)]
pub struct RunFlags {
    /// Hub revision (branch, tag or commit).
    #[arg(long)]
    pub revision: Option<String>,
    /// Start from random weights (keeps the model's architecture and tokenizer).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL")]
    pub from_scratch: Option<bool>,
    #[arg(long)]
    pub batch_size: Option<usize>,
    #[arg(long)]
    pub eval_batch_size: Option<usize>,
    #[arg(long)]
    pub weight_decay: Option<f64>,
    /// Clip the global gradient norm (0 = off).
    #[arg(long)]
    pub max_grad_norm: Option<f64>,
    /// Micro-batches per optimiser step.
    #[arg(long)]
    pub grad_accum: Option<usize>,
    /// Tokens per example, [CLS] and [SEP] included.
    #[arg(long)]
    pub max_len: Option<usize>,
    /// Peak learning rate.
    #[arg(long)]
    pub lr: Option<f64>,
    #[arg(long)]
    pub warmup_ratio: Option<f64>,
    #[arg(long)]
    pub seed: Option<u64>,
    /// Evaluate every N steps (always at each epoch end).
    #[arg(long)]
    pub eval_every: Option<usize>,
    /// Save the resumable state every N steps (always at each evaluation and when stopped;
    /// default: every 5 minutes).
    #[arg(long, value_name = "N")]
    pub save_every: Option<usize>,
    /// Go on with an interrupted, cancelled or failed run (id, id prefix or folder) from its
    /// saved state, in the same record, with its recorded settings.
    #[arg(long, value_name = "RUN")]
    pub resume: Option<String>,
    /// Early stopping: evaluations without improvement before stopping (for `pretrain`, of
    /// the held-out masked-LM loss).
    #[arg(long)]
    pub patience: Option<usize>,
    /// Run name (part of the run id).
    #[arg(long)]
    pub name: Option<String>,
    /// What lists, legends and titles call the run (default: its name and what sets it
    /// apart, such as "sotu-era scratch").
    #[arg(long)]
    pub label: Option<String>,
    #[arg(long)]
    pub runs_dir: Option<PathBuf>,
    /// cpu, or cuda:N in a build with the `cuda` feature.
    #[arg(long)]
    pub device: Option<String>,
    /// Matrix products in bf16 with f32 sums (mixed precision) or in f32; auto: bf16 where it
    /// is faster than f32 (a CPU with AMX), else f32.
    #[arg(long, value_enum)]
    pub precision: Option<crate::model::precision::Precision>,
    /// Print one JSON event per line on stdout.
    #[arg(long)]
    pub json: bool,
}

impl RunFlags {
    /// Puts the given flags into a run config.
    pub fn apply_to(&self, c: &mut RunConfig) {
        apply! {
            self.revision => c.model.revision,
            self.batch_size => c.train.batch_size,
            self.eval_batch_size => c.train.eval_batch_size,
            self.weight_decay => c.train.weight_decay,
            self.max_grad_norm => c.train.max_grad_norm,
            self.grad_accum => c.train.grad_accum,
            self.max_len => c.train.max_len,
            self.lr => c.train.lr,
            self.warmup_ratio => c.train.warmup_ratio,
            self.seed => c.train.seed,
            self.eval_every => c.train.eval_every,
            self.save_every => c.train.save_every,
            self.patience => c.train.patience,
            self.name => c.name,
            self.label => c.label,
            self.runs_dir => c.runs_dir,
            self.device => c.device,
            self.precision => c.precision,
        }
        apply! { self.from_scratch => c.model.from_scratch }
    }
}

/// The masked-LM flags `train` (its masked-LM stage) and `pretrain` share.
#[derive(Debug, Clone, Args)]
pub struct MlmFlags {
    /// Share of tokens the model must guess, in (0, 0.5]. For `train`, a masked-LM stage
    /// before fine-tuning (domain adaptation); 0 = none.
    #[arg(long)]
    pub mask_ratio: Option<f64>,
    /// Of the masked tokens, the share shown as [MASK] (default 0.8).
    #[arg(long)]
    pub mask_token_share: Option<f64>,
    /// Of the masked tokens, the share replaced by a random token (default 0.1).
    #[arg(long)]
    pub random_token_share: Option<f64>,
    /// Mask all sub-tokens of a word together.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL")]
    pub whole_word: Option<bool>,
    /// Next-sentence prediction (inputs become sentence pairs); pretraining only.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL")]
    pub nsp: Option<bool>,
    /// Text to train the masked LM on: .txt files or folders (blank lines separate documents),
    /// or dataset files (their text column). Repeat for several. For `train`, the default is
    /// the training texts.
    #[arg(long, num_args = 1..)]
    pub corpus: Option<Vec<PathBuf>>,
    /// Vocabulary size of the tokenizer trained for a scratch: model.
    #[arg(long)]
    pub vocab_size: Option<usize>,
    /// Share of the corpus held out for masked-LM loss and accuracy.
    #[arg(long)]
    pub held_out: Option<f64>,
    /// A sentence with [MASK] to fill at each masked-LM evaluation; repeat for several.
    #[arg(long = "probe")]
    pub probes: Option<Vec<String>>,
}

impl MlmFlags {
    /// The flags that shape a fine-tuning run's masked-LM stage mean nothing without one:
    /// refused, naming the flag, rather than ignored.
    fn refuse_without_a_stage(&self, c: &RunConfig) -> Result<()> {
        if c.mlm.mask_ratio > 0.0 {
            return Ok(());
        }
        let given = [
            ("--mask-token-share", self.mask_token_share.is_some()),
            ("--random-token-share", self.random_token_share.is_some()),
            ("--whole-word", self.whole_word.is_some()),
            ("--corpus", self.corpus.is_some()),
            ("--held-out", self.held_out.is_some()),
            ("--probe", self.probes.is_some()),
        ];
        match given.iter().find(|(_, set)| *set) {
            Some((flag, _)) => Err(crate::error::Error::Config(format!(
                "{flag} shapes the masked-LM stage, and there is none: give --mask-ratio above 0 too"
            ))),
            None => Ok(()),
        }
    }

    /// Puts the given flags into a run config.
    pub fn apply_to(&self, c: &mut RunConfig) {
        apply! {
            self.mask_ratio => c.mlm.mask_ratio,
            self.mask_token_share => c.mlm.mask_token_share,
            self.random_token_share => c.mlm.random_token_share,
            self.corpus => c.mlm.corpus,
            self.vocab_size => c.mlm.vocab_size,
            self.held_out => c.mlm.held_out,
            self.probes => c.mlm.probes,
        }
        apply! {
            self.whole_word => c.mlm.whole_word,
            self.nsp => c.mlm.nsp,
        }
    }
}

/// Switches (`--freeze-encoder`) also take a value (`--freeze-encoder=false`), so that a flag can
/// turn off what a config file turns on.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// A run config (TOML); flags given here override it.
    pub config: Option<PathBuf>,
    /// Model: a local directory in Hugging Face layout, or a hub id.
    #[arg(long)]
    pub model: Option<String>,
    /// Training data: .csv, .tsv, .jsonl or .parquet.
    #[arg(long)]
    pub train: Option<PathBuf>,
    #[arg(long)]
    pub valid: Option<PathBuf>,
    #[arg(long)]
    pub test: Option<PathBuf>,
    #[command(flatten)]
    pub columns: Columns,
    /// With only --train: the share split off for validation.
    #[arg(long)]
    pub valid_ratio: Option<f64>,
    /// With only --train: the share split off for testing.
    #[arg(long)]
    pub test_ratio: Option<f64>,
    /// Use only the first N training examples.
    #[arg(long)]
    pub max_train: Option<usize>,
    #[arg(long, value_enum)]
    pub head: Option<HeadKind>,
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Batch examples of similar length together (less padding; faster).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL")]
    pub group_by_length: Option<bool>,
    /// Epochs of the masked-LM stage.
    #[arg(long)]
    pub mlm_epochs: Option<usize>,
    /// Learning rate of the masked-LM stage (default: --lr).
    #[arg(long)]
    pub mlm_lr: Option<f64>,
    /// Validation metric that picks the best checkpoint (auto: the head's own).
    #[arg(long, value_enum)]
    pub metric: Option<Metric>,
    /// Multi-label: the probability at which a label is predicted.
    #[arg(long)]
    pub threshold: Option<f64>,
    /// Multi-label: tune the threshold on validation (best micro-F1).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL")]
    pub tune_threshold: Option<bool>,
    /// Train only the head.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL")]
    pub freeze_encoder: Option<bool>,
    /// Freeze the embeddings and the bottom N layers.
    #[arg(long)]
    pub freeze_layers: Option<usize>,
    #[command(flatten)]
    pub mlm: MlmFlags,
    #[command(flatten)]
    pub run: RunFlags,
}

impl TrainArgs {
    /// The config file (or the defaults) with these flags applied on top.
    pub fn to_config(&self) -> Result<RunConfig> {
        let mut c = match &self.config {
            Some(path) => RunConfig::from_toml_file(path)?,
            None => RunConfig::default(),
        };
        apply! {
            self.model => c.model.source,
            self.train => c.data.train,
            self.valid => c.data.valid,
            self.test => c.data.test,
            self.valid_ratio => c.data.valid_ratio,
            self.threshold => c.train.threshold,
            self.test_ratio => c.data.test_ratio,
            self.max_train => c.data.max_train,
            self.head => c.head,
            self.epochs => c.train.epochs,
            self.metric => c.train.metric,
            self.freeze_layers => c.train.freeze_layers,
            self.mlm_epochs => c.mlm.epochs,
            self.mlm_lr => c.mlm.lr,
        }
        apply! {
            self.freeze_encoder => c.train.freeze_encoder,
            self.group_by_length => c.train.group_by_length,
            self.tune_threshold => c.train.tune_threshold,
        }
        self.columns.apply_to(&mut c.data);
        self.mlm.apply_to(&mut c);
        self.run.apply_to(&mut c);
        self.mlm.refuse_without_a_stage(&c)?;
        Ok(c)
    }
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// A run id, a run folder, or a model directory with a classification head.
    pub model: String,
    /// Labelled data to evaluate on.
    #[arg(long)]
    pub data: PathBuf,
    #[command(flatten)]
    pub columns: Columns,
    #[arg(long, default_value_t = 128)]
    pub max_len: usize,
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    #[arg(long, default_value = "experiments")]
    pub runs_dir: PathBuf,
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// bf16 (f32 sums) or f32 matrix products; auto: bf16 where it is faster here (AMX).
    #[arg(long, value_enum, default_value = "auto")]
    pub precision: crate::model::precision::Precision,
    /// Multi-label: the probability at which a label is predicted (default: the one the run
    /// chose, saved with the model).
    #[arg(long)]
    pub threshold: Option<f64>,
    /// Write predictions.csv and predictions.parquet into this folder.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PretrainArgs {
    /// A run config (TOML); flags given here override it.
    pub config: Option<PathBuf>,
    /// Model to continue pretraining (directory or hub id), or scratch:tiny|mini|small.
    #[arg(long)]
    pub model: Option<String>,
    /// The corpus files' text column (inferred when absent).
    #[arg(long)]
    pub text_column: Option<String>,
    /// Passes over the corpus.
    #[arg(long)]
    pub epochs: Option<usize>,
    #[command(flatten)]
    pub mlm: MlmFlags,
    #[command(flatten)]
    pub run: RunFlags,
}

impl PretrainArgs {
    /// The config file (or pretraining defaults) with these flags applied on top.
    pub fn to_config(&self) -> Result<RunConfig> {
        let mut c = if let Some(path) = &self.config {
            RunConfig::from_toml_file(path)?
        } else {
            let mut c = RunConfig::default();
            c.mlm.mask_ratio = 0.15;
            c.train.lr = 5e-4;
            c
        };
        c.kind = crate::config::RunKind::Pretrain;
        apply! {
            self.model => c.model.source,
            self.text_column => c.mlm.text_column,
            self.epochs => c.mlm.epochs,
        }
        self.mlm.apply_to(&mut c);
        self.run.apply_to(&mut c);
        Ok(c)
    }
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// A finished fine-tuning run (id, id prefix or folder).
    pub run: String,
    /// Texts to predict (a pair as `first [SEP] second`; for tagging, words separated by spaces).
    #[arg(required = true)]
    pub text: Vec<String>,
    /// Points on the integrated-gradients path (more: attributions closer to adding up).
    #[arg(long, default_value_t = crate::explain::predict::DEFAULT_STEPS)]
    pub steps: usize,
    #[arg(long, default_value = "experiments")]
    pub runs_dir: PathBuf,
    /// Also write each text's attributions and attention maps as PNGs into this folder.
    #[arg(long)]
    pub png: Option<PathBuf>,
    /// One JSON object per text (tokens, outputs, attributions, attention maps).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct FillMaskArgs {
    /// A model directory, a pretraining run (id or folder), or a hub id (default: the
    /// embedded model).
    #[arg(long, default_value = "")]
    pub model: String,
    /// Sentences with [MASK].
    #[arg(required = true)]
    pub text: Vec<String>,
    /// Guesses per [MASK].
    #[arg(long, default_value_t = 5)]
    pub top_k: usize,
    #[arg(long, default_value = "experiments")]
    pub runs_dir: PathBuf,
    #[arg(long, default_value = "cpu")]
    pub device: String,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Model directory or hub id.
    #[arg(long)]
    pub model: String,
    /// Labelled data whose texts (and lengths) are used.
    #[arg(long)]
    pub data: PathBuf,
    #[command(flatten)]
    pub columns: Columns,
    #[arg(long, default_value_t = 16)]
    pub batch_size: usize,
    #[arg(long, default_value_t = 64)]
    pub eval_batch_size: usize,
    #[arg(long, default_value_t = 128)]
    pub max_len: usize,
    /// Timed training steps.
    #[arg(long, default_value_t = 20)]
    pub steps: usize,
    /// Untimed steps first (allocator and caches warm up).
    #[arg(long, default_value_t = 2)]
    pub warmup_steps: usize,
    /// Pad every batch to --max-len (to measure what dynamic padding saves).
    #[arg(long)]
    pub pad_to_max: bool,
    #[arg(long, default_value_t = 5e-5)]
    pub lr: f64,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// bf16 (f32 sums) or f32 matrix products; auto: bf16 where it is faster here (AMX).
    #[arg(long, value_enum, default_value = "auto")]
    pub precision: crate::model::precision::Precision,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
}

impl BenchArgs {
    pub fn to_config(&self) -> crate::bench::BenchConfig {
        crate::bench::BenchConfig {
            model: self.model.clone(),
            data: self.data.clone(),
            text_column: self.columns.text_column.clone(),
            label_column: self.columns.label_column.clone(),
            batch_size: self.batch_size,
            eval_batch_size: self.eval_batch_size,
            max_len: self.max_len,
            steps: self.steps,
            warmup_steps: self.warmup_steps,
            pad_to_max: self.pad_to_max,
            lr: self.lr,
            seed: self.seed,
            device: self.device.clone(),
            precision: self.precision,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_the_file_which_overrides_defaults() {
        let dir = tempfile::tempdir().expect("tmp");
        let file = dir.path().join("run.toml");
        let text = "[train]\nepochs = 7\nlr = 0.001\ngroup-by-length = true\nfreeze-encoder = true\n[data]\ntrain = \"a.csv\"\n";
        std::fs::write(&file, text).expect("write");
        let path = file.to_str().expect("utf8");
        let argv = ["bertbench", "train", "--from-scratch", path, "--lr", "0.01", "--group-by-length=false"];
        let Some(Command::Train(args)) = Cli::parse_from(argv).command else { panic!("not train") };
        let c = args.to_config().expect("config");
        assert!(c.model.from_scratch, "a bare switch turns on (and takes no value from the next word)");
        assert!(!c.train.group_by_length, "a switch with a value turns off what the file turned on");
        assert!(c.train.freeze_encoder, "the file's setting stays when no flag is given");
        assert_eq!(c.train.epochs, 7);
        assert!((c.train.lr - 0.01).abs() < 1e-12);
        assert_eq!(c.train.batch_size, 16);
        assert_eq!(c.data.train, PathBuf::from("a.csv"));
    }

    #[test]
    fn every_masked_lm_and_optimisation_key_has_a_flag_on_both_commands() {
        let shared =
            ["--revision", "v2", "--from-scratch", "--eval-batch-size", "7", "--weight-decay", "0.01"];
        let shared = shared.iter().chain(&[
            "--max-grad-norm",
            "0.5",
            "--grad-accum",
            "3",
            "--mask-token-share",
            "0.6",
        ]);
        let mlm = ["--random-token-share", "0.2", "--whole-word", "--held-out", "0.2", "--vocab-size", "500"];
        let flags: Vec<&str> = shared.chain(&mlm).chain(&["--probe", "a [MASK] ."]).copied().collect();
        let check = |c: &RunConfig| {
            assert_eq!(c.model.revision, "v2");
            assert!(c.model.from_scratch && c.mlm.whole_word);
            assert_eq!((c.train.eval_batch_size, c.train.grad_accum, c.mlm.vocab_size), (7, 3, 500));
            assert_eq!((c.train.weight_decay, c.train.max_grad_norm), (0.01, 0.5));
            assert_eq!((c.mlm.mask_token_share, c.mlm.random_token_share, c.mlm.held_out), (0.6, 0.2, 0.2));
            assert_eq!(c.mlm.probes, vec!["a [MASK] .".to_owned()]);
        };
        let train = Cli::parse_from(
            ["bertbench", "train", "--nsp", "--mask-ratio", "0.15"].into_iter().chain(flags.iter().copied()),
        );
        let Some(Command::Train(args)) = train.command else { panic!("not train") };
        let c = args.to_config().expect("config");
        check(&c);
        // A fine-tuning run takes the flag, and its validation refuses it with the reason.
        let mut c = c;
        c.data.train = "a.csv".into();
        assert!(c.validate().expect_err("nsp in fine-tuning").to_string().contains("nsp"));
        let pretrain = Cli::parse_from(["bertbench", "pretrain"].into_iter().chain(flags.iter().copied()));
        let Some(Command::Pretrain(args)) = pretrain.command else { panic!("not pretrain") };
        check(&args.to_config().expect("config"));
    }

    #[test]
    fn masked_lm_stage_flags_without_a_stage_are_refused() {
        let parse = |extra: &[&str]| {
            let argv = ["bertbench", "train", "--train", "a.csv"].into_iter().chain(extra.iter().copied());
            let Some(Command::Train(args)) = Cli::parse_from(argv).command else { panic!("not train") };
            args.to_config()
        };
        let error = parse(&["--corpus", "more.txt"]).expect_err("no stage").to_string();
        assert!(error.contains("--corpus") && error.contains("--mask-ratio"), "{error}");
        assert!(parse(&["--corpus", "more.txt", "--mask-ratio", "0.15"]).is_ok());
        assert!(parse(&["--vocab-size", "500"]).is_ok(), "scratch: models use it without a stage");
    }
}
