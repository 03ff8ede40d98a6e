//! Running a classifier over a labelled split: loss, scores and per-example predictions.
//! No dropout, and no gradient graph is kept.

use std::time::Instant;

use candle_core::D;

use super::metrics::score;
use crate::data::batch::Batcher;
use crate::data::tokenize::{Sequence, TextEncoder};
use crate::data::{Examples, LabelSet};
use crate::error::Result;
use crate::model::checkpoint::Classifier;
use crate::model::dropout::Dropout;
use crate::model::heads::SequenceClassifier;
use crate::train::event::{EvalReport, Prediction};

/// A split tokenized once, with class indices.
pub struct Encoded {
    pub examples: Examples,
    pub seqs: Vec<Sequence>,
    pub labels: Vec<u32>,
}

impl Encoded {
    pub fn new(
        examples: Examples,
        tokenizer: &TextEncoder,
        labels: &LabelSet,
        max_len: usize,
    ) -> Result<Self> {
        let seqs = tokenizer.encode_texts(&examples.texts, max_len)?;
        let labels = labels.encode(&examples.path, &examples.labels)?;
        Ok(Self { examples, seqs, labels })
    }

    pub fn len(&self) -> usize {
        self.seqs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seqs.is_empty()
    }
}

/// Evaluates `clf` on `set`. The report's step and epoch are 0; a trainer fills them in.
pub fn evaluate(
    clf: &Classifier,
    split: &str,
    set: &Encoded,
    batch_size: usize,
    batcher: &Batcher,
) -> Result<(EvalReport, Vec<Prediction>)> {
    let began = Instant::now();
    let names = clf.labels.clone();
    let mut dropout = Dropout::off();
    let mut loss_sum = 0f64;
    let mut predicted = vec![0u32; set.len()];
    let mut rows: Vec<Option<Prediction>> = (0..set.len()).map(|_| None).collect();
    // Batches of similar lengths waste little work on padding (the order does not change any
    // result); results go back to their rows.
    let mut order: Vec<usize> = (0..set.len()).collect();
    order.sort_by_key(|&i| set.seqs[i].ids.len());
    for chunk in order.chunks(batch_size.max(1)) {
        let batch = batcher.make(&set.seqs, &set.labels, chunk)?;
        let logits = clf.model.forward(&batch, &mut dropout)?.detach();
        let loss = SequenceClassifier::loss(&logits, &batch.labels)?.to_scalar::<f32>()?;
        loss_sum += f64::from(loss) * chunk.len() as f64;
        let probs = candle_nn::ops::softmax(&logits, D::Minus1)?.to_vec2::<f32>()?;
        for (&i, p) in chunk.iter().zip(probs) {
            let (best, confidence) =
                p.iter().copied().enumerate().max_by(|a, b| a.1.total_cmp(&b.1)).unwrap_or((0, 0.0));
            predicted[i] = best as u32;
            rows[i] = Some(Prediction {
                text: set.examples.texts[i].clone(),
                gold: names[set.labels[i] as usize].clone(),
                predicted: names[best].clone(),
                confidence,
                probabilities: p,
            });
        }
    }
    let rows: Vec<Prediction> = rows.into_iter().flatten().collect();
    let seconds = began.elapsed().as_secs_f64().max(1e-9);
    let report = EvalReport {
        split: split.to_owned(),
        step: 0,
        epoch: 0.0,
        loss: loss_sum / set.len().max(1) as f64,
        examples: set.len(),
        examples_per_sec: set.len() as f64 / seconds,
        scores: score(&set.labels, &predicted, &names),
        labels: names,
    };
    Ok((report, rows))
}
