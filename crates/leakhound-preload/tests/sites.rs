//! The profiler on real programs with known allocation sites, compiled here with gcc/g++ at
//! -O2 without frame pointers: the leak is found, named, and its rate estimated.

mod common;

use std::time::Duration;

use common::{compile, describe, judge, start};
use leakhound_analysis::Verdict;

/// Iterations per second of the programs: each leaks 64 bytes.
const RATE: f64 = 10_000.0;
const SECONDS: &str = "30";
/// A finer mean than the default 512 KiB, so that a 30 s test sees enough samples of the
/// 64-byte leak (about 1,200) for a rate within 20% and a series smooth enough for the
/// analysis to rule out a warm-up (at 32 KiB it could not, one run in four). The default
/// rate's cost is measured by the benchmark.
const SAMPLING: u64 = 16 * 1024;

/// Runs `program` and checks its three sites: the stack whose innermost frames start with
/// `leak` is the top site, a leak, at 64 bytes per iteration within 20%; the sites with a frame
/// starting with one of `others` are not leaks, and the bounded cache (`others[1]`) is seen.
/// Returns the stacks of the judged sites, top first.
fn check_three_sites(
    program: &str,
    args: &[&str],
    leak: &[&str],
    others: [&str; 2],
) -> Vec<Vec<String>> {
    let dir = tempfile::tempdir().unwrap();
    let exe = compile(dir.path(), program);
    let mut p = start(None, &exe, args, SAMPLING, 500, &[]);
    let pid = p.pid();
    let (reports, out) = p.collect(&[pid], Duration::from_secs(120));
    assert!(reports.len() >= 30, "{} reports", reports.len());
    assert!(reports.iter().all(|r| r.source == "native" && r.pid == pid));
    let findings = judge(&reports);
    let all = describe(&findings);
    eprintln!("{all}");
    let top = &findings[0];
    for (frame, want) in top.frames.iter().zip(leak) {
        assert!(frame.starts_with(want), "top site, {want}:\n{all}");
    }
    assert_eq!(top.finding.verdict, Verdict::Leak, "{all}");
    let truth = 64.0 * RATE * 86400.0;
    let rate = top.finding.rate_per_day.unwrap();
    assert!(
        (rate / truth - 1.0).abs() < 0.2,
        "rate {rate:.4e} vs truth {truth:.4e} B/day\n{all}\n{out:?}"
    );
    // Blocks freed at once are rarely live when a report is taken, so the churning site may
    // have too few points to be judged; if it is, it is not a leak. The cache always holds
    // about 512 KiB.
    let with = |name: &str| {
        findings
            .iter()
            .find(|f| f.frames.iter().take(3).any(|fr| fr.starts_with(name)))
    };
    for name in others {
        if let Some(site) = with(name) {
            assert_ne!(site.finding.verdict, Verdict::Leak, "{name}:\n{all}");
        }
    }
    assert!(
        with(others[1]).is_some(),
        "no site with {}:\n{all}",
        others[1]
    );
    findings.into_iter().map(|f| f.frames).collect()
}

#[test]
fn c_leak_is_the_top_site_with_its_rate() {
    let stacks = check_three_sites(
        "sites.c",
        &[SECONDS, &RATE.to_string()],
        &["leak_one (sites.c:", "work (sites.c:", "main (sites.c:"],
        ["churn (sites.c:", "cache_put (sites.c:"],
    );
    // Unwound through the C library to the program's entry point.
    assert!(
        stacks[0].last().unwrap().starts_with("_start ("),
        "{:?}",
        stacks[0]
    );
}

#[test]
fn leak_in_a_worker_thread() {
    // The thread's stack ends in glibc's thread start (named only where libc's debug
    // symbols are installed), not in main.
    let stacks = check_three_sites(
        "sites.c",
        &[SECONDS, &RATE.to_string(), "thread"],
        &["leak_one (sites.c:", "work (sites.c:"],
        ["churn (sites.c:", "cache_put (sites.c:"],
    );
    assert!(
        !stacks[0].iter().any(|f| f.starts_with("main ")),
        "{:?}",
        stacks[0]
    );
}

#[test]
fn cpp_new_leak() {
    // The innermost frame of a C++ allocation is operator new (libstdc++), then the caller.
    let _ = check_three_sites(
        "sites.cpp",
        &[SECONDS, &RATE.to_string()],
        &[
            "operator new (libstdc++",
            "app::Session::remember (sites.cpp:",
            "main (sites.cpp:",
        ],
        ["app::churn (sites.cpp:", "app::Cache::put (sites.cpp:"],
    );
}
