//! A census of the matrix products computed while it is open: how many of each shape, layout
//! and kernel. `bench` takes one over its timed steps to say how fast the model's products ran
//! (their FLOPs, counted as computed, over the wall time), how fast the same products run on
//! their own (each replayed here: the kernels' attainable speed on exactly those shapes), and
//! the machine's nominal peak, so that its report shows how near the machine a step gets and
//! how much of the step is not matrix products.
//!
//! The census is process-wide: products computed by any thread while it is open count. Off, it
//! costs each product one relaxed atomic load.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use super::gemm::{Kernel, Start, View, gemm};
use super::simd::Isa;

/// A matrix operand's shape and strides, as the product read it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Layout {
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

impl Layout {
    fn of(view: &View) -> Self {
        Self { rows: view.rows, cols: view.cols, row_stride: view.row_stride, col_stride: view.col_stride }
    }

    /// The elements a view of this layout spans.
    fn extent(self) -> usize {
        if self.rows == 0 || self.cols == 0 {
            return 0;
        }
        (self.rows - 1) * self.row_stride + (self.cols - 1) * self.col_stride + 1
    }

    fn view(self, data: &[f32]) -> View<'_> {
        View {
            data,
            offset: 0,
            rows: self.rows,
            cols: self.cols,
            row_stride: self.row_stride,
            col_stride: self.col_stride,
        }
    }
}

/// One kind of product: `a · b` on `kernel`, split over the threads (`parallel`) or, when not,
/// one of many that the caller runs side by side (an attention head each).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Product {
    kernel: Kernel,
    a: Layout,
    b: Layout,
    parallel: bool,
}

impl Product {
    fn flops(&self) -> f64 {
        2.0 * (self.a.rows * self.a.cols * self.b.cols) as f64
    }
}

static OPEN: AtomicBool = AtomicBool::new(false);
static COUNTS: Mutex<Option<HashMap<Product, u64>>> = Mutex::new(None);

fn counts() -> std::sync::MutexGuard<'static, Option<HashMap<Product, u64>>> {
    COUNTS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Counts a product computed on `kernel` (the one that ran, after `Kernel::for_product`).
pub(super) fn record(kernel: Kernel, a: &View, b: &View, parallel: bool) {
    if !OPEN.load(Ordering::Relaxed) {
        return;
    }
    let product = Product { kernel, a: Layout::of(a), b: Layout::of(b), parallel };
    if let Some(counts) = counts().as_mut() {
        *counts.entry(product).or_default() += 1;
    }
}

/// An open census; `close` ends it and gives the count (dropping it ends it too).
pub struct Counting(());

/// Opens the census, afresh if one was open.
pub fn open() -> Counting {
    *counts() = Some(HashMap::new());
    OPEN.store(true, Ordering::Relaxed);
    Counting(())
}

impl Counting {
    pub fn close(self) -> Census {
        OPEN.store(false, Ordering::Relaxed);
        Census { counts: counts().take().unwrap_or_default() }
    }
}

impl Drop for Counting {
    fn drop(&mut self) {
        OPEN.store(false, Ordering::Relaxed);
    }
}

/// The products counted while a census was open.
#[derive(Debug, Default)]
pub struct Census {
    counts: HashMap<Product, u64>,
}

impl Census {
    /// Products counted.
    pub fn products(&self) -> u64 {
        self.counts.values().sum()
    }

    /// Floating-point operations of the products counted (a multiply-add is two).
    pub fn flops(&self) -> f64 {
        self.counts.iter().map(|(p, &n)| p.flops() * n as f64).sum()
    }

    /// Seconds the kernels take for the products counted, each kind replayed on its own here, on
    /// the kernel, layout and threading it ran with (warm, best of several): the time a step's
    /// products would take if nothing else ran. Products the caller ran side by side on
    /// `threads` threads count a `threads`-th of their one-thread time.
    pub fn replay_seconds(&self, threads: usize) -> f64 {
        self.counts
            .iter()
            .map(|(p, &count)| {
                let a: Vec<f32> = (0..p.a.extent()).map(|i| (i % 13) as f32 * 0.1).collect();
                let b: Vec<f32> = (0..p.b.extent()).map(|i| (i % 7) as f32 * 0.1).collect();
                let (a, b) = (p.a.view(&a), p.b.view(&b));
                let mut c = vec![0f32; a.rows * b.cols];
                let mut once = || {
                    let start = Instant::now();
                    gemm(p.kernel, &a, &b, &mut c, p.parallel, Start::Zero);
                    start.elapsed().as_secs_f64()
                };
                // Warm (packing buffers, caches), then the best of enough runs for ~20 ms: the
                // machine's other load only ever adds time.
                let first = once().min(once());
                let runs = ((0.02 / first.max(1e-9)).ceil() as usize).clamp(2, 50);
                let best = (0..runs).map(|_| once()).fold(first, f64::min);
                let side_by_side = if p.parallel { 1.0 } else { threads.max(1) as f64 };
                count as f64 * best / side_by_side
            })
            .sum()
    }

    /// Seconds the products counted would take at the machine's nominal peak (`nominal`), or
    /// `None` where the clock is not known.
    pub fn nominal_seconds(&self, threads: usize) -> Option<f64> {
        // One reading of the clock, not one per kind of product.
        let ghz = clock_ghz()?;
        let peak = |kernel| threads as f64 * ghz * flops_per_cycle(kernel) * 1e9;
        Some(self.counts.iter().map(|(p, &n)| p.flops() * n as f64 / peak(p.kernel)).sum())
    }
}

/// Nominal floating-point operations per cycle and core of each kernel's instructions:
/// - f32: two FMA units (as on Intel Xeon since Skylake-SP and AMD Zen 4/5) of 16 lanes
///   (AVX-512) or 8 (AVX2), a multiply-add being two operations;
/// - `vdpbf16ps`: the same two units, each lane adding two products;
/// - AMX: one `tdpbf16ps` (16 × 16 × 32 multiply-adds) per 16 cycles.
pub fn flops_per_cycle(kernel: Kernel) -> f64 {
    match kernel {
        Kernel::F32(Isa::Avx512) => 64.0,
        Kernel::F32(Isa::Avx2) => 32.0,
        Kernel::Bf16Avx512 => 128.0,
        Kernel::Bf16Amx => 1024.0,
    }
}

/// The clock the kernel reports (`cpu MHz` in `/proc/cpuinfo`; under a hypervisor, usually the
/// nominal base clock), in GHz.
pub fn clock_ghz() -> Option<f64> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("cpu MHz"))?;
    let mhz: f64 = line.split(':').nth(1)?.trim().parse().ok()?;
    (mhz > 0.0).then_some(mhz / 1000.0)
}

/// The nominal peak in GFLOP/s of `kernel` on `threads` cores at `clock_ghz`.
pub fn nominal_gflops(kernel: Kernel, threads: usize) -> Option<f64> {
    Some(threads as f64 * clock_ghz()? * flops_per_cycle(kernel))
}
