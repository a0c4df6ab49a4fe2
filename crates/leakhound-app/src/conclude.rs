//! The end of a sampling session: store what is held, close the run, judge it and store the
//! headline verdict with it.

use leakhound_store::RunId;

use crate::input;
use crate::judge::{judge_all, output, Verdicts};
use crate::kinds::EventKind;
use crate::policy::Policy;
use crate::sampling::Sampler;
use crate::session::End;

/// A closed run and its verdicts.
#[derive(Debug)]
pub struct Concluded {
    /// The run.
    pub run: RunId,
    /// Its verdicts (series and sites); an error when nothing could be judged (too few
    /// samples), which is not an error of the session.
    pub verdicts: anyhow::Result<Verdicts>,
}

/// Closes the run `sampler` wrote with the way it `end`ed, and judges it under `policy`.
pub fn conclude(sampler: &mut Sampler, end: &End, policy: &Policy) -> anyhow::Result<Concluded> {
    sampler.flush()?;
    // A Python agent's holders, stored as they came, answer `--retainers` for its process.
    let found_by_agent = sampler
        .store()
        .events(sampler.run())
        .is_ok_and(|events| !crate::database::holders_of(&events).is_empty());
    if let Some(found) = sampler
        .take_holders()
        .filter(|f| f.is_ok() || !found_by_agent)
    {
        let event = match found {
            Ok(h) => leakhound_store::Event {
                t: sampler.clock().now(),
                kind: crate::database::HOLDERS_EVENT.into(),
                detail: crate::database::holders_detail(&[], &h),
            },
            Err(why) => {
                eprintln!("leakhound: {why}");
                leakhound_store::Event {
                    t: sampler.clock().now(),
                    kind: EventKind::Warning.as_str().into(),
                    detail: why,
                }
            }
        };
        let run = sampler.run();
        sampler.store_mut().write_batch(run, &[], &[event])?;
    }
    let (store, run) = (sampler.store(), sampler.run());
    let code = match end {
        End::Exited(st) => st.code(),
        _ => None,
    };
    store.finish_run(run, sampler.clock().now(), end.status().as_str(), code)?;
    let input = input::from_run(store, run)?;
    let verdicts = judge_all(&input, &[], policy);
    if let Some((_, headline)) = verdicts.as_ref().ok().and_then(|v| output(v).headline()) {
        store.set_verdict(run, &headline)?;
    }
    Ok(Concluded { run, verdicts })
}
