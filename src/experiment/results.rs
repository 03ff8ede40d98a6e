//! A sweep's results, read from its runs' records: one row per setting with the mean and
//! standard deviation over seeds of the figure each run is judged by (the test split's
//! headline, else validation's), the best row marked; the difference between two settings
//! paired by seed (pretrained against from scratch); and the curves of the summary plot (the
//! figure against the varied setting, or against the number of labelled examples).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::spec::{Next, Sweep, next};
use crate::report::RunStatus;
use crate::runs::RunInfo;
use crate::runs::label::describe;
use crate::runs::listing::Figure;

/// One run of the table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunResult {
    pub seed: u64,
    /// The run's id, once it has a record.
    pub run: Option<String>,
    #[serde(skip)]
    pub dir: Option<PathBuf>,
    /// `pending` before it starts, else the record's status.
    pub status: String,
    pub score: Option<f64>,
    pub train_examples: Option<usize>,
    pub reason: Option<String>,
}

/// One setting of the sweep.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    pub setting: usize,
    /// The varied settings in words (`from scratch · 10% of labels`).
    pub label: String,
    /// Each key of the grid and its value in this setting, in words.
    pub values: BTreeMap<String, String>,
    pub runs: Vec<RunResult>,
    /// Runs finished with a score.
    pub scored: usize,
    pub mean: Option<f64>,
    /// Sample standard deviation over seeds (n − 1); none below two runs.
    pub sd: Option<f64>,
    pub train_examples: Option<f64>,
    pub best: bool,
}

/// The difference between the two values of one key, each other setting alike, paired by seed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Contrast {
    pub key: String,
    /// `pretrained` and `from scratch`: the difference is `a` − `b`.
    pub a: String,
    pub b: String,
    pub differences: Vec<Difference>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Difference {
    /// The other settings (`10% of labels`); empty when the key is the only one varied.
    pub among: String,
    pub mean: f64,
    pub sd: Option<f64>,
    /// Seeds at which both runs finished.
    pub pairs: usize,
}

/// One line of the summary plot: a value of the other varied keys.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Curve {
    pub label: String,
    /// (x, mean, sd) of each setting with a score, by x.
    pub points: Vec<(f64, f64, f64)>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub x_label: String,
    /// A ratio scale (learning rates, label budgets): drawn on a logarithmic axis.
    pub log_x: bool,
    pub curves: Vec<Curve>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Results {
    pub sweep: String,
    pub name: String,
    /// What the scores are: `test acc`, `val ent F1`.
    pub metric: String,
    pub seeds: Vec<u64>,
    pub rows: Vec<Row>,
    pub runs_total: usize,
    pub runs_finished: usize,
    pub contrast: Option<Contrast>,
    pub summary: Option<Summary>,
}

impl Results {
    /// The sweep's state in `runs` (the runs folder's listing); `train_examples` reads how
    /// many labelled examples a finished run trained on (its record's start event).
    pub fn gather(
        sweep: &Sweep,
        runs: &[RunInfo],
        train_examples: impl Fn(&RunInfo) -> Option<usize>,
    ) -> Self {
        let mut rows: Vec<Row> = sweep
            .settings
            .iter()
            .enumerate()
            .map(|(i, s)| Row {
                setting: i,
                label: if s.label.is_empty() { sweep.name.clone() } else { s.label.clone() },
                values: s.values.iter().map(|(k, v)| (k.clone(), describe(k, v))).collect(),
                runs: Vec::new(),
                scored: 0,
                mean: None,
                sd: None,
                train_examples: None,
                best: false,
            })
            .collect();
        let mut metric = None;
        for (planned, record) in sweep.records(runs) {
            let figure = record.and_then(|r| r.summary.as_ref()).and_then(Figure::of);
            let finished = record.is_some_and(|r| r.status == RunStatus::Finished);
            let score = figure.as_ref().filter(|_| finished).map(|f| f.value).filter(|v| v.is_finite());
            if let Some(f) = figure.as_ref().filter(|_| finished) {
                metric.get_or_insert_with(|| f.long_name());
            }
            let status = match next(record) {
                Next::Start => "pending".to_owned(),
                _ => record.map(|r| r.status.as_str().to_owned()).unwrap_or_default(),
            };
            rows[planned.setting].runs.push(RunResult {
                seed: planned.seed,
                run: record.map(|r| r.id.clone()),
                dir: record.map(|r| r.dir.clone()),
                status,
                score,
                train_examples: record.filter(|_| finished).and_then(&train_examples),
                reason: record.and_then(|r| r.reason.clone()),
            });
        }
        for row in &mut rows {
            let scores: Vec<f64> = row.runs.iter().filter_map(|r| r.score).collect();
            row.scored = scores.len();
            (row.mean, row.sd) = mean_sd(&scores);
            let examples: Vec<f64> =
                row.runs.iter().filter_map(|r| r.train_examples).map(|n| n as f64).collect();
            row.train_examples = mean_sd(&examples).0;
        }
        // The best setting, when one is ahead of every other (a tie marks none).
        let means: Vec<(usize, f64)> =
            rows.iter().enumerate().filter_map(|(i, r)| r.mean.map(|m| (i, m))).collect();
        let top = means.iter().map(|m| m.1).fold(f64::NEG_INFINITY, f64::max);
        if let [(i, _)] = means.iter().filter(|m| m.1 == top).collect::<Vec<_>>()[..]
            && means.len() > 1
        {
            rows[*i].best = true;
        }
        let runs_total = rows.iter().map(|r| r.runs.len()).sum();
        let runs_finished = rows.iter().flat_map(|r| &r.runs).filter(|r| r.status == "finished").count();
        let contrast = contrast(sweep, &rows);
        let summary = summary(sweep, &rows);
        Self {
            sweep: sweep.id.clone(),
            name: sweep.name.clone(),
            metric: metric.unwrap_or_else(|| "score".into()),
            seeds: sweep.seeds.clone(),
            rows,
            runs_total,
            runs_finished,
            contrast,
            summary,
        }
    }

    /// The contrast in words, one line per other setting: `pretrained vs from scratch at 10% of
    /// labels: +13.5 points of test accuracy (3 seeds, sd 2.1)`.
    pub fn contrast_lines(&self) -> Vec<String> {
        let Some(c) = &self.contrast else { return Vec::new() };
        c.differences
            .iter()
            .map(|d| {
                let among = if d.among.is_empty() { String::new() } else { format!(" at {}", d.among) };
                let seeds = if d.pairs == 1 { "1 seed".to_owned() } else { format!("{} seeds", d.pairs) };
                let sd = d.sd.map(|s| format!(", sd {:.1}", s * 100.0)).unwrap_or_default();
                format!(
                    "{} vs {}{among}: {:+.1} points of {} ({seeds}{sd})",
                    c.a,
                    c.b,
                    d.mean * 100.0,
                    self.metric
                )
            })
            .collect()
    }

    /// The table as `bertbench sweep` prints it: a header, a row per setting.
    pub fn table(&self) -> String {
        let header =
            ["SETTING", "RUNS", "EXAMPLES", &format!("{} (mean ± sd)", self.metric)].map(str::to_owned);
        let mut cells = vec![header];
        for r in &self.rows {
            let score = r.score_text();
            let best = if r.best { "  best" } else { "" };
            cells.push([
                r.label.clone(),
                format!("{}/{}", r.scored, r.runs.len()),
                r.train_examples.map_or_else(|| "-".into(), |n| format!("{n:.0}")),
                format!("{score}{best}"),
            ]);
        }
        let mut out = crate::runs::text_table(&cells);
        for line in self.contrast_lines() {
            out += &line;
            out.push('\n');
        }
        out
    }
}

/// Reads the sweep's runs from its runs folder, gathers its results and writes them to the
/// sweep's record (`results.json`, atomically) for scripts and the workbench.
pub fn refresh(sweep: &Sweep) -> crate::Result<Results> {
    let runs = crate::runs::list_runs(&sweep.base.runs_dir)?;
    let results = Results::gather(sweep, &runs, |r| train_examples(&r.dir));
    let json = serde_json::to_vec_pretty(&results).map_err(|e| crate::Error::Run(e.to_string()))?;
    crate::runs::write_atomic(&sweep.dir().join(RESULTS_FILE), &json)?;
    Ok(results)
}

/// The sweep's results as scripts read them, beside `sweep.toml`.
pub const RESULTS_FILE: &str = "results.json";

/// How many labelled examples a run trained on, from its record's start event: the log's
/// first lines are read until it, not the whole log (screen 6 asks for every run of a sweep
/// each time one ends).
pub fn train_examples(dir: &Path) -> Option<usize> {
    use std::io::BufRead;
    let file = crate::runs::safe::open_record_file(dir, "events.jsonl").ok()?;
    std::io::BufReader::new(file).lines().map_while(std::result::Result::ok).take(16).find_map(|line| {
        match serde_json::from_str::<crate::train::TrainEvent>(&line).ok()? {
            crate::train::TrainEvent::Started(s) => Some(s.train_examples),
            _ => None,
        }
    })
}

impl Row {
    /// `0.7100 ± 0.0180` (one seed: the score alone; none finished: `-`).
    pub fn score_text(&self) -> String {
        match (self.mean, self.sd) {
            (Some(m), Some(s)) => format!("{m:.4} ± {s:.4}"),
            (Some(m), None) => format!("{m:.4}"),
            _ => "-".into(),
        }
    }
}

/// Mean and sample standard deviation.
pub fn mean_sd(xs: &[f64]) -> (Option<f64>, Option<f64>) {
    if xs.is_empty() {
        return (None, None);
    }
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let sd = (xs.len() > 1).then(|| (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt());
    (Some(mean), sd)
}

/// The key to contrast: `model.from-scratch` when varied, else the first key with exactly two
/// values.
fn contrast(sweep: &Sweep, rows: &[Row]) -> Option<Contrast> {
    let grid = &sweep.spec.grid;
    let key = ["model.from-scratch"]
        .into_iter()
        .find(|k| grid.get(*k).is_some_and(|v| v.len() == 2))
        .or_else(|| grid.iter().find(|(_, v)| v.len() == 2).map(|(k, _)| k.as_str()))?;
    let values = &grid[key];
    let (a, b) = (describe(key, &values[0]), describe(key, &values[1]));
    let value_of = |row: &Row| row.values.get(key).cloned();
    let others = |row: &Row| {
        let mut rest = row.values.clone();
        rest.remove(key);
        rest
    };
    let mut differences = Vec::new();
    for row_a in rows.iter().filter(|r| value_of(r).as_ref() == Some(&a)) {
        let Some(row_b) =
            rows.iter().find(|r| value_of(r).as_ref() == Some(&b) && others(r) == others(row_a))
        else {
            continue;
        };
        let diffs: Vec<f64> = row_a
            .runs
            .iter()
            .filter_map(|ra| {
                let rb = row_b.runs.iter().find(|rb| rb.seed == ra.seed)?;
                Some(ra.score? - rb.score?)
            })
            .collect();
        let (Some(mean), sd) = mean_sd(&diffs) else { continue };
        let among: Vec<String> = sweep.settings[row_a.setting]
            .values
            .iter()
            .filter(|(k, _)| k != key && grid.get(k).is_some_and(|v| v.len() > 1))
            .map(|(k, v)| describe(k, v))
            .collect();
        differences.push(Difference { among: among.join(" · "), mean, sd, pairs: diffs.len() });
    }
    (!differences.is_empty()).then(|| Contrast { key: key.to_owned(), a, b, differences })
}

/// The summary plot: the label budget against the number of labelled examples, else the first
/// varied numeric key; a curve per value of the other varied keys. None when no numeric key
/// is varied (the table and the contrast say it all).
fn summary(sweep: &Sweep, rows: &[Row]) -> Option<Summary> {
    let grid = &sweep.spec.grid;
    let numeric = |v: &toml::Value| v.as_float().or_else(|| v.as_integer().map(|i| i as f64));
    let varied = sweep.varied();
    let key = varied
        .iter()
        .copied()
        .find(|k| *k == "data.train-share")
        .or_else(|| varied.iter().copied().find(|k| grid[*k].iter().all(|v| numeric(v).is_some())))?;
    let budget = key == "data.train-share";
    let xs: Vec<f64> = grid[key].iter().filter_map(numeric).collect();
    let positive = xs.iter().all(|x| *x > 0.0);
    let spread = xs.iter().copied().fold(f64::MIN, f64::max) / xs.iter().copied().fold(f64::MAX, f64::min);
    let log_x = budget || (positive && spread >= 20.0);
    let mut curves: Vec<Curve> = Vec::new();
    for row in rows {
        let setting = &sweep.settings[row.setting];
        let x = if budget {
            row.train_examples
        } else {
            setting.values.iter().find(|(k, _)| k == key).and_then(|(_, v)| numeric(v))
        };
        let (Some(x), Some(mean)) = (x, row.mean) else { continue };
        let label: Vec<String> = setting
            .values
            .iter()
            .filter(|(k, _)| k != key && grid.get(k).is_some_and(|v| v.len() > 1))
            .map(|(k, v)| describe(k, v))
            .collect();
        let label = if label.is_empty() { sweep.name.clone() } else { label.join(" · ") };
        let point = (x, mean, row.sd.unwrap_or(0.0));
        match curves.iter_mut().find(|c| c.label == label) {
            Some(c) => c.points.push(point),
            None => curves.push(Curve { label, points: vec![point] }),
        }
    }
    for c in &mut curves {
        c.points.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    let x_label = crate::runs::label::axis_name(key);
    Some(Summary { x_label, log_x, curves })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RunConfig;
    use crate::experiment::SweepSpec;
    use crate::report::{RunSummary, SplitSummary};

    fn finished(run: &crate::experiment::PlannedRun, score: f64) -> RunInfo {
        let split = SplitSummary {
            loss: 0.5,
            accuracy: score,
            macro_f1: score,
            micro_f1: f64::NAN,
            weighted_f1: f64::NAN,
            extra: BTreeMap::default(),
            per_class: Vec::new(),
            examples: 100,
            step: 10,
        };
        let id = format!("2026-{}-{}", run.setting, run.seed);
        RunInfo {
            id: id.clone(),
            label: String::new(),
            dir: PathBuf::from(&id),
            status: RunStatus::Finished,
            reason: None,
            config: Some(run.config.clone()),
            summary: Some(RunSummary {
                run_id: id,
                status: RunStatus::Finished,
                reason: None,
                valid: None,
                test: Some(split),
                pretrain: None,
                steps: 10,
                epochs: 1.0,
                best_step: None,
                train_examples_per_sec: 1.0,
                eval_examples_per_sec: 1.0,
                peak_rss_mib: 1.0,
                time_to_first_step_s: None,
                duration_s: 1.0,
            }),
        }
    }

    fn label_budget() -> Sweep {
        let base: RunConfig = toml::from_str("[data]\ntrain = \"t.csv\"\n").expect("base");
        let mut spec = SweepSpec { parallel: 1, seeds: vec![1, 2, 3], ..SweepSpec::default() };
        spec.grid.insert("model.from-scratch".into(), vec![false.into(), true.into()]);
        spec.grid.insert("data.train-share".into(), vec![0.1.into(), 1.0.into()]);
        Sweep::new("budget".into(), base, spec).expect("sweep")
    }

    #[test]
    fn rows_take_mean_and_sd_over_seeds_and_pair_the_contrast_by_seed() {
        let sweep = label_budget();
        let planned = sweep.runs().expect("runs");
        // Settings: (10%, pretrained), (10%, scratch), (100%, pretrained), (100%, scratch).
        let score = |p: &crate::experiment::PlannedRun| {
            let base = [0.70, 0.40, 0.90, 0.80][p.setting];
            base + 0.01 * p.seed as f64
        };
        // The last run of the last setting has not finished yet.
        let runs: Vec<RunInfo> = planned[..planned.len() - 1].iter().map(|p| finished(p, score(p))).collect();
        let examples = |r: &RunInfo| {
            let share = r.config.as_ref()?.data.train_share?;
            Some((share * 300.0) as usize)
        };
        let results = Results::gather(&sweep, &runs, examples);
        assert_eq!((results.runs_total, results.runs_finished), (12, 11));
        assert_eq!(results.metric, "test accuracy");
        let row = &results.rows[0];
        assert_eq!(row.label, "10% of labels · pretrained");
        assert!((row.mean.expect("mean") - 0.72).abs() < 1e-9);
        assert!((row.sd.expect("sd") - 0.01).abs() < 1e-9);
        assert_eq!(results.rows[3].scored, 2);
        assert_eq!(results.rows[3].runs[2].status, "pending");
        assert!(results.rows[2].best && results.rows.iter().filter(|r| r.best).count() == 1);
        let tied =
            Results::gather(&sweep, &[finished(&planned[0], 0.5), finished(&planned[3], 0.5)], |_| None);
        assert!(tied.rows.iter().all(|r| !r.best), "a tie marks no best");
        let lines = results.contrast_lines();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert_eq!(
            lines[0],
            "pretrained vs from scratch at 10% of labels: +30.0 points of test accuracy (3 seeds, sd 0.0)"
        );
        assert!(lines[1].contains("+10.0 points") && lines[1].contains("(2 seeds"), "{lines:?}");
        let summary = results.summary.as_ref().expect("a label-budget curve");
        assert!(summary.log_x);
        assert_eq!(summary.curves.len(), 2);
        assert_eq!(summary.curves[0].label, "pretrained");
        assert_eq!(summary.curves[0].points.iter().map(|p| p.0).collect::<Vec<_>>(), [30.0, 300.0]);
        assert!(results.table().contains("0.7200 ± 0.0100"), "{}", results.table());
    }

    #[test]
    fn a_failed_run_is_shown_with_its_reason_and_left_out_of_the_mean() {
        let sweep = label_budget();
        let planned = sweep.runs().expect("runs");
        let mut runs: Vec<RunInfo> = planned.iter().map(|p| finished(p, 0.5)).collect();
        runs[0].status = RunStatus::Failed;
        runs[0].reason = Some("step 7: the loss is NaN".into());
        let results = Results::gather(&sweep, &runs, |_| None);
        let first = &results.rows[0];
        assert_eq!((first.scored, first.runs[0].status.as_str()), (2, "failed"));
        assert_eq!(first.runs[0].reason.as_deref(), Some("step 7: the loss is NaN"));
        assert_eq!(next(Some(&runs[0])), Next::Failed(Some("step 7: the loss is NaN".into())));
        runs[0].status = RunStatus::Cancelled;
        assert_eq!(next(Some(&runs[0])), Next::Resume(runs[0].dir.clone()));
    }

    #[test]
    fn mean_and_sample_sd() {
        let (m, s) = mean_sd(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]);
        assert!((m.expect("mean") - 5.0).abs() < 1e-12);
        assert!((s.expect("sd") - (32.0f64 / 7.0).sqrt()).abs() < 1e-12);
        assert_eq!(mean_sd(&[1.0]), (Some(1.0), None));
        assert_eq!(mean_sd(&[]), (None, None));
    }
}
