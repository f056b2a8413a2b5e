//! FT.AGGREGATE and FT.CURSOR: RediSearch's aggregation over this module's indexes, with its
//! replies in RESP2 and RESP3.
//!
//! The query runs as FT.SEARCH's does (inline when cheap, else on a search thread with the
//! client blocked); the documents are read and the pipeline (`search::aggregate`) runs in
//! the reply callback on the main thread, which is where the keyspace may be read.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::search::{
    find, iter_reply, ms_since, profile_map, profile_reply, profile_search, profile_target,
    readable_keys, INLINE_WORK,
};
use crate::error::{AiError, AiResult};
use crate::redis::{
    bulk, current_user_name, json, AclUser, Args, Blocked, Ctx, OwnedString, Reply, R,
};
use crate::search::aggregate::cursor::{self, Cursor, Refused};
use crate::search::aggregate::distribute::meta_value;
use crate::search::aggregate::hybrid::Hybrid;
use crate::search::aggregate::value::{parse_number, Value};
use crate::search::aggregate::{self, Aggregate, Lookup, Output, Row, Source};
use crate::search::config as search_config;
use crate::search::error::SearchError;
use crate::search::index::{Hit, Outcome};
use crate::search::json::{JsonNode, Kind};
use crate::search::Index;

fn agg_err(text: &str) -> AiError {
    SearchError::Aggregate(text.to_string()).into()
}

/// The index `args` names (on a cluster, `aggregate_cluster.rs` fans the command out instead).
fn local_index(args: &Args) -> AiResult<Arc<Index>> {
    if args.len() < 2 {
        return Err(AiError::WrongArity);
    }
    let name = args.bytes(1);
    let Some(index) = find(name) else {
        return Err(SearchError::NoSuchIndex(String::from_utf8_lossy(name).into_owned()).into());
    };
    Ok(index)
}

/// `FT.AGGREGATE index query [options and steps …]` (see `search::aggregate`).
pub fn aggregate(ctx: &Ctx, args: &Args) -> AiResult<()> {
    let index = local_index(args)?;
    let words: Vec<&[u8]> = (2..args.len()).map(|i| args.bytes(i)).collect();
    let mut agg = aggregate::parse(&index.def, &words)?;
    index.uses.fetch_add(1, Ordering::Relaxed);
    let user = current_user_name(ctx);
    {
        let data = index.read();
        if let Some(acl) = AclUser::restricted(ctx)? {
            agg.request.in_keys = Some(readable_keys(&data, &acl, agg.request.in_keys.as_ref()));
        }
        if !ctx.may_block() || data.estimated_work(&index.def, &agg.request) <= INLINE_WORK {
            let outcome = data.search(&index.def, &agg.request);
            drop(data);
            finish(ctx, &index, &agg, user, outcome);
            return Ok(());
        }
    }
    let fallback = AggReply {
        index: index.clone(),
        agg,
        user,
        outcome: Err(SearchError::DidNotRun),
    };
    let mut blocked = Blocked::block(ctx, fallback);
    let job = move || {
        let pending = blocked.pending();
        pending.outcome = index.read().search(&index.def, &pending.agg.request);
    };
    if let Err(refused) = crate::search::pool::spawn(job) {
        refused.run_here();
    }
    Ok(())
}

struct AggReply {
    index: Arc<Index>,
    agg: Aggregate,
    user: Option<Vec<u8>>,
    outcome: Result<Outcome, SearchError>,
}

impl Reply for AggReply {
    const WHAT: &'static str = "FT.AGGREGATE";
    fn reply(self, ctx: &Ctx) {
        finish(ctx, &self.index, &self.agg, self.user, self.outcome);
    }
}

/// Reads the documents, runs the pipeline and replies (keeping a cursor if asked).
fn finish(
    ctx: &Ctx,
    index: &Arc<Index>,
    agg: &Aggregate,
    user: Option<Vec<u8>>,
    outcome: Result<Outcome, SearchError>,
) {
    let outcome = match outcome {
        Ok(o) if o.timed_out && crate::search::config::fail_on_timeout() => {
            return ctx.reply_error(&SearchError::TimedOut.to_string())
        }
        Ok(o) => o,
        Err(e) => return ctx.reply_error(&e.to_string()),
    };
    let (rows, names) = load_rows(ctx, agg, &outcome);
    let out = agg.run(rows, names);
    reply_output(ctx, index, agg, user, out, outcome.timed_out);
}

/// The rows of the documents `outcome` found, and the names of their slots.
pub(crate) fn load_rows(ctx: &Ctx, agg: &Aggregate, outcome: &Outcome) -> (Vec<Row>, Vec<String>) {
    let mut lookup = Lookup::from_names(&agg.doc_names);
    let rows: Vec<Row> = outcome
        .hits
        .iter()
        .filter_map(|h| load_row(ctx, agg, &mut lookup, h))
        .collect();
    (rows, lookup.names)
}

/// Replies with the pipeline's output, its first page and a cursor when WITHCURSOR asked
/// (the cursor lives on this node, the one the client asked). `timed_out`: the query stopped
/// at its TIMEOUT (RESP3's warning says so).
pub(crate) fn reply_output(
    ctx: &Ctx,
    index: &Arc<Index>,
    agg: &Aggregate,
    user: Option<Vec<u8>>,
    out: Result<Output, SearchError>,
    timed_out: bool,
) {
    let out = match out {
        Ok(o) => o,
        Err(e) => return ctx.reply_error(&e.to_string()),
    };
    let resp3 = ctx.is_resp3();
    let Some(spec) = agg.cursor else {
        return ctx.reply(&page(&out.names, out.total, &out.rows, resp3, timed_out));
    };
    let count = spec.count.unwrap_or(cursor::DEFAULT_COUNT);
    let Output { total, rows, names } = out;
    let mut rows: std::collections::VecDeque<Row> = rows.into();
    let first: Vec<Row> = rows.drain(..count.min(rows.len())).collect();
    let reply_page = page(&names, total, &first, resp3, timed_out);
    let id = if rows.is_empty() {
        0
    } else {
        let idle = spec
            .max_idle_ms
            .unwrap_or(cursor::MAX_IDLE_MS)
            .min(cursor::MAX_IDLE_MS);
        let made = cursor::with(|s| {
            s.add(Cursor {
                index: Arc::downgrade(index),
                user,
                names,
                rows,
                count,
                total,
                max_idle: Duration::from_millis(idle),
                last_used: Instant::now(),
            })
        });
        match made {
            Ok(id) => id,
            Err(Refused::TooManyForIndex) => {
                return ctx.reply_error("Too many cursors allocated for index")
            }
            Err(Refused::TooMany) => return ctx.reply_error("Too many cursors allocated"),
        }
    };
    ctx.reply(&R::Arr(vec![reply_page, R::Int(id as i64)]));
}

/// One document's row, or `None` when it is gone (deleted after the query ran).
pub(crate) fn load_row(ctx: &Ctx, agg: &Aggregate, lookup: &mut Lookup, hit: &Hit) -> Option<Row> {
    let mut row: Row = vec![None; lookup.names.len()];
    let set = |row: &mut Row, slot: usize, v: Value| {
        if row.len() <= slot {
            row.resize(slot + 1, None);
        }
        row[slot] = Some(v);
    };
    let raw = ctx.raw_ctx();
    let name = OwnedString::new(&hit.key);
    if agg.json {
        let doc = json::api(raw)?.open(raw, name.as_ptr())?;
        for l in &agg.loads {
            let v = match &l.source {
                Source::Field { ident, .. } => {
                    let path = crate::search::json::path_of(ident);
                    let found = doc.select(&path);
                    let Some(first) = found.first() else {
                        continue;
                    };
                    match first.kind() {
                        Kind::String(_) => Value::Str(
                            String::from_utf8_lossy(first.string().unwrap_or_default())
                                .into_owned(),
                        ),
                        Kind::Number(n) => Value::Num(n),
                        Kind::Bool(b) => Value::Num(if b { 1.0 } else { 0.0 }),
                        Kind::Null => Value::Null,
                        _ => Value::Str(String::from_utf8_lossy(&first.json_text()).into_owned()),
                    }
                }
                other => match meta_value(other, hit) {
                    Some(v) => v,
                    None => continue,
                },
            };
            set(&mut row, l.slot, v);
        }
        if agg.load_all {
            let slot = lookup.add("$");
            let text = String::from_utf8_lossy(&doc.root().json_text()).into_owned();
            set(&mut row, slot, Value::Str(text));
        }
        return Some(row);
    }
    let key = ctx.open_key(name.as_ptr(), false);
    if !key.is_hash() {
        return None;
    }
    for l in &agg.loads {
        let v = match &l.source {
            Source::Field {
                ident,
                numeric,
                normalize,
            } => {
                let Some(s) = key.hash_get(ident) else {
                    continue;
                };
                let text = String::from_utf8_lossy(s.bytes()).into_owned();
                if *numeric {
                    match parse_number(&text) {
                        Some(n) => Value::Num(n),
                        None => Value::Str(text),
                    }
                } else if *normalize {
                    Value::Str(text.to_lowercase())
                } else {
                    Value::Str(text)
                }
            }
            other => match meta_value(other, hit) {
                Some(v) => v,
                None => continue,
            },
        };
        set(&mut row, l.slot, v);
    }
    if agg.load_all {
        for (k, v) in key.hash_fields() {
            let slot = lookup.add(&String::from_utf8_lossy(&k));
            if row.get(slot).map_or(true, |v| v.is_none()) {
                set(
                    &mut row,
                    slot,
                    Value::Str(String::from_utf8_lossy(&v).into_owned()),
                );
            }
        }
    }
    Some(row)
}

fn value_reply(v: &Value) -> R<'static> {
    match v {
        Value::Null => R::Null,
        Value::Arr(a) => R::Arr(a.iter().map(value_reply).collect()),
        v => bulk(v.text()),
    }
}

/// A row's set values by name: a map in RESP3, a flat `[name, value, …]` array in RESP2.
fn row_entries(names: &[String], row: &Row) -> Vec<(R<'static>, R<'static>)> {
    row.iter()
        .enumerate()
        .filter_map(|(i, v)| Some((bulk(names.get(i)?), value_reply(v.as_ref()?))))
        .collect()
}

/// One page of rows, as RediSearch 2.10 sends it: `[total, [name, value, …], …]` in RESP2,
/// a map with `results` of `extra_attributes` maps in RESP3. Every value is a string (a
/// number as `%.12g`), an array or a null, in both protocols. `timed_out`: the query stopped
/// at its TIMEOUT, said in RESP3's `warning`.
fn page(names: &[String], total: usize, rows: &[Row], resp3: bool, timed_out: bool) -> R<'static> {
    if resp3 {
        let results = rows
            .iter()
            .map(|r| {
                R::Map(vec![
                    ("extra_attributes", R::Dict(row_entries(names, r))),
                    ("values", R::Arr(Vec::new())),
                ])
            })
            .collect();
        return R::Map(vec![
            ("attributes", R::Arr(Vec::new())),
            ("total_results", R::Int(total as i64)),
            ("format", R::Simple("STRING")),
            ("results", R::Arr(results)),
            ("warning", super::search::warnings(timed_out)),
        ]);
    }
    let mut out = vec![R::Int(total as i64)];
    out.extend(rows.iter().map(|r| R::Dict(row_entries(names, r))));
    R::Arr(out)
}

/// `FT.CURSOR READ index id [COUNT n]` | `FT.CURSOR DEL index id` | `FT.CURSOR GC index x`
pub fn cursor_command(ctx: &Ctx, args: &Args) -> AiResult<()> {
    if args.len() < 4 {
        return Err(AiError::WrongArity);
    }
    let sub = args.bytes(1).to_ascii_uppercase();
    if sub == b"GC" {
        cursor::with(|s| s.sweep(Instant::now()));
        ctx.reply(&R::Int(0));
        return Ok(());
    }
    if sub != b"READ" && sub != b"DEL" {
        return Err(agg_err("Unknown subcommand"));
    }
    let id = std::str::from_utf8(args.bytes(3))
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(|| agg_err("Bad cursor ID"))?;
    let user = current_user_name(ctx);
    let index = find(args.bytes(2));
    if sub == b"DEL" {
        let found = index.as_ref().is_some_and(|ix| {
            cursor::with(|s| {
                let ok = s.get(id, ix, &user).is_some();
                if ok {
                    s.remove(id);
                }
                ok
            })
        });
        if !found {
            return Err(agg_err("Cursor does not exist"));
        }
        ctx.reply_ok();
        return Ok(());
    }
    let mut count = None;
    let mut i = 4;
    while i < args.len() {
        if args.bytes(i).eq_ignore_ascii_case(b"COUNT") {
            let n = (i + 1 < args.len())
                .then(|| args.bytes(i + 1))
                .and_then(|w| std::str::from_utf8(w).ok())
                .and_then(|s| s.parse::<usize>().ok())
                .filter(|&n| n > 0)
                .ok_or_else(|| agg_err("Bad value for COUNT"))?;
            count = Some(n);
            i += 2;
        } else {
            i += 1;
        }
    }
    let Some(index) = index else {
        return Err(agg_err("Cursor not found"));
    };
    let resp3 = ctx.is_resp3();
    let reply = cursor::with(|s| {
        let c = s.get(id, &index, &user)?;
        let n = count.unwrap_or(c.count).min(c.rows.len());
        let rows: Vec<Row> = c.rows.drain(..n).collect();
        c.last_used = Instant::now();
        let reply = page(&c.names, c.total, &rows, resp3, false);
        let done = c.rows.is_empty();
        if done {
            s.remove(id);
        }
        Some(R::Arr(vec![
            reply,
            R::Int(if done { 0 } else { id as i64 }),
        ]))
    });
    match reply {
        Some(r) => ctx.reply(&r),
        None => return Err(agg_err("Cursor not found")),
    }
    Ok(())
}

/// `FT.HYBRID index SEARCH … VSIM … [COMBINE …] [post-processing …]` (see
/// `search::aggregate::hybrid`). Both searches run inline under one read lock.
pub fn hybrid(ctx: &Ctx, args: &Args) -> AiResult<()> {
    let index = local_index(args)?;
    let started = Instant::now();
    let words: Vec<&[u8]> = (2..args.len()).map(|i| args.bytes(i)).collect();
    let mut h = crate::search::aggregate::hybrid::parse(&index.def, &words)?;
    index.uses.fetch_add(1, Ordering::Relaxed);
    let (text, vector) = {
        let data = index.read();
        if let Some(acl) = AclUser::restricted(ctx)? {
            let readable = readable_keys(&data, &acl, None);
            h.text.in_keys = Some(readable.clone());
            h.vector.in_keys = Some(readable);
        }
        (
            data.search(&index.def, &h.text)?,
            data.search(&index.def, &h.vector)?,
        )
    };
    let fused = h.fuse(text, vector);
    let mut lookup = Lookup::from_names(&h.post.doc_names);
    let rows: Vec<Row> = fused
        .iter()
        .filter_map(|hit| load_row(ctx, &h.post, &mut lookup, hit))
        .collect();
    hybrid_reply(ctx, &h, rows, lookup.names, started)
}

/// Runs FT.HYBRID's post-processing over the fused rows and replies.
pub(crate) fn hybrid_reply(
    ctx: &Ctx,
    h: &Hybrid,
    rows: Vec<Row>,
    names: Vec<String>,
    started: Instant,
) -> AiResult<()> {
    let total = rows.len();
    let mut out = h.post.run(rows, names)?;
    if let Some(n) = h.default_limit {
        out.rows.truncate(n);
    }
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    if ctx.is_resp3() {
        let results = out
            .rows
            .iter()
            .map(|r| R::Dict(row_entries(&out.names, r)))
            .collect();
        ctx.reply(&R::Map(vec![
            ("total_results", R::Int(total as i64)),
            ("results", R::Arr(results)),
            ("warnings", R::Arr(Vec::new())),
            ("execution_time", R::Double(elapsed_ms)),
        ]));
        return Ok(());
    }
    let results = out
        .rows
        .iter()
        .map(|r| R::Dict(row_entries(&out.names, r)))
        .collect();
    ctx.reply(&R::Arr(vec![
        bulk("total_results"),
        R::Int(total as i64),
        bulk("results"),
        R::Arr(results),
        bulk("warnings"),
        R::Arr(Vec::new()),
        bulk("execution_time"),
        bulk(format!("{elapsed_ms:.3}")),
    ]));
    Ok(())
}

/// `FT.PROFILE index SEARCH|AGGREGATE [LIMITED] QUERY query [options…]`: FT.AGGREGATE's
/// profile here, FT.SEARCH's in `search.rs`. The reply is RediSearch 2.10's layout: the
/// command's own reply, then the times, the query's iterator tree (this engine's plan) and one
/// result processor per stage: `Index`, a KNN's `Metrics Applier`, `Loader` (reading the
/// documents), then one per step (`Projector - …` for APPLY, `Filter - …`, `Grouper`,
/// `Sorter`, `Pager/Limiter`), each with its time and the rows it let through. A WITHCURSOR is
/// ignored (every row is replied). On a cluster of several masters it is refused: it would
/// profile, and answer from, one shard.
pub fn profile(ctx: &Ctx, args: &Args) -> AiResult<()> {
    let started = Instant::now();
    super::search_cluster::local_answer_is_whole(ctx, "FT.PROFILE")?;
    let target = profile_target(args)?;
    if !target.aggregate {
        return profile_search(ctx, &target.index, &target.words, started);
    }
    let index = target.index;
    let t = Instant::now();
    let mut agg = aggregate::parse(&index.def, &target.words)?;
    let parse_ms = ms_since(t);
    index.uses.fetch_add(1, Ordering::Relaxed);
    let profiled = {
        let data = index.read();
        if let Some(acl) = AclUser::restricted(ctx)? {
            agg.request.in_keys = Some(readable_keys(&data, &acl, agg.request.in_keys.as_ref()));
        }
        data.profile(&index.def, &agg.request)
    };
    let (outcome, iters, stages) = profiled?;
    // The engine's own stages, but for the scoring and sorting only a search does.
    let mut procs: Vec<(String, f64, u64)> = stages
        .iter()
        .filter(|s| s.name == "Index" || s.name == "Metrics Applier")
        .map(|s| (s.name.to_string(), s.time_ms, s.counter))
        .collect();
    let plan_ms = procs.first().map_or(0.0, |p| p.1);
    let t = Instant::now();
    let (rows, names) = load_rows(ctx, &agg, &outcome);
    procs.push(("Loader".into(), ms_since(t), rows.len() as u64));
    let mut steps = Vec::with_capacity(agg.steps.len());
    let mut last = Instant::now();
    let out = agg.run_probed(rows, names, &mut |at, n| {
        steps.push((at, ms_since(last), n as u64));
        last = Instant::now();
    })?;
    for (at, ms, n) in steps {
        // RediSearch folds a LIMIT right after a SORTBY into its sorter.
        let folded = matches!(agg.steps.get(at), Some(aggregate::Step::Limit { .. }))
            && at > 0
            && matches!(agg.steps.get(at - 1), Some(aggregate::Step::Sort { .. }));
        if let (Some(step), false) = (agg.steps.get(at), folded) {
            procs.push((step.profile_name(), ms, n));
        }
    }
    let resp3 = ctx.is_resp3();
    let clock = search_config::print_profile_clock();
    let time = |v: f64| R::Double(if clock { v } else { 0.0 });
    let processors: Vec<R> = procs
        .into_iter()
        .map(|(name, ms, n)| {
            profile_map(
                resp3,
                vec![
                    ("Type", bulk(name)),
                    ("Time", time(ms)),
                    ("Counter", R::Int(n as i64)),
                ],
            )
        })
        .collect();
    let results = page(&out.names, out.total, &out.rows, resp3, outcome.timed_out);
    let iterators = iter_reply(&iters, resp3, clock);
    let total_ms = ms_since(started);
    let times = [total_ms, parse_ms, plan_ms].map(time);
    ctx.reply(&profile_reply(results, times, iterators, processors, resp3));
    Ok(())
}
