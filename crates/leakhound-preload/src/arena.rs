//! The bootstrap arena: memory for allocations made before the real allocator is known (dlsym
//! itself may call calloc while it resolves `malloc`). A bump allocator over a static buffer;
//! its blocks are never reused, so `free` of one is a no-op.

use std::cell::UnsafeCell;
use std::ffi::c_void;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Bytes of bootstrap memory. dlsym needs a few hundred bytes at most; the rest is margin.
const SIZE: usize = 256 * 1024;
/// Each block starts with a header holding its size (for realloc), keeping 16-byte alignment.
const HEADER: usize = 16;

#[repr(C, align(4096))]
struct Buffer(UnsafeCell<[u8; SIZE]>);

// SAFETY: disjoint ranges of the buffer are handed out by an atomic bump pointer, so no two
// threads write the same bytes through it.
unsafe impl Sync for Buffer {}

static BUFFER: Buffer = Buffer(UnsafeCell::new([0; SIZE]));
static NEXT: AtomicUsize = AtomicUsize::new(0);

fn base() -> usize {
    BUFFER.0.get() as usize
}

/// Whether `p` came from the arena.
#[inline(always)]
pub fn owns(p: *mut c_void) -> bool {
    // One comparison: below the base, the difference wraps to a huge number. Every free asks.
    (p as usize).wrapping_sub(base()) < SIZE
}

/// `size` zeroed bytes aligned to `align` (a power of two, at most 4096), or null when the
/// arena is exhausted.
pub fn alloc(size: usize, align: usize) -> *mut c_void {
    let align = align.clamp(HEADER, 4096);
    let Some(need) = size.checked_add(HEADER + align) else {
        return std::ptr::null_mut();
    };
    let start = NEXT.fetch_add(need, Ordering::Relaxed);
    if start.saturating_add(need) > SIZE {
        return std::ptr::null_mut();
    }
    // The user's block starts at the first aligned address leaving room for the header.
    let user = (base() + start + HEADER).next_multiple_of(align);
    let header = (user - HEADER) as *mut usize;
    // SAFETY: [start, start + need) of the buffer belongs to this call alone (bump pointer
    // above), `header` lies inside it (user - HEADER >= base + start) and is 16-byte aligned.
    unsafe { header.write(size) };
    user as *mut c_void
}

/// The size asked for when `p` (owned by the arena) was allocated.
pub fn size_of(p: *mut c_void) -> usize {
    let header = (p as usize - HEADER) as *const usize;
    // SAFETY: `p` came from `alloc`, which wrote the size just before it.
    unsafe { header.read() }
}
