//! Stacks of sampled allocations, walked in the target: libgcc's DWARF unwinder
//! (`_Unwind_Backtrace`), which follows the call frame information every compiler emits for
//! C++ exceptions (so programs built with `-fomit-frame-pointer` unwind fully), then frame
//! pointers where the DWARF walk stops at code without unwind information: JIT code (V8 keeps
//! a frame-pointer chain through its JavaScript frames) and hand-written stubs.
//!
//! libgcc's unwinder is already loaded in every process that links libstdc++ or Rust code,
//! allocates nothing on glibc 2.35+ (it finds unwind tables with `_dl_find_object`), and needs
//! no set-up; only sampled allocations pay for it (a few microseconds).

use std::ffi::{c_int, c_void};
use std::sync::atomic::{AtomicUsize, Ordering};

#[repr(C)]
struct DwarfEhBases {
    tbase: *mut c_void,
    dbase: *mut c_void,
    func: *mut c_void,
}

const URC_NO_REASON: c_int = 0;
const URC_END_OF_STACK: c_int = 5;

/// The DWARF number of the frame-pointer register.
#[cfg(target_arch = "x86_64")]
const FP_REG: c_int = 6;
#[cfg(target_arch = "aarch64")]
const FP_REG: c_int = 29;

#[link(name = "gcc_s")]
extern "C" {
    fn _Unwind_Backtrace(
        trace: extern "C" fn(ctx: *mut c_void, arg: *mut c_void) -> c_int,
        arg: *mut c_void,
    ) -> c_int;
    fn _Unwind_GetIP(ctx: *mut c_void) -> usize;
    fn _Unwind_GetGR(ctx: *mut c_void, index: c_int) -> usize;
    fn _Unwind_Find_FDE(pc: *mut c_void, bases: *mut DwarfEhBases) -> *const c_void;
}

/// The profiler's own code: frames there are left out of stacks.
static OWN_START: AtomicUsize = AtomicUsize::new(0);
static OWN_END: AtomicUsize = AtomicUsize::new(0);
/// This process's id, for reading its own memory (changes in a forked child).
static PID: AtomicUsize = AtomicUsize::new(0);

/// Remembers where the profiler's code is and this process's id.
pub fn init(own: (usize, usize)) {
    OWN_START.store(own.0, Ordering::Relaxed);
    OWN_END.store(own.1, Ordering::Relaxed);
    set_pid();
}

/// Takes the (new) process id, after fork.
pub fn set_pid() {
    // SAFETY: getpid has no preconditions.
    let pid = unsafe { libc::getpid() };
    PID.store(pid as usize, Ordering::Relaxed);
}

struct Walk<'a> {
    frames: &'a mut [usize],
    n: usize,
    own: (usize, usize),
    in_own: bool,
    last_ip: usize,
    last_fp: usize,
    full: bool,
}

extern "C" fn trace(ctx: *mut c_void, arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the `&mut Walk` that `capture` passed to _Unwind_Backtrace, alive and
    // not otherwise borrowed until it returns.
    let w = unsafe { &mut *arg.cast::<Walk>() };
    // SAFETY: `ctx` is the live context libgcc passes to the callback.
    let ip = unsafe { _Unwind_GetIP(ctx) };
    if ip == 0 {
        return URC_END_OF_STACK;
    }
    w.last_ip = ip;
    // SAFETY: as above; the frame-pointer register is always tracked by the context.
    w.last_fp = unsafe { _Unwind_GetGR(ctx, FP_REG) };
    if w.in_own {
        if ip >= w.own.0 && ip < w.own.1 {
            return URC_NO_REASON;
        }
        w.in_own = false;
    }
    let Some(slot) = w.frames.get_mut(w.n) else {
        w.full = true;
        return URC_END_OF_STACK;
    };
    *slot = ip;
    w.n += 1;
    URC_NO_REASON
}

/// Whether `ip` (a return address) lies in code with DWARF unwind information.
fn has_unwind_info(ip: usize) -> bool {
    let mut bases = DwarfEhBases {
        tbase: std::ptr::null_mut(),
        dbase: std::ptr::null_mut(),
        func: std::ptr::null_mut(),
    };
    // SAFETY: _Unwind_Find_FDE only looks `pc` up in the loaded objects' tables and fills
    // `bases`, a live local.
    let fde = unsafe { _Unwind_Find_FDE((ip - 1) as *mut c_void, &mut bases) };
    !fde.is_null()
}

/// Reads two words at `addr` of this process's memory, or `None` where nothing is mapped:
/// the kernel checks the address, so a corrupt frame pointer costs a failed call, not a crash.
fn read_pair(addr: usize) -> Option<[usize; 2]> {
    let mut out = [0usize; 2];
    let local = libc::iovec {
        iov_base: out.as_mut_ptr().cast(),
        iov_len: std::mem::size_of_val(&out),
    };
    let remote = libc::iovec {
        iov_base: addr as *mut c_void,
        iov_len: std::mem::size_of_val(&out),
    };
    let pid = PID.load(Ordering::Relaxed) as libc::pid_t;
    // SAFETY: `local` describes `out`, a live local of the right size; the remote range is
    // read by the kernel, which fails with EFAULT instead of faulting on bad addresses.
    let n = unsafe { libc::process_vm_readv(pid, &local, 1, &remote, 1, 0) };
    (n == std::mem::size_of_val(&out) as isize).then_some(out)
}

/// Continues a stack along the frame-pointer chain from `fp`.
fn walk_frame_pointers(frames: &mut [usize], mut n: usize, mut fp: usize) -> usize {
    while n < frames.len() {
        if fp == 0 || !fp.is_multiple_of(std::mem::align_of::<usize>()) {
            break;
        }
        let Some([next, ret]) = read_pair(fp) else {
            break;
        };
        if ret < 4096 {
            break;
        }
        frames[n] = ret;
        n += 1;
        // Frames of callers lie above (stacks grow down) and not absurdly far away.
        if next <= fp || next - fp > 16 << 20 {
            break;
        }
        fp = next;
    }
    n
}

/// Fills `frames` with the return addresses of the current stack, innermost first, leaving
/// out the profiler's own frames; returns how many.
#[inline(always)]
pub fn capture(frames: &mut [usize]) -> usize {
    let mut w = Walk {
        frames,
        n: 0,
        own: (
            OWN_START.load(Ordering::Relaxed),
            OWN_END.load(Ordering::Relaxed),
        ),
        in_own: true,
        last_ip: 0,
        last_fp: 0,
        full: false,
    };
    // SAFETY: `trace` matches the callback type and only uses `w` through the pointer given,
    // which outlives the call.
    let rc = unsafe { _Unwind_Backtrace(trace, (&mut w as *mut Walk).cast()) };
    let (n, last_ip, last_fp, full) = (w.n, w.last_ip, w.last_fp, w.full);
    if rc == URC_END_OF_STACK && !full && n > 0 && last_ip > 1 && !has_unwind_info(last_ip) {
        return walk_frame_pointers(w.frames, n, last_fp);
    }
    n
}
