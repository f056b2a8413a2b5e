use super::args::*;
use super::*;
use crate::error::AiError;

fn words(s: &[&str]) -> Vec<Vec<u8>> {
    s.iter().map(|w| w.as_bytes().to_vec()).collect()
}

fn refs(v: &[Vec<u8>]) -> Vec<&[u8]> {
    v.iter().map(|w| w.as_slice()).collect()
}

fn store(s: &[&str]) -> Result<(BackendKind, String, String, BatchOpts, usize, usize), AiError> {
    let w = words(s);
    let r = refs(&w);
    parse_modelstore(&r[..]).map(|a| {
        (
            a.backend,
            String::from_utf8(a.device.to_vec()).unwrap(),
            String::from_utf8(a.tag.to_vec()).unwrap(),
            a.batch,
            a.blob.start,
            a.inputs.len() * 100 + a.outputs.len(),
        )
    })
}

fn set(s: &[&str]) -> Result<(BatchOpts, usize, usize), AiError> {
    let w = words(s);
    let r = refs(&w);
    parse_modelset(&r[..]).map(|a| {
        (
            a.batch,
            a.blob.start,
            a.inputs.len() * 100 + a.outputs.len(),
        )
    })
}

#[test]
fn chunking_follows_redisai() {
    assert_eq!(
        chunks(1352, 450),
        vec![0..450, 450..900, 900..1350, 1350..1352]
    );
    assert_eq!(chunks(900, 450), vec![0..450, 450..900, 900..900]);
    assert_eq!(chunks(10, 450), vec![0..10]);
    assert_eq!(chunks(0, 450), vec![0..0]);
}

#[test]
fn devices() {
    for ok in ["CPU", "cpu", "GPU", "gpu:0", "CPU:", "GPU:12345"] {
        assert!(valid_device(ok.as_bytes()), "{ok}");
    }
    for bad in ["TPU", "CPU::", "CPU:1.8", "CPU:123456", "GPU:x", "", "CPUX"] {
        assert!(!valid_device(bad.as_bytes()), "{bad}");
    }
}

#[test]
fn modelstore_grammar() {
    let b = |size, min_size, min_timeout_ms| BatchOpts {
        size,
        min_size,
        min_timeout_ms,
    };
    assert_eq!(
        store(&["onnx", "cpu", "BLOB", "x"]),
        Ok((BackendKind::Onnx, "cpu".into(), "".into(), b(0, 0, 0), 3, 0))
    );
    assert_eq!(
        store(&[
            "ONNX",
            "GPU:1",
            "TAG",
            "v1",
            "BATCHSIZE",
            "4",
            "MINBATCHSIZE",
            "2",
            "MINBATCHTIMEOUT",
            "100",
            "BLOB",
            "a",
            "b"
        ]),
        Ok((
            BackendKind::Onnx,
            "GPU:1".into(),
            "v1".into(),
            b(4, 2, 100),
            11,
            0
        ))
    );
    assert_eq!(
        store(&["TF", "CPU", "INPUTS", "2", "a", "b", "OUTPUTS", "1", "c", "BLOB", "x"]),
        Ok((
            BackendKind::Tf,
            "CPU".into(),
            "".into(),
            b(0, 0, 0),
            10,
            201
        ))
    );
    // A MINBATCHTIMEOUT of 0 is legal without MINBATCHSIZE (the AOF writes it so).
    assert!(store(&[
        "ONNX",
        "CPU",
        "TAG",
        "",
        "BATCHSIZE",
        "0",
        "MINBATCHSIZE",
        "0",
        "MINBATCHTIMEOUT",
        "0",
        "BLOB",
        "x"
    ])
    .is_ok());

    let err = |s: &[&str]| store(s).unwrap_err();
    assert_eq!(
        err(&["CAFFE", "CPU", "BLOB", "x"]),
        AiError::UnsupportedBackend
    );
    assert_eq!(err(&["ONNX", "TPU", "BLOB", "x"]), AiError::InvalidDevice);
    assert_eq!(
        err(&["ONNX", "CPU", "BATCHSIZE", "x", "BLOB", "m"]),
        AiError::InvalidBatchSize
    );
    assert_eq!(
        err(&["ONNX", "CPU", "BATCHSIZE", "-1", "BLOB", "m"]),
        AiError::InvalidBatchSize
    );
    assert_eq!(
        err(&["ONNX", "CPU", "MINBATCHSIZE", "2", "BLOB", "m"]),
        AiError::MinBatchWithoutBatch
    );
    assert_eq!(
        err(&[
            "ONNX",
            "CPU",
            "BATCHSIZE",
            "2",
            "MINBATCHSIZE",
            "bad_size",
            "BLOB",
            "m"
        ]),
        AiError::InvalidMinBatchSize
    );
    assert_eq!(
        err(&[
            "ONNX",
            "CPU",
            "BATCHSIZE",
            "2",
            "MINBATCHTIMEOUT",
            "1000",
            "BLOB",
            "m"
        ]),
        AiError::MinBatchTimeoutWithoutMinBatch
    );
    assert_eq!(
        err(&[
            "ONNX",
            "CPU",
            "BATCHSIZE",
            "2",
            "MINBATCHSIZE",
            "2",
            "MINBATCHTIMEOUT",
            "bad",
            "BLOB",
            "m"
        ]),
        AiError::InvalidMinBatchTimeout
    );
    assert_eq!(
        err(&["TORCH", "CPU", "INPUTS", "2", "a", "b", "OUTPUTS", "1", "c", "BLOB", "m"]),
        AiError::InputsNotForBackend
    );
    assert_eq!(
        err(&["ONNX", "CPU", "BATCHSIZE", "2"]),
        AiError::MissingBlob
    );
    assert_eq!(
        err(&["ONNX", "CPU", "BATCHSIZE", "2", "NOT_BLOB"]),
        AiError::ExpectedBlob
    );
    assert_eq!(
        err(&["ONNX", "CPU", "BATCHSIZE", "2", "BLOB"]),
        AiError::MissingBlob
    );
    assert_eq!(err(&["TF", "CPU", "BLOB", "m"]), AiError::TfInputsMissing);
    assert_eq!(
        err(&["TF", "CPU", "INPUTS", "0", "BLOB", "m"]),
        AiError::InputCountInvalid
    );
    assert_eq!(
        err(&["TF", "CPU", "INPUTS", "3", "a", "b"]),
        AiError::InputNamesCount
    );
    assert_eq!(
        err(&["TF", "CPU", "INPUTS", "1", "a", "BLOB", "m"]),
        AiError::TfOutputsMissing
    );
    assert_eq!(
        err(&["TF", "CPU", "INPUTS", "1", "a", "OUTPUTS", "x", "BLOB"]),
        AiError::OutputCountInvalid
    );
    assert_eq!(
        err(&["TF", "CPU", "INPUTS", "1", "a", "OUTPUTS", "3", "c"]),
        AiError::OutputNamesCount
    );
    assert_eq!(
        err(&["TF", "CPU", "INPUTS", "1", "a", "OUTPUTS", "1", "c"]),
        AiError::ExpectedBlob
    );
}

#[test]
fn modelset_grammar() {
    assert_eq!(set(&["ONNX", "CPU", "BLOB", "m"]).map(|r| r.1), Ok(3));
    // Other backends ignore what stands before BLOB.
    assert_eq!(
        set(&["ONNX", "CPU", "junk", "more", "BLOB", "m"]).map(|r| r.1),
        Ok(5)
    );
    assert_eq!(
        set(&["TF", "CPU", "INPUTS", "a", "b", "OUTPUTS", "mul", "BLOB", "m"]).map(|r| r.2),
        Ok(201)
    );
    let err = |s: &[&str]| set(s).unwrap_err();
    assert_eq!(
        err(&["ONNX", "BATCHSIZE", "BLOB", "m"]),
        AiError::InvalidDevice
    );
    assert_eq!(
        err(&["ONNX", "12345678901", "BLOB", "m"]),
        AiError::InvalidDevice
    );
    assert_eq!(
        err(&["TFLITE", "CPU", "BATCHSIZE", "2", "BLOB", "m"]),
        AiError::AutoBatchingTflite
    );
    assert_eq!(
        err(&["ONNX", "CPU", "MINBATCHSIZE", "2", "BLOB", "m"]),
        AiError::MinBatchWithoutBatch
    );
    assert_eq!(
        err(&["ONNX", "CPU", "MINBATCHTIMEOUT", "2", "BLOB", "m"]),
        AiError::MinBatchTimeoutWithoutBatch
    );
    assert_eq!(
        err(&[
            "ONNX",
            "CPU",
            "BATCHSIZE",
            "2",
            "MINBATCHTIMEOUT",
            "2",
            "BLOB",
            "m"
        ]),
        AiError::MinBatchTimeoutWithoutMinBatch
    );
    assert_eq!(
        err(&["ONNX", "CPU", "BATCHSIZE", "2"]),
        AiError::MissingBlob
    );
    assert_eq!(
        err(&["ONNX", "CPU", "BATCHSIZE", "2", "NOT_BLOB"]),
        AiError::MissingBlob
    );
    assert_eq!(
        err(&["ONNX", "CPU", "BATCHSIZE", "2", "BLOB"]),
        AiError::MissingBlob
    );
    assert_eq!(err(&["TF", "CPU", "BLOB", "m"]), AiError::TfIoMissing);
    assert_eq!(
        err(&["TF", "CPU", "not_inputs", "BLOB", "m"]),
        AiError::InputsNotSpecified
    );
    assert_eq!(
        err(&["TF", "CPU", "INPUTS", "a", "b"]),
        AiError::OutputsNotSpecified
    );
    assert_eq!(
        err(&["TF", "CPU", "INPUTS", "a", "b", "OUTPUTS", "mul"]),
        AiError::MissingBlob
    );
}

#[test]
fn modelexecute_grammar() {
    let parse = |s: &[&str], i, o| {
        let w = words(s);
        let r = refs(&w);
        parse_modelexecute(&r[..], i, o)
    };
    assert_eq!(
        parse(&["INPUTS", "2", "a", "b", "OUTPUTS", "1", "c"], 2, 1),
        Ok(ExecArgs {
            inputs: vec![2, 3],
            outputs: vec![6],
            timeout_ms: None
        })
    );
    assert_eq!(
        parse(
            &["inputs", "1", "a", "outputs", "1", "c", "timeout", "50"],
            1,
            1
        )
        .map(|a| a.timeout_ms),
        Ok(Some(50))
    );
    let err = |s: &[&str], i, o| parse(s, i, o).unwrap_err();
    assert_eq!(
        err(&["INPUT", "1", "a", "OUTPUTS", "1", "b"], 1, 1),
        AiError::InputsNotSpecified
    );
    assert_eq!(
        err(&["INPUTS", "x", "a", "OUTPUTS", "1", "b"], 1, 1),
        AiError::InputCountInvalid
    );
    assert_eq!(
        err(&["INPUTS", "0", "a", "OUTPUTS", "1", "b"], 1, 1),
        AiError::InputCountNotPositive
    );
    assert_eq!(
        err(&["INPUTS", "2", "a", "OUTPUTS", "1", "b"], 1, 1),
        AiError::InputsMismatch
    );
    assert_eq!(
        err(&["INPUTS", "3", "a", "b"], 3, 1),
        AiError::InputKeysCount
    );
    assert_eq!(
        err(&["INPUTS", "1", "a", "OUTPUT", "1", "b"], 1, 1),
        AiError::OutputsNotSpecified
    );
    assert_eq!(
        err(&["INPUTS", "1", "a", "OUTPUTS"], 1, 1),
        AiError::OutputCountInvalid
    );
    assert_eq!(
        err(&["INPUTS", "1", "a", "OUTPUTS", "x", "b"], 1, 1),
        AiError::OutputCountInvalid
    );
    assert_eq!(
        err(&["INPUTS", "1", "a", "OUTPUTS", "-1", "b"], 1, 1),
        AiError::OutputCountNotPositive
    );
    assert_eq!(
        err(&["INPUTS", "1", "a", "OUTPUTS", "2", "b", "c"], 1, 1),
        AiError::OutputsMismatch
    );
    assert_eq!(
        err(&["INPUTS", "1", "a", "OUTPUTS", "2", "b"], 1, 2),
        AiError::OutputKeysCount
    );
    assert_eq!(
        err(&["INPUTS", "1", "a", "OUTPUTS", "1", "b", "TIMEOUT"], 1, 1),
        AiError::TimeoutMissing
    );
    assert_eq!(
        err(
            &["INPUTS", "1", "a", "OUTPUTS", "1", "b", "TIMEOUT", "0"],
            1,
            1
        ),
        AiError::TimeoutInvalid
    );
    assert_eq!(
        err(
            &["INPUTS", "1", "a", "OUTPUTS", "1", "b", "TIMEOUT", "5", "x"],
            1,
            1
        ),
        AiError::InvalidArgument("x".into())
    );
    assert_eq!(
        err(&["INPUTS", "1", "a", "OUTPUTS", "1", "b", "EXTRA"], 1, 1),
        AiError::InvalidArgument("EXTRA".into())
    );
}

#[test]
fn modelrun_grammar() {
    let parse = |s: &[&str], i, o| {
        let w = words(s);
        let r = refs(&w);
        parse_modelrun(&r[..], i, o)
    };
    assert_eq!(
        parse(&["TIMEOUT", "9", "INPUTS", "a", "b", "OUTPUTS", "c"], 2, 1),
        Ok(ExecArgs {
            inputs: vec![3, 4],
            outputs: vec![6],
            timeout_ms: Some(9)
        })
    );
    assert_eq!(
        parse(&["TIMEOUT", "x", "INPUTS", "a"], 1, 0).unwrap_err(),
        AiError::TimeoutInvalid
    );
    assert_eq!(
        parse(&["OUTPUTS", "a", "b"], 1, 1).unwrap_err(),
        AiError::InputsNotSpecified
    );
    assert_eq!(
        parse(&["INPUTS", "a", "OUTPUTS", "c"], 2, 1).unwrap_err(),
        AiError::InputsMismatch
    );
    assert_eq!(
        parse(&["INPUTS", "a", "OUTPUTS", "c", "OUTPUTS"], 1, 1).unwrap_err(),
        AiError::OutputsMismatch
    );
}

#[test]
fn modelget_words() {
    let parse = |s: &[&str]| {
        let w = words(s);
        let r = refs(&w);
        parse_modelget(&r[..])
    };
    assert_eq!(parse(&[]), (true, true));
    assert_eq!(parse(&["meta"]), (true, false));
    assert_eq!(parse(&["BLOB"]), (false, true));
    assert_eq!(parse(&["BLOB", "META"]), (true, true));
    assert_eq!(parse(&["whatever"]), (true, true));
}
