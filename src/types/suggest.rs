//! `AI_SUGDCT`: an FT.SUGADD key. RDB in RediSearch's `trietype0` layout (encoding 1: a
//! count, then each string with its NUL, its score as a double, its payload with a NUL), AOF
//! rewrite as FT.SUGADD commands, MEMORY USAGE, DEBUG DIGEST, COPY; DUMP/RESTORE through the
//! RDB callbacks.
//!
//! Unlike the AI.* types a suggestion key changes in place (FT.SUGADD on a large dictionary
//! must not copy it), so the stored value wraps the dictionary in a mutex. Only the main
//! thread reaches it; the mutex is there because stored values must be `Sync`.
//!
//! The name is ours, not RediSearch's `trietype0`: type names are server-wide, and this
//! module loads beside a server that has RediSearch's own.

use std::ffi::{c_int, c_void};
use std::sync::{Arc, Mutex, MutexGuard};

use redis_module::raw::{self, RedisModuleDigest, RedisModuleIO, RedisModuleString};

use super::io::{emit_aof, IoError, IoResult, Reader, Writer};
use crate::redis::{api, guard, OwnedString, StoredType};
use crate::search::suggest::Suggestions;

/// RediSearch's `TRIE_ENCVER_CURRENT` (0 had no payloads).
const ENCODING_VERSION: i32 = 1;

pub struct SugDict(Mutex<Suggestions>);

impl SugDict {
    pub fn new(s: Suggestions) -> SugDict {
        SugDict(Mutex::new(s))
    }

    pub fn lock(&self) -> MutexGuard<'_, Suggestions> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub static SUGGEST_TYPE: redis_module::native_types::RedisType =
    redis_module::native_types::RedisType::new(
        "AI_SUGDCT",
        ENCODING_VERSION,
        raw::RedisModuleTypeMethods {
            version: raw::REDISMODULE_TYPE_METHOD_VERSION as u64,
            rdb_load: Some(rdb_load),
            rdb_save: Some(rdb_save),
            aof_rewrite: Some(aof_rewrite),
            mem_usage: Some(mem_usage),
            digest: Some(digest),
            free: Some(super::free::<SugDict>),
            aux_load: None,
            aux_save: None,
            aux_save_triggers: 0,
            free_effort: Some(free_effort),
            unlink: None,
            copy: Some(super::copy::<SugDict>),
            defrag: None,
            mem_usage2: None,
            free_effort2: None,
            unlink2: None,
            copy2: None,
            aux_save2: None,
        },
    );

impl StoredType for SugDict {
    fn redis_type() -> *mut raw::RedisModuleType {
        *SUGGEST_TYPE.raw_type.borrow()
    }
}

impl super::Stored for SugDict {
    const NAME: &'static str = "AI_SUGDCT";
    /// A deep copy: the two keys change independently afterwards.
    fn copy_to(this: &Arc<Self>, _to: &[u8]) -> Arc<Self> {
        Arc::new(SugDict::new(this.lock().clone()))
    }
}

/// # Safety
/// `value` must be a pointer stored by this type (`Arc<SugDict>::into_raw`).
unsafe fn dict<'a>(value: *const c_void) -> &'a SugDict {
    &*(value as *const SugDict)
}

/// A string as RediSearch saves it: its bytes and a NUL.
fn with_nul(b: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(b.len() + 1);
    v.extend_from_slice(b);
    v.push(0);
    v
}

fn without_nul(mut v: Vec<u8>) -> Vec<u8> {
    if v.last() == Some(&0) {
        v.pop();
    }
    v
}

unsafe extern "C" fn rdb_save(io: *mut RedisModuleIO, value: *mut c_void) {
    guard("AI_SUGDCT rdb_save", (), || {
        let s = dict(value).lock();
        let mut w = Writer::new(io);
        w.unsigned(s.len() as u64);
        for (k, e) in s.iter() {
            w.buffer(&with_nul(k));
            w.double(f64::from(e.score));
            w.buffer(&with_nul(e.payload.as_deref().unwrap_or(b"")));
        }
    })
}

unsafe extern "C" fn rdb_load(io: *mut RedisModuleIO, encver: c_int) -> *mut c_void {
    guard("AI_SUGDCT rdb_load", std::ptr::null_mut(), || {
        let mut r = Reader::new(io);
        if !(0..=ENCODING_VERSION).contains(&encver) {
            r.fail(&format!(
                "AI_SUGDCT encoding version {encver} is newer than this module understands \
                 ({ENCODING_VERSION}); it cannot load this data"
            ));
            return std::ptr::null_mut();
        }
        match load(&mut r, encver >= 1) {
            Ok(s) => Arc::into_raw(Arc::new(SugDict::new(s))) as *mut c_void,
            Err(IoError) => std::ptr::null_mut(),
        }
    })
}

/// Entries one at a time: a corrupt count fails at the first short read, never allocates.
fn load(r: &mut Reader, payloads: bool) -> IoResult<Suggestions> {
    let n = r.unsigned()?;
    let mut s = Suggestions::default();
    for _ in 0..n {
        let string = without_nul(r.buffer()?);
        let score = r.double()?;
        let payload = if payloads {
            without_nul(r.buffer()?)
        } else {
            Vec::new()
        };
        s.add(&string, score, false, Some(&payload));
    }
    Ok(s)
}

unsafe extern "C" fn aof_rewrite(
    aof: *mut RedisModuleIO,
    key: *mut RedisModuleString,
    value: *mut c_void,
) {
    guard("AI_SUGDCT aof_rewrite", (), || {
        let s = dict(value).lock();
        for (k, e) in s.iter() {
            // An f32 printed as the shortest f64 reads back as the same f32.
            let mut args = vec![
                OwnedString::new(k),
                OwnedString::new(f64::from(e.score).to_string().as_bytes()),
            ];
            if let Some(p) = &e.payload {
                args.push(OwnedString::new(b"PAYLOAD"));
                args.push(OwnedString::new(p));
            }
            let raw: Vec<_> = args.iter().map(|a| a.as_ptr()).collect();
            emit_aof(aof, c"FT.SUGADD", key, &raw);
        }
    })
}

unsafe extern "C" fn mem_usage(value: *const c_void) -> usize {
    guard("AI_SUGDCT mem_usage", 0, || {
        dict(value).lock().bytes() + std::mem::size_of::<SugDict>()
    })
}

unsafe extern "C" fn digest(md: *mut RedisModuleDigest, value: *mut c_void) {
    guard("AI_SUGDCT digest", (), || {
        let s = dict(value).lock();
        for (k, e) in s.iter() {
            api!(RedisModule_DigestAddStringBuffer)(md, k.as_ptr().cast(), k.len());
            let score = e.score.to_bits().to_le_bytes();
            api!(RedisModule_DigestAddStringBuffer)(md, score.as_ptr().cast(), score.len());
            let p = e.payload.as_deref().unwrap_or(b"");
            api!(RedisModule_DigestAddStringBuffer)(md, p.as_ptr().cast(), p.len());
            api!(RedisModule_DigestEndSequence)(md);
        }
    })
}

/// Freeing costs one step per entry: a large dictionary is worth a lazy-free thread.
unsafe extern "C" fn free_effort(_key: *mut RedisModuleString, value: *const c_void) -> usize {
    guard("AI_SUGDCT free_effort", 1, || {
        dict(value).lock().len().max(1)
    })
}
