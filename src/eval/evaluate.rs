//! Running a model over a labelled split: loss, scores and per-example predictions, whatever
//! the head. No dropout, and no gradient graph is kept.

use super::calibration::{of_label_sets, of_top_labels};
use std::time::Instant;

use candle_core::{D, Tensor};

use super::entities::{entity_types, score_entities};
use super::metrics::score;
use super::multilabel::{Threshold, predicted_set, score_label_sets, tune_threshold};
use super::regression::score_values;
use crate::data::batch::Batcher;
use crate::data::{Encoded, Targets};
use crate::error::Result;
use crate::model::checkpoint::Classifier;
use crate::model::dropout::Dropout;
use crate::model::heads::TaskModel;
use crate::report::{EvalReport, Prediction};

/// What the model said about one example, before scoring.
enum Output {
    /// Class or label probabilities (single- and multi-label).
    Probabilities(Vec<f32>),
    /// A regression value, in the targets' units.
    Value(f32),
    /// Per word: the predicted tag and its probability.
    Tags(Vec<(u32, f32)>),
}

/// Evaluates `clf` on `set`; `threshold` says how multi-label decisions are made (fixed, or tuned
/// on this very split when it is the validation split). The report's step and
/// epoch are 0; a trainer fills them in.
pub fn evaluate(
    clf: &Classifier,
    split: &str,
    set: &Encoded,
    batch_size: usize,
    batcher: &Batcher,
    threshold: Threshold,
) -> Result<(EvalReport, Vec<Prediction>)> {
    let began = Instant::now();
    let model = clf.inference_model()?;
    let mut dropout = Dropout::off();
    let mut loss_sum = 0f64;
    let mut outputs: Vec<Option<Output>> = (0..set.len()).map(|_| None).collect();
    // Batches of similar lengths waste little work on padding (the order does not change any
    // result); results go back to their rows.
    let mut order: Vec<usize> = (0..set.len()).collect();
    order.sort_by_key(|&i| set.seqs[i].ids.len());
    for chunk in order.chunks(batch_size.max(1)) {
        let batch = batcher.make(&set.seqs, &set.targets, chunk)?;
        let scores = model.forward(&batch, &mut dropout)?;
        let loss = model.loss(&scores, &batch)?.to_scalar::<f32>()?;
        loss_sum += f64::from(loss) * chunk.len() as f64;
        for (&i, out) in chunk.iter().zip(outputs_of(clf, &model, &scores, set, chunk)?) {
            outputs[i] = Some(out);
        }
    }
    let outputs: Vec<Output> = outputs.into_iter().flatten().collect();
    let seconds = began.elapsed().as_secs_f64().max(1e-9);
    let (labels, scores, rows) = judge(clf, set, outputs, threshold);
    let report = EvalReport {
        split: split.to_owned(),
        step: 0,
        epoch: 0.0,
        loss: loss_sum / set.len().max(1) as f64,
        examples: set.len(),
        examples_per_sec: set.len() as f64 / seconds,
        labels,
        scores,
    };
    Ok((report, rows))
}

fn outputs_of(
    clf: &Classifier,
    model: &TaskModel,
    scores: &Tensor,
    set: &Encoded,
    chunk: &[usize],
) -> Result<Vec<Output>> {
    // The targets say which head scored the batch.
    Ok(match &set.targets {
        Targets::Values(_) => model.values(scores)?.into_iter().map(Output::Value).collect(),
        Targets::Sets { .. } => candle_nn::ops::sigmoid(scores)?
            .to_vec2::<f32>()?
            .into_iter()
            .map(Output::Probabilities)
            .collect(),
        Targets::Tags(tags) => {
            let outside = clf.labels.iter().position(|l| l == "O").unwrap_or(0) as u32;
            let probs = candle_nn::ops::softmax(scores, D::Minus1)?.to_vec3::<f32>()?;
            chunk
                .iter()
                .zip(probs)
                .map(|(&i, per_token)| {
                    let words = tags[i]
                        .first_token
                        .iter()
                        .map(|t| match t {
                            Some(t) => best(&per_token[*t]),
                            // Cut off by truncation: the model said nothing, which reads as O.
                            None => (outside, f32::NAN),
                        })
                        .collect();
                    Output::Tags(words)
                })
                .collect()
        }
        Targets::Classes(_) => candle_nn::ops::softmax(scores, D::Minus1)?
            .to_vec2::<f32>()?
            .into_iter()
            .map(Output::Probabilities)
            .collect(),
    })
}

/// The most probable index and its probability.
fn best(p: &[f32]) -> (u32, f32) {
    p.iter().copied().enumerate().max_by(|a, b| a.1.total_cmp(&b.1)).map_or((0, 0.0), |(i, v)| (i as u32, v))
}

/// Scores the outputs against the targets and writes one prediction row per example. Returns
/// the labels the scores are over (classes, labels, entity types and `(none)`).
fn judge(
    clf: &Classifier,
    set: &Encoded,
    outputs: Vec<Output>,
    threshold: Threshold,
) -> (Vec<String>, crate::eval::Scores, Vec<Prediction>) {
    let names = &clf.labels;
    let text = |i: usize| set.examples.display_text(i);
    match &set.targets {
        Targets::Classes(gold) => {
            let mut predicted = Vec::with_capacity(gold.len());
            let rows = outputs
                .into_iter()
                .enumerate()
                .map(|(i, out)| {
                    let Output::Probabilities(p) = out else { unreachable!("classes give probabilities") };
                    let (c, confidence) = best(&p);
                    predicted.push(c);
                    Prediction {
                        text: text(i),
                        gold: names[gold[i] as usize].clone(),
                        predicted: names[c as usize].clone(),
                        confidence,
                        probabilities: p,
                    }
                })
                .collect::<Vec<Prediction>>();
            let mut scores = score(gold, &predicted, names);
            scores.calibration =
                Some(of_top_labels(rows.iter().map(|r| (r.confidence, r.gold == r.predicted))));
            (names.clone(), scores, rows)
        }
        Targets::Sets { sets, .. } => {
            let probs: Vec<Vec<f32>> = outputs
                .into_iter()
                .map(|o| match o {
                    Output::Probabilities(p) => p,
                    _ => unreachable!("label sets give probabilities"),
                })
                .collect();
            let t = match threshold {
                Threshold::At(t) => t,
                Threshold::TuneFrom(start) => tune_threshold(sets, &probs, names, start),
            };
            let join =
                |set: &[u32]| set.iter().map(|&c| names[c as usize].as_str()).collect::<Vec<_>>().join("|");
            let rows = probs
                .iter()
                .enumerate()
                .map(|(i, p)| Prediction {
                    text: text(i),
                    gold: join(&sets[i]),
                    predicted: join(&predicted_set(p, t)),
                    // The least sure of the label decisions.
                    confidence: p.iter().map(|&v| v.max(1.0 - v)).fold(1.0, f32::min),
                    probabilities: p.clone(),
                })
                .collect();
            let mut scores = score_label_sets(sets, &probs, t, names);
            scores.calibration = Some(of_label_sets(&probs, sets));
            (names.clone(), scores, rows)
        }
        Targets::Values(gold) => {
            let predicted: Vec<f32> = outputs
                .into_iter()
                .map(|o| match o {
                    Output::Value(v) => v,
                    _ => unreachable!("regression gives values"),
                })
                .collect();
            let rows = predicted
                .iter()
                .enumerate()
                .map(|(i, &v)| Prediction {
                    text: text(i),
                    gold: set.examples.labels[i].trim().to_owned(),
                    predicted: format!("{v:.4}"),
                    confidence: f32::NAN,
                    probabilities: vec![v],
                })
                .collect();
            (names.clone(), score_values(gold, &predicted), rows)
        }
        Targets::Tags(tags) => {
            let tag_name = |t: u32| names[t as usize].clone();
            let mut gold_tags = Vec::with_capacity(tags.len());
            let mut predicted_tags = Vec::with_capacity(tags.len());
            let rows = outputs
                .into_iter()
                .enumerate()
                .map(|(i, out)| {
                    let Output::Tags(words) = out else { unreachable!("tagging gives tags") };
                    let gold: Vec<String> = tags[i].gold.iter().map(|&t| tag_name(t)).collect();
                    let predicted: Vec<String> = words.iter().map(|&(t, _)| tag_name(t)).collect();
                    let row = Prediction {
                        text: text(i),
                        gold: gold.join(" "),
                        predicted: predicted.join(" "),
                        confidence: words.iter().map(|w| w.1).filter(|p| !p.is_nan()).fold(1.0, f32::min),
                        probabilities: words.iter().map(|w| w.1).collect(),
                    };
                    gold_tags.push(gold);
                    predicted_tags.push(predicted);
                    row
                })
                .collect();
            let types = entity_types(names);
            let scores = score_entities(&gold_tags, &predicted_tags, &types);
            let mut labels = types;
            labels.push(super::entities::NO_ENTITY.to_owned());
            (labels, scores, rows)
        }
    }
}
