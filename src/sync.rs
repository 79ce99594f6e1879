//! The one place atomics, cells, locks and threads come from: `std` in a
//! normal build, [`loom`](https://docs.rs/loom) under `--cfg loom`, so the
//! lock-free protocols can be model-checked without changing their code.
//!
//! [`UnsafeCell`] mirrors loom's closure-based API (`with`, `with_mut`) on
//! top of `core::cell::UnsafeCell`, which lets loom track every slot access
//! while the std build compiles down to a plain pointer.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicBool, AtomicU32, AtomicU64, Ordering};
#[cfg(loom)]
pub(crate) use loom::sync::{Arc, Condvar, Mutex};
#[cfg(loom)]
pub(crate) use loom::thread;

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{fence, AtomicBool, AtomicU32, AtomicU64, Ordering};
#[cfg(not(loom))]
pub(crate) use std::sync::{Arc, Condvar, Mutex};
#[cfg(not(loom))]
pub(crate) use std::thread;

/// Hint to the CPU that we are in a spin loop (`PAUSE` on x86); under loom a
/// yield, so the model checker explores the other threads.
#[inline(always)]
pub(crate) fn spin_loop() {
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(not(loom))]
    std::hint::spin_loop();
}

/// Give the rest of the time slice away.
#[inline]
pub(crate) fn yield_now() {
    thread::yield_now();
}

/// `core::cell::UnsafeCell` with loom's closure API.
#[cfg(not(loom))]
#[derive(Debug, Default)]
#[repr(transparent)]
pub(crate) struct UnsafeCell<T>(core::cell::UnsafeCell<T>);

#[cfg(not(loom))]
impl<T> UnsafeCell<T> {
    /// Run `f` with a shared raw pointer to the contents.
    #[inline(always)]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }

    /// Run `f` with an exclusive raw pointer to the contents.
    #[inline(always)]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}

#[cfg(loom)]
pub(crate) use loom::cell::UnsafeCell;
