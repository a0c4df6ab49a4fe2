//! The commands `run` and `ab` start: never through a shell, in their own process group so
//! the whole tree can be stopped.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rustix::process::{kill_process_group, Pid, Signal};

use crate::error::user;

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

/// Starts `argv` with extra `env`, in its own process group; its stdout and stderr go to
/// `output` (`run --output`, `ab`'s logs) or, without one, where leakhound's go.
pub fn spawn(
    argv: &[String],
    output: Option<&Path>,
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

/// SIGTERM to the command's process group, SIGKILL after `grace` seconds.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_display_as_a_shell_would_read_them() {
        let argv: Vec<String> = ["node", "app.js", "--name=x y", "it's", ""]
            .map(String::from)
            .to_vec();
        assert_eq!(
            display_command(&argv),
            r"node app.js '--name=x y' 'it'\''s' ''"
        );
    }

    /// Whether `pid` is running (not gone, not a zombie waiting to be reaped).
    fn running(pid: &str) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| {
                s.rsplit_once(')')
                    .map(|(_, rest)| rest.trim_start().to_string())
            })
            .is_some_and(|rest| !rest.starts_with('Z'))
    }

    #[test]
    fn a_stopped_command_takes_its_children_along() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("grandchild");
        let script = format!("sleep 30 & echo $! > {}; wait", pidfile.display());
        let argv: Vec<String> = vec!["sh".into(), "-c".into(), script];
        let mut child = spawn(&argv, Some(Path::new("/dev/null")), &[]).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        let grandchild = loop {
            match std::fs::read_to_string(&pidfile) {
                Ok(s) if s.ends_with('\n') => break s.trim().to_string(),
                _ => assert!(
                    Instant::now() < deadline,
                    "the script never started its child"
                ),
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        assert!(running(&grandchild));
        let started = Instant::now();
        stop_child(&mut child, 5.0);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "SIGTERM was enough"
        );
        let deadline = Instant::now() + Duration::from_secs(2);
        while running(&grandchild) {
            assert!(
                Instant::now() < deadline,
                "pid {grandchild} outlived its group"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
