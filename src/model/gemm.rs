//! Single-precision matrix products on the CPU with our own SIMD micro-kernels.
//!
//! Why not candle's: its `gemm` crate builds its register tiles in a way that stable Rust
//! compiles with accumulators spilled to the stack, so on this project's machines it reaches
//! ~35 GFLOP/s per core where the hardware (and PyTorch) does ~150. This module is the classic
//! blocked algorithm (as in BLIS): blocks of B and A are packed into contiguous panels, and a
//! micro-kernel keeps an `MR × NR` tile of C in vector registers while it walks the shared
//! dimension. AVX-512 and AVX2+FMA kernels are picked at run time; other CPUs are left to candle.
//! On several threads the output is cut into one block per thread and each thread runs the whole
//! blocked product on its block with its own packing buffers: one hand-off per product, where
//! parallelising each packing and each block row separately cost several (and scaled 1.3× on two
//! cores instead of 1.8×).
//!
//! The unsafe code is confined to the micro-kernels (vector loads and stores through raw pointers)
//! and the output shared by the threads; `Tile::run` checks every bound they rely on.
#![allow(unsafe_code)]

use std::ops::Range;

use rayon::prelude::*;

use super::simd::Isa;

/// A read-only matrix view: element `(i, j)` is `data[offset + i * row_stride + j * col_stride]`.
/// Transposes and other strided layouts are views, never copies.
#[derive(Clone, Copy, Debug)]
pub struct View<'a> {
    pub data: &'a [f32],
    pub offset: usize,
    pub rows: usize,
    pub cols: usize,
    pub row_stride: usize,
    pub col_stride: usize,
}

impl View<'_> {
    fn at(&self, i: usize, j: usize) -> f32 {
        self.data[self.offset + i * self.row_stride + j * self.col_stride]
    }

    /// The same storage read with rows and columns swapped.
    pub fn transposed(&self) -> Self {
        View {
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
            ..*self
        }
    }

    /// The last index the view reads, checked once so that packing cannot go out of bounds.
    fn check(&self) {
        if self.rows > 0 && self.cols > 0 {
            let last = self.offset + (self.rows - 1) * self.row_stride + (self.cols - 1) * self.col_stride;
            assert!(last < self.data.len(), "matrix view reads past its storage");
        }
    }
}

/// The register tile of an instruction set's micro-kernel.
fn tile(isa: Isa) -> Tile {
    match isa {
        Isa::Avx512 => Tile { isa, mr: 12, nr: 32 },
        Isa::Avx2 => Tile { isa, mr: 6, nr: 16 },
    }
}

/// Depth of a packed block: a `KC × NR` panel of B stays in L1 while a tile is computed.
const KC: usize = 256;
/// Width of a packed block of B (it stays in L2 while all rows of A pass over it).
const NC: usize = 1024;
/// Most rows of A packed at once (a block of them stays in L2).
const MC: usize = 120;
/// Below this many multiply-adds a product runs on one thread: splitting costs more.
const PARALLEL_MIN: usize = 1 << 16;
/// The largest register tile of any kernel (AVX-512's 12 × 32): edge tiles go through a scratch
/// tile this big.
const MAX_TILE: usize = 12 * 32;

/// An `mr × nr` register tile computed by one micro-kernel.
#[derive(Clone, Copy, Debug)]
struct Tile {
    isa: Isa,
    mr: usize,
    nr: usize,
}

/// The output matrix (row-major, `cols` wide), written by several threads at once, each in its
/// own block of it: a raw pointer because the blocks of a column split interleave in memory.
struct Out {
    ptr: *mut f32,
    rows: usize,
    cols: usize,
}

// SAFETY: `product_into` hands each thread a disjoint block of the output (`Part`), so no two threads
// write, or read, the same element.
unsafe impl Sync for Out {}

impl Tile {
    /// `C[row.., col..] (+)= Σ_p a[p * mr + i] * b[p * nr + j]` for the tile whose top-left
    /// corner is (`row`, `col`); `a` and `b` are packed panels of depth `kc`. A tile cut by the
    /// edge of C goes through a scratch tile.
    ///
    /// # Safety
    /// No other thread may touch the tile's elements of `out` meanwhile.
    #[allow(clippy::too_many_arguments)]
    unsafe fn run(
        self,
        kc: usize,
        a: &[f32],
        b: &[f32],
        out: &Out,
        row: usize,
        col: usize,
        accumulate: bool,
    ) {
        assert!(a.len() >= kc * self.mr && b.len() >= kc * self.nr, "packed panels too short");
        assert!(row < out.rows && col < out.cols, "tile outside C");
        let (rows, cols) = (self.mr.min(out.rows - row), self.nr.min(out.cols - col));
        // SAFETY: the tile's rows × cols elements lie inside `out` (asserted above); this thread
        // alone writes them (the caller's promise).
        let c = unsafe { out.ptr.add(row * out.cols + col) };
        if rows == self.mr && cols == self.nr {
            // SAFETY: as above, and the panels' lengths bound the kernel's reads of `a` and `b`;
            // its instruction set was detected at run time (`Isa::detect`).
            unsafe { self.kernel(kc, a.as_ptr(), b.as_ptr(), c, out.cols, accumulate) };
            return;
        }
        let mut scratch = [0f32; MAX_TILE];
        // SAFETY: the scratch tile holds mr × nr values, `nr` apart.
        unsafe { self.kernel(kc, a.as_ptr(), b.as_ptr(), scratch.as_mut_ptr(), self.nr, false) };
        for (i, tile) in scratch.chunks_exact(self.nr).take(rows).enumerate() {
            // SAFETY: row `i` of the tile, its first `cols` elements: inside `out`, this thread's;
            // read only when accumulating (then written before: by an earlier pass or the caller).
            unsafe {
                let row = c.add(i * out.cols);
                if accumulate {
                    std::slice::from_raw_parts_mut(row, cols).iter_mut().zip(tile).for_each(|(o, t)| *o += t);
                } else {
                    std::ptr::copy_nonoverlapping(tile.as_ptr(), row, cols);
                }
            }
        }
    }

    /// The micro-kernel itself, on raw pointers.
    unsafe fn kernel(
        self,
        kc: usize,
        a: *const f32,
        b: *const f32,
        c: *mut f32,
        ldc: usize,
        accumulate: bool,
    ) {
        // SAFETY: passed on from `run`.
        #[cfg(target_arch = "x86_64")]
        unsafe {
            match self.isa {
                Isa::Avx512 => x86::tile_12x32(kc, a, b, c, ldc, accumulate),
                Isa::Avx2 => x86::tile_6x16(kc, a, b, c, ldc, accumulate),
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::{
        __m256, __m256i, __m512, _mm256_add_ps, _mm256_fmadd_ps, _mm256_maskload_ps, _mm256_maskstore_ps,
        _mm256_set1_epi32, _mm256_set1_ps, _mm256_setzero_ps, _mm512_add_ps, _mm512_fmadd_ps,
        _mm512_mask_storeu_ps, _mm512_maskz_loadu_ps, _mm512_set1_ps, _mm512_setzero_ps,
    };

    // Loads and stores through masked instructions with every lane on: the plain `loadu`/`storeu`
    // intrinsics copy through a stack temporary checked for overlap whenever debug assertions are
    // on (the dev profile), which halves the kernel's speed; these compile to one instruction.
    #[target_feature(enable = "avx512f")]
    unsafe fn load16(p: *const f32) -> __m512 {
        unsafe { _mm512_maskz_loadu_ps(0xFFFF, p) }
    }

    #[target_feature(enable = "avx512f")]
    unsafe fn store16(p: *mut f32, v: __m512) {
        unsafe { _mm512_mask_storeu_ps(p, 0xFFFF, v) }
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn load8(p: *const f32) -> __m256 {
        unsafe { _mm256_maskload_ps(p, all_lanes()) }
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn store8(p: *mut f32, v: __m256) {
        unsafe { _mm256_maskstore_ps(p, all_lanes(), v) }
    }

    #[target_feature(enable = "avx2,fma")]
    fn all_lanes() -> __m256i {
        _mm256_set1_epi32(-1)
    }

    /// A micro-kernel of `rows` rows and two vectors of `$lanes` columns. Each accumulator is a
    /// named local (an array of vectors makes LLVM spill them to the stack).
    macro_rules! tile_kernel {
        ($name:ident, $feature:literal, $lanes:literal, $zero:ident, $load:ident, $store:ident, $splat:ident,
         $fma:ident, $add:ident, $($row:literal $lo:ident $hi:ident),+) => {
            #[target_feature(enable = $feature)]
            pub unsafe fn $name(kc: usize, a: *const f32, b: *const f32, c: *mut f32, ldc: usize, accumulate: bool) {
                const MR: usize = [$($row),+].len();
                $( let mut $lo = $zero(); let mut $hi = $zero(); )+
                for p in 0..kc {
                    // SAFETY (every block here): bounds checked by `Tile::run`.
                    // `wrapping_add`: `add` carries an overflow check in debug builds.
                    let (b0, b1) = unsafe {
                        ($load(b.wrapping_add(p * 2 * $lanes)), $load(b.wrapping_add(p * 2 * $lanes + $lanes)))
                    };
                    $(
                        let ai = $splat(unsafe { *a.wrapping_add(p * MR + $row) });
                        $lo = $fma(ai, b0, $lo);
                        $hi = $fma(ai, b1, $hi);
                    )+
                }
                $(
                    let (lo, hi) = (c.wrapping_add($row * ldc), c.wrapping_add($row * ldc + $lanes));
                    if accumulate {
                        unsafe {
                            $lo = $add($lo, $load(lo));
                            $hi = $add($hi, $load(hi));
                        }
                    }
                    unsafe {
                        $store(lo, $lo);
                        $store(hi, $hi);
                    }
                )+
            }
        };
    }

    // 12 rows × 32 columns: 24 accumulators, 2 loads of B and 12 broadcasts of A per step, within
    // AVX-512's 32 registers.
    tile_kernel!(tile_12x32, "avx512f", 16, _mm512_setzero_ps, load16, store16, _mm512_set1_ps,
        _mm512_fmadd_ps, _mm512_add_ps, 0 c0 d0, 1 c1 d1, 2 c2 d2, 3 c3 d3, 4 c4 d4, 5 c5 d5, 6 c6 d6, 7 c7 d7,
        8 c8 d8, 9 c9 d9, 10 c10 d10, 11 c11 d11);
    // 6 rows × 16 columns: 12 accumulators, within AVX2's 16 registers.
    tile_kernel!(tile_6x16, "avx2,fma", 8, _mm256_setzero_ps, load8, store8, _mm256_set1_ps,
        _mm256_fmadd_ps, _mm256_add_ps, 0 c0 d0, 1 c1 d1, 2 c2 d2, 3 c3 d3, 4 c4 d4, 5 c5 d5);
}

/// Packs rows `rows` × depth `depth` of `m` into panels of `width` rows: panel `q` holds, for
/// each `p`, the `width` values `m[q*width + i][p]` (zero past the last row). A's panels are
/// packed from A, B's from the transposed view of B (the same layout, with columns as rows).
fn pack(m: &View, rows: Range<usize>, depth: Range<usize>, width: usize, out: &mut [f32]) {
    match width {
        12 => pack_panels::<12>(m, rows, depth, out),
        32 => pack_panels::<32>(m, rows, depth, out),
        6 => pack_panels::<6>(m, rows, depth, out),
        16 => pack_panels::<16>(m, rows, depth, out),
        _ => unreachable!("no kernel has panels {width} wide"),
    }
}

/// `pack` with the panel width as a constant.
fn pack_panels<const W: usize>(m: &View, rows: Range<usize>, depth: Range<usize>, out: &mut [f32]) {
    let kc = depth.len();
    for (q, panel) in out.chunks_exact_mut(kc * W).enumerate() {
        let r0 = rows.start + q * W;
        let live = W.min(rows.end - r0);
        if live < W {
            panel.fill(0.0);
        }
        // Read along whichever direction is contiguous in memory; fixed-size copies of W values
        // compile to vector moves (a slice copy of run-time length is a call to memmove).
        if m.row_stride == 1 {
            for (p, k) in depth.clone().enumerate() {
                let start = m.offset + k * m.col_stride + r0;
                let to = &mut panel[p * W..(p + 1) * W];
                if live == W {
                    to.copy_from_slice(&m.data[start..start + W]);
                } else {
                    to[..live].copy_from_slice(&m.data[start..start + live]);
                }
            }
        } else if m.col_stride == 1 && live == W {
            let rows: [&[f32]; W] = std::array::from_fn(|i| {
                let start = m.offset + (r0 + i) * m.row_stride + depth.start;
                &m.data[start..start + kc]
            });
            for (p, to) in panel.chunks_exact_mut(W).enumerate() {
                for (to, row) in to.iter_mut().zip(&rows) {
                    *to = row[p];
                }
            }
        } else {
            for i in 0..live {
                for (p, k) in depth.clone().enumerate() {
                    panel[p * W + i] = m.at(r0 + i, k);
                }
            }
        }
    }
}

/// A thread's share of the output: a block of rows and columns, whole tiles wide.
struct Part {
    rows: Range<usize>,
    cols: Range<usize>,
}

/// Splits an `m × n` output among `threads` as a grid of blocks whose sides are whole tiles.
/// Each thread packs the rows of A and columns of B its block needs, so the grid is chosen to
/// balance the multiply-adds per thread against that packing (for two threads: split the
/// longer side).
fn split(tile: Tile, m: usize, n: usize, threads: usize) -> Vec<Part> {
    let (row_tiles, col_tiles) = (m.div_ceil(tile.mr), n.div_ceil(tile.nr));
    let cost = |across: usize, down: usize| {
        let rows = row_tiles.div_ceil(down) * tile.mr;
        let cols = col_tiles.div_ceil(across) * tile.nr;
        // A packed value costs about as much as 16 multiply-adds.
        rows * cols + 16 * (rows + cols)
    };
    let (down, across) = (1..=threads)
        .filter(|down| threads.is_multiple_of(*down))
        .map(|down| (down, threads / down))
        .min_by_key(|&(down, across)| cost(across, down))
        .unwrap_or((1, 1));
    let bounds = |tiles: usize, parts: usize, size: usize, width: usize, i: usize| {
        (tiles * i / parts * width).min(size)..(tiles * (i + 1) / parts * width).min(size)
    };
    (0..down * across)
        .map(|t| Part {
            rows: bounds(row_tiles, down, m, tile.mr, t / across),
            cols: bounds(col_tiles, across, n, tile.nr, t % across),
        })
        .filter(|part| !part.rows.is_empty() && !part.cols.is_empty())
        .collect()
}

thread_local! {
    /// Each thread's packing buffers for A and B, kept between products (allocating and
    /// zeroing them for every product showed up in profiles).
    static PACKED: std::cell::RefCell<(Vec<f32>, Vec<f32>)> = const { std::cell::RefCell::new((Vec::new(), Vec::new())) };
}

/// What the output holds before the product is added to it.
#[derive(Clone, Copy, Debug)]
pub enum Start<'a> {
    /// Nothing: `c = a · b`.
    Zero,
    /// Its current values: `c += a · b`.
    Existing,
    /// A bias, one value per column, in every row: `c = bias + a · b`.
    Bias(&'a [f32]),
}

/// `c = a · b` (or added to what `start` says), with `c` row-major `a.rows × b.cols`. Uses
/// rayon's threads when `parallel` and the product is large enough. Panics if the shapes
/// disagree.
pub fn gemm(isa: Isa, a: &View, b: &View, c: &mut [f32], parallel: bool, start: Start) {
    assert_eq!(c.len(), a.rows * b.cols, "output has the wrong size");
    let out = Out { ptr: c.as_mut_ptr(), rows: a.rows, cols: b.cols };
    // SAFETY: `out` is `c`, borrowed mutably here, and initialised.
    unsafe { product_into(isa, a, b, &out, parallel, start) };
}

/// `a · b` (plus `bias` in every row) as a new row-major `a.rows × b.cols` matrix. Unlike
/// `gemm` into a `vec![0.0; …]`, the output is never zero-filled first (a serial pass over
/// every product's output, which profiles showed).
pub fn product(isa: Isa, a: &View, b: &View, parallel: bool, bias: Option<&[f32]>) -> Vec<f32> {
    let len = a.rows * b.cols;
    let mut c = Vec::with_capacity(len);
    let out = Out { ptr: c.as_mut_ptr(), rows: a.rows, cols: b.cols };
    let start = bias.map_or(Start::Zero, Start::Bias);
    // SAFETY: `out` is `c`'s allocation of `len` values; with `Start::Zero` or `Start::Bias`
    // every element is written before it is read, and all of them are written.
    unsafe {
        product_into(isa, a, b, &out, parallel, start);
        c.set_len(len);
    }
    c
}

/// The product into `out`.
///
/// # Safety
/// `out` must be valid for `a.rows × b.cols` writes, used by nothing else meanwhile, and
/// initialised unless `start` is `Zero` or `Bias`.
unsafe fn product_into(isa: Isa, a: &View, b: &View, out: &Out, parallel: bool, start: Start) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert_eq!(b.rows, k, "inner dimensions differ");
    if let Start::Bias(bias) = start {
        assert_eq!(bias.len(), n, "one bias value per column");
    }
    a.check();
    b.check();
    if m == 0 || n == 0 {
        return;
    }
    let tile = tile(isa);
    let threads = if parallel && m * n * k >= PARALLEL_MIN { rayon::current_num_threads() } else { 1 };
    let run = |part: &Part| {
        PACKED.with(|buffers| match buffers.try_borrow_mut() {
            Ok(mut buffers) => {
                let (a_packed, b_packed) = &mut *buffers;
                // SAFETY: the parts of one product are disjoint blocks of `out` (`split`); the
                // rest is the caller's promise.
                unsafe { block(tile, a, b, out, part, start, a_packed, b_packed) };
            }
            // SAFETY: as above.
            Err(_) => unsafe { block(tile, a, b, out, part, start, &mut Vec::new(), &mut Vec::new()) },
        });
    };
    if threads > 1 {
        split(tile, m, n, threads).par_iter().for_each(run);
    } else {
        run(&Part { rows: 0..m, cols: 0..n });
    }
}

/// One thread's block of the product, on one thread: the blocked loops of BLIS.
///
/// # Safety
/// As `product_into`, and no other thread may touch `part`'s block of `out` meanwhile.
#[allow(clippy::too_many_arguments)]
unsafe fn block(
    tile: Tile,
    a: &View,
    b: &View,
    out: &Out,
    part: &Part,
    start: Start,
    a_packed: &mut Vec<f32>,
    b_packed: &mut Vec<f32>,
) {
    let k = a.cols;
    let cols = part.cols.len();
    // The starting values of each row, written by the thread that then adds to them (while
    // they are in its cache); with no shared dimension they are the result.
    let no_product;
    let starting = match start {
        Start::Bias(bias) => Some(&bias[part.cols.clone()]),
        Start::Zero if k == 0 => {
            no_product = vec![0f32; cols];
            Some(&no_product[..])
        }
        Start::Zero | Start::Existing => None,
    };
    if let Some(values) = starting {
        for i in part.rows.clone() {
            // SAFETY: row `i` of this thread's block, inside `out` (the caller's promise);
            // `values` is `cols` long.
            unsafe {
                let row = out.ptr.add(i * out.cols + part.cols.start);
                std::ptr::copy_nonoverlapping(values.as_ptr(), row, cols);
            }
        }
    }
    let b_columns = b.transposed();
    for jc in part.cols.clone().step_by(NC) {
        let nc = NC.min(part.cols.end - jc);
        for pc in (0..k).step_by(KC) {
            let kc = KC.min(k - pc);
            let accumulate = pc > 0 || !matches!(start, Start::Zero);
            let b_len = nc.div_ceil(tile.nr) * kc * tile.nr;
            grow(b_packed, b_len);
            pack(&b_columns, jc..jc + nc, pc..pc + kc, tile.nr, &mut b_packed[..b_len]);
            for ic in part.rows.clone().step_by(MC) {
                let mc = MC.min(part.rows.end - ic);
                let a_len = mc.div_ceil(tile.mr) * kc * tile.mr;
                grow(a_packed, a_len);
                pack(a, ic..ic + mc, pc..pc + kc, tile.mr, &mut a_packed[..a_len]);
                for (q, b_panel) in b_packed[..b_len].chunks_exact(kc * tile.nr).enumerate() {
                    for (r, a_panel) in a_packed[..a_len].chunks_exact(kc * tile.mr).enumerate() {
                        let (row, col) = (ic + r * tile.mr, jc + q * tile.nr);
                        // SAFETY: the tile lies in `part`, this thread's block (caller's promise).
                        unsafe { tile.run(kc, a_panel, b_panel, out, row, col, accumulate) };
                    }
                }
            }
        }
    }
}

/// Makes `buffer` at least `len` long, zeroing only what it adds.
fn grow(buffer: &mut Vec<f32>, len: usize) {
    if buffer.len() < len {
        buffer.resize(len, 0.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &View, b: &View) -> Vec<f32> {
        let mut c = vec![0f32; a.rows * b.cols];
        for i in 0..a.rows {
            for j in 0..b.cols {
                c[i * b.cols + j] =
                    (0..a.cols).map(|p| f64::from(a.at(i, p)) * f64::from(b.at(p, j))).sum::<f64>() as f32;
            }
        }
        c
    }

    fn values(len: usize, seed: usize) -> Vec<f32> {
        (0..len).map(|i| (((i + seed) * 7919) % 113) as f32 / 56.0 - 1.0).collect()
    }

    /// Row-major or transposed views of fresh data, with an offset.
    fn view(data: &[f32], rows: usize, cols: usize, transposed: bool) -> View<'_> {
        let (row_stride, col_stride) = if transposed { (1, rows) } else { (cols, 1) };
        View { data, offset: 3, rows, cols, row_stride, col_stride }
    }

    /// Shapes crossing tile edges, the KC and NC blocks and the row-block split.
    const SHAPES: [(usize, usize, usize); 7] =
        [(1, 1, 1), (7, 5, 33), (8, 300, 32), (45, 40, 41), (130, 257, 1100), (300, 70, 65), (2, 600, 3)];

    /// Where no kernel of ours runs, products go to candle (`ops::matmul`): a test of the
    /// kernels checks that path instead, on the same shapes.
    fn check_the_fallback() {
        for &(m, k, n) in &SHAPES {
            let (da, db) = (values(m * k + 3, 1), values(k * n + 3, 2));
            let (a, b) = (view(&da, m, k, false), view(&db, k, n, false));
            let tensor = |d: &[f32], rows, cols| {
                candle_core::Tensor::from_slice(
                    &d[3..3 + rows * cols],
                    (rows, cols),
                    &candle_core::Device::Cpu,
                )
                .expect("tensor")
            };
            let c =
                crate::model::ops::matmul(&tensor(&da, m, k), &tensor(&db, k, n)).expect("candle's product");
            let c = c.flatten_all().expect("flat").to_vec1::<f32>().expect("values");
            let worst = c.iter().zip(naive(&a, &b)).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
            assert!(worst < 1e-3, "{m}x{k}x{n}: off by {worst}");
        }
    }

    #[test]
    fn every_kernel_matches_the_naive_product_on_edges_blocks_and_strides() {
        let isas: Vec<Isa> = [Isa::Avx512, Isa::Avx2]
            .into_iter()
            .filter(|isa| match Isa::detect() {
                Some(Isa::Avx512) => true,
                Some(Isa::Avx2) => *isa == Isa::Avx2,
                None => false,
            })
            .collect();
        if isas.is_empty() {
            check_the_fallback();
        }
        let shapes = SHAPES;
        for isa in isas {
            for &(m, k, n) in &shapes {
                for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                    let (da, db) = (values(m * k + 3, 1), values(k * n + 3, 2));
                    let (a, b) = (view(&da, m, k, ta), view(&db, k, n, tb));
                    let want = naive(&a, &b);
                    for parallel in [false, true] {
                        let mut c = vec![f32::NAN; m * n];
                        gemm(isa, &a, &b, &mut c, parallel, Start::Zero);
                        let worst = c.iter().zip(&want).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
                        assert!(
                            worst < 1e-3,
                            "{isa:?} {m}x{k}x{n} ta={ta} tb={tb} parallel={parallel}: off by {worst}"
                        );
                        // Accumulating adds the product to what is there (a bias).
                        let mut c: Vec<f32> = (0..m * n).map(|i| (i % 7) as f32).collect();
                        gemm(isa, &a, &b, &mut c, parallel, Start::Existing);
                        let worst =
                            (0..m * n).map(|i| (c[i] - (i % 7) as f32 - want[i]).abs()).fold(0f32, f32::max);
                        assert!(worst < 1e-3, "{isa:?} {m}x{k}x{n} accumulating: off by {worst}");
                        // A fresh output, plain or starting from a bias in every row.
                        let bias = values(n, 3);
                        let plain = product(isa, &a, &b, parallel, None);
                        let biased = product(isa, &a, &b, parallel, Some(&bias));
                        let worst = (0..m * n)
                            .map(|i| {
                                (plain[i] - want[i]).abs().max((biased[i] - bias[i % n] - want[i]).abs())
                            })
                            .fold(0f32, f32::max);
                        assert!(worst < 1e-3, "{isa:?} {m}x{k}x{n} fresh output: off by {worst}");
                    }
                }
            }
        }
    }

    #[test]
    fn thread_parts_cover_the_output_once_in_whole_tiles() {
        let tile = Tile { isa: Isa::Avx512, mr: 12, nr: 32 };
        for &(m, n) in &[(1, 1), (720, 384), (384, 1536), (13, 33), (5000, 40)] {
            for threads in [2, 3, 4, 6, 16] {
                let parts = split(tile, m, n, threads);
                assert!(
                    !parts.is_empty() && parts.len() <= threads,
                    "{m}x{n} on {threads}: {} parts",
                    parts.len()
                );
                let mut owner = vec![0usize; m * n];
                for part in &parts {
                    assert!(
                        part.rows.start % tile.mr == 0 && part.cols.start % tile.nr == 0,
                        "part off the tile grid"
                    );
                    for i in part.rows.clone() {
                        part.cols.clone().for_each(|j| owner[i * n + j] += 1);
                    }
                }
                assert!(
                    owner.iter().all(|&count| count == 1),
                    "{m}x{n} on {threads}: not covered exactly once"
                );
            }
        }
        // Two threads split the longer side, so each packs half of the larger operand.
        let parts = split(tile, 720, 384, 2);
        assert_eq!((parts[0].rows.clone(), parts[0].cols.clone()), (0..360, 0..384));
        let parts = split(tile, 96, 1536, 2);
        assert_eq!((parts[0].rows.clone(), parts[0].cols.clone()), (0..96, 0..768));
    }

    #[test]
    fn products_split_among_more_threads_match_the_naive_product() {
        let Some(isa) = Isa::detect() else {
            check_the_fallback();
            return;
        };
        for threads in [3, 4] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("a thread pool");
            for &(m, k, n) in &[(130, 257, 1100), (300, 70, 65), (40, 300, 700)] {
                let (da, db) = (values(m * k + 3, 1), values(k * n + 3, 2));
                let (a, b) = (view(&da, m, k, false), view(&db, k, n, true));
                let mut c = vec![f32::NAN; m * n];
                pool.install(|| gemm(isa, &a, &b, &mut c, true, Start::Zero));
                let worst = c.iter().zip(naive(&a, &b)).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
                assert!(worst < 1e-3, "{m}x{k}x{n} on {threads} threads: off by {worst}");
            }
        }
    }

    #[test]
    fn an_empty_shared_dimension_gives_zeros_and_empty_outputs_are_fine() {
        let Some(isa) = Isa::detect() else {
            check_the_fallback();
            return;
        };
        let rows = View { data: &[1.0, 2.0], offset: 0, rows: 0, cols: 2, row_stride: 2, col_stride: 1 };
        let b = View { data: &[1.0, 2.0], offset: 0, rows: 2, cols: 1, row_stride: 1, col_stride: 1 };
        gemm(isa, &rows, &b, &mut [], true, Start::Zero);
        let mut c = vec![f32::NAN; 6];
        let a = View { data: &[], offset: 0, rows: 2, cols: 0, row_stride: 0, col_stride: 1 };
        let b = View { data: &[], offset: 0, rows: 0, cols: 3, row_stride: 3, col_stride: 1 };
        gemm(isa, &a, &b, &mut c, true, Start::Zero);
        assert_eq!(c, vec![0.0; 6]);
        gemm(isa, &a, &b, &mut c, true, Start::Existing);
        assert_eq!(c, vec![0.0; 6]);
        assert_eq!(product(isa, &a, &b, true, None), vec![0.0; 6]);
        assert_eq!(product(isa, &a, &b, true, Some(&[1.0, 2.0, 3.0])), vec![1.0, 2.0, 3.0, 1.0, 2.0, 3.0]);
    }
}
