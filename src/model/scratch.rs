//! Models built from scratch: a BERT of a preset size whose WordPiece vocabulary is trained on
//! the run's own texts. It is the baseline that shows what pretraining is worth, and a model
//! that needs no download.

use std::path::Path;

use tokenizers::models::TrainerWrapper;
use tokenizers::models::wordpiece::{WordPiece, WordPieceTrainer};
use tokenizers::normalizers::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::processors::bert::BertProcessing;
use tokenizers::{AddedToken, Tokenizer};

use super::encoder_config::EncoderConfig;
use crate::error::{Error, IoContext, Result};

/// Model sources of the form `scratch:PRESET`.
pub const PREFIX: &str = "scratch:";

pub const SPECIAL_TOKENS: [&str; 5] = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    /// 2 layers, hidden 128, 2 heads.
    Tiny,
    /// 4 layers, hidden 256, 4 heads.
    Mini,
    /// 4 layers, hidden 512, 8 heads.
    Small,
}

impl Preset {
    pub const ALL: [Self; 3] = [Self::Tiny, Self::Mini, Self::Small];

    pub fn name(self) -> &'static str {
        match self {
            Self::Tiny => "tiny",
            Self::Mini => "mini",
            Self::Small => "small",
        }
    }

    /// The model source that selects this preset, e.g. `scratch:tiny`.
    pub fn source(self) -> String {
        format!("{PREFIX}{}", self.name())
    }

    /// Its size in words, e.g. `2 layers, hidden 128`.
    pub fn describe(self) -> String {
        let (layers, hidden, heads) = self.dims();
        format!("{layers} layers, hidden {hidden}, {heads} heads")
    }

    /// `Some(preset)` for a `scratch:…` source, `None` for any other source.
    pub fn from_source(source: &str) -> Result<Option<Self>> {
        let Some(name) = source.strip_prefix(PREFIX) else {
            return Ok(None);
        };
        match Self::ALL.into_iter().find(|p| p.name() == name) {
            Some(p) => Ok(Some(p)),
            None => {
                Err(Error::model(source, "unknown preset: use scratch:tiny, scratch:mini or scratch:small"))
            }
        }
    }

    /// (layers, hidden size, attention heads)
    pub fn dims(self) -> (usize, usize, usize) {
        match self {
            Self::Tiny => (2, 128, 2),
            Self::Mini => (4, 256, 4),
            Self::Small => (4, 512, 8),
        }
    }
}

/// Trains a lower-casing BERT WordPiece tokenizer with at most `vocab_size` tokens on `texts`.
pub fn train_wordpiece(texts: &[String], vocab_size: usize) -> Result<Tokenizer> {
    let fail = |e: tokenizers::Error| Error::Tokenizer { path: "(trained)".into(), message: e.to_string() };
    let mut tok = Tokenizer::new(WordPiece::default());
    tok.with_normalizer(Some(BertNormalizer::new(true, true, None, true))).map_err(fail)?;
    tok.with_pre_tokenizer(Some(BertPreTokenizer));
    let specials = SPECIAL_TOKENS.iter().map(|t| AddedToken::from(*t, true)).collect();
    let mut trainer: TrainerWrapper = WordPieceTrainer::builder()
        .vocab_size(vocab_size)
        .min_frequency(1)
        .show_progress(false)
        .special_tokens(specials)
        .build()
        .into();
    tok.train(&mut trainer, texts.iter()).map_err(fail)?;
    let id = |t: &str| {
        tok.token_to_id(t)
            .ok_or_else(|| Error::Tokenizer { path: "(trained)".into(), message: format!("{t} missing") })
    };
    let (cls, sep) = (id("[CLS]")?, id("[SEP]")?);
    tok.with_post_processor(Some(BertProcessing::new(("[SEP]".into(), sep), ("[CLS]".into(), cls))));
    tok.with_decoder(Some(tokenizers::decoders::wordpiece::WordPiece::default()));
    Ok(tok)
}

/// Writes `config.json`, `tokenizer.json` and `vocab.txt` of a fresh `preset` model into `dir`.
///
/// The trainer numbers its tokens in an order that changes from one training to the next (its
/// hash maps), and a model's weights are rows by token id: a resumed run, or the masking
/// inspector, would read the same text as other ids. WordPiece needs only the set of tokens,
/// so the ids follow a fixed order instead: the specials, then the rest by (continuation
/// piece, length, text).
pub fn write_scratch_model(dir: &Path, preset: Preset, texts: &[String], vocab_size: usize) -> Result<()> {
    let trained = train_wordpiece(texts, vocab_size)?;
    std::fs::create_dir_all(dir).at(dir)?;
    let mut tokens: Vec<String> =
        trained.get_vocab(true).into_keys().filter(|t| !SPECIAL_TOKENS.contains(&t.as_str())).collect();
    tokens.sort_by_cached_key(|t| (t.starts_with("##"), t.chars().count(), t.clone()));
    let vocab: Vec<String> = SPECIAL_TOKENS.iter().map(|t| (*t).to_owned()).chain(tokens).collect();
    let lines: String = vocab.iter().flat_map(|t| [t.as_str(), "\n"]).collect();
    let vocab_path = dir.join("vocab.txt");
    std::fs::write(&vocab_path, lines).at(&vocab_path)?;
    let tok = crate::data::tokenize::wordpiece_from_vocab(&vocab_path, true)?;
    let json = dir.join("tokenizer.json");
    tok.save(&json, false).map_err(|e| Error::Tokenizer { path: json.clone(), message: e.to_string() })?;
    let (layers, hidden, heads) = preset.dims();
    let config = EncoderConfig::tiny(vocab.len(), hidden, layers, heads);
    let text = serde_json::to_string_pretty(&config).map_err(|e| Error::Config(e.to_string()))?;
    std::fs::write(dir.join("config.json"), text).at(dir.join("config.json"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::tokenize::TextEncoder;

    #[test]
    fn the_same_texts_train_the_same_vocabulary() {
        let texts: Vec<String> = (0..40)
            .map(|d| format!("the cat number {d} sat on the mat . the dog slept in the barn by the river ."))
            .collect();
        let vocab = |_: usize| {
            let dir = tempfile::tempdir().expect("tmp");
            write_scratch_model(dir.path(), Preset::Tiny, &texts, 120).expect("build");
            std::fs::read_to_string(dir.path().join("vocab.txt")).expect("vocab")
        };
        let first = vocab(0);
        for i in 1..6 {
            assert_eq!(vocab(i), first, "training {i} gave another vocabulary");
        }
    }

    #[test]
    fn trained_vocabulary_has_the_specials_first_and_tokenizes_its_corpus() {
        let texts: Vec<String> = ["the cat sat on the mat", "the dog sat on the log", "cats and dogs"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        let dir = tempfile::tempdir().expect("tmp");
        write_scratch_model(dir.path(), Preset::Tiny, &texts, 60).expect("build");
        let vocab = std::fs::read_to_string(dir.path().join("vocab.txt")).expect("vocab");
        let first: Vec<&str> = vocab.lines().take(5).collect();
        assert_eq!(first, SPECIAL_TOKENS);
        let enc = TextEncoder::from_model_dir(dir.path()).expect("load");
        let seq = &enc.encode_texts(&["The cat sat".to_owned()], 16).expect("encode")[0];
        assert_eq!(seq.ids.first(), enc.token_to_id("[CLS]").as_ref());
        assert!(!seq.ids.contains(&enc.token_to_id("[UNK]").expect("unk")), "{:?}", seq.ids);
        let config = EncoderConfig::from_file(&dir.path().join("config.json")).expect("config");
        assert_eq!((config.num_hidden_layers, config.hidden_size), (2, 128));
        assert!(Preset::from_source("scratch:huge").is_err());
        assert_eq!(Preset::from_source("bert-base-uncased").expect("ok"), None);
    }
}
