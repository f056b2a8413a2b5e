//! ACL users, for the checks the server does not make on a module's behalf.

use std::ffi::c_int;
use std::ptr::{self, NonNull};

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
    pub fn restricted(ctx: &Ctx) -> AiResult<Option<AclUser>> {
        let cannot = || AiError::NoAclApi;
        if !api_has!(RedisModule_ACLCheckKeyPermissions) {
            return Err(cannot());
        }
        let name = current_user_name(ctx).ok_or_else(cannot)?;
        let user = AclUser::by_name(&name).ok_or_else(cannot)?;
        let getuser = OwnedString::new(b"GETUSER");
        let who = OwnedString::new(&name);
        let mut args = [getuser.as_ptr(), who.as_ptr()];
        // SAFETY: a live command context, on the main thread.
        let reply = unsafe { call(ctx.raw_ctx(), c"ACL", c"v", &mut args) };
        let reads_all = match reply {
            Some(Ok(Reply::Array(fields))) => fields
                .chunks_exact(2)
                .find(|kv| matches!(&kv[0], Reply::Str(k) if k == b"keys"))
                .is_some_and(|kv| key_patterns(&kv[1]).iter().any(|p| reads_every_key(p))),
            _ => false,
        };
        Ok((!reads_all).then_some(user))
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
