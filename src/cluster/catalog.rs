//! Index definitions (and aliases) on every master.
//!
//! A definition change a client makes on one master (FT.CREATE, FT.DROPINDEX, FT.ALIASADD /
//! ALIASUPDATE / ALIASDEL) is applied there as on a single server, then sent to every node as
//! a DDL message. Each master applies it by calling the same command on itself, so it is
//! replicated to its own replicas and AOF like a client's: a replica promoted later has it.
//! Replicas ignore the bus and follow their master.
//!
//! Messages get lost (a link down, a node restarting), and masters join later, so every
//! master also sends, once a second, its catalog's (generation, index count, digest). A
//! master that sees a larger triple with another digest asks that node for its whole catalog
//! and adopts it: drops what differs, creates what is missing, each through the commands
//! again. The generation counts changes (each DDL is one past the largest its node has seen)
//! and is saved with the definitions in the RDB (`index_sync.rs`'s aux data): a node restarted
//! from an RDB written before a change it missed comes back with the older generation, and
//! takes the cluster's newer catalog rather than bringing back a dropped index or an older
//! definition, even when every master restarts. Between two catalogs of one generation the
//! larger wins, so that a new, empty master never wins over indexes loaded from RDBs.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::wire::{Catalog, Message};
use super::{enabled, is_master, send, NodeId};
use crate::redis::{api, call, guard, log, Args, Ctx, Level, OwnedString, RedisModuleCtx};
use crate::search::registry;

struct State {
    generation: u64,
    /// When a catalog was last asked for: at most one request a second.
    last_request: Option<Instant>,
}

static STATE: Mutex<State> = Mutex::new(State {
    generation: 0,
    last_request: None,
});

/// Set while this module applies a change from another node, so that the command it calls
/// does not send the change on again. Main thread only.
static APPLYING: AtomicBool = AtomicBool::new(false);

fn state() -> std::sync::MutexGuard<'static, State> {
    STATE.lock().unwrap_or_else(|p| p.into_inner())
}

/// The catalog's generation, for the RDB.
pub fn generation() -> u64 {
    state().generation
}

/// The generation an RDB saved: a node never goes back to an older one.
pub fn restore_generation(saved: u64) {
    let mut s = state();
    s.generation = s.generation.max(saved);
}

/// FNV-1a, fed with length-prefixed words so that ("ab","c") and ("a","bc") differ.
#[derive(Clone, Copy)]
struct Fnv(u64);

impl Fnv {
    fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    fn word(mut self, w: &[u8]) -> Fnv {
        for b in (w.len() as u64).to_le_bytes().iter().chain(w) {
            self.0 ^= *b as u64;
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
        self
    }
}

/// A definition's fingerprint: shards refuse a search made against another definition.
pub fn def_digest(name: &str, args: &[Vec<u8>]) -> u64 {
    args.iter()
        .fold(Fnv::new().word(name.as_bytes()), |h, a| h.word(a))
        .0
}

fn snapshot() -> Catalog {
    let reg = registry();
    Catalog {
        generation: state().generation,
        indexes: reg
            .indexes
            .values()
            .map(|i| (i.def.name.as_bytes().to_vec(), i.def.args.clone()))
            .collect(),
        aliases: reg
            .aliases
            .iter()
            .map(|(a, i)| (a.as_bytes().to_vec(), i.as_bytes().to_vec()))
            .collect(),
    }
}

/// (generation, indexes, digest): which of two catalogs wins.
type Rank = (u64, u64, u64);

fn rank(c: &Catalog) -> Rank {
    // BTreeMaps: both lists are in name order on every node.
    let mut h = Fnv::new();
    for (name, args) in &c.indexes {
        h = h.word(name).word(&(args.len() as u64).to_le_bytes());
        for a in args {
            h = h.word(a);
        }
    }
    for (a, i) in &c.aliases {
        h = h.word(b"alias").word(a).word(i);
    }
    (c.generation, c.indexes.len() as u64, h.0)
}

/// Called by the FT.* commands that change definitions, after they succeeded: sends the
/// change to the other nodes when a client made it here.
pub fn after_local_ddl(ctx: &Ctx, args: &Args) {
    broadcast(
        ctx,
        (0..args.len()).map(|i| args.bytes(i).to_vec()).collect(),
    );
}

/// Sends a definition change made here by a client (not one applied for another node, nor one
/// a replica received) to the other masters, as the next generation.
fn broadcast(ctx: &Ctx, words: Vec<Vec<u8>>) {
    if !enabled(ctx) || APPLYING.load(Ordering::Relaxed) || !is_master(ctx) {
        return;
    }
    let replicated = ctx.flags() & redis_module::raw::REDISMODULE_CTX_FLAGS_REPLICATED != 0;
    if replicated {
        return;
    }
    let generation = {
        let mut s = state();
        s.generation += 1;
        s.generation
    };
    send(ctx, None, &Message::Ddl { generation, words });
}

/// After FT.ALTER on this master: the other masters get the index's whole new definition, as
/// the FT.CREATE words it now persists (they recreate the index and rescan their own
/// documents; the change is idempotent like any other).
pub fn after_local_redefine(ctx: &Ctx, name: &str, args: &[Vec<u8>]) {
    let mut words = vec![b"FT.CREATE".to_vec(), name.as_bytes().to_vec()];
    words.extend(args.iter().cloned());
    broadcast(ctx, words);
}

/// Runs one FT.* command on this node as if a client sent it; its error, if any.
fn run(ctx: &Ctx, command: &std::ffi::CStr, words: &[&[u8]]) -> Result<(), String> {
    let owned: Vec<OwnedString> = words.iter().map(|w| OwnedString::new(w)).collect();
    let mut argv: Vec<_> = owned.iter().map(|s| s.as_ptr()).collect();
    APPLYING.store(true, Ordering::Relaxed);
    // "!": Redis 7.0 turns replication off inside a RedisModule_Call without it, and the
    // command's own ReplicateVerbatim is what carries the change to this master's replicas
    // (module commands are never propagated twice: call() leaves them to themselves).
    // SAFETY: a live context on the main thread; the strings outlive the call.
    let reply = unsafe { call(ctx.raw_ctx(), command, c"v!", &mut argv) };
    APPLYING.store(false, Ordering::Relaxed);
    match reply {
        Some(Ok(_)) => Ok(()),
        Some(Err(e)) => Err(e),
        None => Err("the server refused to run it".into()),
    }
}

fn index_args(name: &[u8]) -> Option<Vec<Vec<u8>>> {
    let name = std::str::from_utf8(name).ok()?;
    registry().indexes.get(name).map(|i| i.def.args.clone())
}

/// Applies one change from another master, idempotently: a change this node already has is
/// skipped, so a message received twice (or after a catalog sync) changes nothing.
fn apply(ctx: &Ctx, words: &[Vec<u8>]) -> Result<(), String> {
    let (Some(command), Some(name)) = (words.first(), words.get(1)) else {
        return Err("empty change".into());
    };
    let rest: Vec<&[u8]> = words[1..].iter().map(Vec::as_slice).collect();
    let is = |n: &str| command.eq_ignore_ascii_case(n.as_bytes());
    if is("FT.CREATE") {
        match index_args(name) {
            Some(args) if args == words[2..] => Ok(()),
            Some(_) => {
                run(ctx, c"FT.DROPINDEX", &[name])?;
                run(ctx, c"FT.CREATE", &rest)
            }
            None => run(ctx, c"FT.CREATE", &rest),
        }
    } else if is("FT.DROPINDEX") {
        match index_args(name) {
            Some(_) => run(ctx, c"FT.DROPINDEX", &rest),
            None => Ok(()),
        }
    } else if is("FT.ALIASADD") || is("FT.ALIASUPDATE") {
        run(ctx, c"FT.ALIASUPDATE", &rest)
    } else if is("FT.ALIASDEL") {
        let known = std::str::from_utf8(name).is_ok_and(|a| registry().aliases.contains_key(a));
        if known {
            run(ctx, c"FT.ALIASDEL", &rest)
        } else {
            Ok(())
        }
    } else if is("FT.DICTADD") {
        run(ctx, c"FT.DICTADD", &rest)
    } else if is("FT.DICTDEL") {
        run(ctx, c"FT.DICTDEL", &rest)
    } else if is("FT.SYNUPDATE") {
        // Groups only grow: applying an update twice changes nothing.
        match index_args(name) {
            Some(_) => run(ctx, c"FT.SYNUPDATE", &rest),
            None => Ok(()),
        }
    } else {
        // Nothing but these commands is ever run for another node.
        Err(format!(
            "not a definition change: {}",
            String::from_utf8_lossy(command)
        ))
    }
}

pub fn on_ddl(ctx: &Ctx, generation: u64, words: &[Vec<u8>]) {
    // A replica takes the change from its master's replication stream, but counts it: once
    // promoted, its catalog must not rank below the one it already has.
    if is_master(ctx) {
        if let Err(e) = apply(ctx, words) {
            log(
                Level::Warning,
                &format!("an index definition change from another node was not applied: {e}"),
            );
        }
    }
    let mut s = state();
    s.generation = s.generation.max(generation);
}

pub fn on_digest(ctx: &Ctx, sender: &NodeId, theirs: Rank) {
    if !is_master(ctx) {
        return;
    }
    let mine = rank(&snapshot());
    if theirs <= mine || theirs.2 == mine.2 {
        return;
    }
    {
        let mut s = state();
        let now = Instant::now();
        if s.last_request
            .is_some_and(|t| now.duration_since(t) < Duration::from_secs(1))
        {
            return;
        }
        s.last_request = Some(now);
    }
    send(ctx, Some(sender), &Message::CatalogRequest);
}

pub fn on_request(ctx: &Ctx, sender: &NodeId) {
    send(ctx, Some(sender), &Message::Catalog(snapshot()));
}

/// Makes this master's catalog `target`'s, when `target` still wins.
pub fn on_catalog(ctx: &Ctx, target: Catalog) {
    if !is_master(ctx) {
        return;
    }
    let mine = snapshot();
    let (r_target, r_mine) = (rank(&target), rank(&mine));
    if r_target <= r_mine || r_target.2 == r_mine.2 {
        return;
    }
    log(
        Level::Notice,
        &format!(
            "adopting the cluster's index catalog (generation {}, {} indexes)",
            target.generation,
            target.indexes.len()
        ),
    );
    let mut failures = Vec::new();
    let mut check = |r: Result<(), String>| {
        if let Err(e) = r {
            failures.push(e);
        }
    };
    for (alias, index) in &mine.aliases {
        if !target.aliases.iter().any(|(a, i)| a == alias && i == index) {
            check(run(ctx, c"FT.ALIASDEL", &[alias]));
        }
    }
    for (name, args) in &mine.indexes {
        if !target.indexes.iter().any(|(n, a)| n == name && a == args) {
            check(run(ctx, c"FT.DROPINDEX", &[name]));
        }
    }
    for (name, args) in &target.indexes {
        if !mine.indexes.iter().any(|(n, a)| n == name && a == args) {
            let mut words: Vec<&[u8]> = vec![name];
            words.extend(args.iter().map(Vec::as_slice));
            check(run(ctx, c"FT.CREATE", &words));
        }
    }
    for (alias, index) in &target.aliases {
        if !mine.aliases.iter().any(|(a, i)| a == alias && i == index) {
            check(run(ctx, c"FT.ALIASUPDATE", &[alias, index]));
        }
    }
    for e in failures {
        log(
            Level::Warning,
            &format!("while adopting the cluster's index catalog: {e}"),
        );
    }
    let mut s = state();
    s.generation = s.generation.max(target.generation);
}

/// How often a master announces its catalog.
const DIGEST_EVERY_MS: i64 = 1000;

pub fn start_timer(ctx: *mut RedisModuleCtx) {
    // SAFETY: a live context of this module; a 'static callback.
    unsafe {
        api!(RedisModule_CreateTimer)(ctx, DIGEST_EVERY_MS, Some(on_timer), std::ptr::null_mut())
    };
}

unsafe extern "C" fn on_timer(ctx: *mut RedisModuleCtx, _data: *mut std::ffi::c_void) {
    guard("catalog digest", (), || {
        // SAFETY: the timer's live context.
        let c = unsafe { Ctx::from_raw(ctx) };
        super::nodelay::refresh(&c);
        // Bounds how long a manual slot change (CLUSTER DELSLOTS with keys left) goes unseen.
        super::owned_slots(&c);
        if is_master(&c) {
            let (generation, indexes, digest) = rank(&snapshot());
            send(
                &c,
                None,
                &Message::Digest {
                    generation,
                    indexes,
                    digest,
                },
            );
        }
    });
    start_timer(ctx);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cat(generation: u64, names: &[&str]) -> Catalog {
        Catalog {
            generation,
            indexes: names
                .iter()
                .map(|n| (n.as_bytes().to_vec(), vec![b"SCHEMA".to_vec()]))
                .collect(),
            aliases: Vec::new(),
        }
    }

    #[test]
    fn a_later_generation_wins_and_an_empty_catalog_loses_a_tie() {
        assert!(rank(&cat(2, &[])) > rank(&cat(1, &["a", "b"])));
        assert!(rank(&cat(0, &["a"])) > rank(&cat(0, &[])));
        assert_eq!(rank(&cat(3, &["a"])).2, rank(&cat(4, &["a"])).2);
        assert_ne!(rank(&cat(0, &["a"])).2, rank(&cat(0, &["b"])).2);
    }

    #[test]
    fn definition_digests_see_word_boundaries() {
        let d = |n: &str, a: &[&str]| {
            def_digest(
                n,
                &a.iter().map(|w| w.as_bytes().to_vec()).collect::<Vec<_>>(),
            )
        };
        assert_ne!(d("i", &["ab", "c"]), d("i", &["a", "bc"]));
        assert_eq!(d("i", &["x"]), d("i", &["x"]));
        assert_ne!(d("i", &["x"]), d("j", &["x"]));
    }
}
