//! Bounded chart history. A run of 100k steps must not slow the UI, so a series keeps the whole
//! run at a bounded resolution (neighbouring points are averaged in pairs whenever the coarse
//! history fills up) plus the most recent points at full resolution.

use std::collections::VecDeque;

/// Points kept for the whole run; when full, pairs merge and the bucket width doubles.
const COARSE_CAP: usize = 512;
/// Raw points kept for the most recent stretch.
const RECENT_CAP: usize = 256;

#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    coarse: Vec<(f64, f64)>,
    /// Raw points per coarse point.
    bucket: usize,
    /// Sum of x, sum of y and count of the bucket being filled.
    pending: (f64, f64, usize),
    recent: VecDeque<(f64, f64)>,
    len: usize,
}

impl Default for Series {
    fn default() -> Self {
        Self { coarse: Vec::new(), bucket: 1, pending: (0.0, 0.0, 0), recent: VecDeque::new(), len: 0 }
    }
}

impl Series {
    /// Adds a point; non-finite values are dropped (they would wreck the axis bounds).
    pub fn push(&mut self, x: f64, y: f64) {
        if !(x.is_finite() && y.is_finite()) {
            return;
        }
        self.len += 1;
        if self.recent.len() == RECENT_CAP {
            self.recent.pop_front();
        }
        self.recent.push_back((x, y));
        let p = &mut self.pending;
        *p = (p.0 + x, p.1 + y, p.2 + 1);
        if p.2 == self.bucket {
            self.coarse.push((p.0 / p.2 as f64, p.1 / p.2 as f64));
            self.pending = (0.0, 0.0, 0);
            if self.coarse.len() == COARSE_CAP {
                self.halve();
            }
        }
    }

    fn halve(&mut self) {
        self.coarse = self
            .coarse
            .chunks(2)
            .map(|pair| {
                let n = pair.len() as f64;
                (pair.iter().map(|p| p.0).sum::<f64>() / n, pair.iter().map(|p| p.1).sum::<f64>() / n)
            })
            .collect();
        self.bucket *= 2;
    }

    /// Number of points pushed (not kept).
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// What to draw: the averaged history up to where the recent window starts, then the
    /// recent points as they are. Bounded by `COARSE_CAP + RECENT_CAP` points.
    pub fn points(&self) -> Vec<(f64, f64)> {
        let recent_start = self.recent.front().map_or(f64::INFINITY, |p| p.0);
        let mut out: Vec<(f64, f64)> = self.coarse.iter().copied().filter(|p| p.0 < recent_start).collect();
        out.extend(self.recent.iter().copied());
        out
    }
}

/// The smallest and largest y of some points, widened a little so that a flat line is visible.
pub fn y_bounds<'a>(points: impl IntoIterator<Item = &'a (f64, f64)>) -> [f64; 2] {
    let (lo, hi) =
        points.into_iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| (lo.min(p.1), hi.max(p.1)));
    if !lo.is_finite() {
        return [0.0, 1.0];
    }
    let pad = ((hi - lo) * 0.05).max(hi.abs().max(1e-3) * 0.01);
    [lo - pad, hi + pad]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_run_stays_bounded_and_keeps_both_ends() {
        let mut s = Series::default();
        for i in 0..100_000 {
            s.push(i as f64, (i % 10) as f64);
        }
        let pts = s.points();
        assert!(pts.len() <= COARSE_CAP + RECENT_CAP, "{}", pts.len());
        assert_eq!(s.len(), 100_000);
        assert!(pts[0].0 < 200.0, "the start of the run is still drawn: {:?}", pts[0]);
        assert_eq!(*pts.last().expect("points"), (99_999.0, 9.0), "the latest point is exact");
        assert!(pts.windows(2).all(|w| w[0].0 < w[1].0), "x increases");
        // Averaging keeps the level: the pattern 0..9 averages to 4.5 over whole buckets.
        let coarse_mean = pts[..100].iter().map(|p| p.1).sum::<f64>() / 100.0;
        assert!((coarse_mean - 4.5).abs() < 0.6, "{coarse_mean}");
    }

    #[test]
    fn short_series_are_exact_and_non_finite_values_dropped() {
        let mut s = Series::default();
        s.push(1.0, 0.5);
        s.push(2.0, f64::NAN);
        s.push(3.0, 0.25);
        assert_eq!(s.points(), vec![(1.0, 0.5), (3.0, 0.25)]);
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn bounds_pad_flat_lines() {
        let b = y_bounds(&[(0.0, 2.0), (1.0, 2.0)]);
        assert!(b[0] < 2.0 && b[1] > 2.0, "{b:?}");
        assert_eq!(y_bounds(&[]), [0.0, 1.0]);
    }
}
