//! FT.CREATE, FT.SEARCH, FT.INFO, FT.DROPINDEX, FT._LIST: RediSearch's commands over the
//! indexes in `search/`, with RediSearch 2.10's replies in RESP2 and RESP3.
//!
//! FT.SEARCH parses on the main thread, runs the search on a search thread (the client is
//! blocked meanwhile), and reads the documents and replies on the main thread. Inside MULTI or
//! Lua, where a client cannot block, the search runs inline.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use redis_module::raw;

use super::search_sync::start_scan;
use crate::config;
use crate::error::{AiError, AiResult};
use crate::redis::{bulk, AclUser, Args, Blocked, Ctx, OwnedString, Reply, R};
use crate::search::index::{format_score, Hit, Outcome, Request, SortBy};
use crate::search::schema::{Algorithm, FieldKind};
use crate::search::{query, registry, schema, Index};

fn err(text: impl Into<String>) -> AiError {
    AiError::Search(text.into())
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Index names are UTF-8 (FT.CREATE refuses others), so other bytes name no index.
fn find(name: &[u8]) -> Option<Arc<Index>> {
    registry().get(std::str::from_utf8(name).ok()?)
}

// ---------------------------------------------------------------------------------------------
// FT.CREATE

pub fn create(ctx: &Ctx, args: &Args) -> AiResult<()> {
    if args.len() < 2 {
        return Err(AiError::WrongArity);
    }
    let name = args.bytes(1);
    if find(name).is_some() {
        return Err(err("Index already exists"));
    }
    let replicated = ctx.flags() & raw::REDISMODULE_CTX_FLAGS_REPLICATED != 0;
    if !replicated && config::pure_aof(ctx) {
        return Err(err(
            "vector indexes need aof-use-rdb-preamble yes when appendonly is on (their \
             definitions live in the RDB preamble; a plain AOF rewrite would lose them)",
        ));
    }
    let words: Vec<&[u8]> = (2..args.len()).map(|i| args.bytes(i)).collect();
    let def = schema::parse_create(name, &words).map_err(err)?;
    let skip_scan = def.skip_initial_scan;
    let index = Arc::new(Index::new(def));
    registry().insert(index.clone());
    if !skip_scan {
        start_scan(ctx.raw_ctx(), &index);
    }
    ctx.replicate_verbatim();
    ctx.reply_ok();
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
        3 => return Err(err(format!("Unknown argument `{}`", lossy(args.bytes(2))))),
        _ => false,
    };
    let removed = std::str::from_utf8(args.bytes(1))
        .ok()
        .and_then(|n| registry().remove(n));
    let Some(index) = removed else {
        return Err(err("Unknown index name"));
    };
    if delete_docs {
        let keys: Vec<Vec<u8>> = index.read().keys().map(<[u8]>::to_vec).collect();
        for key in keys {
            let name = OwnedString::new(&key);
            ctx.open_key(name.as_ptr(), true).delete();
        }
    }
    ctx.replicate_verbatim();
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
        return Err(err("Unknown index name"));
    };
    ctx.reply(&info_reply(&index));
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

fn info_reply(index: &Index) -> R<'static> {
    let def = &index.def;
    let data = index.read();
    let attributes: Vec<R> = def
        .fields
        .iter()
        .map(|f| {
            let mut a = vec![
                R::Simple("identifier"),
                bulk(&f.identifier),
                R::Simple("attribute"),
                bulk(&f.name),
                R::Simple("type"),
                R::Simple(f.kind.type_name()),
            ];
            match &f.kind {
                FieldKind::Text { weight, nostem } => {
                    a.extend([R::Simple("WEIGHT"), bulk(format_score(*weight))]);
                    if *nostem {
                        a.push(R::Simple("NOSTEM"));
                    }
                }
                FieldKind::Tag {
                    separator,
                    case_sensitive,
                } => {
                    a.extend([R::Simple("SEPARATOR"), bulk([*separator])]);
                    if *case_sensitive {
                        a.push(R::Simple("CASESENSITIVE"));
                    }
                }
                FieldKind::Numeric => {}
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
            for (on, flag) in [
                (f.sortable, "SORTABLE"),
                (f.unf, "UNF"),
                (f.noindex, "NOINDEX"),
                (f.suffix_trie, "WITHSUFFIXTRIE"),
                (f.index_empty, "INDEXEMPTY"),
                (f.index_missing, "INDEXMISSING"),
            ] {
                if on {
                    a.push(R::Simple(flag));
                }
            }
            R::Arr(a)
        })
        .collect();
    let prefixes: Vec<R> = if def.prefixes.is_empty() {
        vec![bulk("")]
    } else {
        def.prefixes.iter().map(bulk).collect()
    };
    let vector_bytes = data.vector_memory();
    let doc_bytes = data.doc_memory();
    let num_docs = data.num_docs();
    let mut m = vec![
        ("index_name", bulk(&def.name)),
        ("index_options", R::Arr(Vec::new())),
        (
            "index_definition",
            R::Map(vec![
                ("key_type", R::Simple("HASH")),
                ("prefixes", R::Arr(prefixes)),
                ("default_score", bulk(format_score(def.default_score))),
            ]),
        ),
        ("attributes", R::Arr(attributes)),
        ("num_docs", R::Int(num_docs as i64)),
        ("max_doc_id", R::Int(data.max_doc_id() as i64)),
        ("num_terms", R::Int(0)),
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
                ("global_total", R::Int(0)),
                ("index_capacity", R::Int(128)),
                ("index_total", R::Int(0)),
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

/// How the documents are shown, decided at parse time and applied when replying.
struct Presentation {
    nocontent: bool,
    withscores: bool,
    /// RETURN: (name, shown as); `None` returns every field.
    fields: Option<Vec<(String, String)>>,
    resp3: bool,
    /// Schema field name → hash field, for RETURN of an aliased field.
    identifiers: HashMap<String, Vec<u8>>,
    count_only: bool,
}

fn parse_count(words: &[&[u8]], at: usize, what: &str) -> AiResult<usize> {
    let w = words
        .get(at)
        .ok_or_else(|| err(format!("Bad arguments for {what}: missing count")))?;
    std::str::from_utf8(w)
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
        .filter(|&n| n <= words.len())
        .ok_or_else(|| err(format!("Bad arguments for {what}: invalid count")))
}

fn parse_search(index: &Index, words: &[&[u8]], resp3: bool) -> AiResult<(Request, Presentation)> {
    let query_text = words[0];
    let mut p = Presentation {
        nocontent: false,
        withscores: false,
        fields: None,
        resp3,
        identifiers: index
            .def
            .fields
            .iter()
            .map(|f| (f.name.clone(), f.identifier.clone()))
            .collect(),
        count_only: false,
    };
    let mut sort = None;
    let (mut offset, mut count) = (0usize, 10usize);
    let mut params: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
    let mut legacy_filters: Vec<(Vec<u8>, Vec<u8>, Vec<u8>)> = Vec::new();
    let mut in_keys: Option<HashSet<Vec<u8>>> = None;
    let mut i = 1;
    let number = |at: usize, what: &str| -> AiResult<usize> {
        words
            .get(at)
            .and_then(|w| std::str::from_utf8(w).ok())
            .and_then(|s| s.parse::<usize>().ok())
            .ok_or_else(|| err(format!("Bad arguments for {what}")))
    };
    while i < words.len() {
        let w = words[i].to_ascii_uppercase();
        i += 1;
        match w.as_slice() {
            b"NOCONTENT" => p.nocontent = true,
            b"WITHSCORES" => p.withscores = true,
            b"VERBATIM" | b"NOSTOPWORDS" | b"INORDER" | b"WITHPAYLOADS" | b"WITHSORTKEYS"
            | b"EXPLAINSCORE" => {}
            b"SLOP" | b"TIMEOUT" | b"LANGUAGE" | b"EXPANDER" | b"SCORER" | b"PAYLOAD" => {
                if i >= words.len() {
                    return Err(err(format!("Bad arguments for {}", lossy(&w))));
                }
                i += 1;
            }
            b"DIALECT" => {
                let d = number(i, "DIALECT")?;
                if !(1..=4).contains(&d) {
                    return Err(err("DIALECT requires a non negative integer >=1 and <= 4"));
                }
                i += 1;
            }
            b"LIMIT" => {
                offset = number(i, "LIMIT")?;
                count = number(i + 1, "LIMIT")?;
                i += 2;
            }
            b"SORTBY" => {
                let name = words
                    .get(i)
                    .ok_or_else(|| err("Bad arguments for SORTBY"))?;
                let name = lossy(name.strip_prefix(b"@").unwrap_or(name));
                i += 1;
                let mut ascending = true;
                if let Some(dir) = words.get(i) {
                    if dir.eq_ignore_ascii_case(b"ASC") {
                        i += 1;
                    } else if dir.eq_ignore_ascii_case(b"DESC") {
                        ascending = false;
                        i += 1;
                    }
                }
                sort = Some(SortBy { name, ascending });
            }
            b"RETURN" => {
                let n = parse_count(words, i, "RETURN")?;
                i += 1;
                let end = i + n;
                if end > words.len() {
                    return Err(err("Bad arguments for RETURN: not enough fields"));
                }
                let mut fields = Vec::new();
                while i < end {
                    let name = lossy(words[i].strip_prefix(b"@").unwrap_or(words[i]));
                    i += 1;
                    let mut shown = name.clone();
                    if i + 1 < end + 1 && i < end && words[i].eq_ignore_ascii_case(b"AS") {
                        let alias = words
                            .get(i + 1)
                            .filter(|_| i + 1 < end)
                            .ok_or_else(|| err("Bad arguments for RETURN: AS needs a name"))?;
                        shown = lossy(alias);
                        i += 2;
                    }
                    fields.push((name, shown));
                }
                if fields.is_empty() {
                    p.nocontent = true;
                }
                p.fields = Some(fields);
            }
            b"PARAMS" => {
                let n = parse_count(words, i, "PARAMS")?;
                i += 1;
                if n % 2 != 0 || i + n > words.len() {
                    return Err(err(
                        "Bad arguments for PARAMS: expected an even number of arguments",
                    ));
                }
                for pair in words[i..i + n].chunks_exact(2) {
                    params.insert(pair[0].to_vec(), pair[1].to_vec());
                }
                i += n;
            }
            b"FILTER" => {
                if i + 3 > words.len() {
                    return Err(err("Bad arguments for FILTER"));
                }
                legacy_filters.push((
                    words[i].to_vec(),
                    words[i + 1].to_vec(),
                    words[i + 2].to_vec(),
                ));
                i += 3;
            }
            b"INKEYS" => {
                let n = parse_count(words, i, "INKEYS")?;
                i += 1;
                if i + n > words.len() {
                    return Err(err("Bad arguments for INKEYS: not enough keys"));
                }
                in_keys
                    .get_or_insert_with(HashSet::new)
                    .extend(words[i..i + n].iter().map(|k| k.to_vec()));
                i += n;
            }
            b"INFIELDS" => return Err(err("INFIELDS is not supported")),
            _ => return Err(err(format!("Unknown argument `{}`", lossy(words[i - 1])))),
        }
    }
    let mut text = query_text.to_vec();
    for (field, lo, hi) in &legacy_filters {
        // The legacy numeric FILTER is the same as an intersected range clause.
        text = [
            b"(".as_slice(),
            &text,
            b") @",
            field,
            b":[",
            lo,
            b" ",
            hi,
            b"]",
        ]
        .concat();
    }
    let query = query::parse(&text, &params, &index.def.fields).map_err(err)?;
    if let Some(sort) = &sort {
        if !sortable_name(&index.def, &query, &sort.name) {
            return Err(err(format!(
                "Property `{}` not loaded nor in schema",
                sort.name
            )));
        }
    }
    p.count_only = count == 0;
    Ok((
        Request {
            query,
            sort,
            offset,
            count,
            in_keys,
        },
        p,
    ))
}

/// Whether SORTBY may name `name`: a schema field, or a distance the query yields.
fn sortable_name(def: &schema::IndexDef, q: &query::Query, name: &str) -> bool {
    if def.field(name).is_some() {
        return true;
    }
    if let Some(knn) = &q.knn {
        let default = format!("__{}_score", def.fields[knn.field].name);
        if knn.alias.as_deref().unwrap_or(&default) == name {
            return true;
        }
    }
    q.filter
        .vector_ranges()
        .iter()
        .any(|e| matches!(e, query::Expr::VectorRange { yield_as: Some(a), .. } if a == name))
}

/// Searches estimated below this much work (see `IndexData::estimated_work`: about 2M
/// multiply-adds, roughly 100-200 µs) run inline on the main thread. Measured on the 2-core
/// development VM, a hand-off to a search thread and back cost ~300 µs of latency against
/// ~30 µs for an unfiltered HNSW KNN at EF_RUNTIME 10 over 100k x 128; larger searches (FLAT
/// over many vectors, filters over many documents, range queries on large indexes) go to the
/// search threads so the main thread is never held long.
const INLINE_WORK: u64 = 2 << 20;

pub fn search(ctx: &Ctx, args: &Args) -> AiResult<()> {
    if args.len() < 3 {
        return Err(AiError::WrongArity);
    }
    let name = args.bytes(1);
    let Some(index) = find(name) else {
        return Err(err(format!("{}: no such index", lossy(name))));
    };
    let words: Vec<&[u8]> = (2..args.len()).map(|i| args.bytes(i)).collect();
    let (mut req, presentation) = parse_search(&index, &words, ctx.is_resp3())?;
    index.uses.fetch_add(1, Ordering::Relaxed);
    {
        let data = index.read();
        if let Some(user) = AclUser::restricted(ctx)? {
            // Documents the user may not read are not there for this search: not returned,
            // not counted (like INKEYS, which they narrow further).
            let readable: HashSet<Vec<u8>> = data
                .keys()
                .filter(|k| user.may_read(k))
                .filter(|k| req.in_keys.as_ref().map_or(true, |s| s.contains(*k)))
                .map(<[u8]>::to_vec)
                .collect();
            req.in_keys = Some(readable);
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
        outcome: Err("ERR the search did not run".into()),
    };
    // Dropping the handle unblocks the client with whatever reply it holds, so a search that
    // panics still answers.
    let mut blocked = Blocked::block(ctx, fallback);
    crate::search::pool::spawn(move || {
        blocked.pending().outcome = index.read().search(&index.def, &req);
    });
    Ok(())
}

struct SearchReply {
    presentation: Presentation,
    outcome: Result<Outcome, String>,
}

impl Reply for SearchReply {
    const WHAT: &'static str = "FT.SEARCH";
    fn reply(self, ctx: &Ctx) {
        reply_search(ctx, &self.presentation, self.outcome);
    }
}

/// One document as it will be shown.
struct Shown {
    key: Vec<u8>,
    score: f64,
    fields: Vec<(Vec<u8>, Vec<u8>)>,
}

fn load_document(ctx: &Ctx, p: &Presentation, hit: &Hit) -> Option<Shown> {
    let name = OwnedString::new(&hit.key);
    let key = ctx.open_key(name.as_ptr(), false);
    // A document deleted after the search ran is left out of the page.
    if !key.is_hash() {
        return None;
    }
    let mut fields = Vec::new();
    if !p.nocontent {
        match &p.fields {
            Some(list) => {
                for (name, shown) in list {
                    if let Some((_, d)) = hit.distances.iter().find(|(n, _)| n == name) {
                        fields.push((shown.as_bytes().to_vec(), format_score(*d).into_bytes()));
                        continue;
                    }
                    let ident = p
                        .identifiers
                        .get(name)
                        .cloned()
                        .unwrap_or_else(|| name.as_bytes().to_vec());
                    if let Some(v) = key.hash_get(&ident) {
                        fields.push((shown.as_bytes().to_vec(), v.bytes().to_vec()));
                    }
                }
            }
            None => {
                for (n, d) in &hit.distances {
                    fields.push((n.as_bytes().to_vec(), format_score(*d).into_bytes()));
                }
                fields.extend(key.hash_fields());
            }
        }
    }
    Some(Shown {
        key: hit.key.clone(),
        score: hit.score,
        fields,
    })
}

fn reply_search(ctx: &Ctx, p: &Presentation, outcome: Result<Outcome, String>) {
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => return ctx.reply_error(&e),
    };
    let shown: Vec<Shown> = if p.count_only {
        Vec::new()
    } else {
        outcome
            .hits
            .iter()
            .filter_map(|h| load_document(ctx, p, h))
            .collect()
    };
    let total = outcome.total as i64;
    if p.resp3 {
        let results: Vec<R> = shown
            .into_iter()
            .map(|s| {
                let mut m = vec![("id", R::Bulk(s.key.into()))];
                if p.withscores {
                    m.push(("score", R::Double(s.score)));
                }
                if !p.nocontent {
                    m.push(("extra_attributes", R::Pairs(s.fields)));
                }
                m.push(("values", R::Arr(Vec::new())));
                R::Map(m)
            })
            .collect();
        ctx.reply(&R::Map(vec![
            ("attributes", R::Arr(Vec::new())),
            ("format", R::Simple("STRING")),
            ("results", R::Arr(results)),
            ("total_results", R::Int(total)),
            ("warning", R::Arr(Vec::new())),
        ]));
        return;
    }
    let mut out = vec![R::Int(total)];
    for s in shown {
        out.push(R::Bulk(s.key.into()));
        if p.withscores {
            out.push(bulk(format_score(s.score)));
        }
        if !p.nocontent {
            out.push(R::Arr(
                s.fields
                    .into_iter()
                    .flat_map(|(k, v)| [R::Bulk(k.into()), R::Bulk(v.into())])
                    .collect(),
            ));
        }
    }
    ctx.reply(&R::Arr(out));
}
