//! Stored models: what AI.MODELSTORE keeps (the original blob and options, for AI.MODELGET,
//! RDB and AOF) next to the backend's prepared model, and the run statistics of AI.INFO.
//!
//! A `Model` is immutable once stored and shared by `Arc` between the keyspace and running
//! jobs: AI.MODELSTORE over a running model, or AI.MODELDEL during a run, only drops the
//! keyspace's reference; the run finishes with its own.

pub mod args;

use std::sync::Arc;
use std::time::Duration;

use crate::backend::{self, BackendKind, PluginModel, RunFailure};
use crate::error::{AiError, AiResult};
use crate::exec::{self, batch, BatchOpts, Pace};
use crate::stats::{Kind, RunStats};
use crate::stored::{check_device, Placement};
use crate::tensor::Tensor;

pub struct Model {
    pub backend: BackendKind,
    pub place: Placement,
    pub batch: BatchOpts,
    /// The serialized model exactly as it was stored.
    pub blob: Vec<u8>,
    pub prepared: Arc<PluginModel>,
    /// Its learned run time and outstanding plans: whether a run may skip the queue.
    pub pace: Arc<Pace>,
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
        check_device(&self.device)?;
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
        let place = Placement::new(Kind::Model, self.backend, self.device, self.tag)?;
        Ok(Model {
            backend: self.backend,
            place,
            batch: self.batch,
            blob: self.blob,
            prepared: Arc::new(prepared),
            pace: Arc::default(),
        })
    }
}

impl Model {
    /// This model, with statistics of its own registered under `key` (AI.INFO).
    pub fn registered(self, key: &[u8]) -> Model {
        Model {
            place: self.place.registered(key),
            ..self
        }
    }

    /// Another stored model sharing this one's prepared engine model (COPY).
    pub fn share(&self) -> Model {
        Model {
            backend: self.backend,
            place: self.place.share(),
            batch: self.batch,
            blob: self.blob.clone(),
            prepared: self.prepared.clone(),
            // Shared with the engine model: both keys' inline runs use its one main-thread slot
            // (safe, the main thread is one), and their learned times are the same engine's.
            pace: self.pace.clone(),
        }
    }

    /// Whether a run on `inputs` should run in the command itself rather than be queued: its
    /// learned time for that many rows is within `limit`, it is not batched (batching needs
    /// the queue), nothing queued before it uses the model (order is kept), and it runs on
    /// the CPU (a GPU queue's engine state stays with its workers).
    pub fn runs_inline(&self, inputs: &[Arc<Tensor>], limit: Duration) -> bool {
        if self.batch.size > 0 || !self.pace.idle() || !self.place.device.starts_with("CPU") {
            return false;
        }
        let rows = batch::rows(inputs).unwrap_or(1);
        self.pace.estimate(rows).is_some_and(|t| t <= limit)
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
        std::mem::size_of::<Model>() + self.blob.capacity() + self.place.heap_size() + names
    }
}

impl exec::Runner for Model {
    fn batch(&self) -> BatchOpts {
        self.batch
    }

    fn run(&self, worker: usize, inputs: &[&Tensor]) -> Result<Vec<Option<Tensor>>, RunFailure> {
        self.prepared.run(worker, inputs)
    }

    fn stats(&self) -> &RunStats {
        &self.place.stats
    }

    fn pace(&self) -> Option<&Pace> {
        Some(&self.pace)
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
