//! FT.SUGADD / FT.SUGGET / FT.SUGDEL / FT.SUGLEN (auto-complete dictionaries, plain keys of
//! type `AI_SUGDCT`) and FT.DICTADD / FT.DICTDEL / FT.DICTDUMP (server-wide dictionaries for
//! FT.SPELLCHECK), with RediSearch 2.10's grammar, replies and error texts.

use std::sync::Arc;

use crate::error::{AiError, AiResult};
use crate::redis::{bulk, Args, Ctx, R};
use crate::search::dictionaries;
use crate::search::suggest::{Suggestions, MAX_PREFIX_BYTES};
use crate::tensor::number::parse_f64;
use crate::types::suggest::SugDict;

/// A double as RediSearch's server prints one under RESP2 (shortest round-trip digits), so
/// RESP2 replies read the same whichever server version sends them.
pub(crate) fn format_double(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    if !v.is_finite() {
        return if v.is_nan() {
            "nan".into()
        } else if v > 0.0 {
            "inf".into()
        } else {
            "-inf".into()
        };
    }
    let exp = v.abs().log10().floor() as i32;
    if (-5..21).contains(&exp) {
        return v.to_string();
    }
    let s = format!("{v:e}");
    match s.split_once('e') {
        Some((m, e)) if !e.starts_with('-') => format!("{m}e+{e}"),
        _ => s,
    }
}

/// A double reply: a RESP3 double, or under RESP2 a bulk string formatted as above.
pub(crate) fn double(ctx: &Ctx, v: f64) -> R<'static> {
    if ctx.is_resp3() {
        R::Double(v)
    } else {
        bulk(format_double(v))
    }
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `FT.SUGADD key string score [INCR] [PAYLOAD payload]`: the dictionary's size afterwards.
pub fn sugadd(ctx: &Ctx, args: &Args) -> AiResult<()> {
    if !(4..=7).contains(&args.len()) {
        return Err(AiError::WrongArity);
    }
    let mut incr = false;
    let mut payload: Option<&[u8]> = None;
    let mut i = 4;
    while i < args.len() {
        let w = args.bytes(i);
        if w.eq_ignore_ascii_case(b"INCR") {
            incr = true;
        } else if w.eq_ignore_ascii_case(b"PAYLOAD") {
            i += 1;
            if i >= args.len() {
                ctx.reply(&R::Error(
                    "Invalid payload: Expected an argument, but none provided".into(),
                ));
                return Ok(());
            }
            payload = Some(args.bytes(i));
        } else {
            ctx.reply(&R::Error(format!("Unknown argument `{}`", lossy(w)).into()));
            return Ok(());
        }
        i += 1;
    }
    let key = ctx.open_key(args.raw(1), true);
    let existing = key.get::<SugDict>()?;
    let Some(score) = parse_f64(args.bytes(3)) else {
        ctx.reply(&R::Error("ERR invalid score".into()));
        return Ok(());
    };
    let string = args.bytes(2);
    let size = match existing {
        Some(d) => {
            let mut s = d.lock();
            s.add(string, score, incr, payload);
            s.len()
        }
        None => {
            let mut s = Suggestions::default();
            s.add(string, score, incr, payload);
            let size = s.len();
            // A string the dictionary cannot hold creates no key (RediSearch creates an
            // empty one).
            if size > 0 {
                key.set(Arc::new(SugDict::new(s)));
            }
            size
        }
    };
    ctx.reply(&R::Int(size as i64));
    ctx.replicate_verbatim();
    Ok(())
}

/// SUGGET's options (RediSearch's argument-spec parser: any order, repeats allowed).
struct GetOptions {
    fuzzy: bool,
    with_scores: bool,
    with_payloads: bool,
    max: usize,
}

fn get_options(words: &[&[u8]]) -> Result<GetOptions, String> {
    let mut o = GetOptions {
        fuzzy: false,
        with_scores: false,
        with_payloads: false,
        max: 5,
    };
    let mut i = 0;
    while i < words.len() {
        let w = words[i].to_ascii_uppercase();
        match w.as_slice() {
            b"FUZZY" => o.fuzzy = true,
            b"WITHSCORES" => o.with_scores = true,
            b"WITHPAYLOADS" => o.with_payloads = true,
            // Accepted and ignored, as RediSearch's lookup ignores them too.
            b"TRIM" | b"OPTIMIZE" => {}
            b"MAX" => {
                i += 1;
                let Some(v) = words.get(i) else {
                    return Err("MAX: Expected an argument, but none provided".into());
                };
                o.max = max_count(v)?;
            }
            _ => return Err(format!("Unrecognized argument: {}", lossy(words[i]))),
        }
        i += 1;
    }
    Ok(o)
}

/// MAX: an integer, or a number RediSearch truncates to one; 1 to 2^32-1.
fn max_count(v: &[u8]) -> Result<usize, String> {
    let n = match crate::args::parse_i64(v) {
        Some(n) => n as f64,
        None => match parse_f64(v) {
            Some(d) => d.trunc(),
            None => return Err("MAX: Could not convert argument to expected type".into()),
        },
    };
    if !(1.0..=u32::MAX as f64).contains(&n) {
        return Err("MAX: Value is outside acceptable bounds".into());
    }
    Ok(n as usize)
}

/// `FT.SUGGET key prefix [FUZZY] [WITHSCORES] [WITHPAYLOADS] [MAX n]`
pub fn sugget(ctx: &Ctx, args: &Args) -> AiResult<()> {
    if !(3..=10).contains(&args.len()) {
        return Err(AiError::WrongArity);
    }
    let prefix = args.bytes(2);
    if prefix.len() >= MAX_PREFIX_BYTES {
        ctx.reply(&R::Error("Invalid query length".into()));
        return Ok(());
    }
    let words: Vec<&[u8]> = (3..args.len()).map(|i| args.bytes(i)).collect();
    let o = match get_options(&words) {
        Ok(o) => o,
        Err(e) => {
            ctx.reply(&R::Error(e.into()));
            return Ok(());
        }
    };
    let key = ctx.open_key(args.raw(1), false);
    let Some(d) = key.get::<SugDict>()? else {
        ctx.reply(&R::Null);
        return Ok(());
    };
    let s = d.lock();
    let Some(hits) = s.lookup(prefix, o.fuzzy, o.max) else {
        ctx.reply(&R::Error("Invalid query".into()));
        return Ok(());
    };
    let mut out = Vec::new();
    for h in hits {
        out.push(bulk(h.string));
        if o.with_scores {
            out.push(double(ctx, f64::from(h.score)));
        }
        if o.with_payloads {
            out.push(h.payload.map_or(R::Null, bulk));
        }
    }
    ctx.reply(&R::Arr(out));
    Ok(())
}

/// `FT.SUGDEL key string`: 1 if the string (as stored, case included) was there.
pub fn sugdel(ctx: &Ctx, args: &Args) -> AiResult<()> {
    if args.len() != 3 {
        return Err(AiError::WrongArity);
    }
    let key = ctx.open_key(args.raw(1), true);
    let removed = match key.get::<SugDict>()? {
        Some(d) => d.lock().remove(args.bytes(2)),
        None => false,
    };
    ctx.reply(&R::Int(i64::from(removed)));
    if removed {
        ctx.replicate_verbatim();
    }
    Ok(())
}

/// `FT.SUGLEN key`
pub fn suglen(ctx: &Ctx, args: &Args) -> AiResult<()> {
    if args.len() != 2 {
        return Err(AiError::WrongArity);
    }
    let key = ctx.open_key(args.raw(1), false);
    let n = key.get::<SugDict>()?.map_or(0, |d| d.lock().len());
    ctx.reply(&R::Int(n as i64));
    Ok(())
}

/// `FT.DICTADD dict term [term ...]`: how many terms were new.
pub fn dictadd(ctx: &Ctx, args: &Args) -> AiResult<()> {
    if args.len() < 3 {
        return Err(AiError::WrongArity);
    }
    let added = dictionaries().add(args.bytes(1), (2..args.len()).map(|i| args.bytes(i)));
    ctx.reply(&R::Int(added as i64));
    ctx.replicate_verbatim();
    crate::cluster::catalog::after_local_ddl(ctx, args);
    Ok(())
}

/// `FT.DICTDEL dict term [term ...]`: how many terms were there.
pub fn dictdel(ctx: &Ctx, args: &Args) -> AiResult<()> {
    if args.len() < 3 {
        return Err(AiError::WrongArity);
    }
    let removed = dictionaries().remove(args.bytes(1), (2..args.len()).map(|i| args.bytes(i)));
    ctx.reply(&R::Int(removed as i64));
    ctx.replicate_verbatim();
    crate::cluster::catalog::after_local_ddl(ctx, args);
    Ok(())
}

/// `FT.DICTDUMP dict`: its terms in byte order.
pub fn dictdump(ctx: &Ctx, args: &Args) -> AiResult<()> {
    if args.len() != 2 {
        return Err(AiError::WrongArity);
    }
    let reply = match dictionaries().get(args.bytes(1)) {
        Some(d) => R::Arr(d.iter().map(bulk).collect()),
        None => R::Error("could not open dict key".into()),
    };
    ctx.reply(&reply);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_print_as_the_server_does() {
        assert_eq!(format_double(2147483648.0), "2147483648");
        assert_eq!(format_double(f64::from(2.309_401_f32)), "2.309401035308838");
        assert_eq!(format_double(2.0 / 3.0), "0.6666666666666666");
        assert_eq!(format_double(0.0), "0");
        assert_eq!(format_double(f64::NEG_INFINITY), "-inf");
        assert_eq!(format_double(1e30), "1e+30");
    }

    #[test]
    fn max_is_parsed_as_redisearch_does() {
        assert_eq!(max_count(b"3"), Ok(3));
        assert_eq!(max_count(b"1.5"), Ok(1));
        assert!(max_count(b"0").is_err());
        assert!(max_count(b"-1").is_err());
        assert!(max_count(b"99999999999999").is_err());
        assert_eq!(
            max_count(b"abc"),
            Err("MAX: Could not convert argument to expected type".into())
        );
        let o = get_options(&[b"fuzzy", b"MAX", b"2", b"TRIM"]).unwrap();
        assert!(o.fuzzy && o.max == 2);
        assert_eq!(
            get_options(&[b"BAR"]).err(),
            Some("Unrecognized argument: BAR".into())
        );
    }
}
