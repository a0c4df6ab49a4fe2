//! cgroup v2 memory: `memory.current`, `memory.stat`, `memory.max`, and the limit that applies
//! to a process (its cgroup's `memory.max`, the tightest up the hierarchy, else physical RAM).

use std::fs;
use std::path::{Path, PathBuf};

use crate::ProbeError;

const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// One reading of a cgroup. Bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CgroupReading {
    /// `memory.current`: all memory charged to the cgroup, page cache included.
    pub current: u64,
    /// `anon` from `memory.stat`.
    pub anon: Option<u64>,
    /// `file` from `memory.stat` (page cache).
    pub file: Option<u64>,
    /// `shmem` from `memory.stat`.
    pub shmem: Option<u64>,
    /// `memory.swap.current`.
    pub swap: Option<u64>,
    /// Number of processes in the cgroup (`cgroup.procs`).
    pub processes: u64,
}

/// Reads one cgroup v2 directory.
#[derive(Debug, Clone)]
pub struct CgroupReader {
    dir: PathBuf,
}

impl CgroupReader {
    /// A reader for `path`: absolute (`/sys/fs/cgroup/...`) or relative to the cgroup root
    /// (`/system.slice/nginx.service` as printed in `/proc/PID/cgroup`).
    pub fn open(path: &str) -> Result<CgroupReader, ProbeError> {
        let p = Path::new(path);
        let dir = if p.starts_with(CGROUP_ROOT) {
            p.to_path_buf()
        } else {
            Path::new(CGROUP_ROOT).join(path.trim_start_matches('/'))
        };
        let current = dir.join("memory.current");
        if !current.exists() {
            return Err(ProbeError::Other {
                path: current.display().to_string(),
                message: "not a cgroup v2 directory with the memory controller".into(),
            });
        }
        Ok(CgroupReader { dir })
    }

    /// The directory read.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn file(&self, name: &str) -> Result<String, ProbeError> {
        let p = self.dir.join(name);
        fs::read_to_string(&p).map_err(|e| ProbeError::from_io(&p.display().to_string(), e))
    }

    /// Reads the cgroup now.
    pub fn read(&self) -> Result<CgroupReading, ProbeError> {
        let current_text = self.file("memory.current")?;
        let current = current_text.trim().parse().map_err(|_| ProbeError::Other {
            path: self.dir.join("memory.current").display().to_string(),
            message: format!("not a number: {:?}", current_text.trim()),
        })?;
        let stat = self.file("memory.stat").ok();
        let get = |k: &str| stat.as_deref().and_then(|s| parse_memory_stat(s, k));
        let swap = self
            .file("memory.swap.current")
            .ok()
            .and_then(|s| s.trim().parse().ok());
        let processes = self
            .file("cgroup.procs")
            .map(|s| s.lines().filter(|l| !l.trim().is_empty()).count() as u64)
            .unwrap_or(0);
        Ok(CgroupReading {
            current,
            anon: get("anon"),
            file: get("file"),
            shmem: get("shmem"),
            swap,
            processes,
        })
    }

    /// `memory.max` of this cgroup or the tightest of its ancestors; `None` if unlimited.
    pub fn limit(&self) -> Option<u64> {
        limit_up_from(&self.dir)
    }
}

fn limit_up_from(dir: &Path) -> Option<u64> {
    let root = Path::new(CGROUP_ROOT);
    let mut best: Option<u64> = None;
    let mut d = Some(dir);
    while let Some(cur) = d {
        if !cur.starts_with(root) {
            break;
        }
        if let Some(v) = fs::read_to_string(cur.join("memory.max"))
            .ok()
            .and_then(|s| parse_memory_max(&s))
        {
            best = Some(best.map_or(v, |b: u64| b.min(v)));
        }
        d = cur.parent();
    }
    best
}

/// The value of `key` in `memory.stat` text (`anon 123\nfile 456\n...`).
pub fn parse_memory_stat(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// `memory.max` text: a number of bytes, or `max` for no limit (`None`).
pub fn parse_memory_max(text: &str) -> Option<u64> {
    match text.trim() {
        "max" | "" => None,
        v => v.parse().ok(),
    }
}

/// The cgroup v2 path in one line of `/proc/PID/cgroup` (`0::/user.slice/...`); `None` for v1
/// lines.
pub fn parse_cgroup_line(line: &str) -> Option<&str> {
    line.strip_prefix("0::").map(str::trim)
}

/// The cgroup v2 path of a process, e.g. `/system.slice/nginx.service`.
pub fn cgroup_of_pid(pid: i32) -> Option<String> {
    let text = fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    text.lines()
        .find_map(parse_cgroup_line)
        .map(|s| s.to_string())
}

/// Total physical memory (`MemTotal`), bytes.
pub fn total_physical_memory() -> Option<u64> {
    meminfo("MemTotal:")
}

/// Memory available for new work without swapping (`MemAvailable`), bytes.
pub fn available_memory() -> Option<u64> {
    meminfo("MemAvailable:")
}

fn meminfo(field: &str) -> Option<u64> {
    let text = fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with(field))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The memory limit that applies to a process: the tightest `memory.max` on its cgroup path,
/// else physical memory.
pub fn memory_limit_of_pid(pid: i32) -> Option<u64> {
    let from_cgroup = cgroup_of_pid(pid).and_then(|cg| {
        let dir = Path::new(CGROUP_ROOT).join(cg.trim_start_matches('/'));
        limit_up_from(&dir)
    });
    match (from_cgroup, total_physical_memory()) {
        (Some(c), Some(m)) => Some(c.min(m)),
        (c, m) => c.or(m),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "anon 1048576\nfile 2097152\nkernel 3\nshmem 4096\nfile_mapped 5\n";

    #[test]
    fn memory_stat_keys() {
        assert_eq!(parse_memory_stat(STAT, "anon"), Some(1048576));
        assert_eq!(parse_memory_stat(STAT, "file"), Some(2097152));
        assert_eq!(parse_memory_stat(STAT, "shmem"), Some(4096));
        assert_eq!(parse_memory_stat(STAT, "fil"), None);
    }

    #[test]
    fn memory_max_values() {
        assert_eq!(parse_memory_max("max\n"), None);
        assert_eq!(parse_memory_max("536870912\n"), Some(536870912));
        assert_eq!(parse_memory_max("garbage"), None);
    }

    #[test]
    fn cgroup_lines() {
        assert_eq!(
            parse_cgroup_line("0::/system.slice/nginx.service\n"),
            Some("/system.slice/nginx.service")
        );
        assert_eq!(parse_cgroup_line("12:memory:/docker/abc"), None);
    }

    #[test]
    fn own_limit_is_at_most_physical_memory() {
        let mem = total_physical_memory().unwrap();
        let lim = memory_limit_of_pid(std::process::id() as i32).unwrap();
        assert!(lim <= mem && lim > 0);
    }

    #[test]
    fn opening_a_non_cgroup_is_an_error() {
        let d = tempfile::tempdir().unwrap();
        assert!(CgroupReader::open(d.path().to_str().unwrap()).is_err());
    }
}
