//! `bertbench`: parse the command line and dispatch. The logic lives in the library.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, OnceLock};

use anyhow::Context;
use bertbench::cli::{
    BenchArgs, Cli, Command, EvalArgs, FillMaskArgs, PretrainArgs, RunsCommand, TrainArgs, WorkbenchArgs,
};
use bertbench::config::RunConfig;
use bertbench::data::batch::Batcher;
use bertbench::data::{LabelSet, load_examples};
use bertbench::eval::{Encoded, evaluate};
use bertbench::headless::{ConsoleSink, describe_eval};
use bertbench::model::checkpoint::Classifier;
use bertbench::model::pretraining::MaskedLm;
use bertbench::runs::store::find_run;
use bertbench::runs::writer::{write_predictions, write_status};
use bertbench::runs::{RunWriter, list_runs};
use bertbench::train::RunContext;
use bertbench::train::event::EventSink;
use bertbench::train::event::Tee;
use bertbench::train::trainer::{device_from, prepare};
use bertbench::train::{Command as TrainCommand, RunStatus};
use bertbench::tui::{Ending, TuiError};
use clap::{CommandFactory, Parser};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Train(args)) => train(&args),
        Some(Command::Pretrain(args)) => pretrain(&args),
        Some(Command::FillMask(args)) => fill_mask(&args).map(|()| ExitCode::SUCCESS),
        Some(Command::Eval(args)) => eval(&args).map(|()| ExitCode::SUCCESS),
        Some(Command::Bench(args)) => bench(&args).map(|()| ExitCode::SUCCESS),
        Some(Command::Runs { command }) => runs(&command).map(|()| ExitCode::SUCCESS),
        None => workbench(&cli.workbench),
    };
    result.unwrap_or_else(|e| {
        eprintln!("error: {e:#}");
        ExitCode::FAILURE
    })
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
            eprintln!("{e}\n");
            let _ = Cli::command().print_help();
            Ok(ExitCode::from(2))
        }
        Err(e) => Err(e.into()),
    }
}

fn train(args: &TrainArgs) -> anyhow::Result<ExitCode> {
    let mut config = args.to_config()?;
    prepare(&mut config)?;
    headless(&config, args.json, bertbench::train::run)
}

fn pretrain(args: &PretrainArgs) -> anyhow::Result<ExitCode> {
    let config = args.to_config()?;
    config.validate()?;
    headless(&config, args.json, bertbench::train::pretrain::run_pretraining)
}

type Runner = fn(
    &RunConfig,
    &RunContext,
    &mut dyn EventSink,
    &mpsc::Receiver<TrainCommand>,
) -> bertbench::Result<bertbench::train::RunSummary>;

/// Runs `runner` on this thread with a run record and the console; Ctrl-C stops it cleanly.
fn headless(config: &RunConfig, json: bool, runner: Runner) -> anyhow::Result<ExitCode> {
    let (commands, inbox) = mpsc::channel();
    // The handler exists before the run folder does; it learns the folder once it is created.
    let run_dir: Arc<OnceLock<PathBuf>> = Arc::default();
    let presses = AtomicUsize::new(0);
    let handler_dir = Arc::clone(&run_dir);
    ctrlc::set_handler(move || {
        if presses.fetch_add(1, Ordering::SeqCst) == 0 {
            // The first Ctrl-C (or SIGTERM/SIGHUP) stops cleanly after the current step.
            eprintln!("stopping after the current step (Ctrl-C again to quit at once)");
            let _ = commands.send(TrainCommand::Stop);
        } else {
            if let Some(dir) = handler_dir.get() {
                let _ = write_status(
                    dir,
                    RunStatus::Cancelled,
                    Some("quit by a second Ctrl-C before the run ended"),
                );
            }
            std::process::exit(130);
        }
    })
    .context("cannot install the Ctrl-C handler")?;
    let mut writer = RunWriter::create(config)?;
    let _ = run_dir.set(writer.dir.clone());
    let ctx = writer.context();
    let mut console = ConsoleSink::new(json);
    let outcome = runner(config, &ctx, &mut Tee(vec![&mut writer, &mut console]), &inbox);
    let summary = match outcome {
        Ok(summary) => summary,
        Err(e) => {
            // The record could not take the end of the run: say so in what can still be written.
            let _ = write_status(&writer.dir, RunStatus::Failed, Some(&e.to_string()));
            return Err(e.into());
        }
    };
    eprintln!("run record: {}", writer.dir.display());
    Ok(match summary.status {
        RunStatus::Finished => ExitCode::SUCCESS,
        RunStatus::Cancelled => ExitCode::from(130),
        _ => {
            eprintln!("error: {}", summary.reason.as_deref().unwrap_or("the run failed"));
            ExitCode::FAILURE
        }
    })
}

fn eval(args: &EvalArgs) -> anyhow::Result<()> {
    let given = PathBuf::from(&args.model);
    let dir = if given.join("config.json").is_file() {
        given
    } else {
        find_run(&args.runs_dir, &args.model)?.dir.join("model")
    };
    let device = device_from(&args.device)?;
    let clf = Classifier::load_fine_tuned(&dir, &device)?;
    let examples =
        load_examples(&args.data, args.columns.text_column.as_deref(), args.columns.label_column.as_deref())?;
    let labels = LabelSet::from_names(clf.labels.clone());
    let set = Encoded::new(examples, &clf.tokenizer, &labels, args.max_len)?;
    let batcher = Batcher::new(clf.tokenizer.pad_id, &device);
    let (report, rows) = evaluate(&clf, "eval", &set, args.batch_size, &batcher)?;
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
        write_predictions(out, &BTreeMap::from([("eval".to_owned(), rows)]), &clf.labels)?;
    }
    Ok(())
}

fn fill_mask(args: &FillMaskArgs) -> anyhow::Result<()> {
    let given = PathBuf::from(&args.model);
    let dir = if given.join("config.json").is_file() {
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

fn bench(args: &BenchArgs) -> anyhow::Result<()> {
    let report = bertbench::bench::run_bench(&args.to_config())?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "{} on {} ({} padding, batch {}, max length {}, {:.1} tokens/example, {} threads)\n\
             train: {:.2} examples/s   eval: {:.2} examples/s   peak RSS: {:.0} MiB   first step after {:.2} s",
            report.model,
            report.data,
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
    }
    Ok(())
}

fn runs(command: &RunsCommand) -> anyhow::Result<()> {
    match command {
        RunsCommand::List { runs_dir } => {
            let runs = list_runs(runs_dir)?;
            if runs.is_empty() {
                println!("no runs in {}", runs_dir.display());
            }
            println!(
                "{:<40} {:<11} {:<24} {:<30} {:>9} {:>9}",
                "RUN", "STATUS", "DATASET", "MODEL", "ACCURACY", "MACRO-F1"
            );
            for r in runs {
                let best = r.summary.as_ref().and_then(|s| s.test.as_ref().or(s.valid.as_ref()));
                let fmt = |v: Option<f64>| v.map_or_else(|| "-".into(), |v| format!("{v:.4}"));
                println!(
                    "{:<40} {:<11} {:<24} {:<30} {:>9} {:>9}",
                    r.id,
                    r.status.as_str(),
                    r.dataset(),
                    r.model(),
                    fmt(best.map(|b| b.accuracy)),
                    fmt(best.map(|b| b.macro_f1))
                );
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
        RunsCommand::Show { run, runs_dir } => {
            let r = find_run(runs_dir, run)?;
            println!("run:     {}\nfolder:  {}\nstatus:  {}", r.id, r.dir.display(), r.status.as_str());
            if let Some(reason) = &r.reason {
                println!("reason:  {reason}");
            }
            if let Some(c) = &r.config {
                println!("\n[config]\n{}", c.to_toml()?);
            }
            if let Some(s) = &r.summary {
                println!("[summary]\n{}", serde_json::to_string_pretty(s)?);
            }
        }
    }
    Ok(())
}
