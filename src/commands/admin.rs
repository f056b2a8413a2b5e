//! AI.CONFIG (spec §4.18).

use crate::backend::{self, BackendKind};
use crate::config;
use crate::error::{AiError, AiResult};
use crate::redis::{Args, Ctx, Level};

/// `AI.CONFIG LOADBACKEND <backend> <path> | BACKENDSPATH <path> | MODEL_CHUNK_SIZE <bytes> |
/// GET <BACKENDSPATH | MODEL_CHUNK_SIZE>`
///
/// Not replicated and not persisted, as upstream: it configures this server only.
pub fn config(ctx: &Ctx, args: &Args) -> AiResult<()> {
    if args.len() < 2 {
        return Err(AiError::WrongArity);
    }
    let sub = args.bytes(1);
    if sub.eq_ignore_ascii_case(b"LOADBACKEND") {
        if args.len() < 4 {
            return Err(AiError::WrongArity);
        }
        let kind = BackendKind::parse(args.bytes(2)).ok_or(AiError::UnsupportedBackend)?;
        let path = String::from_utf8_lossy(args.bytes(3));
        if let Err(e) = backend::load(kind, &path) {
            ctx.log(Level::Warning, &format!("AI.CONFIG LOADBACKEND: {e}"));
            return Err(AiError::ErrorLoadingBackend);
        }
        ctx.reply_ok();
        return Ok(());
    }
    if sub.eq_ignore_ascii_case(b"BACKENDSPATH") {
        if args.len() < 3 {
            return Err(AiError::BackendsPathMissing);
        }
        let path = std::str::from_utf8(args.bytes(2)).map_err(|_| AiError::BackendsPathNotUtf8)?;
        config::set_backends_path(path);
        ctx.reply_ok();
        return Ok(());
    }
    if sub.eq_ignore_ascii_case(b"MODEL_CHUNK_SIZE") {
        if args.len() < 3 {
            return Err(AiError::ChunkSizeMissing);
        }
        let size = config::MODEL_CHUNK_SIZE
            .parse(args.bytes(2))
            .ok_or(AiError::ChunkSizeInvalid)?;
        config::MODEL_CHUNK_SIZE.set(size);
        ctx.reply_ok();
        return Ok(());
    }
    if sub.eq_ignore_ascii_case(b"GET") {
        if args.len() < 3 {
            return Err(AiError::WrongArity);
        }
        let what = args.bytes(2);
        if what.eq_ignore_ascii_case(b"BACKENDSPATH") {
            ctx.reply_bulk(config::backends_path().as_bytes());
        } else if what.eq_ignore_ascii_case(b"MODEL_CHUNK_SIZE") {
            ctx.reply_long(config::MODEL_CHUNK_SIZE.get());
        } else {
            ctx.reply_null();
        }
        return Ok(());
    }
    Err(AiError::UnsupportedSubcommand)
}
