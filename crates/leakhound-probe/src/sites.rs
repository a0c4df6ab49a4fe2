//! Allocation-site reports, the shared shape of every source of sites (the Node agent's heap
//! profiler, the native malloc profiler, Go's pprof, Python's tracemalloc, the JVM's class
//! histogram): live bytes and objects per call stack at one time, the top stacks and a
//! remainder.

/// Most sites one report may hold; a profile's long tail goes into the remainder.
pub const MAX_SITES: usize = 20_000;

/// Most frames kept per stack (innermost first).
pub const MAX_FRAMES: usize = 64;

/// Longest frame accepted, bytes.
pub const MAX_FRAME_LEN: usize = 1024;

/// Cuts `frame` to [`MAX_FRAME_LEN`] bytes at a character boundary.
pub fn clip_frame(frame: &mut String) {
    if frame.len() > MAX_FRAME_LEN {
        let mut end = MAX_FRAME_LEN;
        while !frame.is_char_boundary(end) {
            end -= 1;
        }
        frame.truncate(end);
    }
}

/// One stack's live memory.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
pub struct SiteSample {
    /// Frames, innermost (allocating) first, e.g. `handleRequest (server.js:42)`.
    pub frames: Vec<String>,
    /// Estimated live bytes allocated there.
    pub bytes: f64,
    /// Estimated live objects.
    #[serde(default)]
    pub objects: f64,
}

/// Live memory by allocation site in one process at one time.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
pub struct SitesReport {
    /// `node`, `native`, `go`, `python`, `jvm`.
    pub source: String,
    /// Process id; 0 when not known (a profile fetched over HTTP).
    pub pid: i32,
    /// Unix seconds.
    pub t: f64,
    /// Mean bytes between samples of the profiler (0 when it counts everything).
    #[serde(default)]
    pub sampling_bytes: f64,
    /// The top sites by live bytes.
    pub sites: Vec<SiteSample>,
    /// Live bytes of the sites left out.
    #[serde(default)]
    pub other_bytes: f64,
    /// Live objects of the sites left out.
    #[serde(default)]
    pub other_objects: f64,
    /// What taking the profile cost the process, milliseconds, when the profiler says.
    #[serde(default)]
    pub took_ms: Option<f64>,
}

/// Checks a report: finite non-negative numbers, bounded sizes, frames as given.
pub fn check(r: &SitesReport) -> Result<(), String> {
    let ok = |v: f64| v.is_finite() && v >= 0.0;
    if r.pid <= 0 || !r.t.is_finite() || !ok(r.sampling_bytes) {
        return Err("bad sites report: pid, time or sampling".into());
    }
    if !ok(r.other_bytes) || !ok(r.other_objects) {
        return Err("bad sites report: remainder".into());
    }
    if r.sites.len() > MAX_SITES {
        return Err(format!("bad sites report: more than {MAX_SITES} sites"));
    }
    if r.sites.iter().any(|s| {
        !ok(s.bytes)
            || !ok(s.objects)
            || s.frames.is_empty()
            || s.frames.len() > MAX_FRAMES
            || s.frames.iter().any(|f| f.len() > MAX_FRAME_LEN)
    }) {
        return Err("bad sites report: a site's numbers or frames".into());
    }
    Ok(())
}

/// Parses a sites report line.
pub fn parse_sites(line: &str) -> Result<SitesReport, String> {
    let r: SitesReport =
        serde_json::from_str(line).map_err(|e| format!("bad sites report: {e}"))?;
    check(&r)?;
    Ok(r)
}

/// What an agent says about its sites (`"type":"notice"`): why they come from elsewhere
/// than asked, say.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct Notice {
    /// Process id.
    pub pid: i32,
    /// The message, for the user.
    pub text: String,
}

/// Parses a notice line.
pub fn parse_notice(line: &str) -> Result<Notice, String> {
    let n: Notice = serde_json::from_str(line).map_err(|e| format!("bad notice: {e}"))?;
    if n.pid <= 0 || n.text.is_empty() || n.text.len() > 2000 {
        return Err("bad notice: pid or text".into());
    }
    Ok(n)
}

/// What holds the memory that stays in a process, as its agent found it (`--retainers`):
/// `{"v":1,"type":"holders","pid":P,"t":T,"holders":[{"path":[...],"bytes":B,"objects":N}]}`.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct HoldersReport {
    /// The process.
    pub pid: i32,
    /// When it was found, unix seconds.
    pub t: f64,
    /// The holders, the largest first.
    pub holders: Vec<AgentHolder>,
}

/// One holder: the holder first, then what holds it, toward a root (a module, a class).
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct AgentHolder {
    /// E.g. `["visitors (list)", "module app"]`.
    pub path: Vec<String>,
    /// Bytes of the new objects it holds.
    pub bytes: f64,
    /// Number of the new objects it holds.
    pub objects: f64,
}

/// Reads a holders line, checked: a pid, at most 50 holders of at most 16 steps.
pub fn parse_holders(line: &str) -> Result<HoldersReport, String> {
    let h: HoldersReport =
        serde_json::from_str(line).map_err(|e| format!("bad holders report: {e}"))?;
    let sane = |a: &AgentHolder| {
        !a.path.is_empty()
            && a.path.len() <= 16
            && a.bytes.is_finite()
            && a.bytes >= 0.0
            && a.objects.is_finite()
            && a.objects >= 0.0
    };
    if h.pid <= 0 || !h.t.is_finite() || h.holders.len() > 50 || !h.holders.iter().all(sane) {
        return Err("bad holders report: pid, time or holders".into());
    }
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holders_are_checked() {
        let h = parse_holders(
            r#"{"v":1,"type":"holders","pid":3,"t":1.5,"holders":[{"path":["visitors (list)","module app"],"bytes":1e6,"objects":900}]}"#,
        )
        .unwrap();
        assert_eq!(h.holders[0].path, ["visitors (list)", "module app"]);
        for bad in [
            r#"{"v":1,"type":"holders","pid":0,"t":1,"holders":[]}"#,
            r#"{"v":1,"type":"holders","pid":3,"t":1,"holders":[{"path":[],"bytes":1,"objects":1}]}"#,
            r#"{"v":1,"type":"holders","pid":3,"t":1,"holders":[{"path":["x"],"bytes":-1,"objects":1}]}"#,
            r#"{"v":1,"type":"holders","pid":3,"t":1}"#,
        ] {
            assert!(parse_holders(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn notices_are_checked() {
        let n = parse_notice(r#"{"v":1,"type":"notice","pid":3,"text":"Python sites: why"}"#);
        assert_eq!(n.unwrap().text, "Python sites: why");
        for bad in [
            r#"{"v":1,"type":"notice","pid":0,"text":"x"}"#,
            r#"{"v":1,"type":"notice","pid":3,"text":""}"#,
            r#"{"v":1,"type":"notice","pid":3}"#,
        ] {
            assert!(parse_notice(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn parses_and_checks() {
        let line = r#"{"v":1,"type":"sites","source":"node","pid":7,"t":1.5,"sampling_bytes":32768,"sites":[{"frames":["f (a.js:1)","g (a.js:9)"],"bytes":65536,"objects":2}],"other_bytes":10,"other_objects":1}"#;
        let r = parse_sites(line).unwrap();
        assert_eq!(r.sites[0].frames[1], "g (a.js:9)");
        assert_eq!(r.other_bytes, 10.0);
        for bad in [
            line.replace("65536", "-1"),
            line.replace("\"pid\":7", "\"pid\":0"),
            line.replace(r#"["f (a.js:1)","g (a.js:9)"]"#, "[]"),
        ] {
            assert!(parse_sites(&bad).is_err(), "{bad}");
        }
    }
}
