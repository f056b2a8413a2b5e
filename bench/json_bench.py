#!/usr/bin/env python3
"""JSON documents against hashes: the same N documents (a TAG and a 384-d float32 embedding,
HNSW COSINE) stored with JSON.SET into an ON JSON index and with HSET into a hash index, in
one run, on the module + RedisJSON and, where ../shared/tools/redisearch-anchor.sh runs, on
RediSearch 2.10.5 + RedisJSON.

  ingest   pipelined writes (200 per round trip) from one redis-py client, documents/s
  knn      200 FT.SEARCH KNN 10 one after another, RETURN of the distance only, queries/s

  python bench/json_bench.py             # 5,000 documents
  python bench/json_bench.py --n 20000
Needs REDISAI_REJSON (or ~/.cache/redisai/rejson-0.1.8/rejson.so: `make deps-rejson`).
"""

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests/search"))

from search_server import RedisServer  # noqa: E402

REJSON = os.environ.get("REDISAI_REJSON") or str(
    Path.home() / ".cache/redisai/rejson-0.1.8/rejson.so")
DIM = 384


def measure(r, X, queries):
    out = {}
    for kind in ("hash", "json"):
        if kind == "hash":
            r.execute_command("FT.CREATE", "h", "PREFIX", 1, "h:", "SCHEMA", "t", "TAG",
                              "v", "VECTOR", "HNSW", 6, "TYPE", "FLOAT32", "DIM", DIM,
                              "DISTANCE_METRIC", "COSINE")
        else:
            r.execute_command("FT.CREATE", "j", "ON", "JSON", "PREFIX", 1, "j:", "SCHEMA",
                              "$.t", "AS", "t", "TAG", "$.v", "AS", "v", "VECTOR", "HNSW", 6,
                              "TYPE", "FLOAT32", "DIM", DIM, "DISTANCE_METRIC", "COSINE")
        start = time.perf_counter()
        p = r.pipeline(transaction=False)
        for i, x in enumerate(X):
            if kind == "hash":
                p.hset(f"h:{i}", mapping={"t": "a", "v": x.tobytes()})
            else:
                p.json().set(f"j:{i}", "$", {"t": "a", "v": x.tolist()})
            if i % 200 == 199:
                p.execute()
        p.execute()
        ingest = len(X) / (time.perf_counter() - start)
        index = kind[0]
        start = time.perf_counter()
        for q in queries:
            r.execute_command("FT.SEARCH", index, "*=>[KNN 10 @v $b]", "PARAMS", 2, "b",
                              q.tobytes(), "RETURN", 1, "__v_score", "DIALECT", 2)
        out[kind] = (ingest, len(queries) / (time.perf_counter() - start))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=5000)
    args = ap.parse_args()
    if not Path(REJSON).is_file():
        sys.exit(f"RedisJSON not found at {REJSON} (make deps-rejson)")
    rng = np.random.default_rng(1)
    X = rng.standard_normal((args.n, DIM)).astype(np.float32)
    queries = X[:200]
    rows = []
    s = RedisServer("--loadmodule", REJSON)
    try:
        rows.append(("module + RedisJSON", measure(redis.Redis(port=s.port), X, queries)))
    finally:
        s.stop()
    import pytest  # the anchor says why it cannot start by skipping, as in the tests
    from anchor import Anchor

    try:
        a = Anchor(json=True)
    except (Exception, pytest.skip.Exception) as e:
        print(f"(no RediSearch comparison: {e})")
    else:
        try:
            rows.append(("RediSearch 2.10.5 + RedisJSON", measure(a.client(), X, queries)))
        finally:
            a.stop()
    print(f"{args.n} documents, {DIM}-d float32, HNSW COSINE, KNN 10")
    print(f"{'server':32} {'hash ingest/s':>14} {'json ingest/s':>14} {'hash QPS':>9} {'json QPS':>9}")
    for name, m in rows:
        print(f"{name:32} {m['hash'][0]:14.0f} {m['json'][0]:14.0f} {m['hash'][1]:9.0f} "
              f"{m['json'][1]:9.0f}")


if __name__ == "__main__":
    main()
