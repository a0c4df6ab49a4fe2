//! The JVM through the JDK's own `jcmd`: `GC.heap_info` (heap used and committed, whatever
//! the collector) and `GC.class_histogram` (live bytes and instances per class, after the full
//! GC the command runs), parsed into numbers and a sites report keyed by class.
//!
//! `jcmd` attaches by creating a file and sending SIGQUIT to the pid, which ends a process that
//! is not a JVM: [`is_jvm`] checks first.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::jfr::{class_frame, class_name};
use crate::sites::{clip_frame, SiteSample, SitesReport};

/// What to install when `jcmd` is missing, for the error message.
pub const JCMD_PACKAGE: &str = "default-jdk-headless";

/// Most bytes of a `jcmd` answer read (a histogram of 20,000 classes is about 2 MiB).
const MAX_OUTPUT: u64 = 16 << 20;

/// `jcmd` on `PATH`, else in `$JAVA_HOME/bin`; the error says what to install.
pub fn find_jcmd() -> Result<PathBuf, String> {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    let java_home = std::env::var_os("JAVA_HOME").map(|h| PathBuf::from(h).join("bin"));
    on_path
        .into_iter()
        .chain(java_home)
        .map(|d| d.join("jcmd"))
        .find(|p| is_executable(p))
        .ok_or_else(|| {
            format!(
                "jcmd not found on PATH or in $JAVA_HOME/bin: reading a JVM needs the JDK's jcmd \
                 (Debian: apt-get install {JCMD_PACKAGE})"
            )
        })
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Whether process `pid` runs a HotSpot JVM (has `libjvm.so` mapped).
pub fn is_jvm(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/maps"))
        .is_ok_and(|m| m.lines().any(|l| l.ends_with("/libjvm.so")))
}

/// Whether process `pid` is a Java launcher that has not loaded the JVM yet: its executable is
/// named `java`, or it has mapped the launcher's `libjli.so`. A `java` started a moment ago
/// maps `libjvm.so` some milliseconds after exec (`java ... & leakhound watch --jvm $!` can
/// come first).
pub fn starting_jvm(pid: i32) -> bool {
    let named_java = std::fs::read_link(format!("/proc/{pid}/exe"))
        .is_ok_and(|exe| exe.file_name().is_some_and(|n| n == "java"));
    named_java
        || std::fs::read_to_string(format!("/proc/{pid}/maps"))
            .is_ok_and(|m| m.lines().any(|l| l.ends_with("/libjli.so")))
}

/// The names of process `pid`'s threads (`/proc/PID/task/*/comm`: HotSpot names its own,
/// cut to 15 bytes: `Attach Listener`, `JFR Recorder Th`), sorted; empty when unreadable.
pub fn thread_names(pid: i32) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
        .map(|n| n.trim_end().to_string())
        .collect();
    names.sort();
    names
}

/// The options JVM `pid` was started with, in the order the JVM reads them: the words of
/// `JAVA_TOOL_OPTIONS` and `JDK_JAVA_OPTIONS` in its environment, its command line, then
/// `_JAVA_OPTIONS` (which overrides). Empty when `/proc` does not say (another user's process).
pub fn options_of(pid: i32) -> Vec<String> {
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
    let env = |name: &str| -> Vec<String> {
        environ
            .split(|b| *b == 0)
            .filter_map(|kv| kv.strip_prefix(format!("{name}=").as_bytes()))
            .flat_map(|v| {
                String::from_utf8_lossy(v)
                    .split_whitespace()
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let args = cmdline
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned());
    let mut all = env("JAVA_TOOL_OPTIONS");
    all.extend(env("JDK_JAVA_OPTIONS"));
    all.extend(args);
    all.extend(env("_JAVA_OPTIONS"));
    all
}

/// Whether the `java` at `java` starts with `option` (`java OPTION -version` succeeds): an
/// option a JVM does not know stops it from starting at all.
pub fn java_accepts(java: &Path, option: &str) -> bool {
    Command::new(java)
        .args([option, "-version"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs `jcmd PID COMMAND...`, giving up (and killing it) after `timeout`. The answer without
/// its first line (the pid), or the reason it failed.
pub fn jcmd(jcmd: &Path, pid: i32, command: &[&str], timeout: Duration) -> Result<String, String> {
    let mut child = Command::new(jcmd)
        .arg(pid.to_string())
        .args(command)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{}: {e}", jcmd.display()))?;
    // Read on threads, so a large answer cannot fill a pipe and stall the child.
    let read = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut out = Vec::new();
            if let Some(r) = r {
                let _ = r.take(MAX_OUTPUT).read_to_end(&mut out);
            }
            String::from_utf8_lossy(&out).into_owned()
        })
    };
    let stdout = read(child.stdout.take().map(|s| Box::new(s) as _));
    let stderr = read(child.stderr.take().map(|s| Box::new(s) as _));
    let started = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().map_err(|e| e.to_string())? {
            break st;
        }
        if started.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "jcmd {pid} {} gave no answer within {} s",
                command.join(" "),
                timeout.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = stdout.join().unwrap_or_default();
    let err = stderr.join().unwrap_or_default();
    if !status.success() || out.trim() == format!("{pid}:") {
        // jcmd prints the exception's first line, then a stack trace.
        let why = err
            .lines()
            .chain(out.lines())
            .map(str::trim)
            .find(|l| !l.is_empty() && *l != format!("{pid}:"))
            .unwrap_or("no output")
            .to_string();
        return Err(format!("jcmd {pid} {}: {why}", command.join(" ")));
    }
    Ok(out
        .split_once('\n')
        .map_or("", |(_, rest)| rest)
        .to_string())
}

/// The heap as `GC.heap_info` tells it.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct HeapInfo {
    /// Bytes in use in the heap (live and not yet collected).
    pub used: f64,
    /// Bytes the heap has committed.
    pub committed: f64,
    /// Metaspace in use (class metadata), bytes, when shown.
    pub metaspace_used: Option<f64>,
}

/// `4096K`, `256M`, `1G` or a plain number of bytes.
fn size(s: &str) -> Option<f64> {
    let s = s.trim().trim_end_matches(',');
    let (num, mult) = match s.chars().last()? {
        'K' => (&s[..s.len() - 1], 1024.0),
        'M' => (&s[..s.len() - 1], 1024.0 * 1024.0),
        'G' => (&s[..s.len() - 1], 1024.0 * 1024.0 * 1024.0),
        'B' => (&s[..s.len() - 1], 1.0),
        _ => (s, 1.0),
    };
    num.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0)
        .map(|v| v * mult)
}

/// The size after `word` in `line` (`used 12K`), or before it (`256M committed`).
fn size_near(line: &str, word: &str, after: bool) -> Option<f64> {
    let toks: Vec<&str> = line.split_whitespace().collect();
    let i = toks.iter().position(|t| t.trim_end_matches(',') == word)?;
    let j = if after { i + 1 } else { i.checked_sub(1)? };
    toks.get(j).and_then(|t| size(t))
}

/// Parses `GC.heap_info` of G1, Parallel, Serial (generations with `total N, used M`), ZGC
/// (`used N, capacity M`) and Shenandoah (`N committed, M used`).
pub fn parse_heap_info(text: &str) -> Result<HeapInfo, String> {
    let mut h = HeapInfo::default();
    let mut found = false;
    let mut shenandoah = false;
    for line in text.lines() {
        // Spaces within a generation are indented further; totals sit one space in.
        let top = line.starts_with(' ') && !line.starts_with("  ");
        let t = line.trim();
        if t.starts_with("Shenandoah Heap") {
            shenandoah = true;
            continue;
        }
        if t.starts_with("Metaspace") {
            h.metaspace_used = size_near(t, "used", true);
            continue;
        }
        if !top {
            continue;
        }
        if let (Some(total), Some(used)) = (size_near(t, "total", true), size_near(t, "used", true))
        {
            h.committed += total;
            h.used += used;
            found = true;
        } else if let (Some(used), Some(cap)) =
            (size_near(t, "used", true), size_near(t, "capacity", true))
        {
            h.used += used;
            h.committed += cap;
            found = true;
        } else if shenandoah {
            if let (Some(c), Some(u)) = (
                size_near(t, "committed", false),
                size_near(t, "used", false),
            ) {
                h.committed += c;
                h.used += u;
                found = true;
                shenandoah = false;
            }
        }
    }
    if found {
        Ok(h)
    } else {
        Err(format!(
            "GC.heap_info: no heap size in {:?}",
            text.lines().next().unwrap_or("")
        ))
    }
}

/// Parses `GC.class_histogram` into a sites report (source `jvm`, one frame `[class] NAME` per
/// site) of the `top` classes by live bytes; the rest is the remainder.
pub fn parse_class_histogram(
    text: &str,
    top: usize,
    pid: i32,
    t: f64,
) -> Result<SitesReport, String> {
    let mut classes: Vec<(String, f64, f64)> = Vec::new();
    let mut total: Option<(f64, f64)> = None;
    for line in text.lines() {
        let toks: Vec<&str> = line.split_whitespace().collect();
        match toks.as_slice() {
            ["Total", n, b] => {
                total = n.parse().ok().zip(b.parse().ok());
            }
            [rank, n, b, name, ..] if rank.ends_with(':') => {
                let (Ok(n), Ok(b)) = (n.parse::<f64>(), b.parse::<f64>()) else {
                    continue;
                };
                // The module (`(java.base@17.0.15)`) is left out: the class names it.
                classes.push((class_frame(&class_name(name)), b, n));
            }
            _ => {}
        }
    }
    if classes.is_empty() {
        return Err(format!(
            "GC.class_histogram: no classes in {:?}",
            text.lines().next().unwrap_or("")
        ));
    }
    classes.sort_by(|a, b| b.1.total_cmp(&a.1));
    let (listed_bytes, listed_objects) = classes
        .iter()
        .fold((0.0, 0.0), |(b, n), c| (b + c.1, n + c.2));
    let (total_objects, total_bytes) = total.unwrap_or((listed_objects, listed_bytes));
    let kept: Vec<SiteSample> = classes
        .into_iter()
        .take(top)
        .map(|(mut name, bytes, objects)| {
            clip_frame(&mut name);
            SiteSample {
                frames: vec![name],
                bytes,
                objects,
            }
        })
        .collect();
    let kept_bytes: f64 = kept.iter().map(|s| s.bytes).sum();
    let kept_objects: f64 = kept.iter().map(|s| s.objects).sum();
    Ok(SitesReport {
        source: "jvm".into(),
        pid,
        t,
        sampling_bytes: 0.0,
        sites: kept,
        other_bytes: (total_bytes.max(listed_bytes) - kept_bytes).max(0.0),
        other_objects: (total_objects.max(listed_objects) - kept_objects).max(0.0),
        took_ms: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const G1: &str = include_str!("../fixtures/jvm/heap_info_g1.txt");
    const HISTOGRAM: &str = include_str!("../fixtures/jvm/class_histogram.txt");
    const K: f64 = 1024.0;
    const M: f64 = 1024.0 * 1024.0;

    #[test]
    fn a_processs_jvm_options_from_its_environment_and_command_line() {
        let mut child = Command::new("sleep")
            .arg("30")
            .env(
                "JAVA_TOOL_OPTIONS",
                "-Xmx1g  -XX:FlightRecorderOptions:stackdepth=96",
            )
            .env("_JAVA_OPTIONS", "-Dlast=1")
            .env_remove("JDK_JAVA_OPTIONS")
            .spawn()
            .unwrap();
        // The parent may return from spawn while the kernel still sets up the new program's
        // environment (its descriptors closed first): read it once it is there.
        let mut o = Vec::new();
        for _ in 0..100 {
            o = options_of(child.id() as i32);
            if o.last().is_some_and(|l| l == "-Dlast=1") {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(
            o,
            [
                "-Xmx1g",
                "-XX:FlightRecorderOptions:stackdepth=96",
                "sleep",
                "30",
                "-Dlast=1"
            ]
        );
        assert!(options_of(-1).is_empty());
    }

    /// Without the pid line, as [`jcmd`] returns it.
    fn body(s: &str) -> &str {
        s.split_once('\n').unwrap().1
    }

    #[test]
    fn heap_info_of_every_collector() {
        let g1 = parse_heap_info(body(G1)).unwrap();
        assert_eq!(g1.committed, 2269184.0 * K);
        assert_eq!(g1.used, 1353871.0 * K);
        assert_eq!(g1.metaspace_used, Some(9363.0 * K));
        // Captured from OpenJDK 17 with -XX:+UseSerialGC, UseParallelGC, UseZGC and
        // UseShenandoahGC, -Xmx256m.
        let serial = " def new generation   total 78656K, used 5596K [0x00000000f0000000, 0x00000000f5550000, 0x00000000f5550000)
  eden space 69952K,   8% used [0x00000000f0000000, 0x00000000f05771b8, 0x00000000f4450000)
  from space 8704K,   0% used [0x00000000f4450000, 0x00000000f4450000, 0x00000000f4cd0000)
 tenured generation   total 174784K, used 10K [0x00000000f5550000, 0x0000000100000000, 0x0000000100000000)
   the space 174784K,   0% used [0x00000000f5550000, 0x00000000f5550000, 0x00000000f5550200, 0x0000000100000000)
 Metaspace       used 130K, committed 320K, reserved 1114112K
  class space    used 3K, committed 128K, reserved 1048576K
";
        let s = parse_heap_info(serial).unwrap();
        assert_eq!(
            (s.committed, s.used),
            ((78656.0 + 174784.0) * K, 5606.0 * K)
        );
        let parallel = " PSYoungGen      total 76288K, used 5243K [0x00000000fab00000, 0x0000000100000000, 0x0000000100000000)
  eden space 65536K, 8% used [0x00000000fab00000,0x00000000fb01ec98,0x00000000feb00000)
 ParOldGen       total 175104K, used 0K [0x00000000f0000000, 0x00000000fab00000, 0x00000000fab00000)
  object space 175104K, 0% used [0x00000000f0000000,0x00000000f0000000,0x00000000fab00000)
 Metaspace       used 128K, committed 320K, reserved 1114112K
";
        let p = parse_heap_info(parallel).unwrap();
        assert_eq!(
            (p.committed, p.used),
            ((76288.0 + 175104.0) * K, 5243.0 * K)
        );
        let z = " ZHeap           used 4M, capacity 256M, max capacity 256M
 Metaspace       used 129K, committed 320K, reserved 1114112K
";
        let z = parse_heap_info(z).unwrap();
        assert_eq!((z.committed, z.used), (256.0 * M, 4.0 * M));
        let shenandoah = "Shenandoah Heap
 256M max, 256M soft max, 256M committed, 1536K used
 1024 x 256K regions
Status: not cancelled

 Metaspace       used 126K, committed 320K, reserved 1114112K
";
        let sh = parse_heap_info(shenandoah).unwrap();
        assert_eq!((sh.committed, sh.used), (256.0 * M, 1536.0 * K));
        assert_eq!(sh.metaspace_used, Some(126.0 * K));
        assert!(parse_heap_info("Command executed successfully\n").is_err());
    }

    #[test]
    fn class_histogram_into_sites() {
        let r = parse_class_histogram(body(HISTOGRAM), 3, 42, 1.0).unwrap();
        assert_eq!(r.source, "jvm");
        let names: Vec<&str> = r.sites.iter().map(|s| s.frames[0].as_str()).collect();
        assert_eq!(
            names,
            [
                "[class] byte[]",
                "[class] Leak$Session",
                "[class] java.lang.Object[]"
            ]
        );
        assert_eq!(r.sites[1].bytes, 20720000.0);
        assert_eq!(r.sites[1].objects, 1295000.0);
        // The remainder is the histogram's total less the classes kept.
        let kept: f64 = r.sites.iter().map(|s| s.bytes).sum();
        assert_eq!(r.other_bytes + kept, 1378137288.0);
        crate::sites::check(&r).unwrap();
        assert!(parse_class_histogram("12:\nnothing\n", 3, 1, 1.0).is_err());
    }

    /// A process whose executable is named `java` is a JVM starting until it maps libjvm.so
    /// (here `sleep`, copied as `java`: it never will).
    #[test]
    fn a_launcher_named_java_is_a_jvm_starting() {
        let dir = std::env::temp_dir().join(format!("leakhound-java-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let java = dir.join("java");
        std::fs::copy("/bin/sleep", &java).unwrap();
        let mut child = std::process::Command::new(&java).arg("5").spawn().unwrap();
        let pid = child.id() as i32;
        // The exec has happened once /proc names the copy.
        let started = std::time::Instant::now();
        while !starting_jvm(pid) && started.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(10));
        }
        let (starting, jvm) = (starting_jvm(pid), is_jvm(pid));
        let _ = child.kill();
        let _ = child.wait();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(starting && !jvm);
    }

    #[test]
    fn this_process_is_not_a_jvm_and_a_missing_jcmd_names_the_package() {
        assert!(!is_jvm(std::process::id() as i32));
        assert!(!is_jvm(i32::MAX));
        assert!(!starting_jvm(std::process::id() as i32));
        assert!(!starting_jvm(i32::MAX));
        assert!(!thread_names(std::process::id() as i32).is_empty());
        assert!(thread_names(i32::MAX).is_empty());
        let e = jcmd(
            Path::new("/nonexistent/jcmd"),
            1,
            &["GC.heap_info"],
            Duration::from_secs(1),
        )
        .unwrap_err();
        assert!(e.starts_with("/nonexistent/jcmd: "), "{e}");
        assert!(format!("{:?}", find_jcmd()).contains("jcmd"));
    }
}

#[cfg(test)]
mod robustness {
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        /// Whatever jcmd prints, parsing answers.
        #[test]
        fn any_text_is_handled(text in r"( |[0-9]{1,8}[KMG]?|:|,|total|used|capacity|committed|Total|\[B|\n|[a-z.$]{1,8}){0,40}") {
            let _ = super::parse_heap_info(&text);
            if let Ok(r) = super::parse_class_histogram(&text, 5, 1, 1.0) {
                super::super::sites::check(&r).unwrap();
            }
        }
    }
}
