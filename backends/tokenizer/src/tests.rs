use super::*;

/// A WordPiece tokenizer small enough to read: BERT's normaliser, pre-tokenizer and template.
fn tiny(truncation: &str, padding: &str) -> String {
    format!(
        r###"{{"version":"1.0","truncation":{truncation},"padding":{padding},"added_tokens":[],
        "normalizer":{{"type":"BertNormalizer","clean_text":true,"handle_chinese_chars":true,
          "strip_accents":null,"lowercase":true}},
        "pre_tokenizer":{{"type":"BertPreTokenizer"}},
        "post_processor":{{"type":"TemplateProcessing",
          "single":[{{"SpecialToken":{{"id":"[CLS]","type_id":0}}}},{{"Sequence":{{"id":"A","type_id":0}}}},
                    {{"SpecialToken":{{"id":"[SEP]","type_id":0}}}}],
          "pair":[{{"Sequence":{{"id":"A","type_id":0}}}},{{"Sequence":{{"id":"B","type_id":1}}}}],
          "special_tokens":{{"[CLS]":{{"id":"[CLS]","ids":[2],"tokens":["[CLS]"]}},
                             "[SEP]":{{"id":"[SEP]","ids":[3],"tokens":["[SEP]"]}}}}}},
        "decoder":null,
        "model":{{"type":"WordPiece","unk_token":"[UNK]","continuing_subword_prefix":"##",
          "max_input_chars_per_word":100,
          "vocab":{{"[PAD]":0,"[UNK]":1,"[CLS]":2,"[SEP]":3,"hello":4,"world":5,",":6,".":7,"red":8,"##is":9}}}}}}"###
    )
}

fn ints(t: &TensorOut) -> Vec<i64> {
    t.data
        .chunks(8)
        .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

fn run(tok: &StoredTokenizer, texts: &[&str]) -> Result<[TensorOut; 3], String> {
    tok.encode(texts.iter().map(|t| t.as_bytes()))
}

#[test]
fn a_batch_is_padded_to_its_longest_text() {
    let tok = prepare(tiny("null", "null").as_bytes()).unwrap();
    let [ids, mask, types] = run(&tok, &["Hello, world.", "redis"]).unwrap();
    assert_eq!(ids.shape, vec![2, 6]);
    assert_eq!(ids.dtype, DataType::new(DL_INT, 64));
    assert_eq!(ints(&ids), [2, 4, 6, 5, 7, 3, 2, 8, 9, 3, 0, 0]);
    assert_eq!(ints(&mask), [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0]);
    assert_eq!(ints(&types), [0; 12]);
}

#[test]
fn truncation_and_fixed_padding_of_the_file_are_honoured() {
    let json = tiny(
        r#"{"max_length":4,"strategy":"LongestFirst","stride":0}"#,
        r#"{"strategy":{"Fixed":5},"direction":"Left","pad_to_multiple_of":null,"pad_id":0,
            "pad_type_id":0,"pad_token":"[PAD]"}"#,
    );
    let tok = prepare(json.as_bytes()).unwrap();
    let [ids, mask, _] = run(&tok, &["hello world hello world", "world"]).unwrap();
    assert_eq!(ids.shape, vec![2, 5]);
    assert_eq!(ints(&ids), [0, 2, 4, 5, 3, 0, 0, 2, 5, 3]);
    assert_eq!(ints(&mask), [0, 1, 1, 1, 1, 0, 0, 1, 1, 1]);
}

#[test]
fn no_truncation_in_the_file_means_the_default_bound() {
    let tok = prepare(tiny("null", "null").as_bytes()).unwrap();
    let long = "hello ".repeat(5000);
    let [ids, ..] = run(&tok, &[&long]).unwrap();
    assert_eq!(ids.shape, vec![1, DEFAULT_MAX_LENGTH as i64]);
}

#[test]
fn an_empty_batch_gives_empty_tensors() {
    let tok = prepare(tiny("null", "null").as_bytes()).unwrap();
    let [ids, ..] = run(&tok, &[]).unwrap();
    assert_eq!(ids.shape, vec![0, 0]);
    assert!(ids.data.is_empty());
}

#[test]
fn hostile_files_are_refused() {
    for (json, why) in [
        ("not json".to_string(), "invalid tokenizer.json"),
        ("{}".to_string(), "invalid tokenizer.json"),
        ("[".repeat(100_000), "invalid tokenizer.json"),
        (
            tiny(
                r#"{"max_length":1000000000,"strategy":"LongestFirst","stride":0}"#,
                "null",
            ),
            "truncation max_length",
        ),
        (
            tiny(
                "null",
                r#"{"strategy":{"Fixed":100000000},"direction":"Right","pad_to_multiple_of":null,
                    "pad_id":0,"pad_type_id":0,"pad_token":"[PAD]"}"#,
            ),
            "fixed padding",
        ),
        // No [UNK] in the vocabulary: WordPiece cannot encode an unknown word.
        (
            tiny("null", "null").replace(r#""[UNK]":1,"#, ""),
            "cannot encode",
        ),
    ] {
        let e = prepare(json.as_bytes()).err().expect(why);
        assert!(e.starts_with("ERR TOKENIZER: "), "{e}");
        assert!(e.contains(why), "{e} lacks {why}");
    }
    let big = vec![b' '; MAX_JSON_BYTES + 1];
    assert!(prepare(&big).err().unwrap().contains("over the limit"));
}

#[test]
fn hostile_texts_are_refused_or_bounded() {
    let tok = prepare(tiny("null", "null").as_bytes()).unwrap();
    let e = tok.encode([&b"\xff\xfe"[..]].into_iter()).err().unwrap();
    assert!(e.contains("text 0 is not valid UTF-8"), "{e}");
    let huge = vec![b'a'; MAX_TEXT_BYTES + 1];
    let e = tok.encode([&huge[..]].into_iter()).err().unwrap();
    assert!(e.contains("over the limit"), "{e}");
    // A word of a million letters is one [UNK] (max_input_chars_per_word), quickly.
    let word = "a".repeat(MAX_TEXT_BYTES);
    let t = std::time::Instant::now();
    let [ids, ..] = run(&tok, &[&word]).unwrap();
    assert_eq!(ints(&ids), [2, 1, 3]);
    assert!(t.elapsed().as_secs() < 5);
    let [ids, ..] = run(&tok, &["\0\u{202e}\u{fffd}", ""]).unwrap();
    assert_eq!(ids.shape[0], 2);
}

#[test]
fn a_batch_whose_output_would_be_too_large_is_refused_before_any_work() {
    let fixed = tiny(
        "null",
        r#"{"strategy":{"Fixed":32768},"direction":"Right","pad_to_multiple_of":null,"pad_id":0,
            "pad_type_id":0,"pad_token":"[PAD]"}"#,
    );
    let tok = prepare(fixed.as_bytes()).unwrap();
    let texts = vec![&b""[..]; MAX_CELLS / 32768 + 1];
    let t = std::time::Instant::now();
    let e = tok.encode(texts.into_iter()).err().unwrap();
    assert!(e.contains("more than one run may tokenize"), "{e}");
    assert!(t.elapsed().as_millis() < 100);
    // Just under the bound is fine.
    let [ids, ..] = run(&tok, &["hello"; 2]).unwrap();
    assert_eq!(ids.shape, vec![2, 32768]);
}

#[test]
fn inputs_must_be_one_string_vector() {
    let data = b"hi\0";
    let offsets = [0u64];
    let s = TensorIn {
        dtype: DataType::new(DL_STRING, 8),
        shape: &[1],
        data,
        string_offsets: &offsets,
    };
    assert!(texts(&[s]).is_ok());
    assert!(texts(&[]).is_err());
    assert!(texts(&[s, s]).is_err());
    let matrix = TensorIn {
        shape: &[1, 2],
        ..s
    };
    assert!(texts(&[matrix]).unwrap_err().contains("shape"));
    let int = TensorIn {
        dtype: DataType::new(DL_INT, 64),
        ..s
    };
    assert!(texts(&[int]).unwrap_err().contains("STRING"));
}

/// The real all-MiniLM-L6-v2 tokenizer (`make deps-embed`), when it is there: ids as the
/// Python package gives them.
#[test]
fn minilm_ids_equal_the_python_package() {
    let dir = std::env::var("EMBED_MODEL_DIR").unwrap_or_else(|_| {
        format!(
            "{}/.cache/redisai/models/all-minilm-l6-v2",
            std::env::var("HOME").unwrap_or_default()
        )
    });
    let Ok(json) = std::fs::read(format!("{dir}/tokenizer.json")) else {
        eprintln!("skipped: no tokenizer.json in {dir}");
        return;
    };
    let tok = prepare(&json).unwrap();
    let [ids, mask, _] = run(&tok, &["hello world"]).unwrap();
    // Its file pads to a fixed 128 tokens.
    assert_eq!(ids.shape, vec![1, 128]);
    assert_eq!(ints(&ids)[..5], [101, 7592, 2088, 102, 0]);
    assert_eq!(ints(&mask).iter().sum::<i64>(), 4);
}
