//! The native profiler library that leakhound carries (built into it by `build.rs`), written
//! on first use to the user's cache directory, so that the one `leakhound` file is all a
//! machine needs for `run --native-sites`.
//!
//! The file is `libleakhound_preload-HASH.so` (a hash of its bytes, so that leakhound versions
//! never share or overwrite each other's) in `$XDG_CACHE_HOME/leakhound` or
//! `~/.cache/leakhound`, a directory of mode 0700 owned by the user: a library that other
//! users could replace would run its code in every profiled program. It is written to a
//! temporary file and renamed into place (two leakhounds starting at once both succeed), and
//! compared with the carried bytes before every use: a truncated or damaged copy is replaced.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::user;

// `CARRIED: Option<(&[u8], &str)>` (bytes, hash) and `NOT_CARRIED` (why not), from build.rs.
include!(concat!(env!("OUT_DIR"), "/preload.rs"));

/// How the cache file's name starts; the symbolizer leaves out frames of modules named so
/// (the profiler's own).
pub const FILE_STEM: &str = "libleakhound_preload";

/// The profiler library this leakhound carries.
#[derive(Debug, Clone, Copy)]
pub struct Carried {
    /// The library.
    pub bytes: &'static [u8],
    /// A hash of the bytes, 16 hex digits.
    pub hash: &'static str,
}

impl Carried {
    /// The library built into this leakhound, or why there is none.
    pub fn get() -> Result<Carried, &'static str> {
        CARRIED
            .map(|(bytes, hash)| Carried { bytes, hash })
            .ok_or(NOT_CARRIED)
    }

    /// Its file name in the cache: `libleakhound_preload-HASH.so`.
    pub fn file_name(&self) -> String {
        format!("{FILE_STEM}-{}.so", self.hash)
    }
}

/// `$XDG_CACHE_HOME/leakhound` or `~/.cache/leakhound`.
pub fn cache_dir() -> Option<PathBuf> {
    dirs::cache_dir().map(|d| d.join("leakhound"))
}

/// The carried library as a file in the user's cache, written there if it is not yet (or not
/// intact). Errors are the user's to fix (a cache directory that cannot be written, or that
/// someone else owns) and say how.
pub fn carried_library() -> anyhow::Result<PathBuf> {
    let lib = Carried::get().map_err(|why| {
        user(format!(
            "this leakhound does not carry the native profiler library ({why}); set \
             LEAKHOUND_PRELOAD to a {FILE_STEM}.so built with `cargo build --release -p \
             leakhound-preload`"
        ))
    })?;
    let dir = cache_dir().ok_or_else(|| {
        user(
            "no cache directory for the native profiler library: neither XDG_CACHE_HOME nor \
             HOME is set; set one of them",
        )
    })?;
    install(&dir, lib.bytes, &lib.file_name()).map_err(|e| {
        user(format!(
            "cannot put the native profiler library into {}: {e} (set XDG_CACHE_HOME to a \
             directory of your own, or LEAKHOUND_PRELOAD to a copy of the library)",
            dir.display()
        ))
    })
}

/// `bytes` as the file `dir/name`: kept when it holds exactly them, else written anew. `dir`
/// is created with mode 0700, and must be the user's own and writable by no one else.
pub fn install(dir: &Path, bytes: &[u8], name: &str) -> Result<PathBuf, String> {
    private_dir(dir)?;
    let path = dir.join(name);
    if std::fs::read(&path).is_ok_and(|have| have == bytes) {
        return Ok(path);
    }
    // A name no other process uses (pid) nor this one twice (the clock).
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let tmp = dir.join(format!(".{name}.{}.{nanos}.tmp", std::process::id()));
    let written = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(format!("writing {}: {e}", path.display()));
    }
    Ok(path)
}

/// Creates `dir` (mode 0700) or checks that it is the user's and closed to others (made so
/// when it is the user's but open).
fn private_dir(dir: &Path) -> Result<(), String> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("creating it: {e}"))?;
    let meta = std::fs::metadata(dir).map_err(|e| e.to_string())?;
    if !meta.is_dir() {
        return Err("not a directory".into());
    }
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me {
        return Err(format!(
            "it belongs to uid {}, not to you (uid {me}): a library someone else can replace \
             would run in every program you profile",
            meta.uid()
        ));
    }
    if meta.mode() & 0o777 != 0o700 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| format!("making it private (mode 0700): {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().mode() & 0o777
    }

    #[test]
    fn writes_once_then_reuses_and_replaces_a_damaged_copy() {
        let home = tempfile::tempdir().unwrap();
        let dir = home.path().join("cache/leakhound");
        let p = install(&dir, b"library", "lib-1.so").unwrap();
        assert_eq!(p, dir.join("lib-1.so"));
        assert_eq!(std::fs::read(&p).unwrap(), b"library");
        assert_eq!(mode(&dir), 0o700);
        let written = std::fs::metadata(&p).unwrap().modified().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        install(&dir, b"library", "lib-1.so").unwrap();
        let again = std::fs::metadata(&p).unwrap().modified().unwrap();
        assert_eq!(written, again, "an intact copy is not rewritten");
        for damaged in [&b"libr"[..], b"librarz", b""] {
            std::fs::write(&p, damaged).unwrap();
            install(&dir, b"library", "lib-1.so").unwrap();
            assert_eq!(std::fs::read(&p).unwrap(), b"library");
        }
        let names: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary file is left: {names:?}");
    }

    #[test]
    fn an_open_directory_is_closed_and_a_file_in_the_way_is_an_error() {
        let home = tempfile::tempdir().unwrap();
        let dir = home.path().join("lh");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        install(&dir, b"x", "l.so").unwrap();
        assert_eq!(mode(&dir), 0o700);
        let file = home.path().join("file");
        std::fs::write(&file, b"").unwrap();
        let e = install(&file, b"x", "l.so").unwrap_err();
        assert!(
            e.contains("creating it") || e.contains("not a directory"),
            "{e}"
        );
    }

    #[test]
    fn this_build_carries_the_library() {
        let lib = Carried::get().expect("built on Linux with the profiler's sources");
        assert!(lib.bytes.starts_with(b"\x7fELF"), "a shared object");
        assert_eq!(lib.hash.len(), 16);
        assert!(lib.file_name().starts_with(FILE_STEM));
    }
}
