//! The module's Redis data types. Names and encoding versions are RedisAI's (spec §1.2,
//! §10), so RDB files and DUMP payloads written by RedisAI load here and the other way round.
//!
//! Values are stored as `Arc<T>::into_raw` pointers: a value is immutable once stored, and a
//! running job can share it without copying or locking. Every callback Redis calls is wrapped
//! in [`guard`] so a bug cannot unwind into the server.

pub mod io;
pub mod model;
pub mod script;
pub mod tensor;

/// RedisAI's encoding version of all three types.
pub const ENCODING_VERSION: i32 = 4;

/// Declares `static $name: RedisType` named `$type_name`, with the callbacks `rdb_load`,
/// `rdb_save`, `aof_rewrite`, `mem_usage`, `digest`, `free`, `free_effort` and `copy` of the
/// module where it is used.
macro_rules! redis_type {
    ($name:ident, $type_name:literal) => {
        pub static $name: redis_module::native_types::RedisType =
            redis_module::native_types::RedisType::new(
                $type_name,
                $crate::types::ENCODING_VERSION,
                redis_module::raw::RedisModuleTypeMethods {
                    version: redis_module::raw::REDISMODULE_TYPE_METHOD_VERSION as u64,
                    rdb_load: Some(rdb_load),
                    rdb_save: Some(rdb_save),
                    aof_rewrite: Some(aof_rewrite),
                    mem_usage: Some(mem_usage),
                    digest: Some(digest),
                    free: Some(free),
                    aux_load: None,
                    aux_save: None,
                    aux_save_triggers: 0,
                    free_effort: Some(free_effort),
                    unlink: None,
                    copy: Some(copy),
                    defrag: None,
                    mem_usage2: None,
                    free_effort2: None,
                    unlink2: None,
                    copy2: None,
                    aux_save2: None,
                },
            );
    };
}
pub(crate) use redis_type;
