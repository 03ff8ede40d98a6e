//! Plots of recorded runs: each run's curves and confusion matrix, and overlays that compare runs.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::confusion::MAX_CLASSES;
use super::curves::plot_scatter;
use super::{Curve, Format, plot_confusion, plot_curves};
use crate::error::{Error, IoContext, Result};
use crate::report::EvalReport;
use crate::runs::{RunHistory, read_history, read_predictions};

/// Writes the plots of the given runs into `out` (created if missing) and returns the files
/// written. Per run `<id>` (its folder name): `<id>-loss`, `<id>-metrics` (the head's two main
/// validation scores, when it was validated) and, from its final test evaluation (else its
/// final valid one), `<id>-confusion` (classes, or entity types; not drawn beyond 60) or for
/// regression `<id>-scatter` (predicted against gold values), and `<id>-calibration` (the
/// reliability diagram) for classes and label sets; with more than one run also
/// `compare-loss` and `compare-accuracy` (each run's main score, when any run was validated).
pub fn export_runs(runs: &[&Path], format: Format, out: &Path) -> Result<Vec<PathBuf>> {
    // Every run is read before anything is written, so a bad folder leaves no partial export.
    let dirs = runs;
    let runs: Vec<(String, RunHistory)> = runs.iter().map(|dir| load(dir)).collect::<Result<_>>()?;
    let mut ids = HashSet::new();
    if let Some((id, _)) = runs.iter().find(|(id, _)| !ids.insert(id)) {
        return Err(Error::data(
            out,
            format!("two runs are named {id}; their plots would overwrite each other"),
        ));
    }
    std::fs::create_dir_all(out).at(out)?;
    let file = |name: &str| out.join(format!("{name}.{}", format.extension()));
    let mut written = Vec::new();

    // Titles and legends name runs by their labels, told apart where equal; files by their ids.
    let ids: Vec<String> = runs.iter().map(|(id, _)| id.clone()).collect();
    let given: Vec<String> = dirs.iter().map(|d| crate::runs::store::load_run(d).label).collect();
    let labels = crate::runs::label::distinct(&given, &ids);
    for (((id, history), dir), label) in runs.iter().zip(dirs).zip(&labels) {
        let valid = history.validations();
        let (mlm_steps, fine_tuning) = history.stage_steps();
        let held_out =
            || Curve::new("held out", history.mlm.iter().map(|r| (r.step as f64, r.loss)).collect());
        if fine_tuning.is_empty() {
            // A pretraining run: masked-LM all through.
            let loss = [steps_curve("train", mlm_steps), held_out()];
            let path = file(&format!("{id}-loss"));
            plot_curves(&path, &format!("{label}: masked-LM loss"), "step", "loss", &loss)?;
            written.push(path);
        } else {
            let loss = [steps_curve("train", fine_tuning), evals_curve("valid", &valid, |r| r.loss)];
            let path = file(&format!("{id}-loss"));
            let stage = if mlm_steps.is_empty() {
                String::new()
            } else {
                format!(" (after {} masked-LM steps)", mlm_steps.len())
            };
            plot_curves(&path, &format!("{label}: fine-tuning loss{stage}"), "step", "loss", &loss)?;
            written.push(path);
            if !mlm_steps.is_empty() {
                let path = file(&format!("{id}-mlm-loss"));
                let loss = [steps_curve("train", mlm_steps), held_out()];
                plot_curves(&path, &format!("{label}: masked-LM stage loss"), "step", "loss", &loss)?;
                written.push(path);
            }
        }

        if let Some(first) = valid.first() {
            let scores: Vec<Curve> = first
                .headline()
                .iter()
                .take(2)
                .enumerate()
                .map(|(i, (name, _))| {
                    Curve::new(*name, valid.iter().map(|r| (r.step as f64, r.headline()[i].1)).collect())
                })
                .collect();
            let path = file(&format!("{id}-metrics"));
            plot_curves(&path, &format!("{label}: validation scores"), "step", "score", &scores)?;
            written.push(path);
        }

        let last = history.final_eval("test").or_else(|| history.final_eval("valid"));
        if let Some(report) = last.filter(|r| r.scores.regression.is_some()) {
            let points: Vec<(f64, f64)> = read_predictions(dir)?
                .get(&report.split)
                .into_iter()
                .flatten()
                .filter_map(crate::report::Prediction::values)
                .collect();
            let path = file(&format!("{id}-scatter"));
            let title = format!("{label}: predicted against gold on {} (step {})", report.split, report.step);
            plot_scatter(&path, &title, "gold value", "predicted value", points)?;
            written.push(path);
        } else if let Some(report) =
            last.filter(|r| r.labels.len() <= MAX_CLASSES && !r.scores.confusion.is_empty())
        {
            let path = file(&format!("{id}-confusion"));
            let title = format!("{label}: confusion on {} (step {})", report.split, report.step);
            plot_confusion(&path, &title, &report.labels, &report.scores.confusion, true)?;
            written.push(path);
        }
        if let Some((report, c)) = last.and_then(|r| r.scores.calibration.as_ref().map(|c| (r, c))) {
            let bins: Vec<(f64, f64)> = c.bins.iter().map(|b| (b.confidence, b.accuracy)).collect();
            let curves = [
                Curve::new("calibrated", vec![(0.0, 0.0), (1.0, 1.0)]),
                Curve::new(format!("this model (ECE {:.3})", c.ece), bins),
            ];
            let path = file(&format!("{id}-calibration"));
            let title = format!("{label}: calibration on {} (step {})", report.split, report.step);
            plot_curves(&path, &title, "probability said", "share right", &curves)?;
            written.push(path);
        }
    }

    if runs.len() > 1 {
        let losses: Vec<Curve> =
            runs.iter().zip(&labels).map(|((_, h), label)| train_loss(label, h)).collect();
        let path = file("compare-loss");
        plot_curves(&path, "training loss by run (fine-tuning steps)", "step", "loss", &losses)?;
        written.push(path);

        let accuracies: Vec<Curve> = runs
            .iter()
            .zip(&labels)
            .map(|((_, h), label)| {
                evals_curve(label, &h.validations(), |r| r.headline().first().map_or(f64::NAN, |h| h.1))
            })
            .collect();
        if accuracies.iter().any(|c| !c.points.is_empty()) {
            let path = file("compare-accuracy");
            let title = "validation score by run (accuracy, micro-F1, entity F1 or Pearson)";
            plot_curves(&path, title, "step", "score", &accuracies)?;
            written.push(path);
        }
    }
    Ok(written)
}

/// A run's history and id, or an error naming the folder when there is nothing to plot.
fn load(dir: &Path) -> Result<(String, RunHistory)> {
    if !dir.join("events.jsonl").is_file() {
        return Err(Error::data(dir, "not a run folder: it has no events.jsonl"));
    }
    let history = read_history(dir)?;
    if history.steps.is_empty() {
        return Err(Error::data(dir, "the run recorded no training steps, so there is nothing to plot"));
    }
    // `runs/.` or `..` have no file name of their own; the resolved folder does.
    let id = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .or_else(|| dir.canonicalize().ok()?.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "run".to_owned());
    Ok((id, history))
}

/// The training loss of the run's fine-tuning steps (a pretraining run: all its steps).
fn train_loss(label: &str, history: &RunHistory) -> Curve {
    let (mlm, fine_tuning) = history.stage_steps();
    steps_curve(label, if fine_tuning.is_empty() { mlm } else { fine_tuning })
}

fn steps_curve(label: &str, steps: &[crate::train::event::StepMetrics]) -> Curve {
    Curve::new(label, steps.iter().map(|s| (s.step as f64, s.loss)).collect())
}

fn evals_curve(label: &str, reports: &[&EvalReport], value: fn(&EvalReport) -> f64) -> Curve {
    Curve::new(label, reports.iter().map(|r| (r.step as f64, value(r))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::score;
    use crate::plot::canvas::{png_size, svg_texts};
    use crate::train::TrainEvent;
    use crate::train::event::StepMetrics;

    fn step(step: usize, loss: f64) -> TrainEvent {
        TrainEvent::Step(StepMetrics {
            step,
            total_steps: 100,
            epoch: step as f64 / 50.0,
            loss,
            lr: 1e-4,
            grad_norm: 1.0,
            examples_per_sec: 100.0,
            elapsed_s: step as f64,
            gpu_memory: None,
        })
    }

    fn evaluated(split: &str, step: usize, gold: &[u32], predicted: &[u32]) -> TrainEvent {
        let labels = vec!["neg".to_owned(), "pos".to_owned()];
        TrainEvent::Evaluated(EvalReport {
            split: split.to_owned(),
            step,
            epoch: step as f64 / 50.0,
            loss: 0.5,
            examples: gold.len(),
            examples_per_sec: 500.0,
            scores: score(gold, predicted, &labels),
            labels,
        })
    }

    fn write_run(dir: &Path, events: &[TrainEvent]) {
        std::fs::create_dir_all(dir).expect("mkdir");
        let lines: Vec<String> = events.iter().map(|e| serde_json::to_string(e).expect("json")).collect();
        std::fs::write(dir.join("events.jsonl"), lines.join("\n") + "\n").expect("write");
    }

    fn names(paths: &[PathBuf]) -> Vec<String> {
        paths.iter().map(|p| p.file_name().expect("name").to_string_lossy().into_owned()).collect()
    }

    #[test]
    fn a_masked_lm_stage_is_plotted_apart_from_fine_tuning() {
        let root = tempfile::tempdir().expect("tempdir");
        let run = root.path().join("staged");
        let started = TrainEvent::Started(crate::train::event::RunStarted {
            run_id: "staged".into(),
            model: "tiny".into(),
            device: "cpu".into(),
            precision: "f32".into(),
            labels: vec!["neg".into(), "pos".into()],
            train_examples: 10,
            valid_examples: 3,
            test_examples: 0,
            epochs: 1,
            steps_per_epoch: 60,
            total_steps: 100,
            mlm_steps: 40,
            trainable_parameters: 1,
            initialised: Vec::new(),
            unused: Vec::new(),
        });
        // The stage's loss is ten times fine-tuning's.
        let mut events = vec![started];
        events.extend((1..=100).map(|s| step(s, if s <= 40 { 8.0 } else { 0.8 - s as f64 / 1000.0 })));
        events.push(evaluated("valid", 100, &[0, 1, 1], &[0, 1, 1]));
        write_run(&run, &events);
        let out = root.path().join("plots");
        let written = export_runs(&[&run], Format::Svg, &out).expect("export");
        assert_eq!(names(&written)[..2], ["staged-loss.svg", "staged-mlm-loss.svg"]);
        let svg = std::fs::read_to_string(out.join("staged-loss.svg")).expect("loss");
        let texts = svg_texts(&svg);
        assert!(
            texts.iter().any(|t| t == "staged: fine-tuning loss (after 40 masked-LM steps)"),
            "{texts:?}"
        );
        // The loss axis spans fine-tuning's losses, not the stage's 8.
        let ticks: Vec<f64> =
            texts.iter().filter(|t| t.contains('.')).filter_map(|t| t.parse().ok()).collect();
        assert!(!ticks.is_empty() && ticks.iter().all(|&y| y < 1.0), "{texts:?}");
        let stage = svg_texts(&std::fs::read_to_string(out.join("staged-mlm-loss.svg")).expect("mlm"));
        assert!(stage.iter().any(|t| t == "staged: masked-LM stage loss"), "{stage:?}");
    }

    #[test]
    fn writes_each_runs_plots_and_the_comparisons() {
        let root = tempfile::tempdir().expect("tempdir");
        let (a, b) = (root.path().join("run-a"), root.path().join("run-b"));
        let mut events: Vec<TrainEvent> = (1..=100).map(|s| step(s, 1.0 / s as f64)).collect();
        events.push(evaluated("valid", 50, &[0, 1, 1], &[0, 1, 0]));
        events.push(evaluated("valid", 100, &[0, 1, 1], &[0, 1, 1]));
        let mut test = evaluated("test", 100, &[0, 0, 1, 1], &[0, 1, 1, 1]);
        if let TrainEvent::Evaluated(r) = &mut test {
            let said = [(0.62, false), (0.74, true), (0.91, true), (0.97, true)];
            r.scores.calibration = Some(crate::eval::calibration::of_top_labels(said));
        }
        events.push(test);
        write_run(&a, &events);
        write_run(&b, &[step(1, 0.9), step(2, 0.8), step(3, 0.7), evaluated("valid", 3, &[0, 1], &[1, 1])]);

        let out = root.path().join("plots/new");
        let written = export_runs(&[&a, &b], Format::Svg, &out).expect("export");
        assert_eq!(
            names(&written),
            [
                "run-a-loss.svg",
                "run-a-metrics.svg",
                "run-a-confusion.svg",
                "run-a-calibration.svg",
                "run-b-loss.svg",
                "run-b-metrics.svg",
                "run-b-confusion.svg",
                "compare-loss.svg",
                "compare-accuracy.svg"
            ]
        );
        assert!(written.iter().all(|p| p.starts_with(&out) && p.is_file()));

        let texts = |name: &str| svg_texts(&std::fs::read_to_string(out.join(name)).expect("read"));
        let compare = texts("compare-loss.svg");
        assert!(compare.iter().any(|t| t == "run-a") && compare.iter().any(|t| t == "run-b"), "{compare:?}");
        let loss = texts("run-a-loss.svg");
        assert!(loss.iter().any(|t| t == "train") && loss.iter().any(|t| t == "valid"), "{loss:?}");
        let metrics = texts("run-a-metrics.svg");
        assert!(metrics.iter().any(|t| t == "accuracy") && metrics.iter().any(|t| t == "macro-F1"));
        // run-a's confusion comes from its test evaluation, not the later-listed valid one.
        let confusion = texts("run-a-confusion.svg");
        assert!(confusion.iter().any(|t| t.contains("test")), "{confusion:?}");
        assert!(confusion.iter().any(|t| t == "50%"), "neg row of the test split: 1 of 2 right");
        assert!(texts("run-b-confusion.svg").iter().any(|t| t.contains("valid")));
        // Bins 0.6 (0.62 wrong), 0.7 (0.74 right), 0.9 (0.94 on average, both right):
        // ECE 0.62/4 + 0.26/4 + 0.06/2 = 0.25.
        let calibration = texts("run-a-calibration.svg");
        assert!(calibration.iter().any(|t| t == "this model (ECE 0.250)"), "{calibration:?}");
        assert!(calibration.iter().any(|t| t == "calibrated"), "{calibration:?}");
    }

    #[test]
    fn a_run_without_evaluations_gets_only_its_loss_plot() {
        let root = tempfile::tempdir().expect("tempdir");
        let run = root.path().join("quick");
        write_run(&run, &[step(1, 0.7)]);
        let written = export_runs(&[&run], Format::Png, root.path()).expect("export");
        assert_eq!(names(&written), ["quick-loss.png"]);
        assert_eq!(png_size(&written[0]), (1200, 700));
    }

    #[test]
    fn a_folder_that_is_not_a_run_is_an_error_naming_it_and_nothing_is_written() {
        let root = tempfile::tempdir().expect("tempdir");
        let (good, empty, stepless) =
            (root.path().join("good"), root.path().join("not-a-run"), root.path().join("stepless"));
        write_run(&good, &[step(1, 0.7)]);
        std::fs::create_dir_all(&empty).expect("mkdir");
        write_run(&stepless, &[evaluated("valid", 0, &[0], &[0])]);
        let out = root.path().join("plots");

        let err = export_runs(&[&good, &empty], Format::Png, &out).expect_err("no events").to_string();
        assert!(err.contains("not-a-run") && err.contains("events.jsonl"), "{err}");
        let err = export_runs(&[&good, &stepless], Format::Png, &out).expect_err("no steps").to_string();
        assert!(err.contains("stepless") && err.contains("no training steps"), "{err}");
        assert!(!out.exists(), "a failed export writes nothing");

        let twin = root.path().join("elsewhere/good");
        write_run(&twin, &[step(1, 0.7)]);
        let err = export_runs(&[&good, &twin], Format::Png, &out).expect_err("same id").to_string();
        assert!(err.contains("good"), "{err}");
    }
}
