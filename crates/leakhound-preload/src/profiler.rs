//! The sampling decision on every allocation, and what happens on the rare sampled ones.
//!
//! Each thread counts down the bytes it allocates; when the count passes zero the allocation
//! is sampled and a new count is drawn from an exponential distribution with the configured
//! mean. Sample points are then a Poisson process over allocated bytes (as in tcmalloc,
//! jemalloc's prof and Go's runtime), so a block of `size` bytes is sampled with probability
//! 1 - exp(-size/mean) whatever the sizes around it, and weighting each sample by the inverse
//! makes live bytes per site unbiased.

use std::cell::Cell;
use std::sync::OnceLock;

use crate::tables::{Tables, MAX_FRAMES};
use crate::unwind;

/// The profiler, once it is configured (with nowhere to report, it never is and every hook
/// just forwards).
pub struct Profiler {
    /// Mean bytes between samples.
    pub mean: f64,
    /// The tables.
    pub tables: Tables,
}

/// Set by the constructor; read by every hook with one atomic load.
pub static PROFILER: OnceLock<Profiler> = OnceLock::new();

struct ThreadState {
    /// Inside the profiler (or a thread of its own, or forking): allocations are forwarded
    /// untouched, which also stops recursion when the unwinder or libc allocates.
    busy: Cell<bool>,
    /// Bytes still to allocate before the next sample.
    until: Cell<i64>,
    /// xorshift64* state; 0 until this thread's first allocation.
    rng: Cell<u64>,
}

thread_local! {
    // Constant-initialised and without a destructor: reading it never allocates and works in
    // every phase of a thread's life.
    static STATE: ThreadState = const {
        ThreadState { busy: Cell::new(false), until: Cell::new(0), rng: Cell::new(0) }
    };
}

/// Marks this thread as the profiler's own (or not): its allocations are never sampled.
pub fn set_busy(busy: bool) -> bool {
    STATE.with(|s| s.busy.replace(busy))
}

fn next_random(s: &ThreadState) -> u64 {
    let mut x = s.rng.get();
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    s.rng.set(x);
    x.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

/// An exponentially distributed gap of bytes with mean `mean`.
fn gap(s: &ThreadState, mean: f64) -> i64 {
    // 53 random bits as a uniform in (0, 1].
    let u = ((next_random(s) >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
    (-u.ln() * mean).min(i64::MAX as f64 / 2.0) as i64
}

fn seed(s: &ThreadState) {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the live local `t`.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut t) };
    let local = s as *const ThreadState as u64;
    let x =
        (t.tv_nsec as u64 ^ (t.tv_sec as u64) << 32 ^ local).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    s.rng.set(x | 1);
}

/// Called after every successful allocation of `size` bytes at `p`: the countdown is the
/// whole cost of an allocation that is not sampled.
#[inline(always)]
pub fn on_alloc(p: *mut std::ffi::c_void, size: usize) {
    let Some(prof) = PROFILER.get() else {
        return;
    };
    let size = size.min(i64::MAX as usize) as i64;
    let crossed = STATE.with(|s| {
        let left = s.until.get().wrapping_sub(size);
        s.until.set(left);
        left <= 0
    });
    if crossed {
        maybe_sample(prof, p, size);
    }
}

/// The countdown passed zero: sample, unless this thread is the profiler's own or has just
/// started (then its countdown starts at a random point).
#[cold]
#[inline(never)]
fn maybe_sample(prof: &Profiler, p: *mut std::ffi::c_void, size: i64) {
    STATE.with(|s| {
        if s.rng.get() == 0 {
            // First allocation of this thread: it was counted against an empty countdown;
            // start over from a random point, as if this allocation came first.
            seed(s);
            let left = gap(s, prof.mean).saturating_sub(size);
            s.until.set(left);
            if left > 0 {
                return;
            }
        }
        if s.busy.get() {
            // The profiler's own allocation (or one made while forking): not sampled.
            s.until.set(gap(s, prof.mean).max(1));
            return;
        }
        s.busy.set(true);
        sample(prof, p as usize, size as usize);
        // After the sample: allocations the unwinder made meanwhile do not shorten the gap.
        s.until.set(gap(s, prof.mean).max(1));
        s.busy.set(false);
    });
}

/// Inlined into the cold path, like `unwind::capture`: every frame of the profiler's own is
/// one more for the unwinder to walk and skip.
#[inline(always)]
fn sample(prof: &Profiler, addr: usize, size: usize) {
    let mut frames = [0usize; MAX_FRAMES];
    let n = unwind::capture(&mut frames);
    prof.tables.add(addr, size, &frames[..n], prof.mean);
}

/// Called before a block at `p` goes back to the real allocator (free, or realloc moving it).
#[inline]
pub fn on_free(p: *mut std::ffi::c_void) {
    let Some(prof) = PROFILER.get() else {
        return;
    };
    if !prof.tables.maybe_sampled(p as usize) {
        return;
    }
    STATE.with(|s| {
        // A thread of the profiler, or one that is forking (holding the lock), never frees a
        // sampled block through here; skipping it keeps the lock from being taken twice.
        if s.busy.get() {
            return;
        }
        s.busy.set(true);
        prof.tables.remove(p as usize, prof.mean);
        s.busy.set(false);
    });
}
