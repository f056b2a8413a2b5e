//! AI.TENSORSET and AI.TENSORGET (spec §4.1, §4.2).

use std::sync::Arc;

use crate::args::{tail, Words};
use crate::config;
use crate::error::{AiError, AiResult};
use crate::redis::{bytes, fields, Args, Ctx, HeldString, KeyUse, R};
use crate::tensor::args::{parse_tensorget_format, parse_tensorset, DataFormat, GetFormat, Input};
use crate::tensor::{Tensor, Value};

/// A BLOB at least this long is kept as the argument string instead of being copied: for a
/// large argument the server has already read the bytes into their own allocation, so the
/// tensor costs what a string value costs.
const KEEP_BLOB_FROM: usize = 32 * 1024;

/// `AI.TENSORSET <key> <dtype> [dim ...] [BLOB <data> | VALUES <v> ...]`
pub fn tensorset(ctx: &Ctx, args: &Args) -> AiResult<()> {
    if ctx.report_first_key(args, KeyUse::Write) {
        return Ok(());
    }
    if args.len() < 4 {
        return Err(AiError::WrongArity);
    }
    let mut key = ctx.open_key(args.raw(1), true);
    key.check_type::<Tensor>()?;
    let words = args.tail(2);
    let req = parse_tensorset(&words)?;
    let limits = config::tensor_limits();
    if let Input::Blob(i) = req.input {
        let blob = words.word(i);
        if blob.len() < KEEP_BLOB_FROM {
            if let Some(old) = key.get_unique_mut::<Tensor>() {
                if old.refill_from_blob(req.dtype, &req.shape, blob, limits)? {
                    key.clear_expire();
                    drop(key);
                    return written(ctx, args);
                }
            }
        }
    }
    let tensor = match req.input {
        Input::Zeros => Tensor::zeros(req.dtype, req.shape, limits)?,
        Input::Blob(i) if words.word(i).len() >= KEEP_BLOB_FROM => {
            let held = HeldString::hold(args.raw(2 + i));
            Tensor::from_external(req.dtype, req.shape, Box::new(held), limits)?
        }
        Input::Blob(i) => Tensor::from_blob(req.dtype, req.shape, words.word(i), limits)?,
        Input::Values(i) => Tensor::from_values(req.dtype, req.shape, &tail(&words, i), limits)?,
    };
    key.set(Arc::new(tensor));
    drop(key);
    written(ctx, args)
}

/// What follows a write of AI.TENSORSET, however the value was stored.
fn written(ctx: &Ctx, args: &Args) -> AiResult<()> {
    ctx.notify(c"ai.tensorset", args.raw(1));
    ctx.replicate_verbatim();
    ctx.reply_ok();
    Ok(())
}

/// `AI.TENSORGET <key> [META] [BLOB | VALUES]`
pub fn tensorget(ctx: &Ctx, args: &Args) -> AiResult<()> {
    if ctx.report_first_key(args, KeyUse::Read) {
        return Ok(());
    }
    if !(2..=4).contains(&args.len()) {
        return Err(AiError::WrongArity);
    }
    let key = ctx.open_key(args.raw(1), false);
    // Key existence and type are checked before the format words, as upstream.
    let tensor = key.get::<Tensor>()?.ok_or(AiError::TensorKeyEmpty)?;
    let format = parse_tensorget_format(&args.tail(2))?;
    ctx.reply(&tensor_reply(tensor, format));
    Ok(())
}

/// A tensor in the AI.TENSORGET layout: the bare blob or values, or the META array
/// `dtype, <DTYPE>, shape, [dims]` followed by `blob`/`values` when asked.
pub fn tensor_reply(t: &Tensor, format: GetFormat) -> R<'_> {
    if !format.meta {
        return match format.data {
            Some(DataFormat::Blob) | None => bytes(t.data()),
            Some(DataFormat::Values) => values(t),
        };
    }
    let mut f = vec![
        ("dtype", bytes(t.dtype().name().as_bytes())),
        (
            "shape",
            R::Arr(t.shape().iter().map(|&d| R::Int(d)).collect()),
        ),
    ];
    match format.data {
        Some(DataFormat::Blob) => f.push(("blob", bytes(t.data()))),
        Some(DataFormat::Values) => f.push(("values", values(t))),
        None => {}
    }
    fields(f)
}

fn values(t: &Tensor) -> R<'_> {
    let mut out = Vec::with_capacity(t.len());
    t.for_each_value(|v| {
        out.push(match v {
            Value::Double(d) => R::Double(d),
            Value::Int(i) => R::Int(i),
            Value::Str(s) => bytes(s),
        })
    });
    R::Arr(out)
}
