//! The C API of the C++ shim (`src/shim.h`), and safe wrappers over it.
//!
//! The shim's tensor, bytes and sink structs have the layouts of the plugin ABI's
//! [`TensorView`], [`Bytes`], [`ByteSink`] and [`TensorSink`], which are used here directly.

use std::ffi::{c_char, c_void, CStr};
use std::ptr::NonNull;

use redisai_backend_api::{
    ByteSink, Bytes, DataType, ModelExecuteFn, RedisCallFn, TensorIn, TensorOut, TensorSink,
    TensorView,
};

pub const RT_OK: i32 = 0;
pub const RT_ERROR: i32 = 1;

pub const RT_ARG_TENSOR: i32 = 1;
pub const RT_ARG_TENSOR_LIST: i32 = 2;
pub const RT_ARG_STRING_LIST: i32 = 3;

pub const RT_CALL_ENTRY_POINT: i32 = 0;
pub const RT_CALL_LEGACY: i32 = 1;

/// `rt_host`: the host's services to a running script.
#[repr(C)]
pub struct RtHost {
    pub ctx: *mut c_void,
    /// The ABI's own signatures (the shim's `int` status is the ABI's `Status`).
    pub redis_call: Option<RedisCallFn>,
    pub model_execute: Option<ModelExecuteFn>,
}

extern "C" {
    fn rt_torch_version() -> *const c_char;
    fn rt_cuda_available() -> i32;
    fn rt_set_threads(intra_op: i32, inter_op: i32, err: *const ByteSink) -> i32;
    fn rt_init(err: *const ByteSink) -> i32;

    fn rt_model_load(
        blob: *const u8,
        len: usize,
        device: i32,
        model: *mut *mut c_void,
        err: *const ByteSink,
    ) -> i32;
    fn rt_model_input_names(model: *mut c_void, names: *const ByteSink);
    fn rt_model_num_outputs(model: *mut c_void) -> usize;
    fn rt_model_run(
        model: *mut c_void,
        inputs: *const TensorView,
        n_inputs: usize,
        outputs: *const TensorSink,
        err: *const ByteSink,
    ) -> i32;
    fn rt_model_free(model: *mut c_void);

    fn rt_script_compile(
        source: *const u8,
        len: usize,
        device: i32,
        script: *mut *mut c_void,
        err: *const ByteSink,
    ) -> i32;
    fn rt_script_signature(
        script: *mut c_void,
        name: *const u8,
        name_len: usize,
        kinds: *mut i32,
        cap: usize,
    ) -> i64;
    #[allow(clippy::too_many_arguments)]
    fn rt_script_run(
        script: *mut c_void,
        name: *const u8,
        name_len: usize,
        mode: i32,
        inputs: *const TensorView,
        n_inputs: usize,
        keys: *const Bytes,
        n_keys: usize,
        args: *const Bytes,
        n_args: usize,
        host: *const RtHost,
        outputs: *const TensorSink,
        err: *const ByteSink,
    ) -> i32;
    fn rt_script_free(script: *mut c_void);

    #[allow(clippy::too_many_arguments)]
    pub fn rt_save_module(
        source: *const c_char,
        n_params: usize,
        names: *const *const c_char,
        data: *const *const f32,
        ndims: *const i64,
        shapes: *const *const i64,
        path: *const c_char,
        err: *const ByteSink,
    ) -> i32;
}

/// # Safety
/// `data` points to `len` readable bytes, or `len` is 0.
pub unsafe fn slice<'a, T>(data: *const T, len: usize) -> &'a [T] {
    if data.is_null() || len == 0 {
        &[]
    } else {
        // SAFETY: see above.
        unsafe { std::slice::from_raw_parts(data, len) }
    }
}

unsafe extern "C" fn put_bytes(ctx: *mut c_void, data: *const u8, len: usize) {
    // SAFETY: ctx is the Vec<u8> of a Text below; data/len are valid for the call.
    let v = unsafe { &mut *(ctx as *mut Vec<u8>) };
    v.extend_from_slice(unsafe { slice(data, len) });
}

unsafe extern "C" fn put_string(ctx: *mut c_void, data: *const u8, len: usize) {
    // SAFETY: ctx is the Vec<String> of input_names; data/len are valid for the call.
    let v = unsafe { &mut *(ctx as *mut Vec<String>) };
    v.push(String::from_utf8_lossy(unsafe { slice(data, len) }).into_owned());
}

unsafe extern "C" fn put_tensor(ctx: *mut c_void, t: *const TensorView) {
    // SAFETY: ctx is the Vec<TensorOut> of a Tensors below; the view is valid for the call.
    let v = unsafe { &mut *(ctx as *mut Vec<TensorOut>) };
    let t = unsafe { &*t };
    v.push(TensorOut {
        dtype: t.dtype,
        shape: unsafe { slice(t.shape, t.ndim as usize) }.to_vec(),
        data: unsafe { slice(t.data as *const u8, t.byte_len as usize) }.to_vec(),
    });
}

/// Collects an error message from the shim.
#[derive(Default)]
pub struct Text(Vec<u8>);

impl Text {
    /// A sink writing into this text; valid while `self` is borrowed.
    pub fn sink(&mut self) -> ByteSink {
        ByteSink {
            ctx: &mut self.0 as *mut Vec<u8> as *mut c_void,
            put: put_bytes,
        }
    }

    pub fn into_string(self) -> String {
        String::from_utf8_lossy(&self.0).into_owned()
    }
}

/// Collects tensors from the shim.
#[derive(Default)]
pub struct Tensors(pub Vec<TensorOut>);

impl Tensors {
    pub fn sink(&mut self) -> TensorSink {
        TensorSink {
            ctx: &mut self.0 as *mut Vec<TensorOut> as *mut c_void,
            put: put_tensor,
        }
    }
}

/// Views of borrowed inputs, for the shim (which refuses STRING tensors by dtype).
pub fn views(inputs: &[TensorIn<'_>]) -> Vec<TensorView> {
    inputs.iter().map(TensorIn::view).collect()
}

/// A borrowed input made of a view the shim passed.
///
/// # Safety
/// The view is valid for `'a`.
pub unsafe fn tensor_in<'a>(v: &TensorView) -> TensorIn<'a> {
    TensorIn {
        dtype: DataType {
            code: v.dtype.code,
            bits: v.dtype.bits,
            lanes: v.dtype.lanes,
        },
        shape: unsafe { slice(v.shape, v.ndim as usize) },
        data: unsafe { slice(v.data as *const u8, v.byte_len as usize) },
        string_offsets: &[],
    }
}

fn check(status: i32, err: Text) -> Result<(), String> {
    if status == RT_OK {
        Ok(())
    } else {
        Err(err.into_string())
    }
}

pub fn version() -> String {
    // SAFETY: a static C string.
    unsafe { CStr::from_ptr(rt_torch_version()) }
        .to_string_lossy()
        .into_owned()
}

pub fn cuda_available() -> bool {
    // SAFETY: no arguments; the shim catches everything.
    unsafe { rt_cuda_available() != 0 }
}

pub fn init() -> Result<(), String> {
    let mut err = Text::default();
    // SAFETY: the sink lives for the call.
    let status = unsafe { rt_init(&err.sink()) };
    check(status, err)
}

pub fn set_threads(intra_op: usize, inter_op: usize) -> Result<(), String> {
    let clamp = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
    let mut err = Text::default();
    // SAFETY: the sink lives for the call.
    let status = unsafe { rt_set_threads(clamp(intra_op), clamp(inter_op), &err.sink()) };
    check(status, err)
}

/// A loaded TorchScript module.
pub struct Model(NonNull<c_void>);

// SAFETY: a torch::jit::Module is safe to run from several threads at once (its methods only
// read the module; the graph executor locks what it compiles), and it is freed once.
unsafe impl Send for Model {}
unsafe impl Sync for Model {}

impl Drop for Model {
    fn drop(&mut self) {
        // SAFETY: made by rt_model_load, freed once.
        unsafe { rt_model_free(self.0.as_ptr()) }
    }
}

impl Model {
    pub fn load(blob: &[u8], device: i32) -> Result<Model, String> {
        let mut handle: *mut c_void = std::ptr::null_mut();
        let mut err = Text::default();
        // SAFETY: the blob, the out-slot and the sink live for the call.
        let status =
            unsafe { rt_model_load(blob.as_ptr(), blob.len(), device, &mut handle, &err.sink()) };
        check(status, err)?;
        NonNull::new(handle)
            .map(Model)
            .ok_or_else(|| "TORCH backend: no model was made".to_string())
    }

    pub fn input_names(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        let sink = ByteSink {
            ctx: &mut names as *mut Vec<String> as *mut c_void,
            put: put_string,
        };
        // SAFETY: a live model and a sink living for the call.
        unsafe { rt_model_input_names(self.0.as_ptr(), &sink) };
        names
    }

    pub fn num_outputs(&self) -> usize {
        // SAFETY: a live model.
        unsafe { rt_model_num_outputs(self.0.as_ptr()) }
    }

    pub fn run(&self, inputs: &[TensorIn<'_>]) -> Result<Vec<TensorOut>, String> {
        let views = views(inputs);
        let mut outs = Tensors::default();
        let mut err = Text::default();
        // SAFETY: the views borrow `inputs`; the sinks live for the call.
        let status = unsafe {
            rt_model_run(
                self.0.as_ptr(),
                views.as_ptr(),
                views.len(),
                &outs.sink(),
                &err.sink(),
            )
        };
        check(status, err)?;
        Ok(outs.0)
    }
}

/// The kind of a script function's parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgKind {
    Tensor,
    TensorList,
    StringList,
    Other,
}

/// A compiled TorchScript compilation unit.
pub struct Script(NonNull<c_void>);

// SAFETY: as for Model: compiled functions may run concurrently; freed once.
unsafe impl Send for Script {}
unsafe impl Sync for Script {}

impl Drop for Script {
    fn drop(&mut self) {
        // SAFETY: made by rt_script_compile, freed once.
        unsafe { rt_script_free(self.0.as_ptr()) }
    }
}

impl Script {
    pub fn compile(source: &str, device: i32) -> Result<Script, String> {
        let mut handle: *mut c_void = std::ptr::null_mut();
        let mut err = Text::default();
        // SAFETY: the source, the out-slot and the sink live for the call.
        let status = unsafe {
            rt_script_compile(
                source.as_ptr(),
                source.len(),
                device,
                &mut handle,
                &err.sink(),
            )
        };
        check(status, err)?;
        NonNull::new(handle)
            .map(Script)
            .ok_or_else(|| "TORCH backend: no script was made".to_string())
    }

    /// The parameter kinds of function `name`, or `None` when there is no such function.
    pub fn signature(&self, name: &str) -> Option<Vec<ArgKind>> {
        let mut kinds = [0i32; 8];
        // SAFETY: a live script; `kinds` has room for `cap` entries.
        let n = unsafe {
            rt_script_signature(
                self.0.as_ptr(),
                name.as_ptr(),
                name.len(),
                kinds.as_mut_ptr(),
                kinds.len(),
            )
        };
        let n = usize::try_from(n).ok()?;
        Some(
            (0..n)
                .map(|i| match kinds.get(i) {
                    Some(&RT_ARG_TENSOR) => ArgKind::Tensor,
                    Some(&RT_ARG_TENSOR_LIST) => ArgKind::TensorList,
                    Some(&RT_ARG_STRING_LIST) => ArgKind::StringList,
                    _ => ArgKind::Other,
                })
                .collect(),
        )
    }

    /// Runs `function` (see `rt_script_run`).
    #[allow(clippy::too_many_arguments)]
    pub fn run(
        &self,
        function: &str,
        mode: i32,
        inputs: &[TensorIn<'_>],
        keys: &[&[u8]],
        args: &[&[u8]],
        host: &RtHost,
    ) -> Result<Vec<TensorOut>, String> {
        let views = views(inputs);
        let keys: Vec<Bytes> = keys.iter().map(|k| Bytes::new(k)).collect();
        let args: Vec<Bytes> = args.iter().map(|a| Bytes::new(a)).collect();
        let mut outs = Tensors::default();
        let mut err = Text::default();
        // SAFETY: everything passed is borrowed for the call; the sinks live for the call.
        let status = unsafe {
            rt_script_run(
                self.0.as_ptr(),
                function.as_ptr(),
                function.len(),
                mode,
                views.as_ptr(),
                views.len(),
                keys.as_ptr(),
                keys.len(),
                args.as_ptr(),
                args.len(),
                host,
                &outs.sink(),
                &err.sink(),
            )
        };
        check(status, err)?;
        Ok(outs.0)
    }
}
