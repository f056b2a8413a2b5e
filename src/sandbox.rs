//! The script sandbox: the server as a running script sees it (`redis.execute`,
//! `redisAI.model_execute`, spec §9), confined to the calling client's rights.
//!
//! # What a script may do, and how that is enforced
//!
//! Upstream RedisAI ran a script's Redis calls as a superuser on any key. Here a call runs
//! as the client that ran the script: `RedisModule_SetContextUser` + the `C` flag of
//! `RedisModule_Call` apply that user's ACL to the command and its keys; the keys a command
//! touches (`RedisModule_GetCommandKeys`) must be among the KEYS the caller declared (which
//! Redis already checked against the user's key patterns, and which the cluster routes by);
//! `M` refuses deny-oom commands over `maxmemory`, `S` refuses what scripts may not run, and
//! `W` refuses writes from a read-only command (AI.DAGRUN_RO). A stored model run from a
//! script must be declared in KEYS too, and readable by the user.
//!
//! # Concurrency
//!
//! Calls come from worker threads. Each takes the server lock (`ThreadSafeContextLock`) on
//! one detached thread-safe context made at load, sets its database and user, calls, copies
//! the reply and resets the user before unlocking, so the shared context never carries one
//! call's state into another: only the lock holder touches it. A model run from a script
//! runs on the script's worker thread, outside the lock.

use std::ffi::{c_int, c_void, CString};
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::Arc;

use redis_module::raw;
use redisai_backend_api::Reply;

use crate::backend::{RunFailure, ScriptServices};
use crate::error::AiError;
use crate::model::Model;
use crate::redis::{api, api_has, call, AclUser, Ctx, OwnedString, RedisModuleCtx};
use crate::tensor::Tensor;

/// The one detached context script calls go through (see the essay at the top).
static CALL_CTX: AtomicPtr<RedisModuleCtx> = AtomicPtr::new(std::ptr::null_mut());

/// Makes the context script calls use; called once at load.
pub fn init(ctx: *mut RedisModuleCtx) {
    // SAFETY: OnLoad context; the detached context lives as long as the process.
    let detached = unsafe { api!(RedisModule_GetDetachedThreadSafeContext)(ctx) };
    CALL_CTX.store(detached, Ordering::Release);
}

/// Who ran the script and what it may touch.
struct ScriptEnv {
    db: c_int,
    user: Vec<u8>,
    keys: Vec<Vec<u8>>,
    read_only: bool,
}

/// The environment of a script run by the client of `ctx`, limited to `keys`.
pub fn env(
    ctx: &Ctx,
    keys: Vec<Vec<u8>>,
    read_only: bool,
) -> Arc<dyn ScriptServices + Send + Sync> {
    let user = crate::redis::current_user_name(ctx).unwrap_or_default();
    // SAFETY: live command context.
    let db = unsafe { api!(RedisModule_GetSelectedDb)(ctx.raw_ctx()) };
    Arc::new(ScriptEnv {
        db,
        user,
        keys,
        read_only,
    })
}

/// The environment of a script run on behalf of `user` in database `db` with no client (a
/// stream pipeline's DAG), limited to `keys`.
pub fn env_as(
    user: Vec<u8>,
    db: c_int,
    keys: Vec<Vec<u8>>,
) -> Arc<dyn ScriptServices + Send + Sync> {
    Arc::new(ScriptEnv {
        db,
        user,
        keys,
        read_only: false,
    })
}

/// The server lock, held on the shared call context; released when dropped.
struct Locked {
    ctx: *mut RedisModuleCtx,
    user: Option<AclUser>,
}

impl Locked {
    /// Takes the server lock and sets the database and user of `env` on the call context.
    fn take(env: &ScriptEnv) -> Result<Locked, String> {
        let ctx = CALL_CTX.load(Ordering::Acquire);
        if ctx.is_null() {
            return Err("ERR script calls are not available".into());
        }
        if !api_has!(RedisModule_SetContextUser)
            || !api_has!(RedisModule_GetModuleUserFromUserName)
            || !api_has!(RedisModule_GetCommandKeys)
        {
            return Err("ERR calls from scripts need Redis 7.0.6 or later".into());
        }
        // SAFETY: the detached context made at load; the lock is released in Drop.
        unsafe { api!(RedisModule_ThreadSafeContextLock)(ctx) };
        let mut locked = Locked { ctx, user: None };
        // SAFETY: under the server lock.
        if unsafe { api!(RedisModule_SelectDb)(ctx, env.db) } != raw::REDISMODULE_OK as c_int {
            return Err("ERR the script's database no longer exists".into());
        }
        let user = AclUser::by_name(&env.user).ok_or_else(|| {
            format!(
                "NOPERM the user '{}' that ran the script no longer exists",
                String::from_utf8_lossy(&env.user)
            )
        })?;
        // SAFETY: under the server lock; the user outlives its use (reset in Drop first).
        unsafe { api!(RedisModule_SetContextUser)(ctx, user.as_ptr()) };
        locked.user = Some(user);
        Ok(locked)
    }
}

impl Drop for Locked {
    fn drop(&mut self) {
        // SAFETY: still under the server lock taken in `take`.
        unsafe {
            if let Some(user) = self.user.take() {
                // Reset before the user is freed: the context must never point at a freed one.
                api!(RedisModule_SetContextUser)(self.ctx, std::ptr::null());
                drop(user);
            }
            api!(RedisModule_ThreadSafeContextUnlock)(self.ctx);
        }
    }
}

/// Why `RedisModule_Call` refused a command, from its errno.
fn refusal(command: &[u8]) -> String {
    let cmd = String::from_utf8_lossy(command);
    match std::io::Error::last_os_error().raw_os_error() {
        Some(libc::ENOENT) => format!("ERR unknown command '{cmd}'"),
        Some(libc::EINVAL) => format!("ERR wrong number of arguments for '{cmd}' command"),
        Some(libc::EACCES) => format!(
            "NOPERM this user has no permissions to run the '{cmd}' command or to access one of its keys"
        ),
        Some(libc::ENOSPC) => "OOM command not allowed when used memory > 'maxmemory'.".into(),
        Some(libc::ENOTSUP) => {
            format!("ERR write command '{cmd}' not allowed from a read-only script call")
        }
        Some(libc::EPERM) => format!("ERR '{cmd}' is not allowed from scripts"),
        Some(libc::EROFS) => "READONLY You can't write against a read only replica.".into(),
        _ => format!("ERR the server refused to run '{cmd}' from a script"),
    }
}

impl ScriptEnv {
    fn declared(&self, key: &[u8]) -> Result<(), String> {
        if self.keys.iter().any(|k| k == key) {
            Ok(())
        } else {
            Err(format!(
                "ERR script tried to access key '{}' that was not declared in KEYS",
                String::from_utf8_lossy(key)
            ))
        }
    }
}

impl ScriptServices for ScriptEnv {
    fn redis_call(&self, argv: &[&[u8]]) -> Result<Reply, String> {
        let (command, _) = argv
            .split_first()
            .ok_or("ERR redis.execute needs a command")?;
        let cname = CString::new(*command).map_err(|_| "ERR command name contains NUL")?;
        let locked = Locked::take(self)?;
        let strings: Vec<OwnedString> = argv.iter().map(|a| OwnedString::new(a)).collect();
        let mut raw_argv: Vec<*mut raw::RedisModuleString> =
            strings.iter().map(|s| s.as_ptr()).collect();
        // SAFETY: under the server lock; the positions array is freed below.
        unsafe {
            let mut n: c_int = 0;
            let positions = api!(RedisModule_GetCommandKeys)(
                locked.ctx,
                raw_argv.as_mut_ptr(),
                raw_argv.len() as c_int,
                &mut n,
            );
            if !positions.is_null() {
                let pos = std::slice::from_raw_parts(positions, n.max(0) as usize);
                let undeclared = pos
                    .iter()
                    .map(|&p| argv.get(p as usize).copied().unwrap_or_default())
                    .find(|k| self.declared(k).is_err());
                api!(RedisModule_Free)(positions as *mut c_void);
                if let Some(k) = undeclared {
                    return Err(self.declared(k).unwrap_err());
                }
            }
        }
        let flags = if self.read_only { c"!CMSWv" } else { c"!CMSv" };
        // SAFETY: under the server lock.
        let out = unsafe { call(locked.ctx, &cname, flags, &mut raw_argv[1..]) }
            .unwrap_or_else(|| Err(refusal(command)));
        drop(strings);
        drop(locked);
        out
    }

    fn model_execute(
        &self,
        worker: usize,
        key: &[u8],
        inputs: &[&Tensor],
    ) -> Result<Vec<Tensor>, String> {
        self.declared(key)?;
        let model: Arc<Model> = {
            let locked = Locked::take(self)?;
            let name = OwnedString::new(key);
            if !locked.user.as_ref().is_some_and(|u| u.may_read(key)) {
                return Err(format!(
                    "NOPERM this user has no permissions to access the '{}' key",
                    String::from_utf8_lossy(key)
                ));
            }
            // SAFETY: the call context is a live context while the lock is held.
            let c = unsafe { Ctx::from_raw(locked.ctx) };
            let got = c.open_key(name.as_ptr(), false).get_arc::<Model>();
            got.map_err(|e| e.to_string())?
                .ok_or_else(|| AiError::ModelKeyEmpty.to_string())?
        };
        if inputs.len() != model.inputs().len() {
            return Err(AiError::InputsMismatch.to_string());
        }
        match crate::exec::run_now(model.as_ref(), worker, inputs) {
            Ok(outs) => Ok(outs.into_iter().flatten().collect()),
            Err(RunFailure::Error(e)) => Err(e),
            Err(RunFailure::TimedOut) => Err("ERR the model run timed out".into()),
        }
    }
}
