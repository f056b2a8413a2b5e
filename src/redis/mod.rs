//! A thin, safe-to-call layer over the parts of the Redis module API the commands use:
//! replies, keys, arguments, replication, logging.
//!
//! The redis-module crate's higher-level `Context` copies arguments into owned strings and
//! builds replies from owned values; the tensor commands need neither (a BLOB reply points
//! straight at the stored tensor, a BLOB argument can be kept instead of copied), so this
//! layer calls the raw API directly. Everything here runs on the main thread, under the GIL.

use std::ffi::{CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;

/// Calls a function of the Redis module API. The table is filled by `RedisModule_Init`; a
/// missing entry means the server is older than the module supports, which is a bug at the
/// call site (it should have checked with [`api_has!`]).
macro_rules! api {
    ($name:ident) => {{
        // SAFETY: written once by RedisModule_Init, read-only afterwards.
        #[allow(unused_unsafe)]
        let f = unsafe { redis_module::raw::$name };
        f.expect(concat!(
            stringify!($name),
            " is not provided by this server"
        ))
    }};
}
pub(crate) use api;

/// Whether the server provides a function of the module API (for APIs newer than 7.0).
macro_rules! api_has {
    ($name:ident) => {{
        // SAFETY: as in `api!`.
        #[allow(unused_unsafe)]
        let f = unsafe { redis_module::raw::$name };
        f.is_some()
    }};
}
pub(crate) use api_has;

pub use redis_module::raw::{RedisModuleCtx, RedisModuleString};

/// Log levels of `RedisModule_Log`.
#[derive(Debug, Clone, Copy)]
pub enum Level {
    Warning,
    Notice,
}

impl Level {
    fn as_cstr(self) -> &'static CStr {
        match self {
            Level::Warning => c"warning",
            Level::Notice => c"notice",
        }
    }
}

fn to_cstring(s: &str) -> CString {
    // Texts come from our own format strings and client keys; a NUL cannot be represented
    // in a C string, so it is shown as a replacement character.
    CString::new(s.replace('\0', "\u{FFFD}")).unwrap_or_default()
}

/// Writes a line to the server log. `ctx` may be null (logs as the module from any thread).
pub fn log_raw(ctx: *mut RedisModuleCtx, level: Level, msg: &str) {
    let msg = to_cstring(msg);
    // SAFETY: "%s" with a valid NUL-terminated string.
    unsafe { api!(RedisModule_Log)(ctx, level.as_cstr().as_ptr(), c"%s".as_ptr(), msg.as_ptr()) };
}

/// Writes a line to the server log from anywhere, without a context.
pub fn log(level: Level, msg: &str) {
    log_raw(ptr::null_mut(), level, msg);
}

mod acl;
mod blocked;
mod call;
mod command;
mod ctx;
pub mod json;
mod key;
mod reply;
mod string;

pub use acl::{current_user_name, watch_changes as watch_acl_changes, AclUser};
pub use blocked::{Blocked, Reply};
pub use call::call;
pub(crate) use command::command;
pub use command::{dispatch, register, register_unless_present, CommandSpec};
pub use ctx::{tensorset_args, Ctx};
pub use key::{Key, KeyUse, StoredType};
pub use reply::{bulk, bytes, fields, R};
pub use string::{string_bytes, ArgWords, Args, HeldString, OwnedString};

/// Runs a callback the server calls (a type callback, an event, a timer), logging a panic and returning `fallback` instead of unwinding.
pub fn guard<R>(what: &str, fallback: R, f: impl FnOnce() -> R) -> R {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(p) => {
            log(
                Level::Warning,
                &format!("panic in {what}: {}", crate::error::panic_message(&p)),
            );
            fallback
        }
    }
}
