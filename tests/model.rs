//! The encoder against candle-transformers' BERT, gradients, checkpoint loading, hub cache.

mod common;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use common::{Tiny, toy_rows, write_tiny_bert, write_tiny_bert_with};

use bertbench::config::HeadKind;
use bertbench::data::Targets;
use bertbench::data::batch::{Batch, Batcher};
use bertbench::model::checkpoint::{Classifier, HeadSpec};
use bertbench::model::dropout::Dropout;
use bertbench::model::encoder::Pass;
use bertbench::model::heads::Freeze;
use bertbench::model::params::sorted_vars;

fn labels() -> Vec<String> {
    vec!["neg".into(), "pos".into()]
}

fn spec() -> HeadSpec {
    HeadSpec { head: HeadKind::SeqCls, labels: Some(labels()), freeze: Freeze::default() }
}

fn load(dir: &std::path::Path) -> Classifier {
    Classifier::from_dir(dir, "tiny", spec(), 1, false, &Device::Cpu).expect("load")
}

/// A padded batch of toy sentences of different lengths.
fn batch(clf: &Classifier) -> Batch {
    let texts: Vec<String> = toy_rows(6, 9).into_iter().map(|r| r.0).collect();
    let seqs = clf.tokenizer.encode_texts(&texts, 32).expect("encode");
    assert!(seqs.iter().map(|s| s.ids.len()).min() < seqs.iter().map(|s| s.ids.len()).max(), "needs padding");
    Batcher::new(clf.tokenizer.pad_id, &Device::Cpu)
        .make(&seqs, &Targets::Classes(vec![0, 1, 0, 1, 0, 1]), &[0, 1, 2, 3, 4, 5])
        .expect("batch")
}

#[test]
fn encoder_matches_candle_transformers_bert_in_eval_mode() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = write_tiny_bert(tmp.path(), Tiny::default());
    let clf = load(&dir);
    let b = batch(&clf);
    let mut dropout = Dropout::off();
    let mut pass = Pass { dropout: &mut dropout, frozen_layers: 0, keep_attentions: true };
    let ours =
        clf.model.encoder.forward(&b.input_ids, &b.type_ids, &b.attention_mask, &mut pass).expect("ours");
    assert_eq!(ours.attentions.len(), 2);
    assert_eq!(
        ours.attentions[0].dims(),
        [6, 2, b.input_ids.dim(1).expect("len"), b.input_ids.dim(1).expect("len")]
    );

    let config: candle_transformers::models::bert::Config =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).expect("read"))
            .expect("config");
    let tensors =
        candle_core::safetensors::load(dir.join("model.safetensors"), &Device::Cpu).expect("weights");
    let vb = VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu);
    let oracle = candle_transformers::models::bert::BertModel::load(vb, &config).expect("oracle");
    let theirs = oracle.forward(&b.input_ids, &b.type_ids, Some(&b.attention_mask)).expect("theirs");
    // Compare real tokens only: padded positions are don't-cares for both.
    let mask = b.attention_mask.unsqueeze(2).expect("mask");
    let diff = ((&ours.hidden - &theirs).expect("diff").broadcast_mul(&mask).expect("mul"))
        .abs()
        .expect("abs")
        .max_all()
        .expect("max")
        .to_scalar::<f32>()
        .expect("scalar");
    assert!(diff < 1e-4, "max abs diff {diff}");
    let spread = theirs.abs().expect("abs").max_all().expect("max").to_scalar::<f32>().expect("s");
    assert!(spread > 0.1, "outputs must not be trivially zero");
}

#[test]
fn every_parameter_receives_a_gradient() {
    let tmp = tempfile::tempdir().expect("tmp");
    let clf = load(&write_tiny_bert(tmp.path(), Tiny::default()));
    let b = batch(&clf);
    let mut dropout = Dropout::seeded(3);
    let logits = clf.model.forward(&b, &mut dropout).expect("forward");
    let grads = clf.model.loss(&logits, &b).expect("loss").backward().expect("backward");
    let vars = sorted_vars(&clf.varmap);
    assert_eq!(vars.len(), 5 + 2 + 2 * 16 + 2, "embeddings, pooler, 2 layers, classifier");
    for (name, var) in vars {
        let g = grads.get(var.as_tensor()).unwrap_or_else(|| panic!("no gradient for {name}"));
        let size = g.abs().expect("abs").sum_all().expect("sum").to_scalar::<f32>().expect("scalar");
        assert!(size > 0.0, "zero gradient for {name}");
    }
}

#[test]
fn the_inference_model_shares_the_parameters_and_records_no_graph() {
    let tmp = tempfile::tempdir().expect("tmp");
    let clf = load(&write_tiny_bert(tmp.path(), Tiny::default()));
    let b = batch(&clf);
    let trained = clf.model.forward(&b, &mut Dropout::off()).expect("forward");
    assert!(trained.track_op(), "the training model records its graph");
    let inference = clf.inference_model().expect("inference model");
    let scores = inference.forward(&b, &mut Dropout::off()).expect("forward");
    assert!(!scores.track_op(), "no graph: activations are freed as the pass goes");
    let values = |t: &Tensor| t.to_vec2::<f32>().expect("vec");
    assert_eq!(values(&scores), values(&trained));
    // The same memory, not a copy: a parameter changed in place shows in its outputs.
    let bias = sorted_vars(&clf.varmap).into_iter().find(|(n, _)| n == "classifier.bias").expect("bias").1;
    bias.set(&(bias.as_tensor() + 1.0).expect("add")).expect("set");
    let shifted = inference.forward(&b, &mut Dropout::off()).expect("forward");
    let diff = (shifted - scores).expect("diff").to_vec2::<f32>().expect("vec");
    assert!(diff.iter().flatten().all(|d| (d - 1.0).abs() < 1e-5), "{diff:?}");
}

#[test]
fn dropout_is_active_only_in_training() {
    let tmp = tempfile::tempdir().expect("tmp");
    let clf = load(&write_tiny_bert(tmp.path(), Tiny::default()));
    let b = batch(&clf);
    let eval = |d: &mut Dropout| clf.model.forward(&b, d).expect("fwd").to_vec2::<f32>().expect("vec");
    assert_eq!(eval(&mut Dropout::off()), eval(&mut Dropout::off()));
    assert_ne!(eval(&mut Dropout::seeded(1)), eval(&mut Dropout::seeded(2)));
    assert_eq!(eval(&mut Dropout::seeded(1)), eval(&mut Dropout::seeded(1)));
}

#[test]
fn prefixed_and_bare_checkpoints_load_the_same_and_vocab_txt_suffices() {
    let tmp = tempfile::tempdir().expect("tmp");
    let bare = load(&write_tiny_bert(&tmp.path().join("a"), Tiny::default()));
    let t = Tiny { prefixed: true, tokenizer_json: false, ..Tiny::default() };
    let prefixed = load(&write_tiny_bert(&tmp.path().join("b"), t));
    assert!(prefixed.tokenizer.path.ends_with("vocab.txt"));
    let logits = |c: &Classifier| {
        c.model.forward(&batch(c), &mut Dropout::off()).expect("fwd").to_vec2::<f32>().expect("v")
    };
    assert_eq!(logits(&bare), logits(&prefixed));
    assert_eq!(bare.report.initialised, ["classifier.bias", "classifier.weight"]);
}

#[test]
fn a_tensor_of_the_wrong_shape_is_named() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = write_tiny_bert_with(tmp.path(), Tiny::default(), |t, _| {
        t.insert(
            "encoder.layer.1.intermediate.dense.weight".into(),
            Tensor::zeros((100, 32), DType::F32, &Device::Cpu).expect("z"),
        );
    });
    let err = Classifier::from_dir(&dir, "tiny", spec(), 1, false, &Device::Cpu).err().expect("refused");
    let m = err.to_string();
    assert!(
        m.contains("bert.encoder.layer.1.intermediate.dense.weight")
            && m.contains("[100, 32]")
            && m.contains("[128, 32]"),
        "{m}"
    );
    let dir = write_tiny_bert_with(&tmp.path().join("m"), Tiny::default(), |t, _| {
        t.remove("encoder.layer.0.attention.self.key.bias");
    });
    let m = Classifier::from_dir(&dir, "tiny", spec(), 1, false, &Device::Cpu)
        .err()
        .expect("missing")
        .to_string();
    assert!(m.contains("lacks tensor bert.encoder.layer.0.attention.self.key.bias"), "{m}");
}

#[test]
fn hub_ids_resolve_from_a_cache_offline_and_name_a_missing_file() {
    let tmp = tempfile::tempdir().expect("tmp");
    let hub = tmp.path().join("hub");
    let rev = "0123456789abcdef0123456789abcdef01234567";
    let snapshot = hub.join("models--tiny-org--tiny-bert/snapshots").join(rev);
    write_tiny_bert(&snapshot, Tiny::default());
    std::fs::create_dir_all(hub.join("models--tiny-org--tiny-bert/refs")).expect("refs");
    std::fs::write(hub.join("models--tiny-org--tiny-bert/refs/main"), rev).expect("ref");
    let cache = hf_hub::Cache::new(hub.clone());
    let files =
        bertbench::model::source::resolve_hub("tiny-org/tiny-bert", "main", &cache, true).expect("resolve");
    assert_eq!(files.dir, snapshot);
    assert_eq!(files.revision.as_deref(), Some(rev));
    load(&files.dir);
    std::fs::remove_file(snapshot.join("model.safetensors")).expect("rm");
    let err = bertbench::model::source::resolve_hub("tiny-org/tiny-bert", "main", &cache, true)
        .expect_err("missing");
    let m = err.to_string();
    assert!(
        m.contains("tiny-org/tiny-bert") && m.contains("model.safetensors") && m.contains("HF_HUB_OFFLINE"),
        "{m}"
    );
}

/// Splits a model directory's `model.safetensors` into two shards and an index, as large hub
/// checkpoints come.
fn shard(dir: &std::path::Path) {
    let weights = dir.join("model.safetensors");
    let tensors = candle_core::safetensors::load(&weights, &Device::Cpu).expect("weights");
    let mut names: Vec<&String> = tensors.keys().collect();
    names.sort();
    let half = names.len() / 2;
    let mut map = serde_json::Map::new();
    for (k, part) in [&names[..half], &names[half..]].into_iter().enumerate() {
        let file = format!("model-0000{}-of-00002.safetensors", k + 1);
        let subset: std::collections::HashMap<String, Tensor> =
            part.iter().map(|n| ((*n).clone(), tensors[*n].clone())).collect();
        candle_core::safetensors::save(&subset, dir.join(&file)).expect("shard");
        for n in part {
            map.insert((*n).clone(), file.clone().into());
        }
    }
    let index = serde_json::json!({ "metadata": { "total_size": 0 }, "weight_map": map });
    std::fs::write(dir.join("model.safetensors.index.json"), index.to_string()).expect("index");
    std::fs::remove_file(weights).expect("rm");
}

#[test]
fn a_sharded_checkpoint_loads_as_one_and_a_missing_shard_is_named() {
    let tmp = tempfile::tempdir().expect("tmp");
    let whole = load(&write_tiny_bert(&tmp.path().join("whole"), Tiny::default()));
    let dir = write_tiny_bert(&tmp.path().join("sharded"), Tiny::default());
    shard(&dir);
    let sharded = load(&dir);
    let logits = |c: &Classifier| {
        c.model.forward(&batch(c), &mut Dropout::off()).expect("fwd").to_vec2::<f32>().expect("v")
    };
    assert_eq!(logits(&sharded), logits(&whole));
    // Through the hub cache, offline: the index and both shards are found.
    let hub = tmp.path().join("hub");
    let rev = "89abcdef0123456789abcdef0123456789abcdef";
    let snapshot = hub.join("models--org--sharded/snapshots").join(rev);
    std::fs::create_dir_all(&snapshot).expect("snapshot");
    for entry in std::fs::read_dir(&dir).expect("dir") {
        let path = entry.expect("entry").path();
        std::fs::copy(&path, snapshot.join(path.file_name().expect("name"))).expect("copy");
    }
    std::fs::create_dir_all(hub.join("models--org--sharded/refs")).expect("refs");
    std::fs::write(hub.join("models--org--sharded/refs/main"), rev).expect("ref");
    let cache = hf_hub::Cache::new(hub.clone());
    let files = bertbench::model::source::resolve_hub("org/sharded", "main", &cache, true).expect("resolve");
    assert_eq!(logits(&load(&files.dir)), logits(&whole));
    std::fs::remove_file(snapshot.join("model-00002-of-00002.safetensors")).expect("rm");
    let err =
        bertbench::model::source::resolve_hub("org/sharded", "main", &cache, true).expect_err("a shard gone");
    assert!(err.to_string().contains("model-00002-of-00002.safetensors"), "{err}");
    std::fs::remove_file(dir.join("model-00001-of-00002.safetensors")).expect("rm");
    let err = Classifier::from_dir(&dir, "tiny", spec(), 1, false, &Device::Cpu).err().expect("refused");
    assert!(err.to_string().contains("names model-00001-of-00002.safetensors, which"), "{err}");
}

#[test]
fn a_head_we_do_not_have_is_named_and_its_encoder_offered() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = write_tiny_bert(tmp.path(), Tiny::default());
    let path = dir.join("config.json");
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
    config["architectures"] = serde_json::json!(["BertForQuestionAnswering"]);
    std::fs::write(&path, config.to_string()).expect("write");
    let err = Classifier::load_fine_tuned(&dir, &Device::Cpu).err().expect("refused").to_string();
    assert!(err.contains("BertForQuestionAnswering") && err.contains("bertbench train --model"), "{err}");
    // As a source to fine-tune, the same checkpoint is an encoder like any other.
    assert_eq!(load(&dir).report.initialised, ["classifier.bias", "classifier.weight"]);
}

#[test]
fn the_embedded_model_is_the_default_and_works_offline() {
    // The model is written to bertbench's cache on first use (as for a user).
    let dir = {
        let files = bertbench::model::source::resolve("", "main").expect("the default model");
        assert_eq!(files.source, "embedded");
        files.dir
    };
    for file in ["config.json", "model.safetensors", "tokenizer.json", "vocab.txt"] {
        assert!(dir.join(file).is_file(), "{file}");
    }
    // A second resolution reuses the written copy.
    assert_eq!(bertbench::model::source::resolve("embedded", "main").expect("again").dir, dir);
    let lm = bertbench::model::pretraining::MaskedLm::load(&dir, &candle_core::Device::Cpu).expect("loads");
    let filled = lm.fill_mask("the congress of the united [MASK] .", 5).expect("fill");
    assert_eq!(filled.guesses[0].len(), 5);
    let clf = bertbench::model::checkpoint::Classifier::from_dir(
        &dir,
        "embedded",
        HeadSpec {
            head: HeadKind::SeqCls,
            labels: Some(vec!["a".into(), "b".into()]),
            freeze: Freeze::default(),
        },
        1,
        false,
        &candle_core::Device::Cpu,
    )
    .expect("a classifier on the embedded encoder");
    assert!(clf.report.unused.iter().any(|n| n.starts_with("cls.")), "{:?}", clf.report.unused);
}
