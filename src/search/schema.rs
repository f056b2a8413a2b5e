//! An index definition (FT.CREATE) and the values a document contributes to it.

use super::error::{BadArg, SearchError};
use super::language::{Language, Lookup};
use super::vector::{DataType, Metric};

/// FT.CREATE `VECTOR FLAT|HNSW`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Flat,
    Hnsw,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VectorParams {
    pub algorithm: Algorithm,
    pub dtype: DataType,
    pub dim: usize,
    pub metric: Metric,
    pub initial_cap: Option<usize>,
    pub block_size: Option<usize>,
    pub m: usize,
    pub ef_construction: usize,
    pub ef_runtime: usize,
    pub epsilon: f64,
}

impl VectorParams {
    pub fn blob_size(&self) -> usize {
        self.dim * self.dtype.size()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum FieldKind {
    Text { weight: f64, nostem: bool },
    Tag { separator: u8, case_sensitive: bool },
    Numeric,
    Geo,
    Vector(VectorParams),
}

impl FieldKind {
    pub fn type_name(&self) -> &'static str {
        match self {
            FieldKind::Text { .. } => "TEXT",
            FieldKind::Tag { .. } => "TAG",
            FieldKind::Numeric => "NUMERIC",
            FieldKind::Geo => "GEO",
            FieldKind::Vector(_) => "VECTOR",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// The hash field the value is read from (`identifier` in FT.INFO).
    pub identifier: Vec<u8>,
    /// The name queries use (`@name`), `AS` or else the identifier (`attribute`).
    pub name: String,
    pub kind: FieldKind,
    pub sortable: bool,
    pub unf: bool,
    pub noindex: bool,
    pub suffix_trie: bool,
    pub index_missing: bool,
    pub index_empty: bool,
}

/// One field's value in one document, as the index keeps it.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    /// The hash has no such field (or the field is a vector, kept in its vector index).
    Missing,
    /// Lower-cased tokens in document order (phrases need the order).
    Text(Tokens),
    /// Tags after splitting on the separator and trimming; lower-cased unless the field is
    /// CASESENSITIVE.
    Tag(Tokens),
    Numeric(f64),
    /// The point's 52-bit geohash (what RediSearch indexes, sorts and range-queries by).
    Geo(u64),
    Vector,
    /// Several numbers (a JSON array under a NUMERIC field): a range matches if one does.
    Numerics(Box<[f64]>),
    /// Several points (a JSON array under a GEO field): a filter matches if one does.
    Geos(Box<[u64]>),
}

/// A TEXT value's tokens (or a TAG value's tags) in order, in one allocation: each token
/// preceded by a separator character that occurs in none of them (the first character says
/// which). An index keeps every document's tokens (for positions and phrases): a
/// `Vec<String>` costs 24 bytes and an allocation per token, this one byte and none. Text
/// tokens never hold a space (the tokenizer splits on it), so theirs is a space; tags may
/// hold anything, and take the first character none of them holds.
#[derive(Clone, PartialEq, Default)]
pub struct Tokens {
    text: Box<str>,
}

impl Tokens {
    pub fn iter(&self) -> impl Iterator<Item = &str> + Clone + '_ {
        let mut chars = self.text.chars();
        let sep = chars.next();
        let rest = chars.as_str();
        // Empty: no tokens (an empty first token is the separator alone).
        sep.into_iter().flat_map(move |c| rest.split(c))
    }

    pub fn len(&self) -> usize {
        match self.text.chars().next() {
            Some(c) => self.text.matches(c).count(),
            None => 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    /// Heap bytes, for FT.INFO.
    pub fn heap_bytes(&self) -> usize {
        self.text.len()
    }
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// A character none of `items` holds: a space where it can be (every text token), else the
/// first free one of the C0 controls and then the private use planes. The search ends: the
/// items hold finitely many characters.
fn separator(items: &[&str]) -> char {
    let free = |c: char| !items.iter().any(|t| t.contains(c));
    std::iter::once(' ')
        .chain('\u{1}'..'\u{20}')
        .chain('\u{E000}'..='\u{10FFFF}')
        .find(|&c| free(c))
        .unwrap_or(' ')
}

impl<S: AsRef<str>> FromIterator<S> for Tokens {
    fn from_iter<I: IntoIterator<Item = S>>(items: I) -> Tokens {
        let owned: Vec<S> = items.into_iter().collect();
        let items: Vec<&str> = owned.iter().map(AsRef::as_ref).collect();
        if items.is_empty() {
            return Tokens::default();
        }
        let sep = separator(&items);
        let len = items.iter().map(|t| t.len() + sep.len_utf8()).sum();
        let mut text = String::with_capacity(len);
        for t in items {
            text.push(sep);
            text.push_str(t);
        }
        Tokens {
            text: text.into_boxed_str(),
        }
    }
}

impl<'a> IntoIterator for &'a Tokens {
    type Item = &'a str;
    type IntoIter = Box<dyn Iterator<Item = &'a str> + 'a>;
    fn into_iter(self) -> Self::IntoIter {
        Box::new(self.iter())
    }
}

impl From<Vec<String>> for Tokens {
    fn from(v: Vec<String>) -> Tokens {
        v.into_iter().collect()
    }
}

/// What kind of key an index reads (FT.CREATE `ON`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    Hash,
    /// Read through RedisJSON's API; field identifiers are JSONPaths.
    Json,
}

/// FT.CREATE: everything after the index name.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexDef {
    pub name: String,
    pub key_type: KeyType,
    pub prefixes: Vec<Vec<u8>>,
    pub default_score: f64,
    /// LANGUAGE: how documents without a LANGUAGE_FIELD value, and queries, are stemmed.
    pub language: Language,
    /// LANGUAGE_FIELD, SCORE_FIELD, PAYLOAD_FIELD: hash fields giving a document's stemming
    /// language, its score (a factor on its relevance) and its payload (WITHPAYLOADS).
    pub language_field: Option<Vec<u8>>,
    pub score_field: Option<Vec<u8>>,
    pub payload_field: Option<Vec<u8>>,
    pub skip_initial_scan: bool,
    /// TEMPORARY: the index is dropped after this many seconds without use.
    pub temporary_secs: Option<u64>,
    /// Custom STOPWORDS list, if given (FT.INFO shows it).
    pub stopwords: Option<Vec<String>>,
    pub fields: Vec<Field>,
    /// Per field: whether a TAG value is split on the field's separator. Always for hashes;
    /// for JSON only when SEPARATOR is given (RediSearch keeps a JSON string one tag).
    pub tag_split: Vec<bool>,
    /// The FT.CREATE words after the index name, kept to persist the definition: re-parsing
    /// them on load is the one way to rebuild an identical definition.
    pub args: Vec<Vec<u8>>,
}

impl IndexDef {
    /// Whether `term` is one of the index's stopwords (RediSearch's list unless STOPWORDS
    /// gave one; `STOPWORDS 0` means none).
    pub fn is_stopword(&self, term: &str) -> bool {
        match &self.stopwords {
            Some(list) => list.iter().any(|w| w == term),
            None => is_stopword(term),
        }
    }
}

/// RediSearch's default English stopword list.
const STOPWORDS: [&str; 33] = [
    "a", "is", "the", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into",
    "it", "no", "not", "of", "on", "or", "such", "that", "their", "then", "there", "these", "they",
    "this", "to", "was", "will", "with",
];

/// Whether `term` is on RediSearch's default stopword list.
pub fn is_stopword(term: &str) -> bool {
    STOPWORDS.contains(&term)
}

fn upper(w: &[u8]) -> Vec<u8> {
    w.to_ascii_uppercase()
}

fn text(w: &[u8]) -> String {
    String::from_utf8_lossy(w).into_owned()
}

struct Cursor<'a> {
    words: &'a [&'a [u8]],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<&'a [u8]> {
        self.words.get(self.at).copied()
    }
    fn peek_is(&self, kw: &str) -> bool {
        self.peek()
            .is_some_and(|w| w.eq_ignore_ascii_case(kw.as_bytes()))
    }
    fn next(&mut self) -> Option<&'a [u8]> {
        let w = self.peek()?;
        self.at += 1;
        Some(w)
    }
    fn value(&mut self, what: &str) -> Result<&'a [u8], SearchError> {
        self.next()
            .ok_or_else(|| SearchError::bad(what, BadArg::MissingValue))
    }
    fn number<T: std::str::FromStr>(&mut self, what: &str) -> Result<T, SearchError> {
        let w = self.value(what)?;
        std::str::from_utf8(w)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| SearchError::bad(what, BadArg::CouldNotParse(text(w))))
    }
}

/// TEMPORARY's largest idle time (a year): the timer's milliseconds stay far from overflow.
const MAX_TEMPORARY_SECS: u64 = 365 * 24 * 3600;

/// Parses FT.CREATE's arguments after the index name. Options that do not change what a
/// search returns (NOOFFSETS, NOHL, ...) are accepted and ignored.
pub fn parse_create(name: &[u8], words: &[&[u8]]) -> Result<IndexDef, SearchError> {
    let mut c = Cursor { words, at: 0 };
    let mut def = IndexDef {
        name: utf8(name, "Index name")?,
        key_type: KeyType::Hash,
        prefixes: Vec::new(),
        default_score: 1.0,
        language: Language::English,
        language_field: None,
        score_field: None,
        payload_field: None,
        skip_initial_scan: false,
        temporary_secs: None,
        stopwords: None,
        fields: Vec::new(),
        tag_split: Vec::new(),
        args: words.iter().map(|w| w.to_vec()).collect(),
    };
    loop {
        let Some(w) = c.next() else {
            return Err(SearchError::FieldsMissing);
        };
        match upper(w).as_slice() {
            b"ON" => {
                let on = c.value("ON")?;
                if on.eq_ignore_ascii_case(b"JSON") {
                    def.key_type = KeyType::Json;
                } else if on.eq_ignore_ascii_case(b"HASH") {
                    def.key_type = KeyType::Hash;
                } else {
                    return Err(SearchError::UnknownIndexType(text(on)));
                }
            }
            b"PREFIX" => {
                let n: usize = c.number("PREFIX")?;
                if n > words.len() {
                    return Err(SearchError::bad("PREFIX", BadArg::NotEnough("prefixes")));
                }
                for _ in 0..n {
                    def.prefixes.push(c.value("PREFIX")?.to_vec());
                }
            }
            b"SCORE" => {
                let score = std::str::from_utf8(c.value("SCORE")?)
                    .ok()
                    .and_then(|v| v.trim().parse::<f64>().ok())
                    .filter(|v| (0.0..=1.0).contains(v))
                    .ok_or(SearchError::InvalidScore)?;
                def.default_score = score;
            }
            b"FILTER" => {
                return Err(SearchError::CreateFilterUnsupported);
            }
            b"LANGUAGE" => {
                def.language = match Language::lookup(c.value("LANGUAGE")?) {
                    Lookup::Found(l) => l,
                    Lookup::NoStemmer("chinese") => return Err(SearchError::ChineseUnsupported),
                    Lookup::NoStemmer(name) => {
                        return Err(SearchError::LanguageWithoutStemmer(name))
                    }
                    Lookup::Unknown => return Err(SearchError::InvalidLanguage),
                };
            }
            b"LANGUAGE_FIELD" => def.language_field = Some(c.value("LANGUAGE_FIELD")?.to_vec()),
            b"SCORE_FIELD" => def.score_field = Some(c.value("SCORE_FIELD")?.to_vec()),
            b"PAYLOAD_FIELD" => def.payload_field = Some(c.value("PAYLOAD_FIELD")?.to_vec()),
            b"TEMPORARY" => {
                let secs = c.value("TEMPORARY")?;
                let secs = std::str::from_utf8(secs)
                    .ok()
                    .and_then(|s| s.parse::<i64>().ok())
                    .ok_or_else(|| SearchError::bad("TEMPORARY", BadArg::CouldNotConvert))?;
                // RediSearch takes 0 and negative values too: the index is then gone at once.
                def.temporary_secs = Some(secs.clamp(0, MAX_TEMPORARY_SECS as i64) as u64);
            }
            b"MAXTEXTFIELDS" | b"NOOFFSETS" | b"NOHL" | b"NOFIELDS" | b"NOFREQS" | b"ASYNC" => {}
            b"SKIPINITIALSCAN" => def.skip_initial_scan = true,
            b"STOPWORDS" => {
                let n: usize = c.number("STOPWORDS")?;
                if n > words.len() {
                    return Err(SearchError::bad("STOPWORDS", BadArg::NotEnough("words")));
                }
                let mut list = Vec::with_capacity(n);
                for _ in 0..n {
                    list.push(text(c.value("STOPWORDS")?).to_lowercase());
                }
                def.stopwords = Some(list);
            }
            b"SCHEMA" => break,
            _ => return Err(SearchError::UnknownArgument(text(w))),
        }
    }
    // Read from hash fields only: refused for JSON rather than accepted and never read.
    if def.key_type == KeyType::Json {
        for (set, option) in [
            (&def.language_field, "LANGUAGE_FIELD"),
            (&def.score_field, "SCORE_FIELD"),
            (&def.payload_field, "PAYLOAD_FIELD"),
        ] {
            if set.is_some() {
                return Err(SearchError::HashOnlyOption(option));
            }
        }
    }
    if c.peek().is_none() {
        return Err(SearchError::FieldsMissing);
    }
    while let Some(ident) = c.next() {
        if def.key_type == KeyType::Json {
            // Handed to RedisJSON as a C string: UTF-8 without NUL.
            if std::str::from_utf8(ident).is_err() || ident.contains(&0) {
                return Err(SearchError::NotUtf8 {
                    what: "JSONPath",
                    text: text(ident),
                });
            }
        }
        let (field, separator_given) = parse_field(ident, &mut c)?;
        if def.fields.iter().any(|f| f.name == field.name) {
            return Err(SearchError::DuplicateField(field.name));
        }
        def.tag_split
            .push(def.key_type == KeyType::Hash || separator_given);
        def.fields.push(field);
    }
    Ok(def)
}

/// FT.ALTER's words after the index name: `[SKIPINITIALSCAN] SCHEMA ADD field …`. Returns the
/// index's new definition (the old one with the fields appended, its persisted words too) and
/// whether to skip the scan that indexes the new fields in existing documents. Nothing is
/// applied unless every new field parses and no name repeats.
pub fn parse_alter(def: &IndexDef, words: &[&[u8]]) -> Result<(IndexDef, bool), SearchError> {
    let mut c = Cursor { words, at: 0 };
    let mut skip_scan = false;
    if c.peek()
        .is_some_and(|w| w.eq_ignore_ascii_case(b"SKIPINITIALSCAN"))
    {
        skip_scan = true;
        c.next();
    }
    if !c.next().is_some_and(|w| w.eq_ignore_ascii_case(b"SCHEMA")) {
        return Err(SearchError::AlterNeedsSchema);
    }
    if !c.next().is_some_and(|w| w.eq_ignore_ascii_case(b"ADD")) {
        return Err(SearchError::AlterUnknownAction);
    }
    let start = c.at;
    if c.peek().is_none() {
        return Err(SearchError::FieldsMissing);
    }
    let mut new = def.clone();
    while let Some(ident) = c.next() {
        let (field, separator_given) = parse_field(ident, &mut c)?;
        if new.fields.iter().any(|f| f.name == field.name) {
            return Err(SearchError::DuplicateField(field.name));
        }
        new.tag_split
            .push(new.key_type == KeyType::Hash || separator_given);
        new.fields.push(field);
    }
    // FT.CREATE's SCHEMA is its last section, so the new fields' words extend it.
    new.args.extend(words[start..].iter().map(|w| w.to_vec()));
    Ok((new, skip_scan))
}

/// Names are text: a lossy conversion would let two different byte strings collide.
fn utf8(w: &[u8], what: &'static str) -> Result<String, SearchError> {
    String::from_utf8(w.to_vec()).map_err(|_| SearchError::NotUtf8 {
        what,
        text: text(w),
    })
}

/// A field and whether its SEPARATOR was given.
fn parse_field(ident: &[u8], c: &mut Cursor) -> Result<(Field, bool), SearchError> {
    let mut name = utf8(ident, "Field name")?;
    if c.peek_is("AS") {
        c.next();
        name = utf8(c.value("AS")?, "Field name")?;
    }
    let Some(ty) = c.next() else {
        return Err(SearchError::FieldWithoutType(name));
    };
    let kind = match upper(ty).as_slice() {
        b"TEXT" => FieldKind::Text {
            weight: 1.0,
            nostem: false,
        },
        b"TAG" => FieldKind::Tag {
            separator: b',',
            case_sensitive: false,
        },
        b"NUMERIC" => FieldKind::Numeric,
        b"GEO" => FieldKind::Geo,
        b"VECTOR" => FieldKind::Vector(parse_vector(&name, c)?),
        b"GEOSHAPE" => {
            return Err(SearchError::UnsupportedFieldType {
                field: name,
                ty: text(ty),
            })
        }
        _ => return Err(SearchError::InvalidFieldType(name)),
    };
    let mut field = Field {
        identifier: ident.to_vec(),
        name,
        kind,
        sortable: false,
        unf: false,
        noindex: false,
        suffix_trie: false,
        index_missing: false,
        index_empty: false,
    };
    // The type's options first, then SORTABLE / UNF / NOINDEX, until a word that is none of
    // them: the next field's name. As in RediSearch, a type option after SORTABLE or NOINDEX
    // is that next name (`a TEXT SORTABLE NOSTEM` is refused: NOSTEM has no type).
    let mut generic = false;
    let mut separator_given = false;
    while let Some(w) = c.peek() {
        let up = upper(w);
        match (&mut field.kind, up.as_slice()) {
            (_, b"SORTABLE") => {
                field.sortable = true;
                generic = true;
            }
            (_, b"UNF") => {
                field.unf = true;
                generic = true;
            }
            (_, b"NOINDEX") => {
                field.noindex = true;
                generic = true;
            }
            _ if generic => break,
            (_, b"INDEXMISSING") => field.index_missing = true,
            // RediSearch has no INDEXEMPTY for GEO: the word is then the next field's name.
            (k, b"INDEXEMPTY") if *k != FieldKind::Geo => field.index_empty = true,
            (FieldKind::Text { .. } | FieldKind::Tag { .. }, b"WITHSUFFIXTRIE") => {
                field.suffix_trie = true
            }
            (FieldKind::Text { weight, .. }, b"WEIGHT") => {
                c.next();
                *weight = c.number("WEIGHT")?;
                continue;
            }
            (FieldKind::Text { nostem, .. }, b"NOSTEM") => *nostem = true,
            (FieldKind::Text { .. }, b"PHONETIC") => {
                // Accepting it and matching nothing phonetically would give wrong answers.
                return Err(SearchError::PhoneticUnsupported(field.name.clone()));
            }
            (FieldKind::Tag { separator, .. }, b"SEPARATOR") => {
                c.next();
                let sep = c.value("SEPARATOR")?;
                if sep.len() != 1 {
                    return Err(SearchError::TagSeparator(text(sep)));
                }
                *separator = sep[0];
                separator_given = true;
                continue;
            }
            (FieldKind::Tag { case_sensitive, .. }, b"CASESENSITIVE") => *case_sensitive = true,
            _ => break,
        }
        c.next();
    }
    Ok((field, separator_given))
}

/// Largest DIM accepted: RediSearch has no fixed cap, vector sets stop at 65,536; a larger
/// dimension is far more likely a client bug than a model.
pub const MAX_DIM: usize = 65_536;
/// Largest M / EF values accepted (valkey-search's caps): beyond them memory or time per
/// insert explodes, and the user has most likely swapped two arguments.
const MAX_M: usize = 512;
const MAX_EF: usize = 4096;

fn parse_vector(name: &str, c: &mut Cursor) -> Result<VectorParams, SearchError> {
    let algo = c.value("VECTOR")?;
    let algorithm = match upper(algo).as_slice() {
        b"FLAT" => Algorithm::Flat,
        b"HNSW" => Algorithm::Hnsw,
        b"SVS-VAMANA" => {
            return Err(SearchError::bad(
                "vector similarity algorithm",
                BadArg::SvsVamana,
            ))
        }
        _ => {
            return Err(SearchError::bad(
                "vector similarity algorithm",
                BadArg::UnknownAlgorithm(text(algo)),
            ))
        }
    };
    let what = format!("vector similarity {} index", text(&upper(algo)));
    let nargs: usize = c.number(&what)?;
    if nargs % 2 != 0 {
        return Err(SearchError::bad(what, BadArg::OddAttributes));
    }
    let mut p = VectorParams {
        algorithm,
        dtype: DataType::Float32,
        dim: 0,
        metric: Metric::L2,
        initial_cap: None,
        block_size: None,
        m: 16,
        ef_construction: 200,
        ef_runtime: 10,
        epsilon: 0.01,
    };
    let (mut has_type, mut has_metric) = (false, false);
    for _ in 0..nargs / 2 {
        let key = c.value(&what)?;
        let up = upper(key);
        let hnsw = algorithm == Algorithm::Hnsw;
        match up.as_slice() {
            b"TYPE" => {
                let v = c.value(&what)?;
                p.dtype = DataType::parse(v).ok_or_else(|| {
                    SearchError::bad("vector similarity number type", BadArg::Quoted(text(v)))
                })?;
                has_type = true;
            }
            b"DIM" => p.dim = c.number(&what)?,
            b"DISTANCE_METRIC" => {
                let v = c.value(&what)?;
                p.metric = Metric::parse(v).ok_or_else(|| {
                    SearchError::bad("vector similarity metric", BadArg::Quoted(text(v)))
                })?;
                has_metric = true;
            }
            b"INITIAL_CAP" => p.initial_cap = Some(c.number(&what)?),
            b"BLOCK_SIZE" if !hnsw => p.block_size = Some(c.number(&what)?),
            b"M" if hnsw => p.m = c.number(&what)?,
            b"EF_CONSTRUCTION" if hnsw => p.ef_construction = c.number(&what)?,
            b"EF_RUNTIME" if hnsw => p.ef_runtime = c.number(&what)?,
            b"EPSILON" if hnsw => p.epsilon = c.number(&what)?,
            // RedisVL may put INDEXMISSING inside the attribute list.
            b"INDEXMISSING" | b"INDEXEMPTY" => {
                c.value(&what)?;
            }
            _ => {
                return Err(SearchError::bad(
                    what,
                    BadArg::UnknownAttribute {
                        key: text(key),
                        field: name.to_string(),
                    },
                ))
            }
        }
    }
    if !has_type || !has_metric || p.dim == 0 {
        return Err(SearchError::bad(
            what,
            BadArg::MissingTypeDimMetric(name.to_string()),
        ));
    }
    if p.dim > MAX_DIM {
        return Err(SearchError::bad(what, BadArg::DimTooLarge(MAX_DIM)));
    }
    if p.m < 2 || p.m > MAX_M || p.ef_construction == 0 || p.ef_construction > MAX_EF {
        return Err(SearchError::bad(
            what,
            BadArg::GraphBounds {
                max_m: MAX_M,
                max_ef: MAX_EF,
            },
        ));
    }
    if p.ef_runtime == 0 || p.ef_runtime > MAX_EF || !(p.epsilon > 0.0 && p.epsilon.is_finite()) {
        return Err(SearchError::bad(
            what,
            BadArg::RuntimeBounds { max_ef: MAX_EF },
        ));
    }
    Ok(p)
}

impl IndexDef {
    /// Whether `key` falls under one of the index's prefixes (every key when there are none).
    pub fn covers(&self, key: &[u8]) -> bool {
        self.prefixes.is_empty() || self.prefixes.iter().any(|p| key.starts_with(p))
    }

    pub fn field(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_pack_in_order() {
        let t: Tokens = ["hello", "", "wörld", "x"].into_iter().collect();
        assert_eq!(t.iter().collect::<Vec<_>>(), ["hello", "", "wörld", "x"]);
        assert_eq!((t.len(), t.heap_bytes()), (4, 12 + 4));
        // Tags may hold spaces and controls: the separator is one they do not hold.
        let tags = ["new york", "a\tb", "", "\u{1}"];
        let t: Tokens = tags.into_iter().collect();
        assert_eq!(t.iter().collect::<Vec<_>>(), tags);
        assert_eq!(t.len(), 4);
        let one_empty: Tokens = [""].into_iter().collect();
        assert_eq!(one_empty.iter().collect::<Vec<_>>(), [""]);
        assert!(!one_empty.is_empty());
        let empty = Tokens::default();
        assert!(empty.is_empty() && empty.iter().next().is_none());
        assert_eq!(
            Tokens::from(vec!["a".to_string()]),
            ["a"].into_iter().collect()
        );
    }

    fn parse(s: &str) -> Result<IndexDef, SearchError> {
        let words: Vec<&[u8]> = s.split_whitespace().map(str::as_bytes).collect();
        parse_create(b"idx", &words)
    }

    #[test]
    fn parses_what_redisvl_sends() {
        let d = parse(
            "ON HASH PREFIX 1 doc: SCORE 1.0 SCHEMA text TEXT WEIGHT 1 tag TAG SEPARATOR , \
             n NUMERIC SORTABLE embedding VECTOR HNSW 14 TYPE FLOAT32 DIM 768 \
             DISTANCE_METRIC COSINE M 16 EF_CONSTRUCTION 200 EF_RUNTIME 10 EPSILON 0.01",
        )
        .unwrap();
        assert_eq!(d.prefixes, vec![b"doc:".to_vec()]);
        assert_eq!(d.fields.len(), 4);
        assert!(d.fields[2].sortable);
        let FieldKind::Vector(v) = &d.fields[3].kind else {
            panic!()
        };
        assert_eq!(
            (v.dim, v.metric, v.algorithm),
            (768, Metric::Cosine, Algorithm::Hnsw)
        );
        assert_eq!(v.blob_size(), 3072);
        assert!(d.covers(b"doc:1") && !d.covers(b"other"));
    }

    #[test]
    fn aliases_and_flags() {
        let d = parse("SCHEMA $.a AS a TAG CASESENSITIVE SEPARATOR | SORTABLE UNF b TEXT NOSTEM")
            .unwrap();
        assert_eq!(d.fields[0].name, "a");
        assert_eq!(d.fields[0].identifier, b"$.a");
        assert_eq!(
            d.fields[0].kind,
            FieldKind::Tag {
                separator: b'|',
                case_sensitive: true
            }
        );
        assert!(d.fields[0].sortable && d.fields[0].unf);
        assert_eq!(d.fields[1].name, "b");
    }

    #[test]
    fn on_json_keeps_paths_and_leaves_tags_whole_unless_a_separator_is_given() {
        let d = parse(
            "ON JSON PREFIX 1 j: SCHEMA $.a.b AS ab TAG $.c AS c TAG SEPARATOR ; \
             $.t[*] AS t TEXT",
        )
        .unwrap();
        assert_eq!(d.key_type, KeyType::Json);
        assert_eq!(d.fields[0].identifier, b"$.a.b");
        assert_eq!(d.tag_split, [false, true, false]);
        let hash = parse("SCHEMA a TAG").unwrap();
        assert_eq!((hash.key_type, hash.tag_split), (KeyType::Hash, vec![true]));
        let err = parse_create(b"i", &[b"ON", b"JSON", b"SCHEMA", b"$.\xff", b"TEXT"]).unwrap_err();
        assert_eq!(err.to_string(), "JSONPath is not valid UTF-8: `$.\u{fffd}`");
    }

    #[test]
    fn refuses_bad_definitions() {
        for bad in [
            "",
            "SCHEMA",
            "ON JSON SCHEMA a\x00 TEXT",
            "PREFIX 99999999999 SCHEMA a TEXT",
            "SCHEMA a BLOB",
            "SCHEMA a TEXT a TAG",
            "SCHEMA v VECTOR FLAT 6 TYPE FLOAT32 DIM 4 DISTANCE_METRIC XX",
            "SCHEMA v VECTOR FLAT 5 TYPE FLOAT32 DIM 4 DISTANCE_METRIC",
            "SCHEMA v VECTOR FLAT 4 TYPE FLOAT32 DIM 4",
            "SCHEMA v VECTOR FLAT 6 TYPE FLOAT32 DIM 0 DISTANCE_METRIC L2",
            "SCHEMA v VECTOR FLAT 6 TYPE INT7 DIM 2 DISTANCE_METRIC L2",
            "SCHEMA v VECTOR HNSW 8 TYPE FLOAT32 DIM 2 DISTANCE_METRIC L2 M 100000",
            "SCHEMA v VECTOR FLAT 8 TYPE FLOAT32 DIM 2 DISTANCE_METRIC L2 M 16",
            "SCHEMA v VECTOR SVS-VAMANA 6 TYPE FLOAT32 DIM 2 DISTANCE_METRIC L2",
            "SCHEMA v VECTOR HNSW 6 TYPE FLOAT32 DIM 99999999999999999999 DISTANCE_METRIC L2",
        ] {
            assert!(parse(bad).is_err(), "accepted: {bad}");
        }
    }

    /// The texts clients see (tests/python/test_hostile.py checks them through the server).
    #[test]
    fn error_texts() {
        let flat = "Bad arguments for vector similarity FLAT index";
        let hnsw = "Bad arguments for vector similarity HNSW index";
        for (line, text) in [
            ("", "Fields arguments are missing".to_string()),
            ("ON", "Bad arguments for ON: missing value".into()),
            ("ON FOO SCHEMA a TEXT", "Unknown index type `FOO`".into()),
            (
                "PREFIX x",
                "Bad arguments for PREFIX: could not parse `x`".into(),
            ),
            (
                "PREFIX 9 a",
                "Bad arguments for PREFIX: not enough prefixes".into(),
            ),
            (
                "STOPWORDS 9 a",
                "Bad arguments for STOPWORDS: not enough words".into(),
            ),
            (
                "FILTER x SCHEMA a TEXT",
                "FILTER expressions on FT.CREATE are not supported".into(),
            ),
            ("FOO SCHEMA a TEXT", "Unknown argument `FOO`".into()),
            ("SCHEMA a", "Field `a` does not have a type".into()),
            ("SCHEMA a FOO", "Invalid field type for field `a`".into()),
            (
                "SCHEMA a GEOSHAPE",
                "Field `a`: GEOSHAPE fields are not supported".into(),
            ),
            (
                "SCHEMA a TEXT a TAG",
                "Duplicate field in schema - a".into(),
            ),
            (
                "SCHEMA a TAG SEPARATOR ab",
                "Tag separator must be a single character. Got `ab`".into(),
            ),
            (
                "SCHEMA v VECTOR IVF",
                "Bad arguments for vector similarity algorithm: unknown algorithm `IVF`".into(),
            ),
            (
                "SCHEMA v VECTOR SVS-VAMANA 0",
                "Bad arguments for vector similarity algorithm: SVS-VAMANA is not supported".into(),
            ),
            (
                "SCHEMA v VECTOR FLAT 1 TYPE",
                format!("{flat}: odd number of attribute tokens"),
            ),
            (
                "SCHEMA v VECTOR FLAT 2 TYPE INT7",
                "Bad arguments for vector similarity number type: `INT7`".into(),
            ),
            (
                "SCHEMA v VECTOR FLAT 2 DISTANCE_METRIC XX",
                "Bad arguments for vector similarity metric: `XX`".into(),
            ),
            (
                "SCHEMA v VECTOR FLAT 2 M 16",
                format!("{flat}: unknown argument `M` for field `v`"),
            ),
            (
                "SCHEMA v VECTOR FLAT 2 DIM 2",
                format!("{flat}: missing TYPE, DIM or DISTANCE_METRIC for field `v`"),
            ),
            (
                "SCHEMA v VECTOR FLAT 6 TYPE FLOAT32 DIM 65537 DISTANCE_METRIC L2",
                format!("{flat}: DIM must be at most 65536"),
            ),
            (
                "SCHEMA v VECTOR HNSW 8 TYPE FLOAT32 DIM 2 DISTANCE_METRIC L2 M 1",
                format!("{hnsw}: M must be in 2..=512 and EF_CONSTRUCTION in 1..=4096"),
            ),
            (
                "SCHEMA v VECTOR HNSW 8 TYPE FLOAT32 DIM 2 DISTANCE_METRIC L2 EPSILON 0",
                format!("{hnsw}: EF_RUNTIME must be in 1..=4096 and EPSILON positive"),
            ),
        ] {
            assert_eq!(parse(line).unwrap_err().to_string(), text, "{line}");
        }
        let err = parse_create(b"\xff", &[b"SCHEMA", b"a", b"TEXT"]).unwrap_err();
        assert_eq!(err.to_string(), "Index name is not valid UTF-8: `\u{fffd}`");
        let err = parse_create(b"i", &[b"SCHEMA", b"\xfe", b"TEXT"]).unwrap_err();
        assert_eq!(err.to_string(), "Field name is not valid UTF-8: `\u{fffd}`");
    }
}
