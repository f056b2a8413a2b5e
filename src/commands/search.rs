//! FT.CREATE, FT.SEARCH, FT.INFO, FT.DROPINDEX, FT._LIST: RediSearch's commands over the
//! indexes in `search/`, with RediSearch 2.10's replies in RESP2 and RESP3.
//!
//! FT.SEARCH parses on the main thread, runs the search on a search thread (the client is
//! blocked meanwhile), and reads the documents and replies on the main thread. Inside MULTI or
//! Lua, where a client cannot block, the search runs inline.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use redis_module::raw;

use crate::api;

use crate::config;
use crate::error::{AiError, AiResult};
use crate::index_sync::start_scan;
use crate::redis::{
    bulk, guard, json, log, AclUser, Args, Blocked, Ctx, Level, OwnedString, Reply, R,
};
use crate::search::aggregate::cursor;
use crate::search::config as search_config;
use crate::search::error::SearchError;
use crate::search::index::{format_score, Hit, IndexData, Outcome};
use crate::search::json::{JsonNode, Kind};
use crate::search::language::Language;
use crate::search::request::{self, Presentation, SearchRequest};
use crate::search::schema::{self, Algorithm, FieldKind, IndexDef, KeyType};
use crate::search::{registry, Index};

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The index a name stands for: its own name or an alias. Index names and aliases are UTF-8
/// (FT.CREATE and FT.ALIASADD refuse others), so other bytes name no index.
/// Looking an index up is using it: a TEMPORARY index's idle time starts over.
pub(crate) fn find(name: &[u8]) -> Option<Arc<Index>> {
    let index = registry().get(std::str::from_utf8(name).ok()?)?;
    index.touch();
    Some(index)
}

// ---------------------------------------------------------------------------------------------
// FT.CREATE

pub fn create(ctx: &Ctx, args: &Args) -> AiResult<()> {
    if args.len() < 2 {
        return Err(AiError::WrongArity);
    }
    let name = args.bytes(1);
    // Only index names conflict: an alias of the same name may stay (RediSearch's rule).
    let taken = std::str::from_utf8(name).is_ok_and(|n| registry().indexes.contains_key(n));
    if taken {
        return Err(SearchError::IndexExists.into());
    }
    let replicated = ctx.flags() & raw::REDISMODULE_CTX_FLAGS_REPLICATED != 0;
    if !replicated && config::pure_aof(ctx) {
        return Err(SearchError::NeedsRdbPreamble.into());
    }
    let words: Vec<&[u8]> = (2..args.len()).map(|i| args.bytes(i)).collect();
    let def = schema::parse_create(name, &words)?;
    // A replicated definition is taken as the primary checked it, so replicas keep every
    // index even while they lack RedisJSON (their documents then stay unindexed).
    if def.key_type == KeyType::Json && !replicated {
        check_json_schema(ctx, &def)?;
    }
    let skip_scan = def.skip_initial_scan;
    let index = Arc::new(Index::new(def));
    registry().insert(index.clone());
    if !skip_scan {
        start_scan(ctx.raw_ctx(), &index);
    }
    if let Some(left) = index.idle_left_ms() {
        arm_temporary(ctx.raw_ctx(), &index, left);
    }
    ctx.replicate_verbatim();
    crate::cluster::catalog::after_local_ddl(ctx, args);
    ctx.reply_ok();
    Ok(())
}

/// Checks TEMPORARY index `index` again in `ms` milliseconds: dropped then if it has been
/// idle for its seconds (and is still the index of its name), else checked again when it
/// would be.
fn arm_temporary(ctx: *mut raw::RedisModuleCtx, index: &Arc<Index>, ms: u64) {
    let weak = Box::into_raw(Box::new(Arc::downgrade(index)));
    // SAFETY: live context; the callback takes back the box it is handed.
    unsafe {
        api!(RedisModule_CreateTimer)(
            ctx,
            ms as raw::mstime_t,
            Some(on_temporary_timer),
            weak.cast(),
        )
    };
}

unsafe extern "C" fn on_temporary_timer(
    ctx: *mut raw::RedisModuleCtx,
    data: *mut std::ffi::c_void,
) {
    // SAFETY: the box arm_temporary leaked for this one call.
    let weak = unsafe { Box::from_raw(data.cast::<std::sync::Weak<Index>>()) };
    let Some(index) = weak.upgrade() else {
        return;
    };
    guard("temporary index timer", (), || match index.idle_left_ms() {
        Some(0) => {
            let mut reg = registry();
            let current = reg.indexes.get(&index.def.name);
            if current.is_some_and(|c| Arc::ptr_eq(c, &index)) {
                reg.remove(&index.def.name);
            }
        }
        Some(left) => arm_temporary(ctx, &index, left),
        None => {}
    });
}

/// `FT.ALTER <index> [SKIPINITIALSCAN] SCHEMA ADD <field> <options> …`: the index keeps its
/// documents and answers searches meanwhile; a scan (unless skipped) indexes the new fields.
pub fn alter(ctx: &Ctx, args: &Args) -> AiResult<()> {
    if args.len() < 5 {
        return Err(AiError::WrongArity);
    }
    let Some(old) = find(args.bytes(1)) else {
        return Err(SearchError::UnknownIndex.into());
    };
    let words: Vec<&[u8]> = (2..args.len()).map(|i| args.bytes(i)).collect();
    let (def, skip_scan) = schema::parse_alter(&old.def, &words)?;
    // A scan still running (FT.CREATE's, an earlier ALTER's) would have indexed the new fields
    // in the documents it had not reached yet: this index's own scan does that now.
    let scanning = old.indexing.load(Ordering::Relaxed);
    let index = Arc::new(Index::altered(&old, def));
    registry().insert(index.clone());
    if !skip_scan || scanning {
        start_scan(ctx.raw_ctx(), &index);
    }
    ctx.replicate_verbatim();
    crate::cluster::catalog::after_local_redefine(ctx, &index.def.name, &index.def.args);
    ctx.reply_ok();
    Ok(())
}

/// ON JSON: RedisJSON must be there, and must parse every field's JSONPath.
fn check_json_schema(ctx: &Ctx, def: &schema::IndexDef) -> Result<(), SearchError> {
    let api = json::api(ctx.raw_ctx()).ok_or(SearchError::JsonNotLoaded)?;
    for field in &def.fields {
        let path = crate::search::json::path_of(&field.identifier);
        api.check_path(&path)
            .map_err(|error| SearchError::JsonPath { path, error })?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// FT.DROPINDEX, FT._LIST

pub fn dropindex(ctx: &Ctx, args: &Args) -> AiResult<()> {
    if !(2..=3).contains(&args.len()) {
        return Err(AiError::WrongArity);
    }
    let delete_docs = match args.len() {
        3 if args.bytes(2).eq_ignore_ascii_case(b"DD") => true,
        3 => return Err(SearchError::UnknownArgument(lossy(args.bytes(2))).into()),
        _ => false,
    };
    let removed = std::str::from_utf8(args.bytes(1))
        .ok()
        .and_then(|n| registry().remove(n));
    let Some(index) = removed else {
        return Err(SearchError::UnknownIndex.into());
    };
    crate::search::aggregate::cursor::with(|s| s.drop_index(&index));
    if delete_docs {
        let keys: Vec<Vec<u8>> = index.read().keys().map(<[u8]>::to_vec).collect();
        for key in keys {
            let name = OwnedString::new(&key);
            ctx.open_key(name.as_ptr(), true).delete();
        }
    }
    ctx.replicate_verbatim();
    crate::cluster::catalog::after_local_ddl(ctx, args);
    ctx.reply_ok();
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// FT.ALIASADD, FT.ALIASUPDATE, FT.ALIASDEL

/// `FT.ALIASADD <alias> <index>`
pub fn aliasadd(ctx: &Ctx, args: &Args) -> AiResult<()> {
    set_alias(ctx, args, false)
}

/// `FT.ALIASUPDATE <alias> <index>`: adds the alias, or moves it to another index.
pub fn aliasupdate(ctx: &Ctx, args: &Args) -> AiResult<()> {
    set_alias(ctx, args, true)
}

fn set_alias(ctx: &Ctx, args: &Args, replace: bool) -> AiResult<()> {
    if args.len() != 3 {
        return Err(AiError::WrongArity);
    }
    let (Ok(alias), Ok(index)) = (
        std::str::from_utf8(args.bytes(1)),
        std::str::from_utf8(args.bytes(2)),
    ) else {
        return Err(SearchError::AliasTargetUnknown.into());
    };
    registry().set_alias(alias, index, replace)?;
    ctx.replicate_verbatim();
    crate::cluster::catalog::after_local_ddl(ctx, args);
    ctx.reply_ok();
    Ok(())
}

/// `FT.ALIASDEL <alias>`
pub fn aliasdel(ctx: &Ctx, args: &Args) -> AiResult<()> {
    if args.len() != 2 {
        return Err(AiError::WrongArity);
    }
    let Ok(alias) = std::str::from_utf8(args.bytes(1)) else {
        return Err(SearchError::AliasMissing.into());
    };
    registry().delete_alias(alias)?;
    ctx.replicate_verbatim();
    crate::cluster::catalog::after_local_ddl(ctx, args);
    ctx.reply_ok();
    Ok(())
}

pub fn list(ctx: &Ctx, args: &Args) -> AiResult<()> {
    if args.len() != 1 {
        return Err(AiError::WrongArity);
    }
    let names: Vec<R> = registry().indexes.keys().map(bulk).collect();
    ctx.reply(&R::Set(names));
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// FT.INFO

pub fn info(ctx: &Ctx, args: &Args) -> AiResult<()> {
    if args.len() != 2 {
        return Err(AiError::WrongArity);
    }
    let Some(index) = find(args.bytes(1)) else {
        return Err(SearchError::UnknownIndex.into());
    };
    ctx.reply(&info_reply(&index, ctx.is_resp3()));
    Ok(())
}

/// FT.INFO's `index_definition`, with the options RediSearch lists only when given.
fn index_definition(def: &IndexDef, prefixes: Vec<R<'static>>) -> Vec<(&'static str, R<'static>)> {
    let key_type = match def.key_type {
        KeyType::Hash => "HASH",
        KeyType::Json => "JSON",
    };
    let mut m = vec![
        ("key_type", R::Simple(key_type)),
        ("prefixes", R::Arr(prefixes)),
    ];
    if def.language != Language::English {
        m.push(("default_language", R::Simple(def.language.name())));
    }
    if let Some(f) = &def.language_field {
        m.push(("language_field", R::Bulk(f.clone().into())));
    }
    m.push(("default_score", bulk(format_score(def.default_score))));
    if let Some(f) = &def.score_field {
        m.push(("score_field", R::Bulk(f.clone().into())));
    }
    if let Some(f) = &def.payload_field {
        m.push(("payload_field", R::Bulk(f.clone().into())));
    }
    m
}

/// FT.TAGVALS index field: the distinct values of a TAG field, as indexed (lower-cased unless
/// CASESENSITIVE), in byte order.
pub fn tagvals(ctx: &Ctx, args: &Args) -> AiResult<()> {
    if args.len() != 3 {
        return Err(AiError::WrongArity);
    }
    let Some(index) = find(args.bytes(1)) else {
        return Err(SearchError::TagvalsUnknownIndex.into());
    };
    let name = String::from_utf8_lossy(args.bytes(2));
    let Some(field) = index.def.field(&name) else {
        return Err(SearchError::NoSuchField.into());
    };
    if !matches!(index.def.fields[field].kind, FieldKind::Tag { .. }) {
        return Err(SearchError::NotTagField.into());
    }
    let values: Vec<R> = index
        .read()
        .tag_values(field)
        .into_iter()
        .map(|v| R::Bulk(v.into_bytes().into()))
        .collect();
    // A set in RESP3, as RediSearch sends it (the edge writes an array in RESP2).
    ctx.reply(&R::Set(values));
    Ok(())
}

/// FT.EXPLAIN index query [FT.SEARCH options]: the parsed query tree as RediSearch prints it
/// (see `search::explain`), one string.
pub fn explain(ctx: &Ctx, args: &Args) -> AiResult<()> {
    let text = explained(ctx, args)?;
    ctx.reply(&R::Bulk(text.into_bytes().into()));
    Ok(())
}

/// FT.EXPLAINCLI: FT.EXPLAIN's text as an array of its lines (the last one empty, as in
/// RediSearch, which splits after every newline).
pub fn explaincli(ctx: &Ctx, args: &Args) -> AiResult<()> {
    let text = explained(ctx, args)?;
    let lines = text
        .split('\n')
        .map(|l| R::Bulk(l.as_bytes().to_vec().into()))
        .collect();
    ctx.reply(&R::Arr(lines));
    Ok(())
}

fn explained(ctx: &Ctx, args: &Args) -> AiResult<String> {
    if args.len() < 3 {
        return Err(AiError::WrongArity);
    }
    let name = args.bytes(1);
    let Some(index) = find(name) else {
        return Err(SearchError::NoSuchIndex(lossy(name)).into());
    };
    let words: Vec<&[u8]> = (2..args.len()).map(|i| args.bytes(i)).collect();
    let parsed = request::parse(&index.def, &words, ctx.is_resp3())?;
    Ok(crate::search::explain::explain(
        &parsed.request.query,
        &index.def.fields,
        parsed.request.verbatim,
        parsed.request.language,
    ))
}

/// FT.CONFIG GET|SET|HELP: RediSearch's settings this engine honours (see
/// `search::config`), in RediSearch's reply shapes: pairs in RESP2, a map in RESP3.
pub fn config(ctx: &Ctx, args: &Args) -> AiResult<()> {
    if args.len() < 3 {
        return Err(AiError::WrongArity);
    }
    let action = args.bytes(1).to_ascii_uppercase();
    let name = args.bytes(2);
    match action.as_slice() {
        b"GET" | b"HELP" => {
            let help = action.as_slice() == b"HELP";
            let value = |s: &search_config::Setting| s.shown().map_or(R::Null, bulk);
            let entry = |s: &'static search_config::Setting| -> R<'static> {
                if help {
                    R::Map(vec![
                        ("Description", R::Simple(s.description)),
                        ("Value", value(s)),
                    ])
                } else {
                    value(s)
                }
            };
            let found = search_config::matching(name);
            if ctx.is_resp3() {
                ctx.reply(&R::Map(found.iter().map(|s| (s.name, entry(s))).collect()));
            } else {
                ctx.reply(&R::Arr(
                    found
                        .iter()
                        .map(|s| {
                            let mut pair = vec![R::Simple(s.name)];
                            match entry(s) {
                                R::Map(kv) => {
                                    for (k, v) in kv {
                                        pair.push(R::Simple(k));
                                        pair.push(v);
                                    }
                                }
                                v => pair.push(v),
                            }
                            R::Arr(pair)
                        })
                        .collect(),
                ));
            }
        }
        b"SET" => {
            if args.len() < 4 {
                return Err(AiError::WrongArity);
            }
            let Some(setting) = search_config::SETTINGS
                .iter()
                .find(|s| s.name.as_bytes().eq_ignore_ascii_case(name))
            else {
                ctx.reply(&R::Error("Invalid option".into()));
                return Ok(());
            };
            match setting.set(args.bytes(3)) {
                Ok(()) => ctx.reply(&R::Simple("OK")),
                Err(e) => ctx.reply(&R::Error(e.into())),
            }
        }
        // RediSearch answers an unknown action with a status, not an error.
        _ => ctx.reply(&R::Simple("No such configuration action")),
    }
    Ok(())
}

fn mb(bytes: usize) -> R<'static> {
    R::Double(bytes as f64 / (1024.0 * 1024.0))
}

fn error_map(f: &crate::search::index::Failures) -> R<'static> {
    R::Map(vec![
        ("indexing failures", R::Int(f.count as i64)),
        (
            "last indexing error",
            bulk(f.last_error.as_deref().unwrap_or("N/A")),
        ),
        (
            "last indexing error key",
            bulk(f.last_key.as_deref().unwrap_or(b"N/A")),
        ),
    ])
}

/// FT.INFO's reply. In RESP3 each attribute is a map whose options are a `flags` list (and
/// WEIGHT a double), as RediSearch sends it.
pub(crate) fn info_reply(index: &Index, resp3: bool) -> R<'static> {
    let def = &index.def;
    let data = index.read();
    let attributes: Vec<R> = def
        .fields
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let mut a = vec![
                R::Simple("identifier"),
                bulk(&f.identifier),
                R::Simple("attribute"),
                bulk(&f.name),
                R::Simple("type"),
                R::Simple(f.kind.type_name()),
            ];
            match &f.kind {
                FieldKind::Text { weight, .. } => {
                    let w = if resp3 {
                        R::Double(*weight)
                    } else {
                        bulk(format_score(*weight))
                    };
                    a.extend([R::Simple("WEIGHT"), w]);
                }
                FieldKind::Tag { separator, .. } => {
                    // A JSON TAG without SEPARATOR keeps each string whole: shown as "".
                    let sep: &[u8] = if def.tag_split.get(i).copied().unwrap_or(true) {
                        std::slice::from_ref(separator)
                    } else {
                        b""
                    };
                    a.extend([R::Simple("SEPARATOR"), bulk(sep)]);
                }
                FieldKind::Numeric | FieldKind::Geo => {}
                FieldKind::Vector(p) => {
                    a.extend([
                        R::Simple("algorithm"),
                        R::Simple(match p.algorithm {
                            Algorithm::Flat => "FLAT",
                            Algorithm::Hnsw => "HNSW",
                        }),
                        R::Simple("data_type"),
                        R::Simple(p.dtype.name()),
                        R::Simple("dim"),
                        R::Int(p.dim as i64),
                        R::Simple("distance_metric"),
                        R::Simple(p.metric.name()),
                    ]);
                    if p.algorithm == Algorithm::Hnsw {
                        a.extend([
                            R::Simple("M"),
                            R::Int(p.m as i64),
                            R::Simple("ef_construction"),
                            R::Int(p.ef_construction as i64),
                            R::Simple("ef_runtime"),
                            R::Int(p.ef_runtime as i64),
                            R::Simple("epsilon"),
                            bulk(format_score(p.epsilon)),
                        ]);
                    }
                }
            }
            // RediSearch's order: the generic options, then the type's.
            let nostem = matches!(f.kind, FieldKind::Text { nostem: true, .. });
            let case_sensitive = matches!(
                f.kind,
                FieldKind::Tag {
                    case_sensitive: true,
                    ..
                }
            );
            let flags: Vec<R> = [
                (f.sortable, "SORTABLE"),
                // A sortable NUMERIC value is never normalised: RediSearch lists it as UNF.
                (
                    f.unf || (f.sortable && matches!(f.kind, FieldKind::Numeric)),
                    "UNF",
                ),
                (f.noindex, "NOINDEX"),
                (nostem, "NOSTEM"),
                (case_sensitive, "CASESENSITIVE"),
                (f.suffix_trie, "WITHSUFFIXTRIE"),
                (f.index_empty, "INDEXEMPTY"),
                (f.index_missing, "INDEXMISSING"),
            ]
            .into_iter()
            .filter(|(on, _)| *on)
            .map(|(_, flag)| R::Simple(flag))
            .collect();
            if !resp3 {
                a.extend(flags);
                return R::Arr(a);
            }
            // The same pairs as a map; HNSW's run-time parameters are not shown there.
            let mut entries = Vec::new();
            let mut it = a.into_iter();
            while let (Some(R::Simple(k)), Some(v)) = (it.next(), it.next()) {
                if k != "ef_runtime" && k != "epsilon" {
                    entries.push((k, v));
                }
            }
            entries.push(("flags", R::Arr(flags)));
            R::Map(entries)
        })
        .collect();
    let prefixes: Vec<R> = if def.prefixes.is_empty() {
        vec![bulk("")]
    } else {
        def.prefixes.iter().map(bulk).collect()
    };
    let vector_bytes = data.vector_memory();
    let doc_bytes = data.doc_memory();
    let (index_cursors, global_cursors) = cursor::with(|s| {
        s.sweep(std::time::Instant::now());
        s.counts(index)
    });
    let num_docs = data.num_docs();
    let mut m = vec![
        ("index_name", bulk(&def.name)),
        ("index_options", R::Arr(Vec::new())),
        ("index_definition", R::Map(index_definition(def, prefixes))),
        ("attributes", R::Arr(attributes)),
        ("num_docs", R::Int(num_docs as i64)),
        ("max_doc_id", R::Int(data.max_doc_id() as i64)),
        ("num_terms", R::Int(data.num_terms() as i64)),
        ("num_records", R::Int(num_docs as i64)),
        ("inverted_sz_mb", mb(0)),
        ("vector_index_sz_mb", mb(vector_bytes)),
        ("total_inverted_index_blocks", R::Int(0)),
        ("offset_vectors_sz_mb", mb(0)),
        ("doc_table_size_mb", mb(doc_bytes)),
        ("sortable_values_size_mb", mb(0)),
        ("key_table_size_mb", mb(0)),
        ("tag_overhead_sz_mb", mb(0)),
        ("text_overhead_sz_mb", mb(0)),
        ("total_index_memory_sz_mb", mb(vector_bytes + doc_bytes)),
        ("geoshapes_sz_mb", mb(0)),
        (
            "records_per_doc_avg",
            R::Double(if num_docs > 0 { 1.0 } else { 0.0 }),
        ),
        ("bytes_per_record_avg", R::Double(0.0)),
        ("offsets_per_term_avg", R::Double(0.0)),
        ("offset_bits_per_record_avg", R::Double(0.0)),
        ("hash_indexing_failures", R::Int(data.failures.count as i64)),
        (
            "total_indexing_time",
            R::Double(index.indexing_ms.load(Ordering::Relaxed) as f64),
        ),
        (
            "indexing",
            R::Int(index.indexing.load(Ordering::Relaxed) as i64),
        ),
        (
            "percent_indexed",
            R::Double(index.progress_ppm.load(Ordering::Relaxed) as f64 / 1e6),
        ),
        (
            "number_of_uses",
            R::Int(index.uses.load(Ordering::Relaxed) as i64),
        ),
        ("cleaning", R::Int(0)),
        (
            "gc_stats",
            R::Map(vec![
                ("bytes_collected", R::Int(0)),
                ("total_ms_run", R::Int(0)),
                ("total_cycles", R::Int(0)),
                ("average_cycle_time_ms", bulk("nan")),
                ("last_run_time_ms", R::Int(0)),
                ("gc_numeric_trees_missed", R::Int(0)),
                ("gc_blocks_denied", R::Int(0)),
            ]),
        ),
        (
            "cursor_stats",
            R::Map(vec![
                ("global_idle", R::Int(0)),
                ("global_total", R::Int(global_cursors as i64)),
                ("index_capacity", R::Int(cursor::PER_INDEX as i64)),
                ("index_total", R::Int(index_cursors as i64)),
            ]),
        ),
    ];
    if let Some(words) = &def.stopwords {
        m.push(("stopwords_list", R::Arr(words.iter().map(bulk).collect())));
    }
    m.push((
        "dialect_stats",
        R::Map(vec![
            ("dialect_1", R::Int(0)),
            ("dialect_2", R::Int(0)),
            ("dialect_3", R::Int(0)),
            ("dialect_4", R::Int(0)),
        ]),
    ));
    m.push(("Index Errors", error_map(&data.failures)));
    let fields: Vec<R> = def
        .fields
        .iter()
        .zip(&data.field_failures)
        .map(|(f, fail)| {
            R::Arr(vec![
                R::Simple("identifier"),
                bulk(&f.identifier),
                R::Simple("attribute"),
                bulk(&f.name),
                R::Simple("Index Errors"),
                error_map(fail),
            ])
        })
        .collect();
    m.push(("field statistics", R::Arr(fields)));
    // Not RediSearch's: HNSW deletes leave tombstones until the index is rebuilt.
    m.push(("vector_tombstones", R::Int(data.tombstones() as i64)));
    R::Map(m)
}

// ---------------------------------------------------------------------------------------------
// FT.SEARCH

/// The documents of `data` that `user` may read, within `within` (INKEYS) when given: what a
/// search by a user whose key patterns hide some keys is narrowed to, so that the documents it
/// may not read are neither returned nor counted.
pub(crate) fn readable_keys(
    data: &IndexData,
    user: &AclUser,
    within: Option<&HashSet<Vec<u8>>>,
) -> HashSet<Vec<u8>> {
    data.keys()
        .filter(|k| user.may_read(k))
        .filter(|k| within.map_or(true, |s| s.contains(*k)))
        .map(<[u8]>::to_vec)
        .collect()
}

/// Searches estimated below this much work (see `IndexData::estimated_work`: about 2M
/// multiply-adds, roughly 100-200 µs) run inline on the main thread. Measured on the 2-core
/// development VM, a hand-off to a search thread and back cost ~300 µs of latency against
/// ~30 µs for an unfiltered HNSW KNN at EF_RUNTIME 10 over 100k x 128; larger searches (FLAT
/// over many vectors, filters over many documents, range queries on large indexes) go to the
/// search threads so the main thread is never held long.
pub(crate) const INLINE_WORK: u64 = 2 << 20;

pub fn search(ctx: &Ctx, args: &Args) -> AiResult<()> {
    if args.len() < 3 {
        return Err(AiError::WrongArity);
    }
    let name = args.bytes(1);
    let Some(index) = find(name) else {
        return Err(SearchError::NoSuchIndex(lossy(name)).into());
    };
    let words: Vec<&[u8]> = (2..args.len()).map(|i| args.bytes(i)).collect();
    let SearchRequest {
        request: mut req,
        presentation,
    } = request::parse(&index.def, &words, ctx.is_resp3())?;
    index.uses.fetch_add(1, Ordering::Relaxed);
    {
        let data = index.read();
        if let Some(user) = AclUser::restricted(ctx)? {
            req.in_keys = Some(readable_keys(&data, &user, req.in_keys.as_ref()));
        }
        if !ctx.may_block() || data.estimated_work(&index.def, &req) <= INLINE_WORK {
            let outcome = data.search(&index.def, &req);
            drop(data);
            reply_search(ctx, &presentation, outcome);
            return Ok(());
        }
    }
    let fallback = SearchReply {
        presentation,
        outcome: Err(SearchError::DidNotRun),
    };
    // Dropping the handle unblocks the client with whatever reply it holds, so a search that
    // panics still answers.
    let mut blocked = Blocked::block(ctx, fallback);
    let job = move || {
        blocked.pending().outcome = index.read().search(&index.def, &req);
    };
    if let Err(refused) = crate::search::pool::spawn(job) {
        // No search thread exists and none would start: search here rather than leave the
        // client blocked. The job drops `blocked`, which unblocks it as from a thread.
        if refused.worth_logging() {
            log(
                Level::Warning,
                &format!("{refused}; FT.SEARCH runs on the main thread"),
            );
        }
        refused.run_here();
    }
    Ok(())
}

struct SearchReply {
    presentation: Presentation,
    outcome: Result<Outcome, SearchError>,
}

impl Reply for SearchReply {
    const WHAT: &'static str = "FT.SEARCH";
    fn reply(self, ctx: &Ctx) {
        reply_search(ctx, &self.presentation, self.outcome);
    }
}

/// One document as it will be shown.
pub(crate) struct Shown {
    pub key: Vec<u8>,
    pub score: f64,
    pub payload: Option<Vec<u8>>,
    /// Name and value; a `None` value is a JSON null, replied as a null.
    pub fields: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

/// A JSON document's fields as RediSearch 2.10 returns them: the whole document as `$`, or
/// each RETURN name (a schema field or a JSONPath) read through RedisJSON. Up to DIALECT 2 a
/// field shows its first value (a string bare, anything else as JSON text); from DIALECT 3 the
/// JSON array of all its values.
fn load_json_document(ctx: &Ctx, p: &Presentation, hit: &Hit) -> Option<Shown> {
    let raw = ctx.raw_ctx();
    let name = OwnedString::new(&hit.key);
    // A document deleted (or no longer JSON) after the search ran is left out of the page.
    let doc = json::api(raw)?.open(raw, name.as_ptr())?;
    let shown_value = |found: &[json::Node]| -> Option<Option<Vec<u8>>> {
        if p.dialect >= 3 {
            if found.is_empty() {
                return None;
            }
            let mut out = b"[".to_vec();
            for (i, n) in found.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend(n.json_text());
            }
            out.push(b']');
            return Some(Some(out));
        }
        let first = found.first()?;
        Some(match first.kind() {
            Kind::String(_) => Some(first.string()?.to_vec()),
            Kind::Null => None,
            // RediSearch shows a boolean as its numeric value.
            Kind::Bool(b) => Some(if b { b"1".to_vec() } else { b"0".to_vec() }),
            _ => Some(first.json_text()),
        })
    };
    let mut fields = Vec::new();
    if !p.nocontent {
        match &p.fields {
            Some(list) => {
                // RediSearch loads SORTBY's field first: returned, it comes first.
                let sort_name = p.sort_shown.as_ref().map(|(n, _)| n.as_str());
                let ordered = list
                    .iter()
                    .filter(|(n, _)| Some(n.as_str()) == sort_name)
                    .chain(list.iter().filter(|(n, _)| Some(n.as_str()) != sort_name));
                for (name, shown) in ordered {
                    if let Some((_, d)) = hit.distances.iter().find(|(n, _)| n == name) {
                        fields.push((
                            shown.as_bytes().to_vec(),
                            Some(format_score(*d).into_bytes()),
                        ));
                        continue;
                    }
                    let path = match p.identifiers.get(name) {
                        Some(ident) => crate::search::json::path_of(ident),
                        // RediSearch returns nothing for a name that is neither.
                        None if name.starts_with('$') => name.clone(),
                        None => continue,
                    };
                    if let Some(v) = shown_value(&doc.select(&path)) {
                        fields.push((shown.as_bytes().to_vec(), v));
                    }
                }
            }
            None => {
                for (n, d) in &hit.distances {
                    fields.push((n.as_bytes().to_vec(), Some(format_score(*d).into_bytes())));
                }
                // The sort key RediSearch keeps for a SORTABLE field, shown before `$`.
                let sorted_by = p.sort_shown.as_ref().and_then(|(name, sortable)| {
                    let found = doc.select(&crate::search::json::path_of(p.identifiers.get(name)?));
                    let value = match found.first()?.kind() {
                        Kind::Number(n) => Some(format_score(n).into_bytes()),
                        Kind::String(s) => Some(s.into_bytes()),
                        Kind::Null if !sortable => None,
                        _ => return None,
                    };
                    Some((name.as_bytes().to_vec(), value))
                });
                fields.extend(sorted_by);
                if let Some(v) = shown_value(&[doc.root()]) {
                    fields.push((b"$".to_vec(), v));
                }
            }
        }
    }
    Some(Shown {
        key: hit.key.clone(),
        score: hit.score,
        payload: hit.payload.clone(),
        fields,
    })
}

pub(crate) fn load_document(
    ctx: &Ctx,
    p: &Presentation,
    hit: &Hit,
) -> Result<Option<Shown>, SearchError> {
    if p.json {
        return Ok(load_json_document(ctx, p, hit));
    }
    let name = OwnedString::new(&hit.key);
    let key = ctx.open_key(name.as_ptr(), false);
    // A document deleted after the search ran is left out of the page.
    if !key.is_hash() {
        return Ok(None);
    }
    let hl = p.highlight.as_ref();
    let mut fields = Vec::new();
    if !p.nocontent {
        match &p.fields {
            Some(list) => {
                for (name, shown) in list {
                    if let Some((_, d)) = hit.distances.iter().find(|(n, _)| n == name) {
                        fields.push((
                            shown.as_bytes().to_vec(),
                            Some(format_score(*d).into_bytes()),
                        ));
                        continue;
                    }
                    let ident = p
                        .identifiers
                        .get(name)
                        .cloned()
                        .unwrap_or_else(|| name.as_bytes().to_vec());
                    if p.hidden.contains(&ident) {
                        continue;
                    }
                    if let Some(v) = key.hash_get(&ident) {
                        let mut v = v.bytes().to_vec();
                        if let Some(spec) = hl {
                            if let Some(h) = spec.render(name.as_bytes(), true, &v, &hit.terms)? {
                                v = h;
                            }
                        }
                        fields.push((shown.as_bytes().to_vec(), Some(v)));
                    }
                }
            }
            None => {
                for (n, d) in &hit.distances {
                    fields.push((n.as_bytes().to_vec(), Some(format_score(*d).into_bytes())));
                }
                let mut all: Vec<(Vec<u8>, Vec<u8>)> = key
                    .hash_fields()
                    .into_iter()
                    .filter(|(k, _)| !p.hidden.contains(k))
                    .collect();
                if let Some(spec) = hl {
                    // RediSearch shows the fields FIELDS names first, in that order.
                    let rank = |k: &[u8]| {
                        spec.fields
                            .iter()
                            .position(|(n, _)| {
                                p.identifiers.get(n).map_or(n.as_bytes(), |i| i.as_slice()) == k
                            })
                            .unwrap_or(usize::MAX)
                    };
                    all.sort_by_key(|(k, _)| rank(k));
                    for (k, v) in &mut all {
                        if let Some(h) = spec.render(k, false, v, &hit.terms)? {
                            *v = h;
                        }
                    }
                }
                fields.extend(all.into_iter().map(|(k, v)| (k, Some(v))));
            }
        }
    }
    Ok(Some(Shown {
        key: hit.key.clone(),
        score: hit.score,
        payload: hit.payload.clone(),
        fields,
    }))
}

fn reply_search(ctx: &Ctx, p: &Presentation, outcome: Result<Outcome, SearchError>) {
    let outcome = match outcome {
        Ok(o) if o.timed_out && crate::search::config::fail_on_timeout() => {
            return ctx.reply_error(&SearchError::TimedOut.to_string())
        }
        Ok(o) => o,
        Err(e) => return ctx.reply_error(&e.to_string()),
    };
    let shown: Vec<Shown> = if p.count_only {
        Vec::new()
    } else {
        let loaded: Result<Vec<Option<Shown>>, SearchError> = outcome
            .hits
            .iter()
            .map(|h| load_document(ctx, p, h))
            .collect();
        match loaded {
            Ok(docs) => docs.into_iter().flatten().collect(),
            Err(e) => return ctx.reply_error(&e.to_string()),
        }
    };
    ctx.reply(&shown_reply(
        p,
        outcome.total as i64,
        shown,
        outcome.timed_out,
    ));
}

/// FT.SEARCH's reply for documents already read (here, or by the shards of a cluster).
pub(crate) fn reply_shown(ctx: &Ctx, p: &Presentation, total: i64, shown: Vec<Shown>) {
    ctx.reply(&shown_reply(p, total, shown, false));
}

/// `timed_out`: the search stopped at its deadline, which RESP3 says in `warning` (RESP2 has
/// no place for it: RediSearch sends the partial answer alone).
fn shown_reply(p: &Presentation, total: i64, shown: Vec<Shown>, timed_out: bool) -> R<'static> {
    if p.resp3 {
        let results: Vec<R> = shown
            .into_iter()
            .map(|s| {
                let mut m = vec![("id", R::Bulk(s.key.into()))];
                if p.withscores {
                    m.push(("score", R::Double(s.score)));
                }
                if p.withpayloads {
                    m.push(("payload", s.payload.map_or(R::Null, |v| R::Bulk(v.into()))));
                }
                if !p.nocontent {
                    m.push(("extra_attributes", R::Pairs(s.fields)));
                }
                m.push(("values", R::Arr(Vec::new())));
                R::Map(m)
            })
            .collect();
        return R::Map(vec![
            ("attributes", R::Arr(Vec::new())),
            ("format", R::Simple("STRING")),
            ("results", R::Arr(results)),
            ("total_results", R::Int(total)),
            ("warning", warnings(timed_out)),
        ]);
    }
    let mut out = vec![R::Int(total)];
    for s in shown {
        out.push(R::Bulk(s.key.into()));
        if p.withscores {
            out.push(R::Double(s.score));
        }
        if p.withpayloads {
            out.push(s.payload.map_or(R::Null, |v| R::Bulk(v.into())));
        }
        if !p.nocontent {
            out.push(R::Arr(
                s.fields
                    .into_iter()
                    .flat_map(|(k, v)| {
                        [R::Bulk(k.into()), v.map_or(R::Null, |v| R::Bulk(v.into()))]
                    })
                    .collect(),
            ));
        }
    }
    R::Arr(out)
}

// ---------------------------------------------------------------------------------------------
// FT.DEBUG

/// `FT.DEBUG TTL <index>`: the whole seconds a TEMPORARY index has left before it is
/// dropped for idleness (what redis-py's tests ask). RediSearch's other debug subcommands
/// inspect its own structures and are unknown here.
pub fn debug(ctx: &Ctx, args: &Args) -> AiResult<()> {
    if args.len() < 2 {
        return Err(AiError::WrongArity);
    }
    let sub = args.bytes(1);
    if !sub.eq_ignore_ascii_case(b"TTL") {
        ctx.reply_error(&format!(
            "ERR unknown subcommand '{}'. Try FT.DEBUG HELP.",
            lossy(sub)
        ));
        return Ok(());
    }
    if args.len() < 3 {
        ctx.reply_error("ERR wrong number of arguments for 'FT.DEBUG|TTL' command");
        return Ok(());
    }
    // Asking is not using: the idle time goes on.
    let index = std::str::from_utf8(args.bytes(2))
        .ok()
        .and_then(|n| registry().get(n))
        .ok_or(SearchError::UnknownIndex)?;
    let Some(left) = index.idle_left_ms() else {
        return Err(SearchError::NotTemporary.into());
    };
    ctx.reply(&R::Int((left / 1000) as i64));
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// FT.GET, FT.MGET

/// `FT.GET <index> <key>`: the document's fields, or a null when the index does not hold
/// it (deprecated in RediSearch, still sent by redis-py).
pub fn get(ctx: &Ctx, args: &Args) -> AiResult<()> {
    if args.len() != 3 {
        return Err(AiError::WrongArity);
    }
    let index = find(args.bytes(1)).ok_or(SearchError::UnknownIndexCapital)?;
    ctx.reply(&stored_document(ctx, &index, args.bytes(2))?);
    Ok(())
}

/// `FT.MGET <index> <key> [<key> …]`: FT.GET of each key, in one array.
pub fn mget(ctx: &Ctx, args: &Args) -> AiResult<()> {
    if args.len() < 3 {
        return Err(AiError::WrongArity);
    }
    let index = find(args.bytes(1)).ok_or(SearchError::UnknownIndexCapital)?;
    let docs: Result<Vec<R>, SearchError> = (2..args.len())
        .map(|i| stored_document(ctx, &index, args.bytes(i)))
        .collect();
    ctx.reply(&R::Arr(docs?));
    Ok(())
}

/// One document as FT.GET shows it: every field (a JSON document as `$`), as FT.SEARCH
/// without RETURN would; a null when `key` is not in the index.
fn stored_document(ctx: &Ctx, index: &Index, key: &[u8]) -> Result<R<'static>, SearchError> {
    if !index.read().contains(key) {
        return Ok(R::Null);
    }
    let p = request::parse(&index.def, &[b"*"], ctx.is_resp3())?.presentation;
    let hit = Hit {
        key: key.to_vec(),
        distances: Vec::new(),
        score: 0.0,
        payload: None,
        terms: Vec::new(),
    };
    Ok(match load_document(ctx, &p, &hit)? {
        Some(shown) => R::Arr(
            shown
                .fields
                .into_iter()
                .flat_map(|(k, v)| [R::Bulk(k.into()), v.map_or(R::Null, |v| R::Bulk(v.into()))])
                .collect(),
        ),
        None => R::Null,
    })
}

// ---------------------------------------------------------------------------------------------
// FT.PROFILE

/// What FT.PROFILE profiles.
pub(crate) struct ProfileTarget<'a> {
    pub aggregate: bool,
    pub index: Arc<Index>,
    /// The profiled command's words after the index name (from its query on).
    pub words: Vec<&'a [u8]>,
}

/// `FT.PROFILE <index> SEARCH|AGGREGATE [LIMITED] QUERY <query> [options…]`, checked: the
/// command's reply and, beside it, what the search did (see `search::profile`), in
/// RediSearch 2.10's layout. Runs on the main thread, timed stage by stage. LIMITED is
/// accepted: the tree here never lists more than the query's own clauses and their terms.
/// (FT.AGGREGATE's profile is `aggregate.rs`'s, which calls this for SEARCH.)
pub(crate) fn profile_target<'a>(args: &'a Args<'_>) -> AiResult<ProfileTarget<'a>> {
    if args.len() < 5 {
        return Err(AiError::WrongArity);
    }
    let kind = args.bytes(2).to_ascii_uppercase();
    if kind != b"SEARCH" && kind != b"AGGREGATE" {
        return Err(SearchError::ProfileNoCommand.into());
    }
    let mut i = 3;
    if args.bytes(i).eq_ignore_ascii_case(b"LIMITED") {
        i += 1;
    }
    if i >= args.len() || !args.bytes(i).eq_ignore_ascii_case(b"QUERY") {
        return Err(SearchError::ProfileNoQuery.into());
    }
    if i + 1 >= args.len() {
        return Err(SearchError::ProfileNoQueryString.into());
    }
    let name = args.bytes(1);
    let Some(index) = find(name) else {
        return Err(SearchError::NoSuchIndex(lossy(name)).into());
    };
    let words: Vec<&[u8]> = (i + 1..args.len()).map(|j| args.bytes(j)).collect();
    Ok(ProfileTarget {
        aggregate: kind == b"AGGREGATE",
        index,
        words,
    })
}

pub(crate) fn profile_search(
    ctx: &Ctx,
    index: &Index,
    words: &[&[u8]],
    started: Instant,
) -> AiResult<()> {
    let t = Instant::now();
    let SearchRequest {
        request: mut req,
        presentation: p,
    } = request::parse(&index.def, words, ctx.is_resp3())?;
    let parse_ms = ms_since(t);
    index.uses.fetch_add(1, Ordering::Relaxed);
    let profiled = {
        let data = index.read();
        if let Some(user) = AclUser::restricted(ctx)? {
            req.in_keys = Some(readable_keys(&data, &user, req.in_keys.as_ref()));
        }
        data.profile(&index.def, &req)
    };
    let (outcome, iters, mut stages) = profiled?;
    let t = Instant::now();
    let shown: Vec<Shown> = if p.count_only {
        Vec::new()
    } else {
        let loaded: Result<Vec<Option<Shown>>, SearchError> = outcome
            .hits
            .iter()
            .map(|h| load_document(ctx, &p, h))
            .collect();
        loaded?.into_iter().flatten().collect()
    };
    if !p.nocontent {
        stages.push(crate::search::profile::Stage {
            name: "Loader",
            time_ms: ms_since(t),
            counter: shown.len() as u64,
        });
    }
    let plan_ms = stages.first().map_or(0.0, |s| s.time_ms);
    let results = shown_reply(&p, outcome.total as i64, shown, outcome.timed_out);
    let resp3 = ctx.is_resp3();
    let clock = search_config::print_profile_clock();
    let time = |v: f64| R::Double(if clock { v } else { 0.0 });
    let processors: Vec<R> = stages
        .iter()
        .map(|s| {
            profile_map(
                resp3,
                vec![
                    ("Type", R::Simple(s.name)),
                    ("Time", time(s.time_ms)),
                    ("Counter", R::Int(s.counter as i64)),
                ],
            )
        })
        .collect();
    let total_ms = ms_since(started);
    let iterators = iter_reply(&iters, resp3, clock);
    let times = [total_ms, parse_ms, plan_ms].map(time);
    ctx.reply(&profile_reply(results, times, iterators, processors, resp3));
    Ok(())
}

/// FT.PROFILE's reply, SEARCH's and AGGREGATE's alike: the command's own reply, then the
/// profile (`times`: total, parsing, pipeline creation), as a map in RESP3 and pairs in RESP2.
pub(crate) fn profile_reply(
    results: R<'static>,
    times: [R<'static>; 3],
    iterators: R<'static>,
    processors: Vec<R<'static>>,
    resp3: bool,
) -> R<'static> {
    let [total, parse, plan] = times;
    if resp3 {
        let R::Map(mut m) = results else {
            return results;
        };
        m.push((
            "profile",
            R::Map(vec![
                ("Total profile time", total),
                ("Parsing time", parse),
                ("Pipeline creation time", plan),
                ("Warning", R::Simple("None")),
                ("Iterators profile", R::Arr(vec![iterators])),
                ("Result processors profile", R::Arr(processors)),
            ]),
        ));
        return R::Map(m);
    }
    let pair = |k: &'static str, v: R<'static>| R::Arr(vec![R::Simple(k), v]);
    let mut procs = vec![R::Simple("Result processors profile")];
    procs.extend(processors);
    R::Arr(vec![
        results,
        R::Arr(vec![
            pair("Total profile time", total),
            pair("Parsing time", parse),
            pair("Pipeline creation time", plan),
            R::Arr(vec![R::Simple("Warning")]),
            pair("Iterators profile", iterators),
            R::Arr(procs),
        ]),
    ])
}

pub(crate) fn ms_since(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

/// A profile entry: a map in RESP3, a flat list of names and values in RESP2.
pub(crate) fn profile_map(resp3: bool, entries: Vec<(&'static str, R<'static>)>) -> R<'static> {
    if resp3 {
        return R::Map(entries);
    }
    R::Arr(
        entries
            .into_iter()
            .flat_map(|(k, v)| [R::Simple(k), v])
            .collect(),
    )
}

pub(crate) fn iter_reply(
    it: &crate::search::profile::Iter,
    resp3: bool,
    clock: bool,
) -> R<'static> {
    let mut e: Vec<(&'static str, R<'static>)> = vec![("Type", R::Simple(it.kind))];
    if let Some(q) = &it.query_type {
        e.push(("Query type", bulk(q)));
    }
    if let Some(t) = &it.term {
        e.push(("Term", bulk(t)));
    }
    e.push(("Time", R::Double(if clock { it.time_ms } else { 0.0 })));
    e.push(("Counter", R::Int(it.counter as i64)));
    if let Some(s) = it.size {
        e.push(("Size", R::Int(s as i64)));
    }
    for (k, v) in &it.extra {
        e.push((k, bulk(v)));
    }
    let children: Vec<R> = it
        .children
        .iter()
        .map(|c| iter_reply(c, resp3, clock))
        .collect();
    if it.single_child {
        if let Some(child) = children.into_iter().next() {
            e.push(("Child iterator", child));
        }
        return profile_map(resp3, e);
    }
    if children.is_empty() {
        return profile_map(resp3, e);
    }
    if resp3 {
        e.push(("Child iterators", R::Arr(children)));
        return R::Map(e);
    }
    // RESP2 lists the children after the name, each its own element.
    let mut flat: Vec<R> = e.into_iter().flat_map(|(k, v)| [R::Simple(k), v]).collect();
    flat.push(R::Simple("Child iterators"));
    flat.extend(children);
    R::Arr(flat)
}

/// A RESP3 reply's `warning` list: RediSearch's timeout text when the search was cut short.
pub(crate) fn warnings(timed_out: bool) -> R<'static> {
    R::Arr(if timed_out {
        vec![R::Simple(crate::search::error::TIMEOUT_REACHED)]
    } else {
        Vec::new()
    })
}
