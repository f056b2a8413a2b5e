//! FT.SEARCH's argument grammar: the words after the index name become what the engine is
//! asked ([`Request`]) and how its answer is shown ([`Presentation`]). Pure: the command hands
//! in the index definition, the words and whether the client speaks RESP3.
//!
//! ```text
//! FT.SEARCH index query
//!     [NOCONTENT] [WITHSCORES] [VERBATIM] [NOSTOPWORDS] [INORDER] [WITHPAYLOADS]
//!     [WITHSORTKEYS] [EXPLAINSCORE]                     (accepted, no effect)
//!     [SLOP n] [TIMEOUT ms] [LANGUAGE l] [EXPANDER e] [SCORER s] [PAYLOAD p]
//!                                                       (accepted with their value, no effect)
//!     [DIALECT 1..4]
//!     [LIMIT offset count]                              (count 0: only the total)
//!     [SORTBY name [ASC|DESC]]                          (a field, or a distance the query yields)
//!     [RETURN n name [AS shown] ...]                    (RETURN 0: no fields)
//!     [PARAMS n name value ...]
//!     [FILTER field lo hi] ...                          (legacy numeric filter)
//!     [GEOFILTER field lon lat radius m|km|mi|ft]        (legacy geo filter; the last counts)
//!     [INKEYS n key ...]
//!     [HIGHLIGHT [FIELDS n f…] [TAGS open close]]        (see `highlight`)
//!     [SUMMARIZE [FIELDS n f…] [FRAGS n] [LEN n] [SEPARATOR s]]
//! ```
//!
//! Options may come in any order and repeat (the last LIMIT, SORTBY, RETURN wins; FILTER,
//! INKEYS and PARAMS accumulate). `INFIELDS` is refused. Counts larger than the whole
//! argument list are refused before the words they count are looked at.

use super::language::{Language, Lookup};
use std::collections::{HashMap, HashSet};

use super::error::{BadArg, SearchError};
use super::geo;
use super::highlight;
use super::index::{Request, SortBy};
use super::query::{self, Expr, Query};
use super::schema::{FieldKind, IndexDef};
use super::score::Scorer;

/// How the documents are shown, decided at parse time and applied when replying.
#[derive(Debug, Clone, PartialEq)]
pub struct Presentation {
    /// NOCONTENT (or RETURN 0): keys only.
    pub nocontent: bool,
    pub withscores: bool,
    /// WITHPAYLOADS: each document's payload after its score.
    pub withpayloads: bool,
    /// Hash fields a document never shows: its LANGUAGE_FIELD, SCORE_FIELD and PAYLOAD_FIELD
    /// (RediSearch keeps them out of the returned content).
    pub hidden: Vec<Vec<u8>>,
    /// RETURN: (name, shown as); `None` returns every field.
    pub fields: Option<Vec<(String, String)>>,
    pub resp3: bool,
    /// Schema field name → hash field, for RETURN of an aliased field.
    pub identifiers: HashMap<String, Vec<u8>>,
    /// LIMIT x 0: only the number of matches.
    pub count_only: bool,
    /// TIMEOUT in ms, when a positive number was given: how long a cluster coordinator waits
    /// for its shards (a single server ignores it).
    pub timeout_ms: Option<u64>,
    /// The documents are JSON: fields are read by JSONPath, the whole document is `$`.
    pub json: bool,
    /// DIALECT (1 unless given): from 3 on, a JSON field is returned as the JSON array of
    /// every value its path matches, not the first value alone.
    pub dialect: usize,
    /// JSON: SORTBY's schema field, which RediSearch shows first (before `$` without RETURN,
    /// or first of the RETURN list that names it), and whether it is SORTABLE (a JSON null is
    /// then not shown before `$`; otherwise shown as a null).
    pub sort_shown: Option<(String, bool)>,
    /// HIGHLIGHT / SUMMARIZE, when either was given.
    pub highlight: Option<Box<highlight::Spec>>,
}

/// An FT.SEARCH command, parsed.
pub struct SearchRequest {
    pub request: Request,
    pub presentation: Presentation,
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A count at `words[at]` (RETURN, PARAMS, INKEYS): present, a number, and no larger than the
/// whole argument list.
fn parse_count(words: &[&[u8]], at: usize, what: &str) -> Result<usize, SearchError> {
    let w = words
        .get(at)
        .ok_or_else(|| SearchError::bad(what, BadArg::MissingCount))?;
    std::str::from_utf8(w)
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
        .filter(|&n| n <= words.len())
        .ok_or_else(|| SearchError::bad(what, BadArg::InvalidCount))
}

/// A non-negative number at `words[at]` (LIMIT, DIALECT).
/// SLOP's value as RediSearch reads it: a leading integer (`1.5` is 1) within C long long
/// bounds, but at most `i32::MAX` like its `int` slop.
fn parse_slop(word: &[u8]) -> Result<i64, SearchError> {
    let text = std::str::from_utf8(word).unwrap_or_default().trim_start();
    let sign = usize::from(text.starts_with(['-', '+']));
    let digits = text[sign..].bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Err(SearchError::bad("SLOP", BadArg::CouldNotConvert));
    }
    match text[..sign + digits].parse::<i64>() {
        Ok(n) if n <= i64::from(i32::MAX) => Ok(n),
        _ => Err(SearchError::bad("SLOP", BadArg::OutOfBounds)),
    }
}

/// TIMEOUT's milliseconds, read as RediSearch's `strtoll` does (leading blanks and a sign
/// allowed, nothing after the digits, an empty word is 0): a non-negative integer, 0 for no
/// limit.
pub(crate) fn parse_timeout(word: &[u8]) -> Result<u64, SearchError> {
    let text = std::str::from_utf8(word).map_err(|_| SearchError::BadTimeout)?;
    let text = text.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    if text.is_empty() {
        return Ok(0);
    }
    let n: i64 = text.parse().map_err(|_| SearchError::BadTimeout)?;
    u64::try_from(n).map_err(|_| SearchError::BadTimeout)
}

/// `Need argument for TIMEOUT`: FT.SEARCH and FT.AGGREGATE's words for a TIMEOUT at the end.
pub(crate) fn timeout_missing() -> SearchError {
    SearchError::Aggregate("Need argument for TIMEOUT".into())
}

fn number(words: &[&[u8]], at: usize, what: &str) -> Result<usize, SearchError> {
    words
        .get(at)
        .and_then(|w| std::str::from_utf8(w).ok())
        .and_then(|s| s.parse::<usize>().ok())
        .ok_or_else(|| SearchError::bad(what, BadArg::Plain))
}

/// Parses FT.SEARCH's words after the index name: `words[0]` is the query string (an empty
/// list reads as an empty query), the rest its options, against index definition `def`.
pub fn parse(def: &IndexDef, words: &[&[u8]], resp3: bool) -> Result<SearchRequest, SearchError> {
    let query_text = words.first().copied().unwrap_or_default();
    let mut p = Presentation {
        nocontent: false,
        withscores: false,
        withpayloads: false,
        hidden: [&def.language_field, &def.score_field, &def.payload_field]
            .into_iter()
            .flatten()
            .cloned()
            .collect(),
        fields: None,
        resp3,
        identifiers: def
            .fields
            .iter()
            .map(|f| (f.name.clone(), f.identifier.clone()))
            .collect(),
        count_only: false,
        timeout_ms: None,
        json: def.key_type == super::schema::KeyType::Json,
        dialect: 0,
        sort_shown: None,
        highlight: None,
    };
    let mut sort = None;
    let (mut offset, mut count) = (0usize, 10usize);
    let mut params: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
    let mut legacy_filters: Vec<LegacyFilter> = Vec::new();
    let mut geo_filter: Option<GeoFilter> = None;
    let mut in_keys: Option<HashSet<Vec<u8>>> = None;
    let mut scorer = Scorer::default();
    let mut verbatim = false;
    let mut slop: Option<u32> = None;
    let mut inorder = false;
    let mut language = def.language;
    let mut nostopwords = false;
    let mut dialect = super::config::default_dialect();
    let mut timeout: Option<u64> = None;
    let mut i = 1;
    while i < words.len() {
        let w = words[i].to_ascii_uppercase();
        i += 1;
        match w.as_slice() {
            b"NOCONTENT" => p.nocontent = true,
            b"WITHSCORES" => p.withscores = true,
            b"VERBATIM" => verbatim = true,
            b"INORDER" => inorder = true,
            b"WITHPAYLOADS" => p.withpayloads = true,
            b"NOSTOPWORDS" => nostopwords = true,
            b"WITHSORTKEYS" | b"EXPLAINSCORE" => {}
            b"SLOP" => {
                // RediSearch reads a negative slop as none.
                let Some(word) = words.get(i) else {
                    return Err(SearchError::bad("SLOP", BadArg::MissingArgument));
                };
                let n = parse_slop(word)?;
                slop = u32::try_from(n).ok();
                i += 1;
            }
            b"SCORER" => {
                let name = words
                    .get(i)
                    .ok_or_else(|| SearchError::bad("SCORER", BadArg::Plain))?;
                scorer = Scorer::parse(name)?;
                i += 1;
            }
            b"LANGUAGE" => {
                let Some(word) = words.get(i) else {
                    return Err(SearchError::bad("LANGUAGE", BadArg::MissingArgument));
                };
                language = match Language::lookup(word) {
                    Lookup::Found(l) => l,
                    Lookup::NoStemmer("chinese") => return Err(SearchError::ChineseUnsupported),
                    Lookup::NoStemmer(name) => {
                        return Err(SearchError::LanguageWithoutStemmer(name))
                    }
                    Lookup::Unknown => return Err(SearchError::NoSuchLanguage),
                };
                i += 1;
            }
            b"TIMEOUT" | b"EXPANDER" | b"PAYLOAD" => {
                if i >= words.len() && w == b"TIMEOUT" {
                    return Err(timeout_missing());
                }
                if i >= words.len() {
                    return Err(SearchError::bad(lossy(&w), BadArg::Plain));
                }
                if w == b"TIMEOUT" {
                    let t = parse_timeout(words[i])?;
                    timeout = Some(t);
                    p.timeout_ms = Some(t).filter(|&t| t > 0);
                }
                i += 1;
            }
            b"DIALECT" => {
                let d = number(words, i, "DIALECT")?;
                if !(1..=4).contains(&d) {
                    return Err(SearchError::DialectRange);
                }
                dialect = d as u8;
                i += 1;
            }
            b"LIMIT" => {
                offset = number(words, i, "LIMIT")?;
                count = number(words, i + 1, "LIMIT")?;
                // The user's page is what is bounded: a cluster's shards are each asked for
                // `offset + count` documents, which the coordinator pages down again.
                if let Some(max) = super::config::max_search_results() {
                    if count as u64 > max {
                        return Err(SearchError::LimitTooLarge(max));
                    }
                    if count > 0 && offset as u64 > max {
                        return Err(SearchError::OffsetTooLarge(max));
                    }
                }
                i += 2;
            }
            b"SORTBY" => {
                let name = words
                    .get(i)
                    .ok_or_else(|| SearchError::bad("SORTBY", BadArg::Plain))?;
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
                    return Err(SearchError::bad("RETURN", BadArg::NotEnough("fields")));
                }
                let mut fields = Vec::new();
                while i < end {
                    let name = lossy(words[i].strip_prefix(b"@").unwrap_or(words[i]));
                    i += 1;
                    let mut shown = name.clone();
                    if i < end && words[i].eq_ignore_ascii_case(b"AS") {
                        let alias = words
                            .get(i + 1)
                            .filter(|_| i + 1 < end)
                            .ok_or_else(|| SearchError::bad("RETURN", BadArg::AsNeedsName))?;
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
                    return Err(SearchError::bad("PARAMS", BadArg::OddParams));
                }
                for pair in words[i..i + n].chunks_exact(2) {
                    params.insert(pair[0].to_vec(), pair[1].to_vec());
                }
                i += n;
            }
            b"FILTER" => {
                if i + 3 > words.len() {
                    return Err(SearchError::bad("FILTER", BadArg::Plain));
                }
                legacy_filters.push(LegacyFilter {
                    field: words[i],
                    lo: words[i + 1],
                    hi: words[i + 2],
                });
                i += 3;
            }
            b"INKEYS" => {
                let n = parse_count(words, i, "INKEYS")?;
                i += 1;
                if i + n > words.len() {
                    return Err(SearchError::bad("INKEYS", BadArg::NotEnough("keys")));
                }
                in_keys
                    .get_or_insert_with(HashSet::new)
                    .extend(words[i..i + n].iter().map(|k| k.to_vec()));
                i += n;
            }
            b"GEOFILTER" => {
                // The last GEOFILTER is the one that counts, as in RediSearch.
                geo_filter = Some(parse_geofilter(words.get(i..).unwrap_or_default())?);
                i += 5;
            }
            b"HIGHLIGHT" | b"SUMMARIZE" => {
                let spec = p.highlight.get_or_insert_with(Box::default);
                i = highlight::parse(words, i, spec, w == b"HIGHLIGHT")?;
            }
            b"INFIELDS" => return Err(SearchError::InFieldsUnsupported),
            _ => return Err(SearchError::UnknownArgument(lossy(words[i - 1]))),
        }
    }
    let text = with_legacy_filters(query_text, &legacy_filters);
    p.dialect = usize::from(dialect);
    let mut query = query::parse_dialect(
        &text,
        &params,
        &def.fields,
        dialect,
        // NOSTOPWORDS keeps them in the query, where (never indexed) they match nothing.
        if nostopwords {
            Some(&[])
        } else {
            def.stopwords.as_deref()
        },
    )?;
    if let Some(g) = geo_filter {
        let clause = g.clause(def);
        query.filter = match std::mem::replace(&mut query.filter, Expr::All) {
            Expr::All => clause,
            other => Expr::And(vec![other, clause]),
        };
    }
    if let Some(sort) = &sort {
        if !sortable_name(def, &query, &sort.name) {
            return Err(SearchError::PropertyNotLoaded(sort.name.clone()));
        }
    }
    p.count_only = count == 0;
    if let Some(spec) = &mut p.highlight {
        if let Some((name, _)) = spec.fields.iter().find(|(n, _)| def.field(n).is_none()) {
            return Err(SearchError::NoSuchProperty(name.clone()));
        }
        spec.text = def
            .fields
            .iter()
            .filter_map(|f| match f.kind {
                FieldKind::Text { nostem, .. } => {
                    Some((f.name.clone(), f.identifier.clone(), nostem))
                }
                _ => None,
            })
            .collect();
        spec.stopwords = def.stopwords.clone();
        spec.language = def.language;
    }
    if p.json {
        p.sort_shown = sort
            .as_ref()
            .and_then(|s| def.fields.iter().find(|f| f.name == s.name))
            .map(|f| (f.name.clone(), f.sortable));
    }
    Ok(SearchRequest {
        request: Request {
            query,
            sort,
            offset,
            count,
            in_keys,
            scorer,
            verbatim,
            slop,
            inorder,
            language,
            default_score: def.default_score,
            doc_scores: def.score_field.is_some(),
            with_terms: p.highlight.is_some(),
            deadline: super::config::deadline(timeout),
            document_order: false,
        },
        presentation: p,
    })
}

/// `GEOFILTER field lon lat radius unit`, RediSearch's legacy geo filter.
struct GeoFilter {
    field: String,
    lon: f64,
    lat: f64,
    radius_m: f64,
}

/// The five words after GEOFILTER, checked in RediSearch's order: the count, the numbers,
/// the unit, the centre, the radius.
fn parse_geofilter(words: &[&[u8]]) -> Result<GeoFilter, SearchError> {
    let [field, lon, lat, radius, unit, ..] = words else {
        return Err(SearchError::GeoFilterArity);
    };
    let number = |w: &[u8], what: &str| -> Result<f64, SearchError> {
        std::str::from_utf8(w)
            .ok()
            .and_then(|s| s.parse::<f64>().ok())
            .filter(|n| !n.is_nan())
            .ok_or_else(|| SearchError::bad(what, BadArg::CouldNotConvert))
    };
    let (lon, lat, radius) = (
        number(lon, "<lon>")?,
        number(lat, "<lat>")?,
        number(radius, "<radius>")?,
    );
    let measure =
        geo::Unit::parse(unit).ok_or_else(|| SearchError::UnknownDistanceUnit(lossy(unit)))?;
    if !geo::valid(lon, lat) {
        return Err(SearchError::GeoFilterLatLon);
    }
    if radius <= 0.0 {
        return Err(SearchError::GeoFilterRadius);
    }
    Ok(GeoFilter {
        field: lossy(field),
        lon,
        lat,
        radius_m: radius * measure.metres(),
    })
}

impl GeoFilter {
    /// The filter as a query clause; a field that is not GEO (or none) matches nothing.
    fn clause(&self, def: &IndexDef) -> Expr {
        let field = def
            .fields
            .iter()
            .position(|f| f.name == self.field && f.kind == FieldKind::Geo);
        match field {
            Some(field) => Expr::Geo {
                field,
                lon: self.lon,
                lat: self.lat,
                radius_m: self.radius_m,
            },
            None => Expr::Or(Vec::new()),
        }
    }
}

/// `FILTER field lo hi`, RediSearch's legacy numeric filter.
struct LegacyFilter<'a> {
    field: &'a [u8],
    lo: &'a [u8],
    hi: &'a [u8],
}

/// The query text with each legacy FILTER turned into the range clause it is the same as,
/// intersected with what came before: `(query) @field:[lo hi]`.
fn with_legacy_filters(query: &[u8], filters: &[LegacyFilter]) -> Vec<u8> {
    let mut text = query.to_vec();
    for f in filters {
        text = [
            b"(".as_slice(),
            &text,
            b") @",
            f.field,
            b":[",
            f.lo,
            b" ",
            f.hi,
            b"]",
        ]
        .concat();
    }
    text
}

/// Whether SORTBY may name `name`: a schema field, or a distance the query yields.
fn sortable_name(def: &IndexDef, q: &Query, name: &str) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::schema;

    const SCHEMA: &str = "PREFIX 1 doc: SCHEMA title TEXT tag TAG n NUMERIC SORTABLE \
        h_body AS body TEXT v VECTOR FLAT 6 TYPE FLOAT32 DIM 2 DISTANCE_METRIC L2";

    fn def() -> IndexDef {
        let words: Vec<&[u8]> = SCHEMA.split_whitespace().map(str::as_bytes).collect();
        schema::parse_create(b"idx", &words).unwrap()
    }

    fn words(line: &str) -> Vec<&[u8]> {
        line.split_whitespace().map(str::as_bytes).collect()
    }

    fn ok(line: &str) -> SearchRequest {
        match parse(&def(), &words(line), false) {
            Ok(r) => r,
            Err(e) => panic!("{line:?} refused: {e}"),
        }
    }

    fn err(line: &str) -> String {
        err_words(&words(line))
    }

    fn err_words(words: &[&[u8]]) -> String {
        match parse(&def(), words, false) {
            Ok(_) => panic!("{words:?} accepted"),
            Err(e) => e.to_string(),
        }
    }

    /// Two little-endian float32s, as a query vector for `v`.
    const VEC: &[u8] = &[0, 0, 128, 63, 0, 0, 0, 64];

    #[test]
    fn defaults() {
        let r = ok("*");
        assert_eq!((r.request.offset, r.request.count), (0, 10));
        assert!(r.request.sort.is_none() && r.request.in_keys.is_none());
        assert!(r.request.query.knn.is_none());
        let p = &r.presentation;
        assert!(!p.nocontent && !p.withscores && !p.resp3 && !p.count_only);
        assert_eq!(p.fields, None);
        assert_eq!(p.identifiers["body"], b"h_body");
        assert_eq!(p.identifiers["title"], b"title");
        assert!(parse(&def(), &words("*"), true).unwrap().presentation.resp3);
    }

    #[test]
    fn the_users_page_is_bounded_by_maxsearchresults() {
        // The default MAXSEARCHRESULTS, 1,000,000 (no unit test changes it).
        assert_eq!(err("* LIMIT 0 1000001"), "LIMIT exceeds maximum of 1000000");
        assert_eq!(
            err("* LIMIT 1000001 10"),
            "OFFSET exceeds maximum of 1000000"
        );
        assert_eq!(
            err("* LIMIT 1000001 1000001"),
            "LIMIT exceeds maximum of 1000000"
        );
        // An empty page counts only, at any offset; an offset at the bound is taken.
        assert_eq!(ok("* LIMIT 5000000 0").request.offset, 5_000_000);
        let r = ok("* LIMIT 1000000 1000000").request;
        assert_eq!((r.offset, r.count), (1_000_000, 1_000_000));
    }

    #[test]
    fn an_empty_list_is_an_empty_query() {
        let r = parse(&def(), &[], false).unwrap();
        assert!(matches!(r.request.query.filter, query::Expr::Or(ref v) if v.is_empty()));
    }

    #[test]
    fn flags_and_ignored_options() {
        let r = ok(
            "* nocontent WITHSCORES VERBATIM NOSTOPWORDS INORDER WITHPAYLOADS \
                    WITHSORTKEYS EXPLAINSCORE SLOP 1 TIMEOUT 5 LANGUAGE english EXPANDER x \
                    SCORER BM25 PAYLOAD p DIALECT 2",
        );
        assert!(r.presentation.nocontent && r.presentation.withscores);
        // An ignored option's value is skipped even when it looks like an option.
        let r = ok("* EXPANDER NOCONTENT");
        assert!(!r.presentation.nocontent);
        // TIMEOUT's value is read: a number of milliseconds, 0 for none.
        for bad in [
            "* TIMEOUT NOCONTENT",
            "* TIMEOUT -1",
            "* TIMEOUT 1.5",
            "* TIMEOUT 5x",
        ] {
            let words = words(bad);
            let err = parse(&def(), &words, false).err().map(|e| e.to_string());
            assert_eq!(
                err.as_deref(),
                Some("TIMEOUT requires a non negative integer")
            );
        }
        assert!(ok("* TIMEOUT 0").request.deadline.is_none());
        assert!(parse(&def(), &[b"*", b"TIMEOUT", b""], false)
            .unwrap()
            .request
            .deadline
            .is_none());
        assert!(ok("* TIMEOUT +5").request.deadline.is_some());
        assert!(ok("* TIMEOUT 100").request.deadline.is_some());
    }

    #[test]
    fn limit_and_count_only() {
        let r = ok("* LIMIT 5 20");
        assert_eq!((r.request.offset, r.request.count), (5, 20));
        assert!(!r.presentation.count_only);
        let r = ok("* LIMIT 0 0");
        assert!(r.presentation.count_only);
        // The last LIMIT wins.
        let r = ok("* LIMIT 0 0 LIMIT 1 2");
        assert_eq!((r.request.offset, r.request.count), (1, 2));
        assert!(!r.presentation.count_only);
    }

    #[test]
    fn sortby() {
        let s = ok("* SORTBY n").request.sort.unwrap();
        assert_eq!((s.name.as_str(), s.ascending), ("n", true));
        let s = ok("* SORTBY @title DESC").request.sort.unwrap();
        assert_eq!((s.name.as_str(), s.ascending), ("title", false));
        let s = ok("* SORTBY n asc LIMIT 0 1").request.sort.unwrap();
        assert!(s.ascending);
        // A distance the query yields: KNN's default name, its AS, a range's YIELD_DISTANCE_AS.
        let knn = |q: &str, sort: &str| -> Result<SearchRequest, SearchError> {
            let mut w: Vec<&[u8]> = vec![q.as_bytes(), b"PARAMS", b"2", b"b", VEC];
            w.extend([b"SORTBY".as_slice(), sort.as_bytes()]);
            parse(&def(), &w, false)
        };
        assert!(knn("*=>[KNN 2 @v $b]", "__v_score").is_ok());
        assert!(knn("*=>[KNN 2 @v $b AS d]", "d").is_ok());
        assert!(knn("@v:[VECTOR_RANGE 1 $b]=>{$YIELD_DISTANCE_AS: r}", "r").is_ok());
        assert_eq!(
            knn("*=>[KNN 2 @v $b AS d]", "__v_score")
                .err()
                .unwrap()
                .to_string(),
            "Property `__v_score` not loaded nor in schema"
        );
    }

    #[test]
    fn return_fields() {
        let p = ok("* RETURN 3 title @n body").presentation;
        assert_eq!(
            p.fields.unwrap(),
            [("title", "title"), ("n", "n"), ("body", "body")]
                .map(|(a, b)| (a.to_string(), b.to_string()))
        );
        let p = ok("* RETURN 4 title AS t n NOCONTENT").presentation;
        assert_eq!(
            p.fields.unwrap(),
            [("title", "t"), ("n", "n")].map(|(a, b)| (a.to_string(), b.to_string()))
        );
        assert!(p.nocontent);
        // AS where a name is expected is a name.
        let p = ok("* RETURN 2 AS title").presentation;
        assert_eq!(
            p.fields.unwrap(),
            [("AS", "AS"), ("title", "title")].map(|(a, b)| (a.to_string(), b.to_string()))
        );
        let p = ok("* RETURN 0").presentation;
        assert!(p.nocontent && p.fields.unwrap().is_empty());
    }

    #[test]
    fn params_filter_and_inkeys() {
        let r = ok("@tag:{$t} PARAMS 2 t red");
        assert!(matches!(r.request.query.filter, query::Expr::Tag { .. }));
        let r = ok("* FILTER n 1 2 FILTER n (3 +inf");
        let ranges = format!("{:?}", r.request.query.filter);
        assert_eq!(ranges.matches("Numeric").count(), 2, "{ranges}");
        let keys = ok("* INKEYS 2 doc:1 doc:2 INKEYS 1 doc:3")
            .request
            .in_keys
            .unwrap();
        assert_eq!(keys.len(), 3);
        assert!(keys.contains(b"doc:3".as_slice()));
        let r = ok("* INKEYS 0");
        assert!(r.request.in_keys.unwrap().is_empty());
    }

    #[test]
    fn legacy_filter_rewrite() {
        let f = [LegacyFilter {
            field: b"n",
            lo: b"1",
            hi: b"(5",
        }];
        assert_eq!(with_legacy_filters(b"hello", &f), b"(hello) @n:[1 (5]");
        assert_eq!(with_legacy_filters(b"hello", &[]), b"hello");
    }

    /// Every text the option grammar itself produces.
    #[test]
    fn error_texts() {
        for (line, text) in [
            ("* LIMIT", "Bad arguments for LIMIT"),
            ("* LIMIT 0", "Bad arguments for LIMIT"),
            ("* LIMIT -1 10", "Bad arguments for LIMIT"),
            ("* LIMIT 0 x", "Bad arguments for LIMIT"),
            ("* DIALECT", "Bad arguments for DIALECT"),
            ("* DIALECT x", "Bad arguments for DIALECT"),
            (
                "* DIALECT 0",
                "DIALECT requires a non negative integer >=1 and <= 4",
            ),
            (
                "* DIALECT 5",
                "DIALECT requires a non negative integer >=1 and <= 4",
            ),
            ("* timeout", "Need argument for TIMEOUT"),
            (
                "* SLOP",
                "Bad arguments for SLOP: Expected an argument, but none provided",
            ),
            (
                "* SLOP x",
                "Bad arguments for SLOP: Could not convert argument to expected type",
            ),
            ("* SORTBY", "Bad arguments for SORTBY"),
            ("* SORTBY nope", "Property `nope` not loaded nor in schema"),
            ("* RETURN", "Bad arguments for RETURN: missing count"),
            ("* RETURN x", "Bad arguments for RETURN: invalid count"),
            ("* RETURN -1", "Bad arguments for RETURN: invalid count"),
            ("* RETURN 9 a", "Bad arguments for RETURN: invalid count"),
            (
                "* RETURN 3 a",
                "Bad arguments for RETURN: not enough fields",
            ),
            (
                "* RETURN 2 a AS",
                "Bad arguments for RETURN: AS needs a name",
            ),
            ("* PARAMS", "Bad arguments for PARAMS: missing count"),
            ("* PARAMS -2 a b", "Bad arguments for PARAMS: invalid count"),
            (
                "* PARAMS 3 a b c",
                "Bad arguments for PARAMS: expected an even number of arguments",
            ),
            (
                "* PARAMS 4 a b",
                "Bad arguments for PARAMS: expected an even number of arguments",
            ),
            ("* FILTER n 1", "Bad arguments for FILTER"),
            ("* FILTER nope 1 2", "Unknown field at offset 4 near nope"),
            ("* INKEYS", "Bad arguments for INKEYS: missing count"),
            (
                "* INKEYS 5 doc:1",
                "Bad arguments for INKEYS: invalid count",
            ),
            (
                "* INKEYS 3 doc:1",
                "Bad arguments for INKEYS: not enough keys",
            ),
            ("* INFIELDS 1 title", "INFIELDS is not supported"),
            ("* Bogus", "Unknown argument `Bogus`"),
            // The query's own errors come through unchanged.
            ("@tag:{x", "Syntax error at offset 5 near {"),
        ] {
            assert_eq!(err(line), text, "{line}");
        }
        assert_eq!(err_words(&[b"*=>[KNN 2 @v $b]"]), "No such parameter `b`");
        assert_eq!(err_words(&[b"*", b"\xff"]), "Unknown argument `\u{fffd}`");
        assert_eq!(
            err_words(&[b"*", b"LIMIT", b"0", b"18446744073709551616"]),
            "Bad arguments for LIMIT"
        );
    }

    /// Arbitrary words never panic, whatever the counts say.
    #[test]
    fn hostile_counts_do_not_panic() {
        for line in [
            "* RETURN 18446744073709551615",
            "* PARAMS 18446744073709551615",
            "* INKEYS 18446744073709551615 a",
            "* LIMIT 18446744073709551615 18446744073709551615",
            "* RETURN 1",
            "* RETURN 2 AS AS",
            "* SORTBY DESC",
            "* FILTER",
        ] {
            let _ = parse(&def(), &words(line), false);
        }
    }
}
