//! Allocator settings for a long-running server (glibc only; other allocators are left as
//! they are).
//!
//! glibc raises its mmap threshold after the first large free, so each later 19 MiB argon2
//! buffer (one per password hash) comes from the heap and stays resident after it is freed:
//! RSS went from 19 MiB to 40 MiB after the first registration, and to ~185 MiB in the
//! 3-minute soak test. A fixed threshold keeps blocks of 1 MiB and more in their own
//! mappings, returned to the system when freed (argon2 pays one `mmap` per hash, noise next
//! to the hash itself): 21 MiB after the first registration, 55 MiB in the soak test.
//!
//! Tried and dropped: capping the arenas at the core count. It saved 0.1 KiB per idle
//! WebSocket but made the worker threads share an arena: 12 % of a cached read's CPU went
//! to futex lock waits in `malloc`, and reads lost ~5 % throughput.

/// Blocks at least this large get their own mapping (returned to the system on free).
const MMAP_THRESHOLD: i32 = 1024 * 1024;

/// Applies the settings; call before any thread is started.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `mallopt` only sets an allocator parameter; it is called before any other
    // thread exists, and a rejected value (return 0) leaves glibc's default in place.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
    }
}

/// Gives free heap memory back to the system. glibc returns freed memory on its own only
/// from the top of the heap; what start-up frees below the allocations that outlive it
/// (megabytes: the OpenAPI document's structure once it is serialized, migration work)
/// stays resident. Call once start-up is done (with the OpenAPI structure dropped too, the
/// idle server's resident heap went 5.0 → 2.2 MiB).
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `malloc_trim` has no preconditions: it walks glibc's own arenas under their
    // locks and only releases pages that hold no allocation.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn free_memory_is_released_without_touching_live_allocations() {
        let live: Vec<Vec<u8>> = (0..64).map(|i| vec![i as u8; 4096]).collect();
        let garbage: Vec<Vec<u8>> = (0..256).map(|_| vec![7u8; 4096]).collect();
        drop(garbage);
        super::release_free_memory();
        assert!(
            live.iter()
                .enumerate()
                .all(|(i, v)| v.iter().all(|b| *b == i as u8))
        );
    }
}
