//! The allocator underneath: the next definitions of malloc and friends after this library
//! (glibc's, or another preloaded allocator's), found with `dlsym(RTLD_NEXT, ...)`.

use std::cell::Cell;
use std::ffi::{c_int, c_void, CStr};
use std::sync::OnceLock;

type Malloc = unsafe extern "C" fn(usize) -> *mut c_void;
type Free = unsafe extern "C" fn(*mut c_void);
type Calloc = unsafe extern "C" fn(usize, usize) -> *mut c_void;
type Realloc = unsafe extern "C" fn(*mut c_void, usize) -> *mut c_void;
type PosixMemalign = unsafe extern "C" fn(*mut *mut c_void, usize, usize) -> c_int;
type Memalign = unsafe extern "C" fn(usize, usize) -> *mut c_void;

/// The real allocator's entry points.
pub struct Real {
    pub malloc: Malloc,
    pub free: Free,
    pub calloc: Calloc,
    pub realloc: Realloc,
    pub posix_memalign: PosixMemalign,
    pub aligned_alloc: Memalign,
    pub memalign: Memalign,
    pub valloc: Malloc,
    pub pvalloc: Option<Malloc>,
}

static REAL: OnceLock<Real> = OnceLock::new();

thread_local! {
    /// Set while this thread runs dlsym: its allocations go to the bootstrap arena.
    static RESOLVING: Cell<bool> = const { Cell::new(false) };
}

fn lookup(name: &CStr) -> *mut c_void {
    // SAFETY: dlsym with RTLD_NEXT and a NUL-terminated name only reads the loader's tables.
    unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr()) }
}

fn die(msg: &str) -> ! {
    // SAFETY: writes `msg.len()` bytes of a live string to stderr.
    unsafe { libc::write(2, msg.as_ptr().cast(), msg.len()) };
    std::process::abort()
}

/// Resolves a required function or aborts: without the real allocator nothing can run.
macro_rules! required {
    ($name:literal, $ty:ty) => {{
        let p = lookup($name);
        if p.is_null() {
            die("leakhound-preload: the C library lacks an allocation function to forward to\n");
        }
        // SAFETY: the symbol of that name in the C library has exactly this C signature.
        unsafe { std::mem::transmute::<*mut c_void, $ty>(p) }
    }};
}

macro_rules! optional {
    ($name:literal, $ty:ty) => {{
        let p = lookup($name);
        if p.is_null() {
            None
        } else {
            // SAFETY: the symbol of that name in the C library has exactly this C signature.
            Some(unsafe { std::mem::transmute::<*mut c_void, $ty>(p) })
        }
    }};
}

/// The real allocator, resolving it on first use; `None` while this thread is resolving it
/// (then the caller serves the request from the bootstrap arena).
#[inline(always)]
pub fn get() -> Option<&'static Real> {
    match REAL.get() {
        Some(r) => Some(r),
        None => resolve(),
    }
}

#[cold]
#[inline(never)]
fn resolve() -> Option<&'static Real> {
    if RESOLVING.with(Cell::get) {
        return None;
    }
    RESOLVING.with(|r| r.set(true));
    let real = Real {
        malloc: required!(c"malloc", Malloc),
        free: required!(c"free", Free),
        calloc: required!(c"calloc", Calloc),
        realloc: required!(c"realloc", Realloc),
        posix_memalign: required!(c"posix_memalign", PosixMemalign),
        aligned_alloc: required!(c"aligned_alloc", Memalign),
        memalign: required!(c"memalign", Memalign),
        valloc: required!(c"valloc", Malloc),
        pvalloc: optional!(c"pvalloc", Malloc),
    };
    RESOLVING.with(|r| r.set(false));
    // Two threads may resolve at once; both found the same functions, either may win.
    let _ = REAL.set(real);
    REAL.get()
}
