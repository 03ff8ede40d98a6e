//! Masked-LM pretraining on tiny models built in code: the loss falls, a memorised sentence
//! is filled in, the heads keep Hugging Face's names, next-sentence prediction is scored, and
//! the commands work from the shell.

use std::path::{Path, PathBuf};
use std::sync::mpsc;

use bertbench::config::{RunConfig, RunKind};
use bertbench::model::pretraining::MaskedLm;
use bertbench::report::{MlmReport, RunStatus};
use bertbench::runs::Start;
use bertbench::train::TrainEvent;
use bertbench::train::event::Collect;
use candle_core::{Device, Tensor};

const SENTENCES: [&str; 4] = [
    "the cat sat on the mat .",
    "the dog slept in the barn .",
    "a bird sang in the tree .",
    "the fish swam in the lake .",
];

/// A corpus of documents made of the first `kinds` sentences above, in turn.
fn write_corpus(dir: &Path, docs: usize, kinds: usize) -> PathBuf {
    let text: Vec<String> =
        (0..docs).map(|d| (0..4).map(|s| SENTENCES[(d + s) % kinds]).collect::<Vec<_>>().join(" ")).collect();
    let path = dir.join("corpus.txt");
    std::fs::write(&path, text.join("\n\n")).expect("write corpus");
    path
}

fn config(root: &Path, epochs: usize) -> RunConfig {
    let mut c = RunConfig { kind: RunKind::Pretrain, ..RunConfig::default() };
    c.model.source = "scratch:tiny".into();
    c.mlm.corpus = vec![write_corpus(root, 120, 4)];
    c.mlm.mask_ratio = 0.15;
    c.mlm.epochs = epochs;
    c.mlm.vocab_size = 200;
    c.mlm.held_out = 0.1;
    c.mlm.probes = vec!["the cat sat on the [MASK] .".into()];
    c.train.lr = 2e-3;
    c.train.batch_size = 8;
    c.train.max_len = 48;
    c.runs_dir = root.join("runs");
    c
}

fn pretrain(c: &RunConfig) -> (Vec<TrainEvent>, PathBuf) {
    let (_commands, inbox) = mpsc::channel();
    let mut collect = Collect::default();
    let launched =
        bertbench::runs::launch(Start::New(Box::new(c.clone())), &mut collect, &inbox, |_| {}).expect("run");
    let summary = launched.summary;
    assert_eq!(summary.status, RunStatus::Finished, "{:?}", summary.reason);
    (collect.0, launched.dir)
}

fn mlm_reports(events: &[TrainEvent]) -> Vec<&MlmReport> {
    events.iter().filter_map(|e| if let TrainEvent::MlmEvaluated(r) = e { Some(r) } else { None }).collect()
}

#[test]
fn the_loss_falls_and_sentence_endings_are_learned() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (events, dir) = pretrain(&config(tmp.path(), 12));
    let reports = mlm_reports(&events);
    let (first, last) = (reports[0], reports[reports.len() - 1]);
    assert!(last.loss < first.loss * 0.5, "held-out loss {} -> {}", first.loss, last.loss);
    assert!(last.accuracy > 0.5, "held-out masked-token accuracy {}", last.accuracy);
    // A model no better than a uniform guess scores the vocabulary size (200); one that has
    // learned, far less, and never below 1.
    assert!(first.perplexity > last.perplexity, "{} -> {}", first.perplexity, last.perplexity);
    assert!(last.perplexity > 1.0 && last.perplexity < 20.0, "perplexity {}", last.perplexity);
    // Probes were filled at each evaluation.
    let probes = events.iter().filter(|e| matches!(e, TrainEvent::MaskProbe { .. })).count();
    assert_eq!(probes, reports.len());
    // The kept model has learned what ends these sentences.
    let lm = MaskedLm::load(&dir.join("model"), &Device::Cpu).expect("load");
    let result = lm.fill_mask("the cat sat on the [MASK] .", 3).expect("fill");
    let top = &result.guesses[0][0].0;
    assert!(["mat", "barn", "tree", "lake"].contains(&top.as_str()), "{:?}", result.guesses[0]);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).expect("summary"))
            .expect("json");
    assert!(summary["pretrain"]["loss"].as_f64().is_some(), "{summary}");
    assert!(lm.fill_mask("no mask here", 3).expect_err("no mask").to_string().contains("no [MASK]"));
}

#[test]
fn without_probes_of_its_own_a_run_probes_its_held_out_text() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut c = config(tmp.path(), 2);
    c.mlm.probes.clear();
    let (events, _) = pretrain(&c);
    let probes: Vec<&bertbench::report::ProbeResult> = events
        .iter()
        .filter_map(|e| if let TrainEvent::MaskProbe { probes, .. } = e { Some(probes) } else { None })
        .flatten()
        .collect();
    assert!(!probes.is_empty(), "probes were filled");
    let words: Vec<&str> = SENTENCES.iter().flat_map(|s| s.split(' ')).collect();
    for p in &probes {
        // A content word of the corpus is hidden, in its own context.
        let answer = p.answer.as_deref().expect("the hidden word is known");
        assert!(answer.len() >= 4 && words.contains(&answer), "{answer:?} in {:?}", p.text);
        assert_eq!(p.text.matches("[MASK]").count(), 1, "{}", p.text);
        assert!(!p.text.contains("movie"), "probes follow the corpus: {}", p.text);
        let around: Vec<&str> = p.text.split(' ').filter(|w| *w != "[MASK]").collect();
        assert!(around.iter().all(|w| words.contains(w)), "{}", p.text);
    }
}

#[test]
fn a_memorised_sentence_is_filled_in() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut c = config(tmp.path(), 6);
    c.mlm.corpus = vec![write_corpus(tmp.path(), 80, 1)];
    let (_, dir) = pretrain(&c);
    let lm = MaskedLm::load(&dir.join("model"), &Device::Cpu).expect("load");
    let result = lm.fill_mask("the cat sat on the [MASK] .", 3).expect("fill");
    assert_eq!(result.guesses[0][0].0, "mat", "{:?}", result.guesses[0]);
    assert!(result.guesses[0][0].1 > 0.5, "{:?}", result.guesses[0]);
}

#[test]
fn heads_keep_hugging_face_names_and_next_sentence_is_scored() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut c = config(tmp.path(), 1);
    c.mlm.nsp = true;
    c.mlm.whole_word = true;
    let (events, dir) = pretrain(&c);
    let report = mlm_reports(&events).pop().expect("an evaluation").clone();
    assert!(report.nsp_accuracy.is_some(), "next-sentence accuracy is scored");
    let model = dir.join("model");
    let tensors =
        candle_core::safetensors::load(model.join("model.safetensors"), &Device::Cpu).expect("weights");
    for name in [
        "cls.predictions.transform.dense.weight",
        "cls.predictions.transform.LayerNorm.weight",
        "cls.predictions.bias",
        "cls.seq_relationship.weight",
        "bert.embeddings.word_embeddings.weight",
    ] {
        assert!(tensors.contains_key(name), "{name} missing: {:?}", tensors.keys().collect::<Vec<_>>());
    }
    assert!(!tensors.contains_key("cls.predictions.decoder.weight"), "the decoder is tied, not stored");
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(model.join("config.json")).expect("config"))
            .expect("json");
    assert_eq!(config["architectures"][0], "BertForPreTraining");
    assert!(config.get("id2label").is_none());
    // The saved model, loaded back, guesses what the model guessed when it was saved (one
    // evaluation in this run: the probe of that step).
    let during = events
        .iter()
        .find_map(
            |e| if let TrainEvent::MaskProbe { probes, .. } = e { Some(probes[0].clone()) } else { None },
        )
        .expect("a probe");
    let after = MaskedLm::load(&model, &Device::Cpu).expect("load").fill_mask(&during.text, 5).expect("fill");
    for ((t1, p1), (t2, p2)) in during.guesses[0].iter().zip(&after.guesses[0]) {
        assert_eq!(t1, t2, "{during:?} vs {after:?}");
        assert!((p1 - p2).abs() < 1e-5, "{during:?} vs {after:?}");
    }
}

#[test]
fn pretrain_and_fill_mask_from_the_shell() {
    let tmp = tempfile::tempdir().expect("tmp");
    let corpus = write_corpus(tmp.path(), 60, 4);
    let runs = tmp.path().join("runs");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_bertbench"))
        .args(["pretrain", "--model", "scratch:tiny", "--corpus"])
        .arg(&corpus)
        .args(["--epochs", "2", "--batch-size", "8", "--max-len", "48", "--vocab-size", "200", "--json"])
        .arg("--runs-dir")
        .arg(&runs)
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.lines().any(|l| l.contains("\"event\":\"mlm_evaluated\"")), "{stdout}");
    let run = std::fs::read_dir(&runs).expect("runs").next().expect("a run").expect("entry").path();
    assert!(run.file_name().expect("name").to_string_lossy().ends_with("-corpus"), "{}", run.display());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_bertbench"))
        .args(["fill-mask", "--model"])
        .arg(run.join("model"))
        .args(["the cat sat on the [MASK] .", "--top-k", "2"])
        .output()
        .expect("fill-mask");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("[MASK] 1:") && text.lines().count() == 2, "{text}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_bertbench"))
        .args(["pretrain", "--model", "scratch:tiny", "--mask-ratio", "0.7", "--corpus"])
        .arg(&corpus)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("mask-ratio must be in (0, 0.5]"));
}

#[test]
fn next_sentence_labels_mean_what_they_mean_in_transformers() {
    // A pretrained model whose next-sentence head always answers class 0, which
    // `BertForPreTraining` defines as "B continues A"...
    let tmp = tempfile::tempdir().expect("tmp");
    let mut c = config(tmp.path(), 1);
    c.mlm.nsp = true;
    let (_, dir) = pretrain(&c);
    let model = dir.join("model");
    let file = model.join("model.safetensors");
    let mut tensors = candle_core::safetensors::load(&file, &Device::Cpu).expect("weights");
    let (w, b) = ("cls.seq_relationship.weight", "cls.seq_relationship.bias");
    let shape = tensors[w].shape().clone();
    tensors.insert(w.into(), Tensor::zeros(shape, candle_core::DType::F32, &Device::Cpu).expect("w"));
    tensors.insert(b.into(), Tensor::new(&[8f32, -8.0], &Device::Cpu).expect("b"));
    candle_core::safetensors::save(&tensors, &file).expect("save");
    // ... scored on one long document, where every pair is a continuation, is always right.
    let one_document: Vec<&str> = (0..200).map(|i| SENTENCES[i % 4]).collect();
    let corpus = tmp.path().join("one-document.txt");
    std::fs::write(&corpus, one_document.join(" ")).expect("write");
    let mut c = config(tmp.path(), 1);
    c.model.source = model.display().to_string();
    c.mlm.nsp = true;
    c.mlm.corpus = vec![corpus];
    c.mlm.held_out = 0.2;
    c.train.lr = 1e-9;
    c.runs_dir = tmp.path().join("second");
    let (events, _) = pretrain(&c);
    let report = mlm_reports(&events).pop().expect("an evaluation").clone();
    assert_eq!(report.nsp_accuracy, Some(1.0), "{report:?}");
}
