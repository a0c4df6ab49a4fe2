//! Builds the native profiler (`leakhound-preload`, a `cdylib`) and hands its bytes to the
//! application (`src/preload.rs`), so that the one `leakhound` file carries it: `cargo
//! build`, `cargo test` and `cargo install --path crates/leakhound` alike, with nothing to build
//! or copy by hand.
//!
//! A cdylib cannot be a dependency of a crate (cargo links rlibs; artifact dependencies are
//! unstable), so this script runs a nested cargo on the library's manifest with a target
//! directory of its own under `OUT_DIR`: it never waits for the lock of the outer build's
//! directory, shares the outer build's jobserver (`CARGO_MAKEFLAGS`), compiler and lock file,
//! and is a no-op when the library is fresh. Always optimised: the library runs inside the
//! profiled program on every malloc, whatever profile leakhound itself is built with.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;

const LIB: &str = "libleakhound_preload.so";

fn main() {
    let out = PathBuf::from(env("OUT_DIR"));
    let manifest_dir = PathBuf::from(env("CARGO_MANIFEST_DIR"));
    let generated = out.join("preload.rs");
    let preload = manifest_dir.join("../leakhound-preload/Cargo.toml");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed={}", preload.display());

    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("linux") {
        // LD_PRELOAD profiling is Linux's; elsewhere the library is neither built nor carried.
        write(
            &generated,
            &none("the native profiler is built for Linux only"),
        );
        return;
    }
    if !preload.is_file() {
        println!(
            "cargo:warning=the native profiler's sources ({}) are not here: this leakhound will \
             not carry it, and `run --native-sites` will need LEAKHOUND_PRELOAD",
            preload.display()
        );
        write(
            &generated,
            &none("it was built without the profiler's sources"),
        );
        return;
    }

    let target = env("TARGET");
    let target_dir = out.join("preload");
    let mut cargo = Command::new(env("CARGO"));
    cargo
        .args(["build", "--release", "--lib", "--manifest-path"])
        .arg(&preload)
        .arg("--target-dir")
        .arg(&target_dir)
        .args(["--target", &target])
        // Symbols and unwind tables stay (stacks through the library stay readable); DWARF
        // line tables of std would make it ten times larger (4.7 MB instead of 0.4 MB).
        .args(["--config", "profile.release.strip=\"debuginfo\""])
        // Set for this script by `cargo clippy` and the outer build; they would lint the
        // library instead of building it, or send it to the outer build's directory.
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("CLIPPY_ARGS")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET_DIR")
        // Flags meant for leakhound (coverage, sanitizers) have no place in a library that
        // interposes malloc in other programs; linker settings still come from cargo's
        // configuration files, which the nested cargo reads too.
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS");
    let done = cargo
        .output()
        .unwrap_or_else(|e| panic!("cannot run cargo ({}) to build {LIB}: {e}", env("CARGO")));
    if !done.status.success() {
        panic!(
            "building the native profiler {LIB} (crates/leakhound-preload) failed; it needs the \
             same C toolchain (cc, a linker) as leakhound itself:\n{}",
            String::from_utf8_lossy(&done.stderr)
        );
    }
    let built = target_dir.join(&target).join("release");
    let lib = built.join(LIB);
    let bytes = std::fs::read(&lib).unwrap_or_else(|e| panic!("{}: {e}", lib.display()));
    let copy = out.join(LIB);
    write_bytes(&copy, &bytes);

    // Rebuild when a source of the library changes: the files cargo says it read (its own and
    // its path dependencies', so a crate it starts using is covered too), not the registry's.
    let root = manifest_dir
        .join("../..")
        .canonicalize()
        .unwrap_or_else(|e| panic!("the workspace of {}: {e}", manifest_dir.display()));
    for dep in dep_info(&built.join("libleakhound_preload.d")) {
        if dep.starts_with(&root) {
            println!("cargo:rerun-if-changed={}", dep.display());
        }
    }
    println!(
        "cargo:rerun-if-changed={}",
        root.join("Cargo.lock").display()
    );
    println!(
        "cargo:rerun-if-changed={}",
        root.join("Cargo.toml").display()
    );

    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    write(
        &generated,
        &format!(
            "/// The profiler library's bytes and a hash of them (the cache file's name).\n\
             const CARRIED: Option<(&[u8], &str)> = Some((include_bytes!({:?}), \"{:016x}\"));\n\
             /// Why the library is not carried, when it is not.\n\
             const NOT_CARRIED: &str = \"\";\n",
            copy.display().to_string(),
            h.finish()
        ),
    );
}

/// The generated constants of a build that does not carry the library, and why.
fn none(why: &str) -> String {
    format!(
        "/// The profiler library's bytes and a hash of them (the cache file's name).\n\
         const CARRIED: Option<(&[u8], &str)> = None;\n\
         /// Why the library is not carried, when it is not.\n\
         const NOT_CARRIED: &str = {why:?};\n"
    )
}

/// The files a cargo dep-info file (`target: a.rs b\ c.rs ...`) lists.
fn dep_info(path: &Path) -> Vec<PathBuf> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    let Some((_, deps)) = text.lines().next().and_then(|l| l.split_once(": ")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = deps.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => cur.extend(chars.next()),
            ' ' => {
                if !cur.is_empty() {
                    out.push(PathBuf::from(std::mem::take(&mut cur)));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(PathBuf::from(cur));
    }
    out
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("cargo sets {name} for build scripts"))
}

fn write(path: &Path, text: &str) {
    write_bytes(path, text.as_bytes());
}

/// Writes only what changed, so that an unchanged library does not rebuild the crate.
fn write_bytes(path: &Path, bytes: &[u8]) {
    if std::fs::read(path).is_ok_and(|old| old == bytes) {
        return;
    }
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}
