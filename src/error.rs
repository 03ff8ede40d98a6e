//! The library's error type. Every message names what went wrong and where: the file, the row
//! and column, the tensor, or the offending value.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A dataset file could not be read or holds bad data. `message` names row and column.
    #[error("{}: {message}", path.display())]
    Data { path: PathBuf, message: String },

    /// A model could not be found, or its files do not fit together.
    #[error("model {model}: {message}")]
    Model { model: String, message: String },

    /// A tokenizer could not be loaded or failed on an input.
    #[error("tokenizer {}: {message}", path.display())]
    Tokenizer { path: PathBuf, message: String },

    /// A setting is out of range or settings contradict each other.
    #[error("config: {0}")]
    Config(String),

    /// A run could not be completed (its record says why, where it can still be written).
    #[error("{0}")]
    Run(String),

    /// The loss or the gradient norm became NaN or infinite.
    #[error("{quantity} became {value} at step {step} (epoch {epoch}); lower the learning rate")]
    Diverged { quantity: &'static str, step: usize, epoch: usize, value: f64 },

    // The I/O error is part of the message, not a `source`: error reports print the chain of
    // sources, which would repeat it ("No such file or directory" twice).
    // A full disk says so first: "No space left on device" after a temporary file's path reads
    // as a problem with that file.
    #[error("{}{}: {error}", if is_disk_full(error) { "disk full: " } else { "" }, path.display())]
    Io { path: PathBuf, error: std::io::Error },

    #[error("tensor: {0}")]
    Candle(#[from] candle_core::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn data(path: impl AsRef<Path>, message: impl Into<String>) -> Self {
        Self::Data { path: path.as_ref().to_path_buf(), message: message.into() }
    }

    pub fn model(model: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Model { model: model.into(), message: message.into() }
    }

    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Self::Io { path: path.as_ref().to_path_buf(), error: source }
    }

    /// The file it names does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::Io { error, .. } if error.kind() == std::io::ErrorKind::NotFound)
    }

    /// An I/O error found inside another library's error (borrowed there): same kind and text.
    pub fn io_copy(path: impl AsRef<Path>, source: &std::io::Error) -> Self {
        Self::io(path, std::io::Error::new(source.kind(), source.to_string()))
    }
}

/// Whether an I/O error means the disk (or the quota) is full.
pub fn is_disk_full(error: &std::io::Error) -> bool {
    matches!(error.kind(), std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded)
}

/// The I/O error somewhere in `error`'s chain of sources (e.g. inside a polars error), so that
/// a failed write can still be told apart by its kind.
pub fn io_cause<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a std::io::Error> {
    let mut next = Some(error);
    while let Some(e) = next {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return Some(io);
        }
        next = e.source();
    }
    None
}

/// The I/O error inside a candle error (a failed safetensors write), found by its variants:
/// candle's wrappers are transparent, so their `source` skips the I/O error itself.
pub fn candle_io_cause(error: &candle_core::Error) -> Option<&std::io::Error> {
    use candle_core::Error as E;
    match error {
        E::Io(io) | E::SafeTensor(safetensors::SafeTensorError::IoError(io)) => Some(io),
        E::Context { inner, .. } | E::WithPath { inner, .. } | E::WithBacktrace { inner, .. } => {
            candle_io_cause(inner)
        }
        _ => None,
    }
}

/// Attaches a path to `std::io` results.
pub trait IoContext<T> {
    fn at(self, path: impl AsRef<Path>) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, path: impl AsRef<Path>) -> Result<T> {
        self.map_err(|e| Error::io(path, e))
    }
}

/// The message a panic was raised with (`"panic"` when it carries none).
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_is_named_first() {
        let full = Error::io("run/summary.json.tmp", std::io::Error::from(std::io::ErrorKind::StorageFull));
        assert!(full.to_string().starts_with("disk full: run/summary.json.tmp: "), "{full}");
        let missing = Error::io("a.csv", std::io::Error::from(std::io::ErrorKind::NotFound));
        assert!(missing.to_string().starts_with("a.csv: "), "{missing}");
        let full = || std::io::Error::from(std::io::ErrorKind::StorageFull);
        let in_candle = candle_core::Error::from(safetensors::SafeTensorError::IoError(full()));
        assert!(candle_io_cause(&in_candle.context("saving")).is_some_and(is_disk_full));
        let in_polars = polars::error::PolarsError::from(full());
        assert!(io_cause(&in_polars).is_some_and(is_disk_full));
    }
}
