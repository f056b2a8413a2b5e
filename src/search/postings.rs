//! Inverted indexes: from values to the documents that hold them, so a filter costs what it
//! matches rather than what the index holds.
//!
//! - TEXT: one term dictionary for all TEXT fields (as RediSearch keeps it), ordered for
//!   prefix lookups. Each term's postings are sorted document ids with the term's weighted
//!   frequency and the mask of the fields it occurs in. Stems are terms of their own, written
//!   `+stem` as RediSearch writes them, added where a token's English stem differs from it.
//! - TAG: per field, each tag value's documents as a bitmap.
//! - NUMERIC and GEO: per field, an ordered set of (value, id) pairs: a range is one walk.
//!   A GEO value is its 52-bit geohash; a radius becomes up to nine geohash cells.
//!
//! Sets of documents are roaring bitmaps: intersections and unions of postings, the
//! complement for `-x`, and a filtered vector search's membership test all stay cheap.
//! Pure: no Redis, no locks (the index's lock covers it).

use super::language::Language;
use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use roaring::RoaringBitmap;
use rustc_hash::FxHashMap;

use super::geo;
use super::query::{Expr, TagPattern, TextPattern};
use super::schema::{FieldKind, FieldValue, IndexDef};

/// What a stem's occurrence counts for, relative to the token's (RediSearch's
/// `STEM_TOKEN_FACTOR`).
const STEM_FACTOR: f64 = 0.2;

/// The prefix that marks a stem in the term dictionary.
pub const STEM_PREFIX: char = '+';

/// The English stem of `token` when it differs from the token (RediSearch indexes a stem
/// only then).
pub fn stem(token: &str, lang: Language) -> Option<String> {
    if token.len() < super::config::min_stem_len() {
        return None;
    }
    let s = lang.stemmer().stem(token).into_owned();
    (s != token).then_some(s)
}

/// The terms a query term stands for when the query is not VERBATIM: itself, its stem
/// marker, and the bare stem when that differs (RediSearch's stemming expander).
pub fn expansions(term: &str, lang: Language) -> Vec<String> {
    // No MINSTEMLEN here: RediSearch expands every query term (`dog` finds `dogs`, stemmed
    // at indexing as the longer word).
    let s = lang.stemmer().stem(term).into_owned();
    let mut out = vec![term.to_string(), format!("{STEM_PREFIX}{s}")];
    if s != term {
        out.push(s);
    }
    out
}

/// A term's postings, struct-of-arrays and sorted by id. Each document's frequency and field
/// mask share one `u32` (frequency above the low 8 bits, mask in them): eight bytes an entry
/// where a `u32` and a `u64` beside the id took twelve more. The rare entry that does not fit
/// (a mask past the eighth TEXT field, a frequency of 2^24 - 1 or more) is marked `WIDE` and
/// kept whole in `wide`, by id.
#[derive(Debug, Default)]
pub struct Term {
    ids: Vec<u32>,
    packed: Vec<u32>,
    wide: Option<Box<rustc_hash::FxHashMap<u32, (u32, u64)>>>,
}

const WIDE: u32 = u32::MAX;

fn pack(freq: u32, mask: u64) -> Option<u32> {
    (freq < (1 << 24) - 1 && mask < (1 << 8)).then_some(freq << 8 | mask as u32)
}

impl Term {
    pub fn docs(&self) -> usize {
        self.ids.len()
    }

    /// How many documents hold the term in a field of `mask`.
    pub fn docs_in(&self, mask: u64) -> usize {
        if mask == u64::MAX {
            return self.ids.len();
        }
        (0..self.ids.len())
            .filter(|&i| self.entry(i).1 & mask != 0)
            .count()
    }

    /// Entry `i`'s frequency and mask.
    fn entry(&self, i: usize) -> (u32, u64) {
        match self.packed.get(i) {
            Some(&WIDE) => self
                .ids
                .get(i)
                .and_then(|id| self.wide.as_ref()?.get(id))
                .copied()
                .unwrap_or((0, 0)),
            Some(&p) => (p >> 8, u64::from(p & 0xff)),
            None => (0, 0),
        }
    }

    /// The document's weighted frequency and field mask for this term.
    pub fn get(&self, id: u32) -> Option<(u32, u64)> {
        let i = self.ids.binary_search(&id).ok()?;
        Some(self.entry(i))
    }

    /// [`get`](Self::get) for a reader that asks in increasing id order (a scoring walk over
    /// candidates): `cursor` remembers where the last answer was, and the search gallops on
    /// from there, so a walk costs about one step per posting instead of a binary search per
    /// document. A smaller id than the last falls back to a binary search.
    pub fn get_from(&self, id: u32, cursor: &Cell<usize>) -> Option<(u32, u64)> {
        let ids = &self.ids;
        let start = cursor.get();
        // The cursor sits on the first id at or after the last one asked for: when that id is
        // already past this one and the one before it is below, the term lacks the document
        // (the common answer in a walk over a union's candidates), and nothing is searched.
        if let Some(&at) = ids.get(start) {
            if at > id && (start == 0 || ids.get(start - 1).is_some_and(|&b| b < id)) {
                return None;
            }
        }
        let i = match ids.get(start) {
            Some(&at) if at <= id => {
                let (mut lo, mut step) = (start, 1usize);
                let mut hi = start.saturating_add(1);
                while hi < ids.len() && ids[hi] <= id {
                    lo = hi;
                    step = step.saturating_mul(2);
                    hi = hi.saturating_add(step);
                }
                let hi = hi.min(ids.len());
                lo + ids[lo..hi].partition_point(|&x| x < id)
            }
            _ => ids.partition_point(|&x| x < id),
        };
        cursor.set(i);
        (ids.get(i) == Some(&id)).then(|| self.entry(i))
    }

    fn insert(&mut self, id: u32, freq: u32, mask: u64) {
        let p = pack(freq, mask).unwrap_or_else(|| {
            self.wide
                .get_or_insert_with(Default::default)
                .insert(id, (freq, mask));
            WIDE
        });
        // New documents take the highest ids, so this is mostly a push.
        match self.ids.last() {
            Some(&last) if last >= id => {
                let i = self.ids.partition_point(|&x| x < id);
                self.ids.insert(i, id);
                self.packed.insert(i, p);
            }
            _ => {
                self.ids.push(id);
                self.packed.push(p);
            }
        }
    }

    fn remove(&mut self, id: u32) {
        if let Ok(i) = self.ids.binary_search(&id) {
            self.ids.remove(i);
            if self.packed.remove(i) == WIDE {
                if let Some(w) = &mut self.wide {
                    w.remove(&id);
                    if w.is_empty() {
                        self.wide = None;
                    }
                }
            }
        }
    }

    /// The documents with this term in a field of `mask`.
    fn matching(&self, mask: u64, out: &mut RoaringBitmap) {
        // Sorted ids: a bitmap builds in one pass, then joins `out` container by container
        // (inserting id by id into a non-empty bitmap cost a fifth of a text query).
        let ids: Box<dyn Iterator<Item = u32>> = if mask == u64::MAX {
            Box::new(self.ids.iter().copied())
        } else {
            Box::new(
                (0..self.ids.len())
                    .filter(move |&i| self.entry(i).1 & mask != 0)
                    .map(|i| self.ids[i]),
            )
        };
        let Ok(b) = RoaringBitmap::from_sorted_iter(ids) else {
            return;
        };
        if out.is_empty() {
            *out = b;
        } else {
            *out |= b;
        }
    }

    fn bytes(&self) -> usize {
        self.ids.capacity() * 4
            + self.packed.capacity() * 4
            + 56
            + self.wide.as_ref().map_or(0, |w| w.capacity() * 24 + 32)
    }
}

/// What one document's TEXT fields contribute: per term its weighted frequency and fields,
/// plus the two numbers the scorers normalise by.
#[derive(Debug, Default)]
pub struct TextStats {
    pub terms: HashMap<String, (u32, u64)>,
    /// The largest term frequency (TFIDF's norm).
    pub max_freq: u32,
    /// The weighted token count, stems not counted (BM25's document length).
    pub len: u32,
    /// The language the tokens were stemmed in, and each stemmed token with its stem's
    /// dictionary term (see [`Postings::stem_forms`]).
    pub lang: Language,
    pub forms: Vec<(String, Box<str>)>,
}

/// A TEXT field's place in the term masks and how its tokens count.
#[derive(Debug, Clone, Copy)]
struct TextField {
    bit: u8,
    weight: f64,
    nostem: bool,
}

/// Analyses a document's TEXT values as RediSearch's forward index does: every token counts `max(1, ⌊weight⌋)`, its stem (unless the field is NOSTEM) `max(1,
/// ⌊weight·0.2⌋)`.
fn analyse(
    fields: &[Option<TextField>],
    synonyms: &Synonyms,
    values: &[FieldValue],
    lang: Language,
) -> TextStats {
    let mut stats = TextStats {
        lang,
        ..TextStats::default()
    };
    for (i, field) in fields.iter().enumerate() {
        let (
            Some(TextField {
                bit,
                weight,
                nostem,
            }),
            Some(FieldValue::Text(tokens)),
        ) = (field, values.get(i))
        else {
            continue;
        };
        let mask = 1u64 << bit;
        let w = (*weight as u32).max(1);
        let ws = ((*weight * STEM_FACTOR) as u32).max(1);
        // Stopwords never reach the document's tokens (see `index::field_value`).
        for token in tokens.iter() {
            let e = stats.terms.entry(token.to_owned()).or_default();
            e.0 = e.0.saturating_add(w);
            e.1 |= mask;
            stats.max_freq = stats.max_freq.max(e.0);
            stats.len = stats.len.saturating_add(w);
            if !*nostem {
                if let Some(s) = stem(token, lang) {
                    let key = format!("{STEM_PREFIX}{s}");
                    let e = stats.terms.entry(key.clone()).or_default();
                    e.0 = e.0.saturating_add(ws);
                    e.1 |= mask;
                    stats.max_freq = stats.max_freq.max(e.0);
                    stats.forms.push((key, token.into()));
                }
            }
            // A synonym group's term counts like the token (not toward the length).
            for group in synonyms.groups(token) {
                let e = stats.terms.entry(group_term(group)).or_default();
                e.0 = e.0.saturating_add(w);
                e.1 |= mask;
                stats.max_freq = stats.max_freq.max(e.0);
            }
        }
    }
    stats
}

/// The prefix of a synonym group's term in the dictionary (RediSearch's `~id`).
pub const SYNONYM_PREFIX: char = '~';

fn group_term(group: &str) -> String {
    format!("{SYNONYM_PREFIX}{group}")
}

/// FT.SYNUPDATE's groups: each term (lower-cased) with the groups it belongs to, in the order
/// they were given. A token of a group is indexed with the group's term `~id` besides itself,
/// and a query term stands for the terms of its groups too: so a document matches a
/// synonym only if it was indexed after the group had the word, as in RediSearch.
///
/// Each (term, group) pair remembers the update that made it (`version`), and a document
/// the version it was indexed under: where a group's term sits in an older document (for
/// the scorers' term distances) is where the words it had *then* are.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Synonyms {
    terms: BTreeMap<String, Vec<(String, u64)>>,
    version: u64,
}

impl Synonyms {
    /// Adds `terms` to group `group` (a group only grows).
    pub fn update<'a>(&mut self, group: &str, terms: impl IntoIterator<Item = &'a str>) {
        self.version += 1;
        for t in terms {
            let groups = self.terms.entry(t.to_lowercase()).or_default();
            if !groups.iter().any(|(g, _)| g == group) {
                groups.push((group.to_string(), self.version));
            }
        }
    }

    pub fn version(&self) -> u64 {
        self.version
    }

    pub fn groups(&self, term: &str) -> impl Iterator<Item = &str> {
        self.terms
            .get(term)
            .into_iter()
            .flat_map(|g| g.iter().map(|(g, _)| g.as_str()))
    }

    /// The groups `term` had at `version`.
    pub fn groups_at(&self, term: &str, version: u64) -> Vec<&str> {
        self.terms.get(term).map_or_else(Vec::new, |g| {
            g.iter()
                .filter(|(_, v)| *v <= version)
                .map(|(g, _)| g.as_str())
                .collect()
        })
    }

    /// Every term with its groups (FT.SYNDUMP, the RDB).
    pub fn iter(&self) -> impl Iterator<Item = (&str, Vec<&str>)> {
        self.terms
            .iter()
            .map(|(t, g)| (t.as_str(), g.iter().map(|(g, _)| g.as_str()).collect()))
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }
}

/// A NUMERIC or GEO value's keys in the field's ordered set: numbers by [`ordered`], points
/// by geohash; a JSON array gives one per element (a document matches if one does).
fn sorted_keys(v: &FieldValue) -> Box<dyn Iterator<Item = u64> + '_> {
    match v {
        FieldValue::Numeric(n) => Box::new(std::iter::once(ordered(*n))),
        FieldValue::Numerics(ns) => Box::new(ns.iter().map(|n| ordered(*n))),
        FieldValue::Geo(h) => Box::new(std::iter::once(*h)),
        FieldValue::Geos(hs) => Box::new(hs.iter().copied()),
        _ => Box::new(std::iter::empty()),
    }
}

/// Maps an f64 to a u64 with the same order (negative numbers below positive ones).
fn ordered(v: f64) -> u64 {
    let bits = v.to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    }
}

/// A stem's dictionary term (`+stem`) with the tokens indexed under it.
type StemForms = FxHashMap<Box<str>, Vec<Box<str>>>;

pub struct Postings {
    /// Each schema field's bit in a term's field mask and weight (TEXT fields only; a
    /// schema's 65th TEXT field and later are not indexed).
    text: Vec<Option<TextField>>,
    terms: BTreeMap<Box<str>, Term>,
    tags: Vec<Option<BTreeMap<Box<str>, RoaringBitmap>>>,
    pub synonyms: Synonyms,
    /// NUMERIC values (order-preserving bits) and GEO hashes, with their documents.
    sorted: Vec<Option<BTreeSet<(u64, u32)>>>,
    /// Per field, the documents that have a value for it (`ismissing`).
    present: Vec<RoaringBitmap>,
    geo_fields: Vec<bool>,
    pub live: RoaringBitmap,
    /// Sum of the documents' text lengths (BM25's average).
    pub total_len: u64,
    /// Per language, each stem's dictionary term (`+stem`) with the tokens indexed under it:
    /// where a stem term occurs in a document is where one of these tokens does, found by
    /// comparing tokens instead of stemming each again at query time. A form is never wrong
    /// once seen (a token's stem does not change), so removals leave them.
    stem_forms: Vec<(Language, StemForms)>,
}

/// What a filter evaluation needs besides the expression.
pub struct EvalCtx<'a> {
    pub verbatim: bool,
    /// The language query terms are stemmed in.
    pub language: Language,
    /// The documents each VECTOR_RANGE clause found, in clause order.
    pub ranges: &'a [RoaringBitmap],
    /// Per-document check of a phrase (the postings give the candidates).
    pub phrase: &'a dyn Fn(u32, Option<usize>, &TextPattern) -> bool,
    /// Per-document check of an intersection's SLOP / INORDER (term positions are in the
    /// documents, not the postings): whether the document still matches `expr`.
    pub proximity: &'a dyn Fn(u32, &Expr) -> bool,
    /// The request's SLOP or INORDER: every intersection is checked.
    pub proximate: bool,
}

impl EvalCtx<'_> {
    /// The context under a negation: RediSearch does not expand the terms of `-x` to their
    /// stems, so `-dog` leaves documents that only say `dogs`.
    fn negated(&self) -> Self {
        EvalCtx {
            verbatim: true,
            language: self.language,
            ranges: self.ranges,
            phrase: self.phrase,
            proximity: self.proximity,
            proximate: self.proximate,
        }
    }
}

impl Postings {
    pub fn new(def: &IndexDef) -> Postings {
        let mut p = Postings {
            text: Vec::new(),
            terms: BTreeMap::new(),
            tags: Vec::new(),
            synonyms: Synonyms::default(),
            sorted: Vec::new(),
            present: Vec::new(),
            geo_fields: Vec::new(),
            live: RoaringBitmap::new(),
            total_len: 0,
            stem_forms: Vec::new(),
        };
        p.add_fields(def);
        p
    }

    /// Makes room for `def`'s fields beyond those it has (all of them when new; those FT.ALTER
    /// appended, which hold no values yet).
    pub fn add_fields(&mut self, def: &IndexDef) {
        let mut next = self.text.iter().flatten().count() as u8;
        for f in def.fields.iter().skip(self.text.len()) {
            self.text.push(match f.kind {
                FieldKind::Text { weight, nostem } if next < 64 => {
                    next += 1;
                    Some(TextField {
                        bit: next - 1,
                        weight,
                        nostem,
                    })
                }
                _ => None,
            });
            self.tags
                .push(matches!(f.kind, FieldKind::Tag { .. }).then(BTreeMap::new));
            self.sorted
                .push(matches!(f.kind, FieldKind::Numeric | FieldKind::Geo).then(BTreeSet::new));
            self.present.push(RoaringBitmap::new());
            self.geo_fields.push(matches!(f.kind, FieldKind::Geo));
        }
    }

    pub fn has_text(&self) -> bool {
        self.text.iter().any(Option::is_some)
    }

    /// `Some(nostem)` for an indexed TEXT field.
    pub fn nostem(&self, field: usize) -> Option<bool> {
        self.text.get(field).copied().flatten().map(|t| t.nostem)
    }

    /// What a document's TEXT values contribute (see [`TextStats`]).
    pub fn analyse(&self, values: &[FieldValue], lang: Language) -> TextStats {
        analyse(&self.text, &self.synonyms, values, lang)
    }

    pub fn num_terms(&self) -> usize {
        self.terms.len() - usize::from(self.terms.contains_key(""))
    }

    pub fn term(&self, t: &str) -> Option<&Term> {
        self.terms.get(t)
    }

    /// The term dictionary, in byte order (stems and synonym groups included).
    pub fn term_map(&self) -> &BTreeMap<Box<str>, Term> {
        &self.terms
    }

    /// Adds document `id` (not yet present) with its values and analysed text.
    pub fn add(&mut self, id: u32, values: &[FieldValue], text: &TextStats) {
        self.live.insert(id);
        for (i, v) in values.iter().enumerate() {
            if matches!(v, FieldValue::Missing) {
                continue;
            }
            self.present[i].insert(id);
            match v {
                FieldValue::Tag(tags) => {
                    if let Some(Some(map)) = self.tags.get_mut(i) {
                        for t in tags {
                            map.entry(t.into()).or_default().insert(id);
                        }
                    }
                }
                FieldValue::Numeric(_)
                | FieldValue::Numerics(_)
                | FieldValue::Geo(_)
                | FieldValue::Geos(_) => {
                    if let Some(Some(set)) = self.sorted.get_mut(i) {
                        set.extend(sorted_keys(v).map(|k| (k, id)));
                    }
                }
                _ => {}
            }
        }
        for (t, &(freq, mask)) in &text.terms {
            match self.terms.get_mut(t.as_str()) {
                Some(term) => term.insert(id, freq, mask),
                None => {
                    let mut term = Term::default();
                    term.insert(id, freq, mask);
                    self.terms.insert(t.as_str().into(), term);
                }
            }
        }
        self.total_len += u64::from(text.len);
        if !text.forms.is_empty() {
            let at = match self.stem_forms.iter().position(|(l, _)| *l == text.lang) {
                Some(at) => at,
                None => {
                    self.stem_forms.push((text.lang, FxHashMap::default()));
                    self.stem_forms.len() - 1
                }
            };
            let map = &mut self.stem_forms[at].1;
            for (key, token) in &text.forms {
                match map.get_mut(key.as_str()) {
                    Some(forms) if forms.contains(token) => {}
                    Some(forms) => forms.push(token.clone()),
                    None => {
                        map.insert(key.as_str().into(), vec![token.clone()]);
                    }
                }
            }
        }
    }

    /// The tokens of documents in `lang` whose stem term is `stem_term` (`+stem`).
    pub fn stem_forms(&self, lang: Language, stem_term: &str) -> &[Box<str>] {
        self.stem_forms
            .iter()
            .find(|(l, _)| *l == lang)
            .and_then(|(_, m)| m.get(stem_term))
            .map_or(&[], Vec::as_slice)
    }

    /// Removes document `id`, given what [`add`](Self::add) was given for it.
    pub fn remove(&mut self, id: u32, values: &[FieldValue], text: &TextStats) {
        self.live.remove(id);
        for (i, v) in values.iter().enumerate() {
            self.present[i].remove(id);
            match v {
                FieldValue::Tag(tags) => {
                    if let Some(Some(map)) = self.tags.get_mut(i) {
                        for t in tags {
                            if let Some(b) = map.get_mut(t) {
                                b.remove(id);
                                if b.is_empty() {
                                    map.remove(t);
                                }
                            }
                        }
                    }
                }
                FieldValue::Numeric(_)
                | FieldValue::Numerics(_)
                | FieldValue::Geo(_)
                | FieldValue::Geos(_) => {
                    if let Some(Some(set)) = self.sorted.get_mut(i) {
                        for k in sorted_keys(v) {
                            set.remove(&(k, id));
                        }
                    }
                }
                _ => {}
            }
        }
        for t in text.terms.keys() {
            if let Some(term) = self.terms.get_mut(t.as_str()) {
                term.remove(id);
                if term.ids.is_empty() {
                    self.terms.remove(t.as_str());
                }
            }
        }
        self.total_len = self.total_len.saturating_sub(u64::from(text.len));
    }

    /// Approximate heap bytes.
    pub fn bytes(&self) -> usize {
        let terms: usize = self
            .terms
            .iter()
            .map(|(k, t)| k.len() + t.bytes() + 32)
            .sum();
        let tags: usize = self
            .tags
            .iter()
            .flatten()
            .flat_map(|m| m.iter())
            .map(|(k, b)| k.len() + b.serialized_size() + 48)
            .sum();
        let sorted: usize = self.sorted.iter().flatten().map(|s| s.len() * 24).sum();
        let present: usize = self.present.iter().map(|b| b.serialized_size()).sum();
        let forms: usize = self
            .stem_forms
            .iter()
            .flat_map(|(_, m)| m.iter())
            .map(|(k, v)| k.len() + 56 + v.iter().map(|f| f.len() + 16).sum::<usize>())
            .sum();
        terms + tags + sorted + present + forms + self.live.serialized_size()
    }

    /// A TAG field's values, in byte order.
    pub fn tag_values(&self, field: usize) -> Vec<String> {
        match self.tags.get(field) {
            Some(Some(map)) => map.keys().map(|k| k.to_string()).collect(),
            _ => Vec::new(),
        }
    }

    /// How many documents hold tag `tag` in `field` (its IDF's document frequency).
    pub fn tag_docs(&self, field: usize, tag: &str) -> usize {
        match self.tags.get(field) {
            Some(Some(map)) => map.get(tag).map_or(0, |b| b.len() as usize),
            _ => 0,
        }
    }

    /// The text mask a clause on `field` (or every TEXT field) looks in.
    pub fn field_mask(&self, field: Option<usize>) -> u64 {
        match field {
            None => u64::MAX,
            Some(f) => match self.text.get(f).copied().flatten() {
                Some(t) => 1 << t.bit,
                None => 0,
            },
        }
    }

    /// The dictionary terms a pattern stands for (stems excluded but where the expansion of
    /// a plain term asks for one).
    pub fn pattern_terms(
        &self,
        pattern: &TextPattern,
        verbatim: bool,
        lang: Language,
    ) -> Vec<&str> {
        match pattern {
            TextPattern::Term(t) => {
                let names = if verbatim {
                    vec![t.clone()]
                } else {
                    // RediSearch's union reads the term, its groups, then its stems.
                    let mut names = expansions(t, lang);
                    let groups = self.synonyms.groups(t).map(group_term);
                    names.splice(1..1, groups);
                    names
                };
                names
                    .iter()
                    .filter_map(|n| self.terms.get_key_value(n.as_str()).map(|(k, _)| &**k))
                    .collect()
            }
            TextPattern::Prefix(p) => self
                .terms
                .range::<str, _>((
                    std::ops::Bound::Included(p.as_str()),
                    std::ops::Bound::Unbounded,
                ))
                .map(|(k, _)| &**k)
                .take_while(|k| k.starts_with(p.as_str()))
                .filter(|k| !k.starts_with(STEM_PREFIX))
                .take(super::config::max_prefix_expansions())
                .collect(),
            TextPattern::Suffix(p) => self.scan(|k| k.ends_with(p.as_str())),
            TextPattern::Contains(p) => self.scan(|k| k.contains(p.as_str())),
            TextPattern::Fuzzy(t, d) => {
                self.scan(|k| super::query::within_distance(k, t, *d as usize))
            }
            TextPattern::Phrase(words) => words
                .iter()
                .filter_map(|w| self.terms.get_key_value(w.as_str()).map(|(k, _)| &**k))
                .collect(),
        }
    }

    fn scan(&self, keep: impl Fn(&str) -> bool) -> Vec<&str> {
        self.terms
            .keys()
            .filter(|k| !k.starts_with([STEM_PREFIX, SYNONYM_PREFIX]) && keep(k))
            .map(|k| &**k)
            .take(super::config::max_prefix_expansions())
            .collect()
    }

    /// The documents `expr` matches.
    pub fn eval(&self, expr: &Expr, ctx: &EvalCtx) -> RoaringBitmap {
        match expr {
            Expr::All | Expr::Optional(_) => self.live.clone(),
            Expr::And(parts) => {
                let acc = self.eval_and(parts, ctx);
                if ctx.proximate {
                    acc.iter().filter(|&id| (ctx.proximity)(id, expr)).collect()
                } else {
                    acc
                }
            }
            Expr::Opts {
                expr: inner,
                slop,
                inorder,
                ..
            } => match &**inner {
                Expr::And(parts) if slop.is_some() || *inorder || ctx.proximate => self
                    .eval_and(parts, ctx)
                    .iter()
                    .filter(|&id| (ctx.proximity)(id, expr))
                    .collect(),
                _ => self.eval(inner, ctx),
            },
            Expr::Or(parts) => {
                let mut acc = RoaringBitmap::new();
                for e in parts {
                    acc |= self.eval(e, ctx);
                }
                acc
            }
            Expr::Not(inner) => &self.live - self.eval(inner, &ctx.negated()),
            Expr::Tag { field, patterns } => {
                let mut acc = RoaringBitmap::new();
                let Some(Some(map)) = self.tags.get(*field) else {
                    return acc;
                };
                for p in patterns {
                    match p {
                        TagPattern::Exact(t) => {
                            if let Some(b) = map.get(t.as_str()) {
                                acc |= b;
                            }
                        }
                        TagPattern::Prefix(t) => {
                            for (_, b) in map
                                .range::<str, _>((
                                    std::ops::Bound::Included(t.as_str()),
                                    std::ops::Bound::Unbounded,
                                ))
                                .take_while(|(k, _)| k.starts_with(t.as_str()))
                            {
                                acc |= b;
                            }
                        }
                        _ => {
                            for (k, b) in map.iter() {
                                if p.matches(k) {
                                    acc |= b;
                                }
                            }
                        }
                    }
                }
                acc
            }
            Expr::Numeric {
                field,
                lo,
                lo_inclusive,
                hi,
                hi_inclusive,
            } => {
                let Some(Some(set)) = self.sorted.get(*field) else {
                    return RoaringBitmap::new();
                };
                // A GEO field's range compares the geohash, as RediSearch's does.
                let is_geo = self.is_geo_set(*field);
                let key = |v: f64| -> u64 {
                    if is_geo {
                        if v <= 0.0 {
                            0
                        } else if v >= u64::MAX as f64 {
                            u64::MAX
                        } else {
                            v as u64
                        }
                    } else {
                        ordered(v)
                    }
                };
                if lo > hi || lo.is_nan() || hi.is_nan() {
                    return RoaringBitmap::new();
                }
                let mut acc = RoaringBitmap::new();
                for &(k, id) in set.range((key(*lo), 0)..=(key(*hi), u32::MAX)) {
                    let v = if is_geo { k as f64 } else { f64::NAN };
                    let keep = if is_geo {
                        (if *lo_inclusive { v >= *lo } else { v > *lo })
                            && (if *hi_inclusive { v <= *hi } else { v < *hi })
                    } else {
                        (*lo_inclusive || k != ordered(*lo)) && (*hi_inclusive || k != ordered(*hi))
                    };
                    if keep {
                        acc.insert(id);
                    }
                }
                acc
            }
            Expr::Geo {
                field,
                lon,
                lat,
                radius_m,
            } => {
                let Some(Some(set)) = self.sorted.get(*field) else {
                    return RoaringBitmap::new();
                };
                let mut acc = RoaringBitmap::new();
                match geo::cover(*lon, *lat, *radius_m) {
                    Some(ranges) => {
                        for (from, to) in ranges {
                            for &(h, id) in set.range((from, 0)..(to, 0)) {
                                if geo::within(h, *lon, *lat, *radius_m) {
                                    acc.insert(id);
                                }
                            }
                        }
                    }
                    None => {
                        for &(h, id) in set.iter() {
                            if geo::within(h, *lon, *lat, *radius_m) {
                                acc.insert(id);
                            }
                        }
                    }
                }
                acc
            }
            Expr::Text { field, pattern } => {
                let mask = self.field_mask(*field);
                let mut acc = RoaringBitmap::new();
                if mask == 0 {
                    return acc;
                }
                match pattern {
                    TextPattern::Phrase(words) => {
                        let mut cand: Option<RoaringBitmap> = None;
                        for w in words {
                            let mut b = RoaringBitmap::new();
                            if let Some(t) = self.terms.get(w.as_str()) {
                                t.matching(mask, &mut b);
                            }
                            cand = Some(match cand {
                                None => b,
                                Some(c) => c & b,
                            });
                        }
                        let cand = cand.unwrap_or_else(|| self.live.clone());
                        for id in cand.iter() {
                            if (ctx.phrase)(id, *field, pattern) {
                                acc.insert(id);
                            }
                        }
                    }
                    _ => {
                        for t in self.pattern_terms(pattern, ctx.verbatim, ctx.language) {
                            if let Some(term) = self.terms.get(t) {
                                term.matching(mask, &mut acc);
                            }
                        }
                    }
                }
                acc
            }
            Expr::Missing(field) => match self.present.get(*field) {
                Some(p) => &self.live - p,
                None => self.live.clone(),
            },
            Expr::VectorRange { clause, .. } => {
                ctx.ranges.get(*clause).cloned().unwrap_or_default()
            }
        }
    }

    /// The documents every clause of an intersection matches, before any SLOP / INORDER.
    fn eval_and(&self, parts: &[Expr], ctx: &EvalCtx) -> RoaringBitmap {
        let (neg, pos): (Vec<&Expr>, Vec<&Expr>) =
            parts.iter().partition(|e| matches!(e, Expr::Not(_)));
        // The narrowest clause first; a clause far wider than what is left is probed
        // document by document instead of read whole (as RediSearch's intersection
        // skips through the longer lists).
        let mut pos: Vec<(&Expr, u64)> = pos
            .into_iter()
            .map(|e| (e, self.estimate(e, ctx)))
            .collect();
        pos.sort_by_key(|&(_, n)| n);
        let mut acc: Option<RoaringBitmap> = None;
        for (e, estimate) in pos {
            acc = Some(match acc {
                None => self.eval(e, ctx),
                Some(a) if a.len().saturating_mul(8) < estimate => match self.probe(e, &a, ctx) {
                    Some(kept) => kept,
                    None => a & self.eval(e, ctx),
                },
                Some(a) => a & self.eval(e, ctx),
            });
            if acc.as_ref().is_some_and(RoaringBitmap::is_empty) {
                return RoaringBitmap::new();
            }
        }
        let mut acc = acc.unwrap_or_else(|| self.live.clone());
        for e in neg {
            if let Expr::Not(inner) = e {
                acc -= self.eval(inner, &ctx.negated());
            }
        }
        acc
    }

    /// About how many documents `expr` matches, from the postings' sizes (an upper bound;
    /// the number of documents where nothing cheaper is known).
    fn estimate(&self, expr: &Expr, ctx: &EvalCtx) -> u64 {
        match expr {
            Expr::Text {
                pattern: pattern @ (TextPattern::Term(_) | TextPattern::Prefix(_)),
                ..
            } => self
                .pattern_terms(pattern, ctx.verbatim, ctx.language)
                .iter()
                .filter_map(|t| self.terms.get(*t))
                .map(|t| t.docs() as u64)
                .sum(),
            Expr::Opts { expr, .. } => self.estimate(expr, ctx),
            Expr::Tag { field, patterns } => match self.tags.get(*field) {
                Some(Some(map)) if patterns.iter().all(|p| matches!(p, TagPattern::Exact(_))) => {
                    patterns
                        .iter()
                        .filter_map(|p| match p {
                            TagPattern::Exact(t) => map.get(t.as_str()),
                            _ => None,
                        })
                        .map(RoaringBitmap::len)
                        .sum()
                }
                _ => self.live.len(),
            },
            _ => self.live.len(),
        }
    }

    /// The documents of `acc` that `expr` matches, checked one by one against the postings
    /// (a binary search per term); `None` for clauses that cannot be checked that way.
    fn probe(&self, expr: &Expr, acc: &RoaringBitmap, ctx: &EvalCtx) -> Option<RoaringBitmap> {
        match expr {
            Expr::Text {
                field,
                pattern: pattern @ (TextPattern::Term(_) | TextPattern::Prefix(_)),
            } => {
                let mask = self.field_mask(*field);
                let terms: Vec<&Term> = self
                    .pattern_terms(pattern, ctx.verbatim, ctx.language)
                    .iter()
                    .filter_map(|t| self.terms.get(*t))
                    .collect();
                Some(
                    acc.iter()
                        .filter(|&id| {
                            terms
                                .iter()
                                .any(|t| t.get(id).is_some_and(|(_, m)| m & mask != 0))
                        })
                        .collect(),
                )
            }
            Expr::Tag { field, patterns } => {
                let Some(Some(map)) = self.tags.get(*field) else {
                    return Some(RoaringBitmap::new());
                };
                let sets: Option<Vec<Option<&RoaringBitmap>>> = patterns
                    .iter()
                    .map(|p| match p {
                        TagPattern::Exact(t) => Some(map.get(t.as_str())),
                        _ => None,
                    })
                    .collect();
                let sets: Vec<&RoaringBitmap> = sets?.into_iter().flatten().collect();
                Some(
                    acc.iter()
                        .filter(|&id| sets.iter().any(|b| b.contains(id)))
                        .collect(),
                )
            }
            _ => None,
        }
    }

    fn is_geo_set(&self, field: usize) -> bool {
        self.geo_fields.get(field).copied().unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_that_do_not_pack_are_kept_whole() {
        let mut t = Term::default();
        t.insert(1, 3, 1 << 2);
        t.insert(2, 5, 1 << 40);
        t.insert(3, u32::MAX, 1);
        t.insert(4, (1 << 24) - 2, 0xff);
        assert_eq!(t.get(1), Some((3, 4)));
        assert_eq!(t.get(2), Some((5, 1 << 40)));
        assert_eq!(t.get(3), Some((u32::MAX, 1)));
        assert_eq!(t.get(4), Some(((1 << 24) - 2, 0xff)));
        assert_eq!(t.docs_in(1 << 40), 1);
        let mut out = RoaringBitmap::new();
        t.matching(1, &mut out);
        assert_eq!(out.iter().collect::<Vec<_>>(), [3, 4]);
        t.remove(2);
        t.remove(3);
        assert!(t.wide.is_none());
        assert_eq!((t.get(2), t.get(4)), (None, Some(((1 << 24) - 2, 0xff))));
    }

    #[test]
    fn a_cursor_reads_as_a_binary_search_does() {
        let mut t = Term::default();
        let ids: Vec<u32> = (0..2000).filter(|i| i % 7 == 0 || i % 11 == 3).collect();
        for &id in &ids {
            t.insert(id, id % 5 + 1, 1 << (id % 3));
        }
        // Forward, with gaps of every size, then backwards and at random: same answers.
        let cursor = Cell::new(0);
        let forward: Vec<u32> = (0..2100).chain((0..2100).rev()).collect();
        let shuffled: Vec<u32> = (0..2100u32).map(|i| i.wrapping_mul(7919) % 2100).collect();
        for id in forward.into_iter().chain(shuffled) {
            assert_eq!(t.get_from(id, &cursor), t.get(id), "id {id}");
        }
        assert_eq!(Term::default().get_from(3, &Cell::new(5)), None);
    }
}
