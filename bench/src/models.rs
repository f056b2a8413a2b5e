//! Model serving against ONNX Runtime in-process, on the test models (tests/models).
//!
//! Overhead per call: one client sends AI.MODELEXECUTE and waits for the reply, again and
//! again. Its round trip holds the network and event-loop cost that any Redis command pays
//! (measured as PING's round trip), the model's own run (measured by running the same model
//! file with ONNX Runtime in this process, with the same session options as the plugin), and
//! what redisai adds: parsing, snapshotting the input, the hand-off to a worker thread and
//! back, storing the output. That last part is the overhead reported:
//!
//!     overhead = RTT(AI.MODELEXECUTE) - RTT(PING) - t(ONNX Runtime run)
//!
//! Two thread hand-offs are part of that overhead by design (the main thread must not run
//! models): a condition variable wakes the worker, and Redis's blocked-client pipe wakes the
//! main thread. What those cost is a property of the machine (a few µs on bare metal, tens
//! in some VMs), so the same two hand-offs are timed between two threads of this process and
//! reported beside the overhead, and what is left is what redisai's own code costs.
//!
//! DAG: one AI.DAGEXECUTE doing TENSORSET + MODELEXECUTE + TENSORGET against the same three
//! as separate commands, sent one by one (a round trip each) or pipelined.
//!
//! Throughput: 64 clients each run a model on a one-row input of their own, against the model
//! stored without BATCHSIZE and stored with BATCHSIZE 64: the MLP, whose run is cheaper than
//! the command around it, and `wide` (two 1024-wide layers), whose run is not.
//!
//! Small models against GET: 32 clients (one command each at a time, as redis-benchmark
//! sends them) run AI.MODELEXECUTE of `addmul` on 2×2 inputs, or GET a small string, with
//! every run handed to a worker (`ai.inline_max_us 0`) and with the default, under which a
//! model this small runs in the command itself; the four alternate within each round.

use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use ort::value::TensorRef;

use crate::{
    encode, measure, measure_units, median, run_counts, set_inline_max_us, skip_reply, Config,
    Sending, Server,
};

const THROUGHPUT_CLIENTS: usize = 64;
/// The engine release the plugin checks for (`backends/onnx`).
const ORT_LIB: &str = "libonnxruntime.so.1.31.1";

pub(crate) fn models_dir() -> PathBuf {
    std::env::var_os("REDISAI_TEST_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/test-models"))
}

/// The ONNX Runtime library the server's plugin loads: the one beside the module.
fn ort_library(cfg: &Config) -> PathBuf {
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    Path::new(&cfg.module)
        .parent()
        .unwrap_or(Path::new("."))
        .join(ORT_LIB)
}

/// Sends commands one by one and fails on the first error reply.
pub(crate) fn setup(port: u16, commands: &[Vec<u8>]) {
    let mut w = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let mut r = BufReader::new(w.try_clone().expect("clone"));
    let mut line = Vec::new();
    for c in commands {
        w.write_all(c).expect("write");
        if let Err(e) = skip_reply(&mut r, &mut line) {
            panic!("benchmark set-up failed: {e}");
        }
    }
}

/// Runs of the MLP in this process, per second, with the plugin's session options.
struct InProcess {
    session: Session,
}

impl InProcess {
    fn new(cfg: &Config, model: &[u8]) -> Result<InProcess, String> {
        let lib = ort_library(cfg);
        if !lib.exists() {
            return Err(format!("{} not found (run `make deps`)", lib.display()));
        }
        let env = ort::init_from(&lib)
            .map_err(|e| e.to_string())?
            .with_name("bench")
            .build()
            .map_err(|e| e.to_string())?;
        let err = |e: String| format!("ONNX Runtime: {e}");
        let session = Session::builder(&env)
            .map_err(|e| err(e.to_string()))?
            .with_optimization_level(GraphOptimizationLevel::Level1)
            .map_err(|e| err(e.to_string()))?
            .with_intra_threads(1)
            .map_err(|e| err(e.to_string()))?
            .commit_from_memory(model)
            .map_err(|e| err(e.to_string()))?;
        Ok(InProcess { session })
    }

    fn runs_per_second(&mut self, x: &[f32], seconds: f64) -> f64 {
        let shape = [1i64, 4];
        let mut n = 0u64;
        let mut sink = 0f32;
        let start = Instant::now();
        let until = start + Duration::from_secs_f64(seconds);
        while Instant::now() < until {
            // Per run, as the plugin does: a view of the input bytes, the run, a read of the
            // output.
            for _ in 0..64 {
                let input = TensorRef::from_array_view((&shape[..], x)).expect("input");
                let out = self.session.run(ort::inputs![input]).expect("run");
                let (_, probs) = out[0].try_extract_tensor::<f32>().expect("output");
                sink += probs[0];
            }
            n += 64;
        }
        std::hint::black_box(sink);
        n as f64 / start.elapsed().as_secs_f64()
    }
}

/// Round trips per second of the hand-offs AI.MODELEXECUTE makes: one thread wakes another
/// through a condition variable; that one answers through a pipe the first waits on with
/// poll (as Redis's event loop waits on its blocked-client pipe).
fn handoff_round_trips_per_second(seconds: f64) -> f64 {
    use std::sync::{Arc, Condvar, Mutex};
    let mut fds = [0i32; 2];
    // SAFETY: `fds` has room for the two descriptors pipe() writes.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        panic!("pipe: {}", std::io::Error::last_os_error());
    }
    let (read_fd, write_fd) = (fds[0], fds[1]);
    let turn = Arc::new((Mutex::new(0u64), Condvar::new()));
    let other = turn.clone();
    let worker = std::thread::spawn(move || {
        let (lock, wake) = &*other;
        let mut seen = 0u64;
        loop {
            let mut n = lock.lock().expect("lock");
            while *n == seen {
                n = wake.wait(n).expect("wait");
            }
            seen = *n;
            drop(n);
            if seen == u64::MAX {
                return;
            }
            // SAFETY: writes one byte from a live buffer to our pipe.
            unsafe { libc::write(write_fd, b"A".as_ptr().cast(), 1) };
        }
    });
    let (lock, wake) = &*turn;
    let mut count = 0u64;
    let start = Instant::now();
    let until = start + Duration::from_secs_f64(seconds);
    let mut byte = 0u8;
    while Instant::now() < until {
        count += 1;
        *lock.lock().expect("lock") = count;
        wake.notify_one();
        let mut pfd = libc::pollfd {
            fd: read_fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd; then a one-byte read into a live byte.
        unsafe {
            libc::poll(&mut pfd, 1, -1);
            libc::read(read_fd, (&mut byte as *mut u8).cast(), 1);
        }
    }
    let rate = count as f64 / start.elapsed().as_secs_f64();
    *lock.lock().expect("lock") = u64::MAX;
    wake.notify_one();
    let _ = worker.join();
    // SAFETY: both descriptors are ours and no longer used.
    unsafe {
        libc::close(read_fd);
        libc::close(write_fd);
    }
    rate
}

/// `AI.MODELEXECUTE model INPUTS 1 x OUTPUTS 1 y`, encoded.
pub(crate) fn modelexecute(model: &str, x: &str, y: &str) -> Vec<u8> {
    encode(&[
        b"AI.MODELEXECUTE",
        model.as_bytes(),
        b"INPUTS",
        b"1",
        x.as_bytes(),
        b"OUTPUTS",
        b"1",
        y.as_bytes(),
    ])
}

/// A model of the tests and a one-row input for it.
struct Subject {
    name: &'static str,
    blob: Vec<u8>,
    row: Vec<f32>,
}

impl Subject {
    fn load(name: &'static str, features: usize) -> Result<Subject, String> {
        let path = models_dir().join(format!("{name}.onnx"));
        let blob = std::fs::read(&path).map_err(|e| {
            format!(
                "{}: {e} (run `make models`, or set REDISAI_TEST_MODELS)",
                path.display()
            )
        })?;
        let row = (0..features).map(|i| (i as f32 * 0.37).sin()).collect();
        Ok(Subject { name, blob, row })
    }

    /// Stores the model unbatched as `NAME` and batched as `NAME:batched`, and a one-row
    /// input `NAME:x:i` for each client. The batched model waits up to 1 ms for 16 rows:
    /// with the server on one CPU, a worker woken by the first job would otherwise run
    /// before the main thread has queued the next one, and batches would stay small.
    fn setup(&self, port: u16) {
        let batched = format!("{}:batched", self.name);
        let mut commands = vec![
            encode(&[
                b"AI.MODELSTORE",
                self.name.as_bytes(),
                b"ONNX",
                b"CPU",
                b"BLOB",
                &self.blob,
            ]),
            encode(&[
                b"AI.MODELSTORE",
                batched.as_bytes(),
                b"ONNX",
                b"CPU",
                b"BATCHSIZE",
                b"64",
                b"MINBATCHSIZE",
                b"16",
                b"MINBATCHTIMEOUT",
                b"1",
                b"BLOB",
                &self.blob,
            ]),
        ];
        let bytes: Vec<u8> = self.row.iter().flat_map(|v| v.to_le_bytes()).collect();
        let features = self.row.len().to_string();
        for i in 0..THROUGHPUT_CLIENTS {
            let key = format!("{}:x:{i}", self.name);
            commands.push(encode(&[
                b"AI.TENSORSET",
                key.as_bytes(),
                b"FLOAT",
                b"1",
                features.as_bytes(),
                b"BLOB",
                &bytes,
            ]));
        }
        setup(port, &commands);
    }

    /// Client `i`'s AI.MODELEXECUTE of the unbatched or the batched model.
    fn execute(&self, batched: bool) -> impl Fn(usize) -> Vec<u8> + Sync + '_ {
        move |i: usize| {
            let model = if batched {
                format!("{}:batched", self.name)
            } else {
                self.name.to_string()
            };
            let (x, y) = (
                format!("{}:x:{i}", self.name),
                format!("{}:y:{i}", self.name),
            );
            modelexecute(&model, &x, &y)
        }
    }
}

pub fn run(cfg: &Config) {
    println!("redisai model benchmark: the ONNX backend on the test models");
    let subjects = match Subject::load("mlp", 4).and_then(|m| Ok((m, Subject::load("wide", 256)?)))
    {
        Ok((mlp, wide)) => [mlp, wide],
        Err(e) => {
            println!("SKIPPED: {e}");
            return;
        }
    };
    let mlp = &subjects[0];
    let mut in_process = match InProcess::new(cfg, &mlp.blob) {
        Ok(s) => s,
        Err(e) => {
            println!("SKIPPED: ONNX Runtime in-process: {e}");
            return;
        }
    };
    // One intra-op thread on both sides: the server is pinned to one CPU, where more threads
    // only take turns.
    let server = Server::start(cfg, &["INTRA_OP_PARALLELISM", "1"]);
    let port = server.port;
    for s in &subjects {
        s.setup(port);
    }
    let ping = |_: usize| encode(&[b"PING"]);
    let one_call = mlp.execute(false);
    let row: Vec<u8> = mlp.row.iter().flat_map(|v| v.to_le_bytes()).collect();
    // One DAG against the same three steps as separate commands.
    let dag = |_: usize| {
        vec![encode(&[
            b"AI.DAGEXECUTE",
            b"ROUTING",
            b"x",
            b"|>",
            b"AI.TENSORSET",
            b"in",
            b"FLOAT",
            b"1",
            b"4",
            b"BLOB",
            &row,
            b"|>",
            b"AI.MODELEXECUTE",
            b"mlp",
            b"INPUTS",
            b"1",
            b"in",
            b"OUTPUTS",
            b"1",
            b"out",
            b"|>",
            b"AI.TENSORGET",
            b"out",
            b"BLOB",
        ])]
    };
    let three = |i: usize| {
        let (x, y) = (format!("dag:x:{i}"), format!("dag:y:{i}"));
        vec![
            encode(&[
                b"AI.TENSORSET",
                x.as_bytes(),
                b"FLOAT",
                b"1",
                b"4",
                b"BLOB",
                &row,
            ]),
            modelexecute("mlp", &x, &y),
            encode(&[b"AI.TENSORGET", y.as_bytes(), b"BLOB"]),
        ]
    };
    // Per client count: DAGs/s, three commands one by one /s, three pipelined /s.
    let mut dags: Vec<[Vec<f64>; 3]> = vec![Default::default(), Default::default()];
    // Warm-up: sessions, allocator, the output keys.
    for s in &subjects {
        measure(port, THROUGHPUT_CLIENTS, 1, 0.2, &s.execute(false));
        measure(port, THROUGHPUT_CLIENTS, 1, 0.2, &s.execute(true));
    }
    in_process.runs_per_second(&mlp.row, 0.2);

    let (mut rtt_ping, mut rtt_exec, mut t_ort, mut overheads, mut handoffs) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    // What any command costs at this concurrency: the ceiling for AI.MODELEXECUTE.
    let mut ceiling = Vec::new();
    // Per subject: unbatched runs/s, batched runs/s, ratios.
    let mut throughput: Vec<[Vec<f64>; 3]> = subjects.iter().map(|_| Default::default()).collect();
    for _ in 0..cfg.rounds {
        let p = 1e6 / measure(port, 1, 1, cfg.seconds, &ping);
        let e = 1e6 / measure(port, 1, 1, cfg.seconds, &one_call);
        let o = 1e6 / in_process.runs_per_second(&mlp.row, cfg.seconds);
        rtt_ping.push(p);
        rtt_exec.push(e);
        t_ort.push(o);
        overheads.push(e - p - o);
        handoffs.push(1e6 / handoff_round_trips_per_second(cfg.seconds));
        ceiling.push(measure(port, THROUGHPUT_CLIENTS, 1, cfg.seconds, &ping));
        for (clients, d) in [1, THROUGHPUT_CLIENTS].into_iter().zip(&mut dags) {
            d[0].push(measure_units(
                port,
                clients,
                cfg.seconds,
                &dag,
                Sending::Together,
            ));
            d[1].push(measure_units(
                port,
                clients,
                cfg.seconds,
                &three,
                Sending::OneByOne,
            ));
            d[2].push(measure_units(
                port,
                clients,
                cfg.seconds,
                &three,
                Sending::Together,
            ));
        }
        for (s, t) in subjects.iter().zip(&mut throughput) {
            let u = measure(port, THROUGHPUT_CLIENTS, 1, cfg.seconds, &s.execute(false));
            let b = measure(port, THROUGHPUT_CLIENTS, 1, cfg.seconds, &s.execute(true));
            t[0].push(u);
            t[1].push(b);
            t[2].push(b / u);
        }
    }
    println!(
        "{} rounds of {} s; medians over the rounds, each difference or ratio taken within a round",
        cfg.rounds, cfg.seconds
    );
    println!();
    println!("| MLP, one client, one call at a time | µs per call |");
    println!("|---|---|");
    println!("| PING round trip | {:.1} |", median(&mut rtt_ping));
    println!(
        "| AI.MODELEXECUTE round trip | {:.1} |",
        median(&mut rtt_exec)
    );
    println!(
        "| ONNX Runtime in-process run | {:.1} |",
        median(&mut t_ort)
    );
    println!(
        "| **overhead** = MODELEXECUTE − PING − in-process | **{:.1}** (target <= 15) |",
        median(&mut overheads)
    );
    println!(
        "| for scale: two bare thread hand-offs on this machine (condvar there, pipe back) | {:.1} |",
        median(&mut handoffs)
    );
    println!();
    println!(
        "| {THROUGHPUT_CLIENTS} clients, one-row inputs | unbatched runs/s | BATCHSIZE 64 MINBATCHSIZE 16 MINBATCHTIMEOUT 1 runs/s | batched / unbatched |"
    );
    println!("|---|---|---|---|");
    println!(
        "| (PING, the ceiling for any command) | {:.0} | | |",
        median(&mut ceiling)
    );
    for (s, t) in subjects.iter().zip(&mut throughput) {
        let [u, b, r] = t;
        let target = if s.name == "mlp" {
            " (target >= 4)"
        } else {
            ""
        };
        println!(
            "| {} | {:.0} | {:.0} | **{:.2}**{target} |",
            s.name,
            median(u),
            median(b),
            median(r)
        );
    }
    println!();
    small_models_against_get(cfg, port);
    println!();
    println!(
        "| TENSORSET + MODELEXECUTE (MLP) + TENSORGET | one AI.DAGEXECUTE /s | three commands, one by one /s | three commands, pipelined /s | DAG / one by one | DAG / pipelined |"
    );
    println!("|---|---|---|---|---|---|");
    for (clients, d) in [1, THROUGHPUT_CLIENTS].into_iter().zip(&mut dags) {
        let [dag, one, piped] = d;
        let (dag, one, piped) = (median(dag), median(one), median(piped));
        println!(
            "| {clients} client{} | {dag:.0} | {one:.0} | {piped:.0} | **{:.2}** | **{:.2}** |",
            if clients == 1 { "" } else { "s" },
            dag / one,
            dag / piped
        );
    }
}

/// `--suites inline`: only the small-model table below, on a server of its own.
pub fn inline_suite(cfg: &Config) {
    let server = Server::start(cfg, &["INTRA_OP_PARALLELISM", "1"]);
    small_models_against_get(cfg, server.port);
}

/// AI.MODELEXECUTE of a 2×2 ONNX model against GET, 32 clients, queued and inline.
fn small_models_against_get(cfg: &Config, port: u16) {
    let Ok(blob) = std::fs::read(models_dir().join("addmul.onnx")) else {
        println!("SKIPPED: no addmul.onnx (run `make models`)");
        return;
    };
    let clients = cfg.clients;
    let two_by_two: Vec<u8> = [1f32, 2.0, 3.0, 4.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let mut commands = vec![
        encode(&[b"AI.MODELSTORE", b"addmul", b"ONNX", b"CPU", b"BLOB", &blob]),
        encode(&[b"SET", b"small", b"0123456789abcdef"]),
    ];
    for i in 0..clients {
        for side in ["a", "b"] {
            let key = format!("{side}:{i}");
            commands.push(encode(&[
                b"AI.TENSORSET",
                key.as_bytes(),
                b"FLOAT",
                b"2",
                b"2",
                b"BLOB",
                &two_by_two,
            ]));
        }
    }
    setup(port, &commands);
    let get = |_: usize| encode(&[b"GET", b"small"]);
    let execute = |i: usize| {
        let (a, b, s, p) = (
            format!("a:{i}"),
            format!("b:{i}"),
            format!("s:{i}"),
            format!("p:{i}"),
        );
        encode(&[
            b"AI.MODELEXECUTE",
            b"addmul",
            b"INPUTS",
            b"2",
            a.as_bytes(),
            b.as_bytes(),
            b"OUTPUTS",
            b"2",
            s.as_bytes(),
            p.as_bytes(),
        ])
    };
    let default_limit = crate::command(port, &[b"CONFIG", b"GET", b"ai.inline_max_us"]);
    let default_limit = default_limit.lines().last().unwrap_or("50").to_string();
    // Warm-up: the session, the output keys, the model's learned time.
    measure(port, clients, 1, 0.3, &execute);
    // redis-benchmark when it is installed (how issue 20 measured it, and a client whose
    // cost is known), else this bench's own load generator. Either runs on the client CPUs.
    let tool = redis_benchmark_works(port);
    let requests = (40_000.0 * cfg.seconds) as u64;
    let get_rate = || match tool {
        true => redis_benchmark(port, clients, requests, &["GET", "small"]),
        false => measure(port, clients, 1, cfg.seconds, &get),
    };
    let execute_rate = || match tool {
        // Every client writes the same two output keys: redis-benchmark sends one command.
        true => redis_benchmark(
            port,
            clients,
            requests,
            &[
                "AI.MODELEXECUTE",
                "addmul",
                "INPUTS",
                "2",
                "a:0",
                "b:0",
                "OUTPUTS",
                "2",
                "s",
                "p",
            ],
        ),
        false => measure(port, clients, 1, cfg.seconds, &execute),
    };
    // Per mode (queued, default): GET/s, MODELEXECUTE/s, ratio, share inline.
    let mut r: [[Vec<f64>; 4]; 2] = Default::default();
    let mut gain = Vec::new();
    for _ in 0..cfg.rounds {
        let mut rates = [0f64; 2];
        for (mode, limit) in [(0, "0"), (1, default_limit.as_str())] {
            set_inline_max_us(port, limit);
            let g = get_rate();
            let before = run_counts(port);
            let e = execute_rate();
            let after = run_counts(port);
            let (inline, queued) = (after.0 - before.0, after.1 - before.1);
            r[mode][0].push(g);
            r[mode][1].push(e);
            r[mode][2].push(e / g);
            r[mode][3].push(inline as f64 / (inline + queued).max(1) as f64);
            rates[mode] = e;
        }
        gain.push(rates[1] / rates[0]);
    }
    set_inline_max_us(port, &default_limit);
    println!(
        "load generator: {}",
        if tool {
            "redis-benchmark (no pipelining)"
        } else {
            "this bench's (redis-benchmark not found)"
        }
    );
    println!(
        "| AI.MODELEXECUTE addmul (2×2 FLOAT in, two 2×2 out), {clients} clients | GET ops/s | \
         AI.MODELEXECUTE ops/s | MODELEXECUTE ÷ GET | share run inline |"
    );
    println!("|---|---|---|---|---|");
    for (mode, name) in [
        (0, "queued (ai.inline_max_us 0, as before)".to_string()),
        (1, format!("ai.inline_max_us {default_limit} (default)")),
    ] {
        let m: Vec<f64> = r[mode].iter_mut().map(|v| median(v)).collect();
        println!(
            "| {name} | {:.0} | {:.0} | **{:.2}** (target >= 0.8) | {:.0} % |",
            m[0],
            m[1],
            m[2],
            m[3] * 100.0
        );
    }
    println!(
        "| default ÷ queued, AI.MODELEXECUTE ops/s | | **{:.2}** | | |",
        median(&mut gain)
    );
}

/// Whether `redis-benchmark` runs here.
fn redis_benchmark_works(port: u16) -> bool {
    std::process::Command::new("redis-benchmark")
        .args(["-p", &port.to_string(), "-n", "10", "-q", "PING"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Requests per second of `command` from `clients` redis-benchmark connections.
fn redis_benchmark(port: u16, clients: usize, requests: u64, command: &[&str]) -> f64 {
    let out = std::process::Command::new("redis-benchmark")
        .args(["-p", &port.to_string(), "-c", &clients.to_string()])
        .args(["-n", &requests.to_string(), "-q"])
        .args(command)
        .output()
        .expect("redis-benchmark");
    let text = String::from_utf8_lossy(&out.stdout);
    // "...: 56285.18 requests per second, p50=0.287 msec" (the last line; \r-separated
    // progress lines come before it).
    text.rsplit(['\r', '\n'])
        .find_map(|l| l.split(": ").nth(1)?.split(' ').next()?.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("redis-benchmark {command:?}: {text}"))
}
