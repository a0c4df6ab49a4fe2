//! `run` and `watch` on real processes that allocate known amounts.

mod util;

use std::process::{Command, Stdio};
use std::time::Duration;

use util::{bin, events, series, Dir};

const MIB: f64 = 1048576.0;

#[test]
fn run_sees_an_allocation_as_rss_growth() {
    let d = Dir::new();
    let exe = bin();
    let r = d.run(&[
        "run",
        "--interval",
        "100ms",
        "--",
        exe.to_str().unwrap(),
        "workload",
        "alloc",
        "64",
        "--step-ms",
        "10",
        "--hold",
        "1.5",
    ]);
    r.expect_code(0);
    let rss = series(&d.open_db(), 1, "rss");
    assert!(rss.len() >= 10, "{}", r.describe());
    let first = rss[0].1;
    let max = rss.iter().map(|p| p.1).fold(0.0, f64::max);
    let grew = (max - first) / MIB;
    assert!(
        (58.0..72.0).contains(&grew),
        "grew {grew:.1} MiB\n{}",
        r.describe()
    );
    let uss = series(&d.open_db(), 1, "uss");
    let uss_grew = (uss.iter().map(|p| p.1).fold(0.0, f64::max) - uss[0].1) / MIB;
    assert!(
        (58.0..72.0).contains(&uss_grew),
        "uss grew {uss_grew:.1} MiB"
    );
}

#[test]
fn run_sums_a_process_tree_and_survives_children_exiting() {
    let d = Dir::new();
    let exe = bin();
    let r = d.run(&[
        "run",
        "--interval",
        "100ms",
        "--",
        exe.to_str().unwrap(),
        "workload",
        "tree",
        "3",
        "20",
        "--hold",
        "3",
        "--child-hold",
        "1.2",
    ]);
    r.expect_code(0);
    let conn = d.open_db();
    let procs = series(&conn, 1, "processes");
    let max_procs = procs.iter().map(|p| p.1).fold(0.0, f64::max);
    assert_eq!(max_procs, 4.0, "{}", r.describe());
    assert_eq!(procs.last().unwrap().1, 1.0, "children exited: {procs:?}");
    let rss = series(&conn, 1, "rss");
    let peak = rss.iter().map(|p| p.1).fold(0.0, f64::max) / MIB;
    let last = rss.last().unwrap().1 / MIB;
    assert!(
        peak > 60.0,
        "3 children x 20 MiB summed, peak {peak:.1} MiB"
    );
    assert!(
        last < peak - 50.0,
        "memory of exited children left the sum: last {last:.1}"
    );
}

#[test]
fn watch_name_follows_a_restart() {
    let d = Dir::new();
    let tag = format!("lh-restart-{}", std::process::id());
    let exe = bin();
    let watch = d
        .cmd(&[
            "watch",
            "--name",
            &tag,
            "--interval",
            "100ms",
            "--for",
            "4s",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = |hold: &str| {
        Command::new(&exe)
            .args(["workload", "alloc", "8", "--hold", hold, "--tag", &tag])
            .stdout(Stdio::null())
            .spawn()
            .unwrap()
    };
    std::thread::sleep(Duration::from_millis(500));
    let mut a = start("1");
    a.wait().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let mut b = start("1.5");
    b.wait().unwrap();
    let out = watch.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    // The run's first event records the load it assumed; then the instances.
    let ev: Vec<_> = events(&d.open_db(), 1)
        .into_iter()
        .filter(|e| e.0 != "load")
        .collect();
    let kinds: Vec<&str> = ev.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(
        kinds,
        ["instance", "exit", "restart", "exit"],
        "{ev:?}\n{err}"
    );
    assert!(ev[0].1.contains(&format!("pid={}", a.id())));
    assert!(ev[2].1.contains(&format!("pid={}", b.id())));
}

#[test]
fn watch_pid_ends_when_the_process_exits() {
    let d = Dir::new();
    let mut child = Command::new("sleep").arg("1").spawn().unwrap();
    let pid = child.id().to_string();
    let r = d.run(&[
        "watch",
        "--pid",
        &pid,
        "--interval",
        "100ms",
        "--for",
        "20s",
    ]);
    child.wait().unwrap();
    r.expect_code(0);
    let ev = events(&d.open_db(), 1);
    assert_eq!(ev.last().unwrap().0, "exit", "{ev:?}");
    let status: String = d
        .open_db()
        .query_row("SELECT status FROM runs WHERE id = 1", [], |r| r.get(0))
        .unwrap();
    assert_eq!(status, "finished");
}

#[test]
fn unreadable_smaps_degrade_with_a_warning() {
    // As nobody, /proc/1/smaps_rollup (root's init) is unreadable; RSS from status still is.
    if !std::path::Path::new("/usr/bin/setpriv").exists() || rustix_is_not_root() {
        eprintln!("skipped: needs root and setpriv");
        return;
    }
    let d = Dir::new();
    std::fs::set_permissions(
        d.dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    let out = Command::new("setpriv")
        .args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
        .arg(bin())
        .args([
            "--db",
            d.db().to_str().unwrap(),
            "watch",
            "--pid",
            "1",
            "--interval",
            "100ms",
            "--for",
            "1s",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("not readable") || err.contains("permission denied"),
        "{err}"
    );
    let conn = d.open_db();
    assert!(series(&conn, 1, "rss").len() >= 5, "{err}");
    assert!(series(&conn, 1, "pss").is_empty());
}

fn rustix_is_not_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            !s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(true)
}

#[test]
fn kill_9_of_watch_keeps_the_database_and_its_samples() {
    let d = Dir::new();
    let me = std::process::id().to_string();
    let mut w = d
        .cmd(&["watch", "--pid", &me, "--interval", "50ms"])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    w.kill().unwrap(); // SIGKILL
    w.wait().unwrap();
    let conn = d.open_db();
    let ok: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
    let rss = series(&conn, 1, "rss");
    assert!(rss.len() >= 10, "only {} samples survived", rss.len());
    // Every interval is whole: each stored time has all the series read every interval (nine;
    // open fds are counted every fifth interval, making ten).
    let per_time = util::samples_per_time(&conn, 1);
    assert!(per_time.iter().all(|&c| c == 9 || c == 10), "{per_time:?}");
    assert!(
        per_time.contains(&10),
        "fds are stored every fifth interval: {per_time:?}"
    );
    // A reader sees the run as unfinished, not corrupt.
    let r = d.run(&["runs"]);
    r.expect_code(0);
    assert!(r.stdout().contains("running"), "{}", r.describe());
}

#[test]
fn until_verdict_stops_a_leaking_soak_early_and_fail_on_gates_it() {
    let d = Dir::new();
    let exe = bin();
    // ~2 MiB/s of leak with a small sawtooth: conclusive within a few looks.
    let started = std::time::Instant::now();
    let log = d.path("svc.log");
    let r = d.run(&[
        "run",
        "--interval",
        "200ms",
        "--for",
        "120s",
        "--until-verdict",
        "--min-soak",
        "30s",
        "--fail-on",
        "leak",
        "--format",
        "json",
        "--output",
        log.to_str().unwrap(),
        "--",
        exe.to_str().unwrap(),
        "workload",
        "service",
        "--leak",
        "20000",
        "--rate",
        "100",
        "--period",
        "10",
        "--garbage",
        "2",
        "--garbage-chunk",
        "65536",
        "--for",
        "300",
    ]);
    let took = started.elapsed().as_secs_f64();
    r.expect_code(1);
    assert!(took < 100.0, "stopped after {took:.0} s\n{}", r.describe());
    let j = r.json();
    let rss = j["series"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "rss")
        .unwrap();
    assert_eq!(rss["verdict"], "leak", "{rss:#}");
    let status: String = d
        .open_db()
        .query_row("SELECT status FROM runs WHERE id = 1", [], |r| r.get(0))
        .unwrap();
    assert_eq!(status, "stopped");
}

#[test]
fn a_soak_without_a_leak_is_not_called_one() {
    let d = Dir::new();
    let exe = bin();
    let log = d.path("svc.log");
    let r = d.run(&[
        "run",
        "--interval",
        "200ms",
        "--for",
        "20s",
        "--fail-on",
        "leak",
        "--format",
        "json",
        "--output",
        log.to_str().unwrap(),
        "--",
        exe.to_str().unwrap(),
        "workload",
        "service",
        "--leak",
        "0",
        "--rate",
        "100",
        "--period",
        "10",
        "--garbage",
        "2",
        "--garbage-chunk",
        "65536",
        "--for",
        "300",
    ]);
    r.expect_code(0);
    let j = r.json();
    let rss = j["series"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "rss")
        .unwrap();
    assert_ne!(rss["verdict"], "leak", "{rss:#}");
}

#[test]
fn two_watches_share_one_database() {
    let d = Dir::new();
    let me = std::process::id().to_string();
    let spawn = || {
        d.cmd(&["watch", "--pid", &me, "--interval", "50ms", "--for", "3s"])
            .stderr(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .unwrap()
    };
    let (mut a, mut b) = (spawn(), spawn());
    assert!(a.wait().unwrap().success());
    assert!(b.wait().unwrap().success());
    let conn = d.open_db();
    let ok: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
    for run in [1, 2] {
        assert!(
            series(&conn, run, "rss").len() >= 20,
            "run {run} lost samples"
        );
    }
}
