//! Colours. Dark and light themes keep the terminal's own background and only pick accents that
//! read on it; the high-contrast theme (for projectors) paints its own black background.

use ratatui::style::{Color, Modifier, Style};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ThemeKind {
    #[default]
    Dark,
    Light,
    /// White on black with bold yellow accents: readable on a washed-out projector.
    Contrast,
}

impl ThemeKind {
    pub fn next(self) -> Self {
        match self {
            Self::Dark => Self::Light,
            Self::Light => Self::Contrast,
            Self::Contrast => Self::Dark,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Dark => "dark",
            Self::Light => "light",
            Self::Contrast => "high contrast",
        }
    }

    pub fn theme(self) -> Theme {
        match self {
            Self::Dark => Theme {
                base: Style::new(),
                accent: Color::Cyan,
                dim: Color::DarkGray,
                good: Color::Green,
                bad: Color::Red,
                warn: Color::Yellow,
                highlight: Style::new().bg(Color::Blue).fg(Color::White),
                series: [
                    Color::Cyan,
                    Color::Yellow,
                    Color::Magenta,
                    Color::Green,
                    Color::LightRed,
                    Color::Blue,
                ],
                heat: (Color::Rgb(20, 40, 70), Color::Rgb(40, 160, 230)),
            },
            Self::Light => Theme {
                base: Style::new(),
                accent: Color::Blue,
                dim: Color::Gray,
                good: Color::Rgb(0, 120, 0),
                bad: Color::Rgb(180, 0, 0),
                warn: Color::Rgb(160, 90, 0),
                highlight: Style::new().bg(Color::Rgb(200, 220, 255)).fg(Color::Black),
                series: [
                    Color::Blue,
                    Color::Rgb(200, 90, 0),
                    Color::Magenta,
                    Color::Rgb(0, 130, 0),
                    Color::Red,
                    Color::Rgb(0, 120, 130),
                ],
                heat: (Color::Rgb(235, 242, 252), Color::Rgb(30, 90, 190)),
            },
            Self::Contrast => Theme {
                base: Style::new().bg(Color::Black).fg(Color::White),
                accent: Color::Yellow,
                dim: Color::White,
                good: Color::LightGreen,
                bad: Color::LightRed,
                warn: Color::Yellow,
                highlight: Style::new().bg(Color::Yellow).fg(Color::Black).add_modifier(Modifier::BOLD),
                series: [
                    Color::Yellow,
                    Color::LightCyan,
                    Color::LightMagenta,
                    Color::LightGreen,
                    Color::White,
                    Color::LightRed,
                ],
                heat: (Color::Rgb(0, 0, 0), Color::Rgb(255, 220, 0)),
            },
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Theme {
    /// The whole screen's style.
    pub base: Style,
    pub accent: Color,
    pub dim: Color,
    pub good: Color,
    pub bad: Color,
    pub warn: Color,
    /// The selected row or cell.
    pub highlight: Style,
    /// One colour per run or curve, in order.
    pub series: [Color; 6],
    /// Heatmap colours for 0 and for the largest value.
    pub heat: (Color, Color),
}

impl Theme {
    pub fn title(&self) -> Style {
        self.base.fg(self.accent).add_modifier(Modifier::BOLD)
    }

    pub fn dimmed(&self) -> Style {
        self.base.fg(self.dim)
    }

    pub fn series_color(&self, i: usize) -> Color {
        self.series[i % self.series.len()]
    }

    /// The heatmap colour of a value in [0, 1], and a text colour that reads on it.
    pub fn heat_cell(&self, v: f64) -> (Color, Color) {
        let (Color::Rgb(r0, g0, b0), Color::Rgb(r1, g1, b1)) = self.heat else {
            return (Color::Reset, Color::Reset);
        };
        let v = v.clamp(0.0, 1.0);
        let mix = |a: u8, b: u8| (f64::from(a) + (f64::from(b) - f64::from(a)) * v).round() as u8;
        let (r, g, b) = (mix(r0, r1), mix(g0, g1), mix(b0, b1));
        let luma = 0.299 * f64::from(r) + 0.587 * f64::from(g) + 0.114 * f64::from(b);
        (Color::Rgb(r, g, b), if luma > 140.0 { Color::Black } else { Color::White })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heat_text_stays_readable_at_both_ends() {
        for kind in [ThemeKind::Dark, ThemeKind::Light, ThemeKind::Contrast] {
            let t = kind.theme();
            let (bg0, fg0) = t.heat_cell(0.0);
            let (bg1, fg1) = t.heat_cell(1.0);
            assert_ne!(bg0, bg1, "{kind:?}");
            assert_ne!(fg0, Color::Reset);
            // Text colour is the opposite extreme of the cell's brightness.
            let luma = |c: Color| match c {
                Color::Rgb(r, g, b) => 0.299 * f64::from(r) + 0.587 * f64::from(g) + 0.114 * f64::from(b),
                _ => panic!("rgb"),
            };
            for (bg, fg) in [(bg0, fg0), (bg1, fg1)] {
                assert_eq!(fg == Color::Black, luma(bg) > 140.0, "{kind:?} {bg:?}");
            }
        }
        assert_eq!(ThemeKind::Dark.next().next().next(), ThemeKind::Dark);
    }
}
