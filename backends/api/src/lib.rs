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
    pub release: Option<unsafe extern "C" fn(owner: *mut c_void)>,
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
    pub release: Option<unsafe extern "C" fn(message: *mut c_char)>,
}

impl ErrorMessage {
    pub const fn empty() -> Self {
        ErrorMessage {
            message: std::ptr::null_mut(),
            release: None,
        }
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
    pub log: Option<unsafe extern "C" fn(level: u32, message: *const u8, len: usize)>,
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
    pub model_load: unsafe extern "C" fn(
        state: *mut c_void,
        spec: *const ModelSpec,
        model: *mut *mut c_void,
        io: *mut ModelIo,
        error: *mut ErrorMessage,
    ) -> Status,
    pub model_free: unsafe extern "C" fn(state: *mut c_void, model: *mut c_void),
    /// Runs a model; fills all `n_outputs` outputs on success.
    pub model_run: unsafe extern "C" fn(
        state: *mut c_void,
        model: *mut c_void,
        worker: u32,
        inputs: *const TensorView,
        n_inputs: usize,
        outputs: *mut OwnedTensor,
        n_outputs: usize,
        error: *mut ErrorMessage,
    ) -> Status,
}

/// Signature of [`ENTRY_POINT`]: returns the plugin's table, or null with `error` set.
pub type EntryPoint =
    unsafe extern "C" fn(host: *const HostInfo, error: *mut ErrorMessage) -> *const BackendVTable;

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
    log: Option<unsafe extern "C" fn(u32, *const u8, usize)>,
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

/// What a plugin implements. Everything is safe Rust; [`export_backend!`] does the rest.
pub trait Backend: Sized + Send + Sync + 'static {
    type Model: Send + Sync + 'static;

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
        let views = unsafe { slice(inputs, n_inputs) };
        let ins: Vec<TensorIn<'_>> = views
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
            .collect();
        backend.run(&model.model, worker as usize, &ins)
    }));
    let outs = match result {
        Ok(Ok(outs)) => outs,
        Ok(Err(RunError::Failed(e))) => {
            set_error(error, &e);
            return STATUS_ERROR;
        }
        Ok(Err(RunError::TimedOut)) => return STATUS_TIMED_OUT,
        Err(p) => {
            set_error(
                error,
                &format!("panic in {} backend: {}", B::NAME, panic_text(p)),
            );
            return STATUS_ERROR;
        }
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
        let view = TensorView {
            dtype: boxed.dtype,
            ndim: boxed.shape.len() as u32,
            shape: boxed.shape.as_ptr(),
            data: boxed.data.as_ptr() as *const c_void,
            byte_len: boxed.data.len() as u64,
            string_offsets: std::ptr::null(),
        };
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
