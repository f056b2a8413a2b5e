//! FT.SEARCH query strings (RediSearch dialect 2): parsing into a filter tree plus an optional
//! KNN clause, and evaluation of the filter against one document's field values.
//!
//! ```text
//! query      = [ filter ] [ "=>" "[" knn "]" [ attributes ] ] ;
//! filter     = union ;
//! union      = intersect { "|" intersect } ;
//! intersect  = unary { unary } ;                    (* juxtaposition: AND *)
//! unary      = "-" unary                            (* NOT *)
//!            | "~" unary                            (* optional: matches everything *)
//!            | atom { attributes } ;
//! attributes = "=>" "{" [ attribute ] { ";" [ attribute ] } "}" ;
//! attribute  = "$" name ":" value ;
//! atom       = "(" union ")" | "*" | phrase | fuzzy | word
//!            | "ismissing" "(" "@" name ")"
//!            | "@" name { "|" name } ":" ( "{" tags "}" | "[" range "]" | unary ) ;
//! tags       = tag { "|" tag } ;
//! tag        = '"' chars '"' | [ "*" ] ( chars | "$" name ) [ "*" ] ;
//! range      = bound [ "," ] bound | bound
//!            | "VECTOR_RANGE" number "$" name ;
//! bound      = [ "(" ] number ;                     (* "(" makes the bound exclusive *)
//! number     = float | [ "+" | "-" ] "inf" | "$" name ;
//! phrase     = '"' chars '"' ;
//! fuzzy      = "%" value "%" | "%%" value "%%" | "%%%" value "%%%" ;
//! word       = [ "*" ] value [ "*" ] ;              (* suffix, prefix, infix *)
//! value      = term | "$" name ;
//! knn        = "KNN" ( int | "$" name ) "@" name "$" name { knn_option } ;
//! knn_option = ( "EF_RUNTIME" | "EPSILON" | "HYBRID_POLICY" | "BATCH_SIZE" | "AS" ) value ;
//! ```
//!
//! `term` is a run of letters, digits, `_`, non-ASCII bytes and backslash-escaped bytes. Other
//! punctuation with no meaning above (`,` `.` `!` `&` `+` …) is skipped like whitespace, as
//! RediSearch's lexer does, so `hello.world` is two terms. `$name` takes its value from PARAMS
//! wherever a value may appear. Keywords and attribute names are case-insensitive; field names
//! are not.
//!
//! Where this parser differs from RediSearch, it is more lenient: the KNN filter may be any
//! expression (RediSearch wants one atom or a parenthesised group), `*` may appear inside an
//! expression, tag values may hold unescaped punctuation, `{"quoted value"}` is a tag, and the
//! bounds of a numeric range may be separated by a comma.
//!
//! `~x` (an optional clause) becomes [`Expr::Optional`], which matches everything and scores
//! what `x` matches; the `$weight`, `$slop` and `$inorder` attributes wrap their clause in
//! [`Expr::Opts`]; `$phonetic` is ignored. `HYBRID_POLICY` and `BATCH_SIZE` are validated and dropped: the engine picks its
//! own strategy.
//!
//! Stopwords in text clauses are dropped at parse time (but not inside a phrase). A clause left with nothing vanishes
//! from the tree, so it is neutral under both AND and OR; a filter that vanishes entirely
//! matches nothing (RediSearch answers such a query with no results), except in front of a
//! KNN, where it means "all documents".

use std::borrow::Cow;
use std::collections::HashMap;

use super::error::SearchError;
use super::geo;
use super::schema::{Field, FieldKind, FieldValue, Tokens};

/// Nesting (parentheses, `-`, `~`, field modifiers) deeper than this is refused: parsing,
/// evaluation and drop all recurse once per level, and no query may exhaust the stack.
const MAX_DEPTH: usize = 128;

/// Characters that end a token in TEXT fields: RediSearch's default separator set as its
/// `toksep.h` has it, which adds `/`, `|`, `?` and the backtick to the documented list.
/// Whitespace separates too.
const SEPARATORS: &str = ",./(){}[]:;~!@#$%^&*-=+|'`\"<>?";

/// A parsed query: the filter every result must pass, and the KNN applied over it.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub filter: Expr,
    pub knn: Option<Knn>,
}

impl Query {
    /// `*` with no KNN: every document, no evaluation needed.
    pub fn is_match_all(&self) -> bool {
        self.knn.is_none() && self.filter == Expr::All
    }
}

/// `=>[KNN k @field $blob …]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Knn {
    pub k: usize,
    /// Index into the index's fields.
    pub field: usize,
    pub vector: Vec<f32>,
    pub ef_runtime: Option<usize>,
    /// `AS` / `$YIELD_DISTANCE_AS`; `None` means the caller names it `__<field>_score`.
    pub alias: Option<String>,
    pub epsilon: Option<f64>,
    /// The PARAMS name the vector came from (FT.EXPLAIN shows it).
    pub param: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    All,
    /// Empty: matches everything (the parser writes that as `All`).
    And(Vec<Expr>),
    /// Empty: matches nothing (what a query of only stopwords becomes).
    Or(Vec<Expr>),
    Not(Box<Expr>),
    /// `~x`: matches every document; those `x` matches score as `x` does, the others as 0.
    Optional(Box<Expr>),
    /// `@f:{a|b|pre*}`; patterns are already case-normalised for the field.
    Tag {
        field: usize,
        patterns: Vec<TagPattern>,
    },
    Numeric {
        field: usize,
        lo: f64,
        lo_inclusive: bool,
        hi: f64,
        hi_inclusive: bool,
    },
    /// `@f:[lon lat radius unit]` (and FT.SEARCH's GEOFILTER): within `radius_m` metres.
    Geo {
        field: usize,
        lon: f64,
        lat: f64,
        radius_m: f64,
    },
    /// `field: None` searches every TEXT field.
    Text {
        field: Option<usize>,
        pattern: TextPattern,
    },
    /// `ismissing(@f)`.
    Missing(usize),
    /// A clause with `=>{$weight; $slop; $inorder}`: its weight in the score, and for an
    /// intersection how far apart (`slop` positions in between, at most) and in what order its
    /// terms must be. `slop: None` defers to the request's SLOP; `inorder` adds to INORDER.
    Opts {
        expr: Box<Expr>,
        weight: f64,
        slop: Option<u32>,
        inorder: bool,
    },
    /// `@v:[VECTOR_RANGE r $blob]`. Which documents are in range is computed by the caller;
    /// `clause` numbers these nodes 0, 1, … in order of appearance and is what
    /// [`Expr::matches`] passes to its callback.
    VectorRange {
        clause: usize,
        field: usize,
        radius: f64,
        vector: Vec<f32>,
        epsilon: Option<f64>,
        yield_as: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagPattern {
    Exact(String),
    /// `abc*`
    Prefix(String),
    /// `*abc`
    Suffix(String),
    /// `*abc*`
    Contains(String),
}

/// A text clause against the tokens of one field. Terms are lower-cased like the tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextPattern {
    Term(String),
    /// `abc*`
    Prefix(String),
    /// `*abc`
    Suffix(String),
    /// `*abc*`
    Contains(String),
    /// `%abc%` (distance 1) to `%%%abc%%%` (distance 3): Levenshtein distance.
    Fuzzy(String, u8),
    /// `"a b c"`, matched against consecutive document tokens (the index drops stopwords, so
    /// they leave no gap): `"end days"` matches "end of days". A stopword in the phrase
    /// matches nothing, as in RediSearch.
    Phrase(Vec<String>),
}

impl TagPattern {
    pub fn matches(&self, tag: &str) -> bool {
        match self {
            TagPattern::Exact(p) => tag == p,
            TagPattern::Prefix(p) => tag.starts_with(p.as_str()),
            TagPattern::Suffix(p) => tag.ends_with(p.as_str()),
            TagPattern::Contains(p) => tag.contains(p.as_str()),
        }
    }
}

impl TextPattern {
    /// Whether the pattern occurs in any TEXT value of a document. A phrase may run from one
    /// field into the next: RediSearch counts positions across a document's fields.
    pub fn matches_any_field(&self, doc: &[FieldValue]) -> bool {
        let texts = doc.iter().filter_map(|v| match v {
            FieldValue::Text(t) => Some(t),
            _ => None,
        });
        if let TextPattern::Phrase(_) = self {
            return self.matches_words(texts.flat_map(Tokens::iter));
        }
        texts.into_iter().any(|t| self.matches(t))
    }

    /// Whether the pattern occurs in a field's tokens (document order).
    pub fn matches(&self, tokens: &Tokens) -> bool {
        self.matches_words(tokens.iter())
    }

    fn matches_words<'t>(&self, mut tokens: impl Iterator<Item = &'t str>) -> bool {
        match self {
            TextPattern::Term(t) => tokens.any(|x| x == t),
            TextPattern::Prefix(p) => tokens.any(|x| x.starts_with(p.as_str())),
            TextPattern::Suffix(p) => tokens.any(|x| x.ends_with(p.as_str())),
            TextPattern::Contains(p) => tokens.any(|x| x.contains(p.as_str())),
            TextPattern::Fuzzy(t, d) => tokens.any(|x| within_distance(x, t, *d as usize)),
            TextPattern::Phrase(words) => {
                if words.is_empty() {
                    return true;
                }
                // A document's tokens hold no stopwords (the index drops them), so they leave
                // no gap.
                let tokens: Vec<&str> = tokens.collect();
                tokens
                    .windows(words.len())
                    .any(|w| w.iter().zip(words).all(|(a, b)| a == b))
            }
        }
    }
}

impl Expr {
    /// Evaluates the filter for one document. `doc` holds one value per index field (a
    /// shorter slice reads as missing values); `in_range(clause)` answers VECTOR_RANGE nodes.
    pub fn matches(&self, doc: &[FieldValue], in_range: &dyn Fn(usize) -> bool) -> bool {
        match self {
            Expr::All => true,
            Expr::And(parts) => parts.iter().all(|e| e.matches(doc, in_range)),
            Expr::Or(parts) => parts.iter().any(|e| e.matches(doc, in_range)),
            Expr::Not(e) => !e.matches(doc, in_range),
            Expr::Optional(_) => true,
            Expr::Tag { field, patterns } => match doc.get(*field) {
                Some(FieldValue::Tag(tags)) => {
                    tags.iter().any(|t| patterns.iter().any(|p| p.matches(t)))
                }
                _ => false,
            },
            Expr::Numeric {
                field,
                lo,
                lo_inclusive,
                hi,
                hi_inclusive,
            } => {
                let within = |v: f64| {
                    let above = if *lo_inclusive { v >= *lo } else { v > *lo };
                    let below = if *hi_inclusive { v <= *hi } else { v < *hi };
                    above && below
                };
                // A range over a GEO field compares its geohash, as RediSearch's does.
                match doc.get(*field) {
                    Some(FieldValue::Numeric(v)) => within(*v),
                    Some(FieldValue::Geo(hash)) => within(*hash as f64),
                    // JSON arrays: the document matches if one of its values does.
                    Some(FieldValue::Numerics(v)) => v.iter().any(|v| within(*v)),
                    Some(FieldValue::Geos(h)) => h.iter().any(|h| within(*h as f64)),
                    _ => false,
                }
            }
            Expr::Geo {
                field,
                lon,
                lat,
                radius_m,
            } => match doc.get(*field) {
                Some(FieldValue::Geo(hash)) => geo::within(*hash, *lon, *lat, *radius_m),
                Some(FieldValue::Geos(h)) => {
                    h.iter().any(|h| geo::within(*h, *lon, *lat, *radius_m))
                }
                _ => false,
            },
            Expr::Text {
                field: Some(field),
                pattern,
            } => matches!(doc.get(*field), Some(FieldValue::Text(t)) if pattern.matches(t)),
            Expr::Text {
                field: None,
                pattern,
            } => pattern.matches_any_field(doc),
            Expr::Missing(field) => matches!(doc.get(*field), None | Some(FieldValue::Missing)),
            // Term positions are not among a document's values: SLOP and INORDER are checked
            // by the scorer's result tree, which has them.
            Expr::Opts { expr, .. } => expr.matches(doc, in_range),
            Expr::VectorRange { clause, .. } => in_range(*clause),
        }
    }

    /// The VECTOR_RANGE nodes, in clause order.
    pub fn vector_ranges(&self) -> Vec<&Expr> {
        let mut out = Vec::new();
        self.collect_ranges(&mut out);
        out
    }

    fn collect_ranges<'a>(&'a self, out: &mut Vec<&'a Expr>) {
        match self {
            Expr::And(parts) | Expr::Or(parts) => {
                parts.iter().for_each(|e| e.collect_ranges(out));
            }
            Expr::Not(e) | Expr::Opts { expr: e, .. } | Expr::Optional(e) => e.collect_ranges(out),
            Expr::VectorRange { .. } => out.push(self),
            _ => {}
        }
    }

    // Numbered once the tree is final, so simplification can never leave gaps or reorder.
    fn number_clauses(&mut self, next: &mut usize) {
        match self {
            Expr::And(parts) | Expr::Or(parts) => {
                parts.iter_mut().for_each(|e| e.number_clauses(next));
            }
            Expr::Not(e) | Expr::Opts { expr: e, .. } | Expr::Optional(e) => e.number_clauses(next),
            Expr::VectorRange { clause, .. } => {
                *clause = *next;
                *next += 1;
            }
            _ => {}
        }
    }
}

pub use super::schema::is_stopword;

/// RediSearch's default tokenization of TEXT values, applied to documents and query terms
/// alike: split on space, tab and RediSearch's separators (every ASCII punctuation character
/// but `_` and `\`); a backslash keeps the next character (separator or not) inside the token
/// and is itself dropped; control characters, newlines among them, are dropped, so `a\nb` is
/// one token there and here; other Unicode spaces stay inside tokens, as RediSearch's byte
/// tables do not know them; Unicode lower-casing.
/// Stopwords are kept (see [`is_stopword`]).
pub fn tokenize(text: &str) -> Vec<String> {
    tokenize_spans(text).into_iter().map(|(_, t)| t).collect()
}

/// [`tokenize`], each token with the byte offset in `text` where it starts (what highlighting
/// needs to find it again in the value).
pub fn tokenize_spans(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut start = 0;
    let mut chars = text.char_indices();
    while let Some((at, c)) = chars.next() {
        if cur.is_empty() {
            start = at;
        }
        if c == '\\' {
            if let Some((_, next)) = chars.next() {
                if !next.is_control() {
                    cur.extend(next.to_lowercase());
                }
            }
        } else if c == ' ' || c == '\t' || SEPARATORS.contains(c) {
            if !cur.is_empty() {
                out.push((start, std::mem::take(&mut cur)));
            }
        } else if !c.is_control() {
            cur.extend(c.to_lowercase());
        }
    }
    if !cur.is_empty() {
        out.push((start, cur));
    }
    out
}

/// A TAG value as indexed: split on the field's separator, trimmed, lower-cased unless the
/// field is CASESENSITIVE; empty tags dropped unless the field is INDEXEMPTY (then `a,,b` holds
/// the empty tag, as in RediSearch).
pub fn normalize_tags(
    raw: &str,
    separator: u8,
    case_sensitive: bool,
    index_empty: bool,
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for part in raw.as_bytes().split(|&b| b == separator) {
        let tag = String::from_utf8_lossy(part);
        let tag = tag.trim();
        if !tag.is_empty() {
            out.push(normalize_tag(tag, case_sensitive));
        } else if index_empty && !out.iter().any(String::is_empty) {
            out.push(String::new());
        }
    }
    out
}

fn normalize_tag(tag: &str, case_sensitive: bool) -> String {
    if case_sensitive {
        tag.to_string()
    } else {
        tag.to_lowercase()
    }
}

/// A query term that is used whole (affixes, fuzzy): escapes and control characters removed,
/// lower-cased, but not split.
fn fold_term(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        let c = if c == '\\' {
            match chars.next() {
                Some(next) => next,
                None => break,
            }
        } else {
            c
        };
        if !c.is_control() {
            out.extend(c.to_lowercase());
        }
    }
    out
}

/// Removes backslash escapes (the escaped byte stays).
fn unescape(raw: &[u8]) -> String {
    let mut out = Vec::with_capacity(raw.len());
    let mut bytes = raw.iter();
    while let Some(&b) = bytes.next() {
        if b == b'\\' {
            if let Some(&next) = bytes.next() {
                out.push(next);
            }
        } else {
            out.push(b);
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether `a` is within `max` edits of `b`, an edit being an insertion, a deletion, a
/// substitution or the swap of two adjacent characters (RediSearch's fuzzy matching finds
/// `dog` for `%dgo%`): the optimal-string-alignment distance.
pub fn within_distance(a: &str, b: &str, max: usize) -> bool {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len().abs_diff(b.len()) > max {
        return false;
    }
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 0..a.len() {
        cur[0] = i + 1;
        for j in 0..b.len() {
            let substitute = prev[j] + usize::from(a[i] != b[j]);
            let mut d = substitute.min(prev[j + 1] + 1).min(cur[j] + 1);
            if i > 0 && j > 0 && a[i] == b[j - 1] && a[i - 1] == b[j] {
                d = d.min(before[j - 1] + 1);
            }
            cur[j + 1] = d;
        }
        std::mem::swap(&mut before, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()] <= max
}

fn is_term_byte(b: u8) -> bool {
    b >= 0x80 || b.is_ascii_alphanumeric() || b == b'_'
}

fn is_space(b: u8) -> bool {
    b.is_ascii_whitespace() || b.is_ascii_control()
}

fn parse_number(text: &str) -> Option<f64> {
    let text = text.trim();
    let lower = text.to_ascii_lowercase();
    let v = match lower.as_str() {
        "inf" | "+inf" => f64::INFINITY,
        "-inf" => f64::NEG_INFINITY,
        _ => text.parse::<f64>().ok()?,
    };
    (!v.is_nan()).then_some(v)
}

/// Parses `query` against an index's `fields`, taking `$name` values from `params`, in dialect
/// 2 (also 3 and 4, which differ only in replies).
pub fn parse(
    query: &[u8],
    params: &HashMap<Vec<u8>, Vec<u8>>,
    fields: &[Field],
) -> Result<Query, SearchError> {
    parse_dialect(query, params, fields, 2, None)
}

/// [`parse`] in a given dialect. Dialect 1, RediSearch's default, differs in scope: `@f:`
/// takes the run of plain terms (and `|` unions of them) that follows, up to `-`, `~`, a
/// parenthesis, a quote or another field; `-x` and `~x` take the rest of their group. It has no
/// `$name` parameters, KNN or VECTOR_RANGE.
pub fn parse_dialect(
    query: &[u8],
    params: &HashMap<Vec<u8>, Vec<u8>>,
    fields: &[Field],
    dialect: u8,
    stopwords: Option<&[String]>,
) -> Result<Query, SearchError> {
    let mut p = Parser {
        src: query,
        pos: 0,
        params,
        fields,
        depth: 0,
        dialect,
        stopwords,
    };
    p.skip_filler();
    let filter = if p.at_end() { None } else { p.union(None)? };
    p.skip_filler();
    let mut knn = None;
    if p.starts_with(b"=>") {
        if p.dialect < 2 {
            return Err(p.syntax_error(p.pos + 1));
        }
        p.pos += 2;
        p.skip_space();
        if p.peek() != Some(b'[') {
            return Err(p.syntax_error(p.pos));
        }
        let mut k = p.knn()?;
        p.skip_space();
        if p.starts_with(b"=>") {
            p.pos += 2;
            p.skip_space();
            if p.peek() != Some(b'{') {
                return Err(p.syntax_error(p.pos));
            }
            for attr in p.attributes()? {
                knn_option(&mut k, &attr.name, &attr.value, Origin::Attribute)?;
            }
        }
        knn = Some(k);
    }
    p.skip_filler();
    if !p.at_end() {
        return Err(p.syntax_error(p.pos));
    }
    let mut filter = match (filter, &knn) {
        (Some(e), _) => e,
        (None, Some(_)) => Expr::All,
        (None, None) => Expr::Or(Vec::new()),
    };
    filter.number_clauses(&mut 0);
    Ok(Query { filter, knn })
}

/// A parsed clause; `None` when it vanished because it held only stopwords.
type Clause = Result<Option<Expr>, SearchError>;

/// `$name: value` inside `=>{…}`; `name` without the `$`, `value` with parameters resolved.
struct Attribute {
    name: String,
    value: String,
}

#[derive(Clone, Copy, PartialEq)]
enum Origin {
    /// Inside `[KNN …]`.
    Bracket,
    /// Inside the `=>{…}` after it.
    Attribute,
}

/// A number as written, or a parameter's value and name; `at` is where it starts.
struct NumberText {
    text: String,
    param: Option<String>,
    at: usize,
}

/// A value as written: a literal (escapes still in) or a parameter name.
enum Value<'a> {
    Literal(&'a [u8]),
    Param(&'a [u8]),
}

struct Parser<'a> {
    src: &'a [u8],
    pos: usize,
    params: &'a HashMap<Vec<u8>, Vec<u8>>,
    fields: &'a [Field],
    depth: usize,
    /// 1 or 2 and above: what `@f:`, `-` and `~` reach, and whether `$name`, KNN and
    /// VECTOR_RANGE exist (not in dialect 1).
    dialect: u8,
    /// The index's STOPWORDS, `None` for RediSearch's default list.
    stopwords: Option<&'a [String]>,
}

impl<'a> Parser<'a> {
    fn is_stop(&self, term: &str) -> bool {
        match self.stopwords {
            Some(list) => list.iter().any(|w| w == term),
            None => is_stopword(term),
        }
    }

    fn peek(&self) -> Option<u8> {
        self.src.get(self.pos).copied()
    }

    fn peek_at(&self, i: usize) -> Option<u8> {
        self.src.get(i).copied()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.src.len()
    }

    fn rest(&self) -> &'a [u8] {
        self.src.get(self.pos..).unwrap_or_default()
    }

    fn starts_with(&self, s: &[u8]) -> bool {
        self.rest().starts_with(s)
    }

    fn eat(&mut self, b: u8) -> bool {
        let hit = self.peek() == Some(b);
        if hit {
            self.pos += 1;
        }
        hit
    }

    fn expect(&mut self, b: u8) -> Result<(), SearchError> {
        if self.eat(b) {
            Ok(())
        } else {
            Err(self.syntax_error(self.pos))
        }
    }

    fn skip_space(&mut self) {
        while self.peek().is_some_and(is_space) {
            self.pos += 1;
        }
    }

    /// Skips whitespace and the punctuation that has no meaning in the grammar.
    fn skip_filler(&mut self) {
        while let Some(b) = self.peek() {
            let filler = is_space(b)
                || match b {
                    b'=' => self.peek_at(self.pos + 1) != Some(b'>'),
                    b'@' | b'$' => !self.term_starts_at(self.pos + 1),
                    b'\\' => self.pos + 1 >= self.src.len(),
                    b'\'' => !self.at_empty_string(),
                    b'!' | b'#' | b'&' | b'+' | b',' | b'.' | b'/' | b'<' | b'>' | b'?' | b'^'
                    | b'`' => true,
                    _ => false,
                };
            if !filler {
                break;
            }
            self.pos += 1;
        }
    }

    /// `''` or `""` at the cursor: the empty string, which INDEXEMPTY fields index (dialect 2
    /// and above; dialect 1 has no such token, as in RediSearch).
    fn at_empty_string(&self) -> bool {
        self.dialect >= 2 && (self.starts_with(b"''") || self.starts_with(b"\"\""))
    }

    /// The empty string as a text clause over `scope`, whose fields must all be INDEXEMPTY.
    fn empty_string(&mut self, scope: Option<&[usize]>) -> Clause {
        self.pos += 2;
        if let Some(ids) = scope {
            if ids
                .iter()
                .any(|&id| !self.fields.get(id).is_some_and(|f| f.index_empty))
            {
                return Err(SearchError::NotIndexEmpty);
            }
        }
        Ok(Some(text_expr(scope, TextPattern::Term(String::new()))))
    }

    fn term_starts_at(&self, i: usize) -> bool {
        match self.peek_at(i) {
            Some(b'\\') => i + 1 < self.src.len(),
            Some(b) => is_term_byte(b),
            None => false,
        }
    }

    fn value_starts_at(&self, i: usize) -> bool {
        self.term_starts_at(i) || (self.peek_at(i) == Some(b'$') && self.term_starts_at(i + 1))
    }

    /// Consumes a run of term bytes (an escape and the byte it escapes count as one).
    fn scan_term(&mut self) -> &'a [u8] {
        let start = self.pos;
        loop {
            match self.peek() {
                Some(b'\\') if self.pos + 1 < self.src.len() => self.pos += 2,
                Some(b) if is_term_byte(b) => self.pos += 1,
                _ => break,
            }
        }
        self.src.get(start..self.pos).unwrap_or_default()
    }

    fn scan_value(&mut self) -> Option<Value<'a>> {
        if self.dialect < 2 && self.peek() == Some(b'$') {
            return None;
        }
        if self.peek() == Some(b'$') && self.term_starts_at(self.pos + 1) {
            self.pos += 1;
            Some(Value::Param(self.scan_term()))
        } else if self.term_starts_at(self.pos) {
            Some(Value::Literal(self.scan_term()))
        } else {
            None
        }
    }

    /// Consumes bytes up to whitespace or one of `stops` (escaped bytes never stop it).
    fn scan_word(&mut self, stops: &[u8]) -> &'a [u8] {
        let start = self.pos;
        while let Some(b) = self.peek() {
            if b == b'\\' && self.pos + 1 < self.src.len() {
                self.pos += 2;
            } else if is_space(b) || stops.contains(&b) {
                break;
            } else {
                self.pos += 1;
            }
        }
        self.src.get(start..self.pos).unwrap_or_default()
    }

    /// The value of `$name`; `name` as written (an escaped byte stands for itself).
    fn param(&self, name: &[u8]) -> Result<&'a [u8], SearchError> {
        let unescaped;
        let key = if name.contains(&b'\\') {
            unescaped = unescape(name).into_bytes();
            unescaped.as_slice()
        } else {
            name
        };
        self.params
            .get(key)
            .map(Vec::as_slice)
            .ok_or_else(|| SearchError::NoSuchParameter(String::from_utf8_lossy(key).into_owned()))
    }

    /// The text of a value: a literal keeps its escapes (the tokenizer handles them), a
    /// parameter is taken as is.
    fn value_text(&self, value: &Value<'a>) -> Result<Cow<'a, str>, SearchError> {
        Ok(match value {
            Value::Literal(raw) => String::from_utf8_lossy(raw),
            Value::Param(name) => String::from_utf8_lossy(self.param(name)?),
        })
    }

    /// A word from inside `[KNN …]` or `=>{…}`: `$name` or an escaped literal.
    fn word_text(&self, word: &[u8]) -> Result<String, SearchError> {
        match word.strip_prefix(b"$") {
            Some(name) if !name.is_empty() => {
                Ok(String::from_utf8_lossy(self.param(name)?).into_owned())
            }
            _ => Ok(unescape(word)),
        }
    }

    fn syntax_error(&self, at: usize) -> SearchError {
        SearchError::Syntax {
            at,
            near: self.token_at(at),
        }
    }

    /// The lexeme at `at`, for error messages.
    fn token_at(&self, at: usize) -> String {
        let rest = self.src.get(at..).unwrap_or_default();
        let Some(&first) = rest.first() else {
            return "end of query".to_string();
        };
        let sigil = usize::from(matches!(first, b'@' | b'$'));
        let mut len = sigil;
        while let Some(&b) = rest.get(len) {
            if b == b'\\' && len + 1 < rest.len() {
                len += 2;
            } else if is_term_byte(b) {
                len += 1;
            } else {
                break;
            }
        }
        if len == sigil {
            // One character, however many bytes it takes.
            len = sigil + 1;
            while rest.get(len).is_some_and(|b| b & 0xc0 == 0x80) {
                len += 1;
            }
        }
        String::from_utf8_lossy(rest.get(..len).unwrap_or(rest)).into_owned()
    }

    fn field_index(&self, name: &str, at: usize) -> Result<usize, SearchError> {
        self.fields
            .iter()
            .position(|f| f.name == name)
            .ok_or_else(|| SearchError::UnknownField {
                at,
                name: name.to_string(),
            })
    }

    fn field_kind(&self, id: usize) -> Option<&'a FieldKind> {
        self.fields.get(id).map(|f| &f.kind)
    }

    fn expect_kind(&self, id: usize, at: usize, want: &'static str) -> Result<(), SearchError> {
        let Some(field) = self.fields.get(id) else {
            return Err(self.syntax_error(at));
        };
        let got = field.kind.type_name();
        if got == want {
            Ok(())
        } else {
            Err(SearchError::FieldKind {
                at,
                field: field.name.clone(),
                got,
                want,
            })
        }
    }

    fn union(&mut self, scope: Option<&[usize]>) -> Clause {
        let mut parts = Vec::new();
        loop {
            parts.extend(self.intersect(scope)?);
            self.skip_filler();
            if !self.eat(b'|') {
                break;
            }
        }
        Ok(disjunction(parts))
    }

    fn intersect(&mut self, scope: Option<&[usize]>) -> Clause {
        let mut parts = Vec::new();
        let mut seen = false;
        loop {
            self.skip_filler();
            if !self.at_unary_start() {
                break;
            }
            seen = true;
            parts.extend(self.unary(scope)?);
        }
        if !seen {
            return Err(self.syntax_error(self.pos));
        }
        Ok(conjunction(parts))
    }

    fn at_unary_start(&self) -> bool {
        match self.peek() {
            Some(b'(' | b'*' | b'"' | b'%' | b'-' | b'~') => true,
            Some(b'\'') => self.at_empty_string(),
            Some(b'@' | b'$') => self.term_starts_at(self.pos + 1),
            Some(_) => self.term_starts_at(self.pos),
            None => false,
        }
    }

    fn unary(&mut self, scope: Option<&[usize]>) -> Clause {
        if self.depth >= MAX_DEPTH {
            return Err(SearchError::TooDeep);
        }
        self.depth += 1;
        let result = self.unary_inner(scope);
        self.depth -= 1;
        result
    }

    fn unary_inner(&mut self, scope: Option<&[usize]>) -> Clause {
        self.skip_filler();
        // Dialect 1's `-` and `~` take the rest of their group, dialect 2's one clause.
        if self.eat(b'-') {
            let operand = if self.dialect < 2 {
                self.union(scope)?
            } else {
                self.unary(scope)?
            };
            return Ok(operand.map(|e| Expr::Not(Box::new(e))));
        }
        if self.eat(b'~') {
            // Optional clauses only raise the score of the documents they match.
            let operand = if self.dialect < 2 {
                self.union(scope)?
            } else {
                self.unary(scope)?
            };
            return Ok(operand.map(|e| Expr::Optional(Box::new(e))));
        }
        let mut expr = self.atom(scope)?;
        loop {
            let save = self.pos;
            self.skip_filler();
            if !self.starts_with(b"=>") {
                self.pos = save;
                break;
            }
            self.pos += 2;
            self.skip_space();
            if self.peek() != Some(b'{') {
                // `=>[KNN …]` belongs to the top level.
                self.pos = save;
                break;
            }
            let attrs = self.attributes()?;
            if let Some(e) = expr.as_mut() {
                apply_attributes(e, &attrs)?;
            }
        }
        Ok(expr)
    }

    /// `{ $name: value; … }`, starting at the `{`.
    fn attributes(&mut self) -> Result<Vec<Attribute>, SearchError> {
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            self.skip_space();
            if self.eat(b'}') {
                return Ok(out);
            }
            if self.eat(b';') {
                continue;
            }
            if !(self.peek() == Some(b'$') && self.term_starts_at(self.pos + 1)) {
                return Err(self.syntax_error(self.pos));
            }
            self.pos += 1;
            let name = unescape(self.scan_term());
            self.skip_space();
            self.expect(b':')?;
            self.skip_space();
            let at = self.pos;
            let word = self.scan_word(b";}");
            if word.is_empty() {
                return Err(self.syntax_error(at));
            }
            out.push(Attribute {
                name,
                value: self.word_text(word)?,
            });
            self.skip_space();
            if !matches!(self.peek(), Some(b';' | b'}')) {
                return Err(self.syntax_error(self.pos));
            }
        }
    }

    fn atom(&mut self, scope: Option<&[usize]>) -> Clause {
        self.skip_filler();
        let at = self.pos;
        match self.peek() {
            Some(b'(') => {
                self.pos += 1;
                let expr = self.union(scope)?;
                self.skip_filler();
                self.expect(b')')?;
                Ok(expr)
            }
            Some(b'*') if !self.value_starts_at(self.pos + 1) => {
                self.pos += 1;
                Ok(Some(Expr::All))
            }
            _ if self.at_empty_string() => self.empty_string(scope),
            Some(b'"') => self.phrase(scope),
            Some(b'%') => self.fuzzy(scope),
            Some(b'@') if self.term_starts_at(self.pos + 1) => self.field_clause(),
            _ if self.at_ismissing() => self.ismissing(),
            Some(b'*') => self.word(scope),
            _ if self.value_starts_at(self.pos) => self.word(scope),
            _ => Err(self.syntax_error(at)),
        }
    }

    /// A term, `$param`, or an affix of either.
    fn word(&mut self, scope: Option<&[usize]>) -> Clause {
        let at = self.pos;
        let leading = self.eat(b'*');
        let Some(value) = self.scan_value() else {
            return Err(self.syntax_error(at));
        };
        let trailing = self.eat(b'*');
        let text = self.value_text(&value)?;
        if !leading && !trailing {
            let terms = tokenize(&text)
                .into_iter()
                .filter(|t| !self.is_stop(t))
                .map(|t| text_expr(scope, TextPattern::Term(t)))
                .collect();
            return Ok(conjunction(terms));
        }
        let term = fold_term(&text);
        if term.is_empty() {
            return Ok(None);
        }
        let pattern = match (leading, trailing) {
            (true, true) => TextPattern::Contains(term),
            (true, false) => TextPattern::Suffix(term),
            _ => TextPattern::Prefix(term),
        };
        Ok(Some(text_expr(scope, pattern)))
    }

    /// `"a phrase"`, starting at the quote.
    fn phrase(&mut self, scope: Option<&[usize]>) -> Clause {
        let at = self.pos;
        let raw = self.quoted().ok_or_else(|| self.syntax_error(at))?;
        // Stopwords stay: RediSearch looks them up like any word, and as the index holds
        // none, a phrase with one matches nothing (`"the bar"` finds no document).
        let mut words: Vec<String> = tokenize(&String::from_utf8_lossy(raw));
        Ok(match words.len() {
            0 => None,
            1 => words.pop().map(|w| text_expr(scope, TextPattern::Term(w))),
            _ => Some(text_expr(scope, TextPattern::Phrase(words))),
        })
    }

    /// The raw bytes between a `"` at the cursor and the next unescaped `"`.
    fn quoted(&mut self) -> Option<&'a [u8]> {
        self.pos += 1;
        let start = self.pos;
        loop {
            match self.peek()? {
                b'"' => break,
                b'\\' if self.pos + 1 < self.src.len() => self.pos += 2,
                _ => self.pos += 1,
            }
        }
        let raw = self.src.get(start..self.pos);
        self.pos += 1;
        raw
    }

    /// `%term%`, `%%term%%`, `%%%term%%%`.
    fn fuzzy(&mut self, scope: Option<&[usize]>) -> Clause {
        let at = self.pos;
        let mut distance = 0u8;
        while self.eat(b'%') {
            distance += 1;
            if distance > 3 {
                return Err(self.syntax_error(at));
            }
        }
        let Some(value) = self.scan_value() else {
            return Err(self.syntax_error(self.pos));
        };
        for _ in 0..distance {
            self.expect(b'%')?;
        }
        let term = fold_term(&self.value_text(&value)?);
        if term.is_empty() {
            return Ok(None);
        }
        Ok(Some(text_expr(scope, TextPattern::Fuzzy(term, distance))))
    }

    fn at_ismissing(&self) -> bool {
        const WORD: &[u8] = b"ismissing";
        let rest = self.rest();
        let Some(head) = rest.get(..WORD.len()) else {
            return false;
        };
        if !head.eq_ignore_ascii_case(WORD) {
            return false;
        }
        let mut i = self.pos + WORD.len();
        while self.peek_at(i).is_some_and(is_space) {
            i += 1;
        }
        self.peek_at(i) == Some(b'(')
    }

    fn ismissing(&mut self) -> Clause {
        self.pos += b"ismissing".len();
        self.skip_space();
        self.expect(b'(')?;
        self.skip_space();
        let at = self.pos;
        if !(self.peek() == Some(b'@') && self.term_starts_at(self.pos + 1)) {
            return Err(self.syntax_error(at));
        }
        self.pos += 1;
        let name = unescape(self.scan_term());
        let id = self.field_index(&name, at)?;
        if !self.fields.get(id).is_some_and(|f| f.index_missing) {
            return Err(SearchError::NotIndexMissing(name));
        }
        self.skip_space();
        self.expect(b')')?;
        Ok(Some(Expr::Missing(id)))
    }

    /// `@f:…` and `@f1|f2:…`, starting at the `@`.
    fn field_clause(&mut self) -> Clause {
        let at = self.pos;
        self.pos += 1;
        let name = unescape(self.scan_term());
        let mut ids = vec![self.field_index(&name, at)?];
        loop {
            self.skip_space();
            if self.eat(b':') {
                break;
            }
            if !self.eat(b'|') {
                return Err(self.syntax_error(self.pos));
            }
            self.skip_space();
            self.eat(b'@');
            let other_at = self.pos;
            if !self.term_starts_at(self.pos) {
                return Err(self.syntax_error(other_at));
            }
            let other = unescape(self.scan_term());
            ids.push(self.field_index(&other, other_at)?);
        }
        self.skip_space();
        match (self.peek(), ids.as_slice()) {
            (Some(b'{'), &[id]) => {
                self.expect_kind(id, at, "TAG")?;
                self.tag_list(id).map(Some)
            }
            (Some(b'['), &[id]) => self.range(id, at).map(Some),
            (Some(b'{' | b'['), _) => Err(self.syntax_error(self.pos)),
            _ => {
                for &id in &ids {
                    self.expect_kind(id, at, "TEXT")?;
                }
                let save = self.pos;
                self.skip_filler();
                let plain = self.at_plain_word();
                self.pos = save;
                if self.dialect < 2 && plain {
                    self.plain_union(&ids)
                } else {
                    self.unary(Some(&ids))
                }
            }
        }
    }

    /// A plain term: what dialect 1's `@f:` extends over (an affix, a fuzzy term, a phrase or
    /// a group ends the run, as in RediSearch).
    fn at_plain_word(&self) -> bool {
        match self.peek() {
            Some(b'%' | b'*' | b'$' | b'@' | b'(' | b'"' | b'-' | b'~') | None => false,
            Some(_) => {
                if !self.term_starts_at(self.pos) || self.at_ismissing() {
                    return false;
                }
                // `jump*` is an affix, not a plain term.
                let end = self.pos + self.rest().iter().take_while(|&&b| is_term_byte(b)).count();
                self.peek_at(end) != Some(b'*')
            }
        }
    }

    /// Dialect 1's `@f:a b | c d`: unions of runs of plain words, all in `scope`.
    fn plain_union(&mut self, scope: &[usize]) -> Clause {
        let mut parts = Vec::new();
        loop {
            let mut run = Vec::new();
            while self.at_plain_word() {
                run.extend(self.word(Some(scope))?);
                self.skip_filler();
            }
            parts.extend(conjunction(run));
            let save = self.pos;
            self.skip_filler();
            if self.eat(b'|') {
                self.skip_filler();
                if self.at_plain_word() {
                    continue;
                }
            }
            self.pos = save;
            break;
        }
        Ok(disjunction(parts))
    }

    /// `{a | b | pre* | "quoted"}`, starting at the `{`.
    fn tag_list(&mut self, field: usize) -> Result<Expr, SearchError> {
        let open = self.pos;
        let case_sensitive = matches!(
            self.field_kind(field),
            Some(FieldKind::Tag {
                case_sensitive: true,
                ..
            })
        );
        self.pos += 1;
        let mut patterns = Vec::new();
        loop {
            self.skip_space();
            let at = self.pos;
            let pattern = if self.peek() == Some(b'"') {
                let raw = self.quoted().ok_or_else(|| self.syntax_error(at))?;
                let value = normalize_tag(unescape(raw).trim(), case_sensitive);
                if value.is_empty() && raw.is_empty() {
                    self.empty_tag(field)?
                } else if value.is_empty() {
                    return Err(self.syntax_error(at));
                } else {
                    TagPattern::Exact(value)
                }
            } else {
                loop {
                    match self.peek() {
                        None => return Err(self.syntax_error(open)),
                        Some(b'|' | b'}') => break,
                        Some(b'\\') if self.pos + 1 < self.src.len() => self.pos += 2,
                        Some(_) => self.pos += 1,
                    }
                }
                let raw = self.src.get(at..self.pos).unwrap_or_default();
                if self.dialect >= 2 && raw.trim_ascii() == b"''" {
                    self.empty_tag(field)?
                } else {
                    self.tag_pattern(raw, case_sensitive, at)?
                }
            };
            patterns.push(pattern);
            self.skip_space();
            if self.eat(b'}') {
                break;
            }
            self.expect(b'|')?;
        }
        Ok(Expr::Tag { field, patterns })
    }

    /// `{''}` / `{""}`: the empty tag, which only INDEXEMPTY fields index.
    fn empty_tag(&self, field: usize) -> Result<TagPattern, SearchError> {
        if self.fields.get(field).is_some_and(|f| f.index_empty) {
            Ok(TagPattern::Exact(String::new()))
        } else {
            Err(SearchError::NotIndexEmpty)
        }
    }

    /// One tag value as written between `{`, `|` and `}`.
    fn tag_pattern(
        &self,
        raw: &[u8],
        case_sensitive: bool,
        at: usize,
    ) -> Result<TagPattern, SearchError> {
        // Each character with whether it was escaped: only unescaped spaces are trimmed and
        // only unescaped `*` and `$` are operators.
        let text = String::from_utf8_lossy(raw);
        let mut chars: Vec<(char, bool)> = Vec::with_capacity(text.len());
        let mut it = text.chars();
        while let Some(c) = it.next() {
            if c == '\\' {
                if let Some(next) = it.next() {
                    chars.push((next, true));
                }
            } else {
                chars.push((c, false));
            }
        }
        let is_blank = |&(c, escaped): &(char, bool)| !escaped && c.is_whitespace();
        let start = chars
            .iter()
            .position(|c| !is_blank(c))
            .unwrap_or(chars.len());
        let end = chars
            .iter()
            .rposition(|c| !is_blank(c))
            .map_or(start, |i| i + 1);
        let mut body = chars.get(start..end).unwrap_or_default();
        let leading = body.first() == Some(&('*', false));
        if leading {
            body = body.get(1..).unwrap_or_default();
        }
        let trailing = body.last() == Some(&('*', false));
        if trailing {
            body = body.get(..body.len() - 1).unwrap_or_default();
        }
        let value: String = match body.split_first() {
            Some((&('$', false), name)) if !name.is_empty() => {
                let name: String = name.iter().map(|c| c.0).collect();
                String::from_utf8_lossy(self.param(name.as_bytes())?).into_owned()
            }
            _ => body.iter().map(|c| c.0).collect(),
        };
        let value = normalize_tag(value.trim(), case_sensitive);
        if value.is_empty() {
            return Err(self.syntax_error(at));
        }
        Ok(match (leading, trailing) {
            (false, false) => TagPattern::Exact(value),
            (false, true) => TagPattern::Prefix(value),
            (true, false) => TagPattern::Suffix(value),
            (true, true) => TagPattern::Contains(value),
        })
    }

    /// `[lo hi]` or `[VECTOR_RANGE r $blob]`, starting at the `[`; `at` is the field's `@`.
    fn range(&mut self, field: usize, at: usize) -> Result<Expr, SearchError> {
        self.pos += 1;
        self.skip_space();
        const VECTOR_RANGE: &[u8] = b"VECTOR_RANGE";
        let head = self.rest().iter().take_while(|&&b| is_term_byte(b)).count();
        if self
            .rest()
            .get(..head)
            .is_some_and(|w| w.eq_ignore_ascii_case(VECTOR_RANGE))
        {
            if self.dialect < 2 {
                return Err(self.syntax_error(self.pos));
            }
            self.expect_kind(field, at, "VECTOR")?;
            self.pos += head;
            return self.vector_range(field);
        }
        if matches!(self.field_kind(field), Some(FieldKind::Geo)) {
            let start = self.pos;
            if let Some(filter) = self.geo_filter(field)? {
                return Ok(filter);
            }
            // Not four words: a numeric range over the field's geohash, as RediSearch reads it.
            self.pos = start;
        } else {
            self.expect_kind(field, at, "NUMERIC")?;
        }
        let (lo, lo_inclusive) = self.bound()?;
        self.skip_bound_separator();
        if self.eat(b']') {
            return Ok(Expr::Numeric {
                field,
                lo,
                lo_inclusive,
                hi: lo,
                hi_inclusive: lo_inclusive,
            });
        }
        let (hi, hi_inclusive) = self.bound()?;
        self.skip_bound_separator();
        self.expect(b']')?;
        Ok(Expr::Numeric {
            field,
            lo,
            lo_inclusive,
            hi,
            hi_inclusive,
        })
    }

    /// `lon lat radius unit]` after the `[` of a GEO field; `None` (nothing consumed that
    /// matters) when the brackets do not hold four words. RediSearch's checks, in its order:
    /// the unit, then the centre, then the radius.
    fn geo_filter(&mut self, field: usize) -> Result<Option<Expr>, SearchError> {
        let mut words = Vec::new();
        loop {
            self.skip_bound_separator();
            if matches!(self.peek(), None | Some(b']')) {
                break;
            }
            if words.len() == 4 {
                return Err(self.syntax_error(self.pos));
            }
            words.push(self.number_text()?);
        }
        let [lon, lat, radius, unit] = words.as_slice() else {
            return Ok(None);
        };
        self.expect(b']')?;
        let unit = geo::Unit::parse(unit.text.as_bytes()).ok_or(SearchError::GeoFilterUnit)?;
        let (lon, lat, radius) = (self.number(lon)?, self.number(lat)?, self.number(radius)?);
        if !geo::valid(lon, lat) {
            return Err(SearchError::GeoFilterLatLon);
        }
        if radius.is_nan() || radius <= 0.0 {
            return Err(SearchError::GeoFilterRadius);
        }
        Ok(Some(Expr::Geo {
            field,
            lon,
            lat,
            radius_m: radius * unit.metres(),
        }))
    }

    fn skip_bound_separator(&mut self) {
        while self.peek().is_some_and(|b| is_space(b) || b == b',') {
            self.pos += 1;
        }
    }

    /// `[(]number` or `[(]$param`; a parameter's value may itself start with `(`.
    fn bound(&mut self) -> Result<(f64, bool), SearchError> {
        self.skip_space();
        let mut inclusive = !self.eat(b'(');
        self.skip_space();
        let mut n = self.number_text()?;
        if n.param.is_some() {
            if let Some(rest) = n.text.trim().strip_prefix('(') {
                inclusive = false;
                n.text = rest.to_string();
            }
        }
        Ok((self.number(&n)?, inclusive))
    }

    /// The text of a number or `$param` at the cursor, with the parameter's name if any.
    fn number_text(&mut self) -> Result<NumberText, SearchError> {
        let at = self.pos;
        if self.peek() == Some(b'$') && self.term_starts_at(self.pos + 1) {
            self.pos += 1;
            let name = self.scan_term();
            let text = String::from_utf8_lossy(self.param(name)?).into_owned();
            return Ok(NumberText {
                text,
                param: Some(unescape(name)),
                at,
            });
        }
        let len = self
            .rest()
            .iter()
            .take_while(|&&b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'-' | b'_'))
            .count();
        if len == 0 {
            return Err(self.syntax_error(at));
        }
        self.pos += len;
        let text = self.src.get(at..self.pos).unwrap_or_default();
        Ok(NumberText {
            text: String::from_utf8_lossy(text).into_owned(),
            param: None,
            at,
        })
    }

    fn number(&self, n: &NumberText) -> Result<f64, SearchError> {
        parse_number(&n.text).ok_or_else(|| match &n.param {
            Some(name) => SearchError::ParameterNotNumber {
                value: n.text.clone(),
                name: name.clone(),
            },
            None => self.syntax_error(n.at),
        })
    }

    /// After `VECTOR_RANGE`: `r $blob]`.
    fn vector_range(&mut self, field: usize) -> Result<Expr, SearchError> {
        self.skip_space();
        let radius = self.number_text()?;
        let radius = self.number(&radius)?;
        self.skip_space();
        let vector = self.vector_param(field)?;
        self.skip_space();
        self.expect(b']')?;
        Ok(Expr::VectorRange {
            clause: 0,
            field,
            radius,
            vector,
            epsilon: None,
            yield_as: None,
        })
    }

    /// `$blob` at the cursor, decoded for the vector field.
    fn vector_param(&mut self, field: usize) -> Result<Vec<f32>, SearchError> {
        let at = self.pos;
        if !(self.peek() == Some(b'$') && self.term_starts_at(self.pos + 1)) {
            return Err(self.syntax_error(at));
        }
        self.pos += 1;
        let name = self.scan_term();
        let blob = self.param(name)?;
        self.decode_vector(field, blob, at)
    }

    fn decode_vector(&self, field: usize, blob: &[u8], at: usize) -> Result<Vec<f32>, SearchError> {
        let Some(FieldKind::Vector(params)) = self.field_kind(field) else {
            return Err(self.syntax_error(at));
        };
        let mut out = Vec::new();
        params
            .dtype
            .decode(blob, params.dim, &mut out)
            .map_err(|expected| SearchError::QueryVectorSize {
                got: blob.len(),
                expected,
            })?;
        Ok(out)
    }

    /// `[KNN k @field $blob options…]`, starting at the `[`.
    fn knn(&mut self) -> Result<Knn, SearchError> {
        const STOPS: &[u8] = b"[]";
        self.pos += 1;
        self.skip_space();
        let at = self.pos;
        if !self.scan_word(STOPS).eq_ignore_ascii_case(b"KNN") {
            return Err(SearchError::ExpectedKnn {
                at,
                near: self.token_at(at),
            });
        }

        self.skip_space();
        let at = self.pos;
        let word = self.scan_word(STOPS);
        let k = match word.strip_prefix(b"$") {
            Some(name) if !name.is_empty() => {
                let value = String::from_utf8_lossy(self.param(name)?).into_owned();
                value
                    .trim()
                    .parse::<usize>()
                    .map_err(|_| SearchError::ParameterNotNumber {
                        value: value.clone(),
                        name: unescape(name),
                    })?
            }
            _ if !word.is_empty() && word.iter().all(u8::is_ascii_digit) => {
                String::from_utf8_lossy(word)
                    .parse::<usize>()
                    .map_err(|_| self.syntax_error(at))?
            }
            _ => return Err(self.syntax_error(at)),
        };

        self.skip_space();
        let at = self.pos;
        if !(self.peek() == Some(b'@') && self.term_starts_at(self.pos + 1)) {
            return Err(self.syntax_error(at));
        }
        self.pos += 1;
        let name = unescape(self.scan_term());
        let field = self.field_index(&name, at)?;
        self.expect_kind(field, at, "VECTOR")?;

        self.skip_space();
        let param_at = self.pos + 1;
        let vector = self.vector_param(field)?;
        let param = unescape(self.src.get(param_at..self.pos).unwrap_or_default());
        let mut knn = Knn {
            k,
            field,
            vector,
            ef_runtime: None,
            alias: None,
            epsilon: None,
            param,
        };
        loop {
            self.skip_space();
            let name = self.scan_word(STOPS);
            if name.is_empty() {
                break;
            }
            self.skip_space();
            let at = self.pos;
            let value = self.scan_word(STOPS);
            if value.is_empty() {
                return Err(self.syntax_error(at));
            }
            let value = self.word_text(value)?;
            knn_option(
                &mut knn,
                &String::from_utf8_lossy(name),
                &value,
                Origin::Bracket,
            )?;
        }
        self.expect(b']')?;
        Ok(knn)
    }
}

/// Applies one KNN option, from inside the brackets (`AS`) or the attributes after them
/// (`$YIELD_DISTANCE_AS`).
fn knn_option(knn: &mut Knn, name: &str, value: &str, origin: Origin) -> Result<(), SearchError> {
    let invalid = || SearchError::InvalidValue {
        value: value.to_string(),
        option: name.to_ascii_uppercase(),
    };
    let positive_int = || match value.trim().parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(invalid()),
    };
    match name.to_ascii_uppercase().as_str() {
        "AS" if origin == Origin::Bracket => knn.alias = Some(value.to_string()),
        "YIELD_DISTANCE_AS" if origin == Origin::Attribute => {
            knn.alias = Some(value.to_string());
        }
        "EF_RUNTIME" => knn.ef_runtime = Some(positive_int()?),
        "EPSILON" => knn.epsilon = Some(positive_epsilon(value).ok_or_else(invalid)?),
        "HYBRID_POLICY" => {
            let policy = value.trim().to_ascii_uppercase();
            if policy != "BATCHES" && policy != "ADHOC_BF" {
                return Err(invalid());
            }
        }
        "BATCH_SIZE" => {
            positive_int()?;
        }
        _ if origin == Origin::Attribute => {
            return Err(SearchError::InvalidAttribute(name.to_string()))
        }
        _ => return Err(SearchError::UnknownVectorParameter(name.to_string())),
    }
    Ok(())
}

fn positive_epsilon(value: &str) -> Option<f64> {
    parse_number(value).filter(|e| e.is_finite() && *e > 0.0)
}

/// Applies `=>{…}` attributes to the clause they follow.
fn apply_attributes(expr: &mut Expr, attrs: &[Attribute]) -> Result<(), SearchError> {
    for attr in attrs {
        let name = attr.name.to_ascii_lowercase();
        let invalid = || SearchError::InvalidValue {
            value: attr.value.clone(),
            option: format!("`{name}`"),
        };
        if matches!(name.as_str(), "weight" | "slop" | "inorder") {
            if matches!(expr, Expr::VectorRange { .. }) {
                return Err(SearchError::InvalidAttribute(attr.name.clone()));
            }
            if !matches!(expr, Expr::Opts { .. }) {
                let inner = std::mem::replace(expr, Expr::All);
                *expr = Expr::Opts {
                    expr: Box::new(inner),
                    weight: 1.0,
                    slop: None,
                    inorder: false,
                };
            }
            let Expr::Opts {
                weight,
                slop,
                inorder,
                ..
            } = &mut *expr
            else {
                continue;
            };
            match name.as_str() {
                "weight" => {
                    *weight = parse_number(&attr.value)
                        .filter(|w| w.is_finite() && *w >= 0.0)
                        .ok_or_else(invalid)?;
                }
                // RediSearch reads a negative slop as "no limit".
                "slop" => {
                    let n: i64 = attr.value.trim().parse().map_err(|_| invalid())?;
                    *slop = u32::try_from(n).ok();
                }
                _ => {
                    *inorder = match attr.value.to_ascii_lowercase().as_str() {
                        "true" | "1" => true,
                        "false" | "0" => false,
                        _ => return Err(invalid()),
                    }
                }
            }
            continue;
        }
        let target = match &mut *expr {
            Expr::Opts { expr: inner, .. } => &mut **inner,
            other => other,
        };
        match (name.as_str(), target) {
            ("yield_distance_as", Expr::VectorRange { yield_as, .. }) => {
                *yield_as = Some(attr.value.clone());
            }
            ("epsilon", Expr::VectorRange { epsilon, .. }) => {
                let e = positive_epsilon(&attr.value).ok_or_else(|| SearchError::InvalidValue {
                    value: attr.value.clone(),
                    option: "EPSILON".into(),
                })?;
                *epsilon = Some(e);
            }
            // Phonetic matching is refused at FT.CREATE, so no field has it to switch.
            ("phonetic", _) => {}
            _ => return Err(SearchError::InvalidAttribute(attr.name.clone())),
        }
    }
    Ok(())
}

/// A text clause over the fields in scope (`None`: every TEXT field).
fn text_expr(scope: Option<&[usize]>, pattern: TextPattern) -> Expr {
    match scope {
        None => Expr::Text {
            field: None,
            pattern,
        },
        Some(&[field]) => Expr::Text {
            field: Some(field),
            pattern,
        },
        Some(fields) => Expr::Or(
            fields
                .iter()
                .map(|&f| Expr::Text {
                    field: Some(f),
                    pattern: pattern.clone(),
                })
                .collect(),
        ),
    }
}

/// AND of the clauses that did not vanish; `None` when all did.
fn conjunction(parts: Vec<Expr>) -> Option<Expr> {
    if parts.is_empty() {
        return None;
    }
    let mut flat = Vec::with_capacity(parts.len());
    for part in parts {
        match part {
            Expr::And(inner) => flat.extend(inner),
            Expr::All => {}
            other => flat.push(other),
        }
    }
    Some(match flat.len() {
        0 => Expr::All,
        1 => flat.pop().unwrap_or(Expr::All),
        _ => Expr::And(flat),
    })
}

/// OR of the clauses that did not vanish; `None` when all did.
fn disjunction(parts: Vec<Expr>) -> Option<Expr> {
    let mut flat = Vec::with_capacity(parts.len());
    for part in parts {
        match part {
            Expr::Or(inner) => flat.extend(inner),
            other => flat.push(other),
        }
    }
    match flat.len() {
        0 => None,
        1 => flat.pop(),
        _ => Some(Expr::Or(flat)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::schema::{Algorithm, VectorParams};
    use crate::search::vector::{DataType, Metric};

    fn field(name: &str, kind: FieldKind) -> Field {
        Field {
            identifier: name.as_bytes().to_vec(),
            name: name.to_string(),
            kind,
            sortable: false,
            unf: false,
            noindex: false,
            suffix_trie: false,
            index_missing: false,
            index_empty: false,
        }
    }

    fn tag() -> FieldKind {
        FieldKind::Tag {
            separator: b',',
            case_sensitive: false,
        }
    }

    fn text() -> FieldKind {
        FieldKind::Text {
            weight: 1.0,
            nostem: false,
        }
    }

    fn vector(dtype: DataType, dim: usize) -> FieldKind {
        FieldKind::Vector(VectorParams {
            algorithm: Algorithm::Flat,
            dtype,
            dim,
            metric: Metric::Cosine,
            initial_cap: None,
            block_size: None,
            m: 16,
            ef_construction: 200,
            ef_runtime: 10,
            epsilon: 0.01,
        })
    }

    const TAG: usize = 0;
    const EMBEDDING: usize = 1;
    const USER: usize = 2;
    const AGE: usize = 3;
    const V: usize = 4;
    const F: usize = 5;
    const N: usize = 6;
    const T: usize = 7;
    const CONTENT: usize = 8;
    const SESSION: usize = 9;
    const ROLE: usize = 10;
    const A: usize = 11;
    const B: usize = 12;
    const C: usize = 13;
    const TITLE: usize = 14;
    const CS: usize = 15;
    const V64: usize = 16;

    fn fields() -> Vec<Field> {
        let mut missing = field("f", tag());
        missing.index_missing = true;
        vec![
            field("tag", tag()),
            field("embedding", vector(DataType::Float32, 2)),
            field("user", tag()),
            field("age", FieldKind::Numeric),
            field("v", vector(DataType::Float32, 2)),
            missing,
            field("n", FieldKind::Numeric),
            field("t", tag()),
            field("content", text()),
            field("session_tag", tag()),
            field("role", tag()),
            field("a", tag()),
            field("b", FieldKind::Numeric),
            field("c", tag()),
            field("title", text()),
            field(
                "cs",
                FieldKind::Tag {
                    separator: b'|',
                    case_sensitive: true,
                },
            ),
            field("v64", vector(DataType::Float64, 3)),
        ]
    }

    fn blob(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    fn params() -> HashMap<Vec<u8>, Vec<u8>> {
        let pairs: [(&str, Vec<u8>); 12] = [
            ("vector", blob(&[1.0, 2.0])),
            ("vec", blob(&[3.0, 4.0])),
            ("EF", b"100".to_vec()),
            ("k", b"7".to_vec()),
            ("distance_threshold", b"0.5".to_vec()),
            ("lo", b"(5".to_vec()),
            ("hi", b"+inf".to_vec()),
            ("who", b"John Doe".to_vec()),
            ("q", b"Hello World".to_vec()),
            ("alias", b"dist".to_vec()),
            ("eps", b"0.05".to_vec()),
            ("short", blob(&[1.0])),
        ];
        pairs
            .into_iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v))
            .collect()
    }

    fn q(query: &str) -> Query {
        match parse(query.as_bytes(), &params(), &fields()) {
            Ok(q) => q,
            Err(e) => panic!("{query:?} failed: {e}"),
        }
    }

    fn filter(query: &str) -> Expr {
        let parsed = q(query);
        assert!(parsed.knn.is_none(), "{query:?} has a KNN");
        parsed.filter
    }

    fn err(query: &str) -> String {
        match parse(query.as_bytes(), &params(), &fields()) {
            Ok(q) => panic!("{query:?} parsed as {q:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn exact(field: usize, values: &[&str]) -> Expr {
        Expr::Tag {
            field,
            patterns: values
                .iter()
                .map(|v| TagPattern::Exact(v.to_string()))
                .collect(),
        }
    }

    fn term(field: Option<usize>, t: &str) -> Expr {
        Expr::Text {
            field,
            pattern: TextPattern::Term(t.to_string()),
        }
    }

    fn range(field: usize, lo: f64, lo_inclusive: bool, hi: f64, hi_inclusive: bool) -> Expr {
        Expr::Numeric {
            field,
            lo,
            lo_inclusive,
            hi,
            hi_inclusive,
        }
    }

    fn not(e: Expr) -> Expr {
        Expr::Not(Box::new(e))
    }

    fn strings(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn redisvl_vector_query_with_filter_and_ef_runtime() {
        let parsed = q("(@tag:{x})=>[KNN 5 @embedding $vector EF_RUNTIME $EF AS vector_distance]");
        assert_eq!(parsed.filter, exact(TAG, &["x"]));
        assert_eq!(
            parsed.knn,
            Some(Knn {
                k: 5,
                field: EMBEDDING,
                vector: vec![1.0, 2.0],
                ef_runtime: Some(100),
                alias: Some("vector_distance".into()),
                epsilon: None,
                param: "vector".into(),
            })
        );
        assert!(!parsed.is_match_all());
    }

    #[test]
    fn match_all_knn_and_default_alias() {
        let parsed = q("*=>[KNN 10 @v $vec AS score]");
        assert_eq!(parsed.filter, Expr::All);
        let knn = parsed.knn.clone().unwrap();
        assert_eq!((knn.k, knn.field, knn.vector), (10, V, vec![3.0, 4.0]));
        assert_eq!(knn.alias.as_deref(), Some("score"));
        assert!(!parsed.is_match_all());

        let knn = q("(*)=>[knn 3 @v $vec]").knn.unwrap();
        assert_eq!((knn.k, knn.alias), (3, None));
        // An unparenthesised atom is accepted as the filter too.
        assert_eq!(q("@tag:{x}=>[KNN 3 @v $vec]").filter, exact(TAG, &["x"]));
        assert_eq!(q("*=>[KNN $k @v $vec]").knn.unwrap().k, 7);
        assert_eq!(q("*=>[KNN 0 @v $vec]").knn.unwrap().k, 0);
    }

    #[test]
    fn escaped_tag_and_exclusive_bound_under_knn() {
        let parsed = q(r"(@user:{john\ doe} @age:[(18 +inf])=>[KNN 3 @v $vec]");
        assert_eq!(
            parsed.filter,
            Expr::And(vec![
                exact(USER, &["john doe"]),
                range(AGE, 18.0, false, f64::INFINITY, true),
            ])
        );
        assert_eq!(parsed.knn.unwrap().alias, None);
    }

    #[test]
    fn knn_attributes_after_the_brackets() {
        let knn = q("*=>[KNN 10 @v $vec]=>{$EF_RUNTIME: $EF; $YIELD_DISTANCE_AS: dist;}")
            .knn
            .unwrap();
        assert_eq!(knn.ef_runtime, Some(100));
        assert_eq!(knn.alias.as_deref(), Some("dist"));
        let knn = q("(@tag:{x}) => [KNN 4 @v $vec AS a] => { $yield_distance_as: b }")
            .knn
            .unwrap();
        assert_eq!(knn.alias.as_deref(), Some("b"));
        let knn = q(
            "*=>[KNN 4 @v $vec HYBRID_POLICY ADHOC_BF EPSILON $eps BATCH_SIZE 50 ef_runtime 20 \
             AS $alias]",
        )
        .knn
        .unwrap();
        assert_eq!(knn.epsilon, Some(0.05));
        assert_eq!(knn.ef_runtime, Some(20));
        assert_eq!(knn.alias.as_deref(), Some("dist"));
        assert!(q("*=>[KNN 4 @v $vec HYBRID_POLICY batches BATCH_SIZE 8]")
            .knn
            .is_some());
    }

    #[test]
    fn knn_errors() {
        assert_eq!(
            err("*=>[KNN 10 @v $short]"),
            "Error parsing vector similarity query: query vector blob size (4) does not match \
             index's expected size (8)"
        );
        assert_eq!(
            err("*=>[KNN 10 @v64 $vector]"),
            "Error parsing vector similarity query: query vector blob size (8) does not match \
             index's expected size (24)"
        );
        assert_eq!(err("*=>[KNN 10 @v $nope]"), "No such parameter `nope`");
        assert_eq!(
            err("*=>[KNN $who @v $vec]"),
            "Invalid numeric value (John Doe) for parameter `who`"
        );
        assert_eq!(
            err("*=>[KNN 10 @nope $vec]"),
            "Unknown field at offset 11 near nope"
        );
        assert!(err("*=>[KNN 10 @age $vec]").starts_with("Syntax error at offset 11 near age"));
        assert!(err("*=>[KNN -1 @v $vec]").starts_with("Syntax error at offset 8"));
        assert!(err("*=>[KNN 1.5 @v $vec]").starts_with("Syntax error at offset 8"));
        assert!(err("*=>[KNM 1 @v $vec]").contains("Expecting Vector Similarity command"));
        assert!(err("*=>[KNN 1 @v vec]").starts_with("Syntax error at offset 13"));
        assert!(err("*=>[KNN 1 @v $vec EF_RUNTIME 0]").contains("EF_RUNTIME"));
        assert!(err("*=>[KNN 1 @v $vec EPSILON -1]").contains("EPSILON"));
        assert!(err("*=>[KNN 1 @v $vec HYBRID_POLICY FAST]").contains("HYBRID_POLICY"));
        assert!(err("*=>[KNN 1 @v $vec BOGUS 1]").contains("unknown parameter `BOGUS`"));
        assert!(err("*=>[KNN 1 @v $vec AS]").starts_with("Syntax error"));
        assert!(err("*=>[KNN 1 @v $vec").starts_with("Syntax error"));
        assert_eq!(
            err("*=>[KNN 1 @v $vec]=>{$weight: 1}"),
            "Invalid attribute weight"
        );
        // KNN only at the top level, and only once.
        assert!(err("(@tag:{x}=>[KNN 1 @v $vec])").starts_with("Syntax error"));
        assert!(err("*=>[KNN 1 @v $vec]=>[KNN 1 @v $vec]").starts_with("Syntax error"));
        assert!(err("=>[KNN 1 @v $vec]").starts_with("Syntax error at offset 0"));
    }

    #[test]
    fn negation_and_tag_affixes() {
        assert_eq!(filter("(-@f:{a})"), not(exact(F, &["a"])));
        assert_eq!(
            filter("@f:{abc*}"),
            Expr::Tag {
                field: F,
                patterns: vec![TagPattern::Prefix("abc".into())]
            }
        );
        assert_eq!(
            filter("@f:{*abc | *MID* | $who* | Abc}"),
            Expr::Tag {
                field: F,
                patterns: vec![
                    TagPattern::Suffix("abc".into()),
                    TagPattern::Contains("mid".into()),
                    TagPattern::Prefix("john doe".into()),
                    TagPattern::Exact("abc".into()),
                ]
            }
        );
        // An escaped star is a character, not a wildcard.
        assert_eq!(filter(r"@f:{a\*}"), exact(F, &["a*"]));
    }

    #[test]
    fn tag_values_escapes_quotes_params_and_case() {
        assert_eq!(
            filter(r"@user:{user\@example\.com|a\-b\,c\:d\ e}"),
            exact(USER, &["user@example.com", "a-b,c:d e"])
        );
        assert_eq!(filter("@t:{ a | b }"), exact(T, &["a", "b"]));
        assert_eq!(filter("@t:{john doe}"), exact(T, &["john doe"]));
        assert_eq!(
            filter(r#"@t:{"Quoted Value" | x}"#),
            exact(T, &["quoted value", "x"])
        );
        assert_eq!(filter("@t:{$who}"), exact(T, &["john doe"]));
        assert_eq!(
            filter("@cs:{MiXed|$who}"),
            exact(CS, &["MiXed", "John Doe"])
        );
        assert_eq!(filter("@role:{user|llm}"), exact(ROLE, &["user", "llm"]));
        assert_eq!(filter("@role : { user }"), exact(ROLE, &["user"]));
        // Indexed tags are trimmed, so query values are too, escaped or not.
        assert_eq!(filter(r"@t:{ a\  }"), exact(T, &["a"]));
        assert_eq!(err("@t:{$nope}"), "No such parameter `nope`");
        assert!(err("@t:{}").starts_with("Syntax error at offset 4"));
        assert!(err("@t:{a||b}").starts_with("Syntax error at offset 6"));
        assert!(err("@t:{a").starts_with("Syntax error at offset 3"));
        assert!(err("@t:{*}").starts_with("Syntax error"));
        assert!(err("@t|a:{x}").starts_with("Syntax error"));
    }

    #[test]
    fn numeric_ranges() {
        assert_eq!(
            filter("(@n:[-inf (5] | @t:{x|y})"),
            Expr::Or(vec![
                range(N, f64::NEG_INFINITY, true, 5.0, false),
                exact(T, &["x", "y"]),
            ])
        );
        assert_eq!(filter("@n:[1, 2]"), range(N, 1.0, true, 2.0, true));
        assert_eq!(filter("@n:[(1 (2]"), range(N, 1.0, false, 2.0, false));
        assert_eq!(filter("@n:[5]"), range(N, 5.0, true, 5.0, true));
        assert_eq!(
            filter("@n:[-1.5e2 inf]"),
            range(N, -150.0, true, f64::INFINITY, true)
        );
        assert_eq!(filter("(-@n:[5 5])"), not(range(N, 5.0, true, 5.0, true)));
        assert_eq!(
            filter("@n:[$lo $hi]"),
            range(N, 5.0, false, f64::INFINITY, true)
        );
        assert_eq!(
            filter("@n:[($distance_threshold 1]"),
            range(N, 0.5, false, 1.0, true)
        );
        assert_eq!(
            err("@n:[$who 1]"),
            "Invalid numeric value (John Doe) for parameter `who`"
        );
        assert!(err("@n:[abc 1]").starts_with("Syntax error at offset 4 near abc"));
        assert!(err("@n:[nan 1]").starts_with("Syntax error at offset 4"));
        assert!(err("@n:[1 2").starts_with("Syntax error at offset 7"));
        assert!(err("@n:[]").starts_with("Syntax error at offset 4"));
        assert!(err("@n:{x}").starts_with("Syntax error at offset 0 near n: NUMERIC field"));
        assert!(err("@t:[1 2]").starts_with("Syntax error at offset 0 near t: TAG field"));
    }

    #[test]
    fn vector_ranges_are_numbered_in_order() {
        let parsed = q(
            "@v:[VECTOR_RANGE $distance_threshold $vector]=>{$YIELD_DISTANCE_AS: vector_distance}",
        );
        assert_eq!(
            parsed.filter,
            Expr::VectorRange {
                clause: 0,
                field: V,
                radius: 0.5,
                vector: vec![1.0, 2.0],
                epsilon: None,
                yield_as: Some("vector_distance".into()),
            }
        );
        let parsed =
            q("(@v:[VECTOR_RANGE 0.2 $vector]=>{$YIELD_DISTANCE_AS: d} @session_tag:{abc})");
        let Expr::And(parts) = &parsed.filter else {
            panic!("{:?}", parsed.filter)
        };
        assert_eq!(parts[1], exact(SESSION, &["abc"]));
        let Expr::VectorRange {
            clause,
            radius,
            yield_as,
            ..
        } = &parts[0]
        else {
            panic!("{:?}", parts[0])
        };
        assert_eq!((*clause, *radius, yield_as.as_deref()), (0, 0.2, Some("d")));

        // LangChain writes the attribute in lower case.
        let parsed = q("@v:[VECTOR_RANGE 1 $vec]=>{$yield_distance_as: distance}");
        let Expr::VectorRange { yield_as, .. } = &parsed.filter else {
            panic!("{:?}", parsed.filter)
        };
        assert_eq!(yield_as.as_deref(), Some("distance"));

        let parsed = q(
            "(@v:[VECTOR_RANGE 1 $vec]=>{$EPSILON: $eps; $YIELD_DISTANCE_AS: a} | \
                        -@v:[vector_range 2 $vector]) @embedding:[VECTOR_RANGE 3 $vec]",
        );
        let ranges = parsed.filter.vector_ranges();
        let summary: Vec<(usize, f64, Option<f64>)> = ranges
            .iter()
            .map(|e| match e {
                Expr::VectorRange {
                    clause,
                    radius,
                    epsilon,
                    ..
                } => (*clause, *radius, *epsilon),
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(
            summary,
            vec![(0, 1.0, Some(0.05)), (1, 2.0, None), (2, 3.0, None)]
        );

        assert!(err("@v:[VECTOR_RANGE 1 $short]").contains("blob size (4)"));
        assert!(err("@n:[VECTOR_RANGE 1 $vec]").starts_with("Syntax error at offset 0 near n"));
        assert!(err("@v:[1 2]").starts_with("Syntax error at offset 0 near v: VECTOR field"));
        assert!(err("@v:[VECTOR_RANGE 1 $vec]=>{$bogus: 1}").contains("Invalid attribute bogus"));
        assert!(err("@t:{x}=>{$YIELD_DISTANCE_AS: d}").contains("Invalid attribute"));
        assert!(err("@v:[VECTOR_RANGE 1 $vec]=>{$EPSILON: 0}").contains("EPSILON"));
        assert!(err("@v:[VECTOR_RANGE $nope $vec]").contains("No such parameter `nope`"));
    }

    #[test]
    fn ismissing() {
        assert_eq!(filter("ismissing(@f)"), Expr::Missing(F));
        assert_eq!(
            filter("-ISMISSING( @f ) @t:{x}"),
            Expr::And(vec![not(Expr::Missing(F)), exact(T, &["x"])])
        );
        assert_eq!(
            err("ismissing(@t)"),
            "'ismissing' requires field 't' to be defined with 'INDEXMISSING'"
        );
        assert_eq!(err("ismissing(@zz)"), "Unknown field at offset 10 near zz");
        // Without parentheses it is an ordinary word.
        assert_eq!(filter("ismissing"), term(None, "ismissing"));
    }

    #[test]
    fn boolean_structure_and_precedence() {
        assert_eq!(
            filter("(@a:{x} | @b:[1 2]) -@c:{y}"),
            Expr::And(vec![
                Expr::Or(vec![exact(A, &["x"]), range(B, 1.0, true, 2.0, true)]),
                not(exact(C, &["y"])),
            ])
        );
        // AND binds tighter than OR; `-` applies to one atom.
        assert_eq!(
            filter("alpha | beta gamma"),
            Expr::Or(vec![
                term(None, "alpha"),
                Expr::And(vec![term(None, "beta"), term(None, "gamma")]),
            ])
        );
        assert_eq!(
            filter("-alpha beta"),
            Expr::And(vec![not(term(None, "alpha")), term(None, "beta")])
        );
        assert_eq!(
            filter("((@a:{x}) (@c:{y} (@a:{z})))"),
            Expr::And(vec![exact(A, &["x"]), exact(C, &["y"]), exact(A, &["z"])])
        );
        assert_eq!(filter("--@a:{x}"), not(not(exact(A, &["x"]))));
        // The optional operator only scores: it keeps its clause, which filters nothing.
        assert_eq!(
            filter("~@a:{x} @c:{y}"),
            Expr::And(vec![
                Expr::Optional(Box::new(exact(A, &["x"]))),
                exact(C, &["y"])
            ])
        );
        assert_eq!(filter("* @c:{y}"), exact(C, &["y"]));
        // Stray punctuation separates like whitespace.
        assert_eq!(
            filter("hello, world!"),
            Expr::And(vec![term(None, "hello"), term(None, "world")])
        );
    }

    #[test]
    fn match_all_and_empty() {
        assert!(q("*").is_match_all());
        assert!(q("  ( * ) ").is_match_all());
        assert_eq!(filter(""), Expr::Or(vec![]));
        assert!(!q("").is_match_all());
    }

    #[test]
    fn text_clauses() {
        assert_eq!(
            filter(r#"@content:("hello world")"#),
            Expr::Text {
                field: Some(CONTENT),
                pattern: TextPattern::Phrase(strings(&["hello", "world"])),
            }
        );
        assert_eq!(
            filter(r#"@content:"End of Days""#),
            Expr::Text {
                field: Some(CONTENT),
                pattern: TextPattern::Phrase(strings(&["end", "of", "days"])),
            }
        );
        assert_eq!(filter(r#""Hello""#), term(None, "hello"));
        assert_eq!(
            filter("@title:(hello|world) @n:[1 1]"),
            Expr::And(vec![
                Expr::Or(vec![term(Some(TITLE), "hello"), term(Some(TITLE), "world")]),
                range(N, 1.0, true, 1.0, true),
            ])
        );
        assert_eq!(
            filter("@title:(Hello World)"),
            Expr::And(vec![term(Some(TITLE), "hello"), term(Some(TITLE), "world")])
        );
        // The field applies to the next clause only (dialect 2).
        assert_eq!(
            filter("@title:hello world"),
            Expr::And(vec![term(Some(TITLE), "hello"), term(None, "world")])
        );
        assert_eq!(
            filter("@title|content:hello"),
            Expr::Or(vec![
                term(Some(TITLE), "hello"),
                term(Some(CONTENT), "hello")
            ])
        );
        let text = |pattern| Expr::Text {
            field: Some(TITLE),
            pattern,
        };
        assert_eq!(
            filter("@title:(Hel*)"),
            text(TextPattern::Prefix("hel".into()))
        );
        assert_eq!(
            filter("@title:*LLO"),
            text(TextPattern::Suffix("llo".into()))
        );
        assert_eq!(
            filter("@title:*ell*"),
            text(TextPattern::Contains("ell".into()))
        );
        assert_eq!(
            filter("@title:%helo%"),
            text(TextPattern::Fuzzy("helo".into(), 1))
        );
        assert_eq!(
            filter("@title:(%%hxlo%%)"),
            text(TextPattern::Fuzzy("hxlo".into(), 2))
        );
        assert_eq!(
            filter("@title:%%%$q%%%"),
            text(TextPattern::Fuzzy("hello world".into(), 3))
        );
        assert_eq!(filter("@title:-hello"), not(term(Some(TITLE), "hello")));
        assert_eq!(filter("(-@title:\"x\")"), not(term(Some(TITLE), "x")));
        // Parameters are tokenized like literals.
        assert_eq!(
            filter("@title:$q"),
            Expr::And(vec![term(Some(TITLE), "hello"), term(Some(TITLE), "world")])
        );
        // Escaped separators stay inside the term, as in documents.
        assert_eq!(filter(r"world\-wide"), term(None, "world-wide"));
        assert!(err("%%hello%").starts_with("Syntax error at offset 8"));
        assert!(err("%%%%a%%%%").starts_with("Syntax error at offset 0"));
        assert!(err("\"open").starts_with("Syntax error at offset 0"));
        assert!(err("@tag:hello").starts_with("Syntax error at offset 0 near tag: TAG field"));
        assert!(err("@title|tag:hello").contains("TAG field"));
        assert_eq!(err("@nope:hello"), "Unknown field at offset 0 near nope");
        assert_eq!(
            err("x @title|nope:hello"),
            "Unknown field at offset 9 near nope"
        );
    }

    #[test]
    fn stopwords_vanish() {
        assert_eq!(filter("the hello"), term(None, "hello"));
        assert_eq!(filter("hello | the"), term(None, "hello"));
        assert_eq!(
            filter("@title:(a | hello) -the"),
            term(Some(TITLE), "hello")
        );
        // Nothing left: no results, as in RediSearch…
        assert_eq!(filter("the"), Expr::Or(vec![]));
        // A phrase keeps its stopwords (and so matches nothing where they are not indexed).
        assert_eq!(
            filter("@title:(\"to be\")"),
            Expr::Text {
                field: Some(TITLE),
                pattern: TextPattern::Phrase(strings(&["to", "be"])),
            }
        );
        // …except under a KNN, which then searches everything.
        assert_eq!(q("(the)=>[KNN 1 @v $vec]").filter, Expr::All);
    }

    #[test]
    fn redisvl_text_and_hybrid_queries() {
        // TextQuery with a filter joins with a literal AND, a stopword.
        let parsed =
            q("(~@content:(hello | world) AND @tag:{x})=>[KNN 5 @v $vec AS vector_distance]");
        assert!(
            matches!(&parsed.filter, Expr::And(v) if v.len() == 2
                && matches!(v[0], Expr::Optional(_)) && v[1] == exact(TAG, &["x"])),
            "{:?}",
            parsed.filter
        );
        assert_eq!(
            filter("@title:(hello | world\\-wide) => { $weight: 2.0 } | @content:(hello)"),
            Expr::Or(vec![
                Expr::Opts {
                    expr: Box::new(Expr::Or(vec![
                        term(Some(TITLE), "hello"),
                        term(Some(TITLE), "world-wide"),
                    ])),
                    weight: 2.0,
                    slop: None,
                    inorder: false,
                },
                term(Some(CONTENT), "hello"),
            ])
        );
        assert!(err("hello=>{$weight: 2; $nope: 1}").contains("Invalid attribute nope"));
        assert!(err("hello=>{$weight 2}").starts_with("Syntax error"));
        assert!(err("hello=>{weight: 2}").starts_with("Syntax error"));
    }

    #[test]
    fn parameters_everywhere() {
        let parsed = q("(@title:$q @t:{$who} @n:[$lo $hi] \
             @v:[VECTOR_RANGE $distance_threshold $vector]=>{$YIELD_DISTANCE_AS: $alias}) \
             =>[KNN $k @v $vec EF_RUNTIME $EF AS $alias]");
        let Expr::And(parts) = &parsed.filter else {
            panic!("{:?}", parsed.filter)
        };
        assert_eq!(parts.len(), 5);
        assert_eq!(parts[2], exact(T, &["john doe"]));
        assert_eq!(parts[3], range(N, 5.0, false, f64::INFINITY, true));
        let Expr::VectorRange {
            radius, yield_as, ..
        } = &parts[4]
        else {
            panic!("{:?}", parts[4])
        };
        assert_eq!((*radius, yield_as.as_deref()), (0.5, Some("dist")));
        let knn = parsed.knn.unwrap();
        assert_eq!(
            (knn.k, knn.ef_runtime, knn.alias.as_deref()),
            (7, Some(100), Some("dist"))
        );
        assert_eq!(err("@title:$nope"), "No such parameter `nope`");
        assert_eq!(err("$nope"), "No such parameter `nope`");
        assert_eq!(err("@n:[1 $nope]"), "No such parameter `nope`");
        assert_eq!(
            err("*=>[KNN 1 @v $vec AS $nope]"),
            "No such parameter `nope`"
        );
    }

    #[test]
    fn syntax_errors_name_offset_and_token() {
        assert_eq!(err("(@t:{x}"), "Syntax error at offset 7 near end of query");
        assert_eq!(err("@t:{x})"), "Syntax error at offset 6 near )");
        assert_eq!(err("hello : world"), "Syntax error at offset 6 near :");
        assert_eq!(err("a | | b"), "Syntax error at offset 4 near |");
        assert_eq!(err("()"), "Syntax error at offset 1 near )");
        assert_eq!(err("@title"), "Syntax error at offset 6 near end of query");
        assert_eq!(err("@t:{x} ]"), "Syntax error at offset 7 near ]");
        assert_eq!(err("é:"), "Syntax error at offset 2 near :");
        assert_eq!(err("a -"), "Syntax error at offset 3 near end of query");
    }

    #[test]
    fn evaluation() {
        let mut doc = vec![FieldValue::Missing; fields().len()];
        doc[TAG] = FieldValue::Tag(strings(&["red", "blue sky"]).into());
        doc[AGE] = FieldValue::Numeric(18.0);
        // As the index keeps "the end of all days": stopwords dropped.
        doc[CONTENT] = FieldValue::Text(strings(&["end", "all", "days"]).into());
        doc[TITLE] = FieldValue::Text(strings(&["hello", "wonderful", "world"]).into());
        doc[CS] = FieldValue::Tag(strings(&["MiXed"]).into());
        let none = |_: usize| false;
        let check = |query: &str, want: bool| {
            let parsed = q(query);
            assert_eq!(parsed.filter.matches(&doc, &none), want, "{query}");
        };
        check("*", true);
        check("", false);
        check("the", false);
        check("@tag:{red}", true);
        check("@tag:{RED | green}", true);
        check("@tag:{green}", false);
        check("@tag:{blu*}", true);
        check("@tag:{*sky}", true);
        check("@tag:{*ue s*}", true);
        check("@tag:{*xyz*}", false);
        check(r"@tag:{blue\ sky}", true);
        check("@cs:{MiXed}", true);
        check("@cs:{mixed}", false);
        check("@age:[18 18]", true);
        check("@age:[(18 +inf]", false);
        check("@age:[-inf (18]", false);
        check("@age:[-inf 18]", true);
        check("@n:[-inf +inf]", false);
        check("ismissing(@f)", true);
        check("-ismissing(@f)", false);
        check("hello", true);
        check("@content:hello", false);
        check("@title:hello", true);
        check("@title|content:days", true);
        check("@title:(hello world)", true);
        check("@title:(hello nope)", false);
        check("@title:(nope | world)", true);
        check("@title:\"hello wonderful\"", true);
        check("@title:\"hello world\"", false);
        check("@content:\"end of all days\"", false);
        check("@content:\"end all days\"", true);
        check("@content:\"end all\"", true);
        check("@content:\"end days\"", false);
        check("@title:wond*", true);
        check("@title:*ful", true);
        check("@title:*nder*", true);
        check("@title:wand*", false);
        check("@title:%wonderfull%", true);
        check("@title:%wanderfull%", false);
        check("@title:%%wanderfull%%", true);
        check("@title:%%%wxndxrfull%%%", true);
        check("@title:%%%wxndxrfxll%%%", false);
        check("-@tag:{red}", false);
        check("@tag:{green} | @age:[1 20]", true);
        check("@tag:{green} | -@age:[1 20]", false);
        check("(@tag:{red} @age:[1 20]) -@title:nope", true);

        let parsed = q("@v:[VECTOR_RANGE 1 $vec] | @embedding:[VECTOR_RANGE 1 $vec] @tag:{red}");
        assert!(parsed.filter.matches(&doc, &|c| c == 0));
        assert!(parsed.filter.matches(&doc, &|c| c == 1));
        assert!(!parsed.filter.matches(&doc, &|_| false));
        // A short document reads as missing values.
        assert!(q("ismissing(@f)").filter.matches(&[], &none));
        assert!(!q("@tag:{red}").filter.matches(&[], &none));
    }

    #[test]
    fn float64_vectors_decode() {
        let blob: Vec<u8> = [1.5f64, -2.0, 0.25]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        let mut p = params();
        p.insert(b"v64".to_vec(), blob);
        let knn = parse(b"*=>[KNN 2 @v64 $v64]", &p, &fields())
            .unwrap()
            .knn
            .unwrap();
        assert_eq!((knn.field, knn.vector), (V64, vec![1.5, -2.0, 0.25]));
    }

    #[test]
    fn tokenizer() {
        assert_eq!(
            tokenize("Hello, World! foo-bar baz_qux x/y a|b c`d e?f\tg\nh"),
            strings(&[
                "hello", "world", "foo", "bar", "baz_qux", "x", "y", "a", "b", "c", "d", "e", "f",
                "gh"
            ])
        );
        assert_eq!(
            tokenize("foo\u{a0}bar one\u{2003}two a\r\nb"),
            strings(&["foo\u{a0}bar", "one\u{2003}two", "ab"])
        );
        assert_eq!(
            tokenize(r"foo\-bar john\ doe trailing\"),
            strings(&["foo-bar", "john doe", "trailing"])
        );
        assert_eq!(
            tokenize("ÀÉÎ Straße ΣΑΣ"),
            strings(&["àéî", "straße", "σασ"])
        );
        assert_eq!(tokenize("  ,,.. "), Vec::<String>::new());
        assert_eq!(tokenize("1.5 $100"), strings(&["1", "5", "100"]));
        assert_eq!(tokenize("a\u{1}b"), strings(&["ab"]));
    }

    #[test]
    fn tags_and_stopwords() {
        assert_eq!(
            normalize_tags(" Red , BLUE,,green ", b',', false, false),
            strings(&["red", "blue", "green"])
        );
        assert_eq!(
            normalize_tags("Red|Blue Sky", b'|', true, false),
            strings(&["Red", "Blue Sky"])
        );
        assert_eq!(normalize_tags("", b',', false, false), Vec::<String>::new());
        assert_eq!(
            normalize_tags("ÄB;c", b';', false, false),
            strings(&["äb", "c"])
        );
        for w in ["a", "the", "with", "not", "or"] {
            assert!(is_stopword(w));
        }
        for w in ["hello", "The", ""] {
            assert!(!is_stopword(w));
        }
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        for open in ["(", "-", "~", "@title:("] {
            let query = open.repeat(100_000);
            assert!(parse(query.as_bytes(), &params(), &fields()).is_err());
        }
        let fine = format!("{}x{}", "(".repeat(100), ")".repeat(100));
        assert_eq!(filter(&fine), term(None, "x"));
    }

    /// Xorshift64*: enough randomness to shake the parser, no dependency.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    #[test]
    fn random_queries_never_panic() {
        const PIECES: &[&str] = &[
            "@",
            "@t",
            "@n",
            "@v",
            "@title",
            "@f",
            "@cs",
            "@nope",
            ":",
            "{",
            "}",
            "[",
            "]",
            "(",
            ")",
            "|",
            "-",
            "~",
            "*",
            "%",
            "\"",
            "'",
            "$",
            "$vec",
            "$q",
            "$lo",
            "$k",
            "$nope",
            "=>",
            "=",
            ">",
            ";",
            ",",
            ".",
            "\\",
            " ",
            " ",
            "  ",
            "\t",
            "a",
            "hello",
            "the",
            "1",
            "-1.5",
            "inf",
            "-inf",
            "(5",
            "KNN",
            "10",
            "VECTOR_RANGE",
            "AS",
            "EF_RUNTIME",
            "$YIELD_DISTANCE_AS",
            "$EPSILON",
            "0.1",
            "ismissing",
            "é",
            "\u{0}",
            "\u{7f}",
        ];
        let fields = fields();
        let params = params();
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut doc = vec![FieldValue::Missing; fields.len()];
        doc[T] = FieldValue::Tag(strings(&["a"]).into());
        doc[N] = FieldValue::Numeric(1.0);
        doc[TITLE] = FieldValue::Text(strings(&["hello", "a"]).into());
        let mut parsed = 0;
        for round in 0..5000 {
            let mut query = Vec::new();
            for _ in 0..rng.below(24) {
                query.extend_from_slice(PIECES[rng.below(PIECES.len())].as_bytes());
            }
            // Some raw bytes too, including invalid UTF-8.
            if round % 7 == 0 {
                let at = rng.below(query.len() + 1);
                query.insert(at, (rng.next() & 0xff) as u8);
            }
            if let Ok(q) = parse(&query, &params, &fields) {
                parsed += 1;
                q.filter.matches(&doc, &|c| c % 2 == 0);
                let _ = q.filter.vector_ranges();
            }
        }
        // The generator must reach past the first syntax error often enough to be useful.
        assert!(parsed > 100, "only {parsed} random queries parsed");
    }
}
