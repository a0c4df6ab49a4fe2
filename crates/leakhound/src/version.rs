//! `leakhound --version`: the release, the commit it was built from, how it was built and what
//! it carries (build.rs gathers the build's side).

use leakhound_app::preload::Carried;
use leakhound_report::units::format_bytes;

/// `-V`: the release and the commit.
pub fn short() -> String {
    match commit() {
        Some((c, date)) => format!("{} ({c} {date})", env!("CARGO_PKG_VERSION")),
        None => env!("CARGO_PKG_VERSION").to_string(),
    }
}

/// `--version`: the release, the commit, the build and what the binary carries.
pub fn long() -> String {
    let commit = match commit() {
        Some((c, date)) => format!("{c} ({date})"),
        None => "unknown (not built from a git checkout)".into(),
    };
    let profiler = match Carried::get() {
        Ok(lib) => format!(
            "the native profiler ({}, {})",
            lib.file_name(),
            format_bytes(lib.bytes.len() as f64)
        ),
        Err(why) => format!("no native profiler ({why}; LEAKHOUND_PRELOAD can name one)"),
    };
    format!(
        "{}\ncommit: {commit}\nbuilt: {} profile, {}, {}\ncarries: {profiler}, the Node.js and \
         Python agents",
        env!("CARGO_PKG_VERSION"),
        env!("LEAKHOUND_PROFILE"),
        env!("LEAKHOUND_TARGET"),
        env!("LEAKHOUND_RUSTC"),
    )
}

/// The commit's first 12 hex digits and its date, when built from a git checkout.
fn commit() -> Option<(&'static str, &'static str)> {
    let c = env!("LEAKHOUND_COMMIT");
    (!c.is_empty()).then(|| (&c[..c.len().min(12)], env!("LEAKHOUND_COMMIT_DATE")))
}
