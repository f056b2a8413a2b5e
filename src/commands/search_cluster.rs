//! FT.SEARCH and FT.INFO for the whole cluster: the coordinator (the node the client asked)
//! blocks the client, asks every master that serves slots for its part, merges the answers
//! and replies once; each shard runs the search on its own documents as a single server
//! would, as the client's ACL user, and sends back the page with the documents' fields.
//!
//! Which masters: those `CLUSTER SLOTS` names, and they must cover all 16384 slots, else the
//! query fails (a search over part of the slots would be a silently short answer). A shard
//! that cannot be reached, answers with an error, or has not answered by the deadline
//! (TIMEOUT, else `ai.search_timeout`) fails the query with an error that names it.
//! The lock rules are in `cluster/mod.rs`; the transport and the wire format live there too
//! (this file is the FT.* glue on top of them, as `search.rs` is on top of `search/`).

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::search::{
    find, info_reply, load_document, readable_keys, reply_shown, Shown, INLINE_WORK,
};
use crate::cluster::catalog::def_digest;
use crate::cluster::gather::{Gathered, Table};
use crate::cluster::merge::{merge, MergePlan};
use crate::cluster::wire::{
    kind, Message, Mode, SearchRequest, SearchResult, ShardHits, SortValue, WireHit,
};
use crate::cluster::{
    my_id, node_info, node_name, owned_slots, owned_slots_hint, send, slot_map, NodeId,
};
use crate::config;
use crate::error::{AiError, AiResult};
use crate::redis::{current_user_name, AclUser, Args, Ctx, OwnedString, RedisModuleCtx, Reply, R};
use crate::search::error::SearchError;
use crate::search::index::{IndexData, Outcome, Request};
use crate::search::query::Expr;
use crate::search::request::{self, Presentation};
use crate::search::schema::{FieldKind, IndexDef};
use crate::search::slots::{key_slot, prefix_slot, SlotSet};
use crate::search::{registry, Index};

/// What the client is waiting for.
enum Want {
    Search(Presentation),
    /// FT.INFO of this index, with the cluster's document count.
    Info(Arc<Index>),
}

/// The blocked client's reply, filled in when the query ends.
pub struct ClusterReply {
    want: Want,
    plan: MergePlan,
    outcome: Result<Vec<ShardHits>, String>,
}

impl Reply for ClusterReply {
    const WHAT: &'static str = "FT.SEARCH on the cluster";
    fn reply(self, ctx: &Ctx) {
        let (total, hits) = match self.outcome {
            Ok(answers) => merge(&self.plan, answers),
            Err(e) => return ctx.reply_error(&e),
        };
        match self.want {
            Want::Search(p) => {
                let shown = hits
                    .into_iter()
                    .map(|h| Shown {
                        key: h.key,
                        score: h.score,
                        payload: h.payload,
                        fields: h.fields,
                    })
                    .collect();
                reply_shown(ctx, &p, total as i64, shown);
            }
            Want::Info(index) => {
                let mut info = info_reply(&index, ctx.is_resp3());
                if let R::Map(entries) = &mut info {
                    for (name, value) in entries.iter_mut() {
                        if *name == "num_docs" || *name == "num_records" {
                            *value = R::Int(total as i64);
                        }
                    }
                }
                ctx.reply(&info);
            }
        }
    }
}

/// FT.SEARCH and FT.INFO's queries in flight (see `cluster::gather`).
struct Searches;

static SEARCHES: Table<Searches> = Table::new();

impl Gathered for Searches {
    type Answer = ShardHits;
    type Reply = ClusterReply;
    const WHAT: &'static str = "cluster search deadline";
    fn table() -> &'static Table<Self> {
        &SEARCHES
    }
    fn set(reply: &mut ClusterReply, outcome: Result<Vec<ShardHits>, String>) {
        reply.outcome = outcome;
    }
}

/// `FT.TAGVALS index field`: this node's values, refused where they would not be all of them.
pub fn tagvals_command(ctx: &Ctx, args: &Args) -> AiResult<()> {
    if args.len() == 3 {
        local_answer_is_whole(ctx, "FT.TAGVALS")?;
    }
    super::search::tagvals(ctx, args)
}

/// For the FT.* commands that answer from this node's index alone (FT.TAGVALS,
/// FT.SPELLCHECK, FT.PROFILE): an error unless that is the whole answer, which it is off a
/// cluster and on a cluster whose one master is this node. Elsewhere it would be a silently
/// partial answer; these commands have no fan-out yet.
pub(crate) fn local_answer_is_whole(ctx: &Ctx, command: &str) -> AiResult<()> {
    if !crate::cluster::enabled(ctx) {
        return Ok(());
    }
    let whole =
        shards(ctx).is_ok_and(|s| s.len() == 1 && my_id().is_some_and(|me| s.contains_key(&me)));
    if whole {
        return Ok(());
    }
    Err(SearchError::Aggregate(format!(
        "ERR {command} is not supported on a cluster of several masters yet: it would answer from this shard's documents only"
    ))
    .into())
}

/// The masters that serve slots, in id order, with their addresses; an error when the slots
/// they serve are not all 16384 or one of them is known to have failed.
pub(crate) fn shards(ctx: &Ctx) -> Result<BTreeMap<NodeId, String>, String> {
    let Some(map) = slot_map(ctx) else {
        return Err("ERR could not read CLUSTER SLOTS".into());
    };
    let mut covered = 0i64;
    let mut out = BTreeMap::new();
    for (start, stop, id) in map {
        covered += stop - start + 1;
        out.entry(id).or_insert_with(String::new);
    }
    if covered != 16384 {
        return Err(format!(
            "CLUSTERDOWN only {covered} of 16384 slots are served: a search now would miss documents"
        ));
    }
    for (id, addr) in out.iter_mut() {
        let info = node_info(ctx, id);
        *addr = info
            .as_ref()
            .map_or_else(|| node_name(id), |i| i.addr.clone());
        if info.is_some_and(|i| i.failed) {
            return Err(format!(
                "CLUSTERDOWN shard {addr} ({}) is failing: a search now would miss its documents",
                node_name(id)
            ));
        }
    }
    Ok(out)
}

/// Asks every shard; the client is blocked until they have all answered.
fn fan_out(ctx: &Ctx, want: Want, request: SearchRequest, plan: MergePlan, timeout_ms: u64) {
    let targets = match shards(ctx) {
        Ok(t) => t,
        Err(e) => return ctx.reply_error(&e),
    };
    let id = SEARCHES.next_id();
    let request = SearchRequest { id, ..request };
    let reply = ClusterReply {
        want,
        plan,
        outcome: Err("ERR the search did not run".into()),
    };
    let message = Message::Search(request.clone());
    if SEARCHES.start(ctx, id, reply, &targets, timeout_ms, &message) {
        run_shard(ctx, request, Sink::Local);
    }
}

/// `FT.SEARCH index query [options]`: on a cluster node, for the whole cluster; elsewhere as
/// a single server (`search.rs`).
pub fn search_command(ctx: &Ctx, args: &Args) -> AiResult<()> {
    if !crate::cluster::enabled(ctx) {
        return super::search::search(ctx, args);
    }
    if args.len() < 3 {
        return Err(AiError::WrongArity);
    }
    let name = args.bytes(1);
    let Some(index) = find(name) else {
        let name = String::from_utf8_lossy(name).into_owned();
        return Err(SearchError::NoSuchIndex(name).into());
    };
    if !ctx.may_block() && lives_here(ctx, &index.def) {
        // Inside MULTI, a script or a DAG's AI.FTSEARCH nothing can wait for the other shards,
        // and none is needed: every document of this index is in a slot this node serves.
        return super::search::search(ctx, args);
    }
    let words: Vec<&[u8]> = (2..args.len()).map(|i| args.bytes(i)).collect();
    let parsed = request::parse(&index.def, &words, ctx.is_resp3())?;
    index.uses.fetch_add(1, Ordering::Relaxed);
    search(ctx, index, &words, &parsed.request, parsed.presentation)
}

/// Whether every document the index can hold lives on this node: each of its prefixes
/// carries a hash tag (`{rag}chunk:`), and the tags' slots are this node's.
fn lives_here(ctx: &Ctx, def: &IndexDef) -> bool {
    let Some(owned) = owned_slots(ctx) else {
        return false;
    };
    !def.prefixes.is_empty()
        && def
            .prefixes
            .iter()
            .all(|p| prefix_slot(p).is_some_and(|s| owned.contains(s)))
}

/// `FT.INFO index`: on a cluster node, `num_docs` counts the whole cluster.
pub fn info_command(ctx: &Ctx, args: &Args) -> AiResult<()> {
    if !crate::cluster::enabled(ctx) {
        return super::search::info(ctx, args);
    }
    if args.len() != 2 {
        return Err(AiError::WrongArity);
    }
    let Some(index) = find(args.bytes(1)) else {
        return Err(SearchError::UnknownIndex.into());
    };
    info(ctx, index)
}

/// FT.SEARCH on a cluster node: `words` are the arguments after the index name, already
/// parsed here into `req` (so a bad query fails before anything is sent).
pub fn search(
    ctx: &Ctx,
    index: Arc<Index>,
    words: &[&[u8]],
    req: &Request,
    presentation: Presentation,
) -> AiResult<()> {
    if !ctx.may_block() {
        ctx.reply_error(
            "ERR FT.SEARCH on a cluster cannot run inside MULTI, a script or a DAG: it waits for every shard (unless the index's prefixes carry a hash tag of this node's slots)",
        );
        return Ok(());
    }
    let ascending = match &req.sort {
        Some(s) => Some(s.ascending),
        // Range results come nearest first: by the first range's distance, when it is yielded.
        None if req.query.knn.is_none() && first_range_yield(req).is_some() => Some(true),
        None => None,
    };
    let plan = MergePlan {
        knn: req.query.knn.as_ref().map(|k| k.k),
        ascending,
        offset: req.offset,
        count: req.count,
    };
    let (offset, count) = plan.shard_page();
    let timeout_ms = presentation
        .timeout_ms
        .unwrap_or(config::SEARCH_TIMEOUT.get().max(1) as u64);
    let request = SearchRequest {
        id: 0,
        mode: Mode::Search,
        user: current_user_name(ctx).unwrap_or_default(),
        index: index.def.name.as_bytes().to_vec(),
        def_digest: def_digest(&index.def.name, &index.def.args),
        offset,
        count,
        words: words.iter().map(|w| w.to_vec()).collect(),
    };
    fan_out(ctx, Want::Search(presentation), request, plan, timeout_ms);
    Ok(())
}

/// FT.INFO on a cluster node: this node's view of the index, with the cluster's num_docs.
pub fn info(ctx: &Ctx, index: Arc<Index>) -> AiResult<()> {
    if !ctx.may_block() {
        ctx.reply(&info_reply(&index, ctx.is_resp3()));
        return Ok(());
    }
    let request = SearchRequest {
        id: 0,
        mode: Mode::CountDocs,
        user: Vec::new(),
        index: index.def.name.as_bytes().to_vec(),
        def_digest: def_digest(&index.def.name, &index.def.args),
        offset: 0,
        count: 0,
        words: Vec::new(),
    };
    let plan = MergePlan {
        knn: None,
        ascending: None,
        offset: 0,
        count: 0,
    };
    let timeout_ms = config::SEARCH_TIMEOUT.get().max(1) as u64;
    fan_out(ctx, Want::Info(index), request, plan, timeout_ms);
    Ok(())
}

fn first_range_yield(req: &Request) -> Option<String> {
    match req.query.filter.vector_ranges().first() {
        Some(Expr::VectorRange { yield_as, .. }) => yield_as.clone(),
        _ => None,
    }
}

/// A shard's answer arrived (over the bus, or from this node's own part).
pub fn deliver(ctx: &Ctx, id: u64, from: &NodeId, outcome: Result<ShardHits, String>) {
    SEARCHES.deliver(ctx, id, from, outcome);
}

/// At load, on a cluster node: this file answers the SEARCH and RESULT bus messages.
pub fn init(ctx: *mut RedisModuleCtx) {
    crate::cluster::listen(ctx, &[kind::SEARCH, kind::RESULT], on_message);
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
                Message::Search(req) => run_shard(ctx, req, Sink::Remote(*sender)),
                Message::Result(r) => deliver(ctx, r.id, sender, r.outcome),
                _ => {}
            },
        )
    }
}

// ---------------------------------------------------------------------------------------------
// The shard's side.

/// Where a shard's answer goes.
#[derive(Clone, Copy)]
pub enum Sink {
    /// This node coordinates the query too.
    Local,
    /// Back over the bus to the coordinator.
    Remote(NodeId),
}

fn respond(ctx: &Ctx, sink: Sink, id: u64, outcome: Result<ShardHits, String>) {
    match sink {
        Sink::Local => {
            if let Some(me) = my_id() {
                deliver(ctx, id, &me, outcome);
            }
        }
        Sink::Remote(to) => {
            // An answer that cannot be sent leaves the coordinator to time out, naming us.
            send(
                ctx,
                Some(&to),
                &Message::Result(SearchResult { id, outcome }),
            );
        }
    }
}

/// Runs a coordinator's request on this node's documents. Only a search (or a count) of an
/// index this node has, with the same definition, is ever run for a message.
pub fn run_shard(ctx: &Ctx, req: SearchRequest, sink: Sink) {
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
    let Some(owned) = shard_slots(ctx, &index) else {
        return respond(ctx, sink, id, Err("could not read its own slots".into()));
    };
    if req.mode == Mode::CountDocs {
        let data = index.read();
        let total = (data.num_docs() as u64).saturating_sub(data.docs_outside(&owned));
        drop(data);
        return respond(
            ctx,
            sink,
            id,
            Ok(ShardHits {
                total,
                hits: Vec::new(),
            }),
        );
    }
    let words: Vec<&[u8]> = req.words.iter().map(Vec::as_slice).collect();
    let parsed = match request::parse(&index.def, &words, false) {
        Ok(p) => p,
        Err(e) => return respond(ctx, sink, id, Err(e.to_string())),
    };
    let mut search = parsed.request;
    let p = parsed.presentation;
    search.offset = usize::try_from(req.offset).unwrap_or(usize::MAX);
    search.count = usize::try_from(req.count).unwrap_or(usize::MAX);
    // A shard answers whole or not at all: the wire has no room to say an answer is short,
    // and the coordinator fails the query by name when a shard is late.
    search.deadline = None;
    let user = match AclUser::restricted_named(ctx, &req.user) {
        Ok(u) => u,
        Err(e) => return respond(ctx, sink, id, Err(e.to_string())),
    };
    let data = index.read();
    if data.docs_outside(&owned) > 0 {
        search.in_keys = Some(keys_in_slots(&data, &owned, search.in_keys.as_ref()));
    }
    if let Some(user) = user {
        search.in_keys = Some(readable_keys(&data, &user, search.in_keys.as_ref()));
    }
    if data.estimated_work(&index.def, &search) <= INLINE_WORK {
        let outcome = data.search(&index.def, &search);
        drop(data);
        return finish(ctx, &index, &search, &p, outcome, sink, id);
    }
    drop(data);
    let job = move || {
        let outcome = index.read().search(&index.def, &search);
        crate::cluster::with_server_lock(|ctx| finish(ctx, &index, &search, &p, outcome, sink, id));
    };
    if let Err(refused) = crate::search::pool::spawn(job) {
        refused.run_here();
    }
}

/// The slots a shard answers for. Documents of slots this node does not own (keys in flight
/// during a reshard) belong to another shard's answer. The remembered slots say when there are
/// none; when they say there may be some, the slots served now decide.
pub(crate) fn shard_slots(ctx: &Ctx, index: &Index) -> Option<Arc<SlotSet>> {
    owned_slots_hint(ctx).and_then(|hint| {
        if index.read().docs_outside(&hint) == 0 {
            Some(hint)
        } else {
            owned_slots(ctx)
        }
    })
}

/// The documents of `owned` slots (within INKEYS's, when the query has it). Only while the
/// index holds documents of other slots: the common case never builds this set.
pub(crate) fn keys_in_slots(
    data: &IndexData,
    owned: &SlotSet,
    within: Option<&HashSet<Vec<u8>>>,
) -> HashSet<Vec<u8>> {
    data.keys()
        .filter(|k| owned.contains(key_slot(k)))
        .filter(|k| within.map_or(true, |s| s.contains(*k)))
        .map(<[u8]>::to_vec)
        .collect()
}

/// Reads the hits' documents and sends the answer (main thread, or the server lock held).
fn finish(
    ctx: &Ctx,
    index: &Index,
    req: &Request,
    p: &Presentation,
    outcome: Result<Outcome, crate::search::error::SearchError>,
    sink: Sink,
    id: u64,
) {
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => return respond(ctx, sink, id, Err(e.to_string())),
    };
    let range_yield = first_range_yield(req);
    let mut hits = Vec::with_capacity(outcome.hits.len());
    for hit in &outcome.hits {
        let shown = match load_document(ctx, p, hit) {
            Ok(Some(shown)) => shown,
            Ok(None) => continue,
            Err(e) => return respond(ctx, sink, id, Err(e.to_string())),
        };
        let distance = |name: &str| {
            hit.distances
                .iter()
                .find(|(n, _)| n == name)
                .map_or(SortValue::Missing, |(_, d)| SortValue::Num(*d))
        };
        let order = match &req.sort {
            Some(s) => match index.def.fields.iter().find(|f| f.name == s.name) {
                Some(field) => sort_value(ctx, &hit.key, &field.identifier, &field.kind),
                None => distance(&s.name),
            },
            None => range_yield.as_deref().map_or(SortValue::Missing, distance),
        };
        hits.push(WireHit {
            key: shown.key,
            score: shown.score,
            order,
            fields: shown.fields,
            payload: shown.payload,
        });
    }
    let total = outcome.total as u64;
    respond(ctx, sink, id, Ok(ShardHits { total, hits }));
}

/// A document's SORTBY value as one server orders it: a NUMERIC field by number, others by
/// their lower-cased text, a missing one last.
fn sort_value(ctx: &Ctx, key: &[u8], field: &[u8], kind: &FieldKind) -> SortValue {
    let name = OwnedString::new(key);
    let k = ctx.open_key(name.as_ptr(), false);
    let Some(v) = k.hash_get(field) else {
        return SortValue::Missing;
    };
    match kind {
        FieldKind::Numeric => std::str::from_utf8(v.bytes())
            .ok()
            .and_then(|s| s.trim().parse::<f64>().ok())
            .map_or(SortValue::Missing, SortValue::Num),
        FieldKind::Vector(_) => SortValue::Missing,
        _ => SortValue::Str(v.bytes().to_ascii_lowercase()),
    }
}
