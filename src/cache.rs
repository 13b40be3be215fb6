//! A bounded, sharded LRU map for hot-path lookups shared by all request threads: each shard
//! has its own lock, so concurrent requests rarely wait on each other.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::num::NonZeroUsize;
use std::sync::{Mutex, PoisonError};

use lru::LruCache;

const SHARDS: usize = 16;

pub struct ShardedLru<K, V> {
    shards: Vec<Mutex<LruCache<K, V>>>,
}

impl<K: Hash + Eq, V: Clone> ShardedLru<K, V> {
    /// A cache holding about `capacity` entries in all.
    pub fn new(capacity: usize) -> Self {
        let per_shard =
            NonZeroUsize::new(capacity.div_ceil(SHARDS).max(1)).unwrap_or(NonZeroUsize::MIN);
        ShardedLru {
            shards: (0..SHARDS)
                .map(|_| Mutex::new(LruCache::new(per_shard)))
                .collect(),
        }
    }

    fn shard<Q: Hash + ?Sized>(&self, key: &Q) -> &Mutex<LruCache<K, V>> {
        let mut h = DefaultHasher::new();
        key.hash(&mut h);
        &self.shards[(h.finish() as usize) % SHARDS]
    }

    pub fn get(&self, key: &K) -> Option<V> {
        self.shard(key)
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .cloned()
    }

    pub fn put(&self, key: K, value: V) {
        self.shard(&key)
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .put(key, value);
    }

    pub fn remove(&self, key: &K) {
        self.shard(key)
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_lru() {
        let c = ShardedLru::new(SHARDS); // one entry per shard
        for i in 0..1000 {
            c.put(i, i * 2);
        }
        let present = (0..1000).filter(|i| c.get(i).is_some()).count();
        assert!(present <= SHARDS, "{present}");
        c.put(5000, 1);
        assert_eq!(c.get(&5000), Some(1));
        c.remove(&5000);
        assert_eq!(c.get(&5000), None);
    }
}
