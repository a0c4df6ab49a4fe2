//! V8's sampling heap profile (`HeapProfiler.getSamplingProfile`) as allocation sites: one
//! site per call tree node that holds live sampled bytes, named innermost frame first like
//! `rememberVisitor (server.js:12)` (paths relative to the process's working directory,
//! `file://` dropped, lines from 1), with the objects each sample stands for.
//!
//! The one place profiles become sites: the in-process agent sends its profile as it is
//! (`"type":"node_profile"`, [`parse_profile_line`]) and an attached process's comes over the
//! inspector ([`sites`]).

use serde::Deserialize;

use crate::sites::{SiteSample, SitesReport};

/// Frames kept per stack, innermost first (as the in-process agent keeps).
pub const PROFILE_FRAMES: usize = 32;

/// A sampling heap profile as the protocol gives it.
#[derive(Debug, Clone, Deserialize)]
pub struct SamplingProfile {
    /// The call tree's root, `(root)`.
    pub head: ProfileNode,
    /// The live samples (one per sampled allocation still alive).
    #[serde(default)]
    pub samples: Vec<ProfileSample>,
}

/// A node of the call tree.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProfileNode {
    /// The function and where it is.
    pub call_frame: CallFrame,
    /// Live sampled bytes allocated by this node itself (scaled by V8 to the estimate).
    pub self_size: f64,
    /// Node id, as samples name it.
    pub id: u64,
    /// Callees.
    #[serde(default)]
    pub children: Vec<ProfileNode>,
}

/// A function of the call tree.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallFrame {
    /// Its name, empty for an anonymous function.
    #[serde(default)]
    pub function_name: String,
    /// Its script's URL or path, empty for V8's own.
    #[serde(default)]
    pub url: String,
    /// Line, from 0.
    #[serde(default)]
    pub line_number: i64,
}

/// One live sample.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProfileSample {
    /// The allocation's size, bytes.
    pub size: f64,
    /// The call tree node that made it.
    pub node_id: u64,
}

/// Stacks kept per profile unless the line says otherwise (the rest is the remainder).
pub const DEFAULT_TOP: usize = 200;

/// A profile as the in-process agent sends it.
#[derive(Debug, Deserialize)]
struct ProfileLine {
    pid: i32,
    t: f64,
    sampling_bytes: f64,
    #[serde(default)]
    top: Option<usize>,
    #[serde(default)]
    cwd: String,
    #[serde(default)]
    took_ms: Option<f64>,
    /// The agent's own file name: its allocations (taking and sending profiles) are not the
    /// program's.
    #[serde(default)]
    own: String,
    profile: SamplingProfile,
}

/// Drops the call subtrees of functions in scripts whose path ends with `own`.
fn drop_script(head: &mut ProfileNode, own: &str) {
    let mut stack = vec![head];
    while let Some(n) = stack.pop() {
        n.children.retain(|c| !c.call_frame.url.ends_with(own));
        stack.extend(n.children.iter_mut());
    }
}

/// The sites of a `"type":"node_profile"` line of the agent, checked like any sites report.
pub fn parse_profile_line(line: &str) -> Result<SitesReport, String> {
    let mut l: ProfileLine =
        serde_json::from_str(line).map_err(|e| format!("bad node profile: {e}"))?;
    if !l.own.is_empty() {
        drop_script(&mut l.profile.head, &l.own);
    }
    if !l.sampling_bytes.is_finite() || l.sampling_bytes < 1.0 {
        return Err("bad node profile: sampling".into());
    }
    let cwd = if l.cwd.is_empty() {
        String::new()
    } else {
        format!("{}/", l.cwd.trim_end_matches('/'))
    };
    let top = l
        .top
        .unwrap_or(DEFAULT_TOP)
        .clamp(1, crate::sites::MAX_SITES);
    let mut r = sites(&l.profile, &cwd, l.sampling_bytes, top, l.pid, l.t);
    r.took_ms = l.took_ms.filter(|v| v.is_finite() && *v >= 0.0);
    crate::sites::check(&r)?;
    Ok(r)
}

/// How a frame is named: `fn (path:line)`, the path relative to `cwd` (which ends with `/`).
pub fn frame_name(cf: &CallFrame, cwd: &str) -> String {
    let mut url = cf.url.as_str();
    url = url.strip_prefix("file://").unwrap_or(url);
    if !cwd.is_empty() {
        url = url.strip_prefix(cwd).unwrap_or(url);
    }
    let name = if cf.function_name.is_empty() {
        "(anonymous)"
    } else {
        cf.function_name.as_str()
    };
    if url.is_empty() {
        name.to_string()
    } else {
        format!("{name} ({url}:{})", cf.line_number + 1)
    }
}

/// The sites of `profile` taken in process `pid` at unix time `t` with mean sampling interval
/// `sampling` bytes: the `top` by live bytes, the rest summed into the remainder.
pub fn sites(
    profile: &SamplingProfile,
    cwd: &str,
    sampling: f64,
    top: usize,
    pid: i32,
    t: f64,
) -> SitesReport {
    // Objects per node: each sample stands for 1 / P(sampled) objects of its size.
    let mut objects = std::collections::HashMap::<u64, f64>::new();
    for s in &profile.samples {
        let p = 1.0 - (-s.size / sampling.max(1.0)).exp();
        if p > 0.0 {
            *objects.entry(s.node_id).or_default() += 1.0 / p;
        }
    }
    let mut out: Vec<SiteSample> = Vec::new();
    // Depth-first with each node's frames (innermost first); `(root)` adds no frame.
    let mut stack: Vec<(&ProfileNode, Vec<String>)> = vec![(&profile.head, Vec::new())];
    while let Some((node, path)) = stack.pop() {
        let frames = if node.call_frame.function_name == "(root)" {
            path
        } else {
            let mut f = Vec::with_capacity(path.len() + 1);
            f.push(frame_name(&node.call_frame, cwd));
            f.extend(path.iter().take(PROFILE_FRAMES * 4).cloned());
            f
        };
        if node.self_size > 0.0 && !frames.is_empty() {
            let mut kept: Vec<String> = frames.iter().take(PROFILE_FRAMES).cloned().collect();
            kept.iter_mut().for_each(crate::sites::clip_frame);
            out.push(SiteSample {
                frames: kept,
                bytes: node.self_size,
                objects: objects.get(&node.id).copied().unwrap_or(0.0),
            });
        }
        for c in &node.children {
            stack.push((c, frames.clone()));
        }
    }
    out.sort_by(|a, b| b.bytes.total_cmp(&a.bytes));
    let rest = out.split_off(top.min(out.len()));
    SitesReport {
        source: "node".into(),
        pid,
        t,
        sampling_bytes: sampling,
        sites: out,
        other_bytes: rest.iter().map(|s| s.bytes).sum(),
        other_objects: rest.iter().map(|s| s.objects).sum(),
        took_ms: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A profile as Node 20 gives it (trimmed): `(root)` -> module code -> `handle` ->
    /// `rememberVisitor`, which holds two samples, and `repeat` (V8's, no URL) under it.
    const PROFILE: &str = r#"{"head":{"callFrame":{"functionName":"(root)","scriptId":"0","url":"","lineNumber":-1,"columnNumber":-1},"selfSize":0,"id":1,"children":[
      {"callFrame":{"functionName":"handle","scriptId":"71","url":"/srv/app/server.js","lineNumber":39,"columnNumber":2},"selfSize":0,"id":2,"children":[
        {"callFrame":{"functionName":"rememberVisitor","scriptId":"71","url":"/srv/app/server.js","lineNumber":11,"columnNumber":24},"selfSize":65536,"id":3,"children":[
          {"callFrame":{"functionName":"repeat","scriptId":"0","url":"","lineNumber":-1,"columnNumber":-1},"selfSize":32768,"id":4,"children":[]}]},
        {"callFrame":{"functionName":"","scriptId":"72","url":"file:///srv/app/lib/x.mjs","lineNumber":2,"columnNumber":0},"selfSize":100,"id":5,"children":[]}]}]},
      "samples":[{"size":1024,"nodeId":3,"ordinal":1},{"size":1024,"nodeId":3,"ordinal":2},{"size":32768,"nodeId":4,"ordinal":3}]}"#;

    #[test]
    fn sites_of_a_profile() {
        let p: SamplingProfile = serde_json::from_str(PROFILE).unwrap();
        let r = sites(&p, "/srv/app/", 32768.0, 2, 7, 1.5);
        assert_eq!(r.source, "node");
        assert_eq!(r.sites.len(), 2);
        assert_eq!(
            r.sites[0].frames,
            ["rememberVisitor (server.js:12)", "handle (server.js:40)"]
        );
        assert_eq!(r.sites[0].bytes, 65536.0);
        // Two 1 KiB samples at a 32 KiB mean: each stands for about 32.5 objects.
        let each = 1.0 / (1.0 - (-1024.0f64 / 32768.0).exp());
        assert!((r.sites[0].objects - 2.0 * each).abs() < 1e-9);
        assert_eq!(
            r.sites[1].frames,
            [
                "repeat",
                "rememberVisitor (server.js:12)",
                "handle (server.js:40)"
            ]
        );
        // The anonymous ES module function is the remainder.
        assert_eq!(r.other_bytes, 100.0);
        let all = sites(&p, "/srv/app/", 32768.0, 10, 7, 1.5);
        assert_eq!(all.sites[2].frames[0], "(anonymous) (lib/x.mjs:3)");
        assert!(crate::sites::check(&all).is_ok());
    }

    #[test]
    fn the_agents_line_is_the_same_profile() {
        let line = format!(
            r#"{{"v":1,"type":"node_profile","pid":7,"t":1.5,"sampling_bytes":32768,"top":2,"cwd":"/srv/app","took_ms":12.5,"profile":{PROFILE}}}"#
        );
        let r = parse_profile_line(&line).unwrap();
        let p: SamplingProfile = serde_json::from_str(PROFILE).unwrap();
        let mut want = sites(&p, "/srv/app/", 32768.0, 2, 7, 1.5);
        want.took_ms = Some(12.5);
        assert_eq!(r, want);
        // The agent's own allocations are left out.
        let own = line.replace("\"top\":2", "\"top\":10,\"own\":\"x.mjs\"");
        let r = parse_profile_line(&own).unwrap();
        assert_eq!(r.sites.len(), 2, "{r:?}");
        assert_eq!(r.other_bytes, 0.0);
        for bad in [
            line.replace("\"pid\":7", "\"pid\":0"),
            line.replace("\"sampling_bytes\":32768", "\"sampling_bytes\":0"),
            line.replace("\"profile\":", "\"prof\":"),
        ] {
            assert!(parse_profile_line(&bad).is_err(), "{bad}");
        }
    }
}
