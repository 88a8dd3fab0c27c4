//! Allocator settings for a long-running server (glibc only; other allocators are left as
//! they are).
//!
//! glibc's defaults suit short programs, not a server holding 10 000 sockets:
//! - **Arenas**: up to 8 per core, each keeping its own free memory. Tokio moves tasks
//!   between worker threads, so a socket allocated on one thread is often freed on another
//!   and free memory piles up in arenas nobody allocates from. Capping the arenas at the
//!   number of cores keeps one arena per thread that can run at a time.
//!   Measured with `bench`'s ws_fanout (10 000 idle sockets, 2 cores): 127 MiB → 107 MiB
//!   resident.
//! - **Large blocks**: glibc raises its mmap threshold after the first large free, so each
//!   later 19 MiB argon2 buffer (one per password hash) comes from the heap and stays
//!   resident after it is freed: RSS went from 19 MiB to 40 MiB after the first
//!   registration (now 21 MiB), and to ~185 MiB in the soak test. A fixed threshold keeps
//!   blocks of 1 MiB and more in their own mappings, returned to the system when freed
//!   (argon2 pays one `mmap` per hash, noise next to the hash itself).

/// Blocks at least this large get their own mapping (returned to the system on free).
const MMAP_THRESHOLD: i32 = 1024 * 1024;

/// Applies the settings; call before any thread is started.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let arenas = i32::try_from(cores).unwrap_or(i32::MAX).max(1);
        // SAFETY: `mallopt` only sets allocator parameters; it is called before any other
        // thread exists, and a rejected value (return 0) leaves glibc's default in place.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, arenas);
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        }
    }
}
