//! Warnings while sampling: printed once per run and stored as events, so a problem that lasts
//! (an unreadable process, an endpoint down) is said once, not every interval.
//!
//! Bounds: a warning about one process is remembered while that process is listed, then
//! forgotten (a service that recycles its workers would otherwise add one per worker forever);
//! other warnings are remembered up to [`MAX_WARNINGS`] different texts, and further ones are
//! counted, said once to be counted, and their number stored when the session ends.

use std::collections::{BTreeSet, HashMap, HashSet};

use crate::kinds::EventKind;
use leakhound_store::Event;

/// Most different warnings (not about one process) remembered in one run.
pub const MAX_WARNINGS: usize = 256;

/// The warnings said so far.
#[derive(Debug, Default)]
pub struct Warnings {
    said: BTreeSet<String>,
    /// Warnings about one process, by its pid, while it is listed.
    about: HashMap<i32, BTreeSet<String>>,
    /// Different warnings not said because [`MAX_WARNINGS`] were.
    unsaid: u64,
}

fn say(message: String, events: &mut Vec<Event>, now: f64) {
    eprintln!("leakhound: warning: {message}");
    events.push(Event {
        t: now,
        kind: EventKind::Warning.as_str().into(),
        detail: message,
    });
}

impl Warnings {
    /// Prints `message` and adds it to `events`, unless it was said before.
    pub fn once(&mut self, message: String, events: &mut Vec<Event>, now: f64) {
        if self.said.contains(&message) {
            return;
        }
        if self.said.len() >= MAX_WARNINGS {
            self.unsaid += 1;
            if self.unsaid == 1 {
                say(
                    format!("more than {MAX_WARNINGS} different warnings; further ones are counted, not said"),
                    events,
                    now,
                );
            }
            return;
        }
        self.said.insert(message.clone());
        say(message, events, now);
    }

    /// Like [`once`](Self::once) for a warning about process `pid`: said again only if a
    /// process with that pid is listed again after it was gone.
    pub fn once_for(&mut self, pid: i32, message: String, events: &mut Vec<Event>, now: f64) {
        if self.about.entry(pid).or_default().insert(message.clone()) {
            say(message, events, now);
        }
    }

    /// Forgets the warnings about processes not in `listed`.
    pub fn keep_pids(&mut self, listed: &HashSet<i32>) {
        self.about.retain(|pid, _| listed.contains(pid));
    }

    /// The closing word on warnings not said, if any.
    pub fn unsaid(&self) -> Option<String> {
        (self.unsaid > 0).then(|| {
            format!(
                "{} further different warnings were not said (more than {MAX_WARNINGS})",
                self.unsaid
            )
        })
    }

    /// Texts remembered now (for tests of the bound).
    #[cfg(test)]
    pub fn remembered(&self) -> usize {
        self.said.len() + self.about.values().map(BTreeSet::len).sum::<usize>()
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

    #[test]
    fn warnings_about_a_process_go_with_it_and_others_stop_at_the_bound() {
        let mut w = Warnings::default();
        let mut events = Vec::new();
        for pid in 0..10_000 {
            w.once_for(pid, format!("skipping pid {pid}: denied"), &mut events, 1.0);
            w.once_for(pid, format!("skipping pid {pid}: denied"), &mut events, 2.0);
            w.keep_pids(&HashSet::from([pid]));
        }
        assert_eq!(events.len(), 10_000, "each once");
        assert_eq!(w.remembered(), 1, "only the listed process's");
        events.clear();
        for i in 0..1000 {
            w.once(format!("endpoint {i} down"), &mut events, 3.0);
        }
        assert_eq!(events.len(), MAX_WARNINGS + 1, "the bound is said once");
        assert!(events[MAX_WARNINGS].detail.contains("counted"));
        assert_eq!(w.remembered(), MAX_WARNINGS + 1);
        assert_eq!(
            w.unsaid().unwrap(),
            "744 further different warnings were not said (more than 256)"
        );
    }
}
