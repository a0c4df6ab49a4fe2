//! `leakhound record`: a reverse proxy that writes the traffic through it to a HAR file.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use leakhound_app::traffic::{record, RecordOptions, RecordStats};
use leakhound_app::user;

use crate::cli::RecordArgs;
use crate::options::{for_duration, http_uri, size};

pub fn run(args: &RecordArgs) -> anyhow::Result<bool> {
    let listen: SocketAddr = args.listen.parse().map_err(|_| {
        user(format!(
            "--listen {:?}: write IP:PORT, e.g. 127.0.0.1:8080",
            args.listen
        ))
    })?;
    let upstream = http_uri(
        "--upstream",
        &args.upstream,
        "http://HOST:PORT (plain HTTP)",
    )?;
    let max_body = size("--max-body", &args.max_body)? as usize;
    let duration = for_duration(args.duration.as_deref())?;
    let opts = RecordOptions {
        listen,
        upstream,
        out: args.out.clone(),
        keep_credentials: args.keep_credentials,
        max_body,
    };
    let stats = Arc::new(RecordStats::default());
    let keep = args.keep_credentials;
    let announce = |bound: SocketAddr| {
        let scope = if bound.ip().is_loopback() {
            "loopback only"
        } else {
            "reachable from other hosts"
        };
        eprintln!(
            "leakhound: recording on http://{bound} ({scope}) -> {}, writing {}{}",
            args.upstream,
            args.out.display(),
            if keep {
                " WITH credentials"
            } else {
                " (credentials redacted)"
            }
        );
    };
    record(opts, Arc::clone(&stats), duration, announce)?;
    eprintln!(
        "leakhound: recorded {} exchanges ({} upstream errors) to {}",
        stats.entries.load(Ordering::Relaxed),
        stats.upstream_errors.load(Ordering::Relaxed),
        args.out.display()
    );
    Ok(false)
}
