//! A spin lock that never allocates and can be held across `fork` (taken in the prepare
//! handler, released in the parent and child handlers), which a guard object cannot do.

use std::cell::UnsafeCell;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, Ordering};

/// Mutual exclusion for the profiler's tables. Critical sections are short (a hash probe, a
/// few additions, or the reporter's copy of the tables) and never call into the allocator.
pub struct SpinLock<T> {
    locked: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: the value is only reached through `Guard`, which exists only while `locked` is held
// by its creator, so at most one thread touches it at a time; T itself moves between threads.
unsafe impl<T: Send> Sync for SpinLock<T> {}

impl<T> SpinLock<T> {
    /// A lock around `value`.
    pub const fn new(value: T) -> SpinLock<T> {
        SpinLock {
            locked: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }

    /// Takes the lock, spinning briefly, then yielding the CPU to the holder.
    pub fn acquire(&self) {
        let mut spins = 0u32;
        while self
            .locked
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            spins += 1;
            if spins < 100 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
    }

    /// Releases a lock taken with [`SpinLock::acquire`] (the fork handlers).
    ///
    /// # Safety
    /// The caller took the lock with `acquire` and holds no `Guard` of it.
    pub unsafe fn release(&self) {
        self.locked.store(false, Ordering::Release);
    }

    /// Takes the lock until the guard is dropped.
    pub fn lock(&self) -> Guard<'_, T> {
        self.acquire();
        Guard { lock: self }
    }
}

/// Access to the locked value.
pub struct Guard<'a, T> {
    lock: &'a SpinLock<T>,
}

impl<T> Deref for Guard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard exists only while this thread holds the lock.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> DerefMut for Guard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard exists only while this thread holds the lock, and `&mut self`
        // keeps this the only reference handed out by it.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T> Drop for Guard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: this guard took the lock in `lock` and is going away.
        unsafe { self.lock.release() }
    }
}
