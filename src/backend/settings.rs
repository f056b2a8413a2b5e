//! The settings the backend layer reads when it loads a plugin.
//!
//! `config` owns the settings (load arguments, module configs, AI.CONFIG) and pushes these
//! here with [`configure`] at load and after every change, so that this layer imports nothing
//! of `config` (the arrow points config → backend only). Nothing loads a plugin before the
//! module's load has pushed them.

use std::sync::Mutex;

/// Where plugins are, and what a plugin's `HostInfo` tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// BACKENDSPATH: relative plugin paths are resolved against it.
    pub backends_path: String,
    /// ONNXRUNTIME_PATH: the ONNX Runtime library the ONNX plugin opens; empty = its own.
    pub onnxruntime_path: String,
    /// Worker indices a plugin must serve: THREADS_PER_QUEUE, plus one for the main thread's
    /// inline runs.
    pub threads_per_queue: u32,
    /// INTER_OP_PARALLELISM and INTRA_OP_PARALLELISM; 0 = the engine's default.
    pub inter_op_threads: u32,
    pub intra_op_threads: u32,
    /// MODEL_EXECUTION_TIMEOUT, in milliseconds.
    pub execution_timeout_ms: u64,
    /// BACKEND_MEMORY_LIMIT in MB; 0 = none.
    pub memory_limit_mb: i64,
}

static SETTINGS: Mutex<Settings> = Mutex::new(Settings {
    backends_path: String::new(),
    onnxruntime_path: String::new(),
    threads_per_queue: 0,
    inter_op_threads: 0,
    intra_op_threads: 0,
    execution_timeout_ms: 0,
    memory_limit_mb: 0,
});

/// Replaces the settings plugins are loaded with.
pub fn configure(settings: Settings) {
    *SETTINGS.lock().unwrap_or_else(|p| p.into_inner()) = settings;
}

/// The settings as last pushed.
pub fn configured() -> Settings {
    SETTINGS.lock().unwrap_or_else(|p| p.into_inner()).clone()
}
