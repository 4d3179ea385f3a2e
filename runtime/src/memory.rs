//! Host memory: how much the machine has, sizes in human units, and allocations that
//! fail with an error instead of aborting the process.
//!
//! Why: a program's tensors are sized by its source, so a typo (`zeros([100000000000])`)
//! asks for hundreds of gigabytes. The compiler compares its estimate with
//! [`memory_limit`] before anything runs; what still fails at run time goes through
//! [`try_zeroed`], so the run stops with a message, not `SIGABRT`.

use std::alloc::Layout;

/// The environment variable that overrides the machine's memory as the limit
/// (`64G`, `512MiB`, a number of bytes, or `none` for no limit).
pub const LIMIT_VAR: &str = "RLPC_MEMORY_LIMIT";

/// The memory programs may use, in bytes: `RLPC_MEMORY_LIMIT` when set, else the
/// machine's total physical memory ([`machine_memory`]). `Ok(None)`: no limit (`none`,
/// or a machine whose memory is unknown). `Err`: the variable does not parse.
pub fn memory_limit() -> Result<Option<u64>, String> {
    match std::env::var(LIMIT_VAR) {
        Ok(text) => parse_limit(&text).map_err(|e| format!("{LIMIT_VAR}: {e}")),
        Err(_) => Ok(machine_memory()),
    }
}

/// Total physical memory in bytes (`MemTotal` of `/proc/meminfo`), `None` where that
/// cannot be read. Total rather than available memory, so that whether a program fits
/// does not depend on what else happens to be running.
pub fn machine_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    meminfo_field(&info, "MemTotal")
}

/// A `/proc/meminfo` field (`MemTotal:  24683792 kB`) in bytes.
fn meminfo_field(info: &str, name: &str) -> Option<u64> {
    let line = info.lines().find(|l| l.split(':').next() == Some(name))?;
    let mut words = line.split(':').nth(1)?.split_whitespace();
    let value: u64 = words.next()?.parse().ok()?;
    let unit = match words.next() {
        None => 1,
        Some("kB") => 1024,
        Some(_) => return None,
    };
    value.checked_mul(unit)
}

/// A memory limit as written by a user: `none`, or a size ([`parse_size`]).
pub fn parse_limit(text: &str) -> Result<Option<u64>, String> {
    match text.trim() {
        "none" | "unlimited" => Ok(None),
        t => parse_size(t).map(Some),
    }
}

/// A size in bytes: `123`, `64G`, `64GB`, `64GiB`, `1.5T`, `512M`, `300k`, `2P` (binary
/// units: `G` is 2^30 bytes); a whole number of bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        "p" | "pb" | "pib" => 50,
        _ => {
            return Err(format!(
                "`{text}` is not a size (examples: 64G, 512MiB, 1000000)"
            ));
        }
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a size (examples: 64G, 512MiB, 1000000)"))?;
    let bytes = value * (1u64 << shift) as f64;
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(format!("`{text}` is too large a size"));
    }
    if bytes.fract() != 0.0 {
        return Err(format!(
            "`{text}` is not a whole number of bytes (a fraction needs a unit: 1.5G)"
        ));
    }
    Ok(bytes as u64)
}

/// `372 GiB`, `1.5 MiB`, `12 B`: three significant digits at most, binary units.
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 || value >= 100.0 {
        format!("{value:.0} {}", UNITS[unit])
    } else if value >= 10.0 {
        format!("{value:.1} {}", UNITS[unit])
    } else {
        format!("{value:.2} {}", UNITS[unit])
    }
}

/// An allocation the allocator refused (or one too large to describe).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("cannot allocate {} ({bytes} bytes)", format_bytes(*bytes))]
pub struct AllocError {
    /// The size asked for, saturated at `u64::MAX` when it overflows.
    pub bytes: u64,
}

/// Element types whose all-zero bit pattern is a valid value (zero, or `false`).
///
/// # Safety
/// Implementors must be plain data for which all-zero bytes are a valid value.
pub unsafe trait Zeroable: Copy {}
// SAFETY: zero bits are 0.0, 0 and false.
unsafe impl Zeroable for f32 {}
unsafe impl Zeroable for f64 {}
unsafe impl Zeroable for i32 {}
unsafe impl Zeroable for u8 {}
unsafe impl Zeroable for bool {}

/// `len` zeros, or an error when the allocator refuses. The memory comes from
/// `alloc_zeroed`, like `vec![0; len]`: large blocks are fresh pages, not written here.
pub fn try_zeroed<T: Zeroable>(len: usize) -> Result<Vec<T>, AllocError> {
    let bytes = (len as u64).saturating_mul(std::mem::size_of::<T>() as u64);
    let layout = Layout::array::<T>(len).map_err(|_| AllocError { bytes })?;
    if layout.size() == 0 {
        return Ok(vec![]);
    }
    // SAFETY: the layout has a non-zero size.
    let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
    if ptr.is_null() {
        return Err(AllocError { bytes });
    }
    // SAFETY: `ptr` was allocated by the global allocator with the layout of `len`
    // elements of `T`, and zero bytes are valid `T`s (`Zeroable`).
    Ok(unsafe { Vec::from_raw_parts(ptr.cast::<T>(), len, len) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_in_binary_units() {
        assert_eq!(parse_size("123"), Ok(123));
        assert_eq!(parse_size("64G"), Ok(64 << 30));
        assert_eq!(parse_size("64GiB"), Ok(64 << 30));
        assert_eq!(parse_size("1.5t"), Ok(3 << 39));
        assert_eq!(parse_size(" 512 MB "), Ok(512 << 20));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("12Q").is_err());
        assert!(parse_size("1e30").is_err());
        assert!(
            parse_size("1.5")
                .unwrap_err()
                .contains("whole number of bytes")
        );
        assert_eq!(parse_size("2P"), Ok(2 << 50));
        assert!(
            parse_size("99999999999P")
                .unwrap_err()
                .contains("too large")
        );
        assert!(parse_size("99999999999T").is_err());
        assert_eq!(parse_limit("none"), Ok(None));
    }

    #[test]
    fn sizes_print_with_three_digits_at_most() {
        assert_eq!(format_bytes(12), "12 B");
        assert_eq!(format_bytes(1536 << 10), "1.50 MiB");
        assert_eq!(format_bytes(400_000_000_000), "373 GiB");
        assert_eq!(format_bytes(23 << 30), "23.0 GiB");
        assert_eq!(format_bytes(u64::MAX), "16.0 EiB");
    }

    #[test]
    fn meminfo_total_is_read_in_bytes() {
        let info = "MemTotal:       24683792 kB\nMemFree:        20000000 kB\n";
        assert_eq!(meminfo_field(info, "MemTotal"), Some(24683792 * 1024));
        assert_eq!(meminfo_field(info, "MemAvailable"), None);
        assert!(machine_memory().is_none_or(|m| m > 0));
    }

    #[test]
    fn refused_allocations_are_errors() {
        // Too large for any layout: an error, not a panic or an abort.
        let e = try_zeroed::<f32>(usize::MAX / 2).unwrap_err();
        assert_eq!(e.bytes, u64::MAX);
        assert!(e.to_string().starts_with("cannot allocate 16.0 EiB"), "{e}");
        // A valid layout the allocator cannot satisfy.
        let e = try_zeroed::<f64>((isize::MAX as usize) / 16).unwrap_err();
        assert!(e.bytes > 1 << 60);
        let v: Vec<f32> = try_zeroed(1000).unwrap();
        assert!(v.len() == 1000 && v.iter().all(|&x| x == 0.0));
        assert!(try_zeroed::<bool>(0).unwrap().is_empty());
    }
}
