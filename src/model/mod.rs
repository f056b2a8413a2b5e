//! Stored models: what AI.MODELSTORE keeps (the original blob and options, for AI.MODELGET,
//! RDB and AOF) next to the backend's prepared model, and the run statistics of AI.INFO.
//!
//! A `Model` is immutable once stored and shared by `Arc` between the keyspace and running
//! jobs: AI.MODELSTORE over a running model, or AI.MODELDEL during a run, only drops the
//! keyspace's reference; the run finishes with its own.

pub mod args;

use std::sync::Arc;

use crate::backend::{self, BackendKind, PluginModel};
use crate::error::{AiError, AiResult};
use crate::exec;
use crate::stats::{self, Kind, RunStats};

/// Auto-batching options (RedisAI's BATCHSIZE, MINBATCHSIZE, MINBATCHTIMEOUT).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchOpts {
    /// Largest batch, in rows along dimension 0; 0 = no batching.
    pub size: u64,
    /// Smallest batch worth running; smaller ones wait for company.
    pub min_size: u64,
    /// How long a batch smaller than `min_size` waits before running anyway; 0 = forever.
    pub min_timeout_ms: u64,
}

pub struct Model {
    pub backend: BackendKind,
    /// The device as the client typed it (`cpu` stays `cpu`); the run queue is the upper case.
    pub device: String,
    pub tag: Vec<u8>,
    pub batch: BatchOpts,
    /// The serialized model exactly as it was stored.
    pub blob: Vec<u8>,
    pub prepared: Arc<PluginModel>,
    pub stats: Arc<RunStats>,
    /// The run queue of `device`, found when the model was prepared (runs need no lookup).
    pub queue: Arc<exec::Queue>,
}

/// What a model is made from: AI.MODELSTORE's arguments, or what RDB kept of them.
pub struct ModelSource {
    pub backend: BackendKind,
    pub device: String,
    pub tag: Vec<u8>,
    pub batch: BatchOpts,
    /// Names the user gave (TF needs them; other backends report their own).
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    pub blob: Vec<u8>,
}

impl ModelSource {
    /// Prepares the model through its backend (loading the plugin on first use) and makes
    /// sure its device queue exists. Statistics are registered when the model is stored.
    pub fn prepare(self) -> AiResult<Model> {
        if redisai_backend_api::Device::parse(&self.device).is_none() {
            return Err(AiError::UnsupportedDevice);
        }
        let plugin = backend::require(self.backend)?;
        let (ins, outs): (Vec<&str>, Vec<&str>) = if self.backend == BackendKind::Tf {
            (
                self.inputs.iter().map(String::as_str).collect(),
                self.outputs.iter().map(String::as_str).collect(),
            )
        } else {
            (Vec::new(), Vec::new())
        };
        let prepared = plugin
            .load_model(&self.blob, &self.device, &ins, &outs)
            .map_err(AiError::Backend)?;
        let queue = exec::device_queue(&self.device)?;
        let stats = Arc::new(RunStats::new(
            b"",
            Kind::Model,
            self.backend,
            &self.device,
            &self.tag,
        ));
        Ok(Model {
            backend: self.backend,
            device: self.device,
            tag: self.tag,
            batch: self.batch,
            blob: self.blob,
            prepared: Arc::new(prepared),
            stats,
            queue,
        })
    }
}

impl Model {
    /// This model, with statistics of its own registered under `key` (AI.INFO).
    pub fn registered(mut self, key: &[u8]) -> Model {
        self.stats = stats::register(RunStats::new(
            key,
            Kind::Model,
            self.backend,
            &self.device,
            &self.tag,
        ));
        self
    }

    /// Another stored model sharing this one's prepared engine model (COPY).
    pub fn share(&self) -> Model {
        Model {
            backend: self.backend,
            device: self.device.clone(),
            tag: self.tag.clone(),
            batch: self.batch,
            blob: self.blob.clone(),
            prepared: self.prepared.clone(),
            stats: Arc::new(RunStats::new(
                b"",
                Kind::Model,
                self.backend,
                &self.device,
                &self.tag,
            )),
            queue: self.queue.clone(),
        }
    }

    pub fn inputs(&self) -> &[String] {
        &self.prepared.inputs
    }

    pub fn outputs(&self) -> &[String] {
        &self.prepared.outputs
    }

    /// Bytes held on the heap, for MEMORY USAGE (the engine's own memory is not visible).
    pub fn heap_size(&self) -> usize {
        let names: usize = self
            .inputs()
            .iter()
            .chain(self.outputs())
            .map(String::len)
            .sum();
        std::mem::size_of::<Model>()
            + self.blob.capacity()
            + self.tag.capacity()
            + self.device.len()
            + names
    }
}

impl Drop for Model {
    fn drop(&mut self) {
        crate::stats::forget(&self.stats);
    }
}

/// Splits `len` bytes into chunks as RedisAI does for AI.MODELGET and RDB: `len / size + 1`
/// chunks of `size` bytes, the last one holding the rest (so an exact multiple ends with an
/// empty chunk; clients count on the number).
pub fn chunks(len: usize, size: usize) -> Vec<std::ops::Range<usize>> {
    let size = size.max(1);
    let n = len / size + 1;
    (0..n)
        .map(|i| {
            let start = i * size;
            start..if i + 1 < n { start + size } else { len }
        })
        .collect()
}

#[cfg(test)]
mod tests;
