//! What a training step holds in memory, and what the machine has: a step
//! too large for it is refused before training rather than ending in an
//! allocation failure, which aborts the process (Rust has no stable way to
//! turn that into an error).

/// Bytes candle's graph holds per window sample, per hidden unit, per
/// window of a mini-batch: it keeps every operation's output of the
/// encoder's and the decoder's steps for the backward pass (about 68 f32
/// values per unit and sample). Measured with `/usr/bin/time` on `retrain
/// --data … --steps 1`, batch 64: hidden 75 at windows 250, 500 and 1,000
/// (351, 684, 1,342 MB peak) and hidden 150 at 500 (1,339 MB): 274 bytes
/// over a base of ~26 MB, the same on one thread and two. Rounded up.
const GRAPH_BYTES: u64 = 280;

/// About how many bytes one training step of `batch` windows of `window`
/// samples holds, for an LSTM of `hidden` units.
pub fn step_bytes(window: usize, hidden: usize, batch: usize) -> u64 {
    per_window(window, hidden).saturating_mul(batch as u64)
}

fn per_window(window: usize, hidden: usize) -> u64 {
    GRAPH_BYTES
        .saturating_mul(window as u64)
        .saturating_mul(hidden as u64)
}

/// The largest batch whose step takes at most `bytes`.
pub fn batch_within(window: usize, hidden: usize, bytes: u64) -> usize {
    usize::try_from(bytes / per_window(window, hidden).max(1)).unwrap_or(usize::MAX)
}

/// The memory this process can still take, where the OS tells: the least of
/// the system's available memory (`MemAvailable`), what its cgroup's limit
/// leaves (a container's), and what its address-space limit leaves
/// (`ulimit -v`). `None` elsewhere, or where nothing can be read.
pub fn available_bytes() -> Option<u64> {
    [system(), cgroup(), address_space()]
        .into_iter()
        .flatten()
        .min()
}

/// A `Key:   1234 kB` line's value in bytes, from `/proc`'s text.
fn kb_field(text: &str, key: &str) -> Option<u64> {
    let rest = text.lines().find_map(|l| l.strip_prefix(key))?;
    let kb: u64 = rest
        .trim_start_matches(':')
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    kb.checked_mul(1024)
}

fn system() -> Option<u64> {
    kb_field(
        &std::fs::read_to_string("/proc/meminfo").ok()?,
        "MemAvailable",
    )
}

/// cgroup v2: `memory.max` less `memory.current`, of the process's own
/// group ("max" is no limit).
fn cgroup() -> Option<u64> {
    let own = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let path = own.lines().find_map(|l| l.strip_prefix("0::"))?;
    let dir = std::path::Path::new("/sys/fs/cgroup").join(path.trim_start_matches('/'));
    let read = |name: &str| -> Option<u64> {
        std::fs::read_to_string(dir.join(name))
            .ok()?
            .trim()
            .parse()
            .ok()
    };
    Some(read("memory.max")?.saturating_sub(read("memory.current")?))
}

#[cfg(target_os = "linux")]
fn address_space() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid, writable rlimit for the call's duration.
    if unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut limit) } != 0
        || limit.rlim_cur == libc::RLIM_INFINITY
    {
        return None;
    }
    let used = kb_field(
        &std::fs::read_to_string("/proc/self/status").ok()?,
        "VmSize",
    )?;
    Some(limit.rlim_cur.saturating_sub(used))
}

#[cfg(not(target_os = "linux"))]
fn address_space() -> Option<u64> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The estimate grows with each of the three, and the batch that fits a
    /// budget is the largest whose step stays within it.
    #[test]
    fn a_step_grows_with_window_hidden_and_batch_and_the_fitting_batch_fits() {
        let one = step_bytes(1000, 75, 64);
        // The measured case: 1,342 MB peak with ~26 MB beside the graph.
        assert!((1.2e9..1.45e9).contains(&(one as f64)), "{one}");
        assert_eq!(step_bytes(2000, 75, 64), 2 * one);
        assert_eq!(step_bytes(1000, 150, 64), 2 * one);
        assert_eq!(step_bytes(1000, 75, 32), one / 2);
        let b = batch_within(10_000, 75, 4_000_000_000);
        assert!(step_bytes(10_000, 75, b) <= 4_000_000_000);
        assert!(step_bytes(10_000, 75, b + 1) > 4_000_000_000);
        assert_eq!(batch_within(10_000, 4096, 1000), 0);
        assert_eq!(step_bytes(usize::MAX, usize::MAX, 64), u64::MAX);
    }

    #[test]
    fn proc_fields_are_read_in_bytes() {
        let text = "MemTotal:       24000000 kB\nMemAvailable:   12345 kB\nVmSize:\t  100 kB\n";
        assert_eq!(kb_field(text, "MemAvailable"), Some(12345 * 1024));
        assert_eq!(kb_field(text, "VmSize"), Some(100 * 1024));
        assert_eq!(kb_field(text, "Nothing"), None);
        assert_eq!(kb_field("MemAvailable: lots", "MemAvailable"), None);
    }

    /// On Linux the machine says something, and it is not nothing.
    #[cfg(target_os = "linux")]
    #[test]
    fn linux_tells_what_is_available() {
        let have = available_bytes().expect("/proc/meminfo is read on Linux");
        assert!(have > 0);
    }
}
