//! `leakhound run -- CMD`: start a command, sample its process tree until it ends.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use leakhound_probe::agent::{node_options, AgentListener};
use leakhound_probe::{memory_limit_of_pid, ProcKey};
use leakhound_report::units::{format_duration, parse_duration};
use rustix::process::{kill_process_group, Pid, Signal};

use crate::cli::RunArgs;
use crate::cmd::{conclude, new_run, timing};
use crate::dbpath;
use crate::error::user;
use crate::sampler::{Clock, Sampler, Target, TargetSpec};
use crate::session::{sample_loop, stop_flag, End, Options, Until};

/// Joins argv for display, quoting words that need it.
pub fn display_command(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            if !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@+%".contains(c))
            {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Starts `argv` in its own process group (so leakhound can stop the whole tree), never
/// through a shell.
pub fn spawn(
    argv: &[String],
    output: Option<&PathBuf>,
    env: &[(String, String)],
) -> anyhow::Result<Child> {
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..]).process_group(0);
    for (k, v) in env {
        cmd.env(k, v);
    }
    if let Some(path) = output {
        let f = std::fs::File::create(path)
            .map_err(|e| user(format!("--output {}: {e}", path.display())))?;
        let f2 = f.try_clone()?;
        cmd.stdout(Stdio::from(f)).stderr(Stdio::from(f2));
    }
    cmd.stdin(Stdio::null());
    cmd.spawn()
        .map_err(|e| user(format!("cannot start {}: {e}", display_command(&argv[..1]))))
}

/// SIGTERM to the command's process group, SIGKILL after `grace`.
pub fn stop_child(child: &mut Child, grace: f64) {
    let Some(pgid) = Pid::from_raw(child.id() as i32) else {
        return;
    };
    if matches!(child.try_wait(), Ok(None)) {
        let _ = kill_process_group(pgid, Signal::TERM);
        let deadline = Instant::now() + Duration::from_secs_f64(grace);
        while Instant::now() < deadline {
            if matches!(child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    // Whatever is left in the group (including grandchildren of an exited command) goes too.
    let _ = kill_process_group(pgid, Signal::KILL);
    let _ = child.wait();
}

pub fn run(db: &Option<PathBuf>, args: &RunArgs) -> anyhow::Result<bool> {
    let (interval, duration) = timing(&args.sampling)?;
    let scrapes = crate::cmd::scrape_urls(&args.sampling)?;
    let grace = parse_duration(&args.grace).map_err(|e| user(format!("--grace: {e}")))?;
    // Parse verdict options now, so a typo fails before a long soak rather than after it.
    crate::cmd::analyze::analyse_check(&args.sampling.verdict)?;
    let (store, _) = dbpath::open_rw(db)?;
    let stop = stop_flag()?;
    let clock = Clock::start();
    // The Node.js agent: harmless for other programs, which ignore NODE_OPTIONS.
    let agent = if args.no_agent {
        None
    } else {
        match AgentListener::bind_private().and_then(|l| l.write_agent().map(|p| (l, p))) {
            Ok(a) => Some(a),
            Err(e) => {
                eprintln!("leakhound: warning: Node.js agent disabled: {e}");
                None
            }
        }
    };
    let env: Vec<(String, String)> = match &agent {
        Some((l, script)) => vec![
            (
                "LEAKHOUND_AGENT_SOCKET".into(),
                l.socket().display().to_string(),
            ),
            (
                "LEAKHOUND_AGENT_INTERVAL_MS".into(),
                format!("{}", ((interval * 1000.0) as u64).max(100)),
            ),
            (
                "NODE_OPTIONS".into(),
                node_options(std::env::var("NODE_OPTIONS").ok().as_deref(), script),
            ),
        ],
        None => Vec::new(),
    };
    let mut child = spawn(&args.command, args.output.as_ref(), &env)?;
    let pid = child.id() as i32;
    let key = match ProcKey::of_pid(pid) {
        Ok(k) => k,
        Err(_) => {
            // Exited before it could be read: nothing to sample, but say what happened.
            let status = child.wait()?;
            return Err(user(format!(
                "{} exited immediately ({status})",
                display_command(&args.command)
            )));
        }
    };
    let target = display_command(&args.command);
    let limit = memory_limit_of_pid(pid);
    let run_id = store.create_run(&new_run(
        "run",
        target.clone(),
        clock.start_time(),
        Some(interval),
        limit,
    ))?;
    eprintln!(
        "leakhound: run {run_id}: sampling `{target}` (pid {pid}) every {}",
        format_duration(interval)
    );
    let targets = vec![Target::new(target, TargetSpec::Tree(key))];
    let mut sampler = Sampler::new(store, run_id, targets, clock, !args.sampling.no_smaps)?;
    sampler.scrape(scrapes)?;
    sampler.agent = agent.map(|(l, _)| l);
    let mut driver = match (&args.replay, &args.target) {
        (Some(har), Some(target)) => {
            let d = crate::cmd::traffic::Driver::start(har, target, &args.pacing, duration)?;
            eprintln!(
                "leakhound: replaying {} against {target} once it accepts connections",
                har.display()
            );
            sampler.replay = Some(std::sync::Arc::clone(&d.stats));
            Some(d)
        }
        _ => None,
    };
    let opts = Options {
        interval,
        duration,
        until: if args.until_verdict {
            Until::Verdict(&args.sampling.verdict)
        } else {
            Until::Never
        },
        report_looks: false,
    };
    let mut children = [child];
    let end = sample_loop(&mut sampler, &mut children, &stop, &opts);
    let [mut child] = children;
    if let Some(d) = &mut driver {
        d.stop();
        eprintln!("leakhound: replayed {}", d.summary());
    }
    stop_child(&mut child, grace);
    let end = end?;
    let note = match &end {
        End::Exited(st) if !st.success() => {
            Some(format!("leakhound: the command exited with {st}"))
        }
        End::Verdict(v) => Some(format!(
            "leakhound: stopped after {}: the verdict is {}",
            format_duration(sampler.clock.elapsed()),
            v.as_str()
        )),
        End::Interrupted => Some("leakhound: interrupted; the command was stopped".into()),
        _ => None,
    };
    conclude(&mut sampler, &end, &args.sampling, note)
}
