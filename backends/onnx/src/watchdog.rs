//! Stops runs that exceed MODEL_EXECUTION_TIMEOUT.
//!
//! Concurrency: worker threads register a run (`watch`) before calling ONNX Runtime and
//! deregister it (`Ticket::finish`) after; one watchdog thread sleeps on a condition variable
//! until the earliest deadline and sets the terminate flag of overdue runs. One mutex guards
//! the table; nobody holds it while ONNX Runtime runs. `terminate` is documented as safe to
//! call from another thread while the run is in progress. A run that finishes between the
//! watchdog's check and its `terminate` call is harmless: its options are not reused.
//!
//! The watchdog is woken only when a new run's deadline is earlier than the moment it already
//! sleeps until (in practice: when it sleeps with nothing to watch). Waking it for every run
//! cost two context switches per call, tens of microseconds on a busy CPU. A finished run is
//! not announced either: the watchdog finds it gone at its next deadline and sleeps on.

use std::collections::BTreeMap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use ort::session::RunOptions;

struct Run {
    deadline: Instant,
    options: Arc<RunOptions>,
    fired: bool,
}

#[derive(Default)]
struct Table {
    next: u64,
    runs: BTreeMap<u64, Run>,
    /// When the watchdog wakes by itself: `None` while it sleeps without a deadline.
    wakes_at: Option<Instant>,
}

struct Shared {
    table: Mutex<Table>,
    wake: Condvar,
    timeout: Duration,
}

pub struct Watchdog {
    shared: Arc<Shared>,
}

/// A registered run; `finish` deregisters it and says whether it was stopped.
pub struct Ticket {
    shared: Arc<Shared>,
    id: u64,
}

impl Watchdog {
    pub fn start(timeout: Duration) -> Watchdog {
        let shared = Arc::new(Shared {
            // Until the thread first sleeps, it will scan anyway: nobody needs to wake it.
            table: Mutex::new(Table {
                wakes_at: Some(Instant::now()),
                ..Table::default()
            }),
            wake: Condvar::new(),
            timeout,
        });
        let s = shared.clone();
        // The thread lives as long as the process, like the plugin.
        let _ = std::thread::Builder::new()
            .name("redisai-onnx-watchdog".into())
            .spawn(move || watch_loop(&s));
        Watchdog { shared }
    }

    pub fn watch(&self, options: Arc<RunOptions>) -> Ticket {
        let mut t = self.shared.table.lock().unwrap_or_else(|p| p.into_inner());
        let id = t.next;
        t.next += 1;
        let deadline = Instant::now() + self.shared.timeout;
        t.runs.insert(
            id,
            Run {
                deadline,
                options,
                fired: false,
            },
        );
        let wake = t.wakes_at.map_or(true, |at| deadline < at);
        if wake {
            t.wakes_at = Some(deadline);
        }
        drop(t);
        if wake {
            self.shared.wake.notify_one();
        }
        Ticket {
            shared: self.shared.clone(),
            id,
        }
    }
}

impl Ticket {
    pub fn finish(self) -> bool {
        let mut t = self.shared.table.lock().unwrap_or_else(|p| p.into_inner());
        t.runs.remove(&self.id).is_some_and(|r| r.fired)
    }
}

fn watch_loop(s: &Shared) {
    let mut t = s.table.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        let now = Instant::now();
        let mut next: Option<Instant> = None;
        for run in t.runs.values_mut().filter(|r| !r.fired) {
            if run.deadline <= now {
                let _ = run.options.terminate();
                run.fired = true;
            } else {
                next = Some(next.map_or(run.deadline, |n| n.min(run.deadline)));
            }
        }
        t.wakes_at = next;
        t = match next {
            Some(deadline) => {
                s.wake
                    .wait_timeout(t, deadline.saturating_duration_since(now))
                    .unwrap_or_else(|p| p.into_inner())
                    .0
            }
            None => s.wake.wait(t).unwrap_or_else(|p| p.into_inner()),
        };
    }
}
