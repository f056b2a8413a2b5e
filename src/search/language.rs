//! Stemming languages: RediSearch's names (`LANGUAGE` at FT.CREATE and FT.SEARCH, and a
//! document's `LANGUAGE_FIELD`), each with its Snowball stemmer from `rust-stemmers`.
//!
//! RediSearch knows more languages than `rust-stemmers` has stemmers for (Armenian, Basque,
//! Catalan, Hindi, Indonesian, Irish, Lithuanian, Nepali, Serbian, Yiddish, and Chinese, which
//! it segments rather than stems). Those are refused by name rather than indexed unstemmed:
//! an accepted language must find what RediSearch finds.

use rust_stemmers::{Algorithm, Stemmer};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Language {
    Arabic,
    Danish,
    Dutch,
    #[default]
    English,
    Finnish,
    French,
    German,
    Greek,
    Hungarian,
    Italian,
    Norwegian,
    Portuguese,
    Romanian,
    Russian,
    Spanish,
    Swedish,
    Tamil,
    Turkish,
}

/// What a language name is to this module.
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup {
    Found(Language),
    /// A RediSearch language without a stemmer here.
    NoStemmer(&'static str),
    Unknown,
}

const ALL: [(&str, Language); 18] = [
    ("arabic", Language::Arabic),
    ("danish", Language::Danish),
    ("dutch", Language::Dutch),
    ("english", Language::English),
    ("finnish", Language::Finnish),
    ("french", Language::French),
    ("german", Language::German),
    ("greek", Language::Greek),
    ("hungarian", Language::Hungarian),
    ("italian", Language::Italian),
    ("norwegian", Language::Norwegian),
    ("portuguese", Language::Portuguese),
    ("romanian", Language::Romanian),
    ("russian", Language::Russian),
    ("spanish", Language::Spanish),
    ("swedish", Language::Swedish),
    ("tamil", Language::Tamil),
    ("turkish", Language::Turkish),
];

const WITHOUT_STEMMER: [&str; 11] = [
    "armenian",
    "basque",
    "catalan",
    "chinese",
    "hindi",
    "indonesian",
    "irish",
    "lithuanian",
    "nepali",
    "serbian",
    "yiddish",
];

impl Language {
    /// A language by RediSearch's name, in any case.
    pub fn lookup(name: &[u8]) -> Lookup {
        let name = String::from_utf8_lossy(name).to_ascii_lowercase();
        if let Some((_, l)) = ALL.iter().find(|(n, _)| *n == name) {
            return Lookup::Found(*l);
        }
        match WITHOUT_STEMMER.iter().find(|n| **n == name) {
            Some(n) => Lookup::NoStemmer(n),
            None => Lookup::Unknown,
        }
    }

    pub fn name(self) -> &'static str {
        ALL.iter()
            .find(|(_, l)| *l == self)
            .map_or("english", |(n, _)| n)
    }

    pub fn stemmer(self) -> Stemmer {
        Stemmer::create(match self {
            Language::Arabic => Algorithm::Arabic,
            Language::Danish => Algorithm::Danish,
            Language::Dutch => Algorithm::Dutch,
            Language::English => Algorithm::English,
            Language::Finnish => Algorithm::Finnish,
            Language::French => Algorithm::French,
            Language::German => Algorithm::German,
            Language::Greek => Algorithm::Greek,
            Language::Hungarian => Algorithm::Hungarian,
            Language::Italian => Algorithm::Italian,
            Language::Norwegian => Algorithm::Norwegian,
            Language::Portuguese => Algorithm::Portuguese,
            Language::Romanian => Algorithm::Romanian,
            Language::Russian => Algorithm::Russian,
            Language::Spanish => Algorithm::Spanish,
            Language::Swedish => Algorithm::Swedish,
            Language::Tamil => Algorithm::Tamil,
            Language::Turkish => Algorithm::Turkish,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(Language::lookup(b"GERMAN"), Lookup::Found(Language::German));
        assert_eq!(Language::lookup(b"basque"), Lookup::NoStemmer("basque"));
        assert_eq!(Language::lookup(b"klingon"), Lookup::Unknown);
        assert_eq!(Language::German.name(), "german");
        assert_eq!(Language::German.stemmer().stem("häuser"), "haus");
    }
}
