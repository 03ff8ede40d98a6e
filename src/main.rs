//! `bertbench`: parse the command line and dispatch. The logic lives in the library.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use bertbench::cli::{
    BenchArgs, Cli, Command, DatasetsCommand, EvalArgs, ExplainArgs, FillMaskArgs, RunFlags, RunsCommand,
    SweepArgs, WorkbenchArgs,
};
use bertbench::config::DataConfig;
use bertbench::config::{RunConfig, RunKind};
use bertbench::data::batch::Batcher;
use bertbench::data::{Encoded, Encoding, LabelSet, read_split};
use bertbench::eval::evaluate;
use bertbench::eval::multilabel::Threshold;
use bertbench::experiment::Sweep;
use bertbench::headless::{ConsoleSink, describe_eval};
use bertbench::model::checkpoint::Classifier;
use bertbench::model::pretraining::MaskedLm;
use bertbench::report::RunStatus;
use bertbench::runs::store::find_run;
use bertbench::runs::writer::{write_predictions, write_status};
use bertbench::runs::{Launched, Start, launch};
use bertbench::say;
use bertbench::train::{Command as TrainCommand, device_from};
use bertbench::tui::{Ending, TuiError};
use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches};

fn main() -> ExitCode {
    bertbench::sys::keep_freed_memory();
    bertbench::sys::brief_candle_spinning();
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let given = matches.subcommand().map(|(_, m)| m);
    let result = match cli.command {
        Some(Command::Train(args)) => start_of(&args.run, RunKind::FineTune, given, || args.to_config())
            .and_then(|s| headless(s, args.run.json)),
        Some(Command::Pretrain(args)) => start_of(&args.run, RunKind::Pretrain, given, || args.to_config())
            .and_then(|s| headless(s, args.run.json)),
        Some(Command::FillMask(args)) => fill_mask(&args).map(|()| ExitCode::SUCCESS),
        Some(Command::Explain(args)) => explain(&args).map(|()| ExitCode::SUCCESS),
        Some(Command::Eval(args)) => eval(&args).map(|()| ExitCode::SUCCESS),
        Some(Command::Sweep(args)) => sweep(&args),
        Some(Command::Bench(args)) => bench(&args).map(|()| ExitCode::SUCCESS),
        Some(Command::Runs { command }) => runs(&command).map(|()| ExitCode::SUCCESS),
        Some(Command::Datasets { command, datasets_dir }) => {
            datasets(command.as_ref(), &datasets_dir).map(|()| ExitCode::SUCCESS)
        }
        Some(Command::Completions { shell }) => {
            clap_complete::generate(shell, &mut Cli::command(), "bertbench", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Man { out }) => man_pages(&out).map(|()| ExitCode::SUCCESS),
        None => workbench(&cli.workbench),
    };
    result.unwrap_or_else(|e| {
        say!("error: {e:#}");
        ExitCode::FAILURE
    })
}

/// The man pages of the command and of each subcommand, into `out`.
fn man_pages(out: &std::path::Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    clap_mangen::generate_to(Cli::command(), out)
        .with_context(|| format!("cannot write into {}", out.display()))?;
    let mut pages: Vec<PathBuf> = std::fs::read_dir(out)?.filter_map(|e| Some(e.ok()?.path())).collect();
    pages.sort();
    for page in pages.iter().filter(|p| p.extension().is_some_and(|e| e == "1")) {
        println!("{}", page.display());
    }
    Ok(())
}

fn workbench(args: &WorkbenchArgs) -> anyhow::Result<ExitCode> {
    let options = bertbench::tui::Options {
        runs_dir: args.runs_dir.clone(),
        recipes_dir: args.recipes_dir.clone(),
        datasets_dir: args.datasets_dir.clone(),
        device: args.device.clone(),
        theme: args.theme,
    };
    match bertbench::tui::run(options) {
        Ok(Ending::Quit) => Ok(ExitCode::SUCCESS),
        Ok(Ending::Interrupted) => Ok(ExitCode::from(130)),
        Err(e @ TuiError::NotATerminal) => {
            say!("{e}\n");
            let _ = Cli::command().print_help();
            Ok(ExitCode::from(2))
        }
        Err(e) => Err(e.into()),
    }
}

/// What `train` / `pretrain` start: a new run of the flags' config, or (`--resume RUN`) the
/// recorded run, whose settings no other flag may change (`given`: the flags on the command
/// line).
fn start_of(
    flags: &RunFlags,
    kind: RunKind,
    given: Option<&ArgMatches>,
    config: impl FnOnce() -> bertbench::error::Result<RunConfig>,
) -> anyhow::Result<Start> {
    let Some(run) = &flags.resume else { return Ok(Start::New(Box::new(config()?))) };
    let command = if kind == RunKind::Pretrain { "pretrain" } else { "train" };
    if let Some(given) = given {
        let cli = Cli::command();
        let args = cli.find_subcommand(command).map(|c| c.get_arguments().cloned().collect::<Vec<_>>());
        for arg in args.unwrap_or_default() {
            let id = arg.get_id().as_str();
            let allowed = matches!(id, "resume" | "runs_dir" | "json");
            if !allowed && given.value_source(id) == Some(ValueSource::CommandLine) {
                let name = arg.get_long().map_or_else(|| id.to_uppercase(), |l| format!("--{l}"));
                anyhow::bail!("--resume goes on with the run's recorded settings: {name} cannot change them");
            }
        }
    }
    let runs_dir = flags.runs_dir.clone().unwrap_or_else(|| RunConfig::default().runs_dir);
    let info = find_run(&runs_dir, run)?;
    let recorded = info.config.as_ref().map(|c| c.kind);
    if recorded.is_some_and(|k| k != kind) {
        let other = if kind == RunKind::Pretrain { "train" } else { "pretrain" };
        anyhow::bail!(
            "{} is a {} run: resume it with `bertbench {other} --resume`",
            info.id,
            if other == "train" { "fine-tuning" } else { "pretraining" }
        );
    }
    Ok(Start::Resume(info.dir))
}

/// What Ctrl-C (or SIGTERM, or the SIGHUP of a dropped SSH session) stops: the run training on
/// this thread, once its record exists. One handler serves the process (a sweep's runs too).
#[derive(Default)]
struct Interrupts {
    commands: Mutex<Option<mpsc::Sender<TrainCommand>>>,
    /// The record of the run being trained, once it is created.
    dir: Mutex<Option<PathBuf>>,
    presses: AtomicUsize,
}

impl Interrupts {
    fn install() -> anyhow::Result<Arc<Self>> {
        let this = Arc::new(Self::default());
        let handler = Arc::clone(&this);
        ctrlc::set_handler(move || handler.pressed()).context("cannot install the Ctrl-C handler")?;
        Ok(this)
    }

    fn pressed(&self) {
        let dir = self.dir.lock().ok().and_then(|d| d.clone());
        let Some(dir) = dir else {
            // Resolving the model or reading the data, or between a sweep's runs: nothing to
            // stop cleanly, no record half made.
            say!("stopped before a run started");
            std::process::exit(130);
        };
        if self.presses.fetch_add(1, Ordering::SeqCst) == 0 {
            // The first press stops cleanly after the current step, with the state saved. After
            // a SIGHUP the terminal is gone: the stop is sent first, and the message may go
            // nowhere.
            if let Some(commands) = self.commands.lock().ok().and_then(|c| c.clone()) {
                let _ = commands.send(TrainCommand::Stop);
            }
            say!("stopping after the current step, saving its state (Ctrl-C again to quit at once)");
        } else {
            let _ = write_status(
                &dir,
                RunStatus::Cancelled,
                Some("quit by a second Ctrl-C before the run ended"),
            );
            std::process::exit(130);
        }
    }

    /// Launches `start` on this thread with the console (`json`: JSON lines) as its sink,
    /// stoppable by Ctrl-C.
    fn launch(&self, start: Start, json: bool) -> bertbench::error::Result<Launched> {
        // A press that came as the previous run ended anyway is not the first of this one.
        self.presses.store(0, Ordering::SeqCst);
        let (commands, inbox) = mpsc::channel();
        if let Ok(mut slot) = self.commands.lock() {
            *slot = Some(commands);
        }
        let mut console = ConsoleSink::new(json);
        let launched = launch(start, &mut console, &inbox, |dir| {
            if let Ok(mut slot) = self.dir.lock() {
                *slot = Some(dir.to_path_buf());
            }
        });
        if let Ok(mut slot) = self.dir.lock() {
            *slot = None;
        }
        launched
    }
}

/// Launches `start` on this thread with the console as its sink; Ctrl-C stops it cleanly, its
/// state saved for `--resume`.
fn headless(start: Start, json: bool) -> anyhow::Result<ExitCode> {
    let Launched { dir, summary } = Interrupts::install()?.launch(start, json)?;
    say!("run record: {}", dir.display());
    Ok(match summary.status {
        RunStatus::Finished => ExitCode::SUCCESS,
        RunStatus::Cancelled => {
            say!("go on with it: bertbench {} --resume {}", command_of(&dir), dir.display());
            ExitCode::from(130)
        }
        _ => {
            say!("error: {}", summary.reason.as_deref().unwrap_or("the run failed"));
            ExitCode::FAILURE
        }
    })
}

/// `bertbench sweep`: the sweep's runs that still need running, then its results.
fn sweep(args: &SweepArgs) -> anyhow::Result<ExitCode> {
    use bertbench::experiment::drive::{Pass, Progress, drive, drive_commands};
    use bertbench::experiment::results::refresh;
    let sweep = Sweep::from_file(&args.file, args.runs_dir.as_deref())?;
    if !args.status {
        sweep.save()?;
    }
    let total = sweep.runs()?.len();
    say!(
        "sweep {}: {} setting(s) x {} seed(s) = {total} runs; record {}",
        sweep.id,
        sweep.settings.len(),
        sweep.seeds.len(),
        sweep.dir().display()
    );
    let mut pass = Pass::Complete;
    if !args.status {
        let json = args.json;
        let report = |p: Progress<'_>| match p {
            Progress::Starting { n, total, run, resume } => {
                let verb = if resume { "resuming" } else { "starting" };
                say!("\n[{n}/{total}] {verb} {}", run.config.label.as_deref().unwrap_or(""));
            }
            Progress::Skipped { n, run, why } => {
                say!("[{n}/{total}] {}: {why}", run.config.label.as_deref().unwrap_or(""));
            }
            Progress::Ended { n, run, dir, status } => {
                let info = dir.map(bertbench::runs::store::load_run);
                let summary = info.as_ref().and_then(|i| i.summary.as_ref());
                let figure = summary.and_then(bertbench::runs::listing::Figure::of);
                let said = match (&figure, &info) {
                    (Some(f), _) => format!(": {f}"),
                    (None, None) => ": its command left no run record".to_owned(),
                    (None, Some(i)) => i.reason.as_ref().map(|r| format!(": {r}")).unwrap_or_default(),
                };
                say!("[{n}/{total}] {} {}{said}", run.config.label.as_deref().unwrap_or(""), status.as_str());
                if json {
                    let line = serde_json::json!({
                        "sweep": sweep.id, "setting": run.setting, "seed": run.seed,
                        "label": run.config.label, "run": info.as_ref().map(|i| &i.id),
                        "status": status.as_str(), "score": figure.map(|f| f.value),
                    });
                    println!("{line}");
                }
            }
        };
        pass = if let Some(template) = &sweep.spec.command {
            drive_commands(&sweep, template, sweep.spec.parallel, report)?
        } else {
            let interrupts = Interrupts::install()?;
            drive(&sweep, |start| interrupts.launch(start, false), report)?
        };
    }
    let results = refresh(&sweep)?;
    if args.json {
        println!("{}", serde_json::to_string(&results)?);
    } else {
        println!(
            "\n{} ({}/{} runs finished, seeds {:?})",
            results.name, results.runs_finished, results.runs_total, results.seeds
        );
        print!("{}", results.table());
    }
    if let Some(dir) = &args.plot {
        match bertbench::plot::sweep::export_sweep(&results, args.format, dir) {
            Ok(path) => say!("summary plot: {}", path.display()),
            Err(e) => say!("no summary plot: {e}"),
        }
    }
    if pass == Pass::Stopped {
        say!("the sweep stopped; go on with it: bertbench sweep {}", args.file.display());
        return Ok(ExitCode::from(130));
    }
    let failed: Vec<String> = results
        .rows
        .iter()
        .flat_map(|r| {
            r.runs
                .iter()
                .filter(|x| x.status == "failed")
                .map(move |x| format!("{} · seed {}", r.label, x.seed))
        })
        .collect();
    if !failed.is_empty() {
        say!(
            "{} run(s) failed: {} (their reasons are above and in their records)",
            failed.len(),
            failed.join(", ")
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// `train` or `pretrain`: the command that resumes the run recorded in `dir`.
fn command_of(dir: &std::path::Path) -> &'static str {
    let info = bertbench::runs::store::load_run(dir);
    if info.config.is_some_and(|c| c.kind == RunKind::Pretrain) { "pretrain" } else { "train" }
}

fn eval(args: &EvalArgs) -> anyhow::Result<()> {
    let given = PathBuf::from(&args.model);
    let dir = if given.join("config.json").is_file() {
        given
    } else {
        find_run(&args.runs_dir, &args.model)?.dir.join("model")
    };
    let device = device_from(&args.device)?;
    let _precision = bertbench::model::precision::scoped(args.precision.on(&device)?);
    let clf = Classifier::load_fine_tuned(&dir, &device)?;
    let mut data = DataConfig::default();
    args.columns.apply_to(&mut data);
    let head = clf.model.head;
    let examples = read_split(&args.data, &data, head)?;
    let labels = LabelSet::from_names(clf.labels.clone());
    let how = Encoding {
        tokenizer: &clf.tokenizer,
        labels: &labels,
        head,
        separator: &data.label_separator,
        max_len: args.max_len,
    };
    let set = Encoded::new(examples, &how)?;
    let batcher = Batcher::new(clf.tokenizer.pad_id, &device);
    // The threshold the run decided with (saved with the model), unless one is given.
    let threshold = args.threshold.unwrap_or(clf.threshold);
    bertbench::config::check_threshold(threshold)?;
    let (report, rows) = evaluate(&clf, "eval", &set, args.batch_size, &batcher, Threshold::At(threshold))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{}", describe_eval(&report));
        for c in &report.scores.per_class {
            println!(
                "  {:<20} precision {:.4}  recall {:.4}  F1 {:.4}  support {}",
                c.label, c.precision, c.recall, c.f1, c.support
            );
        }
    }
    if let Some(out) = &args.out {
        std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
        write_predictions(out, &BTreeMap::from([("eval".to_owned(), rows)]), &clf.labels, head)?;
    }
    Ok(())
}

fn datasets(command: Option<&DatasetsCommand>, root: &std::path::Path) -> anyhow::Result<()> {
    use bertbench::datasets::{find, shipped, split_stats};
    let Some(DatasetsCommand::Show { name, model, json }) = command else {
        let all = shipped(root);
        if all.is_empty() {
            anyhow::bail!("no datasets in {} (folders with a train file)", root.display());
        }
        for d in all {
            let splits: Vec<&str> = [Some(&d.train), d.valid.as_ref(), d.test.as_ref()]
                .into_iter()
                .flatten()
                .filter_map(|p| p.file_name()?.to_str())
                .collect();
            println!("{}  (--head {}; {})", d.name, d.head.as_str(), splits.join(", "));
            if let Some(summary) = &d.summary {
                println!(
                    "{}
",
                    textwrap_indent(summary, 96)
                );
            }
        }
        println!(
            "`bertbench datasets show NAME` for label counts and lengths; cards in {}/NAME/CARD.md",
            root.display()
        );
        return Ok(());
    };
    let dataset = find(root, name)?;
    let dir = bertbench::model::source::resolve(model, "main")?.dir;
    let tokenizer = bertbench::data::tokenize::TextEncoder::from_model_dir(&dir)?;
    let stats = split_stats(&dataset, Some(&tokenizer))?;
    if *json {
        println!("{}", serde_json::to_string_pretty(&stats)?);
        return Ok(());
    }
    println!("{} (--head {})", dataset.name, dataset.head.as_str());
    for s in &stats {
        println!("\n{}: {} examples ({})", s.split, s.examples, s.file.display());
        let most = s.labels.iter().map(|l| l.1).max().unwrap_or(1).max(1);
        let total: usize = s.labels.iter().map(|l| l.1).sum::<usize>().max(1);
        for (label, n) in &s.labels {
            let bar = "█".repeat((n * 30).div_ceil(most));
            println!("  {label:<28} {n:>6} {:>5.1}%  {bar}", 100.0 * *n as f64 / total as f64);
        }
        for (unit, l) in [("words", s.words), ("tokens", s.tokens)] {
            if let Some(l) = l {
                println!(
                    "  {unit:<7} per example: min {}  mean {:.1}  median {}  90% {}  95% {}  max {}",
                    l.min, l.mean, l.median, l.p90, l.p95, l.max
                );
            }
        }
    }
    if let Some(t) = stats.first().and_then(|s| s.tokens) {
        let by = if model.is_empty() { "the embedded model" } else { model.as_str() };
        match [32, 64, 128, 256, 512].into_iter().find(|&n| n >= t.p95) {
            Some(fits) => {
                println!(
                    "\nmax-len {fits} keeps 95% of training examples whole (tokens by {by}'s tokenizer)"
                );
            }
            None => println!(
                "\nover 5% of training examples exceed 512 tokens (by {by}'s tokenizer): they will be cut"
            ),
        }
    }
    Ok(())
}

/// `text` wrapped at `width` columns, indented by two spaces.
fn textwrap_indent(text: &str, width: usize) -> String {
    let mut lines = vec![String::from(" ")];
    for word in text.split_whitespace() {
        if lines.last().is_some_and(|l| l.len() + word.len() + 1 > width) {
            lines.push(String::from(" "));
        }
        if let Some(l) = lines.last_mut() {
            l.push(' ');
            l.push_str(word);
        }
    }
    lines.join("\n")
}

fn fill_mask(args: &FillMaskArgs) -> anyhow::Result<()> {
    let given = PathBuf::from(&args.model);
    let dir = if args.model.trim().is_empty() {
        // No model given: the embedded one, as for `train`.
        bertbench::model::source::resolve("", "main")?.dir
    } else if given.join("config.json").is_file() {
        given
    } else if let Ok(run) = find_run(&args.runs_dir, &args.model) {
        run.dir.join("model")
    } else {
        bertbench::model::source::resolve(&args.model, "main")?.dir
    };
    let device = device_from(&args.device)?;
    let lm = MaskedLm::load(&dir, &device)?;
    for text in &args.text {
        let result = lm.fill_mask(text, args.top_k)?;
        if args.json {
            println!("{}", serde_json::to_string(&result)?);
            continue;
        }
        println!("{text}");
        for (i, guesses) in result.guesses.iter().enumerate() {
            let shown: Vec<String> = guesses.iter().map(|(t, p)| format!("{t} {p:.3}")).collect();
            println!("  [MASK] {}: {}", i + 1, shown.join("  "));
        }
    }
    Ok(())
}

fn explain(args: &ExplainArgs) -> anyhow::Result<()> {
    use bertbench::plot::explain::{ExplainView, export_view};
    if args.steps == 0 {
        anyhow::bail!("--steps must be at least 1");
    }
    let run = find_run(&args.runs_dir, &args.run)?;
    let explainer = bertbench::explain::Explainer::open(&run.dir)?;
    for text in &args.text {
        let e = explainer.explain(text, None, args.steps)?;
        if let Some(out) = &args.png {
            for view in [
                ExplainView::Attributions(e.clone()),
                ExplainView::Attention { explanation: e.clone(), layer: 0, head: 0 },
            ] {
                say!("wrote {}", export_view(&view, &run.id, out)?.display());
            }
        }
        if args.json {
            println!("{}", serde_json::to_string(&e)?);
            continue;
        }
        let a = &e.attribution;
        println!("{text}");
        println!("  predicted: {}", e.prediction_line());
        println!(
            "  why \"{}\" (integrated gradients, {} steps, {}): the shares add up to {:+.4} = f(text) {:.4} − f(baseline) {:.4} (gap {:.5})",
            e.target_name(),
            a.steps,
            a.baseline.describe(),
            a.total(),
            a.at_input,
            a.at_baseline,
            a.completeness_gap()
        );
        let from = a.target.token.unwrap_or(0);
        let rollout = e.rollout_row();
        println!(
            "  {:<16} {:>8}  rollout to {}",
            "token",
            "share",
            e.tokens.get(from).map_or("?", String::as_str)
        );
        for (i, token) in e.tokens.iter().enumerate() {
            println!("  {token:<16} {:>+8.4}  {:.3}", a.per_token[i], rollout[i]);
        }
    }
    Ok(())
}

fn bench(args: &BenchArgs) -> anyhow::Result<()> {
    let report = bertbench::bench::run_bench(&args.to_config())?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "{} on {} ({} on {}, {} padding, batch {}, max length {}, {:.1} tokens/example, {} threads)\n\
             train: {:.2} examples/s   eval: {:.2} examples/s   peak RSS: {:.0} MiB   first step after {:.2} s",
            report.model,
            report.data,
            report.precision,
            report.device,
            report.padding,
            report.batch_size,
            report.max_len,
            report.mean_tokens,
            report.threads,
            report.train_examples_per_sec,
            report.eval_examples_per_sec,
            report.peak_rss_mib,
            report.time_to_first_step_s
        );
        let phase = |name: &str, m: &bertbench::bench::Matmuls| {
            let nominal =
                m.nominal_gflops.map_or(String::new(), |g| format!(", nominal peak of their kernels {g:.0}"));
            println!(
                "matrix products, {name}: {:.1} GFLOP/s over the wall time; the same {} products alone {:.1} GFLOP/s ({:.0} % of the time){nominal}",
                m.gflops,
                m.products,
                m.kernel_gflops,
                100.0 * m.share_of_time
            );
        };
        phase("train", &report.train_matmuls);
        phase("eval", &report.eval_matmuls);
        if let Some(ghz) = report.clock_ghz {
            let bf16 = report.nominal_bf16_gflops.map_or(String::new(), |g| format!(", bf16 {g:.0}"));
            let f32 = report.nominal_f32_gflops.map_or("?".to_owned(), |g| format!("{g:.0}"));
            println!("nominal peak at {ghz:.2} GHz on {} threads: f32 {f32}{bf16} GFLOP/s", report.threads);
        }
    }
    Ok(())
}

fn runs(command: &RunsCommand) -> anyhow::Result<()> {
    match command {
        RunsCommand::List { runs_dir } => {
            use bertbench::runs::listing::table;
            let rows = bertbench::runs::listing::rows(runs_dir)?;
            if rows.is_empty() {
                println!("no runs in {}", runs_dir.display());
            } else {
                print!("{}", table(&rows));
            }
        }
        RunsCommand::Export { runs, format, out, runs_dir } => {
            let dirs =
                runs.iter().map(|r| Ok(find_run(runs_dir, r)?.dir)).collect::<anyhow::Result<Vec<_>>>()?;
            let dirs: Vec<&std::path::Path> = dirs.iter().map(PathBuf::as_path).collect();
            for file in bertbench::plot::export_runs(&dirs, *format, out)? {
                println!("{}", file.display());
            }
        }
        RunsCommand::Show { run, runs_dir, json } => {
            let r = find_run(runs_dir, run)?;
            if *json {
                let value = serde_json::json!({
                    "id": r.id, "label": r.label, "folder": r.dir, "status": r.status.as_str(),
                    "reason": r.reason, "config": r.config, "summary": r.summary,
                });
                println!("{}", serde_json::to_string_pretty(&value)?);
            } else {
                print!("{}", bertbench::runs::show::describe(&r));
            }
        }
        RunsCommand::Compare { runs, json, runs_dir } => {
            let infos = runs.iter().map(|r| find_run(runs_dir, r)).collect::<Result<Vec<_>, _>>()?;
            let comparison = bertbench::runs::compare::Comparison::of(&infos);
            if *json {
                println!("{}", serde_json::to_string_pretty(&comparison)?);
            } else {
                print!("{}", comparison.table());
            }
        }
    }
    Ok(())
}
