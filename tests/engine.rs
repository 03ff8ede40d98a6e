//! End-to-end tests of the fine-tuning engine on tiny models built in code.

mod common;

use std::path::Path;
use std::sync::mpsc;

use bertbench::config::RunConfig;
use bertbench::data::batch::Batcher;
use bertbench::model::checkpoint::Classifier;
use bertbench::report::RunStatus;
use bertbench::runs::launch::RunThread;
use bertbench::runs::{Start, list_runs};
use bertbench::train::event::RunStarted;
use bertbench::train::{Command, TrainEvent, device_from};
use common::{run_recorded, tiny_run, toy_rows, write_csv};

fn toy_config(root: &Path) -> RunConfig {
    let train = write_csv(&root.join("train.csv"), &toy_rows(240, 1));
    let valid = write_csv(&root.join("valid.csv"), &toy_rows(60, 2));
    tiny_run(root, train, valid)
}

/// The `Started` event of a run.
fn started(events: &[TrainEvent]) -> RunStarted {
    events
        .iter()
        .find_map(|e| if let TrainEvent::Started(s) = e { Some(s.clone()) } else { None })
        .expect("a started event")
}

fn step_losses(events: &[TrainEvent]) -> Vec<f64> {
    events.iter().filter_map(|e| if let TrainEvent::Step(s) = e { Some(s.loss) } else { None }).collect()
}

#[test]
fn fine_tuning_learns_the_toy_task_and_leaves_a_complete_record() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut config = toy_config(tmp.path());
    config.train.eval_every = Some(20);
    let steps = 240 / 16 * config.train.epochs;
    let (summary, events, dir) = run_recorded(config);
    assert_eq!(summary.status, RunStatus::Finished, "{:?}", summary.reason);

    let losses = step_losses(&events);
    assert_eq!(losses.len(), steps, "240 examples / 16 per step, every epoch");
    let head: f64 = losses[..10].iter().sum::<f64>() / 10.0;
    let tail: f64 = losses[losses.len() - 10..].iter().sum::<f64>() / 10.0;
    assert!(tail < head * 0.5, "loss should fall: first {head:.3}, last {tail:.3}");
    let valid = summary.valid.as_ref().expect("valid metrics");
    assert!(valid.accuracy > 0.9, "valid accuracy {}", valid.accuracy);
    // Periodic and epoch-end evaluations, then the final one with predictions.
    let evals = events.iter().filter(|e| matches!(e, TrainEvent::Evaluated(_))).count();
    assert!(evals >= 5, "{evals} evaluations");
    assert!(matches!(events.last(), Some(TrainEvent::Finished(_))));

    // The record on disk.
    let status = std::fs::read_to_string(dir.join("status")).expect("status");
    assert!(status.starts_with("finished"), "{status}");
    let on_disk: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).expect("summary"))
            .expect("json");
    assert_eq!(on_disk["status"], "finished");
    assert_eq!(on_disk["run_id"], summary.run_id.as_str());
    for key in ["accuracy", "macro_f1", "loss"] {
        assert!(on_disk["valid"][key].is_number(), "valid.{key} in {on_disk}");
    }
    for key in ["train_examples_per_sec", "eval_examples_per_sec", "peak_rss_mib"] {
        assert!(on_disk[key].as_f64().is_some_and(|v| v > 0.0), "{key} in {on_disk}");
    }
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(dir.join("events.jsonl"))
        .expect("events")
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert_eq!(lines.iter().filter(|l| l["event"] == "step").count(), steps);
    let config_toml = std::fs::read_to_string(dir.join("config.toml")).expect("config");
    assert!(config_toml.contains("dataset-sha256") && config_toml.contains("seed = 42"), "{config_toml}");
    let confusion: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("confusion.json")).expect("confusion"))
            .expect("json");
    let matrix_total: u64 = confusion["valid"]["matrix"]
        .as_array()
        .expect("matrix")
        .iter()
        .flat_map(|r| r.as_array().expect("row").iter().map(|v| v.as_u64().expect("count")))
        .sum();
    assert_eq!(matrix_total, 60);
    let csv = std::fs::read_to_string(dir.join("predictions.csv")).expect("predictions");
    assert!(csv.starts_with("split,text,gold,predicted,correct,confidence,p_neg,p_pos"), "{csv}");
    assert_eq!(csv.lines().count(), 61);
    assert!(dir.join("predictions.parquet").is_file());
    // Evaluation batches by length, but predictions keep the file's order.
    let texts: Vec<String> = toy_rows(60, 2).into_iter().map(|r| r.0).collect();
    for (line, text) in csv.lines().skip(1).zip(&texts) {
        assert!(line.starts_with(&format!("valid,{text},")), "{line} vs {text}");
    }

    // The saved model reloads and scores the same as the final evaluation reported.
    let clf =
        Classifier::load_fine_tuned(&dir.join("model"), &device_from("cpu").expect("cpu")).expect("reload");
    assert_eq!(clf.labels, ["neg", "pos"]);
    let examples =
        bertbench::data::load_examples(&tmp.path().join("valid.csv"), &bertbench::data::Columns::default())
            .expect("valid");
    let labels = bertbench::data::LabelSet::from_names(clf.labels.clone());
    let how = bertbench::data::Encoding {
        tokenizer: &clf.tokenizer,
        labels: &labels,
        head: bertbench::config::HeadKind::SeqCls,
        separator: "|",
        max_len: 32,
    };
    let set = bertbench::data::Encoded::new(examples, &how).expect("encode");
    let (report, _) = bertbench::eval::evaluate(
        &clf,
        "valid",
        &set,
        64,
        &Batcher::new(clf.tokenizer.pad_id, &candle_core::Device::Cpu),
        bertbench::eval::multilabel::Threshold::At(0.5),
    )
    .expect("eval");
    assert!((report.scores.accuracy - valid.accuracy).abs() < 1e-9);
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("model/config.json")).expect("cfg"))
            .expect("json");
    assert_eq!(saved["id2label"]["1"], "pos");
    assert_eq!(saved["architectures"][0], "BertForSequenceClassification");
}

#[test]
fn the_same_seed_gives_the_same_loss_curve() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut config = toy_config(tmp.path());
    config.train.epochs = 1;
    let (_, a, _) = run_recorded(config.clone());
    let (_, b, _) = run_recorded(config.clone());
    assert_eq!(step_losses(&a), step_losses(&b));
    config.train.seed = 43;
    let (_, c, _) = run_recorded(config);
    assert_ne!(step_losses(&a), step_losses(&c));
}

#[test]
fn bf16_runs_repeat_their_curve_apart_from_f32_or_are_refused() {
    use bertbench::model::gemm::Kernel;
    use bertbench::model::precision::Precision;
    let tmp = tempfile::tempdir().expect("tmp");
    let mut config = toy_config(tmp.path());
    // 256 wide, batches of 32 texts: every product of the layers has sides of 256 and more,
    // so bf16 runs them (narrower ones stay f32).
    let tiny = common::Tiny { hidden: 256, layers: 1, heads: 4, ..common::Tiny::default() };
    config.model.source = common::write_tiny_bert(&tmp.path().join("wide"), tiny).display().to_string();
    (config.train.epochs, config.train.batch_size, config.data.max_train) = (1, 32, Some(96));
    config.precision = Precision::Bf16;
    if Kernel::bf16().is_none() {
        let (_tx, rx) = mpsc::channel();
        let mut events = bertbench::train::event::Collect::default();
        let refused = bertbench::runs::launch(Start::New(Box::new(config)), &mut events, &rx, |_| {});
        let Err(e) = refused else { panic!("bf16 should be refused on a CPU without a bf16 kernel") };
        let message = e.to_string();
        assert!(message.contains("--precision f32"), "{message}");
        return;
    }
    let (_, a, dir) = run_recorded(config.clone());
    let (_, b, _) = run_recorded(config.clone());
    assert_eq!(started(&a).precision, "bf16");
    assert!(
        std::fs::read_to_string(dir.join("config.toml")).expect("config").contains("precision = \"bf16\"")
    );
    assert_eq!(step_losses(&a), step_losses(&b), "the same seed gives the same bf16 curve");
    config.precision = Precision::F32;
    let (_, c, _) = run_recorded(config);
    assert_eq!(started(&c).precision, "f32");
    let (bf16, f32) = (step_losses(&a), step_losses(&c));
    assert_ne!(bf16, f32, "bf16 products change the losses");
    let worst = bf16.iter().zip(&f32).map(|(x, y)| (x - y).abs() / y.abs()).fold(0.0, f64::max);
    assert!(worst < 0.05, "bf16 losses within 5 % of f32's: {bf16:?} against {f32:?}");
}

#[test]
fn pause_then_stop_ends_as_cancelled_with_a_checkpoint() {
    let tmp = tempfile::tempdir().expect("tmp");
    let config = toy_config(tmp.path());
    let handle = RunThread::start(Start::New(Box::new(config))).expect("start");
    handle.commands.send(Command::Pause).expect("pause");
    let mut saw_pause = false;
    for event in &handle.events {
        match event {
            TrainEvent::Paused { .. } => {
                saw_pause = true;
                handle.commands.send(Command::Stop).expect("stop");
            }
            TrainEvent::Step(s) => {
                assert!(s.step <= 1, "trained on while paused (step {})", s.step);
            }
            TrainEvent::Finished(_) => break,
            _ => {}
        }
    }
    assert!(saw_pause);
    let bertbench::runs::Launched { dir, summary } = handle.join().expect("join");
    assert_eq!(summary.status, RunStatus::Cancelled);
    assert!(std::fs::read_to_string(dir.join("status")).expect("status").starts_with("cancelled"));
    assert!(dir.join("model/model.safetensors").is_file(), "a stopped run keeps a checkpoint");
    let listed = list_runs(&tmp.path().join("runs")).expect("list");
    assert_eq!(listed[0].status, RunStatus::Cancelled);
}

#[test]
fn a_diverging_loss_fails_the_run_and_names_the_step() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut config = toy_config(tmp.path());
    config.train.lr = 1e12;
    config.train.max_grad_norm = 0.0;
    let (summary, _, dir) = run_recorded(config);
    assert_eq!(summary.status, RunStatus::Failed);
    let reason = summary.reason.expect("reason");
    assert!(reason.contains("loss became") && reason.contains("at step"), "{reason}");
    let status = std::fs::read_to_string(dir.join("status")).expect("status");
    assert!(status.starts_with("failed") && status.contains("loss became"), "{status}");
}

#[test]
fn a_killed_run_is_listed_as_interrupted() {
    let tmp = tempfile::tempdir().expect("tmp");
    let run = tmp.path().join("runs/20260101-000000-x");
    std::fs::create_dir_all(&run).expect("mkdir");
    // A pid that cannot be alive: above the kernel's maximum.
    std::fs::write(run.join("status"), "running\npid: 4294967\n").expect("status");
    std::fs::write(run.join("config.toml"), "[data]\ntrain = \"t.csv\"\n").expect("config");
    let half = tmp.path().join("runs/20260101-000001-y");
    std::fs::create_dir_all(&half).expect("mkdir");
    std::fs::write(half.join("config.toml"), "not = [valid toml").expect("config");
    let runs = list_runs(&tmp.path().join("runs")).expect("list");
    assert_eq!(runs.len(), 2);
    assert!(runs.iter().all(|r| r.status == RunStatus::Interrupted), "{runs:?}");
}

#[test]
fn freezing_the_encoder_trains_only_the_head() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut config = toy_config(tmp.path());
    config.train.epochs = 1;
    config.train.freeze_encoder = true;
    let (summary, events, dir) = run_recorded(config);
    assert_eq!(summary.status, RunStatus::Finished, "{:?}", summary.reason);
    let started = started(&events);
    assert_eq!(started.trainable_parameters, 32 * 2 + 2);
    let before =
        candle_core::safetensors::load(tmp.path().join("model/model.safetensors"), &candle_core::Device::Cpu)
            .expect("before");
    let after =
        candle_core::safetensors::load(dir.join("model/model.safetensors"), &candle_core::Device::Cpu)
            .expect("after");
    let name = "encoder.layer.1.output.dense.weight";
    let diff = (&before[name] - &after[&format!("bert.{name}")])
        .expect("diff")
        .abs()
        .expect("abs")
        .max_all()
        .expect("max");
    assert_eq!(diff.to_scalar::<f32>().expect("scalar"), 0.0);
}

#[test]
fn a_label_unseen_in_training_is_refused_with_its_row() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut config = toy_config(tmp.path());
    let mut rows = toy_rows(10, 3);
    rows[6].1 = "neutral";
    config.data.valid = Some(write_csv(&tmp.path().join("odd.csv"), &rows));
    let (summary, _, _) = run_recorded(config);
    assert_eq!(summary.status, RunStatus::Failed);
    let reason = summary.reason.expect("reason");
    assert!(
        reason.contains("odd.csv") && reason.contains("row 7") && reason.contains("\"neutral\""),
        "{reason}"
    );
}

#[test]
fn early_stopping_ends_the_run_when_validation_stops_improving() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut config = toy_config(tmp.path());
    // A learning rate too small to change any prediction: accuracy never improves.
    config.train.lr = 1e-12;
    config.train.eval_every = Some(3);
    config.train.patience = Some(2);
    let (summary, events, _) = run_recorded(config);
    assert_eq!(summary.status, RunStatus::Finished);
    assert!(summary.reason.as_deref().is_some_and(|r| r.contains("early stopping")), "{:?}", summary.reason);
    assert_eq!(summary.steps, 9, "evaluations at steps 3 (best), 6 and 9 (two without gain)");
    assert_eq!(summary.best_step, Some(3));
    assert_eq!(step_losses(&events).len(), 9);
}

#[test]
fn a_scratch_model_trains_its_own_vocabulary_and_learns() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut config = toy_config(tmp.path());
    config.model.source = "scratch:tiny".into();
    config.train.lr = 1e-3;
    let (summary, events, dir) = run_recorded(config);
    assert_eq!(summary.status, RunStatus::Finished, "{:?}", summary.reason);
    assert!(summary.valid.expect("valid").accuracy > 0.9);
    let started = started(&events);
    assert!(started.initialised[0].contains("from scratch"));
    let vocab = std::fs::read_to_string(dir.join("model/vocab.txt")).expect("vocab");
    assert!(vocab.lines().any(|l| l == "awful"), "the vocabulary comes from the training texts");
}

#[test]
fn a_requested_snapshot_never_replaces_the_best_checkpoint() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut config = toy_config(tmp.path());
    config.train.epochs = 2;
    let handle = RunThread::start(Start::New(Box::new(config))).expect("start");
    handle.commands.send(Command::SaveCheckpoint).expect("save");
    let events: Vec<TrainEvent> = handle.events.iter().collect();
    let bertbench::runs::Launched { dir, summary } = handle.join().expect("join");
    assert_eq!(summary.status, RunStatus::Finished, "{:?}", summary.reason);
    assert!(dir.join("checkpoint-step-0/model.safetensors").is_file(), "the snapshot has its own folder");
    assert!(dir.join("model/model.safetensors").is_file());
    let best = summary.best_step.expect("best step");
    assert!(best > 0, "the best checkpoint comes from a validation, not the snapshot");
    let saved: Vec<usize> = events
        .iter()
        .filter_map(|e| if let TrainEvent::CheckpointSaved { step, .. } = e { Some(*step) } else { None })
        .collect();
    assert_eq!(saved[0], 0);
}

#[test]
fn a_test_file_alone_still_gets_a_validation_split_from_training() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut config = toy_config(tmp.path());
    config.train.epochs = 1;
    config.data.test = config.data.valid.take();
    let (summary, events, _) = run_recorded(config);
    assert_eq!(summary.status, RunStatus::Finished, "{:?}", summary.reason);
    let started = started(&events);
    assert_eq!((started.train_examples, started.valid_examples, started.test_examples), (216, 24, 60));
    assert!(summary.valid.is_some() && summary.test.is_some());
}

/// A sink that panics at the first training step, standing in for any bug inside a run.
struct PanicAtFirstStep;

impl bertbench::train::EventSink for PanicAtFirstStep {
    fn emit(&mut self, event: &TrainEvent) -> bertbench::Result<bertbench::train::Flow> {
        assert!(!matches!(event, TrainEvent::Step(_)), "boom at the first step");
        Ok(bertbench::train::Flow::Continue)
    }
}

#[test]
fn a_panic_inside_a_run_becomes_a_failed_run() {
    let tmp = tempfile::tempdir().expect("tmp");
    let config = toy_config(tmp.path());
    let (_tx, rx) = mpsc::channel();
    let launched = bertbench::runs::launch(Start::New(Box::new(config)), &mut PanicAtFirstStep, &rx, |_| {})
        .expect("run");
    assert_eq!(launched.summary.status, RunStatus::Failed);
    let reason = launched.summary.reason.expect("reason");
    assert!(reason.contains("internal error") && reason.contains("boom at the first step"), "{reason}");
    let status = std::fs::read_to_string(launched.dir.join("status")).expect("status");
    assert!(status.starts_with("failed"), "{status}");
}

#[test]
fn a_masked_lm_stage_comes_first_in_the_same_run() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut config = toy_config(tmp.path());
    config.train.epochs = 2;
    config.mlm.mask_ratio = 0.15;
    config.mlm.epochs = 2;
    config.mlm.probes = vec!["the movie was [MASK] .".into()];
    let (summary, events, dir) = run_recorded(config);
    assert_eq!(summary.status, RunStatus::Finished, "{:?}", summary.reason);
    let total = started(&events).total_steps;
    let steps: Vec<usize> =
        events.iter().filter_map(|e| if let TrainEvent::Step(s) = e { Some(s.step) } else { None }).collect();
    assert_eq!(steps, (1..=total).collect::<Vec<_>>(), "one step count across both stages");
    let fine_tune_steps = 240 / 16 * 2;
    assert!(total > fine_tune_steps, "the stage adds steps: {total}");
    // The masked-LM evaluations (and probes) come before the first classification evaluation.
    let first_mlm = events.iter().position(|e| matches!(e, TrainEvent::MlmEvaluated(_))).expect("mlm eval");
    let first_probe = events.iter().position(|e| matches!(e, TrainEvent::MaskProbe { .. })).expect("probe");
    let first_eval = events.iter().position(|e| matches!(e, TrainEvent::Evaluated(_))).expect("eval");
    assert!(first_mlm < first_eval && first_probe < first_eval);
    assert!(summary.pretrain.is_some() && summary.valid.is_some());
    // The kept model is a classifier: the masked-LM head is not saved with it.
    let tensors =
        candle_core::safetensors::load(dir.join("model/model.safetensors"), &candle_core::Device::Cpu)
            .expect("w");
    assert!(tensors.keys().all(|k| !k.starts_with("cls.")), "{:?}", tensors.keys().collect::<Vec<_>>());
    assert!(tensors.contains_key("classifier.weight"));
    // The log holds both stages.
    let log = std::fs::read_to_string(dir.join("events.jsonl")).expect("log");
    assert!(
        log.contains("\"mlm_evaluated\"") && log.contains("\"mask_probe\"") && log.contains("\"evaluated\"")
    );
}

#[test]
fn a_run_stopped_in_its_masked_lm_stage_is_cancelled_with_no_fine_tuning_epochs() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut config = toy_config(tmp.path());
    config.mlm.mask_ratio = 0.15;
    config.mlm.epochs = 2;
    let handle = RunThread::start(Start::New(Box::new(config))).expect("start");
    let (mut stage_steps, mut last_step) = (0, 0);
    for event in &handle.events {
        match &event {
            TrainEvent::Started(s) => stage_steps = s.mlm_steps,
            TrainEvent::Step(s) => {
                if last_step == 0 {
                    handle.commands.send(Command::Stop).expect("stop");
                }
                last_step = s.step;
            }
            TrainEvent::Finished(_) => break,
            _ => {}
        }
    }
    assert!(
        last_step > 0 && last_step < stage_steps,
        "stopped in the stage: step {last_step} of {stage_steps}"
    );
    let bertbench::runs::Launched { dir, summary } = handle.join().expect("join");
    assert_eq!(summary.status, RunStatus::Cancelled);
    assert_eq!(summary.epochs, 0.0, "the stage's epochs are not fine-tuning's");
    assert!(summary.train_examples_per_sec == 0.0, "no fine-tuning step was taken: {summary:?}");
    assert!(dir.join("model/model.safetensors").is_file(), "a stopped run keeps a checkpoint");
}
