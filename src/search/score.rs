//! Relevance: RediSearch's scorers (TFIDF, its default, TFIDF.DOCNORM, BM25, BM25STD,
//! DISMAX, DOCSCORE) over the same result tree RediSearch builds for a document: a term's
//! frequency and IDF, unions and intersections summing their children, filters counting as
//! "virtual" results, and TFIDF/BM25 dividing by the slop between the matched terms'
//! positions. Numbers follow RediSearch 2.10 (`src/ext/default.c`): the TFIDF IDF is
//! `logb(1 + N/df)` with N one more than the document count, BM25STD's is
//! `ln(1 + (N - df + 0.5)/(df + 0.5))`, k1 = 1.2 and b = 0.5.

use super::language::Language;
use std::cell::{Cell, RefCell};
use std::rc::Rc;

use rustc_hash::FxHashMap;
use smallvec::SmallVec;

use super::error::SearchError;
use super::postings::{Postings, Term, STEM_PREFIX, SYNONYM_PREFIX};
use super::query::{Expr, TagPattern, TextPattern};
use super::schema::FieldValue;

// RediSearch keeps these as C floats; computing with the same values gives its digits.
const K1: f64 = 1.2f32 as f64;
const K1_PLUS_1: f64 = (1.2f32 + 1.0f32) as f64;
const B: f64 = 0.5;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scorer {
    #[default]
    Tfidf,
    TfidfDocNorm,
    Bm25,
    Bm25Std,
    DisMax,
    DocScore,
}

impl Scorer {
    /// FT.SEARCH `SCORER name`. HAMMING needs document payloads, which this module does not
    /// keep: refused rather than answered with zeros.
    pub fn parse(name: &[u8]) -> Result<Scorer, SearchError> {
        Ok(match name {
            b"TFIDF" => Scorer::Tfidf,
            b"TFIDF.DOCNORM" => Scorer::TfidfDocNorm,
            b"BM25" => Scorer::Bm25,
            b"BM25STD" => Scorer::Bm25Std,
            b"DISMAX" => Scorer::DisMax,
            b"DOCSCORE" => Scorer::DocScore,
            b"HAMMING" => return Err(SearchError::ScorerNeedsPayloads),
            _ => {
                return Err(SearchError::UnknownScorer(
                    String::from_utf8_lossy(name).into_owned(),
                ))
            }
        })
    }

    /// Whether every document gets the same score, whatever it holds (then document order
    /// is the answer's order and nothing needs computing).
    pub fn is_constant(self, postings: &Postings) -> bool {
        match self {
            Scorer::DocScore => true,
            // Without TEXT fields every norm is 0: every TFIDF score is the same infinity.
            Scorer::Tfidf | Scorer::TfidfDocNorm => !postings.has_text(),
            _ => false,
        }
    }
}

/// A text pattern's dictionary terms, with their postings.
type Resolved<'a> = Rc<[(&'a str, &'a Term, Cursor)]>;

/// Where a term's postings were last read in this search (see [`Term::get_from`]).
type Cursor = Cell<usize>;

/// A document's part in a query's result, shaped as RediSearch's result tree.
/// `weight` is the `$weight` attribute of the clause the node stands for (1 without one).
enum Node<'a> {
    /// A text term (with the positions it occurs at) or a tag value (without).
    Term {
        name: Option<&'a str>,
        freq: u32,
        df: usize,
        weight: f64,
    },
    Agg {
        union: bool,
        children: Vec<Node<'a>>,
        weight: f64,
    },
    /// An `Agg` whose children are all terms (a term's union with its stems, a phrase, a tag
    /// union), built without an allocation: most nodes a document gets are these.
    Terms {
        union: bool,
        hits: SmallVec<[Hit<'a>; 2]>,
        weight: f64,
    },
    /// A filter's match (numeric, geo, `*`, a negation): no term, no positions.
    Virtual {
        freq: u32,
        wildcard: bool,
        weight: f64,
    },
}

/// A `Node::Term`'s fields, as a `Node::Terms` child.
#[derive(Clone, Copy)]
struct Hit<'a> {
    name: Option<&'a str>,
    freq: u32,
    df: u32,
    weight: f64,
}

impl<'a> Hit<'a> {
    fn node(&self) -> Node<'a> {
        Node::Term {
            name: self.name,
            freq: self.freq,
            df: self.df as usize,
            weight: self.weight,
        }
    }
}

impl Node<'_> {
    fn set_weight(&mut self, w: f64) {
        match self {
            Node::Term { weight, .. }
            | Node::Agg { weight, .. }
            | Node::Terms { weight, .. }
            | Node::Virtual { weight, .. } => *weight = w,
        }
    }
}

/// One document as the scorer sees it.
pub struct DocView<'a> {
    pub id: u32,
    /// The language its tokens were stemmed in.
    pub lang: Language,
    /// Its score (SCORE_FIELD, else the index's SCORE): a factor on TFIDF and BM25.
    pub score: f64,
    pub values: &'a [FieldValue],
    pub max_freq: u32,
    pub len: u32,
    /// The synonym groups' version the document was indexed under.
    pub syn_version: u64,
}

pub struct ScoreCtx<'a> {
    pub postings: &'a Postings,
    pub scorer: Scorer,
    pub verbatim: bool,
    /// The request's SLOP (most positions between an intersection's terms) and INORDER.
    pub slop: Option<u32>,
    pub inorder: bool,
    /// The language query terms are stemmed in.
    pub language: Language,
    /// Whether a non-text leaf matches the document (numeric, geo, missing, vector range).
    pub leaf: &'a dyn Fn(&Expr, &DocView) -> bool,
    /// [`terms`](Self::terms)' answers, by pattern (its address in the query) and VERBATIM.
    resolved: RefCell<FxHashMap<(usize, bool), Resolved<'a>>>,
    /// The index's document count (read once: a bitmap counts its containers).
    docs: u64,
    bm25_idfs: RefCell<FxHashMap<usize, f64>>,
}

impl<'a> ScoreCtx<'a> {
    pub fn new(
        postings: &'a Postings,
        scorer: Scorer,
        verbatim: bool,
        leaf: &'a dyn Fn(&Expr, &DocView) -> bool,
    ) -> ScoreCtx<'a> {
        ScoreCtx {
            postings,
            scorer,
            verbatim,
            slop: None,
            inorder: false,
            language: Language::English,
            leaf,
            resolved: RefCell::new(FxHashMap::default()),
            docs: postings.live.len(),
            bm25_idfs: RefCell::new(FxHashMap::default()),
        }
    }

    /// Whether the document matches `expr` once term positions count (SLOP, INORDER): the
    /// postings answered everything else.
    pub fn matches_positions(&self, expr: &Expr, doc: &DocView) -> bool {
        self.node(expr, doc).is_some()
    }

    /// The document's score for `expr` (which it matches).
    pub fn score(&self, expr: &Expr, doc: &DocView) -> f64 {
        let s = self.raw_score(expr, doc);
        // 0/0 (a document without text under TFIDF) is x86's negative NaN; RediSearch prints
        // it as `nan`, and so must the server's double formatting.
        if s.is_nan() {
            f64::NAN
        } else {
            s
        }
    }

    fn raw_score(&self, expr: &Expr, doc: &DocView) -> f64 {
        let Some(node) = self.node(expr, doc) else {
            return 0.0;
        };
        let live = self.docs as f64;
        let avg = if live > 0.0 {
            self.postings.total_len as f64 / live
        } else {
            0.0
        };
        // The document's score multiplies TFIDF and BM25; a product below 0 (a negative
        // SCORE_FIELD) is under RediSearch's minimum score, which answers 0.
        let floor = |s: f64| if s < 0.0 { 0.0 } else { s };
        match self.scorer {
            Scorer::DocScore => doc.score,
            Scorer::DisMax => dismax(&node),
            Scorer::Tfidf | Scorer::TfidfDocNorm => {
                if doc.score == 0.0 {
                    return 0.0;
                }
                let norm = if self.scorer == Scorer::Tfidf {
                    doc.max_freq
                } else {
                    doc.len
                };
                let raw = self.tfidf(&node);
                let s = floor(doc.score * raw / f64::from(norm));
                s / f64::from(self.slop(&node, doc))
            }
            Scorer::Bm25 => {
                let raw = floor(doc.score * self.bm25(&node, avg));
                raw / f64::from(self.slop(&node, doc))
            }
            Scorer::Bm25Std => doc.score * self.bm25std(&node, doc, avg),
        }
    }

    fn idf(&self, df: usize) -> f64 {
        let n = self.docs as f64 + 1.0;
        logb(1.0 + n / (df.max(1) as f64))
    }

    /// RediSearch computes the ratio in C floats; so does this, for the same digits. Each
    /// document frequency's value is computed once a search (a logarithm per term and
    /// document was a twentieth of a union's time).
    fn bm25_idf(&self, df: usize) -> f64 {
        if let Some(v) = self.bm25_idfs.borrow().get(&df) {
            return *v;
        }
        let n = self.docs as f32;
        let d = df as f32;
        let v = f64::from(1.0f32 + (n - d + 0.5) / (d + 0.5)).ln();
        self.bm25_idfs.borrow_mut().insert(df, v);
        v
    }

    fn tfidf(&self, node: &Node) -> f64 {
        match node {
            Node::Term {
                freq, df, weight, ..
            } => weight * f64::from(*freq) * self.idf(*df),
            Node::Agg {
                children, weight, ..
            } => weight * children.iter().map(|c| self.tfidf(c)).sum::<f64>(),
            Node::Terms { hits, weight, .. } => {
                weight * hits.iter().map(|h| self.tfidf(&h.node())).sum::<f64>()
            }
            Node::Virtual { freq, weight, .. } => weight * f64::from(*freq),
        }
    }

    fn bm25(&self, node: &Node, avg: f64) -> f64 {
        let k = K1 * (1.0 - B + B * avg);
        match node {
            Node::Term { freq, df, .. } => {
                let f = f64::from(*freq);
                self.idf(*df) * f / (f + k)
            }
            // As in RediSearch, BM25 weighs aggregates and filters but not terms.
            Node::Agg {
                children, weight, ..
            } => weight * children.iter().map(|c| self.bm25(c, avg)).sum::<f64>(),
            Node::Terms { hits, weight, .. } => {
                weight * hits.iter().map(|h| self.bm25(&h.node(), avg)).sum::<f64>()
            }
            Node::Virtual { freq, weight, .. } => {
                let f = f64::from(*freq);
                if f == 0.0 {
                    0.0
                } else {
                    weight * f / (f + k)
                }
            }
        }
    }

    fn bm25std(&self, node: &Node, doc: &DocView, avg: f64) -> f64 {
        let ratio = if avg > 0.0 {
            f64::from(doc.len) / avg
        } else {
            0.0
        };
        let tf = |f: f64| f * K1_PLUS_1 / (f + K1 * (1.0 - B + B * ratio));
        match node {
            Node::Term { freq, df, .. } => self.bm25_idf(*df) * tf(f64::from(*freq)),
            Node::Agg {
                children, weight, ..
            } => {
                weight
                    * children
                        .iter()
                        .map(|c| self.bm25std(c, doc, avg))
                        .sum::<f64>()
            }
            Node::Terms { hits, weight, .. } => {
                weight
                    * hits
                        .iter()
                        .map(|h| self.bm25std(&h.node(), doc, avg))
                        .sum::<f64>()
            }
            // Only `*` counts: a numeric or geo match scores nothing under BM25STD.
            Node::Virtual {
                freq,
                wildcard,
                weight,
            } => {
                if *wildcard && *freq > 0 {
                    weight * tf(f64::from(*freq))
                } else {
                    0.0
                }
            }
        }
    }

    /// RediSearch's `IndexResult_MinOffsetDelta`: how far apart the matched terms are.
    fn slop(&self, node: &Node, doc: &DocView) -> u32 {
        match node {
            Node::Agg { children, .. } => self.slop_of(children, doc),
            Node::Terms { hits, .. } if hits.len() > 1 => {
                let children: Vec<Node> = hits.iter().map(Hit::node).collect();
                self.slop_of(&children, doc)
            }
            _ => 1,
        }
    }

    fn slop_of(&self, children: &[Node], doc: &DocView) -> u32 {
        let num = children.len();
        if num <= 1 {
            return 1;
        }
        let table = self.position_table(children, doc);
        let mut dist: u64 = 0;
        let mut i = 0;
        while i < num {
            while i < num && !has_offsets(&children[i]) {
                i += 1;
            }
            if i == num {
                break;
            }
            let v1 = table.offsets(&children[i]);
            i += 1;
            while i < num && !has_offsets(&children[i]) {
                i += 1;
            }
            if i == num {
                break;
            }
            let v2 = table.offsets(&children[i]);
            let (mut a, mut b) = (v1.iter().copied(), v2.iter().copied());
            let (mut p1, mut p2) = (a.next(), b.next());
            // C's `abs((int)p2 - (int)p1)`: the end marker counts as -1.
            let delta = |x: Option<u32>, y: Option<u32>| -> u64 {
                let (x, y) = (x.unwrap_or(EOF) as i32, y.unwrap_or(EOF) as i32);
                (i64::from(x) - i64::from(y)).unsigned_abs()
            };
            let mut cd = delta(p1, p2);
            while cd > 1 && p1.is_some() && p2.is_some() {
                cd = cd.min(delta(p1, p2));
                if p2 > p1 {
                    p1 = a.next();
                } else {
                    p2 = b.next();
                }
            }
            dist = dist.saturating_add(cd.saturating_mul(cd));
        }
        if dist > 0 {
            ((dist as f64).sqrt() as u32).max(1)
        } else {
            (num as u32 - 1).max(1)
        }
    }

    /// Where the terms of `nodes` occur in the document, found in one pass over its tokens
    /// (each node's offsets are then read from the table): one position counter over the TEXT
    /// fields in schema order (stopwords are not among the tokens, so take no position).
    fn position_table<'n>(&self, nodes: &'n [Node<'_>], doc: &DocView) -> PositionTable<'n> {
        let mut names = Names::new();
        for n in nodes.iter().filter(|c| has_offsets(c)) {
            term_names(n, &mut names);
        }
        // How a token is told to be one of the names: a stem term by the tokens indexed under
        // it (no stemming here), a synonym group's term by the group (it sits where its
        // words do, as RediSearch indexes it), anything else by equality.
        let kinds: SmallVec<[Sought<'_>; 6]> = names
            .iter()
            .map(|t| {
                if let Some(g) = t.strip_prefix(SYNONYM_PREFIX) {
                    Sought::Group(g)
                } else if t.starts_with(STEM_PREFIX) {
                    Sought::Forms(self.postings.stem_forms(doc.lang, t))
                } else {
                    Sought::Token(t)
                }
            })
            .collect();
        let mut lists: SmallVec<[Positions; 6]> =
            smallvec::smallvec![Positions::new(); names.len()];
        let mut pos = 0u32;
        for (i, value) in doc.values.iter().enumerate() {
            let (Some(nostem), FieldValue::Text(tokens)) = (self.postings.nostem(i), value) else {
                continue;
            };
            for t in tokens.iter() {
                pos += 1;
                for (k, kind) in kinds.iter().enumerate() {
                    let hit = match *kind {
                        Sought::Token(x) => t == x,
                        Sought::Forms(forms) => !nostem && forms.iter().any(|f| &**f == t),
                        Sought::Group(g) => self
                            .postings
                            .synonyms
                            .groups_at(t, doc.syn_version)
                            .into_iter()
                            .any(|x| x == g),
                    };
                    if hit {
                        lists[k].push(pos);
                    }
                }
            }
        }
        PositionTable { names, lists }
    }

    /// An intersection's node, `None` unless every clause matches and, under a slop or
    /// INORDER, the positions of its terms are close enough and in order.
    fn and_node(
        &self,
        parts: &[Expr],
        doc: &DocView,
        slop: Option<u32>,
        inorder: bool,
    ) -> Option<Node<'a>> {
        let mut children = Vec::with_capacity(parts.len());
        if inorder {
            for p in parts {
                children.push(self.node(p, doc)?);
            }
        } else {
            // RediSearch reads an unordered intersection's children narrowest first (nested
            // intersections before all), and the slop between their positions is measured
            // in that order.
            let mut order: Vec<(u64, &Expr)> =
                parts.iter().map(|p| (self.order_key(p), p)).collect();
            order.sort_by_key(|&(k, _)| k);
            for (_, p) in order {
                children.push(self.node(p, doc)?);
            }
        }
        // INORDER alone puts no bound on the distance.
        let slop = match (slop, inorder) {
            (Some(s), _) => Some(s),
            (None, true) => Some(u32::MAX),
            (None, false) => None,
        };
        if let Some(max) = slop {
            let table = self.position_table(&children, doc);
            let lists: Vec<Positions> = children
                .iter()
                .filter(|c| has_offsets(c))
                .map(|c| table.offsets(c))
                .collect();
            if !within_range(&lists, max, inorder) {
                return None;
            }
        }
        Some(Node::Agg {
            union: false,
            children,
            weight: 1.0,
        })
    }

    /// Where RediSearch's intersection puts a child when it sorts them: its estimated size,
    /// but an intersection (or a phrase, which is one) first.
    fn order_key(&self, e: &Expr) -> u64 {
        match e {
            Expr::And(_)
            | Expr::Text {
                pattern: TextPattern::Phrase(_),
                ..
            } => 0,
            Expr::Opts { expr, .. } => self.order_key(expr),
            other => self.estimate(other),
        }
    }

    /// A clause's estimated number of documents as RediSearch's iterators report it: a term's
    /// document count, a union's sum, an intersection's smallest child.
    fn estimate(&self, e: &Expr) -> u64 {
        match e {
            Expr::Text { pattern, .. } => {
                let verbatim = !matches!(pattern, TextPattern::Term(_)) || self.verbatim;
                self.terms(pattern, verbatim)
                    .iter()
                    .map(|(_, t, _)| t.docs() as u64)
                    .sum()
            }
            Expr::Tag { field, patterns } => patterns
                .iter()
                .map(|p| match p {
                    TagPattern::Exact(t) => self.postings.tag_docs(*field, t) as u64,
                    _ => self.postings.live.len(),
                })
                .sum(),
            Expr::Or(parts) => parts.iter().map(|p| self.estimate(p)).sum(),
            Expr::And(parts) => parts.iter().map(|p| self.estimate(p)).min().unwrap_or(0),
            Expr::Opts { expr, .. } => self.estimate(expr),
            _ => self.postings.live.len(),
        }
    }

    /// Whether the document escapes `-inner` (whose terms are not stem-expanded).
    fn negated(&self, inner: &Expr, doc: &DocView) -> bool {
        let plain = ScoreCtx {
            postings: self.postings,
            scorer: self.scorer,
            verbatim: true,
            slop: self.slop,
            inorder: self.inorder,
            language: self.language,
            leaf: self.leaf,
            resolved: RefCell::new(FxHashMap::default()),
            docs: self.docs,
            bm25_idfs: RefCell::new(FxHashMap::default()),
        };
        plain.node(inner, doc).is_none()
    }

    /// The document's result tree for `expr`, `None` when it does not match.
    fn node(&self, expr: &Expr, doc: &DocView) -> Option<Node<'a>> {
        match expr {
            Expr::All => Some(Node::Virtual {
                freq: 1,
                wildcard: true,
                weight: 1.0,
            }),
            Expr::And(parts) => self.and_node(parts, doc, self.slop, self.inorder),
            Expr::Opts {
                expr: inner,
                weight,
                slop,
                inorder,
            } => {
                let mut node = match &**inner {
                    // The clause's own slop wins over the request's; INORDER from either.
                    Expr::And(parts) => {
                        self.and_node(parts, doc, slop.or(self.slop), self.inorder || *inorder)?
                    }
                    other => self.node(other, doc)?,
                };
                match (&**inner, &mut node) {
                    // RediSearch's numeric, geo and missing-field readers carry no weight.
                    (
                        Expr::Numeric { .. }
                        | Expr::Geo { .. }
                        | Expr::Missing(_)
                        | Expr::VectorRange { .. },
                        _,
                    ) => {}
                    // A tag union weighs each value's reader and the union itself.
                    (Expr::Tag { .. }, Node::Terms { hits, .. }) => {
                        hits.iter_mut().for_each(|h| h.weight = *weight);
                        node.set_weight(*weight);
                    }
                    // A text term weighs its union with its stems, not the terms in it.
                    (_, node) => node.set_weight(*weight),
                }
                Some(node)
            }
            Expr::Or(parts) => {
                let children: Vec<Node<'a>> =
                    parts.iter().filter_map(|p| self.node(p, doc)).collect();
                (!children.is_empty()).then_some(Node::Agg {
                    union: true,
                    children,
                    weight: 1.0,
                })
            }
            // A document the optional clause misses is still a match, scoring nothing.
            Expr::Optional(inner) => self.node(inner, doc).or(Some(Node::Virtual {
                weight: 1.0,
                freq: 0,
                wildcard: false,
            })),
            Expr::Not(inner) => self.negated(inner, doc).then_some(Node::Virtual {
                freq: 0,
                wildcard: false,
                weight: 1.0,
            }),
            Expr::Tag { field, patterns } => {
                let Some(FieldValue::Tag(tags)) = doc.values.get(*field) else {
                    return None;
                };
                let hits: SmallVec<[Hit<'a>; 2]> = tags
                    .iter()
                    .filter(|t| patterns.iter().any(|p| p.matches(t)))
                    .map(|t| Hit {
                        name: None,
                        freq: 1,
                        df: clamp(self.postings.tag_docs(*field, t)),
                        weight: 1.0,
                    })
                    .collect();
                // One exact value is read directly; anything more through a union, even where
                // only one of its values is in this document (RediSearch's tag iterators).
                match (hits.len(), patterns.as_slice()) {
                    (0, _) => None,
                    (1, [TagPattern::Exact(_)]) => Some(hits[0].node()),
                    _ => Some(Node::Terms {
                        union: true,
                        hits,
                        weight: 1.0,
                    }),
                }
            }
            Expr::Text { field, pattern } => self.text_node(*field, pattern, doc),
            Expr::Numeric { .. }
            | Expr::Geo { .. }
            | Expr::Missing(_)
            | Expr::VectorRange { .. } => (self.leaf)(expr, doc).then_some(Node::Virtual {
                freq: 1,
                wildcard: false,
                weight: 1.0,
            }),
        }
    }

    fn text_node(
        &self,
        field: Option<usize>,
        pattern: &TextPattern,
        doc: &DocView,
    ) -> Option<Node<'a>> {
        let mask = self.postings.field_mask(field);
        let hit = |&(name, term, ref cursor): &(&'a str, &'a Term, Cursor)| -> Option<Hit<'a>> {
            let (freq, m) = term.get_from(doc.id, cursor)?;
            (m & mask != 0).then_some(Hit {
                name: Some(name),
                freq,
                df: clamp(term.docs()),
                weight: 1.0,
            })
        };
        match pattern {
            TextPattern::Phrase(_) => {
                if !(self.leaf)(
                    &Expr::Text {
                        field,
                        pattern: pattern.clone(),
                    },
                    doc,
                ) {
                    return None;
                }
                let terms = self.terms(pattern, true);
                let hits: Option<SmallVec<[Hit<'a>; 2]>> = terms.iter().map(hit).collect();
                Some(Node::Terms {
                    union: false,
                    hits: hits?,
                    weight: 1.0,
                })
            }
            TextPattern::Term(_) => {
                let terms = self.terms(pattern, self.verbatim);
                let hits: SmallVec<[Hit<'a>; 2]> = terms.iter().filter_map(hit).collect();
                match (terms.len(), hits.len()) {
                    (_, 0) => None,
                    // One term in the dictionary: RediSearch reads it without a union.
                    (1, _) => Some(hits[0].node()),
                    _ => Some(Node::Terms {
                        union: true,
                        hits,
                        weight: 1.0,
                    }),
                }
            }
            // Prefix, suffix, infix and fuzzy expansions: RediSearch's union stops at the
            // first matching term (in dictionary order) for each document.
            _ => {
                let first = self.terms(pattern, true).iter().find_map(hit)?;
                Some(Node::Terms {
                    union: true,
                    hits: smallvec::smallvec![first],
                    weight: 1.0,
                })
            }
        }
    }

    /// The dictionary terms `pattern` stands for, looked up once per search (every matching
    /// document asks again).
    fn terms(&self, pattern: &TextPattern, verbatim: bool) -> Resolved<'a> {
        let key = (pattern as *const TextPattern as usize, verbatim);
        if let Some(found) = self.resolved.borrow().get(&key) {
            return found.clone();
        }
        let postings: &'a Postings = self.postings;
        let found: Resolved<'a> = postings
            .pattern_terms(pattern, verbatim, self.language)
            .into_iter()
            .filter_map(|name| Some((name, postings.term(name)?, Cursor::new(0))))
            .collect();
        self.resolved.borrow_mut().insert(key, found.clone());
        found
    }
}

/// What [`ScoreCtx::position_table`] looks for in a document's tokens for one term.
enum Sought<'p> {
    Token(&'p str),
    Forms(&'p [Box<str>]),
    Group(&'p str),
}

/// The end of a position list, as RediSearch's offset iterators report it.
const EOF: u32 = u32::MAX;

/// One child's positions, read as RediSearch's offset iterator reads them.
struct Offsets<'l> {
    list: &'l [u32],
    next: usize,
}

impl Offsets<'_> {
    fn next(&mut self) -> u32 {
        let p = self.list.get(self.next).copied().unwrap_or(EOF);
        self.next += 1;
        p
    }
}

/// RediSearch's `IndexResult_IsWithinRange` over the position lists (each sorted) of an
/// intersection's children that have positions: some choice of one position per list spans at
/// most `max_slop` positions besides its own (in list order when `in_order`). Its arithmetic is
/// kept, C casts included: a list with no positions (a tag union's) reads as the end marker,
/// which as an `int` is -1, and so passes an unordered check.
fn within_range(lists: &[Positions], max_slop: u32, in_order: bool) -> bool {
    let n = lists.len();
    if n == 0 {
        return true;
    }
    let max_slop = i64::from(max_slop.min(i32::MAX as u32));
    let int = |p: u32| i64::from(p as i32);
    let mut iters: Vec<Offsets> = lists.iter().map(|l| Offsets { list: l, next: 0 }).collect();
    let mut positions = vec![0u32; n];
    if in_order {
        loop {
            let mut span: i64 = 0;
            for i in 0..n {
                let mut pos = if i == 0 {
                    iters[0].next()
                } else {
                    positions[i]
                };
                let last = if i == 0 { 0 } else { positions[i - 1] };
                while pos != EOF && pos < last {
                    pos = iters[i].next();
                }
                if pos == EOF {
                    return false;
                }
                positions[i] = pos;
                if i > 0 {
                    span += int(pos) - int(last) - 1;
                    if span > max_slop {
                        break;
                    }
                }
            }
            if span <= max_slop {
                return true;
            }
        }
    }
    for (p, it) in positions.iter_mut().zip(iters.iter_mut()) {
        *p = it.next();
    }
    let mut max = positions.iter().copied().max().unwrap_or(EOF);
    loop {
        let (at, min) = positions
            .iter()
            .copied()
            .enumerate()
            .min_by_key(|&(_, p)| p)
            .unwrap_or((0, EOF));
        // RediSearch skips a window whose positions are all the same.
        if min != max && int(max) - int(min) - (n as i64 - 1) <= max_slop {
            return true;
        }
        let next = iters[at].next();
        positions[at] = next;
        if next == EOF {
            return false;
        }
        max = max.max(next);
    }
}

/// RediSearch's `RSIndexResult_HasOffsets`: a term with positions, or an aggregate holding
/// anything but filters (so a union of tag values counts, with no positions to read).
/// The positions of some terms in one document (see [`ScoreCtx::position_table`]).
struct PositionTable<'n> {
    names: Names<'n>,
    lists: SmallVec<[Positions; 6]>,
}

/// Small vectors: a scoring walk builds a position table per document, and these keep it off
/// the allocator for queries of a few terms.
type Names<'n> = SmallVec<[&'n str; 6]>;
type Positions = SmallVec<[u32; 4]>;

impl PositionTable<'_> {
    /// Where a node's terms occur, in order.
    fn offsets(&self, node: &Node) -> Positions {
        match node {
            Node::Term { name: Some(n), .. } => self
                .names
                .iter()
                .position(|x| x == n)
                .map(|k| self.lists[k].clone())
                .unwrap_or_default(),
            Node::Agg { children, .. } => {
                let mut all: Positions = children
                    .iter()
                    .filter(|c| has_offsets(c))
                    .flat_map(|c| self.offsets(c))
                    .collect();
                all.sort_unstable();
                all
            }
            Node::Terms { hits, .. } => {
                let mut all: Positions = hits
                    .iter()
                    .filter(|h| h.name.is_some())
                    .flat_map(|h| self.offsets(&h.node()))
                    .collect();
                all.sort_unstable();
                all
            }
            _ => Positions::new(),
        }
    }
}

/// The distinct term names under `node`, added to `out`.
fn term_names<'n>(node: &'n Node<'_>, out: &mut Names<'n>) {
    match node {
        Node::Term { name: Some(n), .. } if !out.contains(n) => out.push(n),
        Node::Agg { children, .. } => children.iter().for_each(|c| term_names(c, out)),
        Node::Terms { hits, .. } => {
            for n in hits.iter().filter_map(|h| h.name) {
                if !out.contains(&n) {
                    out.push(n);
                }
            }
        }
        _ => {}
    }
}

fn has_offsets(node: &Node<'_>) -> bool {
    match node {
        Node::Term { name, .. } => name.is_some(),
        Node::Agg { children, .. } => children.iter().any(|c| !matches!(c, Node::Virtual { .. })),
        Node::Terms { hits, .. } => !hits.is_empty(),
        Node::Virtual { .. } => false,
    }
}

fn dismax(node: &Node<'_>) -> f64 {
    match node {
        Node::Term { freq, weight, .. } | Node::Virtual { freq, weight, .. } => {
            weight * f64::from(*freq)
        }
        Node::Terms {
            union: false,
            hits,
            weight,
        } => weight * hits.iter().map(|h| dismax(&h.node())).sum::<f64>(),
        Node::Terms {
            union: true,
            hits,
            weight,
        } => weight * hits.iter().map(|h| dismax(&h.node())).fold(0.0, f64::max),
        Node::Agg {
            union: false,
            children,
            weight,
        } => weight * children.iter().map(dismax).sum::<f64>(),
        Node::Agg {
            union: true,
            children,
            weight,
        } => weight * children.iter().map(dismax).fold(0.0, f64::max),
    }
}

/// A document count as a `u32` (an index holds at most 2^32 documents).
fn clamp(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// C's `logb`: the binary exponent, as a float.
pub(crate) fn logb(x: f64) -> f64 {
    if x <= 0.0 || !x.is_finite() {
        return f64::NEG_INFINITY;
    }
    if x < f64::MIN_POSITIVE {
        return x.log2().floor();
    }
    // The exponent field of a normal number: exact where log2 may round.
    (((x.to_bits() >> 52) & 0x7ff) as i64 - 1023) as f64
}

#[cfg(test)]
mod tests {
    use super::logb;

    #[test]
    fn logb_is_the_binary_exponent() {
        assert_eq!(logb(1.0), 0.0);
        assert_eq!(logb(3.5), 1.0);
        assert_eq!(logb(4.0), 2.0);
        assert_eq!(logb(7.9), 2.0);
    }
}
