//! The reply to a run command (AI.MODELEXECUTE, AI.SCRIPTEXECUTE, AI.DAGEXECUTE, ...): its
//! client is blocked while the plan runs; the reply callback (main thread, GIL held) writes
//! the outputs or PERSIST keys, replicates them as AI.TENSORSET and replies. [`reply_plan`]
//! is also how a DAG without model ops answers at once.

use std::sync::Arc;

use super::tensor::tensor_reply;
use crate::dag::run::{Client, Finished, OpResult};
use crate::dag::{OpKind, Outline, Slot, Style};
use crate::error::AiError;
use crate::exec::Busy;
use crate::redis::{Blocked, Ctx, OwnedString, Reply, R};
use crate::tensor::Tensor;

/// What the reply callback receives.
pub struct PlanReply {
    outline: Outline,
    finished: Finished,
    /// Counts the plan as outstanding for its models until the reply has been written (this
    /// is dropped on the main thread after `reply`), so no inline run overtakes it.
    _busy: Vec<Busy>,
}

impl Reply for PlanReply {
    const WHAT: &'static str = "a run";
    fn reply(self, ctx: &Ctx) {
        reply_plan(ctx, &self.outline, self.finished);
    }
}

/// The blocked client of a running plan.
pub struct PlanClient(Blocked<PlanReply>);

impl PlanClient {
    /// Blocks the client of `ctx` until its plan finishes. A plan dropped without finishing
    /// (shutdown) still releases its client, with this error for every op. `busy` is held
    /// until the reply is written.
    pub fn block(ctx: &Ctx, outline: Outline, busy: Vec<Busy>) -> PlanClient {
        let n = outline.ops.len();
        let fallback = PlanReply {
            outline,
            finished: Finished {
                timed_out: false,
                results: vec![OpResult::Failed("ERR the server is shutting down".into()); n],
                slots: Vec::new(),
            },
            _busy: busy,
        };
        PlanClient(Blocked::block(ctx, fallback))
    }
}

impl Client for PlanClient {
    fn started(&mut self) {
        self.0.measure();
    }

    fn finished(mut self: Box<Self>, result: Finished) {
        self.0.pending().finished = result;
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
        ctx.reply(&R::Simple("TIMEDOUT"));
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
    let mut broken = false;
    let entries = outline.ops.iter().enumerate().map(|(i, op)| {
        let result = finished.results.get(i).unwrap_or(&OpResult::NotRun);
        match op {
            OpKind::Set => R::Simple("OK"),
            OpKind::Run => match result {
                OpResult::Done => R::Simple("OK"),
                OpResult::Failed(text) => {
                    broken = true;
                    R::Error(text.as_str().into())
                }
                OpResult::NotRun => {
                    broken = true;
                    R::Simple("NA")
                }
            },
            OpKind::Get { slot, format } => match finished.slots.get(*slot) {
                Some(Some(t)) if !broken => tensor_reply(t, *format),
                _ => R::Simple("NA"),
            },
        }
    });
    ctx.reply(&R::Arr(entries.collect()));
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
