//! Number parsing with the rules Redis applies to command arguments, so `AI.TENSORSET ...
//! VALUES` accepts and refuses exactly what `RedisModule_StringToLongLong` and
//! `RedisModule_StringToDouble` would, without calling into the server (this code also runs
//! in plain unit tests and, later, on worker threads).

/// Redis `getDoubleFromObject`: what `strtod` reads, the whole string, no leading space,
/// no NaN, and no overflow to infinity (an explicit `inf` is accepted).
pub fn parse_f64(s: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(s).ok()?;
    if text.is_empty() || text.starts_with(|c: char| c.is_ascii_whitespace()) {
        return None;
    }
    let v: f64 = text.parse().ok()?;
    if v.is_nan() {
        return None;
    }
    if v.is_infinite() && !text.to_ascii_lowercase().contains("inf") {
        return None;
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::parse_i64;

    #[test]
    fn integers_follow_string2ll() {
        let ok: &[(&str, i64)] = &[
            ("0", 0),
            ("1", 1),
            ("-1", -1),
            ("127", 127),
            ("9223372036854775807", i64::MAX),
            ("-9223372036854775808", i64::MIN),
        ];
        for (s, v) in ok {
            assert_eq!(parse_i64(s.as_bytes()), Some(*v), "{s}");
        }
        for s in [
            "",
            "-",
            "+1",
            " 1",
            "1 ",
            "01",
            "-0",
            "1.0",
            "1e3",
            "0x10",
            "9223372036854775808",
            "-9223372036854775809",
            "99999999999999999999999",
            "١",
        ] {
            assert_eq!(parse_i64(s.as_bytes()), None, "{s:?}");
        }
    }

    #[test]
    fn doubles_follow_get_double_from_object() {
        let ok: &[(&str, f64)] = &[
            ("1", 1.0),
            ("-2.5", -2.5),
            ("+3", 3.0),
            (".5", 0.5),
            ("5.", 5.0),
            ("1e3", 1000.0),
            ("inf", f64::INFINITY),
            ("-Infinity", f64::NEG_INFINITY),
        ];
        for (s, v) in ok {
            assert_eq!(parse_f64(s.as_bytes()), Some(*v), "{s}");
        }
        for s in [
            "", " 1", "1 ", "nan", "NaN", "A", "1e400", "-1e400", "1,5", "\u{0}",
        ] {
            assert_eq!(parse_f64(s.as_bytes()), None, "{s:?}");
        }
        assert_eq!(parse_f64(&[0xff, b'1']), None);
    }
}
