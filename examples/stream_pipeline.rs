//! The stream inference pipeline in Rust with the `redis` crate: events on a stream, a
//! consumer group of two worker threads scoring batches with one AI.DAGEXECUTE each (feature
//! tensor -> model -> output), results and acknowledgements written together.
//!
//! Needs the tests' MLP model (`make models` writes target/test-models/mlp.onnx; MODEL_FILE
//! overrides). Run against `make run`'s server:  cargo run --release --example stream_pipeline

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use redis::{Commands, Value};

const EVENTS: &str = "rpipe:events";
const RESULTS: &str = "rpipe:results";
const GROUP: &str = "scorers";
const MODEL: &str = "rpipe:mlp";
const N_EVENTS: usize = 400;
const BATCH: usize = 32;

/// A stream entry: its id and its (field, value) pairs.
type Entry = (String, Vec<(String, Vec<u8>)>);

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn floats(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn field<'a>(fields: &'a [Value], name: &str) -> Option<&'a [u8]> {
    fields.chunks(2).find_map(|kv| match (&kv[0], &kv[1]) {
        (Value::BulkString(k), Value::BulkString(v)) if k == name.as_bytes() => Some(v.as_slice()),
        _ => None,
    })
}

/// Reads up to BATCH new entries for `name`, scores them in one DAG, stores the results and
/// acknowledges the entries in one MULTI. Returns how many entries it handled.
fn work_once(con: &mut redis::Connection, name: &str) -> redis::RedisResult<usize> {
    let reply: Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg(GROUP)
        .arg(name)
        .arg("COUNT")
        .arg(BATCH)
        .arg("BLOCK")
        .arg(100)
        .arg("STREAMS")
        .arg(EVENTS)
        .arg(">")
        .query(con)?;
    let Value::Array(streams) = reply else {
        return Ok(0);
    };
    let Some(Value::Array(stream)) = streams.first() else {
        return Ok(0);
    };
    let Some(Value::Array(entries)) = stream.get(1) else {
        return Ok(0);
    };
    let mut ids = Vec::new();
    let mut sent = Vec::new();
    let mut x = Vec::new();
    for e in entries {
        let Value::Array(e) = e else { continue };
        let (Some(Value::BulkString(id)), Some(Value::Array(fields))) = (e.first(), e.get(1))
        else {
            continue;
        };
        ids.push(id.clone());
        sent.push(field(fields, "sent").unwrap_or(b"0").to_vec());
        x.extend_from_slice(field(fields, "x").unwrap_or(&[]));
    }
    let n = ids.len();
    let out: Vec<Value> = redis::cmd("AI.DAGEXECUTE")
        .arg("ROUTING")
        .arg(MODEL)
        .arg("|>")
        .arg("AI.TENSORSET")
        .arg("x")
        .arg("FLOAT")
        .arg(n)
        .arg(4)
        .arg("BLOB")
        .arg(&x)
        .arg("|>")
        .arg("AI.MODELEXECUTE")
        .arg(MODEL)
        .arg("INPUTS")
        .arg(1)
        .arg("x")
        .arg("OUTPUTS")
        .arg(1)
        .arg("y")
        .arg("|>")
        .arg("AI.TENSORGET")
        .arg("y")
        .arg("BLOB")
        .query(con)?;
    let Some(Value::BulkString(y)) = out.get(2) else {
        return Err((
            redis::ErrorKind::TypeError,
            "AI.TENSORGET did not answer a blob",
        )
            .into());
    };
    let mut pipe = redis::pipe();
    pipe.atomic();
    for (i, id) in ids.iter().enumerate() {
        pipe.cmd("XADD")
            .arg(RESULTS)
            .arg("*")
            .arg("event")
            .arg(id)
            .arg("sent")
            .arg(&sent[i])
            .arg("done")
            .arg(now().to_string())
            .arg("probs")
            .arg(&y[i * 12..(i + 1) * 12])
            .arg("worker")
            .arg(name)
            .ignore();
    }
    pipe.cmd("XACK").arg(EVENTS).arg(GROUP).arg(&ids).ignore();
    pipe.query::<()>(con)?;
    Ok(n)
}

fn main() -> redis::RedisResult<()> {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://localhost:6379/0".into());
    let model_file =
        std::env::var("MODEL_FILE").unwrap_or_else(|_| "target/test-models/mlp.onnx".into());
    let model = std::fs::read(&model_file)
        .unwrap_or_else(|e| panic!("{model_file}: {e} (run `make models`)"));
    let client = redis::Client::open(url)?;
    let mut con = client.get_connection()?;
    let _: () = con.del(&[EVENTS, RESULTS])?;
    let _: () = redis::cmd("AI.MODELSTORE")
        .arg(MODEL)
        .arg("ONNX")
        .arg("CPU")
        .arg("BLOB")
        .arg(model)
        .query(&mut con)?;
    let _: () = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(EVENTS)
        .arg(GROUP)
        .arg("0")
        .arg("MKSTREAM")
        .query(&mut con)?;

    let started = Instant::now();
    let workers: Vec<_> = (0..2)
        .map(|w| {
            let client = client.clone();
            std::thread::spawn(move || -> redis::RedisResult<usize> {
                let mut con = client.get_connection()?;
                let (mut handled, deadline) = (0, Instant::now() + Duration::from_secs(30));
                while Instant::now() < deadline {
                    handled += work_once(&mut con, &format!("w{w}"))?;
                    let results: usize = con.xlen(RESULTS)?;
                    if results >= N_EVENTS {
                        break;
                    }
                }
                Ok(handled)
            })
        })
        .collect();
    let mut event_ids = Vec::new();
    for i in 0..N_EVENTS {
        let x: Vec<u8> = (0..4)
            .flat_map(|j| ((i * 4 + j) as f32 / 100.0).to_le_bytes())
            .collect();
        let id: String = redis::cmd("XADD")
            .arg(EVENTS)
            .arg("*")
            .arg("x")
            .arg(x)
            .arg("sent")
            .arg(now().to_string())
            .query(&mut con)?;
        event_ids.push(id);
    }
    let mut handled = Vec::new();
    for w in workers {
        handled.push(w.join().expect("worker thread")?);
    }
    let elapsed = started.elapsed().as_secs_f64();

    // Every event scored exactly once (each row of softmax output sums to 1), none pending.
    let results: Vec<Entry> = con.xrange_all(RESULTS)?;
    assert_eq!(results.len(), N_EVENTS, "one result per event");
    let mut scored: Vec<String> = Vec::new();
    let mut latencies = Vec::new();
    for (_, fields) in &results {
        let get = |k: &str| {
            fields
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        scored.push(String::from_utf8_lossy(&get("event")).into_owned());
        let sum: f32 = floats(&get("probs")).iter().sum();
        assert!((sum - 1.0).abs() < 1e-4, "probabilities sum to {sum}");
        let t = |k: &str| {
            String::from_utf8_lossy(&get(k))
                .parse::<f64>()
                .unwrap_or(0.0)
        };
        latencies.push((t("done") - t("sent")) * 1000.0);
    }
    scored.sort();
    event_ids.sort();
    assert_eq!(scored, event_ids, "every event scored exactly once");
    let pending: Vec<Value> = redis::cmd("XPENDING")
        .arg(EVENTS)
        .arg(GROUP)
        .query(&mut con)?;
    assert_eq!(
        pending.first(),
        Some(&Value::Int(0)),
        "nothing left pending"
    );
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize];
    println!(
        "scored {N_EVENTS} events in {elapsed:.2} s = {:.0} events/s, per worker {handled:?}",
        N_EVENTS as f64 / elapsed
    );
    println!(
        "end-to-end latency ms: p50 {:.1}  p95 {:.1}  p99 {:.1}",
        pct(0.5),
        pct(0.95),
        pct(0.99)
    );
    println!("every event scored once; nothing pending; done");
    Ok(())
}
