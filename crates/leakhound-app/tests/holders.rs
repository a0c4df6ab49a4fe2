//! Who holds it, on real V8 heap snapshots: a Node.js program (tests/fixtures/holders.js of the
//! binary's tests) leaks through one of three holders and writes three snapshots itself; the
//! comparison names each holder first, and never the churn beside it.

use std::path::{Path, PathBuf};

use leakhound_app::inspect::snapshots::compare_files;

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../leakhound/tests/fixtures/holders.js")
}

fn node() -> bool {
    let ok = std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok || std::env::var_os("CI").is_none(),
        "node is missing on CI"
    );
    if !ok {
        eprintln!("skipped: node not installed");
    }
    ok
}

/// The holders of the fixture's leak `kind` (paths of the largest first).
fn holders_of(kind: &str) -> Vec<leakhound_analysis::retainers::Holder> {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new("node")
        .arg(fixture())
        .arg(dir.path())
        .env("KIND", kind)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let files: Vec<PathBuf> = (1..=3)
        .map(|i| dir.path().join(format!("{i}.heapsnapshot")))
        .collect();
    let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let h = compare_files(&refs).unwrap();
    eprintln!("{kind}: {h:#?}");
    h
}

#[test]
fn a_map_used_as_a_cache_is_named_by_its_variable() {
    if !node() {
        return;
    }
    let h = holders_of("map");
    assert_eq!(h[0].path[0], "responseCache (Map)", "{h:#?}");
    assert!(h[0].path[1].starts_with("module ") && h[0].path[1].ends_with("holders.js"));
    // 3,000 entries of a ~0.5 KiB string and a record: most of the new bytes.
    assert!(h[0].objects >= 3000.0 && h[0].bytes > 1.5e6, "{h:#?}");
    let total: f64 = h.iter().map(|x| x.bytes).sum();
    assert!(h[0].bytes > 0.8 * total, "{h:#?}");
}

#[test]
fn listeners_are_named_by_the_emitter_that_keeps_them() {
    if !node() {
        return;
    }
    let h = holders_of("listener");
    let p = h[0].path.join(" <- ");
    assert!(p.starts_with("reload (Array) <- _events ("), "{p}");
    assert!(p.contains("configBus (EventEmitter)"), "{p}");
    assert!(h[0].objects >= 3000.0, "{h:#?}");
}

#[test]
fn a_closure_held_by_a_timer_is_named_by_the_timer_list() {
    if !node() {
        return;
    }
    let h = holders_of("timer");
    let p = h[0].path.join(" <- ");
    assert!(
        p.starts_with("[3600000] (TimersList) <- timerListMap ("),
        "{p}"
    );
    assert!(h[0].objects >= 3000.0, "{h:#?}");
}
