//! Retention and compaction end to end: `import` compresses, `gc` keeps what is older than the
//! retention as floor summaries, `runs` shows sizes, and `analyze` still judges the old run.

mod util;

use leakhound_bench::service::{Service, MIDNIGHT};
use util::Dir;

const DAY: f64 = 86400.0;

/// A week at 60 s of the seed's service (250 MB, leaking 8 MiB/day, daily cycle, GC sawtooth,
/// AR noise) and its request counter, ending `ago` seconds before now.
fn old_week_csv(d: &Dir, ago: f64) -> std::path::PathBuf {
    let mut s = Service::seed_shaped(7, true, 0.0);
    s.dt = 60.0;
    s.span = 7.0 * DAY;
    let w = s.generate();
    let shift = util::wall() - ago - s.span - MIDNIGHT;
    let mut text = String::from("timestamp,rss,requests\n");
    for i in 0..w.t.len() {
        text += &format!("{},{},{}\n", w.t[i] + shift, w.y[i], w.requests[i]);
    }
    let path = d.path("old.csv");
    util::write(&path, &text);
    path
}

fn rss_of(analysis: &serde_json::Value) -> &serde_json::Value {
    analysis["series"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "rss")
        .unwrap()
}

#[test]
fn a_run_older_than_the_retention_keeps_its_floor_summaries_and_its_verdict() {
    let d = Dir::new();
    let csv = old_week_csv(&d, 40.0 * DAY);
    d.run(&["import", csv.to_str().unwrap()]).expect_code(0);
    let before = d.run(&["analyze", "1", "--format", "json"]);
    before.expect_code(0);
    let whole = rss_of(&before.json()).clone();
    assert_eq!(whole["verdict"], "leak", "{whole}");

    let gc = d.run(&["gc", "--retention", "30d", "--format", "json"]);
    gc.expect_code(0);
    let collected = gc.json();
    assert_eq!(collected["summarized"], 2 * 10_081, "{collected}");
    assert_eq!(collected["retention_seconds"], 30.0 * DAY);

    let runs = d.run(&["runs", "--format", "json"]).json();
    let run = &runs[0];
    assert_eq!(run["samples"], 2 * 10_081, "{run}");
    assert_eq!(run["summarized_samples"], 2 * 10_081);
    let size = run["size_bytes"].as_u64().unwrap();
    assert!(size < 60_000, "{size} bytes for a week of floor summaries");

    // The analysis reads one point per 5-minute window, and still finds the leak.
    let after = d.run(&["analyze", "1", "--format", "json"]);
    after.expect_code(0);
    let rss = rss_of(&after.json()).clone();
    assert_eq!(rss["samples"], 2016 + 1, "{rss}");
    assert_eq!(rss["verdict"], "leak", "{rss}");
    let rate = rss["rate_bytes_per_day"].as_f64().unwrap();
    let ci = &rss["rate_ci95_bytes_per_day"];
    let truth = 8.0 * 1048576.0;
    assert!(
        ci[0].as_f64().unwrap() < truth && truth < ci[1].as_f64().unwrap(),
        "true rate {truth} outside {ci} (whole: {whole})"
    );
    assert!((rate - truth).abs() < 0.25 * truth, "{rate}");
    eprintln!(
        "whole: {} samples, {} {:.0} B/day {}; floor windows: {} points, {} {rate:.0} B/day {ci}",
        whole["samples"],
        whole["verdict"],
        whole["rate_bytes_per_day"].as_f64().unwrap(),
        whole["rate_ci95_bytes_per_day"],
        rss["samples"],
        rss["verdict"]
    );
    // Text output names the size.
    let text = d.run(&["runs"]);
    text.expect_code(0);
    assert!(text.stdout().contains("size"), "{}", text.stdout());
}

#[test]
fn import_compresses_its_run_and_gc_shrinks_nothing_twice() {
    let d = Dir::new();
    let csv = old_week_csv(&d, 2.0 * DAY);
    d.run(&["import", csv.to_str().unwrap()]).expect_code(0);
    let run = &d.run(&["runs", "--format", "json"]).json()[0];
    let (samples, size) = (
        run["samples"].as_f64().unwrap(),
        run["size_bytes"].as_f64().unwrap(),
    );
    assert!(size / samples < 4.0, "{} bytes per sample", size / samples);
    assert_eq!(run["summarized_samples"], 0);
    let gc = d.run(&["gc", "--format", "json"]).json();
    assert_eq!(gc["compacted"], 0, "{gc}");
    assert_eq!(
        gc["summarized"], 0,
        "younger than the default 30 days: {gc}"
    );
    let text = d.run(&["gc", "--retention", "forever"]);
    text.expect_code(0);
    assert!(
        text.stdout().contains("kept whole however old"),
        "{}",
        text.stdout()
    );
}

#[test]
fn bad_retentions_and_a_missing_database_are_usage_errors() {
    let d = Dir::new();
    d.run(&["gc"])
        .expect_code(2)
        .expect_stderr("no database at");
    d.run(&["gc", "--retention", "5m"])
        .expect_code(2)
        .expect_stderr("--retention 5m: must be at least 1h");
    d.run(&["gc", "--retention", "soon"])
        .expect_code(2)
        .expect_stderr("--retention: ");
    let me = std::process::id().to_string();
    d.run(&["watch", "--pid", &me, "--retention", "0s", "--for", "1s"])
        .expect_code(2)
        .expect_stderr("--retention");
    assert!(!d.db().exists(), "nothing written on a usage error");
}
