//! The JVM through JDK Flight Recorder: a recording with leakhound's own settings (old-object
//! samples with their allocation stacks, GC heap and metaspace summaries, nothing else), dumped
//! now and then and read here.
//!
//! A recording is started, dumped and stopped with `jcmd PID JFR.start|JFR.dump|JFR.stop`
//! ([`crate::jvm::jcmd`]); its settings are a `.jfc` file ([`settings`]). It is bounded on its
//! own ([`MAX_AGE`], [`MAX_SIZE`]), so a leakhound that is killed leaves a recording that keeps
//! at most that much, and its name carries leakhound's pid ([`recording_name`]), so the next
//! leakhound to attach stops it ([`orphans`]).
//!
//! **Reading a dump: in Rust, not `jfr print --json`.** `jfr print --json --events
//! jdk.OldObjectSample,jdk.GCHeapSummary` starts a JVM for each dump (0.45 s of CPU, 0.6 s of
//! wall time for a 110 KiB dump of 20 s of the test program, measured here) and prints about
//! 4 KiB of JSON per sample (each frame repeats its class loader chain); the `jfrs` crate
//! reads a dump in milliseconds (`bench/jfr_overhead.sh dumps` measures both on the same
//! files). leakhound dumps every few seconds at the start of a run: a JVM per dump would cost
//! the machine more than the recording costs the target.

mod frames;
mod read;
mod sites;

pub use frames::{class_frame, class_name, frame_text};
pub use read::{read_dump, Dump, HeapAtGc, MetaspaceAtGc, OldSample};
pub use sites::{sites, Holder, JfrSites};

/// Longest a recording keeps its data, whoever stops reading it (JFR's `maxage`).
pub const MAX_AGE: &str = "5m";
/// Most a recording keeps on disk, whoever stops reading it (JFR's `maxsize`).
pub const MAX_SIZE: &str = "32m";
/// What leakhound's recordings are named, before leakhound's pid.
pub const NAME_PREFIX: &str = "leakhound-";

/// Objects the old-object sampler keeps when leakhound starts the JVM (`run --jvm`).
///
/// The JVM's default, [`DEFAULT_QUEUE_SIZE`], is too few for a busy program: every new
/// thread-local buffer offers the sampler a candidate, the garbage between two collections
/// fills the queue, and a candidate that would stay then competes with it and mostly loses.
/// Measured on tests/fixtures/Leak.java (2,000 requests/s, `-Xmx96m`, JDK 17): with 256 the
/// live `Leak$Session` samples were 4 at 30, 60 and 90 s; with 2,048 they were 29, 75 and
/// 127. A kept sample costs the JVM about a hundred bytes and a look at each collection.
pub const QUEUE_SIZE: u32 = 4096;
/// The JVM's own old-object queue size, when nothing sets it.
pub const DEFAULT_QUEUE_SIZE: u32 = 256;

/// The start-up option that sets the old-object queue size to `n` (it cannot be changed in a
/// running JVM: `JFR.configure` has no such setting).
pub fn queue_option(n: u32) -> String {
    format!("-XX:FlightRecorderOptions:old-object-queue-size={n}")
}

/// The old-object queue size that JVM options set (`-XX:FlightRecorderOptions:a=b,c=d` or
/// `=a=b,...`; the last one wins), `None` when none sets it.
pub fn queue_size_in<'a>(options: impl IntoIterator<Item = &'a str>) -> Option<u32> {
    options
        .into_iter()
        .filter_map(|o| o.strip_prefix("-XX:FlightRecorderOptions"))
        .filter_map(|o| o.strip_prefix([':', '=']))
        .flat_map(|o| o.split(','))
        .filter_map(|kv| kv.trim().strip_prefix("old-object-queue-size="))
        .filter_map(|n| n.trim().parse().ok())
        .last()
}

/// The name of the recording that leakhound process `pid` starts.
pub fn recording_name(pid: u32) -> String {
    format!("{NAME_PREFIX}{pid}")
}

/// The recording's settings, a `.jfc` file: the old-object sampler with stack traces (paths to
/// GC roots only when a dump asks for them: `cutoff` 0), GC heap and metaspace summaries
/// (written at each collection, before and after). Every other event stays off.
pub fn settings() -> String {
    r#"<?xml version="1.0" encoding="UTF-8"?>
<configuration version="2.0" label="leakhound" description="leakhound: old-object samples with allocation stacks, the heap at each GC" provider="leakhound">
  <event name="jdk.OldObjectSample">
    <setting name="enabled">true</setting>
    <setting name="stackTrace">true</setting>
    <setting name="cutoff">0 ns</setting>
  </event>
  <event name="jdk.GCHeapSummary">
    <setting name="enabled">true</setting>
  </event>
  <event name="jdk.MetaspaceSummary">
    <setting name="enabled">true</setting>
  </event>
</configuration>
"#
    .to_string()
}

/// `jcmd` arguments that start recording `name` with the settings file at `jfc`.
pub fn start_command(name: &str, jfc: &str) -> Vec<String> {
    vec![
        "JFR.start".into(),
        format!("name={name}"),
        format!("settings={jfc}"),
        format!("maxage={MAX_AGE}"),
        format!("maxsize={MAX_SIZE}"),
    ]
}

/// `jcmd` arguments that dump recording `name` to `file`: only the chunks of the last `since`
/// seconds when given (each dump starts a new chunk, so this is what came since the last one),
/// with paths from each old-object sample to a GC root when `paths` (a stop-the-world walk of
/// the heap).
pub fn dump_command(name: &str, file: &str, since: Option<f64>, paths: bool) -> Vec<String> {
    let mut c = vec![
        "JFR.dump".into(),
        format!("name={name}"),
        format!("filename={file}"),
    ];
    if let Some(s) = since {
        c.push(format!("begin=-{}s", s.ceil().max(1.0) as u64));
    }
    if paths {
        c.push("path-to-gc-roots=true".into());
    }
    c
}

/// `jcmd` arguments that stop recording `name`, discarding what it holds.
pub fn stop_command(name: &str) -> Vec<String> {
    vec!["JFR.stop".into(), format!("name={name}")]
}

/// The recordings `JFR.check` lists: `Recording 1: name=leakhound-42 maxsize=32.0MB maxage=5m
/// (running)` is `(1, "leakhound-42", true)`.
pub fn parse_check(text: &str) -> Vec<(u32, String, bool)> {
    text.lines()
        .filter_map(|l| {
            let rest = l.trim().strip_prefix("Recording ")?;
            let (id, rest) = rest.split_once(':')?;
            let name = rest
                .trim()
                .strip_prefix("name=")?
                .split_whitespace()
                .next()?;
            Some((
                id.trim().parse().ok()?,
                name.to_string(),
                l.trim_end().ends_with("(running)"),
            ))
        })
        .collect()
}

/// Recordings left by leakhound processes that are gone (killed before they could stop their
/// recording), by name, among those `JFR.check` listed; `alive` says whether a pid runs.
pub fn orphans(listed: &[(u32, String, bool)], alive: impl Fn(u32) -> bool) -> Vec<String> {
    listed
        .iter()
        .filter_map(|(_, name, _)| {
            let pid: u32 = name.strip_prefix(NAME_PREFIX)?.parse().ok()?;
            (!alive(pid)).then(|| name.clone())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_and_the_list_of_recordings() {
        assert_eq!(recording_name(42), "leakhound-42");
        assert_eq!(
            start_command("leakhound-42", "/tmp/x/lh.jfc"),
            [
                "JFR.start",
                "name=leakhound-42",
                "settings=/tmp/x/lh.jfc",
                "maxage=5m",
                "maxsize=32m"
            ]
        );
        assert_eq!(
            dump_command("n", "/tmp/d.jfr", Some(3.2), true),
            [
                "JFR.dump",
                "name=n",
                "filename=/tmp/d.jfr",
                "begin=-4s",
                "path-to-gc-roots=true"
            ]
        );
        assert_eq!(dump_command("n", "/f", None, false).len(), 3);
        // As JDK 17's jcmd prints it (the pid line removed).
        let check = "Recording 1: name=leakhound-99999 maxsize=16.0MB maxage=2m (running)\n\n\
                     Recording 2: name=other maxsize=250.0MB (stopped)\n";
        let listed = parse_check(check);
        assert_eq!(
            listed,
            [
                (1, "leakhound-99999".to_string(), true),
                (2, "other".to_string(), false)
            ]
        );
        assert_eq!(orphans(&listed, |_| false), ["leakhound-99999"]);
        assert!(orphans(&listed, |p| p == 99999).is_empty());
        assert!(parse_check("No available recordings.\n").is_empty());
        assert!(settings().contains("jdk.OldObjectSample"));
    }

    #[test]
    fn the_queue_size_from_jvm_options() {
        assert_eq!(
            queue_option(4096),
            "-XX:FlightRecorderOptions:old-object-queue-size=4096"
        );
        assert_eq!(queue_size_in([queue_option(4096).as_str()]), Some(4096));
        assert_eq!(
            queue_size_in([
                "-Xmx1g",
                "-XX:FlightRecorderOptions=stackdepth=96,old-object-queue-size=512",
                "-XX:FlightRecorderOptions:old-object-queue-size=1024",
                "Main"
            ]),
            Some(1024)
        );
        assert_eq!(
            queue_size_in(["-XX:FlightRecorderOptions:stackdepth=96", "-Xmx1g"]),
            None
        );
        assert_eq!(queue_size_in(["-XX:FlightRecorderOptionsX"]), None);
    }
}
