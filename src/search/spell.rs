//! FT.SPELLCHECK: suggestions for a query's terms from an index's term dictionary and from
//! FT.DICTADD dictionaries, scored and ordered as RediSearch 2.10 does.
//!
//! For each term of the query (in query order, negated and phrase terms included):
//! - a term the index holds gets no entry (unless FULLSCOREINFO asks to say so);
//! - a term in an EXCLUDE dictionary gets no entry;
//! - otherwise its suggestions are the index's terms within DISTANCE edits (stems `+x` and
//!   synonym groups `~g` included, as RediSearch keeps them in the same dictionary), scored by
//!   how many documents hold them — dropped when none holds it in the clause's fields — and
//!   then the INCLUDE dictionaries' words within DISTANCE not suggested yet, scored the same
//!   way (0 when the index lacks them).
//!
//! Scores are divided by the number of documents when replied. RediSearch gathers the
//! suggestions in a trie sorted by score and then sorts them stably by score; among equal
//! scores the trie's walk order remains, which [`order`] reproduces.
//!
//! Pure: no Redis, no locks.

use std::collections::{BTreeSet, HashSet};

use super::postings::Postings;
use super::suggest::{dfa_scan, dfa_walk, fold};

/// What one query term gets.
#[derive(Debug, Clone, PartialEq)]
pub enum Report {
    /// The index holds it (only reported under FULLSCOREINFO).
    Found,
    /// Suggestions and raw scores: a document count, or -1 for "in no document".
    Suggestions(Vec<(String, f64)>),
}

/// The suggestions for `term` (lower-cased as the query parser leaves it) in a clause over
/// the fields of `mask`; `None` when the term gets no entry at all.
pub fn check(
    postings: &Postings,
    term: &str,
    mask: u64,
    max_dist: usize,
    include: &[&BTreeSet<Vec<u8>>],
    exclude: &[&BTreeSet<Vec<u8>>],
    full_info: bool,
) -> Option<Report> {
    if postings.term(term).is_some() {
        return full_info.then_some(Report::Found);
    }
    let folded: Vec<char> = term.chars().collect();
    let in_dict = |d: &BTreeSet<Vec<u8>>| d.iter().any(|w| fold(w) == folded);
    if exclude.iter().any(|d| in_dict(d)) {
        return None;
    }
    // A document count, or None when the term's documents are all outside the clause's
    // fields (RediSearch then leaves the suggestion out).
    let score_of = |word: &str| -> Option<f64> {
        match postings.term(word) {
            None => Some(0.0),
            Some(t) => (t.docs_in(mask) > 0).then_some(t.docs() as f64),
        }
    };
    let mut found: Vec<(String, f64)> = Vec::new();
    let mut seen: HashSet<Vec<char>> = HashSet::new();
    for (word, _, _) in dfa_scan(postings.term_map(), &folded, max_dist, false) {
        let chars: Vec<char> = word.chars().collect();
        if let Some(score) = score_of(word) {
            seen.insert(chars);
            found.push((word.to_string(), if score == 0.0 { -1.0 } else { score }));
        }
    }
    for dict in include {
        for word in dict.iter() {
            let chars = fold(word);
            if dfa_walk(&folded, &chars, max_dist, false).is_none() || seen.contains(&chars) {
                continue;
            }
            let text = String::from_utf8_lossy(word).into_owned();
            if let Some(score) = score_of(&text) {
                seen.insert(chars);
                found.push((text, if score == 0.0 { -1.0 } else { score }));
            }
        }
    }
    Some(Report::Suggestions(order(found)))
}

/// RediSearch's order of suggestions: its score-sorted trie's walk (each node before its
/// children, children by their subtree's best score, ties in insertion order), then a
/// stable sort by score.
pub fn order(found: Vec<(String, f64)>) -> Vec<(String, f64)> {
    #[derive(Default)]
    struct Node {
        children: Vec<(char, Node)>,
        score: Option<f64>,
        best: f64,
    }
    impl Node {
        fn insert(&mut self, word: &[char], score: f64) {
            self.best = self.best.max(score);
            let Some((&c, rest)) = word.split_first() else {
                self.score = Some(score);
                return;
            };
            let i = match self.children.iter().position(|(k, _)| *k == c) {
                Some(i) => i,
                None => {
                    self.children.push((
                        c,
                        Node {
                            best: f64::NEG_INFINITY,
                            ..Node::default()
                        },
                    ));
                    self.children.len() - 1
                }
            };
            self.children[i].1.insert(rest, score);
        }
        fn walk(&mut self, path: &mut String, out: &mut Vec<(String, f64)>) {
            if let Some(s) = self.score {
                out.push((path.clone(), s));
            }
            self.children.sort_by(|a, b| b.1.best.total_cmp(&a.1.best));
            for (c, n) in &mut self.children {
                path.push(*c);
                n.walk(path, out);
                path.pop();
            }
        }
    }
    let mut root = Node {
        best: f64::NEG_INFINITY,
        ..Node::default()
    };
    for (w, s) in &found {
        let chars: Vec<char> = w.chars().collect();
        root.insert(&chars, *s);
    }
    let mut out = Vec::with_capacity(found.len());
    root.walk(&mut String::new(), &mut out);
    out.sort_by(|a, b| b.1.total_cmp(&a.1));
    out
}

/// The score a client sees: the count over the number of documents (at least 1), and 0 for
/// a word no document holds.
pub fn shown(score: f64, docs: usize) -> f64 {
    if score == -1.0 {
        0.0
    } else {
        score / docs.max(1) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_keep_redisearchs_trie_order() {
        // RediSearch 2.10.5 answered `hel` (DISTANCE 2) over these terms with: hello, hell,
        // hells, held, help, +hell.
        let found = vec![
            ("+hell".to_string(), 1.0),
            ("held".to_string(), 1.0),
            ("hell".to_string(), 1.0),
            ("hello".to_string(), 2.0),
            ("hells".to_string(), 1.0),
            ("help".to_string(), 1.0),
        ];
        let words: Vec<String> = order(found).into_iter().map(|(w, _)| w).collect();
        assert_eq!(words, ["hello", "hell", "hells", "held", "help", "+hell"]);
        let found = vec![
            ("held".to_string(), 1.0),
            ("hell".to_string(), 1.0),
            ("help".to_string(), 1.0),
        ];
        let words: Vec<String> = order(found).into_iter().map(|(w, _)| w).collect();
        assert_eq!(words, ["held", "hell", "help"]);
        assert_eq!(shown(-1.0, 3), 0.0);
        assert_eq!(shown(2.0, 0), 2.0);
    }
}
