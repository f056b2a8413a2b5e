//! Settings: RedisAI's load-time arguments (spec §6), the same settings as Redis 7 module
//! configs (`CONFIG GET ai.*`), and `AI.CONFIG`.
//!
//! Each setting lives in one static; load arguments, `CONFIG SET ai.<name>` and `AI.CONFIG`
//! all write the same place, so they can never disagree. Numeric settings are atomics
//! because worker threads read them; writes happen on the main thread only. What the backend
//! layer reads is pushed into it (`backend::configure`) after every write, so `backend` needs
//! nothing of this module.
//!
//! Order at load: the module arguments are parsed and validated first (a bad one fails the
//! load with a log line); they become the defaults of the module configs; then
//! `RedisModule_LoadConfigs` applies any `ai.*` values from the server's own configuration,
//! which therefore win.

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

use std::ffi::{c_char, c_int, c_longlong, c_void, CStr, CString};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;

use redis_module::raw;

use crate::args::parse_i64;
use crate::backend::{self, BackendKind};
use crate::redis::{
    api, api_has, string_bytes, Ctx, OwnedString, RedisModuleCtx, RedisModuleString,
};
use crate::tensor::Limits;

/// A numeric setting.
pub struct Numeric {
    /// Load-time argument, RedisAI's spelling (matched case-insensitively).
    pub arg: &'static str,
    /// Module config name; the server shows it as `ai.<name>`.
    pub name: &'static CStr,
    value: AtomicI64,
    default: i64,
    /// Smallest value accepted as a load-time argument (RedisAI's rule).
    arg_min: i64,
    /// Range accepted by `CONFIG SET`.
    min: i64,
    max: i64,
    /// Whether `CONFIG SET` may change it while the server runs.
    runtime: bool,
    /// Accepts memory units (`512mb`).
    memory: bool,
}

impl std::fmt::Debug for Numeric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}={}", self.arg, self.get())
    }
}

impl Numeric {
    #[allow(clippy::too_many_arguments)]
    const fn new(
        arg: &'static str,
        name: &'static CStr,
        default: i64,
        arg_min: i64,
        min: i64,
        max: i64,
        runtime: bool,
        memory: bool,
    ) -> Numeric {
        Numeric {
            arg,
            name,
            value: AtomicI64::new(default),
            default,
            arg_min,
            min,
            max,
            runtime,
            memory,
        }
    }

    pub fn get(&self) -> i64 {
        self.value.load(Ordering::Relaxed)
    }

    pub fn set(&self, v: i64) {
        self.value.store(v, Ordering::Relaxed);
        publish_backend_settings();
    }

    /// Validates a value given as a load-time argument or with AI.CONFIG.
    pub fn parse(&self, word: &[u8]) -> Option<i64> {
        parse_i64(word).filter(|v| (self.arg_min.max(self.min)..=self.max).contains(v))
    }

    fn reset(&self) {
        self.set(self.default);
    }
}

const MAX_THREADS: i64 = 1024;

pub static THREADS_PER_QUEUE: Numeric = Numeric::new(
    "THREADS_PER_QUEUE",
    c"threads_per_queue",
    1,
    1,
    1,
    MAX_THREADS,
    false,
    false,
);
/// 0 leaves the choice to the backend; as a load argument it must be > 0 (as upstream).
pub static INTER_OP_PARALLELISM: Numeric = Numeric::new(
    "INTER_OP_PARALLELISM",
    c"inter_op_parallelism",
    0,
    1,
    0,
    MAX_THREADS,
    false,
    false,
);
pub static INTRA_OP_PARALLELISM: Numeric = Numeric::new(
    "INTRA_OP_PARALLELISM",
    c"intra_op_parallelism",
    0,
    1,
    0,
    MAX_THREADS,
    false,
    false,
);
/// Bytes per chunk when a model is saved or returned by AI.MODELGET (511 MiB by default).
pub static MODEL_CHUNK_SIZE: Numeric = Numeric::new(
    "MODEL_CHUNK_SIZE",
    c"model_chunk_size",
    535_822_336,
    1,
    1,
    i64::MAX,
    true,
    true,
);
/// Milliseconds after which a running ONNX session is terminated.
pub static MODEL_EXECUTION_TIMEOUT: Numeric = Numeric::new(
    "MODEL_EXECUTION_TIMEOUT",
    c"model_execution_timeout",
    5000,
    1000,
    1000,
    i64::MAX,
    false,
    false,
);
/// Cap on the backends' memory in MB; 0 = unlimited. Shown in INFO, not enforced: a plugin
/// loaded while it is set logs that (see `backend::open`).
pub static BACKEND_MEMORY_LIMIT: Numeric = Numeric::new(
    "BACKEND_MEMORY_LIMIT",
    c"backend_memory_limit",
    0,
    1,
    0,
    i64::MAX,
    false,
    false,
);
/// Largest tensor a client may create, in bytes; 0 = the server's `proto-max-bulk-len`.
pub static TENSOR_MAX_BYTES: Numeric = Numeric::new(
    "TENSOR_MAX_BYTES",
    c"tensor_max_bytes",
    0,
    0,
    0,
    i64::MAX,
    true,
    true,
);

/// Milliseconds a cluster coordinator waits for every shard's answer to an FT.SEARCH or
/// FT.INFO when the query gives no TIMEOUT; a shard that has not answered by then fails the
/// query by name.
pub static SEARCH_TIMEOUT: Numeric = Numeric::new(
    "SEARCH_TIMEOUT",
    c"search_timeout",
    5000,
    1,
    1,
    3_600_000,
    true,
    false,
);

/// A model whose learned run time for a call's rows is at most this many µs runs in the
/// command itself, on the main thread, instead of being handed to a worker (0 = never). See
/// the README ("Small models run in the command") for how the default was chosen.
pub static INLINE_MAX_US: Numeric = Numeric::new(
    "INLINE_MAX_US",
    c"inline_max_us",
    50,
    0,
    0,
    1_000_000,
    true,
    false,
);

pub static NUMERIC: [&Numeric; 9] = [
    &THREADS_PER_QUEUE,
    &INTER_OP_PARALLELISM,
    &INTRA_OP_PARALLELISM,
    &MODEL_CHUNK_SIZE,
    &MODEL_EXECUTION_TIMEOUT,
    &BACKEND_MEMORY_LIMIT,
    &TENSOR_MAX_BYTES,
    &SEARCH_TIMEOUT,
    &INLINE_MAX_US,
];

/// The server's `proto-max-bulk-len`, read at load and on every change.
static PROTO_MAX_BULK_LEN: AtomicI64 = AtomicI64::new(512 * 1024 * 1024);

/// A text setting.
pub struct Text {
    /// Load-time argument (matched case-insensitively).
    pub arg: &'static str,
    /// Module config name (`ai.<name>`).
    pub name: &'static CStr,
    value: Mutex<String>,
    /// Keeps the string returned to `CONFIG GET` alive until the next call.
    reply: Mutex<Option<OwnedString>>,
}

impl Text {
    const fn new(arg: &'static str, name: &'static CStr) -> Text {
        Text {
            arg,
            name,
            value: Mutex::new(String::new()),
            reply: Mutex::new(None),
        }
    }

    pub fn get(&self) -> String {
        self.value.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn set(&self, v: &str) {
        *self.value.lock().unwrap_or_else(|p| p.into_inner()) = v.to_string();
        publish_backend_settings();
    }
}

/// Where backend plugins are looked up (relative plugin paths are resolved against it).
pub static BACKENDSPATH: Text = Text::new("BACKENDSPATH", c"backendspath");
/// The ONNX Runtime library the ONNX backend opens; empty = the one beside the plugin.
pub static ONNXRUNTIME_PATH: Text = Text::new("ONNXRUNTIME_PATH", c"onnxruntime_path");

pub static TEXTS: [&Text; 2] = [&BACKENDSPATH, &ONNXRUNTIME_PATH];

pub fn backends_path() -> String {
    BACKENDSPATH.get()
}

pub fn set_backends_path(path: &str) {
    BACKENDSPATH.set(path);
}

/// Pushes what the backend layer reads into it. Every write of a setting calls this, so the
/// backend's copy never disagrees with the settings here.
fn publish_backend_settings() {
    backend::configure(backend::Settings {
        backends_path: BACKENDSPATH.get(),
        onnxruntime_path: ONNXRUNTIME_PATH.get(),
        // One worker index more than the queue has: the main thread's, for runs made inline.
        threads_per_queue: THREADS_PER_QUEUE.get() as u32 + 1,
        inter_op_threads: INTER_OP_PARALLELISM.get() as u32,
        intra_op_threads: INTRA_OP_PARALLELISM.get() as u32,
        execution_timeout_ms: MODEL_EXECUTION_TIMEOUT.get() as u64,
        memory_limit_mb: BACKEND_MEMORY_LIMIT.get(),
    });
}

/// The worker index of runs made on the main thread (one past the queue's workers).
pub fn inline_worker() -> usize {
    THREADS_PER_QUEUE.get().max(1) as usize
}

/// Limits applied to tensors created from client input.
pub fn tensor_limits() -> Limits {
    let configured = TENSOR_MAX_BYTES.get();
    let max = if configured > 0 {
        configured
    } else {
        PROTO_MAX_BULK_LEN.load(Ordering::Relaxed)
    };
    Limits {
        max_bytes: max.max(0) as u64,
    }
}

/// Load-time arguments, validated.
#[derive(Default)]
pub struct LoadArgs {
    pub texts: Vec<(&'static Text, String)>,
    /// (backend, plugin path) pairs to load at start.
    pub preload: Vec<(BackendKind, String)>,
    pub numeric: Vec<(&'static Numeric, i64)>,
}

/// Parses `KEY VALUE` pairs as RedisAI does: keys case-insensitive, every value validated.
pub fn parse_load_args(words: &[&[u8]]) -> Result<LoadArgs, String> {
    if words.len() % 2 != 0 {
        return Err(format!(
            "module arguments must be KEY VALUE pairs; '{}' has no value",
            String::from_utf8_lossy(words[words.len() - 1])
        ));
    }
    let mut out = LoadArgs::default();
    for pair in words.chunks_exact(2) {
        let (key, value) = (pair[0], pair[1]);
        let shown = || {
            format!(
                "error processing argument: {} {}",
                String::from_utf8_lossy(key),
                String::from_utf8_lossy(value)
            )
        };
        let text = || {
            std::str::from_utf8(value)
                .map(str::to_string)
                .map_err(|_| format!("{}: not valid UTF-8", shown()))
        };
        if let Some(t) = TEXTS
            .iter()
            .find(|t| key.eq_ignore_ascii_case(t.arg.as_bytes()))
        {
            out.texts.push((t, text()?));
        } else if let Some(b) = BackendKind::parse(key) {
            out.preload.push((b, text()?));
        } else if let Some(n) = NUMERIC
            .iter()
            .find(|n| key.eq_ignore_ascii_case(n.arg.as_bytes()))
        {
            let v = n.parse(value).ok_or_else(|| {
                format!(
                    "{} (expected an integer from {} to {})",
                    shown(),
                    n.arg_min.max(n.min),
                    n.max
                )
            })?;
            out.numeric.push((n, v));
        } else {
            return Err(format!("{} (unknown argument)", shown()));
        }
    }
    Ok(out)
}

/// The folder that holds this shared object (the default BACKENDSPATH).
fn module_dir() -> Option<String> {
    // SAFETY: Dl_info is plain C data (pointers and integers), for which all zeroes is valid.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    // SAFETY: dladdr only reads the address; any function of this library will do.
    let found = unsafe { libc::dladdr(module_dir as *const c_void, &mut info) };
    if found == 0 || info.dli_fname.is_null() {
        return None;
    }
    // SAFETY: dladdr filled a NUL-terminated path.
    let path = unsafe { CStr::from_ptr(info.dli_fname) }
        .to_string_lossy()
        .into_owned();
    let dir = std::path::Path::new(&path).parent()?;
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    Some(dir.to_string_lossy().into_owned())
}

/// Applies validated load arguments (and the defaults for what they leave out).
pub fn apply_load_args(args: &LoadArgs) -> Result<(), String> {
    for n in NUMERIC {
        n.reset();
    }
    for (n, v) in &args.numeric {
        n.set(*v);
    }
    BACKENDSPATH.set(&module_dir().unwrap_or_else(|| ".".to_string()));
    ONNXRUNTIME_PATH.set("");
    for (t, v) in &args.texts {
        t.set(v);
    }
    Ok(())
}

unsafe extern "C" fn get_numeric(_name: *const c_char, privdata: *mut c_void) -> c_longlong {
    // SAFETY: registered with a `&'static Numeric` as privdata (see `register`).
    unsafe { &*(privdata as *const Numeric) }.get()
}

unsafe extern "C" fn set_numeric(
    _name: *const c_char,
    value: c_longlong,
    privdata: *mut c_void,
    _err: *mut *mut RedisModuleString,
) -> c_int {
    // The server has already checked the range given at registration.
    // SAFETY: registered with a `&'static Numeric` as privdata (see `register`).
    unsafe { &*(privdata as *const Numeric) }.set(value);
    raw::REDISMODULE_OK as c_int
}

unsafe extern "C" fn get_text(
    _name: *const c_char,
    privdata: *mut c_void,
) -> *mut RedisModuleString {
    // SAFETY: registered with a `&'static Text` as privdata (see `register`).
    let t = unsafe { &*(privdata as *const Text) };
    let s = OwnedString::new(t.get().as_bytes());
    let p = s.as_ptr();
    *t.reply.lock().unwrap_or_else(|p| p.into_inner()) = Some(s);
    p
}

unsafe extern "C" fn set_text(
    _name: *const c_char,
    value: *mut RedisModuleString,
    privdata: *mut c_void,
    err: *mut *mut RedisModuleString,
) -> c_int {
    // SAFETY: registered with a `&'static Text` as privdata (see `register`).
    let t = unsafe { &*(privdata as *const Text) };
    match std::str::from_utf8(string_bytes(value)) {
        Ok(v) => {
            t.set(v);
            raw::REDISMODULE_OK as c_int
        }
        Err(_) => {
            let msg = c"the value must be valid UTF-8";
            // SAFETY: `err` is the server's out-slot for the error; a string created without
            // a context is the server's to free.
            unsafe {
                *err = api!(RedisModule_CreateString)(
                    std::ptr::null_mut(),
                    msg.as_ptr(),
                    msg.to_bytes().len(),
                );
            }
            raw::REDISMODULE_ERR as c_int
        }
    }
}

/// Registers the module configs and applies the server's `ai.*` configuration.
pub fn register(ctx: *mut RedisModuleCtx) -> Result<(), String> {
    if !api_has!(RedisModule_RegisterNumericConfig) {
        return Ok(()); // Servers before 7.0 have no module configs; the arguments still work.
    }
    for n in NUMERIC {
        let mut flags = raw::REDISMODULE_CONFIG_DEFAULT;
        if !n.runtime {
            flags |= raw::REDISMODULE_CONFIG_IMMUTABLE;
        }
        if n.memory {
            flags |= raw::REDISMODULE_CONFIG_MEMORY;
        }
        // SAFETY: OnLoad context; the name and the setting are static.
        let status = unsafe {
            api!(RedisModule_RegisterNumericConfig)(
                ctx,
                n.name.as_ptr(),
                n.get(),
                flags,
                n.min,
                n.max,
                Some(get_numeric),
                Some(set_numeric),
                None,
                std::ptr::from_ref::<Numeric>(n) as *mut c_void,
            )
        };
        if status != raw::REDISMODULE_OK as c_int {
            return Err(format!("could not register config ai.{:?}", n.name));
        }
    }
    for t in TEXTS {
        let default = CString::new(t.get()).map_err(|_| format!("{} contains NUL", t.arg))?;
        // SAFETY: OnLoad context; static name and setting.
        let status = unsafe {
            api!(RedisModule_RegisterStringConfig)(
                ctx,
                t.name.as_ptr(),
                default.as_ptr(),
                raw::REDISMODULE_CONFIG_DEFAULT,
                Some(get_text),
                Some(set_text),
                None,
                std::ptr::from_ref::<Text>(t) as *mut c_void,
            )
        };
        if status != raw::REDISMODULE_OK as c_int {
            return Err(format!("could not register config ai.{:?}", t.name));
        }
    }
    // SAFETY: OnLoad context, after every config is registered.
    if unsafe { api!(RedisModule_LoadConfigs)(ctx) } != raw::REDISMODULE_OK as c_int {
        return Err("invalid ai.* value in the server configuration".to_string());
    }
    Ok(())
}

/// Re-reads `proto-max-bulk-len`, the default tensor size limit.
pub fn refresh_server_limits(ctx: &Ctx) {
    let value = ctx
        .server_config("proto-max-bulk-len")
        .and_then(|v| parse_i64(&v));
    if let Some(v) = value {
        PROTO_MAX_BULK_LEN.store(v, Ordering::Relaxed);
    }
}

/// Whether the AOF is on without an RDB preamble: a rewrite then keeps keys only, not the
/// vector index definitions (kept as RDB aux data), which would be lost on the next start.
pub fn pure_aof(ctx: &Ctx) -> bool {
    ctx.server_config("appendonly").as_deref() == Some(b"yes")
        && ctx.server_config("aof-use-rdb-preamble").as_deref() == Some(b"no")
}

/// Server event: a configuration changed (`CONFIG SET`).
///
/// # Safety
/// Called by the server with the event's context and `RedisModuleConfigChange` data.
pub unsafe extern "C" fn on_config_change(
    ctx: *mut RedisModuleCtx,
    _eid: raw::RedisModuleEvent,
    _subevent: u64,
    data: *mut c_void,
) {
    crate::redis::guard("config change event", (), || {
        // SAFETY: the server passes this event's data, a RedisModuleConfigChange.
        let change = unsafe { &*(data as *const raw::RedisModuleConfigChange) };
        let names = (0..change.num_changes as usize)
            // SAFETY: `config_names` holds `num_changes` NUL-terminated names.
            .map(|i| unsafe { CStr::from_ptr(*change.config_names.add(i)) }.to_bytes());
        let names: Vec<&[u8]> = names.collect();
        // SAFETY: the event's live context.
        let ctx = unsafe { Ctx::from_raw(ctx) };
        if names.iter().any(|n| *n == b"proto-max-bulk-len") {
            refresh_server_limits(&ctx);
        }
        let aof = |n: &&[u8]| *n == b"appendonly" || *n == b"aof-use-rdb-preamble";
        if names.iter().any(aof)
            && pure_aof(&ctx)
            && crate::search::INDEX_COUNT.load(Ordering::Relaxed) > 0
        {
            crate::redis::log(
                crate::redis::Level::Warning,
                "appendonly is on without aof-use-rdb-preamble: the next AOF rewrite will not \
                 keep the vector index definitions (FT.CREATE them again after a restart, or \
                 set aof-use-rdb-preamble yes)",
            );
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(words: &[&str]) -> Result<LoadArgs, String> {
        let w: Vec<&[u8]> = words.iter().map(|s| s.as_bytes()).collect();
        parse_load_args(&w)
    }

    #[test]
    fn load_args_are_validated() {
        let a = parse(&[
            "THREADS_PER_QUEUE",
            "4",
            "backendspath",
            "/x",
            "MODEL_CHUNK_SIZE",
            "10",
        ])
        .unwrap();
        assert_eq!(a.texts.len(), 1);
        assert!(std::ptr::eq(a.texts[0].0, &BACKENDSPATH));
        assert_eq!(a.texts[0].1, "/x");
        assert_eq!(a.numeric.len(), 2);
        assert!(std::ptr::eq(a.numeric[0].0, &THREADS_PER_QUEUE));
        assert_eq!(a.numeric[0].1, 4);
        let a = parse(&["ONNX", "redisai_onnxruntime.so"]).unwrap();
        assert_eq!(
            a.preload,
            vec![(BackendKind::Onnx, "redisai_onnxruntime.so".to_string())]
        );

        for bad in [
            &["THREADS_PER_QUEUE", "0"][..],
            &["THREADS_PER_QUEUE", "x"],
            &["THREADS_PER_QUEUE"],
            &["INTER_OP_PARALLELISM", "0"],
            &["INTRA_OP_PARALLELISM", "-1"],
            &["MODEL_EXECUTION_TIMEOUT", "999"],
            &["MODEL_CHUNK_SIZE", "0"],
            &["BACKEND_MEMORY_LIMIT", "0"],
            &["NO_SUCH_SETTING", "1"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        let Err(e) = parse(&["THREADS_PER_QUEUE", "0"]) else {
            panic!("THREADS_PER_QUEUE 0 accepted");
        };
        assert!(
            e.contains("error processing argument: THREADS_PER_QUEUE 0"),
            "{e}"
        );
        assert!(parse(&["MODEL_EXECUTION_TIMEOUT", "1000", "TENSOR_MAX_BYTES", "0"]).is_ok());
    }

    // The only test that writes the settings (process-wide statics); it leaves alone the
    // ones other code reads in tests (THREADS_PER_QUEUE, the chunk and tensor sizes).
    #[test]
    fn the_backend_layer_sees_every_write() {
        let args = parse(&[
            "INTRA_OP_PARALLELISM",
            "2",
            "MODEL_EXECUTION_TIMEOUT",
            "7000",
            "BACKEND_MEMORY_LIMIT",
            "64",
            "ONNXRUNTIME_PATH",
            "/opt/ort.so",
        ])
        .unwrap();
        apply_load_args(&args).unwrap();
        let seen = backend::configured();
        assert_eq!(
            seen,
            backend::Settings {
                backends_path: BACKENDSPATH.get(),
                onnxruntime_path: "/opt/ort.so".into(),
                // THREADS_PER_QUEUE 1, and the main thread's index.
                threads_per_queue: 2,
                inter_op_threads: 0,
                intra_op_threads: 2,
                execution_timeout_ms: 7000,
                memory_limit_mb: 64,
            }
        );
        assert!(
            !seen.backends_path.is_empty(),
            "defaults to the module's folder"
        );
        // AI.CONFIG BACKENDSPATH, and CONFIG SET (the module config setters write the same way).
        set_backends_path("/plugins");
        assert_eq!(backend::configured().backends_path, "/plugins");
        INTER_OP_PARALLELISM.set(5);
        assert_eq!(backend::configured().inter_op_threads, 5);
        ONNXRUNTIME_PATH.set("");
        assert_eq!(backend::configured().onnxruntime_path, "");
        // Loading again resets what the arguments leave out.
        apply_load_args(&LoadArgs::default()).unwrap();
        let seen = backend::configured();
        assert_eq!(
            (
                seen.inter_op_threads,
                seen.intra_op_threads,
                seen.memory_limit_mb
            ),
            (0, 0, 0)
        );
    }
}
