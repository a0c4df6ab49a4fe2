//! Scores leakhound and the usual methods on the labelled corpus, side by side.
//!
//! `cargo run --release -p leakhound-bench --bin scorer [-- --cases 900 --extra 60 --seed 1]`

use leakhound_analysis::{Counter, Verdict};
use leakhound_bench::arg;
use leakhound_bench::corpus::{corpus, Shape};
use leakhound_bench::families::{self, Case, Family};
use leakhound_bench::score::{by_family, metrics, run, Method, Scored};
use rayon::prelude::*;

fn pct(v: f64) -> String {
    if v.is_nan() {
        "-".into()
    } else {
        format!("{:.1}%", v * 100.0)
    }
}

fn row(name: &str, x: &leakhound_bench::score::Metrics) {
    println!(
        "| {} | {} | {} | {} | {} | {} | {} |",
        name,
        pct(x.false_alarm),
        pct(x.recall),
        pct(x.false_all_clear),
        pct(x.clear_long),
        pct(x.median_rate_error),
        x.coverage.map(pct).unwrap_or_else(|| "n/a".into())
    );
}

fn main() {
    let n = arg("--cases", 900) as usize;
    let seed = arg("--seed", 1);
    let extra = arg("--extra", 60) as usize;
    let tol = 2.0 * 1048576.0;
    let started = std::time::Instant::now();
    let specs = corpus(seed, n);
    let mut all: Vec<Case> = specs.into_iter().map(|s| Case::classic(s, tol)).collect();
    // Production windows come in twins; four times as many, since they are judged at many
    // lengths and hours.
    for f in Family::NEW {
        let k = if f == Family::ProductionWindow {
            4 * extra
        } else {
            extra
        };
        let first = all.len();
        all.extend(families::cases(f, seed, k, first, tol));
    }
    if let Some(id) = std::env::args()
        .position(|a| a == "--dump")
        .and_then(|i| std::env::args().nth(i + 1))
    {
        // Write one case as contract CSV for `leakhound analyze`.
        let case = &all[id.parse::<usize>().expect("--dump takes a case number")];
        let s = case.generate();
        let mut out = String::from("timestamp,rss");
        for (name, _) in &s.counters {
            out.push(',');
            out.push_str(name);
        }
        out.push('\n');
        for i in 0..s.t.len() {
            out.push_str(&format!("{},{}", s.t[i], s.y[i]));
            for (_, v) in &s.counters {
                out.push_str(&format!(",{}", v[i]));
            }
            out.push('\n');
        }
        let path = format!("/tmp/case-{id}.csv");
        std::fs::write(&path, out).expect("write case");
        println!(
            "{case:?}\nwrote {path} (judge it with --load {})",
            case.load.as_str()
        );
        return;
    }
    let scored: Vec<Scored> = all
        .into_par_iter()
        .map(|case| {
            let s = case.generate();
            let counters: Vec<Counter> = s
                .counters
                .iter()
                .map(|(name, v)| Counter { name, t: &s.t, v })
                .collect();
            let outcomes = Method::ALL
                .iter()
                .map(|&m| run(m, &s.t, &s.y, tol, case.load, &counters))
                .collect();
            Scored { case, outcomes }
        })
        .collect();
    let classic: Vec<Scored> = scored
        .iter()
        .filter(|s| matches!(s.case.family, Family::Classic(_)))
        .cloned()
        .collect();
    let m0 = metrics(&scored, 0);
    println!(
        "corpus: {} cases (seed {seed}): {n} classic and {} of the new families; tolerance 2 MiB/day; {} bounded ({} spanning >= 3 days), {} leaks ({} clearly detectable); {:.1} s",
        scored.len(),
        scored.len() - n,
        m0.counts.0,
        m0.counts.3,
        m0.counts.2,
        m0.counts.1,
        started.elapsed().as_secs_f64()
    );
    println!("soaks are judged as `run` judges them (--load constant), production data with --load auto and the request counter where the case has one\n");
    println!(
        "| method | false alarms | recall (clear leaks) | false all-clear | clear rate (long bounded) | median rate error | 95% CI coverage |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (i, m) in Method::ALL.iter().enumerate() {
        row(m.name(), &metrics(&scored, i));
    }
    row("leakhound, classic corpus only", &metrics(&classic, 0));
    println!("\ntargets: false alarms <= 2%, recall >= 95%, false all-clear <= 1%, coverage 90-98%, median rate error <= 10%");
    println!("\nleakhound by family (leaking cases: leak / no_leak / inconclusive; bounded cases: leak / no_leak / inconclusive):");
    for shape in Shape::ALL {
        family_line(&scored, Family::Classic(shape));
    }
    for f in Family::NEW {
        family_line(&scored, f);
    }
    if std::env::args().any(|a| a == "--list-errors") {
        println!("\nleakhound mistakes:");
        for s in &scored {
            let v = s.outcomes[0].verdict;
            let c = &s.case;
            let missed = c.linear
                && s.outcomes[0]
                    .ci
                    .is_some_and(|(lo, hi)| c.true_rate < lo || c.true_rate > hi);
            let wrong = (c.leak && v == Verdict::NoLeak)
                || (!c.leak && v == Verdict::Leak)
                || (c.detectable && v != Verdict::Leak)
                || missed;
            if wrong {
                println!(
                    "  #{:<4} {:<26} span {:>6.1} h dt {:>3} s base {:>5.0} MB true {:>7.1} MB/d -> {} (rate {:.1} MB/d, ci {:?})",
                    c.id,
                    c.family.name(),
                    c.span / 3600.0,
                    c.dt,
                    c.baseline / 1e6,
                    c.true_rate / 1e6,
                    v.as_str(),
                    s.outcomes[0].rate.unwrap_or(f64::NAN) / 1e6,
                    s.outcomes[0].ci.map(|(a, b)| ((a / 1e5).round() / 10.0, (b / 1e5).round() / 10.0))
                );
            }
        }
    }
}

fn family_line(scored: &[Scored], f: Family) {
    let (l, b) = by_family(scored, f);
    let fmt = |c: [usize; 3]| {
        if c.iter().sum::<usize>() == 0 {
            "-".to_string()
        } else {
            format!("{:>4} / {:>4} / {:>4}", c[0], c[1], c[2])
        }
    };
    let bounded = b.iter().sum::<usize>();
    let leaking = l.iter().sum::<usize>();
    println!(
        "  {:<28} leaking {:<18} bounded {:<18} false alarms {}, false all-clear {}",
        f.name(),
        fmt(l),
        fmt(b),
        if bounded > 0 {
            pct(b[0] as f64 / bounded as f64)
        } else {
            "-".into()
        },
        if leaking > 0 {
            pct(l[1] as f64 / leaking as f64)
        } else {
            "-".into()
        },
    );
}
