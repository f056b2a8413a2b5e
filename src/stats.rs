//! Run statistics (AI.INFO, AI._MODELSCAN): one entry per stored model or script, by key
//! name, as in RedisAI (per server, not per database).
//!
//! Concurrency: the table is a mutex taken briefly by the main thread (store, AI.INFO,
//! AI._MODELSCAN) and by whichever thread drops the last reference to a model (`forget`,
//! possibly a worker). Counters are atomics updated by workers without the lock. An entry is
//! replaced when a new object is stored under its key; `forget` only removes the entry if it
//! is still the object's own, so a model freed late (after a run) cannot remove its
//! successor's statistics.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

use crate::backend::BackendKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Model,
    Script,
}

#[derive(Debug)]
pub struct RunStats {
    pub key: Vec<u8>,
    pub kind: Kind,
    pub backend: BackendKind,
    pub device: String,
    pub tag: Vec<u8>,
    calls: AtomicU64,
    errors: AtomicU64,
    duration_us: AtomicU64,
    samples: AtomicU64,
}

/// A consistent-enough copy of the counters for a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counters {
    pub calls: u64,
    pub errors: u64,
    pub duration_us: u64,
    pub samples: u64,
}

impl RunStats {
    pub fn new(key: &[u8], kind: Kind, backend: BackendKind, device: &str, tag: &[u8]) -> RunStats {
        RunStats {
            key: key.to_vec(),
            kind,
            backend,
            device: device.to_string(),
            tag: tag.to_vec(),
            calls: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            duration_us: AtomicU64::new(0),
            samples: AtomicU64::new(0),
        }
    }

    /// A successful run of `duration_us` that produced `samples` rows.
    pub fn record(&self, duration_us: u64, samples: u64) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.duration_us.fetch_add(duration_us, Ordering::Relaxed);
        self.samples.fetch_add(samples, Ordering::Relaxed);
    }

    pub fn record_error(&self) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.errors.fetch_add(1, Ordering::Relaxed);
    }

    pub fn reset(&self) {
        for c in [&self.calls, &self.errors, &self.duration_us, &self.samples] {
            c.store(0, Ordering::Relaxed);
        }
    }

    pub fn counters(&self) -> Counters {
        Counters {
            calls: self.calls.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            duration_us: self.duration_us.load(Ordering::Relaxed),
            samples: self.samples.load(Ordering::Relaxed),
        }
    }
}

static TABLE: LazyLock<Mutex<HashMap<Vec<u8>, Arc<RunStats>>>> = LazyLock::new(Default::default);

fn table() -> std::sync::MutexGuard<'static, HashMap<Vec<u8>, Arc<RunStats>>> {
    TABLE.lock().unwrap_or_else(|p| p.into_inner())
}

/// Makes `stats` the entry of its key (a new object stored there starts from zero).
pub fn register(stats: RunStats) -> Arc<RunStats> {
    let stats = Arc::new(stats);
    table().insert(stats.key.clone(), stats.clone());
    stats
}

pub fn lookup(key: &[u8]) -> Option<Arc<RunStats>> {
    table().get(key).cloned()
}

/// Removes the entry of `stats`' key if it is still `stats`.
pub fn forget(stats: &Arc<RunStats>) {
    let mut t = table();
    if t.get(&stats.key).is_some_and(|s| Arc::ptr_eq(s, stats)) {
        t.remove(&stats.key);
    }
}

/// (key, tag) of every entry of `kind`, sorted by key.
pub fn list(kind: Kind) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut v: Vec<_> = table()
        .values()
        .filter(|s| s.kind == kind)
        .map(|s| (s.key.clone(), s.tag.clone()))
        .collect();
    v.sort();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_late_free_does_not_remove_the_successor() {
        let old = register(RunStats::new(
            b"stats-test-m",
            Kind::Model,
            BackendKind::Onnx,
            "CPU",
            b"",
        ));
        old.record(10, 2);
        let new = register(RunStats::new(
            b"stats-test-m",
            Kind::Model,
            BackendKind::Onnx,
            "CPU",
            b"v2",
        ));
        forget(&old);
        let found = lookup(b"stats-test-m").unwrap();
        assert!(Arc::ptr_eq(&found, &new));
        assert_eq!(found.counters().calls, 0);
        new.record(5, 1);
        new.record_error();
        assert_eq!(
            new.counters(),
            Counters {
                calls: 2,
                errors: 1,
                duration_us: 5,
                samples: 1
            }
        );
        assert!(list(Kind::Model).contains(&(b"stats-test-m".to_vec(), b"v2".to_vec())));
        forget(&new);
        assert!(lookup(b"stats-test-m").is_none());
    }
}
