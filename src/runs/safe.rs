//! Reading a run folder's files as untrusted input. A run folder is data (copied between
//! machines, edited by hand, damaged): a `status` that is a link to `/etc/shadow`, a FIFO that
//! never answers, or a link to `/dev/zero` must neither be shown, hang a listing nor fill the
//! memory. A record's files are read only when they are regular files (not links, FIFOs or
//! devices), up to a size limit; text for the terminal has its control characters made
//! visible.

use std::borrow::Cow;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};

/// The most a small record file (`status`, `config.toml`, `summary.json`) may hold.
pub const SMALL_FILE: u64 = 4 << 20;
/// The most an event log may hold (a very long run logs a few hundred bytes a step).
pub const EVENT_LOG: u64 = 512 << 20;

/// `dir/name` when it is a regular file, not a link or anything else; an error naming the file
/// and what it is otherwise.
fn record_file(dir: &Path, name: &str) -> Result<PathBuf> {
    let path = dir.join(name);
    let meta = std::fs::symlink_metadata(&path).at(&path)?;
    let kind = meta.file_type();
    if kind.is_file() {
        return Ok(path);
    }
    let what = if kind.is_symlink() {
        "a link"
    } else if kind.is_dir() {
        "a folder"
    } else {
        "not a regular file"
    };
    Err(Error::data(&path, format!("is {what}: a run record's files are read only as regular files")))
}

/// Opens a record file for reading without following a link or waiting on a FIFO (on Linux),
/// and checks what was opened, so that the file cannot be swapped between check and open.
pub fn open_record_file(dir: &Path, name: &str) -> Result<std::fs::File> {
    let path = record_file(dir, name)?;
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    let file = options.open(&path).at(&path)?;
    if !file.metadata().at(&path)?.is_file() {
        return Err(Error::data(
            &path,
            "is not a regular file: a run record's files are read only as regular files",
        ));
    }
    Ok(file)
}

/// The text of `dir/name`, a regular file of at most `limit` bytes.
pub fn read_record_text(dir: &Path, name: &str, limit: u64) -> Result<String> {
    let path = dir.join(name);
    let file = open_record_file(dir, name)?;
    let mut text = String::new();
    // Read one byte past the limit, so that a file that grew past it since is caught too.
    file.take(limit + 1).read_to_string(&mut text).at(&path)?;
    if text.len() as u64 > limit {
        return Err(Error::data(&path, format!("is larger than {limit} bytes: not read")));
    }
    Ok(text)
}

/// `text` with control characters (terminal escape sequences among them) written as escapes
/// (`\u{1b}`), so that a record's text cannot drive the terminal it is printed on.
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    let mut shown = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if c.is_control() {
            shown.extend(c.escape_unicode());
        } else {
            shown.push(c);
        }
    }
    Cow::Owned(shown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_fifos_and_oversized_files_are_refused_with_the_reason() {
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = tmp.path();
        std::fs::write(dir.join("status"), "finished\n").expect("write");
        assert_eq!(read_record_text(dir, "status", SMALL_FILE).expect("a regular file"), "finished\n");
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink("/etc/hostname", dir.join("linked")).expect("link");
            let error = read_record_text(dir, "linked", SMALL_FILE).expect_err("a link").to_string();
            assert!(error.contains("linked") && error.contains("is a link"), "{error}");
            std::os::unix::fs::symlink("/dev/zero", dir.join("zeros")).expect("link");
            assert!(read_record_text(dir, "zeros", SMALL_FILE).is_err());
            let fifo = dir.join("fifo");
            let made = std::process::Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
            assert!(made.success());
            // Refused without opening it (opening a FIFO waits for a writer).
            let error = read_record_text(dir, "fifo", SMALL_FILE).expect_err("a FIFO").to_string();
            assert!(error.contains("not a regular file"), "{error}");
        }
        std::fs::write(dir.join("big"), vec![b'x'; 2048]).expect("write");
        let error = read_record_text(dir, "big", 1024).expect_err("too big").to_string();
        assert!(error.contains("big") && error.contains("larger than"), "{error}");
        assert!(read_record_text(dir, "missing", SMALL_FILE).is_err());
    }

    #[test]
    fn control_characters_are_shown_not_obeyed() {
        assert_eq!(printable("plain text"), "plain text");
        assert_eq!(printable("red \u{1b}[31mhere\u{7}"), "red \\u{1b}[31mhere\\u{7}");
        assert_eq!(printable("two\nlines"), "two\\u{a}lines");
    }
}
