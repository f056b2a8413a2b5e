//! The TORCH backend plugin (`libredisai_torch.so`): TorchScript models and TorchScript
//! scripts on libtorch 2.13 (the CPU part of PyPI's torch wheel, staged by `make deps-torch`).
//!
//! libtorch is reached through a small C++ shim (`src/shim.cpp`, C API in `src/shim.h`,
//! Rust side in `src/ffi.rs`): scripts need `torch::jit::compile` with RedisAI's resolver
//! (`torch`, `redis`, `redisAI`) and custom TorchScript operators (`redis::execute`,
//! `redis::asList`, `redisAI::model_execute`), which no Rust binding exposes. No C++ exception
//! crosses into Rust (the shim catches everything) and no panic crosses into C++ (the host
//! callbacks below catch them).
//!
//! A script's `redis.execute` and `redisAI.model_execute` reach the [`ScriptHost`] of the run
//! in progress on the calling thread: `script_run` hands the shim an `rt_host` whose context
//! is that host, and the shim keeps it in a thread-local for the duration of the run.
//!
//! Built without libtorch (no `make deps-torch`), the plugin still builds, but refuses to load.
//!
//! Not supported: GPU (the staged libtorch is CPU-only: `GPU` fails with RedisAI's
//! `GPU requested but Torch couldn't find CUDA`), execution timeouts (a TorchScript run
//! cannot be interrupted; RedisAI's Torch backend has none either).

#[cfg(has_libtorch)]
mod ffi;

use redisai_backend_api::{
    export_backend, Backend, Host, Loaded, ModelRequest, RunError, ScriptCall, ScriptHost,
    ScriptRequest, TensorIn, TensorOut,
};

#[cfg(has_libtorch)]
use redisai_backend_api::{ByteSink, Bytes, Device, LogLevel, Reply, TensorSink, TensorView};
#[cfg(has_libtorch)]
use std::ffi::c_void;
#[cfg(has_libtorch)]
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Why a plugin built without libtorch refuses to load.
pub const NO_LIBTORCH: &str =
    "the TORCH backend was built without libtorch: run `make deps-torch` and rebuild";

pub struct Torch {
    #[cfg(has_libtorch)]
    version: String,
}

/// A stored TorchScript model.
pub struct TorchModel {
    #[cfg(has_libtorch)]
    model: ffi::Model,
}

/// A compiled TorchScript script and the functions AI.SCRIPTEXECUTE may call.
pub struct TorchScript {
    #[cfg(has_libtorch)]
    script: ffi::Script,
    #[cfg(has_libtorch)]
    entry_points: Vec<String>,
}

#[cfg(has_libtorch)]
fn device_index(device: Device) -> i32 {
    match device {
        Device::Cpu => -1,
        Device::Gpu(index) => index.map_or(0, |i| i32::try_from(i).unwrap_or(i32::MAX)),
    }
}

#[cfg(has_libtorch)]
impl Backend for Torch {
    type Model = TorchModel;
    type Script = TorchScript;
    const NAME: &'static str = "TORCH";

    fn new(host: Host) -> Result<Self, String> {
        ffi::init()?;
        if let Err(e) = ffi::set_threads(host.intra_op_threads, host.inter_op_threads) {
            host.log(LogLevel::Warning, &format!("TORCH backend: {e}"));
        }
        let version = ffi::version();
        host.log(
            LogLevel::Notice,
            &format!(
                "TORCH backend: libtorch {version} from {}{}",
                env!("REDISAI_LIBTORCH_DIR"),
                if ffi::cuda_available() {
                    ", CUDA available"
                } else {
                    ", CPU only"
                }
            ),
        );
        Ok(Torch { version })
    }

    fn engine_version(&self) -> String {
        self.version.clone()
    }

    fn load(&self, request: &ModelRequest<'_>) -> Result<Loaded<TorchModel>, String> {
        let model = ffi::Model::load(request.blob, device_index(request.device))?;
        let inputs = model.input_names();
        let outputs = (0..model.num_outputs())
            .map(|i| format!("output_{i}"))
            .collect();
        Ok(Loaded {
            model: TorchModel { model },
            inputs,
            outputs,
        })
    }

    fn run(
        &self,
        model: &TorchModel,
        _worker: usize,
        inputs: &[TensorIn<'_>],
    ) -> Result<Vec<TensorOut>, RunError> {
        Ok(model.model.run(inputs)?)
    }

    fn script_load(&self, request: &ScriptRequest<'_>) -> Result<TorchScript, String> {
        let script = ffi::Script::compile(request.source, device_index(request.device))?;
        for &f in &request.entry_points {
            check_entry_point(&script, f)?;
        }
        Ok(TorchScript {
            script,
            entry_points: request.entry_points.iter().map(|s| s.to_string()).collect(),
        })
    }

    fn script_run(
        &self,
        script: &TorchScript,
        call: &ScriptCall<'_>,
        host: &ScriptHost<'_>,
    ) -> Result<Vec<TensorOut>, RunError> {
        let entry = script.entry_points.iter().any(|e| e == call.function);
        let mode = if entry {
            for (what, list) in [("KEYS", &call.keys), ("ARGS", &call.args)] {
                if let Some(i) = list.iter().position(|s| std::str::from_utf8(s).is_err()) {
                    return Err(format!(
                        "{what} of a TorchScript function must be UTF-8 text ({} {i} is not)",
                        what.to_ascii_lowercase().trim_end_matches('s')
                    )
                    .into());
                }
            }
            ffi::RT_CALL_ENTRY_POINT
        } else {
            // Scripts stored by AI.SCRIPTSET (no entry points), or a function that is not one.
            ffi::RT_CALL_LEGACY
        };
        let rt_host = ffi::RtHost {
            ctx: host as *const ScriptHost<'_> as *mut c_void,
            redis_call: Some(host_redis_call),
            model_execute: Some(host_model_execute),
        };
        Ok(script.script.run(
            call.function,
            mode,
            &call.inputs,
            &call.keys,
            &call.args,
            &rt_host,
        )?)
    }
}

/// RedisAI's checks of an entry point: it exists and reads
/// `(tensors: List[Tensor], keys: List[str], args: List[str])`.
#[cfg(has_libtorch)]
fn check_entry_point(script: &ffi::Script, f: &str) -> Result<(), String> {
    use ffi::ArgKind;
    let kinds = script
        .signature(f)
        .ok_or_else(|| format!("Function {f} does not exist in the given script."))?;
    if kinds.len() != 3 {
        return Err(format!(
            "Wrong number of inputs in function {f}. Expected 3 but was {}",
            kinds.len()
        ));
    }
    if kinds
        != [
            ArgKind::TensorList,
            ArgKind::StringList,
            ArgKind::StringList,
        ]
    {
        return Err(format!(
            "Wrong inputs type in function {f}. Expected signature similar to: \
             def {f}(tensors: List[Tensor], keys: List[str], args: List[str])"
        ));
    }
    Ok(())
}

/// Strings of a reply as the script sees them: UTF-8 (invalid bytes replaced); an error
/// inside an array becomes a string.
#[cfg(has_libtorch)]
fn script_reply(r: Reply) -> Reply {
    let text = |b: Vec<u8>| match String::from_utf8(b) {
        Ok(s) => s.into_bytes(),
        Err(e) => String::from_utf8_lossy(e.as_bytes())
            .into_owned()
            .into_bytes(),
    };
    match r {
        Reply::Str(b) | Reply::Error(b) => Reply::Str(text(b)),
        Reply::Array(items) => Reply::Array(items.into_iter().map(script_reply).collect()),
        other => other,
    }
}

/// `rt_host.redis_call`: `redis.execute` of the running script.
#[cfg(has_libtorch)]
unsafe extern "C" fn host_redis_call(
    ctx: *mut c_void,
    argv: *const Bytes,
    argc: usize,
    reply: *const ByteSink,
) -> i32 {
    let result = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: ctx is the &ScriptHost of script_run, alive for the whole run; argv is
        // valid for the call.
        let host = unsafe { &*(ctx as *const ScriptHost<'_>) };
        let args: Vec<&[u8]> = unsafe { ffi::slice(argv, argc) }
            .iter()
            .map(|b| unsafe { b.as_slice() })
            .collect();
        host.redis_call(&args).map(|r| {
            let mut out = Vec::new();
            script_reply(r).encode(&mut out);
            out
        })
    }));
    let (status, bytes) = match result {
        Ok(Ok(encoded)) => (ffi::RT_OK, encoded),
        Ok(Err(e)) => (ffi::RT_ERROR, e.into_bytes()),
        Err(_) => (
            ffi::RT_ERROR,
            b"panic in the TORCH backend during redis.execute".to_vec(),
        ),
    };
    // SAFETY: the shim's sink, valid for the call.
    unsafe {
        let sink = &*reply;
        (sink.put)(sink.ctx, bytes.as_ptr(), bytes.len());
    }
    status
}

/// `rt_host.model_execute`: `redisAI.model_execute` of the running script.
#[cfg(has_libtorch)]
unsafe extern "C" fn host_model_execute(
    ctx: *mut c_void,
    key: Bytes,
    inputs: *const TensorView,
    n_inputs: usize,
    outputs: *const TensorSink,
    error: *const ByteSink,
) -> i32 {
    let result = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: ctx is the &ScriptHost of script_run; key and views are valid for the call.
        let host = unsafe { &*(ctx as *const ScriptHost<'_>) };
        let ins: Vec<TensorIn<'_>> = unsafe { ffi::slice(inputs, n_inputs) }
            .iter()
            .map(|v| unsafe { ffi::tensor_in(v) })
            .collect();
        host.model_execute(unsafe { key.as_slice() }, &ins)
    }));
    let text = match result {
        Ok(Ok(outs)) => {
            // SAFETY: the shim's sink copies each view during the call.
            let sink = unsafe { &*outputs };
            for o in &outs {
                let v = o.view();
                unsafe { (sink.put)(sink.ctx, &v) };
            }
            return ffi::RT_OK;
        }
        Ok(Err(e)) => e,
        Err(_) => "panic in the TORCH backend during redisAI.model_execute".to_string(),
    };
    // SAFETY: the shim's sink, valid for the call.
    unsafe {
        let sink = &*error;
        (sink.put)(sink.ctx, text.as_ptr(), text.len());
    }
    ffi::RT_ERROR
}

/// Builds a TorchScript module from `source` (methods using `self.<name>` parameters) and
/// float32 parameters, and saves it to `path` as `torch.jit.save` does. Used by
/// `tests/models/make_torch_models.py` (through ctypes) and the tests to make fixtures.
/// Returns 0, or 1 with a `\0`-terminated message in `err_buf` (truncated to `err_len`).
///
/// # Safety
/// `source` and `path` are C strings; `names`, `data`, `ndims` and `shapes` hold `n_params`
/// entries; `data[i]` holds the product of `shapes[i][..ndims[i]]` floats; `err_buf` has
/// `err_len` writable bytes (or is null).
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn redisai_torch_save_module(
    source: *const std::ffi::c_char,
    n_params: usize,
    names: *const *const std::ffi::c_char,
    data: *const *const f32,
    ndims: *const i64,
    shapes: *const *const i64,
    path: *const std::ffi::c_char,
    err_buf: *mut std::ffi::c_char,
    err_len: usize,
) -> i32 {
    let result: Result<(), String> = catch_unwind_save(|| {
        #[cfg(has_libtorch)]
        {
            let mut err = ffi::Text::default();
            // SAFETY: forwarded as documented above.
            let status = unsafe {
                ffi::rt_save_module(
                    source,
                    n_params,
                    names,
                    data,
                    ndims,
                    shapes,
                    path,
                    &err.sink(),
                )
            };
            if status == ffi::RT_OK {
                Ok(())
            } else {
                Err(err.into_string())
            }
        }
        #[cfg(not(has_libtorch))]
        {
            let _ = (source, n_params, names, data, ndims, shapes, path);
            Err(NO_LIBTORCH.to_string())
        }
    });
    match result {
        Ok(()) => 0,
        Err(e) => {
            if !err_buf.is_null() && err_len > 0 {
                let n = e.len().min(err_len - 1);
                // SAFETY: err_buf has err_len writable bytes.
                unsafe {
                    std::ptr::copy_nonoverlapping(e.as_ptr(), err_buf as *mut u8, n);
                    *err_buf.add(n) = 0;
                }
            }
            1
        }
    }
}

fn catch_unwind_save(f: impl FnOnce() -> Result<(), String>) -> Result<(), String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .unwrap_or_else(|_| Err("panic in redisai_torch_save_module".to_string()))
}

#[cfg(not(has_libtorch))]
impl Backend for Torch {
    type Model = TorchModel;
    type Script = TorchScript;
    const NAME: &'static str = "TORCH";

    fn new(_host: Host) -> Result<Self, String> {
        Err(NO_LIBTORCH.to_string())
    }

    fn engine_version(&self) -> String {
        String::new()
    }

    fn load(&self, _request: &ModelRequest<'_>) -> Result<Loaded<TorchModel>, String> {
        Err(NO_LIBTORCH.to_string())
    }

    fn run(
        &self,
        _model: &TorchModel,
        _worker: usize,
        _inputs: &[TensorIn<'_>],
    ) -> Result<Vec<TensorOut>, RunError> {
        Err(NO_LIBTORCH.into())
    }

    fn script_load(&self, _request: &ScriptRequest<'_>) -> Result<TorchScript, String> {
        Err(NO_LIBTORCH.to_string())
    }

    fn script_run(
        &self,
        _script: &TorchScript,
        _call: &ScriptCall<'_>,
        _host: &ScriptHost<'_>,
    ) -> Result<Vec<TensorOut>, RunError> {
        Err(NO_LIBTORCH.into())
    }
}

export_backend!(Torch);

#[cfg(test)]
mod tests;
