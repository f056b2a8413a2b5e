//! `make bench`: what redisai costs over the plain thing, measured in the same run.
//!
//! - tensors: AI.TENSORSET / AI.TENSORGET BLOB throughput against SET / GET of the same bytes.
//! - models (`models.rs`): the per-call overhead of AI.MODELEXECUTE over running the same ONNX
//!   model with ONNX Runtime in-process, and batched against unbatched throughput.
//! - backends (`backends.rs`): the same per-call overhead for each of the four backends side by
//!   side, over the plugin itself called in-process through its C ABI.
//!
//! The load generator writes pre-encoded commands on raw sockets and only skims the replies,
//! so the client costs the same for both sides of each ratio and stays out of the way of the
//! server. On a machine with two or more CPUs the server is pinned to the first and the
//! clients to the others, so the clients do not steal the server's time. Rounds alternate
//! between baseline and candidate so drift of the machine shows up in both.
//!
//! Usage: redisai-bench [--server PATH] [--module PATH] [--seconds N] [--clients N]
//!                      [--rounds N] [--sizes KiB,KiB]
//!                      [--suites tensors,models,backends,inline,report]
//!                      [--pin no]

mod backends;
mod models;
mod report;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

struct Config {
    server: String,
    module: String,
    seconds: f64,
    clients: usize,
    rounds: usize,
    sizes: Vec<usize>,
    suites: Vec<String>,
    /// Server on the first CPU, clients on the others (`--pin no`: wherever the OS puts
    /// them, for a machine whose CPUs other work shares, where a pinned server competes with
    /// that work on one CPU for all of its threads).
    pin: bool,
}

fn parse_args() -> Config {
    let mut c = Config {
        server: std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".into()),
        module: std::env::var("REDISAI_MODULE")
            .unwrap_or_else(|_| "target/release/libredisai.so".into()),
        seconds: 1.0,
        clients: 32,
        rounds: 7,
        sizes: vec![1024, 256 * 1024],
        suites: vec![
            "tensors".into(),
            "models".into(),
            "backends".into(),
            "report".into(),
        ],
        pin: true,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i + 1 < args.len() {
        let v = args[i + 1].clone();
        match args[i].as_str() {
            "--server" => c.server = v,
            "--module" => c.module = v,
            "--seconds" => c.seconds = v.parse().expect("--seconds"),
            "--clients" => c.clients = v.parse().expect("--clients"),
            "--rounds" => c.rounds = v.parse().expect("--rounds"),
            "--sizes" => {
                c.sizes = v
                    .split(',')
                    .map(|s| s.parse::<usize>().expect("--sizes: KiB,KiB") * 1024)
                    .collect()
            }
            "--suites" => c.suites = v.split(',').map(str::to_string).collect(),
            "--pin" => c.pin = v != "no",
            other => panic!("unknown argument {other}"),
        }
        i += 2;
    }
    c
}

struct Server {
    child: Child,
    port: u16,
    dir: std::path::PathBuf,
}

impl Server {
    /// Starts redis-server with the module (and `module_args` after it) on a free port.
    fn start(cfg: &Config, module_args: &[&str]) -> Server {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let dir = std::env::temp_dir().join(format!("redisai-bench-{}", std::process::id()));
        // The server changes into --dir, so the module path must not be relative.
        let module = std::fs::canonicalize(&cfg.module)
            .unwrap_or_else(|e| panic!("module {}: {e} (run `make build` first)", cfg.module));
        std::fs::create_dir_all(&dir).expect("bench dir");
        let cpus = available_cpus();
        let mut command = if cfg.pin && cpus.len() >= 2 {
            pin_self(&cpus[1..]);
            let mut c = Command::new("taskset");
            c.args(["-c", &cpus[0].to_string(), &cfg.server]);
            c
        } else {
            Command::new(&cfg.server)
        };
        let child = command
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args(["--appendonly", "no", "--logfile", "server.log"])
            .arg("--dir")
            .arg(&dir)
            .arg("--loadmodule")
            .arg(&module)
            .args(module_args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", cfg.server));
        // From here on, Drop kills and reaps the server whatever happens.
        let mut server = Server { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = server.child.try_wait() {
                break;
            }
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
                if s.write_all(b"PING\r\n").is_ok() {
                    let mut line = String::new();
                    if BufReader::new(&s).read_line(&mut line).is_ok() && line.starts_with("+PONG")
                    {
                        return server;
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let log = std::fs::read_to_string(server.dir.join("server.log")).unwrap_or_default();
        drop(server);
        panic!("redis-server did not start:\n{log}");
    }
}

/// CPUs this process may run on.
fn available_cpus() -> Vec<usize> {
    // SAFETY: cpu_set_t is plain data; sched_getaffinity fills it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Vec::new();
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .collect()
    }
}

/// Restricts this process (and the client threads it starts later) to `cpus`.
fn pin_self(cpus: &[usize]) {
    // SAFETY: as above.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for &c in cpus {
            libc::CPU_SET(c, &mut set);
        }
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn encode(words: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", words.len()).into_bytes();
    for w in words {
        out.extend(format!("${}\r\n", w.len()).as_bytes());
        out.extend_from_slice(w);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Reads one reply, returning an error for `-` replies.
fn skip_reply(r: &mut BufReader<TcpStream>, line: &mut Vec<u8>) -> Result<(), String> {
    line.clear();
    r.read_until(b'\n', line).map_err(|e| e.to_string())?;
    match line.first() {
        Some(b'+') | Some(b':') => Ok(()),
        Some(b'-') => Err(String::from_utf8_lossy(line).trim().to_string()),
        Some(b'$') => {
            let n: i64 = std::str::from_utf8(&line[1..])
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .ok_or("bad bulk length")?;
            if n >= 0 {
                let mut left = n as usize + 2;
                let mut buf = [0u8; 65536];
                while left > 0 {
                    let k = r
                        .read(&mut buf[..left.min(65536)])
                        .map_err(|e| e.to_string())?;
                    if k == 0 {
                        return Err("connection closed".into());
                    }
                    left -= k;
                }
            }
            Ok(())
        }
        Some(b'*') => {
            let n: i64 = std::str::from_utf8(&line[1..])
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .ok_or("bad array length")?;
            for _ in 0..n.max(0) {
                skip_reply(r, line)?;
            }
            Ok(())
        }
        _ => Err(format!(
            "unexpected reply {:?}",
            String::from_utf8_lossy(line)
        )),
    }
}

/// Runs `per_client(i)` commands from `clients` connections, `pipeline` at a time, for
/// `seconds`; returns operations per second.
fn measure(
    port: u16,
    clients: usize,
    pipeline: usize,
    seconds: f64,
    per_client: &(dyn Fn(usize) -> Vec<u8> + Sync),
) -> f64 {
    let unit = |i: usize| vec![per_client(i); pipeline];
    pipeline as f64 * measure_units(port, clients, seconds, &unit, Sending::Together)
}

/// How a unit's commands are sent.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sending {
    /// All at once, then all replies are read (pipelined).
    Together,
    /// One at a time, each reply read before the next command is sent.
    OneByOne,
}

/// Runs units of commands (`unit(i)` for client `i`) from `clients` connections for
/// `seconds`; returns units per second.
fn measure_units(
    port: u16,
    clients: usize,
    seconds: f64,
    unit: &(dyn Fn(usize) -> Vec<Vec<u8>> + Sync),
    send: Sending,
) -> f64 {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let barrier = Arc::new(Barrier::new(clients + 1));
    std::thread::scope(|scope| {
        for i in 0..clients {
            let (stop, done, barrier) = (stop.clone(), done.clone(), barrier.clone());
            let commands = unit(i);
            let joined = commands.concat();
            scope.spawn(move || {
                let mut w = TcpStream::connect(("127.0.0.1", port)).expect("connect");
                w.set_nodelay(true).ok();
                let mut r = BufReader::with_capacity(1 << 20, w.try_clone().expect("clone"));
                let mut line = Vec::new();
                let mut reply = |r: &mut BufReader<TcpStream>| {
                    if let Err(e) = skip_reply(r, &mut line) {
                        eprintln!("benchmark command failed: {e}");
                        std::process::exit(1);
                    }
                };
                barrier.wait();
                while !stop.load(Ordering::Relaxed) {
                    if send == Sending::Together {
                        w.write_all(&joined).expect("write");
                        commands.iter().for_each(|_| reply(&mut r));
                    } else {
                        for c in &commands {
                            w.write_all(c).expect("write");
                            reply(&mut r);
                        }
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        barrier.wait();
        let start = Instant::now();
        std::thread::sleep(Duration::from_secs_f64(seconds));
        let n = done.load(Ordering::Relaxed);
        let elapsed = start.elapsed().as_secs_f64();
        stop.store(true, Ordering::Relaxed);
        n as f64 / elapsed
    })
}

/// Sends one command and returns its reply as text: a status line as is, a bulk string's
/// contents, an array's elements one per line (CONFIG GET, INFO).
fn command(port: u16, words: &[&[u8]]) -> String {
    let mut w = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    w.write_all(&encode(words)).expect("write");
    read_text(&mut BufReader::new(w))
}

fn read_text(r: &mut BufReader<TcpStream>) -> String {
    let mut line = String::new();
    r.read_line(&mut line).expect("read");
    let count = |p: &str| {
        line.strip_prefix(p)
            .and_then(|n| n.trim().parse::<i64>().ok())
    };
    if let Some(n) = count("$") {
        let mut body = vec![0u8; n.max(0) as usize + 2];
        r.read_exact(&mut body).expect("read");
        return String::from_utf8_lossy(&body[..n.max(0) as usize]).into_owned();
    }
    if let Some(n) = count("*") {
        return (0..n.max(0))
            .map(|_| read_text(r))
            .collect::<Vec<_>>()
            .join("\n");
    }
    line.trim().to_string()
}

/// Runs made inline and by workers so far (INFO's `ai_runs` section).
fn run_counts(port: u16) -> (u64, u64) {
    let info = command(port, &[b"INFO", b"modules"]);
    let field = |name: &str| {
        info.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    (field("ai_inline_runs"), field("ai_queued_runs"))
}

/// Sets `ai.inline_max_us`.
fn set_inline_max_us(port: u16, us: &str) {
    let r = command(
        port,
        &[b"CONFIG", b"SET", b"ai.inline_max_us", us.as_bytes()],
    );
    assert_eq!(r, "+OK", "CONFIG SET ai.inline_max_us {us}");
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let cfg = parse_args();
    for suite in &cfg.suites {
        match suite.as_str() {
            "tensors" => tensors(&cfg),
            "models" => models::run(&cfg),
            "backends" => backends::run(&cfg),
            // The models suite's small-model table alone.
            "inline" => models::inline_suite(&cfg),
            // The data of target/bench/report.md (bench/report.py draws it).
            "report" => report::run(&cfg),
            other => panic!("unknown suite {other} (tensors, models, backends, inline, report)"),
        }
        println!();
    }
}

fn tensors(cfg: &Config) {
    let server = Server::start(cfg, &[]);
    let port = server.port;
    println!(
        "redisai tensor I/O benchmark: {} clients, {} s per run, {} rounds; ops/s and ratios are \
         medians over the rounds, each ratio taken within one round",
        cfg.clients, cfg.seconds, cfg.rounds
    );
    println!("server: {} with {}", cfg.server, cfg.module);
    println!();
    println!(
        "| payload | pipeline | SET ops/s | AI.TENSORSET ops/s | ratio | GET ops/s | AI.TENSORGET ops/s | ratio |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let mut worst = f64::INFINITY;
    for size in cfg.sizes.clone() {
        // Deep pipelines for small values; for large ones the socket buffers are the limit.
        let pipeline = if size <= 16 * 1024 { 32 } else { 4 };
        let blob: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        let elems = (size / 4).to_string();
        let key = |i: usize| format!("bench:{i}");
        let set = |i: usize| encode(&[b"SET", key(i).as_bytes(), &blob]);
        let tset = |i: usize| {
            let k = format!("tensor:{i}");
            encode(&[
                b"AI.TENSORSET",
                k.as_bytes(),
                b"FLOAT",
                elems.as_bytes(),
                b"BLOB",
                &blob,
            ])
        };
        let get = |i: usize| encode(&[b"GET", key(i).as_bytes()]);
        let tget = |i: usize| {
            let k = format!("tensor:{i}");
            encode(&[b"AI.TENSORGET", k.as_bytes(), b"BLOB"])
        };
        // Every key exists before the first round, whatever order the rounds run in.
        measure(port, cfg.clients, 1, 0.05, &set);
        measure(port, cfg.clients, 1, 0.05, &tset);
        // Each round measures all four back to back; a ratio is taken within a round, so
        // slow drift of the machine cancels, and the median of the rounds is reported.
        let mut ops: [Vec<f64>; 4] = Default::default();
        let (mut set_ratios, mut get_ratios) = (Vec::new(), Vec::new());
        for _ in 0..cfg.rounds {
            let mut round = [0f64; 4];
            for (slot, f) in [
                (0, &set as &(dyn Fn(usize) -> Vec<u8> + Sync)),
                (1, &tset),
                (2, &get),
                (3, &tget),
            ] {
                round[slot] = measure(port, cfg.clients, pipeline, cfg.seconds, f);
                ops[slot].push(round[slot]);
            }
            set_ratios.push(round[1] / round[0]);
            get_ratios.push(round[3] / round[2]);
        }
        let med: Vec<f64> = ops.iter_mut().map(|v| median(v)).collect();
        let set_ratio = median(&mut set_ratios);
        let get_ratio = median(&mut get_ratios);
        worst = worst.min(set_ratio).min(get_ratio);
        println!(
            "| {} KiB | {pipeline} | {:.0} | {:.0} | {:.3} | {:.0} | {:.0} | {:.3} |",
            size / 1024,
            med[0],
            med[1],
            set_ratio,
            med[2],
            med[3],
            get_ratio
        );
    }
    println!();
    println!("lowest ratio: {worst:.3} (target >= 0.95)");
}
