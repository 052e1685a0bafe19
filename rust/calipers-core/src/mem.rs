//! Memory budget: every allocation whose size comes from a user argument is checked here
//! first, so an absurd size becomes a clear error naming the argument instead of an abort
//! ("memory allocation of … bytes failed") or the kernel's OOM killer.
//!
//! The budget is `CALIPERS_MAX_MEMORY` (bytes; suffixes K, M, G, T allowed) when set, else the
//! machine's physical memory. Checking against a budget (not only `try_reserve`) matters on
//! Linux, where overcommit lets a huge reservation succeed and the process die on first touch.

use crate::error::{Error, Result};

/// The number of bytes calipers allows one allocation to take.
pub fn budget_bytes() -> u64 {
    std::env::var("CALIPERS_MAX_MEMORY")
        .ok()
        .and_then(|v| parse_bytes(&v))
        .unwrap_or_else(physical_memory_bytes)
}

/// Parses "123", "4G", "512M", "2.5T" (binary multiples) into bytes.
fn parse_bytes(text: &str) -> Option<u64> {
    let t = text.trim();
    let (digits, mult) = match t.chars().last()?.to_ascii_uppercase() {
        'K' => (&t[..t.len() - 1], 1u64 << 10),
        'M' => (&t[..t.len() - 1], 1 << 20),
        'G' => (&t[..t.len() - 1], 1 << 30),
        'T' => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let value: f64 = digits.trim().parse().ok()?;
    (value.is_finite() && value > 0.0).then(|| (value * mult as f64).min(u64::MAX as f64) as u64)
}

/// Total physical memory from `/proc/meminfo`; without it (not Linux), no limit.
fn physical_memory_bytes() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("MemTotal:"))?;
            let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            kib.checked_mul(1024)
        })
        .unwrap_or(u64::MAX)
}

/// Human-readable size: "80.0 GB".
pub fn format_bytes(bytes: u128) -> String {
    const UNITS: [&str; 6] = ["bytes", "kB", "MB", "GB", "TB", "PB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Fails with `Error::Memory` naming `arg` when `count` elements of `elem_bytes` each would
/// exceed the budget. `fix` tells the user what to change.
pub fn ensure_fits(arg: &'static str, count: u128, elem_bytes: u128, fix: &str) -> Result<()> {
    let need = count.saturating_mul(elem_bytes);
    let budget = budget_bytes();
    if need > u128::from(budget) {
        return Err(Error::Memory {
            arg,
            reason: format!(
                "would need {} of memory, more than the {} available (set CALIPERS_MAX_MEMORY \
                 to change the limit); {fix}",
                format_bytes(need),
                format_bytes(u128::from(budget)),
            ),
        });
    }
    Ok(())
}

/// A vector of `len` copies of `value`, after checking the budget and reserving fallibly.
pub fn try_filled<T: Clone>(arg: &'static str, len: usize, value: T, fix: &str) -> Result<Vec<T>> {
    let mut v = try_with_capacity(arg, len, fix)?;
    v.resize(len, value);
    Ok(v)
}

/// An empty vector with room for `len` elements, after checking the budget.
pub fn try_with_capacity<T>(arg: &'static str, len: usize, fix: &str) -> Result<Vec<T>> {
    let elem = std::mem::size_of::<T>().max(1) as u128;
    ensure_fits(arg, len as u128, elem, fix)?;
    let mut v = Vec::new();
    v.try_reserve_exact(len).map_err(|_| Error::Memory {
        arg,
        reason: format!(
            "could not allocate {}; {fix}",
            format_bytes(len as u128 * elem)
        ),
    })?;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sizes() {
        assert_eq!(parse_bytes("1024"), Some(1024));
        assert_eq!(parse_bytes("2K"), Some(2048));
        assert_eq!(parse_bytes("1.5g"), Some(3 << 29));
        assert_eq!(parse_bytes("-1"), None);
        assert_eq!(parse_bytes("x"), None);
    }

    #[test]
    fn refuses_absurd_sizes_naming_the_argument() {
        let err = try_filled::<f64>("n_resamples", usize::MAX / 2, 0.0, "pass fewer").unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("n_resamples: would need"), "{text}");
        assert!(text.contains("pass fewer"), "{text}");
        assert!(matches!(err, Error::Memory { .. }));
    }

    #[test]
    fn allows_small_sizes() {
        assert_eq!(try_filled("n", 3, 1u8, "").unwrap(), vec![1, 1, 1]);
        assert_eq!(format_bytes(80_000_000_000), "80.0 GB");
        assert_eq!(format_bytes(12), "12 bytes");
    }
}
