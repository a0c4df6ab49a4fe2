//! The profiler's tables, mapped once at start-up with fixed bounds, so that recording a
//! sample never allocates:
//!
//! - the **filter**: a bitmap of 2^16 bits (8 KiB, small enough to stay in the L1 cache) over
//!   a hash of a block's address: a bit is set while some sampled live block hashes there. A
//!   free of an unsampled block finds a zero and goes on after one load; the others look in
//!   the live table. One byte per bit under the lock counts the blocks behind it (64 KiB).
//!   With N sampled blocks live, about N / 65,536 of all frees look further: 0.6% for a
//!   200 MiB heap at the default mean. (A 256 KiB byte filter read by every free cost 35% of
//!   the CPU of an allocation-bound benchmark in cache misses; this one costs 2%.)
//! - the **live table**: the sampled blocks still allocated (address, size, site), open
//!   addressing in 2^17 slots of 24 bytes (3 MiB of address space), at most half full: 65,536
//!   live samples, which at the default mean of 512 KiB is 32 GiB of live heap. Samples
//!   beyond that are dropped and counted.
//! - the **sites**: up to 8,192 distinct stacks of up to 64 return addresses, with their
//!   estimated live bytes and objects: 544 bytes each plus 8 bytes of index (4.4 MiB of
//!   address space). Stacks beyond that count in the remainder; stacks with nothing live that
//!   were reported so are evicted when the table is three quarters full.
//!
//! Memory is touched only as it is used: a program with a few hundred sites and a few
//! thousand live samples costs well under 1 MiB.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

/// Most return addresses kept per stack (innermost first).
pub const MAX_FRAMES: usize = 64;
/// Most distinct stacks.
pub const MAX_SITES: usize = 8192;
const SITE_SLOTS: usize = 2 * MAX_SITES;
const LIVE_SLOTS: usize = 1 << 17;
/// Most live samples held.
pub const MAX_LIVE: usize = LIVE_SLOTS / 2;
const FILTER_BITS: u32 = 16;
/// A live sample whose stack did not fit in the site table counts in the remainder.
const OTHER: u32 = u32::MAX;

/// One stack and what is live from it.
#[repr(C)]
pub struct Site {
    hash: u64,
    depth: u32,
    /// Whether the last report showed live bytes here (so a drop to zero is reported once).
    reported_live: u32,
    /// Live samples from here.
    count: u64,
    /// Estimated live bytes and objects (the sum of the samples' weights).
    bytes: f64,
    objects: f64,
    frames: [usize; MAX_FRAMES],
}

#[repr(C)]
#[derive(Clone, Copy)]
struct Live {
    /// 0 marks an empty slot (no block lives at address 0).
    addr: usize,
    size: usize,
    /// Index of its site, or `OTHER`.
    site: u32,
    /// The mean its sample was drawn with: its weight is computed from it when it is added
    /// and again, identically, when it is freed.
    mean: f32,
}

/// Types whose all-zero bit pattern is a valid value, so fresh anonymous memory holds them.
///
/// # Safety
/// Implement only for types valid when every byte is zero.
pub(crate) unsafe trait Zeroable {}
// SAFETY: integers, floats and arrays of them are valid when zero.
unsafe impl Zeroable for Site {}
// SAFETY: as above.
unsafe impl Zeroable for Live {}
// SAFETY: as above.
unsafe impl Zeroable for u32 {}
// SAFETY: as above.
unsafe impl Zeroable for u8 {}
// SAFETY: an atomic u64 has the layout of a u64.
unsafe impl Zeroable for AtomicU64 {}

/// `len` zeroed values in fresh anonymous memory that lives as long as the process (pages
/// are reserved, not committed, until touched).
pub(crate) fn map<T: Zeroable>(len: usize) -> Option<&'static mut [T]> {
    let bytes = len.checked_mul(std::mem::size_of::<T>())?;
    // SAFETY: an anonymous private mapping at an address of the kernel's choosing touches
    // no existing memory.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            bytes,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return None;
    }
    // SAFETY: the mapping is `bytes` long, page-aligned (so aligned for T), zero-filled
    // (valid for T: Zeroable), never unmapped, and this is the only reference to it.
    Some(unsafe { std::slice::from_raw_parts_mut(p.cast::<T>(), len) })
}

/// The shared state of the hooks: the lock-free filter and the locked tables.
pub struct Tables {
    /// Read by every free; written under the lock.
    filter: &'static [AtomicU64],
    /// Everything else, under one lock taken only on sampled allocations, on frees that pass
    /// the filter, and by the reporter. A futex-based mutex, not a spin lock: with every
    /// allocation sampled, eight threads on two cores spinning for it starved the reporter
    /// (one report in ten seconds in the stress test). It never allocates.
    inner: Mutex<Inner>,
}

/// The locked tables.
pub struct Inner {
    /// Sampled live blocks behind each bit of the filter (255: too many to count, the bit
    /// stays set).
    filter_counts: &'static mut [u8],
    live: &'static mut [Live],
    live_len: usize,
    index: &'static mut [u32],
    sites: &'static mut [Site],
    sites_len: usize,
    other_count: u64,
    other_bytes: f64,
    other_objects: f64,
    /// Estimated live bytes of all live samples.
    live_bytes: f64,
    /// Samples taken since start (each stands for about `mean` bytes allocated).
    pub samples: u64,
    /// Samples not recorded because the live table was full.
    pub dropped: u64,
}

fn mix(addr: usize) -> u64 {
    ((addr as u64) >> 4).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

fn filter_slot(addr: usize) -> usize {
    (mix(addr) >> (64 - FILTER_BITS)) as usize
}

fn live_home(addr: usize) -> usize {
    (mix(addr) >> (64 - LIVE_SLOTS.trailing_zeros())) as usize
}

/// The hash of a stack (FNV-style over the addresses, finished with a multiply).
pub fn stack_hash(frames: &[usize]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &f in frames {
        h = (h ^ f as u64).wrapping_mul(0x0100_0000_01b3);
    }
    h.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1
}

/// What a sample of a block of `size` bytes stands for: (bytes, objects). A block is sampled
/// with probability 1 - exp(-size/mean), so weighting by the inverse makes the sums unbiased.
pub fn weight(size: usize, mean: f64) -> (f64, f64) {
    if size == 0 {
        return (0.0, 0.0);
    }
    let p = -(-(size as f64) / mean).exp_m1();
    let objects = 1.0 / p.max(f64::MIN_POSITIVE);
    (size as f64 * objects, objects)
}

impl Tables {
    /// Maps the tables; `None` when the kernel refuses the memory (then nothing is sampled).
    pub fn new() -> Option<Tables> {
        Some(Tables {
            filter: map::<AtomicU64>((1 << FILTER_BITS) / 64)?,
            inner: Mutex::new(Inner {
                filter_counts: map::<u8>(1 << FILTER_BITS)?,
                live: map::<Live>(LIVE_SLOTS)?,
                live_len: 0,
                index: map::<u32>(SITE_SLOTS)?,
                sites: map::<Site>(MAX_SITES)?,
                sites_len: 0,
                other_count: 0,
                other_bytes: 0.0,
                other_objects: 0.0,
                live_bytes: 0.0,
                samples: 0,
                dropped: 0,
            }),
        })
    }

    /// The locked tables. Nothing panics while holding them, but a poisoned lock would only
    /// mean a half-done update of estimates, so it is used as it is.
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The estimated live bytes of all live samples.
    pub fn live_bytes(&self) -> f64 {
        self.lock().live_bytes
    }

    /// Whether `addr` may be a sampled live block: the one check a free pays.
    #[inline]
    pub fn maybe_sampled(&self, addr: usize) -> bool {
        let slot = filter_slot(addr);
        self.filter[slot / 64].load(Ordering::Relaxed) & (1 << (slot % 64)) != 0
    }

    /// Records a block sampled with countdowns of mean `mean`, with its stack; returns the
    /// estimated live bytes of all live samples.
    pub fn add(&self, addr: usize, size: usize, frames: &[usize], mean: f64) -> f64 {
        let hash = stack_hash(frames);
        let mean = mean as f32;
        let (bytes, objects) = weight(size, f64::from(mean));
        let mut t = self.lock();
        t.samples += 1;
        if t.live_len >= MAX_LIVE {
            t.dropped += 1;
            return t.live_bytes;
        }
        t.live_bytes += bytes;
        let site = match t.site_of(hash, frames) {
            Some(i) => {
                let s = &mut t.sites[i];
                s.count += 1;
                s.bytes += bytes;
                s.objects += objects;
                i as u32
            }
            None => {
                t.other_count += 1;
                t.other_bytes += bytes;
                t.other_objects += objects;
                OTHER
            }
        };
        t.insert_live(Live {
            addr,
            size,
            site,
            mean,
        });
        let slot = filter_slot(addr);
        let n = &mut t.filter_counts[slot];
        if *n == 0 {
            self.filter[slot / 64].fetch_or(1 << (slot % 64), Ordering::Relaxed);
        }
        // A saturated counter stays saturated: that bit stays set.
        *n = n.saturating_add(1);
        t.live_bytes
    }

    /// Forgets a sampled block being freed; false when `addr` was not sampled.
    pub fn remove(&self, addr: usize) -> bool {
        let mut t = self.lock();
        let Some(slot) = t.find_live(addr) else {
            return false;
        };
        let e = t.live[slot];
        t.delete_live(slot);
        let (bytes, objects) = weight(e.size, f64::from(e.mean));
        t.live_bytes -= bytes;
        if t.live_len == 0 {
            t.live_bytes = 0.0;
        }
        if e.site == OTHER {
            t.other_count -= 1;
            t.other_bytes -= bytes;
            t.other_objects -= objects;
            if t.other_count == 0 {
                (t.other_bytes, t.other_objects) = (0.0, 0.0);
            }
        } else if let Some(s) = t.sites.get_mut(e.site as usize) {
            s.count -= 1;
            s.bytes -= bytes;
            s.objects -= objects;
            if s.count == 0 {
                // Exactly zero, not the rounding left by adding and subtracting weights.
                (s.bytes, s.objects) = (0.0, 0.0);
            }
        }
        let slot = filter_slot(addr);
        let n = &mut t.filter_counts[slot];
        if *n > 0 && *n < u8::MAX {
            *n -= 1;
            if *n == 0 {
                self.filter[slot / 64].fetch_and(!(1 << (slot % 64)), Ordering::Relaxed);
            }
        }
        true
    }
}

/// A site as the reporter copies it: where its frames are in the copy, and its numbers.
#[derive(Debug, Clone, Copy)]
pub struct SiteCopy {
    /// Index of the first frame in the frame buffer.
    pub first: usize,
    /// Number of frames.
    pub depth: usize,
    /// Estimated live bytes.
    pub bytes: f64,
    /// Estimated live objects.
    pub objects: f64,
}

/// What the reporter sends: the top sites and the remainder.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// The sites with live bytes, and those that just dropped to none, largest first.
    pub sites: Vec<SiteCopy>,
    /// Their frames, one after another.
    pub frames: Vec<usize>,
    /// Live bytes and objects of the sites left out (and of stacks that did not fit).
    pub other_bytes: f64,
    /// See `other_bytes`.
    pub other_objects: f64,
    /// Samples taken since start.
    pub samples: u64,
    /// Samples dropped because the live table was full.
    pub dropped: u64,
    /// Index of each site in the table (scratch space, kept to avoid allocating under the lock).
    order: Vec<(f64, u32)>,
    remap: Vec<u32>,
}

impl Snapshot {
    /// An empty snapshot with room for everything, allocated before the lock is taken.
    pub fn with_capacity(top: usize) -> Snapshot {
        Snapshot {
            sites: Vec::with_capacity(top),
            frames: Vec::with_capacity(top * MAX_FRAMES),
            order: Vec::with_capacity(MAX_SITES),
            remap: vec![0; MAX_SITES],
            ..Snapshot::default()
        }
    }
}

impl Inner {
    fn site_of(&mut self, hash: u64, frames: &[usize]) -> Option<usize> {
        let mask = SITE_SLOTS - 1;
        let mut slot = (hash as usize) & mask;
        loop {
            let i = self.index[slot] as usize;
            if i == 0 {
                break;
            }
            let s = &self.sites[i - 1];
            if s.hash == hash && s.frames.get(..s.depth as usize) == Some(frames) {
                return Some(i - 1);
            }
            slot = (slot + 1) & mask;
        }
        if self.sites_len >= MAX_SITES {
            return None;
        }
        let i = self.sites_len;
        self.sites_len += 1;
        self.index[slot] = (i + 1) as u32;
        let s = &mut self.sites[i];
        s.hash = hash;
        s.depth = frames.len().min(MAX_FRAMES) as u32;
        s.reported_live = 0;
        s.count = 0;
        s.bytes = 0.0;
        s.objects = 0.0;
        s.frames[..s.depth as usize].copy_from_slice(&frames[..s.depth as usize]);
        Some(i)
    }

    fn insert_live(&mut self, e: Live) {
        let mask = LIVE_SLOTS - 1;
        let mut slot = live_home(e.addr);
        while self.live[slot].addr != 0 {
            slot = (slot + 1) & mask;
        }
        self.live[slot] = e;
        self.live_len += 1;
    }

    fn find_live(&self, addr: usize) -> Option<usize> {
        let mask = LIVE_SLOTS - 1;
        let mut slot = live_home(addr);
        loop {
            match self.live[slot].addr {
                0 => return None,
                a if a == addr => return Some(slot),
                _ => slot = (slot + 1) & mask,
            }
        }
    }

    /// Empties `slot`, moving later entries of its probe run back so lookups still find them
    /// (no tombstones, so probe runs stay short however long the program runs).
    fn delete_live(&mut self, mut hole: usize) {
        let mask = LIVE_SLOTS - 1;
        let mut j = hole;
        loop {
            j = (j + 1) & mask;
            let a = self.live[j].addr;
            if a == 0 {
                break;
            }
            let home = live_home(a);
            // The entry at j may fill the hole unless its home lies cyclically in (hole, j].
            let stays = if hole <= j {
                hole < home && home <= j
            } else {
                hole < home || home <= j
            };
            if !stays {
                self.live[hole] = self.live[j];
                hole = j;
            }
        }
        self.live[hole].addr = 0;
        self.live_len -= 1;
    }

    /// Copies the `top` sites with the most live bytes (and any that just dropped to none)
    /// into `out`, which was allocated with room for them. Sites beyond `top` go to the
    /// remainder. Evicts dead sites when the table is three quarters full.
    pub fn snapshot(&mut self, top: usize, out: &mut Snapshot) {
        out.sites.clear();
        out.frames.clear();
        out.order.clear();
        for (i, s) in self.sites[..self.sites_len].iter().enumerate() {
            if s.count > 0 || s.reported_live != 0 {
                out.order.push((s.bytes.max(0.0), i as u32));
            }
        }
        out.order
            .sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        out.other_bytes = self.other_bytes.max(0.0);
        out.other_objects = self.other_objects.max(0.0);
        for (rank, &(_, i)) in out.order.iter().enumerate() {
            let s = &mut self.sites[i as usize];
            if rank < top {
                let depth = s.depth as usize;
                out.sites.push(SiteCopy {
                    first: out.frames.len(),
                    depth,
                    bytes: s.bytes.max(0.0),
                    objects: s.objects.max(0.0),
                });
                out.frames.extend_from_slice(&s.frames[..depth]);
            } else {
                out.other_bytes += s.bytes.max(0.0);
                out.other_objects += s.objects.max(0.0);
            }
            s.reported_live = u32::from(s.count > 0 && rank < top);
        }
        out.samples = self.samples;
        out.dropped = self.dropped;
        if self.sites_len > MAX_SITES / 4 * 3 {
            self.evict_dead(&mut out.remap);
        }
    }

    /// Removes sites with nothing live that were already reported so, renumbering the rest.
    fn evict_dead(&mut self, remap: &mut [u32]) {
        let mut kept = 0usize;
        for (i, to) in remap.iter_mut().enumerate().take(self.sites_len) {
            let s = &self.sites[i];
            if s.count == 0 && s.reported_live == 0 {
                *to = u32::MAX;
                continue;
            }
            *to = kept as u32;
            if kept != i {
                self.sites.swap(kept, i);
            }
            kept += 1;
        }
        if kept == self.sites_len {
            return;
        }
        self.sites_len = kept;
        for e in self
            .live
            .iter_mut()
            .filter(|e| e.addr != 0 && e.site != OTHER)
        {
            e.site = remap[e.site as usize];
        }
        self.index.fill(0);
        let mask = SITE_SLOTS - 1;
        for i in 0..kept {
            let mut slot = (self.sites[i].hash as usize) & mask;
            while self.index[slot] != 0 {
                slot = (slot + 1) & mask;
            }
            self.index[slot] = (i + 1) as u32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_are_inverse_probabilities() {
        let (b, o) = weight(64, 524288.0);
        assert!((o - 524288.0 / 64.0).abs() / o < 1e-3, "{o}");
        assert!((b - 64.0 * o).abs() < 1e-6);
        let (b, o) = weight(1 << 30, 524288.0);
        assert!((o - 1.0).abs() < 1e-12 && b == (1u64 << 30) as f64);
    }

    #[test]
    fn live_blocks_are_found_and_forgotten() {
        let t = Tables::new().unwrap();
        let mean = 1.0;
        let addrs: Vec<usize> = (1..5000).map(|i| i * 48 + 0x10000).collect();
        for (k, &a) in addrs.iter().enumerate() {
            t.add(a, 32, &[0x1000 + k % 7, 0x2000], mean);
        }
        for &a in addrs.iter().step_by(2) {
            assert!(t.maybe_sampled(a));
            assert!(t.remove(a), "{a:x}");
            assert!(!t.remove(a), "removed once");
        }
        for &a in addrs.iter().skip(1).step_by(2) {
            assert!(t.lock().find_live(a).is_some(), "{a:x} still live");
        }
        let mut snap = Snapshot::with_capacity(10);
        t.lock().snapshot(10, &mut snap);
        assert_eq!(snap.sites.len(), 7);
        let objects: f64 = snap.sites.iter().map(|s| s.objects).sum();
        assert!((objects - 2500.0).abs() < 1.0, "{objects}");
        for &a in addrs.iter().skip(1).step_by(2) {
            assert!(t.remove(a));
        }
        let mut snap = Snapshot::with_capacity(10);
        t.lock().snapshot(10, &mut snap);
        assert!(
            snap.sites.iter().all(|s| s.bytes == 0.0),
            "reported once at zero"
        );
        t.lock().snapshot(10, &mut snap);
        assert!(snap.sites.is_empty(), "then left out");
    }
}
