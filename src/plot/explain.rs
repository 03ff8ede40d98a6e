//! The explanation views as pictures: a prediction's token attributions (with attention
//! rollout), its attention maps (every layer × head small, one large), the sentence vectors
//! before and after fine-tuning, and the masking inspector's batch.

use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use super::canvas::{Chart, PALETTE, render, text_size};
use super::confusion::{blues, luminance, text};
use crate::error::{IoContext, Result};
use crate::explain::Explanation;
use crate::explain::masking::{Fate, MaskingSample};
use crate::explain::representations::{Representations, Scatter};

/// What an explanation view exports.
#[derive(Debug, Clone, PartialEq)]
pub enum ExplainView {
    Attributions(Explanation),
    Attention { explanation: Explanation, layer: usize, head: usize },
    Representations(Representations),
    Masking(MaskingSample),
}

impl ExplainView {
    fn name(&self) -> &'static str {
        match self {
            Self::Attributions(_) => "attributions",
            Self::Attention { .. } => "attention",
            Self::Representations(_) => "representations",
            Self::Masking(_) => "masking",
        }
    }
}

/// Writes `view` as `<out>/<run_id>-<view>.png` (`<view>.png` without a run; a number added
/// rather than overwrite an earlier export) and returns the file.
pub fn export_view(view: &ExplainView, run_id: &str, out: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(out).at(out)?;
    let stem = if run_id.is_empty() { view.name().to_owned() } else { format!("{run_id}-{}", view.name()) };
    let path = crate::runs::free_path(out, &stem, "png");
    match view {
        ExplainView::Attributions(e) => render(&path, &Tokens::attributions(e, run_id))?,
        ExplainView::Attention { explanation, layer, head } => {
            render(&path, &AttentionChart { e: explanation, layer: *layer, head: *head, run_id })?;
        }
        ExplainView::Representations(r) => render(&path, &ScatterPair { r, run_id })?,
        ExplainView::Masking(m) => render(&path, &Tokens::masking(m))?,
    }
    Ok(path)
}

const PAD: i32 = 24;
const TITLE: f64 = 24.0;
const BODY: f64 = 18.0;
const SMALL: f64 = 14.0;
const WIDTH: i32 = 1200;
const GREY: RGBColor = RGBColor(120, 120, 120);
const RULE: RGBColor = RGBColor(200, 200, 200);

/// A paragraph of tokens, each in a box of its own colour with a note under it, wrapped to the
/// picture's width, under a title and lines of explanation.
struct Tokens {
    title: String,
    lines: Vec<String>,
    /// Rows of (token, fill, note); a new row starts a new sentence.
    rows: Vec<Vec<(String, RGBColor, String)>>,
    legend: Vec<(String, RGBColor)>,
}

impl Tokens {
    fn attributions(e: &Explanation, run_id: &str) -> Self {
        let a = &e.attribution;
        let largest = a.per_token.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-12);
        let from = a.target.token.unwrap_or(0);
        let rollout = e.rollout_row();
        let tokens = e
            .tokens
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let share = a.per_token.get(i).copied().unwrap_or(0.0);
                let flow = rollout.get(i).copied().unwrap_or(0.0);
                (t.clone(), diverging(share / largest), format!("{share:+.3}  ·  {flow:.2}"))
            })
            .collect();
        let target = e.target_name();
        Self {
            title: format!("{run_id}: why \"{target}\""),
            lines: vec![
                format!("text: {}", e.text),
                format!("prediction: {}", e.prediction_line()),
                format!(
                    "integrated gradients ({} steps, {}): the tokens' shares add up to {:+.3}; \
                     f(text) − f(baseline) = {:.3} − {:.3} = {:+.3}",
                    a.steps,
                    a.baseline.describe(),
                    a.total(),
                    a.at_input,
                    a.at_baseline,
                    a.at_input - a.at_baseline
                ),
                format!(
                    "under each token: its share, then its attention rollout to {} (how much of that \
                     token's final vector flows from it)",
                    e.tokens.get(from).map_or("[CLS]", String::as_str)
                ),
            ],
            rows: vec![tokens],
            legend: vec![
                (format!("raises \"{target}\""), diverging(1.0)),
                (format!("lowers \"{target}\""), diverging(-1.0)),
            ],
        }
    }

    fn masking(m: &MaskingSample) -> Self {
        let c = m.counts;
        let share = |n: usize, of: usize| if of == 0 { 0.0 } else { n as f64 / of as f64 };
        let rows = m
            .sequences
            .iter()
            .take(8)
            .map(|seq| {
                seq.iter()
                    .map(|t| match &t.fate {
                        Fate::Masked => ("[MASK]".to_owned(), MASKED, t.token.clone()),
                        Fate::Random(shown) => (shown.clone(), RANDOM, t.token.clone()),
                        Fate::Kept => (t.token.clone(), KEPT, "kept".to_owned()),
                        Fate::Special | Fate::Unselected => (t.token.clone(), WHITE, String::new()),
                    })
                    .collect()
            })
            .collect();
        Self {
            title: format!(
                "masking inspector: the first batch ({} of its {} sequences shown), ratio {}, split {:.0}/{:.0}/{:.0}",
                m.sequences.len().min(8),
                m.sequences.len(),
                m.ratio,
                m.split.mask * 100.0,
                m.split.random * 100.0,
                (1.0 - m.split.mask - m.split.random) * 100.0
            ),
            lines: vec![
                format!(
                    "selected {} of {} ordinary tokens ({:.1} %, configured {:.1} %){}",
                    c.selected(),
                    c.eligible,
                    100.0 * share(c.selected(), c.eligible),
                    100.0 * m.ratio,
                    if m.whole_word { ", whole words" } else { "" }
                ),
                format!(
                    "of those: [MASK] {} ({:.0} %), random {} ({:.0} %), kept {} ({:.0} %); under each: the token to guess",
                    c.masked,
                    100.0 * share(c.masked, c.selected()),
                    c.random,
                    100.0 * share(c.random, c.selected()),
                    c.kept,
                    100.0 * share(c.kept, c.selected())
                ),
            ],
            rows,
            legend: vec![
                ("shown as [MASK]".into(), MASKED),
                ("replaced by a random token".into(), RANDOM),
                ("kept as it is".into(), KEPT),
            ],
        }
    }

    /// Where each token's box goes: (row of boxes, x) per token, and the number of box rows.
    fn layout(&self) -> (Vec<Vec<(i32, i32)>>, i32) {
        let mut line = 0;
        let mut placed = Vec::new();
        for row in &self.rows {
            let mut x = PAD;
            let mut at = Vec::new();
            for (token, _, note) in row {
                let w = box_width(token, note);
                if x + w > WIDTH - PAD && x > PAD {
                    line += 1;
                    x = PAD;
                }
                at.push((line, x));
                x += w + 6;
            }
            placed.push(at);
            line += 1;
        }
        (placed, line)
    }

    fn header_height(&self) -> i32 {
        PAD + text_size("Ag", TITLE).1 + 16 + px(self.lines.len()) * (text_size("Ag", BODY).1 + 8) + 16
    }
}

/// A count as pixels of a layout (counts here are tokens, layers, heads: far below `i32::MAX`).
fn px(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

const MASKED: RGBColor = RGBColor(230, 159, 0);
const RANDOM: RGBColor = RGBColor(204, 121, 167);
const KEPT: RGBColor = RGBColor(86, 180, 233);
const BOX_HEIGHT: i32 = 56;

fn box_width(token: &str, note: &str) -> i32 {
    text_size(token, BODY).0.max(text_size(note, SMALL).0) + 16
}

impl Chart for Tokens {
    fn size(&self) -> (u32, u32) {
        let (_, lines) = self.layout();
        let h = self.header_height() + lines * (BOX_HEIGHT + 10) + 40 + PAD;
        (WIDTH as u32, h.unsigned_abs())
    }

    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        root.fill(&WHITE)?;
        let mut y = PAD;
        root.draw_text(&self.title, &text(TITLE, BLACK, HPos::Left, VPos::Top), (PAD, y))?;
        y += text_size("Ag", TITLE).1 + 16;
        for line in &self.lines {
            root.draw_text(
                &fit(line, WIDTH - 2 * PAD, BODY),
                &text(BODY, BLACK, HPos::Left, VPos::Top),
                (PAD, y),
            )?;
            y += text_size("Ag", BODY).1 + 8;
        }
        let top = self.header_height();
        let (placed, lines) = self.layout();
        for (row, at) in self.rows.iter().zip(&placed) {
            for ((token, fill, note), &(line, x)) in row.iter().zip(at) {
                let y = top + line * (BOX_HEIGHT + 10);
                let w = box_width(token, note);
                root.draw(&Rectangle::new([(x, y), (x + w, y + 30)], fill.filled()))?;
                root.draw(&Rectangle::new([(x, y), (x + w, y + 30)], RULE))?;
                let ink = if luminance(*fill) < 0.45 { WHITE } else { BLACK };
                root.draw_text(token, &text(BODY, ink, HPos::Center, VPos::Center), (x + w / 2, y + 15))?;
                root.draw_text(note, &text(SMALL, GREY, HPos::Center, VPos::Top), (x + w / 2, y + 34))?;
            }
        }
        let mut x = PAD;
        let y = top + lines * (BOX_HEIGHT + 10) + 10;
        for (name, colour) in &self.legend {
            root.draw(&Rectangle::new([(x, y), (x + 22, y + 22)], colour.filled()))?;
            root.draw_text(name, &text(BODY, BLACK, HPos::Left, VPos::Center), (x + 30, y + 11))?;
            x += 30 + text_size(name, BODY).0 + 30;
        }
        Ok(())
    }
}

/// Blue for a positive share, vermillion for a negative one, white at 0; `v` in −1..=1.
fn diverging(v: f64) -> RGBColor {
    let (end, t) = if v >= 0.0 { (PALETTE[0], v.min(1.0)) } else { (PALETTE[1], (-v).min(1.0)) };
    let mix = |c: u8| (255.0 + (f64::from(c) - 255.0) * t).round() as u8;
    RGBColor(mix(end.0), mix(end.1), mix(end.2))
}

/// Cuts `line` to fit `width` pixels at `size`.
fn fit(line: &str, width: i32, size: f64) -> String {
    if text_size(line, size).0 <= width {
        return line.to_owned();
    }
    let mut chars: Vec<char> = line.chars().collect();
    while !chars.is_empty() && text_size(&(chars.iter().collect::<String>() + "…"), size).0 > width {
        chars.pop();
    }
    chars.into_iter().collect::<String>() + "…"
}

/// Every layer × head map small, and the chosen one large with its tokens.
struct AttentionChart<'a> {
    e: &'a Explanation,
    layer: usize,
    head: usize,
    run_id: &'a str,
}

const SMALL_MAP: i32 = 96;

impl AttentionChart<'_> {
    fn big(&self) -> (i32, i32) {
        let n = px(self.e.attention.len.max(1));
        let cell = (560 / n).clamp(6, 40);
        let labels = self.e.tokens.iter().map(|t| text_size(t, SMALL).0).max().unwrap_or(0) + 8;
        (cell, labels)
    }
}

impl Chart for AttentionChart<'_> {
    fn size(&self) -> (u32, u32) {
        let a = &self.e.attention;
        let grid_w = px(a.heads) * (SMALL_MAP + 10) + 60;
        let (cell, labels) = self.big();
        let big = labels + cell * px(a.len);
        let w = (PAD * 3 + grid_w + big).max(WIDTH);
        let grid_h = px(a.layers) * (SMALL_MAP + 24);
        let h = PAD * 2 + 80 + grid_h.max(big + 30);
        (w.unsigned_abs(), h.unsigned_abs())
    }

    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        let a = &self.e.attention;
        root.fill(&WHITE)?;
        let title = format!("{}: attention of \"{}\"", self.run_id, self.e.text);
        root.draw_text(
            &fit(&title, WIDTH - 2 * PAD, TITLE),
            &text(TITLE, BLACK, HPos::Left, VPos::Top),
            (PAD, PAD),
        )?;
        let note = "each map: rows are query tokens, columns the tokens they attend to; darkest = the map's largest probability";
        root.draw_text(note, &text(SMALL, GREY, HPos::Left, VPos::Top), (PAD, PAD + 36))?;
        let top = PAD + 80;
        for layer in 0..a.layers {
            let y = top + px(layer) * (SMALL_MAP + 24);
            root.draw_text(
                &format!("layer {}", layer + 1),
                &text(SMALL, BLACK, HPos::Left, VPos::Center),
                (PAD, y + SMALL_MAP / 2),
            )?;
            for head in 0..a.heads {
                let x = PAD + 60 + px(head) * (SMALL_MAP + 10);
                draw_map(root, a.map(layer, head), a.len, (x, y), SMALL_MAP)?;
                if layer == self.layer && head == self.head {
                    root.draw(&Rectangle::new(
                        [(x - 3, y - 3), (x + SMALL_MAP + 3, y + SMALL_MAP + 3)],
                        PALETTE[1].stroke_width(2),
                    ))?;
                }
                if layer == 0 {
                    root.draw_text(
                        &format!("head {}", head + 1),
                        &text(SMALL, GREY, HPos::Center, VPos::Bottom),
                        (x + SMALL_MAP / 2, y - 4),
                    )?;
                }
            }
        }
        let (cell, labels) = self.big();
        let x0 = PAD * 2 + 60 + px(a.heads) * (SMALL_MAP + 10) + labels;
        let y0 = top + labels;
        let size = cell * px(a.len);
        root.draw_text(
            &format!("layer {}, head {}", self.layer + 1, self.head + 1),
            &text(BODY, BLACK, HPos::Left, VPos::Bottom),
            (x0, top - 8),
        )?;
        if self.layer < a.layers && self.head < a.heads {
            draw_map(root, a.map(self.layer, self.head), a.len, (x0, y0), size)?;
        }
        for (i, token) in self.e.tokens.iter().enumerate() {
            let at = px(i) * cell + cell / 2;
            root.draw_text(token, &text(SMALL, BLACK, HPos::Right, VPos::Center), (x0 - 4, y0 + at))?;
            let vertical = text(SMALL, BLACK, HPos::Left, VPos::Center).transform(FontTransform::Rotate270);
            root.draw_text(token, &vertical, (x0 + at, y0 - 4))?;
        }
        Ok(())
    }
}

fn draw_map<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    map: &[f32],
    len: usize,
    (x, y): (i32, i32),
    size: i32,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let n = px(len.max(1));
    // Shaded against the map's own largest probability: a row sums to 1 over all its tokens,
    // so on a long input even a head's favourite token gets a small share.
    let top = f64::from(map.iter().copied().fold(0.0f32, f32::max)).max(1e-12);
    for (i, &p) in map.iter().enumerate() {
        let (q, k) = (px(i / len), px(i % len));
        let (x1, y1) = (x + k * size / n, y + q * size / n);
        let (x2, y2) = (x + (k + 1) * size / n, y + (q + 1) * size / n);
        root.draw(&Rectangle::new(
            [(x1, y1), (x2.max(x1 + 1), y2.max(y1 + 1))],
            blues(f64::from(p) / top).filled(),
        ))?;
    }
    root.draw(&Rectangle::new([(x, y), (x + size, y + size)], RULE))
}

/// The two scatters side by side, one colour per group.
struct ScatterPair<'a> {
    r: &'a Representations,
    run_id: &'a str,
}

const PANEL: i32 = 520;

impl Chart for ScatterPair<'_> {
    fn size(&self) -> (u32, u32) {
        let legend = px(self.r.groups.len()) * 26;
        ((PAD * 3 + PANEL * 2).unsigned_abs(), (PAD * 2 + 110 + PANEL + 40 + legend).unsigned_abs())
    }

    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        let r = self.r;
        root.fill(&WHITE)?;
        let title = format!("{}: [CLS] vectors before and after fine-tuning", self.run_id);
        root.draw_text(
            &fit(&title, 2 * PANEL + PAD, TITLE),
            &text(TITLE, BLACK, HPos::Left, VPos::Top),
            (PAD, PAD),
        )?;
        let subtitle = format!(
            "{} examples of the {} split; each side projected to its own first two principal axes (PCA)",
            r.group_of.len(),
            r.split
        );
        root.draw_text(&subtitle, &text(SMALL, GREY, HPos::Left, VPos::Top), (PAD, PAD + 34))?;
        let sides =
            [(&r.before, format!("before: {}", r.before_name)), (&r.after, "after fine-tuning".to_owned())];
        for (i, (scatter, name)) in sides.iter().enumerate() {
            let x = PAD + px(i) * (PANEL + PAD);
            let y = PAD + 110;
            let figures = format!(
                "classes apart {:.0} % · axes {:.0} % + {:.0} % of the variance",
                100.0 * scatter.separation,
                100.0 * scatter.explained[0],
                100.0 * scatter.explained[1]
            );
            root.draw_text(
                &fit(name, PANEL, BODY),
                &text(BODY, BLACK, HPos::Left, VPos::Bottom),
                (x, y - 26),
            )?;
            root.draw_text(&figures, &text(SMALL, BLACK, HPos::Left, VPos::Bottom), (x, y - 6))?;
            draw_scatter(root, scatter, &r.group_of, (x, y))?;
        }
        let mut y = PAD + 110 + PANEL + 24;
        for (g, name) in r.groups.iter().enumerate() {
            let colour = PALETTE[g % PALETTE.len()];
            root.draw(&Circle::new((PAD + 8, y + 8), 6, colour.filled()))?;
            root.draw_text(name, &text(BODY, BLACK, HPos::Left, VPos::Center), (PAD + 24, y + 8))?;
            y += 26;
        }
        Ok(())
    }
}

fn draw_scatter<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    s: &Scatter,
    group_of: &[usize],
    (x, y): (i32, i32),
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.draw(&Rectangle::new([(x, y), (x + PANEL, y + PANEL)], RULE))?;
    let span = |axis: usize| {
        let (lo, hi) = s
            .points
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| (lo.min(p[axis]), hi.max(p[axis])));
        let pad = ((hi - lo) * 0.05).max(1e-9);
        (lo - pad, hi + pad)
    };
    let ((x_lo, x_hi), (y_lo, y_hi)) = (span(0), span(1));
    for (p, &g) in s.points.iter().zip(group_of) {
        let px = x + ((p[0] - x_lo) / (x_hi - x_lo) * f64::from(PANEL)) as i32;
        let py = y + PANEL - ((p[1] - y_lo) / (y_hi - y_lo) * f64::from(PANEL)) as i32;
        root.draw(&Circle::new((px, py), 4, PALETTE[g % PALETTE.len()].mix(0.75).filled()))?;
    }
    Ok(())
}
