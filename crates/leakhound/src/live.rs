//! Live status while sampling: a spinner line with a sparkline on a terminal, a plain line
//! every ten seconds when stderr is piped; and, for `watch`, the verdict at each look.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use leakhound_app::session::Observer;
use leakhound_app::Judged;
use leakhound_report::terminal::sparkline;
use leakhound_report::units::{format_bytes, format_duration};

/// The live display of one session.
pub struct Live {
    /// Started at the first sample, so it does not draw over what is said before.
    bar: Option<ProgressBar>,
    started: bool,
    last_plain: Option<Instant>,
    recent: Vec<f64>,
    print_looks: bool,
}

impl Live {
    /// A display that prints the verdict at each look when `print_looks`.
    pub fn new(print_looks: bool) -> Live {
        Live {
            bar: None,
            started: false,
            last_plain: None,
            recent: Vec::new(),
            print_looks,
        }
    }

    fn start(&mut self) {
        self.started = true;
        self.bar = std::io::stderr().is_terminal().then(|| {
            let b = ProgressBar::new_spinner();
            b.set_style(
                ProgressStyle::with_template("{spinner} {msg}").expect("template is valid"),
            );
            b.enable_steady_tick(Duration::from_millis(200));
            b
        });
    }
}

impl Observer for Live {
    fn sampled(&mut self, elapsed: f64, ticks: u64, rss: Option<f64>) {
        if !self.started {
            self.start();
        }
        if let Some(v) = rss {
            self.recent.push(v);
            if self.recent.len() > 4096 {
                // Keep it bounded: halve by pairwise minimum, so the floor shape survives.
                self.recent = self
                    .recent
                    .chunks(2)
                    .map(|c| c.iter().copied().fold(f64::INFINITY, f64::min))
                    .collect();
            }
        }
        // The floor now: the lowest of the latest readings (the start is not the floor).
        let latest = &self.recent[self.recent.len().saturating_sub(30)..];
        let floor = latest.iter().copied().fold(f64::INFINITY, f64::min);
        let rss_text = rss.map(format_bytes).unwrap_or_else(|| "-".into());
        let msg = format!(
            "{} · {ticks} samples · rss {rss_text} · floor {} {}",
            format_duration(elapsed),
            if floor.is_finite() {
                format_bytes(floor)
            } else {
                "-".into()
            },
            sparkline(&self.recent, 24)
        );
        match &self.bar {
            Some(b) => b.set_message(msg),
            None => {
                if self
                    .last_plain
                    .is_none_or(|t| t.elapsed() >= Duration::from_secs(10))
                {
                    eprintln!("leakhound: {msg}");
                    self.last_plain = Some(Instant::now());
                }
            }
        }
    }

    fn looked(&mut self, j: &Judged) {
        if self.print_looks {
            eprintln!(
                "leakhound: {}",
                leakhound_report::explain(
                    &j.series.display_name(),
                    &j.finding,
                    j.series.unit.as_str()
                )
            );
        }
    }

    fn finish(&mut self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
