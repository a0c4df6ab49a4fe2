//! Errors a user can cause: clear message, exit code 2, nothing panics.

mod util;

use util::{write, Dir};

#[test]
fn a_missing_command_is_a_clear_error() {
    let d = Dir::new();
    d.run(&["run", "--", "/no/such/program-xyz"])
        .expect_code(2)
        .expect_stderr("cannot start /no/such/program-xyz");
}

#[test]
fn an_unwritable_database_is_a_clear_error() {
    // /proc refuses new directories even to root.
    let out = std::process::Command::new(util::bin())
        .args(["--db", "/proc/leakhound/x.db", "run", "--", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot create the database directory /proc/leakhound"),
        "{err}"
    );
}

#[test]
fn bad_arguments_exit_2_naming_the_option() {
    let d = Dir::new();
    d.run(&["run", "--interval", "soon", "--", "true"])
        .expect_code(2)
        .expect_stderr("--interval");
    d.run(&["run", "--tolerance", "2MiB", "--", "true"])
        .expect_code(2)
        .expect_stderr("--tolerance");
    d.run(&["watch", "--pid", "999999999"])
        .expect_code(2)
        .expect_stderr("--pid 999999999");
    d.run(&["watch", "--name", "(unclosed"])
        .expect_code(2)
        .expect_stderr("--name");
    d.run(&["watch", "--cgroup", "/no/such/cgroup"])
        .expect_code(2)
        .expect_stderr("--cgroup");
    d.run(&["watch"]).expect_code(2);
    d.run(&["frobnicate"]).expect_code(2);
    d.run(&["analyze", "17"])
        .expect_code(2)
        .expect_stderr("no database");
}

#[test]
fn malformed_csv_names_file_and_line() {
    let d = Dir::new();
    let cases = [
        ("empty.csv", "", ":1: the file is empty"),
        (
            "header.csv",
            "time,rss\n1,2\n",
            ":1: first column must be `timestamp`",
        ),
        (
            "text.csv",
            "timestamp,rss\n1,2\n2,lots\n",
            ":3: column \"rss\": \"lots\" is not a finite number",
        ),
        ("nan.csv", "timestamp,rss\n1,2\n2,NaN\n", ":3:"),
        (
            "unsorted.csv",
            "timestamp,rss\n5,2\n4,3\n",
            ":3: timestamp 4 is earlier",
        ),
        (
            "dup.csv",
            "timestamp,rss\n5,2\n5,3\n",
            ":3: duplicate timestamp",
        ),
    ];
    for (name, text, needle) in cases {
        let p = d.path(name);
        write(&p, text);
        let r = d.run(&["analyze", p.to_str().unwrap()]);
        r.expect_code(2).expect_stderr(&format!("{name}{needle}"));
        assert!(!r.stderr().contains("panicked"));
        d.run(&["import", p.to_str().unwrap()])
            .expect_code(2)
            .expect_stderr(name);
    }
    d.run(&["analyze", "/no/such.csv"])
        .expect_code(2)
        .expect_stderr("/no/such.csv");
}
