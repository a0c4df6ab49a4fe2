//! Helpers for CLI tests: run leakhound against a temporary database and, when an assertion
//! fails, show the command, its output and the directory.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_leakhound"))
}

/// Child processes killed when the test ends, however it ends.
pub struct Kids(pub Vec<std::process::Child>);

impl Drop for Kids {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A temporary directory holding a database.
pub struct Dir {
    pub dir: tempfile::TempDir,
}

impl Dir {
    pub fn new() -> Dir {
        Dir {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }
    pub fn db(&self) -> PathBuf {
        self.dir.path().join("lh.db")
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    /// `leakhound --db DB ARGS...`
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(bin());
        c.arg("--db").arg(self.db()).args(args);
        c.env_remove("LEAKHOUND_DB");
        c
    }
    /// `run` with extra environment variables.
    pub fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut c = self.cmd(args);
        c.envs(env.iter().copied());
        let out = c.output().expect("leakhound starts");
        Run {
            args: args.iter().map(|s| s.to_string()).collect(),
            out,
            dir: self.dir.path().to_path_buf(),
        }
    }
    pub fn run(&self, args: &[&str]) -> Run {
        let out = self.cmd(args).output().expect("leakhound starts");
        Run {
            args: args.iter().map(|s| s.to_string()).collect(),
            out,
            dir: self.dir.path().to_path_buf(),
        }
    }
    pub fn open_db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.db()).expect("db opens")
    }
}

/// A finished command with everything needed to explain a failure.
pub struct Run {
    pub args: Vec<String>,
    pub out: Output,
    pub dir: PathBuf,
}

impl Run {
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.stdout).into_owned()
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.out.stderr).into_owned()
    }
    pub fn describe(&self) -> String {
        format!(
            "command: leakhound {}\ndir: {}\nstatus: {}\n--- stdout\n{}\n--- stderr\n{}",
            self.args.join(" "),
            self.dir.display(),
            self.out.status,
            self.stdout(),
            self.stderr()
        )
    }
    pub fn code(&self) -> i32 {
        self.out.status.code().unwrap_or(-1)
    }
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Run {
        assert_eq!(self.code(), code, "{}", self.describe());
        self
    }
    #[track_caller]
    pub fn expect_stderr(&self, needle: &str) -> &Run {
        assert!(
            self.stderr().contains(needle),
            "expected {needle:?} in stderr\n{}",
            self.describe()
        );
        self
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.out.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e})\n{}", self.describe()))
    }
}

/// The database `conn` is open on, through the store (samples may be in compressed chunks).
pub fn store(conn: &rusqlite::Connection) -> leakhound_store::Store {
    let path = conn.path().expect("a database file");
    leakhound_store::Store::open_read_only(Path::new(path)).expect("the store opens")
}

/// Values of series `name` of `run`, in time order (of the first series so named).
pub fn series(conn: &rusqlite::Connection, run: i64, name: &str) -> Vec<(f64, f64)> {
    let s = store(conn);
    let Some(info) = s
        .series_of(run)
        .unwrap()
        .into_iter()
        .find(|i| i.name == name)
    else {
        return Vec::new();
    };
    let (t, v) = s.samples(info.id).unwrap();
    t.into_iter().zip(v).collect()
}

/// How many samples of `run` (all its series) each stored time has, in time order.
pub fn samples_per_time(conn: &rusqlite::Connection, run: i64) -> Vec<i64> {
    let s = store(conn);
    let mut per: std::collections::BTreeMap<u64, i64> = Default::default();
    for info in s.series_of(run).unwrap() {
        for t in s.samples(info.id).unwrap().0 {
            *per.entry(t.to_bits()).or_default() += 1;
        }
    }
    per.into_values().collect()
}

/// Events (kind, detail) of `run`.
pub fn events(conn: &rusqlite::Connection, run: i64) -> Vec<(String, String)> {
    let mut st = conn
        .prepare("SELECT kind, detail FROM events WHERE run_id = ?1 ORDER BY t, rowid")
        .unwrap();
    st.query_map([run], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

pub fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

/// A loopback port free at the moment of asking.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Unix seconds now.
pub fn wall() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Waits (at most `secs`) until series `name` of `run` in `d`'s database has `n` samples.
pub fn wait_for_samples(d: &Dir, run: i64, name: &str, n: usize, secs: u64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        let have = leakhound_store::Store::open_read_only(&d.db())
            .ok()
            .and_then(|s| {
                let info = s
                    .series_of(run)
                    .ok()?
                    .into_iter()
                    .find(|i| i.name == name)?;
                s.samples(info.id).ok().map(|c| c.0.len())
            })
            .unwrap_or(0);
        if have >= n {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{have} samples of {name} after {secs} s"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Debian's chromium, if installed.
pub fn chromium() -> Option<&'static str> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| Path::new(p).exists())
}

/// Headless chromium with `args`, a fresh profile in `profile`, and the flags that keep it off
/// the network this machine does not have.
pub fn browser(args: &[&str], profile: &Path) -> std::process::Output {
    std::process::Command::new(chromium().expect("checked"))
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=3000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .output()
        .expect("chromium runs")
}

/// Whether node runs here; on CI it must.
/// Whether the program at `path` is installed; on CI (`CI` set) it must be, elsewhere the test
/// is skipped saying which `package` to install.
pub fn installed(path: &str, package: &str) -> bool {
    let ok = Path::new(path).exists();
    assert!(
        ok || std::env::var_os("CI").is_none(),
        "{path} is missing on CI (install {package})"
    );
    if !ok {
        eprintln!("skipped: {path} not installed (apt-get install {package})");
    }
    ok
}

/// GET or POST on loopback; returns (status line, body).
pub fn http(port: u16, method: &str, path: &str, body: &str) -> (String, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let (head, rest) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    (
        head.lines().next().unwrap_or("").to_string(),
        rest.to_string(),
    )
}

/// Waits (30 s at most) until `port` answers 200 to a GET of `path`.
pub fn wait_http(port: u16, path: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
            && http(port, "GET", path, "").0.contains(" 200")
        {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "port {port} never served {path}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// A real Prometheus (Debian's) scraping `127.0.0.1:target` every second, its data in `d`;
/// the process and its port, ready to query.
pub fn prometheus_scraping(d: &Dir, target: u16) -> (std::process::Child, u16) {
    let port = free_port();
    let config = d.path("prometheus.yml");
    std::fs::write(
        &config,
        format!("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: leakhound\n    static_configs:\n      - targets: ['127.0.0.1:{target}']\n"),
    )
    .unwrap();
    let prom = std::process::Command::new("/usr/bin/prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", d.path("tsdb").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    (prom, port)
}

pub fn node_available() -> bool {
    runtime_available("node", &["--version"], "node")
}

/// Whether `program ARGS` runs here; on CI (`CI` set) it must, elsewhere the test is skipped
/// saying which `package` is missing.
pub fn runtime_available(program: &str, args: &[&str], package: &str) -> bool {
    let ok = std::process::Command::new(program)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok || std::env::var_os("CI").is_none(),
        "{program} is missing on CI (install {package})"
    );
    if !ok {
        eprintln!("skipped: {program} not installed ({package})");
    }
    ok
}

#[path = "../../../leakhound-preload/tests/common/programs.rs"]
mod programs;
#[allow(unused_imports)]
pub use programs::compile_program;

/// A test fixture (`tests/fixtures/NAME`).
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Line (1-based) of the fixture `name` holding `needle`.
pub fn fixture_line(name: &str, needle: &str) -> usize {
    let src = std::fs::read_to_string(fixture(name)).unwrap();
    src.lines()
        .position(|l| l.contains(needle))
        .map(|i| i + 1)
        .unwrap_or_else(|| panic!("{needle:?} not in {name}"))
}

/// Whether python3 runs here (a skip message otherwise; on CI a failure).
pub fn python_available() -> bool {
    runtime_available("python3", &["--version"], "python3")
}
