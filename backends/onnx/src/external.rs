//! Refuses ONNX models whose tensors live in external files, before ONNX Runtime sees them.
//!
//! A TensorProto may say `data_location: EXTERNAL` and name a file in `external_data`; ONNX
//! Runtime then opens that file, relative to the model's directory, or to the server's working
//! directory for a model given as bytes. A client-sent blob must never make the server read a
//! file, and RedisAI's ONNX Runtime was built without external data, so such a model is refused
//! with the text that build gave (`Initializer tensors with external data is not allowed.`).
//!
//! The walk reads the protobuf wire format by hand over the few messages that can hold a
//! TensorProto (ModelProto → GraphProto, FunctionProto, TrainingInfoProto → NodeProto →
//! AttributeProto, SparseTensorProto), skipping every other field. A crate with generated
//! ONNX types would parse (and allocate) the whole model to read a handful of fields.
//!
//! Blobs this walk cannot read are left to ONNX Runtime, which refuses them with its own
//! text: the walk accepts everything protobuf's parser accepts (unknown fields, groups), so a
//! blob it gives up on is one that protobuf cannot parse either. Nesting is bounded: deeper
//! than protobuf's own default recursion limit (100), which ONNX Runtime keeps, is refused.

/// The text RedisAI's ONNX Runtime build answered for such a model.
pub const EXTERNAL_DATA: &str = "Initializer tensors with external data is not allowed.";

/// Deeper than protobuf's default recursion limit: ONNX Runtime could not parse it either.
const MAX_DEPTH: usize = 100;

#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing external found (or nothing readable: ONNX Runtime says what is wrong).
    Clean,
    /// A tensor names external data.
    External,
    /// Nested deeper than [`MAX_DEPTH`].
    TooDeep,
}

/// The messages that can contain a TensorProto, and the fields that lead to one.
#[derive(Clone, Copy)]
enum Msg {
    Model,
    Graph,
    Function,
    TrainingInfo,
    Node,
    Attribute,
    Tensor,
    SparseTensor,
}

impl Msg {
    /// The message type of a length-delimited field, when it can lead to a tensor.
    fn child(self, field: u64) -> Option<Msg> {
        use Msg::*;
        match (self, field) {
            // ModelProto: graph = 7, training_info = 20, functions = 25.
            (Model, 7) => Some(Graph),
            (Model, 20) => Some(TrainingInfo),
            (Model, 25) => Some(Function),
            // TrainingInfoProto: initialization = 1, algorithm = 2.
            (TrainingInfo, 1 | 2) => Some(Graph),
            // GraphProto: node = 1, initializer = 5, sparse_initializer = 15.
            (Graph, 1) => Some(Node),
            (Graph, 5) => Some(Tensor),
            (Graph, 15) => Some(SparseTensor),
            // FunctionProto: node = 7, attribute_proto = 11.
            (Function, 7) => Some(Node),
            (Function, 11) => Some(Attribute),
            // NodeProto: attribute = 5.
            (Node, 5) => Some(Attribute),
            // AttributeProto: t = 5, g = 6, tensors = 10, graphs = 11, sparse_tensor = 22,
            // sparse_tensors = 23.
            (Attribute, 5 | 10) => Some(Tensor),
            (Attribute, 6 | 11) => Some(Graph),
            (Attribute, 22 | 23) => Some(SparseTensor),
            // SparseTensorProto: values = 1, indices = 2.
            (SparseTensor, 1 | 2) => Some(Tensor),
            _ => None,
        }
    }
}

/// TensorProto fields: external_data = 13 (repeated StringStringEntryProto), data_location = 14
/// (enum; EXTERNAL = 1).
const EXTERNAL_DATA_FIELD: u64 = 13;
const DATA_LOCATION_FIELD: u64 = 14;
const EXTERNAL: u64 = 1;

/// Whether `blob`, read as an ONNX ModelProto, names external data anywhere.
pub fn scan(blob: &[u8]) -> Verdict {
    match walk(blob, Msg::Model, 0) {
        Ok(v) => v,
        Err(Unreadable) => Verdict::Clean,
    }
}

struct Unreadable;

fn walk(mut buf: &[u8], msg: Msg, depth: usize) -> Result<Verdict, Unreadable> {
    if depth > MAX_DEPTH {
        return Ok(Verdict::TooDeep);
    }
    // Groups (wire types 3 and 4) are only skipped; their nesting is counted separately.
    let mut groups = 0usize;
    while !buf.is_empty() {
        let tag = varint(&mut buf)?;
        let field = tag >> 3;
        if field == 0 {
            return Err(Unreadable);
        }
        match tag & 7 {
            0 => {
                let v = varint(&mut buf)?;
                if groups == 0
                    && matches!(msg, Msg::Tensor)
                    && field == DATA_LOCATION_FIELD
                    && v == EXTERNAL
                {
                    return Ok(Verdict::External);
                }
            }
            1 => buf = buf.get(8..).ok_or(Unreadable)?,
            5 => buf = buf.get(4..).ok_or(Unreadable)?,
            2 => {
                let len = usize::try_from(varint(&mut buf)?).map_err(|_| Unreadable)?;
                let body = buf.get(..len).ok_or(Unreadable)?;
                buf = &buf[len..];
                if groups > 0 {
                    continue;
                }
                if matches!(msg, Msg::Tensor) && field == EXTERNAL_DATA_FIELD {
                    return Ok(Verdict::External);
                }
                if let Some(child) = msg.child(field) {
                    match walk(body, child, depth + 1)? {
                        Verdict::Clean => {}
                        found => return Ok(found),
                    }
                }
            }
            3 => {
                groups += 1;
                if depth + groups > MAX_DEPTH {
                    return Ok(Verdict::TooDeep);
                }
            }
            4 => groups = groups.checked_sub(1).ok_or(Unreadable)?,
            _ => return Err(Unreadable),
        }
    }
    if groups == 0 {
        Ok(Verdict::Clean)
    } else {
        Err(Unreadable)
    }
}

/// A base-128 varint, at most ten bytes, as protobuf reads them.
fn varint(buf: &mut &[u8]) -> Result<u64, Unreadable> {
    let mut v = 0u64;
    for i in 0..10 {
        let (&b, rest) = buf.split_first().ok_or(Unreadable)?;
        *buf = rest;
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(Unreadable)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(field: u64, wire: u64) -> Vec<u8> {
        enc(field << 3 | wire)
    }

    fn enc(mut v: u64) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                return out;
            }
            out.push(b | 0x80);
        }
    }

    fn sub(field: u64, body: &[u8]) -> Vec<u8> {
        let mut out = key(field, 2);
        out.extend(enc(body.len() as u64));
        out.extend_from_slice(body);
        out
    }

    fn num(field: u64, v: u64) -> Vec<u8> {
        let mut out = key(field, 0);
        out.extend(enc(v));
        out
    }

    fn tensor(location: u64) -> Vec<u8> {
        let mut t = num(1, 2); // dims
        t.extend(sub(8, b"w")); // name
        t.extend(sub(9, &[0; 8])); // raw_data
        t.extend(num(DATA_LOCATION_FIELD, location));
        t
    }

    fn model(graph: &[u8]) -> Vec<u8> {
        let mut m = num(1, 8); // ir_version
        m.extend(sub(2, b"producer"));
        m.extend(sub(7, graph));
        m
    }

    #[test]
    fn inline_initializers_pass() {
        let g = sub(5, &tensor(0));
        assert_eq!(scan(&model(&g)), Verdict::Clean);
    }

    #[test]
    fn external_initializer_is_found() {
        assert_eq!(scan(&model(&sub(5, &tensor(1)))), Verdict::External);
        // external_data entries alone are refused too.
        let mut t = tensor(0);
        t.extend(sub(EXTERNAL_DATA_FIELD, &sub(1, b"location")));
        assert_eq!(scan(&model(&sub(5, &t))), Verdict::External);
        let sparse = sub(15, &sub(1, &tensor(1)));
        assert_eq!(scan(&model(&sparse)), Verdict::External);
    }

    #[test]
    fn constants_and_subgraphs_are_searched() {
        // A Constant node's value attribute.
        let node = sub(1, &sub(5, &sub(5, &tensor(1))));
        assert_eq!(scan(&model(&node)), Verdict::External);
        // An If node's then_branch holding the initializer.
        let branch = sub(6, &sub(5, &tensor(1)));
        let node = sub(1, &sub(5, &branch));
        assert_eq!(scan(&model(&node)), Verdict::External);
        // A local function's Constant.
        let func = sub(7, &sub(5, &sub(5, &tensor(1))));
        let mut m = model(&[]);
        m.extend(sub(25, &func));
        assert_eq!(scan(&m), Verdict::External);
        // Fields of the same numbers in messages that hold no tensors are not taken for them.
        let doc = sub(10, &tensor(1)); // GraphProto.doc_string
        assert_eq!(scan(&model(&doc)), Verdict::Clean);
    }

    #[test]
    fn unknown_fields_and_groups_are_skipped() {
        let mut g = key(40, 3);
        g.extend(sub(5, &tensor(1))); // inside a group: not GraphProto.initializer
        g.extend(key(40, 4));
        g.extend(key(41, 1));
        g.extend([0; 8]);
        g.extend(key(42, 5));
        g.extend([0; 4]);
        assert_eq!(scan(&model(&g)), Verdict::Clean);
        g.extend(sub(5, &tensor(1)));
        assert_eq!(scan(&model(&g)), Verdict::External);
    }

    #[test]
    fn unreadable_blobs_are_left_to_the_engine() {
        assert_eq!(scan(b"not a model"), Verdict::Clean);
        assert_eq!(scan(&[0xff; 16]), Verdict::Clean);
        // A length past the end.
        let mut m = key(7, 2);
        m.extend(enc(u64::MAX));
        assert_eq!(scan(&m), Verdict::Clean);
        assert_eq!(scan(&[]), Verdict::Clean);
    }

    #[test]
    fn nesting_is_bounded() {
        // Graph → node → attribute g → graph → ... far past the limit.
        let mut g = sub(5, &tensor(0));
        for _ in 0..200 {
            g = sub(1, &sub(5, &sub(6, &g)));
        }
        assert_eq!(scan(&model(&g)), Verdict::TooDeep);
        let mut groups = Vec::new();
        for _ in 0..200 {
            groups.extend(key(40, 3));
        }
        assert_eq!(scan(&groups), Verdict::TooDeep);
    }
}
