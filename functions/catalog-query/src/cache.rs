//! A micro-cache of rendered event views. The hottest read of an on-sale
//! (`GET /v1/events/{id}` while thousands refresh a page) is served from
//! memory for at most `TICKETGW_CATALOG_CACHE_MS` (default 500 ms); any
//! catalog write in this process drops every entry at once. Availability
//! shown is therefore at most that old; holds and sales are always decided
//! by the database, never by this cache. Drafts are never cached.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use uuid::Uuid;

const MAX_ENTRIES: usize = 10_000;

pub struct EventCache {
    ttl: Duration,
    generation: Arc<std::sync::atomic::AtomicU64>,
    entries: RwLock<HashMap<Uuid, (Instant, u64, Bytes)>>,
}

impl EventCache {
    pub fn new(ttl_ms: u64, generation: Arc<std::sync::atomic::AtomicU64>) -> Self {
        Self {
            ttl: Duration::from_millis(ttl_ms),
            generation,
            entries: RwLock::new(HashMap::new()),
        }
    }

    pub fn enabled(&self) -> bool {
        !self.ttl.is_zero()
    }

    /// The current generation, read before loading from storage.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub fn get(&self, id: &Uuid) -> Option<Bytes> {
        let generation = self.generation();
        let entries = self.entries.read().ok()?;
        let (at, g, body) = entries.get(id)?;
        (*g == generation && at.elapsed() < self.ttl).then(|| body.clone())
    }

    /// Stores a view loaded while the generation was `generation`.
    pub fn put(&self, id: Uuid, generation: u64, body: Bytes) {
        if let Ok(mut entries) = self.entries.write() {
            if entries.len() >= MAX_ENTRIES {
                let ttl = self.ttl;
                entries.retain(|_, (at, _, _)| at.elapsed() < ttl);
                if entries.len() >= MAX_ENTRIES {
                    entries.clear();
                }
            }
            entries.insert(id, (Instant::now(), generation, body));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_writes_invalidate() {
        let generation = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let cache = EventCache::new(50, generation.clone());
        let id = Uuid::now_v7();
        cache.put(id, cache.generation(), Bytes::from_static(b"v1"));
        assert_eq!(cache.get(&id).as_deref(), Some(&b"v1"[..]));
        generation.fetch_add(1, Ordering::Release);
        assert!(cache.get(&id).is_none(), "a write drops it");
        cache.put(id, cache.generation(), Bytes::from_static(b"v2"));
        std::thread::sleep(Duration::from_millis(60));
        assert!(cache.get(&id).is_none(), "expired");
        // A value loaded before a write is never served after it.
        let before = cache.generation();
        generation.fetch_add(1, Ordering::Release);
        cache.put(id, before, Bytes::from_static(b"stale"));
        assert!(cache.get(&id).is_none());
    }
}
