use super::*;

/// A model that only knows its arity.
struct Fake {
    ins: usize,
    outs: usize,
}

impl Runnable for Fake {
    fn input_count(&self) -> usize {
        self.ins
    }
    fn output_count(&self) -> usize {
        self.outs
    }
}

/// Keys by name: tensors `t*`, models `m<ins><outs>`, `str` holds another type.
struct Keys<'w> {
    words: Vec<&'w [u8]>,
}

impl Keyspace<Fake> for Keys<'_> {
    fn tensor(&mut self, word: usize) -> AiResult<Arc<Tensor>> {
        let w = self.words[word];
        if w == b"str" {
            return Err(AiError::WrongType);
        }
        if !w.starts_with(b"t") {
            return Err(AiError::TensorKeyEmpty);
        }
        Ok(Arc::new(
            Tensor::from_blob(
                crate::tensor::DType::Float,
                [1i64, 1].into_iter().collect(),
                &[0, 0, 128, 63],
                Limits::UNLIMITED,
            )
            .unwrap(),
        ))
    }
    fn model(&mut self, word: usize) -> AiResult<Arc<Fake>> {
        let w = self.words[word];
        match w {
            [b'm', i, o] => Ok(Arc::new(Fake {
                ins: (i - b'0') as usize,
                outs: (o - b'0') as usize,
            })),
            b"str" => Err(AiError::WrongType),
            _ => Err(AiError::ModelKeyEmpty),
        }
    }
    fn script(&mut self, word: usize) -> AiResult<Arc<Script>> {
        // No script can be compiled without the TORCH plugin: only the key errors here.
        if self.words[word] == b"str" {
            Err(AiError::WrongType)
        } else {
            Err(AiError::ScriptKeyEmpty)
        }
    }
    fn script_env(&mut self, _keys: Vec<Vec<u8>>) -> Arc<dyn ScriptServices + Send + Sync> {
        unreachable!("no script exists in these tests")
    }
    fn writable(&mut self, word: usize) -> AiResult<()> {
        if self.words[word] == b"str" {
            Err(AiError::WrongType)
        } else {
            Ok(())
        }
    }
    fn writable_hash(&mut self, word: usize) -> AiResult<()> {
        self.writable(word)
    }
}

fn plan(flavor: Flavor, line: &str) -> AiResult<Plan<Fake>> {
    let words: Vec<&[u8]> = line.split_whitespace().map(str::as_bytes).collect();
    let mut keys = Keys {
        words: words.clone(),
    };
    parse(flavor, &words[..], &mut keys, Limits::UNLIMITED)
}

fn err(flavor: Flavor, line: &str) -> String {
    match plan(flavor, line) {
        Ok(_) => panic!("{line} parsed"),
        Err(e) => e.to_string(),
    }
}

const E: Flavor = Flavor::Execute;

#[test]
fn a_chain_gets_fresh_slots_and_resolves_names_in_order() {
    let p = plan(
        E,
        "AI.DAGEXECUTE LOAD 1 ta PERSIST 1 out |> AI.TENSORSET b FLOAT 1 1 VALUES 2 \
         |> AI.MODELEXECUTE m21 INPUTS 2 ta b OUTPUTS 1 mid \
         |> AI.TENSORGET mid VALUES \
         |> AI.MODELEXECUTE m11 INPUTS 1 mid OUTPUTS 1 out \
         |> AI.TENSORSET mid FLOAT 1 \
         |> AI.TENSORGET mid META",
    )
    .unwrap();
    // Slots: ta, b, mid (op 1), out (op 3), mid again (op 4).
    assert_eq!(p.graph.slots.len(), 5);
    assert!(p.graph.slots[0].is_some() && p.graph.slots[1].is_some());
    assert!(p.graph.slots[2].is_none() && p.graph.slots[3].is_none());
    assert!(p.graph.slots[4].is_some());
    assert_eq!(p.graph.producer, vec![None, None, Some(1), Some(3), None]);
    let run = p.graph.runs[1].as_ref().unwrap();
    assert_eq!(
        (run.inputs.clone(), run.outputs.clone()),
        (vec![0, 1], vec![2])
    );
    let run = p.graph.runs[3].as_ref().unwrap();
    assert_eq!(
        (run.inputs.clone(), run.outputs.clone()),
        (vec![2], vec![3])
    );
    assert!(matches!(p.outline.ops[2], OpKind::Get { slot: 2, .. }));
    assert!(matches!(p.outline.ops[5], OpKind::Get { slot: 4, .. }));
    assert_eq!(p.outline.persist, vec![(b"out".to_vec(), 3)]);
    assert_eq!(p.outline.style, Style::Dag);
    assert!(p.has_runs());
}

#[test]
fn sections_and_their_errors() {
    let cases: &[(&str, &str)] = &[
        ("AI.DAGEXECUTE |>", "ERR missing arguments for 'AI.DAGEXECUTE' command"),
        (
            "AI.DAGEXECUTE PERSIST 2 a b LOAD 1",
            "ERR missing arguments after LOAD keyword in DAG command",
        ),
        (
            "AI.DAGEXECUTE LOAD x |> AI.TENSORGET a VALUES",
            "ERR invalid or negative value found in number of keys to LOAD",
        ),
        (
            "AI.DAGEXECUTE ROUTING a LOAD 2 ta",
            "ERR number of keys to LOAD into DAG does not match the number of given arguments",
        ),
        (
            "AI.DAGEXECUTE ROUTING a LOAD 1 none",
            "ERR tensor key is empty or in a different shard",
        ),
        (
            "AI.DAGEXECUTE ROUTING a LOAD 1 str",
            "WRONGTYPE Operation against a key holding the wrong kind of value",
        ),
        (
            "AI.DAGEXECUTE ROUTING a LOAD 1 ta PERSIST 1",
            "ERR missing arguments after PERSIST keyword in DAG command",
        ),
        (
            "AI.DAGEXECUTE ROUTING a PERSIST x ta",
            "ERR invalid or negative value found in number of keys to PERSIST",
        ),
        (
            "AI.DAGEXECUTE ROUTING a PERSIST 2 ta",
            "ERR number of keys to PERSIST after DAG execution does not match the number of given arguments",
        ),
        ("AI.DAGEXECUTE ROUTING a PERSIST 2 x x |> AI.TENSORSET x FLOAT 1", "ERR PERSIST keys must be unique"),
        ("AI.DAGEXECUTE PERSIST 3 a b c ROUTING", "ERR Missing ROUTING value"),
        ("AI.DAGEXECUTE ROUTING a PERSIST 1 a TIMEOUT", "ERR No value provided for TIMEOUT"),
        ("AI.DAGEXECUTE ROUTING a PERSIST 1 a TIMEOUT x", "ERR Invalid value for TIMEOUT"),
        ("AI.DAGEXECUTE ROUTING a PERSIST 1 a TIMEOUT 0", "ERR Invalid value for TIMEOUT"),
        (
            "AI.DAGEXECUTE ROUTING a PERSIST 1 a BAD_ARG",
            "ERR Invalid DAG command. Unexpected argument:  BAD_ARG",
        ),
        (
            "AI.DAGEXECUTE ROUTING a ROUTING b |> AI.TENSORSET x FLOAT 1",
            "ERR Invalid DAG command. Unexpected argument:  ROUTING",
        ),
        (
            "AI.DAGEXECUTE ROUTING a |> AI.TENSORSET x FLOAT 1 |>",
            "ERR Invalid DAG command. Unexpected argument:  |>",
        ),
        (
            "AI.DAGEXECUTE |> AI.TENSORSET a FLOAT 1 2 VALUES 5 10",
            "ERR AI.DAGEXECUTE and AI.DAGEXECUTE_RO commands must contain at least one out of ROUTING, LOAD, PERSIST keywords",
        ),
        ("AI.DAGEXECUTE ROUTING a LOAD 1 ta", "ERR DAG is empty"),
    ];
    for (line, expected) in cases {
        assert_eq!(&err(E, line), expected, "{line}");
    }
    assert_eq!(
        err(Flavor::ExecuteRo, "AI.DAGEXECUTE_RO"),
        "ERR missing arguments for 'AI.DAGEXECUTE_RO' command"
    );
    assert_eq!(
        err(
            Flavor::ExecuteRo,
            "AI.DAGEXECUTE_RO PERSIST 1 t |> AI.TENSORSET t FLOAT 1"
        ),
        "ERR PERSIST cannot be specified in a read-only DAG"
    );
    assert_eq!(
        err(Flavor::Run, "AI.DAGRUN |>"),
        "ERR wrong number of arguments for 'AI.DAGRUN' command"
    );
    // The deprecated form needs no section.
    assert!(plan(Flavor::Run, "AI.DAGRUN |> AI.TENSORSET a FLOAT 1").is_ok());
}

#[test]
fn op_errors() {
    let cases: &[(Flavor, &str, &str)] = &[
        (
            E,
            "AI.DAGEXECUTE ROUTING a |> AI.NOCOMMAND a FLOAT 1",
            "Unsupported command within DAG",
        ),
        (
            E,
            "AI.DAGEXECUTE ROUTING a |> |> AI.TENSORSET a FLOAT 1",
            "Unsupported command within DAG",
        ),
        (
            E,
            "AI.DAGEXECUTE ROUTING a |> AI.TENSORSET a FLOAT 1 |> AI.TENSORGET",
            "wrong number of arguments for 'AI.TENSORGET' command",
        ),
        (
            E,
            "AI.DAGEXECUTE ROUTING a |> AI.TENSORSET a FLOAT 1 |> AI.TENSORGET a META BLOB extra",
            "wrong number of arguments for 'AI.TENSORGET' command",
        ),
        (
            E,
            "AI.DAGEXECUTE ROUTING a |> AI.TENSORSET a FLOAT 1 |> AI.TENSORSET",
            "wrong number of arguments for 'AI.TENSORSET' command",
        ),
        (
            E,
            "AI.DAGEXECUTE ROUTING a |> AI.TENSORSET a FLOAT 1 |> AI.TENSORGET a BAD",
            "ERR unsupported data format",
        ),
        (
            E,
            "AI.DAGEXECUTE ROUTING a |> AI.TENSORSET a NOPE 1",
            "ERR invalid data type",
        ),
        (
            E,
            "AI.DAGEXECUTE LOAD 1 ta |> AI.MODELRUN m11 INPUTS ta OUTPUTS o",
            "Deprecated AI.MODELRUN cannot be used in AI.DAGEXECUTE command",
        ),
        (
            E,
            "AI.DAGEXECUTE LOAD 1 ta |> AI.SCRIPTRUN s f INPUTS ta OUTPUTS o",
            "Deprecated AI.SCRIPTRUN cannot be used in AI.DAGEXECUTE command",
        ),
        (
            Flavor::Run,
            "AI.DAGRUN LOAD 1 ta |> AI.MODELEXECUTE m11 INPUTS 1 ta OUTPUTS 1 o",
            "AI.MODELEXECUTE cannot be used in a deprecated AI.DAGRUN command",
        ),
        (
            Flavor::ExecuteRo,
            "AI.DAGEXECUTE_RO LOAD 1 ta |> AI.SCRIPTEXECUTE s f INPUTS 1 ta",
            "ERR AI.SCRIPTEXECUTE command cannot be specified in a read-only DAG",
        ),
        (
            E,
            "AI.DAGEXECUTE LOAD 1 ta |> AI.SCRIPTEXECUTE s f INPUTS 1 ta",
            "ERR script key is empty",
        ),
        (
            E,
            "AI.DAGEXECUTE LOAD 1 ta |> AI.SCRIPTEXECUTE str f INPUTS 1 ta",
            "WRONGTYPE Operation against a key holding the wrong kind of value",
        ),
        (
            E,
            "AI.DAGEXECUTE LOAD 1 ta |> AI.MODELEXECUTE m11 INPUTS 1 ta",
            "ERR wrong number of arguments for 'AI.MODELEXECUTE' command",
        ),
        (
            E,
            "AI.DAGEXECUTE LOAD 1 ta |> AI.MODELEXECUTE nomodel INPUTS 1 ta OUTPUTS 1 o",
            "ERR model key is empty",
        ),
        (
            E,
            "AI.DAGEXECUTE LOAD 1 ta |> AI.MODELEXECUTE m21 INPUTS 1 ta OUTPUTS 1 o",
            "Number of keys given as INPUTS here does not match model definition",
        ),
        (
            E,
            "AI.DAGEXECUTE LOAD 1 ta |> AI.MODELEXECUTE m11 INPUTS 1 ta OUTPUTS 1 o TIMEOUT 5",
            "ERR TIMEOUT not allowed within a DAG command",
        ),
        (
            E,
            "AI.DAGEXECUTE LOAD 1 ta |> AI.MODELEXECUTE m11 INPUTS 1 nothere OUTPUTS 1 o",
            "ERR INPUT key cannot be found in DAG",
        ),
        (
            E,
            "AI.DAGEXECUTE LOAD 1 ta |> AI.TENSORGET nothere",
            "ERR INPUT key cannot be found in DAG",
        ),
        (
            E,
            "AI.DAGEXECUTE LOAD 1 ta PERSIST 1 zz |> AI.TENSORGET ta",
            "ERR PERSIST key cannot be found in DAG",
        ),
        (
            E,
            "AI.DAGEXECUTE ROUTING a PERSIST 1 str |> AI.TENSORSET str FLOAT 1",
            "WRONGTYPE Operation against a key holding the wrong kind of value",
        ),
    ];
    for (flavor, line, expected) in cases {
        assert_eq!(&err(*flavor, line), expected, "{line}");
    }
    // Every op is parsed before names are resolved: a later op's parse error wins over an
    // earlier unknown input.
    assert_eq!(
        err(
            E,
            "AI.DAGEXECUTE ROUTING a |> AI.TENSORGET nothere |> AI.TENSORSET x NOPE 1"
        ),
        "ERR invalid data type"
    );
}

#[test]
fn deprecated_forms_parse_their_own_ops() {
    let p = plan(
        Flavor::Run,
        "AI.DAGRUN LOAD 1 ta |> AI.MODELRUN m11 INPUTS ta OUTPUTS o |> AI.TENSORGET o",
    )
    .unwrap();
    assert_eq!(p.graph.runs.iter().filter(|r| r.is_some()).count(), 1);
    assert_eq!(
        err(
            Flavor::Run,
            "AI.DAGRUN LOAD 1 ta |> AI.MODELRUN m11 TIMEOUT 5 INPUTS ta OUTPUTS o"
        ),
        "ERR TIMEOUT not allowed within a DAG command"
    );
    // DAGRUN_RO allows script ops (they fail only because no script exists).
    assert_eq!(
        err(
            Flavor::RunRo,
            "AI.DAGRUN_RO LOAD 1 ta |> AI.SCRIPTRUN s f INPUTS ta"
        ),
        "ERR script key is empty"
    );
}

#[test]
fn tensor_only_plans_and_single_plans() {
    let p = plan(
        E,
        "AI.DAGEXECUTE ROUTING x |> AI.TENSORSET a FLOAT 2 VALUES 1 2 |> AI.TENSORGET a VALUES",
    )
    .unwrap();
    assert!(!p.has_runs());
    assert_eq!(p.outline.ops.len(), 2);

    let single = Plan::single(
        Target::Model(Arc::new(Fake { ins: 1, outs: 2 })),
        vec![p.graph.slots[0].clone().unwrap()],
        vec![b"y".to_vec(), b"z".to_vec()],
        Some(10),
    );
    assert_eq!(single.outline.style, Style::Single);
    assert_eq!(
        single.outline.persist,
        vec![(b"y".to_vec(), 1), (b"z".to_vec(), 2)]
    );
    assert_eq!(single.graph.producer, vec![None, Some(0), Some(0)]);
    assert_eq!(single.graph.timeout_ms, Some(10));
}

#[test]
fn key_positions_cover_sections_and_run_ops() {
    let line = "AI.DAGEXECUTE LOAD 2 a b PERSIST 1 c ROUTING r TIMEOUT 5 \
                |> AI.TENSORSET local FLOAT 1 |> AI.MODELEXECUTE m INPUTS 1 a OUTPUTS 1 c \
                |> AI.SCRIPTEXECUTE s f INPUTS 1 a";
    let words: Vec<&[u8]> = line.split_whitespace().map(str::as_bytes).collect();
    let keys: Vec<(&str, bool)> = key_positions(&words[..])
        .into_iter()
        .map(|(i, w)| (std::str::from_utf8(words[i]).unwrap(), w))
        .collect();
    // Only PERSIST keys are written (for read-only ACL users).
    let expect = [("a", false), ("b", false), ("c", true), ("r", false)];
    assert_eq!(keys, [&expect[..], &[("m", false), ("s", false)]].concat());
    // Truncated commands report what they can.
    let words: Vec<&[u8]> = "AI.DAGEXECUTE LOAD 5 a"
        .split_whitespace()
        .map(str::as_bytes)
        .collect();
    assert_eq!(key_positions(&words[..]), vec![(3, false)]);
}

#[test]
fn text_ops_parse_into_a_builtin_run_and_a_hash_write() {
    let p = plan(
        E,
        "AI.DAGEXECUTE ROUTING r |> AI.TENSORSET h FLOAT 1 1 1 |> AI.TENSORSET m INT64 1 1 \
         |> AI.POOL mean normalize INPUTS 2 h m OUTPUTS 1 e \
         |> AI.HSET doc VECTOR embedding e FIELDS 2 title hi",
    )
    .unwrap();
    assert!(matches!(
        &p.graph.runs[2],
        Some(RunOp { target: Target::Builtin(b), inputs, outputs })
            if b.op == text::BuiltinOp::MeanPool { normalize: true }
                && inputs == &[0, 1] && outputs == &[2]
    ));
    assert_eq!(p.outline.ops[3], OpKind::Hset);
    let h = &p.outline.hashes[0];
    assert_eq!(
        (&h.key[..], &h.field[..], h.slot),
        (&b"doc"[..], &b"embedding"[..], 2)
    );
    assert_eq!(h.fields, vec![(b"title".to_vec(), b"hi".to_vec())]);
}

#[test]
fn text_op_errors() {
    let base = "AI.DAGEXECUTE ROUTING r |> AI.TENSORSET h FLOAT 1 1 1 |> AI.TENSORSET m INT64 1 1";
    for (op, why) in [
        ("AI.POOL MAX INPUTS 2 h m OUTPUTS 1 e", "must be MEAN"),
        ("AI.POOL MEAN INPUTS 2 h m", "OUTPUTS 1"),
        ("AI.POOL MEAN INPUTS 3 h m m OUTPUTS 1 e", "INPUTS 2"),
        ("AI.POOL MEAN INPUTS 2 h x OUTPUTS 1 e", "cannot be found"),
        ("AI.HSET doc embedding h", "VECTOR"),
        ("AI.HSET doc VECTOR embedding h FIELDS 3 a b c", "even"),
        (
            "AI.HSET doc VECTOR embedding h FIELDS 4 a b",
            "does not match",
        ),
        ("AI.HSET doc VECTOR embedding h title x", "expected"),
        ("AI.HSET doc VECTOR embedding nope", "cannot be found"),
        ("AI.HSET str VECTOR embedding h", "WRONGTYPE"),
    ] {
        let e = err(E, &format!("{base} |> {op}"));
        assert!(e.contains(why), "{op}: {e}");
    }
    let ro = err(
        Flavor::ExecuteRo,
        &format!("{base} |> AI.HSET d VECTOR v h"),
    );
    assert!(ro.contains("read-only"), "{ro}");
    let run = err(
        Flavor::Run,
        "AI.DAGRUN |> AI.POOL MEAN INPUTS 2 h m OUTPUTS 1 e",
    );
    assert!(run.contains("deprecated"), "{run}");
}

#[test]
fn hset_keys_are_written_and_pool_has_none() {
    let line = "AI.DAGEXECUTE ROUTING r |> AI.POOL MEAN INPUTS 2 h m OUTPUTS 1 e \
                |> AI.HSET doc VECTOR v e";
    let words: Vec<&[u8]> = line.split_whitespace().map(str::as_bytes).collect();
    let keys: Vec<(&str, bool)> = key_positions(&words[..])
        .into_iter()
        .map(|(i, w)| (std::str::from_utf8(words[i]).unwrap(), w))
        .collect();
    assert_eq!(keys, [("r", false), ("doc", true)]);
}
