//! Memory of one process: RSS and its anon/file/shmem split from `status`, PSS and USS from
//! `smaps_rollup`, swap, threads and open file descriptors.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use procfs::process::Process;

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

/// What was last read from `smaps_rollup` for one process.
#[derive(Debug, Clone, Copy)]
struct SmapsMemo {
    pss: u64,
    uss: u64,
    rss_then: u64,
    taken: Instant,
    cost: Duration,
}

/// Reads processes, keeping per-process state that makes repeated readings cheap.
///
/// `smaps_rollup` walks every mapping of the process in the kernel, so for large processes it
/// costs far more than the rest of a reading. The reader times each read and re-reads it only
/// when at least `cost_ratio` times its cost has passed since the last one; in between, PSS
/// and USS are carried forward, shifted by the change in RSS.
#[derive(Debug)]
pub struct ProcessReader {
    smaps: HashMap<ProcKey, SmapsMemo>,
    smaps_enabled: bool,
    cost_ratio: u32,
    warned_denied: bool,
}

impl Default for ProcessReader {
    fn default() -> Self {
        ProcessReader::new(true)
    }
}

impl ProcessReader {
    /// A reader; `smaps` false skips PSS/USS entirely.
    pub fn new(smaps: bool) -> ProcessReader {
        ProcessReader {
            smaps: HashMap::new(),
            smaps_enabled: smaps,
            cost_ratio: 200,
            warned_denied: false,
        }
    }

    /// Forgets state of processes not in `live`, so the reader's memory stays bounded.
    pub fn retain(&mut self, live: &[ProcKey]) {
        self.smaps.retain(|k, _| live.contains(k));
    }

    /// Returns `true` once, the first time PSS/USS could not be read for lack of permission.
    pub fn take_denied_warning(&mut self) -> bool {
        std::mem::take(&mut self.warned_denied)
    }

    /// Reads one process. Fails with [`ProbeError::Gone`] if it exited or its pid was reused.
    pub fn read(&mut self, key: ProcKey) -> Result<MemoryReading, ProbeError> {
        let pid = key.pid;
        let p = Process::new(pid).map_err(|e| ProbeError::from_proc(pid, e))?;
        let status = p.status().map_err(|e| ProbeError::from_proc(pid, e))?;
        let kib = |v: Option<u64>| v.map(|v| v * 1024);
        let rss = kib(status.vmrss).unwrap_or(0);
        let mut r = MemoryReading {
            rss,
            anon: kib(status.rssanon),
            file: kib(status.rssfile),
            shmem: kib(status.rssshmem),
            swap: kib(status.vmswap),
            threads: status.threads,
            fds: p.fd_count().ok().map(|n| n as u64),
            ..MemoryReading::default()
        };
        if self.smaps_enabled {
            self.read_smaps(&p, key, &mut r);
        }
        // Verify identity last: if the pid was reused while we read, drop the reading.
        let stat = p.stat().map_err(|e| ProbeError::from_proc(pid, e))?;
        if stat.starttime != key.start_ticks {
            return Err(ProbeError::Gone { pid });
        }
        Ok(r)
    }

    fn read_smaps(&mut self, p: &Process, key: ProcKey, r: &mut MemoryReading) {
        let now = Instant::now();
        if let Some(m) = self.smaps.get(&key) {
            if now.duration_since(m.taken) < m.cost * self.cost_ratio {
                let shift = |v: u64| (v as i64 + r.rss as i64 - m.rss_then as i64).max(0) as u64;
                r.pss = Some(shift(m.pss));
                r.uss = Some(shift(m.uss));
                return;
            }
        }
        match p.smaps_rollup() {
            Ok(rollup) => {
                let cost = now.elapsed();
                let mut pss = 0;
                let mut uss = 0;
                for m in &rollup.memory_map_rollup.0 {
                    let f = |k: &str| m.extension.map.get(k).copied().unwrap_or(0);
                    pss += f("Pss");
                    uss += f("Private_Clean") + f("Private_Dirty");
                }
                r.pss = Some(pss);
                r.uss = Some(uss);
                self.smaps.insert(
                    key,
                    SmapsMemo {
                        pss,
                        uss,
                        rss_then: r.rss,
                        taken: now,
                        cost,
                    },
                );
            }
            Err(procfs::ProcError::PermissionDenied(_)) => self.warned_denied = true,
            Err(_) => {}
        }
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
