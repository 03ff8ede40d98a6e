//! Each task head learns a small synthetic task far above chance, through the real engine, and
//! saves a model that reloads with its head and scores the same.

mod common;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use bertbench::config::{HeadKind, RunConfig};
use bertbench::report::{RunStatus, RunSummary};
use bertbench::train::TrainEvent;
use common::{FILLER, NEGATIVE, POSITIVE, reload_and_check, run_recorded, tiny_run, write_iob2};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn config(root: &Path, head: HeadKind, train: PathBuf, valid: PathBuf) -> RunConfig {
    let mut c = tiny_run(root, train, valid);
    c.head = head;
    c.train.epochs = 10;
    c
}

fn finished(summary: &RunSummary) -> &std::collections::BTreeMap<String, f64> {
    assert_eq!(summary.status, RunStatus::Finished, "{:?}", summary.reason);
    &summary.valid.as_ref().expect("validation").extra
}

/// Filler words, with the given words inserted at random places.
fn sentence(rng: &mut ChaCha8Rng, keys: &[&str]) -> Vec<String> {
    let mut words: Vec<String> =
        (0..rng.random_range(2..6)).map(|_| FILLER[rng.random_range(0..FILLER.len())].to_owned()).collect();
    for k in keys {
        let at = rng.random_range(0..=words.len());
        words.insert(at, (*k).to_owned());
    }
    words
}

fn pick<'a>(rng: &mut ChaCha8Rng, words: &[&'a str]) -> &'a str {
    words[rng.random_range(0..words.len())]
}

#[test]
fn multi_label_learns_which_kinds_of_word_a_text_has() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mut rows = |n: usize, path: &Path| {
        let mut s = String::from("text,labels\n");
        for i in 0..n {
            // Every combination: none, pos, neg, both.
            let (pos, neg) = (i % 2 == 1, (i / 2) % 2 == 1);
            let mut keys = Vec::new();
            let mut labels = Vec::new();
            if pos {
                keys.push(pick(&mut rng, POSITIVE));
                labels.push("pos");
            }
            if neg {
                keys.push(pick(&mut rng, NEGATIVE));
                labels.push("neg");
            }
            let _ = writeln!(s, "{},{}", sentence(&mut rng, &keys).join(" "), labels.join("|"));
        }
        std::fs::write(path, s).expect("write");
        path.to_path_buf()
    };
    let (train, valid) = (rows(320, &tmp.path().join("train.csv")), rows(80, &tmp.path().join("valid.csv")));
    let mut c = config(tmp.path(), HeadKind::MultiLabel, train, valid.clone());
    c.train.tune_threshold = true;
    c.train.epochs = 20;
    let (summary, events, dir) = run_recorded(c.clone());
    let extra = finished(&summary);
    let v = summary.valid.as_ref().expect("valid");
    // Chance (always both labels) gives micro-F1 2/3 and subset accuracy 1/4.
    assert!(v.micro_f1 > 0.9 && v.macro_f1 > 0.9, "{v:?}");
    assert!(extra["subset_accuracy"] > 0.8 && extra["hamming_loss"] < 0.1, "{extra:?}");
    assert!(extra["threshold"] > 0.0 && extra["threshold"] < 1.0);
    let started = events.iter().find_map(|e| if let TrainEvent::Started(s) = e { Some(s) } else { None });
    assert_eq!(started.expect("started").labels, ["neg", "pos"]);
    let saved = reload_and_check(&dir, &valid, &c, &summary);
    assert_eq!(saved["problem_type"], "multi_label_classification");
    assert_eq!(saved["architectures"][0], "BertForSequenceClassification");
    let csv = std::fs::read_to_string(dir.join("predictions.csv")).expect("predictions");
    assert!(csv.lines().any(|l| l.contains(",neg|pos,neg|pos,")), "label sets side by side");
}

/// Sentences whose sentiment words are entities: `POS`/`NEG`, two words long after "very".
#[test]
fn token_classification_finds_the_entities() {
    assert_eq!(FILLER.last(), Some(&"very"), "the generator leaves out the last filler");
    let tmp = tempfile::tempdir().expect("tmp");
    let train = write_iob2(&tmp.path().join("train.iob2"), 300, 1);
    let valid = write_iob2(&tmp.path().join("valid.iob2"), 80, 2);
    let c = config(tmp.path(), HeadKind::TokenCls, train, valid.clone());
    let (summary, events, dir) = run_recorded(c.clone());
    let extra = finished(&summary);
    assert!(extra["entity_f1"] > 0.85, "{extra:?}");
    assert!(extra["token_accuracy"] > 0.9 && extra["entity_precision"] > 0.8 && extra["entity_recall"] > 0.8);
    let report = events
        .iter()
        .rev()
        .find_map(|e| if let TrainEvent::Evaluated(r) = e { Some(r) } else { None })
        .expect("report");
    assert_eq!(report.labels, ["NEG", "POS", "(none)"], "confusion over entity types");
    let saved = reload_and_check(&dir, &valid, &c, &summary);
    assert_eq!(saved["architectures"][0], "BertForTokenClassification");
    assert_eq!(saved["id2label"]["0"], "O");
    let weights =
        candle_core::safetensors::load(dir.join("model/model.safetensors"), &candle_core::Device::Cpu)
            .expect("weights");
    assert!(!weights.keys().any(|k| k.starts_with("bert.pooler.")), "a token classifier has no pooler");
    let csv = std::fs::read_to_string(dir.join("predictions.csv")).expect("predictions");
    assert!(csv.contains("B-POS") && csv.contains("I-NEG"), "tags per word in the predictions");
}

#[test]
fn regression_predicts_a_number_in_its_own_units() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    // The target counts sentiment words: 1900 + 25 per positive word - 25 per negative word.
    let mut rows = |n: usize, path: &Path| {
        let mut s = String::from("text,year\n");
        for _ in 0..n {
            let (pos, neg) = (rng.random_range(0..3), rng.random_range(0..3));
            let mut keys: Vec<&str> = (0..pos).map(|_| pick(&mut rng, POSITIVE)).collect();
            keys.extend((0..neg).map(|_| pick(&mut rng, NEGATIVE)));
            let _ = writeln!(s, "{},{}", sentence(&mut rng, &keys).join(" "), 1900 + 25 * pos - 25 * neg);
        }
        std::fs::write(path, s).expect("write");
        path.to_path_buf()
    };
    let (train, valid) = (rows(320, &tmp.path().join("train.csv")), rows(80, &tmp.path().join("valid.csv")));
    let mut c = config(tmp.path(), HeadKind::Regression, train, valid.clone());
    c.data.label_column = Some("year".into());
    c.train.epochs = 15;
    let (summary, _, dir) = run_recorded(c.clone());
    let extra = finished(&summary);
    // The targets' standard deviation is 25·√(4/3) ≈ 29: a useful model errs far less.
    assert!(extra["pearson"] > 0.9 && extra["spearman"] > 0.85, "{extra:?}");
    assert!(extra["mse"] < 150.0 && extra["mae"] < 10.0, "{extra:?}");
    assert!(summary.valid.as_ref().expect("valid").accuracy.is_nan(), "no accuracy for regression");
    let saved = reload_and_check(&dir, &valid, &c, &summary);
    assert_eq!(saved["problem_type"], "regression");
    let csv = std::fs::read_to_string(dir.join("predictions.csv")).expect("predictions");
    let predicted: Vec<f64> = csv.lines().skip(1).filter_map(|l| l.split(',').nth(3)?.parse().ok()).collect();
    assert_eq!(predicted.len(), 80);
    assert!(predicted.iter().all(|&v| (1800.0..2000.0).contains(&v)), "values in the targets' units");

    // Fine-tuning the saved regressor further starts from what it learnt: with a tiny learning
    // rate, one more epoch keeps its figures.
    let mut again = c;
    again.model.source = dir.join("model").display().to_string();
    again.train.epochs = 1;
    again.train.lr = 1e-6;
    let (summary, _, _) = run_recorded(again);
    let extra_again = finished(&summary);
    assert!((extra_again["mae"] - extra["mae"]).abs() < 2.0, "{extra_again:?} vs {extra:?}");
}

#[test]
fn sentence_pairs_use_the_second_segment() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    // The label is the sentiment of the second text; the first holds a random distractor.
    let mut rows = |n: usize, path: &Path| {
        let mut s = String::from("text,text_pair,label\n");
        for i in 0..n {
            let positive = i % 2 == 0;
            let distractor =
                if rng.random_bool(0.5) { pick(&mut rng, POSITIVE) } else { pick(&mut rng, NEGATIVE) };
            let key = if positive { pick(&mut rng, POSITIVE) } else { pick(&mut rng, NEGATIVE) };
            let (a, b) = (sentence(&mut rng, &[distractor]).join(" "), sentence(&mut rng, &[key]).join(" "));
            let _ = writeln!(s, "{a},{b},{}", if positive { "pos" } else { "neg" });
        }
        std::fs::write(path, s).expect("write");
        path.to_path_buf()
    };
    let (train, valid) = (rows(400, &tmp.path().join("train.csv")), rows(100, &tmp.path().join("valid.csv")));
    let mut c = config(tmp.path(), HeadKind::SeqCls, train, valid);
    c.data.text_pair_column = Some("text_pair".into());
    c.train.epochs = 12;
    let (summary, _, dir) = run_recorded(c);
    finished(&summary);
    // Without segments the distractor makes 75 % the ceiling (it agrees half the time).
    assert!(summary.valid.as_ref().expect("valid").accuracy > 0.9, "{:?}", summary.valid);
    let csv = std::fs::read_to_string(dir.join("predictions.csv")).expect("predictions");
    assert!(csv.lines().nth(1).is_some_and(|l| l.contains(" [SEP] ")), "pairs shown with [SEP]");
}

#[test]
fn bad_targets_are_named_before_training() {
    let tmp = tempfile::tempdir().expect("tmp");
    let train = tmp.path().join("t.csv");
    std::fs::write(&train, "text,label\ngood film,1.5\nbad film,lots\n").expect("write");
    let mut c = config(tmp.path(), HeadKind::Regression, train.clone(), train.clone());
    let (summary, _, _) = run_recorded(c.clone());
    let reason = summary.reason.expect("reason");
    assert!(reason.contains("t.csv") && reason.contains("row 2") && reason.contains("\"lots\""), "{reason}");
    let tagged = write_iob2(&tmp.path().join("x.iob2"), 5, 1);
    c.head = HeadKind::SeqCls;
    c.data.train = tagged;
    c.data.valid = None;
    let (summary, _, _) = run_recorded(c);
    assert!(summary.reason.expect("reason").contains("--head token-cls"));
}
