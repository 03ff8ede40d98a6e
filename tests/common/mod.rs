//! Test fixtures built in code: tiny random BERT models in Hugging Face layout, their
//! tokenizers, and a learnable toy dataset. Nothing is downloaded.

#![allow(dead_code)]

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub const POSITIVE: &[&str] = &["great", "excellent", "wonderful", "good", "superb"];
pub const NEGATIVE: &[&str] = &["awful", "terrible", "boring", "bad", "dreadful"];
pub const FILLER: &[&str] = &[
    "the", "movie", "film", "was", "is", "a", "this", "plot", "acting", "and", "really", "quite", "story",
    "very",
];

pub fn vocab() -> Vec<String> {
    let specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", ","];
    specials
        .iter()
        .chain(POSITIVE)
        .chain(NEGATIVE)
        .chain(FILLER)
        .map(|s| (*s).to_owned())
        .chain(["##s".to_owned()])
        .collect()
}

/// Shape of a tiny model.
#[derive(Clone, Copy)]
pub struct Tiny {
    pub hidden: usize,
    pub layers: usize,
    pub heads: usize,
    /// Store tensors under `bert.` (`BertFor`… layout) instead of bare `BertModel` names.
    pub prefixed: bool,
    /// Write tokenizer.json (else vocab.txt only).
    pub tokenizer_json: bool,
    pub seed: u64,
}

impl Default for Tiny {
    fn default() -> Self {
        Self { hidden: 32, layers: 2, heads: 2, prefixed: false, tokenizer_json: true, seed: 7 }
    }
}

/// Hugging Face names and shapes of a BERT encoder (`BertModel` layout).
pub fn bert_tensors(
    vocab: usize,
    hidden: usize,
    layers: usize,
    positions: usize,
) -> Vec<(String, Vec<usize>)> {
    let h = hidden;
    let mut v = vec![
        ("embeddings.word_embeddings.weight".to_owned(), vec![vocab, h]),
        ("embeddings.position_embeddings.weight".to_owned(), vec![positions, h]),
        ("embeddings.token_type_embeddings.weight".to_owned(), vec![2, h]),
        ("embeddings.LayerNorm.weight".to_owned(), vec![h]),
        ("embeddings.LayerNorm.bias".to_owned(), vec![h]),
        ("pooler.dense.weight".to_owned(), vec![h, h]),
        ("pooler.dense.bias".to_owned(), vec![h]),
    ];
    for i in 0..layers {
        let p = format!("encoder.layer.{i}");
        for (name, shape) in [
            ("attention.self.query", vec![h, h]),
            ("attention.self.key", vec![h, h]),
            ("attention.self.value", vec![h, h]),
            ("attention.output.dense", vec![h, h]),
            ("intermediate.dense", vec![4 * h, h]),
            ("output.dense", vec![h, 4 * h]),
        ] {
            v.push((format!("{p}.{name}.bias"), vec![shape[0]]));
            v.push((format!("{p}.{name}.weight"), shape));
        }
        for norm in ["attention.output.LayerNorm", "output.LayerNorm"] {
            v.push((format!("{p}.{norm}.weight"), vec![h]));
            v.push((format!("{p}.{norm}.bias"), vec![h]));
        }
    }
    v
}

/// Writes a tiny random BERT with its tokenizer into `dir` and returns `dir`.
pub fn write_tiny_bert(dir: &Path, t: Tiny) -> PathBuf {
    write_tiny_bert_with(dir, t, |_, _| {})
}

/// Like `write_tiny_bert`, letting `edit` change the tensors before they are saved.
pub fn write_tiny_bert_with(
    dir: &Path,
    t: Tiny,
    edit: impl FnOnce(&mut HashMap<String, Tensor>, usize),
) -> PathBuf {
    std::fs::create_dir_all(dir).expect("mkdir");
    let words = vocab();
    std::fs::write(dir.join("vocab.txt"), words.join("\n") + "\n").expect("vocab");
    if t.tokenizer_json {
        let tok =
            bertbench::data::tokenize::wordpiece_from_vocab(&dir.join("vocab.txt"), true).expect("tokenizer");
        tok.save(dir.join("tokenizer.json"), false).expect("save tokenizer");
    }
    let positions = 64;
    let config = serde_json::json!({
        "model_type": "bert", "vocab_size": words.len(), "hidden_size": t.hidden,
        "num_hidden_layers": t.layers, "num_attention_heads": t.heads, "intermediate_size": 4 * t.hidden,
        "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": positions, "type_vocab_size": 2, "initializer_range": 0.02,
        "layer_norm_eps": 1e-12, "pad_token_id": 0
    });
    std::fs::write(dir.join("config.json"), serde_json::to_string_pretty(&config).expect("json"))
        .expect("config");
    let mut rng = ChaCha8Rng::seed_from_u64(t.seed);
    let mut tensors: HashMap<String, Tensor> = bert_tensors(words.len(), t.hidden, t.layers, positions)
        .into_iter()
        .map(|(name, shape)| {
            let n: usize = shape.iter().product();
            let values: Vec<f32> = if name.ends_with("LayerNorm.weight") {
                (0..n).map(|_| 1.0 + rng.random_range(-0.1..0.1)).collect()
            } else {
                (0..n).map(|_| rng.random_range(-0.08..0.08)).collect()
            };
            let key = if t.prefixed { format!("bert.{name}") } else { name };
            (key, Tensor::from_vec(values, shape, &Device::Cpu).expect("tensor"))
        })
        .collect();
    edit(&mut tensors, words.len());
    candle_core::safetensors::save(&tensors, dir.join("model.safetensors")).expect("save weights");
    dir.to_path_buf()
}

/// A sentiment toy set: each text holds one positive or one negative word among fillers.
pub fn toy_rows(n: usize, seed: u64) -> Vec<(String, &'static str)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|i| {
            let positive = i % 2 == 0;
            let key = if positive { POSITIVE } else { NEGATIVE };
            let mut words: Vec<&str> =
                (0..rng.random_range(3..9)).map(|_| FILLER[rng.random_range(0..FILLER.len())]).collect();
            let at = rng.random_range(0..=words.len());
            words.insert(at, key[rng.random_range(0..key.len())]);
            (words.join(" ") + " .", if positive { "pos" } else { "neg" })
        })
        .collect()
}

/// Writes rows as CSV with a `text,label` header.
pub fn write_csv(path: &Path, rows: &[(String, &str)]) -> PathBuf {
    let s: String = std::iter::once("text,label\n".to_owned())
        .chain(rows.iter().map(|(t, l)| format!("\"{t}\",{l}\n")))
        .collect();
    std::fs::write(path, s).expect("csv");
    path.to_path_buf()
}

/// Launches `config` on this thread; returns the summary, events and run folder.
pub fn run_recorded(
    config: bertbench::config::RunConfig,
) -> (bertbench::report::RunSummary, Vec<bertbench::train::TrainEvent>, PathBuf) {
    let (_tx, rx) = std::sync::mpsc::channel();
    let mut collect = bertbench::train::event::Collect::default();
    let launched =
        bertbench::runs::launch(bertbench::runs::Start::New(Box::new(config)), &mut collect, &rx, |_| {})
            .expect("run");
    (launched.summary, collect.0, launched.dir)
}

/// A run of a tiny model written into `root`, on the given files, with the settings under which
/// tiny models learn toy tasks in seconds.
pub fn tiny_run(root: &Path, train: PathBuf, valid: PathBuf) -> bertbench::config::RunConfig {
    let mut c = bertbench::config::RunConfig::default();
    c.model.source = write_tiny_bert(&root.join("model"), Tiny::default()).display().to_string();
    c.data.train = train;
    c.data.valid = Some(valid);
    c.runs_dir = root.join("runs");
    c.train.epochs = 8;
    c.train.lr = 2e-3;
    c.train.batch_size = 16;
    c.train.max_len = 32;
    c
}

/// The saved model reloads with its head and gives the reported validation figures.
pub fn reload_and_check(
    dir: &Path,
    valid: &Path,
    c: &bertbench::config::RunConfig,
    expected: &bertbench::report::RunSummary,
) -> serde_json::Value {
    let clf = bertbench::model::checkpoint::Classifier::load_fine_tuned(
        &dir.join("model"),
        &candle_core::Device::Cpu,
    )
    .expect("reload");
    assert_eq!(clf.model.head, c.head);
    let labels = bertbench::data::LabelSet::from_names(clf.labels.clone());
    let how = bertbench::data::Encoding {
        tokenizer: &clf.tokenizer,
        labels: &labels,
        head: c.head,
        separator: &c.data.label_separator,
        max_len: c.train.max_len,
    };
    let set = bertbench::data::Encoded::new(
        bertbench::data::read_split(valid, &c.data, c.head).expect("read"),
        &how,
    )
    .expect("encode");
    let batcher = bertbench::data::batch::Batcher::new(clf.tokenizer.pad_id, &candle_core::Device::Cpu);
    if let Some(t) = expected.valid.as_ref().and_then(|v| v.extra.get("threshold")) {
        assert!((clf.threshold - t).abs() < 1e-12, "the tuned threshold is saved with the model");
    }
    let at = bertbench::eval::multilabel::Threshold::At(clf.threshold);
    // In the precision the run evaluated in.
    let _precision = bertbench::model::precision::scoped(c.precision.resolve(&candle_core::Device::Cpu));
    let (report, _) = bertbench::eval::evaluate(&clf, "valid", &set, 64, &batcher, at).expect("evaluate");
    let want = bertbench::report::SplitSummary::from(&report);
    for (k, v) in &expected.valid.as_ref().expect("valid").extra {
        assert!((want.extra[k] - v).abs() < 1e-4, "{k}: reloaded {} vs run {v}", want.extra[k]);
    }
    serde_json::from_str(&std::fs::read_to_string(dir.join("model/config.json")).expect("config"))
        .expect("json")
}

/// A tagging set in IOB2: fillers, with positive and negative words (sometimes after "very")
/// as entities.
pub fn write_iob2(path: &Path, n: usize, seed: u64) -> PathBuf {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut s = String::from("# synthetic entities\n");
    for _ in 0..n {
        let mut words: Vec<(String, &str)> = (0..rng.random_range(2..7))
            .map(|_| (FILLER[rng.random_range(0..FILLER.len() - 1)].to_owned(), "O"))
            .collect();
        for _ in 0..rng.random_range(1..3) {
            let positive = rng.random_bool(0.5);
            let (word, kind) = if positive {
                (POSITIVE[rng.random_range(0..POSITIVE.len())], "POS")
            } else {
                (NEGATIVE[rng.random_range(0..NEGATIVE.len())], "NEG")
            };
            let at = rng.random_range(0..=words.len());
            if rng.random_bool(0.3) {
                // "very" only ever opens an entity here (it is left out of the fillers above).
                let (b, i) = if positive { ("B-POS", "I-POS") } else { ("B-NEG", "I-NEG") };
                words.insert(at, (word.to_owned(), i));
                words.insert(at, ("very".to_owned(), b));
            } else {
                words.insert(at, (word.to_owned(), if kind == "POS" { "B-POS" } else { "B-NEG" }));
            }
        }
        for (w, t) in words {
            let _ = writeln!(s, "{w}\t{t}");
        }
        s += "\n";
    }
    std::fs::write(path, s).expect("write");
    path.to_path_buf()
}
