//! The preload library and the test programs, built for tests: shared by this crate's tests
//! and leakhound's end-to-end tests (which include this file by path).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The preload library in `profile_dir` (target/<profile>), where leakhound looks for it next
/// to its executable. `cargo test` does not build a cdylib for integration tests (there is
/// nothing to link), so the first call builds it with the same cargo, profile and target
/// directory (a no-op when it is fresh).
pub fn build_preload(profile_dir: &Path) -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let mut cargo = Command::new(env!("CARGO"));
            cargo
                .args([
                    "build",
                    "--quiet",
                    "-p",
                    "leakhound-preload",
                    "--target-dir",
                ])
                .arg(profile_dir.parent().unwrap());
            if profile_dir.ends_with("release") {
                cargo.arg("--release");
            }
            assert!(
                cargo.status().expect("cargo").success(),
                "building the preload"
            );
            let so = profile_dir.join("libleakhound_preload.so");
            assert!(so.exists(), "{} not built", so.display());
            so
        })
        .clone()
}

/// Compiles one of the test programs (crates/leakhound-preload/tests/programs, C or C++ by
/// extension) into `dir` the way the issue asks, optimised, without frame pointers, with
/// debug information, plus `extra` flags.
pub fn compile_program(dir: &Path, source: &str, extra: &[&str]) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../leakhound-preload/tests/programs")
        .join(source);
    let out = dir.join(format!("{}{}", source.replace('.', "_"), extra.join("")));
    let compiler = if source.ends_with(".cpp") {
        "g++"
    } else {
        "gcc"
    };
    let ok = Command::new(compiler)
        .args(["-O2", "-fomit-frame-pointer", "-g", "-pthread"])
        .args(extra)
        .arg("-o")
        .arg(&out)
        .arg(&src)
        .status()
        .unwrap_or_else(|e| panic!("{compiler}: {e}"));
    assert!(ok.success(), "{compiler} {}", src.display());
    out
}
