//! The explanation views' engine on a model fine-tuned here: predictions explained by
//! integrated gradients (whose shares add up to the change they explain), attention maps,
//! the sentence vectors before and after fine-tuning, and the masking inspector's batch; and
//! their PNGs. Everything is written under temp dirs.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use bertbench::explain::masking::{Fate, inspect_masking};
use bertbench::explain::representations::representations;
use bertbench::explain::{Explainer, Outputs, Target};
use bertbench::plot::explain::{ExplainView, export_view};
use common::{run_recorded, tiny_run, toy_rows, write_csv};

/// A tiny model fine-tuned on the toy sentiment task (a positive or a negative word among
/// fillers): its run folder.
fn fine_tuned(root: &Path) -> PathBuf {
    let train = write_csv(&root.join("train.csv"), &toy_rows(160, 1));
    let valid = write_csv(&root.join("valid.csv"), &toy_rows(60, 2));
    let (summary, _, dir) = run_recorded(tiny_run(root, train, valid));
    assert_eq!(summary.status, bertbench::report::RunStatus::Finished);
    dir
}

fn is_png(path: &Path) -> bool {
    std::fs::read(path).is_ok_and(|b| b.len() > 1000 && b.starts_with(b"\x89PNG\r\n\x1a\n"))
}

#[test]
fn a_fine_tuned_prediction_is_explained_by_its_sentiment_word() {
    let tmp = tempfile::tempdir().expect("tmp");
    let run = fine_tuned(tmp.path());
    let explainer = Explainer::open(&run).expect("explainer");
    let text = "the plot was really excellent and the acting quite good .";
    let e = explainer.explain(text, None, 64).expect("explained");
    assert_eq!(e.predicted, "pos", "{:?}", e.outputs);
    let Outputs::Classes(p) = &e.outputs else { panic!("classes: {:?}", e.outputs) };
    assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    // The attributions explain the predicted class and add up to what it changed.
    let a = e.attribution.clone();
    let a = &a;
    assert_eq!(e.labels[a.target.class], "pos");
    let change = a.at_input - a.at_baseline;
    assert!(change > 0.05, "the words raise pos from the baseline: {change}");
    assert!(a.completeness_gap() < 0.01 * change, "{} vs {change}", a.total());
    let coarse = explainer.explain(text, None, 2).expect("2 steps").attribution;
    assert!(
        coarse.completeness_gap() > a.completeness_gap(),
        "{} vs {}",
        coarse.completeness_gap(),
        a.completeness_gap()
    );
    // The two sentiment words carry the prediction: they hold the largest shares.
    let mut ranked: Vec<(&str, f64)> =
        e.tokens.iter().map(String::as_str).zip(a.per_token.iter().copied()).collect();
    ranked.sort_by(|x, y| y.1.total_cmp(&x.1));
    let top: Vec<&str> = ranked.iter().take(2).map(|(t, _)| *t).collect();
    assert!(top.contains(&"excellent") || top.contains(&"good"), "{ranked:?}");
    // Another class: the same shares turned around (two classes: p(neg) = 1 − p(pos)).
    let neg =
        explainer.explain(text, Some(Target { class: 1 - a.target.class, token: None }), 64).expect("neg");
    for (x, y) in neg.attribution.per_token.iter().zip(&a.per_token) {
        assert!((x + y).abs() < 1e-4, "{x} vs {y}");
    }
    // Attention: one map per layer and head, rows are distributions; rollout too.
    let maps = &e.attention;
    assert_eq!((maps.layers, maps.heads, maps.len), (2, 2, e.tokens.len()));
    for row in maps.map(1, 1).chunks(maps.len) {
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-4);
    }
    let out = tmp.path().join("plots");
    for view in [
        ExplainView::Attributions(e.clone()),
        ExplainView::Attention { explanation: e.clone(), layer: 1, head: 0 },
    ] {
        let path = export_view(&view, "toy", &out).expect("export");
        assert!(is_png(&path), "{}", path.display());
    }
    // A second export does not overwrite the first.
    let again = export_view(&ExplainView::Attributions(e), "toy", &out).expect("again");
    assert!(again.ends_with("toy-attributions-2.png"), "{}", again.display());
    // Nothing to explain: said so.
    let err = explainer.explain("   ", None, 8).expect_err("empty").to_string();
    assert!(err.contains("no text"), "{err}");
    // The command line gives the same numbers.
    let cli = Command::new(env!("CARGO_BIN_EXE_bertbench"))
        .args(["explain", "--runs-dir"])
        .arg(tmp.path().join("runs"))
        .arg(run.file_name().expect("id"))
        .arg(text)
        .args(["--steps", "64", "--json"])
        .output()
        .expect("bertbench explain");
    assert!(cli.status.success(), "{}", String::from_utf8_lossy(&cli.stderr));
    let json: serde_json::Value = serde_json::from_slice(&cli.stdout).expect("json");
    assert_eq!(json["predicted"], "pos");
    let total: f64 = json["attribution"]["per_token"]
        .as_array()
        .expect("shares")
        .iter()
        .filter_map(serde_json::Value::as_f64)
        .sum();
    assert!((total - a.total()).abs() < 1e-6, "{total} vs {}", a.total());
}

#[test]
fn fine_tuning_pulls_the_classes_apart_and_a_folder_without_a_model_is_refused() {
    let tmp = tempfile::tempdir().expect("tmp");
    let run = fine_tuned(tmp.path());
    let r = representations(&run, 1000).expect("representations");
    assert_eq!(r.split, "valid");
    assert_eq!(r.groups, ["neg", "pos"]);
    assert_eq!((r.group_of.len(), r.before.points.len(), r.after.points.len()), (60, 60, 60));
    assert!(r.before_name.starts_with("pretrained"), "{}", r.before_name);
    assert!(
        r.after.separation > r.before.separation + 0.1,
        "before {:.3}, after {:.3}",
        r.before.separation,
        r.after.separation
    );
    assert!(r.after.explained[0] >= r.after.explained[1] && r.after.explained[0] <= 1.0);
    let path =
        export_view(&ExplainView::Representations(r), "toy", &tmp.path().join("plots")).expect("export");
    assert!(is_png(&path));
    // A folder without a model is refused by name.
    let err = Explainer::open(&tmp.path().join("runs")).err().expect("no model").to_string();
    assert!(err.contains("no saved model"), "{err}");
}

#[test]
fn the_masking_inspector_shows_the_first_batch_with_the_configured_shares() {
    let tmp = tempfile::tempdir().expect("tmp");
    let train = write_csv(&tmp.path().join("train.csv"), &toy_rows(200, 3));
    let valid = write_csv(&tmp.path().join("valid.csv"), &toy_rows(20, 4));
    let mut cfg = tiny_run(tmp.path(), train, valid);
    cfg.mlm.mask_ratio = 0.3;
    cfg.train.batch_size = 32;
    let sample = inspect_masking(&cfg).expect("inspected");
    assert_eq!(sample.sequences.len(), 32);
    let c = sample.counts;
    let share = c.selected() as f64 / c.eligible as f64;
    assert!((share - 0.3).abs() < 0.1, "selected {} of {}", c.selected(), c.eligible);
    assert!(c.masked > c.random + c.kept, "80/10/10: {c:?}");
    let fates: Vec<&Fate> = sample.sequences.iter().flatten().map(|t| &t.fate).collect();
    assert_eq!(fates.iter().filter(|f| matches!(f, Fate::Masked)).count(), c.masked);
    for seq in &sample.sequences {
        assert_eq!((seq[0].token.as_str(), &seq[0].fate), ("[CLS]", &Fate::Special));
        assert_eq!(seq.last().map(|t| (t.token.as_str(), &t.fate)), Some(("[SEP]", &Fate::Special)));
    }
    // The run's own generator: the same settings show the same batch; another seed another.
    assert_eq!(inspect_masking(&cfg).expect("again"), sample);
    cfg.train.seed += 1;
    assert_ne!(inspect_masking(&cfg).expect("other seed"), sample);
    let path = export_view(&ExplainView::Masking(sample), "", &tmp.path().join("plots")).expect("export");
    assert!(is_png(&path) && path.ends_with("plots/masking.png"), "{}", path.display());
    // No masked-LM stage: nothing to inspect, and said why.
    cfg.mlm.mask_ratio = 0.0;
    let err = inspect_masking(&cfg).expect_err("no stage").to_string();
    assert!(err.contains("masking ratio 0"), "{err}");
}

/// A tagging toy set: fillers with one sentiment word tagged B-POS or B-NEG.
fn write_tags(path: &Path, n: usize) -> PathBuf {
    use std::fmt::Write as _;
    let mut s = String::new();
    for (text, label) in toy_rows(n, 5) {
        let kind = if label == "pos" { "B-POS" } else { "B-NEG" };
        for word in text.split(' ') {
            let tag =
                if common::POSITIVE.contains(&word) || common::NEGATIVE.contains(&word) { kind } else { "O" };
            let _ = writeln!(s, "{word}\t{tag}");
        }
        s.push('\n');
    }
    std::fs::write(path, s).expect("iob2");
    path.to_path_buf()
}

#[test]
fn a_tagged_word_is_explained_at_its_own_token() {
    let tmp = tempfile::tempdir().expect("tmp");
    let train = write_tags(&tmp.path().join("train.iob2"), 160);
    let valid = write_tags(&tmp.path().join("valid.iob2"), 40);
    let mut cfg = tiny_run(tmp.path(), train, valid);
    cfg.head = bertbench::config::HeadKind::TokenCls;
    let (summary, _, run) = run_recorded(cfg);
    assert_eq!(summary.status, bertbench::report::RunStatus::Finished);
    let explainer = Explainer::open(&run).expect("explainer");
    let text = "the plot was awful and the acting very boring .";
    let e = explainer.explain(text, None, 64).expect("explained");
    let Outputs::Tags(p) = &e.outputs else { panic!("tags: {:?}", e.outputs) };
    assert_eq!(p.len(), e.tokens.len());
    assert!(p.iter().all(|row| (row.iter().sum::<f32>() - 1.0).abs() < 1e-4));
    // One tag per word, as the run's predictions write them.
    let tags: Vec<&str> = e.predicted.split(' ').collect();
    assert_eq!(tags.len(), text.split(' ').count(), "{}", e.predicted);
    // The attributions explain a tag at a word's first token: the first entity found.
    let token = e.attribution.target.token.expect("a token");
    let word = e.words[token].expect("a word's token") as usize;
    assert_eq!(e.words.iter().position(|w| *w == Some(word as u32)), Some(token), "its first token");
    let first_entity = tags.iter().position(|t| *t != "O");
    assert_eq!(first_entity, Some(3), "the model tags 'awful' first: {tags:?}");
    assert_eq!(word, 3, "{tags:?}");
    assert_eq!(e.labels[e.attribution.target.class], tags[3]);
    let a = &e.attribution;
    let change = (a.at_input - a.at_baseline).abs();
    assert!(a.completeness_gap() < 0.01 * change.max(0.01), "{} vs {change}", a.completeness_gap());
}
