//! DAGs: several tensor and model ops in one command, with tensors local to the command.
//!
//! `parse` (this file) is pure: it turns the words of AI.DAGEXECUTE / AI.DAGRUN (and their
//! `_RO` forms) into a [`Plan`], validating everything RedisAI validates, in RedisAI's order
//! (spec §4.15, §4.16), before anything is queued. Keyspace reads go through [`Keyspace`],
//! so the planner is tested without a server. `run` executes a plan's model ops on the
//! device queues.
//!
//! Tensor names are renamed to slots as they are parsed (each op's outputs get fresh slots),
//! so an op sees the latest version of a name before it, an AI.TENSORGET sees the value at
//! its position, and PERSIST stores the last version. AI.TENSORSET ops are materialised while
//! parsing; AI.TENSORGET ops are answered from the final slots when replying.
//!
//! AI.MODELEXECUTE and AI.MODELRUN are single-op plans ([`Plan::single`]) on the same engine.

pub mod run;
#[cfg(test)]
mod tests;
pub mod text;

use std::collections::HashMap;
use std::sync::Arc;

use crate::args::{parse_i64, tail, window, Words};
use crate::backend::ScriptServices;
use crate::error::{AiError, AiResult};
use crate::model::args::{parse_modelexecute, parse_modelrun};
use crate::script::args::{parse_scriptexecute, parse_scriptrun};
use crate::script::{Script, ScriptCall};
use crate::tensor::args::{parse_tensorget_format, parse_tensorset, GetFormat, Input};
use crate::tensor::{Limits, Tensor};

/// Index of a tensor version inside one plan.
pub type Slot = usize;

/// What the planner needs to know of a model.
pub trait Runnable {
    fn input_count(&self) -> usize;
    fn output_count(&self) -> usize;
}

/// The keyspace as the planner sees it. `word` is the position of the key in the parsed
/// words, for callers that open keys by their argument.
pub trait Keyspace<M> {
    /// A tensor to LOAD: `ERR tensor key is empty ...` or WRONGTYPE.
    fn tensor(&mut self, word: usize) -> AiResult<Arc<Tensor>>;
    /// A model to run: `ERR model key is empty` or WRONGTYPE.
    fn model(&mut self, word: usize) -> AiResult<Arc<M>>;
    /// A script to run: `ERR script key is empty` or WRONGTYPE.
    fn script(&mut self, word: usize) -> AiResult<Arc<Script>>;
    /// The server as a script run by this command sees it, limited to `keys`.
    fn script_env(&mut self, keys: Vec<Vec<u8>>) -> Arc<dyn ScriptServices + Send + Sync>;
    /// A key PERSIST will write: WRONGTYPE unless it is empty or holds a tensor.
    fn writable(&mut self, word: usize) -> AiResult<()>;
    /// A key AI.HSET will write: WRONGTYPE unless it is empty or holds a hash.
    fn writable_hash(&mut self, _word: usize) -> AiResult<()> {
        Ok(())
    }
}

/// Which command is being parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Execute,
    ExecuteRo,
    /// The deprecated AI.DAGRUN.
    Run,
    RunRo,
}

impl Flavor {
    pub fn name(self) -> &'static str {
        match self {
            Flavor::Execute => "AI.DAGEXECUTE",
            Flavor::ExecuteRo => "AI.DAGEXECUTE_RO",
            Flavor::Run => "AI.DAGRUN",
            Flavor::RunRo => "AI.DAGRUN_RO",
        }
    }
    pub fn read_only(self) -> bool {
        matches!(self, Flavor::ExecuteRo | Flavor::RunRo)
    }
    fn deprecated(self) -> bool {
        matches!(self, Flavor::Run | Flavor::RunRo)
    }
}

/// How the client is answered: a run command's single `OK`, or one entry per op.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Single,
    Dag,
}

/// What a run op runs.
pub enum Target<M> {
    Model(Arc<M>),
    Script(Arc<ScriptCall>),
    /// An op of the module's own (AI.POOL).
    Builtin(Arc<text::Builtin>),
}

impl<M> Clone for Target<M> {
    fn clone(&self) -> Self {
        match self {
            Target::Model(m) => Target::Model(m.clone()),
            Target::Script(s) => Target::Script(s.clone()),
            Target::Builtin(b) => Target::Builtin(b.clone()),
        }
    }
}

/// A model or script op: what it runs, which slots it reads and writes.
pub struct RunOp<M> {
    pub target: Target<M>,
    pub inputs: Vec<Slot>,
    pub outputs: Vec<Slot>,
}

/// One op of the plan, as the reply sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    /// AI.TENSORSET: done while parsing, always `OK`.
    Set,
    /// AI.TENSORGET of `slot`.
    Get { slot: Slot, format: GetFormat },
    /// A model op: `OK`, its error, or `NA` if it never ran.
    Run,
    /// AI.HSET: `OK` when the whole DAG succeeded (the hash is written then), else `NA`.
    Hset,
    /// AI.FTSEARCH number `index` of `Outline::searches`: FT.SEARCH's reply, or `NA`.
    Search { index: usize },
}

/// An FT.SEARCH that AI.FTSEARCH runs when every op succeeded, `param` bound to a vector.
#[derive(Debug, Clone)]
pub struct SearchCall {
    pub index: Vec<u8>,
    pub query: Vec<u8>,
    pub rest: Vec<Vec<u8>>,
    pub param: Vec<u8>,
    pub slot: Slot,
}

/// A hash AI.HSET writes when every op succeeded.
#[derive(Debug, Clone)]
pub struct HashWrite {
    pub key: Vec<u8>,
    pub field: Vec<u8>,
    pub slot: Slot,
    /// The other fields, as given.
    pub fields: Vec<(Vec<u8>, Vec<u8>)>,
}

/// What the reply needs: the op kinds, and the keys to write when every op succeeded.
#[derive(Debug, Clone)]
pub struct Outline {
    pub style: Style,
    pub ops: Vec<OpKind>,
    /// `(key, slot)`: PERSIST keys, or a run command's output keys.
    pub persist: Vec<(Vec<u8>, Slot)>,
    /// AI.HSET ops, in order.
    pub hashes: Vec<HashWrite>,
    /// AI.FTSEARCH ops, in order.
    pub searches: Vec<SearchCall>,
}

/// What runs: the slots (filled for LOADed and AI.TENSORSET tensors) and the model ops.
pub struct Graph<M> {
    pub slots: Vec<Option<Arc<Tensor>>>,
    /// Indexed like `Outline::ops`; `None` for tensor ops.
    pub runs: Vec<Option<RunOp<M>>>,
    /// The op that writes each slot (`None`: filled before the run).
    pub producer: Vec<Option<usize>>,
    pub timeout_ms: Option<u64>,
}

pub struct Plan<M> {
    pub graph: Graph<M>,
    pub outline: Outline,
}

impl<M> Plan<M> {
    /// AI.MODELEXECUTE / AI.MODELRUN / AI.SCRIPTEXECUTE / AI.SCRIPTRUN: one op on tensors
    /// already read from the keyspace, writing `outputs` (key names, in output order).
    pub fn single(
        target: Target<M>,
        inputs: Vec<Arc<Tensor>>,
        outputs: Vec<Vec<u8>>,
        timeout_ms: Option<u64>,
    ) -> Plan<M> {
        let n_in = inputs.len();
        let n_out = outputs.len();
        let mut slots: Vec<Option<Arc<Tensor>>> = inputs.into_iter().map(Some).collect();
        slots.resize_with(n_in + n_out, || None);
        let mut producer = vec![None; n_in];
        producer.resize(n_in + n_out, Some(0));
        Plan {
            graph: Graph {
                slots,
                runs: vec![Some(RunOp {
                    target,
                    inputs: (0..n_in).collect(),
                    outputs: (n_in..n_in + n_out).collect(),
                })],
                producer,
                timeout_ms,
            },
            outline: Outline {
                style: Style::Single,
                ops: vec![OpKind::Run],
                persist: outputs.into_iter().zip(n_in..).collect(),
                hashes: Vec::new(),
                searches: Vec::new(),
            },
        }
    }

    pub fn has_runs(&self) -> bool {
        self.graph.runs.iter().any(Option::is_some)
    }
}

/// The commands a DAG op may be, named once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpName {
    TensorGet,
    TensorSet,
    ModelExecute,
    ScriptExecute,
    ModelRun,
    ScriptRun,
    Pool,
    Hset,
    FtSearch,
}

impl OpName {
    const ALL: [OpName; 9] = [
        OpName::TensorGet,
        OpName::TensorSet,
        OpName::ModelExecute,
        OpName::ScriptExecute,
        OpName::ModelRun,
        OpName::ScriptRun,
        OpName::Pool,
        OpName::Hset,
        OpName::FtSearch,
    ];

    /// The op a word names, in any case.
    pub fn parse(word: &[u8]) -> Option<OpName> {
        OpName::ALL.into_iter().find(|op| is(word, op.name()))
    }

    /// The command's name as RedisAI writes it in errors.
    pub fn name(self) -> &'static str {
        match self {
            OpName::TensorGet => "AI.TENSORGET",
            OpName::TensorSet => "AI.TENSORSET",
            OpName::ModelExecute => "AI.MODELEXECUTE",
            OpName::ScriptExecute => "AI.SCRIPTEXECUTE",
            OpName::ModelRun => "AI.MODELRUN",
            OpName::ScriptRun => "AI.SCRIPTRUN",
            OpName::Pool => "AI.POOL",
            OpName::Hset => "AI.HSET",
            OpName::FtSearch => "AI.FTSEARCH",
        }
    }

    /// Runs a stored model or script, named by the key after the op's name.
    pub fn runs_stored(self) -> bool {
        !matches!(
            self,
            OpName::TensorGet | OpName::TensorSet | OpName::Pool | OpName::Hset | OpName::FtSearch
        )
    }

    /// Allowed only in the deprecated AI.DAGRUN.
    fn deprecated(self) -> bool {
        matches!(self, OpName::ModelRun | OpName::ScriptRun)
    }
}

fn is(word: &[u8], keyword: &str) -> bool {
    word.eq_ignore_ascii_case(keyword.as_bytes())
}

fn lossy(word: &[u8]) -> String {
    String::from_utf8_lossy(word).into_owned()
}

/// An op as first parsed: names are still word positions.
enum Parsed<M> {
    Set {
        name: usize,
        tensor: Tensor,
    },
    Get {
        name: usize,
        format: GetFormat,
    },
    Run {
        target: Target<M>,
        inputs: Vec<usize>,
        outputs: Vec<usize>,
    },
    Hset {
        key: usize,
        field: usize,
        tensor: usize,
        fields: Vec<(usize, usize)>,
    },
    Search {
        index: usize,
        query: usize,
        param: usize,
        tensor: usize,
        rest: std::ops::Range<usize>,
    },
}

/// Parses a whole DAG command (`words[0]` is the command name).
pub fn parse<'a, M, W, K>(
    flavor: Flavor,
    words: &W,
    keyspace: &mut K,
    limits: Limits,
) -> AiResult<Plan<M>>
where
    M: Runnable,
    W: Words<'a> + ?Sized,
    K: Keyspace<M>,
{
    let n = words.count();
    match flavor {
        Flavor::Execute | Flavor::ExecuteRo if n < 6 => {
            return Err(AiError::DagArity(flavor.name()))
        }
        Flavor::Run | Flavor::RunRo if n < 4 => return Err(AiError::RunArity(flavor.name())),
        _ => {}
    }

    // Sections before the first `|>`, each at most once, then the ops' word ranges.
    let mut names: HashMap<&'a [u8], Slot> = HashMap::new();
    let mut slots: Vec<Option<Arc<Tensor>>> = Vec::new();
    let mut persist: Vec<(&'a [u8], usize)> = Vec::new();
    let (mut load, mut keep, mut routing, mut timeout) = (false, false, false, None);
    let mut op_ranges: Vec<(usize, usize)> = Vec::new();
    let mut pos = 1;
    while pos < n {
        let w = words.word(pos);
        if op_ranges.is_empty() {
            if is(w, "LOAD") && !load {
                pos += load_section(words, pos, keyspace, &mut names, &mut slots)?;
                load = true;
                continue;
            }
            if is(w, "PERSIST") && !keep {
                if flavor.read_only() {
                    return Err(AiError::PersistInReadOnly);
                }
                pos += persist_section(words, pos, &mut persist)?;
                keep = true;
                continue;
            }
            if is(w, "ROUTING") && !routing {
                if pos + 1 == n {
                    return Err(AiError::RoutingMissing);
                }
                pos += 2;
                routing = true;
                continue;
            }
            if is(w, "TIMEOUT") && timeout.is_none() {
                let value = (pos + 1 < n).then(|| words.word(pos + 1));
                let value = value.ok_or(AiError::TimeoutMissing)?;
                // RedisAI's DAG compared a pointer with 0 here, so it let 0 and negative
                // timeouts through; like AI.MODELEXECUTE, only positive ones mean anything.
                let ms = parse_i64(value)
                    .filter(|&t| t > 0)
                    .ok_or(AiError::TimeoutInvalid)?;
                timeout = Some(ms as u64);
                pos += 2;
                continue;
            }
        }
        if w == b"|>" && pos + 1 < n {
            pos += 1;
            let start = pos;
            while pos < n && words.word(pos) != b"|>" {
                pos += 1;
            }
            op_ranges.push((start, pos - start));
            continue;
        }
        return Err(AiError::DagUnexpected(lossy(w)));
    }
    if matches!(flavor, Flavor::Execute | Flavor::ExecuteRo) && !load && !keep && !routing {
        return Err(AiError::DagNeedsKeyword);
    }
    if op_ranges.is_empty() {
        return Err(AiError::DagEmpty);
    }

    // Every op is parsed before any name is resolved, as RedisAI reports errors.
    let parsed: Vec<Parsed<M>> = op_ranges
        .iter()
        .map(|&(start, len)| parse_op(flavor, words, start, len, keyspace, limits))
        .collect::<AiResult<_>>()?;

    let mut ops = Vec::with_capacity(parsed.len());
    let mut runs = Vec::with_capacity(parsed.len());
    let mut hashes = Vec::new();
    let mut hash_keys = Vec::new();
    let mut searches = Vec::new();
    let mut producer: Vec<Option<usize>> = vec![None; slots.len()];
    for (index, op) in parsed.into_iter().enumerate() {
        match op {
            Parsed::Set { name, tensor } => {
                slots.push(Some(Arc::new(tensor)));
                producer.push(None);
                names.insert(words.word(name), slots.len() - 1);
                ops.push(OpKind::Set);
                runs.push(None);
            }
            Parsed::Get { name, format } => {
                let slot = *names
                    .get(words.word(name))
                    .ok_or(AiError::DagInputMissing)?;
                ops.push(OpKind::Get { slot, format });
                runs.push(None);
            }
            Parsed::Hset {
                key,
                field,
                tensor,
                fields,
            } => {
                let slot = *names
                    .get(words.word(tensor))
                    .ok_or(AiError::DagInputMissing)?;
                hashes.push(HashWrite {
                    key: words.word(key).to_vec(),
                    field: words.word(field).to_vec(),
                    slot,
                    fields: fields
                        .iter()
                        .map(|&(n, v)| (words.word(n).to_vec(), words.word(v).to_vec()))
                        .collect(),
                });
                hash_keys.push(key);
                ops.push(OpKind::Hset);
                runs.push(None);
            }
            Parsed::Search {
                index,
                query,
                param,
                tensor,
                rest,
            } => {
                let slot = *names
                    .get(words.word(tensor))
                    .ok_or(AiError::DagInputMissing)?;
                searches.push(SearchCall {
                    index: words.word(index).to_vec(),
                    query: words.word(query).to_vec(),
                    rest: rest.map(|i| words.word(i).to_vec()).collect(),
                    param: words.word(param).to_vec(),
                    slot,
                });
                ops.push(OpKind::Search {
                    index: searches.len() - 1,
                });
                runs.push(None);
            }
            Parsed::Run {
                target,
                inputs,
                outputs,
            } => {
                let inputs = inputs
                    .iter()
                    .map(|&w| names.get(words.word(w)).copied())
                    .collect::<Option<Vec<Slot>>>()
                    .ok_or(AiError::DagInputMissing)?;
                let outputs = outputs
                    .iter()
                    .map(|&w| {
                        slots.push(None);
                        producer.push(Some(index));
                        names.insert(words.word(w), slots.len() - 1);
                        slots.len() - 1
                    })
                    .collect();
                ops.push(OpKind::Run);
                runs.push(Some(RunOp {
                    target,
                    inputs,
                    outputs,
                }));
            }
        }
    }

    let persist = persist
        .into_iter()
        .map(|(name, word)| {
            let slot = *names.get(name).ok_or(AiError::DagPersistMissing)?;
            Ok((name.to_vec(), slot, word))
        })
        .collect::<AiResult<Vec<_>>>()?;
    // Checked last so that every RedisAI error keeps its precedence; nothing has been
    // written or queued yet.
    for (_, _, word) in &persist {
        keyspace.writable(*word)?;
    }
    for word in hash_keys {
        keyspace.writable_hash(word)?;
    }
    Ok(Plan {
        graph: Graph {
            slots,
            runs,
            producer,
            timeout_ms: timeout,
        },
        outline: Outline {
            style: Style::Dag,
            ops,
            persist: persist
                .into_iter()
                .map(|(name, slot, _)| (name, slot))
                .collect(),
            hashes,
            searches,
        },
    })
}

/// `KEYWORD <n> <word>...` at `pos`: calls `each` with the position of each of the `n`
/// words, as RedisAI does (an error of one word is reported before a short list). Returns
/// the number of words used. The errors, in order: fewer than two words after the keyword,
/// a count that is not a positive integer, fewer words than the count.
fn counted_section<'a, W: Words<'a> + ?Sized>(
    words: &W,
    pos: usize,
    [missing, invalid, mismatch]: [AiError; 3],
    mut each: impl FnMut(usize) -> AiResult<()>,
) -> AiResult<usize> {
    let n = words.count();
    if n - pos < 3 {
        return Err(missing);
    }
    let count = parse_i64(words.word(pos + 1))
        .filter(|&c| c > 0)
        .ok_or(invalid)? as u64;
    let mut done = 0u64;
    let mut at = pos + 2;
    while at < n && done < count {
        each(at)?;
        done += 1;
        at += 1;
    }
    if done != count {
        return Err(mismatch);
    }
    Ok(at - pos)
}

/// `LOAD <n> <key>...`: reads each key as it goes.
fn load_section<'a, M, W, K>(
    words: &W,
    pos: usize,
    keyspace: &mut K,
    names: &mut HashMap<&'a [u8], Slot>,
    slots: &mut Vec<Option<Arc<Tensor>>>,
) -> AiResult<usize>
where
    W: Words<'a> + ?Sized,
    K: Keyspace<M>,
{
    use AiError::{LoadArgsMissing, LoadCountInvalid, LoadCountMismatch};
    let errors = [LoadArgsMissing, LoadCountInvalid, LoadCountMismatch];
    counted_section(words, pos, errors, |at| {
        slots.push(Some(keyspace.tensor(at)?));
        // A name loaded twice keeps its first slot (the same tensor).
        names.entry(words.word(at)).or_insert(slots.len() - 1);
        Ok(())
    })
}

/// `PERSIST <n> <key>...`: names only; they are resolved after the ops.
fn persist_section<'a, W: Words<'a> + ?Sized>(
    words: &W,
    pos: usize,
    persist: &mut Vec<(&'a [u8], usize)>,
) -> AiResult<usize> {
    use AiError::{PersistArgsMissing, PersistCountInvalid, PersistCountMismatch};
    let errors = [
        PersistArgsMissing,
        PersistCountInvalid,
        PersistCountMismatch,
    ];
    counted_section(words, pos, errors, |at| {
        let name = words.word(at);
        if persist.iter().any(|(p, _)| *p == name) {
            return Err(AiError::PersistNotUnique);
        }
        persist.push((name, at));
        Ok(())
    })
}

/// One op: `len` words from `start`, the first being the op's command name.
fn parse_op<'a, M, W, K>(
    flavor: Flavor,
    words: &W,
    start: usize,
    len: usize,
    keyspace: &mut K,
    limits: Limits,
) -> AiResult<Parsed<M>>
where
    M: Runnable,
    W: Words<'a> + ?Sized,
    K: Keyspace<M>,
{
    if len == 0 {
        return Err(AiError::DagUnsupportedOp);
    }
    let op = window(words, start, len);
    let name = OpName::parse(op.word(0)).ok_or(AiError::DagUnsupportedOp)?;
    match name {
        OpName::TensorGet => {
            if !(2..=4).contains(&len) {
                return Err(AiError::DagOpArity(name.name()));
            }
            let format = parse_tensorget_format(&tail(&op, 2))?;
            return Ok(Parsed::Get {
                name: start + 1,
                format,
            });
        }
        OpName::TensorSet => {
            if len < 4 {
                return Err(AiError::DagOpArity(name.name()));
            }
            let values = tail(&op, 2);
            let req = parse_tensorset(&values)?;
            let tensor = match req.input {
                Input::Zeros => Tensor::zeros(req.dtype, req.shape, limits)?,
                Input::Blob(i) => Tensor::from_blob(req.dtype, req.shape, values.word(i), limits)?,
                Input::Values(i) => {
                    Tensor::from_values(req.dtype, req.shape, &tail(&values, i), limits)?
                }
            };
            return Ok(Parsed::Set {
                name: start + 1,
                tensor,
            });
        }
        OpName::Pool | OpName::Hset | OpName::FtSearch if flavor.deprecated() => {
            return Err(AiError::DagNewOpInDagrun(name.name()));
        }
        OpName::Pool => {
            let threads = crate::config::THREADS_PER_QUEUE.get().max(1) as usize;
            let args = text::parse_pool(&op, threads)?;
            let at = |i: usize| start + i;
            return Ok(Parsed::Run {
                target: Target::Builtin(Arc::new(args.builtin)),
                inputs: args.inputs.into_iter().map(at).collect(),
                outputs: args.outputs.into_iter().map(at).collect(),
            });
        }
        OpName::FtSearch => {
            let a = text::parse_ftsearch(&op)?;
            return Ok(Parsed::Search {
                index: start + a.index,
                query: start + a.query,
                param: start + a.param,
                tensor: start + a.tensor,
                rest: start + a.rest.start..start + a.rest.end,
            });
        }
        OpName::Hset => {
            if flavor.read_only() {
                return Err(AiError::DagOp(
                    "ERR AI.HSET cannot be specified in a read-only DAG".into(),
                ));
            }
            let a = text::parse_hset(&op)?;
            return Ok(Parsed::Hset {
                key: start + a.key,
                field: start + a.field,
                tensor: start + a.tensor,
                fields: a
                    .fields
                    .into_iter()
                    .map(|(n, v)| (start + n, start + v))
                    .collect(),
            });
        }
        _ => {}
    }
    if !name.deprecated() && flavor.deprecated() {
        return Err(AiError::DagNewOpInDagrun(name.name()));
    }
    if name.deprecated() && !flavor.deprecated() {
        return Err(AiError::DagDeprecatedOp(name.name()));
    }
    if let OpName::ModelExecute | OpName::ModelRun = name {
        let execute = name == OpName::ModelExecute;
        if len < if execute { 8 } else { 6 } {
            return Err(AiError::RunArity(name.name()));
        }
        let model = keyspace.model(start + 1)?;
        let rest = tail(&op, 2);
        let (ins, outs) = (model.input_count(), model.output_count());
        let args = if execute {
            parse_modelexecute(&rest, ins, outs)?
        } else {
            parse_modelrun(&rest, ins, outs)?
        };
        if args.timeout_ms.is_some() {
            return Err(AiError::DagTimeoutInOp);
        }
        let at = |i: usize| start + 2 + i;
        return Ok(Parsed::Run {
            target: Target::Model(model),
            inputs: args.inputs.into_iter().map(at).collect(),
            outputs: args.outputs.into_iter().map(at).collect(),
        });
    }
    // AI.SCRIPTEXECUTE or AI.SCRIPTRUN.
    let execute = name == OpName::ScriptExecute;
    if execute && flavor.read_only() {
        return Err(AiError::ScriptInReadOnlyDag);
    }
    if len < 3 {
        return Err(AiError::RunArity(name.name()));
    }
    let script = keyspace.script(start + 1)?;
    let rest = tail(&op, 3);
    let args = if execute {
        parse_scriptexecute(&rest, false)?
    } else {
        parse_scriptrun(&rest)?
    };
    if args.timeout_ms.is_some() {
        return Err(AiError::DagTimeoutInOp);
    }
    let at = |i: usize| start + 3 + i;
    let strings =
        |v: &[usize]| -> Vec<Vec<u8>> { v.iter().map(|&i| words.word(at(i)).to_vec()).collect() };
    let keys = strings(&args.keys);
    let call = ScriptCall {
        script,
        function: words.word(start + 2).to_vec(),
        args: strings(&args.args),
        outputs: args.outputs.len(),
        env: keyspace.script_env(keys.clone()),
        keys,
    };
    Ok(Parsed::Run {
        target: Target::Script(Arc::new(call)),
        inputs: args.inputs.into_iter().map(at).collect(),
        outputs: args.outputs.into_iter().map(at).collect(),
    })
}

/// Positions of the keys a DAG command touches, for the cluster and ACLs, each with whether
/// it is written: LOAD keys, the ROUTING value and the key after each model or script op are
/// read, PERSIST keys written. DAG-local names are not keys. Read as far as the words parse.
pub fn key_positions<'a, W: Words<'a> + ?Sized>(words: &W) -> Vec<(usize, bool)> {
    let n = words.count();
    let mut keys = Vec::new();
    let mut pos = 1;
    let mut in_ops = false;
    while pos < n {
        let w = words.word(pos);
        if w == b"|>" {
            in_ops = true;
            let op = pos + 1;
            let name = (op + 1 < n)
                .then(|| OpName::parse(words.word(op)))
                .flatten();
            if name.is_some_and(OpName::runs_stored) {
                keys.push((op + 1, false));
            }
            if name == Some(OpName::Hset) {
                keys.push((op + 1, true));
            }
            pos += 1;
            continue;
        }
        if !in_ops && (is(w, "LOAD") || is(w, "PERSIST")) {
            let Some(count) = (pos + 1 < n)
                .then(|| parse_i64(words.word(pos + 1)))
                .flatten()
                .filter(|&c| c > 0)
            else {
                pos += 1;
                continue;
            };
            let first = pos + 2;
            let end = first.saturating_add(count as usize).min(n);
            let written = is(w, "PERSIST");
            keys.extend((first..end).map(|k| (k, written)));
            pos = end;
            continue;
        }
        if !in_ops && is(w, "ROUTING") && pos + 1 < n {
            keys.push((pos + 1, false));
            pos += 2;
            continue;
        }
        pos += 1;
    }
    keys
}
