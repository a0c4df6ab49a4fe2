//! The workload `leakhound demo` soaks and the tests drive, served by the binary as
//! `leakhound workload MODE ...`: it uses memory in known ways, so leakhound is measured on
//! real processes with a known truth. The application owns it (`leakhound_app::workload`).
//!
//! A library without dependencies rather than a program of its own: the `leakhound` binary
//! runs it before parsing its own options, so a fresh machine needs no second binary, and
//! `tree` starts its children as that same executable ([`run`]'s `exe` and `exe_args`).
//!
//! Modes:
//! - `alloc MIB [--step-ms MS] [--hold SECS]`: allocate and touch MIB MiB, 1 MiB per step,
//!   then hold it.
//! - `tree CHILDREN MIB [--hold SECS] [--child-hold SECS]`: start CHILDREN copies of
//!   `alloc MIB`; children may exit before the parent (`--child-hold`).
//! - `service [--leak BYTES] [--rate PER_S | --rate-env VAR] [--period SECS] [--garbage MIB]
//!   [--for SECS]`: simulated requests at a rate that swings ±80% around PER_S over PERIOD;
//!   each request keeps BYTES forever (the leak) and makes short-lived garbage that is freed in
//!   bursts (a sawtooth of about MIB, in chunks of `--garbage-chunk` bytes). Prints the
//!   cumulative request count to stdout once a second; with `--metrics-port PORT` also serves
//!   it as `leaky_requests_total` at http://127.0.0.1:PORT/metrics, the way a service exposes
//!   its counters to Prometheus.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::sleep;
use std::time::{Duration, Instant};

/// Runs the mode named by `args[0]` (see the crate docs). `exe` and `exe_args` are how to start
/// this same workload again (for `tree`'s children).
pub fn run(args: &[String], exe: &std::path::Path, exe_args: &[&str]) -> Result<(), String> {
    match args.first().map(String::as_str) {
        Some("alloc") => alloc(&args[1..]),
        Some("tree") => tree(&args[1..], exe, exe_args),
        Some("service") => service(&args[1..]),
        _ => Err(
            "usage: leakhound workload alloc MIB | tree CHILDREN MIB | service [options]"
                .to_string(),
        ),
    }
}

/// Value of `--name VALUE` in `args`, parsed, or `default`.
fn opt<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> Result<T, String> {
    match args.iter().position(|a| a == name) {
        None => Ok(default),
        Some(i) => args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("{name} needs a number")),
    }
}

fn positional<T: std::str::FromStr>(args: &[String], i: usize, what: &str) -> Result<T, String> {
    args.get(i)
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("expected {what} as argument {}", i + 1))
}

/// A block of memory with every page written, so it counts in RSS.
fn touched(bytes: usize, fill: u8) -> Vec<u8> {
    vec![fill; bytes]
}

fn alloc(args: &[String]) -> Result<(), String> {
    let mib: usize = positional(args, 0, "MIB")?;
    let step_ms: u64 = opt(args, "--step-ms", 0)?;
    let hold: f64 = opt(args, "--hold", 3600.0)?;
    let mut kept = Vec::with_capacity(mib);
    for _ in 0..mib {
        kept.push(touched(1 << 20, 7));
        if step_ms > 0 {
            sleep(Duration::from_millis(step_ms));
        }
    }
    println!("allocated {mib} MiB");
    sleep(Duration::from_secs_f64(hold));
    std::hint::black_box(&kept);
    Ok(())
}

fn tree(args: &[String], exe: &std::path::Path, exe_args: &[&str]) -> Result<(), String> {
    let children: usize = positional(args, 0, "CHILDREN")?;
    let mib: usize = positional(args, 1, "MIB")?;
    let hold: f64 = opt(args, "--hold", 3600.0)?;
    let child_hold: f64 = opt(args, "--child-hold", hold)?;
    let mut started: Vec<Child> = Vec::new();
    for _ in 0..children {
        let child = Command::new(exe)
            .args(exe_args)
            .args(["alloc", &mib.to_string(), "--hold", &child_hold.to_string()])
            .spawn()
            .map_err(|e| format!("cannot start child: {e}"))?;
        started.push(child);
    }
    let deadline = Instant::now() + Duration::from_secs_f64(hold);
    while Instant::now() < deadline {
        // Reap children that finished so they do not linger as zombies.
        started.retain_mut(|c| !matches!(c.try_wait(), Ok(Some(_))));
        sleep(Duration::from_millis(50));
    }
    for mut c in started {
        let _ = c.kill();
        let _ = c.wait();
    }
    Ok(())
}

fn service(args: &[String]) -> Result<(), String> {
    let leak: usize = opt(args, "--leak", 4096)?;
    let mut rate: f64 = opt(args, "--rate", 200.0)?;
    // `--rate-env NAME`: the rate comes from the environment, so variants of one command line
    // (`leakhound ab --a NAME=100 --b NAME=200`) differ in load.
    if let Some(i) = args.iter().position(|a| a == "--rate-env") {
        let name = args.get(i + 1).ok_or("--rate-env needs a variable name")?;
        rate = std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("--rate-env: ${name} is not set to a number"))?;
    }
    let period: f64 = opt(args, "--period", 20.0)?;
    let garbage_mib: f64 = opt(args, "--garbage", 8.0)?;
    let chunk: usize = opt(args, "--garbage-chunk", 16 * 1024)?;
    let for_secs: f64 = opt(args, "--for", 3600.0)?;
    let garbage_limit = (garbage_mib * 1048576.0) as usize;
    let served = Arc::new(AtomicU64::new(0));
    let metrics_port: u16 = opt(args, "--metrics-port", 0)?;
    if metrics_port > 0 {
        serve_metrics(metrics_port, Arc::clone(&served))?;
    }
    let start = Instant::now();
    let mut leaked: Vec<Box<[u8]>> = Vec::new();
    let mut garbage: Vec<Vec<u8>> = Vec::new();
    let mut garbage_bytes = 0usize;
    let mut requests: u64 = 0;
    let mut last_print = 0u64;
    let tick = 0.01;
    let mut owed = 0.0;
    while start.elapsed().as_secs_f64() < for_secs {
        let t = start.elapsed().as_secs_f64();
        let current = rate * (1.0 + 0.8 * (std::f64::consts::TAU * t / period).sin());
        owed += current * tick;
        while owed >= 1.0 {
            owed -= 1.0;
            requests += 1;
            served.store(requests, Ordering::Relaxed);
            if leak > 0 {
                leaked.push(vec![(requests % 251) as u8 | 1; leak].into_boxed_slice());
            }
            let g = touched(chunk, 3);
            garbage_bytes += g.len();
            garbage.push(g);
            if garbage_bytes >= garbage_limit {
                // The "GC": everything short-lived goes at once, so RSS saws up and down.
                garbage.clear();
                garbage.shrink_to_fit();
                garbage_bytes = 0;
            }
        }
        let secs = t as u64;
        if secs > last_print {
            last_print = secs;
            println!("requests {requests}");
        }
        sleep(Duration::from_secs_f64(tick));
    }
    std::hint::black_box(&leaked);
    println!("requests {requests}");
    Ok(())
}

/// Serves the request count in the Prometheus text format on 127.0.0.1:`port`, one short
/// answer per connection, on a thread of its own.
fn serve_metrics(port: u16, served: Arc<AtomicU64>) -> Result<(), String> {
    let listener = TcpListener::bind(("127.0.0.1", port))
        .map_err(|e| format!("--metrics-port {port}: {e}"))?;
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let mut buf = [0u8; 1024];
            let _ = conn.read(&mut buf);
            let body = format!(
                "# HELP leaky_requests_total Requests handled.\n# TYPE leaky_requests_total counter\nleaky_requests_total {}\n",
                served.load(Ordering::Relaxed)
            );
            let _ = write!(
                conn,
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    Ok(())
}
