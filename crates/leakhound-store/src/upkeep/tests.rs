//! Tests of [`super`].

use super::*;
use crate::{NewRun, SeriesKind};
use std::collections::BTreeMap;

const T0: f64 = 1_795_478_400.0;

/// A run with a page-aligned gauge and a counter sampled every second for `secs`, written
/// a minute at a time as a sampler does.
fn sampled(dir: &std::path::Path, secs: usize) -> (Store, RunId, SeriesId, SeriesId) {
    let mut s = Store::open(&dir.join("lh.db")).unwrap();
    let run = s
        .create_run(&NewRun {
            kind: "watch".into(),
            target: "t".into(),
            host: "h".into(),
            started_at: T0,
            interval_s: Some(1.0),
            limit_bytes: None,
            version: "0".into(),
        })
        .unwrap();
    let none = BTreeMap::new();
    let g = s
        .series(run, "rss", &none, SeriesKind::Gauge, "bytes")
        .unwrap();
    let c = s
        .series(run, "requests", &none, SeriesKind::Counter, "count")
        .unwrap();
    let mut x = 100e6_f64;
    for minute in 0..secs.div_ceil(60) {
        let rows: Vec<(SeriesId, f64, f64)> = (minute * 60..((minute + 1) * 60).min(secs))
            .flat_map(|i| {
                x += (((i * 7919) % 41) as f64 - 20.0) * 4096.0;
                let t = T0 + i as f64 + (i % 3) as f64 / 1e3;
                [(g, t, x), (c, t, (i * 5) as f64)]
            })
            .collect();
        s.write_batch(run, &rows, &[]).unwrap();
    }
    (s, run, g, c)
}

/// Upkeep of every series at `now`, to the end.
fn upkeep_all(s: &Store, now: f64, retention: Option<f64>) -> UpkeepDone {
    let u = Upkeep {
        now,
        retention,
        run: None,
    };
    s.upkeep(&u, &mut UpkeepCursor::default(), None).unwrap()
}

fn rows_left(s: &Store, series: SeriesId) -> i64 {
    s.conn
        .query_row(
            "SELECT COUNT(*) FROM samples WHERE series_id = ?1",
            [series],
            |r| r.get(0),
        )
        .unwrap()
}

fn bits(c: &(Vec<f64>, Vec<f64>)) -> (Vec<u64>, Vec<u64>) {
    (
        c.0.iter().map(|x| x.to_bits()).collect(),
        c.1.iter().map(|x| x.to_bits()).collect(),
    )
}

#[test]
fn closed_blocks_become_chunks_that_read_back_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let (s, run, g, c) = sampled(dir.path(), 3 * 3600 + 600);
    let (before_g, before_c) = (s.samples(g).unwrap(), s.samples(c).unwrap());
    let bounded = s.samples_bounded(g, 500).unwrap();
    let size_rows = s.run(run).unwrap().size_bytes;
    let now = T0 + 3.0 * 3600.0 + 600.0;
    let done = upkeep_all(&s, now, None);
    // Blocks of an hour: the three whole hours are closed, the last 10 minutes are not.
    assert!(done.finished);
    assert_eq!(done.blocks, 6);
    assert_eq!(done.compacted, 2 * 3 * 3600);
    assert_eq!(rows_left(&s, g), 600);
    assert_eq!(bits(&s.samples(g).unwrap()), bits(&before_g));
    assert_eq!(bits(&s.samples(c).unwrap()), bits(&before_c));
    assert_eq!(bits(&s.samples_bounded(g, 500).unwrap()), bits(&bounded));
    let info = s.run(run).unwrap();
    assert_eq!(info.samples, 2 * (3 * 3600 + 600));
    assert_eq!(info.last_sample_at, before_g.0.last().copied());
    assert!(
        info.size_bytes * 5 < size_rows,
        "{} bytes after, {size_rows} before",
        info.size_bytes
    );
    // Nothing more to do until another block closes.
    let again = upkeep_all(&s, now, None);
    assert_eq!(again.blocks, 0);
}

#[test]
fn blocks_older_than_the_retention_become_floor_summaries() {
    let dir = tempfile::tempdir().unwrap();
    let (s, run, g, c) = sampled(dir.path(), 3 * 3600);
    let raw = s.samples(g).unwrap();
    let raw_c = s.samples(c).unwrap();
    let now = T0 + 3.0 * 3600.0 + 120.0;
    // A retention of 90 minutes: the first hour is older than it, the second ends inside it.
    let done = upkeep_all(&s, now, Some(5400.0));
    assert_eq!(done.summarized, 2 * 3600);
    assert_eq!(done.windows, 2 * 60, "one-minute windows at 1 s");
    let floors = s.floor_summaries(g).unwrap();
    assert_eq!(floors.len(), 60);
    for (k, w) in floors.iter().enumerate() {
        let span = &raw.1[k * 60..(k + 1) * 60];
        assert_eq!(w.count, 60);
        assert_eq!(w.min, span.iter().copied().fold(f64::MAX, f64::min));
        assert_eq!(w.max, span.iter().copied().fold(f64::MIN, f64::max));
        assert!(w.low >= w.min && w.low <= w.max);
    }
    // The analysis reads a window as one point: the floor for a gauge, the last count for
    // a counter; the rest as it was.
    let (t, v) = s.samples(g).unwrap();
    assert_eq!(t.len(), 60 + 2 * 3600);
    assert_eq!(v[0], floors[0].low);
    assert_eq!(&t[60..], &raw.0[3600..]);
    let (tc, vc) = s.samples(c).unwrap();
    assert_eq!((tc[0], vc[0]), (raw_c.0[59], raw_c.1[59]));
    let info = s.run(run).unwrap();
    assert_eq!(info.samples, 2 * 3 * 3600, "summarized samples still count");
    assert_eq!(info.summarized_samples, 2 * 3600);
    // Later, the next hour follows: from its chunk.
    let done = upkeep_all(&s, now + 3600.0, Some(5400.0));
    assert_eq!(done.summarized, 2 * 3600);
    assert_eq!(s.floor_summaries(g).unwrap().len(), 120);
}

#[test]
fn a_late_row_for_a_compacted_block_is_read_at_once_and_merged_by_the_next_upkeep() {
    let dir = tempfile::tempdir().unwrap();
    let (mut s, run, g, _) = sampled(dir.path(), 3600);
    upkeep_all(&s, T0 + 2.0 * 3600.0, None);
    assert_eq!(rows_left(&s, g), 0);
    // A repeated sample replaces the earlier value, and a new one joins in time order.
    let t10 = T0 + 10.0 + 0.001;
    s.write_batch(run, &[(g, t10, 1.0), (g, T0 + 10.5, 2.0)], &[])
        .unwrap();
    let (t, v) = s.samples(g).unwrap();
    assert_eq!(t.len(), 3601);
    assert_eq!((t[10], v[10], t[11], v[11]), (t10, 1.0, T0 + 10.5, 2.0));
    upkeep_all(&s, T0 + 2.0 * 3600.0, None);
    assert_eq!(rows_left(&s, g), 0);
    assert_eq!(s.samples(g).unwrap(), (t, v));
}

#[test]
fn a_deadline_cuts_upkeep_short_and_the_cursor_goes_on_from_there() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _, g, c) = sampled(dir.path(), 4 * 3600);
    let u = Upkeep {
        now: T0 + 5.0 * 3600.0,
        retention: None,
        run: None,
    };
    let mut cursor = UpkeepCursor::default();
    let first = s.upkeep(&u, &mut cursor, Some(Instant::now())).unwrap();
    assert!(!first.finished);
    assert_eq!(first.blocks, 1, "one block, then the deadline");
    let mut total = first;
    while !total.finished {
        let d = s.upkeep(&u, &mut cursor, Some(Instant::now())).unwrap();
        total.add(&d);
        total.finished = d.finished;
    }
    assert_eq!(total.blocks, 8);
    assert_eq!(rows_left(&s, g) + rows_left(&s, c), 0);
}

#[test]
fn a_reader_never_sees_a_sample_twice_or_misses_one_while_upkeep_moves_them() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _, g, _) = sampled(dir.path(), 6 * 3600);
    let reader = s.open_reader().unwrap();
    let want = reader.samples(g).unwrap();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let stop = &stop;
    let want = &want;
    std::thread::scope(|sc| {
        let h = sc.spawn(move || {
            let mut reads = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                assert_eq!(&reader.samples(g).unwrap(), want);
                reads += 1;
            }
            reads
        });
        let mut cursor = UpkeepCursor::default();
        for h in 1..=6 {
            let u = Upkeep {
                now: T0 + f64::from(h) * 3600.0 + GRACE,
                retention: None,
                run: None,
            };
            s.upkeep(&u, &mut cursor, None).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        assert!(h.join().unwrap() > 0);
    });
    assert_eq!(rows_left(&s, g), 0);
}

#[test]
fn freed_pages_go_back_to_the_file_system() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _, _, _) = sampled(dir.path(), 4 * 3600);
    let before = s.file_bytes().unwrap();
    upkeep_all(&s, T0 + 5.0 * 3600.0, None);
    s.shrink().unwrap();
    let after = s.file_bytes().unwrap();
    assert!(after * 4 < before, "{before} -> {after} bytes");
    assert_eq!(s.integrity_check().unwrap(), "ok");
}

#[test]
fn widths_follow_the_spacing_and_nest() {
    assert_eq!(block_width(0.05), 300.0);
    assert_eq!(block_width(1.0), 3600.0);
    assert_eq!(block_width(10.0), 21600.0);
    assert_eq!(block_width(30.0), 86400.0);
    assert_eq!(block_width(3600.0), 86400.0);
    assert_eq!(window_width(1.0), 60.0);
    assert_eq!(window_width(10.0), 150.0);
    assert_eq!(window_width(60.0), 300.0);
    for b in BLOCK_WIDTHS {
        assert!(WINDOW_WIDTHS.iter().all(|w| b % w == 0.0), "{b}");
    }
}

#[test]
fn a_time_belongs_to_exactly_one_span() {
    for t in [
        0.0,
        299.999,
        300.0,
        1_795_478_400.0,
        1_795_478_399.999_999,
        -1.0,
    ] {
        let s = span_start(t, 300.0);
        assert!(s <= t && t < s + 300.0, "{t} {s}");
    }
}

#[test]
fn windows_split_on_their_edges_and_merge_when_summarized_twice() {
    let t = [0.0, 30.0, 59.0, 60.0, 119.0];
    let v = [5.0, 3.0, 4.0, 9.0, 8.0];
    let w = summarize_windows(&t, &v, 60.0);
    assert_eq!(w.len(), 2);
    assert_eq!((w[0].count, w[0].min, w[0].last), (3, 3.0, 4.0));
    assert_eq!((w[1].count, w[1].min, w[1].last), (2, 8.0, 8.0));
    let late = summarize_windows(&[45.0], &[1.0], 60.0);
    let m = merge_windows(w, late, 60.0);
    assert_eq!(m.len(), 2);
    assert_eq!((m[0].count, m[0].min, m[0].t_last), (4, 1.0, 59.0));
}
