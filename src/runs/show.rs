//! `bertbench runs show`: one run as people read it — what it is, how it ended, its figures
//! per split and class, its speed, and the settings it changed from the defaults.

use std::fmt::Write as _;

use super::compare::config_diff;
use super::safe::printable;
use super::store::RunInfo;
use crate::config::{RunConfig, RunKind};
use crate::report::SplitSummary;

pub fn describe(r: &RunInfo) -> String {
    let mut out = String::new();
    let field = |out: &mut String, name: &str, value: &str| {
        let _ = writeln!(out, "{name:<10}{value}");
    };
    field(&mut out, "run", &r.id);
    field(&mut out, "label", &r.label);
    field(&mut out, "folder", &printable(&r.dir.display().to_string()));
    let status = match &r.reason {
        Some(reason) => format!("{} ({reason})", r.status.as_str()),
        None => r.status.as_str().to_owned(),
    };
    field(&mut out, "status", &status);
    if let Some(c) = &r.config {
        field(&mut out, "task", &task(c, r));
        let weights =
            if c.model.from_scratch { "random weights (from scratch)" } else { "pretrained weights" };
        field(&mut out, "model", &format!("{}, {weights}", printable(&c.model.source)));
        let t = &c.train;
        field(
            &mut out,
            "training",
            &format!(
                "{} epochs, batch {}, lr {}, warmup {}, max length {}, seed {}",
                t.epochs,
                t.examples_per_step(),
                super::label::number(t.lr),
                t.warmup_ratio,
                t.max_len,
                t.seed
            ),
        );
        if let Some(s) = &c.sweep {
            field(&mut out, "sweep", &format!("{} (setting {}, seed {})", s.id, s.setting, s.seed));
        }
    }
    if let Some(s) = &r.summary {
        out.push_str("\nresults\n");
        for (split, figures) in [("test", &s.test), ("valid", &s.valid)] {
            if let Some(f) = figures {
                let _ = writeln!(out, "  {split:<6}{}", figures_line(f));
            }
        }
        if let Some(m) = &s.pretrain {
            let _ = writeln!(
                out,
                "  masked LM: accuracy {:.4}, perplexity {:.1} ({} masked tokens held out)",
                m.accuracy, m.perplexity, m.masked_tokens
            );
        }
        if let Some(f) = s.test.as_ref().or(s.valid.as_ref()).filter(|f| !f.per_class.is_empty()) {
            let which = if s.test.is_some() { "test" } else { "valid" };
            let w = f.per_class.iter().map(|c| c.label.chars().count()).max().unwrap_or(5).max(5);
            let _ = writeln!(
                out,
                "\n  per class ({which})\n  {:<w$}  precision  recall  F1      support",
                "class"
            );
            for c in &f.per_class {
                let _ = writeln!(
                    out,
                    "  {:<w$}  {:<9.4}  {:<6.4}  {:<6.4}  {}",
                    printable(&c.label),
                    c.precision,
                    c.recall,
                    c.f1,
                    c.support
                );
            }
        }
        let best = s.best_step.map(|b| format!(", model of step {b}")).unwrap_or_default();
        let _ = writeln!(
            out,
            "\n  {} steps in {:.0} s{best}; {:.1} training / {:.1} evaluation examples/s; peak memory {:.0} MiB",
            s.steps, s.duration_s, s.train_examples_per_sec, s.eval_examples_per_sec, s.peak_rss_mib
        );
    }
    if let Some(c) = &r.config {
        let defaults = RunConfig { kind: c.kind, ..RunConfig::default() };
        let diff = config_diff(&[Some(&defaults), Some(c)]);
        if !diff.is_empty() {
            out.push_str("\nsettings (those not at their defaults; the whole config: config.toml)\n");
            let w = diff.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
            for (key, values) in diff.iter().filter(|(k, _)| k != "name") {
                let _ = writeln!(out, "  {key:<w$}  {}", values[1]);
            }
        }
    }
    out
}

/// `fine-tuning sotu-era, seq-cls head, a masked-LM stage (ratio 0.15)` or `pretraining on corpus`.
fn task(c: &RunConfig, r: &RunInfo) -> String {
    if c.kind == RunKind::Pretrain {
        return format!("masked-LM pretraining on {}", r.dataset());
    }
    let stage = if c.mlm.mask_ratio > 0.0 {
        format!(", after a masked-LM stage (ratio {}, {} epochs)", c.mlm.mask_ratio, c.mlm.epochs)
    } else {
        String::new()
    };
    let budget = c.data.train_share.map(|s| format!(", {}% of the labels", super::label::number(s * 100.0)));
    format!("fine-tuning on {}, {} head{}{stage}", r.dataset(), c.head.as_str(), budget.unwrap_or_default())
}

fn figures_line(f: &SplitSummary) -> String {
    let mut parts = Vec::new();
    let (name, value) = f.headline();
    parts.push(format!("{name} {value:.4}"));
    if f.macro_f1.is_finite() && name != "macro-F1" {
        parts.push(format!("macro-F1 {:.4}", f.macro_f1));
    }
    if let Some(ece) = f.extra.get("ece") {
        parts.push(format!("ECE {ece:.3}"));
    }
    if f.loss.is_finite() {
        parts.push(format!("loss {:.4}", f.loss));
    }
    format!("{}  ({} examples, step {})", parts.join("  "), f.examples, f.step)
}
