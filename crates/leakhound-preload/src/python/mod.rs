//! Python allocation sites by sampling: the profiler inside a CPython process.
//!
//! leakhound's Python agent (`sitecustomize.py`) loads this library with `ctypes.PyDLL` (no
//! `LD_PRELOAD`, so programs started through shell wrappers such as pyenv's shims are
//! reached too), checks that the frames read here are the ones Python reports
//! ([`leakhound_python_frames`]), then calls [`leakhound_python_start`], which starts the
//! profiler and wraps CPython's `mem` and `obj` allocators ([`hooks`]; pymalloc stays
//! underneath). Allocations are counted down to exponential gaps of bytes like the native
//! profiler's, to the same budget of samples per second, and only a sampled allocation pays
//! for more: its native stack is unwound and merged with the thread's Python frames
//! ([`frames`], read in place without calling into Python), each function numbered once with
//! its names copied ([`codes`]). The reporter sends the numbered functions as `python_code`
//! lines before the stacks that use them (frames encoded as in `leakhound_wire::python`);
//! leakhound names them `function (file.py:line)`.
//!
//! **One stack from native and Python frames.** A native stack enters Python code at each
//! `_PyEval_EvalFrameDefault` frame; that evaluation runs the Python frames from the thread's
//! current one back to the first marked `is_entry`. Each such native frame is replaced by its
//! Python frames, and the interpreter's other C frames are left out, so what remains is the
//! program's Python code with the C extensions' frames where they call or are called
//! (`encoder_listencode_list (_json.c:1543) <- iterencode (<stdlib>/json/encoder.py:258)`).
//! Native frames outside every Python frame (the interpreter's start, a thread's start) are
//! dropped too. A thread without Python frames keeps its native stack as it is.
//!
//! Versions: CPython 3.11 (the frame layout is per version, [`layout`]); elsewhere the agent
//! says so and uses tracemalloc.

mod codes;
mod frames;
mod hooks;
mod layout;

use std::ffi::{c_char, c_int, CStr};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use codes::Codes;
use frames::Walk;
use layout::{Api, Unsupported};

use leakhound_wire::lines;

use crate::tables::MAX_FRAMES;

/// What the running profiler knows of the interpreter.
struct State {
    api: &'static Api,
    codes: Codes,
    /// What the agent says of the process (version, working directory, library paths), as a
    /// JSON object, sent with the functions for leakhound's naming of files.
    context: String,
}

static STATE: OnceLock<State> = OnceLock::new();
/// Set once the hooks are in: from then on every sample's stack is merged.
static INSTALLED: AtomicBool = AtomicBool::new(false);

fn contains(range: (usize, usize), pc: usize) -> bool {
    range.0 <= pc && pc < range.1
}

/// Merges the thread's Python frames into a sampled native stack (`frames[..n]`, innermost
/// first), in place; returns the new length. Without Python (not installed, or a thread with
/// no Python frames) the stack is left as it is.
#[inline(always)]
pub fn merge(frames: &mut [usize; MAX_FRAMES], n: usize) -> usize {
    if !INSTALLED.load(Ordering::Relaxed) {
        return n;
    }
    match STATE.get() {
        Some(state) => merge_python(state, frames, n),
        None => n,
    }
}

#[inline(always)]
fn merge_python(state: &State, frames: &mut [usize; MAX_FRAMES], n: usize) -> usize {
    let api = state.api;
    let mut walk = Walk::this_thread(api);
    if !walk.has_more() {
        return n;
    }
    let native = *frames;
    let mut codes = state.codes.lock();
    let mut word = |f: frames::Frame| {
        leakhound_wire::python::frame(codes.id(api, f.code).into(), f.line) as usize
    };
    // The merged stack goes into `frames` (the native one was copied); the walk stops once it
    // is full, so a deep recursion costs no more than a shallow one.
    let mut out = 0usize;
    'native: for &ip in &native[..n.min(MAX_FRAMES)] {
        let pc = ip.wrapping_sub(1);
        if contains(api.eval, pc) {
            // This evaluation's frames: from the current one to the one it was entered with.
            for step in walk.by_ref() {
                if let Some(f) = step.frame {
                    if out == MAX_FRAMES {
                        break 'native;
                    }
                    frames[out] = word(f);
                    out += 1;
                }
                if step.entry {
                    break;
                }
            }
            if !walk.has_more() {
                // What calls the outermost Python frame is the interpreter's start.
                break;
            }
        } else if !contains(api.interpreter, pc) {
            if out == MAX_FRAMES {
                break;
            }
            frames[out] = ip;
            out += 1;
        }
    }
    // Python frames the native walk did not reach (a stack cut at its depth, or an
    // evaluation entered where its native frame could not be recognised).
    for step in walk {
        if out == MAX_FRAMES {
            break;
        }
        if let Some(f) = step.frame {
            frames[out] = word(f);
            out += 1;
        }
    }
    out
}

/// Error codes of the exported functions.
const UNSUPPORTED_VERSION: isize = -1;
const MISSING_SYMBOL: isize = -2;
const NO_LEAKHOUND: isize = -3;
const NO_MEMORY: isize = -4;

fn api(hexversion: u32) -> Result<&'static Api, isize> {
    layout::api(hexversion).map_err(|e| match e {
        Unsupported::Version => UNSUPPORTED_VERSION,
        Unsupported::Symbol => MISSING_SYMBOL,
    })
}

/// Writes the calling thread's Python frames, innermost first, one a line as
/// `name<TAB>file<TAB>line`, into `buf` (`cap` bytes); returns the bytes written, or -1 for a
/// CPython version this library cannot read, -2 when the interpreter lacks a function it
/// needs. The agent compares them with `sys._getframe()` before it asks for sites: this
/// proves the layout on the running interpreter before any hook is installed.
///
/// # Safety
/// Called from Python through `ctypes.PyDLL` (the GIL held) with a writable buffer of `cap`
/// bytes.
#[no_mangle]
pub unsafe extern "C" fn leakhound_python_frames(
    hexversion: u32,
    buf: *mut u8,
    cap: usize,
) -> isize {
    let api = match api(hexversion) {
        Ok(a) => a,
        Err(e) => return e,
    };
    if buf.is_null() {
        return 0;
    }
    // SAFETY: the caller passes a writable buffer of `cap` bytes.
    let out = unsafe { std::slice::from_raw_parts_mut(buf, cap) };
    let mut text = String::new();
    let mut name = [0u8; codes::NAME_MAX];
    let mut file = [0u8; codes::FILE_MAX];
    for f in Walk::this_thread(api).filter_map(|s| s.frame) {
        let (n, m) = frames::names(api, f.code, &mut name, &mut file);
        let _ = writeln!(
            text,
            "{}\t{}\t{}",
            String::from_utf8_lossy(&name[..n]),
            String::from_utf8_lossy(&file[..m]),
            f.line
        );
    }
    let n = text.len().min(cap);
    out[..n].copy_from_slice(&text.as_bytes()[..n]);
    n as isize
}

/// Starts the profiler for Python sites, reporting on the schedule `max_ms`/`min_ms`
/// (`leakhound_wire::Schedule`), and wraps the interpreter's allocators; `context` is a
/// JSON object the agent wrote (sent as it is). Returns 0, or -1 (version), -2 (symbol), -3
/// (no leakhound socket in the environment), -4 (no memory for the tables). Once started,
/// later calls return 0 and change nothing.
///
/// # Safety
/// Called from Python through `ctypes.PyDLL` (the GIL held, as `PyMem_SetAllocator` needs),
/// `context` a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn leakhound_python_start(
    hexversion: u32,
    max_ms: u64,
    min_ms: u64,
    context: *const c_char,
) -> c_int {
    let api = match api(hexversion) {
        Ok(a) => a,
        Err(e) => return e as c_int,
    };
    if INSTALLED.load(Ordering::Relaxed) {
        return 0;
    }
    let context = if context.is_null() {
        "{}".to_string()
    } else {
        // SAFETY: the caller passes a NUL-terminated string.
        unsafe { CStr::from_ptr(context) }
            .to_string_lossy()
            .into_owned()
    };
    let Some(codes) = Codes::new() else {
        return NO_MEMORY as c_int;
    };
    // Preloaded for native sites, the profiler is running already (and malloc is ours).
    let preloaded = crate::profiler::PROFILER.get().is_some();
    if STATE
        .set(State {
            api,
            codes,
            context,
        })
        .is_err()
    {
        return 0;
    }
    // Before the reporter starts, so that its first report is already Python's.
    INSTALLED.store(true, Ordering::Relaxed);
    let schedule = leakhound_wire::env::schedule(Some(max_ms), Some(min_ms));
    if !crate::start(Some(schedule)) {
        return NO_LEAKHOUND as c_int;
    }
    // SAFETY: registers handlers with the C signature pthread_atfork expects.
    unsafe { libc::pthread_atfork(Some(before_fork), Some(after_fork), Some(after_fork)) };
    hooks::install(api, preloaded, seed());
    0
}

fn seed() -> u64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the live local `t`.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut t) };
    (t.tv_nsec as u64 ^ (t.tv_sec as u64) << 32 ^ u64::from(std::process::id()))
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// Leaves the allocations of `thread` (a `pthread_t`, as `threading.get_ident()` gives it)
/// out of the samples: the agent's own thread, named before the profiler starts.
#[no_mangle]
pub extern "C" fn leakhound_python_ignore_thread(thread: u64) {
    hooks::ignore_thread(thread);
}

/// Set when the interpreter starts to finalize: what it frees then is the exit, not the
/// program, so no report says it.
static FINISHING: AtomicBool = AtomicBool::new(false);

/// Stops the reports: called by the agent's `atexit` handler, before the interpreter tears
/// its modules down (a leak's memory would otherwise be seen freed in the last reports).
#[no_mangle]
pub extern "C" fn leakhound_python_finishing() {
    FINISHING.store(true, Ordering::Relaxed);
}

/// Whether the interpreter is finalizing (no more reports).
pub fn finishing() -> bool {
    FINISHING.load(Ordering::Relaxed)
}

/// The estimated live bytes of every sample (Python's allocations, and native ones when the
/// library is preloaded too); 0 before the profiler starts.
#[no_mangle]
pub extern "C" fn leakhound_python_live_bytes() -> f64 {
    crate::profiler::PROFILER
        .get()
        .map_or(0.0, |p| p.tables.live_bytes())
}

thread_local! {
    /// The functions' lock, held by the forking thread from before fork to after it.
    static FORK_GUARD: std::cell::RefCell<Option<std::sync::MutexGuard<'static, codes::Inner>>> =
        const { std::cell::RefCell::new(None) };
}

/// Before fork: no other thread may hold the functions' lock when the child is made (it would
/// never be released there).
extern "C" fn before_fork() {
    if let Some(s) = STATE.get() {
        let guard = s.codes.lock();
        FORK_GUARD.with(|g| *g.borrow_mut() = Some(guard));
    }
}

extern "C" fn after_fork() {
    FORK_GUARD.with(|g| drop(g.borrow_mut().take()));
}

/// Whether the reporter should send `python_code` lines.
pub fn installed() -> bool {
    INSTALLED.load(Ordering::Relaxed)
}

/// Longest `python_code` line, bytes.
const LINE_BUDGET: usize = 512 * 1024;

/// The `python_code` lines naming the functions numbered after the first `sent`, and how many
/// are named then; at least one line (leakhound learns from it that the process is Python's):
/// `leakhound_wire::lines::begin_python_code`'s lines.
pub fn code_lines(pid: u32, sent: usize) -> (Vec<String>, usize) {
    let Some(state) = STATE.get() else {
        return (Vec::new(), sent);
    };
    let (named, unnamed, len) = {
        let c = state.codes.lock();
        (c.since(sent), c.unnamed, c.len())
    };
    let begin = |line: &mut String| {
        lines::begin_python_code(line, pid, &state.context, unnamed);
    };
    let mut out = Vec::new();
    let mut line = String::new();
    begin(&mut line);
    let mut empty = true;
    let mut one = String::new();
    for f in named {
        one.clear();
        lines::code(&mut one, true, u64::from(f.id), &f.name, &f.file);
        if !empty && line.len() + one.len() + 3 > LINE_BUDGET {
            lines::end_python_code(&mut line);
            out.push(std::mem::take(&mut line));
            begin(&mut line);
            empty = true;
        }
        if !empty {
            line.push(',');
        }
        line.push_str(&one);
        empty = false;
    }
    lines::end_python_code(&mut line);
    out.push(line);
    (out, len)
}
