//! Stored scripts (AI.SCRIPTSTORE / AI.SCRIPTSET): the source, device, tag and entry points
//! as the client gave them (for AI.SCRIPTGET, RDB and AOF), next to the plugin's compiled
//! script and the run statistics of AI.INFO.
//!
//! Like a model, a `Script` is immutable once stored and shared by `Arc` with running jobs:
//! AI.SCRIPTSTORE over a running script or AI.SCRIPTDEL during a run only drops the
//! keyspace's reference.

pub mod args;

use std::sync::Arc;

use crate::backend::{self, BackendKind, PluginScript, RunFailure, ScriptServices};
use crate::error::{AiError, AiResult};
use crate::exec;
use crate::stats::{Kind, RunStats};
use crate::stored::{check_device, Placement};
use crate::tensor::Tensor;

pub struct Script {
    pub place: Placement,
    pub source: String,
    /// Empty for AI.SCRIPTSET's scripts, whose functions are called positionally.
    pub entry_points: Vec<String>,
    pub prepared: Arc<PluginScript>,
}

/// One call of a script function, as queued: everything a worker needs to run it.
pub struct ScriptCall {
    pub script: Arc<Script>,
    pub function: Vec<u8>,
    pub keys: Vec<Vec<u8>>,
    pub args: Vec<Vec<u8>>,
    /// How many tensors the function must return (the OUTPUTS given).
    pub outputs: usize,
    /// The server, as the client that ran the script sees it.
    pub env: Arc<dyn ScriptServices + Send + Sync>,
}

/// What a script is made from: the store command's arguments or what RDB kept of them.
pub struct ScriptSource {
    pub device: String,
    pub tag: Vec<u8>,
    pub source: String,
    pub entry_points: Vec<String>,
}

impl ScriptSource {
    /// Compiles the script with the TORCH backend (loading it on first use) and makes sure
    /// its device queue exists.
    pub fn prepare(self) -> AiResult<Script> {
        check_device(&self.device)?;
        let plugin = backend::require(BackendKind::Torch)?;
        let prepared = plugin
            .load_script(&self.source, &self.device, &self.entry_points)
            .map_err(AiError::Backend)?;
        let place = Placement::new(Kind::Script, BackendKind::Torch, self.device, self.tag)?;
        Ok(Script {
            place,
            source: self.source,
            entry_points: self.entry_points,
            prepared: Arc::new(prepared),
        })
    }
}

impl Script {
    /// This script, with statistics of its own registered under `key` (AI.INFO).
    pub fn registered(self, key: &[u8]) -> Script {
        Script {
            place: self.place.registered(key),
            ..self
        }
    }

    /// Another stored script sharing this one's compiled code (COPY).
    pub fn share(&self) -> Script {
        Script {
            place: self.place.share(),
            source: self.source.clone(),
            entry_points: self.entry_points.clone(),
            prepared: self.prepared.clone(),
        }
    }

    /// Bytes held on the heap, for MEMORY USAGE (the engine's compiled code is not visible).
    pub fn heap_size(&self) -> usize {
        std::mem::size_of::<Script>()
            + self.place.heap_size()
            + self.source.capacity()
            + self
                .entry_points
                .iter()
                .map(|e| e.capacity() + std::mem::size_of::<String>())
                .sum::<usize>()
    }
}

impl exec::Runner for ScriptCall {
    /// The function must return as many tensors as OUTPUTS named.
    fn run(&self, worker: usize, inputs: &[&Tensor]) -> Result<Vec<Option<Tensor>>, RunFailure> {
        let outputs = self.script.prepared.run(
            worker,
            &self.function,
            inputs,
            &self.keys,
            &self.args,
            &*self.env,
        )?;
        if outputs.len() != self.outputs {
            return Err(RunFailure::Error(format!(
                "Function returned unexpected number of outputs - {}",
                String::from_utf8_lossy(&self.function)
            )));
        }
        Ok(outputs.into_iter().map(Some).collect())
    }

    fn stats(&self) -> &RunStats {
        &self.script.place.stats
    }
}
