//! One error type for the whole module.
//!
//! `Display` is the exact text a client receives after the `-` of the error reply, byte for
//! byte what RedisAI sends (spec §2): most texts start with `ERR `, some deliberately do not,
//! and a client that compares `str(exception)` sees the difference. The command layer sends
//! `to_string()` as it is; only `WrongArity` goes through `RedisModule_WrongArity`, because
//! that text quotes the command name as the client typed it.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AiError {
    /// Sent with `RedisModule_WrongArity` ("ERR wrong number of arguments for '<cmd>' command").
    WrongArity,
    WrongType,

    // AI.TENSORSET
    InvalidDataType,
    InvalidShape,
    BlobArity,
    ValuesCount,
    InvalidValue,
    NulInString,
    DataLength,
    StringElements,
    BoolElements,
    /// The shape's element count or byte size does not fit the machine's integers.
    ShapeOverflow,
    /// The tensor would need more bytes than `ai.tensor_max_bytes` allows.
    TensorTooLarge {
        bytes: u64,
        limit: u64,
    },
    /// An allocation for the tensor failed (the server is out of memory).
    OutOfMemory {
        bytes: u64,
    },

    // AI.TENSORGET
    TensorKeyEmpty,
    UnsupportedFormat,
    BothBlobAndValues,
    UnsupportedDtype,

    // AI.CONFIG
    UnsupportedSubcommand,
    UnsupportedBackend,
    ErrorLoadingBackend,
    BackendsPathMissing,
    BackendsPathNotUtf8,
    ChunkSizeMissing,
    ChunkSizeInvalid,

    /// A bug: a panic or broken invariant caught at the command edge.
    Internal(String),
}

impl fmt::Display for AiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use AiError::*;
        match self {
            WrongArity => f.write_str("ERR wrong number of arguments"),
            WrongType => f.write_str("WRONGTYPE Operation against a key holding the wrong kind of value"),
            InvalidDataType => f.write_str("ERR invalid data type"),
            InvalidShape => f.write_str("ERR invalid or negative value found in tensor shape"),
            BlobArity => f.write_str(
                "ERR a single binary string should come after the BLOB argument in 'AI.TENSORSET' command",
            ),
            ValuesCount => {
                f.write_str("ERR wrong number of values was given in 'AI.TENSORSET' command")
            }
            InvalidValue => f.write_str("ERR invalid value"),
            NulInString => f.write_str("ERR C-string value contains null character"),
            DataLength => f.write_str("ERR data length does not match tensor shape and type"),
            StringElements => f.write_str(
                "ERR Number of string elements in data blob does not match tensor length",
            ),
            BoolElements => f.write_str("ERR BOOL tensor elements must be 0 or 1"),
            ShapeOverflow => f.write_str("ERR tensor shape is too large"),
            TensorTooLarge { bytes, limit } => write!(
                f,
                "ERR tensor of {bytes} bytes exceeds the limit of {limit} bytes (ai.tensor_max_bytes)"
            ),
            OutOfMemory { bytes } => {
                write!(f, "ERR out of memory allocating a tensor of {bytes} bytes")
            }
            TensorKeyEmpty => f.write_str("ERR tensor key is empty or in a different shard"),
            UnsupportedFormat => f.write_str("ERR unsupported data format"),
            BothBlobAndValues => f.write_str("ERR both BLOB and VALUES specified"),
            UnsupportedDtype => f.write_str("ERR unsupported dtype"),
            UnsupportedSubcommand => f.write_str("ERR unsupported subcommand"),
            UnsupportedBackend => f.write_str("ERR unsupported backend"),
            ErrorLoadingBackend => f.write_str("ERR error loading backend"),
            BackendsPathMissing => f.write_str("ERR BACKENDSPATH: missing path argument"),
            BackendsPathNotUtf8 => f.write_str("ERR BACKENDSPATH: the path must be valid UTF-8"),
            ChunkSizeMissing => f.write_str("ERR MODEL_CHUNK_SIZE: missing chunk size"),
            ChunkSizeInvalid => f.write_str("ERR MODEL_CHUNK_SIZE: invalid chunk size"),
            Internal(what) => write!(f, "ERR internal error: {what}"),
        }
    }
}

impl std::error::Error for AiError {}

pub type AiResult<T> = Result<T, AiError>;
