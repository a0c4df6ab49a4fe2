//! The fan-out: a few range queries in flight at once, each series judged off the async
//! threads as soon as it arrives and its samples dropped.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use leakhound_net::prom::{selector, PromClient};

use super::rank::judge_series;
use super::FleetSeries;
use crate::policy::Policy;

/// Range queries in flight at once.
const IN_FLIGHT: usize = 4;

/// The time range of every query.
#[derive(Debug, Clone, Copy)]
pub(super) struct Span {
    pub start: f64,
    pub end: f64,
    pub step: f64,
}

/// What came back.
#[derive(Debug, Default)]
pub(super) struct Fetched {
    pub series: Vec<FleetSeries>,
    pub errors: Vec<String>,
    pub fetch_seconds: f64,
}

/// Takes what a mutex holds, even if a task panicked while holding it.
fn take<T: Default>(m: &Mutex<T>) -> T {
    std::mem::take(&mut *m.lock().unwrap_or_else(|p| p.into_inner()))
}

/// Fetches every label set's samples and judges each series under `policy`.
pub(super) fn fetch_and_judge(
    rt: &tokio::runtime::Runtime,
    client: &PromClient,
    label_sets: &[BTreeMap<String, String>],
    span: Span,
    policy: &Policy,
) -> Fetched {
    let out = Arc::new(Mutex::new(Fetched::default()));
    let sem = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
    let policy = Arc::new(policy.clone());
    rt.block_on(async {
        let mut tasks = Vec::new();
        for labels in label_sets {
            let (client, sem, out, policy) = (
                client.clone(),
                Arc::clone(&sem),
                Arc::clone(&out),
                Arc::clone(&policy),
            );
            let q = selector(labels);
            tasks.push(tokio::spawn(async move {
                let Ok(_permit) = sem.acquire().await else {
                    return;
                };
                let t = std::time::Instant::now();
                let result = client
                    .query_range(&q, span.start, span.end, span.step)
                    .await;
                out.lock().unwrap_or_else(|p| p.into_inner()).fetch_seconds +=
                    t.elapsed().as_secs_f64();
                match result {
                    Ok(series) => {
                        for s in series {
                            // Analysis is CPU work: off the async threads.
                            let (out, policy) = (Arc::clone(&out), Arc::clone(&policy));
                            let _ = tokio::task::spawn_blocking(move || {
                                if let Some(j) = judge_series(s, &policy) {
                                    out.lock().unwrap_or_else(|p| p.into_inner()).series.push(j);
                                }
                            })
                            .await;
                        }
                    }
                    Err(e) => out
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .errors
                        .push(e.to_string()),
                }
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
    });
    take(&out)
}
