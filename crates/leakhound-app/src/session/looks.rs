//! Sequential looks during a session: the verdict on the primary series at the confidence the
//! look's share of the error budget allows, the A/B comparison for `ab`, and the verdicts
//! `watch --listen` exports.

use leakhound_analysis::Verdict;
use leakhound_net::metrics::VerdictMetrics;

use super::{Observer, SessionOptions, Until};
use crate::compare::compare_variants;
use crate::input::{self, Input};
use crate::judge::{judge, judge_sites};
use crate::sampling::series::PRIMARY;
use crate::sampling::sites::SITE_BYTES;
use crate::sampling::Sampler;

/// Most samples per series a look reads. Looking at the whole run grew leakhound's own RSS in
/// a staircase, one step per look (bench/self_watch.sh: 8.1 -> 9.2 MiB in 21 minutes); beyond
/// this many samples a look reads the lowest value per span (about 5.5 hours at 1 s). The
/// verdict at the end reads everything.
const LOOK_POINTS: usize = 20_000;

/// Puts the verdict on each target's primary series into the `/metrics` text.
fn export_verdicts(sampler: &mut Sampler, input: &Input, opts: &SessionOptions) {
    let present: Vec<String> = PRIMARY
        .iter()
        .filter(|n| input.series.iter().any(|s| s.name == **n))
        .map(|n| n.to_string())
        .collect();
    if present.is_empty() {
        return;
    }
    let Ok(results) = judge(input, &present, &opts.looks) else {
        return;
    };
    let first_label = sampler
        .targets()
        .first()
        .map(|t| t.label().to_string())
        .unwrap_or_default();
    let verdicts = results
        .into_iter()
        .map(|a| VerdictMetrics {
            target: a
                .series
                .labels
                .get("target")
                .cloned()
                .unwrap_or_else(|| first_label.clone()),
            series: a.series.name,
            verdict: a.finding.verdict.as_str(),
            rate_per_day: a.finding.rate_per_day,
            rate_ci_per_day: a.finding.rate_ci_per_day,
            time_to_limit_seconds: a.finding.time_to_limit_seconds,
        })
        .collect();
    sampler.export_verdicts(verdicts);
}

/// `--retainers` at a look: the first heap snapshot once an allocation site leaks, the
/// second at the next look (the last one is taken when the session ends).
pub(super) fn retainers(sampler: &mut Sampler, opts: &SessionOptions) -> anyhow::Result<()> {
    let asked = match sampler.retainers_mut() {
        Some(r) => r.asked(),
        None => return Ok(()),
    };
    if asked >= 2 {
        return Ok(());
    }
    if asked == 0 {
        let mut names: Vec<&str> = PRIMARY.to_vec();
        names.push(SITE_BYTES);
        let input = input::from_run_bounded(sampler.store(), sampler.run(), &names, LOOK_POINTS)?;
        let primary: Vec<String> = PRIMARY
            .iter()
            .find(|n| input.series.iter().any(|s| s.name == **n))
            .map(|n| vec![n.to_string()])
            .unwrap_or_default();
        let Ok(judged) = judge(&input, &primary, &opts.looks) else {
            return Ok(());
        };
        let sites = judge_sites(&input, &opts.looks, &judged);
        let Some(leaking) = sites
            .functions
            .iter()
            .find(|f| f.finding.verdict == Verdict::Leak)
        else {
            return Ok(());
        };
        eprintln!(
            "leakhound: --retainers: {} leaks; taking heap snapshots to see what holds it",
            leaking.function
        );
    }
    if let Some(r) = sampler.retainers_mut() {
        r.snapshot();
    }
    Ok(())
}

/// One sequential look: judges the primary series stored so far at confidence `conf`. Returns
/// the verdict when the session stops on one and it is conclusive.
pub(super) fn look(
    sampler: &mut Sampler,
    conf: f64,
    opts: &SessionOptions,
    observer: &mut dyn Observer,
) -> anyhow::Result<Option<Verdict>> {
    let input = input::from_run_bounded(sampler.store(), sampler.run(), &PRIMARY, LOOK_POINTS)?;
    if sampler.exporting() {
        export_verdicts(sampler, &input, opts);
    }
    let policy = opts.looks.at_confidence(conf);
    if opts.until == Until::AbConclusive {
        return Ok(compare_variants(&input, "rss", &policy)
            .ok()
            .filter(|c| c.conclusive())
            .map(|c| c.b.judged.finding.verdict));
    }
    let primary = PRIMARY
        .iter()
        .find(|n| input.series.iter().any(|s| s.name == **n));
    let names: Vec<String> = primary.iter().map(|n| n.to_string()).collect();
    let Ok(results) = judge(&input, &names, &policy) else {
        return Ok(None);
    };
    let Some(first) = results.first() else {
        return Ok(None);
    };
    observer.looked(first);
    let v = first.finding.verdict;
    if opts.until != Until::Verdict || v == Verdict::Inconclusive {
        return Ok(None);
    }
    let s = &first.series;
    let cfg = opts.looks.config(&s.v, s.is_bytes(), None, &[]);
    Ok(
        leakhound_analysis::sequential::stops(&s.t, &s.v, &cfg, &first.finding, opts.min_soak)
            .then_some(v),
    )
}
