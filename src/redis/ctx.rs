//! A command's context: replies, replication, notifications, key positions, keys.

use std::ffi::{c_char, c_int, c_long, CStr};
use std::marker::PhantomData;

use redis_module::raw;

use super::{log_raw, to_cstring, Args, Key, KeyUse, Level, OwnedString};
use super::{RedisModuleCtx, RedisModuleString};

/// The words after the key of `AI.TENSORSET key DTYPE dims... BLOB data` that recreate `t`:
/// what replicas (for computed tensors) and the AOF receive.
pub fn tensorset_args(t: &crate::tensor::Tensor) -> Vec<OwnedString> {
    let mut args = Vec::with_capacity(t.shape().len() + 3);
    args.push(OwnedString::new(t.dtype().name().as_bytes()));
    for d in t.shape() {
        args.push(OwnedString::new(d.to_string().as_bytes()));
    }
    args.push(OwnedString::new(b"BLOB"));
    args.push(OwnedString::new(t.data()));
    args
}

/// A command's context: replies, keys, replication.
pub struct Ctx {
    raw: *mut RedisModuleCtx,
}

impl Ctx {
    /// # Safety
    /// `raw` must be a live context handed to us by Redis.
    pub unsafe fn from_raw(raw: *mut RedisModuleCtx) -> Self {
        Ctx { raw }
    }

    pub fn raw_ctx(&self) -> *mut RedisModuleCtx {
        self.raw
    }

    pub fn log(&self, level: Level, msg: &str) {
        log_raw(self.raw, level, msg);
    }

    pub fn reply_simple(&self, s: &CStr) {
        // SAFETY: live context, NUL-terminated string.
        unsafe { api!(RedisModule_ReplyWithSimpleString)(self.raw, s.as_ptr()) };
    }

    pub fn reply_ok(&self) {
        self.reply_simple(c"OK");
    }

    /// Sends `text` verbatim as an error reply (it must carry its own `ERR `/code prefix).
    pub fn reply_error(&self, text: &str) {
        let text = to_cstring(text);
        // SAFETY: live context, NUL-terminated string.
        unsafe { api!(RedisModule_ReplyWithError)(self.raw, text.as_ptr()) };
    }

    pub fn wrong_arity(&self) {
        // SAFETY: live context.
        unsafe { api!(RedisModule_WrongArity)(self.raw) };
    }

    pub(super) fn reply_array(&self, len: usize) {
        // SAFETY: live context.
        unsafe { api!(RedisModule_ReplyWithArray)(self.raw, len as c_long) };
    }

    /// A RESP3 set; a plain array under RESP2.
    pub(super) fn reply_set(&self, len: usize) {
        // SAFETY: live context.
        unsafe { api!(RedisModule_ReplyWithSet)(self.raw, len as c_long) };
    }

    /// A RESP3 map; a flat array of twice the length under RESP2.
    pub(super) fn reply_map(&self, len: usize) {
        // SAFETY: live context.
        unsafe { api!(RedisModule_ReplyWithMap)(self.raw, len as c_long) };
    }

    /// Whether the client speaks RESP3 (HELLO 3).
    pub fn is_resp3(&self) -> bool {
        self.flags() & raw::REDISMODULE_CTX_FLAGS_RESP3 != 0
    }

    pub fn reply_bulk(&self, bytes: &[u8]) {
        // SAFETY: live context; Redis copies the bytes into the client's buffer.
        unsafe {
            api!(RedisModule_ReplyWithStringBuffer)(
                self.raw,
                bytes.as_ptr().cast::<c_char>(),
                bytes.len(),
            )
        };
    }

    pub fn reply_long(&self, v: i64) {
        // SAFETY: live context.
        unsafe { api!(RedisModule_ReplyWithLongLong)(self.raw, v) };
    }

    /// A double: a RESP3 double under HELLO 3, a bulk string under RESP2.
    pub fn reply_double(&self, v: f64) {
        // SAFETY: live context.
        unsafe { api!(RedisModule_ReplyWithDouble)(self.raw, v) };
    }

    pub fn reply_null(&self) {
        // SAFETY: live context.
        unsafe { api!(RedisModule_ReplyWithNull)(self.raw) };
    }

    /// Replicates the running command as it was received (to replicas and the AOF).
    pub fn replicate_verbatim(&self) {
        // SAFETY: live context.
        unsafe { api!(RedisModule_ReplicateVerbatim)(self.raw) };
    }

    /// Fires a keyspace notification of the module class (`notify-keyspace-events` with `d`).
    pub fn notify(&self, event: &CStr, key: *mut RedisModuleString) {
        // SAFETY: live context and key name.
        unsafe {
            api!(RedisModule_NotifyKeyspaceEvent)(
                self.raw,
                raw::NotifyEvent::MODULE.bits(),
                event.as_ptr(),
                key,
            )
        };
    }

    /// The context flags (`REDISMODULE_CTX_FLAGS_*`).
    pub fn flags(&self) -> u32 {
        // SAFETY: live context.
        unsafe { api!(RedisModule_GetContextFlags)(self.raw) as u32 }
    }

    /// Whether the command may block its client (it may not inside MULTI, Lua, or when
    /// another module calls it).
    pub fn may_block(&self) -> bool {
        let deny = raw::REDISMODULE_CTX_FLAGS_MULTI
            | raw::REDISMODULE_CTX_FLAGS_LUA
            | raw::REDISMODULE_CTX_FLAGS_DENY_BLOCKING;
        self.flags() & deny == 0
    }

    /// Whether this call only asks for the command's key positions (`getkeys-api`).
    pub fn is_keys_position_request(&self) -> bool {
        // SAFETY: live context.
        unsafe { api!(RedisModule_IsKeysPositionRequest)(self.raw) != 0 }
    }

    /// Reports argument `pos` as a key used as `how`, during a keys-position request. The
    /// flags are what ACL checks against read-only (`%R~`) and write-only (`%W~`) patterns;
    /// plain `KeyAtPos` would declare every key read-write.
    pub fn key_at(&self, pos: usize, how: KeyUse) {
        let flags = match how {
            KeyUse::Read => raw::REDISMODULE_CMD_KEY_RO | raw::REDISMODULE_CMD_KEY_ACCESS,
            KeyUse::Write => raw::REDISMODULE_CMD_KEY_OW | raw::REDISMODULE_CMD_KEY_UPDATE,
            KeyUse::ReadWrite => {
                raw::REDISMODULE_CMD_KEY_RW
                    | raw::REDISMODULE_CMD_KEY_ACCESS
                    | raw::REDISMODULE_CMD_KEY_UPDATE
            }
            KeyUse::Delete => raw::REDISMODULE_CMD_KEY_RM | raw::REDISMODULE_CMD_KEY_DELETE,
        };
        // SAFETY: live context in a keys-position request.
        unsafe {
            if api_has!(RedisModule_KeyAtPosWithFlags) {
                api!(RedisModule_KeyAtPosWithFlags)(self.raw, pos as c_int, flags as c_int)
            } else {
                api!(RedisModule_KeyAtPos)(self.raw, pos as c_int)
            }
        };
    }

    /// A single-key command's keys-position request: reports `argv[1]` used as `how`.
    /// Returns whether this call was one (the handler then returns at once).
    pub fn report_first_key(&self, args: &Args, how: KeyUse) -> bool {
        if !self.is_keys_position_request() {
            return false;
        }
        if args.len() > 1 {
            self.key_at(1, how);
        }
        true
    }

    /// Replicates `AI.TENSORSET key DTYPE dims... BLOB data`: how a computed tensor reaches
    /// replicas and the AOF (they never run models themselves).
    pub fn replicate_tensor(&self, key: *mut RedisModuleString, t: &crate::tensor::Tensor) {
        let args = tensorset_args(t);
        let raw: Vec<*mut RedisModuleString> = args.iter().map(|s| s.as_ptr()).collect();
        // SAFETY: "s" = the key, "v" = an array of strings and its length; all alive here.
        unsafe {
            api!(RedisModule_Replicate)(
                self.raw,
                c"AI.TENSORSET".as_ptr(),
                c"sv".as_ptr(),
                key,
                raw.as_ptr(),
                raw.len(),
            )
        };
    }

    pub fn open_key(&self, name: *mut RedisModuleString, write: bool) -> Key<'_> {
        let mode = if write {
            raw::KeyMode::READ | raw::KeyMode::WRITE
        } else {
            raw::KeyMode::READ
        };
        // SAFETY: live context and key name; the key is closed by Key's Drop.
        let key = unsafe { api!(RedisModule_OpenKey)(self.raw, name, mode.bits() as c_int) };
        Key {
            raw: key,
            _ctx: PhantomData,
            close: true,
        }
    }
}
