//! Running a plan: model ops go to their devices' queues as soon as their inputs exist.
//!
//! # Concurrency
//!
//! One [`Shared`] per running plan, behind one mutex. It is touched by the main thread once
//! (`start`, before the client can hear anything) and then by worker threads: each model
//! op is a queue job whose completion ([`OpDone`]) records its outputs under the lock and
//! collects the ops that just became ready. Jobs are pushed onto queues *after* the lock is
//! released (a queue has its own lock, and a job may even complete on another worker before
//! the push returns), and the count of jobs in flight is raised *before* that, under the
//! lock, so the plan cannot be seen as finished while a job is on its way. The last
//! completion takes the client out of the state and tells it, outside the lock.
//!
//! Independent ops are in flight together: on different devices they run in parallel, and
//! on one device as many run at once as the queue has workers. Nothing polls; a dependent op
//! is queued by the completion of the op it waits for. After a failure or a TIMEOUT no new
//! op is queued; ops already queued finish (they cannot be recalled) and are ignored.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::{Graph, RunOp, Slot, Target};
use crate::exec::{Completion, Job, Outcome, Queue, Runner};
use crate::model::Model;
use crate::tensor::Tensor;

/// How each op of a finished plan ended (tensor ops are always `Done`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpResult {
    /// Never ran: an earlier op failed, or the plan timed out.
    NotRun,
    Done,
    Failed(String),
}

/// What the client learns when the plan is over.
pub struct Finished {
    pub timed_out: bool,
    pub results: Vec<OpResult>,
    pub slots: Vec<Option<Arc<Tensor>>>,
}

impl Finished {
    /// A plan without model ops is finished as soon as it is parsed.
    pub fn immediate<M>(graph: Graph<M>) -> Finished {
        Finished {
            timed_out: false,
            results: vec![OpResult::Done; graph.runs.len()],
            slots: graph.slots,
        }
    }
}

/// The client waiting for a plan: told when the first op starts and when the plan ends.
pub trait Client: Send {
    fn started(&mut self);
    fn finished(self: Box<Self>, result: Finished);
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Status {
    Waiting,
    InFlight,
    Ended,
}

struct State {
    slots: Vec<Option<Arc<Tensor>>>,
    runs: Vec<Option<RunOp<Model>>>,
    producer: Vec<Option<usize>>,
    status: Vec<Status>,
    results: Vec<OpResult>,
    in_flight: usize,
    stop: bool,
    timed_out: bool,
    deadline: Option<Instant>,
    started: bool,
    client: Option<Box<dyn Client>>,
}

struct Shared {
    state: Mutex<State>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// What a target runs as, and on which queue.
fn runner(target: &Target<Model>) -> (Arc<dyn Runner>, Arc<Queue>) {
    match target {
        Target::Model(m) => (m.clone(), m.place.queue.clone()),
        Target::Script(call) => (call.clone(), call.script.place.queue.clone()),
        Target::Builtin(op) => (op.clone(), op.queue.clone()),
    }
}

/// Pushes jobs made by `ready_jobs` onto their queues; called without the state lock.
fn push(jobs: Vec<(Arc<Queue>, Job)>) {
    for (queue, job) in jobs {
        queue.push(job);
    }
}

/// Queues the plan's ready model ops; the client hears from the last op to end.
pub fn start(graph: Graph<Model>, client: Box<dyn Client>) {
    let status = graph
        .runs
        .iter()
        .map(|r| match r {
            Some(_) => Status::Waiting,
            None => Status::Ended,
        })
        .collect();
    let results = graph
        .runs
        .iter()
        .map(|r| match r {
            Some(_) => OpResult::NotRun,
            None => OpResult::Done,
        })
        .collect();
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            slots: graph.slots,
            runs: graph.runs,
            producer: graph.producer,
            status,
            results,
            in_flight: 0,
            stop: false,
            timed_out: false,
            deadline: graph
                .timeout_ms
                .map(|ms| Instant::now() + Duration::from_millis(ms)),
            started: false,
            client: Some(client),
        }),
    });
    let mut st = shared.lock();
    let ready = ready_jobs(&shared, &mut st);
    // Nothing may have been able to run (an input that can never exist).
    advance(st, ready);
}

/// After a change of state: the plan is over when nothing is in flight (the client is told,
/// outside the lock), else the ready jobs are pushed (outside the lock).
fn advance(mut st: MutexGuard<'_, State>, ready: Vec<(Arc<Queue>, Job)>) {
    if st.in_flight == 0 {
        let (client, result) = finish(&mut st);
        drop(st);
        if let Some(c) = client {
            c.finished(result);
        }
        return;
    }
    drop(st);
    push(ready);
}

/// Ends the plan. Its model references go first: a model deleted meanwhile is gone (with
/// its statistics) by the time the client hears back, as after a single run.
fn finish(st: &mut State) -> (Option<Box<dyn Client>>, Finished) {
    st.runs.clear();
    let result = Finished {
        timed_out: st.timed_out,
        results: std::mem::take(&mut st.results),
        slots: std::mem::take(&mut st.slots),
    };
    (st.client.take(), result)
}

/// Marks every model op whose inputs all exist as in flight and makes its job. An op
/// waiting for a slot that its producer left empty (a non-tensor output) can never run:
/// it fails, and the plan stops.
fn ready_jobs(shared: &Arc<Shared>, st: &mut State) -> Vec<(Arc<Queue>, Job)> {
    let mut jobs = Vec::new();
    for op in 0..st.runs.len() {
        if st.stop || st.status[op] != Status::Waiting {
            continue;
        }
        let Some(run) = &st.runs[op] else { continue };
        let missing: Vec<Slot> = run
            .inputs
            .iter()
            .copied()
            .filter(|&s| st.slots[s].is_none())
            .collect();
        if missing.is_empty() {
            let inputs = run
                .inputs
                .iter()
                .filter_map(|&s| st.slots[s].clone())
                .collect();
            let (runner, queue) = runner(&run.target);
            st.status[op] = Status::InFlight;
            st.in_flight += 1;
            let done = Box::new(OpDone {
                shared: shared.clone(),
                op,
                done: false,
            });
            jobs.push((queue, Job::new(runner, inputs, st.deadline, done)));
        } else if missing
            .iter()
            .all(|&s| st.producer[s].is_some_and(|p| st.status[p] == Status::Ended))
        {
            st.status[op] = Status::Ended;
            st.results[op] = OpResult::Failed(
                "ERR an input of this op was not produced (a model output that is not a tensor)"
                    .into(),
            );
            st.stop = true;
        }
    }
    jobs
}

/// A model op's job completion.
struct OpDone {
    shared: Arc<Shared>,
    op: usize,
    done: bool,
}

impl OpDone {
    fn complete(&mut self, outcome: Outcome) {
        if self.done {
            return;
        }
        self.done = true;
        let mut st = self.shared.lock();
        st.in_flight -= 1;
        st.status[self.op] = Status::Ended;
        match outcome {
            Outcome::Outputs(outputs) => {
                let slots = st.runs[self.op]
                    .take()
                    .map(|r| r.outputs)
                    .unwrap_or_default();
                for (slot, tensor) in slots.into_iter().zip(outputs) {
                    st.slots[slot] = tensor.map(Arc::new);
                }
                st.results[self.op] = OpResult::Done;
            }
            Outcome::Failed(text) => {
                st.results[self.op] = OpResult::Failed(text);
                st.stop = true;
            }
            Outcome::TimedOut => {
                st.timed_out = true;
                st.stop = true;
            }
        }
        let ready = ready_jobs(&self.shared, &mut st);
        advance(st, ready);
    }
}

impl Completion for OpDone {
    fn started(&mut self) {
        let mut st = self.shared.lock();
        if !st.started {
            st.started = true;
            if let Some(c) = st.client.as_mut() {
                c.started();
            }
        }
    }

    fn finished(mut self: Box<Self>, outcome: Outcome) {
        self.complete(outcome);
    }
}

impl Drop for OpDone {
    /// A job dropped without running (its queue shut down) still ends its op, so the plan
    /// and its client always finish.
    fn drop(&mut self) {
        self.complete(Outcome::Failed("ERR the server is shutting down".into()));
    }
}
