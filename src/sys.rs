//! Facts about this process that the standard library does not offer.

/// Peak resident set size in MiB (Linux `VmHWM`); 0 where unknown.
pub fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

/// Tells glibc's allocator to keep freed memory for reuse instead of handing it back to the
/// kernel at once. Training allocates and frees the same large tensors (activations, gradients)
/// every step; by default glibc maps blocks above its mmap threshold afresh and trims the heap
/// top as soon as it is free, so each step pays page faults, page clearing and TLB shootdowns
/// again (measured: ~20 % of training time in the kernel). With one arena (the trainer's thread
/// shares the main heap, which has no size cap) and high thresholds, memory freed by one step
/// serves the next. The peak resident size does not change: it is the high-water mark of what
/// a step holds at once; `release_free_memory` hands the rest back when a run ends.
/// Call before starting threads. Other allocators and systems: nothing to do.
#[allow(unsafe_code)]
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; it is called before other threads exist.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 30);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
    }
}

/// Tells candle's thread pool to wait for its next op only briefly before sleeping. candle runs
/// its element-wise ops (the additions that sum gradients, above all) on a pool of its own,
/// whose threads spin ~25 000 times after each op; between candle's ops our kernels run on
/// rayon's threads, one per core, so that spinning takes a core from them (perf: 6-7 % of all
/// samples in the spinning thread). A user's own `CANDLE_BARRIER_POOL_SPIN_LIMIT` is kept.
/// Call before starting threads (the variable is read when candle's pool starts).
#[allow(unsafe_code)]
pub fn brief_candle_spinning() {
    const VARIABLE: &str = "CANDLE_BARRIER_POOL_SPIN_LIMIT";
    if std::env::var_os(VARIABLE).is_none() {
        // SAFETY: no other thread exists yet to read the environment concurrently.
        unsafe { std::env::set_var(VARIABLE, "200") };
    }
}

/// Returns the allocator's free memory to the kernel (after a run, so that an idle workbench
/// does not hold a run's high-water mark).
#[allow(unsafe_code)]
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim is thread-safe and only returns unused pages.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Whether a process with this id is alive (Linux; elsewhere assumed alive).
/// This machine's name (Linux: the kernel's), which a run's status records beside its process
/// id: a process id means something only on the machine that wrote it.
pub fn hostname() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let name = name.trim();
    (!name.is_empty()).then(|| name.to_owned())
}

pub fn process_alive(pid: u32) -> bool {
    if cfg!(target_os = "linux") { std::path::Path::new(&format!("/proc/{pid}")).exists() } else { true }
}

#[cfg(test)]
mod tests {
    #[test]
    fn peak_rss_is_measured_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(super::peak_rss_mib() > 1.0);
            assert!(super::process_alive(std::process::id()));
        }
    }
}
