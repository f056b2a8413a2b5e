//! ACL users, for the checks the server does not make on a module's behalf.

use std::ffi::c_int;
use std::ptr::{self, NonNull};

use redis_module::raw;

use super::{string_bytes, Ctx, OwnedString};

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
        let name = unsafe { api!(RedisModule_GetCurrentUserName)(ctx.raw_ctx()) };
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
