//! Stream-triggered pipelines, the Redis glue: registry, triggers, reading the stream,
//! running each batch's DAG on the worker queues, writing results and acknowledging, the
//! definitions in the RDB, and the INFO metrics. The grammar and the batch arithmetic are in
//! `pipeline/` (pure).
//!
//! # How a pipeline runs
//!
//! Each pipeline reads its stream as consumer `<name>` of its consumer group. An `xadd`
//! keyspace event on the stream counts one waiting entry and arms a timer: at once when
//! BATCH entries wait (or MAXLATENCY is 0), else after MAXLATENCY. Reading in the event
//! itself is not allowed: on Redis 7.0 a write inside a keyspace event reaches replicas
//! before the command that caused it. The timer reads up to BATCH entries (XREADGROUP, as the
//! registering user), builds the batch tensor, plans the DAG and queues it; at most
//! MAXINFLIGHT batches are queued at once, and what does not fit stays in the stream
//! (back-pressure: entries wait in Redis, not in memory). When a batch ends, its results are
//! written (XADD or HSET) and then its entries are acknowledged (XACK), in one server-lock
//! section, and the next batch is read at once if entries wait. A crash between the two
//! leaves the entries pending: they are read again (XREADGROUP from id 0, this consumer's
//! own pending entries) after a restart or a promotion, so delivery is at-least-once.
//!
//! # Concurrency
//!
//! All state is touched with the server lock held: on the main thread (events, timers,
//! commands) or on a worker thread that took it (`ThreadSafeContextLock` on a detached
//! context made at load) to write a finished batch's results. The registry and per-pipeline
//! mutexes exist for Rust's sake and are never held across a `RedisModule_Call`, because a
//! call can raise a keyspace event that comes back here on the same thread. A batch whose
//! DAG finishes synchronously (while the lock is already held by this thread, e.g. inside
//! `run::start`) is deferred to a thread-local list and written once the current section is
//! done, since the server lock is not reentrant. Timers are only created on the main thread;
//! an event raised on a worker thread (a pipeline writing another pipeline's stream) leaves
//! its count for the 100 ms tick, which also drives recovery and retries after a failed write.
//!
//! Rejected: a consumer thread per pipeline polling with XREADGROUP BLOCK (a thread and a
//! connection per pipeline, and blocking calls are not available to modules), and writing
//! results from a reply callback (there is no client to block).

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::thread::ThreadId;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use redis_module::raw::{self, RedisModuleIO};
use redisai_backend_api::Reply;

use crate::backend::ScriptServices;
use crate::config;
use crate::dag::run::{self, Client, Finished, OpResult};
use crate::dag::{self, Flavor, Keyspace, OpKind, Plan};
use crate::error::{AiError, AiResult};
use crate::model::Model;
use crate::pipeline::{self, Def, Latencies, Output};
use crate::redis::{api, api_has, call, guard, log, AclUser, Ctx, Level, OwnedString};
use crate::redis::{RedisModuleCtx, RedisModuleString};
use crate::script::Script;
use crate::tensor::{DType, Shape, Tensor};

/// Backstop timer: drives recovery, retries and counts left by off-thread events.
const TICK_MS: i64 = 100;
/// How long a pipeline waits before trying again after its results could not be written.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// A registered pipeline.
pub struct Pipe {
    pub def: Def,
    /// The user it runs as: the one who registered it.
    pub user: Vec<u8>,
    pub db: c_int,
    state: Mutex<RunState>,
}

#[derive(Default)]
struct RunState {
    in_flight: usize,
    /// Entries added since the stream was last read to its end (an estimate).
    waiting: usize,
    /// The armed timer and whether it fires at once.
    timer: Option<(raw::RedisModuleTimerID, bool)>,
    /// Re-reading this consumer's own pending entries, after this id.
    recovering: Option<Vec<u8>>,
    retry_at: Option<Instant>,
    processed: u64,
    failed: u64,
    batches: u64,
    write_errors: u64,
    last_error: Option<String>,
    latency: Latencies,
}

impl Pipe {
    fn state(&self) -> MutexGuard<'_, RunState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

type Registry = BTreeMap<Vec<u8>, Arc<Pipe>>;

fn registry() -> MutexGuard<'static, Registry> {
    static REG: Mutex<Registry> = Mutex::new(BTreeMap::new());
    REG.lock().unwrap_or_else(|p| p.into_inner())
}

fn lookup(name: &[u8]) -> Option<Arc<Pipe>> {
    registry().get(name).cloned()
}

fn all() -> Vec<Arc<Pipe>> {
    registry().values().cloned().collect()
}

static CALL_CTX: AtomicPtr<RedisModuleCtx> = AtomicPtr::new(std::ptr::null_mut());
static MAIN_THREAD: OnceLock<ThreadId> = OnceLock::new();

thread_local! {
    /// Whether this thread holds the server lock inside a pipeline section.
    static IN_SECTION: Cell<bool> = const { Cell::new(false) };
    /// Batches that finished while this thread was in a section.
    static DEFERRED: RefCell<Vec<BatchDone>> = const { RefCell::new(Vec::new()) };
}

fn on_main_thread() -> bool {
    MAIN_THREAD.get() == Some(&std::thread::current().id())
}

type ServerEventFn =
    unsafe extern "C" fn(*mut RedisModuleCtx, raw::RedisModuleEvent, u64, *mut c_void);

/// At load: the call context, the stream events, the role and loading events, the tick.
pub fn init(ctx: *mut RedisModuleCtx) -> Result<(), String> {
    let _ = MAIN_THREAD.set(std::thread::current().id());
    // SAFETY: OnLoad context; the detached context lives as long as the process.
    let detached = unsafe { api!(RedisModule_GetDetachedThreadSafeContext)(ctx) };
    CALL_CTX.store(detached, Ordering::Release);
    // SAFETY: OnLoad context; 'static callbacks.
    let status = unsafe {
        api!(RedisModule_SubscribeToKeyspaceEvents)(
            ctx,
            raw::NotifyEvent::STREAM.bits(),
            Some(on_stream_event),
        )
    };
    if status != raw::REDISMODULE_OK as c_int {
        return Err("could not subscribe to stream events".into());
    }
    for (id, callback) in [
        (raw::REDISMODULE_EVENT_LOADING, on_loading as ServerEventFn),
        (raw::REDISMODULE_EVENT_REPLICATION_ROLE_CHANGED, on_role),
    ] {
        // SAFETY: OnLoad context; 'static callbacks.
        unsafe {
            api!(RedisModule_SubscribeToServerEvent)(
                ctx,
                raw::RedisModuleEvent { id, dataver: 1 },
                Some(callback),
            )
        };
    }
    // SAFETY: OnLoad context; 'static callback.
    unsafe { api!(RedisModule_CreateTimer)(ctx, TICK_MS, Some(on_tick), std::ptr::null_mut()) };
    Ok(())
}

/// Whether pipelines run here now: a master that is not loading.
fn runs_here(ctx: *mut RedisModuleCtx) -> bool {
    // SAFETY: a live context, server lock held.
    let flags = unsafe { api!(RedisModule_GetContextFlags)(ctx) } as u32;
    flags & raw::REDISMODULE_CTX_FLAGS_MASTER != 0
        && flags & raw::REDISMODULE_CTX_FLAGS_LOADING == 0
}

/// Every pipeline re-reads its consumer's pending entries before new ones.
fn recover_all() {
    for p in all() {
        let mut st = p.state();
        st.recovering = Some(b"0-0".to_vec());
        st.retry_at = None;
    }
}

unsafe extern "C" fn on_loading(
    _ctx: *mut RedisModuleCtx,
    _eid: raw::RedisModuleEvent,
    subevent: u64,
    _data: *mut c_void,
) {
    if subevent == raw::REDISMODULE_SUBEVENT_LOADING_ENDED {
        guard("pipeline loading event", (), recover_all);
    }
}

unsafe extern "C" fn on_role(
    _ctx: *mut RedisModuleCtx,
    _eid: raw::RedisModuleEvent,
    subevent: u64,
    _data: *mut c_void,
) {
    if subevent == raw::REDISMODULE_EVENT_REPLROLECHANGED_NOW_MASTER {
        guard("pipeline role event", (), recover_all);
    }
}

unsafe extern "C" fn on_stream_event(
    ctx: *mut RedisModuleCtx,
    _type: c_int,
    event: *const c_char,
    key: *mut RedisModuleString,
) -> c_int {
    guard("pipeline stream event", (), || {
        // SAFETY: the server passes a NUL-terminated event name.
        if unsafe { CStr::from_ptr(event) }.to_bytes() != b"xadd" {
            return;
        }
        let key = crate::redis::string_bytes(key);
        let pipes: Vec<Arc<Pipe>> = registry()
            .values()
            .filter(|p| p.def.stream == key)
            .cloned()
            .collect();
        if pipes.is_empty() {
            return;
        }
        // SAFETY: live context.
        let db = unsafe { api!(RedisModule_GetSelectedDb)(ctx) };
        for p in pipes.iter().filter(|p| p.db == db) {
            p.state().waiting += 1;
            if on_main_thread() {
                schedule(ctx, p);
            }
        }
    });
    raw::REDISMODULE_OK as c_int
}

/// Arms the pipeline's timer for its next read, if one is due (main thread only).
fn schedule(ctx: *mut RedisModuleCtx, p: &Arc<Pipe>) {
    let mut st = p.state();
    if st.in_flight >= p.def.max_in_flight || st.recovering.is_some() {
        return; // a finishing batch or the tick reads next
    }
    let now = st.waiting >= p.def.batch || p.def.max_latency_ms == 0;
    match st.timer {
        Some((_, true)) => return,
        Some((_, false)) if !now => return,
        Some((id, false)) => {
            let mut data: *mut c_void = std::ptr::null_mut();
            // SAFETY: main thread; the timer's data is the boxed name given when armed.
            if unsafe { api!(RedisModule_StopTimer)(ctx, id, &mut data) }
                == raw::REDISMODULE_OK as c_int
                && !data.is_null()
            {
                drop(unsafe { Box::from_raw(data as *mut Vec<u8>) });
            }
        }
        None => {}
    }
    let delay = if now { 0 } else { p.def.max_latency_ms as i64 };
    let data = Box::into_raw(Box::new(p.def.name.clone())) as *mut c_void;
    // SAFETY: main thread; the callback frees `data`.
    let id = unsafe { api!(RedisModule_CreateTimer)(ctx, delay, Some(on_timer), data) };
    st.timer = Some((id, now));
}

unsafe extern "C" fn on_timer(ctx: *mut RedisModuleCtx, data: *mut c_void) {
    // SAFETY: armed by `schedule` with a boxed name.
    let name = unsafe { Box::from_raw(data as *mut Vec<u8>) };
    guard("pipeline timer", (), || {
        if let Some(p) = lookup(&name) {
            p.state().timer = None;
            section(ctx, || pump(ctx, &p));
        }
    });
}

unsafe extern "C" fn on_tick(ctx: *mut RedisModuleCtx, _data: *mut c_void) {
    guard("pipeline tick", (), || {
        if !all().is_empty() && runs_here(ctx) {
            let now = Instant::now();
            for p in all() {
                let (recover, waiting) = {
                    let st = p.state();
                    let idle = st.timer.is_none() && st.in_flight == 0;
                    let due = st.retry_at.map_or(true, |t| t <= now);
                    (
                        idle && due && st.recovering.is_some(),
                        idle && st.waiting > 0,
                    )
                };
                if recover {
                    section(ctx, || pump(ctx, &p));
                } else if waiting {
                    schedule(ctx, &p);
                }
            }
        }
    });
    // SAFETY: main thread timer context.
    unsafe { api!(RedisModule_CreateTimer)(ctx, TICK_MS, Some(on_tick), std::ptr::null_mut()) };
}

/// Runs `f` as a pipeline section (the server lock held by this thread), then writes the
/// batches that finished meanwhile.
fn section(ctx: *mut RedisModuleCtx, f: impl FnOnce()) {
    let outer = IN_SECTION.with(|s| s.replace(true));
    f();
    if !outer {
        loop {
            let Some(done) = DEFERRED.with(|d| d.borrow_mut().pop()) else {
                break;
            };
            finish_batch(ctx, done);
        }
        IN_SECTION.with(|s| s.set(false));
    }
}

// ---------------------------------------------------------------------------------------------
// Calls as the pipeline's user.

fn refusal(command: &[u8]) -> String {
    let cmd = String::from_utf8_lossy(command);
    match std::io::Error::last_os_error().raw_os_error() {
        Some(libc::EACCES) => format!(
            "NOPERM this user has no permissions to run the '{cmd}' command or to access one of its keys"
        ),
        Some(libc::ENOSPC) => "OOM command not allowed when used memory > 'maxmemory'.".into(),
        Some(libc::EROFS) => "READONLY You can't write against a read only replica.".into(),
        _ => format!("ERR the server refused to run '{cmd}' for a pipeline"),
    }
}

/// Calls `argv` on `ctx` as `user` in database `db`, with RedisModule_Call's `flags`.
fn call_as(
    ctx: *mut RedisModuleCtx,
    user: &[u8],
    db: c_int,
    argv: &[&[u8]],
    flags: &CStr,
) -> Result<Reply, String> {
    let (command, rest) = argv.split_first().ok_or("ERR empty call")?;
    let cname = CString::new(*command).map_err(|_| "ERR command name contains NUL")?;
    if !api_has!(RedisModule_SetContextUser) {
        return Err("ERR stream pipelines need Redis 7.0.6 or later".into());
    }
    let u = AclUser::by_name(user).ok_or_else(|| {
        format!(
            "NOPERM the user '{}' that registered the pipeline no longer exists",
            String::from_utf8_lossy(user)
        )
    })?;
    // SAFETY: the server lock is held; the user is reset before it is freed.
    unsafe {
        api!(RedisModule_SelectDb)(ctx, db);
        api!(RedisModule_SetContextUser)(ctx, u.as_ptr());
    }
    let strings: Vec<OwnedString> = rest.iter().map(|a| OwnedString::new(a)).collect();
    let mut raw_argv: Vec<*mut RedisModuleString> = strings.iter().map(|s| s.as_ptr()).collect();
    // SAFETY: as above.
    let out = unsafe { call(ctx, &cname, flags, &mut raw_argv) };
    // SAFETY: as above.
    unsafe { api!(RedisModule_SetContextUser)(ctx, std::ptr::null()) };
    drop(u);
    out.unwrap_or_else(|| Err(refusal(command)))
}

/// A plain call as the module (no user), for what the server has no API for.
fn call_plain(ctx: *mut RedisModuleCtx, argv: &[&[u8]], flags: &CStr) -> Result<Reply, String> {
    let (command, rest) = argv.split_first().ok_or("ERR empty call")?;
    let cname = CString::new(*command).map_err(|_| "ERR command name contains NUL")?;
    let strings: Vec<OwnedString> = rest.iter().map(|a| OwnedString::new(a)).collect();
    let mut raw_argv: Vec<*mut RedisModuleString> = strings.iter().map(|s| s.as_ptr()).collect();
    // SAFETY: the server lock is held by the caller.
    unsafe { call(ctx, &cname, flags, &mut raw_argv) }.unwrap_or_else(|| Err(refusal(command)))
}

// ---------------------------------------------------------------------------------------------
// Reading and launching batches.

/// A stream entry: id, and its fields (`None`: deleted while pending).
type Entry = (Vec<u8>, Option<Vec<(Vec<u8>, Vec<u8>)>>);

fn parse_entries(reply: Reply) -> Vec<Entry> {
    let Reply::Array(streams) = reply else {
        return Vec::new(); // nil: nothing new
    };
    let mut out = Vec::new();
    for s in streams {
        let Reply::Array(mut pair) = s else { continue };
        let Some(Reply::Array(entries)) = pair.pop() else {
            continue;
        };
        for e in entries {
            let Reply::Array(mut e) = e else { continue };
            if e.len() != 2 {
                continue;
            }
            let fields = e.pop();
            let Some(Reply::Str(id)) = e.pop() else {
                continue;
            };
            let fields = match fields {
                Some(Reply::Array(items)) => {
                    let mut kv = Vec::with_capacity(items.len() / 2);
                    let mut it = items.into_iter();
                    while let (Some(Reply::Str(k)), Some(Reply::Str(v))) = (it.next(), it.next()) {
                        kv.push((k, v));
                    }
                    Some(kv)
                }
                _ => None,
            };
            out.push((id, fields));
        }
    }
    out
}

/// Reads and queues batches until the stream is drained or MAXINFLIGHT are queued.
fn pump(ctx: *mut RedisModuleCtx, p: &Arc<Pipe>) {
    if !runs_here(ctx) || lookup(&p.def.name).map_or(true, |q| !Arc::ptr_eq(&q, p)) {
        return;
    }
    if p.state().retry_at.is_some_and(|t| t > Instant::now()) {
        return;
    }
    p.state().retry_at = None;
    let mut group_made = false;
    let count = p.def.batch.to_string();
    loop {
        let from = {
            let st = p.state();
            if st.in_flight >= p.def.max_in_flight {
                return;
            }
            st.recovering.clone()
        };
        let id = from.clone().unwrap_or_else(|| b">".to_vec());
        let argv: [&[u8]; 9] = [
            b"XREADGROUP",
            b"GROUP",
            &p.def.group,
            &p.def.name,
            b"COUNT",
            count.as_bytes(),
            b"STREAMS",
            &p.def.stream,
            &id,
        ];
        let entries = match call_as(ctx, &p.user, p.db, &argv, c"!Cv") {
            Ok(r) => parse_entries(r),
            Err(e) if e.starts_with("NOGROUP") && !group_made => {
                // The stream was deleted and made again: its entries are all new.
                group_made = true;
                let create: [&[u8]; 5] = [b"XGROUP", b"CREATE", &p.def.stream, &p.def.group, b"0"];
                if call_as(ctx, &p.user, p.db, &create, c"!Cv").is_ok() {
                    continue;
                }
                stall(p, e);
                return;
            }
            Err(e) => {
                stall(p, e);
                return;
            }
        };
        let mut st = p.state();
        if entries.is_empty() {
            if from.is_some() {
                // Own pending entries done; what arrived while nobody read (a restart, a
                // promotion) has waited long enough: it is read at once, in full batches.
                st.recovering = None;
                st.waiting = 1;
                continue;
            }
            st.waiting = 0;
            return;
        }
        if from.is_some() {
            st.recovering = entries.last().map(|(id, _)| id.clone());
        } else {
            st.waiting = st.waiting.saturating_sub(entries.len());
        }
        drop(st);
        launch(ctx, p, entries);
    }
}

/// Nothing more is read until the next event (or, when recovering, a second later).
fn stall(p: &Pipe, error: String) {
    let mut st = p.state();
    st.waiting = 0;
    if st.recovering.is_some() {
        st.retry_at = Some(Instant::now() + RETRY_AFTER);
    }
    st.last_error = Some(error);
}

/// A batch on its way: what its completion needs to write and acknowledge.
struct BatchDone {
    pipe: Arc<Pipe>,
    entries: Vec<Entry>,
    /// Per entry: in the batch, or refused with this text.
    accepted: Vec<Result<(), String>>,
    /// The DAG's outcome: output tensors in OUTPUTS order, or an error for the batch.
    outcome: Result<Vec<Arc<Tensor>>, String>,
    /// Whether it was counted in `in_flight`.
    counted: bool,
}

fn launch(ctx: *mut RedisModuleCtx, p: &Arc<Pipe>, entries: Vec<Entry>) {
    let values: Vec<Option<&[u8]>> = entries
        .iter()
        .map(|(_, f)| {
            f.as_ref().and_then(|kv| {
                kv.iter()
                    .find(|(k, _)| *k == p.def.field)
                    .map(|(_, v)| v.as_slice())
            })
        })
        .collect();
    let batch = pipeline::build_batch(&p.def, &values, config::tensor_limits());
    let mut done = BatchDone {
        pipe: p.clone(),
        entries,
        accepted: batch.accepted,
        outcome: Ok(Vec::new()),
        counted: false,
    };
    let Some(tensor) = batch.tensor else {
        return finish_batch(ctx, done);
    };
    match plan(ctx, p, Arc::new(tensor)) {
        Err(e) => {
            done.outcome = Err(e.to_string());
            finish_batch(ctx, done);
        }
        Ok((plan, gets)) if !plan.has_runs() => {
            done.outcome = outputs(Finished::immediate(plan.graph), &gets);
            finish_batch(ctx, done);
        }
        Ok((plan, gets)) => {
            p.state().in_flight += 1;
            done.counted = true;
            run::start(plan.graph, Box::new(Waiter { done, gets }));
        }
    }
}

/// The DAG of `p` on `input`: the plan, and the slots of its OUTPUTS.
fn plan(
    ctx: *mut RedisModuleCtx,
    p: &Pipe,
    input: Arc<Tensor>,
) -> AiResult<(Plan<Model>, Vec<usize>)> {
    let mut words: Vec<&[u8]> = vec![b"AI.DAGEXECUTE", b"LOAD", b"1", &p.def.input];
    words.extend(p.def.dag.iter().map(Vec::as_slice));
    for o in &p.def.outputs {
        words.extend([&b"|>"[..], b"AI.TENSORGET", o, b"BLOB"]);
    }
    // SAFETY: the server lock is held; the database is the pipeline's.
    unsafe { api!(RedisModule_SelectDb)(ctx, p.db) };
    // SAFETY: as above.
    let c = unsafe { Ctx::from_raw(ctx) };
    let mut keys = PipeKeys {
        ctx: &c,
        words: &words,
        input: Some(input),
        user: &p.user,
        db: p.db,
    };
    let plan = dag::parse(
        Flavor::Execute,
        words.as_slice(),
        &mut keys,
        config::tensor_limits(),
    )?;
    let o = &plan.outline;
    if !o.persist.is_empty() || !o.hashes.is_empty() || !o.searches.is_empty() {
        return Err(AiError::Pipeline(
            "ERR a pipeline's DAG cannot PERSIST, AI.HSET or AI.FTSEARCH: its results go to OUTPUT"
                .into(),
        ));
    }
    let k = p.def.outputs.len();
    let gets = o.ops[o.ops.len() - k..]
        .iter()
        .filter_map(|op| match op {
            OpKind::Get { slot, .. } => Some(*slot),
            _ => None,
        })
        .collect();
    Ok((plan, gets))
}

/// The keyspace a pipeline's DAG sees: its batch as the LOADed input, the rest by name.
struct PipeKeys<'c> {
    ctx: &'c Ctx,
    words: &'c [&'c [u8]],
    input: Option<Arc<Tensor>>,
    user: &'c [u8],
    db: c_int,
}

impl PipeKeys<'_> {
    fn open<T: crate::redis::StoredType>(&self, word: usize) -> AiResult<Option<Arc<T>>> {
        let name = OwnedString::new(self.words[word]);
        self.ctx.open_key(name.as_ptr(), false).get_arc::<T>()
    }
}

impl Keyspace<Model> for PipeKeys<'_> {
    fn tensor(&mut self, word: usize) -> AiResult<Arc<Tensor>> {
        if word == 3 {
            if let Some(t) = self.input.clone() {
                return Ok(t);
            }
        }
        self.open::<Tensor>(word)?.ok_or(AiError::TensorKeyEmpty)
    }
    fn model(&mut self, word: usize) -> AiResult<Arc<Model>> {
        self.open::<Model>(word)?.ok_or(AiError::ModelKeyEmpty)
    }
    fn script(&mut self, word: usize) -> AiResult<Arc<Script>> {
        self.open::<Script>(word)?.ok_or(AiError::ScriptKeyEmpty)
    }
    fn script_env(&mut self, keys: Vec<Vec<u8>>) -> Arc<dyn ScriptServices + Send + Sync> {
        crate::sandbox::env_as(self.user.to_vec(), self.db, keys)
    }
    fn writable(&mut self, _word: usize) -> AiResult<()> {
        Ok(()) // PERSIST is refused once the plan is made
    }
}

fn outputs(f: Finished, gets: &[usize]) -> Result<Vec<Arc<Tensor>>, String> {
    if f.timed_out {
        return Err("ERR the pipeline's DAG timed out".into());
    }
    for r in &f.results {
        if let OpResult::Failed(e) = r {
            return Err(e.clone());
        }
    }
    gets.iter()
        .map(|&s| {
            f.slots
                .get(s)
                .cloned()
                .flatten()
                .ok_or_else(|| "ERR an output tensor of the pipeline was not produced".to_string())
        })
        .collect()
}

/// Waits for a batch's DAG; its completion runs on a worker thread.
struct Waiter {
    done: BatchDone,
    gets: Vec<usize>,
}

impl Client for Waiter {
    fn started(&mut self) {}

    fn finished(self: Box<Self>, result: Finished) {
        let mut done = self.done;
        done.outcome = outputs(result, &self.gets);
        if IN_SECTION.with(Cell::get) {
            DEFERRED.with(|d| d.borrow_mut().push(done));
            return;
        }
        let ctx = CALL_CTX.load(Ordering::Acquire);
        if ctx.is_null() {
            return;
        }
        // SAFETY: the detached context made at load; unlocked below.
        unsafe { api!(RedisModule_ThreadSafeContextLock)(ctx) };
        guard("pipeline batch", (), || {
            let pipe = done.pipe.clone();
            section(ctx, || {
                finish_batch(ctx, done);
                pump(ctx, &pipe);
            });
        });
        // SAFETY: taken above.
        unsafe { api!(RedisModule_ThreadSafeContextUnlock)(ctx) };
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A record's fields: output tensor name, row bytes.
type Fields<'a> = Vec<(&'a [u8], &'a [u8])>;

/// Writes a finished batch's records, then acknowledges its entries (server lock held).
fn finish_batch(ctx: *mut RedisModuleCtx, done: BatchDone) {
    let p = &done.pipe;
    if done.counted {
        let mut st = p.state();
        st.in_flight = st.in_flight.saturating_sub(1);
    }
    if !runs_here(ctx) {
        return; // a replica now: the new master reads these entries again
    }
    let rows = done.accepted.iter().filter(|a| a.is_ok()).count();
    let mut row = 0usize;
    let mut failed = 0u64;
    let mut write_error = None;
    for ((id, fields), verdict) in done.entries.iter().zip(&done.accepted) {
        let record: Result<Fields<'_>, String> = match (verdict, &done.outcome) {
            (Err(e), _) => Err(e.clone()),
            (Ok(()), Err(e)) => {
                row += 1;
                Err(e.clone())
            }
            (Ok(()), Ok(tensors)) => {
                let i = row;
                row += 1;
                p.def
                    .outputs
                    .iter()
                    .zip(tensors)
                    .map(|(name, t)| {
                        pipeline::row(t, rows, i)
                            .map(|r| (name.as_slice(), r))
                            .map_err(|e| e.to_string())
                    })
                    .collect()
            }
        };
        let error_text;
        let mut out_fields: Vec<(&[u8], &[u8])> = Vec::new();
        match &record {
            Ok(r) => out_fields.extend(r.iter().copied()),
            Err(e) => {
                failed += 1;
                error_text = e.clone();
                out_fields.push((b"error", error_text.as_bytes()));
            }
        }
        let result = match &p.def.output {
            Output::Stream { key, maxlen } => {
                let maxlen = maxlen.map(|m| m.to_string());
                let mut argv: Vec<&[u8]> = vec![b"XADD", key];
                if let Some(m) = &maxlen {
                    argv.extend([&b"MAXLEN"[..], b"~", m.as_bytes()]);
                }
                argv.extend([&b"*"[..], b"id", id]);
                for (k, v) in &out_fields {
                    argv.extend([*k, *v]);
                }
                call_as(ctx, &p.user, p.db, &argv, c"!CMv")
            }
            Output::Hash { prefix } => {
                let mut key = prefix.clone();
                key.extend_from_slice(id);
                let mut argv: Vec<&[u8]> = vec![b"HSET", &key];
                for (k, v) in fields.iter().flatten() {
                    argv.extend([k.as_slice(), v.as_slice()]);
                }
                for (k, v) in &out_fields {
                    argv.extend([*k, *v]);
                }
                call_as(ctx, &p.user, p.db, &argv, c"!CMv")
            }
        };
        if let Err(e) = result {
            write_error = Some(e);
            break;
        }
    }
    if let Some(e) = write_error {
        // Not acknowledged: the entries stay pending and are read again a second later.
        let mut st = p.state();
        st.write_errors += 1;
        st.last_error = Some(e);
        st.recovering = Some(b"0-0".to_vec());
        st.retry_at = Some(Instant::now() + RETRY_AFTER);
        return;
    }
    let mut argv: Vec<&[u8]> = vec![b"XACK", &p.def.stream, &p.def.group];
    argv.extend(done.entries.iter().map(|(id, _)| id.as_slice()));
    if let Err(e) = call_as(ctx, &p.user, p.db, &argv, c"!Cv") {
        p.state().last_error = Some(e);
    }
    let now = now_ms();
    let mut st = p.state();
    st.batches += 1;
    st.failed += failed;
    st.processed += done.entries.len() as u64 - failed;
    for (id, _) in &done.entries {
        if let Some(ms) = pipeline::id_millis(id) {
            st.latency.record(now.saturating_sub(ms) as f64);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Registering.

/// Checks a definition as its registering user would run it: key types, the user's rights on
/// every command it will run, and the DAG planned on an input of one entry.
pub fn validate(ctx: &Ctx, def: &Def, user: &[u8]) -> AiResult<()> {
    if registry().len() >= pipeline::MAX_PIPELINES {
        return Err(AiError::Pipeline(format!(
            "ERR at most {} pipelines",
            pipeline::MAX_PIPELINES
        )));
    }
    if lookup(&def.name).is_some() {
        return Err(AiError::Pipeline("ERR the pipeline already exists".into()));
    }
    // Two consumers of one group would split the entries between two different DAGs.
    let db = current_db(ctx);
    if let Some(other) = all()
        .into_iter()
        .find(|p| p.db == db && p.def.stream == def.stream && p.def.group == def.group)
    {
        return Err(AiError::Pipeline(format!(
            "ERR pipeline '{}' already reads this stream with group '{}'",
            String::from_utf8_lossy(&other.def.name),
            String::from_utf8_lossy(&def.group)
        )));
    }
    if config::pure_aof(ctx) {
        return Err(AiError::Pipeline(
            "ERR pipelines need aof-use-rdb-preamble yes when appendonly is on (their \
             definitions live in the RDB preamble; a plain AOF rewrite would lose them)"
                .into(),
        ));
    }
    let raw = ctx.raw_ctx();
    let mut keys = vec![&def.stream];
    if let Output::Stream { key, .. } = &def.output {
        keys.push(key);
    }
    for k in keys {
        match call_plain(raw, &[b"TYPE", k], c"v") {
            Ok(Reply::Str(t)) if t == b"none" || t == b"stream" => {}
            Ok(_) => return Err(AiError::WrongType),
            Err(e) => return Err(AiError::Pipeline(e)),
        }
    }
    let sample: Vec<u8> = match &def.output {
        Output::Hash { prefix } => [prefix.as_slice(), b"0-1"].concat(),
        Output::Stream { key, .. } => key.clone(),
    };
    let out_cmd: Vec<&[u8]> = match &def.output {
        Output::Hash { .. } => vec![b"HSET", &sample, b"f", b"v"],
        Output::Stream { .. } => vec![b"XADD", &sample, b"*", b"f", b"v"],
    };
    let checks: [Vec<&[u8]>; 4] = [
        vec![
            b"XREADGROUP",
            b"GROUP",
            &def.group,
            &def.name,
            b"COUNT",
            b"1",
            b"STREAMS",
            &def.stream,
            b">",
        ],
        vec![b"XACK", &def.stream, &def.group, b"0-1"],
        vec![
            b"XGROUP",
            b"CREATE",
            &def.stream,
            &def.group,
            b"$",
            b"MKSTREAM",
        ],
        out_cmd,
    ];
    for check in checks {
        let mut argv: Vec<&[u8]> = vec![b"ACL", b"DRYRUN", user];
        argv.extend(check);
        match call_plain(raw, &argv, c"v") {
            Ok(Reply::Str(ok)) if ok == b"OK" => {}
            Ok(Reply::Str(why)) => {
                return Err(AiError::Pipeline(format!(
                    "NOPERM {}",
                    String::from_utf8_lossy(&why)
                )))
            }
            // A server without ACL DRYRUN (before 7.0) cannot say: refuse rather than guess.
            Ok(_) | Err(_) => {
                return Err(AiError::Pipeline(
                    "ERR the server cannot check the pipeline's permissions (ACL DRYRUN)".into(),
                ))
            }
        }
    }
    // The DAG's models and scripts, readable by the user; then the DAG planned for real.
    let body: Vec<&[u8]> = std::iter::once(&b"DAG"[..])
        .chain(def.dag.iter().map(Vec::as_slice))
        .collect();
    if let Some(u) = AclUser::by_name(user) {
        for (pos, _) in dag::key_positions(body.as_slice()) {
            if !u.may_read(body[pos]) {
                return Err(AiError::Pipeline(format!(
                    "NOPERM this user has no permissions to access the '{}' key",
                    String::from_utf8_lossy(body[pos])
                )));
            }
        }
    }
    let mut shape: Shape = Shape::new();
    shape.push(1);
    shape.extend(def.dims.iter().copied());
    let sample = if def.dtype == DType::String {
        Tensor::from_vec(DType::String, shape, vec![0], config::tensor_limits())?
    } else {
        Tensor::zeros(def.dtype, shape, config::tensor_limits())?
    };
    let probe = Pipe {
        def: def.clone(),
        user: user.to_vec(),
        db: current_db(ctx),
        state: Mutex::default(),
    };
    let (_, gets) = plan(raw, &probe, Arc::new(sample))?;
    if gets.len() != def.outputs.len() {
        return Err(AiError::Pipeline(
            "ERR an OUTPUTS tensor is not in the DAG".into(),
        ));
    }
    Ok(())
}

pub fn current_db(ctx: &Ctx) -> c_int {
    // SAFETY: live context.
    unsafe { api!(RedisModule_GetSelectedDb)(ctx.raw_ctx()) }
}

/// Creates the consumer group (new entries only; an existing group keeps its position).
/// Whether it already existed: its pending entries and backlog are then read first.
pub fn create_group(ctx: &Ctx, def: &Def) -> AiResult<bool> {
    let argv: [&[u8]; 6] = [
        b"XGROUP",
        b"CREATE",
        &def.stream,
        &def.group,
        b"$",
        b"MKSTREAM",
    ];
    match call_plain(ctx.raw_ctx(), &argv, c"!Cv") {
        Ok(_) => Ok(false),
        Err(e) if e.starts_with("BUSYGROUP") => Ok(true),
        Err(e) => Err(AiError::Pipeline(e)),
    }
}

/// Registers a pipeline. With `recover` it starts with its consumer's pending entries and
/// the group's backlog (read by the tick), else with the next entry added.
pub fn insert(def: Def, user: Vec<u8>, db: c_int, recover: bool) {
    let name = def.name.clone();
    let pipe = Arc::new(Pipe {
        def,
        user,
        db,
        state: Mutex::new(RunState {
            recovering: recover.then(|| b"0-0".to_vec()),
            ..RunState::default()
        }),
    });
    registry().insert(name, pipe);
}

/// Removes a pipeline; a batch in flight still writes its results.
pub fn remove(ctx: &Ctx, name: &[u8]) -> bool {
    let Some(p) = registry().remove(name) else {
        return false;
    };
    if let Some((id, _)) = p.state().timer.take() {
        let mut data: *mut c_void = std::ptr::null_mut();
        // SAFETY: main thread; the data is the boxed name given when armed.
        if unsafe { api!(RedisModule_StopTimer)(ctx.raw_ctx(), id, &mut data) }
            == raw::REDISMODULE_OK as c_int
            && !data.is_null()
        {
            drop(unsafe { Box::from_raw(data as *mut Vec<u8>) });
        }
    }
    true
}

pub fn names() -> Vec<Vec<u8>> {
    registry().keys().cloned().collect()
}

/// What AI.PIPELINE INFO and INFO show of one pipeline.
pub struct Stats {
    pub running: bool,
    pub processed: u64,
    pub failed: u64,
    pub batches: u64,
    pub write_errors: u64,
    pub in_flight: u64,
    pub lag: i64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub last_error: Option<String>,
}

/// The group's lag (entries not yet delivered), -1 when the server cannot tell.
fn lag(ctx: *mut RedisModuleCtx, p: &Pipe) -> i64 {
    // SAFETY: the server lock is held by the caller.
    unsafe { api!(RedisModule_SelectDb)(ctx, p.db) };
    let Ok(Reply::Array(groups)) = call_plain(ctx, &[b"XINFO", b"GROUPS", &p.def.stream], c"v")
    else {
        return -1;
    };
    for g in groups {
        let Reply::Array(kv) = g else { continue };
        let mut name = None;
        let mut lag = None;
        for pair in kv.chunks(2) {
            match pair {
                [Reply::Str(k), Reply::Str(v)] if k == b"name" => name = Some(v.clone()),
                [Reply::Str(k), Reply::Int(v)] if k == b"lag" => lag = Some(*v),
                _ => {}
            }
        }
        if name.as_deref() == Some(&p.def.group[..]) {
            return lag.unwrap_or(-1);
        }
    }
    -1
}

/// The pipeline and its statistics (main thread).
pub fn stats(name: &[u8]) -> Option<(Arc<Pipe>, Stats)> {
    let p = lookup(name)?;
    let ctx = CALL_CTX.load(Ordering::Acquire);
    let lag = if ctx.is_null() { -1 } else { lag(ctx, &p) };
    let running = !ctx.is_null() && runs_here(ctx);
    let st = p.state();
    let s = Stats {
        running,
        processed: st.processed,
        failed: st.failed,
        batches: st.batches,
        write_errors: st.write_errors,
        in_flight: st.in_flight as u64,
        lag,
        p50_ms: st.latency.percentile(50.0),
        p99_ms: st.latency.percentile(99.0),
        last_error: st.last_error.clone(),
    };
    drop(st);
    Some((p, s))
}

// ---------------------------------------------------------------------------------------------
// Definitions in the RDB (aux data, before the keyspace).

const AUX_VERSION: i32 = 1;

pub static PIPELINE_AUX_TYPE: redis_module::native_types::RedisType =
    redis_module::native_types::RedisType::new(
        "AI_PIPELN",
        AUX_VERSION,
        crate::types::aux_only_methods(aux_load, aux_save, aux_save_if_any),
    );

/// Redis 7.0: the field is written whatever we do, so an empty registry is a count of 0.
unsafe extern "C" fn aux_save(io: *mut RedisModuleIO, when: c_int) {
    save_defs(io, when, true)
}

unsafe extern "C" fn aux_save_if_any(io: *mut RedisModuleIO, when: c_int) {
    save_defs(io, when, false)
}

fn save_defs(io: *mut RedisModuleIO, when: c_int, always: bool) {
    if when != raw::Aux::Before as c_int {
        return;
    }
    guard("AI_PIPELN aux_save", (), || {
        let pipes = all();
        if pipes.is_empty() && !always {
            return;
        }
        // SAFETY: the IO handle of the running aux_save callback.
        let mut w = unsafe { crate::types::io::Writer::new(io) };
        w.unsigned(pipes.len() as u64);
        for p in pipes {
            w.buffer(&p.def.name);
            w.buffer(&p.user);
            w.signed(p.db.into());
            w.unsigned(p.def.args.len() as u64);
            for a in &p.def.args {
                w.buffer(a);
            }
        }
    })
}

unsafe extern "C" fn aux_load(io: *mut RedisModuleIO, encver: c_int, when: c_int) -> c_int {
    let err = raw::REDISMODULE_ERR as c_int;
    if when != raw::Aux::Before as c_int {
        return raw::REDISMODULE_OK as c_int;
    }
    guard("AI_PIPELN aux_load", err, || {
        if encver != AUX_VERSION {
            log(
                Level::Warning,
                &format!("AI_PIPELN aux data version {encver} is not understood"),
            );
            return err;
        }
        // SAFETY: the IO handle of the running aux_load callback.
        let mut r = unsafe { crate::types::io::Reader::new(io) };
        let Ok(loaded) = read_defs(&mut r) else {
            return err;
        };
        let mut pipes = Vec::new();
        for (name, user, db, args) in loaded {
            let words: Vec<&[u8]> = std::iter::once(name.as_slice())
                .chain(args.iter().map(Vec::as_slice))
                .collect();
            match pipeline::parse_add(words.as_slice()) {
                Ok(def) => pipes.push((def, user, db)),
                Err(e) => {
                    log(
                        Level::Warning,
                        &format!(
                            "pipeline {} in the RDB could not be re-created: {e}",
                            String::from_utf8_lossy(&name)
                        ),
                    );
                    return err;
                }
            }
        }
        let mut reg = registry();
        reg.clear();
        for (def, user, db) in pipes {
            let name = def.name.clone();
            reg.insert(
                name,
                Arc::new(Pipe {
                    def,
                    user,
                    db,
                    state: Mutex::new(RunState {
                        recovering: Some(b"0-0".to_vec()),
                        ..RunState::default()
                    }),
                }),
            );
        }
        raw::REDISMODULE_OK as c_int
    })
}

type Loaded = Vec<(Vec<u8>, Vec<u8>, c_int, Vec<Vec<u8>>)>;

/// Read one at a time: a corrupt count fails at the first short read.
fn read_defs(r: &mut crate::types::io::Reader) -> Result<Loaded, crate::types::io::IoError> {
    let n = r.unsigned()?;
    let mut out = Vec::new();
    for _ in 0..n {
        let name = r.buffer()?;
        let user = r.buffer()?;
        let db = r.signed()?;
        let db = c_int::try_from(db).map_err(|_| crate::types::io::IoError)?;
        let nargs = r.unsigned()?;
        let mut args = Vec::new();
        for _ in 0..nargs {
            args.push(r.buffer()?);
        }
        out.push((name, user, db, args));
    }
    Ok(out)
}
