//! Tests of [`super`].

use super::*;

#[test]
fn parses_and_checks_lines() {
    let maps = parse_native_maps(
        r#"{"v":1,"type":"native_maps","pid":7,"hooked":true,"modules":[[4096,8192,0,"/bin/x y"],[16384,20480,0,""]]}"#,
    )
    .unwrap();
    assert_eq!(maps.modules[0].path, "/bin/x y");
    assert!(parse_native_maps(r#"{"pid":7,"modules":[[8192,4096,0,"/x"]]}"#).is_err());
    let line = r#"{"v":1,"type":"native_sites","pid":7,"t":2.5,"sampling_bytes":524288,"samples":3,"dropped":0,"sites":[{"frames":[4200,4300],"bytes":1024.5,"objects":2}],"other_bytes":0,"other_objects":0}"#;
    let s = parse_native_sites(line).unwrap();
    assert_eq!(s.sites[0].frames, vec![4200, 4300]);
    for bad in [
        line.replace("1024.5", "-1"),
        line.replace("\"pid\":7", "\"pid\":0"),
        line.replace("[4200,4300]", "[-4]"),
    ] {
        assert!(parse_native_sites(&bad).is_err(), "{bad}");
    }
}

#[test]
fn jit_names_read_like_frames() {
    assert_eq!(
        jit_name("JS:*leak /srv/app/leaky-http.js:22:14"),
        "leak (leaky-http.js:22)"
    );
    assert_eq!(
        jit_name("LazyCompile:~onRequest file:///srv/server.js:40:3"),
        "onRequest (server.js:40)"
    );
    assert_eq!(
        jit_name("JS:~ node:internal/timers:512:25"),
        "(anonymous) (timers:512)"
    );
    assert_eq!(
        jit_name("Builtin:ArrayBufferConstructor"),
        "Builtin:ArrayBufferConstructor"
    );
}

#[test]
fn cpp_names_lose_their_parameters() {
    for (full, short) in [
        (
            "v8::internal::Heap::AllocateExternalBackingStore(std::function<void* (unsigned long)> const&, unsigned long)",
            "v8::internal::Heap::AllocateExternalBackingStore",
        ),
        (
            "node::Buffer::(anonymous namespace)::CreateUnsafeArrayBuffer(v8::FunctionCallbackInfo<v8::Value> const&)",
            "node::Buffer::(anonymous namespace)::CreateUnsafeArrayBuffer",
        ),
        (
            "v8::internal::Snapshot::Initialize(v8::internal::Isolate*) [clone .part.0]",
            "v8::internal::Snapshot::Initialize",
        ),
        ("app::Cache::put(unsigned long) const", "app::Cache::put"),
        ("std::function<void ()>::operator()() const", "std::function<void ()>::operator()"),
        ("operator new(unsigned long)", "operator new"),
        ("leak_one", "leak_one"),
        ("(anonymous)", "(anonymous)"),
    ] {
        assert_eq!(without_parameters(full), short);
    }
}

#[test]
fn perf_map_later_lines_win() {
    let mut m = PerfMap::default();
    m.add(b"1000 100 JS:*a /x.js:1:1\n1000 80 JS:*b /x.js:2:1\n2000 10 Stub\n3000 1");
    assert_eq!(m.read, 62, "the partial last line waits");
    assert_eq!(m.find(0x1010), Some("b (x.js:2)"));
    assert_eq!(m.find(0x1090), None, "past the newer, shorter entry");
    assert_eq!(m.find(0x2005), Some("Stub"));
    assert_eq!(m.find(0x500), None);
}

#[test]
fn symbolizes_this_test_binary() {
    // The address of a function of this very executable, through its module map.
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let mut modules = Vec::new();
    for line in maps.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 6 || !f[1].contains('x') {
            continue;
        }
        let (s, e) = f[0].split_once('-').unwrap();
        modules.push(Mapping {
            start: u64::from_str_radix(s, 16).unwrap(),
            end: u64::from_str_radix(e, 16).unwrap(),
            offset: u64::from_str_radix(f[2], 16).unwrap(),
            path: f[5].to_string(),
        });
    }
    let addr = symbolizes_this_test_binary as *const () as u64 + 1;
    let pid = std::process::id() as i32;
    let mut sym = Symbolizer::new();
    let frames = sym.stack(pid, &modules, &[addr, 1], None);
    assert_eq!(frames.len(), 1, "stops at the unmapped address: {frames:?}");
    assert!(
        frames[0].contains("symbolizes_this_test_binary"),
        "{frames:?}"
    );
    assert!(frames[0].contains("tests.rs:"), "{frames:?}");
    assert!(is_dynamically_linked(&std::env::current_exe().unwrap()).unwrap());
    assert_eq!(is_dynamically_linked(Path::new("/proc/self/maps")), None);
}
