//! The embedded default model: a tiny BERT (2 layers, hidden 128) that bertbench pretrained
//! itself, by masked-LM on the State of the Union corpus in `datasets/sotu-corpus` (recipe:
//! `experiments/recipes/embedded-model.toml`; rebuild: `scripts/build-embedded-model.sh`).
//! It is compiled into the binary, so the workbench and `train` work offline and from any
//! directory; the first use writes it to the cache.

use std::fmt::Write as _;
use std::path::PathBuf;

use sha2::{Digest, Sha256};

use crate::error::{IoContext, Result};

/// The model source that names it (also the default when no model is given).
pub const SOURCE: &str = "embedded";

const FILES: &[(&str, &[u8])] = &[
    ("config.json", include_bytes!("../../assets/model/config.json")),
    ("model.safetensors", include_bytes!("../../assets/model/model.safetensors")),
    ("tokenizer.json", include_bytes!("../../assets/model/tokenizer.json")),
    ("vocab.txt", include_bytes!("../../assets/model/vocab.txt")),
];

/// bertbench's cache folder: `$BERTBENCH_CACHE`, else `$XDG_CACHE_HOME/bertbench`, else
/// `~/.cache/bertbench`, else the temporary folder.
pub fn cache_root() -> PathBuf {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    env("BERTBENCH_CACHE")
        .or_else(|| env("XDG_CACHE_HOME").map(|p| p.join("bertbench")))
        .or_else(|| env("HOME").map(|p| p.join(".cache/bertbench")))
        .unwrap_or_else(|| std::env::temp_dir().join("bertbench"))
}

/// The directory holding the embedded model's files, written on first use. The folder is
/// named after the files' hash, so a new build never reads an old model; it is written to a
/// temporary folder first and renamed, so a half-written copy is never used.
pub fn materialise() -> Result<PathBuf> {
    let mut hash = Sha256::new();
    for (name, bytes) in FILES {
        hash.update(name.as_bytes());
        hash.update(bytes);
    }
    let digest = hash.finalize().iter().take(6).fold(String::new(), |mut hex, b| {
        let _ = write!(hex, "{b:02x}");
        hex
    });
    let root = cache_root();
    let dir = root.join(format!("embedded-{digest}"));
    let complete = |d: &PathBuf| {
        FILES.iter().all(|(n, b)| d.join(n).metadata().is_ok_and(|m| m.len() == b.len() as u64))
    };
    if complete(&dir) {
        return Ok(dir);
    }
    std::fs::create_dir_all(&root).at(&root)?;
    let tmp = root.join(format!(".embedded-{digest}-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).at(&tmp)?;
    for (name, bytes) in FILES {
        std::fs::write(tmp.join(name), bytes).at(tmp.join(name))?;
    }
    if std::fs::rename(&tmp, &dir).is_err() {
        // Another process got there first: use its copy.
        let _ = std::fs::remove_dir_all(&tmp);
        if !complete(&dir) {
            return Err(crate::Error::model(SOURCE, format!("cannot write the model to {}", dir.display())));
        }
    }
    Ok(dir)
}
