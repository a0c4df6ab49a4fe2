//! The profiler must never harm the program it runs in: correctness under stress with every
//! allocation sampled, fork while other threads allocate, exec, a killed target, and a
//! leakhound that dies or stops reading.

mod common;

use std::io::Read;
use std::os::unix::net::UnixListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{compile, preload, start};

#[test]
fn stress_with_every_allocation_sampled() {
    // 8 threads, random sizes through every interposed function, 10 s, a mean of 1 byte
    // between samples (every allocation is unwound and recorded, every free looked up).
    let dir = tempfile::tempdir().unwrap();
    let exe = compile(dir.path(), "stress.c");
    let mut p = start(None, &exe, &["10", "8"], 1, 500, &[]);
    let pid = p.pid();
    let (reports, out) = p.collect(&[pid], Duration::from_secs(120));
    assert!(out.iter().any(|l| l.starts_with("ok checksum")), "{out:?}");
    // Every 500 ms, unless the machine is so loaded that the reporter thread waits for CPU
    // and for the tables' lock, which all 8 threads take on every allocation here.
    let times: Vec<f64> = reports.iter().map(|r| r.t).collect();
    assert!(reports.len() >= 3, "{} reports at {times:?}", reports.len());
    let status = p.listener.native_status(&[pid]);
    let (_, st) = status[0];
    assert!(st.hooked && st.samples > 100_000, "{st:?}");
    // The stress keeps at most 8 x 512 blocks live; the estimate (every block sampled, weight
    // 1) must stay within that, whatever the churn did to the tables.
    let last = reports.last().unwrap();
    let objects: f64 = last.sites.iter().map(|s| s.objects).sum::<f64>() + last.other_objects;
    assert!(objects <= 8.0 * 512.0 + 64.0, "{objects} live objects");
}

#[test]
fn fork_while_threads_allocate_and_the_child_profiles_itself() {
    let dir = tempfile::tempdir().unwrap();
    let exe = compile(dir.path(), "forker.c");
    let mut p = start(None, &exe, &["200", "3"], 4096, 300, &[]);
    let parent = p.pid();
    let (reports, out) = p.collect(&[parent], Duration::from_secs(120));
    assert!(out.iter().any(|l| l == "forked 200"), "{out:?}");
    let child: i32 = out
        .iter()
        .find_map(|l| l.strip_prefix("pid ")?.parse().ok())
        .unwrap();
    // The last child lives 3 s holding 8 MiB from child_leak: it reports under its own pid.
    let mine: Vec<_> = reports.iter().filter(|r| r.pid == child).collect();
    assert!(!mine.is_empty(), "no report from the child {child}");
    let top = &mine.last().unwrap().sites[0];
    assert!(
        top.frames[0].starts_with("child_leak (forker.c:"),
        "{:?}",
        top.frames
    );
    assert!(
        (top.bytes / (8.0 * 1048576.0) - 1.0).abs() < 0.25,
        "{} bytes",
        top.bytes
    );
    assert!(reports.iter().any(|r| r.pid == parent));
}

/// Runs the exec test program with `LD_PRELOAD` = a library of the user's and the profiler,
/// and returns what the shell it executes printed.
fn exec_through(children: bool) -> String {
    let dir = tempfile::tempdir().unwrap();
    let exe = compile(dir.path(), "execer.c");
    let user = dir.path().join("libuser.so");
    std::fs::write(dir.path().join("user.c"), "int user_symbol;\n").unwrap();
    let ok = Command::new("gcc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&user)
        .arg(dir.path().join("user.c"))
        .status()
        .unwrap();
    assert!(ok.success());
    let listener = leakhound_probe::agent::AgentListener::bind_private().unwrap();
    let out = Command::new(&exe)
        .env(
            "LD_PRELOAD",
            format!("{}:{}", user.display(), preload().display()),
        )
        .env("LEAKHOUND_AGENT_SOCKET", listener.socket())
        .env(
            "LEAKHOUND_NATIVE_CHILDREN",
            if children { "1" } else { "0" },
        )
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn exec_leaves_the_profiler_behind_unless_asked() {
    let out = exec_through(false);
    assert!(out.contains("mapped=0"), "{out}");
    let line = out.lines().find(|l| l.starts_with("LD_PRELOAD=")).unwrap();
    assert!(
        line.ends_with("/libuser.so"),
        "the user's library stays: {line}"
    );
    let out = exec_through(true);
    assert!(!out.contains("mapped=0"), "{out}");
    assert!(out.contains("libleakhound_preload.so"), "{out}");
}

#[test]
fn a_killed_target_leaves_leakhound_working() {
    let dir = tempfile::tempdir().unwrap();
    let exe = compile(dir.path(), "sites.c");
    let mut p = start(None, &exe, &["60", "2000"], 16384, 200, &[]);
    let pid = p.pid();
    let t0 = Instant::now();
    while p.listener.take_sites(&[pid]).is_empty() {
        assert!(t0.elapsed() < Duration::from_secs(20), "no report");
        std::thread::sleep(Duration::from_millis(20));
    }
    p.child.kill().unwrap();
    p.child.wait().unwrap();
    // The same listener (as leakhound would) serves the next process.
    let mut q = start(Some(p.listener), &exe, &["1.5", "2000"], 16384, 200, &[]);
    let qpid = q.pid();
    let (reports, _) = q.collect(&[qpid], Duration::from_secs(60));
    assert!(!reports.is_empty());
    assert_eq!(
        q.listener.rejected(),
        0,
        "a killed sender leaves no garbage"
    );
}

/// Reads the first `n` lines a connection on `listener` sends.
fn read_lines(listener: &UnixListener, n: usize) -> (std::os::unix::net::UnixStream, Vec<String>) {
    let (mut conn, _) = listener.accept().unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut text = String::new();
    let mut buf = [0u8; 65536];
    while text.matches('\n').count() < n {
        let k = conn.read(&mut buf).unwrap();
        assert!(k > 0, "connection closed early: {text}");
        text.push_str(&String::from_utf8_lossy(&buf[..k]));
    }
    let lines = text.lines().take(n).map(str::to_string).collect();
    (conn, lines)
}

#[test]
fn leakhound_dying_or_stalling_leaves_the_target_running() {
    let dir = tempfile::tempdir().unwrap();
    let exe = compile(dir.path(), "sites.c");
    let sock = dir.path().join("agent.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let started = Instant::now();
    let child = Command::new(&exe)
        .args(["8", "10000"])
        .env("LD_PRELOAD", preload())
        .env("LEAKHOUND_AGENT_SOCKET", &sock)
        .env("LEAKHOUND_NATIVE_SAMPLING", "4096")
        .env("LEAKHOUND_NATIVE_INTERVAL_MS", "100")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // A first leakhound reads the module map and one report, then dies: its socket closes.
    let (conn, lines) = read_lines(&listener, 2);
    assert!(lines[0].contains("\"type\":\"native_maps\""), "{lines:?}");
    assert!(lines[1].contains("\"type\":\"native_sites\""), "{lines:?}");
    drop(conn);
    drop(listener);
    std::fs::remove_file(&sock).unwrap();
    std::thread::sleep(Duration::from_secs(2));
    // A second one comes back at the same path: the target reconnects (with backoff) and
    // starts again with its module map.
    let listener = UnixListener::bind(&sock).unwrap();
    let (conn, lines) = read_lines(&listener, 2);
    assert!(lines[0].contains("\"type\":\"native_maps\""), "{lines:?}");
    // ... and then stops reading: the target must not block on a full socket.
    let out = child.wait_with_output().unwrap();
    let took = started.elapsed();
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("leaked "));
    assert!(took < Duration::from_secs(20), "took {took:?}");
    drop(conn);
}
