//! The JVM through JDK Flight Recorder: a one-file Java program (tests/fixtures/Leak.java, run
//! as `java Leak.java`) that keeps a `Session` per request next to churned `Invoice`s and a
//! bounded `Profile` cache, read with `--jvm` at the defaults, for 120 s under `run` and 130 s
//! under `watch --jvm PID` (which allows for a daily load cycle), with its no-leak twin under
//! `run`, all four at once (they share the wall time). The heap after GC leaks, and the top leaking site is the method that allocates the
//! sessions, by frame and line; neither the churn nor the cache, nor anything in the twin,
//! does; sites are the program's stacks in Java frames under their class; `watch --retainers`
//! names the static field that holds the sessions. The watched JVM is started with the larger
//! old-object queue that `run --jvm` gives its JVM (and that a JVM not so started is said to
//! lack, in the kill test).
//! A leakhound killed while recording leaves a bounded recording in a JVM that still runs, and
//! the next leakhound stops it. Without `jcmd` the error names the package to install.

mod util;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;
use util::{runtime_available, Dir, Kids};

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/Leak.java")
}

fn jdk() -> bool {
    runtime_available("java", &["-version"], "default-jdk-headless")
        && runtime_available("jcmd", &["-h"], "default-jdk-headless")
}

/// The tests that start JVMs take turns. Each JVM compiles its source at start (seconds of CPU
/// on a loaded machine) and the kill test polls `jcmd` (a JVM of its own) every second; beside
/// the soaks of the main test, that load left the sessions' function `inconclusive` in a
/// full-suite run ("only 12 samples ... over 70 s"), and one core kept busy by hand beside the
/// main test's four JVMs did too ("95% CI 7.0 to 47.4 GiB/day ... not among the many").
static JVMS: Mutex<()> = Mutex::new(());

/// The program's heap, as a service in a container is given one: its young generation, and
/// so the time between collections (each one a point of the heap's floor), stays small.
const HEAP: &str = "-Xmx96m";

/// `java -Xmx96m Leak.java` started by the test, at 2,000 requests a second for `secs`, with
/// the JVM's start-up `options`.
fn java(leak: bool, secs: u64, options: &[&str]) -> Child {
    Command::new("java")
        .arg(HEAP)
        .args(options)
        .arg(fixture())
        .env("LEAK", if leak { "on" } else { "off" })
        .env("RATE", "2000")
        .env("DURATION", secs.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("java starts")
}

fn frames(site: &Value) -> Vec<&str> {
    site["stack"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn series<'a>(j: &'a Value, name: &str) -> &'a Value {
    j["series"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["name"] == name))
        .unwrap_or_else(|| panic!("no series {name} in {:#}", j["series"]))
}

/// Finished `leakhound` with its JSON verdict.
fn finish(child: Child, what: &str) -> Value {
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{what}: {stderr}");
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{what}: {e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// The leaking program's verdict: the floor of the heap leaks and leads; the top leaking
/// function is the one that allocates the sessions (2,000 a second of 144 bytes and a list
/// slot: about 25 GB/day), named by its line, under its class; no churn or cache site leaks.
///
/// `watch` assumes production load (a daily cycle it cannot see in a short watch), so it needs
/// longer than `run` and its verdict on the floor may stay open: there it must not be
/// `no_leak`. It watches for 130 s: at 100 s the sessions' function was still `inconclusive`
/// in 2 of 5 runs ("25.8 GiB/day (95% CI 4.6 to 46.9), which in 79 s a daily load cycle could
/// produce; watch about 6 s more").
fn check_leak(j: &Value, what: &str, conclusive: bool) {
    let floor = series(j, "java.heap_after_gc");
    if conclusive {
        assert_eq!(floor["verdict"], "leak", "{what}: {floor:#}");
        let headline = j["headline"].as_str().unwrap();
        assert!(headline.starts_with("leak"), "{what}: {headline}");
    } else {
        assert_ne!(floor["verdict"], "no_leak", "{what}: {floor:#}");
        assert!(
            floor["rate_bytes_per_day"].as_f64().unwrap_or(0.0) > 0.0,
            "{what}: {floor:#}"
        );
    }
    let top = &j["functions"][0];
    assert_eq!(top["verdict"], "leak", "{what}: {:#}", j["functions"]);
    assert_eq!(
        top["function"], "Leak.rememberSession (Leak.java)",
        "{what}: {top:#}"
    );
    assert!(
        top["lines"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l == "Leak.rememberSession (Leak.java:56)"),
        "{what}: {top:#}"
    );
    let rate = top["rate_bytes_per_day"].as_f64().unwrap();
    let truth = 2000.0 * 148.0 * 86400.0;
    assert!(
        (0.5 * truth..1.5 * truth).contains(&rate),
        "{what}: {rate:e} B/day against about {truth:e}: {top:#}"
    );
    let sites = j["sites"].as_array().expect("sites in the JSON");
    assert!(
        frames(&sites[0])[..2]
            == [
                "[class] Leak$Session",
                "Leak.rememberSession (Leak.java:56)"
            ],
        "{what}: {:#}",
        sites[0]
    );
    for s in sites.iter().filter(|s| s["verdict"] == "leak") {
        let f = frames(s).join(" <- ");
        for bounded in ["Leak$Invoice", "Leak$Profile", "Leak.bill", "Leak.profile"] {
            assert!(!f.contains(bounded), "{what}: {bounded} leaks: {s:#}");
        }
    }
    assert!(
        sites.iter().any(|s| frames(s)[0].starts_with("[class] ")
            && frames(s)
                .iter()
                .any(|f| f.starts_with("Leak.handle (Leak.java:"))),
        "{what}: the program's stacks under their class: {sites:#?}"
    );
}

/// `run` soaks 120 s, not the 100 s: at 100 s the sessions' function is `leak` when the
/// machine is not overloaded, but its evidence at 100 s on this 2-core machine (the rate over
/// its standard error) ranged from 2.5 to 13.3 over seven runs by hand (four JVMs at once, some
/// with a core kept busy) and was 2.35 in a CI run, and below about 2.5 the family of sites
/// holds it back ("watch about 10 s more"). A CI verdict should not hinge on that draw; 20 s
/// more add a few readings and about a quarter to the evidence, within the watch's 130 s (no
/// longer wall time).
#[test]
fn run_and_watch_find_the_heap_floor_leak_and_the_twin_leaks_nowhere() {
    if !jdk() {
        return;
    }
    let _turn = JVMS.lock().unwrap_or_else(|p| p.into_inner());
    let d = Dir::new();
    // Started as the README asks of a JVM to be watched, with the queue `run --jvm` sets.
    let queue = "-XX:FlightRecorderOptions:old-object-queue-size=4096";
    let mut kids = Kids(vec![java(true, 170, &[queue])]);
    let watched = kids.0[0].id().to_string();
    let spawn = |args: &[&str], leak: &str, db: &str| {
        let mut c = Command::new(util::bin());
        c.arg("--db").arg(d.path(db)).args(args);
        c.env_remove("LEAKHOUND_DB")
            .envs([("LEAK", leak), ("RATE", "2000"), ("DURATION", "140")])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let log = |name: &str| d.path(name).to_str().unwrap().to_string();
    let (leak_log, twin_log) = (log("leak.log"), log("twin.log"));
    let program = fixture().to_str().unwrap().to_string();
    let run = |out: &str, leak: &str, db: &str| {
        spawn(
            &[
                "run", "--for", "120s", "--jvm", "--format", "json", "--output", out, "--", "java",
                HEAP, &program,
            ],
            leak,
            db,
        )
    };
    let leaking = run(&leak_log, "on", "run.db");
    let twin = run(&twin_log, "off", "twin.db");
    let watch = spawn(
        &[
            "watch",
            "--jvm",
            &watched,
            "--retainers",
            "--for",
            "130s",
            "--format",
            "json",
        ],
        "on",
        "watch.db",
    );

    let j = finish(leaking, "run");
    check_leak(&j, "run", true);
    // The heap's floor is read at each collection: about every 8 s in this program (12 seen
    // in one run on a loaded machine).
    let conn = rusqlite::Connection::open(d.path("run.db")).unwrap();
    let floor = util::series(&conn, 1, "java.heap_after_gc");
    assert!(floor.len() >= 6, "{} collections seen", floor.len());
    assert!(!util::series(&conn, 1, "java.heap_used").is_empty());
    let events = util::events(&conn, 1);
    assert!(
        events
            .iter()
            .any(|(_, e)| e.contains("started flight recording") && e.contains("Attach Listener")),
        "the threads leakhound adds are said: {events:?}"
    );
    assert!(
        !events.iter().any(|(_, e)| e.contains("old-object samples")),
        "run --jvm starts its JVM with the larger queue: {events:?}"
    );
    let log = std::fs::read_to_string(&leak_log).unwrap();
    assert!(!log.contains("Full thread dump"), "{log}");
    assert!(
        log.contains(
            "Picked up JAVA_TOOL_OPTIONS: -XX:FlightRecorderOptions:old-object-queue-size=4096"
        ),
        "{log}"
    );

    let j = finish(twin, "twin");
    let leaking: Vec<&Value> = j["sites"]
        .as_array()
        .map(|s| s.iter().filter(|s| s["verdict"] == "leak").collect())
        .unwrap_or_default();
    assert!(leaking.is_empty(), "the twin leaks at {leaking:#?}");
    assert_ne!(series(&j, "java.heap_after_gc")["verdict"], "leak", "{j:#}");

    let j = finish(watch, "watch");
    check_leak(&j, "watch", false);
    // Who holds it (`--retainers`): the old-object samples' paths to GC roots. The list's
    // backing array, allocated outside the thread-local buffers once it is large, is always a
    // sampling candidate; its path ends at the static field that keeps the sessions.
    let holders = j["holders"].as_array().expect("holders in the JSON");
    assert!(
        holders.iter().any(|h| h["source"] == "jvm"
            && h["path"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p == "Leak.SESSIONS (static)")),
        "{holders:#?}"
    );
    assert!(
        kids.0[0].try_wait().unwrap().is_none(),
        "the watched JVM runs on"
    );
}

/// `jcmd PID JFR.check`'s recordings named by leakhound, with their line.
fn leakhound_recordings(pid: u32) -> Vec<String> {
    let out = Command::new("jcmd")
        .args([&pid.to_string(), "JFR.check"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("name=leakhound-"))
        .map(str::to_string)
        .collect()
}

#[test]
fn a_killed_leakhound_leaves_a_bounded_recording_that_the_next_one_stops() {
    if !jdk() {
        return;
    }
    let _turn = JVMS.lock().unwrap_or_else(|p| p.into_inner());
    let d = Dir::new();
    let mut kids = Kids(vec![java(true, 120, &[])]);
    let pid = kids.0[0].id();
    let mut watch = d
        .cmd(&["watch", "--jvm", &pid.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let recording = loop {
        let r = leakhound_recordings(pid);
        if let Some(line) = r
            .iter()
            .find(|l| l.contains(&format!("name=leakhound-{}", watch.id())))
        {
            break line.clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "never recording: {r:?}"
        );
        std::thread::sleep(Duration::from_secs(1));
    };
    // A few dumps, then SIGKILL: no chance to clean up.
    std::thread::sleep(Duration::from_secs(8));
    watch.kill().unwrap();
    watch.wait().unwrap();
    assert!(
        recording.contains("maxsize=32.0MB") && recording.contains("maxage=5m"),
        "bounded by size and age: {recording}"
    );
    assert_eq!(leakhound_recordings(pid), [recording], "left running");
    assert!(kids.0[0].try_wait().unwrap().is_none(), "the JVM runs on");
    // The next leakhound to read that JVM stops the orphan, and its own recording at its end,
    // its directory removed.
    let dirs = || -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(std::env::temp_dir())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("leakhound-jfr-"))
            .collect();
        v.sort();
        v
    };
    let before = dirs();
    // A JVM started without a larger old-object queue is said to keep the default one.
    d.run(&["watch", "--jvm", &pid.to_string(), "--for", "6s"])
        .expect_code(0)
        .expect_stderr("keeps 256 old-object samples (the JVM's default)")
        .expect_stderr("-XX:FlightRecorderOptions:old-object-queue-size=4096");
    assert_eq!(leakhound_recordings(pid), Vec::<String>::new());
    assert!(kids.0[0].try_wait().unwrap().is_none(), "the JVM runs on");
    assert_eq!(dirs(), before);
}

#[test]
fn without_jcmd_the_error_names_the_package() {
    let d = Dir::new();
    let empty = d.path("bin");
    std::fs::create_dir(&empty).unwrap();
    for args in [
        &["run", "--jvm", "--", "java", "Leak.java"][..],
        &["watch", "--jvm", "1", "--for", "1s"][..],
    ] {
        let out = d
            .cmd(args)
            .env("PATH", &empty)
            .env_remove("JAVA_HOME")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains("--jvm: jcmd not found")
                && stderr.contains("apt-get install default-jdk-headless"),
            "{args:?}: {stderr}"
        );
    }
}
