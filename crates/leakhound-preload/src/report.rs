//! The reporter: a thread of the profiler that, every interval, copies the site table and
//! sends it to leakhound as JSON lines on the agent socket, with the executable mappings of
//! the process whenever they change (leakhound symbolizes; the target only knows addresses).
//!
//! It is the only part that allocates (through the real allocator: its thread is marked busy,
//! so nothing it does is sampled), and it never blocks the program: the socket is
//! non-blocking, a full buffer drops the report, a lost connection is retried with backoff,
//! and SIGPIPE is never raised. A report is the whole state, not a delta, so a dropped one
//! loses nothing but its time.
//!
//! Lines (one JSON object each, at most 1 MiB) are written with `leakhound_wire::lines`, whose
//! types leakhound reads them with. Frames are return addresses, innermost first, or Python
//! frames (`leakhound_wire::python`)
//! in a Python process, whose functions the `python_code` lines name before the stacks that
//! use them (see `python::code_lines`); `modules` are the executable mappings.

use std::hash::{Hash, Hasher};
use std::io::ErrorKind;
use std::os::fd::{AsRawFd, IntoRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use leakhound_wire::lines;

use crate::profiler::{set_busy, PROFILER};
use crate::tables::Snapshot;

/// Most sites per report (leakhound's bound on a sites report).
const TOP: usize = 2000;
/// Longest line sent; leakhound drops longer ones.
const LINE_BUDGET: usize = 1000 * 1000;
/// Bytes held while leakhound does not read; beyond them reports are dropped.
const PENDING_CAP: usize = 4 << 20;
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Where and how often to report.
pub struct Config {
    /// leakhound's socket.
    pub socket: PathBuf,
    /// When to report: the gap grows with the time since the profiler started.
    pub schedule: leakhound_wire::Schedule,
    /// Whether this library's malloc is the one the program calls.
    pub hooked: bool,
}

/// Set once by the constructor.
pub static CONFIG: OnceLock<Config> = OnceLock::new();

/// Starts the reporter thread (at start-up, and again in a forked child, where it is gone).
pub fn spawn() {
    if CONFIG.get().is_none() {
        return;
    }
    let _ = std::thread::Builder::new()
        .name("leakhound-prof".into())
        .stack_size(256 * 1024)
        .spawn(run);
}

fn run() {
    set_busy(true);
    // A second thread's view of where thread state lies: enables the fast path.
    crate::profiler::calibrate();
    let (Some(cfg), Some(prof)) = (CONFIG.get(), PROFILER.get()) else {
        return;
    };
    let mut conn = Connection::new(cfg.socket.clone());
    let mut snap = Snapshot::with_capacity(TOP);
    let mut sent_maps: Option<u64> = None;
    // Python functions named on this connection so far.
    let mut sent_codes = 0usize;
    let started = Instant::now();
    loop {
        std::thread::sleep(cfg.schedule.gap(started.elapsed()));
        if crate::python::finishing() {
            continue;
        }
        let pid = std::process::id();
        let t = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        prof.tables.lock().snapshot(TOP, &mut snap);
        if !conn.connected() {
            continue;
        }
        if conn.fresh {
            conn.fresh = false;
            sent_maps = None;
            sent_codes = 0;
        }
        let (maps_hash, maps) = maps_line(pid, cfg.hooked);
        if sent_maps != Some(maps_hash) {
            sent_maps = conn.queue(&maps).then_some(maps_hash);
        }
        // Python's functions before the stacks that use them (numbered before the snapshot).
        let mut named = true;
        if crate::python::installed() {
            let (lines, upto) = crate::python::code_lines(pid, sent_codes);
            named = lines.iter().all(|l| conn.queue(l));
            // Lines not queued are sent again, all of them (leakhound takes repeats).
            sent_codes = if named { upto } else { 0 };
        }
        if sent_maps.is_some() && named {
            conn.queue(&sites_line(pid, t, crate::profiler::current_mean(), &snap));
        }
        conn.flush();
    }
}

/// The executable mappings of this process as a `native_maps` line, and a hash of them.
fn maps_line(pid: u32, hooked: bool) -> (u64, String) {
    let text = std::fs::read("/proc/self/maps").unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let mut line_out = String::new();
    lines::begin_native_maps(&mut line_out, pid, hooked);
    let mut first = true;
    for line in text.lines() {
        let mut f = line.split_ascii_whitespace();
        let (Some(range), Some(perms), Some(offset)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        if perms.as_bytes().get(2) != Some(&b'x') {
            continue;
        }
        let (Some((start, end)), Ok(offset)) =
            (range.split_once('-'), u64::from_str_radix(offset, 16))
        else {
            continue;
        };
        let (Ok(start), Ok(end)) = (u64::from_str_radix(start, 16), u64::from_str_radix(end, 16))
        else {
            continue;
        };
        // The path is what follows the device and inode (it may contain spaces).
        let path = line
            .splitn(6, ' ')
            .nth(5)
            .map(str::trim_start)
            .unwrap_or("");
        lines::module(&mut line_out, first, start, end, offset, path);
        first = false;
    }
    lines::end_native_maps(&mut line_out);
    // The line names the pid and whether the program is hooked, so it changes with either.
    let mut h = std::collections::hash_map::DefaultHasher::new();
    line_out.hash(&mut h);
    (h.finish(), line_out)
}

/// The sites of `snap` as a `native_sites` line, within the line budget (sites that do not fit
/// go to the remainder).
fn sites_line(pid: u32, t: f64, mean: f64, snap: &Snapshot) -> String {
    let mut out = String::new();
    lines::begin_native_sites(&mut out, pid, t, mean, snap.samples, snap.dropped);
    let (mut other_bytes, mut other_objects) = (snap.other_bytes, snap.other_objects);
    let mut one = String::new();
    let mut first = true;
    for s in &snap.sites {
        one.clear();
        let frames = snap.frames[s.first..s.first + s.depth]
            .iter()
            .map(|&f| f as u64);
        lines::site(&mut one, first, frames, s.bytes, s.objects);
        if s.depth == 0 || out.len() + one.len() + 200 > LINE_BUDGET {
            other_bytes += s.bytes;
            other_objects += s.objects;
            continue;
        }
        out.push_str(&one);
        first = false;
    }
    lines::end_native_sites(&mut out, other_bytes, other_objects);
    out
}

/// (device, inode) of the socket behind `fd`, or `None` if `fd` is no longer a socket.
fn identity(fd: RawFd) -> Option<(u64, u64)> {
    // SAFETY: an all-zero stat is a valid value of the plain C struct.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat writes the live local `st`; an invalid fd gives an error, not UB.
    if unsafe { libc::fstat(fd, &mut st) } != 0 || st.st_mode & libc::S_IFMT != libc::S_IFSOCK {
        return None;
    }
    Some((st.st_dev, st.st_ino))
}

/// The connection to leakhound, if any.
struct Connection {
    path: PathBuf,
    stream: Option<(UnixStream, (u64, u64))>,
    pending: Vec<u8>,
    backoff: Duration,
    next_try: Instant,
    /// Connected since the last report: the module map must be sent again.
    fresh: bool,
}

impl Connection {
    fn new(path: PathBuf) -> Connection {
        Connection {
            path,
            stream: None,
            pending: Vec::new(),
            backoff: Duration::from_secs(1),
            next_try: Instant::now(),
            fresh: false,
        }
    }

    /// Whether there is a connection, connecting when the backoff allows.
    fn connected(&mut self) -> bool {
        if let Some((s, id)) = &self.stream {
            if identity(s.as_raw_fd()) == Some(*id) {
                return true;
            }
            // The program closed our descriptor (daemons close every fd) and the number may
            // now be one of its files: forget it without closing or writing to it.
            if let Some((s, _)) = self.stream.take() {
                let _ = s.into_raw_fd();
            }
            self.pending.clear();
        }
        if Instant::now() < self.next_try {
            return false;
        }
        let connected = UnixStream::connect(&self.path).and_then(|s| {
            s.set_nonblocking(true)?;
            let id = identity(s.as_raw_fd()).ok_or(ErrorKind::InvalidData)?;
            Ok((s, id))
        });
        match connected {
            Ok(c) => {
                self.stream = Some(c);
                self.backoff = Duration::from_secs(1);
                self.fresh = true;
                self.pending.clear();
                true
            }
            Err(_) => {
                self.lost();
                false
            }
        }
    }

    fn lost(&mut self) {
        self.stream = None;
        self.pending.clear();
        self.next_try = Instant::now() + self.backoff;
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
    }

    /// Adds a line to send; false (and nothing added) when leakhound is too far behind.
    fn queue(&mut self, line: &str) -> bool {
        if self.pending.len() + line.len() + 1 > PENDING_CAP {
            return false;
        }
        self.pending.extend_from_slice(line.as_bytes());
        self.pending.push(b'\n');
        true
    }

    /// Sends what the socket takes now.
    fn flush(&mut self) {
        let Some((s, _)) = &self.stream else {
            return;
        };
        let fd = s.as_raw_fd();
        while !self.pending.is_empty() {
            // SAFETY: sends from the live buffer `pending`, at most its length; MSG_NOSIGNAL
            // keeps a closed peer from raising SIGPIPE in the program.
            let n = unsafe {
                libc::send(
                    fd,
                    self.pending.as_ptr().cast(),
                    self.pending.len(),
                    libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
                )
            };
            if n > 0 {
                self.pending.drain(..n as usize);
                continue;
            }
            let e = std::io::Error::last_os_error();
            match e.kind() {
                ErrorKind::WouldBlock => break,
                ErrorKind::Interrupted => continue,
                _ => {
                    self.lost();
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_list_executable_mappings() {
        let (_, line) = maps_line(1, true);
        assert!(
            line.starts_with(r#"{"v":1,"type":"native_maps","pid":1,"hooked":true,"modules":[["#)
        );
        assert!(line.contains("libc.so"), "{line}");
    }
}
