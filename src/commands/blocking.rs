//! Blocked clients: a run command blocks its client, a worker finishes the job, and the reply
//! callback (main thread, GIL held) stores the outputs, replicates them and replies.

use std::ffi::{c_int, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use redis_module::raw::{self, RedisModuleBlockedClient};

use crate::ctx::{api, api_has, log, Ctx, Level, OwnedString, RedisModuleCtx, RedisModuleString};
use crate::error::AiError;
use crate::exec::{Completion, Outcome};
use crate::tensor::Tensor;

/// What the reply callback receives.
struct Reply {
    outputs: Vec<Vec<u8>>,
    outcome: Outcome,
}

/// A blocked client waiting for its job; the job's `Completion`.
pub struct Blocked {
    bc: *mut RedisModuleBlockedClient,
    /// Output key names, in model output order.
    outputs: Vec<Vec<u8>>,
    measuring: bool,
    done: bool,
}

// SAFETY: RedisModule_UnblockClient and the time measurement calls are meant to be called
// from the thread working for the blocked client; the handle is used by one thread at a time.
unsafe impl Send for Blocked {}

impl Blocked {
    /// Blocks the client of `ctx` until its job completes.
    pub fn block(ctx: &Ctx, outputs: Vec<Vec<u8>>) -> Blocked {
        // SAFETY: a live command context; the callbacks are 'static functions.
        let bc = unsafe {
            api!(RedisModule_BlockClient)(
                ctx.raw_ctx(),
                Some(reply_callback),
                None,
                Some(free_reply),
                0,
            )
        };
        Blocked {
            bc,
            outputs,
            measuring: false,
            done: false,
        }
    }

    fn unblock(&mut self, outcome: Outcome) {
        if self.done {
            return;
        }
        self.done = true;
        if self.measuring {
            // SAFETY: the handle is live until unblocked, just below.
            unsafe { api!(RedisModule_BlockedClientMeasureTimeEnd)(self.bc) };
        }
        let reply = Box::new(Reply {
            outputs: std::mem::take(&mut self.outputs),
            outcome,
        });
        // SAFETY: ownership of the reply passes to the server, back to us in free_reply.
        unsafe { api!(RedisModule_UnblockClient)(self.bc, Box::into_raw(reply) as *mut c_void) };
    }
}

impl Completion for Blocked {
    fn started(&mut self) {
        // Background time counts in SLOWLOG and INFO commandstats (Redis 6.2+).
        if api_has!(RedisModule_BlockedClientMeasureTimeStart) {
            // SAFETY: live handle.
            unsafe { api!(RedisModule_BlockedClientMeasureTimeStart)(self.bc) };
            self.measuring = true;
        }
    }

    fn finished(mut self: Box<Self>, outcome: Outcome) {
        self.unblock(outcome);
    }
}

impl Drop for Blocked {
    /// A job dropped without running (shutdown) still releases its client.
    fn drop(&mut self) {
        self.unblock(Outcome::Failed("ERR the server is shutting down".into()));
    }
}

unsafe extern "C" fn free_reply(_ctx: *mut RedisModuleCtx, privdata: *mut c_void) {
    if !privdata.is_null() {
        // SAFETY: made by Box::into_raw in unblock.
        drop(unsafe { Box::from_raw(privdata as *mut Reply) });
    }
}

unsafe extern "C" fn reply_callback(
    ctx: *mut RedisModuleCtx,
    _argv: *mut *mut RedisModuleString,
    _argc: c_int,
) -> c_int {
    // SAFETY: called by the server with a live context.
    let ctx = unsafe { Ctx::from_raw(ctx) };
    let result = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the private data is the Reply passed to UnblockClient, owned by the server
        // until free_reply; nothing else touches it meanwhile.
        let reply = unsafe {
            &mut *(api!(RedisModule_GetBlockedClientPrivateData)(ctx.raw_ctx()) as *mut Reply)
        };
        match std::mem::replace(&mut reply.outcome, Outcome::TimedOut) {
            Outcome::TimedOut => ctx.reply_simple(c"TIMEDOUT"),
            Outcome::Failed(text) => ctx.reply_error(&text),
            Outcome::Outputs(outs) => match store_outputs(&ctx, &reply.outputs, outs) {
                Ok(()) => ctx.reply_ok(),
                Err(e) => ctx.reply_error(&e.to_string()),
            },
        }
    }));
    if let Err(p) = result {
        let what = super::panic_message(&p);
        log(
            Level::Warning,
            &format!("panic while replying to a run: {what}"),
        );
        ctx.reply_error(&AiError::Internal(what).to_string());
    }
    raw::REDISMODULE_OK as c_int
}

/// Writes each computed output to its key and replicates it as AI.TENSORSET. The keys were
/// checked before the run, but a client may have written something else there meanwhile:
/// all are checked again first, so either every output is stored or none is.
fn store_outputs(ctx: &Ctx, keys: &[Vec<u8>], outputs: Vec<Option<Tensor>>) -> Result<(), AiError> {
    let names: Vec<OwnedString> = keys.iter().map(|k| OwnedString::new(k)).collect();
    for (name, out) in names.iter().zip(&outputs) {
        if out.is_some() {
            ctx.open_key(name.as_ptr(), false).check_type::<Tensor>()?;
        }
    }
    for (name, out) in names.iter().zip(outputs) {
        let Some(tensor) = out else { continue };
        let tensor = Arc::new(tensor);
        ctx.open_key(name.as_ptr(), true).set(tensor.clone());
        ctx.notify(c"ai.tensorset", name.as_ptr());
        ctx.replicate_tensor(name.as_ptr(), &tensor);
    }
    Ok(())
}
