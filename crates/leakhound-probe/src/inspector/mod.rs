//! The Node.js inspector of a running process: opening it (`SIGUSR1`, as `node inspect -p PID`
//! and Chrome DevTools do), finding the port it listens on from the process's own sockets in
//! `/proc`, and speaking the DevTools protocol to it over a loopback WebSocket ([`cdp`]).
//!
//! Node opens its inspector on `SIGUSR1` at 127.0.0.1:9229, or at the `--inspect-port` it was
//! started with (0: any free port). The port is found as the listening socket that appeared
//! after the signal, so a port other than 9229 needs no guessing.

pub mod cdp;

/// What leakhound evaluates in an attached process: `('install')` subscribes to the workload
/// channels, `('read')` returns the memory figures (an agent report's shape), `('remove')`
/// undoes `install`.
pub const NODE_ATTACH_JS: &str = include_str!("../../agent/node-attach.js");

/// The expression that calls [`NODE_ATTACH_JS`] with `what`.
pub fn attach_expression(what: &str) -> String {
    format!("({})({what:?})", NODE_ATTACH_JS.trim_end())
}

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// A listening TCP socket of `/proc/net/tcp` or `tcp6`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listening {
    /// Address and port it listens on.
    pub addr: SocketAddr,
    /// Its socket inode (matched against a process's file descriptors).
    pub inode: u64,
}

/// The listening sockets of a `/proc/net/tcp` (`v6`: `tcp6`) text. Lines that do not parse
/// are skipped.
pub fn parse_listening(text: &str, v6: bool) -> Vec<Listening> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            // sl local rem st tx:rx tr:when retrnsmt uid timeout inode
            if f.len() < 10 || f[3] != "0A" {
                return None;
            }
            let (ip, port) = f[1].split_once(':')?;
            let port = u16::from_str_radix(port, 16).ok()?;
            let ip = if v6 {
                if ip.len() != 32 {
                    return None;
                }
                // Four 32-bit words, each in host (little-endian) order.
                let mut b = [0u8; 16];
                for w in 0..4 {
                    let word = u32::from_str_radix(&ip[w * 8..w * 8 + 8], 16).ok()?;
                    b[w * 4..w * 4 + 4].copy_from_slice(&word.to_le_bytes());
                }
                IpAddr::V6(Ipv6Addr::from(b))
            } else {
                let word = u32::from_str_radix(ip, 16).ok()?;
                IpAddr::V4(Ipv4Addr::from(word.to_le_bytes()))
            };
            Some(Listening {
                addr: SocketAddr::new(ip, port),
                inode: f[9].parse().ok()?,
            })
        })
        .collect()
}

/// Socket inodes among the open file descriptors of `pid`.
fn socket_inodes(pid: i32) -> std::io::Result<HashSet<u64>> {
    let mut out = HashSet::new();
    for e in std::fs::read_dir(format!("/proc/{pid}/fd"))? {
        let Ok(target) = std::fs::read_link(e?.path()) else {
            continue;
        };
        let t = target.to_string_lossy();
        if let Some(n) = t.strip_prefix("socket:[").and_then(|r| r.strip_suffix(']')) {
            if let Ok(n) = n.parse() {
                out.insert(n);
            }
        }
    }
    Ok(out)
}

/// The TCP sockets process `pid` listens on (read in its own network namespace).
pub fn listening_of(pid: i32) -> std::io::Result<Vec<SocketAddr>> {
    let mine = socket_inodes(pid)?;
    let mut out = Vec::new();
    for (file, v6) in [("tcp", false), ("tcp6", true)] {
        if let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/net/{file}")) {
            out.extend(
                parse_listening(&text, v6)
                    .into_iter()
                    .filter(|l| mine.contains(&l.inode))
                    .map(|l| l.addr),
            );
        }
    }
    Ok(out)
}

/// Whether `pid` runs Node.js: its executable is named `node` or `nodejs`, or it maps
/// `libnode`. `SIGUSR1` would end any other process, so nothing else is ever signalled.
pub fn is_node(pid: i32) -> bool {
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok();
    let named = exe
        .as_ref()
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .is_some_and(|n| {
            let n = n.trim_end_matches(" (deleted)");
            n == "node" || n == "nodejs" || n.starts_with("node-") || n.starts_with("node2")
        });
    named
        || std::fs::read_to_string(format!("/proc/{pid}/maps"))
            .is_ok_and(|m| m.lines().any(|l| l.contains("/libnode.so")))
}

/// Where to connect to a listening address: its own address, or loopback for a wildcard.
fn reachable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(a) if a.is_unspecified() => SocketAddr::from((Ipv4Addr::LOCALHOST, addr.port())),
        IpAddr::V6(a) if a.is_unspecified() => SocketAddr::from((Ipv6Addr::LOCALHOST, addr.port())),
        _ => addr,
    }
}

/// A GET of `path` on `addr` (the inspector's HTTP side, on loopback): the body.
pub fn http_get(addr: SocketAddr, path: &str, timeout: Duration) -> Result<String, String> {
    let mut s = TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("{addr}: {e}"))?;
    s.set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| format!("{addr}: {e}"))?;
    let mut raw = Vec::new();
    // The inspector closes after the answer; a server that keeps the connection open ends the
    // read at the timeout with what it sent.
    let mut buf = [0u8; 8192];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(_) if !raw.is_empty() => break,
            Err(e) => return Err(format!("{addr}: {e}")),
        }
        if raw.len() > 1 << 20 {
            break;
        }
    }
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("{addr}: not an HTTP answer"))?;
    if !head.starts_with("HTTP/1.") || head.split_whitespace().nth(1) != Some("200") {
        return Err(format!(
            "{addr}: {}",
            head.lines().next().unwrap_or_default()
        ));
    }
    Ok(body.to_string())
}

/// One debugging target of `/json/list`.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct Target {
    /// The WebSocket to connect to, `ws://127.0.0.1:9229/UUID`.
    #[serde(rename = "webSocketDebuggerUrl")]
    pub ws_url: String,
    /// The main script, as Node names it.
    #[serde(default)]
    pub title: String,
    /// `node`.
    #[serde(rename = "type", default)]
    pub kind: String,
}

/// The targets of an inspector's `/json/list` answer.
pub fn parse_targets(body: &str) -> Result<Vec<Target>, String> {
    serde_json::from_str(body).map_err(|e| format!("not an inspector's /json/list: {e}"))
}

/// How the inspector of a process was found.
#[derive(Debug, Clone, PartialEq)]
pub struct Opened {
    /// Where it listens (as bound: a wildcard address is reachable from other hosts).
    pub listen: SocketAddr,
    /// Where leakhound connects (loopback).
    pub connect: SocketAddr,
    /// Whether leakhound opened it (and so closes it at the end), or it was open already.
    pub by_us: bool,
    /// The WebSocket URL of the process's target.
    pub ws_url: String,
}

/// Whether `addr` serves an inspector: its `/json/list` names a target.
fn inspector_at(addr: SocketAddr) -> Option<String> {
    let body = http_get(addr, "/json/list", Duration::from_secs(1)).ok()?;
    let t = parse_targets(&body).ok()?;
    let first = t.into_iter().next()?;
    // The URL names the host the inspector bound; connect where it is reachable.
    let path = first
        .ws_url
        .strip_prefix("ws://")
        .and_then(|r| r.split_once('/'))
        .map(|(_, p)| p.to_string())?;
    Some(format!("ws://{addr}/{path}"))
}

/// Opens the inspector of Node.js process `pid` (or finds it open) and returns where it is.
/// Waits up to `wait` for the port to appear after the signal.
pub fn open(pid: i32, wait: Duration) -> Result<Opened, String> {
    if !is_node(pid) {
        return Err(format!(
            "process {pid} does not run Node.js (its executable is not node and it maps no libnode)"
        ));
    }
    let before = listening_of(pid).map_err(|e| format!("process {pid}: {e}"))?;
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(pid).ok_or_else(|| format!("bad pid {pid}"))?,
        rustix::process::Signal::USR1,
    )
    .map_err(|e| format!("cannot signal process {pid} (SIGUSR1): {e}"))?;
    let deadline = Instant::now() + wait;
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        let now = listening_of(pid).unwrap_or_default();
        for addr in now.iter().filter(|a| !before.contains(a)) {
            let connect = reachable(*addr);
            // The port may take a moment to answer after it is bound.
            for _ in 0..20 {
                if let Some(ws_url) = inspector_at(connect) {
                    return Ok(Opened {
                        listen: *addr,
                        connect,
                        by_us: true,
                        ws_url,
                    });
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
    // No new port: the inspector may have been open already (a no-op signal), on any port.
    for addr in &before {
        let connect = reachable(*addr);
        if let Some(ws_url) = inspector_at(connect) {
            return Ok(Opened {
                listen: *addr,
                connect,
                by_us: false,
                ws_url,
            });
        }
    }
    let taken = std::fs::read_to_string("/proc/net/tcp")
        .map(|t| {
            parse_listening(&t, false)
                .iter()
                .any(|l| l.addr.port() == 9229)
        })
        .unwrap_or(false);
    let mut why = format!(
        "process {pid} opened no inspector port within {} s of SIGUSR1",
        wait.as_secs()
    );
    if taken {
        why.push_str(
            ": port 9229 is taken by another process, and Node opens its inspector there unless \
             started with --inspect-port (it prints \"address already in use\" on its stderr)",
        );
    } else {
        why.push_str(
            ": its inspector may be disabled (--disable-sigusr1, a build without inspector, or \
             a SIGUSR1 handler of its own)",
        );
    }
    Err(why)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listening_sockets_of_proc_net() {
        let v4 = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1339 1 0000000049d494fd 100 0 0 10 0
   1: 0100007F:8E85 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 35289 1 0000000052cb11ca 100 0 0 10 0
   2: 0100007F:8C1D 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000     0        0 34272 1 00000000cfa3c7ac 100 0 0 10 0
";
        let l = parse_listening(v4, false);
        assert_eq!(l.len(), 2, "the established connection is not listening");
        assert_eq!(l[0].addr, "0.0.0.0:2024".parse().unwrap());
        assert_eq!(l[1].addr, "127.0.0.1:36485".parse().unwrap());
        assert_eq!(l[1].inode, 35289);
        let v6 = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:2406 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0
";
        let l = parse_listening(v6, true);
        assert_eq!(l[0].addr, "[::1]:9222".parse().unwrap());
        assert_eq!(
            reachable("0.0.0.0:9229".parse().unwrap()),
            "127.0.0.1:9229".parse().unwrap()
        );
    }

    #[test]
    fn targets_of_json_list() {
        let body = r#"[ {
  "description": "node.js instance",
  "devtoolsFrontendUrl": "devtools://devtools/bundled/js_app.html?experiments=true&v8only=true&ws=127.0.0.1:9229/c45",
  "faviconUrl": "https://nodejs.org/static/images/favicons/favicon.ico",
  "id": "c45",
  "title": "srv.js",
  "type": "node",
  "url": "file:///tmp/att/srv.js",
  "webSocketDebuggerUrl": "ws://127.0.0.1:9229/c45"
} ]"#;
        let t = parse_targets(body).unwrap();
        assert_eq!(t[0].ws_url, "ws://127.0.0.1:9229/c45");
        assert_eq!(t[0].title, "srv.js");
        assert!(parse_targets("<html>").is_err());
    }

    #[test]
    fn only_node_is_signalled() {
        let e = open(std::process::id() as i32, Duration::from_millis(10)).unwrap_err();
        assert!(e.contains("does not run Node.js"), "{e}");
    }
}
