use super::args::{
    parse_tensorget_format, parse_tensorset, DataFormat, GetFormat, Input, TensorSetArgs,
};
use super::*;

const NO_LIMIT: Limits = Limits::UNLIMITED;

fn words(s: &[&str]) -> Vec<Vec<u8>> {
    s.iter().map(|w| w.as_bytes().to_vec()).collect()
}

fn refs(v: &[Vec<u8>]) -> Vec<&[u8]> {
    v.iter().map(|w| w.as_slice()).collect()
}

fn values(t: &Tensor) -> Vec<String> {
    let mut out = Vec::new();
    t.for_each_value(|v| {
        out.push(match v {
            Value::Double(d) => format!("{d}"),
            Value::Int(i) => format!("{i}"),
            Value::Str(s) => String::from_utf8_lossy(s).into_owned(),
        })
    });
    out
}

fn sh(dims: &[i64]) -> Shape {
    Shape::from_slice(dims)
}

fn from_values(dtype: DType, shape: &[i64], vals: &[&str]) -> AiResult<Tensor> {
    let w = words(vals);
    Tensor::from_values(dtype, sh(shape), &refs(&w)[..], NO_LIMIT)
}

#[test]
fn shape_arithmetic_is_checked() {
    assert_eq!(element_count(&[]), Ok(1));
    assert_eq!(element_count(&[2, 3, 4]), Ok(24));
    assert_eq!(element_count(&[2, 0]), Ok(0));
    assert_eq!(element_count(&[-1]), Err(AiError::InvalidShape));
    assert_eq!(element_count(&[1 << 62, 4]), Err(AiError::ShapeOverflow));
    assert_eq!(
        element_count(&[i64::MAX, i64::MAX]),
        Err(AiError::ShapeOverflow)
    );
}

#[test]
fn huge_shapes_are_refused_before_allocating() {
    let limits = Limits {
        max_bytes: 512 << 20,
    };
    let e = Tensor::zeros(DType::Float, sh(&[65536, 65536, 65536]), limits).unwrap_err();
    assert_eq!(
        e,
        AiError::TensorTooLarge {
            bytes: 4 << 48,
            limit: 512 << 20
        }
    );
    // 2^62 * 4 elements overflows before the byte size is even computed.
    let w = words(&["FLOAT", "4611686018427387904", "4"]);
    assert_eq!(parse_tensorset(&refs(&w)[..]), Err(AiError::ShapeOverflow));
    // 2^61 elements of 8 bytes: the count fits, the byte size does not.
    assert_eq!(
        Tensor::zeros(DType::Double, sh(&[1 << 61, 4]), NO_LIMIT).unwrap_err(),
        AiError::ShapeOverflow
    );
    // STRING elements also cost their offset.
    let e = Tensor::zeros(DType::String, sh(&[100]), Limits { max_bytes: 899 }).unwrap_err();
    assert_eq!(
        e,
        AiError::TensorTooLarge {
            bytes: 900,
            limit: 899
        }
    );
    assert!(Tensor::zeros(DType::String, sh(&[100]), Limits { max_bytes: 900 }).is_ok());
}

#[test]
fn zeros_of_every_dtype() {
    for d in DType::ALL {
        let t = Tensor::zeros(d, sh(&[2, 3]), NO_LIMIT).unwrap();
        assert_eq!(t.len(), 6);
        assert_eq!(t.data().len(), 6 * d.elem_size());
        let expected = if d == DType::String { "" } else { "0" };
        assert_eq!(values(&t), vec![expected; 6], "{d:?}");
    }
}

#[test]
fn scalars_have_an_empty_shape_and_one_element() {
    let t = from_values(DType::Float, &[], &["3"]).unwrap();
    assert_eq!(t.shape(), &[] as &[i64]);
    assert_eq!(t.len(), 1);
    assert_eq!(values(&t), vec!["3"]);
}

#[test]
fn values_round_trip_for_every_numeric_dtype() {
    let cases: &[(DType, &[&str])] = &[
        (DType::Float, &["1", "-2.5", "1000000", "inf"]),
        (DType::Double, &["1", "-2.5", "1e300", "-inf"]),
        (DType::Int8, &["-128", "127", "0", "-1"]),
        (DType::Int16, &["-32768", "32767", "0", "5"]),
        (DType::Int32, &["-2147483648", "2147483647", "0", "5"]),
        (
            DType::Int64,
            &["-9223372036854775808", "9223372036854775807", "0", "5"],
        ),
        (DType::UInt8, &["0", "255", "1", "2"]),
        (DType::UInt16, &["0", "65535", "1", "2"]),
        (DType::Bool, &["0", "1", "1", "0"]),
    ];
    for (d, vals) in cases {
        let t = from_values(*d, &[2, 2], vals).unwrap();
        let expected: Vec<String> = vals
            .iter()
            .map(|v| match v.parse::<f64>() {
                Ok(x) if matches!(d, DType::Float | DType::Double) => format!("{x}"),
                _ => v.to_string(),
            })
            .collect();
        assert_eq!(values(&t), expected, "{d:?}");
        let copy = Tensor::from_blob(*d, sh(&[2, 2]), t.data(), NO_LIMIT).unwrap();
        assert_eq!(copy, t);
    }
}

#[test]
fn out_of_range_values_are_invalid() {
    let cases: &[(DType, &str)] = &[
        (DType::Int8, "128"),
        (DType::Int8, "-129"),
        (DType::Int16, "32768"),
        (DType::Int32, "-2147483649"),
        (DType::Int64, "9223372036854775808"),
        (DType::UInt8, "256"),
        (DType::UInt8, "-1"),
        (DType::UInt16, "65536"),
        (DType::Bool, "2"),
        (DType::Bool, "-1"),
        (DType::Int32, "1.87"),
        (DType::Float, "A"),
        (DType::Float, "nan"),
        (DType::Float, "1e39"),
        (DType::Double, "1e400"),
        (DType::Int64, ""),
    ];
    for (d, v) in cases {
        assert_eq!(
            from_values(*d, &[1], &[v]).unwrap_err(),
            AiError::InvalidValue,
            "{d:?} {v}"
        );
    }
}

#[test]
fn first_bad_value_wins_and_count_is_checked() {
    assert_eq!(
        from_values(DType::Int8, &[3], &["1", "x", "999"]).unwrap_err(),
        AiError::InvalidValue
    );
    assert_eq!(
        from_values(DType::Int8, &[3], &["1"]).unwrap_err(),
        AiError::ValuesCount
    );
}

#[test]
fn float_values_are_narrowed_to_f32() {
    let t = from_values(DType::Float, &[1], &["1.1"]).unwrap();
    assert_eq!(t.data(), 1.1f32.to_ne_bytes());
    let mut got = None;
    t.for_each_value(|v| got = Some(v));
    assert_eq!(got, Some(Value::Double(f64::from(1.1f32))));
}

#[test]
fn blob_length_and_bool_content_are_checked() {
    assert_eq!(
        Tensor::from_blob(DType::Float, sh(&[2]), &[0; 7], NO_LIMIT).unwrap_err(),
        AiError::DataLength
    );
    assert_eq!(
        Tensor::from_blob(DType::Float, sh(&[2]), &[0; 9], NO_LIMIT).unwrap_err(),
        AiError::DataLength
    );
    assert_eq!(
        Tensor::from_blob(DType::Bool, sh(&[2]), &[2, 1], NO_LIMIT).unwrap_err(),
        AiError::BoolElements
    );
    // Upstream skipped the last byte; every byte is checked here.
    assert_eq!(
        Tensor::from_blob(DType::Bool, sh(&[2]), &[1, 7], NO_LIMIT).unwrap_err(),
        AiError::BoolElements
    );
    assert!(Tensor::from_blob(DType::Bool, sh(&[2]), &[1, 0], NO_LIMIT).is_ok());
    let e =
        Tensor::from_blob(DType::UInt8, sh(&[4]), &[1; 4], Limits { max_bytes: 3 }).unwrap_err();
    assert_eq!(e, AiError::TensorTooLarge { bytes: 4, limit: 3 });
}

#[test]
fn string_values_follow_the_nul_rules() {
    let t = from_values(DType::String, &[4], &["str_val1", "str_val2\0", "", "\0"]).unwrap();
    assert_eq!(values(&t), vec!["str_val1", "str_val2", "", ""]);
    assert_eq!(t.data(), b"str_val1\0str_val2\0\0\0");
    assert_eq!(t.string_offsets(), &[0, 9, 18, 19]);
    assert_eq!(
        from_values(DType::String, &[2], &["valid", "in\0valid"]).unwrap_err(),
        AiError::NulInString
    );
    assert_eq!(
        from_values(DType::String, &[1], &["two\0\0"]).unwrap_err(),
        AiError::NulInString
    );
    let non_ascii = from_values(DType::String, &[2], &["english", "עברית"]).unwrap();
    assert_eq!(values(&non_ascii)[1], "עברית");
}

#[test]
fn string_blobs_need_one_terminator_per_element() {
    let t = Tensor::from_blob(DType::String, sh(&[2, 2]), b"s11\0s12\0\0s22\0", NO_LIMIT).unwrap();
    assert_eq!(values(&t), vec!["s11", "s12", "", "s22"]);
    for bad in [
        &b"single c-string\0"[..],
        b"one\0two\0three\0",
        b"C-string\0followed by a non C-string",
        b"",
        b"no terminator at all",
    ] {
        assert_eq!(
            Tensor::from_blob(DType::String, sh(&[2]), bad, NO_LIMIT).unwrap_err(),
            AiError::StringElements,
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
}

struct Borrowed(Vec<u8>);

impl ExternalBytes for Borrowed {
    fn bytes(&self) -> &[u8] {
        &self.0
    }
    fn heap_size(&self) -> usize {
        self.0.capacity()
    }
}

#[test]
fn external_bytes_are_validated_like_copies() {
    let t = Tensor::from_external(
        DType::Int16,
        sh(&[2]),
        Box::new(Borrowed(vec![1, 0, 2, 0])),
        NO_LIMIT,
    )
    .unwrap();
    assert_eq!(values(&t), vec!["1", "2"]);
    let e = Tensor::from_external(
        DType::Int16,
        sh(&[3]),
        Box::new(Borrowed(vec![0; 4])),
        NO_LIMIT,
    );
    assert_eq!(e.unwrap_err(), AiError::DataLength);
}

#[test]
fn tensorset_grammar() {
    let parse = |s: &[&str]| {
        let w = words(s);
        parse_tensorset(&refs(&w)[..])
    };
    assert_eq!(
        parse(&["float", "2", "3", "blob", "x"]),
        Ok(TensorSetArgs {
            dtype: DType::Float,
            shape: sh(&[2, 3]),
            input: Input::Blob(4),
        })
    );
    assert_eq!(
        parse(&["INT8", "2", "VALUES", "1", "2"]).map(|a| a.input),
        Ok(Input::Values(3))
    );
    assert_eq!(
        parse(&["FLOAT", "VALUES", "3"]).map(|a| (a.shape, a.input)),
        Ok((sh(&[]), Input::Values(2)))
    );
    assert_eq!(parse(&["FLOAT", "2"]).map(|a| a.input), Ok(Input::Zeros));
    assert_eq!(parse(&["INT128", "2"]), Err(AiError::InvalidDataType));
    assert_eq!(
        parse(&["INT32", "-1", "VALUES", "2", "3"]),
        Err(AiError::InvalidShape)
    );
    assert_eq!(parse(&["INT32", "0"]), Err(AiError::InvalidShape));
    assert_eq!(
        parse(&["INT32", "2", "not_a_number", "VALUES", "2", "3"]),
        Err(AiError::InvalidShape)
    );
    assert_eq!(parse(&["FLOAT", "2", "BLOB"]), Err(AiError::BlobArity));
    assert_eq!(
        parse(&["FLOAT", "2", "BLOB", "a", "b"]),
        Err(AiError::BlobArity)
    );
    assert_eq!(
        parse(&["FLOAT", "2", "VALUES", "1"]),
        Err(AiError::ValuesCount)
    );
    assert_eq!(
        parse(&["FLOAT", "2", "VALUES", "1", "2", "3"]),
        Err(AiError::ValuesCount)
    );
    // The dtype is checked before the shape, the shape before the data.
    assert_eq!(parse(&["BAD", "-1", "BLOB"]), Err(AiError::InvalidDataType));
    assert_eq!(parse(&["FLOAT", "x", "BLOB"]), Err(AiError::InvalidShape));
}

#[test]
fn tensorget_formats() {
    let parse = |s: &[&str]| {
        let w = words(s);
        parse_tensorget_format(&refs(&w)[..])
    };
    let f = |meta, data| Ok(GetFormat { meta, data });
    assert_eq!(parse(&[]), f(true, Some(DataFormat::Blob)));
    assert_eq!(parse(&["meta"]), f(true, None));
    assert_eq!(parse(&["BLOB"]), f(false, Some(DataFormat::Blob)));
    assert_eq!(
        parse(&["values", "META"]),
        f(true, Some(DataFormat::Values))
    );
    assert_eq!(parse(&["META", "META"]), f(true, None));
    assert_eq!(parse(&["BLOB", "VALUES"]), Err(AiError::BothBlobAndValues));
    assert_eq!(parse(&["unsupported"]), Err(AiError::UnsupportedFormat));
    assert_eq!(parse(&["META", "x"]), Err(AiError::UnsupportedFormat));
}

#[test]
fn heap_size_counts_the_data() {
    let t = Tensor::zeros(DType::Double, sh(&[1000]), NO_LIMIT).unwrap();
    assert!(t.heap_size() >= 8000);
    assert!(t.heap_size() < 8000 + 256);
}

#[test]
fn refill_rewrites_a_buffer_of_the_same_size_only() {
    let mut t = Tensor::from_blob(DType::Float, sh(&[2]), &[0; 8], NO_LIMIT).unwrap();
    let one = 1f32.to_ne_bytes().repeat(2);
    assert!(t
        .refill_from_blob(DType::Float, &sh(&[1, 2]), &one, NO_LIMIT)
        .unwrap());
    assert_eq!(t.shape(), &[1, 2]);
    assert_eq!(values(&t), ["1", "1"]);
    // Another dtype or byte size does not fit: nothing changes.
    assert!(!t
        .refill_from_blob(DType::Int32, &sh(&[2]), &[0; 8], NO_LIMIT)
        .unwrap());
    assert!(!t
        .refill_from_blob(DType::Float, &sh(&[3]), &[0; 12], NO_LIMIT)
        .unwrap());
    assert_eq!(values(&t), ["1", "1"]);
    // A bad blob of the right size is an error, and nothing changes.
    let mut b = Tensor::from_blob(DType::Bool, sh(&[2]), &[1, 0], NO_LIMIT).unwrap();
    assert!(b
        .refill_from_blob(DType::Bool, &sh(&[2]), &[2, 0], NO_LIMIT)
        .is_err());
    assert!(t
        .refill_from_blob(DType::Float, &sh(&[4]), &one, NO_LIMIT)
        .is_err());
    assert_eq!(values(&b), ["1", "0"]);
    assert_eq!(t.shape(), &[1, 2]);
    // The size limit still applies.
    let small = Limits { max_bytes: 4 };
    assert!(t
        .refill_from_blob(DType::Float, &sh(&[2]), &one, small)
        .is_err());
    // STRING tensors are never refilled (their offsets would change).
    let mut s = Tensor::from_blob(DType::String, sh(&[1]), b"a\0", NO_LIMIT).unwrap();
    assert!(!s
        .refill_from_blob(DType::String, &sh(&[1]), b"b\0", NO_LIMIT)
        .unwrap());
}
