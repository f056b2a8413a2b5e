//! The TF backend plugin (`libredisai_tf.so`): frozen TensorFlow GraphDefs run through TF's
//! stable C API (`TF_GraphImportGraphDef`, `TF_NewSession`, `TF_SessionRun`), from the
//! `libtensorflow_cc.so.2` / `libtensorflow_framework.so.2` of PyPI's tensorflow-cpu 2.21
//! wheel, opened when the plugin loads (`make deps-tf` puts them beside the plugin). Nothing
//! of TensorFlow is needed to build the plugin.
//!
//! RedisAI's semantics: the user names the graph's inputs (Placeholders) and outputs at
//! AI.MODELSTORE; a name is an operation, optionally `op:index` for another output than the
//! first. One session per model: `TF_SessionRun` may be called from several threads at once.
//!
//! MODEL_EXECUTION_TIMEOUT goes to TF itself as `RunOptions.timeout_in_ms`: TF's session
//! cancels the step when it expires (ops already running finish; none starts after) and
//! answers DEADLINE_EXCEEDED, which the plugin reports as timed out.

mod ffi;

use std::ffi::{c_int, CString};
use std::path::Path;
use std::sync::Arc;

use ffi::{Api, Status, TfGraph, TfOutput, TfSession, TfTString, TfTensor, TSTRING_SIZE};
use redisai_backend_api::{
    export_backend, Backend, DataType, Device, Host, Loaded, LogLevel, ModelRequest, RunError,
    TensorIn, TensorOut, DL_BOOL, DL_FLOAT, DL_INT, DL_STRING, DL_UINT,
};

/// The TensorFlow release this plugin is pinned to (what `make deps-tf` stages).
pub const TF_RELEASE: &str = "2.21";

pub struct Tf {
    api: Arc<Api>,
    version: String,
    host: Host,
}

pub struct TfModel {
    api: Arc<Api>,
    graph: *mut TfGraph,
    session: *mut TfSession,
    inputs: Vec<TfOutput>,
    outputs: Vec<TfOutput>,
    output_names: Vec<String>,
    /// A serialized `RunOptions` carrying the execution timeout; empty without one.
    run_options: Vec<u8>,
}

// SAFETY: the graph is not changed after the session is made, and a TF_Session may run from
// several threads at once (TF's documented contract for TF_SessionRun); the handles are freed
// once, in Drop, after every run ended (the ABI's threading contract).
unsafe impl Send for TfModel {}
// SAFETY: as for Send.
unsafe impl Sync for TfModel {}

impl Drop for TfModel {
    fn drop(&mut self) {
        let status = Status::new(&self.api);
        // SAFETY: made in `load`, freed once; the session (when one was made) is closed
        // first, as TF requires.
        unsafe {
            if !self.session.is_null() {
                (self.api.close_session)(self.session, status.raw);
                (self.api.delete_session)(self.session, status.raw);
            }
            (self.api.delete_graph)(self.graph);
        }
    }
}

/// Splits `op:index` (a plain `op` is output 0). A suffix that is not a number is part of
/// the operation's name.
pub fn parse_name(name: &str) -> (&str, c_int) {
    match name.rsplit_once(':') {
        Some((op, index))
            if !op.is_empty()
                && !index.is_empty()
                && index.len() <= 9
                && index.bytes().all(|b| b.is_ascii_digit()) =>
        {
            (op, index.parse().unwrap_or(0))
        }
        _ => (name, 0),
    }
}

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// The session's `ConfigProto`, serialized by hand (a few fields, no protobuf library):
/// on CPU `device_count {"GPU": 0}` as RedisAI set it; on GPU `gpu_options { allow_growth:
/// true, visible_device_list: "<n>" }`; then `intra_op_parallelism_threads` (field 2) and
/// `inter_op_parallelism_threads` (field 5) when configured.
pub fn config_proto(device: Device, intra: usize, inter: usize) -> Vec<u8> {
    let mut p = Vec::new();
    match device {
        Device::Cpu => p.extend_from_slice(&[0x0a, 0x07, 0x0a, 0x03, b'G', b'P', b'U', 0x10, 0x00]),
        Device::Gpu(index) => {
            let mut gpu = vec![0x20, 0x01];
            if let Some(i) = index {
                let list = i.to_string();
                gpu.push(0x2a);
                varint(list.len() as u64, &mut gpu);
                gpu.extend_from_slice(list.as_bytes());
            }
            p.push(0x32);
            varint(gpu.len() as u64, &mut p);
            p.extend_from_slice(&gpu);
        }
    }
    if intra > 0 {
        p.push(0x10);
        varint(intra as u64, &mut p);
    }
    if inter > 0 {
        p.push(0x28);
        varint(inter as u64, &mut p);
    }
    p
}

/// A serialized `RunOptions { timeout_in_ms: <ms> }` (field 2, a varint); empty for no limit.
pub fn run_options(timeout: Option<std::time::Duration>) -> Vec<u8> {
    let mut p = Vec::new();
    if let Some(ms) = timeout.map(|t| t.as_millis().max(1) as u64) {
        p.push(0x10);
        varint(ms, &mut p);
    }
    p
}

/// The TF type of a RedisAI tensor type, with its element size (0 for STRING).
fn tf_type(dtype: DataType) -> Option<(c_int, usize)> {
    Some(match (dtype.code, dtype.bits) {
        (DL_FLOAT, 32) => (ffi::TF_FLOAT, 4),
        (DL_FLOAT, 64) => (ffi::TF_DOUBLE, 8),
        (DL_INT, 8) => (ffi::TF_INT8, 1),
        (DL_INT, 16) => (ffi::TF_INT16, 2),
        (DL_INT, 32) => (ffi::TF_INT32, 4),
        (DL_INT, 64) => (ffi::TF_INT64, 8),
        (DL_UINT, 8) => (ffi::TF_UINT8, 1),
        (DL_UINT, 16) => (ffi::TF_UINT16, 2),
        (DL_BOOL, 8) => (ffi::TF_BOOL, 1),
        (DL_STRING, 8) => (ffi::TF_STRING, 0),
        _ => return None,
    })
}

/// The RedisAI tensor type of a TF type, with its element size.
fn dl_type(tf: c_int) -> Option<(DataType, usize)> {
    Some(match tf {
        ffi::TF_FLOAT => (DataType::new(DL_FLOAT, 32), 4),
        ffi::TF_DOUBLE => (DataType::new(DL_FLOAT, 64), 8),
        ffi::TF_INT8 => (DataType::new(DL_INT, 8), 1),
        ffi::TF_INT16 => (DataType::new(DL_INT, 16), 2),
        ffi::TF_INT32 => (DataType::new(DL_INT, 32), 4),
        ffi::TF_INT64 => (DataType::new(DL_INT, 64), 8),
        ffi::TF_UINT8 => (DataType::new(DL_UINT, 8), 1),
        ffi::TF_UINT16 => (DataType::new(DL_UINT, 16), 2),
        ffi::TF_BOOL => (DataType::new(DL_BOOL, 8), 1),
        _ => return None,
    })
}

/// Tensors made or received during one run, freed when it ends. `strings[i]` is the number of
/// `TF_TString`s this side initialised in `tensors[i]` (TF_DeleteTensor does not free what
/// they hold).
struct Tensors<'a> {
    api: &'a Api,
    tensors: Vec<*mut TfTensor>,
    strings: Vec<usize>,
}

impl<'a> Tensors<'a> {
    fn new(api: &'a Api, n: usize) -> Self {
        Tensors {
            api,
            tensors: vec![std::ptr::null_mut(); n],
            strings: vec![0; n],
        }
    }
}

impl Drop for Tensors<'_> {
    fn drop(&mut self) {
        for (&t, &n) in self.tensors.iter().zip(&self.strings) {
            if t.is_null() {
                continue;
            }
            // SAFETY: `t` is a live tensor of this run; its first `n` elements were
            // initialised by TF_StringInit, and it is deleted once.
            unsafe {
                let data = (self.api.tensor_data)(t) as *mut TfTString;
                for i in 0..n {
                    (self.api.string_dealloc)(data.add(i));
                }
                (self.api.delete_tensor)(t);
            }
        }
    }
}

fn element_count(shape: &[i64]) -> Option<usize> {
    shape.iter().try_fold(1usize, |n, &d| {
        usize::try_from(d).ok().and_then(|d| n.checked_mul(d))
    })
}

impl TfModel {
    /// Imports the graph of `request`, checks its names and makes the session.
    pub fn new(
        api: Arc<Api>,
        request: &ModelRequest<'_>,
        intra_op_threads: usize,
        inter_op_threads: usize,
        timeout: Option<std::time::Duration>,
    ) -> Result<TfModel, String> {
        let mut model = TfModel {
            run_options: run_options(timeout),
            // SAFETY: a plain constructor; the model owns the graph from here on.
            graph: unsafe { (api.new_graph)() },
            api,
            session: std::ptr::null_mut(),
            inputs: Vec::with_capacity(request.inputs.len()),
            outputs: Vec::with_capacity(request.outputs.len()),
            output_names: request.outputs.iter().map(|s| s.to_string()).collect(),
        };
        model.prepare(request, intra_op_threads, inter_op_threads)?;
        Ok(model)
    }

    /// Finds `name` (`op` or `op:index`) in the graph; `None` when it is not there (or, for an
    /// input, is not a placeholder: RedisAI fed only placeholders).
    fn find(&self, name: &str, input: bool) -> Option<TfOutput> {
        let graph = self.graph;
        let (op, index) = parse_name(name);
        let c = CString::new(op).ok()?;
        // SAFETY: a live graph and a NUL-terminated name; TF returns null when absent.
        unsafe {
            let oper = (self.api.operation_by_name)(graph, c.as_ptr());
            if oper.is_null() || index >= (self.api.operation_num_outputs)(oper) {
                return None;
            }
            if input && !ffi::cstr((self.api.operation_op_type)(oper)).starts_with("Placeholder") {
                return None;
            }
            Some(TfOutput { oper, index })
        }
    }

    /// Imports the graph, checks the names and makes the session (what was made is freed
    /// with the model, also on error).
    fn prepare(
        &mut self,
        request: &ModelRequest<'_>,
        intra_op_threads: usize,
        inter_op_threads: usize,
    ) -> Result<(), String> {
        let api = self.api.clone();
        let graph = self.graph;
        let status = Status::new(&api);
        let buffer = ffi::TfBuffer {
            data: request.blob.as_ptr().cast(),
            length: request.blob.len(),
            data_deallocator: None,
        };
        // SAFETY: live graph, options and status; the buffer borrows the blob for the call.
        unsafe {
            let options = (api.new_import_options)();
            (api.import_graph_def)(graph, &buffer, options, status.raw);
            (api.delete_import_options)(options);
        }
        status.check()?;

        for name in &request.inputs {
            let input = self
                .find(name, true)
                .ok_or_else(|| format!("ERR Input node named \"{name}\" not found in TF graph."))?;
            self.inputs.push(input);
        }
        for name in &request.outputs {
            let output = self
                .find(name, false)
                .ok_or_else(|| format!("ERR Output node named \"{name}\" not found in TF graph"))?;
            self.outputs.push(output);
        }

        let config = config_proto(request.device, intra_op_threads, inter_op_threads);
        // SAFETY: live options and status; the config bytes are read during the call.
        let options = unsafe { (api.new_session_options)() };
        unsafe { (api.set_config)(options, config.as_ptr().cast(), config.len(), status.raw) };
        self.session = match status.check() {
            // SAFETY: a live graph and options.
            Ok(()) => unsafe { (api.new_session)(graph, options, status.raw) },
            Err(e) => {
                // SAFETY: made above, deleted once.
                unsafe { (api.delete_session_options)(options) };
                return Err(e);
            }
        };
        // SAFETY: made above, deleted once (the session keeps what it needs).
        unsafe { (api.delete_session_options)(options) };
        status.check()?;
        if self.session.is_null() {
            return Err("TF backend: TF_NewSession returned no session".into());
        }
        if matches!(request.device, Device::Gpu(_)) && !self.has_gpu() {
            return Err("ERR GPU requested but TF couldn't find CUDA".into());
        }
        Ok(())
    }

    fn has_gpu(&self) -> bool {
        let api = &*self.api;
        let session = self.session;
        let status = Status::new(api);
        // SAFETY: a live session; the list is deleted once; types are static strings of it.
        unsafe {
            let list = (api.session_list_devices)(session, status.raw);
            if list.is_null() {
                return false;
            }
            let found = (0..(api.device_list_count)(list))
                .any(|i| ffi::cstr((api.device_list_type)(list, i, status.raw)) == "GPU");
            (api.delete_device_list)(list);
            found
        }
    }

    /// A TF tensor holding a copy of `t`, recorded in `slot` of `made`.
    fn tensor_in(
        &self,
        t: &TensorIn<'_>,
        made: &mut Tensors<'_>,
        slot: usize,
    ) -> Result<(), RunError> {
        let api = &*self.api;
        let (ty, size) = tf_type(t.dtype).ok_or_else(|| {
            format!(
                "TF backend: unsupported input type (code {}, {} bits)",
                t.dtype.code, t.dtype.bits
            )
        })?;
        let n = element_count(t.shape).ok_or("TF backend: invalid input shape")?;
        let ndims =
            c_int::try_from(t.shape.len()).map_err(|_| "TF backend: too many dimensions")?;
        if ty == ffi::TF_STRING {
            let strings: Vec<&[u8]> = t.strings().collect();
            if strings.len() != n {
                return Err("TF backend: STRING tensor has the wrong number of elements".into());
            }
            let bytes = n
                .checked_mul(TSTRING_SIZE)
                .ok_or("TF backend: tensor too large")?;
            // SAFETY: a shape of `ndims` dimensions and a buffer of exactly `n` TF_TStrings;
            // each is initialised before TF reads it and released by `made`.
            unsafe {
                let tensor = (api.allocate_tensor)(ty, t.shape.as_ptr(), ndims, bytes);
                if tensor.is_null() {
                    return Err("TF backend: could not allocate an input tensor".into());
                }
                made.tensors[slot] = tensor;
                let data = (api.tensor_data)(tensor) as *mut TfTString;
                for (i, s) in strings.iter().enumerate() {
                    (api.string_init)(data.add(i));
                    made.strings[slot] = i + 1;
                    (api.string_copy)(data.add(i), s.as_ptr().cast(), s.len());
                }
            }
        } else {
            let bytes = n.checked_mul(size).ok_or("TF backend: tensor too large")?;
            if bytes != t.data.len() {
                return Err(format!(
                    "TF backend: input holds {} bytes, its shape needs {bytes}",
                    t.data.len()
                )
                .into());
            }
            // SAFETY: TF allocates `bytes` bytes for the shape; exactly that many are copied.
            unsafe {
                let tensor = (api.allocate_tensor)(ty, t.shape.as_ptr(), ndims, bytes);
                if tensor.is_null() {
                    return Err("TF backend: could not allocate an input tensor".into());
                }
                made.tensors[slot] = tensor;
                if bytes > 0 {
                    let dst = (api.tensor_data)(tensor) as *mut u8;
                    std::ptr::copy_nonoverlapping(t.data.as_ptr(), dst, bytes);
                }
            }
        }
        Ok(())
    }

    /// Copies a TF output into a RedisAI tensor.
    fn tensor_out(&self, t: *mut TfTensor, name: &str) -> Result<TensorOut, RunError> {
        let api = &*self.api;
        if t.is_null() {
            return Err(format!("TF backend: no value for output '{name}'").into());
        }
        // SAFETY: a live output tensor of this run; sizes come from TF itself.
        unsafe {
            let shape: Vec<i64> = (0..(api.num_dims)(t)).map(|i| (api.dim)(t, i)).collect();
            let ty = (api.tensor_type)(t);
            let count = usize::try_from((api.tensor_element_count)(t)).unwrap_or(0);
            let data = (api.tensor_data)(t);
            if ty == ffi::TF_STRING {
                let mut elements = Vec::with_capacity(count);
                for i in 0..count {
                    let s = (data as *const TfTString).add(i);
                    let len = (api.string_size)(s);
                    let p = (api.string_data)(s);
                    let bytes = if len == 0 || p.is_null() {
                        &[][..]
                    } else {
                        std::slice::from_raw_parts(p.cast::<u8>(), len)
                    };
                    if bytes.contains(&0) {
                        return Err(format!(
                            "TF backend: output '{name}' has a string containing NUL"
                        )
                        .into());
                    }
                    elements.push(bytes);
                }
                return Ok(TensorOut::strings(shape, &elements));
            }
            let (dtype, size) = dl_type(ty).ok_or_else(|| {
                format!(
                    "TF backend: output '{name}' has TF type {ty}, which RedisAI tensors cannot hold"
                )
            })?;
            let bytes = (api.tensor_byte_size)(t);
            if Some(bytes) != count.checked_mul(size) {
                return Err(format!("TF backend: output '{name}' has an unexpected size").into());
            }
            let data = if bytes == 0 {
                Vec::new()
            } else {
                std::slice::from_raw_parts(data as *const u8, bytes).to_vec()
            };
            Ok(TensorOut { dtype, shape, data })
        }
    }

    /// Runs the session once on `inputs` (thread-safe: TF_SessionRun is).
    pub fn run(&self, inputs: &[TensorIn<'_>]) -> Result<Vec<TensorOut>, RunError> {
        let model = self;
        let api = &*self.api;
        if inputs.len() != model.inputs.len() {
            return Err(format!(
                "TF backend: the model takes {} inputs, {} given",
                model.inputs.len(),
                inputs.len()
            )
            .into());
        }
        let mut ins = Tensors::new(api, inputs.len());
        for (i, t) in inputs.iter().enumerate() {
            self.tensor_in(t, &mut ins, i)?;
        }
        let mut outs = Tensors::new(api, model.outputs.len());
        let status = Status::new(api);
        let options = ffi::TfBuffer {
            data: model.run_options.as_ptr().cast(),
            length: model.run_options.len(),
            data_deallocator: None,
        };
        let options: *const ffi::TfBuffer = if model.run_options.is_empty() {
            std::ptr::null()
        } else {
            &options
        };
        // SAFETY: a live session; input ports and tensors pair up; TF fills `outs.tensors`
        // (owned by `outs` from here on); the options buffer borrows bytes of the model.
        unsafe {
            (api.session_run)(
                model.session,
                options,
                model.inputs.as_ptr(),
                ins.tensors.as_ptr(),
                model.inputs.len() as c_int,
                model.outputs.as_ptr(),
                outs.tensors.as_mut_ptr(),
                model.outputs.len() as c_int,
                std::ptr::null(),
                0,
                std::ptr::null_mut(),
                status.raw,
            )
        };
        // A run past MODEL_EXECUTION_TIMEOUT fails with TensorFlow's DEADLINE_EXCEEDED text:
        // an error, as ONNX's does, never a status a client could take for success.
        if status.code() != ffi::TF_OK {
            return Err(RunError::Failed(status.check().err().unwrap_or_default()));
        }
        // Outputs are copied while the inputs still live: an output may share an input's
        // buffer (Identity does), whose strings go when `ins` is dropped.
        let result = outs
            .tensors
            .iter()
            .zip(&model.output_names)
            .map(|(&t, name)| self.tensor_out(t, name))
            .collect();
        drop(outs);
        drop(ins);
        result
    }
}

impl Backend for Tf {
    type Model = TfModel;
    type Script = ();
    const NAME: &'static str = "TF";

    fn new(host: Host) -> Result<Self, String> {
        let dir = host
            .plugin_path
            .parent()
            .unwrap_or(Path::new("."))
            .to_path_buf();
        let api = Api::open(&dir)?;
        let version = api.version_string();
        if !version.starts_with(&format!("{TF_RELEASE}.")) {
            return Err(format!(
                "TensorFlow {version} in {} is not supported: this backend needs {TF_RELEASE}.x \
                 (run `make deps-tf`)",
                dir.display()
            ));
        }
        host.log(
            LogLevel::Notice,
            &format!("TF backend: TensorFlow {version} from {}", dir.display()),
        );
        Ok(Tf {
            api: Arc::new(api),
            version,
            host,
        })
    }

    fn engine_version(&self) -> String {
        self.version.clone()
    }

    fn load(&self, request: &ModelRequest<'_>) -> Result<Loaded<TfModel>, String> {
        let model = TfModel::new(
            self.api.clone(),
            request,
            self.host.intra_op_threads,
            self.host.inter_op_threads,
            self.host.execution_timeout,
        )?;
        Ok(Loaded {
            model,
            inputs: request.inputs.iter().map(|s| s.to_string()).collect(),
            outputs: request.outputs.iter().map(|s| s.to_string()).collect(),
        })
    }

    fn run(
        &self,
        model: &TfModel,
        _worker: usize,
        inputs: &[TensorIn<'_>],
    ) -> Result<Vec<TensorOut>, RunError> {
        model.run(inputs)
    }
}

export_backend!(Tf);

#[cfg(test)]
mod tests;
