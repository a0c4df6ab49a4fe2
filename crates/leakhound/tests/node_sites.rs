//! Where in the code: allocation sites of a real Node.js server under load
//! (tests/fixtures/sites-server.js), through the agent's V8 sampling heap profiler, at the
//! defaults (`run --sites` and nothing else, 100 s). The function that keeps 1 KiB per request
//! ranks first with verdict `leak` and the program's own rate, the churning parser and the
//! bounded cache do not leak, the headline names the leaking function, the same server without
//! the leak has no leaking function, and the report's growth flame graph renders in a real
//! browser with the leaking frame the widest.

mod util;

use std::path::PathBuf;

use util::{browser, chromium, node_available, Dir};

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sites-server.js")
}

/// Line (1-based) of the fixture holding `needle`.
fn line_of(needle: &str) -> usize {
    let src = std::fs::read_to_string(fixture()).unwrap();
    src.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} not in the fixture"))
        + 1
}

/// Which part of the fixture a stack belongs to, by its first frame in the fixture: a
/// function, or (once V8 has inlined the callee) the caller's line that calls it.
#[derive(Debug, PartialEq)]
enum Part {
    Leak,
    Churn,
    Cache,
    Else,
}

fn part(stack: &[serde_json::Value]) -> Part {
    let frame = stack
        .iter()
        .filter_map(|f| f.as_str())
        .find(|f| f.contains("sites-server.js"));
    let Some(f) = frame else {
        return Part::Else;
    };
    let at = |line: usize| f.ends_with(&format!("sites-server.js:{line})"));
    if f.starts_with("rememberVisitor (") || at(line_of("if (LEAK) rememberVisitor")) {
        Part::Leak
    } else if f.starts_with("parseQuery (") || at(line_of("  parseQuery(req.url);")) {
        Part::Churn
    } else if f.starts_with("cacheResult (")
        || f.starts_with("set (")
        || at(line_of("  cacheResult(served"))
    {
        Part::Cache
    } else {
        Part::Else
    }
}

/// The server under `leakhound run --sites` with no other flag, for 100 s at 200 requests/s
/// (the server stops at 95 s and says how many it served): the JSON, and the leak's own rate
/// (bytes per day: requests served per second times the bytes of a record).
fn soak(d: &Dir, leak: bool) -> (serde_json::Value, f64) {
    let log = d.path("app.log");
    let r = d.run_env(
        &[
            "run",
            "--for",
            "100s",
            "--sites",
            "--format",
            "json",
            "--output",
            log.to_str().unwrap(),
            "--",
            "node",
            fixture().to_str().unwrap(),
        ],
        &[
            ("LEAK", if leak { "on" } else { "none" }),
            ("RATE", "200"),
            ("DURATION", "95"),
        ],
    );
    r.expect_code(0);
    let said = std::fs::read_to_string(&log).unwrap();
    let number = |key: &str| -> f64 {
        said.split(key)
            .nth(1)
            .and_then(|r| r.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("no {key:?} in the server's output: {said}"))
    };
    let truth = number("served ") / 95.0 * number("record_bytes ") * 86_400.0;
    (r.json(), truth)
}

#[test]
fn the_leaking_function_is_named_first_and_the_flame_graph_shows_it() {
    if !node_available() {
        return;
    }
    let d = Dir::new();
    let (j, truth) = soak(&d, true);
    let functions = j["functions"].as_array().expect("functions in the JSON");
    let top = &functions[0];
    // Files are named relative to the program's working directory.
    assert_eq!(
        top["function"], "rememberVisitor (tests/fixtures/sites-server.js)",
        "{functions:#?}"
    );
    assert_eq!(top["verdict"], "leak", "{top:#}");
    // The leak's stacks (V8's tiers, two callers) are one function: its rate is the
    // program's own.
    let rate = top["rate_bytes_per_day"].as_f64().unwrap();
    assert!(
        (rate / truth - 1.0).abs() < 0.25,
        "{rate:.4e} vs the program's {truth:.4e}: {top:#}"
    );
    assert!(top["share_of_growth"].as_f64().unwrap() > 0.5, "{top:#}");
    for f in functions {
        let name = f["function"].as_str().unwrap();
        if ["parseQuery (", "cacheResult (", "set ("]
            .iter()
            .any(|p| name.starts_with(p))
        {
            assert_ne!(f["verdict"], "leak", "{f:#}");
        }
    }
    let sites = j["sites"].as_array().expect("sites in the JSON");
    for s in sites {
        let p = part(s["stack"].as_array().unwrap());
        if p == Part::Churn || p == Part::Cache {
            assert_ne!(s["verdict"], "leak", "{p:?} site leaks: {s:#}");
        }
    }
    let headline = j["headline"].as_str().unwrap();
    assert!(
        headline.contains(
            "of the growth is allocated in `rememberVisitor (tests/fixtures/sites-server.js:"
        ),
        "{headline}"
    );

    // The report: the growth flame graph, rendered by a real browser.
    let out = d.path("report.html");
    d.run(&["report", "-o", out.to_str().unwrap()])
        .expect_code(0);
    let page = std::fs::read_to_string(&out).unwrap();
    let widest = |part_of: Part| -> f64 {
        // Frames are <g class="frame VERDICT"><title>NAME — ...</title><rect ... width="W".
        page.split("<g class=\"frame ")
            .skip(1)
            .filter_map(|g| {
                let title = g.split("<title>").nth(1)?.split(" — ").next()?;
                let w: f64 = g
                    .split("width=\"")
                    .nth(1)?
                    .split('"')
                    .next()?
                    .parse()
                    .ok()?;
                let stack = [serde_json::Value::String(title.replace("&lt;", "<"))];
                (part(&stack) == part_of).then_some(w)
            })
            .fold(0.0, f64::max)
    };
    let (leak, churn, cache) = (widest(Part::Leak), widest(Part::Churn), widest(Part::Cache));
    assert!(
        leak > 0.0 && leak > churn && leak > cache,
        "leak {leak} churn {churn} cache {cache}"
    );
    let Some(_) = chromium() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "chromium is missing on CI"
        );
        eprintln!("skipped the browser: /usr/bin/chromium not installed");
        return;
    };
    let url = format!("file://{}", out.display());
    let dom = browser(&["--dump-dom", &url], &d.path("profile"));
    let html = String::from_utf8_lossy(&dom.stdout);
    let rendered = html
        .split("data-chart=\"flame\"")
        .nth(1)
        .and_then(|s| s.split("data-rendered=\"").nth(1))
        .and_then(|s| s.split('"').next())
        .unwrap_or_else(|| {
            panic!(
                "flame graph not rendered\n{}",
                String::from_utf8_lossy(&dom.stderr)
            )
        });
    let (w, h) = rendered.split_once('x').unwrap();
    assert!(
        w.parse::<u32>().unwrap() > 300 && h.parse::<u32>().unwrap() > 20,
        "{rendered}"
    );
}

#[test]
fn without_the_leak_no_function_leaks() {
    if !node_available() {
        return;
    }
    let d = Dir::new();
    let (j, _) = soak(&d, false);
    let functions = j["functions"].as_array().expect("functions in the JSON");
    assert!(!functions.is_empty());
    for f in functions {
        assert_ne!(f["verdict"], "leak", "{f:#}");
    }
}
