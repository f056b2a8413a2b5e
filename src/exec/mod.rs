//! Execution: one run queue per device, worker threads, auto-batching.
//!
//! # Threads and what they own
//!
//! This module knows what it runs only as a [`Runner`] (a stored model or a script call
//! implements it elsewhere): its batching options, how to run it once, where its runs are
//! counted. It imports nothing of models, scripts, DAGs or Redis, so the batching policy
//! ([`choose`]) is a pure function with unit tests of its own.
//!
//! * The **main thread** (Redis) parses a run command into a plan, snapshots its inputs
//!   (`Arc<Tensor>`, no copy), blocks the client and pushes a [`Job`] per ready op on the
//!   runner's device [`Queue`]. Later, in the blocked client's reply callback, it writes the
//!   outputs to the keyspace. It never waits for a worker.
//! * **Workers**: `THREADS_PER_QUEUE` per device queue (`CPU`, `GPU:0`, ...), created with the
//!   queue: the CPU queue at load (as RedisAI did), the others on first use. A worker takes ready work from its queue, runs it through the
//!   backend with its own index (the plugin keeps per-worker engine state by that index), and
//!   hands the outcome to the job's [`Completion`] (its plan, which queues the ops that now
//!   can run, or unblocks the client when none is left).
//!
//! # Locks
//!
//! * `QUEUES` (the list of queues): taken to find or create a queue, and by INFO. Never held
//!   while taking a queue's lock.
//! * `Queue::state` (one per queue): the pending jobs and the shutdown flag. Held while
//!   choosing work (a scan of the pending jobs) and never while a model runs or a client is
//!   unblocked. Workers sleep on `Queue::wake` — no polling: they wake for a new job, for
//!   shutdown, or at the earliest moment something waiting becomes ready (a batch's
//!   MINBATCHTIMEOUT, a job's TIMEOUT).
//!
//! # Invariants
//!
//! * A job is in exactly one place: a queue, or the hands of one worker. It completes exactly
//!   once (outputs, error or TIMEDOUT), except at shutdown, when pending jobs are dropped.
//! * A batch only joins jobs of the same runner object (`Arc` identity: a model stored again
//!   is a new batch group), with compatible inputs, up to BATCHSIZE rows; an input that does
//!   not batch runs alone.
//! * Models and inputs are immutable and reference counted, so AI.MODELDEL, a new
//!   AI.MODELSTORE or an AI.TENSORSET during a run only affects later runs.
//!
//! # Runs that skip the queue
//!
//! A hand-off costs two thread wake-ups and a blocked-client round trip through Redis, tens
//! of µs on a busy machine: more than many small models take to run. A run command may
//! therefore run its model in the command itself, on the main thread ([`run_inline`]), when
//! the caller decides it is cheap: each runner's [`Pace`] learns its run time per input row
//! from its own runs, and counts the plans that use it and have not replied yet, so an inline
//! run never overtakes one queued before it. [`Pace::outstanding`] is only touched on the main
//! thread (a plan is counted when it is started and uncounted when its reply has been written,
//! see [`Busy`]); `ns_per_row` is written by whichever thread finished a run, relaxed, since a
//! stale estimate only makes one decision a little worse. An inline run uses a worker index of
//! its own (one past the queue's workers), so it never shares per-worker engine state with a
//! worker, nor with a script's model call on a worker ([`run_now`]).
//!
//! Rejected: a global queue (a slow GPU would hold CPU work back); polling with a short sleep
//! as RedisAI did (1 ms wake-ups per worker, idle or not); running every model on the main
//! thread (one slow model would stall the server: only runs learned to be small go there).

pub mod batch;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::os::unix::thread::JoinHandleExt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use crate::backend::RunFailure;
use crate::error::panic_message;
use crate::stats::RunStats;
use crate::tensor::Tensor;

/// Auto-batching options (RedisAI's BATCHSIZE, MINBATCHSIZE, MINBATCHTIMEOUT).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchOpts {
    /// Largest batch, in rows along dimension 0; 0 = no batching.
    pub size: u64,
    /// Smallest batch worth running; smaller ones wait for company.
    pub min_size: u64,
    /// How long a batch smaller than `min_size` waits before running anyway; 0 = forever.
    pub min_timeout_ms: u64,
}

/// What a queue runs: a stored model, a script call. Shared immutable state only (`&self`):
/// per-worker engine state lives behind `worker`, the index of the calling worker.
pub trait Runner: Send + Sync {
    /// How jobs of this runner may be batched; the default never batches.
    fn batch(&self) -> BatchOpts {
        BatchOpts::default()
    }
    /// Runs once on these inputs (for a batch, already joined along dimension 0): one entry
    /// per output, `None` for outputs that are not tensors.
    fn run(&self, worker: usize, inputs: &[&Tensor]) -> Result<Vec<Option<Tensor>>, RunFailure>;
    /// Where runs are counted (AI.INFO).
    fn stats(&self) -> &RunStats;
    /// Where this runner's run time is learned; runners without one never run inline.
    fn pace(&self) -> Option<&Pace> {
        None
    }
}

/// A runner's run time per input row, learned from its own runs, and the plans using it that
/// have not replied yet (see the module's notes on runs that skip the queue).
#[derive(Debug, Default)]
pub struct Pace {
    /// Nanoseconds per row; 0 until a run has been seen.
    ns_per_row: AtomicU64,
    /// Plans counted by [`Busy`]; main thread only.
    outstanding: AtomicUsize,
}

impl Pace {
    /// Learns from a successful run of `rows` rows: the first run sets the estimate, a faster
    /// one takes it half-way down, a slower one an eighth of the way up.
    ///
    /// Falling fast matters because the first runs of a model are its slowest (engine warm-up)
    /// and a worker woken for one call runs with cold caches (several times the same run made
    /// on the main thread, measured in `make bench`). Rising by a fraction of the gap still
    /// sends a model that became much slower back to the queue after one run (an eighth of a
    /// large gap is large), while one stray slow run (the machine's, not the model's) does not.
    pub fn observe(&self, elapsed: Duration, rows: u64) {
        let sample = (elapsed.as_nanos() / u128::from(rows.max(1))).clamp(1, u64::MAX as u128);
        let sample = sample as u64;
        let old = self.ns_per_row.load(Ordering::Relaxed);
        let new = if old == 0 {
            sample
        } else if sample < old {
            old - (old - sample) / 2
        } else {
            old + (sample - old) / 8
        };
        self.ns_per_row.store(new.max(1), Ordering::Relaxed);
    }

    /// What a run of `rows` rows is expected to take; `None` before any run was seen.
    pub fn estimate(&self, rows: u64) -> Option<Duration> {
        match self.ns_per_row.load(Ordering::Relaxed) {
            0 => None,
            ns => Some(Duration::from_nanos(ns.saturating_mul(rows.max(1)))),
        }
    }

    /// Whether every plan that used this runner has replied.
    pub fn idle(&self) -> bool {
        self.outstanding.load(Ordering::Relaxed) == 0
    }
}

/// Counts a plan as outstanding for a runner until dropped. Made when the plan starts and
/// dropped after its reply was written, both on the main thread.
pub struct Busy(Arc<Pace>);

impl Busy {
    pub fn new(pace: &Arc<Pace>) -> Busy {
        pace.outstanding.fetch_add(1, Ordering::Relaxed);
        Busy(pace.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.outstanding.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Runs so far on the main thread ([`run_inline`]) and on workers, for INFO.
static INLINE_RUNS: AtomicU64 = AtomicU64::new(0);
static QUEUED_RUNS: AtomicU64 = AtomicU64::new(0);

/// (runs made inline, runs made by workers) since load.
pub fn run_counts() -> (u64, u64) {
    (
        INLINE_RUNS.load(Ordering::Relaxed),
        QUEUED_RUNS.load(Ordering::Relaxed),
    )
}

/// How a run ended, for one job.
#[derive(Debug)]
pub enum Outcome {
    /// One entry per output; `None` for outputs that are not tensors.
    Outputs(Vec<Option<Tensor>>),
    /// The text the client receives.
    Failed(String),
    TimedOut,
}

/// Told when its job starts running and when it ends (the blocked client, in the module).
pub trait Completion: Send {
    fn started(&mut self) {}
    fn finished(self: Box<Self>, outcome: Outcome);
}

pub struct Job {
    runner: Arc<dyn Runner>,
    inputs: Vec<Arc<Tensor>>,
    /// TIMEOUT: a job still waiting at this moment completes as timed out.
    deadline: Option<Instant>,
    completion: Box<dyn Completion>,
    enqueued: Instant,
}

impl Job {
    /// A job that expires at `deadline` if it is still queued then (a DAG's ops share one).
    pub fn new(
        runner: Arc<dyn Runner>,
        inputs: Vec<Arc<Tensor>>,
        deadline: Option<Instant>,
        completion: Box<dyn Completion>,
    ) -> Job {
        Job {
            runner,
            inputs,
            deadline,
            completion,
            enqueued: Instant::now(),
        }
    }

    /// Whether two jobs run the same runner object (and so may share a batch).
    fn same_runner(&self, other: &Job) -> bool {
        std::ptr::addr_eq(Arc::as_ptr(&self.runner), Arc::as_ptr(&other.runner))
    }
}

/// Where a panic inside a run is reported (the server log, set at load); nowhere before.
static PANIC_LOG: OnceLock<fn(&str)> = OnceLock::new();

/// Sets where panics caught in runs are reported. Only the first call takes effect.
pub fn report_panics_to(log: fn(&str)) {
    let _ = PANIC_LOG.set(log);
}

#[derive(Default)]
struct State {
    jobs: VecDeque<Job>,
    shutdown: bool,
    /// Workers still running (for a bounded wait at shutdown).
    alive: usize,
}

pub struct Queue {
    pub name: String,
    state: Mutex<State>,
    wake: Condvar,
    /// CPU-time clocks of this queue's workers, for INFO.
    clocks: Mutex<Vec<libc::clockid_t>>,
    /// The workers' threads, joined at shutdown once they have all left their loop, so none
    /// is still tearing down when the process exits.
    threads: Mutex<Vec<std::thread::JoinHandle<()>>>,
}

static QUEUES: Mutex<Vec<Arc<Queue>>> = Mutex::new(Vec::new());

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The queue of `device` (upper-cased), created with `threads` workers on first use.
pub fn queue(device: &str, threads: usize) -> Result<Arc<Queue>, String> {
    let name = device.to_ascii_uppercase();
    let mut queues = lock(&QUEUES);
    if let Some(q) = queues.iter().find(|q| q.name == name) {
        return Ok(q.clone());
    }
    let q = Arc::new(Queue {
        name: name.clone(),
        state: Mutex::new(State::default()),
        wake: Condvar::new(),
        clocks: Mutex::new(Vec::new()),
        threads: Mutex::new(Vec::new()),
    });
    for index in 0..threads.max(1) {
        let worker_queue = q.clone();
        lock(&q.state).alive += 1;
        let spawned = std::thread::Builder::new()
            .name(format!(
                "redisai-{}-{}",
                name.to_ascii_lowercase(),
                index + 1
            ))
            .spawn(move || worker(worker_queue, index));
        match spawned {
            Ok(handle) => {
                // The clock is taken here rather than by the worker itself, so INFO lists every
                // worker as soon as the queue exists, not once each thread has got going.
                let mut clock: libc::clockid_t = 0;
                // SAFETY: a live thread's handle (the JoinHandle keeps it joinable).
                if unsafe { libc::pthread_getcpuclockid(handle.as_pthread_t(), &mut clock) } == 0 {
                    lock(&q.clocks).push(clock);
                }
                lock(&q.threads).push(handle);
            }
            Err(e) => {
                lock(&q.state).alive -= 1;
                // Workers already started stay with the queue; it is kept only if it has any.
                if index == 0 {
                    return Err(format!("could not start a worker for {name}: {e}"));
                }
                break;
            }
        }
    }
    queues.push(q.clone());
    Ok(q)
}

/// Every queue, for INFO.
pub fn queues() -> Vec<Arc<Queue>> {
    lock(&QUEUES).clone()
}

impl Queue {
    /// CPU seconds used by each worker, in worker order.
    pub fn worker_cpu_seconds(&self) -> Vec<f64> {
        lock(&self.clocks)
            .iter()
            .map(|&clock| {
                let mut ts = libc::timespec {
                    tv_sec: 0,
                    tv_nsec: 0,
                };
                // SAFETY: a clock id obtained from pthread_getcpuclockid; the call only reads.
                if unsafe { libc::clock_gettime(clock, &mut ts) } == 0 {
                    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
                } else {
                    0.0
                }
            })
            .collect()
    }

    /// Queues a job. After shutdown the job is dropped, which completes it with an error.
    pub fn push(&self, job: Job) {
        let mut st = lock(&self.state);
        if st.shutdown {
            return;
        }
        st.jobs.push_back(job);
        drop(st);
        self.wake.notify_one();
    }
}

/// Stops every worker: pending jobs are dropped, running ones may finish within `grace`.
pub fn shutdown(grace: Duration) {
    let deadline = Instant::now() + grace;
    for q in queues() {
        let mut st = lock(&q.state);
        st.shutdown = true;
        st.jobs.clear();
        q.wake.notify_all();
        while st.alive > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            st = q
                .wake
                .wait_timeout(st, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        // Every worker has left its loop: wait for the threads themselves to end. A worker
        // still running a model after the grace stays detached (the process exits around it).
        if st.alive == 0 {
            drop(st);
            let threads = std::mem::take(&mut *lock(&q.threads));
            for t in threads {
                let _ = t.join();
            }
        }
    }
}

pub(crate) enum Work {
    Expired(Job),
    Run(Vec<Job>),
}

/// Removes and returns the next work that is ready, or says when to look again.
pub(crate) fn choose(jobs: &mut VecDeque<Job>, now: Instant) -> Result<Work, Option<Instant>> {
    if let Some(i) = jobs
        .iter()
        .position(|j| j.deadline.is_some_and(|d| d <= now))
    {
        return Ok(Work::Expired(jobs.remove(i).expect("index from position")));
    }
    let mut wake: Option<Instant> = jobs.iter().filter_map(|j| j.deadline).min();
    let mut grouped = vec![false; jobs.len()];
    for i in 0..jobs.len() {
        if grouped[i] {
            continue;
        }
        let job = &jobs[i];
        let opts = job.runner.batch();
        let own = batch::rows(&job.inputs);
        let alone = match own {
            None => true,
            Some(r) => opts.size == 0 || r >= opts.size,
        };
        if alone {
            return Ok(Work::Run(vec![jobs.remove(i).expect("index in range")]));
        }
        let mut members = vec![i];
        let mut total = own.unwrap_or(0);
        for (k, other) in jobs.iter().enumerate().skip(i + 1) {
            if total >= opts.size {
                break;
            }
            if grouped[k] || !other.same_runner(job) {
                continue;
            }
            let Some(r) = batch::rows(&other.inputs) else {
                continue;
            };
            if total + r <= opts.size && batch::compatible(&job.inputs, &other.inputs) {
                members.push(k);
                total += r;
                grouped[k] = true;
            }
        }
        let timeout = Duration::from_millis(opts.min_timeout_ms);
        let waited_enough = opts.min_timeout_ms > 0 && now >= job.enqueued + timeout;
        if opts.min_size == 0 || total >= opts.min_size || waited_enough {
            // Remove from the back so earlier indices stay valid; keep queue order.
            let mut taken: Vec<Job> = members
                .iter()
                .rev()
                .map(|&k| jobs.remove(k).expect("member index in range"))
                .collect();
            taken.reverse();
            return Ok(Work::Run(taken));
        }
        if opts.min_timeout_ms > 0 {
            let ready_at = job.enqueued + timeout;
            wake = Some(wake.map_or(ready_at, |w| w.min(ready_at)));
        }
        grouped[i] = true;
    }
    Err(wake)
}

fn worker(q: Arc<Queue>, index: usize) {
    loop {
        let work = {
            let mut st = lock(&q.state);
            loop {
                if st.shutdown {
                    st.alive -= 1;
                    q.wake.notify_all();
                    return;
                }
                let now = Instant::now();
                match choose(&mut st.jobs, now) {
                    Ok(work) => break work,
                    Err(Some(at)) => {
                        st = q
                            .wake
                            .wait_timeout(st, at.saturating_duration_since(now))
                            .unwrap_or_else(|p| p.into_inner())
                            .0;
                    }
                    Err(None) => st = q.wake.wait(st).unwrap_or_else(|p| p.into_inner()),
                }
            }
        };
        match work {
            Work::Expired(job) => job.completion.finished(Outcome::TimedOut),
            Work::Run(jobs) => run(jobs, index),
        }
    }
}

/// Runs one job, or a batch of jobs of one runner, and completes each.
fn run(mut jobs: Vec<Job>, worker: usize) {
    for j in &mut jobs {
        j.completion.started();
    }
    let runner = jobs[0].runner.clone();
    let start = Instant::now();
    let result = catch_unwind(AssertUnwindSafe(|| execute(runner.as_ref(), &jobs, worker)))
        .unwrap_or_else(|p| {
            let what = panic_message(&p);
            if let Some(log) = PANIC_LOG.get() {
                log(&format!("panic while running: {what}"));
            }
            Err(RunFailure::Error(format!("ERR internal error: {what}")))
        });
    let elapsed = start.elapsed();
    let micros = elapsed.as_micros() as u64;
    let stats = runner.stats();
    QUEUED_RUNS.fetch_add(1, Ordering::Relaxed);
    if let (Some(pace), Ok(_)) = (runner.pace(), &result) {
        let rows = jobs
            .iter()
            .map(|j| batch::rows(&j.inputs).unwrap_or(1))
            .sum();
        pace.observe(elapsed, rows);
    }
    let outcomes: Vec<Outcome> = match result {
        Ok(per_job) => per_job
            .into_iter()
            .map(|outputs| {
                record(stats, micros, &outputs);
                Outcome::Outputs(outputs)
            })
            .collect(),
        Err(failure) => jobs
            .iter()
            .map(|_| {
                stats.record_error();
                match &failure {
                    RunFailure::TimedOut => Outcome::TimedOut,
                    RunFailure::Error(e) => Outcome::Failed(e.clone()),
                }
            })
            .collect(),
    };
    // The run's references to the runner and inputs go before the clients hear back, so a
    // model deleted meanwhile is gone (with its statistics) by the time they see the reply.
    drop(runner);
    let completions: Vec<Box<dyn Completion>> = jobs.into_iter().map(|j| j.completion).collect();
    for (c, outcome) in completions.into_iter().zip(outcomes) {
        c.finished(outcome);
    }
}

/// Counts a successful run. RedisAI counts dimension 0 of the first output as its samples.
fn record(stats: &RunStats, micros: u64, outputs: &[Option<Tensor>]) {
    let samples = outputs
        .first()
        .and_then(|o| o.as_ref())
        .and_then(|t| t.shape().first().copied())
        .unwrap_or(0);
    stats.record(micros, samples.max(0) as u64);
}

/// Runs `runner` once on the calling thread, counted like a queued run: a script's call of a
/// model runs on the script's own worker.
pub fn run_now(
    runner: &dyn Runner,
    worker: usize,
    inputs: &[&Tensor],
) -> Result<Vec<Option<Tensor>>, RunFailure> {
    let start = Instant::now();
    let result = runner.run(worker, inputs);
    let elapsed = start.elapsed();
    match &result {
        Ok(outputs) => {
            record(runner.stats(), elapsed.as_micros() as u64, outputs);
            if let Some(pace) = runner.pace() {
                let rows = inputs
                    .first()
                    .and_then(|t| t.shape().first())
                    .map_or(1, |&r| r.max(1) as u64);
                pace.observe(elapsed, rows);
            }
        }
        Err(_) => runner.stats().record_error(),
    }
    result
}

/// Runs `runner` once in the calling command, on the main thread, with the worker index kept
/// for it: counted and learned from as a queued run is, a panic caught and logged as there.
pub fn run_inline(runner: &dyn Runner, worker: usize, inputs: &[&Tensor]) -> Outcome {
    INLINE_RUNS.fetch_add(1, Ordering::Relaxed);
    let result =
        catch_unwind(AssertUnwindSafe(|| run_now(runner, worker, inputs))).unwrap_or_else(|p| {
            let what = panic_message(&p);
            if let Some(log) = PANIC_LOG.get() {
                log(&format!("panic while running: {what}"));
            }
            runner.stats().record_error();
            Err(RunFailure::Error(format!("ERR internal error: {what}")))
        });
    match result {
        Ok(outputs) => Outcome::Outputs(outputs),
        Err(RunFailure::TimedOut) => Outcome::TimedOut,
        Err(RunFailure::Error(e)) => Outcome::Failed(e),
    }
}

type PerJob = Vec<Vec<Option<Tensor>>>;

/// One run for one job, or one run over the jobs' inputs joined, split back per job.
fn execute(runner: &dyn Runner, jobs: &[Job], worker: usize) -> Result<PerJob, RunFailure> {
    if let [job] = jobs {
        let inputs: Vec<&Tensor> = job.inputs.iter().map(|t| t.as_ref()).collect();
        return Ok(vec![runner.run(worker, &inputs)?]);
    }
    let requests: Vec<&[Arc<Tensor>]> = jobs.iter().map(|j| j.inputs.as_slice()).collect();
    let joined = batch::join(&requests).map_err(|e| RunFailure::Error(e.to_string()))?;
    let refs: Vec<&Tensor> = joined.iter().collect();
    let outputs = runner.run(worker, &refs)?;
    let sizes: Vec<u64> = jobs
        .iter()
        .map(|j| batch::rows(&j.inputs).unwrap_or(0))
        .collect();
    let mut per_job: PerJob = jobs
        .iter()
        .map(|_| Vec::with_capacity(outputs.len()))
        .collect();
    for out in outputs {
        match out {
            None => per_job.iter_mut().for_each(|p| p.push(None)),
            Some(t) => {
                let pieces =
                    batch::split(&t, &sizes).map_err(|e| RunFailure::Error(e.to_string()))?;
                for (p, piece) in per_job.iter_mut().zip(pieces) {
                    p.push(Some(piece));
                }
            }
        }
    }
    Ok(per_job)
}
