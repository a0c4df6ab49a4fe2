//! Faults around a long watch (issue #8): kill -9 again and again under heavy writes, a disk
//! that fills up and frees again, a wall-clock jump, and targets that turn into zombies, change
//! credentials or lose their pid to another process.

mod util;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use util::{bin, events, series, Dir, Kids};

fn wall() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn sleepers(n: usize) -> Kids {
    Kids(
        (0..n)
            .map(|_| Command::new("sleep").arg("600").spawn().unwrap())
            .collect(),
    )
}

fn integrity(conn: &rusqlite::Connection) -> String {
    conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap()
}

/// (run, stored samples) of every run; none when a kill came before the schema was created.
fn samples_per_run(conn: &rusqlite::Connection) -> Vec<(i64, i64)> {
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    if version == 0 {
        return Vec::new();
    }
    util::store(conn)
        .runs()
        .unwrap()
        .into_iter()
        .map(|r| (r.id, r.samples as i64))
        .collect()
}

#[test]
fn repeated_kill_9_under_heavy_writes_loses_nothing_committed() {
    const TARGETS: usize = 20;
    const KILLS: usize = 30;
    let d = Dir::new();
    let kids = sleepers(TARGETS);
    let mut args = vec!["watch".to_string(), "--interval".into(), "20ms".into()];
    for k in &kids.0 {
        args.push("--pid".into());
        args.push(k.id().to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    // 20 targets x 9-10 series every 20 ms: about 10,000 rows a second, in ~50 transactions.
    let mut before: Vec<(i64, i64)> = Vec::new();
    let mut seed = 0x2545_f491_u64;
    let (mut survived, mut max_tail, mut runs_with_samples) = (0, 0.0f64, 0);
    for k in 0..KILLS {
        // The first kills land while the file and schema are being created; later ones at a
        // random point of the write loop, once it is writing (however slow the start is).
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let stored: i64 = before.iter().map(|r| r.1).sum();
        let mut w = d
            .cmd(&args)
            .stderr(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        if k < 3 {
            std::thread::sleep(Duration::from_millis(10 * k as u64));
        } else {
            wait_for("the watch to write", 20, || {
                d.db().exists()
                    && samples_per_run(&d.open_db())
                        .iter()
                        .map(|r| r.1)
                        .sum::<i64>()
                        > stored
            });
            std::thread::sleep(Duration::from_millis((seed >> 33) % 700));
        }
        w.kill().unwrap(); // SIGKILL
        let killed_at = wall();
        w.wait().unwrap();
        if !d.db().exists() {
            continue;
        }
        if k == 0 {
            // Whatever the kill left, a reader gets an answer, not a crash.
            let r = d.run(&["runs"]);
            assert!(
                r.code() == 0 || r.stderr().contains("holds no runs yet"),
                "{}",
                r.describe()
            );
        }
        let conn = d.open_db();
        assert_eq!(integrity(&conn), "ok", "after kill {k}");
        let now = samples_per_run(&conn);
        // Runs stored before this kill hold exactly what they held.
        assert_eq!(&now[..before.len()], &before[..], "after kill {k}");
        if now.len() > before.len() {
            let run = now.last().unwrap().0;
            // Every stored interval is whole: all targets, all series of that interval.
            let per_time = util::samples_per_time(&conn, run);
            assert!(
                per_time
                    .iter()
                    .all(|&c| c == 9 * TARGETS as i64 || c == 10 * TARGETS as i64),
                "after kill {k}: {per_time:?}"
            );
            let rss = series(&conn, run, "rss");
            if let Some(&(last, _)) = rss.last() {
                runs_with_samples += 1;
                max_tail = max_tail.max(killed_at - last);
                // No interval went missing in the middle.
                let gap = rss.windows(2).map(|w| w[1].0 - w[0].0).fold(0.0, f64::max);
                assert!(gap < 0.5, "after kill {k}: a {gap:.3} s hole in run {run}");
            }
        }
        survived += 1;
        before = now;
    }
    eprintln!(
        "{survived} of {KILLS} kills checked; {runs_with_samples} runs had samples; at most {max_tail:.3} s before a kill was not stored"
    );
    assert!(
        survived >= KILLS - 2,
        "only {survived} kills found a database"
    );
    assert!(
        runs_with_samples >= KILLS - 5,
        "{runs_with_samples} runs stored samples"
    );
    // Lost: the interval in flight at the kill, no more (20 ms apart; generous for a busy CI).
    assert!(max_tail < 1.0, "{max_tail:.3} s before a kill were lost");
    let r = d.run(&["runs", "--format", "json"]);
    r.expect_code(0);
}

/// Runs `leakhound --db MNT/lh.db ARGS` inside its own user and mount namespace, on a small
/// tmpfs mounted at MNT; copies the database to OUT when leakhound ends (the tmpfs goes with
/// the namespace).
fn on_small_tmpfs(mnt: &Path, out: &Path, size: &str, args: &[&str]) -> Child {
    let script = r#"mount -t tmpfs -o size="$1" tmpfs "$2" || exit 97
db="$2/lh.db"; shift 2
"$LEAKHOUND" --db "$db" "$@"; code=$?
# The WAL too: a checkpoint may not have fit on the full disk.
for f in "$db" "$db-wal"; do [ ! -e "$f" ] || cp "$f" "$OUT/" || exit 98; done
exit $code"#;
    Command::new("unshare")
        .args([
            "--user",
            "--map-root-user",
            "--mount",
            "sh",
            "-c",
            script,
            "sh",
        ])
        .arg(size)
        .arg(mnt)
        .args(args)
        .env("LEAKHOUND", bin())
        .env("OUT", out)
        .env_remove("LEAKHOUND_DB")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("unshare (util-linux) starts")
}

/// Fills the filesystem of `dir` with a file until it is full; returns the file.
fn fill(dir: &Path) -> PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    loop {
        if let Err(e) = f.write_all(&chunk).and_then(|_| f.flush()) {
            assert_eq!(e.raw_os_error(), Some(28), "filling: {e}"); // ENOSPC
            return path;
        }
    }
}

/// The mount point as the namespaced process sees it, reached from outside.
fn inside(pid: u32, mnt: &Path) -> PathBuf {
    PathBuf::from(format!("/proc/{pid}/root")).join(mnt.strip_prefix("/").unwrap())
}

fn wait_for(what: &str, secs: u64, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `watch` of this test process every 50 ms for `secs` (and `extra` arguments) with its
/// database on a 16 MiB tmpfs, two seconds in. Returns the child, the database as seen from here, and where the database
/// is copied when the watch ends.
fn watch_on_small_tmpfs(d: &Dir, secs: &str, extra: &[&str]) -> (Child, PathBuf, PathBuf) {
    let (mnt, out) = (d.path("small"), d.path("out"));
    std::fs::create_dir_all(&mnt).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    let me = std::process::id().to_string();
    let mut args = vec!["watch", "--pid", &me, "--interval", "50ms", "--for", secs];
    args.extend(extra);
    let child = on_small_tmpfs(&mnt, &out, "16m", &args);
    let db = inside(child.id(), &mnt).join("lh.db");
    wait_for("the database on the tmpfs", 20, || db.exists());
    std::thread::sleep(Duration::from_secs(2));
    (child, db, out)
}

fn finish(child: Child) -> (i32, String) {
    let out = child.wait_with_output().unwrap();
    let code = out.status.code().unwrap_or(-1);
    (code, String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn a_full_disk_holds_samples_in_memory_until_it_frees() {
    let d = Dir::new();
    // A real HTTP server with a metrics page that gains a series while the disk is full.
    let page = d.path("web");
    std::fs::create_dir(&page).unwrap();
    std::fs::write(page.join("metrics.txt"), "early_metric 1\n").unwrap();
    let port = util::free_port();
    let web = Kids(vec![Command::new("python3")
        .args([
            "-m",
            "http.server",
            "--bind",
            "127.0.0.1",
            &port.to_string(),
        ])
        .current_dir(&page)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()]);
    let url = format!("http://127.0.0.1:{port}/metrics.txt");
    wait_for("the metrics page", 10, || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let (child, db, out) = watch_on_small_tmpfs(&d, "9s", &["--scrape", &url]);
    let filler = fill(db.parent().unwrap());
    let full_from = wall();
    std::fs::write(page.join("metrics.txt"), "early_metric 1\nlate_metric 42\n").unwrap();
    std::thread::sleep(Duration::from_secs(3));
    let freed_at = wall();
    std::fs::remove_file(&filler).unwrap();
    let (code, stderr) = finish(child);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("cannot write to") && stderr.contains("lh.db"),
        "the failure names the database: {stderr}"
    );
    assert!(stderr.contains("writable again"), "{stderr}");
    drop(web);
    let conn = rusqlite::Connection::open(out.join("lh.db")).unwrap();
    // The series that appeared while the disk was full is created with the first interval that
    // read it, held like the others: its samples of the full period are there too.
    let late = series(&conn, 1, "late_metric");
    // A sample is stamped with its interval's start (50 ms), and a scrape begun just before the
    // file changed may read the new file: one interval of slack.
    assert!(
        late.first()
            .is_some_and(|&(t, v)| t > full_from - 0.05 && t < freed_at && v == 42.0),
        "full from {full_from:.3} to {freed_at:.3}: {late:?}"
    );
    assert!(late.len() >= 20, "{} late samples", late.len());
    assert_eq!(integrity(&conn), "ok");
    let rss = series(&conn, 1, "rss");
    // Every interval is there, those read while the disk was full included.
    let gap = rss.windows(2).map(|w| w[1].0 - w[0].0).fold(0.0, f64::max);
    assert!(gap < 0.5, "a {gap:.2} s hole in {} samples", rss.len());
    let during = rss
        .iter()
        .filter(|(t, _)| *t > full_from + 0.2 && *t < freed_at - 0.2)
        .count();
    assert!(during >= 40, "only {during} samples from the full period");
    assert!(rss.len() >= 120, "{} samples in 9 s at 50 ms", rss.len());
    let held = events(&conn, 1);
    assert!(
        held.iter()
            .any(|(k, d)| k == "warning" && d.contains("held in memory")),
        "{held:?}"
    );
}

#[test]
fn a_disk_that_stays_full_is_a_clear_error_and_keeps_what_was_stored() {
    let d = Dir::new();
    let (child, db, out) = watch_on_small_tmpfs(&d, "4s", &[]);
    let full_from = wall();
    let _filler = fill(db.parent().unwrap());
    let (code, stderr) = finish(child);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("could not be stored") && stderr.contains("lh.db"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    let conn = rusqlite::Connection::open(out.join("lh.db")).unwrap();
    assert_eq!(integrity(&conn), "ok");
    let rss = series(&conn, 1, "rss");
    let stored_before = rss.iter().filter(|(t, _)| *t < full_from - 0.2).count();
    assert!(
        stored_before >= 25,
        "{} samples before the disk filled",
        stored_before
    );
}

const LIBFAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

#[test]
fn a_wall_clock_jump_does_not_break_the_series() {
    assert!(
        Path::new(LIBFAKETIME).exists(),
        "needs libfaketime: apt-get install faketime"
    );
    let d = Dir::new();
    let offset = d.path("offset");
    // libfaketime reads the offset from this file at every clock call: the run starts a day in
    // the past, then the wall clock jumps forward by that day.
    std::fs::write(&offset, "-1d\n").unwrap();
    let me = std::process::id().to_string();
    let child = d
        .cmd(&["watch", "--pid", &me, "--interval", "50ms", "--for", "4s"])
        .env("LD_PRELOAD", LIBFAKETIME)
        .env("FAKETIME_TIMESTAMP_FILE", &offset)
        .env("FAKETIME_NO_CACHE", "1")
        .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    std::fs::write(&offset, "+0\n").unwrap();
    let jumped_at = wall();
    let (code, stderr) = finish(child);
    assert_eq!(code, 0, "{stderr}");
    let conn = d.open_db();
    let started: f64 = conn
        .query_row("SELECT started_at FROM runs WHERE id = 1", [], |r| r.get(0))
        .unwrap();
    // The clock leakhound saw at the start was a day behind: the fake clock reached it.
    assert!(
        (jumped_at - 2.0 - 86400.0 - started).abs() < 30.0,
        "started_at {started}, jump at {jumped_at}"
    );
    let rss = series(&conn, 1, "rss");
    let steps: Vec<f64> = rss.windows(2).map(|w| w[1].0 - w[0].0).collect();
    assert!(rss.len() >= 50, "{} samples", rss.len());
    assert!(
        steps.iter().all(|&s| s > 0.0 && s < 0.5),
        "times jump: largest step {:.1} s",
        steps.iter().copied().fold(0.0, f64::max)
    );
    assert!(rss.last().unwrap().0 - started < 10.0);
}

fn python(code: &str) -> Child {
    Command::new("python3")
        .args(["-c", code])
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 starts")
}

/// Reads one line the child prints (its "ready" signal or a pid).
fn line_of(child: &mut Child) -> String {
    use std::io::BufRead;
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    line.trim().to_string()
}

#[test]
fn a_zombie_child_adds_no_memory_and_is_not_a_restart() {
    let d = Dir::new();
    // The parent holds 40 MiB and never reaps its child, which exits at once.
    let mut parent = python(
        "import os, sys, time\nb = bytearray(40 << 20)\npid = os.fork()\nif pid == 0:\n    os._exit(0)\ntime.sleep(0.3)\nprint(pid, flush=True)\ntime.sleep(60)",
    );
    let zombie: i32 = line_of(&mut parent).parse().unwrap();
    let state = std::fs::read_to_string(format!("/proc/{zombie}/stat")).unwrap();
    assert!(state.contains(") Z "), "the child is a zombie: {state}");
    let pid = parent.id().to_string();
    let _kids = Kids(vec![parent]);
    let r = d.run(&["watch", "--pid", &pid, "--interval", "100ms", "--for", "2s"]);
    r.expect_code(0);
    assert!(!r.stderr().contains("skipping pid"), "{}", r.describe());
    let conn = d.open_db();
    let rss = series(&conn, 1, "rss");
    let own = series(&conn, 1, "processes");
    assert!(rss.len() >= 10);
    // Only the parent counts: a zombie has no memory and is not a live process.
    assert!(own.iter().all(|&(_, n)| n == 1.0), "{own:?}");
    assert!(rss.iter().all(|&(_, v)| v > 40.0 * 1048576.0));
    let ev = events(&conn, 1);
    assert!(
        !ev.iter().any(|(k, _)| k == "restart" || k == "exit"),
        "{ev:?}"
    );
}

#[test]
fn a_target_that_changes_credentials_stays_one_series() {
    let d = Dir::new();
    // After a second the target drops its credentials: as root it becomes user nobody, as
    // anyone it makes itself non-dumpable, which closes smaps_rollup to other users.
    let mut target = python(
        "import os, ctypes, time\nb = bytearray(30 << 20)\nprint('ready', flush=True)\ntime.sleep(1)\nif os.getuid() == 0:\n    os.setresgid(65534, 65534, 65534)\n    os.setresuid(65534, 65534, 65534)\nctypes.CDLL(None).prctl(4, 0, 0, 0, 0)\nprint('changed', flush=True)\ntime.sleep(60)",
    );
    assert_eq!(line_of(&mut target), "ready");
    let pid = target.id().to_string();
    let started = wall();
    let w = d
        .cmd(&["watch", "--pid", &pid, "--interval", "100ms", "--for", "3s"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert_eq!(line_of(&mut target), "changed");
    let changed_at = wall();
    let _kids = Kids(vec![target]);
    let (code, stderr) = finish(w);
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let conn = d.open_db();
    let rss = series(&conn, 1, "rss");
    let after = rss.iter().filter(|(t, _)| *t > changed_at + 0.3).count();
    let before = rss.iter().filter(|(t, _)| *t < changed_at).count();
    assert!(
        before >= 3 && after >= 10,
        "{before} samples before, {after} after the change (started {started:.1})"
    );
    assert!(rss.iter().all(|&(_, v)| v > 30.0 * 1048576.0));
    let ev = events(&conn, 1);
    assert!(
        !ev.iter().any(|(k, _)| k == "restart" || k == "exit"),
        "the same process is not a new one: {ev:?}"
    );
}

#[test]
fn a_reused_pid_is_not_taken_for_the_target() {
    // In a new pid namespace, where this test is pid 1's child and may set the next pid, the
    // target exits and a new process (ten times its size) gets the same pid at once.
    let d = Dir::new();
    let driver = r#"
import os, subprocess, sys, time
lh, db = sys.argv[1], sys.argv[2]
a = subprocess.Popen(["python3", "-c", "b = bytearray(20 << 20); import time; time.sleep(60)"])
time.sleep(0.5)
w = subprocess.Popen([lh, "--db", db, "watch", "--pid", str(a.pid), "--interval", "100ms", "--for", "6s"])
time.sleep(1.5)
a.kill(); a.wait()
with open("/proc/sys/kernel/ns_last_pid", "w") as f:
    f.write(str(a.pid - 1))
b = subprocess.Popen(["python3", "-c", "b = bytearray(200 << 20); import time; time.sleep(60)"])
print("reused" if b.pid == a.pid else "not reused %d %d" % (a.pid, b.pid), flush=True)
code = w.wait()
b.kill()
sys.exit(code)
"#;
    let out = Command::new("unshare")
        .args([
            "--user",
            "--map-root-user",
            "--pid",
            "--fork",
            "--mount-proc",
            "python3",
            "-c",
            driver,
        ])
        .arg(bin())
        .arg(d.db())
        .env_remove("LEAKHOUND_DB")
        .output()
        .expect("unshare starts");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert_eq!(stdout.trim(), "reused", "{stderr}");
    let conn = d.open_db();
    let rss = series(&conn, 1, "rss");
    assert!(rss.len() >= 5, "{} samples", rss.len());
    assert!(
        rss.iter().all(|&(_, v)| v < 100.0 * 1048576.0),
        "the new process's memory was taken for the target's: {:?}",
        rss.last()
    );
    // The watch ended with the target, well before its 6 s.
    let span = rss.last().unwrap().0 - rss[0].0;
    assert!(span < 3.0, "sampled for {span:.1} s");
    assert!(events(&conn, 1).iter().any(|(k, _)| k == "exit"));
}
