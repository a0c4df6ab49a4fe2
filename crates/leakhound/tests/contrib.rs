//! What `contrib/` gives people who already run Prometheus and Grafana: the alerting rules pass
//! `promtool check rules` and fire in `promtool test rules`, and every panel of the Grafana
//! dashboard gets data from a real Prometheus scraping a real `watch --listen` of a leaking
//! process.

mod util;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use util::{bin, free_port, http, installed, prometheus_scraping, Dir, Kids};

fn contrib(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../contrib")
        .join(path)
}

#[test]
fn the_alerting_rules_check_and_fire() {
    if !installed("/usr/bin/promtool", "prometheus") {
        return;
    }
    let dir = contrib("prometheus");
    for args in [
        vec!["check", "rules", "leakhound-alerts.yml"],
        vec!["test", "rules", "leakhound-alerts.test.yml"],
    ] {
        let out = Command::new("/usr/bin/promtool")
            .args(&args)
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "promtool {}:\n{}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Percent-encodes a query string value.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn every_dashboard_panel_gets_data_from_a_real_watch() {
    if !installed("/usr/bin/prometheus", "prometheus") {
        return;
    }
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(contrib("grafana/leakhound-dashboard.json")).unwrap(),
    )
    .unwrap();
    let d = Dir::new();
    let leaky = Command::new(bin())
        .args([
            "workload",
            "service",
            "--leak",
            "20000",
            "--rate",
            "100",
            "--garbage",
            "2",
            "--for",
            "300",
        ])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let pid = leaky.id().to_string();
    let exporter = free_port();
    let watch = d
        .cmd(&[
            "watch",
            "--pid",
            &pid,
            "--interval",
            "500ms",
            "--for",
            "300s",
            "--listen",
            &format!("127.0.0.1:{exporter}"),
        ])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (prom, prom_port) = prometheus_scraping(&d, exporter);
    let _guard = Kids(vec![leaky, watch, prom]);

    // The panels' queries with the dashboard's variable set to all targets.
    let panels: Vec<(String, Vec<String>)> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let exprs = p["targets"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["expr"].as_str().unwrap().replace("$target", ".*"))
                .collect();
            (p["title"].as_str().unwrap().to_string(), exprs)
        })
        .collect();
    assert!(panels.len() >= 4);
    // Verdicts are exported at the sequential looks (the first after 30 s); wait until every
    // panel has data or two minutes have passed.
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut missing: Vec<String>;
    loop {
        std::thread::sleep(Duration::from_secs(5));
        missing = Vec::new();
        for (title, exprs) in &panels {
            let mut any = false;
            for e in exprs {
                let Ok(body) = std::panic::catch_unwind(|| {
                    http(
                        prom_port,
                        "GET",
                        &format!("/api/v1/query?query={}", encode(e)),
                        "",
                    )
                    .1
                }) else {
                    continue;
                };
                let Ok(j) = serde_json::from_str::<serde_json::Value>(&body) else {
                    continue;
                };
                assert_ne!(
                    j["status"], "error",
                    "{title}: {e} is not a valid query: {j}"
                );
                any |= j["data"]["result"]
                    .as_array()
                    .is_some_and(|r| !r.is_empty());
            }
            if !any {
                missing.push(title.clone());
            }
        }
        if missing.is_empty() || Instant::now() > deadline {
            break;
        }
    }
    assert!(missing.is_empty(), "panels without data: {missing:?}");
}
