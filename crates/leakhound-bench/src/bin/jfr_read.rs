//! What reading a flight recording dump costs leakhound: `cargo run --release -p
//! leakhound-bench --bin jfr_read -- FILE.jfr [TIMES]` reads the dump TIMES times (10) with
//! `leakhound_probe::jfr::read_dump` and prints the mean time per read, the samples and heap
//! summaries found and the file's size. `bench/jfr_overhead.sh` compares it with `jfr print
//! --json` on the same file.

use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: jfr_read FILE.jfr [TIMES]");
        std::process::exit(2);
    };
    let times: u32 = args
        .next()
        .and_then(|t| t.parse().ok())
        .unwrap_or(10)
        .max(1);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| {
        eprintln!("{path}: {e}");
        std::process::exit(2);
    });
    let start = Instant::now();
    let mut found = (0, 0);
    for _ in 0..times {
        match leakhound_probe::jfr::read_dump(&bytes) {
            Ok(d) => found = (d.samples.len(), d.heap.len()),
            Err(e) => {
                eprintln!("{path}: {e}");
                std::process::exit(1);
            }
        }
    }
    let per = start.elapsed().as_secs_f64() / f64::from(times);
    println!(
        "leakhound read_dump: {:.1} ms per read of {:.0} KiB ({} old-object samples, {} heap summaries)",
        per * 1e3,
        bytes.len() as f64 / 1024.0,
        found.0,
        found.1
    );
}
