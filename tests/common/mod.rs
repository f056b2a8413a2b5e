//! Test harness: every test starts its own redis-server with the module, on a free port, in
//! its own directory, and the server is killed when the handle is dropped.
//!
//! `REDIS_SERVER` picks the server binary (default `redis-server` on PATH; point it at
//! `valkey-server` to run the same tests against Valkey). `REDISAI_MODULE` picks the module
//! (default: the newest of target/release and target/debug `libredisai.so`).
//! `REDISAI_CHECK_MEM` says the server runs under valgrind (`make check-mem`): see [`check_mem`].

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub use redis::Value;

pub fn server_binary() -> String {
    std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".to_string())
}

/// Under valgrind (`make check-mem`) a server starts many times slower, and only one that exits
/// on its own writes its leak report: it gets longer to start and stop, and a dropped server
/// is stopped with SIGTERM rather than killed.
pub fn check_mem() -> bool {
    std::env::var_os("REDISAI_CHECK_MEM").is_some()
}

/// How long a server may take to answer its first PING, or to exit once asked to.
fn patience() -> Duration {
    Duration::from_secs(if check_mem() { 180 } else { 20 })
}

pub fn module_path() -> PathBuf {
    if let Ok(p) = std::env::var("REDISAI_MODULE") {
        return PathBuf::from(p);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let candidates = ["target/release/libredisai.so", "target/debug/libredisai.so"];
    let newest = candidates
        .iter()
        .map(|c| root.join(c))
        .filter_map(|p| p.metadata().and_then(|m| m.modified()).ok().map(|t| (t, p)))
        .max();
    match newest {
        Some((_, p)) => p,
        None => {
            panic!("libredisai.so not found: run `cargo build --release` (or `make build`) first")
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port")
}

static NEXT_DIR: AtomicUsize = AtomicUsize::new(0);

fn fresh_dir() -> PathBuf {
    let n = NEXT_DIR.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("redisai-test-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create test dir");
    dir
}

/// How to start a server.
#[derive(Clone, Debug, Default)]
pub struct Opts {
    /// Arguments after the module path (RedisAI load-time arguments).
    pub module_args: Vec<String>,
    /// Extra server arguments, e.g. `["--appendonly", "yes"]`.
    pub server_args: Vec<String>,
    /// Start without loading the module.
    pub no_module: bool,
}

impl Opts {
    pub fn module_args(mut self, a: &[&str]) -> Self {
        self.module_args = a.iter().map(|s| s.to_string()).collect();
        self
    }
    pub fn server_args(mut self, a: &[&str]) -> Self {
        self.server_args.extend(a.iter().map(|s| s.to_string()));
        self
    }
    pub fn no_module(mut self) -> Self {
        self.no_module = true;
        self
    }
}

pub struct Server {
    child: Option<Child>,
    pub port: u16,
    pub dir: PathBuf,
    opts: Opts,
}

impl Server {
    pub fn start() -> Server {
        Server::with(Opts::default())
    }

    pub fn with(opts: Opts) -> Server {
        Server::try_start(opts, fresh_dir())
            .unwrap_or_else(|log| panic!("server did not start:\n{log}"))
    }

    /// Starts a server; on failure returns the server log.
    pub fn try_start(opts: Opts, dir: PathBuf) -> Result<Server, String> {
        let mut last = String::new();
        for _ in 0..5 {
            let port = free_port();
            let mut cmd = Command::new(server_binary());
            cmd.current_dir(&dir)
                .arg("--port")
                .arg(port.to_string())
                .args(["--bind", "127.0.0.1", "--save", "", "--dir"])
                .arg(&dir)
                .args(["--logfile", "server.log", "--daemonize", "no"])
                .args([
                    "--enable-debug-command",
                    "yes",
                    "--enable-module-command",
                    "yes",
                ]);
            if !opts.no_module {
                cmd.arg("--loadmodule").arg(module_path());
                cmd.args(&opts.module_args);
            }
            cmd.args(&opts.server_args);
            cmd.stdout(Stdio::null()).stderr(Stdio::null());
            let child = cmd
                .spawn()
                .map_err(|e| format!("cannot run {}: {e}", server_binary()))?;
            let mut server = Server {
                child: Some(child),
                port,
                dir: dir.clone(),
                opts: opts.clone(),
            };
            if server.wait_ready(patience()) {
                return Ok(server);
            }
            last = server.log();
            server.kill();
            if !last.contains("Address already in use") {
                return Err(last);
            }
        }
        Err(last)
    }

    fn wait_ready(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(_)) = c.try_wait() {
                    return false;
                }
            }
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                if s.write_all(b"PING\r\n").is_ok() {
                    let mut line = String::new();
                    if BufReader::new(&s).read_line(&mut line).is_ok() && line.starts_with("+PONG")
                    {
                        return true;
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    pub fn client(&self) -> redis::Connection {
        redis::Client::open(self.url())
            .and_then(|c| c.get_connection())
            .expect("connect")
    }

    pub fn client_resp3(&self) -> redis::Connection {
        redis::Client::open(format!("{}?protocol=resp3", self.url()))
            .and_then(|c| c.get_connection())
            .expect("connect")
    }

    /// Stops the server with SHUTDOWN (saving if persistence is on) and waits for it; the
    /// exit status, or None when it had to be killed.
    pub fn shutdown(&mut self) -> Option<std::process::ExitStatus> {
        if let Ok(mut c) = redis::Client::open(self.url()).and_then(|c| c.get_connection()) {
            let _: redis::RedisResult<Value> = redis::cmd("SHUTDOWN").query(&mut c);
        }
        let child = self.child.take()?;
        wait_or_kill(child)
    }

    /// SIGTERM, then waits for the exit (killing after `patience()`), as `make check-mem`
    /// needs: valgrind writes its leak report only when the server exits by itself.
    fn terminate(&mut self) {
        if let Some(child) = self.child.take() {
            // SAFETY: kill(2) on the pid of our own child, which `child` has not reaped.
            unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
            wait_or_kill(child);
        }
    }

    /// Shuts down and starts again in the same directory with the same options.
    pub fn restart(mut self) -> Server {
        self.shutdown();
        let dir = self.dir.clone();
        let opts = self.opts.clone();
        std::mem::forget(self);
        Server::try_start(opts, dir).unwrap_or_else(|log| panic!("server did not restart:\n{log}"))
    }

    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// `used_memory` from INFO.
    pub fn used_memory(&self) -> i64 {
        info_field(&mut self.client(), "memory", "used_memory")
            .parse()
            .expect("used_memory")
    }
}

/// Waits for `child` to exit, killing it after `patience()`: its status, or None if killed.
fn wait_or_kill(mut child: Child) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + patience();
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

impl Drop for Server {
    fn drop(&mut self) {
        if check_mem() {
            self.terminate();
        } else {
            self.kill();
        }
        if std::thread::panicking() {
            eprintln!("server log kept in {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A field of an INFO section.
pub fn info_field(con: &mut redis::Connection, section: &str, field: &str) -> String {
    let info: String = redis::cmd("INFO").arg(section).query(con).expect("INFO");
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in INFO {section}"))
        .trim()
        .to_string()
}

/// Runs a command given as words, returning the reply or the exact error text.
pub fn run(con: &mut redis::Connection, words: &[&[u8]]) -> Result<Value, String> {
    let mut cmd = redis::cmd(std::str::from_utf8(words[0]).expect("command name"));
    for w in &words[1..] {
        cmd.arg(*w);
    }
    cmd.query::<Value>(con).map_err(|e| error_text(&e))
}

/// `AI.TENSORSET key dtype dims... BLOB blob`.
pub fn set_blob(
    con: &mut redis::Connection,
    key: &str,
    dtype: &str,
    dims: &[&str],
    blob: &[u8],
) -> Result<Value, String> {
    let mut words: Vec<&[u8]> = vec![b"AI.TENSORSET", key.as_bytes(), dtype.as_bytes()];
    words.extend(dims.iter().map(|d| d.as_bytes()));
    words.push(b"BLOB");
    words.push(blob);
    run(con, &words)
}

/// The words of a command written as one line (`w("AI.TENSORSET x FLOAT 1 VALUES 2")`), for
/// commands whose arguments hold no spaces.
pub fn w(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

/// `run` with string words.
pub fn exec(con: &mut redis::Connection, words: &[&str]) -> Result<Value, String> {
    let w: Vec<&[u8]> = words.iter().map(|s| s.as_bytes()).collect();
    run(con, &w)
}

/// The error text exactly as the server sent it (after the `-`).
pub fn error_text(e: &redis::RedisError) -> String {
    match (e.code(), e.detail()) {
        (Some(code), Some(detail)) => format!("{code} {detail}"),
        (Some(code), None) => code.to_string(),
        _ => format!("(client error) {e}"),
    }
}

/// Asserts that `words` fails with exactly `expected`.
#[track_caller]
pub fn assert_err(con: &mut redis::Connection, words: &[&str], expected: &str) {
    match exec(con, words) {
        Err(text) => assert_eq!(text, expected, "error text for {words:?}"),
        Ok(v) => panic!("{words:?} succeeded with {v:?}, expected error {expected:?}"),
    }
}

#[track_caller]
pub fn assert_ok(con: &mut redis::Connection, words: &[&str]) {
    match exec(con, words) {
        Ok(Value::Okay) => {}
        other => panic!("{words:?} gave {other:?}, expected OK"),
    }
}

/// Sends raw bytes and reads one raw reply line-wise until `n` bytes arrive or a timeout.
pub fn raw_roundtrip(port: u16, request: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(_) => break,
        }
    }
    out
}

/// The keys in the database, sorted.
pub fn keys(con: &mut redis::Connection) -> Vec<String> {
    let mut k: Vec<String> = redis::cmd("KEYS").arg("*").query(con).expect("KEYS");
    k.sort();
    k
}

/// Bulk string bytes of a reply.
pub fn bytes(v: &Value) -> Vec<u8> {
    match v {
        Value::BulkString(b) => b.clone(),
        Value::SimpleString(s) => s.as_bytes().to_vec(),
        other => panic!("not a string: {other:?}"),
    }
}

/// Elements of an array reply.
pub fn array(v: &Value) -> &[Value] {
    match v {
        Value::Array(a) => a,
        other => panic!("not an array: {other:?}"),
    }
}

/// Waits until `f` is true or panics after `timeout`.
#[track_caller]
pub fn wait_for(timeout: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("timed out waiting for {what}");
}

/// The generated test models (REDISAI_TEST_MODELS, default target/test-models), or why they
/// cannot be used: the ONNX tests need the models, the ONNX plugin and ONNX Runtime beside
/// the module. `make test` provides all three.
pub fn onnx_setup() -> Result<PathBuf, String> {
    let dir = std::env::var("REDISAI_TEST_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-models"));
    if !dir.join("mlp.onnx").exists() {
        return Err(format!(
            "no test models in {} (run `make models`)",
            dir.display()
        ));
    }
    let module_dir = module_path()
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    for f in ["libredisai_onnx.so", "libonnxruntime.so.1.31.1"] {
        if !module_dir.join(f).exists() {
            return Err(format!(
                "{f} is not beside the module in {} (run `make build`)",
                module_dir.display()
            ));
        }
    }
    Ok(dir)
}

/// Returns the models directory, or prints why the test cannot run and returns from it.
#[macro_export]
macro_rules! onnx_or_skip {
    () => {
        match common::onnx_setup() {
            Ok(dir) => dir,
            Err(why) => {
                eprintln!("SKIPPED {}: {why}", module_path!());
                println!("SKIPPED: {why}");
                return;
            }
        }
    };
}

/// The bytes of a generated model.
pub fn model_file(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// `AI.MODELSTORE key ONNX device [options...] BLOB <file>`.
pub fn store_model(
    con: &mut redis::Connection,
    key: &str,
    blob: &[u8],
    options: &[&str],
) -> Result<Value, String> {
    let mut words: Vec<&[u8]> = vec![b"AI.MODELSTORE", key.as_bytes(), b"ONNX", b"CPU"];
    words.extend(options.iter().map(|o| o.as_bytes()));
    words.push(b"BLOB");
    words.push(blob);
    run(con, &words)
}

/// f32 values of a tensor, read with TENSORGET BLOB.
pub fn floats(con: &mut redis::Connection, key: &str) -> Vec<f32> {
    let b = bytes(&exec(con, &["AI.TENSORGET", key, "BLOB"]).expect("TENSORGET"));
    b.chunks_exact(4)
        .map(|c| f32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// AI.INFO as (field, value) pairs.
pub fn ai_info(con: &mut redis::Connection, key: &str) -> Vec<(String, Value)> {
    let v = exec(con, &["AI.INFO", key]).expect("AI.INFO");
    array(&v)
        .chunks(2)
        .map(|p| (String::from_utf8(bytes(&p[0])).unwrap(), p[1].clone()))
        .collect()
}

/// An integer field of AI.INFO.
pub fn ai_info_int(con: &mut redis::Connection, key: &str, field: &str) -> i64 {
    match ai_info(con, key).into_iter().find(|(f, _)| f == field) {
        Some((_, Value::Int(i))) => i,
        other => panic!("AI.INFO {key} {field}: {other:?}"),
    }
}

/// A one-node cluster serving slots 0..8191 only, so keys elsewhere meet CLUSTERDOWN.
pub fn half_cluster() -> (Server, redis::Connection) {
    let s = Server::with(Opts::default().server_args(&[
        "--cluster-enabled",
        "yes",
        "--cluster-config-file",
        "nodes.conf",
        "--cluster-require-full-coverage",
        "no",
    ]));
    let mut c = s.client();
    assert_ok(&mut c, &["CLUSTER", "ADDSLOTSRANGE", "0", "8191"]);
    wait_for(Duration::from_secs(10), "cluster state ok", || {
        let info: String = redis::cmd("CLUSTER").arg("INFO").query(&mut c).unwrap();
        info.contains("cluster_state:ok")
    });
    (s, c)
}

/// The first key names `k0`, `k1`, ... whose slot is served by `half_cluster` (`served`)
/// or not.
pub fn cluster_keys(c: &mut redis::Connection, served: bool, n: usize) -> Vec<String> {
    (0..)
        .map(|i| format!("k{i}"))
        .filter(|k| {
            let slot: i64 = redis::cmd("CLUSTER")
                .arg("KEYSLOT")
                .arg(k)
                .query(c)
                .unwrap();
            (slot < 8192) == served
        })
        .take(n)
        .collect()
}

/// Makes `replica` a replica of `master` and waits until it is in sync.
pub fn replicate_from(master: &Server, replica: &Server) -> redis::Connection {
    let mut r = replica.client();
    assert_ok(
        &mut r,
        &["REPLICAOF", "127.0.0.1", &master.port.to_string()],
    );
    wait_for(Duration::from_secs(20), "replica sync", || {
        info_field(&mut r, "replication", "master_link_status") == "up"
    });
    r
}

/// A small xorshift generator: seeded random commands that are the same every run.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}
