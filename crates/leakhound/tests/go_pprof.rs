//! Go: a real Go server (tests/fixtures/go-leak, standard library only, built here with
//! `go build`) under load, read through its `net/http/pprof` profiles (`--pprof`, no other
//! flag, 100 s). The function that keeps 1 KiB per request in a global map is named first
//! with verdict `leak` and the program's own rate, the Go heap series leaks and says the
//! growth is Go heap, the churning parser does not leak, and the same server without the leak
//! has no leaking function. A goroutine leak (a goroutine per request blocked forever) is named
//! by the function that starts the goroutines, and `go.goroutines` leaks.

mod util;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use util::{free_port, runtime_available, Dir};

/// The fixture built once for the tests of this file.
fn server() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/go-leak/main.go");
        let bin = dir.join("go-leak");
        // Go's build cache in the target directory: kept between runs, and found without $HOME.
        let out = std::process::Command::new("go")
            .env(
                "GOCACHE",
                Path::new(env!("CARGO_TARGET_TMPDIR")).join("gocache"),
            )
            .env("GOTOOLCHAIN", "local")
            .arg("build")
            .arg("-o")
            .arg(&bin)
            .arg(&src)
            .output()
            .expect("go runs");
        assert!(
            out.status.success(),
            "go build failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        bin
    })
}

/// The server under `leakhound run --pprof URL` and no other flag, for 100 s at 200
/// requests/s (the server stops at 95 s and says how many it served): the JSON and the
/// requests served per second. `leak` is the fixture's LEAK: on, goroutines or none.
fn soak(d: &Dir, leak: &str) -> (serde_json::Value, f64) {
    let port = free_port().to_string();
    let log = d.path("app.log");
    let r = d.run_env(
        &[
            "run",
            "--for",
            "100s",
            "--pprof",
            &format!("http://127.0.0.1:{port}"),
            "--format",
            "json",
            "--output",
            log.to_str().unwrap(),
            "--",
            server().to_str().unwrap(),
        ],
        &[
            ("LEAK", leak),
            ("RATE", "200"),
            ("DURATION", "95"),
            ("PORT", &port),
        ],
    );
    r.expect_code(0);
    let said = std::fs::read_to_string(&log).unwrap();
    let served: f64 = said
        .split("served ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("the server did not say what it served: {said}"));
    (r.json(), served / 95.0)
}

fn function<'a>(j: &'a serde_json::Value, name: &str) -> Option<&'a serde_json::Value> {
    j["functions"]
        .as_array()?
        .iter()
        .find(|f| f["function"].as_str().is_some_and(|n| n.starts_with(name)))
}

fn first_frame(site: &serde_json::Value) -> &str {
    site["stack"][0].as_str().unwrap_or_default()
}

fn series<'a>(j: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    j["series"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no series {name}: {j:#}"))
}

#[test]
fn the_leaking_function_is_the_top_go_site() {
    if !runtime_available("go", &["version"], "golang-go") {
        return;
    }
    let d = Dir::new();
    let (j, per_second) = soak(&d, "on");
    let top = &j["functions"][0];
    assert_eq!(
        top["function"], "main.rememberSession (main.go)",
        "{:#}",
        j["functions"]
    );
    assert_eq!(top["verdict"], "leak", "{top:#}");
    // 1 KiB kept per request served (the map's own growth comes on top, in its buckets).
    let truth = per_second * 1024.0 * 86_400.0;
    let rate = top["rate_bytes_per_day"].as_f64().unwrap();
    assert!(
        (rate / truth - 1.0).abs() < 0.25,
        "{rate:.4e} vs the program's {truth:.4e}: {top:#}"
    );
    let sites = j["sites"].as_array().expect("sites in the JSON");
    assert!(
        first_frame(&sites[0]).starts_with("main.rememberSession (main.go:"),
        "{:#}",
        sites[0]
    );
    for s in sites {
        if first_frame(s).starts_with("main.parseQuery ") {
            assert_ne!(s["verdict"], "leak", "churn leaks: {s:#}");
        }
    }
    if let Some(f) = function(&j, "main.parseQuery") {
        assert_ne!(f["verdict"], "leak", "{f:#}");
    }
    let heap = series(&j, "go.heap_inuse");
    assert_eq!(heap["verdict"], "leak", "{heap:#}");
    let rss = series(&j, "rss");
    if rss["verdict"] != "no_leak" {
        assert_eq!(rss["memory_kind"], "go_heap", "{rss:#}");
    }
    let headline = j["headline"].as_str().unwrap();
    assert!(
        headline.contains("allocated in `main.rememberSession (main.go:"),
        "{headline}"
    );
    // The text of analyze names the function too.
    let text = d.run(&["analyze"]);
    text.expect_code(0);
    assert!(
        text.stdout().contains("main.rememberSession (main.go:"),
        "{}",
        text.describe()
    );
}

#[test]
fn a_goroutine_leak_is_named_by_the_function_that_starts_them() {
    if !runtime_available("go", &["version"], "golang-go") {
        return;
    }
    let d = Dir::new();
    let (j, _) = soak(&d, "goroutines");
    let top = &j["functions"][0];
    assert_eq!(
        top["function"], "created by main.watchUpstream (main.go)",
        "{:#}",
        j["functions"]
    );
    assert_eq!(top["verdict"], "leak", "{top:#}");
    // Where they are stuck is in the stacks under it.
    let stack = top["stacks"][0].as_array().unwrap();
    assert!(
        stack
            .iter()
            .any(|f| f.as_str().unwrap().starts_with("main.awaitReply (main.go:")),
        "{top:#}"
    );
    assert_eq!(series(&j, "go.goroutines")["verdict"], "leak", "{j:#}");
    let headline = j["headline"].as_str().unwrap();
    assert!(
        headline.contains("allocated in `created by main.watchUpstream (main.go:"),
        "{headline}"
    );
}

#[test]
fn without_the_leak_no_go_function_leaks() {
    if !runtime_available("go", &["version"], "golang-go") {
        return;
    }
    let d = Dir::new();
    let (j, _) = soak(&d, "none");
    let functions = j["functions"].as_array().expect("functions in the JSON");
    assert!(!functions.is_empty(), "{j:#}");
    for f in functions {
        assert_ne!(f["verdict"], "leak", "{f:#}");
    }
    assert_ne!(series(&j, "go.heap_inuse")["verdict"], "leak", "{j:#}");
    assert_ne!(series(&j, "go.goroutines")["verdict"], "leak", "{j:#}");
}
