//! The module's HNSW engine in-process, one thread, on the data `bench/vector_bench.py` wrote:
//! the engine on the same footing as hnswlib's Python binding (no server, no client), so the
//! two graphs are compared apart from Redis's round trip.
//!
//! `hnsw <dir> <dim> <k> <M> <ef_construction> <ef,ef,...>` reads `<dir>/base.f32`,
//! `<dir>/queries.f32` (little-endian f32 rows) and `<dir>/truth.u32` (k ids per query) and
//! prints one JSON object.

use std::time::Instant;

use redisai::search::hnsw::HnswIndex;
use redisai::search::vector::{Metric, VectorIndex};

fn read_f32(path: &str) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    if a.len() != 7 {
        eprintln!("usage: hnsw <dir> <dim> <k> <M> <ef_construction> <ef,ef,...>");
        std::process::exit(2);
    }
    let dir = &a[1];
    let num = |s: &str| -> usize { s.parse().unwrap_or_else(|_| panic!("not a number: {s}")) };
    let (dim, k, m, efc) = (num(&a[2]), num(&a[3]), num(&a[4]), num(&a[5]));
    let efs: Vec<usize> = a[6].split(',').map(num).collect();
    let base = read_f32(&format!("{dir}/base.f32"));
    let queries = read_f32(&format!("{dir}/queries.f32"));
    let truth: Vec<u32> = std::fs::read(format!("{dir}/truth.u32"))
        .expect("truth.u32")
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let n = base.len() / dim;
    let mut index = HnswIndex::new(dim, Metric::L2, m, efc, 0, 100);
    let t = Instant::now();
    for (i, v) in base.chunks_exact(dim).enumerate() {
        index.insert(i as u32, v);
    }
    let build_s = t.elapsed().as_secs_f64();
    let mut rows = Vec::new();
    for ef in efs {
        let t = Instant::now();
        let found: Vec<Vec<u32>> = queries
            .chunks_exact(dim)
            .map(|q| {
                index
                    .knn(q, k, ef.max(k), None)
                    .into_iter()
                    .map(|r| r.1)
                    .collect()
            })
            .collect();
        let secs = t.elapsed().as_secs_f64();
        let hits: usize = found
            .iter()
            .zip(truth.chunks_exact(k))
            .map(|(f, t)| f.iter().filter(|id| t.contains(id)).count())
            .sum();
        rows.push(format!(
            "\"{ef}\": {{\"qps\": {:.1}, \"recall\": {:.6}}}",
            found.len() as f64 / secs,
            hits as f64 / (found.len() * k) as f64
        ));
    }
    println!(
        "{{\"build_s\": {build_s:.3}, \"insert_per_s\": {:.1}, \"bytes_per_vector\": {:.1}, \"ef\": {{{}}}}}",
        n as f64 / build_s,
        index.memory() as f64 / n as f64,
        rows.join(", ")
    );
}
