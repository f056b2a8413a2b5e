//! Redis strings: the command's arguments, strings this module owns, and arguments kept
//! beyond their command.

use std::ptr::{self, NonNull};

use super::RedisModuleString;
use crate::args::Words;

/// The command arguments, borrowed for the duration of the command.
pub struct Args<'a> {
    argv: &'a [*mut RedisModuleString],
}

impl<'a> Args<'a> {
    /// # Safety
    /// `argv` must be the argument vector Redis passed to the running command.
    pub unsafe fn new(argv: &'a [*mut RedisModuleString]) -> Self {
        Args { argv }
    }

    pub fn len(&self) -> usize {
        self.argv.len()
    }

    /// The bytes of argument `i` (panics if out of range: a bug, caught at the command edge).
    pub fn bytes(&self, i: usize) -> &'a [u8] {
        string_bytes(self.argv[i])
    }

    /// Arguments `from..`, as words for the parsers (nothing is copied).
    pub fn tail(&self, from: usize) -> ArgWords<'a> {
        ArgWords(&self.argv[from.min(self.argv.len())..])
    }

    pub fn raw(&self, i: usize) -> *mut RedisModuleString {
        self.argv[i]
    }

    pub fn all(&self) -> &'a [*mut RedisModuleString] {
        self.argv
    }
}

pub struct ArgWords<'a>(&'a [*mut RedisModuleString]);

impl<'a> Words<'a> for ArgWords<'a> {
    fn count(&self) -> usize {
        self.0.len()
    }
    fn word(&self, i: usize) -> &'a [u8] {
        string_bytes(self.0[i])
    }
}

/// The bytes of a Redis string, valid as long as the string is.
pub fn string_bytes<'a>(s: *const RedisModuleString) -> &'a [u8] {
    let mut len = 0usize;
    // SAFETY: `s` is a live RedisModuleString; the pointer stays valid while it lives.
    unsafe {
        let p = api!(RedisModule_StringPtrLen)(s, &mut len);
        if p.is_null() || len == 0 {
            return &[];
        }
        std::slice::from_raw_parts(p.cast::<u8>(), len)
    }
}

/// A Redis string this module owns a reference to (freed on drop).
pub struct OwnedString(NonNull<RedisModuleString>);

// SAFETY: created with a NULL context and not shared, so its reference count is touched only
// by whoever holds this handle; the statics that keep one are used under the GIL.
unsafe impl Send for OwnedString {}

impl OwnedString {
    pub fn new(bytes: &[u8]) -> OwnedString {
        // SAFETY: a NULL context creates a string the caller must free, which Drop does.
        let s = unsafe {
            api!(RedisModule_CreateString)(ptr::null_mut(), bytes.as_ptr().cast(), bytes.len())
        };
        OwnedString(NonNull::new(s).expect("RedisModule_CreateString returned NULL"))
    }

    /// Takes ownership of a string the server made for us with no automatic memory
    /// management (as `RedisModule_HashGet` does outside a command); `None` for NULL.
    ///
    /// # Safety
    /// `s` must be NULL or a string this module now owns, freed with a NULL context.
    pub unsafe fn from_raw(s: *mut RedisModuleString) -> Option<OwnedString> {
        NonNull::new(s).map(OwnedString)
    }

    pub fn as_ptr(&self) -> *mut RedisModuleString {
        self.0.as_ptr()
    }

    pub fn bytes(&self) -> &[u8] {
        string_bytes(self.0.as_ptr())
    }
}

impl Drop for OwnedString {
    fn drop(&mut self) {
        // SAFETY: created with a NULL context, so it is ours to free.
        unsafe { api!(RedisModule_FreeString)(ptr::null_mut(), self.0.as_ptr()) };
    }
}

/// A reference to a Redis string kept beyond the command that received it, used to store a
/// large BLOB argument without copying it.
///
/// The string is an argument object the server created for this command; once the command
/// returns, this is its only reference, so dropping it later on another thread (when the
/// last `Arc` of a tensor goes away on a worker) does not race with the main thread.
///
/// The bytes are looked up on every access rather than remembered: right after a command
/// returns, the server trims the unused tail of any argument a module kept
/// (`trimStringObjectIfNeeded`), which may move the bytes.
pub struct HeldString {
    s: NonNull<RedisModuleString>,
}

// SAFETY: the held string is immutable and referenced only through this handle (see above).
unsafe impl Send for HeldString {}
unsafe impl Sync for HeldString {}

impl HeldString {
    /// Takes a reference to argument `s` of the running command.
    pub fn hold(s: *mut RedisModuleString) -> HeldString {
        // SAFETY: `s` is a live argument; a NULL context makes the reference ours to free.
        let held = unsafe { api!(RedisModule_HoldString)(ptr::null_mut(), s) };
        HeldString {
            s: NonNull::new(held).expect("RedisModule_HoldString returned NULL"),
        }
    }
}

impl crate::tensor::ExternalBytes for HeldString {
    fn bytes(&self) -> &[u8] {
        string_bytes(self.s.as_ptr())
    }

    fn heap_size(&self) -> usize {
        if api_has!(RedisModule_MallocSizeString) {
            // SAFETY: live string; called from MEMORY USAGE on the main thread.
            unsafe { api!(RedisModule_MallocSizeString)(self.s.as_ptr()) }
        } else {
            string_bytes(self.s.as_ptr()).len()
        }
    }
}

impl Drop for HeldString {
    fn drop(&mut self) {
        // SAFETY: the reference taken by HoldString with a NULL context.
        unsafe { api!(RedisModule_FreeString)(ptr::null_mut(), self.s.as_ptr()) };
    }
}
