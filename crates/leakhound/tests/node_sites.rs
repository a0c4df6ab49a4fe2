//! Where in the code: allocation sites of a real Node.js server under load
//! (tests/fixtures/sites-server.js), through the agent's V8 sampling heap profiler. The
//! function that keeps 1 KiB per request ranks first with verdict `leak` and its file:line,
//! the churning parser and the bounded cache do not leak, the headline names the leaking
//! function, the same server without the leak has no leaking site, and the report's growth
//! flame graph renders in a real browser with the leaking frame the widest.

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
        .find(|f| f.contains("sites-server.js:"));
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

/// The server under `leakhound run --sites` for 60 s at 200 requests/s.
fn soak(d: &Dir, leak: bool) -> serde_json::Value {
    let r = d.run_env(
        &[
            "run",
            "--for",
            "60s",
            "--sites",
            "--sites-interval",
            "2s",
            "--sites-sampling",
            "8KiB",
            "--format",
            "json",
            "--output",
            d.path("app.log").to_str().unwrap(),
            "--",
            "node",
            fixture().to_str().unwrap(),
        ],
        &[
            ("LEAK", if leak { "on" } else { "none" }),
            ("RATE", "200"),
            ("DURATION", "75"),
        ],
    );
    r.expect_code(0);
    r.json()
}

#[test]
fn the_leaking_function_is_the_top_site_and_the_flame_graph_shows_it() {
    if !node_available() {
        return;
    }
    let d = Dir::new();
    let j = soak(&d, true);
    let sites = j["sites"].as_array().expect("sites in the JSON");
    assert!(sites.len() >= 3, "{j:#}");
    let top = &sites[0];
    let top_stack = top["stack"].as_array().unwrap();
    assert_eq!(top["verdict"], "leak", "{top:#}");
    assert_eq!(part(top_stack), Part::Leak, "top site: {top:#}");
    // V8 splits one leak between the stacks of its tiers (the leaking function inlined into
    // its caller or not, at moments that depend on the machine's load), so the leak's share
    // and rate are those of all its stacks, as the flame graph adds them up under the caller.
    let leak_stacks: Vec<&serde_json::Value> = sites
        .iter()
        .filter(|s| part(s["stack"].as_array().unwrap()) == Part::Leak)
        .collect();
    let sum = |key: &str| -> f64 {
        leak_stacks
            .iter()
            .map(|s| s[key].as_f64().unwrap_or(0.0))
            .sum()
    };
    assert!(sum("share_of_growth") > 0.3, "{leak_stacks:#?}");
    // The rate is about 1 KiB x 200/s = 16-20 GiB/day (the record and its string).
    let rate = sum("rate_bytes_per_day");
    assert!(rate > 2e9, "{rate}: {leak_stacks:#?}");
    for s in sites {
        let p = part(s["stack"].as_array().unwrap());
        if p == Part::Churn || p == Part::Cache {
            assert_ne!(s["verdict"], "leak", "{p:?} site leaks: {s:#}");
        }
    }
    let headline = j["headline"].as_str().unwrap();
    let call = format!("sites-server.js:{}", line_of("if (LEAK) rememberVisitor"));
    assert!(
        headline.contains("rememberVisitor (") || headline.contains(&call),
        "{headline}"
    );
    assert!(
        headline.contains("of the growth is allocated at"),
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
fn without_the_leak_no_site_leaks() {
    if !node_available() {
        return;
    }
    let d = Dir::new();
    let j = soak(&d, false);
    let sites = j["sites"].as_array().expect("sites in the JSON");
    assert!(!sites.is_empty());
    for s in sites {
        assert_ne!(s["verdict"], "leak", "{s:#}");
    }
}
