//! Bytes per sample and write/read speed of leakhound's store, on a week at 10 s of realistic
//! series (`leakhound_bench::storage::week_at_10s`): as rows (what every version stores first,
//! and all the previous version stored) and compacted into chunks, side by side with gzip'd
//! CSV and, when /usr/bin/victoria-metrics is installed, VictoriaMetrics after a merge.
//!
//! `cargo run --release -p leakhound-bench --bin storage [-- --seed 1]`

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use leakhound_bench::storage::{week_at_10s, BenchSeries, Shape};
use leakhound_store::{NewRun, SeriesId, SeriesKind, Store, Upkeep, UpkeepCursor};

/// Monday 2026-01-05 00:00 UTC: the week is moved here (whole days, so its daily cycle keeps
/// its hours) to be in the past for VictoriaMetrics.
const MONDAY: f64 = 1_767_571_200.0;

fn shapes() -> [(Shape, &'static str); 3] {
    [
        (Shape::Memory, "page-aligned memory"),
        (Shape::Counter, "counters"),
        (Shape::Float, "floats"),
    ]
}

fn moved(series: Vec<BenchSeries>) -> Vec<BenchSeries> {
    let delta = MONDAY - leakhound_bench::service::MIDNIGHT;
    series
        .into_iter()
        .map(|mut s| {
            for t in &mut s.t {
                *t = ((*t + delta) * 1e3).round() / 1e3;
            }
            s
        })
        .collect()
}

fn file_bytes(db: &Path) -> u64 {
    std::fs::metadata(db).map(|m| m.len()).unwrap_or(0)
}

/// Writes `series` as a sampler does: one transaction per interval (all series at one time).
/// Returns the store, the ids, and the seconds taken.
fn write_as_sampler(db: &Path, series: &[BenchSeries]) -> (Store, Vec<SeriesId>, f64) {
    let mut store = Store::open(db).unwrap();
    let run = store
        .create_run(&NewRun {
            kind: "watch".into(),
            target: "bench".into(),
            host: "bench".into(),
            started_at: series[0].t[0],
            interval_s: Some(10.0),
            limit_bytes: None,
            version: env!("CARGO_PKG_VERSION").into(),
        })
        .unwrap();
    let ids: Vec<SeriesId> = series
        .iter()
        .map(|s| {
            let (kind, unit) = match s.shape {
                Shape::Counter => (SeriesKind::Counter, "count"),
                Shape::Memory => (SeriesKind::Gauge, "bytes"),
                Shape::Float => (SeriesKind::Gauge, "count"),
            };
            store
                .series(run, s.name, &BTreeMap::new(), kind, unit)
                .unwrap()
        })
        .collect();
    let start = Instant::now();
    for i in 0..series[0].t.len() {
        let rows: Vec<(SeriesId, f64, f64)> = series
            .iter()
            .zip(&ids)
            .map(|(s, id)| (*id, s.t[i], s.v[i]))
            .collect();
        store.write_batch(run, &rows, &[]).unwrap();
    }
    (store, ids, start.elapsed().as_secs_f64())
}

/// Reads every series `reps` times; samples per second.
fn read_speed(store: &Store, ids: &[SeriesId], reps: usize) -> f64 {
    let start = Instant::now();
    let mut n = 0;
    for _ in 0..reps {
        for id in ids {
            n += store.samples(*id).unwrap().0.len();
        }
    }
    n as f64 / start.elapsed().as_secs_f64()
}

/// Folds the write-ahead log into the file, so the file's size is what the data takes.
fn checkpoint(db: &Path) {
    Store::open(db).unwrap().shrink().unwrap();
}

/// Bytes of `series` as one gzip'd CSV in leakhound's format (a timestamp column to the
/// millisecond, a column per series: what `leakhound export` writes), and the samples in it.
fn gzip_csv(series: &[&BenchSeries]) -> (usize, usize) {
    let mut text = String::from("timestamp");
    for s in series {
        text += ",";
        text += s.name;
    }
    text += "\n";
    for i in 0..series[0].t.len() {
        text += &format!("{:.3}", series[0].t[i]);
        for s in series {
            text += &format!(",{}", s.v[i]);
        }
        text += "\n";
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(text.as_bytes()).unwrap();
    (gz.finish().unwrap().len(), series.len() * series[0].t.len())
}

/// Sends one HTTP/1.1 request to 127.0.0.1:`port`; the status code.
fn http(port: u16, method: &str, path: &str, body: &[u8]) -> u16 {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(600))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    s.write_all(body).unwrap();
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

fn dir_bytes(p: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(p) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// Bytes VictoriaMetrics keeps for `series` (its `data` directory, after a forced merge).
fn victoria_metrics(series: &[&BenchSeries], dir: &Path) -> Option<u64> {
    let bin = Path::new("/usr/bin/victoria-metrics");
    if !bin.exists() {
        return None;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    let mut vm = Command::new(bin)
        .arg(format!("-storageDataPath={}", dir.display()))
        .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
        .arg("-retentionPeriod=100y")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "VictoriaMetrics did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut body = String::new();
    for s in series {
        let ts: Vec<String> =
            s.t.iter()
                .map(|t| format!("{}", (t * 1e3).round() as i64))
                .collect();
        let vs: Vec<String> = s.v.iter().map(|v| format!("{v}")).collect();
        body += &format!(
            "{{\"metric\":{{\"__name__\":\"{}\",\"job\":\"bench\"}},\"values\":[{}],\"timestamps\":[{}]}}\n",
            s.name.replace('.', "_"),
            vs.join(","),
            ts.join(",")
        );
    }
    assert_eq!(http(port, "POST", "/api/v1/import", body.as_bytes()), 204);
    http(port, "GET", "/internal/force_flush", b"");
    http(port, "GET", "/internal/force_merge", b"");
    // The merge runs in the background: wait until the data is there and stops changing.
    let data = dir.join("data");
    let (mut last, mut same) = (0, 0);
    for _ in 0..120 {
        std::thread::sleep(Duration::from_secs(1));
        let now = dir_bytes(&data);
        same = if now == last && now > 0 { same + 1 } else { 0 };
        last = now;
        if same >= 3 {
            break;
        }
    }
    let _ = vm.kill();
    let _ = vm.wait();
    Some(last)
}

fn main() {
    let seed = leakhound_bench::arg("--seed", 1);
    let series = moved(week_at_10s(seed));
    let n_all: usize = series.iter().map(|s| s.t.len()).sum();
    let tmp = tempfile_dir();
    let db = tmp.join("bench.db");
    println!(
        "{} series x {} samples (a week at 10 s, seed {seed}): {n_all} samples",
        series.len(),
        series[0].t.len()
    );

    // Before: rows, as written by the sampler (and all the previous version kept).
    let (store, ids, write_s) = write_as_sampler(&db, &series);
    drop(store);
    checkpoint(&db);
    let rows_bytes = file_bytes(&db);
    let store = Store::open(&db).unwrap();
    let read_rows = read_speed(&store, &ids, 5);

    // After: compacted.
    let start = Instant::now();
    let done = store
        .upkeep(
            &Upkeep {
                now: series[0].t[series[0].t.len() - 1] + 2.0 * 86400.0,
                retention: None,
                run: None,
            },
            &mut UpkeepCursor::default(),
            None,
        )
        .unwrap();
    let compact_s = start.elapsed().as_secs_f64();
    store.shrink().unwrap();
    let chunked_bytes = file_bytes(&db);
    let read_chunks = read_speed(&store, &ids, 5);
    let by_series: Vec<u64> = ids
        .iter()
        .map(|id| store.series_size(*id).unwrap())
        .collect();
    drop(store);

    println!();
    println!("| storage | bytes/sample (all) | page-aligned memory | counters | floats |");
    println!("|---|---:|---:|---:|---:|");
    println!(
        "| leakhound rows (before compaction; all of the previous version) | {:.2} | | | |",
        rows_bytes as f64 / n_all as f64
    );
    let shape_line = |per: &dyn Fn(Shape) -> Option<f64>| {
        shapes()
            .iter()
            .map(|(sh, _)| per(*sh).map_or("-".to_string(), |b| format!("{b:.2}")))
            .collect::<Vec<_>>()
            .join(" | ")
    };
    let chunk_per = |sh: Shape| {
        let (b, n) = series
            .iter()
            .zip(&by_series)
            .filter(|(s, _)| s.shape == sh)
            .fold((0.0, 0.0), |(b, n), (s, bytes)| {
                (b + *bytes as f64, n + s.t.len() as f64)
            });
        Some(b / n)
    };
    println!(
        "| leakhound chunks (file after compaction; shapes: their chunks) | {:.2} | {} |",
        chunked_bytes as f64 / n_all as f64,
        shape_line(&chunk_per)
    );
    let gz_per = |sh: Shape| {
        let of: Vec<&BenchSeries> = series.iter().filter(|s| s.shape == sh).collect();
        let (b, n) = gzip_csv(&of);
        Some(b as f64 / n as f64)
    };
    let all_refs: Vec<&BenchSeries> = series.iter().collect();
    let (gz_all, _) = gzip_csv(&all_refs);
    println!(
        "| gzip'd CSV (leakhound's export format: ms times, a column per series) | {:.2} | {} |",
        gz_all as f64 / n_all as f64,
        shape_line(&gz_per)
    );
    let vm_dir = tmp.join("vm");
    if let Some(all) = victoria_metrics(&all_refs, &vm_dir.join("all")) {
        let vm_per = |sh: Shape| {
            let of: Vec<&BenchSeries> = series.iter().filter(|s| s.shape == sh).collect();
            let n: usize = of.iter().map(|s| s.t.len()).sum();
            victoria_metrics(&of, &vm_dir.join(format!("{sh:?}"))).map(|b| b as f64 / n as f64)
        };
        println!(
            "| VictoriaMetrics (data/ after a forced merge) | {:.2} | {} |",
            all as f64 / n_all as f64,
            shape_line(&vm_per)
        );
    } else {
        println!("| VictoriaMetrics | not installed | | | |");
    }
    println!();
    println!("| speed | samples/s |");
    println!("|---|---:|");
    println!(
        "| write, one transaction per interval of {} samples | {:.0} |",
        series.len(),
        n_all as f64 / write_s
    );
    println!(
        "| compaction ({} blocks) | {:.0} |",
        done.blocks,
        done.compacted as f64 / compact_s
    );
    println!("| read a whole series, rows (before) | {read_rows:.0} |");
    println!("| read a whole series, chunks (after) | {read_chunks:.0} |");
    let _ = std::fs::remove_dir_all(&tmp);
}

fn tempfile_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("leakhound-storage-bench-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}
