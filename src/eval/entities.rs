//! Entity-level scores for IOB2 tagging, as seqeval computes them by default (the conlleval
//! rules): an entity is a maximal run of `B-X`/`I-X` tags of one type. It begins at `B-X`, or at
//! an `I-X` that does not continue an entity of type X (after `O` or another type); it ends
//! before `O`, `B-`, or a tag of another type. A predicted entity is correct only when its type,
//! first word and last word all match a gold entity.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::metrics::{ClassMetrics, Scores, averages, class_metrics, f1, ratio};

/// An entity: its type and its first and last word.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span {
    pub kind: String,
    pub start: usize,
    pub end: usize,
}

/// What only token classification has.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntityScores {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Share of words whose predicted tag is the gold tag.
    pub token_accuracy: f64,
    pub gold_entities: usize,
    pub predicted_entities: usize,
}

/// The entities of one tagged sentence.
pub fn spans<S: AsRef<str>>(tags: &[S]) -> Vec<Span> {
    let mut out = Vec::new();
    let mut open: Option<Span> = None;
    for (i, tag) in tags.iter().enumerate() {
        let tag = tag.as_ref();
        let (prefix, kind) = tag.split_once('-').unwrap_or((tag, ""));
        let continues = prefix == "I" && open.as_ref().is_some_and(|s| s.kind == kind);
        if continues {
            if let Some(s) = open.as_mut() {
                s.end = i;
            }
            continue;
        }
        out.extend(open.take());
        if (prefix == "B" || prefix == "I") && !kind.is_empty() {
            open = Some(Span { kind: kind.to_owned(), start: i, end: i });
        }
    }
    out.extend(open);
    out
}

/// The entity types that tags name, in first-seen order.
pub fn entity_types(tags: &[String]) -> Vec<String> {
    let mut types: Vec<String> = Vec::new();
    for t in tags {
        if let Some((_, kind)) = t.split_once('-')
            && !types.iter().any(|k| k == kind)
        {
            types.push(kind.to_owned());
        }
    }
    types
}

/// The label under which the confusion matrix counts a missed or invented entity.
pub const NO_ENTITY: &str = "(none)";

/// The type of the entity of `spans` with the same boundaries as `s`.
fn kind_at<'a>(spans: &'a [Span], s: &Span) -> Option<&'a str> {
    spans.iter().find(|q| q.start == s.start && q.end == s.end).map(|q| q.kind.as_str())
}

/// The confusion cells one sentence counts in, as (gold type, predicted type) with `None` for
/// `(none)`: each gold entity under the type of the predicted entity with the same boundaries
/// (none when there is none), then each predicted entity with no gold entity at its place.
pub fn confusion_cells<'a>(
    gold: &'a [Span],
    predicted: &'a [Span],
) -> impl Iterator<Item = (Option<&'a str>, Option<&'a str>)> + 'a {
    let found = gold.iter().map(|s| (Some(s.kind.as_str()), kind_at(predicted, s)));
    let invented =
        predicted.iter().filter(|s| kind_at(gold, s).is_none()).map(|s| (None, Some(s.kind.as_str())));
    found.chain(invented)
}

/// Scores predicted tag sequences against gold ones, per sentence. Per class: each entity type.
/// Confusion (over the types and `(none)`): a gold entity found with the same boundaries counts
/// under its predicted type; one not found under `(none)`; a predicted entity with no gold
/// entity of the same boundaries is counted in the `(none)` row.
pub fn score_entities(gold: &[Vec<String>], predicted: &[Vec<String>], types: &[String]) -> Scores {
    let k = types.len();
    let index = |kind: &str| types.iter().position(|t| t == kind).unwrap_or(k);
    let mut confusion = vec![vec![0usize; k + 1]; k + 1];
    let (mut tp, mut fp, mut fn_) = (vec![0usize; k + 1], vec![0usize; k + 1], vec![0usize; k + 1]);
    let (mut words, mut right_words, mut gold_total, mut predicted_total) = (0, 0, 0, 0);
    for (g, p) in gold.iter().zip(predicted) {
        words += g.len();
        right_words += g.iter().zip(p).filter(|(a, b)| a == b).count();
        let (gs, ps) = (spans(g), spans(p));
        gold_total += gs.len();
        predicted_total += ps.len();
        let ps_set: BTreeSet<&Span> = ps.iter().collect();
        for s in &gs {
            if ps_set.contains(s) {
                tp[index(&s.kind)] += 1;
            } else {
                fn_[index(&s.kind)] += 1;
            }
        }
        let gs_set: BTreeSet<&Span> = gs.iter().collect();
        for s in ps.iter().filter(|s| !gs_set.contains(s)) {
            fp[index(&s.kind)] += 1;
        }
        for (g, p) in confusion_cells(&gs, &ps) {
            confusion[g.map_or(k, index)][p.map_or(k, index)] += 1;
        }
    }
    // As seqeval: types that occur neither in the gold tags nor in the predictions of this split
    // are not scored (they would pull the macro average down for nothing).
    let per_class: Vec<ClassMetrics> = (0..k)
        .filter(|&c| tp[c] + fp[c] + fn_[c] > 0)
        .map(|c| class_metrics(&types[c], tp[c], fp[c], fn_[c]))
        .collect();
    let (macro_precision, macro_recall, macro_f1, weighted_f1) = averages(&per_class);
    let (all_tp, all_fp, all_fn) =
        (tp.iter().sum::<usize>(), fp.iter().sum::<usize>(), fn_.iter().sum::<usize>());
    let (precision, recall) = (ratio(all_tp, all_tp + all_fp), ratio(all_tp, all_tp + all_fn));
    let entity_f1 = f1(precision, recall);
    Scores {
        accuracy: ratio(right_words, words),
        macro_precision,
        macro_recall,
        macro_f1,
        micro_f1: entity_f1,
        weighted_f1,
        per_class,
        confusion,
        entities: Some(EntityScores {
            precision,
            recall,
            f1: entity_f1,
            token_accuracy: ratio(right_words, words),
            gold_entities: gold_total,
            predicted_entities: predicted_total,
        }),
        ..Scores::empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    fn span(kind: &str, start: usize, end: usize) -> Span {
        Span { kind: kind.into(), start, end }
    }

    #[test]
    fn spans_follow_the_conlleval_rules() {
        // I- without B- begins an entity; adjacent B-s of one type are two entities.
        assert_eq!(spans(&tags("O I-PER I-PER O")), [span("PER", 1, 2)]);
        assert_eq!(spans(&tags("B-LOC B-LOC I-LOC")), [span("LOC", 0, 0), span("LOC", 1, 2)]);
        // A change of type ends one entity and begins another, even with I-.
        assert_eq!(spans(&tags("B-PER I-LOC I-LOC")), [span("PER", 0, 0), span("LOC", 1, 2)]);
        assert_eq!(spans(&tags("B-ORG")), [span("ORG", 0, 0)]);
        assert!(spans(&tags("O O")).is_empty());
    }

    #[test]
    fn entity_scores_match_hand_computed_values() {
        let types = tags("PER LOC");
        let gold = vec![
            tags("B-PER I-PER O B-LOC"), // PER 0-1, LOC 3
            tags("B-LOC B-LOC O O"),     // LOC 0, LOC 1 (adjacent, same type)
            tags("O B-PER I-PER I-PER"), // PER 1-3
        ];
        let predicted = vec![
            tags("B-PER I-PER O I-LOC"), // PER 0-1 ✓, LOC 3 ✓ (I- without B-)
            tags("B-LOC I-LOC O O"),     // LOC 0-1 ✗ (merges the two)
            tags("O B-PER I-PER O"),     // PER 1-2 ✗ (boundary)
        ];
        let s = score_entities(&gold, &predicted, &types);
        let e = s.entities.as_ref().expect("section");
        // gold 5 entities, predicted 4, correct 2
        assert_eq!((e.gold_entities, e.predicted_entities), (5, 4));
        assert!((e.precision - 0.5).abs() < 1e-12 && (e.recall - 0.4).abs() < 1e-12);
        assert!((e.f1 - 2.0 * 0.5 * 0.4 / 0.9).abs() < 1e-12);
        // The headline micro-F1 of a tagging run is the entity F1, not a per-token figure.
        assert!((s.micro_f1 - 2.0 * 0.5 * 0.4 / 0.9).abs() < 1e-12);
        // PER: tp 1, fp 1, fn 1 -> 0.5; LOC: tp 1, fp 1, fn 2 -> p 0.5, r 1/3, f1 0.4
        assert!((s.per_class[0].f1 - 0.5).abs() < 1e-12 && (s.per_class[1].f1 - 0.4).abs() < 1e-12);
        assert_eq!(s.per_class[1].support, 3);
        // 12 words, wrong: word 3 of #1, word 1 of #2, word 3 of #3 -> 9/12
        assert!((e.token_accuracy - 0.75).abs() < 1e-12);
        // confusion rows PER, LOC, (none): PER 0-1 found as PER; PER 1-3 not found; LOC 3 found;
        // LOC 0 found at the same place? no (predicted 0-1); LOC 1 no. Invented: LOC 0-1, PER 1-2.
        assert_eq!(s.confusion, [[1, 0, 1], [0, 1, 2], [1, 1, 0]]);
    }

    #[test]
    fn types_absent_from_a_split_are_not_scored() {
        let types = tags("PER LOC ORG");
        let s = score_entities(&[tags("B-PER O")], &[tags("B-PER O")], &types);
        assert_eq!(s.per_class.len(), 1, "only PER occurs");
        assert!((s.macro_f1 - 1.0).abs() < 1e-12);
        assert_eq!(s.confusion.len(), 4, "the confusion keeps every type");
    }

    #[test]
    fn type_errors_show_in_the_confusion() {
        let types = tags("PER LOC");
        let s = score_entities(&[tags("B-PER O")], &[tags("B-LOC O")], &types);
        assert_eq!(s.confusion, [[0, 1, 0], [0, 0, 0], [0, 0, 0]]);
        assert_eq!(s.entities.expect("section").f1, 0.0);
    }
}
