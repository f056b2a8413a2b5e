//! Argument grammar of AI.TENSORSET and AI.TENSORGET, shared by the commands and by the DAG
//! ops of the same name. Errors and their order follow RedisAI (spec §4.1, §4.2).

use super::{DType, Shape};
use crate::args::Words;
use crate::error::{AiError, AiResult};

/// Where the data of an AI.TENSORSET comes from; indices point into the parsed words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// No BLOB or VALUES: a zero-filled tensor.
    Zeros,
    /// `BLOB <data>`: the index of the data word.
    Blob(usize),
    /// `VALUES v...`: the index of the first value; the values run to the end.
    Values(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorSetArgs {
    pub dtype: DType,
    pub shape: Shape,
    pub input: Input,
}

/// Parses `<dtype> [dim ...] [BLOB <data> | VALUES <v> ...]`, the words after the key.
///
/// Dimensions run until the first `BLOB` or `VALUES` word; each must be an integer > 0 and
/// their product must fit in memory arithmetic. `BLOB` takes exactly one more word;
/// `VALUES` exactly as many as the shape has elements.
pub fn parse_tensorset<'a, W: Words<'a> + ?Sized>(words: &W) -> AiResult<TensorSetArgs> {
    if words.count() == 0 {
        return Err(AiError::WrongArity);
    }
    let dtype = DType::parse(words.word(0)).ok_or(AiError::InvalidDataType)?;
    let mut shape = Shape::new();
    let mut len: usize = 1;
    for pos in 1..words.count() {
        let word = words.word(pos);
        let remaining = words.count() - pos - 1;
        if word.eq_ignore_ascii_case(b"BLOB") {
            if remaining != 1 {
                return Err(AiError::BlobArity);
            }
            return Ok(TensorSetArgs {
                dtype,
                shape,
                input: Input::Blob(pos + 1),
            });
        }
        if word.eq_ignore_ascii_case(b"VALUES") {
            if remaining != len {
                return Err(AiError::ValuesCount);
            }
            return Ok(TensorSetArgs {
                dtype,
                shape,
                input: Input::Values(pos + 1),
            });
        }
        let dim = crate::args::parse_i64(word)
            .filter(|&d| d > 0)
            .ok_or(AiError::InvalidShape)?;
        len = len
            .checked_mul(dim as usize)
            .ok_or(AiError::ShapeOverflow)?;
        shape.push(dim);
    }
    Ok(TensorSetArgs {
        dtype,
        shape,
        input: Input::Zeros,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataFormat {
    Blob,
    Values,
}

/// What AI.TENSORGET replies with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GetFormat {
    pub meta: bool,
    pub data: Option<DataFormat>,
}

/// Parses the words after the key of AI.TENSORGET: any of META, BLOB, VALUES in any order
/// (repeats allowed, as upstream); none at all means META and BLOB.
pub fn parse_tensorget_format<'a, W: Words<'a> + ?Sized>(words: &W) -> AiResult<GetFormat> {
    if words.count() == 0 {
        return Ok(GetFormat {
            meta: true,
            data: Some(DataFormat::Blob),
        });
    }
    let (mut meta, mut blob, mut values) = (false, false, false);
    for i in 0..words.count() {
        let w = words.word(i);
        if w.eq_ignore_ascii_case(b"META") {
            meta = true;
        } else if w.eq_ignore_ascii_case(b"BLOB") {
            blob = true;
        } else if w.eq_ignore_ascii_case(b"VALUES") {
            values = true;
        } else {
            return Err(AiError::UnsupportedFormat);
        }
    }
    let data = match (blob, values) {
        (true, true) => return Err(AiError::BothBlobAndValues),
        (true, false) => Some(DataFormat::Blob),
        (false, true) => Some(DataFormat::Values),
        (false, false) => None,
    };
    Ok(GetFormat { meta, data })
}
