//! What collecting allocation sites costs, per profile: the Node agent taking and serialising
//! a sampling heap profile of about 10,000 stacks in a real Node.js process (leakhound sums it
//! into sites), and leakhound parsing such a report and storing it (naming new stacks, one `site.bytes` and one
//! `site.objects` sample per stack); and how fast a run's database grows per day of watching
//! at the default 30 s with the agent's default top 200 stacks.
//!
//! `cargo run --release -p leakhound-bench --bin sites_ingest [-- --sites 10000]`

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use leakhound_bench::arg;
use leakhound_probe::agent::AgentListener;
use leakhound_probe::sites::{parse_sites, SitesReport};
use leakhound_store::{site_hash, NewRun, SeriesKind, Store, Upkeep, UpkeepCursor};

/// A Node program with `n` allocation sites (one generated function each) that keeps what
/// they allocate, so every site is live when the profile is taken.
fn node_program(n: u64) -> String {
    format!(
        "const keep = [];\n\
         const fns = [];\n\
         for (let i = 0; i < {n}; i++) fns.push(new Function('keep', `return function site_${{i}}() {{ keep.push(new Array(64).fill(${{i}})); }}`)(keep));\n\
         setTimeout(() => {{ for (let r = 0; r < 40; r++) for (const f of fns) f(); }}, 500);\n\
         setInterval(() => {{}}, 1000);\n"
    )
}

/// Stores `report` into `run` of `store` the way the sampler does; the seconds it took.
fn ingest(
    store: &mut Store,
    run: i64,
    report: &SitesReport,
    ids: &mut BTreeMap<String, (i64, i64)>,
    t: f64,
) -> f64 {
    let started = Instant::now();
    let mut rows = Vec::with_capacity(2 * report.sites.len());
    // As the sampler does: new stacks are named and their series created in one transaction.
    let db: &Store = store;
    db.transaction(|| {
        for s in &report.sites {
            let hash = site_hash(&s.frames);
            let (b, o) = match ids.get(&hash) {
                Some(&p) => p,
                None => {
                    db.site(run, &hash, &report.source, &s.frames)?;
                    let labels = BTreeMap::from([("site".to_string(), hash.clone())]);
                    let b = db.series(run, "site.bytes", &labels, SeriesKind::Gauge, "bytes")?;
                    let o = db.series(run, "site.objects", &labels, SeriesKind::Gauge, "count")?;
                    ids.insert(hash, (b, o));
                    (b, o)
                }
            };
            rows.push((b, t, s.bytes));
            rows.push((o, t, s.objects));
        }
        Ok(())
    })
    .unwrap();
    store.write_batch(run, &rows, &[]).unwrap();
    started.elapsed().as_secs_f64()
}

/// `report` as it would come at interval `k`: a sampling profiler's live bytes per stack move
/// by whole samples (32 KiB, the default sampling mean) from one profile to the next, and one
/// stack in ten grows by a sample every few intervals, so that the stored values carry as
/// change as real ones do (identical profiles would compress to nothing).
fn varied(report: &SitesReport, k: u64) -> SitesReport {
    let mut out = report.clone();
    for (i, s) in out.sites.iter_mut().enumerate() {
        let h = (k.wrapping_mul(0x9e37_79b9_7f4a_7c15)
            ^ (i as u64).wrapping_mul(0xbf58_476d_1ce4_e5b9))
        .wrapping_mul(0x94d0_49bb_1331_11eb);
        let jitter = (h >> 59) as f64 - 16.0; // -16..15 samples
        let growth = if i % 10 == 0 { (k / 4) as f64 } else { 0.0 };
        s.bytes = (s.bytes + (jitter / 4.0 + growth) * 32768.0).max(0.0);
        s.objects = (s.objects + jitter + 8.0 * growth).max(0.0);
    }
    out
}

fn new_run(store: &Store) -> i64 {
    store
        .create_run(&NewRun {
            kind: "run".into(),
            target: "bench".into(),
            host: "bench".into(),
            started_at: 1.8e9,
            interval_s: Some(1.0),
            limit_bytes: None,
            version: "bench".into(),
        })
        .unwrap()
}

fn main() {
    let n = arg("--sites", 10_000);
    let dir = tempfile::tempdir().unwrap();
    let listener = AgentListener::bind(&dir.path().join("agent.sock")).unwrap();
    let script = dir.path().join("agent.js");
    std::fs::write(&script, leakhound_probe::agent::NODE_AGENT_JS).unwrap();
    let app = dir.path().join("sites.js");
    std::fs::write(&app, node_program(n)).unwrap();
    let mut node = std::process::Command::new("node")
        .arg("--require")
        .arg(&script)
        .arg(&app)
        .env("LEAKHOUND_AGENT_SOCKET", listener.socket())
        .env("LEAKHOUND_AGENT_INTERVAL_MS", "1000")
        .env("LEAKHOUND_SITES_INTERVAL_MS", "3000")
        .env("LEAKHOUND_SITES_SAMPLING", "1024")
        .env("LEAKHOUND_SITES_TOP", (2 * n).to_string())
        .spawn()
        .expect("node runs");
    let pid = node.id() as i32;
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut reports: Vec<SitesReport> = Vec::new();
    while reports.len() < 3 && Instant::now() < deadline {
        reports.extend(listener.take_sites(&[pid]));
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = node.kill();
    let _ = node.wait();
    let Some(big) = reports.last() else {
        eprintln!("no sites report from node within 2 minutes");
        std::process::exit(1);
    };
    let took: Vec<String> = reports
        .iter()
        .map(|r| format!("{:.0} ms", r.took_ms.unwrap_or(f64::NAN)))
        .collect();
    println!(
        "Node agent: a sampling heap profile with {} stacks taken and serialised in {} (three profiles)",
        big.sites.len(),
        took.join(", ")
    );

    // leakhound: parse the line and store it, first with every stack new, then as a repeat.
    let line = serde_json::to_string(big).unwrap();
    let started = Instant::now();
    let parsed = parse_sites(&line).unwrap();
    let parse_ms = started.elapsed().as_secs_f64() * 1e3;
    let mut store = Store::open(&dir.path().join("ingest.db")).unwrap();
    let run = new_run(&store);
    let mut ids = BTreeMap::new();
    let first = ingest(&mut store, run, &parsed, &mut ids, 1.8e9) * 1e3;
    let again = ingest(&mut store, run, &parsed, &mut ids, 1.8e9 + 30.0) * 1e3;
    println!(
        "leakhound: parsing the report ({} KiB) {parse_ms:.1} ms; storing it {first:.0} ms the first time (every stack named), {again:.1} ms after",
        line.len() / 1024
    );

    // Growth of a run's database: the default top 200 stacks every 30 s.
    let top = SitesReport {
        sites: big.sites.iter().take(200).cloned().collect(),
        ..big.clone()
    };
    let db = dir.path().join("growth.db");
    let mut store = Store::open(&db).unwrap();
    let run = new_run(&store);
    let mut ids = BTreeMap::new();
    // One day, from midnight UTC, so that the day's blocks close and compact.
    let t0 = (1.8e9 / 86400.0f64).ceil() * 86400.0;
    let intervals = 2880;
    ingest(&mut store, run, &top, &mut ids, t0);
    drop(store);
    let size = |db: &std::path::Path| {
        std::fs::metadata(db).unwrap().len()
            + std::fs::metadata(db.with_extension("db-wal")).map_or(0, |m| m.len())
    };
    let before = size(&db);
    let mut store = Store::open(&db).unwrap();
    for k in 1..=intervals {
        let now = varied(&top, k);
        ingest(&mut store, run, &now, &mut ids, t0 + 30.0 * k as f64);
    }
    drop(store);
    let rows = size(&db) - before;
    let store = Store::open(&db).unwrap();
    let done = store
        .upkeep(
            &Upkeep {
                now: t0 + 3.0 * 86400.0,
                retention: None,
                run: None,
            },
            &mut UpkeepCursor::default(),
            None,
        )
        .unwrap();
    store.shrink().unwrap();
    drop(store);
    let chunks = size(&db).saturating_sub(before);
    let samples = 2.0 * top.sites.len() as f64 * intervals as f64;
    println!(
        "store, one day of 200 stacks every 30 s ({samples:.0} samples): {:.1} MiB as written \
         ({:.1} bytes per sample), {:.1} MiB once compacted ({:.2} bytes per sample; {} of them \
         moved into chunks)",
        rows as f64 / 1048576.0,
        rows as f64 / samples,
        chunks as f64 / 1048576.0,
        chunks as f64 / samples,
        done.compacted
    );
}
