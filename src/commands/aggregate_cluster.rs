//! FT.AGGREGATE and FT.HYBRID for the whole cluster, as FT.SEARCH's fan-out
//! (`search_cluster.rs`) does it: the coordinator (the node the client asked) parses the
//! command, blocks the client, asks every master that serves slots for its part, and once
//! all have answered merges the parts and runs the rest of the pipeline with the single-node
//! code (`search::aggregate::distribute` says which part runs where). A shard runs its part
//! as the client's ACL user. The masters must cover every slot, and a shard that fails or is
//! late fails the query by name, as for FT.SEARCH.
//!
//! WITHCURSOR keeps the merged rows in a cursor on the coordinator: FT.CURSOR READ and DEL
//! are answered by the node that made the cursor, as RediSearch's coordinator does.
//!
//! Lock rules: `PENDING` below is a leaf mutex, used exactly as `search_cluster.rs`'s (see
//! `cluster/mod.rs`): the first of "every shard answered", "a shard failed" and "the deadline
//! passed" removes the entry and so owns the blocked client.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use super::aggregate::{hybrid_reply, load_row, load_rows, reply_output};
use super::search::{find, readable_keys, INLINE_WORK};
use super::search_cluster::{keys_in_slots, shard_slots, shards};
use crate::cluster::catalog::def_digest;
use crate::cluster::gather::{Gathered, Table};
use crate::cluster::wire::{kind, AggMode, AggRequest, AggResult, Message};
use crate::cluster::{my_id, send, NodeId};
use crate::config;
use crate::error::{AiError, AiResult};
use crate::redis::{current_user_name, AclUser, Args, Ctx, RedisModuleCtx, Reply};
use crate::search::aggregate::distribute::{self, ShardPart};
use crate::search::aggregate::hybrid::{self, Hybrid};
use crate::search::aggregate::{self, Aggregate, Lookup, Row};
use crate::search::error::SearchError;
use crate::search::index::{Hit, Outcome};
use crate::search::{registry, Index};

/// The most bytes one shard's answer may take on the bus; a larger part fails the query
/// (with a LIMIT, a SORTBY … MAX or a GROUPBY the parts stay small).
const MAX_ANSWER_BYTES: usize = 256 << 20;

/// `FT.AGGREGATE index query [options and steps …]`: on a cluster node, over every shard;
/// elsewhere as a single server (`aggregate.rs`).
pub fn aggregate_command(ctx: &Ctx, args: &Args) -> AiResult<()> {
    if !crate::cluster::enabled(ctx) {
        return super::aggregate::aggregate(ctx, args);
    }
    let (index, words) = index_and_words(args)?;
    let agg = aggregate::parse(&index.def, &words)?;
    index.uses.fetch_add(1, Ordering::Relaxed);
    let timeout_ms = agg
        .timeout_ms
        .unwrap_or(config::SEARCH_TIMEOUT.get().max(1) as u64);
    let user = current_user_name(ctx);
    let want = Want::Aggregate {
        index: index.clone(),
        agg: Box::new(agg),
        user,
    };
    fan_out(ctx, &index, AggMode::Aggregate, &words, want, timeout_ms)
}

/// `FT.HYBRID index SEARCH … VSIM … […]`: on a cluster node, over every shard. Text scores
/// are each shard's own (its IDF), as with RediSearch's coordinator.
pub fn hybrid_command(ctx: &Ctx, args: &Args) -> AiResult<()> {
    if !crate::cluster::enabled(ctx) {
        return super::aggregate::hybrid(ctx, args);
    }
    let started = Instant::now();
    let (index, words) = index_and_words(args)?;
    let h = hybrid::parse(&index.def, &words)?;
    index.uses.fetch_add(1, Ordering::Relaxed);
    let timeout_ms = h
        .post
        .timeout_ms
        .unwrap_or(config::SEARCH_TIMEOUT.get().max(1) as u64);
    let want = Want::Hybrid {
        h: Box::new(h),
        started,
    };
    fan_out(ctx, &index, AggMode::Hybrid, &words, want, timeout_ms)
}

fn index_and_words<'a>(args: &'a Args) -> AiResult<(Arc<Index>, Vec<&'a [u8]>)> {
    if args.len() < 3 {
        return Err(AiError::WrongArity);
    }
    let name = args.bytes(1);
    let Some(index) = find(name) else {
        return Err(SearchError::NoSuchIndex(String::from_utf8_lossy(name).into_owned()).into());
    };
    Ok((index, (2..args.len()).map(|i| args.bytes(i)).collect()))
}

/// What the client waits for.
enum Want {
    Aggregate {
        index: Arc<Index>,
        agg: Box<Aggregate>,
        user: Option<Vec<u8>>,
    },
    Hybrid {
        h: Box<Hybrid>,
        started: Instant,
    },
}

/// The blocked client's reply, filled in when the query ends.
struct ClusterRows {
    want: Want,
    outcome: Result<Vec<ShardPart>, String>,
}

impl Reply for ClusterRows {
    const WHAT: &'static str = "FT.AGGREGATE on the cluster";
    fn reply(self, ctx: &Ctx) {
        let parts = match self.outcome {
            Ok(p) => p,
            Err(e) => return ctx.reply_error(&e),
        };
        match self.want {
            Want::Aggregate { index, agg, user } => {
                let out = distribute::coordinate(&agg, parts);
                reply_output(ctx, &index, &agg, user, out, false);
            }
            Want::Hybrid { h, started } => {
                let (rows, names) = distribute::coordinate_hybrid(&h, parts);
                if let Err(e) = hybrid_reply(ctx, &h, rows, names, started) {
                    ctx.reply_error(&e.to_string());
                }
            }
        }
    }
}

/// FT.AGGREGATE and FT.HYBRID's queries in flight (see `cluster::gather`).
struct Aggregations;

static AGGREGATIONS: Table<Aggregations> = Table::new();

impl Gathered for Aggregations {
    type Answer = ShardPart;
    type Reply = ClusterRows;
    const WHAT: &'static str = "cluster aggregate deadline";
    fn table() -> &'static Table<Self> {
        &AGGREGATIONS
    }
    fn set(reply: &mut ClusterRows, outcome: Result<Vec<ShardPart>, String>) {
        reply.outcome = outcome;
    }
}

fn fan_out(
    ctx: &Ctx,
    index: &Index,
    mode: AggMode,
    words: &[&[u8]],
    want: Want,
    timeout_ms: u64,
) -> AiResult<()> {
    if !ctx.may_block() {
        ctx.reply_error(
            "ERR FT.AGGREGATE on a cluster cannot run inside MULTI or a script: it waits for every shard",
        );
        return Ok(());
    }
    let targets = match shards(ctx) {
        Ok(t) => t,
        Err(e) => {
            ctx.reply_error(&e);
            return Ok(());
        }
    };
    let id = AGGREGATIONS.next_id();
    let request = AggRequest {
        id,
        mode,
        user: current_user_name(ctx).unwrap_or_default(),
        index: index.def.name.as_bytes().to_vec(),
        def_digest: def_digest(&index.def.name, &index.def.args),
        words: words.iter().map(|w| w.to_vec()).collect(),
    };
    let reply = ClusterRows {
        want,
        outcome: Err("ERR the aggregation did not run".into()),
    };
    let message = Message::Aggregate(request.clone());
    if AGGREGATIONS.start(ctx, id, reply, &targets, timeout_ms, &message) {
        run_shard(ctx, request, Sink::Local);
    }
    Ok(())
}

/// A shard's answer arrived (over the bus, or from this node's own part).
fn deliver(ctx: &Ctx, id: u64, from: &NodeId, outcome: Result<ShardPart, String>) {
    AGGREGATIONS.deliver(ctx, id, from, outcome);
}

/// At load, on a cluster node: this file answers the AGGREGATE and ROWS bus messages.
pub fn init(ctx: *mut RedisModuleCtx) {
    crate::cluster::listen(ctx, &[kind::AGGREGATE, kind::ROWS], on_message);
}

unsafe extern "C" fn on_message(
    ctx: *mut RedisModuleCtx,
    sender_id: *const std::ffi::c_char,
    type_: u8,
    payload: *const std::ffi::c_uchar,
    len: u32,
) {
    // SAFETY: the server's arguments to a cluster message receiver, passed on as they came.
    unsafe {
        crate::cluster::receive(
            ctx,
            sender_id,
            type_,
            payload,
            len,
            |ctx, sender, m| match m {
                Message::Aggregate(req) => run_shard(ctx, req, Sink::Remote(*sender)),
                Message::Rows(r) => deliver(ctx, r.id, sender, r.outcome),
                _ => {}
            },
        )
    }
}

// ---------------------------------------------------------------------------------------------
// The shard's side.

#[derive(Clone, Copy)]
enum Sink {
    Local,
    Remote(NodeId),
}

fn respond(ctx: &Ctx, sink: Sink, id: u64, outcome: Result<ShardPart, String>) {
    match sink {
        Sink::Local => {
            if let Some(me) = my_id() {
                deliver(ctx, id, &me, outcome);
            }
        }
        Sink::Remote(to) => {
            let mut message = Message::Rows(AggResult { id, outcome });
            if message.encode().len() > MAX_ANSWER_BYTES {
                message = Message::Rows(AggResult {
                    id,
                    outcome: Err(format!(
                        "its part of the aggregation is larger than {MAX_ANSWER_BYTES} bytes"
                    )),
                });
            }
            // One that cannot be sent leaves the coordinator to time out, naming us.
            send(ctx, Some(&to), &message);
        }
    }
}

/// What a shard runs: the parsed command, with its searches narrowed to the user's keys.
enum Job {
    Aggregate(Box<Aggregate>),
    Hybrid(Box<Hybrid>),
}

/// Runs a coordinator's request on this node's documents: only for an index this node has,
/// with the same definition.
fn run_shard(ctx: &Ctx, req: AggRequest, sink: Sink) {
    let id = req.id;
    let index = std::str::from_utf8(&req.index)
        .ok()
        .and_then(|n| registry().indexes.get(n).cloned());
    let Some(index) = index else {
        return respond(ctx, sink, id, Err("Unknown index name".into()));
    };
    if def_digest(&index.def.name, &index.def.args) != req.def_digest {
        return respond(
            ctx,
            sink,
            id,
            Err("the index has another definition on this shard".into()),
        );
    }
    let words: Vec<&[u8]> = req.words.iter().map(Vec::as_slice).collect();
    let job = match req.mode {
        AggMode::Aggregate => {
            aggregate::parse(&index.def, &words).map(|a| Job::Aggregate(Box::new(a)))
        }
        AggMode::Hybrid => hybrid::parse(&index.def, &words).map(|h| Job::Hybrid(Box::new(h))),
    };
    let mut job = match job {
        Ok(j) => j,
        Err(e) => return respond(ctx, sink, id, Err(e.to_string())),
    };
    // A shard answers whole or not at all (see FT.SEARCH's shard): the coordinator bounds
    // the wait instead.
    if let Job::Aggregate(a) = &mut job {
        a.request.deadline = None;
    }
    let user = match AclUser::restricted_named(ctx, &req.user) {
        Ok(u) => u,
        Err(e) => return respond(ctx, sink, id, Err(e.to_string())),
    };
    let Some(owned) = shard_slots(ctx, &index) else {
        return respond(ctx, sink, id, Err("could not read its own slots".into()));
    };
    let data = index.read();
    if data.docs_outside(&owned) > 0 {
        // Keys in flight during a reshard: only this node's slots, as FT.SEARCH's shard.
        let mine = keys_in_slots(&data, &owned, None);
        match &mut job {
            Job::Aggregate(a) => a.request.in_keys = Some(mine),
            Job::Hybrid(h) => {
                h.text.in_keys = Some(mine.clone());
                h.vector.in_keys = Some(mine);
            }
        }
    }
    if let Some(user) = user {
        match &mut job {
            Job::Aggregate(a) => {
                a.request.in_keys = Some(readable_keys(&data, &user, a.request.in_keys.as_ref()))
            }
            Job::Hybrid(h) => {
                let readable = readable_keys(&data, &user, h.text.in_keys.as_ref());
                h.text.in_keys = Some(readable.clone());
                h.vector.in_keys = Some(readable);
            }
        }
    }
    let work = match &job {
        Job::Aggregate(a) => data.estimated_work(&index.def, &a.request),
        Job::Hybrid(h) => data
            .estimated_work(&index.def, &h.text)
            .saturating_add(data.estimated_work(&index.def, &h.vector)),
    };
    let search = move |index: &Index, job: &Job| {
        let data = index.read();
        match job {
            Job::Aggregate(a) => data.search(&index.def, &a.request).map(|o| (o, None)),
            Job::Hybrid(h) => data.search(&index.def, &h.text).and_then(|t| {
                let v = data.search(&index.def, &h.vector)?;
                Ok((t, Some(v)))
            }),
        }
    };
    if work <= INLINE_WORK {
        drop(data);
        let outcome = search(&index, &job);
        return finish(ctx, &job, outcome, sink, id);
    }
    drop(data);
    let task = move || {
        let outcome = search(&index, &job);
        crate::cluster::with_server_lock(|ctx| finish(ctx, &job, outcome, sink, id));
    };
    if let Err(refused) = crate::search::pool::spawn(task) {
        refused.run_here();
    }
}

/// Reads the documents and sends the shard's part (main thread, or the server lock held).
fn finish(
    ctx: &Ctx,
    job: &Job,
    outcome: Result<(Outcome, Option<Outcome>), SearchError>,
    sink: Sink,
    id: u64,
) {
    let part = outcome.and_then(|(first, second)| match job {
        Job::Aggregate(a) => {
            let (rows, names) = load_rows(ctx, a, &first);
            distribute::shard(a, rows, names)
        }
        Job::Hybrid(h) => Ok(hybrid_part(ctx, h, first, second.unwrap_or_default())),
    });
    respond(ctx, sink, id, part.map_err(|e| e.to_string()));
}

/// A shard's FT.HYBRID part: its two ranked lists, and a row for each document in either.
fn hybrid_part(ctx: &Ctx, h: &Hybrid, text: Outcome, vector: Outcome) -> ShardPart {
    let text: Vec<(Vec<u8>, f64)> = text
        .hits
        .into_iter()
        .take(h.window)
        .map(|hit| (hit.key, hit.score))
        .collect();
    let vector: Vec<(Vec<u8>, f64)> = vector
        .hits
        .into_iter()
        .take(h.window)
        .map(|hit| {
            let d = hit
                .distances
                .iter()
                .find(|(n, _)| *n == h.distance_name)
                .map_or(hit.score, |(_, d)| *d);
            (hit.key, d)
        })
        .collect();
    let mut lookup = Lookup::from_names(&h.post.doc_names);
    let mut seen = HashSet::new();
    let mut rows: Vec<Row> = Vec::new();
    let mut keys = Vec::new();
    for key in text.iter().chain(vector.iter()).map(|(k, _)| k) {
        if !seen.insert(key.clone()) {
            continue;
        }
        let hit = Hit {
            key: key.clone(),
            distances: Vec::new(),
            score: 0.0,
            payload: None,
            terms: Vec::new(),
        };
        if let Some(row) = load_row(ctx, &h.post, &mut lookup, &hit) {
            rows.push(row);
            keys.push(key.clone());
        }
    }
    ShardPart {
        read: keys.len() as u64,
        names: lookup.names,
        rows,
        keys,
        text,
        vector,
    }
}
