//! Tests of [`super`].

use super::*;
use std::io::Write;

const LINE: &str = r#"{"v":1,"pid":42,"t":1700000000.5,"rss":1000,"heap_total":500,"heap_used":400,"external":30,"array_buffers":10,"malloced":5,"detached_contexts":0,"event_loop_delay_ms":1.5,"handles":3,"counters":{"node.http.client.requests":7}}"#;

#[test]
fn parses_a_report() {
    let r = parse_report(LINE).unwrap();
    assert_eq!(r.pid, 42);
    assert_eq!(r.counters["node.http.client.requests"], 7.0);
}

#[test]
fn rejects_bad_reports() {
    for bad in [
        "",
        "{",
        "null",
        r#"{"pid":1}"#,
        &LINE.replace("1000", "-5"),
        &LINE.replace("\"pid\":42", "\"pid\":0"),
    ] {
        assert!(parse_report(bad).is_err(), "{bad}");
    }
}

#[test]
fn runtime_reports_are_checked() {
    let line = r#"{"v":1,"type":"runtime","runtime":"python","pid":9,"t":2.5,"gauges":{"python.traced_bytes":4096,"python.objects.dict":12},"counters":{"python.gc.collections.gen0":3}}"#;
    let r = parse_runtime_report(line).unwrap();
    assert_eq!(r.gauges["python.traced_bytes"], 4096.0);
    assert_eq!(runtime_gauges(&[r.clone(), r])["python.objects.dict"], 24.0);
    for bad in [
        line.replace("4096", "-1"),
        line.replace("\"pid\":9", "\"pid\":0"),
        line.replace("python.objects.dict", "python objects"),
        line.replace("\"python\"", "\"\""),
    ] {
        assert!(parse_runtime_report(&bad).is_err(), "{bad}");
    }
}

#[test]
fn keeps_user_python_path() {
    let d = Path::new("/tmp/x/python");
    assert_eq!(python_path(None, d), "/tmp/x/python");
    assert_eq!(python_path(Some(""), d), "/tmp/x/python");
    assert_eq!(python_path(Some("/a:/b"), d), "/tmp/x/python:/a:/b");
}

#[test]
fn keeps_user_node_options() {
    let a = Path::new("/tmp/x/agent.js");
    assert_eq!(node_options(None, a), "--require \"/tmp/x/agent.js\"");
    assert_eq!(
        node_options(Some("--max-old-space-size=512"), a),
        "--max-old-space-size=512 --require \"/tmp/x/agent.js\""
    );
}

#[test]
fn listener_receives_reports_and_counts_garbage() {
    let l = AgentListener::bind_private().unwrap();
    let mut s = std::os::unix::net::UnixStream::connect(l.socket()).unwrap();
    writeln!(s, "not json").unwrap();
    writeln!(s, "{LINE}").unwrap();
    drop(s);
    for _ in 0..100 {
        if !l.latest(&[42]).is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(l.latest(&[42])[0].heap_used, 400.0);
    assert_eq!(l.counters(&[42].into())["node.http.client.requests"], 7.0);
    let mut s = std::os::unix::net::UnixStream::connect(l.socket()).unwrap();
    writeln!(
        s,
        r#"{{"v":1,"type":"runtime","runtime":"python","pid":42,"t":2,"gauges":{{"python.allocated_blocks":5}},"counters":{{"python.gc.collected":4}}}}"#
    )
    .unwrap();
    drop(s);
    for _ in 0..100 {
        if !l.latest_runtime(&[42]).is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(
        l.latest_runtime(&[42])[0].gauges["python.allocated_blocks"],
        5.0
    );
    let c = l.counters(&[42].into());
    assert_eq!(
        (c["node.http.client.requests"], c["python.gc.collected"]),
        (7.0, 4.0)
    );
    assert!(l.counters(&[43].into()).is_empty());
    assert_eq!(l.rejected(), 1);
    let mut s = std::os::unix::net::UnixStream::connect(l.socket()).unwrap();
    writeln!(
        s,
        r#"{{"v":1,"type":"sites","source":"node","pid":42,"t":2,"sites":[{{"frames":["f (a.js:1)"],"bytes":4096}}]}}"#
    )
    .unwrap();
    drop(s);
    let mut got = Vec::new();
    for _ in 0..100 {
        got = l.take_sites(&[42]);
        if !got.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(got[0].sites[0].bytes, 4096.0);
    assert!(l.take_sites(&[42]).is_empty(), "a report is taken once");
    let dir = l.socket().parent().unwrap().to_path_buf();
    drop(l);
    assert!(!dir.exists(), "private directory removed");
}
