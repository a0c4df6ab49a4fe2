//! The native profiler's report lines, both sides: written by `leakhound-preload` with the
//! functions here, read by `leakhound-probe` with the types of [`read`] (feature `read`), so a
//! field renamed on one side is renamed on the other and the round-trip test below holds them
//! together. One JSON object per line on the agent socket:
//!
//! `{"v":1,"type":"native_maps","pid":P,"hooked":true,"modules":[[start,end,offset,"path"],...]}`
//! `{"v":1,"type":"native_sites","pid":P,"t":T,"sampling_bytes":M,"samples":N,"dropped":D,
//!   "sites":[{"frames":[ret,...],"bytes":B,"objects":O},...],"other_bytes":B,"other_objects":O}`
//! `{"v":1,"type":"python_code","pid":P,"context":{...},"unnamed":N,"code":[[id,"name","file"],...]}`
//!
//! The writers append to a `String` the reporter thread owns (it allocates through the real
//! allocator, outside any hook) and never fail.

use core::fmt::Write as _;

/// The version every line carries.
pub const VERSION: u32 = 1;
/// The executable mappings of a process, before its first sites and whenever they change.
pub const NATIVE_MAPS: &str = "native_maps";
/// Live memory by raw stack.
pub const NATIVE_SITES: &str = "native_sites";
/// The Python functions a process's profiler numbered, before the stacks that use them.
pub const PYTHON_CODE: &str = "python_code";

/// Whether `line` is a line of `kind` (before it is parsed whole).
pub fn is_kind(line: &str, kind: &str) -> bool {
    line.match_indices("\"type\":\"").any(|(i, m)| {
        line[i + m.len()..]
            .strip_prefix(kind)
            .is_some_and(|r| r.starts_with('"'))
    })
}

/// Appends `s` as a JSON string.
pub fn push_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn head(out: &mut String, kind: &str, pid: u32) {
    let _ = write!(out, r#"{{"v":{VERSION},"type":"{kind}","pid":{pid}"#);
}

/// Starts a `native_maps` line; [`module`] each mapping, then [`end_native_maps`].
pub fn begin_native_maps(out: &mut String, pid: u32, hooked: bool) {
    head(out, NATIVE_MAPS, pid);
    let _ = write!(out, r#","hooked":{hooked},"modules":["#);
}

/// One executable mapping (`first`: the line's first, no comma before it).
pub fn module(out: &mut String, first: bool, start: u64, end: u64, offset: u64, path: &str) {
    if !first {
        out.push(',');
    }
    let _ = write!(out, "[{start},{end},{offset},");
    push_str(out, path);
    out.push(']');
}

/// Ends a `native_maps` line.
pub fn end_native_maps(out: &mut String) {
    out.push_str("]}");
}

/// Starts a `native_sites` line at unix time `t`, sampled every `mean` bytes on average;
/// [`site`] each stack, then [`end_native_sites`].
pub fn begin_native_sites(
    out: &mut String,
    pid: u32,
    t: f64,
    mean: f64,
    samples: u64,
    dropped: u64,
) {
    head(out, NATIVE_SITES, pid);
    let _ = write!(
        out,
        r#","t":{t:.3},"sampling_bytes":{mean},"samples":{samples},"dropped":{dropped},"sites":["#
    );
}

/// One stack (return addresses or Python frames, innermost first) and what is live from it.
pub fn site(
    out: &mut String,
    first: bool,
    frames: impl IntoIterator<Item = u64>,
    bytes: f64,
    objects: f64,
) {
    out.push_str(if first {
        "{\"frames\":["
    } else {
        ",{\"frames\":["
    });
    for (i, f) in frames.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{f}");
    }
    let _ = write!(out, r#"],"bytes":{bytes:.1},"objects":{objects:.3}}}"#);
}

/// Ends a `native_sites` line with what the stacks left out hold.
pub fn end_native_sites(out: &mut String, other_bytes: f64, other_objects: f64) {
    let _ = write!(
        out,
        r#"],"other_bytes":{other_bytes:.1},"other_objects":{other_objects:.3}}}"#
    );
}

/// Starts a `python_code` line: `context` is the naming context's JSON object (see
/// [`read::Context`]), `unnamed` the frames the profiler could not number; [`code`] each
/// function, then [`end_python_code`].
pub fn begin_python_code(out: &mut String, pid: u32, context: &str, unnamed: u64) {
    head(out, PYTHON_CODE, pid);
    let _ = write!(out, r#","context":{context},"unnamed":{unnamed},"code":["#);
}

/// One numbered function (`first`: the line's first).
pub fn code(out: &mut String, first: bool, id: u64, name: &str, file: &str) {
    if !first {
        out.push(',');
    }
    let _ = write!(out, "[{id},");
    push_str(out, name);
    out.push(',');
    push_str(out, file);
    out.push(']');
}

/// Ends a `python_code` line.
pub fn end_python_code(out: &mut String) {
    out.push_str("]}");
}

/// The lines as leakhound reads them.
#[cfg(feature = "read")]
pub mod read {
    use serde::Deserialize;

    /// One executable mapping of the target.
    #[derive(Debug, Clone, PartialEq, Deserialize)]
    #[serde(from = "(u64, u64, u64, String)")]
    pub struct Mapping {
        /// First address.
        pub start: u64,
        /// One past the last address.
        pub end: u64,
        /// Offset in the file of `start`.
        pub offset: u64,
        /// The file, `[vdso]`-like names of special mappings, or empty for anonymous memory.
        pub path: String,
    }

    impl From<(u64, u64, u64, String)> for Mapping {
        fn from((start, end, offset, path): (u64, u64, u64, String)) -> Mapping {
            Mapping {
                start,
                end,
                offset,
                path,
            }
        }
    }

    fn yes() -> bool {
        true
    }

    /// The executable mappings of a process ([`super::NATIVE_MAPS`]).
    #[derive(Debug, Clone, PartialEq, Deserialize)]
    pub struct NativeMaps {
        /// Process id.
        pub pid: i32,
        /// Whether the program's malloc is the profiler's; not when the executable brings its
        /// own allocator, which the dynamic loader then prefers.
        #[serde(default = "yes")]
        pub hooked: bool,
        /// Mappings, sorted by address.
        pub modules: Vec<Mapping>,
    }

    /// One stack of return addresses and what is live from it.
    #[derive(Debug, Clone, PartialEq, Deserialize)]
    pub struct NativeSite {
        /// Return addresses, innermost first.
        pub frames: Vec<u64>,
        /// Estimated live bytes.
        pub bytes: f64,
        /// Estimated live objects.
        #[serde(default)]
        pub objects: f64,
    }

    /// Live memory by raw stack ([`super::NATIVE_SITES`]).
    #[derive(Debug, Clone, PartialEq, Deserialize)]
    pub struct NativeSites {
        /// Process id.
        pub pid: i32,
        /// Unix seconds.
        pub t: f64,
        /// Mean bytes between samples.
        pub sampling_bytes: f64,
        /// Allocations sampled since the program started.
        #[serde(default)]
        pub samples: u64,
        /// Samples dropped because the profiler's table of live samples was full.
        #[serde(default)]
        pub dropped: u64,
        /// The top stacks.
        pub sites: Vec<NativeSite>,
        /// Live bytes of the stacks left out.
        #[serde(default)]
        pub other_bytes: f64,
        /// Live objects of the stacks left out.
        #[serde(default)]
        pub other_objects: f64,
    }

    /// What the profiler says of a Python process, for naming files.
    #[derive(Debug, Clone, Default, PartialEq, Deserialize)]
    pub struct Context {
        /// CPython's version, e.g. `3.11.7`.
        #[serde(default)]
        pub version: String,
        /// The working directory, with a trailing separator.
        #[serde(default)]
        pub cwd: String,
        /// The standard library's directory, with a trailing separator.
        #[serde(default)]
        pub stdlib: String,
        /// `sys.path` entries with trailing separators, longest first.
        #[serde(default)]
        pub roots: Vec<String>,
    }

    /// One [`super::PYTHON_CODE`] line.
    #[derive(Debug, Clone, PartialEq, Deserialize)]
    pub struct PythonCode {
        /// Process id.
        pub pid: i32,
        /// Naming context.
        #[serde(default)]
        pub context: Context,
        /// Frames the profiler could not number (its tables full).
        #[serde(default)]
        pub unnamed: u64,
        /// Functions: id, qualified name, file.
        #[serde(default)]
        pub code: Vec<(u64, String, String)>,
    }
}

#[cfg(all(test, feature = "read"))]
mod tests {
    use super::read::*;
    use super::*;

    #[test]
    fn what_the_profiler_writes_leakhound_reads() {
        let mut maps = String::new();
        begin_native_maps(&mut maps, 7, false);
        module(&mut maps, true, 4096, 8192, 0, "/bin/x \"y\"\\z\n");
        module(&mut maps, false, 16384, 20480, 4096, "");
        end_native_maps(&mut maps);
        assert!(is_kind(&maps, NATIVE_MAPS) && !is_kind(&maps, NATIVE_SITES));
        let m: NativeMaps = serde_json::from_str(&maps).unwrap();
        assert_eq!((m.pid, m.hooked, m.modules.len()), (7, false, 2));
        assert_eq!(m.modules[0].path, "/bin/x \"y\"\\z\n");
        assert!(maps.contains(r#""/bin/x \"y\"\\z\u000a""#), "{maps}");
        assert_eq!((m.modules[1].start, m.modules[1].offset), (16384, 4096));

        let mut sites = String::new();
        begin_native_sites(&mut sites, 7, 1_795_000_000.125, 524_288.0, 12, 3);
        site(&mut sites, true, [4200, 4300], 1024.5, 2.0);
        site(&mut sites, false, [], 0.0, 0.0);
        end_native_sites(&mut sites, 10.5, 1.25);
        assert!(is_kind(&sites, NATIVE_SITES));
        let s: NativeSites = serde_json::from_str(&sites).unwrap();
        assert_eq!(
            (s.pid, s.t, s.sampling_bytes),
            (7, 1_795_000_000.125, 524_288.0)
        );
        assert_eq!((s.samples, s.dropped), (12, 3));
        assert_eq!(s.sites[0].frames, [4200, 4300]);
        assert_eq!((s.sites[0].bytes, s.sites[0].objects), (1024.5, 2.0));
        assert_eq!((s.other_bytes, s.other_objects), (10.5, 1.25));

        let mut py = String::new();
        begin_python_code(&mut py, 9, r#"{"version":"3.11.2","cwd":"/srv/"}"#, 4);
        code(&mut py, true, 1, "Cache.put", "app.py");
        code(&mut py, false, 2, "<module>", "<stdlib>/json/\"x\".py");
        end_python_code(&mut py);
        assert!(is_kind(&py, PYTHON_CODE));
        let c: PythonCode = serde_json::from_str(&py).unwrap();
        assert_eq!((c.pid, c.unnamed), (9, 4));
        assert_eq!(c.context.cwd, "/srv/");
        assert_eq!(
            c.code[1],
            (2, "<module>".into(), "<stdlib>/json/\"x\".py".into())
        );
    }
}
