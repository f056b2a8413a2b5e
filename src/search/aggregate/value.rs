//! The values an aggregation row holds, as RediSearch's RSValue: null, a number, a string or
//! an array, with its conversions, comparisons and the way it is printed in a reply.

use std::cmp::Ordering;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Num(f64),
    Str(String),
    Arr(Vec<Value>),
}

impl Value {
    /// A number, or a string that reads fully as one (RediSearch's `RSValue_ToNumber`).
    pub fn to_number(&self) -> Option<f64> {
        match self {
            Value::Num(n) => Some(*n),
            Value::Str(s) => parse_number(s),
            _ => None,
        }
    }

    /// Whether the value counts as true in FILTER and `&& || !`.
    pub fn truthy(&self) -> bool {
        match self {
            Value::Null => false,
            Value::Num(n) => *n != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::Arr(a) => !a.is_empty(),
        }
    }

    /// The text a reply shows: a number as C's `%.12g`.
    pub fn text(&self) -> String {
        match self {
            Value::Null => String::new(),
            Value::Num(n) => format_g12(*n),
            Value::Str(s) => s.clone(),
            Value::Arr(a) => a.iter().map(Value::text).collect::<Vec<_>>().join(","),
        }
    }
}

/// A whole string as a number, as `strtod` with the end checked: leading and trailing spaces
/// are not allowed, `inf`/`nan` are.
pub fn parse_number(s: &str) -> Option<f64> {
    if s.is_empty() || s.starts_with(char::is_whitespace) || s.ends_with(char::is_whitespace) {
        return None;
    }
    s.parse::<f64>().ok()
}

/// How RediSearch's aggregation replies show a number: an integral value that fits in a
/// `long long` as an integer, anything else as C's `%.12g`.
pub fn format_g12(v: f64) -> String {
    if v.fract() == 0.0 && (-9.223_372_036_854_775e18..9.223_372_036_854_775e18).contains(&v) {
        return format!("{}", v as i64);
    }
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    const P: i32 = 12;
    // The exponent after rounding to 12 significant digits decides the notation.
    let sci = format!("{:.*e}", (P - 1) as usize, v);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..P).contains(&exp) {
        let m = trim_zeros(mantissa);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{m}e{sign}{:02}", exp.abs())
    } else {
        let decimals = (P - 1 - exp).max(0) as usize;
        trim_zeros(&format!("{v:.decimals$}")).to_string()
    }
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// Failure of a comparison between a string and a number the string does not read as.
#[derive(Debug)]
pub struct NotANumber(pub String);

/// RediSearch's `RSValue_Cmp`: numbers by value, strings by bytes, a string against a number
/// as the number it reads as (an error if it reads as none), null before anything.
pub fn compare(a: &Value, b: &Value) -> Result<Ordering, NotANumber> {
    Ok(match (a, b) {
        (Value::Num(x), Value::Num(y)) => x.partial_cmp(y).unwrap_or(Ordering::Equal),
        (Value::Str(x), Value::Str(y)) => x.as_bytes().cmp(y.as_bytes()),
        (Value::Num(x), Value::Str(s)) => {
            let y = parse_number(s).ok_or_else(|| NotANumber(s.clone()))?;
            x.partial_cmp(&y).unwrap_or(Ordering::Equal)
        }
        (Value::Str(s), Value::Num(y)) => {
            let x = parse_number(s).ok_or_else(|| NotANumber(s.clone()))?;
            x.partial_cmp(y).unwrap_or(Ordering::Equal)
        }
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Less,
        (_, Value::Null) => Ordering::Greater,
        (Value::Arr(x), Value::Arr(y)) => x.len().cmp(&y.len()),
        (Value::Arr(_), _) => Ordering::Greater,
        (_, Value::Arr(_)) => Ordering::Less,
    })
}

/// The order SORTBY puts two present values in: as [`compare`], but never failing (a string
/// that is no number sorts after every number).
pub fn sort_order(a: &Value, b: &Value) -> Ordering {
    match compare(a, b) {
        Ok(o) => o,
        Err(_) => match (a, b) {
            (Value::Num(_), _) => Ordering::Less,
            _ => Ordering::Greater,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_as_g12() {
        for (v, s) in [
            (1.0, "1"),
            (1.5, "1.5"),
            (1.0 / 3.0, "0.333333333333"),
            (1e20, "1e+20"),
            (1e-5, "1e-05"),
            (0.1 + 0.2, "0.3"),
            (100000000000000.0, "100000000000000"),
            (2f64.sqrt(), "1.41421356237"),
            (157269.79, "157269.79"),
            (-2.5, "-2.5"),
            (123456789012.0, "123456789012"),
            (1234567890123.0, "1234567890123"),
            (1234567890123.5, "1.23456789012e+12"),
            (f64::NAN, "nan"),
            (f64::INFINITY, "inf"),
        ] {
            assert_eq!(format_g12(v), s, "{v}");
        }
    }

    #[test]
    fn comparisons() {
        let n = |x| Value::Num(x);
        let s = |x: &str| Value::Str(x.into());
        assert_eq!(compare(&n(1.0), &s("1")).unwrap(), Ordering::Equal);
        assert_eq!(compare(&s("a"), &s("b")).unwrap(), Ordering::Less);
        assert!(compare(&s("b"), &n(1.0)).is_err());
        assert_eq!(sort_order(&s("b"), &n(1.0)), Ordering::Greater);
        assert!(!Value::Null.truthy() && s("x").truthy() && !n(0.0).truthy());
    }
}
