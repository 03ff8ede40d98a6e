//! Fast approximations for the CPU kernels' element-wise loops: plain arithmetic that the
//! compiler vectorises (a library `expf` or `erff` is a call per element), with error bounds
//! that the tests check against the library functions.
//!
//! `#[inline(always)]` on purpose: these must be compiled into the body that
//! `simd::vectorised` compiles for the CPU's vector instructions.
#![allow(clippy::inline_always)]

/// `e^x` within 2e-7 relative error on [-86, 88], and exactly 0 below -86 (where `e^x` <
/// 5e-38: a subnormal result would slow every product it enters many times over). Unlike the
/// library's `expf`, a call per element, this is plain arithmetic that the compiler turns into
/// vector code in the softmax and GELU loops: `e^x = 2^k · e^r` with `k = round(x / ln 2)`,
/// `|r| ≤ ln 2 / 2`, `e^r` by its Taylor polynomial of degree 7, and `2^k` built from bits.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    // Adding 1.5 · 2^23 rounds to an integer and leaves it in the low bits of the mantissa:
    // no rounding or float-to-integer instructions (which do not vectorise on baseline x86-64).
    const ROUND: f32 = 12_582_912.0;
    let below = x < -86.0;
    let x = x.clamp(-86.0, 88.0);
    let shifted = x * std::f32::consts::LOG2_E + ROUND;
    let k = shifted - ROUND;
    let r = x - k * LN2_HI - k * LN2_LO;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r / 5040.0))))));
    // 2^k: k + 127 as the exponent field (k is in [-124, 127] after the clamp).
    let two_to_k = f32::from_bits(shifted.to_bits().wrapping_sub(ROUND.to_bits()).wrapping_add(127) << 23);
    if below { 0.0 } else { p * two_to_k }
}

pub const SQRT_HALF: f32 = std::f32::consts::FRAC_1_SQRT_2;
/// 1 / sqrt(2π)
pub const INV_SQRT_2PI: f32 = 0.398_942_3;

/// `Φ(x)`, the standard normal CDF, and `exp(-x²/2)`, sharing one exponential: `Φ` through
/// erf by Abramowitz & Stegun's formula 7.1.26 (absolute error ≤ 1.5e-7), whose
/// `exp(-(x/√2)²)` is the Gaussian the gradient needs. A few times faster than a library erf.
#[inline(always)]
pub fn normal_cdf_and_gauss(x: f32) -> (f32, f32) {
    let t = 1.0 / (1.0 + 0.327_591_1 * x.abs() * SQRT_HALF);
    let poly =
        t * (0.254_829_6 + t * (-0.284_496_74 + t * (1.421_413_7 + t * (-1.453_152 + t * 1.061_405_4))));
    let gauss = exp(-0.5 * x * x);
    // erf(|x|/√2) = 1 - poly·gauss, and erf is odd.
    let erf = (1.0 - poly * gauss).copysign(x);
    (0.5 * (1.0 + erf), gauss)
}

/// Per-lane partial results of a reduction over `values` (16 lanes, then folded): the
/// compiler vectorises this where a plain fold's strict order keeps it scalar.
#[inline(always)]
pub fn lanes(values: &[f32], init: f32, f: impl Fn(f32, f32) -> f32) -> f32 {
    let mut lanes = [init; 16];
    let chunks = values.chunks_exact(16);
    let rest = chunks.remainder().iter().fold(init, |a, &v| f(a, v));
    for chunk in chunks {
        for (lane, &v) in lanes.iter_mut().zip(chunk) {
            *lane = f(*lane, v);
        }
    }
    lanes.into_iter().fold(rest, f)
}

/// Softmax of a row, in place, in loops that vectorise.
#[inline(always)]
pub fn softmax_in_place(row: &mut [f32]) {
    let max = lanes(row, f32::NEG_INFINITY, f32::max);
    for v in row.iter_mut() {
        *v = exp(*v - max);
    }
    let inv = 1.0 / lanes(row, 0.0, |a, b| a + b);
    for v in row.iter_mut() {
        *v *= inv;
    }
}

/// A softmax row's gradient from the gradient of its output, in place: `g ← y ⊙ (g - Σ g ⊙ y)`
/// for output `y`.
pub fn softmax_grad_in_place(grad: &mut [f32], y: &[f32]) {
    let dot: f32 = grad.iter().zip(y).map(|(g, y)| g * y).sum();
    for (g, y) in grad.iter_mut().zip(y) {
        *g = y * (*g - dot);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_within_its_error_bound_and_exactly_zero_below_its_range() {
        let worst = (-86_000..=88_000)
            .map(|i| {
                let x = i as f32 / 1000.0;
                let exact = f64::from(x).exp();
                ((f64::from(exp(x)) - exact) / exact).abs()
            })
            .fold(0f64, f64::max);
        assert!(worst < 2e-7, "relative error {worst}");
        for x in [-86.5, -1e3, f32::MIN, f32::NEG_INFINITY] {
            assert_eq!(exp(x), 0.0, "exp({x})");
        }
        assert!(exp(-86.0).is_normal(), "no subnormal results");
        assert_eq!(exp(0.0), 1.0);
    }

    #[test]
    fn the_normal_cdf_is_within_its_error_bound_of_libm_erf() {
        let worst = (-6000..=6000)
            .map(|i| {
                let x = i as f32 / 1000.0;
                let exact = 0.5 * (1.0 + libm::erf(f64::from(x) * std::f64::consts::FRAC_1_SQRT_2));
                (f64::from(normal_cdf_and_gauss(x).0) - exact).abs()
            })
            .fold(0f64, f64::max);
        assert!(worst < 3e-7, "off by {worst}");
    }
}
