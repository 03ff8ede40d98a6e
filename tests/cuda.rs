//! The `cuda` build. Where a GPU is present, a run on `cuda:0` follows the CPU's loss curve step
//! by step: the same weights, batches and dropout masks go through candle's CUDA ops wherever
//! the CPU uses a fused kernel of ours (dense layers, attention, layer norm, GELU, softmax, the
//! embedding lookup, the gradient norm), so every one of those paths is checked at once, forward
//! and backward. Where none is (`scripts/cuda-build-check.sh`, on the driver stub), `cuda:0` is
//! refused before a run exists, with the driver's reason.
//!
//! Run with `cargo test --features cuda --test cuda` (`scripts/gpu-check.sh` on a GPU machine).
#![cfg(feature = "cuda")]

mod common;

use std::sync::mpsc;

use bertbench::model::precision::Precision;
use bertbench::runs::{Start, launch};
use bertbench::train::TrainEvent;
use bertbench::train::event::{Collect, StepMetrics};
use candle_core::Device;
use common::{run_recorded, tiny_run, toy_rows, write_csv};

fn steps(events: &[TrainEvent]) -> Vec<StepMetrics> {
    events.iter().filter_map(|e| if let TrainEvent::Step(s) = e { Some(s.clone()) } else { None }).collect()
}

#[test]
fn a_run_on_the_gpu_follows_the_cpus_curve_or_the_gpu_is_refused() {
    let tmp = tempfile::tempdir().expect("tmp");
    let train = write_csv(&tmp.path().join("train.csv"), &toy_rows(240, 1));
    let valid = write_csv(&tmp.path().join("valid.csv"), &toy_rows(60, 2));
    let mut config = tiny_run(tmp.path(), train, valid);
    config.train.epochs = 2;
    config.precision = Precision::F32;
    let mut on_gpu = config.clone();
    on_gpu.device = "cuda:0".into();

    if let Err(no_gpu) = Device::new_cuda(0) {
        eprintln!("no GPU here ({no_gpu}): checking the refusal");
        let (_tx, rx) = mpsc::channel();
        let Err(refused) = launch(Start::New(Box::new(on_gpu)), &mut Collect::default(), &rx, |_| {}) else {
            panic!("a run on cuda:0 without a GPU should be refused");
        };
        let message = refused.to_string();
        assert!(message.starts_with("device cuda:0"), "{message}");
        assert!(
            !tmp.path().join("runs").exists()
                || std::fs::read_dir(tmp.path().join("runs")).expect("runs").next().is_none(),
            "no run record is left behind"
        );
        return;
    }

    let (cpu_summary, cpu, _) = run_recorded(config);
    let (gpu_summary, gpu, _) = run_recorded(on_gpu);
    let (cpu, gpu) = (steps(&cpu), steps(&gpu));
    assert_eq!(cpu.len(), gpu.len());
    assert!(cpu.len() >= 20, "enough steps to compare: {}", cpu.len());
    for (c, g) in cpu.iter().zip(&gpu) {
        // Sums in another order (cuBLAS, candle's reductions): agreement to float rounding,
        // which training amplifies slowly over the steps.
        let tolerance = 1e-4 * (1.0 + c.step as f64);
        assert!(
            (c.loss - g.loss).abs() <= tolerance * c.loss.abs(),
            "step {}: loss {} on the CPU, {} on the GPU",
            c.step,
            c.loss,
            g.loss
        );
        assert!(
            (c.grad_norm - g.grad_norm).abs() <= 10.0 * tolerance * c.grad_norm,
            "step {}: gradient norm",
            c.step
        );
        assert!(c.gpu_memory.is_none());
        let memory = g.gpu_memory.expect("each step on the GPU reports its memory");
        assert!(memory.used_mib > 0.0 && memory.used_mib <= memory.total_mib, "{memory:?}");
    }
    let accuracy = |s: &bertbench::report::RunSummary| s.valid.as_ref().expect("valid").accuracy;
    let (on_cpu, on_gpu) = (accuracy(&cpu_summary), accuracy(&gpu_summary));
    assert!(
        (on_cpu - on_gpu).abs() <= 1.0 / 60.0,
        "validation accuracy {on_cpu} on the CPU, {on_gpu} on the GPU"
    );
}
