//! Scores leakhound and the usual methods on the labelled corpus, side by side.
//!
//! `cargo run --release -p leakhound-bench --bin scorer [-- --cases 900 --seed 1]`

use leakhound_analysis::Verdict;
use leakhound_bench::arg;
use leakhound_bench::corpus::{corpus, Shape};
use leakhound_bench::score::{metrics, run, Method, Scored};
use rayon::prelude::*;

fn pct(v: f64) -> String {
    if v.is_nan() {
        "-".into()
    } else {
        format!("{:.1}%", v * 100.0)
    }
}

fn main() {
    let n = arg("--cases", 900) as usize;
    let seed = arg("--seed", 1);
    let tol = 2.0 * 1048576.0;
    let started = std::time::Instant::now();
    let specs = corpus(seed, n);
    if let Some(id) = std::env::args()
        .position(|a| a == "--dump")
        .and_then(|i| std::env::args().nth(i + 1))
    {
        // Write one case as contract CSV for `leakhound analyze`.
        let spec = &specs[id.parse::<usize>().expect("--dump takes a case number")];
        let (t, y) = spec.generate();
        let mut out = String::from("timestamp,rss\n");
        for (a, b) in t.iter().zip(&y) {
            out.push_str(&format!("{a},{b}\n"));
        }
        let path = format!("/tmp/case-{id}.csv");
        std::fs::write(&path, out).expect("write case");
        println!("{spec:?}\nwrote {path}");
        return;
    }
    let scored: Vec<Scored> = specs
        .into_par_iter()
        .map(|spec| {
            let (t, y) = spec.generate();
            let outcomes = Method::ALL.iter().map(|&m| run(m, &t, &y, tol)).collect();
            Scored {
                detectable: spec.clearly_detectable(tol),
                spec,
                outcomes,
            }
        })
        .collect();
    let m0 = metrics(&scored, 0);
    println!(
        "corpus: {n} cases (seed {seed}), tolerance 2 MiB/day; {} bounded ({} spanning >= 3 days), {} leaks ({} clearly detectable); {:.1} s",
        m0.counts.0,
        m0.counts.3,
        m0.counts.2,
        m0.counts.1,
        started.elapsed().as_secs_f64()
    );
    println!();
    println!(
        "| method | false alarms | recall (clear leaks) | false all-clear | clear rate (long bounded) | median rate error | 95% CI coverage |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (i, m) in Method::ALL.iter().enumerate() {
        let x = metrics(&scored, i);
        println!(
            "| {} | {} | {} | {} | {} | {} | {} |",
            m.name(),
            pct(x.false_alarm),
            pct(x.recall),
            pct(x.false_all_clear),
            pct(x.clear_long),
            pct(x.median_rate_error),
            x.coverage.map(pct).unwrap_or_else(|| "n/a".into())
        );
    }
    println!("\ntargets: false alarms <= 2%, recall >= 95%, false all-clear <= 1%, coverage 90-98%, median rate error <= 10%");
    println!("\nleakhound by true shape (leak / no_leak / inconclusive):");
    for shape in Shape::ALL {
        let cases: Vec<&Scored> = scored.iter().filter(|s| s.spec.shape == shape).collect();
        let count = |v: Verdict| cases.iter().filter(|s| s.outcomes[0].verdict == v).count();
        println!(
            "  {:<18} {:>4} / {:>4} / {:>4}",
            shape.name(),
            count(Verdict::Leak),
            count(Verdict::NoLeak),
            count(Verdict::Inconclusive)
        );
    }
    if std::env::args().any(|a| a == "--list-errors") {
        println!("\nleakhound mistakes:");
        for s in &scored {
            let v = s.outcomes[0].verdict;
            let linear = matches!(
                s.spec.shape,
                Shape::Steady | Shape::LoadProportional | Shape::Flat | Shape::Seasonal
            );
            let missed = linear
                && s.outcomes[0]
                    .ci
                    .is_some_and(|(lo, hi)| s.spec.true_rate() < lo || s.spec.true_rate() > hi);
            let wrong = (s.spec.shape.is_leak() && v == Verdict::NoLeak)
                || (!s.spec.shape.is_leak() && v == Verdict::Leak)
                || (s.detectable && v != Verdict::Leak)
                || missed;
            if wrong {
                println!(
                    "  #{:<4} {:<18} span {:>6.1} h dt {:>3} s base {:>5.0} MB rate {:>7.1} MB/d cyc {:>4.1}% wand {:>4.2}% tau {:>5.0}s gc {:>4.1}%/{:>4.0}s -> {} (rate {:.1} MB/d, ci {:?})",
                    s.spec.id,
                    s.spec.shape.name(),
                    s.spec.span / 3600.0,
                    s.spec.dt,
                    s.spec.baseline / 1e6,
                    s.spec.rate / 1e6,
                    s.spec.cycle / s.spec.baseline * 100.0,
                    s.spec.wander.0 / s.spec.baseline * 100.0,
                    s.spec.wander.1,
                    s.spec.gc.0 / s.spec.baseline * 100.0,
                    s.spec.gc.1,
                    v.as_str(),
                    s.outcomes[0].rate.unwrap_or(f64::NAN) / 1e6,
                    s.outcomes[0].ci.map(|(a, b)| ((a / 1e5).round() / 10.0, (b / 1e5).round() / 10.0))
                );
            }
        }
    }
}
