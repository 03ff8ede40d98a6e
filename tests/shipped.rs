//! What ships with bertbench works: every dataset reads with the head its card names, and every
//! recipe is a valid run whose head matches its dataset's.

use std::path::Path;

use bertbench::config::{RunConfig, RunKind};
use bertbench::datasets::{shipped, split_stats};

#[test]
fn every_shipped_dataset_reads_with_its_head() {
    let all = shipped(Path::new("datasets"));
    assert!(all.len() >= 6, "{all:?}");
    for d in &all {
        let stats = split_stats(d, None).unwrap_or_else(|e| panic!("{}: {e}", d.name));
        for s in &stats {
            assert!(s.examples > 0 && !s.labels.is_empty(), "{} {}: {s:?}", d.name, s.split);
        }
        assert!(d.summary.is_some(), "{} has a card with a description", d.name);
    }
}

#[test]
fn every_recipe_is_a_valid_run_for_its_dataset() {
    let datasets = shipped(Path::new("datasets"));
    let mut recipes: Vec<_> = std::fs::read_dir("experiments/recipes")
        .expect("recipes")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    recipes.sort();
    assert!(recipes.len() >= 6);
    let mut sweeps = 0;
    for path in recipes {
        let text = std::fs::read_to_string(&path).expect("read");
        let c = if text.contains("\n[sweep]") {
            // A lesson: every run of its grid is built and checked as the sweep starts it.
            sweeps += 1;
            let sweep = bertbench::experiment::Sweep::from_file(&path, None)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(sweep.runs().expect("runs").len() >= 6, "{}: several seeds", path.display());
            sweep.base
        } else {
            RunConfig::from_toml_file(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        };
        c.validate().unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if c.kind == RunKind::Pretrain {
            continue;
        }
        let dataset = datasets.iter().find(|d| d.train == c.data.train);
        let dataset = dataset.unwrap_or_else(|| panic!("{}: trains on a shipped dataset", path.display()));
        assert_eq!(c.head, dataset.head, "{}", path.display());
    }
    assert_eq!(sweeps, 3, "the three lessons");
}
