//! The part of LiteRT's C API this plugin calls, declared by hand for the `libLiteRt.so` of
//! PyPI's `ai-edge-litert` 2.3.0 (the wheel ships no headers). The functions' signatures and the
//! two structs below follow LiteRT's `litert/c/*.h` of that release; since these change between
//! releases without a version symbol to ask, [`Api::open`] accepts only the exact library they
//! were written for, recognised by its SHA-1, and refuses any other before calling into it.

use std::ffi::{c_char, c_void};
use std::path::Path;

/// The ai-edge-litert release whose `libLiteRt.so` this file describes.
pub const RELEASE: &str = "2.3.0";
/// SHA-1 of `ai_edge_litert/libLiteRt.so` in ai_edge_litert-2.3.0-cp311-cp311-manylinux_2_27_x86_64.whl.
pub const LIBRARY_SHA1: &str = "2b18a11481c5b07009f1f24658e3fe90fcbfa14f";

pub type Status = i32;
pub const STATUS_OK: Status = 0;
/// `kLiteRtStatusCancelled`: a run stopped because its cancellation callback said so.
pub const STATUS_CANCELLED: Status = 100;
pub type Handle = *mut c_void;

/// `LiteRtGetCompiledModel{Input,Output}BufferRequirements(model, signature, tensor, &req)`.
pub type BufferRequirementsFn = unsafe extern "C" fn(Handle, usize, usize, *mut Handle) -> Status;

/// The cancellation callback of `LiteRtSetCompiledModelCancellationFunction`.
pub type CancelCheck = Option<unsafe extern "C" fn(*mut c_void) -> bool>;

/// `kLiteRtElementType*` (the values of TfLiteType).
pub mod element {
    pub const FLOAT32: i32 = 1;
    pub const INT32: i32 = 2;
    pub const UINT8: i32 = 3;
    pub const INT64: i32 = 4;
    pub const BOOL: i32 = 6;
    pub const INT16: i32 = 7;
    pub const INT8: i32 = 9;
    pub const FLOAT64: i32 = 11;
    pub const UINT16: i32 = 17;
}

/// `kLiteRtRankedTensorType` of `LiteRtTensorTypeId`.
pub const RANKED_TENSOR_TYPE: i32 = 0;
/// `kLiteRtHwAcceleratorCpu`.
pub const ACCELERATOR_CPU: i32 = 1;
/// `kLiteRtTensorBufferTypeHostMemory`.
pub const BUFFER_HOST_MEMORY: i32 = 1;
/// `kLiteRtTensorBufferLockModeRead` / `...Write`.
pub const LOCK_READ: i32 = 0;
pub const LOCK_WRITE: i32 = 1;

pub const MAX_RANK: usize = 8;

/// `LiteRtLayout`: `unsigned rank : 7; bool has_strides : 1;` share the first 32-bit word.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub rank_bits: u32,
    pub dims: [i32; MAX_RANK],
    pub strides: [u32; MAX_RANK],
}

impl Layout {
    pub const EMPTY: Layout = Layout {
        rank_bits: 0,
        dims: [0; MAX_RANK],
        strides: [0; MAX_RANK],
    };

    pub fn rank(&self) -> usize {
        (self.rank_bits & 0x7f) as usize
    }

    pub fn dims(&self) -> &[i32] {
        &self.dims[..self.rank().min(MAX_RANK)]
    }

    /// A layout of these dimensions, without strides; `None` beyond LiteRT's rank or i32 dims.
    pub fn of(shape: &[i64]) -> Option<Layout> {
        if shape.len() > MAX_RANK {
            return None;
        }
        let mut dims = [0i32; MAX_RANK];
        for (d, &s) in dims.iter_mut().zip(shape) {
            *d = i32::try_from(s).ok()?;
        }
        Some(Layout {
            rank_bits: shape.len() as u32,
            dims,
            strides: [0; MAX_RANK],
        })
    }
}

/// `LiteRtRankedTensorType`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RankedTensorType {
    pub element_type: i32,
    pub layout: Layout,
}

// LiteRT's own static_asserts for these ABI-stable structs (litert_model_types.h).
const _: () = assert!(std::mem::size_of::<RankedTensorType>() == 72);
const _: () = assert!(std::mem::offset_of!(RankedTensorType, layout) == 4);

/// The functions, resolved once. Every one returns a [`Status`] unless it destroys something.
#[allow(clippy::type_complexity)]
pub struct Api {
    pub create_environment: unsafe extern "C" fn(i32, *const c_void, *mut Handle) -> Status,
    pub create_model_from_buffer:
        unsafe extern "C" fn(Handle, *const c_void, usize, *mut Handle) -> Status,
    pub destroy_model: unsafe extern "C" fn(Handle),
    pub get_num_model_signatures: unsafe extern "C" fn(Handle, *mut usize) -> Status,
    pub get_model_signature: unsafe extern "C" fn(Handle, usize, *mut Handle) -> Status,
    pub get_signature_subgraph: unsafe extern "C" fn(Handle, *mut Handle) -> Status,
    pub get_num_signature_inputs: unsafe extern "C" fn(Handle, *mut usize) -> Status,
    pub get_num_signature_outputs: unsafe extern "C" fn(Handle, *mut usize) -> Status,
    pub get_signature_input_tensor_by_index:
        unsafe extern "C" fn(Handle, usize, *mut Handle) -> Status,
    pub get_signature_output_tensor_by_index:
        unsafe extern "C" fn(Handle, usize, *mut Handle) -> Status,
    pub get_num_subgraph_inputs: unsafe extern "C" fn(Handle, *mut usize) -> Status,
    pub get_num_subgraph_outputs: unsafe extern "C" fn(Handle, *mut usize) -> Status,
    pub get_subgraph_input: unsafe extern "C" fn(Handle, usize, *mut Handle) -> Status,
    pub get_subgraph_output: unsafe extern "C" fn(Handle, usize, *mut Handle) -> Status,
    pub get_tensor_name: unsafe extern "C" fn(Handle, *mut *const c_char) -> Status,
    pub get_tensor_type_id: unsafe extern "C" fn(Handle, *mut i32) -> Status,
    pub get_ranked_tensor_type: unsafe extern "C" fn(Handle, *mut RankedTensorType) -> Status,
    pub create_options: unsafe extern "C" fn(*mut Handle) -> Status,
    pub destroy_options: unsafe extern "C" fn(Handle),
    pub set_options_hardware_accelerators: unsafe extern "C" fn(Handle, i32) -> Status,
    pub create_compiled_model: unsafe extern "C" fn(Handle, Handle, Handle, *mut Handle) -> Status,
    pub destroy_compiled_model: unsafe extern "C" fn(Handle),
    pub resize_input_tensor_non_strict:
        unsafe extern "C" fn(Handle, usize, usize, *const i32, usize) -> Status,
    pub get_output_tensor_layouts:
        unsafe extern "C" fn(Handle, usize, usize, *mut Layout, bool) -> Status,
    pub get_input_buffer_requirements: BufferRequirementsFn,
    pub get_output_buffer_requirements: BufferRequirementsFn,
    pub get_requirements_buffer_size: unsafe extern "C" fn(Handle, *mut usize) -> Status,
    pub create_managed_tensor_buffer:
        unsafe extern "C" fn(Handle, i32, *const RankedTensorType, usize, *mut Handle) -> Status,
    pub destroy_tensor_buffer: unsafe extern "C" fn(Handle),
    pub lock_tensor_buffer: unsafe extern "C" fn(Handle, *mut *mut c_void, i32) -> Status,
    pub unlock_tensor_buffer: unsafe extern "C" fn(Handle) -> Status,
    pub run_compiled_model:
        unsafe extern "C" fn(Handle, usize, usize, *mut Handle, usize, *mut Handle) -> Status,
    /// `LiteRtSetCompiledModelCancellationFunction(compiled, data, check)`: LiteRT calls
    /// `check(data)` on the running thread between ops and stops the run when it says true.
    pub set_cancellation_function: unsafe extern "C" fn(Handle, *mut c_void, CancelCheck) -> Status,
    _lib: libloading::Library,
}

/// SHA-1 of a file, hex.
pub fn file_sha1(path: &Path) -> Result<String, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok(sha1_smol::Sha1::from(&bytes).digest().to_string())
}

impl Api {
    /// Opens `path` if it is the library this file was written for.
    pub fn open(path: &Path) -> Result<Api, String> {
        let sha1 = file_sha1(path)?;
        if sha1 != LIBRARY_SHA1 {
            return Err(format!(
                "{} is not the libLiteRt.so of ai-edge-litert {RELEASE} (SHA-1 {sha1}, expected \
                 {LIBRARY_SHA1}); this backend's declarations of the LiteRT C API fit only that \
                 build (run `make deps-tflite`)",
                path.display()
            ));
        }
        // SAFETY: the file is the known LiteRT build; opening it runs its initialisers only.
        let lib = unsafe { libloading::Library::new(path) }
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        macro_rules! sym {
            ($name:literal) => {
                // SAFETY: the symbol has the signature declared in the field it is stored in
                // (LiteRT 2.3.0's headers); the library outlives the copy (kept in `_lib`).
                *unsafe { lib.get(concat!($name, "\0").as_bytes()) }
                    .map_err(|e| format!("{}: no {}: {e}", path.display(), $name))?
            };
        }
        Ok(Api {
            create_environment: sym!("LiteRtCreateEnvironment"),
            create_model_from_buffer: sym!("LiteRtCreateModelFromBuffer"),
            destroy_model: sym!("LiteRtDestroyModel"),
            get_num_model_signatures: sym!("LiteRtGetNumModelSignatures"),
            get_model_signature: sym!("LiteRtGetModelSignature"),
            get_signature_subgraph: sym!("LiteRtGetSignatureSubgraph"),
            get_num_signature_inputs: sym!("LiteRtGetNumSignatureInputs"),
            get_num_signature_outputs: sym!("LiteRtGetNumSignatureOutputs"),
            get_signature_input_tensor_by_index: sym!("LiteRtGetSignatureInputTensorByIndex"),
            get_signature_output_tensor_by_index: sym!("LiteRtGetSignatureOutputTensorByIndex"),
            get_num_subgraph_inputs: sym!("LiteRtGetNumSubgraphInputs"),
            get_num_subgraph_outputs: sym!("LiteRtGetNumSubgraphOutputs"),
            get_subgraph_input: sym!("LiteRtGetSubgraphInput"),
            get_subgraph_output: sym!("LiteRtGetSubgraphOutput"),
            get_tensor_name: sym!("LiteRtGetTensorName"),
            get_tensor_type_id: sym!("LiteRtGetTensorTypeId"),
            get_ranked_tensor_type: sym!("LiteRtGetRankedTensorType"),
            create_options: sym!("LiteRtCreateOptions"),
            destroy_options: sym!("LiteRtDestroyOptions"),
            set_options_hardware_accelerators: sym!("LiteRtSetOptionsHardwareAccelerators"),
            create_compiled_model: sym!("LiteRtCreateCompiledModel"),
            destroy_compiled_model: sym!("LiteRtDestroyCompiledModel"),
            resize_input_tensor_non_strict: sym!("LiteRtCompiledModelResizeInputTensorNonStrict"),
            get_output_tensor_layouts: sym!("LiteRtGetCompiledModelOutputTensorLayouts"),
            get_input_buffer_requirements: sym!("LiteRtGetCompiledModelInputBufferRequirements"),
            get_output_buffer_requirements: sym!("LiteRtGetCompiledModelOutputBufferRequirements"),
            get_requirements_buffer_size: sym!("LiteRtGetTensorBufferRequirementsBufferSize"),
            create_managed_tensor_buffer: sym!("LiteRtCreateManagedTensorBuffer"),
            destroy_tensor_buffer: sym!("LiteRtDestroyTensorBuffer"),
            lock_tensor_buffer: sym!("LiteRtLockTensorBuffer"),
            unlock_tensor_buffer: sym!("LiteRtUnlockTensorBuffer"),
            run_compiled_model: sym!("LiteRtRunCompiledModel"),
            set_cancellation_function: sym!("LiteRtSetCompiledModelCancellationFunction"),
            _lib: lib,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_round_trip_and_refuse_what_litert_cannot_hold() {
        let l = Layout::of(&[3, 28, 28, 1]).unwrap();
        assert_eq!(l.rank(), 4);
        assert_eq!(l.dims(), [3, 28, 28, 1]);
        assert!(Layout::of(&[1; 9]).is_none());
        assert!(Layout::of(&[1 << 40]).is_none());
        assert_eq!(Layout::of(&[]).unwrap().dims(), [] as [i32; 0]);
    }

    #[test]
    fn another_library_is_refused_before_it_is_opened() {
        let err = Api::open(Path::new("/bin/sh")).err().unwrap();
        assert!(
            err.contains("is not the libLiteRt.so of ai-edge-litert 2.3.0"),
            "{err}"
        );
        let err = Api::open(Path::new("/nonexistent/libLiteRt.so"))
            .err()
            .unwrap();
        assert!(err.contains("cannot read"), "{err}");
    }
}
