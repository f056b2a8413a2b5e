//! Commands called from the module (`RedisModule_Call`), their replies copied into the
//! plugin ABI's `Reply` tree: what a script's `redis.execute` gets, and how the module asks
//! the server things it has no API for (`ACL GETUSER`).

use std::ffi::{c_char, CStr};

use redis_module::raw::{self, RedisModuleCallReply};
use redisai_backend_api::Reply;

use super::{Ctx, OwnedString, RedisModuleCtx, RedisModuleString};

impl Ctx {
    /// A server config value (`CONFIG GET name`), if the server has it.
    pub fn server_config(&self, name: &str) -> Option<Vec<u8>> {
        let get = OwnedString::new(b"GET");
        let which = OwnedString::new(name.as_bytes());
        let mut args = [get.as_ptr(), which.as_ptr()];
        // SAFETY: a live context on the main thread.
        match unsafe { call(self.raw_ctx(), c"CONFIG", c"v", &mut args) } {
            Some(Ok(Reply::Array(mut pair))) if pair.len() == 2 => match pair.pop() {
                Some(Reply::Str(value)) => Some(value),
                _ => None,
            },
            _ => None,
        }
    }
}

/// Calls `command` with `args` on `ctx` with RedisModule_Call's `flags` (which must end in
/// `v`). `None` when the server refused to run it (see errno), else the reply, an error
/// reply as `Err`.
///
/// # Safety
/// `ctx` must be a live context the caller may call commands on (the server lock held).
pub unsafe fn call(
    ctx: *mut RedisModuleCtx,
    command: &CStr,
    flags: &CStr,
    args: &mut [*mut RedisModuleString],
) -> Option<Result<Reply, String>> {
    let f = api!(RedisModule_Call);
    // SAFETY: per this function's contract; "v" takes the argument array and its length.
    let reply = unsafe {
        f(
            ctx,
            command.as_ptr(),
            flags.as_ptr() as *const c_char,
            args.as_mut_ptr(),
            args.len(),
        )
    };
    if reply.is_null() {
        return None;
    }
    // SAFETY: a live reply, freed right after it is copied.
    let out = unsafe { convert(reply, 0) };
    unsafe { api!(RedisModule_FreeCallReply)(reply) };
    Some(out)
}

/// Copies a call reply (RESP2 shapes) into a [`Reply`]; a top-level error is `Err`.
///
/// # Safety
/// `r` is a live call reply.
unsafe fn convert(r: *mut RedisModuleCallReply, depth: usize) -> Result<Reply, String> {
    let bytes = |r| {
        let mut len = 0usize;
        let p = unsafe { api!(RedisModule_CallReplyStringPtr)(r, &mut len) };
        if p.is_null() {
            Vec::new()
        } else {
            unsafe { std::slice::from_raw_parts(p as *const u8, len) }.to_vec()
        }
    };
    let t = unsafe { api!(RedisModule_CallReplyType)(r) } as isize;
    Ok(match t {
        raw::REDISMODULE_REPLY_STRING => Reply::Str(bytes(r)),
        raw::REDISMODULE_REPLY_ERROR if depth == 0 => {
            return Err(String::from_utf8_lossy(&bytes(r)).into_owned())
        }
        raw::REDISMODULE_REPLY_ERROR => Reply::Error(bytes(r)),
        raw::REDISMODULE_REPLY_INTEGER => {
            Reply::Int(unsafe { api!(RedisModule_CallReplyInteger)(r) })
        }
        raw::REDISMODULE_REPLY_ARRAY => {
            let n = unsafe { api!(RedisModule_CallReplyLength)(r) };
            let mut items = Vec::with_capacity(n.min(1 << 16));
            for i in 0..n {
                let e = unsafe { api!(RedisModule_CallReplyArrayElement)(r, i) };
                items.push(if e.is_null() {
                    Reply::Nil
                } else {
                    unsafe { convert(e, depth + 1) }?
                });
            }
            Reply::Array(items)
        }
        _ => Reply::Nil,
    })
}
