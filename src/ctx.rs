//! A thin, safe-to-call layer over the parts of the Redis module API the commands use:
//! replies, keys, arguments, replication, logging.
//!
//! The redis-module crate's higher-level `Context` copies arguments into owned strings and
//! builds replies from owned values; the tensor commands need neither (a BLOB reply points
//! straight at the stored tensor, a BLOB argument can be kept instead of copied), so this
//! layer calls the raw API directly. Everything here runs on the main thread, under the GIL.

use std::ffi::{c_char, c_int, c_long, CStr, CString};
use std::marker::PhantomData;
use std::ptr::{self, NonNull};
use std::sync::Arc;

use redis_module::raw;

use crate::tensor::args::Words;

/// Calls a function of the Redis module API. The table is filled by `RedisModule_Init`; a
/// missing entry means the server is older than the module supports, which is a bug at the
/// call site (it should have checked with [`api_has!`]).
macro_rules! api {
    ($name:ident) => {{
        // SAFETY: written once by RedisModule_Init, read-only afterwards.
        #[allow(unused_unsafe)]
        let f = unsafe { redis_module::raw::$name };
        f.expect(concat!(
            stringify!($name),
            " is not provided by this server"
        ))
    }};
}
pub(crate) use api;

/// Whether the server provides a function of the module API (for APIs newer than 7.0).
macro_rules! api_has {
    ($name:ident) => {{
        // SAFETY: as in `api!`.
        #[allow(unused_unsafe)]
        let f = unsafe { redis_module::raw::$name };
        f.is_some()
    }};
}
pub(crate) use api_has;

pub use redis_module::raw::{RedisModuleCtx, RedisModuleString};

/// Log levels of `RedisModule_Log`.
#[derive(Debug, Clone, Copy)]
pub enum Level {
    Warning,
    Notice,
}

impl Level {
    fn as_cstr(self) -> &'static CStr {
        match self {
            Level::Warning => c"warning",
            Level::Notice => c"notice",
        }
    }
}

fn to_cstring(s: &str) -> CString {
    // Texts come from our own format strings and client keys; a NUL cannot be represented
    // in a C string, so it is shown as a replacement character.
    CString::new(s.replace('\0', "\u{FFFD}")).unwrap_or_default()
}

/// Writes a line to the server log. `ctx` may be null (logs as the module from any thread).
pub fn log_raw(ctx: *mut RedisModuleCtx, level: Level, msg: &str) {
    let msg = to_cstring(msg);
    // SAFETY: "%s" with a valid NUL-terminated string.
    unsafe { api!(RedisModule_Log)(ctx, level.as_cstr().as_ptr(), c"%s".as_ptr(), msg.as_ptr()) };
}

/// Writes a line to the server log from anywhere, without a context.
pub fn log(level: Level, msg: &str) {
    log_raw(ptr::null_mut(), level, msg);
}

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

/// The command arguments, borrowed for the duration of the command.
pub struct Args<'a> {
    argv: &'a [*mut RedisModuleString],
}

impl<'a> Args<'a> {
    /// # Safety
    /// `argv` must be the argument vector Redis passed to the running command.
    pub unsafe fn new(argv: &'a [*mut RedisModuleString]) -> Self {
        Args { argv }
    }

    pub fn len(&self) -> usize {
        self.argv.len()
    }

    /// The bytes of argument `i` (panics if out of range: a bug, caught at the command edge).
    pub fn bytes(&self, i: usize) -> &'a [u8] {
        string_bytes(self.argv[i])
    }

    /// Arguments `from..`, as words for the parsers (nothing is copied).
    pub fn tail(&self, from: usize) -> ArgWords<'a> {
        ArgWords(&self.argv[from.min(self.argv.len())..])
    }

    pub fn raw(&self, i: usize) -> *mut RedisModuleString {
        self.argv[i]
    }

    pub fn all(&self) -> &'a [*mut RedisModuleString] {
        self.argv
    }
}

pub struct ArgWords<'a>(&'a [*mut RedisModuleString]);

impl<'a> Words<'a> for ArgWords<'a> {
    fn count(&self) -> usize {
        self.0.len()
    }
    fn word(&self, i: usize) -> &'a [u8] {
        string_bytes(self.0[i])
    }
}

/// The bytes of a Redis string, valid as long as the string is.
pub fn string_bytes<'a>(s: *const RedisModuleString) -> &'a [u8] {
    let mut len = 0usize;
    // SAFETY: `s` is a live RedisModuleString; the pointer stays valid while it lives.
    unsafe {
        let p = api!(RedisModule_StringPtrLen)(s, &mut len);
        if p.is_null() || len == 0 {
            return &[];
        }
        std::slice::from_raw_parts(p.cast::<u8>(), len)
    }
}

/// A Redis string this module owns a reference to (freed on drop).
pub struct OwnedString(NonNull<RedisModuleString>);

// SAFETY: created with a NULL context and not shared, so its reference count is touched only
// by whoever holds this handle; the statics that keep one are used under the GIL.
unsafe impl Send for OwnedString {}

impl OwnedString {
    pub fn new(bytes: &[u8]) -> OwnedString {
        // SAFETY: a NULL context creates a string the caller must free, which Drop does.
        let s = unsafe {
            api!(RedisModule_CreateString)(ptr::null_mut(), bytes.as_ptr().cast(), bytes.len())
        };
        OwnedString(NonNull::new(s).expect("RedisModule_CreateString returned NULL"))
    }

    pub fn as_ptr(&self) -> *mut RedisModuleString {
        self.0.as_ptr()
    }
}

impl Drop for OwnedString {
    fn drop(&mut self) {
        // SAFETY: created with a NULL context, so it is ours to free.
        unsafe { api!(RedisModule_FreeString)(ptr::null_mut(), self.0.as_ptr()) };
    }
}

/// A reference to a Redis string kept beyond the command that received it, used to store a
/// large BLOB argument without copying it.
///
/// The string is an argument object the server created for this command; once the command
/// returns, this is its only reference, so dropping it later on another thread (when the
/// last `Arc` of a tensor goes away on a worker) does not race with the main thread.
///
/// The bytes are looked up on every access rather than remembered: right after a command
/// returns, the server trims the unused tail of any argument a module kept
/// (`trimStringObjectIfNeeded`), which may move the bytes.
pub struct HeldString {
    s: NonNull<RedisModuleString>,
}

// SAFETY: the held string is immutable and referenced only through this handle (see above).
unsafe impl Send for HeldString {}
unsafe impl Sync for HeldString {}

impl HeldString {
    /// Takes a reference to argument `s` of the running command.
    pub fn hold(s: *mut RedisModuleString) -> HeldString {
        // SAFETY: `s` is a live argument; a NULL context makes the reference ours to free.
        let held = unsafe { api!(RedisModule_HoldString)(ptr::null_mut(), s) };
        HeldString {
            s: NonNull::new(held).expect("RedisModule_HoldString returned NULL"),
        }
    }
}

impl crate::tensor::ExternalBytes for HeldString {
    fn bytes(&self) -> &[u8] {
        string_bytes(self.s.as_ptr())
    }

    fn heap_size(&self) -> usize {
        if api_has!(RedisModule_MallocSizeString) {
            // SAFETY: live string; called from MEMORY USAGE on the main thread.
            unsafe { api!(RedisModule_MallocSizeString)(self.s.as_ptr()) }
        } else {
            string_bytes(self.s.as_ptr()).len()
        }
    }
}

impl Drop for HeldString {
    fn drop(&mut self) {
        // SAFETY: the reference taken by HoldString with a NULL context.
        unsafe { api!(RedisModule_FreeString)(ptr::null_mut(), self.s.as_ptr()) };
    }
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

    pub fn reply_array(&self, len: usize) {
        // SAFETY: live context.
        unsafe { api!(RedisModule_ReplyWithArray)(self.raw, len as c_long) };
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
        }
    }
}

/// How a command uses one of its keys (see [`Ctx::key_at`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyUse {
    Read,
    /// Overwritten without being read.
    Write,
    ReadWrite,
    Delete,
}

/// A Redis type whose values are stored as `Arc<Self>` (see `types`).
pub trait StoredType: Send + Sync + Sized + 'static {
    /// The type as registered with the server.
    fn redis_type() -> *mut raw::RedisModuleType;
}

/// An open key; closed when dropped.
pub struct Key<'c> {
    raw: *mut raw::RedisModuleKey,
    _ctx: PhantomData<&'c Ctx>,
}

impl Key<'_> {
    pub fn is_empty(&self) -> bool {
        // SAFETY: an open key (OpenKey returns NULL only for missing keys opened read-only,
        // which KeyType reports as empty).
        unsafe { api!(RedisModule_KeyType)(self.raw) == raw::REDISMODULE_KEYTYPE_EMPTY as c_int }
    }

    fn holds<T: StoredType>(&self) -> bool {
        // SAFETY: open key.
        unsafe {
            api!(RedisModule_KeyType)(self.raw) == raw::REDISMODULE_KEYTYPE_MODULE as c_int
                && api!(RedisModule_ModuleTypeGetType)(self.raw) == T::redis_type()
        }
    }

    /// The value, if the key holds a `T`; `None` if the key is empty; WRONGTYPE otherwise.
    pub fn get<T: StoredType>(&self) -> crate::error::AiResult<Option<&T>> {
        if self.is_empty() {
            return Ok(None);
        }
        if !self.holds::<T>() {
            return Err(crate::error::AiError::WrongType);
        }
        // SAFETY: values of T's Redis type are always `Arc<T>::into_raw` pointers.
        Ok(Some(unsafe {
            &*(api!(RedisModule_ModuleTypeGetValue)(self.raw) as *const T)
        }))
    }

    /// Like [`Key::get`], sharing ownership of the value.
    pub fn get_arc<T: StoredType>(&self) -> crate::error::AiResult<Option<Arc<T>>> {
        Ok(self.get::<T>()?.map(|v| {
            let p: *const T = v;
            // SAFETY: `p` came from Arc::into_raw and the key still holds its reference.
            unsafe {
                Arc::increment_strong_count(p);
                Arc::from_raw(p)
            }
        }))
    }

    /// Deletes the key (it must be open for writing).
    pub fn delete(&self) {
        // SAFETY: open writable key.
        unsafe { api!(RedisModule_DeleteKey)(self.raw) };
    }

    /// Fails with WRONGTYPE unless the key is empty or holds a `T`.
    pub fn check_type<T: StoredType>(&self) -> crate::error::AiResult<()> {
        self.get::<T>().map(|_| ())
    }

    /// Stores `value`, replacing (and freeing) what the key held. The key must be open for
    /// writing and empty or of type `T`.
    ///
    /// A value of the same type is swapped in place: no new key object and no dictionary
    /// delete and insert, which is most of the cost of overwriting a small tensor. Like
    /// `SET`, and like the full replacement, an overwrite clears the key's TTL.
    pub fn set<T: StoredType>(&self, value: Arc<T>) {
        if self.holds::<T>() {
            let p = Arc::into_raw(value) as *mut std::ffi::c_void;
            let mut old: *mut std::ffi::c_void = ptr::null_mut();
            // SAFETY: open writable key holding a T; on success the old value is handed back
            // to us and the new one is owned by the key.
            let status = unsafe {
                api!(RedisModule_ModuleTypeReplaceValue)(self.raw, T::redis_type(), p, &mut old)
            };
            if status == raw::REDISMODULE_OK as c_int {
                if !old.is_null() {
                    // SAFETY: values of T's type are Arc<T>::into_raw pointers.
                    drop(unsafe { Arc::from_raw(old as *const T) });
                }
                // SAFETY: open writable key.
                unsafe {
                    if api!(RedisModule_GetExpire)(self.raw) != raw::REDISMODULE_NO_EXPIRE as i64 {
                        api!(RedisModule_SetExpire)(self.raw, raw::REDISMODULE_NO_EXPIRE as i64);
                    }
                }
                return;
            }
            // SAFETY: the key did not take the value.
            let value = unsafe { Arc::from_raw(p as *const T) };
            return self.set_new(value);
        }
        self.set_new(value);
    }

    fn set_new<T: StoredType>(&self, value: Arc<T>) {
        let p = Arc::into_raw(value) as *mut std::ffi::c_void;
        // SAFETY: open writable key; ownership of `p` moves to Redis, returned to us in the
        // type's free callback.
        let status = unsafe { api!(RedisModule_ModuleTypeSetValue)(self.raw, T::redis_type(), p) };
        if status != raw::REDISMODULE_OK as c_int {
            // SAFETY: Redis did not take the value, so it is still ours.
            drop(unsafe { Arc::from_raw(p as *const T) });
            panic!("RedisModule_ModuleTypeSetValue refused a value for an open writable key");
        }
    }
}

impl Drop for Key<'_> {
    fn drop(&mut self) {
        if !self.raw.is_null() {
            // SAFETY: opened by OpenKey and not closed yet.
            unsafe { api!(RedisModule_CloseKey)(self.raw) };
        }
    }
}

/// An ACL user, for the checks the server does not make itself (keys a module reads on a
/// user's behalf). Freed when dropped.
pub struct AclUser(NonNull<raw::RedisModuleUser>);

// SAFETY: only used under the server lock (main thread, or a thread holding the GIL).
unsafe impl Send for AclUser {}

impl AclUser {
    /// The user called `name`, if it exists and the server has the user APIs (7.0.6+).
    pub fn by_name(name: &[u8]) -> Option<AclUser> {
        if !api_has!(RedisModule_GetModuleUserFromUserName) || !api_has!(RedisModule_FreeModuleUser)
        {
            return None;
        }
        let s = OwnedString::new(name);
        // SAFETY: a live string; the user is freed in Drop.
        NonNull::new(unsafe { api!(RedisModule_GetModuleUserFromUserName)(s.as_ptr()) })
            .map(AclUser)
    }

    /// The user of the client running the command of `ctx`.
    pub fn of(ctx: &Ctx) -> Option<AclUser> {
        if !api_has!(RedisModule_GetCurrentUserName) {
            return None;
        }
        // SAFETY: live command context; the name is freed right after.
        let name = unsafe { api!(RedisModule_GetCurrentUserName)(ctx.raw) };
        if name.is_null() {
            return None;
        }
        let user = AclUser::by_name(string_bytes(name));
        // SAFETY: returned to us by GetCurrentUserName.
        unsafe { api!(RedisModule_FreeString)(ptr::null_mut(), name) };
        user
    }

    /// The current user when its key patterns may hide some keys. Three random 24-byte key
    /// names are probed: a user who may read all of them has `allkeys` or a pattern as broad
    /// as `~*`, and needs no per-key check.
    pub fn restricted(ctx: &Ctx) -> Option<AclUser> {
        let user = AclUser::of(ctx)?;
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
            ^ (ctx as *const Ctx as u64);
        let mut x = seed | 1;
        let all = (0..3).all(|_| {
            let probe: Vec<u8> = (0..24)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    (x >> 24) as u8
                })
                .collect();
            user.may_read(&probe)
        });
        (!all).then_some(user)
    }

    pub fn as_ptr(&self) -> *mut raw::RedisModuleUser {
        self.0.as_ptr()
    }

    /// Whether the user's key patterns let it read `key`.
    pub fn may_read(&self, key: &[u8]) -> bool {
        if !api_has!(RedisModule_ACLCheckKeyPermissions) {
            return true;
        }
        let k = OwnedString::new(key);
        // SAFETY: live user and string.
        unsafe {
            api!(RedisModule_ACLCheckKeyPermissions)(
                self.0.as_ptr(),
                k.as_ptr(),
                raw::REDISMODULE_CMD_KEY_ACCESS as c_int,
            ) == raw::REDISMODULE_OK as c_int
        }
    }
}

impl Drop for AclUser {
    fn drop(&mut self) {
        // SAFETY: made by GetModuleUserFromUserName, freed once.
        unsafe { api!(RedisModule_FreeModuleUser)(self.0.as_ptr()) };
    }
}
