"""FT.HYBRID (Redis 8.4's syntax) through redis-py's `ft().hybrid_search()`, in RESP2 and
RESP3: the fused ranking is checked against RRF / LINEAR computed here from the module's own
FT.SEARCH answers (text by BM25STD, best first; vector by KNN, nearest first), then the
post-processing steps (LOAD, APPLY, SORTBY, LIMIT), YIELD_SCORE_AS names and errors.
RediSearch 2.10 has no FT.HYBRID, so there is no oracle to compare with."""

import random
import struct

import pytest
import redis
from redis.commands.search.hybrid_query import (
    CombinationMethods,
    CombineResultsMethod,
    HybridFilter,
    HybridPostProcessingConfig,
    HybridQuery,
    HybridSearchQuery,
    HybridVsimQuery,
    VectorSearchMethods,
)

WORDS = ["alpha", "beta", "gamma", "delta", "omega", "sigma", "kappa"]
DIM = 4


def setup(r, n=80, seed=3):
    rng = random.Random(seed)
    r.execute_command("FT.CREATE", "hy", "PREFIX", 1, "h:", "SCHEMA", "t", "TEXT",
                      "tag", "TAG", "n", "NUMERIC", "v", "VECTOR", "FLAT", 6, "TYPE", "FLOAT32",
                      "DIM", DIM, "DISTANCE_METRIC", "L2")
    for i in range(n):
        r.hset(f"h:{i:02d}", mapping={
            "t": " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 5))),
            "tag": rng.choice(["x", "y"]), "n": i,
            "v": struct.pack(f"{DIM}f", *(rng.random() for _ in range(DIM)))})


QVEC = struct.pack(f"{DIM}f", 0.5, 0.5, 0.5, 0.5)


def ranked(r, *args):
    reply = r.execute_command("FT.SEARCH", "hy", *args, "DIALECT", 2)
    return [(reply[i].decode(), reply[i + 1]) for i in range(1, len(reply), 2)]


def expected_rrf(r, text, k, window=20, constant=60, filt="*"):
    t = ranked(r, text, "WITHSCORES", "NOCONTENT", "SCORER", "BM25STD", "LIMIT", 0, window)
    v = ranked(r, f"({filt})=>[KNN {k} @v $q AS d]", "PARAMS", 2, "q", QVEC, "SORTBY", "d",
               "RETURN", 1, "d", "LIMIT", 0, window)
    score = {}
    for rank, (key, _) in enumerate(t, 1):
        score[key] = score.get(key, 0) + 1 / (constant + rank)
    for rank, (key, _) in enumerate(v, 1):
        score[key] = score.get(key, 0) + 1 / (constant + rank)
    return sorted(score.items(), key=lambda kv: (-kv[1], kv[0]))


def dec(x):
    return x.decode() if isinstance(x, bytes) else x


def total_of(res):
    return dec(res.get(b"total_results", res.get("total_results"))) if isinstance(res, dict) \
        else res.total_results


def rows(res):
    """redis-py's HybridResult rows (RESP2), or the RESP3 map's, as dicts of str."""
    out = []
    if isinstance(res, dict):
        results = res.get(b"results", res.get("results"))
    else:
        results = res.results
    for row in results:
        out.append({(k.decode() if isinstance(k, bytes) else k):
                    (v.decode() if isinstance(v, bytes) else v) for k, v in row.items()})
    return out


def test_rrf_default(server, protocol):
    r = redis.Redis(port=server.port, protocol=protocol)
    setup(redis.Redis(port=server.port))
    q = HybridQuery(HybridSearchQuery("alpha | omega"),
                    HybridVsimQuery("@v", "$q", VectorSearchMethods.KNN, {"K": 10}))
    res = r.ft("hy").hybrid_search(q, params_substitution={"q": QVEC})
    want = expected_rrf(redis.Redis(port=server.port), "alpha | omega", 10)
    got = rows(res)
    assert total_of(res) == len(want)
    assert len(got) == 10  # LIMIT 10 by default
    assert [g["__key"] for g in got] == [k for k, _ in want[:10]]
    for g, (_, s) in zip(got, want):
        assert float(g["__score"]) == pytest.approx(s, rel=1e-9)


def test_linear_filter_yield_and_post_processing(server):
    r = redis.Redis(port=server.port)
    setup(r)
    q = HybridQuery(HybridSearchQuery("beta", scorer="BM25STD", yield_score_as="ts"),
                    HybridVsimQuery("@v", "$q", VectorSearchMethods.KNN, {"K": 15},
                                    filter=HybridFilter("@tag:{x}"), yield_score_as="vd"))
    post = (HybridPostProcessingConfig().load("@__key", "@n", "@tag")
            .apply(twice="@n * 2").limit(0, 50))
    res = r.ft("hy").hybrid_search(
        q, combine_method=CombineResultsMethod(CombinationMethods.LINEAR, ALPHA=0.4, BETA=0.6,
                                               YIELD_SCORE_AS="fused"),
        post_processing=post, params_substitution={"q": QVEC})
    got = rows(res)
    assert got
    text = dict(ranked(r, "beta", "WITHSCORES", "NOCONTENT", "SCORER", "BM25STD",
                       "LIMIT", 0, 20))
    for g in got:
        assert float(g["twice"]) == 2 * float(g["n"])
        ts = float(g.get("ts", 0))
        vd = g.get("vd")
        if "ts" in g:
            assert ts == pytest.approx(float(text[g["__key"]]), rel=1e-9)
        if vd is not None:
            assert g["tag"] == "x"
        want = 0.4 * ts + 0.6 * (1 / (1 + float(vd)) if vd is not None else 0)
        assert float(g["fused"]) == pytest.approx(want, rel=1e-9)
    fused = [float(g["fused"]) for g in got]
    assert fused == sorted(fused, reverse=True)


def test_range_and_errors(server):
    r = redis.Redis(port=server.port)
    setup(r)
    res = r.execute_command("FT.HYBRID", "hy", "SEARCH", "gamma", "VSIM", "@v", "$q",
                            "RANGE", 2, "RADIUS", 0.3, "COMBINE", "RRF", 4, "WINDOW", 5,
                            "CONSTANT", 1, "SORTBY", 2, "@__key", "ASC", "LIMIT", 0, 100,
                            "PARAMS", 2, "q", QVEC)
    assert res[0] == b"total_results" and res[2] == b"results"
    keys = [row[1] for row in res[3]]
    assert keys == sorted(keys) and len(keys) == res[1] <= 10
    for args, text in [
        (["VSIM", "@v", "$q"], "SEARCH argument is required"),
        (["SEARCH", "x"], "VSIM argument is required"),
        (["SEARCH", "x", "VSIM", "@v", "$q", "KNN", 2, "K", 0], "Invalid value for K"),
        (["SEARCH", "x", "VSIM", "@v", "$q", "KNN", 3, "K"], "Bad arguments for KNN"),
        (["SEARCH", "x", "VSIM", "@v", "$q", "COMBINE", "MAGIC", 0], "Unknown COMBINE method"),
        (["SEARCH", "x", "VSIM", "@v", "$nope"], "No such parameter `nope`"),
        (["SEARCH", "@nofield:x", "VSIM", "@v", "$q", "PARAMS", 2, "q", QVEC], "Unknown field"),
    ]:
        with pytest.raises(redis.ResponseError, match=text):
            r.execute_command("FT.HYBRID", "hy", *args)
    with pytest.raises(redis.ResponseError, match="no such index"):
        r.execute_command("FT.HYBRID", "nope", "SEARCH", "x", "VSIM", "@v", "$q")
