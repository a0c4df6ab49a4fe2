//! Memory of one process: RSS and its anonymous / file / shmem split, PSS and USS from
//! `smaps_rollup`, swap, threads and open file descriptors.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::proctext::{parse_smaps_rollup, parse_stat, parse_statm, status_kib};
use crate::{ProbeError, ProcKey};

/// One reading of one process (or a sum over several). Bytes unless named otherwise.
/// `None` means the figure could not be read (e.g. `smaps_rollup` of another user's process).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MemoryReading {
    /// Resident set size.
    pub rss: u64,
    /// Proportional set size: shared pages divided among their users.
    pub pss: Option<u64>,
    /// Unique set size: private clean + private dirty pages.
    pub uss: Option<u64>,
    /// Anonymous resident memory (heap, stacks, anonymous mmap).
    pub anon: Option<u64>,
    /// File-backed resident memory.
    pub file: Option<u64>,
    /// Resident shared memory (shmem, tmpfs, SysV).
    pub shmem: Option<u64>,
    /// Swapped-out memory.
    pub swap: Option<u64>,
    /// Number of threads.
    pub threads: u64,
    /// Number of open file descriptors.
    pub fds: Option<u64>,
}

impl MemoryReading {
    /// Adds `other` into `self`. An optional figure stays known only if known in both, so a
    /// total never silently undercounts.
    pub fn add(&mut self, other: &MemoryReading) {
        fn sum(a: Option<u64>, b: Option<u64>) -> Option<u64> {
            Some(a? + b?)
        }
        self.rss += other.rss;
        self.pss = sum(self.pss, other.pss);
        self.uss = sum(self.uss, other.uss);
        self.anon = sum(self.anon, other.anon);
        self.file = sum(self.file, other.file);
        self.shmem = sum(self.shmem, other.shmem);
        self.swap = sum(self.swap, other.swap);
        self.threads += other.threads;
        self.fds = sum(self.fds, other.fds);
    }

    /// The zero reading, with every optional figure known (the identity of [`add`](Self::add)).
    pub fn zero() -> MemoryReading {
        MemoryReading {
            pss: Some(0),
            uss: Some(0),
            anon: Some(0),
            file: Some(0),
            shmem: Some(0),
            swap: Some(0),
            fds: Some(0),
            ..MemoryReading::default()
        }
    }
}

/// What the last full reading (`smaps_rollup` and `status`) found for one process.
#[derive(Debug, Clone, Copy)]
struct Memo {
    pss: Option<u64>,
    uss: Option<u64>,
    shmem: Option<u64>,
    swap: Option<u64>,
    rss_then: u64,
    taken: Instant,
    threads: u64,
}

/// Full readings are repeated at least this often.
const FULL_EVERY: Duration = Duration::from_secs(30);

/// Reads processes, keeping per-process state that makes repeated readings cheap.
///
/// Every interval, each process costs one small read: `statm` (RSS and its anonymous /
/// file+shmem split); `stat` (identity, threads) and the `fd` directory every [`FD_EVERY`]
/// intervals.
/// `smaps_rollup` (PSS, USS)
/// walks every mapping in the kernel and `status` (swap, shmem) is long text, so those are read
/// again only every 30 s or when RSS moved by 2% since; in between PSS and USS are carried
/// forward shifted by the change in RSS, swap and shmem as they were.
#[derive(Debug)]
pub struct ProcessReader {
    memo: HashMap<ProcKey, Memo>,
    smaps_enabled: bool,
    warned_denied: bool,
    page: u64,
    tick: u64,
}

/// Open file descriptors are counted every this many intervals (listing `fd/` costs as much
/// as the rest of a reading, and fd leaks are slow).
pub const FD_EVERY: u64 = 5;

impl Default for ProcessReader {
    fn default() -> Self {
        ProcessReader::new(true)
    }
}

fn read_text(path: &str) -> std::io::Result<String> {
    std::fs::read_to_string(path)
}

fn gone_or(pid: i32, path: &str, e: std::io::Error) -> ProbeError {
    match e.kind() {
        std::io::ErrorKind::NotFound => ProbeError::Gone { pid },
        _ if e.raw_os_error() == Some(3) => ProbeError::Gone { pid },
        _ => ProbeError::from_io(path, e),
    }
}

impl ProcessReader {
    /// A reader; `smaps` false skips PSS/USS entirely.
    pub fn new(smaps: bool) -> ProcessReader {
        ProcessReader {
            memo: HashMap::new(),
            smaps_enabled: smaps,
            warned_denied: false,
            page: rustix::param::page_size() as u64,
            tick: 0,
        }
    }

    /// Marks the start of a new interval (for readings taken only every few intervals).
    pub fn next_tick(&mut self) {
        self.tick += 1;
    }

    /// Forgets state of processes not in `live`, so the reader's memory stays bounded.
    pub fn retain(&mut self, live: &[ProcKey]) {
        self.memo.retain(|k, _| live.contains(k));
    }

    /// Returns `true` once, the first time PSS/USS could not be read for lack of permission.
    pub fn take_denied_warning(&mut self) -> bool {
        std::mem::take(&mut self.warned_denied)
    }

    /// Reads one process. Fails with [`ProbeError::Gone`] if it exited or its pid was reused.
    pub fn read(&mut self, key: ProcKey) -> Result<MemoryReading, ProbeError> {
        let pid = key.pid;
        // `stat` (identity, threads) is read when the process is new and every few intervals;
        // a pid cannot be reused in between without the kernel cycling through every pid.
        let known = self.memo.get(&key).map(|m| m.threads);
        let threads = match known {
            Some(t) if !self.tick.is_multiple_of(FD_EVERY) => t,
            _ => {
                let stat_path = format!("/proc/{pid}/stat");
                let stat_text = read_text(&stat_path).map_err(|e| gone_or(pid, &stat_path, e))?;
                let stat = parse_stat(&stat_text).ok_or_else(|| ProbeError::Other {
                    path: stat_path.clone(),
                    message: "unexpected format".into(),
                })?;
                if stat.start_ticks != key.start_ticks || matches!(stat.state, 'Z' | 'X' | 'x') {
                    self.memo.remove(&key);
                    return Err(ProbeError::Gone { pid });
                }
                if let Some(m) = self.memo.get_mut(&key) {
                    m.threads = stat.threads;
                }
                stat.threads
            }
        };
        let statm_path = format!("/proc/{pid}/statm");
        let statm = read_text(&statm_path).map_err(|e| gone_or(pid, &statm_path, e))?;
        let (resident, shared) = parse_statm(&statm).ok_or_else(|| ProbeError::Other {
            path: statm_path,
            message: "unexpected format".into(),
        })?;
        let rss = resident * self.page;
        let shared = shared * self.page;
        let fds = self
            .tick
            .is_multiple_of(FD_EVERY)
            .then(|| {
                std::fs::read_dir(format!("/proc/{pid}/fd"))
                    .ok()
                    .map(|d| d.count() as u64)
            })
            .flatten();
        let memo = self.refresh(key, rss, threads);
        let shift = |v: u64| (v as i64 + rss as i64 - memo.rss_then as i64).max(0) as u64;
        let shmem = memo.shmem.map(|s| s.min(shared));
        Ok(MemoryReading {
            rss,
            pss: memo.pss.map(shift),
            uss: memo.uss.map(shift),
            anon: Some(rss.saturating_sub(shared)),
            file: shmem.map(|s| shared - s),
            shmem,
            swap: memo.swap,
            threads,
            fds,
        })
    }

    /// The memo for `key`, re-reading `smaps_rollup` and `status` when due.
    fn refresh(&mut self, key: ProcKey, rss: u64, threads: u64) -> Memo {
        let now = Instant::now();
        if let Some(m) = self.memo.get(&key) {
            let moved = (rss as f64 - m.rss_then as f64).abs() > 0.02 * m.rss_then as f64;
            if now.duration_since(m.taken) < FULL_EVERY && !moved {
                return *m;
            }
        }
        let pid = key.pid;
        let status = read_text(&format!("/proc/{pid}/status")).ok();
        let mut memo = Memo {
            pss: None,
            uss: None,
            shmem: status.as_deref().and_then(|s| status_kib(s, "RssShmem")),
            swap: status.as_deref().and_then(|s| status_kib(s, "VmSwap")),
            rss_then: rss,
            taken: now,
            threads,
        };
        if self.smaps_enabled {
            match read_text(&format!("/proc/{pid}/smaps_rollup")) {
                Ok(text) => {
                    if let Some((pss, uss)) = parse_smaps_rollup(&text) {
                        memo.pss = Some(pss);
                        memo.uss = Some(uss);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                    self.warned_denied = true
                }
                Err(_) => {}
            }
        }
        self.memo.insert(key, memo);
        memo
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let key = ProcKey::of_pid(std::process::id() as i32).unwrap();
        let r = ProcessReader::default().read(key).unwrap();
        assert!(r.rss > 1 << 20, "rss {}", r.rss);
        assert!(r.threads >= 1);
        assert!(r.fds.unwrap() >= 3);
        let uss = r.uss.expect("own smaps_rollup is readable");
        assert!(uss <= r.pss.unwrap() && r.pss.unwrap() <= r.rss + 4096);
    }

    #[test]
    fn a_wrong_start_time_is_gone() {
        let me = ProcKey::of_pid(std::process::id() as i32).unwrap();
        let stranger = ProcKey {
            pid: me.pid,
            start_ticks: me.start_ticks + 1,
        };
        assert!(matches!(
            ProcessReader::default().read(stranger),
            Err(ProbeError::Gone { .. })
        ));
    }

    #[test]
    fn sum_keeps_optional_fields_only_when_known_everywhere() {
        let mut total = MemoryReading::zero();
        total.add(&MemoryReading {
            rss: 10,
            pss: Some(5),
            ..MemoryReading::default()
        });
        total.add(&MemoryReading {
            rss: 20,
            pss: Some(7),
            uss: Some(1),
            ..MemoryReading::default()
        });
        assert_eq!(total.rss, 30);
        assert_eq!(total.pss, Some(12));
        assert_eq!(total.uss, None);
    }
}
