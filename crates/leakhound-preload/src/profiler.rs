//! The sampling decision on every allocation, and what happens on the rare sampled ones.
//!
//! Each thread counts down the bytes it allocates; when the count passes zero the allocation
//! is sampled and a new count is drawn from an exponential distribution with the configured
//! mean. Sample points are then a Poisson process over allocated bytes (as in tcmalloc,
//! jemalloc's prof and Go's runtime), so a block of `size` bytes is sampled with probability
//! 1 - exp(-size/mean) whatever the sizes around it, and weighting each sample by the inverse
//! makes live bytes per site unbiased.
//!
//! The mean is fixed when asked (`--native-sampling`); by default it follows a **sample
//! budget**: at most a number of samples per second, and no more than [`COST_SHARE`] of a core
//! spent taking them (as measured), the mean adjusted to the program's rate of allocation. A program that allocates little is sampled finely (a small
//! leak in a one-minute soak gets enough samples), one that allocates gigabytes per second
//! coarsely (its unwinding cost stays bounded). Each countdown is drawn with the mean in force
//! at that moment and the sample it ends in is weighted by that same mean, so estimates stay
//! unbiased while the mean moves (the sample points are a Poisson process in bytes whose rate
//! changes only at sample points, on what came before).

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicU64, Ordering};
use std::sync::OnceLock;

use crate::tables::{Tables, MAX_FRAMES};
use crate::unwind;

/// The profiler, once it is configured (with nowhere to report, it never is and every hook
/// just forwards).
pub struct Profiler {
    /// How the mean is chosen.
    pub mean: Mean,
    /// The tables.
    pub tables: Tables,
}

/// How the mean bytes between samples is chosen.
#[derive(Debug, Clone, Copy)]
pub enum Mean {
    /// Always this many bytes.
    Fixed(f64),
    /// Adjusted to the allocation rate for at most this many samples per second (fewer when
    /// samples cost more than [`COST_SHARE`] of a core).
    Budget(f64),
}

/// Smallest mean under a budget: below it nearly every allocation is sampled anyway.
pub const MIN_MEAN: f64 = 512.0;
/// Largest mean under a budget (a program allocating tens of GB/s).
pub const MAX_MEAN: f64 = 256.0 * 1024.0 * 1024.0;
/// The mean a budget starts from, before the first adjustment (a fraction of a second).
pub const START_MEAN: f64 = 16.0 * 1024.0;
/// Live samples the budget aims to keep at most, a quarter of the live table: on a large
/// heap the mean rises so the table never fills.
const LIVE_SAMPLES_AIM: f64 = (crate::tables::MAX_LIVE / 4) as f64;
/// The budget's window: the sample rate is measured over about this long.
const WINDOW_NS: u64 = 250_000_000;

/// The mean in force, as f64 bits (see [`current_mean`]).
static MEAN_BITS: AtomicU64 = AtomicU64::new(0);

/// The mean bytes between samples now.
pub fn current_mean() -> f64 {
    f64::from_bits(MEAN_BITS.load(Ordering::Relaxed))
}

impl Mean {
    /// The mean to start with; sets it in force.
    pub fn start(self) -> f64 {
        let m = match self {
            Mean::Fixed(m) => m,
            Mean::Budget(_) => START_MEAN,
        };
        MEAN_BITS.store(m.to_bits(), Ordering::Relaxed);
        m
    }
}

/// Samples counted in the current window, and when it began (monotonic ns; 0: not yet).
static WINDOW_SAMPLES: AtomicU64 = AtomicU64::new(0);
static WINDOW_START: AtomicU64 = AtomicU64::new(0);
/// Held by the thread adjusting the mean (others skip: one adjustment per window is enough).
static ADJUSTING: AtomicBool = AtomicBool::new(false);

fn monotonic_ns() -> u64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the live local `t`.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut t) };
    (t.tv_sec as u64).saturating_mul(1_000_000_000) + t.tv_nsec as u64
}

/// The mean that would have given `target` samples per second, had `samples` been taken in
/// `ns` at `mean` (the allocation rate is samples x mean / time), within bounds and never so
/// small that `live_bytes` would need more live samples than the table should hold.
pub fn budget_mean(mean: f64, samples: u64, ns: u64, target: f64, live_bytes: f64) -> f64 {
    let observed = samples as f64 * 1e9 / ns.max(1) as f64;
    let ideal = mean * observed / target.max(1e-9);
    // Few samples say little about the rate: move part of the way.
    let next = if samples >= 8 {
        ideal
    } else {
        (mean * ideal.max(f64::MIN_POSITIVE)).sqrt()
    };
    next.max(live_bytes / LIVE_SAMPLES_AIM)
        .clamp(MIN_MEAN, MAX_MEAN)
}

/// Time spent taking the current window's samples, nanoseconds.
static WINDOW_COST_NS: AtomicU64 = AtomicU64::new(0);

/// The share of one core the profiler may spend taking samples (unwinding and recording): the
/// budget's second bound. A sample costs a few microseconds where stacks are shallow and up to
/// tens where they are deep (a server's DWARF unwinding), so a count of samples alone would
/// cost some programs ten times what it costs others.
pub const COST_SHARE: f64 = 0.005;

/// Samples per second within the budget: at most `most`, and no more than `COST_SHARE` of a
/// core at `cost_ns` per sample.
pub fn affordable(most: f64, cost_ns: f64) -> f64 {
    if cost_ns > 0.0 {
        most.min(COST_SHARE * 1e9 / cost_ns)
    } else {
        most
    }
}

/// Counts a sample that took `cost_ns` against the budget; at the end of a window (or early,
/// when far over budget) sets the mean for the next one. Called on sampled allocations only.
fn spend(most: f64, live_bytes: f64, cost_ns: u64) {
    let n = WINDOW_SAMPLES.fetch_add(1, Ordering::Relaxed) + 1;
    let cost = WINDOW_COST_NS.fetch_add(cost_ns, Ordering::Relaxed) + cost_ns;
    let now = monotonic_ns();
    let start = WINDOW_START.load(Ordering::Relaxed);
    if start == 0 {
        WINDOW_START.store(now, Ordering::Relaxed);
        return;
    }
    let ns = now.saturating_sub(start);
    let over = n as f64 > 4.0 * most * WINDOW_NS as f64 / 1e9 && ns > 1_000_000;
    if ns < WINDOW_NS && !over {
        return;
    }
    if ADJUSTING.swap(true, Ordering::Acquire) {
        return;
    }
    let target = affordable(most, cost as f64 / n as f64);
    let next = budget_mean(current_mean(), n, ns, target, live_bytes);
    MEAN_BITS.store(next.to_bits(), Ordering::Relaxed);
    WINDOW_SAMPLES.store(0, Ordering::Relaxed);
    WINDOW_COST_NS.store(0, Ordering::Relaxed);
    WINDOW_START.store(now, Ordering::Relaxed);
    ADJUSTING.store(false, Ordering::Release);
}

/// An unusual size the constructor allocates through the program's malloc before the profiler
/// is set, to learn whether the call reaches this library (see `malloc_is_ours`).
pub const PROBE_SIZE: usize = 23_131;
/// Set when the probe allocation passed through this library's malloc.
pub static PROBE_SEEN: AtomicBool = AtomicBool::new(false);

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
    /// The mean the current countdown was drawn with: the weight of the sample it ends in.
    drawn: Cell<f64>,
}

thread_local! {
    // Constant-initialised and without a destructor: reading it never allocates and works in
    // every phase of a thread's life.
    static STATE: ThreadState = const {
        ThreadState {
            busy: Cell::new(false),
            until: Cell::new(0),
            rng: Cell::new(0),
            drawn: Cell::new(0.0),
        }
    };
}

/// Where this thread's `STATE` is relative to the thread pointer, once known (0 before).
///
/// Rust's thread-locals in a shared library use the general-dynamic TLS model: every access
/// calls `__tls_get_addr`, the largest part of an unsampled malloc's cost. A library loaded
/// with LD_PRELOAD has its TLS block in the static TLS area, at the same distance from the
/// thread pointer in every thread (the ELF TLS ABI), so that distance, measured once, gives
/// the address with two instructions.
static STATE_OFFSET: AtomicIsize = AtomicIsize::new(0);

/// The thread pointer: `%fs:0` holds it on x86-64, `tpidr_el0` on aarch64.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[inline(always)]
fn thread_pointer() -> isize {
    let tp: isize;
    #[cfg(target_arch = "x86_64")]
    // SAFETY: reads the word at %fs:0, the thread control block's pointer to itself (always
    // mapped for a running thread); writes nothing, touches no stack or flags.
    unsafe {
        std::arch::asm!("mov {}, qword ptr fs:[0]", out(reg) tp,
            options(nostack, preserves_flags, readonly, pure))
    };
    #[cfg(target_arch = "aarch64")]
    // SAFETY: reads the thread ID register; writes nothing, touches no stack or flags.
    unsafe {
        std::arch::asm!("mrs {}, tpidr_el0", out(reg) tp, options(nostack, preserves_flags, nomem, pure))
    };
    tp
}

/// This thread's state's distance from the thread pointer, by way of the thread-local itself.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
fn measured_offset() -> isize {
    STATE.with(|s| s as *const ThreadState as isize) - thread_pointer()
}

/// Measures the distance in this thread (a second one after `init`'s): the fast path is
/// taken only if two threads agree, which they do exactly when the TLS block is static.
pub fn calibrate() {
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    {
        let here = measured_offset();
        let first = FIRST_OFFSET.load(Ordering::Relaxed);
        if first == 0 {
            FIRST_OFFSET.store(here, Ordering::Relaxed);
        } else if first == here && here != 0 {
            STATE_OFFSET.store(here, Ordering::Relaxed);
        }
    }
}

static FIRST_OFFSET: AtomicIsize = AtomicIsize::new(0);

/// This thread's state, through the thread pointer once calibrated, else the thread-local.
#[inline(always)]
fn with_state<R>(f: impl FnOnce(&ThreadState) -> R) -> R {
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    {
        let off = STATE_OFFSET.load(Ordering::Relaxed);
        if off != 0 {
            let p = thread_pointer().wrapping_add(off) as *const ThreadState;
            // SAFETY: two threads found their STATE at the thread pointer plus `off`, so the
            // library's TLS block is static and every thread's STATE is there (ELF TLS ABI);
            // it is this thread's own, initialised before the thread ran, and only ever
            // shared-borrowed (its fields are Cells), like STATE.with would give it.
            return f(unsafe { &*p });
        }
    }
    STATE.with(f)
}

/// Marks this thread as the profiler's own (or not): its allocations are never sampled.
pub fn set_busy(busy: bool) -> bool {
    with_state(|s| s.busy.replace(busy))
}

fn next_random(s: &ThreadState) -> u64 {
    let mut x = s.rng.get();
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    s.rng.set(x);
    x.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

/// An exponentially distributed gap of bytes with the mean in force, which it remembers.
fn gap(s: &ThreadState) -> i64 {
    let mean = current_mean();
    s.drawn.set(mean);
    exponential(next_random(s), mean)
}

/// An exponentially distributed number of bytes with mean `mean`, from 64 random bits.
pub fn exponential(random: u64, mean: f64) -> i64 {
    // 53 random bits as a uniform in (0, 1].
    let u = ((random >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
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
        // Only before the profiler starts (or when it never does): the constructor's probe.
        if size == PROBE_SIZE {
            PROBE_SEEN.store(true, Ordering::Relaxed);
        }
        return;
    };
    let size = size.min(i64::MAX as usize) as i64;
    let crossed = with_state(|s| {
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
    with_state(|s| {
        if s.rng.get() == 0 {
            // First allocation of this thread: it was counted against an empty countdown;
            // start over from a random point, as if this allocation came first.
            seed(s);
            let left = gap(s).saturating_sub(size);
            s.until.set(left);
            if left > 0 {
                return;
            }
        }
        if s.busy.get() {
            // The profiler's own allocation (or one made while forking): not sampled.
            s.until.set(gap(s).max(1));
            return;
        }
        s.busy.set(true);
        take_sample(prof, p as usize, size as usize, s.drawn.get());
        // After the sample: allocations the unwinder made meanwhile do not shorten the gap.
        s.until.set(gap(s).max(1));
        s.busy.set(false);
    });
}

/// Records a sample of the block of `size` bytes at `addr` (weighted by the `mean` its
/// countdown was drawn with) and counts it against the budget. The caller has marked its
/// thread busy. Inlined into the cold paths, like `unwind::capture`: every frame of the
/// profiler's own is one more for the unwinder to walk and skip.
#[inline(always)]
pub fn take_sample(prof: &Profiler, addr: usize, size: usize, mean: f64) {
    let started = matches!(prof.mean, Mean::Budget(_)).then(monotonic_ns);
    let mut frames = [0usize; MAX_FRAMES];
    let n = unwind::capture(&mut frames);
    // In a Python process, the interpreter's frames become the Python code they run.
    let n = crate::python::merge(&mut frames, n);
    let live_bytes = prof.tables.add(addr, size, &frames[..n], mean);
    if let (Mean::Budget(most), Some(t0)) = (prof.mean, started) {
        spend(most, live_bytes, monotonic_ns().saturating_sub(t0));
    }
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
    with_state(|s| {
        // A thread of the profiler, or one that is forking (holding the lock), never frees a
        // sampled block through here; skipping it keeps the lock from being taken twice.
        if s.busy.get() {
            return;
        }
        s.busy.set(true);
        prof.tables.remove(p as usize);
        s.busy.set(false);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_mean_follows_the_allocation_rate() {
        // 100 samples in a second at 64 KiB: 6.4 MB/s; 1000 samples/s wants a 6.4 KiB mean.
        let m = budget_mean(65536.0, 100, 1_000_000_000, 1000.0, 0.0);
        assert!((m - 6553.6).abs() < 1.0, "{m}");
        // 8 GB/s at 16 KiB: half a million samples a second; the mean rises to 8 MB.
        let m = budget_mean(16384.0, 125_000, 250_000_000, 1000.0, 0.0);
        assert!((m - 8.192e6).abs() < 1e4, "{m}");
        // Bounds, and a large live heap keeps the live table from filling.
        assert_eq!(budget_mean(1024.0, 1000, 1_000_000_000, 1e6, 0.0), MIN_MEAN);
        assert_eq!(budget_mean(1e9, 1e6 as u64, 1, 1.0, 0.0), MAX_MEAN);
        let live = 8.0 * 1024.0 * 1024.0 * 1024.0;
        let m = budget_mean(4096.0, 1000, 1_000_000_000, 1000.0, live);
        assert!(m >= live / LIVE_SAMPLES_AIM, "{m}");
        // Deep stacks cost more per sample: fewer of them.
        assert_eq!(affordable(2000.0, 2_000.0), 2000.0);
        assert_eq!(affordable(2000.0, 10_000.0), 500.0);
        assert_eq!(affordable(2000.0, 0.0), 2000.0);
        // Few samples move the mean part of the way only.
        let m = budget_mean(65536.0, 1, 1_000_000_000, 1000.0, 0.0);
        assert!(m > 65536.0 / 1000.0 && m < 65536.0, "{m}");
    }
}
