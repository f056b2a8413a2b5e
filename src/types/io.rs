//! RDB reading and writing for the data types. With `HANDLE_IO_ERRORS` set, a short or
//! corrupt read makes the Load* functions return zero/NULL and flags the IO; every read here
//! checks that flag, so a loader can stop at the first bad field and drop what it built.

use std::ffi::c_char;

use redis_module::raw::{self, RedisModuleIO};

use crate::redis::{api, RedisModuleString};

/// The IO failed (short read, corrupt data); details are in the server log.
#[derive(Debug)]
pub struct IoError;

pub type IoResult<T> = Result<T, IoError>;

pub struct Reader {
    io: *mut RedisModuleIO,
}

impl Reader {
    /// # Safety
    /// `io` must be the IO handle of a running rdb_load callback.
    pub unsafe fn new(io: *mut RedisModuleIO) -> Self {
        Reader { io }
    }

    fn check(&self) -> IoResult<()> {
        // SAFETY: live IO handle.
        if unsafe { api!(RedisModule_IsIOError)(self.io) } != 0 {
            Err(IoError)
        } else {
            Ok(())
        }
    }

    pub fn unsigned(&mut self) -> IoResult<u64> {
        // SAFETY: live IO handle.
        let v = unsafe { api!(RedisModule_LoadUnsigned)(self.io) };
        self.check().map(|_| v)
    }

    pub fn signed(&mut self) -> IoResult<i64> {
        // SAFETY: live IO handle.
        let v = unsafe { api!(RedisModule_LoadSigned)(self.io) };
        self.check().map(|_| v)
    }

    pub fn double(&mut self) -> IoResult<f64> {
        // SAFETY: live IO handle.
        let v = unsafe { api!(RedisModule_LoadDouble)(self.io) };
        self.check().map(|_| v)
    }

    /// A string buffer, copied to the Rust heap (the server's copy is freed).
    pub fn buffer(&mut self) -> IoResult<Vec<u8>> {
        let mut len = 0usize;
        // SAFETY: live IO handle; the returned buffer is ours to free with RedisModule_Free.
        let p = unsafe { api!(RedisModule_LoadStringBuffer)(self.io, &mut len) };
        let out = if p.is_null() {
            Vec::new()
        } else {
            // SAFETY: `p` points to `len` bytes allocated by the server.
            let v = unsafe { std::slice::from_raw_parts(p.cast::<u8>(), len) }.to_vec();
            unsafe { api!(RedisModule_Free)(p.cast()) };
            v
        };
        self.check()?;
        if p.is_null() {
            return Err(IoError);
        }
        Ok(out)
    }

    /// A C string as RedisAI saves it (its NUL included), as UTF-8 text; `what` names it in
    /// the log line when it is not text.
    pub fn c_string(&mut self, what: &str) -> IoResult<String> {
        let mut v = self.buffer()?;
        if v.last() == Some(&0) {
            v.pop();
        }
        String::from_utf8(v).map_err(|_| self.fail(&format!("{what} is not valid UTF-8")))
    }

    /// Logs why the load failed; the server then refuses the RDB / RESTORE payload.
    pub fn fail(&self, msg: &str) -> IoError {
        let msg = std::ffi::CString::new(msg.replace('\0', " ")).unwrap_or_default();
        // SAFETY: "%s" with a NUL-terminated string on a live IO handle.
        unsafe {
            api!(RedisModule_LogIOError)(self.io, c"warning".as_ptr(), c"%s".as_ptr(), msg.as_ptr())
        };
        IoError
    }
}

pub struct Writer {
    io: *mut RedisModuleIO,
}

impl Writer {
    /// # Safety
    /// `io` must be the IO handle of a running rdb_save callback.
    pub unsafe fn new(io: *mut RedisModuleIO) -> Self {
        Writer { io }
    }

    pub fn unsigned(&mut self, v: u64) {
        raw::save_unsigned(self.io, v);
    }

    pub fn signed(&mut self, v: i64) {
        raw::save_signed(self.io, v);
    }

    pub fn double(&mut self, v: f64) {
        // SAFETY: live IO handle.
        unsafe { api!(RedisModule_SaveDouble)(self.io, v) };
    }

    pub fn buffer(&mut self, b: &[u8]) {
        // SAFETY: live IO handle; the server copies the bytes.
        unsafe {
            api!(RedisModule_SaveStringBuffer)(self.io, b.as_ptr().cast::<c_char>(), b.len())
        };
    }

    /// A C string as RedisAI saves it: the bytes and their terminating NUL.
    pub fn c_string(&mut self, s: &str) {
        let mut v = Vec::with_capacity(s.len() + 1);
        v.extend_from_slice(s.as_bytes());
        v.push(0);
        self.buffer(&v);
    }
}

/// Emits one command into an AOF rewrite: `cmd args...`.
///
/// # Safety
/// `aof` must be the IO handle of a running aof_rewrite callback.
pub unsafe fn emit_aof(
    aof: *mut RedisModuleIO,
    cmd: &std::ffi::CStr,
    key: *mut RedisModuleString,
    args: &[*mut RedisModuleString],
) {
    // "s" = the key, "v" = an array of strings and its length.
    api!(RedisModule_EmitAOF)(
        aof,
        cmd.as_ptr(),
        c"sv".as_ptr(),
        key,
        args.as_ptr(),
        args.len(),
    );
}
