//! Tokenization with the model's own tokenizer: `tokenizer.json`, or a BERT `WordPiece` tokenizer
//! assembled from `vocab.txt` when that is all the model has. Texts are tokenized once per
//! dataset; padding happens later, per batch (see `batch`).

use std::path::{Path, PathBuf};

use tokenizers::models::wordpiece::WordPiece;
use tokenizers::normalizers::BertNormalizer;
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::processors::bert::BertProcessing;
use tokenizers::{EncodeInput, Encoding, Tokenizer, TruncationParams, TruncationStrategy};

use crate::error::{Error, Result};

/// One tokenized example, unpadded: `[CLS] … [SEP]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sequence {
    pub ids: Vec<u32>,
    pub type_ids: Vec<u32>,
}

/// Tokens of a text without specials, and the word each belongs to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenRun {
    pub ids: Vec<u32>,
    pub words: Vec<Option<u32>>,
}

#[derive(Clone)]
pub struct TextEncoder {
    inner: Tokenizer,
    /// The file the tokenizer came from (`tokenizer.json` or `vocab.txt`).
    pub path: PathBuf,
    pub pad_id: u32,
}

impl TextEncoder {
    /// Loads `dir/tokenizer.json`, or builds a BERT tokenizer from `dir/vocab.txt`.
    pub fn from_model_dir(dir: &Path) -> Result<Self> {
        let json = dir.join("tokenizer.json");
        let vocab = dir.join("vocab.txt");
        let (inner, path) = if json.is_file() {
            let t = Tokenizer::from_file(&json).map_err(|e| tok_error(&json, e))?;
            (t, json)
        } else if vocab.is_file() {
            (wordpiece_from_vocab(&vocab, lowercase_from_config(dir))?, vocab)
        } else {
            return Err(Error::model(dir.display().to_string(), "has neither tokenizer.json nor vocab.txt"));
        };
        let pad_id = special(&inner, Special::Pad).ok_or_else(|| Error::Tokenizer {
            path: path.clone(),
            message: "has no padding token ([PAD] or <pad>)".into(),
        })?;
        Ok(Self { inner, path, pad_id })
    }

    /// The id of the mask token (`[MASK]`, RoBERTa's `<mask>`), if the tokenizer has one.
    pub fn mask_id(&self) -> Option<u32> {
        special(&self.inner, Special::Mask)
    }

    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// Tokenizes `texts` (in parallel), truncating each to `max_len` tokens including specials.
    pub fn encode_texts(&self, texts: &[String], max_len: usize) -> Result<Vec<Sequence>> {
        let inputs: Vec<&str> = texts.iter().map(String::as_str).collect();
        Ok(self.encode_inputs(inputs, max_len, false)?.iter().map(sequence).collect())
    }

    /// Tokenizes sentence pairs as `[CLS] a [SEP] b [SEP]` (segment 0, then 1), truncating the
    /// longer of the two first.
    pub fn encode_pairs(&self, texts: &[String], pairs: &[String], max_len: usize) -> Result<Vec<Sequence>> {
        let inputs: Vec<(&str, &str)> =
            texts.iter().zip(pairs).map(|(a, b)| (a.as_str(), b.as_str())).collect();
        Ok(self.encode_inputs(inputs, max_len, false)?.iter().map(sequence).collect())
    }

    /// Tokenizes texts already split into words (token classification): each sequence with the
    /// word index of each of its tokens (`None` for specials). Words cut by truncation are
    /// simply absent.
    pub fn encode_words(
        &self,
        words: &[Vec<String>],
        max_len: usize,
    ) -> Result<Vec<(Sequence, Vec<Option<u32>>)>> {
        let inputs: Vec<&[String]> = words.iter().map(Vec::as_slice).collect();
        Ok(self
            .encode_inputs(inputs, max_len, true)?
            .iter()
            .map(|e| (sequence(e), e.get_word_ids().to_vec()))
            .collect())
    }

    /// Encodes `inputs` with specials, truncated to `max_len`; `split_words` when they are words
    /// given already split (see `with_prefix_space`).
    fn encode_inputs<'s, E: Into<EncodeInput<'s>> + Send>(
        &self,
        inputs: Vec<E>,
        max_len: usize,
        split_words: bool,
    ) -> Result<Vec<Encoding>> {
        let mut tok = self.inner.clone();
        if split_words {
            with_prefix_space(&mut tok);
        }
        tok.with_padding(None);
        tok.with_truncation(Some(TruncationParams {
            max_length: max_len,
            strategy: TruncationStrategy::LongestFirst,
            ..TruncationParams::default()
        }))
        .map_err(|e| tok_error(&self.path, e))?;
        tok.encode_batch(inputs, true).map_err(|e| tok_error(&self.path, e))
    }

    /// Tokenizes `texts` (in parallel) without special tokens or truncation: token ids and the
    /// word each token belongs to (for whole-word masking).
    pub fn encode_pieces(&self, texts: &[String]) -> Result<Vec<TokenRun>> {
        let mut tok = self.inner.clone();
        tok.with_padding(None);
        tok.with_truncation(None).map_err(|e| tok_error(&self.path, e))?;
        let inputs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let encodings = tok.encode_batch(inputs, false).map_err(|e| tok_error(&self.path, e))?;
        Ok(encodings
            .into_iter()
            .map(|e| TokenRun { ids: e.get_ids().to_vec(), words: e.get_word_ids().to_vec() })
            .collect())
    }

    /// The ids of the tokens that open and close a sequence: `[CLS]` and `[SEP]`, or RoBERTa's
    /// `<s>` and `</s>`.
    pub fn cls_sep(&self) -> Result<(u32, u32)> {
        let id = |role: Special| {
            special(&self.inner, role).ok_or_else(|| Error::Tokenizer {
                path: self.path.clone(),
                message: format!("has no {} token", role.spellings().join(" or ")),
            })
        };
        Ok((id(Special::Cls)?, id(Special::Sep)?))
    }

    /// Ids of the special tokens (`[PAD]`, `[UNK]`, `[CLS]`, `[SEP]`, `[MASK]` and any other added
    /// special token): never masked, never drawn as replacements.
    pub fn special_ids(&self) -> Vec<u32> {
        let mut ids: Vec<u32> = self
            .inner
            .get_added_tokens_decoder()
            .iter()
            .filter(|(_, t)| t.special)
            .map(|(id, _)| *id)
            .collect();
        for role in Special::ALL {
            ids.extend(special(&self.inner, role));
        }
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// The token a vocabulary id stands for.
    pub fn id_to_token(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    /// Tokenizes one text with specials (for fill-mask probes).
    pub fn encode_one(&self, text: &str) -> Result<Vec<u32>> {
        let e = self.inner.encode(text, true).map_err(|e| tok_error(&self.path, e))?;
        Ok(e.get_ids().to_vec())
    }

    /// Writes `tokenizer.json` into `dir`.
    pub fn save_json(&self, dir: &Path) -> Result<()> {
        let path = dir.join("tokenizer.json");
        self.inner.save(&path, false).map_err(|e| tok_error(&path, e))
    }
}

/// The roles of special tokens, each spelt as BERT or as RoBERTa spells it.
#[derive(Debug, Clone, Copy)]
enum Special {
    Pad,
    Unk,
    Cls,
    Sep,
    Mask,
}

impl Special {
    const ALL: [Self; 5] = [Self::Pad, Self::Unk, Self::Cls, Self::Sep, Self::Mask];

    fn spellings(self) -> [&'static str; 2] {
        match self {
            Self::Pad => ["[PAD]", "<pad>"],
            Self::Unk => ["[UNK]", "<unk>"],
            Self::Cls => ["[CLS]", "<s>"],
            Self::Sep => ["[SEP]", "</s>"],
            Self::Mask => ["[MASK]", "<mask>"],
        }
    }
}

fn special(tokenizer: &Tokenizer, role: Special) -> Option<u32> {
    role.spellings().iter().find_map(|t| tokenizer.token_to_id(t))
}

/// A byte-level tokenizer (RoBERTa's) for words given already split: each word must be read as
/// if a space preceded it, as in running text (`transformers` asks for `add_prefix_space=True`
/// to tokenize split words for the same reason); otherwise every word but the first becomes
/// other tokens than in a sentence.
fn with_prefix_space(tokenizer: &mut Tokenizer) {
    fn set(p: &mut PreTokenizerWrapper) {
        match p {
            PreTokenizerWrapper::ByteLevel(b) => b.add_prefix_space = true,
            PreTokenizerWrapper::Sequence(seq) => seq.as_mut().iter_mut().for_each(set),
            _ => {}
        }
    }
    if let Some(mut pre) = tokenizer.get_pre_tokenizer().cloned() {
        set(&mut pre);
        tokenizer.with_pre_tokenizer(Some(pre));
    }
}

fn sequence(e: &Encoding) -> Sequence {
    Sequence { ids: e.get_ids().to_vec(), type_ids: e.get_type_ids().to_vec() }
}

fn tok_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Tokenizer { path: path.to_path_buf(), message: e.to_string() }
}

/// `do_lower_case` from `tokenizer_config.json`; BERT's default (true) when absent.
fn lowercase_from_config(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("tokenizer_config.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v.get("do_lower_case").and_then(serde_json::Value::as_bool))
        .unwrap_or(true)
}

/// The standard BERT pipeline: BERT normalizer, BERT pre-tokenizer, `WordPiece`, `[CLS] … [SEP]`.
pub fn wordpiece_from_vocab(vocab: &Path, lowercase: bool) -> Result<Tokenizer> {
    let vocab_str = vocab.to_str().ok_or_else(|| tok_error(vocab, "path is not UTF-8"))?;
    let model =
        WordPiece::from_file(vocab_str).unk_token("[UNK]".into()).build().map_err(|e| tok_error(vocab, e))?;
    let mut tok = Tokenizer::new(model);
    let id = |t: &str| tok.token_to_id(t).ok_or_else(|| tok_error(vocab, format!("has no {t} token")));
    let (cls, sep) = (id("[CLS]")?, id("[SEP]")?);
    tok.with_normalizer(Some(BertNormalizer::new(true, true, None, lowercase)))
        .map_err(|e| tok_error(vocab, e))?;
    tok.with_pre_tokenizer(Some(BertPreTokenizer));
    tok.with_post_processor(Some(BertProcessing::new(("[SEP]".into(), sep), ("[CLS]".into(), cls))));
    tok.with_decoder(Some(tokenizers::decoders::wordpiece::WordPiece::default()));
    // As Hugging Face's BERT tokenizer does: the specials are whole tokens in any text (so
    // "[MASK]" in a sentence is the mask token, not "[", "mask", "]").
    let specials: Vec<tokenizers::AddedToken> = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        .into_iter()
        .filter(|t| tok.token_to_id(t).is_some())
        .map(|t| tokenizers::AddedToken::from(t, true))
        .collect();
    tok.add_special_tokens(specials).map_err(|e| tok_error(vocab, e))?;
    Ok(tok)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vocab_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tmp");
        let words = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\nmovie\nwas\ngreat\n##ly\n.\n";
        std::fs::write(dir.path().join("vocab.txt"), words).expect("write");
        dir
    }

    #[test]
    fn vocab_txt_builds_a_bert_tokenizer_that_truncates() {
        let dir = vocab_dir();
        let enc = TextEncoder::from_model_dir(dir.path()).expect("load");
        assert_eq!(enc.pad_id, 0);
        let texts = vec!["The movie was GREATLY great.".to_owned(), "zebra".to_owned()];
        let seqs = enc.encode_texts(&texts, 64).expect("encode");
        // [CLS] the movie was great ##ly great . [SEP]
        assert_eq!(seqs[0].ids, [2, 5, 6, 7, 8, 9, 8, 10, 3]);
        assert_eq!(seqs[1].ids, [2, 1, 3]);
        assert!(seqs[0].type_ids.iter().all(|&t| t == 0));
        let short = enc.encode_texts(&texts, 4).expect("truncate");
        assert_eq!(short[0].ids, [2, 5, 6, 3]);
        // Specials in a text are whole tokens, as in Hugging Face's BERT tokenizer.
        assert_eq!(enc.encode_one("the [MASK] was great").expect("encode"), [2, 5, 4, 7, 8, 3]);
        assert_eq!(enc.special_ids(), [0, 1, 2, 3, 4]);
        // The saved tokenizer.json is found first next time and tokenizes the same way.
        enc.save_json(dir.path()).expect("save");
        let again = TextEncoder::from_model_dir(dir.path()).expect("reload");
        assert!(again.path.ends_with("tokenizer.json"));
        assert_eq!(again.encode_texts(&texts, 64).expect("encode"), seqs);
    }

    #[test]
    fn pairs_get_segments_and_words_keep_their_index() {
        let dir = vocab_dir();
        let enc = TextEncoder::from_model_dir(dir.path()).expect("load");
        let pair = enc.encode_pairs(&["the movie".into()], &["was great".into()], 64).expect("pair");
        // [CLS] the movie [SEP] was great [SEP]
        assert_eq!(pair[0].ids, [2, 5, 6, 3, 7, 8, 3]);
        assert_eq!(pair[0].type_ids, [0, 0, 0, 0, 1, 1, 1]);
        let words = vec![vec!["The".to_owned(), "greatly".to_owned(), "movie.".to_owned()]];
        let (seq, word_ids) = &enc.encode_words(&words, 64).expect("words")[0];
        // [CLS] the great ##ly movie . [SEP]: "movie." is one given word of two tokens.
        assert_eq!(seq.ids, [2, 5, 8, 9, 6, 10, 3]);
        assert_eq!(*word_ids, [None, Some(0), Some(1), Some(1), Some(2), Some(2), None]);
        let (_, cut) = &enc.encode_words(&words, 4).expect("truncated")[0];
        assert_eq!(*cut, [None, Some(0), Some(1), None]);
    }

    #[test]
    fn a_directory_without_tokenizer_is_refused() {
        let dir = tempfile::tempdir().expect("tmp");
        let err = TextEncoder::from_model_dir(dir.path()).err().expect("no tokenizer").to_string();
        assert!(err.contains("neither tokenizer.json nor vocab.txt"), "{err}");
    }
}
