//! ACL users, for the checks the server does not make on a module's behalf.

use std::ffi::c_int;
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use redis_module::raw;

use redisai_backend_api::Reply;

use super::{call, string_bytes, Ctx, OwnedString};
use crate::error::{AiError, AiResult};

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

    /// The current user when its key patterns may hide some keys from it, `None` when it
    /// may read every key. Decided from the user's ACL (`ACL GETUSER`): a root key pattern
    /// that reads everything (`~*`, `%R~*`, `allkeys`) means no per-key check is needed;
    /// anything else (including selectors, checked per key by the server) means a check per
    /// key. A server that cannot tell us the user or check its keys fails closed.
    ///
    /// ACL GETUSER costs ~200 µs (it describes every command rule), more than a search, so
    /// the answer is kept per user name until an ACL can have changed (see [`watch_changes`]).
    pub fn restricted(ctx: &Ctx) -> AiResult<Option<AclUser>> {
        let cannot = || AiError::NoAclApi;
        if !api_has!(RedisModule_ACLCheckKeyPermissions) {
            return Err(cannot());
        }
        let name = current_user_name(ctx).ok_or_else(cannot)?;
        Self::restricted_named(ctx, &name)
    }

    /// [`restricted`](Self::restricted) for the user called `name` (a cluster shard searching
    /// for another node's client). A user this server does not know fails closed.
    pub fn restricted_named(ctx: &Ctx, name: &[u8]) -> AiResult<Option<AclUser>> {
        let cannot = || AiError::NoAclApi;
        if !api_has!(RedisModule_ACLCheckKeyPermissions) {
            return Err(cannot());
        }
        let name = name.to_vec();
        let reads_all = match cached(&name) {
            Some(known) => known,
            None => {
                let known = ask_reads_all(ctx, &name);
                remember(name.clone(), known);
                known
            }
        };
        if reads_all {
            return Ok(None);
        }
        AclUser::by_name(&name).ok_or_else(cannot).map(Some)
    }

    pub fn as_ptr(&self) -> *mut raw::RedisModuleUser {
        self.0.as_ptr()
    }

    /// Whether the user's key patterns let it read `key` (never, on a server that cannot
    /// check).
    pub fn may_read(&self, key: &[u8]) -> bool {
        if !api_has!(RedisModule_ACLCheckKeyPermissions) {
            return false;
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

/// Asks the server whether user `name`'s root key patterns read every key.
fn ask_reads_all(ctx: &Ctx, name: &[u8]) -> bool {
    let getuser = OwnedString::new(b"GETUSER");
    let who = OwnedString::new(name);
    let mut args = [getuser.as_ptr(), who.as_ptr()];
    // SAFETY: a live command context, on the main thread.
    let reply = unsafe { call(ctx.raw_ctx(), c"ACL", c"v", &mut args) };
    match reply {
        Some(Ok(Reply::Array(fields))) => fields
            .chunks_exact(2)
            .find(|kv| matches!(&kv[0], Reply::Str(k) if k == b"keys"))
            .is_some_and(|kv| key_patterns(&kv[1]).iter().any(|p| reads_every_key(p))),
        _ => false,
    }
}

// What ACL GETUSER said, per user name, while no ACL can have changed.
//
// ACLs change only through the ACL command (SETUSER, DELUSER, LOAD, ...), which the command
// filter below sees for every client, inside MULTI (when queued), and from other modules'
// RedisModule_Call. It bumps the epoch for ACL and for EXEC (a transaction may carry an ACL
// command queued before an answer was remembered), and every answer is forgotten when the
// epoch moves. Without the filter (registration refused) nothing is remembered: every search
// asks. Main thread and GIL holders only; the mutex is there because statics must be Sync.
static ACL_EPOCH: AtomicU64 = AtomicU64::new(0);
static FILTER_ON: AtomicBool = AtomicBool::new(false);
/// (epoch, [(user name, reads every key)]).
type Answers = (u64, Vec<(Vec<u8>, bool)>);
static ANSWERS: Mutex<Answers> = Mutex::new((0, Vec::new()));

/// Users remembered at most; more are asked each time (a server has few users).
const MAX_REMEMBERED: usize = 64;

fn cached(name: &[u8]) -> Option<bool> {
    if !FILTER_ON.load(Ordering::Relaxed) {
        return None;
    }
    let answers = ANSWERS.lock().unwrap_or_else(|p| p.into_inner());
    if answers.0 != ACL_EPOCH.load(Ordering::Acquire) {
        return None;
    }
    answers.1.iter().find(|(n, _)| n == name).map(|(_, a)| *a)
}

fn remember(name: Vec<u8>, reads_all: bool) {
    let mut answers = ANSWERS.lock().unwrap_or_else(|p| p.into_inner());
    let epoch = ACL_EPOCH.load(Ordering::Acquire);
    if answers.0 != epoch {
        *answers = (epoch, Vec::new());
    }
    if answers.1.len() < MAX_REMEMBERED {
        answers.1.push((name, reads_all));
    }
}

/// Registers the command filter that tells when an ACL may have changed; called at load.
pub fn watch_changes(ctx: *mut super::RedisModuleCtx) {
    if !api_has!(RedisModule_RegisterCommandFilter) || !api_has!(RedisModule_CommandFilterArgGet) {
        return;
    }
    // SAFETY: OnLoad context; the callback is a 'static function.
    let filter = unsafe {
        api!(RedisModule_RegisterCommandFilter)(
            ctx,
            Some(on_command),
            raw::REDISMODULE_CMDFILTER_NOSELF as c_int,
        )
    };
    FILTER_ON.store(!filter.is_null(), Ordering::Relaxed);
}

/// Sees every command before it runs: ACL and EXEC move the epoch.
unsafe extern "C" fn on_command(fctx: *mut raw::RedisModuleCommandFilterCtx) {
    // SAFETY: the filter context of the command being filtered; argument 0 is its name.
    let name = unsafe { api!(RedisModule_CommandFilterArgGet)(fctx, 0) };
    if name.is_null() {
        return;
    }
    let name = string_bytes(name);
    if name.eq_ignore_ascii_case(b"ACL") || name.eq_ignore_ascii_case(b"EXEC") {
        ACL_EPOCH.fetch_add(1, Ordering::Release);
    }
}

/// The name of the user of the client running the command of `ctx`.
pub fn current_user_name(ctx: &Ctx) -> Option<Vec<u8>> {
    if !api_has!(RedisModule_GetCurrentUserName) {
        return None;
    }
    // SAFETY: live command context; the name is freed right after it is copied.
    unsafe {
        let name = api!(RedisModule_GetCurrentUserName)(ctx.raw_ctx());
        if name.is_null() {
            return None;
        }
        let copy = string_bytes(name).to_vec();
        api!(RedisModule_FreeString)(ptr::null_mut(), name);
        Some(copy)
    }
}

/// The key patterns of `ACL GETUSER`'s `keys` field: one string of space-separated patterns
/// (Redis 7, Valkey) or an array of them (Redis 6).
fn key_patterns(value: &Reply) -> Vec<Vec<u8>> {
    match value {
        Reply::Str(s) => s
            .split(|&b| b == b' ')
            .filter(|p| !p.is_empty())
            .map(<[u8]>::to_vec)
            .collect(),
        Reply::Array(items) => items.iter().flat_map(key_patterns).collect(),
        _ => Vec::new(),
    }
}

/// Whether one key pattern lets its user read every key.
fn reads_every_key(pattern: &[u8]) -> bool {
    match pattern {
        b"allkeys" | b"~*" => true,
        _ => pattern.strip_suffix(b"~*").is_some_and(|perm| {
            perm.first() == Some(&b'%') && perm[1..].iter().any(|c| c.eq_ignore_ascii_case(&b'R'))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_patterns_that_read_everything_count() {
        for p in ["~*", "allkeys", "%R~*", "%RW~*", "%WR~*"] {
            assert!(reads_every_key(p.as_bytes()), "{p}");
        }
        for p in ["%W~*", "~doc:*", "~[^d]*", "~?*", "resetkeys", "%R~a*", "*"] {
            assert!(!reads_every_key(p.as_bytes()), "{p}");
        }
        let redis7 = Reply::Str(b"%R~* ~app:*".to_vec());
        assert_eq!(
            key_patterns(&redis7),
            vec![b"%R~*".to_vec(), b"~app:*".to_vec()]
        );
        let redis6 = Reply::Array(vec![Reply::Str(b"*".to_vec())]);
        assert_eq!(key_patterns(&redis6), vec![b"*".to_vec()]);
    }
}
