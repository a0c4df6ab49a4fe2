//! What `leakhound --version` says about the build: the commit it was built from (when built
//! from a git checkout), the profile, the target and the compiler.

use std::process::Command;

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into());
    let git = |args: &[&str]| -> Option<String> {
        let out = Command::new("git")
            .args(args)
            .current_dir(&dir)
            .output()
            .ok()?;
        let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
        (out.status.success() && !s.is_empty()).then_some(s)
    };
    let (commit, date) = git(&["log", "-1", "--format=%H %cs"])
        .and_then(|s| {
            s.split_once(' ')
                .map(|(c, d)| (c.to_string(), d.to_string()))
        })
        .unwrap_or_default();
    // Built again when the checkout moves: HEAD, the branch it names, packed refs.
    if !commit.is_empty() {
        let mut watched = vec!["HEAD".to_string(), "packed-refs".to_string()];
        watched.extend(git(&["symbolic-ref", "-q", "HEAD"]));
        for w in watched {
            // A path that does not exist would rerun this script on every build.
            let path = git(&["rev-parse", "--path-format=absolute", "--git-path", &w]);
            if let Some(p) = path.filter(|p| std::path::Path::new(p).exists()) {
                println!("cargo:rerun-if-changed={p}");
            }
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let rustc_version = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    for (name, value) in [
        ("LEAKHOUND_COMMIT", commit),
        ("LEAKHOUND_COMMIT_DATE", date),
        ("LEAKHOUND_RUSTC", rustc_version),
        (
            "LEAKHOUND_PROFILE",
            std::env::var("PROFILE").unwrap_or_default(),
        ),
        (
            "LEAKHOUND_TARGET",
            std::env::var("TARGET").unwrap_or_default(),
        ),
    ] {
        println!("cargo:rustc-env={name}={value}");
    }
}
