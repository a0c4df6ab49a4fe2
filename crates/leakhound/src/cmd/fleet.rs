//! `leakhound fleet`: every series of a Prometheus-compatible TSDB, analysed in parallel,
//! ranked; with `--counter`, bytes per event across the fleet.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use leakhound_analysis::{analyze, default_tolerance, fleet_attribution, Config, Finding, Verdict};
use leakhound_net::prom::{selector, PromClient, PromSeries};
use leakhound_report::units::{format_duration, parse_duration, parse_rate, parse_size};
use leakhound_report::{FleetOutput, FleetRow};

use crate::cli::{FleetArgs, Format};
use crate::error::user;

/// A finished series: its labels and finding (samples dropped once analysed).
struct Judged {
    labels: BTreeMap<String, String>,
    finding: Finding,
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// The labels that tell instances apart (those that differ between series).
fn distinguishing(all: &[BTreeMap<String, String>]) -> Vec<String> {
    let mut keys: Vec<String> = all.iter().flat_map(|l| l.keys().cloned()).collect();
    keys.sort();
    keys.dedup();
    keys.retain(|k| k != "__name__" && all.iter().any(|l| l.get(k) != all[0].get(k)));
    keys
}

fn short(labels: &BTreeMap<String, String>, keys: &[String]) -> String {
    let parts: Vec<String> = keys
        .iter()
        .filter_map(|k| labels.get(k).map(|v| format!("{k}={v}")))
        .collect();
    if parts.is_empty() {
        selector(labels)
    } else {
        parts.join(",")
    }
}

pub fn run(_db: &Option<PathBuf>, args: &FleetArgs) -> anyhow::Result<bool> {
    let timeout = parse_duration(&args.timeout)
        .ok()
        .filter(|t| *t > 0.0)
        .ok_or_else(|| {
            user(format!(
                "--timeout {:?}: write a positive duration, e.g. 30s",
                args.timeout
            ))
        })?;
    let client = PromClient::new(&args.prometheus)
        .map_err(|e| user(format!("--prometheus {e}")))?
        .with_timeout(std::time::Duration::from_secs_f64(timeout));
    let range = parse_duration(&args.range).map_err(|e| user(format!("--range: {e}")))?;
    let step = parse_duration(&args.step).map_err(|e| user(format!("--step: {e}")))?;
    if step <= 0.0 || range <= 0.0 {
        return Err(user("--range and --step must be positive"));
    }
    let tolerance = args
        .tolerance
        .as_deref()
        .map(parse_rate)
        .transpose()
        .map_err(|e| user(format!("--tolerance: {e}")))?;
    let limit = args
        .limit
        .as_deref()
        .map(parse_size)
        .transpose()
        .map_err(|e| user(format!("--limit: {e}")))?;
    let end = now();
    let start = end - range;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;

    // List the series first, then fetch and analyse them one by one on both cores, so the fleet
    // never sits in memory at once.
    let label_sets = rt
        .block_on(client.series(&args.query, start, end))
        .map_err(|e| user(format!("--query {:?}: {e}", args.query)))?;
    if label_sets.is_empty() {
        return Err(user(format!(
            "--query {:?} matches no series in the last {}",
            args.query,
            format_duration(range)
        )));
    }
    let fetched = std::time::Instant::now();
    let fetch_seconds = Arc::new(Mutex::new(0.0f64));
    let judged: Arc<Mutex<Vec<Judged>>> = Arc::new(Mutex::new(Vec::new()));
    let errors: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    let sem = Arc::new(tokio::sync::Semaphore::new(4));
    rt.block_on(async {
        let mut tasks = Vec::new();
        for labels in &label_sets {
            let (client, sem, judged, errors, fetch_seconds) = (
                client.clone(),
                Arc::clone(&sem),
                Arc::clone(&judged),
                Arc::clone(&errors),
                Arc::clone(&fetch_seconds),
            );
            let q = selector(labels);
            tasks.push(tokio::spawn(async move {
                let Ok(_permit) = sem.acquire().await else {
                    return;
                };
                let t = std::time::Instant::now();
                let result = client.query_range(&q, start, end, step).await;
                *fetch_seconds.lock().unwrap_or_else(|p| p.into_inner()) +=
                    t.elapsed().as_secs_f64();
                match result {
                    Ok(series) => {
                        for s in series {
                            // Analysis is CPU work: off the async threads.
                            let judged = Arc::clone(&judged);
                            let _ = tokio::task::spawn_blocking(move || {
                                if let Some(j) = judge(s, tolerance, limit) {
                                    judged.lock().unwrap_or_else(|p| p.into_inner()).push(j);
                                }
                            })
                            .await;
                        }
                    }
                    Err(e) => errors
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(e.to_string()),
                }
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
    });
    let errors = errors.lock().unwrap_or_else(|p| p.into_inner()).clone();
    if let Some(first) = errors.first() {
        if judged.lock().map(|j| j.is_empty()).unwrap_or(true) {
            return Err(user(first.clone()));
        }
        eprintln!(
            "leakhound: warning: {} series could not be fetched; first: {first}",
            errors.len()
        );
    }
    let mut judged = std::mem::take(&mut *judged.lock().unwrap_or_else(|p| p.into_inner()));
    // Worst first: leaks by rate, then inconclusive, then the rest.
    let rank = |j: &Judged| match j.finding.verdict {
        Verdict::Leak => 0,
        Verdict::Inconclusive => 1,
        Verdict::NoLeak => 2,
    };
    judged.sort_by(|a, b| {
        rank(a).cmp(&rank(b)).then(
            b.finding
                .rate_per_day
                .unwrap_or(0.0)
                .total_cmp(&a.finding.rate_per_day.unwrap_or(0.0)),
        )
    });

    let attribution = match &args.counter {
        Some(cq) => {
            let counters = rt
                .block_on(client.query_range(cq, start, end, step))
                .map_err(|e| user(format!("--counter {cq:?}: {e}")))?;
            let keys = distinguishing(&judged.iter().map(|j| j.labels.clone()).collect::<Vec<_>>());
            let points: Vec<(f64, f64)> = judged
                .iter()
                .filter_map(|j| {
                    let rate = j.finding.rate_per_day?;
                    let c = counters
                        .iter()
                        .find(|c| keys.iter().all(|k| c.labels.get(k) == j.labels.get(k)))?;
                    let span = c.t.last()? - c.t.first()?;
                    let events = c.v.last()? - c.v.first()?;
                    (span > 0.0).then(|| (rate, events / span * 86400.0))
                })
                .collect();
            fleet_attribution(cq, &points)
        }
        None => None,
    };
    let analysis_seconds = fetched.elapsed().as_secs_f64();
    let keys = distinguishing(&judged.iter().map(|j| j.labels.clone()).collect::<Vec<_>>());
    let names: Vec<String> = judged.iter().map(|j| short(&j.labels, &keys)).collect();
    let out = FleetOutput {
        query: &args.query,
        rows: judged
            .iter()
            .zip(&names)
            .map(|(j, name)| FleetRow {
                instance: name,
                labels: &j.labels,
                finding: &j.finding,
            })
            .collect(),
        attribution: attribution.as_ref(),
    };
    match args.format {
        Format::Json => println!("{}", out.json_text()),
        Format::Text => {
            print!("{}", out.text());
            let fetch = *fetch_seconds.lock().unwrap_or_else(|p| p.into_inner());
            eprintln!(
                "leakhound: {} series over {}; fetching {:.1} s (summed over requests), fetch + analysis {:.1} s wall",
                judged.len(),
                format_duration(range),
                fetch,
                analysis_seconds
            );
        }
    }
    if let Some(path) = &args.report {
        std::fs::write(path, out.html())
            .map_err(|e| user(format!("--report {}: {e}", path.display())))?;
        eprintln!("leakhound: wrote {}", path.display());
    }
    Ok(args.fail_on_leak && judged.iter().any(|j| j.finding.verdict == Verdict::Leak))
}

fn judge(s: PromSeries, tolerance: Option<f64>, limit: Option<f64>) -> Option<Judged> {
    if s.t.len() < 2 {
        return None;
    }
    let cfg = Config {
        tolerance: tolerance.unwrap_or_else(|| default_tolerance(&s.v, true)),
        limit,
        restarts: Vec::new(),
        confidence: 0.95,
        load: leakhound_analysis::Load::Auto,
    };
    let finding = analyze(&s.t, &s.v, &cfg).ok()?;
    Some(Judged {
        labels: s.labels,
        finding,
    })
}
