"""Recall of the module's HNSW and exactness of FLAT on clustered data, against numpy.

10k vectors of dim 32 from a Gaussian mixture of 100 clusters (fixed seed), loaded once with
pipelined HSETs into three indexes over the same hashes: HNSW L2, HNSW COSINE (M 16,
EF_CONSTRUCTION 200) and FLAT L2. 100 queries from the same mixture, KNN 10, EF_RUNTIME 100.
"""

import time

import numpy as np
import pytest
from search_util import client, distances, info, raw_search

N, DIM, CLUSTERS, QUERIES, K = 10_000, 32, 100, 100, 10


def mixture(rng, n, centers, sigma):
    labels = rng.integers(0, len(centers), n)
    return (centers[labels] + rng.normal(0, sigma, (n, centers.shape[1]))).astype(np.float32)


@pytest.fixture(scope="module")
def data(module_server):
    rng = np.random.default_rng(2024)
    centers = rng.normal(0, 1, (CLUSTERS, DIM))
    X = mixture(rng, N, centers, 0.35)
    Q = mixture(rng, 3 * QUERIES, centers, 0.35)
    r = client(module_server, 2)
    for name, algo, metric in (("hnsw_l2", "HNSW", "L2"), ("hnsw_cos", "HNSW", "COSINE"),
                               ("flat_l2", "FLAT", "L2")):
        extra = ["M", 16, "EF_CONSTRUCTION", 200] if algo == "HNSW" else []
        r.execute_command("FT.CREATE", name, "ON", "HASH", "PREFIX", 1, "v:", "SCHEMA", "v", "VECTOR",
                          algo, 6 + len(extra), "TYPE", "FLOAT32", "DIM", DIM,
                          "DISTANCE_METRIC", metric, *extra)
    t0 = time.time()
    for start in range(0, N, 1000):
        pipe = r.pipeline(transaction=False)
        for i in range(start, min(N, start + 1000)):
            pipe.hset(f"v:{i}", mapping={"v": X[i].tobytes(), "n": i})
        pipe.execute()
    load_s = time.time() - t0
    for name in ("hnsw_l2", "hnsw_cos", "flat_l2"):
        assert info(r, name)["num_docs"] == N
    return r, X, Q, load_s


def truth(X, q, metric, k=K):
    d = distances(X, q, metric)
    order = np.argsort(d, kind="stable")
    return order, d


def unambiguous(X, Q, metric, n):
    """The first n queries whose k-th and (k+1)-th true distances differ by more than 1e-4
    (relative), so float32 rounding cannot decide which doc is the 10th."""
    out = []
    for q in Q:
        order, d = truth(X, q, metric)
        if d[order[K]] - d[order[K - 1]] > 1e-4 * max(1.0, abs(d[order[K - 1]])):
            out.append(q)
        if len(out) == n:
            return out
    raise AssertionError("not enough unambiguous queries")


def run_knn(r, index, q, ef=None):
    ef_clause = f" EF_RUNTIME {ef}" if ef else ""
    res = raw_search(r, index, f"*=>[KNN {K} @v $q{ef_clause} AS d]", "RETURN", 1, "d", "SORTBY", "d",
                     "LIMIT", 0, K, "DIALECT", 2, "PARAMS", 2, "q", q.tobytes())
    assert res.total == K, res
    return [int(i.split(":")[1]) for i in res.ids], [float(doc.fields["d"]) for doc in res.docs]


@pytest.mark.parametrize("index,metric", [("hnsw_l2", "L2"), ("hnsw_cos", "COSINE")])
def test_hnsw_recall_at_10(data, capsys, index, metric):
    r, X, Q, load_s = data
    hits, t0 = 0, time.time()
    for q in Q[:QUERIES]:
        ids, dist = run_knn(r, index, q, ef=100)
        order, d = truth(X, q, metric)
        hits += len(set(ids) & set(order[:K].tolist()))
        # whatever it returns, the distances are the true distances of those docs, ascending
        np.testing.assert_allclose(dist, d[ids], rtol=1e-4, atol=1e-5)
        assert dist == sorted(dist)
    recall = hits / (QUERIES * K)
    with capsys.disabled():
        print(f"\n  {index}: recall@10 = {recall:.4f} over {QUERIES} queries (EF_RUNTIME 100; "
              f"{(time.time() - t0) / QUERIES * 1e3:.2f} ms/query; 3 indexes loaded in {load_s:.1f} s)")
    assert recall >= 0.95, f"{index} recall@10 {recall:.4f} < 0.95"


def test_flat_is_exact(data, capsys):
    r, X, Q, _ = data
    qs = unambiguous(X, Q, "L2", QUERIES)
    hits = 0
    for q in qs:
        ids, dist = run_knn(r, "flat_l2", q)
        order, d = truth(X, q, "L2")
        assert ids == order[:K].tolist()
        np.testing.assert_allclose(dist, d[order[:K]], rtol=1e-5, atol=1e-5)
        hits += len(set(ids) & set(order[:K].tolist()))
    recall = hits / (len(qs) * K)
    with capsys.disabled():
        print(f"\n  flat_l2: recall@10 = {recall:.4f} over {len(qs)} queries")
    assert recall == 1.0


def test_hnsw_default_ef_runtime_still_answers_k(data):
    """Without EF_RUNTIME (default 10) HNSW still returns k results, true distances."""
    r, X, Q, _ = data
    for q in Q[:10]:
        ids, dist = run_knn(r, "hnsw_l2", q)
        _, d = truth(X, q, "L2")
        assert len(set(ids)) == K
        np.testing.assert_allclose(dist, d[ids], rtol=1e-4, atol=1e-5)
