//! The module's global allocator.
//!
//! Inside redis-server every allocation goes through `RedisModule_Alloc`, so tensors count
//! towards `used_memory`, `maxmemory` and `MEMORY USAGE` like any other value. Outside
//! redis-server (`cargo test` of the pure code) the Redis allocator does not exist and the
//! redis-module crate's own allocator aborts; this one falls back to the system allocator.
//!
//! Which of the two serves a pointer is decided by whether the Redis API table was filled in
//! (`RedisModule_Init` sets it once, before any other module code runs, and never clears it),
//! so an allocation and its deallocation always meet the same allocator.
//!
//! `RedisModule_TryAlloc` is used where the server offers it, so a failed `try_reserve`
//! is an error reply instead of an abort.
//!
//! The Redis allocator has no aligned variant. jemalloc gives every allocation of 16 bytes or
//! more a 16-byte alignment, which covers every Rust type we allocate except explicit
//! over-aligned layouts; those get a larger block and the original pointer stored just before
//! the aligned one.

use std::alloc::{GlobalAlloc, Layout, System};
use std::ptr;

use redis_module::raw;

/// Alignment the Redis allocator (jemalloc, or libc malloc) guarantees on x86_64/aarch64.
const NATURAL_ALIGN: usize = 16;

#[derive(Default, Debug, Clone, Copy)]
pub struct HybridAlloc;

#[inline]
fn redis_api() -> Option<(
    unsafe extern "C" fn(usize) -> *mut std::ffi::c_void,
    unsafe extern "C" fn(*mut std::ffi::c_void),
)> {
    // SAFETY: the statics are written once by RedisModule_Init before any module code
    // allocates, and only read afterwards.
    unsafe {
        // TryAlloc returns NULL instead of aborting the server, so `try_reserve` on a tensor
        // buffer turns an out-of-memory into an error reply.
        match (
            raw::RedisModule_TryAlloc.or(raw::RedisModule_Alloc),
            raw::RedisModule_Free,
        ) {
            (Some(a), Some(f)) => Some((a, f)),
            _ => None,
        }
    }
}

unsafe impl GlobalAlloc for HybridAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some((alloc, _)) = redis_api() else {
            return System.alloc(layout);
        };
        if layout.align() <= NATURAL_ALIGN {
            // Round tiny sizes up so jemalloc's size class carries the alignment.
            let size = layout.size().max(layout.align());
            return alloc(size).cast();
        }
        // Over-aligned: room for the alignment slack plus one stored pointer.
        let Some(total) = layout
            .size()
            .checked_add(layout.align())
            .and_then(|s| s.checked_add(std::mem::size_of::<usize>()))
        else {
            return ptr::null_mut();
        };
        let base = alloc(total).cast::<u8>();
        if base.is_null() {
            return base;
        }
        let start = base as usize + std::mem::size_of::<usize>();
        let aligned = (start + layout.align() - 1) & !(layout.align() - 1);
        let aligned_ptr = aligned as *mut u8;
        (aligned_ptr as *mut usize)
            .sub(1)
            .write_unaligned(base as usize);
        aligned_ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let Some((_, free)) = redis_api() else {
            return System.dealloc(ptr, layout);
        };
        if layout.align() <= NATURAL_ALIGN {
            free(ptr.cast());
        } else {
            let base = (ptr as *mut usize).sub(1).read_unaligned();
            free(base as *mut std::ffi::c_void);
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if redis_api().is_none() {
            return System.realloc(ptr, layout, new_size);
        }
        // SAFETY: set together with RedisModule_Alloc by RedisModule_Init.
        match raw::RedisModule_Realloc {
            Some(realloc) if layout.align() <= NATURAL_ALIGN => {
                realloc(ptr.cast(), new_size.max(layout.align())).cast()
            }
            _ => {
                let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
                let new = self.alloc(new_layout);
                if !new.is_null() {
                    ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                    self.dealloc(ptr, layout);
                }
                new
            }
        }
    }
}
