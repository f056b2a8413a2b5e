//! The functions APPLY and FILTER expressions may call, after RediSearch's `functions/`
//! (string.c, math.c, date.c, geo.c): the same names, arities, results and error texts.

use super::value::{format_g12, Value};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Func {
    Lower,
    Upper,
    Substr,
    Format,
    Split,
    MatchedTerms,
    ToNumber,
    ToStr,
    Exists,
    StartsWith,
    Contains,
    Strlen,
    Log,
    Log2,
    Abs,
    Ceil,
    Floor,
    Exp,
    Sqrt,
    TimeFmt,
    ParseTime,
    Minute,
    Hour,
    Day,
    Month,
    DayOfWeek,
    DayOfMonth,
    DayOfYear,
    Year,
    MonthOfYear,
    GeoDistance,
}

const NAMES: &[(&str, Func, usize, usize)] = &[
    ("lower", Func::Lower, 1, 1),
    ("upper", Func::Upper, 1, 1),
    ("substr", Func::Substr, 3, 3),
    ("format", Func::Format, 1, usize::MAX),
    ("split", Func::Split, 1, 3),
    ("matched_terms", Func::MatchedTerms, 0, 1),
    ("to_number", Func::ToNumber, 1, 1),
    ("to_str", Func::ToStr, 1, 1),
    ("exists", Func::Exists, 1, 1),
    ("startswith", Func::StartsWith, 2, 2),
    ("contains", Func::Contains, 2, 2),
    ("strlen", Func::Strlen, 1, 1),
    ("log", Func::Log, 1, 1),
    ("log2", Func::Log2, 1, 1),
    ("abs", Func::Abs, 1, 1),
    ("ceil", Func::Ceil, 1, 1),
    ("floor", Func::Floor, 1, 1),
    ("exp", Func::Exp, 1, 1),
    ("sqrt", Func::Sqrt, 1, 1),
    ("timefmt", Func::TimeFmt, 1, 2),
    ("parsetime", Func::ParseTime, 2, 2),
    ("minute", Func::Minute, 1, 1),
    ("hour", Func::Hour, 1, 1),
    ("day", Func::Day, 1, 1),
    ("month", Func::Month, 1, 1),
    ("dayofweek", Func::DayOfWeek, 1, 1),
    ("dayofmonth", Func::DayOfMonth, 1, 1),
    ("dayofyear", Func::DayOfYear, 1, 1),
    ("year", Func::Year, 1, 1),
    ("monthofyear", Func::MonthOfYear, 1, 1),
    ("geodistance", Func::GeoDistance, 2, 4),
];

impl Func {
    /// RediSearch looks function names up case-insensitively.
    pub fn by_name(name: &str) -> Option<Func> {
        NAMES
            .iter()
            .find(|(n, ..)| n.eq_ignore_ascii_case(name))
            .map(|e| e.1)
    }

    pub fn arity(self) -> (usize, usize) {
        NAMES
            .iter()
            .find(|e| e.1 == self)
            .map_or((0, 0), |e| (e.2, e.3))
    }

    pub fn name(self) -> &'static str {
        NAMES.iter().find(|e| e.1 == self).map_or("", |e| e.0)
    }
}

fn string_arg(f: Func, v: &Value, i: usize) -> Result<String, String> {
    match v {
        Value::Str(s) => Ok(s.clone()),
        _ => Err(format!(
            "Invalid type ({}) for argument {i} in function '{}'. VALIDATE_ARG__STRING(v) was false.",
            type_name(v),
            f.name()
        )),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "0",
        Value::Num(_) => "1",
        Value::Str(_) => "2",
        Value::Arr(_) => "5",
    }
}

/// A number argument of a math or date function: a null or unreadable value makes the result
/// null (RediSearch's math functions answer NULL rather than failing).
fn number_arg(v: &Value) -> Option<f64> {
    v.to_number()
}

pub fn call(f: Func, args: Vec<Value>) -> Result<Value, String> {
    let arg = |i: usize| args.get(i).cloned().unwrap_or(Value::Null);
    let math = |g: fn(f64) -> f64| -> Value {
        match number_arg(&arg(0)) {
            Some(x) => Value::Num(g(x)),
            None => Value::Null,
        }
    };
    Ok(match f {
        Func::Lower | Func::Upper => match arg(0) {
            Value::Str(s) => Value::Str(if f == Func::Lower {
                s.to_ascii_lowercase()
            } else {
                s.to_ascii_uppercase()
            }),
            _ => Value::Null,
        },
        Func::Substr => {
            let (Value::Num(off), Value::Num(len)) = (arg(1), arg(2)) else {
                return Err("Invalid type for substr. Expected number".into());
            };
            let s = match arg(0) {
                Value::Str(s) => s,
                Value::Num(n) => format_g12(n),
                _ => return Err("Invalid type for substr. Expected string".into()),
            };
            let b = s.as_bytes();
            let sz = b.len() as i64;
            let mut offset = off as i64;
            let mut len = len as i64;
            if offset < 0 {
                offset += sz;
            }
            offset = offset.clamp(0, sz);
            if len < 0 {
                len = ((sz - offset) + len).max(0);
            }
            if offset + len > sz {
                len = sz - offset;
            }
            Value::Str(
                String::from_utf8_lossy(&b[offset as usize..(offset + len) as usize]).into_owned(),
            )
        }
        Func::Format => {
            let fmt = string_arg(f, &arg(0), 0)?;
            let mut out = String::new();
            let mut next = 1;
            let mut chars = fmt.chars().peekable();
            while let Some(c) = chars.next() {
                if c != '%' {
                    out.push(c);
                    continue;
                }
                match chars.next() {
                    None => return Err("Bad format string!".into()),
                    Some('%') => out.push('%'),
                    Some('s') => {
                        if next >= args.len() {
                            return Err("Not enough arguments for format".into());
                        }
                        match &args[next] {
                            Value::Null => out.push_str("(null)"),
                            v => out.push_str(&v.text()),
                        }
                        next += 1;
                    }
                    Some(_) => {
                        if next >= args.len() {
                            return Err("Not enough arguments for format".into());
                        }
                        return Err("Unknown format specifier passed".into());
                    }
                }
            }
            Value::Str(out)
        }
        Func::Split => {
            let s = string_arg(f, &arg(0), 0)?;
            let sep = if args.len() >= 2 {
                string_arg(f, &arg(1), 1)?
            } else {
                ",".into()
            };
            let strip = if args.len() == 3 {
                string_arg(f, &arg(2), 2)?
            } else {
                " ".into()
            };
            let parts: Vec<Value> = s
                .split(|c| sep.contains(c))
                .map(|p| p.trim_matches(|c| strip.contains(c)))
                .filter(|p| !p.is_empty())
                .take(1024)
                .map(|p| Value::Str(p.to_string()))
                .collect();
            Value::Arr(parts)
        }
        // The terms each document matched are not kept by this engine's scorer.
        Func::MatchedTerms => Value::Null,
        Func::ToNumber => match arg(0).to_number() {
            Some(n) => Value::Num(n),
            None => {
                return Err(format!(
                    "to_number: cannot convert string '{}'",
                    arg(0).text()
                ))
            }
        },
        Func::ToStr => match arg(0) {
            Value::Null => Value::Str(String::new()),
            v => Value::Str(v.text()),
        },
        Func::Exists => Value::Num(if arg(0) == Value::Null { 0.0 } else { 1.0 }),
        Func::StartsWith => {
            let s = string_arg(f, &arg(0), 0)?;
            let p = string_arg(f, &arg(1), 1)?;
            Value::Num(if s.starts_with(&p) { 1.0 } else { 0.0 })
        }
        Func::Contains => {
            let s = string_arg(f, &arg(0), 0)?;
            let p = string_arg(f, &arg(1), 1)?;
            let n = if p.is_empty() {
                s.len() + 1
            } else {
                // Overlapping occurrences, as strstr advanced one byte at a time counts them.
                (0..s.len())
                    .filter(|&i| s.as_bytes()[i..].starts_with(p.as_bytes()))
                    .count()
            };
            Value::Num(n as f64)
        }
        Func::Strlen => Value::Num(string_arg(f, &arg(0), 0)?.len() as f64),
        Func::Log => math(f64::ln),
        Func::Log2 => math(f64::log2),
        Func::Abs => math(f64::abs),
        Func::Ceil => math(f64::ceil),
        Func::Floor => math(f64::floor),
        Func::Exp => math(f64::exp),
        Func::Sqrt => math(f64::sqrt),
        Func::TimeFmt => {
            let Some(t) = number_arg(&arg(0)) else {
                return Ok(Value::Null);
            };
            let fmt = match args.get(1) {
                Some(v) => string_arg(f, v, 1)?,
                None => "%FT%TZ".into(),
            };
            Value::Str(strftime(t as i64, &fmt))
        }
        Func::ParseTime => {
            let s = string_arg(f, &arg(0), 0)?;
            let fmt = string_arg(f, &arg(1), 1)?;
            match strptime(&s, &fmt) {
                Some(t) => Value::Num(t as f64),
                None => Value::Null,
            }
        }
        Func::Minute | Func::Hour | Func::Day => {
            let unit = match f {
                Func::Minute => 60,
                Func::Hour => 3600,
                _ => 86400,
            };
            match number_arg(&arg(0)) {
                Some(t) => {
                    let t = t as i64;
                    Value::Num((t - t.rem_euclid(unit)) as f64)
                }
                None => Value::Null,
            }
        }
        Func::Month
        | Func::DayOfWeek
        | Func::DayOfMonth
        | Func::DayOfYear
        | Func::Year
        | Func::MonthOfYear => {
            let Some(t) = number_arg(&arg(0)) else {
                return Ok(Value::Null);
            };
            let t = t as i64;
            let days = t.div_euclid(86400);
            let (y, m, d) = civil_from_days(days);
            Value::Num(match f {
                Func::Month => (days_from_civil(y, m, 1) * 86400) as f64,
                Func::DayOfWeek => (days + 4).rem_euclid(7) as f64,
                Func::DayOfMonth => d as f64,
                Func::DayOfYear => (days - days_from_civil(y, 1, 1)) as f64,
                Func::Year => y as f64,
                _ => (m - 1) as f64,
            })
        }
        Func::GeoDistance => {
            let point = |v: &[Value]| -> Option<(f64, f64)> {
                match v {
                    [Value::Str(s)] => {
                        let (a, b) = s.split_once(',')?;
                        Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
                    }
                    [a, b] => Some((a.to_number()?, b.to_number()?)),
                    _ => None,
                }
            };
            let (p, q) = match args.len() {
                2 => (point(&args[0..1]), point(&args[1..2])),
                3 => {
                    if matches!(args[0], Value::Str(ref s) if s.contains(',')) {
                        (point(&args[0..1]), point(&args[1..3]))
                    } else {
                        (point(&args[0..2]), point(&args[2..3]))
                    }
                }
                _ => (point(&args[0..2]), point(&args[2..4])),
            };
            match (p, q) {
                (Some((lon1, lat1)), Some((lon2, lat2))) => {
                    let d = crate::search::geo::distance(lon1, lat1, lon2, lat2);
                    // RediSearch rounds the distance to centimetres.
                    Value::Num((d * 100.0).round() / 100.0)
                }
                _ => Value::Num(-1.0),
            }
        }
    })
}

/// Year, month (1-12), day (1-31) of a count of days since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, exact over the proleptic Gregorian calendar).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Days since 1970-01-01 of a civil date (the inverse of [`civil_from_days`]).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

const WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// C's `strftime` in UTC for the common conversions; others are copied as written.
fn strftime(t: i64, fmt: &str) -> String {
    let days = t.div_euclid(86400);
    let secs = t.rem_euclid(86400);
    let (y, m, d) = civil_from_days(days);
    let (hh, mm, ss) = (secs / 3600, secs / 60 % 60, secs % 60);
    let mut out = String::new();
    let mut chars = fmt.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('Y') => out.push_str(&y.to_string()),
            Some('m') => out.push_str(&format!("{m:02}")),
            Some('d') => out.push_str(&format!("{d:02}")),
            Some('H') => out.push_str(&format!("{hh:02}")),
            Some('M') => out.push_str(&format!("{mm:02}")),
            Some('S') => out.push_str(&format!("{ss:02}")),
            Some('F') => out.push_str(&format!("{y}-{m:02}-{d:02}")),
            Some('T') => out.push_str(&format!("{hh:02}:{mm:02}:{ss:02}")),
            Some('j') => out.push_str(&format!("{:03}", days - days_from_civil(y, 1, 1) + 1)),
            Some('a') => out.push_str(WEEKDAYS[(days + 4).rem_euclid(7) as usize]),
            Some('b') => out.push_str(MONTHS[(m - 1) as usize]),
            Some('y') => out.push_str(&format!("{:02}", y.rem_euclid(100))),
            Some('s') => out.push_str(&t.to_string()),
            Some('Z') => out.push_str("GMT"),
            Some('z') => out.push_str("+0000"),
            Some('%') => out.push('%'),
            Some(o) => {
                out.push('%');
                out.push(o);
            }
            None => out.push('%'),
        }
    }
    out
}

/// C's `strptime` + `timegm` for `%Y %m %d %H %M %S %F %T` and literal text.
fn strptime(s: &str, fmt: &str) -> Option<i64> {
    let (mut y, mut mo, mut d, mut h, mut mi, mut se) = (1900i64, 1i64, 1i64, 0i64, 0i64, 0i64);
    let mut rest = s;
    let num = |rest: &mut &str, max: usize| -> Option<i64> {
        let n = rest
            .bytes()
            .take(max)
            .take_while(u8::is_ascii_digit)
            .count();
        if n == 0 {
            return None;
        }
        let v = rest[..n].parse().ok()?;
        *rest = &rest[n..];
        Some(v)
    };
    let mut chars = fmt.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            rest = rest.strip_prefix(c)?;
            continue;
        }
        match chars.next()? {
            'Y' => y = num(&mut rest, 4)?,
            'm' => mo = num(&mut rest, 2)?,
            'd' => d = num(&mut rest, 2)?,
            'H' => h = num(&mut rest, 2)?,
            'M' => mi = num(&mut rest, 2)?,
            'S' => se = num(&mut rest, 2)?,
            'F' => {
                y = num(&mut rest, 4)?;
                rest = rest.strip_prefix('-')?;
                mo = num(&mut rest, 2)?;
                rest = rest.strip_prefix('-')?;
                d = num(&mut rest, 2)?;
            }
            'T' => {
                h = num(&mut rest, 2)?;
                rest = rest.strip_prefix(':')?;
                mi = num(&mut rest, 2)?;
                rest = rest.strip_prefix(':')?;
                se = num(&mut rest, 2)?;
            }
            '%' => rest = rest.strip_prefix('%')?,
            _ => return None,
        }
    }
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    Some(days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(strftime(1, "%FT%TZ"), "1970-01-01T00:00:01Z");
        assert_eq!(strftime(1_700_000_000, "%FT%TZ"), "2023-11-14T22:13:20Z");
        assert_eq!(
            strptime("2023-11-14 22:13:20", "%Y-%m-%d %H:%M:%S"),
            Some(1_700_000_000)
        );
        let year = call(Func::Year, vec![Value::Num(1_700_000_000.0)]).unwrap();
        assert_eq!(year, Value::Num(2023.0));
        let dow = call(Func::DayOfWeek, vec![Value::Num(0.0)]).unwrap();
        assert_eq!(dow, Value::Num(4.0));
    }

    #[test]
    fn strings() {
        let s = |x: &str| Value::Str(x.into());
        let n = Value::Num;
        assert_eq!(
            call(Func::Substr, vec![s("hello"), n(1.0), n(3.0)]).unwrap(),
            s("ell")
        );
        assert_eq!(
            call(Func::Substr, vec![s("hello"), n(-2.0), n(-1.0)]).unwrap(),
            s("l")
        );
        assert_eq!(
            call(Func::Substr, vec![s("hi"), n(9.0), n(9.0)]).unwrap(),
            s("")
        );
        assert_eq!(
            call(Func::Format, vec![s("%s-%s%%"), s("a"), n(2.0)]).unwrap(),
            s("a-2%")
        );
        assert!(call(Func::Format, vec![s("%s")]).is_err());
        assert_eq!(
            call(Func::Split, vec![s(" a, b ,,c ")]).unwrap(),
            Value::Arr(vec![s("a"), s("b"), s("c")])
        );
        assert_eq!(
            call(Func::Contains, vec![s("aaa"), s("aa")]).unwrap(),
            n(2.0)
        );
        assert_eq!(
            call(Func::StartsWith, vec![s("hello"), s("he")]).unwrap(),
            n(1.0)
        );
    }
}
