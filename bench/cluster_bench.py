"""FT.SEARCH KNN 10, an FT.AGGREGATE GROUPBY over every document and an FT.HYBRID on one
server, a 1-master cluster and a 3-master cluster (same data, same client): latency
percentiles and throughput, and what large replies cost on the cluster bus.

    REDISAI_MODULE=target/release/libredisai.so .venv-search/bin/python bench/cluster_bench.py \
        [--n 10000] [--dim 128] [--queries 1000] [--seconds 3] [--clients 4] [--kinds a,b]

Prints a markdown table; the fan-out overhead is the ratio of the cluster's figures to one
server's."""

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np
import redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "search"))
from cluster_harness import Cluster  # noqa: E402
from search_server import RedisServer  # noqa: E402


def create(r, dim):
    r.execute_command(
        "FT.CREATE", "idx", "PREFIX", "1", "doc:", "SCHEMA", "body", "TEXT",
        "cat", "TAG", "price", "NUMERIC", "v", "VECTOR", "HNSW", "6", "TYPE", "FLOAT32", "DIM", str(dim), "DISTANCE_METRIC", "COSINE")


def load(r, n, dim, rng):
    pipe = r.pipeline(transaction=False)
    for i in range(n):
        pipe.hset(f"doc:{i}", mapping={"v": rng.random(dim, dtype=np.float32).tobytes(),
                                       "body": "lorem ipsum " * 300 + ("rare" if i % 50 == 0 else ""),
                                       "cat": f"c{i % 20}", "price": i % 997})
        if i % 1000 == 999:
            pipe.execute()
    pipe.execute()


KINDS = ["keys + distance", "documents", "aggregate GROUPBY", "hybrid"]


def knn(q, kind):
    if kind == "aggregate GROUPBY":
        # Every document: partial groups on each shard, merged on the coordinator.
        return ["FT.AGGREGATE", "idx", "*", "GROUPBY", "1", "@cat", "REDUCE", "COUNT", "0",
                "REDUCE", "AVG", "1", "@price", "AS", "p", "SORTBY", "2", "@p", "DESC"]
    if kind == "hybrid":
        return ["FT.HYBRID", "idx", "SEARCH", "rare", "VSIM", "@v", "$b", "KNN", "2", "K", "10",
                "PARAMS", "2", "b", q]
    ret = [] if kind == "documents" else ["RETURN", "1", "d"]
    return ["FT.SEARCH", "idx", "*=>[KNN 10 @v $b AS d]", "PARAMS", "2", "b", q, *ret, "DIALECT", "2"]


def latency(port, queries, kind):
    r = redis.Redis(port=port)
    times = []
    for q in queries:
        t = time.perf_counter()
        r.execute_command(*knn(q, kind))
        times.append(time.perf_counter() - t)
    times.sort()
    return statistics.median(times) * 1e3, times[int(len(times) * 0.99)] * 1e3


def throughput(port, queries, kind, seconds, clients):
    done = [0] * clients
    stop = time.time() + seconds

    def work(i):
        r = redis.Redis(port=port)
        k = i
        while time.time() < stop:
            r.execute_command(*knn(queries[k % len(queries)], kind))
            k += clients
            done[i] += 1

    threads = [threading.Thread(target=work, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(done) / seconds


def big_replies(port, sizes_mb):
    """KNN 10 over ten documents of `mb` MiB each: the whole reply crosses the bus."""
    r = redis.Redis(port=port)
    out = []
    for mb in sizes_mb:
        r.execute_command(
            "FT.CREATE", f"big{mb}", "PREFIX", "1", f"big{mb}:", "SCHEMA",
            "v", "VECTOR", "FLAT", "6", "TYPE", "FLOAT32", "DIM", "2", "DISTANCE_METRIC", "L2")
        time.sleep(0.5)
        blob = b"x" * (mb << 20)
        for i in range(10):
            redis.cluster.RedisCluster(host="127.0.0.1", port=port).hset(
                f"big{mb}:{i}", mapping={"v": np.array([i, 0], dtype=np.float32).tobytes(), "blob": blob})
        q = np.zeros(2, dtype=np.float32).tobytes()
        t = time.perf_counter()
        reply = r.execute_command("FT.SEARCH", f"big{mb}", "*=>[KNN 10 @v $b]", "PARAMS", "2", "b", q,
                                  "DIALECT", "2")
        out.append((mb * 10, (time.perf_counter() - t) * 1e3, reply[0]))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=3)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--big", default="1,8", help="MiB per document for the large-reply check")
    ap.add_argument("--kinds", default=",".join(KINDS), help="which queries, comma-separated")
    a = ap.parse_args()
    rng = np.random.default_rng(1)
    queries = [rng.random(a.dim, dtype=np.float32).tobytes() for _ in range(a.queries)]
    rows = []
    setups = [("one server", None), ("cluster, 1 master", 1), ("cluster, 3 masters", 3)]
    big = None
    for name, masters in setups:
        cluster = Cluster(masters=masters, replicas=0) if masters else None
        single = None if masters else RedisServer()
        try:
            port = cluster.live()[0].port if cluster else single.port
            create(redis.Redis(port=port), a.dim)
            time.sleep(0.5)
            writer = cluster.client() if cluster else redis.Redis(port=port)
            load(writer, a.n, a.dim, np.random.default_rng(2))
            kinds = [k for k in a.kinds.split(",") if k in KINDS]
            for kind in kinds:
                p50, p99 = latency(port, queries, kind)
                qps = throughput(port, queries, kind, a.seconds, a.clients)
                rows.append((name, kind, p50, p99, qps))
                print(rows[-1], flush=True)
            if masters == 3:
                big = big_replies(port, [int(x) for x in a.big.split(",") if x])
        finally:
            if cluster:
                cluster.stop()
            if single:
                single.stop()
    print(f"\nKNN 10, {a.n} vectors of {a.dim} dims (HNSW, COSINE), documents of ~3.6 KB; "
          f"latency: one client, {a.queries} queries; QPS: {a.clients} clients, {a.seconds} s\n")
    print("| setup | reply | p50 ms | p99 ms | QPS | p50 / one server |")
    print("|---|---|---:|---:|---:|---:|")
    base = {r[1]: r[2] for r in rows if r[0] == "one server"}
    for name, reply, p50, p99, qps in rows:
        print(f"| {name} | {reply} | {p50:.2f} | {p99:.2f} | {qps:.0f} | {p50 / base[reply]:.1f}x |")
    if big:
        print("\nLarge replies over the bus (3 masters, KNN 10 returning every document):\n")
        print("| reply size | latency ms | total |")
        print("|---:|---:|---:|")
        for mb, ms, total in big:
            print(f"| {mb} MiB | {ms:.0f} | {total} |")


if __name__ == "__main__":
    main()
