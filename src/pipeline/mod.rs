//! Stream-triggered pipelines (`AI.PIPELINE`): the pure part. The grammar of a definition,
//! how a batch of stream entries becomes the DAG's input tensor, how the DAG's outputs are
//! cut back into one row per entry, and the latency percentiles. Knows nothing of Redis;
//! the glue that reads streams, runs the DAG on the worker queues and writes the results is
//! `stream_pipes.rs`.
//!
//! ```text
//! AI.PIPELINE ADD <name> STREAM <key> FIELD <field> INPUT <tensor> (STRING | <dtype> <dim>...)
//!     [GROUP <group>] [BATCH <n>] [MAXLATENCY <ms>] [MAXINFLIGHT <n>]
//!     OUTPUT (STREAM <key> [MAXLEN <n>] | HASH <prefix>) OUTPUTS <n> <tensor>...
//!     DAG [TIMEOUT <ms>] |> <op> |> ...
//! ```
//!
//! `DAG` comes last: what follows is an AI.DAGEXECUTE body, which may contain any word.

#[cfg(test)]
mod tests;

use crate::args::{parse_i64, Words};
use crate::error::{AiError, AiResult};
use crate::tensor::{DType, Limits, Shape, Tensor};

/// Bounds on what a client may ask for: a batch is one tensor and one reply's worth of
/// stream entries, and in-flight batches hold entries out of the stream.
pub const MAX_BATCH: usize = 10_000;
pub const MAX_LATENCY_MS: u64 = 3_600_000;
pub const MAX_IN_FLIGHT: usize = 64;
pub const MAX_OUTPUTS: usize = 64;
pub const MAX_NAME: usize = 1024;
/// Pipelines per server: each holds a consumer and a timer.
pub const MAX_PIPELINES: usize = 1024;
/// Entries of the latency window the percentiles are computed over.
pub const LATENCY_WINDOW: usize = 4096;

/// The default group is `ai-pipeline:<name>`: two pipelines on one stream each see every entry.
const DEFAULT_GROUP: &[u8] = b"ai-pipeline:";
const DEFAULT_BATCH: usize = 32;
const DEFAULT_LATENCY_MS: u64 = 10;
const DEFAULT_IN_FLIGHT: usize = 2;

/// Where results go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// One entry per source entry: `id <source id>` then `<tensor> <row bytes>`... or
    /// `error <text>`.
    Stream { key: Vec<u8>, maxlen: Option<u64> },
    /// Hash `<prefix><source id>`: the source entry's fields, then `<tensor> <row bytes>`...
    /// or `error <text>`.
    Hash { prefix: Vec<u8> },
}

/// A pipeline as registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Def {
    pub name: Vec<u8>,
    pub stream: Vec<u8>,
    pub field: Vec<u8>,
    pub input: Vec<u8>,
    pub dtype: DType,
    /// One entry's shape (empty: a scalar, or one STRING per entry).
    pub dims: Vec<i64>,
    pub group: Vec<u8>,
    pub batch: usize,
    pub max_latency_ms: u64,
    pub max_in_flight: usize,
    pub output: Output,
    pub outputs: Vec<Vec<u8>>,
    /// The words after `DAG`.
    pub dag: Vec<Vec<u8>>,
    /// The words of the definition after the name, as given: what is saved and replicated.
    pub args: Vec<Vec<u8>>,
}

fn is(word: &[u8], keyword: &str) -> bool {
    word.eq_ignore_ascii_case(keyword.as_bytes())
}

fn err(text: impl Into<String>) -> AiError {
    AiError::Pipeline(text.into())
}

fn lossy(w: &[u8]) -> String {
    String::from_utf8_lossy(w).into_owned()
}

/// A positive integer argument of `what`, at most `max`.
fn bounded(word: Option<&[u8]>, what: &str, min: i64, max: u64) -> AiResult<u64> {
    let word = word.ok_or_else(|| err(format!("ERR {what} needs a value")))?;
    match parse_i64(word) {
        Some(v) if v >= min && (v as u64) <= max => Ok(v as u64),
        _ => Err(err(format!(
            "ERR {what} must be an integer between {min} and {max}"
        ))),
    }
}

/// Parses `<name> <definition...>` (the words after `ADD`).
pub fn parse_add<'a, W: Words<'a> + ?Sized>(words: &W) -> AiResult<Def> {
    let n = words.count();
    if n == 0 {
        return Err(AiError::WrongArity);
    }
    let name = words.word(0);
    if name.is_empty() || name.len() > MAX_NAME {
        return Err(err(format!(
            "ERR a pipeline name has 1 to {MAX_NAME} bytes"
        )));
    }
    let at = |i: usize| (i < n).then(|| words.word(i));
    let mut stream = None;
    let mut field = None;
    let mut input: Option<(Vec<u8>, DType, Vec<i64>)> = None;
    let mut group = None;
    let mut batch = None;
    let mut latency = None;
    let mut in_flight = None;
    let mut output = None;
    let mut outputs: Option<Vec<Vec<u8>>> = None;
    let mut dag = None;
    let mut pos = 1;
    let once = |seen: bool, what: &str| {
        if seen {
            Err(err(format!("ERR {what} is given twice")))
        } else {
            Ok(())
        }
    };
    while pos < n {
        let w = words.word(pos);
        if is(w, "STREAM") {
            once(stream.is_some(), "STREAM")?;
            let key = at(pos + 1).ok_or_else(|| err("ERR STREAM needs a key"))?;
            stream = Some(key.to_vec());
            pos += 2;
        } else if is(w, "FIELD") {
            once(field.is_some(), "FIELD")?;
            let f = at(pos + 1).ok_or_else(|| err("ERR FIELD needs a field name"))?;
            field = Some(f.to_vec());
            pos += 2;
        } else if is(w, "INPUT") {
            once(input.is_some(), "INPUT")?;
            let tensor = at(pos + 1).ok_or_else(|| err("ERR INPUT needs a tensor name"))?;
            let dtype = at(pos + 2)
                .and_then(DType::parse)
                .ok_or_else(|| err("ERR INPUT needs a tensor name and a data type"))?;
            pos += 3;
            let mut dims = Vec::new();
            if dtype != DType::String {
                // The dimensions are the integers up to the next keyword.
                while let Some(d) = at(pos).and_then(parse_i64) {
                    if d <= 0 {
                        return Err(err("ERR INPUT dimensions must be positive"));
                    }
                    dims.push(d);
                    pos += 1;
                    if dims.len() > 8 {
                        return Err(err("ERR INPUT has at most 8 dimensions"));
                    }
                }
                crate::tensor::element_count(&dims)?;
            }
            input = Some((tensor.to_vec(), dtype, dims));
        } else if is(w, "GROUP") {
            once(group.is_some(), "GROUP")?;
            let g = at(pos + 1).ok_or_else(|| err("ERR GROUP needs a group name"))?;
            group = Some(g.to_vec());
            pos += 2;
        } else if is(w, "BATCH") {
            once(batch.is_some(), "BATCH")?;
            batch = Some(bounded(at(pos + 1), "BATCH", 1, MAX_BATCH as u64)? as usize);
            pos += 2;
        } else if is(w, "MAXLATENCY") {
            once(latency.is_some(), "MAXLATENCY")?;
            latency = Some(bounded(at(pos + 1), "MAXLATENCY", 0, MAX_LATENCY_MS)?);
            pos += 2;
        } else if is(w, "MAXINFLIGHT") {
            once(in_flight.is_some(), "MAXINFLIGHT")?;
            in_flight =
                Some(bounded(at(pos + 1), "MAXINFLIGHT", 1, MAX_IN_FLIGHT as u64)? as usize);
            pos += 2;
        } else if is(w, "OUTPUT") {
            once(output.is_some(), "OUTPUT")?;
            let kind = at(pos + 1);
            let target = at(pos + 2);
            match (kind, target) {
                (Some(k), Some(key)) if is(k, "STREAM") => {
                    pos += 3;
                    let mut maxlen = None;
                    if at(pos).is_some_and(|w| is(w, "MAXLEN")) {
                        maxlen = Some(bounded(at(pos + 1), "MAXLEN", 1, i64::MAX as u64)?);
                        pos += 2;
                    }
                    output = Some(Output::Stream {
                        key: key.to_vec(),
                        maxlen,
                    });
                }
                (Some(k), Some(prefix)) if is(k, "HASH") => {
                    pos += 3;
                    output = Some(Output::Hash {
                        prefix: prefix.to_vec(),
                    });
                }
                _ => return Err(err("ERR OUTPUT needs STREAM <key> or HASH <prefix>")),
            }
        } else if is(w, "OUTPUTS") {
            once(outputs.is_some(), "OUTPUTS")?;
            let count = bounded(at(pos + 1), "OUTPUTS", 1, MAX_OUTPUTS as u64)? as usize;
            if pos + 2 + count > n {
                return Err(err("ERR OUTPUTS names fewer tensors than its count"));
            }
            let names: Vec<Vec<u8>> = (0..count)
                .map(|i| words.word(pos + 2 + i).to_vec())
                .collect();
            for name in &names {
                if is(name, "error") || is(name, "id") {
                    return Err(err(format!(
                        "ERR an output tensor cannot be named '{}' (a field of the results)",
                        lossy(name)
                    )));
                }
            }
            outputs = Some(names);
            pos += 2 + count;
        } else if is(w, "DAG") {
            dag = Some(
                (pos + 1..n)
                    .map(|i| words.word(i).to_vec())
                    .collect::<Vec<_>>(),
            );
            pos = n;
        } else {
            return Err(err(format!(
                "ERR unknown argument '{}' in 'AI.PIPELINE ADD'",
                lossy(w)
            )));
        }
    }
    let stream = stream.ok_or_else(|| err("ERR a pipeline needs STREAM <key>"))?;
    let field = field.ok_or_else(|| err("ERR a pipeline needs FIELD <field>"))?;
    let (input, dtype, dims) =
        input.ok_or_else(|| err("ERR a pipeline needs INPUT <tensor> <type>"))?;
    let output = output.ok_or_else(|| err("ERR a pipeline needs OUTPUT STREAM|HASH"))?;
    let outputs = outputs.ok_or_else(|| err("ERR a pipeline needs OUTPUTS <n> <tensor>..."))?;
    let dag = dag.ok_or_else(|| err("ERR a pipeline needs DAG |> <op> ..."))?;
    if !dag.iter().any(|w| w == b"|>") {
        return Err(err("ERR a pipeline needs DAG |> <op> ..."));
    }
    if let Output::Stream { key, .. } = &output {
        if *key == stream {
            return Err(err(
                "ERR the output stream cannot be the pipeline's own stream",
            ));
        }
    }
    Ok(Def {
        name: name.to_vec(),
        stream,
        field,
        input,
        dtype,
        dims,
        group: group.unwrap_or_else(|| [DEFAULT_GROUP, name].concat()),
        batch: batch.unwrap_or(DEFAULT_BATCH),
        max_latency_ms: latency.unwrap_or(DEFAULT_LATENCY_MS),
        max_in_flight: in_flight.unwrap_or(DEFAULT_IN_FLIGHT),
        output,
        outputs,
        dag,
        args: (1..n).map(|i| words.word(i).to_vec()).collect(),
    })
}

/// Where the keys of `<name> <definition...>` are: `(position, written)`. The source stream
/// is read and written (its consumer group), an output stream written; the DAG's keys
/// (models, scripts) are read.
pub fn key_positions<'a, W: Words<'a> + ?Sized>(words: &W) -> Vec<(usize, bool)> {
    let n = words.count();
    let mut keys = Vec::new();
    let mut pos = 1;
    while pos < n {
        let w = words.word(pos);
        if is(w, "DAG") {
            let body = crate::args::tail(words, pos);
            keys.extend(
                crate::dag::key_positions(&body)
                    .into_iter()
                    .map(|(p, _)| (pos + p, false)),
            );
            break;
        }
        if is(w, "STREAM") && pos + 1 < n {
            keys.push((pos + 1, true));
            pos += 2;
            continue;
        }
        if is(w, "OUTPUT") && pos + 2 < n && is(words.word(pos + 1), "STREAM") {
            keys.push((pos + 2, true));
            pos += 3;
            continue;
        }
        if is(w, "OUTPUTS") || is(w, "FIELD") || is(w, "GROUP") || is(w, "INPUT") {
            // Their operands are names, not keys, and may look like keywords.
            let skip = if is(w, "OUTPUTS") {
                (pos + 1 < n)
                    .then(|| parse_i64(words.word(pos + 1)))
                    .flatten()
                    .filter(|&c| c >= 0)
                    .map_or(1, |c| (c as usize).saturating_add(2))
            } else {
                2
            };
            pos = pos.saturating_add(skip);
            continue;
        }
        pos += 1;
    }
    keys
}

/// Bytes of one entry's input (`None` for STRING, any length).
pub fn entry_bytes(def: &Def) -> Option<usize> {
    if def.dtype == DType::String {
        return None;
    }
    let count: i64 = def.dims.iter().product();
    Some(count as usize * def.dtype.elem_size())
}

/// The batch input built from entries' field values: the tensor, and for each entry whether
/// it is in the batch (`Ok`) or refused (`Err(text)`, answered with an error record).
pub struct Batch {
    pub tensor: Option<Tensor>,
    pub accepted: Vec<Result<(), String>>,
}

/// Makes the input tensor `[k, dims...]` (`[k]` STRING) of the `k` values that fit.
pub fn build_batch(def: &Def, values: &[Option<&[u8]>], limits: Limits) -> Batch {
    let want = entry_bytes(def);
    let mut accepted = Vec::with_capacity(values.len());
    let mut data = Vec::new();
    let mut k = 0usize;
    for v in values {
        let verdict = match v {
            None => Err(format!(
                "ERR the entry has no field '{}'",
                lossy(&def.field)
            )),
            Some(v) => match want {
                Some(len) if v.len() != len => Err(format!(
                    "ERR field '{}' has {} bytes, the input needs {len}",
                    lossy(&def.field),
                    v.len()
                )),
                None if v.contains(&0) => Err(format!(
                    "ERR field '{}' contains a NUL byte",
                    lossy(&def.field)
                )),
                _ => Ok(()),
            },
        };
        if verdict.is_ok() {
            if let Some(v) = v {
                if data.try_reserve(v.len() + 1).is_err() {
                    accepted.push(Err("ERR out of memory".to_string()));
                    continue;
                }
                data.extend_from_slice(v);
                if want.is_none() {
                    data.push(0);
                }
                k += 1;
            }
        }
        accepted.push(verdict);
    }
    if k == 0 {
        return Batch {
            tensor: None,
            accepted,
        };
    }
    let mut shape: Shape = Shape::new();
    shape.push(k as i64);
    shape.extend(def.dims.iter().copied());
    match Tensor::from_vec(def.dtype, shape, data, limits) {
        Ok(t) => Batch {
            tensor: Some(t),
            accepted,
        },
        Err(e) => {
            let text = e.to_string();
            Batch {
                tensor: None,
                accepted: accepted
                    .into_iter()
                    .map(|a| a.and(Err(text.clone())))
                    .collect(),
            }
        }
    }
}

/// Row `i` of a batch output: its raw bytes (a STRING tensor's `i`-th string).
pub fn row(t: &Tensor, rows: usize, i: usize) -> AiResult<&[u8]> {
    let first = t.shape().first().copied().unwrap_or(0);
    if first != rows as i64 || i >= rows {
        return Err(err(format!(
            "ERR an output has {first} rows for a batch of {rows} entries"
        )));
    }
    if t.dtype() == DType::String {
        if t.shape().len() != 1 {
            return Err(err("ERR a STRING output must have one dimension"));
        }
        let s = t.string_at(i);
        return Ok(s.strip_suffix(&[0]).unwrap_or(s));
    }
    let per = t.data().len() / rows;
    Ok(&t.data()[i * per..(i + 1) * per])
}

/// The millisecond part of a stream entry id (`<ms>-<seq>`).
pub fn id_millis(id: &[u8]) -> Option<u64> {
    let ms = id.split(|&b| b == b'-').next()?;
    std::str::from_utf8(ms).ok()?.parse().ok()
}

/// The last [`LATENCY_WINDOW`] latencies, in milliseconds.
#[derive(Debug, Default, Clone)]
pub struct Latencies {
    ring: Vec<f64>,
    next: usize,
}

impl Latencies {
    pub fn record(&mut self, ms: f64) {
        if self.ring.len() < LATENCY_WINDOW {
            self.ring.push(ms);
        } else {
            self.ring[self.next] = ms;
        }
        self.next = (self.next + 1) % LATENCY_WINDOW;
    }

    /// The `p`-th percentile (nearest rank), 0 with no sample.
    pub fn percentile(&self, p: f64) -> f64 {
        if self.ring.is_empty() {
            return 0.0;
        }
        let mut v = self.ring.clone();
        v.sort_by(f64::total_cmp);
        let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
        v[rank.clamp(1, v.len()) - 1]
    }
}
