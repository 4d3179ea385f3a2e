//! The embedded stdlib written out as files, so that "go to definition" can open them:
//! `$XDG_CACHE_HOME/rlpc/stdlib/<version>-<hash>/std/env/cartpole.rlp` (`~/.cache` when
//! `XDG_CACHE_HOME` is unset, `%LOCALAPPDATA%` on Windows). The hash is of the stdlib's
//! text, so two builds with different stdlibs never share a directory, and files found
//! there with other contents are rewritten.

use crate::sema::modules::STDLIB;
use std::path::{Path, PathBuf};

/// The directory the cache lives under.
fn cache_root() -> PathBuf {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(d) = env("XDG_CACHE_HOME") {
        return d;
    }
    if cfg!(windows)
        && let Some(d) = env("LOCALAPPDATA")
    {
        return d;
    }
    if let Some(h) = env("HOME") {
        return h.join(".cache");
    }
    std::env::temp_dir()
}

/// FNV-1a over every module's name and text.
fn stdlib_hash() -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (name, text) in STDLIB {
        for b in name.bytes().chain([0]).chain(text.bytes()).chain([0]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// The directory this build's stdlib is written to.
pub fn dir() -> PathBuf {
    cache_root().join("rlpc").join("stdlib").join(format!(
        "{}-{:08x}",
        env!("CARGO_PKG_VERSION"),
        stdlib_hash() >> 32
    ))
}

/// The file of the stdlib module `std.a.b` under `dir`: `dir/std/a/b.rlp`.
pub fn module_file(dir: &Path, name: &str) -> PathBuf {
    let mut p = dir.to_path_buf();
    for seg in name.split('.') {
        p.push(seg);
    }
    p.set_extension("rlp");
    p
}

/// `std.env.cartpole` for the compiler's name of a stdlib file, `<stdlib>/env/cartpole.rlp`.
pub fn module_of_source_name(name: &str) -> Option<String> {
    let rest = name
        .strip_prefix(crate::diag::STDLIB_FILES)?
        .strip_prefix('/')?
        .strip_suffix(".rlp")?;
    Some(format!("std.{}", rest.replace('/', ".")))
}

/// Writes every stdlib module under [`dir`] (those already there with the right text
/// are left alone) and returns the directory.
pub fn ensure() -> std::io::Result<PathBuf> {
    let dir = dir();
    for (name, text) in STDLIB {
        let file = module_file(&dir, name);
        if std::fs::read(&file).is_ok_and(|b| b == text.as_bytes()) {
            continue;
        }
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent)?;
        }
        // Replace, never write through: a read-only file from before is removed first.
        let _ = std::fs::remove_file(&file);
        let tmp = file.with_extension(format!("rlp.{}.tmp", std::process::id()));
        std::fs::write(&tmp, text)?;
        // Read-only, as a reminder that editing the copy changes nothing.
        if let Ok(meta) = std::fs::metadata(&tmp) {
            let mut perms = meta.permissions();
            perms.set_readonly(true);
            let _ = std::fs::set_permissions(&tmp, perms);
        }
        std::fs::rename(&tmp, &file)?;
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_files() {
        let d = Path::new("/c");
        assert_eq!(
            module_file(d, "std.env.cartpole"),
            Path::new("/c/std/env/cartpole.rlp")
        );
        assert_eq!(
            module_of_source_name("<stdlib>/env/cartpole.rlp").as_deref(),
            Some("std.env.cartpole")
        );
        assert_eq!(module_of_source_name("/home/x.rlp"), None);
    }
}
