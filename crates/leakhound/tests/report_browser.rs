//! The HTML report in a real headless browser (Debian's chromium): it loads from file:// with
//! no console errors, its charts are laid out at a real size, the verdict is on the page, and a
//! screenshot is produced. Also `plot` to SVG and PNG.

mod util;

use util::{browser, chromium, write, Dir};

fn leak_csv(d: &Dir) -> std::path::PathBuf {
    let mut s = String::from("timestamp,rss,uss,http_requests_total\n");
    for i in 0..4000 {
        let t = 1_795_000_000.0 + i as f64 * 60.0;
        let rss = 250e6 + 8e6 * i as f64 * 60.0 / 86400.0 + ((i % 9) as f64) * 2e6;
        s.push_str(&format!("{t},{rss},{},{}\n", rss - 50e6, i * 37));
    }
    let p = d.path("leak.csv");
    write(&p, &s);
    p
}

#[test]
fn report_renders_in_a_real_browser() {
    let Some(_) = chromium() else {
        // CI installs chromium (.ci/run); a developer machine may not have it.
        assert!(
            std::env::var_os("CI").is_none(),
            "chromium is missing on CI"
        );
        eprintln!("skipped: /usr/bin/chromium not installed (apt-get install chromium)");
        return;
    };
    let d = Dir::new();
    let csv = leak_csv(&d);
    let out = d.path("report.html");
    let r = d.run(&[
        "report",
        csv.to_str().unwrap(),
        "--tolerance",
        "2MiB/day",
        "--limit",
        "2GiB",
        "-o",
        out.to_str().unwrap(),
    ]);
    r.expect_code(0);
    let size = std::fs::metadata(&out).unwrap().len();
    assert!(size > 10_000 && size < 2_000_000, "{size} bytes");
    let url = format!("file://{}", out.display());
    let dom = browser(&["--dump-dom", &url], &d.path("profile1"));
    let html = String::from_utf8_lossy(&dom.stdout);
    let log = String::from_utf8_lossy(&dom.stderr);
    assert!(
        html.contains("leak: rss floor grows at"),
        "verdict missing\n{log}"
    );
    // Every chart was laid out at a non-zero size by the browser.
    let sizes: Vec<&str> = html
        .split("data-rendered=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .collect();
    assert!(sizes.len() >= 3, "charts: {sizes:?}\n{log}");
    for s in &sizes {
        let (w, h) = s.split_once('x').unwrap();
        assert!(
            w.parse::<u32>().unwrap() > 100 && h.parse::<u32>().unwrap() > 50,
            "{sizes:?}"
        );
    }
    for bad in ["Uncaught", "CONSOLE(", "Failed to load"] {
        assert!(!log.contains(bad), "console says {bad}:\n{log}");
    }
    // Times in the viewer's time zone, UTC on hover: every chart label and the run's times.
    assert!(
        html.contains("time (your time zone; hover for UTC)"),
        "{log}"
    );
    // Chart labels get a <title> child; the run's <time>s a title attribute.
    let titled = html.matches("<title>UTC 20").count() + html.matches("title=\"UTC 20").count();
    let tagged = html.matches(" data-t=\"").count();
    assert!(
        tagged >= 10 && titled == tagged,
        "{tagged} times, {titled} with UTC titles"
    );
    assert!(html.contains("<h2>Where it grows</h2>") == page_has_sites(&out));
    // --utc keeps UTC.
    let utc = d.path("utc.html");
    d.run(&[
        "report",
        csv.to_str().unwrap(),
        "--utc",
        "-o",
        utc.to_str().unwrap(),
    ])
    .expect_code(0);
    let dom = browser(
        &["--dump-dom", &format!("file://{}", utc.display())],
        &d.path("profile3"),
    );
    let html = String::from_utf8_lossy(&dom.stdout);
    assert!(
        has_text(&html, "time (UTC)") && !has_text(&html, "time (your time zone; hover for UTC)")
    );
    let shot = d.path("shot.png");
    let s = browser(
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1100,2400",
            &url,
        ],
        &d.path("profile2"),
    );
    let png = std::fs::read(&shot).unwrap_or_else(|e| {
        panic!(
            "no screenshot ({e}): {}",
            String::from_utf8_lossy(&s.stderr)
        )
    });
    assert_eq!(&png[1..4], b"PNG");
    assert!(
        png.len() > 20_000,
        "screenshot of {} bytes looks empty",
        png.len()
    );
}

/// Whether some element of `html` holds exactly `text` (whitespace around it aside).
fn has_text(html: &str, text: &str) -> bool {
    html.split(['<', '>']).any(|p| p.trim() == text)
}

/// Whether the report file has a sites section (runs with allocation sites do).
fn page_has_sites(path: &std::path::Path) -> bool {
    std::fs::read_to_string(path)
        .unwrap()
        .contains("<h2>Where it grows</h2>")
}

#[test]
fn plot_writes_svg_and_png() {
    let d = Dir::new();
    let csv = leak_csv(&d);
    let svg = d.path("chart.svg");
    d.run(&["plot", csv.to_str().unwrap(), "-o", svg.to_str().unwrap()])
        .expect_code(0);
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.starts_with("<svg") && text.contains("rss (leak)") && text.contains("MiB"));
    let png = d.path("chart.png");
    d.run(&[
        "plot",
        csv.to_str().unwrap(),
        "--series",
        "uss",
        "--size",
        "800x400",
        "-o",
        png.to_str().unwrap(),
    ])
    .expect_code(0);
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[1..4], b"PNG");
    d.run(&[
        "plot",
        csv.to_str().unwrap(),
        "-o",
        d.path("chart.gif").to_str().unwrap(),
    ])
    .expect_code(2)
    .expect_stderr(".svg or .png");
    d.run(&[
        "plot",
        csv.to_str().unwrap(),
        "--size",
        "huge",
        "-o",
        svg.to_str().unwrap(),
    ])
    .expect_code(2)
    .expect_stderr("--size");
}
