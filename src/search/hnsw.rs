//! HNSW (Malkov & Yashunin), following hnswlib's algorithms: level-0 degree `2M`, upper
//! levels `M`, level multiplier `1/ln M`, neighbour selection and overflow shrinking with
//! hnswlib's `getNeighborsByHeuristic2`, bidirectional links.
//!
//! Layout. Nodes are dense internal indices. Vectors (already prepared for the metric) sit in
//! one `Vec<f32>` at `node * dim`; level-0 adjacency in one `Vec<u32>` with a fixed stride of
//! `1 + 2M` (`[count, n0, n1, …]`), so a search touches two flat arrays and no pointers. Nodes
//! with a level above 0 (about one in `M`) own a run of `level * (1 + M)` slots in a second
//! flat array. Document ids map to nodes through a `HashMap`, nodes to ids through `labels`.
//!
//! Deletes are tombstones: the node keeps its links so the graph stays navigable, but searches
//! never return it. Re-inserting an id tombstones the old node and adds a new one. Tombstones
//! cost memory and search time, so `needs_rebuild` says when enough have piled up, and
//! [`HnswIndex::rebuilt`] (or a fresh index fed `live_vectors`) builds one from the live
//! vectors only; it takes `&self`, so it can run under a read lock while searches go on, and the
//! caller swaps the result in under its write lock. Removing the last live node resets the graph
//! outright.
//!
//! Threads. `&self` methods are safe to call concurrently (the index sits behind an `RwLock`):
//! each search borrows its visited-set and heaps from a small pool behind a `Mutex`, held only
//! to pop and push the scratch. `insert` and `remove` take `&mut self`, i.e. the caller's
//! write lock.

use std::collections::{BinaryHeap, HashMap};
use std::sync::Mutex;

use super::vector::{Filter, Metric, VectorIndex};

/// A level this high has probability `M^-32`; the cap only bounds what a small `M` could draw.
const MAX_LEVEL: usize = 32;

/// RediSearch refuses an `M` above this; here it bounds the link stride.
const MAX_M: usize = u16::MAX as usize / 2;

/// Pre-sizing stops here (in bytes), whatever the capacity hint says: a hint is a client's
/// word, and growing later only costs amortised copies.
const MAX_RESERVE: usize = 64 << 20;

/// Range search keeps exploring the nearest nodes seen, beyond its `epsilon` boundary, as
/// long as they rank among (nodes found within the radius) + `RANGE_MIN_EF`: so a far entry
/// point or a narrow radius still has a frontier to walk.
const RANGE_MIN_EF: usize = 10;

/// While computing one distance, the vector `PREFETCH_AHEAD` places further in the batch is
/// fetched, whole (up to `PREFETCH_MAX_LINES` cache lines). Measured on 128-dimensional
/// vectors: whole vectors beat first lines only, and 2 to 4 ahead beat both 1 ahead and the
/// whole batch at once (which overflows the line-fill buffers and stalls).
const PREFETCH_AHEAD: usize = 4;
const PREFETCH_MAX_LINES: usize = 8;

/// See `needs_rebuild`.
const REBUILD_MIN_TOMBSTONES: usize = 1000;

pub struct HnswIndex {
    dim: usize,
    metric: Metric,
    kernel: Kernel,
    m: usize,
    m0: usize,
    ef_construction: usize,
    level_mult: f64,
    seed: u64,
    rng: SplitMix64,
    vectors: Vec<f32>,
    /// Per node, `1 + m0` slots: the count, then the neighbours.
    links0: Vec<u32>,
    /// For nodes above level 0, `level` runs of `1 + m` slots (levels 1, 2, …).
    upper: Vec<u32>,
    upper_at: Vec<usize>,
    levels: Vec<u8>,
    labels: Vec<u32>,
    deleted: Vec<bool>,
    node_of: HashMap<u32, u32>,
    entry: Option<u32>,
    max_level: usize,
    tombstones: usize,
    /// Cache lines of a vector fetched ahead (all of them, up to a point).
    prefetch_lines: usize,
    pool: Mutex<Vec<Scratch>>,
}

impl HnswIndex {
    /// `m` is brought into `2..=32767` (the level multiplier is `1/ln m`); `ef_construction` is
    /// at least `m`. `capacity_hint` pre-sizes the arrays (up to 256 MiB); `seed` drives the
    /// level draws, so the same inserts in the same order build the same graph.
    pub fn new(
        dim: usize,
        metric: Metric,
        m: usize,
        ef_construction: usize,
        capacity_hint: usize,
        seed: u64,
    ) -> HnswIndex {
        let m = m.clamp(2, MAX_M);
        let m0 = 2 * m;
        let node_bytes = dim.saturating_add(1 + m0).saturating_mul(4) + 16;
        let cap = capacity_hint.min(MAX_RESERVE / node_bytes);
        HnswIndex {
            dim,
            metric,
            kernel: Kernel::new(metric),
            m,
            m0,
            ef_construction: ef_construction.max(m),
            level_mult: 1.0 / (m as f64).ln(),
            seed,
            rng: SplitMix64(seed),
            vectors: Vec::with_capacity(cap * dim),
            links0: Vec::with_capacity(cap * (1 + m0)),
            upper: Vec::new(),
            upper_at: Vec::with_capacity(cap),
            levels: Vec::with_capacity(cap),
            labels: Vec::with_capacity(cap),
            deleted: Vec::with_capacity(cap),
            node_of: HashMap::with_capacity(cap),
            entry: None,
            max_level: 0,
            tombstones: 0,
            prefetch_lines: (dim * 4).div_ceil(64).min(PREFETCH_MAX_LINES),
            pool: Mutex::new(Vec::new()),
        }
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    pub fn metric(&self) -> Metric {
        self.metric
    }

    pub fn m(&self) -> usize {
        self.m
    }

    pub fn ef_construction(&self) -> usize {
        self.ef_construction
    }

    /// Graph nodes, live and tombstoned.
    pub fn nodes(&self) -> usize {
        self.labels.len()
    }

    /// A fresh index over the live vectors only, with the same parameters and seed. Changes
    /// made to `self` after this starts are not in the result: run it under a read lock (which
    /// holds writers off) or replay them before swapping it in.
    pub fn rebuilt(&self) -> HnswIndex {
        let live = self.node_of.len();
        let mut fresh = HnswIndex::new(
            self.dim,
            self.metric,
            self.m,
            self.ef_construction,
            live,
            self.seed,
        );
        for (id, v) in self.live() {
            // Stored vectors are already prepared; preparing again could move cosine vectors
            // by an ulp, so they go in as they are.
            fresh.insert_prepared(id, v);
        }
        fresh
    }

    /// Live `(id, prepared vector)` pairs in insertion order.
    pub fn live(&self) -> impl Iterator<Item = (u32, &[f32])> + '_ {
        (0..self.nodes())
            .filter(|&n| !self.deleted[n])
            .map(|n| (self.labels[n], self.vector(n as u32)))
    }

    #[inline]
    fn vector(&self, node: u32) -> &[f32] {
        let at = node as usize * self.dim;
        &self.vectors[at..at + self.dim]
    }

    /// Where the adjacency of `node` at `level` starts: in `upper` when `level > 0`.
    #[inline]
    fn link_base(&self, node: u32, level: usize) -> usize {
        debug_assert!(level <= self.levels[node as usize] as usize);
        if level == 0 {
            node as usize * (1 + self.m0)
        } else {
            self.upper_at[node as usize] + (level - 1) * (1 + self.m)
        }
    }

    #[inline]
    fn neighbours(&self, node: u32, level: usize) -> &[u32] {
        let base = self.link_base(node, level);
        let store = if level == 0 {
            &self.links0
        } else {
            &self.upper
        };
        let count = store[base] as usize;
        &store[base + 1..base + 1 + count]
    }

    fn set_neighbours(&mut self, node: u32, level: usize, list: &[u32]) {
        let base = self.link_base(node, level);
        let store = if level == 0 {
            &mut self.links0
        } else {
            &mut self.upper
        };
        store[base] = list.len() as u32;
        store[base + 1..base + 1 + list.len()].copy_from_slice(list);
    }

    #[inline]
    fn dist(&self, q: &[f32], node: u32) -> f32 {
        self.kernel.distance(q, self.vector(node))
    }

    /// `v` cut or zero-padded to `dim` (so a wrong-sized vector cannot shift the arena), then
    /// prepared for the metric.
    fn prepared(&self, v: &[f32]) -> Vec<f32> {
        let mut out = Vec::with_capacity(self.dim);
        out.extend_from_slice(&v[..v.len().min(self.dim)]);
        out.resize(self.dim, 0.0);
        self.metric.prepare(&mut out);
        out
    }

    fn random_level(&mut self) -> usize {
        // 53 random bits into (0, 1], so the logarithm is finite.
        let u = ((self.rng.next() >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
        ((-u.ln() * self.level_mult) as usize).min(MAX_LEVEL)
    }

    fn take_scratch(&self) -> Scratch {
        let mut pool = self.pool.lock().unwrap_or_else(|e| e.into_inner());
        pool.pop().unwrap_or_default()
    }

    fn put_scratch(&self, s: Scratch) {
        self.pool.lock().unwrap_or_else(|e| e.into_inner()).push(s);
    }

    fn reset(&mut self) {
        self.vectors.clear();
        self.links0.clear();
        self.upper.clear();
        self.upper_at.clear();
        self.levels.clear();
        self.labels.clear();
        self.deleted.clear();
        self.node_of.clear();
        self.entry = None;
        self.max_level = 0;
        self.tombstones = 0;
    }

    fn tombstone(&mut self, node: u32) {
        self.deleted[node as usize] = true;
        self.tombstones += 1;
        if self.node_of.is_empty() {
            // Nothing live is left to find: drop the dead graph rather than traverse it.
            self.reset();
        }
    }

    /// Makes room for one more node, growing the per-node arrays by an eighth at a time: the
    /// vectors are most of an index's memory, and a `Vec` left to double would leave up to
    /// half of them allocated but unused.
    fn reserve_node(&mut self) {
        let nodes = self.labels.len();
        if nodes < self.labels.capacity()
            && self.vectors.len() + self.dim <= self.vectors.capacity()
            && self.links0.len() + 1 + self.m0 <= self.links0.capacity()
        {
            return;
        }
        let more = (nodes / 8).max(64);
        self.vectors.reserve_exact(more * self.dim);
        self.links0.reserve_exact(more * (1 + self.m0));
        self.upper_at.reserve_exact(more);
        self.levels.reserve_exact(more);
        self.labels.reserve_exact(more);
        self.deleted.reserve_exact(more);
    }

    fn insert_prepared(&mut self, id: u32, v: &[f32]) {
        if let Some(old) = self.node_of.remove(&id) {
            self.tombstone(old);
        }
        if self.labels.len() > u32::MAX as usize {
            // Node numbers are u32. Only tombstones can get the graph this big (live nodes have
            // distinct u32 ids, and this one's old node is already dead), so compacting makes
            // room. Unreachable in practice: it would take terabytes.
            *self = self.rebuilt();
        }
        let node = self.labels.len() as u32;
        let level = self.random_level();
        self.reserve_node();
        self.vectors.extend_from_slice(v);
        self.links0.resize(self.links0.len() + 1 + self.m0, 0);
        self.upper_at.push(self.upper.len());
        self.upper
            .resize(self.upper.len() + level * (1 + self.m), 0);
        self.levels.push(level as u8);
        self.labels.push(id);
        self.deleted.push(false);
        self.node_of.insert(id, node);
        match self.entry {
            None => {
                self.entry = Some(node);
                self.max_level = level;
            }
            Some(entry) => {
                self.connect(node, level, entry, v);
                if level > self.max_level {
                    self.entry = Some(node);
                    self.max_level = level;
                }
            }
        }
    }

    /// Greedy walk from `entry` on every level above `stop`; returns the closest node found
    /// and its distance.
    fn descend(&self, q: &[f32], entry: u32, stop: usize) -> (u32, f32) {
        let (mut cur, mut d) = (entry, self.dist(q, entry));
        for level in (stop + 1..=self.max_level).rev() {
            let mut moved = true;
            while moved {
                moved = false;
                for &n in self.neighbours(cur, level) {
                    let dn = self.dist(q, n);
                    if dn < d {
                        (cur, d) = (n, dn);
                        moved = true;
                    }
                }
            }
        }
        (cur, d)
    }

    fn connect(&mut self, node: u32, level: usize, entry: u32, q: &[f32]) {
        let mut s = self.take_scratch();
        let (mut ep, mut ep_d) = self.descend(q, entry, level);
        let mut cands: Vec<(f32, u32)> = Vec::new();
        let mut selected = Vec::with_capacity(self.m0 + 1);
        let mut shrink: Vec<(f32, u32)> = Vec::with_capacity(self.m0 + 1);
        let mut kept = Vec::with_capacity(self.m0);
        for lc in (0..=level.min(self.max_level)).rev() {
            let deleted = &self.deleted;
            self.search_layer(&mut s, q, ep, ep_d, self.ef_construction, lc, |n| {
                (!deleted[n as usize]).then_some(n)
            });
            if s.results.is_empty() {
                // Everything reachable is tombstoned; linking to dead nodes still keeps the
                // new node reachable until the next rebuild.
                self.search_layer(&mut s, q, ep, ep_d, self.ef_construction, lc, Some);
            }
            s.sorted_results(&mut cands);
            if let Some(&(d, n)) = cands.first() {
                (ep, ep_d) = (n, d);
            }
            self.select_neighbours(&cands, self.m, &mut selected);
            self.set_neighbours(node, lc, &selected);
            for &nb in &selected {
                self.link_back(nb, node, lc, &mut shrink, &mut kept);
            }
        }
        self.put_scratch(s);
    }

    /// Adds `node` to the list of `nb` at `level`, shrinking it with the heuristic when full.
    /// `shrink` and `kept` are reusable buffers.
    fn link_back(
        &mut self,
        nb: u32,
        node: u32,
        level: usize,
        shrink: &mut Vec<(f32, u32)>,
        kept: &mut Vec<u32>,
    ) {
        let cap = if level == 0 { self.m0 } else { self.m };
        let list = self.neighbours(nb, level);
        if list.len() < cap {
            let base = self.link_base(nb, level);
            let store = if level == 0 {
                &mut self.links0
            } else {
                &mut self.upper
            };
            let count = store[base] as usize;
            store[base + 1 + count] = node;
            store[base] = (count + 1) as u32;
            return;
        }
        let v = self.vector(nb);
        shrink.clear();
        shrink.push((self.kernel.distance(v, self.vector(node)), node));
        shrink.extend(
            list.iter()
                .map(|&x| (self.kernel.distance(v, self.vector(x)), x)),
        );
        shrink.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        self.select_neighbours(shrink, cap, kept);
        self.set_neighbours(nb, level, kept);
    }

    /// hnswlib's `getNeighborsByHeuristic2`: walking `cands` nearest first, keep a candidate
    /// only if it is closer to the base than to every one kept so far, so links spread in
    /// different directions instead of crowding one cluster. Fewer than `max` candidates are
    /// kept as they are.
    fn select_neighbours(&self, cands: &[(f32, u32)], max: usize, out: &mut Vec<u32>) {
        out.clear();
        if cands.len() < max {
            out.extend(cands.iter().map(|c| c.1));
            return;
        }
        for &(d, c) in cands {
            if out.len() >= max {
                break;
            }
            let vc = self.vector(c);
            if out
                .iter()
                .all(|&s| self.kernel.distance(vc, self.vector(s)) >= d)
            {
                out.push(c);
            }
        }
    }

    /// hnswlib's best-first layer search from `entry`. Every node is traversed; `accept` says
    /// whether a node may be a result and under which key (the node for construction, the
    /// document id for queries, which breaks distance ties by id). Leaves at most `ef` results
    /// in `s.results`; stops once the nearest open candidate is farther than the worst result
    /// and there are `ef` results. Returns how many nodes it visited.
    #[allow(clippy::too_many_arguments)]
    fn search_layer(
        &self,
        s: &mut Scratch,
        q: &[f32],
        entry: u32,
        entry_d: f32,
        ef: usize,
        level: usize,
        accept: impl Fn(u32) -> Option<u32>,
    ) -> usize {
        s.begin(self.nodes());
        s.visit(entry);
        let mut visited = 1;
        let mut bound = f32::INFINITY;
        if let Some(k) = accept(entry) {
            s.results.push(key(entry_d, k));
            bound = entry_d;
        }
        s.candidates.push(!key(entry_d, entry));
        while let Some(&top) = s.candidates.peek() {
            let top = !top;
            if key_distance(top) > bound && s.results.len() >= ef {
                break;
            }
            s.candidates.pop();
            visited += self.expand(s, key_id(top), level);
            for i in 0..s.batch.len() {
                self.prefetch_ahead(&s.batch, i);
                let n = s.batch[i];
                let d = self.dist(q, n);
                if s.results.len() < ef || d < bound {
                    // A candidate is likely to be expanded soon: start fetching its links.
                    self.prefetch_links(n, level);
                    s.candidates.push(!key(d, n));
                    if let Some(k) = accept(n) {
                        s.results.push(key(d, k));
                        if s.results.len() > ef {
                            s.results.pop();
                        }
                    }
                    if let Some(&worst) = s.results.peek() {
                        bound = key_distance(worst);
                    }
                }
            }
        }
        visited
    }

    /// Collects the unvisited neighbours of `node` at `level` into `s.batch`, marking them
    /// visited, and starts fetching the first vectors; returns how many there are.
    #[inline(always)]
    fn expand(&self, s: &mut Scratch, node: u32, level: usize) -> usize {
        s.batch.clear();
        for &n in self.neighbours(node, level) {
            if s.visit(n) {
                s.batch.push(n);
            }
        }
        for &n in s.batch.iter().take(PREFETCH_AHEAD) {
            self.prefetch_vector(n);
        }
        s.batch.len()
    }

    /// Called before computing the distance to `batch[i]`.
    #[inline(always)]
    fn prefetch_ahead(&self, batch: &[u32], i: usize) {
        if let Some(&n) = batch.get(i + PREFETCH_AHEAD) {
            self.prefetch_vector(n);
        }
    }

    #[inline(always)]
    fn prefetch_links(&self, node: u32, level: usize) {
        if level == 0 {
            prefetch(
                self.links0
                    .as_ptr()
                    .wrapping_add(node as usize * (1 + self.m0)),
            );
        }
    }

    #[inline(always)]
    fn prefetch_vector(&self, node: u32) {
        // `wrapping_add` keeps the address computation safe; a prefetch never faults anyway.
        let at = self.vectors.as_ptr().wrapping_add(node as usize * self.dim);
        for line in 0..self.prefetch_lines {
            prefetch(at.wrapping_add(line * 16));
        }
    }

    /// The query-time acceptance test: live and passing the filter; keyed by document id.
    #[inline]
    fn accepted(&self, node: u32, filter: Option<Filter>) -> Option<u32> {
        if self.deleted[node as usize] {
            return None;
        }
        let id = self.labels[node as usize];
        filter.map_or(true, |f| f(id)).then_some(id)
    }
}

impl VectorIndex for HnswIndex {
    fn insert(&mut self, id: u32, v: &[f32]) {
        let v = self.prepared(v);
        self.insert_prepared(id, &v);
    }

    fn remove(&mut self, id: u32) {
        if let Some(node) = self.node_of.remove(&id) {
            self.tombstone(node);
        }
    }

    fn contains(&self, id: u32) -> bool {
        self.node_of.contains_key(&id)
    }

    fn len(&self) -> usize {
        self.node_of.len()
    }

    /// hnswlib's search with the filter applied to results only. Fewer than `k` results can
    /// only mean the search ran out of reachable nodes (it never stops before it has
    /// `max(ef, k)` of them), so the nodes it could not reach are then scanned exactly.
    fn knn(&self, q: &[f32], k: usize, ef: usize, filter: Option<Filter>) -> Vec<(f32, u32)> {
        let Some(entry) = self.entry.filter(|_| k > 0 && !self.node_of.is_empty()) else {
            return Vec::new();
        };
        let q = self.prepared(q);
        let (ep, ep_d) = self.descend(&q, entry, 0);
        let mut s = self.take_scratch();
        let visited = self.search_layer(&mut s, &q, ep, ep_d, ef.max(k), 0, |n| {
            self.accepted(n, filter)
        });
        let mut out = Vec::with_capacity(s.results.len());
        s.sorted_results(&mut out);
        if out.len() < k && visited < self.nodes() {
            for n in 0..self.nodes() as u32 {
                if !s.seen(n) {
                    if let Some(id) = self.accepted(n, filter) {
                        out.push((self.dist(&q, n), id));
                    }
                }
            }
            out.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        }
        self.put_scratch(s);
        out.truncate(k);
        out
    }

    /// RediSearch's HNSW range search over the base layer, from the node the upper-level
    /// descent ends at. A dynamic range starts at that node's distance and shrinks to the
    /// nearest candidate popped so far, never below `radius`; candidates are explored while
    /// within `dynamic range * (1 + epsilon)`. On top of RediSearch's rule, a candidate is also
    /// explored while it is among the `n + RANGE_MIN_EF` nearest nodes seen, `n` being how many
    /// seen so far lie within `radius`: that is a knn search sized to the answer, which keeps
    /// the walk going where the nodes inside the radius are only linked through nodes outside
    /// the `epsilon` margin (sparse regions, far queries). Every visited accepted node within
    /// `radius` is returned. Still approximate, as any graph search: a node within `radius`
    /// that no explored node links to is missed; a larger `epsilon` trades time for recall.
    fn range(
        &self,
        q: &[f32],
        radius: f32,
        epsilon: f32,
        filter: Option<Filter>,
    ) -> Vec<(f32, u32)> {
        let Some(entry) = self.entry.filter(|_| !self.node_of.is_empty()) else {
            return Vec::new();
        };
        let q = self.prepared(q);
        let (ep, ep_d) = self.descend(&q, entry, 0);
        let epsilon = epsilon.max(0.0);
        let widen = |r: f32| r + r.abs() * epsilon;
        let mut out = Vec::new();
        let mut inside = 0;
        let mut s = self.take_scratch();
        s.begin(self.nodes());
        s.visit(ep);
        if ep_d <= radius {
            inside += 1;
            if let Some(id) = self.accepted(ep, filter) {
                out.push((ep_d, id));
            }
        }
        let mut dynamic = ep_d.max(radius);
        let mut boundary = widen(dynamic);
        // `results` is the beam: the nearest nodes seen, worst on top.
        s.results.push(key(ep_d, ep));
        s.candidates.push(!key(ep_d, ep));
        while let Some(&top) = s.candidates.peek() {
            let top = !top;
            let d = key_distance(top);
            let beam = inside + RANGE_MIN_EF;
            if d > boundary && s.results.len() >= beam && s.results.peek().is_some_and(|&w| top > w)
            {
                break;
            }
            s.candidates.pop();
            if d < dynamic && d >= radius {
                dynamic = d;
                boundary = widen(dynamic);
            }
            self.expand(&mut s, key_id(top), 0);
            for i in 0..s.batch.len() {
                self.prefetch_ahead(&s.batch, i);
                let n = s.batch[i];
                let dn = self.dist(&q, n);
                let k = key(dn, n);
                if dn <= radius {
                    inside += 1;
                    if let Some(id) = self.accepted(n, filter) {
                        out.push((dn, id));
                    }
                }
                let beam = inside + RANGE_MIN_EF;
                let in_beam = s.results.len() < beam || s.results.peek().is_some_and(|&w| k < w);
                if in_beam {
                    s.results.push(k);
                    if s.results.len() > beam {
                        s.results.pop();
                    }
                }
                if dn <= boundary || in_beam {
                    self.prefetch_links(n, 0);
                    s.candidates.push(!k);
                }
            }
        }
        self.put_scratch(s);
        out.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        out
    }

    /// Removed (or replaced) nodes still in the graph.
    fn tombstones(&self) -> usize {
        self.tombstones
    }

    /// More than 1000 tombstones and more than a quarter of the nodes: past that, searches
    /// spend a noticeable share of their work on dead nodes and the memory is worth getting
    /// back; below, a rebuild (a full re-insert) costs more than it saves.
    fn needs_rebuild(&self) -> bool {
        self.tombstones > REBUILD_MIN_TOMBSTONES && self.tombstones * 4 > self.nodes()
    }

    fn live_vectors(&self) -> Vec<(u32, Vec<f32>)> {
        self.live().map(|(id, v)| (id, v.to_vec())).collect()
    }

    fn distance_to(&self, q: &[f32], id: u32) -> Option<f32> {
        let node = *self.node_of.get(&id)?;
        Some(self.dist(&self.prepared(q), node))
    }

    fn nearest_of(
        &self,
        q: &[f32],
        ids: &mut dyn Iterator<Item = u32>,
        k: usize,
    ) -> Vec<(f32, u32)> {
        // The query is prepared once, not per candidate (that allocation was most of a
        // narrow filtered KNN's time).
        let q = self.prepared(q);
        let mut top = super::vector::TopK::new(k);
        for id in ids {
            if let Some(&node) = self.node_of.get(&id) {
                top.push(self.dist(&q, node), id);
            }
        }
        top.into_sorted()
    }

    fn memory(&self) -> usize {
        let scratch: usize = self
            .pool
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(Scratch::memory)
            .sum();
        self.vectors.capacity() * 4
            + self.links0.capacity() * 4
            + self.upper.capacity() * 4
            + self.upper_at.capacity() * std::mem::size_of::<usize>()
            + self.levels.capacity()
            + self.labels.capacity() * 4
            + self.deleted.capacity()
            // hashbrown: one control byte per bucket besides the entry.
            + self.node_of.capacity() * 9
            + scratch
    }
}

/// Per-search working memory, pooled so a search allocates nothing per visited node.
#[derive(Default)]
struct Scratch {
    /// `tags[n] == epoch` marks `n` visited; bumping the epoch clears the set in O(1).
    tags: Vec<u16>,
    epoch: u16,
    /// Min-heap of open candidates, stored as complemented keys in a max-heap.
    candidates: BinaryHeap<u64>,
    /// Max-heap of results, worst on top.
    results: BinaryHeap<u64>,
    /// The unvisited neighbours of the node being expanded.
    batch: Vec<u32>,
}

impl Scratch {
    fn begin(&mut self, nodes: usize) {
        if self.tags.len() < nodes {
            self.tags.resize(nodes, 0);
        }
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.tags.fill(0);
            self.epoch = 1;
        }
        self.candidates.clear();
        self.results.clear();
    }

    /// Marks `n` visited; `false` if it already was.
    #[inline]
    fn visit(&mut self, n: u32) -> bool {
        let tag = &mut self.tags[n as usize];
        if *tag == self.epoch {
            false
        } else {
            *tag = self.epoch;
            true
        }
    }

    #[inline]
    fn seen(&self, n: u32) -> bool {
        self.tags[n as usize] == self.epoch
    }

    /// Drains the results into `out` as `(distance, key)`, nearest first.
    fn sorted_results(&mut self, out: &mut Vec<(f32, u32)>) {
        out.clear();
        let mut keys = std::mem::take(&mut self.results).into_vec();
        keys.sort_unstable();
        out.extend(keys.iter().map(|&k| (key_distance(k), key_id(k))));
        keys.clear();
        self.results = BinaryHeap::from(keys);
    }

    fn memory(&self) -> usize {
        self.tags.capacity() * 2 + (self.candidates.capacity() + self.results.capacity()) * 8
    }
}

const SIGN: u32 = 0x8000_0000;

/// Packs `(distance, id)` into a `u64` whose integer order is `f32::total_cmp` on the distance,
/// then the id: heaps compare one integer instead of a float and a tie-breaker.
#[inline]
fn key(d: f32, id: u32) -> u64 {
    let b = d.to_bits();
    let ord = if b & SIGN != 0 { !b } else { b | SIGN };
    (u64::from(ord) << 32) | u64::from(id)
}

#[inline]
fn key_distance(k: u64) -> f32 {
    let ord = (k >> 32) as u32;
    f32::from_bits(if ord & SIGN != 0 { ord & !SIGN } else { !ord })
}

#[inline]
fn key_id(k: u64) -> u32 {
    k as u32
}

#[inline(always)]
fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint: it reads nothing architecturally and never faults, whatever
    // the address; SSE is part of the x86_64 baseline.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// `Metric::distance`, compiled for AVX when the CPU has it. The kernels in `vector` are
/// written as eight independent lanes, so the AVX build does the very same float operations in
/// the same order as the baseline SSE2 build: distances stay bit-identical to FLAT's, only
/// faster (half the instructions per distance, and most of a graph build is distances).
#[derive(Clone, Copy)]
struct Kernel {
    metric: Metric,
    avx: bool,
}

impl Kernel {
    fn new(metric: Metric) -> Kernel {
        #[cfg(target_arch = "x86_64")]
        let avx = std::arch::is_x86_feature_detected!("avx");
        #[cfg(not(target_arch = "x86_64"))]
        let avx = false;
        Kernel { metric, avx }
    }

    #[inline(always)]
    fn distance(self, a: &[f32], b: &[f32]) -> f32 {
        #[cfg(target_arch = "x86_64")]
        if self.avx {
            // SAFETY: `avx` is only true when the running CPU was detected to support AVX,
            // which is all `distance_avx` requires.
            return unsafe { distance_avx(self.metric, a, b) };
        }
        self.metric.distance(a, b)
    }
}

/// # Safety
/// The CPU must support AVX.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
unsafe fn distance_avx(metric: Metric, a: &[f32], b: &[f32]) -> f32 {
    metric.distance(a, b)
}

/// splitmix64: tiny, seedable, and good enough for level draws and test data.
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::super::vector::FlatIndex;
    use super::*;

    fn gauss(rng: &mut SplitMix64) -> f32 {
        let u1 = ((rng.next() >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
        let u2 = (rng.next() >> 11) as f64 / (1u64 << 53) as f64;
        ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
    }

    type Points = Vec<Vec<f32>>;

    /// `n` points and `nq` queries drawn from one mixture of `clusters` unit Gaussians, whose
    /// centres are themselves Gaussian with deviation `spread`.
    fn mixture(
        n: usize,
        nq: usize,
        dim: usize,
        clusters: usize,
        spread: f32,
        seed: u64,
    ) -> (Points, Points) {
        let mut rng = SplitMix64(seed);
        let centres: Points = (0..clusters)
            .map(|_| (0..dim).map(|_| spread * gauss(&mut rng)).collect())
            .collect();
        let mut draw = |count: usize| -> Points {
            (0..count)
                .map(|_| {
                    let c = &centres[(rng.next() % clusters as u64) as usize];
                    c.iter().map(|x| x + gauss(&mut rng)).collect()
                })
                .collect()
        };
        let data = draw(n);
        (data, draw(nq))
    }

    fn build(data: &[Vec<f32>], metric: Metric) -> (HnswIndex, FlatIndex) {
        let dim = data[0].len();
        let mut h = HnswIndex::new(dim, metric, 16, 200, data.len(), 42);
        let mut f = FlatIndex::new(dim, metric, data.len());
        for (i, v) in data.iter().enumerate() {
            h.insert(i as u32, v);
            f.insert(i as u32, v);
        }
        (h, f)
    }

    fn recall(
        h: &HnswIndex,
        f: &FlatIndex,
        queries: &[Vec<f32>],
        k: usize,
        filter: Option<Filter>,
    ) -> f64 {
        let mut hits = 0;
        let mut total = 0;
        for q in queries {
            let truth = f.knn(q, k, 0, filter);
            let got = h.knn(q, k, 100, filter);
            assert_eq!(got.len(), truth.len());
            assert!(got.windows(2).all(|w| (w[0].0, w[0].1) <= (w[1].0, w[1].1)));
            for &(d, id) in &got {
                assert_eq!(h.distance_to(q, id), Some(d));
            }
            hits += got
                .iter()
                .filter(|g| truth.iter().any(|t| t.1 == g.1))
                .count();
            total += truth.len();
        }
        hits as f64 / total.max(1) as f64
    }

    #[test]
    fn index_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<HnswIndex>();
    }

    #[test]
    fn kernel_is_bit_identical_to_metric_distance() {
        let mut rng = SplitMix64(3);
        for dim in [1, 7, 8, 31, 128, 300] {
            let a: Vec<f32> = (0..dim).map(|_| gauss(&mut rng)).collect();
            let b: Vec<f32> = (0..dim).map(|_| gauss(&mut rng)).collect();
            for metric in [Metric::L2, Metric::Ip, Metric::Cosine] {
                let want = metric.distance(&a, &b);
                assert_eq!(
                    Kernel::new(metric).distance(&a, &b).to_bits(),
                    want.to_bits()
                );
            }
        }
    }

    #[test]
    fn keys_order_like_total_cmp() {
        let xs = [
            -f32::INFINITY,
            -2.5,
            -0.0,
            0.0,
            1e-30,
            1.0,
            7.5,
            f32::INFINITY,
        ];
        for w in xs.windows(2) {
            assert!(key(w[0], 9) < key(w[1], 0));
        }
        for &x in &xs {
            assert_eq!(key_distance(key(x, 3)).to_bits(), x.to_bits());
            assert_eq!(key_id(key(x, 3)), 3);
        }
        assert!(key(1.0, 2) < key(1.0, 3));
    }

    #[test]
    fn recall_against_flat_on_clustered_data() {
        // Unoptimised builds run the kernels some 30 times slower: they get a smaller set.
        let n: u32 = if cfg!(debug_assertions) { 2000 } else { 5000 };
        // Clusters that overlap, so that the nearest neighbours are not trivially one cluster.
        let (data, queries) = mixture(n as usize, 200, 32, 50, 0.5, 1);
        let (h, f) = build(&data, Metric::L2);
        assert_eq!(h.len(), n as usize);
        let r = recall(&h, &f, &queries, 10, None);
        assert!(r >= 0.95, "recall@10 {r}");

        // Removing 30% tombstones them; they are never returned and recall holds.
        let mut h = h;
        let mut f = f;
        for id in (0..n).filter(|id| id % 10 < 3) {
            h.remove(id);
            f.remove(id);
        }
        h.remove(0);
        let (live, dead) = (n as usize * 7 / 10, n as usize * 3 / 10);
        assert_eq!(
            (h.len(), h.tombstones(), h.nodes()),
            (live, dead, n as usize)
        );
        assert_eq!(h.needs_rebuild(), dead > 1000);
        for q in &queries {
            assert!(h.knn(q, 10, 100, None).iter().all(|r| r.1 % 10 >= 3));
        }
        let r = recall(&h, &f, &queries, 10, None);
        assert!(r >= 0.95, "recall@10 with tombstones {r}");

        let fresh = h.rebuilt();
        assert_eq!(
            (fresh.len(), fresh.tombstones(), fresh.nodes()),
            (live, 0, live)
        );
        assert!(!fresh.needs_rebuild());
        assert!(fresh.memory() < h.memory());
        assert!(!fresh.contains(10) && fresh.contains(13));
        let r = recall(&fresh, &f, &queries, 10, None);
        assert!(r >= 0.95, "recall@10 after rebuild {r}");
    }

    #[test]
    fn reinserting_an_id_replaces_its_vector() {
        let mut h = HnswIndex::new(2, Metric::L2, 4, 20, 0, 7);
        for i in 0..50u32 {
            h.insert(i, &[i as f32, 0.0]);
        }
        h.insert(7, &[1000.0, 0.0]);
        assert_eq!((h.len(), h.tombstones()), (50, 1));
        let r = h.knn(&[7.0, 0.0], 3, 10, None);
        assert_eq!(r.iter().map(|x| x.1).collect::<Vec<_>>(), vec![6, 8, 5]);
        assert_eq!(h.knn(&[999.0, 0.0], 1, 10, None), vec![(1.0, 7)]);
        assert_eq!(h.distance_to(&[1000.0, 3.0], 7), Some(9.0));
        assert_eq!(h.distance_to(&[0.0, 0.0], 50), None);
    }

    #[test]
    fn filtered_knn_returns_only_accepted_ids() {
        let (data, queries) = mixture(2000, 30, 16, 20, 3.0, 3);
        let (h, f) = build(&data, Metric::L2);
        let sevens = |id: u32| id % 7 == 0;
        for q in &queries {
            let got = h.knn(q, 10, 50, Some(&sevens));
            assert_eq!(got.len(), 10);
            assert!(got.iter().all(|r| r.1 % 7 == 0));
        }
        assert!(recall(&h, &f, &queries, 10, Some(&sevens)) >= 0.95);
        // Fewer accepted documents than k: all of them come back.
        let few = |id: u32| matches!(id, 5 | 500 | 1999);
        let got = h.knn(&queries[0], 10, 10, Some(&few));
        let mut ids: Vec<u32> = got.iter().map(|r| r.1).collect();
        ids.sort();
        assert_eq!(ids, vec![5, 500, 1999]);
        let none = |_: u32| false;
        assert!(h.knn(&queries[0], 10, 10, Some(&none)).is_empty());
    }

    #[test]
    fn unreachable_nodes_are_still_found() {
        // A graph cut in two by hand: the exhaustive completion finds the other half.
        let mut h = HnswIndex::new(1, Metric::L2, 2, 4, 0, 1);
        for i in 0..20u32 {
            h.insert(i, &[i as f32]);
        }
        let isolated = (0..20u32)
            .rev()
            .map(|id| h.node_of[&id])
            .find(|&n| Some(n) != h.entry && h.labels[n as usize] % 2 == 1)
            .expect("an odd node that is not the entry");
        for n in 0..h.nodes() as u32 {
            for level in 0..=h.levels[n as usize] as usize {
                let kept: Vec<u32> = h
                    .neighbours(n, level)
                    .iter()
                    .copied()
                    .filter(|&x| x != isolated)
                    .collect();
                h.set_neighbours(n, level, &kept);
            }
        }
        let odd = |id: u32| id % 2 == 1;
        let got = h.knn(&[0.0], 10, 10, Some(&odd));
        assert_eq!(got.len(), 10);
        assert!(got.iter().all(|r| r.1 % 2 == 1));
        assert!(got.iter().any(|r| r.1 == h.labels[isolated as usize]));
        // Without the completion the search would come back one short.
        let entry = h.entry.expect("an entry point");
        let mut s = h.take_scratch();
        let visited = h.search_layer(&mut s, &[0.0], entry, h.dist(&[0.0], entry), 100, 0, Some);
        assert_eq!(visited, 19);
    }

    #[test]
    fn range_matches_flat() {
        let (data, near) = mixture(1000, 40, 8, 10, 3.0, 5);
        let (h, f) = build(&data, Metric::L2);
        let even = |id: u32| id % 2 == 0;
        for q in &near {
            // A radius around the 30th neighbour's distance.
            let radius = f.knn(q, 30, 0, None)[29].0;
            let got = h.range(q, radius, 0.01, None);
            assert_eq!(got.len(), 30);
            assert_eq!(got, f.range(q, radius, 0.0, None));
            assert_eq!(
                h.range(q, radius, 0.01, Some(&even)),
                f.range(q, radius, 0.0, Some(&even))
            );
        }
        // Queries far from every cluster are the hard case for a graph walk: the answer is
        // still a subset of the exact one, and nearly all of it.
        let (mut found, mut exact) = (0, 0);
        for q in &mixture(0, 40, 8, 10, 3.0, 7).1 {
            let radius = f.knn(q, 30, 0, None)[29].0;
            let truth = f.range(q, radius, 0.0, None);
            let got = h.range(q, radius, 0.01, None);
            assert!(got.iter().all(|g| truth.contains(g)));
            (found, exact) = (found + got.len(), exact + truth.len());
        }
        assert!(found as f64 >= 0.97 * exact as f64, "{found} of {exact}");
        assert!(h.range(&near[0], -1.0, 0.01, None).is_empty());
    }

    #[test]
    fn cosine_and_inner_product() {
        let (data, queries) = mixture(2000, 50, 16, 20, 3.0, 8);
        let (h, f) = build(&data, Metric::Cosine);
        assert!(recall(&h, &f, &queries, 10, None) >= 0.95);
        let r = h.knn(&queries[0], 1, 10, None);
        assert!(r[0].0 >= -1e-6 && r[0].0 <= 2.0);

        // IP over unit vectors: the same ranking as cosine.
        let unit: Vec<Vec<f32>> = data
            .iter()
            .map(|v| {
                let mut v = v.clone();
                Metric::Cosine.prepare(&mut v);
                v
            })
            .collect();
        let (h, f) = build(&unit, Metric::Ip);
        assert!(recall(&h, &f, &queries, 10, None) >= 0.95);
    }

    #[test]
    fn concurrent_searches_agree_with_serial_ones() {
        let (data, queries) = mixture(2000, 100, 16, 20, 3.0, 10);
        let (h, _) = build(&data, Metric::L2);
        let serial: Vec<_> = queries.iter().map(|q| h.knn(q, 10, 40, None)).collect();
        let h = std::sync::RwLock::new(h);
        std::thread::scope(|scope| {
            for _ in 0..2 {
                scope.spawn(|| {
                    let h = h.read().unwrap_or_else(|e| e.into_inner());
                    for (q, want) in queries.iter().zip(&serial) {
                        assert_eq!(&h.knn(q, 10, 40, None), want);
                    }
                });
            }
        });
    }

    #[test]
    fn empty_and_emptied_indexes() {
        let mut h = HnswIndex::new(3, Metric::L2, 8, 50, 0, 0);
        assert!(h.is_empty());
        assert!(h.knn(&[0.0; 3], 5, 10, None).is_empty());
        assert!(h.range(&[0.0; 3], 10.0, 0.1, None).is_empty());
        for i in 0..100u32 {
            h.insert(i, &[i as f32, 1.0, 2.0]);
        }
        assert_eq!(h.knn(&[0.0; 3], 0, 10, None), vec![]);
        for i in 0..100u32 {
            h.remove(i);
        }
        h.remove(3);
        assert!(h.is_empty());
        assert!(h.knn(&[0.0; 3], 5, 10, None).is_empty());
        assert!(h.range(&[0.0; 3], 1e9, 0.1, None).is_empty());
        h.insert(9, &[1.0, 1.0, 2.0]);
        assert_eq!(h.knn(&[0.0, 1.0, 2.0], 5, 10, None), vec![(1.0, 9)]);
        assert_eq!(
            h.live().map(|(id, v)| (id, v.to_vec())).collect::<Vec<_>>(),
            vec![(9, vec![1.0, 1.0, 2.0])]
        );
        assert!(h.memory() > 0);
    }
}
