//! `AI__MODEL`: RDB in RedisAI's encoding (v4; v0–v3 load too), the model re-prepared through
//! its backend on load; AOF rewrite as `AI.MODELSTORE`; MEMORY USAGE, DEBUG DIGEST, COPY.

use std::ffi::{c_int, c_void};
use std::sync::Arc;

use redis_module::raw::{self, RedisModuleDigest, RedisModuleIO, RedisModuleString};

use super::io::{emit_aof, IoError, IoResult, Reader, Writer};
use super::ENCODING_VERSION;
use crate::backend::BackendKind;
use crate::config;
use crate::exec::BatchOpts;
use crate::model::{chunks, Model, ModelSource};
use crate::redis::guard;
use crate::redis::{api, string_bytes, OwnedString, StoredType};

super::redis_type!(MODEL_TYPE, "AI__MODEL", Model);

impl StoredType for Model {
    fn redis_type() -> *mut raw::RedisModuleType {
        *MODEL_TYPE.raw_type.borrow()
    }
}

impl super::Stored for Model {
    const NAME: &'static str = "AI__MODEL";
    /// The copy shares the prepared model and starts statistics of its own.
    fn copy_to(this: &Arc<Self>, to: &[u8]) -> Arc<Self> {
        Arc::new(this.share().registered(to))
    }
}

/// # Safety
/// `value` must be a pointer stored by this type (`Arc<Model>::into_raw`).
unsafe fn model<'a>(value: *const c_void) -> &'a Model {
    &*(value as *const Model)
}

unsafe extern "C" fn rdb_save(io: *mut RedisModuleIO, value: *mut c_void) {
    guard("AI__MODEL rdb_save", (), || {
        let m = model(value);
        let mut w = Writer::new(io);
        w.unsigned(m.backend as u64);
        w.c_string(&m.place.device);
        w.buffer(&m.place.tag);
        w.unsigned(m.batch.size);
        w.unsigned(m.batch.min_size);
        w.unsigned(m.batch.min_timeout_ms);
        for names in [m.inputs(), m.outputs()] {
            w.unsigned(names.len() as u64);
            for n in names {
                w.c_string(n);
            }
        }
        let parts = chunks(m.blob.len(), config::MODEL_CHUNK_SIZE.get().max(1) as usize);
        w.unsigned(m.blob.len() as u64);
        w.unsigned(parts.len() as u64);
        for p in parts {
            w.buffer(&m.blob[p]);
        }
    })
}

unsafe extern "C" fn rdb_load(io: *mut RedisModuleIO, encver: c_int) -> *mut c_void {
    guard("AI__MODEL rdb_load", std::ptr::null_mut(), || {
        let mut r = Reader::new(io);
        if !(0..=ENCODING_VERSION).contains(&encver) {
            r.fail(&format!(
                "AI__MODEL encoding version {encver} is newer than this module understands \
                 ({ENCODING_VERSION}); it cannot load this data"
            ));
            return std::ptr::null_mut();
        }
        let key = api!(RedisModule_GetKeyNameFromIO)(io);
        let key = if key.is_null() {
            Vec::new()
        } else {
            string_bytes(key).to_vec()
        };
        match load(&mut r, encver).and_then(|source| {
            let backend = source.backend.name();
            source.prepare().map_err(|e| {
                r.fail(&format!(
                    "AI__MODEL {}: the {backend} backend could not prepare the model: {e}",
                    String::from_utf8_lossy(&key),
                ))
            })
        }) {
            Ok(m) => {
                let m = m.registered(&key);
                Arc::into_raw(Arc::new(m)) as *mut c_void
            }
            Err(IoError) => std::ptr::null_mut(),
        }
    })
}

/// Names are read one at a time, so a corrupt count fails at the first missing one.
fn load_names(r: &mut Reader, what: &str) -> IoResult<Vec<String>> {
    let n = r.unsigned()?;
    let mut names = Vec::new();
    for _ in 0..n {
        names.push(r.c_string(what)?);
    }
    Ok(names)
}

fn load(r: &mut Reader, encver: i32) -> IoResult<ModelSource> {
    let code = r.unsigned()?;
    let backend = BackendKind::from_code(code)
        .ok_or_else(|| r.fail(&format!("AI__MODEL: unknown backend code {code}")))?;
    let device = r.c_string("AI__MODEL: device")?;
    let mut tag = r.buffer()?;
    if encver == 0 && tag.last() == Some(&0) {
        tag.pop();
    }
    let mut batch = BatchOpts {
        size: r.unsigned()?,
        min_size: r.unsigned()?,
        min_timeout_ms: 0,
    };
    if encver >= 2 {
        batch.min_timeout_ms = r.unsigned()?;
    }
    let inputs = load_names(r, "AI__MODEL: input name")?;
    let outputs = load_names(r, "AI__MODEL: output name")?;
    let blob = if encver == 0 {
        r.buffer()?
    } else {
        let total = r.unsigned()?;
        let n = r.unsigned()?;
        let mut blob = Vec::new();
        for _ in 0..n {
            let chunk = r.buffer()?;
            if blob.len() as u64 + chunk.len() as u64 > total {
                return Err(r.fail("AI__MODEL: model chunks are longer than the model"));
            }
            blob.extend_from_slice(&chunk);
        }
        if blob.len() as u64 != total {
            return Err(r.fail("AI__MODEL: model chunks are shorter than the model"));
        }
        blob
    };
    Ok(ModelSource {
        backend,
        device,
        tag,
        batch,
        inputs,
        outputs,
        blob,
    })
}

unsafe extern "C" fn aof_rewrite(
    aof: *mut RedisModuleIO,
    key: *mut RedisModuleString,
    value: *mut c_void,
) {
    guard("AI__MODEL aof_rewrite", (), || {
        let m = model(value);
        let mut args: Vec<OwnedString> = vec![
            OwnedString::new(m.backend.name().as_bytes()),
            OwnedString::new(m.place.device.as_bytes()),
            OwnedString::new(b"TAG"),
            OwnedString::new(&m.place.tag),
        ];
        for (word, n) in [
            ("BATCHSIZE", m.batch.size),
            ("MINBATCHSIZE", m.batch.min_size),
            ("MINBATCHTIMEOUT", m.batch.min_timeout_ms),
        ] {
            args.push(OwnedString::new(word.as_bytes()));
            args.push(OwnedString::new(n.to_string().as_bytes()));
        }
        if m.backend == BackendKind::Tf {
            for (word, names) in [("INPUTS", m.inputs()), ("OUTPUTS", m.outputs())] {
                args.push(OwnedString::new(word.as_bytes()));
                args.push(OwnedString::new(names.len().to_string().as_bytes()));
                args.extend(names.iter().map(|n| OwnedString::new(n.as_bytes())));
            }
        }
        args.push(OwnedString::new(b"BLOB"));
        let size = config::MODEL_CHUNK_SIZE.get().max(1) as usize;
        args.extend(
            chunks(m.blob.len(), size)
                .into_iter()
                .map(|p| OwnedString::new(&m.blob[p])),
        );
        let raw: Vec<_> = args.iter().map(|s| s.as_ptr()).collect();
        emit_aof(aof, c"AI.MODELSTORE", key, &raw);
    })
}

unsafe extern "C" fn mem_usage(value: *const c_void) -> usize {
    guard("AI__MODEL mem_usage", 0, || {
        model(value).heap_size() + 2 * std::mem::size_of::<usize>()
    })
}

unsafe extern "C" fn digest(md: *mut RedisModuleDigest, value: *mut c_void) {
    guard("AI__MODEL digest", (), || {
        let m = model(value);
        let add =
            |b: &[u8]| api!(RedisModule_DigestAddStringBuffer)(md, b.as_ptr().cast(), b.len());
        add(m.backend.name().as_bytes());
        add(m.place.device.as_bytes());
        add(&m.place.tag);
        for n in [m.batch.size, m.batch.min_size, m.batch.min_timeout_ms] {
            api!(RedisModule_DigestAddLongLong)(md, n as i64);
        }
        for n in m.inputs().iter().chain(m.outputs()) {
            add(n.as_bytes());
        }
        add(&m.blob);
        api!(RedisModule_DigestEndSequence)(md);
    })
}
