//! Tensors: a dtype, a row-major shape and the element bytes.
//!
//! Pure code: nothing here knows about Redis, so it is unit-tested with plain `cargo test`
//! and can be used from worker threads. The command layer parses arguments with [`args`],
//! builds a [`Tensor`] with one of the constructors below and stores it in an `Arc`; a stored
//! tensor is never mutated while anything else holds it (AI.TENSORSET replaces the value, or
//! refills it only when the key holds the sole reference), which is what lets a running model
//! read its inputs without copying them or holding a lock.
//!
//! Every constructor checks the shape arithmetic and the byte size against [`Limits`]
//! *before* allocating, and allocates fallibly, so no client input can make the server
//! allocate more than the configured limit or abort on a failed allocation.

pub mod args;
pub mod dtype;
pub mod number;

pub use dtype::DType;

use crate::args::Words;
use smallvec::SmallVec;

use crate::error::{AiError, AiResult};

/// Dimensions, row-major. Tensors rarely have more than four, which then need no allocation.
pub type Shape = SmallVec<[i64; 4]>;

/// Bytes that a tensor keeps alive without owning them on the Rust heap: the glue uses it to
/// keep a large BLOB argument (a Redis string) instead of copying it.
pub trait ExternalBytes: Send + Sync {
    fn bytes(&self) -> &[u8];
    /// Allocator bytes this buffer holds, for MEMORY USAGE.
    fn heap_size(&self) -> usize;
}

/// Size limits applied when a tensor is created from client input or from a file.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest tensor, in bytes of element data plus per-element bookkeeping.
    pub max_bytes: u64,
}

impl Limits {
    pub const UNLIMITED: Limits = Limits {
        max_bytes: u64::MAX,
    };
}

enum Storage {
    Owned(Vec<u8>),
    External(Box<dyn ExternalBytes>),
}

pub struct Tensor {
    dtype: DType,
    shape: Shape,
    len: usize,
    storage: Storage,
    /// STRING tensors only: where each element starts in the data.
    offsets: Vec<u64>,
}

/// One element, widened the way replies present it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    Double(f64),
    Int(i64),
    Str(&'a [u8]),
}

/// Number of elements of `shape`; every dimension must be >= 0.
pub fn element_count(shape: &[i64]) -> AiResult<usize> {
    shape.iter().try_fold(1usize, |acc, &d| {
        let d = usize::try_from(d).map_err(|_| AiError::InvalidShape)?;
        acc.checked_mul(d).ok_or(AiError::ShapeOverflow)
    })
}

/// Bytes a tensor of `len` elements costs before its data is known: element bytes, plus an
/// 8-byte offset per STRING element.
fn footprint(dtype: DType, len: usize) -> AiResult<u64> {
    let per_elem = dtype.elem_size() as u64 + if dtype == DType::String { 8 } else { 0 };
    (len as u64)
        .checked_mul(per_elem)
        .ok_or(AiError::ShapeOverflow)
}

fn check_limit(bytes: u64, limits: Limits) -> AiResult<()> {
    if bytes > limits.max_bytes {
        return Err(AiError::TensorTooLarge {
            bytes,
            limit: limits.max_bytes,
        });
    }
    Ok(())
}

fn try_vec<T: Clone>(n: usize, fill: T) -> AiResult<Vec<T>> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| AiError::OutOfMemory {
        bytes: (n as u64).saturating_mul(std::mem::size_of::<T>() as u64),
    })?;
    v.resize(n, fill);
    Ok(v)
}

fn try_copy(bytes: &[u8]) -> AiResult<Vec<u8>> {
    try_concat(std::iter::once(bytes))
}

/// The concatenation of `parts`, or `OutOfMemory` instead of aborting when it cannot be
/// allocated (sizes come from clients).
pub fn try_concat<'a, I>(parts: I) -> AiResult<Vec<u8>>
where
    I: Iterator<Item = &'a [u8]> + Clone,
{
    let bytes: usize = parts.clone().map(<[u8]>::len).sum();
    let mut v = Vec::new();
    v.try_reserve_exact(bytes)
        .map_err(|_| AiError::OutOfMemory {
            bytes: bytes as u64,
        })?;
    parts.for_each(|p| v.extend_from_slice(p));
    Ok(v)
}

/// Checks that `blob` is valid data for `len` elements of `dtype` and returns the STRING
/// offsets (empty for other dtypes).
fn validate_blob(dtype: DType, len: usize, blob: &[u8]) -> AiResult<Vec<u64>> {
    match dtype {
        DType::String => {
            // Exactly `len` elements, each ending in `\0`, the last one at the very end.
            let terminators = blob.iter().filter(|&&b| b == 0).count();
            if blob.last() != Some(&0) || terminators != len {
                return Err(AiError::StringElements);
            }
            let mut offsets = try_vec(len, 0u64)?;
            let mut next = 0usize;
            let mut start = 0u64;
            for (i, &b) in blob.iter().enumerate() {
                if b == 0 {
                    offsets[next] = start;
                    next += 1;
                    start = i as u64 + 1;
                }
            }
            Ok(offsets)
        }
        _ => {
            let expected = len
                .checked_mul(dtype.elem_size())
                .ok_or(AiError::ShapeOverflow)?;
            if blob.len() != expected {
                return Err(AiError::DataLength);
            }
            if dtype == DType::Bool && blob.iter().any(|&b| b > 1) {
                return Err(AiError::BoolElements);
            }
            Ok(Vec::new())
        }
    }
}

/// Checks a shape and its blob before a tensor is built from them: the size limit, then the
/// blob's content. Returns the element count and the STRING offsets.
fn check_blob(
    dtype: DType,
    shape: &[i64],
    blob: &[u8],
    limits: Limits,
) -> AiResult<(usize, Vec<u64>)> {
    let len = element_count(shape)?;
    check_limit(footprint(dtype, len)?.max(blob.len() as u64), limits)?;
    Ok((len, validate_blob(dtype, len, blob)?))
}

impl Tensor {
    fn new(dtype: DType, shape: Shape, len: usize, storage: Storage, offsets: Vec<u64>) -> Self {
        Tensor {
            dtype,
            shape,
            len,
            storage,
            offsets,
        }
    }

    /// A tensor with every element zero (every STRING element empty).
    pub fn zeros(dtype: DType, shape: Shape, limits: Limits) -> AiResult<Tensor> {
        let len = element_count(&shape)?;
        check_limit(footprint(dtype, len)?, limits)?;
        let data = try_vec(len * dtype.elem_size(), 0u8)?;
        let offsets = if dtype == DType::String {
            let mut offsets = try_vec(len, 0u64)?;
            for (i, o) in offsets.iter_mut().enumerate() {
                *o = i as u64;
            }
            offsets
        } else {
            Vec::new()
        };
        Ok(Tensor::new(
            dtype,
            shape,
            len,
            Storage::Owned(data),
            offsets,
        ))
    }

    /// A tensor holding a copy of `blob` (raw elements; `\0`-terminated strings for STRING).
    pub fn from_blob(dtype: DType, shape: Shape, blob: &[u8], limits: Limits) -> AiResult<Tensor> {
        let (len, offsets) = check_blob(dtype, &shape, blob, limits)?;
        let data = try_copy(blob)?;
        Ok(Tensor::new(
            dtype,
            shape,
            len,
            Storage::Owned(data),
            offsets,
        ))
    }

    /// Overwrites this tensor with `blob`, as [`Tensor::from_blob`] would build it, when its
    /// own buffer has exactly the bytes needed (a non-STRING tensor of the same dtype and
    /// byte size, owning its data): rewriting a small tensor then neither allocates nor frees,
    /// which is a fifth of what AI.TENSORSET of 1 KiB costs. `Ok(false)`, and nothing changed,
    /// when the buffer does not fit; an error, and nothing changed, when `blob` is not valid.
    pub fn refill_from_blob(
        &mut self,
        dtype: DType,
        shape: &Shape,
        blob: &[u8],
        limits: Limits,
    ) -> AiResult<bool> {
        let fits = dtype == self.dtype
            && dtype != DType::String
            && matches!(&self.storage, Storage::Owned(v) if v.len() == blob.len());
        if !fits {
            return Ok(false);
        }
        let (len, _) = check_blob(dtype, shape, blob, limits)?;
        if let Storage::Owned(data) = &mut self.storage {
            data.copy_from_slice(blob);
        }
        self.shape.clone_from(shape);
        self.len = len;
        Ok(true)
    }

    /// Like [`Tensor::from_blob`], but keeps `bytes` alive instead of copying them.
    pub fn from_external(
        dtype: DType,
        shape: Shape,
        bytes: Box<dyn ExternalBytes>,
        limits: Limits,
    ) -> AiResult<Tensor> {
        let (len, offsets) = check_blob(dtype, &shape, bytes.bytes(), limits)?;
        Ok(Tensor::new(
            dtype,
            shape,
            len,
            Storage::External(bytes),
            offsets,
        ))
    }

    /// Like [`Tensor::from_blob`], taking ownership of `data` (RDB loading, backend outputs).
    pub fn from_vec(dtype: DType, shape: Shape, data: Vec<u8>, limits: Limits) -> AiResult<Tensor> {
        let (len, offsets) = check_blob(dtype, &shape, &data, limits)?;
        Ok(Tensor::new(
            dtype,
            shape,
            len,
            Storage::Owned(data),
            offsets,
        ))
    }

    /// A tensor from one argument per element (`AI.TENSORSET ... VALUES v1 v2 ...`).
    ///
    /// Numbers follow Redis's own parsing rules. Integers must fit their type: unlike
    /// RedisAI, negative values are accepted for the signed types. A FLOAT value whose
    /// magnitude does not fit an f32 is refused rather than stored as infinity. STRING
    /// elements may end with one `\0` (added when missing) and contain no other.
    pub fn from_values<'a, W: Words<'a> + ?Sized>(
        dtype: DType,
        shape: Shape,
        values: &W,
        limits: Limits,
    ) -> AiResult<Tensor> {
        let len = element_count(&shape)?;
        if values.count() != len {
            return Err(AiError::ValuesCount);
        }
        check_limit(footprint(dtype, len)?, limits)?;
        if dtype == DType::String {
            return Tensor::strings_from_values(shape, values, limits);
        }
        let size = dtype.elem_size();
        let mut data = try_vec(len * size, 0u8)?;
        for (i, out) in data.chunks_exact_mut(size).enumerate() {
            encode_number(dtype, values.word(i), out)?;
        }
        Ok(Tensor::new(
            dtype,
            shape,
            len,
            Storage::Owned(data),
            Vec::new(),
        ))
    }

    fn strings_from_values<'a, W: Words<'a> + ?Sized>(
        shape: Shape,
        values: &W,
        limits: Limits,
    ) -> AiResult<Tensor> {
        let n = values.count();
        let mut total: u64 = 0;
        for i in 0..n {
            let v = values.word(i);
            let body = v.strip_suffix(&[0]).unwrap_or(v);
            if body.contains(&0) {
                return Err(AiError::NulInString);
            }
            total += body.len() as u64 + 1;
        }
        check_limit(total + 8 * n as u64, limits)?;
        let total = usize::try_from(total).map_err(|_| AiError::ShapeOverflow)?;
        let mut data = Vec::new();
        data.try_reserve_exact(total)
            .map_err(|_| AiError::OutOfMemory {
                bytes: total as u64,
            })?;
        let mut offsets = try_vec(n, 0u64)?;
        for (i, off) in offsets.iter_mut().enumerate() {
            let v = values.word(i);
            *off = data.len() as u64;
            data.extend_from_slice(v.strip_suffix(&[0]).unwrap_or(v));
            data.push(0);
        }
        let len = n;
        Ok(Tensor::new(
            DType::String,
            shape,
            len,
            Storage::Owned(data),
            offsets,
        ))
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }

    pub fn shape(&self) -> &[i64] {
        &self.shape
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The element bytes; for STRING, the `\0`-terminated elements concatenated.
    pub fn data(&self) -> &[u8] {
        match &self.storage {
            Storage::Owned(v) => v,
            Storage::External(e) => e.bytes(),
        }
    }

    /// STRING tensors: the start of each element in [`Tensor::data`]; empty otherwise.
    pub fn string_offsets(&self) -> &[u64] {
        &self.offsets
    }

    /// Element `i` of a STRING tensor, without its `\0`.
    pub fn string_at(&self, i: usize) -> &[u8] {
        let data = self.data();
        let start = self.offsets[i] as usize;
        let end = self
            .offsets
            .get(i + 1)
            .map_or(data.len(), |&next| next as usize);
        &data[start..end - 1]
    }

    /// Calls `f` with every element in row-major order: floats widened to f64, integers and
    /// BOOL as i64, strings without their `\0`.
    pub fn for_each_value<'a>(&'a self, mut f: impl FnMut(Value<'a>)) {
        let data = self.data();
        macro_rules! each {
            ($t:ty, $variant:ident, $cast:ty) => {
                for c in data.chunks_exact(std::mem::size_of::<$t>()) {
                    let mut b = [0u8; std::mem::size_of::<$t>()];
                    b.copy_from_slice(c);
                    f(Value::$variant(<$t>::from_ne_bytes(b) as $cast));
                }
            };
        }
        match self.dtype {
            DType::Float => each!(f32, Double, f64),
            DType::Double => each!(f64, Double, f64),
            DType::Int8 => each!(i8, Int, i64),
            DType::Int16 => each!(i16, Int, i64),
            DType::Int32 => each!(i32, Int, i64),
            DType::Int64 => each!(i64, Int, i64),
            DType::UInt8 | DType::Bool => each!(u8, Int, i64),
            DType::UInt16 => each!(u16, Int, i64),
            DType::String => {
                for i in 0..self.len {
                    f(Value::Str(self.string_at(i)));
                }
            }
        }
    }

    /// Bytes this tensor holds on the heap, including its own header.
    pub fn heap_size(&self) -> usize {
        let data = match &self.storage {
            Storage::Owned(v) => v.capacity(),
            Storage::External(e) => e.heap_size(),
        };
        std::mem::size_of::<Tensor>()
            + if self.shape.spilled() {
                self.shape.capacity() * std::mem::size_of::<i64>()
            } else {
                0
            }
            + self.offsets.capacity() * std::mem::size_of::<u64>()
            + data
    }
}

impl PartialEq for Tensor {
    fn eq(&self, other: &Tensor) -> bool {
        self.dtype == other.dtype && self.shape == other.shape && self.data() == other.data()
    }
}

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tensor")
            .field("dtype", &self.dtype)
            .field("shape", &self.shape)
            .field("bytes", &self.data().len())
            .finish()
    }
}

/// Writes one VALUES argument into `out` (exactly `dtype.elem_size()` bytes).
fn encode_number(dtype: DType, value: &[u8], out: &mut [u8]) -> AiResult<()> {
    fn int<T: TryFrom<i64>>(value: &[u8]) -> AiResult<T> {
        let v = crate::args::parse_i64(value).ok_or(AiError::InvalidValue)?;
        T::try_from(v).map_err(|_| AiError::InvalidValue)
    }
    match dtype {
        DType::Float => {
            let v = number::parse_f64(value).ok_or(AiError::InvalidValue)?;
            let narrowed = v as f32;
            if narrowed.is_infinite() && v.is_finite() {
                return Err(AiError::InvalidValue);
            }
            out.copy_from_slice(&narrowed.to_ne_bytes());
        }
        DType::Double => {
            let v = number::parse_f64(value).ok_or(AiError::InvalidValue)?;
            out.copy_from_slice(&v.to_ne_bytes());
        }
        DType::Int8 => out.copy_from_slice(&int::<i8>(value)?.to_ne_bytes()),
        DType::Int16 => out.copy_from_slice(&int::<i16>(value)?.to_ne_bytes()),
        DType::Int32 => out.copy_from_slice(&int::<i32>(value)?.to_ne_bytes()),
        DType::Int64 => out.copy_from_slice(&int::<i64>(value)?.to_ne_bytes()),
        DType::UInt8 => out.copy_from_slice(&int::<u8>(value)?.to_ne_bytes()),
        DType::UInt16 => out.copy_from_slice(&int::<u16>(value)?.to_ne_bytes()),
        DType::Bool => {
            let v = int::<u8>(value)?;
            if v > 1 {
                return Err(AiError::InvalidValue);
            }
            out[0] = v;
        }
        DType::String => return Err(AiError::InvalidValue),
    }
    Ok(())
}

#[cfg(test)]
mod tests;
