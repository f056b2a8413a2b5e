//! A small Redis load generator for `bench/search_bench.py`: the same client for RediSearch and
//! for this module, fast enough that the server, not the client, is what saturates.
//!
//! `loadgen <port> <commands-file> <connections> <pipeline> <seconds>`
//!
//! The file holds commands already encoded as RESP arrays of bulk strings, back to back (binary
//! arguments such as vector blobs travel as they are; no NUL restriction). Each connection is a
//! thread with a blocking socket that keeps `pipeline` commands in flight:
//!
//! - `seconds` = 0: every command is sent exactly once, connection `j` taking commands
//!   `j, j + C, j + 2C, ...` (ingest);
//! - `seconds` > 0: connection `j` cycles through the commands from offset `j * len / C` until
//!   `seconds` have passed, then collects what is still in flight (queries).
//!
//! Prints one JSON object: commands completed, wall seconds, error replies (and the first
//! one's text), latency percentiles in microseconds (meaningful with `pipeline` = 1), and the
//! mean of the first integer of array replies (FT.SEARCH's total: a check that two engines
//! matched the same number of documents).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Splits the file into its commands (each one complete RESP array).
fn split_commands(buf: &[u8]) -> Vec<&[u8]> {
    fn line(buf: &[u8], at: usize) -> (i64, usize) {
        let end = at
            + buf[at..]
                .windows(2)
                .position(|w| w == b"\r\n")
                .expect("CRLF");
        let n = std::str::from_utf8(&buf[at + 1..end])
            .expect("header")
            .parse()
            .expect("number");
        (n, end + 2)
    }
    let mut out = Vec::new();
    let mut at = 0;
    while at < buf.len() {
        assert_eq!(buf[at], b'*', "a command must be a RESP array");
        let start = at;
        let (n, mut p) = line(buf, at);
        for _ in 0..n {
            assert_eq!(buf[p], b'$', "arguments must be bulk strings");
            let (len, q) = line(buf, p);
            p = q + len as usize + 2;
        }
        out.push(&buf[start..p]);
        at = p;
    }
    out
}

#[derive(Default)]
struct Reply {
    error: Option<String>,
    first_int: Option<i64>,
}

/// Reads one complete reply (RESP2 and RESP3 types).
fn read_reply(r: &mut BufReader<TcpStream>, line: &mut Vec<u8>, top: bool, out: &mut Reply) {
    line.clear();
    let n = r.read_until(b'\n', line).expect("read");
    assert!(n >= 3, "connection closed");
    let kind = line[0];
    let body = &line[1..line.len() - 2];
    let num = || -> i64 {
        std::str::from_utf8(body)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    };
    match kind {
        b'+' | b',' | b'#' | b'_' | b'(' => {}
        b':' => {
            if out.first_int.is_none() && !top {
                out.first_int = Some(num());
            }
        }
        b'-' => {
            if top {
                out.error = Some(String::from_utf8_lossy(body).into_owned());
            }
        }
        b'$' | b'=' | b'!' => {
            let len = num();
            if kind == b'!' && top {
                out.error = Some("blob error".into());
            }
            if len >= 0 {
                let mut skip = vec![0u8; len as usize + 2];
                std::io::Read::read_exact(r, &mut skip).expect("read bulk");
            }
        }
        b'*' | b'~' | b'>' | b'%' | b'|' => {
            let mut items = num();
            if kind == b'%' || kind == b'|' {
                items *= 2;
            }
            for _ in 0..items.max(0) {
                read_reply(r, line, false, out);
            }
        }
        other => panic!("unexpected reply type {:?}", other as char),
    }
}

struct Outcome {
    done: u64,
    errors: u64,
    first_error: Option<String>,
    latencies_us: Vec<u32>,
    int_sum: i64,
    int_count: u64,
}

fn run_connection(
    port: u16,
    cmds: &[&[u8]],
    mine: Vec<usize>,
    pipeline: usize,
    deadline: Option<Instant>,
) -> Outcome {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let mut w = stream.try_clone().expect("clone");
    let mut r = BufReader::with_capacity(1 << 16, stream);
    let mut line = Vec::with_capacity(256);
    let mut out = Outcome {
        done: 0,
        errors: 0,
        first_error: None,
        latencies_us: Vec::new(),
        int_sum: 0,
        int_count: 0,
    };
    let mut sent_at = std::collections::VecDeque::with_capacity(pipeline);
    let mut next = 0usize;
    let mut batch = Vec::with_capacity(1 << 16);
    loop {
        let more = match deadline {
            Some(d) => Instant::now() < d,
            None => next < mine.len(),
        };
        // Top up the pipeline in one write.
        batch.clear();
        while more && sent_at.len() < pipeline && (deadline.is_some() || next < mine.len()) {
            batch.extend_from_slice(cmds[mine[next % mine.len()]]);
            next += 1;
            sent_at.push_back(Instant::now());
        }
        if !batch.is_empty() {
            w.write_all(&batch).expect("write");
        }
        if sent_at.is_empty() {
            break;
        }
        let mut rep = Reply::default();
        read_reply(&mut r, &mut line, true, &mut rep);
        let t0 = sent_at.pop_front().expect("in flight");
        out.latencies_us
            .push(t0.elapsed().as_micros().min(u32::MAX as u128) as u32);
        out.done += 1;
        if let Some(e) = rep.error {
            out.errors += 1;
            out.first_error.get_or_insert(e);
        }
        if let Some(i) = rep.first_int {
            out.int_sum += i;
            out.int_count += 1;
        }
    }
    out
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    if a.len() != 6 {
        eprintln!("usage: loadgen <port> <commands-file> <connections> <pipeline> <seconds>");
        std::process::exit(2);
    }
    let port: u16 = a[1].parse().expect("port");
    let data = std::fs::read(&a[2]).unwrap_or_else(|e| panic!("{}: {e}", a[2]));
    let conns: usize = a[3].parse::<usize>().expect("connections").max(1);
    let pipeline: usize = a[4].parse::<usize>().expect("pipeline").max(1);
    let seconds: f64 = a[5].parse().expect("seconds");
    let data: &'static [u8] = Box::leak(data.into_boxed_slice());
    let cmds: Arc<Vec<&'static [u8]>> = Arc::new(split_commands(data));
    assert!(!cmds.is_empty(), "no commands in {}", a[2]);
    let len = cmds.len();
    let start = Instant::now();
    let deadline = (seconds > 0.0).then(|| start + Duration::from_secs_f64(seconds));
    let handles: Vec<_> = (0..conns)
        .map(|j| {
            let cmds = Arc::clone(&cmds);
            let mine: Vec<usize> = if deadline.is_some() {
                (0..len).map(|i| (i + j * len / conns) % len).collect()
            } else {
                (j..len).step_by(conns).collect()
            };
            std::thread::spawn(move || run_connection(port, &cmds, mine, pipeline, deadline))
        })
        .collect();
    let outs: Vec<Outcome> = handles
        .into_iter()
        .map(|h| h.join().expect("connection thread"))
        .collect();
    let wall = start.elapsed().as_secs_f64();
    let done: u64 = outs.iter().map(|o| o.done).sum();
    let errors: u64 = outs.iter().map(|o| o.errors).sum();
    let first_error = outs.iter().find_map(|o| o.first_error.clone());
    let mut lat: Vec<u32> = outs
        .iter()
        .flat_map(|o| o.latencies_us.iter().copied())
        .collect();
    lat.sort_unstable();
    let pct = |p: f64| -> u32 {
        if lat.is_empty() {
            0
        } else {
            lat[((lat.len() - 1) as f64 * p).round() as usize]
        }
    };
    let int_count: u64 = outs.iter().map(|o| o.int_count).sum();
    let int_sum: i64 = outs.iter().map(|o| o.int_sum).sum();
    let mean_total = if int_count > 0 {
        int_sum as f64 / int_count as f64
    } else {
        -1.0
    };
    let esc = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
    println!(
        "{{\"ops\": {done}, \"secs\": {wall:.6}, \"qps\": {:.3}, \"errors\": {errors}, \
         \"first_error\": {}, \"p50_us\": {}, \"p99_us\": {}, \"mean_total\": {mean_total:.3}, \
         \"connections\": {conns}, \"pipeline\": {pipeline}}}",
        done as f64 / wall,
        first_error.map_or("null".to_string(), |e| format!("\"{}\"", esc(&e))),
        pct(0.5),
        pct(0.99),
    );
}
