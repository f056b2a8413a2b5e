//! What the model and script commands share: deleting a stored value, the key positions of
//! the deprecated run commands, the experimental scans, and AI.INFO (run statistics of either).

use crate::error::{AiError, AiResult};
use crate::redis::{bytes, fields, Args, Ctx, KeyUse, Level, StoredType, R};
use crate::stats::{self, Kind};

/// `AI.MODELDEL` / `AI.SCRIPTDEL <key>`: deletes a stored `T`; `missing` if there is none.
pub fn delete<T: StoredType>(ctx: &Ctx, args: &Args, missing: AiError) -> AiResult<()> {
    if args.len() != 2 {
        return Err(AiError::WrongArity);
    }
    let key = ctx.open_key(args.raw(1), true);
    key.get::<T>()?.ok_or(missing)?;
    key.delete();
    drop(key);
    ctx.replicate_verbatim();
    ctx.reply_ok();
    Ok(())
}

/// Key positions of the deprecated AI.MODELRUN / AI.SCRIPTRUN: the model or script, then
/// every word after INPUTS (looked for from `from` on) except the first OUTPUTS and, for
/// scripts, the `$` marker.
pub fn report_run_keys(ctx: &Ctx, args: &Args, from: usize, marker: Option<&[u8]>) {
    let n = args.len();
    if n > 1 {
        ctx.key_at(1, KeyUse::Read);
    }
    let Some(inputs_at) = (from..n).find(|&i| args.bytes(i).eq_ignore_ascii_case(b"INPUTS")) else {
        return;
    };
    let mut seen_outputs = false;
    for i in inputs_at + 1..n {
        let w = args.bytes(i);
        if !seen_outputs && w.eq_ignore_ascii_case(b"OUTPUTS") {
            seen_outputs = true;
        } else if marker != Some(w) {
            let how = if seen_outputs {
                KeyUse::Write
            } else {
                KeyUse::Read
            };
            ctx.key_at(i, how);
        }
    }
}

/// `[key, tag]` of every stored model or script (AI._MODELSCAN, AI._SCRIPTSCAN).
pub fn scan(ctx: &Ctx, args: &Args, kind: Kind, command: &str) -> AiResult<()> {
    if args.len() != 1 {
        return Err(AiError::WrongArity);
    }
    ctx.log(
        Level::Warning,
        &format!("{command} is experimental and might be removed in future versions"),
    );
    let entries = stats::list(kind);
    let rows = entries
        .iter()
        .map(|(key, tag)| R::Arr(vec![bytes(key), bytes(tag)]))
        .collect();
    ctx.reply(&R::Arr(rows));
    Ok(())
}

/// `AI.INFO <key> [RESETSTAT]`
pub fn info(ctx: &Ctx, args: &Args) -> AiResult<()> {
    if ctx.report_first_key(args, KeyUse::Read) {
        return Ok(());
    }
    if !(2..=3).contains(&args.len()) {
        return Err(AiError::WrongArity);
    }
    let s = stats::lookup(args.bytes(1)).ok_or(AiError::NoRunInfo)?;
    if args.len() == 3 && args.bytes(2).eq_ignore_ascii_case(b"RESETSTAT") {
        s.reset();
        ctx.reply_ok();
        return Ok(());
    }
    let c = s.counters();
    let (kind, samples) = match s.kind {
        Kind::Model => ("MODEL", c.samples as i64),
        Kind::Script => ("SCRIPT", -1),
    };
    ctx.reply(&fields(vec![
        ("key", bytes(&s.key)),
        ("type", bytes(kind.as_bytes())),
        ("backend", bytes(s.backend.name().as_bytes())),
        ("device", bytes(s.device.as_bytes())),
        ("tag", bytes(&s.tag)),
        ("duration", R::Int(c.duration_us as i64)),
        ("samples", R::Int(samples)),
        ("calls", R::Int(c.calls as i64)),
        ("errors", R::Int(c.errors as i64)),
    ]));
    Ok(())
}
