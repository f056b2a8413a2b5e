//! FT.CONFIG: the RediSearch settings this engine honours, with RediSearch 2.10's names,
//! defaults, bounds and replies. Only settings that change what a search does are here; an
//! option RediSearch has for its own machinery (its GC, its thread pool) is unknown, so
//! `FT.CONFIG SET` of it says `Invalid option` rather than pretending.
//!
//! Each value is one atomic: read by searches on any thread, written by FT.CONFIG on the main
//! thread; a search reads each value once, so a change applies to the next search.

use std::sync::atomic::{AtomicI64, Ordering};

pub struct Setting {
    pub name: &'static str,
    pub description: &'static str,
    value: &'static AtomicI64,
    min: i64,
    max: i64,
    /// The error RediSearch gives below `min` (its texts differ by setting).
    too_low: &'static str,
    too_high: &'static str,
    /// RediSearch reads MINSTEMLEN's word as a number without checking it: anything but a
    /// number is 0, too low.
    lenient: bool,
}

static DEFAULT_DIALECT: AtomicI64 = AtomicI64::new(2);
static MIN_STEM_LEN: AtomicI64 = AtomicI64::new(4);
static MAX_PREFIX_EXPANSIONS: AtomicI64 = AtomicI64::new(200);

const BOUNDS: &str = "Value is outside acceptable bounds";

pub static SETTINGS: [Setting; 4] = [
    Setting {
        name: "DEFAULT_DIALECT",
        description: "Set RediSearch default dialect version throught the lifetime of the server.",
        value: &DEFAULT_DIALECT,
        min: 1,
        max: 4,
        too_low: BOUNDS,
        too_high: "Default dialect version cannot be higher than 4",
        lenient: false,
    },
    Setting {
        name: "MINSTEMLEN",
        description: "Set the minimum word length to stem (default 4)",
        value: &MIN_STEM_LEN,
        min: 2,
        max: i64::MAX,
        too_low: "Minimum stem length cannot be lower than 2",
        too_high: BOUNDS,
        lenient: true,
    },
    Setting {
        name: "MAXEXPANSIONS",
        description: "Maximum prefix expansions to be used in a query",
        value: &MAX_PREFIX_EXPANSIONS,
        min: 1,
        max: i64::MAX,
        too_low: BOUNDS,
        too_high: BOUNDS,
        lenient: false,
    },
    Setting {
        name: "MAXPREFIXEXPANSIONS",
        description: "Maximum prefix expansions to be used in a query",
        value: &MAX_PREFIX_EXPANSIONS,
        min: 1,
        max: i64::MAX,
        too_low: BOUNDS,
        too_high: BOUNDS,
        lenient: false,
    },
];

impl Setting {
    pub fn get(&self) -> i64 {
        self.value.load(Ordering::Relaxed)
    }

    /// Sets the value from FT.CONFIG SET's word, or says why not (RediSearch's texts).
    pub fn set(&self, word: &[u8]) -> Result<(), &'static str> {
        let parsed: Option<i64> = std::str::from_utf8(word).ok().and_then(|s| s.parse().ok());
        let v = match (parsed, self.lenient) {
            (Some(v), _) => v,
            (None, true) => 0,
            (None, false) => return Err("Could not convert argument to expected type"),
        };
        if v < self.min {
            return Err(self.too_low);
        }
        if v > self.max {
            return Err(self.too_high);
        }
        self.value.store(v, Ordering::Relaxed);
        Ok(())
    }
}

/// The settings FT.CONFIG GET/HELP `pattern` names: `*` for all, else one by name (any case).
pub fn matching(pattern: &[u8]) -> Vec<&'static Setting> {
    SETTINGS
        .iter()
        .filter(|s| pattern == b"*" || s.name.as_bytes().eq_ignore_ascii_case(pattern))
        .collect()
}

/// The dialect a query without DIALECT is parsed in. 2 here, where RediSearch says 1: a
/// vector query without DIALECT works (RediSearch refuses it unless its default is raised);
/// `FT.CONFIG SET DEFAULT_DIALECT 1` gives RediSearch's default.
pub fn default_dialect() -> u8 {
    DEFAULT_DIALECT.load(Ordering::Relaxed).clamp(1, 4) as u8
}

/// Tokens shorter than this (in bytes) are not stemmed, at indexing or in queries.
pub fn min_stem_len() -> usize {
    MIN_STEM_LEN.load(Ordering::Relaxed).max(2) as usize
}

/// At most this many dictionary terms stand for one prefix, suffix, infix or fuzzy term.
pub fn max_prefix_expansions() -> usize {
    MAX_PREFIX_EXPANSIONS.load(Ordering::Relaxed).max(1) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_and_texts_are_redisearchs() {
        let s = &SETTINGS[0];
        assert_eq!(s.set(b"0"), Err("Value is outside acceptable bounds"));
        assert_eq!(
            s.set(b"5"),
            Err("Default dialect version cannot be higher than 4")
        );
        assert_eq!(
            s.set(b"x"),
            Err("Could not convert argument to expected type")
        );
        assert_eq!(
            SETTINGS[1].set(b"1"),
            Err("Minimum stem length cannot be lower than 2")
        );
        assert_eq!(matching(b"default_dialect").len(), 1);
        assert_eq!(matching(b"*").len(), SETTINGS.len());
        assert!(matching(b"NOGC").is_empty());
    }
}
