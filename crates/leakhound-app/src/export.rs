//! `export`: a run's samples (contract CSV, or JSON with the run and its events), its
//! allocation sites as a profile other tools read (pprof, folded stacks: see
//! `leakhound_report::profile`), and one site's samples over time.

use std::collections::BTreeMap;

use leakhound_analysis::frames::{allocating_frame, Runtime};
use leakhound_analysis::sites::{SiteFinding, OTHER};
use leakhound_report::{display_name, ProfileStack, SitesProfile};
use leakhound_store::{csv, Event, RunId, RunInfo, SeriesKind, Store};

use crate::error::user;
use crate::input::{Input, SiteData};
use crate::judge::{judge, judge_sites};
use crate::policy::Policy;

/// The run's series as contract CSV (`timestamp,NAME...`), what `import` and `analyze` read.
pub fn samples_csv(input: &Input) -> String {
    csv::write(
        &input
            .series
            .iter()
            .map(|s| (s.display_name(), s.t.clone(), s.v.clone()))
            .collect::<Vec<_>>(),
    )
}

/// One series of [`samples_json`].
#[derive(serde::Serialize)]
struct SeriesDoc<'a> {
    name: &'a str,
    labels: &'a BTreeMap<String, String>,
    kind: SeriesKind,
    unit: &'a str,
    t: &'a [f64],
    v: &'a [f64],
}

/// The document of [`samples_json`].
#[derive(serde::Serialize)]
struct RunDoc<'a> {
    run: RunInfo,
    series: Vec<SeriesDoc<'a>>,
    events: Vec<Event>,
}

/// The run `run` (of `input`, read from `store`) as JSON: the run, its series with labels,
/// kinds and units, and its events.
pub fn samples_json(store: &Store, run: RunId, input: &Input) -> anyhow::Result<String> {
    let doc = RunDoc {
        run: store.run(run)?,
        series: input
            .series
            .iter()
            .map(|s| SeriesDoc {
                name: &s.name,
                labels: &s.labels,
                kind: s.kind,
                unit: s.unit.as_str(),
                t: &s.t,
                v: &s.v,
            })
            .collect(),
        events: store.events(run)?,
    };
    Ok(leakhound_report::json::sorted_pretty(&doc) + "\n")
}

/// The allocation sites of `input`, each with its finding when it could be judged, ranked as
/// `analyze` lists them (judged ones first), then the rest.
struct Ranked {
    sites: Vec<SiteData>,
    findings: Vec<Option<SiteFinding>>,
}

/// Judges the sites of `input` under `policy`. A site's key becomes unique per target (an `ab`
/// run holds one stack under both variants), so each finding names one series.
fn rank(mut input: Input, policy: &Policy) -> anyhow::Result<Ranked> {
    if input.sites.is_empty() {
        return Err(user(format!(
            "{} has no allocation sites; collect them with `run --native-sites` (any \
             dynamically linked program), `--sites` (Node.js, Python), `--pprof URL` (Go) or \
             `--jvm`",
            input.about.source
        )));
    }
    for s in &mut input.sites {
        if s.hash != OTHER && !s.labels.is_empty() {
            s.hash = display_name(&s.hash, &s.labels);
        }
    }
    let judged = judge(&input, &[], policy)?;
    let mut by_key: BTreeMap<String, SiteFinding> = BTreeMap::new();
    let order: Vec<String> = judge_sites(&input, policy, &judged)
        .sites
        .into_iter()
        .map(|f| {
            let k = f.key.clone();
            by_key.insert(k.clone(), f);
            k
        })
        .collect();
    let rank_of = |s: &SiteData| order.iter().position(|k| *k == s.hash);
    let mut sites = input.sites;
    sites.sort_by_key(|s| rank_of(s).unwrap_or(usize::MAX));
    let findings = sites.iter().map(|s| by_key.remove(&s.hash)).collect();
    Ok(Ranked { sites, findings })
}

/// The last value of `v` (at times `t`) when it is at `end`, else 0: a stack missing from the
/// last profile of its target is no longer among the top stacks (its bytes are in the
/// remainder) or freed.
fn at_end(t: &[f64], v: &[f64], end: f64) -> f64 {
    match (t.last(), v.last()) {
        (Some(last), Some(x)) if (last - end).abs() < 1e-3 => *x,
        _ => 0.0,
    }
}

/// The allocation sites of the run in `input` as a profile: live bytes and objects at the
/// run's last profile, and each site's leak rate judged under `policy`.
pub fn sites_profile(input: Input, policy: &Policy) -> anyhow::Result<SitesProfile> {
    let title = format!(
        "leakhound {}: allocation sites of {}",
        input.about.source, input.about.target
    );
    let program = input
        .about
        .target
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_string();
    let ranked = rank(input, policy)?;
    // The last profile of each target: the latest time of any of its sites (the remainder is
    // recorded with every profile).
    let mut ends: BTreeMap<&BTreeMap<String, String>, f64> = BTreeMap::new();
    let (mut start, mut end) = (f64::INFINITY, f64::NEG_INFINITY);
    for s in &ranked.sites {
        if let (Some(a), Some(b)) = (s.t.first(), s.t.last()) {
            let e = ends.entry(&s.labels).or_insert(*b);
            *e = e.max(*b);
            start = start.min(*a);
            end = end.max(*b);
        }
    }
    let mut stacks = Vec::new();
    for (s, f) in ranked.sites.iter().zip(&ranked.findings) {
        let target_end = ends.get(&s.labels).copied().unwrap_or(end);
        let frames = if s.hash == OTHER {
            vec!["(other sites)".to_string()]
        } else {
            s.frames.clone()
        };
        let verdict = f
            .as_ref()
            .map_or("not_judged", |f| f.finding.verdict.as_str());
        let mut labels = vec![
            ("verdict".to_string(), verdict.to_string()),
            ("source".to_string(), s.source.clone()),
        ];
        if let Some(f) = f {
            labels.push(("function".to_string(), f.function.clone()));
        }
        labels.extend(s.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
        let stack = ProfileStack {
            frames,
            live_bytes: at_end(&s.t, &s.bytes, target_end),
            leak_rate: f
                .as_ref()
                .and_then(|f| f.finding.rate_per_day)
                .unwrap_or(0.0)
                .max(0.0),
            objects: if s.objects.len() == s.t.len() {
                at_end(&s.t, &s.objects, target_end)
            } else {
                0.0
            },
            labels,
        };
        if stack.live_bytes > 0.0 || stack.leak_rate > 0.0 || stack.objects > 0.0 {
            stacks.push(stack);
        }
    }
    Ok(SitesProfile {
        stacks,
        start: if start.is_finite() { start } else { 0.0 },
        end: if end.is_finite() { end } else { 0.0 },
        title,
        program,
    })
}

/// One site's samples over time, and a note to print when the choice was not obvious.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteSamples {
    /// Contract CSV: `timestamp,bytes,objects` (objects when the profiler counts them).
    pub csv: String,
    /// Which site was taken, when `which` matched several.
    pub note: Option<String>,
}

/// The samples of the site `which` of `input`: its rank among the stacks `analyze` ranks (its
/// JSON `sites`; `1` is the first), or text found in its allocating frame (the first of the
/// user's code, [`leakhound_analysis::frames`]) or at the start of its hash; of several sites
/// that match, the first ranked.
pub fn site_samples(input: Input, policy: &Policy, which: &str) -> anyhow::Result<SiteSamples> {
    let ranked = rank(input, policy)?;
    let judged = ranked.findings.iter().filter(|f| f.is_some()).count();
    let matches: Vec<usize> = match which.parse::<usize>() {
        Ok(n) if (1..=judged).contains(&n) => vec![n - 1],
        Ok(n) => {
            return Err(user(format!(
                "--site-series {n}: the run has {judged} ranked allocation sites"
            )))
        }
        Err(_) => (0..ranked.sites.len())
            .filter(|&i| {
                let s = &ranked.sites[i];
                let runtime = Runtime::of(&s.source);
                s.hash != OTHER
                    && (s.hash.starts_with(which)
                        || s.frames
                            .get(allocating_frame(runtime, &s.frames))
                            .is_some_and(|f| f.contains(which)))
            })
            .collect(),
    };
    let name = |i: usize| -> String {
        let s = &ranked.sites[i];
        let stack = s
            .frames
            .iter()
            .take(3)
            .cloned()
            .collect::<Vec<_>>()
            .join(" <- ");
        match ranked.findings[i] {
            Some(_) => format!("#{} {stack}", i + 1),
            None => format!("{stack} (not judged: too few samples)"),
        }
    };
    let Some(&first) = matches.first() else {
        let listed: Vec<String> = (0..judged.min(5))
            .map(|i| format!("  {}", name(i)))
            .collect();
        return Err(user(format!(
            "--site-series {which:?}: no allocation site has it in its allocating frame or \
             hash; the first ranked are:\n{}",
            listed.join("\n")
        )));
    };
    let note = (matches.len() > 1).then(|| {
        format!(
            "{} sites match {which:?}; this is the first ranked, {} (name another by its rank)",
            matches.len(),
            name(first)
        )
    });
    let s = &ranked.sites[first];
    let mut columns = vec![("bytes".to_string(), s.t.clone(), s.bytes.clone())];
    if s.objects.len() == s.t.len() {
        columns.push(("objects".to_string(), s.t.clone(), s.objects.clone()));
    }
    Ok(SiteSamples {
        csv: csv::write(&columns),
        note,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::SeriesData;

    /// Twenty minutes at 10 s of a run with two variants (`ab`): one stack grows 5 KB per
    /// sample under variant a (43.2 MB/day) and holds still under b; another stack of a drops
    /// out of the profiles halfway; each variant has its remainder.
    fn ab_run() -> Input {
        let n = 121;
        let t: Vec<f64> = (0..n).map(|i| 1.7e9 + 10.0 * i as f64).collect();
        let noise = |i: usize| ((i * 7919) % 13) as f64 * 1e3;
        let variant = |v: &str| BTreeMap::from([("variant".to_string(), v.to_string())]);
        let site = |hash: &str, v: &str, len: usize, f: &dyn Fn(usize) -> f64| SiteData {
            hash: hash.into(),
            source: "native".into(),
            frames: if hash == OTHER {
                Vec::new()
            } else {
                vec![format!("{hash}_fn (a.c:3)"), "main (a.c:9)".into()]
            },
            labels: variant(v),
            t: t[..len].to_vec(),
            bytes: (0..len).map(f).collect(),
            objects: (0..len).map(|i| f(i) / 64.0).collect(),
        };
        Input {
            series: vec![SeriesData {
                name: "rss".into(),
                labels: BTreeMap::new(),
                unit: crate::kinds::Unit::Bytes,
                kind: SeriesKind::Gauge,
                t: t.clone(),
                v: (0..n).map(|i| 1e8 + 5e3 * i as f64 + noise(i)).collect(),
            }],
            sites: vec![
                site("grow", "a", n, &|i| 1e6 + 5e3 * i as f64 + noise(i)),
                site("grow", "b", n, &|i| 1e6 + noise(i)),
                site("gone", "a", 60, &|i| 2e5 + noise(i)),
                site(OTHER, "a", n, &|i| 3e6 + noise(i)),
                site(OTHER, "b", n, &|i| 3e6 + noise(i)),
            ],
            about: crate::input::About {
                source: "run 7".into(),
                target: "./prog --fast".into(),
                ..Default::default()
            },
            ..Input::default()
        }
    }

    fn label<'a>(s: &'a ProfileStack, k: &str) -> &'a str {
        s.labels
            .iter()
            .find(|(key, _)| key == k)
            .map_or("", |(_, v)| v.as_str())
    }

    #[test]
    fn a_profile_keeps_each_variants_stack_apart_and_holds_the_end() {
        let p = sites_profile(ab_run(), &Policy::default()).unwrap();
        assert_eq!(p.program, "./prog");
        assert_eq!(
            p.title,
            "leakhound run 7: allocation sites of ./prog --fast"
        );
        assert_eq!(p.end - p.start, 1200.0);
        let grow: Vec<&ProfileStack> = p
            .stacks
            .iter()
            .filter(|s| s.frames[0] == "grow_fn (a.c:3)")
            .collect();
        assert_eq!(grow.len(), 2, "one stack per variant: {:?}", p.stacks);
        let a = grow.iter().find(|s| label(s, "variant") == "a").unwrap();
        let b = grow.iter().find(|s| label(s, "variant") == "b").unwrap();
        assert_eq!(label(a, "verdict"), "leak");
        assert_eq!(label(a, "source"), "native");
        let truth = 5e3 / 10.0 * 86400.0;
        assert!((a.leak_rate / truth - 1.0).abs() < 0.1, "{}", a.leak_rate);
        assert!(b.leak_rate < 0.05 * truth, "{}", b.leak_rate);
        assert!((a.live_bytes - 1.6e6).abs() < 2e4, "{}", a.live_bytes);
        assert!((a.objects - a.live_bytes / 64.0).abs() < 1.0);
        // Gone from the profiles halfway: nothing live at the end.
        for s in p.stacks.iter().filter(|s| s.frames[0] == "gone_fn (a.c:3)") {
            assert_eq!((s.live_bytes, s.objects), (0.0, 0.0), "{s:?}");
        }
        let other: Vec<&ProfileStack> = p
            .stacks
            .iter()
            .filter(|s| s.frames == ["(other sites)"])
            .collect();
        assert_eq!(other.len(), 2);
        assert!(other
            .iter()
            .all(|s| s.leak_rate == 0.0 && s.live_bytes > 3e6));
    }

    #[test]
    fn one_site_is_named_by_rank_or_by_its_frame() {
        let policy = Policy::default();
        let first = site_samples(ab_run(), &policy, "1").unwrap();
        assert_eq!(first.note, None);
        let rows: Vec<&str> = first.csv.lines().collect();
        assert_eq!(rows[0], "timestamp,bytes,objects");
        assert_eq!(rows.len(), 122);
        assert!(rows[121].starts_with("1700001200,16"), "{}", rows[121]);
        // Two stacks (a and b) have the frame: the first ranked (a's leak), said.
        let by_text = site_samples(ab_run(), &policy, "grow_fn").unwrap();
        assert_eq!(by_text.csv, first.csv);
        let note = by_text.note.unwrap();
        assert!(note.starts_with("2 sites match \"grow_fn\""), "{note}");
        // A site that left the profiles halfway is found too, with the samples it has.
        let gone = site_samples(ab_run(), &policy, "gone").unwrap();
        assert_eq!(gone.csv.lines().count(), 61);
        let e = site_samples(ab_run(), &policy, "nowhere").unwrap_err();
        assert!(e.to_string().contains("#1 grow_fn (a.c:3) <- main"), "{e}");
        let e = site_samples(ab_run(), &policy, "9").unwrap_err();
        assert!(e.to_string().contains("ranked allocation sites"), "{e}");
        let no_sites = Input {
            sites: Vec::new(),
            ..ab_run()
        };
        let e = sites_profile(no_sites, &policy).unwrap_err();
        assert!(
            e.to_string().starts_with("run 7 has no allocation sites"),
            "{e}"
        );
    }
}
