//! The messages redisai nodes send each other over the cluster bus, and their byte format.
//! Pure: no Redis here, so the decoder is unit-tested and fuzzed (`fuzz/`, target `cluster_wire`).
//!
//! Every payload starts with the same nine bytes in every version: a version byte and a
//! little-endian u64 query id (0 for catalog messages). A node that cannot read a message's
//! version can still tell the sender which query failed and why, so a mixed-version cluster
//! answers searches with an error naming the versions instead of timing out.
//!
//! Every message comes from another process and is untrusted: each length is checked against
//! the bytes that are left before anything is allocated, so a payload of n bytes never makes
//! the decoder allocate much more than n; trailing bytes are an error, not ignored.

use std::fmt;

use crate::search::aggregate::distribute::{ShardPart, MAX_SHARD_ROWS};
use crate::search::aggregate::value::Value;

/// The format this build writes and reads.
pub const VERSION: u8 = 2;

/// The cluster bus message types (RedisModule_SendClusterMessage's `type`) this module uses.
pub mod kind {
    /// FT.CREATE / FT.DROPINDEX / FT.ALIAS* applied on one master, for the others.
    pub const DDL: u8 = 1;
    /// A master's catalog generation and digest, sent every second.
    pub const DIGEST: u8 = 2;
    /// "Send me your whole catalog."
    pub const CATALOG_REQUEST: u8 = 3;
    pub const CATALOG: u8 = 4;
    /// A shard-local search (or document count) for a coordinator.
    pub const SEARCH: u8 = 5;
    /// A shard's answer to [`SEARCH`].
    pub const RESULT: u8 = 6;
    /// A shard's part of an FT.AGGREGATE or FT.HYBRID for a coordinator.
    pub const AGGREGATE: u8 = 7;
    /// A shard's answer to [`AGGREGATE`]: rows.
    pub const ROWS: u8 = 8;
}

#[derive(Debug, Clone, PartialEq)]
pub enum WireError {
    Truncated,
    TrailingBytes,
    UnknownKind(u8),
    /// Another version; the query id is given when the payload had one.
    Version {
        got: u8,
        id: Option<u64>,
    },
    BadValue(&'static str),
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Truncated => write!(f, "truncated message"),
            WireError::TrailingBytes => write!(f, "trailing bytes after the message"),
            WireError::UnknownKind(k) => write!(f, "unknown message type {k}"),
            WireError::Version { got, .. } => write!(
                f,
                "cluster message version {got} is not understood (this node speaks {VERSION})"
            ),
            WireError::BadValue(what) => write!(f, "invalid {what}"),
        }
    }
}

/// What a shard is asked to do with an index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Run the FT.SEARCH words and return the hits with their documents.
    Search,
    /// Count the index's documents (FT.INFO `num_docs`).
    CountDocs,
}

/// A coordinator's request to one shard.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchRequest {
    pub id: u64,
    pub mode: Mode,
    /// The ACL user the search runs as on the shard.
    pub user: Vec<u8>,
    pub index: Vec<u8>,
    /// [`crate::cluster::catalog::def_digest`] of the coordinator's definition: a shard whose
    /// definition differs refuses rather than answer another question.
    pub def_digest: u64,
    /// The page the shard returns (the coordinator pages again after merging).
    pub offset: u64,
    pub count: u64,
    /// FT.SEARCH's words after the index name.
    pub words: Vec<Vec<u8>>,
}

/// The value a hit is merged by on the coordinator.
#[derive(Debug, Clone, PartialEq)]
pub enum SortValue {
    Num(f64),
    Str(Vec<u8>),
    Missing,
}

#[derive(Debug, Clone, PartialEq)]
pub struct WireHit {
    pub key: Vec<u8>,
    /// WITHSCORES' score; a KNN's distance.
    pub score: f64,
    pub order: SortValue,
    /// Name and value; `None` is a JSON null (replied as a null).
    pub fields: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    /// WITHPAYLOADS' payload (version 2).
    pub payload: Option<Vec<u8>>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ShardHits {
    pub total: u64,
    pub hits: Vec<WireHit>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SearchResult {
    pub id: u64,
    pub outcome: Result<ShardHits, String>,
}

/// (index name, FT.CREATE words after the name).
pub type Definition = (Vec<u8>, Vec<Vec<u8>>);

#[derive(Debug, Clone, PartialEq)]
pub struct Catalog {
    pub generation: u64,
    pub indexes: Vec<Definition>,
    /// (alias, index name).
    pub aliases: Vec<(Vec<u8>, Vec<u8>)>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// A catalog change: the command words (`FT.CREATE name ...`) and the generation it made.
    Ddl {
        generation: u64,
        words: Vec<Vec<u8>>,
    },
    Digest {
        generation: u64,
        indexes: u64,
        digest: u64,
    },
    CatalogRequest,
    Catalog(Catalog),
    Search(SearchRequest),
    Result(SearchResult),
    Aggregate(AggRequest),
    Rows(AggResult),
}

/// What a shard is asked to run for an [`AggRequest`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggMode {
    /// FT.AGGREGATE's words: its part of the pipeline (`search::aggregate::distribute`).
    Aggregate,
    /// FT.HYBRID's words: both ranked lists and the documents' rows.
    Hybrid,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AggRequest {
    pub id: u64,
    pub mode: AggMode,
    pub user: Vec<u8>,
    pub index: Vec<u8>,
    pub def_digest: u64,
    /// The command's words after the index name.
    pub words: Vec<Vec<u8>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AggResult {
    pub id: u64,
    pub outcome: Result<ShardPart, String>,
}

/// How deep a value may nest (a TOLIST of lists, inside a FIRST_VALUE's partial state, is 3).
const MAX_DEPTH: usize = 8;

fn write_value(w: &mut Writer, v: &Value) {
    match v {
        Value::Null => w.u8(1),
        Value::Num(n) => {
            w.u8(2);
            w.u64(n.to_bits());
        }
        Value::Str(s) => {
            w.u8(3);
            w.bytes(s.as_bytes());
        }
        Value::Arr(a) => {
            w.u8(4);
            w.u32(a.len() as u32);
            for x in a {
                write_value(w, x);
            }
        }
    }
}

/// A value whose tag was already read.
fn read_value(r: &mut Reader, tag: u8, depth: usize) -> Result<Value, WireError> {
    Ok(match tag {
        1 => Value::Null,
        2 => Value::Num(f64::from_bits(r.u64()?)),
        3 => Value::Str(r.string()?),
        4 => {
            if depth >= MAX_DEPTH {
                return Err(WireError::BadValue("value nesting"));
            }
            let n = r.count(1)?;
            let mut out = Vec::with_capacity(n);
            for _ in 0..n {
                let t = r.u8()?;
                out.push(read_value(r, t, depth + 1)?);
            }
            Value::Arr(out)
        }
        _ => return Err(WireError::BadValue("value tag")),
    })
}

fn write_ranked(w: &mut Writer, list: &[(Vec<u8>, f64)]) {
    w.u32(list.len() as u32);
    for (k, s) in list {
        w.bytes(k);
        w.u64(s.to_bits());
    }
}

fn read_ranked(r: &mut Reader) -> Result<Vec<(Vec<u8>, f64)>, WireError> {
    let n = r.count(12)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push((r.bytes()?, f64::from_bits(r.u64()?)));
    }
    Ok(out)
}

fn write_part(w: &mut Writer, p: &ShardPart) {
    w.u64(p.read);
    w.u32(p.names.len() as u32);
    for n in &p.names {
        w.bytes(n.as_bytes());
    }
    w.u32(p.rows.len() as u32);
    for row in &p.rows {
        w.u32(row.len() as u32);
        for v in row {
            match v {
                None => w.u8(0),
                Some(v) => write_value(w, v),
            }
        }
    }
    w.list(&p.keys);
    write_ranked(w, &p.text);
    write_ranked(w, &p.vector);
}

fn read_part(r: &mut Reader) -> Result<ShardPart, WireError> {
    let read = r.u64()?;
    let n = r.count(4)?;
    let mut names = Vec::with_capacity(n);
    for _ in 0..n {
        names.push(r.string()?);
    }
    let n = r.count(4)?;
    if n > MAX_SHARD_ROWS {
        return Err(WireError::BadValue("row count"));
    }
    let mut rows = Vec::with_capacity(n);
    for _ in 0..n {
        let width = r.count(1)?;
        let mut row = Vec::with_capacity(width);
        for _ in 0..width {
            row.push(match r.u8()? {
                0 => None,
                t => Some(read_value(r, t, 0)?),
            });
        }
        rows.push(row);
    }
    let keys = r.list()?;
    if !keys.is_empty() && keys.len() != rows.len() {
        return Err(WireError::BadValue("row keys"));
    }
    Ok(ShardPart {
        read,
        names,
        rows,
        keys,
        text: read_ranked(r)?,
        vector: read_ranked(r)?,
    })
}

impl Message {
    /// The cluster bus type it travels as.
    pub fn kind(&self) -> u8 {
        match self {
            Message::Ddl { .. } => kind::DDL,
            Message::Digest { .. } => kind::DIGEST,
            Message::CatalogRequest => kind::CATALOG_REQUEST,
            Message::Catalog(_) => kind::CATALOG,
            Message::Search(_) => kind::SEARCH,
            Message::Result(_) => kind::RESULT,
            Message::Aggregate(_) => kind::AGGREGATE,
            Message::Rows(_) => kind::ROWS,
        }
    }

    fn id(&self) -> u64 {
        match self {
            Message::Search(s) => s.id,
            Message::Result(r) => r.id,
            Message::Aggregate(a) => a.id,
            Message::Rows(r) => r.id,
            _ => 0,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer(Vec::with_capacity(64));
        w.u8(VERSION);
        w.u64(self.id());
        match self {
            Message::Ddl { generation, words } => {
                w.u64(*generation);
                w.list(words);
            }
            Message::Digest {
                generation,
                indexes,
                digest,
            } => {
                w.u64(*generation);
                w.u64(*indexes);
                w.u64(*digest);
            }
            Message::CatalogRequest => {}
            Message::Catalog(c) => {
                w.u64(c.generation);
                w.u32(c.indexes.len() as u32);
                for (name, args) in &c.indexes {
                    w.bytes(name);
                    w.list(args);
                }
                w.u32(c.aliases.len() as u32);
                for (a, i) in &c.aliases {
                    w.bytes(a);
                    w.bytes(i);
                }
            }
            Message::Search(s) => {
                w.u8(match s.mode {
                    Mode::Search => 0,
                    Mode::CountDocs => 1,
                });
                w.bytes(&s.user);
                w.bytes(&s.index);
                w.u64(s.def_digest);
                w.u64(s.offset);
                w.u64(s.count);
                w.list(&s.words);
            }
            Message::Result(r) => match &r.outcome {
                Err(e) => {
                    w.u8(0);
                    w.bytes(e.as_bytes());
                }
                Ok(h) => {
                    w.u8(1);
                    w.u64(h.total);
                    w.u32(h.hits.len() as u32);
                    for hit in &h.hits {
                        w.bytes(&hit.key);
                        w.u64(hit.score.to_bits());
                        match &hit.order {
                            SortValue::Missing => w.u8(0),
                            SortValue::Num(n) => {
                                w.u8(1);
                                w.u64(n.to_bits());
                            }
                            SortValue::Str(s) => {
                                w.u8(2);
                                w.bytes(s);
                            }
                        }
                        w.u32(hit.fields.len() as u32);
                        for (k, v) in &hit.fields {
                            w.bytes(k);
                            match v {
                                Some(v) => {
                                    w.u8(1);
                                    w.bytes(v);
                                }
                                None => w.u8(0),
                            }
                        }
                        match &hit.payload {
                            Some(p) => {
                                w.u8(1);
                                w.bytes(p);
                            }
                            None => w.u8(0),
                        }
                    }
                }
            },
            Message::Aggregate(a) => {
                w.u8(match a.mode {
                    AggMode::Aggregate => 0,
                    AggMode::Hybrid => 1,
                });
                w.bytes(&a.user);
                w.bytes(&a.index);
                w.u64(a.def_digest);
                w.list(&a.words);
            }
            Message::Rows(r) => match &r.outcome {
                Err(e) => {
                    w.u8(0);
                    w.bytes(e.as_bytes());
                }
                Ok(p) => {
                    w.u8(1);
                    write_part(&mut w, p);
                }
            },
        }
        w.0
    }

    /// Reads a message of cluster bus type `kind`.
    pub fn decode(kind: u8, payload: &[u8]) -> Result<Message, WireError> {
        let mut r = Reader(payload);
        let version = r.u8()?;
        if version != VERSION {
            let id = payload
                .get(1..9)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_le_bytes);
            return Err(WireError::Version { got: version, id });
        }
        let id = r.u64()?;
        let m = match kind {
            kind::DDL => Message::Ddl {
                generation: r.u64()?,
                words: r.list()?,
            },
            kind::DIGEST => Message::Digest {
                generation: r.u64()?,
                indexes: r.u64()?,
                digest: r.u64()?,
            },
            kind::CATALOG_REQUEST => Message::CatalogRequest,
            kind::CATALOG => {
                let generation = r.u64()?;
                // Each index takes at least 8 bytes (two lengths), each alias 8.
                let n = r.count(8)?;
                let mut indexes = Vec::with_capacity(n);
                for _ in 0..n {
                    indexes.push((r.bytes()?, r.list()?));
                }
                let n = r.count(8)?;
                let mut aliases = Vec::with_capacity(n);
                for _ in 0..n {
                    aliases.push((r.bytes()?, r.bytes()?));
                }
                Message::Catalog(Catalog {
                    generation,
                    indexes,
                    aliases,
                })
            }
            kind::SEARCH => Message::Search(SearchRequest {
                id,
                mode: match r.u8()? {
                    0 => Mode::Search,
                    1 => Mode::CountDocs,
                    _ => return Err(WireError::BadValue("search mode")),
                },
                user: r.bytes()?,
                index: r.bytes()?,
                def_digest: r.u64()?,
                offset: r.u64()?,
                count: r.u64()?,
                words: r.list()?,
            }),
            kind::RESULT => {
                let outcome = match r.u8()? {
                    0 => Err(String::from_utf8_lossy(&r.bytes()?).into_owned()),
                    1 => {
                        let total = r.u64()?;
                        // key length, score, order tag, field count, payload tag: at least
                        // 18 bytes.
                        let n = r.count(18)?;
                        let mut hits = Vec::with_capacity(n);
                        for _ in 0..n {
                            let key = r.bytes()?;
                            let score = f64::from_bits(r.u64()?);
                            let order = match r.u8()? {
                                0 => SortValue::Missing,
                                1 => SortValue::Num(f64::from_bits(r.u64()?)),
                                2 => SortValue::Str(r.bytes()?),
                                _ => return Err(WireError::BadValue("sort value")),
                            };
                            let nf = r.count(5)?;
                            let mut fields = Vec::with_capacity(nf);
                            for _ in 0..nf {
                                let name = r.bytes()?;
                                let value = match r.u8()? {
                                    0 => None,
                                    1 => Some(r.bytes()?),
                                    _ => return Err(WireError::BadValue("field value")),
                                };
                                fields.push((name, value));
                            }
                            let payload = match r.u8()? {
                                0 => None,
                                1 => Some(r.bytes()?),
                                _ => return Err(WireError::BadValue("payload")),
                            };
                            hits.push(WireHit {
                                key,
                                score,
                                order,
                                fields,
                                payload,
                            });
                        }
                        Ok(ShardHits { total, hits })
                    }
                    _ => return Err(WireError::BadValue("result tag")),
                };
                Message::Result(SearchResult { id, outcome })
            }
            kind::AGGREGATE => Message::Aggregate(AggRequest {
                id,
                mode: match r.u8()? {
                    0 => AggMode::Aggregate,
                    1 => AggMode::Hybrid,
                    _ => return Err(WireError::BadValue("aggregate mode")),
                },
                user: r.bytes()?,
                index: r.bytes()?,
                def_digest: r.u64()?,
                words: r.list()?,
            }),
            kind::ROWS => {
                let outcome = match r.u8()? {
                    0 => Err(String::from_utf8_lossy(&r.bytes()?).into_owned()),
                    1 => Ok(read_part(&mut r)?),
                    _ => return Err(WireError::BadValue("result tag")),
                };
                Message::Rows(AggResult { id, outcome })
            }
            other => return Err(WireError::UnknownKind(other)),
        };
        if !r.0.is_empty() {
            return Err(WireError::TrailingBytes);
        }
        Ok(m)
    }
}

struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn bytes(&mut self, b: &[u8]) {
        // Cluster bus payloads are u32-sized, so no single field can be longer.
        self.u32(b.len() as u32);
        self.0.extend_from_slice(b);
    }
    fn list(&mut self, items: &[Vec<u8>]) {
        self.u32(items.len() as u32);
        for i in items {
            self.bytes(i);
        }
    }
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], WireError> {
        if n > self.0.len() {
            return Err(WireError::Truncated);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, WireError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Result<u64, WireError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
    fn bytes(&mut self) -> Result<Vec<u8>, WireError> {
        let n = self.u32()? as usize;
        Ok(self.take(n)?.to_vec())
    }
    /// A count of items each at least `min_size` bytes long: one that could not fit in what
    /// is left is refused before anything is allocated for it.
    fn count(&mut self, min_size: usize) -> Result<usize, WireError> {
        let n = self.u32()? as usize;
        if n.saturating_mul(min_size) > self.0.len() {
            return Err(WireError::Truncated);
        }
        Ok(n)
    }
    /// Text: names and string values are UTF-8 wherever a node made them.
    fn string(&mut self) -> Result<String, WireError> {
        String::from_utf8(self.bytes()?).map_err(|_| WireError::BadValue("text"))
    }
    fn list(&mut self) -> Result<Vec<Vec<u8>>, WireError> {
        let n = self.count(4)?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(self.bytes()?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> Vec<Message> {
        vec![
            Message::Ddl {
                generation: 7,
                words: vec![b"FT.CREATE".to_vec(), b"idx".to_vec(), b"".to_vec()],
            },
            Message::Digest {
                generation: 1,
                indexes: 2,
                digest: u64::MAX,
            },
            Message::CatalogRequest,
            Message::Catalog(Catalog {
                generation: 3,
                indexes: vec![(b"i".to_vec(), vec![b"SCHEMA".to_vec(), b"t".to_vec()])],
                aliases: vec![(b"a".to_vec(), b"i".to_vec())],
            }),
            Message::Search(SearchRequest {
                id: 42,
                mode: Mode::Search,
                user: b"default".to_vec(),
                index: b"idx".to_vec(),
                def_digest: 9,
                offset: 0,
                count: 10,
                words: vec![b"*".to_vec(), b"LIMIT".to_vec()],
            }),
            Message::Result(SearchResult {
                id: 42,
                outcome: Err("boom".into()),
            }),
            Message::Result(SearchResult {
                id: 43,
                outcome: Ok(ShardHits {
                    total: 5,
                    hits: vec![
                        WireHit {
                            key: b"doc:1".to_vec(),
                            score: 0.25,
                            order: SortValue::Num(-1.5),
                            fields: vec![
                                (b"f".to_vec(), Some(vec![0, 255])),
                                (b"n".to_vec(), None),
                            ],
                            payload: Some(b"p".to_vec()),
                        },
                        WireHit {
                            key: Vec::new(),
                            score: f64::INFINITY,
                            order: SortValue::Str(b"abc".to_vec()),
                            fields: Vec::new(),
                            payload: None,
                        },
                        WireHit {
                            key: b"k".to_vec(),
                            score: 1.0,
                            order: SortValue::Missing,
                            fields: Vec::new(),
                            payload: None,
                        },
                    ],
                }),
            }),
        ]
    }

    fn agg_samples() -> Vec<Message> {
        vec![
            Message::Aggregate(AggRequest {
                id: 7,
                mode: AggMode::Hybrid,
                user: b"alice".to_vec(),
                index: b"idx".to_vec(),
                def_digest: 3,
                words: vec![b"*".to_vec(), b"GROUPBY".to_vec()],
            }),
            Message::Rows(AggResult {
                id: 7,
                outcome: Err("late".into()),
            }),
            Message::Rows(AggResult {
                id: 8,
                outcome: Ok(ShardPart {
                    read: 12,
                    names: vec!["a".into(), "é".into()],
                    rows: vec![
                        vec![
                            Some(Value::Num(-0.5)),
                            None,
                            Some(Value::Str("x".into())),
                            Some(Value::Null),
                            Some(Value::Arr(vec![
                                Value::Num(1.0),
                                Value::Arr(vec![Value::Str(String::new())]),
                            ])),
                        ],
                        Vec::new(),
                    ],
                    keys: vec![b"k1".to_vec(), b"k2".to_vec()],
                    text: vec![(b"k1".to_vec(), 2.5)],
                    vector: vec![(b"k2".to_vec(), 0.0), (b"k1".to_vec(), 1.0)],
                }),
            }),
        ]
    }

    #[test]
    fn aggregate_messages_round_trip_and_refuse_every_cut() {
        for m in agg_samples() {
            let bytes = m.encode();
            assert_eq!(Message::decode(m.kind(), &bytes), Ok(m.clone()), "{m:?}");
            for cut in 0..bytes.len() {
                assert!(Message::decode(m.kind(), &bytes[..cut]).is_err(), "{cut}");
            }
        }
    }

    #[test]
    fn hostile_rows_are_refused() {
        let head = |tag: u8| {
            let mut b = vec![VERSION];
            b.extend(1u64.to_le_bytes());
            b.push(tag);
            b
        };
        // An array nested deeper than any state needs.
        let mut b = head(1);
        b.extend(0u64.to_le_bytes()); // read
        b.extend(0u32.to_le_bytes()); // names
        b.extend(1u32.to_le_bytes()); // one row
        b.extend(1u32.to_le_bytes()); // of one slot
        for _ in 0..MAX_DEPTH + 1 {
            b.push(4);
            b.extend(1u32.to_le_bytes());
        }
        b.push(1);
        b.extend(0u32.to_le_bytes()); // keys
        b.extend([0u8; 8]); // two empty ranked lists
        assert_eq!(
            Message::decode(kind::ROWS, &b),
            Err(WireError::BadValue("value nesting"))
        );
        // Four billion rows in a few bytes.
        let mut b = head(1);
        b.extend(0u64.to_le_bytes());
        b.extend(0u32.to_le_bytes());
        b.extend(u32::MAX.to_le_bytes());
        assert_eq!(Message::decode(kind::ROWS, &b), Err(WireError::Truncated));
        // A name that is not UTF-8, an unknown value tag, keys that do not match the rows.
        let mut b = head(1);
        b.extend(0u64.to_le_bytes());
        b.extend(1u32.to_le_bytes());
        b.extend(1u32.to_le_bytes());
        b.push(0xff);
        assert_eq!(
            Message::decode(kind::ROWS, &b),
            Err(WireError::BadValue("text"))
        );
        let mut b = head(1);
        b.extend(0u64.to_le_bytes());
        b.extend(0u32.to_le_bytes());
        b.extend(1u32.to_le_bytes());
        b.extend(1u32.to_le_bytes());
        b.push(9);
        assert_eq!(
            Message::decode(kind::ROWS, &b),
            Err(WireError::BadValue("value tag"))
        );
        let mut m = agg_samples().pop().unwrap();
        if let Message::Rows(AggResult { outcome: Ok(p), .. }) = &mut m {
            p.keys.pop();
        }
        assert_eq!(
            Message::decode(kind::ROWS, &m.encode()),
            Err(WireError::BadValue("row keys"))
        );
    }

    #[test]
    fn every_message_round_trips() {
        for m in samples() {
            let bytes = m.encode();
            assert_eq!(Message::decode(m.kind(), &bytes), Ok(m.clone()), "{m:?}");
        }
    }

    #[test]
    fn every_truncation_and_extension_is_refused() {
        for m in samples() {
            let bytes = m.encode();
            for cut in 0..bytes.len() {
                assert!(
                    Message::decode(m.kind(), &bytes[..cut]).is_err(),
                    "{m:?} {cut}"
                );
            }
            let mut longer = bytes.clone();
            longer.push(0);
            assert_eq!(
                Message::decode(m.kind(), &longer),
                Err(WireError::TrailingBytes)
            );
        }
    }

    #[test]
    fn another_version_is_named_with_its_query_id() {
        let mut bytes = samples()[4].encode();
        bytes[0] = 1;
        assert_eq!(
            Message::decode(kind::SEARCH, &bytes),
            Err(WireError::Version {
                got: 1,
                id: Some(42)
            })
        );
        assert_eq!(
            WireError::Version { got: 1, id: None }.to_string(),
            "cluster message version 1 is not understood (this node speaks 2)"
        );
        assert_eq!(
            Message::decode(kind::SEARCH, &[9]),
            Err(WireError::Version { got: 9, id: None })
        );
        assert_eq!(
            Message::decode(99, &[VERSION, 0, 0, 0, 0, 0, 0, 0, 0]),
            Err(WireError::UnknownKind(99))
        );
    }

    #[test]
    fn huge_counts_fail_before_allocating() {
        // A result claiming 4 billion hits in a few bytes.
        let mut bytes = vec![VERSION];
        bytes.extend(1u64.to_le_bytes());
        bytes.push(1);
        bytes.extend(0u64.to_le_bytes());
        bytes.extend(u32::MAX.to_le_bytes());
        assert_eq!(
            Message::decode(kind::RESULT, &bytes),
            Err(WireError::Truncated)
        );
        // A word claiming 4 GiB.
        let mut bytes = vec![VERSION];
        bytes.extend(0u64.to_le_bytes());
        bytes.extend(0u64.to_le_bytes());
        bytes.extend(1u32.to_le_bytes());
        bytes.extend(u32::MAX.to_le_bytes());
        assert_eq!(
            Message::decode(kind::DDL, &bytes),
            Err(WireError::Truncated)
        );
    }
}
