//! The workbench without a terminal: `update` driven by scripted messages (no threads, no
//! clock), and every screen rendered into ratatui's `TestBackend` as insta snapshots at 100×30
//! and 80×24.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use bertbench::config::RunConfig;
use bertbench::data::mask::MaskSplit;
use bertbench::eval::score;
use bertbench::explain::masking::{Counts, Fate, InspectedToken, MaskingSample};
use bertbench::explain::representations::{Representations, Scatter};
use bertbench::explain::{AttentionMaps, Attribution, Baseline, Explanation, Outputs, Target};
use bertbench::plot::explain::ExplainView;
use bertbench::report::{EvalReport, Prediction, RunStatus, RunSummary, SplitSummary};
use bertbench::runs::listing::{Figure, Split};
use bertbench::runs::{RunHistory, Start};
use bertbench::train::event::{RunStarted, StepMetrics};
use bertbench::train::{Command, TrainEvent};
use bertbench::tui::app::{
    App, Asked, EvalPane, Leaving, Lifecycle, LiveState, Overlay, PredictionFilter, RecordView, RunRow,
    Screen, Settings,
};
use bertbench::tui::form::{DatasetChoice, DatasetPreview, ModelChoice};
use bertbench::tui::theme::ThemeKind;
use bertbench::tui::update::{Effect, Msg, update};
use bertbench::tui::view;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

const LABELS: [&str; 3] = ["negative", "neutral", "positive"];

fn labels() -> Vec<String> {
    LABELS.iter().map(|s| (*s).to_owned()).collect()
}

fn app() -> App {
    let mut app = App::new(
        Settings { runs_dir: "runs".into(), recipes_dir: "recipes".into(), device: "cpu".into() },
        ThemeKind::Dark,
    );
    let datasets = vec![
        DatasetChoice {
            name: "reviews".into(),
            train: "datasets/reviews/train.csv".into(),
            valid: Some("datasets/reviews/valid.csv".into()),
            test: None,
            head: bertbench::config::HeadKind::SeqCls,
            recipe: None,
        },
        DatasetChoice {
            name: "toy-sentiment".into(),
            train: "datasets/toy/train.csv".into(),
            valid: None,
            test: None,
            head: bertbench::config::HeadKind::SeqCls,
            recipe: None,
        },
    ];
    let models = vec![
        ModelChoice {
            label: "embedded".into(),
            source: String::new(),
            unavailable: Some("not shipped".into()),
        },
        ModelChoice {
            label: "scratch:tiny (new model)".into(),
            source: "scratch:tiny".into(),
            unavailable: None,
        },
        ModelChoice { label: "org/minilm (HF cache)".into(), source: "org/minilm".into(), unavailable: None },
    ];
    send(&mut app, Msg::ModelsFound(models));
    let effects = send(&mut app, Msg::DatasetsFound(datasets));
    let id = preview_request(&effects);
    assert!(
        matches!(&effects[..], [Effect::Preview { path, .. }] if path.ends_with("reviews/train.csv")),
        "{effects:?}"
    );
    send(
        &mut app,
        Msg::Preview {
            id,
            columns: vec!["text".into(), "label".into(), "id".into()],
            result: Ok(DatasetPreview {
                text_column: "text".into(),
                label_column: "label".into(),
                rows: 1200,
                label_counts: vec![
                    ("positive".into(), 600),
                    ("negative".into(), 450),
                    ("neutral".into(), 150),
                ],
                examples: vec![
                    ("negative".into(), "The plot never goes anywhere.".into()),
                    ("neutral".into(), "It is a film about a bank.".into()),
                    (
                        "positive".into(),
                        "A warm, funny and clever story that stays with you long after.".into(),
                    ),
                ],
                mean_words: 18.4,
                card: Some("Short product and film reviews with three sentiment labels.".into()),
            }),
        },
    );
    app
}

/// The id of the one preview request among `effects`.
fn preview_request(effects: &[Effect]) -> u64 {
    let [Effect::Preview { id, .. }] = effects else { panic!("one preview request: {effects:?}") };
    *id
}

fn send(app: &mut App, msg: Msg) -> Vec<Effect> {
    update(app, msg)
}

fn key(app: &mut App, code: KeyCode) -> Vec<Effect> {
    send(app, Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)))
}

fn keys(app: &mut App, text: &str) -> Vec<Effect> {
    text.chars().flat_map(|c| key(app, KeyCode::Char(c))).collect()
}

fn render(app: &App, width: u16, height: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("terminal");
    terminal.draw(|f| view::draw(f, app)).expect("draw");
    terminal
}

fn screen_text(app: &App, width: u16, height: u16) -> String {
    render(app, width, height).backend().to_string()
}

/// Snapshots a screen at both sizes the workbench promises to serve.
fn snap(name: &str, app: &App) {
    insta::assert_snapshot!(format!("{name}-100x30"), render(app, 100, 30).backend());
    insta::assert_snapshot!(format!("{name}-80x24"), render(app, 80, 24).backend());
}

fn report(split: &str, step: usize, loss: f64, gold: &[u32], predicted: &[u32]) -> EvalReport {
    EvalReport {
        split: split.into(),
        step,
        epoch: step as f64 / 20.0,
        loss,
        examples: gold.len(),
        examples_per_sec: 250.0,
        labels: labels(),
        scores: bertbench::eval::Scores {
            calibration: Some(bertbench::eval::calibration::of_top_labels(
                predictions(gold, predicted).iter().map(|p| (p.confidence, p.gold == p.predicted)),
            )),
            ..score(gold, predicted, &labels())
        },
    }
}

/// Gold and predicted labels of 12 validation examples, better at later steps.
fn outcomes(step: usize) -> (Vec<u32>, Vec<u32>) {
    let gold = vec![0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 2, 2];
    let wrong = 6usize.saturating_sub(step / 10);
    let predicted = gold.iter().enumerate().map(|(i, &g)| if i < wrong { (g + 1) % 3 } else { g }).collect();
    (gold, predicted)
}

fn started(run_id: &str) -> TrainEvent {
    TrainEvent::Started(RunStarted {
        run_id: run_id.into(),
        model: "scratch:tiny".into(),
        device: "cpu".into(),
        precision: "bf16".into(),
        labels: labels(),
        train_examples: 1200,
        valid_examples: 12,
        test_examples: 0,
        epochs: 3,
        steps_per_epoch: 20,
        total_steps: 60,
        mlm_steps: 0,
        trainable_parameters: 500_000,
        initialised: vec![],
        unused: vec![],
    })
}

fn step(n: usize) -> TrainEvent {
    TrainEvent::Step(StepMetrics {
        step: n,
        total_steps: 60,
        epoch: n as f64 / 20.0,
        loss: 1.1 * (-(n as f64) / 25.0).exp() + 0.05 * ((n * 7) % 5) as f64 / 5.0,
        lr: 5e-4 * (1.0 - n as f64 / 60.0),
        grad_norm: 0.8 + 0.1 * (n % 3) as f64,
        examples_per_sec: 212.5,
        elapsed_s: n as f64 * 0.3,
        gpu_memory: None,
    })
}

/// Starts a run from the form and feeds it `steps` steps with validations every 10.
fn training_app(steps: usize) -> App {
    let mut app = app();
    let effects = keys(&mut app, "s");
    assert!(matches!(&effects[..], [Effect::StartRun(1, _)]), "{effects:?}");
    send(&mut app, Msg::Train { run: 1, event: Box::new(started("20261128-101500-reviews")) });
    for n in 1..=steps {
        send(&mut app, Msg::Train { run: 1, event: Box::new(step(n)) });
        if n % 10 == 0 {
            let (g, p) = outcomes(n);
            let r = report("valid", n, 1.0 / (1.0 + n as f64 / 10.0), &g, &p);
            send(&mut app, Msg::Train { run: 1, event: Box::new(TrainEvent::Evaluated(r)) });
            let event = TrainEvent::CheckpointSaved {
                step: n,
                path: "runs/x/model".into(),
                metric: 0.5 + n as f64 / 150.0,
            };
            send(&mut app, Msg::Train { run: 1, event: Box::new(event) });
        }
    }
    app
}

fn predictions(gold: &[u32], predicted: &[u32]) -> Vec<Prediction> {
    let texts = [
        "I expected nothing and still left disappointed.",
        "Terrible pacing, wooden acting.",
        "Not for me.",
        "A mess from start to finish.",
        "It exists.",
        "A film about a bank, set in a bank.",
        "Runs two hours.",
        "Wonderful!",
        "A joy from the first scene to the last, with a cast that clearly had fun.",
        "Better than the book.",
        "I would watch it again.",
        "Lovely score.",
    ];
    gold.iter()
        .zip(predicted)
        .enumerate()
        .map(|(i, (&g, &p))| Prediction {
            text: texts[i].into(),
            gold: LABELS[g as usize].into(),
            predicted: LABELS[p as usize].into(),
            confidence: 0.4 + (i as f32 * 0.05),
            probabilities: vec![0.2, 0.3, 0.5],
        })
        .collect()
}

/// A run that trained 60 steps and ended with its final evaluations and predictions.
fn finished_app() -> App {
    let mut app = training_app(60);
    let (g, p) = outcomes(40);
    for split in ["valid", "test"] {
        let event = TrainEvent::Evaluated(report(split, 60, 0.4, &g, &p));
        send(&mut app, Msg::Train { run: 1, event: Box::new(event) });
        let event = TrainEvent::Predictions { split: split.into(), rows: predictions(&g, &p) };
        send(&mut app, Msg::Train { run: 1, event: Box::new(event) });
    }
    let summary = summary("20261128-101500-reviews", RunStatus::Finished, 0.83);
    send(&mut app, Msg::Train { run: 1, event: Box::new(TrainEvent::Finished(summary)) });
    let effects = send(&mut app, Msg::TrainerExited { run: 1, error: None });
    assert_eq!(effects, vec![Effect::ListRuns]);
    app
}

fn summary(id: &str, status: RunStatus, acc: f64) -> RunSummary {
    let split = SplitSummary {
        loss: 1.0 - acc,
        accuracy: acc,
        macro_f1: acc - 0.05,
        micro_f1: acc,
        weighted_f1: acc - 0.02,
        extra: std::collections::BTreeMap::new(),
        per_class: Vec::new(),
        examples: 12,
        step: 40,
    };
    RunSummary {
        run_id: id.into(),
        status,
        reason: None,
        valid: Some(split.clone()),
        test: Some(split),
        pretrain: None,
        steps: 60,
        epochs: 3.0,
        best_step: Some(40),
        train_examples_per_sec: 200.0 * acc,
        eval_examples_per_sec: 900.0,
        peak_rss_mib: 300.0,
        time_to_first_step_s: Some(0.4),
        duration_s: 95.0,
    }
}

#[test]
fn setup_screen() {
    let mut app = app();
    snap("setup", &app);
    // Move to the model field and step past the unavailable embedded model.
    keys(&mut app, "jjj");
    key(&mut app, KeyCode::Right);
    assert!(app.setup.value(bertbench::tui::form::Field::Model).contains("minilm"));
    key(&mut app, KeyCode::Left);
    key(&mut app, KeyCode::Left);
    let text = screen_text(&app, 100, 30);
    assert!(text.contains("(unavailable)") && text.contains("unavailable: not shipped"), "{text}");
    let effects = keys(&mut app, "s");
    assert!(effects.is_empty(), "an unavailable model cannot start");
    assert!(app.notice.as_ref().is_some_and(|n| n.text.contains("not shipped")));
}

#[test]
fn setup_refuses_a_bad_value_in_place() {
    let mut app = app();
    let epochs =
        app.setup.fields().iter().position(|f| *f == bertbench::tui::form::Field::Epochs).expect("field");
    app.setup.cursor = epochs;
    key(&mut app, KeyCode::Enter);
    key(&mut app, KeyCode::Backspace);
    keys(&mut app, "-2");
    assert!(screen_text(&app, 100, 30).contains("-2▏"), "the typed value is shown while editing");
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.setup.draft.train.epochs, 3, "the old value stays");
    let text = screen_text(&app, 100, 30);
    assert!(text.contains("✗ \"-2\" is not a valid number here"), "{text}");
    snap("setup-refused", &app);
}

#[test]
fn editing_a_number_starts_from_the_number_and_typing_replaces_it() {
    let mut app = app();
    let field = bertbench::tui::form::Field::MaskRatio;
    app.setup.cursor = app.setup.fields().iter().position(|f| *f == field).expect("field");
    assert!(screen_text(&app, 100, 30).contains("0 (no masked-LM stage)"), "read as words");
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.setup.editing.as_ref().map(|e| e.buffer.as_str()), Some("0"), "edited as the number");
    keys(&mut app, "0.15");
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.setup.draft.mlm.mask_ratio, 0.15, "typing replaced the 0, not appended to it");
    // Ctrl-U clears what is typed.
    key(&mut app, KeyCode::Enter);
    key(&mut app, KeyCode::Backspace);
    assert_eq!(app.setup.editing.as_ref().map(|e| e.buffer.as_str()), Some("0.1"), "Backspace edits");
    send(&mut app, Msg::Key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL)));
    keys(&mut app, "0.3");
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.setup.draft.mlm.mask_ratio, 0.3);
}

#[test]
fn choosing_another_dataset_asks_for_its_preview_and_ignores_stale_ones() {
    let mut app = app();
    let before = app.preview_request;
    let effects = key(&mut app, KeyCode::Right);
    assert!(
        matches!(&effects[..], [Effect::Preview { path, .. }] if path.ends_with("toy/train.csv")),
        "{effects:?}"
    );
    let id = preview_request(&effects);
    // The preview of the dataset chosen before arrives late: it is not shown.
    let stale = Msg::Preview { id: before, columns: vec![], result: Err("old".into()) };
    send(&mut app, stale);
    assert!(!matches!(app.setup.preview, Some(Err(_))));
    // The file cannot be used as it is, but its columns are known: the pickers offer them.
    let error = "no text column among review, stars: name it with --text-column".to_owned();
    let columns = vec!["review".to_owned(), "stars".to_owned()];
    send(&mut app, Msg::Preview { id, columns, result: Err(error) });
    let text = screen_text(&app, 100, 30);
    assert!(text.contains("no text column among review"), "{text}");
    key(&mut app, KeyCode::Down);
    let effects = key(&mut app, KeyCode::Right);
    assert_eq!(app.setup.text_column.as_deref(), Some("review"));
    assert!(
        matches!(&effects[..], [Effect::Preview { columns, .. }] if columns.text.as_deref() == Some("review")),
        "a new preview with the picked column: {effects:?}"
    );
}

#[test]
fn of_two_previews_of_one_file_the_latest_request_wins_whatever_answers_last() {
    let mut app = app();
    // The text column changed twice in a row: two requests for the same file.
    key(&mut app, KeyCode::Down);
    let first = preview_request(&key(&mut app, KeyCode::Right));
    let second = preview_request(&key(&mut app, KeyCode::Right));
    assert!(second > first);
    let answer = |id: u64, text_column: &str| {
        let Some(Ok(mut p)) = app.setup.preview.clone() else { panic!("a preview is shown") };
        text_column.clone_into(&mut p.text_column);
        Msg::Preview { id, columns: app.setup.columns.clone(), result: Ok(p) }
    };
    let (newest, stale) = (answer(second, "label"), answer(first, "text"));
    // The newer answer arrives first; the older one after it must not replace it.
    send(&mut app, newest);
    send(&mut app, stale);
    let Some(Ok(shown)) = &app.setup.preview else { panic!("a preview is shown") };
    assert_eq!(shown.text_column, "label", "the answer to the latest request is shown");
}

#[test]
fn training_screen_streams_the_run() {
    let app = training_app(30);
    let run = app.shown().expect("run");
    assert_eq!(run.state, LiveState::Training);
    assert_eq!(run.valid_scores[0].len(), 3);
    assert_eq!(run.config.head.headline_names(), ["accuracy", "macro-F1"]);
    let text = screen_text(&app, 100, 30);
    assert!(text.contains("step 30 / 60") && text.contains("TRAINING"), "{text}");
    snap("train", &app);
}

#[test]
fn on_a_gpu_the_training_screen_shows_its_memory() {
    let app = training_app(3);
    assert!(!screen_text(&app, 100, 30).contains("GPU memory"), "no GPU row on the CPU");
    let mut app = training_app(3);
    let TrainEvent::Step(mut s) = step(4) else { unreachable!() };
    s.gpu_memory = Some(bertbench::train::event::GpuMemory { used_mib: 1536.0, total_mib: 143_771.0 });
    send(&mut app, Msg::Train { run: 1, event: Box::new(TrainEvent::Step(s)) });
    let text = screen_text(&app, 100, 30);
    assert!(text.contains("GPU memory") && text.contains("1.5 / 140.4 GiB"), "{text}");
}

#[test]
fn pause_resume_and_stop_go_to_the_trainer() {
    let mut app = training_app(5);
    assert_eq!(keys(&mut app, " "), vec![Effect::Send(1, Command::Pause)]);
    send(&mut app, Msg::Train { run: 1, event: Box::new(TrainEvent::Paused { step: 5 }) });
    assert_eq!(app.shown().expect("run").state, LiveState::Paused);
    assert_eq!(keys(&mut app, "p"), vec![Effect::Send(1, Command::Resume)]);
    // Stop asks first; "n" keeps the run going.
    assert!(keys(&mut app, "s").is_empty());
    assert!(matches!(app.overlay, Some(Overlay::Confirm(_))));
    assert!(keys(&mut app, "n").is_empty());
    assert!(app.overlay.is_none());
    keys(&mut app, "s");
    assert_eq!(keys(&mut app, "y"), vec![Effect::Send(1, Command::Stop)]);
    assert_eq!(app.shown().expect("run").state, LiveState::Stopping);
}

#[test]
fn a_second_run_queues_and_starts_when_the_first_ends() {
    let mut app = training_app(3);
    keys(&mut app, "1");
    assert!(keys(&mut app, "s").is_empty(), "queued, not started");
    assert_eq!(app.live[1].state, LiveState::Queued);
    assert!(screen_text(&app, 100, 30).contains("+1 queued"));
    let summary = summary("20261128-101500-reviews", RunStatus::Finished, 0.8);
    send(&mut app, Msg::Train { run: 1, event: Box::new(TrainEvent::Finished(summary)) });
    let effects = send(&mut app, Msg::TrainerExited { run: 1, error: None });
    assert!(matches!(&effects[..], [Effect::ListRuns, Effect::StartRun(2, _)]), "{effects:?}");
    assert_eq!(app.live[1].state, LiveState::Preparing);
}

#[test]
fn a_trainer_that_dies_shows_a_failure_and_the_ui_goes_on() {
    let mut app = training_app(12);
    let error = "internal error: index out of bounds: the len is 3 but the index is 7".to_owned();
    send(&mut app, Msg::TrainerExited { run: 1, error: Some(error) });
    let run = app.shown().expect("run");
    assert_eq!(run.state, LiveState::Ended(RunStatus::Failed));
    let text = screen_text(&app, 100, 30);
    assert!(text.contains("The run failed") && text.contains("index is 7"), "{text}");
    snap("train-failed", &app);
    // The workbench still answers keys.
    keys(&mut app, "4");
    assert_eq!(app.screen, Screen::Runs);
}

#[test]
fn a_run_refused_before_it_starts_says_nothing_was_recorded() {
    let mut app = app();
    assert!(matches!(&keys(&mut app, "s")[..], [Effect::StartRun(1, _)]));
    let error = "config: max-len 128 exceeds the model's 40 positions".to_owned();
    send(&mut app, Msg::TrainerExited { run: 1, error: Some(error) });
    let text = screen_text(&app, 100, 30);
    assert!(text.contains("model's 40 positions"), "{text}");
    assert!(text.contains("nothing was recorded") && !text.contains("record is kept"), "{text}");
}

#[test]
fn quitting_during_a_run_asks_then_stops_it_then_exits() {
    let mut quitting = training_app(4);
    assert!(keys(&mut quitting, "q").is_empty());
    snap("confirm-quit", &quitting);
    assert_eq!(keys(&mut quitting, "y"), vec![Effect::Send(1, Command::Stop)]);
    assert_eq!(quitting.lifecycle, Lifecycle::Quitting(Leaving::Asked));
    let cancelled = summary("20261128-101500-reviews", RunStatus::Cancelled, 0.5);
    send(&mut quitting, Msg::Train { run: 1, event: Box::new(TrainEvent::Finished(cancelled)) });
    send(&mut quitting, Msg::TrainerExited { run: 1, error: None });
    assert_eq!(quitting.lifecycle, Lifecycle::Exited { interrupted: false });
    // Without a run, q quits at once; so does a signal, which never asks.
    let mut idle = app();
    assert!(keys(&mut idle, "q").is_empty());
    assert_eq!(idle.lifecycle, Lifecycle::Exited { interrupted: false });
    let mut busy = training_app(2);
    let signal = |why: &str, at: Instant| Msg::Signal { why: why.into(), at };
    let now = Instant::now();
    assert_eq!(send(&mut busy, signal("SIGHUP", now)), vec![Effect::Send(1, Command::Stop)]);
    assert_eq!(busy.lifecycle, Lifecycle::Quitting(Leaving::Signalled(now)));
    // While waiting for the run to stop, other keys do nothing; q again leaves at once.
    assert!(keys(&mut busy, "1s").is_empty());
    assert_eq!(busy.screen, Screen::Train);
    assert!(keys(&mut busy, "q").is_empty());
    assert_eq!(busy.lifecycle, Lifecycle::Exited { interrupted: true });
    // A second signal does not wait either; the same hangup delivered twice at once still waits
    // for the run to stop (its record says cancelled).
    let mut again = training_app(2);
    send(&mut again, signal("SIGTERM", now));
    assert!(send(&mut again, signal("SIGHUP", now + Duration::from_millis(20))).is_empty());
    assert_eq!(again.lifecycle, Lifecycle::Quitting(Leaving::Signalled(now)));
    assert!(send(&mut again, signal("SIGTERM", now + Duration::from_secs(2))).is_empty());
    assert_eq!(again.lifecycle, Lifecycle::Exited { interrupted: true });
    // A hangup loses the terminal too: noticed first, its signal still waits for the run.
    let mut hung_up = training_app(2);
    assert_eq!(send(&mut hung_up, Msg::TerminalLost), vec![Effect::Send(1, Command::Stop)]);
    assert!(send(&mut hung_up, signal("SIGHUP", now)).is_empty());
    assert!(matches!(hung_up.lifecycle, Lifecycle::Quitting(Leaving::Signalled(_))));
}

#[test]
fn the_lifecycle_says_how_the_workbench_ended_and_nothing_starts_after_the_exit() {
    // A plain quit, at once or after the run stopped: not an interruption.
    let mut idle = app();
    keys(&mut idle, "q");
    assert_eq!(idle.lifecycle, Lifecycle::Exited { interrupted: false });
    let mut waited = training_app(3);
    keys(&mut waited, "qy");
    let cancelled = summary("20261128-101500-reviews", RunStatus::Cancelled, 0.5);
    send(&mut waited, Msg::Train { run: 1, event: Box::new(TrainEvent::Finished(cancelled)) });
    send(&mut waited, Msg::TrainerExited { run: 1, error: None });
    assert_eq!(waited.lifecycle, Lifecycle::Exited { interrupted: false });
    // Not waiting for the run to stop, a lost terminal, a signal: interruptions.
    let mut forced = training_app(3);
    keys(&mut forced, "qyq");
    assert_eq!(forced.lifecycle, Lifecycle::Exited { interrupted: true });
    let mut lost = training_app(3);
    send(&mut lost, Msg::TerminalLost);
    assert_eq!(lost.lifecycle, Lifecycle::Quitting(Leaving::TerminalLost));
    send(&mut lost, Msg::TrainerExited { run: 1, error: None });
    assert_eq!(lost.lifecycle, Lifecycle::Exited { interrupted: true });
    let mut signalled = app();
    let at = Instant::now();
    assert!(send(&mut signalled, Msg::Signal { why: "SIGTERM".into(), at }).is_empty());
    assert_eq!(signalled.lifecycle, Lifecycle::Exited { interrupted: true });
    // Keys still queued behind the exit do nothing: no run starts while the loop ends.
    assert!(keys(&mut idle, "s").is_empty());
    assert!(idle.live.is_empty());
}

#[test]
fn a_queued_run_can_be_dropped_and_late_pauses_do_not_undo_a_stop() {
    let mut app = training_app(3);
    keys(&mut app, "1s");
    assert_eq!(app.shown().map(|r| r.key), Some(2));
    keys(&mut app, "s");
    let question = screen_text(&app, 100, 30);
    assert!(question.contains("from the queue? It has not started"), "{question}");
    assert!(keys(&mut app, "y").is_empty(), "nothing to send: it never started");
    assert_eq!(app.live[1].state, LiveState::Ended(RunStatus::Cancelled));
    assert!(app.queue.is_empty());
    // Back to the first run: stop it, then a pause that was already on its way arrives.
    key(&mut app, KeyCode::Left);
    keys(&mut app, "sy");
    send(&mut app, Msg::Train { run: 1, event: Box::new(TrainEvent::Paused { step: 3 }) });
    assert_eq!(app.live[0].state, LiveState::Stopping);
}

#[test]
fn a_prediction_opens_whole_with_every_class_probability() {
    let mut app = finished_app();
    keys(&mut app, "3");
    // The arrows move in the matrix until p gives the predictions the focus.
    keys(&mut app, "f");
    keys(&mut app, "pjj");
    let view = app.eval.as_ref().expect("view");
    assert_eq!((view.selected, view.cell), (2, (0, 0)), "j moved the prediction, not the cell");
    let chosen = (*view.rows().get(view.selected).expect("a prediction")).clone();
    key(&mut app, KeyCode::Enter);
    assert!(app.eval.as_ref().is_some_and(|v| v.pane == EvalPane::Detail));
    let screen = screen_text(&app, 100, 30);
    assert!(screen.contains("Prediction 3 of 12 (test)"), "{screen}");
    assert!(screen.contains(&chosen.text), "the whole text: {screen}");
    assert!(screen.contains("probability of each class"), "{screen}");
    assert!(screen.contains("← gold"), "{screen}");
    snap("eval-detail", &app);
    // Another prediction while the details are open; Esc goes back to the list.
    keys(&mut app, "j");
    assert!(screen_text(&app, 100, 30).contains("Prediction 4 of 12"));
    key(&mut app, KeyCode::Esc);
    assert!(app.eval.as_ref().is_some_and(|v| v.pane == EvalPane::Predictions && v.selected == 3));
    // A new filter starts the list over.
    keys(&mut app, "f");
    assert_eq!(app.eval.as_ref().map(|v| v.selected), Some(0));
    // c: the reliability diagram in place of the list, with the ECE and the bins.
    keys(&mut app, "c");
    let screen = screen_text(&app, 100, 30);
    let ece =
        app.eval.as_ref().and_then(|v| v.report()).and_then(|r| r.scores.calibration.as_ref()).map(|c| c.ece);
    let ece = ece.expect("the fixture's calibration");
    assert!(screen.contains("Reliability (test): share right"), "{screen}");
    assert!(screen.contains(&format!("ECE {ece:.3} over 12 decisions")), "{screen}");
    assert!(screen.contains("probability said") && screen.contains("gap"), "{screen}");
    snap("eval-calibration", &app);
    keys(&mut app, "c");
    assert!(!screen_text(&app, 100, 30).contains("Reliability (test)"));
    // p goes back to what it moves in: the list, not the diagram in its place.
    keys(&mut app, "cp");
    assert!(app.eval.as_ref().is_some_and(|v| v.pane == EvalPane::Predictions));
}

#[test]
fn evaluation_screen_filters_and_sorts_predictions() {
    let mut app = finished_app();
    keys(&mut app, "3");
    assert_eq!(app.screen, Screen::Eval);
    let view = app.eval.as_ref().expect("evaluation opened");
    assert_eq!(view.split, "test", "the test split is the headline");
    assert_eq!(view.filter, PredictionFilter::Errors);
    let rows = view.rows();
    assert_eq!(rows.len(), 2, "two mistakes at step 40");
    assert!(rows[0].confidence >= rows[1].confidence, "confident mistakes first");
    snap("eval", &app);
    // Drill into the cell gold=negative, predicted=neutral.
    key(&mut app, KeyCode::Right);
    key(&mut app, KeyCode::Enter);
    let view = app.eval.as_ref().expect("view");
    assert_eq!(view.filter, PredictionFilter::Cell(0, 1));
    assert_eq!(view.rows().len(), 2);
    assert!(view.rows().iter().all(|p| p.gold == "negative" && p.predicted == "neutral"));
    keys(&mut app, "mf");
    assert!(app.eval.as_ref().is_some_and(|v| v.normalised && v.filter == PredictionFilter::Errors));
    snap("eval-normalised", &app);
    keys(&mut app, "f");
    assert_eq!(app.eval.as_ref().map(|v| v.rows().len()), Some(12));
    keys(&mut app, "v");
    assert_eq!(app.eval.as_ref().map(|v| v.split.as_str()), Some("valid"));
    assert_eq!(
        keys(&mut app, "x"),
        vec![Effect::Export(vec![PathBuf::from("runs/20261128-101500-reviews")])]
    );
}

fn run_rows() -> Vec<RunRow> {
    let row = |id: &str, status: RunStatus, best: Option<f64>, reason: Option<&str>| RunRow {
        id: id.into(),
        label: id.split('-').skip(2).collect::<Vec<_>>().join("-"),
        dir: PathBuf::from("runs").join(id),
        status,
        reason: reason.map(str::to_owned),
        dataset: "reviews".into(),
        model: "sentence-transformers/all-MiniLM-L6-v2".into(),
        task: "seq-cls".into(),
        best: best.map(|value| Figure { name: "acc", value, split: Split::Test }),
        duration_s: best.map(|_| 754.0),
        config: Some(RunConfig { name: Some(id.into()), ..RunConfig::default() }),
    };
    vec![
        row("20261128-120000-reviews-lr3e-4", RunStatus::Running, None, None),
        row("20261128-110000-reviews-scratch", RunStatus::Finished, Some(0.6412), None),
        row("20261128-100000-reviews", RunStatus::Finished, Some(0.8813), None),
        row("20261127-180000-reviews", RunStatus::Failed, None, Some("step 7: the loss is NaN")),
        row(
            "20261127-170000-reviews",
            RunStatus::Interrupted,
            None,
            Some("the process ended without finishing the run"),
        ),
    ]
}

#[test]
fn r_resumes_an_interrupted_run_in_its_record_and_refuses_a_finished_one() {
    let mut app = app();
    keys(&mut app, "4");
    send(&mut app, Msg::RunsListed(Ok(run_rows())));
    app.runs.cursor = 1;
    assert!(keys(&mut app, "r").is_empty(), "a finished run has nothing left to do");
    assert!(app.notice.as_ref().is_some_and(|n| n.text.contains("is finished: only an interrupted")));
    app.runs.cursor = 4;
    let effects = keys(&mut app, "r");
    let dir = PathBuf::from("runs/20261127-170000-reviews");
    assert!(matches!(&effects[..], [Effect::StartRun(1, Start::Resume(d))] if *d == dir), "{effects:?}");
    assert_eq!(app.screen, Screen::Train, "its curves are shown as it goes on");
    assert_eq!(app.live[0].resumes.as_ref(), Some(&dir));
    assert_eq!(app.live[0].config.name.as_deref(), Some("20261127-170000-reviews"));
}

#[test]
fn runs_screen_marks_opens_and_deletes_with_confirmation() {
    let mut app = app();
    assert_eq!(keys(&mut app, "4"), vec![Effect::ListRuns]);
    snap("runs-empty", &app);
    send(&mut app, Msg::RunsListed(Ok(run_rows())));
    keys(&mut app, "j ");
    keys(&mut app, "j ");
    assert_eq!(app.runs.marked.len(), 2);
    keys(&mut app, " ");
    assert_eq!(app.runs.marked.len(), 1, "Space on a marked row unmarks it, where the cursor is");
    keys(&mut app, " ");
    snap("runs", &app);
    let effects = keys(&mut app, "c");
    let Effect::LoadCompare(dirs) = &effects[0] else { panic!("{effects:?}") };
    assert!(dirs[0].ends_with("20261128-100000-reviews"), "oldest first: {dirs:?}");
    // A running run cannot be deleted; a finished one asks first.
    app.runs.cursor = 0;
    assert!(keys(&mut app, "d").is_empty());
    assert!(app.overlay.is_none() && app.notice.as_ref().is_some_and(|n| n.text.contains("is running")));
    app.runs.cursor = 3;
    keys(&mut app, "d");
    assert!(matches!(app.overlay, Some(Overlay::Confirm(_))));
    let effects = keys(&mut app, "y");
    assert_eq!(effects, vec![Effect::Delete("runs/20261127-180000-reviews".into()), Effect::ListRuns]);
    app.runs.cursor = 2;
    assert_eq!(key(&mut app, KeyCode::Enter), vec![Effect::LoadEval("runs/20261128-100000-reviews".into())]);
}

fn record(id: &str, lr: f64, from_scratch: bool, acc: f64) -> RecordView {
    let mut config = RunConfig::default();
    config.data.train = "datasets/reviews/train.csv".into();
    config.train.lr = lr;
    config.model.from_scratch = from_scratch;
    let mut history = RunHistory::default();
    for n in 1..=60 {
        let TrainEvent::Step(mut s) = step(n) else { unreachable!() };
        s.loss *= if from_scratch { 1.3 } else { 0.8 };
        history.steps.push(s);
        if n % 10 == 0 {
            let (g, p) = outcomes(if from_scratch { n / 3 } else { n });
            let loss =
                if from_scratch { 1.0 / (1.0 + n as f64 / 60.0) } else { 1.0 / (1.0 + n as f64 / 20.0) };
            history.evals.push(report("valid", n, loss, &g, &p));
        }
    }
    // Six validation passages; the scratch run gets two more of them wrong.
    let gold = ["positive", "negative", "neutral", "positive", "negative", "positive"];
    let predicted: [&str; 6] = if from_scratch {
        ["positive", "positive", "neutral", "negative", "negative", "negative"]
    } else {
        ["positive", "negative", "negative", "positive", "negative", "negative"]
    };
    let texts = [
        "A warm story.",
        "Dull and long.",
        "It is a film.",
        "Funny and clever.",
        "Never again.",
        "Loved it.",
    ];
    let predictions = texts
        .iter()
        .zip(gold.iter().zip(predicted))
        .map(|(t, (g, p))| Prediction {
            text: (*t).into(),
            gold: (*g).into(),
            predicted: p.into(),
            confidence: 0.8,
            probabilities: vec![0.1, 0.1, 0.8],
        })
        .collect();
    RecordView {
        id: id.into(),
        label: if from_scratch { "reviews scratch".into() } else { "reviews".into() },
        predictions,
        predicted_split: "valid".into(),
        status: RunStatus::Finished,
        config: Some(config),
        history,
        summary: Some(summary(id, RunStatus::Finished, acc)),
    }
}

#[test]
fn compare_screen_overlays_runs_and_diffs_their_settings() {
    let mut app = app();
    let runs = vec![
        record("20261128-100000-reviews", 5e-5, false, 0.88),
        record("20261128-110000-reviews-scratch", 5e-4, true, 0.64),
    ];
    send(&mut app, Msg::CompareLoaded(Ok(runs)));
    assert_eq!(app.screen, Screen::Compare);
    let text = screen_text(&app, 100, 30);
    assert!(text.contains("train.lr") && text.contains("model.from-scratch"), "{text}");
    assert!(!text.contains("data.train"), "equal settings are not listed: {text}");
    snap("compare", &app);
    assert!(screen_text(&app, 100, 30).contains("-24.0"), "Δ against #1");
    keys(&mut app, "b");
    let text = screen_text(&app, 100, 30);
    assert!(text.contains("+24.0") && text.contains("vs #2"), "Δ against the chosen baseline: {text}");
    keys(&mut app, "b");
    keys(&mut app, "p");
    let text = screen_text(&app, 100, 30);
    assert!(
        text.contains("3 of 6 valid examples predicted differently: #1 right 2, #2 right 1, both wrong 0"),
        "{text}"
    );
    assert!(text.contains("#1 reviews · valid accuracy") && text.contains("#2 reviews scratch"), "{text}");
    snap("compare-predictions", &app);
    keys(&mut app, "p");
    keys(&mut app, "ma");
    let text = screen_text(&app, 100, 30);
    assert!(text.contains("validation score (accuracy, micro-F1, entity F1 or Pearson) by epoch"), "{text}");
}

#[test]
fn help_lists_the_keys_of_the_screen_and_explains_the_metrics() {
    let mut app = training_app(10);
    keys(&mut app, "?");
    let text = screen_text(&app, 100, 30);
    assert!(text.contains("pause or resume training") && text.contains("macro-F1"), "{text}");
    snap("help-train", &app);
    // Every glossary line can be read at 80×24, scrolling where it does not fit.
    let mut seen = String::new();
    for _ in 0..30 {
        seen.push_str(&screen_text(&app, 80, 24));
        key(&mut app, KeyCode::Down);
    }
    for (term, meaning) in bertbench::tui::view::GLOSSARY {
        assert!(seen.contains(term) && seen.contains(meaning), "{term}: {meaning} never shown at 80x24");
    }
    key(&mut app, KeyCode::Esc);
    assert!(app.overlay.is_none());
}

#[test]
fn themes_and_tiny_terminals() {
    let mut app = finished_app();
    keys(&mut app, "t");
    assert_eq!(app.theme, ThemeKind::Light);
    keys(&mut app, "t");
    snap("train-contrast", &app);
    let text = screen_text(&app, 50, 12);
    assert!(text.contains("The terminal is 50×12") && text.contains("60×16"), "{text}");
    // Every screen, filled, and the overlays draw at odd sizes without panicking.
    send(&mut app, Msg::RunsListed(Ok(run_rows())));
    send(&mut app, Msg::CompareLoaded(Ok(vec![record("a", 5e-5, false, 0.8), record("b", 5e-4, true, 0.6)])));
    send(&mut app, Msg::SweepsLoaded { sweeps: vec![sweep_entry(true, 3)], problems: Vec::new() });
    for screen in "123456".chars() {
        keys(&mut app, &screen.to_string());
        for overlay in [None, Some(Overlay::Help)] {
            app.overlay = overlay;
            for (w, h) in [(60, 16), (61, 17), (80, 24), (100, 30), (200, 60)] {
                let text = screen_text(&app, w, h);
                // The header names the screens at every size (the brand from 90 columns).
                assert!(text.contains("5 Compare") && text.contains("6 Experiments"), "{w}x{h}: {text}");
                assert_eq!(text.contains("bertbench"), w >= 90, "{w}x{h}: {text}");
            }
        }
        app.overlay = None;
    }
}

#[test]
fn a_masked_lm_stage_shows_its_epochs_metrics_and_probe_guesses() {
    let mut app = app();
    keys(&mut app, "s");
    let TrainEvent::Started(mut s) = started("20261128-101500-reviews") else { unreachable!() };
    s.mlm_steps = 20;
    s.total_steps = 80;
    send(&mut app, Msg::Train { run: 1, event: Box::new(TrainEvent::Started(s)) });
    for n in 1..=12 {
        let TrainEvent::Step(mut m) = step(n) else { unreachable!() };
        m.loss = 7.0 - n as f64 * 0.1;
        m.total_steps = 80;
        m.epoch = n as f64 / 10.0;
        send(&mut app, Msg::Train { run: 1, event: Box::new(TrainEvent::Step(m)) });
    }
    let report = bertbench::report::MlmReport {
        step: 10,
        epoch: 1.0,
        loss: 6.1,
        accuracy: 0.14,
        perplexity: 6.1f64.exp(),
        nsp_accuracy: None,
        masked_tokens: 512,
        examples: 40,
    };
    send(&mut app, Msg::Train { run: 1, event: Box::new(TrainEvent::MlmEvaluated(report)) });
    let probes = vec![bertbench::report::ProbeResult {
        text: "the movie was [MASK] .".into(),
        guesses: vec![vec![("great".into(), 0.31), ("good".into(), 0.22), ("bad".into(), 0.1)]],
        answer: Some("superb".into()),
    }];
    send(&mut app, Msg::Train { run: 1, event: Box::new(TrainEvent::MaskProbe { step: 10, probes }) });
    let text = screen_text(&app, 100, 30);
    assert!(text.contains("masked-LM epoch 1.20 / 1"), "{text}");
    assert!(text.contains("great 31%") && text.contains("perplexity"), "{text}");
    assert!(text.contains("the word: superb"), "a probe from held-out text says its word: {text}");
    assert!(text.contains("Loss: masked-LM stage") && text.contains("masked-LM held out"), "{text}");
    snap("train-mlm", &app);
    // Fine-tuning is charted alone: the stage's loss of ~6 does not set its axis.
    for n in 21..=30 {
        let TrainEvent::Step(mut m) = step(n) else { unreachable!() };
        m.loss = 0.9 - n as f64 * 0.01;
        send(&mut app, Msg::Train { run: 1, event: Box::new(TrainEvent::Step(m)) });
    }
    let text = screen_text(&app, 100, 30);
    assert!(text.contains("Loss: fine-tuning (the masked-LM stage took steps 1–20)"), "{text}");
    assert!(!text.contains("6.97") && text.contains("│0.70│"), "the axis fits fine-tuning: {text}");
}

/// An evaluation of `scores` over `labels` with its prediction rows, opened on the test split.
fn open_eval(labels: &[&str], scores: bertbench::eval::Scores, rows: Vec<Prediction>) -> App {
    let report = EvalReport {
        split: "test".into(),
        step: 30,
        epoch: 3.0,
        loss: 0.3,
        examples: rows.len(),
        examples_per_sec: 100.0,
        labels: labels.iter().map(|l| (*l).to_owned()).collect(),
        scores,
    };
    let data = bertbench::tui::app::EvalData {
        run_id: "20261128-120000-demo".into(),
        reports: [("test".to_owned(), report)].into(),
        predictions: [("test".to_owned(), rows)].into(),
    };
    let mut app = app();
    send(&mut app, Msg::EvalLoaded(Ok(data)));
    app
}

fn row(text: &str, gold: &str, predicted: &str, confidence: f32) -> Prediction {
    Prediction {
        text: text.into(),
        gold: gold.into(),
        predicted: predicted.into(),
        confidence,
        probabilities: Vec::new(),
    }
}

#[test]
fn evaluation_views_follow_the_head() {
    use bertbench::eval::{entities, multilabel, regression};
    // Label sets: a 2×2 per label; a "cell" is the texts where one label was decided wrongly.
    let names: Vec<String> = ["defense", "economy", "law"].map(String::from).to_vec();
    let gold = vec![vec![1], vec![0, 1], vec![], vec![2]];
    let probs = vec![vec![0.1, 0.9, 0.2], vec![0.2, 0.8, 0.1], vec![0.1, 0.1, 0.6], vec![0.1, 0.2, 0.9]];
    let rows = vec![
        row("taxes and tariffs", "economy", "economy", 0.8),
        row("the army and the budget", "defense|economy", "economy", 0.8),
        row("a greeting", "", "law", 0.6),
        row("the courts", "law", "law", 0.8),
    ];
    let mut app = open_eval(
        &["defense", "economy", "law"],
        multilabel::score_label_sets(&gold, &probs, 0.5, &names),
        rows,
    );
    let view = app.eval.as_ref().expect("open");
    assert_eq!(view.rows().len(), 2, "two texts with a wrong label set");
    snap("eval-multi-label", &app);
    key(&mut app, KeyCode::Enter);
    let view = app.eval.as_ref().expect("view");
    assert_eq!(view.rows().iter().map(|p| p.text.as_str()).collect::<Vec<_>>(), ["the army and the budget"]);

    // Tags: entity types with "(none)" in the confusion; sentences with their entities.
    let gold: Vec<Vec<String>> = ["B-PER I-PER O B-LOC", "O B-ORG O"]
        .iter()
        .map(|t| t.split(' ').map(String::from).collect())
        .collect();
    let predicted: Vec<Vec<String>> =
        ["B-PER I-PER O O", "O B-LOC O"].iter().map(|t| t.split(' ').map(String::from).collect()).collect();
    let types: Vec<String> = ["PER", "LOC", "ORG"].map(String::from).to_vec();
    let rows = vec![
        row("Ada Lovelace visited Paris", "B-PER I-PER O B-LOC", "B-PER I-PER O O", 0.7),
        row("the Senate voted", "O B-ORG O", "O B-LOC O", 0.9),
    ];
    let mut app = open_eval(
        &["PER", "LOC", "ORG", "(none)"],
        entities::score_entities(&gold, &predicted, &types),
        rows,
    );
    assert_eq!(app.eval.as_ref().expect("open").rows().len(), 2);
    snap("eval-token", &app);
    // Gold LOC found as nothing: only the first sentence.
    keys(&mut app, "");
    key(&mut app, KeyCode::Down);
    for _ in 0..3 {
        key(&mut app, KeyCode::Right);
    }
    key(&mut app, KeyCode::Enter);
    let view = app.eval.as_ref().expect("view");
    assert_eq!(view.filter, PredictionFilter::Cell(1, 3));
    assert_eq!(
        view.rows().iter().map(|p| p.text.as_str()).collect::<Vec<_>>(),
        ["Ada Lovelace visited Paris"]
    );
    let text = screen_text(&app, 100, 30);
    assert!(text.contains("[Ada Lovelace]PER") && text.contains("[Paris]LOC"), "{text}");

    // Values: a scatter, the errors above the mean absolute error, biggest first.
    let gold = [1800.0f32, 1850.0, 1900.0, 1950.0];
    let predicted = [1810.0f32, 1800.0, 1905.0, 1990.0];
    let rows = gold
        .iter()
        .zip(&predicted)
        .map(|(g, p)| row(&format!("a passage from {g}"), &g.to_string(), &format!("{p:.4}"), f32::NAN))
        .collect();
    let app = open_eval(&["value"], regression::score_values(&gold, &predicted), rows);
    let view = app.eval.as_ref().expect("open");
    // MAE 26.25: the errors of 50 and 40 stand out, the larger first.
    assert_eq!(view.rows().iter().map(|p| p.gold.as_str()).collect::<Vec<_>>(), ["1850", "1950"]);
    snap("eval-regression", &app);
    let text = screen_text(&app, 100, 30);
    assert!(text.contains("Pearson") && text.contains("largest error first"), "{text}");
}

/// An explanation as the explainer would send it: tokens of `text`, attention that looks at
/// the next token (and at [CLS] in the last layer), and shares that favour `favoured`.
fn explanation(text: &str, favoured: &str) -> Explanation {
    let mut tokens = vec!["[CLS]".to_owned()];
    tokens.extend(text.to_lowercase().split_whitespace().map(str::to_owned));
    tokens.push("[SEP]".into());
    let n = tokens.len();
    let mut probs = Vec::new();
    for layer in 0..2 {
        for head in 0..2 {
            for q in 0..n {
                for k in 0..n {
                    let to = if layer == 1 && head == 1 { 0 } else { (q + 1).min(n - 1) };
                    probs.push(if k == to { 0.7 } else { 0.3 / (n - 1) as f32 });
                }
            }
        }
    }
    let shares: Vec<f64> = tokens
        .iter()
        .map(|t| match t.as_str() {
            "[CLS]" | "[SEP]" => 0.0,
            t if t.contains(favoured) => 0.41,
            t if t.len() > 5 => -0.12,
            _ => 0.02,
        })
        .collect();
    let total: f64 = shares.iter().sum();
    Explanation {
        text: text.into(),
        head: bertbench::config::HeadKind::SeqCls,
        labels: labels(),
        words: vec![None; n],
        outputs: Outputs::Classes(vec![0.1, 0.15, 0.75]),
        predicted: "positive".into(),
        rollout: AttentionMaps::new(2, 2, n, probs.clone()).expect("maps").rollout(),
        attention: AttentionMaps::new(2, 2, n, probs).expect("maps"),
        attribution: Attribution {
            target: Target { class: 2, token: None },
            baseline: Baseline::Pad,
            steps: 32,
            per_token: shares,
            at_input: 0.75,
            at_baseline: 0.75 - total - 0.0004,
        },
        tokens,
    }
}

#[test]
fn an_open_prediction_is_explained_and_its_attention_shown() {
    let mut app = finished_app();
    keys(&mut app, "3fp");
    let effects = key(&mut app, KeyCode::Enter);
    let text = app.eval.as_ref().and_then(|v| v.open_prediction()).map(|p| p.text.clone()).expect("open");
    let run = PathBuf::from("runs/20261128-101500-reviews");
    assert_eq!(effects, vec![Effect::Explain { run: run.clone(), text: text.clone(), target: None }]);
    let screen = screen_text(&app, 100, 30);
    assert!(screen.contains("explaining…"), "{screen}");
    // An answer for another text (the selection moved on since) is not shown.
    let stale = explanation(&format!("{text} (another)"), "another");
    send(
        &mut app,
        Msg::Explained {
            run: run.clone(),
            text: stale.text.clone(),
            target: None,
            result: Ok(Box::new(stale)),
        },
    );
    assert!(screen_text(&app, 100, 30).contains("explaining…"));
    // Nor is one for the same text from another run's model.
    let other = explanation(&text, "another");
    let from = PathBuf::from("runs/another-run");
    send(
        &mut app,
        Msg::Explained { run: from, text: text.clone(), target: None, result: Ok(Box::new(other)) },
    );
    assert!(screen_text(&app, 100, 30).contains("explaining…"));
    let first = text.split_whitespace().next().expect("a word").to_lowercase();
    let e = explanation(&text, &first);
    send(
        &mut app,
        Msg::Explained { run: run.clone(), text: text.clone(), target: None, result: Ok(Box::new(e)) },
    );
    let screen = screen_text(&app, 100, 30);
    assert!(screen.contains("Why \"positive\""), "{screen}");
    snap("eval-explained", &app);
    keys(&mut app, "J");
    let scrolled = screen_text(&app, 100, 30);
    assert!(scrolled.contains("share: the token's part of the change"), "{scrolled}");
    assert!(scrolled.contains("+0.410"), "the favoured token's share: {scrolled}");
    // g: the next class's attributions are asked for.
    let effects = keys(&mut app, "g");
    let next = Some(Target { class: 0, token: None });
    assert_eq!(effects, vec![Effect::Explain { run: run.clone(), text: text.clone(), target: next }]);
    let mut e = explanation(&text, &first);
    e.attribution.target = Target { class: 0, token: None };
    send(
        &mut app,
        Msg::Explained { run: run.clone(), text: text.clone(), target: next, result: Ok(Box::new(e)) },
    );
    assert!(screen_text(&app, 100, 30).contains("Why \"negative\""));
    // a: the attention maps; the arrows pick one; x exports it; Esc goes back.
    keys(&mut app, "a");
    let screen = screen_text(&app, 100, 30);
    assert!(screen.contains("Attention · layer 1 of 2, head 1 of 2"), "{screen}");
    assert!(screen.contains("rollout to [CLS]"), "{screen}");
    snap("eval-attention", &app);
    key(&mut app, KeyCode::Down);
    key(&mut app, KeyCode::Right);
    assert_eq!(app.eval.as_ref().map(|v| v.attention_pick), Some((1, 1)));
    assert!(screen_text(&app, 100, 30).contains("layer 2 of 2, head 2 of 2"));
    let effects = keys(&mut app, "x");
    assert!(
        matches!(&effects[..], [Effect::ExportView { view, .. }] if matches!(**view, ExplainView::Attention { layer: 1, head: 1, .. })),
        "{effects:?}"
    );
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.eval.as_ref().map(|v| v.pane), Some(EvalPane::Detail));
    // Another prediction asks for its own explanation.
    let effects = keys(&mut app, "j");
    assert!(matches!(&effects[..], [Effect::Explain { text: t, .. }] if *t != text), "{effects:?}");
    // A failure is said in place.
    let open = app.eval.as_ref().and_then(|v| v.open_prediction()).map(|p| p.text.clone()).expect("open");
    send(
        &mut app,
        Msg::Explained {
            run: run.clone(),
            text: open,
            target: None,
            result: Err("run x has no saved model".into()),
        },
    );
    assert!(screen_text(&app, 100, 30).contains("cannot explain it: run x has no saved model"));
}

#[test]
fn a_typed_sentence_is_predicted_and_explained() {
    let mut app = finished_app();
    keys(&mut app, "3e");
    assert!(app.eval.as_ref().is_some_and(|v| v.typing));
    // While typing, keys type: q and 3 are letters here, not quit and a screen.
    assert!(keys(&mut app, "q3 wonderful").is_empty());
    key(&mut app, KeyCode::Backspace);
    keys(&mut app, "l film");
    let screen = screen_text(&app, 100, 30);
    assert!(screen.contains("sentence ▸ q3 wonderful film▏"), "{screen}");
    snap("eval-typing", &app);
    let effects = key(&mut app, KeyCode::Enter);
    let text = "q3 wonderful film".to_owned();
    let run = PathBuf::from("runs/20261128-101500-reviews");
    assert_eq!(effects, vec![Effect::Explain { run: run.clone(), text: text.clone(), target: None }]);
    let e = explanation(&text, "wonderful");
    send(&mut app, Msg::Explained { run: run.clone(), text, target: None, result: Ok(Box::new(e)) });
    let screen = screen_text(&app, 100, 30);
    assert!(screen.contains("predicted  positive (probability 0.750)"), "{screen}");
    assert!(screen.contains("Why \"positive\""), "{screen}");
    snap("eval-sentence", &app);
    // Esc back to the list; e again edits the same sentence.
    key(&mut app, KeyCode::Esc);
    keys(&mut app, "e");
    assert!(app.eval.as_ref().is_some_and(|v| v.typing && v.sentence == "q3 wonderful film"));
    key(&mut app, KeyCode::Esc);
    assert!(app.eval.as_ref().is_some_and(|v| !v.typing));
}

#[test]
fn representations_before_and_after_fine_tuning_side_by_side() {
    let mut app = finished_app();
    keys(&mut app, "3");
    assert_eq!(keys(&mut app, "r"), vec![Effect::Represent(PathBuf::from("runs/20261128-101500-reviews"))]);
    assert!(screen_text(&app, 100, 30).contains("Computing the vectors"));
    let point = |i: usize, spread: f64| {
        let g = (i % 3) as f64;
        [g * spread + (i as f64 * 0.37).sin(), (i as f64 * 0.71).cos() + g * spread * 0.5]
    };
    let scatter = |spread: f64, separation: f64| Scatter {
        points: (0..60).map(|i| point(i, spread)).collect(),
        explained: [0.41, 0.17],
        separation,
    };
    let r = Representations {
        split: "valid".into(),
        groups: labels(),
        group_of: (0..60).map(|i| i % 3).collect(),
        before: scatter(0.3, 0.08),
        before_name: "pretrained embedded".into(),
        after: scatter(4.0, 0.71),
    };
    send(
        &mut app,
        Msg::Represented { run_id: "20261128-101500-reviews".into(), result: Ok(Box::new(r.clone())) },
    );
    let screen = screen_text(&app, 100, 30);
    assert!(screen.contains("before: pretrained embedded · apart 8 %"), "{screen}");
    assert!(screen.contains("after fine-tuning · apart 71 %"), "{screen}");
    snap("eval-representations", &app);
    let effects = keys(&mut app, "x");
    assert!(
        matches!(&effects[..], [Effect::ExportView { view, .. }] if **view == ExplainView::Representations(r))
    );
    // r again: back to the evaluation; a failure is shown in place.
    keys(&mut app, "r");
    assert_eq!(app.eval.as_ref().map(|v| v.pane), Some(EvalPane::Predictions));
    // Computed once per run; never asked again while on its way; asked again after a failure,
    // which is shown in place.
    assert_eq!(keys(&mut app, "r"), Vec::new(), "computed once per run");
    keys(&mut app, "r");
    app.eval.as_mut().expect("view").representations = Some(Asked::Pending);
    assert_eq!(keys(&mut app, "rr"), Vec::new(), "on its way: not asked twice");
    app.eval.as_mut().expect("view").representations = Some(Asked::Done(Err("old".into())));
    assert_eq!(keys(&mut app, "r").len(), 1, "a failure is asked for again");
    let failed = Err("a tagging run: its vectors are per word".into());
    send(&mut app, Msg::Represented { run_id: "20261128-101500-reviews".into(), result: failed });
    assert!(screen_text(&app, 100, 30).contains("cannot show the representations"));
}

#[test]
fn the_masking_inspector_opens_from_the_new_run_screen() {
    let mut app = app();
    assert!(keys(&mut app, "i").is_empty(), "no masked-LM stage at ratio 0");
    assert!(screen_text(&app, 100, 30).contains("set a masking ratio above 0 first"));
    app.setup.draft.mlm.mask_ratio = 0.15;
    let effects = keys(&mut app, "i");
    let [Effect::InspectMasking { id, config }] = &effects[..] else { panic!("{effects:?}") };
    assert_eq!(config.mlm.mask_ratio, 0.15);
    let id = *id;
    assert!(screen_text(&app, 100, 30).contains("masking the first batch"));
    let token = |t: &str, fate: Fate| InspectedToken { token: t.into(), fate };
    let sequence = |words: &[&str], hidden: usize| {
        let mut seq = vec![token("[CLS]", Fate::Special)];
        for (i, w) in words.iter().enumerate() {
            let fate = match (i == hidden, i % 5) {
                (true, _) => Fate::Masked,
                (_, 3) if i == hidden + 3 => Fate::Random("bank".into()),
                _ => Fate::Unselected,
            };
            seq.push(token(w, fate));
        }
        seq.push(token("[SEP]", Fate::Special));
        seq
    };
    let words = ["the", "plot", "never", "goes", "anywhere", "and", "the", "acting", "is", "wooden", "."];
    let mut sequences: Vec<_> = (0..6).map(|i| sequence(&words, i)).collect();
    sequences[2][5] = token("anywhere", Fate::Kept);
    let sample = MaskingSample {
        sequences,
        counts: Counts { eligible: 66, masked: 6, random: 3, kept: 1 },
        ratio: 0.15,
        split: MaskSplit { mask: 0.8, random: 0.1 },
        whole_word: false,
    };
    // An earlier request's answer (other settings) is not shown.
    send(&mut app, Msg::MaskingInspected { id: id - 1, result: Err("stale".into()) });
    assert!(!screen_text(&app, 100, 30).contains("stale"));
    send(&mut app, Msg::MaskingInspected { id, result: Ok(Box::new(sample.clone())) });
    let screen = screen_text(&app, 100, 30);
    assert!(screen.contains("selected 10 of 66 ordinary tokens = 15.2 %"), "{screen}");
    assert!(screen.contains("[MASK]←the") && screen.contains("bank←"), "{screen}");
    snap("masking", &app);
    let effects = keys(&mut app, "x");
    assert!(
        matches!(&effects[..], [Effect::ExportView { view, .. }] if **view == ExplainView::Masking(sample))
    );
    key(&mut app, KeyCode::Esc);
    assert!(app.overlay.is_none());
}

/// A sweep over pretrained/from scratch (× label budgets when `budget`) at seeds 1 and 2,
/// its runs finished with scores that make pretraining pay, except `unfinished` of them.
fn sweep_entry(budget: bool, unfinished: usize) -> bertbench::tui::app::SweepEntry {
    use bertbench::experiment::{Results, Sweep, SweepSpec};
    let mut base = RunConfig { name: Some("reviews".into()), ..RunConfig::default() };
    base.data.train = "datasets/reviews/train.csv".into();
    base.runs_dir = "runs".into();
    let mut spec = SweepSpec { parallel: 1, seeds: vec![1, 2], ..SweepSpec::default() };
    spec.grid.insert("model.from-scratch".into(), vec![false.into(), true.into()]);
    if budget {
        spec.grid.insert("data.train-share".into(), vec![0.1.into(), 0.3.into(), 1.0.into()]);
    }
    let name = if budget { "reviews-label-budget" } else { "reviews-pretrained-vs-scratch" };
    let sweep = Sweep::new(name.into(), base, spec).expect("sweep");
    let planned = sweep.runs().expect("runs");
    let done = planned.len() - unfinished;
    let runs: Vec<bertbench::runs::RunInfo> = planned[..done]
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let c = &p.config;
            let share = c.data.train_share.unwrap_or(1.0);
            let acc = if c.model.from_scratch { 0.34 + 0.2 * share } else { 0.55 + 0.3 * share }
                + 0.01 * p.seed as f64;
            let id = format!("20261202-1{i:05}-{}", c.name.as_deref().unwrap_or(""));
            bertbench::runs::RunInfo {
                id: id.clone(),
                label: c.label.clone().unwrap_or_default(),
                dir: PathBuf::from("runs").join(&id),
                status: RunStatus::Finished,
                reason: None,
                config: Some(c.clone()),
                summary: Some(summary(&id, RunStatus::Finished, acc)),
            }
        })
        .collect();
    let results = Results::gather(&sweep, &runs, |r| {
        Some((r.config.as_ref()?.data.train_share.unwrap_or(1.0) * 1200.0) as usize)
    });
    bertbench::tui::app::SweepEntry { sweep, results }
}

#[test]
fn experiments_screen_fills_in_the_sweep_and_spells_out_the_difference() {
    let mut app = app();
    assert_eq!(keys(&mut app, "6"), vec![Effect::LoadSweeps]);
    snap("experiments-empty", &app);
    let sweeps = vec![sweep_entry(true, 2), sweep_entry(false, 0)];
    send(&mut app, Msg::SweepsLoaded { sweeps, problems: Vec::new() });
    let text = screen_text(&app, 100, 30);
    assert!(text.contains("10% of labels · pretrained") && text.contains("10/12 runs finished"), "{text}");
    assert!(text.contains("0/2 (2 pending)"), "the unfinished runs are counted: {text}");
    let said = app.experiments.current().expect("shown").results.contrast_lines();
    assert!(said[0].starts_with("pretrained vs from scratch at 10% of labels: +22.0 points"), "{said:?}");
    assert!(text.contains("pretrained vs from scratch at 10% of"), "the difference is on screen: {text}");
    snap("experiments", &app);
    // Sorted by score, the best setting leads; Enter opens its first finished run.
    keys(&mut app, "o");
    assert!(app.experiments.rows()[0].best);
    let effects = key(&mut app, KeyCode::Enter);
    assert!(
        matches!(&effects[..], [Effect::LoadEval(dir)] if dir.to_string_lossy().contains("100-of-labels-pretrained")),
        "{effects:?}"
    );
    let Effect::LoadCompare(dirs) = &keys(&mut app, "c")[0] else { panic!("compare") };
    assert_eq!(dirs.len(), 10, "every finished run of the sweep");
    assert!(
        matches!(&keys(&mut app, "x")[..], [Effect::ExportSweep(r)] if r.sweep.starts_with("reviews-label-budget"))
    );
    assert!(matches!(&keys(&mut app, "s")[..], [Effect::RunSweep(s)] if s.settings.len() == 6));
    // The other sweep varies no number: its settings as bars.
    keys(&mut app, "l");
    let text = screen_text(&app, 100, 30);
    assert!(
        text.contains("by setting, 0 to 1 (mean ± sd)") && text.contains("pretrained vs from scratch: +31.0"),
        "{text}"
    );
    snap("experiments-ab", &app);
}

#[test]
fn b_on_new_run_queues_pretrained_and_from_scratch_and_says_what_pretraining_was_worth() {
    let mut app = app();
    let effects = keys(&mut app, "b");
    let [Effect::RunSweep(sweep)] = &effects[..] else { panic!("{effects:?}") };
    assert_eq!(sweep.varied(), ["model.from-scratch"]);
    assert_eq!(sweep.seeds, vec![42]);
    let runs: Vec<(RunConfig, Option<PathBuf>)> =
        sweep.runs().expect("runs").into_iter().map(|p| (p.config, None)).collect();
    let effects = send(&mut app, Msg::SweepWork { id: sweep.id.clone(), runs: runs.clone() });
    assert!(
        matches!(&effects[..], [Effect::StartRun(1, Start::New(c)), Effect::LoadSweeps] if !c.model.from_scratch),
        "{effects:?}"
    );
    assert_eq!(app.queue.len(), 1);
    assert_eq!(
        app.live.iter().map(bertbench::tui::app::LiveRun::name).collect::<Vec<_>>(),
        ["pretrained", "from scratch"]
    );
    // Asked again while they are queued: nothing is queued twice.
    send(&mut app, Msg::SweepWork { id: sweep.id.clone(), runs });
    assert_eq!(app.live.len(), 2);
    for key in [1, 2] {
        send(&mut app, Msg::TrainerExited { run: key, error: Some("stopped".into()) });
    }
    let mut entry = sweep_entry(false, 0);
    entry.sweep.id.clone_from(&sweep.id);
    entry.results.sweep.clone_from(&sweep.id);
    // Listed after an older sweep, the one just started is the one screen 6 shows.
    send(&mut app, Msg::SweepsLoaded { sweeps: vec![sweep_entry(true, 0), entry], problems: Vec::new() });
    assert_eq!(app.experiments.current().map(|e| e.sweep.id.clone()), Some(sweep.id.clone()));
    let notice = app.notice.as_ref().map(|n| n.text.clone()).unwrap_or_default();
    assert!(
        notice.starts_with("pretrained vs from scratch: +31.0 points of test accuracy (2 seeds"),
        "{notice}"
    );
    assert!(app.experiments.watching.is_empty(), "said once");
}

#[test]
fn seeds_per_setting_turn_a_start_into_a_sweep_of_seeds() {
    let mut app = app();
    let at = app.setup.fields().iter().position(|f| *f == bertbench::tui::form::Field::Seeds).expect("field");
    app.setup.cursor = at;
    key(&mut app, KeyCode::Enter);
    keys(&mut app, "3");
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.setup.seeds, 3);
    let effects = keys(&mut app, "s");
    let [Effect::RunSweep(sweep)] = &effects[..] else { panic!("{effects:?}") };
    assert_eq!((sweep.settings.len(), sweep.seeds.clone()), (1, vec![42, 43, 44]));
    key(&mut app, KeyCode::Enter);
    keys(&mut app, "99");
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.setup.seeds, 3, "a value out of range is refused");
    assert!(app.setup.error.as_ref().is_some_and(|e| e.1.contains("1 to 20")));
}

#[test]
fn a_run_is_labelled_on_the_runs_screen() {
    let mut app = app();
    keys(&mut app, "4");
    send(&mut app, Msg::RunsListed(Ok(run_rows())));
    app.runs.cursor = 1;
    keys(&mut app, "n");
    assert_eq!(app.runs.renaming.as_ref().map(|r| r.1.as_str()), Some("reviews-scratch"));
    send(&mut app, Msg::Key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL)));
    keys(&mut app, "baseline, no pretraining");
    assert!(screen_text(&app, 100, 30).contains("label: baseline, no pretraining"));
    let effects = key(&mut app, KeyCode::Enter);
    let dir = PathBuf::from("runs/20261128-110000-reviews-scratch");
    assert_eq!(
        effects,
        vec![Effect::Rename { dir, label: "baseline, no pretraining".into() }, Effect::ListRuns]
    );
    keys(&mut app, "n");
    key(&mut app, KeyCode::Esc);
    assert!(app.runs.renaming.is_none(), "Esc leaves the label as it was");
}

#[test]
fn a_recipe_loads_into_the_form_and_a_lesson_starts_its_sweep() {
    use bertbench::tui::app::{Recipe, RecipeEntry};
    let mut app = app();
    assert_eq!(keys(&mut app, "o"), vec![Effect::ListRecipes]);
    let mut run = RunConfig { name: Some("reviews-long".into()), ..RunConfig::default() };
    run.data.train = "datasets/reviews/train.csv".into();
    run.model.source = "org/minilm".into();
    run.train.epochs = 7;
    run.train.lr = 2e-5;
    run.train.weight_decay = 0.01;
    let lesson = sweep_entry(false, 4).sweep;
    let entries = vec![
        RecipeEntry {
            path: "recipes/bad.toml".into(),
            about: String::new(),
            recipe: Err("unknown field `lrr`".into()),
        },
        RecipeEntry {
            path: "recipes/lesson.toml".into(),
            about: "Lesson 1".into(),
            recipe: Ok(Recipe::Sweep(Box::new(lesson.clone()))),
        },
        RecipeEntry {
            path: "recipes/reviews-long.toml".into(),
            about: "Longer fine-tuning of MiniLM on the reviews".into(),
            recipe: Ok(Recipe::Run(Box::new(run))),
        },
    ];
    send(&mut app, Msg::RecipesListed(entries));
    let text = screen_text(&app, 100, 30);
    assert!(
        text.contains("lesson.toml  (sweep: 4 runs)") && text.contains("Longer fine-tuning of MiniLM"),
        "{text}"
    );
    snap("recipes", &app);
    key(&mut app, KeyCode::Enter);
    assert!(
        app.notice.as_ref().is_some_and(|n| n.text.contains("unknown field `lrr`")),
        "a bad recipe says why"
    );
    keys(&mut app, "jj");
    let effects = key(&mut app, KeyCode::Enter);
    assert!(app.overlay.is_none());
    assert!(
        matches!(&effects[..], [Effect::Preview { path, .. }] if path.ends_with("reviews/train.csv")),
        "{effects:?}"
    );
    let config = app.setup.to_config(&PathBuf::from("runs")).expect("the recipe is a run");
    assert_eq!(
        (config.train.epochs, config.train.weight_decay, config.model.source.as_str()),
        (7, 0.01, "org/minilm")
    );
    assert!((config.train.lr - 2e-5).abs() < 1e-12, "the recipe's learning rate, not the model's suggestion");
    keys(&mut app, "o");
    send(
        &mut app,
        Msg::RecipesListed(vec![RecipeEntry {
            path: "recipes/lesson.toml".into(),
            about: String::new(),
            recipe: Ok(Recipe::Sweep(Box::new(lesson.clone()))),
        }]),
    );
    let effects = key(&mut app, KeyCode::Enter);
    assert!(matches!(&effects[..], [Effect::RunSweep(s)] if s.id == lesson.id), "{effects:?}");
}
