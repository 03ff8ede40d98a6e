//! Each encoder family (BERT, RoBERTa, DistilBERT, ELECTRA) against Hugging Face transformers:
//! tiny random models that `scripts/make-family-fixtures.py` built, saved and ran with
//! transformers (`tests/fixtures/families/<family>-<task>`). bertbench must tokenize their inputs
//! to the same ids, give the same logits (max abs difference < 1e-4), save in the family's own
//! layout (the names transformers itself wrote) and fine-tune them.

mod common;

use std::path::{Path, PathBuf};

use bertbench::config::{HeadKind, RunKind};
use bertbench::data::Targets;
use bertbench::data::batch::{Batch, Batcher};
use bertbench::data::tokenize::Sequence;
use bertbench::model::checkpoint::Classifier;
use bertbench::model::dropout::Dropout;
use bertbench::model::encoder::Pass;
use bertbench::model::pretraining::MaskedLm;
use bertbench::report::RunStatus;
use candle_core::{DType, Device, Tensor};
use common::{reload_and_check, run_recorded, tiny_run, toy_rows, write_csv, write_iob2};
use serde_json::Value;

const FAMILIES: [&str; 4] = ["bert", "roberta", "distilbert", "electra"];
const TOLERANCE: f32 = 1e-4;

fn fixture(family: &str, task: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/families").join(format!("{family}-{task}"))
}

fn expected(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).expect("expected.json"))
        .expect("json")
}

/// Rows of ids as transformers padded them, without the padding.
fn unpadded(rows: &Value, pad: u32) -> Vec<Vec<u32>> {
    rows.as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            let mut ids: Vec<u32> =
                r.as_array().expect("row").iter().map(|v| v.as_u64().expect("id") as u32).collect();
            while ids.last() == Some(&pad) {
                ids.pop();
            }
            ids
        })
        .collect()
}

fn floats(v: &Value) -> Vec<f32> {
    match v {
        Value::Array(items) => items.iter().flat_map(floats).collect(),
        Value::Number(n) => vec![n.as_f64().expect("number") as f32],
        other => panic!("not a number: {other}"),
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().expect("strings").iter().map(|s| s.as_str().expect("string").to_owned()).collect()
}

fn largest_difference(ours: &[f32], theirs: &[f32]) -> f32 {
    assert_eq!(ours.len(), theirs.len(), "as many logits");
    ours.iter().zip(theirs).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max)
}

fn batch(clf: &Classifier, seqs: &[Sequence]) -> Batch {
    let indices: Vec<usize> = (0..seqs.len()).collect();
    Batcher::new(clf.tokenizer.pad_id, &Device::Cpu)
        .make(seqs, &Targets::Classes(vec![0; seqs.len()]), &indices)
        .expect("batch")
}

/// Our logits for `seqs`: `[B, K]`, or per token `[B, L, K]` padded as transformers padded them.
fn logits(clf: &Classifier, seqs: &[Sequence]) -> Tensor {
    let model = clf.inference_model().expect("inference model");
    model.forward(&batch(clf, seqs), &mut Dropout::off()).expect("forward")
}

/// Our tokenizer gave `seqs` the ids transformers' gave (`rows`, padded with `pad`).
fn same_ids(seqs: &[Sequence], rows: &Value, pad: u32, what: &str) {
    let ids: Vec<Vec<u32>> = seqs.iter().map(|s| s.ids.clone()).collect();
    assert_eq!(ids, unpadded(rows, pad), "{what}");
}

/// Every parameter came from the checkpoint and every tensor of it was used.
fn fully_loaded(report: &bertbench::model::params::LoadReport, what: &str) {
    assert!(report.initialised.is_empty(), "{what}: every parameter loaded: {:?}", report.initialised);
    assert!(report.unused.is_empty(), "{what}: every tensor used: {:?}", report.unused);
}

fn sentence_logits_match(clf: &Classifier, exp: &Value, what: &str) {
    let texts = strings(&exp["texts"]);
    let seqs = clf.tokenizer.encode_texts(&texts, 40).expect("encode");
    same_ids(&seqs, &exp["input_ids"], clf.tokenizer.pad_id, &format!("{what}: the tokenizer's ids"));
    let ours = logits(clf, &seqs).flatten_all().expect("flat").to_vec1::<f32>().expect("f32");
    let diff = largest_difference(&ours, &floats(&exp["logits"]));
    println!("{what}: sentence logits, largest difference {diff:.1e}");
    assert!(diff < TOLERANCE, "{what}: logits differ by {diff}");
}

#[test]
fn every_family_scores_sentences_and_pairs_as_transformers_does() {
    for family in FAMILIES {
        let dir = fixture(family, "seq");
        let exp = expected(&dir);
        let clf = Classifier::load_fine_tuned(&dir, &Device::Cpu).expect("load");
        assert_eq!(clf.labels, ["neg", "neutral", "pos"], "{family}: labels from id2label");
        fully_loaded(&clf.report, family);
        sentence_logits_match(&clf, &exp, family);

        let pairs: Vec<(String, String)> = exp["pairs"]
            .as_array()
            .expect("pairs")
            .iter()
            .map(|p| (p[0].as_str().expect("a").to_owned(), p[1].as_str().expect("b").to_owned()))
            .collect();
        let (a, b): (Vec<String>, Vec<String>) = pairs.into_iter().unzip();
        let seqs = clf.tokenizer.encode_pairs(&a, &b, 40).expect("pairs");
        same_ids(&seqs, &exp["pair_input_ids"], clf.tokenizer.pad_id, &format!("{family}: pair ids"));
        if let Some(types) = exp["pair_type_ids"].as_array() {
            for (s, t) in seqs.iter().zip(types) {
                let t: Vec<u32> =
                    t.as_array().expect("types").iter().map(|v| v.as_u64().expect("t") as u32).collect();
                assert_eq!(s.type_ids, t[..s.type_ids.len()], "{family}: segments of a pair");
            }
        }
        let ours = logits(&clf, &seqs).flatten_all().expect("flat").to_vec1::<f32>().expect("f32");
        let diff = largest_difference(&ours, &floats(&exp["pair_logits"]));
        println!("{family}: pair logits, largest difference {diff:.1e}");
        assert!(diff < TOLERANCE, "{family}: pair logits differ by {diff}");
    }
}

#[test]
fn a_reused_head_answers_in_the_datasets_label_order() {
    use bertbench::model::checkpoint::HeadSpec;
    // The checkpoint's head scores neg, neutral, pos; the dataset lists them as pos, neg, neutral.
    let ours = ["pos", "neg", "neutral"].map(String::from).to_vec();
    for family in FAMILIES {
        let dir = fixture(family, "seq");
        let exp = expected(&dir);
        let spec = HeadSpec {
            head: HeadKind::SeqCls,
            labels: Some(ours.clone()),
            freeze: bertbench::model::heads::Freeze::default(),
        };
        let clf = Classifier::from_dir(&dir, family, spec, 0, false, &Device::Cpu).expect("load");
        assert_eq!(clf.labels, ours);
        fully_loaded(&clf.report, family);
        let texts = strings(&exp["texts"]);
        let seqs = clf.tokenizer.encode_texts(&texts, 40).expect("encode");
        let got = logits(&clf, &seqs).to_vec2::<f32>().expect("logits");
        let theirs = floats(&exp["logits"]);
        for (row, scores) in got.iter().enumerate() {
            // Our class 0 is their class 2, 1 is 0, 2 is 1.
            let want = [theirs[row * 3 + 2], theirs[row * 3], theirs[row * 3 + 1]];
            let diff = largest_difference(scores, &want);
            assert!(diff < TOLERANCE, "{family}, text {row}: {scores:?} against {want:?}");
        }
    }
}

#[test]
fn every_family_tags_split_words_as_transformers_does() {
    for family in FAMILIES {
        let dir = fixture(family, "token");
        let exp = expected(&dir);
        let clf = Classifier::load_fine_tuned(&dir, &Device::Cpu).expect("load");
        assert_eq!(clf.model.head, HeadKind::TokenCls, "{family}");
        let words: Vec<Vec<String>> = exp["words"].as_array().expect("words").iter().map(strings).collect();
        let encoded = clf.tokenizer.encode_words(&words, 40).expect("encode");
        let seqs: Vec<Sequence> = encoded.into_iter().map(|(s, _)| s).collect();
        // RoBERTa's byte-level tokens of split words are those of words after a space.
        same_ids(&seqs, &exp["input_ids"], clf.tokenizer.pad_id, &format!("{family}: ids of split words"));
        let ours = logits(&clf, &seqs);
        let theirs = &exp["logits"];
        for (row, s) in seqs.iter().enumerate() {
            // Each real token's scores; padding positions are never read.
            let ours = ours.get(row).and_then(|r| r.narrow(0, 0, s.ids.len())).expect("row");
            let ours = ours.flatten_all().and_then(|t| t.to_vec1::<f32>()).expect("f32");
            let theirs: Vec<f32> =
                theirs[row].as_array().expect("row")[..s.ids.len()].iter().flat_map(floats).collect();
            let diff = largest_difference(&ours, &theirs);
            println!("{family} sentence {row}: token logits, largest difference {diff:.1e}");
            assert!(diff < TOLERANCE, "{family} sentence {row}: token logits differ by {diff}");
        }
    }
}

#[test]
fn every_family_fills_masks_as_transformers_does() {
    for family in FAMILIES {
        let dir = fixture(family, "mlm");
        let exp = expected(&dir);
        let lm = MaskedLm::load(&dir, &Device::Cpu).expect("load");
        fully_loaded(&lm.report, family);
        let texts = strings(&exp["texts"]);
        let seqs = lm.tokenizer.encode_texts(&texts, 40).expect("encode");
        same_ids(&seqs, &exp["input_ids"], lm.tokenizer.pad_id, &format!("{family}: ids with masks"));
        let mask = lm.tokenizer.mask_id().expect("mask token");
        let model = lm.inference_model().expect("model");
        let mut ours = Vec::new();
        for s in &seqs {
            let n = s.ids.len();
            let input = Tensor::from_vec(s.ids.clone(), (1, n), &Device::Cpu).expect("ids");
            let types = Tensor::from_vec(s.type_ids.clone(), (1, n), &Device::Cpu).expect("types");
            let attention = Tensor::ones((1, n), DType::F32, &Device::Cpu).expect("mask");
            let mut dropout = Dropout::off();
            let mut pass = Pass { dropout: &mut dropout, frozen_layers: 0, keep_attentions: false };
            let hidden =
                model.encoder.forward(&input, &types, &attention, &mut pass).expect("forward").hidden;
            let at: Vec<u32> = (0..n as u32).filter(|&i| s.ids[i as usize] == mask).collect();
            let picked =
                hidden.squeeze(0).and_then(|h| h.index_select(&Tensor::new(at.as_slice(), &Device::Cpu)?, 0));
            let scores = model.predict_tokens(&picked.expect("masked states")).expect("scores");
            ours.extend(scores.flatten_all().and_then(|t| t.to_vec1::<f32>()).expect("f32"));
        }
        let diff = largest_difference(&ours, &floats(&exp["mask_logits"]));
        println!("{family}: masked-token logits, largest difference {diff:.1e}");
        assert!(diff < TOLERANCE, "{family}: masked-token logits differ by {diff}");
    }
}

fn weight_names(dir: &Path) -> Vec<String> {
    let tensors =
        candle_core::safetensors::load(dir.join("model.safetensors"), &Device::Cpu).expect("weights");
    let mut names: Vec<String> = tensors.into_keys().collect();
    names.sort();
    names
}

fn config_json(dir: &Path) -> serde_json::Map<String, Value> {
    serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).expect("config")).expect("json")
}

/// What a save must keep of the config transformers wrote: its family, architecture and shape,
/// in the family's own keys.
fn same_config(saved: &serde_json::Map<String, Value>, theirs: &serde_json::Map<String, Value>, what: &str) {
    for key in ["model_type", "architectures", "vocab_size", "max_position_embeddings", "pad_token_id"] {
        assert_eq!(saved.get(key), theirs.get(key), "{what}: {key}");
    }
    let missing: Vec<&String> = theirs.keys().filter(|k| !saved.contains_key(*k)).collect();
    assert!(missing.is_empty(), "{what}: the save drops {missing:?}");
    let extra: Vec<&String> =
        // Ours beside theirs: the problem type that names the head, bertbench's own keys.
        saved.keys().filter(|k| !theirs.contains_key(*k) && *k != "problem_type" && !k.starts_with("bertbench")).collect();
    assert!(extra.is_empty(), "{what}: the save adds keys transformers does not write: {extra:?}");
}

#[test]
fn saves_keep_each_familys_names_and_reload_to_the_same_logits() {
    let tmp = tempfile::tempdir().expect("tmp");
    for family in FAMILIES {
        for task in ["seq", "token"] {
            let dir = fixture(family, task);
            let what = format!("{family}-{task}");
            let clf = Classifier::load_fine_tuned(&dir, &Device::Cpu).expect("load");
            let saved = tmp.path().join(&what);
            clf.save(&saved).expect("save");
            assert_eq!(weight_names(&saved), weight_names(&dir), "{what}: the names transformers wrote");
            same_config(&config_json(&saved), &config_json(&dir), &what);
            let again = Classifier::load_fine_tuned(&saved, &Device::Cpu).expect("reload");
            fully_loaded(&again.report, &what);
            if task == "seq" {
                sentence_logits_match(&again, &expected(&dir), &what);
            }
        }
        let dir = fixture(family, "mlm");
        let saved = tmp.path().join(format!("{family}-mlm"));
        MaskedLm::load(&dir, &Device::Cpu).expect("load").save(&saved).expect("save");
        assert_eq!(weight_names(&saved), weight_names(&dir), "{family}-mlm: the names transformers wrote");
        same_config(&config_json(&saved), &config_json(&dir), &format!("{family}-mlm"));
    }
}

/// A run on the toy sentiment task (or the toy tagging task) from a family's checkpoint.
fn fine_tune(root: &Path, family: &str, head: HeadKind) -> (bertbench::config::RunConfig, PathBuf) {
    let (train, valid) = if head == HeadKind::TokenCls {
        (write_iob2(&root.join("train.iob2"), 300, 1), write_iob2(&root.join("valid.iob2"), 60, 2))
    } else {
        (
            write_csv(&root.join("train.csv"), &toy_rows(200, 1)),
            write_csv(&root.join("valid.csv"), &toy_rows(60, 2)),
        )
    };
    let mut c = tiny_run(root, train, valid.clone());
    let task = if head == HeadKind::TokenCls { "token" } else { "seq" };
    c.model.source = fixture(family, task).display().to_string();
    c.head = head;
    // The fixtures' O(1) weights (drawn to make misplaced tensors show) saturate attention and
    // learn slowly: the family's architecture and tokenizer, from its own initialisation.
    c.model.from_scratch = true;
    c.train.epochs = if head == HeadKind::TokenCls { 30 } else { 10 };
    (c, valid)
}

#[test]
fn every_family_fine_tunes_and_its_saved_run_reloads() {
    for family in FAMILIES {
        for head in [HeadKind::SeqCls, HeadKind::TokenCls] {
            let tmp = tempfile::tempdir().expect("tmp");
            let (c, valid) = fine_tune(tmp.path(), family, head);
            let (summary, _, dir) = run_recorded(c.clone());
            assert_eq!(summary.status, RunStatus::Finished, "{family} {head:?}: {:?}", summary.reason);
            let v = summary.valid.as_ref().expect("validation");
            // The toy tasks are learnt far above chance (sentiment: 0.5; tags: mostly "O").
            let score = if head == HeadKind::TokenCls { v.extra["entity_f1"] } else { v.accuracy };
            println!("{family} {head:?}: validation {score:.3}");
            assert!(score > 0.8, "{family} {head:?}: {score} ({:?})", v.extra);
            let saved = reload_and_check(&dir, &valid, &c, &summary);
            let class = bertbench::model::family::FAMILIES
                .into_iter()
                .find(|f| f.model_type == family)
                .expect("family")
                .class;
            let suffix =
                if head == HeadKind::TokenCls { "TokenClassification" } else { "SequenceClassification" };
            assert_eq!(saved["architectures"][0], format!("{class}For{suffix}"), "{family}");
            assert_eq!(saved["model_type"], family);
        }
    }
}

#[test]
fn roberta_pretrains_with_its_mask_token_and_refuses_next_sentence_prediction() {
    let tmp = tempfile::tempdir().expect("tmp");
    let corpus = tmp.path().join("corpus.txt");
    let text: String = toy_rows(120, 4).into_iter().map(|(t, _)| t + "\n").collect();
    std::fs::write(&corpus, text).expect("corpus");
    let mut c = tiny_run(tmp.path(), corpus.clone(), corpus.clone());
    c.kind = RunKind::Pretrain;
    c.data.valid = None;
    c.mlm.mask_ratio = 0.15;
    c.mlm.probes = vec!["the movie was <mask> .".into()];
    c.mlm.corpus = vec![corpus];
    c.model.source = fixture("roberta", "mlm").display().to_string();
    c.train.epochs = 2;
    let (summary, _, dir) = run_recorded(c.clone());
    assert_eq!(summary.status, RunStatus::Finished, "{:?}", summary.reason);
    let lm = MaskedLm::load(&dir.join("model"), &Device::Cpu).expect("reload the pretrained model");
    assert_eq!(lm.config.family().model_type, "roberta");
    let names = weight_names(&dir.join("model"));
    assert!(names.iter().any(|n| n == "lm_head.dense.weight"), "RoBERTa's head names: {names:?}");
    assert!(!names.iter().any(|n| n.starts_with("cls.") || n.contains("pooler")), "{names:?}");
    let probe = lm.fill_mask("the movie was <mask> .", 3).expect("fill");
    assert_eq!(probe.guesses.len(), 1, "one mask filled");

    c.mlm.nsp = true;
    let (_commands, inbox) = std::sync::mpsc::channel();
    let mut sink = bertbench::train::event::Collect::default();
    let start = bertbench::runs::Start::New(Box::new(c));
    let Err(refused) = bertbench::runs::launch(start, &mut sink, &inbox, |_| {}) else {
        panic!("next-sentence prediction on RoBERTa is refused before the run");
    };
    let refused = refused.to_string();
    assert!(refused.contains("RoBERTa") && refused.contains("next-sentence"), "{refused}");
}

#[test]
fn a_max_length_beyond_the_models_positions_is_refused_before_a_record() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (mut c, _) = fine_tune(tmp.path(), "roberta", HeadKind::SeqCls);
    // 42 position embeddings, the first two before RoBERTa's first position: 40 tokens.
    c.train.max_len = 41;
    let runs_dir = c.runs_dir.clone();
    let (_commands, inbox) = std::sync::mpsc::channel();
    let mut sink = bertbench::train::event::Collect::default();
    let Err(refused) =
        bertbench::runs::launch(bertbench::runs::Start::New(Box::new(c)), &mut sink, &inbox, |_| {})
    else {
        panic!("max-len 41 is refused");
    };
    assert!(refused.to_string().contains("max-len 41 exceeds the model's 40 positions"), "{refused}");
    assert!(
        !runs_dir.exists() || std::fs::read_dir(&runs_dir).expect("runs").next().is_none(),
        "no record left"
    );
}
