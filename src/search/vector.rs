//! Vectors: element types, metrics, distance kernels, and the index trait that FLAT and HNSW
//! implement.
//!
//! Every vector is kept as `f32` whatever its declared type: FLOAT16/BFLOAT16 widen exactly,
//! FLOAT64 is rounded once on the way in (distances then agree with RediSearch's to about
//! 1e-7 relative, and ranking only differs for ties at that precision). One element type keeps
//! one set of kernels, one arena layout and half the memory for FLOAT64 fields.
//!
//! Distances are RediSearch's: L2 is the *squared* Euclidean distance, IP is `1 − a·b`,
//! COSINE is `1 − cos(a, b)`, computed as `1 − a·b` over vectors normalised on the way in
//! (a zero vector stays zero, as RediSearch does, and is at distance 1 from everything).

/// The element type a VECTOR field declares (FT.CREATE `TYPE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataType {
    Float32,
    Float64,
    Float16,
    BFloat16,
    /// Redis 8's integer vectors: each element is a signed or unsigned byte; distances are
    /// computed on the integer values.
    Int8,
    UInt8,
}

impl DataType {
    pub fn parse(word: &[u8]) -> Option<DataType> {
        Some(match word.to_ascii_uppercase().as_slice() {
            b"FLOAT32" => DataType::Float32,
            b"FLOAT64" => DataType::Float64,
            b"FLOAT16" => DataType::Float16,
            b"BFLOAT16" => DataType::BFloat16,
            b"INT8" => DataType::Int8,
            b"UINT8" => DataType::UInt8,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            DataType::Float32 => "FLOAT32",
            DataType::Float64 => "FLOAT64",
            DataType::Float16 => "FLOAT16",
            DataType::BFloat16 => "BFLOAT16",
            DataType::Int8 => "INT8",
            DataType::UInt8 => "UINT8",
        }
    }

    pub fn size(self) -> usize {
        match self {
            DataType::Float32 => 4,
            DataType::Float64 => 8,
            DataType::Float16 | DataType::BFloat16 => 2,
            DataType::Int8 | DataType::UInt8 => 1,
        }
    }

    /// Decodes a little-endian blob of exactly `dim` elements into `out`.
    pub fn decode(self, blob: &[u8], dim: usize, out: &mut Vec<f32>) -> Result<(), usize> {
        let expected = dim * self.size();
        if blob.len() != expected {
            return Err(expected);
        }
        out.clear();
        out.reserve(dim);
        match self {
            DataType::Float32 => out.extend(
                blob.chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
            ),
            DataType::Float64 => out.extend(blob.chunks_exact(8).map(|c| {
                f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f32
            })),
            DataType::Float16 => out.extend(
                blob.chunks_exact(2)
                    .map(|c| f16_to_f32(u16::from_le_bytes([c[0], c[1]]))),
            ),
            DataType::BFloat16 => out.extend(
                blob.chunks_exact(2)
                    .map(|c| f32::from_bits((u16::from_le_bytes([c[0], c[1]]) as u32) << 16)),
            ),
            DataType::Int8 => out.extend(blob.iter().map(|&b| f32::from(b as i8))),
            DataType::UInt8 => out.extend(blob.iter().map(|&b| f32::from(b))),
        }
        Ok(())
    }
}

fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let frac = (h & 0x3ff) as u32;
    let bits = match (exp, frac) {
        (0, 0) => sign,
        (0, _) => {
            // Subnormal: renormalise into an f32 exponent.
            let mut e = 127 - 15 + 1;
            let mut f = frac;
            while f & 0x400 == 0 {
                f <<= 1;
                e -= 1;
            }
            sign | (e << 23) | ((f & 0x3ff) << 13)
        }
        (0x1f, _) => sign | 0x7f80_0000 | (frac << 13),
        _ => sign | ((exp + 127 - 15) << 23) | (frac << 13),
    };
    f32::from_bits(bits)
}

/// FT.CREATE `DISTANCE_METRIC`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    L2,
    Ip,
    Cosine,
}

impl Metric {
    pub fn parse(word: &[u8]) -> Option<Metric> {
        Some(match word.to_ascii_uppercase().as_slice() {
            b"L2" => Metric::L2,
            b"IP" => Metric::Ip,
            b"COSINE" => Metric::Cosine,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Metric::L2 => "L2",
            Metric::Ip => "IP",
            Metric::Cosine => "COSINE",
        }
    }

    /// Brings a vector into the form the kernels expect: unit length for COSINE.
    pub fn prepare(self, v: &mut [f32]) {
        if self == Metric::Cosine {
            let norm = dot(v, v).sqrt();
            if norm > 0.0 {
                v.iter_mut().for_each(|x| *x /= norm);
            }
        }
    }

    /// Distance between two prepared vectors.
    #[inline]
    pub fn distance(self, a: &[f32], b: &[f32]) -> f32 {
        match self {
            Metric::L2 => l2sq(a, b),
            Metric::Ip | Metric::Cosine => 1.0 - dot(a, b),
        }
    }
}

// Eight independent accumulators let the compiler keep the loop in vector registers (the
// reduction order is fixed, so results do not depend on the target's SIMD width).
const LANES: usize = 8;

#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; LANES];
    let chunks = n / LANES;
    for i in 0..chunks {
        let x = &a[i * LANES..i * LANES + LANES];
        let y = &b[i * LANES..i * LANES + LANES];
        for j in 0..LANES {
            acc[j] += x[j] * y[j];
        }
    }
    let mut s = 0f32;
    for i in chunks * LANES..n {
        s += a[i] * b[i];
    }
    acc.iter().sum::<f32>() + s
}

#[inline]
pub fn l2sq(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; LANES];
    let chunks = n / LANES;
    for i in 0..chunks {
        let x = &a[i * LANES..i * LANES + LANES];
        let y = &b[i * LANES..i * LANES + LANES];
        for j in 0..LANES {
            let d = x[j] - y[j];
            acc[j] += d * d;
        }
    }
    let mut s = 0f32;
    for i in chunks * LANES..n {
        let d = a[i] - b[i];
        s += d * d;
    }
    acc.iter().sum::<f32>() + s
}

/// A filter over document ids: `true` keeps the document.
pub type Filter<'a> = &'a (dyn Fn(u32) -> bool + Sync);

/// What FLAT and HNSW share. Ids are the index's document ids; vectors passed in are raw
/// (the index prepares them for its metric). Results are `(distance, id)`, nearest first.
pub trait VectorIndex: Send + Sync {
    /// Adds `id`, replacing its previous vector if it had one.
    fn insert(&mut self, id: u32, v: &[f32]);
    /// Removes `id`; no-op when absent. Never returned by a search afterwards.
    fn remove(&mut self, id: u32);
    fn contains(&self, id: u32) -> bool;
    /// Live vectors.
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The `k` nearest live vectors that pass `filter`; `ef` is the HNSW search breadth
    /// (ignored by FLAT).
    fn knn(&self, q: &[f32], k: usize, ef: usize, filter: Option<Filter>) -> Vec<(f32, u32)>;
    /// Every live vector within `radius` (inclusive) that passes `filter`; `epsilon` widens
    /// the HNSW boundary search (ignored by FLAT).
    fn range(
        &self,
        q: &[f32],
        radius: f32,
        epsilon: f32,
        filter: Option<Filter>,
    ) -> Vec<(f32, u32)>;
    /// Exact distance from `q` to the vector of `id`, if present.
    fn distance_to(&self, q: &[f32], id: u32) -> Option<f32>;
    /// The `k` nearest of `ids` by exact distance (absent ids skipped): a filtered KNN's
    /// scan over its candidates. Indexes that prepare the query override it to do so once.
    fn nearest_of(
        &self,
        q: &[f32],
        ids: &mut dyn Iterator<Item = u32>,
        k: usize,
    ) -> Vec<(f32, u32)> {
        let mut top = TopK::new(k);
        for id in ids {
            if let Some(d) = self.distance_to(q, id) {
                top.push(d, id);
            }
        }
        top.into_sorted()
    }
    /// Heap bytes held.
    fn memory(&self) -> usize;
    /// Removed vectors still taking space (HNSW tombstones).
    fn tombstones(&self) -> usize {
        0
    }
    /// Whether enough space is wasted that building the index afresh pays off.
    fn needs_rebuild(&self) -> bool {
        false
    }
    /// Every live vector with its id (as stored: prepared for the metric). Only indexes
    /// that can ask for a rebuild need it.
    fn live_vectors(&self) -> Vec<(u32, Vec<f32>)> {
        Vec::new()
    }
}

/// Exact search over a contiguous arena. Removal moves the last vector into the hole, so the
/// arena stays dense and a scan touches only live vectors.
pub struct FlatIndex {
    dim: usize,
    metric: Metric,
    data: Vec<f32>,
    ids: Vec<u32>,
    slot_of: std::collections::HashMap<u32, usize>,
}

impl FlatIndex {
    pub fn new(dim: usize, metric: Metric, capacity: usize) -> FlatIndex {
        // INITIAL_CAP is a hint from the client: allocate at most 64 MiB up front for it.
        let capacity = capacity.min((64 << 20) / (dim.max(1) * 4));
        FlatIndex {
            dim,
            metric,
            data: Vec::with_capacity(capacity * dim),
            ids: Vec::with_capacity(capacity),
            slot_of: Default::default(),
        }
    }

    fn vector(&self, slot: usize) -> &[f32] {
        &self.data[slot * self.dim..(slot + 1) * self.dim]
    }
}

/// Keeps the `k` smallest `(distance, id)` pairs seen; ties broken by id so results are
/// deterministic.
pub struct TopK {
    k: usize,
    heap: std::collections::BinaryHeap<(Ordered, u32)>,
}

/// An f32 with a total order (NaN sorts last), for heaps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ordered(pub f32);
impl Eq for Ordered {}
impl PartialOrd for Ordered {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Ordered {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

impl TopK {
    pub fn new(k: usize) -> TopK {
        TopK {
            k,
            heap: std::collections::BinaryHeap::with_capacity(k.min(4096) + 1),
        }
    }

    #[inline]
    pub fn push(&mut self, d: f32, id: u32) {
        if self.k == 0 {
            return;
        }
        if self.heap.len() < self.k {
            self.heap.push((Ordered(d), id));
        } else if let Some(top) = self.heap.peek() {
            if (Ordered(d), id) < *top {
                self.heap.pop();
                self.heap.push((Ordered(d), id));
            }
        }
    }

    pub fn into_sorted(self) -> Vec<(f32, u32)> {
        self.heap
            .into_sorted_vec()
            .into_iter()
            .map(|(d, id)| (d.0, id))
            .collect()
    }
}

impl VectorIndex for FlatIndex {
    fn insert(&mut self, id: u32, v: &[f32]) {
        let mut v = v.to_vec();
        self.metric.prepare(&mut v);
        match self.slot_of.get(&id) {
            Some(&slot) => {
                let dim = self.dim;
                self.data[slot * dim..(slot + 1) * dim].copy_from_slice(&v);
            }
            None => {
                if self.ids.len() == self.ids.capacity() {
                    // An eighth at a time: a doubling Vec could leave half the arena unused.
                    let more = (self.ids.len() / 8).max(64);
                    self.ids.reserve_exact(more);
                    self.data.reserve_exact(more * self.dim);
                }
                self.slot_of.insert(id, self.ids.len());
                self.ids.push(id);
                self.data.extend_from_slice(&v);
            }
        }
    }

    fn remove(&mut self, id: u32) {
        let Some(slot) = self.slot_of.remove(&id) else {
            return;
        };
        let last = self.ids.len() - 1;
        if slot != last {
            let moved = self.ids[last];
            self.ids[slot] = moved;
            self.slot_of.insert(moved, slot);
            let dim = self.dim;
            self.data
                .copy_within(last * dim..(last + 1) * dim, slot * dim);
        }
        self.ids.pop();
        self.data.truncate(last * self.dim);
    }

    fn contains(&self, id: u32) -> bool {
        self.slot_of.contains_key(&id)
    }

    fn len(&self) -> usize {
        self.ids.len()
    }

    fn knn(&self, q: &[f32], k: usize, _ef: usize, filter: Option<Filter>) -> Vec<(f32, u32)> {
        let mut q = q.to_vec();
        self.metric.prepare(&mut q);
        let mut top = TopK::new(k);
        for (slot, &id) in self.ids.iter().enumerate() {
            if filter.map_or(true, |f| f(id)) {
                top.push(self.metric.distance(&q, self.vector(slot)), id);
            }
        }
        top.into_sorted()
    }

    fn range(&self, q: &[f32], radius: f32, _eps: f32, filter: Option<Filter>) -> Vec<(f32, u32)> {
        let mut q = q.to_vec();
        self.metric.prepare(&mut q);
        let mut out: Vec<(f32, u32)> = self
            .ids
            .iter()
            .enumerate()
            .filter(|(_, &id)| filter.map_or(true, |f| f(id)))
            .map(|(slot, &id)| (self.metric.distance(&q, self.vector(slot)), id))
            .filter(|(d, _)| *d <= radius)
            .collect();
        out.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        out
    }

    fn distance_to(&self, q: &[f32], id: u32) -> Option<f32> {
        let slot = *self.slot_of.get(&id)?;
        let mut q = q.to_vec();
        self.metric.prepare(&mut q);
        Some(self.metric.distance(&q, self.vector(slot)))
    }

    fn nearest_of(
        &self,
        q: &[f32],
        ids: &mut dyn Iterator<Item = u32>,
        k: usize,
    ) -> Vec<(f32, u32)> {
        let mut q = q.to_vec();
        self.metric.prepare(&mut q);
        let mut top = TopK::new(k);
        for id in ids {
            if let Some(&slot) = self.slot_of.get(&id) {
                top.push(self.metric.distance(&q, self.vector(slot)), id);
            }
        }
        top.into_sorted()
    }

    fn memory(&self) -> usize {
        self.data.capacity() * 4 + self.ids.capacity() * 4 + self.slot_of.capacity() * 16
    }

    fn live_vectors(&self) -> Vec<(u32, Vec<f32>)> {
        self.ids
            .iter()
            .enumerate()
            .map(|(slot, &id)| (id, self.vector(slot).to_vec()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernels_match_naive_sums() {
        let a: Vec<f32> = (0..19).map(|i| i as f32 * 0.5).collect();
        let b: Vec<f32> = (0..19).map(|i| 3.0 - i as f32).collect();
        let naive_dot: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        let naive_l2: f32 = a.iter().zip(&b).map(|(x, y)| (x - y) * (x - y)).sum();
        assert!((dot(&a, &b) - naive_dot).abs() < 1e-3);
        assert!((l2sq(&a, &b) - naive_l2).abs() < 1e-2);
    }

    #[test]
    fn decodes_every_type_and_rejects_wrong_lengths() {
        let mut out = Vec::new();
        let blob: Vec<u8> = [1.5f64, -2.0]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        DataType::Float64.decode(&blob, 2, &mut out).unwrap();
        assert_eq!(out, vec![1.5, -2.0]);
        assert_eq!(DataType::Float64.decode(&blob, 3, &mut out), Err(24));
        // 1.0, -2.0, 65504, smallest subnormal in half precision.
        let h: Vec<u8> = [0x3c00u16, 0xc000, 0x7bff, 0x0001]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        DataType::Float16.decode(&h, 4, &mut out).unwrap();
        assert_eq!(out[..3], [1.0, -2.0, 65504.0]);
        assert_eq!(out[3], 2f32.powi(-24));
        let bf: Vec<u8> = [0x3f80u16, 0xc040]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        DataType::BFloat16.decode(&bf, 2, &mut out).unwrap();
        assert_eq!(out, vec![1.0, -3.0]);
    }

    #[test]
    fn flat_is_exact_and_forgets_removed_ids() {
        let mut f = FlatIndex::new(2, Metric::L2, 0);
        for i in 0..10u32 {
            f.insert(i, &[i as f32, 0.0]);
        }
        f.remove(3);
        f.insert(5, &[100.0, 0.0]);
        let r = f.knn(&[3.2, 0.0], 3, 0, None);
        assert_eq!(r.iter().map(|x| x.1).collect::<Vec<_>>(), vec![4, 2, 1]);
        assert!((r[0].0 - 0.64).abs() < 1e-5);
        let even = |id: u32| id % 2 == 0;
        let r = f.range(&[0.0, 0.0], 16.0, 0.0, Some(&even));
        assert_eq!(r.iter().map(|x| x.1).collect::<Vec<_>>(), vec![0, 2, 4]);
        assert_eq!(f.len(), 9);
    }

    #[test]
    fn cosine_and_ip_are_one_minus_dot() {
        let mut f = FlatIndex::new(2, Metric::Cosine, 0);
        f.insert(1, &[3.0, 0.0]);
        f.insert(2, &[0.0, 5.0]);
        let r = f.knn(&[1.0, 1.0], 2, 0, None);
        assert!((r[0].0 - (1.0 - 0.5f32.sqrt())).abs() < 1e-6);
        let mut f = FlatIndex::new(2, Metric::Ip, 0);
        f.insert(1, &[0.5, 0.5]);
        assert!((f.knn(&[1.0, 1.0], 1, 0, None)[0].0 - 0.0).abs() < 1e-6);
    }
}
