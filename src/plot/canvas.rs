//! Where a chart gets drawn: the backend for the file format, the embedded font, and plotters'
//! errors turned into the crate's. Also the look the charts share (palette, font family).

use std::path::Path;
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

use super::Format;
use crate::error::{Error, IoContext, Result};

/// The family every chart asks for; it resolves to the embedded `DejaVuSans.ttf`, so
/// rendering needs no system fonts. SVG viewers substitute their own sans-serif.
pub(super) const FONT: &str = "sans-serif";

const DEJAVU_SANS: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// Okabe–Ito colours, which stay distinguishable under the common colour-vision deficiencies.
/// Their yellow is left out: it is nearly invisible on white.
pub(super) const PALETTE: [RGBColor; 7] = [
    RGBColor(0, 114, 178),   // blue
    RGBColor(213, 94, 0),    // vermillion
    RGBColor(0, 158, 115),   // bluish green
    RGBColor(230, 159, 0),   // orange
    RGBColor(204, 121, 167), // reddish purple
    RGBColor(86, 180, 233),  // sky blue
    RGBColor(0, 0, 0),       // black
];

/// A picture of a known size that can be drawn on any plotters backend.
pub(super) trait Chart {
    fn size(&self) -> (u32, u32);
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>>;
}

/// Registers the embedded font once per process. Charts measure text to lay themselves out,
/// so this must run before `Chart::size`.
pub(super) fn register_fonts() -> Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        // Bold falls back to the regular face: one embedded file keeps the binary small.
        [FontStyle::Normal, FontStyle::Bold]
            .into_iter()
            .all(|style| register_font(FONT, style, DEJAVU_SANS).is_ok())
    });
    if ok {
        Ok(())
    } else {
        Err(Error::data("assets/fonts/DejaVuSans.ttf", "embedded font is not a valid font"))
    }
}

/// Draws `chart` into `path`, as PNG or SVG by its extension.
pub(super) fn render(path: &Path, chart: &impl Chart) -> Result<()> {
    let format = Format::from_path(path)?;
    register_fonts()?;
    let failed = |e: &dyn std::fmt::Display| Error::data(path, format!("cannot draw plot: {e}"));
    let size = chart.size();
    match format {
        Format::Png => {
            let root = BitMapBackend::new(path, size).into_drawing_area();
            chart.draw(&root).map_err(|e| failed(&e))?;
            root.present().map_err(|e| failed(&e))
        }
        Format::Svg => {
            // Drawn into memory so that a write error names the file like every other I/O error.
            let mut svg = String::new();
            {
                let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
                chart.draw(&root).map_err(|e| failed(&e))?;
                root.present().map_err(|e| failed(&e))?;
            }
            std::fs::write(path, svg).at(path)
        }
    }
}

/// Width and height of `text` in pixels at `size`; a rough guess if the font cannot say.
pub(super) fn text_size(text: &str, size: f64) -> (i32, i32) {
    let (w, h) = (FONT, size)
        .into_font()
        .box_size(text)
        .unwrap_or(((text.chars().count() as f64 * size * 0.6) as u32, size as u32));
    (i32::try_from(w).unwrap_or(i32::MAX), i32::try_from(h).unwrap_or(i32::MAX))
}

/// Renders `chart` into an RGB buffer, so tests can look at the pixels.
#[cfg(test)]
pub(super) fn render_rgb(chart: &impl Chart) -> Vec<u8> {
    register_fonts().expect("font");
    let (w, h) = chart.size();
    let mut buf = vec![0u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        chart.draw(&root).expect("draw");
        root.present().expect("present");
    }
    buf
}

/// Whether an RGB buffer has a pixel of exactly `colour`.
#[cfg(test)]
pub(super) fn has_colour(rgb: &[u8], colour: RGBColor) -> bool {
    rgb.chunks_exact(3).any(|p| p == [colour.0, colour.1, colour.2])
}

/// Width and height from a PNG file's IHDR chunk, after checking the PNG signature.
#[cfg(test)]
pub(super) fn png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).expect("read png");
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{} is not a PNG", path.display());
    assert_eq!(&bytes[12..16], b"IHDR");
    let be = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    (be(16), be(20))
}

/// The contents of an SVG's `<text>` elements, trimmed (plotters puts them on their own line).
#[cfg(test)]
pub(super) fn svg_texts(svg: &str) -> Vec<String> {
    svg.split("<text")
        .skip(1)
        .filter_map(|t| Some(t.split_once('>')?.1.split_once("</text>")?.0.trim().to_owned()))
        .collect()
}
