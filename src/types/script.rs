//! `AI_SCRIPT`: RDB in RedisAI's encoding (v4/v3 with entry points; v0–v2 without), the
//! script recompiled through the TORCH backend on load; AOF rewrite as `AI.SCRIPTSTORE` (or
//! `AI.SCRIPTSET` for a script without entry points, which AI.SCRIPTSTORE would refuse);
//! MEMORY USAGE, DEBUG DIGEST, COPY.

use std::ffi::{c_int, c_void};
use std::sync::Arc;

use redis_module::raw::{self, RedisModuleDigest, RedisModuleIO, RedisModuleString};

use super::io::{emit_aof, IoError, IoResult, Reader, Writer};
use super::ENCODING_VERSION;
use crate::redis::guard;
use crate::redis::{api, string_bytes, OwnedString, StoredType};
use crate::script::{Script, ScriptSource};

super::redis_type!(SCRIPT_TYPE, "AI_SCRIPT", Script);

impl StoredType for Script {
    fn redis_type() -> *mut raw::RedisModuleType {
        *SCRIPT_TYPE.raw_type.borrow()
    }
}

impl super::Stored for Script {
    const NAME: &'static str = "AI_SCRIPT";
    /// The copy shares the compiled script and starts statistics of its own.
    fn copy_to(this: &Arc<Self>, to: &[u8]) -> Arc<Self> {
        Arc::new(this.share().registered(to))
    }
}

/// # Safety
/// `value` must be a pointer stored by this type (`Arc<Script>::into_raw`).
unsafe fn script<'a>(value: *const c_void) -> &'a Script {
    &*(value as *const Script)
}

unsafe extern "C" fn rdb_save(io: *mut RedisModuleIO, value: *mut c_void) {
    guard("AI_SCRIPT rdb_save", (), || {
        let s = script(value);
        let mut w = Writer::new(io);
        w.c_string(&s.place.device);
        w.buffer(&s.place.tag);
        w.c_string(&s.source);
        w.unsigned(s.entry_points.len() as u64);
        for e in &s.entry_points {
            w.c_string(e);
        }
    })
}

fn load(r: &mut Reader, encver: i32) -> IoResult<ScriptSource> {
    let device = r.c_string("AI_SCRIPT: device")?;
    let mut tag = r.buffer()?;
    if encver == 0 && tag.last() == Some(&0) {
        tag.pop();
    }
    let source = r.c_string("AI_SCRIPT: source")?;
    let mut entry_points = Vec::new();
    if encver >= 3 {
        // Read one at a time: a corrupt count fails at the first missing name.
        for _ in 0..r.unsigned()? {
            entry_points.push(r.c_string("AI_SCRIPT: entry point")?);
        }
    }
    Ok(ScriptSource {
        device,
        tag,
        source,
        entry_points,
    })
}

unsafe extern "C" fn rdb_load(io: *mut RedisModuleIO, encver: c_int) -> *mut c_void {
    guard("AI_SCRIPT rdb_load", std::ptr::null_mut(), || {
        let mut r = Reader::new(io);
        if !(0..=ENCODING_VERSION).contains(&encver) {
            r.fail(&format!(
                "AI_SCRIPT encoding version {encver} is newer than this module understands \
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
            source.prepare().map_err(|e| {
                r.fail(&format!(
                    "AI_SCRIPT {}: the TORCH backend could not compile the script: {e}",
                    String::from_utf8_lossy(&key),
                ))
            })
        }) {
            Ok(s) => Arc::into_raw(Arc::new(s.registered(&key))) as *mut c_void,
            Err(IoError) => std::ptr::null_mut(),
        }
    })
}

unsafe extern "C" fn aof_rewrite(
    aof: *mut RedisModuleIO,
    key: *mut RedisModuleString,
    value: *mut c_void,
) {
    guard("AI_SCRIPT aof_rewrite", (), || {
        let s = script(value);
        let mut args: Vec<OwnedString> = vec![
            OwnedString::new(s.place.device.as_bytes()),
            OwnedString::new(b"TAG"),
            OwnedString::new(&s.place.tag),
        ];
        let command = if s.entry_points.is_empty() {
            c"AI.SCRIPTSET"
        } else {
            args.push(OwnedString::new(b"ENTRY_POINTS"));
            args.push(OwnedString::new(
                s.entry_points.len().to_string().as_bytes(),
            ));
            args.extend(
                s.entry_points
                    .iter()
                    .map(|e| OwnedString::new(e.as_bytes())),
            );
            c"AI.SCRIPTSTORE"
        };
        args.push(OwnedString::new(b"SOURCE"));
        args.push(OwnedString::new(s.source.as_bytes()));
        let raw: Vec<_> = args.iter().map(|s| s.as_ptr()).collect();
        emit_aof(aof, command, key, &raw);
    })
}

unsafe extern "C" fn mem_usage(value: *const c_void) -> usize {
    guard("AI_SCRIPT mem_usage", 0, || {
        script(value).heap_size() + 2 * std::mem::size_of::<usize>()
    })
}

unsafe extern "C" fn digest(md: *mut RedisModuleDigest, value: *mut c_void) {
    guard("AI_SCRIPT digest", (), || {
        let s = script(value);
        let add =
            |b: &[u8]| api!(RedisModule_DigestAddStringBuffer)(md, b.as_ptr().cast(), b.len());
        add(s.place.device.as_bytes());
        add(&s.place.tag);
        add(s.source.as_bytes());
        for e in &s.entry_points {
            add(e.as_bytes());
        }
        api!(RedisModule_DigestEndSequence)(md);
    })
}
