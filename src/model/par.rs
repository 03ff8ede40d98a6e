//! Parallel fills of new buffers: the CPU kernels' outputs are computed in runs (rows or
//! chunks) spread over rayon's threads, each run zeroed by the thread that then fills it.

use candle_core::{CpuStorage, Shape};
use rayon::prelude::*;

/// `len` zeros, written by all threads: `vec![0.0; len]` is one serial pass over the memory,
/// which for an activation-sized buffer showed in profiles while the other threads waited.
pub fn zeros(len: usize) -> Vec<f32> {
    par_runs(len, CHUNK, |_, _| {})
}

/// A new vector of `len` values computed in parallel runs of `width` by `f(run index, run)`.
/// Each run is zeroed by the thread that then fills it, while it is in that thread's cache,
/// instead of the whole vector first (a separate pass over memory, which profiles showed).
#[allow(unsafe_code)]
pub fn par_runs(len: usize, width: usize, f: impl Fn(usize, &mut [f32]) + Sync) -> Vec<f32> {
    let mut out: Vec<f32> = Vec::with_capacity(len);
    out.spare_capacity_mut()[..len].par_chunks_mut(width.max(1)).enumerate().for_each(|(i, run)| {
        run.fill(std::mem::MaybeUninit::new(0.0));
        // SAFETY: every element of `run` was just initialised; `MaybeUninit<f32>` has the
        // layout of `f32`.
        let run = unsafe { &mut *(std::ptr::from_mut(run) as *mut [f32]) };
        f(i, run);
    });
    // SAFETY: the runs cover all `len` elements, each initialised above (a panic in `f` leaves
    // the length at 0).
    unsafe { out.set_len(len) };
    out
}

/// Computes an output of `shape` run by run: `f(out, [input runs])` on each run of `width`
/// values (a row, or a chunk for element-wise ops), in parallel.
pub fn map_runs<const N: usize>(
    shape: &Shape,
    width: usize,
    inputs: [&[f32]; N],
    f: impl Fn(&mut [f32], [&[f32]; N]) + Sync,
) -> (CpuStorage, Shape) {
    let out = par_runs(shape.elem_count(), width, |i, o| {
        let start = i * width;
        f(o, inputs.map(|x| &x[start..start + o.len()]));
    });
    (CpuStorage::F32(out), shape.clone())
}

/// Runs of this many values for element-wise ops.
pub const CHUNK: usize = 4096;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallel_runs_start_zeroed_know_their_index_and_cover_the_output() {
        let out = par_runs(10_000, 7, |i, run| {
            assert!(run.iter().all(|&v| v == 0.0) && (run.len() == 7 || i == 10_000 / 7));
            run.fill(i as f32);
        });
        assert_eq!(out.len(), 10_000);
        assert!(out.iter().enumerate().all(|(j, &v)| v == (j / 7) as f32));
        assert!(par_runs(0, 7, |_, _| panic!("no runs")).is_empty());
    }
}
