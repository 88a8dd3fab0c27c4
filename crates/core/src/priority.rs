//! Background work that must yield to requests runs on threads of lower scheduling
//! priority: password hashing, and webhook deliveries. Under load the kernel then gives
//! the request threads the CPU first, and the background work catches up when load drops.

/// Lowers the calling thread's scheduling priority (nice +10; Linux only; elsewhere, and on
/// failure, the thread keeps its priority, which is harmless).
pub fn lower_this_thread() {
    #[cfg(target_os = "linux")]
    // SAFETY: `gettid` has no preconditions; `setpriority` only reads its arguments and
    // affects the calling thread, and failure (reported by the return value) is harmless.
    unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 10);
    }
}
