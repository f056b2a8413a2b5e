use super::*;

fn words(s: &str) -> Vec<Vec<u8>> {
    s.split_whitespace()
        .map(|w| w.as_bytes().to_vec())
        .collect()
}

fn parse(s: &str) -> AiResult<Def> {
    let w = words(s);
    let v: Vec<&[u8]> = w.iter().map(Vec::as_slice).collect();
    parse_add(v.as_slice())
}

const OK: &str = "p STREAM in FIELD x INPUT x FLOAT 4 BATCH 8 MAXLATENCY 5 \
    OUTPUT STREAM out MAXLEN 100 OUTPUTS 1 y DAG |> AI.MODELEXECUTE m INPUTS 1 x OUTPUTS 1 y";

#[test]
fn a_full_definition_parses() {
    let d = parse(OK).unwrap();
    assert_eq!(d.stream, b"in");
    assert_eq!(d.dims, vec![4]);
    assert_eq!(d.batch, 8);
    assert_eq!(d.max_latency_ms, 5);
    assert_eq!(d.max_in_flight, 2);
    assert_eq!(d.group, b"ai-pipeline:p");
    assert_eq!(
        d.output,
        Output::Stream {
            key: b"out".to_vec(),
            maxlen: Some(100)
        }
    );
    assert_eq!(d.outputs, vec![b"y".to_vec()]);
    assert_eq!(d.dag.len(), 9);
    assert_eq!(d.args.len(), words(OK).len() - 1);
    let again: Vec<&[u8]> = std::iter::once(&b"p"[..])
        .chain(d.args.iter().map(Vec::as_slice))
        .collect();
    assert_eq!(parse_add(again.as_slice()).unwrap(), d);
}

#[test]
fn bad_definitions_are_refused_with_their_reason() {
    for (s, text) in [
        ("p STREAM in", "ERR a pipeline needs FIELD <field>"),
        (
            "p STREAM in FIELD x INPUT x FLOAT 4 BATCH 0",
            "ERR BATCH must be an integer between 1 and 10000",
        ),
        (
            "p STREAM in FIELD x INPUT x FLOAT 4 BATCH 99999999999999999999",
            "ERR BATCH must be an integer between 1 and 10000",
        ),
        (
            "p STREAM in FIELD x INPUT x FLOAT 0",
            "ERR INPUT dimensions must be positive",
        ),
        (
            "p STREAM in FIELD x INPUT x NOPE",
            "ERR INPUT needs a tensor name and a data type",
        ),
        ("p STREAM in STREAM b", "ERR STREAM is given twice"),
        (
            "p STREAM in FIELD x INPUT x STRING OUTPUT STREAM in OUTPUTS 1 y DAG |> AI.TENSORGET y",
            "ERR the output stream cannot be the pipeline's own stream",
        ),
        (
            "p STREAM in FIELD x INPUT x STRING OUTPUT STREAM o OUTPUTS 1 y DAG",
            "ERR a pipeline needs DAG |> <op> ...",
        ),
        (
            "p STREAM in FIELD x INPUT x STRING OUTPUT STREAM o OUTPUTS 3 y DAG",
            "ERR OUTPUTS names fewer tensors than its count",
        ),
        (
            "p STREAM in FIELD x INPUT x STRING OUTPUT STREAM o OUTPUTS 1 error DAG |> x",
            "ERR an output tensor cannot be named 'error' (a field of the results)",
        ),
        ("p NOPE", "ERR unknown argument 'NOPE' in 'AI.PIPELINE ADD'"),
        (
            "p STREAM in FIELD x INPUT x STRING OUTPUT LIST o",
            "ERR OUTPUT needs STREAM <key> or HASH <prefix>",
        ),
        (
            "p STREAM in FIELD x INPUT x INT8 2 2 2 2 2 2 2 2 2",
            "ERR INPUT has at most 8 dimensions",
        ),
    ] {
        assert_eq!(parse(s).unwrap_err().to_string(), text, "{s}");
    }
}

#[test]
fn keys_are_the_streams_and_the_dags_models() {
    let w = words(OK);
    let v: Vec<&[u8]> = w.iter().map(Vec::as_slice).collect();
    let keys = key_positions(v.as_slice());
    let named: Vec<(&str, bool)> = keys
        .iter()
        .map(|&(p, wr)| (std::str::from_utf8(v[p]).unwrap(), wr))
        .collect();
    assert_eq!(named, vec![("in", true), ("out", true), ("m", false)]);
    // An output tensor or field called like a keyword is not taken for one.
    let w = words("p FIELD STREAM OUTPUTS 1 STREAM STREAM in");
    let v: Vec<&[u8]> = w.iter().map(Vec::as_slice).collect();
    assert_eq!(key_positions(v.as_slice()), vec![(7, true)]);
}

#[test]
fn batches_keep_the_entries_that_fit_and_say_why_others_do_not() {
    let d = parse(OK).unwrap();
    let good = [0u8; 16];
    let values = [Some(&good[..]), None, Some(&good[..3]), Some(&good[..])];
    let b = build_batch(&d, &values, Limits::UNLIMITED);
    let t = b.tensor.unwrap();
    assert_eq!(t.shape(), &[2, 4]);
    assert!(b.accepted[0].is_ok() && b.accepted[3].is_ok());
    assert_eq!(
        b.accepted[1].as_ref().unwrap_err(),
        "ERR the entry has no field 'x'"
    );
    assert_eq!(
        b.accepted[2].as_ref().unwrap_err(),
        "ERR field 'x' has 3 bytes, the input needs 16"
    );
    // Over the tensor size limit: every entry is refused, none is left unanswered.
    let b = build_batch(&d, &values, Limits { max_bytes: 8 });
    assert!(b.tensor.is_none());
    assert!(b.accepted.iter().all(Result::is_err));
}

#[test]
fn string_batches_and_rows() {
    let d = parse(
        "p STREAM in FIELD text INPUT s STRING OUTPUT HASH h: OUTPUTS 1 y DAG |> AI.TENSORGET s",
    )
    .unwrap();
    let values = [Some(&b"hello"[..]), Some(&b"a\0b"[..]), Some(&b""[..])];
    let b = build_batch(&d, &values, Limits::UNLIMITED);
    let t = b.tensor.unwrap();
    assert_eq!(t.shape(), &[2]);
    assert_eq!(row(&t, 2, 0).unwrap(), b"hello");
    assert_eq!(row(&t, 2, 1).unwrap(), b"");
    assert!(row(&t, 3, 0).is_err());
    let f = Tensor::from_vec(
        DType::Float,
        [2, 2].into_iter().collect(),
        vec![1; 16],
        Limits::UNLIMITED,
    )
    .unwrap();
    assert_eq!(row(&f, 2, 1).unwrap().len(), 8);
}

#[test]
fn percentiles_and_ids() {
    let mut l = Latencies::default();
    assert_eq!(l.percentile(50.0), 0.0);
    for i in 1..=100 {
        l.record(i as f64);
    }
    assert_eq!(l.percentile(50.0), 50.0);
    assert_eq!(l.percentile(99.0), 99.0);
    for _ in 0..LATENCY_WINDOW {
        l.record(7.0);
    }
    assert_eq!(l.percentile(99.0), 7.0);
    assert_eq!(id_millis(b"1700000000123-4"), Some(1_700_000_000_123));
    assert_eq!(id_millis(b"x-1"), None);
}
