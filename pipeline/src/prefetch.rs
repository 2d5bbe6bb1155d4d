//! A hint that memory will soon be read, so that the load of one point's
//! state overlaps with the work on the points before it. With 10k groups the
//! per-group state of a task does not stay in the core's caches, and
//! fetching it dominated the time per point (see BENCHMARKS.md).

/// Asks the CPU to bring the cache line at `p` closer. A hint only: it
/// reads nothing the program sees and never faults, whatever `p` is.
#[inline(always)]
pub fn prefetch<T: ?Sized>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    #[allow(unsafe_code)]
    // SAFETY: SSE is part of the x86_64 baseline, and PREFETCH does not
    // access memory architecturally: it cannot fault or be observed, for
    // any address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}
