//! The part of TensorFlow's stable C API (`tensorflow/c/c_api.h`, `tf_tensor.h`,
//! `tf_tstring.h`) that the plugin calls, declared by hand and looked up at run time in the
//! libraries of the tensorflow-cpu wheel. The declarations follow TF 2.21's headers; these
//! functions have kept their signatures since TF 2.4 (when TF_STRING became `TF_TString`).

use std::ffi::{c_char, c_int, c_void, CStr};
use std::path::{Path, PathBuf};

/// Opaque TensorFlow objects.
#[repr(C)]
pub struct TfStatus {
    _p: [u8; 0],
}
#[repr(C)]
pub struct TfGraph {
    _p: [u8; 0],
}
#[repr(C)]
pub struct TfImportOptions {
    _p: [u8; 0],
}
#[repr(C)]
pub struct TfSessionOptions {
    _p: [u8; 0],
}
#[repr(C)]
pub struct TfSession {
    _p: [u8; 0],
}
#[repr(C)]
pub struct TfOperation {
    _p: [u8; 0],
}
#[repr(C)]
pub struct TfTensor {
    _p: [u8; 0],
}
#[repr(C)]
pub struct TfDeviceList {
    _p: [u8; 0],
}

/// `TF_Buffer`.
#[repr(C)]
pub struct TfBuffer {
    pub data: *const c_void,
    pub length: usize,
    pub data_deallocator: Option<unsafe extern "C" fn(*mut c_void, usize)>,
}

/// `TF_Output` (and `TF_Input`, the same layout): one output of an operation.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct TfOutput {
    pub oper: *mut TfOperation,
    pub index: c_int,
}

/// `TF_TString`: 24 bytes, a union whose layout only TF's own functions interpret.
#[repr(C, align(8))]
pub struct TfTString {
    _raw: [u8; 24],
}

pub const TSTRING_SIZE: usize = std::mem::size_of::<TfTString>();

/// `TF_DataType` values used here.
pub const TF_FLOAT: c_int = 1;
pub const TF_DOUBLE: c_int = 2;
pub const TF_INT32: c_int = 3;
pub const TF_UINT8: c_int = 4;
pub const TF_INT16: c_int = 5;
pub const TF_INT8: c_int = 6;
pub const TF_STRING: c_int = 7;
pub const TF_INT64: c_int = 9;
pub const TF_BOOL: c_int = 10;
pub const TF_UINT16: c_int = 17;

/// `TF_Code::TF_OK`.
pub const TF_OK: c_int = 0;

/// The libraries, in load order: the framework first, so that the C API library's dependency
/// on it (by soname) resolves to this copy whatever its RUNPATH says.
pub const LIBRARIES: [&str; 2] = ["libtensorflow_framework.so.2", "libtensorflow_cc.so.2"];

macro_rules! tf_api {
    ($($field:ident = $sym:literal : fn($($arg:ty),*) $(-> $ret:ty)?;)*) => {
        /// Function pointers into the TF libraries, which stay loaded for the life of the
        /// process (plugins are never unloaded).
        pub struct Api {
            $(pub $field: unsafe extern "C" fn($($arg),*) $(-> $ret)?,)*
            _libs: Vec<libloading::Library>,
        }

        impl Api {
            fn resolve(libs: Vec<libloading::Library>) -> Result<Api, String> {
                let main = libs.last().ok_or("no TensorFlow library")?;
                // SAFETY: each symbol is declared above with its C signature from TF 2.21's
                // headers; the version is checked before anything else is called.
                unsafe {
                    Ok(Api {
                        $($field: *main
                            .get::<unsafe extern "C" fn($($arg),*) $(-> $ret)?>(
                                concat!($sym, "\0").as_bytes(),
                            )
                            .map_err(|_| format!("TensorFlow library lacks {}", $sym))?,)*
                        _libs: libs,
                    })
                }
            }
        }
    };
}

tf_api! {
    version = "TF_Version": fn() -> *const c_char;
    new_status = "TF_NewStatus": fn() -> *mut TfStatus;
    delete_status = "TF_DeleteStatus": fn(*mut TfStatus);
    get_code = "TF_GetCode": fn(*const TfStatus) -> c_int;
    message = "TF_Message": fn(*const TfStatus) -> *const c_char;
    new_graph = "TF_NewGraph": fn() -> *mut TfGraph;
    delete_graph = "TF_DeleteGraph": fn(*mut TfGraph);
    new_import_options = "TF_NewImportGraphDefOptions": fn() -> *mut TfImportOptions;
    delete_import_options = "TF_DeleteImportGraphDefOptions": fn(*mut TfImportOptions);
    import_graph_def = "TF_GraphImportGraphDef":
        fn(*mut TfGraph, *const TfBuffer, *const TfImportOptions, *mut TfStatus);
    operation_by_name = "TF_GraphOperationByName": fn(*mut TfGraph, *const c_char) -> *mut TfOperation;
    operation_num_outputs = "TF_OperationNumOutputs": fn(*mut TfOperation) -> c_int;
    operation_op_type = "TF_OperationOpType": fn(*mut TfOperation) -> *const c_char;
    new_session_options = "TF_NewSessionOptions": fn() -> *mut TfSessionOptions;
    delete_session_options = "TF_DeleteSessionOptions": fn(*mut TfSessionOptions);
    set_config = "TF_SetConfig": fn(*mut TfSessionOptions, *const c_void, usize, *mut TfStatus);
    new_session = "TF_NewSession":
        fn(*mut TfGraph, *const TfSessionOptions, *mut TfStatus) -> *mut TfSession;
    close_session = "TF_CloseSession": fn(*mut TfSession, *mut TfStatus);
    delete_session = "TF_DeleteSession": fn(*mut TfSession, *mut TfStatus);
    session_run = "TF_SessionRun": fn(
        *mut TfSession,
        *const TfBuffer,
        *const TfOutput,
        *const *mut TfTensor,
        c_int,
        *const TfOutput,
        *mut *mut TfTensor,
        c_int,
        *const *const TfOperation,
        c_int,
        *mut TfBuffer,
        *mut TfStatus
    );
    session_list_devices = "TF_SessionListDevices": fn(*mut TfSession, *mut TfStatus) -> *mut TfDeviceList;
    device_list_count = "TF_DeviceListCount": fn(*const TfDeviceList) -> c_int;
    device_list_type = "TF_DeviceListType": fn(*const TfDeviceList, c_int, *mut TfStatus) -> *const c_char;
    delete_device_list = "TF_DeleteDeviceList": fn(*mut TfDeviceList);
    allocate_tensor = "TF_AllocateTensor": fn(c_int, *const i64, c_int, usize) -> *mut TfTensor;
    delete_tensor = "TF_DeleteTensor": fn(*mut TfTensor);
    tensor_type = "TF_TensorType": fn(*const TfTensor) -> c_int;
    num_dims = "TF_NumDims": fn(*const TfTensor) -> c_int;
    dim = "TF_Dim": fn(*const TfTensor, c_int) -> i64;
    tensor_byte_size = "TF_TensorByteSize": fn(*const TfTensor) -> usize;
    tensor_data = "TF_TensorData": fn(*const TfTensor) -> *mut c_void;
    tensor_element_count = "TF_TensorElementCount": fn(*const TfTensor) -> i64;
    string_init = "TF_StringInit": fn(*mut TfTString);
    string_copy = "TF_StringCopy": fn(*mut TfTString, *const c_char, usize);
    string_data = "TF_StringGetDataPointer": fn(*const TfTString) -> *const c_char;
    string_size = "TF_StringGetSize": fn(*const TfTString) -> usize;
    string_dealloc = "TF_StringDealloc": fn(*mut TfTString);
}

impl Api {
    /// Opens the TF libraries in `dir`.
    pub fn open(dir: &Path) -> Result<Api, String> {
        let mut libs = Vec::new();
        for name in LIBRARIES {
            let path: PathBuf = dir.join(name);
            if !path.exists() {
                return Err(format!(
                    "{name} not found beside the plugin in {} (run `make deps-tf`)",
                    dir.display()
                ));
            }
            // SAFETY: loading TensorFlow runs its static initialisers (op and kernel
            // registration), which touch nothing of ours.
            let lib = unsafe { libloading::Library::new(&path) }
                .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
            libs.push(lib);
        }
        Api::resolve(libs)
    }

    /// `TF_Version()`.
    pub fn version_string(&self) -> String {
        // SAFETY: TF_Version returns a static string.
        unsafe { cstr((self.version)()) }
    }
}

/// A `TF_Status`, deleted on drop.
pub struct Status<'a> {
    api: &'a Api,
    pub raw: *mut TfStatus,
}

impl<'a> Status<'a> {
    pub fn new(api: &'a Api) -> Status<'a> {
        // SAFETY: plain constructor.
        Status {
            api,
            raw: unsafe { (api.new_status)() },
        }
    }

    /// `Err(TF's message)` unless the status is OK.
    pub fn check(&self) -> Result<(), String> {
        // SAFETY: a live status.
        unsafe {
            if (self.api.get_code)(self.raw) == TF_OK {
                Ok(())
            } else {
                Err(cstr((self.api.message)(self.raw)))
            }
        }
    }

    pub fn code(&self) -> c_int {
        // SAFETY: a live status.
        unsafe { (self.api.get_code)(self.raw) }
    }
}

impl Drop for Status<'_> {
    fn drop(&mut self) {
        // SAFETY: made by TF_NewStatus, deleted once.
        unsafe { (self.api.delete_status)(self.raw) }
    }
}

/// A TF-owned C string, copied (empty for null).
///
/// # Safety
/// `p` is null or a valid NUL-terminated string.
pub unsafe fn cstr(p: *const c_char) -> String {
    if p.is_null() {
        String::new()
    } else {
        // SAFETY: see above.
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    }
}
