//! Runs and their records on disk: starting a run (`launch`), writing its record as it goes,
//! reading records back, and listing them (`listing`).

pub mod compare;
pub mod label;
pub mod launch;
pub mod listing;
pub mod record;
pub mod safe;
pub mod show;
pub mod store;
pub mod writer;

pub use launch::{Launched, Start, launch};
pub use record::{RunHistory, read_history, read_predictions};
pub use store::{RunInfo, list_runs};
pub use writer::RunWriter;

use std::path::Path;

use crate::error::{IoContext, Result};

/// `<dir>/<stem>.<ext>`, or `<stem>-2.<ext>`, `-3`, … when taken: a new file never replaces an
/// earlier one (recipes, exported views).
pub fn free_path(dir: &Path, stem: &str, ext: &str) -> std::path::PathBuf {
    (1..10_000)
        .map(|n| dir.join(if n == 1 { format!("{stem}.{ext}") } else { format!("{stem}-{n}.{ext}") }))
        .find(|p| !p.exists())
        .unwrap_or_else(|| dir.join(format!("{stem}.{ext}")))
}

/// A model source in a few characters: a hub id without its organisation, a folder by its
/// name (a run's `…/<run>/model` by the run's).
pub fn short_model_name(source: &str) -> String {
    let mut parts = source.trim_end_matches('/').rsplit('/');
    match (parts.next(), parts.next()) {
        (Some("model"), Some(run)) => run.to_owned(),
        (Some(last), _) => last.to_owned(),
        _ => source.to_owned(),
    }
}

/// Rows of cells as text, each column as wide as its widest cell, two spaces apart; the last
/// column is not padded (`runs list`, `runs compare`, `bertbench sweep`).
pub fn text_table<R: AsRef<[String]>>(rows: &[R]) -> String {
    let n = rows.iter().map(|r| r.as_ref().len()).max().unwrap_or(0);
    let widths: Vec<usize> = (0..n)
        .map(|c| rows.iter().filter_map(|r| r.as_ref().get(c)).map(|s| s.chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let row = row.as_ref();
        let line: Vec<String> = row
            .iter()
            .enumerate()
            .map(
                |(c, cell)| {
                    if c + 1 == row.len() { cell.clone() } else { format!("{cell:<w$}", w = widths[c]) }
                },
            )
            .collect();
        out += line.join("  ").trim_end();
        out.push('\n');
    }
    out
}

/// Writes `bytes` to `path` atomically: a temporary file in the same folder, then a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    write_atomic_with(path, |file, tmp| file.write_all(bytes).at(tmp))
}

/// Writes `path` atomically with `write(file, its path)`: into `<path>.tmp` in the same folder,
/// synced, then renamed into place.
pub fn write_atomic_with(
    path: &Path,
    write: impl FnOnce(&mut std::fs::File, &Path) -> Result<()>,
) -> Result<()> {
    let mut name = path.file_name().map(std::ffi::OsString::from).unwrap_or_default();
    name.push(".tmp");
    let tmp = path.with_file_name(name);
    let written = (|| {
        let mut file = std::fs::File::create(&tmp).at(&tmp)?;
        write(&mut file, &tmp)?;
        file.sync_all().at(&tmp)?;
        std::fs::rename(&tmp, path).at(path)
    })();
    if written.is_err() {
        // A failed write (a full disk) leaves nothing behind to hold the space.
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_failed_atomic_write_leaves_no_temporary_file() {
        let tmp = tempfile::tempdir().expect("tmp");
        let taken = tmp.path().join("summary.json");
        std::fs::create_dir(&taken).expect("a folder where the file should go");
        assert!(super::write_atomic(&taken, b"{}").is_err());
        assert!(!tmp.path().join("summary.json.tmp").exists());
        super::write_atomic(&tmp.path().join("status"), b"finished\n").expect("write");
        assert_eq!(std::fs::read_to_string(tmp.path().join("status")).expect("read"), "finished\n");
    }
}
