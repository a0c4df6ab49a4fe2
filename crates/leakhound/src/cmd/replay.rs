//! `leakhound replay`: the requests of a HAR file against a service.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use leakhound_app::session::stop_flag;
use leakhound_app::traffic::Driver;
use leakhound_app::user;

use crate::cli::ReplayArgs;
use crate::options::{for_duration, replay_plan};

pub fn run(args: &ReplayArgs) -> anyhow::Result<bool> {
    let duration = for_duration(args.duration.as_deref())?;
    let plan = replay_plan(&args.har, &args.target, &args.pacing)?;
    let stop = stop_flag()?;
    let mut driver = Driver::start(&plan, duration)?;
    eprintln!(
        "leakhound: replaying {} against {}",
        args.har.display(),
        args.target
    );
    let mut last = Instant::now();
    while !driver.finished() && !stop.load(Ordering::Relaxed) {
        if last.elapsed() >= Duration::from_secs(5) {
            eprintln!("leakhound: {}", driver.summary());
            last = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    driver.stop();
    println!("replayed: {}", driver.summary());
    if driver.none_answered() {
        return Err(user(format!("{} answered no request", args.target)));
    }
    Ok(false)
}
