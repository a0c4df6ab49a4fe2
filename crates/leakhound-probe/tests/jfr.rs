//! Reading real flight recordings: the test program (`java Leak.java`, the one leakhound's own
//! tests run) recorded with leakhound's settings through `jcmd`, dumped with and without paths
//! to GC roots, and read by `leakhound_probe::jfr`. Skipped with a message without a JDK;
//! fails then when `CI` is set.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use leakhound_probe::jfr::{
    dump_command, parse_check, read_dump, recording_name, settings, sites, start_command,
    stop_command,
};
use leakhound_probe::jvm::{find_jcmd, is_jvm, jcmd};

fn jdk() -> Option<PathBuf> {
    let found = find_jcmd().ok().filter(|_| {
        Command::new("java")
            .arg("-version")
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI needs a JDK (default-jdk-headless)"
        );
        eprintln!("skipped: no JDK (apt-get install default-jdk-headless)");
    }
    found
}

struct Jvm(Child);

impl Drop for Jvm {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_leak(dir: &Path) -> Jvm {
    let program =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../leakhound/tests/fixtures/Leak.java");
    let child = Command::new("java")
        .arg("-Xmx96m")
        .arg(program)
        .env("LEAK", "on")
        .env("RATE", "2000")
        .env("DURATION", "120")
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let jvm = Jvm(child);
    let started = Instant::now();
    while !is_jvm(jvm.0.id() as i32) {
        assert!(started.elapsed() < Duration::from_secs(30), "no JVM");
        std::thread::sleep(Duration::from_millis(100));
    }
    jvm
}

#[test]
fn a_recording_of_the_leak_reads_into_heap_floor_sites_and_holders() {
    let Some(jcmd_path) = jdk() else { return };
    let dir = tempfile::tempdir().unwrap();
    let jvm = start_leak(dir.path());
    let pid = jvm.0.id() as i32;
    let jfc = dir.path().join("leakhound.jfc");
    std::fs::write(&jfc, settings()).unwrap();
    let name = recording_name(std::process::id());
    let t = Duration::from_secs(60);
    let run = |c: Vec<String>| {
        let args: Vec<&str> = c.iter().map(String::as_str).collect();
        jcmd(&jcmd_path, pid, &args, t)
    };
    // The program compiles itself first; jcmd answers once the JVM runs.
    let started = Instant::now();
    while let Err(e) = run(start_command(&name, jfc.to_str().unwrap())) {
        assert!(started.elapsed() < Duration::from_secs(60), "{e}");
        std::thread::sleep(Duration::from_millis(500));
    }
    let listed = parse_check(&run(vec!["JFR.check".into()]).unwrap());
    assert!(
        listed.iter().any(|(_, n, running)| *n == name && *running),
        "{listed:?}"
    );
    // Dumped every 5 s from 15 s on until the old-object sampler holds something allocated
    // on rememberSession's path (in it, or in the list it grows: the sampler is offered the
    // first object of each new TLAB and objects allocated outside one: the Sessions' large
    // backing array always, a small Session seldom), for at most 90 s.
    let plain = dir.path().join("plain.jfr");
    std::thread::sleep(Duration::from_secs(15));
    let dump = loop {
        run(dump_command(&name, plain.to_str().unwrap(), None, false)).unwrap();
        let dump = read_dump(&std::fs::read(&plain).unwrap()).unwrap();
        let held = dump.samples.iter().any(|s| {
            s.frames
                .iter()
                .any(|f| f.starts_with("Leak.rememberSession (Leak.java:"))
        });
        if held || started.elapsed() > Duration::from_secs(90) {
            break dump;
        }
        std::thread::sleep(Duration::from_secs(5));
    };
    let after: Vec<_> = dump.heap.iter().filter(|h| h.after).collect();
    assert!(
        after.len() >= 2,
        "a collection every few seconds: {:?}",
        dump.heap
    );
    assert!(after.iter().all(|h| h.used > 0.0 && h.committed >= h.used));
    assert!(dump.heap.iter().any(|h| !h.after));
    assert!(!dump.metaspace.is_empty());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(
        (dump.emitted.unwrap() - now).abs() < 30.0,
        "times are unix seconds"
    );
    let at_leak = |s: &&leakhound_probe::jfr::OldSample| {
        s.frames
            .iter()
            .any(|f| f.starts_with("Leak.rememberSession (Leak.java:"))
    };
    let session = dump
        .samples
        .iter()
        .find(at_leak)
        .unwrap_or_else(|| panic!("nothing from rememberSession among {:#?}", dump.samples));
    assert!(session.path.is_empty(), "no paths unless asked");
    assert!(session.allocated <= dump.emitted.unwrap());
    let growth = after.last().unwrap().used - after[0].used;
    // Every sample, whenever allocated (the one from rememberSession may predate the first
    // collection the recording saw).
    let s = sites(&dump.samples, growth, 0.0, 200, pid, now).unwrap();
    assert!(
        s.report.sites.iter().any(|site| site
            .frames
            .iter()
            .any(|f| f.starts_with("Leak.rememberSession (Leak.java:"))),
        "{:#?}",
        s.report.sites
    );
    leakhound_probe::sites::check(&s.report).unwrap();

    // With paths to GC roots, only the chunks since the last dump. The root search has a
    // cutoff and a dump may hold one fresh sample of the leak without its path (it happened
    // in a full suite, then every time on the same machine): up to four dumps 5 s apart, until
    // a sample of the leak reaches the static field.
    let with_paths = dir.path().join("paths.jfr");
    let mut seen = Vec::new();
    let mut found = None;
    for _ in 0..4 {
        run(dump_command(
            &name,
            with_paths.to_str().unwrap(),
            Some(5.0),
            true,
        ))
        .unwrap();
        let dump = read_dump(&std::fs::read(&with_paths).unwrap()).unwrap();
        let reaches = dump
            .samples
            .iter()
            .any(|s| at_leak(&s) && s.path.iter().any(|p| p == "Leak.SESSIONS (static)"));
        if reaches {
            found = Some(dump);
            break;
        }
        seen.extend(
            dump.samples
                .iter()
                .filter(|s| at_leak(s))
                .map(|s| s.path.clone()),
        );
        std::thread::sleep(Duration::from_secs(5));
    }
    let dump = found.unwrap_or_else(|| {
        panic!("no sample of rememberSession reached Leak.SESSIONS in four dumps: {seen:#?}")
    });
    let s = sites(&dump.samples, 1e6, 0.0, 200, pid, now).unwrap();
    let (_, holders) = s
        .holders
        .iter()
        .find(|(f, _)| {
            f.iter()
                .any(|x| x.starts_with("Leak.rememberSession (Leak.java:"))
        })
        .unwrap();
    assert!(holders[0]
        .path
        .contains(&"Leak.SESSIONS (static)".to_string()));

    run(stop_command(&name)).unwrap();
    let listed = parse_check(&run(vec!["JFR.check".into()]).unwrap());
    assert!(listed.iter().all(|(_, n, _)| *n != name), "{listed:?}");
    // A damaged or foreign file is an error, not a crash.
    let mut bytes = std::fs::read(&plain).unwrap();
    bytes.truncate(bytes.len() / 2);
    assert!(read_dump(&bytes).is_err());
    assert!(read_dump(b"not a recording").is_err());
}
