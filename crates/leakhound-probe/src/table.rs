//! A snapshot of the process table, and the relations leakhound needs from it: descendants of a
//! root process, and processes whose name or command line matches a pattern.

use std::collections::{HashMap, HashSet};

use crate::ProbeError;

/// Identity of one process: its pid and its start time (clock ticks after boot). Two processes
/// with the same pid but different start times are different processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProcKey {
    /// Process id.
    pub pid: i32,
    /// Start time in clock ticks since boot (field 22 of `/proc/PID/stat`).
    pub start_ticks: u64,
}

impl ProcKey {
    /// The key of a live process, read from `/proc/PID/stat`.
    pub fn of_pid(pid: i32) -> Result<ProcKey, ProbeError> {
        info_of(pid).map(|i| i.key).ok_or(ProbeError::Gone { pid })
    }
}

/// One row of the process table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcInfo {
    /// Identity.
    pub key: ProcKey,
    /// Parent pid.
    pub ppid: i32,
    /// Short name (`comm`), at most 15 bytes.
    pub comm: String,
    /// `true` for zombies and dead tasks: they hold no memory worth reading.
    pub exited: bool,
}

/// All processes visible at one moment.
#[derive(Debug, Clone, Default)]
pub struct ProcessTable {
    procs: Vec<ProcInfo>,
}

impl ProcessTable {
    /// Reads `/proc/*/stat`. Processes that vanish while being listed are skipped.
    pub fn snapshot() -> Result<ProcessTable, ProbeError> {
        let procs = list_pids()?.into_iter().filter_map(info_of).collect();
        Ok(ProcessTable { procs })
    }

    /// A table from given rows (for tests and for callers with their own listing).
    pub fn from_rows(procs: Vec<ProcInfo>) -> ProcessTable {
        ProcessTable { procs }
    }

    /// All rows.
    pub fn rows(&self) -> &[ProcInfo] {
        &self.procs
    }

    /// The row for `key`, if that exact process (pid and start time) is still there.
    pub fn get(&self, key: ProcKey) -> Option<&ProcInfo> {
        self.procs.iter().find(|p| p.key == key)
    }

    /// `root` and every live descendant of it. Empty when `root` itself is gone. A child is only
    /// counted under a parent that started no later than it, so a reused parent pid cannot
    /// adopt strangers.
    pub fn tree_of(&self, root: ProcKey) -> Vec<ProcInfo> {
        let Some(root_row) = self.get(root) else {
            return Vec::new();
        };
        let mut children: HashMap<i32, Vec<&ProcInfo>> = HashMap::new();
        for p in &self.procs {
            children.entry(p.ppid).or_default().push(p);
        }
        let mut out = vec![root_row.clone()];
        let mut seen: HashSet<i32> = HashSet::from([root.pid]);
        let mut i = 0;
        while i < out.len() {
            let parent = out[i].key;
            for c in children.get(&parent.pid).into_iter().flatten() {
                if c.key.start_ticks >= parent.start_ticks && seen.insert(c.key.pid) {
                    out.push((*c).clone());
                }
            }
            i += 1;
        }
        out.retain(|p| !p.exited);
        out
    }
}

/// `root` and its live descendants, found through `/proc/PID/task/TID/children` rather than a
/// scan of every process: far cheaper on a busy machine. Falls back to a full table snapshot
/// when the kernel lacks `children` files. Empty when `root` is gone.
pub fn descendants(root: ProcKey) -> Vec<ProcInfo> {
    let children_supported = std::path::Path::new("/proc/self/task")
        .read_dir()
        .ok()
        .and_then(|mut d| d.next())
        .and_then(Result::ok)
        .is_some_and(|e| e.path().join("children").exists());
    if !children_supported {
        return ProcessTable::snapshot()
            .map(|t| t.tree_of(root))
            .unwrap_or_default();
    }
    let Some(root_row) = info_of(root.pid).filter(|r| r.key == root) else {
        return Vec::new();
    };
    let mut out = vec![root_row];
    let mut i = 0;
    while i < out.len() {
        let parent = out[i].key;
        for child in children_of(parent.pid) {
            if let Some(row) = info_of(child) {
                if row.ppid == parent.pid
                    && row.key.start_ticks >= parent.start_ticks
                    && !out.iter().any(|o| o.key.pid == child)
                {
                    out.push(row);
                }
            }
        }
        i += 1;
    }
    out.retain(|p| !p.exited);
    out
}

fn info_of(pid: i32) -> Option<ProcInfo> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let s = crate::proctext::parse_stat(&text)?;
    Some(ProcInfo {
        key: ProcKey {
            pid,
            start_ticks: s.start_ticks,
        },
        ppid: s.ppid,
        exited: matches!(s.state, 'Z' | 'X' | 'x'),
        comm: s.comm,
    })
}

/// The pids in `/proc` now.
fn list_pids() -> Result<Vec<i32>, ProbeError> {
    let dir = std::fs::read_dir("/proc").map_err(|e| ProbeError::from_io("/proc", e))?;
    Ok(dir
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()))
        .collect())
}

fn children_of(pid: i32) -> Vec<i32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for task in tasks.flatten() {
        if let Ok(text) = std::fs::read_to_string(task.path().join("children")) {
            out.extend(
                text.split_whitespace()
                    .filter_map(|p| p.parse::<i32>().ok()),
            );
        }
    }
    out
}

/// Matches processes by a regular expression over `comm` and the full command line.
///
/// What a pid is and whether it matches is read once and remembered: each interval only lists
/// `/proc`, so watching by name costs little however many other processes the machine runs.
/// A pid whose process was replaced is caught when its memory is read (the start time
/// differs) and [`forget`](Self::forget) makes it be looked at afresh.
#[derive(Debug)]
pub struct NameMatcher {
    pattern: regex_lite::Regex,
    own_pid: i32,
    cache: HashMap<i32, Option<ProcInfo>>,
}

impl NameMatcher {
    /// A matcher for `pattern`. leakhound's own process never matches.
    pub fn new(pattern: &str) -> Result<NameMatcher, String> {
        let pattern = regex_lite::Regex::new(pattern).map_err(|e| e.to_string())?;
        Ok(NameMatcher {
            pattern,
            own_pid: std::process::id() as i32,
            cache: HashMap::new(),
        })
    }

    fn judge(&self, pid: i32) -> Option<ProcInfo> {
        let info = info_of(pid)?;
        if info.exited || pid == self.own_pid {
            return None;
        }
        let cmdline = || {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|b| {
                    String::from_utf8_lossy(&b)
                        .replace('\0', " ")
                        .trim()
                        .to_string()
                })
                .unwrap_or_default()
        };
        (self.pattern.is_match(&info.comm) || self.pattern.is_match(&cmdline())).then_some(info)
    }

    /// The live processes that match now, oldest first.
    pub fn matching(&mut self) -> Result<Vec<ProcInfo>, ProbeError> {
        let pids: HashSet<i32> = list_pids()?.into_iter().collect();
        self.cache.retain(|pid, _| pids.contains(pid));
        for pid in pids {
            if !self.cache.contains_key(&pid) {
                let verdict = self.judge(pid);
                self.cache.insert(pid, verdict);
            }
        }
        let mut out: Vec<ProcInfo> = self.cache.values().flatten().cloned().collect();
        out.sort_by_key(|p| (p.key.start_ticks, p.key.pid));
        Ok(out)
    }

    /// Forgets what is known of `pid` (it exited, or now belongs to another process).
    pub fn forget(&mut self, pid: i32) {
        self.cache.remove(&pid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(pid: i32, ppid: i32, start: u64) -> ProcInfo {
        ProcInfo {
            key: ProcKey {
                pid,
                start_ticks: start,
            },
            ppid,
            comm: format!("p{pid}"),
            exited: false,
        }
    }

    #[test]
    fn tree_of_collects_descendants_only() {
        let t = ProcessTable::from_rows(vec![
            row(1, 0, 0),
            row(10, 1, 5),
            row(11, 10, 6),
            row(12, 11, 7),
            row(20, 1, 5),
        ]);
        let mut pids: Vec<i32> = t
            .tree_of(ProcKey {
                pid: 10,
                start_ticks: 5,
            })
            .iter()
            .map(|p| p.key.pid)
            .collect();
        pids.sort();
        assert_eq!(pids, vec![10, 11, 12]);
    }

    #[test]
    fn tree_of_a_replaced_root_is_empty() {
        let t = ProcessTable::from_rows(vec![row(10, 1, 99)]);
        assert!(t
            .tree_of(ProcKey {
                pid: 10,
                start_ticks: 5
            })
            .is_empty());
    }

    #[test]
    fn child_older_than_parent_is_not_adopted() {
        // pid 10 was reused: the process now holding it started after pid 11 did.
        let t = ProcessTable::from_rows(vec![row(10, 1, 50), row(11, 10, 20)]);
        let tree = t.tree_of(ProcKey {
            pid: 10,
            start_ticks: 50,
        });
        assert_eq!(tree.len(), 1);
    }

    #[test]
    fn zombies_are_left_out() {
        let mut z = row(11, 10, 6);
        z.exited = true;
        let t = ProcessTable::from_rows(vec![row(10, 1, 5), z]);
        let tree = t.tree_of(ProcKey {
            pid: 10,
            start_ticks: 5,
        });
        assert_eq!(tree.len(), 1);
    }

    #[test]
    fn descendants_of_this_process_include_a_child() {
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let me = ProcKey::of_pid(std::process::id() as i32).unwrap();
        let tree = descendants(me);
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(tree[0].key, me);
        assert!(
            tree.iter().any(|p| p.key.pid == child.id() as i32),
            "{tree:?}"
        );
    }

    #[test]
    fn snapshot_contains_this_process() {
        let t = ProcessTable::snapshot().unwrap();
        let me = std::process::id() as i32;
        assert!(t.rows().iter().any(|p| p.key.pid == me));
        assert_eq!(ProcKey::of_pid(me).unwrap().pid, me);
    }
}
