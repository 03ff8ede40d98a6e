//! Principal component analysis to two dimensions, for the scatter of sentence vectors.
//!
//! Written here rather than taken from a crate: the only thing needed is the top two
//! eigenvectors of one `H × H` covariance (H ≤ 1024), and no linear-algebra crate is in the
//! dependency tree (nalgebra or linfa would add a second matrix library and minutes of build;
//! candle has no eigen-decomposition). Orthogonal iteration on two vectors converges to the
//! top-2 subspace; a 2 × 2 Rayleigh–Ritz step then picks the axes inside it.

/// A fitted projection to the first two principal axes.
#[derive(Debug, Clone, PartialEq)]
pub struct Pca {
    mean: Vec<f64>,
    axes: [Vec<f64>; 2],
    /// Share of the total variance along each axis.
    pub explained: [f64; 2],
}

const MAX_ITERATIONS: usize = 2000;

impl Pca {
    /// Fits on `rows` (all of one width; at least two rows).
    pub fn fit(rows: &[Vec<f32>]) -> Self {
        let h = rows.first().map_or(0, Vec::len);
        let n = rows.len().max(1) as f64;
        let mut mean = vec![0.0; h];
        for row in rows {
            for (m, &v) in mean.iter_mut().zip(row) {
                *m += f64::from(v) / n;
            }
        }
        let mut cov = vec![0.0; h * h];
        let mut centred = vec![0.0; h];
        for row in rows {
            for ((c, &v), m) in centred.iter_mut().zip(row).zip(&mean) {
                *c = f64::from(v) - m;
            }
            for i in 0..h {
                let ci = centred[i];
                if ci != 0.0 {
                    for (out, &cj) in cov[i * h..][..h].iter_mut().zip(&centred) {
                        *out += ci * cj;
                    }
                }
            }
        }
        let total: f64 = (0..h).map(|i| cov[i * h + i]).sum();
        let times = |v: &[f64]| -> Vec<f64> {
            (0..h).map(|i| cov[i * h..][..h].iter().zip(v).map(|(a, b)| a * b).sum()).collect()
        };
        // A fixed start, so that the same data gives the same picture.
        let mut q = [
            normalised((0..h).map(|i| 1.0 + (i % 7) as f64 / 7.0).collect()),
            (0..h).map(|i| if i % 2 == 0 { 1.0 } else { -1.0 } * (1.0 + (i % 5) as f64)).collect(),
        ];
        q[1] = orthogonal_to(&q[1], &q[0]);
        for _ in 0..MAX_ITERATIONS {
            let a = normalised(times(&q[0]));
            let b = orthogonal_to(&times(&q[1]), &a);
            let moved = 1.0 - dot(&a, &q[0]).abs().min(dot(&b, &q[1]).abs());
            q = [a, b];
            if moved < 1e-13 {
                break;
            }
        }
        // Rayleigh–Ritz: the symmetric 2 × 2 restriction of the covariance, diagonalised.
        let (c0, c1) = (times(&q[0]), times(&q[1]));
        let (t00, t01, t11) = (dot(&q[0], &c0), dot(&q[0], &c1), dot(&q[1], &c1));
        let angle = 0.5 * (2.0 * t01).atan2(t00 - t11);
        let (cos, sin) = (angle.cos(), angle.sin());
        let axis =
            |c: f64, s: f64| -> Vec<f64> { q[0].iter().zip(&q[1]).map(|(x, y)| c * x + s * y).collect() };
        let axes = [canonical_sign(axis(cos, sin)), canonical_sign(axis(-sin, cos))];
        let variance = |a: &[f64]| dot(a, &times(a));
        let share = |v: f64| if total > 0.0 { v / total } else { 0.0 };
        let explained = [share(variance(&axes[0])), share(variance(&axes[1]))];
        Self { mean, axes, explained }
    }

    /// A row's coordinates on the two axes.
    pub fn project(&self, row: &[f32]) -> [f64; 2] {
        let centred: Vec<f64> = row.iter().zip(&self.mean).map(|(&v, m)| f64::from(v) - m).collect();
        [dot(&centred, &self.axes[0]), dot(&centred, &self.axes[1])]
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn normalised(v: Vec<f64>) -> Vec<f64> {
    let norm = dot(&v, &v).sqrt();
    if norm > 0.0 { v.into_iter().map(|x| x / norm).collect() } else { v }
}

fn orthogonal_to(v: &[f64], unit: &[f64]) -> Vec<f64> {
    let along = dot(v, unit);
    normalised(v.iter().zip(unit).map(|(x, u)| x - along * u).collect())
}

/// An axis and its negation are the same axis: the one whose largest entry is positive.
fn canonical_sign(v: Vec<f64>) -> Vec<f64> {
    let largest = v.iter().copied().fold(0.0f64, |m, x| if x.abs() > m.abs() { x } else { m });
    if largest < 0.0 { v.into_iter().map(|x| -x).collect() } else { v }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_distr::{Distribution, Normal};

    use super::*;

    /// Points spread with standard deviations 5, 2 and 0.5 along three fixed orthonormal
    /// directions of a 6-D space, shifted by a mean.
    fn cloud() -> (Vec<Vec<f32>>, [Vec<f64>; 3]) {
        let s = 0.5f64.sqrt();
        let dirs = [
            vec![s, s, 0.0, 0.0, 0.0, 0.0],
            vec![0.0, 0.0, 0.0, 1.0, 0.0, 0.0],
            vec![s, -s, 0.0, 0.0, 0.0, 0.0],
        ];
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let normal = Normal::new(0.0, 1.0).expect("normal");
        let rows = (0..2000)
            .map(|_| {
                let z: Vec<f64> = [5.0, 2.0, 0.5].iter().map(|sd| sd * normal.sample(&mut rng)).collect();
                (0..6)
                    .map(|i| (10.0 + dirs.iter().zip(&z).map(|(d, z)| d[i] * z).sum::<f64>()) as f32)
                    .collect()
            })
            .collect();
        (rows, dirs)
    }

    #[test]
    fn finds_the_directions_of_largest_spread() {
        let (rows, dirs) = cloud();
        let pca = Pca::fit(&rows);
        assert!(dot(&pca.axes[0], &dirs[0]).abs() > 0.999, "{:?}", pca.axes[0]);
        assert!(dot(&pca.axes[1], &dirs[1]).abs() > 0.999, "{:?}", pca.axes[1]);
        // Variances 25 : 4 : 0.25 of 29.25.
        assert!((pca.explained[0] - 25.0 / 29.25).abs() < 0.03, "{:?}", pca.explained);
        assert!((pca.explained[1] - 4.0 / 29.25).abs() < 0.02, "{:?}", pca.explained);
        // Projections are centred and spread as the axes say.
        let xs: Vec<f64> = rows.iter().map(|r| pca.project(r)[0]).collect();
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        let sd = (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / xs.len() as f64).sqrt();
        assert!(mean.abs() < 1e-6 && (sd - 5.0).abs() < 0.3, "mean {mean}, sd {sd}");
    }

    #[test]
    fn the_same_data_gives_the_same_picture() {
        let (rows, _) = cloud();
        let reversed: Vec<Vec<f32>> = rows.iter().rev().cloned().collect();
        let (a, b) = (Pca::fit(&rows), Pca::fit(&reversed));
        let (pa, pb) = (a.project(&rows[0]), b.project(&rows[0]));
        assert!((pa[0] - pb[0]).abs() < 1e-6 && (pa[1] - pb[1]).abs() < 1e-6, "{pa:?} vs {pb:?}");
    }
}
