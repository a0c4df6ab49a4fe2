//! Helpers for CLI tests: run leakhound against a temporary database and, when an assertion
//! fails, show the command, its output and the directory.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_leakhound"))
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

/// Values of series `name` of `run`, in time order.
pub fn series(conn: &rusqlite::Connection, run: i64, name: &str) -> Vec<(f64, f64)> {
    let mut st = conn
        .prepare("SELECT s.t, s.value FROM samples s JOIN series se ON s.series_id = se.id WHERE se.run_id = ?1 AND se.name = ?2 ORDER BY s.t")
        .unwrap();
    st.query_map(rusqlite::params![run, name], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
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
pub fn node_available() -> bool {
    let ok = std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok || std::env::var_os("CI").is_none(),
        "node is missing on CI"
    );
    if !ok {
        eprintln!("skipped: node not installed");
    }
    ok
}

/// The native profiler library next to the leakhound binary, where `run --native-sites`
/// looks for it. `cargo test -p leakhound` does not build the cdylib of another crate, so the
/// first call builds it with the same cargo, profile and target directory (a no-op when it
/// is fresh).
pub fn preload_next_to_bin() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let profile_dir = bin().parent().unwrap().to_path_buf();
            let mut cargo = Command::new(env!("CARGO"));
            cargo
                .args([
                    "build",
                    "--quiet",
                    "-p",
                    "leakhound-preload",
                    "--target-dir",
                ])
                .arg(profile_dir.parent().unwrap());
            if profile_dir.ends_with("release") {
                cargo.arg("--release");
            }
            assert!(
                cargo.status().expect("cargo").success(),
                "building the preload"
            );
            let so = profile_dir.join("libleakhound_preload.so");
            assert!(so.exists(), "{} not built", so.display());
            so
        })
        .clone()
}

/// Compiles one of the native profiler's test programs
/// (crates/leakhound-preload/tests/programs) with gcc or g++ into `dir`, optimised, without
/// frame pointers, with debug information, plus `extra` flags.
pub fn compile_program(dir: &Path, source: &str, extra: &[&str]) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../leakhound-preload/tests/programs")
        .join(source);
    let out = dir.join(format!("{}{}", source.replace('.', "_"), extra.join("")));
    let compiler = if source.ends_with(".cpp") {
        "g++"
    } else {
        "gcc"
    };
    let ok = Command::new(compiler)
        .args(["-O2", "-fomit-frame-pointer", "-g", "-pthread"])
        .args(extra)
        .arg("-o")
        .arg(&out)
        .arg(&src)
        .status()
        .unwrap_or_else(|e| panic!("{compiler}: {e}"));
    assert!(ok.success(), "{compiler} {}", src.display());
    out
}
