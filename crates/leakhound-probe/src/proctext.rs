//! Parsers of `/proc/PID/stat`, `statm` and `status` text: pure functions, tested on fixtures.
//! Hand-written because the sampler reads these files for every process every interval, and
//! general parsers that build a field map for each read cost more than the reading itself.

/// The fields of `/proc/PID/stat` leakhound uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    /// `comm`, the short name (may contain spaces and parentheses).
    pub comm: String,
    /// State letter (R, S, D, Z, X, ...).
    pub state: char,
    /// Parent pid.
    pub ppid: i32,
    /// Number of threads.
    pub threads: u64,
    /// Start time, clock ticks after boot.
    pub start_ticks: u64,
}

/// Parses a `stat` line. `comm` is everything between the first `(` and the last `)`.
pub fn parse_stat(text: &str) -> Option<Stat> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text.get(open + 1..close)?.to_string();
    // Fields after the comm, numbered from 3 (state) as in proc(5).
    let rest: Vec<&str> = text.get(close + 1..)?.split_whitespace().collect();
    let field = |n: usize| rest.get(n - 3).copied();
    Some(Stat {
        comm,
        state: field(3)?.chars().next()?,
        ppid: field(4)?.parse().ok()?,
        threads: field(20)?.parse().ok()?,
        start_ticks: field(22)?.parse().ok()?,
    })
}

/// `statm`: (resident, shared) in pages. Shared is file-backed plus shmem resident pages, so
/// resident - shared is the anonymous resident memory.
pub fn parse_statm(text: &str) -> Option<(u64, u64)> {
    let mut it = text.split_whitespace();
    let _size = it.next()?;
    let resident = it.next()?.parse().ok()?;
    let shared = it.next()?.parse().ok()?;
    Some((resident, shared))
}

/// A `kB` field of `status` (e.g. `VmSwap`, `RssShmem`), in bytes.
pub fn status_kib(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let rest = l.strip_prefix(key)?.strip_prefix(':')?;
        let n: u64 = rest.split_whitespace().next()?.parse().ok()?;
        Some(n * 1024)
    })
}

/// Sums `Pss` and USS (`Private_Clean` + `Private_Dirty`) of `smaps_rollup` text, in bytes.
pub fn parse_smaps_rollup(text: &str) -> Option<(u64, u64)> {
    let pss = status_kib(text, "Pss")?;
    let uss = status_kib(text, "Private_Clean")? + status_kib(text, "Private_Dirty")?;
    Some((pss, uss))
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "4242 (my (weird) app) S 1 4242 4242 0 -1 4194560 1234 0 0 0 10 5 0 0 20 0 7 0 987654 123456789 4321 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0\n";

    #[test]
    fn stat_with_parentheses_in_the_name() {
        let s = parse_stat(STAT).unwrap();
        assert_eq!(s.comm, "my (weird) app");
        assert_eq!(
            (s.state, s.ppid, s.threads, s.start_ticks),
            ('S', 1, 7, 987654)
        );
        assert!(parse_stat("garbage").is_none());
        assert!(parse_stat("1 (x) S").is_none());
    }

    #[test]
    fn statm_pages() {
        assert_eq!(parse_statm("5000 1200 300 10 0 900 0\n"), Some((1200, 300)));
        assert_eq!(parse_statm("5000"), None);
    }

    #[test]
    fn status_and_smaps_fields() {
        let status = "Name:\tx\nVmRSS:\t  2048 kB\nRssShmem:\t  16 kB\nVmSwap:\t  0 kB\n";
        assert_eq!(status_kib(status, "RssShmem"), Some(16384));
        assert_eq!(status_kib(status, "VmSwap"), Some(0));
        assert_eq!(status_kib(status, "Rss"), None);
        let rollup = "55d2-7ff [rollup]\nRss:  1000 kB\nPss:  800 kB\nPss_Anon: 700 kB\nPrivate_Clean: 100 kB\nPrivate_Dirty: 500 kB\n";
        assert_eq!(parse_smaps_rollup(rollup), Some((800 * 1024, 600 * 1024)));
    }
}
