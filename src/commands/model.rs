//! AI.MODELSTORE, AI.MODELSET, AI.MODELGET, AI.MODELDEL, AI.MODELEXECUTE, AI.MODELRUN,
//! AI._MODELSCAN and AI.INFO (spec §4.3–§4.8, §4.17, §4.19).

use std::sync::Arc;
use std::time::Duration;

use super::plan_reply::reply_plan;
use super::stored;
use crate::args::Words;
use crate::config;
use crate::dag::run::{Finished, OpResult};
use crate::dag::{Graph, Plan, Target};
use crate::error::{AiError, AiResult};
use crate::exec::{self, Outcome};
use crate::model::args::{
    parse_modelexecute, parse_modelget, parse_modelrun, parse_modelset, parse_modelstore, ExecArgs,
    StoreArgs,
};
use crate::model::{chunks, Model, ModelSource};
use crate::redis::{bytes, fields, ArgWords, Args, Ctx, KeyUse, Level, R};
use crate::stats::Kind;
use crate::tensor::{try_concat, Tensor};

/// `AI.MODELSTORE <key> <backend> <device> [TAG <tag>] [BATCHSIZE <n> [MINBATCHSIZE <m>
/// [MINBATCHTIMEOUT <ms>]]] [INPUTS <n> <name>... OUTPUTS <m> <name>...] BLOB <chunk>...`
pub fn modelstore(ctx: &Ctx, args: &Args) -> AiResult<()> {
    if ctx.report_first_key(args, KeyUse::Write) {
        return Ok(());
    }
    if args.len() < 6 {
        return Err(AiError::WrongArity);
    }
    let words = args.tail(2);
    let req = parse_modelstore(&words)?;
    store(ctx, args, &words, req)
}

/// `AI.MODELSET <key> <backend> <device> [TAG <tag>] [BATCHSIZE <n> [MINBATCHSIZE <m>
/// [MINBATCHTIMEOUT <ms>]]] [INPUTS <name>... OUTPUTS <name>...] BLOB <chunk>...` (deprecated)
pub fn modelset(ctx: &Ctx, args: &Args) -> AiResult<()> {
    if ctx.report_first_key(args, KeyUse::Write) {
        return Ok(());
    }
    if args.len() < 4 {
        return Err(AiError::WrongArity);
    }
    let words = args.tail(2);
    let req = parse_modelset(&words)?;
    store(ctx, args, &words, req)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn store(ctx: &Ctx, args: &Args, words: &ArgWords<'_>, req: StoreArgs<'_>) -> AiResult<()> {
    // The key is checked before the (possibly slow) model preparation, not after it.
    let key = ctx.open_key(args.raw(1), true);
    key.check_type::<Model>()?;
    let blob = try_concat(req.blob.clone().map(|i| words.word(i)))?;
    let device = std::str::from_utf8(req.device)
        .map_err(|_| AiError::UnsupportedDevice)?
        .to_string();
    let source = ModelSource {
        backend: req.backend,
        device,
        tag: req.tag.to_vec(),
        batch: req.batch,
        inputs: req.inputs.iter().map(|n| text(n)).collect(),
        outputs: req.outputs.iter().map(|n| text(n)).collect(),
        blob,
    };
    let model = source.prepare()?.registered(args.bytes(1));
    key.set(Arc::new(model));
    drop(key);
    ctx.replicate_verbatim();
    ctx.reply_ok();
    Ok(())
}

/// A model blob, in chunks of MODEL_CHUNK_SIZE when it is larger.
fn blob_reply(blob: &[u8]) -> R<'_> {
    let parts = chunks(blob.len(), config::MODEL_CHUNK_SIZE.get().max(1) as usize);
    if parts.len() == 1 {
        return bytes(blob);
    }
    R::Arr(parts.into_iter().map(|p| bytes(&blob[p])).collect())
}

fn names_reply(names: &[String]) -> R<'_> {
    R::Arr(names.iter().map(|n| bytes(n.as_bytes())).collect())
}

/// `AI.MODELGET <key> [META] [BLOB]`
pub fn modelget(ctx: &Ctx, args: &Args) -> AiResult<()> {
    if ctx.report_first_key(args, KeyUse::Read) {
        return Ok(());
    }
    if !(2..=4).contains(&args.len()) {
        return Err(AiError::WrongArity);
    }
    let key = ctx.open_key(args.raw(1), false);
    let m = key.get::<Model>()?.ok_or(AiError::ModelKeyEmpty)?;
    let (meta, blob) = parse_modelget(&args.tail(2));
    if !meta {
        ctx.reply(&blob_reply(&m.blob));
        return Ok(());
    }
    let mut f = vec![
        ("backend", bytes(m.backend.name().as_bytes())),
        ("device", bytes(m.place.device.as_bytes())),
        ("tag", bytes(&m.place.tag)),
        ("batchsize", R::Int(m.batch.size as i64)),
        ("minbatchsize", R::Int(m.batch.min_size as i64)),
        ("inputs", names_reply(m.inputs())),
        ("outputs", names_reply(m.outputs())),
        ("minbatchtimeout", R::Int(m.batch.min_timeout_ms as i64)),
    ];
    if blob {
        f.push(("blob", blob_reply(&m.blob)));
    }
    ctx.reply(&fields(f));
    Ok(())
}

/// `AI.MODELDEL <key>`
pub fn modeldel(ctx: &Ctx, args: &Args) -> AiResult<()> {
    if ctx.report_first_key(args, KeyUse::Delete) {
        return Ok(());
    }
    stored::delete::<Model>(ctx, args, AiError::ModelKeyEmpty)
}

fn model_at(ctx: &Ctx, args: &Args, i: usize) -> AiResult<Arc<Model>> {
    ctx.open_key(args.raw(i), false)
        .get_arc::<Model>()?
        .ok_or(AiError::ModelKeyEmpty)
}

/// `AI.MODELEXECUTE <key> INPUTS <n> <key>... OUTPUTS <m> <key>... [TIMEOUT <ms>]`
pub fn modelexecute(ctx: &Ctx, args: &Args) -> AiResult<()> {
    if ctx.is_keys_position_request() {
        report_execute_keys(ctx, args);
        return Ok(());
    }
    if !ctx.may_block() {
        return Err(AiError::InTransaction);
    }
    if args.len() < 8 {
        return Err(AiError::RunArity("AI.MODELEXECUTE"));
    }
    let model = model_at(ctx, args, 1)?;
    let req = parse_modelexecute(&args.tail(2), model.inputs().len(), model.outputs().len())?;
    run(ctx, args, 2, model, req)
}

/// `AI.MODELRUN <key> [TIMEOUT <ms>] INPUTS <key>... OUTPUTS <key>...` (deprecated)
pub fn modelrun(ctx: &Ctx, args: &Args) -> AiResult<()> {
    if ctx.is_keys_position_request() {
        stored::report_run_keys(ctx, args, 2, None);
        return Ok(());
    }
    ctx.log(
        Level::Warning,
        "AI.MODELRUN is deprecated and will be removed in a future version, use AI.MODELEXECUTE",
    );
    if !ctx.may_block() {
        return Err(AiError::InTransaction);
    }
    if args.len() < 6 {
        return Err(AiError::RunArity("AI.MODELRUN"));
    }
    let model = model_at(ctx, args, 1)?;
    let req = parse_modelrun(&args.tail(2), model.inputs().len(), model.outputs().len())?;
    run(ctx, args, 2, model, req)
}

/// Snapshots the inputs, checks the output keys, and runs the model as a single-op plan.
fn run(ctx: &Ctx, args: &Args, base: usize, model: Arc<Model>, req: ExecArgs) -> AiResult<()> {
    let inputs: Vec<Arc<Tensor>> = req
        .inputs
        .iter()
        .map(|&i| {
            ctx.open_key(args.raw(base + i), false)
                .get_arc::<Tensor>()?
                .ok_or(AiError::TensorKeyEmpty)
        })
        .collect::<AiResult<_>>()?;
    // RedisAI ran the model and then failed to store into a key of another type, after
    // replying OK; checking first means a run either stores everything or is refused.
    for &o in &req.outputs {
        ctx.open_key(args.raw(base + o), false)
            .check_type::<Tensor>()?;
    }
    let outputs = req
        .outputs
        .iter()
        .map(|&o| args.bytes(base + o).to_vec())
        .collect();
    let limit = config::INLINE_MAX_US.get();
    if limit > 0 && model.runs_inline(&inputs, Duration::from_micros(limit as u64)) {
        run_inline(ctx, model, inputs, outputs);
        return Ok(());
    }
    super::dag::execute(
        ctx,
        Plan::single(Target::Model(model), inputs, outputs, req.timeout_ms),
    )
}

/// Runs a small model in the command itself, on the main thread, where the hand-off to a
/// worker would cost more than the run (`ai.inline_max_us`, `Model::runs_inline`), and answers
/// as a queued run does: the same reply, writes, replication and AI.INFO counts, through the
/// same `reply_plan`. A TIMEOUT cannot expire (the run never waits in a queue);
/// MODEL_EXECUTION_TIMEOUT still stops the run inside the backend.
fn run_inline(ctx: &Ctx, model: Arc<Model>, inputs: Vec<Arc<Tensor>>, outputs: Vec<Vec<u8>>) {
    let refs: Vec<&Tensor> = inputs.iter().map(Arc::as_ref).collect();
    let outcome = exec::run_inline(model.as_ref(), config::inline_worker(), &refs);
    drop(refs);
    let plan = Plan::single(Target::Model(model), inputs, outputs, None);
    let finished = finished_single(plan.graph, outcome);
    reply_plan(ctx, &plan.outline, finished);
}

/// A single-op plan's end, as `dag::run` records it for a queued run.
fn finished_single(mut graph: Graph<Model>, outcome: Outcome) -> Finished {
    let out_slots = graph
        .runs
        .first_mut()
        .and_then(Option::take)
        .map(|r| r.outputs)
        .unwrap_or_default();
    let (timed_out, result) = match outcome {
        Outcome::Outputs(tensors) => {
            for (slot, t) in out_slots.into_iter().zip(tensors) {
                graph.slots[slot] = t.map(Arc::new);
            }
            (false, OpResult::Done)
        }
        Outcome::Failed(text) => (false, OpResult::Failed(text)),
        Outcome::TimedOut => (true, OpResult::NotRun),
    };
    Finished {
        timed_out,
        results: vec![result],
        slots: graph.slots,
    }
}

/// Key positions of AI.MODELEXECUTE for the cluster and ACLs, read as far as they parse.
fn report_execute_keys(ctx: &Ctx, args: &Args) {
    let n = args.len();
    if n > 1 {
        ctx.key_at(1, KeyUse::Read);
    }
    let mut pos = 2;
    for (section, how) in [("INPUTS", KeyUse::Read), ("OUTPUTS", KeyUse::Write)] {
        if pos + 1 >= n || !args.bytes(pos).eq_ignore_ascii_case(section.as_bytes()) {
            return;
        }
        let Some(count) = crate::args::parse_i64(args.bytes(pos + 1)).filter(|&c| c >= 0) else {
            return;
        };
        let first = pos + 2;
        let end = (first + count as usize).min(n);
        (first..end).for_each(|i| ctx.key_at(i, how));
        pos = end;
    }
}

/// `AI._MODELSCAN` (experimental): `[key, tag]` of every stored model.
pub fn modelscan(ctx: &Ctx, args: &Args) -> AiResult<()> {
    stored::scan(ctx, args, Kind::Model, "AI._MODELSCAN")
}
