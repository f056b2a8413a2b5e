//! Blocked clients: a run command (AI.MODELEXECUTE, AI.DAGEXECUTE, ...) blocks its client
//! while its plan runs; the reply callback (main thread, GIL held) writes the outputs or
//! PERSIST keys, replicates them as AI.TENSORSET and replies. [`reply_plan`] is also how a
//! DAG without model ops answers at once.

use std::ffi::{c_int, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use redis_module::raw::{self, RedisModuleBlockedClient};

use super::tensor::reply_tensor;
use crate::dag::run::{Client, Finished, OpResult};
use crate::dag::{OpKind, Outline, Slot, Style};
use crate::error::AiError;
use crate::redis::{api, api_has, log, Ctx, Level, OwnedString, RedisModuleCtx, RedisModuleString};
use crate::tensor::Tensor;

/// What the reply callback receives.
struct Reply {
    outline: Outline,
    finished: Finished,
}

/// A blocked client waiting for its plan.
pub struct Blocked {
    bc: *mut RedisModuleBlockedClient,
    outline: Option<Outline>,
    measuring: bool,
}

// SAFETY: RedisModule_UnblockClient and the time measurement calls are meant to be called
// from the thread working for the blocked client; the handle is used by one thread at a time
// (the plan's lock orders the calls).
unsafe impl Send for Blocked {}

impl Blocked {
    /// Blocks the client of `ctx` until its plan finishes.
    pub fn block(ctx: &Ctx, outline: Outline) -> Blocked {
        // SAFETY: a live command context; the callbacks are 'static functions.
        let bc = unsafe {
            api!(RedisModule_BlockClient)(
                ctx.raw_ctx(),
                Some(reply_callback),
                None,
                Some(free_boxed::<Reply>),
                0,
            )
        };
        Blocked {
            bc,
            outline: Some(outline),
            measuring: false,
        }
    }

    fn unblock(&mut self, finished: Finished) {
        let Some(outline) = self.outline.take() else {
            return;
        };
        if self.measuring {
            // SAFETY: the handle is live until unblocked, just below.
            unsafe { api!(RedisModule_BlockedClientMeasureTimeEnd)(self.bc) };
        }
        let reply = Box::new(Reply { outline, finished });
        // SAFETY: ownership of the reply passes to the server, back to us in free_reply.
        unsafe { api!(RedisModule_UnblockClient)(self.bc, Box::into_raw(reply) as *mut c_void) };
    }
}

impl Client for Blocked {
    fn started(&mut self) {
        // Background time counts in SLOWLOG and INFO commandstats (Redis 6.2+).
        if !self.measuring && api_has!(RedisModule_BlockedClientMeasureTimeStart) {
            // SAFETY: live handle.
            unsafe { api!(RedisModule_BlockedClientMeasureTimeStart)(self.bc) };
            self.measuring = true;
        }
    }

    fn finished(mut self: Box<Self>, result: Finished) {
        self.unblock(result);
    }
}

impl Drop for Blocked {
    /// A plan dropped without finishing (shutdown) still releases its client.
    fn drop(&mut self) {
        let n = self.outline.as_ref().map_or(0, |o| o.ops.len());
        self.unblock(Finished {
            timed_out: false,
            results: vec![OpResult::Failed("ERR the server is shutting down".into()); n],
            slots: Vec::new(),
        });
    }
}

/// Frees the private data of a blocked client: a `Box<T>` handed to UnblockClient.
pub unsafe extern "C" fn free_boxed<T>(_ctx: *mut RedisModuleCtx, privdata: *mut c_void) {
    if !privdata.is_null() {
        // SAFETY: made by Box::into_raw by the side that unblocked the client.
        drop(unsafe { Box::from_raw(privdata as *mut T) });
    }
}

/// The body of a blocked client's reply callback: gives `f` the private data (a `Box<T>`
/// handed to UnblockClient, the server's until `free_boxed`) and turns a panic into an error
/// reply and a log line about `what`.
///
/// # Safety
/// `ctx` is the reply callback's context, and its private data a `Box<T>` made by
/// `Box::into_raw`.
pub unsafe fn reply_with<T>(
    ctx: *mut RedisModuleCtx,
    what: &str,
    f: impl FnOnce(&Ctx, &mut T),
) -> c_int {
    // SAFETY: called by the server with a live context.
    let ctx = unsafe { Ctx::from_raw(ctx) };
    let result = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: per this function's contract; nothing else touches it meanwhile.
        let data = unsafe {
            &mut *(api!(RedisModule_GetBlockedClientPrivateData)(ctx.raw_ctx()) as *mut T)
        };
        f(&ctx, data)
    }));
    if let Err(p) = result {
        let what_panicked = crate::error::panic_message(&p);
        log(
            Level::Warning,
            &format!("panic while replying to {what}: {what_panicked}"),
        );
        ctx.reply_error(&AiError::Internal(what_panicked).to_string());
    }
    raw::REDISMODULE_OK as c_int
}

unsafe extern "C" fn reply_callback(
    ctx: *mut RedisModuleCtx,
    _argv: *mut *mut RedisModuleString,
    _argc: c_int,
) -> c_int {
    // SAFETY: the private data is the Reply passed to UnblockClient in `unblock`.
    unsafe {
        reply_with(ctx, "a run", |ctx, reply: &mut Reply| {
            let finished = Finished {
                timed_out: reply.finished.timed_out,
                results: std::mem::take(&mut reply.finished.results),
                slots: std::mem::take(&mut reply.finished.slots),
            };
            reply_plan(ctx, &reply.outline, finished);
        })
    }
}

/// Answers a finished plan and, when every op succeeded, writes its keys.
///
/// A run command answers `OK` or its op's error. A DAG answers one entry per op: `OK` for
/// AI.TENSORSET and model ops that ran, the error of a failed op, `NA` for ops that did not
/// run, and for AI.TENSORGET the tensor as it was at that point, or `NA` after a failure.
/// A timeout answers `TIMEDOUT` alone. Nothing is written unless every op succeeded.
pub fn reply_plan(ctx: &Ctx, outline: &Outline, finished: Finished) {
    if finished.timed_out {
        ctx.reply_simple(c"TIMEDOUT");
        return;
    }
    let failure = finished.results.iter().find_map(|r| match r {
        OpResult::Failed(text) => Some(text.as_str()),
        _ => None,
    });
    let complete =
        failure.is_none() && finished.results.iter().all(|r| matches!(r, OpResult::Done));
    if outline.style == Style::Single {
        match failure {
            Some(text) => ctx.reply_error(text),
            None if !complete => {
                ctx.reply_error(&AiError::Internal("op did not run".into()).to_string())
            }
            None => match persist(ctx, &outline.persist, &finished.slots) {
                Ok(()) => ctx.reply_ok(),
                Err(e) => ctx.reply_error(&e.to_string()),
            },
        }
        return;
    }
    // The keys were checked when the DAG was parsed, but a client may have written
    // something else there meanwhile: checked again before the reply is committed to.
    if complete {
        if let Err(e) = check_persist(ctx, &outline.persist, &finished.slots) {
            ctx.reply_error(&e.to_string());
            return;
        }
    }
    ctx.reply_array(outline.ops.len());
    let mut broken = false;
    for (i, op) in outline.ops.iter().enumerate() {
        let result = finished.results.get(i).unwrap_or(&OpResult::NotRun);
        match op {
            OpKind::Set => ctx.reply_simple(c"OK"),
            OpKind::Run => match result {
                OpResult::Done => ctx.reply_simple(c"OK"),
                OpResult::Failed(text) => {
                    broken = true;
                    ctx.reply_error(text);
                }
                OpResult::NotRun => {
                    broken = true;
                    ctx.reply_simple(c"NA");
                }
            },
            OpKind::Get { slot, format } => match finished.slots.get(*slot) {
                Some(Some(t)) if !broken => reply_tensor(ctx, t, *format),
                _ => ctx.reply_simple(c"NA"),
            },
        }
    }
    if complete {
        // Checked above; nothing can have changed on the main thread since.
        let _ = persist(ctx, &outline.persist, &finished.slots);
    }
}

fn check_persist(
    ctx: &Ctx,
    keys: &[(Vec<u8>, Slot)],
    slots: &[Option<Arc<Tensor>>],
) -> Result<(), AiError> {
    for (key, slot) in keys {
        if matches!(slots.get(*slot), Some(Some(_))) {
            let name = OwnedString::new(key);
            ctx.open_key(name.as_ptr(), false).check_type::<Tensor>()?;
        }
    }
    Ok(())
}

/// Writes each tensor to its key and replicates it as AI.TENSORSET: every key is checked
/// first, so either all are written or none. A slot without a tensor (a model output that
/// is not one) is skipped.
fn persist(
    ctx: &Ctx,
    keys: &[(Vec<u8>, Slot)],
    slots: &[Option<Arc<Tensor>>],
) -> Result<(), AiError> {
    check_persist(ctx, keys, slots)?;
    for (key, slot) in keys {
        let Some(Some(tensor)) = slots.get(*slot) else {
            continue;
        };
        let name = OwnedString::new(key);
        ctx.open_key(name.as_ptr(), true).set(tensor.clone());
        ctx.notify(c"ai.tensorset", name.as_ptr());
        ctx.replicate_tensor(name.as_ptr(), tensor);
    }
    Ok(())
}
