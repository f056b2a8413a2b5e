//! The `ai_*` sections of `INFO MODULES` (spec §7). Section order and field names are
//! RedisAI's, because tools locate sections by position and check field lists; the
//! `ai_backends_info` header is always present, even with no backend loaded.

#![warn(clippy::undocumented_unsafe_blocks)]

use std::ffi::{c_int, CStr, CString};

use redis_module::raw::RedisModuleInfoCtx;

use crate::backend::{self, BackendKind};
use crate::config;
use crate::exec;
use crate::redis::api;

/// Git commit the module was built from (set by build.rs; "unknown" outside a checkout).
const GIT_SHA: &str = env!("REDISAI_GIT_SHA");

struct Info(*mut RedisModuleInfoCtx);

impl Info {
    fn section(&self, name: &CStr) {
        // SAFETY: live info context.
        unsafe { api!(RedisModule_InfoAddSection)(self.0, name.as_ptr()) };
    }

    fn text(&self, field: &CStr, value: &str) {
        let value = CString::new(value).unwrap_or_default();
        // SAFETY: live info context, NUL-terminated strings.
        unsafe { api!(RedisModule_InfoAddFieldCString)(self.0, field.as_ptr(), value.as_ptr()) };
    }

    fn long(&self, field: &CStr, value: i64) {
        // SAFETY: live info context.
        unsafe { api!(RedisModule_InfoAddFieldLongLong)(self.0, field.as_ptr(), value) };
    }
}

/// CPU time of `who` as (system, user), each `seconds.micros`.
fn cpu(who: c_int) -> (String, String) {
    // SAFETY: rusage is plain C data (integers and timevals), for which all zeroes is valid.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage only writes the struct it is given.
    if unsafe { libc::getrusage(who, &mut u) } != 0 {
        return ("0.000000".into(), "0.000000".into());
    }
    let fmt = |t: libc::timeval| format!("{}.{:06}", t.tv_sec, t.tv_usec);
    (fmt(u.ru_stime), fmt(u.ru_utime))
}

/// Registered with `RedisModule_RegisterInfoFunc`; runs on the main thread.
pub unsafe extern "C" fn info(ctx: *mut RedisModuleInfoCtx, for_crash_report: c_int) {
    crate::redis::guard("INFO", (), || {
        let i = Info(ctx);
        i.section(c"versions");
        i.text(c"RedisAI_version", env!("CARGO_PKG_VERSION"));
        // No low-level C API is exported to other modules (yet); 0 says so.
        i.long(c"low_level_API_version", 0);
        i.long(c"rdb_version", crate::types::ENCODING_VERSION.into());

        i.section(c"git");
        i.text(c"git_sha", GIT_SHA);

        i.section(c"load_time_configs");
        i.long(c"threads_per_queue", config::THREADS_PER_QUEUE.get());
        i.long(c"inter_op_parallelism", config::INTER_OP_PARALLELISM.get());
        i.long(c"intra_op_parallelism", config::INTRA_OP_PARALLELISM.get());
        i.long(
            c"model_execution_timeout",
            config::MODEL_EXECUTION_TIMEOUT.get(),
        );
        i.long(c"backend_memory_limit", config::BACKEND_MEMORY_LIMIT.get());

        i.section(c"backends_info");
        for plugin in backend::all_loaded() {
            match plugin.kind {
                BackendKind::Onnx => {
                    i.text(c"onnxruntime_version", &plugin.engine_version);
                    // One engine session per worker thread of every queue.
                    let sessions = config::THREADS_PER_QUEUE.get() * exec::queues().len() as i64;
                    i.long(c"onnxruntime_maximum_run_sessions_number", sessions);
                }
                BackendKind::Torch => i.text(c"Torch_version", &plugin.engine_version),
                BackendKind::Tf => i.text(c"TensorFlow_version", &plugin.engine_version),
                BackendKind::Tflite => i.text(c"TensorFlowLite_version", &plugin.engine_version),
                BackendKind::Tokenizer => i.text(c"tokenizers_version", &plugin.engine_version),
            }
        }

        i.section(c"cpu");
        let (sys, user) = cpu(libc::RUSAGE_SELF);
        i.text(c"self_used_cpu_sys", &sys);
        i.text(c"self_used_cpu_user", &user);
        let (sys, user) = cpu(libc::RUSAGE_CHILDREN);
        i.text(c"children_used_cpu_sys", &sys);
        i.text(c"children_used_cpu_user", &user);
        let (sys, user) = cpu(libc::RUSAGE_THREAD);
        i.text(c"main_thread_used_cpu_sys", &sys);
        i.text(c"main_thread_used_cpu_user", &user);
        for q in exec::queues() {
            // A device such as GPU:1 cannot stand in a field name as is (':' ends the name).
            let device = q.name.replace(':', "_");
            for (n, seconds) in q.worker_cpu_seconds().into_iter().enumerate() {
                let field = format!("queue_{device}_bthread_n{}_used_cpu_total", n + 1);
                if let Ok(field) = CString::new(field) {
                    i.text(&field, &format!("{seconds:.6}"));
                }
            }
        }

        // Ours, after RedisAI's sections: where model and script runs were made.
        i.section(c"runs");
        let (inline, queued) = exec::run_counts();
        i.long(c"inline_runs", inline as i64);
        i.long(c"queued_runs", queued as i64);

        // Not in a crash report: it takes locks that the crashing thread may hold.
        if for_crash_report == 0 {
            search_section(&i);
            pipeline_section(&i);
        }
    })
}

/// Vector search totals, after RedisAI's sections so their positions do not move.
fn search_section(i: &Info) {
    let indexes: Vec<_> = crate::search::registry()
        .indexes
        .values()
        .cloned()
        .collect();
    let (mut docs, mut bytes, mut tombstones, mut failures) = (0, 0, 0, 0);
    for index in &indexes {
        let data = index.read();
        docs += data.num_docs();
        bytes += data.vector_memory() + data.doc_memory();
        tombstones += data.tombstones();
        failures += data.failures.count;
    }
    i.section(c"search");
    i.long(c"number_of_indexes", indexes.len() as i64);
    i.long(c"number_of_documents", docs as i64);
    i.long(c"index_memory_bytes", bytes as i64);
    i.long(c"vector_tombstones", tombstones as i64);
    i.long(c"hash_indexing_failures", failures as i64);
}

/// Stream pipelines: totals, then one dictionary field per pipeline.
fn pipeline_section(i: &Info) {
    let all: Vec<_> = crate::stream_pipes::names()
        .into_iter()
        .filter_map(|n| crate::stream_pipes::stats(&n).map(|(_, s)| (n, s)))
        .collect();
    i.section(c"pipelines");
    i.long(c"number_of_pipelines", all.len() as i64);
    i.long(
        c"processed",
        all.iter().map(|(_, s)| s.processed as i64).sum(),
    );
    i.long(c"failed", all.iter().map(|(_, s)| s.failed as i64).sum());
    for (name, s) in all {
        // A field name ends at ':' and a line at a newline: anything unusual becomes '_'.
        let clean: String = name
            .iter()
            .map(|&b| {
                if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.' {
                    b as char
                } else {
                    '_'
                }
            })
            .collect();
        let Ok(field) = CString::new(format!("pipeline_{clean}")) else {
            continue;
        };
        // SAFETY: live info context; the dictionary is closed below.
        unsafe { api!(RedisModule_InfoBeginDictField)(i.0, field.as_ptr()) };
        i.long(c"running", s.running.into());
        i.long(c"processed", s.processed as i64);
        i.long(c"failed", s.failed as i64);
        i.long(c"batches", s.batches as i64);
        i.long(c"write_errors", s.write_errors as i64);
        i.long(c"in_flight", s.in_flight as i64);
        i.long(c"lag", s.lag);
        i.text(c"latency_p50_ms", &format!("{:.3}", s.p50_ms));
        i.text(c"latency_p99_ms", &format!("{:.3}", s.p99_ms));
        // SAFETY: live info context, dictionary opened above.
        unsafe { api!(RedisModule_InfoEndDictField)(i.0) };
    }
}
