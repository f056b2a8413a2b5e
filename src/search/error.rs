//! The search engine's errors: one enum, grouped by family, whose `Display` is the exact text a
//! client receives after the `-` of the error reply, byte for byte what the FT.* commands have
//! always sent (RediSearch's words where it has them, ours where it has none). Most texts carry
//! no `ERR ` prefix, as RediSearch sends them.
//!
//! The command layer wraps a `SearchError` in `AiError::Search` (a `From`, so `?` works) and
//! sends `to_string()`. The failures the index records for FT.INFO are these same texts.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchError {
    // --- Index names (FT.CREATE, FT.INFO, FT.DROPINDEX, FT.SEARCH) ---------------------------
    /// FT.INFO and FT.DROPINDEX of a name that names no index.
    UnknownIndex,
    /// FT.DEBUG TTL of an index without TEMPORARY.
    NotTemporary,
    /// FT.GET / FT.MGET of a name that names no index (`Unknown Index name`).
    UnknownIndexCapital,
    /// FT.SEARCH of a name that names no index (it quotes the name).
    NoSuchIndex(String),
    /// FT.CREATE of a name already taken.
    IndexExists,
    /// FT.CREATE on a server whose AOF would lose the definition.
    NeedsRdbPreamble,
    /// FT.ALIASADD of an alias already taken.
    AliasExists,
    /// FT.ALIASADD / FT.ALIASUPDATE to a name that is no index's own (none, or an alias).
    AliasTargetUnknown,
    /// FT.ALIASDEL of a name that stands for no index.
    AliasMissing,
    /// FT.ALIASDEL of a name that is an index's own name, not its alias.
    AliasOfAnotherIndex,

    // --- Command options (FT.CREATE, FT.SEARCH, FT.DROPINDEX) --------------------------------
    /// A word that is no option of the command.
    UnknownArgument(String),
    /// An option with a missing or malformed value: `Bad arguments for <option>[: <problem>]`.
    BadArguments { option: String, problem: BadArg },
    /// FT.AGGREGATE and FT.CURSOR's own texts (RediSearch's, quoted whole).
    Aggregate(String),
    /// FT.SEARCH `INFIELDS`, recognised and refused.
    InFieldsUnsupported,
    /// FT.CREATE `FILTER`, recognised and refused.
    CreateFilterUnsupported,
    /// FT.SEARCH `DIALECT` outside 1..=4.
    DialectRange,
    /// FT.SEARCH `SORTBY` a name that is neither a field nor a distance the query yields.
    PropertyNotLoaded(String),

    // --- FT.CREATE's schema ------------------------------------------------------------------
    /// No `SCHEMA`, or nothing after it.
    FieldsMissing,
    /// `ON JSON` without RedisJSON (or with one too old to export its API).
    JsonNotLoaded,
    /// An ON JSON field whose JSONPath RedisJSON does not parse (its own message).
    JsonPath { path: String, error: String },
    /// `ON` something other than `HASH` or `JSON`.
    UnknownIndexType(String),
    /// An index or field name that is not UTF-8 (`what` names which).
    NotUtf8 { what: &'static str, text: String },
    /// A field name with nothing after it.
    FieldWithoutType(String),
    /// A field type RediSearch has and we do not (GEO, GEOSHAPE).
    UnsupportedFieldType { field: String, ty: String },
    /// A field type nobody has.
    InvalidFieldType(String),
    /// Two fields of one name.
    DuplicateField(String),
    /// A TAG `SEPARATOR` of other than one byte.
    TagSeparator(String),

    // --- The query string --------------------------------------------------------------------
    /// `Syntax error at offset <at> near <near>`.
    Syntax { at: usize, near: String },
    /// `=>[` followed by something other than `KNN`.
    ExpectedKnn { at: usize, near: String },
    /// A field used where a field of another kind is expected.
    FieldKind {
        at: usize,
        field: String,
        got: &'static str,
        want: &'static str,
    },
    /// Parentheses nested deeper than the parser goes.
    TooDeep,
    /// `@name` that names no field.
    UnknownField { at: usize, name: String },
    /// `$name` that no PARAMS pair defines.
    NoSuchParameter(String),
    /// A parameter used as a number whose value is none.
    ParameterNotNumber { value: String, name: String },
    /// `ismissing(@f)` of a field without INDEXMISSING.
    NotIndexMissing(String),
    /// `''` against a field without INDEXEMPTY.
    NotIndexEmpty,
    /// FT.CREATE SCORE outside 0..1.
    InvalidScore,
    /// LANGUAGE_FIELD, SCORE_FIELD or PAYLOAD_FIELD on a JSON index.
    HashOnlyOption(&'static str),
    /// FT.CREATE LANGUAGE that RediSearch does not know.
    InvalidLanguage,
    /// FT.SEARCH LANGUAGE that RediSearch does not know.
    NoSuchLanguage,
    /// A language RediSearch stems but this module has no stemmer for.
    LanguageWithoutStemmer(&'static str),
    /// A KNN or range option (`EF_RUNTIME`, `EPSILON`, ...) with a bad value.
    InvalidValue { value: String, option: String },
    /// A `=>{$name: ...}` attribute that does not apply where it is written.
    InvalidAttribute(String),
    /// An unknown option inside `[KNN ...]`.
    UnknownVectorParameter(String),
    /// A query vector of the wrong size for its field.
    QueryVectorSize { got: usize, expected: usize },
    /// A KNN over a field with no vector index.
    NotVectorField,

    // --- Documents (recorded as indexing failures, shown by FT.INFO) -------------------------
    /// A NUMERIC field whose value is no number (quotes at most 64 bytes of it).
    DocumentNumeric(String),
    /// A GEO field whose value is not `lon,lat` inside the geohash bounds.
    DocumentGeo,
    /// A geo filter (`@f:[lon lat radius unit]`, GEOFILTER) with a unit none of m, km, mi, ft.
    GeoFilterUnit,
    /// GEOFILTER's unit word, quoted.
    UnknownDistanceUnit(String),
    /// FT.ALTER without SCHEMA after the index name (or SKIPINITIALSCAN).
    AlterNeedsSchema,
    /// FT.ALTER … SCHEMA with another action than ADD.
    AlterUnknownAction,
    /// FT.CREATE … TEXT PHONETIC: no phonetic matcher here.
    PhoneticUnsupported(String),
    /// FT.TAGVALS of an unknown index (RediSearch capitalises it there).
    TagvalsUnknownIndex,
    /// FT.TAGVALS of a field the schema lacks.
    NoSuchField,
    /// FT.TAGVALS of a field that is not a TAG.
    NotTagField,
    /// FT.SEARCH SCORER with a name RediSearch does not know (names are case-sensitive).
    UnknownScorer(String),
    /// FT.SEARCH SCORER HAMMING: it compares document payloads, which this module does not keep.
    ScorerNeedsPayloads,
    /// A geo filter's centre outside the geohash bounds.
    GeoFilterLatLon,
    /// A geo filter's radius of 0 or less.
    GeoFilterRadius,
    /// GEOFILTER with fewer than its five arguments.
    GeoFilterArity,
    /// A VECTOR field whose blob has the wrong size.
    DocumentVectorSize { got: usize, expected: usize },
    /// A VECTOR field holding NaN or infinities.
    DocumentVectorNotFinite,
    /// A JSON value its field cannot index, in RediSearch's words (`Invalid JSON type: ...`,
    /// `Invalid vector length. Expected 3, got 2`, ...).
    DocumentJson(String),

    // --- Execution ---------------------------------------------------------------------------
    /// A search whose job was dropped before it produced an outcome (a panic on its thread).
    DidNotRun,
    /// HIGHLIGHT / SUMMARIZE output past `highlight::MAX_OUTPUT` for one value.
    HighlightTooLarge,
    /// HIGHLIGHT / SUMMARIZE FIELDS naming no field of the schema.
    NoSuchProperty(String),
    /// FT.PROFILE with neither SEARCH nor AGGREGATE.
    ProfileNoCommand,
    /// FT.PROFILE without QUERY.
    ProfileNoQuery,
    /// FT.PROFILE … QUERY with nothing after it.
    ProfileNoQueryString,
    /// `LANGUAGE chinese` (FT.CREATE, FT.SEARCH): no Chinese segmenter here.
    ChineseUnsupported,
    /// LIMIT past MAXSEARCHRESULTS (which it names).
    LimitTooLarge(u64),
    /// TIMEOUT followed by anything but a number of milliseconds.
    BadTimeout,
    /// A search that reached its TIMEOUT under `ON_TIMEOUT FAIL`.
    TimedOut,
    /// A LIMIT offset past MAXSEARCHRESULTS, for a page that is not empty.
    OffsetTooLarge(u64),
}

/// RediSearch's words for a search cut short by its TIMEOUT: the error under ON_TIMEOUT FAIL,
/// the RESP3 reply's warning under ON_TIMEOUT RETURN.
pub const TIMEOUT_REACHED: &str = "Timeout limit was reached";

/// What is wrong with an option's value, after `Bad arguments for <option>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BadArg {
    /// Nothing more is said (`Bad arguments for LIMIT`).
    Plain,
    MissingValue,
    MissingCount,
    InvalidCount,
    CouldNotParse(String),
    /// A number that is none (GEOFILTER's `<lon>`, `<lat>`, `<radius>`).
    CouldNotConvert,
    /// An option's value is absent (`SLOP` last).
    MissingArgument,
    OutOfBounds,
    /// A count larger than the words that follow (`not enough fields`, `keys`, ...).
    NotEnough(&'static str),
    /// RETURN's `AS` at the end of its list.
    AsNeedsName,
    /// PARAMS with an odd count or fewer words than it says.
    OddParams,
    // Vector field definitions.
    /// A value quoted as it is (a vector number type or metric).
    Quoted(String),
    UnknownAlgorithm(String),
    SvsVamana,
    OddAttributes,
    UnknownAttribute {
        key: String,
        field: String,
    },
    MissingTypeDimMetric(String),
    DimTooLarge(usize),
    GraphBounds {
        max_m: usize,
        max_ef: usize,
    },
    RuntimeBounds {
        max_ef: usize,
    },
}

impl SearchError {
    /// `Bad arguments for <option>[: <problem>]`.
    pub fn bad(option: impl Into<String>, problem: BadArg) -> SearchError {
        SearchError::BadArguments {
            option: option.into(),
            problem,
        }
    }
}

impl fmt::Display for SearchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use SearchError::*;
        match self {
            UnknownIndex => f.write_str("Unknown index name"),
            UnknownIndexCapital => f.write_str("Unknown Index name"),
            NotTemporary => f.write_str("Index is not temporary"),
            NoSuchIndex(name) => write!(f, "{name}: no such index"),
            IndexExists => f.write_str("Index already exists"),
            AliasExists => f.write_str("Alias already exists"),
            AliasTargetUnknown => f.write_str("Unknown index name (or name is an alias itself)"),
            AliasMissing => f.write_str("Alias does not exist"),
            AliasOfAnotherIndex => f.write_str("Alias does not belong to provided spec"),
            NeedsRdbPreamble => f.write_str(
                "vector indexes need aof-use-rdb-preamble yes when appendonly is on (their \
                 definitions live in the RDB preamble; a plain AOF rewrite would lose them)",
            ),
            UnknownArgument(word) => write!(f, "Unknown argument `{word}`"),
            BadArguments { option, problem } => {
                write!(f, "Bad arguments for {option}")?;
                match problem {
                    BadArg::Plain => Ok(()),
                    problem => write!(f, ": {problem}"),
                }
            }
            Aggregate(text) => f.write_str(text),
            InFieldsUnsupported => f.write_str("INFIELDS is not supported"),
            CreateFilterUnsupported => {
                f.write_str("FILTER expressions on FT.CREATE are not supported")
            }
            DialectRange => f.write_str("DIALECT requires a non negative integer >=1 and <= 4"),
            PropertyNotLoaded(name) => write!(f, "Property `{name}` not loaded nor in schema"),
            FieldsMissing => f.write_str("Fields arguments are missing"),
            JsonNotLoaded => f.write_str(
                "ON JSON needs RedisJSON (its RedisJSON_V2 API or later), which is not loaded",
            ),
            JsonPath { path, error } => write!(f, "Invalid JSONPath `{path}`: {error}"),
            UnknownIndexType(on) => write!(f, "Unknown index type `{on}`"),
            NotUtf8 { what, text } => write!(f, "{what} is not valid UTF-8: `{text}`"),
            FieldWithoutType(name) => write!(f, "Field `{name}` does not have a type"),
            UnsupportedFieldType { field, ty } => {
                write!(f, "Field `{field}`: {ty} fields are not supported")
            }
            InvalidFieldType(name) => write!(f, "Invalid field type for field `{name}`"),
            DuplicateField(name) => write!(f, "Duplicate field in schema - {name}"),
            TagSeparator(sep) => write!(f, "Tag separator must be a single character. Got `{sep}`"),
            Syntax { at, near } => write!(f, "Syntax error at offset {at} near {near}"),
            ExpectedKnn { at, near } => write!(
                f,
                "Syntax error at offset {at} near {near}: Expecting Vector Similarity command"
            ),
            FieldKind {
                at,
                field,
                got,
                want,
            } => write!(
                f,
                "Syntax error at offset {at} near {field}: {got} field used where a {want} field \
                 is expected"
            ),
            TooDeep => {
                f.write_str("Parser stack overflow. Try moving nested parentheses more to the left")
            }
            UnknownField { at, name } => write!(f, "Unknown field at offset {at} near {name}"),
            NoSuchParameter(name) => write!(f, "No such parameter `{name}`"),
            ParameterNotNumber { value, name } => {
                write!(f, "Invalid numeric value ({value}) for parameter `{name}`")
            }
            NotIndexMissing(name) => write!(
                f,
                "'ismissing' requires field '{name}' to be defined with 'INDEXMISSING'"
            ),
            InvalidScore => f.write_str("Invalid score"),
            HashOnlyOption(option) => {
                write!(f, "{option} is supported for ON HASH indexes only here")
            }
            InvalidLanguage => f.write_str("Invalid language"),
            NoSuchLanguage => f.write_str("No such language"),
            LanguageWithoutStemmer(name) => write!(
                f,
                "Language {name} is not supported here: this module has no stemmer for it"
            ),
            NotIndexEmpty => f.write_str(
                "Use `INDEXEMPTY` in field creation in order to index and query for empty strings",
            ),
            InvalidValue { value, option } => write!(f, "Invalid value ({value}) for {option}"),
            InvalidAttribute(name) => write!(f, "Invalid attribute {name}"),
            UnknownVectorParameter(name) => write!(
                f,
                "Error parsing vector similarity parameters: unknown parameter `{name}`"
            ),
            QueryVectorSize { got, expected } => write!(
                f,
                "Error parsing vector similarity query: query vector blob size ({got}) does not \
                 match index's expected size ({expected})"
            ),
            NotVectorField => {
                f.write_str("Error parsing vector similarity query: not a vector field")
            }
            DocumentNumeric(value) => write!(f, "Invalid numeric value: '{value}'"),
            DocumentGeo => f.write_str("Invalid geo string"),
            GeoFilterUnit => f.write_str("Invalid GeoFilter unit"),
            UnknownDistanceUnit(unit) => write!(f, "Unknown distance unit {unit}"),
            UnknownScorer(name) => write!(f, "No such scorer {name}"),
            TagvalsUnknownIndex => f.write_str("Unknown Index name"),
            AlterNeedsSchema => f.write_str("ALTER must be followed by SCHEMA"),
            AlterUnknownAction => f.write_str("Unknown action passed to ALTER SCHEMA"),
            PhoneticUnsupported(field) => write!(
                f,
                "Field `{field}`: PHONETIC matching is not supported by this module"
            ),
            NoSuchField => f.write_str("No such field"),
            NotTagField => f.write_str("Not a tag field"),
            ScorerNeedsPayloads => f.write_str(
                "SCORER HAMMING needs document payloads, which this module does not keep",
            ),
            GeoFilterLatLon => f.write_str("Invalid GeoFilter lat/lon"),
            GeoFilterRadius => f.write_str("Invalid GeoFilter radius"),
            GeoFilterArity => f.write_str("GEOFILTER requires 5 arguments"),
            DocumentVectorSize { got, expected } => write!(
                f,
                "Could not add vector with blob size {got} (expected size {expected})"
            ),
            DocumentJson(text) => f.write_str(text),
            DocumentVectorNotFinite => {
                f.write_str("Could not add vector: it holds NaN or infinite values")
            }
            DidNotRun => f.write_str("ERR the search did not run"),
            // highlight.rs's MAX_OUTPUT (its test holds the two together).
            HighlightTooLarge => f.write_str("HIGHLIGHT/SUMMARIZE: a value would grow past 64 MB"),
            NoSuchProperty(name) => write!(f, "No such property `{name}`"),
            ProfileNoCommand => f.write_str("No `SEARCH` or `AGGREGATE` provided"),
            ProfileNoQuery => f.write_str("The QUERY keyword is expected"),
            ProfileNoQueryString => f.write_str("No query string provided"),
            ChineseUnsupported => f.write_str(
                "LANGUAGE chinese is not supported: this module has no Chinese tokenizer",
            ),
            LimitTooLarge(max) => write!(f, "LIMIT exceeds maximum of {max}"),
            BadTimeout => f.write_str("TIMEOUT requires a non negative integer"),
            TimedOut => f.write_str(TIMEOUT_REACHED),
            OffsetTooLarge(max) => write!(f, "OFFSET exceeds maximum of {max}"),
        }
    }
}

impl fmt::Display for BadArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use BadArg::*;
        match self {
            Plain => Ok(()),
            MissingValue => f.write_str("missing value"),
            MissingCount => f.write_str("missing count"),
            InvalidCount => f.write_str("invalid count"),
            CouldNotParse(word) => write!(f, "could not parse `{word}`"),
            CouldNotConvert => f.write_str("Could not convert argument to expected type"),
            MissingArgument => f.write_str("Expected an argument, but none provided"),
            OutOfBounds => f.write_str("Value is outside acceptable bounds"),
            NotEnough(what) => write!(f, "not enough {what}"),
            AsNeedsName => f.write_str("AS needs a name"),
            OddParams => f.write_str("expected an even number of arguments"),
            Quoted(value) => write!(f, "`{value}`"),
            UnknownAlgorithm(name) => write!(f, "unknown algorithm `{name}`"),
            SvsVamana => f.write_str("SVS-VAMANA is not supported"),
            OddAttributes => f.write_str("odd number of attribute tokens"),
            UnknownAttribute { key, field } => {
                write!(f, "unknown argument `{key}` for field `{field}`")
            }
            MissingTypeDimMetric(field) => {
                write!(
                    f,
                    "missing TYPE, DIM or DISTANCE_METRIC for field `{field}`"
                )
            }
            DimTooLarge(max) => write!(f, "DIM must be at most {max}"),
            GraphBounds { max_m, max_ef } => write!(
                f,
                "M must be in 2..={max_m} and EF_CONSTRUCTION in 1..={max_ef}"
            ),
            RuntimeBounds { max_ef } => {
                write!(f, "EF_RUNTIME must be in 1..={max_ef} and EPSILON positive")
            }
        }
    }
}

impl std::error::Error for SearchError {}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every family's text, as clients (and tests/python/test_hostile.py) see it.
    #[test]
    fn texts_are_the_wire_texts() {
        let cases: Vec<(SearchError, &str)> = vec![
            (SearchError::UnknownIndex, "Unknown index name"),
            (SearchError::NoSuchIndex("x".into()), "x: no such index"),
            (SearchError::IndexExists, "Index already exists"),
            (
                SearchError::bad("LIMIT", BadArg::Plain),
                "Bad arguments for LIMIT",
            ),
            (
                SearchError::bad("PARAMS", BadArg::OddParams),
                "Bad arguments for PARAMS: expected an even number of arguments",
            ),
            (
                SearchError::bad("RETURN", BadArg::NotEnough("fields")),
                "Bad arguments for RETURN: not enough fields",
            ),
            (
                SearchError::bad("PREFIX", BadArg::CouldNotParse("x".into())),
                "Bad arguments for PREFIX: could not parse `x`",
            ),
            (
                SearchError::bad(
                    "vector similarity number type",
                    BadArg::Quoted("INT7".into()),
                ),
                "Bad arguments for vector similarity number type: `INT7`",
            ),
            (
                SearchError::bad(
                    "vector similarity HNSW index",
                    BadArg::GraphBounds {
                        max_m: 512,
                        max_ef: 4096,
                    },
                ),
                "Bad arguments for vector similarity HNSW index: M must be in 2..=512 and \
                 EF_CONSTRUCTION in 1..=4096",
            ),
            (
                SearchError::InFieldsUnsupported,
                "INFIELDS is not supported",
            ),
            (
                SearchError::CreateFilterUnsupported,
                "FILTER expressions on FT.CREATE are not supported",
            ),
            (
                SearchError::Syntax {
                    at: 3,
                    near: "end of query".into(),
                },
                "Syntax error at offset 3 near end of query",
            ),
            (
                SearchError::ExpectedKnn {
                    at: 4,
                    near: "KNM".into(),
                },
                "Syntax error at offset 4 near KNM: Expecting Vector Similarity command",
            ),
            (
                SearchError::FieldKind {
                    at: 0,
                    field: "tag".into(),
                    got: "TAG",
                    want: "TEXT",
                },
                "Syntax error at offset 0 near tag: TAG field used where a TEXT field is expected",
            ),
            (
                SearchError::QueryVectorSize {
                    got: 7,
                    expected: 8,
                },
                "Error parsing vector similarity query: query vector blob size (7) does not \
                 match index's expected size (8)",
            ),
            (SearchError::DidNotRun, "ERR the search did not run"),
        ];
        for (e, text) in cases {
            assert_eq!(e.to_string(), text);
        }
    }
}
