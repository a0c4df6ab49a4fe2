//! `leakhound ab`: two variants of a command side by side, differing only in environment,
//! sampled together and compared; stops early once the comparison is conclusive.

use std::path::Path;

use leakhound_app::ab::{ab, Ab};
use leakhound_app::soak::default_load;
use leakhound_app::user;

use crate::cli::{AbArgs, Format};
use crate::live::Live;
use crate::options::sampling;

fn parse_env(pairs: &[String], flag: &str) -> anyhow::Result<Vec<(String, String)>> {
    pairs
        .iter()
        .map(|p| match p.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(user(format!("{flag} {p:?}: write KEY=VALUE"))),
        })
        .collect()
}

pub fn run(db: &Path, args: &AbArgs) -> anyhow::Result<bool> {
    if args.sampling.fail_on.is_some() {
        return Err(user(
            "--fail-on: ab compares two variants and has no verdict of its own to gate on; \
             gate on the variants' verdicts with `leakhound analyze RUN --fail-on leak` afterwards",
        ));
    }
    if args.sampling.pprof.is_some() {
        return Err(user(
            "--pprof: ab runs two programs, which cannot share one profile URL; profile each with `run --pprof`",
        ));
    }
    let opts = Ab {
        // Two soaks of one command, side by side: their load is what the command makes of it,
        // not a daily cycle (which would allow a 90 s comparison any answer a cycle could give).
        sampling: sampling(&args.sampling, default_load(None))?,
        env_a: parse_env(&args.env_a, "--a")?,
        env_b: parse_env(&args.env_b, "--b")?,
        output_dir: args.output_dir.clone(),
        command: args.command.clone(),
    };
    if let Some(d) = &opts.output_dir {
        std::fs::create_dir_all(d)
            .map_err(|e| user(format!("--output-dir {}: {e}", d.display())))?;
    }
    let cmp = ab(db, &opts, &mut Live::new(false))?;
    let out = cmp.output();
    match args.sampling.format {
        Format::Json => println!("{}", out.json_text()),
        Format::Text => eprintln!("{}", out.text()),
    }
    Ok(false)
}
