//! FT.AGGREGATE: the argument grammar and the pipeline that runs over the documents a query
//! matched. Pure: the command layer runs the query (`IndexData::search`), reads each matching
//! document's fields into a row as [`Aggregate::loads`] says, and hands the rows to
//! [`Aggregate::run`].
//!
//! ```text
//! FT.AGGREGATE index query
//!     [VERBATIM] [ADDSCORES] [SCORER s] [TIMEOUT ms] [DIALECT d] [PARAMS n name value ...]
//!     [LOAD n @field [AS name] ... | LOAD *]
//!     [GROUPBY n @p ... [REDUCE fn nargs arg ... [AS name]] ...] ...
//!     [SORTBY n @p [ASC|DESC] ... [MAX m]] ...
//!     [APPLY expr [AS name]] ... [FILTER expr] ... [LIMIT offset count] ...
//!     [WITHCURSOR [COUNT n] [MAXIDLE ms]]
//! ```
//!
//! Steps run in the order written, as RediSearch's pipeline does. A row is a vector of slots
//! named by the current *lookup* (the names known at that point, in the order they became
//! known, which is the order a reply shows them in); GROUPBY starts a new lookup with its keys
//! and reducers. Names are resolved to slots while parsing, so a bad name fails before the
//! query runs, with RediSearch's texts.

pub mod cursor;
pub mod distribute;
pub mod expr;
pub mod functions;
pub mod hybrid;
pub mod reduce;
pub mod value;

use std::collections::HashMap;

use super::error::SearchError;
use super::index::Request;
use super::query;
use super::schema::{FieldKind, IndexDef, KeyType};
use super::score::Scorer;
use expr::Expr;
use reduce::{ReducerSpec, State};
use value::Value;

/// A row: one value per slot of the lookup it was made under (`None`: not there).
pub type Row = Vec<Option<Value>>;

/// Rows a GROUPBY may make; more groups fail the query rather than grow without bound.
pub const MAX_GROUPS: usize = 1_000_000;

/// Where a document's slot is filled from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    Key,
    Score,
    /// A distance the query yields (KNN's, or a VECTOR_RANGE's YIELD_DISTANCE_AS).
    Distance(String),
    /// A document field: its hash field name (or JSON path identifier), whether the schema
    /// makes it a number, whether it is lower-cased as RediSearch's sort vector keeps it.
    Field {
        ident: Vec<u8>,
        numeric: bool,
        normalize: bool,
    },
    /// Computed by APPLY, or filled by name from LOAD *.
    None,
}

#[derive(Debug, Clone)]
pub struct Load {
    pub slot: usize,
    pub source: Source,
}

#[derive(Debug)]
pub enum Step {
    Apply {
        expr: Expr,
        slot: usize,
    },
    Filter(Expr),
    Group(Group),
    Sort {
        keys: Vec<(usize, bool)>,
        max: usize,
    },
    Limit {
        offset: usize,
        count: usize,
    },
}

#[derive(Debug)]
pub struct Group {
    pub keys: Vec<usize>,
    pub reducers: Vec<ReducerSpec>,
    /// Width of the rows it makes (keys, then one slot per reducer).
    pub width: usize,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CursorSpec {
    pub count: Option<usize>,
    pub max_idle_ms: Option<u64>,
}

/// An FT.AGGREGATE command, parsed.
pub struct Aggregate {
    /// The query, asked for every match (paging is the pipeline's).
    pub request: Request,
    pub loads: Vec<Load>,
    /// LOAD *: every field of the document, each into the slot of its name.
    pub load_all: bool,
    /// The names of the first lookup's slots (LOAD * may add more while rows are read).
    pub doc_names: Vec<String>,
    pub steps: Vec<Step>,
    /// The names of the last lookup's slots, when a GROUPBY made it (else the first lookup's).
    pub final_names: Option<Vec<String>>,
    pub cursor: Option<CursorSpec>,
    pub json: bool,
    pub dialect: u8,
    pub timeout_ms: Option<u64>,
    /// A KNN query's k and the slot its distance is read into.
    pub knn: Option<(usize, usize)>,
}

/// The names a lookup knows, in the order they became known.
#[derive(Debug, Default, Clone)]
pub struct Lookup {
    pub names: Vec<String>,
    index: HashMap<String, usize>,
}

impl Lookup {
    pub fn get(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    pub fn add(&mut self, name: &str) -> usize {
        if let Some(s) = self.get(name) {
            return s;
        }
        self.names.push(name.to_string());
        self.index.insert(name.to_string(), self.names.len() - 1);
        self.names.len() - 1
    }

    pub fn from_names(names: &[String]) -> Lookup {
        let mut l = Lookup::default();
        for n in names {
            l.add(n);
        }
        l
    }
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn agg(text: impl Into<String>) -> SearchError {
    SearchError::Aggregate(text.into())
}

fn bad(option: &str, problem: &str) -> SearchError {
    agg(format!("Bad arguments for {option}: {problem}"))
}

const NO_ARG: &str = "Expected an argument, but none provided";
const NOT_CONVERTED: &str = "Could not convert argument to expected type";
const OUT_OF_BOUNDS: &str = "Value is outside acceptable bounds";

/// A count at `words[at]` for `option`, no larger than what is left.
fn count_at(words: &[&[u8]], at: usize, option: &str) -> Result<usize, SearchError> {
    let w = words.get(at).ok_or_else(|| bad(option, NO_ARG))?;
    let n = std::str::from_utf8(w)
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
        .ok_or_else(|| bad(option, NOT_CONVERTED))?;
    if at + 1 + n > words.len() {
        return Err(bad(option, NO_ARG));
    }
    Ok(n)
}

/// A positive number after COUNT or MAXIDLE.
fn positive(words: &[&[u8]], at: usize, option: &str) -> Result<u64, SearchError> {
    let w = words.get(at).ok_or_else(|| bad(option, NO_ARG))?;
    let n = std::str::from_utf8(w)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or_else(|| bad(option, NOT_CONVERTED))?;
    if n <= 0 {
        return Err(bad(option, OUT_OF_BOUNDS));
    }
    Ok(n as u64)
}

/// Parser state: the schema, the lookup being built, what the first stage loads.
struct Builder<'a> {
    def: &'a IndexDef,
    lookup: Lookup,
    /// Still the documents' lookup (no GROUPBY yet): schema fields can be loaded into it.
    first: bool,
    loads: Vec<Load>,
    load_all: bool,
    doc_names: Option<Vec<String>>,
}

/// How a name is being used, which decides what may be loaded for it and the error text.
#[derive(Clone, Copy, PartialEq)]
enum Use {
    /// GROUPBY keys and reducer arguments: a schema field is loaded.
    Group,
    /// SORTBY: a schema field is loaded.
    Sort,
    /// APPLY and FILTER: only what is loaded or sortable.
    Expr,
}

impl Builder<'_> {
    fn resolve(&mut self, name: &str, how: Use) -> Result<usize, SearchError> {
        if let Some(s) = self.lookup.get(name) {
            return Ok(s);
        }
        if self.first {
            if let Some(f) = self.def.field(name) {
                let field = &self.def.fields[f];
                if how != Use::Expr || field.sortable {
                    let slot = self.lookup.add(name);
                    self.loads.push(Load {
                        slot,
                        source: field_source(field, self.def.key_type, true),
                    });
                    return Ok(slot);
                }
            }
            if self.load_all {
                // LOAD * fills any field by name.
                return Ok(self.lookup.add(name));
            }
        }
        Err(match how {
            Use::Group => agg(format!("No such property `{name}`")),
            Use::Sort => SearchError::PropertyNotLoaded(name.to_string()),
            Use::Expr => agg(format!("Property `{name}` not loaded nor in pipeline")),
        })
    }
}

/// Where a schema field's value comes from. A sortable TEXT or TAG field reads as RediSearch's
/// sort vector keeps it (lower-cased, unless UNF) when `implicit` (not named by LOAD).
fn field_source(field: &super::schema::Field, key_type: KeyType, implicit: bool) -> Source {
    let numeric = matches!(field.kind, FieldKind::Numeric);
    let normalize = implicit
        && field.sortable
        && !field.unf
        && matches!(field.kind, FieldKind::Text { .. } | FieldKind::Tag { .. });
    let ident = match key_type {
        KeyType::Hash => field.identifier.clone(),
        KeyType::Json => field.identifier.clone(),
    };
    Source::Field {
        ident,
        numeric,
        normalize,
    }
}

/// A property argument: `@name` (or, where `bare` allows, `name`).
fn property(word: &[u8], option: &str, bare: bool) -> Result<String, SearchError> {
    match word.strip_prefix(b"@") {
        Some(name) => Ok(lossy(name)),
        None if bare => Ok(lossy(word)),
        None => Err(bad(
            option,
            &format!(
                "Unknown property `{}`. Did you mean `@{}`?",
                lossy(word),
                lossy(word)
            ),
        )),
    }
}

/// Parses FT.AGGREGATE's words after the index name (`words[0]` is the query).
pub fn parse(def: &IndexDef, words: &[&[u8]]) -> Result<Aggregate, SearchError> {
    parse_with(def, words, &[])
}

/// [`parse`], with `preset` fields first in every row (FT.HYBRID's key and scores).
pub fn parse_with(
    def: &IndexDef,
    words: &[&[u8]],
    preset: &[(String, Source)],
) -> Result<Aggregate, SearchError> {
    let Some(query_text) = words.first() else {
        return Err(agg("No query string provided"));
    };
    let mut b = Builder {
        def,
        lookup: Lookup::default(),
        first: true,
        loads: Vec::new(),
        load_all: false,
        doc_names: None,
    };
    let mut params: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
    let mut dialect = super::config::default_dialect();
    let mut verbatim = false;
    let mut scorer = Scorer::default();
    let mut add_scores = false;
    let mut timeout_ms = None;
    let mut timeout: Option<u64> = None;
    let mut cursor = None;
    // Steps are parsed as words first: their names can only be resolved once the query (and
    // with it the distances it yields) is known, and PARAMS / DIALECT may come last.
    let mut raw_steps: Vec<Raw> = Vec::new();
    let mut i = 1;
    while i < words.len() {
        let w = words[i].to_ascii_uppercase();
        let start = i;
        i += 1;
        match w.as_slice() {
            b"VERBATIM" => verbatim = true,
            b"ADDSCORES" => add_scores = true,
            b"NOSTOPWORDS" | b"INORDER" => {}
            b"SCORER" => {
                let name = words.get(i).ok_or_else(|| bad("SCORER", NO_ARG))?;
                scorer = Scorer::parse(name)?;
                i += 1;
            }
            b"TIMEOUT" => {
                let t = words
                    .get(i)
                    .ok_or_else(crate::search::request::timeout_missing)?;
                let ms = crate::search::request::parse_timeout(t)?;
                timeout = Some(ms);
                timeout_ms = Some(ms).filter(|&t| t > 0);
                i += 1;
            }
            b"DIALECT" => {
                let d = words
                    .get(i)
                    .and_then(|w| std::str::from_utf8(w).ok())
                    .and_then(|s| s.parse::<usize>().ok())
                    .ok_or_else(|| bad("DIALECT", NOT_CONVERTED))?;
                if !(1..=4).contains(&d) {
                    return Err(SearchError::DialectRange);
                }
                dialect = d as u8;
                i += 1;
            }
            b"PARAMS" => {
                let n = count_at(words, i, "PARAMS")?;
                i += 1;
                if n % 2 != 0 {
                    return Err(bad("PARAMS", "expected an even number of arguments"));
                }
                for pair in words[i..i + n].chunks_exact(2) {
                    params.insert(pair[0].to_vec(), pair[1].to_vec());
                }
                i += n;
            }
            b"WITHCURSOR" => {
                let mut spec = CursorSpec {
                    count: None,
                    max_idle_ms: None,
                };
                loop {
                    match words.get(i).map(|w| w.to_ascii_uppercase()) {
                        Some(o) if o == b"COUNT" => {
                            spec.count = Some(positive(words, i + 1, "COUNT")? as usize);
                            i += 2;
                        }
                        Some(o) if o == b"MAXIDLE" => {
                            spec.max_idle_ms = Some(positive(words, i + 1, "MAXIDLE")?);
                            i += 2;
                        }
                        _ => break,
                    }
                }
                cursor = Some(spec);
            }
            b"LOAD" => {
                let w = words.get(i).ok_or_else(|| bad("LOAD", NO_ARG))?;
                if *w == b"*" {
                    b.load_all = true;
                    i += 1;
                    continue;
                }
                let n = std::str::from_utf8(w)
                    .ok()
                    .and_then(|s| s.parse::<usize>().ok())
                    .filter(|&n| i + 1 + n <= words.len())
                    .ok_or_else(|| bad("LOAD", "SUCCESS"))?;
                i += 1;
                let end = i + n;
                let mut list = Vec::new();
                while i < end {
                    let name = lossy(words[i].strip_prefix(b"@").unwrap_or(words[i]));
                    i += 1;
                    let mut shown = name.clone();
                    if i + 1 < end + 1 && i < end && words[i].eq_ignore_ascii_case(b"AS") {
                        let alias = words
                            .get(i + 1)
                            .filter(|_| i + 1 < end)
                            .ok_or_else(|| bad("LOAD", "AS needs a name"))?;
                        shown = lossy(alias);
                        i += 2;
                    }
                    let source = match name.as_str() {
                        "__key" => Source::Key,
                        "__score" => Source::Score,
                        _ => match def.field(&name) {
                            Some(f) => field_source(&def.fields[f], def.key_type, false),
                            None => Source::Field {
                                ident: name.clone().into_bytes(),
                                numeric: false,
                                normalize: false,
                            },
                        },
                    };
                    list.push((shown, source));
                }
                // Named where it stands among the steps: a reply lists fields in the order
                // they became known.
                raw_steps.push(Raw::Load(list));
            }
            b"GROUPBY" | b"SORTBY" | b"APPLY" | b"FILTER" | b"LIMIT" => {
                i = step_end(words, start, &w)?;
                raw_steps.push(Raw::Step(start, i));
            }
            _ => {
                return Err(agg(format!(
                    "Unknown argument `{}` at position {} for <main>",
                    lossy(words[start]),
                    start
                )))
            }
        }
    }
    let query = query::parse_dialect(
        query_text,
        &params,
        &def.fields,
        dialect,
        def.stopwords.as_deref(),
    )?;
    // The distances the query yields come first in each row, then the score, then LOAD's.
    let mut first = Lookup::default();
    let mut loads = Vec::new();
    for (name, source) in preset {
        let slot = first.add(name);
        loads.push(Load {
            slot,
            source: source.clone(),
        });
    }
    let mut knn_slot = None;
    if let Some(knn) = &query.knn {
        let name = knn
            .alias
            .clone()
            .unwrap_or_else(|| format!("__{}_score", def.fields[knn.field].name));
        let slot = first.add(&name);
        loads.push(Load {
            slot,
            source: Source::Distance(name),
        });
        knn_slot = Some((knn.k, slot));
    }
    for e in query.filter.vector_ranges() {
        if let query::Expr::VectorRange {
            yield_as: Some(name),
            ..
        } = e
        {
            let slot = first.add(name);
            loads.push(Load {
                slot,
                source: Source::Distance(name.clone()),
            });
        }
    }
    if add_scores {
        let slot = first.add("__score");
        loads.push(Load {
            slot,
            source: Source::Score,
        });
    }
    for l in std::mem::take(&mut b.loads) {
        let name = b.lookup.names[l.slot].clone();
        if first.get(&name).is_some() {
            continue;
        }
        let slot = first.add(&name);
        loads.push(Load {
            slot,
            source: l.source,
        });
    }
    b.lookup = first;
    b.loads = loads;
    let mut steps = Vec::new();
    for (k, raw) in raw_steps.iter().enumerate() {
        let (start, end) = match raw {
            Raw::Step(start, end) => (*start, *end),
            Raw::Load(list) => {
                // After a GROUPBY there are no documents left to load from.
                if b.first {
                    for (shown, source) in list {
                        if b.lookup.get(shown).is_none() {
                            let slot = b.lookup.add(shown);
                            b.loads.push(Load {
                                slot,
                                source: source.clone(),
                            });
                        }
                    }
                }
                continue;
            }
        };
        let limit_after = match raw_steps.get(k + 1) {
            Some(Raw::Step(s, _)) if words[*s].eq_ignore_ascii_case(b"LIMIT") => {
                let n = |j: usize| {
                    words
                        .get(j)
                        .and_then(|w| std::str::from_utf8(w).ok())
                        .and_then(|s| s.parse::<usize>().ok())
                        .unwrap_or(0)
                };
                Some(n(s + 1).saturating_add(n(s + 2)))
            }
            _ => None,
        };
        steps.push(build_step(&mut b, &words[start..end], limit_after)?);
    }
    let final_names = (!b.first).then(|| b.lookup.names.clone());
    let doc_names = b.doc_names.take().unwrap_or_else(|| b.lookup.names.clone());
    Ok(Aggregate {
        request: Request {
            count: usize::MAX,
            verbatim,
            document_order: true,
            deadline: crate::search::config::deadline(timeout),
            ..Request::new(def, query, scorer)
        },
        loads: b.loads,
        load_all: b.load_all,
        doc_names,
        steps,
        final_names,
        cursor,
        json: def.key_type == KeyType::Json,
        dialect,
        timeout_ms,
        knn: knn_slot,
    })
}

/// A step's words, or a LOAD's fields, in the order written.
enum Raw {
    Step(usize, usize),
    Load(Vec<(String, Source)>),
}

/// Where the step starting at `words[start]` ends (its own words only, so that an
/// expression or a name that looks like an option is never taken for one).
fn step_end(words: &[&[u8]], start: usize, kw: &[u8]) -> Result<usize, SearchError> {
    let i = start + 1;
    Ok(match kw {
        b"GROUPBY" => {
            let n = count_at(words, i, "GROUPBY")?;
            let mut j = i + 1 + n;
            while words
                .get(j)
                .is_some_and(|w| w.eq_ignore_ascii_case(b"REDUCE"))
            {
                if words.get(j + 1).is_none() {
                    return Err(bad("REDUCE", NO_ARG));
                }
                let nargs = count_at(words, j + 2, "REDUCE")?;
                j += 3 + nargs;
                if words.get(j).is_some_and(|w| w.eq_ignore_ascii_case(b"AS")) {
                    if words.get(j + 1).is_none() {
                        return Err(agg("AS needs argument"));
                    }
                    j += 2;
                }
            }
            j
        }
        b"SORTBY" => {
            let n = count_at(words, i, "SORTBY")?;
            let mut j = i + 1 + n;
            if words.get(j).is_some_and(|w| w.eq_ignore_ascii_case(b"MAX")) {
                if words.get(j + 1).is_none() {
                    return Err(bad("MAX", NO_ARG));
                }
                j += 2;
            }
            j
        }
        b"APPLY" | b"FILTER" => {
            if words.get(i).is_none() {
                return Err(bad("APPLY/FILTER", NO_ARG));
            }
            let mut j = i + 1;
            if kw == b"APPLY" && words.get(j).is_some_and(|w| w.eq_ignore_ascii_case(b"AS")) {
                if words.get(j + 1).is_none() {
                    return Err(agg("AS needs argument"));
                }
                j += 2;
            }
            j
        }
        _ => {
            if i + 2 > words.len() {
                return Err(agg("LIMIT requires two arguments"));
            }
            i + 2
        }
    })
}

fn build_step(
    b: &mut Builder,
    w: &[&[u8]],
    limit_after: Option<usize>,
) -> Result<Step, SearchError> {
    let kw = w[0].to_ascii_uppercase();
    match kw.as_slice() {
        b"APPLY" | b"FILTER" => {
            let mut e = expr::parse(w[1]).map_err(|e| agg(e.0))?;
            let mut failed = None;
            e.properties_mut(&mut |name, slot| {
                match b.resolve(name, Use::Expr) {
                    Ok(s) => *slot = s,
                    Err(err) => failed = Some(err),
                }
                Ok(())
            })
            .map_err(agg)?;
            if let Some(err) = failed {
                return Err(err);
            }
            if kw == b"FILTER" {
                return Ok(Step::Filter(e));
            }
            let alias = if w.len() >= 4 { w[3] } else { w[1] };
            let slot = b.lookup.add(&lossy(alias));
            Ok(Step::Apply { expr: e, slot })
        }
        b"LIMIT" => {
            let n = |x: &[u8]| {
                std::str::from_utf8(x)
                    .ok()
                    .and_then(|s| s.parse::<usize>().ok())
            };
            let (Some(offset), Some(count)) = (n(w[1]), n(w[2])) else {
                return Err(agg("LIMIT needs two numeric arguments"));
            };
            if let Some(max) = super::config::max_aggregate_results() {
                if count as u64 > max {
                    return Err(SearchError::LimitTooLarge(max));
                }
            }
            Ok(Step::Limit { offset, count })
        }
        b"SORTBY" => {
            let n = w.len().min(2 + count_at(w, 1, "SORTBY")?);
            let mut keys = Vec::new();
            let mut j = 2;
            while j < n {
                let name = property(w[j], "SORTBY", false)?;
                j += 1;
                let mut asc = true;
                if j < n && w[j].first() != Some(&b'@') {
                    if w[j].eq_ignore_ascii_case(b"ASC") {
                    } else if w[j].eq_ignore_ascii_case(b"DESC") {
                        asc = false;
                    } else {
                        return Err(agg(format!(
                            "MISSING ASC or DESC after sort field ({})",
                            lossy(w[j])
                        )));
                    }
                    j += 1;
                }
                keys.push((b.resolve(&name, Use::Sort)?, asc));
            }
            let max = match w.get(n) {
                Some(_) => {
                    let m = w
                        .get(n + 1)
                        .and_then(|x| std::str::from_utf8(x).ok())
                        .and_then(|s| s.parse::<usize>().ok())
                        .ok_or_else(|| bad("MAX", NOT_CONVERTED))?;
                    m
                }
                // RediSearch sorts the first 10 unless told more by MAX or the LIMIT after.
                None => limit_after.unwrap_or(10),
            };
            Ok(Step::Sort { keys, max })
        }
        _ => {
            let n = count_at(w, 1, "GROUPBY")?;
            let mut keys = Vec::new();
            let mut names = Vec::new();
            for word in &w[2..2 + n] {
                let name = property(word, "GROUPBY", false)?;
                keys.push(b.resolve(&name, Use::Group)?);
                names.push(name);
            }
            let mut j = 2 + n;
            let mut specs = Vec::new();
            let mut out = Lookup::from_names(&names);
            while j < w.len() {
                // `REDUCE name nargs args... [AS alias]` (step_end checked the counts).
                let fname = lossy(w[j + 1]);
                let nargs = count_at(w, j + 2, "REDUCE")?;
                let args: Vec<&[u8]> = w[j + 3..j + 3 + nargs].to_vec();
                j += 3 + nargs;
                let mut alias = None;
                if w.get(j).is_some_and(|x| x.eq_ignore_ascii_case(b"AS")) {
                    alias = Some(lossy(w[j + 1]));
                    j += 2;
                }
                let mut spec =
                    reduce::parse(&fname, &args, &mut |name| b.resolve(name, Use::Group))?;
                let alias = alias.unwrap_or_else(|| reduce::generated_alias(&fname, &args));
                spec.slot = out.add(&alias);
                specs.push(spec);
            }
            if b.first {
                b.doc_names = Some(b.lookup.names.clone());
            }
            b.first = false;
            b.lookup = out;
            Ok(Step::Group(Group {
                keys,
                width: b.lookup.names.len(),
                reducers: specs,
            }))
        }
    }
}

/// The pipeline's answer: the rows to show, and the count RediSearch reports beside them.
#[derive(Debug)]
pub struct Output {
    pub total: usize,
    pub rows: Vec<Row>,
    pub names: Vec<String>,
}

impl Aggregate {
    /// Runs the steps over the documents' rows (in the order the query yields them).
    /// `doc_names` is the first lookup as the rows were read (LOAD * may have added names).
    pub fn run(&self, rows: Vec<Row>, doc_names: Vec<String>) -> Result<Output, SearchError> {
        let read = rows.len();
        let (total, rows) = self.exec(&self.steps, numbered(rows), read, None)?;
        let names = self.final_names.clone().unwrap_or(doc_names);
        Ok(Output { total, rows, names })
    }

    /// Runs `steps` over rows numbered by the position they were read at, `read` of them in
    /// all; `grouped` is the group count when a GROUPBY already ran (on the shards). Returns
    /// the count RediSearch reports and the rows.
    pub(crate) fn exec(
        &self,
        steps: &[Step],
        rows: Vec<(usize, Row)>,
        read: usize,
        grouped: Option<usize>,
    ) -> Result<(usize, Vec<Row>), SearchError> {
        self.exec_probed(steps, rows, read, grouped, &mut |_, _| {})
    }

    /// [`Aggregate::run`], telling `probe` each step's index and the rows it let through as it
    /// ends (FT.PROFILE's result processors).
    pub fn run_probed(
        &self,
        rows: Vec<Row>,
        doc_names: Vec<String>,
        probe: &mut dyn FnMut(usize, usize),
    ) -> Result<Output, SearchError> {
        let read = rows.len();
        let (total, rows) = self.exec_probed(&self.steps, numbered(rows), read, None, probe)?;
        let names = self.final_names.clone().unwrap_or(doc_names);
        Ok(Output { total, rows, names })
    }

    fn exec_probed(
        &self,
        steps: &[Step],
        mut rows: Vec<(usize, Row)>,
        read: usize,
        grouped: Option<usize>,
        probe: &mut dyn FnMut(usize, usize),
    ) -> Result<(usize, Vec<Row>), SearchError> {
        // Without a GROUPBY or SORTBY, RediSearch reports how many documents it had read when
        // the first row got through.
        let mut blocking = grouped.is_some();
        let mut total = grouped.unwrap_or(read);
        for (at, step) in steps.iter().enumerate() {
            match step {
                Step::Apply { expr, slot } => {
                    for (_, row) in rows.iter_mut() {
                        let v = expr.eval(row).map_err(agg)?;
                        if row.len() <= *slot {
                            row.resize(*slot + 1, None);
                        }
                        row[*slot] = Some(v);
                    }
                }
                Step::Filter(expr) => {
                    let mut kept = Vec::with_capacity(rows.len());
                    for (pos, row) in rows {
                        if expr.eval(&row).map_err(agg)?.truthy() {
                            kept.push((pos, row));
                        }
                    }
                    rows = kept;
                }
                Step::Limit { offset, count } => {
                    rows = rows.into_iter().skip(*offset).take(*count).collect();
                }
                Step::Sort { keys, max } => {
                    blocking = true;
                    let cmp = |a: &Row, b: &Row| {
                        for &(slot, asc) in keys {
                            let va = a
                                .get(slot)
                                .and_then(|v| v.as_ref())
                                .filter(|v| **v != Value::Null);
                            let vb = b
                                .get(slot)
                                .and_then(|v| v.as_ref())
                                .filter(|v| **v != Value::Null);
                            // Rows without the value go last, whichever the direction.
                            let o = match (va, vb) {
                                (None, None) => std::cmp::Ordering::Equal,
                                (None, Some(_)) => std::cmp::Ordering::Greater,
                                (Some(_), None) => std::cmp::Ordering::Less,
                                (Some(x), Some(y)) => {
                                    let o = value::sort_order(x, y);
                                    if asc {
                                        o
                                    } else {
                                        o.reverse()
                                    }
                                }
                            };
                            if o != std::cmp::Ordering::Equal {
                                return o;
                            }
                        }
                        std::cmp::Ordering::Equal
                    };
                    rows.sort_by(|a, b| cmp(&a.1, &b.1));
                    rows.truncate(*max);
                }
                Step::Group(g) => {
                    blocking = true;
                    let groups = group(g, rows)?;
                    total = groups.len();
                    rows = groups.into_iter().map(|r| (0, r)).collect();
                }
            }
            probe(at, rows.len());
        }
        if !blocking {
            total = rows.first().map_or(read, |(pos, _)| *pos);
        }
        Ok((total, rows.into_iter().map(|(_, r)| r).collect()))
    }
}

impl Step {
    /// The step as FT.PROFILE names RediSearch's result processor for it.
    pub fn profile_name(&self) -> String {
        match self {
            Step::Apply { expr, .. } => format!("Projector - {}", expr.profile_kind()),
            Step::Filter(expr) => format!("Filter - {}", expr.profile_kind()),
            Step::Group(_) => "Grouper".into(),
            Step::Sort { .. } => "Sorter".into(),
            Step::Limit { .. } => "Pager/Limiter".into(),
        }
    }
}

/// Rows numbered from 1 in the order they were read.
pub(crate) fn numbered(rows: Vec<Row>) -> Vec<(usize, Row)> {
    rows.into_iter()
        .enumerate()
        .map(|(i, r)| (i + 1, r))
        .collect()
}

/// GROUPBY: one row per distinct key, in the order the keys were first seen.
fn group(g: &Group, rows: Vec<(usize, Row)>) -> Result<Vec<Row>, SearchError> {
    group_with(
        g,
        rows,
        |state, spec, row| state.add(spec, row),
        State::finish,
    )
}

/// GROUPBY's body: `add` folds a row into a reducer's state, `out` makes the state's value.
/// A shard folds documents and sends [`State::partial`]s; its coordinator folds those
/// ([`State::absorb`]) and finishes.
pub(crate) fn group_with(
    g: &Group,
    rows: Vec<(usize, Row)>,
    add: impl Fn(&mut State, &ReducerSpec, &Row),
    out: impl Fn(State, &ReducerSpec) -> Value,
) -> Result<Vec<Row>, SearchError> {
    {
        let mut index: HashMap<Vec<GroupKey>, usize> = HashMap::new();
        let mut groups: Vec<(Vec<Option<Value>>, Vec<State>)> = Vec::new();
        for (_, row) in rows {
            let key_values: Vec<Option<Value>> = g
                .keys
                .iter()
                .map(|&s| row.get(s).cloned().flatten())
                .collect();
            let key: Vec<GroupKey> = key_values.iter().map(GroupKey::of).collect();
            let at = match index.get(&key) {
                Some(&at) => at,
                None => {
                    if groups.len() >= MAX_GROUPS {
                        return Err(agg(format!("GROUPBY makes more than {MAX_GROUPS} groups")));
                    }
                    index.insert(key, groups.len());
                    groups.push((key_values, g.reducers.iter().map(State::new).collect()));
                    groups.len() - 1
                }
            };
            let (_, states) = &mut groups[at];
            for (spec, state) in g.reducers.iter().zip(states.iter_mut()) {
                add(state, spec, &row);
            }
        }
        let out = groups
            .into_iter()
            .map(|(keys, states)| {
                let mut row: Row = vec![None; g.width];
                for (i, k) in keys.into_iter().enumerate() {
                    // A missing key groups as null and is shown as one.
                    row[i] = Some(k.unwrap_or(Value::Null));
                }
                for (spec, state) in g.reducers.iter().zip(states) {
                    row[spec.slot] = Some(out(state, spec));
                }
                row
            })
            .collect();
        Ok(out)
    }
}

/// A value as a group key: numbers by their bits, strings by their bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum GroupKey {
    Null,
    Num(u64),
    Str(String),
    Arr(Vec<GroupKey>),
}

impl GroupKey {
    fn of(v: &Option<Value>) -> GroupKey {
        match v {
            None | Some(Value::Null) => GroupKey::Null,
            Some(Value::Num(n)) => GroupKey::Num(if *n == 0.0 { 0 } else { n.to_bits() }),
            Some(Value::Str(s)) => GroupKey::Str(s.clone()),
            Some(Value::Arr(a)) => {
                GroupKey::Arr(a.iter().map(|v| GroupKey::of(&Some(v.clone()))).collect())
            }
        }
    }
}
