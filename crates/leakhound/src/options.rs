//! The command line, parsed once into the typed options of `leakhound-app`: every size, rate,
//! duration and URL is checked here, and an error names the option it came from.

use leakhound_app::native::{locate_preload, NativeSites};
use leakhound_app::retention::{DEFAULT_RETENTION, MIN_RETENTION};
use leakhound_app::sampling::SitesRequest;
use leakhound_app::session::Sampling;
use leakhound_app::traffic::Pacing;
use leakhound_app::traffic::ReplayPlan;
use leakhound_app::traffic::Uri;
use leakhound_app::wire::{env as wire, Schedule};
use leakhound_app::Load;
use leakhound_app::{user, Policy};
use leakhound_report::units::{parse_duration, parse_rate, parse_size};

use crate::cli::{ReplayPacing, SamplingArgs, VerdictArgs};

/// A size, rate or duration argument, the error naming `flag`.
fn parsed(flag: &str, s: &str, parse: fn(&str) -> Result<f64, String>) -> anyhow::Result<f64> {
    parse(s).map_err(|e| user(format!("{flag}: {e}")))
}

/// `--tolerance` and `--limit` as given, and the load (`default_load` unless `--load`).
pub fn policy(tolerance: Option<&str>, limit: Option<&str>, load: Load) -> anyhow::Result<Policy> {
    Ok(Policy {
        tolerance: tolerance
            .map(|s| parsed("--tolerance", s, parse_rate))
            .transpose()?,
        limit: limit
            .map(|s| parsed("--limit", s, parse_size))
            .transpose()?,
        ..Policy::with_load(load)
    })
}

/// The verdict options shared by the commands that judge.
pub fn verdict_policy(v: &VerdictArgs, default_load: Load) -> anyhow::Result<Policy> {
    policy(
        v.tolerance.as_deref(),
        v.limit.as_deref(),
        v.load.unwrap_or(default_load),
    )
}

/// The policy for judging `input`: unless `--load` says otherwise, the load the session that
/// recorded it assumed (a soak's constant load), else auto.
pub fn input_policy(
    v: &VerdictArgs,
    input: &leakhound_app::input::Input,
) -> anyhow::Result<Policy> {
    verdict_policy(v, input.about.load.unwrap_or(Load::Auto))
}

/// `run --native-sites`: the profiler library and how it samples, or `None` when not asked.
pub fn native_sites(args: &crate::cli::RunArgs) -> anyhow::Result<Option<NativeSites>> {
    if !args.native_sites {
        return Ok(None);
    }
    let schedule = sites_schedule(&args.sampling)?;
    native_profiler(
        args.native_sampling.as_deref(),
        schedule,
        args.native_children,
    )
    .map(Some)
}

/// The native profiler: the library, the mean (`--native-sampling`, else the budget) and when
/// it reports.
pub fn native_profiler(
    sampling: Option<&str>,
    schedule: Schedule,
    children: bool,
) -> anyhow::Result<NativeSites> {
    let sampling = match sampling {
        Some(given) => {
            let sampling = size("--native-sampling", given)?;
            if !(1.0..=1e9).contains(&sampling) {
                return Err(user(format!(
                    "--native-sampling {given}: write a size from 1B to 1GB"
                )));
            }
            Some(sampling as u64)
        }
        None => None,
    };
    let preload = locate_preload(std::env::var(wire::PRELOAD).ok().as_deref())?;
    Ok(NativeSites {
        preload,
        sampling,
        schedule,
        children,
    })
}

/// When profilers report: fixed by `--sites-interval`, else dense at first and thinning.
pub fn sites_schedule(s: &SamplingArgs) -> anyhow::Result<Schedule> {
    schedule("--sites-interval", s.sites_interval.as_deref())
}

/// A fixed schedule when `flag` gives a duration (at least 1 s), else dense at first and
/// thinning.
pub fn schedule(flag: &str, given: Option<&str>) -> anyhow::Result<Schedule> {
    match given {
        Some(every) => Ok(Schedule::fixed(
            (at_least(flag, every, 1.0)? * 1000.0) as u64,
        )),
        None => Ok(Schedule::thinning()),
    }
}

/// A size in bytes (`--limit 2GiB`, `--max-body 64KiB`).
pub fn size(flag: &str, s: &str) -> anyhow::Result<f64> {
    parsed(flag, s, parse_size)
}

/// A Prometheus label name (`--group-by version`).
pub fn label_name(flag: &str, s: &str) -> anyhow::Result<String> {
    let mut chars = s.chars();
    let ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !ok {
        return Err(user(format!(
            "{flag} {s:?}: not a label name (letters, digits and _, not starting with a digit)"
        )));
    }
    Ok(s.to_string())
}

/// A duration in seconds (`--grace 5s`, `--range 14d`).
pub fn duration(flag: &str, s: &str) -> anyhow::Result<f64> {
    parsed(flag, s, parse_duration)
}

/// `--for`, in seconds.
pub fn for_duration(d: Option<&str>) -> anyhow::Result<Option<f64>> {
    d.map(|d| duration("--for", d)).transpose()
}

/// A plain-HTTP URL with a host (`--target`, `--upstream`, `--scrape`); `shape` says how to
/// write one.
pub fn http_uri(flag: &str, s: &str, shape: &str) -> anyhow::Result<Uri> {
    let uri: Uri = s
        .parse()
        .map_err(|_| user(format!("{flag} {s:?}: not a URL")))?;
    if uri.scheme_str() != Some("http") || uri.authority().is_none() {
        return Err(user(format!("{flag} {s:?}: write {shape}")));
    }
    Ok(uri)
}

/// `--retention`: seconds, or `None` for `forever`; at least an hour.
pub fn retention(s: &str) -> anyhow::Result<Option<f64>> {
    if s == "forever" {
        return Ok(None);
    }
    let r = duration("--retention", s)?;
    if r < MIN_RETENTION {
        return Err(user(format!(
            "--retention {s}: must be at least 1h (or forever): the newest samples stay whole for the verdict"
        )));
    }
    Ok(Some(r))
}

/// What `run`, `watch` and `ab` share: the interval, `--for`, `--scrape` and the verdict
/// policy.
pub fn sampling(s: &SamplingArgs, default_load: Load) -> anyhow::Result<Sampling> {
    let interval = duration("--interval", &s.interval)?;
    if interval < 0.01 {
        return Err(user(format!(
            "--interval {}: must be at least 10ms",
            s.interval
        )));
    }
    let schedule = sites_schedule(s)?;
    Ok(Sampling {
        interval,
        duration: for_duration(s.duration.as_deref())?,
        retention: match &s.retention {
            Some(r) => retention(r)?,
            None => Some(DEFAULT_RETENTION),
        },
        smaps: !s.no_smaps,
        scrapes: s
            .scrape
            .iter()
            .map(|u| http_uri("--scrape", u, "http://HOST:PORT/metrics"))
            .collect::<anyhow::Result<_>>()?,
        policy: verdict_policy(&s.verdict, default_load)?,
        sites: if s.sites {
            let sampling = parse_size(&s.sites_sampling)
                .map_err(|e| user(format!("--sites-sampling: {e}")))?;
            if !(1024.0..=1e9).contains(&sampling) {
                return Err(user(format!(
                    "--sites-sampling {}: write a size from 1KiB to 1GB",
                    s.sites_sampling
                )));
            }
            Some(SitesRequest::new(schedule, sampling as u64))
        } else {
            None
        },
        sites_schedule: schedule,
        pprof: s
            .pprof
            .as_deref()
            .map(|u| -> anyhow::Result<_> {
                let every = match &s.pprof_interval {
                    Some(d) => self::schedule("--pprof-interval", Some(d))?,
                    None => schedule,
                };
                Ok((pprof_uri(u)?, every))
            })
            .transpose()?,
        histogram_interval: s
            .histogram_interval
            .as_deref()
            .map(|h| at_least("--histogram-interval", h, 1.0))
            .transpose()?,
        retainers: s.retainers.then(|| match &s.keep_snapshots {
            Some(dir) => (dir.clone(), true),
            None => (
                std::env::temp_dir().join(format!("leakhound-snapshots-{}", std::process::id())),
                false,
            ),
        }),
    })
}

/// A duration of at least `min` seconds.
fn at_least(flag: &str, s: &str, min: f64) -> anyhow::Result<f64> {
    let d = duration(flag, s)?;
    if d < min {
        return Err(user(format!(
            "{flag} {s}: must be at least {}",
            leakhound_report::units::format_duration(min)
        )));
    }
    Ok(d)
}

/// `--pprof`: a Go program's heap profile. A URL without a path means its `/debug/pprof/heap`;
/// without a query, `?gc=1` is asked for: a GC cycle before each profile makes it current
/// (otherwise it is as of the last GC cycle, steps of a growing heap's ever rarer collections).
pub fn pprof_uri(s: &str) -> anyhow::Result<Uri> {
    let shape = "http://HOST:PORT or http://HOST:PORT/debug/pprof/heap";
    let uri = http_uri("--pprof", s, shape)?;
    if uri.query().is_some() {
        return Ok(uri);
    }
    let path = match uri.path() {
        "/" | "" => "/debug/pprof/heap",
        p => p,
    };
    let authority = uri.authority().expect("checked by http_uri");
    format!("http://{authority}{path}?gc=1")
        .parse()
        .map_err(|_| user(format!("--pprof {s:?}: write {shape}")))
}

/// A positive, finite number before `suffix` (`200/s`, `2x`).
fn positive(s: &str, suffix: &str) -> Option<f64> {
    s.trim_end_matches(suffix)
        .parse()
        .ok()
        .filter(|v: &f64| *v > 0.0 && v.is_finite())
}

/// `--rate` or `--speed`.
pub fn pacing(p: &ReplayPacing) -> anyhow::Result<Pacing> {
    if let Some(r) = &p.rate {
        let n = positive(r, "/s").ok_or_else(|| {
            user(format!(
                "--rate {r:?}: write requests per second, e.g. 200/s"
            ))
        })?;
        return Ok(Pacing::Rate(n));
    }
    let speed = match &p.speed {
        Some(s) => positive(s, "x")
            .ok_or_else(|| user(format!("--speed {s:?}: write a factor, e.g. 2x")))?,
        None => 1.0,
    };
    Ok(Pacing::Original { speed })
}

/// What to replay against `target`, how fast.
pub fn replay_plan(
    har: &std::path::Path,
    target: &str,
    p: &ReplayPacing,
) -> anyhow::Result<ReplayPlan> {
    Ok(ReplayPlan {
        har: har.to_path_buf(),
        target: http_uri("--target", target, "http://HOST:PORT (plain HTTP)")?,
        pacing: pacing(p)?,
        concurrency: p.concurrency,
        repeat: p.repeat,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pacing_of(speed: Option<&str>, rate: Option<&str>) -> anyhow::Result<Pacing> {
        pacing(&ReplayPacing {
            speed: speed.map(String::from),
            rate: rate.map(String::from),
            concurrency: 16,
            repeat: false,
        })
    }

    #[test]
    fn policy_is_parsed_once_with_the_load() {
        let p = policy(Some("2MiB/day"), Some("1GiB"), Load::Constant).unwrap();
        assert_eq!(p.tolerance, Some(2097152.0));
        assert_eq!(p.limit, Some(1073741824.0));
        assert_eq!(p.load, Load::Constant);
        assert_eq!(p.confidence, leakhound_app::DEFAULT_CONFIDENCE);
        let e = policy(Some("2MiB"), None, Load::Auto).unwrap_err();
        assert!(e.to_string().starts_with("--tolerance: "), "{e}");
    }

    #[test]
    fn retention_is_a_duration_of_an_hour_or_more_or_forever() {
        assert_eq!(retention("30d").unwrap(), Some(30.0 * 86400.0));
        assert_eq!(retention("forever").unwrap(), None);
        assert_eq!(
            retention("5m").unwrap_err().to_string(),
            "--retention 5m: must be at least 1h (or forever): the newest samples stay whole for the verdict"
        );
        assert!(retention("soon")
            .unwrap_err()
            .to_string()
            .starts_with("--retention: "));
    }

    #[test]
    fn pacing_and_urls() {
        assert_eq!(pacing_of(None, Some("200/s")).unwrap(), Pacing::Rate(200.0));
        assert_eq!(
            pacing_of(Some("4x"), None).unwrap(),
            Pacing::Original { speed: 4.0 }
        );
        assert_eq!(
            pacing_of(None, None).unwrap(),
            Pacing::Original { speed: 1.0 }
        );
        assert!(pacing_of(Some("0x"), None)
            .unwrap_err()
            .to_string()
            .starts_with("--speed"));
        assert_eq!(
            pprof_uri("http://127.0.0.1:6060").unwrap().to_string(),
            "http://127.0.0.1:6060/debug/pprof/heap?gc=1"
        );
        assert_eq!(
            pprof_uri("http://h:1/debug/pprof/heap")
                .unwrap()
                .to_string(),
            "http://h:1/debug/pprof/heap?gc=1"
        );
        assert_eq!(
            pprof_uri("http://h:1/debug/pprof/heap?gc=0")
                .unwrap()
                .to_string(),
            "http://h:1/debug/pprof/heap?gc=0"
        );
        assert!(pprof_uri("6060")
            .unwrap_err()
            .to_string()
            .starts_with("--pprof \"6060\""));
        let e = http_uri("--scrape", "ftp://x", "http://HOST:PORT/metrics").unwrap_err();
        assert_eq!(
            e.to_string(),
            "--scrape \"ftp://x\": write http://HOST:PORT/metrics"
        );
    }
}
