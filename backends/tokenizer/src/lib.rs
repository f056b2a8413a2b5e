//! The TOKENIZER backend plugin (`libredisai_tokenizer.so`): a Hugging Face `tokenizer.json`
//! stored with `AI.MODELSTORE <key> TOKENIZER CPU BLOB <json>` and run like any model, on the
//! worker queues: a STRING tensor of texts in, `input_ids`, `attention_mask` and
//! `token_type_ids` (INT64, `[texts, tokens]`) out.
//!
//! Why a plugin and not code in the module: the module links no engine (design.md), and the
//! `tokenizers` crate brings C code (Oniguruma) and makes a 4.4 MB library (stripped; the whole
//! module is 2 MB) that a server which never tokenizes should not load. As a backend, a tokenizer also gets RDB, AOF, replication,
//! DUMP/RESTORE, COPY, AI.INFO statistics and auto-batching from the model machinery unchanged.
//!
//! The tokenizer.json is the configuration: its `truncation` and `padding` sections are
//! honoured as Hugging Face does. What the file leaves open is filled in so that every run
//! gives one rectangular tensor of bounded size: no padding section pads to the longest text
//! of the batch, no truncation section truncates to [`DEFAULT_MAX_LENGTH`] tokens.
//!
//! Bounds, since the file and the texts come from clients: the file is at most
//! [`MAX_JSON_BYTES`] (checked before parsing), a length it asks for (truncation or fixed
//! padding) at most [`MAX_LENGTH`] tokens, a vocabulary at most [`MAX_VOCAB`] entries, and a
//! text at most [`MAX_TEXT_BYTES`] (tokenizing reads all of a text before truncating it).
//! A tokenizer that cannot encode a plain sentence is refused when stored, not at its first run.
//!
//! Threads: one `Tokenizer` per stored model, shared by every worker (`encode` takes `&self`).
//! The crate's own rayon parallelism is switched off at load: the worker queues are the
//! server's parallelism, and a second, hidden pool of one thread per core would fight them.

use redisai_backend_api::{
    export_backend, Backend, DataType, Device, Host, Loaded, ModelRequest, RunError, TensorIn,
    TensorOut, DL_INT, DL_STRING,
};
use tokenizers::utils::padding::{PaddingDirection, PaddingParams, PaddingStrategy};
use tokenizers::utils::truncation::TruncationParams;
use tokenizers::Tokenizer;

/// Largest tokenizer.json accepted (the largest published ones are about 35 MB).
pub const MAX_JSON_BYTES: usize = 64 << 20;
/// Largest vocabulary accepted (the largest published ones hold about 260k tokens).
pub const MAX_VOCAB: usize = 4 << 20;
/// Longest sequence, in tokens, that a tokenizer may ask for.
pub const MAX_LENGTH: usize = 32_768;
/// Truncation when the file has none.
pub const DEFAULT_MAX_LENGTH: usize = 512;
/// Longest text accepted, in bytes.
pub const MAX_TEXT_BYTES: usize = 1 << 20;
/// Most token cells (texts × padded length) of one run: each output is then at most 1 GiB.
pub const MAX_CELLS: usize = 1 << 27;

pub const INPUTS: [&str; 1] = ["text"];
pub const OUTPUTS: [&str; 3] = ["input_ids", "attention_mask", "token_type_ids"];

pub struct TokenizerBackend;

pub struct StoredTokenizer {
    tokenizer: Tokenizer,
    padding: PaddingParams,
}

fn err(why: impl std::fmt::Display) -> String {
    format!("ERR TOKENIZER: {why}")
}

/// Parses and checks a tokenizer.json; the error is the client's text.
pub fn prepare(json: &[u8]) -> Result<StoredTokenizer, String> {
    if json.len() > MAX_JSON_BYTES {
        return Err(err(format_args!(
            "tokenizer.json of {} bytes is over the limit of {MAX_JSON_BYTES}",
            json.len()
        )));
    }
    let mut tokenizer = Tokenizer::from_bytes(json)
        .map_err(|e| err(format_args!("invalid tokenizer.json: {e}")))?;
    let vocab = tokenizer.get_vocab_size(true);
    if vocab > MAX_VOCAB {
        return Err(err(format_args!(
            "a vocabulary of {vocab} tokens is over the limit of {MAX_VOCAB}"
        )));
    }
    let truncation = match tokenizer.get_truncation() {
        Some(t) if t.max_length == 0 || t.max_length > MAX_LENGTH => {
            return Err(err(format_args!(
                "truncation max_length {} is not in 1..={MAX_LENGTH}",
                t.max_length
            )))
        }
        Some(t) => t.clone(),
        None => TruncationParams {
            max_length: DEFAULT_MAX_LENGTH,
            ..TruncationParams::default()
        },
    };
    // `Some(..)`: the truncation just checked or made; an error here means its stride is too
    // long for its length, which only a crafted file has.
    tokenizer
        .with_truncation(Some(truncation))
        .map_err(|e| err(format_args!("invalid truncation: {e}")))?;
    let padding = tokenizer.get_padding().cloned().unwrap_or_default();
    match padding.strategy {
        PaddingStrategy::Fixed(n) if n == 0 || n > MAX_LENGTH => {
            return Err(err(format_args!(
                "fixed padding to {n} tokens is not in 1..={MAX_LENGTH}"
            )))
        }
        _ => {}
    }
    if padding.pad_to_multiple_of.is_some_and(|m| m > MAX_LENGTH) {
        return Err(err("padding pad_to_multiple_of is too large"));
    }
    // Padding is done here, into the output tensors, not by the crate.
    tokenizer.with_padding(None);
    tokenizer
        .encode("Hello, world! 42 Zürich 東京", true)
        .map_err(|e| err(format_args!("the tokenizer cannot encode text: {e}")))?;
    Ok(StoredTokenizer { tokenizer, padding })
}

/// The padded length of a batch whose longest encoding has `longest` tokens.
fn padded_length(p: &PaddingParams, longest: usize) -> usize {
    let len = match p.strategy {
        PaddingStrategy::Fixed(n) => n.max(longest),
        PaddingStrategy::BatchLongest => longest,
    };
    match p.pad_to_multiple_of {
        Some(m) if m > 1 && len % m != 0 => len + m - len % m,
        _ => len,
    }
}

fn int64(shape: Vec<i64>, values: Vec<i64>) -> TensorOut {
    TensorOut {
        dtype: DataType::new(DL_INT, 64),
        shape,
        data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
    }
}

impl StoredTokenizer {
    /// Tokenizes `texts` into the three outputs, padded to one length.
    pub fn encode<'a>(
        &self,
        texts: impl ExactSizeIterator<Item = &'a [u8]>,
    ) -> Result<[TensorOut; 3], String> {
        let batch = texts.len();
        // Refused before any work: even empty texts take two special tokens each.
        if batch.saturating_mul(padded_length(&self.padding, 1)) > MAX_CELLS {
            return Err(err(format_args!(
                "{batch} texts are more than one run may tokenize"
            )));
        }
        // Only the ids are kept of each encoding: the rest (token strings, offsets, and the
        // overflowing tokens that truncation cut off) is freed text by text.
        let mut encodings: Vec<[Vec<u32>; 3]> = Vec::with_capacity(batch);
        for (i, text) in texts.enumerate() {
            if text.len() > MAX_TEXT_BYTES {
                return Err(err(format_args!(
                    "text {i} of {} bytes is over the limit of {MAX_TEXT_BYTES}",
                    text.len()
                )));
            }
            let text = std::str::from_utf8(text)
                .map_err(|_| err(format_args!("text {i} is not valid UTF-8")))?;
            let mut e = self
                .tokenizer
                .encode(text, true)
                .map_err(|e| err(format_args!("text {i}: {e}")))?;
            drop(e.take_overflowing());
            encodings.push([
                e.get_ids().to_vec(),
                e.get_attention_mask().to_vec(),
                e.get_type_ids().to_vec(),
            ]);
        }
        let longest = encodings.iter().map(|e| e[0].len()).max().unwrap_or(0);
        let width = padded_length(&self.padding, longest);
        let cells = batch
            .checked_mul(width)
            .filter(|&c| c <= MAX_CELLS)
            .ok_or_else(|| {
                err(format_args!(
                    "{batch} texts of {width} tokens are more than one run may output"
                ))
            })?;
        let p = &self.padding;
        let mut ids = vec![i64::from(p.pad_id); cells];
        let mut mask = vec![0i64; cells];
        let mut types = vec![i64::from(p.pad_type_id); cells];
        for (row, [e_ids, e_mask, e_types]) in encodings.iter().enumerate() {
            let n = e_ids.len();
            let start = row * width
                + match p.direction {
                    PaddingDirection::Right => 0,
                    PaddingDirection::Left => width - n,
                };
            let span = start..start + n;
            for (dst, &v) in ids[span.clone()].iter_mut().zip(e_ids) {
                *dst = i64::from(v);
            }
            for (dst, &v) in mask[span.clone()].iter_mut().zip(e_mask) {
                *dst = i64::from(v);
            }
            for (dst, &v) in types[span].iter_mut().zip(e_types) {
                *dst = i64::from(v);
            }
        }
        let shape = vec![batch as i64, width as i64];
        Ok([
            int64(shape.clone(), ids),
            int64(shape.clone(), mask),
            int64(shape, types),
        ])
    }
}

/// The texts of the run's input: a STRING tensor `[n]` or `[n, 1]`.
fn texts<'a>(inputs: &[TensorIn<'a>]) -> Result<TensorIn<'a>, String> {
    let [t] = inputs else {
        return Err(err(format_args!(
            "expected 1 input (a STRING tensor of texts), got {}",
            inputs.len()
        )));
    };
    if t.dtype.code != DL_STRING {
        return Err(err("the input must be a STRING tensor of texts"));
    }
    match t.shape {
        [_] | [_, 1] => Ok(*t),
        _ => Err(err("the input must have shape [n] or [n, 1]")),
    }
}

impl Backend for TokenizerBackend {
    type Model = StoredTokenizer;
    type Script = ();

    const NAME: &'static str = "TOKENIZER";

    fn new(_host: Host) -> Result<Self, String> {
        tokenizers::utils::parallelism::set_parallelism(false);
        Ok(TokenizerBackend)
    }

    fn engine_version(&self) -> String {
        "tokenizers 0.23.2".to_string()
    }

    fn load(&self, request: &ModelRequest<'_>) -> Result<Loaded<StoredTokenizer>, String> {
        if request.device != Device::Cpu {
            return Err(err("tokenizers run on the CPU only"));
        }
        Ok(Loaded {
            model: prepare(request.blob)?,
            inputs: INPUTS.iter().map(|s| s.to_string()).collect(),
            outputs: OUTPUTS.iter().map(|s| s.to_string()).collect(),
        })
    }

    fn run(
        &self,
        model: &StoredTokenizer,
        _worker: usize,
        inputs: &[TensorIn<'_>],
    ) -> Result<Vec<TensorOut>, RunError> {
        let t = texts(inputs)?;
        let strings: Vec<&[u8]> = t.strings().collect();
        Ok(model.encode(strings.into_iter())?.into())
    }
}

export_backend!(TokenizerBackend);

#[cfg(test)]
mod tests;
