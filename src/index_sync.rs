//! The sync engine: keeping the search indexes equal to the keyspace. Keyspace events, the
//! initial scan of existing keys, flushes, RDB loading and the index definitions saved as RDB
//! aux data. Redis glue around the pure engine in `search/`.
//!
//! Every index covers database 0 only (as RediSearch on a single shard): events from other
//! databases are ignored. Everything here runs on the main thread; the lock rules are in
//! `search/mod.rs`.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

use redis_module::raw::{self, RedisModuleIO, RedisModuleKey, RedisModuleScanCursor};

use crate::redis::{
    api, log, string_bytes, Ctx, Key, Level, OwnedString, RedisModuleCtx, RedisModuleString,
};
use crate::redis::{guard, json};
use crate::search::index::{DocMeta, FieldInput};
use crate::search::json as search_json;
use crate::search::schema::KeyType;
use crate::search::{registry, schema, Index, INDEX_COUNT};

/// Keyspace events that mean the key is gone from database 0 under this name.
const GONE: &[&[u8]] = &[b"del", b"expired", b"evicted", b"rename_from", b"move_from"];

/// The event types the hook listens to: every write, plus keys loaded from an RDB.
pub fn subscribe(ctx: *mut RedisModuleCtx) -> Result<(), String> {
    let types = raw::NotifyEvent::GENERIC
        | raw::NotifyEvent::STRING
        | raw::NotifyEvent::LIST
        | raw::NotifyEvent::SET
        | raw::NotifyEvent::HASH
        | raw::NotifyEvent::ZSET
        | raw::NotifyEvent::EXPIRED
        | raw::NotifyEvent::EVICTED
        | raw::NotifyEvent::STREAM
        | raw::NotifyEvent::MODULE
        | raw::NotifyEvent::LOADED;
    // SAFETY: OnLoad context; the callback is a 'static function.
    let status = unsafe {
        api!(RedisModule_SubscribeToKeyspaceEvents)(ctx, types.bits(), Some(on_keyspace_event))
    };
    if status != raw::REDISMODULE_OK as c_int {
        return Err("could not subscribe to keyspace events".into());
    }
    for (id, callback) in [
        (raw::REDISMODULE_EVENT_FLUSHDB, on_flush as ServerEventFn),
        (raw::REDISMODULE_EVENT_LOADING, on_loading),
        (raw::REDISMODULE_EVENT_SWAPDB, on_swapdb),
    ] {
        // SAFETY: OnLoad context; 'static callbacks.
        unsafe {
            api!(RedisModule_SubscribeToServerEvent)(
                ctx,
                raw::RedisModuleEvent { id, dataver: 1 },
                Some(callback),
            )
        };
    }
    Ok(())
}

type ServerEventFn =
    unsafe extern "C" fn(*mut RedisModuleCtx, raw::RedisModuleEvent, u64, *mut c_void);

fn selected_db(ctx: *mut RedisModuleCtx) -> c_int {
    // SAFETY: live context.
    unsafe { api!(RedisModule_GetSelectedDb)(ctx) }
}

unsafe extern "C" fn on_keyspace_event(
    ctx: *mut RedisModuleCtx,
    _type: c_int,
    event: *const c_char,
    key: *mut RedisModuleString,
) -> c_int {
    if INDEX_COUNT.load(Ordering::Relaxed) == 0 || selected_db(ctx) != 0 {
        return raw::REDISMODULE_OK as c_int;
    }
    guard("keyspace event", (), || {
        // SAFETY: the server passes a NUL-terminated event name.
        let event = unsafe { CStr::from_ptr(event) }.to_bytes();
        let name = string_bytes(key);
        let indexes: Vec<Arc<Index>> = registry().covering(name).cloned().collect();
        if indexes.is_empty() {
            return;
        }
        if GONE.contains(&event) {
            for index in &indexes {
                forget(index, name);
            }
            return;
        }
        // Any other event may have changed the key's type or fields: read it again. The
        // name is copied: for "loaded" the server passes a key object on its stack, which
        // OpenKey must not retain.
        let owned = OwnedString::new(name);
        // SAFETY: the keyspace event's live context.
        let c = unsafe { Ctx::from_raw(ctx) };
        let k = c.open_key(owned.as_ptr(), false);
        for index in &indexes {
            match index.def.key_type {
                KeyType::Hash => reindex(index, name, &k),
                KeyType::Json => reindex_json(ctx, index, name, owned.as_ptr()),
            }
        }
    });
    raw::REDISMODULE_OK as c_int
}

/// Rebuilds vector indexes that asked for it, in the search pool's background lane: a rebuild
/// takes seconds on a large index, so it runs one at a time, beside the searches rather than
/// in their place. A rebuild no thread can take is called off (the next write asks again).
fn spawn_rebuilds(index: &Arc<Index>, jobs: Vec<crate::search::index::RebuildJob>) {
    for job in jobs {
        let task = index.clone();
        let spawned = crate::search::pool::spawn_background(move || {
            guard("vector index rebuild", (), || {
                crate::search::index::rebuild(&task.def, &task.data, job)
            })
        });
        if let Err(e) = spawned {
            if e.worth_logging() {
                log(
                    Level::Warning,
                    &format!("could not start a vector index rebuild: {e}"),
                );
            }
            index.write().cancel_rebuild(&job);
        }
    }
}

/// Takes `name` out of `index`, rebuilding its vector indexes if tombstones piled up.
fn forget(index: &Arc<Index>, name: &[u8]) {
    let jobs = {
        let mut data = index.write();
        data.remove(name);
        data.start_rebuilds()
    };
    spawn_rebuilds(index, jobs);
}

/// Brings `index`'s view of `name` up to date with the open key `key`.
fn reindex(index: &Arc<Index>, name: &[u8], key: &Key) {
    if !key.is_hash() {
        forget(index, name);
        return;
    }
    let values: Vec<Option<OwnedString>> = index
        .def
        .fields
        .iter()
        .map(|f| key.hash_get(&f.identifier))
        .collect();
    let raw: Vec<FieldInput> = values
        .iter()
        .map(|v| match v {
            Some(s) => FieldInput::Bytes(s.bytes()),
            None => FieldInput::Missing,
        })
        .collect();
    let def = &index.def;
    let read = |f: &Option<Vec<u8>>| f.as_ref().and_then(|f| key.hash_get(f));
    let (language, score, payload) = (
        read(&def.language_field),
        read(&def.score_field),
        read(&def.payload_field),
    );
    let meta = DocMeta::from_raw(
        language.as_ref().map(|v| v.bytes()),
        score.as_ref().map(|v| v.bytes()),
        payload.as_ref().map(|v| v.bytes()),
    );
    let started = Instant::now();
    // A failure is counted and remembered by the index itself (FT.INFO shows it).
    index.touch();
    let jobs = {
        let mut data = index.write();
        let _ = data.upsert_with(def, name, &raw, meta);
        data.start_rebuilds()
    };
    spawn_rebuilds(index, jobs);
    index.indexing_ms.fetch_add(
        started.elapsed().as_micros() as u64 / 1000,
        Ordering::Relaxed,
    );
}

/// Brings `index`'s view of `name` up to date with the JSON document stored there, read
/// through RedisJSON's API (`keyname` is the key's name as a server string).
fn reindex_json(
    ctx: *mut RedisModuleCtx,
    index: &Arc<Index>,
    name: &[u8],
    keyname: *mut RedisModuleString,
) {
    let doc = json::api(ctx).and_then(|api| api.open(ctx, keyname));
    let Some(doc) = doc else {
        // Not a JSON key (any more), or no JSON module to read it with.
        forget(index, name);
        return;
    };
    let started = Instant::now();
    let def = &index.def;
    let mut inputs = Vec::with_capacity(def.fields.len());
    let mut refused = None;
    for (i, field) in def.fields.iter().enumerate() {
        let found = doc.select(&search_json::path_of(&field.identifier));
        let split = def.tag_split.get(i).copied().unwrap_or(false);
        match search_json::field_input(&field.kind, split, &found) {
            Ok(input) => inputs.push(input),
            Err(e) => {
                refused = Some((i, e));
                break;
            }
        }
    }
    index.touch();
    let jobs = {
        let mut data = index.write();
        match refused {
            Some((field, e)) => data.reject(name, field, &e),
            None => {
                let _ = data.upsert(def, name, &inputs);
            }
        }
        data.start_rebuilds()
    };
    spawn_rebuilds(index, jobs);
    index.indexing_ms.fetch_add(
        started.elapsed().as_micros() as u64 / 1000,
        Ordering::Relaxed,
    );
}

// ---------------------------------------------------------------------------------------------
// The initial scan.

struct Scan {
    index: Weak<Index>,
    cursor: *mut RedisModuleScanCursor,
    seen: u64,
    expected: u64,
}

// SAFETY: the cursor is only used on the main thread; the Mutex around the list exists
// because statics must be Sync.
unsafe impl Send for Scan {}

impl Drop for Scan {
    fn drop(&mut self) {
        // SAFETY: created by ScanCursorCreate, destroyed once.
        unsafe { api!(RedisModule_ScanCursorDestroy)(self.cursor) };
    }
}

static SCANS: Mutex<Vec<Scan>> = Mutex::new(Vec::new());
static TIMER_ARMED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Keys visited per scan slice before yielding to clients.
const SLICE_KEYS: u64 = 2000;

/// Starts indexing the keys that already exist: a first slice now (a small keyspace is then
/// indexed before FT.CREATE replies), the rest from a timer, a slice per tick, so the server
/// keeps serving meanwhile. Keyspace events keep scanned keys current in between.
pub fn start_scan(ctx: *mut RedisModuleCtx, index: &Arc<Index>) {
    with_db0(ctx, || {
        // SAFETY: live context.
        let expected = unsafe { api!(RedisModule_DbSize)(ctx) };
        index.indexing.store(true, Ordering::Relaxed);
        index.progress_ppm.store(0, Ordering::Relaxed);
        // SAFETY: plain constructor.
        let cursor = unsafe { api!(RedisModule_ScanCursorCreate)() };
        let mut scan = Scan {
            index: Arc::downgrade(index),
            cursor,
            seen: 0,
            expected,
        };
        if scan_slice(ctx, &mut scan) {
            SCANS.lock().unwrap_or_else(|e| e.into_inner()).push(scan);
            arm_timer(ctx);
        }
    });
}

/// Forgets running scans (the keyspace is about to be replaced).
fn stop_scans() {
    SCANS.lock().unwrap_or_else(|e| e.into_inner()).clear();
}

fn with_db0<R>(ctx: *mut RedisModuleCtx, f: impl FnOnce() -> R) -> R {
    let db = selected_db(ctx);
    if db != 0 {
        // SAFETY: live context; database 0 always exists.
        unsafe { api!(RedisModule_SelectDb)(ctx, 0) };
    }
    let r = f();
    if db != 0 {
        // SAFETY: restores the client's own database.
        unsafe { api!(RedisModule_SelectDb)(ctx, db) };
    }
    r
}

fn arm_timer(ctx: *mut RedisModuleCtx) {
    if !TIMER_ARMED.swap(true, Ordering::Relaxed) {
        // SAFETY: live context; 'static callback.
        unsafe { api!(RedisModule_CreateTimer)(ctx, 1, Some(on_scan_timer), std::ptr::null_mut()) };
    }
}

unsafe extern "C" fn on_scan_timer(ctx: *mut RedisModuleCtx, _data: *mut c_void) {
    TIMER_ARMED.store(false, Ordering::Relaxed);
    guard("index scan", (), || {
        let more = with_db0(ctx, || {
            let mut scans = SCANS.lock().unwrap_or_else(|e| e.into_inner());
            scans.retain_mut(|s| scan_slice(ctx, s));
            !scans.is_empty()
        });
        if more {
            arm_timer(ctx);
        }
    });
}

struct Visit<'a> {
    index: &'a Arc<Index>,
    visited: u64,
}

/// Indexes up to [`SLICE_KEYS`] keys; `false` when the scan is over.
fn scan_slice(ctx: *mut RedisModuleCtx, scan: &mut Scan) -> bool {
    let Some(index) = scan.index.upgrade() else {
        return false;
    };
    let mut visit = Visit {
        index: &index,
        visited: 0,
    };
    let mut more = true;
    while more && visit.visited < SLICE_KEYS {
        // SAFETY: live context with database 0 selected; the callback gets `visit` back.
        more = unsafe {
            api!(RedisModule_Scan)(
                ctx,
                scan.cursor,
                Some(scan_one),
                &mut visit as *mut Visit as *mut c_void,
            )
        } != 0;
    }
    scan.seen += visit.visited;
    let ppm = if more {
        (scan.seen * 1_000_000 / scan.expected.max(1)).min(999_999)
    } else {
        1_000_000
    };
    index.progress_ppm.store(ppm, Ordering::Relaxed);
    if !more {
        index.indexing.store(false, Ordering::Relaxed);
    }
    more
}

unsafe extern "C" fn scan_one(
    ctx: *mut RedisModuleCtx,
    keyname: *mut RedisModuleString,
    key: *mut RedisModuleKey,
    privdata: *mut c_void,
) {
    // SAFETY: the Visit passed to RedisModule_Scan by scan_slice, alive for the call.
    let visit = unsafe { &mut *(privdata as *mut Visit) };
    visit.visited += 1;
    let name = string_bytes(keyname);
    if !visit.index.def.covers(name) {
        return;
    }
    guard("index scan", (), || {
        if visit.index.def.key_type == KeyType::Json {
            reindex_json(ctx, visit.index, name, keyname);
        } else if key.is_null() {
            // SAFETY: the scan callback's live context.
            let ctx = unsafe { Ctx::from_raw(ctx) };
            reindex(visit.index, name, &ctx.open_key(keyname, false));
        } else {
            // SAFETY: the server keeps the key open for the duration of this callback.
            reindex(visit.index, name, &unsafe { Key::lent(key) });
        }
    });
}

/// Re-indexes every index from scratch (after SWAPDB replaced database 0).
fn rescan_all(ctx: *mut RedisModuleCtx) {
    stop_scans();
    let indexes: Vec<Arc<Index>> = registry().indexes.values().cloned().collect();
    for index in &indexes {
        index.write().clear(&index.def);
        start_scan(ctx, index);
    }
}

fn clear_all() {
    stop_scans();
    for index in registry().indexes.values() {
        index.write().clear(&index.def);
        index.indexing.store(false, Ordering::Relaxed);
        index.progress_ppm.store(1_000_000, Ordering::Relaxed);
    }
}

unsafe extern "C" fn on_flush(
    _ctx: *mut RedisModuleCtx,
    _eid: raw::RedisModuleEvent,
    subevent: u64,
    data: *mut c_void,
) {
    if subevent != raw::REDISMODULE_SUBEVENT_FLUSHDB_END || data.is_null() {
        return;
    }
    // SAFETY: the server passes a RedisModuleFlushInfo with this event.
    let info = unsafe { &*(data as *const raw::RedisModuleFlushInfo) };
    // RediSearch drops its indexes with the keyspace they index. (DEBUG RELOAD and a full
    // resync flush too; their RDB brings the definitions back through aux_load.)
    if info.dbnum == -1 || info.dbnum == 0 {
        guard("flush event", (), || {
            stop_scans();
            registry().clear();
            // RediSearch's dictionaries go with FLUSHALL too.
            crate::search::dictionaries().dicts.clear();
        });
    }
}

unsafe extern "C" fn on_loading(
    _ctx: *mut RedisModuleCtx,
    _eid: raw::RedisModuleEvent,
    subevent: u64,
    _data: *mut c_void,
) {
    let starting = [
        raw::REDISMODULE_SUBEVENT_LOADING_RDB_START,
        raw::REDISMODULE_SUBEVENT_LOADING_AOF_START,
        raw::REDISMODULE_SUBEVENT_LOADING_REPL_START,
    ];
    // A new keyspace replaces the old one; its keys come back through "loaded" events.
    if starting.contains(&subevent) {
        guard("loading event", (), clear_all);
    }
}

unsafe extern "C" fn on_swapdb(
    ctx: *mut RedisModuleCtx,
    _eid: raw::RedisModuleEvent,
    _subevent: u64,
    data: *mut c_void,
) {
    if data.is_null() {
        return;
    }
    // SAFETY: the server passes a RedisModuleSwapDbInfo with this event.
    let info = unsafe { &*(data as *const raw::RedisModuleSwapDbInfo) };
    if info.dbnum_first == 0 || info.dbnum_second == 0 {
        guard("swapdb event", (), || rescan_all(ctx));
    }
}

// ---------------------------------------------------------------------------------------------
// Index definitions in the RDB (aux data, before the keyspace).

/// 1: the definitions; 2: then the aliases (FT.ALIASADD); 3: then the FT.DICTADD
/// dictionaries and each index's synonym groups (FT.SYNUPDATE); 4: then the cluster catalog's
/// generation (0 off a cluster). All load.
const AUX_VERSION: i32 = 4;

pub static SEARCH_AUX_TYPE: redis_module::native_types::RedisType =
    redis_module::native_types::RedisType::new(
        "AI_SEARCH",
        AUX_VERSION,
        crate::types::aux_only_methods(aux_load, aux_save, aux_save_if_any),
    );

/// Redis 7.0–7.0.x: the aux field is in the RDB whatever this writes, so an empty registry
/// is written as a count of 0 (writing nothing would make the load read past the field).
unsafe extern "C" fn aux_save(io: *mut RedisModuleIO, when: c_int) {
    save_defs(io, when, true)
}

/// Redis 7.2+: writing nothing leaves the field out of the RDB.
unsafe extern "C" fn aux_save_if_any(io: *mut RedisModuleIO, when: c_int) {
    save_defs(io, when, false)
}

fn save_defs(io: *mut RedisModuleIO, when: c_int, always: bool) {
    if when != raw::Aux::Before as c_int {
        return;
    }
    guard("AI_SEARCH aux_save", (), || {
        let reg = registry();
        // TEMPORARY indexes are not saved, as in RediSearch.
        let defs: Vec<(String, Vec<Vec<u8>>)> = reg
            .indexes
            .values()
            .filter(|i| i.def.temporary_secs.is_none())
            .map(|i| (i.def.name.clone(), i.def.args.clone()))
            .collect();
        let aliases: Vec<(String, String)> = reg
            .aliases
            .iter()
            .map(|(a, i)| (a.clone(), i.clone()))
            .collect();
        // Per index with groups: its name, then each term with its groups.
        let synonyms: Vec<(String, SynonymTerms)> = reg
            .indexes
            .values()
            .filter_map(|i| {
                let data = i.read();
                let syn = &data.postings().synonyms;
                (!syn.is_empty()).then(|| {
                    let terms = syn
                        .iter()
                        .map(|(t, g)| (t.to_string(), g.iter().map(|g| g.to_string()).collect()));
                    (i.def.name.clone(), terms.collect())
                })
            })
            .collect();
        drop(reg);
        let dicts = crate::search::dictionaries().dicts.clone();
        let generation = crate::cluster::catalog::generation();
        // A cluster node whose indexes were all dropped still saves how far its catalog got.
        if defs.is_empty() && dicts.is_empty() && generation == 0 && !always {
            return;
        }
        // SAFETY: the IO handle of the running aux_save callback.
        let mut w = unsafe { crate::types::io::Writer::new(io) };
        w.unsigned(defs.len() as u64);
        for (name, args) in defs {
            w.buffer(name.as_bytes());
            w.unsigned(args.len() as u64);
            for a in &args {
                w.buffer(a);
            }
        }
        w.unsigned(aliases.len() as u64);
        for (alias, index) in aliases {
            w.buffer(alias.as_bytes());
            w.buffer(index.as_bytes());
        }
        w.unsigned(dicts.len() as u64);
        for (name, terms) in &dicts {
            w.buffer(name);
            w.unsigned(terms.len() as u64);
            for t in terms {
                w.buffer(t);
            }
        }
        w.unsigned(synonyms.len() as u64);
        for (index, terms) in &synonyms {
            w.buffer(index.as_bytes());
            w.unsigned(terms.len() as u64);
            for (term, groups) in terms {
                w.buffer(term.as_bytes());
                w.unsigned(groups.len() as u64);
                for g in groups {
                    w.buffer(g.as_bytes());
                }
            }
        }
        w.unsigned(generation);
    })
}

unsafe extern "C" fn aux_load(io: *mut RedisModuleIO, encver: c_int, when: c_int) -> c_int {
    let err = raw::REDISMODULE_ERR as c_int;
    if when != raw::Aux::Before as c_int {
        return raw::REDISMODULE_OK as c_int;
    }
    guard("AI_SEARCH aux_load", err, || {
        if !(1..=AUX_VERSION).contains(&encver) {
            log(
                Level::Warning,
                &format!("AI_SEARCH aux data version {encver} is not understood"),
            );
            return err;
        }
        let mut r = crate::types::io::Reader::new(io);
        let Ok(loaded) = read_defs(&mut r) else {
            return err;
        };
        let aliases = if encver >= 2 {
            match read_aliases(&mut r) {
                Ok(a) => a,
                Err(_) => return err,
            }
        } else {
            Vec::new()
        };
        let (dicts, synonyms) = if encver >= 3 {
            match (read_dicts(&mut r), read_synonyms(&mut r)) {
                (Ok(d), Ok(s)) => (d, s),
                _ => return err,
            }
        } else {
            Default::default()
        };
        let generation = if encver >= 4 {
            match r.unsigned() {
                Ok(g) => g,
                Err(_) => return err,
            }
        } else {
            0
        };
        crate::cluster::catalog::restore_generation(generation);
        crate::search::dictionaries().dicts = dicts;
        let mut reg = registry();
        reg.clear();
        for (name, args) in loaded {
            let words: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
            match schema::parse_create(&name, &words) {
                Ok(def) => reg.insert(Arc::new(Index::new(def))),
                Err(e) => {
                    log(
                        Level::Warning,
                        &format!(
                            "index {} in the RDB could not be re-created: {e}",
                            String::from_utf8_lossy(&name)
                        ),
                    );
                    return err;
                }
            }
        }
        for (alias, index) in aliases {
            let (Ok(alias), Ok(index)) = (String::from_utf8(alias), String::from_utf8(index))
            else {
                log(
                    Level::Warning,
                    "an index alias in the RDB is not UTF-8; skipped",
                );
                continue;
            };
            if let Err(e) = reg.set_alias(&alias, &index, true) {
                log(
                    Level::Warning,
                    &format!("index alias {alias} in the RDB was not restored: {e}"),
                );
            }
        }
        for (name, terms) in synonyms {
            let index = std::str::from_utf8(&name).ok().and_then(|n| reg.get(n));
            let Some(index) = index else {
                log(
                    Level::Warning,
                    "synonym groups in the RDB name no index; skipped",
                );
                continue;
            };
            let mut data = index.write();
            for (term, groups) in terms {
                let term = String::from_utf8_lossy(&term).into_owned();
                for g in groups {
                    let g = String::from_utf8_lossy(&g).into_owned();
                    data.synonyms_mut().update(&g, [term.as_str()]);
                }
            }
        }
        raw::REDISMODULE_OK as c_int
    })
}

/// A synonym map's terms with their groups.
type SynonymTerms = Vec<(String, Vec<String>)>;

type Dicts = std::collections::BTreeMap<Vec<u8>, std::collections::BTreeSet<Vec<u8>>>;

/// Index name, then (term, groups) pairs.
type SynonymDump = Vec<(Vec<u8>, Vec<(Vec<u8>, Vec<Vec<u8>>)>)>;

/// Read one at a time: a corrupt count fails at the first short read.
fn read_dicts(r: &mut crate::types::io::Reader) -> Result<Dicts, crate::types::io::IoError> {
    let n = r.unsigned()?;
    let mut out = Dicts::new();
    for _ in 0..n {
        let name = r.buffer()?;
        let count = r.unsigned()?;
        let mut terms = std::collections::BTreeSet::new();
        for _ in 0..count {
            terms.insert(r.buffer()?);
        }
        out.insert(name, terms);
    }
    Ok(out)
}

fn read_synonyms(
    r: &mut crate::types::io::Reader,
) -> Result<SynonymDump, crate::types::io::IoError> {
    let n = r.unsigned()?;
    let mut out = Vec::new();
    for _ in 0..n {
        let index = r.buffer()?;
        let count = r.unsigned()?;
        let mut terms = Vec::new();
        for _ in 0..count {
            let term = r.buffer()?;
            let groups = r.unsigned()?;
            let mut gs = Vec::new();
            for _ in 0..groups {
                gs.push(r.buffer()?);
            }
            terms.push((term, gs));
        }
        out.push((index, terms));
    }
    Ok(out)
}

type Defs = Vec<(Vec<u8>, Vec<Vec<u8>>)>;

/// (alias, index name) pairs.
type Aliases = Vec<(Vec<u8>, Vec<u8>)>;

/// Read one at a time: a corrupt count fails at the first short read.
fn read_aliases(r: &mut crate::types::io::Reader) -> Result<Aliases, crate::types::io::IoError> {
    let n = r.unsigned()?;
    let mut out = Vec::new();
    for _ in 0..n {
        out.push((r.buffer()?, r.buffer()?));
    }
    Ok(out)
}

fn read_defs(r: &mut crate::types::io::Reader) -> Result<Defs, crate::types::io::IoError> {
    let n = r.unsigned()?;
    let mut out = Vec::new();
    for _ in 0..n {
        let name = r.buffer()?;
        let nargs = r.unsigned()?;
        let mut args = Vec::new();
        for _ in 0..nargs {
            args.push(r.buffer()?);
        }
        out.push((name, args));
    }
    Ok(out)
}
