//! Hints to the memory system, which change how fast memory is reached,
//! never what it holds: a cache prefetch (start fetching a value's cache
//! lines now so that a later access finds them in cache; used by handlers
//! that look ahead in a batch, see
//! [`EventHandler::look_ahead`](crate::EventHandler::look_ahead), and by
//! the ring's batches), a prefetch for writing (the single producer's
//! next line), and
//! transparent huge pages for large randomly accessed tables (one TLB
//! entry per 2 MiB instead of per 4 KiB, so a lookup that misses the cache
//! does not also walk the page tables).

/// Bytes of a cache line on the targets we tune for (x86_64, and most
/// aarch64 cores).
pub(crate) const CACHE_LINE: usize = 64;

/// Hint that `value`'s bytes will be read soon: prefetch every cache line
/// it spans into all cache levels. A hint only: no effect on what any
/// access returns, and a no-op on targets without a prefetch instruction.
#[inline(always)]
pub(crate) fn prefetch_read<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let start = std::ptr::from_ref(value).cast::<i8>();
        let size = std::mem::size_of::<T>().max(1);
        // Each line the value touches, once: from the one holding its
        // first byte to the one holding its last (a value need not start
        // on a line boundary).
        let lines = ((start as usize % CACHE_LINE) + size).div_ceil(CACHE_LINE);
        for line in 0..lines {
            // SAFETY: `_mm_prefetch` needs SSE, which every x86_64 CPU has
            // (it is in the target's baseline); a prefetch never faults and
            // never changes memory, whatever the address; this one lies in
            // a cache line `value` occupies (`wrapping_add`: no pointer
            // arithmetic past the value's end is asserted).
            unsafe { _mm_prefetch::<_MM_HINT_T0>(start.wrapping_add(line * CACHE_LINE)) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}

/// Hint that the cache line at `addr` will be written soon: fetch it in
/// the exclusive state (`PREFETCHW`), so the write that follows neither
/// misses nor has to invalidate other cores' copies on its way out. A
/// hint only; a no-op off x86_64.
#[inline(always)]
#[cfg_attr(loom, allow(dead_code))] // reason: the ring does not prefetch under loom
pub(crate) fn prefetch_write(addr: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch never faults and never changes memory, whatever
    // the address. PREFETCHW is decoded on every x86_64 CPU (a no-op on
    // Intel cores before Broadwell, which lack the feature bit), so it
    // needs no runtime check.
    unsafe {
        std::arch::asm!("prefetchw [{0}]", in(reg) addr, options(nostack, preserves_flags, readonly));
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = addr;
}

/// Bytes of a transparent huge page on x86_64 and aarch64 (4 KiB base
/// pages).
const HUGE_PAGE: usize = 2 << 20;

/// Ask the kernel to back `buffer`'s allocation (its whole capacity) with
/// transparent huge pages. Call it before the elements are written, while
/// the pages are not yet faulted in. Only the 2 MiB-aligned middle of the
/// allocation qualifies, so buffers under 4 MiB are usually left alone; a
/// refusal (no THP support, `never` mode) is ignored: it is a hint.
pub(crate) fn advise_huge_pages<T>(buffer: &mut Vec<T>) {
    let bytes = buffer.capacity() * std::mem::size_of::<T>();
    advise_huge(buffer.as_mut_ptr().cast(), bytes);
}

/// As [`advise_huge_pages`], for a slice the caller owns (a boxed slice
/// fresh from the allocator, not yet written).
pub(crate) fn advise_huge_pages_slice<T>(buffer: &mut [T]) {
    advise_huge(buffer.as_mut_ptr().cast(), std::mem::size_of_val(buffer));
}

/// Ask the kernel to back `buffer` with base pages only
/// (`MADV_NOHUGEPAGE`): for memory first written a little at a time, in
/// order, where each first write should fault in 4 KiB (a few
/// microseconds), not 2 MiB (up to milliseconds, as the kernel zeroes
/// the whole huge page at once). [`advise_huge_pages_slice`] lifts it
/// once the buffer is written through; the pages already there stay
/// small until the kernel's background collapse (`khugepaged`) merges
/// them. A refusal is ignored: it is a hint.
pub(crate) fn advise_small_pages_slice<T>(buffer: &mut [T]) {
    #[cfg(target_os = "linux")]
    advise_range(
        buffer.as_mut_ptr().cast(),
        std::mem::size_of_val(buffer),
        HUGE_PAGE,
        rustix::mm::Advice::LinuxNoHugepage,
    );
    #[cfg(not(target_os = "linux"))]
    let _ = buffer;
}

/// Fault in `buffer`'s pages for writing now (`MADV_POPULATE_WRITE`,
/// Linux 5.14), so that the writes that fill it later do not each trap
/// into the kernel for a fresh zeroed page: for room reserved ahead (a
/// table sized when it is set up), whose first writes would otherwise pay
/// for it on a latency-sensitive thread. Only whole pages inside the
/// buffer are touched; contents are unchanged; a refusal (older kernel,
/// another OS) is ignored: it is a hint.
pub(crate) fn prefault<T>(buffer: &mut [T]) {
    #[cfg(target_os = "linux")]
    advise_range(
        buffer.as_mut_ptr().cast(),
        std::mem::size_of_val(buffer),
        rustix::param::page_size(),
        rustix::mm::Advice::LinuxPopulateWrite,
    );
    #[cfg(not(target_os = "linux"))]
    let _ = buffer;
}

/// `MADV_HUGEPAGE` on the 2 MiB-aligned middle of the `bytes` bytes from
/// `base`, which the caller's `&mut` borrow owns.
fn advise_huge(base: *mut u8, bytes: usize) {
    #[cfg(target_os = "linux")]
    advise_range(base, bytes, HUGE_PAGE, rustix::mm::Advice::LinuxHugepage);
    #[cfg(not(target_os = "linux"))]
    let _ = (base, bytes);
}

/// `advice` on the `align`-aligned middle of the `bytes` bytes from
/// `base`, which the caller's `&mut` borrow owns; `advice` must change
/// neither the contents nor the validity of the pages.
#[cfg(target_os = "linux")]
fn advise_range(base: *mut u8, bytes: usize, align: usize, advice: rustix::mm::Advice) {
    let start = base as usize;
    let end = start + bytes;
    let first = start.next_multiple_of(align);
    let last = end & !(align - 1);
    if last > first {
        // SAFETY: [first, last) lies inside the allocation the caller
        // owns through its `&mut` borrow (rounded inward), and the advice
        // (huge pages, populate) changes neither the contents nor the
        // validity of those pages, only how and when the kernel backs
        // them.
        let _ = unsafe {
            rustix::mm::madvise(
                base.wrapping_add(first - start).cast(),
                last - first,
                advice,
            )
        };
    }
}
