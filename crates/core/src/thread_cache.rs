//! A per-thread front for the hot read caches.
//!
//! A lookup in a shared concurrent cache writes to memory every core shares (its read
//! buffer, its housekeeping lock, the reference count of the value it hands out): with two
//! runtime workers serving reads of the same few keys, those cache lines move between the
//! cores on every request, which measured as most of the gap between a cached read and a
//! bare handler (bench/README.md, "What limits…"). A hit in this front touches only the
//! calling thread's own map and reads one counter that changes only on invalidation.
//!
//! Entries are short-lived copies: each is dropped when its time is up or when
//! [`ThreadCache::invalidate_all`] is called (the owner calls it after every change that
//! makes any entry outdated; per-key invalidation stays with the shared cache behind). A
//! fill carries the generation read before its value was looked up, so a value read before
//! an invalidation is never served after it.

use std::borrow::Borrow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use thread_local::ThreadLocal;

pub struct ThreadCache<K: Send, V: Send> {
    maps: ThreadLocal<RefCell<HashMap<K, Slot<V>>>>,
    generation: AtomicU64,
    ttl: Duration,
    /// Entries per thread at most: a full map is emptied (the shared cache is behind it).
    capacity: usize,
}

struct Slot<V> {
    value: V,
    generation: u64,
    expires: Instant,
}

impl<K: Eq + Hash + Send, V: Clone + Send> ThreadCache<K, V> {
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            maps: ThreadLocal::new(),
            generation: AtomicU64::new(0),
            ttl,
            capacity,
        }
    }

    /// The generation to pass to [`ThreadCache::fill`] (read it before the value is).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// This thread's live entry for `key`.
    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        let map = self.maps.get()?.borrow();
        let slot = map.get(key)?;
        (slot.generation == self.generation() && Instant::now() < slot.expires)
            .then(|| slot.value.clone())
    }

    /// This thread's entry for `key`; else the value `shared` gives (e.g. a copy of the
    /// shared cache's entry, see [`ThreadCache::fill`]), kept for this thread.
    pub fn get_or_fill<Q>(&self, key: &Q, shared: impl FnOnce() -> Option<V>) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ToOwned<Owned = K> + ?Sized,
    {
        if let Some(value) = self.get(key) {
            return Some(value);
        }
        let read_at = self.generation();
        let value = shared()?;
        self.fill(read_at, key.to_owned(), value.clone());
        Some(value)
    }

    /// Keeps `value` (read at generation `read_at`) for this thread. Pass a copy the thread
    /// owns alone (not a clone of a shared `Arc`), or its reference count is shared again.
    pub fn fill(&self, read_at: u64, key: K, value: V) {
        if read_at != self.generation() {
            return;
        }
        let mut map = self
            .maps
            .get_or(|| RefCell::new(HashMap::new()))
            .borrow_mut();
        if map.len() >= self.capacity {
            map.clear();
        }
        map.insert(
            key,
            Slot {
                value,
                generation: read_at,
                expires: Instant::now() + self.ttl,
            },
        );
    }

    /// Makes every thread's entries outdated (each map drops them as it meets them or
    /// fills up).
    pub fn invalidate_all(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filled_entry_is_served_until_its_time_is_up() {
        let cache = ThreadCache::new(Duration::from_millis(50), 8);
        let read_at = cache.generation();
        cache.fill(read_at, 1, "one");
        assert_eq!(cache.get(&1), Some("one"));
        assert_eq!(cache.get(&2), None);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(cache.get(&1), None);
    }

    #[test]
    fn invalidation_drops_entries_and_refuses_fills_read_before_it() {
        let cache = ThreadCache::new(Duration::from_secs(60), 8);
        let before = cache.generation();
        cache.fill(before, 1, "old");
        cache.invalidate_all();
        assert_eq!(cache.get(&1), None);
        // A value read before the invalidation arrives after it: not kept.
        cache.fill(before, 1, "stale");
        assert_eq!(cache.get(&1), None);
        cache.fill(cache.generation(), 1, "new");
        assert_eq!(cache.get(&1), Some("new"));
    }

    #[test]
    fn a_miss_is_filled_from_the_shared_value() {
        let cache: ThreadCache<String, u32> = ThreadCache::new(Duration::from_secs(60), 8);
        assert_eq!(cache.get_or_fill("a", || None), None);
        assert_eq!(cache.get_or_fill("a", || Some(1)), Some(1));
        // Kept: the shared side is not asked again.
        assert_eq!(cache.get_or_fill("a", || Some(2)), Some(1));
        cache.invalidate_all();
        assert_eq!(cache.get_or_fill("a", || Some(3)), Some(3));
    }

    #[test]
    fn each_thread_has_its_own_entries() {
        let cache = std::sync::Arc::new(ThreadCache::new(Duration::from_secs(60), 8));
        cache.fill(cache.generation(), 1, 10);
        let other = cache.clone();
        let seen_elsewhere = std::thread::spawn(move || {
            let before = other.get(&1);
            other.fill(other.generation(), 1, 20);
            (before, other.get(&1))
        })
        .join()
        .expect("thread");
        assert_eq!(seen_elsewhere, (None, Some(20)));
        assert_eq!(cache.get(&1), Some(10));
        // Invalidation reaches every thread's entries.
        cache.invalidate_all();
        assert_eq!(cache.get(&1), None);
    }

    #[test]
    fn a_full_map_starts_over() {
        let cache = ThreadCache::new(Duration::from_secs(60), 2);
        let at = cache.generation();
        cache.fill(at, 1, 1);
        cache.fill(at, 2, 2);
        cache.fill(at, 3, 3);
        assert_eq!(
            (cache.get(&1), cache.get(&2), cache.get(&3)),
            (None, None, Some(3))
        );
    }
}
