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

/// Remembers which stacks a run has named.
#[derive(Debug, Default)]
pub struct SiteNames {
    named: HashSet<String>,
}

struct Summed {
    source: String,
    frames: Vec<String>,
    bytes: f64,
    objects: f64,
}

/// Records `reports` (of the processes of one target, labelled `labels`) at this interval.
pub fn record_sites(
    reports: &[SitesReport],
    labels: &BTreeMap<String, String>,
    names: &mut SiteNames,
    out: &mut Readings<'_>,
) {
    if reports.is_empty() {
        return;
    }
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
    // The writer stores new series, new names and the interval's samples in one transaction.
    record_summed(by_hash, labels, names, out, other_bytes, other_objects);
}

fn record_summed(
    by_hash: BTreeMap<String, Summed>,
    labels: &BTreeMap<String, String>,
    names: &mut SiteNames,
    out: &mut Readings<'_>,
    mut other_bytes: f64,
    mut other_objects: f64,
) {
    for (hash, s) in by_hash {
        if record_pair(out, labels, &hash, s.bytes, s.objects).is_err() {
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
    if record_pair(out, labels, OTHER, other_bytes, other_objects).is_err() {
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
    out.record(&spec(SITE_BYTES, Unit::Bytes), bytes)?;
    let _ = out.record(&spec(SITE_OBJECTS, Unit::Count), objects);
    Ok(())
}
