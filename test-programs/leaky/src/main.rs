//! The `leaky` test program: see the library docs for its modes.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("leaky: {e}");
            return ExitCode::from(2);
        }
    };
    match leaky::run(&args, &exe, &[]) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("leaky: {e}");
            ExitCode::from(2)
        }
    }
}
