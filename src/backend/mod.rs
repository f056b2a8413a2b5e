//! Backend plugins, host side: finding and loading `libredisai_<backend>.so`, and calling
//! through its table (`backends/api`). The module never links an ML engine itself.
//!
//! Concurrency: the registry (one slot per backend kind) is a mutex taken only to load or look
//! up a plugin; a loaded plugin is an `Arc` that is never unloaded, its table is immutable,
//! and the plugin's functions are safe to call from any thread under the ABI's threading
//! contract (see `backends/api`). A [`PluginModel`] is shared by `Arc` between the keyspace
//! and running jobs; it frees the plugin's model when the last reference goes.
//!
//! What loading a plugin reads of the settings (BACKENDSPATH, thread counts, ...) is pushed
//! in by `config` ([`configure`]); this layer imports nothing of it.

#![warn(clippy::undocumented_unsafe_blocks)]

mod settings;
mod table;

pub use settings::{configure, Settings};
// For `config`'s test that every write reaches this layer.
#[cfg(test)]
pub use settings::configured;

use std::ffi::{c_char, c_void, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use redisai_backend_api::{
    BackendVTable, ByteSink, Bytes, EntryPoint, ErrorMessage, HostInfo, ModelIo, ModelSpec,
    OwnedTensor, Reply, ScriptCalls, ScriptRun, ScriptSpec, TensorSink, TensorView, ABI_VERSION,
    DL_NONE, ENTRY_POINT, STATUS_ERROR, STATUS_OK, STATUS_TIMED_OUT,
};

use self::table::{ScriptFns, Table};
use crate::error::AiError;
use crate::redis::{log, Level};
use crate::tensor::{DType, Limits, Shape, Tensor};

/// The backends RedisAI knows. The discriminants are RedisAI's RDB codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BackendKind {
    Tf = 0,
    Tflite = 1,
    Torch = 2,
    Onnx = 3,
    /// Not RedisAI's: a Hugging Face tokenizer (the code RedisAI never used).
    Tokenizer = 4,
}

impl BackendKind {
    pub const ALL: [BackendKind; 5] = [
        BackendKind::Tf,
        BackendKind::Tflite,
        BackendKind::Torch,
        BackendKind::Onnx,
        BackendKind::Tokenizer,
    ];

    pub fn parse(name: &[u8]) -> Option<BackendKind> {
        BackendKind::ALL
            .into_iter()
            .find(|k| name.eq_ignore_ascii_case(k.name().as_bytes()))
    }

    pub const fn name(self) -> &'static str {
        match self {
            BackendKind::Tf => "TF",
            BackendKind::Tflite => "TFLITE",
            BackendKind::Torch => "TORCH",
            BackendKind::Onnx => "ONNX",
            BackendKind::Tokenizer => "TOKENIZER",
        }
    }

    pub fn from_code(code: u64) -> Option<BackendKind> {
        BackendKind::ALL.into_iter().find(|k| *k as u64 == code)
    }

    /// The plugin file looked up in BACKENDSPATH when none was loaded explicitly.
    pub const fn library(self) -> &'static str {
        match self {
            BackendKind::Tf => "libredisai_tf.so",
            BackendKind::Tflite => "libredisai_tflite.so",
            BackendKind::Torch => "libredisai_torch.so",
            BackendKind::Onnx => "libredisai_onnx.so",
            BackendKind::Tokenizer => "libredisai_tokenizer.so",
        }
    }
}

/// A loaded plugin.
pub struct Plugin {
    pub kind: BackendKind,
    pub engine_version: String,
    /// Read out of the plugin's table at load; the plugin is never unloaded.
    table: Table,
    /// The plugin's own table, never read again after `table` was decoded from it: kept so
    /// the plugin's allocation stays reachable for as long as the plugin is loaded (a leak
    /// checker counts it lost otherwise).
    _raw_table: *const BackendVTable,
    _lib: libloading::Library,
}

// SAFETY: the table is immutable and its functions are thread-safe by the ABI contract.
unsafe impl Send for Plugin {}
// SAFETY: as for Send: nothing in a Plugin changes after load, and the plugin's functions may
// be called from any thread at once (the ABI's threading contract).
unsafe impl Sync for Plugin {}

static PLUGINS: Mutex<[Option<Arc<Plugin>>; 5]> = Mutex::new([None, None, None, None, None]);

fn registry() -> std::sync::MutexGuard<'static, [Option<Arc<Plugin>>; 5]> {
    PLUGINS.lock().unwrap_or_else(|p| p.into_inner())
}

/// Loaded plugins, in RedisAI's order.
pub fn all_loaded() -> Vec<Arc<Plugin>> {
    registry().iter().flatten().cloned().collect()
}

/// Loads the plugin at `path` (relative paths are under BACKENDSPATH) for `kind`. Loading a
/// kind twice is an error, as in RedisAI.
pub fn load(kind: BackendKind, path: &str) -> Result<Arc<Plugin>, String> {
    let mut reg = registry();
    if reg[kind as usize].is_some() {
        return Err(format!("{} backend already loaded", kind.name()));
    }
    let plugin = Arc::new(open(kind, &resolve(path))?);
    reg[kind as usize] = Some(plugin.clone());
    Ok(plugin)
}

/// The plugin of `kind`, loading the default one from BACKENDSPATH on first use.
pub fn ensure(kind: BackendKind) -> Result<Arc<Plugin>, String> {
    let mut reg = registry();
    if let Some(p) = &reg[kind as usize] {
        return Ok(p.clone());
    }
    let plugin = Arc::new(open(kind, &resolve(kind.library()))?);
    reg[kind as usize] = Some(plugin.clone());
    Ok(plugin)
}

/// [`ensure`] for a command: the reason a plugin could not load goes to the log, the client
/// gets RedisAI's `ERR Could not load backend`.
pub fn require(kind: BackendKind) -> Result<Arc<Plugin>, AiError> {
    ensure(kind).map_err(|e| {
        log(
            Level::Warning,
            &format!("could not load the {} backend: {e}", kind.name()),
        );
        AiError::CouldNotLoadBackend
    })
}

fn resolve(path: &str) -> PathBuf {
    let p = Path::new(path);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        Path::new(&settings::configured().backends_path).join(p)
    }
}

unsafe extern "C" fn host_log(level: u32, message: *const u8, len: usize) {
    if message.is_null() {
        return;
    }
    // SAFETY: the plugin passes `len` readable bytes for the duration of the call.
    let text = String::from_utf8_lossy(unsafe { std::slice::from_raw_parts(message, len) });
    let level = if level == 0 {
        Level::Warning
    } else {
        Level::Notice
    };
    log(level, &text);
}

/// Copies a plugin's error message and gives it back to the plugin.
fn take_error(e: &mut ErrorMessage, fallback: &str) -> String {
    e.take().unwrap_or_else(|| fallback.to_string())
}

fn open(kind: BackendKind, path: &Path) -> Result<Plugin, String> {
    if !path.exists() {
        return Err(format!(
            "{} backend: no plugin at {}",
            kind.name(),
            path.display()
        ));
    }
    // RTLD_LOCAL: each plugin keeps its own engine symbols (two engines may bundle the same
    // third-party libraries at different versions).
    // SAFETY: loading a shared object runs its initialisers; a plugin is trusted code.
    let lib = unsafe {
        libloading::os::unix::Library::open(
            Some(path),
            libloading::os::unix::RTLD_NOW | libloading::os::unix::RTLD_LOCAL,
        )
    }
    .map_err(|e| {
        format!(
            "{} backend: cannot load {}: {e}",
            kind.name(),
            path.display()
        )
    })?;
    let lib = libloading::Library::from(lib);
    // SAFETY: the symbol has the EntryPoint signature by the ABI contract.
    let entry: EntryPoint = unsafe {
        *lib.get::<EntryPoint>(ENTRY_POINT).map_err(|_| {
            format!(
                "{} backend: {} is not a redisai backend plugin (no entry point)",
                kind.name(),
                path.display()
            )
        })?
    };
    let plugin_path = CString::new(path.to_string_lossy().as_bytes()).map_err(|e| e.to_string())?;
    let settings = settings::configured();
    let engine = match kind {
        BackendKind::Onnx => settings.onnxruntime_path,
        _ => String::new(),
    };
    let engine_path = CString::new(engine).map_err(|e| e.to_string())?;
    let info = HostInfo {
        size: std::mem::size_of::<HostInfo>() as u32,
        abi_version: ABI_VERSION,
        threads_per_queue: settings.threads_per_queue,
        inter_op_threads: settings.inter_op_threads,
        intra_op_threads: settings.intra_op_threads,
        execution_timeout_ms: settings.execution_timeout_ms,
        plugin_path: plugin_path.as_ptr(),
        engine_path: engine_path.as_ptr(),
        log: Some(host_log),
    };
    let mut err = ErrorMessage::empty();
    // SAFETY: valid HostInfo and error slot for the duration of the call.
    let table = unsafe { entry(&info, &mut err) };
    let raw_table = table;
    if table.is_null() {
        let why = take_error(&mut err, "the plugin refused to load");
        return Err(format!("{} backend: {why}", kind.name()));
    }
    // SAFETY: a non-null table from the entry point declares its size and holds that many
    // bytes (the ABI contract); it lives as long as the plugin, which is never unloaded.
    let table = unsafe { table::decode(table) }.map_err(|refused| {
        format!(
            "{} backend: plugin ABI version {} (table of {} bytes), the module speaks {ABI_VERSION}",
            kind.name(),
            refused.abi_version,
            refused.size
        )
    })?;
    // SAFETY: static NUL-terminated strings of the plugin.
    let name = unsafe { CStr::from_ptr(table.name) }
        .to_string_lossy()
        .into_owned();
    if name != kind.name() {
        return Err(format!(
            "{} backend: {} is the {name} backend",
            kind.name(),
            path.display()
        ));
    }
    // SAFETY: as for the name.
    let engine_version = unsafe { CStr::from_ptr(table.engine_version) }
        .to_string_lossy()
        .into_owned();
    log(
        Level::Notice,
        &format!(
            "{} backend loaded from {} (engine {engine_version})",
            kind.name(),
            path.display()
        ),
    );
    let limit = settings.memory_limit_mb;
    if limit > 0 {
        // RedisAI capped ONNX Runtime's arena through a custom allocator; the engines here
        // allocate on their own, so the cap is shown (INFO ai_load_time_configs) but not held.
        log(
            Level::Warning,
            &format!(
                "BACKEND_MEMORY_LIMIT {limit} MB is not enforced by the {} backend: its \
                 memory is outside Redis's accounting",
                kind.name()
            ),
        );
    }
    Ok(Plugin {
        kind,
        engine_version,
        table,
        _raw_table: raw_table,
        _lib: lib,
    })
}

/// Why a run produced no outputs.
#[derive(Debug, Clone, PartialEq)]
pub enum RunFailure {
    /// The text the client receives.
    Error(String),
    /// Stopped by MODEL_EXECUTION_TIMEOUT.
    TimedOut,
}

/// A model prepared by a plugin; freed through the plugin when dropped.
pub struct PluginModel {
    plugin: Arc<Plugin>,
    handle: *mut c_void,
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
}

// SAFETY: the handle is only used through the plugin's thread-safe functions, and the host
// never runs one worker index twice at once on a model.
unsafe impl Send for PluginModel {}
// SAFETY: as for Send.
unsafe impl Sync for PluginModel {}

fn c_strings(names: &[&str]) -> Result<Vec<CString>, String> {
    names
        .iter()
        .map(|n| CString::new(*n).map_err(|_| format!("name {n:?} contains NUL")))
        .collect()
}

impl Plugin {
    /// Prepares a model; an error is the text the client receives.
    pub fn load_model(
        self: &Arc<Self>,
        blob: &[u8],
        device: &str,
        inputs: &[&str],
        outputs: &[&str],
    ) -> Result<PluginModel, String> {
        let device = CString::new(device.to_ascii_uppercase()).map_err(|_| "ERR Invalid DEVICE")?;
        let ins = c_strings(inputs)?;
        let outs = c_strings(outputs)?;
        let in_ptrs: Vec<*const c_char> = ins.iter().map(|s| s.as_ptr()).collect();
        let out_ptrs: Vec<*const c_char> = outs.iter().map(|s| s.as_ptr()).collect();
        let spec = ModelSpec {
            size: std::mem::size_of::<ModelSpec>() as u32,
            blob: blob.as_ptr(),
            blob_len: blob.len(),
            device: device.as_ptr(),
            n_inputs: in_ptrs.len() as u32,
            inputs: in_ptrs.as_ptr(),
            n_outputs: out_ptrs.len() as u32,
            outputs: out_ptrs.as_ptr(),
        };
        let mut handle = std::ptr::null_mut();
        let mut io = ModelIo::empty();
        let mut err = ErrorMessage::empty();
        // SAFETY: everything the spec points to lives for the call.
        let status = unsafe {
            (self.table.model_load)(self.table.state, &spec, &mut handle, &mut io, &mut err)
        };
        if status != STATUS_OK || handle.is_null() {
            return Err(take_error(&mut err, "the backend could not load the model"));
        }
        // SAFETY: the names belong to the model handle, valid until model_free.
        let (inputs, outputs) = unsafe { io.names() };
        Ok(PluginModel {
            plugin: self.clone(),
            handle,
            inputs,
            outputs,
        })
    }
}

/// Gives a plugin's output back to it when dropped.
struct Released(OwnedTensor);

impl Drop for Released {
    fn drop(&mut self) {
        if let Some(release) = self.0.release {
            // SAFETY: released once, with the plugin's own function.
            unsafe { release(self.0.owner) };
        }
    }
}

/// A view of a module tensor for the plugin, borrowing it.
fn view_of(t: &Tensor) -> TensorView {
    let data = t.data();
    let offsets = t.string_offsets();
    TensorView {
        dtype: t.dtype().dl(),
        ndim: t.shape().len() as u32,
        shape: t.shape().as_ptr(),
        data: data.as_ptr() as *const c_void,
        byte_len: data.len() as u64,
        string_offsets: if offsets.is_empty() {
            std::ptr::null()
        } else {
            offsets.as_ptr()
        },
    }
}

/// What a running script may ask of the server (its `redis.execute` and
/// `redisAI.model_execute`), provided by the command layer for one run on a worker thread.
pub trait ScriptServices {
    /// Runs a Redis command as the client that ran the script; `Err` is the error text.
    fn redis_call(&self, argv: &[&[u8]]) -> Result<Reply, String>;
    /// Runs a stored model on `inputs`, as worker `worker`; `Err` is the error text.
    fn model_execute(
        &self,
        worker: usize,
        key: &[u8],
        inputs: &[&Tensor],
    ) -> Result<Vec<Tensor>, String>;
}

/// A script compiled by a plugin; freed through the plugin when dropped.
pub struct PluginScript {
    plugin: Arc<Plugin>,
    handle: *mut c_void,
}

// SAFETY: as for PluginModel: the handle is only used through the plugin's thread-safe
// functions.
unsafe impl Send for PluginScript {}
// SAFETY: as for Send.
unsafe impl Sync for PluginScript {}

impl Plugin {
    /// The plugin's script entries, when its table has them (see [`table::decode`]).
    fn script_fns(&self) -> Option<ScriptFns> {
        self.table.scripts
    }

    /// Compiles a script; an error is the text the client receives.
    pub fn load_script(
        self: &Arc<Self>,
        source: &str,
        device: &str,
        entry_points: &[String],
    ) -> Result<PluginScript, String> {
        let ScriptFns { load, .. } = self
            .script_fns()
            .ok_or_else(|| format!("ERR the {} backend does not run scripts", self.kind.name()))?;
        let device = CString::new(device.to_ascii_uppercase()).map_err(|_| "ERR Invalid DEVICE")?;
        let eps: Vec<Bytes> = entry_points
            .iter()
            .map(|e| Bytes::new(e.as_bytes()))
            .collect();
        let spec = ScriptSpec {
            size: std::mem::size_of::<ScriptSpec>() as u32,
            source: Bytes::new(source.as_bytes()),
            device: device.as_ptr(),
            n_entry_points: eps.len() as u32,
            entry_points: eps.as_ptr(),
        };
        let mut handle = std::ptr::null_mut();
        let mut err = ErrorMessage::empty();
        // SAFETY: everything the spec points to lives for the call.
        let status = unsafe { load(self.table.state, &spec, &mut handle, &mut err) };
        if status != STATUS_OK || handle.is_null() {
            return Err(take_error(
                &mut err,
                "the backend could not compile the script",
            ));
        }
        Ok(PluginScript {
            plugin: self.clone(),
            handle,
        })
    }
}

unsafe extern "C" fn put_output(ctx: *mut c_void, t: *const TensorView) {
    // SAFETY: ctx is the Vec of PluginScript::run, alive and not otherwise borrowed during the
    // plugin's call that calls this. Nothing here may unwind into the plugin.
    let outs = unsafe { &mut *(ctx as *mut Vec<Result<Option<Tensor>, RunFailure>>) };
    // SAFETY: the plugin's view is valid for the duration of this callback.
    let r = catch_unwind(AssertUnwindSafe(|| output_tensor(unsafe { &*t }))).unwrap_or_else(|_| {
        Err(RunFailure::Error(
            "ERR internal error copying an output".into(),
        ))
    });
    outs.push(r);
}

/// What a script's calls reach, for the duration of one run.
struct CallCtx<'a> {
    services: &'a dyn ScriptServices,
    worker: usize,
}

fn put(sink: *const ByteSink, data: &[u8]) {
    // SAFETY: the plugin's sink is valid for the callback it was passed to.
    unsafe { ((*sink).put)((*sink).ctx, data.as_ptr(), data.len()) };
}

unsafe extern "C" fn redis_call_cb(
    ctx: *mut c_void,
    argv: *const Bytes,
    argc: usize,
    reply: *const ByteSink,
) -> i32 {
    let r = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: ctx is the CallCtx of PluginScript::run; argv valid for the call.
        let cc = unsafe { &*(ctx as *const CallCtx) };
        let args: Vec<&[u8]> = if argc == 0 || argv.is_null() {
            Vec::new()
        } else {
            // SAFETY: the plugin passes `argc` arguments, each valid for the call.
            unsafe { std::slice::from_raw_parts(argv, argc) }
                .iter()
                // SAFETY: as above.
                .map(|b| unsafe { b.as_slice() })
                .collect()
        };
        cc.services.redis_call(&args)
    }))
    .unwrap_or_else(|p| {
        Err(format!(
            "ERR internal error: {}",
            crate::error::panic_message(&p)
        ))
    });
    match r {
        Ok(reply_value) => {
            let mut buf = Vec::new();
            reply_value.encode(&mut buf);
            put(reply, &buf);
            STATUS_OK
        }
        Err(e) => {
            put(reply, e.as_bytes());
            STATUS_ERROR
        }
    }
}

unsafe extern "C" fn model_execute_cb(
    ctx: *mut c_void,
    key: Bytes,
    inputs: *const TensorView,
    n_inputs: usize,
    outputs: *const TensorSink,
    error: *const ByteSink,
) -> i32 {
    let r = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: ctx is the CallCtx of PluginScript::run; views valid for the call.
        let cc = unsafe { &*(ctx as *const CallCtx) };
        let views = if n_inputs == 0 || inputs.is_null() {
            &[][..]
        } else {
            // SAFETY: the plugin passes `n_inputs` views, valid for the call.
            unsafe { std::slice::from_raw_parts(inputs, n_inputs) }
        };
        let tensors = views
            .iter()
            .map(|v| match output_tensor(v) {
                Ok(Some(t)) => Ok(t),
                Ok(None) => Err("ERR a model input is not a tensor".to_string()),
                Err(RunFailure::Error(e)) => Err(e),
                Err(RunFailure::TimedOut) => Err("ERR timed out".to_string()),
            })
            .collect::<Result<Vec<Tensor>, String>>()?;
        let refs: Vec<&Tensor> = tensors.iter().collect();
        // SAFETY: the key's bytes are valid for the call.
        let key = unsafe { key.as_slice() };
        cc.services.model_execute(cc.worker, key, &refs)
    }))
    .unwrap_or_else(|p| {
        Err(format!(
            "ERR internal error: {}",
            crate::error::panic_message(&p)
        ))
    });
    match r {
        Ok(outs) => {
            for t in &outs {
                let v = view_of(t);
                // SAFETY: the plugin's sink copies the view during the call.
                unsafe { ((*outputs).put)((*outputs).ctx, &v) };
            }
            STATUS_OK
        }
        Err(e) => {
            put(error, e.as_bytes());
            STATUS_ERROR
        }
    }
}

impl PluginScript {
    /// Runs `function` on worker `worker` of the script's device queue.
    #[allow(clippy::too_many_arguments)]
    pub fn run(
        &self,
        worker: usize,
        function: &[u8],
        inputs: &[&Tensor],
        keys: &[Vec<u8>],
        args: &[Vec<u8>],
        services: &dyn ScriptServices,
    ) -> Result<Vec<Tensor>, RunFailure> {
        let ScriptFns { run, .. } = self
            .plugin
            .script_fns()
            .ok_or_else(|| RunFailure::Error("ERR the backend does not run scripts".into()))?;
        let views: Vec<TensorView> = inputs.iter().map(|t| view_of(t)).collect();
        let keys: Vec<Bytes> = keys.iter().map(|k| Bytes::new(k)).collect();
        let args: Vec<Bytes> = args.iter().map(|a| Bytes::new(a)).collect();
        let spec = ScriptRun {
            size: std::mem::size_of::<ScriptRun>() as u32,
            worker: worker as u32,
            function: Bytes::new(function),
            inputs: views.as_ptr(),
            n_inputs: views.len(),
            keys: keys.as_ptr(),
            n_keys: keys.len(),
            args: args.as_ptr(),
            n_args: args.len(),
        };
        let call_ctx = CallCtx { services, worker };
        let calls = ScriptCalls {
            size: std::mem::size_of::<ScriptCalls>() as u32,
            ctx: &call_ctx as *const CallCtx as *mut c_void,
            redis_call: redis_call_cb,
            model_execute: model_execute_cb,
        };
        let mut outs: Vec<Result<Option<Tensor>, RunFailure>> = Vec::new();
        let sink = TensorSink {
            ctx: &mut outs as *mut _ as *mut c_void,
            put: put_output,
        };
        let mut err = ErrorMessage::empty();
        let table = &self.plugin.table;
        // SAFETY: everything passed lives for the call; the handle is this plugin's.
        let status = unsafe { run(table.state, self.handle, &spec, &calls, &sink, &mut err) };
        match status {
            STATUS_OK => {}
            STATUS_TIMED_OUT => return Err(RunFailure::TimedOut),
            _ => {
                return Err(RunFailure::Error(take_error(
                    &mut err,
                    "the backend failed to run the script",
                )))
            }
        }
        outs.into_iter()
            .map(|o| {
                o?.ok_or_else(|| RunFailure::Error("ERR the script returned a non-tensor".into()))
            })
            .collect()
    }
}

impl Drop for PluginScript {
    fn drop(&mut self) {
        if let Some(ScriptFns { free, .. }) = self.plugin.script_fns() {
            // SAFETY: the handle came from this plugin's script_load and is freed once.
            unsafe { free(self.plugin.table.state, self.handle) };
        }
    }
}

impl PluginModel {
    /// Runs the model on worker `worker` of its device queue. Outputs the model produced as
    /// something other than a tensor come back as `None`.
    pub fn run(
        &self,
        worker: usize,
        inputs: &[&Tensor],
    ) -> Result<Vec<Option<Tensor>>, RunFailure> {
        let views: Vec<TensorView> = inputs.iter().map(|t| view_of(t)).collect();
        let n = self.outputs.len();
        let empty = TensorView {
            dtype: redisai_backend_api::DataType::new(DL_NONE, 0),
            ndim: 0,
            shape: std::ptr::null(),
            data: std::ptr::null(),
            byte_len: 0,
            string_offsets: std::ptr::null(),
        };
        let mut outs: Vec<OwnedTensor> = (0..n)
            .map(|_| OwnedTensor {
                view: empty,
                owner: std::ptr::null_mut(),
                release: None,
            })
            .collect();
        let mut err = ErrorMessage::empty();
        let table = &self.plugin.table;
        // SAFETY: the views borrow `inputs`, alive for the call; `outs` has `n` slots.
        let status = unsafe {
            (table.model_run)(
                table.state,
                self.handle,
                worker as u32,
                views.as_ptr(),
                views.len(),
                outs.as_mut_ptr(),
                n,
                &mut err,
            )
        };
        // Whatever happens next, every output goes back to the plugin.
        let outs: Vec<Released> = outs.into_iter().map(Released).collect();
        match status {
            STATUS_OK => {}
            STATUS_TIMED_OUT => return Err(RunFailure::TimedOut),
            _ => {
                return Err(RunFailure::Error(take_error(
                    &mut err,
                    "the backend failed to run the model",
                )))
            }
        }
        outs.iter().map(|o| output_tensor(&o.0.view)).collect()
    }
}

/// Copies a plugin's output into a module tensor (validated like any other tensor).
fn output_tensor(v: &TensorView) -> Result<Option<Tensor>, RunFailure> {
    if v.dtype.code == DL_NONE {
        return Ok(None);
    }
    let dtype = DType::from_dl(v.dtype.code.into(), v.dtype.bits.into())
        .ok_or_else(|| RunFailure::Error("ERR unsupported dtype".to_string()))?;
    // SAFETY: the plugin's view is valid until it is released, after this copy.
    let (shape, data) = unsafe {
        let shape = if v.ndim == 0 || v.shape.is_null() {
            &[][..]
        } else {
            std::slice::from_raw_parts(v.shape, v.ndim as usize)
        };
        let data = if v.byte_len == 0 || v.data.is_null() {
            &[][..]
        } else {
            std::slice::from_raw_parts(v.data as *const u8, v.byte_len as usize)
        };
        (shape, data)
    };
    // Validated before it is copied; a refused output costs no allocation.
    Tensor::from_blob(dtype, Shape::from_slice(shape), data, Limits::UNLIMITED)
        .map(Some)
        .map_err(|e| match e {
            AiError::OutOfMemory { bytes } => {
                RunFailure::Error(format!("ERR out of memory copying a {bytes} byte output"))
            }
            e => {
                let e = e.to_string();
                let why = e.strip_prefix("ERR ").unwrap_or(&e);
                RunFailure::Error(format!("ERR invalid output from the backend: {why}"))
            }
        })
}

impl Drop for PluginModel {
    fn drop(&mut self) {
        let table = &self.plugin.table;
        // SAFETY: the handle came from this plugin's model_load and is freed once, after every
        // run (runs hold an Arc of the model).
        unsafe { (table.model_free)(table.state, self.handle) };
    }
}
