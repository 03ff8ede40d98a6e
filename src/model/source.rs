//! Where a model comes from: a local directory in Hugging Face layout, or a hub id resolved
//! through `hf-hub` and its standard cache (shared with Python). With `HF_HUB_OFFLINE=1`, or
//! when the network is unreachable, cached files are used and a missing one is named.

use std::path::{Path, PathBuf};

use super::embedded;
use hf_hub::{Cache, Repo, RepoType};

use crate::error::{Error, Result};

/// A model resolved to a directory holding its files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelFiles {
    /// What the user asked for (a path or a hub id).
    pub source: String,
    pub dir: PathBuf,
    /// Hub commit of the snapshot, for hub models.
    pub revision: Option<String>,
}

/// Files a BERT model needs besides its weights (one file, or a sharded checkpoint's index and
/// shards); one of the tokenizer files suffices.
const REQUIRED: &[&str] = &["config.json"];
const TOKENIZER: &[&str] = &["tokenizer.json", "vocab.txt"];
const OPTIONAL: &[&str] = &["tokenizer_config.json", "special_tokens_map.json"];

/// Resolves `source`: an existing directory is used as is; anything else is a hub id.
pub fn resolve(source: &str, revision: &str) -> Result<ModelFiles> {
    if source.trim().is_empty() || source == embedded::SOURCE {
        return Ok(ModelFiles {
            source: embedded::SOURCE.into(),
            dir: embedded::materialise()?,
            revision: None,
        });
    }
    let path = Path::new(source);
    if path.is_dir() {
        check_local(source, path)?;
        return Ok(ModelFiles { source: source.into(), dir: path.to_path_buf(), revision: None });
    }
    if path.exists() {
        return Err(Error::model(source, "is a file; give the model's directory"));
    }
    if !looks_like_hub_id(source) {
        return Err(Error::model(source, "is neither a directory nor a hub id like org/name"));
    }
    resolve_hub(source, revision, &Cache::from_env(), offline())
}

/// Hub ids with a snapshot holding a `config.json` in the Hugging Face cache (sorted): the
/// models that can be used offline.
pub fn cached_hub_models(cache: &Cache) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(cache.path()) else { return Vec::new() };
    let mut ids: Vec<String> = entries
        .filter_map(std::result::Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let id = name.strip_prefix("models--")?.replacen("--", "/", 1);
            let snapshots = std::fs::read_dir(e.path().join("snapshots")).ok()?;
            let usable =
                snapshots.filter_map(std::result::Result::ok).any(|s| s.path().join("config.json").exists());
            usable.then_some(id)
        })
        .collect();
    ids.sort();
    ids
}

fn check_local(source: &str, dir: &Path) -> Result<()> {
    if !dir.join("config.json").is_file() {
        return Err(Error::model(source, format!("{} has no config.json", dir.display())));
    }
    if !TOKENIZER.iter().any(|f| dir.join(f).is_file()) {
        return Err(Error::model(
            source,
            format!("{} has neither tokenizer.json nor vocab.txt", dir.display()),
        ));
    }
    Ok(())
}

fn looks_like_hub_id(s: &str) -> bool {
    !s.is_empty()
        && s.split('/').count() <= 2
        && s.split('/')
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)))
}

/// `HF_HUB_OFFLINE` as Python's `huggingface_hub` reads it.
/// Whether `HF_HUB_OFFLINE` asks for the cache alone.
pub fn offline() -> bool {
    std::env::var("HF_HUB_OFFLINE")
        .is_ok_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on"))
}

/// Finds each file in the cache; fetches what is missing unless offline.
pub fn resolve_hub(id: &str, revision: &str, cache: &Cache, offline: bool) -> Result<ModelFiles> {
    let repo = Repo::with_revision(id.to_owned(), RepoType::Model, revision.to_owned());
    let cached = cache.repo(repo.clone());
    let api = if offline { None } else { Some(hub_api(cache)?) };
    let fetch = |file: &str| -> std::result::Result<PathBuf, String> {
        if let Some(p) = cached.get(file) {
            return Ok(p);
        }
        match &api {
            None => Err(format!(
                "{file} is not in the hub cache {} and HF_HUB_OFFLINE is set",
                cache.path().display()
            )),
            Some(api) => api
                .repo(repo.clone())
                .get(file)
                .map_err(|e| format!("{file}: not cached, and download failed: {e}")),
        }
    };
    let mut config = None;
    for file in REQUIRED {
        let p = fetch(file).map_err(|m| Error::model(id, m))?;
        if *file == "config.json" {
            config = Some(p);
        }
    }
    // The weights: one file, else a sharded checkpoint's index and every shard it names.
    if let Err(single) = fetch(crate::model::params::WEIGHTS) {
        let index = fetch(crate::model::params::SHARD_INDEX)
            .map_err(|sharded| Error::model(id, format!("no weights: {single}; nor sharded: {sharded}")))?;
        for shard in crate::model::params::shard_files(&index, id)? {
            fetch(&shard).map_err(|m| Error::model(id, m))?;
        }
    }
    let mut tokenizer_errors = Vec::new();
    if !TOKENIZER.iter().any(|f| fetch(f).map_err(|m| tokenizer_errors.push(m)).is_ok()) {
        return Err(Error::model(id, format!("no tokenizer: {}", tokenizer_errors.join("; "))));
    }
    for file in OPTIONAL {
        let _ = fetch(file);
    }
    let config = config.ok_or_else(|| Error::model(id, "config.json was not resolved"))?;
    let dir = config.parent().map(Path::to_path_buf).ok_or_else(|| Error::model(id, "bad cache layout"))?;
    let revision = dir.file_name().map(|n| n.to_string_lossy().into_owned());
    Ok(ModelFiles { source: id.into(), dir, revision })
}

fn hub_api(cache: &Cache) -> Result<hf_hub::api::sync::Api> {
    hf_hub::api::sync::ApiBuilder::from_cache(cache.clone())
        .with_progress(false)
        .build()
        .map_err(|e| Error::model("hub", format!("cannot set up the hub client: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hub_ids_are_told_from_paths() {
        assert!(looks_like_hub_id("bert-base-uncased"));
        assert!(looks_like_hub_id("sentence-transformers/all-MiniLM-L6-v2"));
        assert!(!looks_like_hub_id("./models/x/y"));
        assert!(!looks_like_hub_id("a b"));
    }
}
