//! Reading a plugin's table: which of its fields the host may use.
//!
//! The table is append-only (see `backends/api`): a plugin built against an older layout
//! returns a shorter table and says so in its `size`. The ABI 1.0 fields are required; each
//! field appended later is read only when the declared size reaches past its end (its offset
//! plus its size), so a longer layout never turns an optional entry off for older plugins,
//! and a shorter table is never read past what the plugin declared.

use std::ffi::{c_char, c_void};
use std::mem::{offset_of, size_of};

use redisai_backend_api::{
    BackendVTable, ModelFreeFn, ModelLoadFn, ModelRunFn, ScriptFreeFn, ScriptLoadFn, ScriptRunFn,
    ABI_VERSION,
};

/// The table of ABI 1.0: the fields every plugin has.
pub(super) const BASE_TABLE: usize = offset_of!(BackendVTable, script_load);

/// What the host uses of a plugin's table, copied out of it once, at load.
#[derive(Clone, Copy)]
pub(super) struct Table {
    /// Static NUL-terminated strings of the plugin.
    pub name: *const c_char,
    pub engine_version: *const c_char,
    pub state: *mut c_void,
    pub model_load: ModelLoadFn,
    pub model_free: ModelFreeFn,
    pub model_run: ModelRunFn,
    /// `None` when the table ends before the script entries or leaves one of them empty.
    pub scripts: Option<ScriptFns>,
}

/// A plugin's script entries (TORCH), all three or none.
#[derive(Clone, Copy)]
pub(super) struct ScriptFns {
    pub load: ScriptLoadFn,
    pub free: ScriptFreeFn,
    pub run: ScriptRunFn,
}

/// A table the host refuses: built for another ABI version, or shorter than ABI 1.0's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Refused {
    pub abi_version: u32,
    pub size: u32,
}

/// The size of what `read` would return, without calling it.
fn size_of_result<T>(_read: &impl FnOnce() -> T) -> usize {
    size_of::<T>()
}

/// The field `$field` of the table at `$table` when the table's declared size `$size` holds
/// all of it, else `None`. The field is read only in the first case.
macro_rules! optional_field {
    ($table:expr, $size:expr, $field:ident) => {{
        let table: *const BackendVTable = $table;
        // SAFETY: called only once the declared size was found to hold the field, so the
        // read stays inside what the plugin provides (see `decode`).
        let read = || unsafe { (*table).$field };
        if offset_of!(BackendVTable, $field) + size_of_result(&read) <= $size as usize {
            Some(read())
        } else {
            None
        }
    }};
}

/// Decodes a plugin's table: checks its ABI version and that it holds the ABI 1.0 fields,
/// copies those, and each optional entry the declared size covers.
///
/// # Safety
/// `table` is non-null and points to a table as a plugin's entry point returns it: at least
/// its `size` and `abi_version` fields readable, and `size` bytes readable when the version is
/// [`ABI_VERSION`].
pub(super) unsafe fn decode(table: *const BackendVTable) -> Result<Table, Refused> {
    // SAFETY: every table starts with these two fields (see above).
    let (size, abi_version) = unsafe { ((*table).size, (*table).abi_version) };
    if abi_version != ABI_VERSION || (size as usize) < BASE_TABLE {
        return Err(Refused { abi_version, size });
    }
    // SAFETY: the table holds the ABI 1.0 fields: its declared size was checked just above.
    let t = unsafe {
        Table {
            name: (*table).name,
            engine_version: (*table).engine_version,
            state: (*table).state,
            model_load: (*table).model_load,
            model_free: (*table).model_free,
            model_run: (*table).model_run,
            scripts: None,
        }
    };
    let load = optional_field!(table, size, script_load).flatten();
    let free = optional_field!(table, size, script_free).flatten();
    let run = optional_field!(table, size, script_run).flatten();
    let scripts = match (load, free, run) {
        (Some(load), Some(free), Some(run)) => Some(ScriptFns { load, free, run }),
        _ => None,
    };
    Ok(Table { scripts, ..t })
}

#[cfg(test)]
mod tests {
    use std::ffi::c_void;
    use std::mem::size_of;

    use redisai_backend_api::{
        ErrorMessage, ModelIo, ModelSpec, OwnedTensor, ScriptCalls, ScriptRun, ScriptSpec, Status,
        TensorSink, TensorView,
    };

    use super::*;

    // Fakes with recognisable statuses: a decoded entry is called to show which one it is.
    unsafe extern "C" fn model_load(
        _: *mut c_void,
        _: *const ModelSpec,
        _: *mut *mut c_void,
        _: *mut ModelIo,
        _: *mut ErrorMessage,
    ) -> Status {
        11
    }
    unsafe extern "C" fn model_free(_: *mut c_void, _: *mut c_void) {}
    #[allow(clippy::too_many_arguments)]
    unsafe extern "C" fn model_run(
        _: *mut c_void,
        _: *mut c_void,
        _: u32,
        _: *const TensorView,
        _: usize,
        _: *mut OwnedTensor,
        _: usize,
        _: *mut ErrorMessage,
    ) -> Status {
        12
    }
    unsafe extern "C" fn script_load(
        _: *mut c_void,
        _: *const ScriptSpec,
        _: *mut *mut c_void,
        _: *mut ErrorMessage,
    ) -> Status {
        21
    }
    unsafe extern "C" fn script_free(_: *mut c_void, _: *mut c_void) {}
    unsafe extern "C" fn script_run(
        _: *mut c_void,
        _: *mut c_void,
        _: *const ScriptRun,
        _: *const ScriptCalls,
        _: *const TensorSink,
        _: *mut ErrorMessage,
    ) -> Status {
        23
    }

    /// A table of the current layout with every entry set, declaring `size` bytes.
    fn current(size: usize) -> BackendVTable {
        BackendVTable {
            size: size as u32,
            abi_version: ABI_VERSION,
            name: c"TEST".as_ptr(),
            engine_version: c"1.0".as_ptr(),
            state: std::ptr::null_mut(),
            model_load,
            model_free,
            model_run,
            script_load: Some(script_load),
            script_free: Some(script_free),
            script_run: Some(script_run),
        }
    }

    /// The table of ABI 1.0 as such a plugin allocates it: nothing after `model_run`.
    #[repr(C)]
    struct TableV1_0 {
        size: u32,
        abi_version: u32,
        name: *const c_char,
        engine_version: *const c_char,
        state: *mut c_void,
        model_load: ModelLoadFn,
        model_free: ModelFreeFn,
        model_run: ModelRunFn,
    }

    /// A table of a later layout: one more entry appended after the current ones.
    #[repr(C)]
    struct Longer {
        current: BackendVTable,
        appended: Option<unsafe extern "C" fn(state: *mut c_void) -> Status>,
    }

    fn decoded(table: *const BackendVTable) -> Result<Table, Refused> {
        // SAFETY: every table here is a live local of the size it declares.
        unsafe { decode(table) }
    }

    /// Calls the decoded script_load and script_run fakes: their statuses name them.
    fn script_statuses(s: &ScriptFns) -> (Status, Status) {
        // SAFETY: the fakes ignore their arguments.
        unsafe {
            (
                (s.load)(
                    std::ptr::null_mut(),
                    std::ptr::null(),
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                ),
                (s.run)(
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    std::ptr::null(),
                    std::ptr::null(),
                    std::ptr::null(),
                    std::ptr::null_mut(),
                ),
            )
        }
    }

    #[test]
    fn a_table_of_abi_1_0_loads_without_scripts() {
        assert_eq!(size_of::<TableV1_0>(), BASE_TABLE);
        let v1 = TableV1_0 {
            size: BASE_TABLE as u32,
            abi_version: ABI_VERSION,
            name: c"TEST".as_ptr(),
            engine_version: c"1.0".as_ptr(),
            state: std::ptr::null_mut(),
            model_load,
            model_free,
            model_run,
        };
        let t = decoded(std::ptr::from_ref(&v1).cast()).expect("a 1.0 table is accepted");
        assert!(t.scripts.is_none());
        // SAFETY: the fake ignores its arguments.
        let status = unsafe {
            (t.model_load)(
                std::ptr::null_mut(),
                std::ptr::null(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
        assert_eq!(status, 11);
    }

    #[test]
    fn script_entries_beyond_the_declared_size_are_not_read() {
        // The memory holds script entries, but the plugin says its table ends before them.
        let t = current(BASE_TABLE);
        assert!(decoded(&t).unwrap().scripts.is_none());
        // A table that ends inside the script entries has none of them.
        let run_end = offset_of!(BackendVTable, script_run) + size_of::<Option<ScriptRunFn>>();
        for size in [
            offset_of!(BackendVTable, script_load) + 4,
            offset_of!(BackendVTable, script_free),
            offset_of!(BackendVTable, script_run),
            run_end - 1,
        ] {
            let t = current(size);
            assert!(decoded(&t).unwrap().scripts.is_none(), "size {size}");
        }
    }

    #[test]
    fn a_table_of_the_current_layout_has_scripts() {
        let t = current(size_of::<BackendVTable>());
        let scripts = decoded(&t).unwrap().scripts.expect("scripts on");
        assert_eq!(script_statuses(&scripts), (21, 23));
    }

    #[test]
    fn a_table_that_ends_with_the_script_entries_has_scripts() {
        // Today's TORCH plugins: still scripts on once more fields are appended to the layout.
        let run_end = offset_of!(BackendVTable, script_run) + size_of::<Option<ScriptRunFn>>();
        let t = current(run_end);
        let scripts = decoded(&t).unwrap().scripts.expect("scripts on");
        assert_eq!(script_statuses(&scripts), (21, 23));
    }

    #[test]
    fn a_longer_table_of_a_later_layout_still_has_scripts() {
        assert!(size_of::<Longer>() > size_of::<BackendVTable>());
        let t = Longer {
            current: current(size_of::<Longer>()),
            appended: None,
        };
        let table = decoded(std::ptr::from_ref(&t).cast()).expect("a longer table is accepted");
        let scripts = table.scripts.expect("scripts on");
        assert_eq!(script_statuses(&scripts), (21, 23));
    }

    #[test]
    fn a_plugin_may_leave_script_entries_empty() {
        let mut t = current(size_of::<BackendVTable>());
        t.script_free = None;
        assert!(decoded(&t).unwrap().scripts.is_none());
    }

    #[test]
    fn another_abi_version_or_a_short_table_is_refused() {
        let mut t = current(size_of::<BackendVTable>());
        t.abi_version = ABI_VERSION + 1;
        assert_eq!(
            decoded(&t).err(),
            Some(Refused {
                abi_version: ABI_VERSION + 1,
                size: size_of::<BackendVTable>() as u32
            })
        );
        let t = current(BASE_TABLE - 1);
        assert_eq!(
            decoded(&t).err(),
            Some(Refused {
                abi_version: ABI_VERSION,
                size: BASE_TABLE as u32 - 1
            })
        );
    }
}
