//! Runs and their records on disk: starting a run (`launch`), writing its record as it goes,
//! reading records back, and listing them (`listing`).

pub mod compare;
pub mod launch;
pub mod listing;
pub mod record;
pub mod safe;
pub mod store;
pub mod writer;

pub use launch::{Launched, launch};
pub use record::{RunHistory, read_history, read_predictions};
pub use store::{RunInfo, list_runs};
pub use writer::RunWriter;

use std::path::Path;

use crate::error::{IoContext, Result};

/// Writes `bytes` to `path` atomically: a temporary file in the same folder, then a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut name = path.file_name().map(std::ffi::OsString::from).unwrap_or_default();
    name.push(".tmp");
    let tmp = path.with_file_name(name);
    let mut file = std::fs::File::create(&tmp).at(&tmp)?;
    file.write_all(bytes).at(&tmp)?;
    file.sync_all().at(&tmp)?;
    std::fs::rename(&tmp, path).at(path)
}
