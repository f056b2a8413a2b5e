//! Models through the ONNX backend plugin: AI.MODELSTORE/GET/DEL/EXECUTE, the deprecated
//! forms, AI.INFO, batching, timeouts, persistence, replication, and the lifecycle cases
//! (MODELDEL during a run, a client that leaves, missing plugin or engine).

mod common;

use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use common::*;

const MLP_W: usize = 4;

/// Runs `words` on a connection of its own in a thread (blocking commands).
fn spawn(s: &Server, words: &[&str]) -> thread::JoinHandle<Result<Value, String>> {
    let mut c = s.client();
    let words: Vec<String> = words.iter().map(|w| w.to_string()).collect();
    thread::spawn(move || {
        let w: Vec<&str> = words.iter().map(|s| s.as_str()).collect();
        exec(&mut c, &w)
    })
}

fn setup(dir: &Path, s: &Server) -> redis::Connection {
    let mut c = s.client();
    for (key, file, opts) in [
        ("mlp", "mlp.onnx", &[][..]),
        ("addmul", "addmul.onnx", &[]),
        ("intbool", "intbool.onnx", &[]),
        ("strings", "strings.onnx", &[]),
        ("slow", "slow.onnx", &[]),
    ] {
        let r = store_model(&mut c, key, &model_file(dir, file), opts);
        assert_eq!(r, Ok(Value::Okay), "{key}");
    }
    c
}

#[test]
fn store_get_and_delete() {
    let dir = onnx_or_skip!();
    let s = Server::start();
    let mut c = s.client();
    let blob = model_file(&dir, "mlp.onnx");
    let r = store_model(&mut c, "m", &blob, &w("TAG v1 BATCHSIZE 4 MINBATCHSIZE 2"));
    assert_eq!(r, Ok(Value::Okay));
    let meta = exec(&mut c, &["AI.MODELGET", "m", "META"]).unwrap();
    let b = |s: &str| Value::BulkString(s.as_bytes().to_vec());
    assert_eq!(
        meta,
        Value::Array(vec![
            b("backend"),
            b("ONNX"),
            b("device"),
            b("CPU"),
            b("tag"),
            b("v1"),
            b("batchsize"),
            Value::Int(4),
            b("minbatchsize"),
            Value::Int(2),
            b("inputs"),
            Value::Array(vec![b("x")]),
            b("outputs"),
            Value::Array(vec![b("probs")]),
            b("minbatchtimeout"),
            Value::Int(0),
        ])
    );
    assert_eq!(
        exec(&mut c, &["AI.MODELGET", "m", "BLOB"]),
        Ok(Value::BulkString(blob.clone()))
    );
    let full = exec(&mut c, &["AI.MODELGET", "m"]).unwrap();
    assert_eq!(array(&full).len(), 18);
    assert_eq!(array(&full)[17], Value::BulkString(blob.clone()));
    assert_eq!(
        exec(&mut c, &["TYPE", "m"]),
        Ok(Value::SimpleString("AI__MODEL".into()))
    );

    // Large models come back in MODEL_CHUNK_SIZE chunks (len / size + 1 of them).
    let size = blob.len() / 3;
    assert_ok(
        &mut c,
        &["AI.CONFIG", "MODEL_CHUNK_SIZE", &size.to_string()],
    );
    let chunks = exec(&mut c, &["AI.MODELGET", "m", "BLOB"]).unwrap();
    let parts: Vec<Vec<u8>> = array(&chunks).iter().map(bytes).collect();
    assert_eq!(parts.len(), blob.len() / size + 1);
    assert_eq!(parts.concat(), blob);

    // The device is kept as typed; the run queue is the upper case.
    assert_eq!(
        run(
            &mut c,
            &[b"AI.MODELSTORE", b"lower", b"onnx", b"cpu", b"BLOB", &blob]
        ),
        Ok(Value::Okay)
    );
    let meta = exec(&mut c, &["AI.MODELGET", "lower", "META"]).unwrap();
    assert_eq!(array(&meta)[3], b("cpu"));

    assert_ok(&mut c, &["AI.MODELDEL", "m"]);
    assert_err(&mut c, &["AI.MODELGET", "m"], "ERR model key is empty");
    assert_err(&mut c, &["AI.MODELDEL", "m"], "ERR model key is empty");
    assert_ok(&mut c, &["AI.TENSORSET", "t", "FLOAT", "1"]);
    let wrong = "WRONGTYPE Operation against a key holding the wrong kind of value";
    assert_err(&mut c, &["AI.MODELGET", "t"], wrong);
    assert_err(&mut c, &["AI.MODELDEL", "t"], wrong);
    assert_eq!(store_model(&mut c, "t", &blob, &[]), Err(wrong.to_string()));
    assert_err(
        &mut c,
        &["AI.MODELDEL"],
        "ERR wrong number of arguments for 'AI.MODELDEL' command",
    );
    assert_err(
        &mut c,
        &["AI.MODELGET"],
        "ERR wrong number of arguments for 'AI.MODELGET' command",
    );
}

#[test]
fn modelstore_error_replies() {
    let dir = onnx_or_skip!();
    let s = Server::start();
    let mut c = s.client();
    let blob = model_file(&dir, "mlp.onnx");
    let cases: &[(&[&str], &str)] = &[
        (
            &["AI.MODELSTORE", "m", "ONNX", "CPU"],
            "ERR wrong number of arguments for 'AI.MODELSTORE' command",
        ),
        (
            &w("AI.MODELSTORE m CAFFE CPU BLOB x"),
            "ERR unsupported backend",
        ),
        (&w("AI.MODELSTORE m ONNX TPU BLOB x"), "ERR Invalid DEVICE"),
        (
            &w("AI.MODELSTORE m ONNX CPU:1.8 BLOB x"),
            "ERR Invalid DEVICE",
        ),
        (
            &w("AI.MODELSTORE m ONNX CPU BATCHSIZE x BLOB x"),
            "ERR Invalid argument for BATCHSIZE",
        ),
        (
            &w("AI.MODELSTORE m ONNX CPU MINBATCHSIZE 2 BLOB x"),
            "ERR MINBATCHSIZE specified without BATCHSIZE",
        ),
        (
            &w("AI.MODELSTORE m ONNX CPU BATCHSIZE 2 MINBATCHTIMEOUT 1000 BLOB x"),
            "ERR MINBATCHTIMEOUT specified without MINBATCHSIZE",
        ),
        (
            &w("AI.MODELSTORE m ONNX CPU INPUTS 1 a OUTPUTS 1 b BLOB x"),
            "ERR INPUTS argument should not be specified for this backend",
        ),
        (
            &w("AI.MODELSTORE m ONNX CPU BATCHSIZE 2"),
            "ERR Insufficient arguments, missing model BLOB",
        ),
        (
            &w("AI.MODELSTORE m ONNX CPU BATCHSIZE 2 NOT_BLOB"),
            "ERR Invalid argument, expected BLOB",
        ),
        (
            &w("AI.MODELSTORE m ONNX CPU BATCHSIZE 2 BLOB"),
            "ERR Insufficient arguments, missing model BLOB",
        ),
        (
            &w("AI.MODELSTORE m TF CPU BLOB x"),
            "ERR INPUTS not specified for TF",
        ),
        (
            &["AI.MODELSET", "m", "ONNX"],
            "ERR wrong number of arguments for 'AI.MODELSET' command",
        ),
        (&w("AI.MODELSET m ONNX BLOB x"), "ERR Invalid DEVICE"),
        (
            &w("AI.MODELSET m TFLITE CPU BATCHSIZE 2 BLOB x"),
            "ERR Auto-batching not supported by the TFLITE backend",
        ),
        (
            &w("AI.MODELSET m ONNX CPU MINBATCHTIMEOUT 5 BLOB x"),
            "ERR MINBATCHTIMEOUT specified without BATCHSIZE",
        ),
        (
            &w("AI.MODELSET m ONNX CPU BATCHSIZE 2 NOT_BLOB"),
            "ERR Insufficient arguments, missing model BLOB",
        ),
        (
            &w("AI.MODELSET m ONNX FOO BLOB x"),
            "ERR unsupported device",
        ),
        // ONNX Runtime's own text, without ERR, as RedisAI sends backend messages.
        (
            &["AI.MODELSTORE", "m", "ONNX", "CPU", "BLOB", "not a model"],
            "",
        ),
    ];
    for (words, expected) in cases {
        let e = exec(&mut c, words).unwrap_err();
        if expected.is_empty() {
            assert!(!e.starts_with("ERR") && !e.is_empty(), "{words:?}: {e}");
        } else {
            assert_eq!(&e, expected, "{words:?}");
        }
    }
    assert_eq!(
        store_model(&mut c, "g", &blob, &[])
            .map(|_| ())
            .and_then(|_| {
                run(
                    &mut c,
                    &[b"AI.MODELSTORE", b"g", b"ONNX", b"GPU", b"BLOB", &blob],
                )
                .map(|_| ())
            }),
        Err("ERR GPU requested but ONNX couldn't find CUDA".to_string())
    );
    // Nothing but the first good model was stored.
    assert_eq!(keys(&mut c), vec!["g"]);
}

#[test]
fn outputs_are_computed() {
    let dir = onnx_or_skip!();
    let s = Server::start();
    let mut c = setup(&dir, &s);
    // Two in, two out.
    assert_ok(&mut c, &w("AI.TENSORSET a FLOAT 2 2 VALUES 1 2 3 4"));
    assert_ok(&mut c, &w("AI.TENSORSET b FLOAT 2 2 VALUES 5 6 7 8"));
    assert_ok(
        &mut c,
        &w("AI.MODELEXECUTE addmul INPUTS 2 a b OUTPUTS 2 sum prod"),
    );
    assert_eq!(floats(&mut c, "sum"), [6.0, 8.0, 10.0, 12.0]);
    assert_eq!(floats(&mut c, "prod"), [19.0, 22.0, 43.0, 50.0]);
    // Integer, bool and int32 inputs and outputs.
    assert_ok(
        &mut c,
        &w("AI.TENSORSET i INT64 3 VALUES -4 0 9223372036854775"),
    );
    assert_ok(&mut c, &w("AI.TENSORSET f BOOL 3 VALUES 1 0 1"));
    assert_ok(&mut c, &w("AI.TENSORSET h INT32 3 VALUES 7 -8 100"));
    assert_ok(
        &mut c,
        &w("AI.MODELEXECUTE intbool INPUTS 3 i f h OUTPUTS 3 twice flipped halved"),
    );
    let vals =
        |c: &mut redis::Connection, k| exec(c, &["AI.TENSORGET", k, "META", "VALUES"]).unwrap();
    let twice = vals(&mut c, "twice");
    assert_eq!(bytes(&array(&twice)[1]), b"INT64");
    assert_eq!(
        array(&twice)[5],
        Value::Array(vec![
            Value::Int(-8),
            Value::Int(0),
            Value::Int(18446744073709550)
        ])
    );
    let flipped = vals(&mut c, "flipped");
    assert_eq!(bytes(&array(&flipped)[1]), b"BOOL");
    assert_eq!(
        array(&flipped)[5],
        Value::Array(vec![Value::Int(0), Value::Int(1), Value::Int(0)])
    );
    assert_eq!(
        array(&vals(&mut c, "halved"))[5],
        Value::Array(vec![Value::Int(3), Value::Int(-4), Value::Int(50)])
    );
    // Strings go through unchanged.
    assert_ok(
        &mut c,
        &[
            "AI.TENSORSET",
            "s",
            "STRING",
            "3",
            "VALUES",
            "hello",
            "",
            "עברית",
        ],
    );
    assert_ok(
        &mut c,
        &w("AI.MODELEXECUTE strings INPUTS 1 s OUTPUTS 1 same"),
    );
    assert_eq!(
        exec(&mut c, &["AI.TENSORGET", "same", "BLOB"]),
        exec(&mut c, &["AI.TENSORGET", "s", "BLOB"])
    );
    // The MLP's rows are probability distributions; a 0-dimensional output keeps its shape.
    let x: Vec<String> = (0..2 * MLP_W)
        .map(|v| (v as f32 / 3.0).to_string())
        .collect();
    let mut cmd = vec!["AI.TENSORSET", "x", "FLOAT", "2", "4", "VALUES"];
    cmd.extend(x.iter().map(|s| s.as_str()));
    assert_ok(&mut c, &cmd);
    assert_ok(&mut c, &w("AI.MODELEXECUTE mlp INPUTS 1 x OUTPUTS 1 p"));
    let p = floats(&mut c, "p");
    assert_eq!(p.len(), 6);
    for row in p.chunks(3) {
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5, "{row:?}");
    }
    assert_ok(&mut c, &w("AI.TENSORSET n INT64 2 VALUES 8 8"));
    assert_ok(&mut c, &w("AI.MODELEXECUTE slow INPUTS 1 n OUTPUTS 1 y"));
    let y = exec(&mut c, &["AI.TENSORGET", "y", "META"]).unwrap();
    assert_eq!(array(&y)[3], Value::Array(vec![]));
    // Outputs are ordinary tensors: AI.INFO counted the runs.
    assert_eq!(ai_info_int(&mut c, "mlp", "calls"), 1);
    assert_eq!(ai_info_int(&mut c, "mlp", "samples"), 2);
}

#[test]
fn modelexecute_error_replies() {
    let dir = onnx_or_skip!();
    let s = Server::start();
    let mut c = setup(&dir, &s);
    assert_ok(&mut c, &w("AI.TENSORSET a FLOAT 2 2 VALUES 1 2 3 4"));
    assert_ok(&mut c, &w("AI.TENSORSET bad FLOAT 3 VALUES 1 2 3"));
    let _: () = redis::cmd("SET").arg("str").arg("x").query(&mut c).unwrap();
    let wrong = "WRONGTYPE Operation against a key holding the wrong kind of value";
    let cases: &[(&[&str], &str)] = &[
        (
            &w("AI.MODELEXECUTE addmul INPUTS 2 a a OUTPUTS"),
            "ERR wrong number of arguments for 'AI.MODELEXECUTE' command",
        ),
        (
            &w("AI.MODELEXECUTE none INPUTS 2 a a OUTPUTS 2 s p"),
            "ERR model key is empty",
        ),
        (&w("AI.MODELEXECUTE str INPUTS 2 a a OUTPUTS 2 s p"), wrong),
        (
            &w("AI.MODELEXECUTE addmul INPUT 2 a a OUTPUTS 2 s p"),
            "ERR INPUTS not specified",
        ),
        (
            &w("AI.MODELEXECUTE addmul INPUTS x a a OUTPUTS 2 s p"),
            "ERR Invalid argument for input_count",
        ),
        (
            &w("AI.MODELEXECUTE addmul INPUTS 0 a a OUTPUTS 2 s p"),
            "ERR Input count must be a positive integer",
        ),
        (
            &w("AI.MODELEXECUTE addmul INPUTS 1 a OUTPUTS 2 s p"),
            "Number of keys given as INPUTS here does not match model definition",
        ),
        (
            &w("AI.MODELEXECUTE addmul INPUTS 2 a a OUTPUT 2 s p"),
            "ERR OUTPUTS not specified",
        ),
        (
            &w("AI.MODELEXECUTE addmul INPUTS 2 a a OUTPUTS y s p"),
            "ERR Invalid argument for output_count",
        ),
        (
            &w("AI.MODELEXECUTE addmul INPUTS 2 a a OUTPUTS -1 s p"),
            "ERR Output count must be a positive integer",
        ),
        (
            &w("AI.MODELEXECUTE addmul INPUTS 2 a a OUTPUTS 1 s p"),
            "Number of keys given as OUTPUTS here does not match model definition",
        ),
        (
            &w("AI.MODELEXECUTE mlp INPUTS 1 a OUTPUTS 1 p TIMEOUT"),
            "ERR No value provided for TIMEOUT",
        ),
        (
            &w("AI.MODELEXECUTE mlp INPUTS 1 a OUTPUTS 1 p TIMEOUT -5"),
            "ERR Invalid value for TIMEOUT",
        ),
        (
            &w("AI.MODELEXECUTE mlp INPUTS 1 a OUTPUTS 1 p NOPE"),
            "Invalid argument: NOPE",
        ),
        (
            &w("AI.MODELEXECUTE addmul INPUTS 2 a missing OUTPUTS 2 s p"),
            "ERR tensor key is empty or in a different shard",
        ),
        (
            &w("AI.MODELEXECUTE addmul INPUTS 2 a str OUTPUTS 2 s p"),
            wrong,
        ),
        // An output key of another type is refused before anything runs (RedisAI replied OK,
        // then failed to store).
        (
            &w("AI.MODELEXECUTE addmul INPUTS 2 a a OUTPUTS 2 s str"),
            wrong,
        ),
        (
            &["AI.MODELRUN", "addmul", "INPUTS", "a"],
            "ERR wrong number of arguments for 'AI.MODELRUN' command",
        ),
        (
            &w("AI.MODELRUN addmul TIMEOUT x INPUTS a a OUTPUTS s"),
            "ERR Invalid value for TIMEOUT",
        ),
        (
            &w("AI.MODELRUN addmul INPUT a a OUTPUTS s p"),
            "ERR INPUTS not specified",
        ),
        (
            &w("AI.MODELRUN addmul INPUTS a OUTPUTS s p"),
            "Number of keys given as INPUTS here does not match model definition",
        ),
        (
            &w("AI.MODELRUN addmul INPUTS a a OUTPUTS s"),
            "Number of keys given as OUTPUTS here does not match model definition",
        ),
    ];
    for (words, expected) in cases {
        assert_err(&mut c, words, expected);
    }
    // Run-time errors are the engine's text; outputs stay untouched.
    let e = exec(&mut c, &w("AI.MODELEXECUTE mlp INPUTS 1 bad OUTPUTS 1 p")).unwrap_err();
    assert!(
        e.contains("Invalid rank") || e.contains("dimensions"),
        "{e}"
    );
    assert_eq!(ai_info_int(&mut c, "mlp", "errors"), 1);
    let uint = model_file(&dir, "uint.onnx");
    assert_eq!(store_model(&mut c, "uint", &uint, &[]), Ok(Value::Okay));
    assert_ok(&mut c, &w("AI.TENSORSET one FLOAT 1 VALUES 3"));
    let e = exec(&mut c, &w("AI.MODELEXECUTE uint INPUTS 1 one OUTPUTS 1 u")).unwrap_err();
    assert!(e.contains("Uint32") && e.contains("cannot hold"), "{e}");
    assert_eq!(
        keys(&mut c),
        vec!["a", "addmul", "bad", "intbool", "mlp", "one", "slow", "str", "strings", "uint"]
    );
}

#[test]
fn runs_are_refused_in_transactions_and_scripts() {
    let dir = onnx_or_skip!();
    let s = Server::start();
    let mut c = setup(&dir, &s);
    assert_ok(&mut c, &w("AI.TENSORSET x FLOAT 1 4"));
    let e = redis::pipe()
        .atomic()
        .cmd("AI.MODELEXECUTE")
        .arg("mlp")
        .arg("INPUTS")
        .arg(1)
        .arg("x")
        .arg("OUTPUTS")
        .arg(1)
        .arg("y")
        .query::<Value>(&mut c)
        .unwrap_err();
    assert_eq!(
        error_text(&e),
        "ERR Cannot run RedisAI command within a transaction or a LUA script"
    );
    let e = redis::cmd("EVAL")
        .arg("return redis.call('AI.MODELEXECUTE', 'mlp', 'INPUTS', 1, 'x', 'OUTPUTS', 1, 'y')")
        .arg(0)
        .query::<Value>(&mut c)
        .unwrap_err();
    assert!(
        error_text(&e).contains("Cannot run RedisAI command within a transaction or a LUA script"),
        "{e}"
    );
    assert!(keys(&mut c).iter().all(|k| k != "y"));
}

#[test]
fn key_positions_are_declared() {
    let dir = onnx_or_skip!();
    let s = Server::start();
    let _c = setup(&dir, &s);
    let mut c = s.client();
    let keys = |c: &mut redis::Connection, w: &[&str]| -> Vec<String> {
        let mut cmd = redis::cmd("COMMAND");
        cmd.arg("GETKEYS");
        for x in w {
            cmd.arg(*x);
        }
        cmd.query(c).unwrap()
    };
    assert_eq!(
        keys(
            &mut c,
            &w("AI.MODELEXECUTE m INPUTS 2 a b OUTPUTS 1 c TIMEOUT 5")
        ),
        ["m", "a", "b", "c"]
    );
    assert_eq!(
        keys(&mut c, &w("AI.MODELRUN m TIMEOUT 5 INPUTS a b OUTPUTS c")),
        ["m", "a", "b", "c"]
    );
    assert_eq!(keys(&mut c, &w("AI.MODELSTORE m ONNX CPU BLOB x")), ["m"]);
    assert_eq!(keys(&mut c, &["AI.INFO", "m"]), ["m"]);
}

#[test]
fn timeout_while_queued_gives_timedout() {
    let dir = onnx_or_skip!();
    let s = Server::start();
    let mut c = setup(&dir, &s);
    assert_ok(&mut c, &w("AI.TENSORSET big INT64 2 VALUES 1000 1000"));
    assert_ok(&mut c, &w("AI.TENSORSET x FLOAT 1 4"));
    // One worker: the slow run occupies it, the second waits past its TIMEOUT.
    let slow = spawn(&s, &w("AI.MODELEXECUTE slow INPUTS 1 big OUTPUTS 1 y"));
    thread::sleep(Duration::from_millis(100));
    let r = exec(
        &mut c,
        &w("AI.MODELEXECUTE mlp INPUTS 1 x OUTPUTS 1 p TIMEOUT 50"),
    );
    assert_eq!(r, Ok(Value::SimpleString("TIMEDOUT".into())));
    assert_eq!(slow.join().unwrap(), Ok(Value::Okay));
    assert!(!keys(&mut c).contains(&"p".to_string()));
    // A generous TIMEOUT does not get in the way.
    let r = exec(
        &mut c,
        &w("AI.MODELEXECUTE mlp INPUTS 1 x OUTPUTS 1 p TIMEOUT 10000"),
    );
    assert_eq!(r, Ok(Value::Okay));
}

#[test]
fn execution_timeout_stops_a_long_run() {
    let dir = onnx_or_skip!();
    let s = Server::with(Opts::default().module_args(&["MODEL_EXECUTION_TIMEOUT", "1000"]));
    let mut c = setup(&dir, &s);
    assert_ok(&mut c, &w("AI.TENSORSET huge INT64 2 VALUES 1600 1600"));
    let start = Instant::now();
    let r = exec(&mut c, &w("AI.MODELEXECUTE slow INPUTS 1 huge OUTPUTS 1 y"));
    let took = start.elapsed();
    // ONNX Runtime's own text, as RedisAI answered.
    match r {
        Err(e) => assert!(
            e.to_string()
                .contains("Exiting due to terminate flag being set to true"),
            "{e} after {took:?}"
        ),
        other => panic!("{other:?} after {took:?}"),
    }
    assert_eq!(ai_info_int(&mut c, "slow", "errors"), 1);
    // The worker is free again.
    assert_ok(&mut c, &w("AI.TENSORSET small INT64 2 VALUES 8 8"));
    assert_ok(
        &mut c,
        &w("AI.MODELEXECUTE slow INPUTS 1 small OUTPUTS 1 y"),
    );
}

#[test]
fn modeldel_and_restore_during_a_run_are_safe() {
    let dir = onnx_or_skip!();
    let s = Server::start();
    let mut c = setup(&dir, &s);
    assert_ok(&mut c, &w("AI.TENSORSET big INT64 2 VALUES 800 800"));
    let running = spawn(&s, &w("AI.MODELEXECUTE slow INPUTS 1 big OUTPUTS 1 y"));
    thread::sleep(Duration::from_millis(100));
    assert_ok(&mut c, &["AI.MODELDEL", "slow"]);
    // The run finishes with the model it started with.
    assert_eq!(running.join().unwrap(), Ok(Value::Okay));
    assert!(keys(&mut c).contains(&"y".to_string()));
    assert_err(
        &mut c,
        &["AI.INFO", "slow"],
        "ERR cannot find run info for key",
    );

    // Storing a new model over a running one: the run ends, the new model is the one stored.
    let slow = model_file(&dir, "slow.onnx");
    assert_eq!(store_model(&mut c, "slow", &slow, &[]), Ok(Value::Okay));
    let running = spawn(&s, &w("AI.MODELEXECUTE slow INPUTS 1 big OUTPUTS 1 y2"));
    thread::sleep(Duration::from_millis(100));
    assert_eq!(
        store_model(&mut c, "slow", &slow, &["TAG", "second"]),
        Ok(Value::Okay)
    );
    assert_eq!(running.join().unwrap(), Ok(Value::Okay));
    let meta = exec(&mut c, &["AI.MODELGET", "slow", "META"]).unwrap();
    assert_eq!(bytes(&array(&meta)[5]), b"second");
    // Statistics start again with the new model.
    assert_eq!(ai_info_int(&mut c, "slow", "calls"), 0);
}

#[test]
fn a_client_that_leaves_mid_run_does_no_harm() {
    let dir = onnx_or_skip!();
    let s = Server::start();
    let mut c = setup(&dir, &s);
    assert_ok(&mut c, &w("AI.TENSORSET big INT64 2 VALUES 800 800"));
    let request = b"*8\r\n$15\r\nAI.MODELEXECUTE\r\n$4\r\nslow\r\n$6\r\nINPUTS\r\n$1\r\n1\r\n$3\r\nbig\r\n$7\r\nOUTPUTS\r\n$1\r\n1\r\n$4\r\ngone\r\n";
    {
        use std::io::Write;
        let mut raw = std::net::TcpStream::connect(("127.0.0.1", s.port)).unwrap();
        raw.write_all(request).unwrap();
        thread::sleep(Duration::from_millis(100));
    } // disconnected while the model runs
    thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        exec(&mut c, &["PING"]),
        Ok(Value::SimpleString("PONG".into()))
    );
    // As in RedisAI, a run whose client is gone stores nothing.
    assert!(!keys(&mut c).contains(&"gone".to_string()));
    assert_ok(&mut c, &w("AI.TENSORSET small INT64 2 VALUES 8 8"));
    assert_ok(
        &mut c,
        &w("AI.MODELEXECUTE slow INPUTS 1 small OUTPUTS 1 y"),
    );
}

#[test]
fn shutdown_with_runs_queued_exits_cleanly() {
    let dir = onnx_or_skip!();
    let mut s = Server::with(Opts::default().module_args(&["THREADS_PER_QUEUE", "1"]));
    let mut c = setup(&dir, &s);
    assert_ok(&mut c, &w("AI.TENSORSET big INT64 2 VALUES 800 800"));
    // One run on the only worker, three waiting behind it.
    let runs: Vec<_> = (0..4)
        .map(|i| {
            let out = format!("y{i}");
            spawn(
                &s,
                &[
                    "AI.MODELEXECUTE",
                    "slow",
                    "INPUTS",
                    "1",
                    "big",
                    "OUTPUTS",
                    "1",
                    &out,
                ],
            )
        })
        .collect();
    thread::sleep(Duration::from_millis(150));
    let status = s
        .shutdown()
        .expect("redis-server did not exit after SHUTDOWN");
    assert!(status.success(), "{status:?}\n{}", s.log());
    for r in runs {
        // The clients lose their connection; none of them hangs.
        let _ = r.join().unwrap();
    }
    let log = s.log();
    assert!(
        !log.contains("crashed") && !log.contains("panicked"),
        "{log}"
    );
}

#[test]
fn batches_give_each_client_its_own_rows() {
    let dir = onnx_or_skip!();
    let s = Server::start();
    let mut c = s.client();
    let double = model_file(&dir, "double.onnx");
    // MINBATCHSIZE 4 without a timeout: no request runs until four rows are queued, so all
    // four replies prove they were computed together.
    assert_eq!(
        store_model(
            &mut c,
            "d",
            &double,
            &["BATCHSIZE", "8", "MINBATCHSIZE", "4"]
        ),
        Ok(Value::Okay)
    );
    for k in 0..4 {
        let v = (k * 10).to_string();
        let w = (k * 10 + 1).to_string();
        assert_ok(
            &mut c,
            &[
                "AI.TENSORSET",
                &format!("x{k}"),
                "FLOAT",
                "1",
                "2",
                "VALUES",
                &v,
                &w,
            ],
        );
    }
    let runs: Vec<_> = (0..4)
        .map(|k| {
            let (x, y) = (format!("x{k}"), format!("y{k}"));
            let h = spawn(
                &s,
                &[
                    "AI.MODELEXECUTE",
                    "d",
                    "INPUTS",
                    "1",
                    &x,
                    "OUTPUTS",
                    "1",
                    &y,
                ],
            );
            thread::sleep(Duration::from_millis(30));
            h
        })
        .collect();
    for r in runs {
        assert_eq!(r.join().unwrap(), Ok(Value::Okay));
    }
    for k in 0..4 {
        let expected = [(k * 20) as f32, (k * 20 + 2) as f32];
        assert_eq!(floats(&mut c, &format!("y{k}")), expected, "client {k}");
        let meta = exec(&mut c, &["AI.TENSORGET", &format!("y{k}"), "META"]).unwrap();
        assert_eq!(
            array(&meta)[3],
            Value::Array(vec![Value::Int(1), Value::Int(2)])
        );
    }
    assert_eq!(ai_info_int(&mut c, "d", "calls"), 4);
    assert_eq!(ai_info_int(&mut c, "d", "samples"), 4);

    // MINBATCHTIMEOUT lets a lone request run after the wait.
    assert_eq!(
        store_model(
            &mut c,
            "dt",
            &double,
            &w("BATCHSIZE 8 MINBATCHSIZE 4 MINBATCHTIMEOUT 200")
        ),
        Ok(Value::Okay)
    );
    let start = Instant::now();
    assert_ok(&mut c, &w("AI.MODELEXECUTE dt INPUTS 1 x1 OUTPUTS 1 z"));
    assert!(
        start.elapsed() >= Duration::from_millis(150),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(floats(&mut c, "z"), [20.0, 22.0]);

    // Inputs with different trailing dimensions cannot share a run; each runs alone.
    assert_eq!(
        store_model(&mut c, "d2", &double, &["BATCHSIZE", "8"]),
        Ok(Value::Okay)
    );
    assert_ok(&mut c, &w("AI.TENSORSET w3 FLOAT 1 3 VALUES 1 2 3"));
    let a = spawn(&s, &w("AI.MODELEXECUTE d2 INPUTS 1 x2 OUTPUTS 1 o2"));
    let b = spawn(&s, &w("AI.MODELEXECUTE d2 INPUTS 1 w3 OUTPUTS 1 o3"));
    assert_eq!(a.join().unwrap(), Ok(Value::Okay));
    assert_eq!(b.join().unwrap(), Ok(Value::Okay));
    assert_eq!(floats(&mut c, "o2"), [40.0, 42.0]);
    assert_eq!(floats(&mut c, "o3"), [2.0, 4.0, 6.0]);
}

#[test]
fn a_batched_model_that_drops_rows_fails_every_participant() {
    let dir = onnx_or_skip!();
    let s = Server::start();
    let mut c = s.client();
    let shrink = model_file(&dir, "shrink.onnx");
    assert_eq!(
        store_model(
            &mut c,
            "s",
            &shrink,
            &["BATCHSIZE", "4", "MINBATCHSIZE", "2"]
        ),
        Ok(Value::Okay)
    );
    assert_ok(&mut c, &w("AI.TENSORSET x FLOAT 1 2 VALUES 1 2"));
    let a = spawn(&s, &w("AI.MODELEXECUTE s INPUTS 1 x OUTPUTS 1 ya"));
    let b = spawn(&s, &w("AI.MODELEXECUTE s INPUTS 1 x OUTPUTS 1 yb"));
    for r in [a, b] {
        assert_eq!(
            r.join().unwrap(),
            Err("ERR Model did not generate the expected batch size".to_string())
        );
    }
    assert_eq!(ai_info_int(&mut c, "s", "errors"), 2);
}

#[test]
fn info_scan_and_resetstat() {
    let dir = onnx_or_skip!();
    let s = Server::start();
    let mut c = setup(&dir, &s);
    assert_ok(&mut c, &w("AI.TENSORSET x FLOAT 3 4"));
    for _ in 0..3 {
        assert_ok(&mut c, &w("AI.MODELEXECUTE mlp INPUTS 1 x OUTPUTS 1 y"));
    }
    let info = ai_info(&mut c, "mlp");
    let fields: Vec<&str> = info.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(
        fields,
        ["key", "type", "backend", "device", "tag", "duration", "samples", "calls", "errors"]
    );
    assert_eq!(info[1].1, Value::BulkString(b"MODEL".to_vec()));
    assert_eq!(info[2].1, Value::BulkString(b"ONNX".to_vec()));
    assert_eq!(ai_info_int(&mut c, "mlp", "calls"), 3);
    assert_eq!(ai_info_int(&mut c, "mlp", "samples"), 9);
    assert!(ai_info_int(&mut c, "mlp", "duration") > 0);
    assert_ok(&mut c, &["AI.INFO", "mlp", "RESETSTAT"]);
    assert_eq!(ai_info_int(&mut c, "mlp", "calls"), 0);
    // A third word other than RESETSTAT is ignored.
    assert_eq!(ai_info(&mut c, "mlp").len(), 9);
    assert!(exec(&mut c, &["AI.INFO", "mlp", "whatever"]).is_ok());
    assert_err(
        &mut c,
        &["AI.INFO", "nope"],
        "ERR cannot find run info for key",
    );
    assert_err(
        &mut c,
        &["AI.INFO"],
        "ERR wrong number of arguments for 'AI.INFO' command",
    );
    let scan = exec(&mut c, &["AI._MODELSCAN"]).unwrap();
    let names: Vec<Vec<u8>> = array(&scan).iter().map(|p| bytes(&array(p)[0])).collect();
    assert_eq!(
        names,
        [&b"addmul"[..], b"intbool", b"mlp", b"slow", b"strings"]
    );
    // INFO shows the loaded engine and the worker's CPU time.
    let info: String = redis::cmd("INFO").arg("modules").query(&mut c).unwrap();
    assert!(info.contains("ai_onnxruntime_version:1.31.1"), "{info}");
    assert!(
        info.contains("ai_queue_CPU_bthread_n1_used_cpu_total:"),
        "{info}"
    );
}

#[test]
fn models_survive_reload_aof_dump_and_copy() {
    let dir = onnx_or_skip!();
    let opts =
        Opts::default().server_args(&["--appendonly", "yes", "--aof-use-rdb-preamble", "no"]);
    let s = Server::with(opts);
    let mut c = setup(&dir, &s);
    // Small chunks, so RDB and AOF both write the blob in several pieces.
    assert_ok(&mut c, &["AI.CONFIG", "MODEL_CHUNK_SIZE", "100"]);
    let mlp = model_file(&dir, "mlp.onnx");
    assert_eq!(
        store_model(
            &mut c,
            "tagged",
            &mlp,
            &w("TAG v2 BATCHSIZE 4 MINBATCHSIZE 2 MINBATCHTIMEOUT 7")
        ),
        Ok(Value::Okay)
    );
    assert_ok(&mut c, &w("AI.TENSORSET x FLOAT 1 4 VALUES 1 2 3 4"));
    assert_ok(
        &mut c,
        &w("AI.MODELEXECUTE mlp INPUTS 1 x OUTPUTS 1 before"),
    );
    let metas = |c: &mut redis::Connection| -> Vec<Value> {
        ["addmul", "intbool", "mlp", "slow", "strings", "tagged"]
            .iter()
            .map(|k| exec(c, &["AI.MODELGET", k]).unwrap())
            .collect()
    };
    let expected = metas(&mut c);
    let digest = |c: &mut redis::Connection| -> String {
        redis::cmd("DEBUG").arg("DIGEST").query(c).unwrap()
    };
    let d = digest(&mut c);
    assert_ok(&mut c, &["DEBUG", "RELOAD"]);
    assert_eq!(digest(&mut c), d);
    assert!(
        metas(&mut c) == expected,
        "MODELGET differs after DEBUG RELOAD"
    );
    assert_ok(&mut c, &w("AI.MODELEXECUTE mlp INPUTS 1 x OUTPUTS 1 after"));
    assert_eq!(floats(&mut c, "after"), floats(&mut c, "before"));
    // Statistics were recreated for the loaded models.
    assert_eq!(ai_info_int(&mut c, "tagged", "calls"), 0);
    let d = digest(&mut c);

    let _: Value = redis::cmd("BGREWRITEAOF").query(&mut c).unwrap();
    wait_for(Duration::from_secs(20), "AOF rewrite", || {
        info_field(&mut c, "persistence", "aof_rewrite_in_progress") == "0"
            && info_field(&mut c, "persistence", "aof_rewrite_scheduled") == "0"
    });
    let s = s.restart();
    let mut c = s.client();
    assert_eq!(digest(&mut c), d);
    // AI.CONFIG is not persisted (as in RedisAI): the chunk size is set again to compare.
    assert_ok(&mut c, &["AI.CONFIG", "MODEL_CHUNK_SIZE", "100"]);
    assert!(
        metas(&mut c) == expected,
        "MODELGET differs after the AOF restart"
    );

    let payload: Vec<u8> = redis::cmd("DUMP").arg("tagged").query(&mut c).unwrap();
    assert_eq!(
        run(&mut c, &[b"RESTORE", b"restored", b"0", &payload]),
        Ok(Value::Okay)
    );
    assert_eq!(
        exec(&mut c, &["AI.MODELGET", "restored"]),
        exec(&mut c, &["AI.MODELGET", "tagged"])
    );
    assert_eq!(exec(&mut c, &["COPY", "mlp", "mlp2"]), Ok(Value::Int(1)));
    assert_ok(
        &mut c,
        &w("AI.MODELEXECUTE mlp2 INPUTS 1 x OUTPUTS 1 copied"),
    );
    assert_eq!(floats(&mut c, "copied"), floats(&mut c, "before"));
    assert_eq!(ai_info_int(&mut c, "mlp2", "calls"), 1);
    assert_eq!(ai_info_int(&mut c, "mlp", "calls"), 0);
    let usage: i64 = redis::cmd("MEMORY")
        .arg("USAGE")
        .arg("mlp")
        .query(&mut c)
        .unwrap();
    assert!(usage as usize > mlp.len(), "{usage}");
}

#[test]
fn replicas_get_outputs_without_running_models() {
    let dir = onnx_or_skip!();
    let master = Server::start();
    let replica = Server::start();
    let mut m = setup(&dir, &master);
    let mut r = replicate_from(&master, &replica);
    assert_ok(&mut m, &w("AI.TENSORSET a FLOAT 2 2 VALUES 1 2 3 4"));
    assert_ok(
        &mut m,
        &w("AI.MODELEXECUTE addmul INPUTS 2 a a OUTPUTS 2 s p"),
    );
    assert_eq!(exec(&mut m, &["WAIT", "1", "5000"]), Ok(Value::Int(1)));
    for k in ["s", "p"] {
        assert_eq!(
            exec(&mut r, &["AI.TENSORGET", k]),
            exec(&mut m, &["AI.TENSORGET", k]),
            "{k}"
        );
    }
    assert_eq!(
        exec(&mut r, &["AI.MODELGET", "addmul"]),
        exec(&mut m, &["AI.MODELGET", "addmul"])
    );
    assert_eq!(ai_info_int(&mut m, "addmul", "calls"), 1);
    assert_eq!(ai_info_int(&mut r, "addmul", "calls"), 0);
    let dm: String = redis::cmd("DEBUG").arg("DIGEST").query(&mut m).unwrap();
    let dr: String = redis::cmd("DEBUG").arg("DIGEST").query(&mut r).unwrap();
    assert_eq!(dm, dr);
}

#[test]
fn deprecated_modelset_and_modelrun_work() {
    let dir = onnx_or_skip!();
    let s = Server::start();
    let mut c = s.client();
    let addmul = model_file(&dir, "addmul.onnx");
    let r = run(
        &mut c,
        &[
            b"AI.MODELSET",
            b"m",
            b"ONNX",
            b"CPU",
            b"TAG",
            b"old",
            b"BLOB",
            &addmul,
        ],
    );
    assert_eq!(r, Ok(Value::Okay));
    assert_ok(&mut c, &w("AI.TENSORSET a FLOAT 2 2 VALUES 1 2 3 4"));
    assert_ok(
        &mut c,
        &w("AI.MODELRUN m TIMEOUT 5000 INPUTS a a OUTPUTS s p"),
    );
    assert_eq!(floats(&mut c, "s"), [2.0, 4.0, 6.0, 8.0]);
    assert!(s.log().contains("AI.MODELRUN is deprecated"));
}

#[test]
fn backends_load_explicitly_or_report_what_is_missing() {
    let dir = onnx_or_skip!();
    let mlp = model_file(&dir, "mlp.onnx");
    let plugin = module_path().parent().unwrap().join("libredisai_onnx.so");

    // No plugin where BACKENDSPATH points: tensors work, models say the backend is missing.
    let empty = std::env::temp_dir().join(format!("redisai-no-backends-{}", std::process::id()));
    std::fs::create_dir_all(&empty).unwrap();
    let s = Server::with(Opts::default().module_args(&["BACKENDSPATH", empty.to_str().unwrap()]));
    let mut c = s.client();
    assert_ok(&mut c, &["AI.TENSORSET", "t", "FLOAT", "1"]);
    assert_eq!(
        store_model(&mut c, "m", &mlp, &[]),
        Err("ERR Could not load backend".to_string())
    );
    assert!(s.log().contains("no plugin at"), "{}", s.log());
    // Loading it explicitly, then again.
    assert_ok(
        &mut c,
        &["AI.CONFIG", "LOADBACKEND", "ONNX", plugin.to_str().unwrap()],
    );
    assert_err(
        &mut c,
        &["AI.CONFIG", "LOADBACKEND", "ONNX", plugin.to_str().unwrap()],
        "ERR error loading backend",
    );
    assert_eq!(store_model(&mut c, "m", &mlp, &[]), Ok(Value::Okay));
    assert_err(
        &mut c,
        &["AI.CONFIG", "LOADBACKEND", "TORCH", "nothing-here.so"],
        "ERR error loading backend",
    );
    drop(s);

    // No ONNX Runtime where the plugin is told to look.
    let s = Server::with(
        Opts::default().module_args(&["ONNXRUNTIME_PATH", "/nonexistent/libonnxruntime.so"]),
    );
    let mut c = s.client();
    assert_eq!(
        store_model(&mut c, "m", &mlp, &[]),
        Err("ERR Could not load backend".to_string())
    );
    assert!(
        s.log().contains("/nonexistent/libonnxruntime.so"),
        "{}",
        s.log()
    );
    assert_ok(&mut c, &["AI.TENSORSET", "t", "FLOAT", "1"]);
    drop(s);

    // A preload argument loads the backend at start.
    let s = Server::with(Opts::default().module_args(&["ONNX", plugin.to_str().unwrap()]));
    let mut c = s.client();
    let info: String = redis::cmd("INFO").arg("modules").query(&mut c).unwrap();
    assert!(info.contains("ai_onnxruntime_version:"), "{info}");
    let _ = std::fs::remove_dir_all(&empty);
}

#[test]
fn many_clients_and_workers() {
    let dir = onnx_or_skip!();
    let s = Server::with(Opts::default().module_args(&["THREADS_PER_QUEUE", "2"]));
    let mut c = setup(&dir, &s);
    assert_ok(&mut c, &w("AI.TENSORSET x FLOAT 1 4 VALUES 1 2 3 4"));
    assert_ok(&mut c, &w("AI.MODELEXECUTE mlp INPUTS 1 x OUTPUTS 1 ref"));
    let expected = floats(&mut c, "ref");
    let handles: Vec<_> = (0..8)
        .map(|k| {
            let mut con = s.client();
            let expected = expected.clone();
            thread::spawn(move || {
                for i in 0..25 {
                    let out = format!("out{k}-{i}");
                    assert_ok(
                        &mut con,
                        &[
                            "AI.MODELEXECUTE",
                            "mlp",
                            "INPUTS",
                            "1",
                            "x",
                            "OUTPUTS",
                            "1",
                            &out,
                        ],
                    );
                    assert_eq!(floats(&mut con, &out), expected);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(ai_info_int(&mut c, "mlp", "calls"), 201);
    let info: String = redis::cmd("INFO").arg("modules").query(&mut c).unwrap();
    assert!(
        info.contains("ai_queue_CPU_bthread_n2_used_cpu_total:"),
        "{info}"
    );
}
