//! One index's documents: what each indexed hash contributes, the vector indexes, and query
//! execution. Pure: the glue hands in field values read from the keyspace and gets back the
//! keys (and distances) to answer with.
//!
//! Filters are answered from the inverted indexes ([`Postings`]): a set of matching
//! documents, computed once per search. A KNN with a filter then picks the cheaper of an exact
//! scan over that set and a filtered HNSW search; a search without KNN orders the set by
//! relevance ([`score`](super::score)), by SORTBY, or by document id when every score is the
//! same. Evaluating a filter against one document's values ([`Expr::matches`]) remains the
//! oracle the tests hold the postings to.

use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::hash::BuildHasher;
use std::time::Instant;

use roaring::RoaringBitmap;

use super::error::SearchError;
use super::geo;
use super::hnsw::HnswIndex;
use super::language::{Language, Lookup};
use super::multivector::MultiVectorIndex;
use super::postings::{EvalCtx, Postings};
use super::query::{normalize_tags, tokenize, Expr, Query, TagPattern, TextPattern};
use super::schema::{Algorithm, Field, FieldKind, FieldValue, IndexDef, KeyType};
use super::score::{DocView, ScoreCtx, Scorer};
use super::slots::{SlotSet, SlotTally};
use super::vector::{FlatIndex, VectorIndex};

struct Doc {
    key: Box<[u8]>,
    values: Box<[FieldValue]>,
    /// Raw TEXT/TAG/GEO values, kept for SORTBY on them (empty when the schema has none).
    raw: RawValues,
    /// The largest term frequency and the weighted token count (the scorers' norms).
    max_freq: u32,
    len: u32,
    /// The language its text was stemmed in (see [`DocMeta`]).
    lang: Language,
    /// Its own score and payload, boxed apart: most documents have neither, and then pay one
    /// pointer for them.
    extra: Option<Box<DocExtra>>,
    /// The synonym groups' version it was indexed under (see `Synonyms`).
    syn_version: u64,
}

/// Each document's id by its key. The table holds ids only and hashes and compares the keys
/// the documents hold, so a key is stored once. Keys come from clients: the hasher is
/// randomly seeded, as std's maps are.
#[derive(Default)]
struct KeyIndex {
    table: hashbrown::HashTable<u32>,
    hasher: std::hash::RandomState,
}

impl KeyIndex {
    fn key(docs: &[Option<Doc>], id: u32) -> &[u8] {
        docs.get(id as usize)
            .and_then(Option::as_ref)
            .map_or(&[], |d| &d.key)
    }

    fn get(&self, docs: &[Option<Doc>], key: &[u8]) -> Option<u32> {
        let hash = self.hasher.hash_one(key);
        self.table
            .find(hash, |&id| Self::key(docs, id) == key)
            .copied()
    }

    /// Adds document `id`, which `docs` already holds and the table does not.
    fn insert(&mut self, docs: &[Option<Doc>], id: u32) {
        let hasher = &self.hasher;
        let hash = hasher.hash_one(Self::key(docs, id));
        self.table
            .insert_unique(hash, id, |&other| hasher.hash_one(Self::key(docs, other)));
    }

    /// Takes `key` out, while `docs` still holds its document.
    fn remove(&mut self, docs: &[Option<Doc>], key: &[u8]) -> Option<u32> {
        let hash = self.hasher.hash_one(key);
        let entry = self
            .table
            .find_entry(hash, |&id| Self::key(docs, id) == key)
            .ok()?;
        Some(entry.remove().0)
    }

    fn bytes(&self) -> usize {
        self.table.capacity() * 5
    }
}

/// A document's raw field values in one allocation: the field count, one end per field
/// (`NONE` where the field has no value), all little-endian `u32`s, then the values' bytes.
/// A box per value cost a pointer, an allocation and its header each.
#[derive(Default)]
struct RawValues(Box<[u8]>);

impl RawValues {
    const NONE: u32 = u32::MAX;

    /// Empty when no field has a value. Values that would end past 4 GiB are dropped (a
    /// SORTBY then reads them as missing).
    fn new(values: &[Option<&[u8]>]) -> RawValues {
        let Ok(count) = u32::try_from(values.len()) else {
            return RawValues::default();
        };
        if values.iter().all(Option::is_none) {
            return RawValues::default();
        }
        let head = values.len().saturating_add(1).saturating_mul(4);
        let mut out = vec![0u8; head];
        out[..4].copy_from_slice(&count.to_le_bytes());
        let mut end = 0u32;
        for (i, v) in values.iter().enumerate() {
            let next = v.and_then(|v| {
                let e = end.checked_add(u32::try_from(v.len()).ok()?)?;
                (e != Self::NONE).then_some(e)
            });
            let mark = match (v, next) {
                (Some(v), Some(e)) => {
                    out.extend_from_slice(v);
                    end = e;
                    e
                }
                _ => Self::NONE,
            };
            let at = (i + 1) * 4;
            out[at..at + 4].copy_from_slice(&mark.to_le_bytes());
        }
        RawValues(out.into_boxed_slice())
    }

    fn word(&self, i: usize) -> Option<u32> {
        let b = self
            .0
            .get(i.checked_mul(4)?..i.checked_mul(4)?.checked_add(4)?)?;
        Some(u32::from_le_bytes(b.try_into().ok()?))
    }

    fn count(&self) -> usize {
        self.word(0).unwrap_or(0) as usize
    }

    fn get(&self, field: usize) -> Option<&[u8]> {
        let count = self.count();
        if field >= count {
            return None;
        }
        let end = self.word(field + 1).filter(|&e| e != Self::NONE)? as usize;
        // The value starts where the last field before it with a value ended.
        let start = (1..=field)
            .rev()
            .filter_map(|i| self.word(i))
            .find(|&e| e != Self::NONE)
            .unwrap_or(0) as usize;
        let base = (count + 1) * 4;
        self.0.get(base + start..base + end)
    }

    /// The same values over `n` fields (FT.ALTER appended fields, which hold none).
    fn resized(&self, n: usize) -> RawValues {
        let values: Vec<Option<&[u8]>> = (0..n).map(|f| self.get(f)).collect();
        RawValues::new(&values)
    }

    fn heap_bytes(&self) -> usize {
        self.0.len()
    }
}

struct DocExtra {
    score: Option<f64>,
    payload: Option<Box<[u8]>>,
}

impl Doc {
    /// The document as the scorer sees it.
    fn view(&self, id: u32, default_score: f64) -> DocView<'_> {
        DocView {
            id,
            lang: self.lang,
            score: self.score(default_score),
            syn_version: self.syn_version,
            values: &self.values,
            max_freq: self.max_freq,
            len: self.len,
        }
    }

    /// SCORE_FIELD's value, else the index's SCORE.
    fn score(&self, default: f64) -> f64 {
        self.extra.as_ref().and_then(|e| e.score).unwrap_or(default)
    }

    fn payload(&self) -> Option<&[u8]> {
        self.extra.as_ref().and_then(|e| e.payload.as_deref())
    }
}

/// What a document's LANGUAGE_FIELD, SCORE_FIELD and PAYLOAD_FIELD give; `None` where the
/// document lacks the field or its value is not one (RediSearch then uses the index's
/// LANGUAGE and SCORE, as here).
#[derive(Debug, Default, Clone)]
pub struct DocMeta {
    pub language: Option<Language>,
    pub score: Option<f64>,
    pub payload: Option<Vec<u8>>,
}

impl DocMeta {
    /// Reads the three fields from the raw hash values, as RediSearch reads them.
    pub fn from_raw(language: Option<&[u8]>, score: Option<&[u8]>, payload: Option<&[u8]>) -> Self {
        DocMeta {
            language: language.and_then(|l| match Language::lookup(l) {
                Lookup::Found(l) => Some(l),
                _ => None,
            }),
            score: score
                .and_then(|v| std::str::from_utf8(v).ok())
                .and_then(|v| v.trim().parse::<f64>().ok())
                .filter(|v| v.is_finite()),
            payload: payload.map(<[u8]>::to_vec),
        }
    }
}

impl Doc {
    /// Heap bytes, for FT.INFO; kept as a running total rather than recounted.
    fn bytes(&self) -> usize {
        let values: usize = self
            .values
            .iter()
            .map(|v| match v {
                FieldValue::Text(t) | FieldValue::Tag(t) => t.heap_bytes() + 32,
                FieldValue::Numerics(n) => n.len() * 8,
                FieldValue::Geos(g) => g.len() * 8,
                _ => 0,
            })
            .sum();
        std::mem::size_of::<Option<Doc>>()
            + self.key.len()
            + std::mem::size_of_val(&*self.values)
            + values
            + self.raw.heap_bytes()
            + self.extra.as_ref().map_or(0, |e| {
                std::mem::size_of::<DocExtra>() + e.payload.as_ref().map_or(0, |p| p.len())
            })
    }
}

/// An indexing failure, as FT.INFO reports it.
#[derive(Debug, Clone, Default)]
pub struct Failures {
    pub count: u64,
    pub last_error: Option<String>,
    pub last_key: Option<Vec<u8>>,
}

impl Failures {
    fn record(&mut self, error: &str, key: &[u8]) {
        self.count += 1;
        self.last_error = Some(error.to_string());
        self.last_key = Some(key.to_vec());
    }
}

/// Changes to a vector field made while its index is being rebuilt, replayed on the new one.
type ChangeLog = Vec<(u32, Option<Vec<f32>>)>;

/// A vector index to build afresh off the main thread (see [`IndexData::start_rebuilds`]).
#[derive(Debug, Clone, Copy)]
pub struct RebuildJob {
    pub field: usize,
    epoch: u64,
}

pub struct IndexData {
    key_to_id: KeyIndex,
    /// Documents per cluster hash slot (a shard skips those of slots it does not own).
    slots: SlotTally,
    rebuilding: Vec<Option<ChangeLog>>,
    /// Bumped when every document is dropped, so a rebuild started before cannot bring them
    /// back.
    epoch: u64,
    /// Documents by id; ids of removed documents are reused (`free`).
    docs: Vec<Option<Doc>>,
    free: Vec<u32>,
    live: usize,
    doc_bytes: usize,
    vectors: Vec<Option<Box<dyn VectorIndex>>>,
    postings: Postings,
    pub failures: Failures,
    pub field_failures: Vec<Failures>,
}

/// A matching document before paging: id, the distances it yields, its score.
type Scored = (u32, Vec<(String, f64)>, f64);

/// How results are ordered (FT.SEARCH SORTBY).
#[derive(Debug, Clone)]
pub struct SortBy {
    pub name: String,
    pub ascending: bool,
}

/// What FT.SEARCH asks of the index once its query is parsed.
pub struct Request {
    pub query: Query,
    pub sort: Option<SortBy>,
    pub offset: usize,
    pub count: usize,
    /// INKEYS: only these documents may match.
    pub in_keys: Option<HashSet<Vec<u8>>>,
    pub scorer: Scorer,
    /// VERBATIM: query terms are not expanded to their stems.
    pub verbatim: bool,
    /// SLOP and INORDER: how far apart and in what order every intersection's terms must be.
    pub slop: Option<u32>,
    pub inorder: bool,
    /// LANGUAGE (else the index's): how query terms are stemmed.
    pub language: Language,
    /// The index's SCORE, and whether documents may have their own (SCORE_FIELD).
    pub default_score: f64,
    pub doc_scores: bool,
    /// HIGHLIGHT / SUMMARIZE: each hit carries the query terms it matched.
    pub with_terms: bool,
    /// Matches in document order rather than best first (FT.AGGREGATE reads them that way).
    pub document_order: bool,
    /// When to stop looking at more documents (TIMEOUT / FT.CONFIG TIMEOUT); the outcome then
    /// holds what was found by then. `None`: never (a shard's part of a cluster search, whose
    /// coordinator has its own deadline and must not merge silently short answers).
    pub deadline: Option<Instant>,
}

impl Request {
    /// A request for `query` over the index `def` describes, with FT.SEARCH's defaults (the
    /// first 10 matches, best first, stemmed in the index's language).
    pub fn new(def: &IndexDef, query: Query, scorer: Scorer) -> Request {
        Request {
            query,
            sort: None,
            offset: 0,
            count: 10,
            in_keys: None,
            scorer,
            verbatim: false,
            slop: None,
            inorder: false,
            language: def.language,
            default_score: def.default_score,
            doc_scores: def.score_field.is_some(),
            with_terms: false,
            document_order: false,
            deadline: None,
        }
    }
}

/// The answers to one VECTOR_RANGE clause: the name its distance is yielded as, and the
/// documents within the radius with their distances.
type RangeHits = (Option<String>, HashMap<u32, f32>);

/// How one search runs, decided by [`IndexData::plan`] and carried out by
/// [`IndexData::execute`] under the same read lock (the ids in it mean nothing afterwards).
#[derive(Debug)]
pub struct Plan {
    /// Each VECTOR_RANGE clause answered, in clause order (the filter looks ids up in them).
    ranges: Vec<RangeHits>,
    pub route: Route,
    /// SORTBY's schema field; `None` when it sorts by a distance (or does not sort).
    sort_field: Option<usize>,
    /// The documents the filter and INKEYS let through; `None` for an unfiltered KNN.
    candidates: Option<RoaringBitmap>,
    /// [`IndexData::estimated_work`] of the request: what the command weighs to run it inline
    /// or on a search thread.
    pub estimated_work: u64,
}

/// Which documents a search visits, and in what order.
#[derive(Debug)]
pub enum Route {
    /// No KNN, no SORTBY, no range: the matches by relevance (by id when every score is the
    /// same), then the page.
    DocumentOrder,
    /// No KNN: collect every match, then order them (SORTBY, or nearest range first).
    CollectAndSort,
    /// A KNN over vector field `field`, searched with `strategy`.
    Knn {
        field: usize,
        /// The candidate list size of a graph search (EF_RUNTIME, at least K).
        ef: usize,
        /// The name the distance is yielded as.
        alias: String,
        strategy: Strategy,
    },
}

/// How a KNN finds its neighbours.
#[derive(Debug)]
pub enum Strategy {
    /// The vector index's own search over every vector: HNSW's graph walk, FLAT's full scan.
    /// Chosen when nothing filters the KNN.
    Index,
    /// One exact distance per candidate (the documents the filter and INKEYS let through):
    /// cheaper when they are few.
    ExactScan(usize),
    /// The vector index's search, skipping vectors that are not candidates: cheaper when the
    /// candidates are many.
    FilteredIndex(usize),
}

/// Whether an exact scan over `candidates` vectors beats a filtered search of an index of
/// `len` vectors with candidate list `ef`. The scan costs one distance per candidate; a
/// filtered HNSW search visits about ef·2M / selectivity nodes, selectivity being
/// candidates / len. With M around 16 the scan wins while candidates² < 32·ef·len.
fn prefer_exact_scan(candidates: usize, len: usize, ef: usize) -> bool {
    let n = len.max(1) as f64;
    let m = candidates as f64;
    m * m < 32.0 * ef as f64 * n
}

/// One result: the document's key and the distances the query yields for it.
#[derive(Debug, Clone)]
pub struct Hit {
    pub key: Vec<u8>,
    pub distances: Vec<(String, f64)>,
    pub score: f64,
    /// The document's PAYLOAD_FIELD value, for WITHPAYLOADS.
    pub payload: Option<Vec<u8>>,
    /// The dictionary terms of the query the document matched, with their IDF and the query
    /// term (its clause's number) each stands for (only when the request asks `with_terms`).
    pub terms: Vec<(String, f64, usize)>,
}

#[derive(Debug, Default)]
pub struct Outcome {
    pub total: usize,
    pub hits: Vec<Hit>,
    /// The deadline passed before every match was looked at: `total` and `hits` count only
    /// the documents seen by then (RediSearch's ON_TIMEOUT RETURN).
    pub timed_out: bool,
}

/// Asks the clock, every [`Clock::EVERY`] documents, whether a search's deadline has passed.
/// Reading the clock per document would cost more than scoring a short one; RediSearch's
/// iterators check every 100 results likewise.
struct Clock {
    deadline: Option<Instant>,
    seen: Cell<u32>,
    expired: Cell<bool>,
}

impl Clock {
    const EVERY: u32 = 256;

    fn new(deadline: Option<Instant>) -> Clock {
        Clock {
            deadline,
            seen: Cell::new(0),
            expired: Cell::new(false),
        }
    }

    /// Whether to stop before the next document. The first call reads the clock, so a search
    /// whose deadline passed before it started stops at once.
    fn expired(&self) -> bool {
        let Some(at) = self.deadline else {
            return false;
        };
        if self.expired.get() {
            return true;
        }
        let n = self.seen.get();
        self.seen.set(n.wrapping_add(1));
        if n % Self::EVERY == 0 && Instant::now() >= at {
            self.expired.set(true);
        }
        self.expired.get()
    }
}

impl IndexData {
    pub fn new(def: &IndexDef) -> IndexData {
        let vectors: Vec<Option<Box<dyn VectorIndex>>> = (0..def.fields.len())
            .map(|i| new_vector_index(def, i))
            .collect();
        IndexData {
            rebuilding: vectors.iter().map(|_| None).collect(),
            epoch: 0,
            key_to_id: KeyIndex::default(),
            slots: SlotTally::default(),
            docs: Vec::new(),
            free: Vec::new(),
            live: 0,
            doc_bytes: 0,
            vectors,
            postings: Postings::new(def),
            failures: Failures::default(),
            field_failures: vec![Failures::default(); def.fields.len()],
        }
    }

    /// Makes room for the fields FT.ALTER appended to `def`: every document reads as missing
    /// them until it is indexed again (the ALTER's scan, or its next write).
    pub fn add_fields(&mut self, def: &IndexDef) {
        for i in self.vectors.len()..def.fields.len() {
            self.vectors.push(new_vector_index(def, i));
            self.rebuilding.push(None);
            self.field_failures.push(Failures::default());
        }
        self.postings.add_fields(def);
        let n = def.fields.len();
        for doc in self.docs.iter_mut().flatten() {
            let mut values = std::mem::take(&mut doc.values).into_vec();
            values.resize(n, FieldValue::Missing);
            doc.values = values.into();
            if doc.raw.count() > 0 {
                doc.raw = doc.raw.resized(n);
            }
        }
    }

    pub fn num_docs(&self) -> usize {
        self.live
    }

    /// Distinct terms in the TEXT dictionary, stems included, as FT.INFO's `num_terms`
    /// counts them (the empty term INDEXEMPTY adds is not one).
    pub fn num_terms(&self) -> usize {
        self.postings.num_terms()
    }

    pub fn max_doc_id(&self) -> u32 {
        self.docs.len() as u32
    }

    fn doc(&self, id: u32) -> Option<&Doc> {
        self.docs.get(id as usize).and_then(Option::as_ref)
    }

    fn all_docs(&self) -> impl Iterator<Item = (u32, &Doc)> {
        self.docs
            .iter()
            .enumerate()
            .filter_map(|(id, d)| Some((id as u32, d.as_ref()?)))
    }

    pub fn vector_memory(&self) -> usize {
        self.vectors.iter().flatten().map(|v| v.memory()).sum()
    }

    /// Approximate heap bytes of the document table.
    pub fn doc_memory(&self) -> usize {
        self.doc_bytes
            + self.postings.bytes()
            + self.docs.capacity() * std::mem::size_of::<Option<Doc>>()
            + self.key_to_id.bytes()
            + self.slots.bytes()
    }

    /// FT.TAGVALS: a TAG field's distinct values.
    pub fn tag_values(&self, field: usize) -> Vec<String> {
        self.postings.tag_values(field)
    }

    pub fn keys(&self) -> impl Iterator<Item = &[u8]> {
        self.all_docs().map(|(_, d)| &*d.key)
    }

    /// How many documents have keys in cluster hash slots outside `owned`.
    pub fn docs_outside(&self, owned: &SlotSet) -> u64 {
        self.slots.outside(owned)
    }

    /// Indexes (or re-indexes) `key` from its field values, one per schema field. A value
    /// that cannot be indexed rejects the whole document, and an older version of it leaves
    /// the index, as RediSearch does.
    pub fn upsert(
        &mut self,
        def: &IndexDef,
        key: &[u8],
        input: &[FieldInput],
    ) -> Result<(), SearchError> {
        self.upsert_with(def, key, input, DocMeta::default())
    }

    /// [`upsert`](Self::upsert) with what the document's LANGUAGE_FIELD, SCORE_FIELD and
    /// PAYLOAD_FIELD hold.
    pub fn upsert_with(
        &mut self,
        def: &IndexDef,
        key: &[u8],
        input: &[FieldInput],
        meta: DocMeta,
    ) -> Result<(), SearchError> {
        let mut values = Vec::with_capacity(def.fields.len());
        let keeps_raw = def.fields.iter().any(|f| {
            matches!(
                f.kind,
                FieldKind::Text { .. } | FieldKind::Tag { .. } | FieldKind::Geo
            )
        });
        let mut raws = Vec::with_capacity(if keeps_raw { def.fields.len() } else { 0 });
        let mut vecs: Vec<(usize, Vec<f32>)> = Vec::new();
        for (i, field) in def.fields.iter().enumerate() {
            let r = input.get(i).unwrap_or(&FieldInput::Missing);
            match field_value(def, field, r, &mut vecs, i) {
                Ok(v) => values.push(v),
                Err(e) => {
                    self.reject(key, i, &e);
                    return Err(e);
                }
            }
            if keeps_raw {
                raws.push(match field.kind {
                    // RediSearch sorts a GEO field by its text, not by its geohash.
                    FieldKind::Text { .. } | FieldKind::Tag { .. } | FieldKind::Geo => {
                        r.first_bytes()
                    }
                    _ => None,
                });
            }
        }
        let known = self.key_to_id.get(&self.docs, key);
        let id = match known {
            Some(id) => id,
            None => {
                let id = match self.free.pop() {
                    Some(id) => id,
                    None => {
                        if self.docs.len() == self.docs.capacity() {
                            // An eighth at a time, as the vector arenas grow.
                            self.docs.reserve_exact((self.docs.len() / 8).max(64));
                        }
                        self.docs.push(None);
                        (self.docs.len() - 1) as u32
                    }
                };
                self.slots.add(key);
                id
            }
        };
        for (i, index) in self.vectors.iter_mut().enumerate() {
            let Some(index) = index else { continue };
            if def.key_type == KeyType::Json {
                // A multi-value index (see `multivector`): inserts add, so clear first.
                index.remove(id);
                let log = self.rebuilding[i].as_mut();
                let mine = vecs.iter().filter(|(f, _)| *f == i).map(|(_, v)| v);
                if let Some(log) = log {
                    log.push((id, None));
                    for v in mine.clone() {
                        log.push((id, Some(v.clone())));
                    }
                }
                for v in mine {
                    index.insert(id, v);
                }
                continue;
            }
            let v = vecs.iter().find(|(f, _)| *f == i).map(|(_, v)| v);
            match v {
                Some(v) => index.insert(id, v),
                None => index.remove(id),
            }
            if let Some(log) = &mut self.rebuilding[i] {
                log.push((id, v.cloned()));
            }
        }
        let lang = meta.language.unwrap_or(def.language);
        let text = self.postings.analyse(&values, lang);
        let doc = Doc {
            key: key.into(),
            values: values.into(),
            raw: RawValues::new(&raws),
            max_freq: text.max_freq,
            len: text.len,
            lang,
            extra: (meta.score.is_some() || meta.payload.is_some()).then(|| {
                Box::new(DocExtra {
                    score: meta.score,
                    payload: meta.payload.map(Vec::into_boxed_slice),
                })
            }),
            syn_version: self.postings.synonyms.version(),
        };
        self.doc_bytes += doc.bytes();
        let slot = &mut self.docs[id as usize];
        match slot.take() {
            Some(old) => {
                self.doc_bytes -= old.bytes();
                let old_text = self.postings.analyse(&old.values, old.lang);
                self.postings.remove(id, &old.values, &old_text);
            }
            None => self.live += 1,
        }
        self.postings.add(id, &doc.values, &text);
        self.docs[id as usize] = Some(doc);
        if known.is_none() {
            // Only now: the table reads keys from the documents.
            self.key_to_id.insert(&self.docs, id);
        }
        Ok(())
    }

    /// Refuses `key` because of field `field`'s value: it leaves the index, and the failure is
    /// counted as FT.INFO shows it. For errors found before [`upsert`](Self::upsert), while
    /// reading the document (a JSON value of the wrong type).
    pub fn reject(&mut self, key: &[u8], field: usize, error: &SearchError) {
        self.remove(key);
        let text = error.to_string();
        self.failures.record(&text, key);
        if let Some(f) = self.field_failures.get_mut(field) {
            f.record(&text, key);
        }
    }

    pub fn remove(&mut self, key: &[u8]) -> bool {
        let Some(id) = self.key_to_id.remove(&self.docs, key) else {
            return false;
        };
        self.slots.remove(key);
        if let Some(old) = self.docs.get_mut(id as usize).and_then(Option::take) {
            self.doc_bytes -= old.bytes();
            self.live -= 1;
            let text = self.postings.analyse(&old.values, old.lang);
            self.postings.remove(id, &old.values, &text);
        }
        self.free.push(id);
        for index in self.vectors.iter_mut().flatten() {
            index.remove(id);
        }
        for log in self.rebuilding.iter_mut().flatten() {
            log.push((id, None));
        }
        true
    }

    pub fn contains(&self, key: &[u8]) -> bool {
        self.key_to_id.get(&self.docs, key).is_some()
    }

    /// Forgets every document (FLUSHALL, a new RDB being loaded).
    pub fn clear(&mut self, def: &IndexDef) {
        // Synonym groups belong to the definition: they outlive the documents.
        let synonyms = std::mem::take(&mut self.postings.synonyms);
        let failures = std::mem::take(&mut self.failures);
        let field_failures = std::mem::take(&mut self.field_failures);
        let epoch = self.epoch + 1;
        *self = IndexData::new(def);
        self.failures = failures;
        self.field_failures = field_failures;
        self.epoch = epoch;
        self.postings.synonyms = synonyms;
    }

    /// The inverted indexes (FT.SPELLCHECK reads the term dictionary).
    pub fn postings(&self) -> &Postings {
        &self.postings
    }

    /// FT.SYNUPDATE's groups; documents indexed from now on get the new ones.
    pub fn synonyms_mut(&mut self) -> &mut super::postings::Synonyms {
        &mut self.postings.synonyms
    }

    /// How many documents the index holds.
    pub fn doc_count(&self) -> usize {
        self.live
    }

    /// Removed vectors still held by the vector indexes.
    pub fn tombstones(&self) -> usize {
        self.vectors.iter().flatten().map(|v| v.tombstones()).sum()
    }

    /// Marks the vector fields whose index has wasted enough space to be rebuilt, and returns
    /// them as jobs for [`rebuild`]. From now until the job is done their changes are logged.
    pub fn start_rebuilds(&mut self) -> Vec<RebuildJob> {
        let mut jobs = Vec::new();
        for (field, index) in self.vectors.iter().enumerate() {
            let Some(index) = index else { continue };
            if self.rebuilding[field].is_none() && index.needs_rebuild() {
                self.rebuilding[field] = Some(Vec::new());
                jobs.push(RebuildJob {
                    field,
                    epoch: self.epoch,
                });
            }
        }
        jobs
    }

    /// Gives up `job` before it ran (no thread could take it): its field's changes stop being
    /// logged, and the next write to the index asks for the rebuild again.
    pub fn cancel_rebuild(&mut self, job: &RebuildJob) {
        if job.epoch == self.epoch {
            if let Some(log) = self.rebuilding.get_mut(job.field) {
                *log = None;
            }
        }
    }

    /// Swaps in a rebuilt vector index after replaying the changes made while it was built.
    fn finish_rebuild(&mut self, job: &RebuildJob, mut fresh: Box<dyn VectorIndex>) {
        if job.epoch != self.epoch {
            return;
        }
        let Some(log) = self.rebuilding[job.field].take() else {
            return;
        };
        for (id, v) in log {
            match v {
                Some(v) => fresh.insert(id, &v),
                None => fresh.remove(id),
            }
        }
        self.vectors[job.field] = Some(fresh);
    }

    /// A rough count of the floating-point work `req` needs (vector distances times their
    /// dimension; a document's filter check counts as 64). The command runs cheap searches
    /// inline: on a small machine handing a search to a thread and back costs more than a
    /// KNN over a few hundred vectors.
    pub fn estimated_work(&self, def: &IndexDef, req: &Request) -> u64 {
        let q = &req.query;
        let n = self.live as u64;
        let mut work = 0u64;
        let filtered = !matches!(q.filter, Expr::All) || req.in_keys.is_some();
        if filtered || q.knn.is_none() {
            // A filter of terms and tags costs what its postings hold (read into bitmaps) and
            // what matches (scored): a two-word query over 100k documents is a few hundred
            // µs of main-thread work, less than a hand-off to a search thread costs.
            let per_doc = match self.postings_work(&q.filter, req) {
                Some((reads, matches)) if req.in_keys.is_none() => reads
                    .saturating_mul(8)
                    .saturating_add(matches.min(n).saturating_mul(64)),
                _ => n.saturating_mul(64),
            };
            work = work.saturating_add(per_doc);
        }
        if !q.filter.vector_ranges().is_empty() {
            // A range search may walk much of the graph: never inline on a large index.
            work = work.saturating_add(n.saturating_mul(64));
        }
        if let Some(knn) = &q.knn {
            if let FieldKind::Vector(p) = &def.fields[knn.field].kind {
                let dim = p.dim as u64;
                let ef = knn.ef_runtime.unwrap_or(p.ef_runtime).max(knn.k) as u64;
                let distances = match p.algorithm {
                    Algorithm::Flat => n,
                    Algorithm::Hnsw => ef.saturating_mul(4 * p.m as u64).min(n),
                };
                work = work.saturating_add(distances.saturating_mul(dim));
            }
        }
        work
    }

    /// For a filter the postings answer alone (terms, tags, their unions and intersections):
    /// how many postings entries it reads and at most how many documents match. `None` for
    /// anything else (ranges, negations, wildcards: their cost is the index's size).
    fn postings_work(&self, e: &Expr, req: &Request) -> Option<(u64, u64)> {
        let p = &self.postings;
        match e {
            Expr::Text {
                pattern: pattern @ (TextPattern::Term(_) | TextPattern::Phrase(_)),
                ..
            } => {
                let verbatim = req.verbatim || matches!(pattern, TextPattern::Phrase(_));
                let dfs = p
                    .pattern_terms(pattern, verbatim, req.language)
                    .into_iter()
                    .map(|t| p.term(t).map_or(0, |t| t.docs() as u64));
                let (sum, min) = dfs.fold((0u64, u64::MAX), |(s, m), d| {
                    (s.saturating_add(d), m.min(d))
                });
                let matches = if matches!(pattern, TextPattern::Phrase(_)) {
                    min
                } else {
                    sum
                };
                Some((sum, if matches == u64::MAX { 0 } else { matches }))
            }
            Expr::Tag { field, patterns } => patterns.iter().try_fold((0u64, 0u64), |(r, m), t| {
                let TagPattern::Exact(v) = t else { return None };
                let d = p.tag_docs(*field, v) as u64;
                Some((r.saturating_add(d), m.saturating_add(d)))
            }),
            Expr::And(parts) | Expr::Or(parts) => {
                let mut reads = 0u64;
                let mut matches = if matches!(e, Expr::And(_)) {
                    u64::MAX
                } else {
                    0
                };
                for part in parts {
                    let (r, m) = self.postings_work(part, req)?;
                    reads = reads.saturating_add(r);
                    matches = if matches!(e, Expr::And(_)) {
                        matches.min(m)
                    } else {
                        matches.saturating_add(m)
                    };
                }
                Some((reads, if matches == u64::MAX { 0 } else { matches }))
            }
            Expr::Opts { expr, .. } => self.postings_work(expr, req),
            _ => None,
        }
    }

    /// Answers `req`: [`plan`](Self::plan), then [`execute`](Self::execute).
    /// FT.PROFILE: the search, with its iterator tree (each filter clause evaluated on its
    /// own, timed and counted) and its stages: the planner (candidates, strategy) and the
    /// execution (vector search or scoring, ordering, paging).
    pub fn profile(
        &self,
        def: &IndexDef,
        req: &Request,
    ) -> Result<(Outcome, super::profile::Iter, Vec<super::profile::Stage>), SearchError> {
        use super::profile::{tree, Iter, Stage};
        let ms = |t: std::time::Instant| t.elapsed().as_secs_f64() * 1000.0;
        let t = std::time::Instant::now();
        let plan = self.plan(def, req)?;
        let plan_ms = ms(t);
        let candidates = plan.candidates.as_ref().map(|c| c.len());
        let knn = match &plan.route {
            Route::Knn { ef, strategy, .. } => Some((
                *ef,
                match strategy {
                    Strategy::Index => "VECTOR_INDEX",
                    Strategy::ExactScan(_) => "EXACT_SCAN",
                    Strategy::FilteredIndex(_) => "FILTERED_INDEX",
                }
                .to_string(),
            )),
            _ => None,
        };
        let range_sets: Vec<RoaringBitmap> = plan
            .ranges
            .iter()
            .map(|(_, found)| found.keys().copied().collect())
            .collect();
        let t = std::time::Instant::now();
        let outcome = self.execute(req, plan);
        let exec_ms = ms(t);
        let eval =
            |e: &Expr| self.with_eval_ctx(req, &range_sets, |ctx| self.postings.eval(e, ctx));
        let filter = tree(
            &req.query.filter,
            def,
            &self.postings,
            (req.verbatim, req.language),
            &eval,
        );
        let matched = candidates.unwrap_or(self.live as u64);
        let (iters, second) = match knn {
            Some((ef, strategy)) => {
                let knn = req.query.knn.as_ref().map_or(0, |k| k.k);
                let mut v = Iter {
                    kind: "VECTOR",
                    query_type: None,
                    term: None,
                    time_ms: exec_ms,
                    counter: outcome.total as u64,
                    size: None,
                    extra: vec![
                        ("Vector search mode", "KNN".into()),
                        ("Strategy", strategy),
                        ("K", knn.to_string()),
                        ("EF", ef.to_string()),
                        ("Candidates", matched.to_string()),
                    ],
                    children: Vec::new(),
                    single_child: true,
                };
                if req.query.filter != Expr::All {
                    v.children.push(filter);
                }
                (v, "Metrics Applier")
            }
            None => (filter, "Scorer"),
        };
        let stages = vec![
            Stage {
                name: "Index",
                time_ms: plan_ms,
                counter: matched,
            },
            Stage {
                name: second,
                time_ms: exec_ms,
                counter: outcome.total as u64,
            },
            Stage {
                name: "Sorter",
                time_ms: 0.0,
                counter: outcome.hits.len() as u64,
            },
        ];
        Ok((outcome, iters, stages))
    }

    pub fn search(&self, def: &IndexDef, req: &Request) -> Result<Outcome, SearchError> {
        let plan = self.plan(def, req)?;
        Ok(self.execute(req, plan))
    }

    /// Decides how `req` runs. Answers each VECTOR_RANGE clause once, up front (the filter
    /// then looks ids up), and for a filtered KNN finds the candidates, which is what the
    /// choice between an exact scan and a filtered index search depends on.
    pub fn plan(&self, def: &IndexDef, req: &Request) -> Result<Plan, SearchError> {
        let q = &req.query;
        let estimated_work = self.estimated_work(def, req);
        let ranges: Vec<RangeHits> = q
            .filter
            .vector_ranges()
            .into_iter()
            .map(|e| match e {
                Expr::VectorRange {
                    field,
                    radius,
                    vector,
                    epsilon,
                    yield_as,
                    ..
                } => {
                    let found = match self.vectors.get(*field).and_then(|v| v.as_ref()) {
                        Some(index) => index.range(
                            vector,
                            *radius as f32,
                            epsilon.unwrap_or(vector_epsilon(def, *field)) as f32,
                            None,
                        ),
                        None => Vec::new(),
                    };
                    (
                        yield_as.clone(),
                        found.into_iter().map(|(d, id)| (id, d)).collect(),
                    )
                }
                _ => (None, HashMap::new()),
            })
            .collect();
        let candidates =
            (!(q.knn.is_some() && matches!(q.filter, Expr::All) && req.in_keys.is_none()))
                .then(|| self.candidates(req, &ranges));
        let route = match &q.knn {
            None if req.sort.is_none() && ranges.is_empty() => Route::DocumentOrder,
            None => Route::CollectAndSort,
            Some(knn) => {
                let Some(index) = self.vectors.get(knn.field).and_then(|v| v.as_ref()) else {
                    return Err(SearchError::NotVectorField);
                };
                let ef = knn
                    .ef_runtime
                    .unwrap_or(vector_ef(def, knn.field))
                    .max(knn.k);
                let strategy = match &candidates {
                    None => Strategy::Index,
                    Some(c) => {
                        let n = c.len() as usize;
                        if prefer_exact_scan(n, index.len(), ef) {
                            Strategy::ExactScan(n)
                        } else {
                            Strategy::FilteredIndex(n)
                        }
                    }
                };
                Route::Knn {
                    field: knn.field,
                    ef,
                    alias: knn
                        .alias
                        .clone()
                        .unwrap_or_else(|| format!("__{}_score", def.fields[knn.field].name)),
                    strategy,
                }
            }
        };
        Ok(Plan {
            ranges,
            route,
            sort_field: req.sort.as_ref().and_then(|s| def.field(&s.name)),
            candidates,
            estimated_work,
        })
    }

    /// Runs `plan` (made by [`plan`](Self::plan) for this `req` under the same lock): the
    /// vector search or the ordering of the matches, then SORTBY, then the page.
    pub fn execute(&self, req: &Request, plan: Plan) -> Outcome {
        let q = &req.query;
        let ranges = &plan.ranges;
        let range_distances = |id: u32| -> Vec<(String, f64)> {
            ranges
                .iter()
                .filter_map(|(alias, found)| Some((alias.clone()?, *found.get(&id)? as f64)))
                .collect()
        };
        let candidates = plan.candidates.unwrap_or_default();
        let clock = Clock::new(req.deadline);
        let mut hits: Vec<Scored> = match plan.route {
            Route::Knn {
                field,
                ef,
                alias,
                strategy,
            } => {
                let (Some(knn), Some(index)) =
                    (&q.knn, self.vectors.get(field).and_then(|v| v.as_ref()))
                else {
                    // Not a plan of this request: the planner checked both.
                    return Outcome::default();
                };
                let found = match &strategy {
                    Strategy::Index => index.knn(&knn.vector, knn.k, ef, None),
                    Strategy::ExactScan(_) => {
                        let mut ids = candidates.iter().take_while(|_| !clock.expired());
                        index.nearest_of(&knn.vector, &mut ids, knn.k)
                    }
                    Strategy::FilteredIndex(_) => {
                        let f = |id: u32| candidates.contains(id);
                        index.knn(&knn.vector, knn.k, ef, Some(&f))
                    }
                };
                let mut v: Vec<Scored> = found
                    .into_iter()
                    .filter(|(_, id)| self.doc(*id).is_some())
                    .map(|(d, id)| {
                        let mut dists = vec![(alias.clone(), d as f64)];
                        dists.extend(range_distances(id));
                        (id, dists, d as f64)
                    })
                    .collect();
                // Equal distances are ordered by key, not by internal id, so an answer does
                // not change when a reload renumbers the documents.
                v.sort_by(|a, b| {
                    a.2.total_cmp(&b.2)
                        .then_with(|| self.key_of(a.0).cmp(self.key_of(b.0)))
                });
                if req.document_order {
                    // FT.AGGREGATE's score is the text query's, the distance its own field.
                    self.rescore(req, ranges, &mut v);
                }
                v
            }
            Route::DocumentOrder if self.constant_score(req).is_some() => {
                // Every score is the same: document order, and only the page is looked at.
                let score = self.constant_score(req).unwrap_or_default();
                let total = candidates.len() as usize;
                let page = candidates
                    .iter()
                    .skip(req.offset)
                    .take(req.count)
                    .map(|id| (id, Vec::new(), score));
                return Outcome {
                    total,
                    hits: self.page(req, page),
                    timed_out: false,
                };
            }
            Route::DocumentOrder => {
                // By relevance, best first; equal scores in document order (as RediSearch).
                let mut v = self.scored(req, ranges, &candidates, &clock, |_| Vec::new());
                // A NaN score (a document with no text under TFIDF) compares equal to every
                // score in RediSearch, which then falls back to document order; ordering it as
                // 0 gives the same answers where the other scores are 0.
                if !req.document_order {
                    let key = |s: f64| if s.is_nan() { 0.0 } else { s };
                    let order =
                        |a: &Scored, b: &Scored| key(b.2).total_cmp(&key(a.2)).then(a.0.cmp(&b.0));
                    // Only the page is read (SORTBY reorders everything, so it needs all): the
                    // best offset + count are picked out and sorted, not the whole list. The
                    // order is total, so the page is the one a full sort gives.
                    let wanted = req.offset.saturating_add(req.count);
                    if req.sort.is_none() && wanted < v.len() {
                        if wanted > 0 {
                            v.select_nth_unstable_by(wanted - 1, order);
                            v[..wanted].sort_unstable_by(order);
                        }
                    } else {
                        v.sort_unstable_by(order);
                    }
                }
                v
            }
            Route::CollectAndSort => {
                let mut v = self.scored(req, ranges, &candidates, &clock, range_distances);
                if req.sort.is_none() && !ranges.is_empty() && !req.document_order {
                    // Range results come nearest first, as vector results do elsewhere.
                    let first =
                        |h: &Scored| ranges[0].1.get(&h.0).copied().unwrap_or(f32::INFINITY);
                    v.sort_by(|a, b| first(a).total_cmp(&first(b)).then(a.0.cmp(&b.0)));
                }
                v
            }
        };
        if let Some(sort) = &req.sort {
            let key = self.sort_key(plan.sort_field, &sort.name, &hits);
            let mut keyed: Vec<(SortKey, Scored)> = key.into_iter().zip(hits).collect();
            keyed.sort_by(|a, b| {
                let o = a.0.cmp_with(&b.0, sort.ascending);
                o.then_with(|| self.key_of(a.1 .0).cmp(self.key_of(b.1 .0)))
            });
            hits = keyed.into_iter().map(|(_, h)| h).collect();
        }
        let total = hits.len();
        let hits = self.page(req, hits.into_iter().skip(req.offset).take(req.count));
        Outcome {
            total,
            hits,
            timed_out: clock.expired.get(),
        }
    }

    /// The score every document gets when the scorer cannot tell them apart, if it cannot.
    fn constant_score(&self, req: &Request) -> Option<f64> {
        if req.doc_scores || !req.scorer.is_constant(&self.postings) {
            return None;
        }
        Some(match req.scorer {
            Scorer::DocScore => req.default_score,
            // TFIDF over norms of zero, as RediSearch answers for schemas without TEXT (a
            // document score of 0 makes it 0 there).
            _ if req.default_score == 0.0 => 0.0,
            _ => f64::INFINITY,
        })
    }

    /// Each candidate with its distances and its relevance score.
    fn scored(
        &self,
        req: &Request,
        ranges: &[RangeHits],
        candidates: &RoaringBitmap,
        clock: &Clock,
        distances: impl Fn(u32) -> Vec<(String, f64)>,
    ) -> Vec<Scored> {
        let constant = self.constant_score(req);
        let leaf = |e: &Expr, d: &DocView| -> bool {
            e.matches(d.values, &|clause| {
                ranges.get(clause).is_some_and(|r| r.1.contains_key(&d.id))
            })
        };
        let ctx = self.score_ctx(req, &leaf);
        candidates
            .iter()
            .take_while(|_| !clock.expired())
            .filter_map(|id| {
                let doc = self.doc(id)?;
                let score = match constant {
                    Some(s) => s,
                    None => ctx.score(&req.query.filter, &doc.view(id, req.default_score)),
                };
                Some((id, distances(id), score))
            })
            .collect()
    }

    fn score_ctx<'a>(
        &'a self,
        req: &Request,
        leaf: &'a dyn Fn(&Expr, &DocView) -> bool,
    ) -> ScoreCtx<'a> {
        let mut ctx = ScoreCtx::new(&self.postings, req.scorer, req.verbatim, leaf);
        ctx.slop = req.slop;
        ctx.inorder = req.inorder;
        ctx.language = req.language;
        ctx
    }

    /// Gives each hit the score the request's scorer gives its document for the query's
    /// filter (a KNN hit's score is otherwise its distance).
    fn rescore(&self, req: &Request, ranges: &[RangeHits], hits: &mut [Scored]) {
        let constant = self.constant_score(req);
        let leaf = |e: &Expr, d: &DocView| -> bool {
            e.matches(d.values, &|clause| {
                ranges.get(clause).is_some_and(|r| r.1.contains_key(&d.id))
            })
        };
        let ctx = self.score_ctx(req, &leaf);
        for h in hits.iter_mut() {
            let Some(doc) = self.doc(h.0) else {
                continue;
            };
            h.2 = match constant {
                Some(s) => s,
                None => ctx.score(&req.query.filter, &doc.view(h.0, req.default_score)),
            };
        }
    }

    /// The documents the request's filter and INKEYS let through, from the postings.
    fn candidates(&self, req: &Request, ranges: &[RangeHits]) -> RoaringBitmap {
        let range_sets: Vec<RoaringBitmap> = ranges
            .iter()
            .map(|(_, found)| found.keys().copied().collect())
            .collect();
        let mut set = self.with_eval_ctx(req, &range_sets, |ctx| {
            self.postings.eval(&req.query.filter, ctx)
        });
        if let Some(keys) = &req.in_keys {
            let allowed: RoaringBitmap = keys
                .iter()
                .filter_map(|k| self.key_to_id.get(&self.docs, k))
                .collect();
            set &= allowed;
        }
        set
    }

    /// Runs `f` with the context the postings evaluate the request's clauses in: the documents
    /// each VECTOR_RANGE found, and the per-document checks of phrases and proximity.
    fn with_eval_ctx<T>(
        &self,
        req: &Request,
        range_sets: &[RoaringBitmap],
        f: impl FnOnce(&EvalCtx) -> T,
    ) -> T {
        let phrase = |id: u32, field: Option<usize>, pattern: &TextPattern| -> bool {
            let Some(doc) = self.doc(id) else {
                return false;
            };
            match field {
                Some(f) => {
                    matches!(doc.values.get(f), Some(FieldValue::Text(t)) if pattern.matches(t))
                }
                None => pattern.matches_any_field(&doc.values),
            }
        };
        let leaf = |e: &Expr, d: &DocView| -> bool {
            e.matches(d.values, &|clause| {
                range_sets.get(clause).is_some_and(|r| r.contains(d.id))
            })
        };
        let scoring = self.score_ctx(req, &leaf);
        let proximity = |id: u32, expr: &Expr| -> bool {
            self.doc(id).is_some_and(|doc| {
                scoring.matches_positions(expr, &doc.view(id, req.default_score))
            })
        };
        f(&EvalCtx {
            verbatim: req.verbatim,
            language: req.language,
            ranges: range_sets,
            phrase: &phrase,
            proximity: &proximity,
            proximate: req.slop.is_some() || req.inorder,
        })
    }

    /// Whether document `id` passes the request's filter and INKEYS, given the answers to its
    /// VECTOR_RANGE clauses: one document against the query, no postings (the tests' oracle).
    #[cfg(test)]
    fn matches(&self, req: &Request, ranges: &[RangeHits], id: u32, doc: &Doc) -> bool {
        if req
            .in_keys
            .as_ref()
            .is_some_and(|keys| !keys.contains(&*doc.key))
        {
            return false;
        }
        req.query.filter.matches(&doc.values, &|clause| {
            ranges.get(clause).is_some_and(|r| r.1.contains_key(&id))
        })
    }

    fn page(&self, req: &Request, scored: impl Iterator<Item = Scored>) -> Vec<Hit> {
        scored
            .filter_map(|(id, distances, score)| {
                let doc = self.doc(id)?;
                Some(Hit {
                    key: doc.key.to_vec(),
                    distances,
                    score,
                    payload: doc.payload().map(<[u8]>::to_vec),
                    terms: if req.with_terms {
                        self.matched_terms(req, id)
                    } else {
                        Vec::new()
                    },
                })
            })
            .collect()
    }

    /// The dictionary terms of the request's positive text clauses that document `id` holds
    /// where its clause looks (RediSearch highlights what its iterators matched: every
    /// occurrence of such a term, in any field), with their IDF. A prefix, suffix, infix or
    /// fuzzy clause counts its first matching term in dictionary order, as its union reads.
    fn matched_terms(&self, req: &Request, id: u32) -> Vec<(String, f64, usize)> {
        fn walk<'e>(e: &'e Expr, out: &mut Vec<(Option<usize>, &'e TextPattern)>) {
            match e {
                Expr::And(parts) | Expr::Or(parts) => parts.iter().for_each(|p| walk(p, out)),
                Expr::Text { field, pattern } => out.push((*field, pattern)),
                _ => {}
            }
        }
        let mut clauses = Vec::new();
        walk(&req.query.filter, &mut clauses);
        let n = self.postings.live.len() as f64 + 1.0;
        let mut out: Vec<(String, f64, usize)> = Vec::new();
        for (field, pattern) in clauses {
            let mask = self.postings.field_mask(field);
            let verbatim = req.verbatim || matches!(pattern, TextPattern::Phrase(_));
            let names = self.postings.pattern_terms(pattern, verbatim, req.language);
            let held = names.into_iter().filter_map(|name| {
                let term = self.postings.term(name)?;
                let (_, m) = term.get(id)?;
                (m & mask != 0).then(|| (name, term.docs()))
            });
            let whole = matches!(pattern, TextPattern::Term(_) | TextPattern::Phrase(_));
            for (name, df) in held.take(if whole { usize::MAX } else { 1 }) {
                if !out.iter().any(|(n, _, _)| n == name) {
                    let idf = super::score::logb(1.0 + n / (df.max(1) as f64));
                    // Each dictionary term is a query term of its own (RediSearch numbers
                    // every expansion apart).
                    out.push((name.to_string(), idf, out.len()));
                }
            }
        }
        out
    }

    fn key_of(&self, id: u32) -> &[u8] {
        self.doc(id).map_or(&[], |d| &*d.key)
    }

    /// SORTBY's key of each hit: schema field `field`'s value, or else the distance `name`.
    fn sort_key(&self, field: Option<usize>, name: &str, hits: &[Scored]) -> Vec<SortKey> {
        if let Some(f) = field {
            return hits
                .iter()
                .map(|(id, _, _)| match self.doc(*id) {
                    Some(doc) => match (&doc.values[f], doc.raw.get(f)) {
                        (FieldValue::Numeric(n), _) => SortKey::Num(*n),
                        (FieldValue::Numerics(n), _) if !n.is_empty() => SortKey::Num(n[0]),
                        (_, Some(raw)) => SortKey::Str(raw.to_ascii_lowercase()),
                        _ => SortKey::Missing,
                    },
                    None => SortKey::Missing,
                })
                .collect();
        }
        // A distance the query yields (the request parser checked the name).
        hits.iter()
            .map(|h| {
                h.1.iter()
                    .find(|(n, _)| n == name)
                    .map_or(SortKey::Missing, |(_, d)| SortKey::Num(*d))
            })
            .collect()
    }
}

fn new_vector_index(def: &IndexDef, field: usize) -> Option<Box<dyn VectorIndex>> {
    let FieldKind::Vector(p) = &def.fields[field].kind else {
        return None;
    };
    let cap = p.initial_cap.unwrap_or(0);
    let index: Box<dyn VectorIndex> = match p.algorithm {
        Algorithm::Flat => Box::new(FlatIndex::new(p.dim, p.metric, cap)),
        Algorithm::Hnsw => Box::new(HnswIndex::new(
            p.dim,
            p.metric,
            p.m,
            p.ef_construction,
            cap,
            0x5eed ^ field as u64,
        )),
    };
    // A JSON document may hold several vectors in one field.
    Some(match def.key_type {
        KeyType::Hash => index,
        KeyType::Json => Box::new(MultiVectorIndex::new(index)),
    })
}

/// Builds `job`'s vector index afresh from a snapshot of the live vectors and swaps it in.
/// The snapshot is copied under the read lock; the build itself holds no lock, so searches
/// and writes go on meanwhile (writes are logged and replayed at the swap). Deletes replayed
/// at the swap are tombstones again, so the swap may call for another round: it runs here.
pub fn rebuild(def: &IndexDef, data: &std::sync::RwLock<IndexData>, job: RebuildJob) {
    let mut jobs = vec![job];
    while let Some(job) = jobs.pop() {
        let snapshot = {
            let d = data.read().unwrap_or_else(|e| e.into_inner());
            match d.vectors.get(job.field).and_then(|v| v.as_ref()) {
                Some(v) if d.epoch == job.epoch => v.live_vectors(),
                _ => continue,
            }
        };
        let Some(mut fresh) = new_vector_index(def, job.field) else {
            continue;
        };
        for (id, v) in &snapshot {
            fresh.insert(*id, v);
        }
        drop(snapshot);
        let mut d = data.write().unwrap_or_else(|e| e.into_inner());
        d.finish_rebuild(&job, fresh);
        jobs.extend(d.start_rebuilds());
    }
}

fn vector_ef(def: &IndexDef, field: usize) -> usize {
    match &def.fields[field].kind {
        FieldKind::Vector(p) => p.ef_runtime,
        _ => 10,
    }
}

fn vector_epsilon(def: &IndexDef, field: usize) -> f64 {
    match &def.fields[field].kind {
        FieldKind::Vector(p) => p.epsilon,
        _ => 0.01,
    }
}

/// One schema field's value in a document, as the glue read it: what
/// [`IndexData::upsert`] takes.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldInput<'a> {
    /// The document has no value there (or a JSON null).
    Missing,
    /// A hash field's value, parsed by the field's type.
    Bytes(&'a [u8]),
    /// Several strings (a JSON array, or what a JSONPath matched): TEXT indexes the tokens of
    /// each, TAG takes each as one tag (the glue split them already if the field says so),
    /// GEO parses each as `lon,lat`.
    Strings(Vec<String>),
    /// Numbers (JSON numbers under a NUMERIC field).
    Numbers(Vec<f64>),
    /// A vector already decoded (a JSON array of numbers).
    Vector(Vec<f32>),
    /// Several vectors of one document (a multi-value JSON field); only JSON indexes, whose
    /// vector indexes keep several per document, take them.
    Vectors(Vec<Vec<f32>>),
}

impl FieldInput<'_> {
    /// The bytes SORTBY orders a TEXT, TAG or GEO field by: the value, or its first string.
    fn first_bytes(&self) -> Option<&[u8]> {
        match self {
            FieldInput::Bytes(b) => Some(b),
            FieldInput::Strings(v) => v.first().map(|s| s.as_bytes()),
            _ => None,
        }
    }
}

fn field_value(
    def: &IndexDef,
    field: &Field,
    input: &FieldInput,
    vecs: &mut Vec<(usize, Vec<f32>)>,
    i: usize,
) -> Result<FieldValue, SearchError> {
    let raw = match input {
        FieldInput::Missing => return Ok(FieldValue::Missing),
        FieldInput::Bytes(raw) => *raw,
        FieldInput::Strings(items) => return strings_value(field, items),
        FieldInput::Numbers(n) => {
            return Ok(match (&field.kind, n.as_slice()) {
                (FieldKind::Numeric, []) => FieldValue::Missing,
                (FieldKind::Numeric, [one]) => FieldValue::Numeric(*one),
                (FieldKind::Numeric, _) => FieldValue::Numerics(n.as_slice().into()),
                _ => FieldValue::Missing,
            })
        }
        FieldInput::Vector(v) => return vectors_value(field, std::slice::from_ref(v), vecs, i),
        FieldInput::Vectors(v) => return vectors_value(field, v, vecs, i),
    };
    Ok(match &field.kind {
        // Stopwords are not indexed: they take no position and count in no norm.
        // INDEXEMPTY indexes an empty value as the empty term, which `''` looks up.
        FieldKind::Text { .. } if raw.is_empty() && field.index_empty => {
            FieldValue::Text([""].into_iter().collect())
        }
        FieldKind::Text { .. } => FieldValue::Text(
            tokenize(&String::from_utf8_lossy(raw))
                .into_iter()
                .filter(|t| !def.is_stopword(t))
                .collect(),
        ),
        FieldKind::Tag {
            separator,
            case_sensitive,
        } => FieldValue::Tag(
            normalize_tags(
                &String::from_utf8_lossy(raw),
                *separator,
                *case_sensitive,
                field.index_empty,
            )
            .into(),
        ),
        FieldKind::Numeric => {
            let n = std::str::from_utf8(raw)
                .ok()
                .and_then(|s| s.trim().parse::<f64>().ok())
                .filter(|n| !n.is_nan())
                .ok_or_else(|| {
                    SearchError::DocumentNumeric(
                        String::from_utf8_lossy(&raw[..raw.len().min(64)]).into_owned(),
                    )
                })?;
            FieldValue::Numeric(n)
        }
        FieldKind::Geo => {
            let (lon, lat) = geo::parse_point(raw).ok_or(SearchError::DocumentGeo)?;
            FieldValue::Geo(geo::encode(lon, lat))
        }
        FieldKind::Vector(p) => {
            let mut v = Vec::new();
            p.dtype.decode(raw, p.dim, &mut v).map_err(|expected| {
                SearchError::DocumentVectorSize {
                    got: raw.len(),
                    expected,
                }
            })?;
            if v.iter().any(|x| !x.is_finite()) {
                return Err(SearchError::DocumentVectorNotFinite);
            }
            vecs.push((i, v));
            FieldValue::Vector
        }
    })
}

/// Decoded vectors as a VECTOR field's value (each is checked; none makes no value).
fn vectors_value(
    field: &Field,
    vectors: &[Vec<f32>],
    vecs: &mut Vec<(usize, Vec<f32>)>,
    i: usize,
) -> Result<FieldValue, SearchError> {
    let FieldKind::Vector(p) = &field.kind else {
        return Ok(FieldValue::Missing);
    };
    for v in vectors {
        if v.len() != p.dim {
            return Err(SearchError::DocumentJson(format!(
                "Invalid vector length. Expected {}, got {}",
                p.dim,
                v.len()
            )));
        }
        if v.iter().any(|x| !x.is_finite()) {
            return Err(SearchError::DocumentVectorNotFinite);
        }
    }
    if vectors.is_empty() {
        return Ok(FieldValue::Missing);
    }
    vecs.extend(vectors.iter().map(|v| (i, v.clone())));
    Ok(FieldValue::Vector)
}

/// [`FieldInput::Strings`] as the field's value. Empty strings and no strings at all make no
/// value, as an empty JSON array does in RediSearch.
fn strings_value(field: &Field, items: &[String]) -> Result<FieldValue, SearchError> {
    if items.is_empty() {
        return Ok(FieldValue::Missing);
    }
    Ok(match &field.kind {
        FieldKind::Text { .. } => FieldValue::Text(
            items
                .iter()
                .flat_map(|s| match s.is_empty() && field.index_empty {
                    true => vec![String::new()],
                    false => tokenize(s),
                })
                .collect(),
        ),
        FieldKind::Tag { case_sensitive, .. } => FieldValue::Tag(
            items
                .iter()
                .map(|s| s.trim())
                .filter(|s| field.index_empty || !s.is_empty())
                .map(|s| {
                    if *case_sensitive {
                        s.to_string()
                    } else {
                        s.to_lowercase()
                    }
                })
                .collect(),
        ),
        FieldKind::Geo => {
            let mut hashes = Vec::with_capacity(items.len());
            for s in items {
                let (lon, lat) = geo::parse_point(s.as_bytes()).ok_or(SearchError::DocumentGeo)?;
                hashes.push(geo::encode(lon, lat));
            }
            match hashes.as_slice() {
                [one] => FieldValue::Geo(*one),
                _ => FieldValue::Geos(hashes.into()),
            }
        }
        FieldKind::Numeric | FieldKind::Vector(_) => FieldValue::Missing,
    })
}

enum SortKey {
    Num(f64),
    Str(Vec<u8>),
    Missing,
}

impl SortKey {
    /// Missing values sort last in either direction, as RediSearch does.
    fn cmp_with(&self, other: &SortKey, ascending: bool) -> std::cmp::Ordering {
        use std::cmp::Ordering::*;
        let o = match (self, other) {
            (SortKey::Missing, SortKey::Missing) => return Equal,
            (SortKey::Missing, _) => return Greater,
            (_, SortKey::Missing) => return Less,
            (SortKey::Num(a), SortKey::Num(b)) => a.total_cmp(b),
            (SortKey::Str(a), SortKey::Str(b)) => a.cmp(b),
            (SortKey::Num(_), SortKey::Str(_)) => Less,
            (SortKey::Str(_), SortKey::Num(_)) => Greater,
        };
        if ascending {
            o
        } else {
            o.reverse()
        }
    }
}

/// A double as RediSearch prints it in replies: `%.12g` (shortest of fixed and exponent form,
/// trailing zeros dropped).
pub fn format_score(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    if !v.is_finite() {
        return if v.is_nan() {
            "nan".into()
        } else if v > 0.0 {
            "inf".into()
        } else {
            "-inf".into()
        };
    }
    const P: i32 = 12;
    let sci = format!("{:.*e}", (P - 1) as usize, v);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let trim = |s: &str| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s.to_string()
        }
    };
    if !(-4..P).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim(mantissa), exp.abs())
    } else {
        trim(&format!("{:.*}", (P - 1 - exp) as usize, v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::{request, schema};

    fn def(schema: &str) -> IndexDef {
        let words: Vec<&[u8]> = schema.split_whitespace().map(str::as_bytes).collect();
        schema::parse_create(b"idx", &words).unwrap()
    }

    fn blob(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    /// `n` documents `doc:<i>`: tag `rare` on the first three, `common` on the rest, NUMERIC
    /// `n` = i, and a 2-d vector.
    fn data(def: &IndexDef, n: usize) -> IndexData {
        let mut d = IndexData::new(def);
        for i in 0..n {
            let tag: &[u8] = if i < 3 { b"rare" } else { b"common" };
            let num = i.to_string();
            let v = blob(&[i as f32, (i % 7) as f32]);
            d.upsert(
                def,
                format!("doc:{i}").as_bytes(),
                &[
                    FieldInput::Bytes(tag),
                    FieldInput::Bytes(num.as_bytes()),
                    FieldInput::Bytes(&v),
                ],
            )
            .unwrap();
        }
        d
    }

    /// The documents `req`'s filter selects, from the postings and from the per-document
    /// oracle.
    fn postings_and_oracle(
        def: &IndexDef,
        d: &IndexData,
        req: &Request,
    ) -> (RoaringBitmap, RoaringBitmap) {
        let plan = d.plan(def, req).unwrap();
        let got = d.candidates(req, &plan.ranges);
        let want = d
            .all_docs()
            .filter(|(id, doc)| d.matches(req, &plan.ranges, *id, doc))
            .map(|(id, _)| id)
            .collect();
        (got, want)
    }

    /// The postings answer every filter exactly as evaluating it on each document does (the
    /// oracle), over documents that are updated and deleted as they go.
    #[test]
    fn postings_agree_with_the_per_document_oracle() {
        let def = def(
            "SCHEMA t TEXT u TEXT NOSTEM INDEXMISSING tag TAG n NUMERIC g GEO \
            v VECTOR FLAT 6 TYPE FLOAT32 DIM 2 DISTANCE_METRIC L2",
        );
        let words = [
            "alpha", "beta", "gamma", "delta", "the", "of", "runner", "running",
        ];
        let tags = ["red", "green", "blue,red", "Yellow"];
        let mut d = IndexData::new(&def);
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = |m: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % m
        };
        for round in 0..3 {
            for i in 0..200u64 {
                let text: Vec<&str> = (0..1 + next(5)).map(|_| words[next(8) as usize]).collect();
                let other = words[next(8) as usize];
                let n = (next(100) as f64 - 30.0).to_string();
                let g = format!(
                    "{},{}",
                    2.0 + next(100) as f64 / 100.0,
                    48.0 + next(50) as f64 / 100.0
                );
                let v = blob(&[next(10) as f32, next(10) as f32]);
                let text = text.join(" ");
                let fields: [Option<&[u8]>; 6] = [
                    Some(text.as_bytes()),
                    (next(4) > 0).then_some(other.as_bytes()),
                    (next(5) > 0).then_some(tags[next(4) as usize].as_bytes()),
                    Some(n.as_bytes()),
                    (next(3) > 0).then_some(g.as_bytes()),
                    Some(&v),
                ];
                let key = format!("doc:{}", (i * 7 + round * 13) % 240);
                if next(10) == 0 {
                    d.remove(key.as_bytes());
                } else {
                    let input: Vec<FieldInput> = fields
                        .iter()
                        .map(|f| f.map_or(FieldInput::Missing, FieldInput::Bytes))
                        .collect();
                    d.upsert(&def, key.as_bytes(), &input).unwrap();
                }
            }
            for q in [
                "alpha",
                "@t:beta",
                "@u:alpha",
                "alpha beta",
                "alpha | gamma",
                "-alpha",
                "alpha -@u:beta",
                "al*",
                "*ta",
                "*ph*",
                "%gama%",
                "\"alpha beta\"",
                "@tag:{red}",
                "@tag:{red|green}",
                "@tag:{re*}",
                "@tag:{yellow}",
                "@n:[0 10]",
                "@n:[(0 (10]",
                "@n:[-inf 0]",
                "@n:[50 +inf]",
                "@g:[2.5 48.25 20 km]",
                "@g:[2.1 48.1 1 km]",
                "ismissing(@u)",
                "@tag:{blue} @n:[0 50] | @t:delta",
                "-(@tag:{red} | alpha) @n:[-10 40]",
                "*",
                "@t:(alpha|beta) -@tag:{green}",
                "running",
                "@u:running",
            ] {
                let req = request(&def, q, "VERBATIM DIALECT 2");
                let (got, want) = postings_and_oracle(&def, &d, &req);
                assert_eq!(got, want, "round {round}, query {q}");
            }
        }
    }

    /// An intersection of a narrow clause with wide ones probes the wide ones document by
    /// document; the answer is the oracle's either way.
    #[test]
    fn narrow_intersections_probe_the_wide_clauses() {
        let def = def("SCHEMA t TEXT u TEXT tag TAG n NUMERIC");
        let mut d = IndexData::new(&def);
        for i in 0..2000u32 {
            let text = if i % 500 == 7 {
                "rare common"
            } else {
                "common words"
            };
            let other = if i % 3 == 0 { "common" } else { "other" };
            let tag = if i % 2 == 0 { "wide" } else { "narrow" };
            let n = i.to_string();
            let fields = [
                FieldInput::Bytes(text.as_bytes()),
                FieldInput::Bytes(other.as_bytes()),
                FieldInput::Bytes(tag.as_bytes()),
                FieldInput::Bytes(n.as_bytes()),
            ];
            d.upsert(&def, format!("doc:{i}").as_bytes(), &fields)
                .unwrap();
        }
        for q in [
            "rare common",
            "rare @u:common",
            "rare @tag:{wide}",
            "rare @tag:{wide|narrow} common",
            "@t:rare @u:other -@tag:{narrow}",
            "rare commons",
            "rare comm*",
            "@n:[0 100] common @tag:{wide}",
        ] {
            let req = request(&def, q, "DIALECT 2");
            let (got, want) = postings_and_oracle(&def, &d, &req);
            // The oracle has no stemming: `commons` finds `common` only through the postings.
            if q.contains("commons") {
                assert_eq!(got.len(), 4, "{q}");
            } else {
                assert_eq!(got, want, "{q}");
            }
        }
    }

    const HNSW: &str = "SCHEMA tag TAG n NUMERIC v VECTOR HNSW 6 TYPE FLOAT32 DIM 2 \
        DISTANCE_METRIC L2";
    const FLAT: &str = "SCHEMA tag TAG n NUMERIC v VECTOR FLAT 6 TYPE FLOAT32 DIM 2 \
        DISTANCE_METRIC L2";

    /// FT.SEARCH's words after the index name, with `$b` bound to the vector (1, 1).
    fn request(def: &IndexDef, query: &str, options: &str) -> Request {
        let b = blob(&[1.0, 1.0]);
        let mut words: Vec<&[u8]> = vec![query.as_bytes(), b"PARAMS", b"2", b"b", &b];
        words.extend(options.split_whitespace().map(str::as_bytes));
        request::parse(def, &words, false).unwrap().request
    }

    fn plan(def: &IndexDef, data: &IndexData, query: &str, options: &str) -> Plan {
        data.plan(def, &request(def, query, options)).unwrap()
    }

    fn strategy(plan: &Plan) -> &Strategy {
        match &plan.route {
            Route::Knn { strategy, .. } => strategy,
            other => panic!("not a KNN: {other:?}"),
        }
    }

    fn keys(outcome: &Outcome) -> Vec<String> {
        outcome
            .hits
            .iter()
            .map(|h| String::from_utf8_lossy(&h.key).into_owned())
            .collect()
    }

    #[test]
    fn an_unfiltered_knn_searches_the_index() {
        for schema in [HNSW, FLAT] {
            let def = def(schema);
            let data = data(&def, 300);
            let p = plan(&def, &data, "*=>[KNN 3 @v $b]", "");
            assert!(matches!(strategy(&p), Strategy::Index), "{schema}");
            let Route::Knn { ef, alias, .. } = &p.route else {
                unreachable!()
            };
            assert_eq!((*ef, alias.as_str()), (10, "__v_score"));
        }
        // EF_RUNTIME and AS reach the plan; ef is at least K.
        let def = def(HNSW);
        let data = data(&def, 50);
        let p = plan(&def, &data, "*=>[KNN 20 @v $b EF_RUNTIME 5 AS d]", "");
        let Route::Knn { ef, alias, .. } = &p.route else {
            panic!()
        };
        assert_eq!((*ef, alias.as_str()), (20, "d"));
    }

    #[test]
    fn a_narrow_filter_scans_its_candidates_exactly() {
        let def = def(HNSW);
        let data = data(&def, 2000);
        let p = plan(&def, &data, "(@tag:{rare})=>[KNN 2 @v $b]", "");
        match strategy(&p) {
            Strategy::ExactScan(c) => assert_eq!(*c, 3),
            other => panic!("{other:?}"),
        }
        let req = request(&def, "(@tag:{rare})=>[KNN 2 @v $b]", "");
        let out = data.search(&def, &req).unwrap();
        assert_eq!(
            (out.total, keys(&out)),
            (2, vec!["doc:1".into(), "doc:0".into()])
        );
        // INKEYS alone is a filter too.
        let p = plan(&def, &data, "*=>[KNN 2 @v $b]", "INKEYS 2 doc:7 doc:9");
        assert!(matches!(strategy(&p), Strategy::ExactScan(c) if *c == 2));
    }

    #[test]
    fn a_broad_filter_searches_the_index_with_a_predicate() {
        let def = def(HNSW);
        let data = data(&def, 2000);
        let p = plan(&def, &data, "(@tag:{common})=>[KNN 2 @v $b]", "");
        match strategy(&p) {
            Strategy::FilteredIndex(c) => assert_eq!(*c, 1997),
            other => panic!("{other:?}"),
        }
        // A larger EF_RUNTIME makes the graph search dearer: the same filter scans instead.
        let p = plan(
            &def,
            &data,
            "(@tag:{common})=>[KNN 2 @v $b EF_RUNTIME 4000]",
            "",
        );
        assert!(matches!(strategy(&p), Strategy::ExactScan(_)));
        // Either way the answer is the same: the nearest documents that pass the filter.
        let req = request(&def, "(@tag:{common})=>[KNN 2 @v $b]", "");
        let out = data.search(&def, &req).unwrap();
        assert_eq!(out.total, 2);
        assert!(keys(&out)
            .iter()
            .all(|k| !["doc:0", "doc:1", "doc:2"].contains(&&**k)));
    }

    #[test]
    fn the_choice_follows_the_cost_model() {
        // candidates² < 32·ef·len: an exact scan.
        assert!(prefer_exact_scan(0, 0, 10));
        assert!(prefer_exact_scan(100, 1000, 10));
        assert!(prefer_exact_scan(565, 1000, 10));
        assert!(!prefer_exact_scan(566, 1000, 10));
        assert!(!prefer_exact_scan(1000, 1000, 10));
        assert!(prefer_exact_scan(1000, 1000, 32));
    }

    #[test]
    fn searches_without_knn_walk_the_documents() {
        let def = def(FLAT);
        let data = data(&def, 20);
        let p = plan(&def, &data, "@tag:{common}", "LIMIT 2 3");
        assert!(matches!(p.route, Route::DocumentOrder));
        let out = data.execute(&request(&def, "@tag:{common}", "LIMIT 2 3"), p);
        assert_eq!(out.total, 17);
        assert_eq!(keys(&out), ["doc:5", "doc:6", "doc:7"]);

        let p = plan(&def, &data, "*", "SORTBY n DESC LIMIT 0 2");
        assert!(matches!(p.route, Route::CollectAndSort));
        let out = data.execute(&request(&def, "*", "SORTBY n DESC LIMIT 0 2"), p);
        assert_eq!(keys(&out), ["doc:19", "doc:18"]);

        // A range clause is answered while planning; its results come nearest first.
        let q = "@v:[VECTOR_RANGE 2 $b]=>{$YIELD_DISTANCE_AS: d}";
        let p = plan(&def, &data, q, "");
        assert!(matches!(p.route, Route::CollectAndSort));
        assert_eq!(p.ranges.len(), 1);
        let out = data.execute(&request(&def, q, ""), p);
        assert_eq!(keys(&out), ["doc:1", "doc:0", "doc:2"]);
        assert_eq!(out.hits[0].distances, [("d".to_string(), 0.0)]);
    }

    #[test]
    fn a_passed_deadline_stops_the_walk_and_says_so() {
        let def = def(FLAT);
        let data = data(&def, 2000);
        let past = Instant::now();
        // (Without TEXT every score is the same: the page alone is read, with nothing to cut.)
        let cases = [
            ("@n:[0 +inf]", "SORTBY n"),
            ("(@tag:{common})=>[KNN 2 @v $b EF_RUNTIME 4000]", ""),
        ];
        for (q, options) in cases {
            let whole = data.search(&def, &request(&def, q, options)).unwrap();
            assert!(!whole.timed_out && whole.total > 0, "{q}");
            let mut req = request(&def, q, options);
            req.deadline = Some(past);
            let cut = data.search(&def, &req).unwrap();
            assert!(cut.timed_out, "{q}");
            assert!(cut.hits.is_empty(), "{q}: {:?}", keys(&cut));
        }
        // A far deadline changes nothing; SORTBY's walk is cut short like relevance's.
        let mut req = request(&def, "*", "SORTBY n DESC LIMIT 0 2");
        req.deadline = Some(past + std::time::Duration::from_secs(3600));
        let out = data.search(&def, &req).unwrap();
        assert!(!out.timed_out);
        assert_eq!(
            (out.total, keys(&out)),
            (2000, vec!["doc:1999".into(), "doc:1998".into()])
        );
        req.deadline = Some(past);
        assert_eq!(data.search(&def, &req).unwrap().total, 0);
    }

    #[test]
    fn the_plan_carries_the_estimated_work() {
        let def = def(FLAT);
        let data = data(&def, 100);
        for (q, o) in [
            ("*=>[KNN 2 @v $b]", ""),
            ("*", ""),
            ("@tag:{rare}", "SORTBY n"),
        ] {
            let req = request(&def, q, o);
            let p = data.plan(&def, &req).unwrap();
            assert_eq!(p.estimated_work, data.estimated_work(&def, &req), "{q}");
        }
        // FLAT computes a distance per vector; an unfiltered KNN does nothing else.
        let req = request(&def, "*=>[KNN 2 @v $b]", "");
        assert_eq!(data.estimated_work(&def, &req), 100 * 2);
    }

    #[test]
    fn formats_like_printf_g12() {
        assert_eq!(format_score(0.7715000510215759), "0.771500051022");
        assert_eq!(format_score(1.0), "1");
        assert_eq!(format_score(1.1920928955078125e-07), "1.19209289551e-07");
        assert_eq!(format_score(123456.0), "123456");
        assert_eq!(format_score(-2.5), "-2.5");
        assert_eq!(format_score(1e13), "1e+13");
    }
}

#[cfg(test)]
mod synonym_tests {
    use super::*;
    use crate::search::{request, schema};

    fn score(def: &IndexDef, d: &IndexData, q: &str) -> Vec<(String, f64)> {
        let words: Vec<&[u8]> = vec![q.as_bytes(), b"WITHSCORES"];
        let req = request::parse(def, &words, false).unwrap().request;
        d.search(def, &req)
            .unwrap()
            .hits
            .into_iter()
            .map(|h| (String::from_utf8(h.key).unwrap(), h.score))
            .collect()
    }

    /// RediSearch 2.10.5's scores: a group's term sits where its words were when the document
    /// was indexed, so a word added later (SKIPINITIALSCAN) does not move it.
    #[test]
    fn synonym_terms_score_where_their_words_were() {
        let words: Vec<&[u8]> = "SCHEMA t TEXT".split(' ').map(str::as_bytes).collect();
        let def = schema::parse_create(b"sy", &words).unwrap();
        let mut d = IndexData::new(&def);
        d.synonyms_mut().update("g1", ["hello", "hi"]);
        d.upsert(
            &def,
            b"s:14",
            &[FieldInput::Bytes(b"greetings hi world greetings hello")],
        )
        .unwrap();
        assert_eq!(score(&def, &d, "greetings"), [("s:14".into(), 2.0)]);
        assert_eq!(score(&def, &d, "hi"), [("s:14".into(), 1.5)]);
        d.synonyms_mut().update("g1", ["greetings"]);
        assert_eq!(score(&def, &d, "greetings"), [("s:14".into(), 3.0)]);
    }
}
