//! The DAG ops that turn text into a stored, indexed embedding (not RedisAI's; issue 19):
//!
//! * `AI.POOL MEAN [NORMALIZE] INPUTS 2 <hidden> <mask> OUTPUTS 1 <out>`: the sentence
//!   embedding of an encoder's `[B, S, D]` hidden states, averaged over the tokens whose
//!   attention mask (`[B, S]`) is not zero, and, with NORMALIZE, scaled to unit L2 length:
//!   a `[B, D]` FLOAT tensor. This is sentence-transformers' `Pooling(mean)` + `Normalize`.
//! * `AI.HSET <key> VECTOR <field> <tensor> [FIELDS <nargs> <name> <value> ...]`: when every
//!   op of the DAG succeeded, writes the tensor (one FLOAT or DOUBLE vector, `[D]` or `[1, D]`)
//!   as the raw little-endian bytes of hash field `<field>`, with the other fields, by an
//!   HSET: the FT index sees the document before the DAG replies, replicas and the AOF get
//!   the HSET.
//!
//! Why pooling is built in rather than a TorchScript script: it is a few lines of arithmetic,
//! and a script would make every embedding depend on the TORCH plugin (libtorch: about 1 GB
//! of libraries and seconds to load) for work that takes microseconds (README, measured).
//! Pooling runs on the CPU queue like a model op, so a DAG's ops keep one execution model.

use std::sync::Arc;

use crate::args::{parse_i64, Words};
use crate::backend::{BackendKind, RunFailure};
use crate::error::{AiError, AiResult};
use crate::exec::{self, Queue, Runner};
use crate::stats::{Kind, RunStats};
use crate::tensor::{DType, Limits, Shape, Tensor};

fn is(word: &[u8], keyword: &str) -> bool {
    word.eq_ignore_ascii_case(keyword.as_bytes())
}

fn op_error(op: &str, why: impl std::fmt::Display) -> AiError {
    AiError::DagOp(format!("ERR {op}: {why}"))
}

/// A built-in op, run on the CPU queue.
pub struct Builtin {
    pub op: BuiltinOp,
    pub queue: Arc<Queue>,
    /// Counted by the worker like a model's; registered nowhere (no key holds the op).
    stats: RunStats,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuiltinOp {
    MeanPool { normalize: bool },
}

impl Builtin {
    fn new(op: BuiltinOp, threads: usize) -> AiResult<Builtin> {
        let queue = exec::queue("CPU", threads).map_err(|e| op_error("AI.POOL", e))?;
        Ok(Builtin {
            op,
            queue,
            stats: RunStats::new(b"", Kind::Model, BackendKind::Onnx, "CPU", b""),
        })
    }
}

impl Runner for Builtin {
    fn run(&self, _worker: usize, inputs: &[&Tensor]) -> Result<Vec<Option<Tensor>>, RunFailure> {
        let BuiltinOp::MeanPool { normalize } = self.op;
        let [hidden, mask] = inputs else {
            return Err(RunFailure::Error("ERR AI.POOL: expected 2 inputs".into()));
        };
        mean_pool(hidden, mask, normalize)
            .map(|t| vec![Some(t)])
            .map_err(|e| RunFailure::Error(e.to_string()))
    }

    fn stats(&self) -> &RunStats {
        &self.stats
    }
}

/// `AI.POOL` as parsed: the op and the word positions of its inputs and output.
pub struct PoolArgs {
    pub builtin: Builtin,
    pub inputs: Vec<usize>,
    pub outputs: Vec<usize>,
}

/// The words of `AI.POOL` after its name (`op.word(0)` is the name); positions returned are
/// relative to `op`.
pub fn parse_pool<'a, W: Words<'a> + ?Sized>(op: &W, threads: usize) -> AiResult<PoolArgs> {
    let n = op.count();
    let mut pos = 1;
    if pos >= n || !is(op.word(pos), "MEAN") {
        return Err(op_error("AI.POOL", "the pooling must be MEAN"));
    }
    pos += 1;
    let normalize = pos < n && is(op.word(pos), "NORMALIZE");
    if normalize {
        pos += 1;
    }
    let mut section = |keyword: &str, count: usize| -> AiResult<Vec<usize>> {
        let ok = pos + 1 < n
            && is(op.word(pos), keyword)
            && parse_i64(op.word(pos + 1)) == Some(count as i64)
            && pos + 2 + count <= n;
        if !ok {
            return Err(op_error(
                "AI.POOL",
                format_args!("expected {keyword} {count} followed by {count} name(s)"),
            ));
        }
        let names = (pos + 2..pos + 2 + count).collect();
        pos += 2 + count;
        Ok(names)
    };
    let inputs = section("INPUTS", 2)?;
    let outputs = section("OUTPUTS", 1)?;
    if pos != n {
        return Err(op_error(
            "AI.POOL",
            format_args!(
                "unexpected argument {}",
                String::from_utf8_lossy(op.word(pos))
            ),
        ));
    }
    Ok(PoolArgs {
        builtin: Builtin::new(BuiltinOp::MeanPool { normalize }, threads)?,
        inputs,
        outputs,
    })
}

/// The value of element `i` of a mask tensor of a numeric type.
fn mask_value(mask: &Tensor, i: usize) -> Option<f64> {
    let d = mask.data();
    let at = |size: usize| d.get(i * size..(i + 1) * size);
    Some(match mask.dtype() {
        DType::Int64 => i64::from_le_bytes(at(8)?.try_into().ok()?) as f64,
        DType::Int32 => i32::from_le_bytes(at(4)?.try_into().ok()?) as f64,
        DType::Int16 => i16::from_le_bytes(at(2)?.try_into().ok()?) as f64,
        DType::Int8 => at(1)?[0] as i8 as f64,
        DType::UInt8 | DType::Bool => at(1)?[0] as f64,
        DType::UInt16 => u16::from_le_bytes(at(2)?.try_into().ok()?) as f64,
        DType::Float => f32::from_le_bytes(at(4)?.try_into().ok()?) as f64,
        DType::Double => f64::from_le_bytes(at(8)?.try_into().ok()?),
        DType::String => return None,
    })
}

/// Mean of `hidden` (`[B, S, D]`, FLOAT) over the tokens of `mask` (`[B, S]`, weights,
/// normally 0/1), each row L2-normalised when `normalize`: `[B, D]` FLOAT. As
/// sentence-transformers: a row whose mask is all zero is divided by 1e-9 (so stays zero),
/// and normalising divides by max(norm, 1e-12). Sums are in f64.
pub fn mean_pool(hidden: &Tensor, mask: &Tensor, normalize: bool) -> AiResult<Tensor> {
    let bad = |why: &str| op_error("AI.POOL", why);
    if hidden.dtype() != DType::Float {
        return Err(bad(
            "the hidden states must be a FLOAT tensor [batch, tokens, dim]",
        ));
    }
    let &[b, s, dim] = hidden.shape() else {
        return Err(bad(
            "the hidden states must have shape [batch, tokens, dim]",
        ));
    };
    if mask.dtype() == DType::String || mask.shape() != [b, s] {
        return Err(bad(
            "the mask must be a numeric tensor [batch, tokens] matching the hidden states",
        ));
    }
    let (b, s, dim) = (b as usize, s as usize, dim as usize);
    let h = hidden.data();
    let mut out = Vec::with_capacity(b * dim * 4);
    let mut acc = vec![0f64; dim];
    for row in 0..b {
        acc.iter_mut().for_each(|a| *a = 0.0);
        let mut weight = 0f64;
        for tok in 0..s {
            let w = mask_value(mask, row * s + tok).ok_or_else(|| bad("short mask"))?;
            if w == 0.0 {
                continue;
            }
            weight += w;
            let start = (row * s + tok) * dim * 4;
            let chunk = h
                .get(start..start + dim * 4)
                .ok_or_else(|| bad("short hidden states"))?;
            for (a, v) in acc.iter_mut().zip(chunk.chunks_exact(4)) {
                // chunks_exact(4): always 4 bytes.
                *a += w * f32::from_le_bytes([v[0], v[1], v[2], v[3]]) as f64;
            }
        }
        let weight = weight.max(1e-9);
        acc.iter_mut().for_each(|a| *a /= weight);
        if normalize {
            let norm = acc.iter().map(|a| a * a).sum::<f64>().sqrt().max(1e-12);
            acc.iter_mut().for_each(|a| *a /= norm);
        }
        out.extend(acc.iter().flat_map(|&a| (a as f32).to_le_bytes()));
    }
    let shape: Shape = [b as i64, dim as i64].into_iter().collect();
    Tensor::from_vec(DType::Float, shape, out, Limits::UNLIMITED)
}

/// `AI.HSET` as parsed: word positions relative to the op.
pub struct HsetArgs {
    pub key: usize,
    pub field: usize,
    pub tensor: usize,
    pub fields: Vec<(usize, usize)>,
}

/// The words of `AI.HSET` (`op.word(0)` is the name).
pub fn parse_hset<'a, W: Words<'a> + ?Sized>(op: &W) -> AiResult<HsetArgs> {
    let n = op.count();
    let usage = || {
        op_error(
            "AI.HSET",
            "expected <key> VECTOR <field> <tensor> [FIELDS <nargs> <name> <value> ...]",
        )
    };
    if n < 5 || !is(op.word(2), "VECTOR") {
        return Err(usage());
    }
    let mut fields = Vec::new();
    if n > 5 {
        if !is(op.word(5), "FIELDS") || n < 7 {
            return Err(usage());
        }
        let nargs = parse_i64(op.word(6))
            .filter(|&c| c > 0 && c % 2 == 0)
            .ok_or_else(|| op_error("AI.HSET", "FIELDS needs an even, positive nargs"))?;
        if nargs as u64 != (n - 7) as u64 {
            return Err(op_error(
                "AI.HSET",
                "the number of FIELDS arguments does not match nargs",
            ));
        }
        fields = (7..n).step_by(2).map(|i| (i, i + 1)).collect();
    }
    Ok(HsetArgs {
        key: 1,
        field: 3,
        tensor: 4,
        fields,
    })
}

/// `AI.FTSEARCH` as parsed: word positions relative to the op.
pub struct SearchArgs {
    pub index: usize,
    pub query: usize,
    pub param: usize,
    pub tensor: usize,
    /// FT.SEARCH's own arguments after the query, passed as they are.
    pub rest: std::ops::Range<usize>,
}

/// The words of `AI.FTSEARCH <index> <query> VECTOR <param> <tensor> [<FT.SEARCH arg>...]`.
pub fn parse_ftsearch<'a, W: Words<'a> + ?Sized>(op: &W) -> AiResult<SearchArgs> {
    let n = op.count();
    if n < 6 || !is(op.word(3), "VECTOR") {
        return Err(op_error(
            "AI.FTSEARCH",
            "expected <index> <query> VECTOR <param> <tensor> [<FT.SEARCH argument> ...]",
        ));
    }
    Ok(SearchArgs {
        index: 1,
        query: 2,
        param: 4,
        tensor: 5,
        rest: 6..n,
    })
}

/// FT.SEARCH's arguments with `$param` bound to `vector`: added to the caller's PARAMS
/// section, or as a section of its own.
pub fn search_argv(
    index: &[u8],
    query: &[u8],
    rest: &[Vec<u8>],
    param: &[u8],
    vector: &[u8],
) -> AiResult<Vec<Vec<u8>>> {
    let mut argv = vec![index.to_vec(), query.to_vec()];
    let at = rest.iter().position(|w| is(w, "PARAMS"));
    match at {
        Some(i) => {
            let count = rest
                .get(i + 1)
                .and_then(|c| parse_i64(c))
                .filter(|&c| c >= 0 && c % 2 == 0)
                .ok_or_else(|| op_error("AI.FTSEARCH", "PARAMS needs an even nargs"))?;
            argv.extend(rest[..=i].iter().cloned());
            argv.push((count + 2).to_string().into_bytes());
            argv.push(param.to_vec());
            argv.push(vector.to_vec());
            argv.extend(rest[i + 2..].iter().cloned());
        }
        None => {
            argv.extend(rest.iter().cloned());
            argv.extend([
                b"PARAMS".to_vec(),
                b"2".to_vec(),
                param.to_vec(),
                vector.to_vec(),
            ]);
        }
    }
    Ok(argv)
}

/// The bytes AI.HSET writes for `t`: one FLOAT or DOUBLE vector, `[D]` or `[1, D]`.
pub fn vector_bytes(t: &Tensor) -> AiResult<&[u8]> {
    let one_row = match t.shape() {
        [d] => *d > 0,
        [1, d] => *d > 0,
        _ => false,
    };
    if !one_row || !matches!(t.dtype(), DType::Float | DType::Double) {
        return Err(op_error(
            "AI.HSET",
            "the vector must be one FLOAT or DOUBLE row, of shape [dim] or [1, dim]",
        ));
    }
    Ok(t.data())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensor(dtype: DType, shape: &[i64], values: &[f64]) -> Tensor {
        let data: Vec<u8> = match dtype {
            DType::Float => values
                .iter()
                .flat_map(|&v| (v as f32).to_le_bytes())
                .collect(),
            DType::Int64 => values
                .iter()
                .flat_map(|&v| (v as i64).to_le_bytes())
                .collect(),
            _ => unreachable!(),
        };
        Tensor::from_vec(
            dtype,
            shape.iter().copied().collect(),
            data,
            Limits::UNLIMITED,
        )
        .unwrap()
    }

    fn floats(t: &Tensor) -> Vec<f32> {
        t.data()
            .chunks(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect()
    }

    #[test]
    fn mean_pooling_skips_masked_tokens_and_normalises() {
        // Two texts of three tokens, dim 2; the second's last token is padding.
        let h = tensor(
            DType::Float,
            &[2, 3, 2],
            &[1., 2., 3., 4., 5., 6., 3., 0., 0., 4., 100., 100.],
        );
        let m = tensor(DType::Int64, &[2, 3], &[1., 1., 1., 1., 1., 0.]);
        let plain = mean_pool(&h, &m, false).unwrap();
        assert_eq!(plain.shape(), [2, 2]);
        assert_eq!(floats(&plain), [3., 4., 1.5, 2.]);
        let unit = mean_pool(&h, &m, true).unwrap();
        assert_eq!(floats(&unit), [0.6, 0.8, 0.6, 0.8]);
        // All-masked rows stay zero, as sentence-transformers' clamp makes them.
        let none = tensor(DType::Int64, &[2, 3], &[0.; 6]);
        assert_eq!(floats(&mean_pool(&h, &none, true).unwrap()), [0.; 4]);
    }

    #[test]
    fn pooling_refuses_shapes_that_do_not_match() {
        let h = tensor(DType::Float, &[1, 2, 2], &[1.; 4]);
        for (hid, mask) in [
            (
                tensor(DType::Float, &[1, 2], &[1.; 2]),
                tensor(DType::Int64, &[1, 2], &[1.; 2]),
            ),
            (h, tensor(DType::Int64, &[1, 3], &[1.; 3])),
            (
                tensor(DType::Int64, &[1, 2, 2], &[1.; 4]),
                tensor(DType::Int64, &[1, 2], &[1.; 2]),
            ),
        ] {
            assert!(mean_pool(&hid, &mask, true).is_err());
        }
    }

    #[test]
    fn the_vector_joins_the_callers_params() {
        let w = |v: &[&str]| v.iter().map(|s| s.as_bytes().to_vec()).collect::<Vec<_>>();
        let argv = search_argv(b"i", b"q", &w(&["DIALECT", "2"]), b"v", b"\0\x01").unwrap();
        assert_eq!(
            argv,
            w(&["i", "q", "DIALECT", "2", "PARAMS", "2", "v", "\0\x01"])
        );
        let rest = w(&["params", "2", "k", "3", "DIALECT", "2"]);
        let argv = search_argv(b"i", b"q", &rest, b"v", b"x").unwrap();
        let want = ["i", "q", "params", "4", "v", "x", "k", "3", "DIALECT", "2"];
        assert_eq!(argv, w(&want));
        assert!(search_argv(b"i", b"q", &w(&["PARAMS", "x"]), b"v", b"x").is_err());
        assert!(search_argv(b"i", b"q", &w(&["PARAMS"]), b"v", b"x").is_err());
        assert!(parse_ftsearch(
            &w(&["AI.FTSEARCH", "i", "q", "v", "e"])
                .iter()
                .map(Vec::as_slice)
                .collect::<Vec<_>>()[..]
        )
        .is_err());
    }

    #[test]
    fn vectors_must_be_one_float_row() {
        assert!(vector_bytes(&tensor(DType::Float, &[3], &[1.; 3])).is_ok());
        assert!(vector_bytes(&tensor(DType::Float, &[1, 3], &[1.; 3])).is_ok());
        assert!(vector_bytes(&tensor(DType::Float, &[2, 3], &[1.; 6])).is_err());
        assert!(vector_bytes(&tensor(DType::Int64, &[3], &[1.; 3])).is_err());
        assert!(vector_bytes(&tensor(DType::Float, &[0], &[])).is_err());
    }
}
