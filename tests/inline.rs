//! Runs made in the command itself (`ai.inline_max_us`): a model learned to be small runs on
//! the main thread and answers exactly as a queued run does; a slow, batched or still busy
//! model goes to the queue. Which path a run took is read from INFO's `ai_runs` counters.

mod common;

use std::path::Path;
use std::thread;
use std::time::Duration;

use common::*;

fn runs(c: &mut redis::Connection) -> (i64, i64) {
    let mut n = |f| info_field(c, "modules", f).parse::<i64>().unwrap();
    (n("ai_inline_runs"), n("ai_queued_runs"))
}

fn store_all(dir: &Path, c: &mut redis::Connection) {
    for (key, file) in [
        ("mlp", "mlp.onnx"),
        ("addmul", "addmul.onnx"),
        ("strings", "strings.onnx"),
        ("slow", "slow.onnx"),
    ] {
        let r = store_model(c, key, &model_file(dir, file), &[]);
        assert_eq!(r, Ok(Value::Okay), "{key}");
    }
}

/// The calls compared: outputs of every kind the test models have, and an engine error.
const CALLS: [&str; 4] = [
    "AI.MODELEXECUTE mlp INPUTS 1 x OUTPUTS 1 p",
    "AI.MODELEXECUTE addmul INPUTS 2 a b OUTPUTS 2 s m",
    "AI.MODELEXECUTE strings INPUTS 1 str OUTPUTS 1 so",
    // The MLP takes FLOAT: ONNX Runtime refuses an INT8 input.
    "AI.MODELEXECUTE mlp INPUTS 1 i8 OUTPUTS 1 bad",
];

/// Every call's reply, every output key's AI.TENSORGET META BLOB, and AI.INFO of the models
/// without its timing.
fn observe(c: &mut redis::Connection) -> Vec<String> {
    let mut seen: Vec<String> = CALLS
        .iter()
        .map(|call| format!("{:?}", exec(c, &w(call))))
        .collect();
    for key in ["p", "s", "m", "so", "bad"] {
        seen.push(format!(
            "{key}: {:?}",
            exec(c, &["AI.TENSORGET", key, "META", "BLOB"])
        ));
    }
    for model in ["mlp", "addmul", "strings"] {
        let info: Vec<_> = ai_info(c, model)
            .into_iter()
            .filter(|(f, _)| f != "duration")
            .collect();
        seen.push(format!("{info:?}"));
    }
    seen
}

fn inputs(c: &mut redis::Connection) {
    for cmd in [
        "AI.TENSORSET x FLOAT 2 4 VALUES 0.5 -1 2 0.75 1 2 3 4",
        "AI.TENSORSET a FLOAT 2 2 VALUES 1 2 3 4",
        "AI.TENSORSET b FLOAT 2 2 VALUES 5 6 7 8",
        "AI.TENSORSET str STRING 2 VALUES hello world",
        "AI.TENSORSET i8 INT8 1 4 VALUES 1 2 3 4",
    ] {
        assert_ok(c, &w(cmd));
    }
}

#[test]
fn inline_runs_answer_as_queued_runs_do() {
    let dir = onnx_or_skip!();
    let s = Server::start();
    let mut c = s.client();
    store_all(&dir, &mut c);
    inputs(&mut c);
    // Queued: inline runs off. The first runs teach each model its time.
    assert_ok(&mut c, &w("CONFIG SET ai.inline_max_us 0"));
    for call in CALLS {
        let _ = exec(&mut c, &w(call));
    }
    for model in ["mlp", "addmul", "strings"] {
        assert_ok(&mut c, &["AI.INFO", model, "RESETSTAT"]);
    }
    let before = runs(&mut c);
    let queued = observe(&mut c);
    let after = runs(&mut c);
    assert_eq!(after.0 - before.0, 0, "nothing ran inline");
    assert_eq!(after.1 - before.1, CALLS.len() as i64);

    for key in ["p", "s", "m", "so", "bad"] {
        let _ = exec(&mut c, &["DEL", key]);
    }
    for model in ["mlp", "addmul", "strings"] {
        assert_ok(&mut c, &["AI.INFO", model, "RESETSTAT"]);
    }
    // Inline: a limit no test model's run reaches.
    assert_ok(&mut c, &w("CONFIG SET ai.inline_max_us 1000000"));
    let before = runs(&mut c);
    let inline = observe(&mut c);
    let after = runs(&mut c);
    assert_eq!(
        after.0 - before.0,
        CALLS.len() as i64,
        "every call ran inline"
    );
    assert_eq!(after.1 - before.1, 0);
    assert_eq!(inline, queued);
    assert_eq!(queued[0], format!("{:?}", Ok::<_, String>(Value::Okay)));
    assert!(
        queued[3].starts_with("Err"),
        "the INT8 call fails: {queued:?}"
    );
}

#[test]
fn inline_outputs_reach_a_replica() {
    let dir = onnx_or_skip!();
    let master = Server::start();
    let replica = Server::start();
    let mut r = replicate_from(&master, &replica);
    let mut c = master.client();
    store_all(&dir, &mut c);
    inputs(&mut c);
    assert_ok(&mut c, &w("CONFIG SET ai.inline_max_us 1000000"));
    assert_ok(&mut c, &w(CALLS[0]));
    let before = runs(&mut c);
    assert_ok(&mut c, &w("AI.MODELEXECUTE mlp INPUTS 1 x OUTPUTS 1 p2"));
    assert_eq!(runs(&mut c).0 - before.0, 1, "ran inline");
    let expected = floats(&mut c, "p2");
    wait_for(Duration::from_secs(10), "p2 on the replica", || {
        exec(&mut r, &["EXISTS", "p2"]) == Ok(Value::Int(1))
    });
    assert_eq!(floats(&mut r, "p2"), expected);
}

#[test]
fn a_run_waits_behind_a_queued_run_of_the_same_model() {
    let dir = onnx_or_skip!();
    let s = Server::start();
    let mut c = s.client();
    store_all(&dir, &mut c);
    inputs(&mut c);
    assert_ok(&mut c, &w("CONFIG SET ai.inline_max_us 1000000"));
    assert_ok(&mut c, &w("AI.TENSORSET x2 FLOAT 1 4 VALUES 4 3 2 1"));
    assert_ok(&mut c, &w("AI.MODELEXECUTE mlp INPUTS 1 x2 OUTPUTS 1 want"));
    let want = floats(&mut c, "want");
    assert_ok(&mut c, &w("AI.TENSORSET big INT64 2 VALUES 800 800"));
    // The one worker is busy with the slow model; a DAG of the MLP (always queued) waits
    // behind it, to write `y` from `x`.
    let slow = spawn(&s, "AI.MODELEXECUTE slow INPUTS 1 big OUTPUTS 1 sy");
    wait_for(Duration::from_secs(10), "the slow run blocked", || {
        info_field(&mut c, "clients", "blocked_clients") == "1"
    });
    let dag = spawn(
        &s,
        "AI.DAGEXECUTE PERSIST 1 y |> AI.TENSORSET in FLOAT 1 4 VALUES 0.5 -1 2 0.75 \
         |> AI.MODELEXECUTE mlp INPUTS 1 in OUTPUTS 1 y",
    );
    wait_for(Duration::from_secs(10), "the DAG blocked", || {
        info_field(&mut c, "clients", "blocked_clients") == "2"
    });
    // The MLP is small and learned, but a plan of it is outstanding: this run must not
    // overtake it, so `y` ends as this run's output, written after the DAG's.
    let before = runs(&mut c);
    assert_ok(&mut c, &w("AI.MODELEXECUTE mlp INPUTS 1 x2 OUTPUTS 1 y"));
    assert_eq!(dag.join().unwrap(), Ok(Value::Array(vec![Value::Okay; 2])));
    assert_eq!(runs(&mut c).0 - before.0, 0, "queued, not inline");
    assert_eq!(floats(&mut c, "y"), want);
    assert_eq!(slow.join().unwrap(), Ok(Value::Okay));
}

#[test]
fn slow_and_batched_models_still_go_to_the_queue() {
    let dir = onnx_or_skip!();
    let s = Server::start();
    let mut c = s.client();
    store_all(&dir, &mut c);
    inputs(&mut c);
    // A millisecond: far above the MLP's run, far below the slow model's on this input.
    assert_ok(&mut c, &w("CONFIG SET ai.inline_max_us 1000"));
    assert_ok(&mut c, &w("AI.TENSORSET n INT64 2 VALUES 200 200"));
    let before = runs(&mut c);
    for _ in 0..4 {
        assert_ok(&mut c, &w("AI.MODELEXECUTE slow INPUTS 1 n OUTPUTS 1 y"));
    }
    let after = runs(&mut c);
    assert_eq!((after.0 - before.0, after.1 - before.1), (0, 4));
    // The setting is in force: the MLP, once learned, runs inline.
    assert_ok(&mut c, &w(CALLS[0]));
    let before = runs(&mut c);
    assert_ok(&mut c, &w(CALLS[0]));
    assert_eq!(runs(&mut c).0 - before.0, 1);
    // Batching needs the queue, however small the model.
    let r = store_model(
        &mut c,
        "batched",
        &model_file(&dir, "mlp.onnx"),
        &w("BATCHSIZE 4"),
    );
    assert_eq!(r, Ok(Value::Okay));
    let before = runs(&mut c);
    for _ in 0..3 {
        assert_ok(&mut c, &w("AI.MODELEXECUTE batched INPUTS 1 x OUTPUTS 1 p"));
    }
    let after = runs(&mut c);
    assert_eq!((after.0 - before.0, after.1 - before.1), (0, 3));
    // Inside MULTI the refusal stands, small model or not.
    assert_ok(&mut c, &["MULTI"]);
    let _ = exec(&mut c, &w(CALLS[0]));
    let r = exec(&mut c, &["EXEC"]);
    assert!(format!("{r:?}").contains("Cannot run"), "{r:?}");
}

/// Runs `line` on a connection of its own in a thread (a blocking command).
fn spawn(s: &Server, line: &str) -> thread::JoinHandle<Result<Value, String>> {
    let mut c = s.client();
    let words: Vec<String> = w(line).iter().map(|s| s.to_string()).collect();
    thread::spawn(move || {
        let w: Vec<&str> = words.iter().map(String::as_str).collect();
        exec(&mut c, &w)
    })
}
