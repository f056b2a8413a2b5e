//! The C ABI between redisai (the host, `libredisai.so`) and its backend plugins
//! (`libredisai_onnx.so`, `libredisai_torch.so`, ...), and the safe side a plugin author writes.
//!
//! Plugins are separate shared objects, each with its own copy of the Rust standard library
//! and its own global allocator, loaded at run time with `dlopen`. Nothing Rust-specific may
//! cross between them: no `Vec`, `String`, `Box`, trait object or panic. What crosses is
//! defined here, `#[repr(C)]`, and follows three rules:
//!
//! 1. **One entry point, one table.** A plugin exports [`ENTRY_POINT`]; the host calls it with
//!    a [`HostInfo`] and gets back a [`BackendVTable`] (or null and an error). Both structs start
//!    with their own size, so either side can tell which trailing fields the other knows.
//! 2. **Append only.** Fields are never removed, reordered or retyped; a new capability is a
//!    new field at the end. [`ABI_VERSION`] changes only for a break, and a host refuses a
//!    plugin built for another.
//! 3. **Whoever allocates, frees.** Inputs are borrowed views of host memory that live for the
//!    duration of one call ([`TensorView`]). Outputs and error messages are allocated by the
//!    plugin and handed back with the plugin's own release function.
//!
//! Tensors are described the way DLPack describes them (type code, bits, lanes; row-major
//! shape), with the two codes RedisAI added to DLPack: [`DL_BOOL`] and [`DL_STRING`]. A STRING
//! tensor's data is its elements, each terminated by `\0`, concatenated; `string_offsets` give
//! the start of each element.
//!
//! A plugin author implements the safe [`Backend`] trait and calls [`export_backend!`]; the
//! macro writes the `extern "C"` side, which catches panics, so a plugin is safe Rust only.
//!
//! Threading contract: `model_load` and `model_free` may be called from any thread;
//! `model_run` is called from the host's worker threads, concurrently for different `worker`
//! indices (each below `HostInfo::threads_per_queue`) but never concurrently with the same
//! index on the same model; `model_free` is called once, after every run of that model ended.

#![deny(unsafe_op_in_unsafe_fn)]

use std::ffi::{c_char, c_void, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::time::Duration;

/// Version of this ABI. A host refuses a plugin whose table reports another.
pub const ABI_VERSION: u32 = 1;

/// Name of the symbol every plugin exports, an [`EntryPoint`].
pub const ENTRY_POINT: &[u8] = b"redisai_backend_entry\0";

/// DLPack type code: signed integer.
pub const DL_INT: u8 = 0;
/// DLPack type code: unsigned integer.
pub const DL_UINT: u8 = 1;
/// DLPack type code: IEEE floating point.
pub const DL_FLOAT: u8 = 2;
/// DLPack type code: boolean, one byte per element holding 0 or 1.
pub const DL_BOOL: u8 = 6;
/// RedisAI's DLPack extension: `\0`-terminated strings, one byte "bits" of 8.
pub const DL_STRING: u8 = 7;
/// Not a DLPack code: marks an output the model produced as something other than a tensor
/// (an ONNX sequence or map); the host skips it.
pub const DL_NONE: u8 = 255;

/// DLPack `DLDataType`: element type code, bits per element, vector lanes (always 1 here).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DataType {
    pub code: u8,
    pub bits: u8,
    pub lanes: u16,
}

impl DataType {
    pub const fn new(code: u8, bits: u8) -> Self {
        DataType {
            code,
            bits,
            lanes: 1,
        }
    }
}

/// A borrowed, read-only, row-major tensor, valid for one call.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct TensorView {
    pub dtype: DataType,
    pub ndim: u32,
    /// `ndim` dimensions.
    pub shape: *const i64,
    pub data: *const c_void,
    /// Bytes at `data`.
    pub byte_len: u64,
    /// STRING tensors only: one start offset per element; null for other types.
    pub string_offsets: *const u64,
}

/// A tensor produced by a plugin. The host copies what it needs, then calls `release`
/// exactly once (from any thread); the plugin frees everything behind `view` and `owner`.
#[repr(C)]
#[derive(Debug)]
pub struct OwnedTensor {
    pub view: TensorView,
    pub owner: *mut c_void,
    pub release: Option<ReleaseTensorFn>,
}

/// Outcome of a plugin call.
pub type Status = i32;
pub const STATUS_OK: Status = 0;
pub const STATUS_ERROR: Status = 1;
/// The run was stopped because it exceeded `HostInfo::execution_timeout_ms`.
pub const STATUS_TIMED_OUT: Status = 2;

/// An error reported by a plugin: UTF-8, `\0`-terminated, freed with `release`.
#[repr(C)]
#[derive(Debug)]
pub struct ErrorMessage {
    pub message: *mut c_char,
    pub release: Option<ReleaseMessageFn>,
}

impl ErrorMessage {
    pub const fn empty() -> Self {
        ErrorMessage {
            message: std::ptr::null_mut(),
            release: None,
        }
    }

    /// The text a plugin left here, if any, released with the plugin's own function; the slot
    /// is empty again afterwards (the host, and tests standing in for it, read errors so).
    pub fn take(&mut self) -> Option<String> {
        if self.message.is_null() {
            return None;
        }
        // SAFETY: whoever set `message` set a NUL-terminated string and, with it, the function
        // that frees it; it is read and released once, here.
        let text = unsafe { std::ffi::CStr::from_ptr(self.message) }
            .to_string_lossy()
            .into_owned();
        if let Some(release) = self.release {
            // SAFETY: as above.
            unsafe { release(self.message) };
        }
        *self = ErrorMessage::empty();
        Some(text)
    }
}

/// What the host tells a plugin when it loads it.
#[repr(C)]
#[derive(Debug)]
pub struct HostInfo {
    pub size: u32,
    pub abi_version: u32,
    /// Worker threads per device queue; `worker` indices of `model_run` are below this.
    pub threads_per_queue: u32,
    /// Engine thread pools; 0 leaves the engine's default.
    pub inter_op_threads: u32,
    pub intra_op_threads: u32,
    /// A run longer than this is stopped (`STATUS_TIMED_OUT`); 0 = no limit.
    pub execution_timeout_ms: u64,
    /// Path of the plugin's own file, `\0`-terminated (engines are looked up beside it).
    pub plugin_path: *const c_char,
    /// Engine library to use instead of the default one, `\0`-terminated; empty = default.
    pub engine_path: *const c_char,
    /// Writes a line to the server log; `level` 0 = warning, 1 = notice, 2 = verbose.
    pub log: Option<LogFn>,
}

/// A model to prepare.
#[repr(C)]
#[derive(Debug)]
pub struct ModelSpec {
    pub size: u32,
    pub blob: *const u8,
    pub blob_len: usize,
    /// `CPU`, `GPU`, `GPU:<n>`, ..., upper-case, `\0`-terminated.
    pub device: *const c_char,
    /// Input/output names given by the user (needed by graph formats without a signature,
    /// such as TF); zero when not given.
    pub n_inputs: u32,
    pub inputs: *const *const c_char,
    pub n_outputs: u32,
    pub outputs: *const *const c_char,
}

/// The names of a prepared model's inputs and outputs, in run order. Borrowed from the model
/// handle and valid until `model_free`.
#[repr(C)]
#[derive(Debug)]
pub struct ModelIo {
    pub n_inputs: u32,
    pub inputs: *const *const c_char,
    pub n_outputs: u32,
    pub outputs: *const *const c_char,
}

impl ModelIo {
    pub const fn empty() -> Self {
        ModelIo {
            n_inputs: 0,
            inputs: std::ptr::null(),
            n_outputs: 0,
            outputs: std::ptr::null(),
        }
    }

    /// The input and output names, copied.
    ///
    /// # Safety
    /// Filled by a plugin's `model_load` for a model that has not been freed.
    pub unsafe fn names(&self) -> (Vec<String>, Vec<String>) {
        unsafe {
            (
                read_names(self.inputs, self.n_inputs),
                read_names(self.outputs, self.n_outputs),
            )
        }
    }
}

/// # Safety
/// `p` points to `n` NUL-terminated strings (or is null).
unsafe fn read_names(p: *const *const c_char, n: u32) -> Vec<String> {
    if p.is_null() {
        return Vec::new();
    }
    (0..n as usize)
        .map(|i| {
            unsafe { CStr::from_ptr(*p.add(i)) }
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

/// The table a plugin returns from its entry point.
#[repr(C)]
#[derive(Debug)]
pub struct BackendVTable {
    /// `size_of::<BackendVTable>()` as the plugin was compiled.
    pub size: u32,
    /// The [`ABI_VERSION`] the plugin was compiled against.
    pub abi_version: u32,
    /// Backend name as RedisAI spells it (`ONNX`, `TORCH`, `TF`, `TFLITE`), static.
    pub name: *const c_char,
    /// Engine version (e.g. `1.31.1` for ONNX Runtime), static.
    pub engine_version: *const c_char,
    /// Plugin state, passed back as the first argument of every function below.
    pub state: *mut c_void,
    /// Prepares a model ([`ModelLoadFn`]).
    pub model_load: ModelLoadFn,
    /// Frees a model ([`ModelFreeFn`]).
    pub model_free: ModelFreeFn,
    /// Runs a model; fills all `n_outputs` outputs on success ([`ModelRunFn`]).
    pub model_run: ModelRunFn,
    // --- appended after ABI 1.0: scripts (TORCH). The host reads each appended field only
    // when the table's `size` reaches past its end (its offset plus its size), so a table of
    // an older layout has no script support; a plugin without scripts may also leave them
    // `None`. Further fields go below, each optional in the same way.
    /// Compiles a script; `script` receives the handle ([`ScriptLoadFn`]).
    pub script_load: Option<ScriptLoadFn>,
    /// Frees a script ([`ScriptFreeFn`]).
    pub script_free: Option<ScriptFreeFn>,
    /// Runs one function of a script ([`ScriptRunFn`]).
    pub script_run: Option<ScriptRunFn>,
}

/// A borrowed byte string.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct Bytes {
    pub data: *const u8,
    pub len: usize,
}

impl Bytes {
    pub fn new(s: &[u8]) -> Self {
        Bytes {
            data: s.as_ptr(),
            len: s.len(),
        }
    }

    /// # Safety
    /// `data` points to `len` readable bytes for `'a` (or `len` is 0).
    pub unsafe fn as_slice<'a>(&self) -> &'a [u8] {
        unsafe { slice(self.data, self.len) }
    }
}

/// A script to compile.
#[repr(C)]
#[derive(Debug)]
pub struct ScriptSpec {
    pub size: u32,
    /// TorchScript source (UTF-8, not NUL-terminated).
    pub source: Bytes,
    /// As in [`ModelSpec::device`].
    pub device: *const c_char,
    /// The functions AI.SCRIPTEXECUTE may call; empty for AI.SCRIPTSET's legacy scripts.
    pub n_entry_points: u32,
    pub entry_points: *const Bytes,
}

/// One call of a script function.
#[repr(C)]
#[derive(Debug)]
pub struct ScriptRun {
    pub size: u32,
    pub worker: u32,
    pub function: Bytes,
    pub inputs: *const TensorView,
    pub n_inputs: usize,
    pub keys: *const Bytes,
    pub n_keys: usize,
    pub args: *const Bytes,
    pub n_args: usize,
}

/// Receives bytes (a reply or an error text) during a host callback.
#[repr(C)]
#[derive(Debug)]
pub struct ByteSink {
    pub ctx: *mut c_void,
    pub put: PutBytesFn,
}

/// Receives tensors, each copied by the receiver during the call.
#[repr(C)]
#[derive(Debug)]
pub struct TensorSink {
    pub ctx: *mut c_void,
    pub put: PutTensorFn,
}

/// The host's services to a running script, valid during one `script_run`, on its thread.
#[repr(C)]
#[derive(Debug)]
pub struct ScriptCalls {
    pub size: u32,
    pub ctx: *mut c_void,
    /// Runs a Redis command as the client that ran the script ([`RedisCallFn`]).
    pub redis_call: RedisCallFn,
    /// Runs a stored model ([`ModelExecuteFn`]).
    pub model_execute: ModelExecuteFn,
}

// ---------------------------------------------------------------------------------------------
// The function signatures of the ABI, each named once. The structs above, the plugin side
// (`export_backend!`) and the host use these names; a function defined on either side is
// checked against them where it is stored in a table or passed as a pointer.
// ---------------------------------------------------------------------------------------------

/// Signature of [`ENTRY_POINT`]: returns the plugin's table, or null with `error` set.
pub type EntryPoint =
    unsafe extern "C" fn(host: *const HostInfo, error: *mut ErrorMessage) -> *const BackendVTable;

/// [`BackendVTable::model_load`]: prepares a model; on `STATUS_OK`, `model` receives the
/// handle and `io` its input/output names.
pub type ModelLoadFn = unsafe extern "C" fn(
    state: *mut c_void,
    spec: *const ModelSpec,
    model: *mut *mut c_void,
    io: *mut ModelIo,
    error: *mut ErrorMessage,
) -> Status;

/// [`BackendVTable::model_free`]: frees a model handle, once, after every run of it ended.
pub type ModelFreeFn = unsafe extern "C" fn(state: *mut c_void, model: *mut c_void);

/// [`BackendVTable::model_run`]: runs a model; fills all `n_outputs` outputs on success.
pub type ModelRunFn = unsafe extern "C" fn(
    state: *mut c_void,
    model: *mut c_void,
    worker: u32,
    inputs: *const TensorView,
    n_inputs: usize,
    outputs: *mut OwnedTensor,
    n_outputs: usize,
    error: *mut ErrorMessage,
) -> Status;

/// [`BackendVTable::script_load`]: compiles a script; `script` receives the handle.
pub type ScriptLoadFn = unsafe extern "C" fn(
    state: *mut c_void,
    spec: *const ScriptSpec,
    script: *mut *mut c_void,
    error: *mut ErrorMessage,
) -> Status;

/// [`BackendVTable::script_free`]: frees a script handle, once.
pub type ScriptFreeFn = unsafe extern "C" fn(state: *mut c_void, script: *mut c_void);

/// [`BackendVTable::script_run`]: runs one function of a script. Each output goes to
/// `outputs` as it is produced; the host copies it during the callback. `calls` serves the
/// script's `redis.execute` and `redisAI.model_execute` on the calling thread, for the
/// duration of this call only.
pub type ScriptRunFn = unsafe extern "C" fn(
    state: *mut c_void,
    script: *mut c_void,
    run: *const ScriptRun,
    calls: *const ScriptCalls,
    outputs: *const TensorSink,
    error: *mut ErrorMessage,
) -> Status;

/// [`ScriptCalls::redis_call`]: runs a Redis command as the client that ran the script. On
/// `STATUS_OK`, `reply` received the reply in the [`Reply`] encoding; otherwise it received
/// the error text.
pub type RedisCallFn = unsafe extern "C" fn(
    ctx: *mut c_void,
    argv: *const Bytes,
    argc: usize,
    reply: *const ByteSink,
) -> Status;

/// [`ScriptCalls::model_execute`]: runs a stored model. On `STATUS_OK` each output went to
/// `outputs`; otherwise `error` received the error text.
pub type ModelExecuteFn = unsafe extern "C" fn(
    ctx: *mut c_void,
    key: Bytes,
    inputs: *const TensorView,
    n_inputs: usize,
    outputs: *const TensorSink,
    error: *const ByteSink,
) -> Status;

/// [`ByteSink::put`]: receives `len` bytes at `data`, valid for the call.
pub type PutBytesFn = unsafe extern "C" fn(ctx: *mut c_void, data: *const u8, len: usize);

/// [`TensorSink::put`]: receives a tensor, valid for the call.
pub type PutTensorFn = unsafe extern "C" fn(ctx: *mut c_void, tensor: *const TensorView);

/// [`OwnedTensor::release`]: frees an output tensor, once.
pub type ReleaseTensorFn = unsafe extern "C" fn(owner: *mut c_void);

/// [`ErrorMessage::release`]: frees an error message, once.
pub type ReleaseMessageFn = unsafe extern "C" fn(message: *mut c_char);

/// [`HostInfo::log`]: writes a line to the server log; `level` 0 = warning, 1 = notice,
/// 2 = verbose.
pub type LogFn = unsafe extern "C" fn(level: u32, message: *const u8, len: usize);

// ---------------------------------------------------------------------------------------------
// The safe side, for plugin authors.
// ---------------------------------------------------------------------------------------------

/// Log levels of [`Host::log`].
#[derive(Debug, Clone, Copy)]
pub enum LogLevel {
    Warning = 0,
    Notice = 1,
    Verbose = 2,
}

/// The host's settings, as a plugin sees them.
#[derive(Debug)]
pub struct Host {
    pub threads_per_queue: usize,
    pub inter_op_threads: usize,
    pub intra_op_threads: usize,
    pub execution_timeout: Option<Duration>,
    pub plugin_path: PathBuf,
    pub engine_path: Option<PathBuf>,
    log: Option<LogFn>,
}

impl Host {
    /// Writes a line to the server log (any thread).
    pub fn log(&self, level: LogLevel, message: &str) {
        if let Some(log) = self.log {
            // SAFETY: the host's logger takes a byte slice for the duration of the call.
            unsafe { log(level as u32, message.as_ptr(), message.len()) };
        }
    }
}

/// Where a model runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Device {
    Cpu,
    /// A GPU, by index when one was given.
    Gpu(Option<u32>),
}

impl Device {
    /// Parses `CPU`, `CPU:<n>`, `GPU`, `GPU:<n>` (case-insensitive).
    pub fn parse(s: &str) -> Option<Device> {
        let upper = s.to_ascii_uppercase();
        let (kind, index) = match upper.split_once(':') {
            Some((k, i)) => (k, Some(i)),
            None => (upper.as_str(), None),
        };
        let index = match index {
            None | Some("") => None,
            Some(i) if i.bytes().all(|b| b.is_ascii_digit()) => Some(i.parse().ok()?),
            Some(_) => return None,
        };
        match kind {
            "CPU" => Some(Device::Cpu),
            "GPU" => Some(Device::Gpu(index)),
            _ => None,
        }
    }
}

/// A model to prepare, as a plugin sees it.
#[derive(Debug)]
pub struct ModelRequest<'a> {
    pub blob: &'a [u8],
    pub device: Device,
    /// The device as the host named it (upper case).
    pub device_name: &'a str,
    pub inputs: Vec<&'a str>,
    pub outputs: Vec<&'a str>,
}

/// A prepared model and its input/output names in run order.
pub struct Loaded<M> {
    pub model: M,
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
}

/// A borrowed input tensor.
#[derive(Debug, Clone, Copy)]
pub struct TensorIn<'a> {
    pub dtype: DataType,
    pub shape: &'a [i64],
    pub data: &'a [u8],
    /// STRING tensors: where each element starts in `data`.
    pub string_offsets: &'a [u64],
}

impl<'a> TensorIn<'a> {
    /// This tensor as the ABI passes it, borrowing it.
    pub fn view(&self) -> TensorView {
        TensorView {
            dtype: self.dtype,
            ndim: self.shape.len() as u32,
            shape: self.shape.as_ptr(),
            data: self.data.as_ptr() as *const c_void,
            byte_len: self.data.len() as u64,
            string_offsets: if self.string_offsets.is_empty() {
                std::ptr::null()
            } else {
                self.string_offsets.as_ptr()
            },
        }
    }

    /// The elements of a STRING tensor, without their `\0`.
    pub fn strings(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let data = self.data;
        let offsets = self.string_offsets;
        (0..offsets.len()).map(move |i| {
            let start = (offsets[i] as usize).min(data.len());
            let end = offsets
                .get(i + 1)
                .map_or(data.len(), |&n| n as usize)
                .clamp(start, data.len());
            let s = &data[start..end];
            s.strip_suffix(&[0]).unwrap_or(s)
        })
    }
}

/// An output tensor built by a plugin. For STRING, `data` holds the `\0`-terminated elements
/// concatenated (see [`TensorOut::strings`]).
#[derive(Debug, Clone, PartialEq)]
pub struct TensorOut {
    pub dtype: DataType,
    pub shape: Vec<i64>,
    pub data: Vec<u8>,
}

impl TensorOut {
    /// This output as the ABI passes it, borrowing it (STRING offsets are the host's to find).
    pub fn view(&self) -> TensorView {
        TensorView {
            dtype: self.dtype,
            ndim: self.shape.len() as u32,
            shape: self.shape.as_ptr(),
            data: self.data.as_ptr() as *const c_void,
            byte_len: self.data.len() as u64,
            string_offsets: std::ptr::null(),
        }
    }

    /// An output that is not a tensor; the host skips it.
    pub fn absent() -> Self {
        TensorOut {
            dtype: DataType::new(DL_NONE, 0),
            shape: Vec::new(),
            data: Vec::new(),
        }
    }

    /// A STRING tensor from its elements (each must not contain `\0`).
    pub fn strings<S: AsRef<[u8]>>(shape: Vec<i64>, elements: &[S]) -> Self {
        let mut data = Vec::new();
        for e in elements {
            data.extend_from_slice(e.as_ref());
            data.push(0);
        }
        TensorOut {
            dtype: DataType::new(DL_STRING, 8),
            shape,
            data,
        }
    }
}

/// Why a run failed.
#[derive(Debug, Clone, PartialEq)]
pub enum RunError {
    /// The message the client receives (one line; RedisAI sends backend messages without a
    /// leading `ERR`).
    Failed(String),
    /// Stopped after exceeding the execution timeout.
    TimedOut,
}

impl<S: Into<String>> From<S> for RunError {
    fn from(s: S) -> Self {
        RunError::Failed(s.into())
    }
}

/// A Redis reply as a script sees it, and its encoding across the ABI (host encodes, plugin
/// decodes): one tag byte, then little-endian payloads; lengths are u64.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Nil,
    Int(i64),
    Double(f64),
    /// Bulk and status strings.
    Str(Vec<u8>),
    /// An error inside an array (a top-level error fails the call instead).
    Error(Vec<u8>),
    Array(Vec<Reply>),
}

impl Reply {
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Reply::Nil => out.push(b'_'),
            Reply::Int(i) => {
                out.push(b':');
                out.extend_from_slice(&i.to_le_bytes());
            }
            Reply::Double(d) => {
                out.push(b',');
                out.extend_from_slice(&d.to_le_bytes());
            }
            Reply::Str(b) | Reply::Error(b) => {
                out.push(if matches!(self, Reply::Str(_)) {
                    b'$'
                } else {
                    b'-'
                });
                out.extend_from_slice(&(b.len() as u64).to_le_bytes());
                out.extend_from_slice(b);
            }
            Reply::Array(items) => {
                out.push(b'*');
                out.extend_from_slice(&(items.len() as u64).to_le_bytes());
                for i in items {
                    i.encode(out);
                }
            }
        }
    }

    /// Decodes one reply; `None` for malformed input (never panics, never over-allocates).
    pub fn decode(input: &[u8]) -> Option<Reply> {
        let mut pos = 0;
        let r = Self::decode_at(input, &mut pos, 0)?;
        (pos == input.len()).then_some(r)
    }

    fn decode_at(input: &[u8], pos: &mut usize, depth: usize) -> Option<Reply> {
        if depth > 64 {
            return None;
        }
        let tag = *input.get(*pos)?;
        *pos += 1;
        let word = |pos: &mut usize| -> Option<[u8; 8]> {
            let w = input.get(*pos..*pos + 8)?.try_into().ok()?;
            *pos += 8;
            Some(w)
        };
        Some(match tag {
            b'_' => Reply::Nil,
            b':' => Reply::Int(i64::from_le_bytes(word(pos)?)),
            b',' => Reply::Double(f64::from_le_bytes(word(pos)?)),
            b'$' | b'-' => {
                let n = usize::try_from(u64::from_le_bytes(word(pos)?)).ok()?;
                let end = pos.checked_add(n)?;
                let b = input.get(*pos..end)?.to_vec();
                *pos = end;
                if tag == b'$' {
                    Reply::Str(b)
                } else {
                    Reply::Error(b)
                }
            }
            b'*' => {
                let n = usize::try_from(u64::from_le_bytes(word(pos)?)).ok()?;
                // Every element takes at least one byte: a count beyond what is left is a lie.
                if n > input.len() - *pos {
                    return None;
                }
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(Self::decode_at(input, pos, depth + 1)?);
                }
                Reply::Array(items)
            }
            _ => return None,
        })
    }
}

/// A script to compile, as a plugin sees it.
#[derive(Debug)]
pub struct ScriptRequest<'a> {
    pub source: &'a str,
    pub device: Device,
    pub device_name: &'a str,
    pub entry_points: Vec<&'a str>,
}

/// One call of a script function, as a plugin sees it.
#[derive(Debug)]
pub struct ScriptCall<'a> {
    pub worker: usize,
    pub function: &'a str,
    pub inputs: Vec<TensorIn<'a>>,
    pub keys: Vec<&'a [u8]>,
    pub args: Vec<&'a [u8]>,
}

/// The host's services to a running script (its `redis.execute` and
/// `redisAI.model_execute`), valid during one [`Backend::script_run`].
pub struct ScriptHost<'a> {
    calls: Option<&'a ScriptCalls>,
}

unsafe extern "C" fn put_bytes(ctx: *mut c_void, data: *const u8, len: usize) {
    // SAFETY: ctx is the Vec<u8> of the caller below; data/len valid for the call.
    let v = unsafe { &mut *(ctx as *mut Vec<u8>) };
    v.extend_from_slice(unsafe { slice(data, len) });
}

unsafe extern "C" fn put_tensor(ctx: *mut c_void, t: *const TensorView) {
    // SAFETY: ctx is the Vec<TensorOut> of model_execute below; the view is valid for the call.
    let v = unsafe { &mut *(ctx as *mut Vec<TensorOut>) };
    let t = unsafe { &*t };
    let shape = unsafe { slice(t.shape, t.ndim as usize) }.to_vec();
    let data = unsafe { slice(t.data as *const u8, t.byte_len as usize) }.to_vec();
    v.push(TensorOut {
        dtype: t.dtype,
        shape,
        data,
    });
}

impl ScriptHost<'_> {
    /// A host that refuses every call (for tests and hosts without script services).
    pub fn none() -> ScriptHost<'static> {
        ScriptHost { calls: None }
    }

    /// Runs a Redis command as the calling client. `Err` is the error text Redis gave.
    pub fn redis_call(&self, argv: &[&[u8]]) -> Result<Reply, String> {
        let calls = self.calls.ok_or("redis calls are not available here")?;
        let args: Vec<Bytes> = argv.iter().map(|a| Bytes::new(a)).collect();
        let mut buf: Vec<u8> = Vec::new();
        let sink = ByteSink {
            ctx: &mut buf as *mut Vec<u8> as *mut c_void,
            put: put_bytes,
        };
        // SAFETY: valid argv and sink for the duration of the call.
        let status = unsafe { (calls.redis_call)(calls.ctx, args.as_ptr(), args.len(), &sink) };
        if status != STATUS_OK {
            return Err(String::from_utf8_lossy(&buf).into_owned());
        }
        Reply::decode(&buf).ok_or_else(|| "malformed reply from the host".to_string())
    }

    /// Runs a stored model on the inputs; `Err` is the error text.
    pub fn model_execute(
        &self,
        key: &[u8],
        inputs: &[TensorIn<'_>],
    ) -> Result<Vec<TensorOut>, String> {
        let calls = self.calls.ok_or("model calls are not available here")?;
        let views: Vec<TensorView> = inputs.iter().map(TensorIn::view).collect();
        let mut outs: Vec<TensorOut> = Vec::new();
        let mut err: Vec<u8> = Vec::new();
        let out_sink = TensorSink {
            ctx: &mut outs as *mut Vec<TensorOut> as *mut c_void,
            put: put_tensor,
        };
        let err_sink = ByteSink {
            ctx: &mut err as *mut Vec<u8> as *mut c_void,
            put: put_bytes,
        };
        // SAFETY: everything passed lives for the call.
        let status = unsafe {
            (calls.model_execute)(
                calls.ctx,
                Bytes::new(key),
                views.as_ptr(),
                views.len(),
                &out_sink,
                &err_sink,
            )
        };
        if status != STATUS_OK {
            return Err(String::from_utf8_lossy(&err).into_owned());
        }
        Ok(outs)
    }
}

/// What a plugin implements. Everything is safe Rust; [`export_backend!`] does the rest.
pub trait Backend: Sized + Send + Sync + 'static {
    type Model: Send + Sync + 'static;
    /// A compiled script; backends without scripts use `()`.
    type Script: Send + Sync + 'static;

    /// The name RedisAI uses: `ONNX`, `TORCH`, `TF` or `TFLITE`.
    const NAME: &'static str;

    /// Called once, when the host loads the plugin.
    fn new(host: Host) -> Result<Self, String>;

    /// The engine's version, for INFO.
    fn engine_version(&self) -> String;

    /// Prepares a model. An error is the client-visible text.
    fn load(&self, request: &ModelRequest<'_>) -> Result<Loaded<Self::Model>, String>;

    /// Runs a model on worker `worker`; returns one output per model output, in order.
    fn run(
        &self,
        model: &Self::Model,
        worker: usize,
        inputs: &[TensorIn<'_>],
    ) -> Result<Vec<TensorOut>, RunError>;

    /// Compiles a script. An error is the client-visible text.
    fn script_load(&self, _request: &ScriptRequest<'_>) -> Result<Self::Script, String> {
        Err(format!(
            "ERR the {} backend does not run scripts",
            Self::NAME
        ))
    }

    /// Runs one function of a script; returns its output tensors in order.
    fn script_run(
        &self,
        _script: &Self::Script,
        _call: &ScriptCall<'_>,
        _host: &ScriptHost<'_>,
    ) -> Result<Vec<TensorOut>, RunError> {
        Err(RunError::Failed(format!(
            "ERR the {} backend does not run scripts",
            Self::NAME
        )))
    }
}

/// Exports `$backend` (a type implementing [`Backend`]) as this plugin's entry point.
#[macro_export]
macro_rules! export_backend {
    ($backend:ty) => {
        /// The plugin's entry point (see `redisai_backend_api::EntryPoint`).
        ///
        /// # Safety
        /// Called by the host with a valid `HostInfo` and error slot.
        #[no_mangle]
        pub unsafe extern "C" fn redisai_backend_entry(
            host: *const $crate::HostInfo,
            error: *mut $crate::ErrorMessage,
        ) -> *const $crate::BackendVTable {
            // SAFETY: forwarded from the host, see above.
            unsafe { $crate::__entry::<$backend>(host, error) }
        }

        // The host finds the entry point by name and calls it as an `EntryPoint`: a
        // signature that drifted from it would not be caught anywhere else.
        const _: $crate::EntryPoint = redisai_backend_entry;
    };
}

fn panic_text(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_string())
}

unsafe extern "C" fn release_message(message: *mut c_char) {
    if !message.is_null() {
        // SAFETY: made by CString::into_raw in set_error.
        drop(unsafe { CString::from_raw(message) });
    }
}

/// Stores `text` in the host's error slot, flattened to one line as RedisAI does.
fn set_error(slot: *mut ErrorMessage, text: &str) {
    if slot.is_null() {
        return;
    }
    let one_line: String = text
        .chars()
        .map(|c| {
            if c == '\n' || c == '\r' || c == '\0' {
                ' '
            } else {
                c
            }
        })
        .collect();
    let c = CString::new(one_line).unwrap_or_default();
    // SAFETY: the host passes a writable slot.
    unsafe {
        *slot = ErrorMessage {
            message: c.into_raw(),
            release: Some(release_message),
        }
    };
}

/// # Safety
/// `p` is null or a valid `\0`-terminated string living for `'a`.
unsafe fn str_arg<'a>(p: *const c_char) -> &'a str {
    if p.is_null() {
        return "";
    }
    // SAFETY: see above.
    unsafe { CStr::from_ptr(p) }.to_str().unwrap_or("")
}

/// # Safety
/// `p` points to `n` valid C strings, or `n` is 0.
unsafe fn str_list<'a>(p: *const *const c_char, n: u32) -> Vec<&'a str> {
    if p.is_null() {
        return Vec::new();
    }
    // SAFETY: see above.
    (0..n as usize)
        .map(|i| unsafe { str_arg(*p.add(i)) })
        .collect()
}

/// # Safety
/// `p` points to `n` elements, or `n` is 0.
unsafe fn slice<'a, T>(p: *const T, n: usize) -> &'a [T] {
    if p.is_null() || n == 0 {
        &[]
    } else {
        // SAFETY: see above.
        unsafe { std::slice::from_raw_parts(p, n) }
    }
}

/// A loaded model as the plugin keeps it: the backend's model plus its names as C strings.
struct ModelBox<M> {
    model: M,
    _names: Vec<CString>,
    inputs: Vec<*const c_char>,
    outputs: Vec<*const c_char>,
}

fn c_names(names: &[String], keep: &mut Vec<CString>) -> Vec<*const c_char> {
    names
        .iter()
        .map(|n| {
            let c = CString::new(n.replace('\0', " ")).unwrap_or_default();
            let p = c.as_ptr();
            keep.push(c);
            p
        })
        .collect()
}

unsafe extern "C" fn model_load<B: Backend>(
    state: *mut c_void,
    spec: *const ModelSpec,
    model: *mut *mut c_void,
    io: *mut ModelIo,
    error: *mut ErrorMessage,
) -> Status {
    let result = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: `state` is the leaked backend of __entry; the host passes a valid spec.
        let backend = unsafe { &*(state as *const B) };
        let spec = unsafe { &*spec };
        let device_name = unsafe { str_arg(spec.device) };
        let device = Device::parse(device_name).ok_or("ERR unsupported device")?;
        let request = ModelRequest {
            blob: unsafe { slice(spec.blob, spec.blob_len) },
            device,
            device_name,
            inputs: unsafe { str_list(spec.inputs, spec.n_inputs) },
            outputs: unsafe { str_list(spec.outputs, spec.n_outputs) },
        };
        let loaded = backend.load(&request)?;
        let mut names = Vec::new();
        let inputs = c_names(&loaded.inputs, &mut names);
        let outputs = c_names(&loaded.outputs, &mut names);
        Ok::<_, String>(Box::new(ModelBox {
            model: loaded.model,
            _names: names,
            inputs,
            outputs,
        }))
    }));
    match result {
        Ok(Ok(boxed)) => {
            // SAFETY: the host passes writable out-slots; the names live in the box.
            unsafe {
                *io = ModelIo {
                    n_inputs: boxed.inputs.len() as u32,
                    inputs: boxed.inputs.as_ptr(),
                    n_outputs: boxed.outputs.len() as u32,
                    outputs: boxed.outputs.as_ptr(),
                };
                *model = Box::into_raw(boxed) as *mut c_void;
            }
            STATUS_OK
        }
        Ok(Err(e)) => {
            set_error(error, &e);
            STATUS_ERROR
        }
        Err(p) => {
            set_error(
                error,
                &format!("panic in {} backend: {}", B::NAME, panic_text(p)),
            );
            STATUS_ERROR
        }
    }
}

unsafe extern "C" fn model_free<B: Backend>(_state: *mut c_void, model: *mut c_void) {
    if model.is_null() {
        return;
    }
    // A panic in a destructor is swallowed: there is nobody to report it to.
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: made by Box::into_raw in model_load; freed once.
        drop(unsafe { Box::from_raw(model as *mut ModelBox<B::Model>) });
    }));
}

/// # Safety
/// `inputs` points to `n` views valid for `'a` (or `n` is 0).
unsafe fn tensor_ins<'a>(inputs: *const TensorView, n: usize) -> Vec<TensorIn<'a>> {
    unsafe { slice(inputs, n) }
        .iter()
        .map(|v| unsafe {
            let offsets = if v.string_offsets.is_null() {
                &[][..]
            } else {
                let n: i64 = slice(v.shape, v.ndim as usize).iter().product();
                slice(v.string_offsets, n.max(0) as usize)
            };
            TensorIn {
                dtype: v.dtype,
                shape: slice(v.shape, v.ndim as usize),
                data: slice(v.data as *const u8, v.byte_len as usize),
                string_offsets: offsets,
            }
        })
        .collect()
}

/// Reports a failed or panicked plugin call in `error`; returns its status.
fn fail<B: Backend>(
    error: *mut ErrorMessage,
    result: std::thread::Result<Result<(), RunError>>,
) -> Status {
    match result {
        Ok(Ok(())) => STATUS_OK,
        Ok(Err(RunError::Failed(e))) => {
            set_error(error, &e);
            STATUS_ERROR
        }
        Ok(Err(RunError::TimedOut)) => STATUS_TIMED_OUT,
        Err(p) => {
            set_error(
                error,
                &format!("panic in {} backend: {}", B::NAME, panic_text(p)),
            );
            STATUS_ERROR
        }
    }
}

unsafe extern "C" fn script_load<B: Backend>(
    state: *mut c_void,
    spec: *const ScriptSpec,
    script: *mut *mut c_void,
    error: *mut ErrorMessage,
) -> Status {
    let result = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: `state` is the leaked backend of __entry; the host passes a valid spec.
        let backend = unsafe { &*(state as *const B) };
        let spec = unsafe { &*spec };
        let device_name = unsafe { str_arg(spec.device) };
        let device = Device::parse(device_name).ok_or("ERR unsupported device")?;
        let source = std::str::from_utf8(unsafe { spec.source.as_slice() })
            .map_err(|_| "ERR script SOURCE is not valid UTF-8")?;
        let entry_points = unsafe { slice(spec.entry_points, spec.n_entry_points as usize) }
            .iter()
            .map(|b| std::str::from_utf8(unsafe { b.as_slice() }).unwrap_or(""))
            .collect();
        let request = ScriptRequest {
            source,
            device,
            device_name,
            entry_points,
        };
        let s = backend.script_load(&request)?;
        // SAFETY: the host passes a writable out-slot.
        unsafe { *script = Box::into_raw(Box::new(s)) as *mut c_void };
        Ok::<(), String>(())
    }));
    fail::<B>(error, result.map(|r| r.map_err(RunError::Failed)))
}

unsafe extern "C" fn script_free<B: Backend>(_state: *mut c_void, script: *mut c_void) {
    if script.is_null() {
        return;
    }
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: made by Box::into_raw in script_load; freed once.
        drop(unsafe { Box::from_raw(script as *mut B::Script) });
    }));
}

unsafe extern "C" fn script_run<B: Backend>(
    state: *mut c_void,
    script: *mut c_void,
    run: *const ScriptRun,
    calls: *const ScriptCalls,
    outputs: *const TensorSink,
    error: *mut ErrorMessage,
) -> Status {
    let result = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: state and script come from this plugin; the rest is valid for the call.
        let backend = unsafe { &*(state as *const B) };
        let script = unsafe { &*(script as *const B::Script) };
        let run = unsafe { &*run };
        let bytes_list = |p: *const Bytes, n: usize| -> Vec<&[u8]> {
            unsafe { slice(p, n) }
                .iter()
                .map(|b| unsafe { b.as_slice() })
                .collect()
        };
        let call = ScriptCall {
            worker: run.worker as usize,
            function: std::str::from_utf8(unsafe { run.function.as_slice() }).unwrap_or(""),
            inputs: unsafe { tensor_ins(run.inputs, run.n_inputs) },
            keys: bytes_list(run.keys, run.n_keys),
            args: bytes_list(run.args, run.n_args),
        };
        let host = ScriptHost {
            calls: unsafe { calls.as_ref() },
        };
        let outs = backend.script_run(script, &call, &host)?;
        // SAFETY: the host's sink copies each view during the call.
        let sink = unsafe { &*outputs };
        for o in &outs {
            unsafe { (sink.put)(sink.ctx, &o.view()) };
        }
        Ok(())
    }));
    fail::<B>(error, result)
}

unsafe extern "C" fn release_output(owner: *mut c_void) {
    if !owner.is_null() {
        // SAFETY: made by Box::into_raw in model_run.
        drop(unsafe { Box::from_raw(owner as *mut TensorOut) });
    }
}

#[allow(clippy::too_many_arguments)]
unsafe extern "C" fn model_run<B: Backend>(
    state: *mut c_void,
    model: *mut c_void,
    worker: u32,
    inputs: *const TensorView,
    n_inputs: usize,
    outputs: *mut OwnedTensor,
    n_outputs: usize,
    error: *mut ErrorMessage,
) -> Status {
    let result = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: state and model come from this plugin; views are valid for the call.
        let backend = unsafe { &*(state as *const B) };
        let model = unsafe { &*(model as *const ModelBox<B::Model>) };
        let ins = unsafe { tensor_ins(inputs, n_inputs) };
        backend.run(&model.model, worker as usize, &ins)
    }));
    let outs = match result {
        Ok(Ok(outs)) => outs,
        Ok(Err(e)) => return fail::<B>(error, Ok(Err(e))),
        Err(p) => return fail::<B>(error, Err(p)),
    };
    if outs.len() != n_outputs {
        set_error(
            error,
            &format!(
                "{} backend produced {} outputs, the model declares {}",
                B::NAME,
                outs.len(),
                n_outputs
            ),
        );
        return STATUS_ERROR;
    }
    for (i, out) in outs.into_iter().enumerate() {
        let boxed = Box::new(out);
        let view = boxed.view();
        // SAFETY: the host passes `n_outputs` writable slots.
        unsafe {
            *outputs.add(i) = OwnedTensor {
                view,
                owner: Box::into_raw(boxed) as *mut c_void,
                release: Some(release_output),
            };
        }
    }
    STATUS_OK
}

/// Implementation of the entry point for `B`; use [`export_backend!`].
///
/// # Safety
/// `host` must point to a valid `HostInfo` and `error` to a writable slot.
#[doc(hidden)]
pub unsafe fn __entry<B: Backend>(
    host: *const HostInfo,
    error: *mut ErrorMessage,
) -> *const BackendVTable {
    let result = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: see above.
        let info = unsafe { &*host };
        if info.abi_version != ABI_VERSION {
            return Err(format!(
                "{} backend: built for plugin ABI version {}, the module speaks {}",
                B::NAME,
                ABI_VERSION,
                info.abi_version
            ));
        }
        let path = |p: *const c_char| {
            // SAFETY: strings from the host, valid for the call.
            let s = unsafe { str_arg(p) };
            (!s.is_empty()).then(|| PathBuf::from(s))
        };
        let host = Host {
            threads_per_queue: info.threads_per_queue.max(1) as usize,
            inter_op_threads: info.inter_op_threads as usize,
            intra_op_threads: info.intra_op_threads as usize,
            execution_timeout: (info.execution_timeout_ms > 0)
                .then(|| Duration::from_millis(info.execution_timeout_ms)),
            plugin_path: path(info.plugin_path).unwrap_or_default(),
            engine_path: path(info.engine_path),
            log: info.log,
        };
        let backend = B::new(host)?;
        let version = CString::new(backend.engine_version()).unwrap_or_default();
        let name = CString::new(B::NAME).unwrap_or_default();
        // Plugins are never unloaded: the backend and its table live as long as the process.
        let state = Box::into_raw(Box::new(backend)) as *mut c_void;
        let table = BackendVTable {
            size: std::mem::size_of::<BackendVTable>() as u32,
            abi_version: ABI_VERSION,
            name: name.into_raw(),
            engine_version: version.into_raw(),
            state,
            model_load: model_load::<B>,
            model_free: model_free::<B>,
            model_run: model_run::<B>,
            script_load: Some(script_load::<B>),
            script_free: Some(script_free::<B>),
            script_run: Some(script_run::<B>),
        };
        Ok(Box::into_raw(Box::new(table)) as *const BackendVTable)
    }));
    match result {
        Ok(Ok(table)) => table,
        Ok(Err(e)) => {
            set_error(error, &e);
            std::ptr::null()
        }
        Err(p) => {
            set_error(
                error,
                &format!("panic in {} backend: {}", B::NAME, panic_text(p)),
            );
            std::ptr::null()
        }
    }
}

#[cfg(test)]
mod tests;
