//! GROUPBY's reducers, after RediSearch's `reducers/`: their arities, their default names
//! (`__generated_alias<name><args>`), their results and their error texts. Each keeps a
//! bounded state per group: TOLIST and COUNT_DISTINCT keep distinct values (at most one per
//! row they saw), RANDOM_SAMPLE at most its sample size, QUANTILE the numbers it saw.

use std::collections::HashSet;

use super::value::{sort_order, Value};
use super::{agg, SearchError};

/// RANDOM_SAMPLE's largest sample, as RediSearch's.
pub const MAX_SAMPLE: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    Count,
    CountDistinct,
    CountDistinctish,
    Sum,
    Min,
    Max,
    Avg,
    Stddev,
    Quantile(f64),
    ToList,
    FirstValue { by: Option<(usize, bool)> },
    RandomSample(usize),
}

#[derive(Debug, Clone)]
pub struct ReducerSpec {
    pub kind: Kind,
    /// The slot of the property it reads (unused by COUNT).
    pub arg: usize,
    /// Its slot in the rows GROUPBY makes.
    pub slot: usize,
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `__generated_alias` + the lower-cased name + the arguments (without `@`) joined by commas.
pub fn generated_alias(name: &str, args: &[&[u8]]) -> String {
    let args: Vec<String> = args
        .iter()
        .map(|a| lossy(a.strip_prefix(b"@").unwrap_or(a)).to_lowercase())
        .collect();
    format!("__generated_alias{}{}", name.to_lowercase(), args.join(","))
}

/// `REDUCE name nargs args...`: `resolve` turns a property into a slot of the rows grouped.
pub fn parse(
    name: &str,
    args: &[&[u8]],
    resolve: &mut dyn FnMut(&str) -> Result<usize, SearchError>,
) -> Result<ReducerSpec, SearchError> {
    let upper = name.to_ascii_uppercase();
    let missing = || agg(format!("Missing arguments for {upper}"));
    let mut prop = |i: usize| -> Result<usize, SearchError> {
        let w = args.get(i).ok_or_else(missing)?;
        let name = lossy(w.strip_prefix(b"@").unwrap_or(w));
        resolve(&name)
    };
    let number = |i: usize, what: &str| -> Result<f64, SearchError> {
        args.get(i)
            .and_then(|w| std::str::from_utf8(w).ok())
            .and_then(|s| s.parse::<f64>().ok())
            .ok_or_else(|| agg(format!("Could not parse {what} for {upper}")))
    };
    let one = |kind: Kind, prop: &mut dyn FnMut(usize) -> Result<usize, SearchError>| {
        if args.len() != 1 {
            return Err(if args.is_empty() {
                missing()
            } else {
                agg(format!("{upper} accepts 1 argument only"))
            });
        }
        Ok(ReducerSpec {
            kind,
            arg: prop(0)?,
            slot: 0,
        })
    };
    match upper.as_str() {
        "COUNT" => {
            if !args.is_empty() {
                return Err(agg("Count accepts 0 values only"));
            }
            Ok(ReducerSpec {
                kind: Kind::Count,
                arg: 0,
                slot: 0,
            })
        }
        "COUNT_DISTINCT" => one(Kind::CountDistinct, &mut prop),
        "COUNT_DISTINCTISH" => one(Kind::CountDistinctish, &mut prop),
        "SUM" => one(Kind::Sum, &mut prop),
        "MIN" => one(Kind::Min, &mut prop),
        "MAX" => one(Kind::Max, &mut prop),
        "AVG" => one(Kind::Avg, &mut prop),
        "STDDEV" => one(Kind::Stddev, &mut prop),
        "TOLIST" => one(Kind::ToList, &mut prop),
        "QUANTILE" => {
            if args.len() != 2 {
                return Err(missing());
            }
            let q = number(1, "percentile")?;
            if !(0.0..=1.0).contains(&q) {
                return Err(agg("Percentage must be between 0.0 and 1.0"));
            }
            Ok(ReducerSpec {
                kind: Kind::Quantile(q),
                arg: prop(0)?,
                slot: 0,
            })
        }
        "RANDOM_SAMPLE" => {
            if args.len() != 2 {
                return Err(missing());
            }
            let n = number(1, "sample size")?;
            if !(1.0..=MAX_SAMPLE as f64).contains(&n) || n.fract() != 0.0 {
                return Err(agg(format!(
                    "Sample size must be between 1 and {MAX_SAMPLE}"
                )));
            }
            Ok(ReducerSpec {
                kind: Kind::RandomSample(n as usize),
                arg: prop(0)?,
                slot: 0,
            })
        }
        "FIRST_VALUE" => {
            let arg = prop(0)?;
            let by = match args.len() {
                1 => None,
                3 | 4 if args[1].eq_ignore_ascii_case(b"BY") => {
                    let asc = match args.get(3) {
                        None => true,
                        Some(d) if d.eq_ignore_ascii_case(b"ASC") => true,
                        Some(d) if d.eq_ignore_ascii_case(b"DESC") => false,
                        Some(_) => return Err(agg("Invalid ordering for FIRST_VALUE")),
                    };
                    Some((prop(2)?, asc))
                }
                _ => return Err(agg("Bad arguments for FIRST_VALUE")),
            };
            Ok(ReducerSpec {
                kind: Kind::FirstValue { by },
                arg,
                slot: 0,
            })
        }
        _ => Err(agg(format!("No such reducer: {name}"))),
    }
}

/// One group's running state for one reducer.
#[derive(Debug)]
pub enum State {
    Count(u64),
    Distinct(HashSet<String>, Vec<Value>),
    Sum(f64),
    MinMax(Option<f64>),
    Avg(f64, u64),
    /// Welford's running mean and sum of squared deviations.
    Stddev(u64, f64, f64),
    Numbers(Vec<f64>),
    First(Option<(Value, Option<Value>)>),
    Sample(Vec<Value>, u64, u64),
}

fn arg_value(spec: &ReducerSpec, row: &[Option<Value>]) -> Option<Value> {
    row.get(spec.arg)
        .cloned()
        .flatten()
        .filter(|v| *v != Value::Null)
}

impl State {
    pub fn new(spec: &ReducerSpec) -> State {
        match spec.kind {
            Kind::Count => State::Count(0),
            Kind::CountDistinct | Kind::CountDistinctish | Kind::ToList => {
                State::Distinct(HashSet::new(), Vec::new())
            }
            Kind::Sum => State::Sum(0.0),
            Kind::Min | Kind::Max => State::MinMax(None),
            Kind::Avg => State::Avg(0.0, 0),
            Kind::Stddev => State::Stddev(0, 0.0, 0.0),
            Kind::Quantile(_) => State::Numbers(Vec::new()),
            Kind::FirstValue { .. } => State::First(None),
            Kind::RandomSample(_) => State::Sample(Vec::new(), 0, 0x9e37_79b9_7f4a_7c15),
        }
    }

    pub fn add(&mut self, spec: &ReducerSpec, row: &[Option<Value>]) {
        let v = || arg_value(spec, row);
        let num = || v().and_then(|v| v.to_number());
        match self {
            State::Count(n) => *n += 1,
            State::Distinct(seen, list) => {
                if let Some(x) = v() {
                    // Arrays (a TOLIST of a split) add each element.
                    let items = match x {
                        Value::Arr(a) if spec.kind == Kind::ToList => a,
                        x => vec![x],
                    };
                    for x in items {
                        if seen.insert(x.text()) && spec.kind == Kind::ToList {
                            list.push(x);
                        }
                    }
                }
            }
            State::Sum(s) => *s += num().unwrap_or(0.0),
            State::MinMax(m) => {
                if let Some(x) = num() {
                    let better = match m {
                        None => true,
                        Some(cur) if spec.kind == Kind::Min => x < *cur,
                        Some(cur) => x > *cur,
                    };
                    if better {
                        *m = Some(x);
                    }
                }
            }
            State::Avg(s, n) => {
                if let Some(x) = num() {
                    *s += x;
                    *n += 1;
                }
            }
            State::Stddev(n, mean, m2) => {
                if let Some(x) = num() {
                    *n += 1;
                    let d = x - *mean;
                    *mean += d / *n as f64;
                    *m2 += d * (x - *mean);
                }
            }
            State::Numbers(list) => {
                if let Some(x) = num() {
                    list.push(x);
                }
            }
            State::First(cur) => {
                let Kind::FirstValue { by } = spec.kind else {
                    return;
                };
                match by {
                    None => {
                        if cur.is_none() {
                            if let Some(x) = v() {
                                *cur = Some((x, None));
                            }
                        }
                    }
                    Some((slot, asc)) => {
                        let key = row
                            .get(slot)
                            .cloned()
                            .flatten()
                            .filter(|k| *k != Value::Null);
                        if first_is_better(cur, &key, asc) {
                            *cur = Some((v().unwrap_or(Value::Null), key));
                        }
                    }
                }
            }
            State::Sample(sample, seen, rng) => {
                let Kind::RandomSample(size) = spec.kind else {
                    return;
                };
                let Some(x) = v() else {
                    return;
                };
                *seen += 1;
                if sample.len() < size {
                    sample.push(x);
                } else {
                    // Reservoir sampling (xorshift: no crate needed for a sample).
                    *rng ^= *rng << 13;
                    *rng ^= *rng >> 7;
                    *rng ^= *rng << 17;
                    let j = (*rng % *seen) as usize;
                    if j < size {
                        sample[j] = x;
                    }
                }
            }
        }
    }

    /// The state as a value a shard sends its coordinator, which [`State::absorb`]s the
    /// shards' values into one state. Only for reducers that [`mergeable`] says decompose.
    pub fn partial(self, spec: &ReducerSpec) -> Value {
        let n = Value::Num;
        match self {
            State::Count(c) => n(c as f64),
            State::Distinct(seen, list) => match spec.kind {
                Kind::ToList => Value::Arr(list),
                _ => Value::Arr(seen.into_iter().map(Value::Str).collect()),
            },
            State::Sum(s) => n(s),
            State::MinMax(m) => m.map_or(Value::Null, n),
            State::Avg(s, c) => Value::Arr(vec![n(s), n(c as f64)]),
            State::Stddev(c, mean, m2) => Value::Arr(vec![n(c as f64), n(mean), n(m2)]),
            State::First(None) => Value::Null,
            State::First(Some((v, None))) => Value::Arr(vec![v]),
            State::First(Some((v, Some(k)))) => Value::Arr(vec![v, k]),
            // Not mergeable: the coordinator reduces these from rows.
            State::Numbers(_) | State::Sample(..) => Value::Null,
        }
    }

    /// Adds a shard's [`State::partial`] value. A value of the wrong shape (another node's
    /// bug) adds nothing rather than failing the query half-merged.
    pub fn absorb(&mut self, spec: &ReducerSpec, part: &Value) {
        let num = |v: &Value| v.to_number();
        let arr = |v: &Value| match v {
            Value::Arr(a) => a.clone(),
            _ => Vec::new(),
        };
        match self {
            State::Count(c) => *c += num(part).filter(|x| *x >= 0.0).unwrap_or(0.0) as u64,
            State::Distinct(seen, list) => {
                for x in arr(part) {
                    if seen.insert(x.text()) && spec.kind == Kind::ToList {
                        list.push(x);
                    }
                }
            }
            State::Sum(s) => *s += num(part).unwrap_or(0.0),
            State::MinMax(m) => {
                if let Some(x) = num(part) {
                    let better = match m {
                        None => true,
                        Some(cur) if spec.kind == Kind::Min => x < *cur,
                        Some(cur) => x > *cur,
                    };
                    if better {
                        *m = Some(x);
                    }
                }
            }
            State::Avg(s, c) => {
                if let [a, b] = arr(part).as_slice() {
                    *s += num(a).unwrap_or(0.0);
                    *c += num(b).filter(|x| *x >= 0.0).unwrap_or(0.0) as u64;
                }
            }
            State::Stddev(c, mean, m2) => {
                let a = arr(part);
                let [nb, mb, m2b] = a.as_slice() else {
                    return;
                };
                let (Some(nb), Some(mb), Some(m2b)) = (num(nb), num(mb), num(m2b)) else {
                    return;
                };
                let nb = if nb >= 1.0 { nb as u64 } else { return };
                // Chan et al.'s pairwise combination of two Welford states.
                let na = *c as f64;
                let total = na + nb as f64;
                let delta = mb - *mean;
                *mean += delta * nb as f64 / total;
                *m2 += m2b + delta * delta * na * nb as f64 / total;
                *c += nb;
            }
            State::First(cur) => {
                let Kind::FirstValue { by } = spec.kind else {
                    return;
                };
                let mut it = arr(part).into_iter();
                let Some(v) = it.next() else { return };
                let key = it.next().filter(|k| *k != Value::Null);
                let better = match by {
                    None => cur.is_none(),
                    Some((_, asc)) => first_is_better(cur, &key, asc),
                };
                if better {
                    *cur = Some((v, key));
                }
            }
            State::Numbers(_) | State::Sample(..) => {}
        }
    }

    pub fn finish(self, spec: &ReducerSpec) -> Value {
        match self {
            State::Count(n) => Value::Num(n as f64),
            State::Distinct(seen, list) => match spec.kind {
                Kind::ToList => Value::Arr(list),
                _ => Value::Num(seen.len() as f64),
            },
            State::Sum(s) => Value::Num(s),
            State::MinMax(m) => Value::Num(m.unwrap_or(match spec.kind {
                Kind::Min => f64::INFINITY,
                _ => f64::NEG_INFINITY,
            })),
            State::Avg(s, n) => Value::Num(if n == 0 { f64::NAN } else { s / n as f64 }),
            State::Stddev(n, _, m2) => Value::Num(if n < 2 {
                0.0
            } else {
                (m2 / (n - 1) as f64).sqrt()
            }),
            State::Numbers(mut list) => {
                if list.is_empty() {
                    return Value::Null;
                }
                list.sort_by(f64::total_cmp);
                let Kind::Quantile(q) = spec.kind else {
                    return Value::Null;
                };
                let at = ((list.len() - 1) as f64 * q).floor() as usize;
                Value::Num(list[at.min(list.len() - 1)])
            }
            State::First(cur) => cur.map_or(Value::Null, |(v, _)| v),
            State::Sample(sample, _, _) => Value::Arr(sample),
        }
    }
}

/// Whether a reducer's state splits into per-shard parts that merge exactly
/// ([`State::partial`], [`State::absorb`]); QUANTILE and RANDOM_SAMPLE need every row.
pub fn mergeable(kind: Kind) -> bool {
    !matches!(kind, Kind::Quantile(_) | Kind::RandomSample(_))
}

/// FIRST_VALUE … BY: whether a row whose sort key is `key` replaces the current pick (a row
/// with a key beats one without; ties keep the earlier).
fn first_is_better(cur: &Option<(Value, Option<Value>)>, key: &Option<Value>, asc: bool) -> bool {
    match (cur, key) {
        (None, _) => true,
        (Some((_, None)), Some(_)) => true,
        (Some((_, Some(old))), Some(new)) => {
            let o = sort_order(new, old);
            if asc {
                o.is_lt()
            } else {
                o.is_gt()
            }
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, args: &[&str]) -> Result<ReducerSpec, String> {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        parse(name, &args, &mut |_| Ok(0)).map_err(|e| e.to_string())
    }

    fn reduce(name: &str, args: &[&str], values: &[Value]) -> Value {
        let s = spec(name, args).unwrap();
        let mut st = State::new(&s);
        for v in values {
            st.add(&s, &[Some(v.clone())]);
        }
        st.finish(&s)
    }

    #[test]
    fn reducers() {
        let n = Value::Num;
        let vals = [n(1.0), n(3.0), n(5.0)];
        assert_eq!(reduce("COUNT", &[], &vals), n(3.0));
        assert_eq!(reduce("sum", &["@x"], &vals), n(9.0));
        assert_eq!(reduce("MIN", &["@x"], &vals), n(1.0));
        assert_eq!(reduce("MAX", &["@x"], &vals), n(5.0));
        assert_eq!(reduce("AVG", &["@x"], &vals), n(3.0));
        assert_eq!(reduce("STDDEV", &["@x"], &[n(2.0), n(4.0)]), n(2f64.sqrt()));
        assert_eq!(reduce("QUANTILE", &["@x", "0.5"], &vals), n(3.0));
        assert_eq!(
            reduce("QUANTILE", &["@x", "0.5"], &[n(2.0), n(4.0)]),
            n(2.0)
        );
        assert_eq!(
            reduce("COUNT_DISTINCT", &["@x"], &[n(1.0), n(1.0), n(2.0)]),
            n(2.0)
        );
        assert_eq!(
            reduce("TOLIST", &["@x"], &[n(1.0), n(1.0), n(2.0)]),
            Value::Arr(vec![n(1.0), n(2.0)])
        );
        assert_eq!(reduce("FIRST_VALUE", &["@x"], &vals), n(1.0));
        let Value::Arr(sample) = reduce("RANDOM_SAMPLE", &["@x", "2"], &vals) else {
            panic!()
        };
        assert_eq!(sample.len(), 2);
        assert_eq!(
            generated_alias("FIRST_VALUE", &[b"@n", b"BY", b"@n", b"DESC"]),
            "__generated_aliasfirst_valuen,by,n,desc"
        );
    }

    #[test]
    fn errors() {
        assert_eq!(
            spec("COUNT", &["@n"]).unwrap_err(),
            "Count accepts 0 values only"
        );
        assert_eq!(spec("SUM", &[]).unwrap_err(), "Missing arguments for SUM");
        assert_eq!(
            spec("QUANTILE", &["@n", "2"]).unwrap_err(),
            "Percentage must be between 0.0 and 1.0"
        );
        assert_eq!(spec("FOO", &[]).unwrap_err(), "No such reducer: FOO");
    }
}
