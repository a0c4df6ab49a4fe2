//! One file is all a machine needs: a copy of the built `leakhound`, alone in a directory
//! (no profiler library beside it, `LEAKHOUND_PRELOAD` unset), profiles a C program's native
//! allocations with the library it carries, written to the user's cache directory (0700,
//! named by its hash, reused, replaced when damaged). What it found exports as a pprof profile
//! that Go's own `go tool pprof` reads (the leaking function first by leak rate, in `-top` and
//! in `-http`'s pages), as folded stacks, and as one site's samples over time.

mod util;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use util::{bin, compile_program, free_port, runtime_available, wait_http, Kids};

/// A copy of the leakhound binary alone in a temporary directory, with its own cache and
/// database.
struct Alone {
    dir: tempfile::TempDir,
    exe: PathBuf,
}

impl Alone {
    fn new() -> Alone {
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("bin/leakhound");
        std::fs::create_dir(dir.path().join("bin")).unwrap();
        std::fs::copy(bin(), &exe).unwrap();
        // A process another test thread forks while the copy is being written holds the
        // writing descriptor until it execs, and the copy cannot be run meanwhile ("Text file
        // busy", once in a full suite): wait until it runs.
        for _ in 0..100 {
            match Command::new(&exe).arg("--version").output() {
                Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy => {
                    std::thread::sleep(std::time::Duration::from_millis(20))
                }
                _ => break,
            }
        }
        Alone { dir, exe }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn cache(&self) -> PathBuf {
        self.path("cache/leakhound")
    }

    /// `leakhound --db DB ARGS` with `XDG_CACHE_HOME` in the directory and nothing that
    /// names a library.
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.exe);
        c.arg("--db")
            .arg(self.path("lh.db"))
            .args(args)
            .env("XDG_CACHE_HOME", self.path("cache"))
            .env_remove("LEAKHOUND_PRELOAD")
            .env_remove("LEAKHOUND_DB")
            .env_remove("LD_PRELOAD");
        c
    }

    /// Runs `cmd(args)`; (exit code, stdout, stderr).
    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = self.cmd(args).output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// The library path `agent --native` prints (and writes into the cache).
    fn agent_preload(&self) -> Result<PathBuf, String> {
        let (code, out, err) = self.run(&[
            "agent",
            "--dir",
            self.dir.path().to_str().unwrap(),
            "--native",
        ]);
        if code != 0 {
            return Err(err);
        }
        let line = out
            .lines()
            .find_map(|l| l.strip_prefix("export LD_PRELOAD="))
            .unwrap_or_else(|| panic!("no LD_PRELOAD in {out}"));
        Ok(PathBuf::from(line.trim_matches('\'')))
    }
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().mode() & 0o777
}

#[test]
fn the_carried_library_is_written_once_privately_and_replaced_when_damaged() {
    let a = Alone::new();
    assert_eq!(
        std::fs::read_dir(a.path("bin")).unwrap().count(),
        1,
        "the binary is alone"
    );
    let lib = a.agent_preload().unwrap();
    assert_eq!(lib.parent().unwrap(), a.cache());
    let name = lib.file_name().unwrap().to_str().unwrap();
    let hash = name
        .strip_prefix("libleakhound_preload-")
        .and_then(|n| n.strip_suffix(".so"))
        .unwrap_or_else(|| panic!("{name}"));
    assert!(
        hash.len() == 16 && hash.chars().all(|c| c.is_ascii_hexdigit()),
        "{name}"
    );
    assert_eq!(mode(&a.cache()), 0o700, "the cache directory is private");
    let bytes = std::fs::read(&lib).unwrap();
    assert!(bytes.starts_with(b"\x7fELF"), "a shared object");
    let (code, version, _) = a.run(&["--version"]);
    assert_eq!(code, 0);
    assert!(version.contains(name), "--version names it: {version}");

    // Used again as it is: the same file, not rewritten.
    let before = std::fs::metadata(&lib).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(50));
    assert_eq!(a.agent_preload().unwrap(), lib);
    let after = std::fs::metadata(&lib).unwrap();
    assert_eq!(
        (before.ino(), before.mtime_nsec()),
        (after.ino(), after.mtime_nsec()),
        "reused"
    );

    // A truncated or altered copy is replaced by the carried bytes.
    std::fs::write(&lib, &bytes[..bytes.len() / 2]).unwrap();
    assert_eq!(a.agent_preload().unwrap(), lib);
    assert_eq!(
        std::fs::read(&lib).unwrap(),
        bytes,
        "truncated copy replaced"
    );
    let mut altered = bytes.clone();
    altered[100] ^= 0xff;
    std::fs::write(&lib, &altered).unwrap();
    a.agent_preload().unwrap();
    assert_eq!(std::fs::read(&lib).unwrap(), bytes, "altered copy replaced");

    // A directory others may write to is closed first.
    std::fs::set_permissions(a.cache(), std::fs::Permissions::from_mode(0o777)).unwrap();
    a.agent_preload().unwrap();
    assert_eq!(mode(&a.cache()), 0o700);
    let entries = std::fs::read_dir(a.cache()).unwrap().count();
    assert_eq!(entries, 1, "no temporary file left behind");

    // As root, a cache directory someone else owns is refused, saying why.
    if rustix::process::geteuid().is_root() {
        std::os::unix::fs::chown(a.cache(), Some(65534), None).unwrap();
        let e = a.agent_preload().unwrap_err();
        assert!(e.contains("belongs to uid 65534, not to you"), "{e}");
        assert!(e.contains("XDG_CACHE_HOME"), "{e}");
    }

    // Without XDG_CACHE_HOME, the cache is ~/.cache/leakhound.
    let home = a.path("home");
    let out = a
        .cmd(&["agent", "--dir", a.dir.path().to_str().unwrap(), "--native"])
        .env_remove("XDG_CACHE_HOME")
        .env("HOME", &home)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(
        std::fs::read(home.join(".cache/leakhound").join(name)).unwrap() == bytes,
        "written under HOME"
    );
}

/// `go tool pprof ARGS` with the local toolchain only.
fn pprof(args: &[&str]) -> (String, String) {
    let out = Command::new("go")
        .env("GOTOOLCHAIN", "local")
        .args(["tool", "pprof"])
        .args(args)
        .output()
        .expect("go runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "go tool pprof {args:?}: {err}");
    (text, err)
}

/// The function names of `go tool pprof -top` output, in order (the last column).
fn top_functions(text: &str) -> Vec<String> {
    text.lines()
        .skip_while(|l| !l.trim_start().starts_with("flat"))
        .skip(1)
        .filter_map(|l| l.split_whitespace().last().map(str::to_string))
        .collect()
}

#[test]
fn the_binary_alone_finds_a_c_leak_and_exports_it_for_pprof_and_flame_graphs() {
    let a = Alone::new();
    let program = compile_program(a.dir.path(), "sites.c", &[]);
    // 40 s at 10,000 iterations/s, 64 bytes leaked each (55.3 GB/day); a finer sampling mean
    // than the default so that 40 s hold enough samples of the leak.
    let (code, out, err) = a.run(&[
        "run",
        "--native-sites",
        "--native-sampling",
        "16KiB",
        "--sites-interval",
        "1s",
        "--interval",
        "500ms",
        "--output",
        a.path("program.out").to_str().unwrap(),
        "--format",
        "json",
        "--",
        program.to_str().unwrap(),
        "40",
        "10000",
    ]);
    assert_eq!(code, 0, "{err}");
    let j: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let top = j["sites"][0]["stack"][0].as_str().unwrap_or_default();
    assert!(top.starts_with("leak_one (sites.c:"), "{j:#}\n{err}");
    assert_eq!(j["sites"][0]["verdict"], "leak", "{j:#}");
    assert!(
        std::fs::read_dir(a.cache()).unwrap().count() == 1,
        "the library came from the cache"
    );

    // Folded stacks: outermost frame first, the leak's stack weighs most by leak rate.
    let (code, folded, err) = a.run(&["export", "1", "--format", "folded"]);
    assert_eq!(code, 0, "{err}");
    let heaviest = folded
        .lines()
        .max_by_key(|l| l.rsplit_once(' ').unwrap().1.parse::<u64>().unwrap())
        .unwrap_or_else(|| panic!("no folded stacks: {err}"));
    let (stack, value) = heaviest.rsplit_once(' ').unwrap();
    let frames: Vec<&str> = stack.split(';').collect();
    assert!(
        frames.last().unwrap().starts_with("leak_one (sites.c:"),
        "{folded}"
    );
    let main = frames.iter().position(|f| f.starts_with("main (sites.c:"));
    assert!(
        main.is_some_and(|m| m < frames.len() - 2),
        "outermost first: {folded}"
    );
    let rate: f64 = value.parse().unwrap();
    let truth = 64.0 * 10_000.0 * 86_400.0;
    assert!(
        (rate / truth - 1.0).abs() < 0.3,
        "{rate:.3e} vs {truth:.3e}"
    );
    let (_, live, _) = a.run(&["export", "1", "--format", "folded", "--value", "live-bytes"]);
    assert!(
        live.lines().any(|l| l.contains(";cache_put (sites.c:")),
        "the bounded cache holds bytes without growing: {live}"
    );

    // One site's samples over time, by text of its allocating frame and by rank: the same
    // CSV, which `analyze` judges a leak.
    let (code, csv, err) = a.run(&["export", "1", "--site-series", "leak_one"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(csv.lines().next(), Some("timestamp,bytes,objects"));
    assert!(csv.lines().count() > 20, "{csv}");
    assert_eq!(a.run(&["export", "1", "--site-series", "1"]).1, csv);
    std::fs::write(a.path("site.csv"), &csv).unwrap();
    let (code, judged, err) = a.run(&[
        "analyze",
        a.path("site.csv").to_str().unwrap(),
        "--series",
        "bytes",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    let judged: serde_json::Value = serde_json::from_str(&judged).unwrap();
    assert_eq!(judged["series"][0]["verdict"], "leak", "{judged:#}");
    let (code, _, err) = a.run(&["export", "1", "--site-series", "no_such_function"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("no allocation site has it") && err.contains("#1 leak_one (sites.c:"),
        "{err}"
    );

    // pprof: go tool pprof reads it, leak_one first by the leak rate (its default sample
    // type) and by live bytes.
    if !runtime_available("go", &["version"], "golang-go") {
        return;
    }
    let profile = a.path("sites.pb.gz");
    let (code, _, err) = a.run(&[
        "export",
        "1",
        "--format",
        "pprof",
        "--out",
        profile.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let (text, _) = pprof(&["-top", profile.to_str().unwrap()]);
    assert!(text.contains("Type: leak_rate_per_day"), "{text}");
    assert_eq!(
        top_functions(&text).first().map(String::as_str),
        Some("leak_one"),
        "{text}"
    );
    let (text, _) = pprof(&[
        "-top",
        "-sample_index=live_bytes",
        profile.to_str().unwrap(),
    ]);
    assert_eq!(
        top_functions(&text).first().map(String::as_str),
        Some("leak_one"),
        "{text}"
    );
    let (text, _) = pprof(&["-list", "leak_one", profile.to_str().unwrap()]);
    assert!(text.contains("sites.c"), "file and line: {text}");
    let (text, _) = pprof(&["-tags", profile.to_str().unwrap()]);
    assert!(text.contains("verdict") && text.contains("leak"), "{text}");

    // And its web interface serves the same ranking.
    let port = free_port();
    let web = Command::new("go")
        .env("GOTOOLCHAIN", "local")
        .args(["tool", "pprof", "-no_browser"])
        .arg(format!("-http=127.0.0.1:{port}"))
        .arg(&profile)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _kids = Kids(vec![web]);
    wait_http(port, "/ui/top");
    let (status, page) = util::http(port, "GET", "/ui/top", "");
    assert!(status.contains(" 200"), "{status}");
    let first = page.find("leak_one").expect("leak_one in the page");
    let cache = page.find("cache_put");
    assert!(cache.is_none_or(|c| c > first), "leak_one ranks first");
}

#[test]
fn exports_and_gates_say_what_they_cannot_do() {
    let a = Alone::new();
    let csv = a.path("flat.csv");
    let rows: String = (0..200)
        .map(|i| format!("{},{}\n", 1.7e9 + i as f64 * 10.0, 1e8))
        .collect();
    std::fs::write(&csv, format!("timestamp,rss\n{rows}")).unwrap();
    assert_eq!(a.run(&["import", csv.to_str().unwrap()]).0, 0);
    let (code, _, err) = a.run(&["export", "1", "--format", "pprof", "--out", "/dev/null"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("run 1 has no allocation sites; collect them with `run --native-sites`"),
        "{err}"
    );
    let (code, _, err) = a.run(&["export", "1", "--format", "pprof", "--value", "objects"]);
    assert_eq!(code, 2);
    assert!(err.contains("--value weighs folded stacks"), "{err}");
    let (code, _, err) = a.run(&["export", "1", "--site-series", "x", "--format", "json"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("--site-series") && err.contains("--format"),
        "{err}"
    );
    // `ab` has no verdict of its own: --fail-on is refused, not ignored.
    let (code, _, err) = a.run(&[
        "ab",
        "--a",
        "X=1",
        "--b",
        "X=2",
        "--fail-on",
        "leak",
        "--",
        "true",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("--fail-on: ab compares two variants"), "{err}");
}
