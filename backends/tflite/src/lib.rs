//! The TFLITE backend plugin (`libredisai_tflite.so`): TFLite flatbuffers run by LiteRT, through
//! its C API in `libLiteRt.so` from PyPI's ai-edge-litert 2.3.0, opened at run time (see
//! [`litert`] for how the undeclared C API is pinned).
//!
//! RedisAI semantics: inputs and outputs by position, in the order of the model's main subgraph
//! (as RedisAI's `interpreter->inputs()`), named by their tensor names in AI.MODELGET META; the
//! dtypes are those the model declares (a mismatch is RedisAI's "Input tensor type doesn't match
//! the type expected by the model definition"); an input of another shape is resized to it,
//! as RedisAI's TFLite backend did, so the host's batching and any dim the model allows work.
//!
//! State: a stored model keeps its blob (LiteRT reads the flatbuffer in place) and one worker
//! per host worker thread, each its own LiteRT model, compiled model and tensor buffers: the
//! compiled model is not documented as safe for concurrent runs, and the host never runs one
//! worker index twice at once. Worker 0 is made when the model is stored, which validates it;
//! the others on first use.
//!
//! Output shapes: LiteRT computes static shapes when an input is resized, but a shape that
//! depends on data (e.g. a RESHAPE fed by SHAPE, as Keras' Flatten converts) is known only after
//! a run. After each run the output layouts are read back; if one differs from the buffer it
//! ran into, the buffers are remade and the model runs again, so what is returned is always a
//! whole output of the shape LiteRT reports.
//!
//! MODEL_EXECUTION_TIMEOUT: each worker's compiled model gets a cancellation callback that
//! LiteRT calls between ops on the running thread; it compares the clock with the worker's
//! [`Deadline`], so no watchdog thread is needed. One op is never interrupted: a run stops at
//! the first op boundary after its deadline (a model that is one long op, such as a graph
//! XNNPACK took whole, runs to its end and then answers as timed out).

pub mod litert;

use std::ffi::{c_void, CStr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Instant;

use litert::{element, Api, BufferRequirementsFn, Handle, Layout, RankedTensorType, STATUS_OK};
use redisai_backend_api::{
    export_backend, Backend, DataType, Device, Host, Loaded, LogLevel, ModelRequest, RunError,
    TensorIn, TensorOut, DL_BOOL, DL_FLOAT, DL_INT, DL_UINT,
};

/// The library file name `make deps-tflite` puts beside the plugin.
pub const LIBRARY: &str = "libLiteRt.so.2.3.0";

// RedisAI's TFLite backend texts (libtflite_c/tflite_c.cpp), kept as clients saw them.
const LOAD_FAILED: &str = "Failed to load model from buffer";
const CONSTRUCT_FAILED: &str = "Failed to construct interpreter";
const ALLOCATE_FAILED: &str = "Failed to allocate tensors";
const RESIZE_FAILED: &str = "Failed to resize input tensors";
const INVOKE_FAILED: &str = "Failed to invoke TfLite";
const CANCELLED: &str =
    "LiteRT run cancelled: it ran past MODEL_EXECUTION_TIMEOUT. Exiting due to terminate flag \
     being set to true.";
const GPU_FAILED: &str = "Failed to set GPU delegate";
const TYPE_MISMATCH: &str =
    "Input tensor type doesn't match the type expected by the model definition";

pub struct Tflite {
    api: Arc<Api>,
    env: Env,
    host: Host,
}

/// The LiteRT environment; never destroyed (the plugin lives as long as the process).
struct Env(Handle);
// SAFETY: LiteRT's environment is shared by all of its models and compiled models, which may
// be made and run on any thread; the plugin never mutates it after creation.
unsafe impl Send for Env {}
// SAFETY: as for Send.
unsafe impl Sync for Env {}

/// What the model declares for one input or output.
#[derive(Debug, Clone)]
struct TensorInfo {
    name: String,
    element_type: i32,
    /// Index in LiteRT's signature 0 (LiteRT's order), for this position in the subgraph's.
    signature_index: usize,
}

pub struct TfliteModel {
    // Declared before `blob`: every LiteRT model reads the blob until it is destroyed.
    workers: Vec<Mutex<Option<Worker>>>,
    blob: Arc<[u8]>,
    inputs: Vec<TensorInfo>,
    outputs: Vec<TensorInfo>,
}

/// One host worker's LiteRT objects, and the buffers of its last run, reused while shapes hold.
struct Worker {
    api: Arc<Api>,
    model: Handle,
    compiled: Handle,
    /// Per input position: the buffer and the layout the compiled model was last resized to.
    inputs: Vec<Option<Buffer>>,
    outputs: Vec<Option<Buffer>>,
    /// Read by LiteRT's cancellation callback while this worker runs (shared, hence Arc).
    deadline: Arc<Deadline>,
}

/// When a worker's current run must stop, for LiteRT's cancellation callback. Atomics because
/// the callback reads it through a pointer while the run holds the worker mutably.
#[derive(Default)]
struct Deadline {
    /// Nanoseconds after [`EPOCH`]; 0 = no limit.
    at_ns: AtomicU64,
    /// Set by the callback when it stopped the run: a failed run is then a timeout.
    fired: AtomicBool,
}

static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);

fn since_epoch_ns(t: Instant) -> u64 {
    t.saturating_duration_since(*EPOCH).as_nanos() as u64
}

impl Deadline {
    fn arm(&self, timeout: Option<std::time::Duration>) {
        let at = timeout.map_or(0, |t| since_epoch_ns(Instant::now() + t).max(1));
        self.fired.store(false, Ordering::Relaxed);
        self.at_ns.store(at, Ordering::Relaxed);
    }
}

/// LiteRT's cancellation callback: true once the worker's deadline has passed. It must not
/// unwind into LiteRT, so a panic (there is none to expect from a clock read) says "go on".
unsafe extern "C" fn past_deadline(data: *mut c_void) -> bool {
    std::panic::catch_unwind(|| {
        // SAFETY: `data` is the worker's `Arc<Deadline>`, which outlives its compiled model.
        let d = unsafe { &*(data as *const Deadline) };
        let at = d.at_ns.load(Ordering::Relaxed);
        let late = at != 0 && since_epoch_ns(Instant::now()) >= at;
        if late {
            d.fired.store(true, Ordering::Relaxed);
        }
        late
    })
    .unwrap_or(false)
}

// SAFETY: a worker is used by one thread at a time (behind its Mutex); LiteRT objects are not
// tied to the thread that made them.
unsafe impl Send for Worker {}

struct Buffer {
    api: Arc<Api>,
    handle: Handle,
    layout: Layout,
    bytes: usize,
}

impl Drop for Buffer {
    fn drop(&mut self) {
        // SAFETY: made by create_managed_tensor_buffer, destroyed once.
        unsafe { (self.api.destroy_tensor_buffer)(self.handle) };
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // Buffers first, then what they were made for.
        self.inputs.clear();
        self.outputs.clear();
        // SAFETY: made by this worker, destroyed once, in reverse order of creation.
        unsafe {
            (self.api.destroy_compiled_model)(self.compiled);
            (self.api.destroy_model)(self.model);
        }
    }
}

fn element_size(t: i32) -> Option<usize> {
    Some(match t {
        element::BOOL | element::INT8 | element::UINT8 => 1,
        element::INT16 | element::UINT16 => 2,
        element::FLOAT32 | element::INT32 => 4,
        element::FLOAT64 | element::INT64 => 8,
        _ => return None,
    })
}

/// The LiteRT element type of a RedisAI dtype.
fn element_of(dtype: DataType) -> Option<i32> {
    Some(match (dtype.code, dtype.bits) {
        (DL_FLOAT, 32) => element::FLOAT32,
        (DL_FLOAT, 64) => element::FLOAT64,
        (DL_INT, 8) => element::INT8,
        (DL_INT, 16) => element::INT16,
        (DL_INT, 32) => element::INT32,
        (DL_INT, 64) => element::INT64,
        (DL_UINT, 8) => element::UINT8,
        (DL_UINT, 16) => element::UINT16,
        (DL_BOOL, 8) => element::BOOL,
        _ => return None,
    })
}

/// The RedisAI dtype of a LiteRT element type.
fn dtype_of(t: i32) -> Option<DataType> {
    Some(match t {
        element::FLOAT32 => DataType::new(DL_FLOAT, 32),
        element::FLOAT64 => DataType::new(DL_FLOAT, 64),
        element::INT8 => DataType::new(DL_INT, 8),
        element::INT16 => DataType::new(DL_INT, 16),
        element::INT32 => DataType::new(DL_INT, 32),
        element::INT64 => DataType::new(DL_INT, 64),
        element::UINT8 => DataType::new(DL_UINT, 8),
        element::UINT16 => DataType::new(DL_UINT, 16),
        element::BOOL => DataType::new(DL_BOOL, 8),
        _ => return None,
    })
}

/// The library beside the plugin (where `make deps-tflite` copies it), or the configured one.
fn library_path(host: &Host) -> Result<PathBuf, String> {
    if let Some(p) = &host.engine_path {
        return Ok(p.clone());
    }
    let dir = host.plugin_path.parent().unwrap_or(Path::new("."));
    [LIBRARY, "libLiteRt.so"]
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.exists())
        .ok_or_else(|| {
            format!(
                "{LIBRARY} not found beside {} (run `make deps-tflite`)",
                host.plugin_path.display()
            )
        })
}

/// `what` (a RedisAI text, as clients saw it) unless LiteRT answered OK.
fn check(status: i32, what: &str) -> Result<(), String> {
    if status == STATUS_OK {
        Ok(())
    } else {
        Err(what.to_string())
    }
}

impl Tflite {
    /// A new LiteRT model and compiled model over `blob`, for worker state or validation.
    fn compile(&self, blob: &[u8]) -> Result<Worker, String> {
        let api = &self.api;
        let mut model: Handle = std::ptr::null_mut();
        // SAFETY: the blob outlives the model (both owned by TfliteModel, workers dropped first).
        let status = unsafe {
            (api.create_model_from_buffer)(
                self.env.0,
                blob.as_ptr() as *const c_void,
                blob.len(),
                &mut model,
            )
        };
        if status != STATUS_OK || model.is_null() {
            self.log_why("LiteRtCreateModelFromBuffer", status);
            return Err(LOAD_FAILED.into());
        }
        let mut options: Handle = std::ptr::null_mut();
        let mut compiled: Handle = std::ptr::null_mut();
        // SAFETY: out-pointers to locals; the options are destroyed once made, and the model
        // when no compiled model takes it.
        let status = unsafe {
            let mut status = (api.create_options)(&mut options);
            if status == STATUS_OK {
                status = (api.set_options_hardware_accelerators)(options, litert::ACCELERATOR_CPU);
                if status == STATUS_OK {
                    status = (api.create_compiled_model)(self.env.0, model, options, &mut compiled);
                }
                (api.destroy_options)(options);
            }
            if status != STATUS_OK || compiled.is_null() {
                (api.destroy_model)(model);
            }
            status
        };
        if status != STATUS_OK || compiled.is_null() {
            self.log_why("LiteRtCreateCompiledModel", status);
            return Err(CONSTRUCT_FAILED.into());
        }
        let worker = Worker {
            api: api.clone(),
            model,
            compiled,
            inputs: Vec::new(),
            outputs: Vec::new(),
            deadline: Arc::default(),
        };
        if self.host.execution_timeout.is_some() {
            // SAFETY: a live compiled model; the deadline lives as long as the worker, which
            // destroys the compiled model (and with it the callback) first.
            let status = unsafe {
                (api.set_cancellation_function)(
                    compiled,
                    Arc::as_ptr(&worker.deadline) as *mut c_void,
                    Some(past_deadline),
                )
            };
            if status != STATUS_OK {
                self.log_why("LiteRtSetCompiledModelCancellationFunction", status);
                return Err(CONSTRUCT_FAILED.into());
            }
        }
        Ok(worker)
    }

    fn log_why(&self, call: &str, status: i32) {
        self.host.log(
            LogLevel::Verbose,
            &format!("TFLITE backend: {call} returned LiteRT status {status}"),
        );
    }

    /// The inputs and outputs of a compiled worker's model, in the subgraph's order.
    fn describe(&self, w: &Worker) -> Result<(Vec<TensorInfo>, Vec<TensorInfo>), String> {
        let api = &self.api;
        // SAFETY: handles from the worker's live model; out-pointers to locals; names are
        // NUL-terminated strings owned by the model, copied at once.
        unsafe {
            let mut n = 0usize;
            check((api.get_num_model_signatures)(w.model, &mut n), LOAD_FAILED)?;
            if n == 0 {
                return Err(LOAD_FAILED.into());
            }
            let mut sig: Handle = std::ptr::null_mut();
            check((api.get_model_signature)(w.model, 0, &mut sig), LOAD_FAILED)?;
            let mut sub: Handle = std::ptr::null_mut();
            check((api.get_signature_subgraph)(sig, &mut sub), LOAD_FAILED)?;

            let side = |count: unsafe extern "C" fn(Handle, *mut usize) -> i32,
                        sig_count: unsafe extern "C" fn(Handle, *mut usize) -> i32,
                        sub_tensor: unsafe extern "C" fn(Handle, usize, *mut Handle) -> i32,
                        sig_tensor: unsafe extern "C" fn(Handle, usize, *mut Handle) -> i32,
                        what: &str|
             -> Result<Vec<TensorInfo>, String> {
                let (mut n_sub, mut n_sig) = (0usize, 0usize);
                check(count(sub, &mut n_sub), LOAD_FAILED)?;
                check(sig_count(sig, &mut n_sig), LOAD_FAILED)?;
                let mut by_sig = Vec::with_capacity(n_sig);
                for j in 0..n_sig {
                    let mut t: Handle = std::ptr::null_mut();
                    check(sig_tensor(sig, j, &mut t), LOAD_FAILED)?;
                    by_sig.push(t);
                }
                let mut infos = Vec::with_capacity(n_sub);
                for i in 0..n_sub {
                    let mut t: Handle = std::ptr::null_mut();
                    check(sub_tensor(sub, i, &mut t), LOAD_FAILED)?;
                    // RedisAI's positions are the subgraph's; LiteRT runs by signature index.
                    let signature_index = by_sig.iter().position(|&s| s == t).ok_or_else(|| {
                        format!("TFLITE backend: {what} {i} is not in the model's signature")
                    })?;
                    let mut id = -1;
                    check((api.get_tensor_type_id)(t, &mut id), LOAD_FAILED)?;
                    if id != litert::RANKED_TENSOR_TYPE {
                        return Err(format!("TFLITE backend: {what} {i} has no fixed rank"));
                    }
                    let mut ty = std::mem::zeroed::<RankedTensorType>();
                    check((api.get_ranked_tensor_type)(t, &mut ty), LOAD_FAILED)?;
                    let mut name: *const std::ffi::c_char = std::ptr::null();
                    check((api.get_tensor_name)(t, &mut name), LOAD_FAILED)?;
                    let name = if name.is_null() {
                        String::new()
                    } else {
                        CStr::from_ptr(name).to_string_lossy().into_owned()
                    };
                    infos.push(TensorInfo {
                        name,
                        element_type: ty.element_type,
                        signature_index,
                    });
                }
                if n_sub != n_sig {
                    return Err(format!(
                        "TFLITE backend: the model's signature has {n_sig} {what}s, its subgraph {n_sub}"
                    ));
                }
                Ok(infos)
            };
            let inputs = side(
                api.get_num_subgraph_inputs,
                api.get_num_signature_inputs,
                api.get_subgraph_input,
                api.get_signature_input_tensor_by_index,
                "input",
            )?;
            let outputs = side(
                api.get_num_subgraph_outputs,
                api.get_num_signature_outputs,
                api.get_subgraph_output,
                api.get_signature_output_tensor_by_index,
                "output",
            )?;
            Ok((inputs, outputs))
        }
    }

    /// The buffer size LiteRT asks for tensor `index` of signature 0, through `get` (the input
    /// or the output requirements); 0 when it says nothing, and the runtime then picks.
    fn required_size(&self, get: BufferRequirementsFn, compiled: Handle, index: usize) -> usize {
        let mut req: Handle = std::ptr::null_mut();
        let mut size = 0usize;
        // SAFETY: out-pointers to locals; the requirements belong to the compiled model.
        unsafe {
            if get(compiled, 0, index, &mut req) == STATUS_OK && !req.is_null() {
                let _ = (self.api.get_requirements_buffer_size)(req, &mut size);
            }
        }
        size
    }

    fn buffer(
        &self,
        element_type: i32,
        layout: Layout,
        requirements: usize,
    ) -> Result<Buffer, String> {
        let size = element_size(element_type).ok_or(ALLOCATE_FAILED)?;
        let bytes = layout
            .dims()
            .iter()
            .try_fold(size, |acc, &d| acc.checked_mul(usize::try_from(d).ok()?))
            .ok_or(ALLOCATE_FAILED)?;
        let ty = RankedTensorType {
            element_type,
            layout,
        };
        let mut handle: Handle = std::ptr::null_mut();
        // A buffer of at least what the compiled model asked for (it may pad), and never less
        // than the tensor's bytes (requirements can lag a shape only known after a run).
        let alloc = bytes.max(requirements).max(1).next_multiple_of(64);
        // SAFETY: a valid tensor type and an out-pointer to a local.
        let status = unsafe {
            (self.api.create_managed_tensor_buffer)(
                self.env.0,
                litert::BUFFER_HOST_MEMORY,
                &ty,
                alloc,
                &mut handle,
            )
        };
        if status != STATUS_OK || handle.is_null() {
            self.log_why("LiteRtCreateManagedTensorBuffer", status);
            return Err(ALLOCATE_FAILED.into());
        }
        Ok(Buffer {
            api: self.api.clone(),
            handle,
            layout,
            bytes,
        })
    }

    /// Output layouts as the compiled model knows them now; `update` lets it recompute them.
    fn output_layouts(&self, w: &Worker, n: usize, update: bool) -> Result<Vec<Layout>, String> {
        let mut layouts = vec![Layout::EMPTY; n];
        // SAFETY: `layouts` holds `n` writable layouts.
        let status = unsafe {
            (self.api.get_output_tensor_layouts)(w.compiled, 0, n, layouts.as_mut_ptr(), update)
        };
        check(status, ALLOCATE_FAILED)?;
        Ok(layouts)
    }

    /// (Re)makes the output buffers whose layout differs from `layouts`.
    fn fit_outputs(
        &self,
        w: &mut Worker,
        model: &TfliteModel,
        layouts: &[Layout],
    ) -> Result<bool, String> {
        let mut changed = false;
        w.outputs.resize_with(model.outputs.len(), || None);
        for (pos, info) in model.outputs.iter().enumerate() {
            let layout = layouts[info.signature_index];
            if w.outputs[pos].as_ref().is_some_and(|b| b.layout == layout) {
                continue;
            }
            w.outputs[pos] = None;
            let get = self.api.get_output_buffer_requirements;
            let req_size = self.required_size(get, w.compiled, info.signature_index);
            w.outputs[pos] = Some(self.buffer(info.element_type, layout, req_size)?);
            changed = true;
        }
        Ok(changed)
    }

    fn run_once(&self, w: &mut Worker, model: &TfliteModel) -> Result<(), RunError> {
        let n_in = model.inputs.len();
        let n_out = model.outputs.len();
        let mut ins: Vec<Handle> = vec![std::ptr::null_mut(); n_in];
        for (pos, info) in model.inputs.iter().enumerate() {
            ins[info.signature_index] = w.inputs[pos].as_ref().ok_or(INVOKE_FAILED)?.handle;
        }
        let mut outs: Vec<Handle> = vec![std::ptr::null_mut(); n_out];
        for (pos, info) in model.outputs.iter().enumerate() {
            outs[info.signature_index] = w.outputs[pos].as_ref().ok_or(INVOKE_FAILED)?.handle;
        }
        // SAFETY: one live buffer per signature input and output, of the compiled model's
        // element types and current layouts.
        let status = unsafe {
            (self.api.run_compiled_model)(
                w.compiled,
                0,
                n_in,
                ins.as_mut_ptr(),
                n_out,
                outs.as_mut_ptr(),
            )
        };
        if status != STATUS_OK {
            // An error, as ONNX's stopped runs are, never a status a client could take for
            // success.
            if status == litert::STATUS_CANCELLED || w.deadline.fired.load(Ordering::Relaxed) {
                return Err(RunError::Failed(CANCELLED.into()));
            }
            self.log_why("LiteRtRunCompiledModel", status);
            return Err(INVOKE_FAILED.into());
        }
        Ok(())
    }
}

/// Copies `data` into a host buffer.
fn write(api: &Api, b: &Buffer, data: &[u8]) -> Result<(), String> {
    if data.len() != b.bytes {
        return Err(INVOKE_FAILED.into());
    }
    let mut addr: *mut c_void = std::ptr::null_mut();
    // SAFETY: the buffer holds at least `b.bytes` bytes while locked.
    unsafe {
        check(
            (api.lock_tensor_buffer)(b.handle, &mut addr, litert::LOCK_WRITE),
            INVOKE_FAILED,
        )?;
        if !addr.is_null() {
            std::ptr::copy_nonoverlapping(data.as_ptr(), addr as *mut u8, data.len());
        }
        (api.unlock_tensor_buffer)(b.handle);
    }
    if addr.is_null() {
        return Err(INVOKE_FAILED.into());
    }
    Ok(())
}

/// Copies a host buffer out.
fn read(api: &Api, b: &Buffer) -> Result<Vec<u8>, String> {
    let mut addr: *mut c_void = std::ptr::null_mut();
    // SAFETY: the buffer holds at least `b.bytes` bytes while locked.
    unsafe {
        check(
            (api.lock_tensor_buffer)(b.handle, &mut addr, litert::LOCK_READ),
            INVOKE_FAILED,
        )?;
        let out = (!addr.is_null())
            .then(|| std::slice::from_raw_parts(addr as *const u8, b.bytes).to_vec());
        (api.unlock_tensor_buffer)(b.handle);
        out.ok_or_else(|| INVOKE_FAILED.to_string())
    }
}

impl Backend for Tflite {
    type Model = TfliteModel;
    type Script = ();
    const NAME: &'static str = "TFLITE";

    fn new(host: Host) -> Result<Self, String> {
        let path = library_path(&host)?;
        let api = Arc::new(Api::open(&path)?);
        let mut env: Handle = std::ptr::null_mut();
        // SAFETY: no options; out-pointer to a local.
        let status = unsafe { (api.create_environment)(0, std::ptr::null(), &mut env) };
        if status != STATUS_OK || env.is_null() {
            return Err(format!(
                "LiteRtCreateEnvironment failed (LiteRT status {status})"
            ));
        }
        host.log(
            LogLevel::Notice,
            &format!(
                "TFLITE backend: LiteRT {} from {}",
                litert::RELEASE,
                path.display()
            ),
        );
        Ok(Tflite {
            api,
            env: Env(env),
            host,
        })
    }

    fn engine_version(&self) -> String {
        litert::RELEASE.to_string()
    }

    fn load(&self, request: &ModelRequest<'_>) -> Result<Loaded<TfliteModel>, String> {
        if let Device::Gpu(_) = request.device {
            // The wheel's GPU accelerators (WebGPU/OpenCL) are not staged; RedisAI's text.
            self.host.log(
                LogLevel::Warning,
                "TFLITE backend: GPU requested, but only LiteRT's CPU accelerator is installed",
            );
            return Err(GPU_FAILED.into());
        }
        if request.blob.is_empty() {
            return Err(LOAD_FAILED.into());
        }
        let blob: Arc<[u8]> = Arc::from(request.blob);
        let first = self.compile(&blob)?;
        let (inputs, outputs) = self.describe(&first)?;
        if let Some(o) = outputs.iter().find(|o| dtype_of(o.element_type).is_none()) {
            return Err(format!(
                "TFLITE backend: output '{}' has a LiteRT element type ({}) that RedisAI tensors cannot hold",
                o.name, o.element_type
            ));
        }
        let workers = self.host.threads_per_queue.max(1);
        let mut slots = Vec::with_capacity(workers);
        slots.push(Mutex::new(Some(first)));
        slots.extend((1..workers).map(|_| Mutex::new(None)));
        let names = |v: &[TensorInfo]| v.iter().map(|t| t.name.clone()).collect();
        Ok(Loaded {
            inputs: names(&inputs),
            outputs: names(&outputs),
            model: TfliteModel {
                workers: slots,
                blob,
                inputs,
                outputs,
            },
        })
    }

    fn run(
        &self,
        model: &TfliteModel,
        worker: usize,
        inputs: &[TensorIn<'_>],
    ) -> Result<Vec<TensorOut>, RunError> {
        if inputs.len() != model.inputs.len() {
            return Err("Inconsistent number of inputs".into());
        }
        let slot = &model.workers[worker % model.workers.len()];
        let mut guard = slot.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            *guard = Some(self.compile(&model.blob)?);
        }
        let w = guard.as_mut().ok_or(INVOKE_FAILED)?;
        w.inputs.resize_with(model.inputs.len(), || None);

        let mut resized = false;
        for (pos, (t, info)) in inputs.iter().zip(&model.inputs).enumerate() {
            if element_of(t.dtype) != Some(info.element_type) {
                return Err(TYPE_MISMATCH.into());
            }
            let layout = Layout::of(t.shape).ok_or(RESIZE_FAILED)?;
            if w.inputs[pos].as_ref().is_some_and(|b| b.layout == layout) {
                continue;
            }
            w.inputs[pos] = None;
            // SAFETY: `layout.dims()` holds `rank` dims for the call.
            let status = unsafe {
                (self.api.resize_input_tensor_non_strict)(
                    w.compiled,
                    0,
                    info.signature_index,
                    layout.dims().as_ptr(),
                    layout.rank(),
                )
            };
            if status != STATUS_OK {
                self.log_why("LiteRtCompiledModelResizeInputTensorNonStrict", status);
                return Err(RESIZE_FAILED.into());
            }
            let get = self.api.get_input_buffer_requirements;
            let req_size = self.required_size(get, w.compiled, info.signature_index);
            w.inputs[pos] = Some(self.buffer(info.element_type, layout, req_size)?);
            resized = true;
        }
        for (t, b) in inputs.iter().zip(&w.inputs) {
            let b = b.as_ref().ok_or(INVOKE_FAILED)?;
            write(&self.api, b, t.data)?;
        }
        let n_out = model.outputs.len();
        if resized || w.outputs.len() != n_out || w.outputs.iter().any(Option::is_none) {
            let layouts = self.output_layouts(w, n_out, true)?;
            self.fit_outputs(w, model, &layouts)?;
        }
        // One deadline for the whole call, both runs included.
        w.deadline.arm(self.host.execution_timeout);
        self.run_once(w, model)?;
        // Shapes that depend on the data are known only now: run again into buffers that fit.
        let layouts = self.output_layouts(w, n_out, false)?;
        if self.fit_outputs(w, model, &layouts)? {
            self.run_once(w, model)?;
        }
        model
            .outputs
            .iter()
            .zip(&w.outputs)
            .map(|(info, b)| {
                let b = b.as_ref().ok_or(INVOKE_FAILED)?;
                Ok(TensorOut {
                    dtype: dtype_of(info.element_type).ok_or("Unsupported output data type")?,
                    shape: b.layout.dims().iter().map(|&d| d as i64).collect(),
                    data: read(&self.api, b)?,
                })
            })
            .collect()
    }
}

export_backend!(Tflite);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_redisai_dtype_the_backend_takes_maps_both_ways() {
        for (code, bits) in [
            (DL_FLOAT, 32),
            (DL_FLOAT, 64),
            (DL_INT, 8),
            (DL_INT, 16),
            (DL_INT, 32),
            (DL_INT, 64),
            (DL_UINT, 8),
            (DL_UINT, 16),
            (DL_BOOL, 8),
        ] {
            let d = DataType::new(code, bits);
            let e = element_of(d).unwrap();
            assert_eq!(dtype_of(e), Some(d));
            assert_eq!(element_size(e), Some(bits as usize / 8));
        }
        // STRING has no LiteRT counterpart here.
        assert_eq!(
            element_of(DataType::new(redisai_backend_api::DL_STRING, 8)),
            None
        );
    }
}
