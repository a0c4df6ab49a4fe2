//! Python: a real python3 program (tests/fixtures/py_leak.py) under `leakhound run`, with the
//! agent injected as `sitecustomize` on PYTHONPATH. With `--sites` and
//! `LEAKHOUND_PYTHON_TRACEMALLOC=1` (tracemalloc instead of sampling), the line that keeps
//! 1 KiB per request in a module-level dict ranks first with verdict `leak` and the function
//! behind an `lru_cache(maxsize=128)` does not leak; where sampling cannot work the agent falls
//! back to tracemalloc and leakhound says why; without `--sites` the agent still reports GC
//! counts per generation and tracemalloc stays off; the user's PYTHONPATH and own
//! `sitecustomize` keep working; and `watch --sites` asks a running program's agent (started
//! with `leakhound agent`'s environment) for its sites and, with `--retainers`, for what holds
//! the leak. Sampled sites: `python_sites.rs`.

mod util;

use std::path::PathBuf;

use util::{python_available, Dir};

fn fixture() -> PathBuf {
    util::fixture("py_leak.py")
}

/// Line (1-based) of the fixture holding `needle`.
fn line_of(needle: &str) -> usize {
    util::fixture_line("py_leak.py", needle)
}

fn first_frame(site: &serde_json::Value) -> &str {
    site["stack"][0].as_str().unwrap_or_default()
}

fn series<'a>(j: &'a serde_json::Value, name: &str) -> Option<&'a serde_json::Value> {
    j["series"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
}

#[test]
fn tracemalloc_on_request_names_the_leaking_line() {
    if !python_available() {
        return;
    }
    let d = Dir::new();
    // 40 s at 200 requests/s, sites every 2 s: about 15 profiles, enough floor points.
    let r = d.run_env(
        &[
            "run",
            "--for",
            "40s",
            "--sites",
            "--sites-interval",
            "2s",
            "--format",
            "json",
            "--output",
            d.path("app.log").to_str().unwrap(),
            "--",
            "python3",
            fixture().to_str().unwrap(),
        ],
        &[
            ("LEAK", "on"),
            ("RATE", "200"),
            ("DURATION", "60"),
            ("LEAKHOUND_PYTHON_TRACEMALLOC", "1"),
        ],
    );
    r.expect_code(0);
    let j = r.json();
    assert!(series(&j, "python.sampled_bytes").is_none(), "sampled too");
    let sites = j["sites"].as_array().expect("sites in the JSON");
    let top = &sites[0];
    let leak_line = format!("py_leak.py:{})", line_of("# the leak"));
    assert_eq!(top["verdict"], "leak", "{:#}", j["sites"]);
    assert!(
        first_frame(top).starts_with("remember_session (")
            && first_frame(top).ends_with(&leak_line),
        "{top:#}"
    );
    assert!(
        top["stack"][1].as_str().unwrap().starts_with("handle ("),
        "{top:#}"
    );
    // 1 KiB x 200/s is about 17 GiB/day.
    let rate = top["rate_bytes_per_day"].as_f64().unwrap();
    assert!(rate > 4e9, "{rate}");
    let render = format!("py_leak.py:{})", line_of("return ('<li>item"));
    let cached: Vec<_> = sites
        .iter()
        .filter(|s| first_frame(s).ends_with(&render))
        .collect();
    assert!(
        !cached.is_empty(),
        "no site of the cached function: {sites:#?}"
    );
    for s in cached {
        assert_ne!(s["verdict"], "leak", "the lru_cache leaks: {s:#}");
    }
    let traced = series(&j, "python.traced_bytes").expect("python.traced_bytes judged");
    assert_eq!(traced["verdict"], "leak", "{traced:#}");
    let rss = series(&j, "rss").unwrap();
    if rss["verdict"] == "leak" {
        assert_eq!(rss["memory_kind"], "python_objects", "{rss:#}");
    }
    let headline = j["headline"].as_str().unwrap();
    assert!(headline.contains("remember_session ("), "{headline}");
    // GC counts per generation are stored, and not judged by default.
    let conn = d.open_db();
    assert!(util::series(&conn, 1, "python.gc.gen0").len() > 10);
    assert!(series(&j, "python.gc.gen0").is_none());
    // analyze's text names the line too.
    let text = d.run(&["analyze"]);
    text.expect_code(0);
    assert!(text.stdout().contains(&leak_line), "{}", text.describe());
}

#[test]
fn without_the_profiler_library_sites_come_from_tracemalloc_and_leakhound_says_why() {
    if !python_available() {
        return;
    }
    let d = Dir::new();
    // No library where leakhound looks for it (as before `cargo build -p leakhound-preload`).
    let r = d.run_env(
        &[
            "run",
            "--sites",
            "--format",
            "json",
            "--output",
            d.path("app.log").to_str().unwrap(),
            "--",
            "python3",
            fixture().to_str().unwrap(),
        ],
        &[
            ("LEAK", "on"),
            ("RATE", "100"),
            ("DURATION", "8"),
            ("LEAKHOUND_PRELOAD", "/nonexistent/libleakhound_preload.so"),
        ],
    );
    r.expect_code(0);
    r.expect_stderr("Python sites: the sampling profiler library is not known");
    r.expect_stderr("using tracemalloc instead");
    let conn = d.open_db();
    assert!(
        util::series(&conn, 1, "python.traced_bytes").len() >= 3,
        "{}",
        r.describe()
    );
    assert!(util::events(&conn, 1)
        .iter()
        .any(|(kind, text)| kind == "warning" && text.contains("Python sites:")));
}

#[test]
fn without_sites_gc_is_read_tracemalloc_is_off_and_the_users_startup_hooks_run() {
    if !python_available() {
        return;
    }
    let d = Dir::new();
    // The user's own sitecustomize, found through the user's PYTHONPATH, must still run.
    let user = d.path("user-lib");
    std::fs::create_dir(&user).unwrap();
    util::write(
        &user.join("sitecustomize.py"),
        "import builtins\nbuiltins.USER_SITECUSTOMIZE = 'ran'\n",
    );
    util::write(&user.join("usermod.py"), "VALUE = 42\n");
    let program = "\
import builtins, gc, threading, time, tracemalloc, usermod
agent = any(t.name == 'leakhound-agent' for t in threading.enumerate())
print('user', getattr(builtins, 'USER_SITECUSTOMIZE', None), usermod.VALUE, flush=True)
print('agent', agent, 'tracing', tracemalloc.is_tracing(), flush=True)
junk = []
end = time.monotonic() + 8
while time.monotonic() < end:
    junk = [[i] for i in range(2000)]
    gc.collect(0)
    time.sleep(0.05)
";
    let r = d.run_env(
        &[
            "run",
            "--format",
            "json",
            "--output",
            d.path("app.log").to_str().unwrap(),
            "--",
            "python3",
            "-c",
            program,
        ],
        &[("PYTHONPATH", user.to_str().unwrap())],
    );
    r.expect_code(0);
    let log = std::fs::read_to_string(d.path("app.log")).unwrap();
    assert!(log.contains("user ran 42"), "{log}");
    assert!(log.contains("agent True tracing False"), "{log}");
    let conn = d.open_db();
    for gen in ["python.gc.gen0", "python.gc.gen1", "python.gc.gen2"] {
        assert!(
            util::series(&conn, 1, gen).len() >= 5,
            "{gen}: {}",
            r.describe()
        );
    }
    // gc.collect(0) 20 times a second: the counter of generation 0 collections climbs.
    let collections = util::series(&conn, 1, "python.gc.collections.gen0");
    let (first, last) = (collections[0].1, collections.last().unwrap().1);
    assert!(last - first > 50.0, "{collections:?}");
    assert!(util::series(&conn, 1, "python.traced_bytes").is_empty());
    let j = r.json();
    assert!(
        j["sites"].as_array().is_none_or(|s| s.is_empty()),
        "{:#}",
        j["sites"]
    );
}

fn j_holders(j: &serde_json::Value) -> Vec<serde_json::Value> {
    j["holders"]
        .as_array()
        .expect("holders in the JSON")
        .clone()
}

#[test]
fn watch_asks_a_python_agent_for_sites_and_holders() {
    if !python_available() {
        return;
    }
    let d = Dir::new();
    // `leakhound agent` writes the agents and prints their environment; the program is started
    // with it, and `watch --sites` asks its agent for sites when it connects: the agent loads
    // the sampling profiler then.
    let printed = d.run(&["agent", "--dir", d.dir.path().to_str().unwrap()]);
    printed.expect_code(0);
    let env: Vec<(String, String)> = printed
        .stdout()
        .lines()
        .filter_map(|l| l.strip_prefix("export "))
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim_matches('\'').to_string()))
        .collect();
    for name in ["PYTHONPATH", "LEAKHOUND_PYTHON_PROFILER"] {
        assert!(env.iter().any(|(k, _)| k == name), "{name}: {env:?}");
    }
    let socket = env
        .iter()
        .find(|(k, _)| k == "LEAKHOUND_AGENT_SOCKET")
        .map(|(_, v)| v.clone())
        .unwrap();
    let program = std::process::Command::new("python3")
        .arg(fixture())
        .envs(env.iter().map(|(k, v)| (k, v)))
        .envs([("LEAK", "on"), ("RATE", "200"), ("DURATION", "75")])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = program.id().to_string();
    // Killed however the test ends.
    let _kids = util::Kids(vec![program]);
    let r = d.run(&[
        "watch",
        "--pid",
        &pid,
        "--agent-socket",
        &socket,
        "--sites",
        "--sites-interval",
        "2s",
        "--retainers",
        "--for",
        "50s",
        "--format",
        "json",
    ]);
    r.expect_code(0);
    // `--retainers` is asked of the agent too: it looks at its objects 10 s and 30 s after
    // the ask and names what holds the survivors from 45 s on.
    let holders = j_holders(&r.json());
    assert_eq!(
        holders[0]["path"],
        serde_json::json!(["SESSIONS (dict)", "module __main__"]),
        "{holders:#?}"
    );
    assert!(!r.stderr().contains("Node.js"), "{}", r.describe());
    assert!(!r.stderr().contains("tracemalloc"), "{}", r.describe());
    let j = r.json();
    assert!(series(&j, "python.sampled_bytes").is_some(), "not sampled");
    let sites = j["sites"].as_array().expect("sites in the JSON");
    let leak_line = format!("py_leak.py:{})", line_of("# the leak"));
    assert!(first_frame(&sites[0]).ends_with(&leak_line), "{sites:#?}");
    assert_eq!(sites[0]["verdict"], "leak", "{:#}", sites[0]);
    // The agent's own work (encoding, sending) is never a site.
    assert!(
        !sites
            .iter()
            .flat_map(|s| s["stack"].as_array().unwrap())
            .any(|f| f.as_str().unwrap().contains("sitecustomize.py")),
        "{sites:#?}"
    );
}
