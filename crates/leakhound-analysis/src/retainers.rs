//! Who holds the memory: objects that a heap grew by, grouped by what keeps them alive.
//!
//! memlab's approach on V8 heap snapshots of one process (node ids are stable within it and
//! new objects get higher ids): the objects first seen in the second snapshot (ids above the
//! first's highest, up to the second's) that are still alive in the last were allocated in
//! between and survived; a working set that turns over does not. Each such object's shortest
//! path from a GC root (weak edges excluded) is walked back to the first object that is not
//! itself new and that a program names (an object, a closure; not V8's internal arrays,
//! contexts or maps): the **holder**, the `visitors` array, the `Map`, the listener list, the
//! timer list. Objects are grouped by the holder's own path, described from the holder toward
//! the root ("`visitors` (Array)" <- "module server.js"), each group with the bytes and the
//! number of the new objects it holds. With two snapshots, every object new since the first
//! and alive at the second counts, turnover included.
//!
//! The graph is plain columns (a heap snapshot's, see `leakhound-probe`'s `heapsnapshot`).

use std::collections::{HashMap, VecDeque};

/// A heap graph, column by column (node and edge types index `node_types` and `edge_types`,
/// names index `strings`, except `element` and `hidden` edges, whose name is an index).
#[derive(Debug, Clone, Copy)]
pub struct HeapGraph<'a> {
    /// Names of node types.
    pub node_types: &'a [String],
    /// Names of edge types.
    pub edge_types: &'a [String],
    /// Per node: type.
    pub node_type: &'a [u8],
    /// Per node: name.
    pub node_name: &'a [u32],
    /// Per node: id.
    pub node_id: &'a [u32],
    /// Per node: own size, bytes.
    pub self_size: &'a [u32],
    /// Per node: index of its first edge, and one more entry at the end.
    pub first_edge: &'a [u32],
    /// Per edge: type.
    pub edge_type: &'a [u8],
    /// Per edge: name or index.
    pub edge_name: &'a [u32],
    /// Per edge: the node it points to.
    pub edge_to: &'a [u32],
    /// String table.
    pub strings: &'a [String],
}

/// What keeps some of the new objects alive.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Holder {
    /// The holder, then what holds it, toward a GC root, e.g. `["visitors (Array)", "module
    /// server.js"]`. The same shape serves every runtime (a JVM's or Python's referrer chain).
    pub path: Vec<String>,
    /// Bytes of the new objects it holds (their own sizes).
    pub bytes: f64,
    /// Number of the new objects it holds.
    pub objects: f64,
    /// The runtime that saw it: `node`, `jvm`, `python`.
    #[serde(default)]
    pub source: String,
    /// The process, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
}

/// Most holders kept per comparison.
pub const MAX_HOLDERS: usize = 10;
/// Most steps of a holder's path described.
const MAX_PATH: usize = 6;
/// Fewest new objects a holder must hold to be named, unless it holds 5% of the new bytes.
const MIN_OBJECTS: f64 = 10.0;
/// Most holders described before those with the same description are merged.
const DESCRIBED: usize = 64;

/// The roles of node and edge types by name.
struct Kinds {
    weak: Option<u8>,
    element: Option<u8>,
    hidden_edge: Option<u8>,
    internal: Option<u8>,
    named: Vec<bool>,
    counted: Vec<bool>,
    closure: Option<u8>,
    synthetic: Option<u8>,
    context: Option<u8>,
    property: Option<u8>,
}

impl Kinds {
    fn of(g: &HeapGraph) -> Kinds {
        let edge = |n: &str| g.edge_types.iter().position(|t| t == n).map(|i| i as u8);
        let node = |n: &str| g.node_types.iter().position(|t| t == n).map(|i| i as u8);
        Kinds {
            weak: edge("weak"),
            element: edge("element"),
            hidden_edge: edge("hidden"),
            internal: edge("internal"),
            // What a program names: its objects and functions (and embedder objects).
            named: g
                .node_types
                .iter()
                .map(|t| matches!(t.as_str(), "object" | "closure" | "regexp" | "native"))
                .collect(),
            // What counts as memory the program allocated: not roots, code or maps.
            counted: g
                .node_types
                .iter()
                .map(|t| !matches!(t.as_str(), "synthetic" | "code" | "object shape"))
                .collect(),
            closure: node("closure"),
            synthetic: node("synthetic"),
            context: edge("context"),
            property: edge("property"),
        }
    }

    fn synthetic(&self, g: &HeapGraph, n: usize) -> bool {
        Some(g.node_type[n]) == self.synthetic
    }
}

impl<'a> HeapGraph<'a> {
    fn nodes(&self) -> usize {
        self.node_id.len()
    }

    fn edges(&self, n: usize) -> std::ops::Range<usize> {
        self.first_edge[n] as usize..self.first_edge[n + 1] as usize
    }

    fn name(&self, n: usize) -> &'a str {
        self.strings
            .get(self.node_name[n] as usize)
            .map_or("", String::as_str)
    }

    fn edge_label(&self, e: usize, k: &Kinds) -> String {
        let t = Some(self.edge_type[e]);
        if t == k.element || t == k.hidden_edge {
            format!("[{}]", self.edge_name[e])
        } else {
            self.strings
                .get(self.edge_name[e] as usize)
                .cloned()
                .unwrap_or_default()
        }
    }

    /// The node that edge `name` (internal) of `n` points to.
    fn internal(&self, n: usize, name: &str, k: &Kinds) -> Option<usize> {
        self.edges(n)
            .find(|&e| {
                Some(self.edge_type[e]) == k.internal
                    && self
                        .strings
                        .get(self.edge_name[e] as usize)
                        .map(String::as_str)
                        == Some(name)
            })
            .map(|e| self.edge_to[e] as usize)
    }
}

/// The highest id V8 gave a heap object in a snapshot with these node ids. Heap objects have
/// odd ids from one counter; embedder (`Node / ...`) nodes have ids of other origin and are
/// left out.
pub fn max_heap_id(ids: &[u32]) -> u32 {
    ids.iter()
        .copied()
        .filter(|i| i % 2 == 1)
        .max()
        .unwrap_or(0)
}

/// Breadth-first from node 0 (the snapshot's root) over non-weak edges: each reachable node's
/// parent and the edge from it (`u32::MAX` for none).
fn shortest_paths(g: &HeapGraph, k: &Kinds) -> (Vec<u32>, Vec<u32>) {
    let n = g.nodes();
    let mut parent = vec![u32::MAX; n];
    let mut via = vec![u32::MAX; n];
    if n == 0 {
        return (parent, via);
    }
    parent[0] = 0;
    // As DevTools does: what the program's global objects reach first, then what only the
    // engine's roots (handles, stacks, caches) reach.
    let mut queue = VecDeque::new();
    for user_roots in [true, false] {
        for e in g.edges(0) {
            let v = g.edge_to[e] as usize;
            if k.synthetic(g, v) == user_roots || parent[v] != u32::MAX {
                continue;
            }
            parent[v] = 0;
            via[v] = e as u32;
            queue.push_back(v);
        }
        while let Some(u) = queue.pop_front() {
            for e in g.edges(u) {
                if Some(g.edge_type[e]) == k.weak {
                    continue;
                }
                let v = g.edge_to[e] as usize;
                if parent[v] == u32::MAX {
                    parent[v] = u as u32;
                    via[v] = e as u32;
                    queue.push_back(v);
                }
            }
        }
    }
    (parent, via)
}

/// Whether `h` is inside a linked list (timers, queues) of its class: reached by the same edge
/// it leads on to `below`, one of its kind. Such a list is held by what holds its ends.
fn linked(g: &HeapGraph, k: &Kinds, parent: &[u32], via: &[u32], below: usize, h: usize) -> bool {
    let p = parent[h] as usize;
    if below == h || p == h || via[below] == u32::MAX || via[h] == u32::MAX {
        return false;
    }
    let same =
        |a: usize, b: usize| g.node_name[a] == g.node_name[b] && g.node_type[a] == g.node_type[b];
    same(below, h) && g.edge_label(via[below] as usize, k) == g.edge_label(via[h] as usize, k)
}

/// The new objects of the last snapshot `g` grouped by their holders: those with heap ids in
/// `(after, upto]` (first seen between the first two snapshots; `upto` = `u32::MAX` with two
/// snapshots). The largest [`MAX_HOLDERS`] groups, by bytes.
pub fn holders(g: &HeapGraph, after: u32, upto: u32) -> Vec<Holder> {
    let k = Kinds::of(g);
    let (parent, via) = shortest_paths(g, &k);
    let is_new = |n: usize| {
        let id = g.node_id[n];
        id % 2 == 1 && id > after && id <= upto
    };
    let mut groups: HashMap<usize, (f64, f64)> = HashMap::new();
    for n in 0..g.nodes() {
        if !is_new(n) || parent[n] == u32::MAX || !k.counted[g.node_type[n] as usize] {
            continue;
        }
        // Up the shortest path to the first old object a program names.
        let mut h = n;
        let mut below = n;
        let mut steps = 0;
        while h != 0
            && (is_new(h)
                || !k.named[g.node_type[h] as usize]
                || linked(g, &k, &parent, &via, below, h))
            && steps < 100_000
        {
            below = h;
            h = parent[h] as usize;
            steps += 1;
        }
        if h == 0 {
            continue;
        }
        let e = groups.entry(h).or_insert((0.0, 0.0));
        e.0 += g.self_size[n] as f64;
        e.1 += 1.0;
    }
    // The largest holders are described; holders with the same description (one role in many
    // instances) are one.
    let mut groups: Vec<(usize, (f64, f64))> = groups.into_iter().collect();
    groups.sort_by(|a, b| b.1 .0.total_cmp(&a.1 .0).then(a.0.cmp(&b.0)));
    groups.truncate(DESCRIBED);
    let ways = naming_paths(g, &k, &parent, &via, groups.iter().map(|g| g.0).collect());
    let mut by_path: HashMap<Vec<String>, (f64, f64)> = HashMap::new();
    for ((_, (bytes, objects)), steps) in groups.into_iter().zip(ways) {
        let e = by_path.entry(describe(g, &k, &steps)).or_insert((0.0, 0.0));
        e.0 += bytes;
        e.1 += objects;
    }
    let mut out: Vec<Holder> = by_path
        .into_iter()
        .map(|(path, (bytes, objects))| Holder {
            path,
            bytes,
            objects,
            source: String::new(),
            pid: None,
        })
        .collect();
    out.sort_by(|a, b| {
        b.bytes
            .total_cmp(&a.bytes)
            .then_with(|| a.path.cmp(&b.path))
    });
    // A holder of a handful of objects is the program's own bookkeeping, not a leak's.
    let total: f64 = out.iter().map(|h| h.bytes).sum();
    out.retain(|h| h.objects >= MIN_OBJECTS || h.bytes >= 0.05 * total);
    out.truncate(MAX_HOLDERS);
    out
}

/// A short name of a script path: the file name and its directory.
fn short_script(path: &str) -> String {
    let p = path.strip_prefix("file://").unwrap_or(path);
    let parts: Vec<&str> = p.rsplitn(3, '/').collect();
    match parts.as_slice() {
        [file, dir, ..] if !dir.is_empty() => format!("{dir}/{file}"),
        [file, ..] => file.to_string(),
        _ => p.to_string(),
    }
}

/// The script a closure's code belongs to.
fn script_of(g: &HeapGraph, k: &Kinds, closure: usize) -> Option<String> {
    let shared = g.internal(closure, "shared", k)?;
    let script = g
        .internal(shared, "script_or_debug_info", k)
        .or_else(|| g.internal(shared, "script", k))?;
    let name = g.name(script);
    (!name.is_empty()).then(|| name.to_string())
}

/// What a V8 context is, in words: "module server.js" for a script's top level, "closure
/// `f` (server.js)" for a function's.
fn describe_context(g: &HeapGraph, k: &Kinds, ctx: usize) -> String {
    // A closure whose `context` is this one names it; scanning the edges once per holder is
    // enough (holders are few).
    let mut closure = None;
    for n in 0..g.nodes() {
        if Some(g.node_type[n]) != k.closure {
            continue;
        }
        if g.internal(n, "context", k) == Some(ctx) {
            closure = Some(n);
            break;
        }
    }
    let top = g
        .internal(ctx, "previous", k)
        .is_some_and(|p| g.name(p).contains("NativeContext"));
    let script = closure
        .and_then(|c| script_of(g, k, c))
        .map(|s| short_script(&s));
    match (top, script, closure) {
        (true, Some(s), _) => format!("module {s}"),
        (false, Some(s), Some(c)) => format!("closure {} ({s})", fn_name(g.name(c))),
        (_, None, Some(c)) => format!("closure {}", fn_name(g.name(c))),
        _ => "a context".into(),
    }
}

fn fn_name(n: &str) -> &str {
    if n.is_empty() {
        "(anonymous)"
    } else {
        n
    }
}

/// A node's class in words: `Array`, `Map`, `function onRequest`.
fn class_of(g: &HeapGraph, k: &Kinds, n: usize) -> String {
    if Some(g.node_type[n]) == k.closure {
        format!("function {}", fn_name(g.name(n)))
    } else {
        let name = g.name(n);
        // Embedder and system names are long; objects' names are their constructors.
        let short: String = name.chars().take(60).collect();
        short
    }
}

/// How well edge `e` from `u` names what it points to: a variable of a context best, then a
/// property or an element of an object, then any other edge of the heap, an engine root last.
fn naming_rank(g: &HeapGraph, k: &Kinds, u: usize, e: usize) -> u8 {
    let t = Some(g.edge_type[e]);
    if t == k.context {
        0
    } else if (t == k.property || t == k.element) && k.named[g.node_type[u] as usize] {
        1
    } else if k.synthetic(g, u) {
        3
    } else {
        2
    }
}

/// For each holder, its steps toward a root: (node, the edge that reaches it from the next
/// step). Each step goes up the edge that names the node best (a variable, a property)
/// rather than only the shortest path's, which may run through an engine root such as a
/// handle scope; ties go to the shortest path. One pass over the edges per level.
fn naming_paths(
    g: &HeapGraph,
    k: &Kinds,
    parent: &[u32],
    via: &[u32],
    holders: Vec<usize>,
) -> Vec<Vec<(usize, usize)>> {
    let n = g.nodes();
    let mut paths: Vec<Vec<(usize, usize)>> = holders
        .iter()
        .map(|&h| vec![(h, via[h] as usize)])
        .collect();
    let mut wanted = vec![false; n];
    for _ in 0..MAX_PATH {
        let tips: Vec<usize> = paths
            .iter()
            .filter_map(|p| p.last().map(|s| s.0))
            .filter(|&t| t != 0 && g.name(t) != "system / Context" && !k.synthetic(g, t))
            .collect();
        if tips.is_empty() {
            break;
        }
        for &t in &tips {
            wanted[t] = true;
        }
        // Best (rank, not the shortest path's, from, edge) per wanted node.
        let mut best: HashMap<usize, (u8, bool, usize, usize)> = HashMap::new();
        for u in 0..n {
            if parent[u] == u32::MAX {
                continue;
            }
            for e in g.edges(u) {
                let v = g.edge_to[e] as usize;
                if !wanted[v] || Some(g.edge_type[e]) == k.weak || u == v {
                    continue;
                }
                let cand = (naming_rank(g, k, u, e), parent[v] as usize != u, u, e);
                let b = best.entry(v).or_insert(cand);
                if (cand.0, cand.1) < (b.0, b.1) {
                    *b = cand;
                }
            }
        }
        for &t in &tips {
            wanted[t] = false;
        }
        for p in &mut paths {
            let Some(&(tip, _)) = p.last() else { continue };
            if !tips.contains(&tip) {
                continue;
            }
            // The chosen edge reaches `tip`; the step above it is its source.
            let (from, edge) = match best.get(&tip) {
                Some(&(_, _, u, e)) if !p.iter().any(|s| s.0 == u) => (u, e),
                _ => (parent[tip] as usize, via[tip] as usize),
            };
            let last = p.len() - 1;
            p[last].1 = edge;
            p.push((from, via[from] as usize));
        }
    }
    paths
}

/// A holder's path in words: each named step as `edge (Class)`, then the context, global or
/// root it ends at.
fn describe(g: &HeapGraph, k: &Kinds, steps: &[(usize, usize)]) -> Vec<String> {
    let mut out = Vec::new();
    for &(n, edge) in steps {
        if n == 0 {
            break;
        }
        let name = g.name(n);
        if name == "system / Context" {
            out.push(describe_context(g, k, n));
            break;
        }
        if k.synthetic(g, n) {
            out.push(if name.is_empty() {
                "a GC root".into()
            } else {
                name.to_string()
            });
            break;
        }
        if name.starts_with("global") {
            out.push("global".into());
            break;
        }
        if k.named[g.node_type[n] as usize] && edge != u32::MAX as usize {
            out.push(format!("{} ({})", g.edge_label(edge, k), class_of(g, k, n)));
        }
        if out.len() >= MAX_PATH {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Owned columns for a hand-made graph.
    struct Built {
        node_types: Vec<String>,
        edge_types: Vec<String>,
        node_type: Vec<u8>,
        node_name: Vec<u32>,
        node_id: Vec<u32>,
        self_size: Vec<u32>,
        first_edge: Vec<u32>,
        edge_type: Vec<u8>,
        edge_name: Vec<u32>,
        edge_to: Vec<u32>,
        strings: Vec<String>,
    }

    impl Built {
        fn graph(&self) -> HeapGraph<'_> {
            HeapGraph {
                node_types: &self.node_types,
                edge_types: &self.edge_types,
                node_type: &self.node_type,
                node_name: &self.node_name,
                node_id: &self.node_id,
                self_size: &self.self_size,
                first_edge: &self.first_edge,
                edge_type: &self.edge_type,
                edge_name: &self.edge_name,
                edge_to: &self.edge_to,
                strings: &self.strings,
            }
        }
    }

    /// Builds a graph: nodes (type, name, id, size) and edges (from, type, name, to).
    fn build(nodes: &[(&str, &str, u32, u32)], edges: &[(usize, &str, &str, usize)]) -> Built {
        let node_types: Vec<String> = [
            "hidden",
            "array",
            "string",
            "object",
            "code",
            "closure",
            "regexp",
            "number",
            "native",
            "synthetic",
        ]
        .map(String::from)
        .to_vec();
        let edge_types: Vec<String> = [
            "context", "element", "property", "internal", "hidden", "shortcut", "weak",
        ]
        .map(String::from)
        .to_vec();
        let mut strings: Vec<String> = vec![String::new()];
        let mut intern = |s: &str| -> u32 {
            if let Some(i) = strings.iter().position(|x| x == s) {
                return i as u32;
            }
            strings.push(s.to_string());
            (strings.len() - 1) as u32
        };
        let ti = |t: &str, all: &[String]| all.iter().position(|x| x == t).unwrap() as u8;
        let mut b = Built {
            node_type: nodes.iter().map(|n| ti(n.0, &node_types)).collect(),
            node_name: nodes.iter().map(|n| intern(n.1)).collect(),
            node_id: nodes.iter().map(|n| n.2).collect(),
            self_size: nodes.iter().map(|n| n.3).collect(),
            first_edge: Vec::new(),
            edge_type: Vec::new(),
            edge_name: Vec::new(),
            edge_to: Vec::new(),
            strings: Vec::new(),
            node_types: node_types.clone(),
            edge_types: edge_types.clone(),
        };
        let mut at = 0;
        for n in 0..nodes.len() {
            b.first_edge.push(at);
            for e in edges.iter().filter(|e| e.0 == n) {
                b.edge_type.push(ti(e.1, &edge_types));
                b.edge_name.push(if e.1 == "element" || e.1 == "hidden" {
                    e.2.parse().unwrap()
                } else {
                    intern(e.2)
                });
                b.edge_to.push(e.3 as u32);
                at += 1;
            }
        }
        b.first_edge.push(at);
        b.strings = strings;
        b
    }

    /// A module-level array `visitors` holding new objects (and their strings), a Map `cache`
    /// holding old ones, a new object reachable only through a weak edge, and a module context
    /// named by its closure's script.
    fn heap() -> Built {
        build(
            &[
                ("synthetic", "", 1, 0),                       // 0 root
                ("synthetic", "(GC roots)", 3, 0),             // 1
                ("hidden", "system / Context", 11, 40),        // 2 module context
                ("hidden", "system / NativeContext", 13, 400), // 3
                ("closure", "rememberVisitor", 15, 32),        // 4
                ("code", "rememberVisitor", 17, 64),           // 5 shared info
                ("code", "/srv/app/server.js", 19, 100),       // 6 script
                ("object", "Array", 21, 32),                   // 7 visitors
                ("array", "(object elements)", 101, 4096),     // 8 its new backing store
                ("object", "Object", 103, 56),                 // 9 new visitor
                ("string", "xxxx", 105, 1032),                 // 10 its string
                ("object", "Object", 107, 56),                 // 11 new visitor
                ("object", "Map", 23, 32),                     // 12 cache (old)
                ("object", "Object", 25, 56),                  // 13 old entry
                ("object", "Object", 109, 999),                // 14 new, weakly held
                ("object", "Object", 201, 56),                 // 15 newer than snapshot 2
            ],
            &[
                (0, "element", "1", 1),
                (1, "element", "1", 4),
                (1, "weak", "w", 14),
                (4, "internal", "context", 2),
                (4, "internal", "shared", 5),
                (5, "internal", "script_or_debug_info", 6),
                (2, "internal", "previous", 3),
                (2, "context", "visitors", 7),
                (2, "context", "cache", 12),
                (7, "internal", "elements", 8),
                (8, "element", "0", 9),
                (8, "element", "1", 11),
                (8, "element", "2", 15),
                (9, "property", "pad", 10),
                (12, "internal", "table", 13),
            ],
        )
    }

    #[test]
    fn new_objects_are_grouped_by_their_holder() {
        let b = heap();
        let h = holders(&b.graph(), 100, 200);
        assert_eq!(h.len(), 1, "{h:?}");
        assert_eq!(h[0].path, ["visitors (Array)", "module app/server.js"]);
        // The backing store, two visitors and a string; not the weakly held object, not the
        // one first seen after the second snapshot, not the Map's old entry.
        assert_eq!(h[0].objects, 4.0);
        assert_eq!(h[0].bytes, 4096.0 + 56.0 + 1032.0 + 56.0);
        // With two snapshots, everything new since the first counts.
        let h = holders(&b.graph(), 100, u32::MAX);
        assert_eq!(h[0].objects, 5.0);
    }

    #[test]
    fn heap_ids_are_the_odd_ones() {
        assert_eq!(max_heap_id(&[1, 3, 2_000_000_000, 77]), 77);
        assert_eq!(max_heap_id(&[]), 0);
        assert_eq!(short_script("file:///a/b/c.js"), "b/c.js");
        assert_eq!(short_script("node:internal/timers"), "node:internal/timers");
    }
}
