//! `run --native-sites`: the preloaded sampling profiler in real C and C++ programs, end to
//! end, at the defaults (a one-minute soak, no other flag). The function that leaks 64 bytes
//! per iteration ranks first with verdict `leak` and its rate; the churning and caching sites
//! do not leak, nor anything in the no-leak twin; C++ leaks are named by their function, never
//! by `operator new`, and a function leaking on two paths outranks a larger single-path leak.
//! What cannot be profiled is said: a static binary, an executable with its own malloc, a
//! missing library. Killing the target or leakhound harms neither.

mod util;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use util::{compile_program, Dir};

/// `run --native-sites -- PROGRAM ARGS` with no other flag, as a newcomer first runs it: the
/// JSON, and stderr (which must hold no warning).
fn soak_at_defaults(
    d: &Dir,
    exe: &std::path::Path,
    args: &[&str],
    leak: bool,
) -> serde_json::Value {
    let out = d.path("program.out");
    let mut all = vec![
        "run",
        "--native-sites",
        "--output",
        out.to_str().unwrap(),
        "--format",
        "json",
        "--",
        exe.to_str().unwrap(),
    ];
    all.extend_from_slice(args);
    let r = d.run_env(&all, &[("LEAK", if leak { "on" } else { "none" })]);
    r.expect_code(0);
    assert!(!r.stderr().contains("warning"), "{}", r.describe());
    r.json()
}

fn function<'a>(j: &'a serde_json::Value, name: &str) -> Option<&'a serde_json::Value> {
    j["functions"]
        .as_array()?
        .iter()
        .find(|f| f["function"].as_str().is_some_and(|n| n.starts_with(name)))
}

#[test]
fn at_the_defaults_a_one_minute_soak_names_the_leaking_c_function_with_its_rate() {
    let d = Dir::new();
    let exe = compile_program(d.dir.path(), "sites.c", &[]);
    // 60 s at 10,000 iterations/s, 64 bytes leaked each (55.3 GB/day), next to 8 KiB blocks
    // churned four times an iteration and a bounded cache: the defaults' schedule and sample
    // budget must see the leak within the minute.
    let j = soak_at_defaults(&d, &exe, &["60", "10000"], true);
    let top = &j["functions"][0];
    assert_eq!(
        top["function"], "leak_one (sites.c)",
        "{:#}",
        j["functions"]
    );
    assert_eq!(top["verdict"], "leak", "{top:#}");
    let truth = 64.0 * 10_000.0 * 86_400.0;
    let rate = top["rate_bytes_per_day"].as_f64().unwrap();
    assert!(
        (rate / truth - 1.0).abs() < 0.25,
        "{rate:.4e} vs {truth:.4e}"
    );
    assert!(top["share_of_growth"].as_f64().unwrap() > 0.8, "{top:#}");
    for f in j["functions"].as_array().unwrap().iter().skip(1) {
        assert_ne!(f["verdict"], "leak", "{f:#}");
    }
    assert!(
        function(&j, "cache_put (sites.c)").is_some(),
        "{:#}",
        j["functions"]
    );
    let headline = j["headline"].as_str().unwrap();
    assert!(
        headline.contains("allocated in `leak_one (sites.c:"),
        "{headline}"
    );
    // The frames are stored with the run, so later commands judge the same functions.
    let again = d.run(&["analyze", "--format", "json"]);
    assert_eq!(again.json()["functions"][0]["function"], top["function"]);
}

#[test]
fn at_the_defaults_the_no_leak_twin_has_no_leaking_function() {
    let d = Dir::new();
    let exe = compile_program(d.dir.path(), "sites.c", &[]);
    let j = soak_at_defaults(&d, &exe, &["60", "10000"], false);
    let functions = j["functions"].as_array().expect("functions judged");
    assert!(
        function(&j, "cache_put (sites.c)").is_some(),
        "{functions:#?}"
    );
    for f in functions {
        assert_ne!(f["verdict"], "leak", "{f:#}");
    }
}

#[test]
fn a_cpp_leak_is_named_by_its_function_and_two_paths_outrank_one() {
    let d = Dir::new();
    let exe = compile_program(d.dir.path(), "functions.cpp", &[]);
    // Per iteration: `twice` keeps 3 bytes on each of two paths, `once` 5 bytes on one,
    // `asdf` 4 bytes (a `new int`) on five paths in turn; all through operator new.
    let j = soak_at_defaults(&d, &exe, &["60", "100000"], true);
    let names: Vec<&str> = j["functions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["verdict"] == "leak")
        .map(|f| f["function"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "app::twice (functions.cpp)",
            "app::once (functions.cpp)",
            "app::asdf (functions.cpp)"
        ],
        "{:#}",
        j["functions"]
    );
    let per_day = 100_000.0 * 86_400.0;
    for (name, bytes) in [("app::twice", 6.0), ("app::once", 5.0), ("app::asdf", 4.0)] {
        let rate = function(&j, name).unwrap()["rate_bytes_per_day"]
            .as_f64()
            .unwrap();
        assert!(
            (rate / (bytes * per_day) - 1.0).abs() < 0.25,
            "{name}: {rate:.4e} vs {:.4e}",
            bytes * per_day
        );
    }
    let twice = function(&j, "app::twice").unwrap();
    assert_eq!(twice["stacks"].as_array().unwrap().len(), 2, "{twice:#}");
    // The allocator stays in the stack for whoever wants it, never in the name.
    assert!(twice["stacks"][0][0]
        .as_str()
        .unwrap()
        .starts_with("operator new"));
    let headline = j["headline"].as_str().unwrap();
    assert!(
        headline.contains("allocated in `app::twice (functions.cpp:"),
        "{headline}"
    );
    assert!(!headline.contains("operator new"), "{headline}");
}

#[test]
fn a_static_binary_is_named_before_it_starts() {
    let d = Dir::new();
    let exe = compile_program(d.dir.path(), "sites.c", &["-static"]);
    let r = d.run(&[
        "run",
        "--native-sites",
        "--sites-interval",
        "1s",
        "--output",
        d.path("out").to_str().unwrap(),
        "--",
        exe.to_str().unwrap(),
        "2",
        "1000",
    ]);
    r.expect_code(0).expect_stderr("is statically linked");
}

#[test]
fn an_executable_with_its_own_malloc_is_named() {
    let d = Dir::new();
    let exe = compile_program(d.dir.path(), "own_malloc.c", &[]);
    let r = d.run(&[
        "run",
        "--native-sites",
        "--sites-interval",
        "1s",
        "--",
        exe.to_str().unwrap(),
        "4",
    ]);
    r.expect_code(0).expect_stderr("has its own malloc");
}

#[test]
fn a_missing_profiler_library_is_a_usage_error() {
    let d = Dir::new();
    let r = d.run_env(
        &["run", "--native-sites", "--", "true"],
        &[("LEAKHOUND_PRELOAD", "/nonexistent/libleakhound_preload.so")],
    );
    r.expect_code(2)
        .expect_stderr("LEAKHOUND_PRELOAD=/nonexistent/libleakhound_preload.so");
    let r = d.run(&[
        "run",
        "--native-sites",
        "--native-sampling",
        "lots",
        "--",
        "true",
    ]);
    r.expect_code(2).expect_stderr("--native-sampling");
}

/// Whether a stored stack of the run has a frame starting with `frame`, polled until `limit`.
fn wait_for_stack(d: &Dir, frame: &str, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        std::thread::sleep(Duration::from_millis(500));
        let Ok(conn) = rusqlite::Connection::open_with_flags(
            d.db(),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        ) else {
            continue;
        };
        let found: Result<i64, _> = conn.query_row(
            "SELECT count(*) FROM sites WHERE frames LIKE ?1",
            [format!("%\"{frame}%")],
            |r| r.get(0),
        );
        if found.is_ok_and(|n| n > 0) {
            return true;
        }
    }
    false
}

/// Starts `leakhound run --native-sites` on `args` in the background; returns it, the
/// target's pid (read from its stderr) and the rest of its stderr once it ends.
fn start_run(
    d: &Dir,
    opts: &[&str],
    args: &[&str],
) -> (std::process::Child, i32, std::thread::JoinHandle<String>) {
    let mut all = vec!["run", "--native-sites", "--sites-interval", "1s"];
    all.extend_from_slice(opts);
    all.push("--");
    all.extend_from_slice(args);
    let mut child = d
        .cmd(&all)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while err.read_line(&mut line).unwrap() > 0 {
        if let Some(pid) = line
            .split("(pid ")
            .nth(1)
            .and_then(|r| r.split(')').next()?.parse().ok())
        {
            // Keep draining stderr so leakhound never blocks on it.
            let rest = std::thread::spawn(move || {
                let mut text = String::new();
                let _ = std::io::Read::read_to_string(&mut err, &mut text);
                text
            });
            return (child, pid, rest);
        }
        line.clear();
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("no pid announced");
}

#[test]
fn a_target_killed_with_sigkill_still_gets_its_verdict() {
    let d = Dir::new();
    let exe = compile_program(d.dir.path(), "sites.c", &[]);
    let out = d.path("program.out");
    let (run, pid, stderr) = start_run(
        &d,
        &["--output", out.to_str().unwrap()],
        &[exe.to_str().unwrap(), "60", "10000"],
    );
    // Killed once the leaking stack has been recorded (a few seconds; longer on a loaded
    // machine) and reported five times more (every second), so that the verdict has a series
    // of it to list.
    let seen = wait_for_stack(&d, "leak_one (sites.c:", Duration::from_secs(45));
    assert!(seen, "leak_one never recorded");
    std::thread::sleep(Duration::from_secs(5));
    let _ = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status();
    let done = run.wait_with_output().unwrap();
    assert_eq!(done.status.code(), Some(0), "{done:?}");
    // The verdict (on stderr after a command that failed) still lists the sites seen.
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&done.stdout),
        stderr.join().unwrap()
    );
    assert!(text.contains("exited with signal: 9"), "{text}");
    assert!(text.contains("leak_one (sites.c:"), "{text}");
}

#[test]
fn the_target_outlives_a_killed_leakhound() {
    let d = Dir::new();
    let exe = compile_program(d.dir.path(), "sites.c", &[]);
    let done = d.path("done");
    let (mut run, pid, _) = start_run(
        &d,
        &["--output", done.to_str().unwrap()],
        &[exe.to_str().unwrap(), "8", "10000"],
    );
    std::thread::sleep(Duration::from_secs(3));
    run.kill().unwrap();
    run.wait().unwrap();
    // The program goes on without leakhound (and without its socket) and finishes.
    let t0 = Instant::now();
    while std::path::Path::new(&format!("/proc/{pid}")).exists() {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "target still running"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let text = std::fs::read_to_string(&done).unwrap();
    assert!(text.starts_with("leaked "), "{text:?}");
}

#[test]
fn watch_gets_native_sites_from_a_program_started_with_agent_native() {
    let d = Dir::new();
    let exe = compile_program(d.dir.path(), "sites.c", &[]);
    // A name of its own, for `watch --name` (other tests run sites_c at the same time).
    let named = d.path("watched_sites");
    std::fs::copy(&exe, &named).unwrap();
    let dir = d.dir.path().to_str().unwrap();
    let printed = d.run(&[
        "agent",
        "--dir",
        dir,
        "--native",
        "--native-sampling",
        "16KiB",
        "--native-interval",
        "1s",
    ]);
    printed.expect_code(0);
    // `export NAME='value'` lines, as a shell would take them.
    let env: Vec<(String, String)> = printed
        .stdout()
        .lines()
        .filter_map(|l| l.strip_prefix("export "))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim_matches('\'').to_string()))
        .collect();
    let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let preload = get("LD_PRELOAD").expect("LD_PRELOAD printed");
    assert!(preload.contains("/libleakhound_preload-"), "{preload}");
    let socket = get("LEAKHOUND_AGENT_SOCKET").unwrap();
    let watch = d
        .cmd(&[
            "watch",
            "--name",
            "^watched_sites$",
            "--agent-socket",
            &socket,
            "--interval",
            "1s",
            "--for",
            "16s",
            "--format",
            "json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(1));
    let mut program = std::process::Command::new(&named)
        .args(["14", "10000"])
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env_remove("NODE_OPTIONS")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let out = watch.wait_with_output().unwrap();
    let _ = program.wait();
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let top = &j["sites"][0]["stack"][0];
    assert!(
        top.as_str().unwrap_or("").starts_with("leak_one (sites.c:"),
        "{j:#}"
    );
}
