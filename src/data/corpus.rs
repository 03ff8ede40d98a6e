//! Pretraining text: documents from plain-text files (blank lines separate documents) or from
//! a text column of any dataset file, turned into model inputs. Without next-sentence
//! prediction, each document's tokens are cut into full-length chunks; with it, each input is a
//! pair of sentence runs, the second following the first in half the cases and drawn from
//! another document in the other half.

use std::path::{Path, PathBuf};

use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::load::load_texts;
use super::tokenize::TextEncoder;
use crate::error::{Error, IoContext, Result};

/// Reads documents from each path: `.txt` files split at blank lines, a directory's `.txt`
/// files, or the text column of a `.csv`/`.tsv`/`.jsonl`/`.parquet` file (one document a row).
pub fn read_documents(paths: &[PathBuf], text_column: Option<&str>) -> Result<Vec<String>> {
    let mut docs = Vec::new();
    for path in corpus_files(paths)? {
        if is_text_file(&path) {
            docs.extend(text_documents(&path)?);
        } else {
            docs.extend(load_texts(&path, text_column)?);
        }
    }
    if docs.is_empty() {
        let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        return Err(Error::Config(format!("the corpus ({}) holds no text", names.join(", "))));
    }
    Ok(docs)
}

/// The files a corpus of `paths` is read from, in reading order: a folder's text files by name.
pub fn corpus_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut all = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(path)
                .at(path)?
                .filter_map(std::result::Result::ok)
                .map(|e| e.path())
                .filter(|p| is_text_file(p))
                .collect();
            files.sort();
            all.extend(files);
        } else {
            all.push(path.clone());
        }
    }
    Ok(all)
}

/// `.txt`, or `.txt.gz` (the shipped corpus is compressed).
fn is_text_file(path: &Path) -> bool {
    let name = path.file_name().map(|n| n.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
    std::path::Path::new(name.trim_end_matches(".gz")).extension().is_some_and(|e| e == "txt")
}

fn text_documents(path: &Path) -> Result<Vec<String>> {
    let text = if path.extension().is_some_and(|e| e == "gz") {
        let mut text = String::new();
        let file = std::fs::File::open(path).at(path)?;
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(file), &mut text)
            .map_err(|e| Error::data(path, format!("cannot be decompressed as gzip text: {e}")))?;
        text
    } else {
        std::fs::read_to_string(path).at(path)?
    };
    Ok(text
        .split("\n\n")
        .map(|d| d.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|d| !d.is_empty())
        .collect())
}

/// Splits a document into sentences at `.`, `!` or `?` followed by a space.
pub fn sentences(doc: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut start = 0;
    let bytes = doc.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if matches!(b, b'.' | b'!' | b'?') && bytes.get(i + 1) == Some(&b' ') {
            let s = doc[start..=i].trim();
            if !s.is_empty() {
                out.push(s.to_owned());
            }
            start = i + 1;
        }
    }
    let rest = doc[start..].trim();
    if !rest.is_empty() {
        out.push(rest.to_owned());
    }
    out
}

/// One pretraining input: `[CLS] a [SEP]` or `[CLS] a [SEP] b [SEP]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PretrainExample {
    pub ids: Vec<u32>,
    pub type_ids: Vec<u32>,
    /// The word each token belongs to (for whole-word masking); `None` for specials.
    pub word_ids: Vec<Option<u32>>,
    /// For pairs: whether `b` follows `a` in the document.
    pub is_next: Option<bool>,
}

/// A run of tokens with their word ids, without specials.
#[derive(Debug, Clone, Default)]
struct Piece {
    ids: Vec<u32>,
    words: Vec<Option<u32>>,
}

impl Piece {
    fn extend(&mut self, other: &Piece) {
        // Word ids restart per text: offset them so that words stay distinct.
        let offset = self.words.iter().flatten().max().map_or(0, |w| w + 1);
        self.ids.extend(&other.ids);
        self.words.extend(other.words.iter().map(|w| w.map(|w| w + offset)));
    }

    fn truncate(&mut self, n: usize) {
        self.ids.truncate(n);
        self.words.truncate(n);
    }
}

/// Builds inputs of at most `max_len` tokens. `seed` fixes the random pairs.
pub fn build_examples(
    docs: &[String],
    tokenizer: &TextEncoder,
    max_len: usize,
    nsp: bool,
    seed: u64,
) -> Result<Vec<PretrainExample>> {
    let (cls, sep) = tokenizer.cls_sep()?;
    if nsp {
        let per_doc: Vec<Vec<String>> = docs.iter().map(|d| sentences(d)).collect();
        let flat: Vec<String> = per_doc.iter().flatten().cloned().collect();
        let pieces = tokenizer.encode_pieces(&flat)?;
        let mut at = 0;
        let doc_pieces: Vec<Vec<Piece>> = per_doc
            .iter()
            .map(|d| {
                let out = pieces[at..at + d.len()]
                    .iter()
                    .map(|r| Piece { ids: r.ids.clone(), words: r.words.clone() })
                    .collect();
                at += d.len();
                out
            })
            .collect();
        Ok(sentence_pairs(&doc_pieces, max_len, cls, sep, seed))
    } else {
        let pieces = tokenizer.encode_pieces(docs)?;
        let budget = max_len.saturating_sub(2).max(1);
        let mut out = Vec::new();
        for run in pieces {
            for (chunk, wchunk) in run.ids.chunks(budget).zip(run.words.chunks(budget)) {
                let piece = Piece { ids: chunk.to_vec(), words: wchunk.to_vec() };
                out.push(single(&piece, cls, sep));
            }
        }
        Ok(out)
    }
}

fn single(a: &Piece, cls: u32, sep: u32) -> PretrainExample {
    let mut ids = vec![cls];
    ids.extend(&a.ids);
    ids.push(sep);
    let mut word_ids = vec![None];
    word_ids.extend(&a.words);
    word_ids.push(None);
    PretrainExample { type_ids: vec![0; ids.len()], ids, word_ids, is_next: None }
}

fn pair(a: &Piece, b: &Piece, is_next: bool, cls: u32, sep: u32) -> PretrainExample {
    let mut ex = single(a, cls, sep);
    let first = ex.ids.len();
    let offset = a.words.iter().flatten().max().map_or(0, |w| w + 1);
    ex.ids.extend(&b.ids);
    ex.ids.push(sep);
    ex.word_ids.extend(b.words.iter().map(|w| w.map(|w| w + offset)));
    ex.word_ids.push(None);
    ex.type_ids.resize(first, 0);
    ex.type_ids.resize(ex.ids.len(), 1);
    ex.is_next = Some(is_next);
    ex
}

/// Segment A: sentences of a document up to half the budget; B: the sentences that follow,
/// or (half the time) sentences of another document.
fn sentence_pairs(
    docs: &[Vec<Piece>],
    max_len: usize,
    cls: u32,
    sep: u32,
    seed: u64,
) -> Vec<PretrainExample> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let budget = max_len.saturating_sub(3).max(2);
    let half = budget / 2;
    let take_run = |sents: &[Piece], from: usize, limit: usize| -> (Piece, usize) {
        let mut piece = Piece::default();
        let mut i = from;
        while i < sents.len() && (piece.ids.is_empty() || piece.ids.len() + sents[i].ids.len() <= limit) {
            piece.extend(&sents[i]);
            i += 1;
        }
        piece.truncate(limit);
        (piece, i)
    };
    let mut out = Vec::new();
    for (d, sents) in docs.iter().enumerate() {
        let mut i = 0;
        while i + 1 < sents.len() {
            let (a, next) = take_run(sents, i, half);
            if next >= sents.len() {
                break;
            }
            let other_docs = docs.len() > 1;
            let (b, resume) = if other_docs && rng.random_bool(0.5) {
                let others: Vec<usize> = (0..docs.len()).filter(|&o| o != d && !docs[o].is_empty()).collect();
                let pick = *others.choose(&mut rng).unwrap_or(&d);
                let from = rng.random_range(0..docs[pick].len());
                (take_run(&docs[pick], from, budget - a.ids.len()).0, next)
            } else {
                take_run(sents, next, budget - a.ids.len())
            };
            let is_next = resume > next || !other_docs;
            out.push(pair(&a, &b, is_next, cls, sep));
            // Continue after what was used, so that text is not repeated within an epoch.
            i = if is_next { resume } else { next };
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences_split_at_end_marks() {
        assert_eq!(sentences("One. Two! Three? Four"), vec!["One.", "Two!", "Three?", "Four"]);
        assert_eq!(sentences("No split in 3.5 here."), vec!["No split in 3.5 here."]);
    }

    #[test]
    fn text_files_split_into_documents_at_blank_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("a.txt"), "First doc\nline two.\n\nSecond doc.\n\n\n").expect("write");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut gz, b"Third.").expect("gzip");
        std::fs::write(dir.path().join("b.txt.gz"), gz.finish().expect("gzip")).expect("write");
        let docs = read_documents(&[dir.path().to_path_buf()], None).expect("read");
        assert_eq!(docs, vec!["First doc line two.", "Second doc.", "Third."]);
        let empty = dir.path().join("empty.txt");
        std::fs::write(&empty, "\n\n").expect("write");
        assert!(read_documents(&[empty], None).expect_err("empty").to_string().contains("no text"));
    }
}
