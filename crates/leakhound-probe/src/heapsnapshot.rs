//! V8 heap snapshots (`.heapsnapshot`, what `HeapProfiler.takeHeapSnapshot`,
//! `v8.writeHeapSnapshot` and DevTools write): a JSON object whose `nodes` and `edges` are flat
//! arrays of integers laid out as `snapshot.meta` says, and `strings` that names index.
//!
//! Read as a stream into columns (a byte and three 32-bit numbers per node and per edge), so a
//! snapshot of a 500 MiB heap costs leakhound a fraction of the file's size, not the tree of a
//! generic JSON value. [`SnapshotRead::IdsOnly`] keeps just the node ids (of the snapshots a
//! comparison needs only to date objects by).

use std::fmt;
use std::io::Read;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

/// A snapshot's graph, column by column.
#[derive(Debug, Clone, Default)]
pub struct HeapSnapshot {
    /// Names of node types (`hidden`, `array`, `string`, `object`, `closure`, ...).
    pub node_types: Vec<String>,
    /// Names of edge types (`context`, `element`, `property`, `internal`, `hidden`,
    /// `shortcut`, `weak`).
    pub edge_types: Vec<String>,
    /// Per node: its type (index into `node_types`).
    pub node_type: Vec<u8>,
    /// Per node: its name (index into `strings`).
    pub node_name: Vec<u32>,
    /// Per node: its id, stable across the snapshots of one process (V8 gives new objects
    /// higher ids).
    pub node_id: Vec<u32>,
    /// Per node: its own size, bytes.
    pub self_size: Vec<u32>,
    /// Per node: the index of its first edge; one more entry at the end (the edge count).
    pub first_edge: Vec<u32>,
    /// Per edge: its type (index into `edge_types`).
    pub edge_type: Vec<u8>,
    /// Per edge: its name (index into `strings`) or, for `element` and `hidden` edges, an
    /// index.
    pub edge_name: Vec<u32>,
    /// Per edge: the node it points to (node index, not array offset).
    pub edge_to: Vec<u32>,
    /// The string table.
    pub strings: Vec<String>,
}

impl HeapSnapshot {
    /// Number of nodes.
    pub fn nodes(&self) -> usize {
        self.node_id.len()
    }

    /// The highest node id: every object first seen after this snapshot gets a higher one.
    pub fn max_id(&self) -> u32 {
        self.node_id.iter().copied().max().unwrap_or(0)
    }
}

/// What to keep of a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotRead {
    /// Everything.
    Graph,
    /// Node ids (and sizes, types, names) only; edges and strings are skipped.
    IdsOnly,
}

#[derive(Debug, Deserialize)]
struct Meta {
    node_fields: Vec<String>,
    node_types: Vec<serde_json::Value>,
    edge_fields: Vec<String>,
    edge_types: Vec<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct Info {
    meta: Meta,
}

/// Where each needed field sits in a record.
#[derive(Debug, Clone, Copy)]
struct Layout {
    width: usize,
    a: usize,
    b: usize,
    c: usize,
    d: Option<usize>,
    e: Option<usize>,
}

fn position(fields: &[String], name: &str) -> Result<usize, String> {
    fields
        .iter()
        .position(|f| f == name)
        .ok_or_else(|| format!("snapshot.meta names no field {name:?}"))
}

fn type_names(v: &[serde_json::Value]) -> Vec<String> {
    v.first()
        .and_then(|t| t.as_array())
        .map(|a| {
            a.iter()
                .map(|s| s.as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

struct Reader<'s> {
    keep: SnapshotRead,
    out: &'s mut HeapSnapshot,
    nodes: Option<Layout>,
    edges: Option<Layout>,
    edge_counts: Vec<u32>,
}

/// Reads a flat array of integers into columns, `layout.width` at a time.
struct Columns<'r, 's> {
    reader: &'r mut Reader<'s>,
    nodes: bool,
}

impl<'de> DeserializeSeed<'de> for Columns<'_, '_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Columns<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of integers")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let r = self.reader;
        let layout = if self.nodes { r.nodes } else { r.edges }
            .ok_or_else(|| de::Error::custom("nodes or edges before snapshot.meta"))?;
        let mut rec = vec![0u64; layout.width];
        let mut i = 0usize;
        let narrow = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
        while let Some(v) = seq.next_element::<u64>()? {
            rec[i] = v;
            i += 1;
            if i < layout.width {
                continue;
            }
            i = 0;
            let o = &mut *r.out;
            if self.nodes {
                o.node_type.push(rec[layout.a].min(255) as u8);
                o.node_name.push(narrow(rec[layout.b]));
                o.node_id.push(narrow(rec[layout.c]));
                o.self_size.push(narrow(rec[layout.d.unwrap_or(0)]));
                r.edge_counts.push(narrow(rec[layout.e.unwrap_or(0)]));
            } else {
                o.edge_type.push(rec[layout.a].min(255) as u8);
                o.edge_name.push(narrow(rec[layout.b]));
                o.edge_to.push(narrow(
                    rec[layout.c] / r.nodes.map_or(1, |n| n.width) as u64,
                ));
            }
        }
        if i != 0 {
            return Err(de::Error::custom("a record is cut short"));
        }
        Ok(())
    }
}

impl<'de> Visitor<'de> for &mut Reader<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a heap snapshot object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "snapshot" => {
                    let info: Info = map.next_value()?;
                    let m = info.meta;
                    let nf = &m.node_fields;
                    let ef = &m.edge_fields;
                    let err = de::Error::custom;
                    self.nodes = Some(Layout {
                        width: nf.len(),
                        a: position(nf, "type").map_err(err)?,
                        b: position(nf, "name").map_err(err)?,
                        c: position(nf, "id").map_err(err)?,
                        d: Some(position(nf, "self_size").map_err(err)?),
                        e: Some(position(nf, "edge_count").map_err(err)?),
                    });
                    self.edges = Some(Layout {
                        width: ef.len(),
                        a: position(ef, "type").map_err(err)?,
                        b: position(ef, "name_or_index").map_err(err)?,
                        c: position(ef, "to_node").map_err(err)?,
                        d: None,
                        e: None,
                    });
                    self.out.node_types = type_names(&m.node_types);
                    self.out.edge_types = type_names(&m.edge_types);
                }
                "nodes" => map.next_value_seed(Columns {
                    reader: self,
                    nodes: true,
                })?,
                "edges" if self.keep == SnapshotRead::Graph => map.next_value_seed(Columns {
                    reader: self,
                    nodes: false,
                })?,
                "strings" if self.keep == SnapshotRead::Graph => {
                    self.out.strings = map.next_value()?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// Reads a `.heapsnapshot` from `input`.
pub fn read(input: impl Read, keep: SnapshotRead) -> Result<HeapSnapshot, String> {
    let mut out = HeapSnapshot::default();
    let mut reader = Reader {
        keep,
        out: &mut out,
        nodes: None,
        edges: None,
        edge_counts: Vec::new(),
    };
    let mut json =
        serde_json::Deserializer::from_reader(std::io::BufReader::with_capacity(1 << 20, input));
    de::Deserializer::deserialize_map(&mut json, &mut reader)
        .map_err(|e| format!("not a V8 heap snapshot: {e}"))?;
    let counts = std::mem::take(&mut reader.edge_counts);
    if reader.nodes.is_none() {
        return Err("not a V8 heap snapshot: no snapshot.meta".into());
    }
    let mut first = Vec::with_capacity(counts.len() + 1);
    let mut at = 0u64;
    for c in counts {
        first.push(u32::try_from(at).map_err(|_| "too many edges")?);
        at += c as u64;
    }
    first.push(u32::try_from(at).map_err(|_| "too many edges")?);
    out.first_edge = first;
    if keep == SnapshotRead::Graph {
        if at as usize != out.edge_to.len() {
            return Err(format!(
                "heap snapshot: nodes count {at} edges, the edges array holds {}",
                out.edge_to.len()
            ));
        }
        let n = out.node_id.len() as u32;
        if out.edge_to.iter().any(|&t| t >= n) {
            return Err("heap snapshot: an edge points past the last node".into());
        }
        let (nt, et) = (out.node_types.len(), out.edge_types.len());
        if out.node_type.iter().any(|&t| t as usize >= nt)
            || out.edge_type.iter().any(|&t| t as usize >= et)
        {
            return Err("heap snapshot: a node or edge type is not in snapshot.meta".into());
        }
        let s = out.strings.len() as u32;
        if out.node_name.iter().any(|&i| i >= s) {
            return Err("heap snapshot: a node's name is not in the string table".into());
        }
    }
    Ok(out)
}

/// Reads the `.heapsnapshot` file at `path`.
pub fn read_file(path: &std::path::Path, keep: SnapshotRead) -> Result<HeapSnapshot, String> {
    let f = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    read(f, keep).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three nodes (root, an Array named by property `visitors`, a string element) in Node 20's
    /// layout.
    pub(crate) const TINY: &str = r#"{"snapshot":{"meta":{"node_fields":["type","name","id","self_size","edge_count","trace_node_id","detachedness"],
"node_types":[["hidden","array","string","object","code","closure","regexp","number","native","synthetic","concatenated string","sliced string","symbol","bigint","object shape"],"string","number","number","number","number","number"],
"edge_fields":["type","name_or_index","to_node"],"edge_types":[["context","element","property","internal","hidden","shortcut","weak"],"string_or_number","node"],
"trace_function_info_fields":[],"trace_node_fields":[],"sample_fields":[],"location_fields":[]},"node_count":3,"edge_count":2,"trace_function_count":0},
"nodes":[9,0,1,0,1,0,0, 3,1,5,16,1,0,0, 2,2,7,1032,0,0,0],
"edges":[2,3,7, 1,0,14],
"trace_function_infos":[],"trace_tree":[],"samples":[],"locations":[],
"strings":["","Array","xxxx","visitors"]}"#;

    #[test]
    fn reads_columns() {
        let s = read(TINY.as_bytes(), SnapshotRead::Graph).unwrap();
        assert_eq!(s.nodes(), 3);
        assert_eq!(s.node_types[3], "object");
        assert_eq!(s.edge_types[6], "weak");
        assert_eq!(s.node_id, [1, 5, 7]);
        assert_eq!(s.self_size, [0, 16, 1032]);
        assert_eq!(s.first_edge, [0, 1, 2, 2]);
        assert_eq!(s.edge_to, [1, 2], "offsets become node indices");
        assert_eq!(s.strings[s.edge_name[0] as usize], "visitors");
        assert_eq!(s.max_id(), 7);
        let ids = read(TINY.as_bytes(), SnapshotRead::IdsOnly).unwrap();
        assert_eq!(ids.node_id, [1, 5, 7]);
        assert!(ids.edge_to.is_empty() && ids.strings.is_empty());
    }

    proptest::proptest! {
        #[test]
        fn any_input_is_read_or_refused(text in "[\\[\\]{}\":,0-9a-z_ ]{0,400}") {
            let _ = read(text.as_bytes(), SnapshotRead::Graph);
            let _ = read(text.as_bytes(), SnapshotRead::IdsOnly);
        }

        #[test]
        fn a_damaged_snapshot_is_read_or_refused(cut in 0usize..1200, byte in 0u8..128) {
            let mut b = TINY.as_bytes().to_vec();
            let at = cut.min(b.len() - 1);
            b[at] = byte;
            let _ = read(&b[..], SnapshotRead::Graph);
            let _ = read(&TINY.as_bytes()[..at], SnapshotRead::Graph);
        }
    }

    #[test]
    fn broken_snapshots_are_errors() {
        for bad in [
            "{}".to_string(),
            "[1,2]".to_string(),
            TINY.replace("\"edges\":[2,3,7, 1,0,14]", "\"edges\":[2,3,7]"),
            TINY.replace("1,0,14]", "1,0,70]"),
            TINY.replace("9,0,1,0,1,0,0,", "9,0,1,0,1,0,"),
            TINY.replace("9,0,1,0,1,0,0,", "99,0,1,0,1,0,0,"),
        ] {
            assert!(read(bad.as_bytes(), SnapshotRead::Graph).is_err(), "{bad}");
        }
    }
}
