//! The Node.js agent in a real Node.js program (tests/fixtures/leaky-http.js): counters match
//! the requests made, attribution finds the cost per request and the memory kind, and a run
//! without the leak is not called one. Also `ab` and `compare` on a real workload.

mod util;

use std::path::PathBuf;

use util::{bin, node_available, series, Dir};

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/leaky-http.js")
}

/// The soaks run one at a time: four Node.js servers under load on two cores at once would
/// measure the machine, not the program.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs the fixture under `leakhound run` and returns the analysis JSON and the requests the
/// app says it made.
fn soak(d: &Dir, leak: &str) -> (serde_json::Value, f64) {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let log = d.path("app.log");
    let r = d.run(&[
        "run",
        "--interval",
        "250ms",
        "--format",
        "json",
        "--output",
        log.to_str().unwrap(),
        "--",
        "env",
        &format!("LEAK={leak}"),
        "LEAK_BYTES=16384",
        "RATE=100",
        "DURATION=40",
        "node",
        fixture().to_str().unwrap(),
    ]);
    r.expect_code(0);
    let said = std::fs::read_to_string(&log).unwrap();
    let made: f64 = said
        .lines()
        .find_map(|l| l.strip_prefix("requests "))
        .unwrap_or_else(|| panic!("app output: {said}"))
        .trim()
        .parse()
        .unwrap();
    (r.json(), made)
}

fn find<'a>(j: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    j["series"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no {name}: {j:#}"))
}

#[test]
fn buffer_leak_is_attributed_to_http_client_requests() {
    if !node_available() {
        return;
    }
    let d = Dir::new();
    let (j, made) = soak(&d, "buffer");
    // The agent's counter matches the requests made, up to the last report interval.
    let counted = series(&d.open_db(), 1, "node.http.client.requests")
        .last()
        .unwrap()
        .1;
    assert!(
        counted <= made && counted >= 0.97 * made,
        "agent counted {counted}, app made {made}"
    );
    assert!(!series(&d.open_db(), 1, "node.heap_used").is_empty());
    let rss = find(&j, "rss");
    assert_eq!(rss["verdict"], "leak", "{rss:#}");
    assert_eq!(rss["memory_kind"], "buffers", "{rss:#}");
    let attribution = rss["attribution"].as_array().unwrap();
    let rank = |name: &str| {
        attribution
            .iter()
            .position(|a| a["counter"] == name)
            .unwrap_or(usize::MAX)
    };
    assert!(
        rank("node.http.client.requests") < rank("app.ticks"),
        "{attribution:#?}"
    );
    assert!(rank("node.http.client.requests") <= 1, "{attribution:#?}");
    let client = &attribution[rank("node.http.client.requests")];
    let per = client["bytes_per_event"].as_f64().unwrap();
    assert!(
        (per - 16384.0).abs() < 0.25 * 16384.0,
        "{per} bytes per request"
    );
    assert!(
        rss["explanation"]
            .as_str()
            .unwrap()
            .contains("growth tracks node.http."),
        "{rss:#}"
    );
}

#[test]
fn heap_leak_is_javascript_objects() {
    if !node_available() {
        return;
    }
    let d = Dir::new();
    let (j, _) = soak(&d, "heap");
    // The heap grows (on an idle machine 40 s make it `leak`; on a loaded one GC timing may
    // leave it inconclusive, never `no_leak`).
    let heap = find(&j, "node.heap_used");
    assert_ne!(heap["verdict"], "no_leak", "{j:#}");
    assert!(heap["rate_bytes_per_day"].as_f64().unwrap() > 0.0, "{j:#}");
    let rss = find(&j, "rss");
    // RSS of a 40 s soak may still be inconclusive (V8 grows its heap in steps); the heap's
    // own leak is enough to say which memory grows.
    assert_ne!(rss["verdict"], "no_leak", "{rss:#}");
    assert_eq!(rss["memory_kind"], "js_heap", "{rss:#}");
}

#[test]
fn without_the_leak_there_is_no_leak_and_no_attribution() {
    if !node_available() {
        return;
    }
    let d = Dir::new();
    let (j, made) = soak(&d, "none");
    assert!(made > 1000.0);
    let rss = find(&j, "rss");
    assert_ne!(rss["verdict"], "leak", "{rss:#}");
    assert!(rss["attribution"].as_array().unwrap().is_empty(), "{rss:#}");
}

#[test]
fn user_node_options_are_kept() {
    if !node_available() {
        return;
    }
    let d = Dir::new();
    let log = d.path("out.log");
    let r = d
        .cmd(&[
            "run", "--interval", "200ms", "--output", log.to_str().unwrap(), "--",
            "node", "-e", "console.log(process.execArgv.length, process.env.NODE_OPTIONS); setTimeout(() => {}, 1500)",
        ])
        .env("NODE_OPTIONS", "--max-old-space-size=300")
        .output()
        .unwrap();
    assert!(r.status.success());
    let out = std::fs::read_to_string(&log).unwrap();
    assert!(
        out.contains("--max-old-space-size=300") && out.contains("--require"),
        "{out}"
    );
    let no_agent = d.path("plain.log");
    d.run(&[
        "run",
        "--no-agent",
        "--output",
        no_agent.to_str().unwrap(),
        "--",
        "node",
        "-e",
        "console.log(process.env.NODE_OPTIONS || 'unset')",
    ])
    .expect_code(0);
    assert_eq!(std::fs::read_to_string(&no_agent).unwrap().trim(), "unset");
}

#[test]
fn ab_finds_twice_the_leak_at_twice_the_rate() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let d = Dir::new();
    let exe = bin();
    let r = d.run(&[
        "ab",
        "--a",
        "RATE=100",
        "--b",
        "RATE=200",
        "--interval",
        "250ms",
        "--for",
        "45s",
        "--format",
        "json",
        "--",
        exe.to_str().unwrap(),
        "workload",
        "service",
        "--rate-env",
        "RATE",
        "--leak",
        "8192",
        "--period",
        "5",
        "--garbage",
        "2",
        "--garbage-chunk",
        "65536",
        "--for",
        "120",
    ]);
    r.expect_code(0);
    let j = r.json();
    let ci = j["ratio_ci95"]
        .as_array()
        .unwrap_or_else(|| panic!("{j:#}"));
    let (lo, hi) = (ci[0].as_f64().unwrap(), ci[1].as_f64().unwrap());
    assert!(lo <= 2.0 && 2.0 <= hi, "{j:#}");
    assert!(lo > 1.0, "B is clearly faster: {j:#}");
    assert!(
        j["explanation"].as_str().unwrap().starts_with("B leaks "),
        "{j:#}"
    );
    // The same comparison from the stored run.
    let c = d.run(&["compare", "1"]);
    c.expect_code(0);
    assert!(c.stdout().starts_with("B leaks "), "{}", c.describe());
    d.run(&["ab", "--a", "NOEQUALS", "--b", "X=1", "--", "true"])
        .expect_code(2)
        .expect_stderr("--a");
}

#[test]
fn agent_printed_for_watch_reports_from_a_node_started_by_hand() {
    if !node_available() {
        return;
    }
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let d = Dir::new();
    // A directory name a shell would act on: the printed lines must quote it.
    let dir = d.path("it's $(touch pwned) dir");
    std::fs::create_dir(&dir).unwrap();
    let printed = d.run(&["agent", "--dir", dir.to_str().unwrap()]);
    printed.expect_code(0);
    let socket = dir.join("leakhound-agent.sock");
    // What a user does with it: eval the lines, then start node by hand.
    let mut node = std::process::Command::new("sh")
        .args(["-c", "eval \"$1\"; exec node \"$2\"", "sh"])
        .arg(printed.stdout())
        .arg(fixture())
        .current_dir(d.dir.path())
        .envs([("LEAK", "buffer"), ("RATE", "100"), ("DURATION", "12")])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = node.id().to_string();
    let r = d.run(&[
        "watch",
        "--pid",
        &pid,
        "--agent-socket",
        socket.to_str().unwrap(),
        "--interval",
        "250ms",
        "--for",
        "8s",
    ]);
    let _ = node.kill();
    let _ = node.wait();
    r.expect_code(0);
    assert!(!d.path("pwned").exists(), "the printed lines ran a command");
    let conn = d.open_db();
    let requests = series(&conn, 1, "node.http.client.requests");
    let heap = series(&conn, 1, "node.heap_used");
    assert!(
        requests.len() >= 10 && heap.len() >= 10,
        "{} request and {} heap samples\n{}\n{}",
        requests.len(),
        heap.len(),
        printed.stdout(),
        r.describe()
    );
    assert!(requests.last().unwrap().1 > requests[0].1, "{requests:?}");
}

/// Issue 18's scene: a client keeping 4 KiB per request, its rate switching between 40/s and
/// 600/s every 10 s, and a decoy counter ticking at a steady 250/s. Under a minute, the first
/// line already names the leaking runtime series, the counter (with the server's, which counts
/// the same requests, as one group) and about 4 KiB per request.
#[test]
fn the_first_line_names_what_leaks_the_counter_and_the_cost_per_request() {
    if !node_available() {
        return;
    }
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let d = Dir::new();
    let r = d.run_env(
        &[
            "run",
            "--for",
            "45s",
            "--output",
            d.path("app.log").to_str().unwrap(),
            "--",
            "node",
            fixture().to_str().unwrap(),
        ],
        &[
            ("LEAK", "buffer"),
            ("LEAK_BYTES", "4096"),
            ("SWITCH", "40,600"),
            ("PERIOD", "10"),
            ("DECOY", "250"),
            ("DURATION", "60"),
        ],
    );
    r.expect_code(0);
    let err = r.stderr();
    let first = err
        .lines()
        .find(|l| {
            l.starts_with("leak:") || l.starts_with("inconclusive:") || l.starts_with("no leak:")
        })
        .unwrap_or_else(|| panic!("no verdict\n{}", r.describe()));
    assert!(first.starts_with("leak: "), "{first}");
    assert!(
        ["rss", "node.external", "node.array_buffers"]
            .iter()
            .any(|s| first.starts_with(&format!("leak: {s} "))),
        "{first}"
    );
    assert!(first.contains("growth tracks node.http."), "{first}");
    assert!(!first.contains("app.ticks"), "the decoy leads: {first}");
    // The runtime's own figure is the truth to compare with: either the line leads with the
    // runtime series ("leak: node.external ... growth tracks node.http.client.requests at 4.00
    // KiB/request"), or the total leads (rss also grows with heap capacity and allocator
    // overhead) and says "of that, node.external (...) keeps 4.00 KiB/request".
    let runtime_figure = if first.starts_with("leak: rss ") {
        first
            .split("of that, node.")
            .nth(1)
            .and_then(|s| s.split(" keeps ").nth(1))
    } else {
        first
            .split("growth tracks node.http.")
            .nth(1)
            .and_then(|s| s.split(" at ").nth(1))
    };
    let per = runtime_figure
        .and_then(|s| s.split(" KiB/request").next())
        .unwrap_or_else(|| panic!("no runtime bytes per request: {first}"));
    let kib: f64 = per.parse().unwrap_or_else(|_| panic!("{per:?} in {first}"));
    assert!((kib - 4.0).abs() <= 1.0, "{kib} KiB per request: {first}");
    assert!(first.contains("in lockstep with node.http."), "{first}");

    let j = d.run(&["analyze", "--format", "json"]).json();
    let ext = find(&j, "node.external");
    assert_eq!(ext["verdict"], "leak", "{ext:#}");
    let attribution = ext["attribution"].as_array().unwrap();
    assert!(
        attribution[0]["counter"]
            .as_str()
            .unwrap()
            .starts_with("node.http."),
        "{attribution:#?}"
    );
    let b = attribution[0]["bytes_per_event"].as_f64().unwrap();
    assert!((b - 4096.0).abs() < 0.25 * 4096.0, "{b}");
    let rss = find(&j, "rss");
    if rss["verdict"] == "leak" {
        assert!(
            !rss["attribution"].as_array().unwrap().is_empty(),
            "{rss:#}"
        );
    }
    let groups = ext["attribution_inseparable"].as_array().unwrap();
    assert!(
        groups
            .iter()
            .any(|p| p.to_string().contains("node.http.client.requests")
                && p.to_string().contains("node.http.server.requests")),
        "{groups:?}"
    );
    assert!(
        !groups.iter().any(|p| p.to_string().contains("app.ticks")),
        "{groups:?}"
    );
}
