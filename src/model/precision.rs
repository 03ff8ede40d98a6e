//! Mixed precision: whether the matrix products of a run take bf16 inputs (f32 accumulation)
//! or f32 ones. Everything else stays f32: the master weights, the optimiser's moments, layer
//! norms, softmax, the loss and every reduction.
//!
//! As with PyTorch's autocast, the setting belongs to the thread that builds the graph: a run
//! sets it on its own thread for its training and evaluation (`scoped`), each product takes its
//! kernel from it when the product is built, and the backward pass reuses that kernel. Other
//! threads (tests, explanation views, a second run) are not affected.

use std::cell::Cell;

use candle_core::Device;

use super::gemm::Kernel;
use super::simd::Isa;
use crate::error::{Error, Result};

/// The precision of a run's matrix products, as the settings give it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// bf16 where the CPU's bf16 kernel is faster than f32 (AMX), else f32; a run records what
    /// it resolved to.
    #[default]
    Auto,
    /// bf16 inputs, f32 accumulation.
    Bf16,
    F32,
}

impl Precision {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Bf16 => "bf16",
            Self::F32 => "f32",
        }
    }

    /// What `Auto` means on `device`: bf16 on a CPU whose bf16 kernel is faster than its f32
    /// one (AMX, `Kernel::pays`), f32 elsewhere.
    pub fn resolve(self, device: &Device) -> Self {
        match self {
            Self::Auto if device.is_cpu() && Kernel::bf16().is_some_and(Kernel::pays) => Self::Bf16,
            Self::Auto => Self::F32,
            chosen => chosen,
        }
    }

    /// What the products compute in on `device`: `auto` resolved, and bf16 refused where no
    /// kernel of ours runs it (instead of silently computing in f32).
    pub fn on(self, device: &Device) -> Result<Self> {
        let precision = self.resolve(device);
        precision.check(device)?;
        Ok(precision)
    }

    /// Refuses bf16 where no kernel of ours runs it.
    fn check(self, device: &Device) -> Result<()> {
        if self != Self::Bf16 {
            return Ok(());
        }
        if !device.is_cpu() {
            return Err(Error::Config(
                "precision bf16 runs on the CPU kernels only; on a GPU use --precision f32".into(),
            ));
        }
        if Kernel::bf16().is_none() {
            return Err(Error::Config(
                "precision bf16 needs a CPU with AVX-512 BF16 instructions (this one has none); use --precision f32"
                    .into(),
            ));
        }
        Ok(())
    }
}

thread_local! {
    static CURRENT: Cell<Precision> = const { Cell::new(Precision::F32) };
}

/// This thread's precision until the guard is dropped (then the previous one again).
#[must_use = "the precision holds only while the guard lives"]
pub struct Scoped {
    previous: Precision,
}

/// Sets this thread's precision (`Auto` counts as f32: resolve it first).
pub fn scoped(precision: Precision) -> Scoped {
    Scoped { previous: CURRENT.with(|c| c.replace(precision)) }
}

impl Drop for Scoped {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.previous));
    }
}

/// The kernel for a product built on this thread, or `None` where candle's products run
/// (CPUs without AVX2 or AVX-512).
pub fn kernel() -> Option<Kernel> {
    let isa = Isa::detect()?;
    Some(match CURRENT.with(Cell::get) {
        Precision::Bf16 => Kernel::bf16().unwrap_or(Kernel::F32(isa)),
        Precision::Auto | Precision::F32 => Kernel::F32(isa),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_setting_holds_on_its_thread_while_its_guard_lives() {
        let f32_kernel = Isa::detect().map(Kernel::F32);
        assert_eq!(kernel(), f32_kernel, "threads start in f32");
        let bf16 = Kernel::bf16().or(f32_kernel);
        {
            let _bf16 = scoped(Precision::Bf16);
            assert_eq!(kernel(), bf16);
            // Another thread keeps its own setting.
            assert_eq!(std::thread::spawn(kernel).join().expect("thread"), f32_kernel);
            {
                let _f32 = scoped(Precision::F32);
                assert_eq!(kernel(), f32_kernel);
            }
            assert_eq!(kernel(), bf16, "an inner guard restores the outer setting");
        }
        assert_eq!(kernel(), f32_kernel);
    }

    #[test]
    fn auto_resolves_by_device_and_bf16_is_refused_where_it_cannot_run() {
        let cpu = Device::Cpu;
        let auto = Precision::Auto.resolve(&cpu);
        assert_eq!(auto == Precision::Bf16, Kernel::bf16() == Some(Kernel::Bf16Amx));
        assert_eq!(Precision::F32.resolve(&cpu), Precision::F32);
        assert_eq!(Precision::Bf16.on(&cpu).is_ok(), Kernel::bf16().is_some());
        if Kernel::bf16().is_none() {
            let e = Precision::Bf16.on(&cpu).expect_err("refused").to_string();
            assert!(e.contains("AVX-512 BF16") && e.contains("--precision f32"), "{e}");
        }
        assert!(Precision::F32.on(&cpu).is_ok());
    }
}
