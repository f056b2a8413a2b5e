//! AI.SCRIPTSTORE, AI.SCRIPTSET, AI.SCRIPTGET, AI.SCRIPTDEL, AI.SCRIPTEXECUTE, AI.SCRIPTRUN and
//! AI._SCRIPTSCAN (spec §4.9–§4.14, §4.19). What a running script may do is `crate::sandbox`.

use std::sync::Arc;

use super::stored;
use crate::dag::{Plan, Target};
use crate::error::{AiError, AiResult};
use crate::redis::{bytes, fields, Args, Ctx, KeyUse, Level, R};
use crate::sandbox;
use crate::script::args::{
    parse_scriptexecute, parse_scriptget, parse_scriptrun, parse_scriptset, parse_scriptstore,
    ExecArgs, StoreArgs,
};
use crate::script::{Script, ScriptCall, ScriptSource};
use crate::stats::Kind;
use crate::tensor::Tensor;

/// `AI.SCRIPTSTORE <key> <device> [TAG <tag>] ENTRY_POINTS <n> <fn>... SOURCE <text>`
pub fn scriptstore(ctx: &Ctx, args: &Args) -> AiResult<()> {
    if ctx.report_first_key(args, KeyUse::Write) {
        return Ok(());
    }
    if args.len() < 8 {
        return Err(AiError::WrongArity);
    }
    let req = parse_scriptstore(&args.tail(2))?;
    store(ctx, args, req)
}

/// `AI.SCRIPTSET <key> <device> [TAG <tag>] SOURCE <text>` (deprecated)
pub fn scriptset(ctx: &Ctx, args: &Args) -> AiResult<()> {
    if ctx.report_first_key(args, KeyUse::Write) {
        return Ok(());
    }
    if args.len() != 5 && args.len() != 7 {
        return Err(AiError::WrongArity);
    }
    let req = parse_scriptset(&args.tail(2))?;
    store(ctx, args, req)
}

fn store(ctx: &Ctx, args: &Args, req: StoreArgs<'_>) -> AiResult<()> {
    // The key is checked before compiling, not after (RedisAI compiled first).
    let key = ctx.open_key(args.raw(1), true);
    key.check_type::<Script>()?;
    let text = |b: &[u8], what: &str| {
        String::from_utf8(b.to_vec())
            .map_err(|_| AiError::Backend(format!("ERR script {what} is not valid UTF-8")))
    };
    let source = ScriptSource {
        device: text(req.device, "device").map_err(|_| AiError::UnsupportedDevice)?,
        tag: req.tag.to_vec(),
        source: text(req.source, "SOURCE")?,
        entry_points: req
            .entry_points
            .iter()
            .map(|e| text(e, "entry point"))
            .collect::<AiResult<_>>()?,
    };
    let script = source.prepare()?.registered(args.bytes(1));
    key.set(Arc::new(script));
    drop(key);
    ctx.replicate_verbatim();
    ctx.reply_ok();
    Ok(())
}

fn script_at(ctx: &Ctx, args: &Args, i: usize) -> AiResult<Arc<Script>> {
    ctx.open_key(args.raw(i), false)
        .get_arc::<Script>()?
        .ok_or(AiError::ScriptKeyEmpty)
}

/// `AI.SCRIPTGET <key> [META] [SOURCE]`
pub fn scriptget(ctx: &Ctx, args: &Args) -> AiResult<()> {
    if ctx.report_first_key(args, KeyUse::Read) {
        return Ok(());
    }
    if !(2..=4).contains(&args.len()) {
        return Err(AiError::WrongArity);
    }
    let s = script_at(ctx, args, 1)?;
    let (meta, source) = parse_scriptget(&args.tail(2));
    if !meta {
        ctx.reply_bulk(s.source.as_bytes());
        return Ok(());
    }
    let entry_points = s.entry_points.iter().map(|e| bytes(e.as_bytes()));
    let mut f = vec![
        ("device", bytes(s.place.device.as_bytes())),
        ("tag", bytes(&s.place.tag)),
        ("Entry Points", R::Arr(entry_points.collect())),
    ];
    if source {
        f.push(("source", bytes(s.source.as_bytes())));
    }
    ctx.reply(&fields(f));
    Ok(())
}

/// `AI.SCRIPTDEL <key>`
pub fn scriptdel(ctx: &Ctx, args: &Args) -> AiResult<()> {
    if ctx.report_first_key(args, KeyUse::Delete) {
        return Ok(());
    }
    stored::delete::<Script>(ctx, args, AiError::ScriptKeyEmpty)
}

/// `AI.SCRIPTEXECUTE <key> <function> [KEYS n k...] [INPUTS n t...] [ARGS n a...]
/// [OUTPUTS n o...] [TIMEOUT ms]`
pub fn scriptexecute(ctx: &Ctx, args: &Args) -> AiResult<()> {
    if ctx.is_keys_position_request() {
        report_execute_keys(ctx, args);
        return Ok(());
    }
    if !ctx.may_block() {
        return Err(AiError::InTransaction);
    }
    if args.len() < 3 {
        return Err(AiError::RunArity("AI.SCRIPTEXECUTE"));
    }
    let script = script_at(ctx, args, 1)?;
    let req = parse_scriptexecute(&args.tail(3), true)?;
    run(ctx, args, script, req, false)
}

/// `AI.SCRIPTRUN <key> <function> [TIMEOUT t] INPUTS <in>... [$ <in>...] OUTPUTS <out>...`
/// (deprecated)
pub fn scriptrun(ctx: &Ctx, args: &Args) -> AiResult<()> {
    if ctx.is_keys_position_request() {
        stored::report_run_keys(ctx, args, 3, Some(b"$"));
        return Ok(());
    }
    ctx.log(
        Level::Warning,
        "AI.SCRIPTRUN is deprecated and will be removed in a future version, use AI.SCRIPTEXECUTE",
    );
    if !ctx.may_block() {
        return Err(AiError::InTransaction);
    }
    if args.len() < 3 {
        return Err(AiError::RunArity("AI.SCRIPTRUN"));
    }
    let script = script_at(ctx, args, 1)?;
    let req = parse_scriptrun(&args.tail(3))?;
    run(ctx, args, script, req, false)
}

/// Snapshots the inputs, checks the output keys, and runs the script as a single-op plan.
fn run(
    ctx: &Ctx,
    args: &Args,
    script: Arc<Script>,
    req: ExecArgs,
    read_only: bool,
) -> AiResult<()> {
    let base = 3;
    let inputs: Vec<Arc<Tensor>> = req
        .inputs
        .iter()
        .map(|&i| {
            ctx.open_key(args.raw(base + i), false)
                .get_arc::<Tensor>()?
                .ok_or(AiError::TensorKeyEmpty)
        })
        .collect::<AiResult<_>>()?;
    for &o in &req.outputs {
        ctx.open_key(args.raw(base + o), false)
            .check_type::<Tensor>()?;
    }
    let words = |v: &[usize]| -> Vec<Vec<u8>> {
        v.iter().map(|&i| args.bytes(base + i).to_vec()).collect()
    };
    let keys = words(&req.keys);
    let call = ScriptCall {
        script,
        function: args.bytes(2).to_vec(),
        args: words(&req.args),
        outputs: req.outputs.len(),
        env: sandbox::env(ctx, keys.clone(), read_only),
        keys,
    };
    let outputs = words(&req.outputs);
    super::dag::execute(
        ctx,
        Plan::single(
            Target::Script(Arc::new(call)),
            inputs,
            outputs,
            req.timeout_ms,
        ),
    )
}

/// Key positions of AI.SCRIPTEXECUTE: the script, then KEYS, INPUTS and OUTPUTS names, read
/// as far as they parse (RedisAI stopped at ARGS; this reads every section).
fn report_execute_keys(ctx: &Ctx, args: &Args) {
    let n = args.len();
    if n > 1 {
        ctx.key_at(1, KeyUse::Read);
    }
    let mut pos = 3;
    while pos + 1 < n {
        let w = args.bytes(pos);
        // What the script does with its KEYS is up to it: they may be read and written.
        let how = [
            ("KEYS", Some(KeyUse::ReadWrite)),
            ("INPUTS", Some(KeyUse::Read)),
            ("OUTPUTS", Some(KeyUse::Write)),
            ("ARGS", None),
        ]
        .into_iter()
        .find(|(k, _)| w.eq_ignore_ascii_case(k.as_bytes()));
        let Some((_, how)) = how else {
            return;
        };
        let Some(count) = crate::args::parse_i64(args.bytes(pos + 1)).filter(|&c| c >= 0) else {
            return;
        };
        let first = pos + 2;
        let end = first.saturating_add(count as usize).min(n);
        if let Some(how) = how {
            (first..end).for_each(|i| ctx.key_at(i, how));
        }
        pos = end;
    }
}

/// `AI._SCRIPTSCAN` (experimental): `[key, tag]` of every stored script.
pub fn scriptscan(ctx: &Ctx, args: &Args) -> AiResult<()> {
    stored::scan(ctx, args, Kind::Script, "AI._SCRIPTSCAN")
}
