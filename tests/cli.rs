//! The `bertbench` binary as scripts use it: exit codes, JSON events, Ctrl-C, kill -9.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use common::{Tiny, toy_rows, write_csv, write_tiny_bert};

/// The binary, offline, started in cargo's scratch folder for tests: a default path such as
/// `experiments/` lands there, never in the repository.
fn bertbench() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_bertbench"));
    c.env("HF_HUB_OFFLINE", "1").current_dir(env!("CARGO_TARGET_TMPDIR"));
    c
}

/// The repository's shipped datasets.
const DATASETS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/datasets");

/// Writes a tiny model and a toy dataset; returns the `train` arguments for them.
fn train_args(root: &Path, rows: usize, epochs: usize) -> Vec<String> {
    let model = write_tiny_bert(&root.join("model"), Tiny::default());
    let train = write_csv(&root.join("train.csv"), &toy_rows(rows, 1));
    let valid = write_csv(&root.join("valid.csv"), &toy_rows(40, 2));
    [
        "train",
        "--model",
        &model.display().to_string(),
        "--train",
        &train.display().to_string(),
        "--valid",
        &valid.display().to_string(),
        "--text-column",
        "text",
        "--label-column",
        "label",
        "--epochs",
        &epochs.to_string(),
        "--batch-size",
        "8",
        "--max-len",
        "32",
        "--lr",
        "0.002",
        "--seed",
        "5",
        "--runs-dir",
        &root.join("runs").display().to_string(),
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

fn only_run(root: &Path) -> std::path::PathBuf {
    let mut runs: Vec<_> =
        std::fs::read_dir(root.join("runs")).expect("runs").map(|e| e.expect("entry").path()).collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    runs.remove(0)
}

#[test]
fn train_json_then_eval_and_runs_list() {
    let tmp = tempfile::tempdir().expect("tmp");
    let out = bertbench()
        .args(train_args(tmp.path(), 48, 2))
        .args(["--json", "--label", "toy baseline"])
        .output()
        .expect("run");
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect();
    assert_eq!(events.first().expect("events")["event"], "started");
    assert_eq!(events.iter().filter(|e| e["event"] == "step").count(), 12);
    let last = events.last().expect("last");
    assert_eq!(last["event"], "finished");
    assert_eq!(last["status"], "finished");
    let run = only_run(tmp.path());
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).expect("summary"))
            .expect("json");
    assert_eq!(summary["run_id"], last["run_id"]);
    // Each class's own figures are in the summary too.
    let per_class = summary["valid"]["per_class"].as_array().expect("per-class figures");
    assert_eq!(per_class.len(), 2, "{summary}");
    assert!(
        per_class.iter().all(|c| c["f1"].as_f64().is_some() && c["support"].as_u64() > Some(0)),
        "{summary}"
    );

    let out = bertbench()
        .args([
            "eval",
            &run.display().to_string(),
            "--data",
            &tmp.path().join("valid.csv").display().to_string(),
            "--json",
        ])
        .args(["--out", &tmp.path().join("preds").display().to_string()])
        .output()
        .expect("eval");
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("report");
    assert_eq!(report["examples"], 40);
    assert_eq!(report["accuracy"], summary["valid"]["accuracy"], "re-evaluation agrees with the run");
    assert!(tmp.path().join("preds/predictions.parquet").is_file());

    let out = bertbench()
        .args(["runs", "list", "--runs-dir", &tmp.path().join("runs").display().to_string()])
        .output()
        .expect("list");
    let listing = String::from_utf8_lossy(&out.stdout);
    let id = run.file_name().expect("id").to_string_lossy().into_owned();
    assert!(listing.contains(&id) && listing.contains("finished"), "{listing}");
    assert!(listing.contains("toy baseline"), "the run is listed by the label it was given: {listing}");

    // Plots for slides, as PNG and SVG, from the run's id.
    let runs_dir = tmp.path().join("runs").display().to_string();
    for format in ["png", "svg"] {
        let out_dir = tmp.path().join(format!("plots-{format}"));
        let out = bertbench()
            .args(["runs", "export", &id, "--format", format, "--runs-dir", &runs_dir])
            .args(["--out", &out_dir.display().to_string()])
            .output()
            .expect("export");
        assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
        for kind in ["loss", "metrics", "confusion"] {
            let file = out_dir.join(format!("{id}-{kind}.{format}"));
            let bytes = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            assert!(bytes.len() > 1000, "{} is {} bytes", file.display(), bytes.len());
        }
    }
    let out = bertbench()
        .args(["runs", "export", "no-such-run", "--runs-dir", &runs_dir])
        .output()
        .expect("export");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no-such-run"));
}

#[test]
fn the_workbench_without_a_terminal_points_to_train() {
    let out = bertbench().stdin(Stdio::null()).output().expect("run");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("needs an interactive terminal") && stderr.contains("bertbench train"),
        "{stderr}"
    );
}

#[test]
fn bad_input_exits_non_zero_naming_the_problem() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut args = train_args(tmp.path(), 16, 1);
    let bad = tmp.path().join("bad.csv");
    std::fs::write(&bad, "text,label\nfine,pos\nragged,pos,extra\n").expect("write");
    let at = args.iter().position(|a| a == "--train").expect("flag") + 1;
    args[at] = bad.display().to_string();
    let out = bertbench().args(&args).output().expect("run");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad.csv") && stderr.contains("row 2 (line 3) has 3 fields"), "{stderr}");
    let out = bertbench()
        .args(["train", "--model", "/nonexistent/model", "--train", &bad.display().to_string()])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/model"));
    // Without --model, the embedded model is used: the data is what fails here, and the failed
    // run is recorded where it was told to be.
    let runs = tmp.path().join("embedded-runs");
    let out = bertbench()
        .args(["train", "--train", &bad.display().to_string(), "--runs-dir", &runs.display().to_string()])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.csv"));
    let recorded = bertbench::runs::list_runs(&runs).expect("runs");
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].status, bertbench::report::RunStatus::Failed);
    assert!(recorded[0].reason.as_deref().is_some_and(|r| r.contains("bad.csv")), "{:?}", recorded[0].reason);
    // A GPU this build cannot use is refused before the run exists: no failed record.
    if !cfg!(feature = "cuda") {
        let root = tmp.path().join("gpu");
        let mut args = train_args(&root, 16, 1);
        args.extend(["--device", "cuda:0"].map(String::from));
        let runs = root.join("runs");
        let out = bertbench().args(&args).output().expect("run");
        assert_eq!(out.status.code(), Some(1));
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(said.contains("cuda:0") && said.contains("without the `cuda` feature"), "{said}");
        assert!(bertbench::runs::list_runs(&runs).expect("runs").is_empty(), "no record was left");
    }
}

/// Starts a long run and waits until it has taken its first step.
/// Starts `command` with `--json`, its stdout read line by line (stderr dropped).
fn spawn_json(mut command: Command) -> (Child, std::io::Lines<BufReader<std::process::ChildStdout>>) {
    let mut child =
        command.arg("--json").stdout(Stdio::piped()).stderr(Stdio::null()).spawn().expect("spawn");
    let lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    (child, lines)
}

fn start_long_run(root: &Path) -> (Child, std::path::PathBuf) {
    let mut command = bertbench();
    command.args(train_args(root, 400, 50));
    let (child, mut lines) = spawn_json(command);
    let first_step = lines.by_ref().map_while(Result::ok).find(|l| l.contains("\"event\":\"step\""));
    assert!(first_step.is_some(), "no step event");
    // Keep draining so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, only_run(root))
}

fn signal(child: &Child, name: &str) {
    let ok =
        Command::new("kill").args([&format!("-{name}"), &child.id().to_string()]).status().expect("kill");
    assert!(ok.success());
}

#[test]
fn ctrl_c_stops_cleanly_and_kill_9_leaves_a_readable_record() {
    let tmp = tempfile::tempdir().expect("tmp");
    let first = tmp.path().join("a");
    let (mut child, run) = start_long_run(&first);
    signal(&child, "INT");
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(130));
    let text = std::fs::read_to_string(run.join("status")).expect("status");
    assert!(text.starts_with("cancelled"), "{text}");
    assert!(run.join("model/model.safetensors").is_file());

    let second = tmp.path().join("b");
    let (mut child, run) = start_long_run(&second);
    signal(&child, "KILL");
    child.wait().expect("wait");
    let runs = bertbench::runs::list_runs(&second.join("runs")).expect("list");
    assert_eq!(runs[0].status, bertbench::report::RunStatus::Interrupted);
    // Every line that made it to disk is whole.
    for line in std::fs::read_to_string(run.join("events.jsonl")).expect("events").lines() {
        serde_json::from_str::<serde_json::Value>(line).expect("complete JSON line");
    }
}

#[test]
fn bench_reports_throughput_memory_and_start_up_as_json() {
    let tmp = tempfile::tempdir().expect("tmp");
    let model = write_tiny_bert(&tmp.path().join("model"), Tiny::default());
    let data = write_csv(&tmp.path().join("data.csv"), &toy_rows(64, 4));
    let run = |extra: &[&str]| -> serde_json::Value {
        let out = bertbench()
            .args(["bench", "--model", &model.display().to_string(), "--data", &data.display().to_string()])
            .args([
                "--text-column",
                "text",
                "--label-column",
                "label",
                "--batch-size",
                "8",
                "--max-len",
                "32",
            ])
            .args(["--steps", "3", "--json"])
            .args(extra)
            .output()
            .expect("bench");
        assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).expect("one JSON object")
    };
    let dynamic = run(&[]);
    for key in ["train_examples_per_sec", "eval_examples_per_sec", "peak_rss_mib", "time_to_first_step_s"] {
        assert!(dynamic[key].as_f64().is_some_and(|v| v > 0.0), "{key} in {dynamic}");
    }
    assert_eq!(dynamic["padding"], "dynamic");
    let mean_tokens = dynamic["mean_tokens"].as_f64().expect("mean tokens");
    assert!(mean_tokens > 4.0 && mean_tokens < 32.0, "{mean_tokens}");
    assert_eq!(run(&["--pad-to-max"])["padding"], "max-length");
}

#[test]
fn datasets_lists_the_shipped_sets_and_shows_their_figures() {
    let out = bertbench().args(["datasets", "--datasets-dir", DATASETS]).output().expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    for (name, head) in [
        ("sotu-era", "seq-cls"),
        ("sotu-ner", "token-cls"),
        ("sotu-topics", "multi-label"),
        ("sotu-year", "regression"),
        ("spam-ham", "seq-cls"),
        ("toy-sentiment", "seq-cls"),
    ] {
        assert!(text.contains(&format!("{name}  (--head {head};")), "{name}: {text}");
    }
    let tmp = tempfile::tempdir().expect("tmp");
    let model = write_tiny_bert(&tmp.path().join("model"), Tiny::default());
    let out = bertbench()
        .args(["datasets", "--datasets-dir", DATASETS, "show", "toy-sentiment", "--json", "--model"])
        .arg(&model)
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let splits: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(splits[0]["split"], "train");
    assert_eq!(splits[0]["examples"], 16);
    assert_eq!(splits[0]["labels"], serde_json::json!([["negative", 8], ["positive", 8]]));
    let tokens = &splits[0]["tokens"];
    assert!(tokens["max"].as_u64() > tokens["min"].as_u64(), "{tokens}");
    let out =
        bertbench().args(["datasets", "--datasets-dir", DATASETS, "show", "nope"]).output().expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no dataset \"nope\""));
}

#[test]
fn a_missing_data_file_is_named_once_with_the_reason_once() {
    let tmp = tempfile::tempdir().expect("tmp");
    let missing = tmp.path().join("nope.csv");
    let out = bertbench().args(["train", "--train", &missing.display().to_string()]).output().expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nope.csv"), "{err}");
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
}

#[test]
fn fill_mask_without_a_model_uses_the_embedded_one() {
    let tmp = tempfile::tempdir().expect("tmp");
    let out = bertbench()
        .env("BERTBENCH_CACHE", tmp.path())
        .args(["fill-mask", "--json", "the capital of [MASK] is paris ."])
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let guesses = result["guesses"][0].as_array().expect("guesses for the [MASK]");
    assert_eq!(guesses.len(), 5, "{result}");
}

/// Runs the binary and waits at most `secs` for it (a hang is a failure, not a stuck test).
fn output_within(mut command: Command, secs: u64) -> std::process::Output {
    let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while child.try_wait().expect("wait").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("still running after {secs} s");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.wait_with_output().expect("output")
}

#[test]
fn damaged_run_folders_are_listed_without_following_links_hanging_or_escaping() {
    let tmp = tempfile::tempdir().expect("tmp");
    let runs = tmp.path().join("runs");
    let secret = tmp.path().join("secret.txt");
    std::fs::write(&secret, "finished\nreason: the secret\n").expect("write");
    let linked = runs.join("20260101-000000-linked");
    std::fs::create_dir_all(&linked).expect("mkdir");
    std::os::unix::fs::symlink(&secret, linked.join("status")).expect("link");
    let fifo = runs.join("20260101-000001-fifo");
    std::fs::create_dir_all(&fifo).expect("mkdir");
    std::fs::write(fifo.join("status"), "finished\n").expect("write");
    let made = Command::new("mkfifo").arg(fifo.join("config.toml")).status().expect("mkfifo");
    assert!(made.success());
    let escaping = runs.join("20260101-000002-escaping");
    std::fs::create_dir_all(&escaping).expect("mkdir");
    std::fs::write(escaping.join("status"), "failed\nreason: \u{1b}[2J\u{1b}]0;owned\u{7}gone\n")
        .expect("write");

    let runs_dir = runs.display().to_string();
    let mut list = bertbench();
    list.args(["runs", "list", "--runs-dir", &runs_dir]);
    let out = output_within(list, 20);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("20260101-000001-fifo") && text.contains("20260101-000000-linked"), "{text}");
    let mut show = bertbench();
    show.args(["runs", "show", "20260101-000000-linked", "--runs-dir", &runs_dir]);
    let out = output_within(show, 20);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("the secret"), "a linked status is not shown: {text}");
    assert!(text.contains("is a link"), "{text}");
    let mut show = bertbench();
    show.args(["runs", "show", "20260101-000002-escaping", "--runs-dir", &runs_dir]);
    let out = output_within(show, 20);
    assert!(
        !out.stdout.contains(&0x1b) && !out.stdout.contains(&0x07),
        "{:?}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("\\u{1b}[2J"));
}

/// The loss of every step as logged, and the summary's figures, of a finished run.
fn outcome(run: &Path) -> (Vec<(u64, String)>, Vec<serde_json::Value>) {
    let events = std::fs::read_to_string(run.join("events.jsonl")).expect("events");
    let steps = events
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("a whole line"))
        .filter(|e| e["event"] == "step")
        .map(|e| (e["step"].as_u64().expect("step"), e["loss"].to_string()))
        .collect();
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).expect("summary"))
            .expect("json");
    let figures = ["status", "valid", "test", "steps", "best_step", "epochs"].map(|k| summary[k].clone());
    (steps, figures.to_vec())
}

/// Starts `args` with JSON events on stdout and returns once it has logged step `at`.
fn start_until_step(args: &[String], at: u64) -> Child {
    let mut command = bertbench();
    command.args(args);
    let (child, mut lines) = spawn_json(command);
    let reached = lines.by_ref().map_while(Result::ok).any(|l| {
        serde_json::from_str::<serde_json::Value>(&l)
            .is_ok_and(|e| e["event"] == "step" && e["step"].as_u64() >= Some(at))
    });
    assert!(reached, "the run ended before step {at}");
    std::thread::spawn(move || for _ in lines {});
    child
}

fn resume(root: &Path, run: &Path) -> std::process::Output {
    let id = run.file_name().expect("id").to_string_lossy().into_owned();
    bertbench()
        .args(["train", "--resume", &id, "--runs-dir", &root.join("runs").display().to_string()])
        .output()
        .expect("resume")
}

#[test]
fn runs_killed_or_hung_up_at_a_random_step_resume_to_the_losses_and_metrics_of_one_never_stopped() {
    use std::hash::{BuildHasher, Hasher};
    let tmp = tempfile::tempdir().expect("tmp");
    let args = |root: &Path| {
        let mut a = train_args(root, 120, 6);
        a.extend(["--save-every", "3", "--eval-every", "4"].map(String::from));
        a
    };
    let reference = tmp.path().join("reference");
    let done = bertbench().args(args(&reference)).output().expect("reference");
    assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
    let want = outcome(&only_run(&reference));
    let total = want.0.len() as u64;
    assert_eq!(total, 90);
    // Any step will do; which one is drawn anew each time (and printed when it fails).
    let draw = || 1 + std::collections::hash_map::RandomState::new().build_hasher().finish() % 60;

    let (killed, kill_at) = (tmp.path().join("killed"), draw());
    let mut child = start_until_step(&args(&killed), kill_at);
    signal(&child, "KILL");
    child.wait().expect("wait");
    // Killed before its first save (step 3), it has no state and starts over in its record.
    let run = only_run(&killed);
    // While another process holds the run (here: its lock), it is not resumed.
    let lock = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(run.join(".lock"))
        .expect("lock");
    lock.try_lock().expect("the killed run's lock is free");
    let refused = resume(&killed, &run);
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("another bertbench process is running it"),
        "{refused:?}"
    );
    drop(lock);
    let state = run.join("state.safetensors");
    let had_state = state.is_file();
    if had_state {
        // A state that went missing is not a reason to start over silently.
        let aside = run.join("state.aside");
        std::fs::rename(&state, &aside).expect("move the state away");
        let refused = resume(&killed, &run);
        assert!(
            String::from_utf8_lossy(&refused.stderr).contains("is gone, though the run saved one"),
            "{refused:?}"
        );
        std::fs::rename(&aside, &state).expect("put it back");
    }
    // Its data changed since: refused, and the record is left as it was.
    let train = killed.join("train.csv");
    let original = std::fs::read(&train).expect("train.csv");
    let log = std::fs::read(run.join("events.jsonl")).expect("log");
    std::fs::write(&train, [original.as_slice(), b"one more row,pos\n"].concat()).expect("edit");
    let refused = resume(&killed, &run);
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("train.csv changed since the run started"), "{said}");
    assert_eq!(std::fs::read(run.join("events.jsonl")).expect("log"), log, "the record is untouched");
    std::fs::write(&train, original).expect("restore");
    let resumed = resume(&killed, &run);
    assert!(resumed.status.success(), "{}", String::from_utf8_lossy(&resumed.stderr));
    assert_eq!(outcome(&run), want, "killed after step {kill_at}, resumed");
    assert!(!run.join("state.safetensors").exists(), "a finished run keeps no state");
    let log = std::fs::read_to_string(run.join("events.jsonl")).expect("log");
    assert_eq!(log.matches("\"event\":\"started\"").count(), 1, "one run: {log}");
    // It goes on from its state, or (killed before its first save) starts over in its record.
    let resumed = log.matches("\"event\":\"resumed\"").count();
    assert_eq!(resumed, usize::from(had_state), "killed after step {kill_at}, state saved: {had_state}");

    // A dropped SSH session: SIGHUP (its stderr gone) stops the run with its state saved.
    let (hung_up, hup_at) = (tmp.path().join("hung-up"), draw());
    let mut child = start_until_step(&args(&hung_up), hup_at);
    signal(&child, "HUP");
    assert_eq!(child.wait().expect("wait").code(), Some(130));
    let run = only_run(&hung_up);
    let status = std::fs::read_to_string(run.join("status")).expect("status");
    assert!(status.starts_with("cancelled"), "{status}");
    assert!(run.join("state.safetensors").is_file());
    let resumed = resume(&hung_up, &run);
    assert!(resumed.status.success(), "{}", String::from_utf8_lossy(&resumed.stderr));
    assert_eq!(outcome(&run), want, "hung up after step {hup_at}, resumed");

    // Nothing is left to resume in a finished run, and its settings are the recorded ones.
    let refused = resume(&hung_up, &run);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("it finished"), "{refused:?}");
    let id = run.file_name().expect("id").to_string_lossy().into_owned();
    let runs = hung_up.join("runs").display().to_string();
    let changed = bertbench()
        .args(["train", "--resume", &id, "--runs-dir", &runs, "--lr", "0.1"])
        .output()
        .expect("run");
    let said = String::from_utf8_lossy(&changed.stderr);
    assert!(said.contains("--lr cannot change them"), "{said}");
    let other = bertbench().args(["pretrain", "--resume", &id, "--runs-dir", &runs]).output().expect("run");
    let said = String::from_utf8_lossy(&other.stderr);
    assert!(said.contains("resume it with `bertbench train --resume`"), "{said}");
}

/// A sweep recipe over pretrained/from scratch at two seeds on the tiny model and toy data.
fn write_sweep(root: &Path, rows: usize, extra: &str) -> std::path::PathBuf {
    let model = write_tiny_bert(&root.join("model"), Tiny::default());
    let train = write_csv(&root.join("train.csv"), &toy_rows(rows, 1));
    let valid = write_csv(&root.join("valid.csv"), &toy_rows(40, 2));
    // TOML basic strings quote paths as Rust's Debug does (temp paths have no escapes).
    let (model, train, valid) =
        (model.display().to_string(), train.display().to_string(), valid.display().to_string());
    let text = format!(
        "name = \"toy-ab\"\n[model]\nsource = {model:?}\n[data]\ntrain = {train:?}\nvalid = {valid:?}\n\
         text-column = \"text\"\nlabel-column = \"label\"\n[train]\nepochs = 3\nbatch-size = 8\nmax-len = 32\n\
         lr = 0.002\n[sweep]\nseeds = [1, 2]\n{extra}[sweep.grid]\n\"model.from-scratch\" = [false, true]\n"
    );
    let path = root.join("ab.toml");
    std::fs::write(&path, text).expect("write sweep");
    path
}

fn sweep_command(file: &Path, root: &Path) -> Command {
    let mut c = bertbench();
    c.args(["sweep", &file.display().to_string(), "--runs-dir", &root.join("runs").display().to_string()]);
    c
}

/// The sweep's final results line (`--json`).
fn sweep_results(stdout: &[u8]) -> serde_json::Value {
    let text = String::from_utf8_lossy(stdout);
    let line =
        text.lines().rev().find(|l| l.contains("\"rows\"")).unwrap_or_else(|| panic!("no results in {text}"));
    serde_json::from_str(line).expect("results JSON")
}

#[test]
fn a_sweep_killed_mid_way_goes_on_without_redoing_finished_runs() {
    let tmp = tempfile::tempdir().expect("tmp");
    // Runs long enough (a few hundred steps) to be killed while one trains.
    let file = write_sweep(tmp.path(), 600, "");
    let runs_dir = tmp.path().join("runs");
    let (mut child, mut lines) = spawn_json(sweep_command(&file, tmp.path()));
    let first = lines.by_ref().map_while(Result::ok).find(|l| l.contains("\"status\":\"finished\""));
    let first: serde_json::Value = serde_json::from_str(&first.expect("a first run finished")).expect("json");
    // Killed while the second run trains: once its record has logged a step.
    let records = || bertbench::runs::list_runs(&runs_dir).expect("list");
    let training = || {
        records().into_iter().find(|r| r.status == bertbench::report::RunStatus::Running).filter(|r| {
            std::fs::read_to_string(r.dir.join("events.jsonl"))
                .is_ok_and(|e| e.contains("\"event\":\"step\""))
        })
    };
    let mut second = None;
    for _ in 0..400 {
        second = training();
        if second.is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    signal(&child, "KILL");
    child.wait().expect("wait");
    std::thread::spawn(move || for _ in lines {});
    let second = second.expect("the second run was training when the sweep was killed");
    assert_eq!(
        bertbench::runs::store::load_run(&second.dir).status,
        bertbench::report::RunStatus::Interrupted
    );
    let first_id = first["run"].as_str().expect("run id").to_owned();
    let first_summary =
        std::fs::read_to_string(runs_dir.join(&first_id).join("summary.json")).expect("summary");

    let out = sweep_command(&file, tmp.path()).arg("--json").output().expect("again");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("[1/4] pretrained · seed 1: finished"), "the finished run is skipped: {stderr}");
    assert!(stderr.contains("[2/4] resuming pretrained · seed 2"), "the killed run goes on: {stderr}");
    let results = sweep_results(&out.stdout);
    assert_eq!(
        (results["runs_finished"].as_u64(), results["runs_total"].as_u64()),
        (Some(4), Some(4)),
        "{results}"
    );
    // One record per run: the finished one untouched, the killed one resumed in place.
    let all = records();
    assert_eq!(all.len(), 4, "{:?}", all.iter().map(|r| &r.id).collect::<Vec<_>>());
    assert!(all.iter().any(|r| r.dir == second.dir), "resumed in its own record");
    assert!(all.iter().all(|r| r.status == bertbench::report::RunStatus::Finished));
    let again = std::fs::read_to_string(runs_dir.join(&first_id).join("summary.json")).expect("summary");
    assert_eq!(again, first_summary, "the finished run was not redone");
    assert_eq!(results["rows"][0]["label"], "pretrained");
    assert_eq!(results["rows"][0]["train_examples"].as_f64(), Some(600.0), "from the start events");
    assert_eq!(results["rows"][0]["scored"], 2);
    let contrast = &results["contrast"]["differences"][0];
    assert_eq!(
        (contrast["pairs"].as_u64(), results["contrast"]["a"].as_str()),
        (Some(2), Some("pretrained"))
    );
    let sweep_dir = runs_dir.join("sweeps").join(results["sweep"].as_str().expect("id"));
    assert!(sweep_dir.join("sweep.toml").is_file() && sweep_dir.join("results.json").is_file());

    // The status alone starts nothing and prints the table with the difference spelled out.
    let plots = tmp.path().join("plots");
    let status =
        sweep_command(&file, tmp.path()).arg("--status").arg("--plot").arg(&plots).output().expect("status");
    let table = String::from_utf8_lossy(&status.stdout);
    // Pretrained against scratch varies no number: no curve, and it says so.
    let said = String::from_utf8_lossy(&status.stderr);
    assert!(said.contains("no summary plot: ") && said.contains("varies no numeric setting"), "{said}");
    assert!(table.contains("SETTING") && table.contains("from scratch  2/2"), "{table}");
    assert!(
        table.contains("pretrained vs from scratch: ")
            && table.contains("points of validation accuracy (2 seeds"),
        "{table}"
    );
    assert_eq!(records().len(), 4);

    // Runs side by side, for people and for scripts.
    let ids: Vec<String> = all.iter().map(|r| r.id.clone()).collect();
    let compare = bertbench()
        .args(["runs", "compare", &ids[0], &ids[1], "--runs-dir"])
        .arg(&runs_dir)
        .output()
        .expect("compare");
    let text = String::from_utf8_lossy(&compare.stdout);
    assert!(compare.status.success(), "{}", String::from_utf8_lossy(&compare.stderr));
    assert!(
        text.contains("Δ vs first") && text.contains("settings that differ") && text.contains("· seed "),
        "{text}"
    );
    let json = bertbench()
        .args(["runs", "compare", &ids[0], &ids[3], "--json", "--runs-dir"])
        .arg(&runs_dir)
        .output()
        .expect("json");
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).expect("compare JSON");
    let score = |i: usize| json["runs"][i]["score"].as_f64().expect("score");
    let delta = json["runs"][1]["delta"].as_f64().expect("a delta against the first run");
    assert!((delta - (score(1) - score(0))).abs() < 1e-12, "{json}");
    assert!(json["settings"]["model.from-scratch"].is_array(), "{json}");
    let show =
        bertbench().args(["runs", "show", &ids[0], "--runs-dir"]).arg(&runs_dir).output().expect("show");
    let shown = String::from_utf8_lossy(&show.stdout);
    for part in ["label", "training", "results", "per class", "sweep"] {
        assert!(shown.contains(part), "{part} missing in {shown}");
    }
}

#[test]
fn a_sweep_can_launch_each_run_through_a_command() {
    let tmp = tempfile::tempdir().expect("tmp");
    let file = write_sweep(
        tmp.path(),
        60,
        "command = \"{bertbench} train {args} --json > /dev/null\"\nparallel = 2\n",
    );
    let out = sweep_command(&file, tmp.path()).output().expect("sweep");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let runs = bertbench::runs::list_runs(&tmp.path().join("runs")).expect("list");
    assert_eq!(runs.len(), 4);
    assert!(runs.iter().all(|r| r.status == bertbench::report::RunStatus::Finished), "{stderr}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("4/4 runs finished"), "{text}");
    // Each run's config was written where the command could read it.
    let configs =
        std::fs::read_dir(runs[0].dir.parent().expect("runs").join("sweeps")).expect("sweeps").count();
    assert_eq!(configs, 1);
}

/// Through a real Slurm: `scripts/check-slurm.sh` starts a single-node cluster from Debian's
/// `slurm-wlm` and runs this. Each run is an `srun` job step on one CPU; their results equal
/// those of the same sweep run here (determinism does not depend on the thread count).
#[test]
#[ignore = "needs a running Slurm: scripts/check-slurm.sh"]
fn a_sweep_through_slurm_gives_the_results_of_the_same_sweep_here() {
    let tmp = tempfile::tempdir().expect("tmp");
    let srun = "command = \"srun --ntasks=1 --cpus-per-task=1 {bertbench} train {args} > /dev/null 2>&1\"\nparallel = 2\n";
    let slurm = tmp.path().join("slurm");
    let file = write_sweep(&slurm, 60, srun);
    let out = sweep_command(&file, &slurm).arg("--json").output().expect("sweep");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let through_slurm = sweep_results(&out.stdout);
    let here = tmp.path().join("here");
    let file = write_sweep(&here, 60, "");
    let out = sweep_command(&file, &here).arg("--json").output().expect("sweep");
    let in_process = sweep_results(&out.stdout);
    assert_eq!(through_slurm["runs_finished"], 4, "{through_slurm}");
    for (a, b) in through_slurm["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .zip(in_process["rows"].as_array().expect("rows"))
    {
        assert_eq!((&a["label"], &a["mean"], &a["sd"]), (&b["label"], &b["mean"], &b["sd"]));
    }
}

#[test]
fn completions_and_man_pages_come_from_the_command_line_definitions() {
    let bash = bertbench().args(["completions", "bash"]).output().expect("bash");
    let script = String::from_utf8_lossy(&bash.stdout);
    assert!(bash.status.success() && script.contains("_bertbench()"), "{script}");
    assert!(script.contains("sweep") && script.contains("--runs-dir"), "every command and flag");
    let zsh = bertbench().args(["completions", "zsh"]).output().expect("zsh");
    assert!(String::from_utf8_lossy(&zsh.stdout).starts_with("#compdef bertbench"));
    let fish = bertbench().args(["completions", "fish"]).output().expect("fish");
    assert!(String::from_utf8_lossy(&fish.stdout).contains("complete -c bertbench"));
    let bad = bertbench().args(["completions", "tcsh"]).output().expect("tcsh");
    assert_eq!(bad.status.code(), Some(2), "an unknown shell is refused with the ones there are");

    let tmp = tempfile::tempdir().expect("tmp");
    let out = bertbench().args(["man", "--out"]).arg(tmp.path()).output().expect("man");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let sweep = std::fs::read_to_string(tmp.path().join("bertbench-sweep.1")).expect("the sweep page");
    assert!(sweep.contains(".TH bertbench-sweep 1") && sweep.contains("\\-\\-status"), "{sweep}");
    assert!(
        tmp.path().join("bertbench.1").is_file() && tmp.path().join("bertbench-runs-compare.1").is_file()
    );
}

#[test]
fn a_hub_dataset_trains_offline_from_the_cache_and_a_missing_one_is_named() {
    use polars::prelude::{DataFrame, NamedFrom, ParquetWriter, Series};
    let tmp = tempfile::tempdir().expect("tmp");
    let rev = "fedcba9876543210fedcba9876543210fedcba98";
    let repo = tmp.path().join("hf/hub/datasets--org--toy-reviews");
    let data = repo.join("snapshots").join(rev).join("data");
    std::fs::create_dir_all(&data).expect("snapshot");
    std::fs::create_dir_all(repo.join("refs")).expect("refs");
    std::fs::write(repo.join("refs/main"), rev).expect("ref");
    // As `datasets` uploads them: a `sentence` column and integer labels, a file per split, the
    // training split in two shards.
    let splits = [
        ("train-00000-of-00002", 30, 1),
        ("train-00001-of-00002", 18, 4),
        ("validation-00000-of-00001", 16, 2),
        ("test-00000-of-00001", 20, 3),
    ];
    for (split, n, seed) in splits {
        let rows = toy_rows(n, seed);
        let text: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
        let label: Vec<i64> = rows.iter().map(|r| i64::from(r.1 == "pos")).collect();
        let mut df = DataFrame::new_infer_height(vec![
            Series::new("sentence".into(), text).into(),
            Series::new("label".into(), label).into(),
        ])
        .expect("frame");
        let file = std::fs::File::create(data.join(format!("{split}.parquet"))).expect("file");
        ParquetWriter::new(file).finish(&mut df).expect("parquet");
    }
    let mut args = train_args(tmp.path(), 8, 1);
    let at = args.iter().position(|a| a == "--valid").expect("--valid");
    args.drain(at..at + 2);
    let at = args.iter().position(|a| a == "--train").expect("--train") + 1;
    args[at] = "hub:org/toy-reviews".into();
    let at = args.iter().position(|a| a == "--text-column").expect("--text-column") + 1;
    args[at] = "sentence".into();
    let cache = tmp.path().join("bertbench-cache");
    let out = bertbench()
        .env("HF_HOME", tmp.path().join("hf"))
        .env("BERTBENCH_CACHE", &cache)
        .args(&args)
        .arg("--json")
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let events = String::from_utf8_lossy(&out.stdout);
    let started: serde_json::Value = events
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|e| e["event"] == "started")
        .expect("started");
    assert_eq!(
        (started["train_examples"].as_u64(), started["valid_examples"].as_u64()),
        (Some(48), Some(16))
    );
    assert_eq!(started["test_examples"].as_u64(), Some(20), "the hub's own test split");
    let config = std::fs::read_to_string(only_run(tmp.path()).join("config.toml")).expect("config");
    assert!(config.contains(&format!("dataset-source = \"hub:org/toy-reviews@{rev}\"")), "{config}");
    // The two shards were joined, in order, into one file in bertbench's cache, which the record names.
    let joined = cache.join("hub-datasets/org--toy-reviews").join(rev).join("default/train.parquet");
    assert!(config.contains(&format!("train = \"{}\"", joined.display())), "{config}");

    let train = args.iter().position(|a| a == "hub:org/toy-reviews").expect("hub arg");
    args[train] = "hub:org/absent".into();
    let out = bertbench().env("HF_HOME", tmp.path().join("hf")).args(&args).output().expect("run");
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("hub:org/absent")
            && said.contains("not in the hub cache")
            && said.contains("HF_HUB_OFFLINE"),
        "{said}"
    );
}
