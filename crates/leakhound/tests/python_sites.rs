//! Python sites by sampling, end to end: `run --sites -- python3 PROG` loads leakhound's
//! profiler library into CPython (through the agent), which samples the interpreter's
//! allocator and reports live bytes per stack of Python and C-extension frames. At the
//! defaults a leaking line is named with its rate and a bounded `lru_cache` is not a leak; a
//! C extension's allocation (`_json`) sits under the Python code that called it, in a thread
//! of its own; a forked worker is profiled on its own; `--retainers` names the dict that holds
//! the leak.

mod util;

use util::{fixture, fixture_line, python_available, Dir};

fn frames(site: &serde_json::Value) -> Vec<&str> {
    site["stack"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect()
}

fn series<'a>(j: &'a serde_json::Value, name: &str) -> Option<&'a serde_json::Value> {
    j["series"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
}

/// `run --sites ... -- python3 FIXTURE` with the environment `env`, its JSON verdict.
fn run_python(d: &Dir, flags: &[&str], name: &str, env: &[(&str, &str)]) -> serde_json::Value {
    let log = d.path("app.log");
    let program = fixture(name);
    let mut args = vec!["run", "--sites", "--format", "json"];
    args.extend_from_slice(flags);
    args.extend_from_slice(&["--output", log.to_str().unwrap(), "--"]);
    args.extend_from_slice(&["python3", program.to_str().unwrap()]);
    let r = d.run_env(&args, env);
    r.expect_code(0);
    assert!(
        !r.stderr().contains("tracemalloc"),
        "sampling fell back to tracemalloc: {}",
        r.describe()
    );
    r.json()
}

#[test]
fn the_leaking_line_is_named_at_the_defaults() {
    if !python_available() {
        return;
    }
    let d = Dir::new();
    // 70 s of 200 requests/s, each keeping 1 KiB; `run --sites`, and `--retainers` to say
    // who holds it.
    let j = run_python(
        &d,
        &["--retainers"],
        "py_leak.py",
        &[("LEAK", "on"), ("RATE", "200"), ("DURATION", "70")],
    );
    let sites = j["sites"].as_array().expect("sites in the JSON");
    let top = &sites[0];
    let leak_line = format!("py_leak.py:{})", fixture_line("py_leak.py", "# the leak"));
    let stack = frames(top);
    assert_eq!(top["verdict"], "leak", "{sites:#?}");
    assert!(
        stack[0].starts_with("remember_session (") && stack[0].ends_with(&leak_line),
        "{top:#}"
    );
    assert!(stack[1].starts_with("handle ("), "{top:#}");
    // The program's own count: each session keeps a 1 KiB bytearray (1,081 bytes with its
    // object); the site also holds the dict's growth, a few percent more.
    let log = std::fs::read_to_string(d.path("app.log")).unwrap();
    let (kept, secs) = log
        .lines()
        .find_map(|l| {
            let rest = l.strip_prefix("kept ")?;
            let (n, rest) = rest.split_once(" sessions in ")?;
            Some((
                n.parse::<f64>().ok()?,
                rest.strip_suffix(" s")?.parse::<f64>().ok()?,
            ))
        })
        .unwrap_or_else(|| panic!("no count in the program's output: {log}"));
    let truth = kept * 1081.0 / secs * 86400.0;
    let rate = top["rate_bytes_per_day"].as_f64().unwrap();
    assert!(
        (rate / truth - 1.0).abs() < 0.25,
        "site rate {rate:.3e}/day, the program kept {truth:.3e}/day: {top:#}"
    );
    // The bounded cache churns and is no leak.
    let render = format!(
        "py_leak.py:{})",
        fixture_line("py_leak.py", "return ('<li>item")
    );
    let cached: Vec<_> = sites
        .iter()
        .filter(|s| frames(s)[0].ends_with(&render))
        .collect();
    assert!(
        !cached.is_empty(),
        "no site of the cached function: {sites:#?}"
    );
    for s in cached {
        assert_ne!(s["verdict"], "leak", "the lru_cache leaks: {s:#}");
    }
    let all: Vec<&str> = sites.iter().flat_map(frames).collect();
    // The standard library is marked as such; the agent's own work is never a site.
    assert!(
        all.iter().any(|f| f.contains("(<stdlib>/random.py:")),
        "{sites:#?}"
    );
    assert!(
        !all.iter().any(|f| f.contains("sitecustomize")),
        "{sites:#?}"
    );
    let sampled = series(&j, "python.sampled_bytes").expect("python.sampled_bytes judged");
    assert_eq!(sampled["verdict"], "leak", "{sampled:#}");
    assert!(series(&j, "python.traced_bytes").is_none());
    let headline = j["headline"].as_str().unwrap();
    assert!(headline.contains("remember_session ("), "{headline}");
    // Who holds it: the module-level dict, found by the agent walking back from the objects
    // born between its two looks that are still alive; the lru_cache holds nothing new.
    let holders = j["holders"].as_array().expect("holders in the JSON");
    let top = &holders[0];
    assert_eq!(top["path"][0], "SESSIONS (dict)", "{holders:#?}");
    assert_eq!(top["path"][1], "module __main__", "{holders:#?}");
    // Sessions born between the looks at 10 s and 30 s: some 4,000 at 200/s, each a 1 KiB
    // bytearray and its key.
    let objects = top["objects"].as_f64().unwrap();
    assert!(objects > 4000.0, "{top:#}");
    assert!(top["bytes"].as_f64().unwrap() > 3e6, "{top:#}");
    assert!(
        !holders
            .iter()
            .any(|h| h["path"].to_string().contains("render")),
        "{holders:#?}"
    );
}

#[test]
fn c_extension_frames_sit_under_their_python_callers_in_each_thread() {
    if !python_available() {
        return;
    }
    let d = Dir::new();
    let j = run_python(
        &d,
        &["--sites-interval", "1s"],
        "py_ext.py",
        &[("DURATION", "25")],
    );
    let sites = j["sites"].as_array().expect("sites in the JSON");
    let caller = |needle: &str| format!("py_ext.py:{})", fixture_line("py_ext.py", needle));
    // The worker thread's JSON documents: the C encoder's frame first (its source file with
    // debug information, else its module), then the standard library's encoder, then the
    // program's function, down to the thread's start.
    let json = sites
        .iter()
        .find(|s| {
            frames(s)
                .iter()
                .any(|f| f.ends_with(&caller("json.dumps(")))
        })
        .unwrap_or_else(|| panic!("no site of encode_orders: {sites:#?}"));
    let stack = frames(json);
    assert!(stack[0].contains("_json"), "{json:#}");
    let at = |prefix: &str| {
        stack
            .iter()
            .position(|f| f.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix} frame: {json:#}"))
    };
    let encoder = at("JSONEncoder.iterencode (<stdlib>/json/encoder.py:");
    let program = at("encode_orders (");
    let thread = at("Thread.run (<stdlib>/threading.py:");
    assert!(
        0 < encoder && encoder < program && program < thread,
        "{json:#}"
    );
    assert_eq!(json["verdict"], "leak", "{json:#}");
    // The main thread's arrays: the array module's frame first where it is a library of its
    // own (compiled into the interpreter, as in Debian's python3, it is left out with the
    // interpreter's frames), then the line that grows them.
    let arrays = sites
        .iter()
        .find(|s| {
            frames(s)
                .iter()
                .any(|f| f.ends_with(&caller("samples.extend(")))
        })
        .unwrap_or_else(|| panic!("no site of fill_samples: {sites:#?}"));
    let stack = frames(arrays);
    assert!(
        stack[0].starts_with("fill_samples (") || stack[0].contains("array"),
        "{arrays:#}"
    );
    assert!(
        !stack.iter().any(|f| f.contains("threading.py")),
        "the main thread's stack: {arrays:#}"
    );
    assert_eq!(arrays["verdict"], "leak", "{arrays:#}");
}

#[test]
fn a_forked_worker_is_profiled_on_its_own() {
    if !python_available() {
        return;
    }
    let d = Dir::new();
    let j = run_python(
        &d,
        &["--sites-interval", "1s"],
        "py_fork.py",
        &[("DURATION", "20")],
    );
    let sites = j["sites"].as_array().expect("sites in the JSON");
    let leak_line = format!(
        "py_fork.py:{})",
        fixture_line("py_fork.py", "# the worker's leak")
    );
    let top = &sites[0];
    assert!(
        frames(top)[0].starts_with("worker_loop (") && frames(top)[0].ends_with(&leak_line),
        "{sites:#?}"
    );
    assert_eq!(top["verdict"], "leak", "{top:#}");
    // The parent's churn is freed at once.
    for s in sites
        .iter()
        .filter(|s| frames(s)[0].starts_with("parent_loop"))
    {
        assert_ne!(s["verdict"], "leak", "{s:#}");
    }
}
