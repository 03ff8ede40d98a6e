//! Fuzzing the readers of untrusted input: dataset files (CSV, TSV, JSON Lines, Parquet,
//! IOB2/CoNLL), run configs, run records and resumable state files. Whatever the bytes, a reader gives a value or an
//! error that names the file — never a panic.
//!
//! Inputs are built from fragments of the formats (delimiters, quotes, keys, labels, tags,
//! numbers at the edges: NaN, 1e400, -1, `u64::MAX` + 1, a BOM) mixed with arbitrary text, and
//! Parquet files are real ones with bytes flipped or cut. CI runs proptest's bounded default
//! (256 cases per target, seeded by proptest); a long run:
//!
//! ```sh
//! PROPTEST_CASES=20000 cargo test --test fuzz
//! ```
//!
//! A failing case is shrunk and saved in `tests/fuzz.proptest-regressions` (commit it: it is
//! replayed first on every run).

use std::path::Path;

use bertbench::config::{DataConfig, HeadKind, RunConfig};
use bertbench::data::read_split;
use bertbench::runs::store::load_run;
use bertbench::runs::{read_history, read_predictions};
use bertbench::train::state::{Saved, StateFile};
use proptest::prelude::*;

/// The settings fingerprint the fuzzed state files claim (and are read under).
const FINGERPRINT: &str = "5eed";

/// Pieces of the text formats, joined at random into files.
const FRAGMENTS: &[&str] = &[
    "text",
    "label",
    "words",
    "tags",
    ",",
    "\t",
    "\n",
    "\r\n",
    "\"",
    "\"\"",
    " ",
    "{",
    "}",
    "[",
    "]",
    ":",
    "\"text\"",
    "\"label\"",
    "\"words\"",
    "\"tags\"",
    "1",
    "0",
    "-1",
    "1e400",
    "NaN",
    "-0.0",
    "true",
    "null",
    "18446744073709551616",
    "B-PER",
    "I-PER",
    "O",
    "B-",
    "#",
    "# text = x",
    "\u{feff}",
    "é",
    "\u{1b}[2J",
    "positive",
    "negative",
    "a|b",
    "\\",
    "\u{0}",
];

/// A file's text: fragments and arbitrary strings, up to 60 pieces.
fn text_file() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        4 => proptest::sample::select(FRAGMENTS).prop_map(str::to_owned),
        1 => any::<String>().prop_map(|s| s.chars().take(12).collect()),
    ];
    proptest::collection::vec(piece, 0..60).prop_map(|pieces| pieces.concat())
}

/// Reads `path` with every head (and the default columns); each must succeed or name the file.
fn read_with_every_head(path: &Path) {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
    let cfg = DataConfig::default();
    for head in [HeadKind::SeqCls, HeadKind::MultiLabel, HeadKind::Regression, HeadKind::TokenCls] {
        if let Err(e) = read_split(path, &cfg, head) {
            let message = e.to_string();
            assert!(message.contains(&name), "{head:?}: an error that does not name {name}: {message}");
        }
    }
}

/// A small, valid Parquet file with a text and a label column.
fn parquet_bytes() -> Vec<u8> {
    use polars::prelude::*;
    let mut frame = df!(
        "text" => ["a fine film", "dull", "fine again", "so dull"],
        "label" => ["positive", "negative", "positive", "negative"],
    )
    .expect("frame");
    let mut bytes = Vec::new();
    ParquetWriter::new(&mut bytes).finish(&mut frame).expect("parquet");
    bytes
}

/// Where the footer of a Parquet file starts: its metadata, then its length (4 bytes) and `PAR1`.
fn footer_start(bytes: &[u8]) -> usize {
    let n = bytes.len();
    let len = u32::from_le_bytes([bytes[n - 8], bytes[n - 7], bytes[n - 6], bytes[n - 5]]) as usize;
    n - 8 - len
}

/// Sets the bytes `flips` names (offsets counted from `from`, wrapping within the rest of the
/// file), then cuts the file `cut` bytes after `from`.
fn damage(bytes: &mut Vec<u8>, from: usize, flips: &[(usize, u8)], cut: Option<usize>) {
    let span = bytes.len() - from;
    for &(at, value) in flips {
        bytes[from + at % span] = value;
    }
    if let Some(cut) = cut {
        bytes.truncate(from + cut % (span + 1));
    }
}

/// Damage anywhere, data pages included. Not in CI: polars-parquet 0.55 aborts the process on
/// some damaged pages (a definition-level run claiming more values than the page has makes it
/// allocate without bound), which no reader can catch; see the note in the resume issue. Run
/// with `cargo test --test fuzz -- --ignored` to look for more.
#[test]
#[ignore = "polars-parquet aborts on some damaged data pages (an upstream bug)"]
fn parquet_files_damaged_anywhere_read_or_name_the_file() {
    let config = ProptestConfig { cases: 20_000, ..ProptestConfig::default() };
    proptest!(config, |(cut in proptest::option::of(0usize..4000), flips in proptest::collection::vec((0usize..4000, any::<u8>()), 0..6))| {
        let mut bytes = parquet_bytes();
        damage(&mut bytes, 0, &flips, cut);
        let tmp = tempfile::tempdir().expect("tmp");
        let path = tmp.path().join("data.parquet");
        std::fs::write(&path, &bytes).expect("write");
        read_with_every_head(&path);
    });
}

proptest! {
    #[test]
    fn delimited_and_json_lines_files_read_or_name_the_file(text in text_file(), ext in proptest::sample::select(vec!["csv", "tsv", "jsonl"])) {
        let tmp = tempfile::tempdir().expect("tmp");
        let path = tmp.path().join(format!("data.{ext}"));
        std::fs::write(&path, &text).expect("write");
        read_with_every_head(&path);
    }

    #[test]
    fn word_tagged_files_read_or_name_the_file(text in text_file(), ext in proptest::sample::select(vec!["iob2", "conll"])) {
        let tmp = tempfile::tempdir().expect("tmp");
        let path = tmp.path().join(format!("tags.{ext}"));
        std::fs::write(&path, &text).expect("write");
        read_with_every_head(&path);
    }

    #[test]
    fn parquet_files_with_damaged_metadata_read_or_name_the_file(
        cut in proptest::option::of(0usize..400),
        flips in proptest::collection::vec((0usize..400, any::<u8>()), 0..6),
    ) {
        // Damage inside the footer (the file's thrift metadata, its length and the magic).
        let mut bytes = parquet_bytes();
        let footer = footer_start(&bytes);
        damage(&mut bytes, footer, &flips, cut);
        let tmp = tempfile::tempdir().expect("tmp");
        let path = tmp.path().join("data.parquet");
        std::fs::write(&path, &bytes).expect("write");
        read_with_every_head(&path);
    }

    #[test]
    fn resumable_states_read_or_are_refused_with_the_reason(
        meta in text_file(),
        flips in proptest::collection::vec((0usize..600, any::<u8>()), 0..4),
        cut in proptest::option::of(0usize..600),
    ) {
        // A state file's layout: safetensors with the state as JSON in its metadata.
        let tensor = candle_core::Tensor::new(&[1f32, 2.0, 3.0], &candle_core::Device::Cpu).expect("tensor");
        let json = format!(r#"{{"format":1,"fingerprint":"{FINGERPRINT}","phase":"fine-tune",{meta}}}"#);
        let mut bytes = safetensors::serialize(
            [("param/w", &tensor)],
            Some(std::collections::HashMap::from([("bertbench_state".to_owned(), json)])),
        )
        .expect("serialize");
        damage(&mut bytes, 0, &flips, cut);
        let tmp = tempfile::tempdir().expect("tmp");
        let file = StateFile::in_record(tmp.path(), "x");
        let file = StateFile { fingerprint: FINGERPRINT.to_owned(), ..file };
        std::fs::write(&file.path, &bytes).expect("write");
        if let Err(e) = Saved::read(&file) {
            prop_assert!(e.to_string().contains("state.safetensors"), "{}", e);
        }
    }

    #[test]
    fn run_configs_parse_and_validate_or_say_why(
        lines in proptest::collection::vec(
            (
                proptest::sample::select(vec![
                    "[train]", "[data]", "[mlm]", "[model]", "lr", "epochs", "batch-size", "grad-accum",
                    "max-len", "seed", "mask-ratio", "valid-ratio", "train", "save-every", "patience",
                    "threshold", "head", "kind",
                ]),
                proptest::sample::select(vec![
                    "= 1", "= 0", "= -1", "= 1e400", "= nan", "= inf", "= 18446744073709551615",
                    "= \"x.csv\"", "= \"\"", "= true", "= [1, 2]", "= 0.5", "",
                ]),
            ),
            0..12,
        ),
    ) {
        let text = lines.iter().fold(String::new(), |text, (k, v)| text + k + " " + v + "\n");
        if let Ok(config) = toml::from_str::<RunConfig>(&text) {
            let _ = config.validate();
            let _ = config.to_toml();
        }
    }

    #[test]
    fn run_records_list_and_read_or_say_why(
        status in text_file(),
        config in text_file(),
        summary in text_file(),
        events in proptest::collection::vec(
            prop_oneof![
                Just(r#"{"event":"step","step":1,"total_steps":2,"epoch":0.5,"loss":null,"lr":0.1,"grad_norm":1,"examples_per_sec":1,"elapsed_s":1}"#.to_owned()),
                Just(r#"{"event":"resumed","step":18446744073709551615}"#.to_owned()),
                Just(r#"{"event":"state_saved","step":1,"bytes":-1,"seconds":1e400}"#.to_owned()),
                Just(r#"{"event":"finished""#.to_owned()),
                text_file(),
            ],
            0..8,
        ),
        predictions in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..200)),
    ) {
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = tmp.path().join("20261201-000000-fuzz");
        std::fs::create_dir(&dir).expect("dir");
        std::fs::write(dir.join("status"), &status).expect("status");
        std::fs::write(dir.join("config.toml"), &config).expect("config");
        std::fs::write(dir.join("summary.json"), &summary).expect("summary");
        std::fs::write(dir.join("events.jsonl"), events.join("\n")).expect("events");
        if let Some(bytes) = &predictions {
            std::fs::write(dir.join("predictions.parquet"), bytes).expect("predictions");
        }
        let run = load_run(&dir);
        prop_assert_eq!(run.id, "20261201-000000-fuzz");
        let _ = bertbench::runs::listing::rows(tmp.path()).expect("a folder lists");
        let _ = read_history(&dir);
        let _ = read_predictions(&dir);
    }
}

/// The crash the Parquet target found: one byte of the footer's thrift metadata changed made
/// polars' reader panic ("thrift bool field"); now the file is refused by name.
#[test]
fn a_parquet_file_with_damaged_metadata_is_an_error_naming_it() {
    let mut bytes = parquet_bytes();
    damage(&mut bytes, 0, &[(512, 128)], None);
    let tmp = tempfile::tempdir().expect("tmp");
    let path = tmp.path().join("damaged.parquet");
    std::fs::write(&path, &bytes).expect("write");
    let error = read_split(&path, &DataConfig::default(), HeadKind::SeqCls).expect_err("damaged");
    assert!(error.to_string().starts_with(&format!("{}: ", path.display())), "{error}");
}
