//! The memory budget: every buffer whose size comes from the input (options, the raster's size,
//! a model's shapes) is checked against it before it is made, so that a request too large for
//! the machine is refused with a message naming the option to change, instead of the allocator
//! aborting the process (and the host: QGIS, a C program, Python) or the kernel's OOM killer
//! ending it later.
//!
//! The budget is the memory the system says is available now (`MemAvailable` plus free swap in
//! `/proc/meminfo`), or `RASTRUM_MEMORY_LIMIT` (bytes, or with a K, M, G or T suffix) when set.
//! Buffers are then reserved fallibly (`try_reserve_exact`), which catches what the check cannot
//! see (another process taking the memory meanwhile, an address-space limit).

use crate::error::{Error, Result};

/// The environment variable that sets the budget instead of the system's available memory.
pub const LIMIT_VAR: &str = "RASTRUM_MEMORY_LIMIT";

/// Bytes a run may use, and where that figure comes from (for messages).
#[derive(Debug, Clone, PartialEq)]
pub struct Budget {
    pub bytes: u128,
    pub source: String,
}

/// `12G`, `512M`, `1.5G`, `1048576`: binary units (K = 1024).
fn parse_size(text: &str) -> Option<u128> {
    let t = text.trim();
    let (digits, unit) = match t.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => t.split_at(i),
        None => (t, ""),
    };
    let shift = match unit.trim().to_ascii_uppercase().trim_end_matches("IB").trim_end_matches('B') {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        _ => return None,
    };
    let v: f64 = digits.trim().parse().ok()?;
    (v.is_finite() && v >= 0.0).then(|| (v * (1u128 << shift) as f64) as u128)
}

/// `MemAvailable + SwapFree` of `/proc/meminfo`'s text, in bytes.
fn available_in(meminfo: &str) -> Option<u128> {
    let field = |name: &str| -> Option<u128> {
        let line = meminfo.lines().find(|l| l.starts_with(name))?;
        let kb: u128 = line[name.len()..].trim().trim_end_matches("kB").trim().parse().ok()?;
        Some(kb * 1024)
    };
    Some(field("MemAvailable:")? + field("SwapFree:").unwrap_or(0))
}

/// The budget now (read at each check: the memory available changes while a host runs).
pub fn budget() -> Result<Budget> {
    if let Ok(text) = std::env::var(LIMIT_VAR) {
        let bytes = parse_size(&text).ok_or_else(|| {
            Error::invalid(format!("{LIMIT_VAR}={text:?}: expected a size in bytes, or with K, M, G or T (such as 8G)"))
        })?;
        return Ok(Budget { bytes, source: format!("{LIMIT_VAR}={text}") });
    }
    Ok(match std::fs::read_to_string("/proc/meminfo").ok().as_deref().and_then(available_in) {
        Some(bytes) => Budget { bytes, source: "the memory available on this machine".into() },
        // Without /proc the allocator's fallible reservation is the only check.
        None => Budget { bytes: u128::MAX, source: "no limit known".into() },
    })
}

/// `1.5 GB`-style text for messages.
pub fn human(bytes: u128) -> String {
    let units = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < units.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{v:.1} {}", units[u])
    }
}

/// Refuses `bytes` (None: past the integer range) for `what` when over the budget; `change` says
/// which option lowers it.
pub fn check(bytes: Option<u128>, what: &str, change: &str) -> Result<()> {
    let budget = budget()?;
    match bytes {
        Some(b) if b <= budget.bytes => Ok(()),
        _ => Err(too_much(bytes, &budget, what, change)),
    }
}

fn too_much(bytes: Option<u128>, budget: &Budget, what: &str, change: &str) -> Error {
    let needed = bytes.map_or_else(|| "more than any machine has".to_string(), human);
    let limit = if budget.bytes == u128::MAX { String::new() } else { format!(" ({})", human(budget.bytes)) };
    Error::invalid(format!(
        "{what} needs {needed}, more than {}{limit}: {change} (or set {LIMIT_VAR} if the memory is there)",
        budget.source
    ))
}

/// The product of `dims` (sizes, counts), or None past the integer range.
pub fn product(dims: &[usize]) -> Option<u128> {
    dims.iter().try_fold(1u128, |acc, &d| acc.checked_mul(d as u128))
}

/// A vector of `n` default values, checked against the budget and reserved fallibly.
pub fn zeros<T: Default + Clone>(n: usize, what: &str, change: &str) -> Result<Vec<T>> {
    let bytes = (n as u128).checked_mul(std::mem::size_of::<T>() as u128);
    check(bytes, what, change)?;
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| {
        let budget = Budget { bytes: 0, source: "what the allocator could give".into() };
        too_much(bytes, &budget, what, change)
    })?;
    v.resize(n, T::default());
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!(parse_size("1048576"), Some(1 << 20));
        assert_eq!(parse_size("8G"), Some(8 << 30));
        assert_eq!(parse_size("512 MiB"), Some(512 << 20));
        assert_eq!(parse_size("1.5k"), Some(1536));
        assert_eq!(parse_size("2TB"), Some(2 << 40));
        assert_eq!(parse_size("lots"), None);
        assert_eq!(parse_size("-1G"), None);
        assert_eq!(parse_size("3X"), None);
    }

    #[test]
    fn available_memory_is_mem_available_plus_free_swap() {
        let text = "MemTotal:       24000000 kB\nMemFree:  100 kB\nMemAvailable:   20000000 kB\nSwapFree:  1000 kB\n";
        assert_eq!(available_in(text), Some((20_000_000 + 1000) * 1024));
        assert_eq!(available_in("MemAvailable: 10 kB\n"), Some(10 * 1024));
        assert_eq!(available_in("MemFree: 10 kB\n"), None);
    }

    #[test]
    fn requests_past_any_machine_are_refused_with_the_option_to_change() {
        let e = zeros::<f32>(usize::MAX / 2, "a batch", "lower 'batch'").unwrap_err().to_string();
        assert!(e.contains("a batch needs") && e.contains("lower 'batch'") && e.contains(LIMIT_VAR), "{e}");
        let e = check(None, "the tile grid", "lower it").unwrap_err().to_string();
        assert!(e.contains("more than any machine has"), "{e}");
        assert_eq!(product(&[usize::MAX, 2, 3]), Some(usize::MAX as u128 * 6));
        assert_eq!(product(&[usize::MAX, usize::MAX, usize::MAX]), None);
        assert_eq!(zeros::<u8>(5, "x", "y").unwrap(), vec![0; 5]);
        assert_eq!(human(1536 << 20), "1.5 GiB");
        assert_eq!(human(12), "12 bytes");
    }
}
