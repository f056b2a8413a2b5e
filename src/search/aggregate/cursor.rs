//! WITHCURSOR's state: the rows an FT.AGGREGATE has not sent yet, kept until FT.CURSOR READ
//! takes them, FT.CURSOR DEL drops them, they sit idle past their MAXIDLE, or their index is
//! dropped. Bounded: at most [`PER_INDEX`] cursors per index (RediSearch's default capacity)
//! and [`TOTAL`] in all; each holds at most the rows one aggregation made.
//!
//! Only the main thread touches the store (commands and FT.DROPINDEX); the `Mutex` is there
//! because statics must be `Sync`.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use super::Row;
use crate::search::Index;

pub const PER_INDEX: usize = 128;
pub const TOTAL: usize = 4096;
/// MAXIDLE's default and largest value (RediSearch's `CURSOR_MAX_IDLE`), in ms.
pub const MAX_IDLE_MS: u64 = 300_000;
/// Rows per read when WITHCURSOR gives no COUNT.
pub const DEFAULT_COUNT: usize = 1000;

pub struct Cursor {
    pub index: Weak<Index>,
    /// The ACL user that made it: only that user may read it.
    pub user: Option<Vec<u8>>,
    pub names: Vec<String>,
    pub rows: VecDeque<Row>,
    pub count: usize,
    pub total: usize,
    pub max_idle: Duration,
    pub last_used: Instant,
}

#[derive(Default)]
pub struct Store {
    cursors: HashMap<u64, Cursor>,
    seed: u64,
}

static STORE: Mutex<Option<Store>> = Mutex::new(None);

pub fn store() -> MutexGuard<'static, Option<Store>> {
    STORE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Why a cursor could not be made.
#[derive(Debug, PartialEq)]
pub enum Refused {
    TooManyForIndex,
    TooMany,
}

impl Store {
    /// Drops cursors idle too long and those whose index is gone.
    pub fn sweep(&mut self, now: Instant) {
        self.cursors.retain(|_, c| {
            c.index.strong_count() > 0 && now.duration_since(c.last_used) <= c.max_idle
        });
    }

    pub fn add(&mut self, cursor: Cursor) -> Result<u64, Refused> {
        self.sweep(Instant::now());
        if self.cursors.len() >= TOTAL {
            return Err(Refused::TooMany);
        }
        let same = self
            .cursors
            .values()
            .filter(|c| c.index.ptr_eq(&cursor.index))
            .count();
        if same >= PER_INDEX {
            return Err(Refused::TooManyForIndex);
        }
        loop {
            // Ids are hard to guess (a client cannot read another's cursor by counting), and
            // never 0, which means "no more".
            self.seed = self
                .seed
                .wrapping_add(0x9e37_79b9_7f4a_7c15)
                .wrapping_add(Instant::now().elapsed().as_nanos() as u64);
            let mut z = self.seed ^ (std::process::id() as u64) << 32;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            let id = z & 0x7fff_ffff_ffff;
            if id != 0 && !self.cursors.contains_key(&id) {
                self.cursors.insert(id, cursor);
                return Ok(id);
            }
        }
    }

    /// The cursor `id` of `index`, if `user` made it.
    pub fn get(
        &mut self,
        id: u64,
        index: &Arc<Index>,
        user: &Option<Vec<u8>>,
    ) -> Option<&mut Cursor> {
        self.sweep(Instant::now());
        self.cursors
            .get_mut(&id)
            .filter(|c| std::ptr::eq(c.index.as_ptr(), Arc::as_ptr(index)) && c.user == *user)
    }

    pub fn remove(&mut self, id: u64) -> Option<Cursor> {
        self.cursors.remove(&id)
    }

    /// Ends every cursor of `index` (FT.DROPINDEX).
    pub fn drop_index(&mut self, index: &Arc<Index>) {
        self.cursors
            .retain(|_, c| !std::ptr::eq(c.index.as_ptr(), Arc::as_ptr(index)));
    }

    /// Open cursors of `index`, and of every index (FT.INFO's `cursor_stats`).
    pub fn counts(&self, index: &Index) -> (usize, usize) {
        let mine = self
            .cursors
            .values()
            .filter(|c| std::ptr::eq(c.index.as_ptr(), index))
            .count();
        (mine, self.cursors.len())
    }
}

/// Runs `f` on the store (made on first use).
pub fn with<T>(f: impl FnOnce(&mut Store) -> T) -> T {
    let mut guard = store();
    f(guard.get_or_insert_with(Store::default))
}
