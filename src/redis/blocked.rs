//! Blocked clients, one type for every command that waits for a worker (a model run, a
//! DAG, a threaded search).
//!
//! A command blocks its client with [`Blocked::block`], giving the reply it gets if nothing
//! better arrives; the worker fills in the real one ([`Blocked::pending`]) and drops the
//! handle, which unblocks the client. The reply callback then runs on the main thread with
//! the server lock held: that is where keyspace writes and replication belong. Because the
//! drop unblocks, a job that is dropped unrun (shutdown) or a worker that panics still
//! answers its client; nothing can leave a client blocked forever.

use std::ffi::{c_int, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};

use redis_module::raw::{self, RedisModuleBlockedClient};

use super::{log, Ctx, Level, RedisModuleCtx, RedisModuleString};
use crate::error::{panic_message, AiError};

/// What the reply callback does, on the main thread, with the value a client was
/// unblocked with.
pub trait Reply: Send + 'static {
    /// Names the command in the log line if replying panics.
    const WHAT: &'static str;
    fn reply(self, ctx: &Ctx);
}

pub struct Blocked<T: Reply> {
    bc: *mut RedisModuleBlockedClient,
    /// The reply the client gets when this handle is dropped.
    pending: Option<T>,
    measuring: bool,
}

// SAFETY: RedisModule_UnblockClient and the time measurement calls are meant to be called
// from the thread working for the blocked client; the handle is used by one thread at a time
// (whoever owns it).
unsafe impl<T: Reply> Send for Blocked<T> {}

impl<T: Reply> Blocked<T> {
    /// Blocks the client of `ctx`; it gets `fallback` unless the worker sets another reply.
    pub fn block(ctx: &Ctx, fallback: T) -> Blocked<T> {
        // SAFETY: a live command context; the callbacks are 'static functions.
        let bc = unsafe {
            api!(RedisModule_BlockClient)(
                ctx.raw_ctx(),
                Some(reply_callback::<T>),
                None,
                Some(free_reply::<T>),
                0,
            )
        };
        Blocked {
            bc,
            pending: Some(fallback),
            measuring: false,
        }
    }

    /// The reply the client will get, to fill in.
    pub fn pending(&mut self) -> &mut T {
        self.pending
            .as_mut()
            .expect("a Blocked handle holds its reply until dropped")
    }

    /// Counts the time from now on as the command's, in SLOWLOG and INFO commandstats
    /// (Redis 6.2+).
    pub fn measure(&mut self) {
        if !self.measuring && api_has!(RedisModule_BlockedClientMeasureTimeStart) {
            // SAFETY: live handle.
            unsafe { api!(RedisModule_BlockedClientMeasureTimeStart)(self.bc) };
            self.measuring = true;
        }
    }
}

impl<T: Reply> Drop for Blocked<T> {
    fn drop(&mut self) {
        let Some(reply) = self.pending.take() else {
            return;
        };
        if self.measuring {
            // SAFETY: the handle is live until unblocked, just below.
            unsafe { api!(RedisModule_BlockedClientMeasureTimeEnd)(self.bc) };
        }
        let boxed: Box<Option<T>> = Box::new(Some(reply));
        // SAFETY: ownership of the reply passes to the server, back to us in free_reply.
        unsafe { api!(RedisModule_UnblockClient)(self.bc, Box::into_raw(boxed) as *mut c_void) };
    }
}

/// The reply callback: takes the value out of the private data and replies with it; a panic
/// becomes an error reply and a log line.
unsafe extern "C" fn reply_callback<T: Reply>(
    ctx: *mut RedisModuleCtx,
    _argv: *mut *mut RedisModuleString,
    _argc: c_int,
) -> c_int {
    // SAFETY: called by the server with a live context.
    let ctx = unsafe { Ctx::from_raw(ctx) };
    let result = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the private data is the Box<Option<T>> given to UnblockClient in Drop; the
        // server keeps it until free_reply, and nothing else touches it meanwhile.
        let data = unsafe {
            &mut *(api!(RedisModule_GetBlockedClientPrivateData)(ctx.raw_ctx()) as *mut Option<T>)
        };
        if let Some(reply) = data.take() {
            reply.reply(&ctx);
        }
    }));
    if let Err(p) = result {
        let what = panic_message(&p);
        log(
            Level::Warning,
            &format!("panic while replying to {}: {what}", T::WHAT),
        );
        ctx.reply_error(&AiError::Internal(what).to_string());
    }
    raw::REDISMODULE_OK as c_int
}

/// Frees the private data of a blocked client (the server calls it after the reply).
unsafe extern "C" fn free_reply<T: Reply>(_ctx: *mut RedisModuleCtx, privdata: *mut c_void) {
    if !privdata.is_null() {
        // SAFETY: made by Box::into_raw in Drop.
        drop(unsafe { Box::from_raw(privdata as *mut Option<T>) });
    }
}
