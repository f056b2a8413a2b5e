//! AI.TENSORSET and AI.TENSORGET (spec §4.1, §4.2).

use std::sync::Arc;

use crate::args::{tail, Words};
use crate::config;
use crate::error::{AiError, AiResult};
use crate::redis::{Args, Ctx, HeldString, KeyUse};
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
    let key = ctx.open_key(args.raw(1), true);
    key.check_type::<Tensor>()?;
    let words = args.tail(2);
    let req = parse_tensorset(&words)?;
    let limits = config::tensor_limits();
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
    reply_tensor(ctx, tensor, format);
    Ok(())
}

/// Replies with a tensor in the AI.TENSORGET layout: the bare blob or values, or the META
/// array `dtype, <DTYPE>, shape, [dims]` followed by `blob`/`values` when asked.
pub fn reply_tensor(ctx: &Ctx, t: &Tensor, format: GetFormat) {
    if !format.meta {
        match format.data {
            Some(DataFormat::Blob) | None => ctx.reply_bulk(t.data()),
            Some(DataFormat::Values) => reply_values(ctx, t),
        }
        return;
    }
    ctx.reply_array(if format.data.is_some() { 6 } else { 4 });
    ctx.reply_bulk(b"dtype");
    ctx.reply_bulk(t.dtype().name().as_bytes());
    ctx.reply_bulk(b"shape");
    ctx.reply_array(t.shape().len());
    for &d in t.shape() {
        ctx.reply_long(d);
    }
    match format.data {
        Some(DataFormat::Blob) => {
            ctx.reply_bulk(b"blob");
            ctx.reply_bulk(t.data());
        }
        Some(DataFormat::Values) => {
            ctx.reply_bulk(b"values");
            reply_values(ctx, t);
        }
        None => {}
    }
}

fn reply_values(ctx: &Ctx, t: &Tensor) {
    ctx.reply_array(t.len());
    t.for_each_value(|v| match v {
        Value::Double(d) => ctx.reply_double(d),
        Value::Int(i) => ctx.reply_long(i),
        Value::Str(s) => ctx.reply_bulk(s),
    });
}
