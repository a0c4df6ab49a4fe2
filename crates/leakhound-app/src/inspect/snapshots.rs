//! `--retainers` for Node.js: heap snapshots of one process over its inspector, spaced in time,
//! and what holds the objects that survived between them (`leakhound_analysis::retainers`).
//!
//! A snapshot stops the process while V8 walks its heap and writes it out, and V8 needs memory
//! for the snapshot's graph while it does; leakhound then reads the file into columns. Before
//! each one the JS heap's size is read, the cost said, and the snapshot refused when
//! `MemAvailable` is below what it needs ([`needs`]).

use std::path::{Path, PathBuf};
use std::time::Instant;

use leakhound_analysis::retainers::{holders, max_heap_id, HeapGraph, Holder};
use leakhound_probe::available_memory;
use leakhound_probe::heapsnapshot::{read_file, HeapSnapshot, SnapshotRead};
use leakhound_report::units::format_bytes;

use super::conn::Conn;

/// Free memory the first snapshot of a process needs, as a multiple of its JS heap: measured
/// with Node 20 on 570 MiB of small objects (10 M), its peak RSS rose 8.5 GiB (15x) while V8
/// built and wrote the first snapshot (bench `retainers_cost`, README).
pub const FIRST_NEEDS_HEAP_TIMES: f64 = 16.0;
/// The same for the later snapshots of the process (2.0 and 2.7 GiB there: 4-5x).
pub const LATER_NEEDS_HEAP_TIMES: f64 = 5.0;

/// Free memory snapshot `k` (from 1) of a JS heap of `heap` bytes needs in the process;
/// leakhound then needs about 1.5 times the file (1.4 times the heap) to read it, later.
pub fn needs(heap: f64, k: usize) -> f64 {
    heap * if k <= 1 {
        FIRST_NEEDS_HEAP_TIMES
    } else {
        LATER_NEEDS_HEAP_TIMES
    }
}

/// Why snapshot `k` of process `pid` with a JS heap of `heap` bytes is refused when
/// `available` bytes are free, or `None` when it may be taken.
pub fn refusal(pid: i32, k: usize, heap: f64, available: Option<u64>) -> Option<String> {
    let need = needs(heap, k);
    let avail = available? as f64;
    (avail < need).then(|| {
        format!(
            "--retainers: no heap snapshot of pid {pid}: snapshot {k} of a {} JS heap needs about {} free (V8 builds the snapshot's graph in the process), and MemAvailable is {}",
            format_bytes(heap),
            format_bytes(need),
            format_bytes(avail)
        )
    })
}

/// Snapshots kept for a comparison: the first two date the objects, the last says which
/// survived.
pub const SNAPSHOTS: usize = 3;

/// The snapshots of one process.
pub struct Snapshots {
    dir: PathBuf,
    /// Whether the files stay (`--keep-snapshots`), else they are removed once read.
    keep: bool,
    /// Each snapshot taken: its file, V8's highest heap id in it, unix time.
    taken: Vec<(PathBuf, u32, f64)>,
    /// The process they are of.
    pid: Option<i32>,
}

/// A snapshot's columns as the analysis reads them.
pub fn graph(s: &HeapSnapshot) -> HeapGraph<'_> {
    HeapGraph {
        node_types: &s.node_types,
        edge_types: &s.edge_types,
        node_type: &s.node_type,
        node_name: &s.node_name,
        node_id: &s.node_id,
        self_size: &s.self_size,
        first_edge: &s.first_edge,
        edge_type: &s.edge_type,
        edge_name: &s.edge_name,
        edge_to: &s.edge_to,
        strings: &s.strings,
    }
}

/// The holders of the objects new between `files[0]` and `files[1]` still alive in the last
/// file (with two files: new since the first and alive in the second).
pub fn compare_files(files: &[&Path]) -> Result<Vec<Holder>, String> {
    let (first, last) = match files {
        [a, .., z] => (a, z),
        _ => return Err("a comparison needs two snapshots or three".into()),
    };
    let after = max_heap_id(&read_file(first, SnapshotRead::IdsOnly)?.node_id);
    let upto = if files.len() >= 3 {
        max_heap_id(&read_file(files[1], SnapshotRead::IdsOnly)?.node_id)
    } else {
        u32::MAX
    };
    let s = read_file(last, SnapshotRead::Graph)?;
    Ok(holders(&graph(&s), after, upto))
}

impl Snapshots {
    /// Snapshots written into `dir` (kept when `keep`).
    pub fn new(dir: PathBuf, keep: bool) -> Snapshots {
        Snapshots {
            dir,
            keep,
            taken: Vec::new(),
            pid: None,
        }
    }

    /// Forgets the snapshots taken: a new inspector session cannot be compared with them (V8
    /// clears its object ids when a session ends).
    pub fn restart(&mut self) {
        if !self.taken.is_empty() {
            eprintln!(
                "leakhound: --retainers: the inspector session was lost; the {} snapshot(s) taken before cannot be compared with later ones (V8 renumbers objects), starting over",
                self.taken.len()
            );
        }
        if !self.keep {
            for (p, _, _) in &self.taken {
                let _ = std::fs::remove_file(p);
            }
        }
        self.taken.clear();
    }

    /// How many were taken.
    pub fn count(&self) -> usize {
        self.taken.len()
    }

    /// Takes the next snapshot of `conn`'s process, after saying what it costs; `Err` says
    /// why none was taken.
    pub fn take(&mut self, conn: &mut Conn) -> Result<(), String> {
        let pid = conn.pid;
        self.pid = Some(pid);
        let (mem, _) = conn.memory()?;
        let heap = mem.heap_used;
        let k = self.taken.len() + 1;
        if let Some(why) = refusal(pid, k, heap, available_memory()) {
            return Err(why);
        }
        eprintln!(
            "leakhound: --retainers: heap snapshot {k} of pid {pid} (JS heap {}): the process pauses while V8 writes it (measured: 2 min for 570 MiB of small objects, seconds for tens of MiB) and needs about {} free",
            format_bytes(heap),
            format_bytes(needs(heap, k))
        );
        std::fs::create_dir_all(&self.dir).map_err(|e| format!("{}: {e}", self.dir.display()))?;
        let path = self.dir.join(format!("pid{pid}-{k}.heapsnapshot"));
        let file = std::fs::File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
        let started = Instant::now();
        let t = leakhound_time::unix_now();
        conn.snapshot(&mut out)?;
        std::io::Write::flush(&mut out).map_err(|e| format!("{}: {e}", path.display()))?;
        let took = started.elapsed().as_secs_f64();
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let max_id = if k < SNAPSHOTS {
            max_heap_id(&read_file(&path, SnapshotRead::IdsOnly)?.node_id)
        } else {
            0
        };
        eprintln!(
            "leakhound: --retainers: snapshot {k} took {took:.1} s ({} written{})",
            format_bytes(size as f64),
            if self.keep {
                format!(" to {}", path.display())
            } else {
                String::new()
            }
        );
        if k > 1 && k < SNAPSHOTS && max_id < self.taken[k - 2].1 {
            // Ids went down: V8 cleared them (another inspector session ended meanwhile).
            self.restart();
            eprintln!("leakhound: --retainers: V8 renumbered its objects since the last snapshot (an inspector session ended); this one is the first of a new comparison");
            let first = self.dir.join(format!("pid{pid}-1.heapsnapshot"));
            let _ = std::fs::rename(&path, &first);
            self.taken.push((first, max_id, t));
            return Ok(());
        }
        self.taken.push((path, max_id, t));
        Ok(())
    }

    /// The holders, from the snapshots taken (the last one just taken, when the process
    /// still runs). `Err` says why there are none.
    pub fn compare(&mut self) -> Result<Vec<Holder>, String> {
        let n = self.taken.len();
        if n < 2 {
            return Err(format!(
                "--retainers: {n} heap snapshot taken; a comparison needs two or three"
            ));
        }
        let started = Instant::now();
        let after = self.taken[0].1;
        let upto = if n >= 3 { self.taken[1].1 } else { u32::MAX };
        let last = &self.taken[n - 1].0;
        let s = read_file(last, SnapshotRead::Graph)?;
        if max_heap_id(&s.node_id) < after.max(if n >= 3 { upto } else { 0 }) {
            return Err("--retainers: V8 renumbered its objects between the snapshots (an inspector session ended meanwhile, a debugger's perhaps), so they cannot be compared".into());
        }
        let mut found = holders(&graph(&s), after, upto);
        drop(s);
        eprintln!(
            "leakhound: --retainers: compared {n} snapshots in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        for h in &mut found {
            h.source = "node".into();
            h.pid = self.pid;
        }
        Ok(found)
    }

    /// The snapshots' times, unix seconds.
    pub fn times(&self) -> Vec<f64> {
        self.taken.iter().map(|t| t.2).collect()
    }
}

impl Drop for Snapshots {
    fn drop(&mut self) {
        if !self.keep {
            for (p, _, _) in &self.taken {
                let _ = std::fs::remove_file(p);
            }
            let _ = std::fs::remove_dir(&self.dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_is_refused_when_memory_is_short() {
        let mib = 1048576.0;
        let gib = 1024.0 * mib;
        // The first snapshot of 600 MiB needs 9.4 GiB; later ones 2.9 GiB.
        assert_eq!(refusal(7, 1, 600.0 * mib, Some((20.0 * gib) as u64)), None);
        let why = refusal(7, 1, 600.0 * mib, Some((4.0 * gib) as u64)).unwrap();
        assert!(
            why.starts_with("--retainers: no heap snapshot of pid 7: snapshot 1 of a 600 MiB JS heap needs about 9.38 GiB free"),
            "{why}"
        );
        assert!(why.ends_with("MemAvailable is 4.00 GiB"), "{why}");
        assert_eq!(refusal(7, 2, 600.0 * mib, Some((4.0 * gib) as u64)), None);
        assert_eq!(
            refusal(7, 1, 600.0 * mib, None),
            None,
            "unknown: not refused"
        );
    }
}
