//! FT.SPELLCHECK (suggestions from an index's terms and FT.DICTADD dictionaries) and
//! FT.SYNUPDATE / FT.SYNDUMP (synonym groups of an index), with RediSearch 2.10's grammar,
//! replies and error texts.

use std::collections::{BTreeSet, HashMap};

use crate::error::{AiError, AiResult};
use crate::index_sync::start_scan;
use crate::redis::{bulk, Args, Ctx, R};
use crate::search::config as search_config;
use crate::search::error::SearchError;
use crate::search::query::{self, Expr, TextPattern};
use crate::search::spell::{self, Report};
use crate::search::{dictionaries, postings::Postings};

use super::search::find;
use super::suggest::double;

/// RediSearch's `RMUtil_ArgExists`: the first argument at or after `from` that is `word`
/// (any case); 0 when none is (position 0 never counts).
fn arg_position(args: &Args, word: &[u8], from: usize) -> usize {
    (from..args.len())
        .find(|&i| args.bytes(i).eq_ignore_ascii_case(word))
        .unwrap_or(0)
}

/// What FT.SPELLCHECK was asked, past its index and query.
struct Options {
    distance: usize,
    include: Vec<Vec<u8>>,
    exclude: Vec<Vec<u8>>,
    full_info: bool,
}

fn error(text: impl Into<String>) -> R<'static> {
    R::Error(text.into().into())
}

/// DIALECT is read first (before the index is looked up), as RediSearch does.
fn dialect(args: &Args) -> Result<u8, R<'static>> {
    let at = arg_position(args, b"DIALECT", 3);
    if at == 0 {
        return Ok(search_config::default_dialect());
    }
    if at + 1 >= args.len() {
        return Err(error("Need an argument for DIALECT"));
    }
    match crate::args::parse_i64(args.bytes(at + 1)) {
        Some(d @ 1..=4) => Ok(d as u8),
        _ => Err(error(SearchError::DialectRange.to_string())),
    }
}

/// DISTANCE and TERMS, found anywhere in the command as RediSearch looks for them.
fn options(args: &Args) -> Result<Options, R<'static>> {
    let mut o = Options {
        distance: 1,
        include: Vec::new(),
        exclude: Vec::new(),
        full_info: arg_position(args, b"FULLSCOREINFO", 0) != 0,
    };
    let at = arg_position(args, b"DISTANCE", 0);
    if at != 0 {
        if at + 1 >= args.len() {
            return Err(error("DISTANCE arg is given but no DISTANCE comes after"));
        }
        match crate::args::parse_i64(args.bytes(at + 1)) {
            Some(d @ 1..=4) => o.distance = d as usize,
            _ => {
                return Err(error(
                    "bad distance given, distance must be a natural number between 1 to 4",
                ))
            }
        }
    }
    let mut at = 0;
    loop {
        at = arg_position(args, b"TERMS", at + 1);
        if at == 0 {
            break;
        }
        if at + 2 >= args.len() {
            return Err(error("TERM arg is given but no TERM params comes after"));
        }
        let dict = args.bytes(at + 2).to_vec();
        let op = args.bytes(at + 1);
        if op.eq_ignore_ascii_case(b"INCLUDE") {
            o.include.push(dict);
        } else if op.eq_ignore_ascii_case(b"EXCLUDE") {
            o.exclude.push(dict);
        } else {
            // RediSearch 2.10's text, spelling included.
            return Err(error("bad format, exlude/include operation was not given"));
        }
    }
    Ok(o)
}

/// The query's terms in query order (negated and phrase terms too), each with the text mask
/// of its clause's fields.
fn query_terms(expr: &Expr, postings: &Postings, out: &mut Vec<(String, u64)>) {
    match expr {
        Expr::And(children) | Expr::Or(children) => {
            for c in children {
                query_terms(c, postings, out);
            }
        }
        Expr::Not(inner) => query_terms(inner, postings, out),
        Expr::Text { field, pattern } => {
            let mask = postings.field_mask(*field);
            match pattern {
                TextPattern::Term(t) => out.push((t.clone(), mask)),
                TextPattern::Phrase(words) => {
                    out.extend(words.iter().map(|w| (w.clone(), mask)));
                }
                _ => {}
            }
        }
        _ => {}
    }
}

/// `FT.SPELLCHECK index query [DISTANCE d] [TERMS INCLUDE|EXCLUDE dict]... [DIALECT n]`
pub fn spellcheck(ctx: &Ctx, args: &Args) -> AiResult<()> {
    if args.len() < 3 {
        return Err(AiError::WrongArity);
    }
    super::search_cluster::local_answer_is_whole(ctx, "FT.SPELLCHECK")?;
    let dialect = match dialect(args) {
        Ok(d) => d,
        Err(e) => {
            ctx.reply(&e);
            return Ok(());
        }
    };
    let Some(index) = find(args.bytes(1)) else {
        ctx.reply(&error("Unknown Index name"));
        return Ok(());
    };
    // Stopwords stay: RediSearch checks them like any other term.
    let parsed = query::parse_dialect(
        args.bytes(2),
        &HashMap::new(),
        &index.def.fields,
        dialect,
        Some(&[]),
    );
    let q = parsed?;
    let o = match options(args) {
        Ok(o) => o,
        Err(e) => {
            ctx.reply(&e);
            return Ok(());
        }
    };
    let dicts = dictionaries();
    let mut include: Vec<&BTreeSet<Vec<u8>>> = Vec::new();
    let mut exclude: Vec<&BTreeSet<Vec<u8>>> = Vec::new();
    for (names, sets) in [(&o.include, &mut include), (&o.exclude, &mut exclude)] {
        for name in names {
            match dicts.get(name) {
                Some(d) => sets.push(d),
                None => {
                    let text = format!("Dict does not exist: {}", String::from_utf8_lossy(name));
                    ctx.reply(&error(text));
                    return Ok(());
                }
            }
        }
    }
    let data = index.read();
    let postings = data.postings();
    // RediSearch's FULLSCOREINFO (for a coordinator) sends raw counts and the total.
    let docs = if o.full_info { 1 } else { data.doc_count() };
    let mut terms = Vec::new();
    query_terms(&q.filter, postings, &mut terms);
    let resp3 = ctx.is_resp3();
    let mut entries: Vec<(R, R)> = Vec::new();
    let mut lines: Vec<R> = Vec::new();
    if o.full_info && !resp3 {
        lines.push(R::Int(data.doc_count() as i64));
    }
    // A term repeated in the query is looked up once (each lookup reads the whole term
    // dictionary).
    let mut seen: HashMap<(String, u64), Option<Report>> = HashMap::new();
    for (term, mask) in terms {
        let report = seen
            .entry((term.clone(), mask))
            .or_insert_with(|| {
                spell::check(
                    postings,
                    &term,
                    mask,
                    o.distance,
                    &include,
                    &exclude,
                    o.full_info,
                )
            })
            .clone();
        let Some(report) = report else { continue };
        match report {
            Report::Found if resp3 => {
                entries.push((bulk(&term), error("term exists in index")));
            }
            Report::Found => lines.push(R::Arr(vec![
                R::Simple("TERM"),
                bulk(&term),
                R::Simple("term exists in index"),
            ])),
            Report::Suggestions(found) => {
                let shown = found
                    .into_iter()
                    .map(|(word, score)| (word, double(ctx, spell::shown(score, docs))));
                if resp3 {
                    let list = shown.map(|(w, s)| R::Dict(vec![(bulk(w), s)])).collect();
                    entries.push((bulk(&term), R::Arr(list)));
                } else {
                    let list = shown.map(|(w, s)| R::Arr(vec![s, bulk(w)])).collect();
                    lines.push(R::Arr(vec![R::Simple("TERM"), bulk(&term), R::Arr(list)]));
                }
            }
        }
    }
    if resp3 {
        let mut root = Vec::new();
        if o.full_info {
            root.push((bulk("total_docs"), R::Int(data.doc_count() as i64)));
        }
        root.push((bulk("results"), R::Dict(entries)));
        ctx.reply(&R::Dict(root));
    } else {
        ctx.reply(&R::Arr(lines));
    }
    Ok(())
}

/// `FT.SYNUPDATE index group [SKIPINITIALSCAN] term [term ...]`: adds the terms to the group.
/// Unless SKIPINITIALSCAN, the index's documents are indexed again so that those already
/// there match through the group too.
pub fn synupdate(ctx: &Ctx, args: &Args) -> AiResult<()> {
    if args.len() < 4 {
        return Err(AiError::WrongArity);
    }
    let Some(index) = find(args.bytes(1)) else {
        return Err(SearchError::UnknownIndex.into());
    };
    let skip = args.bytes(3).eq_ignore_ascii_case(b"SKIPINITIALSCAN");
    let group = String::from_utf8_lossy(args.bytes(2)).into_owned();
    let terms: Vec<String> = (if skip { 4 } else { 3 }..args.len())
        .map(|i| String::from_utf8_lossy(args.bytes(i)).into_owned())
        .collect();
    index
        .write()
        .synonyms_mut()
        .update(&group, terms.iter().map(String::as_str));
    if !skip {
        start_scan(ctx.raw_ctx(), &index);
    }
    ctx.reply_ok();
    ctx.replicate_verbatim();
    crate::cluster::catalog::after_local_ddl(ctx, args);
    Ok(())
}

/// `FT.SYNDUMP index`: each term with its groups (a map in RESP3).
pub fn syndump(ctx: &Ctx, args: &Args) -> AiResult<()> {
    if args.len() != 2 {
        return Err(AiError::WrongArity);
    }
    let Some(index) = find(args.bytes(1)) else {
        return Err(SearchError::UnknownIndex.into());
    };
    let data = index.read();
    let entries = data
        .postings()
        .synonyms
        .iter()
        .map(|(t, groups)| (bulk(t), R::Arr(groups.iter().map(bulk).collect())))
        .collect();
    ctx.reply(&R::Dict(entries));
    Ok(())
}

/// FT.SYNADD: gone since RediSearch 2.0; refused with its text.
pub fn synadd(ctx: &Ctx, _args: &Args) -> AiResult<()> {
    ctx.reply(&error("No longer suppoted, use FT.SYNUPDATE"));
    Ok(())
}
