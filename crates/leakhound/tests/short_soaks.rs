//! Short soaks of real programs, the way a newcomer runs them (issue 22): `run` of a C program
//! whose RSS climbs through 90 s with a MiB of allocator scatter, a Python program climbing
//! thirty-fold in 30 s, a Go program climbing in a straight line, and a Go program that leaks
//! and then takes 30 MiB more in its last seconds. Each is a leak, rss included; the jump at
//! the end is reported as one and the rate judged before it. And `ab` of the bundled workload
//! keeping 1 and 2 KiB per request tells twice the leak within 90 s.

mod util;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use util::{bin, runtime_available, Dir};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Builds a fixture once: `build` gets the output path.
fn built(
    cell: &'static OnceLock<PathBuf>,
    name: &str,
    build: impl Fn(&Path) -> Command,
) -> &'static Path {
    cell.get_or_init(|| {
        let bin = tempfile::tempdir().unwrap().keep().join(name);
        let out = build(&bin).output().expect("the compiler runs");
        assert!(
            out.status.success(),
            "building {name} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        bin
    })
}

fn climb_c() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    built(&BUILT, "climb", |bin| {
        let mut c = Command::new("gcc");
        c.args(["-O2", "-o"]).arg(bin).arg(fixture("climb.c"));
        c
    })
}

fn climb_go() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    built(&BUILT, "go-climb", |bin| {
        let mut c = Command::new("go");
        // Go's build cache in the target directory: kept between runs, found without $HOME.
        c.env(
            "GOCACHE",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("gocache"),
        )
        .env("GOTOOLCHAIN", "local")
        .args(["build", "-o"])
        .arg(bin)
        .arg(fixture("go-climb/main.go"));
        c
    })
}

/// `leakhound run` every 500 ms of `command` with `env`, as JSON.
fn soak(d: &Dir, env: &[(&str, &str)], command: &[&str]) -> serde_json::Value {
    let mut args = vec!["run", "--interval", "500ms", "--format", "json", "--output"];
    let log = d.path("program.log");
    args.push(log.to_str().unwrap());
    args.push("--");
    args.extend_from_slice(command);
    let r = d.run_env(&args, env);
    r.expect_code(0);
    r.json()
}

fn series<'a>(j: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    j["series"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no {name}: {j:#}"))
}

#[track_caller]
fn leaks<'a>(j: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    let s = series(j, name);
    assert_eq!(s["verdict"], "leak", "{name}: {s:#}");
    s
}

fn notes(s: &serde_json::Value) -> Vec<&str> {
    s["notes"]
        .as_array()
        .map(|n| n.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default()
}

#[test]
fn a_c_program_whose_rss_climbs_through_the_run_leaks_with_its_assumption_stated() {
    let d = Dir::new();
    let j = soak(&d, &[], &[climb_c().to_str().unwrap(), "90", "27"]);
    for name in ["rss", "anon"] {
        let s = leaks(&j, name);
        assert_eq!(s["pattern"], "steady", "{s:#}");
        // 27 MiB in 90 s is 25.3 GiB/day (bookkeeping adds a little).
        let rate = s["rate_bytes_per_day"].as_f64().unwrap() / 1073741824.0;
        assert!((20.0..35.0).contains(&rate), "{s:#}");
    }
    let e = series(&j, "rss")["explanation"].as_str().unwrap();
    assert!(e.contains("unless a warm-up that takes longer than"), "{e}");
}

#[test]
fn a_python_program_climbing_thirtyfold_in_thirty_seconds_leaks() {
    if !runtime_available("python3", &["--version"], "python3") {
        return;
    }
    let d = Dir::new();
    let script = fixture("py_climb.py");
    let j = soak(
        &d,
        &[("DURATION", "30"), ("RATE_MIB", "10")],
        &["python3", script.to_str().unwrap()],
    );
    leaks(&j, "rss");
    leaks(&j, "anon");
}

#[test]
fn a_go_program_climbing_in_a_straight_line_leaks_and_no_warm_up_is_in_doubt() {
    if !runtime_available("go", &["version"], "golang-go") {
        return;
    }
    let d = Dir::new();
    let j = soak(
        &d,
        &[("DURATION", "40"), ("RATE_MIB", "4.5")],
        &[climb_go().to_str().unwrap()],
    );
    for name in ["rss", "anon"] {
        let s = leaks(&j, name);
        assert!(!notes(s).contains(&"warmup_not_ruled_out"), "{s:#}");
    }
}

#[test]
fn a_jump_in_the_last_seconds_of_a_run_is_reported_and_the_rate_judged_before_it() {
    if !runtime_available("go", &["version"], "golang-go") {
        return;
    }
    let d = Dir::new();
    let j = soak(
        &d,
        &[("DURATION", "40"), ("RATE_MIB", "1"), ("END_MIB", "30")],
        &[climb_go().to_str().unwrap()],
    );
    let s = leaks(&j, "rss");
    assert!(notes(s).contains(&"jump_at_end"), "{s:#}");
    assert!(!s["jumps"].as_array().unwrap().is_empty(), "{s:#}");
    // 1 MiB/s is 84 GiB/day; judged before the jump, which would otherwise add its 30 MiB.
    let rate = s["rate_bytes_per_day"].as_f64().unwrap() / 1073741824.0;
    assert!((60.0..110.0).contains(&rate), "{s:#}");
    let e = s["explanation"].as_str().unwrap();
    assert!(e.contains("judged on the floor before a jump of"), "{e}");
}

#[test]
fn ab_tells_twice_the_leak_per_request_within_ninety_seconds() {
    // 100 requests a second keeping 1 KiB (A) and 2 KiB (B) each: B leaks twice as fast.
    let d = Dir::new();
    let exe = bin();
    let r = d.run(&[
        "ab",
        "--a",
        "LEAK=1024",
        "--b",
        "LEAK=2048",
        "--for",
        "90s",
        "--format",
        "json",
        "--",
        "sh",
        "-c",
        "exec \"$0\" workload service --leak \"$LEAK\" --rate 100",
        exe.to_str().unwrap(),
    ]);
    r.expect_code(0);
    let j = r.json();
    let ci = j["ratio_ci95"]
        .as_array()
        .unwrap_or_else(|| panic!("{j:#}"));
    let (lo, hi) = (ci[0].as_f64().unwrap(), ci[1].as_f64().unwrap());
    assert!(lo > 1.0, "B is clearly faster: {j:#}");
    assert!(lo <= 2.0 && 2.0 <= hi, "{j:#}");
}
