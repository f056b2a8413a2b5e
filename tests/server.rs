//! The module inside the server: loading and its arguments, module configs, AI.CONFIG,
//! INFO, the command table (flags, keys, ACL), replication.

mod common;

use common::*;

fn module_list(c: &mut redis::Connection) -> Vec<Value> {
    let list = exec(c, &["MODULE", "LIST"]).unwrap();
    array(&list).to_vec()
}

fn config_get(c: &mut redis::Connection, name: &str) -> String {
    let v = exec(c, &["CONFIG", "GET", name]).unwrap();
    String::from_utf8(bytes(&array(&v)[1])).unwrap()
}

#[test]
fn loads_with_module_load_and_reports_its_identity() {
    let s = Server::with(Opts::default().no_module());
    let mut c = s.client();
    let path = module_path();
    let r = exec(
        &mut c,
        &[
            "MODULE",
            "LOAD",
            path.to_str().unwrap(),
            "THREADS_PER_QUEUE",
            "3",
            "MODEL_CHUNK_SIZE",
            "1000",
        ],
    );
    assert_eq!(r, Ok(Value::Okay));
    let list = module_list(&mut c);
    let m = array(&list[0]);
    assert_eq!(bytes(&m[1]), b"ai");
    assert_eq!(
        m[3],
        Value::Int(20000),
        "version 2.0.0 as major*10000+minor*100+patch"
    );
    let info: String = redis::cmd("INFO").arg("modules").query(&mut c).unwrap();
    assert!(info.contains("options=[handle-io-errors]"), "{info}");
    assert_eq!(config_get(&mut c, "ai.threads_per_queue"), "3");
    assert_eq!(config_get(&mut c, "ai.model_chunk_size"), "1000");
    assert_ok(&mut c, &["AI.TENSORSET", "t", "INT8", "1"]);
}

#[test]
fn bad_load_arguments_fail_the_load_with_a_log_line() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["THREADS_PER_QUEUE", "0"],
            "error processing argument: THREADS_PER_QUEUE 0",
        ),
        (
            &["INTRA_OP_PARALLELISM", "x"],
            "error processing argument: INTRA_OP_PARALLELISM x",
        ),
        (
            &["MODEL_EXECUTION_TIMEOUT", "999"],
            "error processing argument: MODEL_EXECUTION_TIMEOUT 999",
        ),
        (
            &["NOT_A_SETTING", "1"],
            "error processing argument: NOT_A_SETTING 1 (unknown argument)",
        ),
        (
            &["THREADS_PER_QUEUE"],
            "module arguments must be KEY VALUE pairs",
        ),
    ];
    for (args, line) in cases {
        // At startup: the server refuses to start.
        let dir = std::env::temp_dir().join(format!(
            "redisai-badargs-{}-{}",
            std::process::id(),
            args[0]
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let log = match Server::try_start(Opts::default().module_args(args), dir.clone()) {
            Ok(_) => panic!("{args:?} loaded"),
            Err(log) => log,
        };
        assert!(log.contains(line), "{args:?}: log lacks {line:?}:\n{log}");
        let _ = std::fs::remove_dir_all(&dir);

        // At run time: MODULE LOAD fails and the server goes on.
        let s = Server::with(Opts::default().no_module());
        let mut c = s.client();
        let path = module_path();
        let mut words = vec!["MODULE", "LOAD", path.to_str().unwrap()];
        words.extend_from_slice(args);
        assert!(exec(&mut c, &words).is_err());
        assert!(s.log().contains(line));
        assert!(module_list(&mut c).is_empty());
    }
}

#[test]
fn load_arguments_become_module_configs() {
    let s = Server::with(Opts::default().module_args(&[
        "threads_per_queue",
        "4",
        "INTER_OP_PARALLELISM",
        "2",
        "INTRA_OP_PARALLELISM",
        "3",
        "MODEL_EXECUTION_TIMEOUT",
        "2000",
        "BACKEND_MEMORY_LIMIT",
        "100",
        "BACKENDSPATH",
        "/opt/redisai/backends",
    ]));
    let mut c = s.client();
    for (name, value) in [
        ("ai.threads_per_queue", "4"),
        ("ai.inter_op_parallelism", "2"),
        ("ai.intra_op_parallelism", "3"),
        ("ai.model_execution_timeout", "2000"),
        ("ai.backend_memory_limit", "100"),
        ("ai.model_chunk_size", "535822336"),
        ("ai.tensor_max_bytes", "0"),
        ("ai.backendspath", "/opt/redisai/backends"),
    ] {
        assert_eq!(config_get(&mut c, name), value, "{name}");
    }
    // Settings that only make sense at start are immutable.
    for name in [
        "ai.threads_per_queue",
        "ai.inter_op_parallelism",
        "ai.intra_op_parallelism",
        "ai.model_execution_timeout",
        "ai.backend_memory_limit",
    ] {
        assert!(
            exec(&mut c, &["CONFIG", "SET", name, "5000"]).is_err(),
            "{name}"
        );
    }
    assert_eq!(config_get(&mut c, "ai.threads_per_queue"), "4");
    // The others change at run time, through CONFIG SET or AI.CONFIG alike.
    assert_ok(&mut c, &["CONFIG", "SET", "ai.model_chunk_size", "4096"]);
    assert_eq!(
        exec(&mut c, &["AI.CONFIG", "GET", "MODEL_CHUNK_SIZE"]),
        Ok(Value::Int(4096))
    );
    assert_ok(&mut c, &["AI.CONFIG", "MODEL_CHUNK_SIZE", "1024"]);
    assert_eq!(config_get(&mut c, "ai.model_chunk_size"), "1024");
    assert!(exec(&mut c, &["CONFIG", "SET", "ai.model_chunk_size", "0"]).is_err());
    assert_ok(&mut c, &["CONFIG", "SET", "ai.backendspath", "/elsewhere"]);
    assert_eq!(
        exec(&mut c, &["AI.CONFIG", "GET", "BACKENDSPATH"]),
        Ok(Value::BulkString(b"/elsewhere".to_vec()))
    );
    let info: String = redis::cmd("INFO")
        .arg("ai_load_time_configs")
        .query(&mut c)
        .unwrap();
    assert!(info.contains("ai_threads_per_queue:4"), "{info}");
    assert!(info.contains("ai_model_execution_timeout:2000"), "{info}");
}

#[test]
fn server_configuration_overrides_load_arguments() {
    let s = Server::with(
        Opts::default()
            .module_args(&["MODEL_CHUNK_SIZE", "100"])
            .server_args(&[
                "--ai.model_chunk_size",
                "200",
                "--ai.tensor_max_bytes",
                "1kb",
            ]),
    );
    let mut c = s.client();
    assert_eq!(config_get(&mut c, "ai.model_chunk_size"), "200");
    assert_eq!(config_get(&mut c, "ai.tensor_max_bytes"), "1024");
    assert_err(
        &mut c,
        &["AI.TENSORSET", "t", "DOUBLE", "129"],
        "ERR tensor of 1032 bytes exceeds the limit of 1024 bytes (ai.tensor_max_bytes)",
    );
}

#[test]
fn ai_config_replies() {
    let s = Server::start();
    let mut c = s.client();
    let arity = "ERR wrong number of arguments for 'AI.CONFIG' command";
    // The default BACKENDSPATH is the folder of libredisai.so.
    let dir = std::fs::canonicalize(module_path().parent().unwrap()).unwrap();
    assert_eq!(
        exec(&mut c, &["AI.CONFIG", "GET", "BACKENDSPATH"]),
        Ok(Value::BulkString(dir.to_str().unwrap().as_bytes().to_vec()))
    );
    assert_eq!(
        exec(&mut c, &["AI.CONFIG", "GET", "MODEL_CHUNK_SIZE"]),
        Ok(Value::Int(535822336))
    );
    assert_eq!(exec(&mut c, &["AI.CONFIG", "GET", "NOPE"]), Ok(Value::Nil));
    assert_err(&mut c, &["AI.CONFIG"], arity);
    assert_err(&mut c, &["AI.CONFIG", "GET"], arity);
    assert_err(&mut c, &["AI.CONFIG", "LOADBACKEND", "ONNX"], arity);
    assert_err(
        &mut c,
        &["AI.CONFIG", "LOADBACKEND", "CAFFE", "x.so"],
        "ERR unsupported backend",
    );
    assert_err(
        &mut c,
        &["AI.CONFIG", "LOADBACKEND", "onnx", "x.so"],
        "ERR error loading backend",
    );
    assert_err(
        &mut c,
        &["AI.CONFIG", "BACKENDSPATH"],
        "ERR BACKENDSPATH: missing path argument",
    );
    assert_ok(
        &mut c,
        &[
            "AI.CONFIG",
            "backendspath",
            "/usr/lib/redis/modules/backends",
        ],
    );
    assert_eq!(
        exec(&mut c, &["AI.CONFIG", "get", "backendspath"]),
        Ok(Value::BulkString(
            b"/usr/lib/redis/modules/backends".to_vec()
        ))
    );
    assert_err(
        &mut c,
        &["AI.CONFIG", "MODEL_CHUNK_SIZE"],
        "ERR MODEL_CHUNK_SIZE: missing chunk size",
    );
    for bad in ["0", "-5", "x", "1.5"] {
        assert_err(
            &mut c,
            &["AI.CONFIG", "MODEL_CHUNK_SIZE", bad],
            "ERR MODEL_CHUNK_SIZE: invalid chunk size",
        );
    }
    assert_ok(&mut c, &["AI.CONFIG", "MODEL_CHUNK_SIZE", "450"]);
    assert_eq!(
        exec(&mut c, &["AI.CONFIG", "GET", "MODEL_CHUNK_SIZE"]),
        Ok(Value::Int(450))
    );
    assert_err(&mut c, &["AI.CONFIG", "FOO"], "ERR unsupported subcommand");
}

#[test]
fn info_sections_come_in_redisais_order() {
    let s = Server::start();
    let mut c = s.client();
    let info: String = redis::cmd("INFO").arg("modules").query(&mut c).unwrap();
    let headers: Vec<&str> = info.lines().filter(|l| l.starts_with("# ai_")).collect();
    assert_eq!(
        headers,
        vec![
            "# ai_versions",
            "# ai_git",
            "# ai_load_time_configs",
            "# ai_backends_info",
            "# ai_cpu",
            // Ours, after RedisAI's so their positions do not move.
            "# ai_runs",
            "# ai_search",
            "# ai_pipelines"
        ]
    );
    let fields = |section: &str| -> Vec<String> {
        let body = info.split(&format!("# {section}\r\n")).nth(1).unwrap();
        body.lines()
            .take_while(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| l.split(':').next().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        fields("ai_versions"),
        [
            "ai_RedisAI_version",
            "ai_low_level_API_version",
            "ai_rdb_version"
        ]
    );
    assert_eq!(fields("ai_git"), ["ai_git_sha"]);
    assert_eq!(
        fields("ai_load_time_configs"),
        [
            "ai_threads_per_queue",
            "ai_inter_op_parallelism",
            "ai_intra_op_parallelism",
            "ai_model_execution_timeout",
            "ai_backend_memory_limit"
        ]
    );
    assert!(
        fields("ai_backends_info").is_empty(),
        "no backend is loaded"
    );
    assert_eq!(
        fields("ai_cpu"),
        [
            "ai_self_used_cpu_sys",
            "ai_self_used_cpu_user",
            "ai_children_used_cpu_sys",
            "ai_children_used_cpu_user",
            "ai_main_thread_used_cpu_sys",
            "ai_main_thread_used_cpu_user",
            // RedisAI's CPU queue exists from load, before any model.
            "ai_queue_CPU_bthread_n1_used_cpu_total"
        ]
    );
    assert!(info.contains(&format!("ai_RedisAI_version:{}", env!("CARGO_PKG_VERSION"))));
    assert!(info.contains("ai_rdb_version:4"));
    let cpu = info_field(&mut c, "ai_cpu", "ai_self_used_cpu_user");
    let (secs, micros) = cpu.split_once('.').unwrap();
    assert!(secs.parse::<u64>().is_ok() && micros.len() == 6, "{cpu}");
}

#[test]
fn command_table_declares_flags_and_keys() {
    let s = Server::start();
    let mut c = s.client();
    let info = exec(
        &mut c,
        &[
            "COMMAND",
            "INFO",
            "AI.TENSORSET",
            "AI.TENSORGET",
            "AI.CONFIG",
        ],
    )
    .unwrap();
    let rows = array(&info);
    let flags = |row: &Value| -> Vec<String> {
        array(&array(row)[2])
            .iter()
            .map(|f| String::from_utf8(bytes(f)).unwrap())
            .collect()
    };
    let keyspec = |row: &Value| -> Vec<Value> { array(row)[3..6].to_vec() };
    assert!(flags(&rows[0]).contains(&"write".to_string()));
    assert!(flags(&rows[0]).contains(&"denyoom".to_string()));
    assert_eq!(
        keyspec(&rows[0]),
        vec![Value::Int(1), Value::Int(1), Value::Int(1)]
    );
    assert!(flags(&rows[1]).contains(&"readonly".to_string()));
    assert_eq!(
        keyspec(&rows[1]),
        vec![Value::Int(1), Value::Int(1), Value::Int(1)]
    );
    assert_eq!(
        keyspec(&rows[2]),
        vec![Value::Int(0), Value::Int(0), Value::Int(0)]
    );
    assert_eq!(
        exec(
            &mut c,
            &[
                "COMMAND",
                "GETKEYS",
                "AI.TENSORSET",
                "k{1}",
                "FLOAT",
                "1",
                "VALUES",
                "1"
            ]
        ),
        Ok(Value::Array(vec![Value::BulkString(b"k{1}".to_vec())]))
    );
    assert_eq!(
        exec(&mut c, &["COMMAND", "GETKEYS", "AI.TENSORGET", "k", "META"]),
        Ok(Value::Array(vec![Value::BulkString(b"k".to_vec())]))
    );
}

#[test]
fn acl_key_patterns_apply_to_tensors() {
    let s = Server::start();
    let mut admin = s.client();
    assert_ok(
        &mut admin,
        &["ACL", "SETUSER", "alice", "on", "nopass", "~t:*", "+@all"],
    );
    assert_ok(
        &mut admin,
        &[
            "ACL",
            "SETUSER",
            "reader",
            "on",
            "nopass",
            "~*",
            "+AI.TENSORGET",
        ],
    );
    assert_ok(&mut admin, &["AI.TENSORSET", "secret", "FLOAT", "1"]);
    let mut alice = s.client();
    assert_ok(&mut alice, &["AUTH", "alice", "x"]);
    assert_ok(&mut alice, &["AI.TENSORSET", "t:1", "FLOAT", "1"]);
    let e = exec(&mut alice, &["AI.TENSORSET", "x:1", "FLOAT", "1"]).unwrap_err();
    assert!(e.starts_with("NOPERM"), "{e}");
    let e = exec(&mut alice, &["AI.TENSORGET", "secret"]).unwrap_err();
    assert!(e.starts_with("NOPERM"), "{e}");
    let mut reader = s.client();
    assert_ok(&mut reader, &["AUTH", "reader", "x"]);
    assert!(exec(&mut reader, &["AI.TENSORGET", "secret", "VALUES"]).is_ok());
    let e = exec(&mut reader, &["AI.TENSORSET", "secret", "FLOAT", "1"]).unwrap_err();
    assert!(e.starts_with("NOPERM"), "{e}");
    assert_eq!(keys(&mut admin), vec!["secret", "t:1"]);
}

#[test]
fn replicas_receive_tensors() {
    let master = Server::start();
    let replica = Server::start();
    let mut m = master.client();
    // Data present before the sync travels in the RDB, later writes as commands.
    assert_ok(
        &mut m,
        &["AI.TENSORSET", "before", "INT32", "2", "VALUES", "1", "2"],
    );
    let mut r = replicate_from(&master, &replica);
    assert_ok(
        &mut m,
        &["AI.TENSORSET", "after", "STRING", "2", "VALUES", "a", "b"],
    );
    let big: Vec<u8> = (0..20000u32).flat_map(|i| i.to_ne_bytes()).collect();
    let res = set_blob(&mut m, "big", "INT32", &["20000"], &big);
    assert_eq!(res, Ok(Value::Okay));
    let acked = exec(&mut m, &["WAIT", "1", "5000"]).unwrap();
    assert_eq!(acked, Value::Int(1));
    for k in ["before", "after", "big"] {
        assert_eq!(
            exec(&mut m, &["AI.TENSORGET", k]),
            exec(&mut r, &["AI.TENSORGET", k]),
            "{k}"
        );
    }
    let dm: String = redis::cmd("DEBUG").arg("DIGEST").query(&mut m).unwrap();
    let dr: String = redis::cmd("DEBUG").arg("DIGEST").query(&mut r).unwrap();
    assert_eq!(dm, dr);
    // A read-only replica serves reads and refuses writes.
    let e = exec(&mut r, &["AI.TENSORSET", "x", "FLOAT", "1"]).unwrap_err();
    assert!(e.starts_with("READONLY"), "{e}");
    assert!(exec(&mut r, &["AI.TENSORGET", "after", "VALUES"]).is_ok());
}

#[test]
fn maxmemory_refuses_tensorset_but_not_tensorget() {
    let s = Server::start();
    let mut c = s.client();
    assert_ok(&mut c, &["AI.TENSORSET", "t", "FLOAT", "2"]);
    assert_ok(&mut c, &["CONFIG", "SET", "maxmemory-policy", "noeviction"]);
    assert_ok(&mut c, &["CONFIG", "SET", "maxmemory", "1"]);
    let e = exec(&mut c, &["AI.TENSORSET", "u", "FLOAT", "2"]).unwrap_err();
    assert!(e.starts_with("OOM"), "{e}");
    assert!(exec(&mut c, &["AI.TENSORGET", "t", "VALUES"]).is_ok());
    assert!(exec(&mut c, &["AI.CONFIG", "GET", "MODEL_CHUNK_SIZE"]).is_ok());
}

#[test]
fn cluster_routes_tensor_commands_by_their_key() {
    let (_s, mut c) = half_cluster();
    let served = cluster_keys(&mut c, true, 1).remove(0);
    let foreign = cluster_keys(&mut c, false, 1).remove(0);
    assert_ok(&mut c, &["AI.TENSORSET", &served, "FLOAT", "1"]);
    assert!(exec(&mut c, &["AI.TENSORGET", &served, "META"]).is_ok());
    for cmd in [
        vec!["AI.TENSORSET", foreign.as_str(), "FLOAT", "1"],
        vec!["AI.TENSORGET", foreign.as_str(), "META"],
    ] {
        let e = exec(&mut c, &cmd).unwrap_err();
        assert_eq!(e, "CLUSTERDOWN Hash slot not served", "{cmd:?}");
    }
    // AI.CONFIG has no key and runs on any node.
    assert!(exec(&mut c, &["AI.CONFIG", "GET", "MODEL_CHUNK_SIZE"]).is_ok());
}
