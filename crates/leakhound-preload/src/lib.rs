//! leakhound's native allocation profiler, loaded into a program with `LD_PRELOAD`.
//!
//! It interposes malloc, calloc, realloc, reallocarray, free, posix_memalign, aligned_alloc,
//! memalign, valloc and pvalloc (C++ `new` and `delete` reach them), forwards each call to the
//! next allocator ([`real`]; the bootstrap [`arena`] serves what `dlsym` allocates while that
//! one is being found), and samples allocations by bytes (see [`profiler`]): a sampled block's
//! stack is unwound ([`unwind`]: libgcc's DWARF unwinder, then frame pointers through JIT code)
//! and its estimated weight added to its site ([`tables`], mapped once at start-up with fixed
//! bounds); a thread of the profiler sends live bytes per site to leakhound every interval
//! ([`report`], the only part that allocates, with the lines of `leakhound_wire::lines`).
//! leakhound symbolizes the return addresses; the target only walks its stack.
//!
//! Environment (set by `leakhound run --native-sites`; names in `leakhound_wire::env`):
//! - `LEAKHOUND_AGENT_SOCKET`: leakhound's socket. Without it the library only forwards.
//! - `LEAKHOUND_NATIVE_SAMPLING`: mean bytes between samples; without it, a budget of at most
//!   `LEAKHOUND_NATIVE_BUDGET` samples per second (default 2000) and 0.5% of a core spent
//!   taking them sets the mean from the allocation rate.
//! - `LEAKHOUND_NATIVE_INTERVAL_MS` and `LEAKHOUND_NATIVE_MIN_INTERVAL_MS`: the longest and
//!   shortest gap between reports (`leakhound_wire::Schedule`; default 3 s growing to 30 s).
//! - `LEAKHOUND_NATIVE_CHILDREN=1`: keep the library in `LD_PRELOAD` for programs this one
//!   executes; by default it removes itself, so only the program started is profiled.
//!
//! Native profiling needs `LD_PRELOAD` (the library's thread-local state must be in the
//! initial TLS block, which `dlopen` would not give it: its first use in a thread would
//! allocate, inside malloc). Loaded with `dlopen` instead, the library stays dormant: its
//! malloc is not the program's, and nothing starts until the Python agent asks for Python
//! sites ([`python`]), whose hooks sit on CPython's allocator, not on malloc. That agent loads
//! it in a CPython process (from `LEAKHOUND_PYTHON_PROFILER`), checks its frame reading against
//! `sys._getframe()`, and drives it through the functions [`python`] exports
//! (`leakhound_python_frames`, `leakhound_python_start`, ...) with the schedule it was given:
//! hooks on CPython's `mem` and `obj` allocators (PEP 445) count down to samples like malloc's,
//! and each sampled stack has the thread's Python frames (read where CPython keeps them, with
//! per-version offsets: `python::layout`, `python::frames`) merged in where the interpreter's
//! evaluation frames were, each function numbered once with its names copied (`python::codes`).
//!
//! **How leakhound carries it.** A `cdylib` cannot be a dependency, so `leakhound-app/build.rs`
//! builds it with a nested cargo (its own target directory under `OUT_DIR`; the outer build's
//! jobserver, compiler and lock file; always optimised; rerun when a file it was built from
//! changes) and generates the constant that `include_bytes!`s it. At run time the application's
//! `preload` writes those bytes to the user's cache (`libleakhound_preload-HASH.so`, checked
//! before each use), `native` puts that path in `LD_PRELOAD` (`LEAKHOUND_PRELOAD` names another
//! library), and `agent_env` gives it to the Python agent.
//!
//! **Safety.** The one crate of the workspace where `unsafe` is allowed (its own `[lints]`
//! instead of the workspace's `forbid`): every unsafe block says why it is sound. Whatever
//! leakhound does (dies, stops reading), the program is unharmed: a hook never
//! allocates and never blocks on leakhound (`tests/robustness.rs`).

mod arena;
mod profiler;
mod python;
mod real;
mod report;
mod tables;
mod unwind;

use std::ffi::{c_int, c_void, CStr};

use leakhound_wire::env as wire;
use profiler::{on_alloc, on_free, set_busy, Mean, Profiler, PROFILER};

/// Most samples per second when no mean is given: enough for a leak of a few hundred KB/s to
/// show within a minute next to hundreds of MB/s of churn; fewer where a sample costs more
/// than half a percent of a core ([`profiler::COST_SHARE`]).
const DEFAULT_BUDGET: f64 = 2000.0;
const MIN_ALIGN: usize = 16;

// ---- The interposed functions ----------------------------------------------------------
//
// Each forwards to the real allocator (or the bootstrap arena while the real one is being
// found) and tells the profiler about the result. None allocates itself.

/// `malloc(3)`.
#[no_mangle]
pub extern "C" fn malloc(size: usize) -> *mut c_void {
    let Some(real) = real::get() else {
        return arena::alloc(size, MIN_ALIGN);
    };
    // SAFETY: forwards the caller's arguments to the real malloc, whose contract is the same.
    let p = unsafe { (real.malloc)(size) };
    if !p.is_null() {
        on_alloc(p, size);
    }
    p
}

/// `calloc(3)`.
#[no_mangle]
pub extern "C" fn calloc(n: usize, size: usize) -> *mut c_void {
    let Some(real) = real::get() else {
        return match n.checked_mul(size) {
            Some(total) => arena::alloc(total, MIN_ALIGN),
            None => std::ptr::null_mut(),
        };
    };
    // SAFETY: as in malloc.
    let p = unsafe { (real.calloc)(n, size) };
    if !p.is_null() {
        on_alloc(p, n.saturating_mul(size));
    }
    p
}

/// `free(3)`.
///
/// # Safety
/// `p` is null or a live block from this allocator, as free(3) requires.
#[no_mangle]
pub unsafe extern "C" fn free(p: *mut c_void) {
    if p.is_null() || arena::owns(p) {
        return;
    }
    // Forget the block before the allocator may hand its address to another thread.
    on_free(p);
    if let Some(real) = real::get() {
        // SAFETY: `p` came from the real allocator (arena blocks returned above).
        unsafe { (real.free)(p) };
    }
}

/// A realloc of a block from the bootstrap arena: a new real block with its contents.
fn realloc_from_arena(p: *mut c_void, size: usize) -> *mut c_void {
    let q = malloc(size);
    if !q.is_null() {
        let n = arena::size_of(p).min(size);
        // SAFETY: `p` holds at least `size_of(p)` bytes, `q` at least `size`; they are
        // distinct blocks.
        unsafe { std::ptr::copy_nonoverlapping(p.cast::<u8>(), q.cast::<u8>(), n) };
    }
    q
}

/// `realloc(3)`.
///
/// # Safety
/// `p` is null or a live block from this allocator, as realloc(3) requires.
#[no_mangle]
pub unsafe extern "C" fn realloc(p: *mut c_void, size: usize) -> *mut c_void {
    if p.is_null() {
        return malloc(size);
    }
    if arena::owns(p) {
        return realloc_from_arena(p, size);
    }
    let Some(real) = real::get() else {
        return arena::alloc(size, MIN_ALIGN);
    };
    // The old block may be freed or moved: forget it first. (If the real realloc fails, the
    // old block lives on unsampled, a small undercount.)
    on_free(p);
    // SAFETY: forwards the caller's arguments to the real realloc.
    let q = unsafe { (real.realloc)(p, size) };
    if !q.is_null() {
        on_alloc(q, size);
    }
    q
}

/// `reallocarray(3)`.
///
/// # Safety
/// As [`realloc`].
#[no_mangle]
pub unsafe extern "C" fn reallocarray(p: *mut c_void, n: usize, size: usize) -> *mut c_void {
    match n.checked_mul(size) {
        // SAFETY: the caller's contract is realloc's.
        Some(total) => unsafe { realloc(p, total) },
        None => {
            // SAFETY: __errno_location has no preconditions.
            let errno = unsafe { libc::__errno_location() };
            // SAFETY: it points to this thread's errno; ENOMEM is what reallocarray reports.
            unsafe { *errno = libc::ENOMEM };
            std::ptr::null_mut()
        }
    }
}

/// `posix_memalign(3)`.
///
/// # Safety
/// `out` points to writable memory for one pointer, as posix_memalign(3) requires.
#[no_mangle]
pub unsafe extern "C" fn posix_memalign(out: *mut *mut c_void, align: usize, size: usize) -> c_int {
    let Some(real) = real::get() else {
        let p = arena::alloc(size, align);
        if p.is_null() {
            return libc::ENOMEM;
        }
        // SAFETY: the caller passes a valid pointer to store the block's address in.
        unsafe { out.write(p) };
        return 0;
    };
    // SAFETY: forwards the caller's arguments to the real posix_memalign.
    let rc = unsafe { (real.posix_memalign)(out, align, size) };
    if rc == 0 {
        // SAFETY: on success the real function stored the block's address in `*out`.
        on_alloc(unsafe { out.read() }, size);
    }
    rc
}

/// `aligned_alloc(3)`.
#[no_mangle]
pub extern "C" fn aligned_alloc(align: usize, size: usize) -> *mut c_void {
    let Some(real) = real::get() else {
        return arena::alloc(size, align);
    };
    // SAFETY: forwards the caller's arguments to the real aligned_alloc.
    let p = unsafe { (real.aligned_alloc)(align, size) };
    if !p.is_null() {
        on_alloc(p, size);
    }
    p
}

/// `memalign(3)`.
#[no_mangle]
pub extern "C" fn memalign(align: usize, size: usize) -> *mut c_void {
    let Some(real) = real::get() else {
        return arena::alloc(size, align);
    };
    // SAFETY: forwards the caller's arguments to the real memalign.
    let p = unsafe { (real.memalign)(align, size) };
    if !p.is_null() {
        on_alloc(p, size);
    }
    p
}

/// `valloc(3)`.
#[no_mangle]
pub extern "C" fn valloc(size: usize) -> *mut c_void {
    let Some(real) = real::get() else {
        return arena::alloc(size, 4096);
    };
    // SAFETY: forwards the caller's argument to the real valloc.
    let p = unsafe { (real.valloc)(size) };
    if !p.is_null() {
        on_alloc(p, size);
    }
    p
}

/// `pvalloc(3)` (obsolete, still exported by glibc).
#[no_mangle]
pub extern "C" fn pvalloc(size: usize) -> *mut c_void {
    let Some(real) = real::get() else {
        return arena::alloc(size, 4096);
    };
    let p = match real.pvalloc {
        // SAFETY: forwards the caller's argument to the real pvalloc.
        Some(f) => unsafe { f(size) },
        // SAFETY: valloc of the size rounded up to pages is what pvalloc does.
        None => unsafe { (real.valloc)(size.next_multiple_of(4096).max(4096)) },
    };
    if !p.is_null() {
        on_alloc(p, size);
    }
    p
}

// ---- Start-up, fork and exec -----------------------------------------------------------

/// The constructor, run by the dynamic loader before the program's own.
#[used]
#[link_section = ".init_array"]
static INIT: extern "C" fn() = init;

extern "C" fn init() {
    let was = set_busy(true);
    // Find the real allocator now, while the process has one thread.
    let _ = real::get();
    // Loaded by dlopen (the Python agent), the library waits to be asked.
    let preloaded = in_ld_preload();
    if !env_flag(wire::NATIVE_CHILDREN) {
        remove_from_ld_preload();
    }
    if preloaded {
        start(None);
    }
    set_busy(was);
}

fn env(name: &str) -> Option<&'static str> {
    // The name with a NUL after it, on the stack: nothing here may allocate.
    let mut buf = [0u8; 64];
    if name.len() >= buf.len() {
        return None;
    }
    buf[..name.len()].copy_from_slice(name.as_bytes());
    // SAFETY: getenv with a NUL-terminated name (the buffer is zeroed past the name); the
    // value lives in the environment, which the constructor runs before anything could
    // change it.
    let v = unsafe { libc::getenv(buf.as_ptr().cast()) };
    if v.is_null() {
        return None;
    }
    // SAFETY: a non-null getenv result is a NUL-terminated string in the environment.
    unsafe { CStr::from_ptr(v) }.to_str().ok()
}

fn env_flag(name: &str) -> bool {
    env(name).is_some_and(|v| !matches!(v, "" | "0" | "false" | "no"))
}

fn env_number(name: &str) -> Option<u64> {
    env(name)?.trim().parse::<u64>().ok().filter(|v| *v > 0)
}

/// Configures the profiler and starts its reporter, when there is a leakhound to report to;
/// whether it runs. `python`: the schedule the Python agent was given, when it is the Python
/// agent that starts the profiler (else the schedule is read from the environment).
pub(crate) fn start(python: Option<leakhound_wire::Schedule>) -> bool {
    if PROFILER.get().is_some() {
        return true;
    }
    let Some(socket) = env(wire::AGENT_SOCKET).filter(|s| !s.is_empty()) else {
        return false;
    };
    let mean = match env_number(wire::NATIVE_SAMPLING) {
        Some(v) => Mean::Fixed(v as f64),
        None => Mean::Budget(env_number(wire::NATIVE_BUDGET).map_or(DEFAULT_BUDGET, |v| v as f64)),
    };
    mean.start();
    let schedule = python.unwrap_or_else(|| {
        wire::schedule(
            env_number(wire::NATIVE_INTERVAL_MS),
            env_number(wire::NATIVE_MIN_INTERVAL_MS),
        )
    });
    let Some(tables) = tables::Tables::new() else {
        return false;
    };
    unwind::init(text_range(start as *const () as usize));
    profiler::calibrate();
    let _ = report::CONFIG.set(report::Config {
        socket: socket.into(),
        schedule,
        // Python's allocations reach the profiler through CPython's hooks, not malloc.
        hooked: python.is_some() || malloc_is_ours(),
    });
    // SAFETY: registers three handlers with the C signature pthread_atfork expects.
    unsafe {
        libc::pthread_atfork(
            Some(before_fork),
            Some(after_fork_parent),
            Some(after_fork_child),
        )
    };
    let _ = PROFILER.set(Profiler { mean, tables });
    report::spawn();
    true
}

/// Whether the program's calls to malloc reach this library: not when the executable defines
/// its own malloc (a custom allocator linked in), which the loader then prefers.
///
/// Asked by calling malloc as the program would and seeing whether this library's hook saw
/// it: comparing addresses does not work, since a non-PIE executable (node) makes its PLT
/// stub the canonical address of malloc even when the stub leads here.
fn malloc_is_ours() -> bool {
    // SAFETY: dlsym with RTLD_DEFAULT and a NUL-terminated name only reads the loader's tables.
    let m = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"malloc".as_ptr()) };
    // SAFETY: as above.
    let f = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"free".as_ptr()) };
    if m.is_null() || f.is_null() {
        return false;
    }
    // SAFETY: the global definition of `malloc` has this C signature.
    let m = unsafe { std::mem::transmute::<*mut c_void, extern "C" fn(usize) -> *mut c_void>(m) };
    // SAFETY: the global definition of `free` has this C signature.
    let f = unsafe { std::mem::transmute::<*mut c_void, unsafe extern "C" fn(*mut c_void)>(f) };
    profiler::PROBE_SEEN.store(false, std::sync::atomic::Ordering::Relaxed);
    let p = m(profiler::PROBE_SIZE);
    // SAFETY: `p` came from the same allocator's malloc just now (or is null).
    unsafe { f(p) };
    profiler::PROBE_SEEN.load(std::sync::atomic::Ordering::Relaxed)
}

/// The address range of the executable segment holding `addr` (of this library's code, whose
/// frames are left out of stacks; of the Python interpreter's), or (0, 0).
pub(crate) fn text_range(addr: usize) -> (usize, usize) {
    struct Find {
        addr: usize,
        range: (usize, usize),
    }
    unsafe extern "C" fn each(info: *mut libc::dl_phdr_info, _: usize, data: *mut c_void) -> c_int {
        // SAFETY: `data` is the `&mut Find` passed to dl_iterate_phdr below, alive during it.
        let find = unsafe { &mut *data.cast::<Find>() };
        // SAFETY: the loader passes a valid dl_phdr_info for the duration of the callback.
        let info = unsafe { &*info };
        if info.dlpi_phdr.is_null() {
            return 0;
        }
        // SAFETY: dlpi_phdr points to dlpi_phnum program headers of a loaded object.
        let headers =
            unsafe { std::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum as usize) };
        for h in headers {
            if h.p_type != libc::PT_LOAD || h.p_flags & libc::PF_X == 0 {
                continue;
            }
            let start = info.dlpi_addr as usize + h.p_vaddr as usize;
            let end = start + h.p_memsz as usize;
            if (start..end).contains(&find.addr) {
                find.range = (start, end);
                return 1;
            }
        }
        0
    }
    let mut find = Find {
        addr,
        range: (0, 0),
    };
    // SAFETY: `each` matches the callback type and uses `find` only through the pointer,
    // which outlives the call.
    unsafe { libc::dl_iterate_phdr(Some(each), (&mut find as *mut Find).cast()) };
    find.range
}

/// Whether `LD_PRELOAD` names this library (else `dlopen` loaded it).
fn in_ld_preload() -> bool {
    // SAFETY: getenv with a NUL-terminated name.
    let value = unsafe { libc::getenv(c"LD_PRELOAD".as_ptr()) };
    if value.is_null() {
        return false;
    }
    // SAFETY: a non-null getenv result is a NUL-terminated string.
    let bytes = unsafe { CStr::from_ptr(value) }.to_bytes();
    bytes
        .split(|b| *b == b':' || *b == b' ')
        .any(|e| is_ours(e, b"libleakhound_preload"))
}

/// Whether a `LD_PRELOAD` entry's file name starts with `ours`.
fn is_ours(entry: &[u8], ours: &[u8]) -> bool {
    entry
        .rsplit(|b| *b == b'/')
        .next()
        .is_some_and(|name| !entry.is_empty() && name.starts_with(ours))
}

/// Takes this library out of `LD_PRELOAD`, in place (no allocation, no setenv), so programs
/// this one executes are not profiled unless asked. The loader has read the variable already.
fn remove_from_ld_preload() {
    // SAFETY: getenv with a NUL-terminated name.
    let value = unsafe { libc::getenv(c"LD_PRELOAD".as_ptr()) };
    if value.is_null() {
        return;
    }
    // SAFETY: a non-null getenv result is a NUL-terminated string.
    let len = unsafe { CStr::from_ptr(value) }.to_bytes().len();
    // SAFETY: the value's `len` bytes are the environment's own writable memory, and no other
    // thread reads the environment while constructors run.
    let bytes = unsafe { std::slice::from_raw_parts_mut(value.cast::<u8>(), len) };
    let keep = filter_preload(bytes, b"libleakhound_preload");
    if keep < len {
        bytes[keep..].fill(0);
    }
}

/// Rewrites a `LD_PRELOAD` value in place without the entries whose file name starts with
/// `ours`; returns the new length. Entries are separated by colons or spaces.
fn filter_preload(bytes: &mut [u8], ours: &[u8]) -> usize {
    let mut out = 0usize;
    let mut i = 0usize;
    while i < bytes.len() {
        let start = i;
        while i < bytes.len() && bytes[i] != b':' && bytes[i] != b' ' {
            i += 1;
        }
        let entry = start..i;
        i += 1;
        if entry.is_empty() {
            continue;
        }
        if is_ours(&bytes[entry.clone()], ours) {
            continue;
        }
        if out > 0 {
            bytes[out] = b':';
            out += 1;
        }
        bytes.copy_within(entry.clone(), out);
        out += entry.len();
    }
    out
}

thread_local! {
    static BUSY_BEFORE_FORK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// The tables' lock, held by the forking thread from before fork to after it.
    static FORK_GUARD: std::cell::RefCell<Option<std::sync::MutexGuard<'static, tables::Inner>>> =
        const { std::cell::RefCell::new(None) };
}

/// Before fork: take the tables' lock so no other thread holds it when the child is made (the
/// child has only this thread, and a lock held by a vanished thread would never be released).
/// This thread is marked busy meanwhile, so allocations made by other fork handlers on it
/// pass straight through instead of waiting for the lock it holds.
extern "C" fn before_fork() {
    BUSY_BEFORE_FORK.with(|b| b.set(set_busy(true)));
    if let Some(p) = PROFILER.get() {
        let guard = p.tables.lock();
        FORK_GUARD.with(|g| *g.borrow_mut() = Some(guard));
    }
}

fn release_after_fork() {
    FORK_GUARD.with(|g| drop(g.borrow_mut().take()));
}

extern "C" fn after_fork_parent() {
    release_after_fork();
    set_busy(BUSY_BEFORE_FORK.with(|b| b.get()));
}

/// In the child: release the lock, take the new pid, and start a reporter of its own (the
/// parent's did not survive the fork; its connection stays the parent's). What was live in
/// the parent is live in the child too, so the tables carry over.
extern "C" fn after_fork_child() {
    release_after_fork();
    unwind::set_pid();
    report::spawn();
    set_busy(BUSY_BEFORE_FORK.with(|b| b.get()));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filtered(s: &str) -> String {
        let mut b = s.as_bytes().to_vec();
        let n = filter_preload(&mut b, b"libleakhound_preload");
        String::from_utf8(b[..n].to_vec()).unwrap()
    }

    #[test]
    fn removes_only_itself_from_ld_preload() {
        assert_eq!(filtered("/t/libleakhound_preload.so"), "");
        assert_eq!(
            filtered("/a/libfoo.so:/t/libleakhound_preload.so /b/libbar.so"),
            "/a/libfoo.so:/b/libbar.so"
        );
        assert_eq!(filtered("libleakhound_preload.so::x.so"), "x.so");
        assert_eq!(filtered("/libleakhound/x.so"), "/libleakhound/x.so");
    }
}
