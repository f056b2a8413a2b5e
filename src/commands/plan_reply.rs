//! The reply to a run command (AI.MODELEXECUTE, AI.SCRIPTEXECUTE, AI.DAGEXECUTE, ...): its
//! client is blocked while the plan runs; the reply callback (main thread, GIL held) writes
//! the outputs or PERSIST keys, replicates them as AI.TENSORSET and replies. [`reply_plan`]
//! is also how a DAG without model ops answers at once.

use std::sync::Arc;

use super::tensor::tensor_reply;
use crate::dag::run::{Client, Finished, OpResult};
use crate::dag::{text, HashWrite, OpKind, Outline, SearchCall, Slot, Style};
use crate::error::AiError;
use crate::exec::Busy;
use crate::redis::{call, log, Blocked, Ctx, Level, OwnedString, Reply, R};
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
        let checked = check_persist(ctx, &outline.persist, &finished.slots)
            .and_then(|()| check_hashes(ctx, &outline.hashes, &finished.slots));
        if let Err(e) = checked {
            ctx.reply_error(&e.to_string());
            return;
        }
    }
    // Searched before the DAG's own writes: a lookup-then-store DAG (a semantic cache) does
    // not find the document it is about to store.
    let mut searches: Vec<Option<R>> = if complete {
        outline
            .searches
            .iter()
            .map(|s| Some(run_search(ctx, s, &finished.slots)))
            .collect()
    } else {
        Vec::new()
    };
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
            OpKind::Hset if complete => R::Simple("OK"),
            OpKind::Hset => R::Simple("NA"),
            OpKind::Search { index } => searches
                .get_mut(*index)
                .and_then(Option::take)
                .unwrap_or(R::Simple("NA")),
        }
    });
    ctx.reply(&R::Arr(entries.collect()));
    if complete {
        // Checked above; nothing can have changed on the main thread since.
        let _ = persist(ctx, &outline.persist, &finished.slots);
        write_hashes(ctx, &outline.hashes, &finished.slots);
    }
}

/// Runs one AI.FTSEARCH as an FT.SEARCH called as the DAG's client (`C`: its ACL
/// permissions hold), its vector parameter bound to the tensor's bytes.
fn run_search(ctx: &Ctx, s: &SearchCall, slots: &[Option<Arc<Tensor>>]) -> R<'static> {
    let Some(Some(t)) = slots.get(s.slot) else {
        return R::Error("ERR AI.FTSEARCH: its vector was not produced".into());
    };
    let argv = text::vector_bytes(t)
        .and_then(|v| text::search_argv(&s.index, &s.query, &s.rest, &s.param, v));
    let argv = match argv {
        Ok(a) => a,
        Err(e) => return R::Error(e.to_string().into()),
    };
    let words: Vec<OwnedString> = argv.iter().map(|w| OwnedString::new(w)).collect();
    let mut argv: Vec<_> = words.iter().map(OwnedString::as_ptr).collect();
    // SAFETY: the reply callback runs on the main thread with the server lock.
    match unsafe { call(ctx.raw_ctx(), c"FT.SEARCH", c"Cv", &mut argv) } {
        Some(Ok(reply)) => call_reply(reply),
        Some(Err(e)) => R::Error(e.into()),
        // RedisModule_Call says why through errno.
        None if std::io::Error::last_os_error().raw_os_error() == Some(libc::EACCES) => R::Error(
            "NOPERM this user has no permissions to run the 'ft.search' command (AI.FTSEARCH)"
                .into(),
        ),
        None => R::Error("ERR AI.FTSEARCH: the server refused to run FT.SEARCH".into()),
    }
}

/// A called command's reply as part of this one's.
fn call_reply(r: redisai_backend_api::Reply) -> R<'static> {
    use redisai_backend_api::Reply as C;
    match r {
        C::Nil => R::Bulk(Vec::new().into()),
        C::Int(i) => R::Int(i),
        C::Double(d) => R::Double(d),
        C::Str(b) => R::Bulk(b.into()),
        C::Error(e) => R::Error(String::from_utf8_lossy(&e).into_owned().into()),
        C::Array(items) => R::Arr(items.into_iter().map(call_reply).collect()),
    }
}

/// Every AI.HSET of a finished DAG can be written: its vector exists and has one row of a
/// float type, its key is empty or a hash.
fn check_hashes(
    ctx: &Ctx,
    hashes: &[HashWrite],
    slots: &[Option<Arc<Tensor>>],
) -> Result<(), AiError> {
    for h in hashes {
        let Some(Some(t)) = slots.get(h.slot) else {
            return Err(AiError::DagOp(
                "ERR AI.HSET: its vector was not produced".into(),
            ));
        };
        text::vector_bytes(t)?;
        let name = OwnedString::new(&h.key);
        let key = ctx.open_key(name.as_ptr(), false);
        if !key.is_empty() && !key.is_hash() {
            return Err(AiError::WrongType);
        }
    }
    Ok(())
}

/// Writes each AI.HSET (checked by [`check_hashes`]) as an HSET called with replication
/// (`!`): replicas and the AOF get the HSET itself, and its keyspace event has the FT
/// indexes take the document in before the client hears back.
fn write_hashes(ctx: &Ctx, hashes: &[HashWrite], slots: &[Option<Arc<Tensor>>]) {
    for h in hashes {
        let Some(Some(t)) = slots.get(h.slot) else {
            continue;
        };
        let Ok(vector) = text::vector_bytes(t) else {
            continue;
        };
        let mut words = vec![
            OwnedString::new(&h.key),
            OwnedString::new(&h.field),
            OwnedString::new(vector),
        ];
        for (name, value) in &h.fields {
            words.push(OwnedString::new(name));
            words.push(OwnedString::new(value));
        }
        let mut argv: Vec<_> = words.iter().map(OwnedString::as_ptr).collect();
        // SAFETY: the reply callback runs on the main thread with the server lock.
        let r = unsafe { call(ctx.raw_ctx(), c"HSET", c"!v", &mut argv) };
        if !matches!(r, Some(Ok(_))) {
            log(
                Level::Warning,
                &format!(
                    "AI.HSET of {} failed after its checks: {r:?}",
                    String::from_utf8_lossy(&h.key)
                ),
            );
        }
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
