//! Per-call overhead of AI.MODELEXECUTE over each of the four backend plugins, side by side.
//!
//! The same small model for every engine, the tests' MLP (float `[1, 4]` in, 4 → 8 or 16 →
//! 3): `mlp.onnx`, `torch/mlp.pt`, `tests/models/tf/mlp.pb`, `tests/models/tflite/mlp.tflite`.
//! Each is run two ways in the same round, one call at a time:
//!
//! * in this process, through the plugin's own C ABI (`libredisai_<backend>.so` opened here,
//!   its entry point, `model_load`, `model_run`, the outputs released), with the settings the
//!   server gives it (one intra-op thread, MODEL_EXECUTION_TIMEOUT's default, so the ONNX
//!   watchdog is armed on both sides): what the engine and the plugin cost;
//! * through the server, as AI.MODELEXECUTE from one client, against PING's round trip.
//!
//! Every figure is a median of single-call latencies, and PING and AI.MODELEXECUTE take turns
//! on one connection: on a shared machine a mean is whatever else ran meanwhile, and a median of
//! calls interleaved this finely sees the same machine on both sides.
//!
//!     overhead = RTT(AI.MODELEXECUTE) − RTT(PING) − t(plugin in-process)
//!
//! is what redisai's host side adds per call (parsing, the hand-off to a worker and back, the
//! output's store and replication). The ratio RTT(AI.MODELEXECUTE) / (RTT(PING) + t(plugin))
//! compares the call with the cheapest a server could do: a PING plus the model.
//!
//! Each round measures the served call twice: queued (`ai.inline_max_us 0`, every run handed
//! to a worker) and with the default `ai.inline_max_us`, where a model learned to be small
//! runs in the command itself; the share of those calls that ran inline is printed with it.

use std::ffi::{c_char, c_void, CString};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use redisai_backend_api::{
    BackendVTable, DataType, EntryPoint, ErrorMessage, HostInfo, ModelIo, ModelSpec, OwnedTensor,
    TensorView, ABI_VERSION, DL_FLOAT, ENTRY_POINT, STATUS_OK,
};

use std::io::{BufReader, Write};
use std::net::TcpStream;

use crate::{encode, measure, median, run_counts, set_inline_max_us, skip_reply, Config, Server};

/// What the server's plugins are given by default (MODEL_EXECUTION_TIMEOUT 5000 ms).
const EXECUTION_TIMEOUT_MS: u64 = 5000;

/// One backend's MLP: where its model file is and how AI.MODELSTORE names its I/O.
struct Subject {
    backend: &'static str,
    plugin: &'static str,
    path: PathBuf,
    /// TF needs INPUTS/OUTPUTS; the others report their own.
    inputs: &'static [&'static str],
    outputs: &'static [&'static str],
}

fn subjects() -> Vec<Subject> {
    let models = crate::models::models_dir();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/models");
    vec![
        Subject {
            backend: "ONNX",
            plugin: "libredisai_onnx.so",
            path: models.join("mlp.onnx"),
            inputs: &[],
            outputs: &[],
        },
        Subject {
            backend: "TORCH",
            plugin: "libredisai_torch.so",
            path: models.join("torch/mlp.pt"),
            inputs: &[],
            outputs: &[],
        },
        Subject {
            backend: "TF",
            plugin: "libredisai_tf.so",
            path: fixtures.join("tf/mlp.pb"),
            inputs: &["x"],
            outputs: &["y"],
        },
        Subject {
            backend: "TFLITE",
            plugin: "libredisai_tflite.so",
            path: fixtures.join("tflite/mlp.tflite"),
            inputs: &[],
            outputs: &[],
        },
    ]
}

/// A plugin opened in this process and one model loaded through its table.
struct InProcess {
    table: &'static BackendVTable,
    model: *mut c_void,
    n_outputs: usize,
    engine: String,
    _lib: libloading::Library,
}

fn take(err: &mut ErrorMessage, otherwise: &str) -> String {
    err.take().unwrap_or_else(|| otherwise.to_string())
}

impl InProcess {
    fn open(dir: &Path, s: &Subject, blob: &[u8]) -> Result<InProcess, String> {
        let path = dir.join(s.plugin);
        // SAFETY: a redisai backend plugin; loading it runs its initialisers only.
        let lib = unsafe { libloading::Library::new(&path) }
            .map_err(|e| format!("{}: {e}", path.display()))?;
        // SAFETY: the symbol has the EntryPoint signature by the ABI contract.
        let entry: EntryPoint = *unsafe { lib.get::<EntryPoint>(ENTRY_POINT) }
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let plugin_path = CString::new(path.to_string_lossy().as_bytes()).expect("path");
        let info = HostInfo {
            size: std::mem::size_of::<HostInfo>() as u32,
            abi_version: ABI_VERSION,
            threads_per_queue: 1,
            inter_op_threads: 0,
            intra_op_threads: 1,
            execution_timeout_ms: EXECUTION_TIMEOUT_MS,
            plugin_path: plugin_path.as_ptr(),
            engine_path: c"".as_ptr(),
            log: None,
        };
        let mut err = ErrorMessage::empty();
        // SAFETY: a valid HostInfo and error slot for the call.
        let table = unsafe { entry(&info, &mut err) };
        if table.is_null() {
            return Err(take(&mut err, "the plugin refused to load"));
        }
        // SAFETY: a table from the entry point lives as long as the process.
        let table: &'static BackendVTable = unsafe { &*table };
        let names = |v: &[&str]| -> Vec<CString> {
            v.iter().map(|n| CString::new(*n).expect("name")).collect()
        };
        let (ins, outs) = (names(s.inputs), names(s.outputs));
        let in_ptrs: Vec<*const c_char> = ins.iter().map(|c| c.as_ptr()).collect();
        let out_ptrs: Vec<*const c_char> = outs.iter().map(|c| c.as_ptr()).collect();
        let spec = ModelSpec {
            size: std::mem::size_of::<ModelSpec>() as u32,
            blob: blob.as_ptr(),
            blob_len: blob.len(),
            device: c"CPU".as_ptr(),
            n_inputs: in_ptrs.len() as u32,
            inputs: in_ptrs.as_ptr(),
            n_outputs: out_ptrs.len() as u32,
            outputs: out_ptrs.as_ptr(),
        };
        let mut model = std::ptr::null_mut();
        let mut io = ModelIo::empty();
        // SAFETY: valid spec and out-slots for the call.
        let status =
            unsafe { (table.model_load)(table.state, &spec, &mut model, &mut io, &mut err) };
        if status != STATUS_OK {
            return Err(take(&mut err, "the model did not load"));
        }
        // SAFETY: a static string of the table.
        let engine = unsafe { std::ffi::CStr::from_ptr(table.engine_version) }
            .to_string_lossy()
            .into_owned();
        Ok(InProcess {
            table,
            model,
            n_outputs: io.n_outputs as usize,
            engine,
            _lib: lib,
        })
    }

    /// One run on `x` (`[1, 4]` floats), outputs released as the host does.
    fn run(&self, x: &[f32; 4], outs: &mut Vec<OwnedTensor>) {
        let shape = [1i64, 4];
        let view = TensorView {
            dtype: DataType::new(DL_FLOAT, 32),
            ndim: 2,
            shape: shape.as_ptr(),
            data: x.as_ptr().cast(),
            byte_len: 16,
            string_offsets: std::ptr::null(),
        };
        outs.clear();
        let mut err = ErrorMessage::empty();
        let t = self.table;
        // SAFETY: one valid input view and `n_outputs` writable slots for the call.
        let status = unsafe {
            (t.model_run)(
                t.state,
                self.model,
                0,
                &view,
                1,
                outs.as_mut_ptr(),
                self.n_outputs,
                &mut err,
            )
        };
        if status != STATUS_OK {
            panic!("in-process run failed: {}", take(&mut err, "no message"));
        }
        // SAFETY: the plugin filled every slot; each is released once.
        unsafe {
            outs.set_len(self.n_outputs);
            for o in outs.drain(..) {
                if let Some(release) = o.release {
                    release(o.owner);
                }
            }
        }
    }

    /// Median microseconds of one run, over `seconds`.
    fn micros_per_run(&self, x: &[f32; 4], seconds: f64) -> f64 {
        let mut outs = Vec::with_capacity(self.n_outputs);
        let mut samples = Vec::new();
        let until = Instant::now() + Duration::from_secs_f64(seconds);
        while Instant::now() < until {
            let t = Instant::now();
            self.run(x, &mut outs);
            samples.push(t.elapsed().as_secs_f64() * 1e6);
        }
        median(&mut samples)
    }
}

/// Each command's round trips in µs, `commands` sent in turn on one connection for `seconds`.
pub(crate) fn round_trips(port: u16, commands: &[Vec<u8>], seconds: f64) -> Vec<Vec<f64>> {
    let mut w = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    w.set_nodelay(true).ok();
    let mut r = BufReader::new(w.try_clone().expect("clone"));
    let mut line = Vec::new();
    let mut samples: Vec<Vec<f64>> = commands.iter().map(|_| Vec::new()).collect();
    let until = Instant::now() + Duration::from_secs_f64(seconds);
    while Instant::now() < until {
        for (c, s) in commands.iter().zip(&mut samples) {
            let t = Instant::now();
            w.write_all(c).expect("write");
            if let Err(e) = skip_reply(&mut r, &mut line) {
                panic!("benchmark command failed: {e}");
            }
            s.push(t.elapsed().as_secs_f64() * 1e6);
        }
    }
    samples
}

/// Median round trip, in µs, of each of `commands`, sent in turn on one connection for
/// `seconds`.
pub(crate) fn interleaved_round_trips(port: u16, commands: &[Vec<u8>], seconds: f64) -> Vec<f64> {
    round_trips(port, commands, seconds)
        .iter_mut()
        .map(|s| median(s))
        .collect()
}

pub fn run(cfg: &Config) {
    println!("redisai backend benchmark: the same MLP through each plugin, in-process and served");
    let dir = Path::new(&cfg.module)
        .parent()
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let x = [0.5f32, -1.0, 2.0, 0.25];
    let mut present = Vec::new();
    for s in subjects() {
        let blob = match std::fs::read(&s.path) {
            Ok(b) => b,
            Err(e) => {
                println!("| {} | SKIPPED: {}: {e} |", s.backend, s.path.display());
                continue;
            }
        };
        match InProcess::open(&dir, &s, &blob) {
            Ok(p) => present.push((s, blob, p)),
            Err(e) => println!("| {} | SKIPPED: {e} |", s.backend),
        }
    }
    if present.is_empty() {
        return;
    }
    let server = Server::start(cfg, &["INTRA_OP_PARALLELISM", "1"]);
    let port = server.port;
    let row: Vec<u8> = x.iter().flat_map(|v| v.to_le_bytes()).collect();
    let mut setup = vec![encode(&[
        b"AI.TENSORSET",
        b"x",
        b"FLOAT",
        b"1",
        b"4",
        b"BLOB",
        &row,
    ])];
    for (s, blob, _) in &present {
        let key = format!("mlp:{}", s.backend);
        let mut words: Vec<&[u8]> = vec![b"AI.MODELSTORE", key.as_bytes(), s.backend.as_bytes()];
        words.push(b"CPU");
        let (n_in, n_out) = (s.inputs.len().to_string(), s.outputs.len().to_string());
        if !s.inputs.is_empty() {
            words.extend([b"INPUTS".as_slice(), n_in.as_bytes()]);
            words.extend(s.inputs.iter().map(|n| n.as_bytes()));
            words.extend([b"OUTPUTS".as_slice(), n_out.as_bytes()]);
            words.extend(s.outputs.iter().map(|n| n.as_bytes()));
        }
        words.extend([b"BLOB".as_slice(), blob]);
        setup.push(encode(&words));
    }
    crate::models::setup(port, &setup);
    let execute = |backend: &str| {
        let key = format!("mlp:{backend}");
        move |_: usize| {
            encode(&[
                b"AI.MODELEXECUTE",
                key.as_bytes(),
                b"INPUTS",
                b"1",
                b"x",
                b"OUTPUTS",
                b"1",
                b"y",
            ])
        }
    };
    // Warm-up: sessions, per-worker engine state, the output key.
    for (s, _, p) in &present {
        measure(port, 1, 1, 0.2, &execute(s.backend));
        p.micros_per_run(&x, 0.1);
    }
    let seconds = (cfg.seconds / 2.0).max(0.1);
    let default_limit = crate::command(port, &[b"CONFIG", b"GET", b"ai.inline_max_us"]);
    let default_limit = default_limit.lines().last().unwrap_or("50").to_string();
    // Per backend: in-process µs; queued RTT, PING, overhead, ratio; default RTT, PING,
    // overhead, ratio, inline share; each taken within a round.
    let mut results: Vec<[Vec<f64>; 10]> = present.iter().map(|_| Default::default()).collect();
    for _ in 0..cfg.rounds {
        for ((s, _, p), r) in present.iter().zip(&mut results) {
            let commands = [encode(&[b"PING"]), execute(s.backend)(0)];
            let plugin_us = p.micros_per_run(&x, seconds);
            r[0].push(plugin_us);
            for (limit, at) in [("0", 1), (default_limit.as_str(), 5)] {
                set_inline_max_us(port, limit);
                let before = run_counts(port);
                let rtt = interleaved_round_trips(port, &commands, seconds);
                let after = run_counts(port);
                let (ping_us, exec_us) = (rtt[0], rtt[1]);
                r[at].push(exec_us);
                r[at + 1].push(ping_us);
                r[at + 2].push(exec_us - ping_us - plugin_us);
                r[at + 3].push(exec_us / (ping_us + plugin_us));
                if at == 5 {
                    let (inline, queued) = (after.0 - before.0, after.1 - before.1);
                    r[9].push(inline as f64 / (inline + queued).max(1) as f64);
                }
            }
        }
    }
    set_inline_max_us(port, &default_limit);
    println!(
        "{} rounds of {seconds} s per measure; per round the median of single calls (PING and \
         AI.MODELEXECUTE alternating on one connection), then the median over the rounds of each \
         figure, difference and ratio; one intra-op thread",
        cfg.rounds
    );
    println!();
    println!(
        "| backend (engine) | plugin in-process, µs | queued: MODELEXECUTE RTT, µs | PING RTT, µs | \
         **overhead** (RTT − PING − in-process), µs | RTT / (PING + in-process) | \
         ai.inline_max_us {default_limit}: MODELEXECUTE RTT, µs | PING RTT, µs | **overhead**, µs | \
         RTT / (PING + in-process) | share of calls run inline |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for ((s, _, p), r) in present.iter().zip(&mut results) {
        let m: Vec<f64> = r.iter_mut().map(|v| median(v)).collect();
        println!(
            "| {} ({}) | {:.1} | {:.1} | {:.1} | **{:.1}** | {:.2} | {:.1} | {:.1} | **{:.1}** | {:.2} | {:.0} % |",
            s.backend,
            p.engine,
            m[0],
            m[1],
            m[2],
            m[3],
            m[4],
            m[5],
            m[6],
            m[7],
            m[8],
            m[9] * 100.0
        );
    }
}
