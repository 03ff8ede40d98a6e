//! Word-tagged sentences for token classification: CoNLL-style column files (`.iob2`, `.conll`,
//! `.bio`: one word per line, columns separated by tabs or spaces, `#` comment lines, a blank
//! line between sentences) and JSON Lines with a list of words and a list of tags per line.
//!
//! Tags follow IOB2: `O`, `B-TYPE` (an entity begins), `I-TYPE` (it goes on). A sentence comes
//! back as its words joined by spaces (the text) and its tags joined by spaces (the label), with
//! the words kept apart for tokenisation.

use std::path::Path;

use super::load::Examples;
use crate::error::{Error, IoContext, Result};

/// Whether `path` names a column file this module reads.
pub fn is_column_file(path: &Path) -> bool {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    matches!(ext.as_str(), "iob2" | "iob" | "bio" | "conll" | "conllu")
}

/// Reads tagged sentences from a column file or a `.jsonl` file. `token_column` and
/// `tag_column` count from 1; when absent, a file whose lines begin with an integer index (as
/// CoNLL-U-style IOB2 files such as Universal NER's) has the word in column 2 and the tag in
/// column 3, and any other file (CoNLL-2003 style) the word first and the tag last. For JSON Lines, `words_key` and
/// `tags_key` name the lists (`tokens` and `tags` by default).
pub fn read_tagged(
    path: &Path,
    columns: (Option<usize>, Option<usize>),
    keys: (Option<&str>, Option<&str>),
) -> Result<Examples> {
    let text = std::fs::read(path).at(path)?;
    let text = String::from_utf8(text).map_err(|e| {
        let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = good.split(|&b| b == b'\n').count();
        Error::data(path, format!("line {line}: invalid UTF-8 (save the file as UTF-8)"))
    })?;
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    let sentences = if is_column_file(path) {
        parse_columns(path, &text, columns)?
    } else if matches!(ext.as_str(), "jsonl" | "ndjson") {
        parse_json_lines(path, &text, keys.0.unwrap_or("tokens"), keys.1.unwrap_or("tags"))?
    } else {
        return Err(Error::data(
            path,
            "token classification needs word-tagged sentences: a .iob2/.conll/.bio file or .jsonl with tokens and tags",
        ));
    };
    if sentences.is_empty() {
        return Err(Error::data(path, "has no sentences"));
    }
    let mut examples = Examples { path: path.to_path_buf(), ..Examples::default() };
    for (words, tags) in sentences {
        examples.texts.push(words.join(" "));
        examples.labels.push(tags.join(" "));
        examples.words.push(words);
    }
    Ok(examples)
}

type Sentence = (Vec<String>, Vec<String>);

/// Splits a data line into its fields: on tabs when it has any, else on whitespace.
fn fields_of(line: &str) -> Vec<&str> {
    if line.contains('\t') { line.split('\t').collect() } else { line.split_whitespace().collect() }
}

/// `#` starts a comment line, unless the line is a tab-separated word and tag (a hashtag).
fn is_comment(line: &str) -> bool {
    line.starts_with('#')
        && !(line.contains('\t') && fields_of(line).last().is_some_and(|t| check_tag(t.trim()).is_ok()))
}

fn parse_columns(path: &Path, text: &str, columns: (Option<usize>, Option<usize>)) -> Result<Vec<Sentence>> {
    // Decided once per file: CoNLL-U style files number each sentence's words from 1.
    let indexed = text
        .lines()
        .map(|l| l.trim_end_matches('\r'))
        .find(|l| !l.trim().is_empty() && !is_comment(l) && !l.starts_with("-DOCSTART-"))
        .is_some_and(|l| {
            let f = fields_of(l);
            f.len() >= 3 && f[0] == "1"
        });
    let mut sentences = Vec::new();
    let mut words = Vec::new();
    let mut tags = Vec::new();
    let mut end_sentence = |words: &mut Vec<String>, tags: &mut Vec<String>| {
        if !words.is_empty() {
            sentences.push((std::mem::take(words), std::mem::take(tags)));
        }
    };
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            end_sentence(&mut words, &mut tags);
            continue;
        }
        if is_comment(line) || line.starts_with("-DOCSTART-") {
            continue;
        }
        let fields = fields_of(line);
        if fields.len() < 2 {
            return Err(Error::data(
                path,
                format!("line {n}: expected a word and a tag separated by a tab, got {line:?}"),
            ));
        }
        // In indexed files, multi-word token ranges ("3-4") and empty nodes ("3.1") carry no tag.
        if indexed && fields[0].parse::<usize>().is_err() {
            continue;
        }
        let word_at = columns.0.map_or(usize::from(indexed), |c| c.saturating_sub(1));
        let tag_at = columns.1.map_or(if indexed { 2 } else { fields.len() - 1 }, |c| c.saturating_sub(1));
        let field = |at: usize, role: &str| {
            fields.get(at).map(|s| s.trim()).ok_or_else(|| {
                Error::data(
                    path,
                    format!("line {n}: no column {} (the {role}); the line has {}", at + 1, fields.len()),
                )
            })
        };
        let (word, tag) = (field(word_at, "word")?, field(tag_at, "tag")?);
        check_tag(tag).map_err(|why| Error::data(path, format!("line {n}: tag {tag:?} {why}")))?;
        if word.is_empty() || word.contains(char::is_whitespace) {
            return Err(Error::data(path, format!("line {n}: the word {word:?} is empty or holds a space")));
        }
        words.push(word.to_owned());
        tags.push(tag.to_owned());
    }
    end_sentence(&mut words, &mut tags);
    Ok(sentences)
}

fn parse_json_lines(path: &Path, text: &str, words_key: &str, tags_key: &str) -> Result<Vec<Sentence>> {
    let mut sentences = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let value: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| Error::data(path, format!("line {n}: invalid JSON: {e}")))?;
        let list = |key: &str| -> Result<Vec<String>> {
            let items = value.get(key).and_then(serde_json::Value::as_array).ok_or_else(|| {
                Error::data(
                    path,
                    format!("line {n}: no list {key:?} (give the key with --text-column/--label-column)"),
                )
            })?;
            items
                .iter()
                .map(|v| match v {
                    serde_json::Value::String(s) => Ok(s.clone()),
                    other => Err(Error::data(
                        path,
                        format!("line {n}: {key:?} holds {other}, expected strings (tag names, not ids)"),
                    )),
                })
                .collect()
        };
        let (words, tags) = (list(words_key)?, list(tags_key)?);
        if words.len() != tags.len() {
            return Err(Error::data(
                path,
                format!("line {n}: {} words but {} tags", words.len(), tags.len()),
            ));
        }
        if let Some((w, tag)) = tags.iter().enumerate().find_map(|(w, t)| check_tag(t).err().map(|e| (w, e)))
        {
            return Err(Error::data(path, format!("line {n}, word {}: tag {:?} {tag}", w + 1, tags[w])));
        }
        if words.iter().any(|w| w.trim().is_empty() || w.contains(char::is_whitespace)) {
            return Err(Error::data(path, format!("line {n}: a word is empty or holds a space")));
        }
        if !words.is_empty() {
            sentences.push((words, tags));
        }
    }
    Ok(sentences)
}

/// `O`, or `B-`/`I-` followed by a type.
fn check_tag(tag: &str) -> std::result::Result<(), &'static str> {
    if tag == "O" {
        return Ok(());
    }
    match tag.split_once('-') {
        Some(("B" | "I", kind)) if !kind.is_empty() => Ok(()),
        _ => Err("is not an IOB2 tag (O, B-TYPE or I-TYPE)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, content: &str) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, content).expect("write");
        p
    }

    #[test]
    fn reads_column_files_with_and_without_an_index() {
        let dir = tempfile::tempdir().expect("tmp");
        let plain = write(
            dir.path(),
            "a.iob2",
            "# text = Ada lives in Paris\nAda\tB-PER\nlives\tO\nin\tO\nParis\tB-LOC\n\n\nHello\tO\n",
        );
        let e = read_tagged(&plain, (None, None), (None, None)).expect("read");
        assert_eq!(e.texts, ["Ada lives in Paris", "Hello"]);
        assert_eq!(e.labels, ["B-PER O O B-LOC", "O"]);
        assert_eq!(e.words[0], ["Ada", "lives", "in", "Paris"]);
        let indexed =
            write(dir.path(), "b.conll", "1\tNew\tB-LOC\t-\tann\n2\tYork\tI-LOC\t-\tann\n3-4\tdon't\t_\t_\n");
        let e = read_tagged(&indexed, (None, None), (None, None)).expect("read");
        assert_eq!(e.labels, ["B-LOC I-LOC"]);
        assert_eq!(e.words[0], ["New", "York"]);
        let conll03 = write(
            dir.path(),
            "c.conll",
            "-DOCSTART- -X- O O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n1996 CD I-NP O\n",
        );
        let e = read_tagged(&conll03, (None, None), (None, None)).expect("read");
        assert_eq!(e.labels, ["B-ORG O O"], "a number is a word, not an index, in an unindexed file");
        assert_eq!(e.words[0][2], "1996");
        // Numbers with dots and dashes, and hashtags, are words.
        let odd = write(dir.path(), "d.iob2", "# a comment\n1.6\tO\n1996-08-22\tB-DATE\n#tbt\tO\n");
        let e = read_tagged(&odd, (None, None), (None, None)).expect("read");
        assert_eq!(e.words[0], ["1.6", "1996-08-22", "#tbt"]);
        let spaced = write(dir.path(), "e.iob2", "New York\tB-LOC\n");
        let m = read_tagged(&spaced, (None, None), (None, None)).expect_err("space").to_string();
        assert!(m.contains("line 1") && m.contains("holds a space"), "{m}");
        let csv = write(dir.path(), "f.csv", "text,label\na,b\n");
        let m = read_tagged(&csv, (None, None), (None, None)).expect_err("csv").to_string();
        assert!(m.contains("needs word-tagged sentences"), "{m}");
    }

    #[test]
    fn errors_name_the_line() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = write(dir.path(), "bad.iob2", "# c\nAda\tB-PER\nlives\tX-LOC\n");
        let m = read_tagged(&p, (None, None), (None, None)).expect_err("bad tag").to_string();
        assert!(m.contains("bad.iob2") && m.contains("line 3") && m.contains("\"X-LOC\""), "{m}");
        let p = write(dir.path(), "short.iob2", "Ada\tB-PER\n\nlonely\n");
        let m = read_tagged(&p, (None, None), (None, None)).expect_err("one column").to_string();
        assert!(m.contains("line 3") && m.contains("a word and a tag"), "{m}");
        let p = write(dir.path(), "col.iob2", "Ada\tB-PER\n");
        let m = read_tagged(&p, (None, Some(4)), (None, None)).expect_err("column").to_string();
        assert!(m.contains("line 1: no column 4 (the tag)"), "{m}");
        let p = write(dir.path(), "empty.iob2", "# only a comment\n\n");
        assert!(
            read_tagged(&p, (None, None), (None, None))
                .expect_err("empty")
                .to_string()
                .contains("no sentences")
        );
    }

    #[test]
    fn reads_json_lines_and_checks_lengths() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = write(
            dir.path(),
            "a.jsonl",
            "{\"tokens\": [\"Ada\", \"sings\"], \"tags\": [\"B-PER\", \"O\"]}\n\n{\"tokens\": [\"Hi\"], \"tags\": [\"O\"]}\n",
        );
        let e = read_tagged(&p, (None, None), (None, None)).expect("read");
        assert_eq!(e.labels, ["B-PER O", "O"]);
        let p = write(
            dir.path(),
            "b.jsonl",
            "{\"words\": [\"a\"], \"ner\": [\"O\"]}\n{\"words\": [\"a\", \"b\"], \"ner\": [\"O\"]}\n",
        );
        let m = read_tagged(&p, (None, None), (Some("words"), Some("ner"))).expect_err("lengths").to_string();
        assert!(m.contains("line 2: 2 words but 1 tags"), "{m}");
        let p = write(dir.path(), "c.jsonl", "{\"tokens\": [\"a\"], \"tags\": [3]}\n");
        let m = read_tagged(&p, (None, None), (None, None)).expect_err("ids").to_string();
        assert!(m.contains("line 1") && m.contains("expected strings"), "{m}");
    }
}
