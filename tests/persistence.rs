//! AI_TENSOR persistence: RDB, DEBUG RELOAD, AOF (plain and rewritten), DUMP/RESTORE
//! (including payloads built by hand in RedisAI's documented format), COPY, and refusal of
//! truncated or corrupt data.

mod common;

use common::*;

/// Fills a server with one tensor of every dtype and a few shapes.
fn fill(c: &mut redis::Connection) {
    let cmds: &[&[&str]] = &[
        &[
            "AI.TENSORSET",
            "f",
            "FLOAT",
            "2",
            "2",
            "VALUES",
            "1",
            "2.5",
            "-3",
            "inf",
        ],
        &[
            "AI.TENSORSET",
            "d",
            "DOUBLE",
            "3",
            "VALUES",
            "0.1",
            "-0.2",
            "1e300",
        ],
        &["AI.TENSORSET", "i8", "INT8", "2", "VALUES", "-128", "127"],
        &[
            "AI.TENSORSET",
            "i16",
            "INT16",
            "1",
            "2",
            "VALUES",
            "-32768",
            "7",
        ],
        &["AI.TENSORSET", "i32", "INT32", "1", "VALUES", "-5"],
        &[
            "AI.TENSORSET",
            "i64",
            "INT64",
            "2",
            "VALUES",
            "9223372036854775807",
            "-1",
        ],
        &["AI.TENSORSET", "u8", "UINT8", "2", "VALUES", "255", "0"],
        &["AI.TENSORSET", "u16", "UINT16", "2", "VALUES", "65535", "1"],
        &["AI.TENSORSET", "b", "BOOL", "3", "VALUES", "1", "0", "1"],
        &[
            "AI.TENSORSET",
            "s",
            "STRING",
            "3",
            "VALUES",
            "a",
            "",
            "עברית",
        ],
        &["AI.TENSORSET", "scalar", "FLOAT", "VALUES", "7"],
        &["AI.TENSORSET", "zeros", "INT32", "4", "4"],
        &["AI.TENSORSET", "zs", "STRING", "2"],
    ];
    for cmd in cmds {
        assert_ok(c, cmd);
    }
    // One tensor large enough to take the kept-argument path.
    let big: Vec<u8> = (0..40000u32)
        .flat_map(|i| (i as f32).to_ne_bytes())
        .collect();
    assert_eq!(
        set_blob(c, "big", "FLOAT", &["200", "200"], &big),
        Ok(Value::Okay)
    );
}

/// Every key with its full TENSORGET reply (META + BLOB, and VALUES).
fn snapshot(c: &mut redis::Connection) -> Vec<(String, Value, Value)> {
    keys(c)
        .into_iter()
        .map(|k| {
            let mb = exec(c, &["AI.TENSORGET", &k, "META", "BLOB"]).unwrap();
            let v = exec(c, &["AI.TENSORGET", &k, "VALUES"]).unwrap();
            (k, mb, v)
        })
        .collect()
}

fn digest(c: &mut redis::Connection) -> String {
    let d: String = redis::cmd("DEBUG").arg("DIGEST").query(c).unwrap();
    assert_ne!(d, "0".repeat(40), "empty dataset");
    d
}

#[test]
fn debug_reload_round_trips_every_dtype() {
    let s = Server::start();
    let mut c = s.client();
    fill(&mut c);
    let before = snapshot(&mut c);
    let d = digest(&mut c);
    assert_ok(&mut c, &["DEBUG", "RELOAD"]);
    assert_eq!(digest(&mut c), d);
    assert_eq!(snapshot(&mut c), before);
    for k in ["f", "s", "big"] {
        let a: Vec<String> = redis::cmd("DEBUG")
            .arg("DIGEST-VALUE")
            .arg(k)
            .query(&mut c)
            .unwrap();
        assert_ne!(a[0], "0".repeat(40));
    }
}

#[test]
fn rdb_survives_a_restart() {
    let s = Server::with(Opts::default().server_args(&["--save", "3600 1"]));
    let mut c = s.client();
    fill(&mut c);
    let before = snapshot(&mut c);
    let d = digest(&mut c);
    let s = s.restart();
    let mut c = s.client();
    assert!(s.log().contains("Done loading RDB"), "{}", s.log());
    assert_eq!(digest(&mut c), d);
    assert_eq!(snapshot(&mut c), before);
}

#[test]
fn aof_replays_tensorset_and_survives_a_rewrite() {
    let opts = Opts::default().server_args(&[
        "--appendonly",
        "yes",
        "--aof-use-rdb-preamble",
        "no",
        "--appendfsync",
        "always",
    ]);
    let s = Server::with(opts);
    let mut c = s.client();
    fill(&mut c);
    let before = snapshot(&mut c);
    let d = digest(&mut c);
    // First the verbatim commands in the AOF...
    let s = s.restart();
    let mut c = s.client();
    assert_eq!(digest(&mut c), d);
    // ...then the rewritten form (AI.TENSORSET ... BLOB), without an RDB preamble.
    let _: Value = redis::cmd("BGREWRITEAOF").query(&mut c).unwrap();
    wait_for(std::time::Duration::from_secs(20), "AOF rewrite", || {
        info_field(&mut c, "persistence", "aof_rewrite_in_progress") == "0"
            && info_field(&mut c, "persistence", "aof_rewrite_scheduled") == "0"
    });
    assert_eq!(
        info_field(&mut c, "persistence", "aof_last_bgrewrite_status"),
        "ok"
    );
    let s = s.restart();
    let mut c = s.client();
    assert_eq!(digest(&mut c), d);
    assert_eq!(snapshot(&mut c), before);
    let aof_dir = s.dir.join("appendonlydir");
    let rewritten: Vec<u8> = std::fs::read_dir(&aof_dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".base.aof"))
        .flat_map(|e| std::fs::read(e.path()).unwrap())
        .collect();
    let text = String::from_utf8_lossy(&rewritten);
    assert!(text.contains("AI.TENSORSET"), "base AOF:\n{text}");
    assert!(text.contains("BLOB"));
}

#[test]
fn dump_restore_and_copy_round_trip() {
    let s = Server::start();
    let mut c = s.client();
    fill(&mut c);
    for k in keys(&mut c) {
        let payload: Vec<u8> = redis::cmd("DUMP").arg(&k).query(&mut c).unwrap();
        let copy = format!("{k}-restored");
        let r = run(&mut c, &[b"RESTORE", copy.as_bytes(), b"0", &payload]);
        assert_eq!(r, Ok(Value::Okay), "{k}");
        assert_eq!(
            exec(&mut c, &["AI.TENSORGET", &k]),
            exec(&mut c, &["AI.TENSORGET", &copy]),
            "{k}"
        );
        let copied = format!("{k}-copied");
        assert_eq!(exec(&mut c, &["COPY", &k, &copied]), Ok(Value::Int(1)));
        assert_eq!(
            exec(&mut c, &["AI.TENSORGET", &k, "VALUES"]),
            exec(&mut c, &["AI.TENSORGET", &copied, "VALUES"])
        );
    }
    // A copy is independent: overwriting the original leaves it alone.
    let before = exec(&mut c, &["AI.TENSORGET", "f-copied"]).unwrap();
    assert_ok(&mut c, &["AI.TENSORSET", "f", "FLOAT", "1"]);
    let _: () = redis::cmd("DEL").arg("f-restored").query(&mut c).unwrap();
    assert_eq!(exec(&mut c, &["AI.TENSORGET", "f-copied"]).unwrap(), before);
}

// ---- DUMP payloads built from RedisAI's documented format (spec §1.2, §10) ----

const RDB_TYPE_MODULE_2: u8 = 7;
// RedisModule_SaveSigned writes the value's bits with the unsigned opcode.
const OP_UINT: u64 = 2;
const OP_STRING: u64 = 5;
const OP_EOF: u64 = 0;

/// Redis's module type id: 9 name characters of 6 bits each, then 10 bits of encoding version.
fn module_id(name: &str, encver: u64) -> u64 {
    const CHARSET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let id = name.bytes().fold(0u64, |id, ch| {
        (id << 6) | CHARSET.iter().position(|&x| x == ch).unwrap() as u64
    });
    (id << 10) | encver
}

fn rdb_len(out: &mut Vec<u8>, v: u64) {
    if v < 1 << 6 {
        out.push(v as u8);
    } else if v < 1 << 14 {
        out.push(0x40 | (v >> 8) as u8);
        out.push(v as u8);
    } else if v <= u64::from(u32::MAX) {
        out.push(0x80);
        out.extend((v as u32).to_be_bytes());
    } else {
        out.push(0x81);
        out.extend(v.to_be_bytes());
    }
}

/// CRC-64/Jones as Redis computes it (reflected, polynomial 0xad93d23594c935a9).
fn crc64(data: &[u8]) -> u64 {
    let mut crc = 0u64;
    for &b in data {
        crc ^= u64::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0x95ac_9329_ac4b_c9b5
            } else {
                crc >> 1
            };
        }
    }
    crc
}

/// Module value fields, as RedisModule_Save* writes them.
#[derive(Clone, Debug)]
enum Field {
    U(u64),
    S(i64),
    B(Vec<u8>),
}

fn body(encver: u64, fields: &[Field]) -> Vec<u8> {
    let mut out = vec![RDB_TYPE_MODULE_2];
    rdb_len(&mut out, module_id("AI_TENSOR", encver));
    for f in fields {
        match f {
            Field::U(v) => {
                rdb_len(&mut out, OP_UINT);
                rdb_len(&mut out, *v);
            }
            Field::S(v) => {
                rdb_len(&mut out, OP_UINT);
                rdb_len(&mut out, *v as u64);
            }
            Field::B(b) => {
                rdb_len(&mut out, OP_STRING);
                rdb_len(&mut out, b.len() as u64);
                out.extend(b);
            }
        }
    }
    out
}

/// Adds the EOF marker, RDB version and checksum.
fn seal(mut body: Vec<u8>, with_eof: bool) -> Vec<u8> {
    if with_eof {
        rdb_len(&mut body, OP_EOF);
    }
    body.extend(9u16.to_le_bytes());
    let crc = crc64(&body);
    body.extend(crc.to_le_bytes());
    body
}

fn payload(encver: u64, fields: &[Field]) -> Vec<u8> {
    seal(body(encver, fields), true)
}

/// v4 fields of a FLOAT [2] tensor holding 1.0 and 2.0.
fn float_v4() -> Vec<Field> {
    let data: Vec<u8> = [1f32, 2f32].iter().flat_map(|f| f.to_ne_bytes()).collect();
    vec![
        Field::U(2),
        Field::U(32),
        Field::S(1),
        Field::S(2),
        Field::B(data),
    ]
}

fn restore(c: &mut redis::Connection, key: &str, payload: &[u8]) -> Result<Value, String> {
    run(c, &[b"RESTORE", key.as_bytes(), b"0", payload, b"REPLACE"])
}

#[test]
fn type_ids_are_redisais() {
    assert_eq!(module_id("AI_TENSOR", 4), 0x8fd310d48e4404);
    assert_eq!(module_id("AI__MODEL", 4), 0x8fff30e0c42c04);
    assert_eq!(module_id("AI_SCRIPT", 4), 0x8fd209120f4c04);
    assert_eq!(crc64(b"123456789"), 0xe9c6d914c4b8d9ca);
}

#[test]
fn our_dump_is_redisais_encoding() {
    let s = Server::start();
    let mut c = s.client();
    assert_ok(
        &mut c,
        &["AI.TENSORSET", "t", "FLOAT", "2", "VALUES", "1", "2"],
    );
    let dump: Vec<u8> = redis::cmd("DUMP").arg("t").query(&mut c).unwrap();
    let expected = payload(4, &float_v4());
    // Same bytes up to the RDB version and checksum, which depend on the server.
    assert_eq!(dump[..dump.len() - 10], expected[..expected.len() - 10]);
}

#[test]
fn redisai_payloads_restore() {
    let s = Server::start();
    let mut c = s.client();
    assert_eq!(
        restore(&mut c, "v4", &payload(4, &float_v4())),
        Ok(Value::Okay)
    );
    assert_eq!(
        exec(&mut c, &["AI.TENSORGET", "v4", "META", "VALUES"]),
        Ok(Value::Array(vec![
            Value::BulkString(b"dtype".to_vec()),
            Value::BulkString(b"FLOAT".to_vec()),
            Value::BulkString(b"shape".to_vec()),
            Value::Array(vec![Value::Int(2)]),
            Value::BulkString(b"values".to_vec()),
            Value::Array(vec![
                Value::BulkString(b"1".to_vec()),
                Value::BulkString(b"2".to_vec())
            ]),
        ]))
    );

    // A STRING tensor carries one offset per element after its data.
    let strings = vec![
        Field::U(7),
        Field::U(8),
        Field::S(1),
        Field::S(3),
        Field::B(b"ab\0\0cde\0".to_vec()),
        Field::U(0),
        Field::U(3),
        Field::U(4),
    ];
    assert_eq!(
        restore(&mut c, "str", &payload(4, &strings)),
        Ok(Value::Okay)
    );
    assert_eq!(
        exec(&mut c, &["AI.TENSORGET", "str", "VALUES"]),
        Ok(Value::Array(vec![
            Value::BulkString(b"ab".to_vec()),
            Value::BulkString(vec![]),
            Value::BulkString(b"cde".to_vec())
        ]))
    );

    // Encodings 0-3 (RedisAI before 1.2): device, dtype as bits/code/lanes, unsigned dims,
    // strides and byte offset. INT16 [2, 1] holding -1 and 300.
    let data: Vec<u8> = [-1i16, 300].iter().flat_map(|v| v.to_ne_bytes()).collect();
    let v0 = vec![
        Field::U(1),
        Field::U(u64::MAX),
        Field::U(16),
        Field::U(0),
        Field::U(1),
        Field::U(2),
        Field::U(2),
        Field::U(1),
        Field::U(1),
        Field::U(1),
        Field::U(0),
        Field::B(data),
    ];
    for encver in 0..=3 {
        let key = format!("v{encver}");
        assert_eq!(
            restore(&mut c, &key, &payload(encver, &v0)),
            Ok(Value::Okay),
            "encver {encver}"
        );
        assert_eq!(
            exec(&mut c, &["AI.TENSORGET", &key, "META", "VALUES"])
                .map(|v| array(&v)[3..].to_vec()),
            Ok(vec![
                Value::Array(vec![Value::Int(2), Value::Int(1)]),
                Value::BulkString(b"values".to_vec()),
                Value::Array(vec![Value::Int(-1), Value::Int(300)])
            ])
        );
    }
}

#[test]
fn truncated_and_corrupt_payloads_are_refused_cleanly() {
    let s = Server::start();
    let mut c = s.client();
    let fields = float_v4();
    let good = body(4, &fields);

    // Every truncation point, with a valid checksum so the module's loader sees it. The
    // server hands the loader the footer too, so a cut near the end can still spell a
    // well-formed tensor (the footer bytes become data); such a payload must load as a valid
    // tensor, everything else must be refused.
    let mut refused = 0;
    for cut in 1..good.len() {
        let p = seal(good[..cut].to_vec(), false);
        match restore(&mut c, "t", &p) {
            Err(e) => {
                assert_eq!(e, "ERR Bad data format", "cut at {cut}");
                refused += 1;
            }
            Ok(_) => {
                assert!(
                    exec(&mut c, &["AI.TENSORGET", "t", "VALUES"]).is_ok(),
                    "cut at {cut}"
                );
                let _: () = redis::cmd("DEL").arg("t").query(&mut c).unwrap();
            }
        }
    }
    assert!(
        refused >= good.len() - 3,
        "only {refused} of {} cuts refused",
        good.len() - 1
    );

    let with = |i: usize, f: Field| {
        let mut v = fields.clone();
        v[i] = f;
        v
    };
    let mut extra = fields.clone();
    extra.push(Field::U(1));
    let corrupt: Vec<(&str, Vec<Field>, u64)> = vec![
        ("unknown dtype code", with(0, Field::U(9)), 4),
        ("float16", with(1, Field::U(16)), 4),
        ("negative ndims", with(2, Field::S(-1)), 4),
        ("huge ndims", with(2, Field::S(1 << 40)), 4),
        (
            "ndims larger than the fields",
            with(2, Field::S(1 << 20)),
            4,
        ),
        ("negative dim", with(3, Field::S(-2)), 4),
        ("dim that overflows", with(3, Field::S(i64::MAX)), 4),
        ("blob too short", with(4, Field::B(vec![0; 7])), 4),
        ("blob too long", with(4, Field::B(vec![0; 9])), 4),
        (
            "a string where a number belongs",
            with(3, Field::B(b"2".to_vec())),
            4,
        ),
        ("trailing field", extra, 4),
        ("encoding from the future", fields.clone(), 5),
    ];
    for (what, f, encver) in corrupt {
        assert!(
            restore(&mut c, "t", &payload(encver, &f)).is_err(),
            "{what} was accepted"
        );
    }
    let bad_offsets = vec![
        Field::U(7),
        Field::U(8),
        Field::S(1),
        Field::S(2),
        Field::B(b"a\0b\0".to_vec()),
        Field::U(0),
        Field::U(1),
    ];
    assert!(restore(&mut c, "t", &payload(4, &bad_offsets)).is_err());
    let bad_bool = vec![
        Field::U(6),
        Field::U(8),
        Field::S(1),
        Field::S(2),
        Field::B(vec![1, 5]),
    ];
    assert!(restore(&mut c, "t", &payload(4, &bad_bool)).is_err());

    // Nothing was created, the server is fine, and a good payload still restores.
    assert!(keys(&mut c).is_empty());
    assert_eq!(restore(&mut c, "t", &payload(4, &fields)), Ok(Value::Okay));
    assert_eq!(
        exec(&mut c, &["PING"]),
        Ok(Value::SimpleString("PONG".into()))
    );
}
