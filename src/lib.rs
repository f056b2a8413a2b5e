//! redisai: RedisAI-compatible model serving (and, later, vector search) as a Redis module.
//!
//! This file is the table of contents: the module's identity, its data types, its commands
//! and what happens at load. The logic lives in the modules below.

// Only the pure core is public; the Redis glue is reachable from the server alone.
mod alloc;
mod args;
mod backend;
mod cluster;
mod commands;
mod config;
mod dag;
pub mod error;
mod exec;
// The cargo-fuzz targets' way into the private parsers (fuzz/, `make fuzz`).
#[doc(hidden)]
pub mod fuzzing;
mod index_sync;
mod info;
mod model;
mod pipeline;
mod redis;
mod sandbox;
mod script;
pub mod search;
mod stats;
mod stored;
mod stream_pipes;
pub mod tensor;
mod types;

use std::ffi::{c_int, c_void};
use std::time::Duration;

use redis_module::{raw, redis_module, Context, RedisString, Status};

use index_sync::SEARCH_AUX_TYPE;
use redis::{api, Level};
use redis::{command, CommandSpec};
use stream_pipes::PIPELINE_AUX_TYPE;
use types::model::MODEL_TYPE;
use types::script::SCRIPT_TYPE;
use types::suggest::SUGGEST_TYPE;
use types::tensor::TENSOR_TYPE;

/// The module version as Redis shows it (`MODULE LIST`): major·10000 + minor·100 + patch.
pub const MODULE_VERSION: i32 = {
    const fn num(s: &str) -> i32 {
        let b = s.as_bytes();
        let mut i = 0;
        let mut n = 0;
        while i < b.len() {
            n = n * 10 + (b[i] - b'0') as i32;
            i += 1;
        }
        n
    }
    num(env!("CARGO_PKG_VERSION_MAJOR")) * 10000
        + num(env!("CARGO_PKG_VERSION_MINOR")) * 100
        + num(env!("CARGO_PKG_VERSION_PATCH"))
};

/// Every command: name, handler, flags, first key, last key, key step (spec §1.3).
#[rustfmt::skip]
static COMMANDS: &[CommandSpec] = &[
    command!("AI.TENSORSET",    commands::tensor::tensorset,   "write deny-oom getkeys-api", 1, 1, 1),
    command!("AI.TENSORGET",    commands::tensor::tensorget,   "readonly getkeys-api", 1, 1, 1),
    command!("AI.MODELSTORE",   commands::model::modelstore,   "write deny-oom getkeys-api", 1, 1, 1),
    command!("AI.MODELSET",     commands::model::modelset,     "write deny-oom getkeys-api", 1, 1, 1),
    command!("AI.MODELGET",     commands::model::modelget,     "readonly getkeys-api", 1, 1, 1),
    command!("AI.MODELDEL",     commands::model::modeldel,     "write getkeys-api", 1, 1, 1),
    command!("AI.MODELEXECUTE", commands::model::modelexecute, "write deny-oom getkeys-api", 4, 4, 1),
    command!("AI.MODELRUN",     commands::model::modelrun,     "write deny-oom getkeys-api", 3, 3, 1),
    command!("AI.DAGEXECUTE",   commands::dag::dagexecute,     "write deny-oom getkeys-api", 3, 3, 1),
    command!("AI.DAGEXECUTE_RO", commands::dag::dagexecute_ro, "readonly getkeys-api", 3, 3, 1),
    command!("AI.DAGRUN",       commands::dag::dagrun,         "write deny-oom getkeys-api", 3, 3, 1),
    command!("AI.DAGRUN_RO",    commands::dag::dagrun_ro,      "readonly getkeys-api", 3, 3, 1),
    command!("AI._MODELSCAN",   commands::model::modelscan,    "readonly",       0, 0, 0),
    command!("AI.SCRIPTSTORE",  commands::script::scriptstore, "write deny-oom getkeys-api", 1, 1, 1),
    command!("AI.SCRIPTSET",    commands::script::scriptset,   "write deny-oom getkeys-api", 1, 1, 1),
    command!("AI.SCRIPTGET",    commands::script::scriptget,   "readonly getkeys-api", 1, 1, 1),
    command!("AI.SCRIPTDEL",    commands::script::scriptdel,   "write getkeys-api", 1, 1, 1),
    command!("AI.SCRIPTEXECUTE", commands::script::scriptexecute, "write deny-oom getkeys-api", 1, 1, 1),
    command!("AI.SCRIPTRUN",    commands::script::scriptrun,   "write deny-oom getkeys-api", 1, 1, 1),
    command!("AI._SCRIPTSCAN",  commands::script::scriptscan,  "readonly",       0, 0, 0),
    command!("AI.INFO",         commands::stored::info,         "readonly getkeys-api", 1, 1, 1),
    // Not "write" as upstream: it changes no data, and replicas need it to reach backends.
    // Not "write": LIST and INFO answer on replicas; ADD and DEL refuse there themselves.
    // Keys: the streams and the DAG's models, reported for ADD.
    command!("AI.PIPELINE",     commands::pipeline::pipeline,  "may-replicate getkeys-api", 0, 0, 0),
    command!("AI.CONFIG",       commands::admin::config,       "",               0, 0, 0),
];

/// RediSearch's commands. Each is registered only if the server does not already have it
/// (Redis 8's query engine, valkey-search): the native one then wins, and this module still
/// loads beside it.
#[rustfmt::skip]
static SEARCH_COMMANDS: &[CommandSpec] = &[
    command!("FT.CREATE",    commands::search::create,    "write deny-oom", 0, 0, 0),
    // On a cluster node these two answer for the whole cluster (the fan-out is in
    // search_cluster.rs); elsewhere they are search.rs's.
    command!("FT.SEARCH",    commands::search_cluster::search_command, "readonly", 0, 0, 0),
    command!("FT.INFO",      commands::search_cluster::info_command,   "readonly", 0, 0, 0),
    command!("FT.DROPINDEX", commands::search::dropindex, "write",          0, 0, 0),
    command!("FT.AGGREGATE", commands::aggregate_cluster::aggregate_command, "readonly", 0, 0, 0),
    command!("FT.CURSOR",    commands::aggregate::cursor_command, "readonly", 0, 0, 0),
    command!("FT.HYBRID",    commands::aggregate_cluster::hybrid_command, "readonly", 0, 0, 0),
    command!("FT._LIST",     commands::search::list,      "readonly",       0, 0, 0),
    command!("FT.TAGVALS",   commands::search_cluster::tagvals_command, "readonly", 0, 0, 0),
    command!("FT.EXPLAIN",   commands::search::explain,   "readonly",       0, 0, 0),
    command!("FT.EXPLAINCLI", commands::search::explaincli, "readonly",     0, 0, 0),
    command!("FT.ALTER",     commands::search::alter,     "write deny-oom", 0, 0, 0),
    command!("FT.CONFIG",    commands::search::config,    "admin",          0, 0, 0),
    command!("FT.ALIASADD",  commands::search::aliasadd,  "write",          0, 0, 0),
    command!("FT.ALIASUPDATE", commands::search::aliasupdate, "write",      0, 0, 0),
    command!("FT.ALIASDEL",  commands::search::aliasdel,  "write",          0, 0, 0),
    command!("FT.SUGADD",    commands::suggest::sugadd,   "write deny-oom", 1, 1, 1),
    command!("FT.SUGGET",    commands::suggest::sugget,   "readonly",       1, 1, 1),
    command!("FT.SUGDEL",    commands::suggest::sugdel,   "write",          1, 1, 1),
    command!("FT.SUGLEN",    commands::suggest::suglen,   "readonly",       1, 1, 1),
    command!("FT.DICTADD",   commands::suggest::dictadd,  "write deny-oom", 0, 0, 0),
    command!("FT.DICTDEL",   commands::suggest::dictdel,  "write",          0, 0, 0),
    command!("FT.DICTDUMP",  commands::suggest::dictdump, "readonly",       0, 0, 0),
    command!("FT.SPELLCHECK", commands::spell::spellcheck, "readonly",      0, 0, 0),
    command!("FT.SYNUPDATE", commands::spell::synupdate,  "write",          0, 0, 0),
    command!("FT.SYNDUMP",   commands::spell::syndump,    "readonly",       0, 0, 0),
    command!("FT.SYNADD",    commands::spell::synadd,     "write",          0, 0, 0),
    command!("FT.PROFILE",   commands::aggregate::profile, "readonly",      0, 0, 0),
    command!("FT.GET",       commands::search::get,       "readonly",       2, 2, 1),
    command!("FT.MGET",      commands::search::mget,      "readonly",       2, -1, 1),
    command!("FT.DEBUG",     commands::search::debug,     "readonly",       0, 0, 0),
];

fn init(ctx: &Context, args: &[RedisString]) -> Status {
    match load(ctx, args) {
        Ok(()) => Status::Ok,
        Err(e) => {
            redis::log_raw(
                ctx.ctx,
                Level::Warning,
                &format!("redisai failed to load: {e}"),
            );
            Status::Err
        }
    }
}

fn load(ctx: &Context, args: &[RedisString]) -> Result<(), String> {
    let raw_ctx = ctx.ctx;
    // SAFETY: OnLoad context.
    unsafe {
        api!(RedisModule_SetModuleOptions)(
            raw_ctx,
            raw::REDISMODULE_OPTIONS_HANDLE_IO_ERRORS as c_int,
        )
    };
    let words: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
    let load_args = config::parse_load_args(&words)?;
    config::apply_load_args(&load_args)?;
    config::register(raw_ctx)?;
    // SAFETY: the OnLoad context.
    config::refresh_server_limits(&unsafe { redis::Ctx::from_raw(raw_ctx) });
    for (kind, path) in &load_args.preload {
        backend::load(*kind, path)?;
    }
    exec::report_panics_to(|line| redis::log(Level::Warning, line));
    // RedisAI makes the CPU queue at load, and clients read its workers in INFO's ai_cpu
    // before any model exists. Idle workers sleep on their queue's condition variable.
    exec::queue("CPU", config::THREADS_PER_QUEUE.get().max(1) as usize)?;
    redis::register(raw_ctx, COMMANDS)?;
    sandbox::init(raw_ctx);
    redis::watch_acl_changes(raw_ctx);
    redis::register_unless_present(raw_ctx, SEARCH_COMMANDS);
    index_sync::subscribe(raw_ctx)?;
    stream_pipes::init(raw_ctx)?;
    cluster::init(raw_ctx)?;
    commands::search_cluster::init(raw_ctx);
    commands::aggregate_cluster::init(raw_ctx);
    // SAFETY: OnLoad context; the callbacks are 'static functions.
    unsafe {
        api!(RedisModule_RegisterInfoFunc)(raw_ctx, Some(info::info));
        api!(RedisModule_SubscribeToServerEvent)(
            raw_ctx,
            raw::RedisModuleEvent {
                id: raw::REDISMODULE_EVENT_CONFIG,
                dataver: 1,
            },
            Some(config::on_config_change),
        );
        api!(RedisModule_SubscribeToServerEvent)(
            raw_ctx,
            raw::RedisModuleEvent {
                id: raw::REDISMODULE_EVENT_SHUTDOWN,
                dataver: 1,
            },
            Some(on_shutdown),
        );
    }
    redis::log_raw(
        raw_ctx,
        Level::Notice,
        &format!(
            "redisai {} loaded (backends path {})",
            env!("CARGO_PKG_VERSION"),
            config::backends_path()
        ),
    );
    Ok(())
}

/// Server event: the server is exiting. Workers stop taking jobs; a run in progress gets a
/// moment to finish so no engine is mid-call while the process tears down.
unsafe extern "C" fn on_shutdown(
    _ctx: *mut redis::RedisModuleCtx,
    _eid: raw::RedisModuleEvent,
    _subevent: u64,
    _data: *mut c_void,
) {
    redis::guard("shutdown event", (), || {
        exec::shutdown(Duration::from_secs(2))
    });
}

redis_module! {
    name: "ai",
    version: MODULE_VERSION,
    allocator: (alloc::HybridAlloc, alloc::HybridAlloc),
    data_types: [TENSOR_TYPE, MODEL_TYPE, SCRIPT_TYPE, SEARCH_AUX_TYPE, PIPELINE_AUX_TYPE, SUGGEST_TYPE],
    init: init,
}
