//! Old-object samples into allocation sites: live bytes per allocation stack, and who holds
//! them.
//!
//! **What a sample stands for.** HotSpot's old-object sampler (JDK 17,
//! `jfr/leakprofiler/sampling/objectSampler.cpp`) is offered an object each time a thread
//! starts a new TLAB (the object that did not fit in the old one) and every object allocated
//! outside a TLAB. The object that crosses a TLAB's end is drawn with a chance that grows with
//! its size, so the candidates are close to a sample *by bytes*: one per TLAB's worth of a
//! thread's allocation. The sampler keeps a fixed number of them (`old-object-queue-size`:
//! 256 unless the JVM was started otherwise; `run --jvm` starts it with
//! [`super::QUEUE_SIZE`]), drops those the GC found dead, and when full lets a candidate
//! replace the kept sample that stands for the least allocation (its own size plus that of
//! dead neighbours), which spreads the kept samples over the allocation history. A dump lists
//! the kept samples that are still alive and survived a collection. Nothing says how many
//! bytes one sample stands for.
//!
//! **The estimator.** The heap grown since a reference collection (the first the recording
//! saw): `growth` = the heap after the latest GC less the heap after the reference, at least
//! 0; what was live at the reference is its baseline, and objects allocated before it are
//! left out of the shares. A stack's live bytes are `growth × n_stack / n`, over the `n` live
//! samples allocated since the reference: its share of them, as a sample by bytes gives each
//! sample the same weight. Its `objects` are its live samples (JDK 17 records
//! no object size, so objects cannot be counted). What this gets right is the *rate*: a stack
//! that keeps what it allocates holds a growing share of a growing heap. Its level is rough:
//! a large array allocated outside a TLAB counts as one sample whatever its size, and once the
//! queue is full the spread over time favours what is allocated steadily over what was
//! allocated once, early.

use std::collections::{BTreeMap, HashMap};

use super::frames::class_frame;
use super::read::OldSample;
use crate::sites::{clip_frame, SiteSample, SitesReport, MAX_FRAMES};

/// Who holds some of a site's live objects: one path from a GC root down to them.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Holder {
    /// From the GC root down to the object, e.g. `["Stack Variable (Threads: ...)",
    /// "Leak.SESSIONS (static)", "java.util.ArrayList.elementData",
    /// "java.lang.Object[] element", "Leak$Session"]`.
    pub path: Vec<String>,
    /// The site's live bytes estimated to be held this way (its share of the site's samples).
    pub bytes: f64,
    /// The site's live samples on this path.
    pub objects: f64,
}

/// The sites of one dump, and the holders of each site's samples when the dump had paths.
#[derive(Debug, Clone, PartialEq)]
pub struct JfrSites {
    /// Live bytes per stack (source `jvm`), the top stacks and a remainder.
    pub report: SitesReport,
    /// Per stack kept (by its frames), the paths that hold its samples, most bytes first.
    pub holders: Vec<(Vec<String>, Vec<Holder>)>,
}

/// Samples of one stack, and how many of them each path holds.
type Counted = (usize, BTreeMap<Vec<String>, usize>);

/// A sample's stack as a site: the allocated class first (see [`class_frame`]), then the
/// allocation stack, innermost first.
fn stack_of(s: &OldSample) -> Vec<String> {
    let mut class = class_frame(&s.class);
    clip_frame(&mut class);
    std::iter::once(class)
        .chain(s.frames.iter().cloned())
        .take(MAX_FRAMES)
        .collect()
}

/// Frames of code that runs in the JVM but is not the program's: what it allocates is left
/// out of the sites. `jcmd PID JFR.*` is leakhound's doing (its dumps parse their arguments);
/// the source-file launcher (`java Prog.java`) compiles the program before its `main` runs,
/// and whatever of the compiler outlives the first collection is start-up, not a site the
/// program's work allocates (a CI run of the test program judged a dozen of them, and among
/// so many the sessions' leak passed for chance).
const NOT_THE_PROGRAM: [&str; 2] = ["jdk.jfr.internal.dcmd.", "com.sun.tools.javac.launcher."];

/// The compiler's frames. The launcher's own frame is often beyond the 64 frames JFR keeps
/// of the compiler's deep stacks, so a stack of nothing but the compiler is the launcher's
/// too (a program that runs javac itself, rarely this deep, would lose such stacks).
const COMPILER: &str = "com.sun.tools.javac.";

/// Whether a sample was allocated by a JFR diagnostic command (leakhound's own `jcmd`) or by
/// the source launcher compiling the program.
fn not_the_programs(s: &OldSample) -> bool {
    s.frames
        .iter()
        .any(|f| NOT_THE_PROGRAM.iter().any(|p| f.starts_with(p)))
        || (!s.frames.is_empty() && s.frames.iter().all(|f| f.starts_with(COMPILER)))
}

/// Sites of `samples` (one emission of process `pid` at unix time `t`): `growth` bytes since
/// the reference collection at unix time `since`, shared among the samples allocated after
/// it, as the module says; the `top` stacks by samples, the rest in the remainder. `None`
/// when there is no such sample to share it among.
pub fn sites(
    samples: &[OldSample],
    growth: f64,
    since: f64,
    top: usize,
    pid: i32,
    t: f64,
) -> Option<JfrSites> {
    let samples: Vec<&OldSample> = samples
        .iter()
        .filter(|s| s.allocated >= since && !not_the_programs(s))
        .collect();
    if samples.is_empty() || !growth.is_finite() {
        return None;
    }
    let growth = growth.max(0.0);
    let per_sample = growth / samples.len() as f64;
    // Stack -> its samples' paths (counted), in first-seen order for a stable tie-break.
    let mut by_stack: HashMap<Vec<String>, Counted> = HashMap::new();
    let mut order: Vec<Vec<String>> = Vec::new();
    for s in samples {
        let stack = stack_of(s);
        let e = by_stack.entry(stack.clone()).or_insert_with(|| {
            order.push(stack);
            (0, BTreeMap::new())
        });
        e.0 += 1;
        if !s.path.is_empty() {
            *e.1.entry(s.path.clone()).or_default() += 1;
        }
    }
    let mut stacks: Vec<(Vec<String>, Counted)> = order
        .into_iter()
        .map(|k| {
            let counted = by_stack.remove(&k).unwrap_or_default();
            (k, counted)
        })
        .collect();
    stacks.sort_by_key(|s| std::cmp::Reverse(s.1 .0));
    let mut report = SitesReport {
        source: "jvm".into(),
        pid,
        t,
        sampling_bytes: 0.0,
        sites: Vec::new(),
        other_bytes: 0.0,
        other_objects: 0.0,
        took_ms: None,
    };
    let mut holders = Vec::new();
    for (i, (frames, (n, paths))) in stacks.into_iter().enumerate() {
        let bytes = per_sample * n as f64;
        if i >= top {
            report.other_bytes += bytes;
            report.other_objects += n as f64;
            continue;
        }
        if !paths.is_empty() {
            let mut held: Vec<Holder> = paths
                .into_iter()
                .map(|(path, k)| Holder {
                    path,
                    bytes: per_sample * k as f64,
                    objects: k as f64,
                })
                .collect();
            held.sort_by(|a, b| b.bytes.total_cmp(&a.bytes).then(a.path.cmp(&b.path)));
            holders.push((frames.clone(), held));
        }
        report.sites.push(SiteSample {
            frames,
            bytes,
            objects: n as f64,
        });
    }
    Some(JfrSites { report, holders })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(class: &str, frame: &str, path: &[&str]) -> OldSample {
        OldSample {
            class: class.into(),
            frames: vec![frame.into(), "Leak.main (Leak.java:86)".into()],
            allocated: 1.0,
            array_elements: None,
            path: path.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn growth_is_shared_by_samples_and_holders_by_path() {
        let held = ["root", "Leak.SESSIONS (static)", "Leak$Session"];
        let other = ["root", "Leak.OLD (static)", "Leak$Session"];
        let mut samples = vec![sample("Leak$Session", "Leak.remember (Leak.java:50)", &held); 6];
        samples.push(sample(
            "Leak$Session",
            "Leak.remember (Leak.java:50)",
            &other,
        ));
        samples.push(sample(
            "Leak$Session",
            "Leak.remember (Leak.java:50)",
            &other,
        ));
        samples.push(sample("Leak$Profile", "Leak.profile (Leak.java:58)", &[]));
        samples.push(sample("byte[]", "Leak.bill (Leak.java:54)", &[]));
        let mut before = sample("Leak$Profile", "Leak.profile (Leak.java:58)", &[]);
        before.allocated = 0.5;
        samples.push(before);
        // The sample allocated before the reference is in the baseline, not in the shares.
        let r = sites(&samples, 10_000.0, 1.0, 2, 7, 100.0).unwrap();
        assert_eq!(r.report.source, "jvm");
        assert_eq!(
            r.report.sites[0].frames[..2],
            ["[class] Leak$Session", "Leak.remember (Leak.java:50)"]
        );
        assert_eq!(r.report.sites[0].bytes, 8_000.0);
        assert_eq!(r.report.sites[0].objects, 8.0);
        assert_eq!(r.report.sites[1].bytes, 1_000.0);
        // The third stack goes into the remainder; the whole growth stays accounted for.
        assert_eq!(r.report.other_bytes, 1_000.0);
        crate::sites::check(&r.report).unwrap();
        let (frames, holders) = &r.holders[0];
        assert_eq!(frames, &r.report.sites[0].frames);
        assert_eq!(holders[0].path[1], "Leak.SESSIONS (static)");
        assert_eq!((holders[0].bytes, holders[0].objects), (6_000.0, 6.0));
        assert_eq!(holders[1].bytes, 2_000.0);
        assert_eq!(r.holders.len(), 1, "sites without paths have no holders");
        // What leakhound's own dump command allocates in the JVM is not a site of the program.
        let mut tool = sample("byte[]", "java.util.HashMap.resize (HashMap.java:702)", &[]);
        tool.frames
            .push("jdk.jfr.internal.dcmd.DCmdDump.parseTime (DCmdDump.java:148)".into());
        let mut with_tool = samples.clone();
        with_tool.extend(std::iter::repeat_n(tool, 5));
        // Nor what the source launcher's compiler left.
        let mut javac = sample(
            "com.sun.tools.javac.tree.JCTree$JCFieldAccess",
            "com.sun.tools.javac.tree.TreeMaker.Select (TreeMaker.java:715)",
            &[],
        );
        javac
            .frames
            .push("com.sun.tools.javac.launcher.Main.compile (Main.java:383)".into());
        with_tool.extend(std::iter::repeat_n(javac, 4));
        // Its deep stacks cut before the launcher's frame are the compiler's alone.
        let deep = sample(
            "com.sun.tools.javac.code.Type$MethodType",
            "com.sun.tools.javac.jvm.ClassReader.sigToType (ClassReader.java:516)",
            &[],
        );
        let deep = OldSample {
            frames: deep.frames[..1].to_vec(),
            ..deep
        };
        with_tool.extend(std::iter::repeat_n(deep, 3));
        let r2 = sites(&with_tool, 10_000.0, 1.0, 9, 7, 100.0).unwrap();
        assert_eq!(r2.report.sites.len(), 3, "{:?}", r2.report.sites);
        assert_eq!(r2.report.sites[0].bytes, 8_000.0);
        // A heap that shrank explains nothing; no sample, no report.
        assert_eq!(
            sites(&samples, -5.0, 1.0, 2, 7, 1.0).unwrap().report.sites[0].bytes,
            0.0
        );
        assert!(sites(&[], 10.0, 0.0, 2, 7, 1.0).is_none());
        // No sample allocated since the reference: nothing to share the growth among.
        assert!(sites(&samples, 10.0, 2.0, 2, 7, 1.0).is_none());
    }
}
