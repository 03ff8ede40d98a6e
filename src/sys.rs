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

/// Whether a process with this id is alive (Linux; elsewhere assumed alive).
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
