//! What a run is called where people read it: run lists, legends, titles. A run's label is
//! the one it was given (a rename in the workbench, `--label`, a sweep's), else its name with
//! what sets it apart ("sotu-era scratch +MLM 0.15"). Run ids stay the key; labels are for
//! reading.

use std::path::Path;

use super::safe::{SMALL_FILE, printable, read_record_text};
use crate::config::RunConfig;
use crate::error::Result;

/// The file in a run record that holds a label given after the run started (a rename): the
/// run's `config.toml` stays as it was run, so its saved state still resumes.
pub const LABEL_FILE: &str = "label";

/// The label a rename gave the run, if any.
pub fn read_given(dir: &Path) -> Option<String> {
    let text = read_record_text(dir, LABEL_FILE, SMALL_FILE).ok()?;
    let label = printable(text.trim()).into_owned();
    (!label.is_empty()).then_some(label)
}

/// Renames the run: an empty label goes back to the automatic one.
pub fn rename(dir: &Path, label: &str) -> Result<()> {
    let label = label.trim();
    if label.is_empty() {
        let path = dir.join(LABEL_FILE);
        return match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(crate::Error::io(&path, e)),
            _ => Ok(()),
        };
    }
    super::write_atomic(&dir.join(LABEL_FILE), format!("{label}\n").as_bytes())
}

/// The automatic label of a run's settings: its name (or its dataset), then `scratch` for
/// random weights and `+MLM r` for a masked-LM stage of ratio r.
pub fn automatic(config: &RunConfig, dataset: &str) -> String {
    if let Some(label) = config.label.as_deref().filter(|l| !l.trim().is_empty()) {
        return printable(label.trim()).into_owned();
    }
    let mut label = config.name.as_deref().map_or_else(|| dataset.to_owned(), |n| printable(n).into_owned());
    if config.model.from_scratch {
        label.push_str(" scratch");
    }
    if config.kind == crate::config::RunKind::FineTune && config.mlm.mask_ratio > 0.0 {
        label = format!("{label} +MLM {}", number(config.mlm.mask_ratio));
    }
    label
}

/// One sweep setting in words: `from scratch`, `10% of labels`, `lr 3e-4`, `+MLM 0.15`.
pub fn describe(key: &str, value: &toml::Value) -> String {
    let plain = || match value {
        toml::Value::Float(f) => number(*f),
        toml::Value::String(s) => printable(s).into_owned(),
        other => other.to_string(),
    };
    match (key, value) {
        ("model.from-scratch", toml::Value::Boolean(true)) => "from scratch".into(),
        ("model.from-scratch", toml::Value::Boolean(false)) => "pretrained".into(),
        ("data.train-share", toml::Value::Float(f)) => format!("{}% of labels", number(f * 100.0)),
        ("data.train-share", toml::Value::Integer(1)) => "100% of labels".into(),
        ("mlm.mask-ratio", toml::Value::Float(f)) if *f == 0.0 => "no MLM".into(),
        ("mlm.mask-ratio", toml::Value::Integer(0)) => "no MLM".into(),
        ("mlm.mask-ratio", _) => format!("+MLM {}", plain()),
        ("model.source", toml::Value::String(s)) => super::short_model_name(s),
        ("train.epochs", _) => format!("{} epochs", plain()),
        _ => {
            let leaf = key.rsplit('.').next().unwrap_or(key);
            format!("{leaf} {}", plain())
        }
    }
}

/// A swept key as an axis names it: `learning rate`, not `train.lr`.
pub fn axis_name(key: &str) -> String {
    match key {
        "data.train-share" => "labelled training examples".into(),
        "train.lr" => "learning rate".into(),
        "mlm.mask-ratio" => "masking ratio of the masked-LM stage (0: none)".into(),
        "mlm.epochs" => "masked-LM epochs".into(),
        "train.epochs" => "epochs".into(),
        "train.batch-size" => "batch size".into(),
        "train.warmup-ratio" => "warm-up ratio".into(),
        "train.freeze-layers" => "frozen bottom layers".into(),
        other => other.to_owned(),
    }
}

/// An axis tick with two significant digits: `15`, `300`, `0.15`, `3e-4`.
pub fn tick(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return "0".into();
    }
    if v.abs() < 0.01 {
        return format!("{v:.0e}");
    }
    let digits = v.abs().log10().floor() as i32;
    let scale = 10f64.powi(digits - 1);
    let rounded = (v / scale).round() * scale;
    // As many decimals as the two digits need, so 0.7 prints as 0.7, not 0.7000000000000001.
    let decimals = usize::try_from(1 - digits).unwrap_or(0);
    let text = format!("{rounded:.decimals$}");
    if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.').to_owned() } else { text }
}

/// A number as people write it in a legend: `3e-4`, `0.15`, `10`, `2.5`.
pub fn number(x: f64) -> String {
    if x != 0.0 && x.abs() < 1e-2 {
        format!("{x:e}")
    } else {
        let s = format!("{x:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

/// Labels that tell runs apart when shown together: a label two runs share gets each run's
/// start time from its id (`20261201-140312-…` → `14:03:12`), then a number if still equal.
pub fn distinct(labels: &[String], ids: &[String]) -> Vec<String> {
    let count = |l: &String, all: &[String]| all.iter().filter(|x| *x == l).count();
    let timed: Vec<String> = labels
        .iter()
        .zip(ids)
        .map(|(l, id)| if count(l, labels) > 1 { format!("{l} ({})", start_time(id)) } else { l.clone() })
        .collect();
    timed
        .iter()
        .enumerate()
        .map(|(i, l)| {
            if count(l, &timed) > 1 {
                let nth = timed[..i].iter().filter(|x| *x == l).count() + 1;
                format!("{l} #{nth}")
            } else {
                l.clone()
            }
        })
        .collect()
}

/// `HH:MM:SS` from a run id that starts `YYYYMMDD-HHMMSS`, else the id.
fn start_time(id: &str) -> String {
    started_at(id).map_or_else(|| id.to_owned(), |(_, time)| time)
}

/// When a run started, from its id (`YYYYMMDD-HHMMSS-…`): (`MM-DD`, `HH:MM:SS`).
pub fn started_at(id: &str) -> Option<(String, String)> {
    let digits = |r: std::ops::Range<usize>| id.get(r).filter(|t| t.bytes().all(|b| b.is_ascii_digit()));
    let (day, time) = (digits(4..8)?, digits(9..15)?);
    Some((format!("{}-{}", &day[..2], &day[2..]), format!("{}:{}:{}", &time[..2], &time[2..4], &time[4..])))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_read_as_words() {
        assert_eq!(describe("model.from-scratch", &toml::Value::Boolean(true)), "from scratch");
        assert_eq!(describe("data.train-share", &toml::Value::Float(0.1)), "10% of labels");
        assert_eq!(describe("train.lr", &toml::Value::Float(3e-4)), "lr 3e-4");
        assert_eq!(describe("mlm.mask-ratio", &toml::Value::Float(0.15)), "+MLM 0.15");
        assert_eq!(describe("train.batch-size", &toml::Value::Integer(8)), "batch-size 8");
        assert_eq!(describe("model.source", &toml::Value::String("org/bert-mini".into())), "bert-mini");
    }

    #[test]
    fn ticks_keep_two_significant_digits_without_float_noise() {
        assert_eq!(tick(17.78), "18");
        assert_eq!(tick(316.2), "320");
        assert_eq!(tick(0.7), "0.7");
        assert_eq!(tick(0.15), "0.15");
        assert_eq!(tick(0.1 + 0.2), "0.3");
        assert_eq!(tick(3e-4), "3e-4");
        assert_eq!(tick(1200.0), "1200");
    }

    #[test]
    fn a_run_is_called_by_what_sets_it_apart() {
        let mut c = RunConfig { name: Some("sotu-era".into()), ..RunConfig::default() };
        assert_eq!(automatic(&c, "x"), "sotu-era");
        c.model.from_scratch = true;
        c.mlm.mask_ratio = 0.15;
        assert_eq!(automatic(&c, "x"), "sotu-era scratch +MLM 0.15");
        c.name = None;
        assert_eq!(automatic(&c, "toy"), "toy scratch +MLM 0.15");
        c.label = Some("baseline".into());
        assert_eq!(automatic(&c, "toy"), "baseline");
    }

    #[test]
    fn equal_labels_are_told_apart_by_start_time_then_number() {
        let labels = vec!["a".to_owned(), "a".to_owned(), "b".to_owned()];
        let ids = vec!["20261201-140312-a".to_owned(), "20261201-150000-a".to_owned(), "x".to_owned()];
        assert_eq!(distinct(&labels, &ids), ["a (14:03:12)", "a (15:00:00)", "b"]);
        let same = vec!["20261201-140312-a".to_owned(), "20261201-140312-a-2".to_owned()];
        assert_eq!(distinct(&labels[..2], &same), ["a (14:03:12) #1", "a (14:03:12) #2"]);
    }

    #[test]
    fn a_rename_is_kept_beside_the_config_and_can_be_undone() {
        let tmp = tempfile::tempdir().expect("tmp");
        assert_eq!(read_given(tmp.path()), None);
        rename(tmp.path(), "  pretrained, lr 3e-4 ").expect("rename");
        assert_eq!(read_given(tmp.path()).as_deref(), Some("pretrained, lr 3e-4"));
        rename(tmp.path(), "").expect("back to automatic");
        assert_eq!(read_given(tmp.path()), None);
    }
}
