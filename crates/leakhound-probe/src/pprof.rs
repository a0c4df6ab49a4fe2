//! Go heap profiles: what `/debug/pprof/heap` serves (a gzipped `profile.proto` message),
//! decoded by hand into live bytes and objects per stack. The message is small and stable
//! (github.com/google/pprof/proto/profile.proto), so a few dozen lines of protobuf reading
//! replace a code generator and its build time.
//!
//! Go writes heap samples already scaled by its sampling rate (`runtime.MemProfileRate`), as
//! of the most recent garbage collection; `inuse_space` and `inuse_objects` are what is live.

use std::collections::HashMap;
use std::io::Read;

use leakhound_wire::pprof::{function, line, location, profile, sample, value_type};

use crate::sites::{clip_frame, SiteSample, SitesReport, MAX_FRAMES};

/// Largest profile accepted once decompressed: a heap profile of a large service is a few MiB.
const MAX_INFLATED: u64 = 64 << 20;

/// A decoded heap profile: the top stacks by live bytes and the totals.
#[derive(Debug, Clone, PartialEq)]
pub struct HeapProfile {
    /// Live memory by stack (source `go`), the top ones and a remainder.
    pub sites: SitesReport,
    /// Live bytes over all stacks (`inuse_space`).
    pub inuse_bytes: f64,
    /// Live objects over all stacks (`inuse_objects`).
    pub inuse_objects: f64,
    /// Bytes allocated since the program started (`alloc_space`), when the profile has it.
    pub alloc_bytes: Option<f64>,
    /// Objects allocated since the program started (`alloc_objects`), when the profile has it.
    pub alloc_objects: Option<f64>,
}

/// A protobuf reader over one message.
struct Wire<'a> {
    buf: &'a [u8],
    pos: usize,
}

/// One field of a message: its number and value.
enum Field<'a> {
    Varint(u32, u64),
    Bytes(u32, &'a [u8]),
    /// Fixed-width values, which a profile does not use.
    Other,
}

impl<'a> Wire<'a> {
    fn new(buf: &'a [u8]) -> Wire<'a> {
        Wire { buf, pos: 0 }
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.buf.get(self.pos).ok_or("truncated varint")?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("varint longer than 10 bytes".into())
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.buf.len())
            .ok_or("field runs past the end of its message")?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn next(&mut self) -> Result<Option<Field<'a>>, String> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        let number = u32::try_from(key >> 3).map_err(|_| "field number too large")?;
        Ok(Some(match key & 7 {
            0 => Field::Varint(number, self.varint()?),
            1 => {
                self.take(8)?;
                Field::Other
            }
            2 => {
                let n = usize::try_from(self.varint()?).map_err(|_| "length too large")?;
                Field::Bytes(number, self.take(n)?)
            }
            5 => {
                self.take(4)?;
                Field::Other
            }
            w => return Err(format!("unsupported wire type {w}")),
        }))
    }
}

/// Appends the integers of a repeated field, packed (one length-delimited run) or not.
fn repeated(out: &mut Vec<u64>, field: &Field) -> Result<(), String> {
    match field {
        Field::Varint(_, v) => out.push(*v),
        Field::Bytes(_, b) => {
            let mut w = Wire::new(b);
            while w.pos < b.len() {
                out.push(w.varint()?);
            }
        }
        Field::Other => {}
    }
    Ok(())
}

#[derive(Default)]
struct Sample {
    locations: Vec<u64>,
    values: Vec<u64>,
}

#[derive(Default)]
struct Location {
    address: u64,
    /// (function id, line), innermost inlined function first.
    lines: Vec<(u64, i64)>,
}

#[derive(Default)]
struct Function {
    name: u64,
    filename: u64,
}

#[derive(Default)]
struct Profile<'a> {
    /// (type, unit) string indices of each value of a sample.
    sample_types: Vec<(u64, u64)>,
    samples: Vec<Sample>,
    locations: HashMap<u64, Location>,
    functions: HashMap<u64, Function>,
    strings: Vec<&'a [u8]>,
    time_nanos: i64,
    period: i64,
}

fn decode(buf: &[u8]) -> Result<Profile<'_>, String> {
    let mut p = Profile::default();
    let mut w = Wire::new(buf);
    while let Some(f) = w.next()? {
        match f {
            Field::Bytes(profile::SAMPLE_TYPE, b) => {
                let (mut ty, mut unit) = (0, 0);
                let mut m = Wire::new(b);
                while let Some(f) = m.next()? {
                    match f {
                        Field::Varint(value_type::TYPE, v) => ty = v,
                        Field::Varint(value_type::UNIT, v) => unit = v,
                        _ => {}
                    }
                }
                p.sample_types.push((ty, unit));
            }
            Field::Bytes(profile::SAMPLE, b) => {
                let mut s = Sample::default();
                let mut m = Wire::new(b);
                while let Some(f) = m.next()? {
                    match f {
                        Field::Varint(sample::LOCATION_ID, _)
                        | Field::Bytes(sample::LOCATION_ID, _) => repeated(&mut s.locations, &f)?,
                        Field::Varint(sample::VALUE, _) | Field::Bytes(sample::VALUE, _) => {
                            repeated(&mut s.values, &f)?
                        }
                        _ => {}
                    }
                }
                p.samples.push(s);
            }
            Field::Bytes(profile::LOCATION, b) => {
                let (mut id, mut loc) = (0, Location::default());
                let mut m = Wire::new(b);
                while let Some(f) = m.next()? {
                    match f {
                        Field::Varint(location::ID, v) => id = v,
                        Field::Varint(location::ADDRESS, v) => loc.address = v,
                        Field::Bytes(location::LINE, l) => {
                            let (mut func, mut line) = (0, 0);
                            let mut lw = Wire::new(l);
                            while let Some(f) = lw.next()? {
                                match f {
                                    Field::Varint(line::FUNCTION_ID, v) => func = v,
                                    Field::Varint(line::LINE, v) => line = v as i64,
                                    _ => {}
                                }
                            }
                            loc.lines.push((func, line));
                        }
                        _ => {}
                    }
                }
                p.locations.insert(id, loc);
            }
            Field::Bytes(profile::FUNCTION, b) => {
                let (mut id, mut func) = (0, Function::default());
                let mut m = Wire::new(b);
                while let Some(f) = m.next()? {
                    match f {
                        Field::Varint(function::ID, v) => id = v,
                        Field::Varint(function::NAME, v) => func.name = v,
                        Field::Varint(function::FILENAME, v) => func.filename = v,
                        _ => {}
                    }
                }
                p.functions.insert(id, func);
            }
            Field::Bytes(profile::STRING_TABLE, s) => p.strings.push(s),
            Field::Varint(profile::TIME_NANOS, v) => p.time_nanos = v as i64,
            Field::Varint(profile::PERIOD, v) => p.period = v as i64,
            _ => {}
        }
    }
    Ok(p)
}

impl Profile<'_> {
    fn string(&self, i: u64) -> String {
        usize::try_from(i)
            .ok()
            .and_then(|i| self.strings.get(i))
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .unwrap_or_default()
    }

    /// Index of the sample value named `ty`.
    fn value_index(&self, ty: &str) -> Option<usize> {
        self.sample_types
            .iter()
            .position(|(t, _)| self.string(*t) == ty)
    }

    /// `function (file:line)` for each function of a location, innermost first; the address
    /// when the profile is not symbolized. Go qualifies function names with their package, so
    /// the file's base name is enough to place the line.
    fn frames_of(&self, loc: &Location, out: &mut Vec<String>) {
        if loc.lines.is_empty() {
            out.push(format!("0x{:x}", loc.address));
        }
        for (func, line) in &loc.lines {
            let f = self.functions.get(func);
            let name = f.map(|f| self.string(f.name)).unwrap_or_default();
            let name = if name.is_empty() { "?".into() } else { name };
            let file = f.map(|f| self.string(f.filename)).unwrap_or_default();
            let base = file.rsplit('/').next().unwrap_or_default();
            out.push(if base.is_empty() {
                name
            } else {
                format!("{name} ({base}:{line})")
            });
        }
    }
}

/// Decodes a profile as served, gzip'd or not (inflated into `raw`).
fn decoded<'a>(body: &'a [u8], raw: &'a mut Vec<u8>) -> Result<Profile<'a>, String> {
    let bytes: &[u8] = if body.starts_with(&[0x1f, 0x8b]) {
        flate2::read::GzDecoder::new(body)
            .take(MAX_INFLATED)
            .read_to_end(raw)
            .map_err(|e| format!("not a gzipped profile: {e}"))?;
        raw
    } else {
        body
    };
    decode(bytes).map_err(|e| format!("not a pprof profile: {e}"))
}

/// The `top` stacks of `by_stack` (values: bytes, objects) as a sites report of `source`, the
/// rest in its remainder.
fn report_of(
    p: &Profile,
    by_stack: HashMap<&[u64], (f64, f64)>,
    top: usize,
    source: &str,
    pid: i32,
    now: f64,
) -> SitesReport {
    let mut stacks: Vec<(&[u64], (f64, f64))> = by_stack.into_iter().collect();
    stacks.sort_by(|a, b| b.1 .0.total_cmp(&a.1 .0).then_with(|| a.0.cmp(b.0)));
    let mut sites = Vec::new();
    let (mut other_bytes, mut other_objects) = (0.0, 0.0);
    for (locations, (b, o)) in stacks {
        if sites.len() >= top {
            other_bytes += b;
            other_objects += o;
            continue;
        }
        let mut frames = Vec::new();
        for id in locations {
            if let Some(loc) = p.locations.get(id) {
                p.frames_of(loc, &mut frames);
            }
            if frames.len() >= MAX_FRAMES {
                break;
            }
        }
        frames.truncate(MAX_FRAMES);
        frames.iter_mut().for_each(clip_frame);
        if frames.is_empty() {
            other_bytes += b;
            other_objects += o;
            continue;
        }
        sites.push(SiteSample {
            frames,
            bytes: b.max(0.0),
            objects: o.max(0.0),
        });
    }
    let t = if p.time_nanos > 0 {
        p.time_nanos as f64 / 1e9
    } else {
        now
    };
    SitesReport {
        source: source.into(),
        pid,
        t,
        sampling_bytes: p.period.max(0) as f64,
        sites,
        other_bytes: other_bytes.max(0.0),
        other_objects: other_objects.max(0.0),
        took_ms: None,
    }
}

fn sample_value(s: &Sample, i: usize) -> f64 {
    s.values.get(i).map_or(0.0, |v| *v as i64 as f64)
}

/// Decodes a heap profile as served (gzip or not), keeping the `top` stacks by live bytes for
/// process `pid` (0 when unknown). `now` is the time to stamp when the profile has none.
pub fn parse_heap(body: &[u8], top: usize, pid: i32, now: f64) -> Result<HeapProfile, String> {
    let mut raw = Vec::new();
    let p = decoded(body, &mut raw)?;
    let (Some(space), Some(objects)) =
        (p.value_index("inuse_space"), p.value_index("inuse_objects"))
    else {
        let types: Vec<String> = p.sample_types.iter().map(|t| p.string(t.0)).collect();
        return Err(format!(
            "not a heap profile: sample types [{}], no inuse_space and inuse_objects",
            types.join(", ")
        ));
    };
    let alloc = (p.value_index("alloc_space"), p.value_index("alloc_objects"));
    // Samples of one stack differ by allocation size (a label); sum them per stack.
    let mut by_stack: HashMap<&[u64], (f64, f64)> = HashMap::new();
    let (mut inuse_bytes, mut inuse_objects, mut alloc_bytes, mut alloc_objects) =
        (0.0, 0.0, 0.0, 0.0);
    for s in &p.samples {
        let (b, o) = (sample_value(s, space), sample_value(s, objects));
        inuse_bytes += b;
        inuse_objects += o;
        alloc_bytes += alloc.0.map_or(0.0, |i| sample_value(s, i));
        alloc_objects += alloc.1.map_or(0.0, |i| sample_value(s, i));
        if b > 0.0 || o > 0.0 {
            let e = by_stack.entry(&s.locations).or_default();
            e.0 += b;
            e.1 += o;
        }
    }
    Ok(HeapProfile {
        sites: report_of(&p, by_stack, top, "go", pid, now),
        inuse_bytes: inuse_bytes.max(0.0),
        inuse_objects: inuse_objects.max(0.0),
        alloc_bytes: alloc.0.map(|_| alloc_bytes.max(0.0)),
        alloc_objects: alloc.1.map(|_| alloc_objects.max(0.0)),
    })
}

/// The source name of goroutine stacks as allocation sites.
pub const GOROUTINES: &str = "go.goroutines";

/// Bytes a goroutine holds at least: its initial stack (2 KiB since Go 1.4). A goroutine that
/// never ends keeps it, and whatever its stack references, for good.
pub const GOROUTINE_STACK_BYTES: f64 = 2048.0;

/// A decoded goroutine profile: goroutines by stack, and their number.
#[derive(Debug, Clone, PartialEq)]
pub struct GoroutineProfile {
    /// Goroutines by stack (source [`GOROUTINES`]): objects are goroutines, bytes their
    /// stacks at [`GOROUTINE_STACK_BYTES`] each (a lower bound).
    pub sites: SitesReport,
    /// Goroutines alive.
    pub count: f64,
}

/// Decodes a goroutine profile (`/debug/pprof/goroutine`, the protobuf form), keeping the
/// `top` stacks by number of goroutines.
pub fn parse_goroutines(
    body: &[u8],
    top: usize,
    pid: i32,
    now: f64,
) -> Result<GoroutineProfile, String> {
    let mut raw = Vec::new();
    let p = decoded(body, &mut raw)?;
    let Some(i) = p.value_index("goroutine") else {
        let types: Vec<String> = p.sample_types.iter().map(|t| p.string(t.0)).collect();
        return Err(format!(
            "not a goroutine profile: sample types [{}], no goroutine",
            types.join(", ")
        ));
    };
    let mut by_stack: HashMap<&[u64], (f64, f64)> = HashMap::new();
    let mut count = 0.0;
    for s in &p.samples {
        let n = sample_value(s, i).max(0.0);
        count += n;
        let e = by_stack.entry(&s.locations).or_default();
        e.0 += n * GOROUTINE_STACK_BYTES;
        e.1 += n;
    }
    let mut sites = report_of(&p, by_stack, top, GOROUTINES, pid, now);
    sites.sampling_bytes = 0.0;
    Ok(GoroutineProfile { sites, count })
}

/// The frame written for the function that started a goroutine, outermost in its stack:
/// `created by main.serve (main.go:30)`.
pub const CREATED_BY: &str = "created by ";

/// From a goroutine dump (`/debug/pprof/goroutine?debug=2`, the traceback format), what
/// started the goroutines running each entry function: entry function -> `created by F
/// (file:line)`. Goroutines without a creator (the main goroutine) are left out; the first
/// creator seen for an entry function is kept.
pub fn goroutine_creators(dump: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for block in dump.split("\n\n") {
        let lines: Vec<&str> = block.lines().collect();
        let Some(at) = lines.iter().position(|l| l.starts_with(CREATED_BY)) else {
            continue;
        };
        // The entry function: the last call line before `created by` (calls alternate with
        // their `\tfile:line +0x..` lines).
        let entry = lines[..at]
            .iter()
            .rev()
            .find(|l| !l.starts_with('\t') && !l.starts_with("goroutine "))
            .map(|l| function_of_call(l));
        let creator = lines[at][CREATED_BY.len()..]
            .split(" in goroutine ")
            .next()
            .unwrap_or_default()
            .trim();
        let place = lines
            .get(at + 1)
            .map(|l| l.trim())
            .and_then(|l| l.split(' ').next())
            .and_then(|fl| {
                let (file, line) = fl.rsplit_once(':')?;
                Some(format!(
                    "{}:{line}",
                    file.rsplit('/').next().unwrap_or(file)
                ))
            });
        if let Some(entry) = entry.filter(|e| !e.is_empty() && !creator.is_empty()) {
            let mut frame = match place {
                Some(p) => format!("{CREATED_BY}{creator} ({p})"),
                None => format!("{CREATED_BY}{creator}"),
            };
            clip_frame(&mut frame);
            out.entry(entry.to_string()).or_insert(frame);
        }
    }
    out
}

/// `main.worker(0xc000010000, ...)` -> `main.worker`; `main.(*T).run(...)` -> `main.(*T).run`.
fn function_of_call(line: &str) -> &str {
    let line = line.trim();
    match line.rfind('(') {
        Some(i) if line.ends_with(')') => &line[..i],
        _ => line,
    }
}

/// A heap profile of tests/fixtures/go-leak (Go 1.19, MemProfileRate 16 KiB) after 12 s of its
/// load: `go tool pprof -top` puts main.rememberSession first with 1.68 MB of 1.88 MB in use.
#[cfg(test)]
const FIXTURE: &[u8] = include_bytes!("../fixtures/go-heap.pb.gz");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_a_real_go_heap_profile() {
        let h = parse_heap(FIXTURE, 200, 7, 0.0).unwrap();
        let top = &h.sites.sites[0];
        assert!(
            top.frames[0].starts_with("main.rememberSession (main.go:"),
            "{:?}",
            top.frames
        );
        assert!(top.frames[1].starts_with("main.main.func1 (main.go:"));
        // What `go tool pprof -top` printed (its MB are MiB), by function: 1.68 MB of 1.88 MB
        // at rememberSession, in two stacks (the 1 KiB slices, and the map's buckets).
        let in_function: f64 = h
            .sites
            .sites
            .iter()
            .filter(|s| s.frames[0].starts_with("main.rememberSession "))
            .map(|s| s.bytes)
            .sum();
        assert!(
            (in_function / 1048576.0 - 1.68).abs() < 0.01,
            "{in_function}"
        );
        assert!(
            (h.inuse_bytes / 1048576.0 - 1.88).abs() < 0.01,
            "{}",
            h.inuse_bytes
        );
        assert!(top.objects > 100.0);
        assert_eq!(h.sites.source, "go");
        assert_eq!(h.sites.sampling_bytes, 16384.0);
        assert!(h.sites.t > 1.7e9, "the profile's own time");
        let listed: f64 = h.sites.sites.iter().map(|s| s.bytes).sum();
        assert!((listed + h.sites.other_bytes - h.inuse_bytes).abs() < 1.0);
        assert!(h.alloc_bytes.unwrap() > h.inuse_bytes);
        crate::sites::check(&h.sites).unwrap();

        let one = parse_heap(FIXTURE, 1, 7, 0.0).unwrap();
        assert_eq!(one.sites.sites.len(), 1);
        assert!((one.sites.other_bytes - (h.inuse_bytes - top.bytes)).abs() < 1.0);
    }

    #[test]
    fn creators_of_goroutines_from_a_dump() {
        let dump = "goroutine 1 [running]:\nmain.main()\n\t/src/app/main.go:40 +0x65\n\n\
goroutine 7 [chan receive]:\nmain.wait(...)\n\t/src/app/main.go:12\nmain.worker(0xc000012345)\n\t/src/app/main.go:16 +0x2d\ncreated by main.serve\n\t/src/app/main.go:30 +0x5a\n\n\
goroutine 8 [select]:\nmain.(*Pool).loop(0xc00001)\n\t/src/app/pool.go:9 +0x1\ncreated by main.NewPool in goroutine 1\n\t/src/app/pool.go:3 +0x2\n";
        let c = goroutine_creators(dump);
        assert_eq!(c.len(), 2, "{c:?}");
        assert_eq!(c["main.worker"], "created by main.serve (main.go:30)");
        assert_eq!(
            c["main.(*Pool).loop"],
            "created by main.NewPool (pool.go:3)"
        );
    }

    #[test]
    fn rejects_what_is_not_a_heap_profile() {
        for (body, why) in [
            (&b"\x1f\x8bnot gzip"[..], "not a gzipped profile"),
            (b"\x0a\xff", "not a pprof profile"),
            (b"", "not a heap profile"),
            (b"heap profile: 1: 2 [3: 4] @ heap/1048576", "not a pprof"),
        ] {
            let e = parse_heap(body, 10, 1, 0.0).unwrap_err();
            assert!(e.starts_with(why), "{e}");
        }
    }
}

#[cfg(test)]
mod robustness {
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        /// Whatever an endpoint serves, decoding answers without panicking.
        #[test]
        fn any_body_is_handled(body in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = super::parse_heap(&body, 10, 1, 0.0);
        }

        /// A real profile with bytes flipped still decodes or fails cleanly.
        #[test]
        fn a_damaged_profile_is_handled(at in 0usize..4096, b in any::<u8>()) {
            let mut raw = Vec::new();
            use std::io::Read;
            flate2::read::GzDecoder::new(super::FIXTURE).read_to_end(&mut raw).unwrap();
            let i = at % raw.len();
            raw[i] = b;
            let _ = super::parse_heap(&raw, 10, 1, 0.0);
        }
    }
}
