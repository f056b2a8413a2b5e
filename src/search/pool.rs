//! The threads that run searches. A search is a closure; the pool runs it on the first free
//! thread. Threads start on first use, so a server that never searches has none.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, OnceLock};

type Job = Box<dyn FnOnce() + Send>;

struct Pool {
    jobs: Mutex<VecDeque<Job>>,
    ready: Condvar,
}

static POOL: OnceLock<&'static Pool> = OnceLock::new();

/// Searches run at most this many at a time; more wait in the queue. Two cover a small box and
/// leave the main thread a core; larger machines get up to four.
fn threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 4))
}

fn pool() -> Option<&'static Pool> {
    let pool = POOL.get_or_init(|| {
        let pool: &'static Pool = Box::leak(Box::new(Pool {
            jobs: Mutex::new(VecDeque::new()),
            ready: Condvar::new(),
        }));
        for i in 0..threads() {
            let _ = std::thread::Builder::new()
                .name(format!("ai-search-{i}"))
                .spawn(move || work(pool));
        }
        pool
    });
    Some(pool)
}

fn work(pool: &'static Pool) {
    loop {
        let job = {
            let mut jobs = pool.jobs.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                if let Some(j) = jobs.pop_front() {
                    break j;
                }
                jobs = pool.ready.wait(jobs).unwrap_or_else(|e| e.into_inner());
            }
        };
        // A panicking search must not take the thread with it; the job's own guard replies.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
    }
}

/// Queues `job`; it runs on a pool thread.
pub fn spawn(job: impl FnOnce() + Send + 'static) {
    if let Some(pool) = pool() {
        pool.jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back(Box::new(job));
        pool.ready.notify_one();
    }
}
