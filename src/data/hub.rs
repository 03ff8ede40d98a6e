//! Datasets from the Hugging Face hub: `hub:OWNER/NAME[:CONFIG][@REVISION]` names a dataset
//! repository whose Parquet files are read from the hub cache (shared with Python's `datasets`
//! and `huggingface_hub`), fetched first unless `HF_HUB_OFFLINE` is set. The split files are
//! picked as `datasets` names them: `train`, `validation` (or `valid`, `dev`), `test`, as a
//! folder or as the start of a file name (`data/train-00000-of-00001.parquet`,
//! `plain_text/test/0000.parquet`). A split in several shards is joined once into one file in
//! bertbench's cache.

use std::path::{Path, PathBuf};

use hf_hub::{Cache, Repo, RepoType};

use crate::error::{Error, IoContext, Result};

/// The prefix that marks a hub dataset where a file path would go.
pub const PREFIX: &str = "hub:";

/// A hub dataset as the command line names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubDataset {
    pub id: String,
    pub config: Option<String>,
    pub revision: String,
}

/// The split files of a hub dataset, in the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubSplits {
    pub train: PathBuf,
    pub valid: Option<PathBuf>,
    pub test: Option<PathBuf>,
    /// `hub:owner/name:config@<commit>`: what was read, exactly.
    pub source: String,
}

impl HubDataset {
    /// Reads `hub:owner/name[:config][@revision]`; `None` when `text` is not a hub dataset.
    pub fn parse(text: &str) -> Option<Result<Self>> {
        let rest = text.strip_prefix(PREFIX)?;
        let (rest, revision) = match rest.split_once('@') {
            Some((r, rev)) => (r, rev.to_owned()),
            None => (rest, "main".to_owned()),
        };
        let (id, config) = match rest.split_once(':') {
            Some((id, c)) => (id, Some(c.to_owned())),
            None => (rest, None),
        };
        let good =
            |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        let parts: Vec<&str> = id.split('/').collect();
        let ok = parts.len() == 2
            && parts.iter().all(|p| good(p))
            && config.as_deref().is_none_or(good)
            && good(&revision);
        Some(if ok {
            Ok(Self { id: id.to_owned(), config, revision })
        } else {
            Err(Error::Config(format!(
                "{text:?} is not a hub dataset: write hub:OWNER/NAME, with :CONFIG and @REVISION if needed"
            )))
        })
    }

    /// The Parquet files of each split (train, validation, test) among the repository's files,
    /// in order: one, or a large split's shards (`train-00000-of-00003.parquet`, …).
    fn pick(&self, files: &[String]) -> std::result::Result<[Vec<String>; 3], String> {
        let parquet: Vec<&String> = files.iter().filter(|f| f.ends_with(".parquet")).collect();
        if parquet.is_empty() {
            return Err("has no Parquet files (bertbench reads a hub dataset's Parquet files)".into());
        }
        let configs = config_folders(&parquet);
        let within: Vec<&String> = match (&self.config, configs.as_slice()) {
            (Some(c), _) => {
                let mine: Vec<&String> =
                    parquet.iter().copied().filter(|f| f.starts_with(&format!("{c}/"))).collect();
                if mine.is_empty() {
                    return Err(format!("has no config {c:?}; its configs: {}", list_or_none(&configs)));
                }
                mine
            }
            (None, [] | [_]) => parquet,
            (None, many) => {
                return Err(format!(
                    "has several configs ({}): name one, hub:{}:CONFIG",
                    many.join(", "),
                    self.id
                ));
            }
        };
        let names: [&[&str]; 3] = [&["train"], &["validation", "valid", "dev"], &["test"]];
        let mut chosen: [Vec<String>; 3] = Default::default();
        for (k, split) in names.iter().enumerate() {
            chosen[k] = within.iter().filter(|f| is_split(f, split)).map(|f| (*f).clone()).collect();
            chosen[k].sort();
        }
        if chosen[0].is_empty() {
            let some: Vec<&str> = within.iter().take(5).map(|s| s.as_str()).collect();
            return Err(format!("has no train split among {}", some.join(", ")));
        }
        Ok(chosen)
    }

    /// The split files, from the cache (`offline`) or fetched into it: each split's one file,
    /// or, for a split in several shards, the shards joined into one file under `joined_dir`
    /// (`<owner>--<name>/<commit>/<config>/<split>.parquet`, made once: a commit's files do not
    /// change).
    pub fn resolve(&self, cache: &Cache, offline: bool, joined_dir: &Path) -> Result<HubSplits> {
        let located = self.locate(cache, offline)?;
        let config = self.config.as_deref().unwrap_or("default");
        let dir = joined_dir.join(self.id.replace('/', "--")).join(&located.commit).join(config);
        let one = |split: &str, shards: Vec<PathBuf>| -> Result<Option<PathBuf>> {
            match shards.len() {
                0 => Ok(None),
                1 => Ok(shards.into_iter().next()),
                _ => join_shards(&shards, &dir.join(format!("{split}.parquet"))).map(Some),
            }
        };
        let [train, valid, test] = located.files;
        Ok(HubSplits {
            train: one("train", train)?
                .ok_or_else(|| Error::Config(format!("{}: no train split", self.id)))?,
            valid: one("validation", valid)?,
            test: one("test", test)?,
            source: located.source,
        })
    }

    /// Each split's files in the cache (fetched into it unless `offline`), without joining.
    pub fn locate(&self, cache: &Cache, offline: bool) -> Result<Located> {
        let repo = Repo::with_revision(self.id.clone(), RepoType::Dataset, self.revision.clone());
        let name = format!("{PREFIX}{}", self.id);
        let bad = |m: String| Error::Config(format!("{name}: {m}"));
        // Offline: the cached snapshot's files. Online: the repository's list, each file then
        // fetched through the client (which takes it from the cache when it is there).
        let (snapshot, api, files) = if offline {
            let snapshot = cached_snapshot(cache, &self.id, &self.revision).ok_or_else(|| {
                bad(format!(
                    "not in the hub cache {} (revision {}) and HF_HUB_OFFLINE is set: fetch it once online",
                    cache.path().display(),
                    self.revision
                ))
            })?;
            let files = relative_files(&snapshot);
            (Some(snapshot), None, files)
        } else {
            let api = hf_hub::api::sync::ApiBuilder::from_cache(cache.clone())
                .with_progress(false)
                .build()
                .map_err(|e| bad(format!("cannot set up the hub client: {e}")))?
                .repo(repo);
            let info = api.info().map_err(|e| bad(format!("cannot list its files: {e}")))?;
            (None, Some(api), info.siblings.into_iter().map(|s| s.rfilename).collect())
        };
        let picked = self.pick(&files).map_err(bad)?;
        let fetch = |file: &String| -> Result<PathBuf> {
            match (&snapshot, &api) {
                (Some(dir), _) => Ok(dir.join(file)),
                (None, Some(api)) => api.get(file).map_err(|e| bad(format!("{file}: download failed: {e}"))),
                (None, None) => Err(bad("neither cached nor online".into())),
            }
        };
        let mut files: [Vec<PathBuf>; 3] = Default::default();
        for (k, split) in picked.iter().enumerate() {
            files[k] = split.iter().map(fetch).collect::<Result<_>>()?;
        }
        let commit = files[0][0]
            .ancestors()
            .find(|p| p.parent().and_then(Path::file_name).is_some_and(|n| n == "snapshots"))
            .and_then(Path::file_name)
            .map_or_else(|| self.revision.clone(), |n| n.to_string_lossy().into_owned());
        let config = self.config.as_ref().map(|c| format!(":{c}")).unwrap_or_default();
        let source = format!("{PREFIX}{}{config}@{commit}", self.id);
        Ok(Located { files, commit, source })
    }
}

/// A hub dataset's files in the cache: train, validation and test, each one file or shards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub files: [Vec<PathBuf>; 3],
    /// The snapshot's commit (the revision asked for, when the cache layout does not say).
    pub commit: String,
    /// `hub:owner/name:config@<commit>`.
    pub source: String,
}

/// Joins a split's Parquet shards, in order, into the one file `out` (reused when there: it is
/// written whole, to a temporary name first). Shards whose columns differ are refused, naming
/// the first that does not fit.
fn join_shards(shards: &[PathBuf], out: &Path) -> Result<PathBuf> {
    use polars::prelude::{ParquetWriter, PolarsError};
    if out.is_file() {
        return Ok(out.to_path_buf());
    }
    let open = |p: &PathBuf| crate::data::load::read_parquet(p, std::fs::File::open(p).at(p)?);
    let mut joined = open(&shards[0])?;
    for shard in &shards[1..] {
        joined.vstack_mut(&open(shard)?).map_err(|e: PolarsError| {
            Error::data(shard, format!("does not fit the split's first shard {}: {e}", shards[0].display()))
        })?;
    }
    let dir = out.parent().unwrap_or(out);
    std::fs::create_dir_all(dir).at(dir)?;
    let tmp = out.with_extension("parquet.tmp");
    let file = std::fs::File::create(&tmp).at(&tmp)?;
    ParquetWriter::new(file)
        .finish(&mut joined)
        .map_err(|e| Error::data(&tmp, format!("cannot write the joined shards: {e}")))?;
    std::fs::rename(&tmp, out).at(&tmp)?;
    Ok(out.to_path_buf())
}

/// The hub datasets in the cache whose split files can be picked without a config (sorted by
/// id): what the workbench offers beside the shipped datasets.
pub fn cached(cache: &Cache) -> Vec<(String, Located)> {
    let Ok(entries) = std::fs::read_dir(cache.path()) else { return Vec::new() };
    let mut found: Vec<(String, Located)> = entries
        .filter_map(std::result::Result::ok)
        .filter_map(|e| {
            let folder = e.file_name().to_string_lossy().into_owned();
            let id = folder.strip_prefix("datasets--")?.replacen("--", "/", 1);
            let dataset = HubDataset { id: id.clone(), config: None, revision: "main".into() };
            Some((id, dataset.locate(cache, true).ok()?))
        })
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found
}

/// The snapshot folder of `id` at `revision` (a branch or tag through `refs/`, or a commit).
fn cached_snapshot(cache: &Cache, id: &str, revision: &str) -> Option<PathBuf> {
    let root = cache.path().join(format!("datasets--{}", id.replace('/', "--")));
    let commit = std::fs::read_to_string(root.join("refs").join(revision))
        .map_or_else(|_| revision.to_owned(), |c| c.trim().to_owned());
    let dir = root.join("snapshots").join(commit);
    dir.is_dir().then_some(dir)
}

/// Every file below `dir`, as paths relative to it with `/`.
fn relative_files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.filter_map(std::result::Result::ok) {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(rel) = p.strip_prefix(dir) {
                out.push(
                    rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/"),
                );
            }
        }
    }
    out.sort();
    out
}

/// The first folders of Parquet files that are configs: not `data` nor a split's own name.
fn config_folders(files: &[&String]) -> Vec<String> {
    let splits = ["train", "validation", "valid", "dev", "test", "data"];
    let mut configs: Vec<String> = files
        .iter()
        .filter_map(|f| f.split_once('/').map(|(top, _)| top.to_owned()))
        .filter(|top| !splits.contains(&top.as_str()))
        .collect();
    configs.sort();
    configs.dedup();
    configs
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() { "none".into() } else { items.join(", ") }
}

/// Whether `file` belongs to the split with these names: a folder of that name, or a file name
/// that is the name or starts with it and `-`, `_` or `.`.
fn is_split(file: &str, names: &[&str]) -> bool {
    let mut parts: Vec<&str> = file.split('/').collect();
    let name = parts.pop().unwrap_or_default();
    names.iter().any(|n| {
        parts.contains(n)
            || name == *n
            || [format!("{n}-"), format!("{n}_"), format!("{n}.")]
                .iter()
                .any(|p| name.starts_with(p.as_str()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_with_config_and_revision() {
        let d = HubDataset::parse("hub:stanfordnlp/sst2").expect("hub").expect("ok");
        assert_eq!(
            (d.id.as_str(), d.config.as_deref(), d.revision.as_str()),
            ("stanfordnlp/sst2", None, "main")
        );
        let d = HubDataset::parse("hub:org/glue:sst2@v1.0").expect("hub").expect("ok");
        assert_eq!((d.config.as_deref(), d.revision.as_str()), (Some("sst2"), "v1.0"));
        assert!(HubDataset::parse("data/train.csv").is_none());
        assert!(HubDataset::parse("hub:no-owner").expect("hub").is_err());
        assert!(HubDataset::parse("hub:a/b/c").expect("hub").is_err());
    }

    #[test]
    fn the_cache_offers_the_datasets_it_can_read() {
        let tmp = tempfile::tempdir().expect("tmp");
        let add = |id: &str, files: &[&str]| {
            let repo = tmp.path().join(format!("datasets--{}", id.replace('/', "--")));
            for f in files {
                let path = repo.join("snapshots/abc").join(f);
                std::fs::create_dir_all(path.parent().expect("dir")).expect("mkdir");
                std::fs::write(path, b"PAR1").expect("file");
            }
            std::fs::create_dir_all(repo.join("refs")).expect("refs");
            std::fs::write(repo.join("refs/main"), "abc").expect("ref");
        };
        add("org/reviews", &["data/train-00000-of-00001.parquet", "data/test-00000-of-00001.parquet"]);
        add("org/two-configs", &["a/train/0.parquet", "b/train/0.parquet"]);
        add("org/csv-only", &["train.csv"]);
        let cache = Cache::new(tmp.path().to_path_buf());
        let found = cached(&cache);
        assert_eq!(found.iter().map(|f| f.0.as_str()).collect::<Vec<_>>(), ["org/reviews"]);
        assert_eq!(found[0].1.source, "hub:org/reviews@abc");
        let [_, valid, test] = &found[0].1.files;
        assert!(test.len() == 1 && valid.is_empty());
    }

    #[test]
    fn shards_join_in_order_once_and_misfits_are_named() {
        use polars::prelude::*;
        let tmp = tempfile::tempdir().expect("tmp");
        let write = |name: &str, mut frame: DataFrame| {
            let path = tmp.path().join(name);
            ParquetWriter::new(std::fs::File::create(&path).expect("create"))
                .finish(&mut frame)
                .expect("write");
            path
        };
        let a = write("train-0.parquet", df!("text" => ["a", "b"], "label" => ["x", "y"]).expect("df"));
        let b = write("train-1.parquet", df!("text" => ["c"], "label" => ["x"]).expect("df"));
        let out = tmp.path().join("joined/train.parquet");
        let joined = join_shards(&[a.clone(), b], &out).expect("join");
        let read =
            crate::data::load::load_examples(&joined, &crate::data::load::Columns::default()).expect("read");
        assert_eq!(read.texts, ["a", "b", "c"]);
        // Made once: the file there is the one a later run reads.
        let again = join_shards(std::slice::from_ref(&a), &out).expect("reused");
        let columns = crate::data::load::Columns::default();
        assert_eq!(crate::data::load::load_examples(&again, &columns).expect("read").len(), 3);
        let odd = write("train-2.parquet", df!("sentence" => ["d"]).expect("df"));
        let e = join_shards(&[a, odd], &tmp.path().join("other.parquet")).expect_err("misfit").to_string();
        assert!(e.contains("train-2.parquet") && e.contains("does not fit"), "{e}");
    }

    #[test]
    fn split_files_are_picked_as_datasets_names_them() {
        let d = |c: Option<&str>| HubDataset {
            id: "o/n".into(),
            config: c.map(str::to_owned),
            revision: "main".into(),
        };
        let files: Vec<String> = [
            "README.md",
            "data/train-00000-of-00001.parquet",
            "data/validation-00000-of-00001.parquet",
            "data/test-00000-of-00001.parquet",
        ]
        .map(String::from)
        .to_vec();
        let picked = d(None).pick(&files).expect("picked");
        assert_eq!(picked[1], ["data/validation-00000-of-00001.parquet"]);
        let configs: Vec<String> = ["a/train/0000.parquet", "a/test/0000.parquet", "b/train/0000.parquet"]
            .map(String::from)
            .to_vec();
        assert!(d(None).pick(&configs).expect_err("which config").contains("several configs (a, b)"));
        assert_eq!(d(Some("b")).pick(&configs).expect("b")[0], ["b/train/0000.parquet"]);
        assert!(d(Some("c")).pick(&configs).expect_err("no c").contains("its configs: a, b"));
        let shards: Vec<String> = ["train-1.parquet", "train-0.parquet"].map(String::from).to_vec();
        assert_eq!(d(None).pick(&shards).expect("shards")[0], ["train-0.parquet", "train-1.parquet"]);
        assert!(d(None).pick(&["x.csv".to_owned()]).expect_err("none").contains("no Parquet"));
    }
}
