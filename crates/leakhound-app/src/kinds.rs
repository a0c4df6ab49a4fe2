//! What a series is when only its name is known (CSV columns, scraped metrics, agent gauges):
//! a counter or a gauge, bytes or a count.

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
    /// `bytes` or `count`, as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Bytes => "bytes",
            Unit::Count => "count",
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

/// Unit of a scraped metric: Prometheus names memory `..._bytes`.
pub fn scraped_unit(name: &str) -> Unit {
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
        assert_eq!(scraped_unit("process_resident_memory_bytes"), Unit::Bytes);
        assert_eq!(scraped_unit("go_goroutines"), Unit::Count);
    }
}
