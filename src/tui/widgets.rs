//! Widgets the screens share: a line chart of named curves, and the confusion-matrix heatmap.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::Marker;
use ratatui::text::Span;
use ratatui::widgets::{Axis, Block, Chart, Dataset, GraphType, LegendPosition, Widget};

use super::series::y_bounds;
use super::theme::Theme;

/// One curve of a chart.
pub struct Curve<'a> {
    pub name: String,
    pub points: &'a [(f64, f64)],
    pub color: Color,
}

/// Draws curves with shared axes. `y_range` fixes the y axis (e.g. [0, 1] for accuracy);
/// otherwise it fits the data.
pub fn render_chart(
    area: Rect,
    buf: &mut Buffer,
    block: Block<'_>,
    curves: &[Curve<'_>],
    x_label: &str,
    y_range: Option<[f64; 2]>,
    theme: &Theme,
) {
    draw_curves(area, buf, block, curves, (x_label, y_range, true), usize::MAX, theme);
}

/// A scatter plot of predicted (y) against gold (x) values: the first curve is drawn as a
/// line (the diagonal), the others as points.
pub fn render_scatter(area: Rect, buf: &mut Buffer, block: Block<'_>, curves: &[Curve<'_>], theme: &Theme) {
    draw_curves(area, buf, block, curves, ("gold", None, true), 1, theme);
}

/// A reliability diagram: curves (the diagonal of a calibrated model, the model's bins) as
/// lines over probability said (x) against share right (y), both from 0 to 1. No legend: it
/// would sit on the curve's top row (share right 1.0); the title names the curves.
pub fn render_reliability(
    area: Rect,
    buf: &mut Buffer,
    block: Block<'_>,
    curves: &[Curve<'_>],
    theme: &Theme,
) {
    // A curve of one point is no line: it is drawn as a point.
    let points_from = if curves.iter().skip(1).any(|c| c.points.len() < 2) { 1 } else { usize::MAX };
    draw_curves(area, buf, block, curves, ("probability said", Some([0.0, 1.0]), false), points_from, theme);
}

/// Curves from index `points_from` on are drawn as points, the others as lines.
fn draw_curves(
    area: Rect,
    buf: &mut Buffer,
    block: Block<'_>,
    curves: &[Curve<'_>],
    (x_label, y_range, legend): (&str, Option<[f64; 2]>, bool),
    points_from: usize,
    theme: &Theme,
) {
    let all = curves.iter().flat_map(|c| c.points.iter());
    let (x_lo, x_hi) =
        all.clone().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| (lo.min(p.0), hi.max(p.0)));
    let x = if x_lo.is_finite() && x_hi > x_lo { [x_lo, x_hi] } else { [0.0, x_hi.max(1.0)] };
    let y = y_range.unwrap_or_else(|| y_bounds(all));
    // Whole numbers on wide axes (steps), two decimals on narrow ones (losses, scores).
    let fmt_for = |range: [f64; 2]| {
        move |v: f64| {
            if range[1] - range[0] >= 10.0 || v == 0.0 { format!("{v:.0}") } else { format!("{v:.2}") }
        }
    };
    let (fmt_x, fmt_y) = (fmt_for(x), fmt_for(y));
    let datasets: Vec<Dataset<'_>> = curves
        .iter()
        .enumerate()
        .map(|(i, c)| {
            Dataset::default()
                .name(c.name.clone())
                .marker(Marker::Braille)
                .graph_type(if i >= points_from { GraphType::Scatter } else { GraphType::Line })
                .style(Style::new().fg(c.color))
                .data(c.points)
        })
        .collect();
    let axis_style = theme.dimmed();
    Chart::new(datasets)
        .block(block)
        .style(theme.base)
        .legend_position(legend.then_some(LegendPosition::TopRight))
        .hidden_legend_constraints((
            ratatui::layout::Constraint::Percentage(60),
            ratatui::layout::Constraint::Percentage(60),
        ))
        .x_axis(
            Axis::default()
                .title(Span::styled(x_label.to_owned(), axis_style))
                .bounds(x)
                .labels([fmt_x(x[0]), fmt_x(f64::midpoint(x[0], x[1])), fmt_x(x[1])])
                .style(axis_style),
        )
        .y_axis(
            Axis::default()
                .bounds(y)
                .labels([fmt_y(y[0]), fmt_y(f64::midpoint(y[0], y[1])), fmt_y(y[1])])
                .style(axis_style),
        )
        .render(area, buf);
}

/// The confusion matrix as a grid of shaded cells with counts (or row percentages).
/// Shading is by row share, so a rare class's mistakes stand out as much as a common one's.
pub struct Heatmap<'a> {
    pub labels: &'a [String],
    /// `matrix[gold][predicted]`.
    pub matrix: &'a [Vec<usize>],
    pub normalised: bool,
    pub selected: Option<(usize, usize)>,
    pub theme: &'a Theme,
}

impl Heatmap<'_> {
    /// Width of the gold-label column on the left.
    fn label_width(&self) -> u16 {
        self.labels.iter().map(|l| l.chars().count()).max().unwrap_or(1).clamp(3, 10) as u16
    }

    /// Width of one cell: enough for the numbers, shrunk to fit.
    fn cell_width(&self, area: Rect) -> u16 {
        let k = self.labels.len().max(1) as u16;
        let widest = self.matrix.iter().flatten().max().map_or(1, |m| m.to_string().len()) as u16;
        let longest = self.labels.iter().map(|l| l.chars().count()).max().unwrap_or(1) as u16;
        let want = if self.normalised { 5 } else { widest + 2 }.max(longest.min(8) + 1).max(4);
        let fits = area.width.saturating_sub(self.label_width() + 1) / k;
        want.min(fits).max(2)
    }
}

fn truncate(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        s.to_owned()
    } else {
        s.chars().take(width.saturating_sub(1)).chain(['…']).collect()
    }
}

impl Widget for Heatmap<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let k = self.labels.len();
        if k == 0 || area.height < 2 {
            return;
        }
        let lw = self.label_width();
        let cw = self.cell_width(area);
        let dim = self.theme.dimmed();
        // Where column `p` starts, if it fits (computed wide: many classes must not overflow).
        let column_x = |p: usize| {
            let x = u32::from(area.x) + u32::from(lw) + 1 + p as u32 * u32::from(cw);
            (x + u32::from(cw) <= u32::from(area.right())).then_some(x as u16)
        };
        // Header: predicted labels, each cut to its cell with a space between neighbours.
        for (p, label) in self.labels.iter().enumerate() {
            let Some(x) = column_x(p) else { break };
            let text =
                format!("{:^w$}", truncate(label, cw.saturating_sub(1).max(1) as usize), w = cw as usize);
            buf.set_stringn(x, area.y, text, cw as usize, dim);
        }
        for (g, row) in self.matrix.iter().enumerate().take(area.height as usize - 1) {
            let y = area.y + 1 + g as u16;
            let label = self.labels.get(g).map_or("?", String::as_str);
            let text = format!("{:>w$}", truncate(label, lw as usize), w = lw as usize);
            buf.set_stringn(area.x, y, text, lw as usize, dim);
            let total: usize = row.iter().sum();
            for (p, &count) in row.iter().enumerate() {
                let Some(x) = column_x(p) else { break };
                let share = if total == 0 { 0.0 } else { count as f64 / total as f64 };
                let (bg, fg) = self.theme.heat_cell(share);
                let text = if self.normalised { format!("{:.0}%", share * 100.0) } else { count.to_string() };
                let mut style = Style::new().bg(bg).fg(fg);
                if g == p {
                    style = style.add_modifier(Modifier::BOLD);
                }
                if self.selected == Some((g, p)) {
                    style = style.add_modifier(Modifier::REVERSED | Modifier::UNDERLINED);
                }
                buf.set_stringn(
                    x,
                    y,
                    format!("{:^w$}", truncate(&text, cw as usize), w = cw as usize),
                    cw as usize,
                    style,
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::theme::ThemeKind;

    fn row_text(buf: &Buffer, y: u16) -> String {
        (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect()
    }

    #[test]
    fn heatmap_writes_counts_and_shades_by_row_share() {
        let theme = ThemeKind::Dark.theme();
        let labels = vec!["neg".to_owned(), "pos".to_owned()];
        let matrix = vec![vec![9, 1], vec![3, 3]];
        let area = Rect::new(0, 0, 20, 3);
        let mut buf = Buffer::empty(area);
        Heatmap {
            labels: &labels,
            matrix: &matrix,
            normalised: false,
            selected: Some((1, 0)),
            theme: &theme,
        }
        .render(area, &mut buf);
        assert!(
            row_text(&buf, 0).contains("neg") && row_text(&buf, 0).contains("pos"),
            "{:?}",
            row_text(&buf, 0)
        );
        let first = row_text(&buf, 1);
        assert!(first.starts_with("neg") && first.contains('9') && first.contains('1'), "{first:?}");
        // 9 of 10 is darker/brighter than 1 of 10: the cells differ in colour.
        let cell = |x: u16, y: u16| buf[(x, y)].bg;
        let x9 = first.find('9').expect("9") as u16;
        let x1 = first.find('1').expect("1") as u16;
        assert_ne!(cell(x9, 1), cell(x1, 1));
        assert_eq!(cell(x9, 1), theme.heat_cell(0.9).0);
        // The selected cell is marked.
        let second = row_text(&buf, 2);
        let x3 = second.find('3').expect("3") as u16;
        assert!(buf[(x3, 2)].modifier.contains(Modifier::REVERSED));
    }

    #[test]
    fn heatmap_shows_row_percentages_and_survives_a_narrow_area() {
        let theme = ThemeKind::Light.theme();
        let labels: Vec<String> = (0..6).map(|i| format!("class-{i}")).collect();
        let matrix: Vec<Vec<usize>> =
            (0..6).map(|g| (0..6).map(|p| usize::from(g == p) * 4 + 1).collect()).collect();
        let area = Rect::new(0, 0, 60, 7);
        let mut buf = Buffer::empty(area);
        Heatmap { labels: &labels, matrix: &matrix, normalised: true, selected: None, theme: &theme }
            .render(area, &mut buf);
        assert!(
            row_text(&buf, 1).contains("50%") && row_text(&buf, 1).contains("10%"),
            "{:?}",
            row_text(&buf, 1)
        );
        let tiny = Rect::new(0, 0, 12, 3);
        let mut small = Buffer::empty(tiny);
        Heatmap { labels: &labels, matrix: &matrix, normalised: false, selected: None, theme: &theme }
            .render(tiny, &mut small);
    }
}
