use super::*;
use std::mem::{align_of, size_of};

// The layouts are the contract with separately compiled plugins: a change here is an ABI
// break and needs a new ABI_VERSION.
#[test]
fn layouts_are_stable() {
    assert_eq!(size_of::<DataType>(), 4);
    assert_eq!(size_of::<TensorView>(), 40);
    assert_eq!(align_of::<TensorView>(), 8);
    assert_eq!(size_of::<OwnedTensor>(), 56);
    assert_eq!(size_of::<ErrorMessage>(), 16);
    assert_eq!(size_of::<HostInfo>(), 56);
    assert_eq!(size_of::<ModelSpec>(), 64);
    assert_eq!(size_of::<ModelIo>(), 32);
    assert_eq!(size_of::<BackendVTable>(), 80);
    assert_eq!(std::mem::offset_of!(BackendVTable, script_load), 56);
    assert_eq!(size_of::<Bytes>(), 16);
    assert_eq!(size_of::<ScriptSpec>(), 48);
    assert_eq!(size_of::<ScriptRun>(), 72);
    assert_eq!(size_of::<ScriptCalls>(), 32);
    assert_eq!(size_of::<ByteSink>(), 16);
    assert_eq!(size_of::<TensorSink>(), 16);
}

#[test]
fn replies_round_trip_and_malformed_ones_are_refused() {
    let r = Reply::Array(vec![
        Reply::Nil,
        Reply::Int(-7),
        Reply::Double(2.5),
        Reply::Str(b"hello".to_vec()),
        Reply::Error(b"ERR no".to_vec()),
        Reply::Array(vec![]),
    ]);
    let mut buf = Vec::new();
    r.encode(&mut buf);
    assert_eq!(Reply::decode(&buf), Some(r));
    for cut in 0..buf.len() {
        assert_eq!(Reply::decode(&buf[..cut]), None, "cut at {cut}");
    }
    // A count far beyond the input is refused before anything is allocated.
    let mut lie = vec![b'*'];
    lie.extend_from_slice(&u64::MAX.to_le_bytes());
    assert_eq!(Reply::decode(&lie), None);
    let deep: Vec<u8> = std::iter::repeat_n([b'*', 1, 0, 0, 0, 0, 0, 0, 0], 100)
        .flatten()
        .chain([b'_'])
        .collect();
    assert_eq!(Reply::decode(&deep), None);
}

#[test]
fn entry_point_is_a_c_string() {
    assert_eq!(ENTRY_POINT.last(), Some(&0));
    assert!(!ENTRY_POINT[..ENTRY_POINT.len() - 1].contains(&0));
}

#[test]
fn devices_parse() {
    assert_eq!(Device::parse("CPU"), Some(Device::Cpu));
    assert_eq!(Device::parse("cpu:3"), Some(Device::Cpu));
    assert_eq!(Device::parse("GPU"), Some(Device::Gpu(None)));
    assert_eq!(Device::parse("gpu:1"), Some(Device::Gpu(Some(1))));
    assert_eq!(Device::parse("GPU:"), Some(Device::Gpu(None)));
    for bad in ["TPU", "GPU:x", "GPU::", "CPU:1.5", ""] {
        assert_eq!(Device::parse(bad), None, "{bad}");
    }
}

/// A test backend: one input, outputs the input doubled and a STRING summary; fails on
/// demand and panics on demand.
struct Echo {
    threads: usize,
}

struct EchoModel {
    factor: u8,
}

impl Backend for Echo {
    type Model = EchoModel;
    type Script = ();
    const NAME: &'static str = "ECHO";

    fn new(host: Host) -> Result<Self, String> {
        Ok(Echo {
            threads: host.threads_per_queue,
        })
    }

    fn engine_version(&self) -> String {
        "1.2.3".into()
    }

    fn load(&self, r: &ModelRequest<'_>) -> Result<Loaded<EchoModel>, String> {
        match r.blob {
            b"fail" => Err("Could not parse\nthe model".into()),
            b"panic" => panic!("load panicked"),
            _ => Ok(Loaded {
                model: EchoModel {
                    factor: r.blob.len() as u8,
                },
                inputs: vec!["x".into()],
                outputs: vec!["y".into(), "summary".into()],
            }),
        }
    }

    fn run(
        &self,
        m: &EchoModel,
        worker: usize,
        ins: &[TensorIn<'_>],
    ) -> Result<Vec<TensorOut>, RunError> {
        assert!(worker < self.threads);
        let x = ins.first().ok_or("no input")?;
        match x.data.first() {
            Some(0xff) => return Err(RunError::TimedOut),
            Some(0xfe) => panic!("run panicked"),
            _ => {}
        }
        let y: Vec<u8> = x.data.iter().map(|b| b.wrapping_mul(m.factor)).collect();
        Ok(vec![
            TensorOut {
                dtype: x.dtype,
                shape: x.shape.to_vec(),
                data: y,
            },
            TensorOut::strings(vec![1], &[format!("{} bytes", x.data.len())]),
        ])
    }
}

unsafe extern "C" fn no_log(_: u32, _: *const u8, _: usize) {}

fn host_info(abi: u32) -> HostInfo {
    HostInfo {
        size: size_of::<HostInfo>() as u32,
        abi_version: abi,
        threads_per_queue: 2,
        inter_op_threads: 0,
        intra_op_threads: 0,
        execution_timeout_ms: 0,
        plugin_path: c"/x/libredisai_echo.so".as_ptr(),
        engine_path: c"".as_ptr(),
        log: Some(no_log),
    }
}

fn load(t: &BackendVTable, blob: &[u8], device: &CStr) -> Result<(*mut c_void, ModelIo), String> {
    let spec = ModelSpec {
        size: size_of::<ModelSpec>() as u32,
        blob: blob.as_ptr(),
        blob_len: blob.len(),
        device: device.as_ptr(),
        n_inputs: 0,
        inputs: std::ptr::null(),
        n_outputs: 0,
        outputs: std::ptr::null(),
    };
    let mut model = std::ptr::null_mut();
    let mut io = ModelIo::empty();
    let mut err = ErrorMessage::empty();
    let status = unsafe { (t.model_load)(t.state, &spec, &mut model, &mut io, &mut err) };
    if status == STATUS_OK {
        Ok((model, io))
    } else {
        Err(err.take().expect("the plugin's error message"))
    }
}

#[test]
fn a_backend_works_through_the_c_side() {
    let mut err = ErrorMessage::empty();
    let table = unsafe { &*__entry::<Echo>(&host_info(ABI_VERSION), &mut err) };
    assert_eq!(table.abi_version, ABI_VERSION);
    assert_eq!(unsafe { CStr::from_ptr(table.name) }, c"ECHO");
    assert_eq!(unsafe { CStr::from_ptr(table.engine_version) }, c"1.2.3");

    let (model, io) = load(table, b"abc", c"CPU").unwrap();
    let (inputs, outputs) = unsafe { io.names() };
    assert_eq!(inputs, ["x"]);
    assert_eq!(outputs, ["y", "summary"]);

    let data = [1u8, 2, 3, 4];
    let shape = [2i64, 2];
    let view = TensorView {
        dtype: DataType::new(DL_UINT, 8),
        ndim: 2,
        shape: shape.as_ptr(),
        data: data.as_ptr() as *const c_void,
        byte_len: 4,
        string_offsets: std::ptr::null(),
    };
    let mut outs: Vec<OwnedTensor> = (0..2)
        .map(|_| OwnedTensor {
            view,
            owner: std::ptr::null_mut(),
            release: None,
        })
        .collect();
    let status = unsafe {
        (table.model_run)(
            table.state,
            model,
            1,
            &view,
            1,
            outs.as_mut_ptr(),
            2,
            &mut err,
        )
    };
    assert_eq!(status, STATUS_OK);
    let y = unsafe {
        slice(
            outs[0].view.data as *const u8,
            outs[0].view.byte_len as usize,
        )
    };
    assert_eq!(y, [3, 6, 9, 12]);
    assert_eq!(unsafe { slice(outs[0].view.shape, 2) }, [2, 2]);
    let s = unsafe {
        slice(
            outs[1].view.data as *const u8,
            outs[1].view.byte_len as usize,
        )
    };
    assert_eq!(s, b"4 bytes\0");
    assert_eq!(outs[1].view.dtype, DataType::new(DL_STRING, 8));
    for o in &outs {
        unsafe { (o.release.unwrap())(o.owner) };
    }

    // The wrong number of output slots is an error, not an overflow.
    let status = unsafe {
        (table.model_run)(
            table.state,
            model,
            0,
            &view,
            1,
            outs.as_mut_ptr(),
            1,
            &mut err,
        )
    };
    assert_eq!(status, STATUS_ERROR);
    assert!(err
        .take()
        .expect("the plugin's error message")
        .contains("produced 2 outputs, the model declares 1"));

    // Timeouts and panics come back as statuses.
    let stop = [0xffu8];
    let panic = [0xfeu8];
    for (bytes, expected) in [(&stop, STATUS_TIMED_OUT), (&panic, STATUS_ERROR)] {
        let v = TensorView {
            data: bytes.as_ptr() as *const c_void,
            byte_len: 1,
            ndim: 0,
            ..view
        };
        let status = unsafe {
            (table.model_run)(table.state, model, 0, &v, 1, outs.as_mut_ptr(), 2, &mut err)
        };
        assert_eq!(status, expected);
    }
    assert_eq!(
        err.take().expect("the plugin's error message"),
        "panic in ECHO backend: run panicked"
    );
    unsafe { (table.model_free)(table.state, model) };
}

#[test]
fn load_errors_are_one_line_and_panics_are_caught() {
    let mut err = ErrorMessage::empty();
    let table = unsafe { &*__entry::<Echo>(&host_info(ABI_VERSION), &mut err) };
    assert_eq!(
        load(table, b"fail", c"CPU").unwrap_err(),
        "Could not parse the model"
    );
    assert_eq!(
        load(table, b"panic", c"CPU").unwrap_err(),
        "panic in ECHO backend: load panicked"
    );
    assert_eq!(
        load(table, b"x", c"TPU").unwrap_err(),
        "ERR unsupported device"
    );
}

#[test]
fn a_host_of_another_abi_is_refused() {
    let mut err = ErrorMessage::empty();
    let table = unsafe { __entry::<Echo>(&host_info(ABI_VERSION + 1), &mut err) };
    assert!(table.is_null());
    assert!(err
        .take()
        .expect("the plugin's error message")
        .contains("plugin ABI version"));
}

#[test]
fn string_inputs_split_on_offsets() {
    let data = b"ab\0\0cde\0";
    let offsets = [0u64, 3, 4];
    let t = TensorIn {
        dtype: DataType::new(DL_STRING, 8),
        shape: &[3],
        data,
        string_offsets: &offsets,
    };
    let got: Vec<&[u8]> = t.strings().collect();
    assert_eq!(got, [&b"ab"[..], b"", b"cde"]);
}
