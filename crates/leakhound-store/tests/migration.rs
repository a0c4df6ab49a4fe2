//! A database written by leakhound before compact storage (schema 2: `fixtures/v2.db`, made
//! by that version's `leakhound import fixtures/day.csv` and a 3-second `watch --pid`) opens
//! in this version, reads the same, compacts, and shrinks.

use std::path::PathBuf;

use leakhound_store::{Store, Upkeep, UpkeepCursor};

fn fixture() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lh.db");
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v2.db");
    std::fs::copy(src, &path).unwrap();
    (dir, path)
}

/// The CSV's columns, as the importer parsed them.
fn csv() -> Vec<(String, Vec<f64>, Vec<f64>)> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/day.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    let table = leakhound_store::csv::parse("day.csv", &text).unwrap();
    (0..table.names.len())
        .map(|i| {
            let (t, v) = table.series(i);
            (table.names[i].clone(), t, v)
        })
        .collect()
}

fn user_version(path: &std::path::Path) -> i64 {
    rusqlite::Connection::open(path)
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn a_schema_2_database_opens_reads_the_same_compacts_and_shrinks() {
    let (_dir, path) = fixture();
    assert_eq!(user_version(&path), 2);
    // Readers of an old file work before any writer migrated it.
    let old = Store::open_read_only(&path).unwrap();
    let runs_before = old.runs().unwrap();
    assert_eq!(runs_before.len(), 2);
    drop(old);

    let s = Store::open(&path).unwrap();
    assert_eq!(user_version(&path), 3);
    let runs = s.runs().unwrap();
    let (import, watch) = (&runs[0], &runs[1]);
    assert_eq!(
        (watch.kind.as_str(), import.kind.as_str()),
        ("watch", "import")
    );
    assert_eq!(import.samples, 3 * 1441);
    assert_eq!(watch.samples, runs_before[1].samples);
    let expected = csv();
    let check = |s: &Store| {
        for info in s.series_of(import.id).unwrap() {
            let (_, t, v) = expected.iter().find(|c| c.0 == info.name).unwrap();
            assert_eq!(
                &s.samples(info.id).unwrap(),
                &(t.clone(), v.clone()),
                "{}",
                info.name
            );
        }
    };
    check(&s);
    let watched: Vec<_> = s
        .series_of(watch.id)
        .unwrap()
        .iter()
        .map(|i| s.samples(i.id).unwrap())
        .collect();

    // Everything is long closed: upkeep compacts all of it.
    let before = s.file_bytes().unwrap();
    let size_before = import.size_bytes;
    let u = Upkeep {
        now: 2.0e9,
        retention: None,
        run: None,
    };
    let done = s.upkeep(&u, &mut UpkeepCursor::default(), None).unwrap();
    assert!(done.finished);
    assert_eq!(done.compacted, import.samples + watch.samples);
    check(&s);
    for (i, info) in s.series_of(watch.id).unwrap().iter().enumerate() {
        assert_eq!(s.samples(info.id).unwrap(), watched[i], "{}", info.name);
    }
    s.shrink().unwrap();
    let after = s.file_bytes().unwrap();
    assert!(after < before, "{before} -> {after} bytes");
    let import_after = &s.runs().unwrap()[0];
    assert_eq!(import_after.samples, import.samples);
    assert!(
        import_after.size_bytes * 3 < size_before,
        "{size_before} -> {} bytes",
        import_after.size_bytes
    );
    assert_eq!(s.integrity_check().unwrap(), "ok");
    // Rewritten once by VACUUM, the file now frees pages in place.
    let mode: i64 = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row("PRAGMA auto_vacuum", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, 2);
}

#[test]
fn a_new_database_frees_pages_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.db");
    drop(Store::open(&path).unwrap());
    let mode: i64 = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row("PRAGMA auto_vacuum", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, 2, "incremental");
    assert_eq!(user_version(&path), 3);
}
