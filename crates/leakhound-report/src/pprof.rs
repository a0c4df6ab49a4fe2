//! A [`SitesProfile`] as a pprof profile: gzipped `profile.proto`, written by hand (a few
//! dozen lines of protobuf writing instead of a code generator; the field numbers are
//! `leakhound-wire`'s, which the probe's reader of Go profiles uses too).
//!
//! Sample types, in this order: `leak_rate_per_day` (bytes per day; the one viewers show
//! first), `live_bytes` (bytes, at the end of the run) and `live_objects` (count). Each
//! distinct frame is a location with one line (function, file, line); each stack a sample with
//! the labels `verdict`, `source` and the run's own. One mapping, named after the program,
//! says that the locations are symbolized already.

use std::collections::HashMap;
use std::io::Write;

use leakhound_wire::pprof::{
    function, label, line, location, mapping, profile, sample, value_type,
};

use crate::profile::{split_frame, SitesProfile};

/// The sample types as (type, unit), in the order of each sample's values. The leak rate's
/// unit is bytes (per day, as its name says) so that viewers scale it (`54.8GB`) as they scale
/// sizes.
pub const SAMPLE_TYPES: [(&str, &str); 3] = [
    ("leak_rate_per_day", "bytes"),
    ("live_bytes", "bytes"),
    ("live_objects", "count"),
];

/// The id of the one mapping.
const MAPPING: u64 = 1;

/// What the profile's comments say about its values (`go tool pprof -comments`).
const NOTES: [&str; 2] = [
    "leak_rate_per_day: the growth of each stack's live bytes per day as leakhound judged it \
     (its point estimate; 0 when it does not grow; the verdict is the label `verdict`)",
    "live_bytes, live_objects: what each stack held at the run's last profile",
];

/// Protobuf writing: varints, keys, length-delimited fields.
mod wire {
    pub fn varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    /// A varint field; zero is the default and left out.
    pub fn uint(out: &mut Vec<u8>, field: u32, v: u64) {
        if v != 0 {
            varint(out, u64::from(field) << 3);
            varint(out, v);
        }
    }

    /// A length-delimited field (a string, a message, a packed run).
    pub fn bytes(out: &mut Vec<u8>, field: u32, b: &[u8]) {
        varint(out, (u64::from(field) << 3) | 2);
        varint(out, b.len() as u64);
        out.extend_from_slice(b);
    }

    /// A packed repeated varint field.
    pub fn packed(out: &mut Vec<u8>, field: u32, vs: &[u64]) {
        let mut run = Vec::with_capacity(vs.len() * 2);
        for v in vs {
            varint(&mut run, *v);
        }
        bytes(out, field, &run);
    }
}

/// The string table: index 0 is "", each string once.
#[derive(Default)]
struct Strings {
    table: Vec<String>,
    index: HashMap<String, u64>,
}

impl Strings {
    fn new() -> Strings {
        let mut s = Strings::default();
        s.id("");
        s
    }

    fn id(&mut self, s: &str) -> u64 {
        if let Some(i) = self.index.get(s) {
            return *i;
        }
        let i = self.table.len() as u64;
        self.table.push(s.to_string());
        self.index.insert(s.to_string(), i);
        i
    }
}

/// A value as pprof's int64: rounded, never negative.
fn count(v: f64) -> u64 {
    if v.is_finite() && v > 0.0 {
        v.round() as u64
    } else {
        0
    }
}

impl SitesProfile {
    /// The profile as `profile.proto`, gzipped (what `go tool pprof` reads).
    pub fn pprof(&self) -> Vec<u8> {
        let raw = self.pprof_message();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        // Writing into memory cannot fail.
        let _ = gz.write_all(&raw);
        gz.finish().unwrap_or_default()
    }

    /// The `Profile` message, not compressed.
    fn pprof_message(&self) -> Vec<u8> {
        let mut strings = Strings::new();
        let mut out = Vec::new();
        for (ty, unit) in SAMPLE_TYPES {
            let mut m = Vec::new();
            wire::uint(&mut m, value_type::TYPE, strings.id(ty));
            wire::uint(&mut m, value_type::UNIT, strings.id(unit));
            wire::bytes(&mut out, profile::SAMPLE_TYPE, &m);
        }
        let mut m = Vec::new();
        wire::uint(&mut m, mapping::ID, MAPPING);
        wire::uint(&mut m, mapping::FILENAME, strings.id(&self.program));
        for flag in [
            mapping::HAS_FUNCTIONS,
            mapping::HAS_FILENAMES,
            mapping::HAS_LINE_NUMBERS,
        ] {
            wire::uint(&mut m, flag, 1);
        }
        wire::bytes(&mut out, profile::MAPPING, &m);
        // Ids of functions by (name, file) and of locations by frame, from 1.
        let mut functions: HashMap<(String, String), u64> = HashMap::new();
        let mut locations: HashMap<&str, u64> = HashMap::new();
        let mut defs = Vec::new();
        for s in &self.stacks {
            let mut ids = Vec::with_capacity(s.frames.len());
            for frame in &s.frames {
                let next = locations.len() as u64 + 1;
                let id = *locations.entry(frame.as_str()).or_insert_with(|| {
                    let (name, file, line_no) = split_frame(frame);
                    let key = (name.to_string(), file.to_string());
                    let fid = match functions.get(&key) {
                        Some(f) => *f,
                        None => {
                            let f = functions.len() as u64 + 1;
                            let mut m = Vec::new();
                            wire::uint(&mut m, function::ID, f);
                            wire::uint(&mut m, function::NAME, strings.id(name));
                            wire::uint(&mut m, function::SYSTEM_NAME, strings.id(name));
                            wire::uint(&mut m, function::FILENAME, strings.id(file));
                            wire::bytes(&mut defs, profile::FUNCTION, &m);
                            functions.insert(key, f);
                            f
                        }
                    };
                    let mut l = Vec::new();
                    wire::uint(&mut l, line::FUNCTION_ID, fid);
                    wire::uint(&mut l, line::LINE, line_no.max(0) as u64);
                    let mut m = Vec::new();
                    wire::uint(&mut m, location::ID, next);
                    wire::uint(&mut m, location::MAPPING_ID, MAPPING);
                    wire::bytes(&mut m, location::LINE, &l);
                    wire::bytes(&mut defs, profile::LOCATION, &m);
                    next
                });
                ids.push(id);
            }
            let mut m = Vec::new();
            wire::packed(&mut m, sample::LOCATION_ID, &ids);
            let values = [count(s.leak_rate), count(s.live_bytes), count(s.objects)];
            wire::packed(&mut m, sample::VALUE, &values);
            for (k, v) in &s.labels {
                let mut l = Vec::new();
                wire::uint(&mut l, label::KEY, strings.id(k));
                wire::uint(&mut l, label::STR, strings.id(v));
                wire::bytes(&mut m, sample::LABEL, &l);
            }
            wire::bytes(&mut out, profile::SAMPLE, &m);
        }
        out.extend_from_slice(&defs);
        wire::uint(&mut out, profile::TIME_NANOS, count(self.start * 1e9));
        wire::uint(
            &mut out,
            profile::DURATION_NANOS,
            count((self.end - self.start) * 1e9),
        );
        for c in std::iter::once(self.title.as_str())
            .filter(|t| !t.is_empty())
            .chain(NOTES)
        {
            wire::uint(&mut out, profile::COMMENT, strings.id(c));
        }
        wire::uint(
            &mut out,
            profile::DEFAULT_SAMPLE_TYPE,
            strings.id(SAMPLE_TYPES[0].0),
        );
        for s in &strings.table {
            wire::bytes(&mut out, profile::STRING_TABLE, s.as_bytes());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::ProfileStack;
    use std::io::Read;

    /// A field's value: a varint, or the bytes of a length-delimited field.
    #[derive(Debug, Clone, PartialEq)]
    enum V {
        Int(u64),
        Bytes(Vec<u8>),
    }

    impl V {
        fn int(&self) -> u64 {
            match self {
                V::Int(v) => *v,
                V::Bytes(_) => panic!("not a varint"),
            }
        }
        fn bytes(&self) -> &[u8] {
            match self {
                V::Bytes(b) => b,
                V::Int(_) => panic!("not bytes"),
            }
        }
    }

    type Message = Vec<(u32, V)>;

    fn read_varint(b: &mut &[u8]) -> u64 {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let x = b[0];
            *b = &b[1..];
            v |= u64::from(x & 0x7f) << shift;
            if x & 0x80 == 0 {
                break;
            }
        }
        v
    }

    /// The fields of one message: enough of a reader to check what the writer wrote.
    fn fields(mut b: &[u8]) -> Message {
        let mut out = Vec::new();
        while !b.is_empty() {
            let key = read_varint(&mut b);
            let n = (key >> 3) as u32;
            if key & 7 == 2 {
                let len = read_varint(&mut b) as usize;
                out.push((n, V::Bytes(b[..len].to_vec())));
                b = &b[len..];
            } else {
                out.push((n, V::Int(read_varint(&mut b))));
            }
        }
        out
    }

    fn packed(mut b: &[u8]) -> Vec<u64> {
        let mut out = Vec::new();
        while !b.is_empty() {
            out.push(read_varint(&mut b));
        }
        out
    }

    #[test]
    fn varints_are_little_endian_groups_of_seven_bits() {
        for (v, want) in [
            (0u64, vec![0u8]),
            (1, vec![1]),
            (127, vec![0x7f]),
            (128, vec![0x80, 0x01]),
            (300, vec![0xac, 0x02]),
            (
                u64::MAX,
                vec![0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
            ),
        ] {
            let mut out = Vec::new();
            wire::varint(&mut out, v);
            assert_eq!(out, want, "{v}");
            assert_eq!(read_varint(&mut &out[..]), v);
        }
    }

    #[test]
    fn a_profile_names_its_stacks_functions_and_values() {
        let stack = |frames: &[&str], rate: f64| ProfileStack {
            frames: frames.iter().map(|f| f.to_string()).collect(),
            live_bytes: 1000.0,
            leak_rate: rate,
            objects: 3.0,
            labels: vec![("verdict".into(), "leak".into())],
        };
        let p = SitesProfile {
            stacks: vec![
                stack(&["leak_one (sites.c:23)", "main (sites.c:78)"], 5.5e9),
                stack(&["leak_one (sites.c:24)", "main (sites.c:78)"], -3.0),
            ],
            start: 1.7e9,
            end: 1.7e9 + 60.0,
            title: "leakhound run 1".into(),
            program: "./sites".into(),
        };
        let mut raw = Vec::new();
        flate2::read::GzDecoder::new(&p.pprof()[..])
            .read_to_end(&mut raw)
            .unwrap();
        assert_eq!(raw, p.pprof_message(), "gzip of the message");
        let f = fields(&raw);
        let strings: Vec<String> = f
            .iter()
            .filter(|(n, _)| *n == profile::STRING_TABLE)
            .map(|(_, v)| String::from_utf8(v.bytes().to_vec()).unwrap())
            .collect();
        assert_eq!(strings[0], "");
        let s = |v: &V| strings[v.int() as usize].as_str();
        let of = |n: u32| -> Vec<Message> {
            f.iter()
                .filter(|(k, _)| *k == n)
                .map(|(_, v)| fields(v.bytes()))
                .collect()
        };
        let one = |n: u32| &f.iter().find(|(k, _)| *k == n).unwrap().1;
        let types: Vec<(&str, &str)> = of(profile::SAMPLE_TYPE)
            .iter()
            .map(|m| (s(&m[0].1), s(&m[1].1)))
            .collect();
        assert_eq!(types, SAMPLE_TYPES);
        assert_eq!(s(one(profile::DEFAULT_SAMPLE_TYPE)), "leak_rate_per_day");
        let mapping = &of(profile::MAPPING)[0];
        assert_eq!(
            mapping[1],
            (
                mapping::FILENAME,
                V::Int(strings.iter().position(|x| x == "./sites").unwrap() as u64)
            )
        );
        // Two functions (one per name and file), three locations (one per frame).
        let names: Vec<&str> = of(profile::FUNCTION).iter().map(|m| s(&m[1].1)).collect();
        assert_eq!(names, ["leak_one", "main"]);
        let locations = of(profile::LOCATION);
        assert_eq!(locations.len(), 3);
        assert_eq!(locations[0][1], (location::MAPPING_ID, V::Int(MAPPING)));
        let line = fields(locations[0][2].1.bytes());
        assert_eq!(
            line,
            [(line::FUNCTION_ID, V::Int(1)), (line::LINE, V::Int(23))]
        );
        let samples = of(profile::SAMPLE);
        assert_eq!(samples.len(), 2);
        assert_eq!(packed(samples[0][0].1.bytes()), [1, 2]);
        assert_eq!(packed(samples[1][0].1.bytes()), [3, 2]);
        assert_eq!(packed(samples[0][1].1.bytes()), [5_500_000_000, 1000, 3]);
        assert_eq!(
            packed(samples[1][1].1.bytes()),
            [0, 1000, 3],
            "a shrinking stack has no leak rate"
        );
        let label = fields(samples[0][2].1.bytes());
        assert_eq!((s(&label[0].1), s(&label[1].1)), ("verdict", "leak"));
        assert_eq!(one(profile::DURATION_NANOS), &V::Int(60_000_000_000));
        let comments: Vec<&str> = f
            .iter()
            .filter(|(n, _)| *n == profile::COMMENT)
            .map(|(_, v)| s(v))
            .collect();
        assert_eq!(comments[0], "leakhound run 1");
    }
}
