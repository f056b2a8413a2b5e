//! FT.PROFILE: what a search did, in RediSearch 2.10's reply layout (an iterator tree and a
//! list of result processors, each with a time and a counter) but describing this engine's own
//! plan: each clause of the filter with the documents it matched and the time its postings
//! took, the dictionary terms a text clause read, and for a KNN the vector strategy the
//! planner chose with its candidate count.
//!
//! Pure: [`tree`] is handed the evaluation of one clause; the command layer times the stages
//! around the search and writes the reply.

use super::language::Language;
use std::time::Instant;

use roaring::RoaringBitmap;

use super::postings::Postings;
use super::query::{Expr, TagPattern, TextPattern};
use super::schema::IndexDef;

/// One node of the iterator tree.
#[derive(Debug, Clone, PartialEq)]
pub struct Iter {
    /// RediSearch's iterator type: UNION, INTERSECT, NOT, TEXT, TAG, NUMERIC, GEO, VECTOR,
    /// WILDCARD, EMPTY, MISSING.
    pub kind: &'static str,
    /// A union's `Query type` (UNION, `PREFIX - ab`, ...).
    pub query_type: Option<String>,
    pub term: Option<String>,
    pub time_ms: f64,
    /// Documents the clause matched (for a term: the documents its postings hold).
    pub counter: u64,
    /// A term's postings length.
    pub size: Option<u64>,
    /// This engine's own details (a KNN's strategy, candidates, ef).
    pub extra: Vec<(&'static str, String)>,
    pub children: Vec<Iter>,
    /// One child, written `Child iterator` (NOT, VECTOR) rather than `Child iterators`.
    pub single_child: bool,
}

impl Iter {
    fn new(kind: &'static str) -> Iter {
        Iter {
            kind,
            query_type: None,
            term: None,
            time_ms: 0.0,
            counter: 0,
            size: None,
            extra: Vec::new(),
            children: Vec::new(),
            single_child: false,
        }
    }
}

/// One result processor: name, time, documents that went through.
#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    pub name: &'static str,
    pub time_ms: f64,
    pub counter: u64,
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

fn terms_union(postings: &Postings, names: Vec<&str>, query_type: String) -> Iter {
    let children: Vec<Iter> = names
        .into_iter()
        .map(|n| {
            let docs = postings.term(n).map_or(0, |t| t.docs()) as u64;
            Iter {
                term: Some(n.to_string()),
                counter: docs,
                size: Some(docs),
                ..Iter::new("TEXT")
            }
        })
        .collect();
    Iter {
        query_type: Some(query_type),
        children,
        ..Iter::new("UNION")
    }
}

fn tag_text(p: &TagPattern) -> String {
    match p {
        TagPattern::Exact(t) => t.clone(),
        TagPattern::Prefix(t) => format!("{t}*"),
        TagPattern::Suffix(t) => format!("*{t}"),
        TagPattern::Contains(t) => format!("*{t}*"),
    }
}

/// The iterator tree of filter `expr`: each node timed and counted by `eval`, the documents
/// its clause matches.
pub fn tree(
    expr: &Expr,
    def: &IndexDef,
    postings: &Postings,
    (verbatim, language): (bool, Language),
    eval: &dyn Fn(&Expr) -> RoaringBitmap,
) -> Iter {
    let start = Instant::now();
    let counter = eval(expr).len();
    let time_ms = ms(start);
    let sub = |e: &Expr| tree(e, def, postings, (verbatim, language), eval);
    let mut node = match expr {
        // Attributes change how a clause scores or how close its terms must be, not which
        // reader it is.
        Expr::Opts { expr, .. } => return tree(expr, def, postings, (verbatim, language), eval),
        Expr::Optional(inner) => Iter {
            children: vec![sub(inner)],
            single_child: true,
            ..Iter::new("OPTIONAL")
        },
        Expr::All => Iter::new("WILDCARD"),
        Expr::Or(parts) if parts.is_empty() => Iter::new("EMPTY"),
        Expr::And(parts) => {
            // Narrowest first, the order an intersection reads its clauses in (here as in
            // RediSearch).
            let mut children: Vec<Iter> = parts.iter().map(sub).collect();
            children.sort_by_key(|c| c.counter);
            Iter {
                children,
                ..Iter::new("INTERSECT")
            }
        }
        Expr::Or(parts) => Iter {
            query_type: Some("UNION".into()),
            children: parts.iter().map(sub).collect(),
            ..Iter::new("UNION")
        },
        Expr::Not(inner) => Iter {
            children: vec![tree(inner, def, postings, (true, language), eval)],
            single_child: true,
            ..Iter::new("NOT")
        },
        Expr::Text { pattern, .. } => {
            let names = postings.pattern_terms(pattern, verbatim, language);
            match pattern {
                TextPattern::Term(t) if names.len() <= 1 => {
                    let name = names.first().copied().unwrap_or(t.as_str());
                    let docs = postings.term(name).map_or(0, |t| t.docs()) as u64;
                    Iter {
                        term: Some(name.to_string()),
                        size: Some(docs),
                        ..Iter::new("TEXT")
                    }
                }
                TextPattern::Term(_) => terms_union(postings, names, "UNION".into()),
                TextPattern::Prefix(p) => terms_union(postings, names, format!("PREFIX - {p}")),
                TextPattern::Suffix(p) => terms_union(postings, names, format!("SUFFIX - {p}")),
                TextPattern::Contains(p) => terms_union(postings, names, format!("CONTAINS - {p}")),
                TextPattern::Fuzzy(t, _) => terms_union(postings, names, format!("FUZZY - {t}")),
                TextPattern::Phrase(_) => {
                    let mut u = terms_union(postings, names, String::new());
                    u.query_type = None;
                    Iter {
                        children: u.children,
                        ..Iter::new("INTERSECT")
                    }
                }
            }
        }
        Expr::Tag { patterns, .. } => Iter {
            term: Some(patterns.iter().map(tag_text).collect::<Vec<_>>().join("|")),
            ..Iter::new("TAG")
        },
        Expr::Numeric { lo, hi, .. } => Iter {
            term: Some(format!("{lo} - {hi}")),
            ..Iter::new("NUMERIC")
        },
        Expr::Geo {
            lon, lat, radius_m, ..
        } => Iter {
            term: Some(format!("{lon},{lat} - {radius_m} m")),
            ..Iter::new("GEO")
        },
        Expr::Missing(field) => Iter {
            term: def.fields.get(*field).map(|f| f.name.clone()),
            ..Iter::new("MISSING")
        },
        Expr::VectorRange { radius, .. } => Iter {
            extra: vec![
                ("Vector search mode", "RANGE_QUERY".into()),
                ("Radius", radius.to_string()),
            ],
            ..Iter::new("VECTOR")
        },
    };
    node.time_ms = time_ms;
    node.counter = counter;
    if node.kind == "TAG" || node.kind == "NUMERIC" || node.kind == "GEO" {
        node.size = Some(counter);
    }
    node
}

#[cfg(test)]
mod tests {
    use crate::search::index::{FieldInput, IndexData};
    use crate::search::request;
    use crate::search::schema;

    #[test]
    fn the_tree_names_terms_and_counts_matches() {
        let words: Vec<&[u8]> = "PREFIX 1 d: SCHEMA t TEXT g TAG"
            .split_whitespace()
            .map(str::as_bytes)
            .collect();
        let def = schema::parse_create(b"i", &words).unwrap();
        let mut data = IndexData::new(&def);
        for (k, t, g) in [
            ("d:1", "dogs run", "a"),
            ("d:2", "a dog", "b"),
            ("d:3", "cat", "a"),
        ] {
            let fields = [
                FieldInput::Bytes(t.as_bytes()),
                FieldInput::Bytes(g.as_bytes()),
            ];
            data.upsert(&def, k.as_bytes(), &fields).unwrap();
        }
        let q: Vec<&[u8]> = vec![b"dog @g:{a}"];
        let req = request::parse(&def, &q, false).unwrap().request;
        let (outcome, iters, _) = data.profile(&def, &req).unwrap();
        assert_eq!(outcome.total, 1);
        assert_eq!(iters.kind, "INTERSECT");
        assert_eq!(iters.counter, 1);
        let union = &iters.children[0];
        assert_eq!(union.kind, "UNION");
        let terms: Vec<_> = union
            .children
            .iter()
            .map(|c| c.term.clone().unwrap())
            .collect();
        assert_eq!(terms, ["dog", "+dog"]);
        assert_eq!(union.counter, 2);
        assert_eq!(iters.children[1].kind, "TAG");
        assert_eq!(iters.children[1].counter, 2);
    }
}
