//! Plot export: training curves and confusion matrices as PNG or SVG, drawn with `plotters`.
//! This is the only module that knows about `plotters`; the rest of the crate hands it numbers.
//!
//! The output format follows the file extension (`.png` or `.svg`), so a caller names the file
//! once and cannot ask for an SVG written into `loss.png`.

mod canvas;
mod confusion;
mod curves;
pub mod explain;
mod export;
pub mod sweep;

use std::path::Path;

pub use confusion::plot_confusion;
pub use curves::plot_curves;
pub use export::export_runs;

use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Png,
    Svg,
}

impl Format {
    pub fn extension(self) -> &'static str {
        match self {
            Self::Png => "png",
            Self::Svg => "svg",
        }
    }

    /// The format named by `path`'s extension (case-insensitive).
    pub fn from_path(path: &Path) -> Result<Self> {
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or_default().to_ascii_lowercase();
        [Self::Png, Self::Svg]
            .into_iter()
            .find(|f| f.extension() == ext)
            .ok_or_else(|| Error::data(path, "plot files must end in .png or .svg"))
    }
}

/// The line a perfect regressor's predicted-against-gold points lie on, across their range.
pub fn identity_line(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let (lo, hi) = points
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &(x, y)| (lo.min(x).min(y), hi.max(x).max(y)));
    if lo.is_finite() { vec![(lo, lo), (hi, hi)] } else { Vec::new() }
}

/// One line of a chart. Points that are NaN or infinite are skipped when drawing.
#[derive(Clone, Debug, PartialEq)]
pub struct Curve {
    pub label: String,
    pub points: Vec<(f64, f64)>,
}

impl Curve {
    pub fn new(label: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Self { label: label.into(), points }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_follows_the_extension_case_insensitively() {
        assert_eq!(Format::from_path(Path::new("a/loss.png")).expect("png"), Format::Png);
        assert_eq!(Format::from_path(Path::new("loss.SVG")).expect("svg"), Format::Svg);
        let err = Format::from_path(Path::new("loss.jpg")).expect_err("jpg").to_string();
        assert!(err.contains("loss.jpg") && err.contains(".png or .svg"), "{err}");
        assert!(Format::from_path(Path::new("loss")).is_err());
        assert_eq!(Format::Svg.extension(), "svg");
    }
}
