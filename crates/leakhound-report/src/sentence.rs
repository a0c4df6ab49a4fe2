//! The verdict as a sentence a tired engineer can act on.

use leakhound_analysis::{Finding, Note, Pattern, Verdict};

use crate::units::{format_amount, format_duration, format_range};

fn rate(v: f64, unit: &str) -> String {
    format!("{}/day", format_amount(v, unit))
}

/// "95% CI", or the level a sequential look decided at ("99.4% CI").
pub fn ci_label(confidence: f64) -> String {
    format!("{} CI", confidence_pct(confidence))
}

/// A confidence level as people write it: "95%", "99.5%".
pub fn confidence_pct(confidence: f64) -> String {
    let pct = confidence * 100.0;
    if (pct - pct.round()).abs() < 0.05 {
        format!("{pct:.0}%")
    } else {
        format!("{pct:.1}%")
    }
}

/// The header of a column of rates with their intervals, at the confidence the findings were
/// judged at (the policy's, the same for all of them).
pub fn rate_column<'a>(mut findings: impl Iterator<Item = &'a Finding>) -> String {
    let confidence = findings
        .next()
        .map_or(leakhound_analysis::DEFAULT_CONFIDENCE, |f| f.confidence);
    format!("rate/day ({})", ci_label(confidence))
}

fn ci(f: &Finding, unit: &str) -> String {
    match f.rate_ci_per_day {
        Some((lo, hi)) => format!(
            "{} {}/day",
            ci_label(f.confidence),
            format_range(lo, hi, unit)
        ),
        None => String::new(),
    }
}

/// What one event of a counter is called: `node.http.client.requests`,
/// `leaky_requests_total` and the query `http_requests_total{job="api"}` count a "request",
/// `app.jobs` a "job"; a query that is more than a metric's name counts events.
pub fn event_noun(counter: &str) -> String {
    let name = counter.split('{').next().unwrap_or("").trim();
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | ':' | '.'))
    {
        return "event".into();
    }
    let mut base = name;
    for suffix in ["_total", ".total", "_count", ".count", "_seconds", "_bytes"] {
        base = base.strip_suffix(suffix).unwrap_or(base);
    }
    let last = base.rsplit(['_', '.', ':']).next().unwrap_or("");
    let noun = last.strip_suffix('s').unwrap_or(last);
    if noun.is_empty() || noun.chars().all(|c| c.is_ascii_digit()) {
        "event".into()
    } else {
        noun.to_string()
    }
}

/// What the attribution says, as a clause: the counter that tracks the growth, or why none
/// can be named.
pub fn cause_clause(f: &Finding, unit: &str) -> Option<String> {
    let r = f.attribution.as_ref()?;
    let best = r.items.first()?;
    if r.time_explains_better {
        return Some(format!(
            "time explains the growth as well as any counter (best: {}, R² {:.2})",
            best.counter, best.explained
        ));
    }
    let per = event_noun(&best.counter);
    let mut s = format!(
        "growth tracks {} at {}/{} (95% CI {})",
        best.counter,
        format_amount(best.bytes_per_event, unit),
        per,
        format_range(
            best.bytes_per_event_ci95.0,
            best.bytes_per_event_ci95.1,
            unit
        )
    );
    if let Some((a, b)) = r
        .inseparable
        .iter()
        .find(|(a, b)| a == &best.counter || b == &best.counter)
    {
        let other = if a == &best.counter { b } else { a };
        s.push_str(&format!(
            ", in lockstep with {other} (this run cannot tell them apart; an A/B that changes one can)"
        ));
    }
    Some(s)
}

/// One sentence: verdict, rate with interval, pattern, limit or what to do next; and when the
/// floor shifted in its last moments, that the rate was judged before it.
pub fn explain(name: &str, f: &Finding, unit: &str) -> String {
    let mut s = verdict_sentence(name, f, unit);
    if let Some(end) = f.end_shift {
        let size = end.shift.size;
        let what = if size > 0.0 {
            format!("a jump of {}", format_amount(size, unit))
        } else {
            format!("a drop of {}", format_amount(-size, unit))
        };
        s.push_str(&format!(
            " (judged on the floor before {what} in its last {})",
            format_duration(end.before_end.max(1.0))
        ));
    }
    s
}

fn verdict_sentence(name: &str, f: &Finding, unit: &str) -> String {
    let tol = rate(f.tolerance_per_day, unit);
    let Some(r) = f.rate_per_day else {
        let wait = f
            .time_to_verdict_seconds
            .map(|s| format!("; watch at least {} more", format_duration(s)))
            .unwrap_or_default();
        return format!(
            "inconclusive: only {} samples of {name} over {}, too few to estimate a trend{wait}",
            f.samples,
            format_duration(f.span_seconds)
        );
    };
    match f.verdict {
        Verdict::Leak => {
            let what = match f.pattern {
                Pattern::Stepwise => "grows in a staircase of jumps that never come back down",
                Pattern::Restarts => "grows within each process lifetime (restarts hide it)",
                Pattern::LoadProportional => "grows faster at the daily peak (load-proportional)",
                _ => "grows",
            };
            let mut s = format!(
                "leak: {name} floor {what} at {} ({}), above the {tol} tolerance",
                rate(r, unit),
                ci(f, unit)
            );
            if let Some(kind) = f.memory_kind {
                s.push_str(&format!(" ({})", kind.phrase()));
            }
            match (f.time_to_limit_seconds, f.limit) {
                (Some(ttl), Some(limit)) if ttl.is_finite() => s.push_str(&format!(
                    "; at this rate it hits the {} limit in {}",
                    format_amount(limit, unit),
                    format_duration(ttl)
                )),
                _ => {}
            }
            if let Some(cause) = cause_clause(f, unit) {
                s.push_str("; ");
                s.push_str(&cause);
            }
            // On a short soak, what the verdict assumes: no warm-up slower than those the growth
            // has outlasted.
            if let Some(w) = f
                .warmup_ruled_out_seconds
                .filter(|_| f.span_seconds < 2.0 * 86400.0)
            {
                s.push_str(&format!(
                    ", unless a warm-up that takes longer than {} to level off is still running",
                    format_duration(w)
                ));
            }
            s
        }
        Verdict::NoLeak => {
            let shape = match f.pattern {
                Pattern::Warmup => "warm-up that levelled off; ",
                Pattern::Step => "one step up, then flat; ",
                Pattern::Ratchet => "a few jumps at peaks (allocator high-water mark), then flat; ",
                Pattern::Seasonal => "a daily cycle without growth; ",
                _ => "",
            };
            format!(
                "no leak: {shape}{name} floor changes {} ({}), within the {tol} tolerance",
                rate(r, unit),
                ci(f, unit)
            )
        }
        Verdict::Inconclusive => {
            let wait = f
                .time_to_verdict_seconds
                .map(|s| format!("; watch about {} more to decide", format_duration(s)))
                .unwrap_or_default();
            // Why not yet, when the reason is not just noise: the part of a daily cycle a
            // short window shows, a warm-up still running, growth that stopped.
            let why = if f.notes.contains(&Note::DailyCycleNotResolved) {
                format!(
                    ", which in {} a daily load cycle could produce (the interval allows for one; --load constant if the load was steady)",
                    format_duration(f.span_seconds)
                )
            } else if f.notes.contains(&Note::WarmupNotRuledOut) {
                ", which may be a warm-up that has not levelled off yet".to_string()
            } else if f.notes.contains(&Note::StepNotRuledOut) {
                ", which may be one lasting step up rather than a ramp".to_string()
            } else if f.notes.contains(&Note::GrowthStopped) {
                ", but it has not grown lately".to_string()
            } else if f.notes.contains(&Note::ChanceAmongMany) {
                ", clear alone but not among the many sites judged together, where one rise this clear is chance".to_string()
            } else {
                format!(", not yet distinguishable from the {tol} tolerance")
            };
            format!(
                "inconclusive: {name} floor changes {} ({}){why}{wait}",
                rate(r, unit),
                ci(f, unit)
            )
        }
    }
}

/// The A/B comparison as a sentence in hyperfine's style: "B leaks 2.04 ± 0.11 times faster
/// than A (95% CI 1.85 to 2.25); B − A = 8.10 MiB/day (95% CI ...)".
pub fn compare_sentence(
    a: &str,
    b: &str,
    ratio: Option<&leakhound_analysis::RateRatio>,
    fa: &Finding,
    fb: &Finding,
    unit: &str,
) -> String {
    let rate = |f: &Finding| {
        f.rate_per_day
            .map(|r| format!("{}/day", format_amount(r, unit)))
            .unwrap_or_else(|| "no rate".into())
    };
    let Some(r) = ratio else {
        return format!(
            "{a}: {} ({}); {b}: {} ({}); no ratio, since a rate is not positive",
            fa.verdict.as_str(),
            rate(fa),
            fb.verdict.as_str(),
            rate(fb)
        );
    };
    ratio_sentence(a, b, r, unit)
}

/// The ratio of `b`'s rate to `a`'s in hyperfine's style, the faster one first, with the
/// difference: "B leaks 2.04 ± 0.11 times faster than A (95% CI 1.85 to 2.25); B − A = ...".
pub fn ratio_sentence(a: &str, b: &str, r: &leakhound_analysis::RateRatio, unit: &str) -> String {
    let (fast, slow, x, se, lo, hi) = if r.ratio >= 1.0 {
        (b, a, r.ratio, r.se, r.ci95.0, r.ci95.1)
    } else {
        // Invert so the sentence always says "faster": 1/r, se/r², interval flipped.
        (
            a,
            b,
            1.0 / r.ratio,
            r.se / (r.ratio * r.ratio),
            1.0 / r.ci95.1,
            1.0 / r.ci95.0,
        )
    };
    format!(
        "{fast} leaks {x:.2} ± {se:.2} times faster than {slow} (95% CI {lo:.2} to {hi:.2}); {b} − {a} = {}/day (95% CI {}/day)",
        format_amount(r.difference, unit),
        format_range(r.difference_ci95.0, r.difference_ci95.1, unit)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use leakhound_analysis::{analyze, Config};

    #[test]
    fn leak_sentence_has_rate_interval_and_limit() {
        let t: Vec<f64> = (0..2880).map(|i| i as f64 * 60.0).collect();
        let y: Vec<f64> = t
            .iter()
            .map(|t| 250e6 + 8e6 * t / 86400.0 + (t % 600.0) * 5e3)
            .collect();
        let mut cfg = Config::with_tolerance(2e6);
        cfg.limit = Some(2.0 * 1073741824.0);
        let f = analyze(&t, &y, &cfg).unwrap();
        let s = explain("rss", &f, "bytes");
        assert!(s.starts_with("leak: rss floor grows at 7."), "{s}");
        assert!(s.contains("95% CI"), "{s}");
        assert!(s.contains("hits the 2.00 GiB limit in"), "{s}");
    }

    #[test]
    fn events_are_named_by_their_counter() {
        assert_eq!(event_noun("node.http.client.requests"), "request");
        assert_eq!(event_noun("leaky_requests_total"), "request");
        assert_eq!(event_noun("app.jobs"), "job");
        assert_eq!(event_noun("replay.requests"), "request");
    }

    #[test]
    fn too_few_samples_say_so() {
        let f = analyze(
            &[0.0, 1.0, 2.0],
            &[1.0, 2.0, 3.0],
            &Config::with_tolerance(1.0),
        )
        .unwrap();
        let s = explain("rss", &f, "bytes");
        assert!(s.starts_with("inconclusive: only 3 samples"), "{s}");
    }
}
