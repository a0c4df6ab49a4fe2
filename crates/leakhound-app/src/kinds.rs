//! What a series is when only its name is known (CSV columns, scraped metrics, agent gauges):
//! a counter or a gauge, bytes or a count; what a run's events record and how a run ended.
//! Typed here, turned into the stored words only at the store's edge ([`EventKind::as_str`],
//! [`RunStatus::as_str`]).

use leakhound_store::SeriesKind;

/// What a series measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Memory.
    Bytes,
    /// Anything counted: fds, threads, processes, events, milliseconds of delay.
    Count,
}

impl Unit {
    /// The unit stored as `s`: `bytes`, else a count.
    pub fn parse(s: &str) -> Unit {
        if s == Unit::Bytes.as_str() {
            Unit::Bytes
        } else {
            Unit::Count
        }
    }

    /// `bytes` or `count`, as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Bytes => "bytes",
            Unit::Count => "count",
        }
    }
}

/// What an event of a run records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// A watched process appeared (not after an exit).
    Instance,
    /// A watched process exited.
    Exit,
    /// A process appeared after every earlier one had exited: each lifetime gets its own level.
    Restart,
    /// Something leakhound said during the session (stored once per text).
    Warning,
    /// The load the session assumed, so that judging the run later assumes it too.
    Load,
    /// What holds the memory that leaks (`--retainers`), see [`crate::database::holders_detail`].
    Holders,
    /// Where a CSV input's series came from.
    Csv,
}

impl EventKind {
    /// The word stored in the database.
    pub const fn as_str(self) -> &'static str {
        match self {
            EventKind::Instance => "instance",
            EventKind::Exit => "exit",
            EventKind::Restart => "restart",
            EventKind::Warning => "warning",
            EventKind::Load => "load",
            EventKind::Holders => "holders",
            EventKind::Csv => "csv",
        }
    }

    /// An event of this kind at `t`.
    pub fn at(self, t: f64, detail: String) -> leakhound_store::Event {
        leakhound_store::Event {
            t,
            kind: self.as_str().into(),
            detail,
        }
    }
}

/// How a run ended, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    /// Its command exited, its targets are gone, or its input was read whole.
    Finished,
    /// Ctrl-C or SIGTERM.
    Interrupted,
    /// `--for` ran out, or a sequential look was conclusive.
    Stopped,
}

impl RunStatus {
    /// The word stored in the database.
    pub const fn as_str(self) -> &'static str {
        match self {
            RunStatus::Finished => "finished",
            RunStatus::Interrupted => "interrupted",
            RunStatus::Stopped => "stopped",
        }
    }
}

/// Whether a CSV column is a counter, by the naming conventions of Prometheus and of
/// leakhound's agents (`_total`, `.requests`, `_count`, ...).
pub fn looks_like_counter(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n.ends_with("_total")
        || n.ends_with(".total")
        || n.ends_with("_count")
        || n.ends_with(".count")
        || n.ends_with("requests")
        || n.ends_with("events")
}

/// Kind of a CSV column by name.
pub fn csv_kind(name: &str) -> SeriesKind {
    if looks_like_counter(name) {
        SeriesKind::Counter
    } else {
        SeriesKind::Gauge
    }
}

/// Unit of a CSV column by name: counts for fds/threads/processes/objects and counters, else
/// bytes.
pub fn csv_unit(name: &str) -> Unit {
    let n = name.to_ascii_lowercase();
    if looks_like_counter(&n)
        || ["fds", "threads", "processes", "handles", "objects"]
            .iter()
            .any(|k| n.ends_with(k))
    {
        Unit::Count
    } else {
        Unit::Bytes
    }
}

/// Unit of a metric known only by its name (a scraped metric, another runtime's gauge such as
/// `python.traced_bytes` or `python.gc.gen0`): Prometheus and the agents name memory
/// `..._bytes`; anything else counts.
pub fn unit_of_name(name: &str) -> Unit {
    if name.ends_with("_bytes") {
        Unit::Bytes
    } else {
        Unit::Count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_columns_by_name() {
        for c in [
            "http_requests_total",
            "node.http.client.requests",
            "gc_count",
            "app.events",
        ] {
            assert_eq!(csv_kind(c), SeriesKind::Counter, "{c}");
            assert_eq!(csv_unit(c), Unit::Count, "{c}");
        }
        for (c, unit) in [
            ("rss", Unit::Bytes),
            ("fds", Unit::Count),
            ("node.handles", Unit::Count),
            // `export --site-series`'s columns, and the runtimes' object counts.
            ("bytes", Unit::Bytes),
            ("objects", Unit::Count),
            ("java.live_objects", Unit::Count),
        ] {
            assert_eq!(csv_kind(c), SeriesKind::Gauge, "{c}");
            assert_eq!(csv_unit(c), unit, "{c}");
        }
        assert_eq!(unit_of_name("process_resident_memory_bytes"), Unit::Bytes);
        assert_eq!(unit_of_name("go_goroutines"), Unit::Count);
    }
}
