//! `AI_TENSOR`: RDB in RedisAI's encoding (v4, and v0–v3 for old files), AOF rewrite as
//! `AI.TENSORSET ... BLOB`, MEMORY USAGE, DEBUG DIGEST, COPY and lazy-free effort.

use std::ffi::{c_int, c_void};
use std::sync::Arc;

use redis_module::raw::{self, RedisModuleDigest, RedisModuleIO, RedisModuleString};

use super::io::{emit_aof, IoError, IoResult, Reader, Writer};
use super::ENCODING_VERSION;
use crate::redis::guard;
use crate::redis::{api, tensorset_args, StoredType};
use crate::tensor::{DType, Limits, Shape, Tensor};

super::redis_type!(TENSOR_TYPE, "AI_TENSOR", Tensor);

impl StoredType for Tensor {
    fn redis_type() -> *mut raw::RedisModuleType {
        *TENSOR_TYPE.raw_type.borrow()
    }
}

impl super::Stored for Tensor {
    const NAME: &'static str = "AI_TENSOR";
    /// Stored tensors are immutable, so the copy is another reference.
    fn copy_to(this: &Arc<Self>, _to: &[u8]) -> Arc<Self> {
        this.clone()
    }
}

/// DLPack device type of host memory, the only one RedisAI ever saved.
const DL_CPU: u64 = 1;

/// # Safety
/// `value` must be a pointer stored by this type (`Arc<Tensor>::into_raw`).
unsafe fn tensor<'a>(value: *const c_void) -> &'a Tensor {
    &*(value as *const Tensor)
}

unsafe extern "C" fn rdb_save(io: *mut RedisModuleIO, value: *mut c_void) {
    guard("AI_TENSOR rdb_save", (), || {
        let t = tensor(value);
        let mut w = Writer::new(io);
        let dl = t.dtype().dl();
        w.unsigned(dl.code.into());
        w.unsigned(dl.bits.into());
        w.signed(t.shape().len() as i64);
        for &d in t.shape() {
            w.signed(d);
        }
        w.buffer(t.data());
        for &o in t.string_offsets() {
            w.unsigned(o);
        }
    })
}

unsafe extern "C" fn rdb_load(io: *mut RedisModuleIO, encver: c_int) -> *mut c_void {
    guard("AI_TENSOR rdb_load", std::ptr::null_mut(), || {
        let mut r = Reader::new(io);
        let loaded = match encver {
            4 => load_v4(&mut r),
            0..=3 => load_v0(&mut r),
            _ => Err(r.fail(&format!(
                "AI_TENSOR encoding version {encver} is newer than this module understands \
                 ({ENCODING_VERSION}); it cannot load this data"
            ))),
        };
        match loaded {
            Ok(t) => Arc::into_raw(Arc::new(t)) as *mut c_void,
            Err(IoError) => std::ptr::null_mut(),
        }
    })
}

/// Reads `ndims` dimensions, stopping at the first failed read (a corrupt count must not
/// make us allocate or loop for long).
fn load_dims(
    r: &mut Reader,
    ndims: u64,
    mut read: impl FnMut(&mut Reader) -> IoResult<i64>,
) -> IoResult<Shape> {
    if ndims > i32::MAX as u64 {
        return Err(r.fail(&format!("AI_TENSOR: invalid number of dimensions {ndims}")));
    }
    let mut shape = Shape::new();
    for _ in 0..ndims {
        let d = read(r)?;
        if d < 0 {
            return Err(r.fail(&format!("AI_TENSOR: invalid dimension {d}")));
        }
        shape.push(d);
    }
    Ok(shape)
}

fn build(r: &Reader, code: u64, bits: u64, shape: Shape, data: Vec<u8>) -> IoResult<Tensor> {
    let dtype = DType::from_dl(code, bits).ok_or_else(|| {
        r.fail(&format!(
            "AI_TENSOR: unsupported data type (DLPack code {code}, bits {bits})"
        ))
    })?;
    // The size limit is for client input; data that was stored once always loads back.
    Tensor::from_vec(dtype, shape, data, Limits::UNLIMITED)
        .map_err(|e| r.fail(&format!("AI_TENSOR: invalid tensor in RDB: {e}")))
}

/// v4: code, bits, ndims (signed), dims (signed), data, then one offset per STRING element.
fn load_v4(r: &mut Reader) -> IoResult<Tensor> {
    let code = r.unsigned()?;
    let bits = r.unsigned()?;
    let ndims = r.signed()?;
    let ndims = u64::try_from(ndims)
        .map_err(|_| r.fail(&format!("AI_TENSOR: invalid number of dimensions {ndims}")))?;
    let shape = load_dims(r, ndims, |r| r.signed())?;
    let data = r.buffer()?;
    let t = build(r, code, bits, shape, data)?;
    if t.dtype() == DType::String {
        // The offsets are implied by the data; the stored ones must agree with it.
        for (i, &expected) in t.string_offsets().iter().enumerate() {
            let stored = r.unsigned()?;
            if stored != expected {
                return Err(r.fail(&format!(
                    "AI_TENSOR: string element {i} offset {stored} does not match the data"
                )));
            }
        }
    }
    Ok(t)
}

/// v0–v3: device type, device id, bits, code, lanes, ndims, dims, strides, byte offset, data.
fn load_v0(r: &mut Reader) -> IoResult<Tensor> {
    let device_type = r.unsigned()?;
    let _device_id = r.unsigned()?;
    let bits = r.unsigned()?;
    let code = r.unsigned()?;
    let lanes = r.unsigned()?;
    let ndims = r.unsigned()?;
    let shape = load_dims(r, ndims, |r| {
        r.unsigned().map(|d| i64::try_from(d).unwrap_or(-1))
    })?;
    // Strides were always row-major; they carry no information.
    for _ in 0..ndims {
        r.unsigned()?;
    }
    let byte_offset = r.unsigned()?;
    let data = r.buffer()?;
    if device_type != DL_CPU || lanes != 1 || byte_offset != 0 {
        return Err(r.fail(&format!(
            "AI_TENSOR: unsupported tensor layout (device {device_type}, lanes {lanes}, \
             offset {byte_offset})"
        )));
    }
    build(r, code, bits, shape, data)
}

unsafe extern "C" fn aof_rewrite(
    aof: *mut RedisModuleIO,
    key: *mut RedisModuleString,
    value: *mut c_void,
) {
    guard("AI_TENSOR aof_rewrite", (), || {
        let args = tensorset_args(tensor(value));
        let raw: Vec<_> = args.iter().map(|s| s.as_ptr()).collect();
        emit_aof(aof, c"AI.TENSORSET", key, &raw);
    })
}

unsafe extern "C" fn mem_usage(value: *const c_void) -> usize {
    // The Arc's two reference counts sit in front of the tensor.
    guard("AI_TENSOR mem_usage", 0, || {
        tensor(value).heap_size() + 2 * std::mem::size_of::<usize>()
    })
}

unsafe extern "C" fn digest(md: *mut RedisModuleDigest, value: *mut c_void) {
    guard("AI_TENSOR digest", (), || {
        let t = tensor(value);
        let name = t.dtype().name();
        api!(RedisModule_DigestAddStringBuffer)(md, name.as_ptr().cast(), name.len());
        for &d in t.shape() {
            api!(RedisModule_DigestAddLongLong)(md, d);
        }
        let data = t.data();
        api!(RedisModule_DigestAddStringBuffer)(md, data.as_ptr().cast(), data.len());
        api!(RedisModule_DigestEndSequence)(md);
    })
}
