//! The hooks on CPython's allocators (PEP 445): `PyMem_SetAllocator` for the `mem` and `obj`
//! domains with functions that call the allocator that was there (pymalloc, or whatever wraps
//! it) and count the bytes down to the next sample, like the native profiler's malloc.
//!
//! Both domains are only called with the GIL held, so the countdown is one process-wide
//! counter (atomics read and written without read-modify-write, as plain moves): no
//! thread-local access, which in a library loaded by `dlopen` would cost a call per
//! allocation. Should a C extension break the GIL rule, the race loses a decrement, never
//! memory safety. The raw domain is not hooked: pymalloc hands it the blocks over 512 bytes
//! itself, which the hooks here count already; what else goes there is malloc's, which the
//! native profiler sees when it is preloaded.

use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::OnceLock;

use super::layout::{Allocator, Api, DOMAIN_MEM, DOMAIN_OBJ};
use crate::profiler::{self, current_mean, set_busy, PROFILER};

/// The allocators the hooks wrap, in order `mem`, `obj`.
struct Originals([Allocator; 2]);

// SAFETY: the allocators' context pointers are CPython's, passed back to it unchanged; CPython
// calls these allocators from any thread.
unsafe impl Sync for Originals {}
// SAFETY: as above.
unsafe impl Send for Originals {}

static ORIGINALS: OnceLock<Originals> = OnceLock::new();

/// Bytes to allocate before the next sample.
static UNTIL: AtomicI64 = AtomicI64::new(0);
/// The mean the current countdown was drawn with (f64 bits): the next sample's weight.
static DRAWN: AtomicU64 = AtomicU64::new(0);
/// xorshift64* state.
static RNG: AtomicU64 = AtomicU64::new(0);
/// Whether malloc is interposed too (the library was preloaded): the wrapped allocator's own
/// calls to malloc are then not sampled again.
static NESTED: AtomicBool = AtomicBool::new(false);

/// The agent's thread (`pthread_t`, 0: none): its allocations are not sampled (its frees
/// are). Named by the agent before the hooks go in, so none of its allocations is sampled.
static IGNORED: AtomicU64 = AtomicU64::new(0);

/// Leaves the allocations of `thread` (a `pthread_t`) out of the samples.
pub fn ignore_thread(thread: u64) {
    IGNORED.store(thread, Ordering::Relaxed);
}

fn ignored() -> bool {
    // SAFETY: pthread_self has no preconditions.
    let me = unsafe { libc::pthread_self() } as u64;
    IGNORED.load(Ordering::Relaxed) == me
}

fn next_random() -> u64 {
    let mut x = RNG.load(Ordering::Relaxed);
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    RNG.store(x, Ordering::Relaxed);
    x.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

fn draw() {
    let mean = current_mean();
    DRAWN.store(mean.to_bits(), Ordering::Relaxed);
    UNTIL.store(
        profiler::exponential(next_random(), mean).max(1),
        Ordering::Relaxed,
    );
}

/// Counts an allocation of `size` bytes at `p` down to the next sample.
#[inline(always)]
fn count(p: *mut c_void, size: usize) {
    let left = UNTIL
        .load(Ordering::Relaxed)
        .wrapping_sub(size.min(i64::MAX as usize) as i64);
    UNTIL.store(left, Ordering::Relaxed);
    if left <= 0 {
        crossed(p, size);
    }
}

/// The countdown passed zero: sample this allocation (unless on the agent's thread or inside
/// the profiler), weighted by the mean its countdown was drawn with, then draw the next gap.
#[cold]
#[inline(never)]
fn crossed(p: *mut c_void, size: usize) {
    let mean = f64::from_bits(DRAWN.load(Ordering::Relaxed));
    draw();
    let Some(prof) = PROFILER.get() else {
        return;
    };
    if ignored() {
        return;
    }
    if set_busy(true) {
        // The profiler's own thread, or a thread that is forking: not sampled.
        return;
    }
    profiler::take_sample(prof, p as usize, size, mean);
    set_busy(false);
}

/// Calls the wrapped allocator: when malloc is interposed as well, with this thread marked
/// busy, so what it allocates underneath is not counted twice.
#[inline(always)]
fn nested<R>(f: impl FnOnce() -> R) -> R {
    if !NESTED.load(Ordering::Relaxed) {
        return f();
    }
    let was = set_busy(true);
    let r = f();
    set_busy(was);
    r
}

/// The allocator a hook wraps, from the context it was installed with.
///
/// # Safety
/// `ctx` is a context `install` gave `PyMem_SetAllocator`: a pointer into `ORIGINALS`.
unsafe fn original<'a>(ctx: *mut c_void) -> &'a Allocator {
    // SAFETY: by the contract, `ctx` points to an `Allocator` in `ORIGINALS`, set once and
    // never changed or freed.
    unsafe { &*ctx.cast::<Allocator>() }
}

unsafe extern "C" fn hook_malloc(ctx: *mut c_void, size: usize) -> *mut c_void {
    // SAFETY: CPython passes back the context `install` gave it.
    let a = unsafe { original(ctx) };
    // SAFETY: forwards the caller's arguments to the allocator this one wraps.
    let p = nested(|| unsafe { (a.malloc)(a.ctx, size) });
    if !p.is_null() {
        count(p, size);
    }
    p
}

unsafe extern "C" fn hook_calloc(ctx: *mut c_void, n: usize, size: usize) -> *mut c_void {
    // SAFETY: CPython passes back the context `install` gave it.
    let a = unsafe { original(ctx) };
    // SAFETY: forwards the caller's arguments to the allocator this one wraps.
    let p = nested(|| unsafe { (a.calloc)(a.ctx, n, size) });
    if !p.is_null() {
        count(p, n.saturating_mul(size));
    }
    p
}

unsafe extern "C" fn hook_realloc(ctx: *mut c_void, old: *mut c_void, size: usize) -> *mut c_void {
    // SAFETY: CPython passes back the context `install` gave it.
    let a = unsafe { original(ctx) };
    // The old block may move or go: forget it first, like the native profiler's realloc.
    if !old.is_null() {
        profiler::on_free(old);
    }
    // SAFETY: forwards the caller's arguments to the allocator this one wraps.
    let p = nested(|| unsafe { (a.realloc)(a.ctx, old, size) });
    if !p.is_null() {
        count(p, size);
    }
    p
}

unsafe extern "C" fn hook_free(ctx: *mut c_void, p: *mut c_void) {
    // SAFETY: CPython passes back the context `install` gave it.
    let a = unsafe { original(ctx) };
    if !p.is_null() {
        profiler::on_free(p);
    }
    // SAFETY: forwards the caller's arguments to the allocator this one wraps.
    unsafe { (a.free)(a.ctx, p) };
}

/// Wraps the `mem` and `obj` allocators (once). The caller holds the GIL, as
/// `PyMem_SetAllocator` requires; `preloaded`: malloc is interposed too.
pub fn install(api: &Api, preloaded: bool, seed: u64) {
    if ORIGINALS.get().is_some() {
        return;
    }
    NESTED.store(preloaded, Ordering::Relaxed);
    RNG.store(seed | 1, Ordering::Relaxed);
    draw();
    let mut found = [None, None];
    for (i, domain) in [DOMAIN_MEM, DOMAIN_OBJ].into_iter().enumerate() {
        let mut a = std::mem::MaybeUninit::<Allocator>::zeroed();
        // SAFETY: PyMem_GetAllocator fills the struct `a` points to for a valid domain.
        unsafe { (api.get_allocator)(domain, a.as_mut_ptr()) };
        // SAFETY: filled just above with the domain's allocator (four functions and a context).
        found[i] = Some(unsafe { a.assume_init() });
    }
    let (Some(mem), Some(obj)) = (found[0], found[1]) else {
        return;
    };
    let originals = ORIGINALS.get_or_init(|| Originals([mem, obj]));
    for (i, domain) in [DOMAIN_MEM, DOMAIN_OBJ].into_iter().enumerate() {
        let mut hook = Allocator {
            ctx: (&originals.0[i] as *const Allocator).cast_mut().cast(),
            malloc: hook_malloc,
            calloc: hook_calloc,
            realloc: hook_realloc,
            free: hook_free,
        };
        // SAFETY: installs a wrapper of the domain's allocator, with the GIL held; CPython
        // copies the struct. The context points into `ORIGINALS`, which lives forever.
        unsafe { (api.set_allocator)(domain, &mut hook) };
    }
}
