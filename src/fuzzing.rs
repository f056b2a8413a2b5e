//! Entry points for the cargo-fuzz targets in `fuzz/` (`make fuzz`); not an API.
//!
//! The parsers worth fuzzing sit in private modules (`dag`, `model`, `script`) that are kept
//! private so the Redis glue cannot leak out of the crate. These functions drive them with
//! plain command words, doing what the command handlers do before and around each parser
//! (the arity checks that are the parsers' preconditions, the keyspace reads of a DAG) and
//! checking what their results promise. A panic in any of them is a bug the fuzzer found.
//!
//! Each function takes the whole command line, `words[0]` being the command name, and
//! returns whether the command was accepted (the seed test below wants the seeds valid).
//! An unknown command name runs every parser of the family, so mutated names still reach
//! them all.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use crate::args::tail;
use crate::backend::ScriptServices;
use crate::dag::{self, Flavor, Keyspace, OpKind, Runnable};
use crate::error::{AiError, AiResult};
use crate::model::args as model_args;
use crate::script::args as script_args;
use crate::script::Script;
use crate::search::index::IndexData;
use crate::search::{query, request, schema};
use crate::tensor::args::{parse_tensorget_format, parse_tensorset, Input};
use crate::tensor::{element_count, DType, Limits, Tensor};

/// Small enough that a fuzzed shape cannot make the fuzzer run out of memory, large enough
/// for every seed.
const LIMITS: Limits = Limits { max_bytes: 1 << 20 };

/// The separator of words in a fuzz input: inputs (and the seed files) read as one word per
/// line, which keeps seeds editable and lets the fuzzer grow and shrink argument lists.
pub const SEPARATOR: u8 = b'\n';

/// Splits a fuzz input into command words. One trailing separator ends the last line, as in
/// any text file, rather than starting an empty word (two make one).
pub fn split_words(data: &[u8]) -> Vec<&[u8]> {
    let data = data.strip_suffix(&[SEPARATOR]).unwrap_or(data);
    data.split(|&b| b == SEPARATOR).collect()
}

fn is(word: &[u8], name: &str) -> bool {
    word.eq_ignore_ascii_case(name.as_bytes())
}

/// Which of `names` `words[0]` is; `None` (every one applies) for anything else.
fn pick(words: &[&[u8]], names: &[&str]) -> Option<usize> {
    let first = words.first()?;
    names.iter().position(|n| is(first, n))
}

fn wants(choice: Option<usize>, i: usize) -> bool {
    choice.is_none() || choice == Some(i)
}

/// Reads every element, as AI.TENSORGET VALUES does, and checks the tensor's bookkeeping.
fn check_tensor(t: &Tensor) {
    let len = element_count(t.shape()).expect("a built tensor has a valid shape");
    assert_eq!(t.len(), len, "element count of {:?}", t.shape());
    if t.dtype() == DType::String {
        assert_eq!(t.string_offsets().len(), len);
    } else {
        assert_eq!(t.data().len(), len * t.dtype().elem_size());
    }
    let mut seen = 0;
    t.for_each_value(|_| seen += 1);
    assert_eq!(seen, len);
}

/// AI.TENSORSET (parse, then build the tensor as the command does) and AI.TENSORGET's format.
pub fn tensor(words: &[&[u8]]) -> bool {
    let choice = pick(words, &["AI.TENSORSET", "AI.TENSORGET"]);
    let mut ok = false;
    if wants(choice, 0) && words.len() >= 4 {
        let args = &words[2..];
        if let Ok(req) = parse_tensorset(args) {
            let built = match req.input {
                Input::Zeros => Tensor::zeros(req.dtype, req.shape, LIMITS),
                Input::Blob(i) => Tensor::from_blob(req.dtype, req.shape, args[i], LIMITS),
                Input::Values(i) => {
                    Tensor::from_values(req.dtype, req.shape, &tail(args, i), LIMITS)
                }
            };
            if let Ok(t) = built {
                check_tensor(&t);
                ok = true;
            }
        }
    }
    if wants(choice, 1) && (2..=4).contains(&words.len()) {
        ok |= parse_tensorget_format(&words[2..]).is_ok();
    }
    ok
}

/// A model that only knows its arity.
struct FakeModel {
    inputs: usize,
    outputs: usize,
}

impl Runnable for FakeModel {
    fn input_count(&self) -> usize {
        self.inputs
    }
    fn output_count(&self) -> usize {
        self.outputs
    }
}

/// A model key's arity from its name: `m<inputs><outputs>` (digits), as in the DAG tests.
fn model_arity(key: &[u8]) -> Option<(usize, usize)> {
    match key {
        [b'm', i, o] if i.is_ascii_digit() && o.is_ascii_digit() => {
            Some(((i - b'0') as usize, (o - b'0') as usize))
        }
        _ => None,
    }
}

/// The keyspace of the DAG tests: tensors are keys starting with `t`, models `m<i><o>`, `str`
/// holds another type, everything else is empty. No script exists (compiling one needs the
/// TORCH plugin), so script ops stop at their key.
struct FakeKeys<'w> {
    words: &'w [&'w [u8]],
}

impl Keyspace<FakeModel> for FakeKeys<'_> {
    fn tensor(&mut self, word: usize) -> AiResult<Arc<Tensor>> {
        match self.words[word] {
            b"str" => Err(AiError::WrongType),
            w if w.starts_with(b"t") => Ok(Arc::new(Tensor::from_blob(
                DType::Float,
                [1i64, 1].into_iter().collect(),
                &[0, 0, 128, 63],
                LIMITS,
            )?)),
            _ => Err(AiError::TensorKeyEmpty),
        }
    }
    fn model(&mut self, word: usize) -> AiResult<Arc<FakeModel>> {
        match self.words[word] {
            b"str" => Err(AiError::WrongType),
            w => model_arity(w)
                .map(|(inputs, outputs)| Arc::new(FakeModel { inputs, outputs }))
                .ok_or(AiError::ModelKeyEmpty),
        }
    }
    fn script(&mut self, word: usize) -> AiResult<Arc<Script>> {
        match self.words[word] {
            b"str" => Err(AiError::WrongType),
            _ => Err(AiError::ScriptKeyEmpty),
        }
    }
    fn script_env(&mut self, _keys: Vec<Vec<u8>>) -> Arc<dyn ScriptServices + Send + Sync> {
        unreachable!("the fake keyspace holds no script")
    }
    fn writable(&mut self, word: usize) -> AiResult<()> {
        match self.words[word] {
            b"str" => Err(AiError::WrongType),
            _ => Ok(()),
        }
    }
}

/// AI.DAGEXECUTE, AI.DAGEXECUTE_RO, AI.DAGRUN and AI.DAGRUN_RO, and the key positions
/// (COMMAND GETKEYS) of the same words.
pub fn dag(words: &[&[u8]]) -> bool {
    const FLAVORS: [Flavor; 4] = [
        Flavor::Execute,
        Flavor::ExecuteRo,
        Flavor::Run,
        Flavor::RunRo,
    ];
    let names = FLAVORS.map(Flavor::name);
    let choice = pick(words, &names);
    for (key, _) in dag::key_positions(words) {
        assert!(key > 0 && key < words.len(), "key position {key}");
    }
    let mut ok = false;
    for (i, flavor) in FLAVORS.into_iter().enumerate() {
        if !wants(choice, i) {
            continue;
        }
        let mut keys = FakeKeys { words };
        let Ok(plan) = dag::parse(flavor, words, &mut keys, LIMITS) else {
            continue;
        };
        ok = true;
        let (graph, outline) = (&plan.graph, &plan.outline);
        let slots = graph.slots.len();
        assert_eq!(graph.producer.len(), slots);
        assert_eq!(graph.runs.len(), outline.ops.len());
        for (op, (kind, run)) in outline.ops.iter().zip(&graph.runs).enumerate() {
            match (kind, run) {
                (OpKind::Run, Some(run)) => {
                    for &s in run.inputs.iter().chain(&run.outputs) {
                        assert!(s < slots, "slot {s} of {slots}");
                    }
                    for &s in &run.outputs {
                        assert_eq!(graph.producer[s], Some(op));
                    }
                    // Inputs come from LOAD, a TENSORSET or an earlier op.
                    for &s in &run.inputs {
                        assert!(graph.producer[s].map_or(true, |p| p < op));
                    }
                }
                (OpKind::Get { slot, .. }, None) => assert!(*slot < slots),
                (OpKind::Set | OpKind::Hset, None) => {}
                (OpKind::Search { index }, None) => {
                    assert!(outline.searches[*index].slot < slots)
                }
                _ => panic!("op {op}: {kind:?} with a run of {}", run.is_some()),
            }
        }
        for (_, s) in &outline.persist {
            assert!(*s < slots);
        }
        for h in &outline.hashes {
            assert!(h.slot < slots);
        }
        for t in graph.slots.iter().flatten() {
            check_tensor(t);
        }
        if flavor.read_only() {
            assert!(outline.persist.is_empty());
            assert!(outline.hashes.is_empty());
        }
    }
    ok
}

/// Positions returned by an exec parser must be words of the command.
fn check_positions(count: usize, lists: &[&[usize]]) {
    for &p in lists.iter().flat_map(|l| l.iter()) {
        assert!(p < count, "position {p} of {count} words");
    }
}

/// AI.MODELSTORE, AI.MODELSET, AI.MODELEXECUTE, AI.MODELRUN and AI.MODELGET, after the arity
/// checks of their commands. The model's arity comes from its key (`m<i><o>`, else 1 and 1).
pub fn model(words: &[&[u8]]) -> bool {
    let choice = pick(
        words,
        &[
            "AI.MODELSTORE",
            "AI.MODELSET",
            "AI.MODELEXECUTE",
            "AI.MODELRUN",
            "AI.MODELGET",
        ],
    );
    let args = words.get(2..).unwrap_or_default();
    let mut ok = false;
    let store = |r: AiResult<model_args::StoreArgs>| match r {
        Ok(s) => {
            assert!(s.blob.start <= s.blob.end && s.blob.end <= args.len());
            assert!(!s.blob.is_empty(), "a model needs a blob");
            true
        }
        Err(_) => false,
    };
    if wants(choice, 0) && words.len() >= 6 {
        ok |= store(model_args::parse_modelstore(args));
    }
    if wants(choice, 1) && words.len() >= 4 {
        ok |= store(model_args::parse_modelset(args));
    }
    let (ins, outs) = words.get(1).and_then(|k| model_arity(k)).unwrap_or((1, 1));
    let exec = |r: AiResult<model_args::ExecArgs>| match r {
        Ok(e) => {
            assert_eq!((e.inputs.len(), e.outputs.len()), (ins, outs));
            check_positions(args.len(), &[&e.inputs, &e.outputs]);
            true
        }
        Err(_) => false,
    };
    if wants(choice, 2) && words.len() >= 8 {
        ok |= exec(model_args::parse_modelexecute(args, ins, outs));
    }
    if wants(choice, 3) && words.len() >= 6 {
        ok |= exec(model_args::parse_modelrun(args, ins, outs));
    }
    if wants(choice, 4) && (2..=4).contains(&words.len()) {
        let (meta, blob) = model_args::parse_modelget(args);
        assert!(meta || blob);
        ok = true;
    }
    ok
}

/// AI.SCRIPTSTORE, AI.SCRIPTSET, AI.SCRIPTGET, AI.SCRIPTEXECUTE and AI.SCRIPTRUN, after the
/// arity checks of their commands.
pub fn script(words: &[&[u8]]) -> bool {
    let choice = pick(
        words,
        &[
            "AI.SCRIPTSTORE",
            "AI.SCRIPTSET",
            "AI.SCRIPTGET",
            "AI.SCRIPTEXECUTE",
            "AI.SCRIPTRUN",
        ],
    );
    let mut ok = false;
    if wants(choice, 0) && words.len() >= 8 {
        ok |= script_args::parse_scriptstore(&words[2..]).is_ok();
    }
    if wants(choice, 1) && (words.len() == 5 || words.len() == 7) {
        ok |= script_args::parse_scriptset(&words[2..]).is_ok();
    }
    if wants(choice, 2) && (2..=4).contains(&words.len()) {
        let (meta, source) = script_args::parse_scriptget(&words[2..]);
        assert!(meta || source);
        ok = true;
    }
    let exec = |r: AiResult<script_args::ExecArgs>| match r {
        Ok(e) => {
            check_positions(words.len() - 3, &[&e.keys, &e.inputs, &e.args, &e.outputs]);
            true
        }
        Err(_) => false,
    };
    if words.len() >= 3 {
        let args = &words[3..];
        if wants(choice, 3) {
            ok |= exec(script_args::parse_scriptexecute(args, true));
            // Inside a DAG the KEYS-or-INPUTS-first rule does not apply.
            ok |= exec(script_args::parse_scriptexecute(args, false));
        }
        if wants(choice, 4) {
            ok |= exec(script_args::parse_scriptrun(args));
        }
    }
    ok
}

/// The schema the query target parses against: one field of every kind (the vector fields
/// are 4-dimensional FLOAT32, so a 16-byte PARAMS value is a valid query vector).
const QUERY_SCHEMA: &str = "PREFIX 1 doc: SCHEMA title TEXT WEIGHT 1.0 body TEXT INDEXMISSING \
    tag TAG SEPARATOR , ctag TAG CASESENSITIVE n NUMERIC SORTABLE \
    v VECTOR HNSW 6 TYPE FLOAT32 DIM 4 DISTANCE_METRIC L2 \
    f VECTOR FLAT 6 TYPE FLOAT32 DIM 4 DISTANCE_METRIC COSINE";

/// The index definition of [`QUERY_SCHEMA`], parsed once: per input it would cost more than
/// most queries do.
fn query_def() -> &'static schema::IndexDef {
    static DEF: OnceLock<schema::IndexDef> = OnceLock::new();
    DEF.get_or_init(|| {
        let words: Vec<&[u8]> = QUERY_SCHEMA.split_whitespace().map(str::as_bytes).collect();
        schema::parse_create(b"idx", &words).expect("the query target's schema")
    })
}

/// FT.SEARCH's query string: `words[0]` is the query, the rest `PARAMS` name/value pairs (an
/// odd one out is dropped, as FT.SEARCH refuses it before parsing). An accepted query is
/// evaluated against one document, and the text and tags of the input go through the
/// tokenizers that index documents.
pub fn search_query(words: &[&[u8]]) -> bool {
    let Some(&text) = words.first() else {
        return false;
    };
    let def = query_def();
    let params: HashMap<Vec<u8>, Vec<u8>> = words[1..]
        .chunks_exact(2)
        .map(|p| (p[0].to_vec(), p[1].to_vec()))
        .collect();
    let lossy = String::from_utf8_lossy(text);
    let doc = vec![
        schema::FieldValue::Text(query::tokenize(&lossy).into()),
        schema::FieldValue::Text(query::tokenize("the quick brown fox").into()),
        schema::FieldValue::Tag(query::normalize_tags(&lossy, b',', false, false).into()),
        schema::FieldValue::Tag(query::normalize_tags("A|b c", b'|', true, true).into()),
        schema::FieldValue::Numeric(4.5),
        schema::FieldValue::Vector,
        schema::FieldValue::Missing,
    ];
    let Ok(q) = query::parse(text, &params, &def.fields) else {
        return false;
    };
    let ranges = q.filter.vector_ranges();
    for (i, r) in ranges.iter().enumerate() {
        match r {
            query::Expr::VectorRange { clause, field, .. } => {
                assert_eq!(*clause, i, "clauses are numbered in order");
                assert!(matches!(
                    def.fields[*field].kind,
                    schema::FieldKind::Vector(_)
                ));
            }
            other => panic!("not a range: {other:?}"),
        }
    }
    if let Some(knn) = &q.knn {
        match &def.fields[knn.field].kind {
            schema::FieldKind::Vector(v) => assert_eq!(knn.vector.len(), v.dim),
            other => panic!("KNN over a {} field", other.type_name()),
        }
    }
    q.filter.matches(&doc, &|clause| clause % 2 == 0);
    q.filter.matches(&doc[..2], &|_| false);
    true
}

/// FT.AGGREGATE's words after the index name, against [`QUERY_SCHEMA`]. An accepted command
/// runs its pipeline (APPLY / FILTER expressions, GROUPBY reducers, SORTBY, LIMIT) over a few
/// rows made up from its loads, so the expression evaluator and the reducers see what the
/// parser lets through.
pub fn search_aggregate(words: &[&[u8]]) -> bool {
    use crate::search::aggregate::{self, value::Value};
    let Ok(agg) = aggregate::parse(query_def(), words) else {
        return false;
    };
    let width = agg.doc_names.len();
    let rows = (0..6)
        .map(|i| {
            (0..width)
                .map(|slot| match (i + slot) % 4 {
                    0 => None,
                    1 => Some(Value::Num(i as f64 - 2.5)),
                    2 => Some(Value::Str(format!("v{i}"))),
                    _ => Some(Value::Str("12".into())),
                })
                .collect()
        })
        .collect();
    if let Ok(out) = agg.run(rows, agg.doc_names.clone()) {
        assert!(
            out.rows.len() <= 6
                || agg
                    .steps
                    .iter()
                    .any(|s| matches!(s, aggregate::Step::Group(_)))
        );
    }
    true
}

/// A few documents in an index of [`QUERY_SCHEMA`], built once: `doc:0` … `doc:7`, with
/// titles, tags, numbers and 4-dimensional vectors; `body` is missing from the odd ones.
fn request_index() -> &'static IndexData {
    static DATA: OnceLock<IndexData> = OnceLock::new();
    DATA.get_or_init(|| {
        let def = query_def();
        let mut data = IndexData::new(def);
        let titles = [
            "hello world",
            "red fox",
            "the quick brown fox",
            "hello",
            "",
            "a b c",
        ];
        let tags = ["red", "red,blue", "blue sky", "green", "", "RED"];
        for i in 0..8usize {
            let title = titles[i % titles.len()].as_bytes();
            let body = format!("body {i}");
            let tag = tags[i % tags.len()].as_bytes();
            let n = (i as f64 * 1.5).to_string();
            let v: Vec<u8> = (0..4)
                .flat_map(|j| ((i * 3 + j) as f32 / 4.0).to_le_bytes())
                .collect();
            use crate::search::index::FieldInput::{Bytes, Missing};
            let raw = [
                Bytes(title),
                if i % 2 == 0 {
                    Bytes(body.as_bytes())
                } else {
                    Missing
                },
                Bytes(tag),
                Bytes(tag),
                Bytes(n.as_bytes()),
                Bytes(&v),
                Bytes(&v),
            ];
            data.upsert(def, format!("doc:{i}").as_bytes(), &raw)
                .expect("a fuzz document");
        }
        data
    })
}

/// FT.SEARCH's arguments after the index name: `words[0]` is the query, the rest its options
/// (LIMIT, SORTBY, RETURN, PARAMS, FILTER, INKEYS, ...), parsed against [`QUERY_SCHEMA`] as
/// the command does. An accepted request is planned and executed over a few documents, and
/// what the parser and the engine promise is checked.
pub fn search_request(words: &[&[u8]]) -> bool {
    let def = query_def();
    let Ok(parsed) = request::parse(def, words, false) else {
        return false;
    };
    let (req, p) = (&parsed.request, &parsed.presentation);
    assert_eq!(p.count_only, req.count == 0);
    if p.fields.as_ref().is_some_and(Vec::is_empty) {
        assert!(p.nocontent, "RETURN 0 shows no fields");
    }
    assert_eq!(p.identifiers.len(), def.fields.len());
    if let Some(knn) = &req.query.knn {
        assert!(matches!(
            def.fields[knn.field].kind,
            schema::FieldKind::Vector(_)
        ));
    }
    let data = request_index();
    let plan = data.plan(def, req).expect("a parsed request plans");
    assert_eq!(plan.estimated_work, data.estimated_work(def, req));
    let outcome = data.execute(req, plan);
    assert!(outcome.hits.len() <= req.count);
    assert!(outcome.hits.len() <= outcome.total.saturating_sub(req.offset));
    assert!(outcome.total <= data.num_docs());
    if let Some(keys) = &req.in_keys {
        assert!(outcome.hits.iter().all(|h| keys.contains(&h.key)));
    }
    true
}

/// FT.CREATE's arguments: `words[0]` is the index name. A definition must survive the round
/// trip through its own `args`, which is how it is persisted.
pub fn search_schema(words: &[&[u8]]) -> bool {
    let Some((&name, args)) = words.split_first() else {
        return false;
    };
    let Ok(def) = schema::parse_create(name, args) else {
        return false;
    };
    let again: Vec<&[u8]> = def.args.iter().map(Vec::as_slice).collect();
    let reparsed = schema::parse_create(name, &again).expect("a definition's own args parse");
    // Debug rather than ==, so that a NaN SCORE or EPSILON still equals itself.
    assert_eq!(format!("{reparsed:?}"), format!("{def:?}"));
    true
}

/// A cluster bus message from another node: the first byte is its type, the rest the payload.
/// A message that decodes must encode to bytes that decode to the same encoding (the format
/// has one spelling per message), and decoding never panics nor allocates much beyond the
/// input's size. Returns whether it decoded.
pub fn cluster_wire(data: &[u8]) -> bool {
    use crate::cluster::wire::Message;
    let Some((&kind, payload)) = data.split_first() else {
        return false;
    };
    let Ok(m) = Message::decode(kind, payload) else {
        return false;
    };
    assert_eq!(m.kind(), kind);
    let once = m.encode();
    let again = Message::decode(kind, &once).expect("an encoded message decodes");
    assert_eq!(again.encode(), once, "one spelling per message");
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// Every seed of `make fuzz` runs through its target without a panic, and is accepted:
    /// a seed the parser refuses explores little.
    #[test]
    fn the_fuzz_seeds_are_valid_commands() {
        type Target = fn(&[&[u8]]) -> bool;
        let targets: [(&str, Target); 8] = [
            ("tensor", tensor),
            ("dag", dag),
            ("model_args", model),
            ("script_args", script),
            ("search_query", search_query),
            ("search_schema", search_schema),
            ("search_request", search_request),
            ("search_aggregate", search_aggregate),
        ];
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
        for (name, run) in targets {
            let dir = root.join(name);
            let mut seen = 0;
            for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{dir:?}: {e}")) {
                let path = entry.unwrap().path();
                let data = std::fs::read(&path).unwrap();
                assert!(run(&split_words(&data)), "{} is refused", path.display());
                seen += 1;
            }
            assert!(seen > 0, "no seeds in {dir:?}");
        }
        // The cluster messages are bytes, not words.
        let dir = root.join("cluster_wire");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{dir:?}: {e}")) {
            let path = entry.unwrap().path();
            assert!(
                cluster_wire(&std::fs::read(&path).unwrap()),
                "{}",
                path.display()
            );
            seen += 1;
        }
        assert!(seen > 0, "no seeds in {dir:?}");
    }

    /// A poor man's fuzzer for the cluster decoder, so `cargo test` covers it without nightly:
    /// each seed with random bytes changed, inserted, removed or cut short.
    #[test]
    fn mutated_cluster_messages_do_not_panic() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/cluster_wire");
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for entry in std::fs::read_dir(&dir).unwrap() {
            let seed = std::fs::read(entry.unwrap().path()).unwrap();
            for _ in 0..20_000 {
                let mut data = seed.clone();
                for _ in 0..1 + next() % 4 {
                    let at = (next() as usize) % (data.len() + 1);
                    match next() % 4 {
                        0 if at < data.len() => data[at] = next() as u8,
                        1 => data.insert(at, next() as u8),
                        2 if at < data.len() => {
                            data.remove(at);
                        }
                        _ => data.truncate(at),
                    }
                }
                cluster_wire(&data);
            }
        }
    }

    #[test]
    fn mutated_words_do_not_panic() {
        for line in [
            "",
            "AI.DAGEXECUTE",
            "x\n|>\n|>",
            "AI.DAGRUN\nLOAD\n1\nt\n|>\nAI.MODELRUN\nm11\nINPUTS\nt\nOUTPUTS\no\n|>\nAI.TENSORGET\no",
            "AI.TENSORSET\nt\nSTRING\n2\nBLOB\na\0b\0",
            "AI.SCRIPTEXECUTE\ns\nf\nKEYS\n1",
            "@v:[VECTOR_RANGE 1 $b]\nb\n0123456789abcdef",
            "idx\nSCHEMA\nv\nVECTOR\nFLAT\n6\nTYPE\nFLOAT32\nDIM\n2\nDISTANCE_METRIC\nIP",
            "*\nRETURN\n3\na\nAS",
            "*\nLIMIT\n18446744073709551615\n18446744073709551615\nSORTBY\nn",
            "*=>[KNN 99999999 @v $b EF_RUNTIME 99999999]\nPARAMS\n2\nb\n0123456789abcdef",
            "*\nINKEYS\n0\nFILTER\nn\n-inf\n+inf",
        ] {
            let words = split_words(line.as_bytes());
            tensor(&words);
            dag(&words);
            model(&words);
            script(&words);
            search_query(&words);
            search_schema(&words);
            search_request(&words);
            search_aggregate(&words);
            cluster_wire(line.as_bytes());
        }
    }
}
