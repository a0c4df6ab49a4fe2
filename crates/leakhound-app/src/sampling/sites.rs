//! Allocation sites into a run: each sites report (from the Node agent's heap profiler, and
//! whatever other profiler a source reads) becomes, per stack, the series `site.bytes` and
//! `site.objects` labelled with the stack's hash, plus the remainder under `site="other"`,
//! and the stack's frames are named once in the run's site table. Reports of several
//! processes of one target (workers of a cluster) are summed per stack.
//!
//! Bound: at most [`MAX_SITE_SERIES`] site series per run; a stack that would need more is
//! counted into the remainder, so the total stays whole and only the naming is lost.

use std::collections::{BTreeMap, HashSet};

use leakhound_probe::sites::SitesReport;
use leakhound_store::{site_hash, SeriesKind};

use super::catalog::SeriesSpec;
use super::source::Readings;
use crate::kinds::Unit;

/// Most site series (bytes and objects) one run takes.
pub const MAX_SITE_SERIES: usize = 4000;

/// Name of the series of a site's live bytes.
pub const SITE_BYTES: &str = "site.bytes";
/// Name of the series of a site's live objects.
pub const SITE_OBJECTS: &str = "site.objects";
/// The label that holds a site's hash.
pub const SITE_LABEL: &str = "site";
/// The hash of the remainder.
pub const OTHER: &str = leakhound_analysis::sites::OTHER;

/// Remembers which stacks a run has named, and when sites were last recorded.
#[derive(Debug, Default)]
pub struct SiteNames {
    named: HashSet<String>,
    last_t: f64,
}

struct Summed {
    source: String,
    frames: Vec<String>,
    bytes: f64,
    objects: f64,
}

/// Records `reports` (of the processes of one target, labelled `labels`). Profilers report
/// densely at first, possibly several times an interval: the reports of a single process and
/// source are recorded at their own times, so a short soak gets every profile. Reports of
/// several processes or sources are summed per stack, the latest of each, at this interval.
pub fn record_sites(
    reports: &[SitesReport],
    labels: &BTreeMap<String, String>,
    names: &mut SiteNames,
    out: &mut Readings<'_>,
) {
    if reports.is_empty() {
        return;
    }
    let now = out.now();
    let first = (reports[0].pid, &reports[0].source);
    if reports.len() > 1 && reports.iter().all(|r| (r.pid, &r.source) == first) {
        let mut ordered: Vec<&SitesReport> = reports.iter().collect();
        ordered.sort_by(|a, b| a.t.total_cmp(&b.t));
        for r in ordered {
            // Within this interval and after what was recorded before, whatever the clocks.
            let t = r.t.min(now);
            if t > names.last_t {
                record_round(&[r], t, labels, names, out);
            }
        }
        return;
    }
    let mut latest: BTreeMap<(i32, &str), &SitesReport> = BTreeMap::new();
    for r in reports {
        let e = latest.entry((r.pid, r.source.as_str())).or_insert(r);
        if r.t >= e.t {
            *e = r;
        }
    }
    let round: Vec<&SitesReport> = latest.into_values().collect();
    record_round(&round, now, labels, names, out);
}

/// Records one round of reports (at most one per process and source) at `t`, summed per stack.
fn record_round(
    reports: &[&SitesReport],
    t: f64,
    labels: &BTreeMap<String, String>,
    names: &mut SiteNames,
    out: &mut Readings<'_>,
) {
    let mut by_hash: BTreeMap<String, Summed> = BTreeMap::new();
    let (mut other_bytes, mut other_objects) = (0.0, 0.0);
    for r in reports {
        other_bytes += r.other_bytes;
        other_objects += r.other_objects;
        for s in &r.sites {
            let e = by_hash
                .entry(site_hash(&s.frames))
                .or_insert_with(|| Summed {
                    source: r.source.clone(),
                    frames: s.frames.clone(),
                    bytes: 0.0,
                    objects: 0.0,
                });
            e.bytes += s.bytes;
            e.objects += s.objects;
        }
    }
    names.last_t = names.last_t.max(t);
    // The writer stores new series, new names and the interval's samples in one transaction.
    record_summed(by_hash, t, labels, names, out, other_bytes, other_objects);
}

fn record_summed(
    by_hash: BTreeMap<String, Summed>,
    t: f64,
    labels: &BTreeMap<String, String>,
    names: &mut SiteNames,
    out: &mut Readings<'_>,
    mut other_bytes: f64,
    mut other_objects: f64,
) {
    for (hash, s) in by_hash {
        if record_pair(out, t, labels, &hash, s.bytes, s.objects).is_err() {
            other_bytes += s.bytes;
            other_objects += s.objects;
            continue;
        }
        // Named only once it has series: the names kept stay within the series bound.
        if !names.named.contains(&hash) {
            if let Err(why) = out.name_site(&hash, &s.source, &s.frames) {
                out.warn(why);
                continue;
            }
            names.named.insert(hash);
        }
    }
    if record_pair(out, t, labels, OTHER, other_bytes, other_objects).is_err() {
        out.warn(format!(
            "more than {MAX_SITE_SERIES} allocation-site series; the remainder cannot be stored"
        ));
    }
}

/// The two series of one site; `Err` when its bytes cannot be stored (the run holds as many
/// site series as it may), so they count in the remainder. Once its bytes are stored, objects
/// that no longer fit are left out rather than counted twice.
fn record_pair(
    out: &mut Readings<'_>,
    t: f64,
    labels: &BTreeMap<String, String>,
    hash: &str,
    bytes: f64,
    objects: f64,
) -> Result<(), super::source::Full> {
    let mut l = labels.clone();
    l.insert(SITE_LABEL.into(), hash.into());
    let spec = |name, unit| SeriesSpec {
        name,
        labels: &l,
        kind: SeriesKind::Gauge,
        unit,
    };
    out.record_at(&spec(SITE_BYTES, Unit::Bytes), t, bytes)?;
    let _ = out.record_at(&spec(SITE_OBJECTS, Unit::Count), t, objects);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sampling::catalog::{Catalog, Draft};
    use leakhound_probe::sites::SiteSample;

    fn report(pid: i32, source: &str, t: f64, bytes: f64) -> SitesReport {
        SitesReport {
            source: source.into(),
            pid,
            t,
            sampling_bytes: 0.0,
            sites: vec![SiteSample {
                frames: vec!["leak (a.py:3)".into()],
                bytes,
                objects: 1.0,
            }],
            other_bytes: 10.0,
            other_objects: 1.0,
            took_ms: None,
        }
    }

    /// The times and values recorded for the leaking stack's bytes.
    fn recorded(reports: &[SitesReport], now: f64, names: &mut SiteNames) -> Vec<(f64, f64)> {
        let (mut catalog, mut draft, mut warnings) =
            (Catalog::new(100), Draft::default(), Vec::new());
        let mut out = Readings::new(now, &mut catalog, &mut draft, &mut warnings);
        record_sites(reports, &BTreeMap::new(), names, &mut out);
        let id = catalog
            .id(
                &mut draft,
                &SeriesSpec {
                    name: SITE_BYTES,
                    labels: &BTreeMap::from([(
                        SITE_LABEL.to_string(),
                        site_hash(&["leak (a.py:3)".to_string()]),
                    )]),
                    kind: SeriesKind::Gauge,
                    unit: Unit::Bytes,
                },
            )
            .unwrap();
        draft
            .rows
            .iter()
            .filter(|r| r.0 == id)
            .map(|r| (r.1, r.2))
            .collect()
    }

    #[test]
    fn one_process_reports_are_recorded_at_their_own_times() {
        let mut names = SiteNames::default();
        let early = [
            report(7, "python", 100.25, 1.0),
            report(7, "python", 100.5, 2.0),
            report(7, "python", 100.75, 3.0),
        ];
        assert_eq!(
            recorded(&early, 101.0, &mut names),
            [(100.25, 1.0), (100.5, 2.0), (100.75, 3.0)]
        );
        // A report from the past (another clock) is not recorded before what came before.
        assert!(recorded(
            &[
                report(7, "python", 100.6, 9.0),
                report(7, "python", 100.7, 9.0)
            ],
            102.0,
            &mut names
        )
        .is_empty());
        // Several processes: the latest of each, summed, at this interval.
        let two = [
            report(7, "python", 102.2, 1.0),
            report(7, "python", 102.4, 2.0),
            report(8, "python", 102.3, 5.0),
        ];
        assert_eq!(recorded(&two, 103.0, &mut names), [(103.0, 7.0)]);
    }
}
