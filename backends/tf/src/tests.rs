//! Tests of the TF plugin on its own: name parsing, the hand-serialized ConfigProto, refusing
//! to load without TensorFlow, and (when `make deps-tf` staged TensorFlow beside the release
//! build) a model through the plugin's C ABI. The end-to-end tests against redis-server are in
//! tests/python/test_tf_models.py.

use super::*;
use redisai_backend_api::{
    BackendVTable, ErrorMessage, HostInfo, ModelIo, ModelSpec, OwnedTensor, TensorView,
    ABI_VERSION, STATUS_OK,
};
use std::ffi::{c_void, CStr};
use std::path::PathBuf;

#[test]
fn names_are_op_or_op_colon_index() {
    assert_eq!(parse_name("mul"), ("mul", 0));
    assert_eq!(parse_name("mul:0"), ("mul", 0));
    assert_eq!(parse_name("split:2"), ("split", 2));
    assert_eq!(parse_name("scope/op:1"), ("scope/op", 1));
    // Not an index: part of the name (TF would not find it, and says so).
    assert_eq!(parse_name("a:b"), ("a:b", 0));
    assert_eq!(parse_name(":1"), (":1", 0));
    assert_eq!(parse_name("x:"), ("x:", 0));
    assert_eq!(parse_name("x:99999999999"), ("x:99999999999", 0));
}

#[test]
fn config_proto_is_what_tensorflow_serializes() {
    // tf.compat.v1.ConfigProto(device_count={'GPU': 0}).SerializeToString(): RedisAI's bytes.
    assert_eq!(
        config_proto(Device::Cpu, 0, 0),
        [0x0a, 0x07, 0x0a, 0x03, b'G', b'P', b'U', 0x10, 0x00]
    );
    // ... intra_op_parallelism_threads=4, inter_op_parallelism_threads=300 (a 2-byte varint).
    let p = config_proto(Device::Cpu, 4, 300);
    assert_eq!(&p[9..], [0x10, 4, 0x28, 0xac, 0x02]);
    // gpu_options { allow_growth: true } and visible_device_list "1".
    assert_eq!(
        config_proto(Device::Gpu(None), 0, 0),
        [0x32, 0x02, 0x20, 0x01]
    );
    assert_eq!(
        config_proto(Device::Gpu(Some(1)), 0, 0),
        [0x32, 0x05, 0x20, 0x01, 0x2a, 0x01, b'1']
    );
}

#[test]
fn run_options_carry_the_timeout_as_tensorflow_serializes_it() {
    // tf.compat.v1.RunOptions(timeout_in_ms=1000).SerializeToString() == b"\x10\xe8\x07".
    let one_second = Some(std::time::Duration::from_millis(1000));
    assert_eq!(run_options(one_second), [0x10, 0xe8, 0x07]);
    assert!(run_options(None).is_empty());
    // Below a millisecond is still a limit (0 would mean none to TF).
    assert_eq!(
        run_options(Some(std::time::Duration::from_micros(10))),
        [0x10, 1]
    );
}

fn host_info(plugin: &CStr) -> HostInfo {
    HostInfo {
        size: std::mem::size_of::<HostInfo>() as u32,
        abi_version: ABI_VERSION,
        threads_per_queue: 2,
        inter_op_threads: 1,
        intra_op_threads: 1,
        execution_timeout_ms: 0,
        plugin_path: plugin.as_ptr(),
        engine_path: c"".as_ptr(),
        log: None,
    }
}

#[test]
fn refuses_to_load_without_tensorflow_and_names_the_make_target() {
    let dir = std::env::temp_dir().join(format!("redisai-tf-none-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let plugin = CString::new(dir.join("libredisai_tf.so").to_str().unwrap()).unwrap();
    let mut err = ErrorMessage::empty();
    // SAFETY: a valid HostInfo and error slot.
    let table = unsafe { redisai_backend_entry(&host_info(&plugin), &mut err) };
    assert!(table.is_null());
    let text = err.take().unwrap_or_default();
    assert!(text.contains("make deps-tf"), "{text}");
    assert!(text.contains("not found beside the plugin"), "{text}");
}

/// The release build's directory, where `make deps-tf` links TensorFlow.
fn release_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/release")
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/models/tf")
            .join(name),
    )
    .unwrap()
}

/// The plugin's table, or `None` (the test then says it is skipped) without TensorFlow.
fn table() -> Option<&'static BackendVTable> {
    let dir = release_dir();
    if !dir.join("libtensorflow_cc.so.2").exists() {
        println!(
            "SKIPPED: no TensorFlow beside {} (make deps-tf)",
            dir.display()
        );
        return None;
    }
    let plugin = CString::new(dir.join("libredisai_tf.so").to_str().unwrap()).unwrap();
    let mut err = ErrorMessage::empty();
    // SAFETY: a valid HostInfo and error slot.
    let t = unsafe { redisai_backend_entry(&host_info(&plugin), &mut err) };
    assert!(!t.is_null(), "{}", err.take().unwrap_or_default());
    // SAFETY: tables live as long as the process.
    Some(unsafe { &*t })
}

fn load(
    t: &BackendVTable,
    blob: &[u8],
    device: &CStr,
    ins: &[&CStr],
    outs: &[&CStr],
) -> Result<*mut c_void, String> {
    let ins: Vec<_> = ins.iter().map(|s| s.as_ptr()).collect();
    let outs: Vec<_> = outs.iter().map(|s| s.as_ptr()).collect();
    let spec = ModelSpec {
        size: std::mem::size_of::<ModelSpec>() as u32,
        blob: blob.as_ptr(),
        blob_len: blob.len(),
        device: device.as_ptr(),
        n_inputs: ins.len() as u32,
        inputs: ins.as_ptr(),
        n_outputs: outs.len() as u32,
        outputs: outs.as_ptr(),
    };
    let mut model = std::ptr::null_mut();
    let mut io = ModelIo::empty();
    let mut err = ErrorMessage::empty();
    // SAFETY: valid spec and out-slots.
    let status = unsafe { (t.model_load)(t.state, &spec, &mut model, &mut io, &mut err) };
    if status == STATUS_OK {
        // SAFETY: filled by the plugin for a live model.
        let (i, o) = unsafe { io.names() };
        assert_eq!(i.len(), ins.len());
        assert_eq!(o.len(), outs.len());
        Ok(model)
    } else {
        Err(err.take().unwrap_or_default())
    }
}

fn run(
    t: &BackendVTable,
    model: *mut c_void,
    inputs: &[TensorIn<'_>],
    n_out: usize,
) -> Result<Vec<TensorOut>, String> {
    let views: Vec<TensorView> = inputs.iter().map(TensorIn::view).collect();
    let mut outs: Vec<OwnedTensor> = (0..n_out)
        .map(|_| OwnedTensor {
            view: TensorIn {
                dtype: DataType::new(0, 0),
                shape: &[],
                data: &[],
                string_offsets: &[],
            }
            .view(),
            owner: std::ptr::null_mut(),
            release: None,
        })
        .collect();
    let mut err = ErrorMessage::empty();
    // SAFETY: valid views and output slots for the call.
    let status = unsafe {
        (t.model_run)(
            t.state,
            model,
            1,
            views.as_ptr(),
            views.len(),
            outs.as_mut_ptr(),
            n_out,
            &mut err,
        )
    };
    if status != STATUS_OK {
        return Err(err.take().unwrap_or_default());
    }
    Ok(outs
        .into_iter()
        .map(|o| {
            // SAFETY: a filled output, copied, then released once.
            let v = o.view;
            let copy = unsafe {
                TensorOut {
                    dtype: v.dtype,
                    shape: std::slice::from_raw_parts(v.shape, v.ndim as usize).to_vec(),
                    data: std::slice::from_raw_parts(v.data as *const u8, v.byte_len as usize)
                        .to_vec(),
                }
            };
            unsafe { (o.release.unwrap())(o.owner) };
            copy
        })
        .collect())
}

fn floats(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|f| f.to_ne_bytes()).collect()
}

#[test]
fn runs_a_graph_through_the_abi() {
    let Some(t) = table() else { return };
    // SAFETY: static strings of the table.
    assert_eq!(
        unsafe { CStr::from_ptr(t.engine_version) }
            .to_str()
            .unwrap(),
        "2.21.0"
    );
    let graph = fixture("graph.pb");
    let m = load(t, &graph, c"CPU", &[c"a", c"b:0"], &[c"mul:0"]).unwrap();
    let a = floats(&[2.0, 3.0]);
    let input = TensorIn {
        dtype: DataType::new(DL_FLOAT, 32),
        shape: &[2],
        data: &a,
        string_offsets: &[],
    };
    let out = run(t, m, &[input, input], 1).unwrap();
    assert_eq!(out[0].data, floats(&[4.0, 9.0]));
    assert_eq!(out[0].shape, [2]);
    // A run error is TF's text; a wrong number of inputs is refused before TF sees it.
    let three = floats(&[1.0, 2.0, 3.0]);
    let other = TensorIn {
        shape: &[3],
        data: &three,
        ..input
    };
    assert!(run(t, m, &[input, other], 1)
        .unwrap_err()
        .contains("Incompatible shapes"));
    assert!(run(t, m, &[input], 1)
        .unwrap_err()
        .contains("takes 2 inputs"));
    let short = TensorIn {
        shape: &[4],
        ..input
    };
    assert!(run(t, m, &[input, short], 1)
        .unwrap_err()
        .contains("its shape needs 16"));
    // SAFETY: loaded above, freed once.
    unsafe { (t.model_free)(t.state, m) };

    // Load errors, in RedisAI's words.
    assert_eq!(
        load(t, b"garbage", c"CPU", &[c"a"], &[c"mul"]).unwrap_err(),
        "Invalid GraphDef"
    );
    assert_eq!(
        load(t, &graph, c"CPU", &[c"a", c"mul"], &[c"mul"]).unwrap_err(),
        "ERR Input node named \"mul\" not found in TF graph."
    );
    assert_eq!(
        load(t, &graph, c"CPU", &[c"a"], &[c"mul:1"]).unwrap_err(),
        "ERR Output node named \"mul:1\" not found in TF graph"
    );
    assert_eq!(
        load(t, &graph, c"GPU:0", &[c"a", c"b"], &[c"mul"]).unwrap_err(),
        "ERR GPU requested but TF couldn't find CUDA"
    );
}

#[test]
fn strings_cross_as_tf_tstrings() {
    let Some(t) = table() else { return };
    let m = load(
        t,
        &fixture("strings.pb"),
        c"CPU",
        &[c"s"],
        &[c"same", c"lengths"],
    )
    .unwrap();
    // Short strings live inside the TF_TString, long ones on the heap: both, repeatedly.
    let long = "x".repeat(100);
    let elements = ["", "short", long.as_str(), "\u{e9}t\u{e9}"];
    let out = TensorOut::strings(vec![4], &elements);
    let mut offsets = Vec::new();
    let mut at = 0u64;
    for e in elements {
        offsets.push(at);
        at += e.len() as u64 + 1;
    }
    let input = TensorIn {
        dtype: DataType::new(DL_STRING, 8),
        shape: &[4],
        data: &out.data,
        string_offsets: &offsets,
    };
    for _ in 0..50 {
        let r = run(t, m, &[input], 2).unwrap();
        assert_eq!(r[0], out);
        let lengths: Vec<u8> = [0i32, 5, 100, 5]
            .iter()
            .flat_map(|n| n.to_ne_bytes())
            .collect();
        assert_eq!(r[1].data, lengths);
        assert_eq!(r[1].dtype, DataType::new(DL_INT, 32));
    }
    // SAFETY: loaded above, freed once.
    unsafe { (t.model_free)(t.state, m) };
}

/// Per-call cost of the plugin over TF_SessionRun alone, on the MLP fixture (one row):
/// `cargo test --release -p redisai-tf -- --ignored --nocapture overhead`.
#[test]
#[ignore]
fn overhead_over_session_run() {
    if table().is_none() {
        return;
    }
    let api = Arc::new(Api::open(&release_dir()).unwrap());
    let blob = fixture("mlp.pb");
    let request = ModelRequest {
        blob: &blob,
        device: Device::Cpu,
        device_name: "CPU",
        inputs: vec!["x"],
        outputs: vec!["y"],
    };
    let model = TfModel::new(api.clone(), &request, 0, 0, None).unwrap();
    let api = &*model.api;
    let x = floats(&[0.5, -1.0, 2.0, 0.25]);
    let input = TensorIn {
        dtype: DataType::new(DL_FLOAT, 32),
        shape: &[1, 4],
        data: &x,
        string_offsets: &[],
    };
    let n = 20000;
    let time = |f: &mut dyn FnMut()| {
        for _ in 0..1000 {
            f();
        }
        let start = std::time::Instant::now();
        for _ in 0..n {
            f();
        }
        start.elapsed().as_secs_f64() * 1e6 / n as f64
    };
    // SAFETY: one input tensor kept for all runs; each output deleted after its run.
    let raw = unsafe {
        let tensor = (api.allocate_tensor)(ffi::TF_FLOAT, [1i64, 4].as_ptr(), 2, 16);
        std::ptr::copy_nonoverlapping(x.as_ptr(), (api.tensor_data)(tensor) as *mut u8, 16);
        let status = Status::new(api);
        let us = time(&mut || {
            let mut out = std::ptr::null_mut();
            (api.session_run)(
                model.session,
                std::ptr::null(),
                model.inputs.as_ptr(),
                &tensor,
                1,
                model.outputs.as_ptr(),
                &mut out,
                1,
                std::ptr::null(),
                0,
                std::ptr::null_mut(),
                status.raw,
            );
            (api.delete_tensor)(out);
        });
        (api.delete_tensor)(tensor);
        us
    };
    let plugin = time(&mut || {
        model.run(&[input]).unwrap();
    });
    println!("TF_SessionRun alone: {raw:.2} us; the plugin's run: {plugin:.2} us");
}
