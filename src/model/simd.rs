//! Which vector instructions this CPU has, and running element-wise kernels compiled for them.
//! The matrix-product micro-kernels (`gemm`) and the fused ops' loops (`ops`, `dropout`,
//! `attention`) all dispatch through here, so one detection decides for every kernel.

/// Which micro-kernel this CPU runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Isa {
    Avx512,
    Avx2,
}

impl Isa {
    /// The best kernel for this CPU, or `None` where candle's products should be used.
    pub fn detect() -> Option<Self> {
        static DETECTED: std::sync::OnceLock<Option<Isa>> = std::sync::OnceLock::new();
        *DETECTED.get_or_init(|| {
            #[cfg(target_arch = "x86_64")]
            {
                if std::arch::is_x86_feature_detected!("avx512f") {
                    return Some(Isa::Avx512);
                }
                if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
                    return Some(Isa::Avx2);
                }
            }
            None
        })
    }

    /// Runs kernel `K` compiled for this instruction set: its element-wise loops are
    /// vectorised with its registers (16 or 8 lanes) instead of baseline x86-64's 4.
    #[allow(unsafe_code)]
    pub fn vectorised<K: VectorKernel>(self, args: K::Args<'_>) {
        // SAFETY: `Isa::detect` returns a variant only where the CPU has its features.
        #[cfg(target_arch = "x86_64")]
        unsafe {
            match self {
                Isa::Avx512 => with_avx512::<K>(args),
                Isa::Avx2 => with_avx2::<K>(args),
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        K::run(args)
    }
}

/// An element-wise kernel that `Isa::vectorised` compiles for the CPU's vector instructions.
/// A trait rather than a closure: its `run`, marked `#[inline(always)]`, is compiled into the
/// vectorised caller whatever the code-generation units (a closure's body is not).
pub trait VectorKernel {
    type Args<'a>;
    fn run(args: Self::Args<'_>);
}

/// Runs kernel `K` compiled for the CPU's vector instructions where our kernels run (see
/// `Isa::vectorised`), and as plain code elsewhere.
pub fn vectorised<K: VectorKernel>(args: K::Args<'_>) {
    match Isa::detect() {
        Some(isa) => isa.vectorised::<K>(args),
        None => K::run(args),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn with_avx512<K: VectorKernel>(args: K::Args<'_>) {
    K::run(args);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn with_avx2<K: VectorKernel>(args: K::Args<'_>) {
    K::run(args);
}
