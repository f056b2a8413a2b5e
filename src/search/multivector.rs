//! Several vectors per document: a JSON VECTOR field whose path matches several arrays
//! (`$.chunks[*].embedding`) or whose value is an array of arrays, as RediSearch 2.8+ indexes
//! them. A document matches by its nearest vector: a KNN, a range and an exact distance answer
//! by document, at the smallest distance among its vectors.
//!
//! Each vector is stored in the wrapped index under a label of its own, and searches map labels
//! back to documents. `insert` adds a vector to a document (it does not replace the others):
//! whoever updates a document removes it first, which also keeps a rebuild's replayed change
//! log exact (a replay then never duplicates a vector the snapshot already holds).

use std::collections::HashMap;

use super::vector::{Filter, VectorIndex};

pub struct MultiVectorIndex {
    inner: Box<dyn VectorIndex>,
    doc_of: HashMap<u32, u32>,
    labels: HashMap<u32, Vec<u32>>,
    next_label: u32,
    free_labels: Vec<u32>,
}

impl MultiVectorIndex {
    pub fn new(inner: Box<dyn VectorIndex>) -> MultiVectorIndex {
        MultiVectorIndex {
            inner,
            doc_of: HashMap::new(),
            labels: HashMap::new(),
            next_label: 0,
            free_labels: Vec::new(),
        }
    }

    /// Label hits as document hits: the nearest label of each document, nearest first.
    fn by_document(&self, hits: Vec<(f32, u32)>) -> Vec<(f32, u32)> {
        let mut best: HashMap<u32, f32> = HashMap::with_capacity(hits.len());
        for (d, label) in hits {
            let Some(&doc) = self.doc_of.get(&label) else {
                continue;
            };
            let e = best.entry(doc).or_insert(d);
            if d < *e {
                *e = d;
            }
        }
        let mut out: Vec<(f32, u32)> = best.into_iter().map(|(doc, d)| (d, doc)).collect();
        out.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        out
    }
}

impl VectorIndex for MultiVectorIndex {
    fn insert(&mut self, id: u32, v: &[f32]) {
        let label = self.free_labels.pop().unwrap_or_else(|| {
            self.next_label += 1;
            self.next_label - 1
        });
        self.inner.insert(label, v);
        self.doc_of.insert(label, id);
        self.labels.entry(id).or_default().push(label);
    }

    fn remove(&mut self, id: u32) {
        for label in self.labels.remove(&id).unwrap_or_default() {
            self.inner.remove(label);
            self.doc_of.remove(&label);
            self.free_labels.push(label);
        }
    }

    fn contains(&self, id: u32) -> bool {
        self.labels.contains_key(&id)
    }

    fn len(&self) -> usize {
        self.labels.len()
    }

    fn knn(&self, q: &[f32], k: usize, ef: usize, filter: Option<Filter>) -> Vec<(f32, u32)> {
        let by_label = |label: u32| {
            self.doc_of
                .get(&label)
                .is_some_and(|doc| filter.map_or(true, |f| f(*doc)))
        };
        // Ask for more vectors until k documents are found or the index has no more: one
        // document's vectors may fill the first answer.
        let mut want = k;
        loop {
            let hits = self.inner.knn(q, want, ef.max(want), Some(&by_label));
            let exhausted = hits.len() < want || want >= self.inner.len();
            let mut docs = self.by_document(hits);
            if docs.len() >= k || exhausted {
                docs.truncate(k);
                return docs;
            }
            want = want.saturating_mul(2);
        }
    }

    fn range(
        &self,
        q: &[f32],
        radius: f32,
        epsilon: f32,
        filter: Option<Filter>,
    ) -> Vec<(f32, u32)> {
        let by_label = |label: u32| {
            self.doc_of
                .get(&label)
                .is_some_and(|doc| filter.map_or(true, |f| f(*doc)))
        };
        self.by_document(self.inner.range(q, radius, epsilon, Some(&by_label)))
    }

    fn distance_to(&self, q: &[f32], id: u32) -> Option<f32> {
        self.labels
            .get(&id)?
            .iter()
            .filter_map(|l| self.inner.distance_to(q, *l))
            .min_by(|a, b| a.total_cmp(b))
    }

    fn memory(&self) -> usize {
        self.inner.memory() + (self.doc_of.capacity() + self.labels.capacity()) * 40
    }

    fn tombstones(&self) -> usize {
        self.inner.tombstones()
    }

    fn needs_rebuild(&self) -> bool {
        self.inner.needs_rebuild()
    }

    fn live_vectors(&self) -> Vec<(u32, Vec<f32>)> {
        self.inner
            .live_vectors()
            .into_iter()
            .filter_map(|(label, v)| Some((*self.doc_of.get(&label)?, v)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::hnsw::HnswIndex;
    use crate::search::vector::{FlatIndex, Metric};

    fn indexes() -> Vec<MultiVectorIndex> {
        vec![
            MultiVectorIndex::new(Box::new(FlatIndex::new(2, Metric::L2, 0))),
            MultiVectorIndex::new(Box::new(HnswIndex::new(2, Metric::L2, 16, 200, 0, 7))),
        ]
    }

    #[test]
    fn a_document_matches_by_its_nearest_vector() {
        for mut m in indexes() {
            // Document 1 has ten vectors near the query; document 2 one, farther away.
            for i in 0..10 {
                m.insert(1, &[i as f32 * 0.01, 0.0]);
            }
            m.insert(2, &[1.0, 0.0]);
            m.insert(3, &[5.0, 0.0]);
            assert_eq!(m.len(), 3);
            let hits = m.knn(&[0.0, 0.0], 2, 10, None);
            assert_eq!(hits, vec![(0.0, 1), (1.0, 2)]);
            assert_eq!(m.distance_to(&[0.0, 0.0], 1), Some(0.0));
            assert_eq!(m.distance_to(&[1.0, 0.0], 3), Some(16.0));
            let only3 = |d: u32| d == 3;
            assert_eq!(m.knn(&[0.0, 0.0], 2, 10, Some(&only3)), vec![(25.0, 3)]);
            let within = m.range(&[0.0, 0.0], 1.0, 0.01, None);
            assert_eq!(within, vec![(0.0, 1), (1.0, 2)]);
            // Removing a document removes every vector of it.
            m.remove(1);
            assert_eq!(m.knn(&[0.0, 0.0], 5, 10, None), vec![(1.0, 2), (25.0, 3)]);
            assert!(!m.contains(1));
        }
    }
}
