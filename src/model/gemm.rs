//! Matrix products on the CPU with our own SIMD micro-kernels: single precision, or bf16 inputs
//! with f32 accumulation (mixed precision, on CPUs with AVX512_BF16).
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
//! The bf16 kernel is the same algorithm on halved data: both operands are rounded to bf16 once per
//! product (a vectorised pass), packed as pairs of values along the shared dimension, and each
//! `vdpbf16ps` adds two products per lane into f32 accumulators, twice the work of an FMA.
//!
//! The unsafe code is confined to the micro-kernels (vector loads and stores through raw pointers)
//! and the output shared by the threads; `Tile::run` checks every bound they rely on.
#![allow(unsafe_code)]

use std::ops::Range;

use rayon::prelude::*;

use super::simd::Isa;

/// A read-only matrix view: element `(i, j)` is `data[offset + i * row_stride + j * col_stride]`.
/// Transposes and other strided layouts are views, never copies. Values are f32, or bf16 bits
/// (`u16`) inside a mixed-precision product.
#[derive(Clone, Copy, Debug)]
pub struct View<'a, T = f32> {
    pub data: &'a [T],
    pub offset: usize,
    pub rows: usize,
    pub cols: usize,
    pub row_stride: usize,
    pub col_stride: usize,
}

impl<T: Copy> View<'_, T> {
    fn at(&self, i: usize, j: usize) -> T {
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

/// Which micro-kernel multiplies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kernel {
    /// f32 fused multiply-adds with this instruction set's registers.
    F32(Isa),
    /// bf16 inputs, f32 accumulation, on AVX512_BF16's `vdpbf16ps` (two products per lane).
    Bf16Avx512,
    /// bf16 inputs, f32 accumulation, on AMX's tile unit (`tdpbf16ps`: a 16 × 16 tile per
    /// instruction; Intel Xeon since Sapphire Rapids).
    Bf16Amx,
}

impl Kernel {
    /// The fastest bf16 kernel this CPU runs: AMX where it has it, else AVX512_BF16.
    pub fn bf16() -> Option<Self> {
        static BEST: std::sync::OnceLock<Option<Kernel>> = std::sync::OnceLock::new();
        *BEST.get_or_init(|| {
            #[cfg(target_arch = "x86_64")]
            {
                if Isa::detect() != Some(Isa::Avx512) {
                    return None;
                }
                if amx::available() {
                    return Some(Kernel::Bf16Amx);
                }
                if std::arch::is_x86_feature_detected!("avx512bf16") {
                    return Some(Kernel::Bf16Avx512);
                }
            }
            None
        })
    }

    pub fn is_bf16(self) -> bool {
        !matches!(self, Self::F32(_))
    }

    /// The kernel for an `m × k · k × n` product: a bf16 kernel gives way to f32 on a product
    /// with a side shorter than `BF16_MIN_SIDE`, too small to repay rounding and packing its
    /// operands (such products are then exact).
    pub fn for_product(self, m: usize, k: usize, n: usize) -> Self {
        if self.is_bf16() && m.min(k).min(n) < BF16_MIN_SIDE { Self::F32(Isa::Avx512) } else { self }
    }

    /// Whether this kernel is faster than f32 on this CPU's products of transformer sizes, as
    /// measured (`examples/gemm_speed`, 2026-12-02, an Intel Xeon with AMX): AMX 1.3–1.8× the f32
    /// kernel on one core at the shapes of `MiniLM` and bert-base; `vdpbf16ps` there 0.5–0.6×, as its
    /// 512-bit form issues at a quarter of the FMA's rate. Where it pays on other CPUs (AMD Zen 4)
    /// is unmeasured, so only AMX counts.
    pub fn pays(self) -> bool {
        self == Self::Bf16Amx
    }
}

/// A matrix rounded to bf16 once, with the strides of the view it came from: what a
/// mixed-precision product packs from.
struct Bf16Copy {
    bits: Vec<u16>,
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

impl Bf16Copy {
    /// The view's values rounded (to nearest even), compact, in the view's own major order: a
    /// head of the attention's `[tokens, hidden]` matrices copies its columns only.
    fn of(view: &View) -> Self {
        let (rows, cols) = (view.rows, view.cols);
        let row_major = view.col_stride <= view.row_stride;
        let (len, line_stride, step) = if row_major {
            (cols, view.row_stride, view.col_stride)
        } else {
            (rows, view.col_stride, view.row_stride)
        };
        let mut bits = vec![0u16; rows * cols];
        if len > 0 {
            let convert = |(line, to): (usize, &mut [u16])| {
                let start = view.offset + line * line_stride;
                if step == 1 {
                    super::simd::vectorised::<ToBf16>((to, &view.data[start..start + len]));
                } else {
                    let from: Vec<f32> = (0..len).map(|j| view.data[start + j * step]).collect();
                    super::simd::vectorised::<ToBf16>((to, &from));
                }
            };
            if rows * cols > 1 << 16 {
                bits.par_chunks_mut(len).enumerate().for_each(convert);
            } else {
                bits.chunks_mut(len).enumerate().for_each(convert);
            }
        }
        let (row_stride, col_stride) = if row_major { (cols, 1) } else { (1, rows) };
        Self { bits, rows, cols, row_stride, col_stride }
    }

    fn view(&self) -> View<'_, u16> {
        let Self { rows, cols, row_stride, col_stride, .. } = *self;
        View { data: &self.bits, offset: 0, rows, cols, row_stride, col_stride }
    }
}

/// f32 to bf16 bits, rounding to nearest even (NaN stays a quiet NaN): written as integer
/// operations so that the loop vectorises.
struct ToBf16;

impl super::simd::VectorKernel for ToBf16 {
    type Args<'a> = (&'a mut [u16], &'a [f32]);

    // Compiled into the body `simd::vectorised` builds for the CPU's vector instructions.
    #[allow(clippy::inline_always)]
    #[inline(always)]
    fn run((to, from): Self::Args<'_>) {
        for (t, &x) in to.iter_mut().zip(from) {
            let bits = x.to_bits();
            let rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16;
            *t = if x.is_nan() { ((bits >> 16) | 0x40) as u16 } else { rounded as u16 };
        }
    }
}

/// One operand of a product as its packing reads it: f32 values or bf16 bits.
#[derive(Clone, Copy)]
enum Operand<'a> {
    F32(View<'a>),
    Bf16(View<'a, u16>),
}

impl Operand<'_> {
    fn cols(&self) -> usize {
        match self {
            Self::F32(v) => v.cols,
            Self::Bf16(v) => v.cols,
        }
    }

    fn transposed(&self) -> Self {
        match self {
            Self::F32(v) => Self::F32(v.transposed()),
            Self::Bf16(v) => Self::Bf16(v.transposed()),
        }
    }

    /// Packs rows `rows` × depth `depth` into panels of `tile`'s width for A (`is_a`) or B.
    fn pack(&self, tile: Tile, is_a: bool, rows: Range<usize>, depth: Range<usize>, out: &mut [f32]) {
        let width = if is_a { tile.mr } else { tile.nr };
        match self {
            Self::F32(v) => pack(v, rows, depth, width, out),
            // AMX reads A as rows (pairs along each row), everything else packs pairs across rows.
            Self::Bf16(v) => {
                let layout =
                    if is_a && tile.kernel == Kernel::Bf16Amx { Pairs::AlongRows } else { Pairs::AcrossRows };
                let slots = tile.slots(depth.len());
                pack_bf16(v, rows, depth, width, slots, layout, out);
            }
        }
    }
}

/// The register tile of a micro-kernel.
fn tile(kernel: Kernel) -> Tile {
    match kernel {
        Kernel::F32(Isa::Avx512) | Kernel::Bf16Avx512 => Tile { kernel, mr: 12, nr: 32 },
        Kernel::Bf16Amx => Tile { kernel, mr: 32, nr: 32 },
        Kernel::F32(Isa::Avx2) => Tile { kernel, mr: 6, nr: 16 },
    }
}

/// Depth of a packed block: a `KC × NR` panel of B stays in L1 while a tile is computed. bf16
/// panels are half the bytes, so their blocks go twice as deep (fewer passes over C).
const KC: usize = 256;
/// Width of a packed block of B (it stays in L2 while all rows of A pass over it).
const NC: usize = 1024;
/// Most rows of A packed at once (a block of them stays in L2).
const MC: usize = 120;
/// A bf16 product with a side shorter than this runs in f32 (see `Kernel::for_product`): with
/// 128-wide layers (the embedded model) AMX measured 0.5–1.0× the f32 kernel, at 256 0.6–1.8×,
/// at 384 and above 0.9–1.8× (two threads and one).
pub const BF16_MIN_SIDE: usize = 256;
/// Below this many multiply-adds a product runs on one thread: splitting costs more.
const PARALLEL_MIN: usize = 1 << 16;
/// The largest tile of any kernel (AMX's 32 × 32): edge tiles go through a scratch tile this big.
const MAX_TILE: usize = 32 * 32;

/// An `mr × nr` register tile computed by one micro-kernel.
#[derive(Clone, Copy, Debug)]
struct Tile {
    kernel: Kernel,
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
    /// Packed values per row of a panel of depth `kc`: one per step, or one bf16 pair (held
    /// bit for bit in an f32 slot) per two steps, the last pair padded with a zero.
    fn slots(self, kc: usize) -> usize {
        match self.kernel {
            Kernel::F32(_) => kc,
            Kernel::Bf16Avx512 => kc.div_ceil(2),
            // Whole tiles of 16 pairs.
            Kernel::Bf16Amx => kc.div_ceil(2).next_multiple_of(16),
        }
    }

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
        let slots = self.slots(kc);
        assert!(a.len() >= slots * self.mr && b.len() >= slots * self.nr, "packed panels too short");
        assert!(row < out.rows && col < out.cols, "tile outside C");
        let (rows, cols) = (self.mr.min(out.rows - row), self.nr.min(out.cols - col));
        // SAFETY: the tile's rows × cols elements lie inside `out` (asserted above); this thread
        // alone writes them (the caller's promise).
        let c = unsafe { out.ptr.add(row * out.cols + col) };
        if rows == self.mr && cols == self.nr {
            // SAFETY: as above, and the panels' lengths bound the kernel's reads of `a` and `b`;
            // its instruction set was detected at run time (`Isa::detect`).
            unsafe { self.kernel(slots, a.as_ptr(), b.as_ptr(), c, out.cols, accumulate) };
            return;
        }
        let mut scratch = [0f32; MAX_TILE];
        // SAFETY: the scratch tile holds mr × nr values, `nr` apart.
        unsafe { self.kernel(slots, a.as_ptr(), b.as_ptr(), scratch.as_mut_ptr(), self.nr, false) };
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

    /// The micro-kernel itself, on raw pointers, over `slots` packed steps.
    unsafe fn kernel(
        self,
        slots: usize,
        a: *const f32,
        b: *const f32,
        c: *mut f32,
        ldc: usize,
        accumulate: bool,
    ) {
        // SAFETY: passed on from `run`.
        #[cfg(target_arch = "x86_64")]
        unsafe {
            match self.kernel {
                Kernel::F32(Isa::Avx512) => x86::tile_12x32(slots, a, b, c, ldc, accumulate),
                Kernel::F32(Isa::Avx2) => x86::tile_6x16(slots, a, b, c, ldc, accumulate),
                Kernel::Bf16Avx512 => x86::tile_bf16_12x32(slots, a.cast(), b.cast(), c, ldc, accumulate),
                Kernel::Bf16Amx => amx::tile_32x32(slots, a.cast(), b.cast(), c, ldc, accumulate),
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::{
        __m256, __m256i, __m512, __m512bh, _mm256_add_ps, _mm256_fmadd_ps, _mm256_maskload_ps,
        _mm256_maskstore_ps, _mm256_set1_epi32, _mm256_set1_ps, _mm256_setzero_ps, _mm512_add_ps,
        _mm512_dpbf16_ps, _mm512_fmadd_ps, _mm512_mask_storeu_ps, _mm512_maskz_loadu_epi32,
        _mm512_maskz_loadu_ps, _mm512_set1_epi32, _mm512_set1_ps, _mm512_setzero_ps,
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

    /// 16 lanes of bf16 pairs (one pair per 32-bit lane).
    #[target_feature(enable = "avx512f,avx512bf16")]
    unsafe fn load_pairs(p: *const u32) -> __m512bh {
        // SAFETY: `__m512i` and `__m512bh` are both 64 bytes of lanes, any bits valid.
        unsafe { std::mem::transmute(_mm512_maskz_loadu_epi32(0xFFFF, p.cast())) }
    }

    /// One bf16 pair in every lane.
    #[target_feature(enable = "avx512f,avx512bf16")]
    fn splat_pair(pair: u32) -> __m512bh {
        // SAFETY: as in `load_pairs`.
        unsafe { std::mem::transmute(_mm512_set1_epi32(pair.cast_signed())) }
    }

    /// `acc + a.lo·b.lo + a.hi·b.hi` in each lane (the two products of a pair).
    #[target_feature(enable = "avx512f,avx512bf16")]
    fn dot_pairs(a: __m512bh, b: __m512bh, acc: __m512) -> __m512 {
        _mm512_dpbf16_ps(acc, a, b)
    }

    /// A micro-kernel of `rows` rows and two vectors of `$lanes` columns. Each accumulator is a
    /// named local (an array of vectors makes LLVM spill them to the stack).
    /// `$packed` is what a packed slot holds (an f32, or a bf16 pair), loaded from B by `$load_b`
    /// and broadcast from A by `$splat`; `$fma(a, b, acc)` adds their products.
    macro_rules! tile_kernel {
        ($name:ident, $feature:literal, $lanes:literal, $packed:ty, $zero:ident, $load_b:ident, $load:ident,
         $store:ident, $splat:ident, $fma:ident, $add:ident, $($row:literal $lo:ident $hi:ident),+) => {
            #[target_feature(enable = $feature)]
            pub unsafe fn $name(kc: usize, a: *const $packed, b: *const $packed, c: *mut f32, ldc: usize, accumulate: bool) {
                const MR: usize = [$($row),+].len();
                $( let mut $lo = $zero(); let mut $hi = $zero(); )+
                for p in 0..kc {
                    // SAFETY (every block here): bounds checked by `Tile::run`.
                    // `wrapping_add`: `add` carries an overflow check in debug builds.
                    let (b0, b1) = unsafe {
                        ($load_b(b.wrapping_add(p * 2 * $lanes)), $load_b(b.wrapping_add(p * 2 * $lanes + $lanes)))
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
    tile_kernel!(tile_12x32, "avx512f", 16, f32, _mm512_setzero_ps, load16, load16, store16, _mm512_set1_ps,
        _mm512_fmadd_ps, _mm512_add_ps, 0 c0 d0, 1 c1 d1, 2 c2 d2, 3 c3 d3, 4 c4 d4, 5 c5 d5, 6 c6 d6, 7 c7 d7,
        8 c8 d8, 9 c9 d9, 10 c10 d10, 11 c11 d11);
    // 6 rows × 16 columns: 12 accumulators, within AVX2's 16 registers.
    tile_kernel!(tile_6x16, "avx2,fma", 8, f32, _mm256_setzero_ps, load8, load8, store8, _mm256_set1_ps,
        _mm256_fmadd_ps, _mm256_add_ps, 0 c0 d0, 1 c1 d1, 2 c2 d2, 3 c3 d3, 4 c4 d4, 5 c5 d5);
    // The 12 × 32 tile on bf16 pairs: each step covers two of the shared dimension.
    tile_kernel!(tile_bf16_12x32, "avx512f,avx512bf16", 16, u32, _mm512_setzero_ps, load_pairs, load16, store16,
        splat_pair, dot_pairs, _mm512_add_ps, 0 c0 d0, 1 c1 d1, 2 c2 d2, 3 c3 d3, 4 c4 d4, 5 c5 d5, 6 c6 d6,
        7 c7 d7, 8 c8 d8, 9 c9 d9, 10 c10 d10, 11 c11 d11);
}

/// Intel AMX: eight tile registers of up to 16 rows × 64 bytes and a unit that multiplies them.
/// Rust has no stable AMX intrinsics, so the instructions are written as inline assembly.
#[cfg(target_arch = "x86_64")]
mod amx {
    use std::arch::asm;

    /// The tile configuration (`ldtilecfg`'s 64 bytes): palette 1, the shape of each tile.
    #[repr(C, align(64))]
    struct Config {
        palette: u8,
        start_row: u8,
        reserved: [u8; 14],
        bytes_per_row: [u16; 16],
        rows: [u8; 16],
    }

    /// Eight tiles of 16 rows × 64 bytes: C in 0–3 (16 × 16 f32 each), A in 4–5 (16 rows of 16
    /// bf16 pairs), B in 6–7 (16 pairs of steps × 16 columns).
    const CONFIG: Config = Config {
        palette: 1,
        start_row: 0,
        reserved: [0; 14],
        bytes_per_row: [64, 64, 64, 64, 64, 64, 64, 64, 0, 0, 0, 0, 0, 0, 0, 0],
        rows: [16, 16, 16, 16, 16, 16, 16, 16, 0, 0, 0, 0, 0, 0, 0, 0],
    };

    /// Whether this CPU has AMX-BF16 and Linux lets this process use it: the tile data is off
    /// for every process until it asks (`arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)`).
    pub fn available() -> bool {
        // CPUID leaf 7: EDX bit 22 is AMX-BF16, bit 24 AMX-TILE.
        let leaf = std::arch::x86_64::__cpuid_count(7, 0);
        if leaf.edx & (1 << 22) == 0 || leaf.edx & (1 << 24) == 0 {
            return false;
        }
        #[cfg(target_os = "linux")]
        {
            const ARCH_PRCTL: i64 = 158;
            const ARCH_REQ_XCOMP_PERM: i64 = 0x1023;
            const XFEATURE_XTILEDATA: i64 = 18;
            let status: i64;
            // SAFETY: the arch_prctl system call with these arguments only changes which CPU
            // state this process may use; it reads and writes no memory of ours.
            unsafe {
                asm!("syscall", inlateout("rax") ARCH_PRCTL => status, in("rdi") ARCH_REQ_XCOMP_PERM,
                     in("rsi") XFEATURE_XTILEDATA, lateout("rcx") _, lateout("r11") _, options(nostack));
            }
            status == 0
        }
        #[cfg(not(target_os = "linux"))]
        false
    }

    thread_local! {
        /// Whether this thread has loaded `CONFIG` (tile state is per thread, kept across
        /// context switches).
        static CONFIGURED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }

    /// `C (+)= A · B` for one 32 × 32 tile of C (`ldc` apart): `a` holds 32 rows of `slots` bf16
    /// pairs, `b` `slots` rows of 32 pairs; `slots` is a multiple of 16.
    ///
    /// # Safety
    /// `available()` returned true; the panels hold that much, and C's 32 × 32 tile is the
    /// caller's to write.
    pub unsafe fn tile_32x32(
        slots: usize,
        a: *const u32,
        b: *const u32,
        c: *mut f32,
        ldc: usize,
        accumulate: bool,
    ) {
        if !CONFIGURED.get() {
            // SAFETY: a valid palette-1 configuration, 64-byte aligned.
            unsafe { asm!("ldtilecfg [{}]", in(reg) &CONFIG, options(nostack, readonly)) };
            CONFIGURED.set(true);
        }
        let (a_stride, b_stride, c_stride): (usize, usize, usize) = (slots * 4, 32 * 4, ldc * 4);
        let c_tiles = [c, c.wrapping_add(16), c.wrapping_add(16 * ldc), c.wrapping_add(16 * ldc + 16)];
        // SAFETY (every block here): the caller's promise bounds every tile read and written.
        unsafe {
            if accumulate {
                asm!("tileloadd tmm0, [{c0} + {s}]", "tileloadd tmm1, [{c1} + {s}]",
                     "tileloadd tmm2, [{c2} + {s}]", "tileloadd tmm3, [{c3} + {s}]",
                     c0 = in(reg) c_tiles[0], c1 = in(reg) c_tiles[1], c2 = in(reg) c_tiles[2],
                     c3 = in(reg) c_tiles[3], s = in(reg) c_stride, options(nostack, readonly));
            } else {
                asm!(
                    "tilezero tmm0",
                    "tilezero tmm1",
                    "tilezero tmm2",
                    "tilezero tmm3",
                    options(nostack, nomem)
                );
            }
            for block in 0..slots / 16 {
                let (a0, b0) = (a.wrapping_add(block * 16), b.wrapping_add(block * 16 * 32));
                asm!("tileloadd tmm4, [{a0} + {sa}]", "tileloadd tmm5, [{a1} + {sa}]",
                     "tileloadd tmm6, [{b0} + {sb}]", "tileloadd tmm7, [{b1} + {sb}]",
                     "tdpbf16ps tmm0, tmm4, tmm6", "tdpbf16ps tmm1, tmm4, tmm7",
                     "tdpbf16ps tmm2, tmm5, tmm6", "tdpbf16ps tmm3, tmm5, tmm7",
                     a0 = in(reg) a0, a1 = in(reg) a0.wrapping_add(16 * slots), sa = in(reg) a_stride,
                     b0 = in(reg) b0, b1 = in(reg) b0.wrapping_add(16), sb = in(reg) b_stride,
                     options(nostack, readonly));
            }
            asm!("tilestored [{c0} + {s}], tmm0", "tilestored [{c1} + {s}], tmm1",
                 "tilestored [{c2} + {s}], tmm2", "tilestored [{c3} + {s}], tmm3",
                 c0 = in(reg) c_tiles[0], c1 = in(reg) c_tiles[1], c2 = in(reg) c_tiles[2],
                 c3 = in(reg) c_tiles[3], s = in(reg) c_stride, options(nostack));
        }
    }
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

/// How bf16 pairs lie in a packed panel.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pairs {
    /// For each pair of steps, one pair per row (what `vdpbf16ps` and AMX's B tiles read).
    AcrossRows,
    /// Row after row, each row's pairs side by side (AMX's A tiles).
    AlongRows,
}

/// `pack` for bf16 bits: panel `q` holds `slots` pairs per row (`m[q*width + i][2p]`,
/// `m[q*width + i][2p + 1]`) as the low and high halves of 32 bits, kept in f32 slots bit for
/// bit, laid out as `layout` says; zero past the last row and the last step.
fn pack_bf16(
    m: &View<u16>,
    rows: Range<usize>,
    depth: Range<usize>,
    width: usize,
    slots: usize,
    layout: Pairs,
    out: &mut [f32],
) {
    match (width, layout) {
        (12, Pairs::AcrossRows) => pack_pairs::<12, false>(m, rows, depth, slots, out),
        (32, Pairs::AcrossRows) => pack_pairs::<32, false>(m, rows, depth, slots, out),
        (32, Pairs::AlongRows) => pack_pairs::<32, true>(m, rows, depth, slots, out),
        _ => unreachable!("no bf16 kernel has panels {width} wide"),
    }
}

fn pack_pairs<const W: usize, const ALONG_ROWS: bool>(
    m: &View<u16>,
    rows: Range<usize>,
    depth: Range<usize>,
    slots: usize,
    out: &mut [f32],
) {
    let pairs = depth.len().div_ceil(2);
    let pair = |lo: u16, hi: u16| f32::from_bits(u32::from(lo) | (u32::from(hi) << 16));
    let at = |i: usize, p: usize| if ALONG_ROWS { i * slots + p } else { p * W + i };
    for (q, panel) in out.chunks_exact_mut(slots * W).enumerate() {
        let r0 = rows.start + q * W;
        let live = W.min(rows.end - r0);
        if live < W || slots > pairs {
            panel.fill(0.0);
        }
        if m.row_stride == 1 {
            // Each step's values for the panel's rows lie side by side.
            let at_step = |k: usize| &m.data[m.offset + k * m.col_stride + r0..][..live];
            for p in 0..pairs {
                let k = depth.start + 2 * p;
                let lo = at_step(k);
                if k + 1 < depth.end {
                    let hi = at_step(k + 1);
                    (0..live).for_each(|i| panel[at(i, p)] = pair(lo[i], hi[i]));
                } else {
                    (0..live).for_each(|i| panel[at(i, p)] = pair(lo[i], 0));
                }
            }
        } else if m.col_stride == 1 {
            // Each row's steps lie side by side: its pairs are adjacent already.
            for i in 0..live {
                let row = &m.data[m.offset + (r0 + i) * m.row_stride + depth.start..][..depth.len()];
                for (p, two) in row.chunks(2).enumerate() {
                    panel[at(i, p)] = pair(two[0], two.get(1).copied().unwrap_or(0));
                }
            }
        } else {
            for i in 0..live {
                for p in 0..pairs {
                    let k = depth.start + 2 * p;
                    let hi = if k + 1 < depth.end { m.at(r0 + i, k + 1) } else { 0 };
                    panel[at(i, p)] = pair(m.at(r0 + i, k), hi);
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
pub fn gemm(kernel: Kernel, a: &View, b: &View, c: &mut [f32], parallel: bool, start: Start) {
    assert_eq!(c.len(), a.rows * b.cols, "output has the wrong size");
    let out = Out { ptr: c.as_mut_ptr(), rows: a.rows, cols: b.cols };
    // SAFETY: `out` is `c`, borrowed mutably here, and initialised.
    unsafe { product_into(kernel, a, b, &out, parallel, start) };
}

/// `a · b` (plus `bias` in every row) as a new row-major `a.rows × b.cols` matrix. Unlike
/// `gemm` into a `vec![0.0; …]`, the output is never zero-filled first (a serial pass over
/// every product's output, which profiles showed).
pub fn product(kernel: Kernel, a: &View, b: &View, parallel: bool, bias: Option<&[f32]>) -> Vec<f32> {
    let len = a.rows * b.cols;
    let mut c = Vec::with_capacity(len);
    let out = Out { ptr: c.as_mut_ptr(), rows: a.rows, cols: b.cols };
    let start = bias.map_or(Start::Zero, Start::Bias);
    // SAFETY: `out` is `c`'s allocation of `len` values; with `Start::Zero` or `Start::Bias`
    // every element is written before it is read, and all of them are written.
    unsafe {
        product_into(kernel, a, b, &out, parallel, start);
        c.set_len(len);
    }
    c
}

/// The product into `out`.
///
/// # Safety
/// `out` must be valid for `a.rows × b.cols` writes, used by nothing else meanwhile, and
/// initialised unless `start` is `Zero` or `Bias`.
unsafe fn product_into(kernel: Kernel, a: &View, b: &View, out: &Out, parallel: bool, start: Start) {
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
    super::census::record(kernel, a, b, parallel);
    // AMX runs only once the process has the tile permission, which `Kernel::bf16` asks for
    // (else its instructions fault).
    assert!(
        kernel != Kernel::Bf16Amx || Kernel::bf16() == Some(Kernel::Bf16Amx),
        "AMX is not available here"
    );
    let tile = tile(kernel);
    let threads = if parallel && m * n * k >= PARALLEL_MIN { rayon::current_num_threads() } else { 1 };
    // Mixed precision: each operand is rounded to bf16 once, not at every packing of it.
    let rounded = kernel.is_bf16().then(|| (Bf16Copy::of(a), Bf16Copy::of(b)));
    let (a, b) = match &rounded {
        Some((a, b)) => (Operand::Bf16(a.view()), Operand::Bf16(b.view())),
        None => (Operand::F32(*a), Operand::F32(*b)),
    };
    let (a, b) = (&a, &b);
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
    a: &Operand,
    b: &Operand,
    out: &Out,
    part: &Part,
    start: Start,
    a_packed: &mut Vec<f32>,
    b_packed: &mut Vec<f32>,
) {
    let k = a.cols();
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
        let depth = if tile.kernel.is_bf16() { 2 * KC } else { KC };
        for pc in (0..k).step_by(depth) {
            let kc = depth.min(k - pc);
            let accumulate = pc > 0 || !matches!(start, Start::Zero);
            let slots = tile.slots(kc);
            let b_len = nc.div_ceil(tile.nr) * slots * tile.nr;
            grow(b_packed, b_len);
            b_columns.pack(tile, false, jc..jc + nc, pc..pc + kc, &mut b_packed[..b_len]);
            // Whole tiles per block of A: a tile cut by a block's end would go through the
            // scratch tile and be summed in another order than its neighbours, so a row's result
            // would depend on where the thread's part began.
            let rows_per_block = MC / tile.mr * tile.mr;
            for ic in part.rows.clone().step_by(rows_per_block) {
                let mc = rows_per_block.min(part.rows.end - ic);
                let a_len = mc.div_ceil(tile.mr) * slots * tile.mr;
                grow(a_packed, a_len);
                a.pack(tile, true, ic..ic + mc, pc..pc + kc, &mut a_packed[..a_len]);
                for (q, b_panel) in b_packed[..b_len].chunks_exact(slots * tile.nr).enumerate() {
                    for (r, a_panel) in a_packed[..a_len].chunks_exact(slots * tile.mr).enumerate() {
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

    /// What a kernel makes of an input before multiplying it.
    type Rounding = fn(f32) -> f32;

    /// The kernels this CPU runs, each with the inputs it multiplies: f32 kernels the values
    /// themselves, the bf16 kernel the values rounded to bf16 (by `half`, independently of ours).
    fn kernels() -> Vec<(Kernel, Rounding)> {
        let exact: Rounding = |x| x;
        let mut kernels: Vec<(Kernel, Rounding)> = [Isa::Avx512, Isa::Avx2]
            .into_iter()
            .filter(|isa| match Isa::detect() {
                Some(Isa::Avx512) => true,
                Some(Isa::Avx2) => *isa == Isa::Avx2,
                None => false,
            })
            .map(|isa| (Kernel::F32(isa), exact))
            .collect();
        let rounded: Rounding = |x| half::bf16::from_f32(x).to_f32();
        #[cfg(target_arch = "x86_64")]
        if Isa::detect() == Some(Isa::Avx512) && std::arch::is_x86_feature_detected!("avx512bf16") {
            kernels.push((Kernel::Bf16Avx512, rounded));
        }
        if Kernel::bf16() == Some(Kernel::Bf16Amx) {
            kernels.push((Kernel::Bf16Amx, rounded));
        }
        kernels
    }

    #[test]
    fn every_kernel_matches_the_naive_product_on_edges_blocks_and_strides() {
        let kernels = kernels();
        if kernels.is_empty() {
            check_the_fallback();
        }
        for (kernel, input) in kernels {
            for &(m, k, n) in &SHAPES {
                for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                    let (da, db) = (values(m * k + 3, 1), values(k * n + 3, 2));
                    let (a, b) = (view(&da, m, k, ta), view(&db, k, n, tb));
                    let (ra, rb): (Vec<f32>, Vec<f32>) =
                        (da.iter().copied().map(input).collect(), db.iter().copied().map(input).collect());
                    let want = naive(&view(&ra, m, k, ta), &view(&rb, k, n, tb));
                    for parallel in [false, true] {
                        let mut c = vec![f32::NAN; m * n];
                        gemm(kernel, &a, &b, &mut c, parallel, Start::Zero);
                        let worst = c.iter().zip(&want).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
                        assert!(
                            worst < 1e-3,
                            "{kernel:?} {m}x{k}x{n} ta={ta} tb={tb} parallel={parallel}: off by {worst}"
                        );
                        // Accumulating adds the product to what is there (a bias).
                        let mut c: Vec<f32> = (0..m * n).map(|i| (i % 7) as f32).collect();
                        gemm(kernel, &a, &b, &mut c, parallel, Start::Existing);
                        let worst =
                            (0..m * n).map(|i| (c[i] - (i % 7) as f32 - want[i]).abs()).fold(0f32, f32::max);
                        assert!(worst < 1e-3, "{kernel:?} {m}x{k}x{n} accumulating: off by {worst}");
                        // A fresh output, plain or starting from a bias in every row.
                        let bias = values(n, 3);
                        let plain = product(kernel, &a, &b, parallel, None);
                        let biased = product(kernel, &a, &b, parallel, Some(&bias));
                        let worst = (0..m * n)
                            .map(|i| {
                                (plain[i] - want[i]).abs().max((biased[i] - bias[i % n] - want[i]).abs())
                            })
                            .fold(0f32, f32::max);
                        assert!(worst < 1e-3, "{kernel:?} {m}x{k}x{n} fresh output: off by {worst}");
                    }
                }
            }
        }
    }

    #[test]
    fn bf16_kernels_round_their_inputs_and_keep_f32_sums() {
        for (kernel, _) in kernels().into_iter().filter(|(k, _)| k.is_bf16()) {
            bf16_kernel_rounds_inputs_and_keeps_f32_sums(kernel);
        }
    }

    fn bf16_kernel_rounds_inputs_and_keeps_f32_sums(kernel: Kernel) {
        // 1 + 2⁻⁹ is not a bf16 (8 significant bits): it rounds to 1, so a·b = k, not k·(1 + 2⁻⁹)².
        let k = 300;
        let a = vec![1.0 + 1.0 / 512.0; k];
        let (av, bv) = (rows_view(&a, 1, k), rows_view(&a, k, 1));
        assert_eq!(product(kernel, &av, &bv, false, None), [k as f32]);
        // Sums stay in f32: 1024 + 299 · 2⁻⁸ needs 19 significant bits, which f32 has and bf16 not.
        let mut a = vec![1.0 / 256.0; k];
        a[0] = 1024.0;
        let ones = vec![1.0; k];
        let got = product(kernel, &rows_view(&a, 1, k), &rows_view(&ones, k, 1), false, None);
        assert_eq!(got, [1024.0 + 299.0 / 256.0]);
        // NaN and infinities pass through.
        let odd = [f32::NAN, 1.0, f32::INFINITY];
        let got = product(kernel, &rows_view(&odd, 3, 1), &rows_view(&[2.0], 1, 1), false, None);
        assert!(got[0].is_nan() && got[1] == 2.0 && got[2] == f32::INFINITY, "{got:?}");
    }

    fn rows_view(data: &[f32], rows: usize, cols: usize) -> View<'_> {
        View { data, offset: 0, rows, cols, row_stride: cols, col_stride: 1 }
    }

    #[test]
    fn every_kernel_gives_the_same_bits_on_one_thread_and_on_several() {
        // Shapes crossing the row blocks (MC) and, for bf16, the 512-deep blocks of the shared
        // dimension, in the layouts a dense layer's forward and backward products take.
        for (kernel, _) in kernels() {
            for &(m, k, n, ta, tb) in
                &[(384, 256, 1024, false, true), (256, 384, 256, true, false), (384, 1024, 256, false, false)]
            {
                let (da, db) = (values(m * k + 3, 1), values(k * n + 3, 2));
                let (a, b) = (view(&da, m, k, ta), view(&db, k, n, tb));
                let serial = product(kernel, &a, &b, false, None);
                for threads in [2, 3] {
                    let pool =
                        rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("a thread pool");
                    let split = pool.install(|| product(kernel, &a, &b, true, None));
                    let differ =
                        serial.iter().zip(&split).filter(|(x, y)| x.to_bits() != y.to_bits()).count();
                    assert_eq!(
                        differ, 0,
                        "{kernel:?} {m}x{k}x{n} on {threads} threads: {differ} values differ"
                    );
                }
            }
        }
    }

    #[test]
    fn thread_parts_cover_the_output_once_in_whole_tiles() {
        let tile = Tile { kernel: Kernel::F32(Isa::Avx512), mr: 12, nr: 32 };
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
        let kernels = kernels();
        if kernels.is_empty() {
            check_the_fallback();
        }
        for threads in [3, 4] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("a thread pool");
            for &(m, k, n) in &[(130, 257, 1100), (300, 70, 65), (40, 300, 700)] {
                let (da, db) = (values(m * k + 3, 1), values(k * n + 3, 2));
                let (a, b) = (view(&da, m, k, false), view(&db, k, n, true));
                for &(kernel, input) in &kernels {
                    let (ra, rb): (Vec<f32>, Vec<f32>) =
                        (da.iter().copied().map(input).collect(), db.iter().copied().map(input).collect());
                    let want = naive(&view(&ra, m, k, false), &view(&rb, k, n, true));
                    let mut c = vec![f32::NAN; m * n];
                    pool.install(|| gemm(kernel, &a, &b, &mut c, true, Start::Zero));
                    let worst = c.iter().zip(&want).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
                    assert!(worst < 1e-3, "{kernel:?} {m}x{k}x{n} on {threads} threads: off by {worst}");
                }
            }
        }
    }

    #[test]
    fn an_empty_shared_dimension_gives_zeros_and_empty_outputs_are_fine() {
        let Some(isa) = Isa::detect() else {
            check_the_fallback();
            return;
        };
        let isa = Kernel::F32(isa);
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
