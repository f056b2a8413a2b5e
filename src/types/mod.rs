//! The module's Redis data types. Names and encoding versions are RedisAI's (spec §1.2,
//! §10), so RDB files and DUMP payloads written by RedisAI load here and the other way round.
//!
//! Values are stored as `Arc<T>::into_raw` pointers: a value is immutable once stored, and a
//! running job can share it without copying or locking. Every callback Redis calls is wrapped
//! in [`guard`] so a bug cannot unwind into the server.

pub mod io;
pub mod model;
pub mod script;
pub mod suggest;
pub mod tensor;

use std::ffi::{c_int, c_void};
use std::mem::ManuallyDrop;
use std::sync::Arc;

use redis_module::raw::{self, RedisModuleIO, RedisModuleString};

use crate::redis::{guard, string_bytes, StoredType};

/// RedisAI's encoding version of all three types.
pub const ENCODING_VERSION: i32 = 4;

/// Declares `static $name: RedisType` named `$type_name` for values of type `$value`, with
/// the callbacks `rdb_load`, `rdb_save`, `aof_rewrite`, `mem_usage` and `digest` of the module
/// where it is used, and the generic `free`, `free_effort` and `copy` below.
macro_rules! redis_type {
    ($name:ident, $type_name:literal, $value:ty) => {
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
                    free: Some($crate::types::free::<$value>),
                    aux_load: None,
                    aux_save: None,
                    aux_save_triggers: 0,
                    free_effort: Some($crate::types::free_effort),
                    unlink: None,
                    copy: Some($crate::types::copy::<$value>),
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

/// The methods of a type that only carries RDB aux data (index definitions, pipelines): no key
/// ever holds a value of it. `aux_save` serves Redis 7.0, whose RDB has the aux field whatever
/// it writes; `aux_save2` Redis 7.2+, where writing nothing leaves the field out (and the RDB
/// then loads on a server without this module).
pub const fn aux_only_methods(
    aux_load: unsafe extern "C" fn(*mut RedisModuleIO, c_int, c_int) -> c_int,
    aux_save: unsafe extern "C" fn(*mut RedisModuleIO, c_int),
    aux_save2: unsafe extern "C" fn(*mut RedisModuleIO, c_int),
) -> raw::RedisModuleTypeMethods {
    raw::RedisModuleTypeMethods {
        version: raw::REDISMODULE_TYPE_METHOD_VERSION as u64,
        rdb_load: Some(no_value_load),
        rdb_save: Some(no_value_save),
        aof_rewrite: None,
        mem_usage: None,
        digest: None,
        free: Some(no_value_free),
        aux_load: Some(aux_load),
        aux_save: Some(aux_save),
        aux_save_triggers: raw::Aux::Before as i32,
        free_effort: None,
        unlink: None,
        copy: None,
        defrag: None,
        mem_usage2: None,
        free_effort2: None,
        unlink2: None,
        copy2: None,
        aux_save2: Some(aux_save2),
    }
}

unsafe extern "C" fn no_value_load(_io: *mut RedisModuleIO, _encver: c_int) -> *mut c_void {
    std::ptr::null_mut()
}
unsafe extern "C" fn no_value_save(_io: *mut RedisModuleIO, _value: *mut c_void) {}
unsafe extern "C" fn no_value_free(_value: *mut c_void) {}

/// What the generic callbacks need of a stored value.
pub trait Stored: StoredType {
    /// The type's name, for log lines.
    const NAME: &'static str;
    /// The value COPY stores under `to`.
    fn copy_to(this: &Arc<Self>, to: &[u8]) -> Arc<Self>;
}

/// Frees a value: the keyspace's reference to the `Arc` (a running job may hold another).
///
/// # Safety
/// `value` must be a pointer stored by `T`'s type (`Arc<T>::into_raw`), freed once.
pub unsafe extern "C" fn free<T: Stored>(value: *mut c_void) {
    guard(T::NAME, (), || {
        // SAFETY: per this function's contract.
        drop(unsafe { Arc::from_raw(value as *const T) })
    })
}

/// A handful of allocations whatever the size: freeing is cheap, never worth a thread.
pub unsafe extern "C" fn free_effort(_key: *mut RedisModuleString, _value: *const c_void) -> usize {
    1
}

/// COPY: `T::copy_to` decides what the new key holds.
///
/// # Safety
/// `value` must be a pointer stored by `T`'s type, alive for the call.
pub unsafe extern "C" fn copy<T: Stored>(
    _from: *mut RedisModuleString,
    to: *mut RedisModuleString,
    value: *const c_void,
) -> *mut c_void {
    guard(T::NAME, std::ptr::null_mut(), || {
        // SAFETY: the key still holds its reference; this borrow does not release it.
        let this = ManuallyDrop::new(unsafe { Arc::from_raw(value as *const T) });
        Arc::into_raw(T::copy_to(&this, string_bytes(to))) as *mut c_void
    })
}
