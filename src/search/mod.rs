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
//! 2. [`Index::data`] (a `RwLock`) guards one index's documents and vector indexes. A search
//!    takes it for reading once, for the whole search: planning (the VECTOR_RANGE answers, the
//!    KNN's candidates) and execution run under the same guard, since a plan names documents
//!    by internal id and ids are reused once the lock is let go. The main thread takes it for
//!    writing when the keyspace changes (a keyspace event, the initial scan, a flush), and for
//!    reading to answer FT.INFO or to search inline (cheap searches, MULTI, Lua). A write waits
//!    for running searches to finish — a search never waits for the main thread, so this
//!    cannot deadlock — and a search waits for a write in progress, which is what makes the
//!    index read-your-writes consistent: once HSET has replied, every later search sees it.
//!
//! The order is registry, then an index's data, never the other way round. The main thread
//! never holds a read guard of an index while asking for its write guard (std's RwLock would
//! deadlock on itself). Workers never touch the keyspace: they return keys and distances, and
//! the reply callback on the main thread reads the documents.
//!
//! # Who waits for whom
//!
//! - **A search thread** waits for nobody but a write in progress (a keyspace change on the
//!   main thread, or a rebuild's swap). It runs from the search pool ([`pool`]).
//! - **A rebuild** (HNSW, after deletes piled up tombstones) runs in the pool's background
//!   lane, one at a time, on a thread of its own beyond the search threads. It holds the read
//!   lock only to copy the live vectors, builds with no lock held (writes meanwhile are
//!   logged), and takes the write lock to replay the log and swap the index in. A rebuild no
//!   thread can take is called off, and the next write asks for it again.
//! - **A blocked FT.SEARCH client** waits for its search job; if the pool has no thread and
//!   none will start, the command runs the search on the main thread instead, so no client is
//!   left blocked with nothing to unblock it.
//! - **The main thread** waits for the read guards held when it asks for the write guard:
//!   this is the one place the event loop waits for a worker. std's `RwLock` (futex-based on
//!   Linux) does not hand out new read guards while a writer waits, so an HSET to an indexed
//!   key waits for the searches *already running* on that index — at most the longest one,
//!   not the queue behind it (the queued searches wait for the write instead: one document's
//!   update, at most about a millisecond for an HNSW insert). The bound is therefore one
//!   search: searches under `INLINE_WORK` (~2M multiply-adds, about 0.2 ms) run on the main
//!   thread anyway; larger ones hold the lock for their whole run, which for a FLAT KNN is one
//!   distance per vector, for a filtered search one filter check per document. A rebuild's
//!   copy of the vectors holds the read lock for the time of one copy of the field's vectors.
//!   The same writer preference means the main thread's *read* guards (FT.SEARCH weighing a
//!   search, FT.INFO) wait while a rebuild waits to swap: for the running searches, then the
//!   swap (the replay of the writes made during the build).
//!
//!   Measured on the 2-core development VM (load around 4 from other builds), FLAT, DIM 128,
//!   KNN 10, two clients searching without pause while a third HSETs one indexed key per ms:
//!
//!   | vectors | FT.SEARCH alone (median / max) | HSET alone (max) | HSET meanwhile (median / max) |
//!   |--------:|-------------------------------:|-----------------:|------------------------------:|
//!   | 50,000  | 3.2 / 7.3 ms                   | 0.9 ms           | 1.8 / 20 ms                   |
//!   | 200,000 | 20.6 / 24.8 ms                 | 1.0 ms           | 17.4 / 40 ms                  |
//!
//!   The worst HSET waited about as long as one search took at the time; searches then took up
//!   to 2.5 times their time alone (max 36 and 64 ms), the two search threads, the main thread
//!   and other builds sharing two cores.
//!
//!   Rejected ways to shorten it: letting a long scan drop and re-take the read lock between
//!   chunks — FLAT removes by moving the last vector into the hole, so a chunked scan could
//!   skip a document that was there the whole time or count one twice, and internal ids held
//!   across the gap may name another key by then; searching a snapshot — a copy of the
//!   vectors per search costs as much as the scan it would shorten; applying writes lazily —
//!   breaks read-your-writes. A bound by work (`estimated_work` caps for threaded searches)
//!   would refuse searches RediSearch answers.

pub mod aggregate;
pub mod config;
pub mod error;
pub mod explain;
pub mod geo;
pub mod highlight;
pub mod hnsw;
pub mod index;
pub mod json;
pub mod language;
pub mod multivector;
pub mod pool;
pub mod postings;
pub mod profile;
pub mod query;
pub mod request;
pub mod schema;
pub mod score;
pub mod slots;
pub mod spell;
pub mod suggest;
pub mod vector;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use error::SearchError;
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
    /// When the index was last used (ms since the Unix epoch): a TEMPORARY index is dropped
    /// once it has been idle for its seconds.
    pub last_used_ms: AtomicU64,
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
            last_used_ms: AtomicU64::new(now_ms()),
        }
    }

    /// The same index under a wider definition (FT.ALTER), taking over `old`'s documents:
    /// searches go on answering from them while the new fields are being indexed.
    pub fn altered(old: &Index, def: IndexDef) -> Index {
        let mut data = std::mem::replace(&mut *old.write(), IndexData::new(&old.def));
        data.add_fields(&def);
        Index {
            def,
            data: RwLock::new(data),
            uses: AtomicU64::new(old.uses.load(Ordering::Relaxed)),
            indexing: AtomicBool::new(false),
            progress_ppm: AtomicU64::new(1_000_000),
            indexing_ms: AtomicU64::new(old.indexing_ms.load(Ordering::Relaxed)),
            last_used_ms: AtomicU64::new(now_ms()),
        }
    }

    /// Marks the index used now (a TEMPORARY index's idle time starts over).
    pub fn touch(&self) {
        self.last_used_ms.store(now_ms(), Ordering::Relaxed);
    }

    /// For a TEMPORARY index, how long until it has been idle for its seconds (zero: it
    /// has); `None` for other indexes.
    pub fn idle_left_ms(&self) -> Option<u64> {
        let secs = self.def.temporary_secs?;
        let idle = now_ms().saturating_sub(self.last_used_ms.load(Ordering::Relaxed));
        Some((secs * 1000).saturating_sub(idle))
    }

    pub fn read(&self) -> RwLockReadGuard<'_, IndexData> {
        self.data.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn write(&self) -> RwLockWriteGuard<'_, IndexData> {
        self.data.write().unwrap_or_else(|e| e.into_inner())
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[derive(Default)]
pub struct Registry {
    pub indexes: BTreeMap<String, Arc<Index>>,
    /// FT.ALIASADD's names: alias → the name of the index it stands for. A namespace of its
    /// own, as in RediSearch: an index may even be created under a name an alias has, and a
    /// lookup tries index names first.
    pub aliases: BTreeMap<String, String>,
}

pub static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    indexes: BTreeMap::new(),
    aliases: BTreeMap::new(),
});

/// How many indexes exist: lets the keyspace-event hook return at once when there are none,
/// without taking the registry lock on every write the server makes.
pub static INDEX_COUNT: AtomicUsize = AtomicUsize::new(0);

/// FT.DICTADD's dictionaries: server-wide, main thread only (like the registry), saved with
/// the index definitions.
pub static DICTIONARIES: Mutex<suggest::Dictionaries> = Mutex::new(suggest::Dictionaries {
    dicts: BTreeMap::new(),
});

pub fn dictionaries() -> MutexGuard<'static, suggest::Dictionaries> {
    DICTIONARIES.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn registry() -> MutexGuard<'static, Registry> {
    REGISTRY.lock().unwrap_or_else(|e| e.into_inner())
}

impl Registry {
    pub fn insert(&mut self, index: Arc<Index>) {
        self.indexes.insert(index.def.name.clone(), index);
        INDEX_COUNT.store(self.indexes.len(), Ordering::Relaxed);
    }

    /// Drops index `name` (an index name or an alias) with every alias that stands for it.
    pub fn remove(&mut self, name: &str) -> Option<Arc<Index>> {
        let real = self.resolve(name)?.to_string();
        let r = self.indexes.remove(&real);
        self.aliases.retain(|_, target| *target != real);
        INDEX_COUNT.store(self.indexes.len(), Ordering::Relaxed);
        r
    }

    pub fn clear(&mut self) {
        self.indexes.clear();
        self.aliases.clear();
        INDEX_COUNT.store(0, Ordering::Relaxed);
    }

    /// The index `name` stands for: an index of that name, else the index of that alias.
    pub fn get(&self, name: &str) -> Option<Arc<Index>> {
        self.indexes.get(self.resolve(name)?).cloned()
    }

    /// The index name `name` stands for (itself, or what the alias `name` points to).
    fn resolve<'a>(&'a self, name: &'a str) -> Option<&'a str> {
        if self.indexes.contains_key(name) {
            return Some(name);
        }
        self.aliases.get(name).map(String::as_str)
    }

    /// FT.ALIASADD (`replace` false) and FT.ALIASUPDATE (`replace` true): `alias` stands for
    /// the index named `index`, which must be an index's own name, not another alias.
    pub fn set_alias(
        &mut self,
        alias: &str,
        index: &str,
        replace: bool,
    ) -> Result<(), SearchError> {
        if !self.indexes.contains_key(index) {
            return Err(SearchError::AliasTargetUnknown);
        }
        if !replace && self.aliases.contains_key(alias) {
            return Err(SearchError::AliasExists);
        }
        self.aliases.insert(alias.to_string(), index.to_string());
        Ok(())
    }

    /// FT.ALIASDEL: as RediSearch, the name is looked up like any index name first, and the
    /// alias must belong to the index found.
    pub fn delete_alias(&mut self, alias: &str) -> Result<(), SearchError> {
        let Some(index) = self.resolve(alias) else {
            return Err(SearchError::AliasMissing);
        };
        if self.aliases.get(alias).map(String::as_str) != Some(index) {
            return Err(SearchError::AliasOfAnotherIndex);
        }
        self.aliases.remove(alias);
        Ok(())
    }

    /// Indexes whose prefixes cover `key`.
    pub fn covering<'a>(&'a self, key: &'a [u8]) -> impl Iterator<Item = &'a Arc<Index>> + 'a {
        self.indexes.values().filter(move |i| i.def.covers(key))
    }
}
