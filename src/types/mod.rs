//! The module's Redis data types. Names and encoding versions are RedisAI's (spec §1.2,
//! §10), so RDB files and DUMP payloads written by RedisAI load here and the other way round.
//!
//! Values are stored as `Arc<T>::into_raw` pointers: a value is immutable once stored, and a
//! running job can share it without copying or locking. Every callback Redis calls is wrapped
//! in [`guard`] so a bug cannot unwind into the server.

pub mod io;
pub mod tensor;

use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::ctx::{log, Level};

/// RedisAI's encoding version of all three types.
pub const ENCODING_VERSION: i32 = 4;

/// Runs a type callback, logging a panic and returning `fallback` instead of unwinding.
pub(crate) fn guard<R>(what: &str, fallback: R, f: impl FnOnce() -> R) -> R {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(p) => {
            log(
                Level::Warning,
                &format!("panic in {what}: {}", crate::commands::panic_message(&p)),
            );
            fallback
        }
    }
}
