//! Auto-complete dictionaries (FT.SUGADD / FT.SUGGET) and the named dictionaries of
//! FT.DICTADD, with RediSearch's rules for what they hold and how a lookup scores.
//!
//! RediSearch keeps both in a radix trie of 16-bit runes; what a client can observe of that
//! trie is reproduced here over an ordered map:
//! - a string is stored as given (case kept) when it has 1 to 255 characters and at most 512
//!   bytes (the trie's limits); others are silently not stored;
//! - lookups fold case on both sides, so `HEL` finds `Hello`;
//! - a scores are `f32`, and every step of a lookup's scoring rounds to `f32` as the C code
//!   does, so WITHSCORES prints the same digits.
//!
//! Pure: no Redis, no locks.

use std::collections::{BTreeMap, BTreeSet};

/// A stored string's longest length in characters, exclusive (RediSearch's
/// `TRIE_INITIAL_STRING_LEN`).
const MAX_CHARS: usize = 256;
/// ... and in bytes (RediSearch checks `len > TRIE_INITIAL_STRING_LEN * sizeof(rune)`).
const MAX_BYTES: usize = 512;
/// A lookup prefix's longest length in characters, exclusive (`TRIE_MAX_PREFIX`).
pub const MAX_PREFIX_CHARS: usize = 100;
/// ... and in bytes: longer prefixes are refused before anything else is read.
pub const MAX_PREFIX_BYTES: usize = 200;
/// The score an exact match reports, whatever its own (`(float)INT_MAX`).
const EXACT_SCORE: f32 = i32::MAX as f32;

/// Whether `s` is a string RediSearch's trie stores (1 to 255 characters, at most 512 bytes).
pub fn storable(s: &[u8]) -> bool {
    if s.is_empty() || s.len() > MAX_BYTES {
        return false;
    }
    String::from_utf8_lossy(s).chars().count() < MAX_CHARS
}

/// The characters a lookup compares: lower-cased one for one (RediSearch folds each rune
/// with libnu).
pub fn fold(s: &[u8]) -> Vec<char> {
    String::from_utf8_lossy(s).chars().map(fold_char).collect()
}

pub fn fold_char(c: char) -> char {
    let mut lower = c.to_lowercase();
    match (lower.next(), lower.next()) {
        (Some(l), None) => l,
        _ => c,
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub score: f32,
    pub payload: Option<Box<[u8]>>,
    /// When the string was first added: RediSearch's trie orders equal-scored branches by
    /// the order they appeared in.
    seq: u64,
    /// The largest score ever given for it (an INCR counts its increment): RediSearch's
    /// `maxChildScore` only grows, and it decides which branches a lookup skips.
    high: f32,
}

/// One FT.SUGADD key's strings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Suggestions {
    entries: BTreeMap<Box<[u8]>, Entry>,
    /// The strings as text (invalid UTF-8 replaced), for lookups that skip whole branches
    /// ([`dfa_scan`]); several byte strings may read as one text.
    texts: BTreeMap<Box<str>, Vec<Box<[u8]>>>,
    next_seq: u64,
}

/// One FT.SUGGET answer line.
#[derive(Debug, PartialEq)]
pub struct Hit<'a> {
    pub string: &'a [u8],
    pub score: f32,
    pub payload: Option<&'a [u8]>,
}

impl Suggestions {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// FT.SUGADD: sets (or with `incr` adds to) the string's score. A payload replaces the
    /// stored one; none (or an empty one) keeps it, as RediSearch does. A string the trie
    /// cannot hold, or a score of 0 (RediSearch's trie ignores those), changes nothing.
    pub fn add(&mut self, s: &[u8], score: f64, incr: bool, payload: Option<&[u8]>) {
        let score = score as f32;
        if !storable(s) || score == 0.0 {
            return;
        }
        let payload = payload.filter(|p| !p.is_empty()).map(Box::from);
        match self.entries.get_mut(s) {
            Some(e) => {
                e.score = if incr { e.score + score } else { score };
                e.high = e.high.max(score);
                if payload.is_some() {
                    e.payload = payload;
                }
            }
            None => {
                let seq = self.next_seq;
                self.next_seq += 1;
                let text: Box<str> = String::from_utf8_lossy(s).into();
                self.texts.entry(text).or_default().push(s.into());
                self.entries.insert(
                    s.into(),
                    Entry {
                        score,
                        payload,
                        seq,
                        high: score,
                    },
                );
            }
        }
    }

    /// FT.SUGDEL: whether the string (exactly as stored) was there.
    pub fn remove(&mut self, s: &[u8]) -> bool {
        if self.entries.remove(s).is_none() {
            return false;
        }
        let text = String::from_utf8_lossy(s);
        if let Some(keys) = self.texts.get_mut(&*text) {
            keys.retain(|k| &**k != s);
            if keys.is_empty() {
                self.texts.remove(&*text);
            }
        }
        true
    }

    /// Every entry, in the order they were added (RDB and AOF: a reload adds them again in
    /// that order and so keeps the order of equal-scored suggestions).
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &Entry)> {
        let mut all: Vec<(&[u8], &Entry)> = self.entries.iter().map(|(k, v)| (&**k, v)).collect();
        all.sort_by_key(|(_, e)| e.seq);
        all.into_iter()
    }

    /// FT.SUGGET: the `max` best completions of `prefix`, best first. `None` when the folded
    /// prefix is too long for the trie (RediSearch's "Invalid query").
    ///
    /// A completion's score is its own (or `INT_MAX` if RediSearch takes it for the prefix
    /// itself, see [`rune_prefix_equal`]), times `e^(-2·distance)` when `fuzzy` (prefixes
    /// within one edit, the distance as [`dfa_walk`] reports it), divided by
    /// `√(1 + |its characters − the prefix's bytes|)` — bytes, as RediSearch compares them.
    ///
    /// Which completions make the cut and in what order equal scores come follow RediSearch's
    /// walk as far as it could be reproduced: its trie is walked depth first in its own layout
    /// ([`Trie`]), branches whose best score is below the worst kept so far are skipped, and
    /// the kept ones sit in a binary heap whose order among equals is replayed ([`TopN`]).
    /// Among equal scores RediSearch's order still differs in some layouts.
    pub fn lookup(&self, prefix: &[u8], fuzzy: bool, max: usize) -> Option<Vec<Hit<'_>>> {
        let folded = fold(prefix);
        if folded.len() >= MAX_PREFIX_CHARS {
            return None;
        }
        let max_dist = usize::from(fuzzy);
        // Only the completions are laid out: a branch without one offers nothing, and the
        // branches above the prefix's end are walked before anything is kept (so never
        // skipped). What is lost is a skipped branch's score from strings that do not match,
        // under FUZZY only.
        let mut matches: Vec<(&[u8], &Entry, usize)> = Vec::new();
        for (_, keys, dist) in dfa_scan(&self.texts, &folded, max_dist, true) {
            for k in keys {
                if let Some(e) = self.entries.get(k) {
                    matches.push((k, e, dist));
                }
            }
        }
        // Entries below the `max` best scores can only be offered and thrown out again:
        // they are left out of the walk, which then costs what the answer holds rather than
        // what the dictionary does. (They could only have moved equal scores in the heap.)
        if matches.len() > max {
            let scores: Vec<f32> = matches
                .iter()
                .map(|(k, e, d)| adjusted(&folded, prefix.len(), k, e.score, fuzzy, *d))
                .collect();
            let mut sorted = scores.clone();
            let nth = max.saturating_sub(1).min(sorted.len() - 1);
            let (_, cut, _) = sorted.select_nth_unstable_by(nth, |a, b| b.total_cmp(a));
            let cut = *cut;
            let mut i = 0;
            matches.retain(|_| {
                let keep = scores[i] >= cut;
                i += 1;
                keep
            });
        }
        matches.sort_by_key(|(_, e, _)| e.seq);
        let trie = Trie::build(matches.into_iter());
        let mut top = TopN::new(max);
        // Depth first. A frame is a node with its children in walk order and the next one
        // to visit; a child is checked against the worst kept score only when its turn
        // comes, as RediSearch's iterator does.
        let mut stack: Vec<(usize, Vec<usize>, usize)> = Vec::new();
        let mut visit = Some(0usize);
        loop {
            if let Some(n) = visit.take() {
                let node = &trie.nodes[n];
                if let Some((key, e, dist)) = node.entry {
                    let score = adjusted(&folded, prefix.len(), key, e.score, fuzzy, dist);
                    top.offer(Hit {
                        string: key,
                        score,
                        payload: e.payload.as_deref(),
                    });
                }
                // RediSearch 2.10 never reorders a node's children by score (its sort is
                // skipped on the first walk and never asked for again), so the walk follows
                // the trie's layout.
                let kids: Vec<usize> = node.children.iter().map(|&(_, k)| k).collect();
                stack.push((n, kids, 0));
            }
            let Some((_, kids, next)) = stack.last_mut() else {
                break;
            };
            if *next >= kids.len() {
                stack.pop();
                continue;
            }
            let k = kids[*next];
            *next += 1;
            let kid = &trie.nodes[k];
            if kid.best >= top.min_score || kid.score() >= top.min_score {
                visit = Some(k);
            }
        }
        Some(top.into_sorted())
    }

    /// Approximate heap bytes (MEMORY USAGE).
    pub fn bytes(&self) -> usize {
        self.entries
            .iter()
            .map(|(k, e)| 2 * k.len() + e.payload.as_ref().map_or(0, |p| p.len()) + 112)
            .sum()
    }
}

/// A completion's score as SUGGET reports it (see [`Suggestions::lookup`]).
fn adjusted(
    folded: &[char],
    prefix_bytes: usize,
    key: &[u8],
    raw: f32,
    fuzzy: bool,
    dist: usize,
) -> f32 {
    let chars: Vec<char> = String::from_utf8_lossy(key).chars().collect();
    let mut score = if rune_prefix_equal(folded, &chars) {
        EXACT_SCORE
    } else {
        raw
    };
    if fuzzy {
        score = (f64::from(score) * (-2.0 * dist as f64).exp()) as f32;
    }
    let gap = chars.len().abs_diff(prefix_bytes);
    (f64::from(score) / ((1 + gap) as f64).sqrt()) as f32
}

/// A character trie laid out as RediSearch's radix trie would order it: a node's branches
/// in the order they appeared, except that the two branches a split creates are in rune
/// order (what RediSearch 2.10.5 does, observed on its replies).
struct Trie<'a> {
    nodes: Vec<TrieNode<'a>>,
}

struct TrieNode<'a> {
    children: Vec<(char, usize)>,
    /// The completion ending here, with its distance from the prefix.
    entry: Option<(&'a [u8], &'a Entry, usize)>,
    /// Whether RediSearch has a node boundary here (the root, a string's end, a branch).
    boundary: bool,
    /// The best score ever given in this subtree (RediSearch's `maxChildScore`).
    best: f32,
}

impl TrieNode<'_> {
    fn score(&self) -> f32 {
        self.entry.map_or(0.0, |(_, e, _)| e.score)
    }
}

impl<'a> Trie<'a> {
    /// Lays out `entries`, given in the order they were first added.
    fn build(entries: impl Iterator<Item = (&'a [u8], &'a Entry, usize)>) -> Trie<'a> {
        let mut t = Trie {
            nodes: vec![TrieNode {
                children: Vec::new(),
                entry: None,
                boundary: true,
                best: f32::NEG_INFINITY,
            }],
        };
        for (key, e, dist) in entries {
            let chars: Vec<char> = String::from_utf8_lossy(key).chars().collect();
            let mut n = 0;
            for &c in &chars {
                let found = t.nodes[n]
                    .children
                    .iter()
                    .find(|(k, _)| *k == c)
                    .map(|&(_, i)| i);
                n = match found {
                    Some(i) => i,
                    None => {
                        let i = t.nodes.len();
                        t.nodes.push(TrieNode {
                            children: Vec::new(),
                            entry: None,
                            boundary: false,
                            best: f32::NEG_INFINITY,
                        });
                        let node = &mut t.nodes[n];
                        if !node.boundary && !node.children.is_empty() {
                            // A split: the old edge and the new one, in rune order.
                            node.boundary = true;
                            let old = node.children[0].0;
                            if (c as u32 as u16) < (old as u32 as u16) {
                                node.children.insert(0, (c, i));
                            } else {
                                node.children.push((c, i));
                            }
                        } else {
                            node.children.push((c, i));
                        }
                        i
                    }
                };
            }
            let node = &mut t.nodes[n];
            node.boundary = true;
            node.entry = Some((key, e, dist));
        }
        // Children come after their parent: one backward pass settles every best score.
        for i in (0..t.nodes.len()).rev() {
            let own = t.nodes[i]
                .entry
                .map_or(f32::NEG_INFINITY, |(_, e, _)| e.score.max(e.high));
            let best = t.nodes[i]
                .children
                .iter()
                .map(|&(_, k)| t.nodes[k].best)
                .fold(own, f32::max);
            t.nodes[i].best = best;
        }
        t
    }
}

/// RediSearch's top-N selection: a binary heap with the worst kept hit at its root, as its
/// `heap.c` keeps it (equal scores move up on insert), a newcomer taking the root's place
/// only if strictly better, and the answer read by polling the heap from the back.
struct TopN<'a> {
    heap: Vec<Hit<'a>>,
    cap: usize,
    /// The root's score once the heap is full (0 before, as RediSearch starts it).
    min_score: f32,
}

impl<'a> TopN<'a> {
    fn new(cap: usize) -> Self {
        TopN {
            heap: Vec::new(),
            cap,
            min_score: 0.0,
        }
    }

    /// `heap.c`'s comparison: the lower score is the "bigger" item, which rises to the root.
    fn cmp(a: f32, b: f32) -> i32 {
        if a < b {
            1
        } else if a > b {
            -1
        } else {
            0
        }
    }

    fn push_up(&mut self, mut i: usize) {
        while i != 0 {
            let parent = (i - 1) / 2;
            if Self::cmp(self.heap[i].score, self.heap[parent].score) < 0 {
                return;
            }
            self.heap.swap(i, parent);
            i = parent;
        }
    }

    fn push_down(&mut self) {
        let mut i = 0;
        loop {
            let (l, r) = (2 * i + 1, 2 * i + 2);
            let child = if r >= self.heap.len() {
                if l >= self.heap.len() {
                    return;
                }
                l
            } else if Self::cmp(self.heap[l].score, self.heap[r].score) < 0 {
                r
            } else {
                l
            };
            if Self::cmp(self.heap[i].score, self.heap[child].score) < 0 {
                self.heap.swap(i, child);
                i = child;
            } else {
                return;
            }
        }
    }

    fn poll(&mut self) -> Option<Hit<'a>> {
        if self.heap.is_empty() {
            return None;
        }
        let top = self.heap.swap_remove(0);
        if self.heap.len() > 1 {
            self.push_down();
        }
        Some(top)
    }

    fn offer(&mut self, hit: Hit<'a>) {
        if self.cap == 0 {
            return;
        }
        if self.heap.len() < self.cap {
            self.heap.push(hit);
            let last = self.heap.len() - 1;
            self.push_up(last);
            if self.heap.len() == self.cap {
                self.min_score = self.heap[0].score;
            }
        } else if hit.score > self.min_score {
            self.poll();
            self.heap.push(hit);
            let last = self.heap.len() - 1;
            self.push_up(last);
            if self.heap[0].score > self.min_score {
                self.min_score = self.heap[0].score;
            }
        }
    }

    fn into_sorted(mut self) -> Vec<Hit<'a>> {
        let mut out = Vec::with_capacity(self.heap.len());
        while let Some(h) = self.poll() {
            out.push(h);
        }
        out.reverse();
        out
    }
}

/// One state of RediSearch's Levenshtein automaton: the row of edit costs, only the
/// entries within the maximum distance (index into the query, cost).
type Row = Vec<(usize, usize)>;

fn start_row(query: &[char], max: usize) -> Row {
    (0..=query.len().min(max)).map(|i| (i, i)).collect()
}

/// RediSearch's `SparseAutomaton_Step`.
fn step(query: &[char], max: usize, row: &Row, c: char) -> Row {
    let mut next: Row = Vec::with_capacity(row.len() + 1);
    if let Some(&(0, v)) = row.first() {
        if v < max {
            next.push((0, v + 1));
        }
    }
    for (j, &(idx, v)) in row.iter().enumerate() {
        if idx == query.len() {
            break;
        }
        let mut val = v + usize::from(query[idx] != c);
        if let Some(&(last_idx, last_v)) = next.last() {
            if last_idx == idx {
                val = val.min(last_v + 1);
            }
        }
        if let Some(&(n_idx, n_v)) = row.get(j + 1) {
            if n_idx == idx + 1 {
                val = val.min(n_v + 1);
            }
        }
        if val <= max {
            next.push((idx + 1, val));
        }
    }
    next
}

/// What the walk of one trie path through RediSearch's DFA filter gives: whether the word is
/// yielded, and the distance it reports. This is not always the edit distance: the filter
/// keeps the smallest cost of an accepting state met along the path, the start state counts
/// 0, a state's cost is the last entry of its row (accepting or not), and in prefix mode the
/// path goes on unchecked once the automaton dies after accepting.
pub fn dfa_walk(query: &[char], word: &[char], max: usize, prefix: bool) -> Option<usize> {
    dfa_run(query, word, max, prefix).ok()
}

/// [`dfa_walk`], or when the word is refused because the automaton died, how many of its
/// first characters already doom every word that starts with them.
fn dfa_run(query: &[char], word: &[char], max: usize, prefix: bool) -> Result<usize, usize> {
    let is_match = |r: &Row| r.last().is_some_and(|&(i, _)| i == query.len());
    let cost = |r: &Row| r.last().map_or(0, |&(_, v)| v);
    // (row, its cost) — the start state's cost is 0 whatever its row says.
    let mut state: Option<(Row, usize)> = Some((start_row(query, max), 0));
    let mut min_dist = max + 1;
    let mut reported = max + 1;
    let mut matched = false;
    // `usize::MAX`: refused without dooming longer words.
    const NOT_DOOMED: usize = usize::MAX;
    for (i, &c) in word.iter().enumerate() {
        let Some((row, row_cost)) = &state else {
            matched = true;
            continue;
        };
        matched = is_match(row);
        if matched {
            reported = (*row_cost).min(min_dist);
        }
        let next = step(query, max, row, c);
        if !next.is_empty() {
            let next_cost = cost(&next);
            if is_match(&next) {
                matched = true;
                reported = next_cost.min(min_dist);
            }
            min_dist = next_cost.min(min_dist);
            state = Some((next, next_cost));
        } else if prefix && matched {
            state = None;
        } else {
            return Err(i + 1);
        }
    }
    if word.is_empty() {
        return match &state {
            Some((row, _)) if is_match(row) => Ok(0),
            _ => Err(NOT_DOOMED),
        };
    }
    if matched {
        Ok(reported)
    } else {
        Err(NOT_DOOMED)
    }
}

/// The words of a sorted map the automaton accepts, with their distance, without reading
/// them all: when a word's first `k` characters kill the automaton, every word that starts
/// with them is skipped (the map is sorted, so they come next). Words are compared folded
/// (`fold`), which keeps the order for the lower-case words the term dictionary holds and
/// costs only speed otherwise.
pub fn dfa_scan<'m, K, V>(
    map: &'m BTreeMap<K, V>,
    query: &[char],
    max: usize,
    prefix: bool,
) -> Vec<(&'m K, &'m V, usize)>
where
    K: std::borrow::Borrow<str> + Ord,
{
    use std::ops::Bound;
    let mut out = Vec::new();
    let mut from: Option<String> = None;
    loop {
        let mut range = match &from {
            None => map.range::<str, _>((Bound::Unbounded, Bound::Unbounded)),
            Some(f) => map.range::<str, _>((Bound::Excluded(f.as_str()), Bound::Unbounded)),
        };
        let Some((k, v)) = range.next() else { break };
        let word: &str = k.borrow();
        let chars: Vec<char> = word.chars().map(fold_char).collect();
        match dfa_run(query, &chars, max, prefix) {
            Ok(d) => {
                out.push((k, v, d));
                from = Some(word.to_string());
            }
            Err(n) if n <= chars.len() => {
                // Past every word starting with these characters (as far as the map's
                // byte order groups them: the largest character closes the group).
                let mut dead: String = word.chars().take(n).collect();
                dead.push(char::MAX);
                from = Some(dead.max(word.to_string()));
            }
            Err(_) => from = Some(word.to_string()),
        }
    }
    out
}

/// Whether RediSearch takes `word` for an exact match of the folded `query`: it compares the
/// 16-bit runes with `memcmp` over as many *bytes* as there are runes, so only the first half
/// of the runes (and the low byte of the middle one) really count.
fn rune_prefix_equal(query: &[char], word: &[char]) -> bool {
    let bytes = |s: &[char]| -> Vec<u8> {
        s.iter()
            .flat_map(|&c| (c as u32 as u16).to_le_bytes())
            .collect()
    };
    let n = word.len();
    n > 0 && n == query.len() && bytes(query)[..n] == bytes(word)[..n]
}

/// FT.DICTADD's named dictionaries: server-wide, case kept, in byte order.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Dictionaries {
    pub dicts: BTreeMap<Vec<u8>, BTreeSet<Vec<u8>>>,
}

impl Dictionaries {
    /// FT.DICTADD: how many of `terms` were new. The dictionary exists afterwards even if
    /// none was.
    pub fn add<'a>(&mut self, name: &[u8], terms: impl IntoIterator<Item = &'a [u8]>) -> usize {
        let dict = self.dicts.entry(name.to_vec()).or_default();
        terms
            .into_iter()
            .filter(|t| storable(t))
            .filter(|t| dict.insert(t.to_vec()))
            .count()
    }

    /// FT.DICTDEL: how many of `terms` were there. An emptied dictionary stays.
    pub fn remove<'a>(&mut self, name: &[u8], terms: impl IntoIterator<Item = &'a [u8]>) -> usize {
        let Some(dict) = self.dicts.get_mut(name) else {
            return 0;
        };
        terms.into_iter().filter(|t| dict.remove(*t)).count()
    }

    pub fn get(&self, name: &[u8]) -> Option<&BTreeSet<Vec<u8>>> {
        self.dicts.get(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Scores widened to f64, as the reply prints them.
    fn scores(s: &Suggestions, prefix: &str, fuzzy: bool) -> Vec<(String, f64)> {
        s.lookup(prefix.as_bytes(), fuzzy, 10)
            .unwrap()
            .into_iter()
            .map(|h| {
                let text = String::from_utf8_lossy(h.string).into_owned();
                (text, f64::from(h.score))
            })
            .collect()
    }

    #[test]
    fn scores_are_redisearchs() {
        // Values read from RediSearch 2.10.5 for the same inserts.
        let mut s = Suggestions::default();
        s.add(b"hello", 1.0, false, None);
        s.add(b"help", 2.0, false, None);
        s.add(b"helicopter", 3.0, false, Some(b"pp"));
        s.add(b"hel", 0.5, false, None);
        s.add(b"Hello", 4.0, true, None);
        s.add(b"hello", 1.0, true, None);
        let got = scores(&s, "HEL", false);
        assert_eq!(got[0], ("hel".into(), 2147483648.0));
        assert_eq!(got[1], ("Hello".into(), 2.309401035308838));
        assert_eq!(got[2], ("help".into(), 1.4142135381698608));
        assert_eq!(got[3], ("hello".into(), 1.154700517654419));
        assert_eq!(got[4], ("helicopter".into(), 1.0606601238250732));
        let fuzzy = scores(&s, "hrl", true);
        assert_eq!(fuzzy[0], ("Hello".into(), 0.31254345178604126));
        assert_eq!(fuzzy[4], ("hel".into(), 0.0676676407456398));
        // The length gap counts the prefix in bytes: é is two.
        s.add("héllo".as_bytes(), 3.0, false, None);
        let accent = scores(&s, "HÉL", false);
        assert_eq!(accent, vec![("héllo".into(), 2.1213202476501465)]);
        assert_eq!(
            scores(&s, "héllo", false),
            vec![("héllo".into(), 1518500224.0)]
        );
    }

    #[test]
    fn limits_and_payloads() {
        let mut s = Suggestions::default();
        s.add(&[b'a'; 255], 1.0, false, None);
        s.add(&[b'b'; 256], 1.0, false, None);
        s.add(b"", 1.0, false, None);
        assert_eq!(s.len(), 1);
        assert!(s.lookup(&[b'a'; 100], false, 5).is_none());
        assert_eq!(s.lookup(&[b'a'; 99], false, 5).unwrap().len(), 1);
        s.add(b"x", 1.0, false, Some(b"p"));
        s.add(b"x", 2.0, true, Some(b""));
        s.add(b"x", 5.0, false, None);
        let e = s.iter().find(|(k, _)| *k == b"x").unwrap().1;
        assert_eq!(e.score, 5.0);
        assert_eq!(e.payload.as_deref(), Some(&b"p"[..]));
        assert!(s.remove(b"x"));
        assert!(!s.remove(b"x"));
    }

    #[test]
    fn distances_as_redisearchs_filter_reports_them() {
        let c = |s: &str| s.chars().collect::<Vec<_>>();
        assert_eq!(dfa_walk(&c("hrl"), &c("hello"), 1, true), Some(1));
        assert_eq!(dfa_walk(&c("hel"), &c("hello"), 1, true), Some(0));
        assert_eq!(dfa_walk(&c("xyz"), &c("hello"), 1, true), None);
        // An empty prefix reports 1 for every word (RediSearch 2.10.5 does so).
        assert_eq!(dfa_walk(&c(""), &c("abc"), 1, true), Some(1));
        assert_eq!(dfa_walk(&c("ca"), &c("caelll"), 1, true), Some(0));
        assert_eq!(dfa_walk(&c("ca"), &c("cl"), 1, true), Some(1));
        assert!(dfa_walk(&c("helo"), &c("hello"), 1, false).is_some());
        assert!(dfa_walk(&c("hel"), &c("+hell"), 2, false).is_some());
        assert!(dfa_walk(&c("hel"), &c("+hell"), 1, false).is_none());
        assert!(dfa_walk(&c("hel"), &c("hel"), 0, false).is_some());
        assert!(dfa_walk(&c("hel"), &c("help"), 0, false).is_none());
    }

    #[test]
    fn exact_matches_compare_bytes_as_redisearch_does() {
        let c = |s: &str| s.chars().collect::<Vec<_>>();
        assert!(rune_prefix_equal(&c("cah"), &c("cac")));
        assert!(rune_prefix_equal(&c("bl"), &c("be")));
        assert!(!rune_prefix_equal(&c("hel"), &c("Hel")));
        assert!(!rune_prefix_equal(&c("hel"), &c("hell")));
    }

    #[test]
    fn dictionaries_count_what_changed() {
        let mut d = Dictionaries::default();
        assert_eq!(d.add(b"d", [&b"a"[..], b"b", b"a", b""]), 2);
        assert_eq!(d.remove(b"d", [&b"a"[..], b"zz"]), 1);
        assert_eq!(d.remove(b"nope", [&b"a"[..]]), 0);
        assert_eq!(d.get(b"d").unwrap().len(), 1);
    }
}
