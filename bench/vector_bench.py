#!/usr/bin/env python3
"""Vector search: the module's HNSW (FT.CREATE / HSET / FT.SEARCH) against hnswlib.

Data: N x 128 float32 from a Gaussian mixture (1,000 clusters, fixed seed), 1,000 queries from the
same mixture; ground truth by numpy brute force, L2 (squared, as RediSearch reports it).

  hnswlib   M 16, ef_construction 200: single-thread add_items time; single-thread queries,
            one per call, QPS and recall@10 for ef in 10, 20, 40, 80, 160.
  module    redis-server with the module on its own port; FT.CREATE HNSW M 16 EF_CONSTRUCTION
            200 L2; pipelined HSETs from one client, timed until FT.INFO num_docs reaches N;
            memory from INFO used_memory (and FT.INFO vector_index_sz_mb) against the raw
            N*128*4 bytes; FT.SEARCH KNN 10 with EF_RUNTIME <ef> from 2 client processes,
            QPS and recall@10 per ef.

Prints a table with the ratios module/hnswlib and writes target/bench/vector_recall_qps.png
(recall on x, QPS on a log y axis) and target/bench/vector_bench.json.

  python bench/vector_bench.py            # 100k vectors (minutes)
  python bench/vector_bench.py --n 20000  # a quick run
"""

import argparse
import json
import multiprocessing as mp
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests/search"))


def log(*a):
    print(*a, flush=True)


# --- data ---------------------------------------------------------------------------------------

def make_data(n, nq, dim, clusters, seed, sigma):
    rng = np.random.default_rng(seed)
    centers = rng.normal(0.0, 1.0, (clusters, dim))
    def draw(m):
        labels = rng.integers(0, clusters, m)
        return (centers[labels] + rng.normal(0.0, sigma, (m, dim))).astype(np.float32)
    return draw(n), draw(nq)


def ground_truth(X, Q, k, chunk=100):
    """Exact k nearest (squared L2) by numpy, float64."""
    X64 = X.astype(np.float64)
    xx = (X64 * X64).sum(axis=1)
    out = np.empty((len(Q), k), dtype=np.int64)
    for s in range(0, len(Q), chunk):
        q = Q[s:s + chunk].astype(np.float64)
        d = xx[None, :] - 2.0 * q @ X64.T + (q * q).sum(axis=1)[:, None]
        part = np.argpartition(d, k, axis=1)[:, :k]
        rows = np.arange(len(q))[:, None]
        out[s:s + chunk] = part[rows, np.argsort(d[rows, part], axis=1)]
    return out


def recall_at_k(found, truth, k):
    hits = sum(len(set(f[:k]) & set(t[:k].tolist())) for f, t in zip(found, truth))
    return hits / (len(truth) * k)


# --- hnswlib --------------------------------------------------------------------------------

def bench_hnswlib(X, Q, truth, args):
    import hnswlib

    n, dim = X.shape
    p = hnswlib.Index(space="l2", dim=dim)
    p.init_index(max_elements=n, M=args.m, ef_construction=args.ef_construction, random_seed=100)
    p.set_num_threads(1)
    t0 = time.perf_counter()
    p.add_items(X, np.arange(n), num_threads=1)
    build_s = time.perf_counter() - t0
    # index_file_size(): vectors + level-0 and upper-level links + labels, what the graph holds
    size = p.index_file_size()
    out = {"build_s": build_s, "insert_per_s": n / build_s, "bytes_per_vector": size / n, "ef": {}}
    log(f"hnswlib: add_items of {n} vectors, 1 thread: {build_s:.1f} s = {n / build_s:,.0f} vectors/s; "
        f"index {size / n:,.0f} B/vector (index_file_size)")
    for ef in args.efs:
        p.set_ef(max(ef, args.k))
        found = []
        t0 = time.perf_counter()
        for q in Q:
            labels, _ = p.knn_query(q[None, :], k=args.k, num_threads=1)
            found.append(labels[0].tolist())
        el = time.perf_counter() - t0
        out["ef"][ef] = {"qps": len(Q) / el, "recall": recall_at_k(found, truth, args.k)}
        log(f"  hnswlib ef={ef:<4} QPS {len(Q) / el:>9,.0f}  recall@{args.k} {out['ef'][ef]['recall']:.4f}")
    return out


# --- the module's engine in-process ---------------------------------------------------------------

def bench_engine(X, Q, truth, args):
    """src/search/hnsw.rs run in-process on one thread by target/release/hnsw (bench/src/bin),
    on the same data: the engine against hnswlib without Redis's round trip."""
    import subprocess

    exe = ROOT / "target/release/hnsw"
    data = ROOT / "target/bench/data"
    data.mkdir(parents=True, exist_ok=True)
    X.astype("<f4").tofile(data / "base.f32")
    Q.astype("<f4").tofile(data / "queries.f32")
    truth[:, :args.k].astype("<u4").tofile(data / "truth.u32")
    cmd = [str(exe), str(data), str(X.shape[1]), str(args.k), str(args.m), str(args.ef_construction),
           ",".join(str(e) for e in args.efs)]
    out = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True,
                                    timeout=args.timeout).stdout)
    out["ef"] = {int(k): v for k, v in out["ef"].items()}
    log(f"engine in-process: {X.shape[0]} inserts, 1 thread: {out['build_s']:.1f} s = "
        f"{out['insert_per_s']:,.0f} vectors/s; index {out['bytes_per_vector']:,.0f} B/vector")
    for ef in args.efs:
        log(f"  engine  ef={ef:<4} QPS {out['ef'][ef]['qps']:>9,.0f}  recall@{args.k} {out['ef'][ef]['recall']:.4f}")
    return out


# --- the module -------------------------------------------------------------------------------

def _query_worker(port, index, k, ef, blobs, start_evt, conn):
    import redis

    try:
        r = redis.Redis(host="127.0.0.1", port=port, socket_timeout=120)
        q = f"*=>[KNN {k} @v $q EF_RUNTIME {ef} AS d]"
        args = ["RETURN", 1, "d", "SORTBY", "d", "LIMIT", 0, k, "DIALECT", 2, "PARAMS", 2, "q"]
        r.ping()
        start_evt.wait(60)
        found = []
        t0 = time.perf_counter()
        for b in blobs:
            if ef == 0:
                # The ceiling: the same clients and round trips, a command that does no work.
                r.execute_command("ECHO", b)
                found.append([])
                continue
            res = r.execute_command("FT.SEARCH", index, q, *args, b)
            found.append([int(res[i][2:]) for i in range(1, len(res), 2)])  # keys v:<row>
        conn.send(("ok", found, time.perf_counter() - t0))
    except Exception as e:  # reported to the parent, which fails the run
        conn.send(("error", repr(e), 0.0))
    finally:
        conn.close()


def parallel_queries(port, index, k, ef, Q, clients, timeout):
    ctx = mp.get_context("fork")
    start_evt = ctx.Event()
    parts = np.array_split(np.arange(len(Q)), clients)
    procs, pipes = [], []
    for part in parts:
        parent, child = ctx.Pipe(duplex=False)
        blobs = [Q[i].tobytes() for i in part]
        pr = ctx.Process(target=_query_worker, args=(port, index, k, ef, blobs, start_evt, child))
        pr.start()
        procs.append(pr)
        pipes.append(parent)
    time.sleep(0.2)
    t0 = time.perf_counter()
    start_evt.set()
    results = []
    try:
        for pipe in pipes:
            if not pipe.poll(timeout):
                raise TimeoutError(f"FT.SEARCH clients did not finish within {timeout} s")
            results.append(pipe.recv())
        wall = time.perf_counter() - t0
    finally:
        for pr in procs:
            pr.join(5)
            if pr.is_alive():
                pr.kill()
    errors = [r[1] for r in results if r[0] != "ok"]
    if errors:
        raise RuntimeError(f"FT.SEARCH failed in a client: {errors[0]}")
    found = [f for r in results for f in r[1]]
    return found, wall


def ft_info(r, index):
    raw = r.execute_command("FT.INFO", index)
    if isinstance(raw, dict):
        return {k.decode() if isinstance(k, bytes) else k: v for k, v in raw.items()}
    return {(raw[i].decode() if isinstance(raw[i], bytes) else raw[i]): raw[i + 1] for i in range(0, len(raw), 2)}


def used_memory(r):
    return int(r.info("memory")["used_memory"])


def bench_module(X, Q, truth, args):
    import redis
    from search_server import RedisServer

    n, dim = X.shape
    server = RedisServer(server_args=("--appendonly", "no"))
    try:
        r = redis.Redis(host="127.0.0.1", port=server.port, socket_timeout=300)
        mem0 = used_memory(r)
        r.execute_command("FT.CREATE", "bench", "ON", "HASH", "PREFIX", 1, "v:", "SCHEMA", "v", "VECTOR",
                          "HNSW", 10, "TYPE", "FLOAT32", "DIM", dim, "DISTANCE_METRIC", "L2",
                          "M", args.m, "EF_CONSTRUCTION", args.ef_construction)
        t0 = time.perf_counter()
        batch = 1000
        for s in range(0, n, batch):
            pipe = r.pipeline(transaction=False)
            for i in range(s, min(n, s + batch)):
                pipe.hset(f"v:{i}", "v", X[i].tobytes())
            pipe.execute()
        acked_s = time.perf_counter() - t0
        deadline = time.time() + args.timeout
        while True:
            info = ft_info(r, "bench")
            if int(info["num_docs"]) >= n:
                break
            if time.time() > deadline:
                raise TimeoutError(f"num_docs {info['num_docs']} < {n} after {args.timeout} s")
            time.sleep(0.01)
        indexed_s = time.perf_counter() - t0
        if not server.alive():
            raise RuntimeError("redis-server died during ingest")
        mem = used_memory(r) - mem0
        sample = [int(r.memory_usage(f"v:{i}", samples=0) or 0) for i in range(0, n, max(1, n // 200))]
        key_bytes = float(np.mean(sample))
        vec_mb = float(info.get("vector_index_sz_mb", b"nan"))
        out = {
            "hset_acked_s": acked_s, "indexed_s": indexed_s, "insert_per_s": n / indexed_s,
            "used_memory_bytes_per_vector": mem / n, "key_bytes_per_vector": key_bytes,
            "vector_index_sz_mb": vec_mb, "vector_index_bytes_per_vector": vec_mb * 2**20 / n,
            "ef": {},
        }
        log(f"module: {n} pipelined HSETs acknowledged in {acked_s:.1f} s, num_docs == {n} after "
            f"{indexed_s:.1f} s = {n / indexed_s:,.0f} vectors/s (1 client)")
        log(f"  memory: used_memory +{mem / n:,.0f} B/vector (keys alone ~{key_bytes:,.0f} B by MEMORY USAGE), "
            f"vector_index_sz_mb {vec_mb:.1f} = {out['vector_index_bytes_per_vector']:,.0f} B/vector; "
            f"raw {dim * 4} B/vector")
        _, wall = parallel_queries(server.port, "bench", args.k, 0, Q, args.clients, args.timeout)
        out["echo_qps"] = len(Q) / wall
        log(f"  ceiling: ECHO of the query blob from the same {args.clients} clients: {len(Q) / wall:,.0f}/s")
        for ef in args.efs:
            found, wall = parallel_queries(server.port, "bench", args.k, ef, Q, args.clients, args.timeout)
            if len(found) != len(Q) or any(len(f) != args.k for f in found):
                raise RuntimeError(f"ef={ef}: expected {len(Q)} answers of {args.k} ids")
            out["ef"][ef] = {"qps": len(Q) / wall, "recall": recall_at_k(found, truth, args.k)}
            log(f"  module  ef={ef:<4} QPS {len(Q) / wall:>9,.0f}  recall@{args.k} {out['ef'][ef]['recall']:.4f}"
                f"  ({args.clients} clients)")
        if not server.alive():
            raise RuntimeError("redis-server died during the queries")
        return out
    except Exception:
        tail = "\n".join(server.log().splitlines()[-30:])
        log(f"--- server log tail ---\n{tail}\n---")
        raise
    finally:
        server.stop()


# --- report -------------------------------------------------------------------------------------

def table(h, m, args, n, dim):
    log("")
    log(f"vector search, {n} x {dim} float32, {args.clusters} clusters, {args.queries} queries, "
        f"k={args.k}, HNSW M {args.m} EF_CONSTRUCTION {args.ef_construction}, L2")
    log(f"{'':22}{'hnswlib':>14}{'module':>14}{'module/hnswlib':>16}")
    def row(name, a, b, fmt="{:,.0f}"):
        ra = fmt.format(a) if a is not None else "-"
        rb = fmt.format(b) if b is not None else "-"
        ratio = f"{b / a:.2f}" if a and b is not None else "-"
        log(f"{name:22}{ra:>14}{rb:>14}{ratio:>16}")
    row("insert vectors/s", h["insert_per_s"], m and m["insert_per_s"])
    row("bytes/vector", h["bytes_per_vector"], m and m["used_memory_bytes_per_vector"])
    if m:
        log(f"{'':22}(hnswlib: index_file_size; module: used_memory growth incl. the hashes)")
        log(f"{'':22}(raw {dim * 4} B; module used_memory/raw {m['used_memory_bytes_per_vector'] / (dim * 4):.2f}, "
            f"vector_index_sz_mb/raw {m['vector_index_bytes_per_vector'] / (dim * 4):.2f})")
        index_bytes = m["used_memory_bytes_per_vector"] - m["key_bytes_per_vector"]
        links = 4 * (1 + 2 * args.m) + 4 * (1 + args.m) / args.m  # level 0, plus upper levels' share
        log(f"{'':22}index alone (used_memory growth - hashes): {index_bytes:,.0f} B/vector; "
            f"target 1.3 x raw + links = {1.3 * dim * 4 + links:,.0f} B")
    for ef in args.efs:
        he = h["ef"][ef]
        me = m["ef"][ef] if m else None
        row(f"QPS ef={ef}", he["qps"], me and me["qps"])
        row(f"recall@{args.k} ef={ef}", he["recall"], me and me["recall"], "{:.4f}")
    log(f"(hnswlib: 1 thread, one query per call; module: {args.clients} client processes)")
    if m:
        log(f"ceiling: ECHO from the same clients {m['echo_qps']:,.0f}/s; server time per query "
            f"(1/QPS - 1/ceiling, x{args.clients} clients):")
        for ef in args.efs:
            per = (1 / m["ef"][ef]["qps"] - 1 / m["echo_qps"]) * args.clients * 1e6
            log(f"  ef={ef:<4} {per:8,.0f} us   hnswlib in-process {1e6 / h['ef'][ef]['qps']:8,.0f} us")


def plot(h, e, m, args, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    series = [("hnswlib (1 thread)", h, "o-"), ("module's engine in-process (1 thread)", e, "^-")]
    if m:
        series.append((f"module FT.SEARCH ({args.clients} clients)", m, "s-"))
    for label, res, style in series:
        xs = [res["ef"][ef]["recall"] for ef in args.efs]
        ys = [res["ef"][ef]["qps"] for ef in args.efs]
        ax.plot(xs, ys, style, label=label)
        for ef, x, y in zip(args.efs, xs, ys):
            ax.annotate(f"ef={ef}", (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.set_yscale("log")
    ax.set_xlabel(f"recall@{args.k}")
    ax.set_ylabel("queries per second (log)")
    ax.set_title(f"HNSW M={args.m} efC={args.ef_construction}, {args.n} x {args.dim}, L2")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    log(f"plot: {path}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--clusters", type=int, default=1000)
    ap.add_argument("--sigma", type=float, default=0.5, help="per-coordinate spread around a center")
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--efs", type=lambda s: [int(x) for x in s.split(",")], default=[10, 20, 40, 80, 160])
    ap.add_argument("--m", type=int, default=16)
    ap.add_argument("--ef-construction", type=int, default=200)
    ap.add_argument("--clients", type=int, default=2)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--timeout", type=float, default=1800, help="seconds for ingest / one query round")
    ap.add_argument("--skip-module", action="store_true", help="hnswlib and numpy only")
    ap.add_argument("--out", type=Path, default=ROOT / "target/bench/vector_recall_qps.png")
    args = ap.parse_args()

    t0 = time.perf_counter()
    X, Q = make_data(args.n, args.queries, args.dim, args.clusters, args.seed, args.sigma)
    truth = ground_truth(X, Q, args.k)
    log(f"data: {args.n} x {args.dim} float32 ({args.clusters} clusters), {args.queries} queries, "
        f"numpy ground truth in {time.perf_counter() - t0:.1f} s")
    h = bench_hnswlib(X, Q, truth, args)
    e = bench_engine(X, Q, truth, args)
    m, failure = None, None
    if not args.skip_module:
        try:
            m = bench_module(X, Q, truth, args)
        except Exception as e:
            failure = e
            log(f"module benchmark FAILED: {e!r}")
    table(h, m, args, args.n, args.dim)
    log("engine in-process (one thread, no server) against hnswlib:")
    log(f"  inserts/s {e['insert_per_s']:,.0f} = {e['insert_per_s'] / h['insert_per_s']:.2f} x hnswlib; "
        f"{e['bytes_per_vector']:,.0f} B/vector")
    for ef in args.efs:
        he, ee = h["ef"][ef], e["ef"][ef]
        log(f"  ef={ef:<4} QPS {ee['qps']:>9,.0f} = {ee['qps'] / he['qps']:.2f} x hnswlib   "
            f"recall@{args.k} {ee['recall']:.4f} (hnswlib {he['recall']:.4f})")
    plot(h, e, m, args, args.out)
    summary = {"params": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
               "hnswlib": h, "engine": e, "module": m, "module_error": repr(failure) if failure else None}
    args.out.with_name("vector_bench.json").write_text(json.dumps(summary, indent=2))
    if failure:
        sys.exit(1)


if __name__ == "__main__":
    main()
