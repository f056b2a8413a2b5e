//! Argument grammar of AI.MODELSTORE, AI.MODELSET (deprecated), AI.MODELEXECUTE and
//! AI.MODELRUN (deprecated). Pure: errors and their order follow RedisAI (spec §4.3–§4.8).

use std::ops::Range;

use crate::args::parse_i64;
use crate::args::Words;
use crate::backend::BackendKind;
use crate::error::{AiError, AiResult};
use crate::exec::BatchOpts;

/// A parsed AI.MODELSTORE / AI.MODELSET. Indices point into the parsed words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreArgs<'a> {
    pub backend: BackendKind,
    pub device: &'a [u8],
    pub tag: &'a [u8],
    pub batch: BatchOpts,
    /// Input and output names given by the user (TF only).
    pub inputs: Vec<&'a [u8]>,
    pub outputs: Vec<&'a [u8]>,
    /// The model blob's chunks, concatenated in order.
    pub blob: Range<usize>,
}

fn is(word: &[u8], keyword: &str) -> bool {
    word.eq_ignore_ascii_case(keyword.as_bytes())
}

/// An unsigned integer as RedisAI's argument cursor reads one (digits only).
fn unsigned(word: Option<&[u8]>) -> Option<u64> {
    let w = word?;
    if w.is_empty() || !w.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(w).ok()?.parse().ok()
}

/// `CPU`, `GPU`, or either followed by `:` and digits (possibly none), under 10 characters.
pub fn valid_device(d: &[u8]) -> bool {
    if d.len() >= 10 {
        return false;
    }
    if is(d, "CPU") || is(d, "GPU") {
        return true;
    }
    d.len() >= 4
        && (d[..4].eq_ignore_ascii_case(b"CPU:") || d[..4].eq_ignore_ascii_case(b"GPU:"))
        && d[4..].iter().all(u8::is_ascii_digit)
}

/// A cursor over command words.
struct Cursor<'w, W: ?Sized> {
    words: &'w W,
    pos: usize,
}

impl<'a, 'w, W: Words<'a> + ?Sized> Cursor<'w, W> {
    fn peek(&self) -> Option<&'a [u8]> {
        (self.pos < self.words.count()).then(|| self.words.word(self.pos))
    }
    fn next(&mut self) -> Option<&'a [u8]> {
        let w = self.peek();
        if w.is_some() {
            self.pos += 1;
        }
        w
    }
    fn advance_if(&mut self, keyword: &str) -> bool {
        if self.peek().is_some_and(|w| is(w, keyword)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn remaining(&self) -> usize {
        self.words.count().saturating_sub(self.pos)
    }
    fn take(&mut self, n: usize) -> Vec<&'a [u8]> {
        let out = (self.pos..self.pos + n)
            .map(|i| self.words.word(i))
            .collect();
        self.pos += n;
        out
    }
    fn at_end(&self) -> bool {
        self.remaining() == 0
    }
}

/// `<backend> <device> [TAG tag] [BATCHSIZE n [MINBATCHSIZE m [MINBATCHTIMEOUT t]]]
/// [INPUTS n name... OUTPUTS n name...] BLOB chunk...`: the words after the key.
pub fn parse_modelstore<'a, W: Words<'a> + ?Sized>(words: &W) -> AiResult<StoreArgs<'a>> {
    let mut c = Cursor { words, pos: 0 };
    let backend = c
        .next()
        .and_then(BackendKind::parse)
        .ok_or(AiError::UnsupportedBackend)?;
    let device = c
        .next()
        .filter(|d| valid_device(d))
        .ok_or(AiError::InvalidDevice)?;
    let tag = if c.advance_if("TAG") {
        c.next().unwrap_or(b"")
    } else {
        b""
    };
    let mut batch = BatchOpts::default();
    if c.advance_if("BATCHSIZE") {
        batch.size = unsigned(c.next()).ok_or(AiError::InvalidBatchSize)?;
    }
    if c.advance_if("MINBATCHSIZE") {
        batch.min_size = unsigned(c.next()).ok_or(AiError::InvalidMinBatchSize)?;
        if batch.size == 0 && batch.min_size > 0 {
            return Err(AiError::MinBatchWithoutBatch);
        }
    }
    if c.advance_if("MINBATCHTIMEOUT") {
        batch.min_timeout_ms = unsigned(c.next()).ok_or(AiError::InvalidMinBatchTimeout)?;
        if batch.min_size == 0 && batch.min_timeout_ms > 0 {
            return Err(AiError::MinBatchTimeoutWithoutMinBatch);
        }
    }
    let mut word = c.next().ok_or(AiError::MissingBlob)?;
    let (mut inputs, mut outputs) = (Vec::new(), Vec::new());
    if backend == BackendKind::Tf {
        if !is(word, "INPUTS") {
            return Err(AiError::TfInputsMissing);
        }
        inputs = counted_names(&mut c, AiError::InputCountInvalid, AiError::InputNamesCount)?;
        if !c.advance_if("OUTPUTS") {
            return Err(AiError::TfOutputsMissing);
        }
        outputs = counted_names(
            &mut c,
            AiError::OutputCountInvalid,
            AiError::OutputNamesCount,
        )?;
        word = c.next().ok_or(AiError::ExpectedBlob)?;
    } else if is(word, "INPUTS") {
        return Err(AiError::InputsNotForBackend);
    }
    if !is(word, "BLOB") {
        return Err(AiError::ExpectedBlob);
    }
    if c.at_end() {
        return Err(AiError::MissingBlob);
    }
    Ok(StoreArgs {
        backend,
        device,
        tag,
        batch,
        inputs,
        outputs,
        blob: c.pos..words.count(),
    })
}

/// `<n> <name>...` after TF's INPUTS or OUTPUTS: `invalid` unless `n` is a positive
/// integer, `short` if fewer names follow.
fn counted_names<'a, W: Words<'a> + ?Sized>(
    c: &mut Cursor<'_, W>,
    invalid: AiError,
    short: AiError,
) -> AiResult<Vec<&'a [u8]>> {
    let n = unsigned(c.next()).filter(|&n| n > 0).ok_or(invalid)?;
    if (c.remaining() as u64) < n {
        return Err(short);
    }
    Ok(c.take(n as usize))
}

/// AI.MODELSET's older grammar: `<backend> <device> [TAG tag] [BATCHSIZE n [MINBATCHSIZE m
/// [MINBATCHTIMEOUT t]]] [INPUTS name... OUTPUTS name...] BLOB chunk...`, names without
/// counts. Backends other than TF ignore whatever stands between the options and BLOB.
pub fn parse_modelset<'a, W: Words<'a> + ?Sized>(words: &W) -> AiResult<StoreArgs<'a>> {
    const KEYWORDS: [&str; 7] = [
        "INPUTS",
        "OUTPUTS",
        "TAG",
        "BATCHSIZE",
        "MINBATCHSIZE",
        "MINBATCHTIMEOUT",
        "BLOB",
    ];
    let mut c = Cursor { words, pos: 0 };
    let backend = c
        .next()
        .and_then(BackendKind::parse)
        .ok_or(AiError::UnsupportedBackend)?;
    let device = c
        .next()
        .filter(|d| d.len() <= 10 && !KEYWORDS.iter().any(|k| is(d, k)))
        .ok_or(AiError::InvalidDevice)?;
    let tag = if c.advance_if("TAG") {
        c.next().unwrap_or(b"")
    } else {
        b""
    };
    let mut batch = BatchOpts::default();
    if c.advance_if("BATCHSIZE") {
        if backend == BackendKind::Tflite {
            return Err(AiError::AutoBatchingTflite);
        }
        batch.size = unsigned(c.next()).ok_or(AiError::InvalidBatchSize)?;
    }
    if c.advance_if("MINBATCHSIZE") {
        if batch.size == 0 {
            return Err(AiError::MinBatchWithoutBatch);
        }
        batch.min_size = unsigned(c.next()).ok_or(AiError::InvalidMinBatchSize)?;
    }
    if c.advance_if("MINBATCHTIMEOUT") {
        if batch.size == 0 {
            return Err(AiError::MinBatchTimeoutWithoutBatch);
        }
        if batch.min_size == 0 {
            return Err(AiError::MinBatchTimeoutWithoutMinBatch);
        }
        batch.min_timeout_ms = unsigned(c.next()).ok_or(AiError::InvalidMinBatchTimeout)?;
    }
    if c.at_end() {
        return Err(AiError::MissingBlob);
    }
    let options_start = c.pos;
    let blob_at = (c.pos..words.count()).find(|&i| is(words.word(i), "BLOB"));
    let options_end = blob_at.unwrap_or(words.count());
    let (mut inputs, mut outputs) = (Vec::new(), Vec::new());
    if backend == BackendKind::Tf {
        if options_end == options_start {
            return Err(AiError::TfIoMissing);
        }
        if !is(words.word(options_start), "INPUTS") {
            return Err(AiError::InputsNotSpecified);
        }
        let outputs_at = (options_start + 1..options_end).find(|&i| is(words.word(i), "OUTPUTS"));
        let Some(outputs_at) = outputs_at else {
            return Err(AiError::OutputsNotSpecified);
        };
        inputs = (options_start + 1..outputs_at)
            .map(|i| words.word(i))
            .collect();
        outputs = (outputs_at + 1..options_end)
            .map(|i| words.word(i))
            .collect();
    }
    match blob_at {
        Some(b) if b + 1 < words.count() => Ok(StoreArgs {
            backend,
            device,
            tag,
            batch,
            inputs,
            outputs,
            blob: b + 1..words.count(),
        }),
        _ => Err(AiError::MissingBlob),
    }
}

/// A parsed AI.MODELEXECUTE / AI.MODELRUN: positions of the input and output keys in the
/// parsed words, and the TIMEOUT in milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecArgs {
    pub inputs: Vec<usize>,
    pub outputs: Vec<usize>,
    pub timeout_ms: Option<u64>,
}

fn timeout(word: Option<&[u8]>) -> AiResult<u64> {
    let w = word.ok_or(AiError::TimeoutMissing)?;
    parse_i64(w)
        .filter(|&t| t > 0)
        .map(|t| t as u64)
        .ok_or(AiError::TimeoutInvalid)
}

/// `INPUTS <n> <key>... OUTPUTS <m> <key>... [TIMEOUT <ms>]`: the words after the model key,
/// checked against the model's input and output counts.
pub fn parse_modelexecute<'a, W: Words<'a> + ?Sized>(
    words: &W,
    model_inputs: usize,
    model_outputs: usize,
) -> AiResult<ExecArgs> {
    let mut c = Cursor { words, pos: 0 };
    let inputs = counted_keys(
        &mut c,
        "INPUTS",
        model_inputs,
        [
            AiError::InputsNotSpecified,
            AiError::InputCountInvalid,
            AiError::InputCountNotPositive,
            AiError::InputsMismatch,
            AiError::InputKeysCount,
        ],
    )?;
    let outputs = counted_keys(
        &mut c,
        "OUTPUTS",
        model_outputs,
        [
            AiError::OutputsNotSpecified,
            AiError::OutputCountInvalid,
            AiError::OutputCountNotPositive,
            AiError::OutputsMismatch,
            AiError::OutputKeysCount,
        ],
    )?;
    let mut timeout_ms = None;
    if let Some(w) = c.next() {
        if !is(w, "TIMEOUT") {
            return Err(AiError::InvalidArgument(
                String::from_utf8_lossy(w).into_owned(),
            ));
        }
        timeout_ms = Some(timeout(c.next())?);
        if let Some(extra) = c.next() {
            return Err(AiError::InvalidArgument(
                String::from_utf8_lossy(extra).into_owned(),
            ));
        }
    }
    Ok(ExecArgs {
        inputs,
        outputs,
        timeout_ms,
    })
}

/// `KEYWORD <count> <key>...` whose count must equal `expected`: the keys' positions. The
/// errors, in order: keyword missing, count not a number, count not positive, count not
/// the model's, fewer keys than the count.
fn counted_keys<'a, W: Words<'a> + ?Sized>(
    c: &mut Cursor<'_, W>,
    keyword: &str,
    expected: usize,
    [missing, invalid, not_positive, mismatch, short]: [AiError; 5],
) -> AiResult<Vec<usize>> {
    if !c.advance_if(keyword) {
        return Err(missing);
    }
    let n = c.next().and_then(parse_i64).ok_or(invalid)?;
    if n <= 0 {
        return Err(not_positive);
    }
    if n as u64 != expected as u64 {
        return Err(mismatch);
    }
    if c.remaining() < expected {
        return Err(short);
    }
    let keys = (c.pos..c.pos + expected).collect();
    c.pos += expected;
    Ok(keys)
}

/// AI.MODELRUN's `[TIMEOUT t] INPUTS <key>... OUTPUTS <key>...`: the words after the model
/// key, with no counts (every word after the first OUTPUTS is an output).
pub fn parse_modelrun<'a, W: Words<'a> + ?Sized>(
    words: &W,
    model_inputs: usize,
    model_outputs: usize,
) -> AiResult<ExecArgs> {
    let mut c = Cursor { words, pos: 0 };
    let mut timeout_ms = None;
    if c.advance_if("TIMEOUT") {
        // RedisAI reads the value without checking it exists: a missing one is invalid.
        timeout_ms = Some(timeout(c.next()).map_err(|_| AiError::TimeoutInvalid)?);
    }
    if !c.advance_if("INPUTS") {
        return Err(AiError::InputsNotSpecified);
    }
    let (mut inputs, mut outputs) = (Vec::new(), Vec::new());
    let mut in_outputs = false;
    while let Some(w) = c.peek() {
        if !in_outputs && is(w, "OUTPUTS") {
            in_outputs = true;
        } else if in_outputs {
            outputs.push(c.pos);
        } else {
            inputs.push(c.pos);
        }
        c.pos += 1;
    }
    if inputs.len() != model_inputs {
        return Err(AiError::InputsMismatch);
    }
    if outputs.len() != model_outputs {
        return Err(AiError::OutputsMismatch);
    }
    Ok(ExecArgs {
        inputs,
        outputs,
        timeout_ms,
    })
}

/// The words of AI.MODELGET after the key: META and/or BLOB, anything else ignored.
/// Returns (meta, blob) as RedisAI decides them: neither or both means both.
pub fn parse_modelget<'a, W: Words<'a> + ?Sized>(words: &W) -> (bool, bool) {
    let (mut meta, mut blob) = (false, false);
    for i in 0..words.count() {
        let w = words.word(i);
        meta |= is(w, "META");
        blob |= is(w, "BLOB");
    }
    if !meta && !blob {
        (true, true)
    } else {
        (meta, blob)
    }
}
