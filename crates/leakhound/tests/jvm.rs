//! The JVM: a one-file Java program (tests/fixtures/Leak.java, run as `java Leak.java`) under
//! `leakhound run --jvm`, read with the JDK's `jcmd`. The class kept in a static list ranks
//! first with verdict `leak` and the class churned through a bounded ring does not leak; the
//! heap series are stored; the program's output stays clean (no thread dump from attaching);
//! and without `jcmd` the error names the package to install.

mod util;

use std::path::PathBuf;

use util::{runtime_available, Dir};

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/Leak.java")
}

fn first_frame(site: &serde_json::Value) -> &str {
    site["stack"][0].as_str().unwrap_or_default()
}

#[test]
fn the_leaking_class_is_the_top_jvm_site() {
    if !runtime_available("java", &["-version"], "default-jdk-headless")
        || !runtime_available("jcmd", &["-h"], "default-jdk-headless")
    {
        return;
    }
    let d = Dir::new();
    // 50 s, a histogram (a full GC) every 2 s: about 15 histograms, enough floor points.
    let r = d.run_env(
        &[
            "run",
            "--for",
            "50s",
            "--jvm",
            "--histogram-interval",
            "2s",
            "--format",
            "json",
            "--output",
            d.path("app.log").to_str().unwrap(),
            "--",
            "java",
            fixture().to_str().unwrap(),
        ],
        &[("LEAK", "on"), ("RATE", "2000"), ("DURATION", "70")],
    );
    r.expect_code(0);
    let j = r.json();
    let sites = j["sites"].as_array().expect("sites in the JSON");
    let top = &sites[0];
    assert_eq!(first_frame(top), "[class] Leak$Session", "{:#}", j["sites"]);
    assert_eq!(top["verdict"], "leak", "{top:#}");
    // 2,000 Sessions of 144 bytes a second: about 25 GB/day.
    let rate = top["rate_bytes_per_day"].as_f64().unwrap();
    assert!(rate > 5e9, "{rate}");
    let churn = sites
        .iter()
        .find(|s| first_frame(s) == "[class] Leak$Scratch")
        .unwrap_or_else(|| panic!("no site of the churned class: {sites:#?}"));
    assert_ne!(churn["verdict"], "leak", "{churn:#}");
    let headline = j["headline"].as_str().unwrap();
    assert!(headline.contains("Leak$Session"), "{headline}");
    // The heap series: GC.heap_info every 5 s at least, live bytes with each histogram.
    let conn = d.open_db();
    for name in ["java.heap_used", "java.heap_committed"] {
        assert!(util::series(&conn, 1, name).len() >= 5, "{name}");
    }
    assert!(util::series(&conn, 1, "java.live_bytes").len() >= 10);
    let log = std::fs::read_to_string(d.path("app.log")).unwrap();
    assert!(!log.contains("Full thread dump"), "{log}");
}

#[test]
fn without_jcmd_the_error_names_the_package() {
    let d = Dir::new();
    let empty = d.path("bin");
    std::fs::create_dir(&empty).unwrap();
    for args in [
        &["run", "--jvm", "--", "java", "Leak.java"][..],
        &["watch", "--jvm", "1", "--for", "1s"][..],
    ] {
        let out = d
            .cmd(args)
            .env("PATH", &empty)
            .env_remove("JAVA_HOME")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains("--jvm: jcmd not found")
                && stderr.contains("apt-get install default-jdk-headless"),
            "{args:?}: {stderr}"
        );
    }
}
