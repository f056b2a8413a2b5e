//! AI.PIPELINE: stream-triggered pipelines (not RedisAI's; see README "Stream pipelines").
//!
//! ```text
//! AI.PIPELINE ADD <name> STREAM <key> FIELD <field> INPUT <tensor> (STRING | <dtype> <dim>...)
//!     [GROUP <group>] [BATCH <n>] [MAXLATENCY <ms>] [MAXINFLIGHT <n>]
//!     OUTPUT (STREAM <key> [MAXLEN <n>] | HASH <prefix>) OUTPUTS <n> <tensor>...
//!     DAG [TIMEOUT <ms>] |> <op> |> ...
//! AI.PIPELINE DEL <name>
//! AI.PIPELINE LIST
//! AI.PIPELINE INFO <name>
//! ```

use std::borrow::Cow;

use crate::error::{AiError, AiResult};
use crate::pipeline::{self, Output};
use crate::redis::{bulk, fields, Args, Ctx, KeyUse, R};
use crate::stream_pipes;
use redis_module::raw;

fn is(word: &[u8], keyword: &str) -> bool {
    word.eq_ignore_ascii_case(keyword.as_bytes())
}

pub fn pipeline(ctx: &Ctx, args: &Args) -> AiResult<()> {
    if ctx.is_keys_position_request() {
        if args.len() > 2 && is(args.bytes(1), "ADD") {
            for (pos, written) in pipeline::key_positions(&args.tail(2)) {
                let how = if written {
                    KeyUse::ReadWrite
                } else {
                    KeyUse::Read
                };
                ctx.key_at(pos + 2, how);
            }
        }
        return Ok(());
    }
    if args.len() < 2 {
        return Err(AiError::WrongArity);
    }
    let sub = args.bytes(1);
    let writes = is(sub, "ADD") || is(sub, "DEL");
    let from_master = raw::REDISMODULE_CTX_FLAGS_REPLICATED | raw::REDISMODULE_CTX_FLAGS_LOADING;
    if writes
        && ctx.flags() & (raw::REDISMODULE_CTX_FLAGS_SLAVE | from_master)
            == raw::REDISMODULE_CTX_FLAGS_SLAVE
    {
        return Err(AiError::Pipeline(
            "READONLY You can't write against a read only replica.".into(),
        ));
    }
    if is(sub, "ADD") {
        add(ctx, args)
    } else if is(sub, "ADDAS") {
        add_as(ctx, args)
    } else if is(sub, "DEL") {
        if args.len() != 3 {
            return Err(AiError::WrongArity);
        }
        if !stream_pipes::remove(ctx, args.bytes(2)) {
            return Err(no_such());
        }
        ctx.replicate_verbatim();
        ctx.reply_ok();
        Ok(())
    } else if is(sub, "LIST") {
        if args.len() != 2 {
            return Err(AiError::WrongArity);
        }
        let names = stream_pipes::names().into_iter().map(bulk).collect();
        ctx.reply(&R::Arr(names));
        Ok(())
    } else if is(sub, "INFO") {
        if args.len() != 3 {
            return Err(AiError::WrongArity);
        }
        info(ctx, args.bytes(2))
    } else {
        Err(AiError::Pipeline(format!(
            "ERR unknown subcommand '{}'. Try ADD, DEL, LIST or INFO",
            String::from_utf8_lossy(sub)
        )))
    }
}

fn no_such() -> AiError {
    AiError::Pipeline("ERR no such pipeline".into())
}

/// `ADD`: checked as the caller would run it, the group made, then registered. Replicas and
/// the AOF get `ADDAS <user> ...`, which names the user it runs as.
fn add(ctx: &Ctx, args: &Args) -> AiResult<()> {
    if args.len() < 3 {
        return Err(AiError::WrongArity);
    }
    let def = pipeline::parse_add(&args.tail(2))?;
    let user = crate::redis::current_user_name(ctx)
        .ok_or_else(|| AiError::Pipeline("ERR the server cannot name the current user".into()))?;
    stream_pipes::validate(ctx, &def, &user)?;
    let existed = stream_pipes::create_group(ctx, &def)?;
    let db = stream_pipes::current_db(ctx);
    let mut words: Vec<Vec<u8>> = vec![b"ADDAS".to_vec(), user.clone(), def.name.clone()];
    words.extend(def.args.iter().cloned());
    stream_pipes::insert(def, user, db, existed);
    replicate(ctx, &words);
    ctx.reply_ok();
    Ok(())
}

/// `ADDAS <user> <name> ...`: what a replica or the AOF replays; refused from clients, since
/// it would let one register a pipeline that runs as another user.
fn add_as(ctx: &Ctx, args: &Args) -> AiResult<()> {
    let trusted = raw::REDISMODULE_CTX_FLAGS_REPLICATED | raw::REDISMODULE_CTX_FLAGS_LOADING;
    if ctx.flags() & trusted == 0 {
        return Err(AiError::Pipeline(
            "ERR ADDAS is only replayed from a master or the AOF; use ADD".into(),
        ));
    }
    if args.len() < 4 {
        return Err(AiError::WrongArity);
    }
    let user = args.bytes(2).to_vec();
    let def = pipeline::parse_add(&args.tail(3))?;
    // A definition replayed twice (AOF after an RDB preamble that has it) replaces itself.
    stream_pipes::remove(ctx, &def.name);
    let db = stream_pipes::current_db(ctx);
    // On a replica it runs nothing; at promotion every pipeline recovers.
    stream_pipes::insert(def, user, db, true);
    ctx.replicate_verbatim();
    ctx.reply_ok();
    Ok(())
}

fn replicate(ctx: &Ctx, words: &[Vec<u8>]) {
    use crate::redis::OwnedString;
    let strings: Vec<OwnedString> = words.iter().map(|w| OwnedString::new(w)).collect();
    let raw: Vec<*mut crate::redis::RedisModuleString> =
        strings.iter().map(|s| s.as_ptr()).collect();
    // SAFETY: a live command context; "v" = an array of strings and its length.
    unsafe {
        crate::redis::api!(RedisModule_Replicate)(
            ctx.raw_ctx(),
            c"AI.PIPELINE".as_ptr(),
            c"v".as_ptr(),
            raw.as_ptr(),
            raw.len(),
        )
    };
}

fn info(ctx: &Ctx, name: &[u8]) -> AiResult<()> {
    let (p, s) = stream_pipes::stats(name).ok_or_else(no_such)?;
    let d = &p.def;
    let input = if d.dims.is_empty() {
        vec![bulk(&d.input), bulk(d.dtype.name())]
    } else {
        let mut v = vec![bulk(&d.input), bulk(d.dtype.name())];
        v.extend(d.dims.iter().map(|&x| R::Int(x)));
        v
    };
    let output = match &d.output {
        Output::Stream { key, maxlen } => {
            let mut v = vec![bulk("STREAM"), bulk(key)];
            if let Some(m) = maxlen {
                v.extend([bulk("MAXLEN"), R::Int(*m as i64)]);
            }
            v
        }
        Output::Hash { prefix } => vec![bulk("HASH"), bulk(prefix)],
    };
    let reply = fields(vec![
        ("name", bulk(&d.name)),
        ("stream", bulk(&d.stream)),
        ("group", bulk(&d.group)),
        ("field", bulk(&d.field)),
        ("input", R::Arr(input)),
        ("batch", R::Int(d.batch as i64)),
        ("maxlatency", R::Int(d.max_latency_ms as i64)),
        ("maxinflight", R::Int(d.max_in_flight as i64)),
        ("output", R::Arr(output)),
        ("outputs", R::Arr(d.outputs.iter().map(bulk).collect())),
        ("dag", R::Arr(d.dag.iter().map(bulk).collect())),
        ("user", bulk(&p.user)),
        ("running", R::Int(s.running.into())),
        ("processed", R::Int(s.processed as i64)),
        ("failed", R::Int(s.failed as i64)),
        ("batches", R::Int(s.batches as i64)),
        ("write_errors", R::Int(s.write_errors as i64)),
        ("in_flight", R::Int(s.in_flight as i64)),
        ("lag", R::Int(s.lag)),
        ("latency_p50_ms", R::Double(s.p50_ms)),
        ("latency_p99_ms", R::Double(s.p99_ms)),
        (
            "last_error",
            s.last_error
                .map_or(R::Null, |e| R::Bulk(Cow::Owned(e.into_bytes()))),
        ),
    ]);
    ctx.reply(&reply);
    Ok(())
}
