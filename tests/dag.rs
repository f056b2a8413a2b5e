//! AI.DAGEXECUTE, AI.DAGEXECUTE_RO, AI.DAGRUN and AI.DAGRUN_RO against a real server:
//! pipelines with intermediates, tensor-only DAGs, errors inside and outside the reply,
//! PERSIST, TIMEOUT, parallel branches, replicas and key positions.

mod common;

use std::path::Path;
use std::thread;
use std::time::Duration;

use common::*;

fn setup(dir: &Path, s: &Server) -> redis::Connection {
    let mut c = s.client();
    for (key, file) in [
        ("mlp", "mlp.onnx"),
        ("double", "double.onnx"),
        ("slow", "slow.onnx"),
    ] {
        assert_eq!(
            store_model(&mut c, key, &model_file(dir, file), &[]),
            Ok(Value::Okay),
            "{key}"
        );
    }
    c
}

fn simple(s: &str) -> Value {
    Value::SimpleString(s.into())
}

fn values(v: &[&str]) -> Value {
    Value::Array(
        v.iter()
            .map(|s| Value::BulkString(s.as_bytes().to_vec()))
            .collect(),
    )
}

fn sorted_keys(c: &mut redis::Connection) -> Vec<String> {
    let mut k = keys(c);
    k.sort();
    k
}

#[test]
fn tensor_only_dags_keep_their_tensors_local() {
    let s = Server::start();
    let mut c = s.client();
    // Local tensors, each name's latest version, nothing in the keyspace.
    let r = exec(
        &mut c,
        &w(
            "AI.DAGEXECUTE ROUTING x |> AI.TENSORSET t FLOAT 1 2 VALUES 5 10 \
            |> AI.TENSORGET t META VALUES |> AI.TENSORSET t FLOAT 1 4 VALUES 20 40 60 80 \
            |> AI.TENSORGET t VALUES",
        ),
    )
    .unwrap();
    assert_eq!(
        r,
        Value::Array(vec![
            Value::Okay,
            Value::Array(vec![
                Value::BulkString(b"dtype".to_vec()),
                Value::BulkString(b"FLOAT".to_vec()),
                Value::BulkString(b"shape".to_vec()),
                Value::Array(vec![Value::Int(1), Value::Int(2)]),
                Value::BulkString(b"values".to_vec()),
                values(&["5", "10"]),
            ]),
            Value::Okay,
            values(&["20", "40", "60", "80"]),
        ])
    );
    assert!(keys(&mut c).is_empty());

    // LOAD reads the keyspace; PERSIST writes the last version back, and only that key.
    assert_ok(&mut c, &w("AI.TENSORSET a FLOAT 2 VALUES 1 2"));
    let r = exec(
        &mut c,
        &w(
            "AI.DAGEXECUTE LOAD 1 a PERSIST 1 b |> AI.TENSORGET a VALUES \
            |> AI.TENSORSET b INT8 1 VALUES 3 |> AI.TENSORSET b INT8 1 VALUES 4 \
            |> AI.TENSORSET local FLOAT 1",
        ),
    )
    .unwrap();
    assert_eq!(
        r,
        Value::Array(vec![
            values(&["1", "2"]),
            Value::Okay,
            Value::Okay,
            Value::Okay
        ])
    );
    assert_eq!(sorted_keys(&mut c), ["a", "b"]);
    assert_eq!(
        exec(&mut c, &w("AI.TENSORGET b VALUES")),
        Ok(Value::Array(vec![Value::Int(4)]))
    );
    // The deprecated form needs no LOAD/PERSIST/ROUTING; _RO works too.
    assert_eq!(
        exec(
            &mut c,
            &w("AI.DAGRUN_RO |> AI.TENSORSET v FLOAT 1 |> AI.TENSORGET v VALUES")
        ),
        Ok(Value::Array(vec![Value::Okay, values(&["0"])]))
    );
    assert_eq!(sorted_keys(&mut c), ["a", "b"]);
}

#[test]
fn a_pipeline_runs_in_one_call_and_persists_only_what_is_asked() {
    let dir = onnx_or_skip!();
    let s = Server::start();
    let mut c = setup(&dir, &s);
    let x = "0.5 -1 2 0.75 1 1 -2 3";
    // The same two models as separate commands, for reference.
    assert_ok(&mut c, &w(&format!("AI.TENSORSET x FLOAT 2 4 VALUES {x}")));
    assert_ok(&mut c, &w("AI.MODELEXECUTE mlp INPUTS 1 x OUTPUTS 1 p"));
    assert_ok(
        &mut c,
        &w("AI.MODELEXECUTE double INPUTS 1 p OUTPUTS 1 want"),
    );
    let want = floats(&mut c, "want");
    assert_eq!(want.len(), 6);
    exec(&mut c, &w("DEL x p want")).unwrap();
    let before = sorted_keys(&mut c);

    let r = exec(
        &mut c,
        &w(&format!(
            "AI.DAGEXECUTE PERSIST 1 out |> AI.TENSORSET in FLOAT 2 4 VALUES {x} \
             |> AI.MODELEXECUTE mlp INPUTS 1 in OUTPUTS 1 mid \
             |> AI.MODELEXECUTE double INPUTS 1 mid OUTPUTS 1 out \
             |> AI.TENSORGET out VALUES"
        )),
    )
    .unwrap();
    let items = array(&r);
    assert_eq!(&items[..3], &[Value::Okay, Value::Okay, Value::Okay]);
    let got: Vec<f32> = array(&items[3])
        .iter()
        .map(|v| String::from_utf8(bytes(v)).unwrap().parse().unwrap())
        .collect();
    assert_eq!(got, want);
    assert_eq!(floats(&mut c, "out"), want);
    let mut expected = before.clone();
    expected.push("out".into());
    expected.sort();
    assert_eq!(sorted_keys(&mut c), expected);
    // Each op counts as a call of its model.
    assert_eq!(ai_info_int(&mut c, "mlp", "calls"), 2);
    assert_eq!(ai_info_int(&mut c, "double", "samples"), 4);

    // redisai-py's layout: LOAD a key, run, get the result's META and BLOB.
    assert_ok(&mut c, &w(&format!("AI.TENSORSET x FLOAT 2 4 VALUES {x}")));
    let r = exec(
        &mut c,
        &w(
            "AI.DAGEXECUTE_RO LOAD 1 x |> AI.MODELEXECUTE mlp INPUTS 1 x OUTPUTS 1 x \
            |> AI.TENSORGET x META",
        ),
    )
    .unwrap();
    assert_eq!(
        array(&r)[1],
        Value::Array(vec![
            Value::BulkString(b"dtype".to_vec()),
            Value::BulkString(b"FLOAT".to_vec()),
            Value::BulkString(b"shape".to_vec()),
            Value::Array(vec![Value::Int(2), Value::Int(3)]),
        ])
    );
    // The key x was only read: a DAG's x is a local version of it.
    assert_eq!(floats(&mut c, "x").len(), 8);
}

#[test]
fn a_failed_op_is_an_error_entry_and_nothing_is_persisted() {
    let dir = onnx_or_skip!();
    let s = Server::start();
    let mut c = setup(&dir, &s);
    // The MLP wants 4 columns; 5 fail inside ONNX Runtime. The reply is read raw: the error
    // is an element of the array, not the reply.
    let reply = raw_roundtrip(
        s.port,
        b"AI.DAGEXECUTE PERSIST 1 kept |> AI.TENSORSET kept FLOAT 1 \
          |> AI.TENSORSET bad FLOAT 1 5 |> AI.MODELEXECUTE mlp INPUTS 1 bad OUTPUTS 1 p \
          |> AI.MODELEXECUTE double INPUTS 1 p OUTPUTS 1 q |> AI.TENSORGET kept VALUES\r\n",
    );
    let text = String::from_utf8_lossy(&reply);
    assert_eq!(
        text,
        "*5\r\n+OK\r\n+OK\r\n-Got invalid dimensions for input: x for the following indices  \
         index: 1 Got: 5 Expected: 4  Please fix either the inputs/outputs or the model.\r\n\
         +NA\r\n+NA\r\n"
    );
    assert!(!keys(&mut c).contains(&"kept".to_string()));
    assert_eq!(ai_info_int(&mut c, "mlp", "errors"), 1);
    assert_eq!(ai_info_int(&mut c, "double", "calls"), 0);
}

#[test]
fn parse_errors_reply_whole_and_change_nothing() {
    let dir = onnx_or_skip!();
    let s = Server::start();
    let mut c = setup(&dir, &s);
    assert_ok(&mut c, &w("AI.TENSORSET a FLOAT 1 4"));
    exec(&mut c, &w("SET str value")).unwrap();
    let before = sorted_keys(&mut c);
    for (line, expected) in [
        (
            "AI.DAGEXECUTE LOAD 1 a PERSIST 1 str |> AI.MODELEXECUTE mlp INPUTS 1 a OUTPUTS 1 str",
            "WRONGTYPE Operation against a key holding the wrong kind of value",
        ),
        (
            "AI.DAGEXECUTE LOAD 1 a PERSIST 1 o |> AI.MODELEXECUTE mlp INPUTS 1 nope OUTPUTS 1 o",
            "ERR INPUT key cannot be found in DAG",
        ),
        (
            "AI.DAGEXECUTE LOAD 1 a |> AI.MODELEXECUTE mlp INPUTS 2 a a OUTPUTS 1 o",
            "Number of keys given as INPUTS here does not match model definition",
        ),
        (
            "AI.DAGEXECUTE LOAD 1 a |> AI.MODELEXECUTE str INPUTS 1 a OUTPUTS 1 o",
            "WRONGTYPE Operation against a key holding the wrong kind of value",
        ),
        (
            "AI.DAGEXECUTE LOAD 1 a |> AI.SCRIPTEXECUTE s f INPUTS 1 a OUTPUTS 1 o",
            "ERR script key is empty",
        ),
        (
            "AI.DAGEXECUTE_RO LOAD 1 a |> AI.SCRIPTEXECUTE s f INPUTS 1 a",
            "ERR AI.SCRIPTEXECUTE command cannot be specified in a read-only DAG",
        ),
        ("AI.DAGEXECUTE LOAD 1 a", "ERR missing arguments for 'AI.DAGEXECUTE' command"),
        (
            "AI.DAGEXECUTE LOAD 1 a TIMEOUT 5 |> AI.MODELEXECUTE mlp INPUTS 1 a OUTPUTS 1 o TIMEOUT 5",
            "ERR TIMEOUT not allowed within a DAG command",
        ),
        (
            "AI.DAGRUN LOAD 1 a |> AI.MODELEXECUTE mlp INPUTS 1 a OUTPUTS 1 o",
            "AI.MODELEXECUTE cannot be used in a deprecated AI.DAGRUN command",
        ),
    ] {
        assert_err(&mut c, &w(line), expected);
    }
    assert_eq!(sorted_keys(&mut c), before);
    assert_eq!(ai_info_int(&mut c, "mlp", "calls"), 0);
    // Inside MULTI (and Lua) DAGs are refused like every run command.
    let e = redis::pipe()
        .atomic()
        .cmd("AI.DAGEXECUTE")
        .arg(w("ROUTING a |> AI.TENSORGET a"))
        .query::<Value>(&mut c)
        .unwrap_err();
    assert_eq!(
        error_text(&e),
        "ERR Cannot run RedisAI command within a transaction or a LUA script"
    );
}

#[test]
fn deprecated_dagrun_runs_modelrun() {
    let dir = onnx_or_skip!();
    let s = Server::start();
    let mut c = setup(&dir, &s);
    let r = exec(
        &mut c,
        &w(
            "AI.DAGRUN PERSIST 1 y |> AI.TENSORSET x FLOAT 1 4 VALUES 1 2 3 4 \
            |> AI.MODELRUN mlp INPUTS x OUTPUTS y",
        ),
    );
    assert_eq!(r, Ok(Value::Array(vec![Value::Okay, Value::Okay])));
    assert_eq!(floats(&mut c, "y").len(), 3);
    assert!(!keys(&mut c).contains(&"x".to_string()));
}

#[test]
fn timeout_expires_queued_ops() {
    let dir = onnx_or_skip!();
    let s = Server::start();
    let mut c = setup(&dir, &s);
    assert_ok(&mut c, &w("AI.TENSORSET big INT64 2 VALUES 1000 1000"));
    // The only worker is busy with a slow run; the DAG's op waits past its TIMEOUT.
    let slow = {
        let mut c2 = s.client();
        thread::spawn(move || exec(&mut c2, &w("AI.MODELEXECUTE slow INPUTS 1 big OUTPUTS 1 y")))
    };
    thread::sleep(Duration::from_millis(100));
    let r = exec(
        &mut c,
        &w(
            "AI.DAGEXECUTE PERSIST 1 p TIMEOUT 50 |> AI.TENSORSET x FLOAT 1 4 \
            |> AI.MODELEXECUTE mlp INPUTS 1 x OUTPUTS 1 p",
        ),
    );
    assert_eq!(r, Ok(simple("TIMEDOUT")));
    assert_eq!(slow.join().unwrap(), Ok(Value::Okay));
    assert!(!keys(&mut c).contains(&"p".to_string()));
}

/// SLOWLOG's duration of the last command, in µs (it includes the blocked time).
fn last_slowlog_micros(c: &mut redis::Connection) -> i64 {
    let log = exec(c, &w("SLOWLOG GET 1")).unwrap();
    match &array(&array(&log)[0])[2] {
        Value::Int(us) => *us,
        other => panic!("slowlog duration {other:?}"),
    }
}

/// Two independent slow ops with two workers: the command's measured time (SLOWLOG, from
/// the first op's start to the last op's end) against the sum of the two runs' own times
/// (AI.INFO). Overlapping runs make the first clearly smaller; one worker makes it at
/// least the sum. Both figures are the server's own clocks, not the test's.
fn dag_time_and_run_time(threads: &str) -> (i64, i64) {
    let dir = common::onnx_setup().expect("checked by the caller");
    let s = Server::with(Opts::default().module_args(&["THREADS_PER_QUEUE", threads]));
    let mut c = setup(&dir, &s);
    assert_ok(&mut c, &w("CONFIG SET slowlog-log-slower-than 0"));
    let r = exec(
        &mut c,
        &w(
            "AI.DAGEXECUTE ROUTING x |> AI.TENSORSET n INT64 2 VALUES 500 500 \
            |> AI.MODELEXECUTE slow INPUTS 1 n OUTPUTS 1 a \
            |> AI.MODELEXECUTE slow INPUTS 1 n OUTPUTS 1 b",
        ),
    );
    assert_eq!(
        r,
        Ok(Value::Array(vec![Value::Okay, Value::Okay, Value::Okay]))
    );
    let dag = last_slowlog_micros(&mut c);
    let runs = ai_info_int(&mut c, "slow", "duration");
    assert_eq!(ai_info_int(&mut c, "slow", "calls"), 2);
    (dag, runs)
}

#[test]
fn independent_branches_run_in_parallel() {
    let _ = onnx_or_skip!();
    let (dag, runs) = dag_time_and_run_time("2");
    assert!(
        (dag as f64) < 0.8 * runs as f64,
        "two workers: DAG took {dag} µs, its runs {runs} µs together"
    );
    let (dag, runs) = dag_time_and_run_time("1");
    assert!(
        (dag as f64) >= 0.95 * runs as f64,
        "one worker: DAG took {dag} µs, its runs {runs} µs together"
    );
}

#[test]
fn replicas_get_persisted_keys_and_run_read_only_dags() {
    let dir = onnx_or_skip!();
    let master = Server::start();
    let replica = Server::start();
    let mut m = setup(&dir, &master);
    let mut r = replicate_from(&master, &replica);
    let r1 = exec(
        &mut m,
        &w("AI.DAGEXECUTE PERSIST 2 x y |> AI.TENSORSET x FLOAT 1 4 VALUES 1 2 3 4 \
            |> AI.MODELEXECUTE mlp INPUTS 1 x OUTPUTS 1 p |> AI.MODELEXECUTE double INPUTS 1 p OUTPUTS 1 y"),
    );
    assert!(r1.is_ok(), "{r1:?}");
    assert_eq!(exec(&mut m, &["WAIT", "1", "5000"]), Ok(Value::Int(1)));
    for k in ["x", "y"] {
        assert_eq!(
            exec(&mut r, &["AI.TENSORGET", k, "BLOB"]),
            exec(&mut m, &["AI.TENSORGET", k, "BLOB"]),
            "{k}"
        );
    }
    assert!(!keys(&mut r).contains(&"p".to_string()));
    // A replica runs read-only DAGs itself, and refuses the writing form.
    let ro = exec(
        &mut r,
        &w("AI.DAGEXECUTE_RO LOAD 1 x |> AI.MODELEXECUTE mlp INPUTS 1 x OUTPUTS 1 q |> AI.TENSORGET q BLOB"),
    )
    .unwrap();
    let on_master = exec(
        &mut m,
        &w("AI.DAGEXECUTE_RO LOAD 1 x |> AI.MODELEXECUTE mlp INPUTS 1 x OUTPUTS 1 q |> AI.TENSORGET q BLOB"),
    )
    .unwrap();
    assert_eq!(ro, on_master);
    assert_eq!(ai_info_int(&mut r, "mlp", "calls"), 1);
    let e = exec(
        &mut r,
        &w("AI.DAGEXECUTE PERSIST 1 z |> AI.TENSORSET z FLOAT 1"),
    )
    .unwrap_err();
    assert!(e.starts_with("READONLY"), "{e}");
}

#[test]
fn key_positions_are_declared() {
    let s = Server::start();
    let mut c = s.client();
    let got = exec(
        &mut c,
        &w("COMMAND GETKEYS AI.DAGEXECUTE LOAD 2 a b PERSIST 1 c ROUTING r |> AI.TENSORSET local FLOAT 1 \
            |> AI.MODELEXECUTE m INPUTS 1 a OUTPUTS 1 c |> AI.TENSORGET c"),
    )
    .unwrap();
    assert_eq!(got, values(&["a", "b", "c", "r", "m"]));
    let got = exec(
        &mut c,
        &w("COMMAND GETKEYS AI.DAGRUN_RO |> AI.MODELRUN m INPUTS a OUTPUTS b"),
    )
    .unwrap();
    assert_eq!(got, values(&["m"]));
}

#[test]
fn cluster_routes_dags_by_their_keys() {
    let (_s, mut c) = half_cluster();
    let served = cluster_keys(&mut c, true, 2);
    let (a, b) = (&served[0], &served[1]);
    let foreign = cluster_keys(&mut c, false, 1).remove(0);
    // ROUTING alone places a DAG of local tensors.
    let line = |routing: &str| {
        format!(
            "AI.DAGEXECUTE ROUTING {routing} |> AI.TENSORSET t FLOAT 1 |> AI.TENSORGET t VALUES"
        )
    };
    assert!(exec(&mut c, &w(&line(a))).is_ok());
    assert_eq!(
        exec(&mut c, &w(&line(&foreign))).unwrap_err(),
        "CLUSTERDOWN Hash slot not served"
    );
    // Keys in two slots are refused by the server before the module sees them.
    assert_ok(&mut c, &["AI.TENSORSET", a, "FLOAT", "1"]);
    let e = exec(
        &mut c,
        &w(&format!(
            "AI.DAGEXECUTE LOAD 1 {a} PERSIST 1 {b} |> AI.TENSORGET {a} |> AI.TENSORSET {b} FLOAT 1"
        )),
    )
    .unwrap_err();
    assert_eq!(e, "CROSSSLOT Keys in request don't hash to the same slot");
}
