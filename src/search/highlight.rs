//! FT.SEARCH's HIGHLIGHT and SUMMARIZE: the matched terms of a document wrapped in tags, or
//! the value cut down to fragments around them, as RediSearch 2.10 writes them byte for byte
//! (its `fragmenter.c` and `highlight_processor.c`: the same fragment grouping, scores,
//! context widths and trimming, quirks included: a fragment's context skips the first word
//! it reaches, a field without matches is cut at its last separator).
//!
//! ```text
//! HIGHLIGHT [FIELDS n field…] [TAGS open close]
//! SUMMARIZE [FIELDS n field…] [FRAGS n] [LEN n] [SEPARATOR s]
//! ```
//!
//! Pure: the search hands over, per document, the dictionary terms it matched, each with
//! its IDF and the query term it stands for (a fragment scores each query term once, at the
//! IDF of the form it met first: what ranks fragments); the reply applies them to each value it shows.

use super::error::{BadArg, SearchError};
use super::language::Language;
use super::postings::{stem, STEM_PREFIX};
use super::query::tokenize_spans;

/// RediSearch's defaults (`SUMMARIZE_*_DEFAULT`).
const DEFAULT_LEN: u32 = 20;
const DEFAULT_FRAGS: u32 = 3;
const DEFAULT_SEPARATOR: &[u8] = b"... ";
const DEFAULT_OPEN: &[u8] = b"<b>";
const DEFAULT_CLOSE: &[u8] = b"</b>";
/// Two matches further apart than this many tokens start a new fragment.
const MAX_DISTANCE: usize = 8;
/// Bytes per word RediSearch assumes when it turns context words into bytes.
const WORD_BYTES: usize = 6;
/// No highlighted value grows past this: tags and separators are the client's, and many
/// matches times a long tag would otherwise take what memory there is.
pub const MAX_OUTPUT: usize = 64 << 20;

#[derive(Debug, Clone, PartialEq)]
pub struct Tags {
    pub open: Vec<u8>,
    pub close: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Context words around a fragment (LEN).
    pub len: u32,
    pub frags: u32,
    pub separator: Vec<u8>,
}

/// What is done to one field: either or both.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Settings {
    pub highlight: Option<Tags>,
    pub summarize: Option<Summary>,
}

impl Settings {
    pub fn is_none(&self) -> bool {
        self.highlight.is_none() && self.summarize.is_none()
    }

    /// A field's own settings over the defaults (RediSearch's `normalizeSettings`): each of
    /// the two from the field when it has it, else from the defaults.
    pub fn over(&self, defaults: &Settings) -> Settings {
        Settings {
            highlight: self
                .highlight
                .clone()
                .or_else(|| defaults.highlight.clone()),
            summarize: self
                .summarize
                .clone()
                .or_else(|| defaults.summarize.clone()),
        }
    }
}

/// HIGHLIGHT and SUMMARIZE of one FT.SEARCH.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Spec {
    /// For every shown field (no FIELDS given).
    pub default: Settings,
    /// Fields named by FIELDS, in order of first mention.
    pub fields: Vec<(String, Settings)>,
    /// The schema's TEXT fields: name, identifier (the hash field) and NOSTEM.
    pub text: Vec<(String, Vec<u8>, bool)>,
    /// The index's stopwords (`None`: RediSearch's list), which take no token position.
    pub stopwords: Option<Vec<String>>,
    /// The index's LANGUAGE, whose stems a value's tokens are matched by (a document with a
    /// LANGUAGE_FIELD of its own is highlighted by the index's language all the same).
    pub language: Language,
}

impl Spec {
    pub fn is_stopword(&self, t: &str) -> bool {
        match &self.stopwords {
            Some(list) => list.iter().any(|w| w == t),
            None => super::schema::is_stopword(t),
        }
    }

    /// `value` of the field shown as `name` (a schema name, or else a hash field), as
    /// HIGHLIGHT / SUMMARIZE show it given the document's matched `terms`; `listed`: RETURN
    /// names it. `None`: unchanged.
    pub fn render(
        &self,
        name: &[u8],
        listed: bool,
        value: &[u8],
        terms: &[(String, f64, usize)],
    ) -> Result<Option<Vec<u8>>, SearchError> {
        let text_field = self
            .text
            .iter()
            .find(|(n, ident, _)| n.as_bytes() == name || ident.as_slice() == name);
        let schema_name = text_field
            .map(|(n, _, _)| n.clone())
            .unwrap_or_else(|| String::from_utf8_lossy(name).into_owned());
        let Some(settings) = self.for_field(&schema_name, listed) else {
            return Ok(None);
        };
        let stop = |t: &str| self.is_stopword(t);
        let text = match (text_field, std::str::from_utf8(value)) {
            (Some((_, _, nostem)), Ok(v)) => Some(TextValue {
                value: v,
                nostem: *nostem,
                language: self.language,
                is_stopword: &stop,
            }),
            _ => None,
        };
        apply(value, text.as_ref(), terms, &settings)
    }

    /// What is done to field `name`, when something is.
    pub fn for_field(&self, name: &str, listed: bool) -> Option<Settings> {
        let own = self.fields.iter().find(|(n, _)| n == name).map(|(_, s)| s);
        let s = match own {
            Some(own) => own.over(&self.default),
            // A field no FIELDS names takes the defaults, unless FIELDS named others and it
            // was not asked for otherwise (RETURN lists it).
            None if self.fields.is_empty() || listed => self.default.clone(),
            None => return None,
        };
        (!s.is_none()).then_some(s)
    }
}

fn unsigned(w: Option<&&[u8]>) -> Option<u32> {
    std::str::from_utf8(w?).ok()?.parse::<u32>().ok()
}

/// Parses the words after HIGHLIGHT (`highlight`) or SUMMARIZE, from `words[i]`, into
/// `spec`; returns where the next option starts. A word that is not one of its options ends
/// it (the caller reads it as the command's next option).
pub fn parse(
    words: &[&[u8]],
    mut i: usize,
    spec: &mut Spec,
    highlight: bool,
) -> Result<usize, SearchError> {
    let what = if highlight { "HIGHLIGHT" } else { "SUMMARIZE" };
    let bad = || SearchError::bad(what, BadArg::Plain);
    let mut fields: Vec<String> = Vec::new();
    if words
        .get(i)
        .is_some_and(|w| w.eq_ignore_ascii_case(b"FIELDS"))
    {
        let n = unsigned(words.get(i + 1)).ok_or_else(bad)? as usize;
        let start = i + 2;
        let end = start.checked_add(n).filter(|&e| e <= words.len());
        let end = end.ok_or_else(bad)?;
        fields.extend(
            words[start..end]
                .iter()
                .map(|w| String::from_utf8_lossy(w).into_owned()),
        );
        i = end;
    }
    let mut tags = Tags {
        open: DEFAULT_OPEN.to_vec(),
        close: DEFAULT_CLOSE.to_vec(),
    };
    let mut summary = Summary {
        len: DEFAULT_LEN,
        frags: DEFAULT_FRAGS,
        separator: DEFAULT_SEPARATOR.to_vec(),
    };
    while let Some(w) = words.get(i) {
        let w = w.to_ascii_uppercase();
        match w.as_slice() {
            b"TAGS" if highlight => {
                let [open, close] = words.get(i + 1..i + 3).ok_or_else(bad)? else {
                    return Err(bad());
                };
                tags = Tags {
                    open: open.to_vec(),
                    close: close.to_vec(),
                };
                i += 3;
            }
            b"LEN" if !highlight => {
                summary.len = unsigned(words.get(i + 1)).ok_or_else(bad)?;
                i += 2;
            }
            b"FRAGS" if !highlight => {
                summary.frags = unsigned(words.get(i + 1)).ok_or_else(bad)?;
                i += 2;
            }
            b"SEPARATOR" if !highlight => {
                summary.separator = words.get(i + 1).ok_or_else(bad)?.to_vec();
                i += 2;
            }
            _ => break,
        }
    }
    let apply = |s: &mut Settings| {
        if highlight {
            s.highlight = Some(tags.clone());
        } else {
            s.summarize = Some(summary.clone());
        }
    };
    if fields.is_empty() {
        apply(&mut spec.default);
    }
    for name in fields {
        match spec.fields.iter_mut().find(|(n, _)| *n == name) {
            Some((_, s)) => apply(s),
            None => {
                let mut s = Settings::default();
                apply(&mut s);
                spec.fields.push((name, s));
            }
        }
    }
    Ok(i)
}

/// RediSearch's `istoksep` (its `ToksepMap_g`): what ends a token when it measures a match
/// in the raw value. Of white space only the space and the tab.
fn is_separator(b: u8) -> bool {
    b" \t,./(){}[]:;~!@#$%^&*-=+|'`\"<>?".contains(&b)
}

/// C's `isspace`.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Each run of white space becomes one space (RediSearch's `stripDuplicateSpaces`).
fn strip_duplicate_spaces(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut last_space = false;
    for &b in s {
        if is_space(b) {
            if !last_space {
                out.push(b' ');
            }
            last_space = true;
        } else {
            out.push(b);
            last_space = false;
        }
    }
    out
}

/// A TEXT field's value and how its tokens were indexed.
pub struct TextValue<'a> {
    pub value: &'a str,
    pub nostem: bool,
    pub language: Language,
    pub is_stopword: &'a dyn Fn(&str) -> bool,
}

#[derive(Debug)]
struct Fragment {
    start: usize,
    len: usize,
    last_pos: usize,
    score: f64,
    matches: usize,
    total_tokens: usize,
    /// (query term, byte offset, length) of each match.
    locs: Vec<(usize, usize, usize)>,
}

impl Fragment {
    fn end(&self) -> usize {
        self.start + self.len
    }
}

/// The fragments of a value: runs of matches at most [`MAX_DISTANCE`] tokens apart.
fn fragmentize(text: &TextValue, terms: &[(String, f64, usize)]) -> Vec<Fragment> {
    let doc = text.value.as_bytes();
    let mut frags: Vec<Fragment> = Vec::new();
    let mut since_last = 0usize;
    let mut last_byte_end = 0usize;
    let tokens = tokenize_spans(text.value)
        .into_iter()
        .filter(|(_, t)| !(text.is_stopword)(t));
    for (pos, (at, token)) in tokens.enumerate() {
        // A token matched both as itself and by its stem counts as itself: where two terms
        // share a position, RediSearch's offsets give the first of its union's children,
        // the query's own form before its stem (which decides how many distinct terms, and
        // so how much score, a fragment has).
        let found = terms.iter().position(|(n, _, _)| *n == token).or_else(|| {
            let s = (!text.nostem)
                .then(|| stem(&token, text.language))
                .flatten()?;
            let marked = format!("{STEM_PREFIX}{s}");
            terms.iter().position(|(n, _, _)| *n == marked)
        });
        let Some((score, id)) = found.map(|i| (terms[i].1, terms[i].2)) else {
            since_last += 1;
            continue;
        };
        if at < last_byte_end {
            continue;
        }
        let len = doc[at..].iter().take_while(|&&b| !is_separator(b)).count();
        let new = frags
            .last()
            .map_or(true, |f| pos.saturating_sub(f.last_pos) > MAX_DISTANCE);
        if new {
            frags.push(Fragment {
                start: at,
                len: 0,
                last_pos: pos,
                score: 0.0,
                matches: 0,
                total_tokens: 0,
                locs: Vec::new(),
            });
            since_last = 0;
        }
        let Some(f) = frags.last_mut() else { break };
        if !f.locs.iter().any(|l| l.0 == id) {
            f.score += score;
        }
        f.len = at - f.start + len;
        f.last_pos = pos;
        f.matches += 1;
        f.total_tokens += since_last + 1;
        since_last = 0;
        f.locs.push((id, at, len));
        last_byte_end = at + len;
    }
    frags
}

/// Appends, refusing to grow past [`MAX_OUTPUT`].
fn push(out: &mut Vec<u8>, bytes: &[u8]) -> Result<(), SearchError> {
    if out.len().saturating_add(bytes.len()) > MAX_OUTPUT {
        return Err(SearchError::HighlightTooLarge);
    }
    out.extend_from_slice(bytes);
    Ok(())
}

/// A fragment's matches in tags, with the text between them (from `*pre` on).
fn write_fragment(
    doc: &[u8],
    f: &Fragment,
    tags: Option<&Tags>,
    pre: &mut usize,
    out: &mut Vec<u8>,
) -> Result<(), SearchError> {
    for &(_, at, len) in &f.locs {
        push(out, &doc[(*pre).min(at)..at])?;
        if let Some(t) = tags {
            push(out, &t.open)?;
        }
        push(out, &doc[at..at + len])?;
        if let Some(t) = tags {
            push(out, &t.close)?;
        }
        *pre = at + len;
    }
    Ok(())
}

/// The context around fragment `f` (RediSearch's `FragmentList_FindContext`): `words` less
/// the fragment's own unmatched tokens, half each side, in bytes, widened to word edges
/// inside the limits.
fn context(
    doc: &[u8],
    f: &Fragment,
    limit_before: Option<usize>,
    limit_after: Option<usize>,
    words: usize,
) -> (std::ops::Range<usize>, std::ops::Range<usize>) {
    let inner = f.total_tokens - f.matches;
    if words <= inner {
        return (f.start..f.start, f.end()..f.end());
    }
    let bytes = ((words - inner) / 2).saturating_mul(WORD_BYTES);
    let mut before = f.start.saturating_sub(bytes).max(limit_before.unwrap_or(0));
    // Signed: the last byte of an empty value is before its start.
    let last = limit_after.map_or(doc.len() as isize - 1, |l| l as isize);
    let mut after = (f.end().saturating_add(bytes) as isize).min(last);
    while before < f.start && !is_separator(doc[before]) {
        before += 1;
    }
    while before < f.start && is_separator(doc[before]) {
        before += 1;
    }
    let end = f.end() as isize;
    while after > end && !is_separator(doc[after as usize]) {
        after -= 1;
    }
    while after > end && is_separator(doc[after as usize]) {
        after -= 1;
    }
    let after_end = ((after + 1).max(end) as usize).min(doc.len());
    (before..f.start, f.end()..after_end)
}

/// A value with no matches, summarized: its head, cut back to a separator (RediSearch's
/// `trimField`).
fn trim(value: &[u8], s: &Summary) -> Vec<u8> {
    let head = (WORD_BYTES as u64)
        .saturating_mul(u64::from(s.len))
        .saturating_mul(u64::from(s.frags))
        .saturating_add(WORD_BYTES as u64)
        .min(value.len() as u64) as usize;
    let mut buf = strip_duplicate_spaces(&value[..head]);
    while buf.len() > 1 && !buf.last().is_some_and(|&b| is_separator(b)) {
        buf.pop();
    }
    while buf.last().is_some_and(|&b| is_space(b)) {
        buf.pop();
    }
    buf
}

/// What field value `value` is shown as under `s`, given the document's matched `terms`
/// (term, IDF); `text` when it is a TEXT field of the schema. `None`: shown unchanged.
pub fn apply(
    value: &[u8],
    text: Option<&TextValue>,
    terms: &[(String, f64, usize)],
    s: &Settings,
) -> Result<Option<Vec<u8>>, SearchError> {
    let frags = match text {
        Some(t) if !terms.is_empty() => fragmentize(t, terms),
        _ => Vec::new(),
    };
    if frags.is_empty() {
        return Ok(match (&s.highlight, &s.summarize) {
            (None, Some(sum)) => Some(trim(value, sum)),
            _ => None,
        });
    }
    let doc = value;
    let mut out = Vec::new();
    let Some(summary) = &s.summarize else {
        let tags = s.highlight.as_ref();
        let mut pre = 0;
        for f in &frags {
            write_fragment(doc, f, tags, &mut pre, &mut out)?;
        }
        push(&mut out, &doc[pre.min(doc.len())..])?;
        return Ok(Some(out));
    };
    let n = (summary.frags as usize).min(frags.len());
    // The best `n` by score (ties: the earlier), shown in document order.
    let mut chosen: Vec<usize> = (0..frags.len()).collect();
    chosen.sort_by(|&a, &b| frags[b].score.total_cmp(&frags[a].score).then(a.cmp(&b)));
    chosen.truncate(n);
    chosen.sort_unstable();
    for (k, &i) in chosen.iter().enumerate() {
        let f = &frags[i];
        let limit_before = k.checked_sub(1).map(|p| frags[chosen[p]].end());
        let limit_after = chosen.get(k + 1).map(|&next| frags[next].start);
        let (before, after) = context(doc, f, limit_before, limit_after, summary.len as usize);
        let mut piece = Vec::new();
        push(&mut piece, &doc[before])?;
        let mut pre = f.start;
        write_fragment(doc, f, s.highlight.as_ref(), &mut pre, &mut piece)?;
        push(&mut piece, &doc[after])?;
        push(&mut out, &strip_duplicate_spaces(&piece))?;
        push(&mut out, &summary.separator)?;
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stop(t: &str) -> bool {
        crate::search::schema::is_stopword(t)
    }

    fn run(value: &str, terms: &[&str], s: &Settings) -> String {
        let terms: Vec<(String, f64, usize)> =
            terms.iter().map(|t| (t.to_string(), 1.0, 0)).collect();
        let text = TextValue {
            value,
            nostem: false,
            language: Language::English,
            is_stopword: &stop,
        };
        match apply(value.as_bytes(), Some(&text), &terms, s).unwrap() {
            Some(v) => String::from_utf8(v).unwrap(),
            None => value.to_string(),
        }
    }

    fn spec(words: &str, highlight: bool) -> Spec {
        let w: Vec<&[u8]> = words.split_whitespace().map(str::as_bytes).collect();
        let mut s = Spec::default();
        assert_eq!(parse(&w, 0, &mut s, highlight).unwrap(), w.len());
        s
    }

    const BODY: &str = "A dog runs. Dogs ran and the dog is running fast, really quickly running \
        away from the other dogs and cats in the big city of London";

    /// Outputs RediSearch 2.10.5 gave for the same value and query (`dog`).
    #[test]
    fn as_redisearch_writes_them() {
        let hl = spec("", true).default;
        assert_eq!(
            run(BODY, &["dog", "+dog"], &hl),
            "A <b>dog</b> runs. <b>Dogs</b> ran and the <b>dog</b> is running fast, really \
             quickly running away from the other <b>dogs</b> and cats in the big city of London"
        );
        let sum = spec("", false).default;
        assert_eq!(
            run(BODY, &["dog", "+dog"], &sum),
            "dog runs. Dogs ran and the dog is running fast, really quickly running away from \
             the... running fast, really quickly running away from the other dogs and cats in \
             the big city of... "
        );
        assert_eq!(
            run("The running dogs of war", &["dog", "+dog"], &sum),
            "running dogs of... "
        );
        let short = spec("FRAGS 1 LEN 2", false).default;
        assert_eq!(
            run(BODY, &["dog", "+dog"], &short),
            "dog runs. Dogs ran and the dog... "
        );
        // No match: the head, cut at its last separator.
        assert_eq!(run("Cats", &["dog"], &sum), "C");
        assert_eq!(run("nothing here dog", &[], &sum), "nothing here");
    }

    #[test]
    fn grammar() {
        let s = spec("FIELDS 2 a b TAGS [ ]", true);
        assert!(s.default.is_none());
        assert_eq!(s.fields.len(), 2);
        assert_eq!(s.fields[0].1.highlight.as_ref().unwrap().open, b"[");
        let s = spec("FIELDS 0 LEN 0 FRAGS 1 SEPARATOR |", false);
        let sum = s.default.summarize.unwrap();
        assert_eq!((sum.len, sum.frags, sum.separator), (0, 1, b"|".to_vec()));
        for (words, hl) in [
            ("TAGS a", true),
            ("FIELDS x", true),
            ("FIELDS 3 a", false),
            ("LEN -1", false),
            ("LEN 4294967296", false),
            ("FRAGS", false),
            ("SEPARATOR", false),
            ("FIELDS 18446744073709551615 a", true),
        ] {
            let w: Vec<&[u8]> = words.split_whitespace().map(str::as_bytes).collect();
            let e = parse(&w, 0, &mut Spec::default(), hl).unwrap_err();
            let what = if hl { "HIGHLIGHT" } else { "SUMMARIZE" };
            assert_eq!(
                e.to_string(),
                format!("Bad arguments for {what}"),
                "{words}"
            );
        }
        // A word that is not an option ends the clause.
        let w: Vec<&[u8]> = vec![b"TAGS", b"<", b">", b"NOCONTENT"];
        assert_eq!(parse(&w, 0, &mut Spec::default(), true).unwrap(), 3);
    }

    #[test]
    fn hostile_settings_are_bounded() {
        let huge = Settings {
            highlight: Some(Tags {
                open: vec![b'x'; 1 << 20],
                close: Vec::new(),
            }),
            summarize: None,
        };
        let value = "dog ".repeat(100);
        let terms = vec![("dog".to_string(), 1.0, 0)];
        let text = TextValue {
            value: &value,
            nostem: false,
            language: Language::English,
            is_stopword: &stop,
        };
        assert_eq!(
            apply(value.as_bytes(), Some(&text), &terms, &huge),
            Err(SearchError::HighlightTooLarge)
        );
        let said = format!("past {} MB", MAX_OUTPUT >> 20);
        assert!(SearchError::HighlightTooLarge.to_string().ends_with(&said));
        let wide = Settings {
            highlight: None,
            summarize: Some(Summary {
                len: u32::MAX,
                frags: u32::MAX,
                separator: b"|".to_vec(),
            }),
        };
        assert!(apply(value.as_bytes(), Some(&text), &terms, &wide).is_ok());
        let empty = TextValue {
            value: "",
            nostem: false,
            language: Language::English,
            is_stopword: &stop,
        };
        assert_eq!(
            apply(b"", Some(&empty), &terms, &wide).unwrap(),
            Some(Vec::new())
        );
    }
}
