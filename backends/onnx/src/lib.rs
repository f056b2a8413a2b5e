//! The ONNX backend plugin (`libredisai_onnx.so`): ONNX Runtime through the `ort` crate,
//! loaded at run time from `libonnxruntime.so` (nothing of ONNX Runtime is linked in).
//!
//! Sessions: `ort`'s `Session::run` takes `&mut self`, so a stored model keeps one session per
//! worker thread of its device queue (the host guarantees a worker index is never used by two
//! runs of one model at once). The first session is made when the model is stored, which
//! validates it and gives the input/output names; the others are made on first use.
//!
//! Timeouts: a run that exceeds MODEL_EXECUTION_TIMEOUT is stopped through its `RunOptions`
//! by a watchdog thread, and reported as timed out.

pub mod external;
mod watchdog;

use std::borrow::Cow;
use std::ffi::{c_char, CStr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use ort::environment::Environment;
use ort::ep::ExecutionProvider;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::{RunOptions, Session, SessionInputValue};
use ort::value::{DynValue, Tensor, TensorElementType, TensorRef, ValueType};
use redisai_backend_api::{
    export_backend, Backend, DataType, Device, Host, Loaded, LogLevel, ModelRequest, RunError,
    TensorIn, TensorOut, DL_BOOL, DL_FLOAT, DL_INT, DL_STRING, DL_UINT,
};

use watchdog::Watchdog;

/// The ONNX Runtime release this plugin's `ort` was written for. Other releases can abort the
/// process on their first session (a different C ABI behind the same names), so the library
/// is checked before `ort` touches it.
pub const ORT_RELEASE: &str = "1.31";

pub struct Onnx {
    env: Environment,
    version: String,
    host: Host,
    watchdog: Option<Watchdog>,
}

pub struct OnnxModel {
    /// One slot per worker thread; slot 0 is filled when the model is stored.
    sessions: Vec<Mutex<Option<Session>>>,
    /// Kept only when more than one worker may need a session of its own.
    blob: Option<Vec<u8>>,
    device: Device,
    outputs: Vec<String>,
}

/// The library file that the engine is loaded from: the configured path, or the file beside
/// the plugin, or `ORT_DYLIB_PATH`.
fn engine_path(host: &Host) -> Result<PathBuf, String> {
    if let Some(p) = &host.engine_path {
        return Ok(p.clone());
    }
    let dir = host.plugin_path.parent().unwrap_or(Path::new("."));
    let beside = [
        "libonnxruntime.so.1.31.1",
        "libonnxruntime.so.1",
        "libonnxruntime.so",
    ]
    .iter()
    .map(|n| dir.join(n))
    .find(|p| p.exists());
    if let Some(p) = beside {
        return Ok(p);
    }
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    Err(format!(
        "libonnxruntime.so not found beside {} (run `make deps`, or set ai.onnxruntime_path)",
        host.plugin_path.display()
    ))
}

/// Reads the version of the ONNX Runtime library at `path` without initialising it.
fn engine_version(path: &Path) -> Result<String, String> {
    #[repr(C)]
    struct ApiBase {
        get_api: unsafe extern "C" fn(u32) -> *const std::ffi::c_void,
        get_version_string: unsafe extern "C" fn() -> *const c_char,
    }
    // SAFETY: loading ONNX Runtime runs no code of ours; OrtGetApiBase is its documented
    // entry point and returns a static table.
    unsafe {
        let lib = libloading::Library::new(path)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        let base: libloading::Symbol<unsafe extern "C" fn() -> *const ApiBase> = lib
            .get(b"OrtGetApiBase\0")
            .map_err(|_| format!("{} is not ONNX Runtime (no OrtGetApiBase)", path.display()))?;
        let base = base();
        if base.is_null() {
            return Err(format!(
                "{}: OrtGetApiBase returned nothing",
                path.display()
            ));
        }
        let v = ((*base).get_version_string)();
        if v.is_null() {
            return Err(format!("{}: no version string", path.display()));
        }
        Ok(CStr::from_ptr(v).to_string_lossy().into_owned())
    }
}

fn ort_err<R>(e: ort::Error<R>) -> String {
    e.message().to_string()
}

impl Onnx {
    fn new_session(&self, blob: &[u8], device: Device) -> Result<Session, String> {
        let mut builder = Session::builder(&self.env)
            .map_err(ort_err)?
            .with_optimization_level(GraphOptimizationLevel::Level1)
            .map_err(ort_err)?;
        if self.host.intra_op_threads > 0 {
            builder = builder
                .with_intra_threads(self.host.intra_op_threads)
                .map_err(ort_err)?;
        }
        if self.host.inter_op_threads > 0 {
            builder = builder
                .with_parallel_execution(true)
                .map_err(ort_err)?
                .with_inter_threads(self.host.inter_op_threads)
                .map_err(ort_err)?;
        }
        if let Device::Gpu(index) = device {
            let cuda = ort::ep::CUDA::default().with_device_id(index.unwrap_or(0) as i32);
            if !ort::ep::CUDA::is_available().unwrap_or(false)
                || cuda.register(&mut builder).is_err()
            {
                return Err("ERR GPU requested but ONNX couldn't find CUDA".into());
            }
        }
        builder.commit_from_memory(blob).map_err(ort_err)
    }
}

impl Backend for Onnx {
    type Model = OnnxModel;
    type Script = ();
    const NAME: &'static str = "ONNX";

    fn new(host: Host) -> Result<Self, String> {
        let path = engine_path(&host)?;
        let version = engine_version(&path)?;
        if !version.starts_with(&format!("{ORT_RELEASE}.")) {
            return Err(format!(
                "ONNX Runtime {version} at {} is not supported: this backend needs {ORT_RELEASE}.x \
                 (run `make deps`)",
                path.display()
            ));
        }
        let env = ort::init_from(&path)
            .map_err(|e| e.to_string())?
            .with_name("redisai")
            .build()
            .map_err(ort_err)?;
        host.log(
            LogLevel::Notice,
            &format!(
                "ONNX backend: ONNX Runtime {version} from {}",
                path.display()
            ),
        );
        let watchdog = host.execution_timeout.map(Watchdog::start);
        Ok(Onnx {
            env,
            version,
            host,
            watchdog,
        })
    }

    fn engine_version(&self) -> String {
        self.version.clone()
    }

    fn load(&self, request: &ModelRequest<'_>) -> Result<Loaded<OnnxModel>, String> {
        match external::scan(request.blob) {
            external::Verdict::Clean => {}
            external::Verdict::External => return Err(external::EXTERNAL_DATA.into()),
            external::Verdict::TooDeep => {
                return Err("Failed to load model because protobuf parsing failed.".into())
            }
        }
        let session = self.new_session(request.blob, request.device)?;
        let inputs = session
            .inputs()
            .iter()
            .map(|i| i.name().to_string())
            .collect();
        let outputs: Vec<String> = session
            .outputs()
            .iter()
            .map(|o| o.name().to_string())
            .collect();
        let workers = self.host.threads_per_queue.max(1);
        let mut sessions = Vec::with_capacity(workers);
        sessions.push(Mutex::new(Some(session)));
        sessions.extend((1..workers).map(|_| Mutex::new(None)));
        Ok(Loaded {
            model: OnnxModel {
                sessions,
                blob: (workers > 1).then(|| request.blob.to_vec()),
                device: request.device,
                outputs: outputs.clone(),
            },
            inputs,
            outputs,
        })
    }

    fn run(
        &self,
        model: &OnnxModel,
        worker: usize,
        inputs: &[TensorIn<'_>],
    ) -> Result<Vec<TensorOut>, RunError> {
        let slot = &model.sessions[worker % model.sessions.len()];
        let mut guard = slot.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            let blob = model
                .blob
                .as_deref()
                .ok_or("ONNX backend: no model to open a session from")?;
            *guard = Some(self.new_session(blob, model.device)?);
        }
        let session = guard.as_mut().ok_or("ONNX backend: no session")?;

        let owned: Vec<Input<'_>> = inputs
            .iter()
            .map(Input::from_tensor)
            .collect::<Result<_, _>>()?;
        let values: Vec<SessionInputValue<'_>> =
            owned.iter().map(|i| i.value()).collect::<Result<_, _>>()?;

        // Run options exist only to be terminated; without a watchdog none are made.
        let options = match &self.watchdog {
            Some(_) => Some(Arc::new(RunOptions::new().map_err(ort_err)?)),
            None => None,
        };
        let ticket = self
            .watchdog
            .as_ref()
            .zip(options.as_ref())
            .map(|(w, o)| w.watch(o.clone()));
        let result = match &options {
            Some(o) => session.run_with_options(&values[..], o),
            None => session.run(&values[..]),
        };
        // A run the watchdog stopped fails with ONNX Runtime's own text ("... Exiting due to
        // terminate flag being set to true."), as RedisAI answered: an error, never a status a
        // client could take for success.
        if let Some(t) = ticket {
            t.finish();
        }
        let outputs = match result {
            Ok(o) => o,
            Err(e) => return Err(RunError::Failed(e.message().to_string())),
        };
        model
            .outputs
            .iter()
            .enumerate()
            .map(|(i, name)| match outputs.get(name.as_str()) {
                Some(v) => output(name, v),
                None => Err(RunError::Failed(format!(
                    "ONNX backend: no output {i} ({name})"
                ))),
            })
            .collect()
    }
}

/// An input converted to what `ort` takes: numeric data as a typed slice (borrowed when the
/// host's bytes are aligned for the type, copied otherwise), strings as UTF-8.
enum Input<'a> {
    F32(&'a [i64], Cow<'a, [f32]>),
    F64(&'a [i64], Cow<'a, [f64]>),
    I8(&'a [i64], Cow<'a, [i8]>),
    I16(&'a [i64], Cow<'a, [i16]>),
    I32(&'a [i64], Cow<'a, [i32]>),
    I64(&'a [i64], Cow<'a, [i64]>),
    U8(&'a [i64], &'a [u8]),
    U16(&'a [i64], Cow<'a, [u16]>),
    Bool(&'a [i64], Vec<bool>),
    Str(&'a [i64], Vec<String>),
}

/// Plain numbers whose every bit pattern is a valid value.
trait Plain: Copy + Default + 'static {}
impl Plain for f32 {}
impl Plain for f64 {}
impl Plain for i8 {}
impl Plain for i16 {}
impl Plain for i32 {}
impl Plain for i64 {}
impl Plain for u16 {}

fn typed<T: Plain>(bytes: &[u8]) -> Result<Cow<'_, [T]>, RunError> {
    let size = std::mem::size_of::<T>();
    if bytes.len() % size != 0 {
        return Err("ONNX backend: tensor data is not a whole number of elements".into());
    }
    let n = bytes.len() / size;
    if bytes.as_ptr() as usize % std::mem::align_of::<T>() == 0 {
        // SAFETY: aligned, in bounds, and every bit pattern is a valid T.
        Ok(Cow::Borrowed(unsafe {
            std::slice::from_raw_parts(bytes.as_ptr().cast::<T>(), n)
        }))
    } else {
        let mut v = vec![T::default(); n];
        // SAFETY: `v` has exactly `bytes.len()` bytes of plain values.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), v.as_mut_ptr().cast::<u8>(), bytes.len())
        };
        Ok(Cow::Owned(v))
    }
}

impl<'a> Input<'a> {
    fn from_tensor(t: &TensorIn<'a>) -> Result<Input<'a>, RunError> {
        let s = t.shape;
        Ok(match (t.dtype.code, t.dtype.bits) {
            (DL_FLOAT, 32) => Input::F32(s, typed(t.data)?),
            (DL_FLOAT, 64) => Input::F64(s, typed(t.data)?),
            (DL_INT, 8) => Input::I8(s, typed(t.data)?),
            (DL_INT, 16) => Input::I16(s, typed(t.data)?),
            (DL_INT, 32) => Input::I32(s, typed(t.data)?),
            (DL_INT, 64) => Input::I64(s, typed(t.data)?),
            (DL_UINT, 8) => Input::U8(s, t.data),
            (DL_UINT, 16) => Input::U16(s, typed(t.data)?),
            (DL_BOOL, 8) => Input::Bool(s, t.data.iter().map(|&b| b != 0).collect()),
            (DL_STRING, 8) => Input::Str(
                s,
                t.strings()
                    .map(|e| std::str::from_utf8(e).map(str::to_string))
                    .collect::<Result<_, _>>()
                    .map_err(|_| "ONNX backend: STRING tensor elements must be UTF-8")?,
            ),
            (code, bits) => {
                return Err(format!(
                    "ONNX backend: unsupported input type (code {code}, {bits} bits)"
                )
                .into())
            }
        })
    }

    fn value(&self) -> Result<SessionInputValue<'_>, RunError> {
        fn view<
            'v,
            T: ort::value::PrimitiveTensorElementType + std::fmt::Debug + Clone + 'static,
        >(
            shape: &'v [i64],
            data: &'v [T],
        ) -> Result<SessionInputValue<'v>, RunError> {
            Ok(TensorRef::from_array_view((shape, data))
                .map_err(ort_err)?
                .into())
        }
        match self {
            Input::F32(s, d) => view(s, d),
            Input::F64(s, d) => view(s, d),
            Input::I8(s, d) => view(s, d),
            Input::I16(s, d) => view(s, d),
            Input::I32(s, d) => view(s, d),
            Input::I64(s, d) => view(s, d),
            Input::U8(s, d) => view(s, d),
            Input::U16(s, d) => view(s, d),
            Input::Bool(s, d) => view(s, d),
            Input::Str(s, d) => {
                let t = Tensor::from_string_array((s.to_vec(), &d[..])).map_err(ort_err)?;
                Ok(t.into_dyn().into())
            }
        }
    }
}

fn to_bytes<T: Copy>(data: &[T]) -> Vec<u8> {
    let n = std::mem::size_of_val(data);
    let mut out = vec![0u8; n];
    // SAFETY: copying the bytes of plain values into a buffer of the same size.
    unsafe { std::ptr::copy_nonoverlapping(data.as_ptr().cast::<u8>(), out.as_mut_ptr(), n) };
    out
}

fn output(name: &str, v: &DynValue) -> Result<TensorOut, RunError> {
    let ty = match v.dtype() {
        ValueType::Tensor { ty, .. } => *ty,
        // Sequences and maps (e.g. scikit-learn classifiers' probabilities) are not tensors.
        _ => return Ok(TensorOut::absent()),
    };
    macro_rules! numeric {
        ($t:ty, $code:expr, $bits:expr) => {{
            let (shape, data) = v.try_extract_tensor::<$t>().map_err(ort_err)?;
            TensorOut {
                dtype: DataType::new($code, $bits),
                shape: shape.to_vec(),
                data: to_bytes(data),
            }
        }};
    }
    Ok(match ty {
        TensorElementType::Float32 => numeric!(f32, DL_FLOAT, 32),
        TensorElementType::Float64 => numeric!(f64, DL_FLOAT, 64),
        TensorElementType::Int8 => numeric!(i8, DL_INT, 8),
        TensorElementType::Int16 => numeric!(i16, DL_INT, 16),
        TensorElementType::Int32 => numeric!(i32, DL_INT, 32),
        TensorElementType::Int64 => numeric!(i64, DL_INT, 64),
        TensorElementType::Uint8 => numeric!(u8, DL_UINT, 8),
        TensorElementType::Uint16 => numeric!(u16, DL_UINT, 16),
        TensorElementType::Bool => {
            let (shape, data) = v.try_extract_tensor::<bool>().map_err(ort_err)?;
            TensorOut {
                dtype: DataType::new(DL_BOOL, 8),
                shape: shape.to_vec(),
                data: data.iter().map(|&b| b as u8).collect(),
            }
        }
        TensorElementType::String => {
            let (shape, strings) = v.try_extract_strings().map_err(ort_err)?;
            if strings.iter().any(|s| s.contains('\0')) {
                return Err(format!("ONNX backend: output '{name}' has a string containing NUL").into());
            }
            TensorOut::strings(shape.to_vec(), &strings)
        }
        other => {
            return Err(format!(
                "ONNX backend: output '{name}' has element type {other:?}, which RedisAI tensors cannot hold"
            )
            .into())
        }
    })
}

export_backend!(Onnx);
