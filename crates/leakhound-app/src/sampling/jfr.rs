//! The flight recording leakhound keeps in a JVM (`--jvm`): started with its own settings at
//! the first read, dumped on the profilers' schedule into a private directory, read and
//! deleted, and stopped (its directory removed) when leakhound stops. A leakhound that is
//! killed leaves a recording bounded by JFR's `maxage`/`maxsize`, which the next leakhound to
//! read that JVM stops ([`leakhound_probe::jfr::orphans`]).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use leakhound_probe::jfr::{
    dump_command, orphans, parse_check, read_dump, recording_name, settings, start_command,
    stop_command, Dump,
};
use leakhound_probe::jvm::{jcmd, thread_names};

use super::jvm::Finder;

/// A `jcmd` that has not answered after this long is not going to.
const JCMD_TIMEOUT: Duration = Duration::from_secs(60);
/// Chunks a dump reaches back before the last one (the JVM's clock and ours differ a little;
/// collections seen twice are recorded once).
const DUMP_OVERLAP: f64 = 2.0;
/// With `--retainers`: the first dump with paths to GC roots after this long, then at most
/// one per [`PATHS_EVERY`] (each is a stop-the-world walk of the heap).
const PATHS_AFTER: Duration = Duration::from_secs(60);
/// See [`PATHS_AFTER`].
const PATHS_EVERY: Duration = Duration::from_secs(300);

/// What one dump gave.
#[derive(Debug)]
pub struct JfrReading {
    /// The JVM read.
    pub pid: i32,
    /// Its heap summaries and live old-object samples.
    pub dump: Dump,
    /// Said once, when the recording was started: the threads it added to the JVM, and
    /// whether the JVM keeps too few old-object samples for sites to be judged soon.
    pub started: Vec<String>,
}

/// Serializes attaches to one JVM: two `jcmd`s at once make it print a thread dump into the
/// program's output (the second SIGQUIT arrives after the first started the attach listener,
/// and HotSpot takes it for a request for a dump).
pub type AttachLock = Arc<Mutex<()>>;

/// One JVM's recording.
pub struct Recorder {
    jcmd: PathBuf,
    finder: Finder,
    attach: AttachLock,
    dir: PathBuf,
    name: String,
    retainers: bool,
    /// The pid the recording runs in, once started.
    running_in: Option<i32>,
    /// When it was started, and when last dumped.
    started_at: Option<Instant>,
    last_dump: Option<Instant>,
    last_paths: Option<Instant>,
}

impl Recorder {
    /// A recorder of the JVM `finder` finds, with its settings written into a new private
    /// directory.
    pub fn new(
        jcmd: PathBuf,
        finder: Finder,
        attach: AttachLock,
        retainers: bool,
    ) -> std::io::Result<Recorder> {
        let dir = private_dir()?;
        std::fs::write(dir.join("leakhound.jfc"), settings())?;
        Ok(Recorder {
            jcmd,
            finder,
            attach,
            dir,
            name: recording_name(std::process::id()),
            retainers,
            running_in: None,
            started_at: None,
            last_dump: None,
            last_paths: None,
        })
    }

    fn jcmd(&self, pid: i32, command: Vec<String>) -> Result<String, String> {
        let args: Vec<&str> = command.iter().map(String::as_str).collect();
        let _one = self.attach.lock().unwrap_or_else(|p| p.into_inner());
        jcmd(&self.jcmd, pid, &args, JCMD_TIMEOUT)
    }

    /// Starts the recording in `pid`, after stopping what killed leakhounds left there.
    fn start(&mut self, pid: i32) -> Result<String, String> {
        let before = thread_names(pid);
        if let Ok(text) = self.jcmd(pid, vec!["JFR.check".into()]) {
            for name in orphans(&parse_check(&text), |p| {
                Path::new(&format!("/proc/{p}")).exists()
            }) {
                let _ = self.jcmd(pid, stop_command(&name));
            }
        }
        prepare_for(&self.dir, pid);
        let jfc = self.dir.join("leakhound.jfc");
        self.jcmd(pid, start_command(&self.name, &jfc.to_string_lossy()))?;
        self.running_in = Some(pid);
        self.started_at = Some(Instant::now());
        self.last_dump = None;
        self.last_paths = None;
        // Only the threads attaching and recording start count: a JVM read early is still
        // starting its own.
        let mut added: Vec<String> = thread_names(pid)
            .into_iter()
            .filter(|n| n.starts_with("JFR ") || n == "Attach Listener")
            .collect();
        for n in &before {
            if let Some(i) = added.iter().position(|a| a == n) {
                added.remove(i);
            }
        }
        Ok(format!(
            "--jvm: started flight recording {} in pid {pid}; attaching and recording added {} \
             thread(s) to the JVM ({}): a step in `threads` that is leakhound's, not the program's",
            self.name,
            added.len(),
            if added.is_empty() {
                "none seen".to_string()
            } else {
                added.join(", ")
            }
        ))
    }

    /// Whether this dump should carry paths to GC roots.
    fn paths_due(&self) -> bool {
        self.retainers
            && self.started_at.is_some_and(|s| s.elapsed() >= PATHS_AFTER)
            && self.last_paths.is_none_or(|p| p.elapsed() >= PATHS_EVERY)
    }

    /// Starts the recording if it does not run in the JVM yet, dumps what came since the last
    /// dump and reads it.
    pub fn dump(&mut self) -> Result<JfrReading, String> {
        let pid = self.finder.pid()?;
        let started = if self.running_in != Some(pid) {
            let mut said = vec![self.start(pid)?];
            said.extend(small_queue(pid));
            said
        } else {
            Vec::new()
        };
        let file = self.dir.join("dump.jfr");
        let since = self
            .last_dump
            .map(|d| d.elapsed().as_secs_f64() + DUMP_OVERLAP);
        let paths = self.paths_due();
        let at = Instant::now();
        let answer = self.jcmd(
            pid,
            dump_command(&self.name, &file.to_string_lossy(), since, paths),
        );
        if let Err(e) = answer {
            // A JVM that restarted under the same pid (or a recording stopped by someone
            // else) has no recording of that name: start it again next time.
            if e.contains("No recording") || e.contains("Could not find") {
                self.running_in = None;
            }
            return Err(e);
        }
        self.last_dump = Some(at);
        if paths {
            self.last_paths = Some(at);
        }
        let bytes = std::fs::read(&file).map_err(|e| format!("{}: {e}", file.display()));
        let _ = std::fs::remove_file(&file);
        let dump = read_dump(&bytes?)?;
        Ok(JfrReading { pid, dump, started })
    }

    /// Stops the recording (if the JVM still runs) and removes the directory.
    pub fn stop(&mut self) {
        if let Some(pid) = self.running_in.take() {
            if leakhound_probe::jvm::is_jvm(pid) {
                let _ = self.jcmd(pid, stop_command(&self.name));
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What to say when JVM `pid` keeps the default old-object queue (it was not started by `run
/// --jvm`, nor with a larger queue): the sites of a small leak may take hours to show.
fn small_queue(pid: i32) -> Option<String> {
    use leakhound_probe::jfr::{queue_option, queue_size_in, DEFAULT_QUEUE_SIZE, QUEUE_SIZE};
    let options = leakhound_probe::jvm::options_of(pid);
    if options.is_empty() {
        return None;
    }
    let n = queue_size_in(options.iter().map(String::as_str)).unwrap_or(DEFAULT_QUEUE_SIZE);
    (n < QUEUE_SIZE).then(|| {
        format!(
            "--jvm: pid {pid} keeps {n} old-object samples{}: between two collections a busy \
             program's garbage crowds out the objects that stay, so the sites of a small leak \
             may take hours to judge (the heap floor is not affected); start the JVM with {} \
             (`run --jvm` does) to judge them within minutes",
            if n == DEFAULT_QUEUE_SIZE {
                " (the JVM's default)"
            } else {
                ""
            },
            queue_option(QUEUE_SIZE)
        )
    })
}

/// A new directory only this user can enter, for the settings and the dumps.
fn private_dir() -> std::io::Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let dir = std::env::temp_dir().join(format!("leakhound-jfr-{}-{nanos}", std::process::id()));
    std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
    Ok(dir)
}

/// The JVM writes the dumps and reads the settings itself: when it runs as another user (a
/// root leakhound reading a service), the directory becomes that user's.
fn prepare_for(dir: &Path, pid: i32) {
    use std::os::unix::fs::MetadataExt;
    let Ok(target) = std::fs::metadata(format!("/proc/{pid}")) else {
        return;
    };
    let Ok(ours) = std::fs::metadata(dir) else {
        return;
    };
    if target.uid() != ours.uid() {
        let _ = std::os::unix::fs::chown(dir, Some(target.uid()), Some(target.gid()));
        let _ = std::os::unix::fs::chown(
            dir.join("leakhound.jfc"),
            Some(target.uid()),
            Some(target.gid()),
        );
    }
}
