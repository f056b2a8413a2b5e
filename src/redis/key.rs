//! Open keys and the module's stored values.

use std::ffi::{c_int, c_void, CString};
use std::marker::PhantomData;
use std::ptr;
use std::sync::Arc;

use redis_module::raw;

use super::{string_bytes, Ctx, OwnedString, RedisModuleString};

/// How a command uses one of its keys (see [`Ctx::key_at`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyUse {
    Read,
    /// Overwritten without being read.
    Write,
    ReadWrite,
    Delete,
}

/// A Redis type whose values are stored as `Arc<Self>` (see `types`).
pub trait StoredType: Send + Sync + Sized + 'static {
    /// The type as registered with the server.
    fn redis_type() -> *mut raw::RedisModuleType;
}

/// An open key; closed when dropped. Opened with [`Ctx::open_key`], read-only or writable.
pub struct Key<'c> {
    pub(super) raw: *mut raw::RedisModuleKey,
    pub(super) _ctx: PhantomData<&'c Ctx>,
    /// Whether dropping this handle closes the key (not for a key the server lent us).
    pub(super) close: bool,
}

impl Key<'_> {
    pub fn is_empty(&self) -> bool {
        // SAFETY: an open key (OpenKey returns NULL only for missing keys opened read-only,
        // which KeyType reports as empty).
        unsafe { api!(RedisModule_KeyType)(self.raw) == raw::REDISMODULE_KEYTYPE_EMPTY as c_int }
    }

    fn holds<T: StoredType>(&self) -> bool {
        // SAFETY: open key.
        unsafe {
            api!(RedisModule_KeyType)(self.raw) == raw::REDISMODULE_KEYTYPE_MODULE as c_int
                && api!(RedisModule_ModuleTypeGetType)(self.raw) == T::redis_type()
        }
    }

    /// The value, if the key holds a `T`; `None` if the key is empty; WRONGTYPE otherwise.
    pub fn get<T: StoredType>(&self) -> crate::error::AiResult<Option<&T>> {
        if self.is_empty() {
            return Ok(None);
        }
        if !self.holds::<T>() {
            return Err(crate::error::AiError::WrongType);
        }
        // SAFETY: values of T's Redis type are always `Arc<T>::into_raw` pointers.
        Ok(Some(unsafe {
            &*(api!(RedisModule_ModuleTypeGetValue)(self.raw) as *const T)
        }))
    }

    /// The value for changing in place, if the key holds a `T` that nothing else references
    /// (no running job, no snapshot): otherwise `None`, and the caller replaces the value.
    /// The caller must clear the TTL as a replacement does ([`Key::clear_expire`]).
    pub fn get_unique_mut<T: StoredType>(&mut self) -> Option<&mut T> {
        if self.is_empty() || !self.holds::<T>() {
            return None;
        }
        // SAFETY: values of T's Redis type are `Arc<T>::into_raw` pointers; the key's own
        // reference is borrowed (ManuallyDrop), never released here.
        let mut arc = std::mem::ManuallyDrop::new(unsafe {
            Arc::from_raw(api!(RedisModule_ModuleTypeGetValue)(self.raw) as *const T)
        });
        // get_mut checks that the key's reference is the only one, with the ordering that
        // makes a worker's last use of a clone happen before this write. New references are
        // only made from the key, on the main thread, which is here.
        let p: *mut T = Arc::get_mut(&mut arc)?;
        // SAFETY: the value lives as long as the key holds it, which outlasts `&mut self`
        // (the key is open, and only this handle can replace or delete its value).
        Some(unsafe { &mut *p })
    }

    /// Removes the key's TTL, if it has one (an overwrite does, as `SET` does).
    pub fn clear_expire(&self) {
        // SAFETY: open writable key.
        unsafe {
            if api!(RedisModule_GetExpire)(self.raw) != raw::REDISMODULE_NO_EXPIRE as i64 {
                api!(RedisModule_SetExpire)(self.raw, raw::REDISMODULE_NO_EXPIRE as i64);
            }
        }
    }

    /// Like [`Key::get`], sharing ownership of the value.
    pub fn get_arc<T: StoredType>(&self) -> crate::error::AiResult<Option<Arc<T>>> {
        Ok(self.get::<T>()?.map(|v| {
            let p: *const T = v;
            // SAFETY: `p` came from Arc::into_raw and the key still holds its reference.
            unsafe {
                Arc::increment_strong_count(p);
                Arc::from_raw(p)
            }
        }))
    }

    /// Deletes the key (it must be open for writing).
    pub fn delete(&self) {
        // SAFETY: open writable key.
        unsafe { api!(RedisModule_DeleteKey)(self.raw) };
    }

    /// Fails with WRONGTYPE unless the key is empty or holds a `T`.
    pub fn check_type<T: StoredType>(&self) -> crate::error::AiResult<()> {
        self.get::<T>().map(|_| ())
    }

    /// Stores `value`, replacing (and freeing) what the key held. The key must be open for
    /// writing and empty or of type `T`.
    ///
    /// A value of the same type is swapped in place: no new key object and no dictionary
    /// delete and insert, which is most of the cost of overwriting a small tensor. Like
    /// `SET`, and like the full replacement, an overwrite clears the key's TTL.
    pub fn set<T: StoredType>(&self, value: Arc<T>) {
        if self.holds::<T>() {
            let p = Arc::into_raw(value) as *mut std::ffi::c_void;
            let mut old: *mut std::ffi::c_void = ptr::null_mut();
            // SAFETY: open writable key holding a T; on success the old value is handed back
            // to us and the new one is owned by the key.
            let status = unsafe {
                api!(RedisModule_ModuleTypeReplaceValue)(self.raw, T::redis_type(), p, &mut old)
            };
            if status == raw::REDISMODULE_OK as c_int {
                if !old.is_null() {
                    // SAFETY: values of T's type are Arc<T>::into_raw pointers.
                    drop(unsafe { Arc::from_raw(old as *const T) });
                }
                self.clear_expire();
                return;
            }
            // SAFETY: the key did not take the value.
            let value = unsafe { Arc::from_raw(p as *const T) };
            return self.set_new(value);
        }
        self.set_new(value);
    }

    fn set_new<T: StoredType>(&self, value: Arc<T>) {
        let p = Arc::into_raw(value) as *mut std::ffi::c_void;
        // SAFETY: open writable key; ownership of `p` moves to Redis, returned to us in the
        // type's free callback.
        let status = unsafe { api!(RedisModule_ModuleTypeSetValue)(self.raw, T::redis_type(), p) };
        if status != raw::REDISMODULE_OK as c_int {
            // SAFETY: Redis did not take the value, so it is still ours.
            drop(unsafe { Arc::from_raw(p as *const T) });
            panic!("RedisModule_ModuleTypeSetValue refused a value for an open writable key");
        }
    }
}

impl Key<'_> {
    pub fn is_hash(&self) -> bool {
        // SAFETY: an open key or NULL (KeyType reports NULL as empty).
        !self.raw.is_null()
            && unsafe { api!(RedisModule_KeyType)(self.raw) }
                == raw::REDISMODULE_KEYTYPE_HASH as c_int
    }

    /// One field of an open hash, if it has it.
    pub fn hash_get(&self, field: &[u8]) -> Option<OwnedString> {
        let field = CString::new(field).ok()?;
        let mut out: *mut RedisModuleString = ptr::null_mut();
        // SAFETY: open hash key; CFIELDS takes NUL-terminated names; the list ends with NULL.
        unsafe {
            api!(RedisModule_HashGet)(
                self.raw,
                raw::REDISMODULE_HASH_CFIELDS as c_int,
                field.as_ptr(),
                &mut out as *mut *mut RedisModuleString,
                ptr::null_mut::<c_void>(),
            );
            // SAFETY: HashGet made `out` for us (or left it NULL); we free it.
            OwnedString::from_raw(out)
        }
    }

    /// Every field and value of an open hash, in the hash's order.
    pub fn hash_fields(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        unsafe extern "C" fn one(
            _key: *mut raw::RedisModuleKey,
            field: *mut RedisModuleString,
            value: *mut RedisModuleString,
            privdata: *mut c_void,
        ) {
            // SAFETY: the Vec passed to ScanKey below, alive for the call.
            let out = unsafe { &mut *(privdata as *mut Vec<(Vec<u8>, Vec<u8>)>) };
            out.push((string_bytes(field).to_vec(), string_bytes(value).to_vec()));
        }
        let mut out: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        // SAFETY: an open hash key; the cursor is destroyed below; `out` outlives the scan.
        unsafe {
            let cursor = api!(RedisModule_ScanCursorCreate)();
            let data = &mut out as *mut _ as *mut c_void;
            while api!(RedisModule_ScanKey)(self.raw, cursor, Some(one), data) != 0 {}
            api!(RedisModule_ScanCursorDestroy)(cursor);
        }
        out
    }
}

impl Key<'_> {
    /// A key the server opened and lends to a callback (`RedisModule_Scan`); not closed here.
    ///
    /// # Safety
    /// `raw` must be an open key that stays open while the handle lives.
    pub unsafe fn lent<'k>(raw: *mut raw::RedisModuleKey) -> Key<'k> {
        Key {
            raw,
            _ctx: PhantomData,
            close: false,
        }
    }
}

impl Drop for Key<'_> {
    fn drop(&mut self) {
        if self.close && !self.raw.is_null() {
            // SAFETY: opened by OpenKey and not closed yet.
            unsafe { api!(RedisModule_CloseKey)(self.raw) };
        }
    }
}
