//! The threads that run searches, and the vector index rebuilds beside them: one pool, two
//! lanes.
//!
//! - **Searches** ([`spawn`]) run first come, first served, at most [`search_threads`] at a
//!   time — as many as the pool had threads before it had lanes, so the main thread keeps its
//!   share of a small machine.
//! - **Background work** ([`spawn_background`]: HNSW rebuilds, seconds each on a large index)
//!   runs one job at a time, on the pool's one thread beyond the search threads. A rebuild
//!   therefore never takes a search's place, and two rebuilds never run at once (each holds
//!   a copy of its index's vectors while it builds). Before this pool, each rebuild had a
//!   thread of its own, started ad hoc, any number at once.
//!
//! Threads start on first use, so a server that never searches has none. A thread that fails
//! to start is tried again on the next call. [`spawn`] fails — and hands the job back — only
//! when the pool has no thread at all: a job is never queued where nothing will run it (a
//! blocked FT.SEARCH client would wait forever). Should only some threads start, the lanes
//! share them: a search may then wait for a rebuild to finish.
//!
//! Locks: the queue mutex is held only to push and pop jobs, never while a job runs. Jobs
//! take the index locks themselves (see the essay in `search/mod.rs`); a job never waits for
//! another job, so the lanes cannot deadlock.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

type Job = Box<dyn FnOnce() + Send>;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Lane {
    Search,
    Background,
}

struct State {
    searches: VecDeque<Job>,
    background: VecDeque<Job>,
    running_searches: usize,
    background_running: bool,
    /// Threads started so far.
    threads: usize,
}

struct Pool {
    state: Mutex<State>,
    ready: Condvar,
    /// Searches that may run at once.
    max_searches: usize,
    /// Threads the pool wants: the search threads plus one for the background lane.
    want_threads: usize,
    /// Starts one worker thread (a parameter so tests can make it fail).
    start: fn(&'static Pool, usize) -> std::io::Result<()>,
}

/// Searches run at most this many at a time; more wait in the queue. Two cover a small box and
/// leave the main thread a core; larger machines get up to four.
pub fn search_threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 4))
}

static POOL: std::sync::OnceLock<&'static Pool> = std::sync::OnceLock::new();

fn pool() -> &'static Pool {
    POOL.get_or_init(|| {
        let searches = search_threads();
        Pool::leak(searches, searches + 1, start_thread)
    })
}

fn start_thread(pool: &'static Pool, i: usize) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name(format!("ai-search-{i}"))
        .spawn(move || pool.work())
        .map(drop)
}

/// A job the pool could not take: no worker thread exists and none could be started. It
/// carries the job back, for the caller to run where it is or to drop.
pub struct SpawnError {
    job: Job,
    cause: std::io::Error,
}

/// When a refusal was last found worth logging.
static LAST_LOGGED: Mutex<Option<Instant>> = Mutex::new(None);

/// Refusals are logged at most this often: when threads cannot start, every threaded search
/// and every write that asks for a rebuild is refused.
const LOG_EVERY: Duration = Duration::from_secs(60);

impl SpawnError {
    /// Runs the refused job on the calling thread, catching a panic as a pool thread would.
    pub fn run_here(self) {
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(self.job));
    }

    /// Whether the caller should log this refusal: the first one, then one a minute.
    pub fn worth_logging(&self) -> bool {
        let mut last = LAST_LOGGED.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if last.is_some_and(|t| now.duration_since(t) < LOG_EVERY) {
            return false;
        }
        *last = Some(now);
        true
    }
}

impl fmt::Display for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "no search thread could be started: {}", self.cause)
    }
}

impl fmt::Debug for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpawnError({})", self.cause)
    }
}

/// Queues a search; it runs on a pool thread. Fails, handing `job` back, when the pool has
/// no thread.
pub fn spawn(job: impl FnOnce() + Send + 'static) -> Result<(), SpawnError> {
    pool().submit(Lane::Search, Box::new(job))
}

/// Queues background work (an index rebuild); it runs on a pool thread, one such job at a
/// time, never in a search's place. Fails, handing `job` back, when the pool has no thread.
pub fn spawn_background(job: impl FnOnce() + Send + 'static) -> Result<(), SpawnError> {
    pool().submit(Lane::Background, Box::new(job))
}

impl Pool {
    fn leak(
        max_searches: usize,
        want_threads: usize,
        start: fn(&'static Pool, usize) -> std::io::Result<()>,
    ) -> &'static Pool {
        Box::leak(Box::new(Pool {
            state: Mutex::new(State {
                searches: VecDeque::new(),
                background: VecDeque::new(),
                running_searches: 0,
                background_running: false,
                threads: 0,
            }),
            ready: Condvar::new(),
            max_searches,
            want_threads,
            start,
        }))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn submit(&'static self, lane: Lane, job: Job) -> Result<(), SpawnError> {
        let mut state = self.lock();
        while state.threads < self.want_threads {
            match (self.start)(self, state.threads) {
                Ok(()) => state.threads += 1,
                Err(cause) if state.threads == 0 => return Err(SpawnError { job, cause }),
                Err(_) => break,
            }
        }
        match lane {
            Lane::Search => state.searches.push_back(job),
            Lane::Background => state.background.push_back(job),
        }
        drop(state);
        // Every waiting thread is idle, and an idle thread can take any job a cap does not
        // hold back; a job held back is taken by the thread whose job ends (see `work`).
        self.ready.notify_one();
        Ok(())
    }

    /// The next job a thread may take, if any: a search while fewer than `max_searches` run,
    /// else background work while none runs. Searches go first.
    fn take(&self, state: &mut State) -> Option<(Job, Lane)> {
        if state.running_searches < self.max_searches {
            if let Some(job) = state.searches.pop_front() {
                state.running_searches += 1;
                return Some((job, Lane::Search));
            }
        }
        if !state.background_running {
            if let Some(job) = state.background.pop_front() {
                state.background_running = true;
                return Some((job, Lane::Background));
            }
        }
        None
    }

    fn work(&'static self) {
        loop {
            let (job, lane) = {
                let mut state = self.lock();
                loop {
                    if let Some(next) = self.take(&mut state) {
                        break next;
                    }
                    state = self.ready.wait(state).unwrap_or_else(|e| e.into_inner());
                }
            };
            // A panicking job must not take the thread with it; the job's own guard replies.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
            let mut state = self.lock();
            match lane {
                Lane::Search => state.running_searches -= 1,
                Lane::Background => state.background_running = false,
            }
            drop(state);
            // A job its lane's cap held back may run now, on a thread that is waiting.
            self.ready.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;
    use std::sync::Arc;
    use std::time::Duration;

    fn refuse(_: &'static Pool, _: usize) -> std::io::Result<()> {
        Err(std::io::Error::other("no threads here"))
    }

    #[test]
    fn a_pool_without_threads_hands_the_job_back() {
        let pool = Pool::leak(2, 3, refuse);
        let ran = Arc::new(AtomicUsize::new(0));
        let r = ran.clone();
        let refused = pool
            .submit(
                Lane::Search,
                Box::new(move || {
                    r.fetch_add(1, Ordering::SeqCst);
                }),
            )
            .unwrap_err();
        assert_eq!(
            refused.to_string(),
            "no search thread could be started: no threads here"
        );
        assert_eq!(ran.load(Ordering::SeqCst), 0);
        // The first refusal is worth a log line; the next, moments later, is not.
        assert!(refused.worth_logging());
        refused.run_here();
        assert_eq!(ran.load(Ordering::SeqCst), 1);
        // A panicking job run here is caught, as on a pool thread.
        let refused = pool
            .submit(Lane::Background, Box::new(|| panic!("boom")))
            .unwrap_err();
        assert!(!refused.worth_logging());
        refused.run_here();
        assert!(pool.lock().searches.is_empty() && pool.lock().background.is_empty());
    }

    #[test]
    fn searches_run_beside_a_long_background_job_and_background_jobs_run_one_at_a_time() {
        let pool = Pool::leak(2, 3, start_thread);
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let release_rx = Arc::new(Mutex::new(release_rx));
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let (done_tx, done_rx) = mpsc::channel::<&'static str>();
        for _ in 0..2 {
            let (release_rx, running, most, done) = (
                release_rx.clone(),
                running.clone(),
                most.clone(),
                done_tx.clone(),
            );
            pool.submit(
                Lane::Background,
                Box::new(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    let _ = release_rx.lock().unwrap().recv();
                    running.fetch_sub(1, Ordering::SeqCst);
                    done.send("background").unwrap();
                }),
            )
            .unwrap();
        }
        // While the first background job waits, searches still run, on both search threads.
        for _ in 0..4 {
            let done = done_tx.clone();
            pool.submit(Lane::Search, Box::new(move || done.send("search").unwrap()))
                .unwrap();
        }
        for _ in 0..4 {
            let got = done_rx.recv_timeout(Duration::from_secs(10)).unwrap();
            assert_eq!(got, "search");
        }
        release_tx.send(()).unwrap();
        release_tx.send(()).unwrap();
        for _ in 0..2 {
            let got = done_rx.recv_timeout(Duration::from_secs(10)).unwrap();
            assert_eq!(got, "background");
        }
        assert_eq!(most.load(Ordering::SeqCst), 1);
        assert_eq!(pool.lock().threads, 3);
    }

    #[test]
    fn a_panicking_job_keeps_its_thread() {
        let pool = Pool::leak(1, 1, start_thread);
        pool.submit(Lane::Search, Box::new(|| panic!("boom")))
            .unwrap();
        let (tx, rx) = mpsc::channel();
        pool.submit(Lane::Search, Box::new(move || tx.send(()).unwrap()))
            .unwrap();
        rx.recv_timeout(Duration::from_secs(10)).unwrap();
    }
}
