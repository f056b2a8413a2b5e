//! Tests of the TORCH backend, through the `Backend` trait and through the plugin's C ABI
//! (the latter for what needs a host: `redis.execute` and `redisAI.model_execute`). Models
//! are made on the fly with `redisai_torch_save_module` (`Module::save`, what
//! `torch.jit.save` writes); expected values are computed here independently.

#[cfg(not(has_libtorch))]
#[test]
fn skipped_without_libtorch() {
    use redisai_backend_api::{ErrorMessage, HostInfo, ABI_VERSION};
    println!("SKIPPED: built without libtorch (make deps-torch)");
    // The plugin refuses to load, and says why.
    let empty = std::ffi::CString::new("").unwrap();
    let info = HostInfo {
        size: std::mem::size_of::<HostInfo>() as u32,
        abi_version: ABI_VERSION,
        threads_per_queue: 1,
        inter_op_threads: 0,
        intra_op_threads: 0,
        execution_timeout_ms: 0,
        plugin_path: empty.as_ptr(),
        engine_path: empty.as_ptr(),
        log: None,
    };
    let mut err = ErrorMessage::empty();
    // SAFETY: a valid HostInfo and error slot.
    let table = unsafe { super::redisai_backend_entry(&info, &mut err) };
    assert!(table.is_null());
    // SAFETY: set by the plugin.
    let text = unsafe { std::ffi::CStr::from_ptr(err.message) }
        .to_string_lossy()
        .into_owned();
    assert_eq!(text, super::NO_LIBTORCH);
    unsafe { (err.release.unwrap())(err.message) };
}

#[cfg(has_libtorch)]
mod with_libtorch {
    use super::super::*;
    use redisai_backend_api::{
        BackendVTable, ByteSink, Bytes, DataType, Device, ErrorMessage, HostInfo, ModelRequest,
        Reply, RunError, ScriptCall, ScriptCalls, ScriptHost, ScriptRequest, ScriptRun, ScriptSpec,
        TensorIn, TensorOut, TensorSink, TensorView, ABI_VERSION, DL_BOOL, DL_FLOAT, DL_INT,
        DL_STRING, DL_UINT, STATUS_OK,
    };
    use std::ffi::{c_char, c_void, CStr, CString};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;

    // ---- helpers ---------------------------------------------------------------------------

    fn backend() -> Torch {
        ffi::init().unwrap();
        Torch {
            version: ffi::version(),
        }
    }

    /// Deterministic weights in [-1, 1).
    fn weights(seed: u64, n: usize) -> Vec<f32> {
        let mut s = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    /// A TorchScript archive of a module with float parameters and methods from `source`.
    fn module(source: &str, params: &[(&str, Vec<i64>, Vec<f32>)]) -> Vec<u8> {
        static N: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "redisai-torch-test-{}-{}.pt",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let source = CString::new(source).unwrap();
        let names: Vec<CString> = params.iter().map(|p| CString::new(p.0).unwrap()).collect();
        let name_ptrs: Vec<*const c_char> = names.iter().map(|n| n.as_ptr()).collect();
        let data: Vec<*const f32> = params.iter().map(|p| p.2.as_ptr()).collect();
        let ndims: Vec<i64> = params.iter().map(|p| p.1.len() as i64).collect();
        let shapes: Vec<*const i64> = params.iter().map(|p| p.1.as_ptr()).collect();
        let cpath = CString::new(path.to_str().unwrap()).unwrap();
        let mut err = vec![0 as c_char; 4096];
        // SAFETY: every array has params.len() entries; buffers live for the call.
        let status = unsafe {
            redisai_torch_save_module(
                source.as_ptr(),
                params.len(),
                name_ptrs.as_ptr(),
                data.as_ptr(),
                ndims.as_ptr(),
                shapes.as_ptr(),
                cpath.as_ptr(),
                err.as_mut_ptr(),
                err.len(),
            )
        };
        let msg = unsafe { CStr::from_ptr(err.as_ptr()) }.to_string_lossy();
        assert_eq!(status, 0, "save_module: {msg}");
        let bytes = std::fs::read(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        bytes
    }

    fn to_bytes<T: Copy>(v: &[T]) -> Vec<u8> {
        let n = std::mem::size_of_val(v);
        let mut out = vec![0u8; n];
        // SAFETY: plain values copied into a buffer of their size.
        unsafe { std::ptr::copy_nonoverlapping(v.as_ptr() as *const u8, out.as_mut_ptr(), n) };
        out
    }

    fn f32s(t: &TensorOut) -> Vec<f32> {
        assert_eq!(t.dtype, DataType::new(DL_FLOAT, 32));
        t.data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect()
    }

    fn i64s(t: &TensorOut) -> Vec<i64> {
        assert_eq!(t.dtype, DataType::new(DL_INT, 64));
        t.data
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
            .collect()
    }

    fn input<'a>(dtype: DataType, shape: &'a [i64], data: &'a [u8]) -> TensorIn<'a> {
        TensorIn {
            dtype,
            shape,
            data,
            string_offsets: &[],
        }
    }

    const F32: DataType = DataType::new(DL_FLOAT, 32);

    fn load(t: &Torch, blob: &[u8], device: Device) -> Result<Loaded<TorchModel>, String> {
        t.load(&ModelRequest {
            blob,
            device,
            device_name: "CPU",
            inputs: vec![],
            outputs: vec![],
        })
    }

    fn script(t: &Torch, source: &str, entry_points: &[&str]) -> Result<TorchScript, String> {
        t.script_load(&ScriptRequest {
            source,
            device: Device::Cpu,
            device_name: "CPU",
            entry_points: entry_points.to_vec(),
        })
    }

    fn call<'a>(function: &'a str, inputs: Vec<TensorIn<'a>>) -> ScriptCall<'a> {
        ScriptCall {
            worker: 0,
            function,
            inputs,
            keys: vec![],
            args: vec![],
        }
    }

    fn failed(r: Result<Vec<TensorOut>, RunError>) -> String {
        match r {
            Err(RunError::Failed(e)) => e,
            other => panic!("expected an error, got {other:?}"),
        }
    }

    const ENTRY: &str = "def f(tensors: List[Tensor], keys: List[str], args: List[str]):\n";

    // ---- models ----------------------------------------------------------------------------

    const MLP: &str = "
def forward(self, x):
    h = torch.relu(torch.matmul(x, self.w1) + self.b1)
    return torch.matmul(h, self.w2) + self.b2
";

    #[test]
    fn an_mlp_matches_an_independent_computation() {
        let (w1, b1, w2, b2) = (weights(1, 32), weights(2, 8), weights(3, 24), weights(4, 3));
        let blob = module(
            MLP,
            &[
                ("w1", vec![4, 8], w1.clone()),
                ("b1", vec![8], b1.clone()),
                ("w2", vec![8, 3], w2.clone()),
                ("b2", vec![3], b2.clone()),
            ],
        );
        let t = backend();
        let loaded = load(&t, &blob, Device::Cpu).unwrap();
        assert_eq!(loaded.inputs, ["x"]);
        assert_eq!(loaded.outputs, ["output_0"]);
        let x = weights(5, 8);
        let data = to_bytes(&x);
        let outs = t
            .run(&loaded.model, 0, &[input(F32, &[2, 4], &data)])
            .unwrap();
        assert_eq!(outs.len(), 1);
        assert_eq!(outs[0].shape, [2, 3]);
        let got = f32s(&outs[0]);
        for r in 0..2 {
            let h: Vec<f32> = (0..8)
                .map(|j| {
                    let s: f32 = (0..4).map(|k| x[r * 4 + k] * w1[k * 8 + j]).sum::<f32>() + b1[j];
                    s.max(0.0)
                })
                .collect();
            for c in 0..3 {
                let y: f32 = (0..8).map(|j| h[j] * w2[j * 3 + c]).sum::<f32>() + b2[c];
                assert!(
                    (got[r * 3 + c] - y).abs() < 1e-5,
                    "{r},{c}: {} vs {y}",
                    got[r * 3 + c]
                );
            }
        }
    }

    #[test]
    fn tuple_outputs_are_named_and_flattened() {
        let blob = module("def forward(self, a, b):\n    return a + b, a * b\n", &[]);
        let t = backend();
        let loaded = load(&t, &blob, Device::Cpu).unwrap();
        assert_eq!(loaded.inputs, ["a", "b"]);
        assert_eq!(loaded.outputs, ["output_0", "output_1"]);
        let (a, b) = (to_bytes(&[1f32, 2.0]), to_bytes(&[3f32, 4.0]));
        let outs = t
            .run(
                &loaded.model,
                0,
                &[input(F32, &[2], &a), input(F32, &[2], &b)],
            )
            .unwrap();
        assert_eq!(f32s(&outs[0]), [4.0, 6.0]);
        assert_eq!(f32s(&outs[1]), [3.0, 8.0]);
        // Too few inputs: libtorch's own message.
        let e = failed(t.run(&loaded.model, 0, &[input(F32, &[2], &a)]));
        assert!(e.contains("forward"), "{e}");
    }

    #[test]
    fn zero_dim_and_int64_models() {
        let t = backend();
        let blob = module(
            "def forward(self, x):\n    return torch.sum(x * self.w)\n",
            &[("w", vec![3], vec![1.0, 2.0, 3.0])],
        );
        let loaded = load(&t, &blob, Device::Cpu).unwrap();
        let x = to_bytes(&[1f32, 1.0, 2.0]);
        let outs = t.run(&loaded.model, 0, &[input(F32, &[3], &x)]).unwrap();
        assert_eq!(outs[0].shape, Vec::<i64>::new());
        assert_eq!(f32s(&outs[0]), [9.0]);

        let blob = module("def forward(self, x):\n    return x * 3 + 1\n", &[]);
        let loaded = load(&t, &blob, Device::Cpu).unwrap();
        let x = to_bytes(&[-2i64, 0, 5]);
        let outs = t
            .run(
                &loaded.model,
                0,
                &[input(DataType::new(DL_INT, 64), &[3], &x)],
            )
            .unwrap();
        assert_eq!(i64s(&outs[0]), [-5, 1, 16]);
        // A 0-dim input.
        let x = to_bytes(&[4i64]);
        let outs = t
            .run(
                &loaded.model,
                0,
                &[input(DataType::new(DL_INT, 64), &[], &x)],
            )
            .unwrap();
        assert_eq!(outs[0].shape, Vec::<i64>::new());
        assert_eq!(i64s(&outs[0]), [13]);
    }

    #[test]
    fn bad_blobs_and_gpus_are_refused() {
        let t = backend();
        let e = load(&t, b"not a TorchScript archive", Device::Cpu)
            .err()
            .unwrap();
        println!("bad blob: {e}");
        assert!(e.contains("PytorchStreamReader"), "{e}");
        assert!(!e.trim_end().contains('\n'), "{e}");
        if !ffi::cuda_available() {
            let blob = module("def forward(self, x):\n    return x\n", &[]);
            for d in [Device::Gpu(None), Device::Gpu(Some(1))] {
                let e = load(&t, &blob, d).err().unwrap();
                assert_eq!(e, "GPU requested but Torch couldn't find CUDA");
            }
            let e = t
                .script_load(&ScriptRequest {
                    source: "def f(x):\n    return x\n",
                    device: Device::Gpu(None),
                    device_name: "GPU",
                    entry_points: vec![],
                })
                .err()
                .unwrap();
            assert_eq!(e, "GPU requested but Torch couldn't find CUDA");
        }
    }

    #[test]
    fn unsupported_and_malformed_inputs_are_refused() {
        let t = backend();
        let blob = module("def forward(self, x):\n    return x\n", &[]);
        let m = load(&t, &blob, Device::Cpu).unwrap().model;
        let two = [0u8; 4];
        for (dtype, name) in [
            (DataType::new(DL_UINT, 16), "UINT16"),
            (DataType::new(DL_FLOAT, 16), "FLOAT16"),
            (DataType::new(DL_STRING, 8), "STRING"),
        ] {
            let e = failed(t.run(&m, 0, &[input(dtype, &[2], &two)]));
            assert_eq!(
                e,
                format!(
                    "The Torch backend does not support {name} tensors (only FLOAT, DOUBLE, \
                     INT8, INT16, INT32, INT64, UINT8 and BOOL)"
                )
            );
        }
        let e = failed(t.run(&m, 0, &[input(F32, &[2], &[0u8; 7])]));
        assert_eq!(
            e,
            "TORCH backend: tensor data has 7 bytes, its shape and type need 8"
        );
        // An output of a type RedisAI tensors cannot hold.
        let blob = module("def forward(self, x):\n    return x.half()\n", &[]);
        let m = load(&t, &blob, Device::Cpu).unwrap().model;
        let e = failed(t.run(&m, 0, &[input(F32, &[1], &two)]));
        assert!(
            e.starts_with("The Torch backend cannot return a tensor of type Half"),
            "{e}"
        );
    }

    #[test]
    fn engine_version_is_libtorchs() {
        assert_eq!(backend().engine_version(), "2.13.0");
    }

    // ---- scripts ---------------------------------------------------------------------------

    #[test]
    fn every_dtype_round_trips_through_a_script() {
        let t = backend();
        let identity = script(&t, &format!("{ENTRY}    return tensors[0]\n"), &["f"]).unwrap();
        let plus = script(&t, &format!("{ENTRY}    return tensors[0] + 1\n"), &["f"]).unwrap();
        let cases: Vec<(DataType, Vec<u8>, Vec<u8>)> = vec![
            (F32, to_bytes(&[1.5f32, -2.0]), to_bytes(&[2.5f32, -1.0])),
            (
                DataType::new(DL_FLOAT, 64),
                to_bytes(&[1.5f64, -2.0]),
                to_bytes(&[2.5f64, -1.0]),
            ),
            (
                DataType::new(DL_INT, 8),
                to_bytes(&[-3i8, 126]),
                to_bytes(&[-2i8, 127]),
            ),
            (
                DataType::new(DL_INT, 16),
                to_bytes(&[-3i16, 300]),
                to_bytes(&[-2i16, 301]),
            ),
            (
                DataType::new(DL_INT, 32),
                to_bytes(&[-3i32, 70000]),
                to_bytes(&[-2i32, 70001]),
            ),
            (
                DataType::new(DL_INT, 64),
                to_bytes(&[-3i64, 1 << 40]),
                to_bytes(&[-2i64, (1 << 40) + 1]),
            ),
            (DataType::new(DL_UINT, 8), vec![0u8, 254], vec![1u8, 255]),
            (DataType::new(DL_BOOL, 8), vec![1u8, 0], vec![]),
        ];
        for (dtype, data, plus_one) in cases {
            let shape = [2i64, 1];
            let ins = || vec![input(dtype, &shape, &data)];
            let outs = t
                .script_run(&identity, &call("f", ins()), &ScriptHost::none())
                .unwrap();
            assert_eq!(
                outs,
                [TensorOut {
                    dtype,
                    shape: shape.to_vec(),
                    data: data.clone()
                }],
                "{dtype:?}"
            );
            if !plus_one.is_empty() {
                let outs = t
                    .script_run(&plus, &call("f", ins()), &ScriptHost::none())
                    .unwrap();
                assert_eq!(outs[0].dtype, dtype);
                assert_eq!(outs[0].data, plus_one, "{dtype:?}");
            }
        }
        // BOOL: any non-zero byte is true.
        let outs = t
            .script_run(
                &identity,
                &call("f", vec![input(DataType::new(DL_BOOL, 8), &[2], &[7, 0])]),
                &ScriptHost::none(),
            )
            .unwrap();
        assert_eq!(outs[0].data, [1, 0]);
    }

    #[test]
    fn script_outputs_tensors_tuples_lists_and_scalars() {
        let t = backend();
        let s = script(
            &t,
            "
def scalar(tensors: List[Tensor], keys: List[str], args: List[str]):
    return tensors[0].sum()

def pair(tensors: List[Tensor], keys: List[str], args: List[str]):
    return tensors[0], tensors[0] * 2

def listed(tensors: List[Tensor], keys: List[str], args: List[str]):
    return [tensors[0] * 3, tensors[0][0:1]]

def uses_args(tensors: List[Tensor], keys: List[str], args: List[str]):
    return tensors[0] * int(args[0]) + len(keys[0])
",
            &["scalar", "pair", "listed", "uses_args"],
        )
        .unwrap();
        let data = to_bytes(&[1f32, 2.0]);
        let run = |f: &str| {
            t.script_run(
                &s,
                &ScriptCall {
                    worker: 0,
                    function: f,
                    inputs: vec![input(F32, &[2], &data)],
                    keys: vec![b"abc"],
                    args: vec![b"10"],
                },
                &ScriptHost::none(),
            )
            .unwrap()
        };
        let outs = run("scalar");
        assert_eq!(outs[0].shape, Vec::<i64>::new());
        assert_eq!(f32s(&outs[0]), [3.0]);
        let outs = run("pair");
        assert_eq!(outs.len(), 2);
        assert_eq!(f32s(&outs[1]), [2.0, 4.0]);
        let outs = run("listed");
        assert_eq!(outs.len(), 2);
        assert_eq!(f32s(&outs[0]), [3.0, 6.0]);
        assert_eq!(
            (outs[1].shape.clone(), f32s(&outs[1])),
            (vec![1], vec![1.0])
        );
        assert_eq!(f32s(&run("uses_args")[0]), [13.0, 23.0]);

        // Keys and args of an entry point must be UTF-8.
        let e = failed(t.script_run(
            &s,
            &ScriptCall {
                worker: 0,
                function: "pair",
                inputs: vec![],
                keys: vec![b"ok", b"\xff"],
                args: vec![],
            },
            &ScriptHost::none(),
        ));
        assert_eq!(
            e,
            "KEYS of a TorchScript function must be UTF-8 text (key 1 is not)"
        );
    }

    #[test]
    fn compile_errors_are_libtorchs_text() {
        let t = backend();
        let e = script(&t, "return 1", &[]).err().unwrap();
        assert_eq!(
            e,
            "expected def but found 'return' here:\n  File \"<string>\", line 1\nreturn 1\n~~~~~~ <--- HERE\n"
        );
        // As the client sees it (the plugin ABI flattens newlines): what redisai-py expects.
        assert_eq!(
            e.replace('\n', " "),
            "expected def but found 'return' here:   File \"<string>\", line 1 return 1 ~~~~~~ <--- HERE "
        );
        // Only torch, redis and redisAI resolve.
        let e = script(&t, "def f(x):\n    return numpy.abs(x)\n", &[])
            .err()
            .unwrap();
        assert!(e.trim_start().starts_with("undefined value numpy"), "{e}");
    }

    #[test]
    fn entry_points_are_validated() {
        let t = backend();
        let source = "
def good(tensors: List[Tensor], keys: List[str], args: List[str]):
    return tensors[0]

def two(tensors: List[Tensor], keys: List[str]):
    return tensors[0]

def typed(tensors: List[Tensor], keys: List[str], args: List[int]):
    return tensors[0]
";
        assert!(script(&t, source, &["good"]).is_ok());
        let err = |f: &str| script(&t, source, &["good", f]).err().unwrap();
        assert_eq!(
            err("missing"),
            "Function missing does not exist in the given script."
        );
        assert_eq!(
            err("two"),
            "Wrong number of inputs in function two. Expected 3 but was 2"
        );
        assert_eq!(
            err("typed"),
            "Wrong inputs type in function typed. Expected signature similar to: \
             def typed(tensors: List[Tensor], keys: List[str], args: List[str])"
        );
    }

    #[test]
    fn legacy_calls_fill_parameters_positionally() {
        let t = backend();
        let s = script(
            &t,
            "
def add(a, b: Tensor):
    return a + b

def rest(a: Tensor, others: List[Tensor]):
    return a * len(others)

def with_int(a: Tensor, n: int):
    return a

def entry(tensors: List[Tensor], keys: List[str], args: List[str]):
    return tensors[0]
",
            &[],
        )
        .unwrap();
        let (a, b) = (to_bytes(&[1f32, 2.0]), to_bytes(&[10f32, 20.0]));
        let ins = |n: usize| {
            [&a, &b, &a, &b][..n]
                .iter()
                .map(|d| input(F32, &[2], d))
                .collect::<Vec<_>>()
        };
        let run = |f: &str, n: usize| t.script_run(&s, &call(f, ins(n)), &ScriptHost::none());
        assert_eq!(f32s(&run("add", 2).unwrap()[0]), [11.0, 22.0]);
        // Extra inputs are ignored, as RedisAI does.
        assert_eq!(f32s(&run("add", 3).unwrap()[0]), [11.0, 22.0]);
        assert_eq!(f32s(&run("rest", 4).unwrap()[0]), [3.0, 6.0]);
        assert_eq!(f32s(&run("rest", 2).unwrap()[0]), [1.0, 2.0]);
        assert_eq!(
            failed(run("add", 1)),
            "Wrong number of inputs provided to function: add"
        );
        assert_eq!(
            failed(run("rest", 1)),
            "Wrong number of inputs provided to function: rest"
        );
        assert_eq!(
            failed(run("with_int", 2)),
            "Unsupported input type in function definition: with_int"
        );
        assert_eq!(failed(run("nope", 2)), "Function does not exist: nope");
        // A function with the entry-point signature that is not an entry point: legacy too.
        assert_eq!(
            failed(run("entry", 3)),
            "Unsupported input type in function definition: entry"
        );
    }

    #[test]
    fn non_tensor_returns_and_runtime_errors() {
        let t = backend();
        let s = script(
            &t,
            "
def int_(tensors: List[Tensor], keys: List[str], args: List[str]):
    return 1

def str_(tensors: List[Tensor], keys: List[str], args: List[str]):
    return keys[0]

def mixed(tensors: List[Tensor], keys: List[str], args: List[str]):
    return tensors[0], 2

def index(tensors: List[Tensor], keys: List[str], args: List[str]):
    return tensors[3]

def shape(tensors: List[Tensor], keys: List[str], args: List[str]):
    return tensors[0].view(7)
",
            &["int_", "str_", "mixed", "index", "shape"],
        )
        .unwrap();
        let data = to_bytes(&[1f32, 2.0]);
        let run = |f: &str| {
            failed(t.script_run(
                &s,
                &ScriptCall {
                    worker: 0,
                    function: f,
                    inputs: vec![input(F32, &[2], &data)],
                    keys: vec![b"k"],
                    args: vec![],
                },
                &ScriptHost::none(),
            ))
        };
        for f in ["int_", "str_", "mixed"] {
            assert_eq!(run(f), format!("Function returned non-tensor values{f}"));
        }
        assert_eq!(run("index"), "list index out of range");
        assert_eq!(run("shape"), "shape '[7]' is invalid for input of size 2");
    }

    #[test]
    fn host_calls_without_a_host_fail_cleanly() {
        let t = backend();
        let s = script(
            &t,
            &format!(
                "{ENTRY}    redis.execute('SET', keys[0], '1')\n    return tensors[0]\n\n\
                 def g(tensors: List[Tensor], keys: List[str], args: List[str]):\n    \
                 return redisAI.model_execute('m', tensors, 1)[0]\n"
            ),
            &["f", "g"],
        )
        .unwrap();
        let data = to_bytes(&[1f32]);
        let run = |f: &str| {
            failed(t.script_run(
                &s,
                &ScriptCall {
                    worker: 0,
                    function: f,
                    inputs: vec![input(F32, &[1], &data)],
                    keys: vec![b"k"],
                    args: vec![],
                },
                &ScriptHost::none(),
            ))
        };
        assert_eq!(
            run("f"),
            "Redis command returned an error: redis calls are not available here"
        );
        assert_eq!(run("g"), "model calls are not available here");
        // A model calling redis.execute outside of a script run.
        let blob = module(
            "def forward(self, x):\n    redis.execute('PING', [''])\n    return x\n",
            &[],
        );
        let m = load(&t, &blob, Device::Cpu).unwrap().model;
        let e = failed(t.run(&m, 0, &[input(F32, &[1], &data)]));
        assert_eq!(e, "redis.execute can only be called from a script run");
    }

    // ---- through the C ABI, with a fake host -----------------------------------------------

    fn table() -> &'static BackendVTable {
        let empty = CString::new("").unwrap();
        let info = HostInfo {
            size: std::mem::size_of::<HostInfo>() as u32,
            abi_version: ABI_VERSION,
            threads_per_queue: 1,
            inter_op_threads: 0,
            intra_op_threads: 0,
            execution_timeout_ms: 0,
            plugin_path: empty.as_ptr(),
            engine_path: empty.as_ptr(),
            log: None,
        };
        let mut err = ErrorMessage::empty();
        // SAFETY: a valid HostInfo and error slot.
        let t = unsafe { redisai_backend_entry(&info, &mut err) };
        assert!(!t.is_null(), "{}", err.take().unwrap_or_default());
        // SAFETY: tables live as long as the process.
        unsafe { &*t }
    }

    /// A fake host: records the commands it is given, answers a few.
    #[derive(Default)]
    struct FakeHost {
        commands: Mutex<Vec<Vec<String>>>,
    }

    unsafe extern "C" fn fake_redis_call(
        ctx: *mut c_void,
        argv: *const Bytes,
        argc: usize,
        reply: *const ByteSink,
    ) -> i32 {
        // SAFETY: as the plugin ABI promises.
        let host = unsafe { &*(ctx as *const FakeHost) };
        let args: Vec<Vec<u8>> = unsafe { ffi::slice(argv, argc) }
            .iter()
            .map(|b| unsafe { b.as_slice() }.to_vec())
            .collect();
        host.commands.lock().unwrap().push(
            args.iter()
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect(),
        );
        let r = match args[0].as_slice() {
            b"SET" => Ok(Reply::Str(b"OK".to_vec())),
            b"GET" => Ok(Reply::Str(b"42".to_vec())),
            b"INCR" => Ok(Reply::Int(1 << 40)),
            b"PI" => Ok(Reply::Double(3.5)),
            b"NIL" => Ok(Reply::Nil),
            b"BIN" => Ok(Reply::Str(vec![b'a', 0xff, b'b'])),
            b"LRANGE" => Ok(Reply::Array(vec![
                Reply::Str(b"1".to_vec()),
                Reply::Int(2),
                Reply::Nil,
                Reply::Error(b"ERR inner".to_vec()),
                Reply::Array(vec![]),
            ])),
            _ => Err(format!(
                "ERR unknown command '{}'",
                String::from_utf8_lossy(&args[0])
            )),
        };
        let (status, bytes) = match r {
            Ok(r) => {
                let mut b = Vec::new();
                r.encode(&mut b);
                (STATUS_OK, b)
            }
            Err(e) => (1, e.into_bytes()),
        };
        unsafe { ((*reply).put)((*reply).ctx, bytes.as_ptr(), bytes.len()) };
        status
    }

    unsafe extern "C" fn fake_model_execute(
        _ctx: *mut c_void,
        key: Bytes,
        inputs: *const TensorView,
        n_inputs: usize,
        outputs: *const TensorSink,
        error: *const ByteSink,
    ) -> i32 {
        // SAFETY: as the plugin ABI promises.
        let key = unsafe { key.as_slice() };
        let ins = unsafe { ffi::slice(inputs, n_inputs) };
        let fail = |e: &str| {
            unsafe { ((*error).put)((*error).ctx, e.as_ptr(), e.len()) };
            1
        };
        let outs: Vec<TensorOut> = match key {
            // Each input doubled (FLOAT only).
            b"double" => {
                let mut outs = Vec::new();
                for v in ins {
                    let t = unsafe { ffi::tensor_in(v) };
                    if t.dtype != F32 {
                        return fail("ERR double takes FLOAT");
                    }
                    let d: Vec<f32> = t
                        .data
                        .chunks_exact(4)
                        .map(|c| 2.0 * f32::from_le_bytes(c.try_into().unwrap()))
                        .collect();
                    outs.push(TensorOut {
                        dtype: F32,
                        shape: t.shape.to_vec(),
                        data: to_bytes(&d),
                    });
                }
                outs
            }
            b"u16" => vec![TensorOut {
                dtype: DataType::new(DL_UINT, 16),
                shape: vec![1],
                data: vec![0, 0],
            }],
            _ => return fail("ERR model key is empty"),
        };
        for o in &outs {
            let v = o.view();
            unsafe { ((*outputs).put)((*outputs).ctx, &v) };
        }
        STATUS_OK
    }

    const HOST_SCRIPT: &str = "
def kind(v: Any) -> int:
    if isinstance(v, int):
        return 1
    if isinstance(v, float):
        return 2
    if isinstance(v, str):
        return 3
    if isinstance(v, List[Any]):
        return 4
    return 0

def replies(tensors: List[Tensor], keys: List[str], args: List[str]):
    redis.execute('SET', keys[0], args[0])
    redis.execute('SET', [keys[0], args[0], 'EX', '10'])
    got = redis.execute('GET', keys[0])
    n = redis.execute('INCR', keys[0])
    pi = redis.execute('PI')
    nil = redis.execute('NIL')
    items = redis.asList(redis.execute('LRANGE', keys[0], '0', '-1'))
    kinds = [kind(got), kind(n), kind(pi), kind(nil), len(items)]
    for i in items:
        kinds.append(kind(i))
    kinds.append(int(str(got)))
    kinds.append(len(str(redis.execute('BIN'))))
    kinds.append(int(str(items[0])))
    kinds.append(len(str(items[3])))
    return torch.tensor(kinds)

def failing(tensors: List[Tensor], keys: List[str], args: List[str]):
    redis.execute('NOSUCH', keys)
    return tensors[0]

def not_a_list(tensors: List[Tensor], keys: List[str], args: List[str]):
    redis.asList(redis.execute('GET', keys[0]))
    return tensors[0]

def model(tensors: List[Tensor], keys: List[str], args: List[str]):
    outs = redisAI.model_execute(keys[0], tensors, int(args[0]))
    return outs
";

    struct Run {
        status: i32,
        error: String,
        outputs: Vec<TensorOut>,
    }

    fn run_through_abi(
        t: &BackendVTable,
        script: *mut c_void,
        host: &FakeHost,
        function: &str,
        inputs: &[TensorIn<'_>],
        keys: &[&[u8]],
        args: &[&[u8]],
    ) -> Run {
        let views = ffi::views(inputs);
        let keys: Vec<Bytes> = keys.iter().map(|k| Bytes::new(k)).collect();
        let args: Vec<Bytes> = args.iter().map(|a| Bytes::new(a)).collect();
        let run = ScriptRun {
            size: std::mem::size_of::<ScriptRun>() as u32,
            worker: 0,
            function: Bytes::new(function.as_bytes()),
            inputs: views.as_ptr(),
            n_inputs: views.len(),
            keys: keys.as_ptr(),
            n_keys: keys.len(),
            args: args.as_ptr(),
            n_args: args.len(),
        };
        let calls = ScriptCalls {
            size: std::mem::size_of::<ScriptCalls>() as u32,
            ctx: host as *const FakeHost as *mut c_void,
            redis_call: fake_redis_call,
            model_execute: fake_model_execute,
        };
        let mut outs = ffi::Tensors::default();
        let mut err = ErrorMessage::empty();
        // SAFETY: everything lives for the call.
        let status = unsafe {
            (t.script_run.unwrap())(t.state, script, &run, &calls, &outs.sink(), &mut err)
        };
        Run {
            status,
            error: err.take().unwrap_or_default(),
            outputs: outs.0,
        }
    }

    #[test]
    fn redis_execute_and_model_execute_reach_the_host() {
        let t = table();
        assert_eq!(unsafe { CStr::from_ptr(t.name) }.to_str().unwrap(), "TORCH");
        let entry_points: Vec<Bytes> = ["replies", "failing", "not_a_list", "model"]
            .iter()
            .map(|s| Bytes::new(s.as_bytes()))
            .collect();
        let device = CString::new("CPU").unwrap();
        let spec = ScriptSpec {
            size: std::mem::size_of::<ScriptSpec>() as u32,
            source: Bytes::new(HOST_SCRIPT.as_bytes()),
            device: device.as_ptr(),
            n_entry_points: entry_points.len() as u32,
            entry_points: entry_points.as_ptr(),
        };
        let mut script: *mut c_void = std::ptr::null_mut();
        let mut err = ErrorMessage::empty();
        // SAFETY: a valid spec and out-slots.
        let status = unsafe { (t.script_load.unwrap())(t.state, &spec, &mut script, &mut err) };
        assert_eq!(status, STATUS_OK, "{}", err.take().unwrap_or_default());

        let host = FakeHost::default();
        let r = run_through_abi(t, script, &host, "replies", &[], &[b"k"], &[b"7"]);
        assert_eq!(r.status, STATUS_OK, "{}", r.error);
        // str, int, float, None, 5 items: str, int, None, error-as-str, list; then values
        // ("a\\xffb" arrives as "a\\u{fffd}b", 5 bytes).
        assert_eq!(
            i64s(&r.outputs[0]),
            [3, 1, 2, 0, 5, 3, 1, 0, 3, 4, 42, 5, 1, 9]
        );
        let commands = host.commands.lock().unwrap().clone();
        assert_eq!(commands[0], ["SET", "k", "7"]);
        assert_eq!(commands[1], ["SET", "k", "7", "EX", "10"]);
        assert_eq!(commands[2], ["GET", "k"]);
        assert_eq!(commands[5], ["NIL"]);
        assert_eq!(commands[6], ["LRANGE", "k", "0", "-1"]);

        let r = run_through_abi(t, script, &host, "failing", &[], &[b"a", b"b"], &[]);
        assert_eq!(
            (r.status, r.error.as_str()),
            (
                1,
                "Redis command returned an error: ERR unknown command 'NOSUCH'"
            )
        );
        assert_eq!(
            host.commands.lock().unwrap().last().unwrap(),
            &["NOSUCH", "a", "b"]
        );
        let r = run_through_abi(t, script, &host, "not_a_list", &[], &[b"k"], &[]);
        assert_eq!(r.error, "redis.asList: the value is not a list (it is str)");

        let data = to_bytes(&[1f32, -2.0]);
        let ins = [input(F32, &[2], &data), input(F32, &[2], &data)];
        let r = run_through_abi(t, script, &host, "model", &ins, &[b"double"], &[b"2"]);
        assert_eq!(r.status, STATUS_OK, "{}", r.error);
        assert_eq!(r.outputs.len(), 2);
        assert_eq!(f32s(&r.outputs[1]), [2.0, -4.0]);
        let r = run_through_abi(t, script, &host, "model", &ins, &[b"double"], &[b"1"]);
        assert_eq!(
            r.error,
            "redisAI.model_execute: model double returned 2 outputs, num_outputs is 1"
        );
        let r = run_through_abi(t, script, &host, "model", &ins, &[b"missing"], &[b"1"]);
        assert_eq!(r.error, "ERR model key is empty");
        let r = run_through_abi(t, script, &host, "model", &ins, &[b"u16"], &[b"1"]);
        assert!(
            r.error
                .starts_with("The Torch backend does not support UINT16 tensors"),
            "{}",
            r.error
        );
        // A multi-line libtorch error arrives flattened to one line.
        let bad = Bytes::new(b"return 1");
        let spec = ScriptSpec {
            source: bad,
            n_entry_points: 0,
            ..spec
        };
        let mut other: *mut c_void = std::ptr::null_mut();
        let status = unsafe { (t.script_load.unwrap())(t.state, &spec, &mut other, &mut err) };
        assert_eq!(status, 1);
        assert_eq!(
            err.take().unwrap_or_default(),
            "expected def but found 'return' here:   File \"<string>\", line 1 return 1 ~~~~~~ <--- HERE "
        );
        unsafe { (t.script_free.unwrap())(t.state, script) };
    }

    #[test]
    fn scripts_and_models_run_concurrently() {
        let t = backend();
        let s = script(&t, &format!("{ENTRY}    return tensors[0] * 2\n"), &["f"]).unwrap();
        let blob = module("def forward(self, x):\n    return x + 1\n", &[]);
        let m = load(&t, &blob, Device::Cpu).unwrap().model;
        std::thread::scope(|scope| {
            for i in 0..4 {
                let (t, s, m) = (&t, &s, &m);
                scope.spawn(move || {
                    let data = to_bytes(&[i as f32; 16]);
                    for _ in 0..50 {
                        let outs = t
                            .script_run(
                                s,
                                &call("f", vec![input(F32, &[4, 4], &data)]),
                                &ScriptHost::none(),
                            )
                            .unwrap();
                        assert_eq!(f32s(&outs[0]), [2.0 * i as f32; 16]);
                        let outs = t.run(m, 0, &[input(F32, &[4, 4], &data)]).unwrap();
                        assert_eq!(f32s(&outs[0]), [i as f32 + 1.0; 16]);
                    }
                });
            }
        });
    }
}
