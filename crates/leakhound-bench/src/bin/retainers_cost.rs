//! What `--retainers` costs on a large heap: a Node.js process with HEAP_MB of live JS objects
//! (bench/retainers-heap.js) is attached over its inspector as `watch --retainers` does, three
//! heap snapshots are taken 5 s apart and compared. For each snapshot: how long V8 took to
//! write it, the longest stall the program itself saw meanwhile (its 5 ms timer's lateness),
//! how much its peak RSS rose above its RSS before (what V8 needed for the snapshot), and the
//! file's size; then the comparison's time and leakhound's own peak RSS while comparing.
//!
//! `cargo run --release -p leakhound-bench --bin retainers_cost -- [HEAP_MB] [KEEP_DIR]`
//! (KEEP_DIR keeps the snapshots, e.g. for `memlab find-leaks` on the same files).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use leakhound_app::inspect::conn::Conn;
use leakhound_app::inspect::snapshots::Snapshots;

fn status_kib(pid: &str, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0.0)
}

fn mib(kib: f64) -> String {
    format!("{:.0} MiB", kib / 1024.0)
}

/// Resets the peak RSS (VmHWM) of `pid` to its current RSS.
fn reset_peak(pid: &str) {
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let heap_mb: u64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(600);
    let keep = args.get(1).map(PathBuf::from);
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../bench/retainers-heap.js");
    let mut child = Command::new("node")
        .args(["--max-old-space-size=8192", "--inspect-port=0"])
        .arg(&script)
        .env("HEAP_MB", heap_mb.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .expect("node runs");
    let pid = child.id();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = lines.next().unwrap().unwrap();
    println!("target: pid {pid}, {ready}");
    let stalls: Arc<Mutex<Vec<(Instant, f64)>>> = Arc::default();
    let s = Arc::clone(&stalls);
    std::thread::spawn(move || {
        for l in lines.map_while(Result::ok) {
            if let Some(v) = l.strip_prefix("stall_ms ").and_then(|v| v.parse().ok()) {
                s.lock().unwrap().push((Instant::now(), v));
            }
        }
    });
    std::thread::sleep(Duration::from_secs(3));
    let mut conn = Conn::attach(pid as i32, None).expect("attach");
    let dir = keep.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("retainers-cost-{}", std::process::id()))
    });
    let mut snaps = Snapshots::new(dir, keep.is_some());
    let p = pid.to_string();
    println!(
        "{:>8} {:>10} {:>16} {:>22} {:>12}",
        "snapshot", "took", "longest stall", "target peak RSS rise", "file"
    );
    for k in 1..=3 {
        std::thread::sleep(Duration::from_secs(5));
        let rss0 = status_kib(&p, "VmRSS:");
        reset_peak(&p);
        let t0 = Instant::now();
        snaps.take(&mut conn).expect("snapshot");
        let took = t0.elapsed();
        let peak = status_kib(&p, "VmHWM:");
        // The stall is printed within 250 ms of the program running again.
        std::thread::sleep(Duration::from_millis(600));
        let worst = stalls
            .lock()
            .unwrap()
            .iter()
            .filter(|(t, _)| *t >= t0)
            .map(|(_, v)| *v)
            .fold(0.0, f64::max);
        let dir = keep.clone().unwrap_or_else(std::env::temp_dir);
        let size = std::fs::read_dir(&dir)
            .ok()
            .and_then(|d| {
                d.filter_map(Result::ok).find(|e| {
                    e.file_name().to_string_lossy() == format!("pid{pid}-{k}.heapsnapshot")
                })
            })
            .and_then(|e| e.metadata().ok())
            .map_or(String::from("-"), |m| {
                format!("{:.0} MiB", m.len() as f64 / 1048576.0)
            });
        println!(
            "{k:>8} {:>9.1}s {:>13.0} ms {:>22} {:>12}",
            took.as_secs_f64(),
            worst,
            mib(peak - rss0),
            size
        );
    }
    reset_peak("self");
    let before = status_kib("self", "VmRSS:");
    let t0 = Instant::now();
    let holders = snaps.compare().expect("compare");
    println!(
        "comparison: {:.1} s, leakhound's peak RSS {} (from {})",
        t0.elapsed().as_secs_f64(),
        mib(status_kib("self", "VmHWM:")),
        mib(before)
    );
    for h in holders.iter().take(3) {
        println!(
            "  {:.1} MiB in {} objects: {}",
            h.bytes / 1048576.0,
            h.objects,
            h.path.join(" <- ")
        );
    }
    conn.leave();
    let _ = child.kill();
    let _ = child.wait();
}
