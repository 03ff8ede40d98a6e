//! GFLOP/s of the matrix kernel on the products one `MiniLM` training step makes (batch 16 of
//! ~45 tokens: 720 rows), in the layouts the model passes them: forward `x · Wᵀ`, input
//! gradient `g · W`, weight gradient `gᵀ · x`, and one attention head's products.
//!
//! Each kernel the CPU runs is measured: f32, and bf16 on AVX512_BF16 and on AMX where present.
//!
//! Run: `cargo run --example gemm_speed [HIDDEN]` (the dev profile is optimised; HIDDEN 384 for
//! `MiniLM`, 768 for bert-base, the feed-forward width 4×). Not a test: figures vary with the
//! machine's load; compare kernels and builds in the same sitting.
use std::time::Instant;

use bertbench::model::gemm::{Kernel, Start, View, gemm};
use bertbench::model::simd::Isa;

fn row_major(data: &[f32], rows: usize, cols: usize) -> View<'_> {
    View { data, offset: 0, rows, cols, row_stride: cols, col_stride: 1 }
}

/// The fastest of `runs` timings: the machine's other load only ever adds time.
fn best_of(runs: usize, mut work: impl FnMut()) -> f64 {
    (0..runs)
        .map(|_| {
            let start = Instant::now();
            work();
            start.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let Some(isa) = Isa::detect() else {
        println!("no AVX2/AVX-512 kernel on this CPU");
        return;
    };
    let mut kernels = vec![("f32", Kernel::F32(isa))];
    if isa == Isa::Avx512 && std::arch::is_x86_feature_detected!("avx512bf16") {
        kernels.push(("bf16-avx512", Kernel::Bf16Avx512));
    }
    if Kernel::bf16() == Some(Kernel::Bf16Amx) {
        kernels.push(("bf16-amx", Kernel::Bf16Amx));
    }
    let hidden: usize = std::env::args().nth(1).and_then(|h| h.parse().ok()).unwrap_or(384);
    let tokens = 720;
    // (name, rows of A, shared dimension, columns of B, A transposed, B transposed)
    let mut cases = Vec::new();
    for (inp, out) in [(hidden, hidden), (hidden, 4 * hidden), (4 * hidden, hidden)] {
        cases.push((format!("forward  x·Wᵀ {inp}->{out}"), tokens, inp, out, false, true));
        cases.push((format!("input    g·W   {out}->{inp}"), tokens, out, inp, false, false));
        cases.push((format!("weight   gᵀ·x  {out}x{inp}"), out, tokens, inp, true, false));
    }
    println!("GFLOP/s, best of 40 ({} threads)", rayon::current_num_threads());
    for (name, m, k, n, ta, tb) in cases {
        let a: Vec<f32> = (0..m * k).map(|i| (i % 13) as f32 * 0.1).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i % 7) as f32 * 0.1).collect();
        let av = if ta { row_major(&a, k, m).transposed() } else { row_major(&a, m, k) };
        let bv = if tb { row_major(&b, n, k).transposed() } else { row_major(&b, k, n) };
        let mut c = vec![0f32; m * n];
        print!("{name:<28}");
        for &(precision, kernel) in &kernels {
            for parallel in [false, true] {
                for _ in 0..3 {
                    gemm(kernel, &av, &bv, &mut c, parallel, Start::Zero);
                }
                let seconds = best_of(40, || gemm(kernel, &av, &bv, &mut c, parallel, Start::Zero));
                let gflops = 2.0 * (m * k * n) as f64 / seconds / 1e9;
                print!("  {precision} {}: {gflops:6.1}", if parallel { "all" } else { "one" });
            }
        }
        println!();
    }
    // One attention head: 45 tokens, head size 32, q and k read in place from [tokens, 384].
    let (len, head, hidden) = (45, 32, 384);
    let q: Vec<f32> = (0..len * hidden).map(|i| (i % 11) as f32 * 0.1).collect();
    let qv = View { data: &q, offset: 0, rows: len, cols: head, row_stride: hidden, col_stride: 1 };
    let mut scores = vec![0f32; len * len];
    print!("{:<28}", "head q·kᵀ 45x32x45");
    for &(precision, kernel) in &kernels {
        let seconds = best_of(40, || {
            for _ in 0..100 {
                gemm(kernel, &qv, &qv.transposed(), &mut scores, false, Start::Zero);
            }
        }) / 100.0;
        print!("  {precision} one: {:6.1}", 2.0 * (len * head * len) as f64 / seconds / 1e9);
    }
    println!();
}
