//! A Flight Recorder dump read into the few things leakhound uses: the heap after (and before)
//! each GC (`jdk.GCHeapSummary`, `jdk.MetaspaceSummary`) and the old-object samples of the
//! latest emission (`jdk.OldObjectSample`: class, allocation stack, age and, when the dump
//! asked for it, the path to a GC root). Everything else in the file is skipped.

use std::io::Cursor;

use jfrs::reader::event::Accessor;
use jfrs::reader::JfrReader;

use super::frames::{class_name, frame_text};
use crate::sites::{clip_frame, MAX_FRAMES};

/// The heap at one garbage collection, as `jdk.GCHeapSummary` reports it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HeapAtGc {
    /// The collection's id (each collection has a summary before and one after).
    pub gc_id: i64,
    /// Unix seconds.
    pub t: f64,
    /// `true` for the summary after the collection, `false` before.
    pub after: bool,
    /// Bytes in use in the heap.
    pub used: f64,
    /// Bytes the heap has committed.
    pub committed: f64,
}

/// Metaspace (class metadata) at one garbage collection (`jdk.MetaspaceSummary`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MetaspaceAtGc {
    /// The collection's id.
    pub gc_id: i64,
    /// Unix seconds.
    pub t: f64,
    /// `true` after the collection.
    pub after: bool,
    /// Bytes in use.
    pub used: f64,
}

/// One live old-object sample: an object the JVM sampled at allocation that was still alive at
/// the dump, having survived at least one collection.
#[derive(Debug, Clone, PartialEq)]
pub struct OldSample {
    /// The object's class as Java source writes it (`Leak$Session`, `java.lang.Object[]`).
    pub class: String,
    /// The allocation stack, innermost first, `Leak.rememberSession (Leak.java:50)`.
    pub frames: Vec<String>,
    /// When it was allocated, unix seconds.
    pub allocated: f64,
    /// Elements, for an array.
    pub array_elements: Option<u64>,
    /// Who holds it, from the GC root down to the object, when the dump computed paths to GC
    /// roots (`path-to-gc-roots=true`); empty otherwise.
    pub path: Vec<String>,
}

/// What one dump holds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Dump {
    /// Heap summaries, in the order written.
    pub heap: Vec<HeapAtGc>,
    /// Metaspace summaries.
    pub metaspace: Vec<MetaspaceAtGc>,
    /// The samples of the latest emission (each dump emits the live samples anew).
    pub samples: Vec<OldSample>,
    /// When those samples were emitted, unix seconds.
    pub emitted: Option<f64>,
}

/// Ticks of one chunk to unix seconds.
#[derive(Clone, Copy)]
struct Clock {
    start_nanos: i64,
    start_ticks: i64,
    ticks_per_second: f64,
}

impl Clock {
    fn seconds(&self, ticks: i64) -> f64 {
        self.start_nanos as f64 / 1e9 + (ticks - self.start_ticks) as f64 / self.ticks_per_second
    }
}

fn long(a: Option<Accessor<'_>>) -> Option<i64> {
    let a = a?.resolve()?;
    i64::try_from(a.value)
        .ok()
        .or_else(|| i32::try_from(a.value).ok().map(i64::from))
}

fn text(a: Option<Accessor<'_>>) -> Option<String> {
    let a = a?.resolve()?;
    <&str>::try_from(a.value).ok().map(str::to_string)
}

/// A `Symbol` (`{ string }`) or a plain string.
fn symbol(a: Option<Accessor<'_>>) -> Option<String> {
    let a = a?.resolve()?;
    text(a.get_field("string")).or_else(|| <&str>::try_from(a.value).ok().map(str::to_string))
}

/// The name of a `Class` constant (`java/lang/String`).
fn class_of(a: Option<Accessor<'_>>) -> Option<String> {
    symbol(a?.get_field("name"))
}

fn frames_of(stack: Option<Accessor<'_>>) -> Vec<String> {
    let Some(frames) = stack
        .and_then(|s| s.get_field("frames"))
        .and_then(|f| f.as_iter())
    else {
        return Vec::new();
    };
    frames
        .take(MAX_FRAMES)
        .filter_map(|f| {
            let method = f.get_field("method")?;
            let class = class_of(method.get_field("type"))?;
            let name = symbol(method.get_field("name")).unwrap_or_else(|| "?".into());
            let line = long(f.get_field("lineNumber")).unwrap_or(-1);
            let native = text(f.get_field("type").and_then(|t| t.get_field("description")))
                .is_some_and(|d| d == "Native");
            let mut frame = frame_text(&class, &name, line, native);
            clip_frame(&mut frame);
            Some(frame)
        })
        .collect()
}

/// One step of a path to a GC root: how `holder` references the next object.
fn step(reference: &Accessor<'_>, holder: &Accessor<'_>) -> String {
    let holder_class = class_of(holder.get_field("type")).map(|c| class_name(&c));
    let description = text(holder.get_field("description"));
    let field = symbol(
        reference
            .get_field("field")
            .and_then(|f| f.get_field("name")),
    );
    let is_array = reference
        .get_field("array")
        .and_then(|a| a.resolve())
        .is_some_and(|a| long(a.get_field("size")).is_some());
    match (holder_class.as_deref(), field) {
        // A static field: the holder is the class object, described by its name.
        (Some("java.lang.Class"), Some(f)) => {
            let owner = description
                .as_deref()
                .and_then(|d| d.strip_prefix("Class Name: "))
                .map(|c| class_name(c.trim()))
                .unwrap_or_else(|| "java.lang.Class".into());
            format!("{owner}.{f} (static)")
        }
        (Some(c), Some(f)) => format!("{c}.{f}"),
        (Some(c), None) if is_array || c.ends_with("[]") => format!("{c} element"),
        (Some(c), None) => c.to_string(),
        (None, _) => "?".into(),
    }
}

/// Longest path kept, steps.
const MAX_PATH: usize = 32;

/// The path from the sample's GC root down to its object (empty without paths).
fn path_of(event: &Accessor<'_>, object: Option<Accessor<'_>>) -> Vec<String> {
    let root = event.get_field("root").and_then(|r| r.resolve());
    // A root's system and type are constants of one field each ({ system: "Threads" }).
    let describe = |f: &str| {
        let a = root.as_ref()?.get_field(f);
        text(a.as_ref().and_then(|a| a.get_field(f)))
            .or_else(|| text(a))
            .filter(|s| !s.is_empty())
    };
    if describe("system").is_none() && describe("type").is_none() {
        return Vec::new();
    }
    // From the object up to the root, reversed at the end.
    let mut steps = vec![class_of(object.as_ref().and_then(|o| o.get_field("type")))
        .map(|c| class_name(&c))
        .unwrap_or_else(|| "?".into())];
    let mut current = object;
    while let Some(obj) = current {
        let Some(reference) = obj.get_field("referrer").and_then(|r| r.resolve()) else {
            break;
        };
        let Some(holder) = reference.get_field("object").and_then(|o| o.resolve()) else {
            break;
        };
        let skipped = long(reference.get_field("skip")).unwrap_or(0);
        if skipped > 0 {
            steps.push(format!("... {skipped} more"));
        }
        steps.push(step(&reference, &holder));
        if steps.len() >= MAX_PATH {
            break;
        }
        current = Some(holder);
    }
    let root_text = match (
        describe("type"),
        describe("system"),
        describe("description"),
    ) {
        (Some(t), Some(s), Some(d)) => format!("{t} ({s}: {d})"),
        (Some(t), Some(s), None) => format!("{t} ({s})"),
        (t, s, _) => t.or(s).unwrap_or_else(|| "GC root".into()),
    };
    steps.push(root_text);
    steps.reverse();
    steps
}

fn sample_of(event: &Accessor<'_>, clock: &Clock) -> Option<(i64, OldSample)> {
    let object = event.get_field("object").and_then(|o| o.resolve());
    let class = class_of(object.as_ref().and_then(|o| o.get_field("type")))
        .map(|c| class_name(&c))
        .unwrap_or_else(|| "?".into());
    let emitted = long(event.get_field("startTime"))?;
    let allocated = long(event.get_field("allocationTime")).unwrap_or(emitted);
    let array_elements = long(event.get_field("arrayElements"))
        .filter(|n| *n >= 0)
        .map(|n| n as u64);
    Some((
        emitted,
        OldSample {
            class,
            frames: frames_of(event.get_field("stackTrace")),
            allocated: clock.seconds(allocated),
            array_elements,
            path: path_of(event, object),
        },
    ))
}

/// Reads a dump (the bytes of a `.jfr` file). Only the samples of the latest emission are
/// kept: each dump emits every live sample, so older emissions in earlier chunks repeat them.
pub fn read_dump(bytes: &[u8]) -> Result<Dump, String> {
    // The reader is a dependency: whatever a damaged file makes it do, leakhound goes on.
    std::panic::catch_unwind(|| read(bytes))
        .unwrap_or_else(|_| Err("the recording could not be read (damaged file)".into()))
}

fn read(bytes: &[u8]) -> Result<Dump, String> {
    let mut reader = JfrReader::new(Cursor::new(bytes));
    let mut dump = Dump::default();
    let mut emissions: Vec<(f64, OldSample)> = Vec::new();
    let mut chunks = 0;
    for chunk in reader.chunks() {
        let (mut chunk_reader, chunk) = chunk.map_err(|e| format!("bad recording: {e:?}"))?;
        chunks += 1;
        let clock = Clock {
            start_nanos: chunk.header.start_time_nanos,
            start_ticks: chunk.header.start_ticks,
            ticks_per_second: chunk.header.ticks_per_second.max(1) as f64,
        };
        for event in chunk_reader.events(&chunk) {
            let event = event.map_err(|e| format!("bad recording: {e:?}"))?;
            let v = event.value();
            match event.class.name() {
                "jdk.GCHeapSummary" => {
                    let (Some(gc_id), Some(t), Some(used)) = (
                        long(v.get_field("gcId")),
                        long(v.get_field("startTime")),
                        long(v.get_field("heapUsed")),
                    ) else {
                        continue;
                    };
                    let committed = long(
                        v.get_field("heapSpace")
                            .and_then(|h| h.get_field("committedSize")),
                    );
                    dump.heap.push(HeapAtGc {
                        gc_id,
                        t: clock.seconds(t),
                        after: is_after(&v),
                        used: used as f64,
                        committed: committed.unwrap_or(0) as f64,
                    });
                }
                "jdk.MetaspaceSummary" => {
                    let used = long(v.get_field("metaspace").and_then(|m| m.get_field("used")));
                    let (Some(gc_id), Some(t), Some(used)) = (
                        long(v.get_field("gcId")),
                        long(v.get_field("startTime")),
                        used,
                    ) else {
                        continue;
                    };
                    dump.metaspace.push(MetaspaceAtGc {
                        gc_id,
                        t: clock.seconds(t),
                        after: is_after(&v),
                        used: used as f64,
                    });
                }
                "jdk.OldObjectSample" => {
                    if let Some((emitted, sample)) = sample_of(&v, &clock) {
                        emissions.push((clock.seconds(emitted), sample));
                    }
                }
                _ => {}
            }
        }
    }
    if chunks == 0 {
        return Err("bad recording: no chunk".into());
    }
    // Samples of one emission share its time (to the tick, within one chunk).
    let latest = emissions
        .iter()
        .map(|e| e.0)
        .fold(f64::NEG_INFINITY, f64::max);
    if latest.is_finite() {
        dump.emitted = Some(latest);
        dump.samples = emissions
            .into_iter()
            .filter(|e| e.0 >= latest - 1e-3)
            .map(|e| e.1)
            .collect();
    }
    Ok(dump)
}

fn is_after(v: &Accessor<'_>) -> bool {
    // `when` is a GCWhen constant: { when: "Before GC" | "After GC" }.
    let when = v.get_field("when");
    text(when.as_ref().and_then(|w| w.get_field("when")))
        .or_else(|| text(when))
        .is_some_and(|w| w.starts_with("After"))
}
