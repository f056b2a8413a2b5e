//! The batching policy and the queue, without Redis or a plugin: a fake runner echoes its
//! first input and remembers the batch sizes it was called with.

use std::sync::mpsc;

use super::*;
use crate::backend::BackendKind;
use crate::stats::Kind;
use crate::tensor::{DType, Limits, Shape};

struct Fake {
    batch: BatchOpts,
    stats: RunStats,
    /// Rows of the first input of each run.
    calls: Mutex<Vec<i64>>,
}

fn fake(size: u64, min_size: u64, min_timeout_ms: u64) -> Arc<Fake> {
    Arc::new(Fake {
        batch: BatchOpts {
            size,
            min_size,
            min_timeout_ms,
        },
        stats: RunStats::new(b"", Kind::Model, BackendKind::Onnx, "CPU", b""),
        calls: Mutex::new(Vec::new()),
    })
}

impl Runner for Fake {
    fn batch(&self) -> BatchOpts {
        self.batch
    }
    fn run(&self, _worker: usize, inputs: &[&Tensor]) -> Result<Vec<Option<Tensor>>, RunFailure> {
        lock(&self.calls).push(inputs[0].shape()[0]);
        let t = inputs[0];
        Ok(vec![Some(
            Tensor::from_blob(
                t.dtype(),
                Shape::from_slice(t.shape()),
                t.data(),
                Limits::UNLIMITED,
            )
            .unwrap(),
        )])
    }
    fn stats(&self) -> &RunStats {
        &self.stats
    }
}

/// A float tensor of `rows` × `cols`, every value `v`.
fn t(rows: i64, cols: i64, v: f32) -> Arc<Tensor> {
    let shape = Shape::from_slice(&[rows, cols]);
    let data: Vec<u8> = (0..rows * cols).flat_map(|_| v.to_ne_bytes()).collect();
    Arc::new(Tensor::from_blob(DType::Float, shape, &data, Limits::UNLIMITED).unwrap())
}

struct Silent;
impl Completion for Silent {
    fn finished(self: Box<Self>, _outcome: Outcome) {}
}

fn job(runner: &Arc<Fake>, input: Arc<Tensor>) -> Job {
    Job::new(runner.clone(), vec![input], None, Box::new(Silent))
}

/// The first input's rows of each job of a chosen run.
fn rows_of(work: Work) -> Vec<i64> {
    match work {
        Work::Run(jobs) => jobs.iter().map(|j| j.inputs[0].shape()[0]).collect(),
        Work::Expired(_) => panic!("expected a run, got an expired job"),
    }
}

#[test]
fn a_batch_joins_compatible_jobs_of_one_runner_up_to_batchsize() {
    let m = fake(4, 0, 0);
    let now = Instant::now();
    let mut q: VecDeque<Job> = [1, 2, 2].iter().map(|&r| job(&m, t(r, 3, 1.0))).collect();
    // 1 + 2 = 3 rows; the third would make 5 > BATCHSIZE 4 and waits for the next pick.
    assert_eq!(rows_of(choose(&mut q, now).ok().unwrap()), vec![1, 2]);
    assert_eq!(rows_of(choose(&mut q, now).ok().unwrap()), vec![2]);
    assert!(q.is_empty());
    assert!(matches!(choose(&mut q, now), Err(None)));
}

#[test]
fn incompatible_inputs_and_other_runners_do_not_join() {
    let a = fake(8, 0, 0);
    let b = fake(8, 0, 0);
    let now = Instant::now();
    let mut q: VecDeque<Job> = VecDeque::from(vec![
        job(&a, t(1, 3, 1.0)),
        job(&a, t(1, 4, 1.0)), // other trailing dimensions
        job(&b, t(1, 3, 1.0)), // same shape, other model
        job(&a, t(1, 3, 1.0)),
    ]);
    let first = choose(&mut q, now).ok().unwrap();
    let Work::Run(jobs) = first else { panic!() };
    assert_eq!(jobs.len(), 2, "the first and the last job of model a");
    assert!(jobs.iter().all(|j| j.inputs[0].shape() == [1, 3]));
    assert_eq!(q.len(), 2);
}

#[test]
fn a_job_as_large_as_batchsize_or_unbatchable_runs_alone() {
    let m = fake(2, 0, 0);
    let now = Instant::now();
    let mut q = VecDeque::from(vec![job(&m, t(2, 1, 1.0)), job(&m, t(1, 1, 1.0))]);
    assert_eq!(rows_of(choose(&mut q, now).ok().unwrap()), vec![2]);
    // A scalar input has no dimension 0 to batch along.
    let scalar = Arc::new(
        Tensor::from_blob(
            DType::Float,
            Shape::new(),
            &1f32.to_ne_bytes(),
            Limits::UNLIMITED,
        )
        .unwrap(),
    );
    let mut q = VecDeque::from(vec![job(&m, scalar), job(&m, t(1, 1, 1.0))]);
    let Work::Run(jobs) = choose(&mut q, now).ok().unwrap() else {
        panic!()
    };
    assert_eq!(jobs.len(), 1);
    assert!(jobs[0].inputs[0].shape().is_empty());
}

#[test]
fn minbatchsize_waits_for_company_then_minbatchtimeout_lets_it_run() {
    let forever = fake(8, 3, 0);
    let now = Instant::now();
    let mut q = VecDeque::from(vec![
        job(&forever, t(1, 1, 1.0)),
        job(&forever, t(1, 1, 1.0)),
    ]);
    assert!(
        matches!(choose(&mut q, now), Err(None)),
        "no timeout: wait for a third row"
    );
    q.push_back(job(&forever, t(1, 1, 1.0)));
    assert_eq!(rows_of(choose(&mut q, now).ok().unwrap()), vec![1, 1, 1]);

    let timed = fake(8, 3, 10);
    let mut q = VecDeque::from(vec![job(&timed, t(1, 1, 1.0))]);
    let enqueued = q[0].enqueued;
    let ready_at = enqueued + Duration::from_millis(10);
    match choose(&mut q, enqueued) {
        Err(Some(at)) => assert_eq!(at, ready_at),
        _ => panic!("expected to wait until MINBATCHTIMEOUT"),
    }
    assert_eq!(rows_of(choose(&mut q, ready_at).ok().unwrap()), vec![1]);
}

#[test]
fn a_job_past_its_timeout_expires_even_behind_others() {
    let m = fake(0, 0, 0);
    let now = Instant::now();
    let mut q = VecDeque::from(vec![
        job(&m, t(1, 1, 1.0)),
        Job::new(m.clone(), vec![t(1, 1, 2.0)], Some(now), Box::new(Silent)),
    ]);
    assert!(matches!(choose(&mut q, now), Ok(Work::Expired(_))));
    assert_eq!(q.len(), 1);

    // A deadline still ahead is when a waiting worker must look again.
    let waiting = fake(8, 2, 0);
    let later = now + Duration::from_millis(50);
    let mut q = VecDeque::from(vec![Job::new(
        waiting.clone(),
        vec![t(1, 1, 1.0)],
        Some(later),
        Box::new(Silent),
    )]);
    assert!(matches!(choose(&mut q, now), Err(Some(at)) if at == later));
}

#[test]
fn a_model_waiting_for_a_batch_does_not_hold_back_others() {
    let waiting = fake(8, 4, 0);
    let other = fake(0, 0, 0);
    let now = Instant::now();
    let mut q = VecDeque::from(vec![
        job(&waiting, t(1, 1, 1.0)),
        job(&other, t(1, 1, 2.0)),
        job(&waiting, t(1, 1, 3.0)),
    ]);
    let Work::Run(jobs) = choose(&mut q, now).ok().unwrap() else {
        panic!()
    };
    assert_eq!(jobs.len(), 1);
    assert!(std::ptr::addr_eq(
        Arc::as_ptr(&jobs[0].runner),
        Arc::as_ptr(&other)
    ));
    assert_eq!(q.len(), 2, "the waiting model's two rows stay queued");
}

struct Sends(mpsc::Sender<Outcome>);
impl Completion for Sends {
    fn finished(self: Box<Self>, outcome: Outcome) {
        let _ = self.0.send(outcome);
    }
}

#[test]
fn a_queue_runs_a_batch_once_and_gives_each_job_its_rows() {
    let m = fake(4, 4, 0);
    let q = queue("exec-test-queue", 1).unwrap();
    let (tx, rx) = mpsc::channel();
    // MINBATCHSIZE 4: the worker waits until all four rows are queued, then runs them as one.
    for (rows, v) in [(1, 1.0), (2, 2.0)] {
        q.push(Job::new(
            m.clone(),
            vec![t(rows, 2, v)],
            None,
            Box::new(Sends(tx.clone())),
        ));
    }
    assert!(rx.recv_timeout(Duration::from_millis(50)).is_err());
    q.push(Job::new(
        m.clone(),
        vec![t(1, 2, 3.0)],
        None,
        Box::new(Sends(tx)),
    ));
    let outcomes: Vec<Outcome> = (0..3)
        .map(|_| rx.recv_timeout(Duration::from_secs(5)).unwrap())
        .collect();
    assert_eq!(*lock(&m.calls), vec![4]);
    let mut got: Vec<(i64, Vec<u8>)> = outcomes
        .into_iter()
        .map(|o| match o {
            Outcome::Outputs(mut outs) => {
                let t = outs.remove(0).unwrap();
                (t.shape()[0], t.data().to_vec())
            }
            other => panic!("unexpected outcome {other:?}"),
        })
        .collect();
    let row = |v: f32| -> Vec<u8> { [v, v].iter().flat_map(|x| x.to_ne_bytes()).collect() };
    got.sort();
    let rows: Vec<i64> = got.iter().map(|g| g.0).collect();
    assert_eq!(rows, vec![1, 1, 2]);
    assert!(got.contains(&(1, row(1.0))) && got.contains(&(1, row(3.0))));
    assert!(got.contains(&(2, [row(2.0), row(2.0)].concat())));
    assert_eq!(m.stats.counters().calls, 3);
}

#[test]
fn pace_learns_per_row_falls_fast_and_rises_slowly() {
    let pace = Pace::default();
    assert_eq!(pace.estimate(1), None, "nothing is known before a run");
    pace.observe(Duration::from_micros(800), 2);
    assert_eq!(pace.estimate(1), Some(Duration::from_micros(400)));
    assert_eq!(pace.estimate(3), Some(Duration::from_micros(1200)));
    // Half-way down per faster run (warm-up and cold first runs fade quickly).
    pace.observe(Duration::from_micros(10), 1);
    assert_eq!(pace.estimate(1), Some(Duration::from_micros(205)));
    // An eighth of the way up per slower one: a stray slow run moves it a little...
    pace.observe(Duration::from_micros(285), 1);
    assert_eq!(pace.estimate(1), Some(Duration::from_micros(215)));
    // ...and a model that became much slower is far above any small limit after one run.
    pace.observe(Duration::from_millis(100), 1);
    assert!(pace.estimate(1).unwrap() > Duration::from_millis(12));
}

#[test]
fn busy_counts_outstanding_plans_until_dropped() {
    let pace = Arc::new(Pace::default());
    assert!(pace.idle());
    let a = Busy::new(&pace);
    let b = Busy::new(&pace);
    drop(a);
    assert!(!pace.idle());
    drop(b);
    assert!(pace.idle());
}
