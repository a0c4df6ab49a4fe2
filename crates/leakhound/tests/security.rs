//! What leakhound exposes and runs (issue #8): listening sockets stay on loopback unless the
//! user says otherwise and are announced; user strings never reach a shell.

mod util;

use std::io::BufRead;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

use util::{free_port, Dir};

/// Local addresses ("127.0.0.1:8080", "[::1]:80"...) of the TCP sockets `pid` listens on.
fn listening(pid: u32) -> Vec<String> {
    let mut inodes = Vec::new();
    for fd in std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
    {
        if let Ok(link) = std::fs::read_link(fd.path()) {
            let l = link.to_string_lossy().into_owned();
            if let Some(n) = l.strip_prefix("socket:[").and_then(|s| s.strip_suffix(']')) {
                inodes.push(n.to_string());
            }
        }
    }
    let mut out = Vec::new();
    for table in ["tcp", "tcp6"] {
        let text = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")).unwrap();
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 10 || f[3] != "0A" || !inodes.iter().any(|i| i == f[9]) {
                continue;
            }
            let (ip, port) = f[1].split_once(':').unwrap();
            let port = u16::from_str_radix(port, 16).unwrap();
            let addr = if ip.len() == 8 {
                let v = u32::from_str_radix(ip, 16).unwrap().to_le_bytes();
                format!("{}.{}.{}.{}:{port}", v[0], v[1], v[2], v[3])
            } else if ip == "00000000000000000000000001000000" {
                format!("[::1]:{port}")
            } else {
                format!("[{ip}]:{port}")
            };
            out.push(addr);
        }
    }
    out.sort();
    out
}

/// Waits for the first stderr line of `child` that contains `needle`; returns every line read.
fn stderr_until(child: &mut Child, needle: &str) -> String {
    let mut seen = String::new();
    let mut r = std::io::BufReader::new(child.stderr.as_mut().unwrap());
    let mut line = String::new();
    while r.read_line(&mut line).unwrap() > 0 {
        seen.push_str(&line);
        if line.contains(needle) {
            return seen;
        }
        line.clear();
    }
    panic!("never printed {needle:?}: {seen}");
}

fn stop(mut c: Child) {
    let _ = c.kill();
    let _ = c.wait();
}

#[test]
fn the_recorder_listens_on_loopback_by_default_and_says_so() {
    let d = Dir::new();
    let mut rec = d
        .cmd(&[
            "record",
            "--upstream",
            "http://127.0.0.1:9",
            "--out",
            d.path("t.har").to_str().unwrap(),
            "--for",
            "20s",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let said = stderr_until(&mut rec, "recording on");
    let socks = listening(rec.id());
    stop(rec);
    assert!(
        said.contains("http://127.0.0.1:8080 (loopback only)")
            && said.contains("credentials redacted"),
        "{said}"
    );
    assert_eq!(socks, ["127.0.0.1:8080"]);
}

#[test]
fn the_exporter_binds_where_listen_says_and_names_the_scope() {
    let d = Dir::new();
    let me = std::process::id().to_string();
    for (host, scope) in [
        ("127.0.0.1", "(loopback only)"),
        ("0.0.0.0", "(reachable from other hosts)"),
    ] {
        let port = free_port();
        let addr = format!("{host}:{port}");
        let mut w = d
            .cmd(&["watch", "--pid", &me, "--listen", &addr, "--for", "20s"])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let said = stderr_until(&mut w, "serving metrics");
        let socks = listening(w.id());
        stop(w);
        assert!(
            said.contains(&format!("http://{addr}/metrics {scope}")),
            "{said}"
        );
        assert_eq!(socks, [addr]);
    }
}

#[test]
fn run_listens_on_no_tcp_port_and_keeps_the_agent_socket_private() {
    let d = Dir::new();
    let mut run = d
        .cmd(&["run", "--interval", "100ms", "--", "sleep", "20"])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The command is leakhound's child; its environment names the agent socket.
    let child = (0..100)
        .find_map(|_| {
            std::thread::sleep(Duration::from_millis(50));
            std::fs::read_to_string(format!("/proc/{}/task/{}/children", run.id(), run.id()))
                .ok()
                .and_then(|s| s.split_whitespace().next().map(str::to_string))
        })
        .expect("the command started");
    std::thread::sleep(Duration::from_millis(300));
    let env = std::fs::read(format!("/proc/{child}/environ")).unwrap();
    let socks = listening(run.id());
    let socket = env
        .split(|&b| b == 0)
        .filter_map(|kv| std::str::from_utf8(kv).ok())
        .find_map(|kv| kv.strip_prefix("LEAKHOUND_AGENT_SOCKET="))
        .map(|s| Path::new(s).to_path_buf())
        .expect("the agent socket is in the command's environment");
    let dir_mode = std::fs::metadata(socket.parent().unwrap())
        .unwrap()
        .permissions()
        .mode();
    let sock_mode = std::fs::metadata(&socket).unwrap().permissions().mode();
    let _ = run.kill();
    let _ = run.wait();
    assert!(socks.is_empty(), "run listens on {socks:?}");
    assert_eq!(dir_mode & 0o777, 0o700, "{}", socket.display());
    assert_eq!(sock_mode & 0o777, 0o600, "{}", socket.display());
}

#[test]
fn user_strings_never_reach_a_shell() {
    let d = Dir::new();
    let marker = |n: &str| d.path(n);
    // A command line in one string is a program name, not a script.
    let one = format!("touch {}; sleep 1", marker("a").display());
    let r = d.run(&["run", "--for", "2s", "--", &one]);
    r.expect_code(2);
    assert!(r.stderr().contains("touch"), "{}", r.describe());
    // Arguments are passed as they are: no substitution, no globbing.
    let sub = format!("$(touch {})", marker("b").display());
    let tick = format!("`touch {}`", marker("c").display());
    let r = d.run(&["run", "--for", "2s", "--", "echo", &sub, &tick, "*"]);
    r.expect_code(0);
    // run's verdict goes to stderr; the command's own output is stdout, word for word.
    assert_eq!(
        r.stdout().trim(),
        format!("{sub} {tick} *"),
        "{}",
        r.describe()
    );
    // A --name pattern is a regular expression, never a command.
    let pat = format!("$(touch {})", marker("d").display());
    let r = d.run(&["watch", "--name", &pat, "--for", "1s"]);
    assert!(r.code() == 0 || r.code() == 2, "{}", r.describe());
    for n in ["a", "b", "c", "d"] {
        assert!(!marker(n).exists(), "{n} was created: a shell ran");
    }
}
