//! Search on Redis Cluster: index definitions on every master ([`catalog`]), the cluster bus's
//! module messages as a transport ([`wire`], [`send`], [`receive`]), and how shard answers are
//! merged ([`merge`]). FT.SEARCH and FT.INFO's fan-out is FT.* glue, in
//! `commands/search_cluster.rs`; FT.AGGREGATE and FT.HYBRID's in `commands/aggregate_cluster.rs`. Nothing here runs on a server without `cluster-enabled yes`.
//!
//! # Why the cluster bus
//!
//! `RedisModule_SendClusterMessage` rides the connections the nodes already keep to each
//! other: no port, no credentials, no connection pool of our own, on Redis 7.0+ and Valkey 8
//! alike, and its receiver runs on the main thread like a command. What it does not give:
//! delivery guarantees (a message to a node whose link is down is refused at once, one in
//! flight when a link drops is lost) and replies. Both are handled here: every search carries
//! an id and a deadline, an answer is matched to the question by id and sender, and a shard
//! that has not answered by the deadline fails the query by name. Catalog changes are sent
//! once and then reconciled every second ([`catalog`]), so a lost message delays a definition
//! rather than losing it. A message has no size limit but a u32 length; large replies (many
//! RETURNed vector fields) travel in one piece on the link the node's pings also use.
//!
//! # Concurrency rules
//!
//! Two kinds of mutex live here, both leaves (nothing else is locked while they are held, and
//! no Redis API that could call back into this module is called under them):
//!
//! 1. Each [`gather::Table`] (FT.SEARCH / FT.INFO's in `commands/search_cluster.rs`,
//!    FT.AGGREGATE / FT.HYBRID's in `commands/aggregate_cluster.rs`) maps a query id to its
//!    blocked client and the shards it waits for; `gather.rs` has its rules: whichever of
//!    "every shard answered", "a shard failed" and "the deadline passed" comes first owns the
//!    client, and late answers find nothing.
//! 2. `catalog::STATE` holds the catalog generation. Main thread only (commands, bus
//!    messages, the digest timer); a mutex because statics must be `Sync`.
//!
//! The search registry's own lock (`search::REGISTRY`) and the index locks are taken as
//! `search/mod.rs` says; this module never holds its mutexes while taking them.
//!
//! A shard's search runs inline when it is cheap and on the search pool otherwise, like a
//! single-node FT.SEARCH. The pool thread then takes the server lock through a detached
//! thread-safe context made at load ([`detached_ctx`]) to read the documents and send the
//! answer, as the main thread would. Rejected: a blocked-client per shard request (there is
//! no client on a bus message), and reading documents on the thread without the lock.

pub mod catalog;
pub mod gather;
pub mod merge;
mod nodelay;
pub mod wire;

use std::ffi::{c_char, c_int, c_uchar};
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis_module::raw;

use redisai_backend_api::Reply as CallReply;

use crate::redis::{api, api_has, call, guard, log, Ctx, Level, OwnedString, RedisModuleCtx};
use crate::search::slots::SlotSet;
use wire::{kind, Message, WireError};

/// A cluster node's id: 40 hexadecimal characters.
pub type NodeId = [u8; 40];

/// Whether this server runs with `cluster-enabled yes`.
pub fn enabled(ctx: &Ctx) -> bool {
    ctx.flags() & raw::REDISMODULE_CTX_FLAGS_CLUSTER != 0
}

/// Whether this node is a master (replicas follow their master's replication stream).
pub fn is_master(ctx: &Ctx) -> bool {
    ctx.flags() & raw::REDISMODULE_CTX_FLAGS_MASTER != 0
}

pub fn node_name(id: &NodeId) -> String {
    String::from_utf8_lossy(id).into_owned()
}

/// The id as the APIs that `strlen` it want it.
fn terminated(id: &NodeId) -> [c_char; 41] {
    let mut out = [0 as c_char; 41];
    for (o, b) in out.iter_mut().zip(id) {
        *o = *b as c_char;
    }
    out
}

/// 40 bytes of a node id the server handed us (not NUL-terminated).
///
/// # Safety
/// `p` is null or points at 40 readable bytes.
unsafe fn read_id(p: *const c_char) -> Option<NodeId> {
    if p.is_null() {
        return None;
    }
    let mut id = [0u8; 40];
    // SAFETY: per this function's contract.
    id.copy_from_slice(unsafe { std::slice::from_raw_parts(p as *const u8, 40) });
    Some(id)
}

pub fn my_id() -> Option<NodeId> {
    if !api_has!(RedisModule_GetMyClusterID) {
        return None;
    }
    // SAFETY: the server's own id, 40 bytes, alive as long as the node.
    unsafe { read_id(api!(RedisModule_GetMyClusterID)()) }
}

/// This node's view of who serves which slots (`CLUSTER SLOTS`): (first, last, master id) per
/// range. `None` when the server could not answer.
pub fn slot_map(ctx: &Ctx) -> Option<Vec<(i64, i64, NodeId)>> {
    let slots = OwnedString::new(b"SLOTS");
    let mut argv = [slots.as_ptr()];
    // SAFETY: a live context on the main thread (or with the server lock held).
    let reply = unsafe { call(ctx.raw_ctx(), c"CLUSTER", c"v", &mut argv) };
    let Some(Ok(CallReply::Array(ranges))) = reply else {
        return None;
    };
    let mut out = Vec::with_capacity(ranges.len());
    for range in ranges {
        let CallReply::Array(r) = range else { continue };
        let (Some(CallReply::Int(start)), Some(CallReply::Int(stop)), Some(CallReply::Array(m))) =
            (r.first(), r.get(1), r.get(2))
        else {
            continue;
        };
        let Some(CallReply::Str(id)) = m.get(2) else {
            continue;
        };
        let Ok(id) = NodeId::try_from(id.as_slice()) else {
            continue;
        };
        out.push((*start, *stop, id));
    }
    Some(out)
}

/// The slots this node served when last asked ([`owned_slots`]); refreshed by the catalog's
/// timer and by every query that finds documents outside it.
static OWNED: Mutex<Option<Arc<SlotSet>>> = Mutex::new(None);

/// The slots this node serves now, in its own view (`CLUSTER SLOTS`, about 50 µs on a
/// 3-master cluster), remembered for [`owned_slots_hint`].
pub fn owned_slots(ctx: &Ctx) -> Option<Arc<SlotSet>> {
    let me = my_id()?;
    let map = slot_map(ctx)?;
    let set = Arc::new(SlotSet::from_ranges(
        map.into_iter()
            .filter(|(_, _, id)| *id == me)
            .map(|(a, b, _)| (a, b)),
    ));
    *OWNED.lock().unwrap_or_else(|p| p.into_inner()) = Some(set.clone());
    Some(set)
}

/// The slots this node served when last asked (at most a second ago, or when a query last
/// needed them), else [`owned_slots`]. Stale, it can only hold slots the node has lost since,
/// and a node that loses a slot holds no keys of it (`CLUSTER SETSLOT .. NODE` is refused
/// while it does; a slot taken by another master's newer claim has its keys deleted): so when
/// an index has no document outside the hint, it has none outside the slots served now.
pub fn owned_slots_hint(ctx: &Ctx) -> Option<Arc<SlotSet>> {
    let cached = OWNED.lock().unwrap_or_else(|p| p.into_inner()).clone();
    cached.or_else(|| owned_slots(ctx))
}

/// What the cluster says of a node.
pub struct NodeInfo {
    pub addr: String,
    pub failed: bool,
}

pub fn node_info(ctx: &Ctx, id: &NodeId) -> Option<NodeInfo> {
    let name = terminated(id);
    let mut ip = [0 as c_char; 64];
    let mut port: c_int = 0;
    let mut flags: c_int = 0;
    // SAFETY: a NUL-terminated id, an IP buffer larger than NET_IP_STR_LEN (46); no master
    // id is asked for.
    let ok = unsafe {
        api!(RedisModule_GetClusterNodeInfo)(
            ctx.raw_ctx(),
            name.as_ptr(),
            ip.as_mut_ptr(),
            std::ptr::null_mut(),
            &mut port,
            &mut flags,
        )
    } == raw::REDISMODULE_OK as c_int;
    if !ok {
        return None;
    }
    let ip: Vec<u8> = ip
        .iter()
        .take_while(|c| **c != 0)
        .map(|c| *c as u8)
        .collect();
    Some(NodeInfo {
        addr: format!("{}:{port}", String::from_utf8_lossy(&ip)),
        failed: flags as u32 & raw::REDISMODULE_NODE_FAIL != 0,
    })
}

/// Sends `msg` to `target`, or to every node the bus is connected to. `false` when the server
/// refused (no such node, or no link to it now).
pub fn send(ctx: &Ctx, target: Option<&NodeId>, msg: &Message) -> bool {
    let payload = msg.encode();
    let Ok(len) = u32::try_from(payload.len()) else {
        return false;
    };
    let name = target.map(terminated);
    // SAFETY: a live context of this module; the target id NUL-terminated or null; the
    // server copies the payload before returning.
    unsafe {
        api!(RedisModule_SendClusterMessage)(
            ctx.raw_ctx(),
            name.as_ref().map_or(std::ptr::null(), |n| n.as_ptr()),
            msg.kind(),
            payload.as_ptr() as *const c_char,
            len,
        ) == raw::REDISMODULE_OK as c_int
    }
}

static DETACHED: AtomicPtr<RedisModuleCtx> = AtomicPtr::new(std::ptr::null_mut());

/// A thread-safe context of this module, made at load and never freed, that search threads
/// lock to finish a shard's answer ([`with_server_lock`]).
fn detached_ctx() -> *mut RedisModuleCtx {
    DETACHED.load(Ordering::Acquire)
}

/// Runs `f` on a search thread with the server lock held, as the main thread would.
pub fn with_server_lock(f: impl FnOnce(&Ctx)) {
    let tsc = detached_ctx();
    if tsc.is_null() {
        return;
    }
    // SAFETY: a thread-safe context, locked and unlocked around its use on this thread.
    unsafe {
        api!(RedisModule_ThreadSafeContextLock)(tsc);
        let ctx = Ctx::from_raw(tsc);
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&ctx)));
        api!(RedisModule_ThreadSafeContextUnlock)(tsc);
    }
}

/// At load: on a cluster node, listens for this module's messages and starts the catalog's
/// digest timer. Elsewhere it does nothing.
pub fn init(ctx: *mut RedisModuleCtx) -> Result<(), String> {
    // SAFETY: the OnLoad context.
    let c = unsafe { Ctx::from_raw(ctx) };
    if !enabled(&c) {
        return Ok(());
    }
    if !api_has!(RedisModule_RegisterClusterMessageReceiver)
        || !api_has!(RedisModule_SendClusterMessage)
        || !api_has!(RedisModule_GetDetachedThreadSafeContext)
    {
        return Err("this server lacks the cluster message API redisai needs".into());
    }
    listen(
        ctx,
        &[
            kind::DDL,
            kind::DIGEST,
            kind::CATALOG_REQUEST,
            kind::CATALOG,
        ],
        on_message,
    );
    // SAFETY: OnLoad context; the thread-safe context lives as long as the process.
    let tsc = unsafe { api!(RedisModule_GetDetachedThreadSafeContext)(ctx) };
    DETACHED.store(tsc, Ordering::Release);
    catalog::start_timer(ctx);
    Ok(())
}

/// When a bad message was last logged: a node of another version may send one a second.
static LAST_BAD: Mutex<Option<Instant>> = Mutex::new(None);

fn log_bad(sender: &NodeId, e: &WireError) {
    let mut last = LAST_BAD.lock().unwrap_or_else(|p| p.into_inner());
    let now = Instant::now();
    if last.is_some_and(|t| now.duration_since(t) < Duration::from_secs(10)) {
        return;
    }
    *last = Some(now);
    log(
        Level::Warning,
        &format!(
            "cluster message from node {} refused: {e}",
            node_name(sender)
        ),
    );
}

type Receiver = unsafe extern "C" fn(*mut RedisModuleCtx, *const c_char, u8, *const c_uchar, u32);

/// Has `callback` receive this module's bus messages of types `kinds` (on a cluster node).
pub fn listen(ctx: *mut RedisModuleCtx, kinds: &[u8], callback: Receiver) {
    // SAFETY: a live context; a 'static callback.
    let c = unsafe { Ctx::from_raw(ctx) };
    if !enabled(&c) || !api_has!(RedisModule_RegisterClusterMessageReceiver) {
        return;
    }
    for k in kinds {
        // SAFETY: as above.
        unsafe { api!(RedisModule_RegisterClusterMessageReceiver)(ctx, *k, Some(callback)) };
    }
}

/// A receiver's body: checks and decodes the message, then hands it to `handle`. A message
/// that does not decode is logged (rate-limited), never handled; a search in another version
/// is answered with an error that says so.
///
/// # Safety
/// The arguments are those the server passed to a cluster message receiver.
pub unsafe fn receive(
    ctx: *mut RedisModuleCtx,
    sender_id: *const c_char,
    type_: u8,
    payload: *const c_uchar,
    len: u32,
    handle: impl FnOnce(&Ctx, &NodeId, Message),
) {
    guard("cluster message", (), || {
        // SAFETY: the server passes the sender's 40-byte id.
        let Some(sender) = (unsafe { read_id(sender_id) }) else {
            return;
        };
        let bytes: &[u8] = if payload.is_null() || len == 0 {
            &[]
        } else {
            // SAFETY: `len` bytes the server holds for the duration of this callback.
            unsafe { std::slice::from_raw_parts(payload, len as usize) }
        };
        // SAFETY: the receiver's live context.
        let ctx = unsafe { Ctx::from_raw(ctx) };
        match Message::decode(type_, bytes) {
            Ok(m) => handle(&ctx, &sender, m),
            Err(e) => {
                // Tell a coordinator of another version why its search cannot run here.
                if let WireError::Version { id: Some(id), .. } = &e {
                    let answer = match type_ {
                        kind::SEARCH => Some(Message::Result(wire::SearchResult {
                            id: *id,
                            outcome: Err(e.to_string()),
                        })),
                        kind::AGGREGATE => Some(Message::Rows(wire::AggResult {
                            id: *id,
                            outcome: Err(e.to_string()),
                        })),
                        _ => None,
                    };
                    if let Some(answer) = answer {
                        send(&ctx, Some(&sender), &answer);
                    }
                }
                log_bad(&sender, &e);
            }
        }
    });
}

unsafe extern "C" fn on_message(
    ctx: *mut RedisModuleCtx,
    sender_id: *const c_char,
    type_: u8,
    payload: *const c_uchar,
    len: u32,
) {
    // SAFETY: the server's arguments, passed on as they came.
    unsafe {
        receive(
            ctx,
            sender_id,
            type_,
            payload,
            len,
            |ctx, sender, m| match m {
                Message::Ddl { generation, words } => catalog::on_ddl(ctx, generation, &words),
                Message::Digest {
                    generation,
                    indexes,
                    digest,
                } => catalog::on_digest(ctx, sender, (generation, indexes, digest)),
                Message::CatalogRequest => catalog::on_request(ctx, sender),
                Message::Catalog(c) => catalog::on_catalog(ctx, c),
                _ => {}
            },
        )
    }
}
