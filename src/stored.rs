//! What a stored model and a stored script share beside their engine object: the device they
//! run on (and its run queue), their tag, and their AI.INFO statistics. One piece of code
//! for both, so that storing, COPY, MEMORY USAGE and the end of a value's life behave alike.

use std::sync::Arc;

use crate::backend::BackendKind;
use crate::config;
use crate::error::{AiError, AiResult};
use crate::exec;
use crate::redis::{log, Level};
use crate::stats::{self, Kind, RunStats};

pub struct Placement {
    /// As the client typed it (`cpu` stays `cpu`); the run queue is the upper case.
    pub device: String,
    pub tag: Vec<u8>,
    pub stats: Arc<RunStats>,
    /// The run queue of `device`, found when the value was prepared (runs need no lookup).
    pub queue: Arc<exec::Queue>,
}

/// RedisAI's error for a device it cannot parse, before anything is loaded.
pub fn check_device(device: &str) -> AiResult<()> {
    match redisai_backend_api::Device::parse(device) {
        Some(_) => Ok(()),
        None => Err(AiError::UnsupportedDevice),
    }
}

impl Placement {
    /// The placement of a freshly prepared value: its device queue (created with its workers
    /// on first use) and statistics not registered under any key yet.
    pub fn new(kind: Kind, backend: BackendKind, device: String, tag: Vec<u8>) -> AiResult<Self> {
        let threads = config::THREADS_PER_QUEUE.get().max(1) as usize;
        let queue = exec::queue(&device, threads).map_err(|e| {
            log(Level::Warning, &e);
            AiError::Backend("ERR Could not initialize queue on requested device".into())
        })?;
        let stats = Arc::new(RunStats::new(b"", kind, backend, &device, &tag));
        Ok(Placement {
            device,
            tag,
            stats,
            queue,
        })
    }

    /// The same placement with statistics of its own registered under `key` (AI.INFO).
    pub fn registered(mut self, key: &[u8]) -> Self {
        let s = &self.stats;
        self.stats = stats::register(RunStats::new(
            key,
            s.kind,
            s.backend,
            &self.device,
            &self.tag,
        ));
        self
    }

    /// A copy for another key (COPY): same device and queue, fresh unregistered statistics.
    pub fn share(&self) -> Self {
        let s = &self.stats;
        Placement {
            device: self.device.clone(),
            tag: self.tag.clone(),
            stats: Arc::new(RunStats::new(
                b"",
                s.kind,
                s.backend,
                &self.device,
                &self.tag,
            )),
            queue: self.queue.clone(),
        }
    }

    /// Bytes held on the heap, for MEMORY USAGE.
    pub fn heap_size(&self) -> usize {
        self.device.capacity() + self.tag.capacity()
    }
}

impl Drop for Placement {
    /// The statistics leave AI.INFO with the value (unless a newer value took the key).
    fn drop(&mut self) {
        stats::forget(&self.stats);
    }
}
