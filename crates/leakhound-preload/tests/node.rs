//! Native sites of Node.js: a Buffer leak is seen in the C++ allocator of ArrayBuffers, and
//! with `--perf-basic-prof` the JavaScript function that created the buffers is named too
//! (the unwinder follows V8's frame pointers through JIT code, leakhound reads the perf map).

mod common;

use std::path::Path;
use std::time::Duration;

use common::{describe, judge, start};
use leakhound_analysis::Verdict;

fn buffer_leak(node_args: &[&str]) -> Vec<Vec<String>> {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../leakhound/tests/fixtures/leaky-http.js")
        .display()
        .to_string();
    let mut args: Vec<&str> = node_args.to_vec();
    args.push(&fixture);
    let env = [("LEAK", "buffer"), ("DURATION", "20"), ("RATE", "200")];
    let mut p = start(None, Path::new("node"), &args, 32 * 1024, 500, &env);
    let pid = p.pid();
    let (reports, out) = p.collect(&[pid], Duration::from_secs(120));
    assert!(out.iter().any(|l| l.starts_with("requests ")), "{out:?}");
    // node is not PIE: its PLT stub is malloc's canonical address, yet its calls reach here.
    let status = p.listener.native_status(&[pid]);
    assert!(status[0].1.hooked, "{status:?}");
    let findings = judge(&reports);
    let all = describe(&findings);
    // The fixture's request rate triples halfway and swings, and V8 splits the leak between
    // the stacks of its tiers (the leaking function inlined or not), so 20 s do not always
    // rule out a warm-up; the top site must grow, its verdict is the analysis's business.
    let top = &findings[0];
    assert_ne!(top.finding.verdict, Verdict::NoLeak, "{all}");
    assert!(
        top.finding.rate_ci_per_day.unwrap().0 > 0.0,
        "growing: {all}"
    );
    // C++ frames of the allocator of ArrayBuffers, by name where node has its symbols (as
    // the nodesource builds do), else by module (Debian's stripped libnode).
    assert!(
        top.frames[0].starts_with("node::NodeArrayBufferAllocator::")
            || top.frames[0].starts_with("libnode"),
        "C++ frames: {all}"
    );
    findings.into_iter().map(|f| f.frames).collect()
}

#[test]
fn node_buffer_leak_with_the_javascript_function() {
    let stacks = buffer_leak(&["--perf-basic-prof"]);
    let top = &stacks[0];
    // The leaking function itself, or the timer callback it was inlined into.
    assert!(
        top.iter().any(|f| f.contains("(leaky-http.js:")),
        "{top:#?}"
    );
}

#[test]
fn node_buffer_leak_without_a_perf_map() {
    let stacks = buffer_leak(&[]);
    let top = &stacks[0];
    assert!(top.iter().any(|f| f == "[JIT]"), "{top:#?}");
    assert!(!top.iter().any(|f| f.contains("leaky-http.js")), "{top:#?}");
}
