//! The census of matrix products that `bench` reports from. It is process-wide, so it has this
//! test binary to itself: no other test's products can land in it.

use bertbench::model::census;
use bertbench::model::gemm::{Kernel, Start, View, gemm};
use bertbench::model::simd::Isa;

fn row_major(data: &[f32], rows: usize, cols: usize) -> View<'_> {
    View { data, offset: 0, rows, cols, row_stride: cols, col_stride: 1 }
}

#[test]
fn a_census_counts_each_product_computed_while_open_and_replays_them() {
    let Some(isa) = Isa::detect() else {
        eprintln!("no kernel of ours on this CPU: candle computes the products, and no census is taken");
        return;
    };
    let kernel = Kernel::F32(isa);
    let (a, b) = (vec![0.5f32; 64 * 32], vec![0.25f32; 32 * 48]);
    let big = vec![1f32; 256 * 256];
    let (a, b, big) = (row_major(&a, 64, 32), row_major(&b, 32, 48), row_major(&big, 256, 256));
    let mut small_out = vec![0f32; 64 * 48];
    let mut big_out = vec![0f32; 256 * 256];

    gemm(kernel, &a, &b, &mut small_out, false, Start::Zero); // before: not counted
    let counting = census::open();
    for _ in 0..3 {
        gemm(kernel, &a, &b, &mut small_out, false, Start::Zero);
    }
    // The transposed operand is another layout, a product of its own kind.
    gemm(kernel, &big, &big.transposed(), &mut big_out, true, Start::Zero);
    let taken = counting.close();
    gemm(kernel, &a, &b, &mut small_out, false, Start::Zero); // after: not counted

    assert_eq!(small_out[0], 32.0 * 0.5 * 0.25, "the products were computed");
    assert_eq!(taken.products(), 4);
    let expected = 3.0 * 2.0 * (64 * 32 * 48) as f64 + 2.0 * (256f64).powi(3);
    assert_eq!(taken.flops(), expected);

    // Replayed alone: a real, finite time (how long is the machine's business, not a test's).
    let replayed = taken.replay_seconds(2);
    assert!(replayed > 0.0 && replayed.is_finite(), "{replayed}");

    // A census dropped without closing stops counting too.
    drop(census::open());
    let counting = census::open();
    let empty = counting.close();
    assert_eq!((empty.products(), empty.flops()), (0, 0.0));
}

#[test]
fn nominal_peaks_follow_each_kernels_operations_per_cycle() {
    assert_eq!(census::flops_per_cycle(Kernel::F32(Isa::Avx512)), 64.0);
    assert_eq!(census::flops_per_cycle(Kernel::F32(Isa::Avx2)), 32.0);
    assert_eq!(census::flops_per_cycle(Kernel::Bf16Amx), 1024.0);
    if let Some(ghz) = census::clock_ghz() {
        let peak = census::nominal_gflops(Kernel::F32(Isa::Avx512), 2).expect("peak");
        assert!((peak - 2.0 * ghz * 64.0).abs() < 1e-9);
    }
}
