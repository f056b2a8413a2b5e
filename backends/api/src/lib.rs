//! The C ABI between redisai (the host, `libredisai.so`) and its backend plugins
//! (`libredisai_onnx.so`, `libredisai_torch.so`, ...).
//!
//! Plugins are separate shared objects, each with its own copy of the Rust standard library
//! and its own global allocator, loaded at run time with `dlopen`. Nothing Rust-specific may
//! cross between them: no `Vec`, `String`, `Box`, trait object or panic. What crosses is
//! defined here, `#[repr(C)]`, and follows three rules:
//!
//! 1. **One entry point, one table.** A plugin exports [`ENTRY_POINT`]; the host calls it with
//!    its [`ABI_VERSION`] and gets back a pointer to a [`BackendVTable`] (or null if the plugin
//!    cannot serve that host). The table starts with its own size, so the host can tell which
//!    functions a plugin built against an older version of this crate provides.
//! 2. **Append only.** Fields are never removed, reordered or retyped; a new capability is a
//!    new field at the end and a bump of [`ABI_VERSION`].
//! 3. **Whoever allocates, frees.** Inputs are borrowed views of host memory that live for the
//!    duration of one call ([`TensorView`]). Outputs and error messages are allocated by the
//!    plugin and handed back with the plugin's own release function.
//!
//! Tensors are described the way DLPack describes them (type code, bits, lanes; row-major
//! shape), with the two codes RedisAI added to DLPack: [`DL_BOOL`] and [`DL_STRING`].
//! A STRING tensor's data is its elements, each terminated by `\0`, concatenated; its
//! `string_offsets` give the start of each element.
//!
//! This crate grows with the plugin work: the safe `Backend` trait and the macro that writes
//! the `extern "C"` side for a plugin author come with the first plugin.

#![deny(unsafe_op_in_unsafe_fn)]

use std::ffi::{c_char, c_void};

/// Version of this ABI. A host refuses a plugin whose table reports a different major layout.
pub const ABI_VERSION: u32 = 1;

/// Name of the one symbol every plugin exports: `extern "C" fn(host_abi: u32) -> *const BackendVTable`.
pub const ENTRY_POINT: &[u8] = b"redisai_backend_entry\0";

/// DLPack type code: signed integer.
pub const DL_INT: u8 = 0;
/// DLPack type code: unsigned integer.
pub const DL_UINT: u8 = 1;
/// DLPack type code: IEEE floating point.
pub const DL_FLOAT: u8 = 2;
/// DLPack type code: boolean, one byte per element holding 0 or 1.
pub const DL_BOOL: u8 = 6;
/// RedisAI's DLPack extension: `\0`-terminated strings, one byte "bits" of 8.
pub const DL_STRING: u8 = 7;

/// DLPack `DLDataType`: element type code, bits per element, vector lanes (always 1 here).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DataType {
    pub code: u8,
    pub bits: u8,
    pub lanes: u16,
}

impl DataType {
    pub const fn new(code: u8, bits: u8) -> Self {
        DataType {
            code,
            bits,
            lanes: 1,
        }
    }
}

/// A borrowed, read-only, row-major tensor owned by the host, valid for one call.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct TensorView {
    pub dtype: DataType,
    pub ndim: u32,
    /// `ndim` dimensions.
    pub shape: *const i64,
    pub data: *const c_void,
    /// Bytes at `data`.
    pub byte_len: u64,
    /// STRING tensors only: one start offset per element; null for other types.
    pub string_offsets: *const u64,
}

/// A tensor produced by a plugin. The host copies what it needs, then calls `release`
/// exactly once; the plugin frees everything it allocated for this tensor.
#[repr(C)]
#[derive(Debug)]
pub struct OwnedTensor {
    pub view: TensorView,
    /// Plugin-private state that `release` uses to free the memory behind `view`.
    pub owner: *mut c_void,
    pub release: Option<unsafe extern "C" fn(owner: *mut c_void)>,
}

/// Outcome code of a plugin call.
pub type Status = i32;
pub const STATUS_OK: Status = 0;
pub const STATUS_ERROR: Status = 1;

/// An error reported by a plugin: the message is UTF-8, `\0`-terminated, allocated by the
/// plugin and freed with `release`.
#[repr(C)]
#[derive(Debug)]
pub struct ErrorMessage {
    pub message: *mut c_char,
    pub release: Option<unsafe extern "C" fn(message: *mut c_char)>,
}

/// The table a plugin returns from its entry point. Only the header exists in version 1 of
/// this crate; model and script functions are appended by the backend work.
#[repr(C)]
#[derive(Debug)]
pub struct BackendVTable {
    /// `size_of::<BackendVTable>()` as the plugin was compiled; lets the host know which
    /// trailing fields exist.
    pub size: u32,
    /// The [`ABI_VERSION`] the plugin was compiled against.
    pub abi_version: u32,
    /// Backend name as RedisAI spells it (`ONNX`, `TORCH`, `TF`, `TFLITE`), `\0`-terminated, static.
    pub name: *const c_char,
    /// Engine version (e.g. `1.31.1` for ONNX Runtime), `\0`-terminated, static.
    pub engine_version: *const c_char,
}

/// Signature of [`ENTRY_POINT`].
pub type EntryPoint = unsafe extern "C" fn(host_abi: u32) -> *const BackendVTable;

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{align_of, size_of};

    // The layouts are the contract with separately compiled plugins: a change here is an ABI
    // break and must come with a new ABI_VERSION.
    #[test]
    fn layouts_are_stable() {
        assert_eq!(size_of::<DataType>(), 4);
        assert_eq!(size_of::<TensorView>(), 40);
        assert_eq!(align_of::<TensorView>(), 8);
        assert_eq!(size_of::<OwnedTensor>(), 56);
        assert_eq!(size_of::<ErrorMessage>(), 16);
        assert_eq!(size_of::<BackendVTable>(), 24);
    }

    #[test]
    fn entry_point_is_a_c_string() {
        assert_eq!(ENTRY_POINT.last(), Some(&0));
        assert!(!ENTRY_POINT[..ENTRY_POINT.len() - 1].contains(&0));
    }
}
