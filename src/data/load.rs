//! Reads labelled text from CSV, TSV, JSONL and Parquet through polars.
//!
//! polars does the parsing; this module adds what polars does not say well: which row, which
//! line and which column is wrong. CSV/TSV files are pre-scanned so that a ragged row or invalid
//! UTF-8 is reported with its line number instead of a generic parser error.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use polars::prelude::*;

use crate::error::{Error, IoContext, Result};

/// Names tried, in order, when no text column is given.
pub const TEXT_COLUMN_NAMES: &[&str] = &[
    "text",
    "sentence",
    "review",
    "content",
    "document",
    "body",
    "question",
    "utterance",
    "tweet",
    "comment",
    "message",
];
/// Names tried, in order, when no label column is given.
pub const LABEL_COLUMN_NAMES: &[&str] =
    &["label", "labels", "class", "category", "target", "sentiment", "y", "score", "value", "year"];

/// Labelled texts read from one file. `labels` are kept as strings as written (a class, a
/// list of classes, a number, or a sentence's tags joined by spaces); the task reads them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Examples {
    pub path: PathBuf,
    pub texts: Vec<String>,
    pub labels: Vec<String>,
    /// The second text of each sentence pair; empty when the task has single texts.
    pub pairs: Vec<String>,
    /// Token classification: each text's words (the text is these joined by spaces).
    pub words: Vec<Vec<String>>,
}

/// Which columns of a table file to read.
#[derive(Debug, Clone, Default)]
pub struct Columns<'a> {
    pub text: Option<&'a str>,
    pub label: Option<&'a str>,
    /// The second text of a sentence pair.
    pub pair: Option<&'a str>,
    /// Multi-label: an empty label is an example without labels, and list columns are read
    /// (as JSON lists).
    pub label_sets: bool,
}

impl Examples {
    pub fn len(&self) -> usize {
        self.texts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.texts.is_empty()
    }

    /// The examples at `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> Self {
        fn pick<T: Clone>(items: &[T], indices: &[usize]) -> Vec<T> {
            if items.is_empty() { Vec::new() } else { indices.iter().map(|&i| items[i].clone()).collect() }
        }
        Self {
            path: self.path.clone(),
            texts: pick(&self.texts, indices),
            labels: pick(&self.labels, indices),
            pairs: pick(&self.pairs, indices),
            words: pick(&self.words, indices),
        }
    }

    /// Keeps the first `n` examples.
    pub fn truncate(&mut self, n: usize) {
        self.texts.truncate(n);
        self.labels.truncate(n);
        self.pairs.truncate(n);
        self.words.truncate(n);
    }

    /// Example `i` as one line of text (a pair shown with `[SEP]` between its parts).
    pub fn display_text(&self, i: usize) -> String {
        match self.pairs.get(i) {
            Some(b) => format!("{} [SEP] {b}", self.texts[i]),
            None => self.texts[i].clone(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv,
    Tsv,
    JsonLines,
    Parquet,
}

impl Format {
    fn of(path: &Path) -> Result<Self> {
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
        match ext.as_str() {
            "csv" => Ok(Self::Csv),
            "tsv" | "tab" => Ok(Self::Tsv),
            "jsonl" | "ndjson" => Ok(Self::JsonLines),
            "parquet" | "pq" => Ok(Self::Parquet),
            _ => Err(Error::data(
                path,
                format!("unknown file type {ext:?}: use .csv, .tsv, .jsonl or .parquet"),
            )),
        }
    }

    /// Where data row `row` (0-based) sits, in words a user can find in an editor.
    fn locate(self, row: usize) -> String {
        match self {
            Self::Csv | Self::Tsv => format!("row {} (line {})", row + 1, row + 2),
            Self::JsonLines => format!("row {} (line {})", row + 1, row + 1),
            Self::Parquet => format!("row {}", row + 1),
        }
    }
}

/// Reads `path` and returns its texts and labels. Columns are taken by name, or inferred from
/// common names. Errors name the file, the row and the column.
pub fn load_examples(path: &Path, columns: &Columns) -> Result<Examples> {
    let format = Format::of(path)?;
    let frame = read_frame(path, format)?;
    examples_from(path, format, &frame, columns).map(|(examples, _)| examples)
}

/// What a data file holds, read once: its columns (known even when no text or label column
/// can be found), and its examples with the (text, label) columns they came from.
pub struct Inspection {
    pub columns: Vec<String>,
    pub examples: Result<(Examples, (String, String))>,
}

/// Reads a data file for a preview; only an unreadable file is an outer error.
pub fn inspect(path: &Path, columns: &Columns) -> Result<Inspection> {
    let format = Format::of(path)?;
    let frame = read_frame(path, format)?;
    let names = frame.get_column_names().iter().map(std::string::ToString::to_string).collect();
    Ok(Inspection { columns: names, examples: examples_from(path, format, &frame, columns) })
}

fn examples_from(
    path: &Path,
    format: Format,
    frame: &DataFrame,
    columns: &Columns,
) -> Result<(Examples, (String, String))> {
    if frame.height() == 0 {
        return Err(Error::data(path, "has no data rows"));
    }
    let names: Vec<String> = frame.get_column_names().iter().map(std::string::ToString::to_string).collect();
    let text_name = pick_column(path, &names, columns.text, TEXT_COLUMN_NAMES, "text")?;
    let label_name = pick_column(path, &names, columns.label, LABEL_COLUMN_NAMES, "label")?;
    let texts = string_column(path, format, frame, &text_name, false)?;
    let labels = string_column(path, format, frame, &label_name, columns.label_sets)?;
    let pairs = match columns.pair {
        Some(pair) => {
            let name = pick_column(path, &names, Some(pair), &[], "text-pair")?;
            let pairs = string_column(path, format, frame, &name, false)?;
            if let Some(row) = pairs.iter().position(|t| t.trim().is_empty()) {
                return Err(Error::data(path, format!("{}: column {name:?} is empty", format.locate(row))));
            }
            pairs
        }
        None => Vec::new(),
    };
    for (row, text) in texts.iter().enumerate() {
        if text.trim().is_empty() {
            return Err(Error::data(path, format!("{}: column {text_name:?} is empty", format.locate(row))));
        }
    }
    for (row, label) in labels.iter().enumerate() {
        if label.trim().is_empty() && !columns.label_sets {
            return Err(Error::data(
                path,
                format!("{}: column {label_name:?} (the label) is empty", format.locate(row)),
            ));
        }
    }
    let examples = Examples { path: path.to_path_buf(), texts, labels, pairs, words: Vec::new() };
    Ok((examples, (text_name, label_name)))
}

/// The texts of one column of a data file (a pretraining corpus needs no labels). Empty
/// texts are skipped.
pub fn load_texts(path: &Path, text_column: Option<&str>) -> Result<Vec<String>> {
    let format = Format::of(path)?;
    let frame = read_frame(path, format)?;
    let names: Vec<String> = frame.get_column_names().iter().map(std::string::ToString::to_string).collect();
    let name = pick_column(path, &names, text_column, TEXT_COLUMN_NAMES, "text")?;
    Ok(string_column(path, format, &frame, &name, false)?
        .into_iter()
        .filter(|t| !t.trim().is_empty())
        .collect())
}

/// Reads the Parquet file `file` (opened from `path`). polars' reader panics on some damaged
/// files (tests/fuzz.rs found one: a byte flipped in the footer's thrift metadata gives "thrift
/// bool field"), so its panic becomes this file's error. A file that Hugging Face `datasets`
/// wrote has its class columns' names in its metadata: those columns come back as the names
/// (see `class_labels`).
pub fn read_parquet(path: &Path, file: std::fs::File) -> Result<DataFrame> {
    let read = || -> PolarsResult<(DataFrame, Vec<ClassNames>)> {
        let mut reader = ParquetReader::new(file);
        let classes = class_labels(
            reader
                .get_metadata()?
                .key_value_metadata()
                .iter()
                .flatten()
                .filter_map(|kv| (kv.key == "huggingface").then_some(kv.value.as_deref()).flatten()),
        );
        Ok((reader.finish()?, classes))
    };
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(read)) {
        Ok(Ok((frame, classes))) => named_classes(path, frame, &classes),
        Ok(Err(e)) => Err(Error::data(path, format!("cannot be parsed: {e}"))),
        Err(panic) => Err(Error::data(
            path,
            format!("is a damaged Parquet file ({})", crate::error::panic_message(&*panic)),
        )),
    }
}

/// A column of class numbers and the classes' names, in index order.
type ClassNames = (String, Vec<String>);

/// The columns `datasets` describes as class labels (`ClassLabel`, or a list of them), with
/// their names in index order, from the `huggingface` metadata of a Parquet file
/// (`{"info": {"features": {"label": {"_type": "ClassLabel", "names": [...]}, ...}}}`).
fn class_labels<'a>(metadata: impl Iterator<Item = &'a str>) -> Vec<ClassNames> {
    let names_of = |feature: &serde_json::Value| -> Option<Vec<String>> {
        let feature = match feature.get("_type")?.as_str()? {
            "ClassLabel" => feature,
            // A list of class labels (label sets): `Sequence` in older `datasets`, `List` now.
            "Sequence" | "List" => feature.get("feature").filter(|f| f["_type"] == "ClassLabel")?,
            _ => return None,
        };
        feature.get("names")?.as_array()?.iter().map(|n| n.as_str().map(str::to_owned)).collect()
    };
    let mut columns = Vec::new();
    for text in metadata {
        let Ok(json) = serde_json::from_str::<serde_json::Value>(text) else { continue };
        let features = json.pointer("/info/features").and_then(serde_json::Value::as_object);
        for (column, feature) in features.into_iter().flatten() {
            if let Some(names) = names_of(feature) {
                columns.push((column.clone(), names));
            }
        }
    }
    columns
}

/// `frame` with each of `classes`' columns of class numbers replaced by the class names, as
/// `datasets` shows them (`-1`, its "no label", becomes a missing value). A number with no
/// name is refused with its row.
fn named_classes(path: &Path, mut frame: DataFrame, classes: &[ClassNames]) -> Result<DataFrame> {
    let bad = |e: PolarsError| Error::data(path, format!("cannot be parsed: {e}"));
    for (column, names) in classes {
        let Ok(values) = frame.column(column).map(|c| c.as_materialized_series().clone()) else { continue };
        let name = |row: usize, class: Option<i64>| -> Result<Option<String>> {
            match class {
                None | Some(-1) => Ok(None),
                Some(c) => {
                    usize::try_from(c).ok().and_then(|c| names.get(c)).cloned().map(Some).ok_or_else(|| {
                        Error::data(
                            path,
                            format!(
                                "row {}: column {column:?} holds class {c}, but its ClassLabel has {} names",
                                row + 1,
                                names.len()
                            ),
                        )
                    })
                }
            }
        };
        let named = match values.dtype() {
            DataType::List(_) => {
                let lists = values.list().map_err(bad)?;
                let rows = (0..lists.len())
                    .map(|row| {
                        let Some(items) = lists.get_as_series(row) else {
                            return Ok(Series::new_null("".into(), 0));
                        };
                        let items = items.cast(&DataType::Int64).map_err(bad)?;
                        let named: Vec<Option<String>> = items
                            .i64()
                            .map_err(bad)?
                            .iter()
                            .map(|c| name(row, c))
                            .collect::<Result<Vec<_>>>()?;
                        Ok(Series::new("".into(), named.into_iter().flatten().collect::<Vec<String>>()))
                    })
                    .collect::<Result<Vec<Series>>>()?;
                Series::new(column.as_str().into(), rows)
            }
            dtype if dtype.is_integer() => {
                let classes = values.cast(&DataType::Int64).map_err(bad)?;
                let named = classes
                    .i64()
                    .map_err(bad)?
                    .iter()
                    .enumerate()
                    .map(|(row, c)| name(row, c))
                    .collect::<Result<Vec<_>>>()?;
                Series::new(column.as_str().into(), named)
            }
            // Not numbers after all (already names): left as they are.
            _ => continue,
        };
        frame.with_column(named.into_column()).map_err(bad)?;
    }
    Ok(frame)
}

fn read_frame(path: &Path, format: Format) -> Result<DataFrame> {
    let polars_error = |e: PolarsError| Error::data(path, format!("cannot be parsed: {e}"));
    if format == Format::Parquet {
        return read_parquet(path, std::fs::File::open(path).at(path)?);
    }
    let bytes = std::fs::read(path).at(path)?;
    check_utf8(path, &bytes)?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::data(path, "is empty"));
    }
    match format {
        Format::Csv | Format::Tsv => {
            let (separator, quote) = if format == Format::Tsv { (b'\t', None) } else { (b',', Some(b'"')) };
            check_field_counts(path, &bytes, separator, quote)?;
            let parse = CsvParseOptions::default().with_separator(separator).with_quote_char(quote);
            CsvReadOptions::default()
                .with_has_header(true)
                // Every column as a string: labels such as "01" keep their spelling.
                .with_infer_schema_length(Some(0))
                .with_parse_options(parse)
                .into_reader_with_file_handle(Cursor::new(bytes))
                .finish()
                .map_err(polars_error)
        }
        Format::JsonLines => {
            check_json_lines(path, &bytes)?;
            JsonReader::new(Cursor::new(bytes))
                .with_json_format(JsonFormat::JsonLines)
                .finish()
                .map_err(polars_error)
        }
        Format::Parquet => unreachable!("handled above"),
    }
}

/// Invalid UTF-8 is reported with its line and byte column.
fn check_utf8(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Err(e) = std::str::from_utf8(bytes) {
        let good = &bytes[..e.valid_up_to()];
        let line = good.split(|&b| b == b'\n').count();
        let column = good.len() - good.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1) + 1;
        return Err(Error::data(
            path,
            format!("line {line}, byte {column}: invalid UTF-8 (save the file as UTF-8)"),
        ));
    }
    Ok(())
}

/// Finds the first record whose number of fields differs from the header's, honouring quotes
/// (a quoted field may hold separators and newlines).
fn check_field_counts(path: &Path, bytes: &[u8], separator: u8, quote: Option<u8>) -> Result<()> {
    let mut expected = None;
    let mut fields = 1;
    let mut in_quotes = false;
    let mut line = 1;
    let mut record_line = 1;
    let mut record_has_content = false;
    let mut record = 0usize;
    let mut check = |fields: usize, record: usize, record_line: usize| -> Result<()> {
        match expected {
            None => expected = Some(fields),
            Some(n) if n != fields => {
                return Err(Error::data(
                    path,
                    format!(
                        "row {record} (line {record_line}) has {fields} field{}, the header has {n}",
                        if fields == 1 { "" } else { "s" }
                    ),
                ));
            }
            Some(_) => {}
        }
        Ok(())
    };
    for &b in bytes {
        if Some(b) == quote {
            in_quotes = !in_quotes;
            record_has_content = true;
            continue;
        }
        if b == b'\n' {
            line += 1;
            if in_quotes {
                continue;
            }
            if record_has_content {
                check(fields, record, record_line)?;
                record += 1;
            }
            fields = 1;
            record_has_content = false;
            record_line = line;
            continue;
        }
        if in_quotes {
            continue;
        }
        if b == separator {
            fields += 1;
        }
        if b != b'\r' {
            record_has_content = true;
        }
    }
    if record_has_content {
        check(fields, record, record_line)?;
    }
    Ok(())
}

/// polars reports a malformed JSON line without its position; `serde_json` finds it.
fn check_json_lines(path: &Path, bytes: &[u8]) -> Result<()> {
    for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<serde_json::Value>(line) {
            Ok(serde_json::Value::Object(_)) => {}
            Ok(_) => {
                return Err(Error::data(path, format!("line {}: expected a JSON object", i + 1)));
            }
            Err(e) => {
                return Err(Error::data(path, format!("line {}: invalid JSON: {e}", i + 1)));
            }
        }
    }
    Ok(())
}

fn pick_column(
    path: &Path,
    names: &[String],
    wanted: Option<&str>,
    candidates: &[&str],
    role: &str,
) -> Result<String> {
    if let Some(w) = wanted {
        return names.iter().find(|n| n.as_str() == w).cloned().ok_or_else(|| {
            Error::data(path, format!("no column {w:?} (the {role} column); columns are {names:?}"))
        });
    }
    candidates
        .iter()
        .find_map(|c| names.iter().find(|n| n.eq_ignore_ascii_case(c)))
        .cloned()
        .ok_or_else(|| {
            Error::data(
                path,
                format!(
                    "no {role} column found among {names:?}; name it with --{role}-column (tried {candidates:?})"
                ),
            )
        })
}

/// A column's values as text. With `lists` (label sets), a list value becomes a JSON list and
/// a missing value an empty text.
fn string_column(
    path: &Path,
    format: Format,
    frame: &DataFrame,
    name: &str,
    lists: bool,
) -> Result<Vec<String>> {
    let column = frame.column(name).map_err(|e| Error::data(path, e.to_string()))?;
    let series = column.as_materialized_series();
    let strings = match series.dtype() {
        DataType::String => series.clone(),
        DataType::List(_) if lists => {
            let ca = series.list().map_err(|e| Error::data(path, format!("column {name:?}: {e}")))?;
            return (0..ca.len())
                .map(|row| {
                    let items = ca
                        .get_as_series(row)
                        .map(|s| string_column_values(&s))
                        .transpose()
                        .map_err(|e| {
                            Error::data(path, format!("{}: column {name:?}: {e}", format.locate(row)))
                        })?
                        .unwrap_or_default();
                    Ok(serde_json::Value::from(items).to_string())
                })
                .collect();
        }
        DataType::List(_) | DataType::Struct(_) => {
            return Err(Error::data(
                path,
                format!("column {name:?} holds {} values, expected text or a single label", series.dtype()),
            ));
        }
        _ => {
            series.cast(&DataType::String).map_err(|e| Error::data(path, format!("column {name:?}: {e}")))?
        }
    };
    let ca = strings.str().map_err(|e| Error::data(path, format!("column {name:?}: {e}")))?;
    ca.iter()
        .enumerate()
        .map(|(row, v)| {
            // An empty label set is often written as an empty field.
            let v = if lists { v.or(Some("")) } else { v };
            v.map(str::to_owned).ok_or_else(|| {
                Error::data(path, format!("{}: column {name:?} is missing", format.locate(row)))
            })
        })
        .collect()
}

/// The values of a list item, as text.
fn string_column_values(s: &Series) -> PolarsResult<Vec<String>> {
    let s = s.cast(&DataType::String)?;
    Ok(s.str()?.iter().flatten().map(str::to_owned).collect())
}

/// SHA-256 of a file, hex-encoded: recorded in the run so a dataset change is visible.
pub fn sha256_file(path: &Path) -> Result<String> {
    use sha2::Digest;
    use std::fmt::Write;
    let bytes = std::fs::read(path).at(path)?;
    let digest = sha2::Sha256::digest(&bytes);
    Ok(digest.iter().fold(String::with_capacity(64), |mut hex, b| {
        let _ = write!(hex, "{b:02x}");
        hex
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, content: &[u8]) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, content).expect("write");
        p
    }

    fn err(path: &Path) -> String {
        load_examples(path, &Columns::default()).expect_err("should fail").to_string()
    }

    #[test]
    fn reads_every_format_with_inferred_columns() {
        let dir = tempfile::tempdir().expect("tmp");
        let csv = write(dir.path(), "a.csv", b"id,Sentence,label\n1,\"good, very\",pos\n2,bad,neg\n");
        let e = load_examples(&csv, &Columns::default()).expect("csv");
        assert_eq!(e.texts, ["good, very", "bad"]);
        assert_eq!(e.labels, ["pos", "neg"]);
        let tsv = write(dir.path(), "a.tsv", b"text\tlabel\nit's \"fine\"\t1\nno\t0\n");
        let e = load_examples(&tsv, &Columns::default()).expect("tsv");
        assert_eq!(e.texts, ["it's \"fine\"", "no"]);
        assert_eq!(e.labels, ["1", "0"]);
        let jsonl = write(
            dir.path(),
            "a.jsonl",
            b"{\"review\": \"ok\", \"class\": 3}\n\n{\"review\": \"meh\", \"class\": 1}\n",
        );
        let e = load_examples(&jsonl, &Columns::default()).expect("jsonl");
        assert_eq!(e.texts, ["ok", "meh"]);
        assert_eq!(e.labels, ["3", "1"]);
        let mut df = df!("body" => ["x", "y"], "target" => ["a", "b"]).expect("df");
        let pq = dir.path().join("a.parquet");
        ParquetWriter::new(std::fs::File::create(&pq).expect("create")).finish(&mut df).expect("write pq");
        let e = load_examples(&pq, &Columns::default()).expect("parquet");
        assert_eq!(e.texts, ["x", "y"]);
        let e =
            load_examples(&csv, &Columns { text: Some("id"), label: Some("label"), ..Columns::default() })
                .expect("explicit");
        assert_eq!(e.texts, ["1", "2"]);
    }

    /// A Parquet file as Hugging Face `datasets` writes it: class numbers, their names in the
    /// file's `huggingface` metadata.
    fn datasets_parquet(path: &Path, mut frame: DataFrame) -> PathBuf {
        let features = serde_json::json!({"info": {"features": {
            "sentence": {"dtype": "string", "_type": "Value"},
            "label": {"names": ["negative", "positive"], "_type": "ClassLabel"},
            "topics": {"feature": {"names": ["arts", "sport", "war"], "_type": "ClassLabel"}, "_type": "List"},
        }}});
        let meta = polars::io::parquet::write::KeyValueMetadata::from_static(vec![(
            "huggingface".to_owned(),
            features.to_string(),
        )]);
        ParquetWriter::new(std::fs::File::create(path).expect("create"))
            .with_key_value_metadata(Some(meta))
            .finish(&mut frame)
            .expect("write");
        path.to_path_buf()
    }

    #[test]
    fn class_numbers_of_a_datasets_parquet_file_read_as_their_names() {
        let dir = tempfile::tempdir().expect("tmp");
        let topics = [Series::new("".into(), [2i64, 0]), Series::new("".into(), [1i64])];
        let frame =
            df!("sentence" => ["a fine film", "dull"], "label" => [1i64, 0], "topics" => topics).expect("df");
        let pq = datasets_parquet(&dir.path().join("train.parquet"), frame);
        let e = load_examples(&pq, &Columns::default()).expect("read");
        assert_eq!(e.labels, ["positive", "negative"]);
        let sets = Columns { label: Some("topics"), label_sets: true, ..Columns::default() };
        assert_eq!(load_examples(&pq, &sets).expect("sets").labels, [r#"["war","arts"]"#, r#"["sport"]"#]);

        let frame = df!("sentence" => ["a", "b", "c"], "label" => [0i64, 1, 5]).expect("df");
        let pq = datasets_parquet(&dir.path().join("bad.parquet"), frame);
        let e = load_examples(&pq, &Columns::default()).expect_err("class 5 has no name").to_string();
        assert!(e.contains("row 3") && e.contains("class 5") && e.contains("2 names"), "{e}");
    }

    #[test]
    fn reads_sentence_pairs_and_label_lists() {
        let dir = tempfile::tempdir().expect("tmp");
        let csv = write(
            dir.path(),
            "p.csv",
            b"text,text_pair,label
a,b,same
c,d,other
",
        );
        let pairs = Columns { pair: Some("text_pair"), ..Columns::default() };
        let e = load_examples(&csv, &pairs).expect("pairs");
        assert_eq!(e.pairs, ["b", "d"]);
        assert_eq!(e.select(&[1]).display_text(0), "c [SEP] d");
        let csv = write(
            dir.path(),
            "q.csv",
            b"text,text_pair,label
a,\"  \",same
",
        );
        let m = load_examples(&csv, &pairs).expect_err("empty pair").to_string();
        assert!(m.contains("row 1 (line 2)") && m.contains("\"text_pair\" is empty"), "{m}");
        let jsonl = write(
            dir.path(),
            "m.jsonl",
            b"{\"text\": \"a\", \"labels\": [\"x\", \"y\"]}\n{\"text\": \"b\", \"labels\": []}\n",
        );
        let sets = Columns { label_sets: true, ..Columns::default() };
        let e = load_examples(&jsonl, &sets).expect("lists");
        assert_eq!(e.labels, ["[\"x\",\"y\"]", "[]"]);
        let single =
            load_examples(&jsonl, &Columns::default()).expect_err("a list is not one label").to_string();
        assert!(single.contains("expected text or a single label"), "{single}");
    }

    #[test]
    fn errors_name_file_row_and_column() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = write(dir.path(), "missing.csv", b"words,label\nhi,1\n");
        let m = err(&p);
        assert!(m.contains("missing.csv") && m.contains("no text column") && m.contains("words"), "{m}");
        let m = load_examples(&p, &Columns { text: Some("txt"), ..Columns::default() })
            .expect_err("named")
            .to_string();
        assert!(m.contains("\"txt\""), "{m}");
        let p = write(dir.path(), "empty_text.csv", b"text,label\nhi,1\n\"  \",0\n");
        let m = err(&p);
        assert!(m.contains("row 2 (line 3)") && m.contains("\"text\" is empty"), "{m}");
        let p = write(dir.path(), "empty.csv", b"");
        assert!(err(&p).contains("empty.csv: is empty"));
        let p = write(dir.path(), "header_only.tsv", b"text\tlabel\n");
        assert!(err(&p).contains("no data rows"), "{}", err(&p));
        let p = write(dir.path(), "bad.csv", b"text,label\nok,1\ncaf\xe9,0\n");
        let m = err(&p);
        assert!(m.contains("line 3, byte 4: invalid UTF-8"), "{m}");
        let p = write(dir.path(), "ragged.csv", b"text,label\na,1\n\"b,c\",1\nd,1,extra\n");
        let m = err(&p);
        assert!(m.contains("row 3 (line 4) has 3 fields, the header has 2"), "{m}");
        let p = write(dir.path(), "short.tsv", b"text\tlabel\na\t1\nb\n");
        assert!(err(&p).contains("row 2 (line 3) has 1 field,"), "{}", err(&p));
        let p = write(dir.path(), "bad.jsonl", b"{\"text\": \"a\", \"label\": 1}\n{\"text\": \"b\"\n");
        assert!(err(&p).contains("line 2: invalid JSON"), "{}", err(&p));
        let p = write(
            dir.path(),
            "nolabel.jsonl",
            b"{\"text\": \"a\", \"label\": 1}\n{\"text\": \"b\", \"label\": null}\n",
        );
        let m = err(&p);
        assert!(m.contains("row 2 (line 2)") && m.contains("\"label\" is missing"), "{m}");
        let p = write(dir.path(), "x.xlsx", b"");
        assert!(err(&p).contains("unknown file type"));
    }
}
