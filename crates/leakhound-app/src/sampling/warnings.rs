//! Warnings while sampling: printed once per run and stored as events, so a problem that lasts
//! (an unreadable process, an endpoint down) is said once, not every interval.

use std::collections::BTreeSet;

use leakhound_store::Event;

/// The warnings said so far.
#[derive(Debug, Default)]
pub struct Warnings {
    said: BTreeSet<String>,
}

impl Warnings {
    /// Prints `message` and adds it to `events`, unless it was said before.
    pub fn once(&mut self, message: String, events: &mut Vec<Event>, now: f64) {
        if self.said.insert(message.clone()) {
            eprintln!("leakhound: warning: {message}");
            events.push(Event {
                t: now,
                kind: "warning".into(),
                detail: message,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_warning_is_stored_once() {
        let mut w = Warnings::default();
        let mut events = Vec::new();
        w.once("scrape x: refused".into(), &mut events, 1.0);
        w.once("scrape x: refused".into(), &mut events, 2.0);
        w.once("scrape y: refused".into(), &mut events, 2.0);
        let details: Vec<(f64, &str)> = events.iter().map(|e| (e.t, e.detail.as_str())).collect();
        assert_eq!(
            details,
            [(1.0, "scrape x: refused"), (2.0, "scrape y: refused")]
        );
        assert!(events.iter().all(|e| e.kind == "warning"));
    }
}
