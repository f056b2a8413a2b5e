//! `--suites report`: the measurements behind `target/bench/report.md` (issue 20, part 6),
//! written as JSON for `bench/report.py` to draw.
//!
//! - latency: single calls from one connection, commands interleaved call by call so the
//!   machine's drift hits each alike: PING, GET and AI.MODELEXECUTE of the tests' MLP through
//!   ONNX and TORCH, as served by default (small models run in the command) and with every
//!   run queued (`ai.inline_max_us 0`).
//! - throughput against the number of clients, for the same commands.
//! - the batching curve: the compute-bound `wide` model from 64 one-row clients, over
//!   BATCHSIZE and MINBATCHTIMEOUT, each point against the unbatched model in the same round.
//!
//! Every figure carries the machine it ran on (CPUs, model, load average before and after)
//! and its baseline measured in the same run.

use std::fmt::Write as _;
use std::io::{BufReader, Write};
use std::net::TcpStream;

use crate::backends::round_trips;
use crate::models::{modelexecute, models_dir};
use crate::{encode, measure, median, skip_reply, Config, Server};

const CLIENTS: [usize; 7] = [1, 2, 4, 8, 16, 32, 64];
const BATCH_CLIENTS: usize = 64;
const BATCH_SIZES: [u64; 6] = [2, 4, 8, 16, 32, 64];
/// 0: no MINBATCHSIZE (a batch is whatever is queued when a worker is free); otherwise
/// MINBATCHSIZE = BATCHSIZE, waiting at most this many ms for it.
const BATCH_TIMEOUTS: [u64; 3] = [0, 1, 5];
/// Quantiles kept of each latency distribution (enough for a CDF; the JSON stays small).
const QUANTILES: usize = 400;

/// Sends `commands` in order, stopping at the first error reply.
fn try_setup(port: u16, commands: &[Vec<u8>]) -> Result<(), String> {
    let mut w = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    let mut r = BufReader::new(w.try_clone().map_err(|e| e.to_string())?);
    let mut line = Vec::new();
    for c in commands {
        w.write_all(c).map_err(|e| e.to_string())?;
        skip_reply(&mut r, &mut line)?;
    }
    Ok(())
}

fn quantiles(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return v;
    }
    (0..QUANTILES)
        .map(|i| v[(i * (v.len() - 1)) / (QUANTILES - 1)])
        .collect()
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name")?.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn json_nums(v: &[f64]) -> String {
    let parts: Vec<String> = v.iter().map(|x| format!("{x:.3}")).collect();
    format!("[{}]", parts.join(","))
}

fn tensorset(key: &str, row: &[f32]) -> Vec<u8> {
    let bytes: Vec<u8> = row.iter().flat_map(|v| v.to_le_bytes()).collect();
    let n = row.len().to_string();
    encode(&[
        b"AI.TENSORSET",
        key.as_bytes(),
        b"FLOAT",
        b"1",
        n.as_bytes(),
        b"BLOB",
        &bytes,
    ])
}

pub fn run(cfg: &Config) {
    let out_dir = std::env::var("BENCH_OUT").unwrap_or_else(|_| "target/bench".into());
    let nproc = std::thread::available_parallelism().map_or(1, |n| n.get());
    let load_start = load_average();
    println!("redisai report benchmark (JSON for bench/report.py): load average {load_start}");
    let models = models_dir();
    let read = |p: &str| std::fs::read(models.join(p));
    let (Ok(mlp), Ok(wide)) = (read("mlp.onnx"), read("wide.onnx")) else {
        println!("SKIPPED: test models missing (run `make models`)");
        return;
    };
    let server = Server::start(cfg, &["INTRA_OP_PARALLELISM", "1"]);
    let port = server.port;
    let mlp_row: Vec<f32> = (0..4).map(|i| (i as f32 * 0.37).sin()).collect();
    let wide_row: Vec<f32> = (0..256).map(|i| (i as f32 * 0.37).sin()).collect();
    let mut setup = vec![
        encode(&[b"SET", b"get:key", b"0123456789abcdef"]),
        encode(&[
            b"AI.MODELSTORE",
            b"mlp:ONNX",
            b"ONNX",
            b"CPU",
            b"BLOB",
            &mlp,
        ]),
        encode(&[b"AI.MODELSTORE", b"wide", b"ONNX", b"CPU", b"BLOB", &wide]),
    ];
    for i in 0..BATCH_CLIENTS {
        setup.push(tensorset(&format!("mlp:x:{i}"), &mlp_row));
        setup.push(tensorset(&format!("wide:x:{i}"), &wide_row));
    }
    try_setup(port, &setup).expect("set-up");
    // TORCH beside ONNX when its plugin and fixture are there.
    let mut engines = vec!["ONNX"];
    match read("torch/mlp.pt")
        .map_err(|e| e.to_string())
        .and_then(|pt| {
            try_setup(
                port,
                &[encode(&[
                    b"AI.MODELSTORE",
                    b"mlp:TORCH",
                    b"TORCH",
                    b"CPU",
                    b"BLOB",
                    &pt,
                ])],
            )
        }) {
        Ok(()) => engines.push("TORCH"),
        Err(e) => println!("TORCH left out: {e}"),
    }

    // Commands by name, client i using its own input and output keys.
    let command = |name: &str, i: usize| -> Vec<u8> {
        match name {
            "PING" => encode(&[b"PING"]),
            "GET" => encode(&[b"GET", b"get:key"]),
            engine => modelexecute(
                &format!("mlp:{engine}"),
                &format!("mlp:x:{i}"),
                &format!("mlp:y:{engine}:{i}"),
            ),
        }
    };
    let mut names = vec!["PING", "GET"];
    names.extend(&engines);
    // Warm-up: sessions, the learned run times, the output keys.
    for n in &names {
        measure(port, BATCH_CLIENTS, 1, 0.2, &|i| command(n, i));
    }

    // At most three rounds per point: the curves have ~50 points, and `make bench` must stay
    // within minutes; the spread over the rounds is reported beside each ratio.
    let rounds = cfg.rounds.clamp(1, 3);
    let total = cfg.seconds * rounds as f64;
    let mut json = String::from("{\n");
    let _ = writeln!(
        json,
        "\"machine\": {{\"nproc\": {nproc}, \"cpu\": {}, \"load_start\": {}, \"pinned\": {}}},",
        json_str(&cpu_model()),
        json_str(&load_start),
        cfg.pin
    );
    let _ = writeln!(
        json,
        "\"config\": {{\"seconds\": {}, \"rounds\": {}}},",
        cfg.seconds, rounds
    );

    // Latency, every command in the same loop: served by default (the MLP runs in the
    // command), and queued. A model stored with BATCHSIZE never runs in the command, and from
    // one client each of its runs is a batch of one: the queued path, interleaved with the rest.
    let mut latency: Vec<(String, Vec<f64>)> = Vec::new();
    let mut cmds: Vec<Vec<u8>> = names.iter().map(|n| command(n, 0)).collect();
    let mut labels: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    for engine in &engines {
        let key = format!("mlp:{engine}:queued");
        let blob = if *engine == "ONNX" {
            mlp.clone()
        } else {
            read("torch/mlp.pt").unwrap_or_default()
        };
        let store = encode(&[
            b"AI.MODELSTORE",
            key.as_bytes(),
            engine.as_bytes(),
            b"CPU",
            b"BATCHSIZE",
            b"2",
            b"BLOB",
            &blob,
        ]);
        if try_setup(port, &[store]).is_ok() {
            cmds.push(modelexecute(&key, "mlp:x:0", &format!("mlp:y:{engine}:q")));
            labels.push(format!("{engine} queued"));
        }
    }
    round_trips(port, &cmds, 0.2);
    for (n, s) in labels.into_iter().zip(round_trips(port, &cmds, total)) {
        latency.push((n, s));
    }
    json.push_str("\"latency\": {\n");
    let parts: Vec<String> = latency
        .into_iter()
        .map(|(n, s)| {
            let count = s.len();
            let mut s2 = s.clone();
            println!(
                "latency {n}: median {:.1} µs over {count} calls",
                median(&mut s2)
            );
            format!("{}: {}", json_str(&n), json_nums(&quantiles(s)))
        })
        .collect();
    json.push_str(&parts.join(",\n"));
    json.push_str("\n},\n");

    // Throughput against clients: the median over the rounds of each point.
    json.push_str("\"throughput\": {\"clients\": ");
    json.push_str(&json_nums(&CLIENTS.map(|c| c as f64)));
    json.push_str(", \"series\": {\n");
    let mut series: Vec<Vec<Vec<f64>>> = names
        .iter()
        .map(|_| vec![Vec::new(); CLIENTS.len()])
        .collect();
    for _ in 0..rounds {
        for (k, &clients) in CLIENTS.iter().enumerate() {
            for (n, s) in names.iter().zip(&mut series) {
                s[k].push(measure(port, clients, 1, cfg.seconds, &|i| command(n, i)));
            }
        }
    }
    let parts: Vec<String> = names
        .iter()
        .zip(series)
        .map(|(n, s)| {
            let med: Vec<f64> = s.into_iter().map(|mut v| median(&mut v)).collect();
            println!("throughput {n}: {med:.0?}");
            format!("{}: {}", json_str(n), json_nums(&med))
        })
        .collect();
    json.push_str(&parts.join(",\n"));
    json.push_str("\n}},\n");

    // The batching curve on `wide`.
    let mut stores = Vec::new();
    for b in BATCH_SIZES {
        for t in BATCH_TIMEOUTS {
            let key = format!("wide:b{b}:t{t}");
            let (bs, ts) = (b.to_string(), t.to_string());
            let mut w: Vec<&[u8]> = vec![b"AI.MODELSTORE", key.as_bytes(), b"ONNX", b"CPU"];
            w.extend([b"BATCHSIZE".as_slice(), bs.as_bytes()]);
            if t > 0 {
                w.extend([b"MINBATCHSIZE".as_slice(), bs.as_bytes()]);
                w.extend([b"MINBATCHTIMEOUT".as_slice(), ts.as_bytes()]);
            }
            w.extend([b"BLOB".as_slice(), &wide]);
            stores.push(encode(&w));
        }
    }
    try_setup(port, &stores).expect("batched models");
    let wide_exec = |model: String| {
        move |i: usize| modelexecute(&model, &format!("wide:x:{i}"), &format!("wide:y:{i}"))
    };
    measure(port, BATCH_CLIENTS, 1, 0.2, &wide_exec("wide".into()));
    // Per BATCHSIZE and round: PING and the unbatched model from as many clients, then each
    // MINBATCHTIMEOUT; a point's ratio is to the unbatched rate of its own round. PING's rate
    // is the ceiling: every run is still one command through the main thread.
    let (mut base_all, mut ping_all) = (Vec::new(), Vec::new());
    let mut points = Vec::new();
    let ping = |_: usize| encode(&[b"PING"]);
    for b in BATCH_SIZES {
        let models: Vec<String> = BATCH_TIMEOUTS
            .iter()
            .map(|t| format!("wide:b{b}:t{t}"))
            .collect();
        for m in &models {
            measure(port, BATCH_CLIENTS, 1, 0.1, &wide_exec(m.clone()));
        }
        let mut per: Vec<(Vec<f64>, Vec<f64>)> =
            models.iter().map(|_| Default::default()).collect();
        for _ in 0..rounds {
            ping_all.push(measure(port, BATCH_CLIENTS, 1, cfg.seconds, &ping));
            let base = measure(
                port,
                BATCH_CLIENTS,
                1,
                cfg.seconds,
                &wide_exec("wide".into()),
            );
            base_all.push(base);
            for (m, (ops, ratios)) in models.iter().zip(&mut per) {
                let x = measure(port, BATCH_CLIENTS, 1, cfg.seconds, &wide_exec(m.clone()));
                ops.push(x);
                ratios.push(x / base);
            }
        }
        for (t, (mut ops, mut ratios)) in BATCH_TIMEOUTS.into_iter().zip(per) {
            let (o, r) = (median(&mut ops), median(&mut ratios));
            // median() sorted the ratios.
            let (lo, hi) = (ratios[0], ratios[ratios.len() - 1]);
            println!(
                "batching BATCHSIZE {b} MINBATCHTIMEOUT {t}: {o:.0} runs/s, {r:.2}x unbatched \
                 ({lo:.2} - {hi:.2})"
            );
            points.push(format!(
                "{{\"batchsize\": {b}, \"min_timeout_ms\": {t}, \"ops\": {o:.1}, \"ratio\": {r:.3}, \
                 \"ratio_min\": {lo:.3}, \"ratio_max\": {hi:.3}}}"
            ));
        }
    }
    let _ = writeln!(
        json,
        "\"batching\": {{\"model\": \"wide\", \"clients\": {BATCH_CLIENTS}, \"unbatched\": {:.1}, \"ping\": {:.1}, \"points\": [\n{}\n]}},",
        median(&mut base_all),
        median(&mut ping_all),
        points.join(",\n")
    );
    let _ = writeln!(json, "\"load_end\": {}", json_str(&load_average()));
    json.push_str("}\n");
    let path = std::path::Path::new(&out_dir).join("report.json");
    std::fs::create_dir_all(&out_dir).expect("bench output dir");
    std::fs::write(&path, json).expect("write report.json");
    println!("wrote {}", path.display());
}
