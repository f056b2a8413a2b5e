//! Command registration and the entry point every command goes through.
//!
//! Every command enters through [`dispatch`], which catches panics: a bug in a handler
//! becomes an `ERR internal error` reply and a log line, never an unwinding across the C
//! boundary (which would abort redis-server). A handler returns `Err` only before it has
//! replied, and the dispatcher turns that error into the error reply.

use std::ffi::{c_int, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

use redis_module::raw;

use super::{log_raw, Args, Ctx, Level, RedisModuleCtx, RedisModuleString};
use crate::error::{panic_message, AiError, AiResult};

pub type Handler = fn(&Ctx, &Args) -> AiResult<()>;

pub type RawCommand =
    unsafe extern "C" fn(*mut RedisModuleCtx, *mut *mut RedisModuleString, c_int) -> c_int;

/// One row of the command table: what `RedisModule_CreateCommand` needs.
pub struct CommandSpec {
    pub name: &'static CStr,
    pub func: RawCommand,
    pub flags: &'static CStr,
    pub first_key: c_int,
    pub last_key: c_int,
    pub key_step: c_int,
}

/// A row of the command table: `command!("AI.X", handler, "flags", first, last, step)`.
/// Expands to a `CommandSpec` whose C entry point forwards to [`dispatch`].
macro_rules! command {
    ($name:literal, $handler:path, $flags:literal, $first:literal, $last:literal, $step:literal) => {{
        unsafe extern "C" fn entry(
            ctx: *mut $crate::redis::RedisModuleCtx,
            argv: *mut *mut $crate::redis::RedisModuleString,
            argc: std::ffi::c_int,
        ) -> std::ffi::c_int {
            $crate::redis::dispatch(ctx, argv, argc, $handler)
        }
        $crate::redis::CommandSpec {
            name: match std::ffi::CStr::from_bytes_with_nul(concat!($name, "\0").as_bytes()) {
                Ok(s) => s,
                Err(_) => panic!("command name contains NUL"),
            },
            func: entry,
            flags: match std::ffi::CStr::from_bytes_with_nul(concat!($flags, "\0").as_bytes()) {
                Ok(s) => s,
                Err(_) => panic!("command flags contain NUL"),
            },
            first_key: $first,
            last_key: $last,
            key_step: $step,
        }
    }};
}
pub(crate) use command;

/// Runs `handler` for one command invocation, replying with its error if it fails.
///
/// # Safety
/// Called only by Redis, with the context and argument vector of a running command.
pub unsafe fn dispatch(
    ctx: *mut RedisModuleCtx,
    argv: *mut *mut RedisModuleString,
    argc: c_int,
    handler: Handler,
) -> c_int {
    let ctx = Ctx::from_raw(ctx);
    let argv: &[*mut RedisModuleString] = if argv.is_null() || argc <= 0 {
        &[]
    } else {
        std::slice::from_raw_parts(argv, argc as usize)
    };
    let args = Args::new(argv);
    match catch_unwind(AssertUnwindSafe(|| handler(&ctx, &args))) {
        Ok(Ok(())) => {}
        Ok(Err(AiError::WrongArity)) => ctx.wrong_arity(),
        Ok(Err(e)) => ctx.reply_error(&e.to_string()),
        Err(panic) => {
            let what = panic_message(&panic);
            let name = args
                .all()
                .first()
                .map(|_| String::from_utf8_lossy(args.bytes(0)).into_owned())
                .unwrap_or_default();
            ctx.log(Level::Warning, &format!("panic in {name}: {what}"));
            ctx.reply_error(&AiError::Internal(what).to_string());
        }
    }
    raw::REDISMODULE_OK as c_int
}

/// Registers every row of `table`; logs and fails on the first refusal.
pub fn register(ctx: *mut RedisModuleCtx, table: &[CommandSpec]) -> Result<(), String> {
    for c in table {
        // SAFETY: called from RedisModule_OnLoad with its context; strings are NUL-terminated
        // and static.
        let status = unsafe {
            api!(RedisModule_CreateCommand)(
                ctx,
                c.name.as_ptr(),
                Some(c.func),
                c.flags.as_ptr(),
                c.first_key,
                c.last_key,
                c.key_step,
            )
        };
        if status != raw::REDISMODULE_OK as c_int {
            return Err(format!("could not register command {:?}", c.name));
        }
    }
    Ok(())
}

/// Registers each row of `table` the server does not already have; a name that is taken is
/// logged and skipped.
pub fn register_unless_present(ctx: *mut RedisModuleCtx, table: &[CommandSpec]) {
    for c in table {
        if register(ctx, std::slice::from_ref(c)).is_err() {
            log_raw(
                ctx,
                Level::Notice,
                &format!(
                    "{} is already provided by the server; using that one",
                    c.name.to_string_lossy()
                ),
            );
        }
    }
}
