//! FT.HYBRID (Redis 8.4's syntax): a text query and a vector query over the same index, their
//! ranked lists fused (RRF or LINEAR), then FT.AGGREGATE's post-processing steps.
//!
//! ```text
//! FT.HYBRID index SEARCH query [SCORER s] [YIELD_SCORE_AS name]
//!     VSIM @field $param [KNN n K k [EF_RUNTIME e]] [RANGE n RADIUS r [EPSILON e]]
//!     [YIELD_SCORE_AS name] [FILTER query]
//!     [COMBINE RRF n [CONSTANT c] [WINDOW w] [YIELD_SCORE_AS name]
//!      | COMBINE LINEAR n [ALPHA a] [BETA b] [WINDOW w] [YIELD_SCORE_AS name]]
//!     [LOAD …] [GROUPBY …] [APPLY …] [SORTBY …] [FILTER …] [LIMIT o n] [PARAMS n …] [TIMEOUT t]
//! ```
//!
//! Each row holds `__key` and `__score` (the fused score, or its YIELD_SCORE_AS name), and the
//! text score and vector distance where they were given names.

use std::collections::HashMap;

use super::{agg, parse_with, Aggregate, Source};
use crate::search::error::SearchError;
use crate::search::index::{Outcome, Request};
use crate::search::query;
use crate::search::schema::IndexDef;
use crate::search::score::Scorer;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Combine {
    Rrf { constant: f64 },
    Linear { alpha: f64, beta: f64 },
}

pub struct Hybrid {
    pub text: Request,
    pub vector: Request,
    /// The name the vector query yields its distance as.
    pub distance_name: String,
    pub combine: Combine,
    pub window: usize,
    pub text_alias: Option<String>,
    pub vector_alias: Option<String>,
    pub score_alias: String,
    pub post: Aggregate,
    /// LIMIT's count when the post-processing gives none (10, as Redis).
    pub default_limit: Option<usize>,
}

fn word(words: &[&[u8]], i: usize, what: &str) -> Result<String, SearchError> {
    words
        .get(i)
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .ok_or_else(|| agg(format!("Missing argument for {what}")))
}

/// Option names (upper-cased) and their values.
type Pairs<'w> = Vec<(String, &'w [u8])>;

/// A document's rank and score in the text list, and its rank and distance in the vector list.
type Ranks = (Option<(usize, f64)>, Option<(usize, f64)>);

/// `count` then that many words, as `name value` pairs.
fn counted<'w>(
    words: &[&'w [u8]],
    i: usize,
    what: &str,
) -> Result<(Pairs<'w>, usize), SearchError> {
    let n = word(words, i, what)?
        .parse::<usize>()
        .ok()
        .filter(|&n| n % 2 == 0 && i + 1 + n <= words.len())
        .ok_or_else(|| agg(format!("Bad arguments for {what}: invalid count")))?;
    let pairs = words[i + 1..i + 1 + n]
        .chunks_exact(2)
        .map(|p| (String::from_utf8_lossy(p[0]).to_ascii_uppercase(), p[1]))
        .collect();
    Ok((pairs, i + 1 + n))
}

pub fn parse(def: &IndexDef, words: &[&[u8]]) -> Result<Hybrid, SearchError> {
    if !words
        .first()
        .is_some_and(|w| w.eq_ignore_ascii_case(b"SEARCH"))
    {
        return Err(agg("SEARCH argument is required"));
    }
    let text_query = word(words, 1, "SEARCH")?;
    let mut i = 2;
    let mut scorer = Scorer::parse(b"BM25STD")?;
    let mut text_alias = None;
    loop {
        match words.get(i).map(|w| w.to_ascii_uppercase()) {
            Some(w) if w == b"SCORER" => {
                scorer = Scorer::parse(words.get(i + 1).copied().unwrap_or_default())?;
                i += 2;
            }
            Some(w) if w == b"YIELD_SCORE_AS" => {
                text_alias = Some(word(words, i + 1, "YIELD_SCORE_AS")?);
                i += 2;
            }
            _ => break,
        }
    }
    if !words
        .get(i)
        .is_some_and(|w| w.eq_ignore_ascii_case(b"VSIM"))
    {
        return Err(agg("VSIM argument is required"));
    }
    let field = word(words, i + 1, "VSIM")?;
    let field = field.strip_prefix('@').unwrap_or(&field).to_string();
    let vec_word = words
        .get(i + 2)
        .ok_or_else(|| agg("Missing argument for VSIM"))?;
    i += 3;
    let mut extra_params: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let vec_ref = match vec_word.strip_prefix(b"$") {
        Some(name) => String::from_utf8_lossy(name).into_owned(),
        None => {
            // A vector given inline: named for the query as a parameter.
            extra_params.push((b"__hybrid_vector".to_vec(), vec_word.to_vec()));
            "__hybrid_vector".into()
        }
    };
    let mut k = 10usize;
    let mut ef = None;
    let mut range: Option<(f64, Option<f64>)> = None;
    let mut vector_alias = None;
    let mut filter = None;
    loop {
        match words.get(i).map(|w| w.to_ascii_uppercase()) {
            Some(w) if w == b"KNN" => {
                let (pairs, next) = counted(words, i + 1, "KNN")?;
                for (name, v) in pairs {
                    let v = String::from_utf8_lossy(v);
                    match name.as_str() {
                        "K" => {
                            k = v
                                .parse::<usize>()
                                .ok()
                                .filter(|&k| k > 0)
                                .ok_or_else(|| agg("Invalid value for K"))?
                        }
                        "EF_RUNTIME" => {
                            ef = Some(
                                v.parse::<usize>()
                                    .ok()
                                    .filter(|&e| e > 0)
                                    .ok_or_else(|| agg("Invalid value for EF_RUNTIME"))?,
                            )
                        }
                        "YIELD_SCORE_AS" => vector_alias = Some(v.into_owned()),
                        other => return Err(agg(format!("Unknown argument `{other}` in KNN"))),
                    }
                }
                i = next;
            }
            Some(w) if w == b"RANGE" => {
                let (pairs, next) = counted(words, i + 1, "RANGE")?;
                let mut radius = None;
                let mut epsilon = None;
                for (name, v) in pairs {
                    let v = String::from_utf8_lossy(v);
                    let n = || {
                        v.parse::<f64>()
                            .ok()
                            .filter(|n| n.is_finite() && *n >= 0.0)
                            .ok_or_else(|| agg(format!("Invalid value for {name}")))
                    };
                    match name.as_str() {
                        "RADIUS" => radius = Some(n()?),
                        "EPSILON" => epsilon = Some(n()?),
                        "YIELD_SCORE_AS" => vector_alias = Some(v.clone().into_owned()),
                        other => return Err(agg(format!("Unknown argument `{other}` in RANGE"))),
                    }
                }
                range = Some((radius.ok_or_else(|| agg("RADIUS is required"))?, epsilon));
                i = next;
            }
            Some(w) if w == b"YIELD_SCORE_AS" => {
                vector_alias = Some(word(words, i + 1, "YIELD_SCORE_AS")?);
                i += 2;
            }
            Some(w) if w == b"FILTER" && filter.is_none() => {
                filter = Some(word(words, i + 1, "FILTER")?);
                i += 2;
            }
            _ => break,
        }
    }
    let mut combine = Combine::Rrf { constant: 60.0 };
    let mut window = 20usize;
    let mut score_alias = "__score".to_string();
    if words
        .get(i)
        .is_some_and(|w| w.eq_ignore_ascii_case(b"COMBINE"))
    {
        let method = word(words, i + 1, "COMBINE")?.to_ascii_uppercase();
        let (pairs, next) = counted(words, i + 2, "COMBINE")?;
        combine = match method.as_str() {
            "RRF" => Combine::Rrf { constant: 60.0 },
            "LINEAR" => Combine::Linear {
                alpha: 0.3,
                beta: 0.7,
            },
            other => return Err(agg(format!("Unknown COMBINE method `{other}`"))),
        };
        for (name, v) in pairs {
            let text = String::from_utf8_lossy(v).into_owned();
            let n = || {
                text.parse::<f64>()
                    .ok()
                    .filter(|n| n.is_finite())
                    .ok_or_else(|| agg(format!("Invalid value for {name}")))
            };
            match (name.as_str(), &mut combine) {
                ("CONSTANT", Combine::Rrf { constant }) => *constant = n()?,
                ("ALPHA", Combine::Linear { alpha, .. }) => *alpha = n()?,
                ("BETA", Combine::Linear { beta, .. }) => *beta = n()?,
                ("WINDOW", _) => {
                    window = text
                        .parse::<usize>()
                        .ok()
                        .filter(|&w| w > 0)
                        .ok_or_else(|| agg("Invalid value for WINDOW"))?
                }
                ("YIELD_SCORE_AS", _) => score_alias = text.clone(),
                (other, _) => return Err(agg(format!("Unknown argument `{other}` in COMBINE"))),
            }
        }
        i = next;
    }
    // What follows is FT.AGGREGATE's: parsed as an aggregation of the fused rows.
    let mut post_words: Vec<&[u8]> = vec![b"*"];
    post_words.extend_from_slice(&words[i..]);
    let mut preset = vec![
        ("__key".to_string(), Source::Key),
        (score_alias.clone(), Source::Distance(score_alias.clone())),
    ];
    for name in [&text_alias, &vector_alias].into_iter().flatten() {
        preset.push((name.clone(), Source::Distance(name.clone())));
    }
    let post = parse_with(def, &post_words, &preset)?;
    let default_limit = (!post
        .steps
        .iter()
        .any(|s| matches!(s, super::Step::Limit { .. })))
    .then_some(10);
    let mut params: HashMap<Vec<u8>, Vec<u8>> = post_params(&words[i..]);
    params.extend(extra_params);
    let dialect = 2;
    let text = query::parse_dialect(
        text_query.as_bytes(),
        &params,
        &def.fields,
        dialect,
        def.stopwords.as_deref(),
    )?;
    let filter_text = filter.unwrap_or_else(|| "*".into());
    let distance_name = "__hybrid_distance".to_string();
    let vector_text = match range {
        None => format!(
            "({filter_text})=>[KNN {k} @{field} ${vec_ref}{} AS {distance_name}]",
            ef.map(|e| format!(" EF_RUNTIME {e}")).unwrap_or_default()
        ),
        Some((radius, eps)) => format!(
            "(@{field}:[VECTOR_RANGE {radius} ${vec_ref}]=>{{$YIELD_DISTANCE_AS: {distance_name}{}}}) ({filter_text})",
            eps.map(|e| format!("; $EPSILON: {e}")).unwrap_or_default()
        ),
    };
    let vector = query::parse_dialect(
        vector_text.as_bytes(),
        &params,
        &def.fields,
        dialect,
        def.stopwords.as_deref(),
    )?;
    let request = |query, scorer| Request {
        count: window,
        ..Request::new(def, query, scorer)
    };
    Ok(Hybrid {
        text: request(text, scorer),
        vector: request(vector, Scorer::default()),
        distance_name,
        combine,
        window,
        text_alias,
        vector_alias,
        score_alias,
        post,
        default_limit,
    })
}

/// PARAMS among the post-processing words (the queries use them too).
fn post_params(words: &[&[u8]]) -> HashMap<Vec<u8>, Vec<u8>> {
    let mut out = HashMap::new();
    let mut i = 0;
    while i < words.len() {
        if words[i].eq_ignore_ascii_case(b"PARAMS") {
            let n = words
                .get(i + 1)
                .and_then(|w| std::str::from_utf8(w).ok())
                .and_then(|s| s.parse::<usize>().ok())
                .unwrap_or(0);
            if let Some(pairs) = words.get(i + 2..i + 2 + n) {
                for p in pairs.chunks_exact(2) {
                    out.insert(p[0].to_vec(), p[1].to_vec());
                }
            }
            i += 2 + n;
        } else {
            i += 1;
        }
    }
    out
}

impl Hybrid {
    /// Fuses the two ranked lists into one, best first: each hit carries the fused score
    /// (and the named text score and vector distance) among its yielded values.
    pub fn fuse(&self, text: Outcome, vector: Outcome) -> Vec<crate::search::index::Hit> {
        use crate::search::index::Hit;
        let mut by_key: HashMap<Vec<u8>, Ranks> = HashMap::new();
        let mut order: Vec<Vec<u8>> = Vec::new();
        for (rank, h) in text.hits.into_iter().take(self.window).enumerate() {
            let e = by_key.entry(h.key.clone()).or_insert_with(|| {
                order.push(h.key.clone());
                (None, None)
            });
            e.0 = Some((rank + 1, h.score));
        }
        for (rank, h) in vector.hits.into_iter().take(self.window).enumerate() {
            let d = h
                .distances
                .iter()
                .find(|(n, _)| *n == self.distance_name)
                .map_or(h.score, |(_, d)| *d);
            let e = by_key.entry(h.key.clone()).or_insert_with(|| {
                order.push(h.key.clone());
                (None, None)
            });
            e.1 = Some((rank + 1, d));
        }
        let mut hits: Vec<Hit> = order
            .into_iter()
            .map(|key| {
                let (t, v) = by_key.get(&key).copied().unwrap_or((None, None));
                let score = match self.combine {
                    Combine::Rrf { constant } => {
                        t.map_or(0.0, |(r, _)| 1.0 / (constant + r as f64))
                            + v.map_or(0.0, |(r, _)| 1.0 / (constant + r as f64))
                    }
                    // The vector side as a similarity in (0, 1]: nearer is higher.
                    Combine::Linear { alpha, beta } => {
                        alpha * t.map_or(0.0, |(_, s)| s)
                            + beta * v.map_or(0.0, |(_, d)| 1.0 / (1.0 + d))
                    }
                };
                let mut distances = vec![(self.score_alias.clone(), score)];
                if let (Some(name), Some((_, s))) = (&self.text_alias, t) {
                    distances.push((name.clone(), s));
                }
                if let (Some(name), Some((_, d))) = (&self.vector_alias, v) {
                    distances.push((name.clone(), d));
                }
                Hit {
                    key,
                    distances,
                    score,
                    payload: None,
                    terms: Vec::new(),
                }
            })
            .collect();
        hits.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.key.cmp(&b.key)));
        hits
    }
}
