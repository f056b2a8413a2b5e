//! One error type for the whole module.
//!
//! `Display` is the exact text a client receives after the `-` of the error reply, byte for
//! byte what RedisAI sends (spec §2): most texts start with `ERR `, some deliberately do not,
//! and a client that compares `str(exception)` sees the difference. The command layer sends
//! `to_string()` as it is; only `WrongArity` goes through `RedisModule_WrongArity`, because
//! that text quotes the command name as the client typed it.

use std::fmt;

use crate::search::error::SearchError;

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

    // AI.MODELSTORE / AI.MODELSET
    InvalidDevice,
    UnsupportedDevice,
    InvalidBatchSize,
    InvalidMinBatchSize,
    MinBatchWithoutBatch,
    InvalidMinBatchTimeout,
    MinBatchTimeoutWithoutMinBatch,
    MinBatchTimeoutWithoutBatch,
    AutoBatchingTflite,
    MissingBlob,
    ExpectedBlob,
    TfInputsMissing,
    TfOutputsMissing,
    InputCountInvalid,
    OutputCountInvalid,
    InputNamesCount,
    OutputNamesCount,
    InputsNotForBackend,
    TfIoMissing,
    InputsNotSpecified,
    OutputsNotSpecified,
    CouldNotLoadBackend,
    /// A backend's own message, sent as it is (RedisAI sends them without `ERR`).
    Backend(String),

    // AI.MODELGET / AI.MODELDEL / AI.MODELEXECUTE / AI.MODELRUN
    ModelKeyEmpty,
    InputCountNotPositive,
    OutputCountNotPositive,
    InputsMismatch,
    OutputsMismatch,
    InputKeysCount,
    OutputKeysCount,
    TimeoutMissing,
    TimeoutInvalid,
    /// `Invalid argument: <token>` (no `ERR`).
    InvalidArgument(String),
    /// RedisAI's own arity text for the run commands (not RedisModule_WrongArity's).
    RunArity(&'static str),
    InTransaction,
    BatchSizeMismatch,

    // AI.DAGEXECUTE / AI.DAGRUN and their _RO forms
    /// `ERR missing arguments for '<command>' command` (AI.DAGEXECUTE's own arity text).
    DagArity(&'static str),
    LoadArgsMissing,
    LoadCountInvalid,
    LoadCountMismatch,
    PersistArgsMissing,
    PersistCountInvalid,
    PersistNotUnique,
    PersistCountMismatch,
    PersistInReadOnly,
    RoutingMissing,
    /// Two spaces before the token, as RedisAI (spec §14).
    DagUnexpected(String),
    DagNeedsKeyword,
    DagEmpty,
    DagUnsupportedOp,
    /// A deprecated run op inside AI.DAGEXECUTE (`AI.MODELRUN`, `AI.SCRIPTRUN`).
    DagDeprecatedOp(&'static str),
    /// A current run op inside the deprecated AI.DAGRUN.
    DagNewOpInDagrun(&'static str),
    ScriptInReadOnlyDag,
    DagInputMissing,
    DagPersistMissing,
    DagTimeoutInOp,
    /// An op's own arity text inside a DAG (`AI.TENSORSET`, `AI.TENSORGET`; no `ERR`).
    DagOpArity(&'static str),
    /// An error of an op of the module's own (AI.POOL, AI.HSET): the whole text.
    DagOp(String),
    ScriptKeyEmpty,

    /// An AI.PIPELINE error: the whole text.
    Pipeline(String),

    // AI.INFO
    NoRunInfo,

    /// A bug: a panic or broken invariant caught at the command edge.
    Internal(String),
    /// The server lacks the ACL module APIs (Redis 7.0+), so key permissions cannot be checked.
    NoAclApi,
    /// A fixed text of the script commands, sent as it is (spec §4.9–§4.14).
    Script(&'static str),
    /// An FT.* error, sent as RediSearch words it (no `ERR ` prefix unless the text has one).
    Search(SearchError),
}

impl fmt::Display for AiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use AiError::*;
        match self {
            Search(e) => fmt::Display::fmt(e, f),
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
            InvalidDevice => f.write_str("ERR Invalid DEVICE"),
            UnsupportedDevice => f.write_str("ERR unsupported device"),
            InvalidBatchSize => f.write_str("ERR Invalid argument for BATCHSIZE"),
            InvalidMinBatchSize => f.write_str("ERR Invalid argument for MINBATCHSIZE"),
            MinBatchWithoutBatch => f.write_str("ERR MINBATCHSIZE specified without BATCHSIZE"),
            InvalidMinBatchTimeout => f.write_str("ERR Invalid argument for MINBATCHTIMEOUT"),
            MinBatchTimeoutWithoutMinBatch => {
                f.write_str("ERR MINBATCHTIMEOUT specified without MINBATCHSIZE")
            }
            MinBatchTimeoutWithoutBatch => {
                f.write_str("ERR MINBATCHTIMEOUT specified without BATCHSIZE")
            }
            AutoBatchingTflite => f.write_str("ERR Auto-batching not supported by the TFLITE backend"),
            MissingBlob => f.write_str("ERR Insufficient arguments, missing model BLOB"),
            ExpectedBlob => f.write_str("ERR Invalid argument, expected BLOB"),
            TfInputsMissing => f.write_str("ERR INPUTS not specified for TF"),
            TfOutputsMissing => f.write_str("ERR OUTPUTS not specified for TF"),
            InputCountInvalid => f.write_str("ERR Invalid argument for input_count"),
            OutputCountInvalid => f.write_str("ERR Invalid argument for output_count"),
            InputNamesCount => f.write_str(
                "ERR number of model inputs does not match the number of given arguments",
            ),
            OutputNamesCount => f.write_str(
                "ERR number of model outputs does not match the number of given arguments",
            ),
            InputsNotForBackend => {
                f.write_str("ERR INPUTS argument should not be specified for this backend")
            }
            TfIoMissing => f.write_str("ERR Insufficient arguments, INPUTS and OUTPUTS not specified"),
            InputsNotSpecified => f.write_str("ERR INPUTS not specified"),
            OutputsNotSpecified => f.write_str("ERR OUTPUTS not specified"),
            CouldNotLoadBackend => f.write_str("ERR Could not load backend"),
            Backend(text) => f.write_str(text),
            ModelKeyEmpty => f.write_str("ERR model key is empty"),
            InputCountNotPositive => f.write_str("ERR Input count must be a positive integer"),
            OutputCountNotPositive => f.write_str("ERR Output count must be a positive integer"),
            InputsMismatch => {
                f.write_str("Number of keys given as INPUTS here does not match model definition")
            }
            OutputsMismatch => {
                f.write_str("Number of keys given as OUTPUTS here does not match model definition")
            }
            InputKeysCount => f.write_str(
                "ERR number of input keys to AI.MODELEXECUTE command does not match the number of given arguments",
            ),
            OutputKeysCount => f.write_str(
                "ERR number of output keys to AI.MODELEXECUTE command does not match the number of given arguments",
            ),
            TimeoutMissing => f.write_str("ERR No value provided for TIMEOUT"),
            TimeoutInvalid => f.write_str("ERR Invalid value for TIMEOUT"),
            InvalidArgument(token) => write!(f, "Invalid argument: {token}"),
            RunArity(command) => write!(f, "ERR wrong number of arguments for '{command}' command"),
            InTransaction => {
                f.write_str("ERR Cannot run RedisAI command within a transaction or a LUA script")
            }
            BatchSizeMismatch => f.write_str("ERR Model did not generate the expected batch size"),
            DagArity(command) => write!(f, "ERR missing arguments for '{command}' command"),
            LoadArgsMissing => f.write_str("ERR missing arguments after LOAD keyword in DAG command"),
            LoadCountInvalid => {
                f.write_str("ERR invalid or negative value found in number of keys to LOAD")
            }
            LoadCountMismatch => f.write_str(
                "ERR number of keys to LOAD into DAG does not match the number of given arguments",
            ),
            PersistArgsMissing => {
                f.write_str("ERR missing arguments after PERSIST keyword in DAG command")
            }
            PersistCountInvalid => {
                f.write_str("ERR invalid or negative value found in number of keys to PERSIST")
            }
            PersistNotUnique => f.write_str("ERR PERSIST keys must be unique"),
            PersistCountMismatch => f.write_str(
                "ERR number of keys to PERSIST after DAG execution does not match the number of given arguments",
            ),
            PersistInReadOnly => f.write_str("ERR PERSIST cannot be specified in a read-only DAG"),
            RoutingMissing => f.write_str("ERR Missing ROUTING value"),
            DagUnexpected(token) => {
                write!(f, "ERR Invalid DAG command. Unexpected argument:  {token}")
            }
            DagNeedsKeyword => f.write_str(
                "ERR AI.DAGEXECUTE and AI.DAGEXECUTE_RO commands must contain at least one out of ROUTING, LOAD, PERSIST keywords",
            ),
            DagEmpty => f.write_str("ERR DAG is empty"),
            DagUnsupportedOp => f.write_str("Unsupported command within DAG"),
            DagDeprecatedOp(op) => {
                write!(f, "Deprecated {op} cannot be used in AI.DAGEXECUTE command")
            }
            DagNewOpInDagrun(op) => {
                write!(f, "{op} cannot be used in a deprecated AI.DAGRUN command")
            }
            ScriptInReadOnlyDag => f.write_str(
                "ERR AI.SCRIPTEXECUTE command cannot be specified in a read-only DAG",
            ),
            DagInputMissing => f.write_str("ERR INPUT key cannot be found in DAG"),
            DagPersistMissing => f.write_str("ERR PERSIST key cannot be found in DAG"),
            DagTimeoutInOp => f.write_str("ERR TIMEOUT not allowed within a DAG command"),
            DagOpArity(op) => write!(f, "wrong number of arguments for '{op}' command"),
            DagOp(text) => f.write_str(text),
            Pipeline(text) => f.write_str(text),
            ScriptKeyEmpty => f.write_str("ERR script key is empty"),
            NoRunInfo => f.write_str("ERR cannot find run info for key"),
            Internal(what) => write!(f, "ERR internal error: {what}"),
            NoAclApi => f.write_str("ERR this server cannot check ACL key permissions for modules"),
            Script(text) => f.write_str(text),
        }
    }
}

impl std::error::Error for AiError {}

impl From<SearchError> for AiError {
    fn from(e: SearchError) -> AiError {
        AiError::Search(e)
    }
}

pub type AiResult<T> = Result<T, AiError>;

/// The text of a caught panic, for the log line and the `ERR internal error` reply.
pub fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_string())
}
