//! FT.AGGREGATE and FT.HYBRID over shards: which part of a pipeline each shard runs on its own
//! documents, and how the coordinator puts the shards' parts together before running the rest
//! with the same [`Aggregate::exec`] a single server uses. Pure.
//!
//! The split is RediSearch's coordinator's: a shard runs the query, LOAD and the row-local
//! steps (APPLY, FILTER) before the first GROUPBY, SORTBY or LIMIT; then
//! - a GROUPBY whose reducers all decompose ([`reduce::mergeable`]) is reduced on the shard
//!   into partial states per group, which the coordinator merges and finishes;
//! - a GROUPBY with QUANTILE or RANDOM_SAMPLE ships the rows and is reduced on the coordinator;
//! - a SORTBY is run on the shard (so at most its MAX rows travel), and again on the union;
//! - a LIMIT ships at most offset + count rows, paged again on the union.
//!
//! A KNN query runs no step on the shards: each ships its k nearest, the coordinator keeps
//! the k nearest of the union and runs the whole pipeline, so that APPLY and FILTER see the
//! same documents as on one server.

use std::collections::HashMap;

use super::hybrid::Hybrid;
use super::reduce::{self, State};
use super::value::Value;
use super::{agg, group_with, numbered, Aggregate, Group, Lookup, Output, Row, Source, Step};
use crate::search::error::SearchError;
use crate::search::index::{Hit, Outcome};

/// The most rows one shard may send for one query; more fail the query.
pub const MAX_SHARD_ROWS: usize = super::MAX_GROUPS;

/// One shard's part of an aggregation.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ShardPart {
    /// How many documents its query matched.
    pub read: u64,
    /// The names of the rows' slots (its first lookup; LOAD * may have added some). Empty when
    /// the rows are partial groups, whose layout is the GROUPBY's own.
    pub names: Vec<String>,
    pub rows: Vec<Row>,
    /// FT.HYBRID: each row's document key, and the shard's two ranked lists, (key, text
    /// score) best first and (key, distance) nearest first.
    pub keys: Vec<Vec<u8>>,
    pub text: Vec<(Vec<u8>, f64)>,
    pub vector: Vec<(Vec<u8>, f64)>,
}

/// The index of the first step that needs every shard's rows (GROUPBY, SORTBY, LIMIT).
fn first_blocking(agg: &Aggregate) -> usize {
    agg.steps
        .iter()
        .position(|s| !matches!(s, Step::Apply { .. } | Step::Filter(_)))
        .unwrap_or(agg.steps.len())
}

/// The GROUPBY at `at`, when the shards reduce it into partial states.
fn partial_group(agg: &Aggregate, at: usize) -> Option<&Group> {
    if agg.knn.is_some() {
        return None;
    }
    match agg.steps.get(at) {
        Some(Step::Group(g)) if g.reducers.iter().all(|r| reduce::mergeable(r.kind)) => Some(g),
        _ => None,
    }
}

fn too_many() -> SearchError {
    agg(format!(
        "a shard's part of the aggregation has more than {MAX_SHARD_ROWS} rows"
    ))
}

/// A shard's part: `rows` are its matching documents as read, under `names`.
pub fn shard(
    agg: &Aggregate,
    rows: Vec<Row>,
    names: Vec<String>,
) -> Result<ShardPart, SearchError> {
    let read = rows.len() as u64;
    let part = |names, rows: Vec<Row>| {
        if rows.len() > MAX_SHARD_ROWS {
            return Err(too_many());
        }
        Ok(ShardPart {
            read,
            names,
            rows,
            ..ShardPart::default()
        })
    };
    if agg.knn.is_some() {
        return part(names, rows);
    }
    let at = first_blocking(agg);
    let (_, mut rows) = agg.exec(&agg.steps[..at], numbered(rows), rows_len(read), None)?;
    if let Some(g) = partial_group(agg, at) {
        let groups = group_with(
            g,
            numbered(rows),
            |s, spec, row| s.add(spec, row),
            State::partial,
        )?;
        return part(Vec::new(), groups);
    }
    match agg.steps.get(at) {
        Some(sort @ Step::Sort { .. }) => {
            rows = agg
                .exec(std::slice::from_ref(sort), numbered(rows), 0, None)?
                .1
        }
        Some(Step::Limit { offset, count }) => rows.truncate(offset.saturating_add(*count)),
        _ => {}
    }
    part(names, rows)
}

fn rows_len(read: u64) -> usize {
    usize::try_from(read).unwrap_or(usize::MAX)
}

/// Puts each part's rows under one lookup (`first`'s names, then the parts' new ones).
fn unify(first: &[String], parts: Vec<ShardPart>) -> (Lookup, Vec<Row>, Vec<Vec<u8>>) {
    let mut lookup = Lookup::from_names(first);
    let mut rows = Vec::new();
    let mut keys = Vec::new();
    for p in parts {
        let slots: Vec<usize> = p.names.iter().map(|n| lookup.add(n)).collect();
        for row in p.rows {
            let mut out: Row = vec![None; lookup.names.len()];
            for (i, v) in row.into_iter().enumerate() {
                if let (Some(&slot), Some(v)) = (slots.get(i), v) {
                    if out.len() <= slot {
                        out.resize(slot + 1, None);
                    }
                    out[slot] = Some(v);
                }
            }
            rows.push(out);
        }
        keys.extend(p.keys);
    }
    (lookup, rows, keys)
}

/// The coordinator's side: the shards' parts (in a fixed shard order) to the reply's rows.
pub fn coordinate(agg: &Aggregate, parts: Vec<ShardPart>) -> Result<Output, SearchError> {
    let read = parts.iter().map(|p| p.read).fold(0, u64::saturating_add);
    let at = first_blocking(agg);
    if let Some(g) = partial_group(agg, at) {
        let partials: Vec<Row> = parts.into_iter().flat_map(|p| p.rows).collect();
        // The partial rows are in the GROUPBY's own layout: its keys come first.
        let merged = Group {
            keys: (0..g.keys.len()).collect(),
            reducers: g.reducers.clone(),
            width: g.width,
        };
        let groups = group_with(
            &merged,
            numbered(partials),
            |s, spec, row| {
                if let Some(Some(v)) = row.get(spec.slot) {
                    s.absorb(spec, v);
                }
            },
            State::finish,
        )?;
        let n = groups.len();
        let (total, rows) = agg.exec(&agg.steps[at + 1..], numbered(groups), 0, Some(n))?;
        let names = agg
            .final_names
            .clone()
            .unwrap_or_else(|| agg.doc_names.clone());
        return Ok(Output { total, rows, names });
    }
    let (lookup, mut rows, _) = unify(&agg.doc_names, parts);
    let (from, read) = match agg.knn {
        Some((k, slot)) => {
            let distance = |r: &Row| {
                r.get(slot)
                    .and_then(|v| v.as_ref())
                    .and_then(Value::to_number)
                    .unwrap_or(f64::INFINITY)
            };
            rows.sort_by(|a, b| distance(a).total_cmp(&distance(b)));
            rows.truncate(k);
            (0, rows.len())
        }
        None => (at, rows_len(read)),
    };
    let (total, rows) = agg.exec(&agg.steps[from..], numbered(rows), read, None)?;
    let names = agg.final_names.clone().unwrap_or(lookup.names);
    Ok(Output { total, rows, names })
}

/// The value a row slot of `source` takes from the hit that made the row (its key, score or
/// a distance); `None` for a document field.
pub fn meta_value(source: &Source, hit: &Hit) -> Option<Value> {
    match source {
        Source::Key => Some(Value::Str(String::from_utf8_lossy(&hit.key).into_owned())),
        Source::Score => Some(Value::Num(hit.score)),
        Source::Distance(name) => hit
            .distances
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, d)| Value::Num(*d)),
        _ => None,
    }
}

fn hit(key: Vec<u8>, score: f64, distances: Vec<(String, f64)>) -> Hit {
    Hit {
        key,
        distances,
        score,
        payload: None,
        terms: Vec::new(),
    }
}

/// FT.HYBRID's coordinator: the shards' ranked lists merged as one server ranks them (text
/// by score, best first; vectors nearest first, cut to KNN's k), fused, each fused hit given
/// its document's row from the shard that holds it. Returns the rows, under `names`.
pub fn coordinate_hybrid(h: &Hybrid, parts: Vec<ShardPart>) -> (Vec<Row>, Vec<String>) {
    let mut text: Vec<(Vec<u8>, f64)> = Vec::new();
    let mut vector: Vec<(Vec<u8>, f64)> = Vec::new();
    for p in &parts {
        text.extend(p.text.iter().cloned());
        vector.extend(p.vector.iter().cloned());
    }
    text.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    text.truncate(h.window);
    vector.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
    if let Some(knn) = &h.vector.query.knn {
        vector.truncate(knn.k);
    }
    vector.truncate(h.window);
    let text = Outcome {
        total: text.len(),
        hits: text
            .into_iter()
            .map(|(k, s)| hit(k, s, Vec::new()))
            .collect(),
        timed_out: false,
    };
    let vector = Outcome {
        total: vector.len(),
        hits: vector
            .into_iter()
            .map(|(k, d)| hit(k, d, vec![(h.distance_name.clone(), d)]))
            .collect(),
        timed_out: false,
    };
    let fused = h.fuse(text, vector);
    let (lookup, rows, keys) = unify(&h.post.doc_names, parts);
    let by_key: HashMap<Vec<u8>, Row> = keys.into_iter().zip(rows).collect();
    let mut out = Vec::with_capacity(fused.len());
    for hit in &fused {
        // A document gone since its shard searched has no row: it is left out, as one server
        // leaves out a document deleted between its search and its LOAD.
        let Some(row) = by_key.get(&hit.key) else {
            continue;
        };
        let mut row = row.clone();
        for l in &h.post.loads {
            if let Some(v) = meta_value(&l.source, hit) {
                if row.len() <= l.slot {
                    row.resize(l.slot + 1, None);
                }
                row[l.slot] = Some(v);
            }
        }
        out.push(row);
    }
    (out, lookup.names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::schema;

    fn def() -> crate::search::schema::IndexDef {
        let args: Vec<&[u8]> = vec![
            b"SCHEMA",
            b"t",
            b"TAG",
            b"n",
            b"NUMERIC",
            b"SORTABLE",
            b"s",
            b"TEXT",
        ];
        schema::parse_create(b"i", &args).unwrap()
    }

    fn parse(words: &str) -> Aggregate {
        let words: Vec<&[u8]> = words.split(' ').map(str::as_bytes).collect();
        super::super::parse(&def(), &words).unwrap()
    }

    /// Documents (t, n, s) as the query reads them under `agg`'s first lookup.
    fn rows(agg: &Aggregate, docs: &[(&str, f64, &str)]) -> Vec<Row> {
        let lookup = Lookup::from_names(&agg.doc_names);
        docs.iter()
            .map(|(t, n, s)| {
                let mut row: Row = vec![None; lookup.names.len()];
                for (name, v) in [
                    ("t", Value::Str(t.to_string())),
                    ("n", Value::Num(*n)),
                    ("s", Value::Str(s.to_string())),
                ] {
                    if let Some(slot) = lookup.get(name) {
                        row[slot] = Some(v);
                    }
                }
                row
            })
            .collect()
    }

    fn docs() -> Vec<(&'static str, f64, &'static str)> {
        (0..60)
            .map(|i| {
                let t = ["red", "green", "blue", "gray"][i % 4];
                let s = ["a", "b", "c"][i % 3];
                (t, ((i * 37) % 23) as f64 + 0.25 * (i % 2) as f64, s)
            })
            .collect()
    }

    /// The pipeline over all the documents on one "server", and over the documents dealt to
    /// three "shards" and merged, give the same rows (sorted, where the order is not defined).
    fn same(words: &str, ordered: bool) {
        let agg = parse(words);
        let all = rows(&agg, &docs());
        let one = agg.run(all.clone(), agg.doc_names.clone()).unwrap();
        let mut parts = Vec::new();
        for s in 0..3 {
            let mine: Vec<Row> = all.iter().skip(s).step_by(3).cloned().collect();
            parts.push(shard(&agg, mine, agg.doc_names.clone()).unwrap());
        }
        let many = coordinate(&agg, parts).unwrap();
        let show = |o: &Output| {
            let mut r: Vec<String> = o.rows.iter().map(|r| format!("{r:?}")).collect();
            if !ordered {
                r.sort();
            }
            (o.names.clone(), r)
        };
        assert_eq!(show(&one), show(&many), "{words}");
        if ordered || words.contains("GROUPBY") {
            assert_eq!(one.total, many.total, "{words}");
        }
    }

    #[test]
    fn shards_and_one_server_agree() {
        for (words, ordered) in [
            ("* GROUPBY 1 @t REDUCE COUNT 0 AS c", false),
            (
                "* GROUPBY 1 @t REDUCE SUM 1 @n AS s REDUCE MIN 1 @n REDUCE MAX 1 @n",
                false,
            ),
            (
                "* GROUPBY 1 @t REDUCE AVG 1 @n AS a REDUCE COUNT_DISTINCT 1 @s AS d",
                false,
            ),
            (
                "* GROUPBY 2 @t @s REDUCE COUNT_DISTINCTISH 1 @n AS d",
                false,
            ),
            (
                "* GROUPBY 1 @t REDUCE FIRST_VALUE 4 @s BY @n DESC AS f",
                false,
            ),
            ("* GROUPBY 1 @t REDUCE QUANTILE 2 @n 0.5 AS q", false),
            (
                "* FILTER @n>3 GROUPBY 1 @t REDUCE COUNT 0 AS c SORTBY 4 @c DESC @t ASC",
                true,
            ),
            (
                "* APPLY @n*2 AS m FILTER @m>10 GROUPBY 1 @t REDUCE SUM 1 @m AS s SORTBY 2 @s ASC",
                true,
            ),
            ("* LOAD 1 @s SORTBY 4 @n DESC @s ASC MAX 7", true),
            ("* LOAD 1 @s SORTBY 4 @n ASC @s ASC LIMIT 5 10", true),
            ("* APPLY @n*3 AS m FILTER @m>5 LIMIT 0 1000", false),
            (
                "* GROUPBY 1 @s REDUCE TOLIST 1 @t AS l GROUPBY 1 @l REDUCE COUNT 0 AS c",
                false,
            ),
        ] {
            same(words, ordered);
        }
    }

    #[test]
    fn stddev_merges_exactly_enough() {
        let agg = parse("* GROUPBY 0 REDUCE STDDEV 1 @n AS sd");
        let all = rows(&agg, &docs());
        let one = agg.run(all.clone(), agg.doc_names.clone()).unwrap();
        let parts: Vec<ShardPart> = all
            .chunks(7)
            .map(|c| shard(&agg, c.to_vec(), agg.doc_names.clone()).unwrap())
            .collect();
        let many = coordinate(&agg, parts).unwrap();
        let n = |o: &Output| o.rows[0][0].as_ref().unwrap().to_number().unwrap();
        assert!(
            (n(&one) - n(&many)).abs() < 1e-9,
            "{} {}",
            n(&one),
            n(&many)
        );
    }

    #[test]
    fn a_sort_or_limit_ships_only_what_can_be_shown() {
        let agg = parse("* SORTBY 2 @n DESC MAX 3");
        let part = shard(&agg, rows(&agg, &docs()), agg.doc_names.clone()).unwrap();
        assert_eq!((part.read, part.rows.len()), (60, 3));
        let agg = parse("* LIMIT 2 3");
        let part = shard(&agg, rows(&agg, &docs()), agg.doc_names.clone()).unwrap();
        assert_eq!(part.rows.len(), 5);
        let agg = parse("* GROUPBY 1 @t REDUCE COUNT 0");
        let part = shard(&agg, rows(&agg, &docs()), agg.doc_names.clone()).unwrap();
        assert_eq!(part.rows.len(), 4);
    }

    #[test]
    fn malformed_partials_merge_to_something_not_a_panic() {
        let agg = parse("* GROUPBY 1 @t REDUCE AVG 1 @n AS a REDUCE STDDEV 1 @n AS s REDUCE FIRST_VALUE 1 @n AS f");
        let junk = vec![
            Some(Value::Str("x".into())),
            Some(Value::Arr(vec![Value::Null])),
            Some(Value::Str("y".into())),
            Some(Value::Arr(vec![])),
        ];
        let part = ShardPart {
            rows: vec![junk, vec![], vec![None; 9]],
            ..ShardPart::default()
        };
        let out = coordinate(&agg, vec![part]).unwrap();
        assert_eq!(out.rows.len(), 2);
    }
}
