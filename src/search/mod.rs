//! Vector search: RediSearch-compatible indexes over hashes.
//!
//! # Concurrency rules
//!
//! Two kinds of lock live here, and they are taken in one order only.
//!
//! 1. [`REGISTRY`] (a `Mutex`) maps index names to indexes. Only the main thread takes it —
//!    commands, keyspace events, the scan timer, RDB aux callbacks — so it is never contended;
//!    it is a `Mutex` because statics must be `Sync`. Workers never see the registry: a search
//!    is handed an `Arc<Index>` and keeps that index alive even if FT.DROPINDEX removes it
//!    meanwhile (the search then finishes on the orphan, and the reply finds its keys gone).
//! 2. [`Index::data`] (a `RwLock`) guards one index's documents and vector indexes. Search
//!    workers take it for reading, for the whole search. The main thread takes it for writing
//!    when the keyspace changes (a keyspace event, the initial scan, a flush), and for reading
//!    to answer FT.INFO or to search inline (MULTI, Lua). A write waits for running searches
//!    to finish — a search is short and never waits for the main thread, so this cannot
//!    deadlock — and a search waits for a write in progress, which is what makes the index
//!    read-your-writes consistent: once HSET has replied, every later search sees it.
//!
//! The order is registry, then an index's data, never the other way round. The main thread
//! never holds a read guard of an index while asking for its write guard (std's RwLock would
//! deadlock on itself). Workers never touch the keyspace: they return keys and distances, and
//! the reply callback on the main thread reads the documents.

pub mod error;
pub mod hnsw;
pub mod index;
pub mod pool;
pub mod query;
pub mod request;
pub mod schema;
pub mod vector;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use index::IndexData;
use schema::IndexDef;

pub struct Index {
    pub def: IndexDef,
    pub data: RwLock<IndexData>,
    /// FT.INFO `number_of_uses`.
    pub uses: AtomicU64,
    /// The initial scan of existing keys is running (FT.INFO `indexing`).
    pub indexing: AtomicBool,
    /// Progress of that scan in millionths (FT.INFO `percent_indexed`).
    pub progress_ppm: AtomicU64,
    /// Seconds·1000 spent indexing (FT.INFO `total_indexing_time`, in ms).
    pub indexing_ms: AtomicU64,
}

impl Index {
    pub fn new(def: IndexDef) -> Index {
        let data = IndexData::new(&def);
        Index {
            def,
            data: RwLock::new(data),
            uses: AtomicU64::new(0),
            indexing: AtomicBool::new(false),
            progress_ppm: AtomicU64::new(1_000_000),
            indexing_ms: AtomicU64::new(0),
        }
    }

    pub fn read(&self) -> RwLockReadGuard<'_, IndexData> {
        self.data.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn write(&self) -> RwLockWriteGuard<'_, IndexData> {
        self.data.write().unwrap_or_else(|e| e.into_inner())
    }
}

#[derive(Default)]
pub struct Registry {
    pub indexes: BTreeMap<String, Arc<Index>>,
}

pub static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    indexes: BTreeMap::new(),
});

/// How many indexes exist: lets the keyspace-event hook return at once when there are none,
/// without taking the registry lock on every write the server makes.
pub static INDEX_COUNT: AtomicUsize = AtomicUsize::new(0);

pub fn registry() -> MutexGuard<'static, Registry> {
    REGISTRY.lock().unwrap_or_else(|e| e.into_inner())
}

impl Registry {
    pub fn insert(&mut self, index: Arc<Index>) {
        self.indexes.insert(index.def.name.clone(), index);
        INDEX_COUNT.store(self.indexes.len(), Ordering::Relaxed);
    }

    pub fn remove(&mut self, name: &str) -> Option<Arc<Index>> {
        let r = self.indexes.remove(name);
        INDEX_COUNT.store(self.indexes.len(), Ordering::Relaxed);
        r
    }

    pub fn clear(&mut self) {
        self.indexes.clear();
        INDEX_COUNT.store(0, Ordering::Relaxed);
    }

    pub fn get(&self, name: &str) -> Option<Arc<Index>> {
        self.indexes.get(name).cloned()
    }

    /// Indexes whose prefixes cover `key`.
    pub fn covering<'a>(&'a self, key: &'a [u8]) -> impl Iterator<Item = &'a Arc<Index>> + 'a {
        self.indexes.values().filter(move |i| i.def.covers(key))
    }
}
