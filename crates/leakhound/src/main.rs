//! The `leakhound` binary: parse options, run the subcommand (`leakhound-app` does the work),
//! print, and map the outcome to an exit code (0 ok, 1 a verdict matched `--fail-on`, 2 usage
//! or input error).

mod cli;
mod cmd;
mod live;
mod options;
mod version;

use std::process::ExitCode;

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    // The demo's workload runs as `leakhound workload ...`, so a fresh machine needs no second
    // binary.
    if argv.get(1).map(String::as_str) == Some("workload") {
        let exe = std::env::current_exe().unwrap_or_else(|_| argv[0].clone().into());
        return match leakhound_app::workload::run(&argv[2..], &exe, &["workload"]) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("leakhound workload: {e}");
                ExitCode::from(2)
            }
        };
    }
    let cli = match cli::parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let db = cli
        .db
        .clone()
        .unwrap_or_else(leakhound_app::database::default_path);
    let result = match &cli.command {
        cli::Command::Run(a) => cmd::run::run(&db, a),
        cli::Command::Watch(a) => cmd::watch::run(&db, a),
        cli::Command::Analyze(a) => cmd::analyze::run(&db, a),
        cli::Command::Report(a) => cmd::report::run(&db, a),
        cli::Command::Compare(a) => cmd::compare::run(&db, a),
        cli::Command::Ab(a) => cmd::ab::run(&db, a),
        cli::Command::Plot(a) => cmd::plot::run(&db, a),
        cli::Command::Runs(a) => cmd::runs::run(&db, a),
        cli::Command::Gc(a) => cmd::gc::run(&db, a),
        cli::Command::Export(a) => cmd::export::run(&db, a),
        cli::Command::Import(a) => cmd::import::run(&db, a),
        cli::Command::Demo(a) => cmd::demo::run(&db, a),
        cli::Command::Agent(a) => cmd::agent::run(a),
        cli::Command::Fleet(a) => cmd::fleet::run(a),
        cli::Command::Record(a) => cmd::record::run(a),
        cli::Command::Replay(a) => cmd::replay::run(a),
    };
    match result {
        Ok(false) => ExitCode::SUCCESS,
        Ok(true) => ExitCode::from(1),
        Err(e) => {
            eprintln!("leakhound: error: {e:#}");
            ExitCode::from(2)
        }
    }
}
