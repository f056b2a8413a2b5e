//! FT.CONFIG: RediSearch 2.10's settings, with its names, defaults, bounds and replies.
//! Those that apply here change what a search does (DEFAULT_DIALECT, MINSTEMLEN,
//! MAXEXPANSIONS / MAXPREFIXEXPANSIONS, MAXSEARCHRESULTS, MAXAGGREGATERESULTS,
//! _PRINT_PROFILE_CLOCK, TIMEOUT / ON_TIMEOUT); the others (RediSearch's GC, iterators,
//! cursors) are listed with their values and take SET within RediSearch's bounds, with no
//! effect. A name RediSearch 2.10 lacks is
//! `Invalid option`.
//!
//! Each value is one atomic: read by searches on any thread, written by FT.CONFIG on the main
//! thread; a search reads each value once, so a change applies to the next search.

use std::sync::atomic::{AtomicI64, Ordering};

/// How a setting's word is read and shown.
#[derive(Clone, Copy)]
enum Kind {
    /// A number within bounds; `lenient`: anything but a number reads as 0 (MINSTEMLEN's
    /// way).
    Int {
        min: i64,
        max: i64,
        /// The error RediSearch gives below `min` (its texts differ by setting).
        too_low: &'static str,
        too_high: &'static str,
        lenient: bool,
    },
    /// A result count: a negative number means no limit, shown `unlimited`.
    Limit,
    /// `true` / `false`.
    Bool,
    /// ON_TIMEOUT's `return` / `fail` (0 / 1).
    OnTimeout,
    /// Set when the server starts, in RediSearch; shown with its value, refused by SET.
    Fixed(Option<&'static str>),
}

pub struct Setting {
    pub name: &'static str,
    pub description: &'static str,
    value: &'static AtomicI64,
    kind: Kind,
}

static DEFAULT_DIALECT: AtomicI64 = AtomicI64::new(2);
static MIN_STEM_LEN: AtomicI64 = AtomicI64::new(4);
static MAX_PREFIX_EXPANSIONS: AtomicI64 = AtomicI64::new(200);
static MAX_SEARCH_RESULTS: AtomicI64 = AtomicI64::new(1_000_000);
static MAX_AGGREGATE_RESULTS: AtomicI64 = AtomicI64::new(-1);
static TIMEOUT: AtomicI64 = AtomicI64::new(500);
static ON_TIMEOUT: AtomicI64 = AtomicI64::new(0);
static PRINT_PROFILE_CLOCK: AtomicI64 = AtomicI64::new(1);
// Settings of RediSearch's own machinery (its GC, iterators, cursors): kept and shown so
// tools reading them find RediSearch's values, with no effect here.
static MIN_PREFIX: AtomicI64 = AtomicI64::new(2);
static FORKGC_SLEEP: AtomicI64 = AtomicI64::new(0);
static GC_SCAN_SIZE: AtomicI64 = AtomicI64::new(100);
static MIN_PHONETIC_TERM_LEN: AtomicI64 = AtomicI64::new(3);
static FORK_GC_RUN_INTERVAL: AtomicI64 = AtomicI64::new(30);
static FORK_GC_CLEAN_THRESHOLD: AtomicI64 = AtomicI64::new(100);
static FORK_GC_RETRY_INTERVAL: AtomicI64 = AtomicI64::new(5);
static FORK_GC_CLEAN_NUMERIC: AtomicI64 = AtomicI64::new(1);
static UNION_ITERATOR_HEAP: AtomicI64 = AtomicI64::new(20);
static CURSOR_MAX_IDLE: AtomicI64 = AtomicI64::new(300_000);
static NUMERIC_COMPRESS: AtomicI64 = AtomicI64::new(0);
static FREE_ON_THREAD: AtomicI64 = AtomicI64::new(1);
static NUMERIC_RANGES_PARENTS: AtomicI64 = AtomicI64::new(0);
static VSS_MAX_RESIZE: AtomicI64 = AtomicI64::new(0);
static PRIORITIZE_UNION_CHILDREN: AtomicI64 = AtomicI64::new(0);
/// The value cell of a `Fixed` setting (never read: `Fixed` carries its text).
static FIXED: AtomicI64 = AtomicI64::new(0);

const BOUNDS: &str = "Value is outside acceptable bounds";

const fn int(min: i64, max: i64) -> Kind {
    Kind::Int {
        min,
        max,
        too_low: BOUNDS,
        too_high: BOUNDS,
        lenient: false,
    }
}

const fn setting(
    name: &'static str,
    description: &'static str,
    value: &'static AtomicI64,
    kind: Kind,
) -> Setting {
    Setting {
        name,
        description,
        value,
        kind,
    }
}

/// RediSearch 2.10's settings, in the order its `FT.CONFIG GET *` lists them, with its
/// descriptions (typos included: clients match them).
pub static SETTINGS: [Setting; 36] = [
    setting(
        "EXTLOAD",
        "Load extension scoring/expansion module",
        &FIXED,
        Kind::Fixed(None),
    ),
    setting(
        "NOGC",
        "Disable garbage collection (for this process)",
        &FIXED,
        Kind::Fixed(Some("false")),
    ),
    setting(
        "MINPREFIX",
        "Set the minimum prefix for expansions (`*`)",
        &MIN_PREFIX,
        int(1, i64::MAX),
    ),
    setting(
        "MINSTEMLEN",
        "Set the minimum word length to stem (default 4)",
        &MIN_STEM_LEN,
        Kind::Int {
            min: 2,
            max: i64::MAX,
            too_low: "Minimum stem length cannot be lower than 2",
            too_high: BOUNDS,
            lenient: true,
        },
    ),
    setting(
        "FORKGC_SLEEP_BEFORE_EXIT",
        "set the amount of seconds for the fork GC to sleep \
        before exists, should always be set to 0 (other then on tests).",
        &FORKGC_SLEEP,
        int(0, i64::MAX),
    ),
    setting(
        "MAXDOCTABLESIZE",
        "Maximum runtime document table size (for this process)",
        &FIXED,
        Kind::Fixed(Some("1000000")),
    ),
    setting(
        "MAXSEARCHRESULTS",
        "Maximum number of results from ft.search command",
        &MAX_SEARCH_RESULTS,
        Kind::Limit,
    ),
    setting(
        "MAXAGGREGATERESULTS",
        "Maximum number of results from ft.aggregate command",
        &MAX_AGGREGATE_RESULTS,
        Kind::Limit,
    ),
    setting(
        "MAXEXPANSIONS",
        "Maximum prefix expansions to be used in a query",
        &MAX_PREFIX_EXPANSIONS,
        int(1, i64::MAX),
    ),
    setting(
        "MAXPREFIXEXPANSIONS",
        "Maximum prefix expansions to be used in a query",
        &MAX_PREFIX_EXPANSIONS,
        int(1, i64::MAX),
    ),
    setting(
        "TIMEOUT",
        "Query (search) timeout",
        &TIMEOUT,
        int(0, i64::MAX),
    ),
    setting(
        "FRISOINI",
        "Path to Chinese dictionary configuration file (for Chinese tokenization)",
        &FIXED,
        Kind::Fixed(None),
    ),
    setting(
        "ON_TIMEOUT",
        "Action to perform when search timeout is exceeded (choose RETURN or FAIL)",
        &ON_TIMEOUT,
        Kind::OnTimeout,
    ),
    setting(
        "GCSCANSIZE",
        "Scan this many documents at a time during every GC iteration",
        &GC_SCAN_SIZE,
        int(1, i64::MAX),
    ),
    setting(
        "MIN_PHONETIC_TERM_LEN",
        "Minumum length of term to be considered for phonetic matching",
        &MIN_PHONETIC_TERM_LEN,
        int(1, i64::MAX),
    ),
    setting(
        "GC_POLICY",
        "gc policy to use (DEFAULT/LEGACY)",
        &FIXED,
        Kind::Fixed(Some("fork")),
    ),
    setting(
        "FORK_GC_RUN_INTERVAL",
        "interval (in seconds) in which to run the fork gc \
        (relevant only when fork gc is used)",
        &FORK_GC_RUN_INTERVAL,
        int(1, i64::MAX),
    ),
    setting(
        "FORK_GC_CLEAN_THRESHOLD",
        "the fork gc will only start to clean when the number \
        of not cleaned document will exceed this threshold",
        &FORK_GC_CLEAN_THRESHOLD,
        int(0, i64::MAX),
    ),
    setting(
        "FORK_GC_RETRY_INTERVAL",
        "interval (in seconds) in which to retry running the forkgc after failure.",
        &FORK_GC_RETRY_INTERVAL,
        int(1, i64::MAX),
    ),
    setting(
        "FORK_GC_CLEAN_NUMERIC_EMPTY_NODES",
        "clean empty nodes from numeric tree",
        &FORK_GC_CLEAN_NUMERIC,
        Kind::Fixed(Some("true")),
    ),
    setting(
        "_FORK_GC_CLEAN_NUMERIC_EMPTY_NODES",
        "clean empty nodes from numeric tree",
        &FORK_GC_CLEAN_NUMERIC,
        Kind::Bool,
    ),
    setting(
        "UNION_ITERATOR_HEAP",
        "minimum number of iterators in a union from which the \
        interator willswitch to heap based implementation.",
        &UNION_ITERATOR_HEAP,
        int(1, i64::MAX),
    ),
    setting(
        "CURSOR_MAX_IDLE",
        "max idle time allowed to be set for cursor, setting it hight \
        might cause high memory consumption.",
        &CURSOR_MAX_IDLE,
        int(1, i64::MAX),
    ),
    setting(
        "NO_MEM_POOLS",
        "Set RediSearch to run without memory pools",
        &FIXED,
        Kind::Fixed(Some("false")),
    ),
    setting(
        "PARTIAL_INDEXED_DOCS",
        "Enable commands filter which optimize indexing on partial hash updates",
        &FIXED,
        Kind::Fixed(Some("false")),
    ),
    setting(
        "UPGRADE_INDEX",
        "Relevant only when loading an v1.x rdb, specify argument for \
        upgrading the index.",
        &FIXED,
        Kind::Fixed(Some("Upgrade config for upgrading")),
    ),
    setting(
        "_NUMERIC_COMPRESS",
        "Enable legacy compression of double to float.",
        &NUMERIC_COMPRESS,
        Kind::Bool,
    ),
    setting(
        "_FREE_RESOURCE_ON_THREAD",
        "Determine whether some index resources are free on a second thread.",
        &FREE_ON_THREAD,
        Kind::Bool,
    ),
    setting(
        "_PRINT_PROFILE_CLOCK",
        "Disable print of time for ft.profile. For testing only.",
        &PRINT_PROFILE_CLOCK,
        Kind::Bool,
    ),
    setting(
        "RAW_DOCID_ENCODING",
        "Disable compression for DocID inverted index. Boost CPU performance.",
        &FIXED,
        Kind::Fixed(Some("false")),
    ),
    setting(
        "_NUMERIC_RANGES_PARENTS",
        "Keep numeric ranges in numeric tree parent nodes of \
        leafs for `x` generations.",
        &NUMERIC_RANGES_PARENTS,
        Kind::Int {
            min: 0,
            max: 2,
            too_low: BOUNDS,
            too_high: "Max depth for range cannot be higher than max depth for balance",
            lenient: false,
        },
    ),
    setting(
        "DEFAULT_DIALECT",
        "Set RediSearch default dialect version throught the lifetime of the server.",
        &DEFAULT_DIALECT,
        Kind::Int {
            min: 1,
            max: 4,
            too_low: BOUNDS,
            too_high: "Default dialect version cannot be higher than 4",
            lenient: false,
        },
    ),
    setting(
        "VSS_MAX_RESIZE",
        "Set RediSearch vector indexes max resize (in bytes).",
        &VSS_MAX_RESIZE,
        int(0, u32::MAX as i64),
    ),
    setting(
        "MULTI_TEXT_SLOP",
        "Set RediSearch delta used to increase positional offsets \
        between array slots for multi text values.Can control the level of separation between \
        phrases in different array slots (related to the SLOP parameter of ft.search command)",
        &FIXED,
        Kind::Fixed(Some("100")),
    ),
    setting(
        "BG_INDEX_SLEEP_GAP",
        "The number of iterations to run while performing \
        background indexing before we call usleep(1) (sleep for 1 micro-second) and make sure \
        that we allow redis process other commands.",
        &FIXED,
        Kind::Fixed(Some("100")),
    ),
    setting(
        "_PRIORITIZE_INTERSECT_UNION_CHILDREN",
        "Intersection iterator orders the children \
        iterators by their relative estimated number of results in ascending order, so that if \
        we see first iterators with a lower count of results we will skip a larger number of \
        results, which translates into faster iteration. If this flag is set, we use this \
        optimization in a way where union iterators are being factorize by the number of their \
        own children, so that we sort by the number of children times the overall estimated \
        number of results instead.",
        &PRIORITIZE_UNION_CHILDREN,
        Kind::Bool,
    ),
];

const CONVERT: &str = "Could not convert argument to expected type";

impl Setting {
    /// The value as FT.CONFIG GET shows it (`None`: a null).
    pub fn shown(&self) -> Option<String> {
        let v = self.value.load(Ordering::Relaxed);
        match self.kind {
            Kind::Int { .. } => Some(v.to_string()),
            Kind::Limit if v < 0 => Some("unlimited".into()),
            Kind::Limit => Some(v.to_string()),
            Kind::Bool => Some(if v != 0 { "true" } else { "false" }.into()),
            Kind::OnTimeout => Some(if v != 0 { "fail" } else { "return" }.into()),
            Kind::Fixed(text) => text.map(str::to_string),
        }
    }

    /// Sets the value from FT.CONFIG SET's word, or says why not (RediSearch's texts).
    pub fn set(&self, word: &[u8]) -> Result<(), &'static str> {
        let text = std::str::from_utf8(word).unwrap_or("");
        let parsed: Option<i64> = text.parse().ok();
        let v = match self.kind {
            Kind::Int {
                min,
                max,
                too_low,
                too_high,
                lenient,
            } => {
                let v = match (parsed, lenient) {
                    (Some(v), _) => v,
                    (None, true) => 0,
                    (None, false) => return Err(CONVERT),
                };
                if v < min {
                    return Err(too_low);
                }
                if v > max {
                    return Err(too_high);
                }
                v
            }
            Kind::Limit => parsed.ok_or(CONVERT)?.max(-1),
            Kind::Bool => match text.to_ascii_lowercase().as_str() {
                "true" => 1,
                "false" => 0,
                _ => return Err(CONVERT),
            },
            Kind::OnTimeout => match text.to_ascii_lowercase().as_str() {
                "return" => 0,
                "fail" => 1,
                _ => return Err("Invalid ON_TIMEOUT value"),
            },
            Kind::Fixed(_) => return Err("Not modifiable at runtime"),
        };
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

/// MAXSEARCHRESULTS: the largest LIMIT count FT.SEARCH takes (`None`: no limit).
pub fn max_search_results() -> Option<u64> {
    u64::try_from(MAX_SEARCH_RESULTS.load(Ordering::Relaxed)).ok()
}

/// `MAXAGGREGATERESULTS`: FT.AGGREGATE's LIMIT count bound (`None`: unlimited).
pub fn max_aggregate_results() -> Option<u64> {
    u64::try_from(MAX_AGGREGATE_RESULTS.load(Ordering::Relaxed)).ok()
}

/// `_PRINT_PROFILE_CLOCK`: FT.PROFILE shows its times (otherwise zeros, for tests).
pub fn print_profile_clock() -> bool {
    PRINT_PROFILE_CLOCK.load(Ordering::Relaxed) != 0
}

/// When a search that starts now must stop: after its own TIMEOUT (`arg`) if it gave one,
/// else after FT.CONFIG's TIMEOUT; 0 means never, in both.
pub fn deadline(arg: Option<u64>) -> Option<std::time::Instant> {
    let ms = arg.unwrap_or_else(|| TIMEOUT.load(Ordering::Relaxed).max(0) as u64);
    (ms > 0).then(|| std::time::Instant::now() + std::time::Duration::from_millis(ms))
}

/// ON_TIMEOUT FAIL: a search that reaches its deadline is an error, not a partial answer.
pub fn fail_on_timeout() -> bool {
    ON_TIMEOUT.load(Ordering::Relaxed) != 0
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
        let s = by_name("DEFAULT_DIALECT");
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
            by_name("MINSTEMLEN").set(b"1"),
            Err("Minimum stem length cannot be lower than 2")
        );
        assert_eq!(matching(b"default_dialect").len(), 1);
        assert_eq!(matching(b"*").len(), SETTINGS.len());
        assert!(matching(b"WORKERS").is_empty());
        assert_eq!(by_name("NOGC").set(b"1"), Err("Not modifiable at runtime"));
        assert_eq!(by_name("EXTLOAD").shown(), None);
        let m = by_name("MAXAGGREGATERESULTS");
        assert_eq!(m.shown().as_deref(), Some("unlimited"));
        m.set(b"5").unwrap();
        assert_eq!(m.shown().as_deref(), Some("5"));
        m.set(b"-7").unwrap();
        assert_eq!(m.shown().as_deref(), Some("unlimited"));
        let t = by_name("ON_TIMEOUT");
        assert_eq!(t.set(b"x"), Err("Invalid ON_TIMEOUT value"));
        t.set(b"FAIL").unwrap();
        assert_eq!(t.shown().as_deref(), Some("fail"));
        t.set(b"return").unwrap();
        assert_eq!(
            by_name("TIMEOUT").set(b"-1"),
            Err("Value is outside acceptable bounds")
        );
        assert_eq!(by_name("_NUMERIC_COMPRESS").set(b"x"), Err(CONVERT));
    }

    fn by_name(name: &str) -> &'static Setting {
        SETTINGS.iter().find(|s| s.name == name).unwrap()
    }
}
