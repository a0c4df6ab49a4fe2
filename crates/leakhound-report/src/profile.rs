//! A run's allocation sites as a profile other tools read: `leakhound export --format pprof`
//! (gzipped `profile.proto`, for `go tool pprof`, Pyroscope, Parca, speedscope; see
//! [`crate::pprof`]) and `--format folded` (one `outer;...;inner value` line per stack, for
//! flamegraph.pl, inferno and speedscope).
//!
//! Each stack carries three values: its live bytes at the end of the run, its leak rate (the
//! growth of its live bytes, bytes per day, as judged; 0 when it does not grow), and its live
//! objects. Profile viewers add values up the call tree, so a flame graph weighted by the leak
//! rate is the growth flame graph of the HTML report.

use std::collections::BTreeMap;

/// What each stack weighs in a folded profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileValue {
    /// The growth of its live bytes, bytes per day.
    LeakRate,
    /// Live bytes at the end of the run.
    LiveBytes,
    /// Live objects at the end of the run.
    Objects,
}

/// One stack of a profile.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileStack {
    /// Frames, innermost (allocating) first, as leakhound writes them (`name (file:line)`).
    pub frames: Vec<String>,
    /// Live bytes at the end of the run.
    pub live_bytes: f64,
    /// Growth of the live bytes, bytes per day, 0 when it does not grow.
    pub leak_rate: f64,
    /// Live objects at the end of the run.
    pub objects: f64,
    /// Labels of the stack (`verdict`, `source`, the run's own labels such as `target`).
    pub labels: Vec<(String, String)>,
}

impl ProfileStack {
    /// The value `v` of this stack.
    pub fn value(&self, v: ProfileValue) -> f64 {
        match v {
            ProfileValue::LeakRate => self.leak_rate,
            ProfileValue::LiveBytes => self.live_bytes,
            ProfileValue::Objects => self.objects,
        }
    }
}

/// A run's allocation sites as a profile.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SitesProfile {
    /// Its stacks.
    pub stacks: Vec<ProfileStack>,
    /// First profile of the run, unix seconds.
    pub start: f64,
    /// Last profile of the run, unix seconds.
    pub end: f64,
    /// What it is, in a line (`leakhound run 3: ...`), kept as a comment of the profile.
    pub title: String,
    /// The program profiled (`./server`), as viewers name the profile.
    pub program: String,
}

impl SitesProfile {
    /// Folded stacks weighted by `value`: `outer;...;inner N` per stack with a positive value
    /// (rounded to an integer, as flame graph tools expect), stacks with identical frames
    /// added up, sorted.
    pub fn folded(&self, value: ProfileValue) -> String {
        let mut lines: BTreeMap<String, f64> = BTreeMap::new();
        for s in &self.stacks {
            let v = s.value(value);
            if v > 0.0 && !s.frames.is_empty() {
                // `;` separates frames and a line's last space its value: a frame keeps its
                // spaces, but a `;` inside one would split it.
                let stack: Vec<String> =
                    s.frames.iter().rev().map(|f| f.replace(';', ",")).collect();
                *lines.entry(stack.join(";")).or_default() += v;
            }
        }
        let mut out = String::new();
        for (stack, v) in lines {
            let n = v.round() as u64;
            if n > 0 {
                out.push_str(&format!("{stack} {n}\n"));
            }
        }
        out
    }
}

/// The function, file (or module) and line (0 when unknown) of a frame as leakhound's
/// profilers write it, read by [`leakhound_analysis::frames::Frame`].
pub(crate) fn split_frame(frame: &str) -> (&str, &str, i64) {
    let f = leakhound_analysis::frames::Frame::parse(frame);
    (
        f.function,
        f.file.or(f.module).unwrap_or(""),
        f.line.map_or(0, i64::from),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack(frames: &[&str], live: f64, rate: f64, objects: f64) -> ProfileStack {
        ProfileStack {
            frames: frames.iter().map(|f| f.to_string()).collect(),
            live_bytes: live,
            leak_rate: rate,
            objects,
            labels: vec![("verdict".into(), "leak".into())],
        }
    }

    #[test]
    fn frames_split_into_function_file_and_line() {
        for (frame, want) in [
            ("leak_one (sites.c:23)", ("leak_one", "sites.c", 23)),
            (
                "__libc_start_call_main (libc.so.6)",
                ("__libc_start_call_main", "libc.so.6", 0),
            ),
            (
                "remember (file:///srv/app/server.js:12)",
                ("remember", "file:///srv/app/server.js", 12),
            ),
            (
                "std::vector<int>::push_back(int const&) (stl_vector.h:1294)",
                (
                    "std::vector<int>::push_back(int const&)",
                    "stl_vector.h",
                    1294,
                ),
            ),
            (
                "operator new(unsigned long) (libstdc++.so.6)",
                ("operator new(unsigned long)", "libstdc++.so.6", 0),
            ),
            ("[JIT]", ("[JIT]", "", 0)),
            ("libfoo.so+0x1f0", ("libfoo.so+0x1f0", "", 0)),
            (
                "[class] java.lang.String",
                ("[class] java.lang.String", "", 0),
            ),
            ("f (anonymous)", ("f", "anonymous", 0)),
            ("g (:7)", ("g", ":7", 0)),
        ] {
            assert_eq!(split_frame(frame), want, "{frame}");
        }
    }

    #[test]
    fn folded_stacks_are_outermost_first_with_integer_values() {
        let p = SitesProfile {
            stacks: vec![
                stack(&["leak (a.c:3)", "main (a.c:9)"], 4096.0, 5.5e9, 64.0),
                stack(&["cache (a.c:5)", "main (a.c:9)"], 8192.0, 0.0, 2.0),
                // The same frames in another target: added up.
                stack(&["leak (a.c:3)", "main (a.c:9)"], 10.0, 0.4, 1.0),
                stack(&["odd;frame", "main (a.c:9)"], 1.0, 7.0, 1.0),
            ],
            ..SitesProfile::default()
        };
        assert_eq!(
            p.folded(ProfileValue::LeakRate),
            "main (a.c:9);leak (a.c:3) 5500000000\nmain (a.c:9);odd,frame 7\n"
        );
        assert_eq!(
            p.folded(ProfileValue::LiveBytes),
            "main (a.c:9);cache (a.c:5) 8192\nmain (a.c:9);leak (a.c:3) 4106\nmain (a.c:9);odd,frame 1\n"
        );
        assert_eq!(
            p.folded(ProfileValue::Objects).lines().count(),
            3,
            "every stack holds objects"
        );
    }
}
