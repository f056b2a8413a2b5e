//! What a JSON document contributes to an index: the values a field's JSONPath matched,
//! turned into the [`FieldInput`] the index takes, or refused with RediSearch 2.10's words.
//!
//! Pure: JSON itself is RedisJSON's. The glue (`redis/json.rs`) walks RedisJSON's values
//! through its C API behind the [`JsonNode`] trait; nothing here parses JSON text.
//!
//! A VECTOR field may hold several vectors per document (a path matching several arrays, or
//! an array of arrays), as RediSearch 2.8+ does: see `multivector.rs`.
//!
//! One documented departure from RediSearch: a TEXT field whose value is an object or an
//! array indexes the strings found anywhere inside it (RediSearch refuses the document with
//! `Invalid JSON type: Object type can represent only GEOMETRY fields`, or `TEXT/TAG fields
//! can only contain strings or nulls` for mixed arrays). Documents RediSearch indexes are
//! indexed the same way; more documents become searchable.

use super::error::SearchError;
use super::geo;
use super::index::FieldInput;
use super::schema::FieldKind;

/// A field identifier as the JSONPath RedisJSON evaluates: `$`-paths as they are; a legacy
/// path (`.a.b`, `a.b`) as its `$` form, the way RedisJSON's commands read one.
pub fn path_of(identifier: &[u8]) -> String {
    let p = String::from_utf8_lossy(identifier);
    if p.starts_with('$') {
        p.into_owned()
    } else if p.starts_with('.') {
        format!("${p}")
    } else {
        format!("$.{p}")
    }
}

/// A JSON value's type, and its content when it is a scalar.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    Array,
    Object,
}

/// A JSON value as the index reads it.
pub trait JsonNode: Sized {
    fn kind(&self) -> Kind;
    /// An array's elements in order (nothing for other values).
    fn elements(&self) -> Vec<Self>;
    /// Every string inside this array or object, at any depth, in document order.
    fn string_leaves(&self) -> Vec<String>;
}

const OBJECT: &str = "Invalid JSON type: Object type can represent only GEOMETRY fields";
const STRING: &str =
    "Invalid JSON type: String type can represent only TEXT, TAG, GEO or GEOMETRY field";
const NUMBER: &str = "Invalid JSON type: Numeric type can represent only NUMERIC field";
const BOOLEAN: &str = "Invalid JSON type: Boolean type can be represent only TAG field";
const STRINGS_ONLY: &str = "TEXT/TAG fields can only contain strings or nulls";
const NUMBERS_ONLY: &str = "NUMERIC fields can only contain numeric or nulls";
const EMPTY_VECTOR: &str = "Empty array for vector field on JSON document";

fn refuse(text: &str) -> SearchError {
    SearchError::DocumentJson(text.to_string())
}

/// The error RediSearch gives for a single value of the wrong JSON type.
fn wrong_type(kind: &Kind) -> SearchError {
    refuse(match kind {
        Kind::Object => OBJECT,
        Kind::String(_) => STRING,
        Kind::Number(_) => NUMBER,
        Kind::Bool(_) => BOOLEAN,
        // Arrays and nulls are never a wrong type on their own.
        Kind::Array | Kind::Null => STRINGS_ONLY,
    })
}

/// The values `matches` (what field `kind`'s JSONPath found in one document) give the
/// field. `split` says whether a TAG string is split on the field's separator.
pub fn field_input<N: JsonNode>(
    kind: &FieldKind,
    split: bool,
    matches: &[N],
) -> Result<FieldInput<'static>, SearchError> {
    match matches {
        [] => Ok(FieldInput::Missing),
        [one] => single(kind, split, one),
        many => several(kind, split, many),
    }
}

/// One match: its JSON type decides, as in RediSearch.
fn single<N: JsonNode>(
    kind: &FieldKind,
    split: bool,
    node: &N,
) -> Result<FieldInput<'static>, SearchError> {
    let k = node.kind();
    if k == Kind::Null {
        return Ok(FieldInput::Missing);
    }
    match (kind, k) {
        (FieldKind::Text { .. }, Kind::String(s)) => Ok(FieldInput::Strings(vec![s])),
        // The departure: an object's or an array's strings, wherever they are.
        (FieldKind::Text { .. }, Kind::Array | Kind::Object) => {
            Ok(FieldInput::Strings(node.string_leaves()))
        }
        (FieldKind::Tag { separator, .. }, Kind::String(s)) => {
            Ok(FieldInput::Strings(tags(s, split.then_some(*separator))))
        }
        (FieldKind::Tag { .. }, Kind::Bool(b)) => Ok(FieldInput::Strings(vec![b.to_string()])),
        (FieldKind::Tag { separator, .. }, Kind::Array) => {
            let mut out = Vec::new();
            for e in node.elements() {
                match e.kind() {
                    Kind::String(s) => out.extend(tags(s, split.then_some(*separator))),
                    Kind::Null => {}
                    _ => return Err(refuse(STRINGS_ONLY)),
                }
            }
            Ok(FieldInput::Strings(out))
        }
        (FieldKind::Numeric, Kind::Number(n)) => Ok(FieldInput::Numbers(vec![n])),
        (FieldKind::Numeric, Kind::Array) => {
            let mut out = Vec::new();
            for e in node.elements() {
                match e.kind() {
                    Kind::Number(n) => out.push(n),
                    Kind::Null => {}
                    _ => return Err(refuse(NUMBERS_ONLY)),
                }
            }
            Ok(FieldInput::Numbers(out))
        }
        (FieldKind::Geo, Kind::String(s)) => {
            check_point(&s)?;
            Ok(FieldInput::Strings(vec![s]))
        }
        (FieldKind::Geo, Kind::Array) => {
            let mut out = Vec::new();
            for e in node.elements() {
                match e.kind() {
                    Kind::String(s) => {
                        check_point(&s)?;
                        out.push(s);
                    }
                    Kind::Null => {}
                    _ => return Err(refuse(STRINGS_ONLY)),
                }
            }
            Ok(FieldInput::Strings(out))
        }
        (FieldKind::Vector(p), Kind::Array) => {
            let elements = node.elements();
            // An array of arrays holds several vectors (RediSearch's multi-value form).
            if elements.first().is_some_and(|e| e.kind() == Kind::Array) {
                let mut out = Vec::with_capacity(elements.len());
                for e in &elements {
                    match e.kind() {
                        Kind::Array => out.push(vector(p.dim, e)?),
                        Kind::Null => {}
                        k => return Err(wrong_type(&k)),
                    }
                }
                return Ok(FieldInput::Vectors(out));
            }
            Ok(FieldInput::Vector(vector(p.dim, node)?))
        }
        (_, k) => Err(wrong_type(&k)),
    }
}

/// Several matches (`$.tags[*]`, `$..name`): each must be a value of the field's kind.
fn several<N: JsonNode>(
    kind: &FieldKind,
    split: bool,
    nodes: &[N],
) -> Result<FieldInput<'static>, SearchError> {
    match kind {
        FieldKind::Numeric => {
            let mut out = Vec::with_capacity(nodes.len());
            for n in nodes {
                match n.kind() {
                    Kind::Number(x) => out.push(x),
                    Kind::Null => {}
                    _ => return Err(refuse(NUMBERS_ONLY)),
                }
            }
            Ok(FieldInput::Numbers(out))
        }
        FieldKind::Text { .. } | FieldKind::Tag { .. } | FieldKind::Geo => {
            let mut out = Vec::with_capacity(nodes.len());
            for n in nodes {
                match (kind, n.kind()) {
                    (_, Kind::Null) => {}
                    (FieldKind::Tag { separator, .. }, Kind::String(s)) => {
                        out.extend(tags(s, split.then_some(*separator)))
                    }
                    (FieldKind::Geo, Kind::String(s)) => {
                        check_point(&s)?;
                        out.push(s);
                    }
                    (FieldKind::Text { .. }, Kind::String(s)) => out.push(s),
                    (FieldKind::Text { .. }, Kind::Array | Kind::Object) => {
                        out.extend(n.string_leaves())
                    }
                    _ => return Err(refuse(STRINGS_ONLY)),
                }
            }
            Ok(FieldInput::Strings(out))
        }
        // Multi-value vectors (`$.chunks[*].embedding`): every array matched is a vector.
        FieldKind::Vector(_) => {
            let mut out = Vec::with_capacity(nodes.len());
            for n in nodes {
                match single(kind, split, n)? {
                    FieldInput::Vector(v) => out.push(v),
                    FieldInput::Vectors(v) => out.extend(v),
                    _ => {}
                }
            }
            Ok(FieldInput::Vectors(out))
        }
    }
}

/// A JSON array of `dim` numbers as a vector, or RediSearch's error.
fn vector<N: JsonNode>(dim: usize, node: &N) -> Result<Vec<f32>, SearchError> {
    let elements = node.elements();
    if elements.is_empty() {
        return Err(refuse(EMPTY_VECTOR));
    }
    let mut v = Vec::with_capacity(elements.len());
    for (i, e) in elements.iter().enumerate() {
        match e.kind() {
            Kind::Number(n) => v.push(n as f32),
            _ => {
                return Err(SearchError::DocumentJson(format!(
                    "Invalid vector element at index {i}"
                )))
            }
        }
    }
    if v.len() != dim {
        return Err(SearchError::DocumentJson(format!(
            "Invalid vector length. Expected {}, got {}",
            dim,
            v.len()
        )));
    }
    Ok(v)
}

/// A TAG string: whole, or split on the separator when the field has one.
fn tags(s: String, separator: Option<u8>) -> Vec<String> {
    match separator {
        None => vec![s],
        Some(sep) => s.split(sep as char).map(str::to_string).collect::<Vec<_>>(),
    }
}

/// A GEO string as RediSearch checks it: two numbers, then inside the geohash bounds.
fn check_point(s: &str) -> Result<(), SearchError> {
    let numbers = s.split_once(',').and_then(|(lon, lat)| {
        Some((
            lon.trim().parse::<f64>().ok()?,
            lat.trim().parse::<f64>().ok()?,
        ))
    });
    let Some((lon, lat)) = numbers else {
        return Err(refuse("Invalid geo string"));
    };
    if geo::parse_point(s.as_bytes()).is_none() {
        return Err(SearchError::DocumentJson(format!(
            "Invalid geo coordinates: {lon:.6}, {lat:.6}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::schema;

    /// A JSON tree for the tests.
    #[derive(Debug, Clone)]
    enum J {
        N,
        B(bool),
        F(f64),
        S(&'static str),
        A(Vec<J>),
        O(Vec<(&'static str, J)>),
    }

    impl JsonNode for J {
        fn kind(&self) -> Kind {
            match self {
                J::N => Kind::Null,
                J::B(b) => Kind::Bool(*b),
                J::F(f) => Kind::Number(*f),
                J::S(s) => Kind::String(s.to_string()),
                J::A(_) => Kind::Array,
                J::O(_) => Kind::Object,
            }
        }
        fn elements(&self) -> Vec<J> {
            match self {
                J::A(v) => v.clone(),
                _ => Vec::new(),
            }
        }
        fn string_leaves(&self) -> Vec<String> {
            let mut out = Vec::new();
            let children: Vec<&J> = match self {
                J::A(v) => v.iter().collect(),
                J::O(v) => v.iter().map(|(_, j)| j).collect(),
                _ => Vec::new(),
            };
            for c in children {
                match c {
                    J::S(s) => out.push(s.to_string()),
                    other => out.extend(other.string_leaves()),
                }
            }
            out
        }
    }

    fn kind(name: &str) -> FieldKind {
        let words: Vec<&[u8]> = "ON JSON SCHEMA $.t AS t TEXT $.g AS g TAG $.n AS n NUMERIC \
            $.geo AS geo GEO $.v AS v VECTOR FLAT 6 TYPE FLOAT32 DIM 2 DISTANCE_METRIC L2"
            .split_whitespace()
            .map(str::as_bytes)
            .collect();
        let def = schema::parse_create(b"i", &words).unwrap();
        def.fields[def.field(name).unwrap()].kind.clone()
    }

    fn input(field: &str, v: J) -> Result<FieldInput<'static>, String> {
        field_input(&kind(field), false, &[v]).map_err(|e| e.to_string())
    }

    fn strings(v: &[&str]) -> FieldInput<'static> {
        FieldInput::Strings(v.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn values_of_the_right_type() {
        assert_eq!(input("t", J::S("hello")), Ok(strings(&["hello"])));
        assert_eq!(input("t", J::N), Ok(FieldInput::Missing));
        assert_eq!(input("g", J::S("a,b")), Ok(strings(&["a,b"])));
        assert_eq!(input("g", J::B(true)), Ok(strings(&["true"])));
        assert_eq!(
            input("g", J::A(vec![J::S("x"), J::N, J::S("Y")])),
            Ok(strings(&["x", "Y"]))
        );
        assert_eq!(
            input("n", J::A(vec![J::F(1.0), J::N, J::F(2.5)])),
            Ok(FieldInput::Numbers(vec![1.0, 2.5]))
        );
        assert_eq!(input("geo", J::S("1.5,2.5")), Ok(strings(&["1.5,2.5"])));
        assert_eq!(
            input("v", J::A(vec![J::F(0.5), J::F(-1.0)])),
            Ok(FieldInput::Vector(vec![0.5, -1.0]))
        );
        // A separator given at FT.CREATE splits JSON strings too.
        let tag = kind("g");
        assert_eq!(
            field_input(&tag, true, &[J::S("a,b")]),
            Ok(strings(&["a", "b"]))
        );
        // Several matches, nulls skipped.
        assert_eq!(
            field_input(&kind("n"), false, &[J::F(1.0), J::N, J::F(3.0)]),
            Ok(FieldInput::Numbers(vec![1.0, 3.0]))
        );
    }

    #[test]
    fn text_indexes_the_strings_inside_objects_and_arrays() {
        let meta = J::O(vec![
            ("source", J::S("wiki")),
            ("page", J::F(3.0)),
            (
                "deep",
                J::O(vec![("x", J::A(vec![J::S("inner"), J::B(true)]))]),
            ),
        ]);
        assert_eq!(input("t", meta), Ok(strings(&["wiki", "inner"])));
        assert_eq!(
            input("t", J::A(vec![J::F(1.0), J::S("a"), J::A(vec![J::S("b")])])),
            Ok(strings(&["a", "b"]))
        );
    }

    #[test]
    fn vectors_from_several_matches_or_an_array_of_arrays() {
        let v = |a: f64, b: f64| J::A(vec![J::F(a), J::F(b)]);
        assert_eq!(
            field_input(&kind("v"), false, &[v(1.0, 2.0), J::N, v(3.0, 4.0)]),
            Ok(FieldInput::Vectors(vec![vec![1.0, 2.0], vec![3.0, 4.0]]))
        );
        assert_eq!(
            input("v", J::A(vec![v(1.0, 2.0), v(3.0, 4.0)])),
            Ok(FieldInput::Vectors(vec![vec![1.0, 2.0], vec![3.0, 4.0]]))
        );
        assert_eq!(
            input("v", J::A(vec![v(1.0, 2.0), J::A(vec![J::F(1.0)])])),
            Err("Invalid vector length. Expected 2, got 1".to_string())
        );
    }

    /// The texts are RediSearch 2.10.5's, as FT.INFO shows them (measured on the anchor).
    #[test]
    fn wrong_values_fail_with_redisearch_texts() {
        for (field, v, text) in [
            ("t", J::F(5.0), NUMBER),
            ("t", J::B(true), BOOLEAN),
            ("g", J::F(5.0), NUMBER),
            ("g", J::O(vec![]), OBJECT),
            ("g", J::A(vec![J::F(1.0), J::S("x")]), STRINGS_ONLY),
            ("n", J::S("12"), STRING),
            ("n", J::B(true), BOOLEAN),
            ("n", J::A(vec![J::F(1.0), J::S("x")]), NUMBERS_ONLY),
            ("geo", J::S("a,b"), "Invalid geo string"),
            (
                "geo",
                J::S("200,100"),
                "Invalid geo coordinates: 200.000000, 100.000000",
            ),
            ("geo", J::A(vec![J::F(1.0)]), STRINGS_ONLY),
            ("v", J::S("abc"), STRING),
            ("v", J::O(vec![]), OBJECT),
            ("v", J::A(vec![]), EMPTY_VECTOR),
            (
                "v",
                J::A(vec![J::F(1.0), J::S("x")]),
                "Invalid vector element at index 1",
            ),
            (
                "v",
                J::A(vec![J::F(1.0), J::F(2.0), J::F(3.0)]),
                "Invalid vector length. Expected 2, got 3",
            ),
        ] {
            assert_eq!(
                input(field, v.clone()),
                Err(text.to_string()),
                "{field} {v:?}"
            );
        }
    }
}
