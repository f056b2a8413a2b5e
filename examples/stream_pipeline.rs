//! The stream inference pipeline in Rust with the `redis` crate and no consumer: one
//! AI.PIPELINE registers the work, then every XADD of features to the events stream comes out
//! scored (the MLP's class probabilities) in the results stream, written and acknowledged by the
//! server itself.
//!
//! Needs the tests' MLP model (`make models` writes target/test-models/mlp.onnx; MODEL_FILE
//! overrides). Run against `make run`'s server:  cargo run --release --example stream_pipeline

use std::time::{Duration, Instant};

use redis::{Commands, Value};

const EVENTS: &str = "{rpipe}events";
const RESULTS: &str = "{rpipe}results";
const MODEL: &str = "{rpipe}mlp";
const N_EVENTS: usize = 400;

/// A stream entry: its id and its (field, value) pairs.
type Entry = (String, Vec<(String, Vec<u8>)>);

fn floats(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn main() -> redis::RedisResult<()> {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://localhost:6379/0".into());
    let model_file =
        std::env::var("MODEL_FILE").unwrap_or_else(|_| "target/test-models/mlp.onnx".into());
    let model = std::fs::read(&model_file)
        .unwrap_or_else(|e| panic!("{model_file}: {e} (run `make models`)"));
    let mut con = redis::Client::open(url)?.get_connection()?;
    let _: () = con.del(&[EVENTS, RESULTS])?;
    let names: Vec<String> = redis::cmd("AI.PIPELINE").arg("LIST").query(&mut con)?;
    if names.iter().any(|n| n == "rpipe") {
        let _: () = redis::cmd("AI.PIPELINE")
            .arg("DEL")
            .arg("rpipe")
            .query(&mut con)?;
    }
    let _: () = redis::cmd("AI.MODELSTORE")
        .arg(&[MODEL, "ONNX", "CPU", "BLOB"])
        .arg(model)
        .query(&mut con)?;
    // Each event's field `x` is 4 little-endian floats; batches of up to 32 run as one tensor.
    let _: () = redis::cmd("AI.PIPELINE")
        .arg(&[
            "ADD", "rpipe", "STREAM", EVENTS, "FIELD", "x", "INPUT", "x", "FLOAT", "4",
        ])
        .arg(&[
            "BATCH",
            "32",
            "MAXLATENCY",
            "5",
            "OUTPUT",
            "STREAM",
            RESULTS,
        ])
        .arg(&[
            "OUTPUTS",
            "1",
            "probs",
            "DAG",
            "|>",
            "AI.MODELEXECUTE",
            MODEL,
        ])
        .arg(&["INPUTS", "1", "x", "OUTPUTS", "1", "probs"])
        .query(&mut con)?;

    let started = Instant::now();
    let mut event_ids = Vec::new();
    for i in 0..N_EVENTS {
        let x: Vec<u8> = (0..4)
            .flat_map(|j| ((i * 4 + j) as f32 / 100.0).to_le_bytes())
            .collect();
        let id: String = con.xadd(EVENTS, "*", &[("x", x)])?;
        event_ids.push(id);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while con.xlen::<_, usize>(RESULTS)? < N_EVENTS && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let elapsed = started.elapsed().as_secs_f64();

    // Every event scored exactly once (each row of softmax output sums to 1), none pending.
    let results: Vec<Entry> = con.xrange_all(RESULTS)?;
    assert_eq!(results.len(), N_EVENTS, "one result per event");
    let mut scored = Vec::new();
    let mut latencies = Vec::new();
    for (result_id, fields) in &results {
        let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let event = String::from_utf8_lossy(&get("id").unwrap_or_default()).into_owned();
        let sum: f32 = floats(&get("probs").expect("a probs field")).iter().sum();
        assert!((sum - 1.0).abs() < 1e-4, "probabilities sum to {sum}");
        // Ids start with the server's millisecond clock: result time minus event time.
        let ms = |id: &str| id.split('-').next().and_then(|t| t.parse::<f64>().ok());
        latencies.push(ms(result_id).unwrap_or(0.0) - ms(&event).unwrap_or(0.0));
        scored.push(event);
    }
    scored.sort();
    event_ids.sort();
    assert_eq!(scored, event_ids, "every event scored exactly once");
    let pending: Vec<Value> = redis::cmd("XPENDING")
        .arg(EVENTS)
        .arg("ai-pipeline:rpipe")
        .query(&mut con)?;
    assert_eq!(
        pending.first(),
        Some(&Value::Int(0)),
        "nothing left pending"
    );
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize];
    println!(
        "scored {N_EVENTS} events in {elapsed:.2} s = {:.0} events/s, with no consumer process",
        N_EVENTS as f64 / elapsed
    );
    println!(
        "end-to-end latency ms: p50 {:.0}  p99 {:.0}",
        pct(0.5),
        pct(0.99)
    );
    println!("every event scored once; nothing pending; done");
    Ok(())
}
