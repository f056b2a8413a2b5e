//! AI.TENSORSET / AI.TENSORGET against a real redis-server.

mod common;

use common::*;

const NUMERIC: [&str; 9] = [
    "FLOAT", "DOUBLE", "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "BOOL",
];

fn meta(v: &Value) -> (String, Vec<i64>) {
    let a = array(v);
    assert_eq!(bytes(&a[0]), b"dtype");
    assert_eq!(bytes(&a[2]), b"shape");
    let shape = array(&a[3])
        .iter()
        .map(|d| match d {
            Value::Int(i) => *i,
            other => panic!("dim {other:?}"),
        })
        .collect();
    (String::from_utf8(bytes(&a[1])).unwrap(), shape)
}

fn elem_bytes(dtype: &str, v: i64) -> Vec<u8> {
    match dtype {
        "FLOAT" => (v as f32).to_ne_bytes().to_vec(),
        "DOUBLE" => (v as f64).to_ne_bytes().to_vec(),
        "INT8" => (v as i8).to_ne_bytes().to_vec(),
        "INT16" => (v as i16).to_ne_bytes().to_vec(),
        "INT32" => (v as i32).to_ne_bytes().to_vec(),
        "INT64" => v.to_ne_bytes().to_vec(),
        "UINT8" | "BOOL" => vec![v as u8],
        "UINT16" => (v as u16).to_ne_bytes().to_vec(),
        _ => unreachable!(),
    }
}

#[test]
fn every_numeric_dtype_round_trips_through_values_and_blob() {
    let s = Server::start();
    let mut c = s.client();
    for dt in NUMERIC {
        let vals: &[i64] = if dt == "BOOL" {
            &[1, 0, 1, 1, 0, 1]
        } else {
            &[1, 2, 3, 4, 5, 127]
        };
        let words: Vec<String> = vals.iter().map(|v| v.to_string()).collect();
        let mut cmd = vec!["AI.TENSORSET", "a", dt, "2", "3", "VALUES"];
        cmd.extend(words.iter().map(|s| s.as_str()));
        assert_ok(&mut c, &cmd);

        let expected_blob: Vec<u8> = vals.iter().flat_map(|v| elem_bytes(dt, *v)).collect();
        let reply = exec(&mut c, &["AI.TENSORGET", "a", "META", "BLOB"]).unwrap();
        assert_eq!(meta(&reply), (dt.to_string(), vec![2, 3]));
        assert_eq!(bytes(&array(&reply)[4]), b"blob");
        assert_eq!(bytes(&array(&reply)[5]), expected_blob, "{dt}");

        // Store the blob under another key; both read back identically in every format.
        let blob = bytes(&exec(&mut c, &["AI.TENSORGET", "a", "BLOB"]).unwrap());
        assert_eq!(
            set_blob(&mut c, "b", dt, &["2", "3"], &blob),
            Ok(Value::Okay)
        );
        for fmt in ["META", "VALUES", "BLOB"] {
            assert_eq!(
                exec(&mut c, &["AI.TENSORGET", "a", fmt]),
                exec(&mut c, &["AI.TENSORGET", "b", fmt]),
                "{dt} {fmt}"
            );
        }
        let values = exec(&mut c, &["AI.TENSORGET", "b", "VALUES"]).unwrap();
        let got: Vec<String> = array(&values)
            .iter()
            .map(|v| match v {
                Value::Int(i) => i.to_string(),
                Value::BulkString(b) => String::from_utf8(b.clone()).unwrap(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(got, words, "{dt}");
        // Floats come back as (RESP2) strings, integer types as integers.
        let is_float = matches!(dt, "FLOAT" | "DOUBLE");
        assert_eq!(
            matches!(array(&values)[0], Value::BulkString(_)),
            is_float,
            "{dt}"
        );
    }
}

#[test]
fn tensorget_formats_in_any_order() {
    let s = Server::start();
    let mut c = s.client();
    assert_ok(
        &mut c,
        &["AI.TENSORSET", "t", "FLOAT", "1", "2", "VALUES", "5", "10"],
    );
    let mv = exec(&mut c, &["AI.TENSORGET", "t", "META", "VALUES"]).unwrap();
    let expected = Value::Array(vec![
        Value::BulkString(b"dtype".to_vec()),
        Value::BulkString(b"FLOAT".to_vec()),
        Value::BulkString(b"shape".to_vec()),
        Value::Array(vec![Value::Int(1), Value::Int(2)]),
        Value::BulkString(b"values".to_vec()),
        Value::Array(vec![
            Value::BulkString(b"5".to_vec()),
            Value::BulkString(b"10".to_vec()),
        ]),
    ]);
    assert_eq!(mv, expected);
    assert_eq!(
        exec(&mut c, &["AI.TENSORGET", "t", "values", "meta"]).unwrap(),
        expected
    );
    let default = exec(&mut c, &["AI.TENSORGET", "t"]).unwrap();
    assert_eq!(
        default,
        exec(&mut c, &["AI.TENSORGET", "t", "Blob", "Meta"]).unwrap()
    );
    assert_eq!(array(&default).len(), 6);
    assert_eq!(
        array(&exec(&mut c, &["AI.TENSORGET", "t", "META"]).unwrap()).len(),
        4
    );
    let blob: Vec<u8> = [5f32, 10f32].iter().flat_map(|f| f.to_ne_bytes()).collect();
    assert_eq!(
        exec(&mut c, &["AI.TENSORGET", "t", "BLOB"]),
        Ok(Value::BulkString(blob))
    );
}

#[test]
fn scalars_and_zero_filled_tensors() {
    let s = Server::start();
    let mut c = s.client();
    assert_ok(&mut c, &["AI.TENSORSET", "s", "FLOAT", "VALUES", "3"]);
    let r = exec(&mut c, &["AI.TENSORGET", "s", "META", "VALUES"]).unwrap();
    assert_eq!(meta(&r), ("FLOAT".to_string(), vec![]));
    assert_eq!(array(&array(&r)[5]), &[Value::BulkString(b"3".to_vec())]);

    assert_ok(
        &mut c,
        &["AI.TENSORSET", "s", "INT16", "BLOB", "\u{1}\u{0}"],
    );
    assert_eq!(
        exec(&mut c, &["AI.TENSORGET", "s", "VALUES"]),
        Ok(Value::Array(vec![Value::Int(1)]))
    );

    for dt in NUMERIC {
        assert_ok(&mut c, &["AI.TENSORSET", "z", dt, "2", "2"]);
        let v = exec(&mut c, &["AI.TENSORGET", "z", "VALUES"]).unwrap();
        assert_eq!(array(&v).len(), 4);
        let blob = bytes(&exec(&mut c, &["AI.TENSORGET", "z", "BLOB"]).unwrap());
        assert!(blob.iter().all(|&b| b == 0), "{dt}");
        assert_eq!(blob.len(), 4 * elem_bytes(dt, 0).len());
    }
}

#[test]
fn string_tensors_follow_the_nul_rules() {
    let s = Server::start();
    let mut c = s.client();
    assert_ok(
        &mut c,
        &[
            "AI.TENSORSET",
            "v",
            "STRING",
            "2",
            "VALUES",
            "str_val1",
            "str_val2\0",
        ],
    );
    assert_eq!(
        exec(&mut c, &["AI.TENSORGET", "v", "VALUES"]),
        Ok(Value::Array(vec![
            Value::BulkString(b"str_val1".to_vec()),
            Value::BulkString(b"str_val2".to_vec())
        ]))
    );
    assert_eq!(
        exec(&mut c, &["AI.TENSORGET", "v", "BLOB"]),
        Ok(Value::BulkString(b"str_val1\0str_val2\0".to_vec()))
    );
    assert_ok(
        &mut c,
        &[
            "AI.TENSORSET",
            "b",
            "STRING",
            "2",
            "2",
            "BLOB",
            "str11\0str12\0str21\0\0",
        ],
    );
    let r = exec(&mut c, &["AI.TENSORGET", "b", "META", "VALUES"]).unwrap();
    assert_eq!(meta(&r), ("STRING".to_string(), vec![2, 2]));
    let vals: Vec<Vec<u8>> = array(&array(&r)[5]).iter().map(bytes).collect();
    assert_eq!(
        vals,
        vec![
            b"str11".to_vec(),
            b"str12".to_vec(),
            b"str21".to_vec(),
            vec![]
        ]
    );

    assert_ok(&mut c, &["AI.TENSORSET", "e", "STRING", "2"]);
    assert_eq!(
        exec(&mut c, &["AI.TENSORGET", "e", "VALUES"]),
        Ok(Value::Array(vec![
            Value::BulkString(vec![]),
            Value::BulkString(vec![])
        ]))
    );
    // An empty VALUES element is an empty string (upstream read out of bounds).
    assert_ok(
        &mut c,
        &["AI.TENSORSET", "e", "STRING", "2", "VALUES", "", "x"],
    );
    assert_eq!(
        exec(&mut c, &["AI.TENSORGET", "e", "BLOB"]),
        Ok(Value::BulkString(b"\0x\0".to_vec()))
    );
    assert_ok(
        &mut c,
        &[
            "AI.TENSORSET",
            "u",
            "STRING",
            "2",
            "BLOB",
            "english\0עברית\0",
        ],
    );
    let v = exec(&mut c, &["AI.TENSORGET", "u", "VALUES"]).unwrap();
    assert_eq!(String::from_utf8(bytes(&array(&v)[1])).unwrap(), "עברית");
}

#[test]
fn tensorset_error_replies_are_exact() {
    let s = Server::start();
    let mut c = s.client();
    let _: () = redis::cmd("SET")
        .arg("non-tensor")
        .arg("value")
        .query(&mut c)
        .unwrap();
    let arity = "ERR wrong number of arguments for 'AI.TENSORSET' command";
    let cases: &[(&[&str], &str)] = &[
        (&["AI.TENSORSET"], arity),
        (&["AI.TENSORSET", "z"], arity),
        (&["AI.TENSORSET", "z", "FLOAT"], arity),
        (
            &["AI.TENSORSET", "non-tensor", "INT32", "2", "unsupported", "2", "3"],
            "WRONGTYPE Operation against a key holding the wrong kind of value",
        ),
        (&["AI.TENSORSET", "z", "INT128", "2", "VALUES", "2", "3"], "ERR invalid data type"),
        (&["AI.TENSORSET", "z", "UINT32", "2"], "ERR invalid data type"),
        (&["AI.TENSORSET", "z", "FLOAT16", "2"], "ERR invalid data type"),
        (
            &["AI.TENSORSET", "z", "INT32", "-1", "VALUES", "2", "3"],
            "ERR invalid or negative value found in tensor shape",
        ),
        (
            &["AI.TENSORSET", "z", "INT32", "2", "not_a_number", "VALUES", "2", "3"],
            "ERR invalid or negative value found in tensor shape",
        ),
        (&["AI.TENSORSET", "z", "INT32", "0"], "ERR invalid or negative value found in tensor shape"),
        (&["AI.TENSORSET", "z", "FLOAT", "2", "VALUES", "2", "A"], "ERR invalid value"),
        (&["AI.TENSORSET", "z", "INT32", "2", "VALUES", "2", "1.87"], "ERR invalid value"),
        (&["AI.TENSORSET", "z", "BOOL", "2", "VALUES", "1", "2"], "ERR invalid value"),
        (&["AI.TENSORSET", "z", "INT8", "2", "VALUES", "-129", "1"], "ERR invalid value"),
        (&["AI.TENSORSET", "z", "UINT8", "1", "VALUES", "256"], "ERR invalid value"),
        (&["AI.TENSORSET", "z", "UINT16", "1", "VALUES", "-1"], "ERR invalid value"),
        (&["AI.TENSORSET", "z", "FLOAT", "1", "VALUES", "nan"], "ERR invalid value"),
        (&["AI.TENSORSET", "z", "FLOAT", "1", "VALUES", "1e39"], "ERR invalid value"),
        (&["AI.TENSORSET", "z", "DOUBLE", "1", "VALUES", "1e400"], "ERR invalid value"),
        (
            &["AI.TENSORSET", "z", "STRING", "2", "VALUES", "valid C-string", "invalid\0C-string"],
            "ERR C-string value contains null character",
        ),
        (
            &["AI.TENSORSET", "z", "FLOAT", "2", "VALUES", "1"],
            "ERR wrong number of values was given in 'AI.TENSORSET' command",
        ),
        (
            &["AI.TENSORSET", "z", "FLOAT", "2", "VALUES", "1", "2", "3"],
            "ERR wrong number of values was given in 'AI.TENSORSET' command",
        ),
        (
            &["AI.TENSORSET", "z", "FLOAT", "2", "BLOB", "\0", "extra-argument"],
            "ERR a single binary string should come after the BLOB argument in 'AI.TENSORSET' command",
        ),
        (
            &["AI.TENSORSET", "z", "FLOAT", "2", "BLOB"],
            "ERR a single binary string should come after the BLOB argument in 'AI.TENSORSET' command",
        ),
        (
            &["AI.TENSORSET", "z", "FLOAT", "1", "1", "28", "280", "BLOB", "0123"],
            "ERR data length does not match tensor shape and type",
        ),
        (
            &["AI.TENSORSET", "z", "FLOAT", "2", "BLOB", "1234567"],
            "ERR data length does not match tensor shape and type",
        ),
        (
            &["AI.TENSORSET", "z", "STRING", "2", "BLOB", "single c-string\0"],
            "ERR Number of string elements in data blob does not match tensor length",
        ),
        (
            &["AI.TENSORSET", "z", "STRING", "2", "BLOB", "one\0two\0three\0"],
            "ERR Number of string elements in data blob does not match tensor length",
        ),
        (
            &["AI.TENSORSET", "z", "STRING", "2", "BLOB", "C-string\0followed by a non C-string"],
            "ERR Number of string elements in data blob does not match tensor length",
        ),
        (
            &["AI.TENSORSET", "z", "STRING", "1", "BLOB", ""],
            "ERR Number of string elements in data blob does not match tensor length",
        ),
        (&["AI.TENSORSET", "z", "BOOL", "2", "BLOB", "\u{2}\u{1}"], "ERR BOOL tensor elements must be 0 or 1"),
        (&["AI.TENSORSET", "z", "BOOL", "2", "BLOB", "\u{1}\u{7}"], "ERR BOOL tensor elements must be 0 or 1"),
        (
            &["AI.TENSORSET", "z", "FLOAT", "4611686018427387904", "4"],
            "ERR tensor shape is too large",
        ),
        (
            &["AI.TENSORSET", "z", "FLOAT", "65536", "65536", "65536"],
            "ERR tensor of 1125899906842624 bytes exceeds the limit of 536870912 bytes (ai.tensor_max_bytes)",
        ),
    ];
    for (words, expected) in cases {
        assert_err(&mut c, words, expected);
    }
    // Nothing was written by any of them.
    assert_eq!(keys(&mut c), vec!["non-tensor"]);
}

#[test]
fn negative_values_are_accepted_for_signed_types() {
    // A deliberate difference from RedisAI, which refused every negative VALUES element.
    let s = Server::start();
    let mut c = s.client();
    assert_ok(
        &mut c,
        &["AI.TENSORSET", "z", "INT8", "2", "VALUES", "-1", "-128"],
    );
    assert_eq!(
        exec(&mut c, &["AI.TENSORGET", "z", "VALUES"]),
        Ok(Value::Array(vec![Value::Int(-1), Value::Int(-128)]))
    );
    assert_ok(
        &mut c,
        &[
            "AI.TENSORSET",
            "z",
            "INT64",
            "1",
            "VALUES",
            "-9223372036854775808",
        ],
    );
    assert_eq!(
        exec(&mut c, &["AI.TENSORGET", "z", "VALUES"]),
        Ok(Value::Array(vec![Value::Int(i64::MIN)]))
    );
}

#[test]
fn tensorget_error_replies_are_exact() {
    let s = Server::start();
    let mut c = s.client();
    let arity = "ERR wrong number of arguments for 'AI.TENSORGET' command";
    assert_err(&mut c, &["AI.TENSORGET"], arity);
    assert_err(
        &mut c,
        &["AI.TENSORGET", "t", "META", "VALUES", "extra-arg"],
        arity,
    );
    assert_err(
        &mut c,
        &["AI.TENSORGET", "empty"],
        "ERR tensor key is empty or in a different shard",
    );
    let _: () = redis::cmd("SET")
        .arg("non-tensor")
        .arg("value")
        .query(&mut c)
        .unwrap();
    // The key is checked before the format words.
    assert_err(
        &mut c,
        &["AI.TENSORGET", "non-tensor", "unsupported"],
        "WRONGTYPE Operation against a key holding the wrong kind of value",
    );
    assert_ok(
        &mut c,
        &["AI.TENSORSET", "t", "FLOAT", "2", "VALUES", "1", "1"],
    );
    assert_err(
        &mut c,
        &["AI.TENSORGET", "t", "unsupported_format"],
        "ERR unsupported data format",
    );
    assert_err(
        &mut c,
        &["AI.TENSORGET", "t", "BLOB", "VALUES"],
        "ERR both BLOB and VALUES specified",
    );
    // Redis 7 quotes the registered name (upper case, as RedisAI's clients expect), however
    // the command was typed.
    assert_err(&mut c, &["ai.tensorget"], arity);
}

#[test]
fn failed_writes_leave_the_old_tensor_alone() {
    let s = Server::start();
    let mut c = s.client();
    assert_ok(
        &mut c,
        &["AI.TENSORSET", "t", "INT32", "2", "VALUES", "7", "8"],
    );
    let before = exec(&mut c, &["AI.TENSORGET", "t"]).unwrap();
    for bad in [
        &["AI.TENSORSET", "t", "INT32", "2", "VALUES", "7", "x"][..],
        &["AI.TENSORSET", "t", "INT32", "2", "BLOB", "abc"],
        &["AI.TENSORSET", "t", "BAD", "2"],
        &["AI.TENSORSET", "t", "FLOAT", "65536", "65536", "65536"],
    ] {
        assert!(exec(&mut c, bad).is_err());
        assert_eq!(exec(&mut c, &["AI.TENSORGET", "t"]).unwrap(), before);
    }
    // A good write replaces it.
    assert_ok(&mut c, &["AI.TENSORSET", "t", "UINT8", "1", "VALUES", "9"]);
    assert_eq!(
        exec(&mut c, &["AI.TENSORGET", "t", "VALUES"]),
        Ok(Value::Array(vec![Value::Int(9)]))
    );
    assert_eq!(
        exec(&mut c, &["TYPE", "t"]),
        Ok(Value::SimpleString("AI_TENSOR".into()))
    );
}

#[test]
fn overwriting_a_tensor_of_the_same_size_behaves_as_a_new_value() {
    // Same dtype and byte size: the key's buffer is rewritten in place; everything a client
    // can see must be what a fresh value gives.
    let s = Server::start();
    let mut c = s.client();
    let blob = |v: f32| v.to_ne_bytes().repeat(256);
    let set = |c: &mut redis::Connection, shape: &[&str], v: f32| {
        let mut cmd = redis::cmd("AI.TENSORSET");
        cmd.arg("t")
            .arg("FLOAT")
            .arg(shape)
            .arg("BLOB")
            .arg(blob(v));
        cmd.query::<Value>(c)
    };
    assert_eq!(set(&mut c, &["256"], 1.0), Ok(Value::Okay));
    assert_eq!(exec(&mut c, &["EXPIRE", "t", "100"]), Ok(Value::Int(1)));
    // A WATCH on the key sees the overwrite, like any write.
    let mut watcher = s.client();
    assert_ok(&mut watcher, &["WATCH", "t"]);
    assert_ok(&mut watcher, &["MULTI"]);
    assert_eq!(set(&mut c, &["4", "64"], 2.0), Ok(Value::Okay));
    let (dtype, shape) = meta(&exec(&mut c, &["AI.TENSORGET", "t", "META"]).unwrap());
    assert_eq!((dtype.as_str(), shape), ("FLOAT", vec![4, 64]));
    assert_eq!(
        exec(&mut c, &["AI.TENSORGET", "t", "BLOB"]),
        Ok(Value::BulkString(blob(2.0)))
    );
    assert_eq!(
        exec(&mut c, &["TTL", "t"]),
        Ok(Value::Int(-1)),
        "the TTL goes"
    );
    let _ = exec(&mut watcher, &["GET", "other"]);
    assert_eq!(
        exec(&mut watcher, &["EXEC"]),
        Ok(Value::Nil),
        "the WATCH fired"
    );
    // A bad blob of the right size changes nothing (BOOL elements must be 0 or 1).
    assert_ok(
        &mut c,
        &["AI.TENSORSET", "b", "BOOL", "3", "VALUES", "1", "0", "1"],
    );
    let e = redis::cmd("AI.TENSORSET")
        .arg("b")
        .arg("BOOL")
        .arg(3)
        .arg("BLOB")
        .arg(&[1u8, 2, 0][..])
        .query::<Value>(&mut c);
    assert!(e.is_err(), "{e:?}");
    assert_eq!(
        exec(&mut c, &["AI.TENSORGET", "b", "VALUES"]),
        Ok(Value::Array(vec![
            Value::Int(1),
            Value::Int(0),
            Value::Int(1)
        ]))
    );
    // Another dtype of the same byte size is a new value of that dtype.
    assert_eq!(
        redis::cmd("AI.TENSORSET")
            .arg("t")
            .arg("INT32")
            .arg(256)
            .arg("BLOB")
            .arg(7i32.to_ne_bytes().repeat(256))
            .query::<Value>(&mut c),
        Ok(Value::Okay)
    );
    let (dtype, shape) = meta(&exec(&mut c, &["AI.TENSORGET", "t", "META"]).unwrap());
    assert_eq!((dtype.as_str(), shape), ("INT32", vec![256]));
}

#[test]
fn huge_shapes_fail_at_once_and_memory_does_not_move() {
    let s = Server::start();
    let mut c = s.client();
    let before = s.used_memory();
    for _ in 0..100 {
        assert!(exec(
            &mut c,
            &["AI.TENSORSET", "t", "FLOAT", "4611686018427387904", "4"]
        )
        .is_err());
        assert!(exec(
            &mut c,
            &["AI.TENSORSET", "t", "FLOAT", "65536", "65536", "65536"]
        )
        .is_err());
        assert!(exec(&mut c, &["AI.TENSORSET", "t", "STRING", "100000000", "100"]).is_err());
        assert!(exec(
            &mut c,
            &[
                "AI.TENSORSET",
                "t",
                "DOUBLE",
                "9223372036854775807",
                "VALUES",
                "1"
            ]
        )
        .is_err());
    }
    let after = s.used_memory();
    assert!(
        (after - before).abs() < 256 * 1024,
        "used_memory moved from {before} to {after}"
    );
    assert!(keys(&mut c).is_empty());
}

#[test]
fn the_size_limit_is_configurable_and_follows_proto_max_bulk_len() {
    let s = Server::start();
    let mut c = s.client();
    assert_eq!(
        exec(&mut c, &["CONFIG", "GET", "ai.tensor_max_bytes"]),
        Ok(Value::Array(vec![
            Value::BulkString(b"ai.tensor_max_bytes".to_vec()),
            Value::BulkString(b"0".to_vec())
        ]))
    );
    assert_ok(&mut c, &["CONFIG", "SET", "ai.tensor_max_bytes", "100"]);
    assert_ok(&mut c, &["AI.TENSORSET", "t", "FLOAT", "25"]);
    assert_err(
        &mut c,
        &["AI.TENSORSET", "t", "FLOAT", "26"],
        "ERR tensor of 104 bytes exceeds the limit of 100 bytes (ai.tensor_max_bytes)",
    );
    assert_err(
        &mut c,
        &[
            "AI.TENSORSET",
            "t",
            "UINT8",
            "101",
            "BLOB",
            &"\0".repeat(101),
        ],
        "ERR tensor of 101 bytes exceeds the limit of 100 bytes (ai.tensor_max_bytes)",
    );
    // 0 goes back to the server's proto-max-bulk-len, and follows it when it changes.
    assert_ok(&mut c, &["CONFIG", "SET", "ai.tensor_max_bytes", "0"]);
    assert_ok(&mut c, &["CONFIG", "SET", "proto-max-bulk-len", "1mb"]);
    assert_ok(&mut c, &["AI.TENSORSET", "t", "FLOAT", "262144"]);
    assert_err(
        &mut c,
        &["AI.TENSORSET", "t", "FLOAT", "262145"],
        "ERR tensor of 1048580 bytes exceeds the limit of 1048576 bytes (ai.tensor_max_bytes)",
    );
    assert_ok(&mut c, &["CONFIG", "SET", "ai.tensor_max_bytes", "2mb"]);
    assert_ok(&mut c, &["AI.TENSORSET", "t", "FLOAT", "262145"]);
}

#[test]
fn resp3_returns_floats_as_doubles() {
    let s = Server::start();
    let mut c = s.client_resp3();
    assert_ok(
        &mut c,
        &[
            "AI.TENSORSET",
            "f",
            "FLOAT",
            "3",
            "VALUES",
            "1.5",
            "-2",
            "inf",
        ],
    );
    assert_eq!(
        exec(&mut c, &["AI.TENSORGET", "f", "VALUES"]),
        Ok(Value::Array(vec![
            Value::Double(1.5),
            Value::Double(-2.0),
            Value::Double(f64::INFINITY)
        ]))
    );
    assert_ok(
        &mut c,
        &["AI.TENSORSET", "d", "DOUBLE", "1", "VALUES", "0.1"],
    );
    let r = exec(&mut c, &["AI.TENSORGET", "d", "META", "VALUES"]).unwrap();
    assert_eq!(array(&r)[5], Value::Array(vec![Value::Double(0.1)]));
    assert_ok(&mut c, &["AI.TENSORSET", "i", "INT32", "1", "VALUES", "-3"]);
    assert_eq!(
        exec(&mut c, &["AI.TENSORGET", "i", "VALUES"]),
        Ok(Value::Array(vec![Value::Int(-3)]))
    );
    // RESP2 on the same server renders the f32 value widened, as Redis prints doubles.
    let mut c2 = s.client();
    let v = exec(&mut c2, &["AI.TENSORGET", "f", "VALUES"]).unwrap();
    assert_eq!(bytes(&array(&v)[0]), b"1.5");
}

#[test]
fn large_blobs_are_kept_and_validated() {
    let s = Server::start();
    let mut c = s.client();
    // 64 KiB, above the size from which the argument string is kept instead of copied.
    let n = 16384usize;
    let blob: Vec<u8> = (0..n).flat_map(|i| (i as f32).to_ne_bytes()).collect();
    let r = set_blob(&mut c, "big", "FLOAT", &["16384"], &blob);
    assert_eq!(r, Ok(Value::Okay));
    assert_eq!(
        run(&mut c, &[b"AI.TENSORGET", b"big", b"BLOB"]),
        Ok(Value::BulkString(blob.clone()))
    );
    // The tensor costs what a string value of the same bytes costs.
    let _: () = redis::cmd("SET")
        .arg("str")
        .arg(&blob)
        .query(&mut c)
        .unwrap();
    let usage: i64 = redis::cmd("MEMORY")
        .arg("USAGE")
        .arg("big")
        .query(&mut c)
        .unwrap();
    let string_usage: i64 = redis::cmd("MEMORY")
        .arg("USAGE")
        .arg("str")
        .query(&mut c)
        .unwrap();
    assert!(usage >= blob.len() as i64, "{usage}");
    assert!(
        usage <= string_usage + 512,
        "tensor {usage} bytes, string {string_usage} bytes"
    );

    let mut bools = vec![1u8; 40000];
    bools[39999] = 2;
    let r = set_blob(&mut c, "b", "BOOL", &["40000"], &bools);
    assert_eq!(
        r,
        Err("ERR BOOL tensor elements must be 0 or 1".to_string())
    );
    let mut strings = b"x\0".repeat(20000);
    assert_eq!(
        set_blob(&mut c, "s", "STRING", &["20000"], &strings),
        Ok(Value::Okay)
    );
    strings.pop();
    assert_eq!(
        set_blob(&mut c, "s", "STRING", &["20000"], &strings),
        Err("ERR Number of string elements in data blob does not match tensor length".to_string())
    );
    let v = exec(&mut c, &["AI.TENSORGET", "s", "VALUES"]).unwrap();
    assert_eq!(array(&v).len(), 20000);
    assert_eq!(bytes(&array(&v)[19999]), b"x");
    // Overwriting and deleting a kept blob returns its memory.
    let before = s.used_memory();
    for i in 0..50 {
        let key = format!("k{i}");
        let r = set_blob(&mut c, &key, "FLOAT", &["16384"], &blob);
        assert_eq!(r, Ok(Value::Okay));
    }
    assert!(s.used_memory() > before + 50 * blob.len() as i64);
    let _: () = redis::cmd("FLUSHALL").arg("SYNC").query(&mut c).unwrap();
    assert!(s.used_memory() < before, "memory not returned");
}

#[test]
fn tensors_work_in_transactions_and_scripts() {
    let s = Server::start();
    let mut c = s.client();
    let (a, b): (Value, Value) = redis::pipe()
        .atomic()
        .cmd("AI.TENSORSET")
        .arg("t")
        .arg("INT8")
        .arg(2)
        .arg("VALUES")
        .arg(1)
        .arg(2)
        .cmd("AI.TENSORGET")
        .arg("t")
        .arg("VALUES")
        .query(&mut c)
        .unwrap();
    assert_eq!(a, Value::Okay);
    assert_eq!(b, Value::Array(vec![Value::Int(1), Value::Int(2)]));
    let r: Value = redis::cmd("EVAL")
        .arg("redis.call('AI.TENSORSET', KEYS[1], 'FLOAT', 1, 'VALUES', 2.5); return redis.call('AI.TENSORGET', KEYS[1], 'VALUES')")
        .arg(1)
        .arg("l")
        .query(&mut c)
        .unwrap();
    assert_eq!(r, Value::Array(vec![Value::BulkString(b"2.5".to_vec())]));
    let err = redis::cmd("EVAL")
        .arg("return redis.call('AI.TENSORSET', KEYS[1], 'FLOAT', 1, 'VALUES', 'x')")
        .arg(1)
        .arg("l")
        .query::<Value>(&mut c)
        .unwrap_err();
    assert!(error_text(&err).contains("invalid value"), "{err}");
}

#[test]
fn keyspace_notifications_report_tensorset() {
    let s = Server::start();
    let mut c = s.client();
    assert_ok(&mut c, &["CONFIG", "SET", "notify-keyspace-events", "KEd"]);
    let mut sub = s.client();
    let mut pubsub = sub.as_pubsub();
    pubsub.psubscribe("__keyevent@0__:*").unwrap();
    assert_ok(&mut c, &["AI.TENSORSET", "t", "FLOAT", "1"]);
    let msg = pubsub.get_message().unwrap();
    assert_eq!(msg.get_channel_name(), "__keyevent@0__:ai.tensorset");
    assert_eq!(msg.get_payload::<String>().unwrap(), "t");
}

/// A small deterministic generator (xorshift64*), so a failure can be replayed.
fn random_word(r: &mut Rng) -> Vec<u8> {
    const WORDS: &[&str] = &[
        "FLOAT",
        "DOUBLE",
        "INT8",
        "INT16",
        "INT32",
        "INT64",
        "UINT8",
        "UINT16",
        "BOOL",
        "STRING",
        "BLOB",
        "VALUES",
        "META",
        "blob",
        "values",
        "0",
        "1",
        "2",
        "-1",
        "3",
        "65536",
        "9223372036854775807",
        "-9223372036854775808",
        "4611686018427387904",
        "1e400",
        "nan",
        "inf",
        "1.5",
        "",
        "\0",
        "x\0y",
        "INT128",
    ];
    match r.below(4) {
        0 => {
            let len = r.below(24) as usize;
            (0..len).map(|_| r.next() as u8).collect()
        }
        _ => r.pick(WORDS).as_bytes().to_vec(),
    }
}

#[test]
fn hostile_random_commands_cannot_crash_or_leak() {
    let s = Server::start();
    let mut c = s.client();
    let start = s.used_memory();
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let commands = ["AI.TENSORSET", "AI.TENSORGET", "AI.CONFIG"];
    let total = 20_000;
    let mut pipe = redis::pipe();
    for i in 0..total {
        let name = commands[rng.below(commands.len() as u64) as usize];
        let mut cmd = redis::cmd(name);
        if name == "AI.CONFIG" {
            // Never LOADBACKEND or BACKENDSPATH with random data: only the harmless forms.
            cmd.arg(rng.pick(&["GET", "MODEL_CHUNK_SIZE", "NOPE"]));
        } else {
            cmd.arg(format!("k{}", rng.below(8)));
        }
        for _ in 0..rng.below(8) {
            cmd.arg(random_word(&mut rng));
        }
        pipe.add_command(cmd).ignore();
        if i % 500 == 499 {
            // Errors are expected; the connection and the server must survive them.
            let _: redis::RedisResult<()> = pipe.query(&mut c);
            pipe = redis::pipe();
        }
    }
    assert_eq!(
        exec(&mut c, &["PING"]),
        Ok(Value::SimpleString("PONG".into()))
    );
    // SYNC: Valkey 8 may free a flushed keyspace in the background, after used_memory is read.
    let _: () = redis::cmd("FLUSHALL").arg("SYNC").query(&mut c).unwrap();
    assert_ok(&mut c, &["AI.CONFIG", "MODEL_CHUNK_SIZE", "535822336"]);
    let end = s.used_memory();
    assert!(
        (end - start).abs() < 1024 * 1024,
        "used_memory went from {start} to {end}"
    );
    assert!(
        !s.log().contains("panic"),
        "a command panicked:\n{}",
        s.log()
    );
}
