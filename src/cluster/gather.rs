//! A coordinator's side of one fanned-out query: the client blocked until every shard has
//! answered, one has failed, or the deadline has passed. FT.SEARCH / FT.INFO and FT.AGGREGATE /
//! FT.HYBRID each keep a [`Table`] of their queries in flight; what differs between them (the
//! request, the answer, how answers become a reply) stays in their files.
//!
//! # Concurrency rules
//!
//! A table's mutex is a leaf: nothing else is locked while it is held, and no Redis API that
//! could call back into this module is called under it. It is taken on the main thread (the
//! command, a shard answer arriving over the bus, the deadline timer) and on a search thread
//! that holds the server lock (this node's own part after a threaded search). The first of
//! "every shard answered", "a shard failed" and "the deadline passed" removes the query's
//! entry and so owns the client: it unblocks it after letting the lock go. The others then
//! find no entry and drop what they carry, which is how a late answer is ignored.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use super::wire::Message;
use super::{node_name, send, NodeId};
use crate::redis::{api, Blocked, Ctx, RedisModuleCtx, Reply};

/// One kind of fanned-out query.
pub trait Gathered: Sized + 'static {
    /// A shard's part of the answer.
    type Answer: Send + 'static;
    /// The blocked client's reply, which carries the outcome once the query ends.
    type Reply: Reply;
    /// Names the query in the log if its deadline callback panics.
    const WHAT: &'static str;
    /// The table of this kind's queries in flight.
    fn table() -> &'static Table<Self>;
    /// Puts the outcome in the reply: every shard's answer (in node-id order), or an error.
    fn set(reply: &mut Self::Reply, outcome: Result<Vec<Self::Answer>, String>);
}

struct Pending<G: Gathered> {
    blocked: Blocked<G::Reply>,
    timeout_ms: u64,
    /// The deadline's timer, stopped when the query ends before it.
    timer: u64,
    /// Shards not heard from yet, with their addresses (for error texts).
    waiting: BTreeMap<NodeId, String>,
    answers: BTreeMap<NodeId, G::Answer>,
}

pub struct Table<G: Gathered> {
    pending: Mutex<BTreeMap<u64, Pending<G>>>,
    next_id: AtomicU64,
}

impl<G: Gathered> Default for Table<G> {
    fn default() -> Self {
        Self::new()
    }
}

/// The error a shard's failure gives the client: its address and node id, then what it said.
pub fn shard_error(addr: &str, id: &NodeId, e: &str) -> String {
    format!("ERR shard {addr} ({}): {e}", node_name(id))
}

impl<G: Gathered> Table<G> {
    pub const fn new() -> Self {
        Table {
            pending: Mutex::new(BTreeMap::new()),
            next_id: AtomicU64::new(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<u64, Pending<G>>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new query's id, for its request.
    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Blocks the client with `reply` (what it gets if the query never ends otherwise), starts
    /// the deadline and sends `message` to every shard in `targets` but this node, which the
    /// caller then runs its own part for (it answers through [`deliver`](Self::deliver)).
    /// Returns whether this node is one of the targets; `false` also when the query already
    /// failed (a shard not reachable).
    pub fn start(
        &'static self,
        ctx: &Ctx,
        id: u64,
        reply: G::Reply,
        targets: &BTreeMap<NodeId, String>,
        timeout_ms: u64,
        message: &Message,
    ) -> bool {
        let blocked = Blocked::block(ctx, reply);
        // SAFETY: a live command context; a 'static callback; the id travels in the pointer.
        let timer = unsafe {
            api!(RedisModule_CreateTimer)(
                ctx.raw_ctx(),
                timeout_ms as i64,
                Some(on_deadline::<G>),
                id as usize as *mut std::ffi::c_void,
            )
        };
        self.lock().insert(
            id,
            Pending {
                blocked,
                timeout_ms,
                timer,
                waiting: targets.clone(),
                answers: BTreeMap::new(),
            },
        );
        // The other shards first, so that they work while this one does.
        let me = super::my_id();
        for (node, addr) in targets.iter().filter(|(n, _)| Some(**n) != me) {
            if !send(ctx, Some(node), message) {
                self.end(
                    id,
                    Err(shard_error(addr, node, "not reachable on the cluster bus")),
                );
                return false;
            }
        }
        me.is_some_and(|me| targets.contains_key(&me))
    }

    /// Ends query `id` with `outcome`, if it is still running: the client is unblocked after
    /// the lock is let go.
    fn end(&self, id: u64, outcome: Result<Vec<G::Answer>, String>) {
        let Some(mut p) = self.lock().remove(&id) else {
            return;
        };
        G::set(p.blocked.pending(), outcome);
        drop(p);
    }

    /// A shard's answer arrived (over the bus, or from this node's own part).
    pub fn deliver(&self, ctx: &Ctx, id: u64, from: &NodeId, outcome: Result<G::Answer, String>) {
        let mut all = self.lock();
        let Some(p) = all.get_mut(&id) else {
            return; // Late (the query already ended) or never asked.
        };
        let Some(addr) = p.waiting.remove(from) else {
            return; // Not a shard this query asked, or an answer twice.
        };
        let done = match outcome {
            Err(e) => Some(Err(shard_error(&addr, from, &e))),
            Ok(answer) => {
                p.answers.insert(*from, answer);
                p.waiting
                    .is_empty()
                    .then(|| Ok(std::mem::take(&mut p.answers).into_values().collect()))
            }
        };
        if let Some(outcome) = done {
            let Some(mut p) = all.remove(&id) else { return };
            drop(all);
            // SAFETY: a live context of this module (main thread, or the server lock held); a
            // timer that already fired is simply not found.
            unsafe {
                api!(RedisModule_StopTimer)(ctx.raw_ctx(), p.timer, std::ptr::null_mut());
            }
            G::set(p.blocked.pending(), outcome);
        }
    }

    /// The deadline passed: the shards still waited for are named in the error.
    fn expire(&self, id: u64) {
        let Some(mut p) = self.lock().remove(&id) else {
            return;
        };
        let mut late: Vec<String> = p
            .waiting
            .iter()
            .map(|(id, addr)| format!("{addr} ({})", node_name(id)))
            .collect();
        late.sort();
        let error = format!(
            "ERR shard {} did not answer within {} ms",
            late.join(", shard "),
            p.timeout_ms
        );
        G::set(p.blocked.pending(), Err(error));
        drop(p);
    }
}

unsafe extern "C" fn on_deadline<G: Gathered>(
    _ctx: *mut RedisModuleCtx,
    data: *mut std::ffi::c_void,
) {
    crate::redis::guard(G::WHAT, (), || G::table().expire(data as usize as u64));
}
