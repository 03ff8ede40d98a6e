//! What fine-tuning did to the sentence vectors: the validation set's final `[CLS]` vectors
//! from the encoder the run started from and from the fine-tuned one, each projected to its own
//! first two principal axes, with how well the classes separate in the full space.
//!
//! The `[CLS]` hidden state is used on both sides (not the pooled output): a pretrained
//! checkpoint without a pooler would otherwise be read through a random layer.

use std::collections::BTreeMap;
use std::path::Path;

use candle_core::{Device, IndexOp};

use super::pca::Pca;
use crate::config::{HeadKind, RunConfig, RunKind};
use crate::data::batch::Batcher;
use crate::data::tokenize::Sequence;
use crate::data::{Examples, Splits, Targets};
use crate::error::{Error, Result};
use crate::model::checkpoint::{Classifier, HeadSpec};
use crate::model::dropout::Dropout;
use crate::model::encoder::Pass;
use crate::model::heads::Freeze;

/// Examples projected, at most (the first of the split).
pub const MAX_EXAMPLES: usize = 1000;
/// Colours a scatter can tell apart: further label sets share the last group.
const MAX_GROUPS: usize = 7;

/// One side of the picture.
#[derive(Debug, Clone, PartialEq)]
pub struct Scatter {
    pub points: Vec<[f64; 2]>,
    /// Share of the variance on each of the two axes.
    pub explained: [f64; 2],
    /// Share of the vectors' variance that lies between the groups' means (0: the groups
    /// overlap completely; 1: each group is a point).
    pub separation: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Representations {
    pub split: String,
    /// The groups points are coloured by (gold classes, label sets or value quartiles).
    pub groups: Vec<String>,
    /// The group of each point.
    pub group_of: Vec<usize>,
    /// The encoder the run started from, and what it is ("pretrained embedded", "random").
    pub before: Scatter,
    pub before_name: String,
    pub after: Scatter,
}

/// Projects the validation split (the test split when there is none) of the finished run in
/// `run_dir` before and after fine-tuning.
pub fn representations(run_dir: &Path, max_examples: usize) -> Result<Representations> {
    let info = crate::runs::store::load_run(run_dir);
    let name = run_dir.display().to_string();
    let cfg = info.config.ok_or_else(|| Error::model(&name, "has no readable config.toml"))?;
    if cfg.kind == RunKind::Pretrain {
        return Err(Error::model(&name, "is a pretraining run: it has no classes to separate"));
    }
    if cfg.head == HeadKind::TokenCls {
        return Err(Error::model(
            &name,
            "is a tagging run: its vectors are per word, not per sentence (this view needs a sentence head)",
        ));
    }
    let splits = Splits::load(&cfg.data, cfg.head, cfg.train.seed)?;
    let (split, mut examples) = match (splits.valid, splits.test) {
        (Some(v), _) => ("valid", v),
        (None, Some(t)) => ("test", t),
        (None, None) => return Err(Error::model(&name, "has neither a validation nor a test split")),
    };
    // A seeded sample, not the file's first rows (a file sorted by label would give one class).
    if examples.len() > max_examples {
        let mut rows = crate::data::batch::epoch_order(examples.len(), cfg.train.seed, 0);
        rows.truncate(max_examples);
        rows.sort_unstable();
        examples = examples.select(&rows);
    }
    if examples.len() < 3 {
        return Err(Error::data(&examples.path, "needs at least 3 examples to project"));
    }
    let after = Classifier::load_fine_tuned(&run_dir.join("model"), &Device::Cpu)?;
    let (dir, scratch) = crate::train::lifecycle::model_dir(&cfg, &splits.train.texts)?;
    let spec = HeadSpec { head: cfg.head, labels: Some(after.labels.clone()), freeze: Freeze::default() };
    let from_scratch = cfg.model.from_scratch || scratch.is_some();
    let before =
        Classifier::from_dir(&dir, &cfg.model.source, spec, cfg.train.seed, from_scratch, &Device::Cpu)?;
    let before_name = if from_scratch {
        format!("random encoder (seed {}, from scratch)", cfg.train.seed)
    } else {
        format!("pretrained {}", crate::runs::short_model_name(&cfg.model.source))
    };
    let (groups, group_of) = grouping(cfg.head, &examples, MAX_GROUPS);
    // Separation is of the true classes (label sets, quartiles), however many: only the
    // colours are capped.
    let (_, class_of) = grouping(cfg.head, &examples, usize::MAX);
    let side = |clf: &Classifier| -> Result<Scatter> {
        let vectors = cls_vectors(clf, &examples, &cfg)?;
        let pca = Pca::fit(&vectors);
        Ok(Scatter {
            points: vectors.iter().map(|v| pca.project(v)).collect(),
            explained: pca.explained,
            separation: separation(&vectors, &class_of),
        })
    };
    Ok(Representations {
        split: split.to_owned(),
        groups,
        before: side(&before)?,
        before_name,
        after: side(&after)?,
        group_of,
    })
}

/// Final-layer `[CLS]` vectors of `examples` under `clf`'s encoder (no dropout).
fn cls_vectors(clf: &Classifier, examples: &Examples, cfg: &RunConfig) -> Result<Vec<Vec<f32>>> {
    let tok = &clf.tokenizer;
    let max_len = cfg.train.max_len;
    let seqs: Vec<Sequence> = if examples.pairs.is_empty() {
        tok.encode_texts(&examples.texts, max_len)?
    } else {
        tok.encode_pairs(&examples.texts, &examples.pairs, max_len)?
    };
    let model = clf.inference_model()?;
    let batcher = Batcher::new(tok.pad_id, &Device::Cpu);
    let targets = Targets::Classes(vec![0; seqs.len()]);
    let indices: Vec<usize> = (0..seqs.len()).collect();
    let mut out = Vec::with_capacity(seqs.len());
    for chunk in indices.chunks(cfg.train.eval_batch_size.max(1)) {
        let batch = batcher.make(&seqs, &targets, chunk)?;
        let mut dropout = Dropout::off();
        let mut pass = Pass { dropout: &mut dropout, frozen_layers: 0, keep_attentions: false };
        let hidden = model
            .encoder
            .forward(&batch.input_ids, &batch.type_ids, &batch.attention_mask, &mut pass)?
            .hidden;
        out.extend(hidden.i((.., 0))?.to_vec2::<f32>()?);
    }
    Ok(out)
}

/// What colours the points: gold classes or label sets, the most common first, at most `cap`
/// groups (the rarest share the last, "other"); value quartiles.
fn grouping(head: HeadKind, examples: &Examples, cap: usize) -> (Vec<String>, Vec<usize>) {
    let labels: Vec<&str> = examples.labels.iter().map(|l| l.trim()).collect();
    if head == HeadKind::Regression {
        let mut values: Vec<f64> = labels.iter().filter_map(|l| l.parse().ok()).collect();
        values.sort_by(f64::total_cmp);
        // The value at or below which a share `p` of the values lies.
        let q = |p: f64| {
            let at = ((values.len() as f64 * p).ceil() as usize).saturating_sub(1);
            values.get(at).copied().unwrap_or(0.0)
        };
        let cuts = [q(0.25), q(0.5), q(0.75)];
        let names = vec![
            format!("≤ {}", short(cuts[0])),
            format!("≤ {}", short(cuts[1])),
            format!("≤ {}", short(cuts[2])),
            format!("> {}", short(cuts[2])),
        ];
        let of = labels
            .iter()
            .map(|l| l.parse::<f64>().map_or(0, |v| cuts.iter().take_while(|&&c| v > c).count()))
            .collect();
        return (names, of);
    }
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for l in &labels {
        *counts.entry(l).or_default() += 1;
    }
    // Most common first (ties in name order): the rarest are the ones merged.
    let mut names: Vec<&str> = counts.keys().copied().collect();
    names.sort_by_key(|n| std::cmp::Reverse(counts[n]));
    let mut groups: Vec<String> = names.iter().take(cap).map(|n| display_group(n)).collect();
    let other = names.len() > cap;
    if other {
        groups.truncate(cap - 1);
        groups.push("other".into());
    }
    let of = labels
        .iter()
        .map(|l| {
            let at = names.iter().position(|n| n == l).unwrap_or(0);
            if other { at.min(cap - 1) } else { at }
        })
        .collect();
    (groups, of)
}

fn display_group(name: &str) -> String {
    if name.is_empty() { "(no label)".into() } else { name.to_owned() }
}

fn short(v: f64) -> String {
    if v.fract() == 0.0 { format!("{v:.0}") } else { format!("{v:.2}") }
}

/// Between-group share of the total variance (`Σ n_g |μ_g − μ|² / Σ |x − μ|²`).
pub fn separation(vectors: &[Vec<f32>], group_of: &[usize]) -> f64 {
    let h = vectors.first().map_or(0, Vec::len);
    let mean = |rows: &mut dyn Iterator<Item = &Vec<f32>>| -> (Vec<f64>, usize) {
        let mut m = vec![0.0; h];
        let mut n = 0;
        for r in rows {
            n += 1;
            for (a, &v) in m.iter_mut().zip(r) {
                *a += f64::from(v);
            }
        }
        for a in &mut m {
            *a /= n.max(1) as f64;
        }
        (m, n)
    };
    let (all, _) = mean(&mut vectors.iter());
    let dist = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f64>();
    let total: f64 =
        vectors.iter().map(|v| dist(&v.iter().map(|&x| f64::from(x)).collect::<Vec<_>>(), &all)).sum();
    let groups = group_of.iter().max().map_or(0, |g| g + 1);
    let between: f64 = (0..groups)
        .map(|g| {
            let (m, n) = mean(&mut vectors.iter().zip(group_of).filter(|(_, x)| **x == g).map(|(v, _)| v));
            n as f64 * dist(&m, &all)
        })
        .sum();
    if total > 0.0 { between / total } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separation_is_zero_for_mixed_groups_and_one_for_points() {
        let v = |x: f32, y: f32| vec![x, y];
        let mixed = [v(0.0, 0.0), v(2.0, 0.0), v(0.0, 0.0), v(2.0, 0.0)];
        assert!(separation(&mixed, &[0, 0, 1, 1]).abs() < 1e-12);
        assert!((separation(&mixed, &[0, 1, 0, 1]) - 1.0).abs() < 1e-12);
        let half = [v(0.0, 0.0), v(1.0, 0.0), v(3.0, 0.0), v(4.0, 0.0)];
        // Group means 0.5 and 3.5 around 2: between 2·1.5²·2 = 9; total 4 + 1 + 1 + 4 = 10.
        assert!((separation(&half, &[0, 0, 1, 1]) - 0.9).abs() < 1e-12);
    }

    #[test]
    fn values_fall_into_quartiles_and_rare_label_sets_into_other() {
        let ex = |labels: &[&str]| Examples {
            labels: labels.iter().map(|&l| l.to_owned()).collect(),
            texts: vec![String::new(); labels.len()],
            ..Examples::default()
        };
        let (names, of) =
            grouping(HeadKind::Regression, &ex(&["1", "2", "3", "4", "5", "6", "7", "8"]), MAX_GROUPS);
        assert_eq!(names.len(), 4);
        assert_eq!(of, vec![0, 0, 1, 1, 2, 2, 3, 3], "{names:?}");
        let sets: Vec<String> = (0..9).map(|i| format!("l{i}")).collect();
        let mut labels: Vec<&str> = sets.iter().map(String::as_str).collect();
        labels.extend(["l0", "l0", "l1"]);
        let (names, of) = grouping(HeadKind::MultiLabel, &ex(&labels), MAX_GROUPS);
        assert_eq!(names.len(), MAX_GROUPS);
        assert_eq!((names[0].as_str(), names[1].as_str()), ("l0", "l1"), "most common first");
        assert_eq!(names[MAX_GROUPS - 1], "other");
        assert!(of.iter().all(|&g| g < MAX_GROUPS));
        // Uncapped (for the separation), every set is its own class.
        let (all, of) = grouping(HeadKind::SeqCls, &ex(&labels), usize::MAX);
        assert_eq!(all.len(), 9);
        assert_eq!(of.iter().max(), Some(&8));
    }
}
