//! What a watch of months meets (issue 16): thousands of short-lived processes under
//! `watch --name` (workers recycled), a database locked by another connection, and runs older
//! than the retention.

mod util;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use util::{events, series, Dir, Kids};

/// Anonymous memory of process `pid` (RssAnon), bytes.
fn rss_anon(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("RssAnon:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn stop(child: &Child) {
    let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
}

const MIB: f64 = 1048576.0;

/// One test at a time: each measures leakhound's timing or memory, which the other's thousands
/// of processes on two cores would disturb.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn ten_thousand_short_lived_processes_leave_the_watch_no_bigger() {
    const PROCESSES: usize = 10_000;
    const NODE_EVERY: usize = 20;
    const AT_ONCE: usize = 24;
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let d = Dir::new();
    let node = util::node_available();
    let tag = format!("lh10k-{}", std::process::id());
    // `sleep 0.1 0.000PID` matches by its command line; node processes by the tag they carry.
    let tiny = format!("0.000{}", std::process::id());
    let pattern = format!("^sleep 0\\.1 {}$|{tag}", tiny.replace('.', "\\."));
    let agent_dir = d.path("agent");
    std::fs::create_dir(&agent_dir).unwrap();
    let printed = d.run(&["agent", "--dir", agent_dir.to_str().unwrap()]);
    printed.expect_code(0);
    let socket = agent_dir.join("leakhound-agent.sock");
    let watch = d
        .cmd(&[
            "watch",
            "--name",
            &pattern,
            "--agent-socket",
            socket.to_str().unwrap(),
            "--interval",
            "50ms",
            "--no-smaps",
            "--for",
            "20m",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = watch.id();
    let mut watch = Kids(vec![watch]);
    std::thread::sleep(Duration::from_millis(500));
    // Each node process counts one job, so the target's counter should end near their number.
    let job = "require('diagnostics_channel').channel('leakhound.count').publish({ name: 'jobs', n: 1 }); setTimeout(() => {}, 600)";
    let mut live: Vec<Child> = Vec::new();
    let (mut started, mut nodes) = (0usize, 0usize);
    let mut at_1000 = 0u64;
    let mut readings: Vec<(usize, u64)> = Vec::new();
    let began = Instant::now();
    while started < PROCESSES {
        live.retain_mut(|c| !matches!(c.try_wait(), Ok(Some(_))));
        if live.len() >= AT_ONCE {
            std::thread::sleep(Duration::from_millis(2));
            continue;
        }
        let child = if node && started % NODE_EVERY == 0 {
            nodes += 1;
            Command::new("sh")
                .args(["-c", "eval \"$1\"; exec node -e \"$2\" \"$3\"", "sh"])
                .arg(printed.stdout())
                .arg(job)
                .arg(&tag)
                .env("LEAKHOUND_AGENT_INTERVAL_MS", "100")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
        } else {
            Command::new("sleep").args(["0.1", &tiny]).spawn()
        };
        live.push(child.unwrap());
        started += 1;
        if started == 1000 {
            at_1000 = rss_anon(pid);
            readings.push((started, at_1000));
        } else if started % 500 == 0 {
            readings.push((started, rss_anon(pid)));
        }
    }
    for mut c in live {
        let _ = c.wait();
    }
    std::thread::sleep(Duration::from_millis(500));
    let end = rss_anon(pid);
    readings.push((PROCESSES, end));
    let took = began.elapsed();
    stop(&watch.0[0]);
    let out = watch.0.pop().unwrap().wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let shown: Vec<String> = readings
        .iter()
        .map(|(n, b)| format!("{n}: {:.2} MiB", *b as f64 / MIB))
        .collect();
    eprintln!(
        "{PROCESSES} processes ({nodes} node) in {:.0} s; leakhound RssAnon after process {}",
        took.as_secs_f64(),
        shown.join(", ")
    );
    let peak = readings
        .iter()
        .filter(|(n, _)| *n >= 1000)
        .map(|r| r.1)
        .max()
        .unwrap();
    assert!(
        at_1000 > 0 && (peak - at_1000) < 1 << 20,
        "RssAnon grew {:.2} MiB from the 1,000th process on: {}",
        (peak - at_1000) as f64 / MIB,
        shown.join(", ")
    );
    // The processes were seen, one after the other.
    let conn = d.open_db();
    let seen = events(&conn, 1)
        .iter()
        .filter(|(k, _)| k == "instance" || k == "restart")
        .count();
    assert!(
        seen >= PROCESSES * 8 / 10,
        "{seen} of {PROCESSES} processes seen"
    );
    if node {
        // Counters of processes long gone still count, and never go backwards.
        let jobs = series(&conn, 1, "app.jobs");
        assert!(
            jobs.windows(2).all(|w| w[1].1 >= w[0].1),
            "app.jobs went backwards"
        );
        let counted = jobs.last().map_or(0.0, |p| p.1);
        eprintln!("app.jobs counted {counted} of {nodes} node processes; {seen} processes seen");
        assert!(
            counted >= nodes as f64 * 0.8 && counted <= nodes as f64,
            "{counted} jobs counted of {nodes} node processes"
        );
    }
}

#[test]
fn a_database_locked_for_15_s_delays_no_sample_and_loses_none() {
    const INTERVAL: f64 = 0.2;
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let d = Dir::new();
    // A target of its own: this test process has other tests' children.
    let target = Kids(vec![Command::new("sleep").arg("60").spawn().unwrap()]);
    let me = target.0[0].id().to_string();
    let watch = d
        .cmd(&[
            "watch",
            "--pid",
            &me,
            "--interval",
            "200ms",
            "--for",
            "22s",
            "--no-smaps",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let watch = Kids(vec![watch]);
    util::wait_for_samples(&d, 1, "rss", 5, 20);
    // Another connection takes the write lock and keeps it 15 s.
    let other = d.open_db();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let locked_at = util::wall();
    std::thread::sleep(Duration::from_secs(15));
    other.execute_batch("COMMIT").unwrap();
    let released_at = util::wall();
    let mut watch = watch;
    let out = watch.0.pop().unwrap().wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(
        stderr.matches("cannot write to").count(),
        1,
        "said once: {stderr}"
    );
    assert!(stderr.contains("locked"), "{stderr}");
    assert!(stderr.contains("writable again"), "{stderr}");
    let rss = series(&d.open_db(), 1, "rss");
    let t0 = rss[0].0;
    // Every interval is stored, each within one interval of its place in the schedule: a
    // missing or a late interval would shift every later one.
    for (k, (t, _)) in rss.iter().enumerate() {
        let due = t0 + k as f64 * INTERVAL;
        assert!(
            (t - due).abs() < INTERVAL,
            "sample {k} at {t:.3}, due {due:.3} ({} samples)",
            rss.len()
        );
    }
    let during = rss
        .iter()
        .filter(|(t, _)| *t > locked_at + 1.0 && *t < released_at - 1.0)
        .count();
    assert!(during >= 60, "{during} samples read while locked");
    assert!(rss.len() >= 100, "{} samples in 22 s at 200 ms", rss.len());
    let held = events(&d.open_db(), 1);
    assert!(
        held.iter()
            .any(|(k, d)| k == "warning" && d.contains("held in memory")),
        "{held:?}"
    );
}
